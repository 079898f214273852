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
 *
 * When to look first. A job's first poll used to go out at once, and the next one 250 ms after
 * its answer: a volume create (300 ms on the simulator; longer on a real ONTAP) cost a poll that
 * always found it running, and a second one that could land just before its end and miss it by a
 * few ms (then 375 ms more). The client now learns, per kind of job (method and path, UUIDs and
 * query left out), when after its 202 a poll last found such a job done: the next one of that kind
 * is first polled then, and, when it is still running, once more after an eighth of that time
 * before the usual interval resumes. A first poll that finds it done makes the next kind's time a
 * sixteenth earlier, so the time follows a kind that gets faster. Before anything is known one job
 * of the kind (the scout) polls at once and as before; the others of its kind wait for what it
 * learns (at most job_poll_max), then each polls that long after its own 202. A 202 that comes
 * after ONTAP held the request return_timeout seconds is polled at once and teaches nothing. This
 * is timing only: what a poll finds is handled as before, so any ONTAP, faster or slower than
 * learned, gives the same results.
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

/* "POST /api/storage/volumes": the method and the path without its query, a UUID as "{}". */
static void job_kind(const struct ontap_request *req, char *buf, size_t size)
{
	size_t n = (size_t) snprintf(buf, size, "%s ", req->method);

	for (const char *p = req->path; *p && *p != '?' && n + 3 < size;) {
		size_t seg = strcspn(p + 1, "/?") + 1;  /* "/segment" */

		if (seg == 37 && p[9] == '-' && p[14] == '-') {
			memcpy(buf + n, "/{}", 3);
			n += 3;
		} else {
			size_t k = seg < size - n - 1 ? seg : size - n - 1;
			memcpy(buf + n, p, k);
			n += k;
		}
		p += seg;
	}
	buf[n < size ? n : size - 1] = '\0';
}

static struct ontap_job_timing *timing_of(struct ontap_client *c, const struct ontap_request *req, bool add)
{
	struct ontap_job_timing *t;
	char kind[sizeof c->job_timing[0].kind];

	job_kind(req, kind, sizeof kind);
	for (size_t i = 0; i < ONTAP_JOB_KINDS; i++)
		if (strcmp(c->job_timing[i].kind, kind) == 0)
			return &c->job_timing[i];
	if (!add)
		return NULL;
	t = &c->job_timing[c->job_timing_next++ % ONTAP_JOB_KINDS];
	*t = (struct ontap_job_timing) {};
	snprintf(t->kind, sizeof t->kind, "%s", kind);
	return t;
}

/* Arms the next poll delay from now; false (and the parent finished) when it cannot. */
static bool job_arm(struct ontap_request *parent, uint64_t delay)
{
	struct ontap_client *c = parent->client;
	uint64_t now = ontap_now_usec(c);
	char t[64];

	if (now + delay > parent->job_deadline) {
		snprintf(t, sizeof t, "did not finish within %u ms", c->job_timeout_ms);
		job_fail(parent, -ETIME, 0, false, t);
		return false;
	}
	if (sd_event_add_time_relative(c->event, &parent->timer, CLOCK_MONOTONIC, delay, 1, on_job_timer,
				       parent) < 0) {
		job_fail(parent, -ENOMEM, 0, false, "cannot arm poll timer");
		return false;
	}
	return true;
}

static void job_schedule(struct ontap_request *parent)
{
	struct ontap_client *c = parent->client;
	const struct ontap_job_timing *t;

	/* A first poll at the learned time that found it running: it is about to end. */
	if (parent->job_timed && parent->job_polls == 1 && (t = timing_of(c, parent, false)) && t->known) {
		(void) job_arm(parent, t->first_usec / 8 > 10 * USEC_PER_MSEC ? t->first_usec / 8 : 10 * USEC_PER_MSEC);
		return;
	}
	if (!job_arm(parent, parent->job_interval))
		return;
	parent->job_interval = parent->job_interval * 3 / 2;
	if (parent->job_interval > c->job_poll_max)
		parent->job_interval = c->job_poll_max;
}

/* The jobs of t's kind still waiting for their first poll: each then t->first_usec after its 202
 * (at once if that has passed), or now when nothing is known. */
static void job_release_waiting(struct ontap_client *c, const struct ontap_job_timing *t)
{
	for (struct ontap_request *q = c->requests; q; q = q->next) {
		uint64_t when;

		if (q->state != REQ_WAIT_JOB || q->job_polls || !q->timer || timing_of(c, q, false) != t)
			continue;
		when = t->known ? q->job_since + t->first_usec : 0;
		q->job_timed = t->known;
		(void) sd_event_source_set_time(q->timer, when);
	}
}

/* The poll that found the parent's job done started job_poll_at after its 202: learn from it. */
static void job_learn(struct ontap_request *parent)
{
	struct ontap_client *c = parent->client;
	struct ontap_job_timing *t;
	uint64_t at = parent->job_poll_at;

	if (parent->rt_waited || !(t = timing_of(c, parent, false)))
		return;
	t->first_usec = parent->job_timed && parent->job_polls == 1 ? at - at / 16 : at;
	if (t->first_usec > c->job_poll_max)
		t->first_usec = c->job_poll_max;
	t->known = true;
	if (t->scouting) {
		t->scouting = false;
		job_release_waiting(c, t);
	}
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
		job_learn(parent);
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
	if (!full) {
		parent->job_polls++;
		parent->job_poll_at = ontap_now_usec(c) - parent->job_since;
		ontap_log(c, LOG_DEBUG, "job %.8s: poll %u, %llu ms after its 202 (%u of %u slots busy)", parent->job_uuid,
			  parent->job_polls, (unsigned long long)(parent->job_poll_at / USEC_PER_MSEC), c->in_flight,
			  c->max_concurrency);
	}
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
	struct ontap_job_timing *t;

	snprintf(req->job_uuid, sizeof req->job_uuid, "%s", uuid);
	req->state = REQ_WAIT_JOB;
	req->job_deadline = ontap_now_usec(c) + (uint64_t) c->job_timeout_ms * USEC_PER_MSEC;
	req->job_interval = c->job_poll_initial;
	req->job_errors = 0;
	req->job_since = ontap_now_usec(c);
	req->job_polls = 0;
	req->job_scout = req->job_timed = false;
	/* When to look first: the top of this file. */
	t = req->rt_waited ? NULL : timing_of(c, req, true);
	ontap_log(c, LOG_DEBUG, "job %.8s: 202 for %s %s; first poll %s", uuid, req->method, req->path,
		  t && t->known && t->first_usec > 0 ? "at the learned time" : t && !t->known && t->scouting ?
		  "once the scout learns" : "now");
	if (t && t->known && t->first_usec > 0) {
		req->job_timed = true;
		(void) job_arm(req, t->first_usec);
	} else if (t && !t->known && t->scouting) {
		(void) job_arm(req, c->job_poll_max);  /* moved earlier once the scout learns */
	} else {
		if (t && !t->known)
			t->scouting = req->job_scout = true;
		job_poll(req, false);
	}
}

void ontap_job_abort(struct ontap_request *req)
{
	struct ontap_job_timing *t;

	/* A scout that ends without a success taught nothing: the others of its kind poll now. */
	if (req->job_scout && (t = timing_of(req->client, req, false)) && t->scouting) {
		t->scouting = false;
		req->job_scout = false;
		if (!req->client->closing)
			job_release_waiting(req->client, t);
	}
	if (req->job_parent && req->job_parent->job_child == req)
		req->job_parent->job_child = NULL;
	if (req->job_child) {
		struct ontap_request *child = req->job_child;

		req->job_child = NULL;
		ontap_request_drop(child);
	}
	req->job_parent = NULL;
}
