/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The HA service (issue 9), a service (service.h) named "ha": fencing on the acting leader, the
 * watchdog on every node. agent/ha.c's header comment walks what it does; the decisions are the
 * pure cores' (coord/decide/fence.h, recovery.h -- the latter runs in the VM service's leader
 * pass, agent/vms-leader.c).
 *
 * Records (the leader's, records[...]):
 *   fence/NODE    one node's fence (fence.h's struct fence_record):
 *                 {"status": "pending"|"confirmed"|"failed"|"unfencing"|"releasing",
 *                  "failure": N (the view it left at, on the leader that first saw it),
 *                  "loss": "nodedown"|"procdown", "level": I, "method": the level's method,
 *                  "attempt": N, "rounds": N, "running": bool, "access_cut": bool,
 *                  "confirmed_by": "ontap"|"agent"|"watchdog" (confirmed / unfencing),
 *                  "epoch": E, "started_usec", "not_before_usec" (on epoch E's leader's clock),
 *                  "error": the last failure, "evidence": what confirmed it, "at": UTC}
 *   ha/history    [{"node","status","failure","loss","method","at","reason","evidence"}, ...]:
 *                 the last HA_HISTORY_MAX changes of a fence's status, oldest first
 *   ha/armed      {"armed": false, "by": NODE, "at": UTC} while disarmed; absent: armed
 *   ha-node/NODE  {"watchdog": bool}: its section said, when it was last a member, that its
 *                 watchdog is armed with this cluster's timeout (fence.h's `watchdog` input)
 * Node section "ha": {"watchdog": {"device","armed","timeout_sec","matches","crash_safe",
 * "feeding","error"}, "requests": {ID: {"op": "disarm"|"arm"|"unfence", "node"}}}.
 * Local API: fence-history, node-unfence {"name"}, ha-disarm, ha-arm.
 */
#pragma once

#include "service.h"

#define HA_HISTORY_MAX 50

extern const struct service_ops ha_service;
