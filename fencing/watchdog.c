/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The watchdog feeder and the real device (watchdog.h says what and why).
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/watchdog.h>
#include <stdarg.h>
#include <string.h>
#include <sys/ioctl.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "fencing/watchdog.h"
#include "macros.h"
#include "timeouts.h"

static uint64_t now_usec(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * USEC_PER_SEC + (uint64_t)ts.tv_nsec / 1000;
}

_printf_(2, 3) static void set_error(char **error, const char *fmt, ...)
{
	va_list ap;
	char *s;

	if (!error)
		return;
	va_start(ap, fmt);
	if (vasprintf(&s, fmt, ap) < 0)
		s = NULL;
	va_end(ap);
	free(*error);
	*error = s;
}

/* ---- "dev": the kernel's watchdog API --------------------------------------------------------- */

static int real_open(const char *path, int flags) { return open(path, flags); }
static int real_ioctl(int fd, unsigned long request, void *arg) { return ioctl(fd, request, arg); }
static ssize_t real_write(int fd, const void *buf, size_t len) { return write(fd, buf, len); }
static int real_close(int fd) { return close(fd); }

static const struct watchdog_sys real_sys = {
	.open = real_open, .ioctl = real_ioctl, .write = real_write, .close = real_close,
};

struct dev {
	const struct watchdog_sys *sys;   /* borrowed (static or the test's) */
	int fd;
	char *path;
	struct watchdog_info info;        /* WDIOC_GETSUPPORT; identity "" when unsupported */
};

static int dev_open(const struct watchdog_config *cfg, void **out, char **error)
{
	const struct watchdog_sys *sys = cfg->sys ? cfg->sys : &real_sys;
	const char *path = cfg->path ? cfg->path : WATCHDOG_DEFAULT_PATH;
	struct dev *d;
	int fd, r;

	/* O_WRONLY: the magic close is a write; no O_NONBLOCK games, the ioctls do not block. */
	fd = sys->open(path, O_WRONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0) {
		r = -errno;
		if (r == -ENOENT)
			set_error(error, "watchdog %s: no such device (load the host's watchdog driver, e.g. "
				  "iTCO_wdt, ipmi_watchdog, i6300esb in a VM; softdog only as a last resort)", path);
		else if (r == -EBUSY)
			set_error(error, "watchdog %s: already open by another process (wdmd, the watchdog daemon, "
				  "systemd's RuntimeWatchdogSec?): one opener only", path);
		else
			set_error(error, "watchdog %s: %s", path, strerror(-r));
		return r;
	}
	d = calloc(1, sizeof *d);
	if (!d || !(d->path = strdup(path))) {
		free(d);
		sys->close(fd);
		return -ENOMEM;
	}
	d->sys = sys;
	d->fd = fd;
	/* Identity and options; a driver without GETSUPPORT is not a watchdog we can trust. */
	if (sys->ioctl(fd, WDIOC_GETSUPPORT, &d->info) < 0) {
		r = -errno;
		set_error(error, "watchdog %s: WDIOC_GETSUPPORT: %s%s", path, strerror(-r),
			  r == -ENOTTY ? " (not a watchdog device)" : "");
		/* Not a watchdog: closing does not matter; a watchdog that failed: do not disarm. */
		sys->close(fd);
		free(d->path);
		free(d);
		return r;
	}
	*out = d;
	return 0;
}

static int dev_set_timeout(void *p, unsigned seconds, unsigned *set_seconds, char **error)
{
	struct dev *d = p;
	int t = (int)seconds, got = 0;

	if (d->info.options & WDIOF_SETTIMEOUT) {
		/* The driver writes back what it set (it may round); GETTIMEOUT below is the word. */
		if (d->sys->ioctl(d->fd, WDIOC_SETTIMEOUT, &t) < 0) {
			int r = -errno;
			set_error(error, "watchdog %s: WDIOC_SETTIMEOUT %u s: %s", d->path, seconds, strerror(-r));
			return r;
		}
	}
	if (d->sys->ioctl(d->fd, WDIOC_GETTIMEOUT, &got) < 0) {
		int r = -errno;
		if (!(d->info.options & WDIOF_SETTIMEOUT)) {
			set_error(error, "watchdog %s: cannot set its timeout and does not say it: %s", d->path,
				  strerror(-r));
			return r;
		}
		got = t;   /* SETTIMEOUT's write-back is all we have */
	}
	if (got <= 0) {
		set_error(error, "watchdog %s: reports a timeout of %d s", d->path, got);
		return -EIO;
	}
	/* SETTIMEOUT pings on most drivers; make sure of it. */
	if (d->sys->ioctl(d->fd, WDIOC_KEEPALIVE, &t) < 0) {
		int r = -errno;
		set_error(error, "watchdog %s: WDIOC_KEEPALIVE: %s", d->path, strerror(-r));
		return r;
	}
	*set_seconds = (unsigned)got;
	return 0;
}

static int dev_keepalive(void *p)
{
	struct dev *d = p;
	int dummy = 0;

	return d->sys->ioctl(d->fd, WDIOC_KEEPALIVE, &dummy) < 0 ? -errno : 0;
}

static void dev_info(void *p, char *identity, size_t size, bool *crash_safe)
{
	struct dev *d = p;

	snprintf(identity, size, "%.*s", (int)sizeof d->info.identity, (const char *)d->info.identity);
	*crash_safe = d->info.options & WDIOF_MAGICCLOSE;
}

static void dev_close(void *p, bool disarm)
{
	struct dev *d = p;

	if (!d)
		return;
	if (disarm)
		(void)d->sys->write(d->fd, "V", 1);
	d->sys->close(d->fd);
	free(d->path);
	free(d);
}

const struct watchdog_device_ops watchdog_dev_ops = {
	.name = "dev", .open = dev_open, .set_timeout = dev_set_timeout, .keepalive = dev_keepalive,
	.info = dev_info, .close = dev_close,
};

const struct watchdog_device_ops *watchdog_device_find(const char *name)
{
	if (!name)
		return NULL;
	if (strcmp(name, "dev") == 0)
		return &watchdog_dev_ops;
	if (strcmp(name, "sim") == 0)
		return &watchdog_sim_ops;
	return NULL;
}

/* ---- the feeder ----------------------------------------------------------------------------------- */

struct watchdog {
	sd_event *event;                  /* referenced */
	struct watchdog_config cfg;       /* copied; what it points to is borrowed */
	const struct watchdog_device_ops *ops;
	void *dev;                        /* owned; NULL when not armed */
	sd_event_source *timer;           /* owned */
	struct watchdog_state st;
};

_printf_(3, 4) static void wlog(struct watchdog *w, int level, const char *fmt, ...)
{
	char buf[512];
	va_list ap;

	if (!w->cfg.log)
		return;
	va_start(ap, fmt);
	vsnprintf(buf, sizeof buf, fmt, ap);
	va_end(ap);
	w->cfg.log(w->cfg.log_userdata, level, buf);
}

int watchdog_new(sd_event *ev, const struct watchdog_config *cfg, struct watchdog **out)
{
	struct watchdog *w;

	if (!ev || !cfg || !cfg->timeouts || !cfg->timeouts->base.watchdog_timeout_usec || !cfg->healthy || !out)
		return -EINVAL;
	w = calloc(1, sizeof *w);
	if (!w)
		return -ENOMEM;
	w->event = sd_event_ref(ev);
	w->cfg = *cfg;
	w->ops = cfg->ops ? cfg->ops : &watchdog_dev_ops;
	w->st.requested_sec = (unsigned)(cfg->timeouts->base.watchdog_timeout_usec / USEC_PER_SEC);
	*out = w;
	return 0;
}

/* One decision: feed now or not, from the caller's health at this instant. */
static void tick(struct watchdog *w)
{
	const char *why = NULL;
	bool healthy = w->cfg.healthy(w->cfg.userdata, &why);
	int r;

	if (!healthy) {
		/* when the last keepalive went out, in the line: the reset is due timeout_sec after it */
		if (w->st.feeding)
			wlog(w, LOG_WARNING, "watchdog %s: stopped feeding it (%s): last keepalive %llu ms ago; the host "
			     "resets %u s after it unless the node is healthy again", w->st.identity,
			     why ? why : "not healthy",
			     (unsigned long long)((now_usec() - w->st.last_keepalive_usec) / USEC_PER_MSEC),
			     w->st.timeout_sec);
		w->st.feeding = false;
		snprintf(w->st.why_not, sizeof w->st.why_not, "%s", why ? why : "not healthy");
		return;
	}
	r = w->ops->keepalive(w->dev);
	if (r < 0) {
		/* Loud, and nothing else to do: the next tick tries again; if it keeps failing the device
		 * fires, which is the safe direction. */
		if (w->st.feeding || !w->st.why_not[0] || strncmp(w->st.why_not, "keepalive", 9) != 0)
			wlog(w, LOG_ERR, "watchdog %s: keepalive failed: %s", w->st.identity, strerror(-r));
		w->st.feeding = false;
		snprintf(w->st.why_not, sizeof w->st.why_not, "keepalive failed: %s", strerror(-r));
		return;
	}
	if (!w->st.feeding && w->st.keepalives)
		wlog(w, LOG_NOTICE, "watchdog %s: feeding it again", w->st.identity);
	w->st.feeding = true;
	w->st.why_not[0] = '\0';
	w->st.last_keepalive_usec = now_usec();
	w->st.keepalives++;
}

static int on_timer(sd_event_source *s, uint64_t usec, void *userdata)
{
	struct watchdog *w = userdata;

	tick(w);
	/* From now, not from the planned time: a loop that was late must not fire a burst. */
	return sd_event_source_set_time(s, now_usec() + w->st.keepalive_usec);
}

int watchdog_arm(struct watchdog *w, char **error)
{
	const struct timeouts *t = w->cfg.timeouts;
	unsigned set = 0;
	uint64_t interval;
	int r;

	if (w->dev)
		return 0;
	r = w->ops->open(&w->cfg, &w->dev, error);
	if (r < 0) {
		w->dev = NULL;
		return r;
	}
	w->ops->info(w->dev, w->st.identity, sizeof w->st.identity, &w->st.crash_safe);
	if (!w->st.identity[0])
		snprintf(w->st.identity, sizeof w->st.identity, "%s", w->cfg.path ? w->cfg.path : WATCHDOG_DEFAULT_PATH);
	r = w->ops->set_timeout(w->dev, w->st.requested_sec, &set, error);
	if (r < 0)
		goto fail;
	w->st.timeout_sec = set;
	w->st.matches = set == w->st.requested_sec;
	/* The derived interval; a driver that set less than asked gets fed at a quarter of its own
	 * timeout too, so a shorter device timeout never makes a healthy node reset. */
	interval = t->watchdog_keepalive_usec ? t->watchdog_keepalive_usec : t->base.watchdog_timeout_usec / 4;
	if (interval > (uint64_t)set * USEC_PER_SEC / 4)
		interval = (uint64_t)set * USEC_PER_SEC / 4;
	w->st.keepalive_usec = interval;
	r = sd_event_add_time(w->event, &w->timer, CLOCK_MONOTONIC, now_usec() + interval,
			      USEC_PER_MSEC /* slack: far below any keepalive interval */, on_timer, w);
	if (r >= 0)   /* a repeating timer: on_timer moves it on each time */
		r = sd_event_source_set_enabled(w->timer, SD_EVENT_ON);
	if (r < 0) {
		set_error(error, "watchdog: cannot add its timer: %s", strerror(-r));
		goto fail;
	}
	w->st.open = true;
	w->st.feeding = true;   /* set_timeout fed it */
	w->st.last_keepalive_usec = now_usec();
	w->st.keepalives = 1;
	wlog(w, w->st.matches && w->st.crash_safe ? LOG_INFO : LOG_ERR,
	     "watchdog %s (%s): armed, timeout %u s (asked %u s%s), keepalive every %llu ms%s", w->st.identity,
	     w->ops->name, set, w->st.requested_sec,
	     w->st.matches ? "" : ": the survivors' watchdog deadline does not hold for it",
	     (unsigned long long)(interval / USEC_PER_MSEC),
	     w->st.crash_safe ? "" : "; the driver stops on any close, so a crashed kvmcd would disarm it "
				     "(load it with nowayout=1)");
	/* The caller's health decides from the first tick on, like every later one. */
	tick(w);
	return 0;
fail:
	/* Failed half-way: close without disarming (an open device is armed; never disarm it on an
	 * error path: the node may be running VMs). */
	w->ops->close(w->dev, false);
	w->dev = NULL;
	w->timer = sd_event_source_disable_unref(w->timer);
	w->st = (struct watchdog_state){ .requested_sec = w->st.requested_sec };
	return r;
}

void watchdog_poke(struct watchdog *w)
{
	if (!w || !w->dev)
		return;
	tick(w);
	if (w->timer)
		(void)sd_event_source_set_time(w->timer, now_usec() + w->st.keepalive_usec);
}

void watchdog_close(struct watchdog *w, bool disarm)
{
	if (!w || !w->dev)
		return;
	w->timer = sd_event_source_disable_unref(w->timer);
	w->ops->close(w->dev, disarm);
	w->dev = NULL;
	wlog(w, disarm ? LOG_NOTICE : LOG_WARNING, "watchdog %s: closed %s", w->st.identity,
	     disarm ? "and disarmed (magic close)"
		    : "WITHOUT disarming: the host resets when the timeout passes unless kvmcd opens and feeds it again");
	w->st.open = false;
	w->st.feeding = false;
}

void watchdog_free(struct watchdog *w)
{
	if (!w)
		return;
	if (w->dev) {
		w->timer = sd_event_source_disable_unref(w->timer);
		w->ops->close(w->dev, false);
		w->dev = NULL;
	}
	sd_event_unref(w->event);
	free(w);
}

void watchdog_get_state(const struct watchdog *w, struct watchdog_state *out)
{
	*out = w->st;
}
