/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Self-fencing: the host's watchdog, fed by kvmcd's event loop while the node is healthy
 * (issue 9, fence level "watchdog"; coord/timeouts.h 5. walks the timeline).
 *
 * Every node opens its watchdog once it is first healthy (watchdog_arm: open, WDIOC_SETTIMEOUT
 * with timeouts' watchdog_timeout, WDIOC_GETTIMEOUT to read back what the driver really set),
 * then a timer on the loop asks the caller at EVERY keepalive tick whether the node is healthy
 * AT THAT INSTANT -- connected to corosync, in a quorate synced view, not stalled, no fence
 * record against it (the in-loop test timeouts.h relies on) -- and sends WDIOC_KEEPALIVE only
 * then. An unhealthy node simply stops feeding (the caller also stops its HA VMs at once); if it
 * does not become healthy again within the timeout, the device resets the host. A hung kvmcd
 * feeds nothing either: its loop does not run.
 *
 * What the survivors may assume depends on what the driver SET, not what was asked: the state
 * says both (timeout_sec, matches). The daemon publishes "watchdog armed" in its node section
 * only while matches && crash_safe; otherwise the survivors must not fence it by watchdog.
 *
 * Disarming. Only a clean, deliberate shutdown with no cluster VM left on the host disarms
 * (watchdog_close(w, true): the magic close, 'V' written before close). Anything else leaves it
 * armed: watchdog_free(), watchdog_close(w, false), and a CRASH -- the kernel closes the fd
 * without 'V', and a driver that supports the magic close (WDIOF_MAGICCLOSE) keeps running and
 * resets the host ("watchdog did not stop!"). A driver WITHOUT the magic close stops on every
 * close, so a crashed kvmcd would disarm it: such a device is not crash_safe unless its module
 * was loaded with nowayout=1 (then nothing, not even 'V', stops it: a clean kvmcd stop also
 * resets the host after the timeout unless kvmcd is back and feeding within it; kvmcd's own
 * restart is within agent_grace < watchdog_timeout - keepalive by timeouts.h's REFUSED rule).
 *
 * Two device implementations behind one ops table:
 *   "dev"  the real /dev/watchdog (or /dev/watchdogN) through the kernel's watchdog ioctls. Runs
 *          for real in the full-stack tier (nested guests with QEMU's i6300esb); unit tests run
 *          the same code against a fake kernel (struct watchdog_sys).
 *   "sim"  the multi-node tier's simulated watchdog: a unix SOCK_SEQPACKET socket served by
 *          tests/multinode/watchdog-sim, which kills every process of the node (its network
 *          namespace's, its QEMU guests included: like a reset) when it is not fed in time. The
 *          same semantics as the device: one opener, open arms it, a close without "V" leaves it
 *          armed. Protocol, one message per packet, ASCII:
 *            client "open"        sim "ok IDENTITY" | "busy" (another opener: EBUSY)
 *            client "timeout N"   sim "timeout M" (what it set; like WDIOC_SETTIMEOUT it also
 *                                 counts as a keepalive)
 *            client "keepalive"   (no answer)
 *            client "V"           (no answer) the next close disarms it
 *
 * The device hooks are synchronous and short (an ioctl, one packet; the sim's answers wait at
 * most 2 s for a supervisor on the same host): they run on the loop like wdmd's. Functions
 * return 0 or a negative errno; all run on the loop's thread.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <systemd/sd-event.h>

#include "fencing/fence.h"

#define WATCHDOG_DEFAULT_PATH "/dev/watchdog"

struct watchdog_config;

/* The syscalls the "dev" implementation makes; tests substitute a fake kernel. NULL in the
 * config: the real ones. */
struct watchdog_sys {
	int (*open)(const char *path, int flags);
	int (*ioctl)(int fd, unsigned long request, void *arg);
	ssize_t (*write)(int fd, const void *buf, size_t len);
	int (*close)(int fd);
};

/* A watchdog device. Every hook returns 0 or a negative errno. */
struct watchdog_device_ops {
	const char *name;                 /* "dev" | "sim" */
	/* Opens cfg->path, which ARMS the device (with its default timeout until set_timeout).
	 * *dev owned (close). *error (owned) names the path and what to do. */
	int (*open)(const struct watchdog_config *cfg, void **dev, char **error);
	/* Asks for `seconds` and reads back what the device set (*set_seconds). A device that cannot
	 * change its timeout reports the one it has (and answers 0). Counts as a keepalive. */
	int (*set_timeout)(void *dev, unsigned seconds, unsigned *set_seconds, char **error);
	int (*keepalive)(void *dev);
	/* Its identity ("i6300ESB timer") and whether a close without 'V' leaves it armed. */
	void (*info)(void *dev, char *identity, size_t size, bool *crash_safe);
	/* disarm: the magic close first ('V'); else it stays armed. Frees dev. */
	void (*close)(void *dev, bool disarm);
};

extern const struct watchdog_device_ops watchdog_dev_ops;
extern const struct watchdog_device_ops watchdog_sim_ops;

/* "dev" / "sim" -> the table; NULL otherwise. */
const struct watchdog_device_ops *watchdog_device_find(const char *name);

/*
 * Asked at every keepalive tick: is the node healthy now? When not, *why (borrowed until the next
 * call; may stay NULL) says why, for the log line and the state.
 */
typedef bool (*watchdog_healthy_fn)(void *userdata, const char **why);

struct watchdog_config {
	const struct watchdog_device_ops *ops; /* NULL: &watchdog_dev_ops */
	const char *path;                 /* NULL: WATCHDOG_DEFAULT_PATH; sim: the socket */
	const struct timeouts *timeouts;  /* base.watchdog_timeout_usec (> 0), watchdog_keepalive_usec */
	watchdog_healthy_fn healthy;      /* required */
	void *userdata;                   /* borrowed; for healthy */
	fence_log_fn log;                 /* NULL: nothing logged */
	void *log_userdata;
	const struct watchdog_sys *sys;   /* dev: NULL = the real syscalls */
};

struct watchdog_state {
	bool open;                        /* armed (opened and not disarmed) */
	unsigned timeout_sec;             /* what the device set (read back); 0 before arm */
	unsigned requested_sec;           /* what timeouts asked for */
	bool matches;                     /* timeout_sec == requested_sec: the survivors' deadline
					     (watchdog_dead_after_*) holds */
	bool crash_safe;                  /* a close without 'V' (a crash) leaves it armed */
	uint64_t keepalive_usec;          /* the interval in use */
	bool feeding;                     /* the last tick fed it (or arm did) */
	uint64_t last_keepalive_usec;     /* CLOCK_MONOTONIC; 0: none yet */
	uint64_t keepalives;              /* sent since arm */
	char identity[64];
	char why_not[128];                /* !feeding: the caller's reason, or the keepalive's error */
};

struct watchdog;

/* Copies cfg (not what it points to: borrowed, must outlive w). Opens nothing yet. *out owned
 * (watchdog_free). Returns 0, -EINVAL (no timeouts, no watchdog_timeout, no healthy), -ENOMEM. */
int watchdog_new(sd_event *ev, const struct watchdog_config *cfg, struct watchdog **out);

/*
 * Opens and arms the device, sets the timeout and reads it back, feeds it once if healthy and
 * starts the keepalive timer. Call it when the node is first healthy. Idempotent (armed: 0).
 * Returns 0, or a negative errno with *error (owned; may be NULL): -ENOENT no device, -EBUSY
 * another opener, -ENOTTY not a watchdog, ... Nothing stays open on failure.
 */
int watchdog_arm(struct watchdog *w, char **error);

/* The caller's health changed: decide at once instead of at the next tick (a node that became
 * healthy again is fed now; one that became unhealthy stops now). No-op when not armed. */
void watchdog_poke(struct watchdog *w);

/* A deliberate close. disarm: the magic close (only on a clean shutdown with no cluster VM left
 * here); else the device stays armed and resets the host after the timeout. Stops the timer. */
void watchdog_close(struct watchdog *w, bool disarm);

/* Frees w; an armed device is closed WITHOUT disarming (like a crash). Accepts NULL. */
void watchdog_free(struct watchdog *w);

void watchdog_get_state(const struct watchdog *w, struct watchdog_state *out);
