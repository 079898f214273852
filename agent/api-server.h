/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The local API: a unix stream socket (mode 0660, group [api] group) speaking one JSON request
 * per connection, terminated by a newline (at most API_MAX_REQUEST bytes), answered by one JSON
 * reply line, then the connection is closed.
 *
 *   {"cmd":"status"}                          -> {"ok":true,"status":{...}}
 *   {"cmd":"spec-get"}                        -> {"ok":true,"spec":{...},"version":N}
 *   {"cmd":"spec-apply","spec_text":"..."}    -> {"ok":true,"version":N,"message":"..."} (after commit)
 *   {"cmd":"spec-diff","spec_text":"..."}     -> {"ok":true,"diff":"...","version":N}
 *   {"cmd":"log"}                             -> {"ok":true,"lines":["...", ...]}
 *   any failure                               -> {"ok":false,"error":"...","errno":N}
 *
 * Every connection is checked with SO_PEERCRED: root, the daemon's own user, or a member of the
 * API group (primary or supplementary, via getgrouplist) may talk; anyone else gets an EACCES
 * reply. All I/O is non-blocking in the event loop; a client that goes away before its answer
 * is simply forgotten (the answer is dropped when it comes).
 */
#pragma once

#include <jansson.h>
#include <stdint.h>
#include <systemd/sd-event.h>

#include "log.h"
#include "macros.h"

#define API_MAX_REQUEST (64u * 1024u * 1024u)
#define API_MAX_CONNECTIONS 64u
#define API_IO_TIMEOUT_USEC (60u * USEC_PER_SEC) /* to send a request or take a reply */

struct api_server;

struct api_server_ops {
	/*
	 * A well-formed request from an allowed peer (req and cmd borrowed). Returns the reply (a
	 * new reference, taken) to send now, or NULL when it will come later through
	 * api_server_reply(conn_id) -- which may even be called before this returns.
	 */
	json_t *(*request)(void *userdata, uint64_t conn_id, const char *cmd, json_t *req);
};

/*
 * Listens on path (its directory is created, a stale socket replaced; a live one -- another
 * daemon -- is -EADDRINUSE). group: name of the API group (may not exist: then only root and
 * the daemon's user get in). e, log, ops, userdata are borrowed. Returns 0 or a negative errno.
 */
int api_server_new(sd_event *e, struct klog *log, const char *path, const char *group,
		   const struct api_server_ops *ops, void *userdata, struct api_server **out);

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
