/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * ONTAP client unit tests that need no simulator: error bodies and the errno translation, job
 * records, pagination merging, URL quoting/encoding, the retry policy, the credentials file
 * rules, and — against a local TCP listener that never answers — bounded concurrency and the
 * leader guard (refusal before sending, cancellation in flight and in the queue).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "macros.h"
#include "ontap.h"
#include "ontap-test.h"

static int failures;

#define CHECK(cond) do { \
	if (!(cond)) { fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond); failures++; } \
} while (0)
#define CHECK_STR(a, b) do { const char *_a = (a), *_b = (b); \
	if (!_a || !_b || strcmp(_a, _b) != 0) { \
		fprintf(stderr, "%s:%d: '%s' != '%s'\n", __FILE__, __LINE__, _a ?: "(null)", _b ?: "(null)"); failures++; } \
} while (0)

static json_t *J(const char *text)
{
	json_t *j = json_loads(text, 0, NULL);

	if (!j) {
		fprintf(stderr, "bad test json: %s\n", text);
		abort();
	}
	return j;
}

static void test_error_body(void)
{
	struct ontap_error e = {};
	json_auto_t *b = J("{\"error\":{\"message\":\"Initiator group \\\"ig1\\\" already contains initiator \\\"iqn.x\\\".\",\"code\":\"5374035\",\"target\":\"name\"}}");
	json_auto_t *bad = J("{\"error\":{\"code\":\"12x\",\"message\":7}}");
	json_auto_t *none = J("{\"records\":[]}");
	char buf[512];

	CHECK(ontap_parse_error_body(b, &e) == 0);
	CHECK(e.code == 5374035);
	CHECK_STR(e.code_text, "5374035");
	CHECK_STR(e.target, "name");
	CHECK(ontap_errno_from(CURLE_OK, 409, e.code, e.message) == -EEXIST);
	e.http_status = 409;
	e.error = -EEXIST;
	ontap_error_set_object(&e, "initiator 'iqn.x'");
	ontap_error_format(&e, buf, sizeof buf);
	CHECK(strstr(buf, "initiator 'iqn.x': Initiator group") && strstr(buf, "5374035") && strstr(buf, "HTTP 409"));
	ontap_error_clear(&e);

	CHECK(ontap_parse_error_body(bad, &e) == 0);
	CHECK(e.code == 0 && e.code_text[0] == '\0' && e.message == NULL);
	ontap_error_clear(&e);
	CHECK(ontap_parse_error_body(none, &e) == -ENOMSG);
	CHECK(ontap_parse_error_body(NULL, &e) == -ENOMSG);
}

static void test_errno(void)
{
	CHECK(ontap_errno_from(CURLE_OK, 200, 0, NULL) == 0);
	CHECK(ontap_errno_from(CURLE_COULDNT_CONNECT, 0, 0, NULL) == -ECONNREFUSED);
	CHECK(ontap_errno_from(CURLE_PEER_FAILED_VERIFICATION, 0, 0, NULL) == -EBADE);
	CHECK(ontap_errno_from(CURLE_GOT_NOTHING, 0, 0, NULL) == -ECONNRESET);
	CHECK(ontap_errno_from(CURLE_OPERATION_TIMEDOUT, 0, 0, NULL) == -ETIMEDOUT);
	CHECK(ontap_errno_from(CURLE_OK, 401, 6, "Authentication failed.") == -EKEYREJECTED &&
	      ontap_errno_from(CURLE_OK, 401, 0, NULL) == -EKEYREJECTED);
	CHECK(ontap_errno_from(CURLE_OK, 401, 0, NULL) == -EKEYREJECTED);
	CHECK(ontap_errno_from(CURLE_OK, 403, 6, NULL) == -EACCES);
	CHECK(ontap_errno_from(CURLE_OK, 404, 4, NULL) == -ENOENT);
	CHECK(ontap_errno_from(CURLE_OK, 404, 0, NULL) == -ENOENT);
	CHECK(ontap_errno_from(CURLE_OK, 409, ONTAP_E_LUN_MAPPED, NULL) == -EBUSY);
	CHECK(ontap_errno_from(CURLE_OK, 400, ONTAP_E_LUN_SHRINK, NULL) == -EINVAL);
	CHECK(ontap_errno_from(CURLE_OK, 429, ONTAP_E_TOO_MANY_REQUESTS, NULL) == -EAGAIN);
	CHECK(ontap_errno_from(CURLE_OK, 503, 262145, NULL) == -EAGAIN);
	CHECK(ontap_errno_from(CURLE_OK, 500, ONTAP_E_NO_SPACE, NULL) == -ENOSPC);
	CHECK(ontap_errno_from(CURLE_OK, 400, 917534, NULL) == -EINVAL);
	CHECK(ontap_errno_from(CURLE_OK, 500, 262145, "Volume is temporarily locked") == -EAGAIN);
	CHECK(ontap_errno_from(CURLE_OK, 0, 460770, "job failed") == -EIO);  /* failed job, unknown code */
	CHECK(ontap_errno_from(CURLE_OK, 500, 0, NULL) == -EIO);
}

static void test_jobs(void)
{
	json_auto_t *ref = J("{\"job\":{\"uuid\":\"1cd8a442-86d1-11e0-ae1c-123478563412\",\"_links\":{\"self\":{\"href\":\"/api/cluster/jobs/1cd8a442-86d1-11e0-ae1c-123478563412\"}}}}");
	json_auto_t *refs = J("{\"jobs\":[{\"uuid\":\"abc-1\"}],\"num_records\":1}");
	json_auto_t *evil = J("{\"job\":{\"uuid\":\"../../etc?x\"}}");
	json_auto_t *fail = J("{\"uuid\":\"a\",\"state\":\"failure\",\"code\":917534,\"message\":\"Size too small\"}");
	json_auto_t *fail2 = J("{\"state\":\"failure\",\"error\":{\"code\":\"525059\",\"message\":\"dup\"}}");
	json_auto_t *run = J("{\"state\":\"running\"}");
	json_auto_t *weird = J("{\"state\":\"exploded\"}");
	struct ontap_job j;
	char uuid[64];

	CHECK(ontap_parse_job_ref(ref, uuid, sizeof uuid) == 0);
	CHECK_STR(uuid, "1cd8a442-86d1-11e0-ae1c-123478563412");
	CHECK(ontap_parse_job_ref(refs, uuid, sizeof uuid) == 0);
	CHECK_STR(uuid, "abc-1");
	CHECK(ontap_parse_job_ref(evil, uuid, sizeof uuid) < 0);
	CHECK(ontap_parse_job_ref(run, uuid, sizeof uuid) == -ENOMSG);
	CHECK(ontap_parse_job(fail, &j) == 0 && j.state == ONTAP_JOB_FAILURE && j.code == 917534);
	CHECK_STR(j.message, "Size too small");
	CHECK(ontap_parse_job(fail2, &j) == 0 && j.code == 525059);
	CHECK_STR(j.message, "dup");
	CHECK(ontap_parse_job(run, &j) == 0 && j.state == ONTAP_JOB_RUNNING && !ontap_job_state_terminal(j.state));
	CHECK(ontap_parse_job(weird, &j) == -EBADMSG);
}

static void test_pages(void)
{
	json_auto_t *acc = json_array();
	json_auto_t *p1 = J("{\"records\":[{\"name\":\"a\"},{\"name\":\"b\"}],\"num_records\":2,"
			    "\"_links\":{\"next\":{\"href\":\"/api/storage/volumes?start.uuid=x&max_records=2\"}}}");
	json_auto_t *p2 = J("{\"records\":[{\"name\":\"c\"}],\"_links\":{\"next\":{\"href\":\"/api/storage/volumes?start.uuid=y\"}}}");
	json_auto_t *p3 = J("{\"records\":[],\"num_records\":0,\"_links\":{\"next\":{\"href\":\"/api/storage/volumes?start.uuid=z\"}}}");
	json_auto_t *evil = J("{\"records\":[{}],\"_links\":{\"next\":{\"href\":\"https://evil.example/api/x\"}}}");
	json_auto_t *badrec = J("{\"records\":{\"name\":\"a\"}}");
	char *next = NULL;

	CHECK(ontap_page_merge(acc, p1, &next) == 2);
	CHECK_STR(next, "/api/storage/volumes?start.uuid=x&max_records=2");
	free(next);
	/* num_records missing: counted from records */
	CHECK(ontap_page_merge(acc, p2, &next) == 1);
	CHECK(next != NULL);
	free(next);
	/* empty page ends the walk although it has a next */
	CHECK(ontap_page_merge(acc, p3, &next) == 0);
	CHECK(next == NULL);
	CHECK(json_array_size(acc) == 3);
	CHECK(ontap_page_merge(acc, evil, &next) == -EBADMSG);
	CHECK(ontap_page_merge(acc, badrec, &next) == -EBADMSG);
}

static void test_url(void)
{
	char *q = NULL, *e;

	CHECK(ontap_query_add(&q, "name", "/vol/ds1/lun0", false) == 0);
	CHECK_STR(q, "name=%2Fvol%2Fds1%2Flun0");
	CHECK(ontap_query_add(&q, "svm.name", "svm1", false) == 0);
	CHECK_STR(q, "name=%2Fvol%2Fds1%2Flun0&svm.name=svm1");
	free(q);
	q = NULL;
	/* operators are quoted when meant literally */
	CHECK(ontap_query_add(&q, "name", "a*b|c", false) == 0);
	CHECK_STR(q, "name=%22a%2Ab%7Cc%22");
	free(q);
	q = NULL;
	CHECK(ontap_query_add(&q, "name", "v..1", false) == 0);
	CHECK_STR(q, "name=%22v..1%22");
	free(q);
	q = NULL;
	CHECK(ontap_query_add(&q, "name", "null", false) == 0);
	CHECK_STR(q, "name=%22null%22");
	free(q);
	q = NULL;
	CHECK(ontap_query_add(&q, "name", "ds*", true) == 0);
	CHECK_STR(q, "name=ds%2A");
	free(q);
	q = NULL;
	CHECK(ontap_query_add(&q, "comment", "say \"hi\", ok", false) == 0);
	CHECK_STR(q, "comment=%7Bsay%20%22hi%22%2C%20ok%7D");
	free(q);
	q = NULL;
	CHECK(ontap_query_add(&q, "x", "a\"}b,", false) == -EINVAL);
	free(q);
	e = ontap_url_encode("iqn.1994-05.com.redhat:abc", true);
	CHECK_STR(e, "iqn%2E1994-05%2Ecom%2Eredhat%3Aabc");
	free(e);
	e = ontap_url_encode("..", true);
	CHECK_STR(e, "%2E%2E");
	free(e);
}

static void test_retry(void)
{
	struct ontap_retry_policy p = ONTAP_RETRY_POLICY_DEFAULT;
	struct ontap_retry_input in = { .retry_after_sec = -1, .attempts = 1, .random = 0.5 };
	uint64_t d, prev = 0;

	in.http_status = 429;
	d = ontap_retry_delay(&p, &in);
	CHECK(d >= p.base_usec / 2 && d <= p.base_usec);
	in.retry_after_sec = 3;
	CHECK(ontap_retry_delay(&p, &in) == 3000000);
	in.retry_after_sec = 100;   /* beyond the budget */
	CHECK(ontap_retry_delay(&p, &in) == 0);
	in.retry_after_sec = -1;
	/* backoff grows, is capped, stops at max_attempts */
	for (unsigned a = 1; a < p.max_attempts; a++) {
		in.attempts = a;
		in.random = 0.999;
		d = ontap_retry_delay(&p, &in);
		CHECK(d > 0 && d <= p.max_delay_usec && d >= prev);
		prev = d;
	}
	in.attempts = p.max_attempts;
	CHECK(ontap_retry_delay(&p, &in) == 0);
	in.attempts = 1;
	in.elapsed_usec = p.budget_usec;
	CHECK(ontap_retry_delay(&p, &in) == 0);
	in.elapsed_usec = 0;

	in.http_status = 503;
	in.mutating = true;
	CHECK(ontap_retry_delay(&p, &in) > 0);          /* ONTAP refused before acting */
	in.http_status = 500;
	CHECK(ontap_retry_delay(&p, &in) == 0);
	in.message = "Volume vol1 is temporarily locked";
	CHECK(ontap_retry_delay(&p, &in) > 0);
	in.message = NULL;
	in.http_status = 409;
	CHECK(ontap_retry_delay(&p, &in) == 0);
	in.http_status = 400;
	CHECK(ontap_retry_delay(&p, &in) == 0);

	/* transport */
	in.http_status = 0;
	in.curl_code = CURLE_COULDNT_CONNECT;
	CHECK(ontap_retry_delay(&p, &in) > 0);          /* never reached the server */
	in.curl_code = CURLE_GOT_NOTHING;
	in.sent = true;
	CHECK(ontap_retry_delay(&p, &in) == 0);         /* a plain mutation may have happened */
	in.idempotent = true;
	CHECK(ontap_retry_delay(&p, &in) > 0);          /* an ensure can be resent */
	in.idempotent = false;
	in.sent = false;
	CHECK(ontap_retry_delay(&p, &in) > 0);          /* nothing left us */
	in.mutating = false;
	in.sent = true;
	CHECK(ontap_retry_delay(&p, &in) > 0);          /* GETs always */
	in.curl_code = CURLE_PEER_FAILED_VERIFICATION;
	CHECK(ontap_retry_delay(&p, &in) == 0);         /* never retry an untrusted peer */
}

static void test_wwid(void)
{
	char buf[64];

	CHECK(ontap_lun_wwid("80D3A+LXmTbC", buf, sizeof buf) == 0);
	CHECK_STR(buf, "3600a098038304433412b4c586d546243");
	CHECK(ontap_lun_wwid("short", buf, sizeof buf) == -EINVAL);
	CHECK(ontap_lun_wwid("80D3A+LXmTbC", buf, 20) == -EINVAL);
}

static void write_file(const char *path, const char *text, mode_t mode)
{
	FILE *f = fopen(path, "w");

	if (!f)
		abort();
	fputs(text, f);
	fclose(f);
	chmod(path, mode);
}

static void test_credentials(const char *dir)
{
	char path[512], *u = NULL, *p = NULL;
	struct ontap_error e = {};

	snprintf(path, sizeof path, "%s/creds", dir);
	write_file(path, "# kvmcd\nusername=admin\npassword=s3cret!\n", 0600);
	CHECK(ontap_credentials_load(path, getuid(), &u, &p, &e) == 0);
	CHECK_STR(u, "admin");
	CHECK_STR(p, "s3cret!");
	free(u);
	free(p);

	chmod(path, 0644);
	CHECK(ontap_credentials_load(path, getuid(), &u, &p, &e) == -EPERM);
	CHECK(e.message && strstr(e.message, path) && strstr(e.message, "0644"));
	CHECK(e.message && !strstr(e.message, "s3cret"));
	ontap_error_clear(&e);
	chmod(path, 0620);
	CHECK(ontap_credentials_load(path, getuid(), &u, &p, &e) == -EPERM);
	ontap_error_clear(&e);
	chmod(path, 0400);
	CHECK(ontap_credentials_load(path, getuid() + 1, &u, &p, &e) == -EPERM);
	CHECK(e.message && strstr(e.message, "owned by uid"));
	ontap_error_clear(&e);

	write_file(path, "username=admin\npasword=typo-secret\n", 0600);
	CHECK(ontap_credentials_load(path, getuid(), &u, &p, &e) == -EINVAL);
	CHECK(e.message && !strstr(e.message, "typo-secret"));
	ontap_error_clear(&e);
	CHECK(ontap_credentials_load("/nonexistent/creds", 0, &u, &p, &e) == -ENOENT);
	ontap_error_clear(&e);
}

/* ---------------------------------------------------------------- guard and queue, no server */

struct result {
	int calls;
	int r;
};

static void on_req(struct ontap_client *c, int r, const struct ontap_reply *reply, void *userdata)
{
	struct result *res = userdata;

	res->calls++;
	res->r = r;
}

static int on_timeout(sd_event_source *s, uint64_t usec, void *userdata)
{
	*(bool *) userdata = true;
	return 0;
}

/* Not sd_event_exit(): an exited loop cannot be run again. */
static void run_for(sd_event *ev, uint64_t usec)
{
	sd_event_source *t = NULL;
	bool done = false;

	sd_event_add_time_relative(ev, &t, CLOCK_MONOTONIC, usec, 0, on_timeout, &done);
	while (!done)
		sd_event_run(ev, UINT64_MAX);
	sd_event_source_unref(t);
}

static void test_guard_and_queue(const char *dir)
{
	_cleanup_close_ int lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t sl = sizeof sa;
	char addr[64], creds[512];
	struct ontap_options o = {};
	struct ontap_client *c = NULL;
	struct ontap_client_stats st;
	struct result gets[10] = {}, post = {}, refused = {}, queued_post = {};
	sd_event *ev = NULL;

	/* A listener that accepts (backlog) and never answers: requests stay in flight. */
	CHECK(bind(lfd, (struct sockaddr *) &sa, sizeof sa) == 0);
	CHECK(listen(lfd, 64) == 0);
	getsockname(lfd, (struct sockaddr *) &sa, &sl);
	snprintf(addr, sizeof addr, "127.0.0.1:%u", ntohs(sa.sin_port));
	snprintf(creds, sizeof creds, "%s/creds-guard", dir);
	write_file(creds, "username=u\npassword=p\n", 0600);
	ontap_options_clear(&o);
	o.address = strdup(addr);
	o.svm = strdup("svm1");
	o.credentials_file = strdup(creds);
	o.max_concurrency = 3;

	CHECK(sd_event_new(&ev) >= 0);
	CHECK(ontap_client_new_for_test(&c, ev, &o, "node-a", getuid(), NULL) == 0);
	if (!c)
		goto out;

	/* not leader: mutations are refused before anything is queued */
	CHECK(ontap_client_request(c, "POST", "/storage/volumes", NULL, 0, 1, on_req, &refused) == -ESTALE);
	CHECK(refused.calls == 0);
	ontap_client_set_epoch(c, 7, true);
	CHECK(ontap_client_request(c, "POST", "/storage/volumes", NULL, 0, 6, on_req, &refused) == -ESTALE);

	for (size_t i = 0; i < ARRAY_SIZE(gets); i++)
		CHECK(ontap_client_request(c, "GET", "/storage/volumes", NULL, 0, 0, on_req, &gets[i]) == 0);
	CHECK(ontap_client_request(c, "POST", "/storage/volumes", NULL, 0, 7, on_req, &queued_post) == 0);
	run_for(ev, 200 * 1000);
	ontap_client_get_stats(c, &st);
	CHECK(st.in_flight == 3);
	CHECK(st.max_in_flight_seen == 3);
	CHECK(st.queued == 8);
	CHECK(queued_post.calls == 0);

	/* losing leadership cancels the queued mutation, reads continue */
	ontap_client_set_epoch(c, 8, true);
	CHECK(queued_post.calls == 1 && queued_post.r == -ESTALE);
	for (size_t i = 0; i < ARRAY_SIZE(gets); i++)
		CHECK(gets[i].calls == 0);
	ontap_client_free(c);
	c = NULL;
	for (size_t i = 0; i < ARRAY_SIZE(gets); i++)
		CHECK(gets[i].calls == 1 && gets[i].r == -ECANCELED);

	/* an in-flight mutation is removed from curl and completed with -ESTALE */
	o.max_concurrency = 8;
	CHECK(ontap_client_new_for_test(&c, ev, &o, "node-a", getuid(), NULL) == 0);
	ontap_client_set_epoch(c, 9, true);
	{
		int pr = ontap_client_request(c, "PATCH", "/storage/volumes/x", NULL, 0, 9, on_req, &post);

		if (pr != 0)
			fprintf(stderr, "PATCH submit: %s\n", strerror(-pr));
		CHECK(pr == 0);
	}
	run_for(ev, 200 * 1000);
	ontap_client_get_stats(c, &st);
	CHECK(st.in_flight == 1 && post.calls == 0);
	ontap_client_set_epoch(c, 9, false);
	CHECK(post.calls == 1 && post.r == -ESTALE);
	ontap_client_get_stats(c, &st);
	CHECK(st.in_flight == 0);
	/* typed ops refuse synchronously too */
	CHECK(ontap_volume_delete(c, "ds1", (ontap_done_fn) abort, NULL) == -ESTALE);

	/* field gating by discovered version */
	{
		static const struct ontap_field_gate g[] = { { "a.new", 9, 16, 1 }, { "b.old", 9, 8, 0 } };
		char *f = ontap_fields_for(c, "uuid,name", g, ARRAY_SIZE(g));

		CHECK_STR(f, "uuid,name");   /* version unknown: nothing gated */
		free(f);
		ontap_client_set_version(c, &(struct ontap_version) { 9, 14, 1, "NetApp Release 9.14.1" });
		f = ontap_fields_for(c, "uuid,name", g, ARRAY_SIZE(g));
		CHECK_STR(f, "uuid,name,b.old");
		free(f);
		ontap_client_set_version(c, &(struct ontap_version) { 9, 16, 1, "NetApp Release 9.16.1" });
		f = ontap_fields_for(c, "uuid,name", g, ARRAY_SIZE(g));
		CHECK_STR(f, "uuid,name,a.new,b.old");
		free(f);
		CHECK(ontap_client_version_at_least(c, 9, 16, 0) && !ontap_client_version_at_least(c, 9, 17, 0));
	}
out:
	ontap_client_free(c);
	sd_event_unref(ev);
	ontap_options_clear(&o);
}

int main(void)
{
	char dir[] = "/tmp/test-ontap-unit.XXXXXX";

	if (!mkdtemp(dir))
		return 1;
	test_error_body();
	test_errno();
	test_jobs();
	test_pages();
	test_url();
	test_retry();
	test_wwid();
	test_credentials(dir);
	test_guard_and_queue(dir);
	{
		char cmd[600];

		snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
		(void) !system(cmd);
	}
	if (failures) {
		fprintf(stderr, "%d check(s) failed\n", failures);
		return 1;
	}
	printf("all ontap unit checks passed\n");
	return 0;
}
