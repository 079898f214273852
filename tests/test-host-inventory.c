/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * resources/host/inventory: the parsers, the address filter and the cloned-host check (pure),
 * and inventory_collect() on fake trees (etc, sys, proc, lib/modules, tool dirs) with libvirt's
 * test driver, an unreachable libvirtd and one that accepts and never answers (the probe's own
 * deadline, the other facts still reported). About 1 s.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "inventory.h"
#include "macros.h"
#include "tap.h"
#include "worker.h"

static sd_event *ev;
static struct worker_pool *pool;
static char root[256];

static void write_file(const char *rel, const char *text, mode_t mode)
{
	char path[512], dir[600];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", root, rel);
	snprintf(dir, sizeof(dir), "mkdir -p \"$(dirname '%s')\"", path);
	if (system(dir) != 0)
		abort();
	f = fopen(path, "w");
	if (!f)
		abort();
	fputs(text, f);
	fclose(f);
	chmod(path, mode);
}

static void make_dir(const char *rel)
{
	char cmd[600];

	snprintf(cmd, sizeof(cmd), "mkdir -p '%s/%s'", root, rel);
	if (system(cmd) != 0)
		abort();
}

static void remove_path(const char *rel)
{
	char cmd[600];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s/%s'", root, rel);
	if (system(cmd) != 0)
		abort();
}

/* ---- pure pieces ---- */

static void test_parse_iqn(void)
{
	char *v = NULL;

	CHECK(inventory_parse_iqn("## DO NOT EDIT\nInitiatorName=iqn.1993-08.org.debian:01:ABCDEF\n", &v) == 0 &&
		      strcmp(v, "iqn.1993-08.org.debian:01:abcdef") == 0,
	      "got %s", v ? v : "(null)");
	free(v);
	v = NULL;
	CHECK(inventory_parse_iqn("#InitiatorName=iqn.2000-01.old:x\n  InitiatorName = iqn.a:b \nInitiatorName=iqn.2024-01.test:last\n",
				  &v) == 0 && strcmp(v, "iqn.2024-01.test:last") == 0,
	      "last line wins, got %s", v ? v : "(null)");
	free(v);
	v = NULL;
	CHECK(inventory_parse_iqn("# only comments\n", &v) == -ENOENT, "no line");
	CHECK(inventory_parse_iqn("InitiatorName=\n", &v) == -ENOENT, "empty value");
	CHECK(inventory_parse_iqn("InitiatorName=host01\n", &v) == -EINVAL && v && strcmp(v, "host01") == 0,
	      "not an iSCSI name");
	free(v);
	v = NULL;
	CHECK(inventory_parse_iqn("InitiatorName=iqn.2024-01.test:has space\n", &v) == -EINVAL, "blank inside");
	free(v);
	v = NULL;
	CHECK(inventory_parse_iqn("InitiatorName=eui.02004567A425678D\n", &v) == 0 && strcmp(v, "eui.02004567a425678d") == 0,
	      "eui");
	free(v);
}

static struct sockaddr_in sin4(const char *a)
{
	struct sockaddr_in s = { .sin_family = AF_INET };

	inet_pton(AF_INET, a, &s.sin_addr);
	return s;
}

static struct sockaddr_in6 sin6(const char *a)
{
	struct sockaddr_in6 s = { .sin6_family = AF_INET6 };

	inet_pton(AF_INET6, a, &s.sin6_addr);
	return s;
}

static void test_addresses(void)
{
	struct sockaddr_in lo = sin4("127.0.0.1"), a1 = sin4("10.0.0.11"), down = sin4("10.0.0.12"),
			   ll4 = sin4("169.254.3.4"), a2 = sin4("192.168.7.1");
	struct sockaddr_in6 ll6 = sin6("fe80::1"), g6 = sin6("fd00::11"), lo6 = sin6("::1"), m6 = sin6("::ffff:10.1.1.1");
	struct sockaddr pkt = { .sa_family = AF_PACKET };
	struct ifaddrs l[10] = {
		{ .ifa_name = "lo", .ifa_flags = IFF_UP | IFF_LOOPBACK, .ifa_addr = (struct sockaddr *)&lo },
		{ .ifa_name = "eth0", .ifa_flags = IFF_UP, .ifa_addr = (struct sockaddr *)&a1 },
		{ .ifa_name = "eth1", .ifa_flags = 0, .ifa_addr = (struct sockaddr *)&down },
		{ .ifa_name = "eth0", .ifa_flags = IFF_UP, .ifa_addr = (struct sockaddr *)&ll4 },
		{ .ifa_name = "eth0", .ifa_flags = IFF_UP, .ifa_addr = (struct sockaddr *)&ll6 },
		{ .ifa_name = "eth0", .ifa_flags = IFF_UP, .ifa_addr = (struct sockaddr *)&g6 },
		{ .ifa_name = "lo", .ifa_flags = IFF_UP, .ifa_addr = (struct sockaddr *)&lo6 },
		{ .ifa_name = "eth2", .ifa_flags = IFF_UP, .ifa_addr = (struct sockaddr *)&m6 },
		{ .ifa_name = "eth0", .ifa_flags = IFF_UP, .ifa_addr = &pkt },
		{ .ifa_name = "eth3", .ifa_flags = IFF_UP, .ifa_addr = (struct sockaddr *)&a2 },
	};
	_cleanup_free_ char *text = NULL;
	json_t *a;

	for (size_t i = 0; i + 1 < ARRAY_SIZE(l); i++)
		l[i].ifa_next = &l[i + 1];
	/* the same address twice (an alias on another interface) */
	l[9].ifa_addr = (struct sockaddr *)&a1;
	a = inventory_addresses(l);
	text = json_dumps(a, JSON_COMPACT);
	CHECK(text && strcmp(text, "[\"10.0.0.11\",\"fd00::11\"]") == 0, "addresses: %s", text ? text : "(null)");
	json_decref(a);
	l[9].ifa_addr = (struct sockaddr *)&a2;
	a = inventory_addresses(l);
	free(text);
	text = json_dumps(a, JSON_COMPACT);
	CHECK(text && strcmp(text, "[\"10.0.0.11\",\"192.168.7.1\",\"fd00::11\"]") == 0, "sorted as text: %s",
	      text ? text : "(null)");
	json_decref(a);
	a = inventory_addresses(NULL);
	CHECK(json_array_size(a) == 0, "empty list");
	json_decref(a);
}

static json_t *section(const char *name, const char *iqn, const char *nqn, const char *wwpn, bool nested)
{
	json_t *inv = json_pack("{s:o,s:o,s:[]}", "iscsi_iqn", iqn ? json_string(iqn) : json_null(), "nvme_nqn",
				nqn ? json_string(nqn) : json_null(), "fc_wwpns");

	if (wwpn)
		json_array_append_new(json_object_get(inv, "fc_wwpns"), json_string(wwpn));
	return json_pack("{s:s,s:o}", "name", name, "section",
			 nested ? json_pack("{s:o,s:{}}", INVENTORY_SECTION_KEY, inv, "datastores") : inv);
}

/* Whether a section speaks for the node's datastores: the leader destroys a removed datastore's
 * data, and a restore reverts one, only once every member's does and says it has none. */
static void test_datastores_reconciled(void)
{
	static const struct {
		const char *section, *why;
		bool want;
	} cases[] = {
		{ "{\"datastores\":{},\"datastores_reconciled\":true}", "reconciled", true },
		{ "{\"datastores\":{\"a\":{\"attached\":true}},\"datastores_reconciled\":true}", "reconciled, one attached", true },
		{ "{\"inventory\":{},\"datastores\":{},\"datastores_reconciled\":false}", "just started: not yet", false },
		{ "{\"vms\":{},\"capacity\":{}}", "another service's part alone (published first)", false },
		{ "{}", "an empty section", false },
		{ "{\"inventory\":{},\"datastores\":{}}", "a kvmcd from before the flag", true },
		{ "{\"datastores\":{},\"datastores_reconciled\":\"yes\"}", "a flag that is not a boolean", false },
		{ "{\"datastores\":[],\"vms\":{}}", "\"datastores\" not an object", false },
		{ "[]", "not an object", false },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		json_auto_t *sec = json_loads(cases[i].section, 0, NULL);
		CHECK(sec && node_section_datastores_reconciled(sec) == cases[i].want, "%s: %s", cases[i].why,
		      cases[i].want ? "speaks for its datastores" : "does not");
	}
	CHECK(!node_section_datastores_reconciled(NULL), "no section: does not");
}

static void test_duplicates(void)
{
	json_auto_t *s = json_object(), *out = NULL, *none = NULL, *bad = json_array();
	_cleanup_free_ char *text = NULL;

	json_object_set_new(s, "1", section("kvm01", "iqn.2024-01.test:golden", "nqn.2014-08.test:a",
					    "0x21000024ff5a1b2c", true));
	json_object_set_new(s, "2", section("kvm02", "IQN.2024-01.TEST:GOLDEN", "nqn.2014-08.test:shared", NULL, true));
	json_object_set_new(s, "3", section("kvm03", "iqn.2024-01.test:c", "nqn.2014-08.test:Shared",
					    "21:00:00:24:FF:5A:1B:2C", false));
	json_object_set_new(s, "4", section("", "iqn.2024-01.test:d", NULL, NULL, true));
	json_object_set_new(s, "5", json_pack("{s:s}", "name", "kvm05")); /* no section yet */
	json_object_set_new(s, "6", section("kvm06", "iqn.2024-01.test:d", NULL, NULL, true));
	CHECK(inventory_duplicates(s, &out) == 0, "duplicates");
	text = json_dumps(out, JSON_COMPACT);
	CHECK(text && strcmp(text,
			     "[{\"kind\":\"iqn\",\"value\":\"iqn.2024-01.test:d\",\"nodes\":[\"4\",\"kvm06\"]},"
			     "{\"kind\":\"iqn\",\"value\":\"iqn.2024-01.test:golden\",\"nodes\":[\"kvm01\",\"kvm02\"]},"
			     "{\"kind\":\"nqn\",\"value\":\"nqn.2014-08.test:shared\",\"nodes\":[\"kvm02\",\"kvm03\"]},"
			     "{\"kind\":\"wwpn\",\"value\":\"0x21000024ff5a1b2c\",\"nodes\":[\"kvm01\",\"kvm03\"]}]") == 0,
	      "got %s", text ? text : "(null)");
	json_object_del(s, "2");
	json_object_del(s, "3");
	json_object_del(s, "6");
	CHECK(inventory_duplicates(s, &none) == 0 && json_array_size(none) == 0, "no duplicates");
	CHECK(inventory_duplicates(bad, &none) == -EINVAL, "not an object");
}

static bool json_eq(json_t *v, const char *want);

static void test_os_release(void)
{
	json_auto_t *o = NULL;

	CHECK(inventory_parse_os_release("PRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\nNAME=\"Debian GNU/Linux\"\n"
					 "VERSION_ID=\"12\"\nID=debian\n# ID=fedora\n", &o) == 0 &&
		      json_eq(o, "{\"id\":\"debian\",\"id_like\":null,\"pretty_name\":\"Debian GNU/Linux 12 (bookworm)\","
				 "\"version_id\":\"12\"}"),
	      "Debian 12");
	json_decref(o);
	o = NULL;
	CHECK(inventory_parse_os_release("ID=\"rocky\"\nID_LIKE=\"rhel centos fedora\"\nVERSION_ID='9.3'\n"
					 "PRETTY_NAME=\"Rocky \\\"Blue\\\" \\$9\" # comment\n  ID_LIKE  \n", &o) == 0 &&
		      json_eq(o, "{\"id\":\"rocky\",\"id_like\":\"rhel centos fedora\",\"pretty_name\":\"Rocky \\\"Blue\\\" $9\","
				 "\"version_id\":\"9.3\"}"),
	      "quotes, escapes, comments, a line without '='");
	json_decref(o);
	o = NULL;
	CHECK(inventory_parse_os_release("ID=\nVERSION_ID=\"\"\nID_LIKE=\"arch\x01\"\n", &o) == 0 &&
		      json_eq(o, "{\"id\":null,\"id_like\":\"arch\",\"pretty_name\":null,\"version_id\":null}"),
	      "empty values are null, control characters dropped");
	json_decref(o);
	o = NULL;
	CHECK(inventory_parse_os_release(NULL, &o) == 0 && json_object_size(o) == 4, "no text");
	CHECK(inventory_known_name("iscsiadm") && inventory_known_name("dm_multipath") &&
		      !inventory_known_name("iscsi") && !inventory_known_name(NULL),
	      "known names");
}

/* ---- collect on fake trees ---- */

struct result {
	bool done;
	int r;
	char *text;
};

static void on_done(void *userdata, int r, const char *detail)
{
	struct result *res = userdata;

	res->done = true;
	res->r = r;
	res->text = strdup(detail ? detail : "");
}

static uint64_t now_usec(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * USEC_PER_SEC + (uint64_t)ts.tv_nsec / 1000;
}

static struct host_ctx ctx_for(char *etc, char *sys)
{
	snprintf(etc, 300, "%s/etc", root);
	snprintf(sys, 300, "%s/sys", root);
	return (struct host_ctx){ .event = ev, .workers = pool, .etc_root = etc, .sys_root = sys,
				  .step_timeout_usec = 5 * USEC_PER_SEC };
}

/* Runs one collect; returns the parsed inventory (or NULL: res.r says why). */
static json_t *collect(struct host_ctx *ctx, const struct inventory_options *o, struct result *res)
{
	uint64_t end = now_usec() + 20 * USEC_PER_SEC;
	int r;

	memset(res, 0, sizeof(*res));
	r = inventory_collect(ctx, o, on_done, res);
	if (r < 0) {
		res->r = r;
		return NULL;
	}
	while (!res->done && now_usec() < end)
		sd_event_run(ev, 100 * USEC_PER_MSEC);
	CHECK(res->done, "collect finished");
	if (!res->done || res->r < 0)
		return NULL;
	return json_loads(res->text, 0, NULL);
}

static bool json_eq(json_t *v, const char *want)
{
	_cleanup_free_ char *got = json_dumps(v, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY);

	if (got && strcmp(got, want) == 0)
		return true;
	fprintf(stderr, "  want %s\n  got  %s\n", want, got ? got : "(null)");
	return false;
}

static void make_tree(void)
{
	write_file("etc/iscsi/initiatorname.iscsi", "## generated\nInitiatorName=iqn.2024-01.test:Node1\n", 0600);
	write_file("etc/nvme/hostnqn", "nqn.2014-08.org.nvmexpress:uuid:6b0c2c3e-0000-4000-8000-000000000001\n", 0644);
	write_file("etc/nvme/hostid", "6b0c2c3e-0000-4000-8000-000000000001\n", 0644);
	write_file("sys/class/fc_host/host3/port_name", "0x21000024FF5A1B2D\n", 0444);
	write_file("sys/class/fc_host/host4/port_name", "0x21000024ff5a1b2c\n", 0444);
	write_file("sys/class/fc_host/host5/port_name", "garbage\n", 0444);
	make_dir("sys/module/dlm");
	write_file("proc/modules",
		   "iscsi_tcp 24576 0 - Live 0x0000000000000000\n"
		   "nvme_tcp 45056 0 - Live 0x0000000000000000\n"
		   "libiscsi 77824 1 iscsi_tcp, Live 0x0000000000000000\n",
		   0444);
	write_file("lib/modules/6.1.0-test/modules.dep",
		   "kernel/drivers/md/dm-multipath.ko.xz: kernel/drivers/md/dm-mod.ko.xz\n"
		   "kernel/fs/ocfs2/ocfs2.ko.zst: kernel/fs/ocfs2/ocfs2_nodemanager.ko.zst\n"
		   "kernel/fs/ocfs2/ocfs2_stack_user.ko: \n"
		   "kernel/drivers/scsi/iscsi_tcp.ko.xz: kernel/drivers/scsi/libiscsi.ko.xz\n",
		   0444);
	write_file("lib/modules/6.1.0-test/modules.builtin", "kernel/fs/nfs/nfs.ko\n", 0444);
	write_file("usr/sbin/iscsiadm", "#!/bin/sh\n", 0755);
	write_file("sbin/multipath", "#!/bin/sh\n", 0755);
	write_file("usr/local/bin/nvme", "#!/bin/sh\n", 0755);
	write_file("usr/bin/virsh", "not executable\n", 0644);
	make_dir("usr/sbin/mkfs.ocfs2");            /* a directory is not a tool */
	write_file("etc/os-release", "ID=fedora\nVERSION_ID=40\n", 0644);
}

static void test_collect_tree(void)
{
	char etc[300], sys[300], proc[300], mods[300];
	struct host_ctx ctx = ctx_for(etc, sys);
	struct inventory_options o = { .proc_root = proc, .modules_dir = mods, .tools_root = root,
				       .libvirt_uri = "test:///default", .kernel_release = "6.1.0-test",
				       .hostname = "kvm-test" };
	struct result res;
	json_auto_t *inv = NULL;

	snprintf(proc, sizeof(proc), "%s/proc", root);
	snprintf(mods, sizeof(mods), "%s/lib/modules", root);
	make_tree();
	inv = collect(&ctx, &o, &res);
	CHECK(inv, "inventory: r=%d %s", res.r, res.text ? res.text : "");
	if (!inv) {
		free(res.text);
		return;
	}
	CHECK(json_eq(json_object_get(inv, "schema"), "1"), "schema");
	CHECK(json_eq(json_object_get(inv, "backend"), "\"real\""), "backend");
	CHECK(json_eq(json_object_get(inv, "hostname"), "\"kvm-test\""), "hostname");
	CHECK(json_eq(json_object_get(inv, "kernel"), "\"6.1.0-test\""), "kernel");
	CHECK(json_eq(json_object_get(inv, "iscsi_iqn"), "\"iqn.2024-01.test:node1\""), "iqn");
	CHECK(json_eq(json_object_get(inv, "nvme_nqn"),
		      "\"nqn.2014-08.org.nvmexpress:uuid:6b0c2c3e-0000-4000-8000-000000000001\""), "nqn");
	CHECK(json_eq(json_object_get(inv, "nvme_hostid"), "\"6b0c2c3e-0000-4000-8000-000000000001\""), "hostid");
	CHECK(json_eq(json_object_get(inv, "fc_wwpns"), "[\"0x21000024ff5a1b2c\",\"0x21000024ff5a1b2d\"]"), "wwpns");
	CHECK(json_eq(json_object_get(inv, "tools"),
		      "{\"blkid\":false,\"dlm_controld\":false,\"gfs2_jadd\":false,\"iscsiadm\":true,"
		      "\"mkfs.gfs2\":false,\"mkfs.ocfs2\":false,\"mount.cifs\":false,\"mount.nfs\":false,"
		      "\"multipath\":true,\"multipathd\":false,\"nvme\":true,\"tunefs.ocfs2\":false,\"virsh\":false}"),
	      "tools");
	CHECK(json_eq(json_object_get(inv, "modules"),
		      "{\"cifs\":\"missing\",\"dlm\":\"builtin\",\"dm_multipath\":\"available\",\"gfs2\":\"missing\","
		      "\"iscsi_tcp\":\"loaded\",\"nfs\":\"builtin\",\"nvme_tcp\":\"loaded\",\"ocfs2\":\"available\","
		      "\"ocfs2_stack_user\":\"available\"}"),
	      "modules");
	CHECK(json_eq(json_object_get(inv, "libvirtd"), "{\"answers\":true,\"uri\":\"test:///default\",\"version\":\"9.0.0\"}") ||
		      json_is_true(json_object_get(json_object_get(inv, "libvirtd"), "answers")),
	      "libvirt's test driver answers");
	CHECK(json_eq(json_object_get(inv, "problems"), "[]"), "no problems");
	CHECK(json_eq(json_object_get(inv, "os"), "{\"id\":\"fedora\",\"id_like\":null,\"pretty_name\":null,\"version_id\":\"40\"}"),
	      "os-release of the etc root");
	CHECK(json_is_array(json_object_get(inv, "addresses")), "addresses");
	/* compact JSON with sorted keys: the text is stable for the section */
	CHECK(res.text && res.text[0] == '{' && !strchr(res.text, '\n') && strstr(res.text, "\"addresses\"") < strstr(res.text, "\"backend\""),
	      "compact and sorted");
	free(res.text);

	/* invalid identities are reported, missing ones are not */
	write_file("etc/iscsi/initiatorname.iscsi", "InitiatorName=host01\n", 0600);
	write_file("etc/nvme/hostnqn", "not-an-nqn\n", 0644);
	remove_path("etc/nvme/hostid");
	o.libvirt_uri = "";
	json_decref(inv);
	inv = collect(&ctx, &o, &res);
	CHECK(inv && json_is_null(json_object_get(inv, "iscsi_iqn")) && json_is_null(json_object_get(inv, "nvme_nqn")) &&
		      json_is_null(json_object_get(inv, "nvme_hostid")) && json_is_null(json_object_get(inv, "libvirtd")),
	      "nulls");
	CHECK(inv && json_array_size(json_object_get(inv, "problems")) == 2, "two problems: %s", res.text);
	CHECK(res.text && strstr(res.text, "initiatorname.iscsi: \\\"host01\\\" is not an iSCSI name") &&
		      strstr(res.text, "hostnqn: \\\"not-an-nqn\\\" is not an NVMe qualified name"),
	      "problems name the file: %s", res.text);
	free(res.text);

	/* an empty tree: nothing known, nothing wrong */
	remove_path("etc");
	remove_path("sys");
	remove_path("proc");
	remove_path("lib");
	json_decref(inv);
	inv = collect(&ctx, &o, &res);
	CHECK(inv && json_is_null(json_object_get(inv, "iscsi_iqn")) &&
		      json_eq(json_object_get(inv, "fc_wwpns"), "[]") && json_eq(json_object_get(inv, "problems"), "[]") &&
		      json_eq(json_object_get(json_object_get(inv, "modules"), "dlm"), "\"missing\"") &&
		      json_is_null(json_object_get(inv, "os")),
	      "empty tree: %s", res.text);
	free(res.text);

	/* the simulated host: everything, but what it is told to lack; identities still read */
	make_tree();
	o.simulated = true;
	o.simulated_missing = " iscsiadm ,dm_multipath,nosuch";
	json_decref(inv);
	inv = collect(&ctx, &o, &res);
	CHECK(inv && json_eq(json_object_get(inv, "tools"),
			     "{\"blkid\":true,\"dlm_controld\":true,\"gfs2_jadd\":true,\"iscsiadm\":false,"
			     "\"mkfs.gfs2\":true,\"mkfs.ocfs2\":true,\"mount.cifs\":true,\"mount.nfs\":true,"
			     "\"multipath\":true,\"multipathd\":true,\"nvme\":true,\"tunefs.ocfs2\":true,\"virsh\":true}") &&
		      json_eq(json_object_get(inv, "modules"),
			      "{\"cifs\":\"loaded\",\"dlm\":\"loaded\",\"dm_multipath\":\"missing\",\"gfs2\":\"loaded\","
			      "\"iscsi_tcp\":\"loaded\",\"nfs\":\"loaded\",\"nvme_tcp\":\"loaded\",\"ocfs2\":\"loaded\","
			      "\"ocfs2_stack_user\":\"loaded\"}") &&
		      json_eq(json_object_get(inv, "iscsi_iqn"), "\"iqn.2024-01.test:node1\""),
	      "simulated: %s", res.text);
	free(res.text);
}

static void test_libvirt_down_and_hung(void)
{
	char etc[300], sys[300], uri[400], sock[300];
	struct host_ctx ctx = ctx_for(etc, sys);
	struct inventory_options o = { .tools_root = root, .kernel_release = "x", .hostname = "h" };
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct worker_stats st;
	struct result res;
	json_auto_t *inv = NULL;
	uint64_t t0, end;
	int srv, conn;

	/* nobody listens */
	snprintf(uri, sizeof(uri), "qemu+unix:///system?socket=%s/nothing.sock", root);
	o.libvirt_uri = uri;
	inv = collect(&ctx, &o, &res);
	CHECK(inv && json_is_false(json_object_get(json_object_get(inv, "libvirtd"), "answers")) &&
		      json_string_value(json_object_get(json_object_get(inv, "libvirtd"), "error")),
	      "down: %s", res.text);
	free(res.text);
	json_decref(inv);

	/* accepts and never answers: the probe's own deadline, the facts still come */
	snprintf(sock, sizeof(sock), "%s/hung.sock", root);
	CHECK(strlen(sock) < sizeof(sa.sun_path), "socket path fits");
	memcpy(sa.sun_path, sock, strlen(sock) < sizeof(sa.sun_path) ? strlen(sock) : sizeof(sa.sun_path) - 1);
	srv = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	CHECK(srv >= 0 && bind(srv, (struct sockaddr *)&sa, sizeof(sa)) == 0 && listen(srv, 4) == 0, "listen");
	snprintf(uri, sizeof(uri), "qemu+unix:///system?socket=%s", sock);
	o.libvirt_timeout_usec = 300 * USEC_PER_MSEC;
	t0 = now_usec();
	inv = collect(&ctx, &o, &res);
	CHECK(now_usec() - t0 < 3 * USEC_PER_SEC, "bounded by the probe's deadline");
	CHECK(inv && json_is_false(json_object_get(json_object_get(inv, "libvirtd"), "answers")) &&
		      strcmp(json_string_value(json_object_get(json_object_get(inv, "libvirtd"), "error")) ?: "",
			     "timed out after 0.3 s") == 0 &&
		      strcmp(json_string_value(json_object_get(json_object_get(inv, "libvirtd"), "uri")) ?: "", uri) == 0 &&
		      json_is_string(json_object_get(inv, "hostname")),
	      "hung: %s", res.text);
	free(res.text);
	/* let the stuck call end: the connection closes, libvirt gives up, the thread comes back
	 * and its job is freed on the loop */
	conn = accept4(srv, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
	if (conn >= 0)
		close(conn);
	close(srv);
	end = now_usec() + 10 * USEC_PER_SEC;
	do {
		sd_event_run(ev, 50 * USEC_PER_MSEC);
		worker_pool_stats(pool, &st);
	} while (st.abandoned && now_usec() < end);
	CHECK(st.abandoned == 0, "the stuck libvirt call returned");
}

static void test_bad_calls(void)
{
	struct host_ctx ctx = { .event = ev };
	struct result res = { 0 };

	CHECK(inventory_collect(&ctx, NULL, on_done, &res) == -EINVAL, "no worker pool");
	CHECK(inventory_collect(NULL, NULL, on_done, &res) == -EINVAL, "no ctx");
	CHECK(host_inventory_real.collect && strcmp(host_inventory_real.name, "real") == 0, "ops table");
}

int main(void)
{
	snprintf(root, sizeof(root), "/tmp/test-host-inventory.XXXXXX");
	if (!mkdtemp(root) || sd_event_default(&ev) < 0 || worker_pool_new(ev, 2, &pool) < 0)
		return 1;
	test_parse_iqn();
	test_addresses();
	test_duplicates();
	test_datastores_reconciled();
	test_os_release();
	test_collect_tree();
	test_libvirt_down_and_hung();
	test_bad_calls();
	worker_pool_free(pool);
	sd_event_unref(ev);
	if (!getenv("KEEP")) {
		char cmd[300];
		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", root);
		if (system(cmd) != 0)
			return 1;
	}
	return tap_done("test-host-inventory");
}
