/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The VM service (agent/vms.c, its local-API verbs in agent/vms-api.c, its [vms] section in
 * agent/vms-config.c): every VM of the spec runs on exactly one node, and moves between nodes
 * only by live migration.
 *
 * THE SAFETY RULE: a VM never runs on two hosts. A node starts a domain only when the replicated
 * record says it owns it; the one exception is a migration's target, whose incoming domain
 * libvirt starts for the migration itself -- the target never starts it on its own, and never
 * stops it while the record says a migration to it is in flight. Ownership passes to the target
 * only when the source reports the migration done and the target reports the domain running.
 *
 * Records (the leader's, leader patches under its epoch; vms.c's leader_pass writes them whole):
 *   vm/NAME   {"owner": node|null, "action": "keep"|"start-on"|"stop"|"wait", "reason": text|null,
 *              "migrating_to": node (only while a live migration is in flight; the owner is its
 *                 source until the hand-over),
 *              "migration": {"id", "from", "max_downtime_ms": N|null, "why", "abort": text (the
 *                 leader asks the source to abort: placement abandoned it)},
 *              "last_migration": {"id", "from", "to", "ok", "at" (UTC), "why", "ms",
 *                 "downtime_ms", "error"}}
 *             Placement (coord/decide/placement.h) over the spec's VMs, the members' capacities,
 *             the drained nodes and the current owners gives owner / action / reason; a VM
 *             stopped in the spec keeps its owner (action "stop") until that owner reports it
 *             down. While its last migration failed and it stays with that source, the reason
 *             says so ("its last migration, to n2 at ..., failed: ...").
 *   drain/NAME {"drained": true, "requested_by"}  NAME takes no new VM and its VMs leave by live
 *             migration (placement_drain, within the [vms] limits); absent: not drained. Durable,
 *             so maintenance survives restarts. (Not node/NAME: the datastore leader owns those.)
 *   cluster/rebalance {"id", "requested_by", "started"}  while present, the leader starts the
 *             moves of placement_rebalance() (within the limits) until none is left.
 *
 * A migration (one path for `vm migrate`, drains and rebalances): the leader records it
 * (owner = source, migrating_to, migration.id); the SOURCE performs it (resources/host/domain.h
 * migrate: libvirt peer to peer, LIVE | PERSIST_DEST, never UNDEFINE_SOURCE, to [vms]
 * migration_uri with {node} = the target, aborted at [vms] migration_timeout) and reports its end
 * in its section; the leader then hands the VM over (owner = target) or drops the migration (the
 * VM keeps running on the source; last_migration says why: never a silent stop and start). A
 * source that lost its report (kvmcd restarted) is settled from the facts: the domain runs on
 * the target and not on the source -> handed over; on neither -> dropped.
 *
 * Node side (every node, only while the view may act): every VM of the spec is defined in the
 * local libvirtd, persistently and never autostarted, with the same UUID everywhere; started
 * ONLY where the record names this node the owner (action start-on or keep) and no migration
 * is in flight; stopped where it runs while the record names another owner (and no migration
 * to this node is in flight), says stop, or the spec says stopped. Domains kvmcd defined for VMs
 * that left the spec are stopped and undefined. The node's section:
 *   "vms": {"<name>": {"state", "error", "migration": {"id","to","state":"running"|"done"|
 *           "failed","result"|"error"}}}, "capacity": {"memory_mib", "vcpus"},
 *   "vm_requests": {"<id>": {"op", ...}}   requests to the leader (vms-api.c), and on the
 *   acting leader "vm_answers": {"<node>/<id>": reply}.
 *
 * Local API (kvmcctl):
 *   "vm-list" -> {"ok":true,"vms":[{"name","state","node","reason","migrating_to"}]} with state
 *       running | stopped | migrating | paused | waiting | error;
 *   "vm-show" {"name"} -> that entry plus "record", "last_migration", "spec_state" and per node
 *       "nodes": {"<node>": {"state","error","migration"}};
 *   "vm-migrate" {"name","to"[,"max_downtime_ms"]} -> when the target owns it {"ok":true,"message",
 *       "from","to","ms","downtime_ms"}; refused (the reason, "outcome":"refused"): not eligible by
 *       placement's rules (placement_check_move), the limits, the migration failed (the VM stays);
 *       "outcome":"unknown" when no verdict came by [vms] migration_timeout + a margin;
 *   "node-list" -> {"ok":true,"nodes":[{"name","member","drained","maintenance" (drained and
 *       nothing left there),"capacity","used","load_pct","vms","running","migrations"}]};
 *   "node-drain" / "node-undrain" {"name"} -> once the drain record is in place;
 *   "cluster-rebalance" {"dry_run"} -> the plan {"moves","stuck","in_flight","deferred"}
 *       (dry run: computed by this node, nothing done; else the leader's, started).
 */
#pragma once

#include "service.h"

extern const struct service_ops vms_service;
