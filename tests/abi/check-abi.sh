#!/bin/sh
# check-abi.sh BASELINE LIBRARY HEADERS: compare the built library with the
# committed ABI baseline.  Any change fails: abidiff's exit bit 4 (an ABI
# change, such as an added symbol) as well as bit 8 (an incompatible one).
# A deliberate change comes with a new version node in libkev.map and a new
# baseline in the same commit: tools/update-abi-baseline.
baseline=$1
lib=$2
headers=$3
if ! command -v abidiff >/dev/null 2>&1; then
	echo "1..0 # SKIP abidiff not installed (apt-get install abigail-tools)"
	exit 0
fi
echo "1..1"
report=$(abidiff --headers-dir2 "$headers" "$baseline" "$lib" 2>&1)
rc=$?
if [ "$rc" -eq 0 ]; then
	echo "ok 1 - libkev ABI matches tests/abi/libkev.abi"
	exit 0
fi
echo "not ok 1 - libkev ABI differs from tests/abi/libkev.abi (abidiff exit $rc)"
echo "$report" | sed 's/^/# /'
echo "# if the change is deliberate: add a version node, then tools/update-abi-baseline"
exit 1
