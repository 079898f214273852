/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The [metrics] section of kvmcd.conf (agent/metrics-config.c): the Prometheus endpoint
 * (agent/metrics-service.c, issue 11). Included by config.h; defaults in METRICS_OPTIONS_DEFAULTS.
 */
#pragma once

struct metrics_options {
	/* "ADDRESS:PORT" or "[IPv6]:PORT", a numeric address (no name lookup on the loop): where
	 * GET /metrics answers. Empty: no endpoint (`kvmcctl metrics` still works). */
	char *listen;
};

/* localhost: the state of the cluster is not for the whole network unless the admin says so */
#define METRICS_OPTIONS_DEFAULTS { .listen = (char *)"127.0.0.1:9477" }

struct config_section;
extern const struct config_section metrics_config_section;

struct sockaddr_storage;
/* Parses a listen value; 0 and *ss / *len, or -EINVAL with *why (static text). */
int metrics_listen_parse(const char *value, struct sockaddr_storage *ss, unsigned *len, const char **why);
