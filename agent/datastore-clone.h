/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The local-API command "datastore-clone" (served by the datastore service, agent/datastores.c):
 * `kvmcctl datastore clone DATASTORE SNAPSHOT NEW`.
 *
 * Request:  {"cmd":"datastore-clone", "name":PARENT, "snapshot":SNAPSHOT, "new":NEW}
 * Effect:   ONE spec change through the spec-apply path (validation, the leader, the same reply):
 *           a datastore NEW with the parent's protocol, size, fs and nfs / smb options, the
 *           default path, and "clone": {"parent":PARENT, "snapshot":SNAPSHOT} (datastore.h).
 *           The leader's plan creates its volume as a FlexClone of the parent's at SNAPSHOT
 *           (datastore-plan.h: volume-clone), every node attaches, makes it distinct (block:
 *           the node that would have formatted it gives the cloned file system a new UUID and
 *           label, host.h make_distinct) and mounts and pools it like any other datastore.
 * Refused (nothing applied, "outcome":"refused"): an unknown PARENT; a NEW that is the name of
 *           another datastore (the same clone requested again is "unchanged", exit 0); a
 *           SNAPSHOT the leader's last listing of PARENT does not hold (when there is a listing:
 *           the leader lists snapshots while the spec has a protection policy; without one
 *           the plan reports a missing snapshot as the datastore's error); a node whose copy
 *           of the spec may be stale.
 */
#pragma once

#include <jansson.h>
#include <stdint.h>

#include "service.h"

/* NULL: answered when the change is committed (service_request_spec); else the reply. */
json_t *datastore_clone_command(struct service_ctx *ctx, uint64_t conn_id, json_t *req);

/*
 * "datastore-split": `kvmcctl datastore split NAME`.
 * Request:  {"cmd":"datastore-split", "name":NAME}
 * Effect:   ONE spec change: NAME's "clone" gains "split": true (datastore.h "Clones"); the
 *           leader's plan splits the volume from its parent on ONTAP (volume-clone-split), the
 *           datastore staying attached, mounted and in use; afterwards the parent's snapshot is
 *           no longer busy. Answered when the change is committed, not when ONTAP is done
 *           (`datastore show`: "split" in its ONTAP objects).
 * Refused (nothing applied): an unknown NAME; a datastore that is not a clone; a node whose copy
 *           of the spec may be stale. Asked again: "unchanged", exit 0.
 */
json_t *datastore_split_command(struct service_ctx *ctx, uint64_t conn_id, json_t *req);
