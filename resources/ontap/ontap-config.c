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

const struct config_section ontap_config_section = {
	.name = "ontap",
	.offset = offsetof(struct kvmcd_config, ontap),
	.defaults = &defaults,
	.keys = keys,
	.check = check,
	.check_runtime = check_runtime,
};
