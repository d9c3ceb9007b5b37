"""SealedSecrets: sealed values written through a SecretSync each one owns (issue #13)."""
