#!/bin/sh
# build-deb.sh OUTDIR - builds the Debian binary packages of this tree.
#
# Copies the source tree (tracked and untracked files, without build
# directories or anything .gitignore'd) to OUTDIR/tandem-VERSION, puts
# packaging/debian there as debian/, and runs `dpkg-buildpackage -us -uc -b`.
# The .deb, .buildinfo and .changes files land in OUTDIR.
# Needs dpkg-dev, debhelper and the Build-Depends of packaging/debian/control
# (`dpkg-checkbuilddeps` says which are missing).
set -eu

if [ $# -ne 1 ]; then
	echo "usage: $0 OUTDIR" >&2
	exit 64
fi
top=$(cd "$(dirname "$0")/.." && pwd)
mkdir -p "$1"
out=$(cd "$1" && pwd)
version=$(sed -n '1s/^tandem (\([^-)]*\).*/\1/p' "$top/packaging/debian/changelog")
src="$out/tandem-$version"

rm -rf "$src"
mkdir -p "$src"
cd "$top"
if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
	git ls-files -z --cached --others --exclude-standard |
		tar --null -T - --ignore-failed-read -cf - 2>/dev/null | tar -xf - -C "$src"
else
	tar --exclude='./build*' --exclude=./.git -cf - . | tar -xf - -C "$src"
fi
rm -rf "$src/debian"
cp -a "$top/packaging/debian" "$src/debian"

cd "$src"
dpkg-checkbuilddeps
dpkg-buildpackage -us -uc -b
