/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The DLM fence device's stdin (fencing/dlm-device.c: dlm_device_parse): what dlm_controld hands
 * fence_kvmcd. Besides memory safety, the promises are checked (abort on violation): a parse
 * that succeeds has a node id >= 1, a timeout in 1..DLM_DEVICE_TIMEOUT_MAX, a socket that is
 * empty or an absolute NUL-terminated path; a parse that fails says why (unless out of memory)
 * and leaves *out untouched.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fencing/dlm-device.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(int cond)
{
	if (!cond)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct dlm_device_request r, untouched;
	char *error = NULL;
	int rc;

	memset(&r, 0xa5, sizeof(r));
	memcpy(&untouched, &r, sizeof(r));
	rc = dlm_device_parse((const char *)data, size, &r, &error);
	if (rc == 0) {
		check(error == NULL);
		check(r.nodeid >= 1);
		check(r.timeout_sec >= 1 && r.timeout_sec <= DLM_DEVICE_TIMEOUT_MAX);
		check(r.action == DLM_DEVICE_OFF || r.action == DLM_DEVICE_ON);
		check(memchr(r.socket, 0, sizeof(r.socket)) != NULL);
		check(r.socket[0] == 0 || r.socket[0] == '/');
		check(!r.has_fail_time || r.fail_time >= 0);
	} else {
		check(rc == -EINVAL || rc == -E2BIG || rc == -ENOMEM);
		check(rc == -ENOMEM || (error && *error));
		check(!memcmp(&r, &untouched, sizeof(r)));
	}
	free(error);
	return 0;
}
