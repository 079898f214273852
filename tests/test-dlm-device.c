/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * fencing/dlm-device.c: what dlm_controld hands kvmcd's fence device on stdin. The input it
 * really sends (measured: ../shared/notes/fullstack-fencing.md section 2) is taken; each kind
 * of bad input is refused naming the problem and the line. About 0 s.
 */
#include <errno.h>
#include <string.h>

#include "fencing/dlm-device.h"
#include "tap.h"

static int parse(const char *text, struct dlm_device_request *r, char **error)
{
	return dlm_device_parse(text, strlen(text), r, error);
}

static void refused(const char *text, int err, const char *what)
{
	struct dlm_device_request r;
	char *error = NULL;
	int rc = parse(text, &r, &error);

	CHECK(rc == err, "'%s': %d, expected %d", text, rc, err);
	CHECK(error && strstr(error, what), "'%s': error '%s' does not say '%s'", text, error ? error : "(none)", what);
	free(error);
}

int main(void)
{
	struct dlm_device_request r;
	char *error = NULL, big[DLM_DEVICE_INPUT_MAX + 2];

	/* what dlm_controld 4.2 sent with `device ... cluster=fsvm method=ok` and a connect line */
	CHECK(parse("cluster=fsvm\nmethod=ok\nnode=2\nhost=b\niqn=iqn.2024-01.test.fsvm:b\n"
		    "hostnqn=nqn.2024-01.test.fsvm:host:b\nfail_time=1795709567\n", &r, &error) == 0, "measured: %s", error);
	CHECK(r.nodeid == 2 && r.action == DLM_DEVICE_OFF && r.has_fail_time && r.fail_time == 1795709567 &&
	      r.timeout_sec == DLM_DEVICE_TIMEOUT_DEFAULT && !r.socket[0], "measured: fields");
	/* fence_all with our own arguments; unfencing; CRLF; no trailing newline; empty lines */
	CHECK(parse("timeout=5\nsocket=/run/kvmcd/api.sock\n\nnode=4294967295\r\naction=on", &r, &error) == 0, "%s", error);
	CHECK(r.nodeid == 4294967295u && r.action == DLM_DEVICE_ON && r.timeout_sec == 5 && !r.has_fail_time &&
	      !strcmp(r.socket, "/run/kvmcd/api.sock"), "own arguments");
	CHECK(parse("node=7\naction=reboot\n", &r, &error) == 0 && r.action == DLM_DEVICE_OFF, "reboot is off");
	CHECK(parse("node=7\nweird.key-1=with = signs and spaces\n", &r, &error) == 0, "a connect argument is ignored");

	refused("", -EINVAL, "no node=");
	refused("host=b\n", -EINVAL, "no node=");
	refused("node=0\n", -EINVAL, "line 1: node=0 is not a corosync node id");
	refused("node=4294967296\n", -EINVAL, "not a corosync node id");
	refused("node=-1\n", -EINVAL, "not a corosync node id");
	refused("node= 2\n", -EINVAL, "not a corosync node id");
	refused("node=2x\n", -EINVAL, "not a corosync node id");
	refused("node=\n", -EINVAL, "not a corosync node id");
	refused("node=1\nnode=1\n", -EINVAL, "line 2: node given twice");
	refused("node=1\naction=status\n", -EINVAL, "line 2: action=status is not off, reboot or on");
	refused("node=1\naction=off\naction=on\n", -EINVAL, "action given twice");
	refused("node=1\nfail_time=yesterday\n", -EINVAL, "fail_time=yesterday");
	refused("node=1\ntimeout=0\n", -EINVAL, "timeout=0 is not 1..3600");
	refused("node=1\ntimeout=3601\n", -EINVAL, "timeout=3601");
	refused("node=1\nsocket=relative/api.sock\n", -EINVAL, "socket is not an absolute path");
	refused("node=1\njunk\n", -EINVAL, "line 2: not key=value");
	refused("node=1\n=v\n", -EINVAL, "line 2: empty key");
	refused("node=1\nk y=v\n", -EINVAL, "the key is not");
	refused("node=1\nhost=a\tb\n", -EINVAL, "line 2: control character 0x09");
	CHECK(dlm_device_parse("node=1\0\n", 8, &r, &error) == -EINVAL && strstr(error, "control character 0x00"),
	      "a NUL byte: %s", error);
	free(error);
	error = NULL;
	memset(big, 'a', sizeof(big));
	memcpy(big, "node=1\nhost=", 12);
	CHECK(dlm_device_parse(big, 12 + DLM_DEVICE_LINE_MAX, &r, &error) == -E2BIG && strstr(error, "line 2: longer"),
	      "a long line: %s", error);
	free(error);
	error = NULL;
	CHECK(dlm_device_parse(big, sizeof(big), &r, &error) == -E2BIG && strstr(error, "more than"), "too much: %s", error);
	free(error);
	return tap_done("test-dlm-device");
}
