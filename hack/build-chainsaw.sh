#!/usr/bin/env bash
# Builds Kyverno's Chainsaw (the end-to-end test tool the examples' suite in
# tests/chainsaw/ runs) from the Go module proxy, pinned, into a cache outside
# the repo keyed by version: a warm cache is reused as is.
#
# Prints the bin directory on stdout. With --cached it never builds: it fails,
# naming `make chainsaw`, when the cache is cold (what the tests call, so a
# test run never starts a build).
set -euo pipefail

version=v0.2.12
module=github.com/kyverno/chainsaw
cache_root=${SECRETLOOM_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/secretloom}
bin="$cache_root/chainsaw/$version/bin"
if [ -x "$bin/chainsaw" ]; then
  echo "$bin"
  exit 0
fi
if [ "${1:-}" = --cached ]; then
  echo "build-chainsaw: chainsaw $version is not built yet: run \`make chainsaw\` (a cold build takes a few minutes)" >&2
  exit 1
fi
if ! command -v go >/dev/null 2>&1; then
  echo "build-chainsaw: the Go toolchain (go >= 1.24) is needed to build $module@$version" >&2
  exit 1
fi
mkdir -p "$cache_root/chainsaw"
tmp=$(mktemp -d "$cache_root/chainsaw/build.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
start=$(date +%s)
echo "build-chainsaw: building $module@$version (cold build)" >&2
# chainsaw v0.2.12 (the newest the module proxy serves) drives Go's test runner through
# testing.MainStart with its own TestDeps, which lacks the ModulePath method Go 1.24 added to
# that interface, so `go install` fails on a current Go. Build the module's own source (from
# the module cache, checksum-verified by `go mod download`) with that one method added, as
# a file of our own; nothing else changes.
src=$(GOFLAGS=-mod=mod go mod download -json "$module@$version" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')
cp -r "$src" "$tmp/src"
chmod -R u+w "$tmp/src"
cat > "$tmp/src/pkg/runner/internal/module_path.go" <<'GO'
package internal

// ModulePath completes Go >= 1.24's testing.testDeps (added by secretloom's hack/build-chainsaw.sh).
func (*TestDeps) ModulePath() string { return "" }
GO
(cd "$tmp/src" && CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" -o "$tmp/chainsaw" .)
mkdir -p "$bin"
mv "$tmp/chainsaw" "$bin/chainsaw"
echo "build-chainsaw: built in $(( $(date +%s) - start ))s" >&2
echo "$bin"
