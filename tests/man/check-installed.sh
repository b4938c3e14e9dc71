#!/bin/sh
# check-installed.sh DIR
#
# Checks that man(1) finds and formats every installed libkev page, for
# example after `meson install --destdir DIR`: for each page or link page
# under DIR's share/man/manN (or DIR/manN if DIR is itself a man tree),
# `MANPATH=<that tree> man N name` must print the page, without any warning,
# and its NAME section must list the name.  Also checks that the pages
# kevent_wait(2), kevent_pwait(2), kevent(4), kevent(7) and kevent-stat(1)
# are there.
# Output is TAP; the last line is "# man: N passed, N failed".
set -u
dir=${1:?usage: check-installed.sh DESTDIR}
work=$(mktemp -d "${TMPDIR:-/tmp}/kev-man-installed.XXXXXX")
trap 'rm -rf "$work"' EXIT INT TERM

n=0 pass=0 fail=0
ok() { n=$((n + 1)); pass=$((pass + 1)); echo "ok $n - $*"; }
notok() { n=$((n + 1)); fail=$((fail + 1)); echo "not ok $n - $1"; shift
	for f in "$@"; do [ -s "$f" ] && sed 's/^/# /' "$f" | head -n 40; done; }

if ! command -v man >/dev/null 2>&1; then
	echo "1..0 # SKIP man(1) is not installed (apt-get install man-db)"
	exit 77
fi

if [ -f "$dir/man2/kevent_wait.2" ] || [ -f "$dir/man2/kevent_wait.2.gz" ]; then
	root=$dir
else
	f=$(find "$dir" -path '*/man2/kevent_wait.2*' 2>/dev/null | head -n 1)
	root=${f%/man2/*}
fi
if [ -z "$root" ] || [ ! -d "$root/man2" ]; then
	notok "kevent_wait.2 installed under $dir"
	echo "1..$n"
	echo "# man: $pass passed, $fail failed"
	exit 1
fi
ok "pages installed in $root"
root=$(cd "$root" && pwd)

export LC_ALL=C.UTF-8 MANWIDTH=80 MANPAGER=cat PAGER=cat MAN_KEEP_FORMATTING=
export MANPATH="$root"
unset MANOPT MANSECT

for want in man2/kevent_wait.2 man2/kevent_pwait.2 man2/kevent_init.2 \
	    man2/kevent_ctl.2 man3/kevent_ring_consume.3 man4/kevent.4 \
	    man7/kevent.7 man3/libkev.3 man1/kevent-stat.1; do
	if [ -f "$root/$want" ] || [ -f "$root/$want.gz" ]; then
		ok "$want is installed"
	else
		notok "$want is installed"
	fi
done

for f in "$root"/man[0-9]/*kev*.[0-9]* "$root"/man[0-9]/*kevent*.[0-9]*; do
	[ -f "$f" ] || continue
	echo "$f"
done | sort -u >"$work/files"

while read -r f; do
	base=$(basename "$f")
	base=${base%.gz}
	sect=${base##*.}
	name=${base%.*}
	out=$work/$name.$sect.out
	err=$work/$name.$sect.err
	if man --warnings "$sect" "$name" >"$out" 2>"$err" && [ ! -s "$err" ] &&
	   sed -n '/^NAME/,/^[A-Z]/p' "$out" | tr -s ' \n' '  ' |
	   grep -q -- "[ ,]$name[ ,]"; then
		ok "man $sect $name"
	else
		notok "man $sect $name" "$err" "$out"
	fi
done <"$work/files"

echo "1..$n"
echo "# man: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
