#!/bin/sh
# tests/packaging/run.sh: build the Debian packages, install them on this
# machine with apt, check the installed system with no build tree in sight,
# then purge them and check that nothing is left behind.  Needs root: run
# as another user it fails (tools/check calls it as root; a skip would hide
# a stage that did not run).  Ends with "packaging: N passed, N failed".
set -u
top=$(cd "$(dirname "$0")/../.." && pwd)
work=$(mktemp -d /tmp/libkev-pkg.XXXXXX)
pkgs="libkev1 libkev-dev python3-kevent kevent-dkms libkev-examples kevent-tools"
passed=0
failed=0

check() {
	desc=$1
	shift
	t0=$(date +%s)
	if out=$("$@" 2>&1); then
		echo "ok - $desc ($(( $(date +%s) - t0 ))s)"
		passed=$((passed + 1))
	else
		echo "not ok - $desc ($(( $(date +%s) - t0 ))s)"
		echo "$out" | tail -n 30 | sed 's/^/#   /'
		failed=$((failed + 1))
	fi
}

cleanup() {
	cd /
	rm -rf "$work"
}
trap cleanup EXIT INT TERM

if [ "$(id -u)" -ne 0 ]; then
	echo "packaging: needs root (apt-get install, dpkg, dkms): not run"
	echo "packaging: 0 passed, 1 failed"
	exit 1
fi

echo "packaging: building the packages in $work"
git -C "$top" archive --format=tar --prefix=libkev/ HEAD | tar -x -C "$work"
# Uncommitted work is part of what is being tested when run by hand.
(cd "$top" && git ls-files -m -o --exclude-standard -z) |
	(cd "$top" && xargs -0 -r cp --parents -t "$work/libkev" 2>/dev/null)
# debhelper builds and tests with one job unless told otherwise.
jobs=$(nproc)
check "dpkg-buildpackage -us -uc -b -j$jobs" \
	sh -c "cd '$work/libkev' && dpkg-buildpackage -us -uc -b -j$jobs >'$work/build.log' 2>&1 || { tail -n 60 '$work/build.log'; exit 1; }"
grep -E '^ *(meson test|ninja)|Ok: |Fail: |Skipped: ' "$work/build.log" | sed 's/^/# build.log: /' | head -n 20
# lintian's own status counts (not only its output): it fails on a warning
# or an error, and on not running at all.  Its note about running as root
# is the one line of output allowed.
check "lintian is clean" \
	sh -c "cd '$work' && lintian --fail-on warning,error *.changes >lintian.out 2>&1; rc=\$?; \
		out=\$(grep -v 'root privileges' lintian.out); echo \"\$out\"; echo \"lintian status \$rc\"; \
		[ \"\$rc\" -eq 0 ] && [ -z \"\$out\" ]"

check "apt-get install ./*.deb" \
	sh -c "cd '$work' && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
		./libkev1_*.deb ./libkev-dev_*.deb ./python3-kevent_*.deb \
		./kevent-dkms_*.deb ./libkev-examples_*.deb ./kevent-tools_*.deb"
dpkg -L $pkgs 2>/dev/null | sort -u >"$work/files"

# Everything below uses only the installed system.
cd "$work"
check "man 2 kevent_wait renders" \
	sh -c "MANWIDTH=80 man 2 kevent_wait | grep -q 'kevent_wait, kevent_pwait'"
check "man 7 kevent and man 3 ukevent_dequeue render" \
	sh -c "man 7 kevent | grep -q 'Comparison with epoll' && man 3 ukevent_dequeue | grep -q ukevent_dequeue"
check "pkg-config --cflags --libs libkev" pkg-config --cflags --libs libkev
check "pkg-config libkev-cpp" pkg-config --exists libkev-cpp
cp "$top/tests/install/use.c" use.c
# The C++ program checks what it receives (ids, counts, errors) and exits
# non-zero on a wrong result.
cp "$top/tests/install/use.cpp" use.cpp
check "C program builds with pkg-config and runs" \
	sh -c "cc -std=c99 -Wall -Wextra -Werror -pedantic use.c -o use-c \$(pkg-config --cflags --libs libkev) && ./use-c"
for std in c++17 c++20; do
	check "C++ program on kevent.hpp builds with pkg-config libkev-cpp ($std) and gets the right events" \
		sh -c "c++ -std=$std -Wall -Wextra -Werror -pedantic use.cpp -o use-cpp-$std \$(pkg-config --cflags --libs libkev-cpp) && ./use-cpp-$std"
done
check "python3 -c 'import kevent' runs an event loop" \
	/usr/bin/python3 -c '
import asyncio, kevent
with kevent.Queue() as q:
    q.add_timer(1, 0.01, oneshot=True)
    ev = q.wait(timeout=5)
    assert ev and ev[0].ident == 1, ev
async def main():
    await asyncio.sleep(0.01)
    return 42
assert kevent.run(main()) == 42
print("python: ok")
'
check "the demo from libkev-examples runs" /usr/libexec/libkev/demo
check "kevent-stat from kevent-tools reads a queue with statistics on" \
	/usr/bin/python3 -c '
import os, subprocess, kevent
with kevent.Queue(backend="epoll") as q:
    q.stats_enabled = True
    q.add_user(1)
    q.trigger(1)
    assert q.wait(timeout=5)
    out = subprocess.run(["kevent-stat", str(os.getpid())], check=True,
                         capture_output=True, text=True).stdout
    assert "1 kevent queue" in out, out
    assert "publish to consume: 1 entries" in out, out
'
check "man 1 kevent-stat renders" \
	sh -c "MANWIDTH=80 man 1 kevent-stat | grep -q 'kevent-stat - show the statistics'"
kver=$(ls -d /usr/src/linux-headers-*-amd64 2>/dev/null | sed 's|.*/linux-headers-||' | sort -V | tail -n1)
if [ -n "$kver" ]; then
	check "dkms builds the module for $kver" \
		sh -c "dkms build kevent/1.2.0 -k '$kver' --force >'$work/dkms.log' 2>&1 || { tail -n 40 '$work/dkms.log'; cat /var/lib/dkms/kevent/1.2.0/build/make.log 2>/dev/null | tail -n 20; exit 1; }; ls /var/lib/dkms/kevent/1.2.0/'$kver'/x86_64/module/kevent.ko*"
else
	echo "ok - dkms build # SKIP no linux-headers-*-amd64 installed"
fi

check "apt-get purge removes the packages" \
	sh -c "DEBIAN_FRONTEND=noninteractive apt-get purge -y -qq $pkgs"
check "no files left behind" \
	sh -c "left=''; while read -r f; do [ -d \"\$f\" ] && continue; [ -e \"\$f\" ] && left=\"\$left \$f\"; done <'$work/files'; \
		[ -d /usr/src/kevent-1.2.0 ] && left=\"\$left /usr/src/kevent-1.2.0\"; \
		[ -d /var/lib/dkms/kevent ] && left=\"\$left /var/lib/dkms/kevent\"; \
		[ -d /usr/lib/python3/dist-packages/kevent ] && left=\"\$left python kevent\"; \
		echo \"left:\$left\"; [ -z \"\$left\" ]"

echo "packaging: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
