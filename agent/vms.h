/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The VM service (agent/vms.c): every VM of the spec runs on exactly one node.
 *
 * Leader side (while acting): placement (coord/decide/placement.h) over the spec's VMs, the
 * members' capacities and the current owners gives one decision per VM; the leader records it
 * as records["vm/<name>"] = {"owner": node|null, "action": "keep"|"start-on"|"stop"|"wait",
 * "reason": text|null} with a leader patch under its epoch. A VM stopped in the spec keeps its
 * owner (action "stop") until that owner reports it down; only then is the owner cleared.
 *
 * Node side (every node, only while the view may act): every VM of the spec is defined in the
 * local libvirtd, persistently and never autostarted (resources/host/domain.h), with the same
 * UUID everywhere; a domain is started ONLY when the replicated record says this node owns it
 * (action start-on or keep), and a domain of the spec that runs here while the record names
 * another owner, says stop, or the spec says stopped, is stopped. Domains kvmcd defined for VMs
 * that left the spec are stopped and undefined. What libvirt shows is published in the node's
 * section: "vms": {"<name>": {"state", "error"}} and "capacity": {"memory_mib", "vcpus"}.
 *
 * Local API: "vm-list" -> {"ok":true,"vms":[{"name","state","node","reason"}]} with state one of
 * running | stopped | migrating | paused | waiting | error (the `kvmcctl vm list --json` shape);
 * "vm-show" {"name"} -> that entry plus "record" and per node "nodes": {"<node>": {"state","error"}}.
 */
#pragma once

#include "service.h"

extern const struct service_ops vms_service;
