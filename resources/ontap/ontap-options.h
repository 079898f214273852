/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * How to reach one ONTAP cluster: the [ontap] section of kvmcd.conf, declared by this module
 * (ontap-config.c: the keys, their bounds and descriptions) and consumed by the ONTAP client
 * (resources/ontap/). ONTAP_OPTIONS_DEFAULTS is the one place its defaults live. Strings are
 * owned by whoever fills the struct; ontap_options_clear() frees them.
 */
#pragma once

#include <stdbool.h>
#include <stdlib.h>

struct ontap_options {
	char *address;          /* management LIF: "host", "host:port", "[v6]" or "[v6]:port";
				 * requests go to https://address/api */
	char *svm;              /* data SVM kvmcd provisions in */
	char *credentials_file; /* "username=...\npassword=...\n"; must be owned by root, mode 0600/0400 */
	char *ca_file;          /* PEM CA bundle to verify ONTAP's certificate; NULL = system CAs */
	char *client_cert;      /* optional PEM client certificate (certificate auth) */
	char *client_key;       /* its key */
	bool tls_verify;        /* false only with a loud warning */
	unsigned max_concurrency;     /* requests in flight per cluster; 16 by default: below the
				       * 20 per management LIF Trident keeps to (notes ontap-rest.md
				       * section 9.17), ONTAP's own limits being its configurable
				       * `security session limit`s */
	unsigned request_timeout_ms;  /* one HTTP exchange */
	unsigned job_timeout_ms;      /* waiting for an async job */
};

/* Every default of [ontap] (unset strings are NULL). */
#define ONTAP_OPTIONS_DEFAULTS                                                                     \
	{                                                                                          \
		.tls_verify = true, .max_concurrency = 16, .request_timeout_ms = 30000,            \
		.job_timeout_ms = 600000,                                                          \
	}

/* Frees the strings and puts every field back to its default. */
static inline void ontap_options_clear(struct ontap_options *o)
{
	free(o->address); free(o->svm); free(o->credentials_file);
	free(o->ca_file); free(o->client_cert); free(o->client_key);
	*o = (struct ontap_options)ONTAP_OPTIONS_DEFAULTS;
}

/*
 * Is address one struct ontap_options may hold: "host", "host:port", "[IPv6]" or "[IPv6]:port",
 * port 1..65535, no scheme, path, user, blanks or control characters? 0, or -EINVAL with *why
 * (static text to show after the quoted address, e.g. "has an empty port (...)").
 */
int ontap_address_check(const char *address, const char **why);

struct ontap_error;

/*
 * The checks of ontap_options_check() that need no file system, for a config parser: the address
 * (when set) as ontap_address_check() wants it, client_cert with client_key, and with an address
 * a way to log in (credentials_file or client_cert). An unset address is no problem here (no
 * ONTAP configured). 0, or -EINVAL with *ret_key (the [ontap] key at fault) and err (may be NULL).
 */
int ontap_options_validate(const struct ontap_options *opts, const char **ret_key, struct ontap_error *err);

/* ontap_options_check() (ontap-client.h) that also says which [ontap] key the problem is about
 * (*ret_key, may be NULL): the one implementation of both. */
int ontap_options_check_key(const struct ontap_options *opts, const char **ret_key, struct ontap_error *err);

/*
 * [ontap_peer]: the ONTAP cluster that holds SnapMirror destinations of another cluster than
 * [ontap]'s (agent/mirror.c). ONTAP manages a relationship from its destination's cluster, so
 * the leader creates the DP volume and the relationship, and drives its transfers and DR
 * transitions, through a second client built from these options; the source's snapshots and
 * its SVM peerings stay on [ontap]'s. A destination SVM is on this cluster when [ontap]'s SVM
 * peering with it names `cluster` as the peer cluster. ontap.svm is not used (the destination SVM
 * comes from the spec).
 */
struct ontap_peer_options {
	char *cluster;               /* the peer cluster's name, as ONTAP's SVM peerings give it;
				      * NULL = no [ontap_peer] */
	struct ontap_options ontap;  /* its management LIF, login and limits */
};

#define ONTAP_PEER_OPTIONS_DEFAULTS { .ontap = ONTAP_OPTIONS_DEFAULTS }

/* The [ontap] and [ontap_peer] sections of kvmcd.conf (ontap-config.c; collected by agent/config.c). */
struct config_section;
extern const struct config_section ontap_config_section;
extern const struct config_section ontap_peer_config_section;
