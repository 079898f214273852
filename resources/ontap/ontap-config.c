/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The [ontap] section of kvmcd.conf: its keys with bounds and descriptions, its defaults
 * (ONTAP_OPTIONS_DEFAULTS, ontap-options.h, the only place they live), the rules across keys
 * checked while parsing (ontap_options_validate()) and the file checks kvmcd runs at start-up and
 * for --check-config (ontap_options_check_key(), what the leader's client runs too). Collected
 * by agent/config.c; compiled into the config code (agent_config_lib), not the client module.
 */
#include <errno.h>
#include <limits.h>
#include <stddef.h>
#include <stdio.h>

#include "agent/config.h"
#include "ontap-client.h"

static const struct ontap_options defaults = ONTAP_OPTIONS_DEFAULTS;

static bool check_address(const char *value, const char **why) { return ontap_address_check(value, why) == 0; }

/* SVM names travel in URLs and show in status; keep them printable and unspaced. */
static bool check_svm(const char *value, const char **why)
{
	for (const char *p = value; *p; p++)
		if ((unsigned char)*p <= ' ' || *p == 0x7f) {
			*why = "must not contain blanks or control characters";
			return false;
		}
	return true;
}

#define O struct ontap_options

static const struct config_key keys[] = {
	{ .name = "address", CONFIG_STRING_AT(O, address), .max = 160, .optional = true, .check = check_address,
	  .description = "ONTAP cluster management LIF: host, host:port, [IPv6] or [IPv6]:port (port 1..65535, "
			 "default 443). Unset: no ONTAP." },
	{ .name = "svm", CONFIG_STRING_AT(O, svm), .max = 127, .optional = true, .check = check_svm,
	  .description = "Data SVM kvmcd provisions in." },
	{ .name = "credentials_file", CONFIG_PATH_AT(O, credentials_file), .max = CONFIG_PATH_MAX, .optional = true,
	  .description = "File with username=... and password=... lines (root-owned, mode 0600 or 0400). With "
			 "an address, it or client_cert must be set." },
	{ .name = "ca_file", CONFIG_PATH_AT(O, ca_file), .max = CONFIG_PATH_MAX, .optional = true,
	  .default_text = "the system CAs", .description = "PEM CA bundle to verify ONTAP's certificate." },
	{ .name = "client_cert", CONFIG_PATH_AT(O, client_cert), .max = CONFIG_PATH_MAX, .optional = true,
	  .description = "PEM client certificate (certificate authentication); needs client_key." },
	{ .name = "client_key", CONFIG_PATH_AT(O, client_key), .max = CONFIG_PATH_MAX, .optional = true,
	  .description = "Key of client_cert." },
	{ .name = "tls_verify", CONFIG_BOOL_AT(O, tls_verify),
	  .description = "Verify ONTAP's TLS certificate; false only for labs." },
	{ .name = "max_concurrency", CONFIG_UINT_AT(O, max_concurrency), .min = 1, .max = 64,
	  .description = "Requests in flight to the ONTAP cluster (Trident keeps below 20 per management LIF)." },
	{ .name = "request_timeout", CONFIG_DURATION_AT(O, request_timeout_ms), .min = 1000, .max = 3600000,
	  .unit = "ms", .description = "One HTTP exchange with ONTAP." },
	{ .name = "job_timeout", CONFIG_DURATION_AT(O, job_timeout_ms), .min = 1000, .max = 86400000, .unit = "ms",
	  .description = "Waiting for an asynchronous ONTAP job." },
	{ 0 },
};

#undef O

/* What needs no file system, while parsing, with the line of the key at fault. */
static int check(void *section, struct config_check *chk)
{
	struct ontap_error err = { 0 };
	const char *key = "address";
	char buf[512];

	if (ontap_options_validate(section, &key, &err) < 0)
		config_check_error(chk, key, "%s", ontap_error_format(&err, buf, sizeof(buf)));
	ontap_error_clear(&err);
	return 0;
}

/* The files, exactly as the daemon checks them at start-up (and the client when it is built). */
static int check_runtime(const void *section, const char **key, char **problem)
{
	const struct ontap_options *o = section;
	struct ontap_error err = { 0 };
	char buf[PATH_MAX + 256];
	int r;

	if (!o->address)
		return 0; /* no ONTAP: nothing the daemon would check */
	*key = "address";
	r = ontap_options_check_key(o, key, &err);
	if (r < 0 && r != -ENOMEM && asprintf(problem, "%s", ontap_error_format(&err, buf, sizeof(buf))) < 0)
		r = -ENOMEM;
	ontap_error_clear(&err);
	return r;
}

/* ---- [ontap_peer] (ontap-options.h) ---- */

static const struct ontap_peer_options peer_defaults = ONTAP_PEER_OPTIONS_DEFAULTS;

/* A cluster name as ONTAP allows it (letters, digits, '-', '_', '.'; up to 44 characters in
 * `cluster create`), compared without case with the peerings' peer.cluster.name. */
static bool check_cluster_name(const char *value, const char **why)
{
	for (const char *p = value; *p; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') || *p == '-' ||
		      *p == '_' || *p == '.')) {
			*why = "must hold only letters, digits, '-', '_' and '.'";
			return false;
		}
	return true;
}

#define P struct ontap_peer_options

static const struct config_key peer_keys[] = {
	{ .name = "cluster", CONFIG_STRING_AT(P, cluster), .max = 44, .optional = true, .check = check_cluster_name,
	  .description = "Name of the peer ONTAP cluster holding SnapMirror destination SVMs, as the source SVM's "
			 "peerings name it (`vserver peer show -fields peer-cluster`). Unset: SnapMirror destinations "
			 "are on [ontap]'s cluster only." },
	{ .name = "address", CONFIG_STRING_AT(P, ontap.address), .max = 160, .optional = true, .check = check_address,
	  .description = "That cluster's management LIF: host, host:port, [IPv6] or [IPv6]:port." },
	{ .name = "credentials_file", CONFIG_PATH_AT(P, ontap.credentials_file), .max = CONFIG_PATH_MAX, .optional = true,
	  .description = "As [ontap]'s, for that cluster's kvmcd account (it needs /api/snapmirror and "
			 "/api/storage/volumes)." },
	{ .name = "ca_file", CONFIG_PATH_AT(P, ontap.ca_file), .max = CONFIG_PATH_MAX, .optional = true,
	  .default_text = "the system CAs", .description = "PEM CA bundle to verify that cluster's certificate." },
	{ .name = "client_cert", CONFIG_PATH_AT(P, ontap.client_cert), .max = CONFIG_PATH_MAX, .optional = true,
	  .description = "PEM client certificate for that cluster; needs client_key." },
	{ .name = "client_key", CONFIG_PATH_AT(P, ontap.client_key), .max = CONFIG_PATH_MAX, .optional = true,
	  .description = "Key of client_cert." },
	{ .name = "tls_verify", CONFIG_BOOL_AT(P, ontap.tls_verify),
	  .description = "Verify that cluster's TLS certificate; false only for labs." },
	{ .name = "max_concurrency", CONFIG_UINT_AT(P, ontap.max_concurrency), .min = 1, .max = 64,
	  .description = "Requests in flight to that cluster." },
	{ .name = "request_timeout", CONFIG_DURATION_AT(P, ontap.request_timeout_ms), .min = 1000, .max = 3600000,
	  .unit = "ms", .description = "One HTTP exchange with that cluster." },
	{ .name = "job_timeout", CONFIG_DURATION_AT(P, ontap.job_timeout_ms), .min = 1000, .max = 86400000, .unit = "ms",
	  .description = "Waiting for an asynchronous job on that cluster." },
	{ 0 },
};

#undef P

static int peer_check(void *section, struct config_check *chk)
{
	struct ontap_peer_options *o = section;
	struct ontap_error err = { 0 };
	const char *key = "address";
	char buf[512];

	/* what the admin wrote, whether or not its value was taken (a refused one is its own error) */
	bool cluster = config_check_key_set(chk, "cluster"), address = config_check_key_set(chk, "address");

	if (cluster && !address)
		config_check_error(chk, "cluster", "needs the address of that cluster's management LIF");
	else if (address && !cluster)
		config_check_error(chk, "address", "needs the name of the cluster it reaches (cluster = ..., as ONTAP's "
				   "SVM peerings name it)");
	else if (ontap_options_validate(&o->ontap, &key, &err) < 0)
		config_check_error(chk, key, "%s", ontap_error_format(&err, buf, sizeof(buf)));
	ontap_error_clear(&err);
	return 0;
}

static int peer_check_runtime(const void *section, const char **key, char **problem)
{
	const struct ontap_peer_options *o = section;

	return check_runtime(&o->ontap, key, problem);
}

const struct config_section ontap_peer_config_section = {
	.name = "ontap_peer",
	.offset = offsetof(struct kvmcd_config, ontap_peer),
	.defaults = &peer_defaults,
	.keys = peer_keys,
	.check = peer_check,
	.check_runtime = peer_check_runtime,
};

const struct config_section ontap_config_section = {
	.name = "ontap",
	.offset = offsetof(struct kvmcd_config, ontap),
	.defaults = &defaults,
	.keys = keys,
	.check = check,
	.check_runtime = check_runtime,
};
