/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The leader's datastore loop (datastores.h says what it records): part of the ONTAP service
 * (leader-ontap.c), which owns the ONTAP client and hands it over while this node acts.
 *
 *   observe ONTAP under the prefix -> compute the plan -> execute it wave by wave -> observe
 *   again ... until the plan is empty; then record per datastore what the nodes need.
 *
 * Runs only while acting (LEADING); stops starting anything when acting stops (what is in
 * flight finishes or is cancelled with the client's epoch). Re-runs when the spec or the
 * records change (committed), when what it reads of the node sections changes (initiators,
 * addresses, attached datastores: service_ops.sections), after a failure with backoff, and
 * every 30 s.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "ontap-datastores.h"
#include "service.h"

struct leader_ds;

/* The ONTAP module's two entry points (resolved by leader-ontap.c with dlsym). */
struct leader_ds_ontap {
	int (*observe)(struct ontap_client *c, const char *prefix, ontap_ds_observed_fn done, void *userdata);
	int (*execute)(struct ontap_client *c, const struct dsplan_op *ops, size_t n, const char *comment,
		       ontap_ds_progress_fn progress, ontap_ds_executed_fn done, void *userdata);
	/* the release the client found (NULL until then): records["ontap/svm"].ontap_version */
	const struct ontap_version *(*version)(struct ontap_client *c);
};

/* cluster_name: corosync's (the prefix derives from it); copied. */
int leader_ds_new(struct service_ctx *ctx, const char *cluster_name, struct leader_ds **out);
void leader_ds_free(struct leader_ds *l);

/* Acting as leader with this client (borrowed until the next call), or not (client NULL). */
void leader_ds_set_client(struct leader_ds *l, struct ontap_client *client, const struct leader_ds_ontap *ops);
/* The spec or the sections may have changed. */
void leader_ds_kick(struct leader_ds *l);
/* A node section changed (service_ops.sections): runs the loop when what the plan reads of the
 * sections (initiators, addresses, attached datastores) changed. */
void leader_ds_sections(struct leader_ds *l);
/* The ONTAP object prefix (kvmcd_<cluster>); borrowed. */
const char *leader_ds_prefix(const struct leader_ds *l);
/* The committed version the last run that found its plan empty began at (0: none yet): every
 * node's access is as the plan wants it for that version's records (HA's unfence). */
uint64_t leader_ds_settled_version(const struct leader_ds *l);
/* For the "ontap" status section: {"prefix", "last_plan": {...}, "blocked": [...], "error"}. */
json_t *leader_ds_status(const struct leader_ds *l);
