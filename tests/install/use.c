/* SPDX-License-Identifier: MIT */
/* A program built against an installed libkev: tests/install, tests/packaging. */
#include <kevent.h>
#include <stdio.h>
#include <string.h>

int main(void)
{
	struct kevent_ring *ring;
	struct ukevent e, out;
	int fd = kevent_init(&ring, 8, 0);

	if (fd < 0)
		return 1;
	memset(&e, 0, sizeof(e));
	e.type = KEVENT_USER;
	e.id = 1;
	e.user = 42;
	if (kevent_ctl(fd, KEVENT_CTL_ADD, 1, &e) != 1 ||
	    kevent_ctl(fd, KEVENT_CTL_READY, 1, &e) != 1 ||
	    ukevent_dequeue(fd, ring, &out, NULL) != 0 || out.user != 42)
		return 1;
	printf("installed libkev works (%s backend)\n", kevent_backend(fd));
	return kevent_close(fd);
}
