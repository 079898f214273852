/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * vm-freeze-tool: resources/host/domain.h's fs_freeze / fs_thaw from the command line, through
 * the real worker pool and event loop, as kvmcd's freeze service will call them (not installed).
 * The multi-node tier drives real libvirtd + QEMU with it (multinode/test-vm-freeze.sh).
 *
 *   vm-freeze-tool [--uri URI] freeze|thaw DOMAIN DEADLINE_MS
 *   vm-freeze-tool [--uri URI] rounds AT_MS PERIOD_MS HOLD_MS COUNT DOMAIN...
 *
 * freeze / thaw print one line: "RESULT ms=N detail" (RESULT: host_domain_agent_result's name,
 * ms: the call's wall time on the loop's clock). Exit 0 for ok, 1 for any other result, 2 bad
 * usage.
 *
 * rounds is bench/freeze.sh's floor: what freezing and thawing the guests costs with no
 * coordination at all. COUNT rounds, round k starting at the wall-clock time AT_MS + k * PERIOD_MS
 * (ms since the epoch, so that the tools of several nodes start together): every DOMAIN is frozen
 * at once, through the same ops and a pool of as many threads as kvmcd's freeze service has
 * (FREEZE_THREADS, each keeping its libvirt connection across rounds, as there); HOLD_MS after
 * the round's start (a stand-in for the snapshot call) every DOMAIN is thawed at once. One line
 * per round: "round K freeze_start=MS freeze_end=MS thaw_start=MS thaw_end=MS ok=N of=M" (wall
 * clock ms since the epoch; freeze_end: the last freeze returned, thaw_end: the last thaw).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <systemd/sd-event.h>

#include "domain.h"
#include "agent/freeze-node.h"
#include "macros.h"
#include "worker.h"

struct call {
	bool done;
	int r;
	char *detail;
};

static void on_done(void *userdata, int r, const char *detail)
{
	struct call *c = userdata;

	c->done = true;
	c->r = r;
	c->detail = strdup(detail ? detail : "");
}

static uint64_t now_usec(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (uint64_t)t.tv_sec * USEC_PER_SEC + (uint64_t)t.tv_nsec / 1000;
}

static uint64_t wall_ms(void)
{
	struct timespec t;

	clock_gettime(CLOCK_REALTIME, &t);
	return (uint64_t)t.tv_sec * 1000 + (uint64_t)t.tv_nsec / 1000000;
}

static int on_time(sd_event_source *s, uint64_t usec, void *userdata)
{
	(void)s;
	(void)usec;
	*(bool *)userdata = true;
	return 0;
}

/* Runs the loop until the wall clock reads at_ms (a timer on the loop, no busy wait). */
static int run_until_wall(sd_event *ev, uint64_t at_ms)
{
	uint64_t now = wall_ms();
	bool fired = false;
	sd_event_source *s = NULL;
	int r;

	if (at_ms <= now)
		return 0;
	r = sd_event_add_time_relative(ev, &s, CLOCK_MONOTONIC, (at_ms - now) * USEC_PER_MSEC, 1, on_time, &fired);
	if (r < 0)
		return r;
	while (!fired && sd_event_run(ev, UINT64_MAX) >= 0)
		;
	sd_event_source_unref(s);
	return 0;
}

/* One phase: the same call on every domain at once; returns when all have answered. */
static int phase(sd_event *ev, struct host_ctx *ctx, bool freeze, char **names, int n, uint64_t deadline,
		 int *ok)
{
	const struct host_domain_ops *ops = &host_domain_libvirt_ops;
	struct call *calls = calloc((size_t)n, sizeof(*calls));
	int pending = n, r;

	if (!calls)
		return -ENOMEM;
	for (int i = 0; i < n; i++) {
		r = freeze ? ops->fs_freeze(ctx, names[i], deadline, on_done, &calls[i])
			   : ops->fs_thaw(ctx, names[i], deadline, on_done, &calls[i]);
		if (r < 0) {
			calls[i].done = true;
			calls[i].r = r;
		}
	}
	while (pending > 0 && sd_event_run(ev, UINT64_MAX) >= 0) {
		pending = 0;
		for (int i = 0; i < n; i++)
			pending += !calls[i].done;
	}
	*ok = 0;
	for (int i = 0; i < n; i++) {
		if (calls[i].r == 0)
			(*ok)++;
		else
			fprintf(stderr, "vm-freeze-tool: %s %s: %s\n", freeze ? "freeze" : "thaw", names[i],
				calls[i].detail ? calls[i].detail : "?");
		free(calls[i].detail);
	}
	free(calls);
	return 0;
}

static int rounds(const char *uri, int argc, char **argv)
{
	sd_event *ev = NULL;
	struct worker_pool *workers = NULL;
	char *end;
	uint64_t v[4];
	int fails = 0;

	for (int i = 0; i < 4; i++) {
		errno = 0;
		v[i] = strtoull(argv[i], &end, 10);
		if (errno || *end || end == argv[i]) {
			fprintf(stderr, "vm-freeze-tool: rounds: '%s' is not a number of ms\n", argv[i]);
			return 2;
		}
	}
	uint64_t at = v[0], period = v[1], hold = v[2], count = v[3];
	char **names = argv + 4;
	int n = argc - 4;
	if (n < 1 || count < 1 || hold >= period) {
		fprintf(stderr, "vm-freeze-tool: rounds needs COUNT >= 1, HOLD_MS < PERIOD_MS and a domain\n");
		return 2;
	}
	if (sd_event_new(&ev) < 0 || worker_pool_new(ev, FREEZE_THREADS, &workers) < 0) {
		fprintf(stderr, "vm-freeze-tool: cannot set up the event loop\n");
		return 1;
	}
	struct host_ctx ctx = { .event = ev, .workers = workers, .libvirt_uri = uri, .node_name = "tool",
				.step_timeout_usec = 60 * USEC_PER_SEC };
	for (uint64_t k = 0; k < count; k++) {
		uint64_t start = at + k * period, t[4];
		int fok, tok;

		run_until_wall(ev, start);
		t[0] = wall_ms();
		if (phase(ev, &ctx, true, names, n, 5 * USEC_PER_SEC, &fok) < 0)
			fok = 0;
		t[1] = wall_ms();
		run_until_wall(ev, start + hold);
		t[2] = wall_ms();
		if (phase(ev, &ctx, false, names, n, 5 * USEC_PER_SEC, &tok) < 0)
			tok = 0;
		t[3] = wall_ms();
		printf("round %llu freeze_start=%llu freeze_end=%llu thaw_start=%llu thaw_end=%llu ok=%d of=%d\n",
		       (unsigned long long)k, (unsigned long long)t[0], (unsigned long long)t[1],
		       (unsigned long long)t[2], (unsigned long long)t[3], fok + tok, 2 * n);
		fflush(stdout);
		fails += fok + tok != 2 * n;
	}
	worker_pool_free(workers);
	host_ctx_cancel(&ctx);
	sd_event_unref(ev);
	return fails ? 1 : 0;
}

int main(int argc, char **argv)
{
	const char *uri = NULL;
	sd_event *ev = NULL;
	struct worker_pool *workers = NULL;
	struct call c = { 0 };
	int a = 1, r;

	if (argc > 2 && !strcmp(argv[1], "--uri")) {
		uri = argv[2];
		a = 3;
	}
	if (argc - a >= 6 && !strcmp(argv[a], "rounds"))
		return rounds(uri, argc - a - 1, argv + a + 1);
	if (argc - a != 3 || (strcmp(argv[a], "freeze") && strcmp(argv[a], "thaw")) || atoi(argv[a + 2]) <= 0) {
		fprintf(stderr, "usage: vm-freeze-tool [--uri URI] freeze|thaw DOMAIN DEADLINE_MS\n"
				"       vm-freeze-tool [--uri URI] rounds AT_MS PERIOD_MS HOLD_MS COUNT DOMAIN...\n");
		return 2;
	}
	bool freeze = !strcmp(argv[a], "freeze");
	uint64_t deadline = (uint64_t)atoi(argv[a + 2]) * USEC_PER_MSEC;
	if (sd_event_new(&ev) < 0 || worker_pool_new(ev, 1, &workers) < 0) {
		fprintf(stderr, "vm-freeze-tool: cannot set up the event loop\n");
		return 1;
	}
	struct host_ctx ctx = { .event = ev, .workers = workers, .libvirt_uri = uri, .node_name = "tool",
				.step_timeout_usec = 60 * USEC_PER_SEC };
	const struct host_domain_ops *ops = &host_domain_libvirt_ops;
	uint64_t t0 = now_usec();
	r = freeze ? ops->fs_freeze(&ctx, argv[a + 1], deadline, on_done, &c)
		   : ops->fs_thaw(&ctx, argv[a + 1], deadline, on_done, &c);
	if (r < 0) {
		c.done = true;
		c.r = r;
		c.detail = strdup(strerror(-r));
	}
	while (!c.done && sd_event_run(ev, UINT64_MAX) >= 0)
		;
	printf("%s ms=%llu %s\n", host_domain_agent_result(c.r), (unsigned long long)((now_usec() - t0) / 1000),
	       c.detail ? c.detail : "");
	free(c.detail);
	worker_pool_free(workers);
	host_ctx_cancel(&ctx);
	sd_event_unref(ev);
	return c.r == 0 ? 0 : 1;
}
