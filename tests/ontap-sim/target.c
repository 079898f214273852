/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * ontap-sim: driving a REAL target from the simulated array (README.md "Target hook").
 *
 * In the full-stack tier the simulator runs in a guest that also runs a LIO iSCSI target and an
 * nvmet-tcp target. After every change of the state, the simulator computes what the data path
 * must serve -- the same decision /sim/access makes, from the same igroups, maps, subsystems --
 * as one "target document", and when that document differs from the one last applied it runs
 * the hook program (`--target-hook PROG`) with the document's path and waits for it. So a map or
 * an unmap over REST has really granted or revoked a host's access when the call is answered,
 * as on an array.
 *
 * The document (every list sorted, so equal states give equal documents):
 *   {"iscsi": [{"svm", "target_iqn", "portals": [IP...],
 *               "luns": [{"uuid", "serial_number", "size", "backing_file"}],       mapped LUNs
 *               "acls": [{"initiator": IQN, "luns": [{"lun": ID, "uuid"}]}]}],   per initiator
 *    "nvme":  [{"svm", "portals": [IP...],
 *               "subsystems": [{"nqn", "hosts": [NQN...],
 *                               "namespaces": [{"nsid", "uuid", "size", "backing_file"}]}]}]}
 * An iSCSI initiator that is in an igroup of the SVM has an ACL (it can log in) even when no LUN
 * is mapped to it; only online LUNs of online volumes with a backing file are served, while the
 * SVM's iSCSI / NVMe service is enabled. FC initiators are not served (no FC here).
 *
 * The hook runs with the state lock held (requests wait, as they wait for any change) and a
 * deadline; a failure is reported on stderr and counted in the state ("target_hook": {"runs",
 * "failures", "last_error"}) and the document is offered again at the next change.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "sim.h"

#define HOOK_DEADLINE_S 120

static bool block_served(struct sim *sim, json_t *rec)
{
	json_t *vol = state_find(sim, "volumes", "uuid", jstr(rec, "location.volume.uuid"));

	if (json_is_false(json_object_get(rec, "enabled")) || !jstr(rec, "_sim.backing_file"))
		return false;
	if (jstr(rec, "status.state") && strcmp(jstr(rec, "status.state"), "online") != 0)
		return false;
	return !vol || !jstr(vol, "state") || strcmp(jstr(vol, "state"), "online") == 0;
}

static bool service_on(struct sim *sim, const char *coll, const char *svm_uuid)
{
	json_t *svc = state_find(sim, coll, "svm.uuid", svm_uuid);

	return svc && !json_is_false(json_object_get(svc, "enabled"));
}

static json_t *portals(struct sim *sim)
{
	json_t *a = json_array();

	for (char **ip = sim->cfg.data_ips; ip && *ip; ip++)
		json_array_append_new(a, json_string(*ip));
	return a;
}

static int cmp_key(const void *a, const void *b, const char *key)
{
	json_t *x = *(json_t *const *)a, *y = *(json_t *const *)b;
	json_t *vx = key ? json_object_get(x, key) : x, *vy = key ? json_object_get(y, key) : y;

	if (json_is_integer(vx) && json_is_integer(vy))
		return json_integer_value(vx) < json_integer_value(vy) ? -1 : json_integer_value(vx) > json_integer_value(vy);
	return strcmp(json_string_value(vx) ? json_string_value(vx) : "",
		      json_string_value(vy) ? json_string_value(vy) : "");
}
static int by_uuid(const void *a, const void *b) { return cmp_key(a, b, "uuid"); }
static int by_initiator(const void *a, const void *b) { return cmp_key(a, b, "initiator"); }
static int by_lun(const void *a, const void *b) { return cmp_key(a, b, "lun"); }
static int by_nsid(const void *a, const void *b) { return cmp_key(a, b, "nsid"); }
static int by_nqn(const void *a, const void *b) { return cmp_key(a, b, "nqn"); }
static int by_value(const void *a, const void *b) { return cmp_key(a, b, NULL); }

/* Sorts a JSON array in place (jansson has no sort: rebuild it). */
static void sort_array(json_t *a, int (*cmp)(const void *, const void *))
{
	size_t n = json_array_size(a);
	json_t **v = calloc(n ? n : 1, sizeof(*v));

	if (!v)
		return;
	for (size_t i = 0; i < n; i++)
		v[i] = json_incref(json_array_get(a, i));
	qsort(v, n, sizeof(*v), cmp);
	json_array_clear(a);
	for (size_t i = 0; i < n; i++)
		json_array_append_new(a, v[i]);
	free(v);
}

static json_t *find_by(json_t *a, const char *key, const char *value)
{
	json_t *x;
	size_t i;

	json_array_foreach(a, i, x)
		if (streq_ci(jstr(x, key), value))
			return x;
	return NULL;
}

static json_t *iscsi_of_svm(struct sim *sim, json_t *svm)
{
	const char *svm_uuid = jstr(svm, "uuid");
	json_t *svc = state_find(sim, "iscsi_services", "svm.uuid", svm_uuid);
	json_t *luns = json_array(), *acls = json_array(), *ig, *init, *m;
	size_t i, k;

	if (!svc || !service_on(sim, "iscsi_services", svm_uuid) || !jstr(svc, "target.name")) {
		json_decref(luns);
		json_decref(acls);
		return NULL;
	}
	/* every iSCSI initiator of an igroup of this SVM may log in */
	json_array_foreach(state_array(sim, "igroups"), i, ig) {
		if (!streq_ci(jstr(ig, "svm.uuid"), svm_uuid))
			continue;
		json_array_foreach(json_object_get(ig, "initiators"), k, init) {
			const char *name = jstr(init, "name");
			if (!name || strncasecmp(name, "iqn.", 4) != 0 || find_by(acls, "initiator", name))
				continue;
			_cleanup_free_ char *lower = str_lower(name);
			json_array_append_new(acls, json_pack("{s:s,s:[]}", "initiator", lower, "luns"));
		}
	}
	json_array_foreach(state_array(sim, "lun_maps"), i, m) {
		json_t *lun = state_find(sim, "luns", "uuid", jstr(m, "lun.uuid"));
		ig = state_find(sim, "igroups", "uuid", jstr(m, "igroup.uuid"));
		if (!lun || !ig || !streq_ci(jstr(lun, "svm.uuid"), svm_uuid) || !block_served(sim, lun))
			continue;
		bool used = false;
		json_array_foreach(json_object_get(ig, "initiators"), k, init) {
			json_t *acl = find_by(acls, "initiator", jstr(init, "name"));
			if (!acl)
				continue;
			used = true;
			json_array_append_new(json_object_get(acl, "luns"),
					      json_pack("{s:I,s:s}", "lun", jint(m, "logical_unit_number", 0),
							"uuid", jstr(lun, "uuid")));
		}
		if (used && !find_by(luns, "uuid", jstr(lun, "uuid")))
			json_array_append_new(luns, json_pack("{s:s,s:s,s:I,s:s}", "uuid", jstr(lun, "uuid"),
							      "serial_number", jstr(lun, "serial_number"),
							      "size", jint(lun, "space.size", 0), "backing_file",
							      jstr(lun, "_sim.backing_file")));
	}
	json_array_foreach(acls, i, init)
		sort_array(json_object_get(init, "luns"), by_lun);
	sort_array(acls, by_initiator);
	sort_array(luns, by_uuid);
	return json_pack("{s:s,s:s,s:o,s:o,s:o}", "svm", jstr(svm, "name"), "target_iqn",
			 jstr(svc, "target.name"), "portals", portals(sim), "luns", luns, "acls", acls);
}

static json_t *nvme_of_svm(struct sim *sim, json_t *svm)
{
	const char *svm_uuid = jstr(svm, "uuid");
	json_t *subs = json_array(), *ss, *h, *m;
	size_t i, k;

	if (!service_on(sim, "nvme_services", svm_uuid)) {
		json_decref(subs);
		return NULL;
	}
	json_array_foreach(state_array(sim, "subsystems"), i, ss) {
		json_t *hosts = json_array(), *nss = json_array();
		if (!streq_ci(jstr(ss, "svm.uuid"), svm_uuid) || !jstr(ss, "target_nqn")) {
			json_decref(hosts);
			json_decref(nss);
			continue;
		}
		json_array_foreach(json_object_get(ss, "hosts"), k, h)
			if (jstr(h, "nqn"))
				json_array_append_new(hosts, json_string(jstr(h, "nqn")));
		json_array_foreach(state_array(sim, "subsystem_maps"), k, m) {
			json_t *ns = state_find(sim, "namespaces", "uuid", jstr(m, "namespace.uuid"));
			if (!streq_ci(jstr(m, "subsystem.uuid"), jstr(ss, "uuid")) || !ns || !block_served(sim, ns))
				continue;
			/* the map's nsid is "%08Xh" (ONTAP's form): the number for nvmet */
			const char *nsid = jstr(m, "nsid");
			json_array_append_new(nss, json_pack("{s:I,s:s,s:I,s:s}", "nsid",
							     (json_int_t)(nsid ? strtol(nsid, NULL, 16) : 0),
							     "uuid", jstr(ns, "uuid"), "size",
							     jint(ns, "space.size", 0), "backing_file",
							     jstr(ns, "_sim.backing_file")));
		}
		sort_array(hosts, by_value);
		sort_array(nss, by_nsid);
		json_array_append_new(subs, json_pack("{s:s,s:o,s:o}", "nqn", jstr(ss, "target_nqn"), "hosts",
						      hosts, "namespaces", nss));
	}
	sort_array(subs, by_nqn);
	return json_pack("{s:s,s:o,s:o}", "svm", jstr(svm, "name"), "portals", portals(sim), "subsystems", subs);
}

json_t *target_doc(struct sim *sim)
{
	json_t *doc = json_pack("{s:[],s:[]}", "iscsi", "nvme"), *svm, *x;
	size_t i;

	if (!doc)
		return NULL;
	json_array_foreach(state_array(sim, "svms"), i, svm) {
		if ((x = iscsi_of_svm(sim, svm)))
			json_array_append_new(json_object_get(doc, "iscsi"), x);
		if ((x = nvme_of_svm(sim, svm)))
			json_array_append_new(json_object_get(doc, "nvme"), x);
	}
	return doc;
}

/* Runs PROG PATH, waits up to the deadline (then SIGKILL). 0, or -EIO with *why filled. */
static int run_hook(const char *prog, const char *path, char *why, size_t size)
{
	struct timespec t0, now, nap = { 0, 10 * 1000 * 1000 };
	int status;
	pid_t pid = fork();

	if (pid < 0) {
		snprintf(why, size, "fork: %s", strerror(errno));
		return -errno;
	}
	if (pid == 0) {
		execl(prog, prog, path, (char *)NULL);
		fprintf(stderr, "ontap-sim: cannot run the target hook '%s': %m\n", prog);
		_exit(127);
	}
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (;;) {
		pid_t r = waitpid(pid, &status, WNOHANG);
		if (r == pid)
			break;
		if (r < 0 && errno != EINTR) {
			snprintf(why, size, "waitpid: %s", strerror(errno));
			return -EIO;
		}
		clock_gettime(CLOCK_MONOTONIC, &now);
		if (now.tv_sec - t0.tv_sec > HOOK_DEADLINE_S) {
			kill(pid, SIGKILL);
			waitpid(pid, &status, 0);
			snprintf(why, size, "killed after %d s", HOOK_DEADLINE_S);
			return -ETIMEDOUT;
		}
		nanosleep(&nap, NULL);
	}
	if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
		return 0;
	if (WIFEXITED(status))
		snprintf(why, size, "exit status %d", WEXITSTATUS(status));
	else
		snprintf(why, size, "killed by signal %d", WTERMSIG(status));
	return -EIO;
}

int target_sync(struct sim *sim)
{
	_cleanup_free_ char *path = NULL, *tmp = NULL;
	json_auto_t *doc = NULL;
	json_t *stats;
	char why[256] = "";
	int ret;

	if (!sim->cfg.target_hook)
		return 0;
	doc = target_doc(sim);
	if (!doc)
		return -ENOMEM;
	if (sim->target_applied && json_equal(doc, sim->target_applied))
		return 0;
	if (asprintf(&path, "%s/target.json", sim->cfg.target_dir) < 0 ||
	    asprintf(&tmp, "%s/target.json.tmp", sim->cfg.target_dir) < 0)
		return -ENOMEM;
	if (json_dump_file(doc, tmp, JSON_INDENT(1) | JSON_SORT_KEYS) < 0 || rename(tmp, path) < 0) {
		snprintf(why, sizeof(why), "cannot write %s: %s", path, strerror(errno));
		ret = -EIO;
	} else {
		ret = run_hook(sim->cfg.target_hook, path, why, sizeof(why));
	}
	stats = json_object_get(sim->state, "target_hook");
	if (!stats) {
		stats = json_pack("{s:i,s:i,s:n}", "runs", 0, "failures", 0, "last_error");
		json_object_set_new(sim->state, "target_hook", stats);
	}
	json_object_set_new(stats, "runs", json_integer(jint(stats, "runs", 0) + 1));
	if (ret < 0) {
		fprintf(stderr, "ontap-sim: target hook %s failed: %s\n", sim->cfg.target_hook, why);
		json_object_set_new(stats, "failures", json_integer(jint(stats, "failures", 0) + 1));
		json_object_set_new(stats, "last_error", json_string(why));
		return ret;
	}
	json_decref(sim->target_applied);
	sim->target_applied = json_incref(doc);
	return 0;
}
