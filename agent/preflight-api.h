/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The local-API command "preflight" (served by the datastore service, agent/datastores.c):
 * coord/decide/preflight.h's report for every node of the cluster, from this node's copy of the
 * replicated document -- every node's published inventory, the spec's datastores, the leader's
 * record of the SVM. Any node answers for all of them.
 *
 * Request:  {"cmd":"preflight", "protocols":["nfs",...], "file_systems":["gfs2",...]}
 *           (both optional: checked in addition to what the spec uses)
 * Reply:    {"ok":true, "preflight": <the report>, "current": bool, "why_not_current": "..."}
 *           current false: this node is not in a synced quorate view, so what it holds of the
 *           other nodes may be old (kvmcctl says so and exits 3).
 *           An unknown protocol or file system name: {"ok":false,"outcome":"refused",...}.
 *
 * The nodes: those the spec's "nodes" lists when it lists any; otherwise every member that
 * published a section and every node the leader recorded ("node/<name>": it has published
 * before) -- one whose kvmcd is not a member now is reported as such.
 */
#pragma once

#include <jansson.h>
#include <stdint.h>

#include "service.h"

json_t *preflight_command(struct service_ctx *ctx, json_t *req);
