// SPDX-License-Identifier: MIT
/*
 * demo.c - one kevent queue watching a socket pair, a periodic timer, a user
 * event triggered from a second thread, a file, a signal and a child's exit.
 * Events are printed as they are consumed from the ring; the demo ends by
 * itself once it has seen each kind.
 *
 *   KEVENT_BACKEND=epoll ./demo
 */
#include <errno.h>
#include <fcntl.h>
#include <kevent.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

enum { SOCK = 1, TICK, WAKE, FILEW, SIG, CHILD };

static int qfd;
static char path[] = "/tmp/kevent-demo-XXXXXX";

static void die(const char *what)
{
	fprintf(stderr, "demo: %s: %s\n", what, strerror(errno));
	exit(1);
}

static void add(struct ukevent *e)
{
	if (kevent_ctl(qfd, KEVENT_CTL_ADD, 1, e) != 1) {
		errno = (int)e->ret_data;
		die("kevent_ctl ADD");
	}
}

static struct ukevent reg(uint32_t type, uint64_t id, uint32_t event,
			  uint32_t flags, uint64_t data, uint64_t user)
{
	struct ukevent e;

	memset(&e, 0, sizeof(e));
	e.type = type;
	e.id = id;
	e.event = event;
	e.req_flags = flags;
	e.data = data;
	e.user = user;
	return e;
}

/* The second thread: wakes the queue, then appends to the watched file. */
static void *helper(void *arg)
{
	struct ukevent e = reg(KEVENT_USER, 1, 0, 0, 0, 0);
	struct timespec d = { 0, 120 * 1000000L };
	int fd;

	(void)arg;
	nanosleep(&d, NULL);
	if (kevent_ctl(qfd, KEVENT_CTL_READY, 1, &e) != 1)
		die("kevent_ctl READY");
	nanosleep(&d, NULL);
	fd = open(path, O_WRONLY | O_APPEND | O_CLOEXEC);
	if (fd < 0 || write(fd, "hello\n", 6) != 6)
		die("write file");
	close(fd);
	return NULL;
}

static const char *type_name(uint32_t t)
{
	static const char *names[] = {
		"POLL", "TIMER", "USER", "SIGNAL", "INODE", "PROC",
	};

	return t < 6 ? names[t] : "?";
}

int main(void)
{
	struct kevent_ring *ring;
	struct ukevent e;
	struct timespec timeout = { 5, 0 };
	unsigned int seen = 0, ticks = 0;
	const unsigned int all = (1u << SOCK) | (1u << TICK) | (1u << WAKE) |
				 (1u << FILEW) | (1u << SIG) | (1u << CHILD);
	sigset_t usr1;
	pthread_t thr;
	int sv[2], file;
	pid_t child;

	qfd = kevent_init(&ring, 64, 0);
	if (qfd < 0)
		die("kevent_init");
	printf("libkev demo: backend %s, ring of %u entries\n",
	       kevent_backend(qfd), ring->size);

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv))
		die("socketpair");
	e = reg(KEVENT_POLL, (uint64_t)sv[0], KEVENT_POLL_IN, 0, 0, SOCK);
	add(&e);
	e = reg(KEVENT_TIMER, 1, KEVENT_TIMER_MONOTONIC, 0, 50000000, TICK);
	add(&e);			/* every 50 ms */
	e = reg(KEVENT_USER, 1, 0, 0, 0, WAKE);
	add(&e);
	file = mkstemp(path);
	if (file < 0)
		die("mkstemp");
	e = reg(KEVENT_INODE, (uint64_t)file, KEVENT_INODE_MODIFY, 0, 0, FILEW);
	add(&e);
	sigemptyset(&usr1);
	sigaddset(&usr1, SIGUSR1);
	pthread_sigmask(SIG_BLOCK, &usr1, NULL);	/* before the thread */
	e = reg(KEVENT_SIGNAL, SIGUSR1, 0, 0, 0, SIG);
	add(&e);

	child = fork();
	if (child < 0)
		die("fork");
	if (child == 0) {
		struct timespec d = { 0, 300 * 1000000L };

		nanosleep(&d, NULL);
		_exit(7);
	}
	e = reg(KEVENT_PROC, (uint64_t)child, KEVENT_PROC_EXIT, 0, 0, CHILD);
	add(&e);

	if (pthread_create(&thr, NULL, helper, NULL))
		die("pthread_create");
	if (write(sv[1], "ping", 4) != 4)
		die("write socket");
	kill(getpid(), SIGUSR1);

	while (seen != all || ticks < 5) {
		if (ukevent_dequeue(qfd, ring, &e, &timeout) < 0)
			die("ukevent_dequeue");
		printf("[%s] %-6s id=%-6llu event=%#-6x ret_data=%-4llu ",
		       kevent_backend(qfd), type_name(e.type),
		       (unsigned long long)e.id, e.event,
		       (unsigned long long)e.ret_data);
		switch (e.user) {
		case SOCK: {
			char buf[16];
			ssize_t n = read(sv[0], buf, sizeof(buf));

			printf("socket: read %zd bytes\n", n);
			break;
		}
		case TICK:
			ticks += (unsigned int)e.ret_data;
			printf("timer: %u ticks so far\n", ticks);
			break;
		case WAKE:
			printf("user event from the second thread\n");
			break;
		case FILEW:
			printf("file %s was modified\n", path);
			break;
		case SIG:
			printf("SIGUSR1 received through the queue\n");
			break;
		case CHILD:
			printf("child %d exited with status %d\n", child,
			       WEXITSTATUS((int)e.ret_data));
			waitpid(child, NULL, 0);
			break;
		}
		seen |= 1u << e.user;
	}
	pthread_join(thr, NULL);
	unlink(path);
	close(file);
	close(sv[0]);
	close(sv[1]);
	printf("demo: saw every kind of event; %llu entries published, "
	       "%llu deferred\n", (unsigned long long)ring->published,
	       (unsigned long long)ring->deferred);
	kevent_close(qfd);	/* unmaps the ring */
	return 0;
}
