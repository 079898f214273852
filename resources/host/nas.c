/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * NAS datastores (nfs, smb): attaching them IS mounting them, so their attach ops are mounts,
 * through the same flow as the cluster file systems (fs-common.c: mountinfo first, the mount
 * unit of mount-unit.h, `mount` / `umount` through the runner, the result checked in mountinfo).
 *
 *   nfs  mount -t nfs -o vers=4.1[,nconnect=N][,trunkdiscovery],hard,_netdev SERVER:/EXPORT MOUNTPOINT
 *        vers from the spec ("4.1" by default: pNFS and session trunking possible); nconnect
 *        when given; trunkdiscovery (NFSv4.1+) lets the client find the session trunks the
 *        server offers on its other LIFs; hard: a VM's I/O waits through a LIF failover
 *        instead of failing. The first NAS address is mounted. mountinfo says nfs or nfs4.
 *   smb  mount -t cifs -o [multichannel,][max_channels=N,][credentials=FILE,]_netdev //SERVER/SHARE MOUNTPOINT
 *        The credentials file must be a regular file owned by root with no group or other
 *        access (it holds a password): anything else is refused (-EPERM) naming the file,
 *        before anything runs. mountinfo says cifs (or smb3).
 *
 * probe: 0 + the mount point when this export is mounted there, -ENOENT when nothing is,
 * -EEXIST when something else is. detach: removes kvmcd's unit, unmounts, checks.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fs-common.h"

static const char *const nfs_types[] = { "nfs", "nfs4", NULL };
static const char *const smb_types[] = { "cifs", "smb3", NULL };

static const char *target_mount_point(const struct host_target *t)
{
	return t->mount_point ? t->mount_point : t->spec ? t->spec->path : NULL;
}

/* "SERVER:/EXPORT" (IPv6 literals in brackets) or "//SERVER/SHARE". Owned; NULL + *why. */
static char *nas_source(const struct host_target *t, bool smb, const char **why)
{
	if (t->n_nas_servers < 1 || !t->nas_servers || !t->nas_servers[0] || !*t->nas_servers[0]) {
		*why = "no NAS server address";
		return NULL;
	}
	const char *server = t->nas_servers[0], *path = t->export_path;
	if (!path || !*path) {
		*why = smb ? "no share name" : "no export path";
		return NULL;
	}
	for (const char *c = server; *c; c++)
		if ((unsigned char)*c <= 0x20 || *c == '/' || *c == ',') {
			*why = "the NAS server address is not an address";
			return NULL;
		}
	for (const char *c = path; *c; c++)
		if ((unsigned char)*c <= 0x20 || *c == ',') {
			*why = "the export path or share name holds a blank or a comma";
			return NULL;
		}
	char *s = NULL;
	int k;
	if (smb) {
		while (*path == '/')
			path++;
		k = asprintf(&s, "//%s/%s", server, path);
	} else {
		if (*path != '/') {
			*why = "the export path is not absolute";
			return NULL;
		}
		bool v6 = strchr(server, ':') && server[0] != '[';
		k = asprintf(&s, "%s%s%s:%s", v6 ? "[" : "", server, v6 ? "]" : "", path);
	}
	if (k < 0) {
		*why = "out of memory";
		return NULL;
	}
	return s;
}

/* The mount options an nfs datastore's spec asks for. Owned; NULL + *why. */
static char *nfs_options(const struct ds_spec *spec, const char **why)
{
	const char *vers = spec && spec->nfs.version ? spec->nfs.version : "4.1";
	unsigned nconnect = spec ? spec->nfs.nconnect : 0;
	bool trunk = spec && spec->nfs.trunkdiscovery;
	if (strcmp(vers, "3") != 0 && strcmp(vers, "4") != 0 && strcmp(vers, "4.1") != 0 && strcmp(vers, "4.2") != 0) {
		*why = "nfs version must be 3, 4, 4.1 or 4.2";
		return NULL;
	}
	if (trunk && strcmp(vers, "4.1") != 0 && strcmp(vers, "4.2") != 0) {
		*why = "trunkdiscovery needs NFS 4.1 or 4.2 (session trunking)";
		return NULL;
	}
	if (nconnect > 16) {
		*why = "nconnect must be 1 to 16";
		return NULL;
	}
	char nc[32] = "";
	if (nconnect)
		snprintf(nc, sizeof nc, ",nconnect=%u", nconnect);
	char *s = NULL;
	if (asprintf(&s, "vers=%s%s%s,hard,_netdev", vers, nc, trunk ? ",trunkdiscovery" : "") < 0) {
		*why = "out of memory";
		return NULL;
	}
	return s;
}

/* 0 when the credentials file is a regular file owned by root with no group/other access;
 * -EPERM / -errno with *msg (owned) naming the file otherwise. */
static int smb_check_credentials(const char *path, char **msg)
{
	int r = 0;
	_cleanup_close_ int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	struct stat st;
	if (fd < 0 && errno == ELOOP)
		r = asprintf(msg, "smb credentials file %s is a symbolic link: name the file itself", path) < 0 ? -ENOMEM : -EPERM;
	else if (fd < 0) {
		int e = errno;
		r = asprintf(msg, "smb credentials file %s: %s", path, strerror(e)) < 0 ? -ENOMEM : -e;
	} else if (fstat(fd, &st) < 0) {
		int e = errno;
		r = asprintf(msg, "smb credentials file %s: %s", path, strerror(e)) < 0 ? -ENOMEM : -e;
	} else if (!S_ISREG(st.st_mode))
		r = asprintf(msg, "smb credentials file %s is not a regular file", path) < 0 ? -ENOMEM : -EPERM;
	else if (st.st_uid != 0)
		r = asprintf(msg, "smb credentials file %s is owned by uid %u: it must be owned by root and readable by "
			     "root only (chown root %s; chmod 600 %s)", path, (unsigned)st.st_uid, path, path) < 0
			    ? -ENOMEM : -EPERM;
	else if (st.st_mode & 077)
		r = asprintf(msg, "smb credentials file %s has mode %04o: it holds a password, group and others must have "
			     "no access (chmod 600 %s)", path, (unsigned)(st.st_mode & 07777), path) < 0 ? -ENOMEM : -EPERM;
	if (r == -ENOMEM)
		*msg = NULL;
	return r;
}

/* The smb options. Owned; NULL + *why. */
static char *smb_options(const struct ds_spec *spec, const char **why)
{
	const char *cred = spec ? spec->smb.credentials : NULL;
	unsigned channels = spec ? spec->smb.max_channels : 0;
	if (cred && (strchr(cred, ',') || cred[0] != '/')) {
		*why = "the smb credentials path must be absolute and hold no comma";
		return NULL;
	}
	if (channels > 32) {
		*why = "max_channels must be 1 to 32";
		return NULL;
	}
	char ch[32] = "";
	if (channels)
		snprintf(ch, sizeof ch, "max_channels=%u,", channels);
	char *s = NULL;
	if (asprintf(&s, "%s%s%s%s%s_netdev", spec && spec->smb.multichannel ? "multichannel," : "", ch,
		     cred ? "credentials=" : "", cred ? cred : "", cred ? "," : "") < 0) {
		*why = "out of memory";
		return NULL;
	}
	return s;
}

static int nas_attach(struct host_ctx *ctx, const struct host_target *t, bool smb, host_done_fn done, void *userdata)
{
	if (!ctx || !t || !done)
		return -EINVAL;
	const char *kind = smb ? "smb" : "nfs", *why = NULL;
	const char *mp = target_mount_point(t);
	if (!mp)
		return hop_fail_later(ctx, done, userdata, -EINVAL, "%s datastore %s: no mount point", kind,
				      t->datastore ? t->datastore : "?");
	_cleanup_free_ char *source = nas_source(t, smb, &why);
	_cleanup_free_ char *options = source ? (smb ? smb_options(t->spec, &why) : nfs_options(t->spec, &why)) : NULL;
	if (!source || !options)
		return hop_fail_later(ctx, done, userdata, strcmp(why, "out of memory") == 0 ? -ENOMEM : -EINVAL,
				      "%s datastore %s: %s", kind, t->datastore ? t->datastore : "?", why);
	if (smb && t->spec && t->spec->smb.credentials) {
		_cleanup_free_ char *msg = NULL;
		int r = smb_check_credentials(t->spec->smb.credentials, &msg);
		if (r < 0)
			return hop_fail_later(ctx, done, userdata, r, "%s", msg ? msg : strerror(-r));
	}
	struct fs_mount_req req = {
		.source = source, .mount_point = mp, .type = smb ? "cifs" : "nfs",
		.accept_types = smb ? smb_types : nfs_types, .options = options,
		.unit_after = "network-online.target", .unit_wants = "network-online.target",
	};
	return fs_mount_ensure(ctx, &req, done, userdata);
}

static int nas_probe_or_detach(struct host_ctx *ctx, const struct host_target *t, bool smb, bool detach,
			       host_done_fn done, void *userdata)
{
	if (!ctx || !t || !done)
		return -EINVAL;
	const char *why = NULL, *mp = target_mount_point(t);
	if (!mp)
		return hop_fail_later(ctx, done, userdata, -EINVAL, "%s datastore %s: no mount point", smb ? "smb" : "nfs",
				      t->datastore ? t->datastore : "?");
	_cleanup_free_ char *source = nas_source(t, smb, &why);
	if (!source)
		return hop_fail_later(ctx, done, userdata, -EINVAL, "%s datastore %s: %s", smb ? "smb" : "nfs",
				      t->datastore ? t->datastore : "?", why);
	return detach ? fs_mount_remove(ctx, mp, smb ? smb_types : nfs_types, source, done, userdata)
		      : fs_mount_probe(ctx, mp, smb ? smb_types : nfs_types, source, done, userdata);
}

static int nfs_probe(struct host_ctx *ctx, const struct host_target *t, host_done_fn done, void *userdata)
{
	return nas_probe_or_detach(ctx, t, false, false, done, userdata);
}

static int nfs_attach(struct host_ctx *ctx, const struct host_target *t, host_done_fn done, void *userdata)
{
	return nas_attach(ctx, t, false, done, userdata);
}

static int nfs_detach(struct host_ctx *ctx, const struct host_target *t, host_done_fn done, void *userdata)
{
	return nas_probe_or_detach(ctx, t, false, true, done, userdata);
}

static int smb_probe(struct host_ctx *ctx, const struct host_target *t, host_done_fn done, void *userdata)
{
	return nas_probe_or_detach(ctx, t, true, false, done, userdata);
}

static int smb_attach(struct host_ctx *ctx, const struct host_target *t, host_done_fn done, void *userdata)
{
	return nas_attach(ctx, t, true, done, userdata);
}

static int smb_detach(struct host_ctx *ctx, const struct host_target *t, host_done_fn done, void *userdata)
{
	return nas_probe_or_detach(ctx, t, true, true, done, userdata);
}

const struct host_attach_ops host_attach_nfs_ops = {
	.name = "nfs",
	.probe = nfs_probe,
	.attach = nfs_attach,
	.detach = nfs_detach,
};

const struct host_attach_ops host_attach_smb_ops = {
	.name = "smb",
	.probe = smb_probe,
	.attach = smb_attach,
	.detach = smb_detach,
};
