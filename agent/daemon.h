/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The kvmcd daemon: one sd-event loop that runs the coordination core (coord/cluster/core.h)
 * between corosync (cpg-glue), the local API (api-server), the state directory (persist) and
 * the services (service.h: the ONTAP link, ...), which plug in through one table.
 *
 * Events and actions. Every input (a corosync callback, an API request, the core's timer) is fed
 * to the core at once, in the order it arrives; the actions the core queues are performed later,
 * by one drain running from a defer source on the next loop iteration, never from inside a
 * corosync dispatch or any other callback. The drain performs them strictly in queue order --
 * SEND hands a multicast to the glue's FIFO, PERSIST appends the journal record (or writes a
 * snapshot) durably before the next action is touched (a failure stops the daemon: it must
 * never acknowledge state it did not persist), REPLY answers an API client, LOG logs, ROLE /
 * LEADING / COMMITTED go to the services -- then re-arms the one monotonic timer at
 * core_next_deadline(). No event is fed from inside a drain, with one exception, documented at
 * service_leader_patch(). Nothing polls.
 */
#pragma once

#include <stdbool.h>

#include "config.h"
#include "log.h"

struct daemon_args {
	const char *config_path; /* the file to load (and reload on SIGHUP) */
	bool config_explicit;    /* given with --config: a missing file is an error */
	bool foreground;         /* log to stderr whatever the config says */
};

/*
 * Runs the daemon until SIGTERM/SIGINT (returns 0 after leaving the CPG group) or a fatal error
 * (returns a negative errno; already logged). log is borrowed; cfg is taken.
 */
int daemon_run(const struct daemon_args *args, struct klog *log, struct kvmcd_config *cfg);
