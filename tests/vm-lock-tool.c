/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * vm-lock-tool: resources/host/vm-lock.h's ops tables from the command line, for the test tiers
 * (the same code kvmcd runs; not installed).
 *
 *   vm-lock-tool [--backend dlm|lockd] [--lockspace NAME] [--timeout SECONDS]
 *                [--libvirt-conf DIR] [--socket PATH] STEP...
 *
 * STEPs run in order on one sd-event loop, each printing one line
 *   "STEP -> 0 DETAIL" or "STEP -> -EBUSY DETAIL":
 *   probe | list | acquire:VM | release:VM
 *   acquire-retry:VM:SECONDS   acquire, again every 0.5 s while it is refused (-EBUSY) or times
 *                  out (-ETIMEDOUT), for up to SECONDS; every attempt prints its line, with the
 *                  seconds since the step began ("acquire-retry:vm1 +3.2 s -> -EBUSY ...")
 *   wait:PATH      until PATH exists (checked every 0.1 s)
 *   sleep:SECONDS
 *   hold           until SIGTERM or SIGINT
 * The first failing step ends the run. Exit status: 0 every step succeeded, 2 refused (-EBUSY),
 * 3 timed out (-ETIMEDOUT), 4 not set up (-ENOLCK), 1 anything else. At exit nothing is released:
 * like kvmcd, a process that ends leaves its DLM locks as this node's orphans.
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <unistd.h>

#include "macros.h"
#include "vm-lock.h"

struct tool {
	sd_event *ev;
	struct host_ctx ctx;
	const struct host_vm_lock_ops *ops;
	struct host_vm_lock *lock;
	char **steps;
	int n_steps, next;
	int status;
	sd_event_source *timer;
	const char *waiting_for;
	char retry_vm[HOST_VM_LOCK_NAME_MAX + 1]; /* acquire-retry: the VM ("" otherwise) */
	uint64_t retry_t0, retry_end;             /* CLOCK_MONOTONIC */
};

static uint64_t mono(struct tool *t)
{
	uint64_t now = 0;

	sd_event_now(t->ev, CLOCK_MONOTONIC, &now);
	return now;
}

static void run_next(struct tool *t);

static void tool_log(void *userdata, int level, const char *text)
{
	fprintf(stderr, "vm-lock-tool: %s\n", text);
}

static int exit_status(int r)
{
	switch (r) {
	case 0: return 0;
	case -EBUSY: return 2;
	case -ETIMEDOUT: return 3;
	case -ENOLCK: return 4;
	default: return 1;
	}
}

static void on_done(void *userdata, int r, const char *detail)
{
	struct tool *t = userdata;
	char when[32] = "";

	if (t->retry_vm[0])
		snprintf(when, sizeof(when), " +%.1f s", (double)(mono(t) - t->retry_t0) / USEC_PER_SEC);
	printf("%s%s -> %s%s %s\n", t->steps[t->next - 1], when, r < 0 ? "-" : "", r < 0 ? strerrorname_np(-r) : "0",
	       detail ? detail : "");
	fflush(stdout);
	if (t->retry_vm[0] && (r == -EBUSY || r == -ETIMEDOUT) && mono(t) < t->retry_end) {
		/* again in 0.5 s (the timer sees retry_vm) */
		sd_event_source_set_time_relative(t->timer, 500 * USEC_PER_MSEC);
		sd_event_source_set_enabled(t->timer, SD_EVENT_ONESHOT);
		return;
	}
	t->retry_vm[0] = '\0';
	if (r < 0) {
		t->status = exit_status(r);
		sd_event_exit(t->ev, t->status);
		return;
	}
	run_next(t);
}

static int on_timer(sd_event_source *s, uint64_t usec, void *userdata)
{
	struct tool *t = userdata;
	int r;

	if (t->retry_vm[0]) {
		r = t->ops->acquire(t->lock, t->retry_vm, on_done, t);
		if (r < 0) {
			t->retry_vm[0] = '\0';
			on_done(t, r, "(nothing started)");
		}
		return 0;
	}
	if (t->waiting_for && access(t->waiting_for, F_OK) != 0) {
		sd_event_source_set_time_relative(s, 100 * USEC_PER_MSEC);
		sd_event_source_set_enabled(s, SD_EVENT_ONESHOT);
		return 0;
	}
	t->waiting_for = NULL;
	on_done(t, 0, "");
	return 0;
}

static int on_signal(sd_event_source *s, const struct signalfd_siginfo *si, void *userdata)
{
	struct tool *t = userdata;

	if (t->next > 0 && !strcmp(t->steps[t->next - 1], "hold")) {
		printf("hold -> 0 %s\n", strsignal((int)si->ssi_signo));
		fflush(stdout);
		sd_event_exit(t->ev, t->status);
		return 0;
	}
	fprintf(stderr, "vm-lock-tool: %s during step %s\n", strsignal((int)si->ssi_signo),
		t->next > 0 ? t->steps[t->next - 1] : "-");
	sd_event_exit(t->ev, 1);
	return 0;
}

static void run_next(struct tool *t)
{
	const char *step, *arg;
	int r = -EINVAL;

	if (t->next == t->n_steps) {
		sd_event_exit(t->ev, t->status);
		return;
	}
	step = t->steps[t->next++];
	arg = strchr(step, ':') ? strchr(step, ':') + 1 : "";
	if (!strcmp(step, "probe"))
		r = t->ops->probe(t->lock, on_done, t);
	else if (!strcmp(step, "list"))
		r = t->ops->list ? t->ops->list(t->lock, on_done, t) : -EOPNOTSUPP;
	else if (!strncmp(step, "acquire-retry:", 14)) {
		const char *secs = strrchr(arg, ':');
		if (secs && secs > arg && (size_t)(secs - arg) < sizeof(t->retry_vm)) {
			snprintf(t->retry_vm, sizeof(t->retry_vm), "%.*s", (int)(secs - arg), arg);
			t->retry_t0 = mono(t);
			t->retry_end = t->retry_t0 + (uint64_t)(strtod(secs + 1, NULL) * USEC_PER_SEC);
			r = t->ops->acquire(t->lock, t->retry_vm, on_done, t);
			if (r < 0)
				t->retry_vm[0] = '\0';
		}
	} else if (!strncmp(step, "acquire:", 8))
		r = t->ops->acquire(t->lock, arg, on_done, t);
	else if (!strncmp(step, "release:", 8))
		r = t->ops->release(t->lock, arg, on_done, t);
	else if (!strncmp(step, "wait:", 5) || !strncmp(step, "sleep:", 6)) {
		uint64_t delay = 0;
		if (step[1] == 'a')
			t->waiting_for = arg;
		else
			delay = (uint64_t)(strtod(arg, NULL) * USEC_PER_SEC);
		r = sd_event_source_set_time_relative(t->timer, delay);
		if (r >= 0)
			r = sd_event_source_set_enabled(t->timer, SD_EVENT_ONESHOT);
	} else if (!strcmp(step, "hold")) {
		printf("hold: until SIGTERM or SIGINT\n");
		fflush(stdout);
		return;
	}
	if (r < 0) {
		printf("%s -> -%s (nothing started)\n", step, strerrorname_np(-r) ? strerrorname_np(-r) : "?");
		fflush(stdout);
		t->status = exit_status(r);
		sd_event_exit(t->ev, t->status);
	}
}

static int on_start(sd_event_source *s, void *userdata)
{
	run_next(userdata);
	return 0;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "backend", required_argument, NULL, 'b' },
		{ "lockspace", required_argument, NULL, 'l' },
		{ "timeout", required_argument, NULL, 't' },
		{ "libvirt-conf", required_argument, NULL, 'c' },
		{ "socket", required_argument, NULL, 's' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	struct host_vm_lock_params p = { 0 };
	const char *backend = "dlm";
	struct tool t = { 0 };
	sigset_t ss;
	int c, r;

	while ((c = getopt_long(argc, argv, "+b:l:t:c:s:h", opts, NULL)) != -1) {
		switch (c) {
		case 'b': backend = optarg; break;
		case 'l': p.lockspace = optarg; break;
		case 't': p.op_timeout_usec = (uint64_t)(strtod(optarg, NULL) * USEC_PER_SEC); break;
		case 'c': p.libvirt_conf_dir = optarg; break;
		case 's': p.virtlockd_socket = optarg; break;
		default:
			fprintf(stderr, "usage: %s [--backend dlm|lockd] [--lockspace NAME] [--timeout SECONDS] "
					"[--libvirt-conf DIR] [--socket PATH] STEP...\n"
					"  STEP: probe | list | acquire:VM | release:VM | wait:PATH | sleep:SECONDS | hold\n",
				argv[0]);
			return c == 'h' ? 0 : 1;
		}
	}
	if (optind == argc) {
		fprintf(stderr, "vm-lock-tool: no step (--help)\n");
		return 1;
	}
	t.ops = host_vm_lock_find(backend);
	if (!t.ops) {
		fprintf(stderr, "vm-lock-tool: no VM lock backend '%s' in this build\n", backend);
		return 1;
	}
	t.steps = argv + optind;
	t.n_steps = argc - optind;
	sigemptyset(&ss);
	sigaddset(&ss, SIGTERM);
	sigaddset(&ss, SIGINT);
	sigprocmask(SIG_BLOCK, &ss, NULL);
	r = sd_event_default(&t.ev);
	if (r >= 0)
		r = sd_event_add_signal(t.ev, NULL, SIGTERM, on_signal, &t);
	if (r >= 0)
		r = sd_event_add_signal(t.ev, NULL, SIGINT, on_signal, &t);
	if (r >= 0)
		r = sd_event_add_time_relative(t.ev, &t.timer, CLOCK_MONOTONIC, UINT64_MAX / 2, 0, on_timer, &t);
	if (r >= 0)
		r = sd_event_source_set_enabled(t.timer, SD_EVENT_OFF);
	if (r >= 0)
		r = sd_event_add_defer(t.ev, NULL, on_start, &t);
	if (r < 0) {
		fprintf(stderr, "vm-lock-tool: event loop: %s\n", strerror(-r));
		return 1;
	}
	t.ctx = (struct host_ctx){ .event = t.ev, .log = tool_log, .node_name = "vm-lock-tool" };
	r = t.ops->open(&t.ctx, &p, &t.lock);
	if (r < 0) {
		fprintf(stderr, "vm-lock-tool: open %s: %s\n", backend, strerror(-r));
		return 1;
	}
	r = sd_event_loop(t.ev);
	t.ops->close(t.lock);
	sd_event_source_unref(t.timer);
	sd_event_unref(t.ev);
	return r < 0 ? 1 : r;
}
