#!/usr/bin/env bash
# `make image`: builds both images of the Containerfile where no image registry is reachable,
# and writes beside each an OCI archive and a CycloneDX SBOM:
#
#   DIST/images/secretloom-controller-VERSION.oci.tar   `podman load -i`, or push to a registry
#   DIST/images/secretloom-controller-VERSION.cdx.json  CycloneDX JSON: Debian packages, Python
#   DIST/images/secretloom-cmp-VERSION.{oci.tar,cdx.json}  packages, Go modules of helm/kustomize
#
# and tags localhost/secretloom-{controller,cmp}:VERSION in the local container storage.
# Usage: image-build.sh DIST (the directory `make dist` wrote the wheel to).
#
# hack/image-assemble.sh puts the root filesystems together from Debian packages and the wheel
# (cached outside the repo); `buildah build --build-context assembled=DIR` then builds the
# Containerfile's targets from them, skipping its `assemble` stage, so the image configuration
# (user, entrypoint, environment, labels) lives in the Containerfile alone. The SBOM is syft's
# scan of the finished image archive, so it lists what the image holds, not what we meant to
# put in. syft is pinned and built from the Go module proxy into the cache (once, a few minutes).
set -euo pipefail

if [ $# -ne 1 ]; then
  echo "usage: $0 DIST" >&2
  exit 2
fi
dist=$1
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(dirname "$here")
syft_version=v1.57.2
syft_module=github.com/anchore/syft/cmd/syft@$syft_version
syft_ldflags="-s -w -X main.version=$syft_version"  # named in each SBOM's metadata
cache_root=${SECRETLOOM_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/secretloom}
started=$(date +%s)

log() { echo "image-build: [$(($(date +%s) - started))s] $*" >&2; }

# buildah builds; podman and runc run the images in `make image-test` (runc: crun refuses the
# cgroup v1/v2 hybrid layout some hosts have). Installed once, as the machine's root.
missing=()
for tool in buildah podman runc; do
  command -v "$tool" >/dev/null 2>&1 || missing+=("$tool")
done
if [ ${#missing[@]} -gt 0 ]; then
  log "apt-get install ${missing[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
fi

syft_bin=$cache_root/image/syft-$(printf '%s' "$syft_module $syft_ldflags" | sha256sum | cut -c1-12)/bin
if [ ! -x "$syft_bin/syft" ]; then
  log "go install $syft_module (once)"
  GOBIN="$syft_bin" CGO_ENABLED=0 go install -trimpath -ldflags "$syft_ldflags" "$syft_module"
fi

wheels=("$dist"/secretloom-*-py3-none-any.whl)
if [ ${#wheels[@]} -ne 1 ] || [ ! -f "${wheels[0]}" ]; then
  echo "image-build: expected exactly one wheel in $dist (run make dist)" >&2
  exit 1
fi
wheel=${wheels[0]}
version=$(basename "$wheel" | cut -d- -f2)
assembled=$cache_root/image/assembled
bash "$here/image-assemble.sh" "$assembled" "$wheel"
log "root filesystems assembled"

mkdir -p "$dist/images"
for target in controller cmp; do
  image=localhost/secretloom-$target:$version
  artifact=$dist/images/secretloom-$target-$version
  # Our previous build of this tag only, so rebuilds do not pile up untagged images.
  if buildah inspect --type image "$image" >/dev/null 2>&1; then buildah rmi "$image" >/dev/null; fi
  buildah build --quiet --file "$repo/Containerfile" --target "$target" \
    --build-context assembled="$assembled" \
    --label org.opencontainers.image.version="$version" --tag "$image" "$assembled" >/dev/null
  rm -f "$artifact.oci.tar"
  buildah push --quiet "$image" "oci-archive:$artifact.oci.tar:$image"
  "$syft_bin/syft" scan "oci-archive:$artifact.oci.tar" --quiet \
    --output "cyclonedx-json=$artifact.cdx.json"
  size=$(podman image inspect --format '{{.Size}}' "$image")
  log "$image: $((size / 1000000)) MB unpacked, $(($(stat -c %s "$artifact.oci.tar") / 1000000)) MB archive, SBOM $(basename "$artifact.cdx.json")"
done
rm -rf "$assembled"  # the images hold it now; the cached bases stay
