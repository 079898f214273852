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
 * learns (at most job_poll_max), then each polls that long after its own 202. Meanwhile each
 * waiting job looks when it is as old as the scout will be at its next poll, in case that poll
 * finds the scout done: waiting for the scout's answer instead made the first jobs of a fresh
 * leader poll a round trip late (50 volume creates: the first 16 polled at 360 ms, not 310, and
 * their LUNs and maps started that much later). Such a look that finds its job running waits for
 * the scout again. A 202 that comes after ONTAP held the request return_timeout seconds is
 * polled at once and teaches nothing. This is timing only: what a poll finds is handled as
 * before, so any ONTAP, faster or slower than learned, gives the same results.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <syslog.h>

#include "macros.h"
#include "ontap-internal.h"

static void job_poll(struct ontap_request *parent, bool full);

/*
 * How late a poll may go so that polls coming due close together go in one GET (see "Several
 * jobs in one GET" below): their timers fire in one wakeup, and a poll starts at the end of its
 * loop turn (ONTAP_REQ_TURN_END), where the queue sends the polls of the turn together. Fifty
 * volume creates answered over 250 ms come due over 250 ms: one GET per few polls instead of one
 * each, which leaves the slots to the LUNs and maps their answers start.
 */
#define JOB_POLL_SLACK_USEC (10 * USEC_PER_MSEC)

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
	if (sd_event_add_time_relative(c->event, &parent->timer, CLOCK_MONOTONIC, delay, JOB_POLL_SLACK_USEC,
				       on_job_timer, parent) < 0) {
		job_fail(parent, -ENOMEM, 0, false, "cannot arm poll timer");
		return false;
	}
	(void) sd_event_source_set_priority(parent->timer, ONTAP_EVENT_PRIORITY);
	return true;
}

/* A job waiting for its kind's scout (t scouting): it looks when it is as old as the scout
 * will be at its next poll, or once the scout learns (at most job_poll_max from now). */
static bool job_wait_scout(struct ontap_request *q, const struct ontap_job_timing *t)
{
	uint64_t now = ontap_now_usec(q->client), when = q->job_since + t->scout_next_age;

	q->job_waits_scout = true;
	if (!t->scout_next_age || when < now)
		return job_arm(q, q->client->job_poll_max);
	return job_arm(q, when - now);
}

/* The scout's next poll is armed: the jobs waiting for it look when they are that old. */
static void job_scout_armed(struct ontap_request *scout, struct ontap_job_timing *t)
{
	struct ontap_client *c = scout->client;
	uint64_t at = 0;

	if (!scout->timer || sd_event_source_get_time(scout->timer, &at) < 0 || at <= scout->job_since)
		return;
	t->scout_next_age = at - scout->job_since;
	for (struct ontap_request *q = c->requests; q; q = q->next)
		if (q->state == REQ_WAIT_JOB && q->job_waits_scout && q->timer && !q->job_child &&
		    timing_of(c, q, false) == t)
			(void) sd_event_source_set_time(q->timer, q->job_since + t->scout_next_age);
}

static void job_schedule(struct ontap_request *parent)
{
	struct ontap_client *c = parent->client;
	struct ontap_job_timing *t = timing_of(c, parent, false);

	if (parent->job_waits_scout) {
		/* A look while its kind's scout was out found it running: wait for the scout again,
		 * or, when the scout learned meanwhile, look as a job at the learned time does. */
		if (t && t->scouting) {
			(void) job_wait_scout(parent, t);
			return;
		}
		parent->job_waits_scout = false;
		parent->job_timed = t && t->known;
		parent->job_polls = 1;
	}
	/* A first poll at the learned time that found it running: it is about to end. */
	if (parent->job_timed && parent->job_polls == 1 && t && t->known) {
		(void) job_arm(parent, t->first_usec / 8 > 10 * USEC_PER_MSEC ? t->first_usec / 8 : 10 * USEC_PER_MSEC);
		return;
	}
	if (!job_arm(parent, parent->job_interval))
		return;
	parent->job_interval = parent->job_interval * 3 / 2;
	if (parent->job_interval > c->job_poll_max)
		parent->job_interval = c->job_poll_max;
	if (parent->job_scout && t && t->scouting)
		job_scout_armed(parent, t);
}

/* The jobs of t's kind still waiting for their first poll: each then t->first_usec after its 202
 * (at once if that has passed), or now when nothing is known. */
static void job_release_waiting(struct ontap_client *c, const struct ontap_job_timing *t)
{
	for (struct ontap_request *q = c->requests; q; q = q->next) {
		uint64_t when;

		if (q->state != REQ_WAIT_JOB || !q->job_waits_scout || q->job_child || !q->timer ||
		    timing_of(c, q, false) != t)
			continue;
		when = t->known ? q->job_since + t->first_usec : 0;
		q->job_waits_scout = false;
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
	r = ontap_request_submit(c, "GET", path, NULL, ONTAP_REQ_URGENT | (full ? 0 : ONTAP_REQ_TURN_END), 0,
				 on_job_reply, parent, &parent->job_child);
	if (r < 0) {
		job_fail(parent, r, 0, false, "cannot poll");
		return;
	}
	parent->job_child->job_parent = parent;
	parent->job_child->job_state_poll = !full;
	parent->job_full_read = full;
}

/*
 * Several jobs in one GET. When the slots are all busy, the polls that come due wait in the queue
 * (at its front: they are urgent). When a slot frees and more than one waits, they go together,
 * GET /api/cluster/jobs?uuid=A|B|...&fields=uuid,state (a query with "|" alternatives, as on any
 * ONTAP collection; notes §2), and each waiting poll is answered from its job's record as if it
 * had gone alone. Fifty volume jobs then cost a few requests instead of fifty, which leaves the
 * slots to the LUNs and maps that follow. Polls that come due in one loop turn (their timers have
 * JOB_POLL_SLACK_USEC of slack to meet) go together the same way with slots to spare; a poll due
 * alone goes alone.
 * What a batch cannot answer goes alone: a job missing from its answer (purged, or a query this
 * ONTAP reads differently: only a GET of the job itself says 404), and, once ONTAP refused such
 * a GET with a 4xx, every poll of this client from then on.
 */
#define JOB_BATCH_MAX 32

struct job_batch {
	size_t n;
	struct ontap_request *member[JOB_BATCH_MAX];  /* borrowed; NULL once dropped (ontap_job_abort) */
};

static bool batchable(const struct ontap_request *q)
{
	/* A UUID goes into the query as it is: only one made of hex digits and dashes. */
	return q->state == REQ_QUEUED && q->job_state_poll && !q->job_alone && q->attempts == 0 && q->job_parent &&
	       q->job_parent->job_uuid[0] &&
	       strspn(q->job_parent->job_uuid, "0123456789abcdefABCDEF-") == strlen(q->job_parent->job_uuid);
}

/* Back to the queue as a poll of its own (front: it was urgent). */
static void batch_member_requeue(struct ontap_request *m, bool alone)
{
	m->job_batch = NULL;
	m->job_alone = m->job_alone || alone;
	m->state = REQ_QUEUED;
}

/* Answered from the batch, as if its own GET had come back with (r, http, body). */
static void batch_member_finish(struct ontap_request *m, int r, long http, const json_t *body, struct ontap_error *err)
{
	m->job_batch = NULL;
	m->job_answered_in_batch = true;
	ontap_request_finish(m, r, http, body, err);
}

static void on_batch_reply(struct ontap_client *c, int r, const struct ontap_reply *reply, void *userdata)
{
	_cleanup_free_ struct job_batch *b = userdata;
	const json_t *records = r >= 0 ? json_object_get(reply->body, "records") : NULL;

	/* A query this ONTAP does not take (a bad field or value, not found, a URI too long); not
	 * 401/403/429, which every request would meet alone just as well. */
	if (r < 0 && (reply->http_status == 400 || reply->http_status == 404 || reply->http_status == 414) &&
	    !c->job_batch_off) {
		c->job_batch_off = true;
		ontap_log(c, LOG_NOTICE, "ONTAP refused a GET of several jobs (HTTP %ld: %s): jobs are polled one per GET "
			  "from now on", reply->http_status, reply->error && reply->error->message ? reply->error->message : "");
	}
	/* Each member's callback may finish parents and drop other members (they then leave the
	 * batch: ontap_job_abort), so the member is taken out before its callback runs. */
	for (size_t i = 0; i < b->n; i++) {
		struct ontap_request *m = b->member[i];
		const json_t *rec = NULL, *v;
		size_t k;

		if (!m)
			continue;
		b->member[i] = NULL;
		if (c->closing || c->job_batch_off) {
			batch_member_requeue(m, c->job_batch_off);
			continue;
		}
		if (r < 0) {
			/* As if its own poll had failed: the parent counts it (three in a row end the wait). */
			struct ontap_error e = {};

			ontap_error_setf(&e, r, "%s", reply->error && reply->error->message ? reply->error->message
											: strerror(-r));
			batch_member_finish(m, r, reply->http_status, NULL, &e);
			ontap_error_clear(&e);
			continue;
		}
		json_array_foreach(records, k, v) {
			const char *u = json_string_value(json_object_get(v, "uuid"));

			if (u && strcasecmp(u, m->job_parent->job_uuid) == 0) {
				rec = v;
				break;
			}
		}
		if (!rec || !json_is_string(json_object_get(rec, "state"))) {
			batch_member_requeue(m, true);
			continue;
		}
		batch_member_finish(m, 0, 200, rec, NULL);
	}
	/* ontap_request_finish() of the batch dispatches the requeued members after this returns. */
}

bool ontap_job_batch_polls(struct ontap_client *c, struct ontap_request *first)
{
	_cleanup_free_ char *path = NULL;
	struct job_batch *b;
	struct ontap_request *breq = NULL;
	size_t len = 0;
	FILE *f;
	int r;

	if (c->job_batch_off || c->closing || !batchable(first))
		return false;
	if (!(b = calloc(1, sizeof *b)))
		return false;
	b->member[b->n++] = first;
	for (struct ontap_request *q = c->requests; q && b->n < JOB_BATCH_MAX; q = q->next)
		if (q != first && batchable(q))
			b->member[b->n++] = q;
	if (b->n < 2 || !(f = open_memstream(&path, &len))) {
		free(b);
		return false;
	}
	fputs("/api/cluster/jobs?uuid=", f);
	for (size_t i = 0; i < b->n; i++)
		fprintf(f, "%s%s", i ? "%7C" : "", b->member[i]->job_parent->job_uuid);
	fputs("&fields=uuid,state", f);
	if (fclose(f) != 0 || !path) {
		free(b);
		return false;
	}
	r = ontap_request_submit(c, "GET", path, NULL, ONTAP_REQ_URGENT | ONTAP_REQ_ALL_PAGES, 0, on_batch_reply, b,
				 &breq);
	if (r < 0) {
		free(b);
		return false;
	}
	for (size_t i = 0; i < b->n; i++) {
		b->member[i]->state = REQ_BATCHED;
		b->member[i]->job_batch = b;
	}
	ontap_log(c, LOG_DEBUG, "jobs: %zu polls in one GET (%u of %u slots busy)", b->n, c->in_flight, c->max_concurrency);
	return true;
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
	req->job_scout = req->job_timed = req->job_waits_scout = false;
	/* When to look first: the top of this file. */
	t = req->rt_waited ? NULL : timing_of(c, req, true);
	ontap_log(c, LOG_DEBUG, "job %.8s: 202 for %s %s; first poll %s", uuid, req->method, req->path,
		  t && t->known && t->first_usec > 0 ? "at the learned time" : t && !t->known && t->scouting ?
		  "once the scout learns" : "now");
	if (t && t->known && t->first_usec > 0) {
		req->job_timed = true;
		(void) job_arm(req, t->first_usec);
	} else if (t && !t->known && t->scouting) {
		(void) job_wait_scout(req, t);  /* moved earlier once the scout learns */
	} else {
		if (t && !t->known) {
			t->scouting = req->job_scout = true;
			t->scout_next_age = 0;
		}
		job_poll(req, false);
	}
}

void ontap_job_abort(struct ontap_request *req)
{
	struct ontap_job_timing *t;

	if (req->job_batch) {
		for (size_t i = 0; i < req->job_batch->n; i++)
			if (req->job_batch->member[i] == req)
				req->job_batch->member[i] = NULL;
		req->job_batch = NULL;
	}

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
