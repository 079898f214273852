/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Benchmark: provision N datastores (volume + LUN + a map to each of 3 per-node igroups) through
 * the ONTAP client against tests/ontap-sim with L ms of injected latency on every /api call.
 *
 * Prints the wall time of the concurrent run next to its lower bound and to the same work done
 * one call at a time:
 *   lower bound = max(critical path, requests × latency / concurrency)
 *   critical path = wall time of one datastore provisioned alone (GET, POST + job, re-read of
 *                   the volume, then the LUN, then its maps; igroups in parallel)
 * Target: concurrent ≤ 1.5 × lower bound.
 *
 * Usage: ontap-provision [--datastores N] [--latency-ms L] [--concurrency C]
 *                        [--sequential N|0] [--job-ms J]
 * Exit 77 when the simulator is not built, 1 when the target is missed or a call failed.
 */
#include <getopt.h>
#include <sys/resource.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ontap-test-util.h"

#define NODES 3

struct bench;

struct ds {
	struct bench *b;
	int idx;
	char vol[32], lun[64];
	int maps_left;
	bool lun_ready, maps_started;
};

struct bench {
	struct ontap_client *c;
	struct ds *ds;
	int n, done, errors;
	bool igroup_ready[NODES];
	int igroups_left;
	bool sequential;
};

static const char *const node_iqn[NODES] = {
	"iqn.1994-05.com.redhat:kvm01", "iqn.1994-05.com.redhat:kvm02", "iqn.1994-05.com.redhat:kvm03",
};

static void fail(struct bench *b, const char *what, int r, const struct ontap_error *e)
{
	char buf[1024];

	b->errors++;
	fprintf(stderr, "%s: %s: %s\n", what, strerror(-r), e ? ontap_error_format(e, buf, sizeof buf) : "");
}

static void start_maps(struct ds *d);

static void on_map(void *userdata, int r, const struct ontap_object *o, const struct ontap_error *e)
{
	struct ds *d = userdata;

	if (r < 0)
		fail(d->b, d->lun, r, e);
	if (--d->maps_left == 0)
		d->b->done++;
}

static void start_maps(struct ds *d)
{
	char ig[32];
	int r;

	if (!d->lun_ready || d->maps_started)
		return;
	for (int k = 0; k < NODES; k++)
		if (!d->b->igroup_ready[k])
			return;
	d->maps_started = true;
	for (int k = 0; k < NODES; k++) {
		snprintf(ig, sizeof ig, "kvm0%d", k + 1);
		r = ontap_lun_map_ensure(d->b->c, d->lun, ig, on_map, d);
		if (r < 0) {
			fail(d->b, d->lun, r, NULL);
			if (--d->maps_left == 0)
				d->b->done++;
		}
	}
}

static void on_lun(void *userdata, int r, const struct ontap_object *o, const struct ontap_error *e)
{
	struct ds *d = userdata;

	if (r < 0) {
		fail(d->b, d->lun, r, e);
		d->b->done++;
		return;
	}
	d->lun_ready = true;
	start_maps(d);
}

static void on_volume(void *userdata, int r, const struct ontap_object *o, const struct ontap_error *e)
{
	struct ds *d = userdata;
	struct ontap_lun_spec l = { .path = d->lun, .size = 8ULL << 30 };

	if (r < 0) {
		fail(d->b, d->vol, r, e);
		d->b->done++;
		return;
	}
	r = ontap_lun_ensure(d->b->c, &l, on_lun, d);
	if (r < 0) {
		fail(d->b, d->lun, r, NULL);
		d->b->done++;
	}
}

static void start_ds(struct ds *d)
{
	struct ontap_volume_spec v = { .name = d->vol, .size = 10ULL << 30, .aggregate = "aggr1", .thin = true };
	int r = ontap_volume_ensure(d->b->c, &v, on_volume, d);

	if (r < 0) {
		fail(d->b, d->vol, r, NULL);
		d->b->done++;
	}
}

/* Sequential mode: one call outstanding at a time, in datastore order. */
static int run_one(struct bench *b, int (*start)(struct wait *w, void *arg), void *arg)
{
	struct wait w = {};
	int r = wait_run(ontap_client_get_event(b->c), &w, start(&w, arg));

	if (r < 0)
		fail(b, "sequential", r, &w.err);
	wait_reset(&w);
	return r;
}

struct ig_arg { struct bench *b; int k; };

static int start_igroup(struct wait *w, void *arg)
{
	struct ig_arg *a = arg;
	char ig[32];
	const char *ini[1] = { node_iqn[a->k] };

	snprintf(ig, sizeof ig, "kvm0%d", a->k + 1);
	return ontap_igroup_ensure(a->b->c, &(struct ontap_igroup_spec) { .name = ig, .initiators = ini,
				   .n_initiators = 1 }, wait_done, w);
}

static int start_vol(struct wait *w, void *arg)
{
	struct ds *d = arg;

	return ontap_volume_ensure(d->b->c, &(struct ontap_volume_spec) { .name = d->vol, .size = 10ULL << 30,
				   .aggregate = "aggr1", .thin = true }, wait_done, w);
}

static int start_lun(struct wait *w, void *arg)
{
	struct ds *d = arg;

	return ontap_lun_ensure(d->b->c, &(struct ontap_lun_spec) { .path = d->lun, .size = 8ULL << 30 },
				wait_done, w);
}

static int map_k;
static int start_map(struct wait *w, void *arg)
{
	struct ds *d = arg;
	char ig[32];

	snprintf(ig, sizeof ig, "kvm0%d", map_k + 1);
	return ontap_lun_map_ensure(d->b->c, d->lun, ig, wait_done, w);
}

/* Concurrent mode: every chain starts at once; the client's queue bounds what is in flight. */
struct igw { struct bench *b; int k; };

static void on_igroup_conc(void *userdata, int r, const struct ontap_object *o, const struct ontap_error *e)
{
	struct igw *g = userdata;
	struct bench *b = g->b;

	if (r < 0)
		fail(b, "igroup", r, e);
	b->igroup_ready[g->k] = true;
	b->igroups_left--;
	if (b->igroups_left == 0)
		for (int i = 0; i < b->n; i++)
			start_maps(&b->ds[i]);
}

static double run(struct sim *s, sd_event *ev, int n, unsigned concurrency, bool sequential,
		  int first, uint64_t *requests)
{
	struct ontap_options o = {};
	struct bench b = { .n = n, .igroups_left = NODES, .sequential = sequential };
	struct ontap_client_stats st;
	struct igw g[NODES];
	uint64_t t0;

	sim_options(s, &o);
	o.max_concurrency = concurrency;
	o.job_timeout_ms = 120000;
	if (ontap_client_new_for_test(&b.c, ev, &o, "bench", getuid(), NULL) < 0) {
		fprintf(stderr, "cannot create client\n");
		exit(1);
	}
	ontap_options_clear(&o);
	ontap_client_set_epoch(b.c, 1, true);
	b.ds = calloc((size_t) n, sizeof *b.ds);
	for (int i = 0; i < n; i++) {
		b.ds[i] = (struct ds) { .b = &b, .idx = first + i, .maps_left = NODES };
		snprintf(b.ds[i].vol, sizeof b.ds[i].vol, "ds%03d", first + i);
		snprintf(b.ds[i].lun, sizeof b.ds[i].lun, "/vol/ds%03d/lun0", first + i);
	}

	t0 = now_usec();
	if (sequential) {
		for (int k = 0; k < NODES; k++)
			run_one(&b, start_igroup, &(struct ig_arg) { &b, k });
		for (int i = 0; i < n; i++) {
			run_one(&b, start_vol, &b.ds[i]);
			run_one(&b, start_lun, &b.ds[i]);
			for (map_k = 0; map_k < NODES; map_k++)
				run_one(&b, start_map, &b.ds[i]);
		}
	} else {
		for (int k = 0; k < NODES; k++) {
			char ig[32];
			const char *ini[1] = { node_iqn[k] };

			g[k] = (struct igw) { &b, k };
			snprintf(ig, sizeof ig, "kvm0%d", k + 1);
			if (ontap_igroup_ensure(b.c, &(struct ontap_igroup_spec) { .name = ig, .initiators = ini,
						.n_initiators = 1 }, on_igroup_conc, &g[k]) < 0)
				fail(&b, "igroup", -EIO, NULL);
		}
		for (int i = 0; i < n; i++)
			start_ds(&b.ds[i]);
		while (b.done < n)
			if (sd_event_run(ev, UINT64_MAX) < 0)
				break;
	}
	ontap_client_get_stats(b.c, &st);
	*requests = st.requests_sent;
	ontap_client_free(b.c);
	free(b.ds);
	if (b.errors) {
		fprintf(stderr, "%d operation(s) failed\n", b.errors);
		exit(1);
	}
	return (double) (now_usec() - t0) / 1e6;
}

static void sim_prepare(struct sim *s, int latency_ms, int job_ms)
{
	char f[256];

	sim_control(s, "POST", "/_sim/reset", NULL);
	snprintf(f, sizeof f, "{\"job_ms\":%d}", job_ms);
	sim_control(s, "POST", "/_sim/config", f);
	snprintf(f, sizeof f, "{\"type\":\"latency\",\"path\":\"/api/*\",\"ms\":%d}", latency_ms);
	sim_fault(s, f);
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "datastores", required_argument, NULL, 'n' }, { "latency-ms", required_argument, NULL, 'l' },
		{ "concurrency", required_argument, NULL, 'c' }, { "sequential", required_argument, NULL, 's' },
		{ "job-ms", required_argument, NULL, 'j' }, {},
	};
	int n = 100, latency = 50, seq_n = -1, job_ms = 100, opt;
	unsigned conc = 16;
	struct sim s;
	sd_event *ev = NULL;
	uint64_t req_one, req_conc, req_seq = 0;
	double t_one, t_conc, t_seq = 0, lb_tput, lb, seq_full;

	while ((opt = getopt_long(argc, argv, "n:l:c:s:j:", opts, NULL)) >= 0)
		switch (opt) {
		case 'n': n = atoi(optarg); break;
		case 'l': latency = atoi(optarg); break;
		case 'c': conc = (unsigned) atoi(optarg); break;
		case 's': seq_n = atoi(optarg); break;
		case 'j': job_ms = atoi(optarg); break;
		default: return 2;
		}
	if (seq_n < 0)
		seq_n = n;
	if (sim_start(&s, NULL) == -ENOENT) {
		fprintf(stderr, "ontap-sim is not built: skipping\n");
		return 77;
	}
	curl_global_init(CURL_GLOBAL_DEFAULT);
	sd_event_default(&ev);

	/* critical path: one datastore alone */
	sim_prepare(&s, latency, job_ms);
	t_one = run(&s, ev, 1, conc, false, 0, &req_one);

	sim_prepare(&s, latency, job_ms);
	t_conc = run(&s, ev, n, conc, false, 0, &req_conc);

	if (seq_n > 0) {
		sim_prepare(&s, latency, job_ms);
		t_seq = run(&s, ev, seq_n, 1, true, 0, &req_seq);
	}
	sim_stop(&s);
	sd_event_unref(ev);

	lb_tput = (double) ((req_conc + conc - 1) / conc) * latency / 1000.0;
	lb = t_one > lb_tput ? t_one : lb_tput;
	seq_full = seq_n > 0 ? t_seq * n / seq_n : 0;
	printf("ontap-provision: %d datastores (volume + LUN + %d lun-maps to %d per-node igroups), "
	       "%d ms latency per call, job %d ms, max_concurrency %u\n", n, NODES, NODES, latency, job_ms, conc);
	printf("  one datastore alone (critical path):  %7.3f s  (%llu requests)\n", t_one, (unsigned long long) req_one);
	printf("  throughput bound (%llu req / %u × %d ms): %7.3f s\n", (unsigned long long) req_conc, conc,
	       latency, lb_tput);
	printf("  lower bound = max of the two:         %7.3f s\n", lb);
	printf("  concurrent wall time:                 %7.3f s  = %.2f × lower bound (target ≤ 1.50)\n",
	       t_conc, t_conc / lb);
	{
		struct rusage ru;

		getrusage(RUSAGE_SELF, &ru);
		printf("  client CPU (all runs):                %7.3f s\n",
		       (double) ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 +
		       (double) ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6);
	}
	if (seq_n > 0)
		printf("  sequential wall time (%d datastores): %7.3f s  (%llu requests)%s → %.3f s for %d; "
		       "speed-up %.1f×\n", seq_n, t_seq, (unsigned long long) req_seq,
		       seq_n != n ? " extrapolated" : "", seq_full, n, seq_full / t_conc);
	return t_conc <= 1.5 * lb ? 0 : 1;
}
