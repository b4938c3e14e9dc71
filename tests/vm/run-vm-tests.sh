#!/bin/bash
# SPDX-License-Identifier: MIT
#
# run-vm-tests.sh - build kevent.ko (a test build, KEVENT_TESTING=y) for a
# guest kernel, boot that kernel in qemu (TCG, 2 vCPUs) with a busybox
# initramfs, load the module and run, each test as its own process:
#   kmod-tests    the module's tests through its raw ioctls
#   kmod-hostile  what a hostile local user does (tests/vm/kmod-hostile.c)
#   kmod-fuzz     a bounded-time fuzzer of every entry point
#   conformance   the libkev conformance suite with KEVENT_BACKEND=kmod
#   extras        more test programs (C++, threaded stress, fault
#                 injection), kmod backend
# then checks that nothing leaked, that lockdep is still on (debug kernel)
# and that rmmod works.
#
# Usage: tests/vm/run-vm-tests.sh [options] [CONFORMANCE_BINARY | BUILD_DIR]
#   CONFORMANCE_BINARY  default: build/tests/conformance/kevent-conformance;
#                       a meson build directory means its
#                       tests/conformance/kevent-conformance, and its C++
#                       and stress test programs are run too (as --extra).
#                       A missing binary is a failure (see --no-conformance)
#   --kernel stock|debug  stock: Debian's linux-image (default); debug: the
#                       KASAN+lockdep kernel of tools/vm-debug-kernel, built
#                       once and cached (about 9 minutes cold)
#   -k, --kver VER      stock kernel version (default: newest
#                       /usr/src/linux-headers-*-amd64)
#   -w, --workdir DIR   scratch directory, keeps serial.log (default:
#                       ${XDG_CACHE_HOME:-$HOME/.cache}/libkev-vm/work-*,
#                       one per source tree and kernel)
#   -t, --timeout SECS  whole VM run (default: 900 stock, 1500 debug; a
#                       run takes about 3 and 10 minutes)
#   -T, --test NAME     run only this kmod-tests or kmod-hostile test
#                       (repeatable; other suites then run only if named
#                       with -S)
#   -S, --suite NAME    run only these suites (repeatable): kmod-tests,
#                       kmod-hostile, kmod-fuzz, conformance, extras
#   --fuzz-seconds N    how long the fuzzer runs (default 45 stock, 60 debug)
#   --module-source DIR build the module from DIR (default: kmod/ of this
#                       tree), e.g. an older kevent.c to show a test fails
#   --no-conformance    do not require the conformance suite
#   -b, --backend NAME  also run the conformance suite with KEVENT_BACKEND=NAME
#                       (repeatable; kmod always runs first)
#   -x, --extra BIN     another test program to run in the guest with
#                       KEVENT_BACKEND=kmod (repeatable; exit status 0 = pass)
#   --bench BIN         also run bench-native (bench/) in the guest: chain,
#                       burst, wakeup and registration on the kmod and epoll
#                       backends and raw epoll, 3 rounds interleaved; the
#                       RESULT lines are printed as "vmbench: ..." (numbers
#                       from TCG emulation: compare within the run only)
#   --scale BIN         also run bench-scale (bench/scale.c) in the guest on
#                       POLL registrations, on kmod, epoll and uring, up to
#                       100k (the guest's root may raise RLIMIT_NOFILE, which
#                       the host's may not); its lines are printed as
#                       "vmscale: BACKEND: ..." (TCG: compare within a run)
#
# Needs: linux-headers-amd64 qemu-system-x86 busybox-static cpio kmod gcc
# make (and apt-get download access for linux-image-<ver>-amd64 on the
# first run); for --kernel debug also what tools/vm-debug-kernel needs.
# KVM is never used (it hangs on these hosts): always -accel tcg.
#
# Output: "vm: PASS|FAIL|SKIP suite[backend] name" per test, then one line
# per suite that ran:
#   suite-result: suite=S backend=B kernel=K registered=N ran=N passed=N
#                 failed=N skipped=N                       (one line)
# Exits non-zero if any test failed, a suite ran fewer tests than it
# registers, or any test was skipped.

set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
cache=${XDG_CACHE_HOME:-$HOME/.cache}/libkev-vm
kernel=stock
kver=
workdir=
timeout_s=${KEVENT_VM_TIMEOUT:-}
conformance=
need_conformance=1
tests=()
suites=()
extras=()
backends=(kmod)
bench=
scale=
fuzz_seconds=
modsrc=$root/kmod

while [ $# -gt 0 ]; do
	case $1 in
	--kernel) kernel=$2; shift 2 ;;
	-k|--kver) kver=$2; shift 2 ;;
	-w|--workdir) workdir=$2; shift 2 ;;
	-t|--timeout) timeout_s=$2; shift 2 ;;
	-T|--test) tests+=("$2"); shift 2 ;;
	-S|--suite) suites+=("$2"); shift 2 ;;
	--fuzz-seconds) fuzz_seconds=$2; shift 2 ;;
	--module-source) modsrc=$(realpath "$2"); shift 2 ;;
	--no-conformance) need_conformance=; shift ;;
	-x|--extra) extras+=("$(realpath "$2")"); shift 2 ;;
	--bench) bench=$(realpath "$2"); shift 2 ;;
	--scale) scale=$(realpath "$2"); shift 2 ;;
	-b|--backend) backends+=("$2"); shift 2 ;;
	-h|--help) sed -n '3,60p' "$0"; exit 0 ;;
	-*) echo "run-vm-tests: unknown option $1" >&2; exit 2 ;;
	*) conformance=$1; shift ;;
	esac
done

die() {
	echo "run-vm-tests: $*" >&2
	echo "suite-result: suite=vm-guest backend=kmod kernel=$kernel registered=1 ran=0 passed=0 failed=0 skipped=0"
	exit 1
}
case $kernel in
stock|debug) ;;
*) echo "run-vm-tests: --kernel stock|debug" >&2; exit 2 ;;
esac
[ -n "$fuzz_seconds" ] || { [ $kernel = debug ] && fuzz_seconds=60 || fuzz_seconds=45; }
[ -n "$timeout_s" ] || { [ $kernel = debug ] && timeout_s=1500 || timeout_s=900; }
want() {	# is suite $1 selected?
	local s
	if [ ${#suites[@]} -eq 0 ]; then
		[ ${#tests[@]} -eq 0 ] || [ "$1" = kmod-tests ] || [ "$1" = kmod-hostile ]
		return
	fi
	for s in "${suites[@]}"; do [ "$s" = "$1" ] && return 0; done
	return 1
}

for tool in qemu-system-x86_64 cpio gzip make cc; do
	command -v $tool >/dev/null || die "$tool not found"
done
busybox=$(command -v busybox || true)
[ -n "$busybox" ] && ! ldd "$busybox" >/dev/null 2>&1 ||
	die "need a static busybox: apt-get install busybox-static"

# ---- the conformance suite and the extra programs
if want conformance || want extras; then
	if [ -z "$conformance" ] && [ -d "$root/build" ]; then
		conformance=$root/build
	fi
	if [ -n "$conformance" ] && [ -d "$conformance" ]; then
		# a build directory: its C++ and threaded stress tests run too
		if want extras; then
			for x in tests/cpp/test-kevent-cpp-cpp17 \
				 tests/cpp/test-kevent-cpp-cpp20 \
				 tests/stress/stress-threads \
				 tests/fault/kevent-fault; do
				[ -x "$conformance/$x" ] &&
					extras+=("$(realpath "$conformance/$x")")
			done
		fi
		conformance=$conformance/tests/conformance/kevent-conformance
	fi
fi
if want conformance; then
	if [ -n "$conformance" ] && [ -x "$conformance" ]; then
		conformance=$(realpath "$conformance")
	elif [ -n "$need_conformance" ]; then
		die "no conformance binary (${conformance:-none given}): build it with meson, or pass --no-conformance"
	else
		conformance=
	fi
else
	conformance=
fi
want extras || extras=()

# ---- the guest kernel and the tree the module is built against
if [ $kernel = stock ]; then
	if [ -z "$kver" ]; then
		kver=$(ls -d /usr/src/linux-headers-*-amd64 2>/dev/null | sort -V |
		       tail -n1 | sed 's,.*/linux-headers-,,')
	fi
	[ -n "$kver" ] || die "no /usr/src/linux-headers-*-amd64: apt-get install linux-headers-amd64"
	kdir=/usr/src/linux-headers-$kver
	[ -d "$kdir" ] || die "$kdir missing"
	image=$cache/linux-image-$kver
	mkdir -p "$cache"
	if [ ! -f "$image/boot/vmlinuz-$kver" ]; then
		echo "run-vm-tests: fetching linux-image-$kver"
		deb=$(ls "$cache"/linux-image-"$kver"_*.deb 2>/dev/null | head -n1 || true)
		if [ -z "$deb" ]; then
			(cd "$cache" && apt-get download "linux-image-$kver") ||
				die "apt-get download linux-image-$kver failed"
			deb=$(ls "$cache"/linux-image-"$kver"_*.deb | head -n1)
		fi
		rm -rf "$image.tmp"
		dpkg -x "$deb" "$image.tmp"
		rm -rf "$image"
		mv "$image.tmp" "$image"
	fi
	vmlinuz=$image/boot/vmlinuz-$kver
	mem=1G
	# freed memory is zeroed: a use after free of the module's objects
	# then faults on the stock kernel too, not only under KASAN
	cmdline_extra="init_on_free=1"
else
	kbuild=$("$root/tools/vm-debug-kernel" | tail -n1) ||
		die "the debug kernel could not be built"
	kver=$(cat "$kbuild/release")
	kdir=$kbuild/build
	vmlinuz=$kbuild/bzImage
	mem=2G
	cmdline_extra="kasan_multi_shot"
fi
[ -r "$vmlinuz" ] || die "$vmlinuz missing"

[ -n "$workdir" ] ||
	workdir=$cache/work-$(echo "$root" | sha1sum | cut -c1-8)-$kernel
mkdir -p "$workdir"
workdir=$(cd "$workdir" && pwd)
start=$(date +%s)

# ---- the module, built out of tree in a copy (the source tree stays clean)
echo "run-vm-tests: building kevent.ko (KEVENT_TESTING=y) from $modsrc for $kver"
rm -rf "$workdir/kmod"
mkdir -p "$workdir/kmod/include/kevent"
cp "$modsrc"/Kbuild "$modsrc"/Makefile "$modsrc"/*.c "$workdir/kmod/"
cp "$root/include/kevent/abi.h" "$workdir/kmod/include/kevent/"
make -s -C "$kdir" M="$workdir/kmod" KEVENT_TESTING=y modules \
	>"$workdir/kmod.log" 2>&1 ||
	{ cat "$workdir/kmod.log" >&2; die "module build failed"; }
if grep -E 'warning|error' "$workdir/kmod.log" | grep -v 'Skipping BTF' >&2; then
	die "the module build has warnings"
fi

# ---- test programs
progs="kmod-tests kmod-hostile kmod-fuzz"
for p in $progs; do
	# ring-stats.c: the one libkev function <kevent.h> calls
	cc -std=gnu11 -D_GNU_SOURCE -O2 -g -Wall -Wextra -Werror \
		-I"$root/include" -pthread "$here/$p.c" \
		"$root/libkev/ring-stats.c" -o "$workdir/$p" ||
		die "$p build failed"
done

# what each suite registers (tests named with -T narrow it)
select_tests() {	# program: its tests that were asked for
	local all t n
	all=$("$workdir/$1" --list)
	if [ ${#tests[@]} -eq 0 ]; then
		echo $all
		return
	fi
	for t in $all; do
		for n in "${tests[@]}"; do
			if [ "$n" = "$t" ] || [ "$n" = "$1/$t" ]; then
				printf '%s ' "$t"
			fi
		done
	done
}
kmod_tests= kmod_hostile=
want kmod-tests && kmod_tests=$(select_tests kmod-tests)
want kmod-hostile && kmod_hostile=$(select_tests kmod-hostile)
want kmod-fuzz || fuzz_seconds=
conformance_registered=0
if [ -n "$conformance" ]; then
	conformance_registered=$("$conformance" --list 2>/dev/null |
		sed -n 's/^.*: \([0-9][0-9]*\) tests\{0,1\}$/\1/p' |
		awk '{ n += $1 } END { print n + 0 }')
	[ "$conformance_registered" -gt 0 ] ||
		die "$conformance --list shows no test"
fi

# ---- initramfs: busybox, the module, the tests and their libraries
rd=$workdir/initramfs
rm -rf "$rd"
mkdir -p "$rd"/{bin,dev,proc,sys,tmp,t,etc}
cp "$busybox" "$rd/bin/busybox"
cp "$workdir/kmod/kevent.ko" "$rd/t/"
cp "$here/guest-init.sh" "$rd/init"
chmod +x "$rd/init"
printf 'root:x:0:0:root:/:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n' >"$rd/etc/passwd"
printf 'root:x:0:\nnogroup:x:65534:\n' >"$rd/etc/group"

copy_with_libs() {	# a binary to the same path in the initramfs, with its libraries
	local bin=$1 lib
	mkdir -p "$rd$(dirname "$bin")"
	cp -L "$bin" "$rd$bin"
	for lib in $(ldd "$bin" 2>/dev/null | grep -oE '/[^ ]+' || true); do
		[ -e "$rd$lib" ] && continue
		mkdir -p "$rd$(dirname "$lib")"
		cp -L "$lib" "$rd$lib"
	done
}
for p in $progs; do
	cp "$workdir/$p" "$rd/t/"
	copy_with_libs "$workdir/$p"
done
[ -z "$conformance" ] || copy_with_libs "$conformance"
for x in "${extras[@]}"; do	# same path: \$ORIGIN rpaths keep working
	copy_with_libs "$x"
done
[ -z "$bench" ] || copy_with_libs "$bench"
[ -z "$scale" ] || copy_with_libs "$scale"

per_test=300
[ $kernel = debug ] && per_test=600
{
	echo "VM_KERNEL=$kernel"
	echo "VM_TEST_TIMEOUT=$per_test"
	echo "VM_SUITE_TIMEOUT=$((per_test * 3))"
	echo "KMOD_TESTS='$kmod_tests'"
	echo "KMOD_HOSTILE='$kmod_hostile'"
	echo "FUZZ_SECONDS='$fuzz_seconds'"
	echo "CONFORMANCE='$conformance'"
	echo "BACKENDS='${backends[*]}'"
	echo "EXTRAS='${extras[*]}'"
	echo "BENCH='$bench'"
	echo "SCALE='$scale'"
} >"$rd/t/plan"
(cd "$rd" && find . | cpio -o -H newc --quiet | gzip -1) >"$workdir/initramfs.gz"

# ---- boot
echo "run-vm-tests: booting $kver ($kernel) under qemu (tcg, 2 vCPUs, timeout ${timeout_s}s)"
log=$workdir/serial.log
set +e
# --foreground: qemu stays in our process group, so killing the run
# kills it; stdbuf: the log is written as the guest runs
timeout --foreground -s KILL "$timeout_s" \
	qemu-system-x86_64 -accel tcg -smp 2 -m $mem \
	-nographic -monitor none -serial stdio -no-reboot -nic none \
	-kernel "$vmlinuz" -initrd "$workdir/initramfs.gz" \
	-append "console=ttyS0 loglevel=4 log_buf_len=8M panic=-1 oops=panic softlockup_panic=1 rdinit=/init nokaslr $cmdline_extra" \
	</dev/null 2>&1 | stdbuf -oL tr -d '\r' | tee "$log" |
	grep -E --line-buffered '^(VM[A-Z]|conformance.*Synthesis|refcnt|leak:)'
qemu_status=${PIPESTATUS[0]}
set -e
elapsed=$(( $(date +%s) - start ))

# ---- results
sed -n 's/^VMBENCH /vmbench: /p' "$log"
sed -n 's/^VMSCALE /vmscale: /p' "$log"
# the slowest things the guest ran, for the time budget
awk '$1 == "VMTIME" && $5 >= 10 { printf "vm: %4ds %s[%s] %s\n", $5, $2, $3, $4 }' "$log" |
	sort -rn -k2 | head -n 8
died=
grep -q '^VMEND' "$log" || died=1
if [ -n "$died" ]; then
	echo "run-vm-tests: the guest did not finish (qemu status $qemu_status: panic, lock-up or timeout); its last lines:" >&2
	grep -vE '^(VMRESULT|VMSTART)' "$log" | tail -n 60 >&2
fi
if grep -E '(Kernel panic|BUG:|kernel BUG|WARNING:|Oops|general protection fault|list_(add|del) corruption|KASAN|stack guard page)' "$log" |
		grep -v '^dmesg:' | head -n 20 >&2; then
	console_report=1
else
	console_report=
fi

# suite_result SUITE BACKEND REGISTERED: count the VMRESULT lines of a suite;
# a test that started and never reported failed with the guest
fail_total=0
summary=()
suite_result() {
	local s=$1 b=$2 reg=$3 ran passed failed skipped hung
	ran=$(awk -v s="$s" -v b="$b" '$1 == "VMRESULT" && $3 == s && $4 == b' "$log" | wc -l)
	passed=$(awk -v s="$s" -v b="$b" '$1 == "VMRESULT" && $2 == "PASS" && $3 == s && $4 == b' "$log" | wc -l)
	failed=$(awk -v s="$s" -v b="$b" '$1 == "VMRESULT" && $2 == "FAIL" && $3 == s && $4 == b' "$log" | wc -l)
	skipped=$(awk -v s="$s" -v b="$b" '$1 == "VMRESULT" && $2 == "SKIP" && $3 == s && $4 == b' "$log" | wc -l)
	# started, never finished: the test that took the guest down
	if [ "$s" = conformance ]; then
		hung=$(awk -v b="$b" '
			$1 == "VMSTART" && $2 == "conformance" && $3 == b { open = 1 }
			$1 == "VMEXIT" && $2 == "conformance" && $3 == b { open = 0 }
			END { if (open) print "-" }' "$log")
		st=$(awk -v b="$b" '$1 == "VMEXIT" && $2 == "conformance" && $3 == b { print $4 }' "$log")
		if [ -n "$st" ] && [ "$st" != 0 ] && [ "$failed" -eq 0 ]; then
			echo "vm: FAIL conformance[$b] (the suite exited with status $st)"
			failed=1
		fi
	else
		hung=$(awk -v s="$s" -v b="$b" '
			$1 == "VMSTART" && $2 == s && $3 == b { open[$4] = 1 }
			$1 == "VMRESULT" && $3 == s && $4 == b { delete open[$5] }
			END { for (t in open) print t }' "$log")
	fi
	for t in $hung; do
		echo "vm: FAIL $s[$b] $t (the guest died while it ran)"
		failed=$((failed + 1))
		ran=$((ran + 1))
	done
	summary+=("suite-result: suite=$s backend=$b kernel=$kernel registered=$reg ran=$ran passed=$passed failed=$failed skipped=$skipped")
	if [ "$failed" -gt 0 ] || [ "$ran" -lt "$reg" ] || [ "$skipped" -gt 0 ]; then
		fail_total=$((fail_total + 1))
	fi
}

awk '$1 == "VMRESULT" { v = $2; s = $3; b = $4; n = $5;
	$1 = $2 = $3 = $4 = $5 = ""; sub(/^ +/, "");
	printf "vm: %s %s[%s] %s%s\n", v, s, b, n, ($0 == "" ? "" : " (" $0 ")") }' "$log"

count() { echo $# ; }
[ -z "$kmod_tests" ] || suite_result kmod-tests kmod "$(count $kmod_tests)"
[ -z "$kmod_hostile" ] || suite_result kmod-hostile kmod "$(count $kmod_hostile)"
[ -z "$fuzz_seconds" ] || suite_result kmod-fuzz kmod 1
if [ -n "$conformance" ]; then
	for b in "${backends[@]}"; do
		suite_result conformance "$b" "$conformance_registered"
	done
fi
for x in "${extras[@]}"; do
	suite_result "$(basename "$x")" kmod 1
done
# the guest's own checks: insmod, smp, rmmod_busy, two per conformance
# backend, no_leaks, lockdep_still_on (debug), rmmod, dmesg
guest_checks=6
[ -z "$conformance" ] || guest_checks=$((guest_checks + 2 * ${#backends[@]}))
[ $kernel = stock ] || guest_checks=$((guest_checks + 1))
suite_result vm-guest kmod "$guest_checks"
if [ -n "$died" ] || [ -n "$console_report" ]; then
	echo "vm: FAIL vm-guest[kmod] console (${died:+the guest did not finish}${console_report:+ a kernel report on the console})"
	fail_total=$((fail_total + 1))
fi

echo "run-vm-tests: $kernel kernel $kver, ${elapsed}s"
printf '%s\n' "${summary[@]}"
[ "$fail_total" -eq 0 ]
