/* SPDX-License-Identifier: MIT */
/*
 * sources.h - the C facade of kev::Sources (sources.hpp), for ubackend.c
 * while it is C (doc/decisions.md, "The implementation language"): goes
 * when ubackend moves to C++.  KEVENT_SIGNAL (one signalfd), KEVENT_INODE
 * (one inotify fd) and KEVENT_PROC (a pidfd per process) for the
 * user-space backends.
 */
#ifndef KEV_SOURCES_H
#define KEV_SOURCES_H

#include "core.h"

#ifdef __cplusplus
extern "C" {
#endif

enum { KEV_SRC_SIGNAL, KEV_SRC_INODE };

/* Put a source's fd (which: KEV_SRC_*) or a registration's fd into the
 * backend's wait set: 0, or -1 with errno (the fd is still the caller's). */
typedef int (*kev_watch_source_fn)(void *ctx, int fd, unsigned int which);
typedef int (*kev_watch_reg_fn)(void *ctx, int fd, struct kev_reg *reg);

/*
 * A kev::Sources, in storage of the embedding C struct: no allocation and
 * no indirection.  sources.cpp checks that the object fits.
 */
#define KEV_SOURCES_SIZE 720
struct kev_sources {
	unsigned char opaque[KEV_SOURCES_SIZE];
} __attribute__((aligned(8)));

void kev_sources_init(struct kev_sources *src, void *ctx,
		      kev_watch_source_fn watch_source,
		      kev_watch_reg_fn watch_reg);
/* Also closes the pidfds of core's KEVENT_PROC registrations. */
void kev_sources_destroy(struct kev_sources *src, struct kev_core *core);
/* The signalfd or the inotify fd, or -1 while there is none. */
int kev_sources_signal_fd(const struct kev_sources *src);
int kev_sources_inode_fd(const struct kev_sources *src);
/* 0 or an errno */
int kev_sources_add(struct kev_sources *src, struct kev_reg *reg);
/* Check ev and apply it to reg; on failure reg is left as it was. */
int kev_sources_modify(struct kev_sources *src, struct kev_reg *reg,
		       const struct ukevent *ev);
void kev_sources_release(struct kev_sources *src, struct kev_reg *reg);
/* The signalfd or inotify fd is readable. */
void kev_sources_dispatch(struct kev_sources *src, struct kev_core *core,
			  unsigned int which);
/* A registration's own fd (pidfd) is readable. */
void kev_sources_fire(struct kev_core *core, struct kev_reg *reg);

#ifdef __cplusplus
}
#endif

#endif /* KEV_SOURCES_H */
