/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The Prometheus text renderer (metrics.h). Every family is written whole, HELP and TYPE first,
 * its samples together: the format wants one family's lines contiguous. */
#include <errno.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "macros.h"
#include "metrics.h"

struct mw {
	FILE *f;
};

/* A label set: "key", value, ..., NULL. A NULL value is written as "". */
#define L(...) ((const char *const[]){ __VA_ARGS__, NULL })
#define NOLABELS ((const char *const[]){ NULL })

static void family(struct mw *w, const char *name, const char *type, const char *help)
{
	fprintf(w->f, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static void label_value(FILE *f, const char *v)
{
	for (; v && *v; v++) {
		if (*v == '\\')
			fputs("\\\\", f);
		else if (*v == '"')
			fputs("\\\"", f);
		else if (*v == '\n')
			fputs("\\n", f);
		else
			fputc(*v, f);
	}
}

static void value(FILE *f, double v)
{
	if (isnan(v))
		fputs("NaN", f);
	else if (isinf(v))
		fputs(v > 0 ? "+Inf" : "-Inf", f);
	else if (v == (double)(long long)v && fabs(v) < 1e15)
		fprintf(f, "%lld", (long long)v);
	else
		fprintf(f, "%.9g", v);
}

static void sample(struct mw *w, const char *name, const char *const *labels, double v)
{
	fputs(name, w->f);
	if (labels[0]) {
		fputc('{', w->f);
		for (size_t i = 0; labels[i]; i += 2) {
			fprintf(w->f, "%s%s=\"", i ? "," : "", labels[i]);
			label_value(w->f, labels[i + 1]);
			fputc('"', w->f);
		}
		fputc('}', w->f);
	}
	fputc(' ', w->f);
	value(w->f, v);
	fputc('\n', w->f);
}

static const json_t *get(const json_t *o, const char *k)
{
	return json_is_object(o) ? json_object_get(o, k) : NULL;
}

static const char *str(const json_t *o, const char *k)
{
	return json_string_value(get(o, k));
}

static bool has_num(const json_t *o, const char *k)
{
	return json_is_number(get(o, k));
}

static double num(const json_t *o, const char *k)
{
	return json_number_value(get(o, k));
}

static double flag(const json_t *o, const char *k)
{
	return json_is_true(get(o, k)) ? 1 : 0;
}

/* One gauge family with a single unlabelled sample, when the field is there. */
static void gauge1(struct mw *w, const char *name, const char *help, const json_t *o, const char *k, bool boolean)
{
	const json_t *v = get(o, k);

	if (!(boolean ? json_is_boolean(v) : json_is_number(v)))
		return;
	family(w, name, "gauge", help);
	sample(w, name, NOLABELS, boolean ? json_is_true(v) : json_number_value(v));
}

/* A histogram from {"le": [...], "counts": [...], "sum": s}, under one label pair (or none). */
static void histogram_samples(struct mw *w, const char *name, const char *lk, const char *lv, const json_t *h)
{
	const json_t *le = get(h, "le"), *counts = get(h, "counts");
	size_t n = json_array_size(le);
	char b_name[128], s_name[128], c_name[128], bound[32];
	double cum = 0;

	if (!json_is_array(le) || json_array_size(counts) != n + 1)
		return;
	snprintf(b_name, sizeof b_name, "%s_bucket", name);
	snprintf(s_name, sizeof s_name, "%s_sum", name);
	snprintf(c_name, sizeof c_name, "%s_count", name);
	for (size_t i = 0; i <= n; i++) {
		cum += json_number_value(json_array_get(counts, i));
		if (i < n)
			snprintf(bound, sizeof bound, "%g", json_number_value(json_array_get(le, i)));
		else
			snprintf(bound, sizeof bound, "+Inf");
		if (lk)
			sample(w, b_name, L(lk, lv, "le", bound), cum);
		else
			sample(w, b_name, L("le", bound), cum);
	}
	if (lk) {
		sample(w, s_name, L(lk, lv), num(h, "sum"));
		sample(w, c_name, L(lk, lv), cum);
	} else {
		sample(w, s_name, NOLABELS, num(h, "sum"));
		sample(w, c_name, NOLABELS, cum);
	}
}

/* ---- the families ------------------------------------------------------------------------- */

static void render_cluster(struct mw *w, const json_t *st)
{
	const json_t *daemon = get(st, "daemon"), *leader = get(st, "leader"), *sync = get(st, "sync"), *m;
	const char *k;
	size_t i;

	if (!json_is_object(st))
		return;
	family(w, "kvmcd_info", "gauge", "kvmcd's version, this node and the cluster's identity (always 1).");
	sample(w, "kvmcd_info", L("version", str(daemon, "version"), "node", str(get(st, "node"), "name"), "cluster_id",
				  str(st, "cluster_id")),
	       1);
	gauge1(w, "kvmcd_corosync_connected", "1 while this node's kvmcd is connected to corosync.", daemon, "connected", true);
	gauge1(w, "kvmcd_quorate", "1 while this node is in the quorate partition.", st, "quorate", true);
	gauge1(w, "kvmcd_votes", "Votes in this node's partition (votequorum; a quorum device's not counted).", st, "votes",
	       false);
	gauge1(w, "kvmcd_expected_votes", "Votes expected by votequorum.", st, "expected_votes", false);
	if (json_is_array(get(st, "members"))) {
		family(w, "kvmcd_members", "gauge", "Members of this node's view.");
		sample(w, "kvmcd_members", NOLABELS, (double)json_array_size(get(st, "members")));
		family(w, "kvmcd_member_synced", "gauge", "1 when the member's replicated state is synced, per member of this node's view.");
		json_array_foreach(get(st, "members"), i, m)
			sample(w, "kvmcd_member_synced", L("node", str(m, "name")), strcmp(str(m, "state") ?: "", "synced") == 0);
	}
	gauge1(w, "kvmcd_leader", "1 on the elected leader.", st, "is_leader", true);
	gauge1(w, "kvmcd_acting", "1 while this node acts as the leader (elected, synced, its predecessor's lease over).", st,
	       "acting", true);
	if (json_is_object(leader) && str(leader, "name")) {
		family(w, "kvmcd_leader_info", "gauge", "The leader this node follows (always 1).");
		sample(w, "kvmcd_leader_info", L("leader", str(leader, "name")), 1);
	}
	gauge1(w, "kvmcd_leader_epoch", "The leadership epoch (grows with every new leadership).", leader, "epoch", false);
	gauge1(w, "kvmcd_state_version", "Version of the replicated state this node holds.", st, "state_version", false);
	gauge1(w, "kvmcd_committed_version", "Highest version committed (ACKed by every member).", st, "committed_version",
	       false);
	gauge1(w, "kvmcd_records", "Records in the replicated state.", st, "records", false);
	gauge1(w, "kvmcd_sync_stalled", "1 while state sync is stalled.", sync, "stalled", true);
	gauge1(w, "kvmcd_sync_state_seconds", "Seconds this node has been in its sync state.", sync, "seconds_in_state",
	       false);
	if (json_is_object(get(st, "dropped_messages"))) {
		family(w, "kvmcd_dropped_messages_total", "counter", "CPG messages dropped, by reason.");
		json_object_foreach((json_t *)get(st, "dropped_messages"), k, m)
			sample(w, "kvmcd_dropped_messages_total", L("reason", k), json_number_value(m));
	}
	gauge1(w, "kvmcd_send_queue_messages", "CPG messages waiting to be sent.", daemon, "send_queue", false);
	gauge1(w, "kvmcd_persist_snapshot_bytes", "Size of the persisted state snapshot.", daemon, "snapshot_bytes", false);
	gauge1(w, "kvmcd_persist_journal_bytes", "Size of the persisted state journal.", daemon, "journal_bytes", false);
}

static void render_ontap(struct mw *w, const json_t *st, const json_t *counters)
{
	const json_t *o = get(st, "ontap"), *c = get(counters, "ontap"), *v;
	const char *k;

	if (json_is_object(o)) {
		gauge1(w, "kvmcd_ontap_client_loaded", "1 when the ONTAP client module is loaded ([ontap] configured).", o,
		       "client_loaded", true);
		if (str(o, "version")) {
			family(w, "kvmcd_ontap_info", "gauge", "The ONTAP cluster the leader talks to (always 1; on the leader).");
			sample(w, "kvmcd_ontap_info", L("version", str(o, "version"), "svm", str(o, "svm")), 1);
		}
	}
	if (!json_is_object(c))
		return;
	if (json_is_object(get(c, "requests"))) {
		family(w, "kvmcd_ontap_requests_total", "counter",
		       "ONTAP REST requests this node made, by method and HTTP status (0: no answer).");
		json_object_foreach((json_t *)get(c, "requests"), k, v) {
			char method[16] = "", *sp;
			snprintf(method, sizeof method, "%s", k);
			sp = strchr(method, ' ');
			if (sp)
				*sp = 0;
			sample(w, "kvmcd_ontap_requests_total", L("method", method, "code", strchr(k, ' ') ? strchr(k, ' ') + 1 : ""),
			       json_number_value(v));
		}
	}
	if (json_is_object(get(c, "errors"))) {
		family(w, "kvmcd_ontap_errors_total", "counter", "ONTAP error replies this node got, by ONTAP error code.");
		json_object_foreach((json_t *)get(c, "errors"), k, v)
			sample(w, "kvmcd_ontap_errors_total", L("code", k), json_number_value(v));
	}
	if (json_is_object(get(c, "duration"))) {
		family(w, "kvmcd_ontap_request_duration_seconds", "histogram",
		       "ONTAP REST request latency (send to answer, retries included), by method.");
		json_object_foreach((json_t *)get(c, "duration"), k, v)
			histogram_samples(w, "kvmcd_ontap_request_duration_seconds", "method", k, v);
	}
}

static void render_datastores(struct mw *w, const json_t *list)
{
	const json_t *ds, *nd;
	const char *node;
	size_t i;

	if (!json_is_array(list))
		return;
	family(w, "kvmcd_datastores", "gauge", "Datastores in the spec.");
	sample(w, "kvmcd_datastores", NOLABELS, (double)json_array_size(list));
	family(w, "kvmcd_datastore_ontap_ready", "gauge", "1 when the datastore's storage is ready on ONTAP for the nodes.");
	json_array_foreach(list, i, ds)
		sample(w, "kvmcd_datastore_ontap_ready", L("datastore", str(ds, "name"), "protocol", str(ds, "protocol")),
		       flag(get(ds, "ontap"), "ready"));
	family(w, "kvmcd_datastore_size_bytes", "gauge", "The datastore's size in the spec.");
	json_array_foreach(list, i, ds)
		if (has_num(ds, "size_bytes"))
			sample(w, "kvmcd_datastore_size_bytes", L("datastore", str(ds, "name")), num(ds, "size_bytes"));
	family(w, "kvmcd_datastore_node_ready", "gauge",
	       "1 when the node has the datastore attached, mounted and its libvirt pool active.");
	json_array_foreach(list, i, ds)
		json_object_foreach((json_t *)get(ds, "nodes"), node, nd)
			sample(w, "kvmcd_datastore_node_ready", L("datastore", str(ds, "name"), "node", node),
			       strcmp(str(nd, "step") ?: "", "ready") == 0);
	family(w, "kvmcd_datastore_node_step", "gauge", "The node's step for the datastore (1 for its current step).");
	json_array_foreach(list, i, ds)
		json_object_foreach((json_t *)get(ds, "nodes"), node, nd) {
			const char *step = str(nd, "step") ?: "unknown";
			sample(w, "kvmcd_datastore_node_step", L("datastore", str(ds, "name"), "node", node, "step", step), 1);
		}
	family(w, "kvmcd_datastore_node_error", "gauge", "1 when the node reports an error for the datastore.");
	json_array_foreach(list, i, ds)
		json_object_foreach((json_t *)get(ds, "nodes"), node, nd)
			sample(w, "kvmcd_datastore_node_error", L("datastore", str(ds, "name"), "node", node),
			       json_is_string(get(nd, "error")));
}

static void render_vms(struct mw *w, const json_t *vms, const json_t *nodes, const json_t *counters)
{
	const json_t *vm, *n;
	size_t i;

	if (json_is_array(vms)) {
		family(w, "kvmcd_vms", "gauge", "VMs in the spec.");
		sample(w, "kvmcd_vms", NOLABELS, (double)json_array_size(vms));
		family(w, "kvmcd_vm_info", "gauge", "Each VM's state and the node it is placed on (always 1).");
		json_array_foreach(vms, i, vm)
			sample(w, "kvmcd_vm_info", L("vm", str(vm, "name"), "state", str(vm, "state"), "node", str(vm, "node")), 1);
		family(w, "kvmcd_vm_running", "gauge", "1 when the VM runs (on its owner).");
		json_array_foreach(vms, i, vm)
			sample(w, "kvmcd_vm_running", L("vm", str(vm, "name")), strcmp(str(vm, "state") ?: "", "running") == 0);
	}
	if (has_num(counters, "vm_recoveries")) {
		family(w, "kvmcd_vm_recoveries_total", "counter",
		       "VMs given a new owner because their node failed (HA restarts), seen since this kvmcd started.");
		sample(w, "kvmcd_vm_recoveries_total", NOLABELS, num(counters, "vm_recoveries"));
	}
	if (!json_is_array(nodes))
		return;
	family(w, "kvmcd_node_member", "gauge", "1 when the node is a member of the cluster's view.");
	json_array_foreach(nodes, i, n)
		sample(w, "kvmcd_node_member", L("node", str(n, "name")), flag(n, "member"));
	family(w, "kvmcd_node_drained", "gauge", "1 when the node is drained (takes no VMs).");
	json_array_foreach(nodes, i, n)
		sample(w, "kvmcd_node_drained", L("node", str(n, "name")), flag(n, "drained"));
	family(w, "kvmcd_node_maintenance", "gauge", "1 when the node is in maintenance (drained and empty).");
	json_array_foreach(nodes, i, n)
		sample(w, "kvmcd_node_maintenance", L("node", str(n, "name")), flag(n, "maintenance"));
	family(w, "kvmcd_node_vms_running", "gauge", "VMs running on the node.");
	json_array_foreach(nodes, i, n)
		sample(w, "kvmcd_node_vms_running", L("node", str(n, "name")), (double)json_array_size(get(n, "running")));
	family(w, "kvmcd_node_memory_capacity_bytes", "gauge", "Memory the node offers VMs.");
	json_array_foreach(nodes, i, n)
		sample(w, "kvmcd_node_memory_capacity_bytes", L("node", str(n, "name")),
		       num(get(n, "capacity"), "memory_mib") * 1048576.0);
	family(w, "kvmcd_node_memory_used_bytes", "gauge", "Memory of the VMs placed on the node.");
	json_array_foreach(nodes, i, n)
		sample(w, "kvmcd_node_memory_used_bytes", L("node", str(n, "name")), num(get(n, "used"), "memory_mib") * 1048576.0);
	family(w, "kvmcd_node_vcpus_capacity", "gauge", "vCPUs the node offers VMs.");
	json_array_foreach(nodes, i, n)
		sample(w, "kvmcd_node_vcpus_capacity", L("node", str(n, "name")), num(get(n, "capacity"), "vcpus"));
	family(w, "kvmcd_node_vcpus_used", "gauge", "vCPUs of the VMs placed on the node.");
	json_array_foreach(nodes, i, n)
		sample(w, "kvmcd_node_vcpus_used", L("node", str(n, "name")), num(get(n, "used"), "vcpus"));
}

static void render_fences(struct mw *w, const json_t *fh, const json_t *counters)
{
	const json_t *f, *c = get(counters, "fences"), *v;
	const char *k;
	size_t i;

	if (json_is_object(fh)) {
		gauge1(w, "kvmcd_ha_armed", "1 while HA (fencing and recovery) is armed.", fh, "armed", true);
		if (json_is_array(get(fh, "fences"))) {
			family(w, "kvmcd_fence_active", "gauge", "Fences in force, by node and state (always 1).");
			json_array_foreach(get(fh, "fences"), i, f)
				sample(w, "kvmcd_fence_active", L("node", str(f, "node"), "status", str(f, "status")), 1);
		}
	}
	if (json_is_object(c)) {
		family(w, "kvmcd_fences_total", "counter",
		       "Fences that ended, by method and result (confirmed; failed; cancelled: the node came back first), seen since this kvmcd started.");
		json_object_foreach((json_t *)c, k, v) {
			sample(w, "kvmcd_fences_total", L("method", k, "result", "confirmed"), num(v, "confirmed"));
			sample(w, "kvmcd_fences_total", L("method", k, "result", "failed"), num(v, "failed"));
			sample(w, "kvmcd_fences_total", L("method", k, "result", "cancelled"), num(v, "cancelled"));
		}
	}
	if (json_is_object(get(counters, "fence_duration"))) {
		family(w, "kvmcd_fence_duration_seconds", "histogram",
		       "From a fence's start to its confirmation (as committed to the replicated state).");
		histogram_samples(w, "kvmcd_fence_duration_seconds", NULL, NULL, get(counters, "fence_duration"));
	}
}

/* "2026-11-27T09:00Z" (the protection status' slot format) -> seconds; -1 when not that. */
static double slot_seconds(const char *s)
{
	struct tm tm = {};
	char *end;

	if (!s)
		return -1;
	end = strptime(s, "%Y-%m-%dT%H:%MZ", &tm);
	if (!end || *end)
		return -1;
	return (double)timegm(&tm);
}

static void render_protection(struct mw *w, const json_t *ps, double now)
{
	const json_t *pol, *sm = NULL;
	size_t i;
	bool any_sm = false;

	if (!json_is_array(get(ps, "policies")))
		return;
	family(w, "kvmcd_protection_healthy", "gauge", "1 when the protection policy's last run and retention went well.");
	json_array_foreach(get(ps, "policies"), i, pol)
		sample(w, "kvmcd_protection_healthy", L("policy", str(pol, "name")), strcmp(str(pol, "health") ?: "", "ok") == 0);
	family(w, "kvmcd_snapshot_last_slot_timestamp_seconds", "gauge",
	       "The scheduled slot of the policy's last snapshot (Unix time).");
	json_array_foreach(get(ps, "policies"), i, pol)
		if (slot_seconds(str(pol, "last_snapshot")) >= 0)
			sample(w, "kvmcd_snapshot_last_slot_timestamp_seconds", L("policy", str(pol, "name")),
			       slot_seconds(str(pol, "last_snapshot")));
	if (now > 0) {
		family(w, "kvmcd_snapshot_age_seconds", "gauge", "Seconds since the slot of the policy's last snapshot.");
		json_array_foreach(get(ps, "policies"), i, pol)
			if (slot_seconds(str(pol, "last_snapshot")) >= 0)
				sample(w, "kvmcd_snapshot_age_seconds", L("policy", str(pol, "name")),
				       now - slot_seconds(str(pol, "last_snapshot")));
	}
	family(w, "kvmcd_snapshot_next_due_timestamp_seconds", "gauge", "When the policy's next snapshot is due (Unix time).");
	json_array_foreach(get(ps, "policies"), i, pol)
		if (slot_seconds(str(pol, "next_due")) >= 0)
			sample(w, "kvmcd_snapshot_next_due_timestamp_seconds", L("policy", str(pol, "name")),
			       slot_seconds(str(pol, "next_due")));
	json_array_foreach(get(ps, "policies"), i, pol)
		any_sm |= json_is_object(get(pol, "snapmirror")) && has_num(get(pol, "snapmirror"), "lag_seconds");
	if (!any_sm)
		return;
	family(w, "kvmcd_snapmirror_lag_seconds", "gauge", "SnapMirror lag of the policy's relationships (the largest).");
	json_array_foreach(get(ps, "policies"), i, pol)
		if (has_num((sm = get(pol, "snapmirror")), "lag_seconds"))
			sample(w, "kvmcd_snapmirror_lag_seconds", L("policy", str(pol, "name")), num(sm, "lag_seconds"));
	family(w, "kvmcd_snapmirror_rpo_seconds", "gauge", "The policy's SnapMirror RPO.");
	json_array_foreach(get(ps, "policies"), i, pol)
		if (has_num((sm = get(pol, "snapmirror")), "rpo_seconds"))
			sample(w, "kvmcd_snapmirror_rpo_seconds", L("policy", str(pol, "name")), num(sm, "rpo_seconds"));
}

int metrics_render(const json_t *in, char **text)
{
	_cleanup_free_ char *buf = NULL;
	size_t size = 0;
	struct mw w;
	const json_t *counters = get(in, "counters");

	if (!json_is_object(in) || !text)
		return -EINVAL;
	w.f = open_memstream(&buf, &size);
	if (!w.f)
		return -ENOMEM;
	render_cluster(&w, get(in, "status"));
	render_ontap(&w, get(in, "status"), counters);
	render_datastores(&w, get(in, "datastores"));
	render_vms(&w, get(in, "vms"), get(in, "nodes"), counters);
	render_fences(&w, get(in, "fences"), counters);
	render_protection(&w, get(in, "protection"), num(in, "now"));
	if (has_num(counters, "scrapes")) {
		family(&w, "kvmcd_metrics_scrapes_total", "counter", "Metrics requests this kvmcd answered.");
		sample(&w, "kvmcd_metrics_scrapes_total", NOLABELS, num(counters, "scrapes"));
	}
	if (fclose(w.f) != 0)
		return -ENOMEM;
	*text = TAKE_PTR(buf);
	return 0;
}
