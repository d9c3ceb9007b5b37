#!/usr/bin/env bash
# Builds the real Bitnami `kubeseal` and the key-generation helper
# (hack/sealed-secrets/main.go) from the wrapper module in hack/sealed-secrets,
# pinned to one Sealed Secrets release, into a cache outside the repo keyed by
# that version and a hash of the module's files. A warm cache is reused as is.
#
# The Go module proxy serves github.com/bitnami/sealed-secrets at that version
# but the checksum database has no entry for it: the hash is pinned in the
# checked-in go.sum, and only that module is exempted from the checksum
# database (GONOSUMDB); every other module is still checked against it.
#
# Bitnami's own CRD (bitnami.com_sealedsecrets.yaml, from the module) is copied
# beside them, for the tests of `--serve-bitnami-sealed-secrets`.
#
# Prints the bin directory (kubeseal, sealed-secrets-keygen, the CRD) on stdout. With
# --cached it never builds: it fails, naming `make kubeseal`, when the cache
# is cold (what the tests call, so a test run never starts a build).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
mod="$here/sealed-secrets"
module=github.com/bitnami/sealed-secrets
version=$(awk -v m="$module" '$1 == "require" && $2 == m {print $3} $1 == m {print $2}' "$mod/go.mod")
cache_root=${SECRETLOOM_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/secretloom}
digest=$(cat "$mod/go.mod" "$mod/go.sum" "$mod/main.go" "$0" | sha256sum | cut -c1-12)
bin="$cache_root/kubeseal/$version-$digest/bin"

crd=bitnami.com_sealedsecrets.yaml
if [ -x "$bin/kubeseal" ] && [ -x "$bin/sealed-secrets-keygen" ] && [ -f "$bin/$crd" ]; then
  echo "$bin"
  exit 0
fi
if [ "${1:-}" = --cached ]; then
  echo "build-kubeseal: kubeseal $version is not built yet: run \`make kubeseal\`" >&2
  exit 1
fi
if ! command -v go >/dev/null 2>&1; then
  echo "build-kubeseal: the Go toolchain (go >= 1.24, which fetches newer toolchains) is needed to build kubeseal; install it from https://go.dev/dl" >&2
  exit 1
fi
export GONOSUMDB="$module" GOFLAGS=-mod=readonly CGO_ENABLED=0
mkdir -p "$bin"
tmp=$(mktemp -d "$bin/../build.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
start=$(date +%s)
echo "build-kubeseal: building kubeseal $version into $bin (cold build)" >&2
(cd "$mod" && go build -trimpath \
  -ldflags "-s -w -X main.VERSION=$version" \
  -o "$tmp/kubeseal" "$module/cmd/kubeseal")
(cd "$mod" && go build -trimpath -ldflags "-s -w" -o "$tmp/sealed-secrets-keygen" .)
src=$(cd "$mod" && go list -m -f '{{.Dir}}' "$module")
cp "$src/helm/sealed-secrets/crds/$crd" "$tmp/$crd"
mv "$tmp/kubeseal" "$tmp/sealed-secrets-keygen" "$tmp/$crd" "$bin/"
echo "build-kubeseal: built in $(( $(date +%s) - start ))s" >&2
echo "$bin"
