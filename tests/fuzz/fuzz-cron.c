/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * libFuzzer target: the spec's schedule texts (coord/spec/protection.c), which come from the
 * user's spec -- a cron expression (parse, then next / previous fire times and the longest
 * gap, checked against each other), a duration -- and kvmcd's snapshot names read back from an
 * ONTAP listing (coord/decide/schedule.c: sched_snapshot_parse), which must round-trip.
 * The first input byte picks which; the rest is the text.
 */
#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "protection.h"
#include "schedule.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char text[512], why[256];
	struct prot_cron c;
	uint8_t kind;

	if (size < 1 || size > sizeof(text))
		return 0;
	kind = data[0] % 3;
	memcpy(text, data + 1, size - 1);
	text[size - 1] = 0;
	if (kind == 0 && prot_cron_parse(text, &c, why, sizeof(why)) == 0) {
		/* a time derived from the input, anywhere in range */
		int64_t t = (int64_t)(((uint64_t)size * 2654435761u) % (uint64_t)PROT_TIME_MAX);
		struct prot_timing tm = { .kind = PROT_CRON, .cron = c };
		int64_t n = prot_cron_next(&c, t), p = prot_cron_prev(&c, t);
		if (n != INT64_MIN && (n <= t || n % 60 || prot_cron_prev(&c, n) != n))
			abort();
		if (p != INT64_MIN && (p > t || p % 60 || (n != INT64_MIN && prot_cron_next(&c, p) > n)))
			abort();
		if (prot_cron_fires(&c) != (prot_max_gap(&tm, 1, INT64_MAX - 1) != INT64_MAX))
			abort();
	} else if (kind == 1) {
		json_t *v = json_string(text);
		int64_t sec;
		char buf[PROT_LABEL_MAX + 1];
		if (v && prot_duration_parse(v, &sec, why, sizeof(why)) == 0 && sec >= 0 && sec <= PROT_DURATION_MAX)
			prot_duration_format(sec / 60 * 60, buf);
		json_decref(v);
	} else if (kind == 2) {
		char pol[PROT_NAME_MAX + 1], lab[PROT_LABEL_MAX + 1], again[SCHED_NAME_MAX];
		int64_t slot;
		if (sched_snapshot_parse(text, pol, lab, &slot) == 0 &&
		    (sched_snapshot_name(pol, lab, slot, again) < 0 || strcmp(again, text)))
			abort();
	}
	return 0;
}
