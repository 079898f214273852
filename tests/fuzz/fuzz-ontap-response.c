/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * libFuzzer target for the ONTAP client's parsers of outside input: the error body, the job
 * reference of a 202, the job record, and a collection page (records + _links.next). They take
 * whatever JSON ONTAP (or anything on the path) sends; none may crash, leak or accept a "next"
 * link that leaves the server.
 *
 * Build: sources resources/ontap/error.c + this file, deps jansson + libcurl (for the CURLcode
 * type only), include dirs resources/ontap and common; clang -fsanitize=fuzzer,address.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ontap-error.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	json_t *body, *acc;
	struct ontap_error err = {};
	struct ontap_job job;
	char uuid[64], buf[512];
	char *next = NULL;
	int n;

	body = json_loadb((const char *) data, size, JSON_DECODE_ANY, NULL);
	if (!body)
		return 0;

	if (ontap_parse_error_body(body, &err) == 0) {
		err.error = ontap_errno_from(CURLE_OK, 400, err.code, err.message);
		(void) ontap_error_format(&err, buf, sizeof buf);
	}
	ontap_error_clear(&err);

	if (ontap_parse_job_ref(body, uuid, sizeof uuid) == 0) {
		/* goes into a URL path: only hex and dashes */
		if (strspn(uuid, "0123456789abcdefABCDEF-") != strlen(uuid))
			abort();
	}
	if (ontap_parse_job(body, &job) == 0) {
		if (job.state == ONTAP_JOB_UNKNOWN)
			abort();
		(void) ontap_errno_from(CURLE_OK, 0, job.code, job.message);
	}

	acc = json_array();
	n = ontap_page_merge(acc, body, &next);
	if (next && (n <= 0 || strncmp(next, "/api/", 5) != 0))
		abort();
	if (n >= 0 && json_array_size(acc) != (size_t) n)
		abort();
	free(next);
	json_decref(acc);
	json_decref(body);
	return 0;
}
