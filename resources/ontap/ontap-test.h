/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Test-only entry points of the ONTAP client. Production code must not include this header:
 * it is the only way to relax the root-ownership rule of the credentials file.
 */
#pragma once

#include <sys/types.h>

#include "ontap-client.h"

/* Reads username/password; refuses a file not owned by required_owner or with group/other bits. */
int ontap_credentials_load(const char *path, uid_t required_owner, char **ret_user,
			   char **ret_password, struct ontap_error *err);

/* ontap_options_check() with another required owner for the credentials file; with ret_user and
 * ret_password it hands over what the file holds (owned by the caller, NULL without one). */
int ontap_options_check_for_test(const struct ontap_options *opts, uid_t credentials_owner,
				 char **ret_user, char **ret_password, struct ontap_error *err);

/* ontap_client_new() with another required owner for the credentials file. */
int ontap_client_new_for_test(struct ontap_client **ret, sd_event *event,
			      const struct ontap_options *opts, const char *node_name,
			      uid_t credentials_owner, struct ontap_error *err);
