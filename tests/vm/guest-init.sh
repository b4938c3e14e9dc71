#!/bin/busybox sh
# SPDX-License-Identifier: MIT
#
# guest-init.sh - /init of the test guest (tests/vm/run-vm-tests.sh puts it
# into the initramfs with /t/plan, which sets what to run).  Every test
# runs as its own process under a time limit; after each one the module
# must be idle (no queue, no registration left) and dmesg must hold no new
# kernel report.  Results go to the serial console:
#   VMSTART suite backend name
#   VMRESULT PASS|FAIL|SKIP suite backend name [why]
# A test that starts and never reports killed the guest (panic, lock-up).

/bin/busybox --install -s /bin
export PATH=/bin
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
mkdir -p /dev/shm /dev/pts
# /tmp stays in the initramfs (a tmpfs already): binaries may live there
mount -t tmpfs shm /dev/shm
chmod 1777 /tmp /dev/shm
. /t/plan
# the conformance suite opens more than 10000 descriptors at once
ulimit -n 65536
# and talks TCP over loopback (urgent data, shutdown)
ip link set lo up || ifconfig lo 127.0.0.1 up
# tests may widen timing margins: TCG vCPUs stall when the host is busy
export KEVENT_TEST_SLOW=1
# a task stuck in D state panics the guest (the host reports the test)
echo 60 >/proc/sys/kernel/hung_task_timeout_secs 2>/dev/null
echo 1 >/proc/sys/kernel/hung_task_panic 2>/dev/null
echo 1 >/proc/sys/kernel/panic_on_rcu_stall 2>/dev/null

params=/sys/module/kevent/parameters
report='BUG:|WARNING:|Oops|corruption|general protection|Call Trace|RIP:|refcount_t|UBSAN|KASAN|kfence|hung_task|blocked for more than|soft lockup|rcu.*stall|suspicious RCU|possible recursive locking|circular locking|inconsistent lock state|lock held when returning|bad unlock balance|Out of memory|oom-kill|stack guard|stack-protector|list_(add|del) corruption'

res() { echo "VMRESULT $*"; }
lines() { dmesg | wc -l; }
# new kernel reports since line $1 of dmesg, printed; status 0 if any
reports_since() {
	dmesg | tail -n +$(($1 + 1)) >/tmp/dmesg.new
	grep -qE "$report" /tmp/dmesg.new || return 1
	sed 's/^/dmesg: /' /tmp/dmesg.new | head -n 300
	return 0
}
# wait (10 s at most) until the module counts no queue and no registration
idle() {
	i=0
	while [ $i -lt 100 ]; do
		[ "$(cat $params/queues)" = 0 ] &&
			[ "$(cat $params/registrations)" = 0 ] && return 0
		sleep 0.1
		i=$((i + 1))
	done
	echo "leak: queues $(cat $params/queues) registrations $(cat $params/registrations)"
	return 1
}

# runone SUITE BACKEND NAME COMMAND...: one test process
runone() {
	s=$1 b=$2 n=$3
	shift 3
	echo "VMSTART $s $b $n"
	before=$(lines)
	t0=$(date +%s)
	timeout -s KILL "$VM_TEST_TIMEOUT" "$@" >/tmp/out 2>&1
	st=$?
	echo "VMTIME $s $b $n $(($(date +%s) - t0))"
	sed "s|^|$s/$n: |" /tmp/out | tail -n 200
	v=PASS why=
	case $st in
	0) ;;
	77) v=SKIP why=$(grep -m1 'SKIP' /tmp/out) ;;
	137) v=FAIL why="killed after ${VM_TEST_TIMEOUT}s (hung)" ;;
	*) v=FAIL why="exit status $st" ;;
	esac
	if ! idle; then v=FAIL why="$why; queues or registrations left"; fi
	if reports_since "$before"; then v=FAIL why="$why; kernel report"; fi
	res $v "$s" "$b" "$n" "$why"
}

echo "VMBEGIN $(uname -r) cpus=$(grep -c ^processor /proc/cpuinfo) kernel=$VM_KERNEL"
if ! insmod /t/kevent.ko || [ ! -c /dev/kevent ]; then
	res FAIL vm-guest kmod insmod
	dmesg | tail -n 40
	echo VMEND
	sync
	reboot -f
fi
res PASS vm-guest kmod insmod
# the race tests need two CPUs running at once
if [ "$(grep -c ^processor /proc/cpuinfo)" -ge 2 ]; then
	res PASS vm-guest kmod smp
else
	res FAIL vm-guest kmod smp "one CPU: the kernel found only one"
fi
# rmmod must be refused while a queue is open
exec 9<>/dev/kevent
if rmmod kevent 2>/dev/null; then res FAIL vm-guest kmod rmmod_busy; else res PASS vm-guest kmod rmmod_busy; fi
exec 9>&-

for name in $KMOD_TESTS; do
	runone kmod-tests kmod "$name" /t/kmod-tests "$name"
done
for name in $KMOD_HOSTILE; do
	runone kmod-hostile kmod "$name" /t/kmod-hostile "$name"
done
if [ -n "$FUZZ_SECONDS" ]; then
	runone kmod-fuzz kmod fuzz /t/kmod-fuzz --seconds "$FUZZ_SECONDS"
fi

for b in $BACKENDS; do
	[ -n "$CONFORMANCE" ] || break
	echo "VMSTART conformance $b -"
	before=$(lines)
	t0=$(date +%s)
	rm -f /tmp/tap
	KEVENT_BACKEND=$b timeout -s KILL "$VM_SUITE_TIMEOUT" "$CONFORMANCE" \
		--tap=/tmp/tap --jobs=2 >/tmp/conf.out 2>&1
	st=$?
	grep -v '^\[----\] *$' /tmp/conf.out | sed "s/^/conformance[$b]: /" | tail -n 80
	if [ -s /tmp/tap ]; then
		# "ok - suite::name  (0.01s)" or "... # SKIP why": one word names
		# the time of each test is in its line: kept in the log
		grep -E '^(not )?ok ' /tmp/tap | sed "s/^/conformance-tap[$b]: /"
		grep -E '^(not )?ok ' /tmp/tap | while read -r line; do
			t=$(echo "$line" | sed -E 's/^(not )?ok( [0-9]+)? - ([^ ]+).*/\3/')
			case "$line" in
			"not ok"*) res FAIL conformance "$b" "$t" ;;
			*"# SKIP"*|*"# skip"*) res SKIP conformance "$b" "$t" "${line#*# }" ;;
			*) res PASS conformance "$b" "$t" ;;
			esac
		done
	fi
	echo "VMEXIT conformance $b $st"
	echo "VMTIME conformance $b - $(($(date +%s) - t0))"
	if idle; then res PASS vm-guest kmod "idle_after_conformance[$b]"
	else res FAIL vm-guest kmod "idle_after_conformance[$b]"; fi
	if reports_since "$before"; then res FAIL vm-guest kmod "dmesg_during_conformance[$b]"
	else res PASS vm-guest kmod "dmesg_during_conformance[$b]"; fi
done

export KEVENT_BACKEND=kmod
for x in $EXTRAS; do
	runone "$(basename "$x")" kmod "$(basename "$x")" "$x"
done
unset KEVENT_BACKEND

if [ -n "$BENCH" ]; then
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
			# shellcheck disable=SC2086
			timeout -s KILL 120 $BENCH $cmd 2>&1 | grep '^RESULT' |
				sed "s/^RESULT/VMBENCH round=$round/"
		done
	done
fi

if [ -n "$SCALE" ]; then
	# POLL up to 100k registrations: root may raise the descriptor limit
	# here (uring holds a duplicate of each registered fd)
	ulimit -n 300000 2>/dev/null || ulimit -n 250000
	for b in kmod epoll uring; do
		KEVENT_BACKEND=$b timeout -s KILL 3000 "$SCALE" --types=poll \
			--sizes=1000,10000,100000 --check 2>&1 |
			sed "s/^/VMSCALE $b: /"
	done
fi

if idle; then res PASS vm-guest kmod no_leaks; else res FAIL vm-guest kmod no_leaks; fi
if [ "$VM_KERNEL" = debug ]; then
	# lockdep turns itself off after its first report: it must still be on
	if grep -qE 'debug_locks: +1$' /proc/lockdep_stats; then
		res PASS vm-guest kmod lockdep_still_on
	else
		res FAIL vm-guest kmod lockdep_still_on
		grep debug_locks /proc/lockdep_stats
	fi
fi
if rmmod kevent; then
	res PASS vm-guest kmod rmmod
else
	res FAIL vm-guest kmod rmmod
	echo "refcnt: $(cat /sys/module/kevent/refcnt)"
fi
if reports_since 0; then res FAIL vm-guest kmod dmesg; else res PASS vm-guest kmod dmesg; fi
grep -i kevent /tmp/dmesg.new | sed 's/^/dmesg: /' | tail -n 20
echo VMEND
sync
reboot -f
