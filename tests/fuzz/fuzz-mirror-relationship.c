/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * ONTAP's SnapMirror relationship record as the leader's mirror service reads it
 * (coord/decide/mirror.c: mirror_rel_parse, mirror_duration_parse for lag_time), and the rules
 * that use it. Besides memory safety, the promises are checked (abort on violation): the states
 * are NUL-terminated within their buffers, a lag is 0 .. MIRROR_LAG_MAX, the reason holds no
 * control character, a failed parse leaves the output untouched, and the RPO and DR rules give
 * one of their documented answers.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "coord/decide/mirror.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(int cond)
{
	if (!cond)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	json_t *j = json_loadb((const char *)data, size, JSON_DECODE_ANY, NULL);
	char *text = strndup((const char *)data, size < 256 ? size : 256);
	struct mirror_rel r, before;
	char why[MIRROR_WHY_MAX];
	int64_t v = -5;

	if (text) {
		int rc = mirror_duration_parse(text, &v);
		check(rc == 0 ? v >= 0 && v <= MIRROR_LAG_MAX : (rc == -EINVAL || rc == -ERANGE) && v == -5);
		free(text);
	}
	if (!j)
		return 0;
	memset(&before, 0x33, sizeof(before));
	r = before;
	if (mirror_rel_parse(j, &r) == 0) {
		check(memchr(r.state, 0, sizeof(r.state)) && memchr(r.transfer_state, 0, sizeof(r.transfer_state)));
		check(memchr(r.reason, 0, sizeof(r.reason)) != NULL);
		for (const char *c = r.reason; *c; c++)
			check((unsigned char)*c >= 0x20 && *c != 0x7f);
		check(!r.has_lag || (r.lag >= 0 && r.lag <= MIRROR_LAG_MAX));
		for (int64_t rpo = 0; rpo <= 600; rpo += 300) {
			enum mirror_rpo x = mirror_rpo_check(rpo, &r);
			check(x == MIRROR_RPO_NONE || x == MIRROR_RPO_OK || x == MIRROR_RPO_BREACH);
		}
		for (int op = MIRROR_DR_FAILOVER; op <= MIRROR_DR_RESYNC; op++) {
			int rc = mirror_dr_check(op, "ds", &r, why, sizeof(why));
			check(rc == 0 || rc == -EBUSY || rc == -EALREADY || rc == -EINVAL || rc == -ENODATA);
			check(rc == 0 || why[0]);
		}
	} else
		check(!memcmp(&r, &before, sizeof(r)) && !json_is_object(j));
	json_decref(j);
	return 0;
}
