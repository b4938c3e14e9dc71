/* SPDX-License-Identifier: MIT */
/*
 * sources.h - KEVENT_SIGNAL (one signalfd), KEVENT_INODE (one inotify fd)
 * and KEVENT_PROC (a pidfd per process) for the user-space backends.  The
 * backend supplies two callbacks to put fds into its wait set; the sources
 * report firings to the core and know nothing of the backend.
 */
#ifndef KEV_SOURCES_H
#define KEV_SOURCES_H

#include <sys/types.h>

#include "core.h"

enum { KEV_SRC_SIGNAL, KEV_SRC_INODE };

typedef int (*kev_watch_source_fn)(void *ctx, int fd, unsigned int which);
typedef int (*kev_watch_reg_fn)(void *ctx, int fd, struct kev_reg *reg);

/*
 * An inode watch: its inotify wd (never 0), its registration, and the
 * identity of the watched inode, to tell whether the registration's fd
 * still names it.
 */
struct kev_inode_slot {
	int wd;
	struct kev_reg *reg;
	dev_t dev;
	ino_t ino;
};

struct kev_sources {
	void *ctx;
	kev_watch_source_fn watch_source;
	kev_watch_reg_fn watch_reg;
	int sigfd;			/* signalfd, or -1 */
	sigset_t sigset;		/* signals with a registration */
	struct kev_reg *sigregs[65];	/* by signal number */
	int inofd;			/* inotify fd, or -1 */
	/* inode watches by wd: open addressing, linear probing */
	struct kev_inode_slot *imap;
	uint32_t icap, inum;		/* icap a power of two, or 0 */
};

void kev_sources_init(struct kev_sources *src, void *ctx,
		      kev_watch_source_fn watch_source,
		      kev_watch_reg_fn watch_reg);
void kev_sources_destroy(struct kev_sources *src, struct kev_core *core,
			 bool in_child);
/* 0 or an errno */
int kev_sources_add(struct kev_sources *src, struct kev_core *core,
		    struct kev_reg *reg);
/* Check ev and apply it to reg; on failure reg is left as it was. */
int kev_sources_modify(struct kev_sources *src, struct kev_core *core,
		       struct kev_reg *reg, const struct ukevent *ev);
void kev_sources_release(struct kev_sources *src, struct kev_reg *reg);
/* The signalfd or inotify fd is readable. */
void kev_sources_dispatch(struct kev_sources *src, struct kev_core *core,
			  unsigned int which);
/* A registration's own fd (pidfd) is readable. */
void kev_sources_fire(struct kev_sources *src, struct kev_core *core,
		      struct kev_reg *reg);

#endif /* KEV_SOURCES_H */
