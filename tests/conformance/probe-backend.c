// SPDX-License-Identifier: MIT
/* probe-backend NAME: exit 0 if libkev can create a queue on that backend. */
#include <errno.h>
#include <kevent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(int argc, char **argv)
{
	struct kevent_ring *ring;
	int fd;

	if (argc != 2) {
		fprintf(stderr, "usage: probe-backend kmod|uring|epoll\n");
		return 2;
	}
	setenv("KEVENT_BACKEND", argv[1], 1);
	fd = kevent_init(&ring, 0, 0);
	if (fd < 0) {
		printf("%s\n", strerror(errno));
		return 1;
	}
	kevent_close(fd);
	return 0;
}
