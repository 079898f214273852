/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Parsers of tool output, the asynchronous step machinery and the flows OCFS2, GFS2 and the NAS
 * mounts share (fs-common.h says what each does). */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <systemd/sd-id128.h>

#include "fs-common.h"
#include "mount-unit.h"

#define DEFAULT_STEP_USEC (60 * USEC_PER_SEC)
#define LONG_STEP_FACTOR 4u              /* mkfs (discard of a large LUN), tunefs, jadd */
#define MOUNTINFO_MAX (64u << 20)
#define MESSAGE_MAX 600u

/* ---- small helpers ---------------------------------------------------------------------------- */

char **fs_strv_new(const char *first, ...)
{
	va_list ap;
	size_t n = 0;
	va_start(ap, first);
	for (const char *s = first; s; s = va_arg(ap, const char *))
		n++;
	va_end(ap);
	char **v = calloc(n + 1, sizeof *v);
	if (!v)
		return NULL;
	va_start(ap, first);
	size_t i = 0;
	for (const char *s = first; s; s = va_arg(ap, const char *)) {
		v[i] = strdup(s);
		if (!v[i++]) {
			va_end(ap);
			fs_strv_free(v);
			return NULL;
		}
	}
	va_end(ap);
	return v;
}

void fs_strv_free(char **v)
{
	if (!v)
		return;
	for (char **p = v; *p; p++)
		free(*p);
	free(v);
}

static bool plain_arg(const char *s)
{
	if (!*s)
		return false;
	for (; *s; s++)
		if (!strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_./:=,@+-%", *s))
			return false;
	return true;
}

char *fs_strv_join(const char *const *argv)
{
	char *buf = NULL;
	size_t size = 0;
	FILE *f = open_memstream(&buf, &size);
	if (!f)
		return NULL;
	for (size_t i = 0; argv[i]; i++) {
		if (i)
			fputc(' ', f);
		if (plain_arg(argv[i])) {
			fputs(argv[i], f);
			continue;
		}
		fputc('\'', f);
		for (const char *c = argv[i]; *c; c++)
			*c == '\'' ? fputs("'\\''", f) : fputc(*c, f);
		fputc('\'', f);
	}
	if (fclose(f) != 0) {
		free(buf);
		return NULL;
	}
	return buf;
}

uint64_t fs_step_timeout(const struct host_ctx *ctx)
{
	return ctx->step_timeout_usec ? ctx->step_timeout_usec : DEFAULT_STEP_USEC;
}

uint64_t fs_long_timeout(const struct host_ctx *ctx)
{
	return fs_step_timeout(ctx) * LONG_STEP_FACTOR;
}

static bool streq_ptr(const char *a, const char *b)
{
	return a && b && strcmp(a, b) == 0;
}

static bool fs_strv_contains(const char *const *v, const char *s)
{
	for (; v && *v; v++)
		if (streq_ptr(*v, s))
			return true;
	return false;
}

/* Next line of [*p, end): returns its start and length, advances *p; NULL at the end. */
static const char *next_line(const char **p, const char *end, size_t *len)
{
	if (*p >= end)
		return NULL;
	const char *s = *p, *nl = memchr(s, '\n', (size_t)(end - s));
	const char *e = nl ? nl : end;
	*len = (size_t)(e - s);
	*p = nl ? nl + 1 : end;
	return s;
}

/* A copy of [s, s+n) with leading and trailing blanks removed (and NULs cut). */
static char *strndup_trim(const char *s, size_t n)
{
	while (n && (*s == ' ' || *s == '\t'))
		s++, n--;
	while (n && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\r'))
		n--;
	return strndup(s, n);
}

static bool parse_uint(const char *s, size_t n, unsigned *out)
{
	unsigned long v = 0;
	size_t i = 0;
	while (i < n && (s[i] == ' ' || s[i] == '\t'))
		i++;
	if (i == n || s[i] < '0' || s[i] > '9')
		return false;
	for (; i < n && s[i] >= '0' && s[i] <= '9'; i++) {
		v = v * 10 + (unsigned long)(s[i] - '0');
		if (v > 1000000)
			return false;
	}
	*out = (unsigned)v;
	return true;
}

/* ---- parsers ---------------------------------------------------------------------------------- */

void fs_blkid_done(struct fs_blkid *b)
{
	if (!b)
		return;
	free(b->type);
	free(b->label);
	free(b->uuid);
	free(b->usage);
	free(b->pttype);
	free(b->ptuuid);
	*b = (struct fs_blkid){ 0 };
}

int fs_blkid_parse(const char *text, size_t len, struct fs_blkid *out)
{
	struct fs_blkid b = { 0 };
	const char *p = text, *end = text + len, *line;
	size_t n;

	while ((line = next_line(&p, end, &n))) {
		if (n && line[n - 1] == '\r')
			n--;
		if (n == 0)
			continue;
		const char *eq = memchr(line, '=', n);
		if (!eq || eq == line) {
			fs_blkid_done(&b);
			return -EINVAL;
		}
		size_t klen = (size_t)(eq - line);
		/* The value, with blkid's backslash escapes undone. */
		const char *v = eq + 1;
		size_t vlen = n - klen - 1;
		char *val = malloc(vlen + 1), *w = val;
		if (!val) {
			fs_blkid_done(&b);
			return -ENOMEM;
		}
		for (size_t i = 0; i < vlen; i++) {
			if (v[i] == '\\' && i + 1 < vlen)
				i++;
			if (v[i])
				*w++ = v[i];
		}
		*w = '\0';

		char **slot = NULL;
#define KEY(k) (klen == sizeof(k) - 1 && memcmp(line, k, klen) == 0)
		if (KEY("DEVNAME")) {
			free(val);
			continue;
		} else if (KEY("TYPE"))
			slot = &b.type;
		else if (KEY("LABEL"))
			slot = &b.label;
		else if (KEY("UUID"))
			slot = &b.uuid;
		else if (KEY("USAGE"))
			slot = &b.usage;
		else if (KEY("PTTYPE"))
			slot = &b.pttype;
		else if (KEY("PTUUID"))
			slot = &b.ptuuid;
#undef KEY
		b.n_props++;
		if (slot) {
			free(*slot);
			*slot = val;
		} else
			free(val);
	}
	*out = b;
	return 0;
}

void fs_super_done(struct fs_super *s)
{
	if (!s)
		return;
	free(s->label);
	free(s->uuid);
	free(s->cluster);
	free(s->stack);
	*s = (struct fs_super){ 0 };
}

/* If the trimmed line starts with `key`, the rest of it (after the key) in *rest. */
static bool line_key(const char *line, size_t n, const char *key, const char **rest, size_t *rest_len)
{
	while (n && (*line == ' ' || *line == '\t'))
		line++, n--;
	size_t k = strlen(key);
	if (n < k || memcmp(line, key, k) != 0)
		return false;
	*rest = line + k;
	*rest_len = n - k;
	return true;
}

static int set_field(char **slot, const char *s, size_t n)
{
	char *v = strndup_trim(s, n);
	if (!v)
		return -ENOMEM;
	free(*slot);
	*slot = v;
	return 0;
}

int fs_ocfs2_stats_parse(const char *text, size_t len, struct fs_super *out)
{
	struct fs_super s = { 0 };
	const char *p = text, *end = text + len, *line, *rest;
	size_t n, rn;
	bool have_slots = false, have_label = false;
	int r = 0;

	while (r == 0 && (line = next_line(&p, end, &n))) {
		if (line_key(line, n, "Max Node Slots:", &rest, &rn))
			have_slots = parse_uint(rest, rn, &s.slots) && s.slots > 0;
		else if (line_key(line, n, "Label:", &rest, &rn)) {
			r = set_field(&s.label, rest, rn);
			have_label = true;
		} else if (line_key(line, n, "UUID:", &rest, &rn))
			r = set_field(&s.uuid, rest, rn);
		else if (line_key(line, n, "Cluster stack:", &rest, &rn))
			r = set_field(&s.stack, rest, rn);
		else if (line_key(line, n, "Cluster name:", &rest, &rn))
			r = set_field(&s.cluster, rest, rn);
	}
	if (r == 0 && (!have_slots || !have_label))
		r = -EINVAL;
	if (r < 0) {
		fs_super_done(&s);
		return r;
	}
	*out = s;
	return 0;
}

int fs_gfs2_edit_parse(const char *text, size_t len, struct fs_super *out)
{
	struct fs_super s = { 0 };
	const char *p = text, *end = text + len, *line, *rest;
	size_t n, rn;
	_cleanup_free_ char *table = NULL;
	bool have_table = false;
	int r = 0;

	while (r == 0 && (line = next_line(&p, end, &n))) {
		if (line_key(line, n, "sb_lockproto", &rest, &rn))
			r = set_field(&s.stack, rest, rn);
		else if (line_key(line, n, "sb_locktable", &rest, &rn)) {
			r = set_field(&table, rest, rn);
			have_table = true;
		} else if (line_key(line, n, "uuid ", &rest, &rn))
			r = set_field(&s.uuid, rest, rn);
		else if (line_key(line, n, "journal", &rest, &rn)) {
			unsigned j;
			size_t i = 0;
			while (i < rn && rest[i] >= '0' && rest[i] <= '9')
				i++;
			if (i > 0 && i < rn && rest[i] == ':' && parse_uint(rest, i, &j))
				s.slots++;
		}
	}
	if (r == 0 && !have_table)
		r = -EINVAL;
	if (r == 0) {
		const char *colon = strchr(table, ':');
		if (colon) {
			s.cluster = strndup(table, (size_t)(colon - table));
			s.label = strdup(colon + 1);
		} else
			s.label = strdup(table);
		if (!s.label || (colon && !s.cluster))
			r = -ENOMEM;
	}
	if (r < 0) {
		fs_super_done(&s);
		return r;
	}
	*out = s;
	return 0;
}

void fs_mount_done(struct fs_mount *m)
{
	if (!m)
		return;
	free(m->mount_point);
	free(m->fstype);
	free(m->source);
	free(m->options);
	*m = (struct fs_mount){ 0 };
}

/* mountinfo's octal escapes ("\040" for a blank) undone, in place. */
static void unescape_octal(char *s)
{
	char *w = s;
	for (char *c = s; *c;) {
		if (c[0] == '\\' && c[1] >= '0' && c[1] <= '3' && c[2] >= '0' && c[2] <= '7' && c[3] >= '0' &&
		    c[3] <= '7') {
			char v = (char)((c[1] - '0') * 64 + (c[2] - '0') * 8 + (c[3] - '0'));
			c += 4;
			if (v)
				*w++ = v;
		} else
			*w++ = *c++;
	}
	*w = '\0';
}

#define MOUNTINFO_FIELDS 64

int fs_mountinfo_find(const char *text, size_t len, const char *mount_point, struct fs_mount *out)
{
	const char *p = text, *end = text + len, *line;
	size_t n;
	struct fs_mount found = { 0 };
	bool have = false;

	while ((line = next_line(&p, end, &n))) {
		_cleanup_free_ char *copy = strndup(line, n);
		if (!copy) {
			fs_mount_done(&found);
			return -ENOMEM;
		}
		char *f[MOUNTINFO_FIELDS], *save = NULL;
		size_t nf = 0;
		for (char *t = strtok_r(copy, " ", &save); t && nf < MOUNTINFO_FIELDS; t = strtok_r(NULL, " ", &save))
			f[nf++] = t;
		/* id parent maj:min root mount-point options [optional...] - fstype source super-options */
		size_t sep = 6;
		while (sep < nf && strcmp(f[sep], "-") != 0)
			sep++;
		if (nf < 7 || sep + 1 >= nf)
			continue;
		unsigned major, minor;
		char tail;
		if (sscanf(f[2], "%u:%u%c", &major, &minor, &tail) != 2)
			continue;
		unescape_octal(f[4]);
		if (strcmp(f[4], mount_point) != 0)
			continue;
		const char *source = sep + 2 < nf ? f[sep + 2] : "";
		struct fs_mount m = {
			.major = major, .minor = minor,
			.mount_point = strdup(f[4]), .fstype = strdup(f[sep + 1]),
			.source = strdup(source), .options = strdup(f[5]),
		};
		if (!m.mount_point || !m.fstype || !m.source || !m.options) {
			fs_mount_done(&m);
			fs_mount_done(&found);
			return -ENOMEM;
		}
		unescape_octal(m.fstype);
		unescape_octal(m.source);
		fs_mount_done(&found);
		found = m;          /* the last entry is the topmost */
		have = true;
	}
	if (!have)
		return -ENOENT;
	*out = found;
	return 0;
}

/* A value for the probe's detail: blanks and control bytes become '?'. */
static void put_value(FILE *f, const char *key, const char *v)
{
	if (!v)
		return;
	fprintf(f, " %s=", key);
	if (!*v)
		fputs("''", f);
	for (const unsigned char *c = (const unsigned char *)v; *c; c++)
		fputc(*c <= 0x20 || *c == 0x7f ? '?' : *c, f);
}

char *fs_probe_describe(const struct fs_blkid *b, const struct fs_super *super)
{
	char *buf = NULL;
	size_t size = 0;
	FILE *f = open_memstream(&buf, &size);
	if (!f)
		return NULL;
	if (b->n_props == 0)
		fputs("empty", f);
	else if (b->type) {
		for (const unsigned char *c = (const unsigned char *)b->type; *c; c++)
			fputc(*c <= 0x20 || *c == 0x7f || *c == '=' ? '?' : *c, f);
		if (super) {
			put_value(f, "label", super->label);
			put_value(f, "uuid", b->uuid);
			fprintf(f, " slots=%u", super->slots);
			put_value(f, "cluster", super->cluster);
			put_value(f, "stack", super->stack);
		} else {
			put_value(f, "label", b->label);
			put_value(f, "uuid", b->uuid);
			if (b->usage && strcmp(b->usage, "filesystem") != 0)
				put_value(f, "usage", b->usage);
		}
		put_value(f, "pttype", b->pttype);
	} else if (b->pttype) {
		fputs("partition-table", f);
		put_value(f, "pttype", b->pttype);
		put_value(f, "ptuuid", b->ptuuid);
	} else {
		fputs("signature", f);   /* properties without a type: still not empty */
		put_value(f, "uuid", b->uuid);
		put_value(f, "usage", b->usage);
	}
	if (fclose(f) != 0) {
		free(buf);
		return NULL;
	}
	return buf;
}

/* ---- the verdict ------------------------------------------------------------------------------ */

const char *host_gfs2_fsname(const char *label, char *buf)
{
	size_t n = strlen(label);
	if (n <= HOST_GFS2_FSNAME_MAX) {
		memcpy(buf, label, n + 1);
		return buf;
	}
	uint32_t h = 2166136261u;
	for (const unsigned char *c = (const unsigned char *)label; *c; c++)
		h = (h ^ *c) * 16777619u;
	snprintf(buf, HOST_GFS2_FSNAME_MAX + 1, "%.21s_%08x", label, h);
	return buf;
}

/* The value of " key=" in a probe detail (up to the next blank). Owned; NULL when absent. */
static char *detail_value(const char *detail, const char *key)
{
	size_t k = strlen(key);
	for (const char *c = strchr(detail, ' '); c; c = strchr(c + 1, ' ')) {
		if (strncmp(c + 1, key, k) == 0 && c[1 + k] == '=') {
			const char *v = c + 2 + k;
			return strndup(v, strcspn(v, " "));
		}
	}
	return NULL;
}

enum host_fs_verdict host_fs_verdict(enum ds_fs fs, const struct host_fs_params *p, const char *detail, char **why)
{
	if (why)
		*why = NULL;
	if (!detail)
		detail = "";
	if (strcmp(detail, "empty") == 0)
		return HOST_FS_MKFS;

	const char *want_type = fs == DS_FS_OCFS2 ? "ocfs2" : fs == DS_FS_GFS2 ? "gfs2" : NULL;
	const char *want_stack = fs == DS_FS_OCFS2 ? "pcmk" : "lock_dlm";
	char fsname[HOST_GFS2_FSNAME_MAX + 1];
	const char *want_label = !p || !p->label ? NULL : fs == DS_FS_GFS2 ? host_gfs2_fsname(p->label, fsname) : p->label;
	size_t tlen = strcspn(detail, " ");
	_cleanup_free_ char *label = detail_value(detail, "label"), *cluster = detail_value(detail, "cluster");
	_cleanup_free_ char *stack = detail_value(detail, "stack");
	const char *reason;

	if (!want_type || tlen != strlen(want_type) || strncmp(detail, want_type, tlen) != 0)
		reason = "not the file system this datastore uses";
	else if (!streq_ptr(label, want_label))
		reason = "its label is not this datastore's";
	else if (!streq_ptr(cluster, p->cluster_name))
		reason = "it was made for another cluster";
	else if (!streq_ptr(stack, want_stack))
		reason = fs == DS_FS_OCFS2 ? "its cluster stack is not pcmk (corosync + DLM)" : "its lock protocol is not lock_dlm";
	else
		return HOST_FS_ADOPT;
	if (why && asprintf(why, "holds %s: %s; kvmcd never formats a device that holds data", detail, reason) < 0)
		*why = NULL;
	return HOST_FS_FOREIGN;
}

/* ---- tool results ----------------------------------------------------------------------------- */

const char *fs_tool_message(const struct runner_result *res, char *buf, size_t size)
{
	const char *src = res->err;
	size_t len = res->err_len;
	bool blank = true;
	for (size_t i = 0; i < len && blank; i++)
		blank = src[i] == ' ' || src[i] == '\n' || src[i] == '\t' || src[i] == '\r' || src[i] == '\0';
	if (blank) {
		src = res->out;
		len = res->out_len;
	}
	size_t n = 0;
	bool space = false;
	for (size_t i = 0; i < len && n + 1 < size; i++) {
		unsigned char c = (unsigned char)src[i];
		if (c == ' ' || c == '\n' || c == '\t' || c == '\r') {
			space = n > 0;
			continue;
		}
		if (c == '\0')
			continue;
		if (space && n + 2 < size)
			buf[n++] = ' ';
		space = false;
		buf[n++] = (char)(c < 0x20 || c == 0x7f ? '?' : c);
	}
	buf[n] = '\0';
	return buf;
}

int fs_tool_errno(const struct runner_result *res)
{
	if (res->timed_out)
		return -ETIMEDOUT;
	if (res->cancelled)
		return -ECANCELED;
	if (res->signal || res->abandoned || res->exit_code < 0)
		return -EIO;
	if (res->exit_code == 0)
		return 0;
	char msg[MESSAGE_MAX];
	fs_tool_message(res, msg, sizeof msg);
	if (strstr(msg, "busy"))
		return -EBUSY;
	if (strstr(msg, "No such file or directory") || strstr(msg, "does not exist") || strstr(msg, "not found"))
		return -ENOENT;
	if (strstr(msg, "Permission denied"))
		return -EACCES;
	return -EIO;
}

/* ---- mountinfo -------------------------------------------------------------------------------- */

int fs_mountinfo_lookup(struct host_ctx *ctx, const char *mount_point, struct fs_mount *out, char **why)
{
	char path[PATH_MAX];
	snprintf(path, sizeof path, "%s/self/mountinfo", ctx->proc_root ? ctx->proc_root : "/proc");
	_cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		int r = -errno;
		if (why && asprintf(why, "reading %s: %s", path, strerror(-r)) < 0)
			*why = NULL;
		return r;
	}
	_cleanup_free_ char *buf = NULL;
	size_t len = 0, cap = 0;
	for (;;) {
		if (cap - len < 4096) {
			if (cap >= MOUNTINFO_MAX) {
				if (why && asprintf(why, "%s is larger than %u bytes", path, MOUNTINFO_MAX) < 0)
					*why = NULL;
				return -EFBIG;
			}
			cap = cap ? cap * 2 : 65536;
			char *n = realloc(buf, cap);
			if (!n)
				return -ENOMEM;
			buf = n;
		}
		ssize_t k = read(fd, buf + len, cap - len);
		if (k < 0 && errno == EINTR)
			continue;
		if (k < 0) {
			int r = -errno;
			if (why && asprintf(why, "reading %s: %s", path, strerror(-r)) < 0)
				*why = NULL;
			return r;
		}
		if (k == 0)
			break;
		len += (size_t)k;
	}
	return fs_mountinfo_find(buf ? buf : "", len, mount_point, out);
}

/* ---- asynchronous steps ----------------------------------------------------------------------- */

static int hop_on_finish(sd_event_source *s, void *userdata)
{
	struct hop *op = userdata;
	op->done(op->userdata, op->finish_r,
		 op->finish_detail ? op->finish_detail : op->finish_r < 0 ? "out of memory formatting the error" : "");
	hop_free(op);
	return 0;
}

void *hop_new(size_t size, struct host_ctx *ctx, host_done_fn done, void *userdata, void (*destroy)(struct hop *op))
{
	if (size < sizeof(struct hop) || !ctx || !ctx->event || !done)
		return NULL;
	struct hop *op = calloc(1, size);
	if (!op)
		return NULL;
	op->ctx = ctx;
	op->done = done;
	op->userdata = userdata;
	if (sd_event_add_defer(ctx->event, &op->finish, hop_on_finish, op) < 0 ||
	    sd_event_source_set_enabled(op->finish, SD_EVENT_OFF) < 0) {
		sd_event_source_unref(op->finish);
		free(op);
		return NULL;
	}
	op->destroy = destroy;
	op->live_next = ctx->live_ops;
	if (op->live_next)
		op->live_next->live_prev = &op->live_next;
	op->live_prev = &ctx->live_ops;
	ctx->live_ops = op;
	return op;
}

void hop_free(struct hop *op)
{
	if (!op)
		return;
	if (op->live_prev) {
		*op->live_prev = op->live_next;
		if (op->live_next)
			op->live_next->live_prev = op->live_prev;
	}
	sd_event_source_disable_unref(op->finish);
	if (op->destroy)
		op->destroy(op);
	free(op->cmd);
	free(op->finish_detail);
	free(op);
}

void host_ctx_cancel(struct host_ctx *ctx)
{
	while (ctx && ctx->live_ops)
		hop_free(ctx->live_ops);
}

void hop_finish(struct hop *op, int r, const char *fmt, ...)
{
	if (op->finished)
		return;
	op->finished = true;
	op->finish_r = r;
	va_list ap;
	va_start(ap, fmt);
	if (vasprintf(&op->finish_detail, fmt, ap) < 0)
		op->finish_detail = NULL;
	va_end(ap);
	sd_event_source_set_enabled(op->finish, SD_EVENT_ONESHOT);
}

int hop_fail_later(struct host_ctx *ctx, host_done_fn done, void *userdata, int r, const char *fmt, ...)
{
	struct hop *op = hop_new(sizeof *op, ctx, done, userdata, NULL);
	if (!op)
		return -ENOMEM;
	op->finished = true;
	op->finish_r = r;
	va_list ap;
	va_start(ap, fmt);
	if (vasprintf(&op->finish_detail, fmt, ap) < 0)
		op->finish_detail = NULL;
	va_end(ap);
	sd_event_source_set_enabled(op->finish, SD_EVENT_ONESHOT);
	return 0;
}

static void hop_on_run(struct runner_result *res, void *userdata)
{
	struct hop *op = userdata;
	op->run_then(op, res);
}

void hop_run(struct hop *op, const char *const *argv, uint64_t timeout_usec, hop_run_then then)
{
	static const char *const env[] = { "LC_ALL=C", NULL };
	free(op->cmd);
	op->cmd = fs_strv_join(argv);
	if (!op->cmd) {
		hop_finish(op, -ENOMEM, "%s: out of memory", argv[0]);
		return;
	}
	op->run_then = then;
	struct runner_job job = { .argv = argv, .env = env, .timeout_usec = timeout_usec, .what = op->cmd };
	int r = runner_start(op->ctx->runner, &job, hop_on_run, op, NULL);
	if (r < 0)
		hop_finish(op, r, "%s: cannot run it: %s", op->cmd, strerror(-r));
}

void hop_fail_tool(struct hop *op, const struct runner_result *res)
{
	char how[160], msg[MESSAGE_MAX];
	int r = fs_tool_errno(res);
	runner_result_describe(res, how, sizeof how);
	fs_tool_message(res, msg, sizeof msg);
	hop_finish(op, r < 0 ? r : -EIO, "%s: %s%s%s", op->cmd ? op->cmd : "?", how, *msg ? ": " : "", msg);
}

static void hop_on_work(int r, void *arg, void *userdata)
{
	struct hop *op = userdata;
	op->work_then(op, r, arg);
}

void hop_work(struct hop *op, worker_fn fn, void *arg, worker_free_fn free_arg, hop_work_then then)
{
	hop_work_timeout(op, fn, arg, free_arg, then, fs_step_timeout(op->ctx));
}

void hop_work_timeout(struct hop *op, worker_fn fn, void *arg, worker_free_fn free_arg, hop_work_then then,
		      uint64_t timeout_usec)
{
	op->work_then = then;
	int r = worker_submit(op->ctx->workers, fn, arg, free_arg, hop_on_work, op, timeout_usec);
	if (r < 0) {
		if (free_arg)
			free_arg(arg);
		hop_finish(op, r, "cannot queue the work: %s", strerror(-r));
	}
}

/* ---- mounts ----------------------------------------------------------------------------------- */

struct mop {
	struct hop hop;                /* first */
	char *source, *mount_point, *type, *options, *unit_text;
	char **accept;
	dev_t rdev;
	bool mounted;
	bool removing;
};

static void mop_destroy(struct hop *h)
{
	struct mop *m = (struct mop *)h;
	free(m->source);
	free(m->mount_point);
	free(m->type);
	free(m->options);
	free(m->unit_text);
	fs_strv_free(m->accept);
}

static char **fs_strv_copy(const char *const *v)
{
	size_t n = 0;
	while (v && v[n])
		n++;
	char **c = calloc(n + 1, sizeof *c);
	if (!c)
		return NULL;
	for (size_t i = 0; i < n; i++)
		if (!(c[i] = strdup(v[i]))) {
			fs_strv_free(c);
			return NULL;
		}
	return c;
}

/* Is this mountinfo entry the mount we mean? */
static bool mop_is_ours(const struct mop *m, const struct fs_mount *e)
{
	if (!fs_strv_contains((const char *const *)m->accept, e->fstype))
		return false;
	if (!m->source)
		return true;
	if (strcmp(e->source, m->source) == 0)
		return true;
	return m->rdev != 0 && major(m->rdev) == e->major && minor(m->rdev) == e->minor;
}

/* What is mounted at m->mount_point: 0 with *present (and *e when present), or < 0 when reading
 * mountinfo failed (the op is then finished). */
static int mop_look(struct mop *m, bool *present, struct fs_mount *e)
{
	_cleanup_free_ char *why = NULL;
	int r = fs_mountinfo_lookup(m->hop.ctx, m->mount_point, e, &why);
	if (r == -ENOENT) {
		*present = false;
		return 0;
	}
	if (r < 0) {
		hop_finish(&m->hop, r, "%s", why ? why : strerror(-r));
		return r;
	}
	*present = true;
	return 0;
}

static void mop_verified(struct mop *m)
{
	struct fs_mount e = { 0 };
	bool present;
	if (mop_look(m, &present, &e) < 0)
		return;
	if (!m->removing) {
		if (present && mop_is_ours(m, &e))
			hop_finish(&m->hop, 0, "%s", m->mount_point);
		else
			hop_finish(&m->hop, -EIO, "%s: exited 0 but %s is not mounted (%s)", m->hop.cmd, m->mount_point,
				   present ? e.fstype : "nothing there");
	} else {
		if (!present)
			hop_finish(&m->hop, 0, "unmounted");
		else
			hop_finish(&m->hop, -EBUSY, "%s: exited 0 but %s still has %s %s mounted", m->hop.cmd,
				   m->mount_point, e.fstype, e.source);
	}
	fs_mount_done(&e);
}

static void mop_on_tool(struct hop *h, struct runner_result *res)
{
	struct mop *m = (struct mop *)h;
	if (!runner_result_ok(res)) {
		hop_fail_tool(h, res);
		return;
	}
	mop_verified(m);
}

static void mop_on_unit(struct hop *h, int r, void *arg)
{
	struct mop *m = (struct mop *)h;
	struct mount_unit_job *j = arg;
	if (r < 0) {
		hop_finish(h, r, "%s the mount unit for %s: %s", m->removing ? "removing" : "writing", m->mount_point,
			   j && j->detail ? j->detail : strerror(-r));
		return;
	}
	if (m->removing) {
		if (!m->mounted) {
			hop_finish(h, 0, "not mounted");
			return;
		}
		hop_run(h, (const char *const[]){ "umount", m->mount_point, NULL }, fs_step_timeout(h->ctx), mop_on_tool);
		return;
	}
	if (m->mounted) {
		hop_finish(h, 0, "%s", m->mount_point);
		return;
	}
	const char *argv[] = { "mount", "-t", m->type, "-o", m->options, m->source, m->mount_point, NULL };
	if (!*m->options) {
		argv[3] = m->source;
		argv[4] = m->mount_point;
		argv[5] = NULL;
	}
	hop_run(h, argv, fs_step_timeout(h->ctx), mop_on_tool);
}

static const char *etc_root(const struct host_ctx *ctx)
{
	return ctx->etc_root ? ctx->etc_root : "/etc";
}

int fs_mount_ensure(struct host_ctx *ctx, const struct fs_mount_req *req, host_done_fn done, void *userdata)
{
	if (!ctx || !req || !req->source || !req->mount_point || !req->type || !req->accept_types || !done)
		return -EINVAL;
	struct mop *m = hop_new(sizeof *m, ctx, done, userdata, mop_destroy);
	if (!m)
		return -ENOMEM;
	m->source = strdup(req->source);
	m->mount_point = strdup(req->mount_point);
	m->type = strdup(req->type);
	m->options = strdup(req->options ? req->options : "");
	m->accept = fs_strv_copy(req->accept_types);
	m->rdev = req->device_rdev;
	if (!m->source || !m->mount_point || !m->type || !m->options || !m->accept) {
		hop_free(&m->hop);
		return -ENOMEM;
	}

	struct mount_unit u = {
		.what = req->unit_what ? req->unit_what : req->source, .where = req->mount_point, .type = req->type,
		.options = req->options, .requires = req->unit_requires, .after = req->unit_after,
		.wants = req->unit_wants,
	};
	int r = mount_unit_render(&u, &m->unit_text);
	if (r < 0) {
		hop_finish(&m->hop, r, "%s: cannot write a mount unit for it (%s)", req->mount_point, strerror(-r));
		return 0;
	}

	struct fs_mount e = { 0 };
	bool present;
	if (mop_look(m, &present, &e) < 0)
		return 0;
	if (present && !mop_is_ours(m, &e)) {
		hop_finish(&m->hop, -EEXIST, "%s already has %s %s mounted, not %s %s", m->mount_point, e.fstype, e.source,
			   m->type, m->source);
		fs_mount_done(&e);
		return 0;
	}
	fs_mount_done(&e);
	m->mounted = present;

	struct mount_unit_job *j;
	r = mount_unit_job_new(etc_root(ctx), m->mount_point, m->unit_text, &j);
	if (r < 0) {
		hop_finish(&m->hop, r, "%s: %s", m->mount_point, strerror(-r));
		return 0;
	}
	j->mkdir_where = !present;
	hop_work(&m->hop, mount_unit_install_fn, j, mount_unit_job_free, mop_on_unit);
	return 0;
}

static struct mop *mop_for_check(struct host_ctx *ctx, const char *mount_point, const char *const *accept_types,
				 const char *source, host_done_fn done, void *userdata)
{
	if (!ctx || !mount_point || !accept_types || !done)
		return NULL;
	struct mop *m = hop_new(sizeof *m, ctx, done, userdata, mop_destroy);
	if (!m)
		return NULL;
	m->mount_point = strdup(mount_point);
	m->accept = fs_strv_copy(accept_types);
	m->source = source ? strdup(source) : NULL;
	if (!m->mount_point || !m->accept || (source && !m->source)) {
		hop_free(&m->hop);
		return NULL;
	}
	return m;
}

int fs_mount_remove(struct host_ctx *ctx, const char *mount_point, const char *const *accept_types, const char *source,
		    host_done_fn done, void *userdata)
{
	struct mop *m = mop_for_check(ctx, mount_point, accept_types, source, done, userdata);
	if (!m)
		return !ctx || !mount_point || !accept_types || !done ? -EINVAL : -ENOMEM;
	m->removing = true;

	struct fs_mount e = { 0 };
	bool present;
	if (mop_look(m, &present, &e) < 0)
		return 0;
	if (present && !mop_is_ours(m, &e)) {
		hop_finish(&m->hop, -EEXIST, "%s has %s %s mounted, which is not this datastore's: left alone",
			   m->mount_point, e.fstype, e.source);
		fs_mount_done(&e);
		return 0;
	}
	fs_mount_done(&e);
	m->mounted = present;

	struct mount_unit_job *j;
	int r = mount_unit_job_new(etc_root(ctx), m->mount_point, NULL, &j);
	if (r < 0) {
		hop_finish(&m->hop, r, "%s: %s", m->mount_point, strerror(-r));
		return 0;
	}
	hop_work(&m->hop, mount_unit_remove_fn, j, mount_unit_job_free, mop_on_unit);
	return 0;
}

int fs_mount_probe(struct host_ctx *ctx, const char *mount_point, const char *const *accept_types, const char *source,
		   host_done_fn done, void *userdata)
{
	struct mop *m = mop_for_check(ctx, mount_point, accept_types, source, done, userdata);
	if (!m)
		return !ctx || !mount_point || !accept_types || !done ? -EINVAL : -ENOMEM;
	struct fs_mount e = { 0 };
	bool present;
	if (mop_look(m, &present, &e) < 0)
		return 0;
	if (!present)
		hop_finish(&m->hop, -ENOENT, "%s: not mounted", m->mount_point);
	else if (!mop_is_ours(m, &e))
		hop_finish(&m->hop, -EEXIST, "%s has %s %s mounted, not this datastore", m->mount_point, e.fstype, e.source);
	else
		hop_finish(&m->hop, 0, "%s", m->mount_point);
	fs_mount_done(&e);
	return 0;
}

/* ---- cluster file systems --------------------------------------------------------------------- */

enum fsop_kind { FSOP_PROBE, FSOP_MKFS, FSOP_MOUNT, FSOP_GROW };

struct fsop {
	struct hop hop;                /* first */
	const struct fs_type *t;       /* the ops table's type */
	enum fsop_kind kind;
	char *device, *mount_point;
	char *cluster_name, *label;
	unsigned slots;                /* mkfs: slots; grow: wanted */
	bool verifying;                /* mkfs / grow: the probe after the tool */
	/* the last probe */
	const struct fs_type *found;   /* the cluster fs blkid found (its tool was asked); NULL */
	struct fs_blkid blkid;
	struct fs_super super;
	bool ambivalent;
	char *detail;
	void (*probed)(struct fsop *op);
	char **argv;                   /* the running tool's argv (owned) */
};

static void fsop_destroy(struct hop *h)
{
	struct fsop *op = (struct fsop *)h;
	free(op->device);
	free(op->mount_point);
	free(op->cluster_name);
	free(op->label);
	fs_blkid_done(&op->blkid);
	fs_super_done(&op->super);
	free(op->detail);
	fs_strv_free(op->argv);
}

static struct fsop *fsop_new(const struct fs_type *t, struct host_ctx *ctx, enum fsop_kind kind, const char *device,
			     const char *mount_point, host_done_fn done, void *userdata)
{
	struct fsop *op = hop_new(sizeof *op, ctx, done, userdata, fsop_destroy);
	if (!op)
		return NULL;
	op->t = t;
	op->kind = kind;
	op->device = device ? strdup(device) : NULL;
	op->mount_point = mount_point ? strdup(mount_point) : NULL;
	if ((device && !op->device) || (mount_point && !op->mount_point)) {
		hop_free(&op->hop);
		return NULL;
	}
	return op;
}

static void fsop_run(struct fsop *op, char **argv, uint64_t timeout, hop_run_then then)
{
	fs_strv_free(op->argv);
	op->argv = argv;
	if (!argv) {
		hop_finish(&op->hop, -ENOMEM, "out of memory");
		return;
	}
	hop_run(&op->hop, (const char *const *)argv, timeout, then);
}

static void probe_complete(struct fsop *op)
{
	free(op->detail);
	op->detail = op->ambivalent ? strdup("ambivalent") : fs_probe_describe(&op->blkid, op->found ? &op->super : NULL);
	if (!op->detail) {
		hop_finish(&op->hop, -ENOMEM, "out of memory");
		return;
	}
	op->probed(op);
}

static void probe_on_super(struct hop *h, struct runner_result *res)
{
	struct fsop *op = (struct fsop *)h;
	if (!runner_result_ok(res)) {
		hop_fail_tool(h, res);
		return;
	}
	int r = op->found->super_parse(res->out, res->out_len, &op->super);
	if (r < 0) {
		char msg[MESSAGE_MAX];
		hop_finish(h, r == -ENOMEM ? r : -EIO, "%s: cannot read the %s superblock%s%s", h->cmd, op->found->name,
			   *fs_tool_message(res, msg, sizeof msg) ? ": " : "", msg);
		return;
	}
	probe_complete(op);
}

static bool blank_output(const char *s, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if (s[i] != ' ' && s[i] != '\n' && s[i] != '\t' && s[i] != '\r')
			return false;
	return true;
}

static void probe_on_blkid(struct hop *h, struct runner_result *res)
{
	struct fsop *op = (struct fsop *)h;
	if (res->exit_code == 2 && !res->signal && !res->timed_out && !res->cancelled && blank_output(res->out, res->out_len) &&
	    blank_output(res->err, res->err_len)) {
		probe_complete(op);             /* nothing found: empty */
		return;
	}
	if (res->exit_code == 8 && !res->timed_out && !res->cancelled) {
		op->ambivalent = true;          /* several signatures */
		probe_complete(op);
		return;
	}
	if (!runner_result_ok(res)) {
		hop_fail_tool(h, res);
		return;
	}
	int r = fs_blkid_parse(res->out, res->out_len, &op->blkid);
	if (r < 0) {
		hop_finish(h, r, "%s: cannot parse its output", h->cmd);
		return;
	}
	if (op->blkid.n_props == 0) {
		/* Exit 0 without a single property is not blkid's "nothing found" (exit 2): never read
		 * as empty. */
		hop_finish(h, -EIO, "%s: exited 0 but reported nothing", h->cmd);
		return;
	}
	op->found = streq_ptr(op->blkid.type, fs_type_ocfs2.name) ? &fs_type_ocfs2
		  : streq_ptr(op->blkid.type, fs_type_gfs2.name) ? &fs_type_gfs2 : NULL;
	if (!op->found) {
		probe_complete(op);
		return;
	}
	fsop_run(op, op->found->super_argv(op->device), fs_step_timeout(h->ctx), probe_on_super);
}

/* Probes op->device; then op->probed(op) with blkid, super, ambivalent and detail set. */
static void probe_start(struct fsop *op, void (*then)(struct fsop *op))
{
	struct stat st;
	if (stat(op->device, &st) < 0) {
		int r = -errno;
		hop_finish(&op->hop, r, "%s: %s", op->device, strerror(-r));
		return;
	}
	if (S_ISDIR(st.st_mode)) {
		hop_finish(&op->hop, -ENOTBLK, "%s is a directory, not a device", op->device);
		return;
	}
	op->probed = then;
	op->found = NULL;
	op->ambivalent = false;
	fs_blkid_done(&op->blkid);
	fs_super_done(&op->super);
	fsop_run(op, fs_strv_new("blkid", "-p", "-o", "export", op->device, NULL), fs_step_timeout(op->hop.ctx),
		 probe_on_blkid);
}

static void probe_done(struct fsop *op)
{
	hop_finish(&op->hop, 0, "%s", op->detail);
}

int fs_probe(const struct fs_type *t, struct host_ctx *ctx, const char *device, host_done_fn done, void *userdata)
{
	if (!t || !ctx || !device || !done)
		return -EINVAL;
	struct fsop *op = fsop_new(t, ctx, FSOP_PROBE, device, NULL, done, userdata);
	if (!op)
		return -ENOMEM;
	probe_start(op, probe_done);
	return 0;
}

/* The label the file system carries for these parameters (GFS2: the lock table's fs name). */
static const char *expected_label(const struct fsop *op, char *buf)
{
	return op->t->fs == DS_FS_GFS2 ? host_gfs2_fsname(op->label, buf) : op->label;
}

static void mkfs_probed(struct fsop *op);

static void mkfs_on_tool(struct hop *h, struct runner_result *res)
{
	struct fsop *op = (struct fsop *)h;
	if (!runner_result_ok(res)) {
		hop_fail_tool(h, res);
		return;
	}
	op->verifying = true;
	probe_start(op, mkfs_probed);
}

static void mkfs_probed(struct fsop *op)
{
	char buf[HOST_GFS2_FSNAME_MAX + 1];
	if (!op->verifying) {
		if (strcmp(op->detail, "empty") != 0) {
			hop_finish(&op->hop, -EEXIST, "%s refused: %s holds %s; kvmcd never formats a device that holds data",
				   op->t->mkfs_tool, op->device, op->detail);
			return;
		}
		fsop_run(op, op->t->mkfs_argv(op->device, &(struct host_fs_params){ .cluster_name = op->cluster_name,
				 .label = op->label, .slots = op->slots }),
			 fs_long_timeout(op->hop.ctx), mkfs_on_tool);
		return;
	}
	if (op->found != op->t || !streq_ptr(op->super.label, expected_label(op, buf)) || !op->blkid.uuid) {
		hop_finish(&op->hop, -EIO, "%s exited 0 but %s now probes as: %s", op->t->mkfs_tool, op->device, op->detail);
		return;
	}
	hop_finish(&op->hop, 0, "%s", op->blkid.uuid);
}

int fs_mkfs(const struct fs_type *t, struct host_ctx *ctx, const char *device, const struct host_fs_params *p,
	    host_done_fn done, void *userdata)
{
	if (!t || !ctx || !device || !p || !done)
		return -EINVAL;
	struct fsop *op = fsop_new(t, ctx, FSOP_MKFS, device, NULL, done, userdata);
	if (!op)
		return -ENOMEM;
	op->cluster_name = p->cluster_name ? strdup(p->cluster_name) : NULL;
	op->label = p->label ? strdup(p->label) : NULL;
	op->slots = p->slots;
	if ((p->cluster_name && !op->cluster_name) || (p->label && !op->label)) {
		hop_free(&op->hop);
		return -ENOMEM;
	}
	_cleanup_free_ char *why = NULL;
	int r = t->check_params(p, &why);
	if (r < 0) {
		hop_finish(&op->hop, r, "%s for %s: %s", t->mkfs_tool, device, why ? why : strerror(-r));
		return 0;
	}
	probe_start(op, mkfs_probed);
	return 0;
}

/* ---- a clone made distinct ---- */

static void distinct_probed(struct fsop *op);

static void distinct_on_tool(struct hop *h, struct runner_result *res);

/* The label alone (relabel_argv); op->slots 2 marks it run. */
static void distinct_relabel(struct fsop *op)
{
	op->slots = 2;
	op->verifying = true;
	fsop_run(op, op->t->relabel_argv(op->device, &(struct host_fs_params){ .cluster_name = op->cluster_name,
			 .label = op->label }), fs_long_timeout(op->hop.ctx), distinct_on_tool);
}

static void distinct_on_replay(struct hop *h, struct runner_result *res)
{
	struct fsop *op = (struct fsop *)h;

	if (res->timed_out || res->cancelled || res->exit_code < 0 || res->exit_code > op->t->replay_ok_max) {
		hop_fail_tool(h, res);
		return;
	}
	distinct_relabel(op);
}

static void distinct_on_tool(struct hop *h, struct runner_result *res)
{
	struct fsop *op = (struct fsop *)h;
	if (!runner_result_ok(res)) {
		hop_fail_tool(h, res);
		return;
	}
	op->verifying = true;
	probe_start(op, distinct_probed);
}

static void distinct_probed(struct fsop *op)
{
	char buf[HOST_GFS2_FSNAME_MAX + 1];
	bool labelled = op->found == op->t && streq_ptr(op->super.label, expected_label(op, buf)) && op->blkid.uuid;

	if (!op->verifying) {
		if (op->found != op->t) {
			hop_finish(&op->hop, -EEXIST, "%s refused: %s holds %s, not a copy of a %s file system", op->t->distinct_tool,
				   op->device, op->detail, op->t->name);
			return;
		}
		if (labelled) {
			hop_finish(&op->hop, 0, "%s", op->blkid.uuid); /* done before: nothing to change */
			return;
		}
		fsop_run(op, op->t->distinct_argv(op->device, &(struct host_fs_params){ .cluster_name = op->cluster_name,
				 .label = op->label }, op->mount_point),
			 fs_long_timeout(op->hop.ctx), distinct_on_tool);
		return;
	}
	if (!labelled && op->t->relabel_argv && op->found == op->t && op->slots == 0) {
		/* a new UUID, not the label yet: its journals replayed (replay_argv), then the label
		 * alone (op->slots: 1 replaying, 2 relabelling) */
		if (op->t->replay_argv) {
			op->slots = 1;
			fsop_run(op, op->t->replay_argv(op->device), fs_long_timeout(op->hop.ctx), distinct_on_replay);
			return;
		}
		distinct_relabel(op);
		return;
	}
	if (!labelled) {
		hop_finish(&op->hop, -EIO, "%s exited 0 but %s now probes as: %s", op->t->distinct_tool, op->device, op->detail);
		return;
	}
	hop_finish(&op->hop, 0, "%s", op->blkid.uuid);
}

int fs_make_distinct(const struct fs_type *t, struct host_ctx *ctx, const char *device, const struct host_fs_params *p,
		     const char *uuid, host_done_fn done, void *userdata)
{
	char gen[SD_ID128_UUID_STRING_MAX];
	sd_id128_t id;

	if (!t || !t->distinct_argv || !ctx || !device || !p || !p->label || !done)
		return -EINVAL;
	if (!uuid) {
		int r = sd_id128_randomize(&id);
		if (r < 0)
			return r;
		uuid = sd_id128_to_uuid_string(id, gen);
	}
	/* op->mount_point carries the new uuid (a make_distinct op has no mount point). */
	struct fsop *op = fsop_new(t, ctx, FSOP_MKFS, device, uuid, done, userdata);
	if (!op)
		return -ENOMEM;
	op->cluster_name = p->cluster_name ? strdup(p->cluster_name) : NULL;
	op->label = strdup(p->label);
	op->slots = 0; /* 1: the journals being replayed, 2: the label set alone (distinct_probed) */
	if ((p->cluster_name && !op->cluster_name) || !op->label) {
		hop_free(&op->hop);
		return -ENOMEM;
	}
	_cleanup_free_ char *why = NULL;
	struct host_fs_params cp = *p;
	if (!cp.slots)
		cp.slots = 1; /* not changed here; only the names are checked */
	int r = t->check_params(&cp, &why);
	if (r < 0) {
		hop_finish(&op->hop, r, "%s for %s: %s", t->distinct_tool, device, why ? why : strerror(-r));
		return 0;
	}
	probe_start(op, distinct_probed);
	return 0;
}

static void mount_forward(void *userdata, int r, const char *detail)
{
	hop_finish(userdata, r, "%s", detail);
}

static void mount_probed(struct fsop *op)
{
	if (op->found != op->t) {
		hop_finish(&op->hop, -EMEDIUMTYPE, "cannot mount %s at %s: it holds %s, not %s", op->device,
			   op->mount_point, op->detail, op->t->name);
		return;
	}
	struct stat st;
	dev_t rdev = stat(op->device, &st) == 0 && S_ISBLK(st.st_mode) ? st.st_rdev : 0;
	_cleanup_free_ char *what = NULL;
	if (op->blkid.uuid && asprintf(&what, "/dev/disk/by-uuid/%s", op->blkid.uuid) < 0) {
		hop_finish(&op->hop, -ENOMEM, "out of memory");
		return;
	}
	const char *accept[] = { op->t->name, NULL };
	struct fs_mount_req req = {
		.source = op->device, .unit_what = what ? what : op->device, .mount_point = op->mount_point,
		.type = op->t->name, .accept_types = accept, .options = "_netdev,noatime",
		.unit_requires = op->t->unit_requires, .unit_after = op->t->unit_after,
		.unit_wants = "network-online.target", .device_rdev = rdev,
	};
	/* The mount flow finishes this op through mount_forward: the detail passes through. */
	int r = fs_mount_ensure(op->hop.ctx, &req, mount_forward, op);
	if (r < 0)
		hop_finish(&op->hop, r, "mounting %s at %s: %s", op->device, op->mount_point, strerror(-r));
}

/* A UUID as blkid and udev print it: hex digits and dashes. */
static bool plain_uuid(const char *s, size_t len)
{
	return len > 0 && len < 64 && strspn(s, "0123456789abcdefABCDEF-") >= len;
}

/* The UUID of block device RDEV from udev's /dev/disk/by-uuid links; NULL when none names it
 * (udev does not watch device-mapper devices: a file system another host made on a multipath
 * map gets no link here until something makes udev look again). */
static char *uuid_from_udev(struct host_ctx *ctx, dev_t rdev)
{
	char dir[PATH_MAX], *uuid = NULL;
	struct dirent *de;
	struct stat st;
	DIR *d;

	snprintf(dir, sizeof dir, "%s/disk/by-uuid", ctx->dev_root ? ctx->dev_root : "/dev");
	if (!(d = opendir(dir)))
		return NULL;
	while (!uuid && (de = readdir(d)))
		if (plain_uuid(de->d_name, strlen(de->d_name)) && fstatat(dirfd(d), de->d_name, &st, 0) == 0 &&
		    S_ISBLK(st.st_mode) && st.st_rdev == rdev)
			uuid = strdup(de->d_name);
	closedir(d);
	return uuid;
}

/* The UUID kvmcd's own mount unit for the mount point names (What=/dev/disk/by-uuid/UUID),
 * written from a probe when it mounted the file system; NULL when there is no such unit. */
static char *uuid_from_own_unit(struct host_ctx *ctx, const char *mount_point)
{
	static const char prefix[] = "/dev/disk/by-uuid/";
	_cleanup_free_ char *what = NULL;

	if (mount_unit_read_what(ctx->etc_root, mount_point, &what) < 0 || strncmp(what, prefix, strlen(prefix)) != 0)
		return NULL;
	return plain_uuid(what + strlen(prefix), strlen(what + strlen(prefix))) ? strdup(what + strlen(prefix)) : NULL;
}

/*
 * The mount already in place -- a datastore's periodic check finds it so every 30 s: the
 * kernel's mount table has DEVICE (its device number) mounted at the mount point as this type,
 * and its UUID (the unit's What=) is known without reading the device: udev's by-uuid link to
 * it, or else the UUID in kvmcd's own unit for the mount point (from the probe when it mounted
 * it; a mounted file system's UUID does not change). Then mount_probed() goes on from these,
 * without the probe: blkid and the file system's own tool reading the shared superblock, on
 * every node, for every datastore, at every check. False when any of these does not tell: the
 * probe decides.
 */
static bool mounted_in_place(struct fsop *op)
{
	struct fs_mount e = { 0 };
	struct stat dev;
	bool ok;

	if (stat(op->device, &dev) < 0 || !S_ISBLK(dev.st_mode) ||
	    fs_mountinfo_lookup(op->hop.ctx, op->mount_point, &e, NULL) < 0)
		return false;
	ok = e.fstype && strcmp(e.fstype, op->t->name) == 0 && e.major == major(dev.st_rdev) &&
	     e.minor == minor(dev.st_rdev);
	fs_mount_done(&e);
	if (!ok)
		return false;
	op->blkid.uuid = uuid_from_udev(op->hop.ctx, dev.st_rdev);
	if (!op->blkid.uuid)
		op->blkid.uuid = uuid_from_own_unit(op->hop.ctx, op->mount_point);
	if (!op->blkid.uuid)
		return false;
	op->found = op->t;
	return true;
}

int fs_mount(const struct fs_type *t, struct host_ctx *ctx, const char *device, const char *mount_point,
	     host_done_fn done, void *userdata)
{
	if (!t || !ctx || !device || !mount_point || !done)
		return -EINVAL;
	struct fsop *op = fsop_new(t, ctx, FSOP_MOUNT, device, mount_point, done, userdata);
	if (!op)
		return -ENOMEM;
	_cleanup_free_ char *name = NULL;
	if (mount_unit_name(mount_point, &name) < 0) {
		hop_finish(&op->hop, -EINVAL, "%s is not an absolute, normalised mount point", mount_point);
		return 0;
	}
	if (mounted_in_place(op)) {
		mount_probed(op);
		return 0;
	}
	probe_start(op, mount_probed);
	return 0;
}

int fs_umount(const struct fs_type *t, struct host_ctx *ctx, const char *mount_point, host_done_fn done,
	      void *userdata)
{
	if (!t || !ctx || !mount_point || !done)
		return -EINVAL;
	const char *accept[] = { t->name, NULL };
	return fs_mount_remove(ctx, mount_point, accept, NULL, done, userdata);
}

static void grow_probed(struct fsop *op);

static void grow_on_tool(struct hop *h, struct runner_result *res)
{
	struct fsop *op = (struct fsop *)h;
	if (!runner_result_ok(res)) {
		hop_fail_tool(h, res);
		return;
	}
	op->verifying = true;
	probe_start(op, grow_probed);
}

static void grow_probed(struct fsop *op)
{
	if (op->found != op->t) {
		hop_finish(&op->hop, -EMEDIUMTYPE, "cannot add slots on %s: it holds %s, not %s", op->device, op->detail,
			   op->t->name);
		return;
	}
	if (op->super.slots >= op->slots) {
		hop_finish(&op->hop, 0, "slots=%u", op->super.slots);
		return;
	}
	if (op->verifying) {
		hop_finish(&op->hop, -EIO, "%s exited 0 but %s has %u slots, not %u", op->hop.cmd, op->device,
			   op->super.slots, op->slots);
		return;
	}
	if (op->t->grow_needs_mount) {
		struct fs_mount e = { 0 };
		_cleanup_free_ char *why = NULL;
		int r = op->mount_point ? fs_mountinfo_lookup(op->hop.ctx, op->mount_point, &e, &why) : -ENOENT;
		bool ok = r == 0 && strcmp(e.fstype, op->t->name) == 0;
		fs_mount_done(&e);
		if (r < 0 && r != -ENOENT) {
			hop_finish(&op->hop, r, "%s", why ? why : strerror(-r));
			return;
		}
		if (!ok) {
			hop_finish(&op->hop, -ENOTCONN, "%s is not mounted at %s: %s adds journals to a mounted file system",
				   op->device, op->mount_point ? op->mount_point : "(no mount point)", op->t->name);
			return;
		}
	}
	fsop_run(op, op->t->grow_argv(op->device, op->mount_point, op->super.slots, op->slots),
		 fs_long_timeout(op->hop.ctx), grow_on_tool);
}

int fs_grow(const struct fs_type *t, struct host_ctx *ctx, const char *device, const char *mount_point,
	    unsigned slots, host_done_fn done, void *userdata)
{
	if (!t || !ctx || !device || !done)
		return -EINVAL;
	struct fsop *op = fsop_new(t, ctx, FSOP_GROW, device, mount_point, done, userdata);
	if (!op)
		return -ENOMEM;
	op->slots = slots;
	if (slots < 1 || slots > t->max_slots) {
		hop_finish(&op->hop, -EINVAL, "%s: %u slots: %s holds 1 to %u", device, slots, t->name, t->max_slots);
		return 0;
	}
	probe_start(op, grow_probed);
	return 0;
}
