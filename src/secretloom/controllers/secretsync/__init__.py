"""The SecretSync controller: many independently managed sources into one Secret."""
