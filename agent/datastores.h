/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The datastore service: one spec entry becomes ONTAP storage (the leader), attached on every
 * host, a cluster file system or a NAS mount, and the same libvirt pool everywhere (every node).
 *
 * Leader (acting): reads ONTAP under kvmcd's prefix, computes the plan (coord/decide/
 * datastore-plan.h), performs it wave by wave with the ONTAP client, reads ONTAP again until the
 * plan is empty, then records per datastore what the nodes need to attach it:
 *   records "ds/<name>" = {"protocol", "volume", "ready": bool,
 *                          "lun_serial", "target_iqn", "portals": ["ip:3260", ...],    (iscsi, fc)
 *                          "subsystem_nqn", "ns_uuid", "nvme_portals": ["ip:4420"...], (nvme-tcp)
 *                          "nas_servers": [ip...], "export_path",                     (nfs, smb)
 *                          "mkfs_by": node name (the one node that may format it),
 *                          "path": the mount point and pool target,
 *                          "blocked": why it cannot go on, or null}
 *   and once the datastore is removed from the spec, the same record with
 *                         {"removed": true, "ready": false, "destroy_data": the user asked
 *                          (the spec's "destroy_data" lists it), "blocked": what the removal
 *                          waits for (nodes to detach, ...), "kept": true once only its volume
 *                          is left and the data stays}; deleted when the removal is done and
 *                          nothing is kept (the data destroyed, or it was never ours).
 *   and while an ONTAP operation of it fails: "error": the operation and ONTAP's words with
 *                          its code ("volume-ensure: volume 'kvmcd_c_ds1': <ONTAP's message>
 *                          [ONTAP error 460770]"), "error_code": the code ("460770") or null;
 *                          cleared when it succeeds;
 *   records "ontap/datastores_error" = {"error", "error_code"}: the same for an operation of no
 *                          datastore (igroups, subsystem, export policy) or a failed read of
 *                          ONTAP; deleted once the plan is done;
 *   records "blocked_nodes" = {"<node>": ["why", ...]}: cloned hosts, the nodes the plan keeps
 *                          off the array for an IQN / host NQN / WWPN another node has too (a
 *                          blocking error shown by status and datastore show); absent when none.
 * A new leader starts from what ONTAP shows: nothing of a plan needs replicating.
 *
 * `kvmcctl datastore remove NAME [--destroy-data]` (the verb "datastore-remove") takes NAME out
 * of the spec -- with --destroy-data also listing it in the spec's "destroy_data" -- in one spec
 * change through the spec-apply path (coord/spec/datastore.h says why the request lives in
 * the spec and how it is kept from being set by accident).
 *
 * Every node (a member of a synced quorate view): publishes its inventory and, per datastore,
 *   section "datastores"."<name>" = {"attached", "device", "fs", "mounted", "pool_active",
 *                                   "pool_xml_sha256", "step", "error"}
 * and walks each datastore of the spec whose record is ready: attach (probe first) -> file
 * system (block: probe; the node named by mkfs_by formats an EMPTY device, never one that holds
 * data; the others wait for it) -> mount -> libvirt pool. A datastore removed from the spec is
 * taken down in the reverse order: pool, unmount, detach. A node that did not see the removal
 * (its kvmcd was down, it restarted since) takes down every removed datastore the leader still
 * has a record of, from that record, once after it starts -- each step probes first, so one it
 * never had costs a few probes -- and reports it attached until detached (unless its volume
 * is kept already): the leader never destroys data a node may still use. A failing step is retried with
 * backoff and its error (the step and the tool's own message) shown in status.
 */
#pragma once

#include "service.h"

#define BLOCKED_NODES_KEY "blocked_nodes" /* the leader's record of cloned hosts (above) */
#define ONTAP_ERROR_KEY "ontap/datastores_error" /* the leader's last ONTAP error of no datastore */

extern const struct service_ops datastores_service;
