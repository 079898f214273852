/* SPDX-License-Identifier: GPL-2.0-or-later */
/* libvirt's domain lifecycle events as wake-ups for the loop (domain-events.h). */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "domain-events.h"
#include "macros.h"
#include "virt-common.h"

#ifdef HAVE_LIBVIRT

/* while libvirtd is unreachable: 1 s after losing it (a restart), doubling up to 30 s (a host
 * where it is not running at all costs a wake-up every 30 s, not every second) */
#define RECONNECT_MIN_SEC 1
#define RECONNECT_MAX_SEC 30

struct host_domain_events {
	struct host_ctx *ctx;          /* borrowed */
	host_domain_events_fn changed;
	void *userdata;
	char *uri;                     /* owned */
	int efd;                       /* owned: the thread -> loop wake-up (eventfd counter) */
	sd_event_source *source;       /* owned */
	pthread_t thread;
	bool thread_started;
	/* shared with the thread */
	pthread_mutex_t lock;
	pthread_cond_t wake;           /* the thread's wait between connection attempts */
	atomic_bool stop;
	atomic_bool connected;
	/* the thread's own */
	virConnectPtr conn;
	int callback_id;
	atomic_bool closed;            /* libvirt's close callback ran: reconnect */
	atomic_bool down;              /* the last connection attempt failed (for the log) */
	bool was_connected;            /* the loop's: what it last logged */
	bool said_down;                /* the loop's: "cannot connect" logged for this outage */
};

static pthread_once_t event_impl_once = PTHREAD_ONCE_INIT;
static int event_impl_r;

/* libvirt's default event loop, registered once per process before this watcher's connection
 * (events are delivered only through a registered loop). */
static void event_impl_register(void)
{
	event_impl_r = host_virt_init() < 0 || virEventRegisterDefaultImpl() < 0 ? -EIO : 0;
}

static void notify(struct host_domain_events *e)
{
	uint64_t one = 1;

	/* the counter saturates only after 2^64 - 2 unread events: never; EAGAIN is then harmless */
	(void)!write(e->efd, &one, sizeof(one));
}

static int on_lifecycle(virConnectPtr conn, virDomainPtr dom, int event, int detail, void *opaque)
{
	notify(opaque);
	return 0;
}

static void on_close(virConnectPtr conn, int reason, void *opaque)
{
	struct host_domain_events *e = opaque;

	atomic_store(&e->closed, true);
}

/* Wakes the thread out of virEventRunDefaultImpl(): a zero timeout fires at once. */
static void on_wake_timeout(int timer, void *opaque)
{
	virEventRemoveTimeout(timer);
}

static void disconnect(struct host_domain_events *e)
{
	if (!e->conn)
		return;
	if (e->callback_id >= 0)
		virConnectDomainEventDeregisterAny(e->conn, e->callback_id);
	virConnectUnregisterCloseCallback(e->conn, on_close);
	virConnectClose(e->conn);
	e->conn = NULL;
	e->callback_id = -1;
	atomic_store(&e->connected, false);
}

static int connect_once(struct host_domain_events *e)
{
	e->conn = virConnectOpen(e->uri);
	if (!e->conn)
		return -ECONNREFUSED;
	atomic_store(&e->closed, false);
	/* the local socket closes when libvirtd dies: no probes needed (and none to wake us) */
	(void)virConnectSetKeepAlive(e->conn, -1, 0);
	if (virConnectRegisterCloseCallback(e->conn, on_close, e, NULL) < 0)
		goto fail;
	e->callback_id = virConnectDomainEventRegisterAny(e->conn, NULL, VIR_DOMAIN_EVENT_ID_LIFECYCLE,
							  VIR_DOMAIN_EVENT_CALLBACK(on_lifecycle), e, NULL);
	if (e->callback_id < 0)
		goto fail;
	atomic_store(&e->connected, true);
	return 0;
fail:
	disconnect(e);
	return -EIO;
}

static void *run(void *arg)
{
	struct host_domain_events *e = arg;

	unsigned backoff = RECONNECT_MIN_SEC;

	while (!atomic_load(&e->stop)) {
		if (!e->conn) {
			if (connect_once(e) == 0) {
				backoff = RECONNECT_MIN_SEC;
				atomic_store(&e->down, false);
				notify(e); /* what happened while we were away: the caller lists again */
				continue;
			}
			if (!atomic_exchange(&e->down, true))
				notify(e); /* the loop logs it */
			pthread_mutex_lock(&e->lock);
			if (!atomic_load(&e->stop)) {
				struct timespec ts;
				clock_gettime(CLOCK_REALTIME, &ts);
				ts.tv_sec += backoff;
				pthread_cond_timedwait(&e->wake, &e->lock, &ts);
			}
			backoff = backoff * 2 < RECONNECT_MAX_SEC ? backoff * 2 : RECONNECT_MAX_SEC;
			pthread_mutex_unlock(&e->lock);
			continue;
		}
		if (virEventRunDefaultImpl() < 0)
			atomic_store(&e->closed, true);
		if (atomic_load(&e->closed)) {
			disconnect(e);
			notify(e);
		}
	}
	disconnect(e);
	return NULL;
}

static int on_efd(sd_event_source *s, int fd, uint32_t revents, void *userdata)
{
	struct host_domain_events *e = userdata;
	uint64_t n;

	bool up = atomic_load(&e->connected);
	char text[300];

	if (read(fd, &n, sizeof(n)) != (ssize_t)sizeof(n) || n == 0)
		return 0;
	/* the thread's connection changes are logged here, from the loop, once per change */
	if (e->ctx->log && up && !e->was_connected) {
		snprintf(text, sizeof(text), "libvirt events: connected to %s", e->uri);
		e->ctx->log(e->ctx->log_userdata, LOG_INFO, text);
	} else if (e->ctx->log && !up && (e->was_connected || (atomic_load(&e->down) && !e->said_down))) {
		snprintf(text, sizeof(text), "libvirt events: no connection to %s (trying again, every 30 s at most)", e->uri);
		e->ctx->log(e->ctx->log_userdata, LOG_WARNING, text);
		e->said_down = true;
	}
	if (up)
		e->said_down = false;
	e->was_connected = up;
	e->changed(e->userdata);
	return 0;
}

int host_domain_events_start(struct host_ctx *ctx, host_domain_events_fn changed, void *userdata,
			     struct host_domain_events **out)
{
	struct host_domain_events *e;
	int r;

	*out = NULL;
	pthread_once(&event_impl_once, event_impl_register);
	if (event_impl_r < 0)
		return event_impl_r;
	e = calloc(1, sizeof(*e));
	if (!e)
		return -ENOMEM;
	e->ctx = ctx;
	e->changed = changed;
	e->userdata = userdata;
	e->callback_id = -1;
	e->efd = -1;
	pthread_mutex_init(&e->lock, NULL);
	pthread_cond_init(&e->wake, NULL);
	e->uri = strdup(ctx->libvirt_uri ? ctx->libvirt_uri : "qemu:///system");
	if (!e->uri) {
		r = -ENOMEM;
		goto fail;
	}
	e->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (e->efd < 0) {
		r = -errno;
		goto fail;
	}
	r = sd_event_add_io(ctx->event, &e->source, e->efd, EPOLLIN, on_efd, e);
	if (r < 0)
		goto fail;
	r = -pthread_create(&e->thread, NULL, run, e);
	if (r < 0)
		goto fail;
	e->thread_started = true;
	*out = e;
	return 0;
fail:
	host_domain_events_free(e);
	return r;
}

bool host_domain_events_connected(const struct host_domain_events *e)
{
	return e && atomic_load(&((struct host_domain_events *)e)->connected);
}

void host_domain_events_free(struct host_domain_events *e)
{
	if (!e)
		return;
	if (e->thread_started) {
		pthread_mutex_lock(&e->lock);
		atomic_store(&e->stop, true);
		pthread_cond_signal(&e->wake);
		pthread_mutex_unlock(&e->lock);
		/* out of virEventRunDefaultImpl(): a timeout that fires at once (libvirt's loop
		 * interrupts its poll when one is added) */
		(void)virEventAddTimeout(0, on_wake_timeout, NULL, NULL);
		pthread_join(e->thread, NULL);
	}
	sd_event_source_disable_unref(e->source);
	if (e->efd >= 0)
		close(e->efd);
	pthread_cond_destroy(&e->wake);
	pthread_mutex_destroy(&e->lock);
	free(e->uri);
	free(e);
}

#else /* !HAVE_LIBVIRT */

int host_domain_events_start(struct host_ctx *ctx, host_domain_events_fn changed, void *userdata,
			     struct host_domain_events **out)
{
	*out = NULL;
	return -EOPNOTSUPP;
}

bool host_domain_events_connected(const struct host_domain_events *e)
{
	return false;
}

void host_domain_events_free(struct host_domain_events *e)
{
}

#endif
