// SPDX-License-Identifier: MIT
//
// inline.cpp - exported copies of the static inline ring functions of
// <kevent.h>, for FFI users that cannot compile a header.  The bodies are
// the header's own, so the two can never differ; <kevent.h> declares them
// extern "C", so they keep their C names.
#define KEVENT_EXPORT_INLINES 1
#include <kevent.h>
