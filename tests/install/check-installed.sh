#!/bin/sh
# check-installed.sh BUILDDIR: install into a staging directory and build a
# small program against the *installed* headers and library, found through
# pkg-config, once as C and once as C++, with warnings as errors.  Then run
# both.  Prints TAP.
set -eu
build=$(cd "$1" && pwd)
stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT INT TERM

meson install -C "$build" --destdir "$stage" --no-rebuild --quiet >"$stage.log" 2>&1 || { cat "$stage.log"; exit 1; }
pcdir=$(dirname "$(find "$stage" -name libkev.pc | head -n1)")
export PKG_CONFIG_PATH="$pcdir"
export PKG_CONFIG_SYSROOT_DIR="$stage"
libdir=$(pkg-config --variable=libdir libkev)
case $libdir in "$stage"*) ;; *) libdir="$stage$libdir" ;; esac
export LD_LIBRARY_PATH="$libdir"

cp "$(dirname "$0")/use.c" "$stage/use.c"
cp "$stage/use.c" "$stage/use.cpp"

n=0
fail=0
step() {
	n=$((n + 1))
	desc=$1
	shift
	if out=$("$@" 2>&1); then
		echo "ok $n - $desc"
	else
		echo "not ok $n - $desc"
		echo "$out" | sed 's/^/# /'
		fail=$((fail + 1))
	fi
}
echo "1..6"
step "pkg-config --cflags --libs libkev" pkg-config --cflags --libs libkev
step "C program compiles against installed headers (-std=c99 -Wall -Wextra -Werror -pedantic)" \
	sh -c "cc -std=c99 -Wall -Wextra -Werror -pedantic \"$stage/use.c\" -o \"$stage/use-c\" \$(pkg-config --cflags --libs libkev)"
step "C program runs" "$stage/use-c"
step "C++ program compiles (-std=c++17 -Wall -Wextra -Werror -pedantic)" \
	sh -c "c++ -std=c++17 -Wall -Wextra -Werror -pedantic \"$stage/use.cpp\" -o \"$stage/use-cpp\" \$(pkg-config --cflags --libs libkev)"
step "C++ program runs" "$stage/use-cpp"
step "libkev.so.1 carries the KEVENT_1.0 version node" \
	sh -c "objdump -T \"$libdir/libkev.so.1\" | grep -q 'KEVENT_1.0 *kevent_init'"
[ "$fail" -eq 0 ]
