/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The local API: a unix stream socket (mode 0660, group [api] group). One request per
 * connection, one reply, then kvmcd closes the connection.
 *
 * ---- Wire format (kvmcctl <-> kvmcd; keep both sides in step) -----------------------------
 *
 * Request, client -> kvmcd:
 *   HEADER  one JSON object on one line, ended by '\n', at most API_MAX_HEADER bytes, with a
 *           string "cmd". (A client may also half-close instead of sending the '\n'.)
 *   BODY    only when the header has "spec_length": N, an integer 0..SPEC_MAX_BYTES: exactly
 *           N raw bytes follow the '\n' -- the spec file as it is, not escaped, so a spec of
 *           up to SPEC_MAX_BYTES always fits however much JSON escaping it would need. It must
 *           be UTF-8 without NUL bytes; nothing may follow it. The server hands it to the daemon
 *           as the string "spec_text" of the request, as if it had been sent inline.
 *           (Compatibility: a header carrying "spec_text" inline is still taken, within
 *           API_MAX_HEADER; kvmcctl always sends the body.)
 *
 *   {"cmd":"status"}                           -> {"ok":true,"status":{...}}
 *   {"cmd":"spec-get"}                         -> {"ok":true,"spec":{...},"version":N,
 *                                                  "current":B,"why_not_current":"..."}
 *   {"cmd":"spec-apply","spec_length":N} BODY  -> {"ok":true,"version":N,"message":"...",
 *                                                  "outcome":"committed"}  (after the commit)
 *   {"cmd":"spec-diff","spec_length":N} BODY   -> {"ok":true,"diff":"...","version":N}
 *   {"cmd":"log"}                              -> {"ok":true,"lines":["...", ...]}
 *   any failure                                -> {"ok":false,"error":"...","errno":N,
 *                                                  "outcome":"refused"|"unknown"}
 *
 * Reply, kvmcd -> client: one JSON object on one line, ended by '\n' (UTF-8; newlines inside
 * strings are escaped), then kvmcd closes. A client stops reading at the '\n'.
 *
 * Fields the daemon adds (absent from an older daemon; clients then fall back on "errno"):
 *   "outcome"          replies to a change (spec-apply): "committed" (also when unchanged),
 *                      "refused" (nothing applied) or "unknown" (may still apply). Every
 *                      refusal this file sends itself carries "outcome":"refused".
 *   "current"          spec-get: false when this node is not a member of a synced quorate view
 *                      (its copy may be stale), with the reason in "why_not_current".
 *   "no_leader_reason" status: why there is no leader ("" when there is one).
 *   "cluster_id"       status: the cluster's identity.
 *
 * Refusals before the request is read: a peer that may not use the API (EACCES) and a
 * connection over the cap (EBUSY: API_MAX_CONNECTIONS by default, the last eighth of them kept
 * for root; EMFILE: file descriptors running short) is answered at once with
 * {"ok":false,"error":"too many API connections (N); try again",...} and closed without
 * reading its request. The client may then see EPIPE when it sends and ECONNRESET after the
 * reply line: it must still read the reply (it is in its receive queue) and treat a complete
 * reply line as the answer whatever follows.
 *
 * ---- Behaviour -------------------------------------------------------------------------------
 *
 * Every connection is checked with SO_PEERCRED: root, the daemon's own user, or a member of the
 * API group (primary or supplementary, via getgrouplist) may talk. All I/O is non-blocking in
 * the event loop; a client that goes away before its answer is simply forgotten (the answer is
 * dropped when it comes). The whole request must arrive within API_REQUEST_TIMEOUT_USEC of the
 * connect, the reply be taken within API_IO_TIMEOUT_USEC.
 *
 * Descriptors: at creation the soft RLIMIT_NOFILE is raised to the hard limit (at most
 * API_FD_LIMIT_WANT); API connections never use the last API_FD_RESERVE descriptors below the
 * soft limit (half of it when the limit is small), so persistence, corosync and the ONTAP
 * client always have some. When accept() itself fails (EMFILE, ENFILE, ENOBUFS, ...) the
 * listening socket is paused for API_ACCEPT_PAUSE_USEC or until a connection closes, never
 * spun on. Trouble (refusals, accept failures, timeouts) is logged once per kind at the start of
 * a burst and then summarised with counts at most every API_LOG_INTERVAL_USEC.
 */
#pragma once

#include <jansson.h>
#include <stdint.h>
#include <systemd/sd-event.h>

#include "log.h"
#include "macros.h"

#define API_MAX_HEADER (1024u * 1024u)          /* the request's JSON header line */
#define API_MAX_CONNECTIONS 64u                 /* default cap; see api_server_set_max_connections() */
#define API_MAX_BODIES_IN_FLIGHT (256u << 20)   /* spec bytes being received by all connections at once */
#define API_FD_RESERVE 128u                     /* persistence, corosync (+ reconnects), ONTAP (<= 64 sockets), dlopen */
#define API_FD_LIMIT_WANT 65536u                /* the soft RLIMIT_NOFILE we raise to (if the hard limit allows) */
#define API_REQUEST_TIMEOUT_USEC (10u * USEC_PER_SEC) /* connect to the last byte of the request */
#define API_IO_TIMEOUT_USEC (60u * USEC_PER_SEC)      /* to take a reply */
#define API_ACCEPT_PAUSE_USEC (1u * USEC_PER_SEC)     /* after accept() failed for want of resources */
#define API_LOG_INTERVAL_USEC (10u * USEC_PER_SEC)    /* at most one summary line per interval */

/* The "outcome" of a change, in replies. */
#define API_OUTCOME_COMMITTED "committed"
#define API_OUTCOME_REFUSED "refused"
#define API_OUTCOME_UNKNOWN "unknown"

struct api_server;

struct api_server_ops {
	/*
	 * A well-formed request from an allowed peer (req and cmd borrowed; a body is already in
	 * req as "spec_text"). Returns the reply (a new reference, taken) to send now, or NULL when
	 * it will come later through api_server_reply(conn_id) -- which may even be called before
	 * this returns.
	 */
	json_t *(*request)(void *userdata, uint64_t conn_id, const char *cmd, json_t *req);
};

/*
 * Listens on path (its directory is created, a stale socket replaced; a live one -- another
 * daemon -- is -EADDRINUSE). group: name of the API group (may not exist: then only root and
 * the daemon's user get in). e, log, ops, userdata are borrowed. Raises the process's soft
 * RLIMIT_NOFILE (see above). At most API_MAX_CONNECTIONS connections until
 * api_server_set_max_connections(). Returns 0 or a negative errno.
 */
int api_server_new(sd_event *e, struct klog *log, const char *path, const char *group,
		   const struct api_server_ops *ops, void *userdata, struct api_server **out);

/*
 * The cap on concurrent connections (at least 1; meant for a config key [api] max_connections,
 * runtime-reloadable). Connections already open stay; new ones are refused until below it.
 * The last max/8 of them are only for root.
 */
void api_server_set_max_connections(struct api_server *s, unsigned max);

/*
 * Shutting down: every client still waiting for an answer gets a copy of reply (borrowed), sent
 * at once without blocking (a reply line fits any socket buffer; a client that cannot take it
 * gets nothing, as if it had left).
 */
void api_server_answer_waiting(struct api_server *s, const json_t *reply);

/* Closes every connection and the socket, and removes the socket file; accepts NULL. */
void api_server_free(struct api_server *s);

/* SIGHUP: a new API group; re-owns the socket file. 0 or a negative errno (logged). */
int api_server_set_group(struct api_server *s, const char *group);

/* Answers conn_id with reply (reference taken). A vanished connection just drops it. */
void api_server_reply(struct api_server *s, uint64_t conn_id, json_t *reply);

/* {"ok":false,"error":<formatted>,"errno":-err} (err: negative errno). NULL on ENOMEM. */
json_t *api_error(int err, const char *fmt, ...) _printf_(2, 3);

/* The same with "outcome":"refused": nothing was done. NULL on ENOMEM. */
json_t *api_refusal(int err, const char *fmt, ...) _printf_(2, 3);
