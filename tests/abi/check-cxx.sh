#!/bin/sh
# SPDX-License-Identifier: MIT
# check-cxx.sh CXX SRCDIR [-DNAME=1...]: compile every C++ source of libkev
# (libkev/*.cpp) with CXX as libkev/meson.build does (C++20, no exceptions,
# no RTTI, the warnings of doc/cxx-style.md as errors), at -O0 and -O2:
# the build uses one compiler, this holds the sources to the other as
# well.  Prints TAP; skips if CXX is not installed.
cxx=$1
src=$2
shift 2
if ! command -v "$cxx" >/dev/null 2>&1; then
	echo "1..0 # SKIP $cxx not installed"
	exit 0
fi
set -- "$@" -std=c++20 -fno-exceptions -fno-rtti -fno-threadsafe-statics \
	-fvisibility=hidden -D_GNU_SOURCE -Wall -Wextra -Werror -pedantic \
	-Wconversion -Wshadow -I"$src/include" -I"$src/libkev"
n=0
for f in "$src"/libkev/*.cpp; do
	n=$((n + 2))
done
echo "1..$n"
echo "# $("$cxx" --version | head -n 1)"
i=0
for f in "$src"/libkev/*.cpp; do
	for opt in -O0 -O2; do
		i=$((i + 1))
		if out=$("$cxx" "$@" $opt -c "$f" -o /dev/null 2>&1); then
			echo "ok $i - libkev/$(basename "$f") $opt"
		else
			echo "not ok $i - libkev/$(basename "$f") $opt"
			echo "$out" | sed 's/^/# /'
		fi
	done
done
