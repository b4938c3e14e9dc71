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

cat >"$stage/use.c" <<'PROG'
#include <kevent.h>
#include <stdio.h>
#include <string.h>

int main(void)
{
	struct kevent_ring *ring;
	struct ukevent e, out;
	int fd = kevent_init(&ring, 8, 0);

	if (fd < 0)
		return 1;
	memset(&e, 0, sizeof(e));
	e.type = KEVENT_USER;
	e.id = 1;
	e.user = 42;
	if (kevent_ctl(fd, KEVENT_CTL_ADD, 1, &e) != 1 ||
	    kevent_ctl(fd, KEVENT_CTL_READY, 1, &e) != 1 ||
	    ukevent_dequeue(fd, ring, &out, NULL) != 0 || out.user != 42)
		return 1;
	printf("installed libkev works (%s backend)\n", kevent_backend(fd));
	return kevent_close(fd);
}
PROG
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
