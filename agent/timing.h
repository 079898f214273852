/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The daemon's safety timing: coord/timeouts.h derived from this node's configuration and from
 * corosync's totem settings (read through cmap when corosync runs; its defaults otherwise).
 * Used at start-up (the core's timeouts) and by `kvmcd --print-timeouts`.
 */
#pragma once

#include <stdbool.h>

#include "config.h"
#include "timeouts.h"

/*
 * Fills *out. *source (owned, may be NULL) says where the totem values came from. Returns 0,
 * or -EINVAL with *error (owned) naming the values that do not fit together, -ENOMEM.
 */
int timing_derive(const struct kvmcd_config *cfg, struct timeouts *out, char **source, char **error);

/* corosync's totem.cluster_name (owned), or NULL when corosync does not run or has none. */
char *corosync_cluster_name(void);
