/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The SnapMirror service (issue 10), a service (service.h) named "mirror": every policy of the
 * spec with "snapmirror" (coord/spec/protection.h) replicated by the ACTING leader, per datastore
 * volume, and the DR verbs. The decisions are pure (coord/decide/mirror.h); this file does the I/O
 * through leader-ontap.h (leader_ontap_mirror: the client this node acts with, epoch-guarded).
 *
 * ---- The leader's pass (LEADING only), every POLL_SEC and on any committed change ------------
 * For every (policy with snapmirror, datastore of it whose volume is ready: records["ds/<ds>"]),
 * one after the other, each step probe-first and idempotent (a new leader re-runs the same pass):
 *   1. GET the relationship <destination_svm>:<destination volume> (mirror_destination():
 *      <source volume><suffix> or destination_volume); missing: SETUP (the source volume's size,
 *      the DP destination volume on destination_svm, the relationship with the spec's policy),
 *      then GET again;
 *   2. what the record says (records["mirror/<policy>/<ds>"], below) and the state decide:
 *        dr "failover": quiesce (snapmirrored), break (paused); broken_off is the goal: nothing
 *                       more is done to it (no update, no initialize) until `dr resync`;
 *        dr "resync":   resync (broken_off); once snapmirrored the record's dr goes;
 *        otherwise:     uninitialized -> initialize (the baseline transfer); snapmirrored and
 *                       an update due (mirror_update_due(): after-snapshot, a snapshot run of
 *                       the policy completed -- records["prot/<policy>/<label>"].done -- after
 *                       the last update; or the mirror's own schedule) -> update, and the record's
 *                       "updated" = that slot once the transfer succeeded;
 *      each transition is followed by a GET (at most MAX_STEPS per datastore and pass);
 *   3. the last GET is published in the leader's section (soft state, re-made by the next
 *      leader's first pass): "mirror_state" {"epoch", "at", "targets": {"<policy>/<ds>":
 *      {"policy", "datastore", "source", "destination", "state", "healthy", "lag_seconds",
 *      "transfer_state", "last_transfer_end", "unhealthy_reason", "updated", "error", "dr"}}}.
 * An update a leader started and did not record is simply done again by the next one (an extra
 * transfer is harmless); a DR transition is recorded BEFORE it is started (persist, then act),
 * so a new leader finishes a half-done failover or resync instead of undoing it with an update.
 *
 * ---- A snapmirror that leaves the spec ------------------------------------------------------
 * kvmcd never deletes a relationship or its destination volume by itself (it never deletes data
 * implicitly). A record whose (policy, datastore) no longer has a snapmirror in the spec is a
 * target that is only READ, at the destination its record names: while ONTAP has the
 * relationship, the reading says "left": true and `kvmcctl status` warns that it was left on
 * ONTAP and what to do; once ONTAP has none (the admin deleted it), the record goes. A record
 * that names no destination (an older kvmcd's) goes at once, with a log line saying what to
 * look for on ONTAP.
 *
 * ---- The record ----------------------------------------------------------------------------
 *   records["mirror/<policy>/<ds>"] = {"updated": slot|null, "updated_at": UTC s,
 *                                      "dr": "failover"|"resync"|null, "dr_request": id|null,
 *                                      "destination": {"svm", "volume"} (written once a
 *                                      reading found the relationship)}
 *
 * ---- Verbs (any node) ----------------------------------------------------------------------
 *   dr-status {datastore?}   per datastore with snapmirror: the leader's last reading, the RPO
 *                            (mirror_rpo_check) and the DR record; from the node asked
 *   dr-failover {datastore}  REQUESTS to the leader, as protection.c's snapshot-create: checked
 *   dr-resync {datastore}    here first (unknown datastore, no snapmirror in its policy), then
 *                            by the leader against the relationship as it reads it
 *                            (mirror_dr_check: a refusal says why), recorded, performed, and
 *                            answered once the relationship got there (or the step failed).
 *                            Node section "mirror_requests" {"<node>/<nonce>.<n>": {"op",
 *                            "datastore"}}, leader section "mirror_answers" {"<id>": reply}.
 * The status section {"acting", "warnings": [...], "rpo_breaches": [{"policy", "datastore",
 * "lag_seconds", "rpo_seconds"}]} is what `kvmcctl status` prints as WARNING lines.
 */
/* (Named mirror-service.h, not mirror.h: coord/decide/mirror.h is the pure part.) */
#pragma once

#include <jansson.h>
#include <stdint.h>

#include "service.h"
#include "coord/spec/protection.h"

extern const struct service_ops mirror_service;

/*
 * For `kvmcctl protection status` (agent/protection.c): the "snapmirror" object of policy pol
 * (borrowed) from the leader's last published reading -- {"destination_svm", "rpo_seconds",
 * "lag_seconds" (the largest of its datastores), "rpo_ok" (null when unknown), "last_transfer",
 * "state" (the datastores' common state, "mixed", or "unknown"), "health" ("ok", "rpo breach",
 * "unhealthy", "error", "failed over", "unknown"), "datastores": [per datastore]}. A new
 * reference; NULL on ENOMEM.
 */
json_t *mirror_policy_status(struct service_ctx *ctx, const struct prot_policy *pol);

/*
 * `kvmcctl preflight` (agent/preflight-api.c): one ONTAP finding per destination SVM of the
 * spec's mirrors other than the [ontap] SVM, "ontap-snapmirror-peer:<svm>" (coord/decide/
 * preflight.h's finding format): ok when the leader's last pass found the SVMs peered for
 * snapmirror, failed (with the commands that peer them) when not, unknown before it read it.
 * Appends to report["findings"] and updates "passed" / "failed" / "unknown" / "ok".
 */
void mirror_preflight(struct service_ctx *ctx, json_t *report);

/*
 * `spec apply` (daemon.c), before the spec goes to the leader: a mirror whose destination would be
 * a datastore's own volume -- on the [ontap] SVM, named <prefix>_<datastore>, its own or another
 * one's (prot_check_destinations; the prefix from corosync's cluster name, as the leader's
 * datastore loop derives it) -- is refused with every such problem, nothing applied. NULL: no
 * such problem (or no [ontap], or a spec the core will refuse by itself); else the refusal (a
 * new reference) {"ok": false, "outcome": "refused", "error", "problems": [...]}.
 */
json_t *mirror_spec_check(const struct kvmcd_config *cfg, const json_t *next);
