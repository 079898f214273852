/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * What agent/vms.c (the runtime: every node's libvirt domains, the leader's records and
 * migrations) and agent/vms-api.c (the local-API verbs and the requests they send the leader)
 * share. Private to those two files; vms.h is the service's interface.
 */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "domain.h"
#include "placement.h"
#include "service.h"
#include "vm.h"

struct worker_pool;
struct host_domain_events;
struct host_vm_lock;

/* Where this node's VM lock system stands ([vms] vm_lock). */
enum vms_lock_state {
	VMS_LOCK_OFF,     /* none (configured, or auto without DLM here): VMs start unlocked */
	VMS_LOCK_PROBING, /* not known yet: nothing starts until the probe answers */
	VMS_LOCK_READY,   /* usable: every start here takes the VM's lock first */
	VMS_LOCK_BROKEN,  /* configured but not usable here: nothing starts; probed again */
};

/* A migration this node drives as its source, as its section reports it. Never renumbered
 * (the names travel in the section). */
enum mig_state { MIG_NONE, MIG_RUNNING, MIG_DONE, MIG_FAILED };

/* One VM (of the spec, or a domain kvmcd defined here for a VM that left it) on this node. */
struct vm_local {
	char *name;                  /* owned */
	bool busy;                   /* a domain op (define, start, stop, undefine) is in flight */
	unsigned failures;           /* consecutive, for the backoff */
	uint64_t retry_at;           /* CLOCK_MONOTONIC; 0 = now */
	char *error;                 /* owned: the last failure, for status; NULL after a success */
	/* the live migration this node drives as source: records["vm/NAME"].migration.id */
	char *mig_id;                /* owned; NULL: none */
	char *mig_to;                /* owned: its target */
	enum mig_state mig_state;
	char *mig_detail;            /* owned: done: libvirt's numbers (JSON text); failed: why */
	uint64_t mig_report_after;   /* its end is reported once a listing started at or after this
				        sequence number is in (so the report and the state agree) */
	char *abort_id;              /* owned: the migration an abort was sent for */
	/* its VM lock (vm-lock.h) as this process knows it */
	bool lock_busy;              /* an acquire or release is in flight */
	bool locked;                 /* acquired, not released since */
	bool lock_seen;              /* an acquire or release answered in this process: an orphan
				        of an earlier kvmcd on this node was adopted by it */
	uint64_t op_seq;             /* d->list_seq when its last domain op ended: only a listing
				        started after it says whether the domain runs here */
	struct vms *d;               /* borrowed back-pointer */
	struct vm_local *next;
};

/* A request this node sent the leader through its section ("vm_requests"), for an API
 * connection that waits for the verdict. */
struct vm_request {
	char *key;                   /* owned: "<this node>/<id>", how the leader and records name it */
	uint64_t conn_id;            /* the waiting API connection */
	json_t *body;                /* owned: {"op": "migrate"|"drain"|"undrain"|"rebalance", ...} */
	uint64_t deadline;           /* CLOCK_MONOTONIC: answered "outcome unknown" then */
	uint64_t accept_deadline;    /* migrate: ... or then, when the leader has not recorded it */
	bool accepted;               /* migrate: the leader recorded it (logged once) */
	struct vm_request *next;
};

struct vms {
	struct service_ctx *ctx;
	struct worker_pool *workers;     /* owned: listing and the short domain ops */
	struct worker_pool *mig_workers; /* owned: migrations (each holds a thread for its length) */
	struct host_ctx host;
	struct host_ctx mig_host;        /* host, with mig_workers */
	char *libvirt_uri;               /* owned or NULL */
	const struct host_domain_ops *dom;
	sd_event_source *timer;          /* owned: the periodic tick */
	struct host_domain_events *events; /* owned: libvirt's lifecycle events; NULL without */
	sd_event_source *kick;           /* owned: act soon, from the loop */
	json_t *libvirt;                 /* owned: the last listing, or NULL */
	bool listing;                    /* a list job in flight */
	bool list_failing;               /* the last listing failed (logged once per outage) */
	bool list_again;                 /* something changed while it ran */
	uint64_t list_seq;               /* list jobs started */
	uint64_t listed_seq;             /* the sequence number of the last listing taken in */
	struct vm_local *list;           /* owned */
	json_t *published;               /* owned: the section part last published */
	/* requester side (vms-api.c) */
	struct vm_request *requests;     /* owned */
	char nonce[9];                   /* this run's, in request ids */
	uint64_t request_seq;
	struct vms_shutdown *shutdown;   /* owned (vms-shutdown.c): the shutdown policy; NULL until
					    its first step */
	struct vms_paused *paused;       /* owned (vms-paused.c): the paused-guest policy; NULL until
					    its first pass */
	/* leader side */
	json_t *answers;                 /* owned: {"<node>/<id>": reply} for requests refused or
					    done, published as "vm_answers" while acting */
	uint64_t patch_version;          /* the last leader patch's version, until committed */
	uint64_t patch_deadline;         /* CLOCK_MONOTONIC: stop waiting for it then */
	uint64_t mig_seq;                /* ids of migrations the leader starts itself */
	/* the VM lock below kvmcd (vm-lock.h) */
	struct host_vm_lock *lock;       /* owned; NULL: none */
	enum vms_lock_state lock_state;
	char *lock_found;                /* owned: what the last probe found (status, preflight) */
	bool lock_probing;               /* a probe in flight */
	uint64_t lock_probe_at;          /* CLOCK_MONOTONIC: probe (again) then; 0 = never */
	bool lock_listing;               /* a list in flight */
	bool was_healthy;                /* this kvmcd has been in a led quorate view (ha.c, issue 9) */
};

/* Placement's input built from the replicated state (spec, records, sections). Strings are
 * borrowed from the state: valid until the caller returns to the loop or patches / publishes. */
struct pinput {
	const struct vm_spec *specs; size_t n; /* borrowed (service_vm_specs) */
	struct placement_vm *pv;             /* owned, n */
	struct placement_node *pn; size_t nn;/* owned */
	struct placement_owner *po; size_t no;/* owned */
	struct placement_input in;
};

/* vms.c */
uint64_t vms_now(struct vms *d);
void vms_kick(struct vms *d);
const char *vms_me(struct vms *d);
/* records["vm/NAME"] / records["drain/NAME"], NULL when there is none. Borrowed. */
const json_t *vms_vm_record(struct vms *d, const char *vm);
const json_t *vms_node_record(struct vms *d, const char *node);
bool vms_node_drained(struct vms *d, const char *node);
/* A member's section (its "section" object), NULL when it has none. Borrowed. */
const json_t *vms_section_of(struct vms *d, const char *node);
/* What node reports of vm's domain ("running", "shutoff", ..., "unknown"), NULL: nothing. */
const char *vms_reported_state(struct vms *d, const char *node, const char *vm);
bool vms_reported_running(struct vms *d, const char *node, const char *vm);
/* What node's section reports of vm ({"state", "migration", ...}), NULL: nothing. Borrowed. */
const json_t *vms_reported(struct vms *d, const char *node, const char *vm);
/* The memory and vCPUs a VM's domain XML asks for. */
/* 0, -ENOMEM, -EINVAL (the spec in force has no valid "vms"). */
int vms_pinput_build(struct vms *d, struct pinput *p);
void vms_pinput_clear(struct pinput *p);
bool vms_pinput_has_node(const struct pinput *p, const char *name);
struct placement_limits vms_limits(const struct kvmcd_config *cfg);
/* Publishes this node's part of its section when it changed. */
void vms_publish(struct vms *d);
/* {"configured", "system", "ok", "found"}: this node's VM lock, as its section and status show it. */
json_t *vms_lock_json(struct vms *d);

/* vms-leader.c: one leader pass: placement, migrations, requests, then one patch of what
 * differs. Only while acting. */
void vms_leader_pass(struct vms *d);

/* vms-api.c */
extern const struct service_command vms_commands[];
/* {"ok":true,"message","moves":[{"vm","from","to","why"}],"stuck":[{"vm","why"}],"in_flight",
 * "deferred"}: a plan as `kvmcctl cluster rebalance` shows it. */
json_t *vms_plan_json(const struct placement_plan *plan, const char *message);
/* The requests waiting for the leader, as this node's section carries them ({} when none). */
json_t *vms_requests_json(struct vms *d);
/* Answers what the leader answered, or what waited past its deadline; publishes when a request
 * was answered. */
void vms_requests_check(struct vms *d);
void vms_requests_free(struct vms *d);

/* vms-api.c: a request of this node's own (no API connection waits for it; the caller watches
 * the records): 0, or a negative errno with nothing sent. body is taken. */
int vms_request_internal(struct vms *d, json_t *body, uint64_t timeout_usec);

/* vms.c, for vms-shutdown.c: this node's entry of a VM (created when asked), NULL on ENOMEM;
 * whether a domain XML lets the guest take an ACPI shutdown. */
struct vm_local *vms_local(struct vms *d, const char *name, bool create);
bool vms_has_acpi(const char *xml);

/* vms-shutdown.c: the planned-shutdown policy ([vms] shutdown_policy; the file's head says it
 * all). */
int vms_shutdown_stop(void *state, uint64_t *deadline);    /* service_ops.stop */
void vms_shutdown_step(struct vms *d);                      /* every step of the service */
void vms_shutdown_free(struct vms *d);
/* While the policy runs this node starts no domain. */
bool vms_shutdown_holds(struct vms *d);
/* {"phase","policy","fallback"} or json null: for status. A new reference. */
json_t *vms_shutdown_status(struct vms *d);
/* The leader's side of a shutdown drain request (body {"op":"drain","node","shutdown":{...}}):
 * the reply, or NULL when it is answered once *rec (the new drain record, taken by the caller;
 * NULL: nothing to record) is in place. */
json_t *vms_shutdown_serve(struct vms *d, const char *node, const char *requester, const json_t *body, json_t **rec);
/* owner's VMs are frozen (its drain record carries a freeze shutdown mark): buf gets the reason
 * `vm list` shows ("frozen: NAME shut down"). */
bool vms_shutdown_frozen(struct vms *d, const char *owner, char *buf, size_t size);

/* vms-paused.c: the paused-guest policy ([vms] paused_policy) and `vm resume` on the owner (the
 * file's head says it all). After each listing, with the spec's VMs: */
void vms_paused_reconcile(struct vms *d, const struct vm_spec *specs, size_t n);
/* Sections changed: resume requests for VMs this node owns are served. */
void vms_paused_sections(struct vms *d);
/* A VM's entry of this node's section: "pause_reason" (libvirt's) and "paused" (what kvmcd
 * does about it) while it is paused here. */
void vms_paused_annotate(struct vms *d, const char *vm, json_t *entry);
/* This node's section part: "vm_resume_answers" while it has any. */
void vms_paused_publish(struct vms *d, json_t *part);
void vms_paused_free(struct vms *d);
