/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The kvmcd daemon: one sd-event loop that runs the coordination core (coord/cluster/core.h) between
 * corosync (cpg-glue), the local API (api-server), the state file (persist) and the journal.
 *
 * After EVERY event fed to the core, the queued actions are performed in order -- SEND queues a
 * multicast, PERSIST appends a journal record (or writes a snapshot) durably (a failure stops
 * the daemon: it must never acknowledge state it did not persist), REPLY answers an API
 * client, LOG and ROLE log -- and
 * one monotonic timer is re-armed at core_next_deadline(). Nothing polls.
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
