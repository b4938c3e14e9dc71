#!/bin/sh
# check-needed.sh LIBRARY ALLOWED...: libkev's NEEDED entries (readelf -d)
# are among ALLOWED (sonames; a trailing * matches any suffix), and none
# names a C++ or GCC runtime: libkev is C++ inside but must cost its C,
# FFI and signal-handler users no libstdc++ (doc/decisions.md, "The
# implementation language").  Prints TAP.
lib=$1
shift
needed=$(readelf -d "$lib" | sed -n 's/.*(NEEDED).*\[\(.*\)\]$/\1/p')
echo "1..3"
if [ -n "$needed" ]; then
	echo "ok 1 - readelf -d lists NEEDED entries: $(echo $needed)"
else
	echo "not ok 1 - readelf -d $lib lists no NEEDED entry (not even libc)"
fi
runtime=$(echo "$needed" | grep -E '^(libstdc\+\+|libgcc_s|libc\+\+|libc\+\+abi|libsupc\+\+|libunwind)\.' )
if [ -z "$runtime" ]; then
	echo "ok 2 - no C++ or GCC runtime is NEEDED"
else
	echo "not ok 2 - C++ or GCC runtime NEEDED: $(echo $runtime)"
fi
bad=""
for n in $needed; do
	ok=0
	for a in "$@"; do
		# shellcheck disable=SC2254
		case $n in $a) ok=1 ;; esac
	done
	[ $ok -eq 1 ] || bad="$bad $n"
done
if [ -z "$bad" ]; then
	echo "ok 3 - every NEEDED entry is allowed ($*)"
else
	echo "not ok 3 - NEEDED entries not allowed:$bad (allowed: $*)"
fi
