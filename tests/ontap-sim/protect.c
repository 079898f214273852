/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * ontap-sim: data protection — schedules, snapshot policies, SnapMirror policies,
 * relationships (state machine of notes §8.15) and their background transfers, consistency
 * groups and CG snapshots.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "sim.h"

static json_t *find_ref(struct sim *sim, const char *coll, json_t *ref)
{
	if (jstr(ref, "uuid"))
		return state_find(sim, coll, "uuid", jstr(ref, "uuid"));
	return state_find(sim, coll, "name", jstr(ref, "name"));
}

/* ---- schedules ---- */

struct coll coll_schedules = {
	.name = "schedules",
	.schema = "{'uuid':'','name':'','type':'','interval':'','scope':'',"
		  "'cron':{'minutes':[0],'hours':[0],'days':[0],'weekdays':[0],'months':[0]},"
		  "'cluster':{'name':'','uuid':''},'svm':{'name':'','uuid':''}}",
	.keys = "uuid,name",
	.cursor = "uuid",
	.href = "/api/cluster/schedules/{uuid}",
};

static json_t *cron_schedule(struct sim *sim, const char *name, json_t *cron)
{
	char uuid[37];
	json_t *s;
	static const char *const keys[] = { "minutes", "hours", "days", "weekdays", "months" };

	for (size_t i = 0; i < ARRAY_SIZE(keys); i++)
		if (!json_object_get(cron, keys[i]))
			json_object_set_new(cron, keys[i], json_array());
	sim_uuid(uuid);
	s = json_pack("{s:s,s:s,s:s,s:o,s:s,s:o}", "uuid", uuid, "name", name, "type", "cron",
		      "cron", cron, "scope", "cluster", "cluster",
		      ref_of(json_object_get(sim->state, "cluster")));
	json_array_append_new(state_array(sim, "schedules"), s);
	return s;
}

static int check_cron(struct req *r, json_t *cron)
{
	static const struct { const char *key; int lo, hi; } lim[] = {
		{ "minutes", 0, 59 }, { "hours", 0, 23 }, { "days", 1, 31 },
		{ "weekdays", 0, 6 }, { "months", 1, 12 },
	};

	for (size_t i = 0; i < ARRAY_SIZE(lim); i++) {
		json_t *a = json_object_get(cron, lim[i].key), *v;
		size_t k;
		if (a && !json_is_array(a))
			return req_error(r, 400, "458788", "cron", "Invalid cron schedule.");
		json_array_foreach(a, k, v)
			if (!json_is_integer(v) || json_integer_value(v) < lim[i].lo ||
			    json_integer_value(v) > lim[i].hi)
				return req_error(r, 400, "458788", "cron",
						 "Invalid value in cron field \"%s\".", lim[i].key);
	}
	return 0;
}

static int h_schedules(struct req *r)
{
	const char *name, *interval;
	json_t *s, *cron;
	char uuid[37];
	int ret;

	if (r->m == M_GET)
		return coll_list(r, &coll_schedules, state_array(r->sim, "schedules"));
	ret = coll_check_body(r, &coll_schedules, NULL);
	if (ret < 0)
		return ret;
	name = jstr(r->body, "name");
	if (!name || !*name)
		return req_error(r, 400, "262177", "name", "Missing value for field \"name\".");
	if (state_find(r->sim, "schedules", "name", name))
		return req_error(r, 409, "1", "name", "Schedule \"%s\" already exists.", name);
	cron = json_object_get(r->body, "cron");
	interval = jstr(r->body, "interval");
	if (!!cron == !!interval)
		return req_error(r, 400, "458788", "cron",
				 "Exactly one of \"cron\" or \"interval\" must be specified.");
	if (cron) {
		if (check_cron(r, cron) < 0)
			return -EINVAL;
		s = cron_schedule(r->sim, name, json_deep_copy(cron));
	} else {
		if (interval[0] != 'P' || strlen(interval) < 3)
			return req_error(r, 400, "459760", "interval",
					 "Invalid interval \"%s\": use an ISO-8601 duration like PT15M.",
					 interval);
		sim_uuid(uuid);
		s = json_pack("{s:s,s:s,s:s,s:s,s:s}", "uuid", uuid, "name", name, "type", "interval",
			      "interval", interval, "scope", "cluster");
		json_array_append_new(state_array(r->sim, "schedules"), s);
	}
	r->mutated = true;
	return coll_created(r, &coll_schedules, s, 201);
}

static bool schedule_in_use(struct sim *sim, json_t *s)
{
	json_t *x, *c;
	size_t i, k;

	json_array_foreach(state_array(sim, "snapshot_policies"), i, x)
		json_array_foreach(json_object_get(x, "copies"), k, c)
			if (streq_ci(jstr(c, "schedule.name"), jstr(s, "name")))
				return true;
	json_array_foreach(state_array(sim, "snapmirror_relationships"), i, x)
		if (streq_ci(jstr(x, "transfer_schedule.name"), jstr(s, "name")))
			return true;
	return false;
}

static int h_schedule(struct req *r)
{
	json_t *s = state_find(r->sim, "schedules", "uuid", r->arg[0]);
	int ret;

	if (r->m == M_GET)
		return coll_get(r, &coll_schedules, s);
	if (!s)
		return req_error(r, 404, "4", "uuid", "Schedule does not exist.");
	if (r->m == M_PATCH) {
		ret = coll_check_body(r, &coll_schedules, NULL);
		if (ret < 0)
			return ret;
		if (json_object_get(r->body, "cron")) {
			if (check_cron(r, json_object_get(r->body, "cron")) < 0)
				return -EINVAL;
			json_object_set(s, "cron", json_object_get(r->body, "cron"));
		}
		if (jstr(r->body, "interval"))
			json_object_set(s, "interval", json_object_get(r->body, "interval"));
	} else {
		if (schedule_in_use(r->sim, s))
			return req_error(r, 409, "8", "", "Schedule \"%s\" is in use.", jstr(s, "name"));
		state_remove(r->sim, "schedules", s);
	}
	r->mutated = true;
	req_reply(r, 200, json_object());
	return 0;
}

/* ---- snapshot policies ---- */

struct coll coll_snapshot_policies = {
	.name = "snapshot_policies",
	.schema = "{'uuid':'','name':'','enabled':true,'comment':'','scope':'',"
		  "'copies':[{'count':0,'prefix':'','snapmirror_label':'','schedule':{'name':'','uuid':''},"
		  "'retention_period':''}],'svm':{'name':'','uuid':''}}",
	.keys = "uuid,name",
	.cursor = "uuid",
	.href = "/api/storage/snapshot-policies/{uuid}",
};

static json_t *copy_of(const char *sched, int count, const char *label)
{
	return json_pack("{s:i,s:s,s:s,s:{s:s}}", "count", count, "prefix", sched, "snapmirror_label",
			 label, "schedule", "name", sched);
}

static int check_copies(struct req *r, json_t *copies, json_t **out)
{
	json_t *c, *res = json_array();
	size_t i;

	if (json_array_size(copies) > 5) {
		json_decref(res);
		return req_error(r, 400, "1638408", "copies",
				 "A snapshot policy can have at most 5 schedules.");
	}
	json_array_foreach(copies, i, c) {
		json_t *s = find_ref(r->sim, "schedules", json_object_get(c, "schedule"));
		json_int_t count = jint(c, "count", 1);
		json_t *nc;
		if (!s) {
			json_decref(res);
			return req_error(r, 400, "1638413", "copies.schedule.name",
					 "Schedule \"%s\" does not exist.",
					 jstr(c, "schedule.name") ? jstr(c, "schedule.name") : "");
		}
		if (count < 0 || count > 1023) {
			json_decref(res);
			return req_error(r, 400, "1638407", "copies.count",
					 "Invalid count %lld: must be 0 to 1023.", (long long)count);
		}
		nc = copy_of(jstr(s, "name"), (int)count,
			     jstr(c, "snapmirror_label") ? jstr(c, "snapmirror_label") : "");
		if (jstr(c, "prefix"))
			json_object_set(nc, "prefix", json_object_get(c, "prefix"));
		json_object_set_new(json_object_get(nc, "schedule"), "uuid",
				    json_string(jstr(s, "uuid")));
		json_array_append_new(res, nc);
	}
	*out = res;
	return 0;
}

static int h_snapshot_policies(struct req *r)
{
	json_t *svm = NULL, *p, *copies = NULL;
	const char *name;
	char uuid[37];
	int ret;

	if (r->m == M_GET)
		return coll_list(r, &coll_snapshot_policies, state_array(r->sim, "snapshot_policies"));
	ret = coll_check_body(r, &coll_snapshot_policies, NULL);
	if (ret < 0)
		return ret;
	ret = req_svm(r, json_object_get(r->body, "svm"), false, &svm);
	if (ret < 0)
		return ret;
	name = jstr(r->body, "name");
	if (!name || !*name)
		return req_error(r, 400, "262177", "name", "Missing value for field \"name\".");
	if (state_find(r->sim, "snapshot_policies", "name", name))
		return req_error(r, 409, "1638527", "name",
				 "Snapshot policy \"%s\" already exists.", name);
	if (check_copies(r, json_object_get(r->body, "copies"), &copies) < 0)
		return -EINVAL;
	sim_uuid(uuid);
	p = json_pack("{s:s,s:s,s:b,s:s,s:s,s:o}", "uuid", uuid, "name", name, "enabled",
		      !json_is_false(json_object_get(r->body, "enabled")), "comment",
		      jstr(r->body, "comment") ? jstr(r->body, "comment") : "", "scope",
		      svm ? "svm" : "cluster", "copies", copies);
	if (svm)
		json_object_set_new(p, "svm", ref_of(svm));
	json_array_append_new(state_array(r->sim, "snapshot_policies"), p);
	r->mutated = true;
	return coll_created(r, &coll_snapshot_policies, p, 201);
}

static int h_snapshot_policy(struct req *r)
{
	json_t *p = state_find(r->sim, "snapshot_policies", "uuid", r->arg[0]), *copies;
	int ret;

	if (r->m == M_GET)
		return coll_get(r, &coll_snapshot_policies, p);
	if (!p)
		return req_error(r, 404, "4", "uuid", "Snapshot policy does not exist.");
	if (r->m == M_PATCH) {
		ret = coll_check_body(r, &coll_snapshot_policies, NULL);
		if (ret < 0)
			return ret;
		if (json_object_get(r->body, "copies")) {
			if (check_copies(r, json_object_get(r->body, "copies"), &copies) < 0)
				return -EINVAL;
			json_object_set_new(p, "copies", copies);
		}
		if (json_is_boolean(json_object_get(r->body, "enabled")))
			json_object_set(p, "enabled", json_object_get(r->body, "enabled"));
		if (jstr(r->body, "comment"))
			json_object_set(p, "comment", json_object_get(r->body, "comment"));
	} else {
		if (state_find(r->sim, "volumes", "snapshot_policy.name", jstr(p, "name")))
			return req_error(r, 409, "8", "",
					 "Snapshot policy \"%s\" is in use by a volume.", jstr(p, "name"));
		state_remove(r->sim, "snapshot_policies", p);
	}
	r->mutated = true;
	req_reply(r, 200, json_object());
	return 0;
}

/* ---- SnapMirror policies ---- */

struct coll coll_sm_policies = {
	.name = "snapmirror_policies",
	.schema = "{'uuid':'','name':'','type':'','sync_type':'','comment':'','scope':'',"
		  "'retention':[{'label':'','count':0,'creation_schedule':{'name':''}}],"
		  "'transfer_schedule':{'name':'','uuid':''},'identity_preservation':'',"
		  "'create_snapshot_on_source':true,'network_compression_enabled':true,"
		  "'throttle':0,'svm':{'name':'','uuid':''}}",
	.keys = "uuid,name",
	.cursor = "uuid",
	.href = "/api/snapmirror/policies/{uuid}",
};

static void sm_policy_new(struct sim *sim, const char *name, const char *type,
			  const char *sync_type, json_t *retention)
{
	char uuid[37];
	json_t *p;

	sim_uuid(uuid);
	p = json_pack("{s:s,s:s,s:s,s:s,s:o,s:b,s:s}", "uuid", uuid, "name", name, "type", type,
		      "scope", "cluster", "retention", retention ? retention : json_array(),
		      "create_snapshot_on_source", 1, "comment", "");
	if (sync_type)
		json_object_set_new(p, "sync_type", json_string(sync_type));
	json_array_append_new(state_array(sim, "snapmirror_policies"), p);
}

void state_init_protect(struct sim *sim)
{
	static const struct { const char *name; int minutes[12]; int hours[3]; int wd; } builtin[] = {
		{ "5min", { 0, 5, 10, 15, 20, 25, 30, 35, 40, 45, 50, 55 }, { -1 }, -1 },
		{ "8hour", { 15, -1 }, { 2, 10, 18 }, -1 },
		{ "hourly", { 5, -1 }, { -1 }, -1 },
		{ "daily", { 10, -1 }, { 0, -1 }, -1 },
		{ "weekly", { 15, -1 }, { 0, -1 }, 0 },
	};
	char uuid[37];
	json_t *p;

	for (size_t i = 0; i < ARRAY_SIZE(builtin); i++) {
		json_t *cron = json_object(), *m = json_array(), *h = json_array(), *w = json_array();
		for (size_t k = 0; k < 12 && (k == 0 || builtin[i].minutes[k]) &&
				   builtin[i].minutes[k] >= 0; k++)
			json_array_append_new(m, json_integer(builtin[i].minutes[k]));
		for (size_t k = 0; k < 3 && builtin[i].hours[k] >= 0 &&
				   (k == 0 || builtin[i].hours[k]); k++)
			json_array_append_new(h, json_integer(builtin[i].hours[k]));
		if (builtin[i].wd >= 0)
			json_array_append_new(w, json_integer(builtin[i].wd));
		json_object_set_new(cron, "minutes", m);
		json_object_set_new(cron, "hours", h);
		json_object_set_new(cron, "weekdays", w);
		cron_schedule(sim, builtin[i].name, cron);
	}

	sim_uuid(uuid);
	p = json_pack("{s:s,s:s,s:b,s:s,s:s,s:[o,o,o]}", "uuid", uuid, "name", "default", "enabled", 1,
		      "comment", "Default policy with hourly, daily & weekly schedules.", "scope",
		      "cluster", "copies", copy_of("hourly", 6, ""), copy_of("daily", 2, "daily"),
		      copy_of("weekly", 2, "weekly"));
	json_array_append_new(state_array(sim, "snapshot_policies"), p);
	sim_uuid(uuid);
	p = json_pack("{s:s,s:s,s:b,s:s,s:s,s:[o,o,o]}", "uuid", uuid, "name", "default-1weekly",
		      "enabled", 1, "comment", "Default policy with 6 hourly, 2 daily & 1 weekly schedule.",
		      "scope", "cluster", "copies", copy_of("hourly", 6, ""),
		      copy_of("daily", 2, "daily"), copy_of("weekly", 1, "weekly"));
	json_array_append_new(state_array(sim, "snapshot_policies"), p);
	sim_uuid(uuid);
	p = json_pack("{s:s,s:s,s:b,s:s,s:s,s:[]}", "uuid", uuid, "name", "none", "enabled", 0,
		      "comment", "Policy for no automatic snapshots.", "scope", "cluster", "copies");
	json_array_append_new(state_array(sim, "snapshot_policies"), p);

	sm_policy_new(sim, "Asynchronous", "async", NULL,
		      json_pack("[{s:s,s:i}]", "label", "sm_created", "count", 1));
	sm_policy_new(sim, "MirrorAllSnapshots", "async", NULL,
		      json_pack("[{s:s,s:i},{s:s,s:i}]", "label", "sm_created", "count", 1, "label",
				"all_source_snapshots", "count", 1));
	sm_policy_new(sim, "MirrorLatest", "async", NULL,
		      json_pack("[{s:s,s:i}]", "label", "sm_created", "count", 1));
	sm_policy_new(sim, "MirrorAndVault", "async", NULL,
		      json_pack("[{s:s,s:i},{s:s,s:i},{s:s,s:i}]", "label", "sm_created", "count", 1,
				"label", "daily", "count", 7, "label", "weekly", "count", 52));
	sm_policy_new(sim, "XDPDefault", "async", NULL,
		      json_pack("[{s:s,s:i},{s:s,s:i}]", "label", "daily", "count", 7, "label",
				"weekly", "count", 52));
	sm_policy_new(sim, "DailyBackup", "async", NULL,
		      json_pack("[{s:s,s:i}]", "label", "daily", "count", 7));
	sm_policy_new(sim, "Sync", "sync", "sync", NULL);
	sm_policy_new(sim, "StrictSync", "sync", "strict_sync", NULL);
}

static int h_sm_policies(struct req *r)
{
	json_t *args;
	const char *name;
	_cleanup_free_ char *type = NULL;
	int ret;

	if (r->m == M_GET)
		return coll_list(r, &coll_sm_policies, state_array(r->sim, "snapmirror_policies"));
	ret = coll_check_body(r, &coll_sm_policies, NULL);
	if (ret < 0)
		return ret;
	name = jstr(r->body, "name");
	if (!name || !*name)
		return req_error(r, 400, "262177", "name", "Missing value for field \"name\".");
	if (state_find(r->sim, "snapmirror_policies", "name", name))
		return req_error(r, 409, "1", "name", "SnapMirror policy \"%s\" already exists.", name);
	type = str_lower(jstr(r->body, "type") ? jstr(r->body, "type") : "async");
	if (strcmp(type, "async") && strcmp(type, "sync") && strcmp(type, "continuous"))
		return req_error(r, 400, "262197", "type",
				 "The value \"%s\" is invalid for field \"type\" (async,sync,continuous)",
				 type);
	if (jstr(r->body, "transfer_schedule.name") &&
	    !state_find(r->sim, "schedules", "name", jstr(r->body, "transfer_schedule.name")))
		return req_error(r, 400, "6619699", "transfer_schedule.name",
				 "Schedule \"%s\" does not exist.", jstr(r->body, "transfer_schedule.name"));
	args = json_deep_copy(r->body);
	json_object_set_new(args, "type", json_string(type));
	return job_start(r, "sm_policy_create", args, 201);
}

static int op_sm_policy_create(struct sim *sim, json_t *args, json_t *job, struct sim_err *err)
{
	const char *name = jstr(args, "name");
	json_t *p;

	if (state_find(sim, "snapmirror_policies", "name", name))
		return sim_err_set(err, 409, 1, "name", "SnapMirror policy \"%s\" already exists.", name);
	sm_policy_new(sim, name, jstr(args, "type"), jstr(args, "sync_type"),
		      json_deep_copy(json_object_get(args, "retention")));
	p = json_array_get(state_array(sim, "snapmirror_policies"),
			   json_array_size(state_array(sim, "snapmirror_policies")) - 1);
	if (jstr(args, "transfer_schedule.name"))
		jset(p, "transfer_schedule.name", json_string(jstr(args, "transfer_schedule.name")));
	if (jstr(args, "comment"))
		json_object_set(p, "comment", json_object_get(args, "comment"));
	if (json_object_get(args, "svm")) {
		json_object_set(p, "svm", json_object_get(args, "svm"));
		json_object_set_new(p, "scope", json_string("svm"));
	}
	json_object_set_new(jsim(job), "result", json_pack("{s:s,s:s}", "coll",
							   "snapmirror_policies", "uuid",
							   jstr(p, "uuid")));
	return 0;
}

static int op_sm_policy_modify(struct sim *sim, json_t *args, json_t *job, struct sim_err *err)
{
	json_t *p = state_find(sim, "snapmirror_policies", "uuid", jstr(args, "uuid"));
	json_t *body = json_object_get(args, "body");

	if (!p)
		return sim_err_set(err, 404, 4, "uuid", "SnapMirror policy does not exist.");
	if (json_object_get(body, "retention"))
		json_object_set(p, "retention", json_object_get(body, "retention"));
	if (jstr(body, "comment"))
		json_object_set(p, "comment", json_object_get(body, "comment"));
	if (jstr(body, "transfer_schedule.name"))
		jset(p, "transfer_schedule.name", json_string(jstr(body, "transfer_schedule.name")));
	return 0;
}

static int op_sm_policy_delete(struct sim *sim, json_t *args, json_t *job, struct sim_err *err)
{
	json_t *p = state_find(sim, "snapmirror_policies", "uuid", jstr(args, "uuid"));

	if (!p)
		return sim_err_set(err, 404, 4, "uuid", "SnapMirror policy does not exist.");
	if (state_find(sim, "snapmirror_relationships", "policy.uuid", jstr(p, "uuid")))
		return sim_err_set(err, 409, 8, "", "SnapMirror policy \"%s\" is in use.",
				   jstr(p, "name"));
	return state_remove(sim, "snapmirror_policies", p);
}

static int h_sm_policy(struct req *r)
{
	json_t *p = state_find(r->sim, "snapmirror_policies", "uuid", r->arg[0]);
	int ret;

	if (r->m == M_GET)
		return coll_get(r, &coll_sm_policies, p);
	if (!p)
		return req_error(r, 404, "4", "uuid", "SnapMirror policy does not exist.");
	if (r->m == M_PATCH) {
		ret = coll_check_body(r, &coll_sm_policies, NULL);
		if (ret < 0)
			return ret;
		return job_start(r, "sm_policy_modify",
				 json_pack("{s:s,s:O}", "uuid", r->arg[0], "body",
					   r->body ? r->body : json_null()), 200);
	}
	return job_start(r, "sm_policy_delete", json_pack("{s:s}", "uuid", r->arg[0]), 200);
}

/* ---- SnapMirror relationships and transfers ---- */

static void duration_iso(int64_t us, char *buf, size_t n)
{
	long long s = us / 1000000, d = s / 86400, h = (s % 86400) / 3600, m = (s % 3600) / 60;

	if (s < 0)
		s = d = h = m = 0;
	if (d)
		snprintf(buf, n, "P%lldDT%lldH%lldM%lldS", d, h, m, s % 60);
	else
		snprintf(buf, n, "PT%lldH%lldM%lldS", h, m, s % 60);
}

static void decorate_rel(struct sim *sim, json_t *rec, json_t *out)
{
	json_int_t t = jint(rec, "_sim.last_snapshot_us", 0);
	json_t *p = state_find(sim, "snapmirror_policies", "uuid", jstr(rec, "policy.uuid"));

	if (t) {
		char buf[64];
		duration_iso(sim_now_us(sim) - t, buf, sizeof(buf));
		json_object_set_new(out, "lag_time", json_string(buf));
	}
	if (p)
		json_object_set_new(out, "policy",
				    json_pack("{s:s,s:s,s:s}", "name", jstr(p, "name"), "uuid",
					      jstr(p, "uuid"), "type", jstr(p, "type")));
}

struct coll coll_sm_relationships = {
	.name = "snapmirror_relationships",
	.schema = "{'uuid':'','state':'','healthy':true,'unhealthy_reason':[{'message':'','code':0}],"
		  "'lag_time':'','exported_snapshot':'','last_transfer_type':'','throttle':0,"
		  "'group_type':'','identity_preservation':'','restore':true,"
		  "'source':{'path':'','svm':{'name':'','uuid':''},'cluster':{'name':'','uuid':''}},"
		  "'destination':{'path':'','svm':{'name':'','uuid':''},'cluster':{'name':'','uuid':''}},"
		  "'policy':{'name':'','uuid':'','type':''},'transfer_schedule':{'name':'','uuid':''},"
		  "'transfer':{'uuid':'','state':'','type':'','bytes_transferred':0,'end_time':'',"
		  "'total_duration':''}}",
	.keys = "uuid",
	.cursor = "uuid",
	.href = "/api/snapmirror/relationships/{uuid}",
	.decorate = decorate_rel,
};

struct coll coll_sm_transfers = {
	.name = "snapmirror_transfers",
	.schema = "{'uuid':'','state':'','type':'','bytes_transferred':0,'snapshot':'',"
		  "'end_time':'','total_duration':'','throttle':0,"
		  "'relationship':{'uuid':'','destination':{'path':''}}}",
	.keys = "uuid",
	.cursor = "uuid",
	.href = "/api/snapmirror/relationships/{relationship.uuid}/transfers/{uuid}",
};

/* "svm:vol" -> local volume or NULL (a volume of a peer cluster). */
static json_t *path_volume(struct sim *sim, const char *path, json_t **svm_out)
{
	char svm_name[256];
	const char *colon = strchr(path, ':');
	json_t *svm;

	*svm_out = NULL;
	if (!colon)
		return NULL;
	snprintf(svm_name, sizeof(svm_name), "%.*s", (int)(colon - path), path);
	svm = svm_find(sim, svm_name, NULL);
	*svm_out = svm;
	return svm ? volume_by_name(sim, jstr(svm, "uuid"), colon + 1) : NULL;
}

static json_t *active_transfer(struct sim *sim, json_t *rel)
{
	json_t *t;
	size_t i;

	json_array_foreach(state_array(sim, "snapmirror_transfers"), i, t) {
		const char *st = jstr(t, "state");
		if (streq_ci(jstr(t, "relationship.uuid"), jstr(rel, "uuid")) &&
		    (strcmp(st, "queued") == 0 || strcmp(st, "transferring") == 0))
			return t;
	}
	return NULL;
}

static json_t *transfer_start(struct sim *sim, json_t *rel, const char *type)
{
	int64_t now = sim_now_us(sim);
	json_t *t, *src = state_find(sim, "volumes", "uuid", jstr(rel, "_sim.src_volume"));
	char uuid[37], sname[128];
	json_int_t seq = state_counter(sim, "sm_seq");

	sim_uuid(uuid);
	snprintf(sname, sizeof(sname), "snapmirror.%.8s_%lld", jstr(rel, "uuid"), (long long)seq);
	if (src)
		snapshot_create(sim, src, sname, NULL, NULL);
	t = json_pack("{s:s,s:s,s:s,s:i,s:s,s:{s:s,s:{s:s}}}", "uuid", uuid, "state", "queued",
		      "type", type, "bytes_transferred", 0, "snapshot", sname, "relationship",
		      "uuid", jstr(rel, "uuid"), "destination", "path", jstr(rel, "destination.path"));
	json_object_set_new(t, "_sim",
			    json_pack("{s:I,s:I,s:I,s:b}", "t_start", (json_int_t)now, "t_xfer",
				      (json_int_t)(now + sim->cfg.transfer_ms * 1000 / 5), "t_done",
				      (json_int_t)(now + sim->cfg.transfer_ms * 1000), "fail",
				      faults_take_transfer(sim, jstr(rel, "destination.path"))));
	json_array_append_new(state_array(sim, "snapmirror_transfers"), t);
	json_object_set_new(rel, "transfer", json_pack("{s:s,s:s,s:s,s:i}", "uuid", uuid, "state",
						       "queued", "type", type, "bytes_transferred", 0));
	return t;
}

static void drop_sm_snapshot(struct sim *sim, const char *uuid)
{
	json_t *s = uuid ? state_find(sim, "snapshots", "uuid", uuid) : NULL;

	if (s)
		state_remove(sim, "snapshots", s);
}

static void transfer_done(struct sim *sim, json_t *t, json_t *rel, int64_t now)
{
	json_t *src = state_find(sim, "volumes", "uuid", jstr(rel, "_sim.src_volume"));
	json_t *dst = state_find(sim, "volumes", "uuid", jstr(rel, "_sim.dst_volume"));
	json_t *snap = NULL, *dsnap = NULL;
	_cleanup_free_ char *end = sim_time_iso(now, false);
	json_int_t bytes = src ? jint(src, "size", 0) / 100 : 1 << 20;
	char dur[64];

	duration_iso(now - jint(t, "_sim.t_start", now), dur, sizeof(dur));
	json_object_set_new(t, "end_time", json_string(end ? end : ""));
	json_object_set_new(t, "total_duration", json_string(dur));
	if (json_is_true(jpath(t, "_sim.fail"))) {
		json_object_set_new(t, "state", json_string("failed"));
		jset(rel, "transfer.state", json_string("failed"));
		json_object_set_new(rel, "healthy", json_false());
		json_object_set_new(rel, "unhealthy_reason",
				    json_pack("[{s:s,s:i}]", "message",
					      "Transfer failed: injected transfer failure.", "code",
					      13303870));
		return;
	}
	if (src) {
		json_t *s;
		size_t i;
		json_array_foreach(state_array(sim, "snapshots"), i, s)
			if (streq_ci(jstr(s, "volume.uuid"), jstr(src, "uuid")) &&
			    strcmp(jstr(s, "name"), jstr(t, "snapshot")) == 0)
				snap = s;
	}
	if (dst) {
		json_t *s;
		size_t i;
		/* the destination receives the snapshot (and so the data) */
		json_array_foreach(state_array(sim, "snapshots"), i, s)
			if (streq_ci(jstr(s, "volume.uuid"), jstr(dst, "uuid")) &&
			    strcmp(jstr(s, "name"), jstr(t, "snapshot")) == 0)
				dsnap = s;
		if (!dsnap)
			snapshot_create(sim, dst, jstr(t, "snapshot"), NULL, &dsnap);
		if (src && jint(dst, "size", 0) < jint(src, "size", 0))
			json_object_set(dst, "size", json_object_get(src, "size"));
	}
	/* the previous common snapshot is released on both sides */
	{
		_cleanup_free_ char *old_src = jstr(rel, "_sim.src_snapshot")
						       ? strdup(jstr(rel, "_sim.src_snapshot")) : NULL;
		_cleanup_free_ char *old_dst = jstr(rel, "_sim.dst_snapshot")
						       ? strdup(jstr(rel, "_sim.dst_snapshot")) : NULL;
		json_object_set_new(jsim(rel), "src_snapshot",
				    snap ? json_string(jstr(snap, "uuid")) : json_null());
		json_object_set_new(jsim(rel), "dst_snapshot",
				    dsnap ? json_string(jstr(dsnap, "uuid")) : json_null());
		if (old_src && (!snap || strcmp(old_src, jstr(snap, "uuid"))))
			drop_sm_snapshot(sim, old_src);
		if (old_dst && (!dsnap || strcmp(old_dst, jstr(dsnap, "uuid"))))
			drop_sm_snapshot(sim, old_dst);
	}
	json_object_set_new(t, "state", json_string("success"));
	json_object_set_new(t, "bytes_transferred", json_integer(bytes));
	json_object_set_new(rel, "transfer",
			    json_pack("{s:s,s:s,s:O,s:I,s:s,s:s}", "uuid", jstr(t, "uuid"), "state",
				      "success", "type", json_object_get(t, "type"),
				      "bytes_transferred", bytes, "end_time", end ? end : "",
				      "total_duration", dur));
	json_object_set_new(rel, "last_transfer_type", json_string(jstr(t, "type")));
	json_object_set_new(rel, "exported_snapshot", json_string(jstr(t, "snapshot")));
	json_object_set_new(jsim(rel), "last_snapshot_us", json_integer(jint(t, "_sim.t_start", now)));
	json_object_set_new(rel, "healthy", json_true());
	json_object_set_new(rel, "unhealthy_reason", json_array());
	if (streq_ci(jstr(rel, "state"), "uninitialized"))
		json_object_set_new(rel, "state", json_string("snapmirrored"));
}

/* ---- schedules acting on the simulated clock (--run-schedules) ---- */

static bool cron_field_ok(json_t *cron, const char *key, int v)
{
	json_t *a = json_object_get(cron, key), *x;
	size_t i;

	if (json_array_size(a) == 0)
		return true;
	json_array_foreach(a, i, x)
		if (json_integer_value(x) == v)
			return true;
	return false;
}

static bool cron_matches(json_t *sched, const struct tm *tm)
{
	json_t *cron = json_object_get(sched, "cron");

	if (!streq_ci(jstr(sched, "type"), "cron"))
		return false;
	return cron_field_ok(cron, "minutes", tm->tm_min) && cron_field_ok(cron, "hours", tm->tm_hour) &&
	       cron_field_ok(cron, "days", tm->tm_mday) && cron_field_ok(cron, "months", tm->tm_mon + 1) &&
	       cron_field_ok(cron, "weekdays", tm->tm_wday);
}

/* One scheduled snapshot: "<prefix>.<YYYY-MM-DD_HHMM>", then prune the oldest beyond count. */
static void policy_snapshot(struct sim *sim, json_t *vol, json_t *copy, const struct tm *tm)
{
	const char *prefix = jstr(copy, "prefix") ? jstr(copy, "prefix") : jstr(copy, "schedule.name");
	json_int_t keep = jint(copy, "count", 0);
	char name[256], pfx[200];
	json_t *s, *oldest;
	size_t i, n;

	snprintf(pfx, sizeof(pfx), "%s.", prefix);
	snprintf(name, sizeof(name), "%s%04d-%02d-%02d_%02d%02d", pfx, tm->tm_year + 1900,
		 tm->tm_mon + 1, tm->tm_mday, tm->tm_hour, tm->tm_min);
	if (keep <= 0 || snapshot_create(sim, vol, name, jstr(copy, "snapmirror_label"), NULL) < 0)
		return;
	for (;;) {
		n = 0;
		oldest = NULL;
		json_array_foreach(state_array(sim, "snapshots"), i, s) {
			if (!streq_ci(jstr(s, "volume.uuid"), jstr(vol, "uuid")) ||
			    strncmp(jstr(s, "name"), pfx, strlen(pfx)) != 0)
				continue;
			n++;
			if (!state_find(sim, "volumes", "clone.parent_snapshot.uuid", jstr(s, "uuid")) &&
			    (!oldest || jint(s, "_sim.seq", 0) < jint(oldest, "_sim.seq", 0)))
				oldest = s;
		}
		if ((json_int_t)n <= keep || !oldest)
			break;
		state_remove(sim, "snapshots", oldest);
	}
}

static int schedules_tick(struct sim *sim, int64_t now)
{
	json_t *cnt = json_object_get(sim->state, "counters");
	int64_t now_min = now / 60000000, last;
	int changed = 0;

	if (!cnt) {
		cnt = json_object();
		json_object_set_new(sim->state, "counters", cnt);
	}
	last = jint(cnt, "schedule_minute", 0);
	if (!sim->cfg.run_schedules || last == 0 || now_min < last) {
		if (last != now_min)
			json_object_set_new(cnt, "schedule_minute", json_integer(now_min));
		return 0;
	}
	if (now_min - last > 7 * 24 * 60)
		last = now_min - 7 * 24 * 60; /* a big clock skip only replays the last week */
	for (int64_t m = last + 1; m <= now_min; m++) {
		time_t t = (time_t)(m * 60);
		struct tm tm;
		json_t *vol, *rel, *pol, *copy, *sched;
		size_t i, k;

		gmtime_r(&t, &tm);
		json_array_foreach(state_array(sim, "volumes"), i, vol) {
			if (!streq_ci(jstr(vol, "type"), "rw") ||
			    !(pol = state_find(sim, "snapshot_policies", "name", jstr(vol, "snapshot_policy.name"))) ||
			    !json_is_true(json_object_get(pol, "enabled")))
				continue;
			json_array_foreach(json_object_get(pol, "copies"), k, copy) {
				sched = state_find(sim, "schedules", "name", jstr(copy, "schedule.name"));
				if (sched && cron_matches(sched, &tm)) {
					policy_snapshot(sim, vol, copy, &tm);
					changed = 1;
				}
			}
		}
		json_array_foreach(state_array(sim, "snapmirror_relationships"), i, rel) {
			sched = state_find(sim, "schedules", "uuid", jstr(rel, "transfer_schedule.uuid"));
			if (sched && cron_matches(sched, &tm) && streq_ci(jstr(rel, "state"), "snapmirrored") &&
			    !active_transfer(sim, rel)) {
				transfer_start(sim, rel, "update");
				changed = 1;
			}
		}
	}
	json_object_set_new(cnt, "schedule_minute", json_integer(now_min));
	return changed;
}

int protect_tick(struct sim *sim, int64_t now)
{
	json_t *t;
	size_t i;
	int changed = schedules_tick(sim, now);

	json_array_foreach(state_array(sim, "snapmirror_transfers"), i, t) {
		const char *st = jstr(t, "state");
		json_t *rel = state_find(sim, "snapmirror_relationships", "uuid",
					 jstr(t, "relationship.uuid"));

		if (strcmp(st, "queued") == 0 && now >= jint(t, "_sim.t_xfer", 0)) {
			json_object_set_new(t, "state", json_string("transferring"));
			if (rel)
				jset(rel, "transfer.state", json_string("transferring"));
			st = "transferring";
			changed = 1;
		}
		if (strcmp(st, "transferring") == 0) {
			int64_t t0 = jint(t, "_sim.t_xfer", now), t1 = jint(t, "_sim.t_done", now);
			if (now >= t1) {
				if (rel)
					transfer_done(sim, t, rel, now);
				else
					json_object_set_new(t, "state", json_string("aborted"));
				changed = 1;
			} else if (rel && t1 > t0) {
				json_int_t total = 1 << 20;
				jset(rel, "transfer.bytes_transferred",
				     json_integer(total * (now - t0) / (t1 - t0)));
			}
		}
	}
	return changed;
}

static int h_relationships(struct req *r)
{
	struct sim *sim = r->sim;
	const char *src_path, *dst_path, *state;
	json_t *src_svm, *dst_svm, *src, *dst, *pol, *sched = NULL, *args;
	bool create_dest = json_is_true(jpath(r->body, "create_destination.enabled"));
	int ret;

	if (r->m == M_GET) {
		if (req_flag(r, "list_destinations_only")) {
			json_auto_t *list = json_array();
			json_t *x;
			size_t i;
			json_array_foreach(state_array(sim, "snapmirror_relationships"), i, x)
				if (jstr(x, "_sim.src_volume"))
					json_array_append(list, x);
			return coll_list(r, &coll_sm_relationships, list);
		}
		return coll_list(r, &coll_sm_relationships, state_array(sim, "snapmirror_relationships"));
	}
	ret = coll_check_body(r, &coll_sm_relationships, "create_destination");
	if (ret < 0)
		return ret;
	src_path = jstr(r->body, "source.path");
	dst_path = jstr(r->body, "destination.path");
	if (!src_path)
		return req_error(r, 400, "262177", "source.path", "Missing value for field \"source.path\".");
	if (!dst_path)
		return req_error(r, 400, "262177", "destination.path",
				 "Missing value for field \"destination.path\".");
	if (!strchr(src_path, ':'))
		return req_error(r, 400, "13303852", "source.path",
				 "Invalid path \"%s\": the format is \"<svm>:<volume>\".", src_path);
	if (!strchr(dst_path, ':'))
		return req_error(r, 400, "13303852", "destination.path",
				 "Invalid path \"%s\": the format is \"<svm>:<volume>\".", dst_path);
	if (strcmp(src_path, dst_path) == 0)
		return req_error(r, 400, "6619441", "destination.path",
				 "The source and destination of a relationship cannot be the same volume.");
	src = path_volume(sim, src_path, &src_svm);
	if (src_svm && !src)
		return req_error(r, 404, "4", "source.path", "Source volume \"%s\" does not exist.",
				 src_path);
	dst = path_volume(sim, dst_path, &dst_svm);
	if (!dst_svm)
		return req_error(r, 400, "2621462", "destination.path",
				 "The destination SVM of \"%s\" does not exist.", dst_path);
	if (!dst && !create_dest)
		return req_error(r, 404, "4", "destination.path",
				 "Destination volume \"%s\" does not exist.", dst_path);
	if (dst && !streq_ci(jstr(dst, "type"), "dp"))
		return req_error(r, 400, "6619546", "destination.path",
				 "Destination volume \"%s\" must be of type DP.", dst_path);
	/* two SVMs need a peering for SnapMirror (ONTAP: `vserver peer create -applications
	 * snapmirror`, also within one cluster); the code is the simulator's choice */
	if (src_svm && !streq_ci(jstr(src_svm, "uuid"), jstr(dst_svm, "uuid")) &&
	    !svm_peer_find(sim, jstr(src_svm, "name"), jstr(dst_svm, "name"), "snapmirror"))
		return req_error(r, 400, "13303817", "source.path",
				 "SVM \"%s\" is not peered with SVM \"%s\" for the \"snapmirror\" application.",
				 jstr(src_svm, "name"), jstr(dst_svm, "name"));
	if (state_find(sim, "snapmirror_relationships", "destination.path", dst_path))
		return req_error(r, 409, "6619637", "destination.path",
				 "A SnapMirror relationship with destination \"%s\" already exists.",
				 dst_path);
	pol = find_ref(sim, "snapmirror_policies", json_object_get(r->body, "policy"));
	if (!json_object_get(r->body, "policy"))
		pol = state_find(sim, "snapmirror_policies", "name", "Asynchronous");
	if (!pol)
		return req_error(r, 404, "4", "policy.name", "SnapMirror policy \"%s\" does not exist.",
				 jstr(r->body, "policy.name"));
	if (json_object_get(r->body, "transfer_schedule")) {
		sched = find_ref(sim, "schedules", json_object_get(r->body, "transfer_schedule"));
		if (!sched || !streq_ci(jstr(sched, "type"), "cron"))
			return req_error(r, 400, "6619699", "transfer_schedule.name",
					 "Schedule \"%s\" does not exist or is not a cron schedule.",
					 jstr(r->body, "transfer_schedule.name"));
	}
	state = jstr(r->body, "state");
	if (state && !create_dest)
		return req_error(r, 400, "262186", "state",
				 "Field \"state\" can only be set together with \"create_destination\".");
	args = json_pack("{s:s,s:s,s:s,s:s?,s:b,s:s?,s:o}", "source", src_path, "destination", dst_path,
			 "policy", jstr(pol, "uuid"), "schedule", sched ? jstr(sched, "uuid") : NULL,
			 "create_destination", create_dest, "state", state, "svm", ref_of(dst_svm));
	return job_start(r, "sm_create", args, 201);
}

static int op_sm_create(struct sim *sim, json_t *args, json_t *job, struct sim_err *err)
{
	const char *src_path = jstr(args, "source"), *dst_path = jstr(args, "destination");
	json_t *src_svm, *dst_svm, *src = path_volume(sim, src_path, &src_svm);
	json_t *dst = path_volume(sim, dst_path, &dst_svm), *rel, *pol, *sched;
	_cleanup_free_ char *now = sim_time_iso(sim_now_us(sim), false);
	json_t *cluster = json_object_get(sim->state, "cluster");
	char uuid[37];

	if (!dst_svm)
		return sim_err_set(err, 400, 2621462, "destination.path", "Destination SVM does not exist.");
	if (state_find(sim, "snapmirror_relationships", "destination.path", dst_path))
		return sim_err_set(err, 409, 6619637, "destination.path",
				   "A SnapMirror relationship with destination \"%s\" already exists.",
				   dst_path);
	if (!dst) {
		char vuuid[37];
		if (!json_is_true(json_object_get(args, "create_destination")))
			return sim_err_set(err, 404, 4, "destination.path",
					   "Destination volume does not exist.");
		sim_uuid(vuuid);
		dst = json_pack("{s:s,s:s,s:o,s:I,s:s,s:s,s:s,s:s,s:s,s:[o]}", "uuid", vuuid, "name",
				strchr(dst_path, ':') + 1, "svm", ref_of(dst_svm), "size",
				src ? jint(src, "size", 1LL << 30) : (json_int_t)(1LL << 30), "state",
				"online", "type", "dp", "style", "flexvol", "create_time", now ? now : "",
				"comment", "", "aggregates",
				ref_of(json_array_get(state_array(sim, "aggregates"), 0)));
		jset(dst, "snapshot_policy.name", json_string("none"));
		jset(dst, "guarantee.type", json_string("none"));
		jset(dst, "space.snapshot.reserve_percent", json_integer(0));
		jset(dst, "nas.path", json_string(""));
		jset(dst, "clone.is_flexclone", json_false());
		json_array_append_new(state_array(sim, "volumes"), dst);
	}
	pol = state_find(sim, "snapmirror_policies", "uuid", jstr(args, "policy"));
	sched = state_find(sim, "schedules", "uuid", jstr(args, "schedule"));
	sim_uuid(uuid);
	rel = json_pack("{s:s,s:s,s:b,s:[],s:{s:s,s:o,s:o},s:{s:s,s:o,s:o},s:o,s:s,s:i}", "uuid", uuid,
			"state", "uninitialized", "healthy", 1, "unhealthy_reason", "source", "path",
			src_path, "svm",
			src_svm ? ref_of(src_svm)
				: json_pack("{s:s%}", "name", src_path,
					    (size_t)(strchr(src_path, ':') - src_path)),
			"cluster", ref_of(cluster), "destination", "path", dst_path, "svm",
			ref_of(dst_svm), "cluster", ref_of(cluster), "policy",
			pol ? ref_of(pol) : json_object(), "group_type", "none", "throttle", 0);
	if (sched)
		json_object_set_new(rel, "transfer_schedule", ref_of(sched));
	json_object_set_new(jsim(rel), "src_volume", src ? json_string(jstr(src, "uuid")) : json_null());
	json_object_set_new(jsim(rel), "dst_volume", json_string(jstr(dst, "uuid")));
	json_array_append_new(state_array(sim, "snapmirror_relationships"), rel);
	if (streq_ci(jstr(args, "state"), "snapmirrored") || streq_ci(jstr(args, "state"), "in_sync"))
		transfer_start(sim, rel, "initialize");
	json_object_set_new(jsim(job), "result", json_pack("{s:s,s:s}", "coll",
							   "snapmirror_relationships", "uuid", uuid));
	return 0;
}

static bool rel_job_pending(struct sim *sim, json_t *rel)
{
	json_t *j;
	size_t i;

	json_array_foreach(state_array(sim, "jobs"), i, j) {
		const char *st = jstr(j, "state"), *op = jstr(j, "_sim.op");
		if ((strcmp(st, "queued") == 0 || strcmp(st, "running") == 0) &&
		    (streq_ci(op, "sm_modify") || streq_ci(op, "sm_delete")) &&
		    streq_ci(jstr(j, "_sim.args.uuid"), jstr(rel, "uuid")))
			return true;
	}
	return false;
}

static int rel_patch(struct req *r, json_t *rel)
{
	struct sim *sim = r->sim;
	const char *cur = jstr(rel, "state");
	_cleanup_free_ char *want = NULL;
	json_t *pol = state_find(sim, "snapmirror_policies", "uuid", jstr(rel, "policy.uuid"));
	bool sync = pol && streq_ci(jstr(pol, "type"), "sync");
	json_t *args;
	int ret;

	if (!r->body)
		return req_error(r, 400, "262177", "", "A request body is required.");
	ret = coll_check_body(r, &coll_sm_relationships, "restore_to_snapshot");
	if (ret < 0)
		return ret;
	if (rel_job_pending(sim, rel))
		return req_error(r, 409, "6619715", "",
				 "A modification of this SnapMirror relationship is already in progress.");
	if (jstr(r->body, "state")) {
		want = str_lower(jstr(r->body, "state"));
		if (strcmp(want, "snapmirrored") && strcmp(want, "broken_off") &&
		    strcmp(want, "paused") && strcmp(want, "in_sync"))
			return req_error(r, 400, "262197", "state",
					 "The value \"%s\" is invalid for field \"state\"", want);
		if (strcmp(want, "in_sync") == 0 && !sync)
			return req_error(r, 400, "13303818", "state",
					 "Invalid state transition to \"in_sync\" for an asynchronous relationship.");
		if ((strcmp(want, "snapmirrored") == 0 || strcmp(want, "in_sync") == 0) &&
		    (strcmp(cur, "snapmirrored") == 0 || strcmp(cur, "in_sync") == 0))
			return req_error(r, 400, "13303832", "state",
					 "The relationship is already initialized and in state \"%s\".", cur);
		if (strcmp(want, "broken_off") == 0 && active_transfer(sim, rel))
			return req_error(r, 409, "13303808", "state",
					 "Break failed: a transfer is in progress. Abort it or wait.");
		if (strcmp(cur, "uninitialized") == 0 &&
		    (strcmp(want, "broken_off") == 0 || strcmp(want, "paused") == 0))
			return req_error(r, 400, "13303818", "state",
					 "Invalid state transition from \"%s\" to \"%s\".", cur, want);
		if (strcmp(cur, "broken_off") == 0 && strcmp(want, "paused") == 0)
			return req_error(r, 400, "13303818", "state",
					 "Invalid state transition from \"%s\" to \"%s\".", cur, want);
		if (strcmp(want, "broken_off") == 0 && active_transfer(sim, rel))
			return req_error(r, 409, "13303808", "state",
					 "Break failed: a transfer is in progress. Abort it or wait.");
		if ((strcmp(want, "snapmirrored") == 0 || strcmp(want, "in_sync") == 0) &&
		    active_transfer(sim, rel))
			return req_error(r, 409, "13303830", "state",
					 "The relationship is in a transient state (transfer in progress).");
	}
	if (json_object_get(r->body, "transfer_schedule")) {
		json_t *s = find_ref(sim, "schedules", json_object_get(r->body, "transfer_schedule"));
		if (!s || !streq_ci(jstr(s, "type"), "cron"))
			return req_error(r, 400, "6619699", "transfer_schedule.name",
					 "Schedule does not exist or is not a cron schedule.");
	}
	if (json_object_get(r->body, "policy") &&
	    !find_ref(sim, "snapmirror_policies", json_object_get(r->body, "policy")))
		return req_error(r, 404, "4", "policy.name", "SnapMirror policy does not exist.");
	args = json_pack("{s:s,s:O,s:s?,s:O}", "uuid", jstr(rel, "uuid"), "body", r->body,
			 "restore_to_snapshot", jstr(r->body, "restore_to_snapshot"), "svm",
			 jpath(rel, "destination.svm"));
	return job_start(r, "sm_modify", args, 200);
}

static int op_sm_modify(struct sim *sim, json_t *args, json_t *job, struct sim_err *err)
{
	json_t *rel = state_find(sim, "snapmirror_relationships", "uuid", jstr(args, "uuid"));
	json_t *body = json_object_get(args, "body"), *dst;
	const char *want = jstr(body, "state"), *cur;

	if (!rel)
		return sim_err_set(err, 404, 4, "uuid", "SnapMirror relationship does not exist.");
	cur = jstr(rel, "state");
	dst = state_find(sim, "volumes", "uuid", jstr(rel, "_sim.dst_volume"));
	if (json_object_get(body, "transfer_schedule")) {
		json_t *s = find_ref(sim, "schedules", json_object_get(body, "transfer_schedule"));
		if (s)
			json_object_set_new(rel, "transfer_schedule", ref_of(s));
	}
	if (json_object_get(body, "policy")) {
		json_t *p = find_ref(sim, "snapmirror_policies", json_object_get(body, "policy"));
		if (p)
			json_object_set_new(rel, "policy", ref_of(p));
	}
	if (json_is_integer(json_object_get(body, "throttle")))
		json_object_set(rel, "throttle", json_object_get(body, "throttle"));
	if (!want)
		return 0;
	if (streq_ci(want, "broken_off")) {
		if (active_transfer(sim, rel))
			return sim_err_set(err, 409, 13303808, "state",
					   "Break failed: a transfer is in progress.");
		json_object_set_new(rel, "state", json_string("broken_off"));
		if (dst)
			json_object_set_new(dst, "type", json_string("rw"));
	} else if (streq_ci(want, "paused")) {
		json_object_set_new(rel, "state", json_string("paused"));
	} else if (strcmp(cur, "uninitialized") == 0) {
		transfer_start(sim, rel, "initialize");
	} else if (strcmp(cur, "broken_off") == 0) {
		/* resync: the destination is DP again; its snapshots newer than the common one go */
		json_t *common = state_find(sim, "snapshots", "uuid", jstr(rel, "_sim.dst_snapshot"));
		json_int_t seq = common ? jint(common, "_sim.seq", 0) : 0;
		if (dst) {
			json_t *a = state_array(sim, "snapshots");
			json_object_set_new(dst, "type", json_string("dp"));
			for (size_t i = 0; i < json_array_size(a);) {
				json_t *s = json_array_get(a, i);
				if (streq_ci(jstr(s, "volume.uuid"), jstr(dst, "uuid")) &&
				    jint(s, "_sim.seq", 0) > seq) {
					json_array_remove(a, i);
					continue;
				}
				i++;
			}
		}
		json_object_set_new(rel, "state", json_string(streq_ci(want, "in_sync") ? "in_sync"
											 : "snapmirrored"));
		transfer_start(sim, rel, "resync");
	} else {
		/* resume from paused */
		json_object_set_new(rel, "state", json_string(streq_ci(want, "in_sync") ? "in_sync"
											 : "snapmirrored"));
	}
	return 0;
}

static int op_sm_delete(struct sim *sim, json_t *args, json_t *job, struct sim_err *err)
{
	json_t *rel = state_find(sim, "snapmirror_relationships", "uuid", jstr(args, "uuid")), *t;

	if (!rel)
		return sim_err_set(err, 404, 4, "uuid", "SnapMirror relationship does not exist.");
	if ((t = active_transfer(sim, rel)))
		json_object_set_new(t, "state", json_string("aborted"));
	if (!json_is_true(json_object_get(args, "destination_only")))
		drop_sm_snapshot(sim, jstr(rel, "_sim.src_snapshot"));
	return state_remove(sim, "snapmirror_relationships", rel);
}

static int h_relationship(struct req *r)
{
	json_t *rel = state_find(r->sim, "snapmirror_relationships", "uuid", r->arg[0]);
	int flags;

	if (r->m == M_GET)
		return coll_get(r, &coll_sm_relationships, rel);
	if (!rel)
		return req_error(r, 404, "4", "uuid", "SnapMirror relationship does not exist.");
	if (r->m == M_PATCH)
		return rel_patch(r, rel);
	flags = req_flag(r, "destination_only") + req_flag(r, "source_only") +
		req_flag(r, "source_info_only");
	if (flags > 1)
		return req_error(r, 400, "2", "destination_only",
				 "The flags destination_only, source_only and source_info_only are mutually exclusive.");
	if (rel_job_pending(r->sim, rel))
		return req_error(r, 409, "6619715", "",
				 "A modification of this SnapMirror relationship is already in progress.");
	return job_start(r, "sm_delete",
			 json_pack("{s:s,s:b,s:O}", "uuid", r->arg[0], "destination_only",
				   req_flag(r, "destination_only"), "svm", jpath(rel, "destination.svm")),
			 200);
}

static int h_transfers(struct req *r)
{
	json_t *rel = state_find(r->sim, "snapmirror_relationships", "uuid", r->arg[0]), *t, *x;
	const char *st;
	char loc[256];
	size_t i;
	int ret;

	if (!rel)
		return req_error(r, 404, "4", "relationship.uuid", "SnapMirror relationship does not exist.");
	if (r->m == M_GET) {
		json_auto_t *list = json_array();
		json_array_foreach(state_array(r->sim, "snapmirror_transfers"), i, x)
			if (streq_ci(jstr(x, "relationship.uuid"), r->arg[0]))
				json_array_append(list, x);
		return coll_list(r, &coll_sm_transfers, list);
	}
	ret = coll_check_body(r, &coll_sm_transfers, "source_snapshot storage_efficiency_enabled");
	if (ret < 0)
		return ret;
	if (active_transfer(r->sim, rel))
		return req_error(r, 409, "13303812", "",
				 "Initialize operation failed: a transfer is already in progress.");
	st = jstr(rel, "state");
	if (strcmp(st, "broken_off") == 0 || strcmp(st, "paused") == 0)
		return req_error(r, 400, "13303844", "",
				 "Update failed: the relationship is in state \"%s\".", st);
	t = transfer_start(r->sim, rel, strcmp(st, "uninitialized") == 0 ? "initialize" : "update");
	snprintf(loc, sizeof(loc), "/api/snapmirror/relationships/%s/transfers/%s", r->arg[0],
		 jstr(t, "uuid"));
	free(r->location);
	r->location = strdup(loc);
	r->mutated = true;
	return coll_created(r, &coll_sm_transfers, t, 201);
}

static int h_transfer(struct req *r)
{
	json_t *t = state_find2(r->sim, "snapmirror_transfers", "uuid", r->arg[1],
				"relationship.uuid", r->arg[0]);
	json_t *rel = state_find(r->sim, "snapmirror_relationships", "uuid", r->arg[0]);
	const char *want, *st;

	if (r->m == M_GET)
		return coll_get(r, &coll_sm_transfers, t);
	if (!t || !rel)
		return req_error(r, 404, "4", "uuid", "The transfer does not exist.");
	st = jstr(t, "state");
	if (strcmp(st, "queued") && strcmp(st, "transferring"))
		return req_error(r, 404, "4", "uuid", "The transfer is no longer active.");
	want = jstr(r->body, "state");
	if (!streq_ci(want, "aborted") && !streq_ci(want, "hard_aborted"))
		return req_error(r, 400, "262197", "state",
				 "The value is invalid for field \"state\" (aborted,hard_aborted)");
	json_object_set_new(t, "state", json_string("aborted"));
	jset(rel, "transfer.state", json_string("aborted"));
	r->mutated = true;
	req_reply(r, 200, json_object());
	return 0;
}

/* ---- consistency groups ---- */

static void decorate_cg(struct sim *sim, json_t *rec, json_t *out)
{
	json_t *vols = json_array(), *v;
	size_t i;

	json_array_foreach(json_object_get(rec, "volumes"), i, v) {
		json_t *vol = state_find(sim, "volumes", "uuid", jstr(v, "uuid"));
		if (vol)
			json_array_append_new(vols, ref_of(vol));
	}
	json_object_set_new(out, "volumes", vols);
}

struct coll coll_cgs = {
	.name = "consistency_groups",
	.schema = "{'uuid':'','name':'','svm':{'name':'','uuid':''},"
		  "'volumes':[{'name':'','uuid':'','provisioning_options':{'action':''}}],"
		  "'snapshot_policy':{'name':'','uuid':''},'replicated':true,'replication_source':true}",
	.keys = "uuid,name",
	.cursor = "uuid",
	.href = "/api/application/consistency-groups/{uuid}",
	.decorate = decorate_cg,
};

struct coll coll_cg_snapshots = {
	.name = "cg_snapshots",
	.schema = "{'uuid':'','name':'','comment':'','snapmirror_label':'','consistency_type':'',"
		  "'create_time':'','consistency_group':{'name':'','uuid':''},"
		  "'svm':{'name':'','uuid':''},"
		  "'snapshot_volumes':[{'volume':{'name':'','uuid':''},'snapshot':{'name':'','uuid':''}}]}",
	.keys = "uuid,name",
	.cursor = "uuid",
	.href = "/api/application/consistency-groups/{consistency_group.uuid}/snapshots/{uuid}",
};

static int cg_gate(struct req *r)
{
	if (!sim_version_ge(r->sim, 9, 10, 1))
		return req_error(r, 404, "4", "", "API not found");
	return 0;
}

static int h_cgs(struct req *r)
{
	struct sim *sim = r->sim;
	json_t *svm, *vols, *v, *args, *x;
	const char *name;
	size_t i, k;
	int ret;

	if (cg_gate(r) < 0)
		return -EINVAL;
	if (r->m == M_GET)
		return coll_list(r, &coll_cgs, state_array(sim, "consistency_groups"));
	ret = coll_check_body(r, &coll_cgs, NULL);
	if (ret < 0)
		return ret;
	ret = req_svm(r, json_object_get(r->body, "svm"), true, &svm);
	if (ret < 0)
		return ret;
	name = jstr(r->body, "name");
	if (!name || !*name)
		return req_error(r, 400, "262177", "name", "Missing value for field \"name\".");
	if (state_find2(sim, "consistency_groups", "name", name, "svm.uuid", jstr(svm, "uuid")))
		return req_error(r, 409, "53411860", "name",
				 "A consistency group with the name \"%s\" already exists.", name);
	vols = json_array();
	json_array_foreach(json_object_get(r->body, "volumes"), i, v) {
		json_t *vol = jstr(v, "uuid") ? state_find(sim, "volumes", "uuid", jstr(v, "uuid"))
					      : volume_by_name(sim, jstr(svm, "uuid"), jstr(v, "name"));
		if (!vol) {
			json_decref(vols);
			return req_error(r, 404, "53411842", "volumes.name",
					 "Volume \"%s\" does not exist.", jstr(v, "name"));
		}
		json_array_foreach(state_array(sim, "consistency_groups"), k, x) {
			json_t *m;
			size_t j;
			json_array_foreach(json_object_get(x, "volumes"), j, m)
				if (streq_ci(jstr(m, "uuid"), jstr(vol, "uuid"))) {
					json_decref(vols);
					return req_error(r, 409, "53411865", "volumes.name",
							 "Volume \"%s\" is already in consistency group \"%s\".",
							 jstr(vol, "name"), jstr(x, "name"));
				}
		}
		json_array_append_new(vols, ref_of(vol));
	}
	args = json_pack("{s:s,s:o,s:o,s:s?}", "name", name, "svm", ref_of(svm), "volumes", vols,
			 "snapshot_policy", jstr(r->body, "snapshot_policy.name"));
	return job_start(r, "cg_create", args, 201);
}

static int op_cg_create(struct sim *sim, json_t *args, json_t *job, struct sim_err *err)
{
	char uuid[37];
	json_t *cg;

	if (state_find2(sim, "consistency_groups", "name", jstr(args, "name"), "svm.uuid",
			jstr(args, "svm.uuid")))
		return sim_err_set(err, 409, 53411860, "name",
				   "A consistency group with the name \"%s\" already exists.",
				   jstr(args, "name"));
	sim_uuid(uuid);
	cg = json_pack("{s:s,s:s,s:O,s:O,s:{s:s}}", "uuid", uuid, "name", jstr(args, "name"), "svm",
		       json_object_get(args, "svm"), "volumes", json_object_get(args, "volumes"),
		       "snapshot_policy", "name",
		       jstr(args, "snapshot_policy") ? jstr(args, "snapshot_policy") : "none");
	json_array_append_new(state_array(sim, "consistency_groups"), cg);
	json_object_set_new(jsim(job), "result",
			    json_pack("{s:s,s:s}", "coll", "consistency_groups", "uuid", uuid));
	return 0;
}

static int op_cg_delete(struct sim *sim, json_t *args, json_t *job, struct sim_err *err)
{
	json_t *cg = state_find(sim, "consistency_groups", "uuid", jstr(args, "uuid")), *s;

	if (!cg)
		return sim_err_set(err, 404, 53411843, "uuid", "Consistency group does not exist.");
	while ((s = state_find(sim, "cg_snapshots", "consistency_group.uuid", jstr(cg, "uuid"))))
		state_remove(sim, "cg_snapshots", s);
	return state_remove(sim, "consistency_groups", cg);
}

static int h_cg(struct req *r)
{
	json_t *cg;

	if (cg_gate(r) < 0)
		return -EINVAL;
	cg = state_find(r->sim, "consistency_groups", "uuid", r->arg[0]);
	if (r->m == M_GET)
		return coll_get(r, &coll_cgs, cg);
	if (!cg)
		return req_error(r, 404, "53411843", "uuid", "Consistency group does not exist.");
	return job_start(r, "cg_delete",
			 json_pack("{s:s,s:O}", "uuid", r->arg[0], "svm", json_object_get(cg, "svm")),
			 200);
}

static int op_cg_snapshot_create(struct sim *sim, json_t *args, json_t *job, struct sim_err *err)
{
	json_t *cg = state_find(sim, "consistency_groups", "uuid", jstr(args, "cg")), *v, *snaps, *s;
	const char *name = jstr(args, "name");
	_cleanup_free_ char *now = sim_time_iso(sim_now_us(sim), false);
	char uuid[37];
	size_t i, k;

	if (!cg)
		return sim_err_set(err, 404, 53411843, "uuid", "Consistency group does not exist.");
	json_array_foreach(json_object_get(cg, "volumes"), i, v) {
		json_array_foreach(state_array(sim, "snapshots"), k, s)
			if (streq_ci(jstr(s, "volume.uuid"), jstr(v, "uuid")) &&
			    strcmp(jstr(s, "name"), name) == 0)
				return sim_err_set(err, 409, 53411921, "name",
						   "Failed to create snapshot \"%s\" of consistency group \"%s\": it already exists on volume \"%s\".",
						   name, jstr(cg, "name"), jstr(s, "volume.name"));
	}
	snaps = json_array();
	json_array_foreach(json_object_get(cg, "volumes"), i, v) {
		json_t *vol = state_find(sim, "volumes", "uuid", jstr(v, "uuid"));
		if (!vol || snapshot_create(sim, vol, name, jstr(args, "snapmirror_label"), &s) < 0)
			continue;
		if (jstr(args, "comment"))
			json_object_set(s, "comment", json_object_get(args, "comment"));
		json_array_append_new(snaps, json_pack("{s:o,s:o}", "volume", ref_of(vol), "snapshot",
						       ref_of(s)));
	}
	sim_uuid(uuid);
	s = json_pack("{s:s,s:s,s:s,s:s,s:s,s:s,s:o,s:O,s:o}", "uuid", uuid, "name", name, "comment",
		      jstr(args, "comment") ? jstr(args, "comment") : "", "snapmirror_label",
		      jstr(args, "snapmirror_label") ? jstr(args, "snapmirror_label") : "",
		      "consistency_type",
		      jstr(args, "consistency_type") ? jstr(args, "consistency_type") : "crash",
		      "create_time", now ? now : "", "consistency_group", ref_of(cg), "svm",
		      json_object_get(cg, "svm"), "snapshot_volumes", snaps);
	json_array_append_new(state_array(sim, "cg_snapshots"), s);
	json_object_set_new(jsim(job), "result",
			    json_pack("{s:s,s:s}", "coll", "cg_snapshots", "uuid", uuid));
	return 0;
}

static int op_cg_snapshot_delete(struct sim *sim, json_t *args, json_t *job, struct sim_err *err)
{
	json_t *cs = state_find(sim, "cg_snapshots", "uuid", jstr(args, "uuid")), *v;
	size_t i;

	if (!cs)
		return sim_err_set(err, 404, 53412008, "uuid", "Consistency group snapshot does not exist.");
	json_array_foreach(json_object_get(cs, "snapshot_volumes"), i, v) {
		json_t *s = state_find(sim, "snapshots", "uuid", jstr(v, "snapshot.uuid"));
		if (s && state_find(sim, "volumes", "clone.parent_snapshot.uuid", jstr(s, "uuid")))
			return sim_err_set(err, 409, 53412007, "",
					   "Failed to delete snapshot \"%s\": it is in use by a clone.",
					   jstr(s, "name"));
	}
	json_array_foreach(json_object_get(cs, "snapshot_volumes"), i, v) {
		json_t *s = state_find(sim, "snapshots", "uuid", jstr(v, "snapshot.uuid"));
		if (s)
			state_remove(sim, "snapshots", s);
	}
	return state_remove(sim, "cg_snapshots", cs);
}

static int h_cg_snapshots(struct req *r)
{
	json_t *cg, *args, *x;
	size_t i;
	int ret;

	if (cg_gate(r) < 0)
		return -EINVAL;
	cg = state_find(r->sim, "consistency_groups", "uuid", r->arg[0]);
	if (!cg)
		return req_error(r, 404, "53411843", "consistency_group.uuid",
				 "Consistency group does not exist.");
	if (r->m == M_GET) {
		json_auto_t *list = json_array();
		json_array_foreach(state_array(r->sim, "cg_snapshots"), i, x)
			if (streq_ci(jstr(x, "consistency_group.uuid"), r->arg[0]))
				json_array_append(list, x);
		return coll_list(r, &coll_cg_snapshots, list);
	}
	ret = coll_check_body(r, &coll_cg_snapshots, NULL);
	if (ret < 0)
		return ret;
	if (!jstr(r->body, "name"))
		return req_error(r, 400, "262177", "name", "Missing value for field \"name\".");
	args = json_deep_copy(r->body);
	json_object_set_new(args, "cg", json_string(r->arg[0]));
	json_object_set(args, "svm", json_object_get(cg, "svm"));
	return job_start(r, "cg_snapshot_create", args, 201);
}

static int h_cg_snapshot(struct req *r)
{
	json_t *cs;

	if (cg_gate(r) < 0)
		return -EINVAL;
	cs = state_find2(r->sim, "cg_snapshots", "uuid", r->arg[1], "consistency_group.uuid",
			 r->arg[0]);
	if (r->m == M_GET)
		return coll_get(r, &coll_cg_snapshots, cs);
	if (!cs)
		return req_error(r, 404, "53412008", "uuid", "Consistency group snapshot does not exist.");
	return job_start(r, "cg_snapshot_delete",
			 json_pack("{s:s,s:O}", "uuid", r->arg[1], "svm", json_object_get(cs, "svm")),
			 200);
}

const struct job_op protect_job_ops[] = {
	{ "sm_policy_create", op_sm_policy_create },
	{ "sm_policy_modify", op_sm_policy_modify },
	{ "sm_policy_delete", op_sm_policy_delete },
	{ "sm_create", op_sm_create },
	{ "sm_modify", op_sm_modify },
	{ "sm_delete", op_sm_delete },
	{ "cg_create", op_cg_create },
	{ "cg_delete", op_cg_delete },
	{ "cg_snapshot_create", op_cg_snapshot_create },
	{ "cg_snapshot_delete", op_cg_snapshot_delete },
	{ NULL, NULL },
};

const struct route protect_routes[] = {
	{ "/api/cluster/schedules", M_GET | M_POST, h_schedules, NULL },
	{ "/api/cluster/schedules/{}", M_GET | M_PATCH | M_DELETE, h_schedule, NULL },
	{ "/api/storage/snapshot-policies", M_GET | M_POST, h_snapshot_policies, NULL },
	{ "/api/storage/snapshot-policies/{}", M_GET | M_PATCH | M_DELETE, h_snapshot_policy, NULL },
	{ "/api/snapmirror/policies", M_GET | M_POST, h_sm_policies, NULL },
	{ "/api/snapmirror/policies/{}", M_GET | M_PATCH | M_DELETE, h_sm_policy, NULL },
	{ "/api/snapmirror/relationships", M_GET | M_POST, h_relationships, "list_destinations_only" },
	{ "/api/snapmirror/relationships/{}", M_GET | M_PATCH | M_DELETE, h_relationship,
	  "destination_only source_only source_info_only force list_destinations_only" },
	{ "/api/snapmirror/relationships/{}/transfers", M_GET | M_POST, h_transfers, NULL },
	{ "/api/snapmirror/relationships/{}/transfers/{}", M_GET | M_PATCH, h_transfer, NULL },
	{ "/api/application/consistency-groups", M_GET | M_POST, h_cgs, NULL },
	{ "/api/application/consistency-groups/{}", M_GET | M_DELETE, h_cg, NULL },
	{ "/api/application/consistency-groups/{}/snapshots", M_GET | M_POST, h_cg_snapshots, NULL },
	{ "/api/application/consistency-groups/{}/snapshots/{}", M_GET | M_DELETE, h_cg_snapshot,
	  NULL },
	{ NULL, 0, NULL, NULL },
};
