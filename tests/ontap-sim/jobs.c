/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * ontap-sim: asynchronous jobs. A mutating request on an async endpoint validates what ONTAP
 * validates up front, then queues a job naming an operation and its arguments. The job thread
 * moves it queued -> running -> success|failure on the simulated clock and runs the operation
 * when it ends, so errors ONTAP reports inside the job (917534, 525059, 1638555) appear there.
 * Terminal jobs are purged after --job-purge-seconds.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "sim.h"

static const struct job_op *const op_tables[] = {
	cluster_job_ops, storage_job_ops, protect_job_ops,
};

static const struct job_op *find_op(const char *name)
{
	for (size_t t = 0; t < ARRAY_SIZE(op_tables); t++)
		for (const struct job_op *o = op_tables[t]; o->name; o++)
			if (strcmp(o->name, name) == 0)
				return o;
	return NULL;
}

static bool job_terminal(json_t *job)
{
	const char *s = jstr(job, "state");

	return s && (strcmp(s, "success") == 0 || strcmp(s, "failure") == 0);
}

static json_t *job_link(const char *uuid)
{
	char href[128];

	snprintf(href, sizeof(href), "/api/cluster/jobs/%s", uuid);
	return json_pack("{s:s,s:{s:{s:s}}}", "uuid", uuid, "_links", "self", "href", href);
}

static struct coll *coll_by_name(const char *name)
{
	for (size_t i = 0; all_colls[i]; i++)
		if (strcmp(all_colls[i]->name, name) == 0)
			return all_colls[i];
	return NULL;
}

int job_start(struct req *r, const char *op, json_t *args, int done_status)
{
	struct sim *sim = r->sim;
	json_t *fail = NULL, *job;
	_cleanup_free_ char *start = NULL;
	char uuid[37], desc[512], href[128];
	bool hang = false;
	int64_t now = sim_now_us(sim);
	long timeout = 0;
	const char *t;

	if (!args)
		return -ENOMEM;
	sim_uuid(uuid);
	faults_take_job(sim, r->method, r->path, &fail, &hang);
	start = sim_time_iso(now, false);
	snprintf(desc, sizeof(desc), "%s %s", r->method, r->path);
	job = json_pack("{s:s,s:s,s:s,s:s,s:i,s:s}", "uuid", uuid, "description", desc, "state",
			"queued", "message", "Queued", "code", 0, "start_time", start ? start : "");
	if (json_object_get(args, "svm"))
		json_object_set(job, "svm", json_object_get(args, "svm"));
	json_object_set_new(job, "_sim",
			    json_pack("{s:s,s:o,s:I,s:I,s:o,s:b,s:i}", "op", op, "args", args,
				      "t_run", (json_int_t)(now + sim->cfg.job_ms * 1000 / 3),
				      "t_done", (json_int_t)(now + sim->cfg.job_ms * 1000),
				      "fail", fail ? fail : json_null(), "hang", hang,
				      "status", done_status));
	json_array_append_new(state_array(sim, "jobs"), job);
	r->mutated = true;
	free(r->job_uuid);
	r->job_uuid = strdup(uuid);

	if ((t = req_param(r, "return_timeout")))
		timeout = strtol(t, NULL, 10);
	if (timeout > 0) {
		struct timespec deadline;
		int ret = state_persist(sim);

		if (ret < 0)
			return ret;
		json_incref(job);
		clock_gettime(CLOCK_REALTIME, &deadline);
		deadline.tv_sec += timeout;
		while (!job_terminal(job) && !sim->stopping) {
			if (pthread_cond_timedwait(&sim->changed, &sim->lock, &deadline) == ETIMEDOUT)
				break;
		}
		if (job_terminal(job)) {
			json_auto_t *owned _unused_ = job; /* drops the reference taken above */
			json_t *result = jpath(job, "_sim.result");
			struct coll *c;

			if (strcmp(jstr(job, "state"), "failure") == 0) {
				struct sim_err e = { .status = 400, .code = jint(job, "code", 460770) };
				snprintf(e.message, sizeof(e.message), "%s", jstr(job, "message"));
				snprintf(e.target, sizeof(e.target), "%s",
					 jstr(job, "error.target") ? jstr(job, "error.target") : "");
				return req_error_from(r, &e);
			}
			if (result && req_flag(r, "return_records") &&
			    (c = coll_by_name(jstr(result, "coll")))) {
				json_t *rec = state_find(sim, c->name, "uuid", jstr(result, "uuid"));
				coll_created(r, c, rec, done_status);
			} else
				req_reply(r, done_status, json_object());
			json_object_set_new(r->resp, "job", job_link(uuid));
			return 0;
		}
		json_decref(job);
	}
	snprintf(href, sizeof(href), "/api/cluster/jobs/%s", uuid);
	free(r->location);
	r->location = strdup(href);
	req_reply(r, 202, json_pack("{s:o}", "job", job_link(uuid)));
	return 0;
}

static void job_finish(struct sim *sim, json_t *job, int64_t now)
{
	json_t *s = jsim(job), *fail = json_object_get(s, "fail");
	struct sim_err err = { 0 };
	_cleanup_free_ char *end = sim_time_iso(now, false);
	int ret;

	if (json_is_object(fail)) {
		json_t *c = json_object_get(fail, "code");
		err.code = json_is_integer(c) ? (long)json_integer_value(c)
			   : json_is_string(c) ? strtol(json_string_value(c), NULL, 10) : 460770;
		snprintf(err.message, sizeof(err.message), "%s",
			 jstr(fail, "message") ? jstr(fail, "message") : "Injected job failure.");
		ret = -EIO;
	} else {
		const struct job_op *op = find_op(jstr(s, "op"));
		if (!op)
			ret = sim_err_set(&err, 500, 460770, "", "Unknown job operation \"%s\".",
					  jstr(s, "op"));
		else {
			ret = op->run(sim, json_object_get(s, "args"), job, &err);
			if (ret < 0 && !err.code)
				sim_err_set(&err, 500, 460770, "", "Job failed: %s", strerror(-ret));
		}
	}
	json_object_set_new(job, "end_time", json_string(end ? end : ""));
	if (ret < 0) {
		char code[32];

		snprintf(code, sizeof(code), "%ld", err.code);
		json_object_set_new(job, "state", json_string("failure"));
		json_object_set_new(job, "code", json_integer(err.code));
		json_object_set_new(job, "message", json_string(err.message));
		json_object_set_new(job, "error", json_pack("{s:s,s:s}", "message", err.message,
							    "code", code));
		if (err.target[0])
			json_object_set_new(json_object_get(job, "error"), "target",
					    json_string(err.target));
	} else {
		json_object_set_new(job, "state", json_string("success"));
		json_object_set_new(job, "code", json_integer(0));
		json_object_set_new(job, "message", json_string("success"));
	}
	json_object_set_new(s, "t_end", json_integer(now));
}

int jobs_tick(struct sim *sim, int64_t now)
{
	json_t *jobs = state_array(sim, "jobs"), *job;
	int changed = 0;

	for (size_t i = 0; i < json_array_size(jobs);) {
		const char *st;

		job = json_array_get(jobs, i);
		st = jstr(job, "state");
		if (strcmp(st, "queued") == 0 && now >= jint(job, "_sim.t_run", 0)) {
			json_object_set_new(job, "state", json_string("running"));
			json_object_set_new(job, "message", json_string("Running"));
			changed = 1;
			st = "running";
		}
		if (strcmp(st, "running") == 0 && now >= jint(job, "_sim.t_done", 0) &&
		    !json_is_true(jpath(job, "_sim.hang"))) {
			job_finish(sim, job, now);
			changed = 1;
		}
		if (job_terminal(job) &&
		    now >= jint(job, "_sim.t_end", now) + sim->cfg.job_purge_s * 1000000) {
			json_array_remove(jobs, i);
			changed = 1;
			continue;
		}
		i++;
	}
	return changed;
}

/*
 * A 10 ms tick rather than armed timers (STYLE.md §1 prefers an event loop): the simulated clock
 * can jump forward (POST /_sim/clock) and deadlines live in the persisted state, so every tick
 * re-evaluates them against the current simulated time. This is a test tool; the cost is nil.
 */
static void *jobs_main(void *arg)
{
	struct sim *sim = arg;

	while (!sim->stopping) {
		struct timespec ts = { 0, 10 * 1000000 };
		int64_t now;
		int changed;

		pthread_mutex_lock(&sim->lock);
		now = sim_now_us(sim);
		changed = jobs_tick(sim, now);
		changed |= protect_tick(sim, now);
		if (changed) {
			int ret = state_persist(sim);
			if (ret < 0)
				fprintf(stderr, "ontap-sim: failed to persist state: %s\n",
					strerror(-ret));
			pthread_cond_broadcast(&sim->changed);
		}
		pthread_mutex_unlock(&sim->lock);
		nanosleep(&ts, NULL);
	}
	return NULL;
}

int jobs_thread_start(struct sim *sim, pthread_t *tid)
{
	return -pthread_create(tid, NULL, jobs_main, sim);
}

struct coll coll_jobs = {
	.name = "jobs",
	.schema = "{\"uuid\":\"\",\"description\":\"\",\"state\":\"\",\"message\":\"\",\"code\":0,"
		  "\"start_time\":\"\",\"end_time\":\"\",\"svm\":{\"name\":\"\",\"uuid\":\"\"},"
		  "\"error\":{\"message\":\"\",\"code\":\"\",\"target\":\"\"}}",
	.keys = "uuid",
	.cursor = "uuid",
	.href = "/api/cluster/jobs/{uuid}",
};

static int h_jobs(struct req *r)
{
	return coll_list(r, &coll_jobs, state_array(r->sim, "jobs"));
}

static int h_job(struct req *r)
{
	return coll_get(r, &coll_jobs, state_find(r->sim, "jobs", "uuid", r->arg[0]));
}

const struct route job_routes[] = {
	{ "/api/cluster/jobs", M_GET, h_jobs, NULL },
	{ "/api/cluster/jobs/{}", M_GET, h_job, NULL },
	{ NULL, 0, NULL, NULL },
};
