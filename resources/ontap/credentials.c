/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The credentials file: "username=…\npassword=…\n", '#' comments. It must be a regular file
 * owned by root (the owner is overridable only through ontap-test.h) with no group/other
 * permission bits; anything else is refused with the file and the problem named. The password
 * is never copied into an error text or a log line.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "macros.h"
#include "ontap-test.h"
#include "secret.h"

static void wipe_freep(char **s) { ontap_secret_free(*s); }

int ontap_credentials_load(const char *path, uid_t required_owner, char **ret_user,
			   char **ret_password, struct ontap_error *err)
{
	_cleanup_close_ int fd = -1;
	_cleanup_(wipe_freep) char *buf = NULL, *user = NULL, *pass = NULL;
	struct stat st;
	size_t len = 0;
	char *line, *save = NULL;
	ssize_t n;

	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY);
	if (fd < 0) {
		int r = -errno;

		if (err)
			ontap_error_setf(err, r, "credentials file '%s': cannot open: %s", path, strerror(-r));
		return r;
	}
	if (fstat(fd, &st) < 0) {
		int r = -errno;

		if (err)
			ontap_error_setf(err, r, "credentials file '%s': %s", path, strerror(-r));
		return r;
	}
	if (!S_ISREG(st.st_mode)) {
		if (err)
			ontap_error_setf(err, -EPERM, "credentials file '%s': not a regular file", path);
		return -EPERM;
	}
	if (st.st_uid != required_owner) {
		if (err)
			ontap_error_setf(err, -EPERM,
					 "credentials file '%s': owned by uid %u, must be owned by uid %u (root)",
					 path, (unsigned) st.st_uid, (unsigned) required_owner);
		return -EPERM;
	}
	if (st.st_mode & 0077) {
		if (err)
			ontap_error_setf(err, -EPERM,
					 "credentials file '%s': mode %04o gives group/others access; it must be 0600 or 0400",
					 path, (unsigned) (st.st_mode & 07777));
		return -EPERM;
	}
	if (st.st_size > 64 * 1024) {
		if (err)
			ontap_error_setf(err, -EFBIG, "credentials file '%s': too large", path);
		return -EFBIG;
	}
	buf = calloc(1, (size_t) st.st_size + 1);
	if (!buf)
		return -ENOMEM;
	while (len < (size_t) st.st_size) {
		n = read(fd, buf + len, (size_t) st.st_size - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			int r = -errno;

			if (err)
				ontap_error_setf(err, r, "credentials file '%s': read: %s", path, strerror(-r));
			return r;
		}
		if (n == 0)
			break;
		len += (size_t) n;
	}
	buf[len] = '\0';

	for (line = strtok_r(buf, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		size_t l = strlen(line);
		char **slot;
		const char *v;

		if (l > 0 && line[l - 1] == '\r')
			line[--l] = '\0';
		while (*line == ' ' || *line == '\t')
			line++;
		if (*line == '\0' || *line == '#')
			continue;
		if (strncmp(line, "username=", 9) == 0) {
			slot = &user;
			v = line + 9;
		} else if (strncmp(line, "password=", 9) == 0) {
			slot = &pass;
			v = line + 9;
		} else {
			/* Name the key, never the line: it could be a password. */
			if (err)
				ontap_error_setf(err, -EINVAL,
						 "credentials file '%s': unknown line (expected username= or password=)",
						 path);
			return -EINVAL;
		}
		ontap_secret_free(*slot);
		*slot = strdup(v);
		if (!*slot)
			return -ENOMEM;
	}
	if (!user || !*user || !pass) {
		if (err)
			ontap_error_setf(err, -EINVAL, "credentials file '%s': needs username= and password=", path);
		return -EINVAL;
	}
	*ret_user = TAKE_PTR(user);
	*ret_password = TAKE_PTR(pass);
	return 0;
}
