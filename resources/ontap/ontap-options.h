/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * How to reach one ONTAP cluster. Filled from the [ontap] section of kvmcd.conf by
 * agent/config.c; consumed by the ONTAP client (resources/ontap/). Strings are owned by whoever
 * fills the struct; ontap_options_clear() frees them.
 */
#pragma once

#include <stdbool.h>
#include <stdlib.h>

struct ontap_options {
	char *address;          /* management LIF: "host" or "host:port"; requests go to https://address/api */
	char *svm;              /* data SVM kvmcd provisions in */
	char *credentials_file; /* "username=...\npassword=...\n"; must be owned by root, mode 0600/0400 */
	char *ca_file;          /* PEM CA bundle to verify ONTAP's certificate; NULL = system CAs */
	char *client_cert;      /* optional PEM client certificate (certificate auth) */
	char *client_key;       /* its key */
	bool tls_verify;        /* default true; false only with a loud warning */
	unsigned max_concurrency;     /* requests in flight per cluster, default 8 */
	unsigned request_timeout_ms;  /* one HTTP exchange, default 30000 */
	unsigned job_timeout_ms;      /* waiting for an async job, default 600000 */
};

static inline void ontap_options_clear(struct ontap_options *o)
{
	free(o->address); free(o->svm); free(o->credentials_file);
	free(o->ca_file); free(o->client_cert); free(o->client_key);
	*o = (struct ontap_options){ .tls_verify = true, .max_concurrency = 8,
				     .request_timeout_ms = 30000, .job_timeout_ms = 600000 };
}
