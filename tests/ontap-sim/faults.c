/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * ontap-sim: fault injection (latency, error replies, 429/503 bursts, dropped connections,
 * failing or hung jobs, failing SnapMirror transfers) and the /_sim control endpoint.
 * All functions here run with sim->lock held, except control_handle() which takes it.
 */
#include <errno.h>
#include <fnmatch.h>
#include <stdio.h>
#include <string.h>

#include "sim.h"

enum fault_type {
	FT_LATENCY, FT_ERROR, FT_THROTTLE, FT_UNAVAILABLE, FT_DROP, FT_DROP_AFTER,
	FT_JOB_FAILURE, FT_JOB_HANG, FT_TRANSFER_FAILURE,
};

static const char *const type_names[] = {
	[FT_LATENCY] = "latency", [FT_ERROR] = "error", [FT_THROTTLE] = "throttle",
	[FT_UNAVAILABLE] = "unavailable", [FT_DROP] = "drop", [FT_DROP_AFTER] = "drop_after",
	[FT_JOB_FAILURE] = "job_failure", [FT_JOB_HANG] = "job_hang",
	[FT_TRANSFER_FAILURE] = "transfer_failure",
};

struct fault {
	unsigned id;
	enum fault_type type;
	json_t *spec;        /* owned: the JSON it was installed with (for GET, and parameters) */
	long remaining;      /* < 0: unlimited */
	double rate;
	struct fault *next;  /* owned */
};

static void fault_free(struct fault *f)
{
	if (!f)
		return;
	json_decref(f->spec);
	free(f);
}

void faults_clear(struct sim *sim)
{
	while (sim->faults) {
		struct fault *f = sim->faults;
		sim->faults = f->next;
		fault_free(f);
	}
}

static bool fault_matches(struct fault *f, const char *method, const char *path)
{
	const char *m = jstr(f->spec, "method"), *p = jstr(f->spec, "path");

	if (m && strcmp(m, "*") != 0 && method && strcasecmp(m, method) != 0)
		return false;
	if (p && fnmatch(p, path, 0) != 0)
		return false;
	if (f->rate < 1.0 && (double)random() / ((double)RAND_MAX + 1.0) >= f->rate)
		return false;
	return true;
}

/* Consumes one firing; removes the fault once its count is used up. */
static void fault_fire(struct sim *sim, struct fault *f)
{
	struct fault **pp;

	if (f->remaining < 0 || --f->remaining > 0)
		return;
	for (pp = &sim->faults; *pp; pp = &(*pp)->next) {
		if (*pp == f) {
			*pp = f->next;
			fault_free(f);
			return;
		}
	}
}

int faults_check(struct sim *sim, const char *method, const char *path, struct fault_decision *d)
{
	struct fault *f, *next;

	for (f = sim->faults; f; f = next) {
		enum fault_type t = f->type;
		const char *code, *msg;

		next = f->next;
		if (t >= FT_JOB_FAILURE || !fault_matches(f, method, path))
			continue;
		if (t == FT_LATENCY) {
			d->latency_ms += jint(f->spec, "ms", 0);
			fault_fire(sim, f);
			continue;
		}
		if (d->action != FA_NONE)
			continue;
		d->name = type_names[t];
		code = jstr(f->spec, "code");
		msg = jstr(f->spec, "message");
		switch (t) {
		case FT_ERROR:
			d->action = FA_REPLY;
			d->status = (int)jint(f->spec, "status", 500);
			snprintf(d->code, sizeof(d->code), "%s", code ? code : "262145");
			if (!code && json_is_integer(json_object_get(f->spec, "code")))
				snprintf(d->code, sizeof(d->code), "%lld",
					 (long long)jint(f->spec, "code", 0));
			snprintf(d->message, sizeof(d->message), "%s", msg ? msg : "Injected error.");
			snprintf(d->target, sizeof(d->target), "%s",
				 jstr(f->spec, "target") ? jstr(f->spec, "target") : "");
			break;
		case FT_THROTTLE:
			d->action = FA_REPLY;
			d->status = 429;
			snprintf(d->code, sizeof(d->code), "262160");
			snprintf(d->message, sizeof(d->message), "%s",
				 msg ? msg : "Too many requests are being processed. Retry the request later.");
			d->retry_after = (int)jint(f->spec, "retry_after", 1);
			break;
		case FT_UNAVAILABLE:
			d->action = FA_REPLY;
			d->status = 503;
			snprintf(d->code, sizeof(d->code), "%s", code ? code : "262145");
			snprintf(d->message, sizeof(d->message), "%s",
				 msg ? msg : "The service is temporarily unavailable.");
			d->retry_after = (int)jint(f->spec, "retry_after", 0);
			break;
		case FT_DROP:
			d->action = FA_DROP;
			break;
		case FT_DROP_AFTER:
			d->action = FA_DROP_AFTER;
			break;
		default:
			break;
		}
		fault_fire(sim, f);
	}
	return 0;
}

int faults_take_job(struct sim *sim, const char *method, const char *path, json_t **fail_out,
		    bool *hang)
{
	for (struct fault *f = sim->faults; f; f = f->next) {
		json_t *code;

		if ((f->type != FT_JOB_FAILURE && f->type != FT_JOB_HANG) ||
		    !fault_matches(f, method, path))
			continue;
		if (f->type == FT_JOB_HANG)
			*hang = true;
		else {
			code = json_object_get(f->spec, "code");
			code = code ? json_incref(code) : json_integer(460770);
			*fail_out = json_pack("{s:o,s:s}", "code", code,
					      "message", jstr(f->spec, "message") ? jstr(f->spec, "message")
										   : "Injected job failure.");
		}
		fault_fire(sim, f);
		return 1;
	}
	return 0;
}

bool faults_take_transfer(struct sim *sim, const char *dest_path)
{
	for (struct fault *f = sim->faults; f; f = f->next) {
		if (f->type != FT_TRANSFER_FAILURE || !fault_matches(f, NULL, dest_path))
			continue;
		fault_fire(sim, f);
		return true;
	}
	return false;
}

int faults_add(struct sim *sim, json_t *spec, unsigned *id_out)
{
	const char *type = jstr(spec, "type");
	struct fault *f, **pp;
	size_t t;

	if (!type)
		return -EINVAL;
	for (t = 0; t < ARRAY_SIZE(type_names); t++)
		if (strcmp(type_names[t], type) == 0)
			break;
	if (t == ARRAY_SIZE(type_names))
		return -EINVAL;
	f = calloc(1, sizeof(*f));
	if (!f)
		return -ENOMEM;
	f->id = ++sim->next_fault_id;
	f->type = (enum fault_type)t;
	f->spec = json_deep_copy(spec);
	json_object_set_new(f->spec, "id", json_integer(f->id));
	f->remaining = json_is_integer(json_object_get(spec, "count")) ? (long)jint(spec, "count", -1)
								      : -1;
	f->rate = json_is_number(json_object_get(spec, "rate"))
			  ? json_number_value(json_object_get(spec, "rate")) : 1.0;
	for (pp = &sim->faults; *pp; pp = &(*pp)->next)
		;
	*pp = f;
	if (id_out)
		*id_out = f->id;
	return 0;
}

static void remove_backing_files(struct sim *sim)
{
	static const char *const kinds[] = { "luns", "namespaces" };
	json_t *x;
	size_t i;

	for (size_t k = 0; k < ARRAY_SIZE(kinds); k++)
		json_array_foreach(state_array(sim, kinds[k]), i, x)
			backing_remove(sim, x);
}

static json_t *err_body(const char *msg)
{
	return json_pack("{s:{s:s,s:s}}", "error", "message", msg, "code", "2");
}

static int control_locked(struct sim *sim, const char *method, const char *path, json_t *body,
			  int *status, json_t **resp)
{
	bool get = strcmp(method, "GET") == 0, post = strcmp(method, "POST") == 0;
	bool del = strcmp(method, "DELETE") == 0;

	if (get && strcmp(path, "/_sim/state") == 0) {
		*resp = json_deep_copy(sim->state);
		return 0;
	}
	if (post && strcmp(path, "/_sim/reset") == 0) {
		remove_backing_files(sim);
		faults_clear(sim);
		sim->skew_us = 0;
		json_decref(sim->state);
		sim->state = state_default(sim);
		pthread_cond_broadcast(&sim->changed);
		*resp = json_object();
		return state_persist(sim);
	}
	if (strcmp(path, "/_sim/faults") == 0) {
		if (get) {
			json_t *a = json_array();
			for (struct fault *f = sim->faults; f; f = f->next)
				json_array_append(a, f->spec);
			*resp = json_pack("{s:o}", "faults", a);
			return 0;
		}
		if (post) {
			unsigned id;
			if (!json_is_object(body) || faults_add(sim, body, &id) < 0) {
				*status = 400;
				*resp = err_body("Invalid fault: \"type\" must be one of latency, error, throttle, unavailable, drop, drop_after, job_failure, job_hang, transfer_failure.");
				return -EINVAL;
			}
			*status = 201;
			*resp = json_pack("{s:i}", "id", id);
			return 0;
		}
		if (del) {
			faults_clear(sim);
			*resp = json_object();
			return 0;
		}
	}
	if (del && strncmp(path, "/_sim/faults/", 13) == 0) {
		unsigned id = (unsigned)strtoul(path + 13, NULL, 10);
		for (struct fault **pp = &sim->faults; *pp; pp = &(*pp)->next) {
			if ((*pp)->id == id) {
				struct fault *f = *pp;
				*pp = f->next;
				fault_free(f);
				*resp = json_object();
				return 0;
			}
		}
		*status = 404;
		*resp = err_body("No such fault.");
		return -ENOENT;
	}
	if (post && strcmp(path, "/_sim/clock") == 0) {
		json_t *v = json_object_get(body, "advance_seconds");
		if (!json_is_number(v)) {
			*status = 400;
			*resp = err_body("\"advance_seconds\" is required.");
			return -EINVAL;
		}
		sim->skew_us += (int64_t)(json_number_value(v) * 1e6);
		*resp = json_pack("{s:I}", "skew_seconds", (json_int_t)(sim->skew_us / 1000000));
		return 0;
	}
	if (post && strcmp(path, "/_sim/config") == 0) {
		const char *v = jstr(body, "ontap_version");
		if (v) {
			int ver[3];
			if (parse_version(v, ver) < 0) {
				*status = 400;
				*resp = err_body("Bad ontap_version.");
				return -EINVAL;
			}
			free(sim->cfg.version);
			sim->cfg.version = strdup(v);
			memcpy(sim->cfg.ver, ver, sizeof(ver));
		}
		if (json_is_boolean(json_object_get(body, "run_schedules")))
			sim->cfg.run_schedules = json_is_true(json_object_get(body, "run_schedules"));
		if (json_is_boolean(json_object_get(body, "empty_next_page")))
			sim->cfg.empty_next_page = json_is_true(json_object_get(body, "empty_next_page"));
		/* peer clusters (names only): SVM peers with their SVMs may then be created, one-sided
		 * (the other cluster is not simulated: nothing of it can be read or driven here) */
		if (json_is_array(json_object_get(body, "peer_clusters")))
			json_object_set(sim->state, "cluster_peers", json_object_get(body, "peer_clusters"));
		sim->cfg.job_ms = jint(body, "job_ms", sim->cfg.job_ms);
		sim->cfg.transfer_ms = jint(body, "transfer_ms", sim->cfg.transfer_ms);
		sim->cfg.job_purge_s = jint(body, "job_purge_seconds", sim->cfg.job_purge_s);
		*resp = json_pack("{s:s,s:b,s:b,s:I,s:I,s:I}", "ontap_version", sim->cfg.version,
				  "empty_next_page", sim->cfg.empty_next_page, "run_schedules",
				  sim->cfg.run_schedules, "job_ms",
				  (json_int_t)sim->cfg.job_ms, "transfer_ms",
				  (json_int_t)sim->cfg.transfer_ms, "job_purge_seconds",
				  (json_int_t)sim->cfg.job_purge_s);
		return 0;
	}
	if (post && strcmp(path, "/_sim/users") == 0) {
		const char *name = jstr(body, "name"), *pw = jstr(body, "password");
		struct sim_user *u = NULL, *nu;
		if (!name || !pw) {
			*status = 400;
			*resp = err_body("\"name\" and \"password\" are required.");
			return -EINVAL;
		}
		for (size_t i = 0; i < sim->cfg.n_users; i++)
			if (strcmp(sim->cfg.users[i].name, name) == 0)
				u = &sim->cfg.users[i];
		if (!u) {
			/* users are read by connection threads under sim->lock only */
			nu = realloc(sim->cfg.users, (sim->cfg.n_users + 1) * sizeof(*nu));
			if (!nu)
				return -ENOMEM;
			sim->cfg.users = nu;
			u = &nu[sim->cfg.n_users++];
			u->name = strdup(name);
			u->password = NULL;
		}
		free(u->password);
		u->password = strdup(pw);
		if (role_parse(jstr(body, "role"), &u->role) < 0) {
			*status = 400;
			*resp = err_body("\"role\" must be admin, readonly or vsadmin.");
			return -EINVAL;
		}
		*status = 201;
		*resp = json_object();
		return 0;
	}
	*status = 404;
	*resp = err_body("Unknown control call.");
	return -ENOENT;
}

int control_handle(struct sim *sim, const char *method, const char *path, json_t *body,
		   int *status, json_t **resp)
{
	int ret;

	pthread_mutex_lock(&sim->lock);
	ret = control_locked(sim, method, path, body, status, resp);
	pthread_mutex_unlock(&sim->lock);
	return ret;
}
