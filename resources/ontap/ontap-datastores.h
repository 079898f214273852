/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The leader's datastore work on ONTAP, built on ontap.h: observe what ONTAP holds under
 * kvmcd's prefix (the input of coord/decide/datastore-plan.h) and execute a plan's operations
 * as their dependencies allow. Lives in the ONTAP module (kvmcd-ontap.so) so the daemon
 * resolves two symbols instead of forty.
 */
#pragma once

#include <jansson.h>

#include "datastore-plan.h"
#include "ontap.h"

/*
 * done(userdata, r, observed, err): observed (borrowed for the call) is
 *   {"volumes":   [{"name","size","comment","junction","export_policy"}],
 *    "luns":      [{"path","size","serial","comment"}],
 *    "namespaces":[{"path","size","uuid","comment"}],
 *    "igroups":   [{"name","protocol","initiators":[...],"comment"}],
 *    "lun_maps":  [{"object": lun path, "group": igroup, "number"}],
 *    "subsystems":[{"name","hosts":[...],"comment","target_nqn"}],
 *    "ns_maps":   [{"object": namespace path, "group": subsystem, "number": nsid}],
 *    "export_policies": [{"name","id"}],
 *    "rules":     [{"policy","clients","index"}],
 *    "shares":    [{"name","path","comment","acl":[{"user","type","permission"}]}],   CIFS shares
 *    "iscsi_target": IQN or null,
 *    "lifs": {"iscsi": [ip...], "nvme_tcp": [...], "nfs": [...], "cifs": [...]},
 *    "svm":  {"iscsi": bool, "nvme": bool, "nfs": bool, "fcp": bool, "cifs": bool}}
 * Only objects whose names start with the prefix are listed. r < 0: the first failure, err says
 * which request.
 */
typedef void (*ontap_ds_observed_fn)(void *userdata, int r, const json_t *observed, const struct ontap_error *err);
int ontap_ds_observe(struct ontap_client *c, const char *prefix, ontap_ds_observed_fn done, void *userdata);

/*
 * Runs ops[0..n) (a plan's ops, in its order): each op as soon as every op it waits for
 * (ops[i].after: indices in ops, of earlier waves; none listed: every op of the earlier waves)
 * has succeeded, concurrently with whatever else may run, the client's max_concurrency bounding
 * them. After a failure nothing new starts; what runs completes. -EINVAL when an op waits for
 * one that is not in ops or not of an earlier wave. done(userdata, r, results): results
 * (borrowed) is an array, one entry per op started: {"op": dsplan_op_json, "r": errno or 0,
 * "error": what failed, for a user (the object, ONTAP's message, "[ONTAP error CODE]", the HTTP
 * status) or null, "code": ONTAP's error code as it sent it ("460770") or null, "message":
 * ONTAP's message alone or null}.
 * comment is set on what is created ("kvmcd:<cluster id>"). ops are borrowed until done.
 */
typedef void (*ontap_ds_executed_fn)(void *userdata, int r, const json_t *results);
/*
 * progress(userdata, i, r, record), when not NULL: ops[i] ended with r (0 or a negative errno),
 * called as each op ends, before done; record (borrowed for the call) is what ONTAP answered of
 * the object an ensure created (a LUN's serial_number, a namespace's or subsystem's uuid and
 * target_nqn), NULL when it answered none. Lets the caller act on a datastore whose own ops are
 * done while others still run.
 *
 * An ensure op is for an object the plan saw missing: it is created without a lookup first,
 * and not read back after ONTAP accepted it (a duplicate answer is read and verified as ever);
 * the caller reads ONTAP again once done, as the plan's contract says.
 */
typedef void (*ontap_ds_progress_fn)(void *userdata, size_t i, int r, const json_t *record);
int ontap_ds_execute(struct ontap_client *c, const struct dsplan_op *ops, size_t n, const char *comment,
		     ontap_ds_progress_fn progress, ontap_ds_executed_fn done, void *userdata);
