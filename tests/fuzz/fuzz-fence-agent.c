/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * A fence agent's answer (fencing/agent.c: fence_agent_parse), and the scrubbing of secrets from
 * it. Input: byte 0 = the action (bit 0: status), byte 1 = the exit status, byte 2 = where
 * stdout ends and stderr begins (a fraction of the rest), byte 3 = the length of a "secret" taken
 * from the start of the rest; then the output itself. Besides memory safety, the promises are
 * checked (abort on violation): the message is NUL-terminated printable ASCII within its size; a
 * power-off verdict only for `status` exiting 2, "done" only for `off` exiting 0; after scrubbing
 * the secret occurs nowhere in the output.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fencing/agent.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(int cond)
{
	if (!cond)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	enum fence_agent_action action;
	enum fence_agent_verdict v;
	size_t rest, split, slen;
	char *buf, *secret, msg[97];
	int exit_code;

	if (size < 4)
		return 0;
	action = (data[0] & 1) ? FENCE_AGENT_ACTION_STATUS : FENCE_AGENT_ACTION_OFF;
	exit_code = data[1];
	rest = size - 4;
	split = rest * data[2] / 256;
	slen = data[3] % 16;
	buf = malloc(rest + 1);
	if (!buf)
		return 0;
	memcpy(buf, data + 4, rest);
	buf[rest] = '\0';

	v = fence_agent_parse(action, exit_code, buf, split, buf + split, rest - split, msg, sizeof msg);
	check(memchr(msg, '\0', sizeof msg) != NULL);
	for (const char *p = msg; *p; p++)
		check(*p >= 0x20 && *p < 0x7f);
	check(fence_agent_verdict_name(v) != NULL);
	if (v == FENCE_AGENT_POWER_OFF)
		check(action == FENCE_AGENT_ACTION_STATUS && exit_code == 2);
	if (v == FENCE_AGENT_POWER_ON)
		check(action == FENCE_AGENT_ACTION_STATUS && exit_code == 0);
	if (v == FENCE_AGENT_DONE)
		check(action == FENCE_AGENT_ACTION_OFF && exit_code == 0);
	if (action == FENCE_AGENT_ACTION_OFF)
		check(v == FENCE_AGENT_DONE || v == FENCE_AGENT_ERROR);

	/* The secret: the first slen bytes (without NULs or '*', which scrubbing writes itself). */
	if (slen && slen <= rest) {
		secret = strndup(buf, slen);
		if (secret && strlen(secret) == slen && !strchr(secret, '*')) {
			char *secrets[] = { secret };
			fence_agent_scrub(buf, rest, secrets, 1);
			check(memmem(buf, rest, secret, slen) == NULL);
		}
		free(secret);
	}
	free(buf);
	return 0;
}
