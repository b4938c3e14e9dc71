// SPDX-License-Identifier: MIT
//
// Helpers shared by the C++ tests: errors, raw C calls, and synchronising
// on state ("thread T is asleep inside kevent_wait") instead of sleeping.
#ifndef KEVENT_TEST_COMMON_HPP
#define KEVENT_TEST_COMMON_HPP

#include <kevent.hpp>

#include <gtest/gtest.h>

#include <dlfcn.h>
#include <fcntl.h>
#include <linux/futex.h>
#include <pthread.h>
#include <signal.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <limits>
#include <sstream>
#include <string>
#include <thread>

namespace testutil {

using namespace std::chrono_literals;
using std::chrono::steady_clock;

inline constexpr std::int64_t int64_max = std::numeric_limits<std::int64_t>::max();

// The errno carried by the std::system_error that f throws (0 if none).
template <class F>
inline int thrown_errno(F &&f)
{
	try {
		f();
	} catch (const std::system_error &e) {
		EXPECT_EQ(&e.code().category(), &std::generic_category())
			<< "error category is " << e.code().category().name();
		return e.code().value();
	}
	return 0;
}

// kevent_ctl() on one key through the C API: 0, the entry's errno, or
// -errno for a whole-call failure.
inline int raw_ctl(int fd, unsigned int cmd, std::uint32_t type, std::uint64_t id)
{
	ukevent e{};
	e.type = type;
	e.id = id;
	const int r = kevent_ctl(fd, cmd, 1, &e);
	if (r < 0)
		return -errno;
	if (r == 0)
		return static_cast<int>(e.ret_data);
	return 0;
}

inline int raw_remove(int fd, std::uint32_t type, std::uint64_t id)
{
	return raw_ctl(fd, KEVENT_CTL_REMOVE, type, id);
}

// kevent_wait() through the C API (for a dispatcher's queue, which the
// C++ API does not let a const reference wait on): the count, or -errno.
inline int raw_wait(int fd, std::chrono::milliseconds timeout, unsigned int min_nr = 1)
{
	timespec ts{};
	ts.tv_sec = static_cast<time_t>(timeout.count() / 1000);
	ts.tv_nsec = static_cast<long>(timeout.count() % 1000) * 1000000;
	const int n = kevent_wait(fd, min_nr, &ts);
	return n < 0 ? -errno : n;
}

// kevent_ctl(ADD) of one entry through the C API: 0, or the entry's errno.
inline int raw_add(int fd, ukevent ev)
{
	const int r = kevent_ctl(fd, KEVENT_CTL_ADD, 1, &ev);
	if (r < 0)
		return -errno;
	return r == 0 ? static_cast<int>(ev.ret_data) : 0;
}

inline bool ring_empty(const kevent::queue &q)
{
	return kevent_ring_empty(q.ring()) != 0;
}

inline bool fd_is_open(int fd)
{
	return fcntl(fd, F_GETFD) != -1 || errno != EBADF;
}

// Wait (up to 5 s) for the ring to hold an event and copy the oldest out.
inline ukevent next_event(kevent::queue &q)
{
	std::optional<ukevent> ev = q.dequeue_for(5s);
	if (!ev) {
		ADD_FAILURE() << "no event within 5 s";
		return ukevent{};
	}
	return *ev;
}

// Block a signal in this thread for the test's duration; drain it after.
class blocked_signal {
public:
	explicit blocked_signal(int signo) : signo_(signo)
	{
		sigset_t set;
		sigemptyset(&set);
		sigaddset(&set, signo_);
		pthread_sigmask(SIG_BLOCK, &set, &old_);
	}
	~blocked_signal()
	{
		sigset_t set, pending;
		sigemptyset(&set);
		sigaddset(&set, signo_);
		sigpending(&pending);
		if (sigismember(&pending, signo_)) {
			timespec zero{};
			sigtimedwait(&set, nullptr, &zero);
		}
		pthread_sigmask(SIG_SETMASK, &old_, nullptr);
	}
	blocked_signal(const blocked_signal &) = delete;
	blocked_signal &operator=(const blocked_signal &) = delete;

private:
	int signo_;
	sigset_t old_;
};

// ------------------------------------------------------------------------
// Synchronising on state: "thread T is asleep inside kevent_wait".
//
// A test that means "the waiter is blocked when the other thread acts" does
// not sleep and hope: it reads the waiter's state from /proc.  Its stat
// says S (sleeping) and its syscall file names the system call it sleeps
// in, with the arguments.  kevent_wait sleeps in (libkev/ubackend.cpp,
// waitset-epoll.c, waitset-uring.c, backend-kmod.c):
//   futex           FUTEX_WAIT_PRIVATE with a timeout, made through libc's
//                   syscall() (a queue with USER events only); glibc's own
//                   waits (mutexes, condition variables, joins) make their
//                   calls inline.  Interrupted by io_uring task work it is
//                   restarted, and then shows as restart_syscall.
//   epoll_pwait2    the epoll backend (epoll_pwait before Linux 5.11)
//   io_uring_enter  the uring backend, with IORING_ENTER_GETEVENTS
//   ioctl           the kmod backend, KEVENT_IOC_WAIT

// A deadlock detector, not a measure: a correct library reaches the state
// at once; the bound only turns a hang into a failure.
inline constexpr auto state_timeout = std::chrono::seconds(60);

inline pid_t current_tid()
{
	return static_cast<pid_t>(::syscall(SYS_gettid));
}

inline std::string read_text(const std::string &path)
{
	std::ifstream f(path);
	std::ostringstream s;
	s << f.rdbuf();
	return s.str();
}

inline std::uintptr_t libc_syscall_address()
{
	static const std::uintptr_t addr = [] {
		void *libc = dlopen("libc.so.6", RTLD_NOW | RTLD_NOLOAD);
		void *sym = libc ? dlsym(libc, "syscall") : nullptr;
		return reinterpret_cast<std::uintptr_t>(sym);
	}();
	return addr;
}

// The thread's state and its /proc syscall line, for messages.
inline std::string thread_state(pid_t tid)
{
	const std::string dir = "/proc/self/task/" + std::to_string(tid);
	const std::string stat = read_text(dir + "/stat");
	const std::size_t paren = stat.rfind(')');
	if (paren == std::string::npos || paren + 2 >= stat.size())
		return "gone";
	std::string sc = read_text(dir + "/syscall");
	if (!sc.empty() && sc.back() == '\n')
		sc.pop_back();
	return std::string(1, stat[paren + 2]) + " " + sc;
}

inline bool asleep_in_kevent_wait(pid_t tid)
{
	std::istringstream in(thread_state(tid));
	std::string state, nr_s;
	if (!(in >> state >> nr_s) || state != "S" || nr_s == "running" || nr_s == "-1")
		return false;
	std::array<std::uint64_t, 8> a{};	// 6 arguments, sp, pc
	for (auto &v : a) {
		std::string x;
		if (!(in >> x))
			return false;
		v = std::stoull(x, nullptr, 16);
	}
	const long nr = std::stol(nr_s);
	if (nr == SYS_futex || nr == SYS_restart_syscall) {
		const std::uint64_t pc = a[7], fn = libc_syscall_address();
		return fn && pc >= fn && pc - fn < 64 &&
		       (a[1] & FUTEX_CMD_MASK) == FUTEX_WAIT && a[3] != 0;
	}
#ifdef SYS_epoll_pwait2
	if (nr == SYS_epoll_pwait2)
		return true;
#endif
	if (nr == SYS_epoll_pwait)
		return true;
	if (nr == SYS_io_uring_enter)
		return (a[3] & 1u /* IORING_ENTER_GETEVENTS */) && a[2] != 0;
	if (nr == SYS_ioctl)
		return a[1] == static_cast<std::uint64_t>(KEVENT_IOC_WAIT);
	return false;
}

// How many times thread tid went to sleep (a new sleep makes it grow).
inline long voluntary_switches(pid_t tid)
{
	std::istringstream in(read_text("/proc/self/task/" + std::to_string(tid) + "/status"));
	std::string line;
	while (std::getline(in, line))
		if (line.rfind("voluntary_ctxt_switches:", 0) == 0)
			return std::stol(line.substr(line.find(':') + 1));
	return -1;
}

// Poll until thread tid sleeps in kevent_wait (true), or *stop becomes true
// first (false).  A failure if neither happens within state_timeout.
inline bool wait_until_asleep(pid_t tid, const std::atomic<bool> *stop = nullptr)
{
	const auto give_up = steady_clock::now() + state_timeout;
	while (!asleep_in_kevent_wait(tid)) {
		if (stop && stop->load())
			return false;
		if (steady_clock::now() > give_up) {
			ADD_FAILURE() << "thread " << tid << " never slept in kevent_wait: "
				      << thread_state(tid);
			return false;
		}
		std::this_thread::sleep_for(1ms);
	}
	return true;
}

// Run action on a thread of its own once thread tid (default: the caller)
// sleeps inside kevent_wait.  The caller calls finish() once its wait is
// over: if it never slept, the helper gives up without acting.  If the
// waiter is still in the same sleep state_timeout after the action (the
// action did not wake it), the test cannot end: it says so and aborts.
class when_asleep {
public:
	explicit when_asleep(std::function<void()> action, pid_t tid = current_tid())
		: tid_(tid), action_(std::move(action))
	{
		t_ = std::thread([this] { run(); });
	}
	~when_asleep() { finish(); }
	when_asleep(const when_asleep &) = delete;
	when_asleep &operator=(const when_asleep &) = delete;

	// The wait is over: stop watching; true if the action ran.
	bool finish()
	{
		done_.store(true);
		if (t_.joinable())
			t_.join();
		return acted_.load();
	}

private:
	void run()
	{
		if (!wait_until_asleep(tid_, &done_))
			return;
		const long before = voluntary_switches(tid_);
		action_();
		acted_.store(true);
		const auto give_up = steady_clock::now() + state_timeout;
		while (!done_.load()) {
			if (steady_clock::now() > give_up && asleep_in_kevent_wait(tid_) &&
			    voluntary_switches(tid_) == before) {
				std::fprintf(stderr, "thread %d still in the same kevent_wait "
					     "sleep %lld s after the action that should have "
					     "woken it\n", static_cast<int>(tid_),
					     static_cast<long long>(state_timeout.count()));
				std::abort();
			}
			std::this_thread::sleep_for(1ms);
		}
	}

	pid_t tid_;
	std::function<void()> action_;
	std::atomic<bool> done_{false};
	std::atomic<bool> acted_{false};
	std::thread t_;
};


// A child that exits with status when its gate closes.
struct gated_child {
	pid_t pid = -1;
	int gate = -1;
	explicit gated_child(int status)
	{
		int p[2];
		if (pipe2(p, O_CLOEXEC) != 0)
			return;
		pid = fork();
		if (pid == 0) {
			char c;
			close(p[1]);
			(void)!read(p[0], &c, 1);
			_exit(status);
		}
		close(p[0]);
		gate = p[1];
	}
	void open_gate()
	{
		if (gate >= 0)
			close(gate);
		gate = -1;
	}
	~gated_child()
	{
		open_gate();
		if (pid > 0)
			waitpid(pid, nullptr, 0);
	}
	gated_child(const gated_child &) = delete;
	gated_child &operator=(const gated_child &) = delete;
};

// A grandchild of the test that exits when its gate closes, reparented away
// (its parent, the test's child, has exited and been reaped): a process the
// test can watch but is not the parent of.  pid is -1 if it could not be
// made.
struct orphan {
	pid_t pid = -1;
	int gate = -1;
	orphan()
	{
		int g[2], p[2];
		if (pipe2(g, O_CLOEXEC) != 0)
			return;
		if (pipe2(p, O_CLOEXEC) != 0) {
			close(g[0]);
			close(g[1]);
			return;
		}
		const pid_t child = fork();
		if (child == 0) {
			const pid_t grandchild = fork();
			if (grandchild == 0) {
				char c;
				close(g[1]);
				(void)!read(g[0], &c, 1);
				_exit(0);
			}
			(void)!write(p[1], &grandchild, sizeof grandchild);
			_exit(0);
		}
		close(g[0]);
		gate = g[1];
		close(p[1]);
		if (child > 0) {
			pid_t gc = -1;
			if (read(p[0], &gc, sizeof gc) ==
			    static_cast<ssize_t>(sizeof gc))
				pid = gc;
			waitpid(child, nullptr, 0);
		}
		close(p[0]);
	}
	void open_gate()
	{
		if (gate >= 0)
			close(gate);
		gate = -1;
	}
	~orphan() { open_gate(); }
	orphan(const orphan &) = delete;
	orphan &operator=(const orphan &) = delete;
};

} // namespace testutil

using namespace testutil;

#endif
