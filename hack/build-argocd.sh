#!/usr/bin/env bash
# Builds the Argo CD pieces the tests run, from the wrapper module in
# hack/argocd-lua (pinned to one Argo CD release), into a cache outside the
# repo:
#   - Argo CD's own multi-call `argocd` binary, keyed by go.mod/go.sum; run
#     as argocd-cmp-server through a symlink of that name, which is how Argo
#     CD's image and its repo-server init container run it;
#   - the test harness (hack/argocd-lua/main.go), keyed by its sources too,
#     so editing the harness does not relink Argo CD;
#   - Argo CD's own argocd-repo-server Deployment manifest from the module,
#     the base the CMP sidecar patch is tested against.
# A warm cache is reused as is. Argo CD needs a newer Go than the rest of the
# repo: the go command fetches that toolchain from the Go module proxy.
#
# Prints the bin directory (argocd-harness, argocd-cmp-server) on stdout.
# With --cached it never builds: it fails, naming `make argocd-tools`, when
# the cache is cold (what the tests call, so a test run never starts a build).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
mod="$here/argocd-lua"
if ! command -v go >/dev/null 2>&1; then
  echo "build-argocd: the Go toolchain (go >= 1.21, which fetches newer toolchains) is needed to build Argo CD's cmp-server and the Lua harness; install it from https://go.dev/dl" >&2
  exit 1
fi
export GOTOOLCHAIN
GOTOOLCHAIN=$(awk '$1 == "toolchain" {print $2}' "$mod/go.mod")
export CGO_ENABLED=0

version=$(awk '$1 == "github.com/argoproj/argo-cd/v3" {print $2; exit}' "$mod/go.mod")
cache_root=${SECRETLOOM_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/secretloom}
tool_digest=$(cat "$mod/go.mod" "$mod/go.sum" "$0" | sha256sum | cut -c1-12)
harness_digest=$(cat "$mod/go.mod" "$mod/go.sum" "$mod/main.go" "$0" | sha256sum | cut -c1-12)
tool_bin="$cache_root/argocd/$version-$tool_digest/bin"
bin="$cache_root/argocd/harness-$harness_digest/bin"

repo_server=argocd-repo-server-deployment.yaml
if [ "${1:-}" = --cached ] && { [ ! -x "$tool_bin/argocd" ] || [ ! -x "$bin/argocd-harness" ] || [ ! -f "$bin/$repo_server" ]; }; then
  echo "build-argocd: Argo CD $version and the harness are not built yet: run \`make argocd-tools\` (a cold build takes several minutes)" >&2
  exit 1
fi
mkdir -p "$cache_root/argocd"
tmp=$(mktemp -d "$cache_root/argocd/build.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

build() {  # build NAME PACKAGE LDFLAGS OUT_DIR
  local start
  start=$(date +%s)
  echo "build-argocd: building $1 into $4 (cold build)" >&2
  (cd "$mod" && go build -trimpath -ldflags "$3" -o "$tmp/$1" "$2")
  mkdir -p "$4"
  mv "$tmp/$1" "$4/$1"
  echo "build-argocd: $1 built in $(( $(date +%s) - start ))s" >&2
}

if [ ! -x "$tool_bin/argocd" ]; then
  build argocd github.com/argoproj/argo-cd/v3/cmd \
    "-s -w -X github.com/argoproj/argo-cd/v3/common.version=${version#v} -X github.com/argoproj/argo-cd/v3/common.gitTreeState=clean" \
    "$tool_bin"
fi
if [ ! -x "$bin/argocd-harness" ]; then
  build argocd-harness . "-s -w" "$bin"
fi
if [ ! -f "$bin/$repo_server" ]; then
  argocd_src=$(cd "$mod" && go list -m -f '{{.Dir}}' github.com/argoproj/argo-cd/v3)
  cp "$argocd_src/manifests/base/repo-server/$repo_server" "$bin/$repo_server"
fi
ln -sfn "$tool_bin/argocd" "$bin/argocd-cmp-server"
echo "$bin"
