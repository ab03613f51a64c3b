#!/bin/sh
# Installs the Debian packages assoc needs, when they are missing.
# As root it runs apt-get; otherwise it prints the exact command and fails.
#   tools/deps.sh [extra-package ...]
set -u
PKGS="lua5.4 liblua5.4-dev libsqlite3-dev libcjson-dev lua-busted gcc make pkg-config $*"
missing=""
for p in $PKGS; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
[ -z "$missing" ] && exit 0
if [ "$(id -u)" = 0 ]; then
  echo "deps: installing$missing"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >/dev/null || { echo "deps: apt-get update failed" >&2; exit 1; }
  # shellcheck disable=SC2086
  apt-get install -y -qq $missing >/dev/null || { echo "deps: apt-get install failed" >&2; exit 1; }
else
  echo "deps: missing Debian packages:$missing" >&2
  echo "deps: run as root:  apt-get install$missing" >&2
  exit 1
fi
