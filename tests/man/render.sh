#!/bin/sh
# render.sh MANBUILDDIR
#
# Formats every generated page with `man --warnings -l` (groff, through
# man-db; LC_ALL=C.UTF-8, MANWIDTH=80) and fails on any warning or error
# output, or on a formatted line wider than 80 columns.  A link page (.so)
# must name a page that exists.  Then lays the pages out as a man tree and
# runs check-installed.sh on it, so that `man N name` works for every name.
# Output is TAP; the last line is "# man: N passed, N failed".
set -u
build=$(cd "$1" && pwd)
here=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d "${TMPDIR:-/tmp}/kev-man-render.XXXXXX")
chmod 755 "$work"	# man(1) may read the tree as another user
trap 'rm -rf "$work"' EXIT INT TERM

n=0 pass=0 fail=0
ok() { n=$((n + 1)); pass=$((pass + 1)); echo "ok $n - $*"; }
notok() { n=$((n + 1)); fail=$((fail + 1)); echo "not ok $n - $1"; shift
	for f in "$@"; do [ -s "$f" ] && sed 's/^/# /' "$f" | head -n 40; done; }

for tool in man groff; do
	if ! command -v $tool >/dev/null 2>&1; then
		echo "1..0 # SKIP $tool is not installed (apt-get install man-db groff-base)"
		exit 77
	fi
done

export LC_ALL=C.UTF-8 MANWIDTH=80 MANPAGER=cat PAGER=cat
unset MANOPT

pages=0
for f in "$build"/*.[0-9]; do
	[ -f "$f" ] || continue
	pages=$((pages + 1))
	base=$(basename "$f")
	sect=${base##*.}
	mkdir -p "$work/tree/man$sect"
	cp "$f" "$work/tree/man$sect/"
	first=$(head -n 1 "$f")
	case $first in
	.so\ *)
		target=${first#.so }
		if [ "$(wc -l <"$f")" -eq 1 ] &&
		   [ -f "$build/$(basename "$target")" ]; then
			ok "$base: link to $target"
		else
			notok "$base: link to an existing page ($first)"
		fi
		continue ;;
	esac
	if man --warnings -l "$f" >"$work/out" 2>"$work/err" &&
	   [ ! -s "$work/err" ]; then
		ok "$base: man --warnings -l prints no warning"
	else
		notok "$base: man --warnings -l prints no warning" "$work/err"
	fi
	width=$(wc -L <"$work/out")
	if [ "$width" -le 80 ]; then
		ok "$base: formatted width $width <= 80"
	else
		grep -E '^.{81,}' "$work/out" >"$work/wide"
		notok "$base: formatted width $width <= 80" "$work/wide"
	fi
done
if [ "$pages" -gt 0 ]; then
	ok "found $pages pages in $build"
	sh "$here/check-installed.sh" "$work/tree" >"$work/installed"
	status=$?
	grep -v '^1\.\.\|^# man:' "$work/installed" | while IFS= read -r line; do
		echo "# $line"
	done
	if [ $status -eq 0 ]; then
		ok "man N name finds every page and link page (check-installed.sh)"
	else
		notok "man N name finds every page and link page (check-installed.sh)"
	fi
else
	notok "found pages in $build"
fi

echo "1..$n"
echo "# man: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
