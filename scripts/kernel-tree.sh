#!/usr/bin/env bash
# Unpacks the io_uring/ files of a Debian linux-source-* package into a
# directory usable as `regbuf-fuzz --tree`, and prints that directory.
# The package comes from Debian unstable, trixie or trixie-security (its
# newest version among them; 6.12 has left unstable) when this release lacks
# it; the only change to apt's configuration is a private source list under DEST.
#   scripts/kernel-tree.sh [VERSION [DEST]]      default: 7.2 /var/cache/regbuf-tree
# Exit 77 when the package cannot be had (no network, no apt).
set -euo pipefail
ver=${1:-7.2}
dest=${2:-/var/cache/regbuf-tree}
tree="$dest/linux-source-$ver"
if [ -f "$tree/io_uring/rsrc.c" ]; then
  echo "$tree"
  exit 0
fi
command -v apt-get >/dev/null || { echo "kernel-tree: no apt-get on this machine" >&2; exit 77; }
mkdir -p "$dest/apt/lists/partial" "$dest/deb"
tarball=/usr/src/linux-source-$ver.tar.xz
if [ ! -f "$tarball" ]; then
  {
    echo "deb http://deb.debian.org/debian sid main"
    echo "deb http://deb.debian.org/debian trixie main"
    echo "deb http://deb.debian.org/debian-security trixie-security main"
  } > "$dest/apt/sources.list"
  opts=(-o Dir::Etc::SourceList="$dest/apt/sources.list" -o Dir::Etc::SourceParts=/dev/null
        -o Dir::State::Lists="$dest/apt/lists" -o APT::Sandbox::User=root)
  if ! apt-get "${opts[@]}" -qq update >&2 ||
     ! (cd "$dest/deb" && apt-get "${opts[@]}" -qq download "linux-source-$ver" >&2); then
    echo "kernel-tree: cannot download linux-source-$ver from Debian" >&2
    exit 77
  fi
  deb=$(ls "$dest"/deb/linux-source-"$ver"_*.deb | head -1)
  dpkg-deb --fsys-tarfile "$deb" | tar -x -C "$dest/deb" "./usr/src/linux-source-$ver.tar.xz"
  tarball="$dest/deb/usr/src/linux-source-$ver.tar.xz"
fi
tar -xJf "$tarball" -C "$dest" --wildcards "linux-source-$ver/io_uring/*"
rm -rf "$dest/deb"
echo "$tree"
