/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Mount units kvmcd owns: names, text, fstab conflicts, and the worker jobs that write and
 * remove them. The choice of a unit over an fstab line is explained in mount-unit.h. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "macros.h"
#include "mount-unit.h"

#define UNIT_DIR "/systemd/system"
#define WANTS_DIR UNIT_DIR "/remote-fs.target.wants"
#define FILE_MAX (1u << 20)        /* fstab or a unit larger than this is not one we read */

static bool path_normalised(const char *p)
{
	if (!p || p[0] != '/' || !p[1] || strlen(p) >= PATH_MAX)
		return false;
	for (const char *c = p; *c; c++) {
		if (*c != '/')
			continue;
		const char *n = c + 1;
		if (*n == '/' || *n == '\0')
			return false;                      /* "//" or a trailing '/' */
		if (n[0] == '.' && (n[1] == '/' || n[1] == '\0'))
			return false;
		if (n[0] == '.' && n[1] == '.' && (n[2] == '/' || n[2] == '\0'))
			return false;
	}
	return true;
}

int mount_unit_name(const char *where, char **out)
{
	if (!path_normalised(where))
		return -EINVAL;
	size_t n = strlen(where);
	char *s = malloc(n * 4 + sizeof ".mount");
	if (!s)
		return -ENOMEM;
	char *w = s;
	for (const char *c = where + 1; *c; c++) {
		unsigned char u = (unsigned char)*c;
		if (u == '/')
			*w++ = '-';
		else if ((u >= 'a' && u <= 'z') || (u >= 'A' && u <= 'Z') || (u >= '0' && u <= '9') || u == ':' ||
			 u == '_' || (u == '.' && w != s))
			*w++ = (char)u;
		else
			w += sprintf(w, "\\x%02x", u);
	}
	strcpy(w, ".mount");
	*out = s;
	return 0;
}

/* Appends to a growing string; false on ENOMEM (the buffer is then freed). */
struct sbuf {
	char *s;
	size_t len, cap;
	bool failed;
};

static void _printf_(2, 3) sb_add(struct sbuf *b, const char *fmt, ...)
{
	if (b->failed)
		return;
	va_list ap;
	va_start(ap, fmt);
	int k = vsnprintf(b->s ? b->s + b->len : NULL, b->s ? b->cap - b->len : 0, fmt, ap);
	va_end(ap);
	if (k < 0)
		goto fail;
	if (!b->s || b->len + (size_t)k >= b->cap) {
		size_t cap = (b->cap ? b->cap : 256);
		while (cap <= b->len + (size_t)k)
			cap *= 2;
		char *n = realloc(b->s, cap);
		if (!n)
			goto fail;
		b->s = n;
		b->cap = cap;
		va_start(ap, fmt);
		vsnprintf(b->s + b->len, b->cap - b->len, fmt, ap);
		va_end(ap);
	}
	b->len += (size_t)k;
	return;
fail:
	free(b->s);
	*b = (struct sbuf){ .failed = true };
}

/* A value for a unit file: '%' doubled (systemd specifiers); NULL when it holds a newline or
 * other control byte. Owned. */
static char *unit_value(const char *v)
{
	size_t n = 0;
	for (const char *c = v; *c; c++) {
		if ((unsigned char)*c < 0x20 || *c == 0x7f)
			return NULL;
		n += *c == '%' ? 2 : 1;
	}
	char *s = malloc(n + 1), *w = s;
	if (!s)
		return NULL;
	for (const char *c = v; *c; c++) {
		*w++ = *c;
		if (*c == '%')
			*w++ = '%';
	}
	*w = '\0';
	return s;
}

int mount_unit_read_what(const char *etc_root, const char *where, char **what)
{
	static const char key[] = "\nWhat=";
	_cleanup_free_ char *name = NULL;
	char path[PATH_MAX], text[4096];
	const char *w;
	ssize_t n;
	int fd, r;

	*what = NULL;
	r = mount_unit_name(where, &name);
	if (r < 0)
		return r;
	if (snprintf(path, sizeof path, "%s" UNIT_DIR "/%s", etc_root ? etc_root : "/etc", name) >= (int)sizeof path)
		return -EINVAL;
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return -errno;
	n = read(fd, text, sizeof text - 1);
	close(fd);
	if (n < 0)
		return -errno;
	text[n] = '\0';
	if (strncmp(text, MOUNT_UNIT_MARKER, strlen(MOUNT_UNIT_MARKER)) != 0 || !(w = strstr(text, key)))
		return -ENOENT;
	w += strlen(key);
	*what = strndup(w, strcspn(w, "\n"));
	return *what ? 0 : -ENOMEM;
}

int mount_unit_render(const struct mount_unit *u, char **out)
{
	if (!u || !u->what || !*u->what || !u->type || !*u->type || !path_normalised(u->where))
		return -EINVAL;
	_cleanup_free_ char *what = unit_value(u->what), *where = unit_value(u->where), *type = unit_value(u->type);
	_cleanup_free_ char *opts = unit_value(u->options ? u->options : "");
	_cleanup_free_ char *req = unit_value(u->requires ? u->requires : "");
	_cleanup_free_ char *after = unit_value(u->after ? u->after : "");
	_cleanup_free_ char *wants = unit_value(u->wants ? u->wants : "");
	if (!what || !where || !type || !opts || !req || !after || !wants)
		return -EINVAL;   /* a control byte (ENOMEM is indistinguishable here and as unlikely) */

	struct sbuf b = { 0 };
	sb_add(&b, "%s", MOUNT_UNIT_MARKER);
	sb_add(&b, "[Unit]\nDescription=kvmcd datastore mount %s (%s)\n", where, type);
	if (*req)
		sb_add(&b, "Requires=%s\n", req);
	if (*after)
		sb_add(&b, "After=%s\n", after);
	if (*wants)
		sb_add(&b, "Wants=%s\n", wants);
	sb_add(&b, "\n[Mount]\nWhat=%s\nWhere=%s\nType=%s\nOptions=%s%snofail\nTimeoutSec=%u\n", what, where, type,
	       opts, *opts ? "," : "", MOUNT_UNIT_TIMEOUT_SEC);
	sb_add(&b, "\n[Install]\nWantedBy=remote-fs.target\n");
	if (b.failed)
		return -ENOMEM;
	*out = b.s;
	return 0;
}

/* Copies one blank-separated fstab field, undoing octal escapes ("\040"). */
static size_t fstab_field(const char *p, const char *end, char *buf, size_t size)
{
	size_t n = 0;
	const char *c = p;
	while (c < end && *c != ' ' && *c != '\t') {
		char ch = *c++;
		if (ch == '\\' && end - c >= 3 && c[0] >= '0' && c[0] <= '3' && c[1] >= '0' && c[1] <= '7' &&
		    c[2] >= '0' && c[2] <= '7') {
			ch = (char)((c[0] - '0') * 64 + (c[1] - '0') * 8 + (c[2] - '0'));
			c += 3;
		}
		if (n + 1 < size)
			buf[n++] = ch;
	}
	buf[n] = '\0';
	return (size_t)(c - p);
}

unsigned mount_unit_fstab_find(const char *text, size_t len, const char *where)
{
	const char *p = text, *end = text + len;
	unsigned line = 0;
	char field[PATH_MAX];

	while (p < end) {
		const char *eol = memchr(p, '\n', (size_t)(end - p));
		if (!eol)
			eol = end;
		line++;
		const char *c = p;
		while (c < eol && (*c == ' ' || *c == '\t'))
			c++;
		if (c < eol && *c != '#') {
			c += fstab_field(c, eol, field, sizeof field);    /* the source */
			while (c < eol && (*c == ' ' || *c == '\t'))
				c++;
			if (c < eol) {
				fstab_field(c, eol, field, sizeof field);  /* the mount point */
				if (strcmp(field, where) == 0)
					return line;
			}
		}
		p = eol + 1;
	}
	return 0;
}

/* ---- the worker jobs -------------------------------------------------------------------------- */

int mount_unit_job_new(const char *etc_root, const char *where, const char *content, struct mount_unit_job **out)
{
	if (!etc_root || !where)
		return -EINVAL;
	struct mount_unit_job *j = calloc(1, sizeof *j);
	if (!j)
		return -ENOMEM;
	int r = mount_unit_name(where, &j->name);
	if (r < 0) {
		free(j);
		return r;
	}
	j->etc_root = strdup(etc_root);
	j->where = strdup(where);
	j->content = content ? strdup(content) : NULL;
	if (!j->etc_root || !j->where || (content && !j->content)) {
		mount_unit_job_free(j);
		return -ENOMEM;
	}
	*out = j;
	return 0;
}

void mount_unit_job_free(void *job)
{
	struct mount_unit_job *j = job;
	if (!j)
		return;
	free(j->etc_root);
	free(j->where);
	free(j->name);
	free(j->content);
	free(j->detail);
	free(j);
}

static _printf_(3, 4) int job_fail(struct mount_unit_job *j, int r, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	free(j->detail);
	if (vasprintf(&j->detail, fmt, ap) < 0)
		j->detail = NULL;
	va_end(ap);
	j->r = r;
	return r;
}

/* Reads a whole small file. 0 and *out (owned, NUL-terminated), -ENOENT, -EFBIG, -errno. */
static int read_small(const char *path, char **out, size_t *len)
{
	_cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0)
		return -errno;
	struct stat st;
	if (fstat(fd, &st) < 0)
		return -errno;
	if (!S_ISREG(st.st_mode))
		return -EBADF;
	if ((uint64_t)st.st_size > FILE_MAX)
		return -EFBIG;
	char *buf = malloc((size_t)st.st_size + 1);
	if (!buf)
		return -ENOMEM;
	size_t n = 0;
	for (;;) {
		ssize_t k = read(fd, buf + n, (size_t)st.st_size - n);
		if (k < 0 && errno == EINTR)
			continue;
		if (k < 0) {
			int e = -errno;
			free(buf);
			return e;
		}
		if (k == 0 || (n += (size_t)k) == (size_t)st.st_size)
			break;
	}
	buf[n] = '\0';
	*out = buf;
	*len = n;
	return 0;
}

static int mkdir_p(const char *path, mode_t mode)
{
	char buf[PATH_MAX];
	if (snprintf(buf, sizeof buf, "%s", path) >= (int)sizeof buf)
		return -ENAMETOOLONG;
	for (char *c = buf + 1;; c++) {
		if (*c != '/' && *c != '\0')
			continue;
		char saved = *c;
		*c = '\0';
		if (mkdir(buf, mode) < 0 && errno != EEXIST)
			return -errno;
		struct stat st;
		if (stat(buf, &st) < 0)
			return -errno;
		if (!S_ISDIR(st.st_mode))
			return -ENOTDIR;
		if (!saved)
			return 0;
		*c = saved;
	}
}

static int fsync_dir(const char *dir)
{
	_cleanup_close_ int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0 || fsync(fd) < 0)
		return -errno;
	return 0;
}

/* Writes path atomically (temporary file in the same directory, fsync, rename, fsync dir). */
static int write_atomic(const char *dir, const char *path, const char *content)
{
	char tmp[PATH_MAX];
	if (snprintf(tmp, sizeof tmp, "%s.kvmcd-tmp", path) >= (int)sizeof tmp)
		return -ENAMETOOLONG;
	int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0644);
	if (fd < 0)
		return -errno;
	size_t len = strlen(content), n = 0;
	int r = 0;
	while (n < len) {
		ssize_t k = write(fd, content + n, len - n);
		if (k < 0 && errno == EINTR)
			continue;
		if (k < 0) {
			r = -errno;
			break;
		}
		n += (size_t)k;
	}
	if (r == 0 && fchmod(fd, 0644) < 0)
		r = -errno;
	if (r == 0 && fsync(fd) < 0)
		r = -errno;
	if (close(fd) < 0 && r == 0)
		r = -errno;
	if (r == 0 && rename(tmp, path) < 0)
		r = -errno;
	if (r < 0) {
		unlink(tmp);
		return r;
	}
	return fsync_dir(dir);
}

int mount_unit_install_fn(void *arg)
{
	struct mount_unit_job *j = arg;
	char unit_dir[PATH_MAX], wants_dir[PATH_MAX], path[PATH_MAX], link[PATH_MAX], fstab[PATH_MAX], target[PATH_MAX];
	int r;

	if (!j->content)
		return job_fail(j, -EINVAL, "no unit text");
	if (snprintf(unit_dir, sizeof unit_dir, "%s" UNIT_DIR, j->etc_root) >= (int)sizeof unit_dir ||
	    snprintf(wants_dir, sizeof wants_dir, "%s" WANTS_DIR, j->etc_root) >= (int)sizeof wants_dir ||
	    snprintf(path, sizeof path, "%s/%s", unit_dir, j->name) >= (int)sizeof path ||
	    snprintf(link, sizeof link, "%s/%s", wants_dir, j->name) >= (int)sizeof link ||
	    snprintf(fstab, sizeof fstab, "%s/fstab", j->etc_root) >= (int)sizeof fstab ||
	    snprintf(target, sizeof target, "../%s", j->name) >= (int)sizeof target)
		return job_fail(j, -ENAMETOOLONG, "%s: path too long", j->where);

	/* Someone else's mount of this point: never shadowed. */
	_cleanup_free_ char *text = NULL;
	size_t len = 0;
	r = read_small(fstab, &text, &len);
	if (r < 0 && r != -ENOENT)
		return job_fail(j, r, "reading %s: %s", fstab, strerror(-r));
	unsigned line = r == 0 ? mount_unit_fstab_find(text, len, j->where) : 0;
	if (line)
		return job_fail(j, -EEXIST, "%s line %u mounts %s: that mount is not kvmcd's (remove the line to let "
				"kvmcd own the mount point)", fstab, line, j->where);
	free(TAKE_PTR(text));

	r = read_small(path, &text, &len);
	if (r < 0 && r != -ENOENT)
		return job_fail(j, r, "reading %s: %s", path, strerror(-r));
	if (r == 0 && strncmp(text, MOUNT_UNIT_MARKER, strlen(MOUNT_UNIT_MARKER)) != 0)
		return job_fail(j, -EEXIST, "%s exists and was not written by kvmcd: kvmcd does not replace it", path);
	if (r != 0 || strcmp(text, j->content) != 0) {
		r = mkdir_p(unit_dir, 0755);
		if (r < 0)
			return job_fail(j, r, "creating %s: %s", unit_dir, strerror(-r));
		r = write_atomic(unit_dir, path, j->content);
		if (r < 0)
			return job_fail(j, r, "writing %s: %s", path, strerror(-r));
		j->changed = true;
	}

	/* Enabled as `systemctl enable` would do it for WantedBy=remote-fs.target. */
	char have[PATH_MAX];
	ssize_t k = readlink(link, have, sizeof have - 1);
	if (k < 0 || (size_t)k != strlen(target) || memcmp(have, target, (size_t)k) != 0) {
		r = mkdir_p(wants_dir, 0755);
		if (r < 0)
			return job_fail(j, r, "creating %s: %s", wants_dir, strerror(-r));
		char tmp[PATH_MAX];
		if (snprintf(tmp, sizeof tmp, "%s.kvmcd-tmp", link) >= (int)sizeof tmp)
			return job_fail(j, -ENAMETOOLONG, "%s: path too long", link);
		unlink(tmp);
		if (symlink(target, tmp) < 0 || rename(tmp, link) < 0) {
			r = -errno;
			unlink(tmp);
			return job_fail(j, r, "linking %s: %s", link, strerror(-r));
		}
		r = fsync_dir(wants_dir);
		if (r < 0)
			return job_fail(j, r, "syncing %s: %s", wants_dir, strerror(-r));
		j->changed = true;
	}

	if (j->mkdir_where) {
		r = mkdir_p(j->where, 0755);
		if (r < 0)
			return job_fail(j, r, "creating the mount point %s: %s", j->where, strerror(-r));
	}
	j->r = 0;
	return 0;
}

int mount_unit_remove_fn(void *arg)
{
	struct mount_unit_job *j = arg;
	char unit_dir[PATH_MAX], wants_dir[PATH_MAX], path[PATH_MAX], link[PATH_MAX], target[PATH_MAX];
	int r;

	if (snprintf(unit_dir, sizeof unit_dir, "%s" UNIT_DIR, j->etc_root) >= (int)sizeof unit_dir ||
	    snprintf(wants_dir, sizeof wants_dir, "%s" WANTS_DIR, j->etc_root) >= (int)sizeof wants_dir ||
	    snprintf(path, sizeof path, "%s/%s", unit_dir, j->name) >= (int)sizeof path ||
	    snprintf(link, sizeof link, "%s/%s", wants_dir, j->name) >= (int)sizeof link ||
	    snprintf(target, sizeof target, "../%s", j->name) >= (int)sizeof target)
		return job_fail(j, -ENAMETOOLONG, "%s: path too long", j->where);

	/* The link first: a host that dies in between boots without the mount, never with a link
	 * to a missing unit. Only our own relative link; an administrator's is left alone. */
	char have[PATH_MAX];
	ssize_t k = readlink(link, have, sizeof have - 1);
	if (k >= 0 && (size_t)k == strlen(target) && memcmp(have, target, (size_t)k) == 0) {
		if (unlink(link) < 0 && errno != ENOENT) {
			r = -errno;
			return job_fail(j, r, "removing %s: %s", link, strerror(-r));
		}
		r = fsync_dir(wants_dir);
		if (r < 0)
			return job_fail(j, r, "syncing %s: %s", wants_dir, strerror(-r));
		j->changed = true;
	}

	_cleanup_free_ char *text = NULL;
	size_t len = 0;
	r = read_small(path, &text, &len);
	if (r == -ENOENT)
		return j->r = 0;
	if (r < 0)
		return job_fail(j, r, "reading %s: %s", path, strerror(-r));
	if (strncmp(text, MOUNT_UNIT_MARKER, strlen(MOUNT_UNIT_MARKER)) != 0)
		return j->r = 0;                /* not ours: never touched */
	if (unlink(path) < 0 && errno != ENOENT) {
		r = -errno;
		return job_fail(j, r, "removing %s: %s", path, strerror(-r));
	}
	r = fsync_dir(unit_dir);
	if (r < 0)
		return job_fail(j, r, "syncing %s: %s", unit_dir, strerror(-r));
	j->changed = true;
	return j->r = 0;
}
