// SPDX-License-Identifier: MIT
/*
 * inline.c - exported copies of the static inline ring functions of
 * <kevent.h>, for FFI users that cannot compile a header.  The bodies are
 * the header's own, so the two can never differ.
 */
#define KEVENT_EXPORT_INLINES 1
#pragma GCC diagnostic ignored "-Wmissing-prototypes"
#include <kevent.h>
