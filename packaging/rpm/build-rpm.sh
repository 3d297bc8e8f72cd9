#!/bin/sh
# build-rpm.sh OUTDIR [rpmbuild options...] - builds the RPMs of this tree.
#
# Makes OUTDIR/SOURCES/tandem-VERSION.tar.gz from the source tree (tracked
# and untracked files, nothing .gitignore'd) and runs
# `rpmbuild -bb packaging/rpm/tandem.spec` with OUTDIR as its top dir; the
# packages land in OUTDIR/RPMS. On a system whose rpm database does not
# hold the build dependencies (Debian), pass --nodeps.
set -eu

if [ $# -lt 1 ]; then
	echo "usage: $0 OUTDIR [rpmbuild options...]" >&2
	exit 64
fi
top=$(cd "$(dirname "$0")/../.." && pwd)
mkdir -p "$1"
out=$(cd "$1" && pwd)
shift
spec="$top/packaging/rpm/tandem.spec"
version=$(sed -n 's/^Version:[[:space:]]*//p' "$spec")
stage="$out/stage"

rm -rf "$stage"
mkdir -p "$stage/tandem-$version" "$out/SOURCES"
cd "$top"
if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
	git ls-files -z --cached --others --exclude-standard |
		tar --null -T - --ignore-failed-read -cf - 2>/dev/null |
		tar -xf - -C "$stage/tandem-$version"
else
	tar --exclude='./build*' --exclude=./.git -cf - . |
		tar -xf - -C "$stage/tandem-$version"
fi
tar -C "$stage" --sort=name --owner=0 --group=0 --numeric-owner \
	-czf "$out/SOURCES/tandem-$version.tar.gz" "tandem-$version"
rm -rf "$stage"
rpmbuild --define "_topdir $out" "$@" -bb "$spec"
