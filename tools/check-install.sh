#!/bin/sh
# Installs assoc into a temporary prefix and checks what a user of the
# installed files gets (TAP):
#   - a C host built with `cc host.c $(pkg-config --cflags --libs assoc)`
#     runs examples/host_check.lua;
#   - lua5.4 finds assoc and assoc.core under share/lua/5.4 and lib/lua/5.4.
set -u
MAKE=${MAKE:-make}
CC=${CC:-cc}
LUA=${LUA:-lua5.4}
prefix=$(mktemp -d "${TMPDIR:-/tmp}/assoc-install.XXXXXX")
trap 'rm -rf "$prefix"' EXIT
n=0; fail=0
ok() { n=$((n + 1)); if [ "$1" = 0 ]; then echo "ok $n - install: $2"; else fail=1; echo "not ok $n - install: $2"; fi; }

$MAKE -s --no-print-directory install PREFIX="$prefix" >"$prefix/make.log" 2>&1
ok $? "make install PREFIX=... succeeds"
[ -f "$prefix/include/assoc.h" ] && [ -f "$prefix/lib/libassoc.a" ] && [ -f "$prefix/lib/libassoc.so" ] \
  && [ -f "$prefix/lib/lua/5.4/assoc/core.so" ] && [ -f "$prefix/share/lua/5.4/assoc/init.lua" ] \
  && [ -f "$prefix/lib/pkgconfig/assoc.pc" ]
ok $? "header, libraries, Lua modules and assoc.pc are installed"

export PKG_CONFIG_PATH="$prefix/lib/pkgconfig${PKG_CONFIG_PATH:+:$PKG_CONFIG_PATH}"
flags=$(pkg-config --cflags --libs assoc 2>&1)
ok $? "pkg-config --cflags --libs assoc"
# shellcheck disable=SC2086
$CC -o "$prefix/host" examples/host.c $flags >"$prefix/cc.log" 2>&1
ok $? "a host builds with the pkg-config flags"
LD_LIBRARY_PATH="$prefix/lib" "$prefix/host" examples/host_check.lua >"$prefix/host.log" 2>&1
ok $? "the installed host runs the host check"
[ $? = 0 ] || sed 's/^/# /' "$prefix/host.log"

LUA_PATH="$prefix/share/lua/5.4/?.lua;$prefix/share/lua/5.4/?/init.lua" LUA_CPATH="$prefix/lib/lua/5.4/?.so" \
  $LUA -e 'local a = require "assoc"; local db = a.open(":memory:"); assert(db:query("SELECT 1 AS x")[1].x == 1); db:close()' \
  >"$prefix/lua.log" 2>&1
ok $? "lua5.4 loads the installed modules"
echo "1..$n"
exit $fail
