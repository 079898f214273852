/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The simulated host backend (sim.h says what each hook does and why). Every hook is a short
 * chain of steps on one `struct op`: file work as jobs on the worker pool (the shared directory
 * is a FUSE mount that may hang; nothing touches it on the loop), `curl` and `mount` as children
 * through the runner. The chain ends in exactly one op_finish(), always from a callback.
 */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <syslog.h>
#include <netdb.h>
#include <sys/random.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/un.h>
#include <unistd.h>

#include <jansson.h>

#include "fs-common.h"
#include "inventory.h"
#include "macros.h"
#include "pool.h"
#include "runner.h"
#include "sim.h"
#include "worker.h"

#define SIMFS_MAGIC "KVMCD-SIMFS 1\n"
#define SIMFS_SUPER_SIZE 4096u
#define EMPTY_CHECK_BYTES (1u << 20)      /* "empty": the first MiB is all zero */
#define EMPTY_READ_CHUNK (64u << 10)      /* what of it is not a hole is read this much at a time */
#define DEFAULT_STEP_TIMEOUT (30 * USEC_PER_SEC)
#define DETAIL_MAX 1024u

/* ---- small helpers ------------------------------------------------------------------------ */

static uint64_t step_timeout(const struct host_ctx *ctx)
{
	return ctx->step_timeout_usec ? ctx->step_timeout_usec : DEFAULT_STEP_TIMEOUT;
}

static bool plain_name(const char *s)
{
	if (!s || !*s || strlen(s) > NAME_MAX || strcmp(s, ".") == 0 || strcmp(s, "..") == 0)
		return false;
	for (; *s; s++)
		if (*s == '/' || (unsigned char)*s < ' ' || *s == 0x7f)
			return false;
	return true;
}

char *host_sim_device_path(const char *run_dir, const char *id)
{
	char *p = NULL;

	if (!run_dir || !plain_name(id) || asprintf(&p, "%s/sim/dev/%s", run_dir, id) < 0)
		return NULL;
	return p;
}

int host_sim_mount_from_string(const char *s, enum host_sim_mount *out)
{
	if (s && strcmp(s, "bind") == 0)
		*out = HOST_SIM_MOUNT_BIND;
	else if (s && strcmp(s, "symlink") == 0)
		*out = HOST_SIM_MOUNT_SYMLINK;
	else
		return -EINVAL;
	return 0;
}

const char *host_sim_mount_to_string(enum host_sim_mount m)
{
	return m == HOST_SIM_MOUNT_SYMLINK ? "symlink" : m == HOST_SIM_MOUNT_BIND ? "bind" : "unknown";
}

/* sim_missing: names of INVENTORY_TOOLS / INVENTORY_MODULES. 0, or asprintf()'s result with
 * *why set. */
static int missing_check(const char *list, char **why)
{
	_cleanup_free_ char *copy = strdup(list);
	char *save = NULL;

	if (!copy)
		return asprintf(why, "sim_missing: out of memory");
	for (char *w = strtok_r(copy, ", \t", &save); w; w = strtok_r(NULL, ", \t", &save))
		if (!inventory_known_name(w))
			return asprintf(why, "sim_missing: \"%s\" is not a tool or kernel module the inventory reports", w);
	return 0;
}

int host_sim_check(const struct host_sim *s, char **why)
{
	const char *rest;
	int n = -1;

	if (!s || !s->url || (strncmp(s->url, "https://", 8) && strncmp(s->url, "http://", 7)))
		n = asprintf(why, "sim_url: \"%s\" is not an http:// or https:// URL", s && s->url ? s->url : "");
	else if ((rest = strstr(s->url, "://") + 3, !*rest || strchr(rest, '/') || strpbrk(rest, " ?#")))
		n = asprintf(why, "sim_url: \"%s\" must be scheme://host[:port], without a path", s->url);
	else if (!s->shared_dir || s->shared_dir[0] != '/')
		n = asprintf(why, "sim_shared_dir: \"%s\" is not an absolute path", s->shared_dir ? s->shared_dir : "");
	else if (s->ca_file && s->ca_file[0] != '/')
		n = asprintf(why, "sim_ca_file: \"%s\" is not an absolute path", s->ca_file);
	else if (s->access_socket && (s->access_socket[0] != '/' || strlen(s->access_socket) >= sizeof(((struct sockaddr_un *)0)->sun_path)))
		n = asprintf(why, "sim_access_socket: \"%s\" is not an absolute path of at most %zu characters", s->access_socket,
			     sizeof(((struct sockaddr_un *)0)->sun_path) - 1);
	else if ((unsigned)s->mount >= _HOST_SIM_MOUNT_MAX)
		n = asprintf(why, "sim_mount: must be \"bind\" or \"symlink\"");
	else if (!s->missing || (n = missing_check(s->missing, why)) == 0)
		return 0;
	if (n < 0)
		*why = NULL;
	return -EINVAL;
}

static int mkdir_p(const char *path, mode_t mode)
{
	_cleanup_free_ char *p = strdup(path);
	struct stat st;

	if (!p)
		return -ENOMEM;
	for (char *s = p + 1; *s; s++) {
		if (*s != '/')
			continue;
		*s = '\0';
		if (mkdir(p, mode) < 0 && errno != EEXIST)
			return -errno;
		*s = '/';
	}
	if (mkdir(p, mode) < 0 && errno != EEXIST)
		return -errno;
	if (stat(p, &st) < 0)
		return -errno;
	return S_ISDIR(st.st_mode) ? 0 : -ENOTDIR;
}

static char *dirname_of(const char *path)
{
	const char *slash = strrchr(path, '/');

	if (!slash || slash == path)
		return strdup("/");
	return strndup(path, (size_t)(slash - path));
}

/* Values in a probe detail never hold blanks (fs-common's convention). */
static void sanitize(char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s <= ' ' || *s == 0x7f)
			*s = '?';
}

static const char *fs_name(enum ds_fs fs)
{
	return fs == DS_FS_OCFS2 ? "ocfs2" : fs == DS_FS_GFS2 ? "gfs2" : "none";
}

static const char *proto_name(enum ds_protocol p)
{
	static const char *const names[] = { "iscsi", "fc", "nvme-tcp", "nfs", "smb" };

	return (unsigned)p < ARRAY_SIZE(names) ? names[p] : "unknown";
}

/* ---- the simulated superblock ------------------------------------------------------------- */

struct super {
	char fstype[16], label[64], uuid[40], cluster[128], stack[16];
	char data[96];   /* "data=": the directory under simfs/ holding a clone's data before it is
			    made distinct (a snapshot's copy); "" = simfs/<uuid> */
	unsigned slots;
};
_Static_assert(HOST_GFS2_FSNAME_MAX < sizeof(((struct super *)0)->label), "label room");

enum { SUPER_EMPTY, SUPER_SIMFS, SUPER_DATA };

/* Is every byte of buf[0..n) zero? */
static bool all_zero(const char *buf, size_t n)
{
	return n == 0 || (buf[0] == 0 && memcmp(buf, buf + 1, n - 1) == 0);
}

/*
 * Is [from, EMPTY_CHECK_BYTES) of fd all zero (1), not (0), or < 0? The holes of a sparse file
 * -- a simulated LUN is one -- read as zeros and are skipped (SEEK_DATA); what is not a hole is
 * read, in buf's size. Where SEEK_DATA is not supported all of it is read. Past the end is empty.
 */
static int rest_is_zero(int fd, off_t from, char *buf, size_t size)
{
	off_t pos = from;

	while (pos < (off_t)EMPTY_CHECK_BYTES) {
		off_t data = lseek(fd, pos, SEEK_DATA), end;

		if (data < 0 && errno == ENXIO)
			return 1; /* no data from pos to the end */
		if (data < 0) {
			data = pos;
			end = EMPTY_CHECK_BYTES;
		} else {
			if (data >= (off_t)EMPTY_CHECK_BYTES)
				return 1;
			end = lseek(fd, data, SEEK_HOLE);
			if (end < 0 || end > (off_t)EMPTY_CHECK_BYTES)
				end = EMPTY_CHECK_BYTES;
		}
		while (data < end) {
			ssize_t n = pread(fd, buf, (size_t)(end - data) < size ? (size_t)(end - data) : size, data);

			if (n < 0 && errno == EINTR)
				continue;
			if (n < 0)
				return -errno;
			if (n == 0)
				return 1;
			if (!all_zero(buf, (size_t)n))
				return 0;
			data += n;
		}
		pos = end;
	}
	return 1;
}

/* What the device holds: SUPER_EMPTY, SUPER_SIMFS (*s filled), SUPER_DATA; or -errno. */
static int super_read(const char *device, struct super *s)
{
	_cleanup_close_ int fd = open(device, O_RDONLY | O_CLOEXEC);
	_cleanup_free_ char *buf = NULL;
	ssize_t n;
	size_t got = 0;
	int r;

	if (fd < 0)
		return -errno;
	buf = malloc(EMPTY_READ_CHUNK + 1);
	if (!buf)
		return -ENOMEM;
	/* The superblock first: a file system is told by its first 4 KiB, and only a device
	 * without one needs the rest of the MiB looked at (is it empty?) -- its holes skipped.
	 * Every peer probes every datastore before and after its mkfs: reading the whole MiB each
	 * time was the largest item of the workers' time in bench/datastores.sh. */
	while (got < SIMFS_SUPER_SIZE) {
		n = pread(fd, buf + got, SIMFS_SUPER_SIZE - got, (off_t)got);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (n == 0)
			break;
		got += (size_t)n;
	}
	buf[got] = '\0';
	if (got >= strlen(SIMFS_MAGIC) && memcmp(buf, SIMFS_MAGIC, strlen(SIMFS_MAGIC)) == 0) {
		char *save = NULL;

		memset(s, 0, sizeof(*s));
		buf[got < SIMFS_SUPER_SIZE ? got : SIMFS_SUPER_SIZE - 1] = '\0';
		for (char *l = strtok_r(buf + strlen(SIMFS_MAGIC), "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
			char *eq = strchr(l, '=');
			if (!eq)
				continue;
			*eq++ = '\0';
			if (strcmp(l, "fstype") == 0)
				snprintf(s->fstype, sizeof(s->fstype), "%s", eq);
			else if (strcmp(l, "label") == 0)
				snprintf(s->label, sizeof(s->label), "%s", eq);
			else if (strcmp(l, "uuid") == 0)
				snprintf(s->uuid, sizeof(s->uuid), "%s", eq);
			else if (strcmp(l, "cluster") == 0)
				snprintf(s->cluster, sizeof(s->cluster), "%s", eq);
			else if (strcmp(l, "stack") == 0)
				snprintf(s->stack, sizeof(s->stack), "%s", eq);
			else if (strcmp(l, "slots") == 0)
				s->slots = (unsigned)strtoul(eq, NULL, 10);
			else if (strcmp(l, "data") == 0 && plain_name(eq))
				snprintf(s->data, sizeof(s->data), "%s", eq);
		}
		/* a superblock without a plain uuid could send mount outside the shared dir */
		return plain_name(s->uuid) && *s->fstype ? SUPER_SIMFS : SUPER_DATA;
	}
	if (!all_zero(buf, got))
		return SUPER_DATA;
	if (got < SIMFS_SUPER_SIZE)
		return SUPER_EMPTY; /* the device ends there */
	r = rest_is_zero(fd, SIMFS_SUPER_SIZE, buf, EMPTY_READ_CHUNK);
	return r < 0 ? r : r ? SUPER_EMPTY : SUPER_DATA;
}

static char *super_text(const struct super *s)
{
	char *t = NULL;

	if (asprintf(&t, SIMFS_MAGIC "fstype=%s\nlabel=%s\nuuid=%s\ncluster=%s\nstack=%s\nslots=%u\n%s%s%s", s->fstype,
		     s->label, s->uuid, s->cluster, s->stack, s->slots, *s->data ? "data=" : "", s->data,
		     *s->data ? "\n" : "") < 0)
		return NULL;
	return t;
}

static int super_write(const char *device, const struct super *s)
{
	_cleanup_free_ char *text = super_text(s);
	_cleanup_free_ char *block = calloc(1, SIMFS_SUPER_SIZE);
	_cleanup_close_ int fd = -1;
	ssize_t n;

	if (!text || !block)
		return -ENOMEM;
	if (strlen(text) >= SIMFS_SUPER_SIZE)
		return -E2BIG;
	memcpy(block, text, strlen(text));
	fd = open(device, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	n = pwrite(fd, block, SIMFS_SUPER_SIZE, 0);
	if (n < 0)
		return -errno;
	if ((size_t)n != SIMFS_SUPER_SIZE)
		return -EIO;
	return fdatasync(fd) < 0 ? -errno : 0;
}

/* The probe's words: "ocfs2 label=ds1 uuid=… slots=4 cluster=c stack=pcmk". Owned. */
static char *super_describe(const struct super *s)
{
	struct super c = *s;
	char *t = NULL;

	sanitize(c.fstype);
	sanitize(c.label);
	sanitize(c.uuid);
	sanitize(c.cluster);
	sanitize(c.stack);
	if (asprintf(&t, "%s label=%s uuid=%s slots=%u cluster=%s stack=%s", c.fstype, c.label, c.uuid, c.slots,
		     c.cluster, c.stack) < 0)
		return NULL;
	return t;
}

static int new_uuid(char out[37])
{
	unsigned char b[16];

	if (getrandom(b, sizeof(b), 0) != (ssize_t)sizeof(b))
		return -EIO;
	b[6] = (unsigned char)((b[6] & 0x0f) | 0x40);
	b[8] = (unsigned char)((b[8] & 0x3f) | 0x80);
	snprintf(out, 37, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", b[0], b[1], b[2],
		 b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13], b[14], b[15]);
	return 0;
}

/* ---- mount state of a mount point (worker) ------------------------------------------------ */

enum mstate { MP_NOT, MP_BIND, MP_LINK, MP_OTHER };

static void unescape_octal(char *s)
{
	char *w = s;

	for (char *r = s; *r;) {
		if (r[0] == '\\' && r[1] >= '0' && r[1] <= '7' && r[2] >= '0' && r[2] <= '7' && r[3] >= '0' && r[3] <= '7') {
			*w++ = (char)(((r[1] - '0') << 6) | ((r[2] - '0') << 3) | (r[3] - '0'));
			r += 4;
		} else
			*w++ = *r++;
	}
	*w = '\0';
}

/* The topmost /proc/self/mountinfo entry at mp: 1 and its dev / fstype / source, 0 when none. */
static int mountinfo_find(const char *mp, dev_t *dev, char *fstype, size_t ft_size, char *source, size_t src_size)
{
	_cleanup_fclose_ FILE *f = fopen("/proc/self/mountinfo", "re");
	_cleanup_free_ char *line = NULL;
	size_t cap = 0;
	int found = 0;

	if (!f)
		return -errno;
	while (getline(&line, &cap, f) > 0) {
		char *tok[8] = { 0 }, *save = NULL, *sep, *t;
		unsigned ma, mi;
		int n = 0;

		sep = strstr(line, " - ");
		if (!sep)
			continue;
		*sep = '\0';
		for (t = strtok_r(line, " ", &save); t && n < 6; t = strtok_r(NULL, " ", &save))
			tok[n++] = t;
		if (n < 6 || sscanf(tok[2], "%u:%u", &ma, &mi) != 2)
			continue;
		unescape_octal(tok[4]);
		if (strcmp(tok[4], mp) != 0)
			continue;
		save = NULL;
		tok[6] = strtok_r(sep + 3, " \n", &save);
		tok[7] = tok[6] ? strtok_r(NULL, " \n", &save) : NULL;
		*dev = makedev(ma, mi);
		snprintf(fstype, ft_size, "%s", tok[6] ? tok[6] : "?");
		snprintf(source, src_size, "%s", tok[7] ? tok[7] : "?");
		if (tok[7])
			unescape_octal(source);
		found = 1; /* keep going: the last entry is the topmost */
	}
	return found;
}

/*
 * What is at mp: MP_NOT (nothing mounted; mp may be an empty or absent directory), MP_BIND (a
 * mount of the shared dir's file system, and when src is given, showing src), MP_LINK (a symlink
 * into the shared dir, to src when given), MP_OTHER (*why says what). Negative errno on failure.
 */
static int mount_state(const char *mp, const char *src, const char *shared, char **why)
{
	char real[PATH_MAX], fstype[64], source[PATH_MAX], target[PATH_MAX];
	struct stat st, sh, ss;
	dev_t dev = 0;
	ssize_t n;
	int r;

	if (lstat(mp, &st) < 0)
		return errno == ENOENT ? MP_NOT : -errno;
	if (S_ISLNK(st.st_mode)) {
		size_t l = strlen(shared);
		n = readlink(mp, target, sizeof(target) - 1);
		if (n < 0)
			return -errno;
		target[n] = '\0';
		if (src ? strcmp(target, src) == 0
			: strncmp(target, shared, l) == 0 && (target[l] == '/' || target[l] == '\0'))
			return MP_LINK;
		if (asprintf(why, "%s is a symlink to %s", mp, target) < 0)
			*why = NULL;
		return MP_OTHER;
	}
	if (!realpath(mp, real))
		return -errno;
	r = mountinfo_find(real, &dev, fstype, sizeof(fstype), source, sizeof(source));
	if (r < 0)
		return r;
	if (r == 0)
		return MP_NOT;
	if (stat(shared, &sh) == 0 && dev == sh.st_dev &&
	    (!src || (stat(real, &st) == 0 && stat(src, &ss) == 0 && st.st_dev == ss.st_dev && st.st_ino == ss.st_ino)))
		return MP_BIND;
	if (asprintf(why, "something else is mounted at %s (%s %s)", mp, fstype, source) < 0)
		*why = NULL;
	return MP_OTHER;
}

/* ---- worker jobs --------------------------------------------------------------------------- */

enum job_kind {
	J_LOOKUP,       /* identity for proto; readlink(device) when device is set */
	J_LINK,         /* device -> backing */
	J_UNLINK,       /* remove device */
	J_FS_PROBE,
	J_FS_MKFS,
	J_FS_GROW,
	J_FS_DISTINCT,  /* a clone: new uuid + label, its data directory copied */
	J_MOUNT_PREP,   /* fs: read the superblock for src; nas: make src; state; symlink mode: link */
	J_MOUNT_CHECK,  /* state of mount_point (src when known) */
	J_UMOUNT_PREP,  /* state; a link of ours is removed here */
};

struct job {
	enum job_kind kind;
	/* inputs, owned */
	enum ds_protocol proto;
	enum ds_fs fs;                 /* fs jobs: the table's type; DS_FS_NONE for NAS mounts */
	char *etc_root, *sys_root;
	char *device, *backing, *shared, *mount_point, *src;
	enum host_sim_mount mode;
	char *label, *cluster;
	unsigned slots;
	/* outputs, owned */
	int r;
	char *detail;
	char *identity;                /* IQN, "wwpn,wwpn", NQN */
	char *link_target;             /* J_LOOKUP: NULL when the device link does not exist */
	char *src_out;                 /* J_MOUNT_PREP (fs): the data directory */
	int ms;                        /* enum mstate */
};

static void job_free(void *arg)
{
	struct job *j = arg;

	if (!j)
		return;
	free(j->etc_root);
	free(j->sys_root);
	free(j->device);
	free(j->backing);
	free(j->shared);
	free(j->mount_point);
	free(j->src);
	free(j->label);
	free(j->cluster);
	free(j->detail);
	free(j->identity);
	free(j->link_target);
	free(j->src_out);
	free(j);
}

static int job_fail(struct job *j, int r, const char *fmt, ...) _printf_(3, 4);
static int job_fail(struct job *j, int r, const char *fmt, ...)
{
	va_list ap;

	free(j->detail);
	j->detail = NULL;
	va_start(ap, fmt);
	if (vasprintf(&j->detail, fmt, ap) < 0)
		j->detail = NULL;
	va_end(ap);
	j->r = r;
	return r;
}

static int job_identity(struct job *j)
{
	json_auto_t *wwpns = NULL;
	int r;

	switch (j->proto) {
	case DS_PROTO_ISCSI:
		r = inventory_read_iqn(j->etc_root, &j->identity);
		if (r < 0)
			return job_fail(j, r == -ENOMEM ? r : -EINVAL, "no usable iSCSI initiator name in %s/iscsi/initiatorname.iscsi (%s)",
					j->etc_root, r == -EINVAL ? "not an iSCSI name" : strerror(-r));
		return 0;
	case DS_PROTO_NVME_TCP:
		r = inventory_read_nqn(j->etc_root, &j->identity);
		if (r < 0)
			return job_fail(j, r == -ENOMEM ? r : -EINVAL, "no usable NVMe host NQN in %s/nvme/hostnqn (%s)", j->etc_root,
					r == -EINVAL ? "not an NQN" : strerror(-r));
		return 0;
	case DS_PROTO_FC: {
		size_t i, len = 0;
		json_t *w;
		r = inventory_read_wwpns(j->sys_root, &wwpns);
		if (r < 0)
			return job_fail(j, r, "reading %s/class/fc_host: %s", j->sys_root, strerror(-r));
		if (json_array_size(wwpns) == 0)
			return job_fail(j, -EINVAL, "no FC host port in %s/class/fc_host", j->sys_root);
		j->identity = calloc(1, json_array_size(wwpns) * 20);
		if (!j->identity)
			return job_fail(j, -ENOMEM, "out of memory");
		json_array_foreach(wwpns, i, w)
			len += (size_t)sprintf(j->identity + len, "%s%s", i ? "," : "", json_string_value(w));
		return 0;
	}
	default:
		return job_fail(j, -EINVAL, "protocol %s is not block storage", proto_name(j->proto));
	}
}

static int job_lookup(struct job *j)
{
	char target[PATH_MAX];
	ssize_t n;
	int r;

	if (j->device) {
		n = readlink(j->device, target, sizeof(target) - 1);
		if (n < 0 && errno != ENOENT && errno != EINVAL)
			return job_fail(j, -errno, "reading %s: %s", j->device, strerror(errno));
		if (n >= 0) {
			target[n] = '\0';
			j->link_target = strdup(target);
			if (!j->link_target)
				return job_fail(j, -ENOMEM, "out of memory");
		} else
			return 0;   /* not attached: no identity needed */
	}
	r = job_identity(j);
	return r < 0 ? r : 0;
}

static int job_link(struct job *j)
{
	_cleanup_free_ char *dir = dirname_of(j->device), *tmp = NULL;
	char target[PATH_MAX];
	ssize_t n;
	int r;

	if (!dir)
		return job_fail(j, -ENOMEM, "out of memory");
	n = readlink(j->device, target, sizeof(target) - 1);
	if (n >= 0) {
		target[n] = '\0';
		if (strcmp(target, j->backing) == 0)
			return 0;
	}
	r = mkdir_p(dir, 0755);
	if (r < 0)
		return job_fail(j, r, "creating %s: %s", dir, strerror(-r));
	/* replaced atomically: the device never disappears under a reader */
	if (asprintf(&tmp, "%s.tmp%d", j->device, (int)getpid()) < 0)
		return job_fail(j, -ENOMEM, "out of memory");
	(void)unlink(tmp);
	if (symlink(j->backing, tmp) < 0)
		return job_fail(j, -errno, "symlink %s -> %s: %s", tmp, j->backing, strerror(errno));
	if (rename(tmp, j->device) < 0) {
		r = -errno;
		(void)unlink(tmp);
		return job_fail(j, r, "rename %s -> %s: %s", tmp, j->device, strerror(-r));
	}
	return 0;
}

static int job_unlink(struct job *j)
{
	if (unlink(j->device) < 0) {
		if (errno == ENOENT) {
			j->detail = strdup("not attached");
			return 0;
		}
		return job_fail(j, -errno, "removing %s: %s", j->device, strerror(errno));
	}
	j->detail = strdup("detached");
	return 0;
}

static int job_fs_probe(struct job *j)
{
	struct super s;
	int r = super_read(j->device, &s);

	if (r < 0)
		return job_fail(j, r, "reading %s: %s", j->device, strerror(-r));
	j->detail = r == SUPER_SIMFS ? super_describe(&s) : strdup(r == SUPER_EMPTY ? "empty" : "data");
	return j->detail ? 0 : job_fail(j, -ENOMEM, "out of memory");
}

static int job_fs_mkfs(struct job *j)
{
	_cleanup_free_ char *top = NULL, *data = NULL, *info = NULL, *tmp = NULL, *text = NULL, *what = NULL;
	unsigned max = j->fs == DS_FS_GFS2 ? DS_GFS2_MAX_NODES : DS_OCFS2_MAX_NODES;
	struct super s = { 0 };
	FILE *f;
	int r;

	if (!j->label || !*j->label || !j->cluster || !*j->cluster || j->slots == 0 || j->slots > max)
		return job_fail(j, -EINVAL, "mkfs.%s on %s: a label, a cluster name and 1..%u slots are needed", fs_name(j->fs),
				j->device, max);
	r = super_read(j->device, &s);
	if (r < 0)
		return job_fail(j, r, "reading %s: %s", j->device, strerror(-r));
	if (r == SUPER_SIMFS) {
		what = super_describe(&s);
		return job_fail(j, -EEXIST, "%s holds %s; kvmcd never formats a device that holds data", j->device,
				what ? what : "a file system");
	}
	if (r == SUPER_DATA)
		return job_fail(j, -EEXIST, "%s holds data (not all zero); kvmcd never formats a device that holds data",
				j->device);

	memset(&s, 0, sizeof(s));
	snprintf(s.fstype, sizeof(s.fstype), "%s", fs_name(j->fs));
	/* GFS2's lock table holds a shortened fs name: the real probe reports that, so does this */
	if (j->fs == DS_FS_GFS2)
		host_gfs2_fsname(j->label, s.label);
	else
		snprintf(s.label, sizeof(s.label), "%s", j->label);
	snprintf(s.cluster, sizeof(s.cluster), "%s", j->cluster);
	snprintf(s.stack, sizeof(s.stack), "%s", j->fs == DS_FS_GFS2 ? "lock_dlm" : "pcmk");
	s.slots = j->slots;
	if (new_uuid(s.uuid) < 0)
		return job_fail(j, -EIO, "getrandom failed");
	if (asprintf(&top, "%s/simfs", j->shared) < 0 || asprintf(&data, "%s/%s", top, s.uuid) < 0 ||
	    asprintf(&info, "%s.info", data) < 0 || asprintf(&tmp, "%s.tmp", info) < 0 || !(text = super_text(&s)))
		return job_fail(j, -ENOMEM, "out of memory");
	/* the data directory first: a crash leaves an orphan directory, never a file system
	 * whose data directory is missing */
	r = mkdir_p(data, 0755);
	if (r < 0)
		return job_fail(j, r, "creating %s: %s", data, strerror(-r));
	f = fopen(tmp, "we");
	if (!f)
		return job_fail(j, -errno, "writing %s: %s", tmp, strerror(errno));
	r = fputs(text, f) < 0 || fflush(f) != 0 || fsync(fileno(f)) < 0 ? -EIO : 0;
	if (fclose(f) != 0 && r == 0)
		r = -EIO;
	if (r == 0 && rename(tmp, info) < 0)
		r = -errno;
	if (r < 0)
		return job_fail(j, r, "writing %s: %s", info, strerror(-r));
	r = super_write(j->device, &s);
	if (r < 0)
		return job_fail(j, r, "writing the superblock to %s: %s", j->device, strerror(-r));
	j->detail = strdup(s.uuid);
	return j->detail ? 0 : job_fail(j, -ENOMEM, "out of memory");
}

static int job_fs_grow(struct job *j)
{
	unsigned max = j->fs == DS_FS_GFS2 ? DS_GFS2_MAX_NODES : DS_OCFS2_MAX_NODES;
	struct super s;
	int r = super_read(j->device, &s);

	if (r < 0)
		return job_fail(j, r, "reading %s: %s", j->device, strerror(-r));
	if (r != SUPER_SIMFS || strcmp(s.fstype, fs_name(j->fs)) != 0)
		return job_fail(j, -EINVAL, "%s holds no %s file system", j->device, fs_name(j->fs));
	if (j->slots > max)
		return job_fail(j, -EINVAL, "%s: %u slots is more than %s holds (%u)", j->device, j->slots, fs_name(j->fs), max);
	if (j->slots > s.slots) {
		s.slots = j->slots;
		r = super_write(j->device, &s);
		if (r < 0)
			return job_fail(j, r, "writing the superblock to %s: %s", j->device, strerror(-r));
	}
	if (asprintf(&j->detail, "slots=%u", s.slots) < 0)
		return job_fail(j, -ENOMEM, "out of memory");
	return 0;
}

/* Copies the tree src to dst (which must not exist): directories, regular files, symlinks. */
static int copy_tree(const char *src, const char *dst)
{
	DIR *d;
	struct stat st;
	struct dirent *e;

	if (lstat(src, &st) < 0)
		return -errno;
	if (S_ISLNK(st.st_mode)) {
		char target[PATH_MAX];
		ssize_t n = readlink(src, target, sizeof(target) - 1);
		if (n < 0)
			return -errno;
		target[n] = '\0';
		return symlink(target, dst) < 0 ? -errno : 0;
	}
	if (S_ISREG(st.st_mode)) {
		_cleanup_close_ int in = open(src, O_RDONLY | O_CLOEXEC), out = -1;
		char buf[65536];
		ssize_t n;
		if (in < 0)
			return -errno;
		out = open(dst, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, st.st_mode & 07777);
		if (out < 0)
			return -errno;
		while ((n = read(in, buf, sizeof(buf))) != 0) {
			if (n < 0) {
				if (errno == EINTR)
					continue;
				return -errno;
			}
			if (write(out, buf, (size_t)n) != n)
				return -EIO;
		}
		return fsync(out) < 0 ? -errno : 0;
	}
	if (!S_ISDIR(st.st_mode))
		return 0; /* sockets, fifos, devices: not data a test writes */
	if (mkdir(dst, st.st_mode & 07777) < 0)
		return -errno;
	d = opendir(src);
	if (!d)
		return -errno;
	for (;;) {
		_cleanup_free_ char *a = NULL, *b = NULL;
		int r;
		errno = 0;
		if (!(e = readdir(d))) {
			r = errno ? -errno : 0;
			closedir(d);
			return r;
		}
		if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
			continue;
		if (asprintf(&a, "%s/%s", src, e->d_name) < 0 || asprintf(&b, "%s/%s", dst, e->d_name) < 0)
			r = -ENOMEM;
		else
			r = copy_tree(a, b);
		if (r < 0) {
			closedir(d);
			return r;
		}
	}
}

/*
 * A clone of a simulated file system (the array copied the device, superblock included): a new
 * uuid and the wanted label, as tunefs.ocfs2 --cloned-volume / tunegfs2 do. The data directory
 * is the array's business in real life (the clone's blocks); here it is shared_dir/simfs/<uuid>:
 * the clone's superblock names the directory its data is in ("data=", written by the ONTAP
 * simulator when it clones a volume from a snapshot: that snapshot's copy of the data) or, when
 * it names none, the parent's own directory -- copied to the new uuid's directory first (a crash
 * in between leaves an orphan directory, never a file system without its data).
 */
static int job_fs_distinct(struct job *j)
{
	_cleanup_free_ char *src = NULL, *data = NULL, *tmp = NULL, *info = NULL, *text = NULL, *what = NULL;
	char want[sizeof(((struct super *)0)->label)];
	struct super s;
	FILE *f;
	int r = super_read(j->device, &s);

	if (r < 0)
		return job_fail(j, r, "reading %s: %s", j->device, strerror(-r));
	if (r != SUPER_SIMFS || strcmp(s.fstype, fs_name(j->fs)) != 0) {
		what = r == SUPER_SIMFS ? super_describe(&s) : NULL;
		return job_fail(j, -EEXIST, "%s holds %s, not a copy of a %s file system", j->device,
				what ? what : r == SUPER_EMPTY ? "nothing" : "data", fs_name(j->fs));
	}
	if (!j->label || !*j->label)
		return job_fail(j, -EINVAL, "%s: no label to give the clone", j->device);
	if (j->fs == DS_FS_GFS2)
		host_gfs2_fsname(j->label, want);
	else
		snprintf(want, sizeof(want), "%s", j->label);
	if (strcmp(s.label, want) == 0) {
		j->detail = strdup(s.uuid); /* done before */
		return j->detail ? 0 : job_fail(j, -ENOMEM, "out of memory");
	}
	if (asprintf(&src, "%s/simfs/%s", j->shared, *s.data ? s.data : s.uuid) < 0)
		return job_fail(j, -ENOMEM, "out of memory");
	if (new_uuid(s.uuid) < 0)
		return job_fail(j, -EIO, "getrandom failed");
	if (asprintf(&data, "%s/simfs/%s", j->shared, s.uuid) < 0 || asprintf(&tmp, "%s.tmp", data) < 0 ||
	    asprintf(&info, "%s.info", data) < 0)
		return job_fail(j, -ENOMEM, "out of memory");
	r = copy_tree(src, tmp);
	if (r == 0 && rename(tmp, data) < 0)
		r = -errno;
	if (r < 0)
		return job_fail(j, r, "copying the clone's data %s to %s: %s", src, data, strerror(-r));
	snprintf(s.label, sizeof(s.label), "%s", want);
	if (j->cluster && *j->cluster)
		snprintf(s.cluster, sizeof(s.cluster), "%s", j->cluster);
	s.data[0] = '\0';
	if (!(text = super_text(&s)))
		return job_fail(j, -ENOMEM, "out of memory");
	f = fopen(info, "we");
	if (!f)
		return job_fail(j, -errno, "writing %s: %s", info, strerror(errno));
	r = fputs(text, f) < 0 || fflush(f) != 0 || fsync(fileno(f)) < 0 ? -EIO : 0;
	if (fclose(f) != 0 && r == 0)
		r = -EIO;
	if (r < 0)
		return job_fail(j, r, "writing %s: %s", info, strerror(-r));
	r = super_write(j->device, &s);
	if (r < 0)
		return job_fail(j, r, "writing the superblock to %s: %s", j->device, strerror(-r));
	j->detail = strdup(s.uuid);
	return j->detail ? 0 : job_fail(j, -ENOMEM, "out of memory");
}

static int job_mount_prep(struct job *j)
{
	_cleanup_free_ char *why = NULL, *parent = NULL;
	struct stat st;
	int r, ms;

	if (j->fs != DS_FS_NONE) {
		struct super s;
		r = super_read(j->device, &s);
		if (r < 0)
			return job_fail(j, r, "reading %s: %s", j->device, strerror(-r));
		if (r != SUPER_SIMFS)
			return job_fail(j, -EINVAL, "mount -t %s %s: the device holds %s", fs_name(j->fs), j->device,
					r == SUPER_EMPTY ? "no file system" : "no file system but data");
		if (strcmp(s.fstype, fs_name(j->fs)) != 0)
			return job_fail(j, -EINVAL, "mount -t %s %s: the device holds %s", fs_name(j->fs), j->device, s.fstype);
		if (asprintf(&j->src_out, "%s/simfs/%s", j->shared, s.uuid) < 0)
			return job_fail(j, -ENOMEM, "out of memory");
		if (stat(j->src_out, &st) < 0 || !S_ISDIR(st.st_mode))
			return job_fail(j, -EIO, "the file system's data directory %s is missing (is %s the shared directory?)",
					j->src_out, j->shared);
	} else {
		j->src_out = strdup(j->src);
		if (!j->src_out)
			return job_fail(j, -ENOMEM, "out of memory");
		r = mkdir_p(j->src_out, 0755);
		if (r < 0)
			return job_fail(j, r, "creating %s: %s", j->src_out, strerror(-r));
	}
	sim_dead_fuse_mount_clear(j->mount_point);
	ms = mount_state(j->mount_point, j->src_out, j->shared, &why);
	if (ms < 0)
		return job_fail(j, ms, "inspecting %s: %s", j->mount_point, strerror(-ms));
	j->ms = ms;
	if (ms == MP_OTHER)
		return job_fail(j, -EEXIST, "%s", why ? why : "something else is at the mount point");
	if (ms != MP_NOT)
		return 0;
	parent = dirname_of(j->mount_point);
	if (!parent)
		return job_fail(j, -ENOMEM, "out of memory");
	if (j->mode == HOST_SIM_MOUNT_BIND) {
		r = mkdir_p(j->mount_point, 0755);
		if (r < 0)
			return job_fail(j, r, "creating %s: %s", j->mount_point, strerror(-r));
		/* mount(2) on this worker, not a mount(8) child: 50 datastores on 3 nodes spawned 150
		 * of them at once, ~9 % of a round's CPU while both CPUs were saturated
		 * (bench/datastores.sh). The real file systems keep mount(8) and its helpers
		 * (fs-common.c). */
		if (mount(j->src_out, j->mount_point, NULL, MS_BIND, NULL) < 0)
			return job_fail(j, -errno, "mount --bind %s %s: %s", j->src_out, j->mount_point, strerror(errno));
		/* seen mounted: the mount point is now the data directory itself (mount_state()
		 * found nothing there a moment ago; this skips its second read of mountinfo) */
		{
			struct stat at, data;

			if (stat(j->mount_point, &at) < 0 || stat(j->src_out, &data) < 0 || at.st_dev != data.st_dev ||
			    at.st_ino != data.st_ino)
				return job_fail(j, -EIO, "mount --bind %s %s succeeded but %s does not show %s", j->src_out,
						j->mount_point, j->mount_point, j->src_out);
		}
		j->ms = MP_BIND;
		return 0;
	}
	/* symlink mode: an empty directory gives way to the link; anything else stays */
	if (lstat(j->mount_point, &st) == 0) {
		if (!S_ISDIR(st.st_mode) || rmdir(j->mount_point) < 0)
			return job_fail(j, -EEXIST, "%s exists and is not an empty directory", j->mount_point);
	}
	r = mkdir_p(parent, 0755);
	if (r < 0)
		return job_fail(j, r, "creating %s: %s", parent, strerror(-r));
	if (symlink(j->src_out, j->mount_point) < 0)
		return job_fail(j, -errno, "symlink %s -> %s: %s", j->mount_point, j->src_out, strerror(errno));
	j->ms = MP_LINK;
	return 0;
}

static int job_mount_check(struct job *j)
{
	_cleanup_free_ char *why = NULL;
	int ms;

	sim_dead_fuse_mount_clear(j->mount_point);
	ms = mount_state(j->mount_point, j->src, j->shared, &why);

	if (ms < 0)
		return job_fail(j, ms, "inspecting %s: %s", j->mount_point, strerror(-ms));
	j->ms = ms;
	if (ms == MP_OTHER)
		j->detail = TAKE_PTR(why);
	return 0;
}

/* Unmounts what mount_prep made (a link or a bind mount) and says MP_NOT, or says what is there. */
static int job_umount_prep(struct job *j)
{
	int r = job_mount_check(j);

	if (r < 0 || (j->ms != MP_LINK && j->ms != MP_BIND))
		return r;
	if (j->ms == MP_LINK && unlink(j->mount_point) < 0 && errno != ENOENT)
		return job_fail(j, -errno, "removing %s: %s", j->mount_point, strerror(errno));
	if (j->ms == MP_BIND) {
		if (umount2(j->mount_point, 0) < 0)
			return job_fail(j, -errno, "umount %s: %s", j->mount_point, strerror(errno));
		r = job_mount_check(j);
		if (r < 0)
			return r;
		if (j->ms != MP_NOT)
			return job_fail(j, -EBUSY, "umount %s succeeded but %s is still mounted", j->mount_point,
					j->mount_point);
	}
	j->ms = MP_NOT;
	free(j->detail);
	j->detail = strdup("unmounted");
	return 0;
}

static int job_run(void *arg)
{
	struct job *j = arg;

	j->r = 0;
	switch (j->kind) {
	case J_LOOKUP: return job_lookup(j);
	case J_LINK: return job_link(j);
	case J_UNLINK: return job_unlink(j);
	case J_FS_PROBE: return job_fs_probe(j);
	case J_FS_MKFS: return job_fs_mkfs(j);
	case J_FS_GROW: return job_fs_grow(j);
	case J_FS_DISTINCT: return job_fs_distinct(j);
	case J_MOUNT_PREP: return job_mount_prep(j);
	case J_MOUNT_CHECK: return job_mount_check(j);
	case J_UMOUNT_PREP: return job_umount_prep(j);
	}
	return job_fail(j, -EINVAL, "unknown job");
}

/* ---- one operation ------------------------------------------------------------------------- */

struct op;
typedef void (*op_work_then)(struct op *op, struct job *j);
typedef void (*op_json_then)(struct op *op, json_t *answer);

struct op {
	struct host_ctx *ctx;          /* borrowed */
	const struct host_sim *sim;    /* borrowed (ctx->sim) */
	host_done_fn done;
	void *userdata;                /* borrowed */
	enum ds_protocol proto;
	enum ds_fs fs;
	char *id;                      /* LUN serial / namespace uuid */
	char *device;                  /* block: the sim device path; fs: the device given */
	char *want_target;             /* iscsi target IQN / subsystem NQN to check; NULL: any */
	char *export_path;             /* nfs junction / smb share */
	char *mount_point;
	char *src;                     /* the shared directory shown at the mount point */
	char *identity;
	char *link_target;
	char *query;                   /* the /sim/access query, for messages */
	op_work_then work_then;
	op_json_then json_then;
	struct op *live_prev, *live_next; /* ctx->sim_live_ops: in flight, for host_sim_cancel() */
	struct ask *ask;               /* the /sim/access ask it waits for, or NULL */
	struct op *ask_next;           /* its other waiters */
};

/*
 * One GET /sim/access, shared by the operations that ask the same query in one turn of the loop:
 * it starts at the end of that turn (a defer source), after every one of them asked, so its answer
 * is never older than any asker's need; an operation asking once it has started waits for the
 * next. A burst of attaches after one records commit costs one curl instead of one each
 * (bench/datastores.sh: ~150 curls with a TLS handshake each, ~2 CPU-s of a saturated run).
 */
struct ask {
	struct host_ctx *ctx;          /* borrowed */
	char *query;                   /* owned: "key=value", or "" */
	char *cmd;                     /* owned: the curl command, for the runner's messages */
	sd_event_source *defer;        /* owned: starts it */
	bool started;
	uint64_t asked_at, started_at; /* CLOCK_MONOTONIC: first asked, curl started (debug line) */
	struct op *waiters;            /* borrowed: linked by op->ask_next */
	struct ask *next;              /* ctx->sim_asks */
};

static void ask_unlink_op(struct op *op)
{
	for (struct op **w = op->ask ? &op->ask->waiters : NULL; w && *w; w = &(*w)->ask_next)
		if (*w == op) {
			*w = op->ask_next;
			break;
		}
	op->ask = NULL;
	op->ask_next = NULL;
}

/* Frees a (its waiters are the caller's). */
static void ask_free(struct ask *a)
{
	if (!a)
		return;
	for (struct ask **p = (struct ask **)&a->ctx->sim_asks; *p; p = &(*p)->next)
		if (*p == a) {
			*p = a->next;
			break;
		}
	sd_event_source_disable_unref(a->defer);
	free(a->query);
	free(a->cmd);
	free(a);
}

static void op_free(struct op *op)
{
	if (!op)
		return;
	ask_unlink_op(op);
	if (op->live_prev)
		op->live_prev->live_next = op->live_next;
	else if (op->ctx && op->ctx->sim_live_ops == op)
		op->ctx->sim_live_ops = op->live_next;
	if (op->live_next)
		op->live_next->live_prev = op->live_prev;
	free(op->id);
	free(op->device);
	free(op->want_target);
	free(op->export_path);
	free(op->mount_point);
	free(op->src);
	free(op->identity);
	free(op->link_target);
	free(op->query);
	free(op);
}

/* Ends the operation: done exactly once (always from a callback on the loop), then freed. */
static void op_finish(struct op *op, int r, const char *fmt, ...) _printf_(3, 4);
static void op_finish(struct op *op, int r, const char *fmt, ...)
{
	char detail[DETAIL_MAX];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(detail, sizeof(detail), fmt, ap);
	va_end(ap);
	op->done(op->userdata, r, detail);
	op_free(op);
}

static struct op *op_new(struct host_ctx *ctx, host_done_fn done, void *userdata)
{
	struct op *op;

	if (!ctx || !ctx->sim || !ctx->runner || !ctx->workers || !ctx->run_dir || !done)
		return NULL;
	op = calloc(1, sizeof(*op));
	if (!op)
		return NULL;
	op->ctx = ctx;
	op->sim = ctx->sim;
	op->done = done;
	op->userdata = userdata;
	op->live_next = ctx->sim_live_ops;
	if (op->live_next)
		op->live_next->live_prev = op;
	ctx->sim_live_ops = op;
	return op;
}

void host_sim_cancel(struct host_ctx *ctx)
{
	while (ctx && ctx->sim_live_ops)
		op_free(ctx->sim_live_ops);
	while (ctx && ctx->sim_asks)
		ask_free(ctx->sim_asks);
}

/* Where the simulator's jobs run (host.h: sim_workers). */
static struct worker_pool *sim_pool(const struct host_ctx *ctx)
{
	return ctx->sim_workers ? ctx->sim_workers : ctx->workers;
}

static int op_check(struct host_ctx *ctx, host_done_fn done)
{
	if (!ctx || !ctx->sim || !ctx->runner || !ctx->workers || !ctx->run_dir || !done)
		return -EINVAL;
	return 0;
}

static struct job *job_new(struct op *op, enum job_kind kind)
{
	struct job *j = calloc(1, sizeof(*j));

	if (!j)
		return NULL;
	j->kind = kind;
	j->proto = op->proto;
	j->fs = op->fs;
	j->mode = op->sim->mount;
	j->shared = strdup(op->sim->shared_dir);
	if (!j->shared) {
		free(j);
		return NULL;
	}
	return j;
}

static void work_done(int r, void *arg, void *userdata)
{
	struct op *op = userdata;
	struct job *j = arg;

	if (!j) {
		op_finish(op, r, "%s: the file system step did not finish in %.0f s",
			  op->mount_point ? op->mount_point : op->device ? op->device : "sim",
			  (double)step_timeout(op->ctx) / USEC_PER_SEC);
		return;
	}
	op->work_then(op, j);
}

/* Submits j (taken, also on failure); then(op, j) follows on the loop. < 0: nothing started. */
static int op_work(struct op *op, struct job *j, op_work_then then)
{
	int r;

	if (!j)
		return -ENOMEM;
	op->work_then = then;
	r = worker_submit(sim_pool(op->ctx), job_run, j, job_free, work_done, op, step_timeout(op->ctx));
	if (r < 0)
		job_free(j);
	return r;
}

/* op_work from a callback: a failure to start ends the operation. */
static void op_work_or_finish(struct op *op, struct job *j, op_work_then then)
{
	int r = op_work(op, j, then);

	if (r < 0)
		op_finish(op, r, "starting a file system step: %s", strerror(-r));
}

/* ---- children: curl ------------------------------------------------------------------------ */

static void tool_message(const struct runner_result *res, char *buf, size_t size)
{
	const char *m = res->err_len ? res->err : res->out;
	size_t n = 0;

	for (; *m && n + 1 < size; m++)
		buf[n++] = *m == '\n' || *m == '\t' ? ' ' : *m;
	while (n && buf[n - 1] == ' ')
		n--;
	buf[n] = '\0';
}

/* The simulator's answer lists every LUN an initiator reaches: room for thousands. */
#define ANSWER_MAX (8u << 20)

/* argv joined by spaces, for the runner's messages. Owned; NULL on ENOMEM. */
static char *argv_join(const char *const *argv)
{
	size_t len = 0;
	char *s;

	for (size_t i = 0; argv[i]; i++)
		len += strlen(argv[i]) + 1;
	s = calloc(1, len + 1);
	for (size_t i = 0; s && argv[i]; i++) {
		strcat(s, i ? " " : "");
		strcat(s, argv[i]);
	}
	return s;
}

/* curl's exit status -> errno: the one translation for the simulator's transport. */
static int curl_errno(const struct runner_result *res)
{
	if (res->timed_out || res->exit_code == 28)
		return -ETIMEDOUT;
	if (res->cancelled)
		return -ECANCELED;
	switch (res->exit_code) {
	case 5: case 6: case 7: return -EHOSTUNREACH;      /* resolve proxy / host, connect */
	case 35: case 51: case 53: case 54: case 58: case 59: case 60: case 66: case 77: case 80:
	case 82: case 83: case 90: case 91: return -EPROTO; /* TLS and certificates */
	default: return -EIO;
	}
}

static char *url_escape(const char *s)
{
	static const char hex[] = "0123456789ABCDEF";
	char *out = malloc(strlen(s) * 3 + 1), *w = out;

	if (!out)
		return NULL;
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		if (isalnum(*p) || strchr("-._~:,", *p))
			*w++ = (char)*p;
		else {
			*w++ = '%';
			*w++ = hex[*p >> 4];
			*w++ = hex[*p & 15];
		}
	}
	*w = '\0';
	return out;
}

/* Takes the waiters of a (which is freed): each gets the answer, or the error, in turn. */
static void ask_deliver(struct ask *a, json_t *answer, int r, const char *fmt, ...) _printf_(4, 5);
static void ask_deliver(struct ask *a, json_t *answer, int r, const char *fmt, ...)
{
	struct op *waiters = a->waiters, *op;
	char msg[DETAIL_MAX] = "";
	va_list ap;

	if (fmt) { /* before a goes: the arguments may be a's */
		va_start(ap, fmt);
		vsnprintf(msg, sizeof(msg), fmt, ap);
		va_end(ap);
	}
	for (op = waiters; op; op = op->ask_next)
		op->ask = NULL;
	a->waiters = NULL;
	ask_free(a); /* a delivery may ask again: it makes a new ask */
	while ((op = waiters)) {
		waiters = op->ask_next;
		op->ask_next = NULL;
		if (answer)
			op->json_then(op, answer);
		else
			op_finish(op, r, "%s", msg);
	}
}

/* The debug line of an answered ask: how long its askers waited, how long the asking took. */
static void ask_log_timing(const struct ask *a, const char *via)
{
	uint64_t now = 0;
	unsigned waiting = 0;
	char line[256];

	if (!a->ctx->log)
		return;
	sd_event_now(a->ctx->event, CLOCK_MONOTONIC, &now);
	for (const struct op *op = a->waiters; op; op = op->ask_next)
		waiting++;
	snprintf(line, sizeof(line), "simulated host: access?%.120s for %u operation(s): %" PRIu64 " ms after the first asked, %s %" PRIu64 " ms",
		 a->query, waiting, (now - a->asked_at) / 1000, via, (now - a->started_at) / 1000);
	a->ctx->log(a->ctx->log_userdata, LOG_DEBUG, line);
}

/* The simulator's answer (HTTP status, JSON body) to a, from either transport. */
static void ask_answered(struct ask *a, long status, const char *body, const char *where)
{
	json_auto_t *answer = json_loads(body, 0, NULL);

	if (status != 200 || !json_is_object(answer)) {
		const char *m = json_string_value(json_object_get(json_object_get(answer, "error"), "message"));
		ask_deliver(a, NULL, status == 404 ? -EOPNOTSUPP : -EBADMSG, "asking the array (%s?%s): HTTP %ld: %s%s", where,
			    a->query, status, m ? m : "not a JSON object",
			    status == 404 ? " (a simulator without /sim/access?)" : "");
		return;
	}
	ask_deliver(a, answer, 0, NULL);
}

static void ask_done(struct runner_result *res, void *userdata)
{
	struct ask *a = userdata;
	const char *url = ((const struct host_sim *)a->ctx->sim)->url;
	_cleanup_free_ char *where = NULL;
	char msg[512];
	char *nl;
	long status;

	ask_log_timing(a, "curl");
	if (!runner_result_ok(res) || res->out_truncated) {
		char how[128];
		tool_message(res, msg, sizeof(msg));
		runner_result_describe(res, how, sizeof(how));
		ask_deliver(a, NULL, res->out_truncated ? -EFBIG : curl_errno(res),
			    "asking the array (GET %s/sim/access?%s): curl %s: %s", url, a->query, how, *msg ? msg : "no message");
		return;
	}
	/* the body, then "\n" and the HTTP status (curl -w) */
	nl = strrchr(res->out, '\n');
	status = nl ? strtol(nl + 1, NULL, 10) : 0;
	if (nl)
		*nl = '\0';
	if (asprintf(&where, "GET %s/sim/access", url) < 0)
		where = NULL;
	ask_answered(a, status, res->out, where ? where : "GET /sim/access");
}

/*
 * The ask over the simulator's access socket (host_sim.access_socket; tests/ontap-sim/fabric.c):
 * one connection, the query and a newline out, "<status>\n<JSON>" back until the simulator
 * closes. On a worker thread (a socket may block); the socket's own timeouts end before the
 * job's deadline, so a silent simulator does not keep the thread.
 */
struct socket_ask {
	char *path;        /* owned */
	char *query;       /* owned */
	char *url;         /* owned: sim_url, whose host the NAS client address is found towards */
	uint64_t timeout_usec;
	char *out;         /* owned: what the simulator answered */
	size_t len;
	char *error;       /* owned: what failed, when the job returns < 0 */
};

static void socket_ask_free(void *arg)
{
	struct socket_ask *j = arg;

	if (!j)
		return;
	free(j->path);
	free(j->query);
	free(j->url);
	free(j->out);
	free(j->error);
	free(j);
}

static int socket_ask_fail(struct socket_ask *j, int r, const char *what)
{
	if (asprintf(&j->error, "%s: %s", what, strerror(-r)) < 0)
		j->error = NULL;
	return r;
}

/* Without client=, the simulator over HTTPS would answer for the caller's address: the one this
 * host reaches the simulator's host from (a UDP socket's source after connect; nothing sent). */
static int socket_ask_client(struct socket_ask *j)
{
	const struct addrinfo hints = { .ai_socktype = SOCK_DGRAM };
	_cleanup_free_ char *host = NULL;
	const char *h = strstr(j->url, "://"), *port = NULL, *end;
	struct addrinfo *res = NULL;
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	char addr[INET6_ADDRSTRLEN + 1];
	int fd = -1, r;

	h = h ? h + 3 : j->url;
	if (*h == '[') {
		end = strchr(h, ']');
		host = end ? strndup(h + 1, (size_t)(end - h - 1)) : NULL;
		port = end && end[1] == ':' ? end + 2 : NULL;
	} else {
		end = strchr(h, ':');
		host = end ? strndup(h, (size_t)(end - h)) : strdup(h);
		port = end ? end + 1 : NULL;
	}
	if (!host)
		return socket_ask_fail(j, -ENOMEM, "the NAS client address");
	r = getaddrinfo(host, port ? port : "443", &hints, &res);
	if (r != 0)
		return socket_ask_fail(j, -EHOSTUNREACH, "resolving sim_url's host for the NAS client address");
	fd = socket(res->ai_family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	r = fd < 0 || connect(fd, res->ai_addr, res->ai_addrlen) < 0 || getsockname(fd, (struct sockaddr *)&ss, &sl) < 0
		    ? -errno
		    : getnameinfo((struct sockaddr *)&ss, sl, addr, sizeof(addr), NULL, 0, NI_NUMERICHOST) != 0 ? -EINVAL : 0;
	if (fd >= 0)
		close(fd);
	freeaddrinfo(res);
	if (r < 0)
		return socket_ask_fail(j, r, "finding this host's address towards sim_url (the NAS client address)");
	free(j->query);
	if (asprintf(&j->query, "client=%s", addr) < 0) {
		j->query = NULL;
		return socket_ask_fail(j, -ENOMEM, "the NAS client address");
	}
	return 0;
}

static int socket_ask_run(void *arg)
{
	struct socket_ask *j = arg;
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	uint64_t t = j->timeout_usec > USEC_PER_SEC ? j->timeout_usec - USEC_PER_SEC : j->timeout_usec;
	struct timeval tv = { .tv_sec = (time_t)(t / USEC_PER_SEC), .tv_usec = (suseconds_t)(t % USEC_PER_SEC) };
	_cleanup_free_ char *line = NULL;
	size_t cap = 0, off = 0;
	int fd, r = 0;

	if (!*j->query && (r = socket_ask_client(j)) < 0)
		return r;
	if (asprintf(&line, "%s\n", j->query) < 0)
		return socket_ask_fail(j, -ENOMEM, "the query");
	strncpy(sa.sun_path, j->path, sizeof(sa.sun_path) - 1);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return socket_ask_fail(j, -errno, "socket");
	if (setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) < 0 ||
	    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)) < 0 ||
	    connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		r = socket_ask_fail(j, -errno, "connect");
		close(fd);
		return r;
	}
	for (size_t n = strlen(line); off < n;) {
		ssize_t w = write(fd, line + off, n - off);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0) {
			r = socket_ask_fail(j, w < 0 ? -errno : -EPIPE, "sending the query");
			close(fd);
			return r;
		}
		off += (size_t)w;
	}
	for (;;) {
		ssize_t n;
		if (cap - j->len < 4096) {
			char *b;
			if (cap >= ANSWER_MAX) {
				r = socket_ask_fail(j, -EFBIG, "the answer is over 8 MiB");
				break;
			}
			b = realloc(j->out, cap + 65536 + 1);
			if (!b) {
				r = socket_ask_fail(j, -ENOMEM, "reading the answer");
				break;
			}
			j->out = b;
			cap += 65536;
		}
		n = read(fd, j->out + j->len, cap - j->len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			r = socket_ask_fail(j, errno == EAGAIN ? -ETIMEDOUT : -errno, "reading the answer");
			break;
		}
		if (n == 0)
			break;
		j->len += (size_t)n;
	}
	close(fd);
	if (j->out)
		j->out[j->len] = '\0';
	return r;
}

static void socket_ask_done(int r, void *arg, void *userdata)
{
	struct ask *a = userdata;
	struct socket_ask *j = arg;
	const char *path = ((const struct host_sim *)a->ctx->sim)->access_socket;
	_cleanup_free_ char *where = NULL;
	char *body = NULL;
	long status;

	ask_log_timing(a, "socket");
	if (r < 0 || !j) {
		ask_deliver(a, NULL, r < 0 ? r : -EIO, "asking the array (socket %s, %s): %s", path, a->query,
			    j && j->error ? j->error : "no answer within the step deadline");
		return;
	}
	status = j->out ? strtol(j->out, &body, 10) : 0;
	if (!j->out || !body || *body != '\n') {
		ask_deliver(a, NULL, -EBADMSG, "asking the array (socket %s, %s): the answer does not begin with a status line",
			    path, a->query);
		return;
	}
	if (asprintf(&where, "socket %s", path) < 0)
		where = NULL;
	ask_answered(a, status, body + 1, where ? where : "the access socket");
}

static int socket_ask_start(struct ask *a)
{
	const struct host_sim *sim = a->ctx->sim;
	struct socket_ask *j = calloc(1, sizeof(*j));
	int r;

	if (!j || !(j->path = strdup(sim->access_socket)) || !(j->query = strdup(a->query)) || !(j->url = strdup(sim->url))) {
		socket_ask_free(j);
		return -ENOMEM;
	}
	j->timeout_usec = step_timeout(a->ctx);
	r = worker_submit(sim_pool(a->ctx), socket_ask_run, j, socket_ask_free, socket_ask_done, a, j->timeout_usec);
	if (r < 0)
		socket_ask_free(j);
	return r;
}

/* The end of the turn in which a was first asked: its GET starts. */
static int ask_start(sd_event_source *s, void *userdata)
{
	struct ask *a = userdata;
	const struct host_sim *sim = a->ctx->sim;
	_cleanup_free_ char *url = NULL, *max = NULL;
	const char *argv[16];
	size_t n = 0, l = strlen(sim->url);
	uint64_t secs = step_timeout(a->ctx) / USEC_PER_SEC;
	int r;

	(void)s;
	a->started = true;
	sd_event_now(a->ctx->event, CLOCK_MONOTONIC, &a->started_at);
	if (sim->access_socket) {
		r = socket_ask_start(a);
		if (r < 0)
			ask_deliver(a, NULL, r, "asking the array: cannot start asking its socket: %s", strerror(-r));
		return 0;
	}
	while (l && sim->url[l - 1] == '/')
		l--;
	/* curl gives up a second before the runner's deadline, so its own message wins */
	if (asprintf(&url, "%.*s/sim/access%s%s", (int)l, sim->url, *a->query ? "?" : "", a->query) < 0)
		url = NULL;
	if (asprintf(&max, "%" PRIu64, secs > 1 ? secs - 1 : 1) < 0)
		max = NULL;
	if (!url || !max) {
		ask_deliver(a, NULL, -ENOMEM, "asking the array: %s", strerror(ENOMEM));
		return 0;
	}
	argv[n++] = sim->curl ? sim->curl : "curl";
	argv[n++] = "-sS";
	argv[n++] = "--noproxy";
	argv[n++] = "*";
	argv[n++] = "--max-time";
	argv[n++] = max;
	if (sim->ca_file) {
		argv[n++] = "--cacert";
		argv[n++] = sim->ca_file;
	} else
		argv[n++] = "--insecure";
	argv[n++] = "-H";
	argv[n++] = "Accept: application/json";
	argv[n++] = "-w";
	argv[n++] = "\n%{http_code}";
	argv[n++] = url;
	argv[n] = NULL;
	a->cmd = argv_join(argv);
	r = a->cmd ? runner_start(a->ctx->runner,
				  &(struct runner_job){ .argv = argv,
							.env = (const char *const[]){ "LC_ALL=C", NULL },
							.timeout_usec = step_timeout(a->ctx),
							.max_output = ANSWER_MAX,
							.what = a->cmd },
				  ask_done, a, NULL)
		   : -ENOMEM;
	if (r < 0)
		ask_deliver(a, NULL, r, "asking the array: cannot run curl: %s", strerror(-r));
	return 0;
}

/* GET <url>/sim/access?<key>=<value> (value NULL: no query), shared with the operations that ask
 * the same in this turn of the loop (struct ask); then(op, answer) on success. */
static int op_ask(struct op *op, const char *key, const char *value, op_json_then then)
{
	_cleanup_free_ char *esc = NULL;
	struct ask *a;
	int r;

	if (value && !(esc = url_escape(value)))
		return -ENOMEM;
	free(op->query);
	op->query = NULL;
	if (asprintf(&op->query, "%s%s%s", value ? key : "", value ? "=" : "", value ? esc : "") < 0) {
		op->query = NULL;
		return -ENOMEM;
	}
	op->json_then = then;
	for (a = op->ctx->sim_asks; a; a = a->next)
		if (!a->started && !strcmp(a->query, op->query))
			break;
	if (!a) {
		a = calloc(1, sizeof(*a));
		if (!a)
			return -ENOMEM;
		a->ctx = op->ctx;
		sd_event_now(op->ctx->event, CLOCK_MONOTONIC, &a->asked_at);
		a->query = strdup(op->query);
		r = a->query ? sd_event_add_defer(op->ctx->event, &a->defer, ask_start, a) : -ENOMEM;
		if (r >= 0)
			r = sd_event_source_set_enabled(a->defer, SD_EVENT_ONESHOT);
		if (r < 0) {
			sd_event_source_disable_unref(a->defer);
			free(a->query);
			free(a);
			return r;
		}
		a->next = op->ctx->sim_asks;
		op->ctx->sim_asks = a;
	}
	op->ask = a;
	op->ask_next = a->waiters;
	a->waiters = op;
	return 0;
}

static void op_ask_or_finish(struct op *op, const char *key, const char *value, op_json_then then)
{
	int r = op_ask(op, key, value, then);

	if (r < 0)
		op_finish(op, r, "asking the array: cannot run curl: %s", strerror(-r));
}

/* ---- block attach: iscsi, fc, nvme-tcp ---------------------------------------------------- */

/* What the array grants this identity for op->id: the entry, or NULL with *why. */
static json_t *block_grant(struct op *op, json_t *answer, char *why, size_t size)
{
	bool nvme = op->proto == DS_PROTO_NVME_TCP;
	json_t *list = json_object_get(answer, nvme ? "namespaces" : "luns"), *e;
	size_t i;

	json_array_foreach(list, i, e) {
		const char *key = json_string_value(json_object_get(e, nvme ? "uuid" : "serial_number"));
		const char *target = json_string_value(json_object_get(e, nvme ? "target_nqn" : "target_iqn"));

		/* LUN serials are case-sensitive ("80D3A+LXmTbC"); namespace UUIDs are not. */
		if (!key || (nvme ? strcasecmp(key, op->id) : strcmp(key, op->id)) != 0)
			continue;
		if (op->want_target && target && *target && strcasecmp(target, op->want_target) != 0) {
			snprintf(why, size, "%s %s is reachable through %s, not %s", nvme ? "namespace" : "LUN", op->id, target,
				 op->want_target);
			return NULL;
		}
		return e;
	}
	if (nvme)
		snprintf(why, size, "subsystem not mapped: namespace %s is not mapped to a subsystem listing host %s",
			 op->id, op->identity);
	else
		snprintf(why, size, "igroup not mapped: LUN %s is not mapped to an igroup holding %s", op->id,
			 op->identity);
	return NULL;
}

static void attach_linked(struct op *op, struct job *j)
{
	if (j->r < 0)
		op_finish(op, j->r, "%s", j->detail ? j->detail : strerror(-j->r));
	else
		op_finish(op, 0, "%s", op->device);
}

static void attach_granted(struct op *op, json_t *answer)
{
	char why[512];
	json_t *g = block_grant(op, answer, why, sizeof(why));
	const char *backing = json_string_value(json_object_get(g, "backing_file"));
	struct job *j;

	if (!g) {
		op_finish(op, -EACCES, "access denied by the array: %s", why);
		return;
	}
	if (!backing) {
		op_finish(op, -ENODEV, "the array grants %s but keeps no backing file for it (ontap-sim without --backing-dir)",
			  op->id);
		return;
	}
	j = job_new(op, J_LINK);
	if (j && (!(j->device = strdup(op->device)) || !(j->backing = strdup(backing)))) {
		job_free(j);
		j = NULL;
	}
	op_work_or_finish(op, j, attach_linked);
}

static const char *ask_key(enum ds_protocol p)
{
	return p == DS_PROTO_NVME_TCP ? "hostnqn" : "initiator";
}

static void attach_identified(struct op *op, struct job *j)
{
	if (j->r < 0) {
		op_finish(op, j->r, "%s", j->detail ? j->detail : strerror(-j->r));
		return;
	}
	op->identity = TAKE_PTR(j->identity);
	op_ask_or_finish(op, ask_key(op->proto), op->identity, attach_granted);
}

static void probe_granted(struct op *op, json_t *answer)
{
	char why[512];
	json_t *g = block_grant(op, answer, why, sizeof(why));
	const char *backing = json_string_value(json_object_get(g, "backing_file"));

	if (!g)
		op_finish(op, -EACCES, "%s is attached, but access is denied by the array now: %s", op->device, why);
	else if (!backing || strcmp(backing, op->link_target) != 0)
		op_finish(op, -ESTALE, "%s points at %s, but the array serves %s as %s", op->device, op->link_target, op->id,
			  backing ? backing : "no backing file");
	else
		op_finish(op, 0, "%s", op->device);
}

static void probe_looked_up(struct op *op, struct job *j)
{
	if (j->r < 0) {
		op_finish(op, j->r, "%s", j->detail ? j->detail : strerror(-j->r));
		return;
	}
	if (!j->link_target) {
		op_finish(op, -ENOENT, "not attached (no %s)", op->device);
		return;
	}
	op->identity = TAKE_PTR(j->identity);
	op->link_target = TAKE_PTR(j->link_target);
	op_ask_or_finish(op, ask_key(op->proto), op->identity, probe_granted);
}

static void detach_unlinked(struct op *op, struct job *j)
{
	if (j->r < 0)
		op_finish(op, j->r, "%s", j->detail ? j->detail : strerror(-j->r));
	else
		op_finish(op, 0, "%s", j->detail ? j->detail : "detached");
}

enum block_hook { BLOCK_PROBE, BLOCK_ATTACH, BLOCK_DETACH };

static int block_start(struct host_ctx *ctx, const struct host_target *t, enum block_hook hook, host_done_fn done,
		       void *userdata)
{
	struct op *op;
	struct job *j;
	const char *id, *target;
	int r;

	if (op_check(ctx, done) < 0 || !t || !ds_is_block(t->protocol))
		return -EINVAL;
	id = t->protocol == DS_PROTO_NVME_TCP ? t->ns_uuid : t->lun_serial;
	target = t->protocol == DS_PROTO_NVME_TCP ? t->subsystem_nqn : t->protocol == DS_PROTO_ISCSI ? t->target_iqn : NULL;
	if (!plain_name(id))
		return -EINVAL;
	op = op_new(ctx, done, userdata);
	if (!op)
		return -ENOMEM;
	op->proto = t->protocol;
	op->id = strdup(id);
	op->device = host_sim_device_path(ctx->run_dir, id);
	op->want_target = target && *target ? strdup(target) : NULL;
	if (!op->id || !op->device || (target && *target && !op->want_target)) {
		op_free(op);
		return -ENOMEM;
	}
	j = job_new(op, hook == BLOCK_DETACH ? J_UNLINK : J_LOOKUP);
	if (j) {
		j->etc_root = strdup(ctx->etc_root ? ctx->etc_root : "/etc");
		j->sys_root = strdup(ctx->sys_root ? ctx->sys_root : "/sys");
		/* attach looks the identity up whatever is there; probe and detach look at the link */
		j->device = hook == BLOCK_ATTACH ? NULL : strdup(op->device);
		if (!j->etc_root || !j->sys_root || (hook != BLOCK_ATTACH && !j->device)) {
			job_free(j);
			j = NULL;
		}
	}
	r = op_work(op, j, hook == BLOCK_PROBE ? probe_looked_up : hook == BLOCK_ATTACH ? attach_identified : detach_unlinked);
	if (r < 0)
		op_free(op);
	return r;
}

static int block_probe(struct host_ctx *ctx, const struct host_target *t, host_done_fn done, void *userdata)
{
	return block_start(ctx, t, BLOCK_PROBE, done, userdata);
}

static int block_attach(struct host_ctx *ctx, const struct host_target *t, host_done_fn done, void *userdata)
{
	return block_start(ctx, t, BLOCK_ATTACH, done, userdata);
}

static int block_detach(struct host_ctx *ctx, const struct host_target *t, host_done_fn done, void *userdata)
{
	return block_start(ctx, t, BLOCK_DETACH, done, userdata);
}

/* ---- mounting the shared directory (cluster fs and NAS) ------------------------------------ */

static struct job *check_job(struct op *op, enum job_kind kind, const char *src)
{
	struct job *j = job_new(op, kind);

	if (j && (!(j->mount_point = strdup(op->mount_point)) || (src && !(j->src = strdup(src))))) {
		job_free(j);
		j = NULL;
	}
	return j;
}

static void mount_prepared(struct op *op, struct job *j)
{
	if (j->r < 0) {
		op_finish(op, j->r, "%s", j->detail ? j->detail : strerror(-j->r));
		return;
	}
	free(op->src);
	op->src = TAKE_PTR(j->src_out);
	op_finish(op, 0, "%s", op->mount_point); /* the job mounted it and saw it mounted */
}

/* Starts the mount flow: J_MOUNT_PREP with the device (fs) or the directory (NAS). */
static int mount_start(struct op *op, const char *device, const char *nas_src)
{
	struct job *j = job_new(op, J_MOUNT_PREP);

	if (j && (!(j->mount_point = strdup(op->mount_point)) || (device && !(j->device = strdup(device))) ||
		  (nas_src && !(j->src = strdup(nas_src))))) {
		job_free(j);
		j = NULL;
	}
	return op_work(op, j, mount_prepared);
}

static void umount_prepared(struct op *op, struct job *j)
{
	if (j->r < 0)
		op_finish(op, j->r, "%s", j->detail ? j->detail : strerror(-j->r));
	else if (j->ms == MP_OTHER)
		op_finish(op, -EEXIST, "%s; not ours to unmount", j->detail ? j->detail : op->mount_point);
	else
		op_finish(op, 0, "%s", j->detail ? j->detail : "not mounted");
}

static int umount_start(struct host_ctx *ctx, enum ds_protocol proto, enum ds_fs fs, const char *mount_point,
			host_done_fn done, void *userdata)
{
	struct op *op;
	int r;

	if (op_check(ctx, done) < 0 || !mount_point || mount_point[0] != '/')
		return -EINVAL;
	op = op_new(ctx, done, userdata);
	if (!op)
		return -ENOMEM;
	op->proto = proto;
	op->fs = fs;
	op->mount_point = strdup(mount_point);
	r = op->mount_point ? op_work(op, check_job(op, J_UMOUNT_PREP, NULL), umount_prepared) : -ENOMEM;
	if (r < 0)
		op_free(op);
	return r;
}

/* ---- NAS attach: nfs, smb ----------------------------------------------------------------- */

/* shared_dir/nas/<junction without the leading "/", "/" as "_">. Owned; NULL when bad. */
static char *nas_dir(const struct host_sim *sim, enum ds_protocol proto, const char *export_path)
{
	_cleanup_free_ char *name = NULL;
	char *p = NULL;

	if (!export_path)
		return NULL;
	while (*export_path == '/')
		export_path++;
	name = strdup(export_path);
	if (!name)
		return NULL;
	for (char *c = name; *c; c++)
		if (*c == '/')
			*c = '_';
	if (!plain_name(name) || asprintf(&p, "%s/nas/%s", sim->shared_dir, name) < 0)
		return NULL;
	return p;
}

/* The export entry for op->export_path, or NULL with *why (and *r). */
static json_t *nas_grant(struct op *op, json_t *answer, int *r, char *why, size_t size)
{
	const char *client = json_string_value(json_object_get(answer, "client"));
	const char *want = op->export_path;
	json_t *e;
	size_t i;

	json_array_foreach(json_object_get(answer, "exports"), i, e) {
		const char *j = json_string_value(json_object_get(e, "junction"));
		const char *nfs = json_string_value(json_object_get(e, "nfs"));
		bool match = j && (op->proto == DS_PROTO_NFS ? strcmp(j, want) == 0
							      : j[0] == '/' && strcmp(j + 1, want[0] == '/' ? want + 1 : want) == 0);

		if (op->proto == DS_PROTO_SMB) {
			/* the share is named like the junction, without its "/" */
			const char *share = want[0] == '/' ? want + 1 : want;
			const json_t *x;
			size_t k;

			json_array_foreach(json_object_get(e, "shares"), k, x)
				if (json_string_value(x) && strcasecmp(json_string_value(x), share) == 0)
					return e;
			if (!match)
				continue;
			snprintf(why, size, "no CIFS share %s on volume %s (or the SVM's CIFS server is off)", share,
				 json_string_value(json_object_get(e, "volume")) ?: "?");
			*r = -EACCES;
			return NULL;
		}
		if (!match)
			continue;
		if (nfs && strcmp(nfs, "rw") == 0)
			return e;
		else
			snprintf(why, size, "export policy grants %s \"%s\" on %s, kvmcd needs \"rw\"", client ? client : "this host",
				 nfs ? nfs : "?", want);
		*r = -EACCES;
		return NULL;
	}
	if (op->proto == DS_PROTO_SMB)
		snprintf(why, size, "no CIFS share %s", want[0] == '/' ? want + 1 : want);
	else
		snprintf(why, size, "no volume is exported at %s", want);
	*r = -ENOENT;
	return NULL;
}

static void nas_attach_granted(struct op *op, json_t *answer)
{
	char why[512];
	int r = 0;

	if (!nas_grant(op, answer, &r, why, sizeof(why))) {
		op_finish(op, r, "%s: access denied by the array: %s", op->mount_point, why);
		return;
	}
	r = mount_start(op, NULL, op->src);
	if (r < 0)
		op_finish(op, r, "starting a file system step: %s", strerror(-r));
}

static void nas_probe_granted(struct op *op, json_t *answer)
{
	char why[512];
	int r = 0;

	if (!nas_grant(op, answer, &r, why, sizeof(why)))
		op_finish(op, r, "%s is mounted, but access is denied by the array now: %s", op->mount_point, why);
	else
		op_finish(op, 0, "%s", op->mount_point);
}

static void nas_probe_checked(struct op *op, struct job *j)
{
	if (j->r < 0)
		op_finish(op, j->r, "%s", j->detail ? j->detail : strerror(-j->r));
	else if (j->ms == MP_NOT)
		op_finish(op, -ENOENT, "not mounted at %s", op->mount_point);
	else if (j->ms == MP_OTHER)
		op_finish(op, -EEXIST, "%s", j->detail ? j->detail : op->mount_point);
	else
		op_ask_or_finish(op, "client", op->sim->client_address, nas_probe_granted);
}

static int nas_start(struct host_ctx *ctx, const struct host_target *t, bool probe, host_done_fn done, void *userdata)
{
	struct op *op;
	int r;

	if (op_check(ctx, done) < 0 || !t || (t->protocol != DS_PROTO_NFS && t->protocol != DS_PROTO_SMB) ||
	    !t->export_path || !t->mount_point || t->mount_point[0] != '/')
		return -EINVAL;
	op = op_new(ctx, done, userdata);
	if (!op)
		return -ENOMEM;
	op->proto = t->protocol;
	op->fs = DS_FS_NONE;
	op->export_path = strdup(t->export_path);
	op->mount_point = strdup(t->mount_point);
	op->src = nas_dir(op->sim, t->protocol, t->export_path);
	if (!op->export_path || !op->mount_point || !op->src) {
		r = op->src ? -ENOMEM : -EINVAL;
		op_free(op);
		return r;
	}
	if (probe)
		r = op_work(op, check_job(op, J_MOUNT_CHECK, op->src), nas_probe_checked);
	else
		r = op_ask(op, "client", op->sim->client_address, nas_attach_granted);
	if (r < 0)
		op_free(op);
	return r;
}

static int nas_probe(struct host_ctx *ctx, const struct host_target *t, host_done_fn done, void *userdata)
{
	return nas_start(ctx, t, true, done, userdata);
}

static int nas_attach(struct host_ctx *ctx, const struct host_target *t, host_done_fn done, void *userdata)
{
	return nas_start(ctx, t, false, done, userdata);
}

static int nas_detach(struct host_ctx *ctx, const struct host_target *t, host_done_fn done, void *userdata)
{
	if (!t)
		return -EINVAL;
	return umount_start(ctx, t->protocol, DS_FS_NONE, t->mount_point, done, userdata);
}

/* ---- cluster file systems ------------------------------------------------------------------ */

static void fs_job_done(struct op *op, struct job *j)
{
	if (j->r < 0)
		op_finish(op, j->r, "%s", j->detail ? j->detail : strerror(-j->r));
	else
		op_finish(op, 0, "%s", j->detail ? j->detail : "");
}

static int fs_start(struct host_ctx *ctx, enum ds_fs fs, enum job_kind kind, const char *device,
		    const struct host_fs_params *p, unsigned slots, host_done_fn done, void *userdata)
{
	struct op *op;
	struct job *j;
	int r;

	if (op_check(ctx, done) < 0 || !device || !*device)
		return -EINVAL;
	op = op_new(ctx, done, userdata);
	if (!op)
		return -ENOMEM;
	op->fs = fs;
	op->device = strdup(device);
	j = op->device ? job_new(op, kind) : NULL;
	if (j) {
		j->device = strdup(device);
		j->slots = p ? p->slots : slots;
		if (p) {
			j->label = p->label ? strdup(p->label) : NULL;
			j->cluster = p->cluster_name ? strdup(p->cluster_name) : NULL;
		}
		if (!j->device || (p && ((p->label && !j->label) || (p->cluster_name && !j->cluster)))) {
			job_free(j);
			j = NULL;
		}
	}
	r = op_work(op, j, fs_job_done);
	if (r < 0)
		op_free(op);
	return r;
}

static int fs_mount_start(struct host_ctx *ctx, enum ds_fs fs, const char *device, const char *mount_point,
			  host_done_fn done, void *userdata)
{
	struct op *op;
	int r;

	if (op_check(ctx, done) < 0 || !device || !*device || !mount_point || mount_point[0] != '/')
		return -EINVAL;
	op = op_new(ctx, done, userdata);
	if (!op)
		return -ENOMEM;
	op->fs = fs;
	op->device = strdup(device);
	op->mount_point = strdup(mount_point);
	r = op->device && op->mount_point ? mount_start(op, device, NULL) : -ENOMEM;
	if (r < 0)
		op_free(op);
	return r;
}

#define SIM_FS_OPS(fsname, FS)                                                                                        \
	static int sim_##fsname##_probe(struct host_ctx *ctx, const char *device, host_done_fn done, void *userdata)   \
	{                                                                                                              \
		return fs_start(ctx, FS, J_FS_PROBE, device, NULL, 0, done, userdata);                                 \
	}                                                                                                              \
	static int sim_##fsname##_mkfs(struct host_ctx *ctx, const char *device, const struct host_fs_params *p,      \
				       host_done_fn done, void *userdata)                                             \
	{                                                                                                              \
		if (!p)                                                                                                \
			return -EINVAL;                                                                                \
		return fs_start(ctx, FS, J_FS_MKFS, device, p, 0, done, userdata);                                     \
	}                                                                                                              \
	static int sim_##fsname##_mount(struct host_ctx *ctx, const char *device, const char *mount_point,            \
					host_done_fn done, void *userdata)                                            \
	{                                                                                                              \
		return fs_mount_start(ctx, FS, device, mount_point, done, userdata);                                   \
	}                                                                                                              \
	static int sim_##fsname##_umount(struct host_ctx *ctx, const char *mount_point, host_done_fn done,            \
					 void *userdata)                                                              \
	{                                                                                                              \
		return umount_start(ctx, DS_PROTO_ISCSI, FS, mount_point, done, userdata);                             \
	}                                                                                                              \
	static int sim_##fsname##_make_distinct(struct host_ctx *ctx, const char *device,                             \
						const struct host_fs_params *p, host_done_fn done, void *userdata)   \
	{                                                                                                              \
		if (!p)                                                                                                \
			return -EINVAL;                                                                                \
		return fs_start(ctx, FS, J_FS_DISTINCT, device, p, 0, done, userdata);                                 \
	}                                                                                                              \
	static int sim_##fsname##_grow(struct host_ctx *ctx, const char *device, const char *mount_point,             \
				       unsigned slots, host_done_fn done, void *userdata)                             \
	{                                                                                                              \
		return fs_start(ctx, FS, J_FS_GROW, device, NULL, slots, done, userdata);                              \
	}                                                                                                              \
	static const struct host_fs_ops sim_fs_##fsname = {                                                            \
		.name = #fsname,                                                                                       \
		.probe = sim_##fsname##_probe,                                                                         \
		.mkfs = sim_##fsname##_mkfs,                                                                           \
		.mount = sim_##fsname##_mount,                                                                         \
		.umount = sim_##fsname##_umount,                                                                       \
		.grow = sim_##fsname##_grow,                                                                           \
		.make_distinct = sim_##fsname##_make_distinct,                                                         \
	};

SIM_FS_OPS(ocfs2, DS_FS_OCFS2)
SIM_FS_OPS(gfs2, DS_FS_GFS2)

/* ---- inventory and pools ------------------------------------------------------------------- */

static int sim_inventory_collect(struct host_ctx *ctx, host_done_fn done, void *userdata)
{
	const struct host_sim *sim = ctx ? ctx->sim : NULL;

	return inventory_collect(ctx, &(struct inventory_options){ .backend = "sim", .simulated = true,
				 .simulated_missing = sim ? sim->missing : NULL }, done, userdata);
}

static const struct host_inventory_ops sim_inventory = {
	.name = "sim",
	.collect = sim_inventory_collect,
};

/* A real libvirtd runs on every node of the multi-node tier: pools are the real libvirt ops. */

/* ---- the backend ---------------------------------------------------------------------------- */

static const struct host_attach_ops sim_attach_iscsi = { "sim-iscsi", block_probe, block_attach, block_detach };
static const struct host_attach_ops sim_attach_fc = { "sim-fc", block_probe, block_attach, block_detach };
static const struct host_attach_ops sim_attach_nvme = { "sim-nvme-tcp", block_probe, block_attach, block_detach };
static const struct host_attach_ops sim_attach_nfs = { "sim-nfs", nas_probe, nas_attach, nas_detach };
static const struct host_attach_ops sim_attach_smb = { "sim-smb", nas_probe, nas_attach, nas_detach };

const struct host_backend host_backend_sim = {
	.name = "sim",
	.attach = {
		[DS_PROTO_ISCSI] = &sim_attach_iscsi,
		[DS_PROTO_FC] = &sim_attach_fc,
		[DS_PROTO_NVME_TCP] = &sim_attach_nvme,
		[DS_PROTO_NFS] = &sim_attach_nfs,
		[DS_PROTO_SMB] = &sim_attach_smb,
	},
	.fs = {
		[DS_FS_OCFS2] = &sim_fs_ocfs2,
		[DS_FS_GFS2] = &sim_fs_gfs2,
	},
	.pool = &host_pool_libvirt_ops,
	.inventory = &sim_inventory,
};
