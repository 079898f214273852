/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The verbs that change the spec's "vms" (coord/spec/vm.h) for the admin: `kvmcctl vm add`,
 * `vm start`, `vm stop`, `vm remove`, and what `vm import` reads. Each change is built from the
 * spec this node holds and goes through the spec-apply path (service_request_spec: the same
 * whole validation on this node and by the leader, the same route, the same reply and exit
 * contract), exactly like `kvmcctl datastore remove`. The VM runtime (placement, ownership,
 * libvirt domains) is agent/vms.c's; this file only writes the spec.
 *
 *   {"cmd":"vm-add","domain_xml":TEXT, "state":..., "placement":{...}, "ha":{...}}
 *       appends {"name": <the XML's <name>>, "domain_xml": TEXT, and the optional keys as given}
 *       to "vms". Refused (nothing applied, "outcome":"refused"): an XML without a <name> that
 *       is a VM name (vm_domain_identity), a VM of that name in the spec already with another
 *       entry (the same entry is "unchanged", committed), and whatever validation refuses (a disk
 *       on no datastore: "invalid spec, nothing applied:\nvms[3].domain_xml: web1: disk ...").
 *   {"cmd":"vm-state","name":N,"state":"started"|"stopped"}
 *       sets the VM's "state"; unchanged when it is so already (absent = started).
 *   {"cmd":"vm-remove","name":N}
 *       takes the entry out of "vms" (a VM another VM's placement names is refused by validation).
 *   Changes: an unknown NAME is refused (ENOENT); a node whose copy of the spec may be stale
 *   (not in a synced quorate view) refuses (EAGAIN); else the answer comes when the change is
 *   committed, refused or its outcome unknown (the spec-apply reply).
 *
 *   {"cmd":"vm-domain-xml","name":N}  -> {"ok":true,"name":N,"domain_xml":TEXT}
 *       a read for `kvmcctl vm import`: the persistent definition of this node's libvirt domain
 *       N ([host] libvirt_uri; resources/host/domain-export.h). Nothing changes anywhere;
 *       kvmcctl then sends it with vm-add. No such domain, libvirt unreachable or N not a VM name
 *       kvmcd takes: refused.
 */
#pragma once

#include "service.h"

extern const struct service_ops vm_spec_service;
