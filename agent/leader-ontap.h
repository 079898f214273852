/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The leader's link to ONTAP, a service (service.h) named "ontap". Every node checks the [ontap]
 * section at start-up (so a bad section or an unsafe credentials file stops the daemon at once,
 * naming the problem), but only the leader loads the client (kvmcd-ontap.so, with libcurl) and
 * uses it: leadership (the role hook, the core's ROLE actions) sets the epoch the client stamps
 * on and checks before every mutating request; losing it cancels what is in flight.
 *
 * Off (status "ontap": null) when [ontap] has no address. Status section:
 * {"address","svm","leader_epoch","client_loaded","version","last_error"}.
 */
#pragma once

#include "service.h"

extern const struct service_ops leader_ontap_service;
