/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * vm-freeze-tool: resources/host/domain.h's fs_freeze / fs_thaw from the command line, through
 * the real worker pool and event loop, as kvmcd's freeze service will call them (not installed).
 * The multi-node tier drives real libvirtd + QEMU with it (multinode/test-vm-freeze.sh).
 *
 *   vm-freeze-tool [--uri URI] freeze|thaw DOMAIN DEADLINE_MS
 *
 * Prints one line: "RESULT ms=N detail" (RESULT: host_domain_agent_result's name, ms: the
 * call's wall time on the loop's clock). Exit 0 for ok, 1 for any other result, 2 bad usage.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <systemd/sd-event.h>

#include "domain.h"
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
	if (argc - a != 3 || (strcmp(argv[a], "freeze") && strcmp(argv[a], "thaw")) || atoi(argv[a + 2]) <= 0) {
		fprintf(stderr, "usage: vm-freeze-tool [--uri URI] freeze|thaw DOMAIN DEADLINE_MS\n");
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
