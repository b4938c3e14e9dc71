#!/bin/bash
# SPDX-License-Identifier: MIT
#
# run-vm-tests.sh - build kevent.ko against Debian's kernel headers, boot that
# kernel in qemu (TCG, 2 vCPUs) with a busybox initramfs, load the module and
# run the kmod tests and the conformance suite (KEVENT_BACKEND=kmod) inside.
#
# Usage: tests/vm/run-vm-tests.sh [options] [CONFORMANCE_BINARY | BUILD_DIR]
#   CONFORMANCE_BINARY  default: build/tests/conformance/kevent-conformance;
#                       a meson build directory means its
#                       tests/conformance/kevent-conformance (skipped with a
#                       note when it does not exist), and its C++ and stress
#                       test programs are run too (as --extra)
#   -k, --kver VER      kernel version (default: newest
#                       /usr/src/linux-headers-*-amd64)
#   -w, --workdir DIR   scratch directory, keeps serial.log (default:
#                       ${XDG_CACHE_HOME:-$HOME/.cache}/libkev-vm/work)
#   -t, --timeout SECS  whole VM run (default: 900); an oops, BUG or
#                       WARNING panics the guest (oops=panic,
#                       panic_on_warn=1), which ends the run at once
#   -T, --test NAME     run only this kmod test (repeatable)
#   -b, --backend NAME  also run the conformance suite with KEVENT_BACKEND=NAME
#                       (repeatable; kmod always runs first)
#   -x, --extra BIN     another test program to run in the guest with
#                       KEVENT_BACKEND=kmod (repeatable; exit status 0 = pass)
#   --bench BIN         also run bench-native (bench/) in the guest: chain,
#                       burst, wakeup and registration on the kmod and epoll
#                       backends and raw epoll, 3 rounds interleaved; the
#                       RESULT lines are printed as "vmbench: ..." (numbers
#                       from TCG emulation: compare within the run only)
#
# The kernel package is cached in ${XDG_CACHE_HOME:-$HOME/.cache}/libkev-vm.
# Needs: linux-headers-amd64 qemu-system-x86 busybox-static cpio kmod gcc make
# (and apt-get download access for linux-image-<ver>-amd64 on the first run).
# KVM is never used (it hangs on these hosts): always -accel tcg.
#
# In the guest KEVENT_TEST_SLOW=1 is set: TCG vCPUs can stall for
# milliseconds when the host is busy, so tests may widen timing margins.
#
# Prints "vm: PASS name" / "vm: FAIL name" per test and a last line
# "vm: N passed, N failed"; exits non-zero on any failure.

set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
cache=${XDG_CACHE_HOME:-$HOME/.cache}/libkev-vm
kver=
workdir=
timeout_s=${KEVENT_VM_TIMEOUT:-900}
conformance=
tests=()
extras=()
backends=(kmod)
bench=

while [ $# -gt 0 ]; do
	case $1 in
	-k|--kver) kver=$2; shift 2 ;;
	-w|--workdir) workdir=$2; shift 2 ;;
	-t|--timeout) timeout_s=$2; shift 2 ;;
	-T|--test) tests+=("$2"); shift 2 ;;
	-x|--extra) extras+=("$(realpath "$2")"); shift 2 ;;
	--bench) bench=$(realpath "$2"); shift 2 ;;
	-b|--backend) backends+=("$2"); shift 2 ;;
	-h|--help) sed -n '3,35p' "$0"; exit 0 ;;
	-*) echo "run-vm-tests: unknown option $1" >&2; exit 2 ;;
	*) conformance=$1; shift ;;
	esac
done

die() { echo "run-vm-tests: $*" >&2; echo "vm: 0 passed, 1 failed"; exit 1; }

if [ -z "$kver" ]; then
	kver=$(ls -d /usr/src/linux-headers-*-amd64 2>/dev/null | sort -V |
	       tail -n1 | sed 's,.*/linux-headers-,,')
fi
[ -n "$kver" ] || die "no /usr/src/linux-headers-*-amd64: apt-get install linux-headers-amd64"
kdir=/usr/src/linux-headers-$kver
[ -d "$kdir" ] || die "$kdir missing"
for tool in qemu-system-x86_64 cpio gzip make cc; do
	command -v $tool >/dev/null || die "$tool not found"
done
busybox=$(command -v busybox || true)
[ -n "$busybox" ] && ! ldd "$busybox" >/dev/null 2>&1 ||
	die "need a static busybox: apt-get install busybox-static"

if [ -z "$conformance" ] && [ -x "$root/build/tests/conformance/kevent-conformance" ]; then
	conformance=$root/build/tests/conformance/kevent-conformance
elif [ -n "$conformance" ] && [ -d "$conformance" ]; then
	# a build directory: its C++ and threaded stress tests run too
	for x in tests/cpp/test-kevent-cpp-cpp17 tests/cpp/test-kevent-cpp-cpp20 \
		 tests/stress/stress-threads; do
		[ -x "$conformance/$x" ] && extras+=("$(realpath "$conformance/$x")")
	done
	conformance=$conformance/tests/conformance/kevent-conformance
fi
[ -z "$conformance" ] || conformance=$(realpath "$conformance")

[ -n "$workdir" ] || workdir=$cache/work
mkdir -p "$workdir" "$cache"
start=$(date +%s)

# ---- the module, built out of tree in a copy (the source tree stays clean)
echo "run-vm-tests: building kevent.ko for $kver"
rm -rf "$workdir/kmod"
mkdir -p "$workdir/kmod/include/kevent"
cp "$root"/kmod/Kbuild "$root"/kmod/Makefile "$root"/kmod/*.c "$workdir/kmod/"
cp "$root/include/kevent/abi.h" "$workdir/kmod/include/kevent/"
make -s -C "$kdir" M="$workdir/kmod" modules >"$workdir/kmod.log" 2>&1 ||
	{ cat "$workdir/kmod.log" >&2; die "module build failed"; }
grep -E 'warning|error' "$workdir/kmod.log" >&2 || true

# ---- the kernel image, cached
image=$cache/linux-image-$kver
if [ ! -f "$image/boot/vmlinuz-$kver" ]; then
	echo "run-vm-tests: fetching linux-image-$kver"
	deb=$(ls "$cache"/linux-image-"$kver"_*.deb 2>/dev/null | head -n1 || true)
	if [ -z "$deb" ]; then
		(cd "$cache" && apt-get download "linux-image-$kver") ||
			die "apt-get download linux-image-$kver failed"
		deb=$(ls "$cache"/linux-image-"$kver"_*.deb | head -n1)
	fi
	rm -rf "$image"
	dpkg -x "$deb" "$image"
fi
vmlinuz=$image/boot/vmlinuz-$kver
[ -r "$vmlinuz" ] || die "$vmlinuz missing"

# ---- test programs
cc -std=gnu11 -D_GNU_SOURCE -O2 -g -Wall -Wextra -I"$root/include" -pthread \
	"$here/kmod-tests.c" -o "$workdir/kmod-tests" || die "kmod-tests build failed"

# ---- initramfs: busybox, the module, the tests and their libraries
rd=$workdir/initramfs
rm -rf "$rd"
mkdir -p "$rd"/{bin,dev,proc,sys,tmp,t,etc}
cp "$busybox" "$rd/bin/busybox"
cp "$workdir/kmod/kevent.ko" "$workdir/kmod-tests" "$rd/t/"

copy_with_libs() {	# copy a binary to the same path in the initramfs, with its libraries
	local bin=$1 lib
	mkdir -p "$rd$(dirname "$bin")"
	cp -L "$bin" "$rd$bin"
	for lib in $(ldd "$bin" 2>/dev/null | grep -oE '/[^ ]+' || true); do
		[ -e "$rd$lib" ] && continue
		mkdir -p "$rd$(dirname "$lib")"
		cp -L "$lib" "$rd$lib"
	done
}
copy_with_libs "$workdir/kmod-tests"
if [ -n "$conformance" ]; then
	if [ -x "$conformance" ]; then
		copy_with_libs "$conformance"
	else
		echo "run-vm-tests: $conformance not found: conformance suite skipped" >&2
		conformance=
	fi
fi
for x in "${extras[@]}"; do	# same path: \$ORIGIN rpaths keep working
	copy_with_libs "$x"
done
[ -z "$bench" ] || copy_with_libs "$bench"

cat >"$rd/init" <<EOF
#!/bin/busybox sh
/bin/busybox --install -s /bin
export PATH=/bin
# tests may widen timing margins: TCG vCPUs stall when the host is busy
export KEVENT_TEST_SLOW=1
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
mkdir -p /dev/shm /dev/pts
# /tmp stays in the initramfs (already a tmpfs): binaries may live there
mount -t tmpfs shm /dev/shm
res() { echo "VMRESULT \$*"; }
run() {	# name, command...: exit status 0 = pass
	n=\$1; shift
	if timeout -s KILL 600 "\$@"; then res PASS "\$n"; else res FAIL "\$n (status \$?)"; fi
}
echo "VMBEGIN \$(uname -r) cpus=\$(grep -c ^processor /proc/cpuinfo)"
if insmod /t/kevent.ko && [ -c /dev/kevent ]; then
	res PASS insmod
	# rmmod must be refused while a queue is open
	exec 9<>/dev/kevent
	if rmmod kevent 2>/dev/null; then res FAIL rmmod_busy; else res PASS rmmod_busy; fi
	exec 9>&-
	timeout -s KILL 900 /t/kmod-tests ${tests[*]} 2>&1 | while read -r line; do
		case "\$line" in
		PASS*|FAIL*) res "\$line" ;;
		*) echo "\$line" ;;
		esac
	done
	for b in ${conformance:+${backends[*]}}; do
		rm -f /tmp/tap
		KEVENT_BACKEND=\$b timeout -s KILL 900 $conformance --tap=/tmp/tap --jobs=2 > /tmp/conf.out 2>&1
		st=\$?
		grep -v '^\[----\] *\$' /tmp/conf.out | sed "s/^/conformance[\$b]: /" | tail -n 80
		if [ -s /tmp/tap ]; then
			grep -E '^(not )?ok ' /tmp/tap | while read -r line; do
				case "\$line" in
				"not ok"*) res "FAIL conformance[\$b] \${line#not ok }" ;;
				ok*) res "PASS conformance[\$b] \${line#ok }" ;;
				esac
			done
		fi
		[ \$st = 0 ] && res PASS "conformance[\$b]_exit" || res "FAIL conformance[\$b]_exit (status \$st)"
	done
	export KEVENT_BACKEND=kmod
	for x in ${extras[*]}; do
		run "\$(basename \$x)" \$x
	done
	unset KEVENT_BACKEND
	if [ -n "$bench" ]; then
		for round in 1 2 3; do
			for cmd in "chain kev backend=kmod n=1000 events=20000" \
				   "chain kev backend=epoll n=1000 events=20000" \
				   "chain epoll-lt n=1000 events=20000" \
				   "chain oracle n=1000 events=20000" \
				   "burst kev backend=kmod n=1000 rounds=3 mode=lt" \
				   "burst kev backend=epoll n=1000 rounds=3 mode=lt" \
				   "burst epoll n=1000 rounds=3 mode=lt" \
				   "wakeup kev backend=kmod iters=2000 pinned=1" \
				   "wakeup kev backend=epoll iters=2000 pinned=1" \
				   "wakeup eventfd iters=2000 pinned=1" \
				   "wakeup futex iters=2000 pinned=1" \
				   "reg kev backend=kmod n=2000" \
				   "reg kev backend=epoll n=2000" \
				   "reg epoll n=2000"; do
				timeout -s KILL 120 $bench \$cmd 2>&1 | grep '^RESULT' | sed "s/^RESULT/VMBENCH round=\$round/"
			done
		done
	fi
	sleep 1
	r=\$(cat /sys/module/kevent/parameters/registrations)
	n=\$(cat /sys/module/kevent/parameters/queues)
	if [ "\$r" = 0 ] && [ "\$n" = 0 ]; then res PASS no_leaks
	else res "FAIL no_leaks (registrations \$r, queues \$n)"; fi
	if rmmod kevent; then
		res PASS rmmod
	else
		res FAIL rmmod
		echo "refcnt: \$(cat /sys/module/kevent/refcnt)"
		for p in /proc/[0-9]*; do
			ls -l \$p/fd 2>/dev/null | grep -q kevent && echo "holder: \$p \$(cat \$p/cmdline | tr '\\0' ' ')"
		done
	fi
else
	res FAIL insmod
fi
dmesg > /tmp/dmesg
if grep -E 'BUG|WARNING|Oops|corruption|general protection|Call Trace|RIP:|refcount_t|UBSAN|KASAN|kfence|hung_task|soft lockup|rcu.*stall' /tmp/dmesg; then
	res FAIL dmesg
else
	res PASS dmesg
fi
grep -i kevent /tmp/dmesg | sed 's/^/dmesg: /'
echo VMEND
sync
echo o > /proc/sysrq-trigger
reboot -f
EOF
chmod +x "$rd/init"
(cd "$rd" && find . | cpio -o -H newc --quiet | gzip -1) >"$workdir/initramfs.gz"

# ---- boot
echo "run-vm-tests: booting $kver under qemu (tcg, 2 vCPUs, timeout ${timeout_s}s)"
log=$workdir/serial.log
set +e
timeout -s KILL "$timeout_s" qemu-system-x86_64 -accel tcg -smp 2 -m 1G \
	-nographic -monitor none -serial stdio -no-reboot -nic none \
	-kernel "$vmlinuz" -initrd "$workdir/initramfs.gz" \
	-append "console=ttyS0 loglevel=4 panic=-1 oops=panic panic_on_warn=1 softlockup_panic=1 rdinit=/init nokaslr" \
	</dev/null 2>&1 | tr -d '\r' | tee "$log" | grep -E --line-buffered '^(VM[A-Z]|conformance.*Synthesis|# |refcnt|holder)'
qemu_status=${PIPESTATUS[0]}
set -e

# ---- results
sed -n 's/^VMBENCH /vmbench: /p' "$log"
pass=0
fail=0
while read -r verdict name; do
	echo "vm: $verdict $name"
	if [ "$verdict" = PASS ]; then pass=$((pass + 1)); else fail=$((fail + 1)); fi
done < <(sed -n 's/^VMRESULT \(PASS\|FAIL\) /\1 /p' "$log")
if ! grep -q '^VMEND' "$log"; then
	echo "vm: FAIL vm_finished (qemu status $qemu_status: timeout or crash; log $log)"
	fail=$((fail + 1))
	tail -n 40 "$log" >&2
fi
if grep -E '(Kernel panic|BUG:|kernel BUG|WARNING:|Oops|general protection fault|list_(add|del) corruption)' "$log" >&2; then
	echo "vm: FAIL console"
	fail=$((fail + 1))
fi
[ -n "$conformance" ] || echo "vm: note: conformance suite not run (no binary)"
echo "run-vm-tests: $(( $(date +%s) - start ))s"
echo "vm: $pass passed, $fail failed"
[ "$fail" -eq 0 ] && [ "$pass" -gt 0 ]
