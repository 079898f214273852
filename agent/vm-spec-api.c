/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The verbs that change the spec's VMs, and the domain read for `vm import` (vm-spec-api.h). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>

#include "api-server.h"
#include "domain-export.h"
#include "macros.h"
#include "vm-spec-api.h"
#include "vm.h"
#include "worker.h"

#define EXPORT_TIMEOUT_USEC (30u * USEC_PER_SEC) /* one libvirt read */

struct vm_api {
	struct service_ctx *ctx;     /* borrowed */
	struct worker_pool *workers; /* owned; made by the first vm-domain-xml */
	struct host_ctx host;        /* the export's context; libvirt_uri set for each call */
	struct export_wait *waiting; /* owned: the reads in flight */
};

/* A vm-domain-xml request waiting for libvirt. */
struct export_wait {
	struct vm_api *a;            /* borrowed */
	uint64_t conn_id;
	char name[VM_NAME_MAX + 1];
	struct export_wait *next;
};

static const char *const stale =
	"refused: this node is not in a synced quorate view, so its copy of the spec may be stale; nothing applied";

/* The index of the entry of "vms" called name, or -1. */
static ssize_t vm_find(const json_t *spec, const char *name)
{
	const json_t *e;
	size_t i;

	json_array_foreach(json_object_get(spec, "vms"), i, e)
		if (json_is_string(json_object_get(e, "name")) && !strcmp(json_string_value(json_object_get(e, "name")), name))
			return (ssize_t)i;
	return -1;
}

/* {"ok":true,...,"message":"unchanged: VM 'NAME' WHAT"}: already in place, committed. */
static json_t *unchanged(struct vm_api *a, const char *name, const char *what)
{
	char msg[128];

	snprintf(msg, sizeof(msg), "unchanged: VM '%s' %s", name, what);
	return json_pack("{sbsIssss}", "ok", 1, "version", (json_int_t)service_committed_version(a->ctx), "message", msg,
			 "outcome", API_OUTCOME_COMMITTED);
}

/* Requests `next` (taken) for conn_id: NULL (the answer comes later) or the refusal. */
static json_t *request(struct vm_api *a, uint64_t conn_id, json_t *next, const char *name, const char *what)
{
	int r = service_request_spec(a->ctx, conn_id, next);

	json_decref(next);
	if (r < 0)
		return api_refusal(r, "cannot request the change: %s; nothing applied", strerror(-r));
	klog(service_log(a->ctx), LOG_NOTICE, "VM '%s': %s requested", name, what);
	return NULL;
}

/* The spec this node holds, copied, with "vms" an array (made when absent). NULL on ENOMEM. */
static json_t *spec_copy(struct vm_api *a, json_t **vms)
{
	const json_t *spec = service_spec(a->ctx);
	json_t *next = spec ? json_deep_copy(spec) : json_object();

	if (!next)
		return NULL;
	*vms = json_object_get(next, "vms");
	if (!json_is_array(*vms)) {
		*vms = json_array();
		if (!*vms || json_object_set_new(next, "vms", *vms) < 0) {
			json_decref(next);
			return NULL;
		}
	}
	return next;
}

static json_t *cmd_add(void *state, uint64_t conn_id, json_t *req)
{
	struct vm_api *a = state;
	const char *xml = json_string_value(json_object_get(req, "domain_xml"));
	static const char *const optional[] = { "state", "placement", "ha" };
	char name[VM_NAME_MAX + 1], uuid[VM_UUID_TEXT], why[256];
	json_auto_t *entry = NULL;
	json_t *next, *vms;
	ssize_t at;
	int r;

	if (!xml)
		return api_refusal(-EINVAL, "vm-add needs the domain XML as a string \"domain_xml\"");
	if (!service_may_act(a->ctx))
		return api_refusal(-EAGAIN, "%s", stale);
	r = vm_domain_identity(xml, name, uuid, why, sizeof(why));
	if (r == -ENOMEM)
		return api_refusal(r, "out of memory; nothing applied");
	if (r < 0)
		return api_refusal(r, "refused: the domain XML: %s; nothing applied", why);
	entry = json_pack("{ssss}", "name", name, "domain_xml", xml);
	for (size_t i = 0; entry && i < ARRAY_SIZE(optional); i++)
		if (json_object_get(req, optional[i]))
			json_object_set(entry, optional[i], json_object_get(req, optional[i]));
	if (!entry)
		return api_refusal(-ENOMEM, "out of memory; nothing applied");
	at = vm_find(service_spec(a->ctx), name);
	if (at >= 0) {
		if (json_equal(json_array_get(json_object_get(service_spec(a->ctx), "vms"), (size_t)at), entry))
			return unchanged(a, name, "is in the spec as given");
		return api_refusal(-EEXIST, "refused: VM '%s' is in the spec already; `kvmcctl vm remove %s` first, or change its entry with `kvmcctl spec apply`; nothing applied",
				   name, name);
	}
	next = spec_copy(a, &vms);
	if (!next || json_array_append(vms, entry) < 0) {
		json_decref(next);
		return api_refusal(-ENOMEM, "out of memory; nothing applied");
	}
	return request(a, conn_id, next, name, "addition to the spec");
}

static json_t *cmd_state(void *state, uint64_t conn_id, json_t *req)
{
	struct vm_api *a = state;
	const char *name = json_string_value(json_object_get(req, "name"));
	const char *want = json_string_value(json_object_get(req, "state")), *now;
	json_t *next, *vms;
	ssize_t at;

	if (!name || !want || (strcmp(want, "started") && strcmp(want, "stopped")))
		return api_refusal(-EINVAL, "vm-state needs a VM \"name\" and a \"state\" (started or stopped)");
	if (!service_may_act(a->ctx))
		return api_refusal(-EAGAIN, "%s", stale);
	at = vm_find(service_spec(a->ctx), name);
	if (at < 0)
		return api_refusal(-ENOENT, "refused: no VM '%.64s' in the spec; nothing applied", name);
	now = json_string_value(json_object_get(json_array_get(json_object_get(service_spec(a->ctx), "vms"), (size_t)at),
						"state"));
	if (!strcmp(now ? now : "started", want))
		return unchanged(a, name, !strcmp(want, "started") ? "is started in the spec already"
								   : "is stopped in the spec already");
	next = spec_copy(a, &vms);
	if (!next || json_object_set_new(json_array_get(vms, (size_t)at), "state", json_string(want)) < 0) {
		json_decref(next);
		return api_refusal(-ENOMEM, "out of memory; nothing applied");
	}
	return request(a, conn_id, next, name, !strcmp(want, "started") ? "start (state started)" : "stop (state stopped)");
}

static json_t *cmd_remove(void *state, uint64_t conn_id, json_t *req)
{
	struct vm_api *a = state;
	const char *name = json_string_value(json_object_get(req, "name"));
	json_t *next, *vms;
	ssize_t at;

	if (!name)
		return api_refusal(-EINVAL, "vm-remove needs a VM \"name\"");
	if (!service_may_act(a->ctx))
		return api_refusal(-EAGAIN, "%s", stale);
	at = vm_find(service_spec(a->ctx), name);
	if (at < 0)
		return api_refusal(-ENOENT, "refused: no VM '%.64s' in the spec; nothing applied", name);
	next = spec_copy(a, &vms);
	if (!next || json_array_remove(vms, (size_t)at) < 0) {
		json_decref(next);
		return api_refusal(-ENOMEM, "out of memory; nothing applied");
	}
	return request(a, conn_id, next, name, "removal from the spec");
}

/* ---- vm-domain-xml: the read behind `kvmcctl vm import` ------------------------------------- */

static void wait_drop(struct vm_api *a, struct export_wait *w)
{
	for (struct export_wait **p = &a->waiting; *p; p = &(*p)->next)
		if (*p == w) {
			*p = w->next;
			break;
		}
	free(w);
}

static void on_export(void *userdata, int r, const char *detail)
{
	struct export_wait *w = userdata;
	struct vm_api *a = w->a;
	const char *uri = service_config(a->ctx)->host.libvirt_uri;
	json_t *reply;

	if (r == 0)
		reply = json_pack("{sbssss}", "ok", 1, "name", w->name, "domain_xml", detail ? detail : "");
	else if (r == -ENOENT)
		reply = api_refusal(r, "refused: libvirt on this node (%s) has no domain '%s' (%s); nothing applied",
				    uri ? uri : "qemu:///system", w->name, detail ? detail : "");
	else
		reply = api_refusal(r, "refused: cannot read domain '%s' from libvirt on this node (%s): %s; nothing applied",
				    w->name, uri ? uri : "qemu:///system", detail ? detail : strerror(-r));
	service_reply(a->ctx, w->conn_id, reply);
	wait_drop(a, w);
}

static json_t *cmd_domain_xml(void *state, uint64_t conn_id, json_t *req)
{
	struct vm_api *a = state;
	const char *name = json_string_value(json_object_get(req, "name"));
	struct export_wait *w;
	int r = 0;

	if (!name || !vm_name_ok(name))
		return api_refusal(-EINVAL, "refused: \"%.64s\" is not a VM name kvmcd takes (1-%u chars of A-Z a-z 0-9 . _ -, starting with a letter or digit); nothing applied",
				   name ? name : "", VM_NAME_MAX);
	if (!a->workers)
		r = worker_pool_new(service_event(a->ctx), 1, &a->workers);
	w = r < 0 ? NULL : calloc(1, sizeof(*w));
	if (!w)
		return api_refusal(r < 0 ? r : -ENOMEM, "cannot read the domain: %s; nothing applied", strerror(r < 0 ? -r : ENOMEM));
	*w = (struct export_wait){ .a = a, .conn_id = conn_id, .next = a->waiting };
	strcpy(w->name, name);
	a->host.workers = a->workers;
	a->host.libvirt_uri = service_config(a->ctx)->host.libvirt_uri; /* copied by the call */
	r = host_domain_export(&a->host, name, on_export, w);
	a->host.libvirt_uri = NULL;
	if (r < 0) {
		free(w);
		return api_refusal(r, "cannot read the domain: %s; nothing applied", strerror(-r));
	}
	a->waiting = w;
	return NULL; /* answered by on_export */
}

static const struct service_command commands[] = {
	{ "vm-add", cmd_add },
	{ "vm-state", cmd_state },
	{ "vm-remove", cmd_remove },
	{ "vm-domain-xml", cmd_domain_xml },
	{ NULL, NULL },
};

/* ---- the service ---------------------------------------------------------------------------- */

static int svc_init(struct service_ctx *ctx, void **state, char **error)
{
	struct vm_api *a = calloc(1, sizeof(*a));

	*state = NULL;
	if (!a)
		return -ENOMEM;
	a->ctx = ctx;
	a->host = (struct host_ctx){ .event = service_event(ctx), .step_timeout_usec = EXPORT_TIMEOUT_USEC };
	*state = a;
	return 0;
}

static void svc_free(void *state)
{
	struct vm_api *a = state;

	if (!a)
		return;
	/* Queued reads are dropped without their callback (worker.h); kvmcd answers every waiting
	 * connection itself when it stops (service.h). */
	worker_pool_free(a->workers);
	while (a->waiting) {
		struct export_wait *w = a->waiting;
		a->waiting = w->next;
		free(w);
	}
	free(a);
}

const struct service_ops vm_spec_service = {
	.name = "vm_spec",
	.init = svc_init,
	.free = svc_free,
	.commands = commands,
};
