#!/usr/bin/env bash
# The database engine and role the example's SecretSync uses (BAO_ADDR, BAO_TOKEN set; `vault`
# works the same). PG_URL: a superuser connection, e.g. postgresql://{{username}}:{{password}}@db:5432/shop
set -euo pipefail
: "${PG_URL:?set PG_URL}" "${PG_USER:?set PG_USER}" "${PG_PASSWORD:?set PG_PASSWORD}"
bao secrets enable -path=database database
bao write database/config/shop plugin_name=postgresql-database-plugin \
  connection_url="$PG_URL" username="$PG_USER" password="$PG_PASSWORD" allowed_roles=shop-app
bao write database/roles/shop-app db_name=shop default_ttl=1h max_ttl=24h \
  creation_statements="CREATE ROLE \"{{name}}\" WITH LOGIN PASSWORD '{{password}}' VALID UNTIL '{{expiration}}'; GRANT SELECT ON ALL TABLES IN SCHEMA public TO \"{{name}}\";"
bao policy write shop-db - <<'HCL'
path "database/creds/shop-app" { capabilities = ["read"] }
path "sys/leases/renew" { capabilities = ["update"] }
path "sys/leases/revoke" { capabilities = ["update"] }
HCL
bao token create -policy=shop-db -no-default-policy -ttl=720h -field=token
