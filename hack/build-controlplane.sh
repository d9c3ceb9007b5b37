#!/usr/bin/env bash
# Builds the local control plane (etcd, kube-apiserver, kube-controller-manager,
# kubectl) from the Go wrapper modules in hack/, into a cache outside the repo
# keyed by the Kubernetes version and a hash of the wrapper sources. A warm
# cache is reused as is; a cold build takes 10-20 minutes on 2 cores.
#
# Prints the bin directory on stdout. Honours SECRETLOOM_CACHE_DIR and
# XDG_CACHE_HOME; Go's own module and build caches are used as configured.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
if ! command -v go >/dev/null 2>&1; then
  echo "build-controlplane: the Go toolchain (go >= 1.24) is needed to build the control plane; install it from https://go.dev/dl or your distribution's golang package" >&2
  exit 1
fi

k8s_version=$(awk '$1 == "k8s.io/kubernetes" {print $2} $1 == "require" && $2 == "k8s.io/kubernetes" {print $3}' "$here/controlplane/go.mod")
digest=$(cat "$here"/controlplane/go.mod "$here"/controlplane/go.sum "$here"/controlplane/main.go \
              "$here"/etcd/go.mod "$here"/etcd/go.sum "$here"/etcd/main.go "$0" | sha256sum | cut -c1-12)
cache_root=${SECRETLOOM_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/secretloom}
bin="$cache_root/controlplane/$k8s_version-$digest/bin"

if [ -x "$bin/kube-apiserver" ] && [ -x "$bin/etcd" ] && [ -x "$bin/kubectl" ]; then
  echo "$bin"
  exit 0
fi

mkdir -p "$bin"
tmp=$(mktemp -d "$bin/../build.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

minor=${k8s_version#v1.}; minor=${minor%%.*}
ldflags="-s -w
 -X k8s.io/component-base/version.gitVersion=$k8s_version
 -X k8s.io/component-base/version.gitMajor=1
 -X k8s.io/component-base/version.gitMinor=$minor
 -X k8s.io/component-base/version.gitTreeState=clean"

start=$(date +%s)
echo "build-controlplane: building Kubernetes $k8s_version control plane into $bin (cold build, 10-20 min on 2 cores)" >&2
(cd "$here/etcd" && CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" -o "$tmp/etcd" .)
(cd "$here/controlplane" && CGO_ENABLED=0 go build -trimpath -ldflags "$ldflags" -o "$tmp/controlplane" .)
mv "$tmp/etcd" "$tmp/controlplane" "$bin/"
for name in kube-apiserver kube-controller-manager kubectl; do
  ln -sf controlplane "$bin/$name"
done
echo "build-controlplane: built in $(( $(date +%s) - start ))s" >&2
echo "$bin"
