/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The real block attach ops (resources/host/iscsi.c, fc.c, nvme-tcp.c, blockdev.c) against the
 * runner's argv capture with canned outputs of the real tools (tests/host-fixtures/attach/) and
 * a fake sysfs / dev / etc tree in a temporary directory. A small "kernel" here reacts to the
 * recorded commands the way the host would (a login makes SCSI disks appear, multipathd makes
 * a map, a logout removes them, nvme connect makes a controller and a namespace), so the code
 * under test sees the same sysfs it would see on a real host, one loop iteration after the
 * command "ran".
 *
 * Checked: the exact argv sequences (attach from nothing, already attached, detach, detach
 * when other LUNs share the sessions, idempotent detach), an unreachable portal and a failed
 * login (the step and iscsiadm's own words in the error), CHAP (the secret in the node record
 * file and nowhere in argv, environment, stdin, log lines or results), a device that never
 * shows up (bounded wait, clear error), multipath kicked when paths stay without a map, the
 * wrong LUN never picked when two serials share LIO's WWID, NVMe by uuid (not a hidden path,
 * wwid "uuid.<uuid>" too, one subsystem shared), FC rescan of the online ports only, and the
 * parsers. Runs in a few seconds; nothing sleeps on the loop.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdarg.h>
#include <string.h>
#include <sys/stat.h>
#include <syslog.h>
#include <time.h>

#include "blockdev.h"
#include "macros.h"
#include "runner.h"
#include "tap.h"
#include "worker.h"

#ifndef HOST_FIXTURES
#error "HOST_FIXTURES must name tests/host-fixtures/attach"
#endif

#define IQN "iqn.1992-08.com.netapp:sn.4a3f6c1e2b5d11ef9a3c00a098d1e2f3:vs.3"
#define P1 "10.77.0.10:3260"
#define P2 "10.77.0.20:3260"
#define PX "10.77.1.30:3260"
#define SERIAL "80D3A+LXmTbC"
#define WWID "3600a098038304433412b4c586d546243"
#define NQN "nqn.1992-08.com.netapp:sn.4a3f6c1e2b5d11ef9a3c00a098d1e2f3:subsystem.kvmcd_fsvm"
#define NS_UUID "6F1A2B3C-4D5E-4F60-8A9B-0C1D2E3F4A5B"   /* as given; sysfs says it lower-case */
#define NS_UUID_LC "6f1a2b3c-4d5e-4f60-8a9b-0c1d2e3f4a5b"
#define SECRET "Zq7-wR2p!xK9mT4v"
#define STEP_USEC (300 * USEC_PER_MSEC)    /* so the device wait is 0.6 s */

/* ---- the fake tree ----------------------------------------------------------------------------- */

static char root[256], sys_root[300], dev_root[300], etc_root[300];

static void mkdirs(const char *path)
{
	char buf[1024];

	snprintf(buf, sizeof buf, "%s", path);
	for (char *p = buf + 1; *p; p++)
		if (*p == '/') {
			*p = '\0';
			mkdir(buf, 0755);
			*p = '/';
		}
	mkdir(buf, 0755);
}

static void put_bytes(const char *path, const void *data, size_t len)
{
	char dir[1024];
	char *slash;
	FILE *f;

	snprintf(dir, sizeof dir, "%s", path);
	slash = strrchr(dir, '/');
	*slash = '\0';
	mkdirs(dir);
	f = fopen(path, "w");
	if (!f) {
		fprintf(stderr, "cannot write %s: %m\n", path);
		exit(2);
	}
	fwrite(data, 1, len, f);
	fclose(f);
}

static void putf(const char *text, const char *fmt, ...) _printf_(2, 3);
static void putf(const char *text, const char *fmt, ...)
{
	char path[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(path, sizeof path, fmt, ap);
	va_end(ap);
	put_bytes(path, text, strlen(text));
}

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	return remove(path);
}

static void rmf(const char *fmt, ...) _printf_(1, 2);
static void rmf(const char *fmt, ...)
{
	char path[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(path, sizeof path, fmt, ap);
	va_end(ap);
	nftw(path, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

static bool existsf(const char *fmt, ...) _printf_(1, 2);
static bool existsf(const char *fmt, ...)
{
	char path[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(path, sizeof path, fmt, ap);
	va_end(ap);
	return access(path, F_OK) == 0;
}

static void tree_reset(void)
{
	rmf("%s/sys", root);
	rmf("%s/dev", root);
	rmf("%s/etc", root);
	rmf("%s/run", root);
	mkdirs(sys_root);
	mkdirs(dev_root);
	mkdirs(etc_root);
	putf("", "%s/block/sda/device/model", sys_root);   /* a local disk without VPD 0x80 */
	putf("", "%s/block/vda/size", sys_root);
}

/* An sd disk with a VPD page 0x80 as LIO / ONTAP present it: header, serial, NUL padding. */
static void fake_sd(const char *sd, const char *serial)
{
	unsigned char page[64] = { 0x00, 0x80, 0x00, 0x00 };
	size_t n = strlen(serial);
	char path[1024];

	page[3] = (unsigned char)(n + 1);
	memcpy(page + 4, serial, n);
	snprintf(path, sizeof path, "%s/block/%s/device/vpd_pg80", sys_root, sd);
	put_bytes(path, page, 4 + n + 1);
	mkdirs(strcat(strcpy(path, sys_root), "/block/"));
	snprintf(path, sizeof path, "%s/block/%s/holders", sys_root, sd);
	mkdirs(path);
	putf("", "%s/%s", dev_root, sd);
}

/* A dm-multipath map over paths (what multipathd makes), with its /dev/mapper node. */
static void fake_map(const char *dm, const char *name, const char *const *paths)
{
	char text[128];

	snprintf(text, sizeof text, "mpath-%s\n", name);
	putf(text, "%s/block/%s/dm/uuid", sys_root, dm);
	snprintf(text, sizeof text, "%s\n", name);
	putf(text, "%s/block/%s/dm/name", sys_root, dm);
	for (size_t i = 0; paths[i]; i++) {
		putf("", "%s/block/%s/slaves/%s", sys_root, dm, paths[i]);
		putf("", "%s/block/%s/holders/%s", sys_root, paths[i], dm);
	}
	putf("", "%s/mapper/%s", dev_root, name);
}

static void fake_unmap(const char *dm, const char *name)
{
	DIR *d;
	struct dirent *de;
	char path[1024];

	snprintf(path, sizeof path, "%s/block/%s/slaves", sys_root, dm);
	d = opendir(path);
	while (d && (de = readdir(d)))
		if (de->d_name[0] != '.')
			rmf("%s/block/%s/holders/%s", sys_root, de->d_name, dm);
	if (d)
		closedir(d);
	rmf("%s/block/%s", sys_root, dm);
	rmf("%s/mapper/%s", dev_root, name);
}

/* The disk under an iSCSI session, as <sys>/class/iscsi_session/sessionN/device/... shows it. */
static void fake_session_disk(unsigned sid, unsigned host, unsigned lun, const char *sd)
{
	putf("", "%s/class/iscsi_session/session%u/device/target%u:0:0/%u:0:0:%u/block/%s/size", sys_root, sid, host,
	     host, lun, sd);
}

static void fake_nvme_ctrl(const char *ctrl, const char *addr, const char *state)
{
	char text[256];

	putf(NQN "\n", "%s/class/nvme/%s/subsysnqn", sys_root, ctrl);
	putf("tcp\n", "%s/class/nvme/%s/transport", sys_root, ctrl);
	snprintf(text, sizeof text, "traddr=%s,trsvcid=4420,src_addr=10.77.0.11\n", addr);
	putf(text, "%s/class/nvme/%s/address", sys_root, ctrl);
	snprintf(text, sizeof text, "%s\n", state);
	putf(text, "%s/class/nvme/%s/state", sys_root, ctrl);
	putf(NQN "\n", "%s/class/nvme-subsystem/nvme-subsys0/subsysnqn", sys_root);
}

/* A namespace head (native multipath) and its hidden per-path disk with the same uuid. */
static void fake_nvme_ns(const char *ns, const char *hidden, const char *uuid, bool wwid_only)
{
	char text[128];

	snprintf(text, sizeof text, "%s\n", uuid);
	if (!wwid_only)
		putf(text, "%s/block/%s/uuid", sys_root, ns);
	snprintf(text, sizeof text, "uuid.%s\n", uuid);
	putf(text, "%s/block/%s/wwid", sys_root, ns);
	putf(NQN "\n", "%s/block/%s/device/subsysnqn", sys_root, ns);
	mkdirs(strcat(strcpy((char[1024]){ 0 }, sys_root), "/block"));
	putf("", "%s/%s", dev_root, ns);
	if (hidden) {
		snprintf(text, sizeof text, "%s\n", uuid);
		putf(text, "%s/block/%s/uuid", sys_root, hidden);
		putf(NQN "\n", "%s/block/%s/device/subsysnqn", sys_root, hidden);
	}
}

/* ---- the loop, the runner, the effects ----------------------------------------------------------- */

static sd_event *ev;
static struct runner *runner;
static struct worker_pool *workers;
static struct host_ctx ctx;
static char logbuf[65536];
static size_t loglen;

static void collect_log(void *userdata, int level, const char *text)
{
	size_t n = strlen(text);

	if (loglen + n + 2 < sizeof logbuf) {
		memcpy(logbuf + loglen, text, n);
		loglen += n;
		logbuf[loglen++] = '\n';
		logbuf[loglen] = '\0';
	}
	if (getenv("HOST_TEST_VERBOSE"))
		printf("# log %d: %s\n", level, text);
}

static char *fixture(const char *name)
{
	char path[1024];
	FILE *f;
	char *text;
	long n;

	snprintf(path, sizeof path, "%s/%s", HOST_FIXTURES, name);
	f = fopen(path, "r");
	if (!f) {
		fprintf(stderr, "missing fixture %s\n", path);
		exit(2);
	}
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	rewind(f);
	text = calloc(1, (size_t)n + 1);
	if (fread(text, 1, (size_t)n, f) != (size_t)n)
		exit(2);
	fclose(f);
	return text;
}

/* Canned result: exit status, stdout / stderr fixtures (NULL: empty), uses (0: unlimited). */
static void can(const char *const *argv, int exit_code, const char *out_fixture, const char *err_fixture, unsigned uses)
{
	_cleanup_free_ char *out = out_fixture ? fixture(out_fixture) : NULL;
	_cleanup_free_ char *err = err_fixture ? fixture(err_fixture) : NULL;
	int k = runner_capture_add(runner, argv, &(struct runner_canned){
		.exit_code = exit_code, .out = out, .err = err, .uses = uses });

	if (k < 0) {
		fprintf(stderr, "runner_capture_add: %s\n", strerror(-k));
		exit(2);
	}
}

#define ARGV(...) ((const char *const[]){ __VA_ARGS__, NULL })

/* What the host does when a command has "run". */
struct effect {
	const char *const *prefix;
	void (*fn)(const struct runner_call *c);
};

static const struct effect *effects;
static size_t n_effects, seen_calls;

static bool prefix_matches(const char *const *prefix, char *const *argv)
{
	for (size_t i = 0; prefix[i]; i++)
		if (!argv[i] || strcmp(prefix[i], argv[i]) != 0)
			return false;
	return true;
}

static void apply_effects(void)
{
	size_t n = runner_capture_count(runner);

	for (; seen_calls < n; seen_calls++) {
		const struct runner_call *c = runner_capture_call(runner, seen_calls);

		for (size_t i = 0; i < n_effects; i++)
			if (prefix_matches(effects[i].prefix, c->argv))
				effects[i].fn(c);
	}
}

struct outcome {
	bool called;
	unsigned calls;
	int r;
	char detail[4096];
	uint64_t usec;
};

static void on_done(void *userdata, int r, const char *detail)
{
	struct outcome *o = userdata;

	o->calls++;
	o->called = true;
	o->r = r;
	snprintf(o->detail, sizeof o->detail, "%s", detail ? detail : "(null)");
	if (getenv("HOST_TEST_VERBOSE"))
		printf("# done %d: %s\n", r, o->detail);
}

static uint64_t now_usec(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * USEC_PER_SEC + (uint64_t)ts.tv_nsec / 1000;
}

typedef int (*hook_fn)(struct host_ctx *, const struct host_target *, host_done_fn, void *);

/* Starts a hook and runs the loop until done (or 10 s): the outcome, and the recorded argv. */
static int run_hook(hook_fn hook, const struct host_target *t, const struct effect *fx, size_t n_fx,
		    struct outcome *o, char **argv_text)
{
	uint64_t start = now_usec();
	int k;

	*o = (struct outcome){ 0 };
	runner_capture_reset(runner);
	seen_calls = 0;
	effects = fx;
	n_effects = n_fx;
	loglen = 0;
	logbuf[0] = '\0';
	k = hook(&ctx, t, on_done, o);
	if (k < 0)
		return k;
	CHECK(!o->called, "done was called from inside the hook");
	while (!o->called && now_usec() - start < 10 * USEC_PER_SEC) {
		apply_effects();
		sd_event_run(ev, 20 * USEC_PER_MSEC);
	}
	apply_effects();
	o->usec = now_usec() - start;
	/* exactly once: nothing more comes */
	for (int i = 0; i < 5; i++)
		sd_event_run(ev, 1000);
	CHECK(o->calls == 1, "done called %u times", o->calls);
	if (argv_text) {
		free(*argv_text);   /* the previous run's text (callers start with NULL) */
		*argv_text = NULL;
		runner_capture_format(runner, argv_text);
	}
	return 0;
}

static void check_seq(const char *got, const char *want, const char *what)
{
	CHECK(got && strcmp(got, want) == 0, "%s: argv sequence\n--- got:\n%s--- want:\n%s", what, got ? got : "(null)",
	      want);
}

/* A fresh capture runner for each test (canned entries do not carry over). */
static void fresh_runner(void)
{
	runner_free(runner);
	if (runner_new_capture(ev, &(struct runner_config){ .log = collect_log }, &runner) < 0)
		exit(2);
	ctx.runner = runner;
}

/* ---- iSCSI ---------------------------------------------------------------------------------------- */

static const char *const portals2[] = { P1, P2 };

static struct host_target iscsi_target(void)
{
	return (struct host_target){
		.datastore = "ds1", .protocol = DS_PROTO_ISCSI, .lun_serial = SERIAL, .target_iqn = IQN,
		.portals = portals2, .n_portals = 2,
	};
}

/* login through P1 makes sdb (host 2, session 1), through P2 sdc (host 3, session 2); multipathd
 * then assembles the map once both are there. */
static bool multipathd_running = true;
static const char *lun_serial_now = SERIAL;

static void multipathd(void)
{
	if (multipathd_running && existsf("%s/block/sdb", sys_root) && existsf("%s/block/sdc", sys_root) &&
	    !existsf("%s/block/dm-0", sys_root))
		fake_map("dm-0", WWID, ARGV("sdb", "sdc"));
}

static void appear(bool p1)
{
	fake_sd(p1 ? "sdb" : "sdc", lun_serial_now);
	fake_session_disk(p1 ? 1 : 2, p1 ? 2 : 3, 1, p1 ? "sdb" : "sdc");
	multipathd();
}

static void fx_login(const struct runner_call *c)
{
	appear(strcmp(c->argv[6], P1) == 0);
}

static void fx_login_p1(const struct runner_call *c)
{
	appear(true);
}

static void fx_login_p2(const struct runner_call *c)
{
	appear(false);
}

static void fx_logout(const struct runner_call *c)
{
	bool p1 = strcmp(c->argv[6], P1) == 0;

	rmf("%s/block/%s", sys_root, p1 ? "sdb" : "sdc");
	rmf("%s/%s", dev_root, p1 ? "sdb" : "sdc");
	rmf("%s/class/iscsi_session/session%u", sys_root, p1 ? 1 : 2);
}

static void fx_flush(const struct runner_call *c)
{
	fake_unmap("dm-0", WWID);
}

static void fx_delete(const struct runner_call *c)
{
	/* "tee <sys>/block/sdX/device/delete" */
	char name[32] = "";
	const char *p = c->argv[1] + strlen(sys_root) + strlen("/block/");

	snprintf(name, sizeof name, "%.*s", (int)strcspn(p, "/"), p);
	CHECK(strcmp(c->stdin_data, "1\n") == 0, "delete wrote '%s'", c->stdin_data);
	rmf("%s/block/%s", sys_root, name);
	rmf("%s/%s", dev_root, name);
}

static void fx_static_record(const struct runner_call *c)
{
	_cleanup_free_ char *rec = fixture("node-record-file");
	bool p1 = strcmp(c->argv[8], P1) == 0;

	putf(rec, "%s/iscsi/nodes/%s/%s,3260,-1/default", etc_root, IQN, p1 ? "10.77.0.10" : "10.77.0.20");
}

static const struct effect iscsi_effects[] = {
	{ (const char *const[]){ "iscsiadm", "-m", "node", "-T", IQN, "-p", P1, "--login", NULL }, fx_login },
	{ (const char *const[]){ "iscsiadm", "-m", "node", "-T", IQN, "-p", P2, "--login", NULL }, fx_login },
	{ (const char *const[]){ "iscsiadm", "-m", "node", "-T", IQN, "-p", P1, "--logout", NULL }, fx_logout },
	{ (const char *const[]){ "iscsiadm", "-m", "node", "-T", IQN, "-p", P2, "--logout", NULL }, fx_logout },
	{ (const char *const[]){ "multipath", "-f", WWID, NULL }, fx_flush },
	{ (const char *const[]){ "tee", NULL }, fx_delete },
	{ (const char *const[]){ "iscsiadm", "-m", "node", "-o", "new", NULL }, fx_static_record },
};

#define SHOW(p) ARGV("iscsiadm", "-m", "node", "-T", IQN, "-p", p)
#define SEQ_SHOW(p) "iscsiadm -m node -T " IQN " -p " p "\n"

static void test_iscsi_attach_from_nothing(void)
{
	struct host_target t = iscsi_target();
	struct outcome o;
	_cleanup_free_ char *seq = NULL;

	tree_reset();
	fresh_runner();
	can(ARGV("iscsiadm", "-m", "session"), 21, NULL, "iscsiadm-session-none.err", 0);
	can(SHOW(P1), 21, NULL, "iscsiadm-node-none.err", 1);          /* before discovery */
	can(SHOW(P1), 0, "iscsiadm-node-manual.out", NULL, 0);
	can(SHOW(P2), 0, "iscsiadm-node-manual.out", NULL, 0);         /* discovery via P1 made it */
	can(ARGV("iscsiadm", "-m", "discovery"), 0, "iscsiadm-discovery.out", NULL, 0);
	can(ARGV("iscsiadm", "-m", "node", "-T", IQN, "-p", P1, "-o", "update"), 0, NULL, NULL, 0);
	can(ARGV("iscsiadm", "-m", "node", "-T", IQN, "-p", P2, "-o", "update"), 0, NULL, NULL, 0);
	can(ARGV("iscsiadm", "-m", "node", "-T", IQN, "-p", P1, "--login"), 0, "iscsiadm-login.out", NULL, 0);
	can(ARGV("iscsiadm", "-m", "node", "-T", IQN, "-p", P2, "--login"), 0, "iscsiadm-login.out", NULL, 0);

	CHECK(run_hook(host_attach_iscsi.attach, &t, iscsi_effects, ARRAY_SIZE(iscsi_effects), &o, &seq) == 0, "started");
	CHECK(o.r == 0, "attach: %d %s", o.r, o.detail);
	CHECK(strcmp(o.detail, strcat(strcpy((char[512]){ 0 }, dev_root), "/mapper/" WWID)) == 0, "device %s", o.detail);
	check_seq(seq,
		  "iscsiadm -m session\n"
		  SEQ_SHOW(P1)
		  "iscsiadm -m discovery -t sendtargets -p " P1 " -o new\n"
		  SEQ_SHOW(P1)
		  "iscsiadm -m node -T " IQN " -p " P1 " -o update -n node.startup -v automatic\n"
		  "iscsiadm -m node -T " IQN " -p " P1 " --login\n"
		  SEQ_SHOW(P2)
		  "iscsiadm -m node -T " IQN " -p " P2 " -o update -n node.startup -v automatic\n"
		  "iscsiadm -m node -T " IQN " -p " P2 " --login\n",
		  "attach from nothing");
	CHECK(runner_capture_unmatched(runner) == 0, "unmatched commands");
	/* every tool ran with its deadline and LC_ALL=C */
	for (size_t i = 0; i < runner_capture_count(runner); i++) {
		const struct runner_call *c = runner_capture_call(runner, i);

		CHECK(c->timeout_usec == STEP_USEC, "deadline %llu", (unsigned long long)c->timeout_usec);
		CHECK(c->env[0] && strcmp(c->env[0], "LC_ALL=C") == 0, "env");
	}
}

static void test_iscsi_attach_already_attached(void)
{
	struct host_target t = iscsi_target();
	struct outcome o;
	_cleanup_free_ char *seq = NULL;

	/* the state test_iscsi_attach_from_nothing left: sessions, map */
	fresh_runner();
	can(ARGV("iscsiadm", "-m", "session"), 0, "iscsiadm-session.out", NULL, 0);
	can(SHOW(P1), 0, "iscsiadm-node-automatic.out", NULL, 0);
	can(SHOW(P2), 0, "iscsiadm-node-automatic.out", NULL, 0);
	CHECK(run_hook(host_attach_iscsi.attach, &t, iscsi_effects, ARRAY_SIZE(iscsi_effects), &o, &seq) == 0, "started");
	CHECK(o.r == 0 && strstr(o.detail, "/mapper/" WWID), "attach again: %d %s", o.r, o.detail);
	check_seq(seq, "iscsiadm -m session\n" SEQ_SHOW(P1) SEQ_SHOW(P2), "already attached: no login, no discovery");
	CHECK(runner_capture_unmatched(runner) == 0, "unmatched commands");

	/* probe agrees, and runs no tool */
	CHECK(run_hook(host_attach_iscsi.probe, &t, NULL, 0, &o, &seq) == 0, "probe started");
	CHECK(o.r == 0 && strstr(o.detail, "/mapper/" WWID), "probe: %d %s", o.r, o.detail);
	CHECK(runner_capture_count(runner) == 0, "probe ran tools");
}

static void test_iscsi_detach(void)
{
	struct host_target t = iscsi_target();
	struct outcome o;
	_cleanup_free_ char *seq = NULL, *seq2 = NULL;

	/* attached (from the tests above): flush, log out of both, delete both records */
	/* attached (from the tests above), plus a session through a LIF no longer in the list (sid 3,
	 * no disk of ours there): flush, log out of all three, delete the target's records */
	fresh_runner();
	can(ARGV("iscsiadm", "-m", "session"), 0, "iscsiadm-session-three.out", NULL, 1);
	can(ARGV("iscsiadm", "-m", "session"), 21, NULL, "iscsiadm-session-none.err", 0);
	can(ARGV("multipath", "-f", WWID), 0, NULL, NULL, 0);
	can(ARGV("iscsiadm", "-m", "node", "-T", IQN, "-p", P1, "--logout"), 0, "iscsiadm-logout.out", NULL, 0);
	can(ARGV("iscsiadm", "-m", "node", "-T", IQN, "-p", P2, "--logout"), 0, "iscsiadm-logout.out", NULL, 0);
	can(ARGV("iscsiadm", "-m", "session", "-r", "3", "--logout"), 0, "iscsiadm-logout-sid.out", NULL, 0);
	can(ARGV("iscsiadm", "-m", "node", "-T", IQN, "-o", "delete"), 0, NULL, NULL, 1);
	can(ARGV("iscsiadm", "-m", "node", "-T", IQN, "-o", "delete"), 21, NULL, "iscsiadm-node-none.err", 0);
	CHECK(existsf("%s/block/dm-0", sys_root), "precondition: attached");
	CHECK(run_hook(host_attach_iscsi.detach, &t, iscsi_effects, ARRAY_SIZE(iscsi_effects), &o, &seq) == 0, "started");
	CHECK(o.r == 0 && strcmp(o.detail, "detached") == 0, "detach: %d %s", o.r, o.detail);
	check_seq(seq,
		  "iscsiadm -m session\n"
		  "multipath -f " WWID "\n"
		  "iscsiadm -m node -T " IQN " -p " P1 " --logout\n"
		  "iscsiadm -m node -T " IQN " -p " P2 " --logout\n"
		  "iscsiadm -m session -r 3 --logout\n"
		  "iscsiadm -m node -T " IQN " -o delete\n",
		  "detach");
	CHECK(!existsf("%s/block/sdb", sys_root) && !existsf("%s/block/dm-0", sys_root), "gone");

	/* again: nothing there, succeeds; no flush, no logout */
	CHECK(run_hook(host_attach_iscsi.detach, &t, iscsi_effects, ARRAY_SIZE(iscsi_effects), &o, &seq2) == 0, "started");
	CHECK(o.r == 0 && strcmp(o.detail, "not attached") == 0, "detach again: %d %s", o.r, o.detail);
	check_seq(seq2,
		  "iscsiadm -m session\n"
		  "iscsiadm -m node -T " IQN " -o delete\n",
		  "detach idempotent");
	CHECK(runner_capture_unmatched(runner) == 0, "unmatched commands");

	/* probe: not attached */
	CHECK(run_hook(host_attach_iscsi.probe, &t, NULL, 0, &o, NULL) == 0, "probe started");
	CHECK(o.r == -ENOENT && strstr(o.detail, "no SCSI disk carries it"), "probe after detach: %d %s", o.r, o.detail);
}

/* Other datastores' LUNs on the same target: our LUN's paths are deleted, the sessions stay. */
static void test_iscsi_detach_shared_sessions(void)
{
	struct host_target t = iscsi_target();
	struct outcome o;
	_cleanup_free_ char *seq = NULL;

	tree_reset();
	fake_sd("sdb", SERIAL);
	fake_sd("sdc", SERIAL);
	fake_map("dm-0", WWID, ARGV("sdb", "sdc"));
	fake_session_disk(1, 2, 1, "sdb");
	fake_session_disk(2, 3, 1, "sdc");
	fake_sd("sdd", "80D3A+LXmTbD");            /* another datastore's LUN 2 on both sessions */
	fake_sd("sde", "80D3A+LXmTbD");
	fake_session_disk(1, 2, 2, "sdd");
	fake_session_disk(2, 3, 2, "sde");
	fresh_runner();
	can(ARGV("iscsiadm", "-m", "session"), 0, "iscsiadm-session.out", NULL, 0);
	can(ARGV("multipath", "-f", WWID), 0, NULL, NULL, 0);
	can(ARGV("tee"), 0, NULL, NULL, 0);
	CHECK(run_hook(host_attach_iscsi.detach, &t, iscsi_effects, ARRAY_SIZE(iscsi_effects), &o, &seq) == 0, "started");
	CHECK(o.r == 0 && strstr(o.detail, "stay") && strstr(o.detail, "sdd sde"), "detach shared: %d %s", o.r, o.detail);
	{
		char want[2048];

		snprintf(want, sizeof want,
			 "iscsiadm -m session\n"
			 "multipath -f " WWID "\n"
			 "tee %s/block/sdb/device/delete\n"
			 "tee %s/block/sdc/device/delete\n", sys_root, sys_root);
		check_seq(seq, want, "detach with other LUNs on the sessions");
	}
	CHECK(existsf("%s/block/sdd", sys_root), "the other LUN stays");
	CHECK(runner_capture_unmatched(runner) == 0, "unmatched commands");

	/* a map in use: multipath -f says so, nothing else runs */
	tree_reset();
	fake_sd("sdb", SERIAL);
	fake_map("dm-0", WWID, ARGV("sdb"));
	fake_session_disk(1, 2, 1, "sdb");
	fresh_runner();
	can(ARGV("iscsiadm", "-m", "session"), 0, "iscsiadm-session.out", NULL, 0);
	can(ARGV("multipath", "-f", WWID), 1, NULL, "multipath-flush-inuse.err", 0);
	CHECK(run_hook(host_attach_iscsi.detach, &t, NULL, 0, &o, &seq) == 0, "started");
	CHECK(o.r == -EBUSY && strstr(o.detail, "multipath -f " WWID ": exited with status 1: ") &&
	      strstr(o.detail, "map in use"), "detach in use: %d %s", o.r, o.detail);
	CHECK(runner_capture_count(runner) == 2, "nothing after the failed flush");
}

static void test_iscsi_portal_unreachable(void)
{
	const char *const portals[] = { P1, PX };
	struct host_target t = iscsi_target();
	struct outcome o;
	_cleanup_free_ char *seq = NULL;

	t.portals = portals;
	tree_reset();
	fresh_runner();
	can(ARGV("iscsiadm", "-m", "session"), 21, NULL, "iscsiadm-session-none.err", 0);
	can(SHOW(P1), 21, NULL, "iscsiadm-node-none.err", 1);
	can(SHOW(P1), 0, "iscsiadm-node-automatic.out", NULL, 0);
	can(SHOW(PX), 21, NULL, "iscsiadm-node-none.err", 0);
	can(ARGV("iscsiadm", "-m", "discovery", "-t", "sendtargets", "-p", P1), 0, "iscsiadm-discovery-one.out", NULL, 0);
	can(ARGV("iscsiadm", "-m", "discovery", "-t", "sendtargets", "-p", PX), 4, NULL, "iscsiadm-discovery-refused.err", 0);
	can(ARGV("iscsiadm", "-m", "node", "-T", IQN, "-p", P1, "--login"), 0, "iscsiadm-login.out", NULL, 0);
	CHECK(run_hook(host_attach_iscsi.attach, &t, iscsi_effects, ARRAY_SIZE(iscsi_effects), &o, &seq) == 0, "started");
	CHECK(o.r == -EHOSTUNREACH, "r %d", o.r);
	CHECK(strcmp(o.detail,
		     "iscsiadm -m discovery -t sendtargets -p " PX " -o new: exited with status 4: "
		     "iscsiadm: cannot make connection to 10.77.1.30: Connection refused; "
		     "iscsiadm: connection login retries (reopen_max) 5 exceeded; "
		     "iscsiadm: Could not perform SendTargets discovery: encountered connection failure "
		     "(1 of 2 portals failed)") == 0, "detail: %s", o.detail);
	/* the reachable portal was logged in all the same */
	CHECK(seq && strstr(seq, "-p " P1 " --login\n"), "P1 login: %s", seq);
	CHECK(seq && !strstr(seq, "-p " PX " --login"), "no login through the failed portal: %s", seq);

	/* a login that times out: iscsiadm's words and -ETIMEDOUT */
	tree_reset();
	fresh_runner();
	can(ARGV("iscsiadm", "-m", "session"), 21, NULL, "iscsiadm-session-none.err", 0);
	can(SHOW(P1), 0, "iscsiadm-node-automatic.out", NULL, 0);
	can(SHOW(P2), 0, "iscsiadm-node-automatic.out", NULL, 0);
	can(ARGV("iscsiadm", "-m", "node", "-T", IQN, "-p", P1, "--login"), 0, "iscsiadm-login.out", NULL, 0);
	can(ARGV("iscsiadm", "-m", "node", "-T", IQN, "-p", P2, "--login"), 8, "iscsiadm-login-timeout.out",
	    "iscsiadm-login-timeout.err", 0);
	t = iscsi_target();
	CHECK(run_hook(host_attach_iscsi.attach, &t, iscsi_effects, ARRAY_SIZE(iscsi_effects), &o, NULL) == 0, "started");
	CHECK(o.r == -ETIMEDOUT && strstr(o.detail, "iscsiadm -m node -T " IQN " -p " P2 " --login: exited with status 8: ") &&
	      strstr(o.detail, "initiator reported error (8 - connection timed out)"), "login timeout: %d %s", o.r, o.detail);

	/* CHAP refused by the target: -EACCES and iscsiadm's words */
	tree_reset();
	fresh_runner();
	can(ARGV("iscsiadm", "-m", "session"), 21, NULL, "iscsiadm-session-none.err", 0);
	can(SHOW(P1), 0, "iscsiadm-node-automatic.out", NULL, 0);
	can(SHOW(P2), 0, "iscsiadm-node-automatic.out", NULL, 0);
	can(ARGV("iscsiadm", "-m", "node", "-T", IQN, "-p", P1, "--login"), 24, NULL, "iscsiadm-login-auth.err", 0);
	can(ARGV("iscsiadm", "-m", "node", "-T", IQN, "-p", P2, "--login"), 24, NULL, "iscsiadm-login-auth.err", 0);
	CHECK(run_hook(host_attach_iscsi.attach, &t, NULL, 0, &o, NULL) == 0, "started");
	CHECK(o.r == -EACCES && strstr(o.detail, "exited with status 24: ") &&
	      strstr(o.detail, "iSCSI login failed due to authorization failure") &&
	      strstr(o.detail, "(2 of 2 portals failed)"), "auth failure: %d %s", o.r, o.detail);

	/* a login that hangs (a dead portal, iscsid stuck): killed at the step deadline, -ETIMEDOUT,
	 * the other portal still tried, and the whole attach bounded */
	tree_reset();
	fresh_runner();
	can(ARGV("iscsiadm", "-m", "session"), 21, NULL, "iscsiadm-session-none.err", 0);
	can(SHOW(P1), 0, "iscsiadm-node-automatic.out", NULL, 0);
	can(SHOW(P2), 0, "iscsiadm-node-automatic.out", NULL, 0);
	CHECK(runner_capture_add(runner, ARGV("iscsiadm", "-m", "node", "-T", IQN, "-p", P1, "--login"),
				 &(struct runner_canned){ .mode = RUNNER_CANNED_HANG }) == 0, "canned hang");
	can(ARGV("iscsiadm", "-m", "node", "-T", IQN, "-p", P2, "--login"), 0, "iscsiadm-login.out", NULL, 0);
	CHECK(run_hook(host_attach_iscsi.attach, &t, iscsi_effects, ARRAY_SIZE(iscsi_effects), &o, NULL) == 0, "started");
	CHECK(o.r == -ETIMEDOUT && strstr(o.detail, "-p " P1 " --login: timed out after") &&
	      strstr(o.detail, "(1 of 2 portals failed)"), "hung login: %d %s", o.r, o.detail);
	CHECK(o.usec < 3 * USEC_PER_SEC, "hung login took %llu us", (unsigned long long)o.usec);
	CHECK(runner_capture_count(runner) == 5, "P2 still tried after P1 hung");

	/* iscsid not running: the first step says so */
	fresh_runner();
	can(ARGV("iscsiadm", "-m", "session"), 20, NULL, "iscsiadm-session-noiscsid.err", 0);
	CHECK(run_hook(host_attach_iscsi.attach, &t, NULL, 0, &o, NULL) == 0, "started");
	CHECK(o.r == -ENOTCONN && strstr(o.detail, "iscsiadm -m session: exited with status 20: iscsiadm: can not connect "
					   "to iSCSI daemon (111)!"), "no iscsid: %d %s", o.r, o.detail);
}

static bool secret_anywhere(const char *what_if_found)
{
	bool found = false;

	for (size_t i = 0; i < runner_capture_count(runner); i++) {
		const struct runner_call *c = runner_capture_call(runner, i);

		for (size_t a = 0; c->argv[a]; a++)
			found |= strstr(c->argv[a], SECRET) != NULL;
		for (size_t a = 0; c->env[a]; a++)
			found |= strstr(c->env[a], SECRET) != NULL;
		found |= strstr(c->stdin_data, SECRET) != NULL || strstr(c->what, SECRET) != NULL;
	}
	found |= strstr(logbuf, SECRET) != NULL;
	found |= what_if_found && strstr(what_if_found, SECRET) != NULL;
	return found;
}

static void test_iscsi_chap(void)
{
	struct host_target t = iscsi_target();
	struct outcome o;
	_cleanup_free_ char *seq = NULL;
	char secret_file[512], record[1024];
	struct stat st;

	snprintf(secret_file, sizeof secret_file, "%s/chap-secret", root);
	putf(SECRET "\n", "%s", secret_file);
	chmod(secret_file, 0600);
	t.chap_user = "kvm-node-a";
	t.chap_secret_file = secret_file;

	tree_reset();
	fresh_runner();
	can(ARGV("iscsiadm", "-m", "session"), 21, NULL, "iscsiadm-session-none.err", 0);
	can(SHOW(P1), 21, NULL, "iscsiadm-node-none.err", 1);
	can(SHOW(P1), 0, "iscsiadm-node-manual.out", NULL, 1);      /* the new static record */
	can(SHOW(P1), 0, "iscsiadm-node-chap.out", NULL, 0);        /* after kvmcd wrote CHAP */
	can(SHOW(P2), 21, NULL, "iscsiadm-node-none.err", 1);
	can(SHOW(P2), 0, "iscsiadm-node-manual.out", NULL, 1);
	can(SHOW(P2), 0, "iscsiadm-node-chap.out", NULL, 0);
	can(ARGV("iscsiadm", "-m", "node", "-o", "new"), 0, "iscsiadm-node-new.out", NULL, 0);
	can(ARGV("iscsiadm", "-m", "node", "-T", IQN, "-p", P1, "-o", "update"), 0, NULL, NULL, 0);
	can(ARGV("iscsiadm", "-m", "node", "-T", IQN, "-p", P2, "-o", "update"), 0, NULL, NULL, 0);
	can(ARGV("iscsiadm", "-m", "node", "-T", IQN, "-p", P1, "--login"), 0, "iscsiadm-login.out", NULL, 0);
	can(ARGV("iscsiadm", "-m", "node", "-T", IQN, "-p", P2, "--login"), 0, "iscsiadm-login.out", NULL, 0);
	CHECK(run_hook(host_attach_iscsi.attach, &t, iscsi_effects, ARRAY_SIZE(iscsi_effects), &o, &seq) == 0, "started");
	CHECK(o.r == 0 && strstr(o.detail, "/mapper/" WWID), "CHAP attach: %d %s", o.r, o.detail);
	check_seq(seq,
		  "iscsiadm -m session\n"
		  SEQ_SHOW(P1)
		  "iscsiadm -m node -o new -T " IQN " -p " P1 "\n"
		  SEQ_SHOW(P1)
		  "iscsiadm -m node -T " IQN " -p " P1 " -o update -n node.startup -v automatic\n"
		  SEQ_SHOW(P1)
		  "iscsiadm -m node -T " IQN " -p " P1 " --login\n"
		  SEQ_SHOW(P2)
		  "iscsiadm -m node -o new -T " IQN " -p " P2 "\n"
		  SEQ_SHOW(P2)
		  "iscsiadm -m node -T " IQN " -p " P2 " -o update -n node.startup -v automatic\n"
		  SEQ_SHOW(P2)
		  "iscsiadm -m node -T " IQN " -p " P2 " --login\n",
		  "CHAP attach: no discovery, records made with -o new");
	CHECK(!secret_anywhere(o.detail), "the secret leaked into argv, env, stdin, a log line or the result");
	CHECK(!seq || !strstr(seq, "auth.password"), "a password went through iscsiadm");

	/* the secret is in the record files, which stay 0600, and the lock is released */
	snprintf(record, sizeof record, "%s/iscsi/nodes/%s/10.77.0.10,3260,-1/default", etc_root, IQN);
	{
		FILE *f = fopen(record, "r");
		char buf[16384] = "";

		CHECK(f && fread(buf, 1, sizeof buf - 1, f) > 0, "record file %s", record);
		if (f)
			fclose(f);
		CHECK(strstr(buf, "node.session.auth.authmethod = CHAP\n") && strstr(buf, "node.session.auth.username = kvm-node-a\n") &&
		      strstr(buf, "node.session.auth.password = " SECRET "\n"), "record file content:\n%s", buf);
		CHECK(!strstr(buf, "authmethod = None"), "authmethod replaced");
		/* the added keys sit before "# END RECORD", which stays last */
		CHECK(strstr(buf, "node.session.auth.password = " SECRET "\n# END RECORD\n"), "shape:\n%s", buf);
	}
	CHECK(stat(record, &st) == 0 && (st.st_mode & 07777) == 0600, "record mode %o", st.st_mode & 07777);
	CHECK(!existsf("%s/run/lock/iscsi/lock.write", root), "open-iscsi's lock released");

	/* again: the records hold it already, nothing is written (mtime kept), no re-show */
	{
		struct stat before, after;

		stat(record, &before);
		fresh_runner();
		can(ARGV("iscsiadm", "-m", "session"), 0, "iscsiadm-session.out", NULL, 0);
		can(SHOW(P1), 0, "iscsiadm-node-chap.out", NULL, 0);
		can(SHOW(P2), 0, "iscsiadm-node-chap.out", NULL, 0);
		CHECK(run_hook(host_attach_iscsi.attach, &t, iscsi_effects, ARRAY_SIZE(iscsi_effects), &o, &seq) == 0, "started");
		CHECK(o.r == 0, "CHAP attach again: %d %s", o.r, o.detail);
		CHECK(runner_capture_count(runner) == 3, "CHAP attach again ran %zu commands", runner_capture_count(runner));
		stat(record, &after);
		CHECK(before.st_ino == after.st_ino, "record rewritten although unchanged");
	}

	/* iscsiadm does not see what was written (its database lives elsewhere): refused, not
	 * logged in without CHAP */
	tree_reset();
	fresh_runner();
	can(ARGV("iscsiadm", "-m", "session"), 21, NULL, "iscsiadm-session-none.err", 0);
	can(SHOW(P1), 21, NULL, "iscsiadm-node-none.err", 1);
	can(SHOW(P1), 0, "iscsiadm-node-automatic.out", NULL, 0);
	can(SHOW(P2), 21, NULL, "iscsiadm-node-none.err", 1);
	can(SHOW(P2), 0, "iscsiadm-node-automatic.out", NULL, 0);
	can(ARGV("iscsiadm", "-m", "node", "-o", "new"), 0, "iscsiadm-node-new.out", NULL, 0);
	CHECK(run_hook(host_attach_iscsi.attach, &t, iscsi_effects, ARRAY_SIZE(iscsi_effects), &o, &seq) == 0, "started");
	CHECK(o.r == -EIO && strstr(o.detail, "does not show the CHAP settings") && strstr(o.detail, "authmethod 'None'"),
	      "unseen CHAP: %d %s", o.r, o.detail);
	CHECK(seq && !strstr(seq, "--login"), "logged in without CHAP: %s", seq);
	CHECK(!secret_anywhere(o.detail), "the secret leaked");

	/* a secret file others can read: refused before anything is touched */
	chmod(secret_file, 0644);
	tree_reset();
	fresh_runner();
	can(ARGV("iscsiadm", "-m", "session"), 21, NULL, "iscsiadm-session-none.err", 0);
	CHECK(run_hook(host_attach_iscsi.attach, &t, NULL, 0, &o, &seq) == 0, "started");
	CHECK(o.r == -EPERM && strstr(o.detail, "readable by its owner only") && strstr(o.detail, "mode 0644"),
	      "open secret file: %d %s", o.r, o.detail);
	check_seq(seq, "iscsiadm -m session\n", "nothing but the session probe before the secret check");
	CHECK(!secret_anywhere(o.detail), "the secret leaked");

	/* a secret of two lines is refused without quoting it */
	putf(SECRET "\nsecond line\n", "%s", secret_file);
	chmod(secret_file, 0600);
	fresh_runner();
	can(ARGV("iscsiadm", "-m", "session"), 21, NULL, "iscsiadm-session-none.err", 0);
	CHECK(run_hook(host_attach_iscsi.attach, &t, NULL, 0, &o, NULL) == 0, "started");
	CHECK(o.r == -EINVAL && strstr(o.detail, "more than one line") && !strstr(o.detail, "second"),
	      "two-line secret: %d %s", o.r, o.detail);
}

static void test_iscsi_device_never_shows_up(void)
{
	struct host_target t = iscsi_target();
	struct outcome o;
	_cleanup_free_ char *seq = NULL;
	const struct effect none[] = { { ARGV("nothing-happens"), NULL } };

	tree_reset();
	fresh_runner();
	can(ARGV("iscsiadm", "-m", "session"), 21, NULL, "iscsiadm-session-none.err", 0);
	can(SHOW(P1), 0, "iscsiadm-node-automatic.out", NULL, 0);
	can(SHOW(P2), 0, "iscsiadm-node-automatic.out", NULL, 0);
	can(ARGV("iscsiadm", "-m", "node", "-T", IQN, "-p", P1, "--login"), 0, "iscsiadm-login.out", NULL, 0);
	can(ARGV("iscsiadm", "-m", "node", "-T", IQN, "-p", P2, "--login"), 0, "iscsiadm-login.out", NULL, 0);
	CHECK(run_hook(host_attach_iscsi.attach, &t, none, 0, &o, &seq) == 0, "started");
	CHECK(o.r == -ETIMEDOUT, "r %d (%s)", o.r, o.detail);
	CHECK(strstr(o.detail, "no SCSI disk with serial '" SERIAL "' appeared within 0.6 s"), "detail: %s", o.detail);
	CHECK(o.usec >= 600 * USEC_PER_MSEC && o.usec < 3 * USEC_PER_SEC, "the wait took %llu us",
	      (unsigned long long)o.usec);

	/* paths without a map: multipath is kicked once; when that does not help either, the error
	 * names the paths and what multipath said */
	tree_reset();
	multipathd_running = false;
	fresh_runner();
	can(ARGV("iscsiadm", "-m", "session"), 21, NULL, "iscsiadm-session-none.err", 0);
	can(SHOW(P1), 0, "iscsiadm-node-automatic.out", NULL, 0);
	can(SHOW(P2), 0, "iscsiadm-node-automatic.out", NULL, 0);
	can(ARGV("iscsiadm", "-m", "node", "-T", IQN, "-p", P1, "--login"), 0, "iscsiadm-login.out", NULL, 0);
	can(ARGV("iscsiadm", "-m", "node", "-T", IQN, "-p", P2, "--login"), 0, "iscsiadm-login.out", NULL, 0);
	can(ARGV("multipath", "-a"), 0, "multipath-add.out", NULL, 0);
	can(ARGV("multipath"), 1, NULL, "multipath-blacklisted.err", 0);
	CHECK(run_hook(host_attach_iscsi.attach, &t, iscsi_effects, ARRAY_SIZE(iscsi_effects), &o, &seq) == 0, "started");
	CHECK(o.r == -ETIMEDOUT && strstr(o.detail, "is on sdb sdc, but no multipath map holds it after 0.6 s") &&
	      strstr(o.detail, "multipath " ) && strstr(o.detail, "sdb: blacklisted"), "no map: %d %s", o.r, o.detail);
	{
		char want[2048];

		snprintf(want, sizeof want, "multipath -a %s/sdb\nmultipath %s/sdb\n", dev_root, dev_root);
		CHECK(seq && strstr(seq, want), "multipath kicked once:\n%s", seq);
		CHECK(seq && strstr(seq, want) == strstr(seq, "multipath -a"), "kicked more than once:\n%s", seq);
	}
	multipathd_running = true;
}

static void fx_multipath_create(const struct runner_call *c)
{
	fake_map("dm-0", WWID, ARGV("sdb", "sdc"));
}

static void test_iscsi_multipath_kick(void)
{
	struct host_target t = iscsi_target();
	struct outcome o;
	_cleanup_free_ char *seq = NULL;
	char dev_sdb[1024];
	const struct effect fx[] = {
		iscsi_effects[0], iscsi_effects[1],
		{ (const char *const[]){ "multipath", dev_sdb, NULL }, fx_multipath_create },
	};

	snprintf(dev_sdb, sizeof dev_sdb, "%s/sdb", dev_root);
	tree_reset();
	multipathd_running = false;
	fresh_runner();
	can(ARGV("iscsiadm", "-m", "session"), 21, NULL, "iscsiadm-session-none.err", 0);
	can(SHOW(P1), 0, "iscsiadm-node-automatic.out", NULL, 0);
	can(SHOW(P2), 0, "iscsiadm-node-automatic.out", NULL, 0);
	can(ARGV("iscsiadm", "-m", "node", "-T", IQN, "-p", P1, "--login"), 0, "iscsiadm-login.out", NULL, 0);
	can(ARGV("iscsiadm", "-m", "node", "-T", IQN, "-p", P2, "--login"), 0, "iscsiadm-login.out", NULL, 0);
	can(ARGV("multipath", "-a"), 0, "multipath-add.out", NULL, 0);
	can(ARGV("multipath"), 0, "multipath-create.out", NULL, 0);
	CHECK(run_hook(host_attach_iscsi.attach, &t, fx, ARRAY_SIZE(fx), &o, &seq) == 0, "started");
	CHECK(o.r == 0 && strstr(o.detail, "/mapper/" WWID), "kicked map: %d %s", o.r, o.detail);
	CHECK(seq && strstr(seq, "multipath -a "), "kick ran: %s", seq);
	multipathd_running = true;

	/* a LUN mapped after the sessions were made: the existing sessions are rescanned */
	tree_reset();
	fresh_runner();
	can(ARGV("iscsiadm", "-m", "session"), 0, "iscsiadm-session.out", NULL, 0);
	can(SHOW(P1), 0, "iscsiadm-node-automatic.out", NULL, 0);
	can(SHOW(P2), 0, "iscsiadm-node-automatic.out", NULL, 0);
	can(ARGV("iscsiadm", "-m", "session", "-r"), 0, "iscsiadm-rescan.out", NULL, 0);
	{
		const struct effect rescan_fx[] = {
			{ (const char *const[]){ "iscsiadm", "-m", "session", "-r", "1", "--rescan", NULL }, fx_login_p1 },
			{ (const char *const[]){ "iscsiadm", "-m", "session", "-r", "2", "--rescan", NULL }, fx_login_p2 },
		};

		CHECK(run_hook(host_attach_iscsi.attach, &t, rescan_fx, ARRAY_SIZE(rescan_fx), &o, &seq) == 0, "started");
	}
	CHECK(o.r == 0, "rescan attach: %d %s", o.r, o.detail);
	check_seq(seq,
		  "iscsiadm -m session\n" SEQ_SHOW(P1) SEQ_SHOW(P2)
		  "iscsiadm -m session -r 1 --rescan\n"
		  "iscsiadm -m session -r 2 --rescan\n",
		  "rescan of existing sessions");
}

/* fullstack-fencing.md: LIO builds the WWID from the serial's hex digits only, so
 * "80Ss-?Bd6Ekm" and "80xx-?Bd6Exx" share 3600140580bd6e0000000000000000000. The LUN is found by
 * its serial; a map holding both is never used. */
#define LIO_A "80Ss-?Bd6Ekm"
#define LIO_B "80xx-?Bd6Exx"
#define LIO_WWID "3600140580bd6e0000000000000000000"

static void test_wrong_device_never_picked(void)
{
	struct host_target t = iscsi_target();
	struct outcome o;
	_cleanup_free_ char *seq = NULL;

	/* two maps (as with distinct WWIDs): B is dm-1, whatever the order in sysfs */
	tree_reset();
	fake_sd("sdb", LIO_A);
	fake_sd("sdc", LIO_B);
	fake_sd("sdd", LIO_A);
	fake_sd("sde", LIO_B);
	fake_map("dm-0", LIO_WWID, ARGV("sdb", "sdd"));
	fake_map("dm-1", "3600140580bd6e0000000000000000001", ARGV("sdc", "sde"));
	fresh_runner();
	t.lun_serial = LIO_B;
	CHECK(run_hook(host_attach_iscsi.probe, &t, NULL, 0, &o, NULL) == 0, "started");
	CHECK(o.r == 0 && strstr(o.detail, "/mapper/3600140580bd6e0000000000000000001"), "B: %d %s", o.r, o.detail);
	t.lun_serial = LIO_A;
	CHECK(run_hook(host_attach_iscsi.probe, &t, NULL, 0, &o, NULL) == 0, "started");
	CHECK(o.r == 0 && strstr(o.detail, "/mapper/" LIO_WWID), "A: %d %s", o.r, o.detail);
	/* a serial that only shares hex digits with both is not attached */
	t.lun_serial = "80-Bd6E";
	CHECK(run_hook(host_attach_iscsi.probe, &t, NULL, 0, &o, NULL) == 0, "started");
	CHECK(o.r == -ENOENT, "hex-digit twin: %d %s", o.r, o.detail);

	/* what LIO really does: one map over both LUNs' paths. Refused, named, never flushed. */
	tree_reset();
	fake_sd("sdb", LIO_A);
	fake_sd("sdc", LIO_B);
	fake_map("dm-0", LIO_WWID, ARGV("sdb", "sdc"));
	fresh_runner();
	t.lun_serial = LIO_B;
	CHECK(run_hook(host_attach_iscsi.probe, &t, NULL, 0, &o, NULL) == 0, "started");
	CHECK(o.r == -EEXIST && strstr(o.detail, "also holds sdb, whose serial is '" LIO_A "'") &&
	      strstr(o.detail, "share one WWID"), "collision probe: %d %s", o.r, o.detail);
	can(ARGV("iscsiadm", "-m", "session"), 0, "iscsiadm-session.out", NULL, 0);
	can(SHOW(P1), 0, "iscsiadm-node-automatic.out", NULL, 0);
	can(SHOW(P2), 0, "iscsiadm-node-automatic.out", NULL, 0);
	CHECK(run_hook(host_attach_iscsi.attach, &t, NULL, 0, &o, &seq) == 0, "started");
	CHECK(o.r == -EEXIST && strstr(o.detail, "share one WWID"), "collision attach: %d %s", o.r, o.detail);
	CHECK(o.usec < USEC_PER_SEC, "a conflict is reported at once, not after the wait");
	CHECK(run_hook(host_attach_iscsi.detach, &t, NULL, 0, &o, &seq) == 0, "started");
	CHECK(o.r == -EEXIST, "collision detach: %d %s", o.r, o.detail);
	CHECK(seq && !strstr(seq, "multipath -f"), "the shared map was flushed: %s", seq);
	CHECK(existsf("%s/block/dm-0", sys_root), "map kept");

	/* a path held by something that is not a multipath map (LVM on a raw path) */
	tree_reset();
	fake_sd("sdb", SERIAL);
	putf("LVM-abcdef\n", "%s/block/dm-4/dm/uuid", sys_root);
	putf("", "%s/block/sdb/holders/dm-4", sys_root);
	fresh_runner();
	t.lun_serial = SERIAL;
	CHECK(run_hook(host_attach_iscsi.probe, &t, NULL, 0, &o, NULL) == 0, "started");
	CHECK(o.r == -EEXIST && strstr(o.detail, "sdb is held by dm-4 (dm uuid 'LVM-abcdef'), not by a multipath map"),
	      "foreign holder: %d %s", o.r, o.detail);
}

/* ---- NVMe/TCP ----------------------------------------------------------------------------------- */

#define N1 "10.77.0.10:4420"
#define N2 "10.77.0.20:4420"

static const char *const nvme_portals2[] = { N1, N2 };

static struct host_target nvme_target(void)
{
	return (struct host_target){
		.datastore = "ds2", .protocol = DS_PROTO_NVME_TCP, .subsystem_nqn = NQN, .ns_uuid = NS_UUID,
		.portals = nvme_portals2, .n_portals = 2,
	};
}

static void fx_nvme_connect(const struct runner_call *c)
{
	bool first = strcmp(c->argv[5], "10.77.0.10") == 0;

	fake_nvme_ctrl(first ? "nvme0" : "nvme1", c->argv[5], "live");
	fake_nvme_ns("nvme0n1", first ? "nvme0c0n1" : "nvme0c1n1", NS_UUID_LC, false);
}

static void fx_nvme_disconnect(const struct runner_call *c)
{
	rmf("%s/class/nvme", sys_root);
	rmf("%s/class/nvme-subsystem", sys_root);
	rmf("%s/block/nvme0n1", sys_root);
	rmf("%s/block/nvme0c0n1", sys_root);
	rmf("%s/block/nvme0c1n1", sys_root);
	rmf("%s/nvme0n1", dev_root);
}

static const struct effect nvme_effects[] = {
	{ (const char *const[]){ "nvme", "connect", NULL }, fx_nvme_connect },
	{ (const char *const[]){ "nvme", "disconnect", NULL }, fx_nvme_disconnect },
};

static void test_nvme(void)
{
	struct host_target t = nvme_target();
	struct outcome o;
	_cleanup_free_ char *seq = NULL;
	char want_dev[1024];

	snprintf(want_dev, sizeof want_dev, "%s/nvme0n1", dev_root);

	/* from nothing: connect to both portals; the head nvme0n1 (not the hidden nvme0c0n1) */
	tree_reset();
	putf(NS_UUID_LC "\n", "%s/block/nvme9n1/uuid", sys_root);   /* another subsystem's disk */
	putf("nqn.2014-08.org.example:other\n", "%s/block/nvme9n1/device/subsysnqn", sys_root);
	fresh_runner();
	can(ARGV("nvme", "connect"), 0, NULL, NULL, 0);
	CHECK(run_hook(host_attach_nvme_tcp.attach, &t, nvme_effects, ARRAY_SIZE(nvme_effects), &o, &seq) == 0, "started");
	CHECK(o.r == -EEXIST && strstr(o.detail, "nvme9n1 of subsystem nqn.2014-08.org.example:other"),
	      "uuid under another subsystem: %d %s", o.r, o.detail);
	rmf("%s/block/nvme9n1", sys_root);
	CHECK(run_hook(host_attach_nvme_tcp.attach, &t, nvme_effects, ARRAY_SIZE(nvme_effects), &o, &seq) == 0, "started");
	CHECK(o.r == 0 && strcmp(o.detail, want_dev) == 0, "nvme attach: %d %s", o.r, o.detail);
	check_seq(seq,
		  "nvme connect -t tcp -a 10.77.0.10 -s 4420 -n " NQN "\n"
		  "nvme connect -t tcp -a 10.77.0.20 -s 4420 -n " NQN "\n",
		  "nvme attach from nothing");

	/* again: both controllers live, no connect */
	fresh_runner();
	CHECK(run_hook(host_attach_nvme_tcp.attach, &t, nvme_effects, ARRAY_SIZE(nvme_effects), &o, &seq) == 0, "started");
	CHECK(o.r == 0 && strcmp(o.detail, want_dev) == 0, "nvme attach again: %d %s", o.r, o.detail);
	CHECK(runner_capture_count(runner) == 0, "nvme attach again ran: %s", seq);
	CHECK(run_hook(host_attach_nvme_tcp.probe, &t, NULL, 0, &o, NULL) == 0, "started");
	CHECK(o.r == 0 && strcmp(o.detail, want_dev) == 0, "nvme probe: %d %s", o.r, o.detail);

	/* one controller lost (deleting): only that portal is connected again */
	putf("deleting\n", "%s/class/nvme/nvme1/state", sys_root);
	fresh_runner();
	can(ARGV("nvme", "connect"), 0, NULL, NULL, 0);
	CHECK(run_hook(host_attach_nvme_tcp.attach, &t, nvme_effects, ARRAY_SIZE(nvme_effects), &o, &seq) == 0, "started");
	CHECK(o.r == 0, "nvme reconnect: %d %s", o.r, o.detail);
	check_seq(seq, "nvme connect -t tcp -a 10.77.0.20 -s 4420 -n " NQN "\n", "only the lost portal");

	/* detach: the subsystem carries only this namespace: disconnect; then again: nothing to do */
	fresh_runner();
	can(ARGV("nvme", "disconnect"), 0, "nvme-disconnect.out", NULL, 0);
	CHECK(run_hook(host_attach_nvme_tcp.detach, &t, nvme_effects, ARRAY_SIZE(nvme_effects), &o, &seq) == 0, "started");
	CHECK(o.r == 0 && strcmp(o.detail, "detached") == 0, "nvme detach: %d %s", o.r, o.detail);
	check_seq(seq, "nvme disconnect -n " NQN "\n", "nvme detach");
	CHECK(run_hook(host_attach_nvme_tcp.detach, &t, nvme_effects, ARRAY_SIZE(nvme_effects), &o, &seq) == 0, "started");
	CHECK(o.r == 0 && strcmp(o.detail, "not attached") == 0, "nvme detach again: %d %s", o.r, o.detail);
	CHECK(runner_capture_count(runner) == 0, "nvme detach again ran: %s", seq);

	/* the subsystem also carries another datastore's namespace: no disconnect */
	tree_reset();
	fake_nvme_ctrl("nvme0", "10.77.0.10", "live");
	fake_nvme_ns("nvme0n1", NULL, NS_UUID_LC, false);
	fake_nvme_ns("nvme0n2", NULL, "0e3b7c55-1111-4222-8333-944455556666", false);
	fresh_runner();
	CHECK(run_hook(host_attach_nvme_tcp.detach, &t, nvme_effects, ARRAY_SIZE(nvme_effects), &o, &seq) == 0, "started");
	CHECK(o.r == 0 && strstr(o.detail, "stays connected") && strstr(o.detail, "nvme0n2"), "shared: %d %s", o.r, o.detail);
	CHECK(runner_capture_count(runner) == 0, "disconnected a shared subsystem: %s", seq);

	/* wwid "uuid.<uuid>" alone is enough */
	tree_reset();
	fake_nvme_ctrl("nvme0", "10.77.0.10", "live");
	fake_nvme_ctrl("nvme1", "10.77.0.20", "connecting");
	fake_nvme_ns("nvme0n1", NULL, NS_UUID_LC, true);
	fresh_runner();
	CHECK(run_hook(host_attach_nvme_tcp.attach, &t, nvme_effects, ARRAY_SIZE(nvme_effects), &o, NULL) == 0, "started");
	CHECK(o.r == 0 && strcmp(o.detail, want_dev) == 0, "wwid: %d %s", o.r, o.detail);
	CHECK(runner_capture_count(runner) == 0, "a connecting controller was connected again");

	/* native multipath off: the uuid on two heads is refused */
	putf(NS_UUID_LC "\n", "%s/block/nvme1n1/uuid", sys_root);
	putf(NQN "\n", "%s/block/nvme1n1/device/subsysnqn", sys_root);
	CHECK(run_hook(host_attach_nvme_tcp.probe, &t, NULL, 0, &o, NULL) == 0, "started");
	CHECK(o.r == -EEXIST && strstr(o.detail, "native NVMe multipath is off"), "two heads: %d %s", o.r, o.detail);

	/* a refused portal: nvme-cli's words; the other portal is connected all the same */
	tree_reset();
	fresh_runner();
	can(ARGV("nvme", "connect", "-t", "tcp", "-a", "10.77.0.10"), 0, NULL, NULL, 0);
	can(ARGV("nvme", "connect", "-t", "tcp", "-a", "10.77.0.20"), 1, NULL, "nvme-connect-refused.err", 0);
	CHECK(run_hook(host_attach_nvme_tcp.attach, &t, NULL, 0, &o, &seq) == 0, "started");
	CHECK(o.r == -ECONNREFUSED &&
	      strstr(o.detail, "nvme connect -t tcp -a 10.77.0.20 -s 4420 -n " NQN ": exited with status 1: "
			       "Failed to write to /dev/nvme-fabrics: Connection refused; could not add new controller") &&
	      strstr(o.detail, "(1 of 2 portals failed)"), "refused: %d %s", o.r, o.detail);
	CHECK(runner_capture_count(runner) == 2, "both portals tried");

	/* "already connected" (a race with another connect) counts as connected */
	tree_reset();
	fake_nvme_ns("nvme0n1", NULL, NS_UUID_LC, false);
	fresh_runner();
	can(ARGV("nvme", "connect"), 114, NULL, "nvme-connect-already.err", 0);
	CHECK(run_hook(host_attach_nvme_tcp.attach, &t, NULL, 0, &o, NULL) == 0, "started");
	CHECK(o.r == 0, "already connected: %d %s", o.r, o.detail);

	/* a namespace that never shows up: bounded, names the controllers */
	tree_reset();
	fake_nvme_ctrl("nvme0", "10.77.0.10", "live");
	fake_nvme_ctrl("nvme1", "10.77.0.20", "live");
	fresh_runner();
	can(ARGV("nvme", "ns-rescan"), 0, NULL, NULL, 0);
	CHECK(run_hook(host_attach_nvme_tcp.attach, &t, NULL, 0, &o, &seq) == 0, "started");
	CHECK(o.r == -ETIMEDOUT && strstr(o.detail, "no namespace with uuid " NS_UUID " appeared in subsystem " NQN
					   " within 0.6 s (controllers: nvme0 live 10.77.0.10:4420, nvme1 live "
					   "10.77.0.20:4420)"), "no namespace: %d %s", o.r, o.detail);
	{
		char want[2048];

		snprintf(want, sizeof want, "nvme ns-rescan %s/nvme0\nnvme ns-rescan %s/nvme1\n", dev_root, dev_root);
		check_seq(seq, want, "existing controllers rescanned once");
	}

	/* detach of a namespace in use: refused before disconnecting */
	tree_reset();
	fake_nvme_ctrl("nvme0", "10.77.0.10", "live");
	fake_nvme_ns("nvme0n1", NULL, NS_UUID_LC, false);
	putf("", "%s/block/nvme0n1/holders/dm-7", sys_root);
	fresh_runner();
	CHECK(run_hook(host_attach_nvme_tcp.detach, &t, NULL, 0, &o, NULL) == 0, "started");
	CHECK(o.r == -EBUSY && strstr(o.detail, "in use"), "busy: %d %s", o.r, o.detail);
	CHECK(runner_capture_count(runner) == 0, "disconnected a namespace in use");
}

/* ---- FC ---------------------------------------------------------------------------------------- */

static void fx_fc_scan(const struct runner_call *c)
{
	CHECK(strcmp(c->stdin_data, "- - -\n") == 0, "scan wrote '%s'", c->stdin_data);
	fake_sd("sdb", SERIAL);
	fake_sd("sdc", SERIAL);
	multipathd();
}

static const struct effect fc_effects[] = {
	{ (const char *const[]){ "tee", NULL }, fx_fc_scan },
};

static void test_fc(void)
{
	struct host_target t = { .datastore = "ds3", .protocol = DS_PROTO_FC, .lun_serial = SERIAL };
	struct outcome o;
	_cleanup_free_ char *seq = NULL;
	char want[2048];

	/* no HBA */
	tree_reset();
	fresh_runner();
	CHECK(run_hook(host_attach_fc.attach, &t, fc_effects, ARRAY_SIZE(fc_effects), &o, NULL) == 0, "started");
	CHECK(o.r == -ENODEV && strstr(o.detail, "no Fibre Channel port"), "no HBA: %d %s", o.r, o.detail);

	/* all ports down */
	putf("Linkdown\n", "%s/class/fc_host/host3/port_state", sys_root);
	CHECK(run_hook(host_attach_fc.attach, &t, fc_effects, ARRAY_SIZE(fc_effects), &o, NULL) == 0, "started");
	CHECK(o.r == -ENETDOWN && strstr(o.detail, "host3 Linkdown"), "ports down: %d %s", o.r, o.detail);

	/* host3 online, host4 down: only host3 is scanned */
	putf("Online\n", "%s/class/fc_host/host3/port_state", sys_root);
	putf("Linkdown\n", "%s/class/fc_host/host4/port_state", sys_root);
	fresh_runner();
	can(ARGV("tee"), 0, NULL, NULL, 0);
	CHECK(run_hook(host_attach_fc.attach, &t, fc_effects, ARRAY_SIZE(fc_effects), &o, &seq) == 0, "started");
	CHECK(o.r == 0 && strstr(o.detail, "/mapper/" WWID), "fc attach: %d %s", o.r, o.detail);
	snprintf(want, sizeof want, "tee %s/class/scsi_host/host3/scan\n", sys_root);
	check_seq(seq, want, "fc rescan");

	/* attached: no rescan */
	fresh_runner();
	CHECK(run_hook(host_attach_fc.attach, &t, fc_effects, ARRAY_SIZE(fc_effects), &o, &seq) == 0, "started");
	CHECK(o.r == 0 && runner_capture_count(runner) == 0, "fc attach again: %d %s / %s", o.r, o.detail, seq);

	/* detach: flush, delete both paths; again: nothing */
	fresh_runner();
	can(ARGV("multipath", "-f", WWID), 0, NULL, NULL, 0);
	can(ARGV("tee"), 0, NULL, NULL, 0);
	CHECK(run_hook(host_attach_fc.detach, &t, iscsi_effects, ARRAY_SIZE(iscsi_effects), &o, &seq) == 0, "started");
	CHECK(o.r == 0 && strcmp(o.detail, "detached") == 0, "fc detach: %d %s", o.r, o.detail);
	snprintf(want, sizeof want, "multipath -f " WWID "\ntee %s/block/sdb/device/delete\ntee %s/block/sdc/device/delete\n",
		 sys_root, sys_root);
	check_seq(seq, want, "fc detach");
	CHECK(run_hook(host_attach_fc.detach, &t, iscsi_effects, ARRAY_SIZE(iscsi_effects), &o, &seq) == 0, "started");
	CHECK(o.r == 0 && strcmp(o.detail, "not attached") == 0 && runner_capture_count(runner) == 0,
	      "fc detach again: %d %s", o.r, o.detail);
}

/* ---- refused targets ----------------------------------------------------------------------------- */

static void test_refused_targets(void)
{
	struct host_target t = iscsi_target();
	const char *const evil[] = { "-o delete" };
	const char *const hostname[] = { "ontap-lif1.example.com:3260" };
	struct outcome o = { 0 };

	fresh_runner();
	t.portals = evil;
	t.n_portals = 1;
	CHECK(host_attach_iscsi.attach(&ctx, &t, on_done, &o) == -EINVAL, "a portal that is an option");
	t.portals = hostname;
	CHECK(host_attach_iscsi.attach(&ctx, &t, on_done, &o) == -EINVAL, "a host name portal");
	t = iscsi_target();
	t.target_iqn = "-T";
	CHECK(host_attach_iscsi.attach(&ctx, &t, on_done, &o) == -EINVAL, "bad IQN");
	t = iscsi_target();
	t.lun_serial = "with space";
	CHECK(host_attach_iscsi.probe(&ctx, &t, on_done, &o) == -EINVAL, "bad serial");
	t = iscsi_target();
	t.chap_user = "u";
	t.chap_secret_file = "relative";
	CHECK(host_attach_iscsi.attach(&ctx, &t, on_done, &o) == -EINVAL, "relative secret file");
	t = nvme_target();
	t.ns_uuid = "not-a-uuid";
	CHECK(host_attach_nvme_tcp.attach(&ctx, &t, on_done, &o) == -EINVAL, "bad uuid");
	CHECK(runner_capture_count(runner) == 0 && !o.called, "nothing ran, no callback");
}

/* ---- parsers ------------------------------------------------------------------------------------- */

static void test_parsers(void)
{
	char out[256], a[64], b[16];
	unsigned port;
	_cleanup_free_ char *sessions_text = fixture("iscsiadm-session.out");
	_cleanup_free_ struct iscsi_session_info *s = NULL;
	_cleanup_free_ char *rec = fixture("iscsiadm-node-chap.out");
	size_t n;

	/* VPD 0x80 */
	CHECK(blockdev_vpd80_serial("\x00\x80\x00\x0d" "80Ss-?Bd6Ekm\0", 17, out, sizeof out) == 0 &&
	      strcmp(out, "80Ss-?Bd6Ekm") == 0, "vpd LIO: %s", out);
	CHECK(blockdev_vpd80_serial("\x00\x80\x00\x10" "  80D3A+LXmTbC  ", 20, out, sizeof out) == 0 &&
	      strcmp(out, "80D3A+LXmTbC") == 0, "vpd padded: %s", out);
	CHECK(blockdev_vpd80_serial("\x00\x83\x00\x04" "abcd", 8, out, sizeof out) == -EBADMSG, "page 0x83 refused");
	CHECK(blockdev_vpd80_serial("\x00\x80\x00\x20" "short", 9, out, sizeof out) == -EBADMSG, "truncated refused");
	CHECK(blockdev_vpd80_serial("\x00\x80\x00\x04" "\0\0\0\0", 8, out, sizeof out) == -EBADMSG, "empty refused");
	CHECK(blockdev_vpd80_serial("\x00\x80\x00\x04" "ab\ncd", 8, out, sizeof out) == -EBADMSG, "control byte refused");
	CHECK(blockdev_vpd80_serial("\x00\x80\x00\x04" "abcd", 8, out, 4) == -ENOBUFS, "small buffer");

	/* sessions */
	CHECK(iscsi_parse_sessions(sessions_text, strlen(sessions_text), &s, &n) == 0 && n == 3, "sessions: %zu", n);
	CHECK(n == 3 && s[0].sid == 1 && strcmp(s[0].addr, "10.77.0.10") == 0 && s[0].port == 3260 && s[0].tpgt == 1030 &&
	      strcmp(s[0].target, IQN) == 0 && strcmp(s[0].transport, "tcp") == 0, "session 1");
	free(s);
	s = NULL;
	{
		const char *v6 = "tcp: [12] [fd00:77::10]:3260,-1 iqn.2024-01.test.fsvm:target (non-flash)\n"
				 "iser: [3] 10.1.1.1:3261,7 iqn.x:y\ngarbage line\ntcp: [x] 1.2.3.4:3260,1 iqn.z\n";

		CHECK(iscsi_parse_sessions(v6, strlen(v6), &s, &n) == 0 && n == 2, "v6 sessions: %zu", n);
		CHECK(n == 2 && s[0].sid == 12 && strcmp(s[0].addr, "fd00:77::10") == 0 && s[0].tpgt == -1 &&
		      s[1].port == 3261 && strcmp(s[1].transport, "iser") == 0, "v6 session");
	}

	/* records */
	CHECK(iscsi_record_value(rec, strlen(rec), "node.session.auth.password", out, sizeof out) == 0 &&
	      strcmp(out, "********") == 0, "password masked: %s", out);
	CHECK(iscsi_record_value(rec, strlen(rec), "node.session.auth.username_in", out, sizeof out) == 0 &&
	      strcmp(out, "") == 0, "<empty> is empty: %s", out);
	CHECK(iscsi_record_value(rec, strlen(rec), "node.startup", out, sizeof out) == 0 && strcmp(out, "automatic") == 0,
	      "startup");
	CHECK(iscsi_record_value(rec, strlen(rec), "node.start", out, sizeof out) == -ENOENT, "prefix is not a key");
	{
		bool changed;
		size_t len;
		const char *old = "node.name = x\n  node.session.auth.authmethod = None\nnode.session.auth.username = old\n"
				  "node.session.auth.username = dup\n# END RECORD\n";
		_cleanup_free_ char *set = iscsi_record_set_chap(old, strlen(old), "u1", "pw pw", &len, &changed);

		CHECK(set && changed && len == strlen(set) && strcmp(set, "node.name = x\nnode.session.auth.authmethod = CHAP\n"
					       "node.session.auth.username = u1\nnode.session.auth.password = pw pw\n"
					       "# END RECORD\n") == 0, "set_chap:\n%s", set);
		_cleanup_free_ char *again = iscsi_record_set_chap(set, len, "u1", "pw pw", &len, &changed);
		CHECK(again && !changed, "set_chap is idempotent");
	}

	/* tool messages */
	{
		const char *err = "  a: one  \n\na: one\nb\n\x01z\n";
		_cleanup_free_ char *m = blockdev_tool_message("out", 3, err, strlen(err));
		_cleanup_free_ char *m2 = blockdev_tool_message("only stdout\n", 12, "", 0);

		CHECK(m && strcmp(m, "a: one; b; ?z") == 0, "message: '%s'", m);
		CHECK(m2 && strcmp(m2, "only stdout") == 0, "stdout when no stderr: '%s'", m2);
	}

	/* portals */
	CHECK(blockdev_portal_parse("10.0.0.5", 3260, a, sizeof a, &port) == 0 && strcmp(a, "10.0.0.5") == 0 && port == 3260,
	      "portal default port");
	CHECK(blockdev_portal_parse("[fd00::5]:4420", 3260, a, sizeof a, &port) == 0 && strcmp(a, "fd00::5") == 0 &&
	      port == 4420, "v6 portal");
	CHECK(blockdev_portal_parse("fd00::5", 3260, a, sizeof a, &port) == 0 && port == 3260, "bare v6");
	CHECK(blockdev_portal_parse("10.0.0.5:0", 3260, a, sizeof a, &port) == -EINVAL, "port 0");
	CHECK(blockdev_portal_parse("10.0.0.5:99999", 3260, a, sizeof a, &port) == -EINVAL, "port range");
	CHECK(blockdev_portal_parse("--login", 3260, a, sizeof a, &port) == -EINVAL, "option");
	CHECK(blockdev_addr_equal("fd00:0::5", "FD00::5") && !blockdev_addr_equal("10.0.0.5", "10.0.0.50"), "addr equal");

	/* nvme address */
	CHECK(nvme_parse_address("traddr=10.77.0.10,trsvcid=4420,src_addr=10.77.0.11\n", 49, a, sizeof a, b, sizeof b) == 0 &&
	      strcmp(a, "10.77.0.10") == 0 && strcmp(b, "4420") == 0, "nvme address");
	CHECK(nvme_parse_address("traddr=10.77.0.10", 17, a, sizeof a, b, sizeof b) == -EBADMSG, "no trsvcid");
}

int main(void)
{
	char tmpl[] = "/tmp/test-host-attach-XXXXXX";

	if (!mkdtemp(tmpl))
		return 2;
	snprintf(root, sizeof root, "%s", tmpl);
	snprintf(sys_root, sizeof sys_root, "%s/sys", root);
	snprintf(dev_root, sizeof dev_root, "%s/dev", root);
	snprintf(etc_root, sizeof etc_root, "%s/etc", root);
	if (sd_event_default(&ev) < 0 || worker_pool_new(ev, 2, &workers) < 0)
		return 2;
	ctx = (struct host_ctx){
		.event = ev, .workers = workers, .sys_root = sys_root, .dev_root = dev_root, .etc_root = etc_root,
		.run_dir = root, .node_name = "kvm-node-a", .step_timeout_usec = STEP_USEC,
		.log = collect_log,
	};
	fresh_runner();

	test_parsers();
	test_refused_targets();
	test_iscsi_attach_from_nothing();
	test_iscsi_attach_already_attached();
	test_iscsi_detach();
	test_iscsi_detach_shared_sessions();
	test_iscsi_portal_unreachable();
	test_iscsi_chap();
	test_iscsi_device_never_shows_up();
	test_iscsi_multipath_kick();
	test_wrong_device_never_picked();
	test_nvme();
	test_fc();

	runner_free(runner);
	worker_pool_free(workers);
	sd_event_unref(ev);
	rmf("%s", root);
	return tap_done("test-host-attach");
}
