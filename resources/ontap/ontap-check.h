/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * `kvmcctl ontap check`: verifies on its own (no cluster, its own sd-event loop) that the
 * configured ONTAP cluster can be used: reachability, TLS verification, credentials, ONTAP
 * version, the SVM and its state, which of iSCSI/FC/NVMe/NFS/SMB are enabled, the data LIFs per
 * protocol, and every permission the configured user lacks (read-only GETs per endpoint family,
 * and DELETEs of an all-zero UUID that can only answer 404 or 403).
 *
 * With peer_cluster (the name of [ontap_peer]'s cluster; opts are that section's): the cluster
 * is a SnapMirror destination, which kvmcd uses through the volume, SnapMirror and job
 * endpoints only: no SVM or protocol checks, and only those permissions.
 *
 * Writes a human report, or with json one JSON object, to out. Returns the process exit
 * status: 0 only when everything kvmcd needs is there, 1 when something is missing.
 */
#pragma once

#include <stdbool.h>
#include <stdio.h>

#include "ontap-options.h"

int ontap_check_run(const struct ontap_options *opts, const char *peer_cluster, bool json, FILE *out);
