/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Following an asynchronous ONTAP job (HTTP 202 + {"job":{"uuid"}}) to its end.
 *
 * The parent request waits in REQ_WAIT_JOB while child requests GET
 * /api/cluster/jobs/{uuid}?fields=state at a growing interval (initial → ×1.5 → max) until
 * the job is terminal or job_timeout_ms passes. A failed job is read once more with
 * fields=state,message,code,error, and the parent fails with the job's integer code and message.
 * A 404 on the job GET means ONTAP purged it: the parent fails with -ENOENT and
 * error.job_purged = true, and the caller decides by re-reading the object (notes §9.3).
 * Three consecutive failed job GETs (after the child's own retries) end the wait.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>

#include "macros.h"
#include "ontap-internal.h"

static void job_poll(struct ontap_request *parent, bool full);

static int on_job_timer(sd_event_source *s, uint64_t usec, void *userdata)
{
	struct ontap_request *parent = userdata;

	parent->timer = sd_event_source_disable_unref(parent->timer);
	job_poll(parent, false);
	return 0;
}

static void job_fail(struct ontap_request *parent, int r, long http, bool purged, const char *what)
{
	struct ontap_error err = {};

	err.job_purged = purged;
	ontap_error_setf(&err, r, "job %s: %s", parent->job_uuid, what);
	ontap_request_finish(parent, r, http, NULL, &err);
	ontap_error_clear(&err);
}

static void job_schedule(struct ontap_request *parent)
{
	struct ontap_client *c = parent->client;
	uint64_t now = ontap_now_usec(c);
	char t[64];

	if (now + parent->job_interval > parent->job_deadline) {
		snprintf(t, sizeof t, "did not finish within %u ms", c->job_timeout_ms);
		job_fail(parent, -ETIME, 0, false, t);
		return;
	}
	if (sd_event_add_time_relative(c->event, &parent->timer, CLOCK_MONOTONIC,
				       parent->job_interval, 1, on_job_timer, parent) < 0) {
		job_fail(parent, -ENOMEM, 0, false, "cannot arm poll timer");
		return;
	}
	parent->job_interval = parent->job_interval * 3 / 2;
	if (parent->job_interval > c->job_poll_max)
		parent->job_interval = c->job_poll_max;
}

static void on_job_reply(struct ontap_client *c, int r, const struct ontap_reply *reply, void *userdata)
{
	struct ontap_request *parent = userdata;
	bool full = parent->job_full_read;  /* this reply answers the full read */
	struct ontap_job job;

	parent->job_child = NULL;
	parent->job_full_read = false;
	if (r == -ENOENT && reply->http_status == 404) {
		job_fail(parent, -ENOENT, 404, true,
			 "purged before its outcome was read; the object must be re-read");
		return;
	}
	if (r < 0) {
		if (++parent->job_errors >= 3) {
			char m[512];

			snprintf(m, sizeof m, "cannot read its state: %s", reply->error->message ?: strerror(-r));
			job_fail(parent, r, reply->http_status, false, m);
			return;
		}
		job_schedule(parent);
		return;
	}
	parent->job_errors = 0;
	if (ontap_parse_job(reply->body, &job) < 0) {
		job_fail(parent, -EBADMSG, reply->http_status, false, "malformed job record");
		return;
	}
	if (job.state == ONTAP_JOB_SUCCESS) {
		ontap_request_finish(parent, 0, 200, reply->body, NULL);
		return;
	}
	if (job.state == ONTAP_JOB_FAILURE) {
		struct ontap_error err = {};
		int e;

		if (!full) {
			/* Polls ask for state only; read code and message once. */
			job_poll(parent, true);
			return;
		}
		err.code = job.code;
		if (job.code)
			snprintf(err.code_text, sizeof err.code_text, "%lld", (long long) job.code);
		e = ontap_errno_from(CURLE_OK, 0, job.code ?: ONTAP_E_JOB_FAILED, job.message);
		if (e >= 0)
			e = -EIO;
		ontap_error_setf(&err, e, "%s", job.message ?: "job failed without a message");
		/* No HTTP status: the request was accepted (202); its job failed. */
		ontap_request_finish(parent, e, 0, reply->body, &err);
		ontap_error_clear(&err);
		return;
	}
	job_schedule(parent);
}

static void job_poll(struct ontap_request *parent, bool full)
{
	struct ontap_client *c = parent->client;
	char path[160];
	int r;

	snprintf(path, sizeof path, "/api/cluster/jobs/%s?fields=%s", parent->job_uuid,
		 full ? "state,message,code,error" : "state");
	c->stats.jobs_polled++;
	r = ontap_request_submit(c, "GET", path, NULL, ONTAP_REQ_URGENT, 0, on_job_reply, parent,
				 &parent->job_child);
	if (r < 0) {
		job_fail(parent, r, 0, false, "cannot poll");
		return;
	}
	parent->job_child->job_parent = parent;
	parent->job_full_read = full;
}

void ontap_job_start(struct ontap_request *req, const char *uuid)
{
	struct ontap_client *c = req->client;

	snprintf(req->job_uuid, sizeof req->job_uuid, "%s", uuid);
	req->state = REQ_WAIT_JOB;
	req->job_deadline = ontap_now_usec(c) + (uint64_t) c->job_timeout_ms * USEC_PER_MSEC;
	req->job_interval = c->job_poll_initial;
	req->job_errors = 0;
	/* First look right away: many jobs are done by the time the 202 arrives. */
	job_poll(req, false);
}

void ontap_job_abort(struct ontap_request *req)
{
	if (req->job_parent && req->job_parent->job_child == req)
		req->job_parent->job_child = NULL;
	if (req->job_child) {
		struct ontap_request *child = req->job_child;

		req->job_child = NULL;
		ontap_request_drop(child);
	}
	req->job_parent = NULL;
}
