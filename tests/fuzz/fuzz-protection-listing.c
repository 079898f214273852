/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * ONTAP's snapshot listing as the leader's protection service reads it
 * (agent/protection-parse.c: prot_listing_parse), and the snapshot names it reads back
 * (prot_ondemand_parse, prot_snapshot_is_ours). Besides memory safety, the promises are checked
 * (abort on violation): a parse that succeeds gives at most PROT_SNAP_LIST_MAX entries, each a
 * non-empty name of at most PROT_SNAP_NAME_MAX bytes without control characters; a failed one
 * leaves the outputs untouched; an on-demand name that parses is written back identically.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "agent/protection-parse.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(int cond)
{
	if (!cond)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct prot_snap *s = (void *)0x1;
	size_t n = 12345;
	json_t *j = json_loadb((const char *)data, size, JSON_DECODE_ANY, NULL);
	char *text = strndup((const char *)data, size < 512 ? size : 512);
	char pol[PROT_NAME_MAX + 1], back[PROT_ONDEMAND_NAME_MAX];
	int64_t t;

	if (j) {
		if (prot_listing_parse(j, &s, &n) == 0) {
			check(n <= PROT_SNAP_LIST_MAX && (n == 0) == (s == NULL));
			for (size_t i = 0; i < n; i++) {
				size_t len = strlen(s[i].name);
				check(len > 0 && len <= PROT_SNAP_NAME_MAX && s[i].create_time);
				for (size_t k = 0; k < len; k++)
					check((unsigned char)s[i].name[k] >= 0x20 && s[i].name[k] != 0x7f);
			}
			prot_listing_free(s, n);
		} else {
			check(s == (void *)0x1 && n == 12345);
		}
		json_decref(j);
	}
	if (text) {
		if (prot_ondemand_parse(text, pol, &t) == 0) {
			check(prot_ondemand_name(pol, t, back) == 0 && strcmp(back, text) == 0);
			check(prot_snapshot_is_ours(text));
		}
		free(text);
	}
	return 0;
}
