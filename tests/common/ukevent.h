/* SPDX-License-Identifier: MIT */
/*
 * ukevent.h - one struct ukevent with every field the caller does not name
 * zero (the reserved words included, which kevent_ctl(2) requires): the
 * entry every test, fuzzer and benchmark of libkev builds.  Written
 * against <kevent/abi.h> only, so the guest's tests of the raw module use
 * it too.
 */
#ifndef KEV_TEST_COMMON_UKEVENT_H
#define KEV_TEST_COMMON_UKEVENT_H

#include <stdint.h>

#include <kevent/abi.h>

static inline struct ukevent kt_ukevent(uint32_t type, uint64_t id,
					uint32_t event, uint32_t req_flags,
					uint64_t data, uint64_t user)
{
	struct ukevent e = {
		.id = id,
		.type = type,
		.event = event,
		.req_flags = req_flags,
		.data = data,
		.user = user,
	};

	return e;
}

#endif
