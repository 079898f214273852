/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The node's side of a VM-consistent snapshot (issue 10), a service (service.h) named "freeze"
 * on every node: the shell around coord/decide/freeze.h (read its header: the protocol and the
 * guaranteed thaw). The leader's side is agent/protection.c (protection-service.h says the whole
 * exchange).
 *
 * Inputs, all on the loop:
 *   - the acting leader's section part "protection_freeze" {"epoch", "run", "phase": "freeze" |
 *     "thaw", "budget_ms", "nodes": {"<node>": ["<vm>", ...]}} (the part published under the
 *     highest epoch): a freeze of a run newer than this node's is FREEZE_IN_REQUEST with the VMs
 *     listed for this node (none: nothing to do); "thaw" of the current run is FREEZE_IN_THAW;
 *   - the leader lost: the part of the run's epoch is gone (the leader's kvmcd left the view, or
 *     it stopped acting and withdrew it), a newer epoch's part came without this run, or this
 *     node is not healthy (service_healthy) or its view is not synced (committed, may_act false):
 *     FREEZE_IN_LEADER_LOST;
 *   - fs_freeze / fs_thaw results (host_domain_libvirt_ops, on this service's own worker pool of
 *     FREEZE_THREADS threads: each call holds a thread and a libvirt connection for its length,
 *     a hung agent up to the run's budget);
 *   - one CLOCK_MONOTONIC timer at freeze_next_wakeup() (the run's deadline, thaw retries).
 *
 * Output: this node's section part "freeze_reports" {"run", "epoch", "vms": {"<vm>": {"report":
 * "frozen" | "crash-consistent" | "thawed" | "thaw-failed", "outcome"?, "why"?}}} -- the latest
 * report of each VM of the current run -- and log lines "Froze guest file systems of VM 'x' for
 * run R" / "Thawed VM 'x' (run R: thaw-request)".
 *
 * At start-up (before any run) the service thaws every running domain of kvmcd's on this node
 * once (a thaw of a thawed guest changes nothing): a kvmcd that was killed while a guest it had
 * frozen was still frozen leaves it so until a kvmcd runs here again -- the one gap of the
 * guarantee freeze.h describes, since the thaw lives in this process (keep Restart= in the unit).
 */
#pragma once

#include "service.h"

#define FREEZE_THREADS 12u

extern const struct service_ops freeze_node_service;
