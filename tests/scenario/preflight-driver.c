/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Scenario driver for preflight (coord/decide/preflight.c, the same code every node's kvmcd runs
 * for `kvmcctl preflight`): nodes with their published inventories (as resources/host/inventory.c
 * writes them), the spec's datastores, the protocols asked for, and the leader's record of the
 * SVM. Built with runner.c into preflight-sim; runner.h describes the runner and the command
 * line (there is no random mode: tests/fuzz/fuzz-preflight.c throws garbage at it instead).
 *
 * The trace (golden: FILE.expect):
 *   == STATEMENT                                   a scenario statement, as written
 *   preflight pass {"node":N,"checks":[...]}       the checks that passed, one line per node
 *                                                  (node null: ONTAP's)
 *   preflight fail {finding}                       every finding that failed, as the report has it
 *   preflight unknown {finding}                    every finding that could not be checked
 *   preflight summary {"ok","passed","failed","unknown","protocols","file_systems"}
 *   FAIL TEXT                                      a check failed (never in a golden)
 *
 * Invariants, checked on every report: "ok" is true exactly when no finding failed and the
 * counts add up (per node too); every finding has a check, "ok" true / false / null, a "found"
 * text and a non-empty "needed_for"; a finding that did not pass says what to do ("fix"), one
 * that passed says nothing; a node's check appears once; "package" is the node's family's entry
 * of "packages"; a node of the report is one of the input's, in the same order; ONTAP findings
 * (node null) come last.
 *
 * Scenario language (one statement per line, '#' comments, times in ms):
 *   at T node NAME [gone|silent] [INVENTORY-JSON]  adds or replaces a node: its inventory is the
 *                                  complete Debian host below, or the JSON given (replacing it
 *                                  whole); gone = not a member, no inventory; silent = a member
 *                                  that has not published one
 *   at T set NAME KEY JSON          sets one key of the node's inventory ("iscsi_iqn", "os", ...)
 *   at T vm-lock NAME JSON|none     what the node's VM service reports of its VM lock (the
 *                                   section's "vm_lock"); none: nothing (the default)
 *   at T tool NAME TOOL present|missing|unreported
 *   at T module NAME MODULE loaded|builtin|available|missing|unreported
 *   at T remove-node NAME
 *   at T datastore JSON             adds or replaces a spec entry: name, protocol, fs (block: ocfs2
 *                                   by default)
 *   at T remove-datastore NAME
 *   at T want protocol|fs NAME      checked whatever the spec says (kvmcctl preflight --protocol)
 *   at T svm JSON|none              the leader's "ontap/svm" record
 *   at T preflight                  computes the report and traces it
 *   at T expect ok | expect not-ok
 *   at T expect finding NODE|- CHECK pass|fail|unknown|absent
 *   at T expect fix NODE|- CHECK TEXT      the finding's fix contains TEXT
 *   at T expect package NODE CHECK NAME|-  the finding's "package"
 *
 * The complete host (every node starts as one): Debian 12, backend real, every tool present,
 * every module loaded, iscsi_iqn iqn.2024-01.test:NAME, nvme_nqn
 * nqn.2014-08.org.nvmexpress:uuid:NAME, one FC port 0x2000000000000<n> (n = the node's
 * position, from 1), libvirtd answering.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "datastore.h"
#include "preflight.h"
#include "runner.h"

#define MAX_NODES 16
#define MAX_DS 32

static const char *const tools[] = {
	"iscsiadm", "multipath", "multipathd", "nvme", "blkid", "mkfs.ocfs2", "tunefs.ocfs2", "mkfs.gfs2",
	"gfs2_jadd", "mount.nfs", "mount.cifs", "dlm_controld", "virsh",
};
static const char *const modules[] = {
	"iscsi_tcp", "nvme_tcp", "dm_multipath", "ocfs2", "ocfs2_stack_user", "gfs2", "dlm", "nfs", "cifs",
};

struct pnode {
	char *name;
	json_t *inv;                 /* owned; NULL: none */
	json_t *vm_lock;             /* owned; NULL: none */
	bool member;
};

struct pds {
	char *name;
	enum ds_protocol protocol;
	enum ds_fs fs;
};

struct sim {
	struct scn *r;
	struct pnode nodes[MAX_NODES];
	size_t n_nodes;
	struct pds ds[MAX_DS];
	size_t n_ds;
	bool want_proto[_DS_PROTO_MAX];
	bool want_fs[_DS_FS_MAX];
	json_t *svm;                 /* owned; NULL: none */
	json_t *last;                /* owned: the last report */
};

#define BAD(...) do { scn_fail(r, __VA_ARGS__); return -EINVAL; } while (0)

static char *xstrdup(const char *s)
{
	char *p = strdup(s);

	if (!p)
		abort();
	return p;
}

static struct pnode *node_find(struct sim *s, const char *name)
{
	for (size_t i = 0; i < s->n_nodes; i++)
		if (strcmp(s->nodes[i].name, name) == 0)
			return &s->nodes[i];
	return NULL;
}

static json_t *complete_host(const char *name, size_t pos)
{
	json_t *t = json_object(), *m = json_object(), *inv;
	char iqn[128], nqn[160], wwpn[32];

	for (size_t i = 0; i < ARRAY_SIZE(tools); i++)
		json_object_set_new(t, tools[i], json_true());
	for (size_t i = 0; i < ARRAY_SIZE(modules); i++)
		json_object_set_new(m, modules[i], json_string("loaded"));
	snprintf(iqn, sizeof(iqn), "iqn.2024-01.test:%s", name);
	snprintf(nqn, sizeof(nqn), "nqn.2014-08.org.nvmexpress:uuid:%s", name);
	snprintf(wwpn, sizeof(wwpn), "0x2000000000000%03zx", pos);
	inv = json_pack("{sisssssss[s]sssss[s]sns{ssssssss}sosos{sssbss}s[]}", "schema", 1, "backend", "real", "hostname",
			name, "kernel", "6.1.0-13-amd64", "addresses", "10.0.0.1", "iscsi_iqn", iqn, "nvme_nqn", nqn,
			"fc_wwpns", wwpn, "nvme_hostid", "os", "id", "debian", "version_id", "12", "pretty_name",
			"Debian GNU/Linux 12 (bookworm)", "id_like", "", "tools", t, "modules", m, "libvirtd", "uri",
			"qemu:///system", "answers", 1, "version", "9.0.0", "problems");
	if (!inv)
		abort();
	json_object_set_new(json_object_get(inv, "os"), "id_like", json_null());
	return inv;
}

/* ---- statements ----------------------------------------------------------------------------- */

static int st_node(void *d, struct scn *r, const char *verb, const char *args)
{
	struct sim *s = d;
	char name[64], word[16];
	const char *rest = scn_word(args, name, sizeof(name)), *after;
	struct pnode *n;
	json_t *inv = NULL;
	bool member = true, none = false;

	if (!*name)
		BAD("node: which node?");
	after = scn_word(rest, word, sizeof(word));
	if (!strcmp(word, "gone") || !strcmp(word, "silent")) {
		member = !strcmp(word, "silent");
		none = true;
		rest = after;
	}
	if (*rest) {
		json_error_t e;
		inv = json_loads(rest, JSON_DECODE_ANY, &e);
		if (!inv)
			BAD("node %s: inventory: %s", name, e.text);
	}
	n = node_find(s, name);
	if (!n) {
		if (s->n_nodes == MAX_NODES) {
			json_decref(inv);
			BAD("node: at most %d nodes", MAX_NODES);
		}
		n = &s->nodes[s->n_nodes++];
		n->name = xstrdup(name);
	}
	json_decref(n->inv);
	n->inv = none ? NULL : inv ? inv : complete_host(name, (size_t)(n - s->nodes) + 1);
	if (none)
		json_decref(inv);
	n->member = member;
	return 0;
}

static int st_remove_node(void *d, struct scn *r, const char *verb, const char *args)
{
	struct sim *s = d;
	struct pnode *n = node_find(s, args);

	if (!n)
		BAD("remove-node: no node '%s'", args);
	free(n->name);
	json_decref(n->inv);
	json_decref(n->vm_lock);
	memmove(n, n + 1, (size_t)(s->nodes + s->n_nodes - n - 1) * sizeof(*n));
	s->n_nodes--;
	return 0;
}

/* The node's inventory, made an object when it has none (or is not one). */
static json_t *inv_of(struct sim *s, struct scn *r, const char *name)
{
	struct pnode *n = node_find(s, name);

	if (!n) {
		scn_fail(r, "no node '%s'", name);
		return NULL;
	}
	if (!json_is_object(n->inv)) {
		json_decref(n->inv);
		n->inv = json_object();
	}
	return n->inv;
}

static int st_set(void *d, struct scn *r, const char *verb, const char *args)
{
	char name[64], key[64];
	const char *rest = scn_word(scn_word(args, name, sizeof(name)), key, sizeof(key));
	json_t *inv = inv_of(d, r, name), *v;
	json_error_t e;

	if (!inv)
		return -EINVAL;
	v = json_loads(rest, JSON_DECODE_ANY, &e);
	if (!v)
		BAD("set %s %s: %s", name, key, e.text);
	json_object_set_new(inv, key, v);
	return 0;
}

static int st_vm_lock(void *d, struct scn *r, const char *verb, const char *args)
{
	struct sim *s = d;
	char name[64];
	const char *rest = scn_word(args, name, sizeof(name));
	struct pnode *n = node_find(s, name);
	json_t *v = NULL;
	json_error_t e;

	if (!n)
		BAD("vm-lock: no node '%s'", name);
	if (strcmp(rest, "none") && !(v = json_loads(rest, JSON_DECODE_ANY, &e)))
		BAD("vm-lock %s: %s", name, e.text);
	json_decref(n->vm_lock);
	n->vm_lock = v;
	return 0;
}

static int st_tool_module(void *d, struct scn *r, const char *verb, const char *args)
{
	bool module = !strcmp(verb, "module");
	char name[64], what[64], state[32];
	const char *rest = scn_word(scn_word(scn_word(args, name, sizeof(name)), what, sizeof(what)), state, sizeof(state));
	json_t *inv = inv_of(d, r, name), *set;

	if (!inv)
		return -EINVAL;
	if (*rest || !*state)
		BAD("%s: NODE NAME STATE", verb);
	set = json_object_get(inv, module ? "modules" : "tools");
	if (!json_is_object(set)) {
		set = json_object();
		json_object_set_new(inv, module ? "modules" : "tools", set);
	}
	if (!strcmp(state, "unreported"))
		json_object_del(set, what);
	else if (!module && (!strcmp(state, "present") || !strcmp(state, "missing")))
		json_object_set_new(set, what, json_boolean(!strcmp(state, "present")));
	else if (module && (!strcmp(state, "loaded") || !strcmp(state, "builtin") || !strcmp(state, "available") ||
			    !strcmp(state, "missing")))
		json_object_set_new(set, what, json_string(state));
	else
		BAD("%s: unknown state '%s'", verb, state);
	return 0;
}

static int proto_of(const char *s, enum ds_protocol *p)
{
	for (int i = 0; i < _DS_PROTO_MAX; i++)
		if (!strcmp(ds_protocol_name(i), s)) {
			*p = i;
			return 0;
		}
	return -EINVAL;
}

static int fs_of(const char *s, enum ds_fs *f)
{
	for (int i = DS_FS_OCFS2; i < _DS_FS_MAX; i++)
		if (!strcmp(ds_fs_name(i), s)) {
			*f = i;
			return 0;
		}
	return -EINVAL;
}

static int st_datastore(void *d, struct scn *r, const char *verb, const char *args)
{
	struct sim *s = d;
	json_error_t e;
	json_auto_t *j = json_loads(args, 0, &e);
	const char *name = json_string_value(json_object_get(j, "name"));
	const char *proto = json_string_value(json_object_get(j, "protocol"));
	const char *fs = json_string_value(json_object_get(j, "fs"));
	struct pds n = { 0 };
	size_t i;

	if (!name || !proto || proto_of(proto, &n.protocol) < 0)
		BAD("datastore: need {\"name\",\"protocol\"[,\"fs\"]}: %s", j ? "a field is missing or wrong" : e.text);
	n.fs = ds_is_block(n.protocol) ? DS_FS_OCFS2 : DS_FS_NONE;
	if (fs && fs_of(fs, &n.fs) < 0)
		BAD("datastore: unknown fs '%s'", fs);
	for (i = 0; i < s->n_ds && strcmp(s->ds[i].name, name); i++)
		;
	if (i == MAX_DS)
		BAD("datastore: at most %d", MAX_DS);
	if (i == s->n_ds)
		s->ds[s->n_ds++].name = xstrdup(name);
	s->ds[i].protocol = n.protocol;
	s->ds[i].fs = n.fs;
	return 0;
}

static int st_remove_datastore(void *d, struct scn *r, const char *verb, const char *args)
{
	struct sim *s = d;

	for (size_t i = 0; i < s->n_ds; i++)
		if (!strcmp(s->ds[i].name, args)) {
			free(s->ds[i].name);
			memmove(&s->ds[i], &s->ds[i + 1], (s->n_ds - i - 1) * sizeof(s->ds[0]));
			s->n_ds--;
			return 0;
		}
	BAD("remove-datastore: no datastore '%s'", args);
}

static int st_want(void *d, struct scn *r, const char *verb, const char *args)
{
	struct sim *s = d;
	char kind[16], name[32];
	const char *rest = scn_word(scn_word(args, kind, sizeof(kind)), name, sizeof(name));
	enum ds_protocol p;
	enum ds_fs f;

	if (*rest)
		BAD("want: protocol|fs NAME");
	if (!strcmp(kind, "protocol") && proto_of(name, &p) == 0)
		s->want_proto[p] = true;
	else if (!strcmp(kind, "fs") && fs_of(name, &f) == 0)
		s->want_fs[f] = true;
	else
		BAD("want: protocol|fs NAME ('%s %s'?)", kind, name);
	return 0;
}

static int st_svm(void *d, struct scn *r, const char *verb, const char *args)
{
	struct sim *s = d;
	json_error_t e;

	json_decref(s->svm);
	s->svm = NULL;
	if (!strcmp(args, "none"))
		return 0;
	s->svm = json_loads(args, JSON_DECODE_ANY, &e);
	if (!s->svm)
		BAD("svm: %s", e.text);
	return 0;
}

/* ---- running it ------------------------------------------------------------------------------- */

static void check_report(struct sim *s, struct scn *r, const json_t *rep)
{
	const json_t *f, *n;
	size_t i, k, failed = 0, passed = 0, unknown = 0;
	bool ontap_seen = false;

	json_array_foreach(json_object_get(rep, "findings"), i, f) {
		const json_t *ok = json_object_get(f, "ok"), *node = json_object_get(f, "node");
		const char *check = json_string_value(json_object_get(f, "check"));
		const char *fix = json_string_value(json_object_get(f, "fix"));
		const json_t *pkgs = json_object_get(f, "packages"), *pkg = json_object_get(f, "package");
		const json_t *g;
		size_t j;

		if (!check || !*check)
			scn_fail(r, "finding %zu has no check", i);
		if (!json_is_boolean(ok) && !json_is_null(ok))
			scn_fail(r, "finding %zu: ok is neither a bool nor null", i);
		if (!json_string_value(json_object_get(f, "found")) || !*json_string_value(json_object_get(f, "found")))
			scn_fail(r, "finding %zu (%s) has no \"found\"", i, check ? check : "?");
		if (!json_array_size(json_object_get(f, "needed_for")))
			scn_fail(r, "finding %zu (%s) is needed for nothing", i, check ? check : "?");
		if (json_is_true(ok) ? !json_is_null(json_object_get(f, "fix")) : !(fix && *fix))
			scn_fail(r, "finding %zu (%s): a fix %s", i, check ? check : "?",
				 json_is_true(ok) ? "on a pass" : "is missing");
		if (!json_is_null(pkg)) {
			bool match = false;
			const char *k2;
			json_t *v;
			json_object_foreach((json_t *)pkgs, k2, v)
				match |= json_equal(v, pkg);
			if (!match)
				scn_fail(r, "finding %zu (%s): package is not one of packages", i, check ? check : "?");
		}
		if (json_is_null(node))
			ontap_seen = true;
		else if (ontap_seen)
			scn_fail(r, "finding %zu (%s): a node's finding after ONTAP's", i, check ? check : "?");
		if (!json_is_null(node) && !node_find(s, json_string_value(node) ?: ""))
			scn_fail(r, "finding %zu (%s): unknown node", i, check ? check : "?");
		json_array_foreach(json_object_get(rep, "findings"), j, g)
			if (j < i && json_equal(json_object_get(g, "node"), node) &&
			    json_equal(json_object_get(g, "check"), json_object_get(f, "check")))
				scn_fail(r, "finding %zu (%s) appears twice for one node", i, check ? check : "?");
		if (json_is_true(ok))
			passed++;
		else if (json_is_false(ok))
			failed++;
		else
			unknown++;
	}
	if (json_is_true(json_object_get(rep, "ok")) != (failed == 0) ||
	    json_integer_value(json_object_get(rep, "failed")) != (json_int_t)failed ||
	    json_integer_value(json_object_get(rep, "passed")) != (json_int_t)passed ||
	    json_integer_value(json_object_get(rep, "unknown")) != (json_int_t)unknown)
		scn_fail(r, "the report's ok / counts do not match its findings");
	if (json_array_size(json_object_get(rep, "nodes")) != s->n_nodes)
		scn_fail(r, "the report has %zu nodes, the input %zu", json_array_size(json_object_get(rep, "nodes")), s->n_nodes);
	json_array_foreach(json_object_get(rep, "nodes"), k, n) {
		json_int_t cnt[3] = { 0 };
		const char *name = json_string_value(json_object_get(n, "name"));
		json_array_foreach(json_object_get(rep, "findings"), i, f)
			if (name && json_string_value(json_object_get(f, "node")) &&
			    !strcmp(json_string_value(json_object_get(f, "node")), name))
				cnt[json_is_true(json_object_get(f, "ok")) ? 0 : json_is_false(json_object_get(f, "ok")) ? 1 : 2]++;
		if (k >= s->n_nodes || !name || strcmp(name, s->nodes[k].name))
			scn_fail(r, "report node %zu is not the input's", k);
		if (json_integer_value(json_object_get(n, "passed")) != cnt[0] ||
		    json_integer_value(json_object_get(n, "failed")) != cnt[1] ||
		    json_integer_value(json_object_get(n, "unknown")) != cnt[2])
			scn_fail(r, "node %s: its counts do not match its findings", name ? name : "?");
	}
}

static int st_preflight(void *d, struct scn *r, const char *verb, const char *args)
{
	struct sim *s = d;
	struct preflight_node nodes[MAX_NODES];
	struct ds_spec ds[MAX_DS];
	struct preflight_input in = { .datastores = ds, .n_datastores = s->n_ds, .nodes = nodes, .n_nodes = s->n_nodes,
				      .protocols = s->want_proto, .file_systems = s->want_fs, .svm = s->svm };
	json_t *rep = NULL, *f, *pass = NULL;
	const char *cur = NULL;
	bool cur_set = false;
	size_t i;
	int rc;

	for (i = 0; i < s->n_nodes; i++)
		nodes[i] = (struct preflight_node){ .name = s->nodes[i].name, .inventory = s->nodes[i].inv,
						    .member = s->nodes[i].member, .vm_lock = s->nodes[i].vm_lock };
	for (i = 0; i < s->n_ds; i++)
		ds[i] = (struct ds_spec){ .name = s->ds[i].name, .protocol = s->ds[i].protocol, .fs = s->ds[i].fs };
	rc = preflight_check(&in, &rep);
	if (rc < 0)
		BAD("preflight_check: %s", scn_errno_name(rc));
	json_decref(s->last);
	s->last = rep;
	check_report(s, r, rep);
	/* passes grouped per node, in the report's order */
	json_array_foreach(json_object_get(rep, "findings"), i, f) {
		const char *node = json_string_value(json_object_get(f, "node"));
		if (!cur_set || (node != cur && (!node || !cur || strcmp(node, cur)))) {
			if (pass && json_array_size(json_object_get(pass, "checks")))
				scn_trace_json(r, "preflight", "pass", pass);
			else
				json_decref(pass);
			pass = json_pack("{s:s?,s:[]}", "node", node, "checks");
			cur = node;
			cur_set = true;
		}
		if (json_is_true(json_object_get(f, "ok")))
			json_array_append(json_object_get(pass, "checks"), json_object_get(f, "check"));
		else
			scn_trace_json(r, "preflight", json_is_false(json_object_get(f, "ok")) ? "fail" : "unknown",
				       json_incref(f));
	}
	if (pass && json_array_size(json_object_get(pass, "checks")))
		scn_trace_json(r, "preflight", "pass", pass);
	else
		json_decref(pass);
	scn_trace_json(r, "preflight", "summary",
		       json_pack("{s:O,s:O,s:O,s:O,s:O,s:O}", "ok", json_object_get(rep, "ok"), "passed",
				 json_object_get(rep, "passed"), "failed", json_object_get(rep, "failed"), "unknown",
				 json_object_get(rep, "unknown"), "protocols", json_object_get(rep, "protocols"),
				 "file_systems", json_object_get(rep, "file_systems")));
	return 0;
}

/* ---- expectations ----------------------------------------------------------------------------- */

static const json_t *finding(struct sim *s, const char *node, const char *check)
{
	const json_t *f;
	size_t i;

	json_array_foreach(json_object_get(s->last, "findings"), i, f) {
		const char *n = json_string_value(json_object_get(f, "node"));
		if ((strcmp(node, "-") ? n && !strcmp(n, node) : !n) &&
		    !strcmp(json_string_value(json_object_get(f, "check")) ?: "", check))
			return f;
	}
	return NULL;
}

static int ex_ok(void *d, struct scn *r, const char *verb, const char *args)
{
	struct sim *s = d;
	bool want = !strcmp(verb, "ok");

	if (!s->last)
		BAD("expect %s: no preflight ran", verb);
	if (json_is_true(json_object_get(s->last, "ok")) != want)
		scn_fail(r, "expected the report to be %s", want ? "ok" : "not ok");
	return 0;
}

static int ex_finding(void *d, struct scn *r, const char *verb, const char *args)
{
	struct sim *s = d;
	char node[64], check[96], what[128];
	const char *rest = scn_word(scn_word(args, node, sizeof(node)), check, sizeof(check));
	const json_t *f;

	if (strcmp(verb, "fix"))
		rest = scn_word(rest, what, sizeof(what));
	else
		snprintf(what, sizeof(what), "%s", rest);
	if (!s->last)
		BAD("expect %s: no preflight ran", verb);
	f = finding(s, node, check);
	if (!strcmp(verb, "finding")) {
		const json_t *ok = json_object_get(f, "ok");
		const char *got = !f ? "absent" : json_is_true(ok) ? "pass" : json_is_false(ok) ? "fail" : "unknown";
		if (strcmp(got, what))
			scn_fail(r, "%s %s: expected %s, got %s", node, check, what, got);
	} else if (!strcmp(verb, "fix")) {
		const char *fix = json_string_value(json_object_get(f, "fix"));
		if (!fix || !strstr(fix, what))
			scn_fail(r, "%s %s: the fix \"%s\" does not say \"%s\"", node, check, fix ? fix : "(none)", what);
	} else {
		const char *pkg = json_string_value(json_object_get(f, "package"));
		if (strcmp(pkg ? pkg : "-", what))
			scn_fail(r, "%s %s: package %s, expected %s", node, check, pkg ? pkg : "-", what);
	}
	return 0;
}

/* ---- the driver ------------------------------------------------------------------------------- */

static void *create(struct scn *r)
{
	struct sim *s = calloc(1, sizeof(*s));

	if (s)
		s->r = r;
	return s;
}

static void destroy(void *d)
{
	struct sim *s = d;

	if (!s)
		return;
	for (size_t i = 0; i < s->n_nodes; i++) {
		free(s->nodes[i].name);
		json_decref(s->nodes[i].inv);
		json_decref(s->nodes[i].vm_lock);
	}
	for (size_t i = 0; i < s->n_ds; i++)
		free(s->ds[i].name);
	json_decref(s->svm);
	json_decref(s->last);
	free(s);
}

static void handle(void *d, struct scn *r, struct scn_event *e)
{
}

static const struct scn_statement header[] = { { 0 } };

static const struct scn_statement statements[] = {
	{ "node", st_node, "NAME [gone|silent] [INVENTORY-JSON]  add or replace a node" },
	{ "set", st_set, "NAME KEY JSON  set one key of the node's inventory" },
	{ "tool", st_tool_module, "NAME TOOL present|missing|unreported" },
	{ "module", st_tool_module, "NAME MODULE loaded|builtin|available|missing|unreported" },
	{ "remove-node", st_remove_node, "NAME" },
	{ "vm-lock", st_vm_lock, "NAME JSON|none  the node's VM lock as its VM service reports it" },
	{ "datastore", st_datastore, "JSON  add or replace a spec entry (name, protocol, fs)" },
	{ "remove-datastore", st_remove_datastore, "NAME" },
	{ "want", st_want, "protocol|fs NAME  checked whatever the spec says" },
	{ "svm", st_svm, "JSON|none  the leader's ontap/svm record" },
	{ "preflight", st_preflight, " compute the report and trace it" },
	{ 0 }
};

static const struct scn_statement expectations[] = {
	{ "ok", ex_ok, " the last report is ok" },
	{ "not-ok", ex_ok, " the last report is not ok" },
	{ "finding", ex_finding, "NODE|- CHECK pass|fail|unknown|absent" },
	{ "fix", ex_finding, "NODE|- CHECK TEXT  the finding's fix contains TEXT" },
	{ "package", ex_finding, "NODE CHECK NAME|-  the finding's package" },
	{ 0 }
};

static const struct scn_driver preflight_driver = {
	.name = "preflight",
	.summary = "Preflight (coord/decide/preflight.c): nodes' inventories, the spec's datastores and the\n"
		   "leader's SVM record. See tests/scenario/preflight-driver.c for the trace and the invariants.",
	.header = header,
	.statements = statements,
	.expectations = expectations,
	.create = create,
	.destroy = destroy,
	.handle = handle,
};

int main(int argc, char **argv)
{
	return scn_main(&preflight_driver, argc, argv);
}
