/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Checks an [ontap] section without libcurl: the same checks ontap_client_new() starts with, so
 * kvmcd can refuse a bad section at start-up (and `kvmcd --check-config` can say so) on every
 * node while loading the client module (libcurl and its TLS stack) only on the node that becomes
 * leader. Linked into kvmcd's config code together with credentials.c and error.c, which call no
 * libcurl function either.
 */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include "ontap-test.h"
#include "secret.h"

#define ADDRESS_FORMS "host, host:port, [IPv6] or [IPv6]:port, port 1..65535"

static int port_check(const char *p, const char **why)
{
	unsigned long n = 0;

	if (!*p) {
		*why = "has an empty port (expected " ADDRESS_FORMS ")";
		return -EINVAL;
	}
	for (; *p; p++) {
		if (*p < '0' || *p > '9') {
			*why = "has a port that is not a number (expected " ADDRESS_FORMS ")";
			return -EINVAL;
		}
		n = n * 10 + (unsigned long)(*p - '0');
		if (n > 65535)
			break;
	}
	if (n < 1 || n > 65535) {
		*why = "has a port outside 1..65535";
		return -EINVAL;
	}
	return 0;
}

int ontap_address_check(const char *a, const char **why)
{
	const char *colon;

	if (!a || !*a) {
		*why = "is empty";
		return -EINVAL;
	}
	for (const char *p = a; *p; p++)
		if ((unsigned char)*p <= ' ' || *p == 0x7f || strchr("/@?#\\%", *p)) {
			*why = "must be " ADDRESS_FORMS ", without scheme, path, user, blanks or control characters";
			return -EINVAL;
		}
	if (*a == '[') {
		const char *close = strchr(a, ']');

		if (!close) {
			*why = "has '[' without ']'";
			return -EINVAL;
		}
		if (close == a + 1 || strspn(a + 1, "0123456789abcdefABCDEF:.") != (size_t)(close - a - 1) ||
		    !memchr(a + 1, ':', (size_t)(close - a - 1))) {
			*why = "has no IPv6 address between '[' and ']'";
			return -EINVAL;
		}
		if (close[1] == '\0')
			return 0;
		if (close[1] != ':') {
			*why = "must be [IPv6] or [IPv6]:port";
			return -EINVAL;
		}
		return port_check(close + 2, why);
	}
	if (strpbrk(a, "[]")) {
		*why = "must be " ADDRESS_FORMS;
		return -EINVAL;
	}
	colon = strchr(a, ':');
	if (!colon)
		return 0;
	if (strchr(colon + 1, ':')) {
		*why = "looks like an IPv6 address: write it as [IPv6] or [IPv6]:port";
		return -EINVAL;
	}
	if (colon == a) {
		*why = "has an empty host (expected " ADDRESS_FORMS ")";
		return -EINVAL;
	}
	return port_check(colon + 1, why);
}

/* A PEM file named in the config: it must exist and be readable by this process. */
static int check_readable(const char *key, const char *path, const char **ret_key, struct ontap_error *err)
{
	if (!path || access(path, R_OK) == 0)
		return 0;
	int r = -errno;

	if (ret_key)
		*ret_key = key;
	if (err)
		ontap_error_setf(err, r, "%s '%s': %s", key, path, strerror(-r));
	return r;
}

int ontap_options_validate(const struct ontap_options *opts, const char **ret_key, struct ontap_error *err)
{
	const char *why;

	if (opts->address && ontap_address_check(opts->address, &why) < 0) {
		if (ret_key)
			*ret_key = "address";
		if (err)
			ontap_error_setf(err, -EINVAL, "ONTAP address '%s' %s", opts->address, why);
		return -EINVAL;
	}
	if (!!opts->client_cert != !!opts->client_key) {
		if (ret_key)
			*ret_key = opts->client_cert ? "client_cert" : "client_key";
		if (err)
			ontap_error_setf(err, -EINVAL, "client_cert and client_key must be given together");
		return -EINVAL;
	}
	if (opts->address && !opts->credentials_file && !opts->client_cert) {
		if (ret_key)
			*ret_key = "address";
		if (err)
			ontap_error_setf(err, -EINVAL, "neither credentials_file nor client_cert is configured");
		return -EINVAL;
	}
	return 0;
}

static int options_check(const struct ontap_options *opts, uid_t credentials_owner, char **ret_user,
			 char **ret_password, const char **ret_key, struct ontap_error *err)
{
	char *user = NULL, *password = NULL;
	int r;

	if (ret_user)
		*ret_user = NULL;
	if (ret_password)
		*ret_password = NULL;
	if (!opts || !opts->address || !*opts->address) {
		if (ret_key)
			*ret_key = "address";
		if (err)
			ontap_error_setf(err, -EINVAL, "ONTAP address is not configured");
		return -EINVAL;
	}
	r = ontap_options_validate(opts, ret_key, err);
	if (r < 0)
		return r;
	r = check_readable("ca_file", opts->ca_file, ret_key, err);
	if (r >= 0)
		r = check_readable("client_cert", opts->client_cert, ret_key, err);
	if (r >= 0)
		r = check_readable("client_key", opts->client_key, ret_key, err);
	if (r < 0)
		return r;
	if (opts->credentials_file) {
		r = ontap_credentials_load(opts->credentials_file, credentials_owner, &user, &password, err);
		if (r < 0) {
			if (ret_key)
				*ret_key = "credentials_file";
			return r;
		}
	}
	if (ret_user && ret_password) {
		*ret_user = user;
		*ret_password = password;
	} else {
		ontap_secret_free(user);
		ontap_secret_free(password);
	}
	return 0;
}

int ontap_options_check_for_test(const struct ontap_options *opts, uid_t credentials_owner,
				 char **ret_user, char **ret_password, struct ontap_error *err)
{
	return options_check(opts, credentials_owner, ret_user, ret_password, NULL, err);
}

int ontap_options_check_key(const struct ontap_options *opts, const char **ret_key, struct ontap_error *err)
{
	return options_check(opts, 0, NULL, NULL, ret_key, err);
}

int ontap_options_check(const struct ontap_options *opts, struct ontap_error *err)
{
	return ontap_options_check_key(opts, NULL, err);
}
