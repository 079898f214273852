/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Strings that held a password: zeroed before they go back to the allocator. */
#pragma once

#include <stdlib.h>
#include <string.h>

static inline void ontap_secret_free(char *s)
{
	if (s) {
		explicit_bzero(s, strlen(s));
		free(s);
	}
}
