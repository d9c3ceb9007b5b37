#!/usr/bin/env bash
# Argo Rollouts' own Rollout CRD, taken from its module on the Go module proxy (the go command
# verifies the module's checksum), for the rollout-restart test: the API server then serves
# and validates Rollout objects as on a cluster with Argo Rollouts installed. Nothing is built
# or run from the module. Cached outside the repo, keyed by version.
#
# Prints the CRD file's path on stdout. With --cached it never downloads: it fails, naming
# `make argo-rollouts-crd`, when the cache is cold (what the tests call).
set -euo pipefail

version=v1.10.2
module=github.com/argoproj/argo-rollouts
cache_root=${SECRETLOOM_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/secretloom}
out="$cache_root/argo-rollouts/$version/rollout-crd.yaml"
if [ -f "$out" ]; then
  echo "$out"
  exit 0
fi
if [ "${1:-}" = --cached ]; then
  echo "argo-rollouts-crd: the Rollout CRD of Argo Rollouts $version is not cached: run \`make argo-rollouts-crd\`" >&2
  exit 1
fi
if ! command -v go >/dev/null 2>&1; then
  echo "argo-rollouts-crd: the go command is needed to download $module@$version" >&2
  exit 1
fi
# The module's go.mod asks for a newer Go than the machine's, which `go mod download`
# reports per module while still fetching and verifying the zip: only the zip is used.
info=$(GOFLAGS=-mod=mod GOTOOLCHAIN=local go mod download -json "$module@$version" || true)
zip=$(printf '%s\n' "$info" | sed -n 's/^[[:space:]]*"Zip": "\(.*\)",$/\1/p')
if [ -z "$zip" ] || [ ! -f "$zip" ]; then
  echo "argo-rollouts-crd: downloading $module@$version failed:" >&2
  printf '%s\n' "$info" >&2
  exit 1
fi
mkdir -p "$(dirname "$out")"
python3 - "$zip" "$module@$version/manifests/crds/rollout-crd.yaml" "$out" <<'PY'
import sys, zipfile
archive, member, out = sys.argv[1:]
with zipfile.ZipFile(archive) as z, open(out + ".tmp", "wb") as f:
    f.write(z.read(member))
PY
mv "$out.tmp" "$out"
echo "$out"
