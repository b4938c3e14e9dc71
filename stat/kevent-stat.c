// SPDX-License-Identifier: MIT
/*
 * kevent-stat - the statistics of the kevent queues of a running process
 * (kevent-stat(1), kevent(7) "Statistics").
 *
 * The rings are found in /proc/PID/maps and read with process_vm_readv(2);
 * nothing in the target is stopped or changed.  A ring of the kmod backend
 * is a mapping of /dev/kevent; a ring of a user-space backend is somewhere
 * in an anonymous private mapping (the kernel merges neighbouring anonymous
 * mappings, so not necessarily at its start): each present page of those
 * is a candidate, recognised by the signature of its header (valid_header()).
 *
 * Only <kevent/abi.h>: the tool does not link libkev.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include <kevent/abi.h>

#ifndef KEVENT_STAT_VERSION
#define KEVENT_STAT_VERSION "unknown"
#endif

#define BUCKETS KEVENT_STATS_BUCKETS
#define LINE2 offsetof(struct kevent_ring, size)	/* the read-only line */
#define LINE2_BYTES 64u
/* Anonymous mappings larger than this are not searched (a sanitizer's
 * shadow memory is terabytes of address space). */
#define MAX_SCAN_BYTES (4ull << 30)
#define MAX_IOV 512

_Static_assert(offsetof(struct kevent_ring, size) == 128, "ring line 2");
_Static_assert(sizeof(struct kevent_ring) == KEVENT_RING_ENTRIES_OFFSET,
	       "ring header");

static const char *prog = "kevent-stat";

struct ring {
	uint64_t addr;
	int kmod;			/* a mapping of /dev/kevent */
	int has_stats;			/* stats_offset != 0: st is valid */
	struct kevent_ring h;
	struct kevent_stats st;
};

struct snapshot {
	struct ring *v;
	size_t n, cap;
	unsigned int skipped;		/* mappings too large to search */
};

static void snapshot_free(struct snapshot *s)
{
	free(s->v);
	memset(s, 0, sizeof(*s));
}

static int snapshot_add(struct snapshot *s, const struct ring *r)
{
	if (s->n == s->cap) {
		size_t cap = s->cap ? 2 * s->cap : 8;
		struct ring *v = realloc(s->v, cap * sizeof(*v));

		if (!v)
			return -1;
		s->v = v;
		s->cap = cap;
	}
	s->v[s->n++] = *r;
	return 0;
}

/* ---- reading the target ----------------------------------------------- */

/* Errors that end the whole scan: the process is gone, or may not be read. */
static int fatal_errno(int e)
{
	return e == ESRCH || e == EPERM || e == EACCES || e == ENOMEM;
}

/* Read len bytes at addr of pid: 0, or -1 with errno (EFAULT: not mapped). */
static int peek(pid_t pid, uint64_t addr, void *buf, size_t len)
{
	struct iovec local = { buf, len };
	struct iovec remote = { (void *)(uintptr_t)addr, len };
	ssize_t n = process_vm_readv(pid, &local, 1, &remote, 1, 0);

	if (n < 0)
		return -1;
	if ((size_t)n != len) {
		errno = EFAULT;
		return -1;
	}
	return 0;
}

static uint64_t ring_bytes(const struct kevent_ring *h)
{
	return KEVENT_RING_BYTES(h->size);
}

/*
 * The signature of a ring header (line 2, read-only after creation), for a
 * ring that has avail bytes of mapping from its start on.
 */
static int valid_header(const struct kevent_ring *h, uint64_t avail)
{
	uint32_t size = h->size;

	if (h->version != KEVENT_ABI_VERSION ||
	    h->entry_size != sizeof(struct ukevent) ||
	    h->entries_offset != KEVENT_RING_ENTRIES_OFFSET)
		return 0;
	if (size == 0 || size > KEVENT_RING_MAX || (size & (size - 1)) ||
	    h->mask != size - 1)
		return 0;
	if (avail < ring_bytes(h))
		return 0;
	if (h->stats_offset &&
	    (h->stats_offset != ring_bytes(h) ||
	     avail < h->stats_offset + sizeof(struct kevent_stats)))
		return 0;
	return 1;
}

/*
 * A candidate at addr whose line 2 was read into *h and validated: read the
 * whole header and the statistics.  1 if it is still a ring, 0 if not, -1
 * with errno on a fatal error.
 */
static int read_ring(pid_t pid, uint64_t addr, uint64_t avail, int kmod,
		     struct snapshot *s)
{
	struct ring r;

	memset(&r, 0, sizeof(r));
	r.addr = addr;
	r.kmod = kmod;
	if (peek(pid, addr, &r.h, sizeof(r.h)) < 0)
		return fatal_errno(errno) ? -1 : 0;
	if (!valid_header(&r.h, avail))
		return 0;	/* unmapped and mapped again meanwhile */
	if (r.h.stats_offset) {
		if (peek(pid, addr + r.h.stats_offset, &r.st, sizeof(r.st)) < 0)
			return fatal_errno(errno) ? -1 : 0;
		r.has_stats = 1;
	}
	if (snapshot_add(s, &r) < 0)
		return -1;
	return 1;
}

/*
 * Read line 2 of each of the n pages at addrs[] (one process_vm_readv for
 * all) into lines[]; ok[i] says whether page i could be read.  0, or -1
 * with errno on a fatal error.
 */
static int peek_lines(pid_t pid, const uint64_t *addrs, size_t n,
		      unsigned char (*lines)[LINE2_BYTES], char *ok)
{
	struct iovec local[MAX_IOV], remote[MAX_IOV];
	size_t i = 0;

	while (i < n) {
		size_t k = n - i < MAX_IOV ? n - i : MAX_IOV;
		ssize_t got;
		size_t done;

		for (size_t j = 0; j < k; j++) {
			local[j].iov_base = lines[i + j];
			local[j].iov_len = LINE2_BYTES;
			remote[j].iov_base = (void *)(uintptr_t)(addrs[i + j] + LINE2);
			remote[j].iov_len = LINE2_BYTES;
		}
		got = process_vm_readv(pid, local, k, remote, k, 0);
		if (got < 0) {
			if (errno != EFAULT)
				return -1;
			got = 0;	/* the first page failed */
		}
		/* transfers stop at the first element that fails, never
		 * split one (process_vm_readv(2)) */
		done = (size_t)got / LINE2_BYTES;
		for (size_t j = 0; j < done; j++)
			ok[i + j] = 1;
		if (done < k)
			ok[i + done++] = 0;
		i += done;
	}
	return 0;
}

/*
 * Search an anonymous private mapping [start, end) for rings: every page
 * present in memory (or swapped out) per /proc/PID/pagemap, or every page
 * when pagemap cannot be read.  0, or -1 with errno on a fatal error.
 */
static int scan_anon(pid_t pid, int pagemap, uint64_t start, uint64_t end,
		     struct snapshot *s)
{
	const uint64_t page = (uint64_t)sysconf(_SC_PAGESIZE);
	enum { CHUNK = 4096 };
	static uint64_t pm[CHUNK], addrs[CHUNK];
	static unsigned char lines[CHUNK][LINE2_BYTES];
	static char ok[CHUNK];
	uint64_t next = start;	/* first address not inside a found ring */

	for (uint64_t a = start; a < end;) {
		size_t n = 0, want = (size_t)((end - a) / page);

		if (want > CHUNK)
			want = CHUNK;
		if (pagemap >= 0) {
			ssize_t got = pread(pagemap, pm, want * 8,
					    (off_t)(a / page * 8));

			if (got < 0 && fatal_errno(errno))
				return -1;
			if (got <= 0)
				return 0;	/* unmapped meanwhile */
			want = (size_t)got / 8;
			for (size_t i = 0; i < want; i++)
				if (pm[i] & (3ull << 62))	/* present, swapped */
					addrs[n++] = a + i * page;
		} else {
			for (size_t i = 0; i < want; i++)
				addrs[n++] = a + i * page;
		}
		a += want * page;
		if (peek_lines(pid, addrs, n, lines, ok) < 0)
			return -1;
		for (size_t i = 0; i < n; i++) {
			struct kevent_ring h;
			int r;

			if (!ok[i] || addrs[i] < next)
				continue;
			memset(&h, 0, sizeof(h));
			memcpy(&h.size, lines[i], LINE2_BYTES);
			if (!valid_header(&h, end - addrs[i]))
				continue;
			r = read_ring(pid, addrs[i], end - addrs[i], 0, s);
			if (r < 0)
				return -1;
			if (r > 0) {
				const struct ring *f = &s->v[s->n - 1];

				next = addrs[i] + (f->h.stats_offset ?
					f->h.stats_offset + sizeof(f->st) :
					ring_bytes(&f->h));
			}
		}
	}
	return 0;
}

/*
 * Every kevent ring mapped in pid, in address order.  0, or -1 with errno:
 * ENOENT/ESRCH (no such process, or it exited), EACCES/EPERM, or another.
 */
static int scan(pid_t pid, struct snapshot *s)
{
	char path[64], *line = NULL;
	size_t cap = 0;
	FILE *maps;
	int pagemap, rc = 0, err = 0;

	memset(s, 0, sizeof(*s));
	snprintf(path, sizeof(path), "/proc/%d/maps", (int)pid);
	maps = fopen(path, "re");
	if (!maps)
		return -1;
	snprintf(path, sizeof(path), "/proc/%d/pagemap", (int)pid);
	pagemap = open(path, O_RDONLY | O_CLOEXEC);
	while (getline(&line, &cap, maps) > 0) {
		unsigned long long start, end, off, inode;
		char perms[8], *name;
		int pos = 0;

		if (sscanf(line, "%llx-%llx %7s %llx %*x:%*x %llu %n", &start,
			   &end, perms, &off, &inode, &pos) < 5 || !pos ||
		    end <= start || strlen(perms) < 4)
			continue;
		name = line + pos;
		name[strcspn(name, "\n")] = '\0';
		if (perms[0] != 'r')
			continue;
		if (strcmp(name, "/dev/kevent") == 0 && perms[3] == 's' &&
		    off == 0) {
			/* kmod: the ring starts the mapping (offset 0) */
			unsigned char l2[LINE2_BYTES];
			struct kevent_ring h;

			if (peek(pid, start + LINE2, l2, sizeof(l2)) < 0) {
				if (fatal_errno(errno)) {
					rc = -1;
					err = errno;
					break;
				}
				continue;
			}
			memset(&h, 0, sizeof(h));
			memcpy(&h.size, l2, sizeof(l2));
			if (valid_header(&h, end - start) &&
			    read_ring(pid, start, end - start, 1, s) < 0) {
				rc = -1;
				err = errno;
				break;
			}
			continue;
		}
		/* anonymous private memory: no file, no special name but
		 * the name a program gave it (PR_SET_VMA_ANON_NAME) */
		if (perms[3] != 'p' || inode != 0 ||
		    (name[0] && strncmp(name, "[anon:", 6) != 0))
			continue;
		if (end - start > MAX_SCAN_BYTES) {
			s->skipped++;
			continue;
		}
		if (scan_anon(pid, pagemap, start, end, s) < 0) {
			rc = -1;
			err = errno;
			break;
		}
	}
	if (!rc && ferror(maps)) {
		rc = -1;
		err = errno;
	}
	free(line);
	fclose(maps);
	if (pagemap >= 0)
		close(pagemap);
	if (rc) {
		snapshot_free(s);
		errno = err;
	}
	return rc;
}

/* ---- numbers ----------------------------------------------------------- */

/* The bounds of bucket i in ns: [lo, hi); hi is 0 for the last one. */
static void bucket_bounds(unsigned int i, double *lo, double *hi)
{
	*lo = i == 0 ? 0 : (double)(1ull << i);
	*hi = i + 1 < BUCKETS ? (double)(1ull << (i + 1)) : 0;
}

static uint64_t hist_total(const __u64 *h)
{
	uint64_t t = 0;

	for (unsigned int i = 0; i < BUCKETS; i++)
		t += h[i];
	return t;
}

/*
 * The q-quantile of a histogram, interpolated linearly inside its bucket;
 * in the last bucket, its lower bound (*open set).  -1 if empty.
 */
static double quantile(const __u64 *h, double q, int *open)
{
	uint64_t total = hist_total(h), cum = 0;
	double target = q * (double)total;

	*open = 0;
	if (!total)
		return -1;
	for (unsigned int i = 0; i < BUCKETS; i++) {
		double lo, hi;

		if (!h[i])
			continue;
		bucket_bounds(i, &lo, &hi);
		if ((double)(cum + h[i]) >= target) {
			if (!hi) {
				*open = 1;
				return lo;
			}
			return lo + (hi - lo) * (target - (double)cum) /
				(double)h[i];
		}
		cum += h[i];
	}
	return -1;
}

/* The unit of a duration of ns: 0 ns, 1 us, 2 ms, 3 s. */
static int ns_unit(double ns)
{
	int u = 0;

	while (u < 3 && ns >= 999.5) {
		ns /= 1000;
		u++;
	}
	return u;
}

/* ns in unit u, no unit: whole nanoseconds, else 3 significant digits
 * ("1.02", "16.4", "131"). */
static const char *fmt_num(double ns, int u, char *buf, size_t len)
{
	int decimals;

	for (int k = 0; k < u; k++)
		ns /= 1000;
	decimals = u == 0 || ns >= 99.95 ? 0 : ns >= 9.995 ? 1 : 2;
	snprintf(buf, len, "%.*f", decimals, ns);
	return buf;
}

static const char *const units[] = { "ns", "us", "ms", "s" };

/* A duration in ns with 3 significant digits and its unit: "1.02 us". */
static const char *fmt_ns(double ns, char *buf, size_t len)
{
	char n[24];
	int u = ns_unit(ns);

	snprintf(buf, len, "%s %s", fmt_num(ns, u, n, sizeof(n)), units[u]);
	return buf;
}

/* The range of bucket i: "1.02-2.05 us", "512 ns-1.02 us", ">= 2.15 s". */
static const char *fmt_bucket(unsigned int i, char *buf, size_t len)
{
	char a[48], b[48];
	double lo, hi;

	bucket_bounds(i, &lo, &hi);
	if (!hi)
		snprintf(buf, len, ">= %s", fmt_ns(lo, a, sizeof(a)));
	else if (lo == 0 || ns_unit(lo) == ns_unit(hi))
		snprintf(buf, len, "%s-%s",
			 fmt_num(lo, ns_unit(hi), a, sizeof(a)),
			 fmt_ns(hi, b, sizeof(b)));
	else
		snprintf(buf, len, "%s-%s", fmt_ns(lo, a, sizeof(a)),
			 fmt_ns(hi, b, sizeof(b)));
	return buf;
}

static double ratio(uint64_t a, uint64_t b)
{
	return b ? (double)a / (double)b : -1;
}

/* ---- text output ------------------------------------------------------- */

static const char *where(const struct ring *r)
{
	return r->kmod ? "kmod backend (/dev/kevent)" :
			 "user-space backend (epoll or uring)";
}

static void print_hist(const char *title, const __u64 *h)
{
	uint64_t total = hist_total(h);
	char a[48], b[48], c[64];
	int open50, open99;
	double p50, p99;

	if (!total) {
		printf("  %s: no entries\n", title);
		return;
	}
	p50 = quantile(h, 0.50, &open50);
	p99 = quantile(h, 0.99, &open99);
	printf("  %s: %" PRIu64 " entries, p50 %s%s, p99 %s%s\n", title, total,
	       open50 ? ">= " : "", fmt_ns(p50, a, sizeof(a)),
	       open99 ? ">= " : "", fmt_ns(p99, b, sizeof(b)));
	for (unsigned int i = 0; i < BUCKETS; i++) {
		if (!h[i])
			continue;
		printf("    %-16s %12llu %6.1f%%\n", fmt_bucket(i, c, sizeof(c)),
		       (unsigned long long)h[i],
		       100.0 * (double)h[i] / (double)total);
	}
}

static void print_ring(const struct ring *r)
{
	const struct kevent_ring *h = &r->h;
	double d;

	printf("queue at 0x%" PRIx64 ": %s, %u entries, %u in the ring\n",
	       r->addr, where(r), h->size, (unsigned int)(h->kidx - h->uidx));
	printf("  %-12s %12llu\n", "published", (unsigned long long)h->published);
	printf("  %-12s %12llu", "deferred", (unsigned long long)h->deferred);
	if ((d = ratio(h->deferred, h->published)) >= 0)
		printf("  %.1f%% of published", 100 * d);
	printf("\n  %-12s %12llu\n", "coalesced",
	       (unsigned long long)h->coalesced);
	printf("  %-12s %12llu", "waits", (unsigned long long)h->waits);
	if ((d = ratio(h->published, h->waits)) >= 0)
		printf("  %.2f entries per kevent_wait", d);
	printf("\n  %-12s %12llu", "sleeps", (unsigned long long)h->sleeps);
	if ((d = ratio(h->sleeps, h->waits)) >= 0)
		printf("  %.1f%% of waits slept", 100 * d);
	printf("\n");
	if (!r->has_stats) {
		printf("  %-12s %12s  (no histograms: the library or module "
		       "predates libkev 1.2)\n", "statistics", "n/a");
		return;
	}
	printf("  %-12s %12s\n", "statistics",
	       h->flags & KEVENT_RING_STATS ? "on" : "off");
	if (!(h->flags & KEVENT_RING_STATS) &&
	    !hist_total(r->st.fire_to_publish) &&
	    !hist_total(r->st.publish_to_consume))
		return;
	print_hist("fire to publish", r->st.fire_to_publish);
	print_hist("publish to consume", r->st.publish_to_consume);
}

static void read_comm(pid_t pid, char *buf, size_t len)
{
	char path[64];
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/comm", (int)pid);
	buf[0] = '\0';
	f = fopen(path, "re");
	if (!f)
		return;
	if (!fgets(buf, (int)len, f))
		buf[0] = '\0';
	buf[strcspn(buf, "\n")] = '\0';
	fclose(f);
}

static void print_text(pid_t pid, const char *comm, const struct snapshot *s)
{
	if (!s->n) {
		printf("process %d (%s): no kevent queue\n", (int)pid, comm);
		return;
	}
	printf("process %d (%s): %zu kevent queue%s\n", (int)pid, comm, s->n,
	       s->n == 1 ? "" : "s");
	for (size_t i = 0; i < s->n; i++) {
		printf("\n");
		print_ring(&s->v[i]);
	}
}

/* ---- JSON output ------------------------------------------------------- */

static void json_str(const char *s)
{
	putchar('"');
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;

		if (c == '"' || c == '\\')
			printf("\\%c", c);
		else if (c < 0x20 || c >= 0x7f)
			printf("\\u%04x", c);
		else
			putchar(c);
	}
	putchar('"');
}

static void json_num(double v)
{
	if (v < 0)
		printf("null");
	else
		printf("%.6g", v);
}

static void json_hist(const char *name, const __u64 *h, int has, const char *nl)
{
	int open;

	printf(",%s\"%s\": ", nl, name);
	if (!has) {
		printf("null,%s\"%s_p50_ns\": null,%s\"%s_p99_ns\": null", nl,
		       name, nl, name);
		return;
	}
	printf("[");
	for (unsigned int i = 0; i < BUCKETS; i++)
		printf("%s%llu", i ? ", " : "", (unsigned long long)h[i]);
	printf("],%s\"%s_p50_ns\": ", nl, name);
	json_num(quantile(h, 0.50, &open));
	printf(",%s\"%s_p99_ns\": ", nl, name);
	json_num(quantile(h, 0.99, &open));
}

/*
 * One queue as a JSON object.  base: the previous snapshot of the same
 * ring for deltas (interval mode), or NULL for the totals.
 */
static void json_ring(const struct ring *r, const struct ring *base,
		      int is_new, const char *nl)
{
	const struct kevent_ring *h = &r->h;
	uint64_t v[5] = { h->published, h->deferred, h->coalesced, h->waits,
			  h->sleeps };
	static const char *names[5] = { "published", "deferred", "coalesced",
					"waits", "sleeps" };
	__u64 f2p[BUCKETS], p2c[BUCKETS];

	memcpy(f2p, r->st.fire_to_publish, sizeof(f2p));
	memcpy(p2c, r->st.publish_to_consume, sizeof(p2c));
	if (base) {
		const struct kevent_ring *b = &base->h;
		const uint64_t w[5] = { b->published, b->deferred, b->coalesced,
					b->waits, b->sleeps };

		for (int i = 0; i < 5; i++)
			v[i] -= w[i];
		for (unsigned int i = 0; i < BUCKETS; i++) {
			f2p[i] -= base->st.fire_to_publish[i];
			p2c[i] -= base->st.publish_to_consume[i];
		}
	}
	printf("{%s\"address\": \"0x%" PRIx64 "\",%s\"backend\": \"%s\",%s"
	       "\"size\": %u,%s\"pending\": %u",
	       nl, r->addr, nl, r->kmod ? "kmod" : "user", nl, h->size, nl,
	       (unsigned int)(h->kidx - h->uidx));
	for (int i = 0; i < 5; i++)
		printf(",%s\"%s\": %llu", nl, names[i], (unsigned long long)v[i]);
	printf(",%s\"statistics\": %s", nl,
	       !r->has_stats ? "null" :
	       h->flags & KEVENT_RING_STATS ? "true" : "false");
	printf(",%s\"entries_per_wait\": ", nl);
	json_num(ratio(v[0], v[3]));
	printf(",%s\"slept_share\": ", nl);
	json_num(ratio(v[4], v[3]));
	printf(",%s\"deferred_share\": ", nl);
	json_num(ratio(v[1], v[0]));
	json_hist("fire_to_publish", f2p, r->has_stats, nl);
	json_hist("publish_to_consume", p2c, r->has_stats, nl);
	if (is_new)
		printf(",%s\"new\": true", nl);
	printf("%s}", *nl == '\n' ? "\n    " : "");
}

/* The totals; one line (JSON Lines, for -i) if compact. */
static void print_json(pid_t pid, const char *comm, const struct snapshot *s,
		       int compact)
{
	printf("{%s\"pid\": %d,%s\"comm\": ", compact ? "" : "\n  ",
	       (int)pid, compact ? " " : "\n  ");
	json_str(comm);
	printf(",%s\"queues\": [", compact ? " " : "\n  ");
	for (size_t i = 0; i < s->n; i++) {
		printf("%s%s", i ? "," : "", compact ? (i ? " " : "") : "\n    ");
		json_ring(&s->v[i], NULL, 0, compact ? " " : "\n      ");
	}
	printf("%s]%s}\n", s->n && !compact ? "\n  " : "",
	       compact ? "" : "\n");
}

/* ---- interval mode ----------------------------------------------------- */

static const struct ring *find_ring(const struct snapshot *s,
				    const struct ring *r)
{
	for (size_t i = 0; i < s->n; i++) {
		const struct ring *o = &s->v[i];

		/* the same ring, not a new one at the same place */
		if (o->addr == r->addr && o->kmod == r->kmod &&
		    o->h.size == r->h.size &&
		    o->has_stats == r->has_stats &&
		    o->h.published <= r->h.published &&
		    o->h.waits <= r->h.waits)
			return o;
	}
	return NULL;
}

static void print_interval_text(const struct snapshot *cur,
				const struct snapshot *prev, double secs)
{
	char stamp[16], a[48], b[48];
	time_t now = time(NULL);
	struct tm tm;

	localtime_r(&now, &tm);
	strftime(stamp, sizeof(stamp), "%H:%M:%S", &tm);
	if (!cur->n)
		printf("%s no kevent queue\n", stamp);
	for (size_t i = 0; i < cur->n; i++) {
		const struct ring *r = &cur->v[i], *o = find_ring(prev, r);
		const struct kevent_ring *h = &r->h;
		uint64_t pub, waits, sleeps, def, coal;
		__u64 f2p[BUCKETS], p2c[BUCKETS];
		double d;
		int open;

		if (!o) {
			printf("%s 0x%" PRIx64 ": new queue, %llu published\n",
			       stamp, r->addr,
			       (unsigned long long)h->published);
			continue;
		}
		pub = h->published - o->h.published;
		waits = h->waits - o->h.waits;
		sleeps = h->sleeps - o->h.sleeps;
		def = h->deferred - o->h.deferred;
		coal = h->coalesced - o->h.coalesced;
		printf("%s 0x%" PRIx64 ": %llu published (%.1f/s), %llu waits",
		       stamp, r->addr, (unsigned long long)pub,
		       (double)pub / secs, (unsigned long long)waits);
		if ((d = ratio(pub, waits)) >= 0)
			printf(" (%.2f per wait, %.1f%% slept)", d,
			       100 * ratio(sleeps, waits));
		printf(", %llu deferred", (unsigned long long)def);
		if ((d = ratio(def, pub)) >= 0)
			printf(" (%.1f%%)", 100 * d);
		printf(", %llu coalesced", (unsigned long long)coal);
		if (r->has_stats) {
			for (unsigned int k = 0; k < BUCKETS; k++) {
				f2p[k] = r->st.fire_to_publish[k] -
					 o->st.fire_to_publish[k];
				p2c[k] = r->st.publish_to_consume[k] -
					 o->st.publish_to_consume[k];
			}
			if (hist_total(f2p))
				printf("; fire to publish p50 %s, p99 %s",
				       fmt_ns(quantile(f2p, 0.5, &open), a,
					      sizeof(a)),
				       fmt_ns(quantile(f2p, 0.99, &open), b,
					      sizeof(b)));
			if (hist_total(p2c))
				printf("; publish to consume p50 %s, p99 %s",
				       fmt_ns(quantile(p2c, 0.5, &open), a,
					      sizeof(a)),
				       fmt_ns(quantile(p2c, 0.99, &open), b,
					      sizeof(b)));
			if (!(h->flags & KEVENT_RING_STATS))
				printf("; statistics off");
		}
		printf("\n");
	}
	for (size_t i = 0; i < prev->n; i++)
		if (!find_ring(cur, &prev->v[i]))
			printf("%s 0x%" PRIx64 ": closed\n", stamp,
			       prev->v[i].addr);
}

static void print_interval_json(pid_t pid, const struct snapshot *cur,
				const struct snapshot *prev, double secs)
{
	struct timespec ts;
	int first = 1;

	clock_gettime(CLOCK_REALTIME, &ts);
	printf("{\"pid\": %d, \"time\": %.3f, \"interval\": %.3f, \"queues\": [",
	       (int)pid, (double)ts.tv_sec + (double)ts.tv_nsec / 1e9, secs);
	for (size_t i = 0; i < cur->n; i++) {
		const struct ring *r = &cur->v[i], *o = find_ring(prev, r);

		printf("%s", i ? ", " : "");
		/* a new queue: its totals */
		json_ring(r, o, !o, " ");
	}
	printf("], \"closed\": [");
	for (size_t i = 0; i < prev->n; i++) {
		if (find_ring(cur, &prev->v[i]))
			continue;
		printf("%s\"0x%" PRIx64 "\"", first ? "" : ", ",
		       prev->v[i].addr);
		first = 0;
	}
	printf("]}\n");
}

/* ---- main -------------------------------------------------------------- */

static void usage(FILE *f)
{
	fprintf(f,
		"usage: %s [--json] [-i SECONDS [-c COUNT]] PID\n"
		"Print the statistics of the kevent queues of process PID: the\n"
		"ring counters and latency histograms (kevent-stat(1)).\n"
		"  -j, --json              JSON output\n"
		"  -i, --interval SECONDS  then every SECONDS, what changed\n"
		"  -c, --count COUNT       stop after COUNT intervals\n"
		"  -h, --help              this help\n"
		"  -V, --version           the version\n", prog);
}

static void __attribute__((format(printf, 1, 2))) err_msg(const char *fmt, ...)
{
	va_list ap;

	fflush(stdout);
	fprintf(stderr, "%s: ", prog);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

/* Say why pid could not be read; the exit status. */
static int scan_error(pid_t pid, int e)
{
	if (e == ENOENT || e == ESRCH)
		err_msg("no process %d (or it exited)", (int)pid);
	else if (e == EPERM || e == EACCES)
		err_msg("cannot read process %d: %s: need the same user and "
			"ptrace permission (see ptrace(2), Yama)", (int)pid,
			strerror(e));
	else
		err_msg("cannot read process %d: %s", (int)pid, strerror(e));
	return 1;
}

static int parse_pid(const char *s, pid_t *pid)
{
	char *end;
	long v;

	if (*s < '0' || *s > '9')
		return -1;
	errno = 0;
	v = strtol(s, &end, 10);
	if (errno || *end || v <= 0 || v > INT_MAX)
		return -1;
	*pid = (pid_t)v;
	return 0;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "interval", required_argument, NULL, 'i' },
		{ "count", required_argument, NULL, 'c' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	struct snapshot cur, prev;
	double interval = 0;
	long count = -1;
	char comm[64], *end;
	int json = 0, c;
	pid_t pid;

	while ((c = getopt_long(argc, argv, "ji:c:hV", opts, NULL)) != -1) {
		switch (c) {
		case 'j':
			json = 1;
			break;
		case 'i':
			errno = 0;
			interval = strtod(optarg, &end);
			if (errno || end == optarg || *end ||
			    !(interval >= 0.01 && interval <= 86400)) {
				err_msg("-i: an interval of 0.01 to 86400 "
					"seconds, not '%s'", optarg);
				return 2;
			}
			break;
		case 'c':
			errno = 0;
			count = strtol(optarg, &end, 10);
			if (errno || end == optarg || *end || count < 1) {
				err_msg("-c: a count of at least 1, not '%s'",
					optarg);
				return 2;
			}
			break;
		case 'h':
			usage(stdout);
			return 0;
		case 'V':
			printf("kevent-stat (libkev) %s\n", KEVENT_STAT_VERSION);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind >= argc) {
		err_msg("no process id given");
		usage(stderr);
		return 2;
	}
	if (optind + 1 < argc) {
		err_msg("one process id, not %d arguments", argc - optind);
		usage(stderr);
		return 2;
	}
	if (count > 0 && !interval) {
		err_msg("-c needs -i");
		usage(stderr);
		return 2;
	}
	if (parse_pid(argv[optind], &pid) < 0) {
		err_msg("'%s' is not a process id", argv[optind]);
		usage(stderr);
		return 2;
	}

	if (scan(pid, &cur) < 0)
		return scan_error(pid, errno);
	read_comm(pid, comm, sizeof(comm));
	if (json)
		print_json(pid, comm, &cur, interval > 0);
	else
		print_text(pid, comm, &cur);
	if (cur.skipped)
		err_msg("note: %u anonymous mapping%s larger than %llu GiB "
			"not searched", cur.skipped, cur.skipped == 1 ? "" : "s",
			MAX_SCAN_BYTES >> 30);
	fflush(stdout);
	if (!interval) {
		snapshot_free(&cur);
		return 0;
	}

	struct timespec next;
	clock_gettime(CLOCK_MONOTONIC, &next);
	if (!json)
		printf("\n");
	for (long k = 0; count < 0 || k < count; k++) {
		long long ns = next.tv_nsec + (long long)(interval * 1e9);

		next.tv_sec += (time_t)(ns / 1000000000);
		next.tv_nsec = (long)(ns % 1000000000);
		while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &next,
				       NULL) == EINTR)
			;
		prev = cur;
		if (scan(pid, &cur) < 0) {
			int e = errno;

			snapshot_free(&prev);
			if (e == ENOENT || e == ESRCH) {
				err_msg("process %d exited", (int)pid);
				return 0;
			}
			return scan_error(pid, e);
		}
		if (json)
			print_interval_json(pid, &cur, &prev, interval);
		else
			print_interval_text(&cur, &prev, interval);
		fflush(stdout);
		snapshot_free(&prev);
	}
	snapshot_free(&cur);
	return 0;
}
