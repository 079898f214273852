/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The simulated host backend (resources/host/sim.c) end to end against a real ontap-sim with
 * backing files: two simulated nodes with their own identities; LUNs, namespaces and exports made
 * through the REST API as the leader would; attach only while mapped, a storage fence (unmap,
 * host removed, export rule changed) visible to probe at once, the simulated cluster file system
 * (mkfs refusals, mount / umount idempotent, what one node writes the other sees), symlink mounts
 * always and bind mounts when root can make a private mount namespace; transport errors (nothing
 * listening, a wrong CA, a simulator that never answers); the same asks over the simulator's access
 * socket (--access-socket), with no curl at all. Exit 77 without the simulator or curl.
 * About 10 s.
 */
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <netinet/in.h>
#include <time.h>
#include <unistd.h>

#include "fs-common.h"
#include "host.h"
#include "inventory.h"
#include "ontap-test-util.h"
#include "runner.h"
#include "sim.h"
#include "tap.h"
#include "worker.h"

static struct sim S;
static sd_event *ev;
static struct runner *runner;
static struct worker_pool *pool;
static char base[128];

/* ---------------------------------------------------------------- files */

static void sh(const char *fmt, ...) _printf_(1, 2);
static void sh(const char *fmt, ...)
{
	char cmd[2048];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	if (system(cmd) != 0) {
		fprintf(stderr, "failed: %s\n", cmd);
		exit(1);
	}
}

static void put(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	if (!f) {
		perror(path);
		exit(1);
	}
	fputs(text, f);
	fclose(f);
}

static bool exists(const char *path)
{
	struct stat st;

	return lstat(path, &st) == 0;
}

/* ---------------------------------------------------------------- REST setup (as the leader) */

static size_t collect_body(char *p, size_t sz, size_t n, void *ud)
{
	char **buf = ud;
	size_t old = *buf ? strlen(*buf) : 0;
	char *nb = realloc(*buf, old + sz * n + 1);

	if (!nb)
		return 0;
	memcpy(nb + old, p, sz * n);
	nb[old + sz * n] = '\0';
	*buf = nb;
	return sz * n;
}

/* One blocking /api call; returns the HTTP status and the body (owned, may be NULL). */
static long api(const char *method, const char *path, const char *body, json_t **out)
{
	CURL *e = curl_easy_init();
	struct curl_slist *h = curl_slist_append(NULL, "Content-Type: application/json");
	_cleanup_free_ char *buf = NULL;
	char url[512];
	long status = 0;

	snprintf(url, sizeof(url), "https://%s%s", S.address, path);
	curl_easy_setopt(e, CURLOPT_URL, url);
	curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, method);
	curl_easy_setopt(e, CURLOPT_HTTPHEADER, h);
	curl_easy_setopt(e, CURLOPT_CAINFO, S.cert);
	curl_easy_setopt(e, CURLOPT_USERPWD, "admin:netapp1!");
	curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, collect_body);
	curl_easy_setopt(e, CURLOPT_WRITEDATA, &buf);
	if (body)
		curl_easy_setopt(e, CURLOPT_POSTFIELDS, body);
	if (curl_easy_perform(e) == CURLE_OK)
		curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &status);
	curl_slist_free_all(h);
	curl_easy_cleanup(e);
	if (out)
		*out = buf ? json_loads(buf, 0, NULL) : NULL;
	if (status >= 300)
		fprintf(stderr, "  %s %s: HTTP %ld %s\n", method, path, status, buf ? buf : "");
	return status;
}

/* A mutation; waits for its job when the answer is one. Returns true on success. */
static bool api_do(const char *method, const char *path, const char *body)
{
	json_auto_t *out = NULL;
	long st = api(method, path, body, &out);
	const char *job = json_string_value(json_object_get(json_object_get(out, "job"), "uuid"));

	if (st < 200 || st >= 300)
		return false;
	for (int i = 0; job && i < 200; i++) {
		json_auto_t *j = NULL;
		char p[256];
		const char *state;

		snprintf(p, sizeof(p), "/api/cluster/jobs/%s", job);
		api("GET", p, NULL, &j);
		state = json_string_value(json_object_get(j, "state"));
		if (state && strcmp(state, "success") == 0)
			return true;
		if (state && strcmp(state, "failure") == 0)
			return false;
		usleep(20000);
	}
	return !job;
}

/* The first record of a collection GET (fields=...), owned; NULL when none. */
static json_t *api_first(const char *path)
{
	json_auto_t *out = NULL;
	json_t *r;

	api("GET", path, NULL, &out);
	r = json_array_get(json_object_get(out, "records"), 0);
	return r ? json_incref(r) : NULL;
}

static bool make_volume(const char *name, const char *junction, const char *policy)
{
	char body[512];

	if (junction)
		snprintf(body, sizeof(body),
			 "{\"name\":\"%s\",\"svm\":{\"name\":\"svm1\"},\"aggregates\":[{\"name\":\"aggr1\"}],\"size\":\"4GB\","
			 "\"nas\":{\"path\":\"%s\",\"export_policy\":{\"name\":\"%s\"}}}",
			 name, junction, policy);
	else
		snprintf(body, sizeof(body),
			 "{\"name\":\"%s\",\"svm\":{\"name\":\"svm1\"},\"aggregates\":[{\"name\":\"aggr1\"}],\"size\":\"4GB\"}",
			 name);
	return api_do("POST", "/api/storage/volumes", body);
}

/* Creates a LUN (or namespace) of 64 MiB; returns its serial (or uuid) in out. */
static bool make_block(bool nvme, const char *path, char *out, size_t size)
{
	char body[512], q[512];
	json_auto_t *rec = NULL;
	const char *v;

	snprintf(body, sizeof(body), "{\"name\":\"%s\",\"svm\":{\"name\":\"svm1\"},\"os_type\":\"linux\",\"space\":{\"size\":\"64MB\"}}",
		 path);
	if (!api_do("POST", nvme ? "/api/storage/namespaces" : "/api/storage/luns", body))
		return false;
	snprintf(q, sizeof(q), "%s?name=%s&fields=%s", nvme ? "/api/storage/namespaces" : "/api/storage/luns", path,
		 nvme ? "uuid" : "uuid,serial_number");
	rec = api_first(q);
	v = json_string_value(json_object_get(rec, nvme ? "uuid" : "serial_number"));
	if (!v)
		return false;
	snprintf(out, size, "%s", v);
	return true;
}

/* ---------------------------------------------------------------- nodes and operations */

struct node {
	char dir[192], etc[256], run[256];
	char iqn[128], nqn[160];
	struct host_ctx ctx;
};

static struct host_sim simcfg;
static struct node N1, N2;

static void node_init(struct node *n, const char *name)
{
	char p[512];

	snprintf(n->dir, sizeof(n->dir), "%s/%s", base, name);
	snprintf(n->etc, sizeof(n->etc), "%s/etc", n->dir);
	snprintf(n->run, sizeof(n->run), "%s/run", n->dir);
	snprintf(n->iqn, sizeof(n->iqn), "iqn.2024-01.test.kvmcd:%s", name);
	snprintf(n->nqn, sizeof(n->nqn), "nqn.2014-08.test.kvmcd:%s", name);
	sh("mkdir -p '%s/iscsi' '%s/nvme' '%s'", n->etc, n->etc, n->run);
	snprintf(p, sizeof(p), "%s/iscsi/initiatorname.iscsi", n->etc);
	{
		char text[200];
		snprintf(text, sizeof(text), "InitiatorName=%s\n", n->iqn);
		put(p, text);
	}
	snprintf(p, sizeof(p), "%s/nvme/hostnqn", n->etc);
	{
		char text[200];
		snprintf(text, sizeof(text), "%s\n", n->nqn);
		put(p, text);
	}
	n->ctx = (struct host_ctx){
		.event = ev, .runner = runner, .workers = pool, .sys_root = n->dir, .dev_root = "/dev",
		.etc_root = n->etc, .run_dir = n->run, .node_name = name, .step_timeout_usec = 10 * USEC_PER_SEC,
		.sim = &simcfg,
	};
}

struct result {
	bool done;
	int r;
	char detail[2048];
};

static void on_done(void *userdata, int r, const char *detail)
{
	struct result *res = userdata;

	CHECK(!res->done, "done called twice");
	res->done = true;
	res->r = r;
	snprintf(res->detail, sizeof(res->detail), "%s", detail ? detail : "(null)");
}

/* now_usec(): ontap-test-util.h */
static struct result R;

/* Runs one hook to its end; its return when it did not start. The result is in R. */
static int wait_result(int started)
{
	uint64_t end = now_usec() + 60 * USEC_PER_SEC;

	memset(&R, 0, sizeof(R));
	if (started < 0) {
		R.r = started;
		snprintf(R.detail, sizeof(R.detail), "not started: %s", strerror(-started));
		return started;
	}
	while (!R.done && now_usec() < end)
		sd_event_run(ev, 100 * USEC_PER_MSEC);
	if (!R.done) {
		fprintf(stderr, "operation did not finish\n");
		exit(1);
	}
	if (getenv("TEST_VERBOSE"))
		fprintf(stderr, "    -> %d %s\n", R.r, R.detail);
	return R.r;
}

#define DO(call) wait_result(call)

static const struct host_backend *B = &host_backend_sim;

static int attach(struct node *n, const struct host_target *t) { return DO(B->attach[t->protocol]->attach(&n->ctx, t, on_done, &R)); }
static int probe(struct node *n, const struct host_target *t) { return DO(B->attach[t->protocol]->probe(&n->ctx, t, on_done, &R)); }
static int detach(struct node *n, const struct host_target *t) { return DO(B->attach[t->protocol]->detach(&n->ctx, t, on_done, &R)); }

/* ---------------------------------------------------------------- tests */

static char lun1[64], lun2[64], lun3[64], ns1[64];

static void test_config(void)
{
	struct host_sim s = { .url = "https://10.0.0.1:8443", .shared_dir = "/srv/x" };
	enum host_sim_mount m;
	char *why = NULL;

	CHECK(host_sim_check(&s, &why) == 0, "good config");
	s.url = "https://10.0.0.1:8443/api";
	CHECK(host_sim_check(&s, &why) == -EINVAL && why && strstr(why, "sim_url"), "path refused");
	free(why);
	why = NULL;
	s.url = "ftp://x";
	CHECK(host_sim_check(&s, &why) == -EINVAL && why && strstr(why, "sim_url"), "scheme refused");
	free(why);
	why = NULL;
	s.url = "http://x";
	s.shared_dir = "rel";
	CHECK(host_sim_check(&s, &why) == -EINVAL && why && strstr(why, "sim_shared_dir"), "relative dir");
	free(why);
	why = NULL;
	s.shared_dir = "/x";
	s.ca_file = "ca.pem";
	CHECK(host_sim_check(&s, &why) == -EINVAL && why && strstr(why, "sim_ca_file"), "relative ca");
	free(why);
	why = NULL;
	s.ca_file = NULL;
	s.missing = "iscsiadm, nvme_tcp";
	CHECK(host_sim_check(&s, &why) == 0, "sim_missing of known names");
	s.missing = "iscsiadm,open-iscsi";
	CHECK(host_sim_check(&s, &why) == -EINVAL && why && strstr(why, "sim_missing: \"open-iscsi\""),
	      "sim_missing names a package, not a tool: %s", why ? why : "");
	free(why);
	CHECK(host_sim_mount_from_string("bind", &m) == 0 && m == HOST_SIM_MOUNT_BIND, "bind");
	CHECK(host_sim_mount_from_string("symlink", &m) == 0 && m == HOST_SIM_MOUNT_SYMLINK, "symlink");
	CHECK(host_sim_mount_from_string("Bind", &m) == -EINVAL, "case");
	CHECK(strcmp(host_sim_mount_to_string(HOST_SIM_MOUNT_SYMLINK), "symlink") == 0, "to string");
	{
		_cleanup_free_ char *p = host_sim_device_path("/run/kvmcd", "8EFvnts3epFy");
		CHECK(p && strcmp(p, "/run/kvmcd/sim/dev/8EFvnts3epFy") == 0, "device path %s", p ? p : "(null)");
		CHECK(!host_sim_device_path("/run/kvmcd", "../x") && !host_sim_device_path("/run/kvmcd", "") &&
			      !host_sim_device_path("/run/kvmcd", ".."),
		      "ids are file names");
	}
	CHECK(strcmp(B->name, "sim") == 0 && B->attach[DS_PROTO_ISCSI] && B->attach[DS_PROTO_FC] &&
		      B->attach[DS_PROTO_NVME_TCP] && B->attach[DS_PROTO_NFS] && B->attach[DS_PROTO_SMB] &&
		      !B->fs[DS_FS_NONE] && B->fs[DS_FS_OCFS2] && B->fs[DS_FS_GFS2] && B->inventory,
	      "the table");
}

static void test_setup(void)
{
	char body[512];

	CHECK(make_volume("v1", NULL, NULL), "volume v1");
	CHECK(make_block(false, "/vol/v1/lun1", lun1, sizeof(lun1)), "lun1");
	CHECK(make_block(false, "/vol/v1/lun2", lun2, sizeof(lun2)), "lun2");
	CHECK(make_block(false, "/vol/v1/lun3", lun3, sizeof(lun3)), "lun3");
	snprintf(body, sizeof(body),
		 "{\"name\":\"kvmcd_n1\",\"svm\":{\"name\":\"svm1\"},\"os_type\":\"linux\",\"protocol\":\"iscsi\","
		 "\"initiators\":[{\"name\":\"%s\"}]}",
		 N1.iqn);
	CHECK(api_do("POST", "/api/protocols/san/igroups", body), "igroup n1");
	snprintf(body, sizeof(body),
		 "{\"name\":\"kvmcd_n2\",\"svm\":{\"name\":\"svm1\"},\"os_type\":\"linux\",\"protocol\":\"iscsi\","
		 "\"initiators\":[{\"name\":\"%s\"}]}",
		 N2.iqn);
	CHECK(api_do("POST", "/api/protocols/san/igroups", body), "igroup n2");
	for (int i = 1; i <= 3; i++) {
		snprintf(body, sizeof(body), "{\"svm\":{\"name\":\"svm1\"},\"igroup\":{\"name\":\"kvmcd_n1\"},\"lun\":{\"name\":\"/vol/v1/lun%d\"}}", i);
		CHECK(api_do("POST", "/api/protocols/san/lun-maps", body), "map lun%d to n1", i);
	}
}

static void test_block_iscsi(void)
{
	struct host_target t = { .datastore = "ds1", .protocol = DS_PROTO_ISCSI, .lun_serial = lun1 };
	_cleanup_free_ char *dev = host_sim_device_path(N1.run, lun1);
	char target[512];
	ssize_t n;
	json_auto_t *lun = NULL;
	char q[256], body[512];

	fprintf(stderr, "--- iscsi\n");
	CHECK(probe(&N1, &t) == -ENOENT && strstr(R.detail, "not attached"), "probe before: %d %s", R.r, R.detail);
	CHECK(attach(&N1, &t) == 0 && strcmp(R.detail, dev) == 0, "attach: %d %s", R.r, R.detail);
	n = readlink(dev, target, sizeof(target) - 1);
	target[n > 0 ? n : 0] = '\0';
	{
		/* Serials may hold '+' (and other query characters): percent-encode the value. */
		char enc[64], *o = enc;
		for (const char *c = lun1; *c && o < enc + sizeof(enc) - 4; c++) {
			if ((*c >= 'A' && *c <= 'Z') || (*c >= 'a' && *c <= 'z') || (*c >= '0' && *c <= '9') ||
			    *c == '-' || *c == '_' || *c == '.')
				*o++ = *c;
			else
				o += sprintf(o, "%%%02X", (unsigned char)*c);
		}
		*o = 0;
		snprintf(q, sizeof(q), "/api/storage/luns?serial_number=\"%s\"&fields=uuid", enc);
	}
	lun = api_first(q);
	CHECK(n > 0 && strstr(target, base) && strstr(target, json_string_value(json_object_get(lun, "uuid")) ?: "?"),
	      "the device is the LUN's backing file: %s", target);
	CHECK(attach(&N1, &t) == 0 && strcmp(R.detail, dev) == 0, "attach again");
	CHECK(probe(&N1, &t) == 0 && strcmp(R.detail, dev) == 0, "probe: %d %s", R.r, R.detail);

	/* another node is not in the igroup of the map */
	CHECK(attach(&N2, &t) == -EACCES && strstr(R.detail, "access denied by the array: igroup not mapped") &&
		      strstr(R.detail, N2.iqn),
	      "n2: %d %s", R.r, R.detail);
	{
		_cleanup_free_ char *dev2 = host_sim_device_path(N2.run, lun1);
		CHECK(!exists(dev2), "nothing created on refusal");
	}
	/* behind another target */
	t.target_iqn = "iqn.1992-08.com.netapp:sn.0000:vs.9";
	CHECK(attach(&N1, &t) == -EACCES && strstr(R.detail, "reachable through iqn.1992-08.com.netapp:sn."),
	      "wrong target: %d %s", R.r, R.detail);
	t.target_iqn = NULL;

	/* the other LUNs; then the fence: n1's map of lun1 removed */
	t.lun_serial = lun3;
	CHECK(attach(&N1, &t) == 0, "attach lun3");
	t.lun_serial = lun1;
	{
		json_auto_t *ig = api_first("/api/protocols/san/igroups?name=kvmcd_n1&fields=uuid");
		snprintf(body, sizeof(body), "/api/protocols/san/lun-maps/%s/%s", json_string_value(json_object_get(lun, "uuid")),
			 json_string_value(json_object_get(ig, "uuid")));
		CHECK(api_do("DELETE", body, NULL), "unmap lun1 from n1");
	}
	CHECK(probe(&N1, &t) == -EACCES && strstr(R.detail, "is attached, but access is denied by the array now"),
	      "probe after the fence: %d %s", R.r, R.detail);
	CHECK(attach(&N1, &t) == -EACCES, "attach after the fence: %d %s", R.r, R.detail);
	CHECK(detach(&N1, &t) == 0 && strcmp(R.detail, "detached") == 0, "detach: %d %s", R.r, R.detail);
	CHECK(!exists(dev), "link gone");
	CHECK(detach(&N1, &t) == 0 && strcmp(R.detail, "not attached") == 0, "detach again");
	CHECK(probe(&N1, &t) == -ENOENT, "probe after detach");

	/* map it to n2: n2 attaches it */
	snprintf(body, sizeof(body), "{\"svm\":{\"name\":\"svm1\"},\"igroup\":{\"name\":\"kvmcd_n2\"},\"lun\":{\"name\":\"/vol/v1/lun1\"}}");
	CHECK(api_do("POST", "/api/protocols/san/lun-maps", body), "map lun1 to n2");
	CHECK(attach(&N2, &t) == 0, "n2 attaches lun1: %d %s", R.r, R.detail);
	/* a LUN disabled on the array is not served */
	snprintf(body, sizeof(body), "/api/storage/luns/%s", json_string_value(json_object_get(lun, "uuid")));
	CHECK(api_do("PATCH", body, "{\"enabled\":false}"), "disable");
	CHECK(probe(&N2, &t) == -EACCES, "disabled LUN: %d %s", R.r, R.detail);
	CHECK(api_do("PATCH", body, "{\"enabled\":true}"), "enable");
	CHECK(probe(&N2, &t) == 0, "enabled again: %d %s", R.r, R.detail);
	/* bad targets */
	t.lun_serial = "../etc";
	CHECK(B->attach[DS_PROTO_ISCSI]->attach(&N1.ctx, &t, on_done, &R) == -EINVAL, "bad serial");
	t.lun_serial = lun1;
}

static void test_fs(bool bind)
{
	const struct host_fs_ops *ocfs2 = B->fs[DS_FS_OCFS2], *gfs2 = B->fs[DS_FS_GFS2];
	struct host_fs_params p = { .cluster_name = "c1", .label = "ds1", .slots = 4 };
	_cleanup_free_ char *dev1 = host_sim_device_path(N2.run, lun1), *dev3 = host_sim_device_path(N1.run, lun3);
	char mp1[256], mp2[256], uuid[64], want[512], path[512];
	struct stat st;

	fprintf(stderr, "--- fs (%s)\n", bind ? "bind" : "symlink");
	simcfg.mount = bind ? HOST_SIM_MOUNT_BIND : HOST_SIM_MOUNT_SYMLINK;
	snprintf(mp1, sizeof(mp1), "%s/mnt-%s/n2/ds1", base, bind ? "bind" : "link");
	snprintf(mp2, sizeof(mp2), "%s/mnt-%s/n1/ds1", base, bind ? "bind" : "link");

	if (!bind) {
		CHECK(DO(ocfs2->probe(&N2.ctx, dev1, on_done, &R)) == 0 && strcmp(R.detail, "empty") == 0,
		      "probe empty: %d %s", R.r, R.detail);
		CHECK(DO(ocfs2->mount(&N2.ctx, dev1, mp1, on_done, &R)) == -EINVAL && strstr(R.detail, "no file system"),
		      "mount without fs: %d %s", R.r, R.detail);
		p.slots = 0;
		CHECK(DO(ocfs2->mkfs(&N2.ctx, dev1, &p, on_done, &R)) == -EINVAL, "0 slots");
		p.slots = 4;
		CHECK(DO(ocfs2->mkfs(&N2.ctx, dev1, &p, on_done, &R)) == 0 && strlen(R.detail) == 36, "mkfs: %d %s", R.r,
		      R.detail);
	} else
		CHECK(DO(ocfs2->probe(&N2.ctx, dev1, on_done, &R)) == 0, "probe");
	sscanf(strstr(R.detail, "uuid=") ? strstr(R.detail, "uuid=") + 5 : R.detail, "%36s", uuid);
	CHECK(DO(ocfs2->probe(&N2.ctx, dev1, on_done, &R)) == 0, "probe");
	snprintf(want, sizeof(want), "ocfs2 label=ds1 uuid=%s slots=4 cluster=c1 stack=pcmk", uuid);
	CHECK(strcmp(R.detail, want) == 0, "probe says: %s (want %s)", R.detail, want);
	/* the agent reads a simulated probe exactly as a real one */
	{
		struct host_fs_params other = p;
		char *why = NULL;
		CHECK(host_fs_verdict(DS_FS_OCFS2, &p, R.detail, &why) == HOST_FS_ADOPT, "adopted: %s", why ? why : "");
		free(why);
		why = NULL;
		other.cluster_name = "c2";
		CHECK(host_fs_verdict(DS_FS_OCFS2, &other, R.detail, &why) == HOST_FS_FOREIGN && why, "another cluster's");
		free(why);
		why = NULL;
		CHECK(host_fs_verdict(DS_FS_GFS2, &p, R.detail, &why) == HOST_FS_FOREIGN, "not gfs2");
		free(why);
	}
	/* never formats what holds data, even its own file system (probe + adopt is the caller's way) */
	CHECK(DO(ocfs2->mkfs(&N2.ctx, dev1, &p, on_done, &R)) == -EEXIST && strstr(R.detail, "holds ocfs2 label=ds1") &&
		      strstr(R.detail, "kvmcd never formats"),
	      "mkfs again: %d %s", R.r, R.detail);
	CHECK(DO(gfs2->mkfs(&N2.ctx, dev1, &p, on_done, &R)) == -EEXIST, "gfs2 over ocfs2");
	CHECK(DO(gfs2->mount(&N2.ctx, dev1, mp1, on_done, &R)) == -EINVAL && strstr(R.detail, "holds ocfs2"),
	      "mount -t gfs2: %d %s", R.r, R.detail);

	CHECK(DO(ocfs2->mount(&N2.ctx, dev1, mp1, on_done, &R)) == 0 && strcmp(R.detail, mp1) == 0, "mount: %d %s", R.r,
	      R.detail);
	CHECK(DO(ocfs2->mount(&N2.ctx, dev1, mp1, on_done, &R)) == 0, "mount again: %d %s", R.r, R.detail);
	CHECK(lstat(mp1, &st) == 0 && (bind ? S_ISDIR(st.st_mode) : S_ISLNK(st.st_mode)), "what the mount point is");
	snprintf(path, sizeof(path), "%s/disk-%s.img", mp1, bind ? "b" : "l");
	put(path, "hello");
	snprintf(path, sizeof(path), "%s/shared/simfs/%s/disk-%s.img", base, uuid, bind ? "b" : "l");
	CHECK(exists(path), "written through the mount, lands in the shared dir: %s", path);

	/* n1 attaches the same LUN (mapped to n2 only now: refused); lun1 is n2's. Use lun3 on n1 for
	 * a second fs and check n2's data is not visible there */
	if (!bind) {
		CHECK(DO(gfs2->probe(&N1.ctx, dev3, on_done, &R)) == 0 && strcmp(R.detail, "empty") == 0, "lun3 empty");
		p.label = "a_rather_long_datastore_name_of_35c";
		p.slots = 3;
		CHECK(DO(gfs2->mkfs(&N1.ctx, dev3, &p, on_done, &R)) == 0, "gfs2 mkfs: %d %s", R.r, R.detail);
		CHECK(DO(gfs2->probe(&N1.ctx, dev3, on_done, &R)) == 0 &&
			      strstr(R.detail, "gfs2 label=a_rather_long_datasto_") && strstr(R.detail, " slots=3 cluster=c1 stack=lock_dlm"),
		      "gfs2 probe: %s", R.detail);
		{
			const char *l = strstr(R.detail, "label=") + 6;
			char *why = NULL;
			CHECK(strcspn(l, " ") == 30, "fs name of 30 bytes: %s", R.detail);
			CHECK(host_fs_verdict(DS_FS_GFS2, &p, R.detail, &why) == HOST_FS_ADOPT, "gfs2 adopted: %s",
			      why ? why : "");
			free(why);
		}
		CHECK(DO(gfs2->grow(&N1.ctx, dev3, NULL, 8, on_done, &R)) == 0 && strcmp(R.detail, "slots=8") == 0, "grow");
		CHECK(DO(gfs2->grow(&N1.ctx, dev3, NULL, 2, on_done, &R)) == 0 && strcmp(R.detail, "slots=8") == 0, "never shrinks");
		CHECK(DO(gfs2->grow(&N1.ctx, dev3, NULL, 17, on_done, &R)) == -EINVAL, "gfs2 holds 16");
		p.label = "ds1";
		p.slots = 4;
	}
	CHECK(DO(gfs2->mount(&N1.ctx, dev3, mp2, on_done, &R)) == 0, "mount lun3 on n1: %d %s", R.r, R.detail);
	snprintf(path, sizeof(path), "%s/disk-%s.img", mp2, bind ? "b" : "l");
	CHECK(!exists(path), "another file system, other data");

	/* something else at the mount point */
	CHECK(DO(ocfs2->mount(&N2.ctx, dev1, mp2, on_done, &R)) == -EEXIST, "mp2 holds lun3's fs: %d %s", R.r, R.detail);

	if (bind) {
		/* a file open on it: busy, said so, and still mounted */
		int busy;

		snprintf(path, sizeof(path), "%s/disk-b.img", mp1);
		busy = open(path, O_RDONLY);
		CHECK(busy >= 0 && DO(ocfs2->umount(&N2.ctx, mp1, on_done, &R)) == -EBUSY && strstr(R.detail, "busy") &&
			      exists(path),
		      "umount while a file is open: %d %s", R.r, R.detail);
		if (busy >= 0)
			close(busy);
	}
	CHECK(DO(ocfs2->umount(&N2.ctx, mp1, on_done, &R)) == 0 && strcmp(R.detail, "unmounted") == 0, "umount: %d %s", R.r,
	      R.detail);
	CHECK(DO(ocfs2->umount(&N2.ctx, mp1, on_done, &R)) == 0 && strcmp(R.detail, "not mounted") == 0,
	      "umount again: %d %s", R.r, R.detail);
	CHECK(DO(gfs2->umount(&N1.ctx, mp2, on_done, &R)) == 0, "umount mp2: %d %s", R.r, R.detail);
	snprintf(path, sizeof(path), "%s/disk-%s.img", mp1, bind ? "b" : "l");
	CHECK(!exists(path), "unmounted: the data is not at the mount point any more");

	if (bind) {
		/* a foreign mount: never ours to unmount */
		sh("mkdir -p '%s' && mount -t tmpfs kvmcd-test '%s'", mp1, mp1);
		CHECK(DO(ocfs2->mount(&N2.ctx, dev1, mp1, on_done, &R)) == -EEXIST && strstr(R.detail, "tmpfs"),
		      "tmpfs there: %d %s", R.r, R.detail);
		CHECK(DO(ocfs2->umount(&N2.ctx, mp1, on_done, &R)) == -EEXIST, "not ours: %d %s", R.r, R.detail);
		sh("umount '%s'", mp1);
	} else {
		sh("ln -s /tmp '%s'", mp1);
		CHECK(DO(ocfs2->mount(&N2.ctx, dev1, mp1, on_done, &R)) == -EEXIST && strstr(R.detail, "symlink to /tmp"),
		      "foreign link: %d %s", R.r, R.detail);
		CHECK(DO(ocfs2->umount(&N2.ctx, mp1, on_done, &R)) == -EEXIST, "not ours: %d %s", R.r, R.detail);
		sh("rm '%s' && mkdir -p '%s/x'", mp1, mp1);
		CHECK(DO(ocfs2->mount(&N2.ctx, dev1, mp1, on_done, &R)) == -EEXIST && strstr(R.detail, "not an empty directory"),
		      "non-empty dir: %d %s", R.r, R.detail);
		sh("rm -r '%s'", mp1);
	}
}

static void test_fs_data(void)
{
	_cleanup_free_ char *dev2 = host_sim_device_path(N1.run, lun2);
	struct host_target t = { .protocol = DS_PROTO_ISCSI, .lun_serial = lun2 };
	struct host_fs_params p = { .cluster_name = "c1", .label = "ds2", .slots = 2 };
	int fd;

	fprintf(stderr, "--- data\n");
	CHECK(attach(&N1, &t) == 0, "attach lun2");
	fd = open(dev2, O_WRONLY);
	/* "empty" is the first MiB all zero, holes or written zeros alike; past it nothing counts */
	{
		static const char zeros[8192];

		CHECK(fd >= 0 && pwrite(fd, zeros, sizeof(zeros), 256 * 1024) == sizeof(zeros) &&
		      pwrite(fd, "x", 1, 1024 * 1024) == 1, "write zeros, and a byte past the first MiB");
		CHECK(DO(B->fs[DS_FS_OCFS2]->probe(&N1.ctx, dev2, on_done, &R)) == 0 && strcmp(R.detail, "empty") == 0,
		      "zeros and a byte past the MiB: %s", R.detail);
		CHECK(fd >= 0 && pwrite(fd, "x", 1, 1024 * 1024 - 1) == 1, "write the MiB's last byte");
		CHECK(DO(B->fs[DS_FS_OCFS2]->probe(&N1.ctx, dev2, on_done, &R)) == 0 && strcmp(R.detail, "data") == 0,
		      "the MiB's last byte: %s", R.detail);
		CHECK(fd >= 0 && pwrite(fd, zeros, 1, 1024 * 1024 - 1) == 1, "and zero it again");
	}
	CHECK(fd >= 0 && pwrite(fd, "x", 1, 512 * 1024) == 1, "write a byte");
	if (fd >= 0)
		close(fd);
	CHECK(DO(B->fs[DS_FS_OCFS2]->probe(&N1.ctx, dev2, on_done, &R)) == 0 && strcmp(R.detail, "data") == 0,
	      "probe: %s", R.detail);
	CHECK(DO(B->fs[DS_FS_OCFS2]->mkfs(&N1.ctx, dev2, &p, on_done, &R)) == -EEXIST && strstr(R.detail, "holds data"),
	      "mkfs refused: %d %s", R.r, R.detail);
	CHECK(DO(B->fs[DS_FS_OCFS2]->probe(&N1.ctx, "/nonexistent/dev", on_done, &R)) == -ENOENT, "no device");
}

static void test_nvme(void)
{
	struct host_target t = { .protocol = DS_PROTO_NVME_TCP, .ns_uuid = ns1 };
	_cleanup_free_ char *dev = host_sim_device_path(N1.run, ns1);
	json_auto_t *ss = NULL;
	char body[512], p[512];

	fprintf(stderr, "--- nvme\n");
	snprintf(body, sizeof(body), "{\"name\":\"kvmcd\",\"svm\":{\"name\":\"svm1\"},\"os_type\":\"linux\",\"hosts\":[{\"nqn\":\"%s\"}]}",
		 N1.nqn);
	CHECK(api_do("POST", "/api/protocols/nvme/subsystems", body), "subsystem");
	CHECK(api_do("POST", "/api/protocols/nvme/subsystem-maps",
		     "{\"svm\":{\"name\":\"svm1\"},\"subsystem\":{\"name\":\"kvmcd\"},\"namespace\":{\"name\":\"/vol/v2/ns0\"}}"),
	      "map");
	ss = api_first("/api/protocols/nvme/subsystems?name=kvmcd&fields=uuid,target_nqn");
	t.subsystem_nqn = json_string_value(json_object_get(ss, "target_nqn"));
	CHECK(attach(&N1, &t) == 0 && strcmp(R.detail, dev) == 0, "attach: %d %s", R.r, R.detail);
	CHECK(probe(&N1, &t) == 0, "probe: %d %s", R.r, R.detail);
	CHECK(attach(&N2, &t) == -EACCES && strstr(R.detail, "subsystem not mapped") && strstr(R.detail, N2.nqn),
	      "n2: %d %s", R.r, R.detail);
	t.subsystem_nqn = "nqn.1992-08.com.netapp:sn.x:subsystem.other";
	CHECK(probe(&N1, &t) == -EACCES, "another subsystem: %d %s", R.r, R.detail);
	t.subsystem_nqn = json_string_value(json_object_get(ss, "target_nqn"));
	snprintf(p, sizeof(p), "/api/protocols/nvme/subsystems/%s/hosts/%s", json_string_value(json_object_get(ss, "uuid")),
		 N1.nqn);
	CHECK(api_do("DELETE", p, NULL), "remove n1's host NQN");
	CHECK(probe(&N1, &t) == -EACCES, "fenced: %d %s", R.r, R.detail);
	CHECK(detach(&N1, &t) == 0, "detach");
	/* a node without a host NQN file */
	snprintf(p, sizeof(p), "%s/nvme/hostnqn", N2.etc);
	unlink(p);
	CHECK(attach(&N2, &t) == -EINVAL && strstr(R.detail, "no usable NVMe host NQN"), "no NQN: %d %s", R.r, R.detail);
	put(p, N2.nqn);
}

static void test_fc(void)
{
	struct host_target t = { .protocol = DS_PROTO_FC, .lun_serial = lun3 };
	char p[512];

	fprintf(stderr, "--- fc\n");
	CHECK(attach(&N2, &t) == -EINVAL && strstr(R.detail, "no FC host port"), "no FC port: %d %s", R.r, R.detail);
	sh("mkdir -p '%s/class/fc_host/host7'", N2.dir);
	snprintf(p, sizeof(p), "%s/class/fc_host/host7/port_name", N2.dir);
	put(p, "0x2100000e1e30c8a1\n");
	CHECK(attach(&N2, &t) == -EACCES, "not in an igroup: %d %s", R.r, R.detail);
	CHECK(api_do("POST", "/api/protocols/san/igroups",
		     "{\"name\":\"kvmcd_n2_fc\",\"svm\":{\"name\":\"svm1\"},\"os_type\":\"linux\",\"protocol\":\"fcp\","
		     "\"initiators\":[{\"name\":\"21:00:00:0e:1e:30:c8:a1\"}]}"),
	      "fc igroup");
	CHECK(api_do("POST", "/api/protocols/san/lun-maps",
		     "{\"svm\":{\"name\":\"svm1\"},\"igroup\":{\"name\":\"kvmcd_n2_fc\"},\"lun\":{\"name\":\"/vol/v1/lun3\"}}"),
	      "fc map");
	CHECK(attach(&N2, &t) == 0, "fc attach: %d %s", R.r, R.detail);
	CHECK(detach(&N2, &t) == 0, "fc detach");
}

static void test_nas(bool bind)
{
	struct host_target t = { .protocol = DS_PROTO_NFS, .export_path = "/v3" };
	char mp[256], mp_smb[256], path[512];

	fprintf(stderr, "--- nas (%s)\n", bind ? "bind" : "symlink");
	simcfg.mount = bind ? HOST_SIM_MOUNT_BIND : HOST_SIM_MOUNT_SYMLINK;
	snprintf(mp, sizeof(mp), "%s/mnt-%s/n1/nfs3", base, bind ? "bind" : "link");
	snprintf(mp_smb, sizeof(mp_smb), "%s/mnt-%s/n2/smb3", base, bind ? "bind" : "link");
	t.mount_point = mp;
	CHECK(probe(&N1, &t) == -ENOENT, "not mounted: %d %s", R.r, R.detail);
	CHECK(attach(&N1, &t) == 0 && strcmp(R.detail, mp) == 0, "nfs attach: %d %s", R.r, R.detail);
	CHECK(attach(&N1, &t) == 0, "again");
	CHECK(probe(&N1, &t) == 0, "probe: %d %s", R.r, R.detail);
	snprintf(path, sizeof(path), "%s/f-%d", mp, bind);
	put(path, "x");
	snprintf(path, sizeof(path), "%s/shared/nas/v3/f-%d", base, bind);
	CHECK(exists(path), "in the shared dir");

	/* smb: a CIFS share named like the volume's junction, while the SVM's CIFS server is on; not
	 * gated by export rules */
	t.protocol = DS_PROTO_SMB;
	t.export_path = "v3";
	t.mount_point = mp_smb;
	CHECK(attach(&N2, &t) == -EACCES && strstr(R.detail, "no CIFS share v3"), "no share yet: %d %s", R.r, R.detail);
	{
		json_auto_t *svc = api_first("/api/protocols/cifs/services?svm.name=svm1");
		if (!svc)
			CHECK(api_do("POST", "/api/protocols/cifs/services",
				     "{\"svm\":{\"name\":\"svm1\"},\"name\":\"SIMCIFS\",\"workgroup\":\"LAB\"}"),
			      "the SVM's CIFS server");
	}
	CHECK(api_do("POST", "/api/protocols/cifs/shares", "{\"svm\":{\"name\":\"svm1\"},\"name\":\"v3\",\"path\":\"/v3\"}"),
	      "share v3");
	CHECK(attach(&N2, &t) == 0, "smb attach: %d %s", R.r, R.detail);
	snprintf(path, sizeof(path), "%s/f-%d", mp_smb, bind);
	CHECK(exists(path), "the same data over smb");
	{
		json_auto_t *sh = api_first("/api/protocols/cifs/shares?name=v3&fields=svm.uuid");
		char p[256];
		snprintf(p, sizeof(p), "/api/protocols/cifs/shares/%s/v3", json_string_value(json_object_get(json_object_get(sh, "svm"), "uuid")) ?: "?");
		CHECK(api_do("DELETE", p, NULL), "share v3 deleted");
	}
	CHECK(probe(&N2, &t) == -EACCES && strstr(R.detail, "no CIFS share v3 on volume v3"), "share gone: %d %s", R.r, R.detail);
	CHECK(detach(&N2, &t) == 0 && strcmp(R.detail, "unmounted") == 0, "smb detach: %d %s", R.r, R.detail);
	t.protocol = DS_PROTO_NFS;
	t.export_path = "/v3";
	t.mount_point = mp;

	/* the export rule turns read-only: a fence for NFS */
	{
		json_auto_t *pol = api_first("/api/protocols/nfs/export-policies?name=kvmcd&fields=id");
		char p[256];
		snprintf(p, sizeof(p), "/api/protocols/nfs/export-policies/%lld/rules/1",
			 (long long)json_integer_value(json_object_get(pol, "id")));
		CHECK(api_do("PATCH", p, "{\"rw_rule\":[\"never\"]}"), "rule ro");
		CHECK(probe(&N1, &t) == -EACCES && strstr(R.detail, "grants 127.0.0.1 \"ro\""), "probe ro: %d %s", R.r, R.detail);
		CHECK(detach(&N1, &t) == 0, "detach");
		CHECK(attach(&N1, &t) == -EACCES, "attach ro: %d %s", R.r, R.detail);
		CHECK(!exists(mp) || (bind && exists(mp)), "nothing mounted");
		CHECK(api_do("PATCH", p, "{\"rw_rule\":[\"any\"]}"), "rule rw");
	}
	/* an address the rules do not name */
	simcfg.client_address = "10.9.9.9";
	CHECK(attach(&N1, &t) == -EACCES && strstr(R.detail, "10.9.9.9"), "other client: %d %s", R.r, R.detail);
	simcfg.client_address = NULL;
	t.export_path = "/nothing";
	CHECK(attach(&N1, &t) == -ENOENT && strstr(R.detail, "no volume is exported at /nothing"), "no export: %d %s", R.r,
	      R.detail);
	t.export_path = "/v3";
	CHECK(detach(&N1, &t) == 0 && strcmp(R.detail, "not mounted") == 0, "detach when not mounted: %d %s", R.r, R.detail);
}

static void test_nas_setup(void)
{
	CHECK(api_do("POST", "/api/protocols/nfs/export-policies",
		     "{\"name\":\"kvmcd\",\"svm\":{\"name\":\"svm1\"},\"rules\":[{\"clients\":[{\"match\":\"127.0.0.1\"}],"
		     "\"protocols\":[\"nfs\"],\"ro_rule\":[\"sys\"],\"rw_rule\":[\"sys\"],\"superuser\":[\"sys\"]}]}"),
	      "export policy");
	CHECK(make_volume("v3", "/v3", "kvmcd"), "nas volume");
}

/* ---------------------------------------------------------------- transport errors */

/* A simulator that never answers: attach ends by the step deadline (2 s here), not later. */
static void check_hung(const struct host_target *t, const char *what)
{
	uint64_t t0;

	N1.ctx.step_timeout_usec = 2 * USEC_PER_SEC;
	t0 = now_usec();
	CHECK(attach(&N1, t) == -ETIMEDOUT, "%s: %d %s", what, R.r, R.detail);
	CHECK(now_usec() - t0 < 5 * USEC_PER_SEC, "%s: within the deadline", what);
	N1.ctx.step_timeout_usec = 10 * USEC_PER_SEC;
}

static void test_transport(void)
{
	struct host_target t = { .protocol = DS_PROTO_ISCSI, .lun_serial = lun3 };
	struct host_sim saved = simcfg;
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(0x7f000001) };
	socklen_t len = sizeof(sa);
	char url[128], badca[256];
	int fd;

	fprintf(stderr, "--- transport\n");
	/* nothing listens on that port */
	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	CHECK(fd >= 0 && bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0 &&
		      getsockname(fd, (struct sockaddr *)&sa, &len) == 0, "a free port");
	snprintf(url, sizeof(url), "https://127.0.0.1:%d", ntohs(sa.sin_port));
	simcfg.url = url;
	CHECK(attach(&N1, &t) == -EHOSTUNREACH && strstr(R.detail, "curl"), "closed port: %d %s", R.r, R.detail);

	/* listening, never answering: the step deadline */
	CHECK(listen(fd, 4) == 0, "listen");
	check_hung(&t, "hung simulator");
	close(fd);
	simcfg = saved;

	/* a certificate that does not verify the simulator's */
	snprintf(badca, sizeof(badca), "%s/other-ca.pem", base);
	sh("openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj /CN=other -days 1 "
	   "-keyout '%s/other.key' -out '%s' >/dev/null 2>&1 || cp /etc/ssl/certs/ca-certificates.crt '%s'",
	   base, badca, badca);
	simcfg.ca_file = badca;
	CHECK(attach(&N1, &t) == -EPROTO, "wrong CA: %d %s", R.r, R.detail);
	simcfg.ca_file = NULL;
	CHECK(attach(&N1, &t) == 0, "no CA: not verified: %d %s", R.r, R.detail);
	simcfg = saved;
	/* a curl that does not exist */
	simcfg.curl = "/nonexistent/curl";
	CHECK(attach(&N1, &t) == -ENOENT, "no curl: %d %s", R.r, R.detail);
	simcfg = saved;
}

/* ---------------------------------------------------------------- the access socket */

static char sock_path[200];

static void test_socket(void)
{
	struct host_target blk = { .protocol = DS_PROTO_ISCSI, .lun_serial = lun3 };
	struct host_target nas = { .protocol = DS_PROTO_NFS, .export_path = "/v3" };
	struct host_sim saved = simcfg;
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	char mp[256], mute[256];
	int fd;

	fprintf(stderr, "--- access socket\n");
	simcfg.access_socket = sock_path;
	simcfg.curl = "/nonexistent/curl"; /* proves no ask goes through curl */
	simcfg.mount = HOST_SIM_MOUNT_SYMLINK;
	CHECK(attach(&N1, &blk) == 0, "block attach over the socket: %d %s", R.r, R.detail);
	CHECK(probe(&N1, &blk) == 0, "probe: %d %s", R.r, R.detail);
	CHECK(attach(&N2, &blk) == -EACCES, "n2 has no igroup: %d %s", R.r, R.detail);
	snprintf(mp, sizeof(mp), "%s/mnt-sock/n1/nfs3", base);
	nas.mount_point = mp;
	/* no client_address: the address this host reaches sim_url's host from (127.0.0.1) */
	CHECK(attach(&N1, &nas) == 0 && strcmp(R.detail, mp) == 0, "nfs attach over the socket: %d %s", R.r, R.detail);
	simcfg.client_address = "10.9.9.9";
	CHECK(probe(&N1, &nas) == -EACCES && strstr(R.detail, "10.9.9.9"), "another client: %d %s", R.r, R.detail);
	simcfg.client_address = NULL;
	CHECK(detach(&N1, &nas) == 0, "nfs detach: %d %s", R.r, R.detail);

	/* no socket there */
	snprintf(mute, sizeof(mute), "%s/none.sock", base);
	simcfg.access_socket = mute;
	CHECK(attach(&N1, &blk) == -ENOENT && strstr(R.detail, "none.sock") && strstr(R.detail, "connect"),
	      "no socket: %d %s", R.r, R.detail);
	/* a socket that accepts nothing and never answers: the step deadline */
	snprintf(mute, sizeof(mute), "%s/mute.sock", base);
	strcpy(sa.sun_path, mute);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	CHECK(fd >= 0 && bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0 && listen(fd, 4) == 0, "a mute socket");
	check_hung(&blk, "mute simulator");
	close(fd);
	/* a relative path is refused by the configuration check */
	{
		struct host_sim s = saved;
		char *why = NULL;
		s.access_socket = "access.sock";
		CHECK(host_sim_check(&s, &why) == -EINVAL && why && strstr(why, "sim_access_socket"), "relative socket: %s",
		      why ? why : "");
		free(why);
	}
	simcfg = saved;
}

static void test_inventory(void)
{
	json_auto_t *inv = NULL;

	fprintf(stderr, "--- inventory\n");
	CHECK(DO(B->inventory->collect(&N1.ctx, on_done, &R)) == 0, "collect: %d %s", R.r, R.detail);
	inv = json_loads(R.detail, 0, NULL);
	CHECK(inv && strcmp(json_string_value(json_object_get(inv, "backend")) ?: "", "sim") == 0 &&
		      strcmp(json_string_value(json_object_get(inv, "iscsi_iqn")) ?: "", N1.iqn) == 0 &&
		      strcmp(json_string_value(json_object_get(inv, "nvme_nqn")) ?: "", N1.nqn) == 0,
	      "sim inventory: %s", R.detail);
}

/* Bind mounts need root and a private mount namespace (so nothing leaks into the host's). */
static bool private_mount_ns(void)
{
	if (geteuid() != 0 || unshare(CLONE_NEWNS) < 0)
		return false;
	return mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) == 0;
}

int main(void)
{
	const char *extra[6];
	char backing[200], shared[200];
	sigset_t ss;
	bool bind_ok;
	int r;

	if (system("curl --version >/dev/null 2>&1") != 0) {
		fprintf(stderr, "no curl: skipped\n");
		return 77;
	}
	bind_ok = private_mount_ns();
	snprintf(base, sizeof(base), "/tmp/test-host-sim.XXXXXX");
	if (!mkdtemp(base))
		return 1;
	snprintf(backing, sizeof(backing), "%s/backing", base);
	snprintf(shared, sizeof(shared), "%s/shared", base);
	sh("mkdir -p '%s'", shared);
	snprintf(sock_path, sizeof(sock_path), "%s/access.sock", base);
	extra[0] = "--backing-dir";
	extra[1] = backing;
	extra[2] = "--access-socket";
	extra[3] = sock_path;
	extra[4] = NULL;
	r = sim_start(&S, extra);
	if (r == -ENOENT) {
		fprintf(stderr, "ontap-sim not built: skipped\n");
		sh("rm -rf '%s'", base);
		return 77;
	}
	if (r < 0)
		return 1;
	sim_control(&S, "POST", "/_sim/config", "{\"job_ms\":30}");
	(void)wait_done;

	sigemptyset(&ss);
	sigaddset(&ss, SIGCHLD);
	sigprocmask(SIG_BLOCK, &ss, NULL);
	if (sd_event_default(&ev) < 0 || runner_new(ev, NULL, &runner) < 0 || worker_pool_new(ev, 2, &pool) < 0)
		return 1;
	simcfg = (struct host_sim){ .url = NULL, .ca_file = S.cert, .shared_dir = shared, .mount = HOST_SIM_MOUNT_SYMLINK };
	{
		static char url[128];
		snprintf(url, sizeof(url), "https://%s", S.address);
		simcfg.url = url;
	}
	node_init(&N1, "n1");
	node_init(&N2, "n2");

	test_config();
	test_setup();
	test_block_iscsi();
	test_fs(false);
	if (bind_ok)
		test_fs(true);
	else
		fprintf(stderr, "--- fs (bind): skipped (needs root and a private mount namespace)\n");
	test_fs_data();
	CHECK(make_volume("v2", NULL, NULL) && make_block(true, "/vol/v2/ns0", ns1, sizeof(ns1)), "namespace");
	test_nvme();
	test_fc();
	test_nas_setup();
	test_nas(false);
	if (bind_ok)
		test_nas(true);
	test_transport();
	test_socket();
	test_inventory();

	worker_pool_free(pool);
	runner_free(runner);
	sd_event_unref(ev);
	sim_stop(&S);
	if (!getenv("KEEP"))
		sh("rm -rf '%s'", base);
	return tap_done("test-host-sim");
}
