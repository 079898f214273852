/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The "preflight" command (preflight-api.h): the pure report over this node's replicated document. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "api-server.h"
#include "datastore.h"
#include "inventory.h"
#include "macros.h"
#include "mirror-service.h"
#include "preflight-api.h"
#include "preflight.h"

static int cmp_name(const void *a, const void *b)
{
	return strcmp(((const struct preflight_node *)a)->name, ((const struct preflight_node *)b)->name);
}

/* Appends name (borrowed) unless it is there. */
static void node_add(struct preflight_node *nodes, size_t *n, size_t max, const char *name)
{
	if (!name || !*name)
		return;
	for (size_t i = 0; i < *n; i++)
		if (strcmp(nodes[i].name, name) == 0)
			return;
	if (*n < max)
		nodes[(*n)++] = (struct preflight_node){ .name = name };
}

/* "names" (a JSON array of strings, or absent) into a bool table of protocol or fs names. */
static int names_to(const json_t *names, bool *out, int lo, int max, const char *(*name_of)(int), const char **bad)
{
	const json_t *v;
	size_t i;

	json_array_foreach(names, i, v) {
		int k = lo;
		for (; k < max; k++)
			if (json_string_value(v) && strcmp(json_string_value(v), name_of(k)) == 0)
				break;
		if (k == max) {
			*bad = json_string_value(v) ? json_string_value(v) : "(not a string)";
			return -EINVAL;
		}
		out[k] = true;
	}
	return 0;
}

static const char *proto_name(int p)
{
	return ds_protocol_name((enum ds_protocol)p);
}

static const char *fs_name(int f)
{
	return ds_fs_name((enum ds_fs)f);
}

json_t *preflight_command(struct service_ctx *ctx, json_t *req)
{
	const json_t *spec = service_spec(ctx), *records = service_records(ctx), *secs = service_node_sections(ctx);
	const json_t *spec_nodes = json_object_get(spec, "nodes"), *v, *x;
	_cleanup_free_ struct ds_spec *ds = NULL;
	_cleanup_free_ struct preflight_node *nodes = NULL;
	bool protos[_DS_PROTO_MAX] = { false }, fss[_DS_FS_MAX] = { false };
	const char *k, *bad = NULL;
	size_t n_ds = 0, n = 0, max, i;
	json_t *report = NULL;
	int r;

	if (names_to(json_object_get(req, "protocols"), protos, 0, _DS_PROTO_MAX, proto_name, &bad) < 0)
		return api_refusal(-EINVAL, "preflight: unknown protocol \"%.64s\" (iscsi, fc, nvme-tcp, nfs, smb)", bad);
	if (names_to(json_object_get(req, "file_systems"), fss, DS_FS_OCFS2, _DS_FS_MAX, fs_name, &bad) < 0)
		return api_refusal(-EINVAL, "preflight: unknown file system \"%.64s\" (ocfs2, gfs2)", bad);
	/* The spec in force passed validation; one that does not list cleanly checks no datastore. */
	if (ds_spec_list(spec, &ds, &n_ds) < 0) {
		ds = NULL;
		n_ds = 0;
	}
	max = json_array_size(spec_nodes) + json_object_size(secs) + json_object_size(records) + 1;
	nodes = calloc(max, sizeof(*nodes));
	if (!nodes)
		return api_error(-ENOMEM, "out of memory");
	if (json_array_size(spec_nodes)) {
		json_array_foreach(spec_nodes, i, x)
			node_add(nodes, &n, max, json_string_value(json_object_get(x, "name")));
	} else {
		json_object_foreach((json_t *)secs, k, v)
			node_add(nodes, &n, max, json_string_value(json_object_get(v, "name")));
		json_object_foreach((json_t *)records, k, v)
			if (strncmp(k, "node/", 5) == 0)
				node_add(nodes, &n, max, k + 5);
	}
	qsort(nodes, n, sizeof(*nodes), cmp_name);
	for (i = 0; i < n; i++)
		json_object_foreach((json_t *)secs, k, v) {
			const char *name = json_string_value(json_object_get(v, "name"));
			const json_t *sec = json_object_get(v, "section");
			if (!name || strcmp(name, nodes[i].name) != 0)
				continue;
			nodes[i].member = true;
			nodes[i].inventory = json_object_get(sec, INVENTORY_SECTION_KEY);
			nodes[i].vm_lock = json_object_get(sec, "vm_lock"); /* agent/vms.c's */
		}
	r = preflight_check(&(struct preflight_input){ .datastores = ds, .n_datastores = n_ds, .protocols = protos,
						       .file_systems = fss, .nodes = nodes, .n_nodes = n,
						       .svm = json_object_get(records, "ontap/svm") },
			    &report);
	if (r < 0)
		return api_error(r, "preflight: %s", strerror(-r));
	mirror_preflight(ctx, report); /* issue 10: SVM peering for SnapMirror */
	return json_pack("{sbsosbss?}", "ok", 1, "preflight", report, "current", service_may_act(ctx), "why_not_current",
			 service_may_act(ctx) ? NULL : "this node is not in a synced quorate view: what it holds of the other nodes may be old");
}
