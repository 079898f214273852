/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * VM locks through libvirt's own lock manager (vm-lock.h), for clusters without DLM: NFS and SMB
 * datastores only, and the multi-node tier.
 *
 * libvirt's "lockd" plugin has virtlockd take a LEASE for every disk of a domain before its QEMU
 * starts, and drop it when the domain stops (in a live migration the source releases it when it
 * pauses the guest, the target takes it before it resumes). With the leases in a directory on
 * shared storage (file_lockspace_dir: one file per disk, named by the sha256 of the disk's path,
 * locked with fcntl), a second QEMU of the same disk on ANY host is refused by libvirt itself,
 * before QEMU runs:
 *
 *   error: Failed to start domain 'vm1'
 *   error: resource busy: Lockspace resource '4f7c…' is locked
 *
 * kvmcd makes no calls for this: it is libvirt's configuration. `acquire` VERIFIES that this host
 * is set up so (the same check as `probe`) and fails with -ENOLCK, saying what is missing, when it
 * is not, so a VM never starts unguarded where the guard was asked for; `release` does nothing
 * (libvirt drops the lease with the domain); there is no `list` (virtlockd answers no such query).
 *
 * What every host needs (kvmcctl preflight can check it with `probe`):
 *   /etc/libvirt/qemu.conf         lock_manager = "lockd"
 *   /etc/libvirt/qemu-lockd.conf   auto_disk_leases = 1            (libvirt's default)
 *                                  require_lease_for_disks = 1
 *                                  file_lockspace_dir = "/<datastore mount>/.kvmcd-leases"
 *   - the lease directory: the SAME path on every host, on storage every host mounts and where
 *     fcntl byte-range locks reach across hosts: NFS (v4: the server's locks; v3: lockd/NLM, not
 *     mounted with `nolock`), SMB (cifs without `nobrl`), OCFS2 / GFS2. kvmcd mounts every
 *     datastore at the same path on every host, so a directory on one of them does. A local file
 *     system is refused: its locks protect one host only.
 *   - the disks at the same path on every host (the lease is named by the path): kvmcd's
 *     datastores are.
 *   - virtlockd running (Debian: `systemctl enable --now virtlockd.socket virtlockd-admin.socket`),
 *     socket /run/libvirt/virtlockd-sock; libvirtd restarted after qemu.conf changed: the lock
 *     manager is read when libvirtd starts, and domains started before run WITHOUT leases until
 *     they are restarted.
 *   - Limits: a killed virtlockd drops every lease of its host (restart it; `virtlockd` re-execs
 *     itself on SIGUSR1 for upgrades, keeping them); on NFSv4 a host cut off from the server loses
 *     its locks when its lease expires on the server (90 s by default), which is why this is
 *     defense in depth behind kvmcd's ownership and fencing, not instead of them.
 *
 * The file checks run on this lock's own worker thread (the lease directory is on network
 * storage: a stat can hang).
 */
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "fs-common.h"
#include "macros.h"
#include "vm-lock-lockd.h"
#include "worker.h"

#define DEFAULT_SOCKET "/run/libvirt/virtlockd-sock"
#define CONF_MAX (1u << 20)

/* File systems whose fcntl locks other hosts see. */
static const char *const shared_types[] = {
	"nfs", "nfs4", "cifs", "smb3", "ocfs2", "gfs2", "glusterfs", "fuse.glusterfs", "ceph", "fuse.ceph", "gpfs", NULL,
};

/* ---- libvirt's config syntax (pure) --------------------------------------------------------- */

static const char *skip_blanks(const char *p)
{
	while (*p == ' ' || *p == '\t' || *p == '\r')
		p++;
	return p;
}

/* A string value at p (opening quote): sets *v and *n to its content, returns past it; NULL when it
 * does not end. libvirt's strings have no escapes; """...""" may span lines. */
static const char *parse_string(const char *p, const char **v, size_t *n)
{
	const char *e;

	if (strncmp(p, "\"\"\"", 3) == 0) {
		e = strstr(p + 3, "\"\"\"");
		if (!e)
			return NULL;
		*v = p + 3;
		*n = (size_t)(e - p - 3);
		return e + 3;
	}
	for (e = p + 1; *e && *e != *p && *e != '\n'; e++)
		;
	if (*e != *p)
		return NULL;
	*v = p + 1;
	*n = (size_t)(e - p - 1);
	return e + 1;
}

int host_libvirt_conf_get(const char *text, const char *key, char **out, unsigned *bad_line)
{
	const char *p = text ? text : "";
	char *found = NULL;
	unsigned line = 1;

	*out = NULL;
	while (*p) {
		const char *name, *v = NULL;
		size_t nlen, vlen = 0;

		p = skip_blanks(p);
		if (*p == '\n') {
			line++;
			p++;
			continue;
		}
		if (*p == '#') {
			p += strcspn(p, "\n");
			continue;
		}
		if (!*p)
			break;
		name = p;
		while ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') || *p == '_' || *p == '.')
			p++;
		nlen = (size_t)(p - name);
		p = skip_blanks(p);
		if (!nlen || *p != '=')
			goto bad;
		p = skip_blanks(p + 1);
		if (*p == '"' || *p == '\'') {
			const char *q = parse_string(p, &v, &vlen);
			if (!q)
				goto bad;
			for (const char *c = p; c < q; c++)
				line += *c == '\n';
			p = q;
		} else if (*p == '[') {
			/* a list: skipped (no key this code reads is one), strings and comments inside */
			int depth = 0;
			for (; *p; p++) {
				if (*p == '\n')
					line++;
				else if (*p == '#')
					p += strcspn(p, "\n") - 1;
				else if (*p == '"' || *p == '\'') {
					const char *q = parse_string(p, &v, &vlen);
					if (!q)
						goto bad;
					p = q - 1;
				} else if (*p == '[')
					depth++;
				else if (*p == ']' && --depth == 0) {
					p++;
					break;
				}
			}
			if (depth)
				goto bad;
			v = NULL;
		} else {
			v = p;
			while (*p && *p != ' ' && *p != '\t' && *p != '\r' && *p != '\n' && *p != '#' && *p != ';')
				p++;
			vlen = (size_t)(p - v);
			if (!vlen)
				goto bad;
		}
		p = skip_blanks(p);
		if (*p == ';')
			p = skip_blanks(p + 1);
		if (*p && *p != '\n' && *p != '#')
			goto bad;
		if (v && nlen == strlen(key) && strncmp(name, key, nlen) == 0) {
			free(found);
			found = strndup(v, vlen); /* the last one counts, as in libvirt */
			if (!found)
				return -ENOMEM;
		}
	}
	if (!found)
		return -ENOENT;
	*out = found;
	return 0;
bad:
	free(found);
	if (bad_line)
		*bad_line = line;
	return -EINVAL;
}

static _printf_(2, 3) int fail_why(char **why, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	if (vasprintf(why, fmt, ap) < 0)
		*why = NULL;
	va_end(ap);
	return -ENOLCK;
}

static int conf_bool(const char *text, const char *file, const char *key, int dflt, int *out, char **why)
{
	_cleanup_free_ char *v = NULL;
	unsigned line = 0;
	int r = host_libvirt_conf_get(text, key, &v, &line);

	if (r == -ENOENT) {
		*out = dflt;
		return 0;
	}
	if (r == -EINVAL)
		return fail_why(why, "%s: line %u does not parse", file, line);
	if (r < 0)
		return r;
	if (strcmp(v, "0") && strcmp(v, "1"))
		return fail_why(why, "%s: %s = %s (0 or 1)", file, key, v);
	*out = v[0] == '1';
	return 0;
}

int host_vm_lock_lockd_config(const char *qemu_conf, const char *lockd_conf, char **lease_dir, char **why)
{
	_cleanup_free_ char *mgr = NULL, *dir = NULL;
	unsigned line = 0;
	int r, auto_leases = 1, require = 1;

	*lease_dir = NULL;
	*why = NULL;
	r = host_libvirt_conf_get(qemu_conf, "lock_manager", &mgr, &line);
	if (r == -EINVAL)
		return fail_why(why, "qemu.conf: line %u does not parse", line);
	if (r == -ENOMEM)
		return r;
	if (r == -ENOENT || strcmp(mgr, "lockd") != 0)
		return fail_why(why, "qemu.conf: lock_manager is %s%s%s, not \"lockd\": libvirt takes no leases "
				     "(set it, then restart libvirtd)", mgr ? "\"" : "", mgr ? mgr : "unset", mgr ? "\"" : "");
	r = conf_bool(lockd_conf, "qemu-lockd.conf", "auto_disk_leases", 1, &auto_leases, why);
	if (r < 0)
		return r;
	if (!auto_leases)
		return fail_why(why, "qemu-lockd.conf: auto_disk_leases = 0: no lease is taken for the disks "
				     "(set it to 1)");
	r = conf_bool(lockd_conf, "qemu-lockd.conf", "require_lease_for_disks", 1, &require, why);
	if (r < 0)
		return r;
	if (!require)
		return fail_why(why, "qemu-lockd.conf: require_lease_for_disks = 0: a domain could start without "
				     "its leases (set it to 1)");
	r = host_libvirt_conf_get(lockd_conf, "file_lockspace_dir", &dir, &line);
	if (r == -EINVAL)
		return fail_why(why, "qemu-lockd.conf: line %u does not parse", line);
	if (r == -ENOMEM)
		return r;
	if (r == -ENOENT || !*dir)
		return fail_why(why, "qemu-lockd.conf: file_lockspace_dir is not set: virtlockd would lock the disk "
				     "files themselves, which only helps where those locks reach the other hosts; set it "
				     "to a directory on a shared datastore");
	if (dir[0] != '/')
		return fail_why(why, "qemu-lockd.conf: file_lockspace_dir = \"%s\" is not an absolute path", dir);
	*lease_dir = TAKE_PTR(dir);
	return 0;
}

/* ---- the checks on the host (worker thread) ------------------------------------------------- */

static int read_text(const char *path, char **out)
{
	_cleanup_fclose_ FILE *f = fopen(path, "re");
	char *buf = NULL;
	size_t size = 0, n;

	*out = NULL;
	if (!f)
		return -errno;
	FILE *mem = open_memstream(&buf, &size);
	if (!mem)
		return -ENOMEM;
	char chunk[4096];
	while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0 && size < CONF_MAX)
		fwrite(chunk, 1, n, mem);
	if (fclose(mem) != 0 || ferror(f)) {
		free(buf);
		return -EIO;
	}
	*out = buf;
	return 0;
}

/* The file system holding path: the longest mount point that is a prefix of it. */
static int mount_of(const char *proc_root, const char *path, struct fs_mount *out)
{
	_cleanup_free_ char *text = NULL, *mi = NULL, *p = strdup(path);

	if (!p || asprintf(&mi, "%s/self/mountinfo", proc_root ? proc_root : "/proc") < 0)
		return -ENOMEM;
	int r = read_text(mi, &text);
	if (r < 0)
		return r;
	for (;;) {
		r = fs_mountinfo_find(text, strlen(text), *p ? p : "/", out);
		if (r != -ENOENT || !*p || strcmp(p, "/") == 0)
			return r;
		char *slash = strrchr(p, '/');
		*slash = '\0';
	}
}

/* The caller of a hook: the worker's userdata (a timeout answers without the job). */
struct lcall {
	host_done_fn done;
	void *userdata;
};

/* One hook's work on the lock's thread. Owned by the worker pool. */
struct ljob {
	struct lcall *call;           /* owned: freed with the job, after done (or never called) */
	bool check;                   /* else: release, nothing to do */
	char *qemu_conf, *lockd_conf, *socket, *proc_root;
	char *detail;                 /* out, owned */
};

static void ljob_free(void *arg)
{
	struct ljob *j = arg;

	if (!j)
		return;
	free(j->qemu_conf);
	free(j->lockd_conf);
	free(j->socket);
	free(j->proc_root);
	free(j->detail);
	free(j->call);
	free(j);
}

static _printf_(3, 4) int ljob_result(struct ljob *j, int r, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	free(j->detail);
	if (vasprintf(&j->detail, fmt, ap) < 0)
		j->detail = NULL;
	va_end(ap);
	return r;
}

static int ljob_run(void *arg)
{
	struct ljob *j = arg;
	_cleanup_free_ char *qtext = NULL, *ltext = NULL, *dir = NULL, *why = NULL;
	char real[PATH_MAX];
	struct fs_mount mnt = { 0 };
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct stat st;
	int r, fd;

	if (!j->check)
		return ljob_result(j, 0, "not held by kvmcd: libvirt drops the lease with the domain");
	r = read_text(j->qemu_conf, &qtext);
	if (r < 0 && r != -ENOENT)
		return ljob_result(j, -ENOLCK, "cannot read %s: %s", j->qemu_conf, strerror(-r));
	r = read_text(j->lockd_conf, &ltext);
	if (r < 0 && r != -ENOENT)
		return ljob_result(j, -ENOLCK, "cannot read %s: %s", j->lockd_conf, strerror(-r));
	r = host_vm_lock_lockd_config(qtext, ltext, &dir, &why);
	if (r < 0)
		return ljob_result(j, r, "lockd: %s", why ? why : strerror(-r));
	if (stat(dir, &st) < 0)
		return ljob_result(j, -ENOLCK, "lockd: the lease directory %s: %s", dir, strerror(errno));
	if (!S_ISDIR(st.st_mode))
		return ljob_result(j, -ENOLCK, "lockd: the lease directory %s is not a directory", dir);
	if (!realpath(dir, real))
		return ljob_result(j, -ENOLCK, "lockd: the lease directory %s: %s", dir, strerror(errno));
	r = mount_of(j->proc_root, real, &mnt);
	if (r < 0)
		return ljob_result(j, -ENOLCK, "lockd: which file system holds %s: %s", real, strerror(-r));
	bool shared = false;
	for (size_t i = 0; shared_types[i]; i++)
		shared |= strcmp(mnt.fstype, shared_types[i]) == 0;
	if (!shared) {
		r = ljob_result(j, -ENOLCK, "lockd: the lease directory %s is on %s (%s at %s), a file system whose locks "
					    "other hosts do not see: put it on a shared datastore", dir, mnt.fstype,
				mnt.source, mnt.mount_point);
		fs_mount_done(&mnt);
		return r;
	}
	if (strlen(j->socket) >= sizeof(sa.sun_path)) {
		fs_mount_done(&mnt);
		return ljob_result(j, -ENOLCK, "lockd: socket path %s too long", j->socket);
	}
	strcpy(sa.sun_path, j->socket);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		int e = errno;
		if (fd >= 0)
			close(fd);
		fs_mount_done(&mnt);
		return ljob_result(j, -ENOLCK, "lockd: virtlockd does not answer on %s: %s (is it running?)", j->socket,
				   strerror(e));
	}
	close(fd);
	r = ljob_result(j, 0, "lockd: leases in %s (%s), virtlockd on %s", dir, mnt.fstype, j->socket);
	fs_mount_done(&mnt);
	return r;
}

/* ---- hooks ---------------------------------------------------------------------------------- */

struct lockd {
	struct host_vm_lock base;
	char *conf_dir, *socket;       /* owned */
	uint64_t op_timeout;
	struct worker_pool *pool;      /* owned: one thread */
};

static void ljob_done(int r, void *arg, void *userdata)
{
	struct ljob *j = arg;
	struct lcall c = *(struct lcall *)userdata;

	if (!j) {
		c.done(c.userdata, -ETIMEDOUT, "lockd: checking the lease directory did not finish in time (a hung "
					       "network file system?)");
		return;
	}
	c.done(c.userdata, r, j->detail ? j->detail : r < 0 ? strerror(-r) : "");
}

static int lsubmit(struct lockd *d, bool check, host_done_fn done, void *userdata)
{
	struct ljob *j;
	struct lcall *c;
	int r;

	if (!d || !done)
		return -EINVAL;
	j = calloc(1, sizeof(*j));
	c = calloc(1, sizeof(*c));
	if (!j || !c) {
		free(j);
		free(c);
		return -ENOMEM;
	}
	*c = (struct lcall){ done, userdata };
	j->call = c;
	j->check = check;
	const char *proc = d->base.ctx->proc_root;
	if (asprintf(&j->qemu_conf, "%s/qemu.conf", d->conf_dir) < 0)
		j->qemu_conf = NULL;
	if (asprintf(&j->lockd_conf, "%s/qemu-lockd.conf", d->conf_dir) < 0)
		j->lockd_conf = NULL;
	j->socket = strdup(d->socket);
	j->proc_root = proc ? strdup(proc) : NULL;
	if (!j->qemu_conf || !j->lockd_conf || !j->socket || (proc && !j->proc_root)) {
		ljob_free(j);
		return -ENOMEM;
	}
	r = worker_submit(d->pool, ljob_run, j, ljob_free, ljob_done, c, d->op_timeout);
	if (r < 0)
		ljob_free(j);
	return r;
}

static int lockd_acquire(struct host_vm_lock *l, const char *vm, host_done_fn done, void *userdata)
{
	if (!vm || !*vm)
		return -EINVAL;
	return lsubmit((struct lockd *)l, true, done, userdata);
}

static int lockd_release(struct host_vm_lock *l, const char *vm, host_done_fn done, void *userdata)
{
	if (!vm || !*vm)
		return -EINVAL;
	return lsubmit((struct lockd *)l, false, done, userdata);
}

static int lockd_probe(struct host_vm_lock *l, host_done_fn done, void *userdata)
{
	return lsubmit((struct lockd *)l, true, done, userdata);
}

static void lockd_close(struct host_vm_lock *l)
{
	struct lockd *d = (struct lockd *)l;

	if (!d)
		return;
	/* pending calls are dropped: freed with their job, done never called */
	worker_pool_free(d->pool);
	free(d->conf_dir);
	free(d->socket);
	free(d);
}

static int lockd_open(struct host_ctx *ctx, const struct host_vm_lock_params *p, struct host_vm_lock **out)
{
	struct lockd *d;
	int r;

	if (!ctx || !ctx->event || !out)
		return -EINVAL;
	d = calloc(1, sizeof(*d));
	if (!d)
		return -ENOMEM;
	d->base = (struct host_vm_lock){ .ops = &host_vm_lock_lockd_ops, .ctx = ctx };
	d->op_timeout = p && p->op_timeout_usec ? p->op_timeout_usec : HOST_VM_LOCK_DEFAULT_TIMEOUT_USEC;
	if (p && p->libvirt_conf_dir)
		d->conf_dir = strdup(p->libvirt_conf_dir);
	else if (asprintf(&d->conf_dir, "%s/libvirt", ctx->etc_root ? ctx->etc_root : "/etc") < 0)
		d->conf_dir = NULL;
	d->socket = strdup(p && p->virtlockd_socket ? p->virtlockd_socket : DEFAULT_SOCKET);
	r = d->conf_dir && d->socket ? worker_pool_new(ctx->event, 1, &d->pool) : -ENOMEM;
	if (r < 0) {
		lockd_close(&d->base);
		return r;
	}
	*out = &d->base;
	return 0;
}

const struct host_vm_lock_ops host_vm_lock_lockd_ops = {
	.name = "lockd",
	.open = lockd_open,
	.close = lockd_close,
	.acquire = lockd_acquire,
	.release = lockd_release,
	.list = NULL,
	.probe = lockd_probe,
};
