/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Services: the features that run inside kvmcd beside the coordination core (the ONTAP link
 * today; fencing, host storage, libvirt pools, HA restart later). Each is one const struct
 * service_ops, and one entry in daemon.c's services[] table plugs it in everywhere: start-up and
 * teardown, the core's role / leading / committed actions, local-API commands, its section of
 * `kvmcctl status --json`, and SIGHUP reloads. The daemon has no branch for any one service.
 *
 * Threading and timing: everything runs on the daemon's one sd-event loop. Hooks are called
 * from the daemon's deferred drain of the core's actions (never from inside a corosync
 * dispatch or another callback), in the order the core queued those actions, each after
 * everything queued before it was performed (in particular after the PERSIST that precedes
 * it). A hook must not block: slow work leaves the loop (child processes, curl multi, a worker)
 * and reports back through the service's own event sources.
 *
 * What a service may use is in struct service_ctx (below): it never sees the core itself, so
 * it can never feed the core an event from the middle of another one.
 *
 * Adding a service:
 *   1. write `const struct service_ops foo_service = { .name = "foo", .init = ..., ... };`
 *      in agent/foo.c, declared in agent/foo.h;
 *   2. add `&foo_service` to services[] in daemon.c and foo.c to kvmcd's sources in
 *      agent/meson.build;
 *   3. its configuration: its own section in config.c's schema, read in init (and reload).
 */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include <systemd/sd-event.h>

#include "config.h"
#include "datastore.h"
#include "log.h"
#include "protection.h"
#include "vm.h"

/*
 * What the daemon lends a service. One per service, owned by the daemon, valid from init until
 * free returns (a service may keep the pointer in its state). Implemented in daemon.c; a unit
 * test of a service can link its own implementation of these functions instead.
 */
struct service_ctx;

/* The daemon's event loop (borrowed; sd_event_ref() it to keep it) and its log (borrowed). */
sd_event *service_event(const struct service_ctx *ctx);
struct klog *service_log(const struct service_ctx *ctx);

/*
 * The running configuration (borrowed). Replaced whole by a good SIGHUP reload, after the
 * service's reload hook has accepted the new one: copy what you keep across loop iterations.
 */
const struct kvmcd_config *service_config(const struct service_ctx *ctx);

/*
 * Read-only views of the replicated document (coord/cluster/core.h): borrowed, valid until the
 * caller returns to the loop or calls service_leader_patch() / service_node_publish(); never
 * keep them (json_deep_copy() what you need). They show the core's current state, which may be
 * newer than the action a hook is called for (several corosync events can be fed before one
 * drain): a committed hook for version V may read the records of version V' >= V.
 */
const json_t *service_spec(const struct service_ctx *ctx);
/*
 * The committed spec's datastores, VMs and protection policies as ds_spec_list(),
 * vm_spec_list() and prot_spec_list() give them, parsed once per spec: the core replaces its
 * spec whole and never changes it in place, so the lists are kept until it does. Every hook
 * of every service reads them, and a list re-made each time re-parses every VM's domain XML:
 * with 30 VMs that held the leader's loop for hundreds of ms per snapshot run. Borrowed, valid
 * as service_spec() is (until the caller returns to the loop); *out is NULL when there are
 * none. Returns what the list function returns (0, -EINVAL, -ENOMEM; -ENOMEM is tried again
 * on the next call).
 */
int service_ds_specs(const struct service_ctx *ctx, const struct ds_spec **out, size_t *n);
int service_vm_specs(const struct service_ctx *ctx, const struct vm_spec **out, size_t *n);
int service_prot_policies(const struct service_ctx *ctx, const struct prot_policy **out, size_t *n);
const json_t *service_records(const struct service_ctx *ctx);
const json_t *service_node_sections(const struct service_ctx *ctx);
/* The part `key` of a member's section as the acting leader publishes it: of every section
 * holding `key`, the one whose part's "epoch" is the highest (the acting leader's, or its
 * predecessor's while it has not published yet). On the leader's own node that is what its
 * services last published, not yet what CPG has delivered back: the leader's node reads its
 * own writes at once (its freeze service starts with the others, not a loop turn or a loaded
 * host's scheduling delay later); every other node reads the delivered part. Borrowed like the
 * sections; *node (may be NULL) its member's name. NULL when no member publishes `key`. */
const json_t *service_leader_part(const struct service_ctx *ctx, const char *key, const char **node);
/* The part `key` of this node's own section as its service last published it (what the other
 * nodes will see once CPG delivers it). Borrowed like the sections; NULL when none. */
const json_t *service_own_part(const struct service_ctx *ctx, const char *key);
uint64_t service_committed_version(const struct service_ctx *ctx);
bool service_may_act(const struct service_ctx *ctx);
/*
 * may_act, and every durable update this node has applied is committed (held by every member of
 * the view). What a node DOES to the outside world on the strength of a record (start a domain,
 * migrate it) waits for this: an update applied here but not yet committed may not survive a
 * view change (a partition that leaves this node with the leader in a minority), and the
 * majority would then decide without it -- e.g. give the VM this node just started to another.
 * The committed hook follows as soon as it commits.
 */
bool service_settled(const struct service_ctx *ctx);
bool service_is_acting(const struct service_ctx *ctx);
/* The epoch this node acts in as leader, 0 when it does not act. */
uint64_t service_acting_epoch(const struct service_ctx *ctx);
/* Recording as leader (core.h CORE_ACT_RECORDING): its leader patches commit; it may not act yet
 * (the predecessor's lease). The epoch, 0 when it does not record. */
bool service_is_recording(const struct service_ctx *ctx);
uint64_t service_recording_epoch(const struct service_ctx *ctx);
/*
 * Connected to corosync, in a quorate view (the majority-of-expected rule included), not
 * stalled: the HA service feeds its watchdog only then, and the VM service stops its HA guests
 * when it is not (issue 9; coord/timeouts.h 4. and 5.). A quorate view between leaders (the
 * election after a leader's failure) is healthy.
 */
bool service_healthy(const struct service_ctx *ctx);
/*
 * Two-node clusters (issue 9; core.h core_claim_pending): the epoch whose ONTAP claim this node,
 * a lone survivor holding that leadership, must win before it acts (0: none needed, or won); the
 * HA service makes it and reports a win with service_claim_won (the core then lets it act).
 */
uint64_t service_claim_pending(const struct service_ctx *ctx);
void service_claim_won(struct service_ctx *ctx, uint64_t epoch);
/*
 * How node `name`'s kvmcd last left this node's CPG view, as corosync said: *reason (enum
 * core_leave_reason: NODEDOWN a failed host, PROCDOWN a failed kvmcd, LEAVE a stopped one),
 * *view (service_views() when it left: > 0), *at_usec (CLOCK_MONOTONIC). -ENOENT: this kvmcd
 * has not seen it leave (it was away, or left before this kvmcd started).
 */
int service_departure(const struct service_ctx *ctx, const char *name, uint32_t *reason, uint64_t *view,
		      uint64_t *at_usec);
/* CPG views this kvmcd has been given since it started. */
uint64_t service_views(const struct service_ctx *ctx);
/* The cluster's identity (core.h): "" until the cluster first elected a leader. Borrowed. */
const char *service_cluster_id(const struct service_ctx *ctx);

/*
 * The leader's merge patch over "records" and this node's soft section: core_leader_patch()
 * and core_node_publish() with the daemon's clock, same returns and ownership (patch and
 * section borrowed; *error owned, for the log). -ESHUTDOWN once the daemon is stopping after a
 * fatal error. Callable from a hook (the drain runs between events, so the core is not inside
 * any other call; what this queues is performed after everything queued before it, by the
 * same drain) or from the service's own callbacks (a drain is scheduled).
 */
int service_leader_patch(struct service_ctx *ctx, uint64_t epoch, const json_t *patch, uint64_t *version,
			 char **error);
int service_node_publish(struct service_ctx *ctx, const json_t *section, char **error);

/*
 * Replaces the spec with `spec` (borrowed) on behalf of API connection conn_id, exactly as
 * `spec apply` does: the same validation (whole, and against the spec in force), the same
 * route through the leader, the same reply ({"ok","version","message","outcome"}) sent to
 * conn_id when it is committed, refused or its outcome unknown. The command handler that calls
 * it returns NULL (the answer comes later). For verbs that change one part of the spec the
 * node holds (kvmcctl datastore remove): build `spec` from service_spec() in the same call.
 * Returns 0 (an answer will come) or a negative errno (-ENOMEM, -ESHUTDOWN: nothing was sent
 * and no answer will come; the handler answers itself).
 */
int service_request_spec(struct service_ctx *ctx, uint64_t conn_id, const json_t *spec);

/*
 * Answers an API connection a command handler left waiting (it returned NULL). reply is
 * taken; a connection that went away drops it. Each waiting connection gets exactly one
 * answer; if kvmcd stops first, it answers every waiting connection itself with
 * {"ok":false,"errno":ECANCELED,"outcome":"unknown"}.
 */
void service_reply(struct service_ctx *ctx, uint64_t conn_id, json_t *reply);

/*
 * Runs a local-API verb of the daemon or of any service (e.g. "status", "datastore-list") as if
 * a client had sent req (borrowed; the whole request object, {} for none): its reply (a new
 * reference), or NULL when the verb answers later (nobody gets that answer). For the read verbs
 * that answer at once: the metrics (agent/metrics-service.c) are a view over their JSON.
 */
json_t *service_call(struct service_ctx *ctx, const char *cmd, json_t *req);

/*
 * Ends what a service's stop hook started (it returned 1): once every such service has called
 * this, or at the latest deadline they gave, the daemon leaves the CPG and exits. Idempotent.
 */
void service_stop_done(struct service_ctx *ctx);

/* One local-API verb. Tables end with { NULL }. */
struct service_command {
	const char *name; /* the request's "cmd"; unique across the daemon and every service */
	/*
	 * state: the service's (never NULL: a service that is off answers with an error without
	 * calling this). req is borrowed (the whole request object). Returns the reply (a new
	 * reference, taken), e.g. {"ok":true,...} or api_error(); or NULL when the answer comes
	 * later through service_reply(conn_id).
	 */
	json_t *(*handler)(void *state, uint64_t conn_id, json_t *req);
};

/*
 * A service. Every hook may be NULL (not interested). Except init, hooks are only called on a
 * service whose init returned a state (a service that is off is never called again, and its
 * status section is null).
 */
struct service_ops {
	/* Unique, [a-z0-9_]; the key of its status section (must not collide with the core's
	 * status keys: "node", "leader", "members", "daemon", ...) and its name in the log. */
	const char *name;

	/*
	 * At start-up, in table order, after the event loop and the core exist and before the
	 * local API and corosync start (no hook runs before every init returned). Returns 0 with
	 * *state (owned by the daemon until free) -- *state NULL means the service is off on this
	 * node (not configured) and stays off until kvmcd restarts; or a negative errno with
	 * *error (owned, NULL on ENOMEM): a sentence naming the section, the file and what the
	 * admin must fix ("[ontap] in FILE is unusable: ..."); kvmcd logs it with "; refusing to
	 * start" and stops. Nothing is called on a service whose init failed.
	 */
	int (*init)(struct service_ctx *ctx, void **state, char **error);

	/* At shutdown, in reverse table order, the event loop still alive. Releases everything
	 * state owns, event sources included. Accepts NULL. */
	void (*free)(void *state);

	/*
	 * CORE_ACT_ROLE: this node gained (leading true, the new epoch) or lost (false, the epoch
	 * that ended; 0 if unknown) the leadership. Held across the sync rounds of one epoch:
	 * the fencing token for outside systems (the ONTAP client's epoch guard follows it).
	 */
	void (*role)(void *state, bool leading, uint64_t epoch);

	/*
	 * CORE_ACT_LEADING: acting as leader under epoch may start (acting true: the view is
	 * synced, the election settled; leader patches under this epoch are accepted now) or must
	 * stop now (false: a sync round began or the leadership ended): start no new leader work
	 * until the next start. Always inside a role true..false bracket.
	 */
	void (*leading)(void *state, bool acting, uint64_t epoch);

	/*
	 * CORE_ACT_RECORDING: recording as leader under epoch may start (recording true: synced,
	 * the election settled, leader patches under this epoch commit now -- possibly before
	 * LEADING, while a predecessor that lost contact may still act outside until its lease
	 * ends) or must stop now. LEADING start..stop always lies inside it. Only work that records,
	 * or acts outside in ways such a predecessor cannot undo, starts here (HA fencing and VM
	 * recovery, issue 9); everything else waits for LEADING.
	 */
	void (*recording)(void *state, bool recording, uint64_t epoch);

	/*
	 * CORE_ACT_COMMITTED: version is held by every compatible member of a synced, quorate view
	 * (may_act true): act on the state read through ctx. may_act false: the view is syncing,
	 * stalled or inquorate; act on nothing new (version = the last committed one).
	 */
	void (*committed)(void *state, uint64_t version, bool may_act);

	/*
	 * A member's node section was replaced or dropped (soft state: it brings no committed
	 * notification). Called from the drain, after the actions it performed, at most once per
	 * drain; read service_node_sections(). Cheap: it comes with every delivered section.
	 */
	void (*sections)(void *state);

	/* The local-API verbs this service answers; NULL or { NULL } for none. */
	const struct service_command *commands;

	/* Its section of `kvmcctl status --json`, under "<name>": a new reference (taken), or
	 * NULL (shown as null). Cheap and side-effect free: called for every status request. */
	json_t *(*status)(void *state);

	/*
	 * SIGHUP with a good file: next is the merged config (keys that need a restart already
	 * carry the running value; each changed key was logged). Apply what can change at runtime
	 * (copy it: next is borrowed) and return 0, or change nothing and return a negative errno
	 * with *error (owned): the whole reload is then refused, and the services that already
	 * accepted next are called again with the running config to go back to it. Called in
	 * table order, before the daemon switches to next.
	 */
	int (*reload)(void *state, const struct kvmcd_config *next, char **error);

	/*
	 * SIGTERM / SIGINT: kvmcd is asked to stop. Return 0 when the service has nothing to do
	 * first; or 1 with *deadline (CLOCK_MONOTONIC, absolute): the daemon keeps running --
	 * corosync, the API, every service, as before -- until the service calls
	 * service_stop_done() or the deadline passes (the VM service's planned-shutdown policy,
	 * agent/vms-shutdown.c). Called once, in table order. A second signal stops kvmcd at once.
	 */
	int (*stop)(void *state, uint64_t *deadline);
};
