/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Checks an [ontap] section without libcurl: the same checks ontap_client_new() starts with, so
 * kvmcd can refuse a bad section at start-up on every node while loading the client module
 * (libcurl and its TLS stack) only on the node that becomes leader. Linked into kvmcd itself
 * together with credentials.c and error.c, which call no libcurl function either.
 */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include "ontap-test.h"
#include "secret.h"

/* A PEM file named in the config: it must exist and be readable by this process. */
static int check_readable(const char *key, const char *path, struct ontap_error *err)
{
	if (!path || access(path, R_OK) == 0)
		return 0;
	int r = -errno;

	if (err)
		ontap_error_setf(err, r, "%s '%s': %s", key, path, strerror(-r));
	return r;
}

int ontap_options_check_for_test(const struct ontap_options *opts, uid_t credentials_owner,
				 char **ret_user, char **ret_password, struct ontap_error *err)
{
	char *user = NULL, *password = NULL;
	int r;

	if (ret_user)
		*ret_user = NULL;
	if (ret_password)
		*ret_password = NULL;
	if (!opts || !opts->address || !*opts->address) {
		if (err)
			ontap_error_setf(err, -EINVAL, "ONTAP address is not configured");
		return -EINVAL;
	}
	if (strpbrk(opts->address, "/@?# \t\r\n")) {
		if (err)
			ontap_error_setf(err, -EINVAL, "ONTAP address '%s' must be host or host:port", opts->address);
		return -EINVAL;
	}
	if (!!opts->client_cert != !!opts->client_key) {
		if (err)
			ontap_error_setf(err, -EINVAL, "client_cert and client_key must be given together");
		return -EINVAL;
	}
	if (!opts->credentials_file && !opts->client_cert) {
		if (err)
			ontap_error_setf(err, -EINVAL, "neither credentials_file nor client_cert is configured");
		return -EINVAL;
	}
	r = check_readable("ca_file", opts->ca_file, err);
	if (r >= 0)
		r = check_readable("client_cert", opts->client_cert, err);
	if (r >= 0)
		r = check_readable("client_key", opts->client_key, err);
	if (r < 0)
		return r;
	if (opts->credentials_file) {
		r = ontap_credentials_load(opts->credentials_file, credentials_owner, &user, &password, err);
		if (r < 0)
			return r;
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

int ontap_options_check(const struct ontap_options *opts, struct ontap_error *err)
{
	return ontap_options_check_for_test(opts, 0, NULL, NULL, err);
}
