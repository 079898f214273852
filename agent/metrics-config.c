/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The [metrics] section of kvmcd.conf (metrics-options.h). */
#include <arpa/inet.h>
#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "config.h"
#include "metrics-options.h"

int metrics_listen_parse(const char *value, struct sockaddr_storage *ss, unsigned *len, const char **why)
{
	char host[64];
	const char *colon, *h = value;
	size_t hl;
	char *end;
	unsigned long port;

	memset(ss, 0, sizeof(*ss));
	if (!value || !*value) {
		*why = "is empty";
		return -EINVAL;
	}
	if (*value == '[') {
		const char *close = strchr(value, ']');
		if (!close || close[1] != ':') {
			*why = "is not [IPv6]:PORT";
			return -EINVAL;
		}
		h = value + 1;
		hl = (size_t)(close - h);
		colon = close + 1;
	} else {
		colon = strrchr(value, ':');
		if (!colon || strchr(value, ':') != colon) {
			*why = "is not ADDRESS:PORT (an IPv6 address goes in brackets: [::1]:9477)";
			return -EINVAL;
		}
		hl = (size_t)(colon - value);
	}
	if (hl == 0 || hl >= sizeof(host)) {
		*why = "has no address (0.0.0.0 for every IPv4 address, [::] for every address)";
		return -EINVAL;
	}
	memcpy(host, h, hl);
	host[hl] = 0;
	errno = 0;
	port = strtoul(colon + 1, &end, 10);
	if (!colon[1] || *end || errno || port < 1 || port > 65535) {
		*why = "has no port in 1..65535";
		return -EINVAL;
	}
	if (*value == '[') {
		struct sockaddr_in6 *a = (struct sockaddr_in6 *)ss;
		if (inet_pton(AF_INET6, host, &a->sin6_addr) != 1) {
			*why = "has no numeric IPv6 address in its brackets";
			return -EINVAL;
		}
		a->sin6_family = AF_INET6;
		a->sin6_port = htons((uint16_t)port);
		*len = sizeof(*a);
	} else {
		struct sockaddr_in *a = (struct sockaddr_in *)ss;
		if (inet_pton(AF_INET, host, &a->sin_addr) != 1) {
			*why = "has no numeric IPv4 address (no host names: kvmcd does not look names up)";
			return -EINVAL;
		}
		a->sin_family = AF_INET;
		a->sin_port = htons((uint16_t)port);
		*len = sizeof(*a);
	}
	return 0;
}

static bool listen_ok(const char *value, const char **why)
{
	struct sockaddr_storage ss;
	unsigned len;

	return !value || !*value || metrics_listen_parse(value, &ss, &len, why) == 0;
}

static const struct metrics_options defaults = METRICS_OPTIONS_DEFAULTS;

#define M struct metrics_options

static const struct config_key keys[] = {
	{ .name = "listen", CONFIG_STRING_AT(M, listen), .max = 53, /* [IPv6 with IPv4 tail]:65535 */ .optional = true, .check = listen_ok,
	  .description = "Where GET /metrics answers with the Prometheus text format: ADDRESS:PORT or [IPv6]:PORT, numeric. "
			 "Empty: no endpoint (kvmcctl metrics still prints the same)." },
	{ 0 },
};

const struct config_section metrics_config_section = {
	.name = "metrics", .offset = offsetof(struct kvmcd_config, metrics), .defaults = &defaults, .keys = keys,
};
