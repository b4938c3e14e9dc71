#!/bin/sh
# check-installed.sh BUILDDIR: install into a staging directory and build
# programs against the *installed* headers and library, found through
# pkg-config, with warnings as errors: use.c as C (libkev) and, to show that
# <kevent.h> is C++-clean, as C++; and use.cpp, a C++ program on
# <kevent.hpp> (libkev-cpp), as C++17 and as C++20.  Then run them: each
# checks what it receives and exits non-zero on a wrong result.  Prints TAP.
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
cp "$stage/use.c" "$stage/use-c-as.cpp"
cp "$(dirname "$0")/use.cpp" "$stage/use.cpp"

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
echo "1..12"
step "pkg-config --cflags --libs libkev" pkg-config --cflags --libs libkev
step "pkg-config --cflags --libs libkev-cpp" pkg-config --cflags --libs libkev-cpp
step "libkev-cpp.pc points at the staged kevent.hpp" \
	sh -c "test -f \"\$(pkg-config --variable=includedir libkev-cpp)/kevent.hpp\""
step "C program compiles against installed headers (-std=c99 -Wall -Wextra -Werror -pedantic)" \
	sh -c "cc -std=c99 -Wall -Wextra -Werror -pedantic \"$stage/use.c\" -o \"$stage/use-c\" \$(pkg-config --cflags --libs libkev)"
step "C program runs" "$stage/use-c"
step "kevent.h is C++-clean: use.c compiles as C++17 (-Wall -Wextra -Werror -pedantic)" \
	sh -c "c++ -std=c++17 -Wall -Wextra -Werror -pedantic \"$stage/use-c-as.cpp\" -o \"$stage/use-c-as-cpp\" \$(pkg-config --cflags --libs libkev)"
step "use.c built as C++ runs" "$stage/use-c-as-cpp"
for std in c++17 c++20; do
	step "C++ program on kevent.hpp compiles with pkg-config libkev-cpp (-std=$std -Wall -Wextra -Werror -pedantic)" \
		sh -c "c++ -std=$std -Wall -Wextra -Werror -pedantic \"$stage/use.cpp\" -o \"$stage/use-cpp-$std\" \$(pkg-config --cflags --libs libkev-cpp)"
	step "C++ program ($std) runs and gets the right events" "$stage/use-cpp-$std"
done
step "libkev.so.1 carries the KEVENT_1.0 version node" \
	sh -c "objdump -T \"$libdir/libkev.so.1\" | grep -q 'KEVENT_1.0 *kevent_init'"
[ "$fail" -eq 0 ]
