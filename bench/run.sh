#!/bin/sh
# bench/run.sh [--quick] [run.py options]: configure and build build-bench
# (release, -Dbench=enabled, library + benchmarks only), run every benchmark
# interleaved, and write bench/results/results.md and chain-burst.png.
#
# Needs (Debian 12): meson ninja-build pkg-config gcc liburing-dev libev-dev
# libevent-dev libuv1-dev strace valgrind python3 python3-matplotlib.
# A missing peer library only skips its configurations.
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
build=build-bench

# 10000 socketpairs need 20000+ descriptors: raise the limit when allowed
# (the programs also shrink N to fit, and say so).
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

mkdir -p "$top/bench/results"
opts="-Dbench=enabled -Dbuildtype=release -Dtests=disabled -Dman=disabled
      -Dexamples=disabled -Dcpp=enabled -Dpython=disabled"
if [ -f "$build/build.ninja" ]; then
	# shellcheck disable=SC2086
	meson configure "$build" $opts >/dev/null
else
	# shellcheck disable=SC2086
	meson setup "$build" $opts >"$top/bench/results/.setup.log" 2>&1 ||
		{ cat "$top/bench/results/.setup.log"; exit 1; }
fi
# Build only libkev and the benchmarks (not other parts of the tree).
targets=$(ninja -C "$build" -t targets all 2>/dev/null |
	sed -n 's|^\(bench/bench-[a-z]*\): .*|\1|p' | sort -u)
# shellcheck disable=SC2086
ninja -C "$build" $targets bench/bench-cpp-consume >/dev/null ||
	ninja -C "$build" $targets bench/bench-cpp-consume
echo "run.sh: built $build; running benchmarks"
/usr/bin/python3 "$top/bench/run.py" --build-dir "$top/$build" "$@"

# The C++ range over the ring against the C inline functions (one process,
# the three ways interleaved round by round).
echo "run.sh: C++ consume path against the C inline functions"
table=$("$build/bench/bench-cpp-consume" 300)
echo "$table"
{
	echo
	echo "## 6. C++: consuming the ring through kevent::queue::events()"
	echo
	echo "N = 4096 user events fill the ring (epoll backend); each round"
	echo "consumes all of them one way; the three ways alternate round by"
	echo "round in one process, 300 rounds each (bench/cpp-consume.cpp)."
	echo "The C++ range is the consume path of <kevent.hpp>: it must cost no"
	echo "more than the C inline functions it wraps."
	echo
	echo "$table"
} >>"$top/bench/results/results.md"

# Python: kevent.KeventSelector against selectors.EpollSelector
# (bench/selector.py), on a release build of the binding (build-bench-py).
echo "run.sh: Python selector against EpollSelector"
pybuild="build-bench-py"
pyopts="-Dbuildtype=release -Dpython=enabled -Dtests=disabled -Dman=disabled
        -Dexamples=disabled -Dbench=disabled"
if [ -f "$pybuild/build.ninja" ]; then
	# shellcheck disable=SC2086
	meson configure "$pybuild" $pyopts >/dev/null
else
	# shellcheck disable=SC2086
	meson setup "$pybuild" $pyopts >"$top/bench/results/.setup-py.log" 2>&1 ||
		{ cat "$top/bench/results/.setup-py.log"; exit 1; }
fi
ninja -C "$pybuild" >/dev/null || ninja -C "$pybuild"
pyquick=
for arg in "$@"; do
	[ "$arg" = --quick ] && pyquick=--quick
done
PYTHONPATH="$top/$pybuild/bindings/python" /usr/bin/python3 \
	"$top/bench/selector.py" $pyquick \
	--markdown "$top/bench/results/selector.md" \
	--json "$top/bench/results/selector.json"
{
	echo
	echo "## 7. Python: see selector.md"
	echo
	sed '1,2d' "$top/bench/results/selector.md"
} >>"$top/bench/results/results.md"
