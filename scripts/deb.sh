#!/usr/bin/env bash
# scripts/deb.sh - builds the Debian package from the working tree: build/deb/migrated_VERSION_ARCH.deb.
#   scripts/deb.sh             build (installs missing build dependencies with scripts/deps.sh)
#   scripts/deb.sh --lintian   build, then lintian (exit 1 on an error or a warning)
# The tree's tracked and new (not ignored) files are copied to build/deb/migrated-VERSION and
# dpkg-buildpackage runs there, so the source tree gets no autotools or debhelper output. Outside
# a git checkout (an exported tarball) the whole tree but build*/ is copied and distcleaned, so
# no object of another build (other flags, no hardening) ends up in the package.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
"$top/scripts/deps.sh" --runtime >&2

version=$(sed -nE 's/^AC_INIT\(\[migrated\], \[([^]]+)\].*/\1/p' configure.ac)
debversion=$(dpkg-parsechangelog -S Version -l debian/changelog)
[ "$version" = "$debversion" ] || {
  echo "deb.sh: configure.ac says $version but debian/changelog says $debversion: add a changelog entry (dch -v $version)" >&2
  exit 1
}
arch=$(dpkg --print-architecture)
out=$top/build/deb
src=$out/migrated-$version
rm -rf "$out"
mkdir -p "$src"
if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
  git ls-files -z --cached --others --exclude-standard | while IFS= read -r -d '' f; do
    [ -e "$f" ] && printf '%s\0' "$f"
  done | tar -c --null -T - | tar -x -C "$src"
else
  tar -c --exclude='./build' --exclude='./build-*' . | tar -x -C "$src"
  [ ! -f "$src/Makefile" ] || make -C "$src" distclean >/dev/null 2>&1 || true
fi

(cd "$src" && dpkg-buildpackage -b -us -uc -j"$(nproc)") >"$out/build.log" 2>&1 || {
  tail -n 40 "$out/build.log" >&2
  echo "deb.sh: dpkg-buildpackage failed (full log: $out/build.log)" >&2
  exit 1
}
rm -rf "$src"
deb=$out/migrated_${version}_${arch}.deb
[ -f "$deb" ] || { echo "deb.sh: no $deb after the build" >&2; exit 1; }
if [ "${1:-}" = --lintian ]; then
  lintian --no-tag-display-limit "$deb" | tee "$out/lintian.log" >&2
  if grep -qE '^[EW]: ' "$out/lintian.log"; then exit 1; fi
fi
echo "$deb"
