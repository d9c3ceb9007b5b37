#!/usr/bin/env bash
# Installs the PostgreSQL server the dynamic-secrets tests put behind OpenBao's database engine
# (issue 14), from Debian's packages, into a cache outside the repo keyed by the package
# versions. Prints the directory holding `initdb`, `postgres` and `psql` on stdout.
#
# Design (the pattern of hack/image-assemble.sh):
# - `apt-get download` + `dpkg-deb -x`, never `apt-get install`: a package install runs
#   postgresql-common's maintainer scripts, which create and start a system cluster on port
#   5432; the tests start their own, as an unprivileged user, on loopback, on a free port.
# - The server and client packages are always unpacked; of their library dependencies only
#   those this machine lacks (apt's own resolution against the installed set) are, and the
#   harness points LD_LIBRARY_PATH at them. PostgreSQL finds its share/ and lib/ relative to
#   its binary, so the unpacked tree runs where it lies.
# - Needs apt's package lists (`apt-get update`, run once here when they are missing, which
#   needs root) and nothing else; the download itself needs no root.
set -euo pipefail

major=15
packages=("postgresql-$major" "postgresql-client-$major")
cache_root=${SECRETLOOM_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/secretloom}

log() { echo "install-postgres: $*" >&2; }

if [[ $(apt-cache policy "${packages[0]}" 2>/dev/null) != *"Candidate: "[0-9]* ]]; then
  log "apt-get update (no package lists yet)"
  apt-get update -qq
fi

# name=version of each package to unpack: ours, and the dependencies not installed here.
mapfile -t specs < <(
  apt-get --simulate -o APT::Install-Recommends=false install --reinstall "${packages[@]}" |
    sed -n 's/^Inst \([^ ]*\) .*(\([^ ]*\) .*/\1=\2/p' | sort
)
for name in "${packages[@]}"; do
  if [[ " ${specs[*]} " != *" $name="* ]]; then  # up to date and installed: pin its version
    specs+=("$name=$(dpkg-query -W -f '${Version}' "$name")")
  fi
done
key=$( (printf '%s\n' "${specs[@]}"; cat "${BASH_SOURCE[0]}") | sha256sum | cut -c1-12)
dir=$cache_root/postgres/$major-$key
bin=$dir/root/usr/lib/postgresql/$major/bin
if [ ! -e "$dir/.complete" ]; then
  mkdir -p "$cache_root/postgres"
  tmp=$(mktemp -d "$cache_root/postgres/build.XXXXXX")
  mkdir -p "$tmp/debs" "$tmp/root"
  log "downloading ${#specs[@]} Debian packages"
  (cd "$tmp/debs" && apt-get download -qq -o APT::Sandbox::User=root "${specs[@]}" >&2)
  for deb in "$tmp"/debs/*.deb; do
    dpkg-deb -x "$deb" "$tmp/root"
  done
  rm -rf "$tmp/debs" "$dir"
  mv "$tmp" "$dir"
  touch "$dir/.complete"
fi
[ -x "$bin/postgres" ] || { log "no postgres binary in $bin"; exit 1; }
echo "$bin"
