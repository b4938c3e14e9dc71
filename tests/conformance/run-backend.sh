#!/bin/sh
# run-backend.sh PROBE BACKEND PROGRAM [ARGS...]: run the conformance suite
# on one backend, or say in TAP why that backend cannot run on this machine.
probe=$1
backend=$2
shift 2
if ! why=$("$probe" "$backend"); then
	case $backend in
	kmod) hint="/dev/kevent is absent; tests/vm runs this suite in a qemu guest with the module" ;;
	uring) hint="libkev was built without the io_uring backend or io_uring is unavailable" ;;
	*) hint="" ;;
	esac
	echo "1..0 # SKIP $backend backend unavailable ($why): $hint"
	exit 0
fi
KEVENT_BACKEND=$backend
export KEVENT_BACKEND
exec "$@"
