/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * fencing/watchdog.c: the feeder and the real device code ("dev") against a fake kernel (the
 * watchdog_sys seam: open / ioctl / write / close as the kernel's watchdog core answers them),
 * plus the real syscalls on things that are not a watchdog. What an admin relies on: the timeout
 * the driver really set is what the state reports (and whether the survivors' deadline holds);
 * keepalives come every interval while healthy and stop at once when not; a close without the
 * magic 'V' -- free, an error path, a crash -- leaves it armed; only a deliberate disarm writes
 * 'V'; a driver that would stop on a crash is called out. About 4 s.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/watchdog.h>
#include <string.h>
#include <syslog.h>
#include <time.h>

#include "fencing/watchdog.h"
#include "macros.h"
#include "tap.h"
#include "timeouts.h"

#define MSEC USEC_PER_MSEC
#define SEC USEC_PER_SEC
#define FAKE_PATH "/dev/watchdog-fake"
#define FAKE_FD 1000

static sd_event *ev;

static uint64_t now_usec(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * SEC + (uint64_t)ts.tv_nsec / 1000;
}

static void run_for(uint64_t usec)
{
	uint64_t end = now_usec() + usec;

	while (now_usec() < end)
		sd_event_run(ev, end - now_usec());
}

/* ---- the fake kernel ---------------------------------------------------------------------------- */

static struct {
	bool busy;
	unsigned options;
	int timeout;              /* what the "driver" has */
	int set_to;               /* > 0: SETTIMEOUT sets this instead of what was asked (rounding) */
	bool open;
	bool magic;               /* 'V' written since the open */
	bool stopped;             /* the device was disarmed by a close */
	bool fail_keepalive;
	unsigned keepalives;
	uint64_t ka_at[64];
	char log[4096];
} k;

static void fake_reset(unsigned options)
{
	k = (typeof(k)){ .options = options, .timeout = 30 };
}

static int fake_open(const char *path, int flags)
{
	if (strcmp(path, FAKE_PATH) != 0)
		return errno = ENOENT, -1;
	if (k.open || k.busy)
		return errno = EBUSY, -1;
	k.open = true;
	k.magic = false;
	k.stopped = false;
	return FAKE_FD;
}

static void ping(void)
{
	if (k.keepalives < ARRAY_SIZE(k.ka_at))
		k.ka_at[k.keepalives] = now_usec();
	k.keepalives++;
}

static int fake_ioctl(int fd, unsigned long req, void *arg)
{
	if (fd != FAKE_FD || !k.open)
		return errno = EBADF, -1;
	switch (req) {
	case WDIOC_GETSUPPORT: {
		struct watchdog_info *i = arg;
		*i = (struct watchdog_info){ .options = k.options };
		snprintf((char *)i->identity, sizeof i->identity, "fake wdt");
		return 0;
	}
	case WDIOC_SETTIMEOUT:
		if (!(k.options & WDIOF_SETTIMEOUT))
			return errno = EOPNOTSUPP, -1;
		k.timeout = k.set_to > 0 ? k.set_to : *(int *)arg;
		*(int *)arg = k.timeout;
		ping();
		return 0;
	case WDIOC_GETTIMEOUT:
		*(int *)arg = k.timeout;
		return 0;
	case WDIOC_KEEPALIVE:
		if (k.fail_keepalive)
			return errno = EIO, -1;
		ping();
		return 0;
	default:
		return errno = ENOTTY, -1;
	}
}

static ssize_t fake_write(int fd, const void *buf, size_t len)
{
	if (len && memchr(buf, 'V', len))
		k.magic = true;
	return (ssize_t)len;
}

/* The kernel's watchdog core: a close stops the device only after a magic close, or always for a
 * driver without WDIOF_MAGICCLOSE (nowayout aside). */
static int fake_close(int fd)
{
	k.open = false;
	k.stopped = (k.options & WDIOF_MAGICCLOSE) ? k.magic : true;
	return 0;
}

static const struct watchdog_sys fake_sys = {
	.open = fake_open, .ioctl = fake_ioctl, .write = fake_write, .close = fake_close,
};

/* ---- the caller ------------------------------------------------------------------------------ */

static bool healthy = true;
static const char *unhealthy_why = "quorum lost";

static bool is_healthy(void *userdata, const char **why)
{
	if (!healthy)
		*why = unhealthy_why;
	return healthy;
}

static char logbuf[16384];
static size_t loglen;

static void collect_log(void *userdata, int level, const char *text)
{
	int n = snprintf(logbuf + loglen, sizeof logbuf - loglen, "%d %s\n", level, text);
	if (n > 0 && (size_t)n < sizeof logbuf - loglen)
		loglen += (size_t)n;
	if (getenv("WATCHDOG_TEST_VERBOSE"))
		printf("# log %d: %s\n", level, text);
}

static struct timeouts timeouts;

static struct watchdog *make(const char *path, const struct watchdog_sys *sys)
{
	struct watchdog_config cfg = {
		.path = path, .timeouts = &timeouts, .healthy = is_healthy, .log = collect_log, .sys = sys,
	};
	struct watchdog *w = NULL;

	CHECK(watchdog_new(ev, &cfg, &w) == 0, "watchdog_new");
	return w;
}

static void test_open_errors(void)
{
	_cleanup_free_ char *error = NULL;
	struct watchdog *w;
	struct watchdog_state st;
	char tmp[] = "/tmp/test-watchdog.XXXXXX";
	int fd, r;

	fake_reset(WDIOF_SETTIMEOUT | WDIOF_MAGICCLOSE | WDIOF_KEEPALIVEPING);
	w = make("/dev/no-such-watchdog", &fake_sys);
	r = watchdog_arm(w, &error);
	CHECK(r == -ENOENT && error && strstr(error, "/dev/no-such-watchdog: no such device") &&
	      strstr(error, "driver"), "no device: %d %s", r, error);
	watchdog_get_state(w, &st);
	CHECK(!st.open, "not armed after a failed arm");
	watchdog_free(w);

	k.busy = true;
	w = make(FAKE_PATH, &fake_sys);
	free(error);
	error = NULL;
	r = watchdog_arm(w, &error);
	CHECK(r == -EBUSY && strstr(error, "already open by another process"), "busy: %d %s", r, error);
	watchdog_free(w);

	/* The real syscalls on a regular file: open works, the ioctls do not. */
	fd = mkstemp(tmp);
	CHECK(fd >= 0, "mkstemp");
	close(fd);
	w = make(tmp, NULL);
	free(error);
	error = NULL;
	r = watchdog_arm(w, &error);
	CHECK(r == -ENOTTY && strstr(error, "not a watchdog device"), "a regular file: %d %s", r, error);
	watchdog_free(w);
	unlink(tmp);
}

static void test_feeding(void)
{
	_cleanup_free_ char *error = NULL;
	struct watchdog_state st;
	struct watchdog *w;
	unsigned before;
	uint64_t t0, max_gap = 0;
	int r;

	fake_reset(WDIOF_SETTIMEOUT | WDIOF_MAGICCLOSE | WDIOF_KEEPALIVEPING);
	healthy = true;
	w = make(FAKE_PATH, &fake_sys);
	t0 = now_usec();
	r = watchdog_arm(w, &error);
	CHECK(r == 0, "arm: %d %s", r, error);
	watchdog_get_state(w, &st);
	CHECK(st.open && st.timeout_sec == 2 && st.requested_sec == 2 && st.matches && st.crash_safe &&
	      st.keepalive_usec == 500 * MSEC && strcmp(st.identity, "fake wdt") == 0,
	      "armed: timeout %u (asked %u), matches %d, crash_safe %d, keepalive %llu ms, '%s'", st.timeout_sec,
	      st.requested_sec, st.matches, st.crash_safe, (unsigned long long)st.keepalive_usec / MSEC, st.identity);
	CHECK(k.timeout == 2, "the driver was set to 2 s (%d)", k.timeout);
	CHECK(watchdog_arm(w, NULL) == 0 && k.open, "arm again: idempotent");

	run_for(1600 * MSEC);
	/* Set + one at arm + one per 500 ms. */
	CHECK(k.keepalives >= 4 && k.keepalives <= 7, "keepalives while healthy: %u in 1.6 s", k.keepalives);
	for (unsigned i = 1; i < k.keepalives && i < ARRAY_SIZE(k.ka_at); i++)
		if (k.ka_at[i] - k.ka_at[i - 1] > max_gap)
			max_gap = k.ka_at[i] - k.ka_at[i - 1];
	CHECK(max_gap <= 600 * MSEC, "never more than the interval between keepalives (%llu ms)",
	      (unsigned long long)max_gap / MSEC);
	CHECK(k.ka_at[0] - t0 < 100 * MSEC, "fed at once when armed");

	/* Quorum lost: not one keepalive more, from the next tick on. */
	healthy = false;
	watchdog_poke(w);
	before = k.keepalives;
	run_for(1500 * MSEC);
	CHECK(k.keepalives == before, "no keepalive while unhealthy (%u more)", k.keepalives - before);
	watchdog_get_state(w, &st);
	CHECK(!st.feeding && strcmp(st.why_not, "quorum lost") == 0, "state: not feeding, why '%s'", st.why_not);
	CHECK(strstr(logbuf, "stopped feeding it (quorum lost)") != NULL, "the log says why it stopped");
	{ /* and when the last keepalive went out: the reset is due one timeout after it */
		const char *p = strstr(logbuf, "last keepalive ");
		unsigned long long ago = 0;
		CHECK(p && sscanf(p, "last keepalive %llu ms ago", &ago) == 1 && ago <= 600 && strstr(p, "resets 2 s after it"),
		      "the log says when the last keepalive went out (%llu ms ago)", ago);
	}

	/* Healthy again: fed at once on a poke, then every interval. */
	healthy = true;
	before = k.keepalives;
	watchdog_poke(w);
	CHECK(k.keepalives == before + 1, "a poke feeds at once");
	run_for(1100 * MSEC);
	CHECK(k.keepalives >= before + 3, "fed again every interval (%u)", k.keepalives - before);
	watchdog_get_state(w, &st);
	CHECK(st.feeding && !st.why_not[0] && strstr(logbuf, "feeding it again"), "feeding again");

	/* A keepalive the driver refuses: loud, not fed, tried again next tick. */
	k.fail_keepalive = true;
	run_for(600 * MSEC);
	watchdog_get_state(w, &st);
	CHECK(!st.feeding && strstr(st.why_not, "keepalive failed"), "a failing keepalive: %s", st.why_not);
	CHECK(strstr(logbuf, "keepalive failed: Input/output error") != NULL, "logged");
	k.fail_keepalive = false;
	run_for(600 * MSEC);
	watchdog_get_state(w, &st);
	CHECK(st.feeding, "fed again once the driver answers");

	/* free() is not a disarm: the device stays armed, like after a crash. */
	watchdog_free(w);
	CHECK(!k.open && !k.magic && !k.stopped, "freed without 'V': still armed");
}

static void test_disarm(void)
{
	struct watchdog *w;
	unsigned before;

	fake_reset(WDIOF_SETTIMEOUT | WDIOF_MAGICCLOSE | WDIOF_KEEPALIVEPING);
	healthy = true;
	w = make(FAKE_PATH, &fake_sys);
	CHECK(watchdog_arm(w, NULL) == 0, "arm");
	watchdog_close(w, false);
	CHECK(!k.open && !k.magic && !k.stopped, "close without disarm: still armed");
	before = k.keepalives;
	run_for(700 * MSEC);
	CHECK(k.keepalives == before, "no keepalive after close");
	CHECK(watchdog_arm(w, NULL) == 0 && k.open, "opened again (a restarted kvmcd)");
	watchdog_close(w, true);
	CHECK(!k.open && k.magic && k.stopped, "a deliberate disarm: magic close, stopped");
	watchdog_free(w);
}

static void test_drivers(void)
{
	_cleanup_free_ char *error = NULL;
	struct watchdog_state st;
	struct watchdog *w;

	/* A driver that rounds the timeout up: reported, and it does not match the cluster's. */
	fake_reset(WDIOF_SETTIMEOUT | WDIOF_MAGICCLOSE);
	k.set_to = 4;
	w = make(FAKE_PATH, &fake_sys);
	CHECK(watchdog_arm(w, &error) == 0, "arm: %s", error);
	watchdog_get_state(w, &st);
	CHECK(st.timeout_sec == 4 && st.requested_sec == 2 && !st.matches, "rounded up: %u, matches %d",
	      st.timeout_sec, st.matches);
	CHECK(strstr(logbuf, "timeout 4 s (asked 2 s: the survivors' watchdog deadline does not hold"), "logged");
	watchdog_free(w);

	/* One that sets less than asked: fed at a quarter of its own timeout. */
	fake_reset(WDIOF_SETTIMEOUT | WDIOF_MAGICCLOSE);
	timeouts.base.watchdog_timeout_usec = 8 * SEC;
	timeouts.watchdog_keepalive_usec = 2 * SEC;
	k.set_to = 1;
	w = make(FAKE_PATH, &fake_sys);
	CHECK(watchdog_arm(w, NULL) == 0, "arm");
	watchdog_get_state(w, &st);
	CHECK(st.timeout_sec == 1 && !st.matches && st.keepalive_usec == 250 * MSEC,
	      "shorter: %u s, keepalive %llu ms", st.timeout_sec, (unsigned long long)st.keepalive_usec / MSEC);
	watchdog_free(w);
	timeouts.base.watchdog_timeout_usec = 2 * SEC;
	timeouts.watchdog_keepalive_usec = 500 * MSEC;

	/* One without the magic close: any close stops it, so a crash would disarm it. */
	fake_reset(WDIOF_SETTIMEOUT);
	w = make(FAKE_PATH, &fake_sys);
	CHECK(watchdog_arm(w, NULL) == 0, "arm");
	watchdog_get_state(w, &st);
	CHECK(!st.crash_safe && strstr(logbuf, "nowayout=1"), "not crash-safe, and said so");
	watchdog_free(w);
	CHECK(k.stopped, "(the fake kernel stopped it on close, as such a driver does)");

	/* One with a fixed timeout: what it has is reported. */
	fake_reset(WDIOF_MAGICCLOSE);
	k.timeout = 60;
	w = make(FAKE_PATH, &fake_sys);
	CHECK(watchdog_arm(w, NULL) == 0, "arm");
	watchdog_get_state(w, &st);
	CHECK(st.timeout_sec == 60 && !st.matches && st.keepalive_usec == 500 * MSEC, "fixed 60 s: %u",
	      st.timeout_sec);
	watchdog_free(w);
}

int main(void)
{
	if (sd_event_default(&ev) < 0)
		return 1;
	timeouts.base.watchdog_timeout_usec = 2 * SEC;
	timeouts.watchdog_keepalive_usec = 500 * MSEC;
	{
		struct watchdog_config bad = { .timeouts = &timeouts };
		struct watchdog *w = NULL;
		CHECK(watchdog_new(ev, &bad, &w) == -EINVAL, "a config without healthy() is refused");
	}
	CHECK(watchdog_device_find("dev") == &watchdog_dev_ops && watchdog_device_find("sim") == &watchdog_sim_ops &&
	      !watchdog_device_find("softdog"), "device tables by name");
	test_open_errors();
	test_feeding();
	test_disarm();
	test_drivers();
	sd_event_unref(ev);
	return tap_done("test-watchdog");
}
