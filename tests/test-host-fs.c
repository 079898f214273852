/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * resources/host: cluster file systems (fs-ocfs2.c, fs-gfs2.c, fs-common.c), the mount units
 * (mount-unit.c), NAS mounts (nas.c) and libvirt pools (pool.c).
 *
 * Tools run through a capture runner fed with the real tools' outputs (tests/host-fixtures/fs/,
 * its README says where each comes from); a small fake host applies what `mount` and `umount`
 * would do to a mountinfo file in a temporary tree, which is also the etc root the mount units
 * are written to. Pools run against libvirt's test driver ("test:///default", inside this
 * process, no daemon) through the real worker pool. argv[1] is the fixture directory.
 */
#include <dirent.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#ifdef HAVE_LIBVIRT
#include <libvirt/libvirt.h>
#endif

#include "fs-common.h"
#include "macros.h"
#include "mount-unit.h"
#include "pool.h"
#include "tap.h"

#define MSEC USEC_PER_MSEC
#define SEC USEC_PER_SEC

static const char *fixdir;
static char root[128];                   /* the temporary tree */
static char dev[PATH_MAX];               /* a "device": a regular file in the tree */
static char mp[PATH_MAX];                /* a mount point in the tree (created by mount) */
static sd_event *ev;
static struct worker_pool *workers;
static struct runner *run;
static struct host_ctx ctx;

/* ---- helpers --------------------------------------------------------------------------------- */

static char *read_all(const char *path)
{
	FILE *f = fopen(path, "re");
	if (!f)
		return NULL;
	char *buf = NULL;
	size_t size = 0, n;
	char chunk[4096];
	FILE *m = open_memstream(&buf, &size);
	while ((n = fread(chunk, 1, sizeof chunk, f)) > 0)
		fwrite(chunk, 1, n, m);
	fclose(f);
	fclose(m);
	return buf;
}

static char *fixture(const char *name);
#define F(name) keep(fixture(name))

static char *fixture(const char *name)
{
	char path[PATH_MAX];
	snprintf(path, sizeof path, "%s/%s", fixdir, name);
	char *s = read_all(path);
	if (!s) {
		fprintf(stderr, "missing fixture %s\n", path);
		exit(2);
	}
	return s;
}

/* text with every `key` replaced by val. Owned. */
static char *subst(const char *text, const char *key, const char *val)
{
	char *buf = NULL;
	size_t size = 0, k = strlen(key);
	FILE *f = open_memstream(&buf, &size);
	for (const char *p = text; *p;) {
		if (strncmp(p, key, k) == 0) {
			fputs(val, f);
			p += k;
		} else
			fputc(*p++, f);
	}
	fclose(f);
	return buf;
}

static void write_file(const char *path, const char *text, mode_t mode)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
	if (fd < 0 || write(fd, text, strlen(text)) != (ssize_t)strlen(text)) {
		fprintf(stderr, "writing %s: %m\n", path);
		exit(2);
	}
	fchmod(fd, mode);
	close(fd);
}

static void mkdirs(const char *path)
{
	char buf[PATH_MAX];
	snprintf(buf, sizeof buf, "%s", path);
	for (char *c = buf + 1; *c; c++)
		if (*c == '/') {
			*c = '\0';
			mkdir(buf, 0755);
			*c = '/';
		}
	mkdir(buf, 0755);
}

static int rm_rf(const char *path)
{
	struct stat st;
	if (lstat(path, &st) < 0)
		return 0;
	if (S_ISDIR(st.st_mode)) {
		DIR *d = opendir(path);
		struct dirent *e;
		while (d && (e = readdir(d))) {
			if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
				continue;
			char sub[PATH_MAX];
			snprintf(sub, sizeof sub, "%s/%s", path, e->d_name);
			rm_rf(sub);
		}
		if (d)
			closedir(d);
		return rmdir(path);
	}
	return unlink(path);
}

/* Strings a test makes in passing (fixtures handed to canned(), command lines): freed at exit. */
static char *kept[512];
static size_t n_kept;

static char *keep(char *s)
{
	if (n_kept < ARRAY_SIZE(kept))
		kept[n_kept++] = s;
	return s;
}

static bool contains(const char *hay, const char *needle)
{
	return hay && needle && strstr(hay, needle);
}

/* ---- the fake host: mountinfo ---------------------------------------------------------------- */

static char *mi_base;
static char mi_extra[8][1024];
static unsigned mi_n;
static bool effects = true;        /* apply what mount / umount do */
static size_t seen;                /* recorded calls already applied */

static void mi_write(void)
{
	char path[PATH_MAX], *buf = NULL;
	size_t size = 0;
	FILE *f = open_memstream(&buf, &size);
	fputs(mi_base, f);
	for (unsigned i = 0; i < mi_n; i++)
		fprintf(f, "%s\n", mi_extra[i]);
	fclose(f);
	snprintf(path, sizeof path, "%s/proc/self/mountinfo", root);
	write_file(path, buf, 0644);
	free(buf);
}

static void mi_add(const char *fstype, const char *source, const char *where)
{
	if (mi_n < 8) {
		snprintf(mi_extra[mi_n], sizeof mi_extra[0], "%u 22 0:%u / %s rw,noatime shared:%u - %s %s rw",
			 100 + mi_n, 60 + mi_n, where, 400 + mi_n, fstype, source);
		mi_n++;
	}
	mi_write();
}

/* Mounted from a block device: its device number, as the kernel lists it. */
static void mi_add_dev(const char *fstype, const char *source, const char *where, unsigned major, unsigned minor)
{
	if (mi_n < 8 && snprintf(mi_extra[mi_n], sizeof mi_extra[0], "%u 22 %u:%u / %s rw,noatime shared:%u - %s %s rw",
				 100 + mi_n, major, minor, where, 400 + mi_n, fstype, source) < (int)sizeof mi_extra[0])
		mi_n++;
	mi_write();
}

static void mi_remove(const char *where)
{
	/* only the topmost, like umount */
	for (unsigned i = mi_n; i-- > 0;) {
		char needle[PATH_MAX + 4];
		snprintf(needle, sizeof needle, " %s ", where);
		if (strstr(mi_extra[i], needle)) {
			memmove(&mi_extra[i], &mi_extra[i + 1], (mi_n - i - 1) * sizeof mi_extra[0]);
			mi_n--;
			break;
		}
	}
	mi_write();
}

static void mi_reset(void)
{
	mi_n = 0;
	mi_write();
}

static void apply_effects(void)
{
	for (; seen < runner_capture_count(run); seen++) {
		const struct runner_call *c = runner_capture_call(run, seen);
		if (!effects)
			continue;
		size_t n = 0;
		while (c->argv[n])
			n++;
		if (!strcmp(c->argv[0], "mount") && n >= 4) {
			const char *type = !strcmp(c->argv[1], "-t") ? c->argv[2] : "?";
			const char *fstype = !strcmp(type, "nfs") ? "nfs4" : type;
			mi_add(fstype, c->argv[n - 2], c->argv[n - 1]);
		} else if (!strcmp(c->argv[0], "umount") && n == 2)
			mi_remove(c->argv[1]);
	}
}

/* ---- running hooks --------------------------------------------------------------------------- */

struct result {
	unsigned calls;
	int r;
	char detail[4096];
	bool in_hook;
};

static bool in_hook;

static void on_done(void *userdata, int r, const char *detail)
{
	struct result *res = userdata;
	res->calls++;
	res->r = r;
	snprintf(res->detail, sizeof res->detail, "%s", detail ? detail : "(null)");
	res->in_hook = in_hook;
	if (getenv("HOST_FS_TEST_VERBOSE"))
		printf("# done %d: %s\n", r, res->detail);
}

static uint64_t now_usec(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * SEC + (uint64_t)ts.tv_nsec / 1000;
}

/* Runs the loop until res has its callback, then a little more (a second call would show). */
static void wait_done(struct result *res)
{
	uint64_t deadline = now_usec() + 10 * SEC;
	while (res->calls == 0 && now_usec() < deadline) {
		sd_event_run(ev, 10 * MSEC);
		apply_effects();
	}
	for (int i = 0; i < 5; i++)
		sd_event_run(ev, 0);
}

#define RUN(res, call) do { \
	res = (struct result){ 0 }; \
	in_hook = true; \
	int _k = (call); \
	in_hook = false; \
	CHECK(_k == 0, "%s returned %d", #call, _k); \
	if (_k == 0) { \
		wait_done(&res); \
		CHECK(res.calls == 1, "%s: done called %u times", #call, res.calls); \
		CHECK(!res.in_hook, "%s: done called from inside the hook", #call); \
	} \
} while (0)

static void logf_(void *userdata, int level, const char *text)
{
	if (getenv("HOST_FS_TEST_VERBOSE") || level <= LOG_ERR)
		printf("# runner %d: %s\n", level, text);
}

static void runner_fresh(void)
{
	runner_free(run);
	struct runner_config cfg = { .log = logf_ };
	if (runner_new_capture(ev, &cfg, &run) < 0)
		exit(2);
	ctx.runner = run;
	seen = 0;
	effects = true;
}

static void canned(const char *const *argv, const char *out, const char *err, int exit_code, unsigned uses)
{
	struct runner_canned c = { .out = out, .err = err, .exit_code = exit_code, .uses = uses, .delay_usec = 5 * MSEC };
	if (runner_capture_add(run, argv, &c) < 0)
		exit(2);
}

/* The recorded command lines with the tree's paths written as DEV, MP and ROOT. Owned. */
static char *calls(void)
{
	char *text = NULL;
	runner_capture_format(run, &text);
	char *a = subst(text ? text : "", dev, "DEV");
	char *b = subst(a, mp, "MP");
	char *c = subst(b, root, "ROOT");
	free(text);
	free(a);
	free(b);
	return c;
}

#define CHECK_CALLS(want) do { \
	_cleanup_free_ char *_got = calls(); \
	CHECK(strcmp(_got, want) == 0, "commands:\n%s--- wanted:\n%s", _got, want); \
} while (0)

static char *unit_path(const char *where)
{
	_cleanup_free_ char *name = NULL;
	char *p = NULL;
	if (mount_unit_name(where, &name) < 0 || asprintf(&p, "%s/etc/systemd/system/%s", root, name) < 0)
		return NULL;
	return p;
}

static char *wants_path(const char *where)
{
	_cleanup_free_ char *name = NULL;
	char *p = NULL;
	if (mount_unit_name(where, &name) < 0 ||
	    asprintf(&p, "%s/etc/systemd/system/remote-fs.target.wants/%s", root, name) < 0)
		return NULL;
	return p;
}

static void reset_tree(void)
{
	char p[PATH_MAX];
	snprintf(p, sizeof p, "%s/etc", root);
	rm_rf(p);
	mkdirs(p);
	snprintf(p, sizeof p, "%s/srv", root);
	rm_rf(p);
	mi_reset();
	runner_fresh();
}

/* Canned blkid/debugfs/gfs2_edit answers for DEV. */
static void canned_blkid(const char *fix, unsigned uses)
{
	_cleanup_free_ char *out = fix ? fixture(fix) : NULL;
	canned((const char *[]){ "blkid", "-p", "-o", "export", dev, NULL }, out, NULL, fix ? 0 : 2, uses);
}

static void canned_ocfs2_stats(const char *fix)
{
	_cleanup_free_ char *out = fixture(fix);
	canned((const char *[]){ "debugfs.ocfs2", "-R", "stats", dev, NULL }, out, NULL, 0, 1);
}

static void canned_gfs2_edit(const char *fix)
{
	_cleanup_free_ char *out = fixture(fix);
	canned((const char *[]){ "gfs2_edit", "-p", "sb", "journals", dev, NULL }, out, NULL, 0, 1);
}

static const struct host_fs_params ocfs2_params = { .cluster_name = "kvmtest", .label = "ds1", .slots = 4 };
static const struct host_fs_params gfs2_params = { .cluster_name = "kvmtest", .label = "ds2", .slots = 3 };
static const char ocfs2_uuid[] = "6162b7fb-ebb6-4f56-a870-74a13bb1dde3";

/* ---- parsers --------------------------------------------------------------------------------- */

static void test_blkid_parse(void)
{
	static const struct { const char *fix, *detail; enum host_fs_verdict v; } cases[] = {
		{ "blkid-xfs.txt", "xfs label=data uuid=61295ef2-4293-4b36-9cdb-fe227710d9df", HOST_FS_FOREIGN },
		{ "blkid-gpt.txt", "partition-table pttype=gpt ptuuid=9279240a-36ea-e941-9afa-42590f28a476", HOST_FS_FOREIGN },
		{ "blkid-lvm.txt", "LVM2_member uuid=QmvGyt-0Ajt-3sTD-mLeA-7kZk-fGsG-2u9Dhq usage=raid", HOST_FS_FOREIGN },
		{ "blkid-raid.txt", "linux_raid_member label=host1:0 uuid=5e7e1bcd-9c7e-3d0e-66a5-bc3d6e1c4a8f usage=raid",
		  HOST_FS_FOREIGN },
		{ "blkid-swap.txt", "swap label=sw uuid=251935ae-05ec-4691-8b13-cdaf94bfacbf usage=other", HOST_FS_FOREIGN },
	};
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		_cleanup_free_ char *text = fixture(cases[i].fix);
		struct fs_blkid b;
		int r = fs_blkid_parse(text, strlen(text), &b);
		CHECK(r == 0, "%s: %d", cases[i].fix, r);
		if (r < 0)
			continue;
		CHECK(b.n_props > 0, "%s: nothing found", cases[i].fix);
		_cleanup_free_ char *d = fs_probe_describe(&b, NULL);
		CHECK(d && strcmp(d, cases[i].detail) == 0, "%s: '%s'", cases[i].fix, d);
		_cleanup_free_ char *why = NULL;
		CHECK(host_fs_verdict(DS_FS_OCFS2, &ocfs2_params, d, &why) == cases[i].v, "%s: verdict", cases[i].fix);
		CHECK(contains(why, "never formats") && contains(why, d), "%s: why '%s'", cases[i].fix, why);
		fs_blkid_done(&b);
	}

	struct fs_blkid b;
	CHECK(fs_blkid_parse("", 0, &b) == 0 && b.n_props == 0, "empty output parses to nothing");
	_cleanup_free_ char *d = fs_probe_describe(&b, NULL);
	CHECK(d && !strcmp(d, "empty"), "empty: '%s'", d);
	CHECK(host_fs_verdict(DS_FS_OCFS2, &ocfs2_params, d, NULL) == HOST_FS_MKFS, "empty -> mkfs");
	CHECK(fs_blkid_parse("TYPE\n", 5, &b) == -EINVAL, "a line without '=' is refused");
	const char esc[] = "DEVNAME=/dev/x\nLABEL=my\\ data\nTYPE=ext4\n";
	CHECK(fs_blkid_parse(esc, strlen(esc), &b) == 0 && b.label && !strcmp(b.label, "my data"), "escapes undone");
	free(d);
	d = fs_probe_describe(&b, NULL);
	CHECK(d && !strcmp(d, "ext4 label=my?data"), "blanks never reach the detail: '%s'", d);
	fs_blkid_done(&b);
	/* A property but no type: still not empty. */
	CHECK(fs_blkid_parse("PART_ENTRY_SCHEME=gpt\n", 22, &b) == 0 && b.n_props == 1, "unknown keys count");
	free(d);
	d = fs_probe_describe(&b, NULL);
	CHECK(d && !strcmp(d, "signature"), "'%s'", d);
	fs_blkid_done(&b);
}

static void test_super_parse(void)
{
	_cleanup_free_ char *stats = fixture("debugfs-ocfs2-stats.txt"), *bad = fixture("debugfs-ocfs2-notocfs2.txt");
	struct fs_super s;
	CHECK(fs_ocfs2_stats_parse(stats, strlen(stats), &s) == 0, "debugfs stats");
	CHECK(s.slots == 4 && s.label && !strcmp(s.label, "ds1") && s.cluster && !strcmp(s.cluster, "kvmtest") &&
	      s.stack && !strcmp(s.stack, "pcmk"), "ocfs2: slots %u label %s cluster %s stack %s", s.slots, s.label,
	      s.cluster, s.stack);
	fs_super_done(&s);
	CHECK(fs_ocfs2_stats_parse(bad, strlen(bad), &s) == -EINVAL, "debugfs on a non-ocfs2 device exits 0: refused");

	_cleanup_free_ char *g = fixture("gfs2-edit-3.txt"), *g4 = fixture("gfs2-edit-4.txt");
	CHECK(fs_gfs2_edit_parse(g, strlen(g), &s) == 0, "gfs2_edit");
	CHECK(s.slots == 3 && s.label && !strcmp(s.label, "ds2") && s.cluster && !strcmp(s.cluster, "kvmtest") &&
	      s.stack && !strcmp(s.stack, "lock_dlm"), "gfs2: slots %u label %s cluster %s stack %s", s.slots, s.label,
	      s.cluster, s.stack);
	fs_super_done(&s);
	CHECK(fs_gfs2_edit_parse(g4, strlen(g4), &s) == 0 && s.slots == 4, "4 journals: %u", s.slots);
	fs_super_done(&s);
	CHECK(fs_gfs2_edit_parse("", 0, &s) == -EINVAL, "no lock table: refused");

	/* Verdicts of the cluster file systems. */
	_cleanup_free_ char *b = fixture("blkid-ocfs2.txt");
	struct fs_blkid bl;
	CHECK(fs_blkid_parse(b, strlen(b), &bl) == 0, "blkid ocfs2");
	CHECK(fs_ocfs2_stats_parse(stats, strlen(stats), &s) == 0, "stats");
	_cleanup_free_ char *d = fs_probe_describe(&bl, &s);
	char want[256];
	snprintf(want, sizeof want, "ocfs2 label=ds1 uuid=%s slots=4 cluster=kvmtest stack=pcmk", ocfs2_uuid);
	CHECK(d && !strcmp(d, want), "'%s'", d);
	CHECK(host_fs_verdict(DS_FS_OCFS2, &ocfs2_params, d, NULL) == HOST_FS_ADOPT, "adopted");
	struct host_fs_params other = ocfs2_params;
	other.label = "ds9";
	_cleanup_free_ char *why = NULL;
	CHECK(host_fs_verdict(DS_FS_OCFS2, &other, d, &why) == HOST_FS_FOREIGN && contains(why, "label"),
	      "another datastore's: %s", why);
	free(TAKE_PTR(why));
	other = ocfs2_params;
	other.cluster_name = "othercl";
	CHECK(host_fs_verdict(DS_FS_OCFS2, &other, d, &why) == HOST_FS_FOREIGN && contains(why, "another cluster"),
	      "another cluster's: %s", why);
	free(TAKE_PTR(why));
	CHECK(host_fs_verdict(DS_FS_GFS2, &gfs2_params, d, &why) == HOST_FS_FOREIGN, "ocfs2 is not gfs2");
	fs_super_done(&s);
	fs_blkid_done(&bl);
	CHECK(host_fs_verdict(DS_FS_OCFS2, &ocfs2_params, "ambivalent", NULL) == HOST_FS_FOREIGN, "ambivalent");

	char buf[HOST_GFS2_FSNAME_MAX + 1];
	CHECK(!strcmp(host_gfs2_fsname("ds2", buf), "ds2"), "short fs name as is");
	const char *longname = "a_datastore_name_of_forty_characters_xyz";
	host_gfs2_fsname(longname, buf);
	CHECK(strlen(buf) == 30 && !strncmp(buf, longname, 21) && buf[21] == '_', "long name shortened: %s", buf);
	char buf2[HOST_GFS2_FSNAME_MAX + 1];
	CHECK(strcmp(host_gfs2_fsname("a_datastore_name_of_forty_characters_xyw", buf2), buf) != 0, "and distinct");
}

static void test_mountinfo_parse(void)
{
	_cleanup_free_ char *base = fixture("mountinfo-base.txt");
	struct fs_mount m;
	CHECK(fs_mountinfo_find(base, strlen(base), "/var/lib/libvirt", &m) == 0, "found");
	CHECK(m.major == 254 && m.minor == 2 && !strcmp(m.fstype, "xfs") && !strcmp(m.source, "/dev/vdb"),
	      "%u:%u %s %s", m.major, m.minor, m.fstype, m.source);
	fs_mount_done(&m);
	CHECK(fs_mountinfo_find(base, strlen(base), "/mnt/with space", &m) == 0 && !strcmp(m.source, "tmp fs"),
	      "octal escapes undone");
	fs_mount_done(&m);
	CHECK(fs_mountinfo_find(base, strlen(base), "/srv/kvmcd/ds1", &m) == -ENOENT, "not mounted");
	_cleanup_free_ char *stacked = NULL;
	CHECK(asprintf(&stacked, "%s40 22 0:50 / /srv/x rw - tmpfs first rw\n41 40 0:51 / /srv/x rw - nfs4 "
		       "10.0.0.5:/e rw\nbroken line\n", base) > 0, "asprintf");
	CHECK(fs_mountinfo_find(stacked, strlen(stacked), "/srv/x", &m) == 0 && !strcmp(m.fstype, "nfs4"),
	      "the topmost of stacked mounts");
	fs_mount_done(&m);
}

static void test_tool_errors(void)
{
	_cleanup_free_ char *busy = fixture("umount-busy.err");
	struct runner_result res = { .exit_code = 32, .out = (char *)"", .err = busy, .err_len = strlen(busy) };
	CHECK(fs_tool_errno(&res) == -EBUSY, "busy");
	char msg[256];
	fs_tool_message(&res, msg, sizeof msg);
	CHECK(!strcmp(msg, "umount: @MP@: target is busy."), "'%s'", msg);
	_cleanup_free_ char *gfs = fixture("mount-gfs2-unknown.err");
	res.err = gfs;
	res.err_len = strlen(gfs);
	fs_tool_message(&res, msg, sizeof msg);
	CHECK(!strcmp(msg, "mount: @MP@: unknown filesystem type 'gfs2'. dmesg(1) may have more information after "
		      "failed mount system call."), "lines folded: '%s'", msg);
	CHECK(fs_tool_errno(&res) == -EIO, "other failures: EIO");
	res = (struct runner_result){ .exit_code = -1, .signal = 9, .timed_out = true, .out = (char *)"", .err = (char *)"" };
	CHECK(fs_tool_errno(&res) == -ETIMEDOUT, "timed out");
}

/* ---- mount units ----------------------------------------------------------------------------- */

static void test_unit_text(void)
{
	char *n = NULL;
	CHECK(mount_unit_name("/srv/kvmcd/ds1", &n) == 0 && !strcmp(n, "srv-kvmcd-ds1.mount"), "%s", n);
	free(n);
	/* As systemd-escape --path: '-' and bytes outside [A-Za-z0-9:_.] escaped, '.' only first. */
	CHECK(mount_unit_name("/srv/kvm-cd/.hidden/a b", &n) == 0 && !strcmp(n, "srv-kvm\\x2dcd-.hidden-a\\x20b.mount"),
	      "escaped: %s", n);
	free(n);
	CHECK(mount_unit_name("/.dotdir", &n) == 0 && !strcmp(n, "\\x2edotdir.mount"), "leading dot: %s", n);
	free(n);
	CHECK(mount_unit_name("/", &n) == -EINVAL, "/");
	CHECK(mount_unit_name("srv/x", &n) == -EINVAL, "relative");
	CHECK(mount_unit_name("/srv//x", &n) == -EINVAL, "//");
	CHECK(mount_unit_name("/srv/x/", &n) == -EINVAL, "trailing /");
	CHECK(mount_unit_name("/srv/../etc", &n) == -EINVAL, "..");

	struct mount_unit u = {
		.what = "/dev/disk/by-uuid/6162b7fb-ebb6-4f56-a870-74a13bb1dde3", .where = "/srv/kvmcd/ds1", .type = "ocfs2",
		.options = "_netdev,noatime", .requires = fs_type_ocfs2.unit_requires, .after = fs_type_ocfs2.unit_after,
		.wants = "network-online.target",
	};
	_cleanup_free_ char *text = NULL, *tmpl = fixture("unit-ocfs2.mount");
	_cleanup_free_ char *want = subst(tmpl, "@MP@", "/srv/kvmcd/ds1");
	CHECK(mount_unit_render(&u, &text) == 0 && !strcmp(text, want), "unit:\n%s--- wanted:\n%s", text, want);
	u.what = "evil\nExecStart=/bin/sh";
	char *t2 = NULL;
	CHECK(mount_unit_render(&u, &t2) == -EINVAL, "a newline never reaches a unit");
	u.what = "//srv/100%";
	CHECK(mount_unit_render(&u, &t2) == 0 && contains(t2, "What=//srv/100%%\n"), "specifier escaped");
	free(t2);

	_cleanup_free_ char *fstab = fixture("fstab");
	CHECK(mount_unit_fstab_find(fstab, strlen(fstab), "/var/lib/libvirt") == 5, "fstab line");
	CHECK(mount_unit_fstab_find(fstab, strlen(fstab), "/mnt/with space") == 8, "escaped fstab line");
	CHECK(mount_unit_fstab_find(fstab, strlen(fstab), "/srv/kvmcd/ds1") == 0, "comments are not entries");
}

/* ---- probe and mkfs -------------------------------------------------------------------------- */

static void test_probe(void)
{
	struct result res;
	char want[512];

	reset_tree();
	canned_blkid("blkid-ocfs2.txt", 0);
	canned_ocfs2_stats("debugfs-ocfs2-stats.txt");
	RUN(res, host_fs_ocfs2_ops.probe(&ctx, dev, on_done, &res));
	snprintf(want, sizeof want, "ocfs2 label=ds1 uuid=%s slots=4 cluster=kvmtest stack=pcmk", ocfs2_uuid);
	CHECK(res.r == 0 && !strcmp(res.detail, want), "%d '%s'", res.r, res.detail);
	CHECK_CALLS("blkid -p -o export DEV\ndebugfs.ocfs2 -R stats DEV\n");
	CHECK(host_fs_verdict(DS_FS_OCFS2, &ocfs2_params, res.detail, NULL) == HOST_FS_ADOPT,
	      "an existing labelled fs is adopted: no mkfs");

	/* The GFS2 table's probe of the same device says the same. */
	runner_fresh();
	canned_blkid("blkid-ocfs2.txt", 0);
	canned_ocfs2_stats("debugfs-ocfs2-stats.txt");
	RUN(res, host_fs_gfs2_ops.probe(&ctx, dev, on_done, &res));
	CHECK(res.r == 0 && !strcmp(res.detail, want), "%d '%s'", res.r, res.detail);

	runner_fresh();
	canned_blkid(NULL, 0);
	RUN(res, host_fs_ocfs2_ops.probe(&ctx, dev, on_done, &res));
	CHECK(res.r == 0 && !strcmp(res.detail, "empty"), "empty: %d '%s'", res.r, res.detail);

	/* blkid's exit 2 WITH a message is not "nothing found". */
	runner_fresh();
	canned((const char *[]){ "blkid", NULL }, NULL, "blkid: error: DEV: Input/output error\n", 2, 0);
	RUN(res, host_fs_ocfs2_ops.probe(&ctx, dev, on_done, &res));
	CHECK(res.r < 0 && contains(res.detail, "Input/output error"), "%d '%s'", res.r, res.detail);

	runner_fresh();
	_cleanup_free_ char *amb = fixture("blkid-ambivalent.err");
	canned((const char *[]){ "blkid", NULL }, NULL, amb, 8, 0);
	RUN(res, host_fs_ocfs2_ops.probe(&ctx, dev, on_done, &res));
	CHECK(res.r == 0 && !strcmp(res.detail, "ambivalent"), "%d '%s'", res.r, res.detail);

	/* A device that does not exist is never "empty" (blkid exits 2 for it too). */
	runner_fresh();
	char missing[PATH_MAX];
	snprintf(missing, sizeof missing, "%s/dev/nvme9n9", root);
	canned((const char *[]){ "blkid", NULL }, NULL, NULL, 2, 0);
	RUN(res, host_fs_ocfs2_ops.probe(&ctx, missing, on_done, &res));
	CHECK(res.r == -ENOENT && runner_capture_count(run) == 0, "missing device: %d '%s'", res.r, res.detail);

	/* The superblock tool failing is an error, not a guess. */
	runner_fresh();
	canned_blkid("blkid-gfs2.txt", 0);
	canned((const char *[]){ "gfs2_edit", NULL }, NULL, "Failed to open 'DEV': Permission denied\n", 1, 0);
	RUN(res, host_fs_gfs2_ops.probe(&ctx, dev, on_done, &res));
	CHECK(res.r == -EACCES && contains(res.detail, "gfs2_edit -p sb journals") && contains(res.detail, "Permission denied"),
	      "%d '%s'", res.r, res.detail);
}

static void test_mkfs(void)
{
	struct result res;
	static const char *const refused[] = { "blkid-xfs.txt", "blkid-gpt.txt", "blkid-lvm.txt", "blkid-raid.txt",
					       "blkid-ocfs2.txt", "blkid-gfs2.txt", "blkid-swap.txt" };
	for (size_t i = 0; i < ARRAY_SIZE(refused); i++) {
		reset_tree();
		canned_blkid(refused[i], 0);
		canned_ocfs2_stats("debugfs-ocfs2-stats.txt");
		canned_gfs2_edit("gfs2-edit-3.txt");
		canned((const char *[]){ "mkfs.ocfs2", NULL }, NULL, NULL, 0, 0);
		RUN(res, host_fs_ocfs2_ops.mkfs(&ctx, dev, &ocfs2_params, on_done, &res));
		CHECK(res.r == -EEXIST && contains(res.detail, "never formats") && contains(res.detail, dev),
		      "%s: %d '%s'", refused[i], res.r, res.detail);
		_cleanup_free_ char *c = calls();
		CHECK(!contains(c, "mkfs"), "%s: mkfs ran:\n%s", refused[i], c);
	}

	reset_tree();
	_cleanup_free_ char *amb = fixture("blkid-ambivalent.err");
	canned((const char *[]){ "blkid", NULL }, NULL, amb, 8, 0);
	RUN(res, host_fs_gfs2_ops.mkfs(&ctx, dev, &gfs2_params, on_done, &res));
	CHECK(res.r == -EEXIST && contains(res.detail, "holds ambivalent"), "ambivalent: %d '%s'", res.r, res.detail);
	CHECK_CALLS("blkid -p -o export DEV\n");

	/* OCFS2 on an empty device: mkfs, then probed again for the uuid. */
	reset_tree();
	canned_blkid(NULL, 1);
	canned_blkid("blkid-ocfs2.txt", 0);
	canned_ocfs2_stats("debugfs-ocfs2-stats.txt");
	_cleanup_free_ char *mo = fixture("mkfs-ocfs2.out"), *me = fixture("mkfs-ocfs2.err");
	canned((const char *[]){ "mkfs.ocfs2", NULL }, mo, me, 0, 1);
	RUN(res, host_fs_ocfs2_ops.mkfs(&ctx, dev, &ocfs2_params, on_done, &res));
	CHECK(res.r == 0 && !strcmp(res.detail, ocfs2_uuid), "%d '%s'", res.r, res.detail);
	CHECK_CALLS("blkid -p -o export DEV\n"
		    "mkfs.ocfs2 --cluster-stack=pcmk --cluster-name=kvmtest -N 4 -L ds1 DEV\n"
		    "blkid -p -o export DEV\n"
		    "debugfs.ocfs2 -R stats DEV\n");
	const struct runner_call *c = runner_capture_call(run, 1);
	CHECK(c && c->timeout_usec == 4 * 60 * SEC, "mkfs gets 4 step deadlines: %llu",
	      c ? (unsigned long long)c->timeout_usec : 0ull);
	CHECK(c && c->env[0] && !strcmp(c->env[0], "LC_ALL=C"), "tools run with LC_ALL=C");

	/* GFS2 likewise. */
	reset_tree();
	canned_blkid(NULL, 1);
	canned_blkid("blkid-gfs2.txt", 0);
	canned_gfs2_edit("gfs2-edit-3.txt");
	_cleanup_free_ char *go = fixture("mkfs-gfs2.out");
	canned((const char *[]){ "mkfs.gfs2", NULL }, go, NULL, 0, 1);
	RUN(res, host_fs_gfs2_ops.mkfs(&ctx, dev, &gfs2_params, on_done, &res));
	CHECK(res.r == 0 && !strcmp(res.detail, "d1dc6f42-94c9-44cf-bb86-06ae8bcab1f7"), "%d '%s'", res.r, res.detail);
	CHECK_CALLS("blkid -p -o export DEV\n"
		    "mkfs.gfs2 -p lock_dlm -t kvmtest:ds2 -j 3 -O DEV\n"
		    "blkid -p -o export DEV\n"
		    "gfs2_edit -p sb journals DEV\n");

	/* mkfs that says it worked but left something else: not believed. */
	reset_tree();
	canned_blkid(NULL, 1);
	canned_blkid("blkid-xfs.txt", 0);
	canned((const char *[]){ "mkfs.ocfs2", NULL }, NULL, NULL, 0, 1);
	RUN(res, host_fs_ocfs2_ops.mkfs(&ctx, dev, &ocfs2_params, on_done, &res));
	CHECK(res.r == -EIO && contains(res.detail, "now probes as: xfs"), "%d '%s'", res.r, res.detail);

	/* The tool's own message comes back. */
	reset_tree();
	canned_blkid(NULL, 0);
	canned((const char *[]){ "mkfs.ocfs2", NULL }, NULL, "mkfs.ocfs2 1.8.7\nmkfs.ocfs2: Device or resource busy while opening device\n",
	       1, 1);
	RUN(res, host_fs_ocfs2_ops.mkfs(&ctx, dev, &ocfs2_params, on_done, &res));
	CHECK(res.r == -EBUSY && contains(res.detail, "mkfs.ocfs2 --cluster-stack=pcmk") &&
	      contains(res.detail, "exited with status 1") && contains(res.detail, "Device or resource busy"),
	      "%d '%s'", res.r, res.detail);

	/* Parameters that cannot make the fs: nothing runs. */
	reset_tree();
	struct host_fs_params p = ocfs2_params;
	p.cluster_name = "a_cluster_name_of_17";
	RUN(res, host_fs_ocfs2_ops.mkfs(&ctx, dev, &p, on_done, &res));
	CHECK(res.r == -EINVAL && contains(res.detail, "16 bytes") && runner_capture_count(run) == 0, "%d '%s'", res.r,
	      res.detail);
	p = gfs2_params;
	p.cluster_name = "bad:name";
	RUN(res, host_fs_gfs2_ops.mkfs(&ctx, dev, &p, on_done, &res));
	CHECK(res.r == -EINVAL && runner_capture_count(run) == 0, "%d '%s'", res.r, res.detail);
	p = gfs2_params;
	p.label = "a_datastore_name_of_forty_characters_xyz";
	canned_blkid(NULL, 0);
	canned((const char *[]){ "mkfs.gfs2", NULL }, NULL, "fail\n", 1, 0);
	RUN(res, host_fs_gfs2_ops.mkfs(&ctx, dev, &p, on_done, &res));
	char fsname[HOST_GFS2_FSNAME_MAX + 1], want[128];
	snprintf(want, sizeof want, "-t kvmtest:%s ", host_gfs2_fsname(p.label, fsname));
	_cleanup_free_ char *cl = calls();
	CHECK(contains(cl, want), "a long label becomes a 30-byte fs name:\n%s", cl);
}

/* ---- a clone made distinct ------------------------------------------------------------------- */

static void test_make_distinct(void)
{
	struct result res;
	const struct host_fs_params oc = { .cluster_name = "kvmtest", .label = "ds1c" };
	const struct host_fs_params gc = { .cluster_name = "kvmtest", .label = "ds2c" };
	_cleanup_free_ char *te = fixture("tunefs-cloned-volume.err");

	/* OCFS2: a copy of ds1 -> a new UUID (tunefs.ocfs2 --cloned-volume), its journals replayed
	 * (fsck.ocfs2: exit 1, "errors fixed", is fine), then the label alone (1.8.7 writes
	 * "ds1-cloned" whatever --cloned-volume=LABEL says), each verified. */
	reset_tree();
	canned_blkid("blkid-ocfs2.txt", 1);
	canned_ocfs2_stats("debugfs-ocfs2-stats.txt");
	canned((const char *[]){ "tunefs.ocfs2", "-y", NULL }, "", te, 0, 1);
	canned_blkid("blkid-ocfs2-cloned.txt", 1);
	canned_ocfs2_stats("debugfs-ocfs2-stats-cloned.txt");
	canned((const char *[]){ "fsck.ocfs2", "-y", NULL }, "Recovering journal ... done\n", "", 1, 1);
	canned((const char *[]){ "tunefs.ocfs2", "-L", NULL }, "", "", 0, 1);
	canned_blkid("blkid-ocfs2-cloned-relabelled.txt", 1);
	canned_ocfs2_stats("debugfs-ocfs2-stats-cloned-relabelled.txt");
	RUN(res, host_fs_ocfs2_ops.make_distinct(&ctx, dev, &oc, on_done, &res));
	CHECK(res.r == 0 && !strcmp(res.detail, "2f817115-990c-4dc1-972d-83baf56e93b6"), "%d '%s'", res.r, res.detail);
	CHECK_CALLS("blkid -p -o export DEV\n"
		    "debugfs.ocfs2 -R stats DEV\n"
		    "tunefs.ocfs2 -y --cloned-volume=ds1c DEV\n"
		    "blkid -p -o export DEV\n"
		    "debugfs.ocfs2 -R stats DEV\n"
		    "fsck.ocfs2 -y DEV\n"
		    "tunefs.ocfs2 -L ds1c DEV\n"
		    "blkid -p -o export DEV\n"
		    "debugfs.ocfs2 -R stats DEV\n");

	/* Done before (a repeat after a crash, or a new leader's formatter): nothing runs. */
	reset_tree();
	canned_blkid("blkid-ocfs2-cloned-relabelled.txt", 0);
	canned_ocfs2_stats("debugfs-ocfs2-stats-cloned-relabelled.txt");
	RUN(res, host_fs_ocfs2_ops.make_distinct(&ctx, dev, &oc, on_done, &res));
	CHECK(res.r == 0 && !strcmp(res.detail, "2f817115-990c-4dc1-972d-83baf56e93b6"), "%d '%s'", res.r, res.detail);
	CHECK_CALLS("blkid -p -o export DEV\ndebugfs.ocfs2 -R stats DEV\n");

	/* -L failing (no cluster stack) is the tool's error, and the label stays the marker: the
	 * next try runs both again. */
	reset_tree();
	_cleanup_free_ char *nc = fixture("tunefs-no-cluster.err");
	canned_blkid("blkid-ocfs2-cloned.txt", 0);
	canned((const char *[]){ "debugfs.ocfs2", "-R", "stats", dev, NULL }, F("debugfs-ocfs2-stats-cloned.txt"), NULL, 0, 0);
	canned((const char *[]){ "tunefs.ocfs2", "-y", NULL }, "", te, 0, 1);
	canned((const char *[]){ "fsck.ocfs2", "-y", NULL }, "", "", 0, 1);
	canned((const char *[]){ "tunefs.ocfs2", "-L", NULL }, "", nc, 1, 1);
	RUN(res, host_fs_ocfs2_ops.make_distinct(&ctx, dev, &oc, on_done, &res));
	CHECK(res.r < 0 && contains(res.detail, "tunefs.ocfs2 -L ds1c") && contains(res.detail, "cluster service"),
	      "%d '%s'", res.r, res.detail);

	/* fsck.ocfs2 leaving errors (4) fails the step with its words; no -L after it. */
	reset_tree();
	canned_blkid("blkid-ocfs2-cloned.txt", 0);
	canned((const char *[]){ "debugfs.ocfs2", "-R", "stats", dev, NULL }, F("debugfs-ocfs2-stats-cloned.txt"), NULL, 0, 0);
	canned((const char *[]){ "tunefs.ocfs2", "-y", NULL }, "", te, 0, 1);
	canned((const char *[]){ "fsck.ocfs2", "-y", NULL }, "", "fsck.ocfs2: errors left uncorrected\n", 4, 1);
	RUN(res, host_fs_ocfs2_ops.make_distinct(&ctx, dev, &oc, on_done, &res));
	{
		_cleanup_free_ char *c = calls();
		CHECK(res.r < 0 && contains(res.detail, "fsck.ocfs2 -y") && contains(res.detail, "uncorrected") && c &&
		      !strstr(c, "tunefs.ocfs2 -L"), "%d '%s'\n%s", res.r, res.detail, c);
	}

	/* GFS2: the UUID and the lock table in one tunegfs2 run. */
	reset_tree();
	canned_blkid("blkid-gfs2.txt", 1);
	canned_gfs2_edit("gfs2-edit-3.txt");
	canned((const char *[]){ "tunegfs2", NULL }, "", "", 0, 1);
	canned_blkid("blkid-gfs2-cloned.txt", 1);
	canned_gfs2_edit("gfs2-edit-cloned.txt");
	RUN(res, fs_make_distinct(&fs_type_gfs2, &ctx, dev, &gc, "0b6bd4a6-3f57-4f8e-9d51-2c0f7c1a9e11", on_done, &res));
	CHECK(res.r == 0 && !strcmp(res.detail, "0b6bd4a6-3f57-4f8e-9d51-2c0f7c1a9e11"), "%d '%s'", res.r, res.detail);
	CHECK_CALLS("blkid -p -o export DEV\n"
		    "gfs2_edit -p sb journals DEV\n"
		    "tunegfs2 -U 0b6bd4a6-3f57-4f8e-9d51-2c0f7c1a9e11 -o locktable=kvmtest:ds2c DEV\n"
		    "blkid -p -o export DEV\n"
		    "gfs2_edit -p sb journals DEV\n");
	/* the ops table's hook picks a random UUID */
	reset_tree();
	canned_blkid("blkid-gfs2.txt", 1);
	canned_gfs2_edit("gfs2-edit-3.txt");
	canned((const char *[]){ "tunegfs2", NULL }, "", "", 0, 1);
	canned_blkid("blkid-gfs2-cloned.txt", 1);
	canned_gfs2_edit("gfs2-edit-cloned.txt");
	RUN(res, host_fs_gfs2_ops.make_distinct(&ctx, dev, &gc, on_done, &res));
	{
		_cleanup_free_ char *c = calls();
		const char *u = c ? strstr(c, "tunegfs2 -U ") : NULL;
		CHECK(res.r == 0 && u && strlen(u) > 12 + 36 && u[12 + 8] == '-' && u[12 + 36] == ' ' &&
		      !strncmp(u + 12 + 36, " -o locktable=kvmtest:ds2c DEV", 30), "random uuid: %d\n%s", res.r, c);
	}

	/* Nothing of this type on the device: refused, no tool. */
	static const char *const refused[] = { "blkid-xfs.txt", "blkid-gfs2.txt", NULL };
	for (size_t i = 0; i < ARRAY_SIZE(refused); i++) {
		reset_tree();
		canned_blkid(refused[i], 0);
		canned_gfs2_edit("gfs2-edit-3.txt");
		RUN(res, host_fs_ocfs2_ops.make_distinct(&ctx, dev, &oc, on_done, &res));
		CHECK(res.r == -EEXIST && contains(res.detail, "not a copy of a ocfs2 file system"), "%s: %d '%s'",
		      refused[i] ? refused[i] : "empty", res.r, res.detail);
		_cleanup_free_ char *c = calls();
		CHECK(!contains(c, "tunefs"), "%s: a tool ran:\n%s", refused[i] ? refused[i] : "empty", c);
	}
}

/* ---- mount / umount -------------------------------------------------------------------------- */

static void test_mount(void)
{
	struct result res;
	_cleanup_free_ char *unit = unit_path(mp), *wants = wants_path(mp);
	_cleanup_free_ char *tmpl = fixture("unit-ocfs2.mount");
	_cleanup_free_ char *want_unit = subst(tmpl, "@MP@", mp);

	reset_tree();
	canned_blkid("blkid-ocfs2.txt", 0);
	canned((const char *[]){ "debugfs.ocfs2", NULL }, F("debugfs-ocfs2-stats.txt"), NULL, 0, 0);
	canned((const char *[]){ "mount", NULL }, NULL, NULL, 0, 0);
	RUN(res, host_fs_ocfs2_ops.mount(&ctx, dev, mp, on_done, &res));
	CHECK(res.r == 0 && !strcmp(res.detail, mp), "%d '%s'", res.r, res.detail);
	CHECK_CALLS("blkid -p -o export DEV\ndebugfs.ocfs2 -R stats DEV\nmount -t ocfs2 -o _netdev,noatime DEV MP\n");
	_cleanup_free_ char *got = read_all(unit);
	CHECK(got && !strcmp(got, want_unit), "unit %s:\n%s--- wanted:\n%s", unit, got, want_unit);
	char link[PATH_MAX] = "";
	ssize_t k = readlink(wants, link, sizeof link - 1);
	if (k > 0)
		link[k] = '\0';
	CHECK(k > 0 && !strncmp(link, "../", 3) && !strcmp(link + 3, strrchr(unit, '/') + 1), "enabled: %s", link);
	struct stat st1, st2;
	CHECK(stat(mp, &st1) == 0 && S_ISDIR(st1.st_mode), "mount point created");
	CHECK(stat(unit, &st1) == 0 && (st1.st_mode & 07777) == 0644, "unit mode 0644");

	/* Mounting what is mounted: probes, no mount, the unit left as it is. */
	runner_capture_reset(run);
	seen = 0;
	RUN(res, host_fs_ocfs2_ops.mount(&ctx, dev, mp, on_done, &res));
	CHECK(res.r == 0, "again: %d '%s'", res.r, res.detail);
	CHECK_CALLS("blkid -p -o export DEV\ndebugfs.ocfs2 -R stats DEV\n");
	CHECK(stat(unit, &st2) == 0 && st1.st_ino == st2.st_ino && st1.st_mtim.tv_nsec == st2.st_mtim.tv_nsec,
	      "an identical unit is not rewritten");

	/* Mounted already as a block device, which udev's by-uuid link names (a datastore's periodic
	 * check, every 30 s): no tool at all -- the superblock is not read again -- and the unit
	 * stays right. Mounted from another device, or no link: probed as before. */
	{
		char bdev[PATH_MAX + 32], dir[PATH_MAX + 32], devroot[PATH_MAX], line[PATH_MAX + 80];
		const char *uuid = "6162b7fb-ebb6-4f56-a870-74a13bb1dde3";

		snprintf(devroot, sizeof devroot, "%s/dev", root);
		snprintf(bdev, sizeof bdev, "%s/kvmcd-test-blk", devroot);
		unlink(bdev);
		if (mknod(bdev, S_IFBLK | 0600, makedev(7, 213)) < 0) {
			printf("# skipped the mounted-in-place case: mknod: %s (not root)\n", strerror(errno));
		} else {
			snprintf(dir, sizeof dir, "%s/disk/by-uuid", devroot);
			mkdirs(dir);
			snprintf(line, sizeof line, "%s/%s", dir, uuid);
			unlink(line);
			CHECK(symlink("../../kvmcd-test-blk", line) == 0, "by-uuid link: %s", strerror(errno));
			ctx.dev_root = devroot;
			mi_add_dev("ocfs2", bdev, mp, 7, 213);
			runner_capture_reset(run);
			seen = 0;
			RUN(res, host_fs_ocfs2_ops.mount(&ctx, bdev, mp, on_done, &res));
			CHECK(res.r == 0 && !strcmp(res.detail, mp), "in place: %d '%s'", res.r, res.detail);
			CHECK_CALLS("");
			free(got);
			got = read_all(unit);
			CHECK(got && !strcmp(got, want_unit), "in place: the unit is left right:\n%s", got);
			/* no by-uuid link (udev does not watch a multipath map another host formatted):
			 * the UUID of kvmcd's own unit, written from the probe that mounted it */
			unlink(line);
			RUN(res, host_fs_ocfs2_ops.mount(&ctx, bdev, mp, on_done, &res));
			CHECK(res.r == 0, "in place, no link: %d '%s'", res.r, res.detail);
			CHECK_CALLS("");
			free(got);
			got = read_all(unit);
			CHECK(got && !strcmp(got, want_unit), "in place, no link: the unit is left right:\n%s", got);
			/* neither a link nor a unit of kvmcd's: probed */
			unlink(unit);
			canned((const char *[]){ "blkid", NULL }, F("blkid-ocfs2.txt"), NULL, 0, 0);
			RUN(res, host_fs_ocfs2_ops.mount(&ctx, bdev, mp, on_done, &res));
			CHECK(res.r == 0 && contains(keep(calls()), "blkid -p -o export ROOT/dev/kvmcd-test-blk\n"),
			      "no by-uuid link, no unit: probed: %d '%s'", res.r, res.detail);
			free(got);
			got = read_all(unit);
			CHECK(got && !strcmp(got, want_unit), "the unit written again from the probe:\n%s", got);
			/* someone else's unit (no marker): not believed */
			write_file(unit, "[Mount]\nWhat=/dev/disk/by-uuid/6162b7fb-ebb6-4f56-a870-74a13bb1dde3\n", 0644);
			runner_capture_reset(run);
			seen = 0;
			RUN(res, host_fs_ocfs2_ops.mount(&ctx, bdev, mp, on_done, &res));
			CHECK(contains(keep(calls()), "blkid -p -o export ROOT/dev/kvmcd-test-blk\n") && res.r == -EEXIST,
			      "a foreign unit's What= is not believed: probed, refused: %d '%s'", res.r, res.detail);
			unlink(unit);
			RUN(res, host_fs_ocfs2_ops.mount(&ctx, bdev, mp, on_done, &res));
			CHECK(res.r == 0, "the unit written again: %d '%s'", res.r, res.detail);
			/* mounted from another device number: probed too (and refused by the mount flow) */
			CHECK(symlink("../../kvmcd-test-blk", line) == 0, "by-uuid link again");
			mi_remove(mp);
			mi_add("ocfs2", bdev, mp);
			runner_capture_reset(run);
			seen = 0;
			RUN(res, host_fs_ocfs2_ops.mount(&ctx, bdev, mp, on_done, &res));
			CHECK(contains(keep(calls()), "blkid -p -o export ROOT/dev/kvmcd-test-blk\n"),
			      "another device number at the mount point: probed: %d '%s'", res.r, res.detail);
			mi_remove(mp);
			unlink(line);
			unlink(bdev);
			ctx.dev_root = NULL;
		}
	}

	/* A unit kvmcd wrote but that differs (an older kvmcd): rewritten. */
	write_file(unit, MOUNT_UNIT_MARKER "[Unit]\n", 0644);
	RUN(res, host_fs_ocfs2_ops.mount(&ctx, dev, mp, on_done, &res));
	free(got);
	got = read_all(unit);
	CHECK(res.r == 0 && got && !strcmp(got, want_unit), "kvmcd's own unit rewritten: %d %s", res.r, res.detail);

	/* umount: the unit goes first, then umount, checked in mountinfo. */
	runner_capture_reset(run);
	seen = 0;
	canned((const char *[]){ "umount", NULL }, NULL, NULL, 0, 0);
	RUN(res, host_fs_ocfs2_ops.umount(&ctx, mp, on_done, &res));
	CHECK(res.r == 0 && !strcmp(res.detail, "unmounted"), "%d '%s'", res.r, res.detail);
	CHECK_CALLS("umount MP\n");
	CHECK(access(unit, F_OK) < 0 && errno == ENOENT, "unit removed");
	CHECK(lstat(wants, &st1) < 0 && errno == ENOENT, "link removed");
	RUN(res, host_fs_ocfs2_ops.umount(&ctx, mp, on_done, &res));
	CHECK(res.r == 0 && !strcmp(res.detail, "not mounted"), "umount of what is gone: %d '%s'", res.r, res.detail);
	CHECK_CALLS("umount MP\n");

	/* Something else at the mount point: neither mounted over nor unmounted. */
	reset_tree();
	mi_add("xfs", "/dev/vdc", mp);
	canned_blkid("blkid-ocfs2.txt", 0);
	canned((const char *[]){ "debugfs.ocfs2", NULL }, F("debugfs-ocfs2-stats.txt"), NULL, 0, 0);
	RUN(res, host_fs_ocfs2_ops.mount(&ctx, dev, mp, on_done, &res));
	CHECK(res.r == -EEXIST && contains(res.detail, "xfs /dev/vdc"), "%d '%s'", res.r, res.detail);
	CHECK(access(unit, F_OK) < 0, "no unit written");
	RUN(res, host_fs_ocfs2_ops.umount(&ctx, mp, on_done, &res));
	CHECK(res.r == -EEXIST, "umount of something else: %d '%s'", res.r, res.detail);
	CHECK(!contains(keep(calls()), "mount "), "neither mount nor umount ran");

	/* Someone else's unit, or fstab line, for the mount point: refused, untouched. */
	reset_tree();
	canned_blkid("blkid-ocfs2.txt", 0);
	canned((const char *[]){ "debugfs.ocfs2", NULL }, F("debugfs-ocfs2-stats.txt"), NULL, 0, 0);
	canned((const char *[]){ "mount", NULL }, NULL, NULL, 0, 0);
	char dir[PATH_MAX];
	snprintf(dir, sizeof dir, "%s/etc/systemd/system", root);
	mkdirs(dir);
	write_file(unit, "[Mount]\nWhat=/dev/sdz\n", 0644);
	RUN(res, host_fs_ocfs2_ops.mount(&ctx, dev, mp, on_done, &res));
	CHECK(res.r == -EEXIST && contains(res.detail, "not written by kvmcd"), "%d '%s'", res.r, res.detail);
	free(got);
	got = read_all(unit);
	CHECK(got && !strcmp(got, "[Mount]\nWhat=/dev/sdz\n"), "foreign unit untouched");
	unlink(unit);
	char fstab[PATH_MAX];
	snprintf(fstab, sizeof fstab, "%s/etc/fstab", root);
	_cleanup_free_ char *fs = NULL;
	CHECK(asprintf(&fs, "# x\n/dev/sdz %s ext4 defaults 0 2\n", mp) > 0, "asprintf");
	write_file(fstab, fs, 0644);
	RUN(res, host_fs_ocfs2_ops.mount(&ctx, dev, mp, on_done, &res));
	CHECK(res.r == -EEXIST && contains(res.detail, "line 2"), "%d '%s'", res.r, res.detail);
	CHECK(!contains(keep(calls()), "mount -t"), "mount never ran");

	/* mount's own failure comes back with its words (DLM not running). */
	reset_tree();
	canned_blkid("blkid-ocfs2.txt", 0);
	canned((const char *[]){ "debugfs.ocfs2", NULL }, F("debugfs-ocfs2-stats.txt"), NULL, 0, 0);
	canned((const char *[]){ "mount", NULL }, NULL, F("mount-ocfs2-no-cluster.err"), 1, 0);
	effects = false;
	RUN(res, host_fs_ocfs2_ops.mount(&ctx, dev, mp, on_done, &res));
	CHECK(res.r == -EIO && contains(res.detail, "mount -t ocfs2 -o _netdev,noatime") &&
	      contains(res.detail, "Unable to access cluster service"), "%d '%s'", res.r, res.detail);

	/* mount exits 0 but nothing is mounted: not believed. */
	reset_tree();
	effects = false;
	canned_blkid("blkid-ocfs2.txt", 0);
	canned((const char *[]){ "debugfs.ocfs2", NULL }, F("debugfs-ocfs2-stats.txt"), NULL, 0, 0);
	canned((const char *[]){ "mount", NULL }, NULL, NULL, 0, 0);
	RUN(res, host_fs_ocfs2_ops.mount(&ctx, dev, mp, on_done, &res));
	CHECK(res.r == -EIO && contains(res.detail, "is not mounted"), "%d '%s'", res.r, res.detail);

	/* The wrong file system for this table. */
	reset_tree();
	canned_blkid("blkid-gfs2.txt", 0);
	canned((const char *[]){ "gfs2_edit", NULL }, F("gfs2-edit-3.txt"), NULL, 0, 0);
	RUN(res, host_fs_ocfs2_ops.mount(&ctx, dev, mp, on_done, &res));
	CHECK(res.r == -EMEDIUMTYPE && contains(res.detail, "not ocfs2"), "%d '%s'", res.r, res.detail);
	reset_tree();
	canned_blkid(NULL, 0);
	RUN(res, host_fs_gfs2_ops.mount(&ctx, dev, mp, on_done, &res));
	CHECK(res.r == -EMEDIUMTYPE && contains(res.detail, "holds empty"), "%d '%s'", res.r, res.detail);

	/* umount busy. */
	reset_tree();
	mi_add("gfs2", dev, mp);
	effects = false;
	canned((const char *[]){ "umount", NULL }, NULL, F("umount-busy.err"), 32, 0);
	RUN(res, host_fs_gfs2_ops.umount(&ctx, mp, on_done, &res));
	CHECK(res.r == -EBUSY && contains(res.detail, "target is busy"), "%d '%s'", res.r, res.detail);
}

static void test_grow(void)
{
	struct result res;

	reset_tree();
	canned_blkid("blkid-ocfs2.txt", 0);
	canned((const char *[]){ "debugfs.ocfs2", NULL }, F("debugfs-ocfs2-stats.txt"), NULL, 0, 0);
	RUN(res, host_fs_ocfs2_ops.grow(&ctx, dev, mp, 4, on_done, &res));
	CHECK(res.r == 0 && !strcmp(res.detail, "slots=4"), "enough slots: %d '%s'", res.r, res.detail);
	CHECK_CALLS("blkid -p -o export DEV\ndebugfs.ocfs2 -R stats DEV\n");
	RUN(res, host_fs_ocfs2_ops.grow(&ctx, dev, mp, 2, on_done, &res));
	CHECK(res.r == 0 && !strcmp(res.detail, "slots=4"), "never shrinks: %d '%s'", res.r, res.detail);

	reset_tree();
	canned_blkid("blkid-ocfs2.txt", 0);
	canned_ocfs2_stats("debugfs-ocfs2-stats.txt");
	canned((const char *[]){ "debugfs.ocfs2", NULL }, F("debugfs-ocfs2-stats-6.txt"), NULL, 0, 0);
	canned((const char *[]){ "tunefs.ocfs2", NULL }, NULL, NULL, 0, 0);
	RUN(res, host_fs_ocfs2_ops.grow(&ctx, dev, NULL, 6, on_done, &res));
	CHECK(res.r == 0 && !strcmp(res.detail, "slots=6"), "%d '%s'", res.r, res.detail);
	CHECK_CALLS("blkid -p -o export DEV\ndebugfs.ocfs2 -R stats DEV\ntunefs.ocfs2 -N 6 DEV\n"
		    "blkid -p -o export DEV\ndebugfs.ocfs2 -R stats DEV\n");

	reset_tree();
	canned_blkid("blkid-ocfs2.txt", 0);
	canned((const char *[]){ "debugfs.ocfs2", NULL }, F("debugfs-ocfs2-stats.txt"), NULL, 0, 0);
	canned((const char *[]){ "tunefs.ocfs2", NULL }, NULL, F("tunefs-no-cluster.err"), 3, 0);
	RUN(res, host_fs_ocfs2_ops.grow(&ctx, dev, NULL, 6, on_done, &res));
	CHECK(res.r == -EIO && contains(res.detail, "Unable to access cluster service"), "%d '%s'", res.r, res.detail);

	/* GFS2: journals are added to the mounted fs, -j counts the ones to ADD. */
	reset_tree();
	canned_blkid("blkid-gfs2.txt", 0);
	canned((const char *[]){ "gfs2_edit", NULL }, F("gfs2-edit-3.txt"), NULL, 0, 0);
	RUN(res, host_fs_gfs2_ops.grow(&ctx, dev, mp, 4, on_done, &res));
	CHECK(res.r == -ENOTCONN && contains(res.detail, "not mounted"), "%d '%s'", res.r, res.detail);
	CHECK(!contains(keep(calls()), "gfs2_jadd"), "jadd needs the mount");

	reset_tree();
	mi_add("gfs2", dev, mp);
	canned_blkid("blkid-gfs2.txt", 0);
	canned_gfs2_edit("gfs2-edit-3.txt");
	canned((const char *[]){ "gfs2_edit", NULL }, F("gfs2-edit-4.txt"), NULL, 0, 0);
	canned((const char *[]){ "gfs2_jadd", NULL }, NULL, NULL, 0, 0);
	RUN(res, host_fs_gfs2_ops.grow(&ctx, dev, mp, 4, on_done, &res));
	CHECK(res.r == 0 && !strcmp(res.detail, "slots=4"), "%d '%s'", res.r, res.detail);
	CHECK_CALLS("blkid -p -o export DEV\ngfs2_edit -p sb journals DEV\ngfs2_jadd -j 1 MP\n"
		    "blkid -p -o export DEV\ngfs2_edit -p sb journals DEV\n");

	reset_tree();
	RUN(res, host_fs_gfs2_ops.grow(&ctx, dev, mp, 0, on_done, &res));
	CHECK(res.r == -EINVAL && runner_capture_count(run) == 0, "0 slots: %d", res.r);
}

/* ---- NAS ------------------------------------------------------------------------------------- */

static void test_nfs(void)
{
	struct result res;
	const char *servers[] = { "10.0.0.5", "10.0.0.6" };
	struct ds_spec spec = { .name = "n1", .protocol = DS_PROTO_NFS, .path = mp,
				.nfs = { .version = "4.1", .nconnect = 4, .trunkdiscovery = true } };
	struct host_target t = { .datastore = "n1", .protocol = DS_PROTO_NFS, .nas_servers = servers, .n_nas_servers = 2,
				 .export_path = "/kvmcd_c_n1", .spec = &spec, .mount_point = mp };
	_cleanup_free_ char *unit = unit_path(mp), *tmpl = fixture("unit-nfs.mount");
	_cleanup_free_ char *want_unit = subst(tmpl, "@MP@", mp);

	reset_tree();
	RUN(res, host_attach_nfs_ops.probe(&ctx, &t, on_done, &res));
	CHECK(res.r == -ENOENT, "not attached: %d '%s'", res.r, res.detail);
	canned((const char *[]){ "mount", NULL }, NULL, NULL, 0, 0);
	RUN(res, host_attach_nfs_ops.attach(&ctx, &t, on_done, &res));
	CHECK(res.r == 0 && !strcmp(res.detail, mp), "%d '%s'", res.r, res.detail);
	CHECK_CALLS("mount -t nfs -o vers=4.1,nconnect=4,trunkdiscovery,hard,_netdev 10.0.0.5:/kvmcd_c_n1 MP\n");
	_cleanup_free_ char *got = read_all(unit);
	CHECK(got && !strcmp(got, want_unit), "unit:\n%s--- wanted:\n%s", got, want_unit);
	RUN(res, host_attach_nfs_ops.probe(&ctx, &t, on_done, &res));
	CHECK(res.r == 0 && !strcmp(res.detail, mp), "attached (nfs4 in mountinfo): %d '%s'", res.r, res.detail);
	RUN(res, host_attach_nfs_ops.attach(&ctx, &t, on_done, &res));
	CHECK(res.r == 0, "again: %d", res.r);
	CHECK_CALLS("mount -t nfs -o vers=4.1,nconnect=4,trunkdiscovery,hard,_netdev 10.0.0.5:/kvmcd_c_n1 MP\n");

	/* Another export at the same mount point is not ours. */
	struct host_target t2 = t;
	t2.export_path = "/other";
	RUN(res, host_attach_nfs_ops.probe(&ctx, &t2, on_done, &res));
	CHECK(res.r == -EEXIST, "other export: %d '%s'", res.r, res.detail);
	RUN(res, host_attach_nfs_ops.detach(&ctx, &t2, on_done, &res));
	CHECK(res.r == -EEXIST, "never unmounts what it did not mount: %d '%s'", res.r, res.detail);

	canned((const char *[]){ "umount", NULL }, NULL, NULL, 0, 0);
	RUN(res, host_attach_nfs_ops.detach(&ctx, &t, on_done, &res));
	CHECK(res.r == 0 && access(unit, F_OK) < 0, "detached: %d '%s'", res.r, res.detail);
	RUN(res, host_attach_nfs_ops.detach(&ctx, &t, on_done, &res));
	CHECK(res.r == 0 && !strcmp(res.detail, "not mounted"), "detach of what is gone: %d '%s'", res.r, res.detail);

	/* Defaults, NFSv3, IPv6. */
	reset_tree();
	canned((const char *[]){ "mount", NULL }, NULL, NULL, 0, 0);
	struct ds_spec s3 = { .name = "n1", .protocol = DS_PROTO_NFS, .nfs = { .version = "3" } };
	const char *v6[] = { "fd00::5" };
	struct host_target t3 = { .datastore = "n1", .nas_servers = v6, .n_nas_servers = 1, .export_path = "/e",
				  .spec = &s3, .mount_point = mp };
	RUN(res, host_attach_nfs_ops.attach(&ctx, &t3, on_done, &res));
	CHECK_CALLS("mount -t nfs -o vers=3,hard,_netdev [fd00::5]:/e MP\n");
	s3.nfs.trunkdiscovery = true;
	reset_tree();
	RUN(res, host_attach_nfs_ops.attach(&ctx, &t3, on_done, &res));
	CHECK(res.r == -EINVAL && contains(res.detail, "trunkdiscovery"), "%d '%s'", res.r, res.detail);
	t3.spec = NULL;
	s3.nfs.trunkdiscovery = false;
	canned((const char *[]){ "mount", NULL }, NULL, NULL, 0, 0);
	RUN(res, host_attach_nfs_ops.attach(&ctx, &t3, on_done, &res));
	CHECK_CALLS("mount -t nfs -o vers=4.1,hard,_netdev [fd00::5]:/e MP\n");
}

static void test_smb(void)
{
	struct result res;
	char cred[PATH_MAX];
	snprintf(cred, sizeof cred, "%s/etc/kvmcd-smb.cred", root);
	const char *servers[] = { "10.0.0.6" };
	struct ds_spec spec = { .name = "s1", .protocol = DS_PROTO_SMB,
				.smb = { .multichannel = true, .max_channels = 4, .credentials = cred } };
	struct host_target t = { .datastore = "s1", .protocol = DS_PROTO_SMB, .nas_servers = servers, .n_nas_servers = 1,
				 .export_path = "kvmcd_c_s1", .spec = &spec, .mount_point = mp };

	reset_tree();
	canned((const char *[]){ "mount", NULL }, NULL, NULL, 0, 0);
	RUN(res, host_attach_smb_ops.attach(&ctx, &t, on_done, &res));
	CHECK(res.r == -ENOENT && contains(res.detail, cred), "missing file: %d '%s'", res.r, res.detail);

	write_file(cred, "username=kvm\npassword=secret\n", 0644);
	RUN(res, host_attach_smb_ops.attach(&ctx, &t, on_done, &res));
	CHECK(res.r == -EPERM && contains(res.detail, cred) && contains(res.detail, "0644"), "mode 0644: %d '%s'", res.r,
	      res.detail);
	chmod(cred, 0640);
	RUN(res, host_attach_smb_ops.attach(&ctx, &t, on_done, &res));
	CHECK(res.r == -EPERM && contains(res.detail, "0640"), "group-readable: %d '%s'", res.r, res.detail);
	chmod(cred, 0600);
	if (geteuid() == 0) {
		CHECK(chown(cred, 65534, 65534) == 0, "chown");
		RUN(res, host_attach_smb_ops.attach(&ctx, &t, on_done, &res));
		CHECK(res.r == -EPERM && contains(res.detail, "uid 65534") && contains(res.detail, cred), "not root's: %d '%s'",
		      res.r, res.detail);
		CHECK(chown(cred, 0, 0) == 0, "chown");
	}
	char link[PATH_MAX];
	snprintf(link, sizeof link, "%s/etc/cred-link", root);
	CHECK(symlink(cred, link) == 0, "symlink");
	spec.smb.credentials = link;
	RUN(res, host_attach_smb_ops.attach(&ctx, &t, on_done, &res));
	CHECK(res.r == -EPERM && contains(res.detail, "symbolic link"), "symlink: %d '%s'", res.r, res.detail);
	spec.smb.credentials = cred;
	CHECK(runner_capture_count(run) == 0, "nothing ran with a bad credentials file");

	if (geteuid() != 0) {
		printf("# not root: the positive smb mount case needs a root-owned credentials file; skipped\n");
		return;
	}
	RUN(res, host_attach_smb_ops.attach(&ctx, &t, on_done, &res));
	CHECK(res.r == 0 && !strcmp(res.detail, mp), "%d '%s'", res.r, res.detail);
	_cleanup_free_ char *want = NULL;
	CHECK(asprintf(&want, "mount -t cifs -o multichannel,max_channels=4,credentials=ROOT/etc/kvmcd-smb.cred,_netdev "
		       "//10.0.0.6/kvmcd_c_s1 MP\n") > 0, "asprintf");
	CHECK_CALLS(want);
	RUN(res, host_attach_smb_ops.probe(&ctx, &t, on_done, &res));
	CHECK(res.r == 0, "attached: %d '%s'", res.r, res.detail);
	canned((const char *[]){ "umount", NULL }, NULL, NULL, 0, 0);
	RUN(res, host_attach_smb_ops.detach(&ctx, &t, on_done, &res));
	CHECK(res.r == 0 && !strcmp(res.detail, "unmounted"), "%d '%s'", res.r, res.detail);

	/* mount.cifs's own error. */
	reset_tree();
	write_file(cred, "username=kvm\npassword=secret\n", 0600);
	effects = false;
	canned((const char *[]){ "mount", NULL }, NULL, F("mount-cifs-unsupported.err"), 32, 0);
	RUN(res, host_attach_smb_ops.attach(&ctx, &t, on_done, &res));
	CHECK(res.r == -EIO && contains(res.detail, "cifs filesystem not supported"), "%d '%s'", res.r, res.detail);
}

/* ---- pools ----------------------------------------------------------------------------------- */

static void test_pool_xml(void)
{
	char h[HOST_SHA256_HEX];
	host_sha256_hex("abc", 3, h);
	CHECK(!strcmp(h, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"), "sha256(abc) %s", h);
	host_sha256_hex("", 0, h);
	CHECK(!strcmp(h, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"), "sha256('') %s", h);
	const char *m = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
	host_sha256_hex(m, strlen(m), h);
	CHECK(!strcmp(h, "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"), "sha256(448 bits) %s", h);

	struct host_pool_spec p = { .name = "ds1", .uuid = "6A1E9C8E-5B3C-4F6E-9F50-1A2B3C4D5E6F", .target_path = "/srv/kvmcd/ds1" };
	_cleanup_free_ char *xml = NULL, *want = fixture("pool-kvmcd.xml");
	CHECK(host_pool_xml(&p, &xml) == 0 && !strcmp(xml, want), "pool XML:\n%s", xml);
	p.name = "Bad";
	char *x2 = NULL;
	CHECK(host_pool_xml(&p, &x2) == -EINVAL, "bad name");
	p.name = "ds1";
	p.uuid = "6a1e9c8e'><x";
	CHECK(host_pool_xml(&p, &x2) == -EINVAL, "bad uuid");

	/* libvirt's XML, live numbers included, hashes like kvmcd's own. */
	_cleanup_free_ char *live = fixture("pool-libvirt-live.xml");
	char hk[HOST_SHA256_HEX], hl[HOST_SHA256_HEX];
	host_sha256_hex(xml, strlen(xml), hk);
	CHECK(host_pool_hash(live, hl) == 0 && !strcmp(hk, hl), "canonical hash %s vs %s", hl, hk);
	_cleanup_free_ char *other = subst(live, "107374182400", "5");
	CHECK(host_pool_hash(other, hl) == 0 && !strcmp(hk, hl), "capacity does not change the hash");
	free(other);
	other = subst(live, "0755", "0700");
	CHECK(host_pool_hash(other, hl) == 0 && strcmp(hk, hl) != 0, "permissions do");

	struct host_pool_def d;
	char *why = NULL;
	CHECK(host_pool_parse(live, strlen(live), &d, &why) == 0 && !strcmp(d.type, "dir") && !strcmp(d.path, "/srv/kvmcd/ds1") &&
	      !strcmp(d.mode, "0755"), "parsed");
	host_pool_def_done(&d);
	free(other);
	other = subst(live, "<source>\n  </source>", "<source>\n    <dir path='/x'/>\n  </source>");
	CHECK(host_pool_parse(other, strlen(other), &d, &why) == -EEXIST && contains(why, "source"), "more than kvmcd's: %s",
	      why);
	free(why);
	why = NULL;
	char hx[HOST_SHA256_HEX];
	CHECK(host_pool_hash(other, hx) == 0 && strcmp(hx, hk) != 0, "hashed, but never equal to a canonical hash");
	const char *bad[] = { "", "<pool", "<pool type='dir'><name>a</nam></pool>", "<pool>&bogus;</pool>", "<x/>",
			      "<pool/> trailing" };
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		CHECK(host_pool_parse(bad[i], strlen(bad[i]), &d, &why) == -EINVAL, "'%s' refused", bad[i]);
		free(why);
		why = NULL;
	}
	const char ent[] = "<?xml version='1.0'?><!-- c --><pool type=\"dir\"><name>a&amp;b&#x41;</name><source/></pool>";
	CHECK(host_pool_parse(ent, strlen(ent), &d, &why) == 0 && !strcmp(d.name, "a&bA"), "entities, prolog, comment");
	host_pool_def_done(&d);
}

#ifdef HAVE_LIBVIRT
static void test_pool_libvirt(void)
{
	struct result res;
	/* The test driver's state lives while one connection to it is open: hold one for the
	 * test, as libvirtd holds its state for the daemon. */
	virConnectPtr keep = virConnectOpen("test:///default");
	CHECK(keep != NULL, "test:///default");
	if (!keep)
		return;
	ctx.libvirt_uri = "test:///default";
	struct host_pool_spec p = { .name = "ds1", .uuid = "6a1e9c8e-5b3c-4f6e-9f50-1a2b3c4d5e6f", .target_path = "/srv/kvmcd/ds1" };
	_cleanup_free_ char *xml = NULL;
	char want[HOST_SHA256_HEX], probe_want[HOST_SHA256_HEX + 16];
	CHECK(host_pool_xml(&p, &xml) == 0, "xml");
	host_sha256_hex(xml, strlen(xml), want);
	snprintf(probe_want, sizeof probe_want, "active %s", want);

	RUN(res, host_pool_libvirt_ops.probe(&ctx, &p, on_done, &res));
	CHECK(res.r == -ENOENT, "undefined: %d '%s'", res.r, res.detail);
	RUN(res, host_pool_libvirt_ops.ensure(&ctx, &p, on_done, &res));
	CHECK(res.r == 0 && !strcmp(res.detail, want), "ensure: %d '%s' (want %s)", res.r, res.detail, want);
	RUN(res, host_pool_libvirt_ops.probe(&ctx, &p, on_done, &res));
	CHECK(res.r == 0 && !strcmp(res.detail, probe_want), "probe: %d '%s'", res.r, res.detail);
	virStoragePoolPtr vp = virStoragePoolLookupByName(keep, "ds1");
	int autostart = 0;
	CHECK(vp && virStoragePoolGetAutostart(vp, &autostart) == 0 && autostart == 1, "autostarted");
	CHECK(vp && virStoragePoolIsActive(vp) == 1 && virStoragePoolIsPersistent(vp) == 1, "active and persistent");
	RUN(res, host_pool_libvirt_ops.ensure(&ctx, &p, on_done, &res));
	CHECK(res.r == 0 && !strcmp(res.detail, want), "idempotent: %d '%s'", res.r, res.detail);

	/* Stopped by someone: ensure starts it again; the hash is the same stopped or running. */
	CHECK(vp && virStoragePoolDestroy(vp) == 0, "destroy");
	RUN(res, host_pool_libvirt_ops.probe(&ctx, &p, on_done, &res));
	CHECK(res.r == 0 && !strncmp(res.detail, "inactive ", 9) && !strcmp(res.detail + 9, want), "inactive: '%s'",
	      res.detail);
	RUN(res, host_pool_libvirt_ops.ensure(&ctx, &p, on_done, &res));
	CHECK(res.r == 0 && vp && virStoragePoolIsActive(vp) == 1, "restarted: %d '%s'", res.r, res.detail);

	/* The same name with another UUID, or another target: refused, left alone. */
	struct host_pool_spec q = p;
	q.uuid = "11111111-2222-3333-4444-555555555555";
	RUN(res, host_pool_libvirt_ops.ensure(&ctx, &q, on_done, &res));
	CHECK(res.r == -EEXIST && contains(res.detail, "uuid 6a1e9c8e-5b3c-4f6e-9f50-1a2b3c4d5e6f"), "other uuid: %d '%s'",
	      res.r, res.detail);
	RUN(res, host_pool_libvirt_ops.remove(&ctx, &q, on_done, &res));
	CHECK(res.r == -EEXIST, "remove of a pool that is not this one: %d '%s'", res.r, res.detail);
	q = p;
	q.target_path = "/srv/elsewhere";
	RUN(res, host_pool_libvirt_ops.ensure(&ctx, &q, on_done, &res));
	CHECK(res.r == -EEXIST && contains(res.detail, "target /srv/kvmcd/ds1"), "other target: %d '%s'", res.r, res.detail);
	/* Our UUID under another name. */
	q = p;
	q.name = "ds2";
	RUN(res, host_pool_libvirt_ops.ensure(&ctx, &q, on_done, &res));
	CHECK(res.r == -EEXIST && contains(res.detail, "already pool ds1"), "uuid taken: %d '%s'", res.r, res.detail);
	RUN(res, host_pool_libvirt_ops.probe(&ctx, &p, on_done, &res));
	CHECK(res.r == 0 && !strcmp(res.detail, probe_want), "unchanged by the refusals: '%s'", res.detail);

	RUN(res, host_pool_libvirt_ops.remove(&ctx, &p, on_done, &res));
	CHECK(res.r == 0, "remove: %d '%s'", res.r, res.detail);
	RUN(res, host_pool_libvirt_ops.probe(&ctx, &p, on_done, &res));
	CHECK(res.r == -ENOENT, "gone: %d '%s'", res.r, res.detail);
	RUN(res, host_pool_libvirt_ops.remove(&ctx, &p, on_done, &res));
	CHECK(res.r == 0, "remove of what is gone: %d '%s'", res.r, res.detail);
	if (vp)
		virStoragePoolFree(vp);

	/* A daemon that is not there: the error is libvirt's own, with the step. */
	ctx.libvirt_uri = "test:///nonexistent/kvmcd-test.xml";
	RUN(res, host_pool_libvirt_ops.probe(&ctx, &p, on_done, &res));
	CHECK(res.r < 0 && contains(res.detail, "test:///nonexistent/kvmcd-test.xml"), "%d '%s'", res.r, res.detail);
	ctx.libvirt_uri = NULL;
	virConnectClose(keep);
}
#endif

int main(int argc, char **argv)
{
	if (argc < 2) {
		fprintf(stderr, "usage: %s FIXTURE_DIR\n", argv[0]);
		return 2;
	}
	fixdir = argv[1];
	snprintf(root, sizeof root, "/tmp/kvmcd-test-host-fs.XXXXXX");
	if (!mkdtemp(root))
		return 2;
	snprintf(dev, sizeof dev, "%s/dev/mapper/3600a098038314d4f2b5d5a6b4b6f4a4d", root);
	snprintf(mp, sizeof mp, "%s/srv/kvmcd/ds1", root);
	char p[PATH_MAX];
	snprintf(p, sizeof p, "%s/dev/mapper", root);
	mkdirs(p);
	write_file(dev, "", 0600);
	snprintf(p, sizeof p, "%s/proc/self", root);
	mkdirs(p);
	mi_base = fixture("mountinfo-base.txt");

	if (sd_event_new(&ev) < 0 || worker_pool_new(ev, 2, &workers) < 0)
		return 2;
	char etc[PATH_MAX], proc[PATH_MAX];
	snprintf(etc, sizeof etc, "%s/etc", root);
	snprintf(proc, sizeof proc, "%s/proc", root);
	ctx = (struct host_ctx){ .event = ev, .workers = workers, .etc_root = etc, .proc_root = proc,
				 .step_timeout_usec = 60 * SEC, .node_name = "n1" };
	runner_fresh();

	test_blkid_parse();
	test_super_parse();
	test_mountinfo_parse();
	test_tool_errors();
	test_unit_text();
	test_probe();
	test_mkfs();
	test_make_distinct();
	test_mount();
	test_grow();
	test_nfs();
	test_smb();
	test_pool_xml();
#ifdef HAVE_LIBVIRT
	test_pool_libvirt();
#else
	printf("# built without libvirt: the pool ops against libvirt's test driver are skipped\n");
#endif

	runner_free(run);
	worker_pool_free(workers);
	sd_event_unref(ev);
	free(mi_base);
	for (size_t i = 0; i < n_kept; i++)
		free(kept[i]);
	rm_rf(root);
	return tap_done("test-host-fs");
}
