/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The corosync side of the daemon: one CPG group, quorum tracking and votequorum vote counts,
 * with their fds in the sd-event loop.
 *
 * Lifecycle: connect (cpg + quorum + votequorum, join the group) -> deliver events -> on any sign
 * of a lost connection (EPOLLHUP/EPOLLERR, a dispatch or send error) report "disconnected" at
 * once, finalize every handle, and reconnect after 100 ms, doubling up to reconnect_max.
 *
 * Outgoing messages are kept in a FIFO and multicast with CPG_TYPE_AGREED in order. When
 * corosync answers CS_ERR_TRY_AGAIN (its queue is full, or membership is re-forming) the queue
 * is kept and retried from a timer (10 ms doubling to 1 s); once it has been blocked for more
 * than a second the owner is told (send_blocked) so the core can stop acting as leader.
 * Messages still queued when the connection is lost are dropped: CPG delivers a message only in
 * the view it was sent in, and the core resynchronises after a reconnect anyway.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <systemd/sd-event.h>

#include "core.h"
#include "log.h"

/*
 * What the glue reports. Every hook is called from the event loop, possibly from inside a
 * corosync dispatch; hooks may call cpg_glue_send() but not cpg_glue_free()/cpg_glue_stop().
 * Arrays are borrowed for the duration of the call.
 */
struct cpg_glue_ops {
	void (*connected)(void *userdata, uint32_t local_nodeid);
	void (*disconnected)(void *userdata);
	void (*confchg)(void *userdata, const uint32_t *members, size_t n_members,
			const struct core_left *left, size_t n_left);
	/* nodes: the quorum service's member list of the same notification (the ring it judged).
	 * total_votes / expected_votes are the NODES' votes: a quorum device's are not in them
	 * (quorum-votes.h). */
	void (*quorum)(void *userdata, bool quorate, uint32_t total_votes, uint32_t expected_votes,
		       const uint32_t *nodes, size_t n_nodes);
	void (*message)(void *userdata, uint32_t sender, const void *data, size_t len);
	void (*send_blocked)(void *userdata);
};

struct cpg_glue;

/*
 * Creates the glue; nothing is connected until cpg_glue_start(). group is copied; e, log, ops
 * and userdata are borrowed and must outlive the glue. Returns 0 or a negative errno.
 */
int cpg_glue_new(sd_event *e, struct klog *log, const char *group, unsigned reconnect_max_ms,
		 const struct cpg_glue_ops *ops, void *userdata, struct cpg_glue **out);

/* Connects now; a failure is logged and retried with backoff (never fatal). */
void cpg_glue_start(struct cpg_glue *g);

/* Leaves the group cleanly and finalizes every handle (SIGTERM). No hooks are called after. */
void cpg_glue_stop(struct cpg_glue *g);

/* Stops (if needed) and frees; accepts NULL. */
void cpg_glue_free(struct cpg_glue *g);

/*
 * Queues data[0..len) (ownership taken, free()d by the glue) for multicast after everything
 * queued before it, and sends what it can now. While disconnected the message is dropped.
 */
void cpg_glue_send(struct cpg_glue *g, uint8_t *data, size_t len);

/* SIGHUP: a new upper bound for the reconnect backoff. */
void cpg_glue_set_reconnect_max(struct cpg_glue *g, unsigned ms);

bool cpg_glue_is_connected(const struct cpg_glue *g);
/* votequorum runs with two_node, or has a quorum device and two nodes' votes expected (as its
 * last info, read with each quorum notification, said): a lone survivor may be quorate. */
bool cpg_glue_is_two_node(const struct cpg_glue *g);
size_t cpg_glue_queued(const struct cpg_glue *g);
