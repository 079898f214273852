/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * libvirt's domain lifecycle events, as wake-ups for the loop.
 *
 * The VM service learns what runs on this node by listing libvirtd's domains (domain.h, on the
 * worker pool). Polling that listing often enough to react in time (a domain that crashed, one
 * an admin started by hand, a guest that QEMU paused on an I/O error) costs wake-ups on every
 * idle host; libvirt pushes the same facts as events. This watcher keeps one connection to
 * libvirtd on its own thread, running libvirt's default event loop (the only way libvirt
 * delivers events), and turns every lifecycle event of any domain into one call of `changed`
 * from the caller's sd-event loop, coalesced: the caller then lists again, which stays the one
 * source of truth (an event says only "look again"). `changed` is also called after every
 * (re)connection, since events may have been missed while the connection was down.
 *
 * While libvirtd is unreachable the thread tries again after 1 s, doubling up to 30 s (libvirtd
 * restarts, or starts after kvmcd); the caller's own periodic listing remains the safety net. The
 * connection's keepalive is off: on the local socket a dead libvirtd closes it, which the close
 * callback reports at once, and keepalive probes would only add wake-ups.
 *
 * Only with HAVE_LIBVIRT; without it start answers -EOPNOTSUPP.
 */
#pragma once

#include <stdbool.h>

#include "host.h"

struct host_domain_events;

/* Called from ctx->event's loop after one or more lifecycle events (or a reconnection). */
typedef void (*host_domain_events_fn)(void *userdata);

/*
 * Starts the watcher on ctx->libvirt_uri (NULL: "qemu:///system"). Never blocks: the
 * connection is made on the watcher's thread. *out owned by the caller: host_domain_events_free.
 * 0, -ENOMEM, -EOPNOTSUPP (built without libvirt), or what creating the thread / eventfd gave.
 * ctx is borrowed and must outlive the watcher.
 */
int host_domain_events_start(struct host_ctx *ctx, host_domain_events_fn changed, void *userdata,
			     struct host_domain_events **out);

/* Whether the watcher's connection to libvirtd is up (for status). */
bool host_domain_events_connected(const struct host_domain_events *e);

/* Stops the thread (joins it: at most the time of one libvirt call in flight), closes the
 * connection, frees everything. No `changed` call after this returns. Accepts NULL. */
void host_domain_events_free(struct host_domain_events *e);
