/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * resources/host/domain.c: kvmcd's domain XML (the user's devices untouched, kvmcd's metadata
 * added) and the domain hooks through the real worker pool against libvirt's test driver
 * ("test:///default", in this process): define is idempotent and never autostarts, a domain
 * that is not kvmcd's is left alone, start / stop / undefine probe first.
 */
#include <string.h>
#include <time.h>

#include <jansson.h>
#ifdef HAVE_LIBVIRT
#include <libvirt/libvirt.h>
#endif

#include "domain.h"
#include "macros.h"
#include "tap.h"
#include "worker.h"

#define MSEC USEC_PER_MSEC
#define SEC USEC_PER_SEC

#define UUID "3b1f5a52-8c1e-4d7a-9f0e-2a6c4b8d9e01"

static sd_event *ev;
static struct host_ctx ctx;

static const char *const USER_XML =
	"<domain type='test'>\n"
	"  <name>vm1</name>\n"
	"  <memory unit='MiB'>32</memory>\n"
	"  <vcpu>1</vcpu>\n"
	"  <os><type>hvm</type></os>\n"
	"  <devices>\n"
	"    <disk type='file' device='disk'><source file='/srv/kvmcd/ds1/vm1.img'/><target dev='vda'/></disk>\n"
	"  </devices>\n"
	"</domain>\n";

struct result {
	unsigned calls;
	int r;
	char detail[8192];
};

static void on_done(void *userdata, int r, const char *detail)
{
	struct result *res = userdata;

	res->calls++;
	res->r = r;
	snprintf(res->detail, sizeof res->detail, "%s", detail ? detail : "(null)");
}

static uint64_t now_usec(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * SEC + (uint64_t)ts.tv_nsec / 1000;
}

#define RUN(res, call) do { \
	res = (struct result){ 0 }; \
	int _k = (call); \
	CHECK(_k == 0, "%s returned %d", #call, _k); \
	uint64_t _end = now_usec() + 10 * SEC; \
	while (_k == 0 && res.calls == 0 && now_usec() < _end) \
		sd_event_run(ev, 10 * MSEC); \
	for (int _i = 0; _i < 5; _i++) \
		sd_event_run(ev, 0); \
	CHECK(_k != 0 || res.calls == 1, "%s: %u callbacks", #call, res.calls); \
} while (0)

static void test_xml(void)
{
	_cleanup_free_ char *x = NULL, *again = NULL;
	char sha[65];

	CHECK(host_domain_xml(USER_XML, UUID, &x) == 0, "xml");
	host_domain_sha256(USER_XML, sha);
	CHECK(x && strstr(x, sha), "the metadata carries sha256(user xml): %s", x ? x : "");
	CHECK(x && strstr(x, "xmlns:kvmcd=\"" HOST_DOMAIN_XMLNS "\""), "namespace: %s", x ? x : "");
	CHECK(x && strstr(x, "<source file=\"/srv/kvmcd/ds1/vm1.img\"/>"), "the user's disk kept: %s", x ? x : "");
	CHECK(x && strstr(x, "<uuid>" UUID "</uuid>"), "the cluster's uuid added: %s", x ? x : "");
	{
		_cleanup_free_ char *own = NULL;
		CHECK(host_domain_xml("<domain><name>a</name><uuid>11111111-2222-4333-8444-555555555555</uuid></domain>", UUID, &own) == 0 &&
		      own && !strstr(own, UUID), "the user's own uuid kept: %s", own ? own : "");
	}
	/* a definition copied back (with our element) gets ONE element, for the new content */
	CHECK(host_domain_xml(x, UUID, &again) == 0, "again");
	{
		const char *first = again ? strstr(again, "<kvmcd:vm") : NULL;
		CHECK(first && !strstr(first + 1, "<kvmcd:vm"), "exactly one kvmcd element: %s", again ? again : "");
	}
	_cleanup_free_ char *bad = NULL;
	CHECK(host_domain_xml("<network><name>x</name></network>", UUID, &bad) == -EINVAL, "not a domain");
	CHECK(host_domain_xml("<domain><name>x</name>", UUID, &bad) == -EINVAL, "not XML");
	CHECK(host_domain_xml("<!DOCTYPE d [<!ENTITY e SYSTEM 'file:///etc/passwd'>]><domain>&e;</domain>", UUID, &bad) != 0 ||
	      (bad && !strstr(bad, "root:")), "no external entity is read");
}

#ifdef HAVE_LIBVIRT
static json_t *listing(void)
{
	struct result res;
	json_error_t e;

	RUN(res, host_domain_libvirt_ops.list(&ctx, on_done, &res));
	CHECK(res.r == 0, "list: %d %s", res.r, res.detail);
	return json_loads(res.detail, 0, &e);
}

static void test_hooks(void)
{
	struct result res;
	/* the test driver keeps its state while one connection is open (as libvirtd does) */
	virConnectPtr keep = virConnectOpen("test:///default");
	_cleanup_free_ char *xml = NULL, *xml2 = NULL;
	char sha[65];

	CHECK(keep != NULL, "test:///default");
	if (!keep)
		return;
	ctx.libvirt_uri = "test:///default";
	CHECK(host_domain_xml(USER_XML, UUID, &xml) == 0, "xml");
	host_domain_sha256(USER_XML, sha);

	RUN(res, host_domain_libvirt_ops.start(&ctx, "vm1", on_done, &res));
	CHECK(res.r == -ENOENT, "start of an undefined domain: %d %s", res.r, res.detail);
	RUN(res, host_domain_libvirt_ops.define(&ctx, "vm1", xml, on_done, &res));
	CHECK(res.r == 0 && !strcmp(res.detail, "defined"), "define: %d %s", res.r, res.detail);
	RUN(res, host_domain_libvirt_ops.define(&ctx, "vm1", xml, on_done, &res));
	CHECK(res.r == 0 && !strcmp(res.detail, "unchanged"), "define again: %d %s", res.r, res.detail);
	{
		json_auto_t *l = listing();
		json_t *v = json_object_get(l, "vm1");
		CHECK(v && !strcmp(json_string_value(json_object_get(v, "state")), "shutoff"), "vm1 shut off");
		CHECK(json_is_true(json_object_get(v, "persistent")) && json_is_false(json_object_get(v, "autostart")),
		      "persistent, never autostarted");
		CHECK(!strcmp(json_string_value(json_object_get(v, "spec_sha256")) ?: "", sha), "vm1's spec sha");
		/* the test driver's own domain is listed, and is not kvmcd's */
		CHECK(json_is_null(json_object_get(json_object_get(l, "test"), "spec_sha256")), "'test' is not kvmcd's");
	}
	/* a domain that is not kvmcd's is never redefined */
	{
		_cleanup_free_ char *x = NULL;
		CHECK(host_domain_xml("<domain type='test'><name>test</name><memory>8192</memory><os><type>hvm</type></os></domain>", UUID, &x) == 0, "x");
		RUN(res, host_domain_libvirt_ops.define(&ctx, "test", x, on_done, &res));
		CHECK(res.r == -EEXIST && strstr(res.detail, "not kvmcd's"), "someone else's: %d %s", res.r, res.detail);
	}
	/* the spec changes: redefined */
	{
		char *changed = strdup(USER_XML);
		char *m = strstr(changed, ">32<");
		memcpy(m, ">64<", 4);
		CHECK(host_domain_xml(changed, UUID, &xml2) == 0, "xml2");
		free(changed);
		RUN(res, host_domain_libvirt_ops.define(&ctx, "vm1", xml2, on_done, &res));
		CHECK(res.r == 0 && !strcmp(res.detail, "defined"), "redefine: %d %s", res.r, res.detail);
	}
	RUN(res, host_domain_libvirt_ops.start(&ctx, "vm1", on_done, &res));
	CHECK(res.r == 0 && !strcmp(res.detail, "started"), "start: %d %s", res.r, res.detail);
	RUN(res, host_domain_libvirt_ops.start(&ctx, "vm1", on_done, &res));
	CHECK(res.r == 0 && !strcmp(res.detail, "running"), "start again: %d %s", res.r, res.detail);
	/* a paused domain is listed with why (the test driver's suspend: "user"); resume runs it,
	 * and is a no-op on a running one */
	{
		virDomainPtr dom = virDomainLookupByName(keep, "vm1");
		CHECK(dom && virDomainSuspend(dom) == 0, "suspend vm1 (test driver)");
		json_auto_t *l = listing();
		json_t *v = json_object_get(l, "vm1");
		CHECK(!strcmp(json_string_value(json_object_get(v, "state")) ?: "", "paused") &&
		      !strcmp(json_string_value(json_object_get(v, "reason")) ?: "", "user"), "paused, reason user: %s",
		      json_string_value(json_object_get(v, "reason")) ?: "(none)");
		/* fs freeze / thaw (issue 10): the probe names what never reaches a guest agent */
		RUN(res, host_domain_libvirt_ops.fs_freeze(&ctx, "vm1", 3 * SEC, on_done, &res));
		CHECK(res.r == -EAGAIN && !strcmp(host_domain_agent_result(res.r), "paused") && strstr(res.detail, "(user)"),
		      "freeze a paused domain: %d %s", res.r, res.detail);
		RUN(res, host_domain_libvirt_ops.resume(&ctx, "vm1", on_done, &res));
		CHECK(res.r == 0 && !strcmp(res.detail, "resumed"), "resume: %d %s", res.r, res.detail);
		RUN(res, host_domain_libvirt_ops.fs_freeze(&ctx, "vm1", 3 * SEC, on_done, &res));
		CHECK(res.r == -EOPNOTSUPP && !strcmp(host_domain_agent_result(res.r), "no-agent"),
		      "freeze a domain without the agent channel: %d %s", res.r, res.detail);
		RUN(res, host_domain_libvirt_ops.fs_thaw(&ctx, "nosuch", 3 * SEC, on_done, &res));
		CHECK(res.r == -ENOENT && !strcmp(host_domain_agent_result(res.r), "not-defined"), "thaw an undefined domain: %d %s",
		      res.r, res.detail);
		CHECK(host_domain_libvirt_ops.fs_freeze(&ctx, "vm1", 0, on_done, &res) == -EINVAL, "freeze without a deadline");
		json_auto_t *l2 = listing();
		v = json_object_get(l2, "vm1");
		CHECK(!strcmp(json_string_value(json_object_get(v, "state")) ?: "", "running") && !json_object_get(v, "reason"),
		      "running again, no pause reason");
		RUN(res, host_domain_libvirt_ops.resume(&ctx, "vm1", on_done, &res));
		CHECK(res.r == 0 && !strcmp(res.detail, "running"), "resume a running domain: %d %s", res.r, res.detail);
		RUN(res, host_domain_libvirt_ops.resume(&ctx, "nosuch", on_done, &res));
		CHECK(res.r == -ENOENT, "resume an undefined domain: %d %s", res.r, res.detail);
		if (dom)
			virDomainFree(dom);
	}
	/* migrate: the test driver has no migration, so only what kvmcd does around it shows: the
	 * call is made (and fails with libvirt's words, the target named), nothing is left behind,
	 * the domain still runs here; abort without a job is a no-op */
	{
		struct host_migration m = { .name = "vm1", .dest_uri = "test+tcp://n2/default", .max_downtime_ms = 50,
					    .deadline_usec = 5 * SEC };
		RUN(res, host_domain_libvirt_ops.migrate(&ctx, &m, on_done, &res));
		CHECK(res.r < 0 && strstr(res.detail, "migration to test+tcp://n2/default"), "migrate (unsupported here): %d %s",
		      res.r, res.detail);
		json_auto_t *l = listing();
		CHECK(!strcmp(json_string_value(json_object_get(json_object_get(l, "vm1"), "state")) ?: "", "running"),
		      "vm1 still runs after the failed migration");
		RUN(res, host_domain_libvirt_ops.abort_job(&ctx, "vm1", on_done, &res));
		CHECK(res.r == 0 && !strcmp(res.detail, "no job"), "abort without a job: %d %s", res.r, res.detail);
		RUN(res, host_domain_libvirt_ops.abort_job(&ctx, "nosuch", on_done, &res));
		CHECK(res.r == 0 && !strcmp(res.detail, "no job"), "abort of an absent domain: %d %s", res.r, res.detail);
		m.name = "nosuch";
		RUN(res, host_domain_libvirt_ops.migrate(&ctx, &m, on_done, &res));
		CHECK(res.r == -ENOENT, "migrate an undefined domain: %d %s", res.r, res.detail);
		m.name = "vm1";
		m.deadline_usec = 0;
		CHECK(host_domain_libvirt_ops.migrate(&ctx, &m, on_done, &res) == -EINVAL, "migrate without a deadline");
		m.deadline_usec = SEC;
		m.dest_uri = NULL;
		CHECK(host_domain_libvirt_ops.migrate(&ctx, &m, on_done, &res) == -EINVAL, "migrate without a target");
	}
	RUN(res, host_domain_libvirt_ops.undefine(&ctx, "vm1", on_done, &res));
	CHECK(res.r == -EBUSY, "undefine while running: %d %s", res.r, res.detail);
	RUN(res, host_domain_libvirt_ops.stop(&ctx, "vm1", 5, on_done, &res));
	CHECK(res.r == 0 && (!strcmp(res.detail, "stopped") || !strcmp(res.detail, "destroyed")), "stop: %d %s", res.r,
	      res.detail);
	RUN(res, host_domain_libvirt_ops.stop(&ctx, "vm1", 5, on_done, &res));
	CHECK(res.r == 0 && !strcmp(res.detail, "not running"), "stop again: %d %s", res.r, res.detail);
	RUN(res, host_domain_libvirt_ops.resume(&ctx, "vm1", on_done, &res));
	CHECK(res.r == -ESRCH && strstr(res.detail, "not paused"), "resume a shut-off domain: %d %s", res.r, res.detail);
	RUN(res, host_domain_libvirt_ops.start(&ctx, "vm1", on_done, &res));
	RUN(res, host_domain_libvirt_ops.stop(&ctx, "vm1", 0, on_done, &res));
	CHECK(res.r == 0 && !strcmp(res.detail, "destroyed"), "stop without grace: %d %s", res.r, res.detail);
	{
		struct host_migration m = { .name = "vm1", .dest_uri = "test+tcp://n2/default", .deadline_usec = 5 * SEC };
		RUN(res, host_domain_libvirt_ops.migrate(&ctx, &m, on_done, &res));
		CHECK(res.r == -ESRCH && strstr(res.detail, "does not run here"), "migrate a shut-off domain: %d %s", res.r,
		      res.detail);
	}
	RUN(res, host_domain_libvirt_ops.undefine(&ctx, "vm1", on_done, &res));
	CHECK(res.r == 0 && !strcmp(res.detail, "undefined"), "undefine: %d %s", res.r, res.detail);
	RUN(res, host_domain_libvirt_ops.undefine(&ctx, "vm1", on_done, &res));
	CHECK(res.r == 0 && !strcmp(res.detail, "not defined"), "undefine again: %d %s", res.r, res.detail);
	RUN(res, host_domain_libvirt_ops.stop(&ctx, "nosuch", 1, on_done, &res));
	CHECK(res.r == 0, "stop of an absent domain: %d %s", res.r, res.detail);

	/* a libvirt that cannot be reached: a clear error, the URI named */
	ctx.libvirt_uri = "test:///nonexistent/kvmcd-test.xml";
	RUN(res, host_domain_libvirt_ops.list(&ctx, on_done, &res));
	CHECK(res.r < 0 && strstr(res.detail, "test:///nonexistent"), "unreachable: %d %s", res.r, res.detail);
	virConnectClose(keep);
}
#endif

int main(void)
{
	struct worker_pool *workers;

	if (sd_event_new(&ev) < 0 || worker_pool_new(ev, 2, &workers) < 0)
		return 2;
	ctx = (struct host_ctx){ .event = ev, .workers = workers, .step_timeout_usec = 30 * SEC, .node_name = "n1" };
	test_xml();
#ifdef HAVE_LIBVIRT
	test_hooks();
#endif
	worker_pool_free(workers);
	sd_event_unref(ev);
	return tap_done("test-host-domain");
}
