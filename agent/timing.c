/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <corosync/cmap.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "macros.h"
#include "timing.h"

/* corosync's own totem values: the configured ones (absent keys keep corosync's defaults) and
 * the number of nodes in its nodelist. Best effort: -ENOTCONN when corosync is not running. */
static int read_totem(struct timeouts_base *b)
{
	cmap_handle_t h;
	cmap_iter_handle_t it;
	char key[CMAP_KEYNAME_MAXLEN + 1];
	size_t len;
	cmap_value_types_t type;
	uint32_t v, nodes = 0;

	if (cmap_initialize(&h) != CS_OK)
		return -ENOTCONN;
	if (cmap_get_uint32(h, "totem.token", &v) == CS_OK && v)
		b->totem_token_usec = (uint64_t)v * USEC_PER_MSEC;
	if (cmap_get_uint32(h, "totem.token_coefficient", &v) == CS_OK)
		b->totem_token_coefficient_usec = (uint64_t)v * USEC_PER_MSEC;
	if (cmap_get_uint32(h, "totem.consensus", &v) == CS_OK)
		b->totem_consensus_usec = (uint64_t)v * USEC_PER_MSEC;
	if (cmap_iter_init(h, "nodelist.node.", &it) == CS_OK) {
		while (cmap_iter_next(h, it, key, &len, &type) == CS_OK) {
			const char *dot = strrchr(key, '.');
			if (dot && strcmp(dot, ".nodeid") == 0)
				nodes++;
		}
		cmap_iter_finalize(h, it);
	}
	if (nodes >= 1)
		b->totem_nodes = nodes;
	cmap_finalize(h);
	return 0;
}

int timing_derive(const struct kvmcd_config *cfg, struct timeouts *out, char **source, char **error)
{
	struct timeouts_base b;

	*error = NULL;
	if (source)
		*source = NULL;
	timeouts_defaults(&b);
	b.stall_timeout_usec = (uint64_t)cfg->stall_timeout_ms * USEC_PER_MSEC;
	b.request_timeout_usec = (uint64_t)cfg->request_timeout_ms * USEC_PER_MSEC;
	if (cfg->ontap.request_timeout_ms)
		b.ontap_request_timeout_usec = (uint64_t)cfg->ontap.request_timeout_ms * USEC_PER_MSEC;
	if (cfg->ontap.job_timeout_ms)
		b.ontap_job_timeout_usec = (uint64_t)cfg->ontap.job_timeout_ms * USEC_PER_MSEC;
	b.shutdown_timeout_usec = (uint64_t)cfg->vms.shutdown_timeout_ms * USEC_PER_MSEC;
	b.guest_stop_grace_usec = (uint64_t)VMS_STOP_GRACE_SEC * USEC_PER_SEC;
	if (read_totem(&b) == 0) {
		if (source && asprintf(source, "corosync's totem settings (token %llu ms, %u nodes)",
				       (unsigned long long)(b.totem_token_usec / USEC_PER_MSEC), (unsigned)b.totem_nodes) < 0)
			*source = NULL;
	} else if (source) {
		*source = strdup("corosync's defaults (corosync is not running)");
	}
	return timeouts_derive(&b, out, error);
}

char *corosync_cluster_name(void)
{
	cmap_handle_t h;
	char *name = NULL, *out = NULL;

	if (cmap_initialize(&h) != CS_OK)
		return NULL;
	if (cmap_get_string(h, "totem.cluster_name", &name) == CS_OK && name && *name)
		out = strdup(name);
	free(name);
	cmap_finalize(h);
	return out;
}
