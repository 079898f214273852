/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Runs fencing/watchdog.c from the command line, as kvmcd will: arm a watchdog, feed it from an
 * sd-event loop while "healthy", then do what a node does when it fails. For the simulated
 * watchdog's test (test-watchdog-sim.sh) and for trying a real device by hand (a full-stack
 * guest with i6300esb: `watchdog-tool --device dev --path /dev/watchdog --timeout 5 --healthy 10
 * --then stop`).
 *
 *   watchdog-tool [--device dev|sim] [--path P] --timeout S [--keepalive-ms MS] --healthy SEC
 *                 --then stop|close|disarm|crash
 *     --healthy SEC  healthy (fed) for SEC seconds after arming, then unhealthy (quorum lost)
 *     --then stop    keep running, not feeding, until killed (the device should fire)
 *            close   close without disarming and exit 0 (stays armed: should fire)
 *            disarm  the magic close and exit 0 (should NOT fire)
 *            crash   abort() while healthy, at the end of the healthy time (should fire)
 *
 * Prints "armed timeout=N requested=N matches=0|1 crash_safe=0|1 keepalive_ms=N identity=..."
 * once armed, "unhealthy last_keepalive_ms_ago=N" when it stops feeding and "keepalives=N"
 * when it ends.
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <string.h>
#include <syslog.h>
#include <time.h>

#include "fencing/watchdog.h"
#include "macros.h"
#include "timeouts.h"

static uint64_t healthy_until;

static uint64_t now_usec(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * USEC_PER_SEC + (uint64_t)ts.tv_nsec / 1000;
}

static bool is_healthy(void *userdata, const char **why)
{
	if (now_usec() < healthy_until)
		return true;
	*why = "the tool's healthy time is over";
	return false;
}

static void log_stderr(void *userdata, int level, const char *text)
{
	fprintf(stderr, "watchdog-tool: %s\n", text);
}

struct run {
	struct watchdog *w;
	const char *then;
	sd_event *ev;
};

static int on_end_of_health(sd_event_source *s, uint64_t usec, void *userdata)
{
	struct run *run = userdata;
	struct watchdog_state st;

	watchdog_get_state(run->w, &st);
	if (strcmp(run->then, "crash") == 0) {
		printf("keepalives=%llu\ncrashing\n", (unsigned long long)st.keepalives);
		fflush(stdout);
		signal(SIGABRT, SIG_DFL);
		abort();
	}
	watchdog_poke(run->w);   /* stops feeding now */
	watchdog_get_state(run->w, &st);
	/* How long ago the last keepalive was: the device fires one timeout after it. */
	printf("unhealthy last_keepalive_ms_ago=%llu\n",
	       (unsigned long long)((now_usec() - st.last_keepalive_usec) / USEC_PER_MSEC));
	fflush(stdout);
	if (strcmp(run->then, "stop") == 0)
		return 0;        /* the loop goes on, feeding nothing */
	watchdog_get_state(run->w, &st);
	watchdog_close(run->w, strcmp(run->then, "disarm") == 0);
	printf("keepalives=%llu\n%s\n", (unsigned long long)st.keepalives, run->then);
	fflush(stdout);
	return sd_event_exit(run->ev, 0);
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "device", required_argument, NULL, 'd' }, { "path", required_argument, NULL, 'p' },
		{ "timeout", required_argument, NULL, 't' }, { "keepalive-ms", required_argument, NULL, 'k' },
		{ "healthy", required_argument, NULL, 'h' }, { "then", required_argument, NULL, 'n' },
		{ 0 },
	};
	const char *device = "dev", *path = NULL, *then = "stop";
	unsigned timeout = 0, keepalive_ms = 0;
	double healthy_sec = 0;
	struct timeouts t = { 0 };
	struct watchdog_config cfg;
	struct watchdog_state st;
	struct run run = { 0 };
	_cleanup_free_ char *error = NULL;
	sd_event_source *end = NULL;
	int c, r;

	while ((c = getopt_long(argc, argv, "", opts, NULL)) >= 0) {
		switch (c) {
		case 'd': device = optarg; break;
		case 'p': path = optarg; break;
		case 't': timeout = (unsigned)atoi(optarg); break;
		case 'k': keepalive_ms = (unsigned)atoi(optarg); break;
		case 'h': healthy_sec = atof(optarg); break;
		case 'n': then = optarg; break;
		default: return 2;
		}
	}
	if (!timeout || !watchdog_device_find(device) ||
	    (strcmp(then, "stop") && strcmp(then, "close") && strcmp(then, "disarm") && strcmp(then, "crash"))) {
		fprintf(stderr, "usage: watchdog-tool [--device dev|sim] [--path P] --timeout S [--keepalive-ms MS] "
			"--healthy SEC --then stop|close|disarm|crash\n");
		return 2;
	}
	/* The two values the feeder reads, as timeouts_derive() would give them. */
	t.base.watchdog_timeout_usec = (uint64_t)timeout * USEC_PER_SEC;
	t.watchdog_keepalive_usec = keepalive_ms ? (uint64_t)keepalive_ms * USEC_PER_MSEC
						 : t.base.watchdog_timeout_usec / 4;
	if (sd_event_default(&run.ev) < 0)
		return 1;
	cfg = (struct watchdog_config){
		.ops = watchdog_device_find(device), .path = path, .timeouts = &t, .healthy = is_healthy,
		.log = log_stderr,
	};
	healthy_until = now_usec() + (uint64_t)(healthy_sec * USEC_PER_SEC);
	if (watchdog_new(run.ev, &cfg, &run.w) < 0)
		return 1;
	r = watchdog_arm(run.w, &error);
	if (r < 0) {
		fprintf(stderr, "watchdog-tool: %s\n", error ? error : strerror(-r));
		return 1;
	}
	watchdog_get_state(run.w, &st);
	printf("armed timeout=%u requested=%u matches=%d crash_safe=%d keepalive_ms=%llu identity=%s\n",
	       st.timeout_sec, st.requested_sec, st.matches, st.crash_safe,
	       (unsigned long long)(st.keepalive_usec / USEC_PER_MSEC), st.identity);
	fflush(stdout);
	run.then = then;
	r = sd_event_add_time(run.ev, &end, CLOCK_MONOTONIC, healthy_until, 1, on_end_of_health, &run);
	if (r < 0)
		return 1;
	r = sd_event_loop(run.ev);
	sd_event_source_unref(end);
	watchdog_free(run.w);
	sd_event_unref(run.ev);
	return r < 0 ? 1 : 0;
}
