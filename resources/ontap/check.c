/* SPDX-License-Identifier: GPL-2.0-or-later */
/* ontap_check_run(): see ontap-check.h. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "macros.h"
#include "ontap-check.h"
#include "ontap-op.h"

struct waiter {
	bool done;
	int r;
	long http;
	json_t *rec;              /* owned copy of the result record */
	struct ontap_error err;
};

static void waiter_clear(struct waiter *w)
{
	json_decref(w->rec);
	ontap_error_clear(&w->err);
	*w = (struct waiter) {};
}

static void on_op_done(void *userdata, int r, const struct ontap_object *o, const struct ontap_error *e)
{
	struct waiter *w = userdata;

	w->done = true;
	w->r = r;
	if (o && o->record)
		w->rec = json_deep_copy(o->record);
	if (e) {
		ontap_error_copy(&w->err, e);
		w->http = e->http_status;
	}
}

static void on_req_done(struct ontap_client *c, int r, const struct ontap_reply *reply, void *userdata)
{
	struct waiter *w = userdata;

	w->done = true;
	w->r = r;
	w->http = reply->http_status;
	ontap_error_copy(&w->err, reply->error);
}

/* Runs the loop until every waiter is done (or a start failed: done set by the caller). */
static int wait_all(sd_event *ev, struct waiter *w, size_t n)
{
	for (;;) {
		bool all = true;
		int r;

		for (size_t i = 0; i < n; i++)
			all = all && w[i].done;
		if (all)
			return 0;
		r = sd_event_run(ev, UINT64_MAX);
		if (r < 0)
			return r;
	}
}

static void started(struct waiter *w, int r)
{
	if (r < 0) {
		w->done = true;
		w->r = r;
		ontap_error_setf(&w->err, r, "%s", strerror(-r));
	}
}

struct report {
	json_t *root;       /* owned */
	json_t *problems;   /* borrowed from root */
	bool ok;
};

static void problem(struct report *rep, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void problem(struct report *rep, const char *fmt, ...)
{
	char buf[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof buf, fmt, ap);
	va_end(ap);
	json_array_append_new(rep->problems, json_string(buf));
	rep->ok = false;
}

static const char *errtext(const struct waiter *w, char *buf, size_t size)
{
	return ontap_error_format(&w->err, buf, size);
}

static const struct {
	const char *family;
	const char *path;       /* read probe (GET, keys only, one record) */
	const char *write;      /* write probe: DELETE of a UUID that cannot exist, NULL = none */
	int min_minor;          /* ONTAP 9.x minor version where the endpoint appeared */
	bool destination;       /* needed on a SnapMirror destination cluster ([ontap_peer]) too */
} probes[] = {
	{ "volumes",            "/storage/volumes?max_records=1",             "/storage/volumes/00000000-0000-0000-0000-000000000000", 0, true },
	{ "luns",               "/storage/luns?max_records=1",                "/storage/luns/00000000-0000-0000-0000-000000000000", 0 },
	{ "igroups",            "/protocols/san/igroups?max_records=1",       "/protocols/san/igroups/00000000-0000-0000-0000-000000000000", 0 },
	{ "lun-maps",           "/protocols/san/lun-maps?max_records=1",      NULL, 0 },
	{ "namespaces",         "/storage/namespaces?max_records=1",          "/storage/namespaces/00000000-0000-0000-0000-000000000000", 0 },
	{ "nvme-subsystems",    "/protocols/nvme/subsystems?max_records=1",   "/protocols/nvme/subsystems/00000000-0000-0000-0000-000000000000", 0 },
	{ "nvme-subsystem-maps","/protocols/nvme/subsystem-maps?max_records=1", NULL, 0 },
	{ "snapshot-policies",  "/storage/snapshot-policies?max_records=1",   NULL, 0 },
	{ "schedules",          "/cluster/schedules?max_records=1",           NULL, 0 },
	{ "snapmirror",         "/snapmirror/relationships?max_records=1",    NULL, 0, true },
	{ "consistency-groups", "/application/consistency-groups?max_records=1", NULL, 10 },
	{ "jobs",               "/cluster/jobs?max_records=1",                NULL, 0, true },
	{ "interfaces",         "/network/ip/interfaces?max_records=1",       NULL, 0 },
	{ "export-policies",    "/protocols/nfs/export-policies?max_records=1", NULL, 0 },
	{ "cifs-shares",        "/protocols/cifs/shares?max_records=1",
	  "/protocols/cifs/shares/00000000-0000-0000-0000-000000000000/kvmcd-permission-probe", 0 },
};

static void check_protocols(struct ontap_client *c, sd_event *ev, struct report *rep, const json_t *svm)
{
	static const struct {
		const char *name, *svm_flag;
		enum ontap_lif_service lif;
		int (*service)(struct ontap_client *, ontap_done_fn, void *);
	} protos[] = {
		{ "iscsi",    "iscsi.enabled", ONTAP_LIF_ISCSI,    ontap_iscsi_service_get },
		{ "nvme_tcp", "nvme.enabled",  ONTAP_LIF_NVME_TCP, ontap_nvme_service_get },
		{ "nfs",      "nfs.enabled",   ONTAP_LIF_NFS,      ontap_nfs_service_get },
		{ "smb",      "cifs.enabled",  ONTAP_LIF_CIFS,     ontap_cifs_service_get },
	};
	struct waiter w[2 * ARRAY_SIZE(protos)] = {};
	json_t *out = json_object();
	size_t usable = 0;
	char buf[512];

	json_object_set_new(rep->root, "protocols", out);
	for (size_t i = 0; i < ARRAY_SIZE(protos); i++) {
		started(&w[2 * i], protos[i].service(c, on_op_done, &w[2 * i]));
		started(&w[2 * i + 1], ontap_lifs_list(c, protos[i].lif, on_op_done, &w[2 * i + 1]));
	}
	(void) wait_all(ev, w, ARRAY_SIZE(w));
	for (size_t i = 0; i < ARRAY_SIZE(protos); i++) {
		json_t *p = json_object(), *lifs = json_array(), *rec;
		const json_t *recs;
		bool enabled = jbool(svm, protos[i].svm_flag, false);
		size_t k, up = 0;

		json_object_set_new(out, protos[i].name, p);
		if (w[2 * i].r >= 0) {
			enabled = enabled && jbool(w[2 * i].rec, "enabled", true);
			if (jstring(w[2 * i].rec, "target.name"))
				json_object_set_new(p, "target", json_string(jstring(w[2 * i].rec, "target.name")));
		} else if (w[2 * i].r != -ENOENT)
			json_object_set_new(p, "service_error", json_string(errtext(&w[2 * i], buf, sizeof buf)));
		else
			enabled = false;
		json_object_set_new(p, "enabled", json_boolean(enabled));
		recs = json_object_get(w[2 * i + 1].rec, "records");
		json_array_foreach(recs, k, rec) {
			const char *st = jstring(rec, "state");

			json_array_append_new(lifs, json_pack("{s:s?,s:s?,s:s?,s:s?}",
				"name", jstring(rec, "name"), "address", jstring(rec, "ip.address"),
				"state", st, "node", jstring(rec, "location.node.name")));
			if (st && strcmp(st, "up") == 0)
				up++;
		}
		json_object_set_new(p, "lifs", lifs);
		if (w[2 * i + 1].r < 0)
			json_object_set_new(p, "lif_error", json_string(errtext(&w[2 * i + 1], buf, sizeof buf)));
		if (enabled && up > 0)
			usable++;
		else if (enabled)
			problem(rep, "%s is enabled on SVM '%s' but has no data LIF that is up", protos[i].name,
				ontap_client_svm(c));
	}
	json_object_set_new(out, "fcp", json_pack("{s:b}", "enabled", jbool(svm, "fcp.enabled", false)));
	if (usable == 0)
		problem(rep, "no storage protocol (iSCSI, NVMe/TCP, NFS, SMB) is enabled with a data LIF up on SVM '%s'",
			ontap_client_svm(c));
	for (size_t i = 0; i < ARRAY_SIZE(w); i++)
		waiter_clear(&w[i]);
}

/* destination_only: the families kvmcd uses on a SnapMirror destination cluster alone. */
static void check_permissions(struct ontap_client *c, sd_event *ev, struct report *rep, bool destination_only)
{
	struct waiter w[2 * ARRAY_SIZE(probes)] = {};
	json_t *missing = json_array(), *checked = json_array();
	char buf[512];

	json_object_set_new(rep->root, "permissions", json_pack("{s:o,s:o}", "checked", checked, "missing", missing));
	for (size_t i = 0; i < ARRAY_SIZE(probes); i++) {
		if ((destination_only && !probes[i].destination) ||
		    (probes[i].min_minor && ontap_client_version(c) &&
		     !ontap_client_version_at_least(c, 9, probes[i].min_minor, 0))) {
			w[2 * i].done = w[2 * i + 1].done = true;
			w[2 * i].r = -EOPNOTSUPP;
			continue;
		}
		started(&w[2 * i], ontap_client_request(c, "GET", probes[i].path, NULL, 0, 0, on_req_done, &w[2 * i]));
		if (probes[i].write)
			started(&w[2 * i + 1], ontap_client_request(c, "DELETE", probes[i].write, NULL, 0, 0,
								    on_req_done, &w[2 * i + 1]));
		else
			w[2 * i + 1].done = true;
	}
	(void) wait_all(ev, w, ARRAY_SIZE(w));
	for (size_t i = 0; i < ARRAY_SIZE(probes); i++) {
		if (w[2 * i].r == -EOPNOTSUPP && !w[2 * i].http)
			continue;
		json_array_append_new(checked, json_string(probes[i].family));
		if (w[2 * i].r == -EACCES || w[2 * i].http == 403) {
			json_array_append_new(missing, json_pack("{s:s,s:s}", "family", probes[i].family, "access", "read"));
			problem(rep, "user may not read %s: %s", probes[i].family, errtext(&w[2 * i], buf, sizeof buf));
		} else if (w[2 * i].r < 0)
			problem(rep, "reading %s failed: %s", probes[i].family, errtext(&w[2 * i], buf, sizeof buf));
		if (probes[i].write && (w[2 * i + 1].r == -EACCES || w[2 * i + 1].http == 403)) {
			json_array_append_new(missing, json_pack("{s:s,s:s}", "family", probes[i].family, "access", "write"));
			problem(rep, "user may not modify %s: %s", probes[i].family, errtext(&w[2 * i + 1], buf, sizeof buf));
		}
	}
	for (size_t i = 0; i < ARRAY_SIZE(w); i++)
		waiter_clear(&w[i]);
}

static void print_human(FILE *out, const json_t *root)
{
	const json_t *v, *p;
	const char *key;
	size_t i;

	fprintf(out, "ONTAP cluster %s\n", jstring(root, "address") ?: "?");
	fprintf(out, "  reachable:    %s\n", jbool(root, "reachable", false) ? "yes" : "NO");
	fprintf(out, "  TLS:          %s\n", jstring(root, "tls.result") ?: "?");
	fprintf(out, "  credentials:  %s\n", jstring(root, "credentials.result") ?: "?");
	fprintf(out, "  ONTAP:        %s\n", jstring(root, "version.full") ?: "unknown");
	if (jstring(root, "peer_cluster"))
		fprintf(out, "  role:         SnapMirror destination cluster %s ([ontap_peer]; its SVMs come from the spec)\n",
			jstring(root, "peer_cluster"));
	else
		fprintf(out, "  SVM:          %s (%s)\n", jstring(root, "svm.name") ?: "?", jstring(root, "svm.state") ?: "unknown");
	json_object_foreach((json_t *) json_object_get(root, "protocols"), key, p) {
		const json_t *l;

		fprintf(out, "  %-13s %s", key, jbool(p, "enabled", false) ? "enabled" : "disabled");
		if (jstring(p, "target"))
			fprintf(out, ", target %s", jstring(p, "target"));
		fputc('\n', out);
		json_array_foreach(json_object_get(p, "lifs"), i, l)
			fprintf(out, "      LIF %s %s %s (%s)\n", jstring(l, "name") ?: "?", jstring(l, "address") ?: "?",
				jstring(l, "state") ?: "?", jstring(l, "node") ?: "?");
	}
	v = jget(root, "permissions.missing");
	if (json_array_size(v) == 0 && jget(root, "permissions.checked"))
		fprintf(out, "  permissions:  all %zu endpoint families readable%s\n",
			json_array_size(jget(root, "permissions.checked")), "");
	json_array_foreach(v, i, p)
		fprintf(out, "  permission missing: %s %s\n", jstring(p, "access"), jstring(p, "family"));
	json_array_foreach(json_object_get(root, "problems"), i, v)
		fprintf(out, "  PROBLEM: %s\n", json_string_value(v));
	fprintf(out, "%s\n", jbool(root, "ok", false) ? "OK: everything kvmcd needs is there" :
		"NOT OK: see the problems above");
}

int ontap_check_run(const struct ontap_options *opts, const char *peer_cluster, bool json, FILE *out)
{
	_cleanup_ontap_client_ struct ontap_client *c = NULL;
	sd_event *ev = NULL;
	struct report rep = { .ok = true };
	struct waiter w = {};
	char buf[1024];
	int r;

	rep.root = json_object();
	rep.problems = json_array();
	if (!rep.root || !rep.problems)
		return 1;
	json_object_set_new(rep.root, "address", json_string(opts && opts->address ? opts->address : ""));
	json_object_set_new(rep.root, "problems", rep.problems);
	if (peer_cluster)
		json_object_set_new(rep.root, "peer_cluster", json_string(peer_cluster));

	r = sd_event_new(&ev);
	if (r < 0) {
		problem(&rep, "cannot create event loop: %s", strerror(-r));
		goto print;
	}
	r = ontap_client_new(&c, ev, opts, NULL, &w.err);
	if (r < 0) {
		json_object_set_new(rep.root, "credentials", json_pack("{s:b,s:s}", "ok", 0, "result",
					ontap_error_format(&w.err, buf, sizeof buf)));
		problem(&rep, "%s", ontap_error_format(&w.err, buf, sizeof buf));
		goto print;
	}
	/* The check runs outside any cluster: its probes are its own "epoch". Only write probes
	 * on a UUID that cannot exist are sent. */
	ontap_client_set_epoch(c, 0, true);
	ontap_client_set_retry_policy(c, &(struct ontap_retry_policy) { 2, 200000, 1000000, 5000000 });

	started(&w, ontap_cluster_discover(c, on_op_done, &w));
	(void) wait_all(ev, &w, 1);
	{
		bool reachable = !(w.err.curl_code == CURLE_COULDNT_CONNECT || w.err.curl_code == CURLE_COULDNT_RESOLVE_HOST ||
				   w.err.curl_code == CURLE_OPERATION_TIMEDOUT);
		bool tls_ok = reachable && w.r != -EBADE && w.r != -EPROTO;
		bool cred_ok = tls_ok && w.http != 401;
		char tls[600];

		json_object_set_new(rep.root, "reachable", json_boolean(reachable));
		if (!reachable)
			problem(&rep, "cannot reach %s: %s", opts->address, errtext(&w, buf, sizeof buf));
		if (!opts->tls_verify)
			snprintf(tls, sizeof tls, "NOT verified (tls_verify=false)");
		else if (tls_ok)
			snprintf(tls, sizeof tls, "verified against %s", opts->ca_file ?: "the system CAs");
		else
			snprintf(tls, sizeof tls, "verification FAILED: %s", errtext(&w, buf, sizeof buf));
		json_object_set_new(rep.root, "tls", json_pack("{s:b,s:b,s:s}", "verify", opts->tls_verify,
							       "ok", reachable && tls_ok, "result", tls));
		if (reachable && !tls_ok)
			problem(&rep, "TLS: %s", tls);
		if (!opts->tls_verify)
			problem(&rep, "TLS verification is disabled (tls_verify=false)");
		json_object_set_new(rep.root, "credentials", json_pack("{s:b,s:s}", "ok", cred_ok,
			"result", !tls_ok ? "not tried" : cred_ok ? "accepted" : "REJECTED (HTTP 401)"));
		if (tls_ok && !cred_ok)
			problem(&rep, "ONTAP rejected the credentials from '%s'", opts->credentials_file ?: "(client certificate)");
		if (!reachable || !tls_ok || !cred_ok)
			goto print;
	}
	if (w.r < 0) {
		problem(&rep, "cannot read the ONTAP version: %s", errtext(&w, buf, sizeof buf));
	} else {
		const struct ontap_version *v = ontap_client_version(c);

		json_object_set_new(rep.root, "version", json_pack("{s:s,s:i,s:i,s:i}", "full", v->full,
					"generation", v->generation, "major", v->major, "minor", v->minor));
		if (!ontap_client_version_at_least(c, 9, 8, 0))
			problem(&rep, "ONTAP %d.%d.%d is older than 9.8, the oldest release kvmcd supports",
				v->generation, v->major, v->minor);
	}
	waiter_clear(&w);
	if (peer_cluster) {
		/* a destination cluster: kvmcd makes DP volumes and relationships there, in the SVMs
		 * the spec names */
		check_permissions(c, ev, &rep, true);
		goto print;
	}

	started(&w, ontap_svm_get(c, on_op_done, &w));
	(void) wait_all(ev, &w, 1);
	if (w.r < 0) {
		json_object_set_new(rep.root, "svm", json_pack("{s:s,s:b}", "name", ontap_client_svm(c), "exists", 0));
		problem(&rep, "SVM '%s': %s", ontap_client_svm(c), errtext(&w, buf, sizeof buf));
	} else {
		const char *state = jstring(w.rec, "state");

		json_object_set_new(rep.root, "svm", json_pack("{s:s,s:b,s:s?,s:s?}", "name", ontap_client_svm(c),
					"exists", 1, "state", state, "uuid", jstring(w.rec, "uuid")));
		if (!state || strcmp(state, "running") != 0)
			problem(&rep, "SVM '%s' is %s, not running", ontap_client_svm(c), state ?: "in an unknown state");
		check_protocols(c, ev, &rep, w.rec);
	}
	waiter_clear(&w);
	check_permissions(c, ev, &rep, false);

print:
	waiter_clear(&w);
	json_object_set_new(rep.root, "ok", json_boolean(rep.ok));
	if (json)
		json_dumpf(rep.root, out, JSON_INDENT(2) | JSON_PRESERVE_ORDER), fputc('\n', out);
	else
		print_human(out, rep.root);
	fflush(out);
	json_decref(rep.root);
	ontap_client_free(TAKE_PTR(c));
	sd_event_unref(ev);
	return rep.ok ? 0 : 1;
}
