#!/bin/sh
# consistency.sh SRCDIR [MANBUILDDIR]
#
# Checks that the man pages and the interface agree:
#  - every symbol exported by libkev/libkev.map and every function declared
#    or defined inline in include/kevent.h is named in the NAME section of a
#    page, and `man N name` has a page or a link page for it (MANBUILDDIR);
#  - every kevent_*, ukevent_*, KEVENT_* or LIBKEV_* identifier that a page
#    mentions exists in include/ or in the version script (the environment
#    variable KEVENT_BACKEND is the one name allowed besides);
#  - every name in a NAME section appears in that page's SYNOPSIS (for the
#    function pages), every page has NAME and SEE ALSO, and function pages
#    have the sections of STYLE.md in order, with a program in EXAMPLES;
#  - every .scd source was turned into a page (MANBUILDDIR).
# Output is TAP; the last line is "# man: N passed, N failed".
set -u
src=$(cd "$1" && pwd)
build=${2:-}
work=$(mktemp -d "${TMPDIR:-/tmp}/kev-man-consistency.XXXXXX")
trap 'rm -rf "$work"' EXIT INT TERM

n=0 pass=0 fail=0
ok() { n=$((n + 1)); pass=$((pass + 1)); echo "ok $n - $*"; }
notok() { n=$((n + 1)); fail=$((fail + 1)); echo "not ok $n - $*"; }
check() { # check DESCRIPTION COMMAND...: ok when the command succeeds
	d=$1; shift
	if "$@"; then ok "$d"; else notok "$d"; fi
}

map=$src/libkev/libkev.map
hdr=$src/include/kevent.h

# --- the interface --------------------------------------------------------
# Exported symbols: "name;" lines of the global: parts of the version script.
sed 's,/\*.*\*/,,g' "$map" | awk '
	/global:/ { g = 1; next } /local:/ { g = 0; next }
	g && /^[ \t]*[A-Za-z_][A-Za-z0-9_]*[ \t]*;/ {
		gsub(/[ \t;]/, ""); print }' | sort -u >"$work/exported"
# Functions of kevent.h: the identifier before "(" on the line after (or of)
# a KEVENT_INLINE / static inline line, and the prototypes "type name(".
# Names with a double underscore (kevent__*) are internal helpers of the
# inline functions, not part of the API.
awk '
	/^(KEVENT_INLINE|static inline)/ { want = 1 }
	want && match($0, /[A-Za-z_][A-Za-z0-9_]*\(/) {
		print substr($0, RSTART, RLENGTH - 1); want = 0; next }
	/^[a-z].*[ *](kevent|ukevent)_[a-z_]*\(/ {
		if (match($0, /(kevent|ukevent)_[a-z_]*\(/))
			print substr($0, RSTART, RLENGTH - 1) }
' "$hdr" | grep -v -e '^kevent__' -e '^__' | sort -u >"$work/functions"
inline_count=$(grep -c '^\(KEVENT_INLINE\|static inline\)' "$hdr")
check "kevent.h: found $inline_count inline functions" [ "$inline_count" -gt 0 ]
check "libkev.map: found exported symbols" [ -s "$work/exported" ]
sort -u "$work/exported" "$work/functions" >"$work/api"

# Every identifier the headers define or use, and the version nodes.
cat "$src"/include/*.h "$src"/include/*/*.h 2>/dev/null |
	grep -o '[A-Za-z_][A-Za-z0-9_]*' | sort -u >"$work/known"
grep -o '^[A-Z][A-Z0-9_]*_[0-9][0-9.]*' "$map" >>"$work/known"
echo KEVENT_BACKEND >>"$work/known"	# the environment variable
sort -u -o "$work/known" "$work/known"

# --- the pages --------------------------------------------------------------
: >"$work/names"
for scd in "$src"/man/*.scd; do
	file=$(basename "$scd" .scd)		# name.N
	title=$(head -n 1 "$scd" | sed 's/^\([^(]*\)(\([0-9a-z]*\)).*/\1.\2/')
	check "$file: title line matches the file name ($title)" \
		[ "$title" = "$file" ]
	sect=${file##*.}
	# undo scdoc escapes for what follows
	sed 's/\\\(.\)/\1/g' "$scd" >"$work/page"
	sections=$(grep '^# ' "$work/page" | sed 's/^# //' | tr '\n' '|')
	names=$(awk '/^# /{s = substr($0, 3); next} s == "NAME"' "$work/page" |
		tr '\n' ' ' | sed 's/ - .*//' | tr ',' ' ')
	check "$file: has NAME and SEE ALSO sections" \
		sh -c 'case "$1" in NAME\|*SEE\ ALSO\|) exit 0;; esac; exit 1' \
		sh "$sections"
	for nm in $names; do
		echo "$nm $sect $file" >>"$work/names"
	done
	# Function pages: the names are functions of the API.
	isfunc=0
	for nm in $names; do
		grep -qx "$nm" "$work/api" && isfunc=1
	done
	if [ $isfunc = 1 ]; then
		want='NAME|LIBRARY|SYNOPSIS|DESCRIPTION|RETURN VALUE|ERRORS|'
		got=$(echo "$sections" | tr '|' '\n' |
			grep -xE "${want}NOTES|EXAMPLES|SEE ALSO" | tr '\n' '|')
		check "$file: sections in man-pages order ($got)" \
			[ "$got" = "${want}NOTES|EXAMPLES|SEE ALSO|" ]
		synopsis=$(awk '/^# /{s = substr($0, 3); next}
			s == "SYNOPSIS"' "$work/page")
		for nm in $names; do
			check "$file: SYNOPSIS declares $nm()" \
				sh -c 'printf "%s\n" "$1" | grep -q "[ *]$2("' \
				sh "$synopsis" "$nm"
		done
		check "$file: EXAMPLES has a complete program" \
			sh -c 'awk "/^# /{s = substr(\$0, 3); next} s == \"EXAMPLES\"" "$1" |
				grep -q "main("' sh "$work/page"
		check "$file: RETURN VALUE says -1 or NULL and errno" \
			sh -c 'awk "/^# /{s = substr(\$0, 3); next}
				s == \"RETURN VALUE\"" "$1" | grep -q "errno"' \
			sh "$work/page"
	fi
	# Identifiers named by the page must exist.
	bad=
	for id in $(grep -oE '(^|[^A-Za-z0-9_])(kevent|ukevent|KEVENT|LIBKEV)_[A-Za-z0-9_]*(\.[0-9]+)*' \
			"$work/page" | sed 's/^[^A-Za-z]//' | sort -u); do
		case $id in
		KEVENT_[0-9]*.[0-9]*) ;;	# a version node, such as KEVENT_1.1
		*_) grep -q "^$id" "$work/known" || bad="$bad $id" ;;	# a prefix
		*) grep -qx "$id" "$work/known" || bad="$bad $id" ;;
		esac
	done
	check "$file: every kevent identifier exists${bad:+ (unknown:$bad)}" \
		[ -z "$bad" ]
done

# Every function and exported symbol has a page (NAME) ...
for f in $(cat "$work/api"); do
	line=$(awk -v f="$f" '$1 == f' "$work/names" | head -n 1)
	check "$f: documented in a NAME section${line:+ (${line##* })}" \
		[ -n "$line" ]
done

# ... and `man N name` finds a page or a link page for each name.
if [ -n "$build" ]; then
	while read -r nm sect file; do
		check "man $sect $nm: $nm.$sect is generated" \
			[ -f "$build/$nm.$sect" ]
	done <"$work/names"
	for scd in "$src"/man/*.scd; do
		file=$(basename "$scd" .scd)
		check "$file.scd: built (listed in man/meson.build)" \
			[ -f "$build/$file" ]
	done
else
	echo "# no build directory given: generated pages not checked"
fi

echo "1..$n"
echo "# man: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
