// SPDX-License-Identifier: MIT
//
// selector.cpp - kevent._kevent.SelectorCore, the body of
// kevent.KeventSelector: the selectors API of EpollSelector, written on the
// C API so that a select() costs one kevent_wait() and a pass over the ring,
// and register/unregister one kevent_ctl() each, with no Python frame.
//
// What it keeps: one slot per registered fd (a vector indexed by fd, a hash
// map for the rare fds above SMALL_FDS) holding the SelectorKey, the
// EVENT_READ/EVENT_WRITE mask and the registration's cookie, a 64-bit
// number that is never reused and goes in struct ukevent.user.  An entry of
// the ring whose cookie is not the slot's is stale (its fd was unregistered,
// or registered again, since it was published) and is dropped.
//
// Rules kept here:
//  - no Python object is created, and no Python code can run, between the
//    moment the GIL is taken back after kevent_wait() and the end of the pass
//    over the ring: nothing can close the queue (and unmap the ring) or
//    change the slots under it.  Keys are referenced (INCREF) during the
//    pass and the result list is built afterwards;
//  - select() returns every ready fd once: while a pass filled the whole
//    ring and found no fd twice, more may be ready (they wait on libkev's
//    ready list, first in first out), so it waits again with a zero timeout.
//    A level-triggered fd passed in the ring is published again by the next
//    wait, after those that were waiting: the first fd seen twice means the
//    backlog is exhausted;
//  - files that epoll(7) refuses (regular files, directories, most
//    character devices) are refused with PermissionError (EPERM), as
//    EpollSelector does, rather than reported always ready as libkev's POLL
//    does: see register().

#include "common.hpp"

#include <cerrno>
#include <cstring>
#include <new>
#include <unordered_map>
#include <vector>

#include <sys/epoll.h>
#include <sys/stat.h>
#include <unistd.h>

#include <kevent.h>

namespace kevpy {
namespace {

constexpr int EV_READ = 1;	// selectors.EVENT_READ
constexpr int EV_WRITE = 2;	// selectors.EVENT_WRITE
constexpr int SMALL_FDS = 1 << 20;	// fds below this: a vector slot

struct Slot {
	PyObject *key = nullptr;	// the SelectorKey (owned); nullptr: free
	std::uint64_t cookie = 0;	// struct ukevent.user of its entries
	std::uint32_t stamp = 0;	// the select() pass that saw it last
	std::int32_t index = -1;	// its place in that pass's results
	std::uint8_t events = 0;	// EVENT_READ | EVENT_WRITE
};

struct Hit {
	PyObject *key;	// a new reference
	int events;
	int fd;
};

struct State {
	std::vector<Slot> small;
	std::unordered_map<int, Slot> big;
	std::vector<Hit> hits;
	Py_ssize_t count = 0;
	std::uint64_t next_cookie = 1;
	std::uint32_t epoch = 0;

	Slot *find(long long fd)
	{
		if (fd < 0)
			return nullptr;
		if (fd < (long long)small.size()) {
			Slot *s = &small[(size_t)fd];
			return s->key ? s : nullptr;
		}
		if (fd < SMALL_FDS || big.empty())
			return nullptr;
		auto it = big.find((int)fd);
		return it == big.end() ? nullptr : &it->second;
	}

	// A free slot for fd (fd known not to be registered).
	Slot *make(int fd)
	{
		if (fd < SMALL_FDS) {
			if ((size_t)fd >= small.size()) {
				size_t n = small.size() ? small.size() : 64;
				while (n <= (size_t)fd)
					n *= 2;
				if (n > (size_t)SMALL_FDS)
					n = SMALL_FDS;
				small.resize(n);
			}
			return &small[(size_t)fd];
		}
		return &big[fd];
	}

	void erase(int fd)
	{
		if (fd < SMALL_FDS) {
			Slot &s = small[(size_t)fd];
			s.key = nullptr;
			s.stamp = 0;
			s.index = -1;
		} else {
			big.erase(fd);
		}
	}

	template <typename F> void each(F f)
	{
		for (size_t i = 0; i < small.size(); i++)
			if (small[i].key)
				f((int)i, small[i]);
		for (auto &kv : big)
			if (kv.second.key)
				f(kv.first, kv.second);
	}
};

struct Core {
	PyObject_HEAD
	int fd;
	struct kevent_ring *ring;
	State *st;
};

PyObject *key_type;	// selectors.SelectorKey
PyObject *str_fileno;

// ---------------------------------------------------------------- helpers

PyObject *err_selector_closed()
{
	PyErr_SetString(PyExc_RuntimeError, "Selector is closed");
	return nullptr;
}

// The fd of fileobj as selectors._fileobj_to_fd computes it: an int, or
// int(fileobj.fileno()); ValueError for anything else or a negative fd.
// An fd too large for a C int is returned as is (> INT_MAX): register()
// says OverflowError, the lookups "not registered".  -1 with an exception.
long long fileobj_to_fd(PyObject *fileobj)
{
	PyObject *num;

	if (PyLong_Check(fileobj)) {
		num = fileobj;
		Py_INCREF(num);
	} else {
		PyObject *r = PyObject_CallMethodNoArgs(fileobj, str_fileno);
		if (!r)
			goto invalid;
		num = PyNumber_Long(r);
		Py_DECREF(r);
		if (!num)
			goto invalid;
	}
	{
		int overflow = 0;
		long long fd = PyLong_AsLongLongAndOverflow(num, &overflow);
		Py_DECREF(num);
		if (fd == -1 && PyErr_Occurred())
			return -1;
		if (overflow > 0)
			return (long long)INT32_MAX + 1;
		if (overflow < 0 || fd < 0) {
			PyErr_Format(PyExc_ValueError,
				     "Invalid file descriptor: %lld (fileobj "
				     "must be a file descriptor >= 0 or have a "
				     "fileno() method)", overflow ? -1LL : fd);
			return -1;
		}
		return fd;
	}
invalid:
	if (PyErr_ExceptionMatches(PyExc_AttributeError) ||
	    PyErr_ExceptionMatches(PyExc_TypeError) ||
	    PyErr_ExceptionMatches(PyExc_ValueError)) {
		PyErr_Clear();
		PyErr_Format(PyExc_ValueError, "Invalid file object: %R "
			     "(fileobj must be a file descriptor or have a "
			     "fileno() method)", fileobj);
	}
	return -1;
}

// selectors' _fileobj_lookup: the fd, or, when fileobj has no valid fd any
// more (a closed file object), the fd of the key that holds that very
// object.
long long lookup_fd(Core *self, PyObject *fileobj)
{
	long long fd = fileobj_to_fd(fileobj);

	if (fd >= 0 || !PyErr_ExceptionMatches(PyExc_ValueError))
		return fd;
	long long found = -1;
	self->st->each([&](int f, Slot &s) {
		if (found < 0 && PyTuple_GET_ITEM(s.key, 0) == fileobj)
			found = f;
	});
	if (found >= 0)
		PyErr_Clear();
	return found;
}

// The events argument: a nonzero int with no bit but READ and WRITE.
int parse_events(PyObject *obj)
{
	if (!PyLong_Check(obj)) {
		PyErr_Format(PyExc_TypeError,
			     "events must be an int (EVENT_READ | EVENT_WRITE), "
			     "not %.100s", Py_TYPE(obj)->tp_name);
		return -1;
	}
	int overflow = 0;
	long v = PyLong_AsLongAndOverflow(obj, &overflow);
	if (v == -1 && PyErr_Occurred())
		return -1;
	if (overflow || v <= 0 || (v & ~(long)(EV_READ | EV_WRITE))) {
		PyErr_Format(PyExc_ValueError, "Invalid events: %R (events "
			     "must be EVENT_READ, EVENT_WRITE or both)", obj);
		return -1;
	}
	return (int)v;
}

std::uint32_t poll_mask(int events)
{
	return (events & EV_READ ? KEVENT_POLL_IN : 0) |
	       (events & EV_WRITE ? KEVENT_POLL_OUT : 0);
}

// SelectorKey(fileobj, fd, events, data), made as tuple.__new__ would make
// it (the namedtuple's __new__ is Python code).
PyObject *make_key(PyObject *fileobj, PyObject *fd, int events, PyObject *data)
{
	PyTypeObject *tp = (PyTypeObject *)key_type;
	PyObject *k = tp->tp_alloc(tp, 4);

	if (!k)
		return nullptr;
	PyObject *ev = PyLong_FromLong(events);
	if (!ev) {
		Py_DECREF(k);
		return nullptr;
	}
	Py_INCREF(fileobj);
	Py_INCREF(fd);
	Py_INCREF(data);
	PyTuple_SET_ITEM(k, 0, fileobj);
	PyTuple_SET_ITEM(k, 1, fd);
	PyTuple_SET_ITEM(k, 2, ev);
	PyTuple_SET_ITEM(k, 3, data);
	return k;
}

// Arguments of a METH_FASTCALL | METH_KEYWORDS method by name: out[i] is
// the argument called names[i] or nullptr; the first `required` are
// required.  Borrowed references.  0 or -1 with TypeError set.
int parse_args(const char *fname, PyObject *const *args, Py_ssize_t nargs,
	       PyObject *kwnames, const char *const *names, int n,
	       int required, PyObject **out)
{
	for (int i = 0; i < n; i++)
		out[i] = nullptr;
	if (nargs > n) {
		PyErr_Format(PyExc_TypeError, "%s() takes at most %d "
			     "arguments (%zd given)", fname, n, nargs);
		return -1;
	}
	for (Py_ssize_t i = 0; i < nargs; i++)
		out[i] = args[i];
	Py_ssize_t nkw = kwnames ? PyTuple_GET_SIZE(kwnames) : 0;
	for (Py_ssize_t k = 0; k < nkw; k++) {
		PyObject *kw = PyTuple_GET_ITEM(kwnames, k);
		int i;
		for (i = 0; i < n; i++)
			if (PyUnicode_CompareWithASCIIString(kw, names[i]) == 0)
				break;
		if (i == n) {
			PyErr_Format(PyExc_TypeError, "%s() got an unexpected "
				     "keyword argument '%U'", fname, kw);
			return -1;
		}
		if (out[i]) {
			PyErr_Format(PyExc_TypeError, "%s() got multiple "
				     "values for argument '%s'", fname,
				     names[i]);
			return -1;
		}
		out[i] = args[nargs + k];
	}
	for (int i = 0; i < required; i++) {
		if (!out[i]) {
			PyErr_Format(PyExc_TypeError, "%s() missing required "
				     "argument '%s'", fname, names[i]);
			return -1;
		}
	}
	return 0;
}

// Would epoll(7) refuse this fd?  Sockets and FIFOs never; for anything
// else ask a private epoll instance (one per process; the GIL serialises
// its use).  0: pollable (or unknown: kevent_ctl will say), 1: EPERM,
// -1 with an exception (fstat failed: EBADF and friends).
int epoll_refuses(int fd)
{
	static int probe = -1;
	static pid_t probe_pid;
	struct stat sb;

	if (fstat(fd, &sb) < 0)
		return err_errno(errno), -1;
	if (S_ISSOCK(sb.st_mode) || S_ISFIFO(sb.st_mode))
		return 0;
	pid_t pid = getpid();
	if (probe < 0 || probe_pid != pid) {
		if (probe >= 0)
			close(probe);	// the parent's, inherited by fork
		probe = epoll_create1(EPOLL_CLOEXEC);
		probe_pid = pid;
		if (probe < 0)
			return 0;
	}
	struct epoll_event ev = {};
	if (epoll_ctl(probe, EPOLL_CTL_ADD, fd, &ev) == 0) {
		epoll_ctl(probe, EPOLL_CTL_DEL, fd, &ev);
		return 0;
	}
	return errno == EPERM ? 1 : 0;
}

// Take what the ring holds into st->hits (keys referenced), without
// creating any Python object.  *dup is set when a registration already
// seen in this select() comes again.  Returns the number of entries taken.
unsigned int collect(Core *self, bool *dup)
{
	State *st = self->st;
	struct kevent_ring *ring = self->ring;
	unsigned int n = kevent_ring_count(ring);
	const struct ukevent *ents = kevent_ring_entries(ring);
	unsigned int u = kevent_load_relaxed(&ring->uidx);
	unsigned int mask = ring->mask;

	for (unsigned int i = 0; i < n; i++) {
		const struct ukevent &e = ents[(u + i) & mask];
		if (e.type != KEVENT_POLL || e.id > (std::uint64_t)INT32_MAX)
			continue;
		Slot *s = st->find((long long)e.id);
		if (!s || s->cookie != e.user)
			continue;	// stale: unregistered since
		int ev = 0;
		if (e.event & ~(std::uint32_t)KEVENT_POLL_IN)
			ev |= EV_WRITE;
		if (e.event & ~(std::uint32_t)KEVENT_POLL_OUT)
			ev |= EV_READ;
		ev &= s->events;
		if (s->stamp == st->epoch) {
			*dup = true;
			// (the bounds check keeps concurrent select() calls from
			// two threads, which selectors do not support, memory-safe)
			if (s->index >= 0 && (size_t)s->index < st->hits.size() &&
			    st->hits[(size_t)s->index].fd == (int)e.id) {
				st->hits[(size_t)s->index].events |= ev;
				continue;
			}
		}
		s->stamp = st->epoch;
		if (!ev)
			continue;
		s->index = (std::int32_t)st->hits.size();
		Py_INCREF(s->key);
		st->hits.push_back(Hit{s->key, ev, (int)e.id});
	}
	kevent_ring_advance(ring, n);
	return n;
}

void drop_hits(State *st, size_t from)
{
	for (size_t i = from; i < st->hits.size(); i++)
		Py_DECREF(st->hits[i].key);
	st->hits.clear();
}

// Remove every registration's key (the queue is closed, or the object is
// garbage).
void clear_slots(State *st)
{
	std::vector<PyObject *> keys;
	st->each([&](int, Slot &s) {
		keys.push_back(s.key);
		s.key = nullptr;
	});
	st->small.clear();
	st->big.clear();
	st->count = 0;
	for (PyObject *k : keys)
		Py_DECREF(k);
}

// -------------------------------------------------------------- the type

int Core_traverse(PyObject *o, visitproc visit, void *arg)
{
	Core *self = (Core *)o;

	Py_VISIT(Py_TYPE(o));
	if (self->st) {
		for (Slot &s : self->st->small)
			Py_VISIT(s.key);
		for (auto &kv : self->st->big)
			Py_VISIT(kv.second.key);
	}
	return 0;
}

int Core_clear(PyObject *o)
{
	Core *self = (Core *)o;

	if (self->st)
		clear_slots(self->st);
	return 0;
}

void close_queue(Core *self)
{
	if (self->fd >= 0) {
		int fd = self->fd;
		self->fd = -1;
		self->ring = nullptr;
		kevent_close(fd);
	}
}

void Core_dealloc(PyObject *o)
{
	Core *self = (Core *)o;
	PyTypeObject *tp = Py_TYPE(o);

	PyObject_GC_UnTrack(o);
	Core_clear(o);
	close_queue(self);
	delete self->st;
	self->st = nullptr;
	tp->tp_free(o);
	Py_DECREF(tp);
}

PyObject *Core_new(PyTypeObject *type, PyObject *, PyObject *)
{
	Core *self = (Core *)type->tp_alloc(type, 0);

	if (!self)
		return nullptr;
	self->fd = -1;
	self->ring = nullptr;
	self->st = new (std::nothrow) State();
	if (!self->st) {
		Py_DECREF(self);
		return PyErr_NoMemory();
	}
	return (PyObject *)self;
}

// SelectorCore.__init__(size, flags): kevent_init(size, flags), the
// arguments already checked by kevent.KeventSelector.
int Core_init(PyObject *o, PyObject *args, PyObject *kwds)
{
	Core *self = (Core *)o;
	static const char *kwlist[] = {"size", "flags", nullptr};
	unsigned int size = 0, flags = 0;
	struct kevent_ring *ring = nullptr;
	int fd, err;

	if (!PyArg_ParseTupleAndKeywords(args, kwds, "|II", (char **)kwlist,
					 &size, &flags))
		return -1;
	if (self->fd >= 0) {
		PyErr_SetString(PyExc_RuntimeError,
				"the selector is initialised already");
		return -1;
	}
	Py_BEGIN_ALLOW_THREADS
	fd = kevent_init(&ring, size, flags);
	err = errno;
	Py_END_ALLOW_THREADS
	if (fd < 0) {
		err_errno(err);
		return -1;
	}
	self->fd = fd;
	self->ring = ring;
	return 0;
}

PyObject *Core_register(PyObject *o, PyObject *const *args, Py_ssize_t nargs,
			PyObject *kwnames)
{
	Core *self = (Core *)o;
	static const char *const names[] = {"fileobj", "events", "data"};
	PyObject *a[3];

	if (parse_args("register", args, nargs, kwnames, names, 3, 2, a) < 0)
		return nullptr;
	PyObject *fileobj = a[0], *data = a[2] ? a[2] : Py_None;
	int events = parse_events(a[1]);
	if (events < 0)
		return nullptr;
	if (self->fd < 0)
		return err_closed();
	long long fd = lookup_fd(self, fileobj);
	if (fd < 0)
		return nullptr;
	State *st = self->st;
	if (st->find(fd)) {
		PyErr_Format(PyExc_KeyError, "%R (FD %lld) is already registered",
			     fileobj, fd);
		return nullptr;
	}
	if (fd > INT32_MAX) {
		PyErr_Format(PyExc_OverflowError, "fileobj: file descriptor %lld "
			     "is out of range", fd);
		return nullptr;
	}
	if (fd == self->fd) {
		// epoll_ctl(2) says EINVAL for an epoll fd added to itself
		// (libkev would say ELOOP): as EpollSelector
		return err_errno(EINVAL);
	}
	int refused = epoll_refuses((int)fd);
	if (refused < 0)
		return nullptr;
	if (refused) {
		// as epoll_ctl(2) says for a file that has no poll method
		errno = EPERM;
		return PyErr_SetFromErrno(PyExc_OSError);
	}
	PyObject *fdobj = PyLong_FromLongLong(fd);
	if (!fdobj)
		return nullptr;
	PyObject *key = make_key(fileobj, fdobj, events, data);
	Py_DECREF(fdobj);
	if (!key)
		return nullptr;
	struct ukevent ev = {};
	ev.id = (std::uint64_t)fd;
	ev.type = KEVENT_POLL;
	ev.event = poll_mask(events);
	ev.user = st->next_cookie;
	if (kevent_ctl(self->fd, KEVENT_CTL_ADD, 1, &ev) != 1) {
		int err = (ev.ret_flags & KEVENT_RET_ERROR) && ev.ret_data ?
			(int)ev.ret_data : errno;
		Py_DECREF(key);
		return err_errno(err ? err : EIO);
	}
	Slot *s;
	try {
		s = st->make((int)fd);
	} catch (const std::bad_alloc &) {
		ev.user = 0;
		kevent_ctl(self->fd, KEVENT_CTL_REMOVE, 1, &ev);
		Py_DECREF(key);
		return PyErr_NoMemory();
	}
	s->key = key;
	s->cookie = st->next_cookie++;
	s->events = (std::uint8_t)events;
	s->stamp = 0;
	s->index = -1;
	st->count++;
	Py_INCREF(key);
	return key;
}

// Forget fd's registration and remove it from the queue (errors ignored:
// the fd may be closed, as EpollSelector ignores).  Returns the key (a
// new reference).
PyObject *forget(Core *self, int fd)
{
	State *st = self->st;
	Slot *s = st->find(fd);
	PyObject *key = s->key;

	st->erase(fd);
	st->count--;
	if (self->fd >= 0) {
		struct ukevent ev = {};
		ev.id = (std::uint64_t)fd;
		ev.type = KEVENT_POLL;
		kevent_ctl(self->fd, KEVENT_CTL_REMOVE, 1, &ev);
	}
	return key;
}

PyObject *not_registered(PyObject *fileobj)
{
	PyErr_Format(PyExc_KeyError, "%R is not registered", fileobj);
	return nullptr;
}

PyObject *Core_unregister(PyObject *o, PyObject *const *args,
			  Py_ssize_t nargs, PyObject *kwnames)
{
	Core *self = (Core *)o;
	static const char *const names[] = {"fileobj"};
	PyObject *a[1];

	if (parse_args("unregister", args, nargs, kwnames, names, 1, 1, a) < 0)
		return nullptr;
	long long fd = lookup_fd(self, a[0]);
	if (fd < 0)
		return nullptr;
	if (!self->st->find(fd))
		return not_registered(a[0]);
	return forget(self, (int)fd);
}

PyObject *Core_modify(PyObject *o, PyObject *const *args, Py_ssize_t nargs,
		      PyObject *kwnames)
{
	Core *self = (Core *)o;
	static const char *const names[] = {"fileobj", "events", "data"};
	PyObject *a[3];

	if (parse_args("modify", args, nargs, kwnames, names, 3, 2, a) < 0)
		return nullptr;
	PyObject *fileobj = a[0], *data = a[2] ? a[2] : Py_None;
	long long fd = lookup_fd(self, fileobj);
	if (fd < 0)
		return nullptr;
	Slot *s = self->st->find(fd);
	if (!s)
		return not_registered(fileobj);
	PyObject *key = s->key;
	bool changed = false;
	int events = parse_events(a[1]);
	if (events < 0)
		return nullptr;
	if (events != s->events) {
		struct ukevent ev = {};
		ev.id = (std::uint64_t)fd;
		ev.type = KEVENT_POLL;
		ev.event = poll_mask(events);
		ev.user = s->cookie;
		if (self->fd < 0)
			return err_closed();
		if (kevent_ctl(self->fd, KEVENT_CTL_MODIFY, 1, &ev) != 1) {
			int err = (ev.ret_flags & KEVENT_RET_ERROR) &&
				ev.ret_data ? (int)ev.ret_data : errno;
			// as EpollSelector: a failed modify unregisters
			Py_DECREF(forget(self, (int)fd));
			return err_errno(err ? err : EIO);
		}
		s->events = (std::uint8_t)events;
		changed = true;
	}
	Py_INCREF(key);		// the comparison may run Python code
	int ne = PyObject_RichCompareBool(data, PyTuple_GET_ITEM(key, 3), Py_NE);
	if (ne < 0) {
		Py_DECREF(key);
		return nullptr;
	}
	if (!changed && !ne)
		return key;
	PyObject *nkey = make_key(PyTuple_GET_ITEM(key, 0),
				  PyTuple_GET_ITEM(key, 1), events, data);
	if (!nkey) {
		Py_DECREF(key);
		return nullptr;
	}
	// the slot may have gone while Python code ran (the comparison)
	s = self->st->find(fd);
	if (s && s->key == key) {
		s->key = nkey;
		Py_INCREF(nkey);
		Py_DECREF(key);		// the slot's reference
	}
	Py_DECREF(key);
	return nkey;
}

PyObject *Core_select(PyObject *o, PyObject *const *args, Py_ssize_t nargs,
		      PyObject *kwnames)
{
	Core *self = (Core *)o;
	static const char *const names[] = {"timeout"};
	PyObject *a[1];
	Deadline dl;

	if (parse_args("select", args, nargs, kwnames, names, 1, 0, a) < 0)
		return nullptr;
	if (dl.parse(a[0] ? a[0] : Py_None, "timeout") < 0)
		return nullptr;
	if (self->fd < 0)
		return err_closed();
	State *st = self->st;
	for (;;) {
		int n = wait_released(&self->fd, 1, dl);
		if (n < 0)
			return nullptr;
		if (++st->epoch == 0) {	// wrapped: forget old stamps
			st->each([](int, Slot &s) { s.stamp = 0; });
			st->epoch = 1;
		}
		bool dup = false;
		unsigned int size = self->ring->size;
		unsigned int got = collect(self, &dup);
		while (got == size && !dup) {
			// the ring was full: more may be ready
			Deadline now;
			now.forever = false;
			now.at_ns = 0;
			int m = wait_released(&self->fd, 1, now);
			if (m < 0) {
				drop_hits(st, 0);
				return nullptr;
			}
			got = collect(self, &dup);
		}
		if (!st->hits.empty() || n == 0)
			break;
		// only stale entries: wait on for the rest of the timeout
	}
	size_t nhits = st->hits.size();
	PyObject *list = PyList_New((Py_ssize_t)nhits);
	if (!list) {
		drop_hits(st, 0);
		return nullptr;
	}
	for (size_t i = 0; i < nhits; i++) {
		Hit &h = st->hits[i];
		PyObject *t = PyTuple_New(2);
		if (!t) {
			drop_hits(st, i);
			Py_DECREF(list);
			return nullptr;
		}
		PyTuple_SET_ITEM(t, 0, h.key);	// the reference taken
		PyTuple_SET_ITEM(t, 1, PyLong_FromLong(h.events));
		PyList_SET_ITEM(list, (Py_ssize_t)i, t);
	}
	st->hits.clear();
	return list;
}

PyObject *Core_get_key(PyObject *o, PyObject *const *args, Py_ssize_t nargs,
		       PyObject *kwnames)
{
	Core *self = (Core *)o;
	static const char *const names[] = {"fileobj"};
	PyObject *a[1];

	if (parse_args("get_key", args, nargs, kwnames, names, 1, 1, a) < 0)
		return nullptr;
	if (self->fd < 0)
		return err_selector_closed();
	long long fd = lookup_fd(self, a[0]);
	if (fd < 0)
		return nullptr;
	Slot *s = self->st->find(fd);
	if (!s)
		return not_registered(a[0]);
	Py_INCREF(s->key);
	return s->key;
}

// For the mapping of get_map(): KeyError when closed or not registered.
PyObject *Core_get(PyObject *o, PyObject *fileobj)
{
	Core *self = (Core *)o;

	if (self->fd < 0)
		return not_registered(fileobj);
	long long fd = lookup_fd(self, fileobj);
	if (fd < 0)
		return nullptr;
	Slot *s = self->st->find(fd);
	if (!s)
		return not_registered(fileobj);
	Py_INCREF(s->key);
	return s->key;
}

PyObject *Core_fds(PyObject *o, PyObject *)
{
	Core *self = (Core *)o;
	PyObject *list = PyList_New(0);

	if (!list)
		return nullptr;
	bool failed = false;
	self->st->each([&](int fd, Slot &) {
		if (failed)
			return;
		PyObject *n = PyLong_FromLong(fd);
		if (!n || PyList_Append(list, n) < 0)
			failed = true;
		Py_XDECREF(n);
	});
	if (failed) {
		Py_DECREF(list);
		return nullptr;
	}
	return list;
}

PyObject *Core_close(PyObject *o, PyObject *)
{
	Core *self = (Core *)o;

	close_queue(self);
	clear_slots(self->st);
	Py_RETURN_NONE;
}

PyObject *Core_fileno(PyObject *o, PyObject *)
{
	Core *self = (Core *)o;

	if (self->fd < 0)
		return err_closed();
	return PyLong_FromLong(self->fd);
}

PyObject *Core_get_backend(PyObject *o, void *)
{
	Core *self = (Core *)o;

	if (self->fd < 0)
		return err_closed();
	const char *name = kevent_backend(self->fd);
	if (!name)
		return err_errno(errno);
	return PyUnicode_FromString(name);
}

PyObject *Core_get_count(PyObject *o, void *)
{
	return PyLong_FromSsize_t(((Core *)o)->st->count);
}

PyObject *Core_get_ring_size(PyObject *o, void *)
{
	Core *self = (Core *)o;

	if (self->fd < 0)
		return err_closed();
	return PyLong_FromUnsignedLong(self->ring->size);
}

PyObject *Core_get_closed(PyObject *o, void *)
{
	return PyBool_FromLong(((Core *)o)->fd < 0);
}

PyMethodDef Core_methods[] = {
	{"register", (PyCFunction)(void (*)(void))Core_register,
	 METH_FASTCALL | METH_KEYWORDS,
	 "register(fileobj, events, data=None) -> SelectorKey\n\n"
	 "Register a file object for EVENT_READ and/or EVENT_WRITE.\n"
	 "ValueError for bad events or an invalid file object, KeyError if\n"
	 "it is registered already, PermissionError (EPERM) for a file that\n"
	 "epoll(7) refuses (a regular file, a directory), OSError otherwise."},
	{"unregister", (PyCFunction)(void (*)(void))Core_unregister,
	 METH_FASTCALL | METH_KEYWORDS,
	 "unregister(fileobj) -> SelectorKey\n\n"
	 "Unregister a file object (also one closed since it was\n"
	 "registered); KeyError if it is not registered. Its events still\n"
	 "in the ring are dropped."},
	{"modify", (PyCFunction)(void (*)(void))Core_modify,
	 METH_FASTCALL | METH_KEYWORDS,
	 "modify(fileobj, events, data=None) -> SelectorKey\n\n"
	 "Change the events or the data of a registered file object. If\n"
	 "the change of events fails (OSError), the file object is\n"
	 "unregistered, as EpollSelector does."},
	{"select", (PyCFunction)(void (*)(void))Core_select,
	 METH_FASTCALL | METH_KEYWORDS,
	 "select(timeout=None) -> list of (SelectorKey, events)\n\n"
	 "Wait until some registered file objects are ready, or the timeout\n"
	 "(seconds; None: forever; <= 0: do not block) expires, and return\n"
	 "every ready one, once, whatever the size of the ring. The GIL is\n"
	 "released while waiting; a signal runs its Python handler, and the\n"
	 "wait goes on with the rest of the timeout unless it raises."},
	{"get_key", (PyCFunction)(void (*)(void))Core_get_key,
	 METH_FASTCALL | METH_KEYWORDS,
	 "get_key(fileobj) -> SelectorKey\n\n"
	 "The key of a registered file object; KeyError if it is not\n"
	 "registered, RuntimeError if the selector is closed."},
	{"fileno", Core_fileno, METH_NOARGS,
	 "The fd of the kevent queue under the selector."},
	{"_get", Core_get, METH_O,
	 "The key of fileobj; KeyError if closed or not registered."},
	{"_fds", Core_fds, METH_NOARGS, "The registered fds."},
	{"_close", Core_close, METH_NOARGS,
	 "Close the queue and drop every key (idempotent)."},
	{nullptr, nullptr, 0, nullptr},
};

PyGetSetDef Core_getset[] = {
	{"backend", Core_get_backend, nullptr,
	 "The libkev backend of the queue: kmod, uring or epoll.", nullptr},
	{"_count", Core_get_count, nullptr, "Registered fds.", nullptr},
	{"_ring_size", Core_get_ring_size, nullptr, "Entries of the ring.",
	 nullptr},
	{"_closed", Core_get_closed, nullptr, "True once closed.", nullptr},
	{nullptr, nullptr, nullptr, nullptr, nullptr},
};

PyType_Slot Core_slots[] = {
	{Py_tp_doc, (void *)"The C body of kevent.KeventSelector."},
	{Py_tp_new, (void *)Core_new},
	{Py_tp_init, (void *)Core_init},
	{Py_tp_dealloc, (void *)Core_dealloc},
	{Py_tp_traverse, (void *)Core_traverse},
	{Py_tp_clear, (void *)Core_clear},
	{Py_tp_methods, (void *)Core_methods},
	{Py_tp_getset, (void *)Core_getset},
	{0, nullptr},
};

PyType_Spec Core_spec = {
	"kevent._kevent.SelectorCore",
	sizeof(Core),
	0,
	Py_TPFLAGS_DEFAULT | Py_TPFLAGS_BASETYPE | Py_TPFLAGS_HAVE_GC,
	Core_slots,
};

} // namespace

int add_selector_core(PyObject *module)
{
	PyObject *selectors = PyImport_ImportModule("selectors");
	if (!selectors)
		return -1;
	key_type = PyObject_GetAttrString(selectors, "SelectorKey");
	Py_DECREF(selectors);
	if (!key_type)
		return -1;
	if (!PyType_Check(key_type) ||
	    !PyType_IsSubtype((PyTypeObject *)key_type, &PyTuple_Type)) {
		PyErr_SetString(PyExc_TypeError,
				"selectors.SelectorKey is not a tuple type");
		return -1;
	}
	str_fileno = PyUnicode_InternFromString("fileno");
	if (!str_fileno)
		return -1;
	PyObject *type = PyType_FromSpec(&Core_spec);
	if (!type)
		return -1;
	if (PyModule_AddObject(module, "SelectorCore", type) < 0) {
		Py_DECREF(type);
		return -1;
	}
	return 0;
}

} // namespace kevpy
