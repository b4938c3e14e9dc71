#!/bin/sh
# examples.sh SRCDIR [LIBKEV_SO]
#
# Compiles every program of the EXAMPLES sections of the man pages (see
# extract-examples.sh) against SRCDIR/include with -Wall -Wextra -Werror
# -pedantic (C as gnu11 with CC, C++ as C++17 with CXX).
# With LIBKEV_SO (the built libkev/libkev.so), also links each program and
# runs it once with each backend that works here (KEVENT_BACKEND=kmod,
# uring, epoll), with a time limit; it must exit with status 0.  Programs
# that open /dev/kevent run only when the device exists.
#
# Output is TAP; the last line is "# man: N passed, N failed".
# Environment: CC (default cc), CXX (default c++), CFLAGS and CXXFLAGS
# (added), KEV_MAN_NO_RUN=1 (compile
# and link only), KEV_MAN_TIMEOUT (seconds per run, default 30).
set -u
src=$(cd "$1" && pwd)
lib=${2:-}
here=$(cd "$(dirname "$0")" && pwd)
CC=${CC:-cc}
timeout_s=${KEV_MAN_TIMEOUT:-30}
work=$(mktemp -d "${TMPDIR:-/tmp}/kev-man-examples.XXXXXX")
trap 'rm -rf "$work"' EXIT INT TERM

n=0 pass=0 fail=0 skipped=0
ok() { n=$((n + 1)); pass=$((pass + 1)); echo "ok $n - $*"; }
notok() { n=$((n + 1)); fail=$((fail + 1)); echo "not ok $n - $1"; shift
	for f in "$@"; do [ -s "$f" ] && sed 's/^/# /' "$f"; done; }
skip() { n=$((n + 1)); skipped=$((skipped + 1)); echo "ok $n - $1 # SKIP $2"; }

cflags="-std=gnu11 -O2 -D_FORTIFY_SOURCE=2 -Wall -Wextra -Werror -pedantic -Wno-unused-parameter"
cflags="$cflags -I$src/include ${CFLAGS:-}"
CXX=${CXX:-c++}
cxxflags="-std=c++17 -O2 -D_FORTIFY_SOURCE=2 -Wall -Wextra -Werror -pedantic"
cxxflags="$cxxflags -I$src/include -I$src/bindings/cpp ${CXXFLAGS:-}"

if [ -n "$lib" ] && [ ! -f "$lib" ]; then
	echo "# $lib not found: compiling without linking"
	lib=
fi
libdir=
[ -n "$lib" ] && libdir=$(cd "$(dirname "$lib")" && pwd)

progs=$(sh "$here/extract-examples.sh" "$src" "$work/src")
if [ -z "$progs" ]; then
	notok "no example program found in $src/man"
fi

built=
for c in $progs; do
	case $c in
	*.cpp)	# C++ (libkev-cpp(3)): <kevent.hpp> from bindings/cpp
		name=$(basename "$c" .cpp)
		if ! command -v "${CXX%% *}" >/dev/null 2>&1; then
			skip "$name: compiles" "no C++ compiler ($CXX)"
			continue
		fi
		comp="$CXX $cxxflags" ;;
	*)	name=$(basename "$c" .c)
		comp="$CC $cflags" ;;
	esac
	if [ -n "$lib" ]; then
		# shellcheck disable=SC2086
		if $comp -o "$work/$name" "$c" "$lib" -pthread \
			>"$work/$name.log" 2>&1; then
			ok "$name: compiles and links"
			built="$built $name"
		else
			notok "$name: compiles and links" "$work/$name.log"
		fi
	else
		# shellcheck disable=SC2086
		if $comp -c -o "$work/$name.o" "$c" \
			>"$work/$name.log" 2>&1; then
			ok "$name: compiles"
		else
			notok "$name: compiles" "$work/$name.log"
		fi
	fi
done

if [ -z "$lib" ]; then
	skip "run the examples" "libkev not built"
elif [ "${KEV_MAN_NO_RUN:-0}" = 1 ]; then
	skip "run the examples" "KEV_MAN_NO_RUN=1"
elif [ -z "$built" ]; then
	notok "run the examples: nothing was built"
else
	# Backends that work here: a queue can be created with each.
	cat >"$work/probe.c" <<'PROBE'
#include <kevent.h>
int main(void)
{
	struct kevent_ring *ring;
	int fd = kevent_init(&ring, 0, 0);
	return fd < 0 ? 1 : kevent_close(fd) != 0;
}
PROBE
	# shellcheck disable=SC2086
	$CC $cflags -o "$work/probe" "$work/probe.c" "$lib" -pthread
	# A backend is skipped only when the kernel cannot carry it (asked
	# without libkev); one it has but libkev fails on is a failure.
	backends=
	for b in kmod uring epoll; do
		if LD_LIBRARY_PATH=$libdir KEVENT_BACKEND=$b "$work/probe" \
			>/dev/null 2>&1; then
			backends="$backends $b"
		elif why=$("$src/tools/kernel-backends" "$b"); then
			notok "a queue on the $b backend, which this kernel has"
		else
			skip "run the examples with KEVENT_BACKEND=$b" \
				"the kernel cannot carry the $b backend ($why)"
		fi
	done
	for b in $backends; do
		for name in $built; do
			if grep -q '"/dev/kevent"' "$work/src/$name".c* &&
			   [ ! -c /dev/kevent ]; then
				skip "$name ($b): runs" "/dev/kevent not present"
				continue
			fi
			if LD_LIBRARY_PATH=$libdir KEVENT_BACKEND=$b \
				timeout -k 5 "$timeout_s" "$work/$name" \
				</dev/null >"$work/$name.$b.out" 2>&1; then
				ok "$name ($b): runs, exit status 0"
			else
				echo "exit status $?" >>"$work/$name.$b.out"
				notok "$name ($b): runs, exit status 0" \
					"$work/$name.$b.out"
			fi
		done
	done
fi

echo "1..$n"
echo "# man: $pass passed, $fail failed, $skipped skipped"
[ "$fail" -eq 0 ]
