/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * `kvmcctl snapshot restore DATASTORE SNAPSHOT [--stop-vms]` (issue 10): a datastore reverted to
 * one of its snapshots, every node's hands off it meanwhile. A service (service.h) named
 * "restore".
 *
 * ---- The request (any node; verb "snapshot-restore" {datastore, snapshot, stop_vms}) --------
 * ONE spec change through the spec-apply path: spec["restore"][DATASTORE] = {snapshot, id}
 * (coord/spec/datastore.h "Restores": why the request lives in the spec), and with stop_vms
 * every VM of the spec whose disks use DATASTORE set to "stopped" in the same change, and named in
 * the request's "restart_vms" unless leave_stopped (coord/spec/datastore.h "Restores"). Refused
 * (exit 2, nothing applied): an unknown datastore; a snapshot the leader's last listing of it
 * does not hold (when there is a listing); VMs of the datastore that the spec keeps started,
 * without stop_vms (the reply names them); a restore of that datastore still running. The
 * answer comes when the change is committed: the restore then runs by itself; `kvmcctl
 * status --json` ("restore") and `kvmcctl snapshot restore-status` show where it is.
 *
 * ---- The leader (ACTING; crash-safe: every phase is a committed record first) ---------------
 * records["restore/<ds>"] = {"id", "snapshot", "phase", "error"?, "at"}:
 *   1. no record of the spec's id  -> phase "down": every node takes the datastore down (pool
 *      stopped and removed, unmounted, detached: restore_holds_down() below, read by the node
 *      walk, agent/datastores.c);
 *   2. "down", and every member's section shows it "detached" (or never had it) and no node
 *      reports a VM using it running or paused -> phase "restoring" (committed), then ONTAP's
 *      volume restore (PATCH restore_to.snapshot.name; leader-ontap.h LEADER_SNAP_RESTORE);
 *   3. success -> phase "done"; an ONTAP error -> phase "failed" with the error (the volume was
 *      not reverted: ONTAP restores in one step). Both release the nodes: they attach, mount
 *      and pool it again;
 *   4. then, when the request names restart_vms and every member has the datastore ready, one
 *      spec change sets those of them the spec still keeps "stopped" back to "started" and
 *      drops restart_vms; the VM service places and starts them (after a failed restore too:
 *      their data is as it was). A change not committed within 10 s is asked again.
 * A new leader resumes from the record: in "down" it waits as above; in "restoring" it runs
 * the ONTAP restore again (nothing was written since the nodes went down, so a second revert to
 * the same snapshot changes nothing). An id is run once: a record with the spec's id in "done"
 * or "failed" is the end.
 */
#pragma once

#include <jansson.h>
#include <stdbool.h>

#include "service.h"

extern const struct service_ops restore_service;

/* Whether the node walk must keep datastore `name` down now: the leader's record of the spec's
 * restore request of it says "down" or "restoring". Pure. */
bool restore_holds_down(const json_t *spec, const json_t *records, const char *name);
