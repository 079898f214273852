/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * ontap-sim: the data in a volume, as snapshots, clones and restores treat it.
 *
 * A LUN / namespace's data is its backing file (--backing-dir); the simulated host backend
 * (resources/host/sim.h) keeps a simulated cluster file system's FILES in the hosts' shared
 * directory, simfs/<uuid>/ (uuid from the superblock at the start of the backing file), and a
 * NAS volume's files in nas/<junction, "/" -> "_">/. With --host-data-dir (that shared
 * directory) the simulator treats those as the volume's data too, so that what a host wrote
 * rolls back and clones like it would on ONTAP:
 *   snapshot create  every backing file of the volume is copied ("<file>@<snapshot uuid>"), the
 *                    simfs directory its superblock names to simfs/snap-<snapshot uuid>-<lun>,
 *                    a NAS volume's directory to nas/.snap-<snapshot uuid>;
 *   clone at a snapshot  the clone's LUNs / namespaces get the snapshot's backing copies, and
 *                    the cloned superblock names the snapshot's simfs copy ("data=", which the
 *                    host's make_distinct copies to the clone's own directory); a NAS clone's
 *                    directory is seeded from the snapshot's copy when it is first mounted;
 *   restore          the backing files, the simfs directory and the NAS directory become the
 *                    snapshot's again (the current directory is moved aside to
 *                    <dir>.replaced-<time>, never deleted: a test can look).
 * Without --host-data-dir only the backing files are copied. Snapshot copies are never deleted
 * (a test run's state is thrown away with it). Errors are logged to stderr and otherwise
 * ignored: the REST behaviour never depends on them.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "sim.h"

#define SIMFS_MAGIC "KVMCD-SIMFS 1\n"
#define SIMFS_SUPER_SIZE 4096

static int copy_file(const char *src, const char *dst)
{
	int in = open(src, O_RDONLY | O_CLOEXEC), out = -1, r = 0;
	struct stat st;
	off_t data = 0, hole;

	if (in < 0)
		return -errno;
	if (fstat(in, &st) < 0 || (out = open(dst, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, st.st_mode & 07777)) < 0 ||
	    ftruncate(out, st.st_size) < 0) {
		r = -errno;
		goto out;
	}
	/* the data extents only: a sparse LUN file stays sparse */
	while ((data = lseek(in, data, SEEK_DATA)) >= 0) {
		off_t o_in, o_out;
		if ((hole = lseek(in, data, SEEK_HOLE)) < 0)
			break;
		o_in = o_out = data;
		while (o_in < hole) {
			ssize_t n = copy_file_range(in, &o_in, out, &o_out, (size_t)(hole - o_in), 0);
			if (n <= 0) {
				r = n < 0 ? -errno : -EIO;
				goto out;
			}
		}
		data = hole;
	}
out:
	close(in);
	if (out >= 0)
		close(out);
	return r;
}

static int copy_tree(const char *src, const char *dst)
{
	struct stat st;
	DIR *d;
	struct dirent *e;
	int r = 0;

	if (lstat(src, &st) < 0)
		return -errno;
	if (S_ISLNK(st.st_mode)) {
		char t[PATH_MAX];
		ssize_t n = readlink(src, t, sizeof(t) - 1);
		if (n < 0)
			return -errno;
		t[n] = '\0';
		return symlink(t, dst) < 0 ? -errno : 0;
	}
	if (S_ISREG(st.st_mode))
		return copy_file(src, dst);
	if (!S_ISDIR(st.st_mode))
		return 0;
	if (mkdir(dst, st.st_mode & 07777) < 0)
		return -errno;
	if (!(d = opendir(src)))
		return -errno;
	while (r == 0 && (e = readdir(d))) {
		char *a = NULL, *b = NULL;
		if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
			continue;
		if (asprintf(&a, "%s/%s", src, e->d_name) < 0 || asprintf(&b, "%s/%s", dst, e->d_name) < 0)
			r = -ENOMEM;
		else
			r = copy_tree(a, b);
		free(a);
		free(b);
	}
	closedir(d);
	return r;
}

static void warn(const char *what, const char *path, int r)
{
	if (r < 0)
		fprintf(stderr, "ontap-sim: host data: %s %s: %s\n", what, path, strerror(-r));
}

/* The simfs directory name a backing file's superblock names ("data=" or its uuid), into buf. */
static bool simfs_of(const char *backing, char *buf, size_t size)
{
	char sb[SIMFS_SUPER_SIZE + 1], *l, *save = NULL, uuid[128] = "", data[128] = "";
	int fd = open(backing, O_RDONLY | O_CLOEXEC);
	ssize_t n;

	if (fd < 0)
		return false;
	n = pread(fd, sb, SIMFS_SUPER_SIZE, 0);
	close(fd);
	if (n < (ssize_t)strlen(SIMFS_MAGIC) || memcmp(sb, SIMFS_MAGIC, strlen(SIMFS_MAGIC)) != 0)
		return false;
	sb[n] = '\0';
	for (l = strtok_r(sb + strlen(SIMFS_MAGIC), "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
		if (!strncmp(l, "uuid=", 5))
			snprintf(uuid, sizeof(uuid), "%s", l + 5);
		else if (!strncmp(l, "data=", 5))
			snprintf(data, sizeof(data), "%s", l + 5);
	}
	snprintf(buf, size, "%s", *data ? data : uuid);
	return *buf && !strchr(buf, '/');
}

/* Sets (or replaces) the superblock's "data=" line. */
static void simfs_set_data(const char *backing, const char *dir)
{
	char sb[SIMFS_SUPER_SIZE + 1], out[SIMFS_SUPER_SIZE], *l, *save = NULL;
	int fd = open(backing, O_RDWR | O_CLOEXEC);
	size_t len = 0;
	ssize_t n;

	if (fd < 0)
		return;
	n = pread(fd, sb, SIMFS_SUPER_SIZE, 0);
	if (n < (ssize_t)strlen(SIMFS_MAGIC) || memcmp(sb, SIMFS_MAGIC, strlen(SIMFS_MAGIC)) != 0) {
		close(fd);
		return;
	}
	sb[n] = '\0';
	memset(out, 0, sizeof(out));
	len = (size_t)snprintf(out, sizeof(out), SIMFS_MAGIC);
	for (l = strtok_r(sb + strlen(SIMFS_MAGIC), "\n", &save); l && *l; l = strtok_r(NULL, "\n", &save))
		if (strncmp(l, "data=", 5) != 0 && strchr(l, '=') && len < sizeof(out))
			len += (size_t)snprintf(out + len, sizeof(out) - len, "%s\n", l);
	if (len < sizeof(out))
		snprintf(out + len, sizeof(out) - len, "data=%s\n", dir);
	if (pwrite(fd, out, sizeof(out), 0) != (ssize_t)sizeof(out))
		fprintf(stderr, "ontap-sim: host data: writing the superblock of %s failed\n", backing);
	fdatasync(fd);
	close(fd);
}

/* nas/<junction without "/", "/" -> "_"> for a volume; NULL when not mounted. Owned. */
static char *nas_dir_of(struct sim *sim, json_t *vol)
{
	const char *j = jstr(vol, "nas.path");
	char *name, *p = NULL;

	if (!sim->cfg.host_data_dir || !j || !*j)
		return NULL;
	while (*j == '/')
		j++;
	if (!(name = strdup(j)))
		return NULL;
	for (char *c = name; *c; c++)
		if (*c == '/')
			*c = '_';
	if (asprintf(&p, "%s/nas/%s", sim->cfg.host_data_dir, name) < 0)
		p = NULL;
	free(name);
	return p;
}

static const char *base_of(const char *path)
{
	const char *b = path ? strrchr(path, '/') : NULL;
	return b ? b + 1 : path;
}

/* Replaces directory dst by a copy of src; the old one is moved aside. */
static void replace_dir(const char *src, const char *dst, int64_t now)
{
	char *aside = NULL;
	struct stat st;

	if (stat(src, &st) < 0)
		return;
	if (asprintf(&aside, "%s.replaced-%lld", dst, (long long)now) < 0)
		return;
	if (rename(dst, aside) < 0 && errno != ENOENT)
		warn("moving aside", dst, -errno);
	else
		warn("restoring", dst, copy_tree(src, dst));
	free(aside);
}

void hostdata_snapshot(struct sim *sim, json_t *vol, json_t *snap)
{
	static const char *const kinds[] = { "luns", "namespaces" };
	const char *su = jstr(snap, "uuid");
	json_t *x, *files = json_object(), *dirs = json_object();
	size_t i;

	for (size_t k = 0; k < 2; k++)
		json_array_foreach(state_array(sim, kinds[k]), i, x) {
			const char *b = jstr(x, "_sim.backing_file");
			char *copy = NULL, *sdir = NULL, *ddir = NULL, fsdir[128];
			if (!streq_ci(jstr(x, "location.volume.uuid"), jstr(vol, "uuid")) || !b)
				continue;
			if (asprintf(&copy, "%s@%s", b, su) >= 0) {
				int r = copy_file(b, copy);
				warn("snapshot of", b, r);
				if (r == 0)
					json_object_set_new(files, base_of(jstr(x, "name")), json_string(copy));
			}
			if (sim->cfg.host_data_dir && simfs_of(b, fsdir, sizeof(fsdir)) &&
			    asprintf(&sdir, "%s/simfs/%s", sim->cfg.host_data_dir, fsdir) >= 0 &&
			    asprintf(&ddir, "%s/simfs/snap-%s-%s", sim->cfg.host_data_dir, su, base_of(jstr(x, "name"))) >= 0) {
				int r = copy_tree(sdir, ddir);
				warn("snapshot of", sdir, r);
				if (r == 0)
					json_object_set_new(dirs, base_of(jstr(x, "name")), json_string(base_of(ddir)));
			}
			free(copy);
			free(sdir);
			free(ddir);
		}
	json_object_set_new(jsim(snap), "backing", files);
	json_object_set_new(jsim(snap), "simfs", dirs);
	{
		char *nd = nas_dir_of(sim, vol), *copy = NULL;
		struct stat st;
		if (nd && stat(nd, &st) == 0 && asprintf(&copy, "%s/nas/.snap-%s", sim->cfg.host_data_dir, su) >= 0) {
			int r = copy_tree(nd, copy);
			warn("snapshot of", nd, r);
			if (r == 0)
				json_object_set_new(jsim(snap), "nas", json_string(copy));
		}
		free(nd);
		free(copy);
	}
}

void hostdata_clone(struct sim *sim, json_t *vol, json_t *snap)
{
	static const char *const kinds[] = { "luns", "namespaces" };
	json_t *x;
	size_t i;

	for (size_t k = 0; k < 2; k++)
		json_array_foreach(state_array(sim, kinds[k]), i, x) {
			const char *b = jstr(x, "_sim.backing_file"), *base = base_of(jstr(x, "name"));
			const char *from = json_string_value(json_object_get(json_object_get(jsim(snap), "backing"), base));
			const char *dir = json_string_value(json_object_get(json_object_get(jsim(snap), "simfs"), base));
			if (!streq_ci(jstr(x, "location.volume.uuid"), jstr(vol, "uuid")) || !b)
				continue;
			if (from)
				warn("clone from", from, copy_file(from, b));
			if (dir)
				simfs_set_data(b, dir);
		}
	if (jstr(jsim(snap), "nas"))
		json_object_set_new(jsim(vol), "nas_seed", json_string(jstr(jsim(snap), "nas")));
}

void hostdata_mounted(struct sim *sim, json_t *vol)
{
	const char *seed = jstr(jsim(vol), "nas_seed");
	char *nd;
	struct stat st;

	if (!seed || !(nd = nas_dir_of(sim, vol)))
		return;
	if (stat(nd, &st) < 0)
		warn("seeding a clone's", nd, copy_tree(seed, nd));
	json_object_del(jsim(vol), "nas_seed");
	free(nd);
}

void hostdata_restore(struct sim *sim, json_t *vol, json_t *snap)
{
	static const char *const kinds[] = { "luns", "namespaces" };
	int64_t now = sim_now_us(sim);
	json_t *x;
	size_t i;

	for (size_t k = 0; k < 2; k++)
		json_array_foreach(state_array(sim, kinds[k]), i, x) {
			const char *b = jstr(x, "_sim.backing_file"), *base = base_of(jstr(x, "name"));
			const char *from = json_string_value(json_object_get(json_object_get(jsim(snap), "backing"), base));
			const char *dir = json_string_value(json_object_get(json_object_get(jsim(snap), "simfs"), base));
			char fsdir[128], *src = NULL, *dst = NULL;
			if (!streq_ci(jstr(x, "location.volume.uuid"), jstr(vol, "uuid")) || !b)
				continue;
			if (from)
				warn("restore from", from, copy_file(from, b));
			if (dir && sim->cfg.host_data_dir && simfs_of(b, fsdir, sizeof(fsdir)) &&
			    asprintf(&src, "%s/simfs/%s", sim->cfg.host_data_dir, dir) >= 0 &&
			    asprintf(&dst, "%s/simfs/%s", sim->cfg.host_data_dir, fsdir) >= 0)
				replace_dir(src, dst, now);
			free(src);
			free(dst);
		}
	if (jstr(jsim(snap), "nas")) {
		char *nd = nas_dir_of(sim, vol);
		if (nd)
			replace_dir(jstr(jsim(snap), "nas"), nd, now);
		free(nd);
	}
}
