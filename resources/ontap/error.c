/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The ONTAP client's error type, its one errno translation, and the response parsers. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "macros.h"
#include "ontap-error.h"

static int errno_from_ontap_code(int64_t code)
{
	switch (code) {
	case ONTAP_E_DUPLICATE:
	case ONTAP_E_VOLUME_EXISTS:
	case ONTAP_E_VOLUME_BEING_CREATED:
	case ONTAP_E_LUN_EXISTS:
	case ONTAP_E_IGROUP_EXISTS:
	case ONTAP_E_INITIATOR_PRESENT:
	case ONTAP_E_LUN_MAP_EXISTS:
	case ONTAP_E_NS_EXISTS:
	case ONTAP_E_SUBSYS_EXISTS:
	case ONTAP_E_SUBSYS_HOST_EXISTS:
	case ONTAP_E_NS_MAP_EXISTS:
	case ONTAP_E_SNAPSHOT_EXISTS:
	case ONTAP_E_SNAPSHOT_POLICY_EXISTS:
	case ONTAP_E_EXPORT_RULE_EXISTS:
	case ONTAP_E_CG_EXISTS:
	case ONTAP_E_SM_EXISTS:
	case ONTAP_E_SCHEDULE_EXISTS:
	case 72090043: /* igroup with the subsystem's name */
		return -EEXIST;
	case ONTAP_E_NOT_FOUND:
	case ONTAP_E_LUN_NOT_FOUND:
	case ONTAP_E_LUN_NOT_FOUND2:
	case ONTAP_E_IGROUP_NOT_FOUND:
	case ONTAP_E_LUN_MAP_NOT_FOUND:
	case ONTAP_E_SUBSYS_NOT_FOUND:
	case ONTAP_E_NS_MAP_NOT_FOUND:
	case ONTAP_E_SNAPSHOT_NOT_FOUND:
	case ONTAP_E_SVM_NOT_FOUND:
	case ONTAP_E_EXPORT_POLICY_NOT_FOUND:
	case 917508: case 917927: case 1254201: case 5374878: case 72090006: case 72090007:
	case 72089731: case 72090021: case 72090004: case 5374034:
		return -ENOENT;
	case ONTAP_E_PERMISSION:
	case ONTAP_E_NOT_AUTHORIZED_SVM:
		return -EACCES;
	case ONTAP_E_NOT_SUPPORTED:
		return -EOPNOTSUPP;
	case ONTAP_E_LIMIT:
	case ONTAP_E_SNAPSHOT_LIMIT:
		return -EDQUOT;
	case ONTAP_E_NO_SPACE:
	case 917534: /* volume size too small is a size problem, not space: EINVAL below */
		return code == ONTAP_E_NO_SPACE ? -ENOSPC : -EINVAL;
	case ONTAP_E_TOO_MANY_REQUESTS:
		return -EAGAIN;
	case ONTAP_E_IN_USE:
	case ONTAP_E_VOLUME_HAS_CLONES:
	case ONTAP_E_VOLUME_BUSY:
	case ONTAP_E_LUN_MAPPED:
	case ONTAP_E_IGROUP_MAPPED:
	case ONTAP_E_NS_MAPPED:
	case ONTAP_E_SUBSYS_MAPPED:
	case ONTAP_E_SUBSYS_HAS_HOSTS:
	case ONTAP_E_SNAPSHOT_BUSY:
	case ONTAP_E_SM_TRANSFER_BUSY:
	case ONTAP_E_SM_BREAK_FAILED:
	case ONTAP_E_SM_TRANSIENT:
	case ONTAP_E_SM_MODIFY_BUSY:
	case 1638543: /* snapshot has owners */
		return -EBUSY;
	case ONTAP_E_LUN_SHRINK:
	case ONTAP_E_NS_SHRINK:
	case ONTAP_E_LUN_SAME_SIZE:
	case ONTAP_E_INVALID:
	case ONTAP_E_INVALID_FIELD:
	case ONTAP_E_INITIATOR_OTHER_OS:
	case ONTAP_E_SM_BAD_TRANSITION:
	case ONTAP_E_SM_ALREADY_INIT:
		return -EINVAL;
	default:
		return 0;
	}
}

static int errno_from_curl(CURLcode cc)
{
	switch (cc) {
	case CURLE_OK:
		return 0;
	case CURLE_COULDNT_RESOLVE_HOST:
	case CURLE_COULDNT_RESOLVE_PROXY:
		return -EHOSTUNREACH;
	case CURLE_COULDNT_CONNECT:
		return -ECONNREFUSED;
	case CURLE_OPERATION_TIMEDOUT:
		return -ETIMEDOUT;
	case CURLE_SEND_ERROR:
	case CURLE_RECV_ERROR:
	case CURLE_GOT_NOTHING:
	case CURLE_PARTIAL_FILE:
		return -ECONNRESET;
	case CURLE_PEER_FAILED_VERIFICATION:
	case CURLE_SSL_CACERT_BADFILE:
	case CURLE_SSL_ISSUER_ERROR:
	case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
		return -EBADE; /* TLS peer not trusted: never retried, reported as such */
	case CURLE_SSL_CONNECT_ERROR:
	case CURLE_SSL_CERTPROBLEM:
	case CURLE_SSL_CIPHER:
	case CURLE_SSL_ENGINE_NOTFOUND:
	case CURLE_SSL_ENGINE_SETFAILED:
		return -EPROTO;
	case CURLE_OUT_OF_MEMORY:
		return -ENOMEM;
	case CURLE_ABORTED_BY_CALLBACK:
		return -ECANCELED;
	case CURLE_TOO_MANY_REDIRECTS:
	case CURLE_WEIRD_SERVER_REPLY:
		return -EPROTO;
	case CURLE_FILESIZE_EXCEEDED:
		return -EFBIG;
	default:
		return -EIO;
	}
}

int ontap_errno_from(CURLcode cc, long http_status, int64_t ontap_code, const char *message)
{
	int r;

	if (cc != CURLE_OK)
		return errno_from_curl(cc);
	if (http_status >= 200 && http_status < 300 && ontap_code == 0)
		return 0;
	/* Bad credentials are told apart from a missing privilege (ONTAP sends code 6 for both). */
	if (http_status == 401)
		return -EKEYREJECTED;
	/* "temporarily locked" is ONTAP's way of saying "busy, try again" whatever the code. */
	if (message && strcasestr(message, "temporarily locked"))
		return -EAGAIN;
	r = errno_from_ontap_code(ontap_code);
	if (r != 0)
		return r;
	switch (http_status) {
	case 400: return -EINVAL;
	case 401: return -EKEYREJECTED;  /* bad credentials: distinct from a missing privilege */
	case 403: return -EACCES;
	case 404: return -ENOENT;
	case 405: return -EOPNOTSUPP;
	case 409: return -EEXIST;
	case 413: return -EFBIG;
	case 429: return -EAGAIN;
	case 502: case 504: return -EHOSTUNREACH;
	case 503: return -EAGAIN;
	case 0:   return ontap_code != 0 ? -EIO : 0;  /* a failed job with an unknown code */
	default:  return http_status >= 200 && http_status < 300 ? -EIO : -EIO;
	}
}

void ontap_error_clear(struct ontap_error *e)
{
	if (!e)
		return;
	free(e->message);
	free(e->target);
	free(e->object);
	*e = (struct ontap_error) {};
}

void ontap_error_copy(struct ontap_error *dst, const struct ontap_error *src)
{
	struct ontap_error t = *src;

	t.message = src->message ? strdup(src->message) : NULL;
	t.target = src->target ? strdup(src->target) : NULL;
	t.object = src->object ? strdup(src->object) : NULL;
	ontap_error_clear(dst);
	*dst = t;
}

void ontap_error_setf(struct ontap_error *e, int error, const char *fmt, ...)
{
	va_list ap;
	char *m = NULL;

	va_start(ap, fmt);
	if (vasprintf(&m, fmt, ap) < 0)
		m = NULL;
	va_end(ap);
	free(e->message);
	e->message = m;
	e->error = error;
}

void ontap_error_set_object(struct ontap_error *e, const char *fmt, ...)
{
	va_list ap;
	char *m = NULL;

	va_start(ap, fmt);
	if (vasprintf(&m, fmt, ap) < 0)
		m = NULL;
	va_end(ap);
	free(e->object);
	e->object = m;
}

const char *ontap_error_format(const struct ontap_error *e, char *buf, size_t size)
{
	char code[64] = "", http[32] = "";

	if (e->code_text[0])
		snprintf(code, sizeof code, " [ONTAP error %s]", e->code_text);
	else if (e->code)
		snprintf(code, sizeof code, " [ONTAP error %lld]", (long long)e->code);
	if (e->http_status)
		snprintf(http, sizeof http, " (HTTP %ld)", e->http_status);
	snprintf(buf, size, "%s%s%s%s%s%s%s%s",
		 e->object ?: "", e->object ? ": " : "",
		 e->message ?: (e->error ? strerror(-e->error) : "success"),
		 e->target ? " (target '" : "", e->target ?: "", e->target ? "')" : "",
		 code, http);
	return buf;
}

/* ONTAP sends codes as decimal strings; accept an integer too. Rejects garbage. */
static int parse_code(const json_t *v, int64_t *out, char *text, size_t size)
{
	if (json_is_integer(v)) {
		*out = json_integer_value(v);
		snprintf(text, size, "%lld", (long long)*out);
		return 0;
	}
	if (json_is_string(v)) {
		const char *s = json_string_value(v);
		char *end;
		long long n;

		if (!*s || strlen(s) >= size)
			return -EBADMSG;
		errno = 0;
		n = strtoll(s, &end, 10);
		if (errno != 0 || *end != '\0' || n < 0)
			return -EBADMSG;
		*out = n;
		snprintf(text, size, "%s", s);
		return 0;
	}
	return -EBADMSG;
}

int ontap_parse_error_body(const json_t *body, struct ontap_error *e)
{
	const json_t *err, *v;

	err = json_object_get(body, "error");
	if (!json_is_object(err))
		return -ENOMSG;
	v = json_object_get(err, "code");
	if (v && parse_code(v, &e->code, e->code_text, sizeof e->code_text) < 0) {
		e->code = 0;
		e->code_text[0] = '\0';
	}
	v = json_object_get(err, "message");
	if (json_is_string(v)) {
		free(e->message);
		e->message = strdup(json_string_value(v));
	}
	v = json_object_get(err, "target");
	if (json_is_string(v) && json_string_length(v) > 0) {
		free(e->target);
		e->target = strdup(json_string_value(v));
	}
	return 0;
}

static int copy_uuid(const json_t *v, char *uuid, size_t size)
{
	const char *s;
	size_t n;

	if (!json_is_string(v))
		return -ENOMSG;
	s = json_string_value(v);
	n = strlen(s);
	if (n == 0 || n >= size)
		return -EBADMSG;
	/* Job UUIDs go into a URL path: accept only hex and dashes. */
	if (strspn(s, "0123456789abcdefABCDEF-") != n)
		return -EBADMSG;
	memcpy(uuid, s, n + 1);
	return 0;
}

int ontap_parse_job_ref(const json_t *body, char *uuid, size_t size)
{
	const json_t *job = json_object_get(body, "job");

	if (!json_is_object(job)) {
		/* Query-based PATCH/DELETE answer {"jobs":[{…}]}; take the first. */
		const json_t *jobs = json_object_get(body, "jobs");

		if (!json_is_array(jobs) || json_array_size(jobs) == 0)
			return -ENOMSG;
		job = json_array_get(jobs, 0);
	}
	return copy_uuid(json_object_get(job, "uuid"), uuid, size);
}

int ontap_parse_job(const json_t *body, struct ontap_job *job)
{
	static const struct { const char *name; enum ontap_job_state state; } states[] = {
		{ "queued", ONTAP_JOB_QUEUED }, { "running", ONTAP_JOB_RUNNING },
		{ "paused", ONTAP_JOB_PAUSED }, { "success", ONTAP_JOB_SUCCESS },
		{ "failure", ONTAP_JOB_FAILURE }, { "error", ONTAP_JOB_FAILURE },
	};
	const json_t *v, *err;
	const char *s;

	if (!json_is_object(body))
		return -EBADMSG;
	*job = (struct ontap_job) {};
	v = json_object_get(body, "uuid");
	if (v)
		(void) copy_uuid(v, job->uuid, sizeof job->uuid);
	v = json_object_get(body, "state");
	if (!json_is_string(v))
		return -EBADMSG;
	s = json_string_value(v);
	for (size_t i = 0; i < ARRAY_SIZE(states); i++)
		if (strcmp(s, states[i].name) == 0)
			job->state = states[i].state;
	if (job->state == ONTAP_JOB_UNKNOWN)
		return -EBADMSG;

	v = json_object_get(body, "code");
	if (json_is_integer(v))
		job->code = json_integer_value(v);
	v = json_object_get(body, "message");
	if (json_is_string(v))
		job->message = json_string_value(v);
	/* Some versions carry the detail only in job.error (code as a string). */
	err = json_object_get(body, "error");
	if (json_is_object(err)) {
		char text[24];
		int64_t c = 0;

		if (job->code == 0 && parse_code(json_object_get(err, "code"), &c, text, sizeof text) == 0)
			job->code = c;
		v = json_object_get(err, "message");
		if (!job->message && json_is_string(v))
			job->message = json_string_value(v);
	}
	return 0;
}

int ontap_page_merge(json_t *acc, const json_t *page, char **next)
{
	const json_t *records, *v;
	size_t i;
	json_t *r;
	int n = 0;

	*next = NULL;
	if (!json_is_array(acc) || !json_is_object(page))
		return -EBADMSG;
	records = json_object_get(page, "records");
	if (records && !json_is_array(records))
		return -EBADMSG;
	json_array_foreach(records, i, r) {
		if (json_array_append(acc, r) < 0)
			return -ENOMEM;
		n++;
	}
	if (n == 0)
		return 0; /* an empty page ends the walk even when it carries a "next" */
	v = json_object_get(json_object_get(json_object_get(page, "_links"), "next"), "href");
	if (json_is_string(v) && json_string_length(v) > 0) {
		const char *href = json_string_value(v);

		/* Only same-server paths under /api: a "next" cannot send us (and our
		 * credentials) elsewhere. */
		if (strncmp(href, "/api/", 5) != 0 || strpbrk(href, " \r\n\t"))
			return -EBADMSG;
		*next = strdup(href);
		if (!*next)
			return -ENOMEM;
	}
	return n;
}
