#!/usr/bin/env bash
# scripts/build.sh - configures and builds out of tree. Prints the build directory.
#   scripts/build.sh                 -> build/        (-Werror)
#   scripts/build.sh --sanitizers    -> build-asan/   (-Werror, AddressSanitizer + UBSan)
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
dir=$top/build; flags=(--enable-werror)
if [ "${1:-}" = --sanitizers ]; then dir=$top/build-asan; flags+=(--enable-sanitizers); fi
cd "$top"
[ -x configure ] && [ configure -nt configure.ac ] && [ Makefile.in -nt Makefile.am ] || ./autogen.sh >/dev/null 2>&1
mkdir -p "$dir"
cd "$dir"
if [ ! -f Makefile ] || [ "$top/configure" -nt Makefile ]; then
  "$top/configure" -q "${flags[@]}" >/dev/null
fi
make -j"$(nproc)" >/dev/null
echo "$dir"
