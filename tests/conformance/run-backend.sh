#!/bin/sh
# run-backend.sh PROBE BACKEND PROGRAM [ARGS...]: run the conformance suite
# on one backend.
#
# A backend may be skipped only when this kernel cannot carry it, as told by
# tools/kernel-backends, which asks the kernel without libkev (no
# /dev/kevent, no usable io_uring).  If the kernel has it and libkev still
# cannot create a queue on it, that is a failure, never a skip.
probe=$1
backend=$2
shift 2
top=$(cd "$(dirname "$0")/../.." && pwd)
if ! why=$("$probe" "$backend"); then
	if kwhy=$("$top/tools/kernel-backends" "$backend"); then
		echo "1..1"
		echo "not ok 1 - kevent_init on the $backend backend: $why (this kernel has the $backend backend)"
		exit 1
	fi
	case $backend in
	kmod) hint="; tests/vm runs this suite in a qemu guest with the module" ;;
	*) hint="" ;;
	esac
	echo "1..0 # SKIP $backend backend: the kernel cannot carry it ($kwhy)$hint"
	exit 0
fi
KEVENT_BACKEND=$backend
export KEVENT_BACKEND
exec "$@"
