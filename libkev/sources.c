// SPDX-License-Identifier: MIT
/*
 * sources.c - signals, file changes and process exit for the user-space
 * backends.  See sources.h.  Every function runs under the core lock.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "sources.h"

#ifndef P_PIDFD
#define P_PIDFD 3
#endif

void kev_sources_init(struct kev_sources *src, void *ctx,
		      kev_watch_source_fn watch_source,
		      kev_watch_reg_fn watch_reg)
{
	memset(src, 0, sizeof(*src));
	src->ctx = ctx;
	src->watch_source = watch_source;
	src->watch_reg = watch_reg;
	src->sigfd = -1;
	src->inofd = -1;
	sigemptyset(&src->sigset);
}

void kev_sources_destroy(struct kev_sources *src, struct kev_core *core,
			 bool in_child)
{
	struct kev_reg *reg;
	uint32_t i;

	/* pidfds belong to their registrations */
	kev_core_for_each(core, reg, i)
		if (reg->type == KEVENT_PROC && reg->fd >= 0)
			close(reg->fd);
	if (src->sigfd >= 0)
		close(src->sigfd);
	if (src->inofd >= 0)
		close(src->inofd);
	free(src->imap);
	(void)in_child;		/* closing our own fds is all we do */
}

/* ---- KEVENT_SIGNAL */

static int kev_signal_add(struct kev_sources *src, struct kev_reg *reg)
{
	int signo = (int)reg->id;
	sigset_t blocked;
	int fd;

	if (reg->id == 0 || reg->id >= 65 || signo == SIGKILL ||
	    signo == SIGSTOP || reg->event)
		return EINVAL;
	/* An unblocked signal could go to a handler instead of the queue. */
	if (pthread_sigmask(SIG_BLOCK, NULL, &blocked) ||
	    sigismember(&blocked, signo) != 1)
		return EINVAL;
	sigaddset(&src->sigset, signo);
	fd = signalfd(src->sigfd, &src->sigset, SFD_NONBLOCK | SFD_CLOEXEC);
	if (fd < 0) {
		int err = errno;

		sigdelset(&src->sigset, signo);
		return err;
	}
	if (src->sigfd < 0) {
		if (src->watch_source(src->ctx, fd, KEV_SRC_SIGNAL) < 0) {
			int err = errno;

			close(fd);
			sigdelset(&src->sigset, signo);
			return err;
		}
		src->sigfd = fd;
	}
	src->sigregs[signo] = reg;
	return 0;
}

static void kev_signal_release(struct kev_sources *src, struct kev_reg *reg)
{
	int signo = (int)reg->id;

	src->sigregs[signo] = NULL;
	sigdelset(&src->sigset, signo);
	/* The caller's signal mask is never touched. */
	if (src->sigfd >= 0)
		signalfd(src->sigfd, &src->sigset, SFD_NONBLOCK | SFD_CLOEXEC);
}

static void kev_signal_dispatch(struct kev_sources *src,
				struct kev_core *core)
{
	struct signalfd_siginfo si[16];
	ssize_t n;

	while ((n = read(src->sigfd, si, sizeof(si))) > 0) {
		size_t i, cnt = (size_t)n / sizeof(si[0]);

		for (i = 0; i < cnt; i++) {
			uint32_t s = si[i].ssi_signo;

			if (s < 65 && src->sigregs[s])
				kev_core_fire(core, src->sigregs[s], 0, 1);
		}
		if (cnt < sizeof(si) / sizeof(si[0]))
			break;
	}
}

/* ---- KEVENT_INODE */

static const struct {
	uint32_t kev, in;
} kev_inode_map[] = {
	{ KEVENT_INODE_CREATE, IN_CREATE },
	{ KEVENT_INODE_DELETE, IN_DELETE },
	{ KEVENT_INODE_MODIFY, IN_MODIFY },
	{ KEVENT_INODE_ATTRIB, IN_ATTRIB },
	{ KEVENT_INODE_MOVE, IN_MOVED_FROM | IN_MOVED_TO },
	{ KEVENT_INODE_DELETE_SELF, IN_DELETE_SELF },
	{ KEVENT_INODE_MOVE_SELF, IN_MOVE_SELF },
};

static uint32_t kev_to_inotify(uint32_t mask)
{
	uint32_t in = 0;
	size_t i;

	for (i = 0; i < sizeof(kev_inode_map) / sizeof(kev_inode_map[0]); i++)
		if (mask & kev_inode_map[i].kev)
			in |= kev_inode_map[i].in;
	return in;
}

static uint32_t kev_from_inotify(uint32_t in)
{
	uint32_t mask = 0;
	size_t i;

	for (i = 0; i < sizeof(kev_inode_map) / sizeof(kev_inode_map[0]); i++)
		if (in & kev_inode_map[i].in)
			mask |= kev_inode_map[i].kev;
	return mask;
}

/* ---- the inode watches by wd */

static uint32_t kev_imap_home(const struct kev_sources *src, int wd)
{
	return ((uint32_t)wd * 0x9e3779b9u) >> 7 & (src->icap - 1);
}

static struct kev_inode_slot *kev_imap_find(struct kev_sources *src, int wd)
{
	uint32_t i;

	if (!src->icap || wd <= 0)
		return NULL;
	for (i = kev_imap_home(src, wd);; i = (i + 1) & (src->icap - 1)) {
		if (src->imap[i].wd == wd)
			return &src->imap[i];
		if (!src->imap[i].wd)
			return NULL;
	}
}

static void kev_imap_put(struct kev_sources *src,
			 const struct kev_inode_slot *e)
{
	uint32_t i = kev_imap_home(src, e->wd);

	while (src->imap[i].wd)
		i = (i + 1) & (src->icap - 1);
	src->imap[i] = *e;
}

/* Room for one more, at most half full: 0 or ENOMEM (nothing changed). */
static int kev_imap_reserve(struct kev_sources *src)
{
	struct kev_inode_slot *old = src->imap, *n;
	uint32_t cap = src->icap ? src->icap * 2 : 16, oc = src->icap, i;

	if (2 * (src->inum + 1) <= src->icap)
		return 0;
	n = calloc(cap, sizeof(*n));
	if (!n)
		return ENOMEM;
	src->imap = n;
	src->icap = cap;
	for (i = 0; i < oc; i++)
		if (old[i].wd)
			kev_imap_put(src, &old[i]);
	free(old);
	return 0;
}

/* Remove a slot, shifting back the ones its removal would cut off. */
static void kev_imap_del(struct kev_sources *src, struct kev_inode_slot *e)
{
	uint32_t mask = src->icap - 1, i = (uint32_t)(e - src->imap), j = i;

	src->inum--;
	for (;;) {
		uint32_t h;

		src->imap[i].wd = 0;
		for (;;) {
			j = (j + 1) & mask;
			if (!src->imap[j].wd)
				return;
			h = kev_imap_home(src, src->imap[j].wd);
			/* j may move to i if its home is not in (i, j] */
			if (i <= j ? (h <= i || h > j) : (h <= i && h > j))
				break;
		}
		src->imap[i] = src->imap[j];
		i = j;
	}
}

static void kev_inode_forget(struct kev_sources *src, struct kev_reg *reg)
{
	struct kev_inode_slot *e = kev_imap_find(src, reg->fd);

	if (e && e->reg == reg)
		kev_imap_del(src, e);
	reg->fd = -1;
}

/*
 * The wd of a registration.  inotify has one watch per inode and instance,
 * so two registrations of the same inode (through two fds) would share a
 * wd: IN_MASK_CREATE refuses the second with EEXIST, one registration per
 * inode per queue.
 */
static int kev_inode_watch(struct kev_sources *src, const struct kev_reg *reg,
			   uint32_t event, uint32_t flags)
{
	char path[64];
	int wd;

	snprintf(path, sizeof(path), "/proc/self/fd/%d", (int)reg->id);
	/* IN_ATTRIB always: a file's link count falling to 0 is deletion */
	wd = inotify_add_watch(src->inofd, path,
			       kev_to_inotify(event) | IN_ATTRIB | flags);
	if (wd < 0)
		return -(errno == ENOENT ? EBADF : errno);
	return wd;
}

static int kev_inode_add(struct kev_sources *src, struct kev_reg *reg)
{
	struct kev_inode_slot e;
	struct stat st;
	int err, wd;

	if (fstat((int)reg->id, &st) < 0)
		return EBADF;
	if (!reg->event)
		return EINVAL;
	if (src->inofd < 0) {
		int ifd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);

		if (ifd < 0)
			return errno;
		if (src->watch_source(src->ctx, ifd, KEV_SRC_INODE) < 0) {
			err = errno;
			close(ifd);
			return err;
		}
		src->inofd = ifd;
	}
	err = kev_imap_reserve(src);
	if (err)
		return err;
	wd = kev_inode_watch(src, reg, reg->event, IN_MASK_CREATE);
	if (wd < 0)
		return -wd;
	e.wd = wd;
	e.reg = reg;
	e.dev = st.st_dev;
	e.ino = st.st_ino;
	kev_imap_put(src, &e);
	src->inum++;
	reg->fd = wd;
	return 0;
}

/*
 * The registration's fd may have been closed and its number given to
 * another file: the watch is changed only while the fd still names the
 * watched inode (inotify watches inodes, so that is exact).  Else EBADF,
 * and neither this watch nor another registration's is touched.
 */
static int kev_inode_modify(struct kev_sources *src, struct kev_reg *reg,
			    uint32_t event)
{
	struct kev_inode_slot *e;
	struct stat st;
	int wd;

	if (!event)
		return EINVAL;
	if (reg->fd < 0)
		return 0;	/* already gone; delivered soon */
	e = kev_imap_find(src, reg->fd);
	if (!e || e->reg != reg)
		return EBADF;
	if (fstat((int)reg->id, &st) < 0 || st.st_dev != e->dev ||
	    st.st_ino != e->ino)
		return EBADF;
	wd = kev_inode_watch(src, reg, event, 0);
	if (wd < 0)
		return -wd;
	if (wd != reg->fd) {
		/* the fd was swapped under us meanwhile: undo, refuse */
		if (!kev_imap_find(src, wd))
			inotify_rm_watch(src->inofd, wd);
		return EBADF;
	}
	return 0;
}

/* Has the watched file lost its last link?  (Its fd is still open.) */
static bool kev_inode_unlinked(const struct kev_reg *reg)
{
	struct stat st;

	return fstat((int)reg->id, &st) == 0 && !S_ISDIR(st.st_mode) &&
	       st.st_nlink == 0;
}

static struct kev_reg *kev_inode_by_wd(struct kev_sources *src, int wd)
{
	struct kev_inode_slot *e = kev_imap_find(src, wd);

	return e ? e->reg : NULL;
}

static void kev_inode_dispatch(struct kev_sources *src, struct kev_core *core)
{
	char buf[4096] __attribute__((aligned(__alignof__(struct inotify_event))));
	ssize_t n;

	while ((n = read(src->inofd, buf, sizeof(buf))) > 0) {
		char *p = buf;

		while (p < buf + n) {
			struct inotify_event *ie = (struct inotify_event *)p;
			struct kev_reg *reg;
			uint32_t mask, i;

			p += sizeof(*ie) + ie->len;
			if (ie->mask & IN_Q_OVERFLOW) {
				for (i = 0; i < src->icap; i++) {
					if (!src->imap[i].wd)
						continue;
					reg = src->imap[i].reg;
					reg->ret_flags |= KEVENT_RET_OVERFLOW;
					kev_core_fire(core, reg, 0, 0);
				}
				continue;
			}
			reg = kev_inode_by_wd(src, ie->wd);
			if (!reg)
				continue;
			if (ie->mask & IN_IGNORED) {
				/* The watch is gone: so is the registration. */
				reg->ret_flags |= KEVENT_RET_GONE |
						  KEVENT_RET_REMOVED;
				kev_inode_forget(src, reg);
				kev_core_fire(core, reg, reg->event &
					      kev_from_inotify(ie->mask), 0);
				continue;
			}
			if ((ie->mask & IN_ATTRIB) && kev_inode_unlinked(reg)) {
				/*
				 * Unlinked while a descriptor keeps it alive:
				 * inotify would say so only at the last close.
				 */
				inotify_rm_watch(src->inofd, reg->fd);
				kev_inode_forget(src, reg);
				reg->ret_flags |= KEVENT_RET_GONE |
						  KEVENT_RET_REMOVED;
				kev_core_fire(core, reg, reg->event &
					      (KEVENT_INODE_DELETE_SELF |
					       kev_from_inotify(ie->mask)), 0);
				continue;
			}
			mask = kev_from_inotify(ie->mask) & reg->event;
			if (mask)
				kev_core_fire(core, reg, mask, 0);
		}
	}
}

/* ---- KEVENT_PROC */

static int kev_proc_add(struct kev_sources *src, struct kev_reg *reg)
{
	int fd;

	if (reg->id == 0 || reg->id > (uint64_t)INT32_MAX)
		return ESRCH;
	if (!reg->event)
		reg->event = KEVENT_PROC_EXIT;
	fd = (int)syscall(SYS_pidfd_open, (pid_t)reg->id, 0);
	if (fd < 0)
		return errno;
	if (fcntl(fd, F_SETFD, FD_CLOEXEC) < 0 ||
	    src->watch_reg(src->ctx, fd, reg) < 0) {
		int err = errno;

		close(fd);
		return err;
	}
	reg->fd = fd;
	return 0;
}

void kev_sources_fire(struct kev_sources *src, struct kev_core *core,
		      struct kev_reg *reg)
{
	siginfo_t si;

	if (reg->type != KEVENT_PROC || (reg->ret_flags & KEVENT_RET_REMOVED))
		return;
	memset(&si, 0, sizeof(si));
	if (waitid((idtype_t)P_PIDFD, (id_t)reg->fd, &si,
		   WEXITED | WNOWAIT | WNOHANG) == 0) {
		if (si.si_pid == 0)
			return;		/* not exited yet: spurious */
		switch (si.si_code) {
		case CLD_EXITED:
			reg->count = (uint64_t)((si.si_status & 0xff) << 8);
			break;
		case CLD_KILLED:
			reg->count = (uint64_t)(si.si_status & 0x7f);
			break;
		case CLD_DUMPED:
			reg->count = (uint64_t)((si.si_status & 0x7f) | 0x80);
			break;
		default:
			return;		/* stopped/continued: not an exit */
		}
	} else {
		/* Not our child (ECHILD), or already reaped. */
		reg->count = 0;
		reg->ret_flags |= KEVENT_RET_NOSTATUS;
	}
	reg->ret_flags |= KEVENT_RET_REMOVED;
	kev_core_fire(core, reg, KEVENT_PROC_EXIT, 0);
	(void)src;
}

/* ---- common */

int kev_sources_add(struct kev_sources *src, struct kev_core *core,
		    struct kev_reg *reg)
{
	(void)core;
	switch (reg->type) {
	case KEVENT_SIGNAL:
		return kev_signal_add(src, reg);
	case KEVENT_INODE:
		return kev_inode_add(src, reg);
	case KEVENT_PROC:
		return kev_proc_add(src, reg);
	}
	return EINVAL;
}

int kev_sources_modify(struct kev_sources *src, struct kev_core *core,
		       struct kev_reg *reg, const struct ukevent *ev)
{
	uint32_t event = ev->event;
	int err = 0;

	(void)core;
	switch (reg->type) {
	case KEVENT_SIGNAL:
		err = event ? EINVAL : 0;
		break;
	case KEVENT_INODE:
		err = kev_inode_modify(src, reg, event);
		break;
	case KEVENT_PROC:
		if (!event)
			event = KEVENT_PROC_EXIT;
		break;
	default:
		err = EINVAL;
	}
	if (err)
		return err;
	reg->event = event;
	reg->req_flags = (uint16_t)ev->req_flags;
	reg->data = ev->data;
	reg->user = ev->user;
	return 0;
}

void kev_sources_release(struct kev_sources *src, struct kev_reg *reg)
{
	switch (reg->type) {
	case KEVENT_SIGNAL:
		kev_signal_release(src, reg);
		break;
	case KEVENT_INODE:
		if (reg->fd >= 0) {
			inotify_rm_watch(src->inofd, reg->fd);
			kev_inode_forget(src, reg);
		}
		break;
	case KEVENT_PROC:
		if (reg->fd >= 0)
			close(reg->fd);	/* the backend took it out of its set */
		reg->fd = -1;
		break;
	}
}

void kev_sources_dispatch(struct kev_sources *src, struct kev_core *core,
			  unsigned int which)
{
	if (which == KEV_SRC_SIGNAL)
		kev_signal_dispatch(src, core);
	else
		kev_inode_dispatch(src, core);
}
