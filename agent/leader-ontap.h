/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The leader's link to ONTAP. Every node checks the [ontap] section at start-up (so a bad section
 * or an unsafe credentials file stops the daemon at once, naming the problem), but only the
 * leader loads the client (kvmcd-ontap.so, with libcurl) and uses it: leadership (the core's
 * ROLE actions) sets the epoch the client stamps on and checks before every mutating request;
 * losing it cancels what is in flight.
 */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include <systemd/sd-event.h>

#include "log.h"
#include "resources/ontap/ontap-options.h"

struct leader_ontap;

/* Returns 0 with *out NULL when [ontap] has no address (not configured). On error *error
 * (owned) says what is wrong for the admin. */
int leader_ontap_new(struct leader_ontap **out, sd_event *event, const struct ontap_options *opts,
		     const char *node_name, struct klog *log, char **error);
void leader_ontap_free(struct leader_ontap *l);

/* This node gained (is_leader, epoch) or lost the leadership. */
void leader_ontap_role(struct leader_ontap *l, bool is_leader, uint64_t epoch);

/* {"address","svm","leader_epoch","client_loaded","version","last_error"} for status; NULL when not configured. */
json_t *leader_ontap_status(const struct leader_ontap *l);
