// SPDX-License-Identifier: MIT
//
// Tests of the C++ bindings (bindings/cpp/kevent.hpp), GoogleTest.
// Built twice, as C++17 and as C++20 (span, concepts, ranges).
#include <kevent.hpp>

#include <gtest/gtest.h>

#include <dlfcn.h>
#include <fcntl.h>
#include <linux/futex.h>
#include <pthread.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <functional>
#include <limits>
#include <map>
#include <memory>
#include <mutex>
#include <ratio>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

using namespace std::chrono_literals;
using std::chrono::steady_clock;
using std::chrono::system_clock;

namespace {

constexpr std::int64_t int64_max = std::numeric_limits<std::int64_t>::max();

// The errno carried by the std::system_error that f throws (0 if none).
template <class F>
int thrown_errno(F &&f)
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
int raw_ctl(int fd, unsigned int cmd, std::uint32_t type, std::uint64_t id)
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

int raw_remove(int fd, std::uint32_t type, std::uint64_t id)
{
	return raw_ctl(fd, KEVENT_CTL_REMOVE, type, id);
}

bool fd_is_open(int fd)
{
	return fcntl(fd, F_GETFD) != -1 || errno != EBADF;
}

// Wait (up to 5 s) for the ring to hold an event and copy the oldest out.
ukevent next_event(const kevent::queue &q)
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
// in, with the arguments.  kevent_wait sleeps in (libkev/ubackend.c,
// waitset-epoll.cpp, waitset-uring.cpp, backend-kmod.c):
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
constexpr auto state_timeout = std::chrono::seconds(60);

pid_t current_tid()
{
	return static_cast<pid_t>(::syscall(SYS_gettid));
}

std::string read_text(const std::string &path)
{
	std::ifstream f(path);
	std::ostringstream s;
	s << f.rdbuf();
	return s.str();
}

std::uintptr_t libc_syscall_address()
{
	static const std::uintptr_t addr = [] {
		void *libc = dlopen("libc.so.6", RTLD_NOW | RTLD_NOLOAD);
		void *sym = libc ? dlsym(libc, "syscall") : nullptr;
		return reinterpret_cast<std::uintptr_t>(sym);
	}();
	return addr;
}

// The thread's state and its /proc syscall line, for messages.
std::string thread_state(pid_t tid)
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

bool asleep_in_kevent_wait(pid_t tid)
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
long voluntary_switches(pid_t tid)
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
bool wait_until_asleep(pid_t tid, const std::atomic<bool> *stop = nullptr)
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

} // namespace

// ================================================================ chrono

TEST(Chrono, ConvertsExactDurations)
{
	EXPECT_EQ(kevent::checked_nanoseconds(0s), 0);
	EXPECT_EQ(kevent::checked_nanoseconds(1s), 1000000000);
	EXPECT_EQ(kevent::checked_nanoseconds(250ms), 250000000);
	EXPECT_EQ(kevent::checked_nanoseconds(7us), 7000);
	EXPECT_EQ(kevent::checked_nanoseconds(42ns), 42);
	EXPECT_EQ(kevent::checked_nanoseconds(2h), 7200000000000);
	EXPECT_EQ(kevent::checked_nanoseconds(std::chrono::duration<double>(1.5e-3)), 1500000);
	EXPECT_EQ(kevent::checked_nanoseconds(std::chrono::duration<std::uint16_t, std::milli>(3)),
		  3000000);
}

TEST(Chrono, RoundsUpToWholeNanoseconds)
{
	using ps = std::chrono::duration<std::int64_t, std::pico>;
	EXPECT_EQ(kevent::checked_nanoseconds(ps(1)), 1);
	EXPECT_EQ(kevent::checked_nanoseconds(ps(1000)), 1);
	EXPECT_EQ(kevent::checked_nanoseconds(ps(1001)), 2);
	using third = std::chrono::duration<std::int64_t, std::ratio<1, 3>>;
	EXPECT_EQ(kevent::checked_nanoseconds(third(1)), 333333334);
	EXPECT_EQ(kevent::checked_nanoseconds(third(3)), 1000000000);
	// Floating-point counts are inexact: they round to the nearest.
	EXPECT_EQ(kevent::checked_nanoseconds(std::chrono::duration<double, std::nano>(0.25)), 0);
	EXPECT_EQ(kevent::checked_nanoseconds(std::chrono::duration<double, std::nano>(0.75)), 1);
	EXPECT_EQ(kevent::checked_nanoseconds(std::chrono::duration<double>(0.1)), 100000000);
}

TEST(Chrono, NegativeDurationsAreZero)
{
	EXPECT_EQ(kevent::checked_nanoseconds(-1s), 0);
	EXPECT_EQ(kevent::checked_nanoseconds(std::chrono::hours::min()), 0);
	EXPECT_EQ(kevent::checked_nanoseconds(std::chrono::duration<double>(-2.0)), 0);
	const timespec ts = kevent::to_timespec(-5ms);
	EXPECT_EQ(ts.tv_sec, 0);
	EXPECT_EQ(ts.tv_nsec, 0);
}

TEST(Chrono, LargestDurationsFitExactly)
{
	EXPECT_EQ(kevent::checked_nanoseconds(std::chrono::nanoseconds::max()), int64_max);
	EXPECT_EQ(kevent::checked_nanoseconds(std::chrono::seconds(9223372036)),
		  9223372036000000000);
	EXPECT_EQ(kevent::checked_nanoseconds(std::chrono::milliseconds(9223372036854)),
		  9223372036854000000);
	const timespec ts = kevent::to_timespec(std::chrono::nanoseconds::max());
	EXPECT_EQ(ts.tv_sec, 9223372036);
	EXPECT_EQ(ts.tv_nsec, 854775807);
}

TEST(Chrono, HugeDurationsThrowEOVERFLOWInsteadOfWrapping)
{
	using years = std::chrono::duration<std::int64_t, std::ratio<31556952>>;
	EXPECT_EQ(kevent::checked_nanoseconds(years(200)), 200LL * 31556952 * 1000000000LL);
	EXPECT_EQ(thrown_errno([] { (void)kevent::checked_nanoseconds(years(300)); }), EOVERFLOW);
	EXPECT_EQ(thrown_errno([] { (void)kevent::checked_nanoseconds(std::chrono::seconds(9223372037)); }),
		  EOVERFLOW);
	EXPECT_EQ(thrown_errno([] { (void)kevent::checked_nanoseconds(std::chrono::milliseconds(9223372036855)); }),
		  EOVERFLOW);
	EXPECT_EQ(thrown_errno([] { (void)kevent::checked_nanoseconds(std::chrono::hours::max()); }),
		  EOVERFLOW);
	EXPECT_EQ(thrown_errno([] { (void)kevent::checked_nanoseconds(std::chrono::seconds::max()); }),
		  EOVERFLOW);
	using u64ns = std::chrono::duration<std::uint64_t, std::nano>;
	EXPECT_EQ(thrown_errno([] { (void)kevent::checked_nanoseconds(u64ns(~std::uint64_t{0})); }),
		  EOVERFLOW);
	EXPECT_EQ(kevent::checked_nanoseconds(u64ns(static_cast<std::uint64_t>(int64_max))), int64_max);
	EXPECT_EQ(thrown_errno([] { (void)kevent::checked_nanoseconds(u64ns(static_cast<std::uint64_t>(int64_max) + 1)); }),
		  EOVERFLOW);
	EXPECT_EQ(thrown_errno([] { (void)kevent::checked_nanoseconds(std::chrono::duration<double>(1e300)); }),
		  EOVERFLOW);
	EXPECT_EQ(thrown_errno([] { (void)kevent::checked_nanoseconds(std::chrono::duration<double>(
					    std::numeric_limits<double>::infinity())); }),
		  EOVERFLOW);
	EXPECT_EQ(thrown_errno([] { (void)kevent::to_timespec(std::chrono::hours::max()); }), EOVERFLOW);
	EXPECT_EQ(thrown_errno([] { (void)kevent::timer_event(1, std::chrono::hours::max()); }), EOVERFLOW);
	using hours_tp = std::chrono::time_point<steady_clock, std::chrono::hours>;
	EXPECT_EQ(thrown_errno([] { (void)kevent::timer_event(1, hours_tp::max()); }), EOVERFLOW);
	using sec_tp = std::chrono::time_point<system_clock, std::chrono::seconds>;
	EXPECT_EQ(thrown_errno([] { (void)kevent::timer_event(1, sec_tp::max()); }), EOVERFLOW);
	EXPECT_EQ(kevent::timer_event(1, steady_clock::time_point::max()).data,
		  static_cast<std::uint64_t>(int64_max));
}

TEST(Chrono, NaNThrowsEINVAL)
{
	const std::chrono::duration<double> nan(std::numeric_limits<double>::quiet_NaN());
	EXPECT_EQ(thrown_errno([&] { (void)kevent::checked_nanoseconds(nan); }), EINVAL);
}

TEST(Chrono, RelativeTimerEventCarriesNanoseconds)
{
	const ukevent ev = kevent::timer_event(9, 1500us, KEVENT_REQ_ONESHOT, 77);
	EXPECT_EQ(ev.type, KEVENT_TIMER);
	EXPECT_EQ(ev.id, 9u);
	EXPECT_EQ(ev.event, KEVENT_TIMER_MONOTONIC);
	EXPECT_EQ(ev.req_flags, KEVENT_REQ_ONESHOT);
	EXPECT_EQ(ev.data, 1500000u);
	EXPECT_EQ(ev.user, 77u);
	const ukevent boot = kevent::timer_event(9, 1s, 0, 0, KEVENT_TIMER_BOOTTIME);
	EXPECT_EQ(boot.event, KEVENT_TIMER_BOOTTIME);
}

TEST(Chrono, SystemClockTimePointIsRealtimeAbstime)
{
	const auto tp = system_clock::time_point(std::chrono::seconds(1700000000)) + 5ms;
	const ukevent ev = kevent::timer_event(3, tp);
	EXPECT_EQ(ev.type, KEVENT_TIMER);
	EXPECT_EQ(ev.event, KEVENT_TIMER_REALTIME | KEVENT_TIMER_ABSTIME);
	EXPECT_EQ(ev.data, 1700000000005000000u);
	// Before the epoch: in the past, fires at once.
	const ukevent past = kevent::timer_event(3, system_clock::time_point(-1s));
	EXPECT_EQ(past.data, 0u);
}

TEST(Chrono, SteadyClockTimePointIsMonotonicAbstime)
{
	const auto tp = steady_clock::time_point(123456789ns);
	const ukevent ev = kevent::timer_event(4, tp, KEVENT_REQ_ONESHOT);
	EXPECT_EQ(ev.event, KEVENT_TIMER_MONOTONIC | KEVENT_TIMER_ABSTIME);
	EXPECT_EQ(ev.data, 123456789u);
	EXPECT_EQ(ev.req_flags, KEVENT_REQ_ONESHOT);
}

TEST(Chrono, SteadyClockIsClockMonotonic)
{
	// The steady_clock -> KEVENT_TIMER_MONOTONIC mapping relies on it: a
	// steady_clock reading falls between two CLOCK_MONOTONIC readings.
	const auto mono = [] {
		timespec ts;
		clock_gettime(CLOCK_MONOTONIC, &ts);
		return std::int64_t{ts.tv_sec} * 1000000000 + ts.tv_nsec;
	};
	const std::int64_t before = mono();
	const std::int64_t steady = kevent::checked_nanoseconds(steady_clock::now().time_since_epoch());
	const std::int64_t after = mono();
	EXPECT_LE(before, steady);
	EXPECT_LE(steady, after);
}

TEST(Chrono, QueueRefusesHugeTimerWithoutRegistering)
{
	kevent::queue q;
	EXPECT_EQ(thrown_errno([&] { (void)q.add_timer(1, std::chrono::hours::max()); }), EOVERFLOW);
	EXPECT_EQ(raw_remove(q.fd(), KEVENT_TIMER, 1), ENOENT);
}

TEST(Chrono, WaitForNegativeDoesNotSleep)
{
	kevent::queue q;
	auto r = q.add_user(1);
	// A watchdog: were these waits to sleep, it would end the sleep with
	// a trigger, and the wait would count an event.
	when_asleep watchdog([&] { q.trigger(1); });
	EXPECT_EQ(q.wait_for(-1h), 0u);
	EXPECT_EQ(q.wait_for(0ms), 0u);
	EXPECT_EQ(q.wait_until(steady_clock::now() - 1h), 0u);
	EXPECT_FALSE(watchdog.finish());
}

TEST(Chrono, WaitForTimesOut)
{
	// Nothing fires: each timed wait returns 0 events.
	kevent::queue q;
	EXPECT_EQ(q.wait_for(50ms), 0u);
	EXPECT_EQ(q.wait_until(steady_clock::now() + 30ms), 0u);
	EXPECT_EQ(q.wait_until(system_clock::now() + 10ms), 0u);
	EXPECT_FALSE(q.dequeue_for(10ms).has_value());
}

TEST(Chrono, WaitForAPositiveDurationSleeps)
{
	// An hour is an hour (not 0, not a poll): the wait sleeps until the
	// trigger that is sent once it is asleep.
	kevent::queue q;
	auto r = q.add_user(1);
	when_asleep trigger([&] { q.trigger(1); });
	EXPECT_EQ(q.wait_for(1h), 1u);
	EXPECT_TRUE(trigger.finish());
	EXPECT_TRUE(q.try_consume().has_value());
	when_asleep again([&] { q.trigger(1); });
	EXPECT_EQ(q.wait_until(system_clock::now() + 1h), 1u);
	EXPECT_TRUE(again.finish());
}

TEST(Chrono, HugeWaitTimeoutWaitsInsteadOfWrapping)
{
	// hours::max() would wrap to a negative nanosecond count; it must mean
	// "forever", so only the trigger ends this wait.
	// A wrapped timeout would return 0 at once: the trigger comes only once
	// the wait is asleep.
	for (auto timeout : {std::chrono::nanoseconds::max(),
			     std::chrono::nanoseconds(int64_max - 1)}) {
		kevent::queue q;
		auto reg = q.add_user(1);
		when_asleep trigger([&] { q.trigger(1); });
		EXPECT_EQ(q.wait_for(timeout), 1u);
		EXPECT_TRUE(trigger.finish());
	}
	kevent::queue q;
	auto reg = q.add_user(1);
	when_asleep trigger([&] { q.trigger(1); });
	EXPECT_EQ(q.wait_for(std::chrono::hours::max()), 1u);
	EXPECT_TRUE(trigger.finish());
}

// ================================================================= queue

TEST(Queue, OpensAndClosesOnDestruction)
{
	int fd;
	{
		kevent::queue q;
		fd = q.fd();
		ASSERT_GE(fd, 0);
		EXPECT_TRUE(static_cast<bool>(q));
		EXPECT_NE(q.ring(), nullptr);
		EXPECT_TRUE(fd_is_open(fd));
		const std::string_view name = q.backend_name();
		EXPECT_TRUE(name == "kmod" || name == "uring" || name == "epoll") << name;
		EXPECT_TRUE(fcntl(fd, F_GETFD) & FD_CLOEXEC);
	}
	EXPECT_FALSE(fd_is_open(fd));
}

TEST(Queue, RingSizeIsRoundedAndChecked)
{
	kevent::queue q(100);
	EXPECT_EQ(q.ring()->size, 128u);
	EXPECT_EQ(q.ring()->mask, 127u);
	EXPECT_EQ(thrown_errno([] { kevent::queue big(KEVENT_RING_MAX + 1); }), EINVAL);
}

TEST(Queue, UnavailableBackendThrowsENODEV)
{
	if (access("/dev/kevent", F_OK) == 0)
		GTEST_SKIP() << "/dev/kevent exists: the kmod backend is available";
	EXPECT_EQ(thrown_errno([] { kevent::queue q(0, kevent::backend::kmod); }), ENODEV);
}

TEST(Queue, ForcedBackendIsUsedOrENODEV)
{
	const std::pair<kevent::backend, std::string_view> all[] = {
		{kevent::backend::epoll, "epoll"},
		{kevent::backend::uring, "uring"},
		{kevent::backend::kmod, "kmod"},
	};
	// In a thread of its own: closing an io_uring leaves task_work queued
	// on the thread that made it, and the next epoll_pwait2() of that
	// thread fails with EINTR although no signal came (liburing issue
	// 504).  That is the library's to fix; keep it out of later tests.
	std::thread t([&] {
		for (const auto &[b, name] : all) {
			try {
				kevent::queue q(0, b);
				EXPECT_EQ(q.backend_name(), name);
				auto r = q.add_user(1);
				q.trigger(1);
				EXPECT_EQ(q.wait_for(5s), 1u) << name;
			} catch (const std::system_error &e) {
				EXPECT_EQ(e.code(), std::errc::no_such_device) << name;
			}
		}
	});
	t.join();
	kevent::queue epoll(0, kevent::backend::epoll);	// always available
	EXPECT_EQ(epoll.backend_name(), "epoll");
}

TEST(Queue, MoveConstructTransfersWithoutDoubleClose)
{
	kevent::queue a;
	const int fd = a.fd();
	auto reg = a.add_user(1);
	{
		kevent::queue b(std::move(a));
		EXPECT_EQ(a.fd(), -1);
		EXPECT_EQ(a.ring(), nullptr);
		EXPECT_FALSE(static_cast<bool>(a));
		EXPECT_EQ(b.fd(), fd);
		{
			kevent::queue gone(std::move(a));	// moved-from twice: owns nothing
		}
		EXPECT_TRUE(fd_is_open(fd));
		b.trigger(1);	// the registration made through a still works
		EXPECT_EQ(b.wait_for(1s), 1u);
		reg.release();
	}
	EXPECT_FALSE(fd_is_open(fd));
	// A new fd may reuse the number; a's destructor must not close it.
	const int other = open("/dev/null", O_RDONLY | O_CLOEXEC);
	ASSERT_GE(other, 0);
	{
		kevent::queue moved_from(std::move(a));
	}
	EXPECT_TRUE(fd_is_open(other));
	close(other);
}

TEST(Queue, MoveAssignClosesTheOldQueue)
{
	kevent::queue a, b;
	const int fa = a.fd(), fb = b.fd();
	b = std::move(a);
	EXPECT_FALSE(fd_is_open(fb));
	EXPECT_TRUE(fd_is_open(fa));
	EXPECT_EQ(b.fd(), fa);
	kevent::queue &self = b;
	b = std::move(self);
	EXPECT_EQ(b.fd(), fa);
	EXPECT_TRUE(fd_is_open(fa));
}

TEST(Queue, MovedFromQueueThrowsEBADF)
{
	kevent::queue a;
	kevent::queue b(std::move(a));
	EXPECT_EQ(thrown_errno([&] { (void)a.add_user(1); }), EBADF);
	EXPECT_EQ(thrown_errno([&] { a.wait_for(1ms); }), EBADF);
	EXPECT_TRUE(a.events().empty());
	EXPECT_FALSE(a.try_consume().has_value());
}

TEST(Queue, ExplicitCloseIsIdempotent)
{
	kevent::queue q;
	const int fd = q.fd();
	q.close();
	EXPECT_FALSE(fd_is_open(fd));
	EXPECT_EQ(q.fd(), -1);
	EXPECT_NO_THROW(q.close());
}

// ========================================================== registration

TEST(Registration, RemovedOnDestruction)
{
	kevent::queue q;
	{
		kevent::registration r = q.add_user(5);
		EXPECT_TRUE(static_cast<bool>(r));
		EXPECT_EQ(r.type(), KEVENT_USER);
		EXPECT_EQ(r.id(), 5u);
	}
	EXPECT_EQ(raw_remove(q.fd(), KEVENT_USER, 5), ENOENT);
}

TEST(Registration, EveryTypeIsRemovedOnDestruction)
{
	kevent::queue q;
	int p[2];
	ASSERT_EQ(pipe2(p, O_CLOEXEC), 0);
	char dir[] = "/tmp/kevent-cpp-XXXXXX";
	ASSERT_NE(mkdtemp(dir), nullptr);
	const int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	ASSERT_GE(dfd, 0);
	const pid_t child = fork();
	ASSERT_GE(child, 0);
	if (child == 0) {
		pause();
		_exit(0);
	}
	{
		blocked_signal bs(SIGUSR2);
		auto a = q.add_fd(p[0], KEVENT_POLL_IN);
		auto b = q.add_timer(1, 1h);
		auto c = q.add_user(2);
		auto d = q.add_signal(SIGUSR2);
		auto e = q.add_inode(dfd, KEVENT_INODE_CREATE);
		auto f = q.add_proc(child);
	}
	EXPECT_EQ(raw_remove(q.fd(), KEVENT_POLL, static_cast<std::uint64_t>(p[0])), ENOENT);
	EXPECT_EQ(raw_remove(q.fd(), KEVENT_TIMER, 1), ENOENT);
	EXPECT_EQ(raw_remove(q.fd(), KEVENT_USER, 2), ENOENT);
	EXPECT_EQ(raw_remove(q.fd(), KEVENT_SIGNAL, SIGUSR2), ENOENT);
	EXPECT_EQ(raw_remove(q.fd(), KEVENT_INODE, static_cast<std::uint64_t>(dfd)), ENOENT);
	EXPECT_EQ(raw_remove(q.fd(), KEVENT_PROC, static_cast<std::uint64_t>(child)), ENOENT);
	kill(child, SIGKILL);
	waitpid(child, nullptr, 0);
	close(dfd);
	rmdir(dir);
	close(p[0]);
	close(p[1]);
}

TEST(Registration, ReleaseKeepsTheRegistration)
{
	kevent::queue q;
	{
		kevent::registration r = q.add_user(5);
		const kevent::registration::key k = r.release();
		EXPECT_EQ(k.type, KEVENT_USER);
		EXPECT_EQ(k.id, 5u);
		EXPECT_FALSE(static_cast<bool>(r));
	}
	EXPECT_EQ(raw_remove(q.fd(), KEVENT_USER, 5), 0);
}

TEST(Registration, MoveTransfersOwnershipWithoutDoubleRemove)
{
	kevent::queue q;
	kevent::registration outer;
	{
		kevent::registration r1 = q.add_user(5);
		kevent::registration r2(std::move(r1));
		EXPECT_FALSE(static_cast<bool>(r1));
		outer = std::move(r2);
	}
	// Still registered: an ADD of the same key fails.
	EXPECT_EQ(thrown_errno([&] { (void)q.add_user(5); }), EEXIST);
	outer = kevent::registration();	// move-assign removes the old one
	EXPECT_EQ(raw_remove(q.fd(), KEVENT_USER, 5), ENOENT);
}

TEST(Registration, MoveAssignRemovesTheReplacedRegistration)
{
	kevent::queue q;
	kevent::registration a = q.add_user(1);
	kevent::registration b = q.add_user(2);
	a = std::move(b);
	EXPECT_EQ(raw_remove(q.fd(), KEVENT_USER, 1), ENOENT);
	EXPECT_EQ(a.id(), 2u);
	kevent::registration &self = a;
	a = std::move(self);
	EXPECT_EQ(a.id(), 2u);
	EXPECT_TRUE(static_cast<bool>(a));
}

TEST(Registration, OutlivingItsQueueTouchesNoOtherQueue)
{
	std::optional<kevent::queue> q1(std::in_place);
	kevent::registration r = q1->add_user(1);
	q1.reset();
	// A new queue is likely to get the same fd number.
	kevent::queue q2;
	q2.add_user(1).release();
	r = kevent::registration();	// must not REMOVE from q2
	EXPECT_EQ(raw_remove(q2.fd(), KEVENT_USER, 1), 0);
}

TEST(Registration, RemoveReportsENOENTAfterOneshotEnded)
{
	kevent::queue q;
	kevent::registration r = q.add_timer(1, 1ms, KEVENT_REQ_ONESHOT);
	const ukevent ev = next_event(q);
	EXPECT_EQ(ev.type, KEVENT_TIMER);
	EXPECT_TRUE(ev.ret_flags & KEVENT_RET_REMOVED);
	EXPECT_EQ(thrown_errno([&] { r.remove(); }), ENOENT);
	EXPECT_FALSE(static_cast<bool>(r));
	EXPECT_EQ(thrown_errno([&] { r.remove(); }), ENOENT);
}

TEST(Registration, DisableEnableModify)
{
	kevent::queue q;
	kevent::registration r = q.add_user(3, 0, 11);
	r.disable();
	r.trigger();
	EXPECT_EQ(q.wait_for(50ms), 0u);
	r.enable();	// the trigger while disabled is delivered now
	ukevent ev = next_event(q);
	EXPECT_EQ(ev.id, 3u);
	EXPECT_EQ(ev.user, 11u);
	EXPECT_GE(ev.ret_data, 1u);
	r.modify(kevent::user_event(3, 0, 12));
	r.trigger();
	ev = next_event(q);
	EXPECT_EQ(ev.user, 12u);
}

// ================================================================ errors

TEST(Errors, DuplicateAddIsEEXIST)
{
	kevent::queue q;
	auto r = q.add_user(1);
	try {
		auto again = q.add_user(1);
		FAIL() << "no exception";
	} catch (const std::system_error &e) {
		EXPECT_EQ(e.code(), std::errc::file_exists);
		EXPECT_EQ(&e.code().category(), &std::generic_category());
		EXPECT_NE(std::string(e.what()).find("kevent_ctl"), std::string::npos) << e.what();
	}
}

TEST(Errors, PerEntryErrnos)
{
	kevent::queue q;
	EXPECT_EQ(thrown_errno([&] { q.remove(KEVENT_USER, 42); }), ENOENT);
	EXPECT_EQ(thrown_errno([&] { q.trigger(42); }), ENOENT);
	EXPECT_EQ(thrown_errno([&] { q.enable(KEVENT_TIMER, 42); }), ENOENT);
	EXPECT_EQ(thrown_errno([&] { (void)q.add(kevent::make_event(KEVENT_TYPE_MAX + 3, 1)); }), EINVAL);
	EXPECT_EQ(thrown_errno([&] { (void)q.add_timer(1, 0ms); }), EINVAL);	// periodic 0
	EXPECT_EQ(thrown_errno([&] { (void)q.add_fd(-1, KEVENT_POLL_IN); }), EBADF);
	const int closed = open("/dev/null", O_RDONLY | O_CLOEXEC);
	close(closed);
	EXPECT_EQ(thrown_errno([&] { (void)q.add_fd(closed, KEVENT_POLL_IN); }), EBADF);
	EXPECT_EQ(thrown_errno([&] { (void)q.add_fd(q.fd(), KEVENT_POLL_IN); }), ELOOP);
	auto t = q.add_timer(1, 1h);
	EXPECT_EQ(thrown_errno([&] { q.trigger(1); }), ENOENT);	// no USER 1
	ukevent ready = kevent::make_key(KEVENT_TIMER, 1);
	EXPECT_EQ(thrown_errno([&] { q.ctl_one(KEVENT_CTL_READY, ready); }), EINVAL);
	EXPECT_EQ(ready.ret_flags & KEVENT_RET_ERROR, KEVENT_RET_ERROR);
	EXPECT_EQ(kevent::entry_error(ready), std::errc::invalid_argument);
	std::error_code ec;
	q.remove(KEVENT_USER, 42, ec);
	EXPECT_EQ(ec, std::errc::no_such_file_or_directory);
	q.remove(KEVENT_TIMER, 1, ec);
	EXPECT_FALSE(ec);
	t.release();
}

TEST(Errors, UnblockedSignalIsEINVAL)
{
	kevent::queue q;
	sigset_t cur;
	pthread_sigmask(SIG_BLOCK, nullptr, &cur);
	if (sigismember(&cur, SIGUSR2))
		GTEST_SKIP() << "SIGUSR2 is blocked";
	EXPECT_EQ(thrown_errno([&] { (void)q.add_signal(SIGUSR2); }), EINVAL);
}

TEST(Errors, WholeCallErrorsThrow)
{
	kevent::queue q;
	ukevent e = kevent::user_event(1);
	EXPECT_EQ(thrown_errno([&] { (void)q.ctl(KEVENT_CTL_MAX, &e, 1); }), EINVAL);
	EXPECT_EQ(thrown_errno([&] { (void)q.ctl(KEVENT_CTL_MAX + 100, &e, 1); }), EINVAL);
	ukevent none{};
	EXPECT_EQ(q.ctl(KEVENT_CTL_ADD, &none, 0), 0u);
}

TEST(Errors, ProcOfMissingPidIsESRCH)
{
	kevent::queue q;
	const pid_t child = fork();
	ASSERT_GE(child, 0);
	if (child == 0)
		_exit(0);
	waitpid(child, nullptr, 0);	// reaped: the pid is gone
	EXPECT_EQ(thrown_errno([&] { (void)q.add_proc(child); }), ESRCH);
}

// ================================================================= batch

TEST(Batch, ReportsPerEntryErrors)
{
	kevent::queue q;
	auto existing = q.add_user(1);
	std::vector<ukevent> batch{
		kevent::user_event(2),
		kevent::user_event(1),			// EEXIST
		kevent::user_event(3),
		kevent::make_event(KEVENT_TIMER, 4),	// periodic 0: EINVAL
	};
	EXPECT_EQ(q.ctl(KEVENT_CTL_ADD, batch.data(), batch.size()), 2u);
	EXPECT_FALSE(kevent::entry_error(batch[0]));
	EXPECT_EQ(kevent::entry_error(batch[1]), std::errc::file_exists);
	EXPECT_FALSE(kevent::entry_error(batch[2]));
	EXPECT_EQ(kevent::entry_error(batch[3]), std::errc::invalid_argument);
	EXPECT_EQ(batch[0].ret_flags, 0u);
	EXPECT_EQ(batch[1].ret_flags, KEVENT_RET_ERROR);

	std::vector<ukevent> rm{kevent::make_key(KEVENT_USER, 2), kevent::make_key(KEVENT_USER, 9),
				kevent::make_key(KEVENT_USER, 3)};
#if KEVENT_HPP_HAS_SPAN
	EXPECT_EQ(q.ctl(KEVENT_CTL_REMOVE, std::span<ukevent>(rm)), 2u);
#else
	EXPECT_EQ(q.ctl(KEVENT_CTL_REMOVE, rm.data(), rm.size()), 2u);
#endif
	EXPECT_EQ(kevent::entry_error(rm[1]), std::errc::no_such_file_or_directory);
}

TEST(Batch, LargerThanOneCallIsSplit)
{
	kevent::queue q;
	const std::size_t n = KEVENT_CTL_BATCH_MAX + 10;
	std::vector<ukevent> batch;
	batch.reserve(n);
	for (std::size_t i = 0; i < n; i++)
		batch.push_back(kevent::user_event(i));
	EXPECT_EQ(q.ctl(KEVENT_CTL_ADD, batch.data(), batch.size()), n);
	for (auto &e : batch)
		e = kevent::make_key(KEVENT_USER, e.id);
	EXPECT_EQ(q.ctl(KEVENT_CTL_REMOVE, batch.data(), batch.size()), n);
}

// ================================================================= range

TEST(Range, ConsumesAsItGoesReferencingTheRing)
{
	kevent::queue q(16);
	std::vector<kevent::registration> regs;
	for (std::uint64_t i = 0; i < 5; i++)
		regs.push_back(q.add_user(i, 0, 100 + i));
	for (std::uint64_t i = 0; i < 5; i++)
		q.trigger(i);
	ASSERT_EQ(q.wait_for(5s, 5), 5u);

	const char *lo = reinterpret_cast<const char *>(q.ring()) + KEVENT_RING_ENTRIES_OFFSET;
	const char *hi = lo + q.ring()->size * sizeof(ukevent);
	std::vector<std::uint64_t> seen;
	std::size_t left = 5;
	for (const ukevent &ev : q.events()) {
		const char *p = reinterpret_cast<const char *>(&ev);
		EXPECT_TRUE(p >= lo && p < hi) << "not a reference into the ring";
		EXPECT_EQ(kevent_ring_count(q.ring()), left--);	// not consumed yet
		seen.push_back(ev.user);
	}
	EXPECT_TRUE(q.events().empty());
	std::sort(seen.begin(), seen.end());
	EXPECT_EQ(seen, (std::vector<std::uint64_t>{100, 101, 102, 103, 104}));
}

TEST(Range, BreakLeavesTheCurrentEventInTheRing)
{
	kevent::queue q;
	auto a = q.add_user(1), b = q.add_user(2), c = q.add_user(3);
	q.trigger(1);
	q.trigger(2);
	q.trigger(3);
	ASSERT_EQ(q.wait_for(5s, 3), 3u);
	int n = 0;
	for (const ukevent &ev : q.events()) {
		(void)ev;
		if (++n == 2)
			break;
	}
	EXPECT_EQ(q.events().count(), 2u);
	auto it = q.events().begin();
	const ukevent copy = *it++;	// postfix hands back a copy
	EXPECT_EQ(copy.type, KEVENT_USER);
	EXPECT_EQ(q.events().count(), 1u);
	EXPECT_EQ(std::count_if(q.events().begin(), q.events().end(),
				[](const ukevent &ev) { return ev.type == KEVENT_USER; }),
		  1);
	EXPECT_TRUE(q.events().empty());
	EXPECT_EQ(q.events().begin(), q.events().end());
}

#if KEVENT_HPP_HAS_RANGES
static_assert(std::ranges::input_range<kevent::ring_range>);
static_assert(std::input_iterator<kevent::ring_range::iterator>);

TEST(Range, DefaultSentinel)
{
	kevent::queue q;
	auto a = q.add_user(1);
	q.trigger(1);
	ASSERT_EQ(q.wait_for(5s), 1u);
	int n = 0;
	for (auto it = q.events().begin(); it != std::default_sentinel; ++it)
		n += it->id == 1;
	EXPECT_EQ(n, 1);
}
#endif

TEST(Range, SmallRingDefersButLosesNothing)
{
	kevent::queue q(2);
	ASSERT_EQ(q.ring()->size, 2u);
	std::vector<kevent::registration> regs;
	for (std::uint64_t i = 0; i < 7; i++) {
		regs.push_back(q.add_user(i, 0, i));
		q.trigger(i);
	}
	std::vector<std::uint64_t> seen;
	while (seen.size() < 7 && q.wait_for(5s) > 0) {
		EXPECT_LE(q.events().count(), 2u);
		for (const ukevent &ev : q.events())
			seen.push_back(ev.user);
	}
	std::sort(seen.begin(), seen.end());
	EXPECT_EQ(seen, (std::vector<std::uint64_t>{0, 1, 2, 3, 4, 5, 6}));
	EXPECT_GT(q.ring()->deferred, 0u);
}

TEST(Range, TryConsumeAndDequeue)
{
	kevent::queue q;
	auto a = q.add_user(1, 0, 9);
	EXPECT_FALSE(q.try_consume().has_value());
	q.trigger(1);
	const ukevent ev = q.dequeue();
	EXPECT_EQ(ev.user, 9u);
	EXPECT_FALSE(q.try_consume().has_value());
}

// ================================================================ timers

TEST(Timers, RelativeOneshotFires)
{
	kevent::queue q;
	auto r = q.add_timer(7, 10ms, KEVENT_REQ_ONESHOT, 5);
	const ukevent ev = next_event(q);
	EXPECT_EQ(ev.type, KEVENT_TIMER);
	EXPECT_EQ(ev.id, 7u);
	EXPECT_EQ(ev.user, 5u);
	EXPECT_EQ(ev.ret_data, 1u);
	EXPECT_TRUE(ev.ret_flags & KEVENT_RET_REMOVED);
	EXPECT_EQ(q.wait_for(0ms), 0u);	// once
	r.release();	// ended by itself
}

TEST(Timers, OneshotsFireInDeadlineOrder)
{
	// Registered out of order; however late this thread runs, expired
	// timers are published in the order of their deadlines.
	kevent::queue q;
	for (const auto &[id, after] : {std::pair{3, 150ms}, std::pair{1, 50ms}, std::pair{2, 100ms}})
		q.add_timer(static_cast<std::uint64_t>(id), after, KEVENT_REQ_ONESHOT).release();
	std::vector<std::uint64_t> order;
	while (order.size() < 3) {
		const ukevent ev = next_event(q);
		if (ev.type != KEVENT_TIMER)
			break;
		order.push_back(ev.id);
	}
	EXPECT_EQ(order, (std::vector<std::uint64_t>{1, 2, 3}));
}

TEST(Timers, PeriodicCountsExpirations)
{
	// Expirations missed while nobody waited are counted in the next two
	// deliveries (the kmod backend publishes the first expiration at
	// once, the rest coalesce behind it): 50 ms (at least: sleep_for never
	// returns early) of a 2 ms timer are at least 25 expirations.
	kevent::queue q;
	auto r = q.add_timer(1, 2ms);
	std::this_thread::sleep_for(50ms);
	const ukevent first = next_event(q);
	EXPECT_EQ(first.type, KEVENT_TIMER);
	const ukevent second = next_event(q);
	EXPECT_EQ(second.type, KEVENT_TIMER);
	EXPECT_GE(first.ret_data + second.ret_data, 25u);
	EXPECT_GE(next_event(q).ret_data, 1u);	// and it goes on
}

TEST(Timers, SteadyClockDeadlineFires)
{
	kevent::queue q;
	const auto deadline = steady_clock::now() + 20ms;
	auto r = q.add_timer(1, deadline);
	const ukevent ev = next_event(q);
	EXPECT_GE(steady_clock::now(), deadline);
	EXPECT_EQ(ev.event, KEVENT_TIMER_MONOTONIC | KEVENT_TIMER_ABSTIME);
}

TEST(Timers, SystemClockDeadlineFires)
{
	kevent::queue q;
	const auto deadline = system_clock::now() + 20ms;
	auto r = q.add_timer(1, deadline, KEVENT_REQ_ONESHOT);
	const ukevent ev = next_event(q);
	EXPECT_GE(system_clock::now(), deadline);
	EXPECT_EQ(ev.event, KEVENT_TIMER_REALTIME | KEVENT_TIMER_ABSTIME);
	r.release();
}

TEST(Timers, PastDeadlineFiresAtOnce)
{
	kevent::queue q;
	auto r = q.add_timer(1, system_clock::time_point(-10s), KEVENT_REQ_ONESHOT);
	const ukevent ev = next_event(q);
	EXPECT_EQ(ev.id, 1u);
	r.release();
}

// ========================================================== other types

TEST(Types, FdReadable)
{
	kevent::queue q;
	int p[2];
	ASSERT_EQ(pipe2(p, O_CLOEXEC), 0);
	{
		auto r = q.add_fd(p[0], KEVENT_POLL_IN, 0, 3);
		EXPECT_EQ(q.wait_for(20ms), 0u);
		ASSERT_EQ(write(p[1], "x", 1), 1);
		const ukevent ev = next_event(q);
		EXPECT_EQ(ev.type, KEVENT_POLL);
		EXPECT_EQ(ev.id, static_cast<std::uint64_t>(p[0]));
		EXPECT_TRUE(ev.event & KEVENT_POLL_IN);
		EXPECT_EQ(ev.user, 3u);
	}
	close(p[0]);
	close(p[1]);
}

TEST(Types, SignalIsDelivered)
{
	blocked_signal bs(SIGUSR1);
	kevent::queue q;
	auto r = q.add_signal(SIGUSR1);
	ASSERT_EQ(kill(getpid(), SIGUSR1), 0);
	const ukevent ev = next_event(q);
	EXPECT_EQ(ev.type, KEVENT_SIGNAL);
	EXPECT_EQ(ev.id, static_cast<std::uint64_t>(SIGUSR1));
	EXPECT_GE(ev.ret_data, 1u);
}

TEST(Types, InodeCreateInDirectory)
{
	char dir[] = "/tmp/kevent-cpp-XXXXXX";
	ASSERT_NE(mkdtemp(dir), nullptr);
	const int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	ASSERT_GE(dfd, 0);
	const std::string file = std::string(dir) + "/f";
	{
		kevent::queue q;
		auto r = q.add_inode(dfd, KEVENT_INODE_CREATE | KEVENT_INODE_DELETE);
		const int fd = open(file.c_str(), O_CREAT | O_WRONLY | O_CLOEXEC, 0600);
		ASSERT_GE(fd, 0);
		close(fd);
		const ukevent ev = next_event(q);
		EXPECT_EQ(ev.type, KEVENT_INODE);
		EXPECT_TRUE(ev.event & KEVENT_INODE_CREATE) << std::hex << ev.event;
	}
	unlink(file.c_str());
	close(dfd);
	rmdir(dir);
}

TEST(Types, ProcExitStatus)
{
	kevent::queue q;
	int p[2];
	ASSERT_EQ(pipe2(p, O_CLOEXEC), 0);
	const pid_t child = fork();
	ASSERT_GE(child, 0);
	if (child == 0) {
		char c;
		close(p[1]);
		(void)!read(p[0], &c, 1);
		_exit(7);
	}
	auto r = q.add_proc(child);
	close(p[0]);
	close(p[1]);	// the child exits
	const ukevent ev = next_event(q);
	EXPECT_EQ(ev.type, KEVENT_PROC);
	EXPECT_EQ(ev.id, static_cast<std::uint64_t>(child));
	EXPECT_TRUE(ev.ret_flags & KEVENT_RET_REMOVED);
	EXPECT_FALSE(ev.ret_flags & KEVENT_RET_NOSTATUS);
	const int status = static_cast<int>(ev.ret_data);
	EXPECT_TRUE(WIFEXITED(status));
	EXPECT_EQ(WEXITSTATUS(status), 7);
	r.release();
	int st = 0;
	EXPECT_EQ(waitpid(child, &st, 0), child);	// left unreaped
	EXPECT_EQ(st, status);
}

// =============================================================== threads

TEST(Threads, TriggerFromAnotherThreadWakesWaiter)
{
	kevent::queue q;
	auto r = q.add_user(1, 0, 77);
	when_asleep trigger([&] { q.trigger(1); });
	const std::size_t n = q.wait();	// forever
	EXPECT_TRUE(trigger.finish());
	EXPECT_EQ(n, 1u);
	const auto ev = q.try_consume();
	ASSERT_TRUE(ev.has_value());
	EXPECT_EQ(ev->user, 77u);
	EXPECT_EQ(ev->ret_data, 1u);
}

TEST(Threads, ManyTriggersAreCoalescedNotLost)
{
	kevent::queue q;
	auto r = q.add_user(1);
	constexpr std::uint64_t total = 2000;
	std::thread t([&] {
		for (std::uint64_t i = 0; i < total; i++)
			q.trigger(1);
	});
	std::uint64_t got = 0;
	while (got < total) {
		if (q.wait_for(5s) == 0)
			break;
		for (const ukevent &ev : q.events())
			got += ev.ret_data;
	}
	t.join();
	EXPECT_EQ(got, total);
}

// ============================================================ dispatcher

TEST(Dispatch, UserCallbackAndStopFromCallback)
{
	kevent::dispatcher d;
	int calls = 0;
	auto h = d.add_user(1, [&](const ukevent &ev) {
		EXPECT_EQ(ev.type, KEVENT_USER);
		EXPECT_EQ(ev.id, 1u);
		++calls;
		d.stop();
	});
	d.trigger(1);
	EXPECT_EQ(d.run(), 1u);
	EXPECT_EQ(calls, 1);
	EXPECT_FALSE(d.stop_requested());
}

TEST(Dispatch, StopFromAnotherThread)
{
	// A running dispatcher with a 1 ms timer, stopped from another thread
	// once it has run callbacks and sleeps between two ticks.
	kevent::dispatcher d;
	std::atomic<int> calls{0};
	auto h = d.add_timer(1, 1ms, [&](const ukevent &) { ++calls; });
	const pid_t runner = current_tid();
	std::atomic<bool> stopped{false};
	std::thread t([&] {
		const auto give_up = steady_clock::now() + state_timeout;
		while (calls.load() < 3 && steady_clock::now() < give_up)
			std::this_thread::sleep_for(1ms);
		wait_until_asleep(runner);
		stopped.store(true);
		d.stop();
	});
	const std::size_t n = d.run();
	t.join();
	EXPECT_TRUE(stopped.load());
	EXPECT_GE(calls.load(), 3);
	EXPECT_EQ(n, static_cast<std::size_t>(calls.load()));
}

TEST(Dispatch, StopFromAnotherThreadWhileIdle)
{
	kevent::dispatcher d;
	when_asleep stopper([&] { d.stop(); });
	EXPECT_EQ(d.run(), 0u);	// sleeps with no registration at all
	EXPECT_TRUE(stopper.finish());
}

TEST(Dispatch, StopBeforeRunMakesRunReturnOnce)
{
	kevent::dispatcher d;
	d.stop();
	EXPECT_TRUE(d.stop_requested());
	EXPECT_EQ(d.run(), 0u);
	EXPECT_EQ(d.run_for(20ms), 0u);	// the stop was consumed
}

TEST(Dispatch, TimerCallbacksRunUntilStop)
{
	kevent::dispatcher d;
	std::uint64_t expirations = 0;
	auto h = d.add_timer(1, 2ms, [&](const ukevent &ev) {
		expirations += ev.ret_data;
		if (expirations >= 3)
			d.stop();
	});
	d.run();
	EXPECT_GE(expirations, 3u);
}

TEST(Dispatch, HandleDestructionRemovesRegistration)
{
	kevent::dispatcher d;
	{
		auto h = d.add_user(4, [](const ukevent &) {});
		EXPECT_TRUE(h.active());
	}
	EXPECT_EQ(raw_remove(d.get_queue().fd(), KEVENT_USER, 4), ENOENT);
	EXPECT_EQ(thrown_errno([&] { d.trigger(4); }), ENOENT);
}

TEST(Dispatch, StaleEventsAreSkipped)
{
	kevent::dispatcher d;
	int calls = 0;
	auto h = d.add_user(1, [&](const ukevent &) { ++calls; });
	d.trigger(1);
	ASSERT_EQ(d.get_queue().wait_for(5s), 1u);	// published in the ring
	h.reset();
	EXPECT_EQ(d.poll(), 0u);
	EXPECT_EQ(calls, 0);
	EXPECT_TRUE(d.get_queue().events().empty());
}

TEST(Dispatch, CallbackMayDestroyItsOwnHandle)
{
	kevent::dispatcher d;
	int calls = 0;
	kevent::dispatcher::handle h;
	h = d.add_user(1, [&](const ukevent &) {
		++calls;
		h = kevent::dispatcher::handle();	// destroys this callable
	});
	d.trigger(1);
	EXPECT_EQ(d.run_once_for(5s), 1u);
	EXPECT_EQ(calls, 1);
	EXPECT_EQ(raw_remove(d.get_queue().fd(), KEVENT_USER, 1), ENOENT);
}

TEST(Dispatch, CallbackMayAddRegistrations)
{
	kevent::dispatcher d;
	std::vector<kevent::dispatcher::handle> more;
	int second = 0;
	auto h = d.add_user(1, [&](const ukevent &) {
		more.push_back(d.add_user(2, [&](const ukevent &) {
			++second;
			d.stop();
		}));
		d.trigger(2);
	});
	d.trigger(1);
	EXPECT_EQ(d.run(), 2u);
	EXPECT_EQ(second, 1);
}

TEST(Dispatch, OneshotEndsItsHandle)
{
	kevent::dispatcher d;
	int calls = 0;
	auto h = d.add_timer(1, 1ms, [&](const ukevent &ev) {
		EXPECT_TRUE(ev.ret_flags & KEVENT_RET_REMOVED);
		++calls;
	}, KEVENT_REQ_ONESHOT);
	EXPECT_EQ(d.run_once_for(5s), 1u);
	EXPECT_EQ(calls, 1);
	EXPECT_FALSE(h.active());
	// A new registration with the same key is not removed by the old handle.
	d.get_queue().add_timer(1, 1h).release();
	h.reset();
	EXPECT_EQ(raw_remove(d.get_queue().fd(), KEVENT_TIMER, 1), 0);
}

TEST(Dispatch, DispatchModeNeedsEnable)
{
	kevent::dispatcher d;
	int calls = 0;
	auto h = d.add_user(1, [&](const ukevent &) { ++calls; }, KEVENT_REQ_DISPATCH);
	h.trigger();
	EXPECT_EQ(d.run_once_for(5s), 1u);
	h.trigger();	// disabled: coalesced until enable()
	EXPECT_EQ(d.run_once_for(30ms), 0u);
	h.enable();
	EXPECT_EQ(d.run_once_for(5s), 1u);
	EXPECT_EQ(calls, 2);
}

TEST(Dispatch, CallbackExceptionPropagatesAndConsumesTheEvent)
{
	kevent::dispatcher d;
	auto h = d.add_user(1, [](const ukevent &) { throw std::runtime_error("boom"); });
	d.trigger(1);
	EXPECT_THROW(d.run(), std::runtime_error);
	EXPECT_TRUE(d.get_queue().events().empty());
	EXPECT_EQ(d.poll(), 0u);
}

TEST(Dispatch, RunForTimesOut)
{
	kevent::dispatcher d;
	EXPECT_EQ(d.run_for(40ms), 0u);	// nothing ran: 0 callbacks
	EXPECT_EQ(d.run_for(-1s), 0u);
	EXPECT_EQ(d.run_until(steady_clock::now() - 1s), 0u);
}

TEST(Dispatch, FdCallbackEchoesPipe)
{
	kevent::dispatcher d;
	int p[2];
	ASSERT_EQ(pipe2(p, O_CLOEXEC | O_NONBLOCK), 0);
	std::string got;
	std::atomic<std::size_t> have{0};
	auto h = d.add_fd(p[0], KEVENT_POLL_IN, [&](const ukevent &ev) {
		char buf[64];
		const ssize_t n = read(static_cast<int>(ev.id), buf, sizeof buf);
		if (n > 0)
			got.append(buf, static_cast<std::size_t>(n));
		have.store(got.size());
		if (got.size() >= 5)
			d.stop();
	});
	// Each piece is written once the previous one was read and the loop
	// sleeps again: three wake-ups by the fd.
	const pid_t runner = current_tid();
	std::thread t([&] {
		std::size_t sent = 0;
		for (const char *s : {"he", "l", "lo"}) {
			const auto give_up = steady_clock::now() + state_timeout;
			while (have.load() < sent && steady_clock::now() < give_up)
				std::this_thread::sleep_for(1ms);
			wait_until_asleep(runner);
			sent += std::strlen(s);
			EXPECT_GT(write(p[1], s, std::strlen(s)), 0);
		}
		// A hang detector: pieces not delivered end the loop, and the
		// check below fails.
		const auto give_up = steady_clock::now() + state_timeout;
		while (have.load() < sent && steady_clock::now() < give_up)
			std::this_thread::sleep_for(1ms);
		if (have.load() < sent)
			d.stop();
	});
	d.run();
	t.join();
	EXPECT_EQ(got, "hello");
	h.reset();
	close(p[0]);
	close(p[1]);
}

TEST(Dispatch, MoveOnlyCallback)
{
	kevent::dispatcher d;
	auto counter = std::make_unique<int>(0);
	int *seen = counter.get();
	auto h = d.add_user(1, [c = std::move(counter)](const ukevent &) { ++*c; });
	d.trigger(1);
	EXPECT_EQ(d.run_once_for(5s), 1u);
	EXPECT_EQ(*seen, 1);
}

TEST(Dispatch, ModifyKeepsTheCallback)
{
	kevent::dispatcher d;
	int p[2];
	ASSERT_EQ(pipe2(p, O_CLOEXEC), 0);
	std::uint32_t last = 0;
	auto h = d.add_fd(p[1], KEVENT_POLL_IN, [&](const ukevent &ev) { last = ev.event; });
	EXPECT_EQ(d.run_once_for(20ms), 0u);	// a pipe's write end is not readable
	h.modify(kevent::fd_event(p[1], KEVENT_POLL_OUT));
	EXPECT_EQ(d.run_once_for(5s), 1u);
	EXPECT_TRUE(last & KEVENT_POLL_OUT);
	h.reset();
	close(p[0]);
	close(p[1]);
}

TEST(Dispatch, HandleMayOutliveDispatcher)
{
	kevent::dispatcher::handle h;
	{
		kevent::dispatcher d;
		h = d.add_user(1, [](const ukevent &) {});
	}
	EXPECT_FALSE(static_cast<bool>(h));
	EXPECT_FALSE(h.active());
	h.reset();
	EXPECT_EQ(thrown_errno([&] { h.trigger(); }), EBADF);
}

TEST(Dispatch, FailedAddThrowsAndLeavesNoCallback)
{
	kevent::dispatcher d;
	auto h = d.add_user(1, [](const ukevent &) {});
	EXPECT_EQ(thrown_errno([&] { (void)d.add_user(1, [](const ukevent &) {}); }), EEXIST);
	EXPECT_EQ(thrown_errno([&] { (void)d.add_user(kevent::dispatcher::wake_id,
						      [](const ukevent &) {}); }),
		  EEXIST);
}

TEST(Dispatch, ManyThreadsAddTriggerAndStop)
{
	// While one thread runs the dispatcher, four threads each add their own
	// 25 USER registrations, trigger every one of them 40 times in
	// interleaved rounds, and call stop() after every round: adds,
	// triggers and stops all race with the dispatching and each other.
	// run() returns on each stop and is entered again until every trigger
	// is accounted for.  Each key must count exactly its 40 triggers (a
	// callback adds ret_data: coalesced triggers count once each), and
	// only its own callback may see it.
	constexpr int workers = 4, keys = 25, rounds = 40;
	constexpr int total = workers * keys * rounds;
	kevent::dispatcher d;
	std::vector<std::atomic<int>> count(workers * keys);
	std::atomic<int> sum{0}, wrong{0}, stops{0};
	std::vector<std::vector<kevent::dispatcher::handle>> handles(workers);
	std::vector<std::thread> threads;
	for (int w = 0; w < workers; w++)
		threads.emplace_back([&, w] {
			for (int k = 0; k < keys; k++) {
				const int key = w * keys + k;
				handles[static_cast<std::size_t>(w)].push_back(d.add_user(
					static_cast<std::uint64_t>(key), [&, key](const ukevent &ev) {
						if (ev.id != static_cast<std::uint64_t>(key))
							++wrong;
						count[static_cast<std::size_t>(key)] +=
							static_cast<int>(ev.ret_data);
						if ((sum += static_cast<int>(ev.ret_data)) == total)
							d.stop();
					}));
			}
			for (int r = 0; r < rounds; r++) {
				for (int k = 0; k < keys; k++)
					d.trigger(static_cast<std::uint64_t>(w * keys + k));
				d.stop();
				++stops;
			}
		});
	// A hang detector: if triggers were lost, stop the loop and say so.
	std::atomic<bool> finished{false}, gave_up{false};
	std::thread watchdog([&] {
		const auto give_up = steady_clock::now() + state_timeout;
		while (!finished.load() && steady_clock::now() < give_up)
			std::this_thread::sleep_for(1ms);
		if (!finished.load()) {
			gave_up.store(true);
			d.stop();
		}
	});
	std::size_t callbacks = 0;
	int runs = 0;
	while (sum.load() < total && !gave_up.load()) {
		callbacks += d.run();
		++runs;
	}
	finished.store(true);
	watchdog.join();
	for (auto &t : threads)
		t.join();
	EXPECT_FALSE(gave_up.load()) << sum.load() << " of " << total << " triggers";
	EXPECT_EQ(wrong.load(), 0);
	for (int key = 0; key < workers * keys; key++)
		EXPECT_EQ(count[static_cast<std::size_t>(key)].load(), rounds) << "key " << key;
	EXPECT_EQ(sum.load(), total);
	EXPECT_EQ(stops.load(), workers * rounds);
	EXPECT_GE(runs, 1);
	EXPECT_LE(callbacks, static_cast<std::size_t>(total));
	EXPECT_GE(callbacks, static_cast<std::size_t>(workers * keys));
	d.poll();	// consume the stops still pending
}
