/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * kvmcd's metrics in the Prometheus text exposition format (version 0.0.4, what `promtool check
 * metrics` reads and every Prometheus scrapes), issue 11. A PURE RENDERER: a view over the same
 * JSON documents that `kvmcctl ... --json` prints (the interfaces tools outside rely on), plus the
 * counters only the metrics service keeps (metrics-service.c). No I/O.
 *
 * The input, one JSON object (every member optional: what is missing is not rendered):
 *   "status"      kvmcctl status --json
 *   "datastores"  kvmcctl datastore list --json   (an array)
 *   "vms"         kvmcctl vm list --json          (an array)
 *   "nodes"       kvmcctl node list --json        (an array)
 *   "fences"      kvmcctl fence history --json
 *   "protection"  kvmcctl protection status --json
 *   "counters"    {"fences": {"<method>": {"confirmed": N, "failed": N, "cancelled": N}},
 *                  "fence_duration": HISTOGRAM, "vm_recoveries": N,
 *                  "ontap": {"requests": {"<METHOD> <code>": N}, "errors": {"<ontap code>": N},
 *                            "duration": {"<METHOD>": HISTOGRAM}},
 *                  "scrapes": N}
 *                 HISTOGRAM = {"le": [upper bounds, seconds, ascending], "counts": [per bucket,
 *                 NOT cumulative, one more than "le": the last is +Inf], "sum": seconds}
 *   "now"         wall-clock seconds (snapshot ages)
 *
 * Cluster-wide series (datastores on ONTAP, VM placement, fences, snapshots) come from the
 * replicated state, so every node reports the same values: aggregate with max() or select the
 * leader's (kvmcd_leader == 1). Node-local ones (membership as this node sees it, its own
 * datastore steps, ONTAP calls it made while leading) are per node. Counters count from the
 * daemon's start (Prometheus handles the reset of a restart).
 *
 * Names follow Prometheus' conventions: the kvmcd_ prefix, base units in the name (_seconds,
 * _bytes), _total for counters, 0/1 gauges for states, an _info gauge of 1 for text.
 */
#pragma once

#include <jansson.h>

/* The exposition text (owned by *text, NUL-terminated). 0, -EINVAL (in is not an object),
 * -ENOMEM. Whatever else the input holds (a field missing, of another type) is skipped: a
 * metrics scrape never fails because one part of the state looks unexpected. */
int metrics_render(const json_t *in, char **text);

/* The Content-Type of metrics_render's text. */
#define METRICS_CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"
