/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Finding block devices by identity in sysfs, the parsers the three real attach backends share,
 * and the plumbing of one asynchronous operation (blockdev.h says what each part promises).
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <syslog.h>
#include <unistd.h>

#include "blockdev.h"
#include "macros.h"
#include "runner.h"
#include "worker.h"

/* ---- timing ---------------------------------------------------------------------------------- */

uint64_t blockdev_step_timeout(const struct host_ctx *ctx)
{
	return ctx->step_timeout_usec ? ctx->step_timeout_usec : BLOCKDEV_DEFAULT_STEP_USEC;
}

uint64_t blockdev_device_wait(const struct host_ctx *ctx)
{
	return 2 * blockdev_step_timeout(ctx);
}

uint64_t blockdev_kick_after(const struct host_ctx *ctx)
{
	uint64_t third = blockdev_device_wait(ctx) / 3;

	return third < 3 * USEC_PER_SEC ? third : 3 * USEC_PER_SEC;
}

/* ---- parsers --------------------------------------------------------------------------------- */

int blockdev_vpd80_serial(const void *page, size_t len, char *out, size_t size)
{
	const unsigned char *p = page;
	size_t n, start, end;

	if (len < 4 || p[1] != 0x80)
		return -EBADMSG;
	n = ((size_t)p[2] << 8) | p[3];
	if (n > len - 4)
		return -EBADMSG;
	p += 4;
	start = 0;
	end = n;
	while (start < end && (p[start] == ' ' || p[start] == '\0'))
		start++;
	while (end > start && (p[end - 1] == ' ' || p[end - 1] == '\0'))
		end--;
	if (start == end)
		return -EBADMSG;
	for (size_t i = start; i < end; i++)
		if (p[i] < 0x21 || p[i] > 0x7e)
			return -EBADMSG;
	if (end - start >= size)
		return -ENOBUFS;
	memcpy(out, p + start, end - start);
	out[end - start] = '\0';
	return 0;
}

#define TOOL_MESSAGE_MAX 1024u

char *blockdev_tool_message(const char *out, size_t out_len, const char *err, size_t err_len)
{
	const char *text = err_len ? err : out;
	size_t len = err_len ? err_len : out_len;
	const char *prev = NULL;
	size_t prev_len = 0, used = 0;
	char *msg = malloc(TOOL_MESSAGE_MAX + 8);

	if (!msg)
		return NULL;
	msg[0] = '\0';
	if (!text)
		return msg;
	for (size_t pos = 0; pos < len;) {
		const char *line = text + pos;
		const char *nl = memchr(line, '\n', len - pos);
		size_t l = nl ? (size_t)(nl - line) : len - pos;

		pos += l + (nl ? 1 : 0);
		while (l && isspace((unsigned char)line[0]) && line[0] != '\0') {
			line++;
			l--;
		}
		while (l && (isspace((unsigned char)line[l - 1]) || line[l - 1] == '\0'))
			l--;
		if (!l || (prev && prev_len == l && memcmp(prev, line, l) == 0))
			continue;
		prev = line;
		prev_len = l;
		if (used) {
			if (used + 2 > TOOL_MESSAGE_MAX)
				break;
			memcpy(msg + used, "; ", 2);
			used += 2;
		}
		for (size_t i = 0; i < l; i++) {
			unsigned char c = (unsigned char)line[i];

			if (used >= TOOL_MESSAGE_MAX) {
				memcpy(msg + used, "...", 3);
				used += 3;
				msg[used] = '\0';
				return msg;
			}
			msg[used++] = (c < 0x20 || c == 0x7f) ? '?' : (char)c;
		}
	}
	msg[used] = '\0';
	return msg;
}

int blockdev_portal_parse(const char *text, unsigned default_port, char *addr, size_t addr_size, unsigned *port)
{
	char buf[INET6_ADDRSTRLEN + 1];
	const char *a = text, *p = NULL;
	size_t alen;
	unsigned char bin[sizeof(struct in6_addr)];
	unsigned long v = default_port;

	if (!text || !*text)
		return -EINVAL;
	if (text[0] == '[') {
		const char *close = strchr(text, ']');

		if (!close)
			return -EINVAL;
		a = text + 1;
		alen = (size_t)(close - a);
		if (close[1] == ':')
			p = close + 2;
		else if (close[1] != '\0')
			return -EINVAL;
	} else {
		const char *colon = strchr(text, ':');

		if (colon && !strchr(colon + 1, ':')) {
			alen = (size_t)(colon - text);
			p = colon + 1;
		} else
			alen = strlen(text);   /* IPv4 without a port, or a bare IPv6 address */
	}
	if (!alen || alen >= sizeof buf)
		return -EINVAL;
	memcpy(buf, a, alen);
	buf[alen] = '\0';
	if (inet_pton(AF_INET, buf, bin) != 1 && inet_pton(AF_INET6, buf, bin) != 1)
		return -EINVAL;
	if (p) {
		char *end;

		if (!isdigit((unsigned char)*p))
			return -EINVAL;
		errno = 0;
		v = strtoul(p, &end, 10);
		if (errno || *end || v == 0 || v > 65535)
			return -EINVAL;
	}
	if (alen >= addr_size)
		return -EINVAL;
	memcpy(addr, buf, alen + 1);
	*port = (unsigned)v;
	return 0;
}

bool blockdev_valid_serial(const char *serial)
{
	size_t n = serial ? strlen(serial) : 0;

	if (n < 1 || n > 254)
		return false;
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)serial[i] < 0x21 || (unsigned char)serial[i] > 0x7e)
			return false;
	return true;
}

bool blockdev_addr_equal(const char *a, const char *b)
{
	unsigned char x[sizeof(struct in6_addr)], y[sizeof(struct in6_addr)];

	if (inet_pton(AF_INET, a, x) == 1)
		return inet_pton(AF_INET, b, y) == 1 && memcmp(x, y, 4) == 0;
	if (inet_pton(AF_INET6, a, x) == 1)
		return inet_pton(AF_INET6, b, y) == 1 && memcmp(x, y, 16) == 0;
	return strcasecmp(a, b) == 0;
}

int nvme_parse_address(const char *text, size_t len, char *traddr, size_t traddr_size, char *trsvcid,
		       size_t trsvcid_size)
{
	bool have_addr = false, have_svc = false;

	for (size_t pos = 0; pos < len;) {
		const char *item = text + pos;
		const char *comma = memchr(item, ',', len - pos);
		size_t l = comma ? (size_t)(comma - item) : len - pos;
		const char *eq = memchr(item, '=', l);

		pos += l + (comma ? 1 : 0);
		while (l && (isspace((unsigned char)item[l - 1]) || item[l - 1] == '\0'))
			l--;
		if (!eq || eq >= item + l)
			continue;
		size_t klen = (size_t)(eq - item), vlen = l - klen - 1;
		char *dst = NULL;
		size_t dsize = 0;

		if (klen == 6 && memcmp(item, "traddr", 6) == 0) {
			dst = traddr;
			dsize = traddr_size;
			have_addr = true;
		} else if (klen == 7 && memcmp(item, "trsvcid", 7) == 0) {
			dst = trsvcid;
			dsize = trsvcid_size;
			have_svc = true;
		}
		if (!dst)
			continue;
		if (!vlen || vlen >= dsize || memchr(eq + 1, '\0', vlen))
			return -EBADMSG;
		memcpy(dst, eq + 1, vlen);
		dst[vlen] = '\0';
	}
	return have_addr && have_svc ? 0 : -EBADMSG;
}

/* ---- sysfs ----------------------------------------------------------------------------------- */

char *blockdev_path(const char *root, const char *rel)
{
	char *p;

	if (asprintf(&p, "%s/%s", root, rel) < 0)
		return NULL;
	return p;
}

/* Reads at most size-1 bytes of a file; returns the length read or a negative errno. */
static ssize_t read_small(const char *path, char *buf, size_t size)
{
	_cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	size_t got = 0;

	if (fd < 0)
		return -errno;
	while (got + 1 < size) {
		ssize_t k = read(fd, buf + got, size - 1 - got);

		if (k < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (k == 0)
			break;
		got += (size_t)k;
	}
	buf[got] = '\0';
	return (ssize_t)got;
}

/* A text attribute, trailing whitespace cut. */
static int read_attr(char *buf, size_t size, const char *fmt, ...) _printf_(3, 4);
static int read_attr(char *buf, size_t size, const char *fmt, ...)
{
	char path[PATH_MAX];
	va_list ap;
	ssize_t n;
	int k;

	va_start(ap, fmt);
	k = vsnprintf(path, sizeof path, fmt, ap);
	va_end(ap);
	if (k < 0 || (size_t)k >= sizeof path)
		return -ENAMETOOLONG;
	n = read_small(path, buf, size);
	if (n < 0)
		return (int)n;
	while (n > 0 && (isspace((unsigned char)buf[n - 1]) || buf[n - 1] == '\0'))
		buf[--n] = '\0';
	return 0;
}

/* Copies src into dst, cut to size - 1 bytes (sysfs values longer than what we keep are cut). */
static void copy_cut(char *dst, size_t size, const char *src)
{
	size_t n = strlen(src);

	if (n >= size)
		n = size - 1;
	memcpy(dst, src, n);
	dst[n] = '\0';
}

static bool name_is(const char *name, const char *prefix)
{
	return strncmp(name, prefix, strlen(prefix)) == 0 && name[0] != '.';
}

static int cmp_natural(const void *a, const void *b)
{
	return strverscmp(*(char *const *)a, *(char *const *)b);
}

static void strv_free(char **v)
{
	if (!v)
		return;
	for (char **p = v; *p; p++)
		free(*p);
	free(v);
}

static void strv_freep(char ***v)
{
	strv_free(*v);
}
#define _cleanup_strv_ _cleanup_(strv_freep)

/* Names in dir (not "." / ".."), sorted naturally; *out owned (strv), NULL-terminated. A missing
 * directory is an empty list. */
static int list_dir(const char *dir, char ***out, size_t *n)
{
	DIR *d = opendir(dir);
	char **v = NULL;
	size_t k = 0;
	struct dirent *de;

	*out = NULL;
	*n = 0;
	if (!d)
		return errno == ENOENT || errno == ENOTDIR ? 0 : -errno;
	while ((de = readdir(d))) {
		char **nv;

		if (de->d_name[0] == '.')
			continue;
		nv = realloc(v, (k + 2) * sizeof *v);
		if (!nv)
			goto oom;
		v = nv;
		if (!(v[k] = strdup(de->d_name)))
			goto oom;
		v[++k] = NULL;
	}
	closedir(d);
	if (k)
		qsort(v, k, sizeof *v, cmp_natural);
	*out = v;
	*n = k;
	return 0;
oom:
	closedir(d);
	for (size_t i = 0; i < k; i++)
		free(v[i]);
	free(v);
	return -ENOMEM;
}

static bool dev_busy(const char *dev_root, const char *name)
{
	char path[PATH_MAX];
	int fd;

	if (snprintf(path, sizeof path, "%s/%s", dev_root, name) >= (int)sizeof path)
		return false;
	/* O_EXCL on a block device fails with EBUSY while it is mounted or claimed by a holder. */
	fd = open(path, O_RDONLY | O_EXCL | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
	if (fd < 0)
		return errno == EBUSY;
	close(fd);
	return false;
}

static int set_conflict(char **conflict, const char *fmt, ...) _printf_(2, 3);
static int set_conflict(char **conflict, const char *fmt, ...)
{
	va_list ap;
	int k;

	if (*conflict)
		return 0;   /* the first problem is the one reported */
	va_start(ap, fmt);
	k = vasprintf(conflict, fmt, ap);
	va_end(ap);
	if (k < 0) {
		*conflict = NULL;
		return -ENOMEM;
	}
	return 0;
}

static int vpd_serial_of(const char *sys_root, const char *disk, char *out, size_t size)
{
	char path[PATH_MAX], page[512];
	ssize_t n;

	if (snprintf(path, sizeof path, "%s/block/%s/device/vpd_pg80", sys_root, disk) >= (int)sizeof path)
		return -ENAMETOOLONG;
	n = read_small(path, page, sizeof page);
	if (n < 0)
		return (int)n;
	return blockdev_vpd80_serial(page, (size_t)n, out, size);
}

void blockdev_scsi_clear(struct blockdev_scsi *s)
{
	if (!s)
		return;
	free(s->paths);
	free(s->map_name);
	free(s->map_uuid);
	free(s->conflict);
	*s = (struct blockdev_scsi){ 0 };
}

static int scsi_holders(const char *sys_root, struct blockdev_scsi *s, struct blockdev_scsi_path *p, size_t *n_holders)
{
	_cleanup_strv_ char **holders = NULL;
	char dir[PATH_MAX];
	size_t n;
	int k;

	*n_holders = 0;
	if (snprintf(dir, sizeof dir, "%s/block/%s/holders", sys_root, p->name) >= (int)sizeof dir)
		return -ENAMETOOLONG;
	k = list_dir(dir, &holders, &n);
	if (k < 0)
		return k;
	*n_holders = n;
	for (size_t i = 0; i < n; i++) {
		char uuid[256] = "";

		if (read_attr(uuid, sizeof uuid, "%s/block/%s/dm/uuid", sys_root, holders[i]) < 0 ||
		    strncmp(uuid, "mpath-", 6) != 0) {
			k = set_conflict(&s->conflict, "%s is held by %s (dm uuid '%s'), not by a multipath map",
					 p->name, holders[i], uuid);
		} else if (p->holder[0] && strcmp(p->holder, holders[i]) != 0) {
			k = set_conflict(&s->conflict, "%s is held by two multipath maps, %s and %s", p->name,
					 p->holder, holders[i]);
		} else {
			snprintf(p->holder, sizeof p->holder, "%s", holders[i]);
			k = 0;
		}
		if (k < 0)
			return k;
	}
	return 0;
}

static bool scsi_has_path(const struct blockdev_scsi *s, const char *name)
{
	for (size_t i = 0; i < s->n_paths; i++)
		if (strcmp(s->paths[i].name, name) == 0)
			return true;
	return false;
}

int blockdev_scsi_find(const char *sys_root, const char *dev_root, const char *serial, bool check_busy,
		       struct blockdev_scsi *out)
{
	_cleanup_(blockdev_scsi_clear) struct blockdev_scsi s = { 0 };
	_cleanup_strv_ char **disks = NULL;
	char dir[PATH_MAX];
	size_t n;
	int k;

	if (snprintf(dir, sizeof dir, "%s/block", sys_root) >= (int)sizeof dir)
		return -ENAMETOOLONG;
	k = list_dir(dir, &disks, &n);
	if (k < 0)
		return k;
	for (size_t i = 0; i < n; i++) {
		char found[256];
		struct blockdev_scsi_path *paths, *p;
		size_t n_holders;

		if (!name_is(disks[i], "sd") || strlen(disks[i]) >= BLOCKDEV_NAME_MAX)
			continue;
		if (vpd_serial_of(sys_root, disks[i], found, sizeof found) < 0 || strcmp(found, serial) != 0)
			continue;
		paths = realloc(s.paths, (s.n_paths + 1) * sizeof *paths);
		if (!paths)
			return -ENOMEM;
		s.paths = paths;
		p = &s.paths[s.n_paths++];
		*p = (struct blockdev_scsi_path){ 0 };
		snprintf(p->name, sizeof p->name, "%s", disks[i]);
		k = scsi_holders(sys_root, &s, p, &n_holders);
		if (k < 0)
			return k;
		if (check_busy)
			p->busy = n_holders > 0 || dev_busy(dev_root, p->name);
	}

	for (size_t i = 0; i < s.n_paths; i++) {
		const struct blockdev_scsi_path *p = &s.paths[i];

		if (!p->holder[0])
			continue;
		if (!s.map[0])
			snprintf(s.map, sizeof s.map, "%s", p->holder);
		else if (strcmp(s.map, p->holder) != 0 &&
			 set_conflict(&s.conflict, "the paths of serial '%s' are in two multipath maps, %s and %s",
				      serial, s.map, p->holder) < 0)
			return -ENOMEM;
	}
	if (s.map[0]) {
		_cleanup_strv_ char **slaves = NULL;
		char buf[256], node[PATH_MAX];
		size_t n_slaves;

		if (read_attr(buf, sizeof buf, "%s/block/%s/dm/name", sys_root, s.map) < 0 || !buf[0] ||
		    strchr(buf, '/')) {
			if (set_conflict(&s.conflict, "multipath map %s has no usable dm name", s.map) < 0)
				return -ENOMEM;
		} else if (!(s.map_name = strdup(buf)))
			return -ENOMEM;
		if (read_attr(buf, sizeof buf, "%s/block/%s/dm/uuid", sys_root, s.map) >= 0 &&
		    !(s.map_uuid = strdup(buf)))
			return -ENOMEM;
		if (s.map_name && snprintf(node, sizeof node, "%s/mapper/%s", dev_root, s.map_name) < (int)sizeof node)
			s.map_node = access(node, F_OK) == 0;
		/* Every path of the map must carry this serial: a map that also holds another LUN (two
		 * serials with one WWID, as LIO makes them) is neither used nor flushed. */
		if (snprintf(dir, sizeof dir, "%s/block/%s/slaves", sys_root, s.map) >= (int)sizeof dir)
			return -ENAMETOOLONG;
		k = list_dir(dir, &slaves, &n_slaves);
		if (k < 0)
			return k;
		for (size_t i = 0; i < n_slaves; i++) {
			char other[256] = "";

			if (scsi_has_path(&s, slaves[i]))
				continue;
			if (vpd_serial_of(sys_root, slaves[i], other, sizeof other) < 0)
				snprintf(other, sizeof other, "%s", "(unreadable)");
			if (set_conflict(&s.conflict,
					 "multipath map %s (%s) also holds %s, whose serial is '%s', not '%s': two LUNs "
					 "share one WWID there; kvmcd neither uses nor flushes that map",
					 s.map, s.map_name ? s.map_name : "?", slaves[i], other, serial) < 0)
				return -ENOMEM;
		}
	}
	*out = s;
	s = (struct blockdev_scsi){ 0 };
	return 0;
}

char *blockdev_scsi_path_list(const struct blockdev_scsi *s)
{
	size_t len = 1;
	char *text;

	for (size_t i = 0; i < s->n_paths; i++)
		len += strlen(s->paths[i].name) + 1;
	text = malloc(len);
	if (!text)
		return NULL;
	text[0] = '\0';
	for (size_t i = 0; i < s->n_paths; i++) {
		if (i)
			strcat(text, " ");
		strcat(text, s->paths[i].name);
	}
	return text;
}

/* "nvme" digits [ "n" digits ] and nothing else (so never a hidden path "nvme0c1n1"). */
static bool nvme_name(const char *name, bool ns)
{
	const char *p = name;

	if (strncmp(p, "nvme", 4) != 0)
		return false;
	p += 4;
	if (!isdigit((unsigned char)*p))
		return false;
	while (isdigit((unsigned char)*p))
		p++;
	if (!ns)
		return *p == '\0';
	if (*p++ != 'n' || !isdigit((unsigned char)*p))
		return false;
	while (isdigit((unsigned char)*p))
		p++;
	return *p == '\0' && strlen(name) < BLOCKDEV_NAME_MAX;
}

void blockdev_nvme_clear(struct blockdev_nvme *n)
{
	if (!n)
		return;
	free(n->ctrls);
	for (size_t i = 0; i < n->n_other_ns; i++)
		free(n->other_ns[i]);
	free(n->other_ns);
	free(n->conflict);
	*n = (struct blockdev_nvme){ 0 };
}

bool blockdev_nvme_ctrl_usable(const struct blockdev_nvme_ctrl *c)
{
	return strncmp(c->state, "deleting", 8) != 0 && strcmp(c->state, "dead") != 0;
}

static int nvme_find_ctrls(const char *sys_root, const char *nqn, struct blockdev_nvme *out)
{
	_cleanup_strv_ char **names = NULL;
	char dir[PATH_MAX];
	size_t n;
	int k;

	if (snprintf(dir, sizeof dir, "%s/class/nvme", sys_root) >= (int)sizeof dir)
		return -ENAMETOOLONG;
	k = list_dir(dir, &names, &n);
	if (k < 0)
		return k;
	for (size_t i = 0; i < n; i++) {
		char buf[512];
		struct blockdev_nvme_ctrl c = { 0 }, *v;

		if (!nvme_name(names[i], false) || strlen(names[i]) >= sizeof c.name)
			continue;
		if (read_attr(buf, sizeof buf, "%s/%s/subsysnqn", dir, names[i]) < 0 || strcmp(buf, nqn) != 0)
			continue;
		snprintf(c.name, sizeof c.name, "%s", names[i]);
		if (read_attr(buf, sizeof buf, "%s/%s/transport", dir, names[i]) >= 0)
			copy_cut(c.transport, sizeof c.transport, buf);
		if (read_attr(buf, sizeof buf, "%s/%s/state", dir, names[i]) >= 0)
			copy_cut(c.state, sizeof c.state, buf);
		if (read_attr(buf, sizeof buf, "%s/%s/address", dir, names[i]) >= 0)
			(void)nvme_parse_address(buf, strlen(buf), c.traddr, sizeof c.traddr, c.trsvcid, sizeof c.trsvcid);
		v = realloc(out->ctrls, (out->n_ctrls + 1) * sizeof *v);
		if (!v)
			return -ENOMEM;
		out->ctrls = v;
		out->ctrls[out->n_ctrls++] = c;
	}
	return 0;
}

int blockdev_nvme_find(const char *sys_root, const char *dev_root, const char *nqn, const char *uuid,
		       bool check_busy, struct blockdev_nvme *out)
{
	_cleanup_(blockdev_nvme_clear) struct blockdev_nvme s = { 0 };
	_cleanup_strv_ char **names = NULL;
	char dir[PATH_MAX], want_wwid[128];
	size_t n;
	int k;

	if (snprintf(dir, sizeof dir, "%s/class/nvme-subsystem", sys_root) >= (int)sizeof dir)
		return -ENAMETOOLONG;
	k = list_dir(dir, &names, &n);
	if (k < 0)
		return k;
	for (size_t i = 0; i < n && !s.subsys[0]; i++) {
		char buf[512];

		if (strlen(names[i]) < sizeof s.subsys &&
		    read_attr(buf, sizeof buf, "%s/%s/subsysnqn", dir, names[i]) >= 0 && strcmp(buf, nqn) == 0)
			snprintf(s.subsys, sizeof s.subsys, "%s", names[i]);
	}
	strv_free(names);
	names = NULL;

	k = nvme_find_ctrls(sys_root, nqn, &s);
	if (k < 0)
		return k;

	snprintf(want_wwid, sizeof want_wwid, "uuid.%s", uuid);
	if (snprintf(dir, sizeof dir, "%s/block", sys_root) >= (int)sizeof dir)
		return -ENAMETOOLONG;
	k = list_dir(dir, &names, &n);
	if (k < 0)
		return k;
	for (size_t i = 0; i < n; i++) {
		char ns_nqn[512] = "", id[128] = "", wwid[256] = "";
		bool match, ours;

		if (!nvme_name(names[i], true))
			continue;
		(void)read_attr(ns_nqn, sizeof ns_nqn, "%s/%s/device/subsysnqn", dir, names[i]);
		(void)read_attr(id, sizeof id, "%s/%s/uuid", dir, names[i]);
		(void)read_attr(wwid, sizeof wwid, "%s/%s/wwid", dir, names[i]);
		match = (id[0] && strcasecmp(id, uuid) == 0) || (wwid[0] && strcasecmp(wwid, want_wwid) == 0);
		ours = strcmp(ns_nqn, nqn) == 0;
		if (match && ns_nqn[0] && !ours) {
			if (set_conflict(&s.conflict, "namespace uuid %s is %s of subsystem %s, not of %s", uuid, names[i],
					 ns_nqn, nqn) < 0)
				return -ENOMEM;
		} else if (match) {
			if (!s.ns[0])
				snprintf(s.ns, sizeof s.ns, "%s", names[i]);
			else if (set_conflict(&s.conflict,
					      "namespace uuid %s is on both %s and %s: native NVMe multipath is off "
					      "(nvme_core.multipath=N), kvmcd needs the multipath head",
					      uuid, s.ns, names[i]) < 0)
				return -ENOMEM;
		} else if (ours) {
			char **v = realloc(s.other_ns, (s.n_other_ns + 1) * sizeof *v);

			if (!v)
				return -ENOMEM;
			s.other_ns = v;
			if (!(s.other_ns[s.n_other_ns] = strdup(names[i])))
				return -ENOMEM;
			s.n_other_ns++;
		}
	}
	if (s.ns[0]) {
		char node[PATH_MAX];

		if (snprintf(node, sizeof node, "%s/%s", dev_root, s.ns) < (int)sizeof node)
			s.ns_node = access(node, F_OK) == 0;
	}
	if (s.ns[0] && check_busy) {
		_cleanup_strv_ char **holders = NULL;
		char node[PATH_MAX];
		size_t n_holders;

		if (snprintf(node, sizeof node, "%s/%s/holders", dir, s.ns) >= (int)sizeof node)
			return -ENAMETOOLONG;
		k = list_dir(node, &holders, &n_holders);
		if (k < 0)
			return k;
		s.ns_busy = n_holders > 0 || (s.ns_node && dev_busy(dev_root, s.ns));
	}
	*out = s;
	s = (struct blockdev_nvme){ 0 };
	return 0;
}

/* ---- one asynchronous operation ---------------------------------------------------------------- */

int bop_init(struct blockdev_op *op, struct host_ctx *ctx, const char *proto, const char *datastore,
	     host_done_fn done, void *userdata, void (*free_op)(struct blockdev_op *op))
{
	op->ctx = ctx;
	op->proto = proto;
	op->done = done;
	op->userdata = userdata;
	op->free_op = free_op;
	op->datastore = strdup(datastore ? datastore : "-");
	return op->datastore ? 0 : -ENOMEM;
}

void bop_release(struct blockdev_op *op)
{
	op->timer = sd_event_source_disable_unref(op->timer);
	free(op->datastore);
	free(op->step);
	free(op->serial);
	blockdev_scsi_clear(&op->scsi);
	free(op->kick_note);
	free(op->result);
	free(op->error);
}

void bop_log(struct blockdev_op *op, int level, const char *fmt, ...)
{
	char line[1024];
	va_list ap;
	int k;

	if (!op->ctx->log)
		return;
	k = snprintf(line, sizeof line, "%s %s: ", op->proto, op->datastore);
	if (k < 0 || (size_t)k >= sizeof line)
		return;
	va_start(ap, fmt);
	vsnprintf(line + k, sizeof line - (size_t)k, fmt, ap);
	va_end(ap);
	op->ctx->log(op->ctx->log_userdata, level, line);
}

void bop_finish(struct blockdev_op *op, int r)
{
	const char *detail;

	if (r < 0)
		detail = op->error ? op->error : strerror(-r);
	else
		detail = op->result ? op->result : "";
	bop_log(op, LOG_DEBUG, "%s: %s", r < 0 ? "failed" : "done", detail);
	op->done(op->userdata, r, detail);
	op->free_op(op);
}

void bop_fail(struct blockdev_op *op, int r, const char *fmt, ...)
{
	va_list ap;
	char *text = NULL;

	va_start(ap, fmt);
	if (vasprintf(&text, fmt, ap) < 0)
		text = NULL;
	va_end(ap);
	free(op->error);
	op->error = text;
	bop_finish(op, r);
}

static int set_error(struct blockdev_op *op, int r, const char *fmt, ...) _printf_(3, 4);
static int set_error(struct blockdev_op *op, int r, const char *fmt, ...)
{
	va_list ap;
	char *text = NULL;

	va_start(ap, fmt);
	if (vasprintf(&text, fmt, ap) < 0)
		text = NULL;
	va_end(ap);
	free(op->error);
	op->error = text;
	return r;
}

char *bop_tool_text(const struct runner_result *res)
{
	return blockdev_tool_message(res->out, res->out_len, res->err, res->err_len);
}

int bop_tool_error(struct blockdev_op *op, const struct runner_result *res, int r)
{
	_cleanup_free_ char *msg = bop_tool_text(res);
	char how[192];

	runner_result_describe(res, how, sizeof how);
	set_error(op, r, "%s: %s%s%s", op->step ? op->step : "?", how, msg && *msg ? ": " : "", msg ? msg : "");
	if (res->timed_out || res->abandoned)
		return -ETIMEDOUT;
	if (res->cancelled || res->signal > 0)
		return -EINTR;
	return r;
}

/* The command line for messages: arguments joined by spaces, quoted when they contain one. */
static char *argv_text(const char *const *argv)
{
	size_t len = 1;
	char *text, *p;

	for (size_t i = 0; argv[i]; i++)
		len += strlen(argv[i]) + 3;
	p = text = malloc(len);
	if (!text)
		return NULL;
	for (size_t i = 0; argv[i]; i++) {
		bool quote = !argv[i][0] || strpbrk(argv[i], " \t\n'\"");

		if (i)
			*p++ = ' ';
		p = stpcpy(p, quote ? "'" : "");
		p = stpcpy(p, argv[i]);
		p = stpcpy(p, quote ? "'" : "");
	}
	*p = '\0';
	return text;
}

static void on_tool_done(struct runner_result *res, void *userdata)
{
	struct blockdev_op *op = userdata;
	bop_tool_fn next = op->tool_next;

	op->tool_next = NULL;
	next(op, res);
}

int bop_run(struct blockdev_op *op, const char *const *argv, const char *stdin_data, bop_tool_fn next)
{
	static const char *const env[] = { "LC_ALL=C", NULL };
	char what[256];
	struct runner_job job = {
		.argv = argv,
		.env = env,
		.stdin_data = stdin_data,
		.stdin_len = stdin_data ? strlen(stdin_data) : 0,
		.timeout_usec = blockdev_step_timeout(op->ctx),
		.what = what,
	};
	int k;

	free(op->step);
	op->step = argv_text(argv);
	if (!op->step)
		return set_error(op, -ENOMEM, "out of memory");
	snprintf(what, sizeof what, "%s for %s %s", argv[0], op->proto, op->datastore);
	op->tool_next = next;
	k = runner_start(op->ctx->runner, &job, on_tool_done, op, NULL);
	if (k < 0) {
		op->tool_next = NULL;
		return set_error(op, k, "%s: cannot run %s: %s", op->step, argv[0], strerror(-k));
	}
	return 0;
}

static void on_work_done(int r, void *arg, void *userdata)
{
	struct blockdev_op *op = userdata;
	bop_work_fn next = op->work_next;

	op->work_next = NULL;
	next(op, r, arg);
}

int bop_work(struct blockdev_op *op, int (*fn)(void *arg), void *arg, void (*free_arg)(void *arg), bop_work_fn next)
{
	int k;

	op->work_next = next;
	k = worker_submit(op->ctx->workers, fn, arg, free_arg, on_work_done, op, blockdev_step_timeout(op->ctx));
	if (k < 0) {
		op->work_next = NULL;
		return set_error(op, k, "cannot queue a sysfs lookup on the worker pool: %s", strerror(-k));
	}
	return 0;
}

uint64_t bop_now(struct blockdev_op *op)
{
	uint64_t now = 0;

	(void)sd_event_now(op->ctx->event, CLOCK_MONOTONIC, &now);
	return now;
}

static int on_timer(sd_event_source *s, uint64_t usec, void *userdata)
{
	struct blockdev_op *op = userdata;
	bop_next_fn next = op->timer_next;

	op->timer = sd_event_source_disable_unref(op->timer);
	op->timer_next = NULL;
	next(op, 0);
	return 0;
}

int bop_after(struct blockdev_op *op, uint64_t usec, bop_next_fn next)
{
	int k;

	op->timer = sd_event_source_disable_unref(op->timer);
	op->timer_next = next;
	/* sd_event_add_time_relative() needs libsystemd 247; the build allows 246. */
	k = sd_event_add_time(op->ctx->event, &op->timer, CLOCK_MONOTONIC, bop_now(op) + usec, 1000, on_timer, op);
	if (k < 0) {
		op->timer_next = NULL;
		return set_error(op, k, "cannot arm a timer: %s", strerror(-k));
	}
	return 0;
}

/* ---- shared SCSI flows ------------------------------------------------------------------------- */

struct scsi_lookup_job {
	char *sys_root, *dev_root, *serial;
	bool check_busy;
	struct blockdev_scsi found;   /* the worker's result */
};

static void scsi_lookup_job_free(void *arg)
{
	struct scsi_lookup_job *j = arg;

	free(j->sys_root);
	free(j->dev_root);
	free(j->serial);
	blockdev_scsi_clear(&j->found);
	free(j);
}

static int scsi_lookup_job_run(void *arg)
{
	struct scsi_lookup_job *j = arg;

	return blockdev_scsi_find(j->sys_root, j->dev_root, j->serial, j->check_busy, &j->found);
}

static void scsi_looked_up(struct blockdev_op *op, int r, void *arg)
{
	struct scsi_lookup_job *j = arg;
	bop_next_fn next = op->lookup_next;

	if (r < 0) {
		set_error(op, r, "looking for serial '%s' in %s/block: %s", op->serial, op->ctx->sys_root,
			  r == -ETIMEDOUT ? "the worker did not answer in time" : strerror(-r));
		next(op, r);
		return;
	}
	blockdev_scsi_clear(&op->scsi);
	op->scsi = j->found;
	j->found = (struct blockdev_scsi){ 0 };
	next(op, 0);
}

static int scsi_lookup(struct blockdev_op *op, bool check_busy, bop_next_fn next)
{
	struct scsi_lookup_job *j = calloc(1, sizeof *j);
	int k;

	if (!j)
		return set_error(op, -ENOMEM, "out of memory");
	j->sys_root = strdup(op->ctx->sys_root);
	j->dev_root = strdup(op->ctx->dev_root);
	j->serial = strdup(op->serial);
	j->check_busy = check_busy;
	if (!j->sys_root || !j->dev_root || !j->serial) {
		scsi_lookup_job_free(j);
		return set_error(op, -ENOMEM, "out of memory");
	}
	op->lookup_next = next;
	k = bop_work(op, scsi_lookup_job_run, j, scsi_lookup_job_free, scsi_looked_up);
	if (k < 0)
		scsi_lookup_job_free(j);
	return k;
}

int blockdev_scsi_lookup(struct blockdev_op *op, bool check_busy, bop_next_fn next)
{
	return scsi_lookup(op, check_busy, next);
}

/* Continues a flow with the error a failed start has set. */
static void flow_fail(struct blockdev_op *op, bop_next_fn next, int r)
{
	next(op, r);
}

/* -- wait for the map -- */

static void wait_poll(struct blockdev_op *op, int r);
static void wait_looked(struct blockdev_op *op, int r);

static void kick_done(struct blockdev_op *op, struct runner_result *res)
{
	_cleanup_free_ char *msg = bop_tool_text(res);
	char how[192], *note = NULL;
	int k;

	runner_result_describe(res, how, sizeof how);
	if (asprintf(&note, "%s%s%s: %s%s%s", op->kick_note ? op->kick_note : "", op->kick_note ? "; " : "",
		     op->step, how, msg && *msg ? ": " : "", msg ? msg : "") >= 0) {
		free(op->kick_note);
		op->kick_note = note;
	}
	k = scsi_lookup(op, false, wait_looked);
	if (k < 0)
		flow_fail(op, op->flow_next, k);
}

static void kick_added(struct blockdev_op *op, struct runner_result *res)
{
	_cleanup_free_ char *msg = bop_tool_text(res);
	_cleanup_free_ char *dev = blockdev_path(op->ctx->dev_root, op->scsi.paths[0].name);
	char how[192];
	int k;

	runner_result_describe(res, how, sizeof how);
	free(op->kick_note);
	op->kick_note = NULL;
	if (asprintf(&op->kick_note, "%s: %s%s%s", op->step, how, msg && *msg ? ": " : "", msg ? msg : "") < 0)
		op->kick_note = NULL;
	if (!dev) {
		flow_fail(op, op->flow_next, set_error(op, -ENOMEM, "out of memory"));
		return;
	}
	/* Creates (or reloads) the map of that path now. */
	k = bop_run(op, (const char *const[]){ "multipath", dev, NULL }, NULL, kick_done);
	if (k < 0)
		flow_fail(op, op->flow_next, k);
}

static void wait_kick(struct blockdev_op *op)
{
	_cleanup_free_ char *dev = blockdev_path(op->ctx->dev_root, op->scsi.paths[0].name);
	int k;

	op->kicked = true;
	if (!dev) {
		flow_fail(op, op->flow_next, set_error(op, -ENOMEM, "out of memory"));
		return;
	}
	bop_log(op, LOG_INFO, "serial '%s' is on %s without a multipath map: running multipath for it",
		op->serial, op->scsi.paths[0].name);
	/* multipath -a puts the WWID into the wwids file, so find_multipaths (strict / yes) takes the
	 * LUN now and after a reboot; multipathd creates maps for WWIDs it has seen by itself. */
	k = bop_run(op, (const char *const[]){ "multipath", "-a", dev, NULL }, NULL, kick_added);
	if (k < 0)
		flow_fail(op, op->flow_next, k);
}

static void wait_looked(struct blockdev_op *op, int r)
{
	const struct blockdev_scsi *s = &op->scsi;
	uint64_t now = bop_now(op);
	double secs = (double)blockdev_device_wait(op->ctx) / 1e6;
	int k;

	if (r < 0) {
		op->flow_next(op, r);
		return;
	}
	if (s->conflict) {
		set_error(op, -EEXIST, "serial '%s': %s", op->serial, s->conflict);
		op->flow_next(op, -EEXIST);
		return;
	}
	if (s->map[0] && s->map_name && s->map_node) {
		free(op->result);
		if (asprintf(&op->result, "%s/mapper/%s", op->ctx->dev_root, s->map_name) < 0) {
			op->result = NULL;
			op->flow_next(op, set_error(op, -ENOMEM, "out of memory"));
			return;
		}
		op->flow_next(op, 0);
		return;
	}
	if (s->n_paths && !op->paths_seen_at)
		op->paths_seen_at = now;
	if (now >= op->deadline) {
		_cleanup_free_ char *paths = blockdev_scsi_path_list(s);

		if (!s->n_paths)
			set_error(op, -ETIMEDOUT,
				  "no SCSI disk with serial '%s' appeared within %.1f s (no %s/block/sd*/device/vpd_pg80 "
				  "carries it)", op->serial, secs, op->ctx->sys_root);
		else if (!s->map[0])
			set_error(op, -ETIMEDOUT,
				  "serial '%s' is on %s, but no multipath map holds it after %.1f s%s%s", op->serial,
				  paths ? paths : "?", secs, op->kick_note ? "; " : " (is multipathd running?)",
				  op->kick_note ? op->kick_note : "");
		else
			set_error(op, -ETIMEDOUT,
				  "multipath map %s (%s) holds serial '%s', but %s/mapper/%s did not appear within %.1f s "
				  "(udev?)", s->map, s->map_name ? s->map_name : "?", op->serial, op->ctx->dev_root,
				  s->map_name ? s->map_name : "?", secs);
		op->flow_next(op, -ETIMEDOUT);
		return;
	}
	if (s->n_paths && !s->map[0] && !op->kicked && now - op->paths_seen_at >= blockdev_kick_after(op->ctx)) {
		wait_kick(op);
		return;
	}
	k = bop_after(op, BLOCKDEV_POLL_USEC, wait_poll);
	if (k < 0)
		op->flow_next(op, k);
}

static void wait_poll(struct blockdev_op *op, int r)
{
	int k = scsi_lookup(op, false, wait_looked);

	if (k < 0)
		op->flow_next(op, k);
}

int blockdev_scsi_wait(struct blockdev_op *op, bop_next_fn next)
{
	op->flow_next = next;
	op->deadline = bop_now(op) + blockdev_device_wait(op->ctx);
	op->paths_seen_at = 0;
	op->kicked = false;
	free(op->kick_note);
	op->kick_note = NULL;
	return scsi_lookup(op, false, wait_looked);
}

/* -- remove -- */

static void remove_next_path(struct blockdev_op *op);

static void remove_path_done(struct blockdev_op *op, struct runner_result *res)
{
	if (!runner_result_ok(res)) {
		op->flow_next(op, bop_tool_error(op, res, -EIO));
		return;
	}
	op->next_path++;
	remove_next_path(op);
}

static void remove_next_path(struct blockdev_op *op)
{
	_cleanup_free_ char *delete = NULL;
	const struct blockdev_scsi_path *p;
	int k;

	if (op->next_path >= op->scsi.n_paths) {
		op->flow_next(op, 0);
		return;
	}
	p = &op->scsi.paths[op->next_path];
	if (p->busy) {
		op->flow_next(op, set_error(op, -EBUSY,
					    "not deleting %s (serial '%s'): it is in use (mounted, or held by %s)",
					    p->name, op->serial, p->holder[0] ? p->holder : "a holder or an exclusive opener"));
		return;
	}
	if (asprintf(&delete, "%s/block/%s/device/delete", op->ctx->sys_root, p->name) < 0) {
		delete = NULL;
		op->flow_next(op, set_error(op, -ENOMEM, "out of memory"));
		return;
	}
	bop_log(op, LOG_DEBUG, "deleting SCSI disk %s (serial '%s')", p->name, op->serial);
	/* A child, not a worker: the write blocks in the kernel while the disk syncs its cache, and a
	 * dead path can keep it there; a child past its deadline is abandoned, a thread would be lost. */
	k = bop_run(op, (const char *const[]){ "tee", delete, NULL }, "1\n", remove_path_done);
	if (k < 0)
		op->flow_next(op, k);
}

static void remove_looked_busy(struct blockdev_op *op, int r)
{
	if (r < 0) {
		op->flow_next(op, r);
		return;
	}
	op->next_path = 0;
	remove_next_path(op);
}

static void remove_paths(struct blockdev_op *op)
{
	int k;

	if (!op->remove_paths) {
		op->flow_next(op, 0);
		return;
	}
	/* Look again (the map is gone now) and see whether anything still uses the paths. */
	k = scsi_lookup(op, true, remove_looked_busy);
	if (k < 0)
		op->flow_next(op, k);
}

static void remove_flushed(struct blockdev_op *op, struct runner_result *res)
{
	if (!runner_result_ok(res)) {
		_cleanup_free_ char *msg = bop_tool_text(res);

		op->flow_next(op, bop_tool_error(op, res, msg && strstr(msg, "in use") ? -EBUSY : -EIO));
		return;
	}
	remove_paths(op);
}

int blockdev_scsi_remove(struct blockdev_op *op, bool delete_paths, bop_next_fn next)
{
	const struct blockdev_scsi *s = &op->scsi;

	op->flow_next = next;
	op->remove_paths = delete_paths;
	if (s->conflict)
		return set_error(op, -EEXIST, "serial '%s': %s", op->serial, s->conflict);
	if (s->map[0] && s->map_name) {
		bop_log(op, LOG_DEBUG, "flushing multipath map %s (serial '%s')", s->map_name, op->serial);
		return bop_run(op, (const char *const[]){ "multipath", "-f", s->map_name, NULL }, NULL, remove_flushed);
	}
	remove_paths(op);
	return 0;
}

/* -- wait until gone -- */

static void gone_poll(struct blockdev_op *op, int r);

static void gone_looked(struct blockdev_op *op, int r)
{
	const struct blockdev_scsi *s = &op->scsi;
	int k;

	if (r < 0) {
		op->flow_next(op, r);
		return;
	}
	if (!s->n_paths) {
		op->flow_next(op, 0);
		return;
	}
	if (bop_now(op) >= op->deadline) {
		_cleanup_free_ char *paths = blockdev_scsi_path_list(s);

		op->flow_next(op, set_error(op, -ETIMEDOUT, "serial '%s' is still on %s %.1f s later%s%s", op->serial,
					    paths ? paths : "?", (double)blockdev_device_wait(op->ctx) / 1e6,
					    s->map[0] ? ", in multipath map " : "", s->map_name ? s->map_name : s->map));
		return;
	}
	k = bop_after(op, BLOCKDEV_POLL_USEC, gone_poll);
	if (k < 0)
		op->flow_next(op, k);
}

static void gone_poll(struct blockdev_op *op, int r)
{
	int k = scsi_lookup(op, false, gone_looked);

	if (k < 0)
		op->flow_next(op, k);
}

int blockdev_scsi_wait_gone(struct blockdev_op *op, bop_next_fn next)
{
	op->flow_next = next;
	op->deadline = bop_now(op) + blockdev_device_wait(op->ctx);
	return scsi_lookup(op, false, gone_looked);
}

/* ---- probe (iscsi, fc) --------------------------------------------------------------------------- */

static void probe_op_free(struct blockdev_op *op)
{
	bop_release(op);
	free(op);
}

static void probe_looked(struct blockdev_op *op, int r)
{
	const struct blockdev_scsi *s = &op->scsi;
	_cleanup_free_ char *paths = NULL;

	if (r < 0) {
		bop_finish(op, r);
		return;
	}
	if (s->conflict) {
		bop_fail(op, -EEXIST, "serial '%s': %s", op->serial, s->conflict);
		return;
	}
	if (s->map[0] && s->map_name && s->map_node) {
		if (asprintf(&op->result, "%s/mapper/%s", op->ctx->dev_root, s->map_name) < 0) {
			op->result = NULL;
			bop_fail(op, -ENOMEM, "out of memory");
			return;
		}
		bop_finish(op, 0);
		return;
	}
	paths = blockdev_scsi_path_list(s);
	if (!s->n_paths)
		bop_fail(op, -ENOENT, "serial '%s' is not attached: no SCSI disk carries it", op->serial);
	else
		bop_fail(op, -ENOENT, "serial '%s' is on %s, but %s", op->serial, paths ? paths : "?",
			 s->map[0] ? "its multipath map has no device node" : "no multipath map holds it");
}

int blockdev_scsi_probe(struct host_ctx *ctx, const struct host_target *t, const char *proto, host_done_fn done,
			void *userdata)
{
	struct blockdev_op *op;
	int k;

	if (!ctx || !t || !done || !blockdev_valid_serial(t->lun_serial))
		return -EINVAL;
	op = calloc(1, sizeof *op);
	if (!op)
		return -ENOMEM;
	if (bop_init(op, ctx, proto, t->datastore, done, userdata, probe_op_free) < 0 ||
	    !(op->serial = strdup(t->lun_serial))) {
		probe_op_free(op);
		return -ENOMEM;
	}
	k = blockdev_scsi_lookup(op, false, probe_looked);
	if (k < 0)
		probe_op_free(op);
	return k;
}
