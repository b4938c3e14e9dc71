#!/bin/sh
# SPDX-License-Identifier: MIT
# header-check.sh CXX STD SRCDIR: compile tests/cpp/header_check.cpp (which
# includes kevent.hpp first and instantiates all of it, the coroutines too
# in C++20) with CXX -std=STD and the strict warning set, at -O0 and -O2,
# and once more without exceptions (-fno-exceptions: the std::error_code
# forms are what such code uses).  Exit 77 (skip) if CXX is not installed.
set -eu
cxx=$1
std=$2
src=$3

if ! command -v "$cxx" >/dev/null 2>&1; then
	echo "SKIP: $cxx not installed"
	exit 77
fi
echo "$cxx $("$cxx" --version | head -n 1)"
for opt in -O0 -O2 "-O2 -fno-exceptions"; do
	set -x
	# shellcheck disable=SC2086
	"$cxx" -std="$std" $opt -Wall -Wextra -Werror -pedantic -Wconversion -Wshadow \
		-I"$src/include" -I"$src/bindings/cpp" \
		-c "$src/tests/cpp/header_check.cpp" -o /dev/null
	{ set +x; } 2>/dev/null
done
echo "OK: kevent.hpp builds cleanly with $cxx -std=$std (with and without exceptions)"
