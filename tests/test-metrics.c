/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The metrics renderer (agent/metrics.h) and the [metrics] listen value: what a Prometheus
 * scrape must get whatever the state looks like. (The format itself is checked by promtool on
 * a real cluster: multinode-metrics.) */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "metrics-options.h"
#include "metrics.h"

static int failures;
#define CHECK(c)                                                                                   \
	do {                                                                                       \
		if (!(c)) {                                                                        \
			fprintf(stderr, "%s:%d: CHECK(%s) failed\n", __FILE__, __LINE__, #c);      \
			failures++;                                                                \
		}                                                                                  \
	} while (0)

static char *render_text(const char *json)
{
	json_error_t e;
	json_t *in = json_loads(json, 0, &e);
	char *text = NULL;

	if (!in) {
		fprintf(stderr, "fixture: %s\n", e.text);
		exit(1);
	}
	CHECK(metrics_render(in, &text) == 0);
	json_decref(in);
	return text;
}

/* A line of the text, exactly. */
static int has_line(const char *text, const char *line)
{
	size_t n = strlen(line);

	for (const char *p = text; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL)
		if (!strncmp(p, line, n) && (p[n] == '\n' || !p[n]))
			return 1;
	return 0;
}

/* Every family's samples follow its TYPE line, none of another family between. */
static int families_contiguous(const char *text)
{
	char seen[64][96];
	int n = 0;
	char cur[96] = "";
	const char *p = text;

	while (*p) {
		const char *eol = strchr(p, '\n');
		size_t len = eol ? (size_t)(eol - p) : strlen(p);
		char name[96];
		if (sscanf(p, "# TYPE %95s", name) == 1) {
			for (int i = 0; i < n; i++)
				if (!strcmp(seen[i], name))
					return 0; /* a second TYPE for one family */
			if (n < 64)
				snprintf(seen[n++], sizeof seen[0], "%s", name);
			snprintf(cur, sizeof cur, "%s", name);
		} else if (*p != '#' && len) {
			size_t k = strcspn(p, "{ ");
			if (strncmp(p, cur, strlen(cur)) != 0 || k < strlen(cur))
				return 0;
		}
		p += len + (eol ? 1 : 0);
	}
	return 1;
}

static void test_render(void)
{
	char *t = render_text(
		"{\"now\": 1795773600,"
		" \"status\": {\"quorate\": true, \"votes\": 3, \"expected_votes\": 3, \"is_leader\": false,"
		"   \"cluster_id\": \"c1\", \"node\": {\"name\": \"n2\"}, \"daemon\": {\"version\": \"0.1.0\", \"connected\": true},"
		"   \"leader\": {\"name\": \"n1\", \"epoch\": 4},"
		"   \"members\": [{\"name\": \"n1\", \"state\": \"synced\"}, {\"name\": \"n2\", \"state\": \"syncing\"}],"
		"   \"dropped_messages\": {\"malformed\": 2}},"
		" \"datastores\": [{\"name\": \"ds\\\"1\", \"protocol\": \"iscsi\", \"size_bytes\": 1073741824,"
		"   \"ontap\": {\"ready\": true},"
		"   \"nodes\": {\"n1\": {\"step\": \"ready\", \"error\": null}, \"n2\": {\"step\": \"attaching\", \"error\": \"no\\nportal\"}}}],"
		" \"vms\": [{\"name\": \"web\", \"state\": \"running\", \"node\": \"n1\"}, {\"name\": \"db\", \"state\": \"stopped\", \"node\": null}],"
		" \"nodes\": [{\"name\": \"n1\", \"member\": true, \"running\": [\"web\"], \"capacity\": {\"memory_mib\": 1024, \"vcpus\": 4},"
		"   \"used\": {\"memory_mib\": 512, \"vcpus\": 1}}],"
		" \"fences\": {\"armed\": true, \"fences\": [{\"node\": \"n3\", \"status\": \"pending\"}]},"
		" \"protection\": {\"policies\": [{\"name\": \"gold\", \"health\": \"ok\", \"last_snapshot\": \"2026-11-27T10:00Z\","
		"   \"next_due\": \"2026-11-27T11:00Z\", \"snapmirror\": {\"lag_seconds\": 90, \"rpo_seconds\": 1800}}]},"
		" \"counters\": {\"fences\": {\"ontap\": {\"confirmed\": 2, \"failed\": 0, \"cancelled\": 1}},"
		"   \"fence_duration\": {\"le\": [1, 5], \"counts\": [1, 0, 1], \"sum\": 7.5}, \"vm_recoveries\": 3,"
		"   \"ontap\": {\"requests\": {\"GET 200\": 10, \"POST 0\": 1}, \"errors\": {\"917927\": 1},"
		"     \"duration\": {\"GET\": {\"le\": [0.1], \"counts\": [9, 1], \"sum\": 0.5}}}, \"scrapes\": 4}}");

	CHECK(families_contiguous(t));
	CHECK(has_line(t, "kvmcd_info{version=\"0.1.0\",node=\"n2\",cluster_id=\"c1\"} 1"));
	CHECK(has_line(t, "kvmcd_quorate 1"));
	CHECK(has_line(t, "kvmcd_leader 0"));
	CHECK(has_line(t, "kvmcd_leader_info{leader=\"n1\"} 1"));
	CHECK(has_line(t, "kvmcd_leader_epoch 4"));
	CHECK(has_line(t, "kvmcd_members 2"));
	CHECK(has_line(t, "kvmcd_member_synced{node=\"n2\"} 0"));
	CHECK(has_line(t, "kvmcd_dropped_messages_total{reason=\"malformed\"} 2"));
	/* label values escaped: a quote, a newline */
	CHECK(has_line(t, "kvmcd_datastore_ontap_ready{datastore=\"ds\\\"1\",protocol=\"iscsi\"} 1"));
	CHECK(has_line(t, "kvmcd_datastore_node_ready{datastore=\"ds\\\"1\",node=\"n2\"} 0"));
	CHECK(has_line(t, "kvmcd_datastore_node_step{datastore=\"ds\\\"1\",node=\"n2\",step=\"attaching\"} 1"));
	CHECK(has_line(t, "kvmcd_datastore_node_error{datastore=\"ds\\\"1\",node=\"n2\"} 1"));
	CHECK(has_line(t, "kvmcd_datastore_size_bytes{datastore=\"ds\\\"1\"} 1073741824"));
	CHECK(has_line(t, "kvmcd_vm_info{vm=\"db\",state=\"stopped\",node=\"\"} 1"));
	CHECK(has_line(t, "kvmcd_vm_running{vm=\"web\"} 1"));
	CHECK(has_line(t, "kvmcd_node_memory_used_bytes{node=\"n1\"} 536870912"));
	CHECK(has_line(t, "kvmcd_node_vms_running{node=\"n1\"} 1"));
	CHECK(has_line(t, "kvmcd_fence_active{node=\"n3\",status=\"pending\"} 1"));
	CHECK(has_line(t, "kvmcd_fences_total{method=\"ontap\",result=\"cancelled\"} 1"));
	/* histograms are cumulative, with +Inf, _sum and _count */
	CHECK(has_line(t, "kvmcd_fence_duration_seconds_bucket{le=\"1\"} 1"));
	CHECK(has_line(t, "kvmcd_fence_duration_seconds_bucket{le=\"5\"} 1"));
	CHECK(has_line(t, "kvmcd_fence_duration_seconds_bucket{le=\"+Inf\"} 2"));
	CHECK(has_line(t, "kvmcd_fence_duration_seconds_sum 7.5"));
	CHECK(has_line(t, "kvmcd_fence_duration_seconds_count 2"));
	CHECK(has_line(t, "kvmcd_ontap_requests_total{method=\"POST\",code=\"0\"} 1"));
	CHECK(has_line(t, "kvmcd_ontap_errors_total{code=\"917927\"} 1"));
	CHECK(has_line(t, "kvmcd_ontap_request_duration_seconds_bucket{method=\"GET\",le=\"+Inf\"} 10"));
	CHECK(has_line(t, "kvmcd_vm_recoveries_total 3"));
	/* snapshot ages from the slot, the SnapMirror lag against the RPO */
	CHECK(has_line(t, "kvmcd_snapshot_last_slot_timestamp_seconds{policy=\"gold\"} 1795773600"));
	CHECK(has_line(t, "kvmcd_snapshot_age_seconds{policy=\"gold\"} 0"));
	CHECK(has_line(t, "kvmcd_snapmirror_lag_seconds{policy=\"gold\"} 90"));
	CHECK(has_line(t, "kvmcd_snapmirror_rpo_seconds{policy=\"gold\"} 1800"));
	CHECK(has_line(t, "kvmcd_metrics_scrapes_total 4"));
	free(t);

	/* what is missing or of another type is skipped, never a failure */
	t = render_text("{\"status\": {\"quorate\": \"yes\", \"members\": 3, \"leader\": null}, \"datastores\": {},"
			" \"vms\": [{\"name\": 5}], \"counters\": {\"fence_duration\": {\"le\": [1], \"counts\": [1]}},"
			" \"protection\": {\"policies\": [{\"name\": \"p\", \"last_snapshot\": \"yesterday\"}]}}");
	CHECK(families_contiguous(t));
	CHECK(!strstr(t, "kvmcd_quorate "));
	CHECK(!strstr(t, "kvmcd_members "));
	CHECK(!strstr(t, "kvmcd_fence_duration_seconds_bucket"));
	CHECK(!strstr(t, "kvmcd_snapshot_age_seconds{"));
	CHECK(has_line(t, "kvmcd_vm_info{vm=\"\",state=\"\",node=\"\"} 1"));
	free(t);
	t = render_text("{}");
	CHECK(t && !*t);
	free(t);
	{
		char *x = NULL;
		json_t *arr = json_array();
		CHECK(metrics_render(arr, &x) == -EINVAL && !x);
		json_decref(arr);
	}
}

static void test_listen(void)
{
	struct sockaddr_storage ss;
	unsigned len;
	const char *why = NULL;

	CHECK(metrics_listen_parse("127.0.0.1:9477", &ss, &len, &why) == 0 && ss.ss_family == AF_INET &&
	      ntohs(((struct sockaddr_in *)&ss)->sin_port) == 9477 && len == sizeof(struct sockaddr_in));
	CHECK(metrics_listen_parse("[::1]:80", &ss, &len, &why) == 0 && ss.ss_family == AF_INET6 &&
	      ntohs(((struct sockaddr_in6 *)&ss)->sin6_port) == 80);
	CHECK(metrics_listen_parse("0.0.0.0:1", &ss, &len, &why) == 0);
	static const char *const bad[] = { "", "localhost:9477", "127.0.0.1", "127.0.0.1:", "127.0.0.1:0",
					   "127.0.0.1:65536", "127.0.0.1:9x", ":9477", "::1:9477", "[::1]9477",
					   "[nope]:9", "[127.0.0.1]:9", "300.1.1.1:9" };
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		why = NULL;
		if (metrics_listen_parse(bad[i], &ss, &len, &why) != -EINVAL || !why) {
			fprintf(stderr, "accepted '%s'\n", bad[i]);
			failures++;
		}
	}
}

int main(void)
{
	test_render();
	test_listen();
	if (failures) {
		fprintf(stderr, "%d check(s) failed\n", failures);
		return 1;
	}
	printf("all metrics checks passed\n");
	return 0;
}
