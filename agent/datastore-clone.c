/* SPDX-License-Identifier: GPL-2.0-or-later */
/* `kvmcctl datastore clone` and `datastore split`: datastore-clone.h. */
#include <errno.h>
#include <string.h>
#include <syslog.h>

#include "api-server.h"
#include "datastore-clone.h"
#include "datastore.h"
#include "macros.h"
#include "protection-service.h"

static const json_t *entry_of(const json_t *spec, const char *name)
{
	const json_t *e;
	size_t i;

	json_array_foreach(json_object_get(spec, "datastores"), i, e)
		if (json_is_string(json_object_get(e, "name")) && strcmp(json_string_value(json_object_get(e, "name")), name) == 0)
			return e;
	return NULL;
}

json_t *datastore_clone_command(struct service_ctx *ctx, uint64_t conn_id, json_t *req)
{
	static const char *const copied[] = { "protocol", "size", "fs", "nfs", "smb" };
	const char *parent = json_string_value(json_object_get(req, "name"));
	const char *snap = json_string_value(json_object_get(req, "snapshot"));
	const char *name = json_string_value(json_object_get(req, "new"));
	const json_t *spec = service_spec(ctx), *pe, *have, *listing, *snaps;
	json_auto_t *next = NULL, *clone = NULL;
	json_t *entry;
	int r;

	if (!parent || !snap || !name)
		return api_refusal(-EINVAL, "datastore-clone needs \"name\" (the parent), \"snapshot\" and \"new\"");
	if (!service_may_act(ctx))
		return api_refusal(-EAGAIN, "refused: this node is not in a synced quorate view, so its copy of the spec may be stale; nothing applied");
	if (!(pe = entry_of(spec, parent)))
		return api_refusal(-ENOENT, "refused: no datastore '%s' in the spec; nothing applied", parent);
	clone = json_pack("{ssss}", "parent", parent, "snapshot", snap);
	if (!clone)
		return api_refusal(-ENOMEM, "out of memory; nothing applied");
	if ((have = entry_of(spec, name))) {
		if (json_equal(json_object_get(have, "clone"), clone))
			return json_pack("{sbsIssss}", "ok", 1, "version", (json_int_t)service_committed_version(ctx), "message",
					 "unchanged: that clone is in the spec already", "outcome", API_OUTCOME_COMMITTED);
		return api_refusal(-EEXIST, "refused: a datastore '%s' exists already; nothing applied", name);
	}
	listing = protection_leader_listing(ctx);
	snaps = json_object_get(json_object_get(listing, "datastores"), parent);
	if (json_is_array(snaps)) {
		const json_t *s;
		size_t i;
		bool found = false;

		json_array_foreach(snaps, i, s)
			found |= json_is_string(json_object_get(s, "name")) && strcmp(json_string_value(json_object_get(s, "name")), snap) == 0;
		if (!found)
			return api_refusal(-ENOENT, "refused: datastore '%s' has no snapshot '%s' in the leader's last listing (`kvmcctl snapshot list %s`); nothing applied",
					   parent, snap, parent);
	}
	next = json_deep_copy(spec);
	entry = json_pack("{ss}", "name", name);
	if (!next || !entry) {
		json_decref(entry);
		return api_refusal(-ENOMEM, "out of memory; nothing applied");
	}
	for (size_t i = 0; i < ARRAY_SIZE(copied); i++)
		if (json_object_get(pe, copied[i]))
			json_object_set_new(entry, copied[i], json_deep_copy(json_object_get(pe, copied[i])));
	json_object_set_new(entry, "clone", json_incref(clone));
	json_array_append_new(json_object_get(next, "datastores"), entry);
	r = service_request_spec(ctx, conn_id, next);
	if (r < 0)
		return api_refusal(r, "cannot request the change: %s; nothing applied", strerror(-r));
	klogf(service_log(ctx), LOG_NOTICE, KLOG_DS(name), "Datastore '%s': requested as a clone of '%s' at snapshot '%s'", name, parent, snap);
	return NULL;
}

json_t *datastore_split_command(struct service_ctx *ctx, uint64_t conn_id, json_t *req)
{
	const char *name = json_string_value(json_object_get(req, "name"));
	const json_t *spec = service_spec(ctx), *e;
	json_auto_t *next = NULL;
	int r;

	if (!name)
		return api_refusal(-EINVAL, "datastore-split needs \"name\"");
	if (!service_may_act(ctx))
		return api_refusal(-EAGAIN, "refused: this node is not in a synced quorate view, so its copy of the spec may be stale; nothing applied");
	if (!(e = entry_of(spec, name)))
		return api_refusal(-ENOENT, "refused: no datastore '%s' in the spec; nothing applied", name);
	if (!json_is_object(json_object_get(e, "clone")))
		return api_refusal(-EINVAL, "refused: datastore '%s' is not a clone (its spec entry has no \"clone\"); nothing applied",
				   name);
	if (json_is_true(json_object_get(json_object_get(e, "clone"), "split")))
		return json_pack("{sbsIssss}", "ok", 1, "version", (json_int_t)service_committed_version(ctx), "message",
				 "unchanged: its split is asked already (`kvmcctl datastore show` says how far it is)", "outcome",
				 API_OUTCOME_COMMITTED);
	next = json_deep_copy(spec);
	if (!next || json_object_set_new(json_object_get(entry_of(next, name), "clone"), "split", json_true()) < 0)
		return api_refusal(-ENOMEM, "out of memory; nothing applied");
	r = service_request_spec(ctx, conn_id, next);
	if (r < 0)
		return api_refusal(r, "cannot request the change: %s; nothing applied", strerror(-r));
	klogf(service_log(ctx), LOG_NOTICE, KLOG_DS(name), "Datastore '%s': its split from its parent requested", name);
	return NULL;
}
