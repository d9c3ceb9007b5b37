#!/usr/bin/env bash
# Assembles the root filesystems of the two images in the Containerfile from Debian bookworm
# packages and the project's wheel, without pulling any base image:
#
#   OUT/controller/  Python 3.11 (Debian packages), the wheel and its locked dependencies
#   OUT/cmp/         the same, plus gpg and gpg-agent (SOPS PGP keys), the pinned helm and
#                    kustomize of hack/install-tools.sh, and deploy/argocd-cmp/plugin.yaml
#
# Usage: image-assemble.sh OUT WHEEL. `make image` runs it on the host and hands OUT to
# `buildah build --build-context assembled=OUT`; the Containerfile's own `assemble` stage runs
# it inside a Debian image for people building with docker or podman alone. One script, so the
# two builds cannot drift. Needs root (chroot, chown), apt, Go and `make env`'s uv.
#
# Design:
# - Distroless, not debootstrap: the package set is apt's own resolution of the few packages
#   the program needs (Depends only, no Recommends), unpacked with `dpkg-deb -x`. No shell, no
#   apt, no dpkg in the image: nothing to exec into and less to patch. dpkg and
#   init-system-helpers are declared present to the resolver, because they serve maintainer
#   scripts only, which never run here (they would pull tar, perl and usrmerge in); so does
#   mawk, which base-files pre-depends on.
# - Each package's control file goes to /var/lib/dpkg/status.d/<package>, as distroless does,
#   and its copyright file stays, so scanners and the SBOM (syft) see every package and license.
# - Docs, man pages, locales and caches are removed; Python modules are byte-compiled by the
#   image's own interpreter (chroot) with unchecked-hash pycs, valid whatever the layer mtimes,
#   since a read-only root filesystem cannot cache them at run time.
# - Python dependencies are exactly uv.lock's, hash-checked, binary wheels only.
# - The unpacked packages are cached outside the repo, keyed by the resolved package versions
#   and this script: a Debian security update yields a new key, hence a rebuilt base.
set -euo pipefail

if [ $# -ne 2 ]; then
  echo "usage: $0 OUT WHEEL" >&2
  exit 2
fi
out=$1
wheel=$(realpath "$2")
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(dirname "$here")
uv=$repo/.venv/bin/uv
cache_root=${SECRETLOOM_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/secretloom}
cache=$cache_root/image
mkdir -p "$cache/debs" "$cache/rootfs"

# base-files: /etc/os-release, which scanners need to name the distribution of every package.
python_packages=(base-files python3.11-minimal libpython3.11-stdlib)
gpg_packages=(gpg gpg-agent)
not_needed=(dpkg init-system-helpers mawk)

# The users the Containerfile's USER lines name: nonroot for the controller, Argo CD's 999 for
# the plugin sidecar (the repo server shares its socket directory with that uid).
declare -A user_of=([controller]="nonroot:65532" [cmp]="argocd:999")

log() { echo "image-assemble: $*" >&2; }

ensure_apt_lists() {
  if [[ $(apt-cache policy python3.11-minimal) != *"Candidate: "[0-9]* ]]; then
    log "apt-get update (no package lists yet)"
    apt-get update -qq
  fi
}

# name=version of every package apt would install on an empty system for "$@".
resolve() {
  local status
  status=$(mktemp)
  for name in "${not_needed[@]}"; do  # their identity and Provides (mawk: awk), no Depends
    apt-cache show --no-all-versions "$name" |
      grep -E '^(Package|Version|Architecture|Multi-Arch|Provides):' >>"$status"
    printf 'Status: install ok installed\n\n' >>"$status"
  done
  apt-get --simulate -o Dir::State::status="$status" -o APT::Install-Recommends=false \
    install "$@" | awk '/^Inst / {gsub(/[()]/, "", $3); print $2 "=" $3}' | sort
  rm -f "$status"
}

deb_file() {  # the cached .deb of name=version (apt encodes the epoch colon as %3a)
  local name=${1%%=*} version=${1#*=}
  compgen -G "$cache/debs/${name}_${version//:/%3a}_*.deb" | head -n1
}

download() {
  local missing=()
  for spec in "$@"; do
    [ -n "$(deb_file "$spec")" ] || missing+=("$spec")
  done
  if [ ${#missing[@]} -gt 0 ]; then
    log "downloading ${#missing[@]} Debian packages"
    (cd "$cache/debs" && apt-get download -qq -o APT::Sandbox::User=root "${missing[@]}" >&2)
  fi
}

strip_docs() {
  local root=$1
  find "$root/usr/share/doc" -mindepth 1 -not -name copyright -not -type d -delete
  find "$root/usr/share/doc" -mindepth 1 -type d -empty -delete
  rm -rf "$root"/usr/share/{man,info,locale,lintian,doc-base,bug,menu} "$root"/var/cache/*
}

write_etc() {
  local root=$1 user=${2%%:*} uid=${2#*:}
  mkdir -p "$root/etc" "$root/tmp" "$root/home/$user"
  chmod 1777 "$root/tmp"
  chown "$uid:$uid" "$root/home/$user"
  printf 'root:x:0:0:root:/root:/sbin/nologin\n%s:x:%s:%s:%s:/home/%s:/sbin/nologin\n' \
    "$user" "$uid" "$uid" "$user" "$user" >"$root/etc/passwd"
  printf 'root:x:0:\n%s:x:%s:\n' "$user" "$uid" >"$root/etc/group"
  printf 'passwd: files\ngroup: files\nhosts: files dns\n' >"$root/etc/nsswitch.conf"
}

# The unpacked packages of one image, from the cache or built into it; prints the directory.
base() {
  local flavor=$1
  shift
  local specs key dir tmp
  mapfile -t specs < <(resolve "$@")
  key=$( (printf '%s\n' "${specs[@]}"; cat "${BASH_SOURCE[0]}") | sha256sum | cut -c1-12)
  dir=$cache/rootfs/$flavor-$key
  if [ ! -e "$dir/.complete" ]; then
    download "${specs[@]}"
    tmp=$(mktemp -d "$cache/rootfs/build.XXXXXX")
    mkdir -p "$tmp/root/var/lib/dpkg/status.d"
    for spec in "${specs[@]}"; do
      dpkg-deb -x "$(deb_file "$spec")" "$tmp/root"
      dpkg-deb -f "$(deb_file "$spec")" >"$tmp/root/var/lib/dpkg/status.d/${spec%%=*}"
    done
    strip_docs "$tmp/root"
    chroot "$tmp/root" /usr/bin/python3.11 -m compileall -q \
      --invalidation-mode unchecked-hash /usr/lib/python3.11 >/dev/null
    rm -rf "$dir"
    mv "$tmp/root" "$dir"
    rmdir "$tmp"
    touch "$dir/.complete"
    # A new key supersedes the flavor's older bases (older package versions or script).
    find "$cache/rootfs" -mindepth 1 -maxdepth 1 -name "$flavor-*" ! -path "$dir" \
      -exec rm -rf {} +
    log "$flavor base: ${#specs[@]} packages, $(du -sh --exclude=.complete "$dir" | cut -f1)"
  fi
  echo "$dir"
}

# The wheel and uv.lock's dependencies into ROOT's dist-packages, and the console script.
install_python() {
  local root=$1 site=$1/usr/lib/python3/dist-packages requirements
  requirements=$(mktemp)
  "$uv" export --project "$repo" --frozen --no-dev --no-emit-project --format requirements.txt \
    --quiet --output-file "$requirements"
  local target=(--target "$site" --python-version 3.11 --python-platform x86_64-manylinux_2_36
    --only-binary :all: --quiet)
  "$uv" pip install "${target[@]}" --require-hashes -r "$requirements"
  "$uv" pip install "${target[@]}" --no-deps "$wheel"
  rm -rf "${site:?}/bin" "$requirements"
  # [project.scripts] secretloom = "secretloom.cli.main:app"; -I: no PYTHON* variable and no
  # user site can put other code on the path of a program that handles secrets.
  printf '#!/usr/bin/python3.11 -I\nfrom secretloom.cli.main import app\n\napp()\n' \
    >"$root/usr/bin/secretloom"
  chmod 0755 "$root/usr/bin/secretloom"
  chroot "$root" /usr/bin/python3.11 -m compileall -q \
    --invalidation-mode unchecked-hash /usr/lib/python3/dist-packages >/dev/null
}

# OUT/FLAVOR: the cached base, its users, and the Python layer (installed and byte-compiled
# once, into the controller, then copied: both images run the same interpreter).
assemble() {
  local flavor=$1
  shift
  local root=$out/$flavor
  cp -a "$(base "$flavor" "$@")" "$root"
  rm -f "$root/.complete"
  write_etc "$root" "${user_of[$flavor]}"
  if [ "$flavor" = controller ]; then
    install_python "$root"
  else
    mkdir -p "$root/usr/lib/python3"
    cp -a "$out/controller/usr/lib/python3/dist-packages" "$root/usr/lib/python3/"
    cp -a "$out/controller/usr/bin/secretloom" "$root/usr/bin/"
  fi
}

ensure_apt_lists
rm -rf "${out:?}"
mkdir -p "$out"
assemble controller "${python_packages[@]}"
assemble cmp "${python_packages[@]}" "${gpg_packages[@]}"
tools=$(bash "$here/install-tools.sh")
install -m 0755 "$tools/helm" "$tools/kustomize" "$out/cmp/usr/bin/"
# Baked in where Argo CD's cmp-server looks, so the image and its plugin contract match.
install -D -m 0644 "$repo/deploy/argocd-cmp/plugin.yaml" \
  "$out/cmp/home/argocd/cmp-server/config/plugin.yaml"
log "assembled $out: controller $(du -sh "$out/controller" | cut -f1), cmp $(du -sh "$out/cmp" | cut -f1)"
