/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The DLM fence device's stdin (dlm-device.h). */
#include "fencing/dlm-device.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "macros.h"

static int fail(char **error, int err, const char *fmt, ...) _printf_(3, 4);
static int fail(char **error, int err, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	if (error && vasprintf(error, fmt, ap) < 0)
		*error = NULL;
	va_end(ap);
	return err;
}

/* Decimal digits only (no sign, no spaces, no leading '+'), at most max. */
static int parse_u64(const char *s, size_t n, uint64_t max, uint64_t *out)
{
	uint64_t v = 0;

	if (n == 0 || n > 20)
		return -EINVAL;
	for (size_t i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -EINVAL;
		if (v > (max - (uint64_t)(s[i] - '0')) / 10)
			return -ERANGE;
		v = v * 10 + (uint64_t)(s[i] - '0');
	}
	*out = v;
	return 0;
}

static bool key_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '.' ||
	       c == '-';
}

static bool is_key(const char *k, size_t kn, const char *name)
{
	return kn == strlen(name) && !memcmp(k, name, kn);
}

int dlm_device_parse(const char *text, size_t len, struct dlm_device_request *out, char **error)
{
	struct dlm_device_request r = { .timeout_sec = DLM_DEVICE_TIMEOUT_DEFAULT };
	bool seen_node = false, seen_action = false, seen_timeout = false, seen_socket = false;
	unsigned line = 0;
	size_t pos = 0;

	if (error)
		*error = NULL;
	if (len > DLM_DEVICE_INPUT_MAX)
		return fail(error, -E2BIG, "more than %u bytes on stdin", DLM_DEVICE_INPUT_MAX);
	while (pos < len) {
		const char *l = text + pos, *nl = memchr(l, '\n', len - pos), *eq;
		size_t n = nl ? (size_t)(nl - l) : len - pos, kn, vn;
		const char *k, *v;
		uint64_t u;

		pos += n + (nl ? 1 : 0);
		line++;
		if (n && l[n - 1] == '\r')
			n--;
		if (n > DLM_DEVICE_LINE_MAX)
			return fail(error, -E2BIG, "line %u: longer than %u bytes", line, DLM_DEVICE_LINE_MAX);
		for (size_t i = 0; i < n; i++)
			if ((unsigned char)l[i] < 0x20 || l[i] == 0x7f)
				return fail(error, -EINVAL, "line %u: control character 0x%02x at byte %zu", line,
					    (unsigned char)l[i], i + 1);
		if (n == 0)
			continue;
		eq = memchr(l, '=', n);
		if (!eq)
			return fail(error, -EINVAL, "line %u: not key=value", line);
		k = l;
		kn = (size_t)(eq - l);
		v = eq + 1;
		vn = n - kn - 1;
		if (kn == 0)
			return fail(error, -EINVAL, "line %u: empty key", line);
		for (size_t i = 0; i < kn; i++)
			if (!key_char(k[i]))
				return fail(error, -EINVAL, "line %u: the key is not [A-Za-z0-9_.-]+", line);
		if (is_key(k, kn, "node")) {
			if (seen_node)
				return fail(error, -EINVAL, "line %u: node given twice", line);
			seen_node = true;
			if (parse_u64(v, vn, UINT32_MAX, &u) < 0 || u == 0)
				return fail(error, -EINVAL, "line %u: node=%.*s is not a corosync node id (1..4294967295)", line,
					    (int)(vn > 32 ? 32 : vn), v);
			r.nodeid = (uint32_t)u;
		} else if (is_key(k, kn, "action")) {
			if (seen_action)
				return fail(error, -EINVAL, "line %u: action given twice", line);
			seen_action = true;
			if (is_key(v, vn, "off") || is_key(v, vn, "reboot"))
				r.action = DLM_DEVICE_OFF;
			else if (is_key(v, vn, "on"))
				r.action = DLM_DEVICE_ON;
			else
				return fail(error, -EINVAL, "line %u: action=%.*s is not off, reboot or on", line,
					    (int)(vn > 32 ? 32 : vn), v);
		} else if (is_key(k, kn, "fail_time")) {
			if (r.has_fail_time)
				return fail(error, -EINVAL, "line %u: fail_time given twice", line);
			if (parse_u64(v, vn, (uint64_t)1 << 62, &u) < 0)
				return fail(error, -EINVAL, "line %u: fail_time=%.*s is not seconds since the epoch", line,
					    (int)(vn > 32 ? 32 : vn), v);
			r.has_fail_time = true;
			r.fail_time = (int64_t)u;
		} else if (is_key(k, kn, "timeout")) {
			if (seen_timeout)
				return fail(error, -EINVAL, "line %u: timeout given twice", line);
			seen_timeout = true;
			if (parse_u64(v, vn, DLM_DEVICE_TIMEOUT_MAX, &u) < 0 || u == 0)
				return fail(error, -EINVAL, "line %u: timeout=%.*s is not 1..%u seconds", line,
					    (int)(vn > 32 ? 32 : vn), v, DLM_DEVICE_TIMEOUT_MAX);
			r.timeout_sec = (unsigned)u;
		} else if (is_key(k, kn, "socket")) {
			if (seen_socket)
				return fail(error, -EINVAL, "line %u: socket given twice", line);
			seen_socket = true;
			if (vn == 0 || v[0] != '/' || vn > DLM_DEVICE_SOCKET_MAX)
				return fail(error, -EINVAL, "line %u: socket is not an absolute path of at most %u bytes", line,
					    DLM_DEVICE_SOCKET_MAX);
			memcpy(r.socket, v, vn);
			r.socket[vn] = 0;
		}
		/* anything else: a connect argument (host=, iqn=, ...), not ours */
	}
	if (!seen_node)
		return fail(error, -EINVAL, "no node=<corosync node id> on stdin");
	*out = r;
	return 0;
}
