/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The ONTAP REST client core: one client per cluster, asynchronous on libcurl's multi interface
 * driven by the caller's sd-event loop (curl socket callback → sd_event_add_io, curl timer
 * callback → one sd-event timer). Nothing blocks and nothing polls.
 *
 * Requests complete through callbacks invoked from the event loop, never from inside the call
 * that submitted them. A submit function either returns < 0 (nothing was queued, no callback
 * will come) or 0 (exactly one callback will come: success, error, -ESTALE or -ECANCELED).
 *
 * Leader guard: every mutating request carries the leader epoch it was issued under. A request
 * whose epoch is no longer the current valid one is refused before it is sent (-ESTALE) and,
 * if already in flight, removed from curl and completed with -ESTALE.
 *
 * Typed operations (volumes, LUNs, …) live in ontap.h on top of this.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include <jansson.h>
#include <systemd/sd-event.h>

#include "ontap-error.h"
#include "ontap-options.h"

struct ontap_client;
struct ontap_request;

/* ---------------------------------------------------------------- retry policy (pure) */
struct ontap_retry_policy {
	unsigned max_attempts;     /* including the first; default 6 */
	uint64_t base_usec;        /* first backoff; default 200 ms, doubled per attempt */
	uint64_t max_delay_usec;   /* one backoff at most; default 5 s */
	uint64_t budget_usec;      /* all attempts together at most; default 60 s */
};
#define ONTAP_RETRY_POLICY_DEFAULT \
	((struct ontap_retry_policy) { 6, 200 * 1000ULL, 5 * 1000 * 1000ULL, 60 * 1000 * 1000ULL })

struct ontap_retry_input {
	CURLcode curl_code;
	long http_status;
	int64_t ontap_code;
	const char *message;       /* ONTAP message, may be NULL */
	bool mutating;             /* POST/PATCH/DELETE */
	bool idempotent;           /* an "ensure" mutation: sending it twice is harmless */
	bool sent;                 /* some bytes of the request reached the wire */
	unsigned attempts;         /* attempts made so far (≥ 1) */
	uint64_t elapsed_usec;     /* since the first attempt started */
	int64_t retry_after_sec;   /* Retry-After header, -1 when absent */
	double random;             /* [0, 1): jitter source, injected so this stays pure */
};
/* 0 = do not retry; otherwise the delay before the next attempt. */
uint64_t ontap_retry_delay(const struct ontap_retry_policy *p, const struct ontap_retry_input *in);

/* ---------------------------------------------------------------- URL building (pure) */
/* Percent-encodes everything but RFC 3986 unreserved characters; with path_segment also '.'
 * (a name in a path must not form dot-segments). Returns NULL on OOM. */
char *ontap_url_encode(const char *s, bool path_segment);
/* Appends "&key=value" (or "?…" when *q is NULL/empty) to *q. The value is quoted with "…" when
 * it holds one of ONTAP's query operators (* | , ! < > ..) and is meant literally, then
 * URL-encoded. raw_operators=true sends the value as a pattern (e.g. "ds*"). 0 or -ENOMEM. */
int ontap_query_add(char **q, const char *key, const char *value, bool raw_operators);
int ontap_query_addf(char **q, const char *key, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* ---------------------------------------------------------------- version */
struct ontap_version {
	int generation, major, minor;
	char full[128];
};
#define ONTAP_VERSION_CODE(g, m, n) ((g) * 10000 + (m) * 100 + (n))

/* ---------------------------------------------------------------- client */
/* Returns 0 and the epoch when this node may mutate, -ESTALE otherwise. */
typedef int (*ontap_epoch_fn)(void *userdata, uint64_t *epoch);
/* prio is a syslog priority. Messages never contain credentials. */
typedef void (*ontap_log_fn)(void *userdata, int prio, const char *msg);

/*
 * Creates a client. Reads and checks the credentials file (root-owned, no group/other access)
 * unless client_cert is set and credentials_file is NULL. node_name goes into X-Kvmcd-Node
 * (NULL = hostname). On failure err (may be NULL) says which file and what is wrong.
 */
int ontap_client_new(struct ontap_client **ret, sd_event *event, const struct ontap_options *opts,
		     const char *node_name, struct ontap_error *err);
/* The checks ontap_client_new() starts with (address syntax, client_cert with client_key, the
 * PEM files readable, the credentials file safe and complete) without libcurl or an event loop:
 * kvmcd runs them at start-up on every node and loads the client only on the leader. 0, or
 * -errno with err (may be NULL) naming the key or file and the problem. */
int ontap_options_check(const struct ontap_options *opts, struct ontap_error *err);
/* Completes every pending request with -ECANCELED, then frees. NULL is fine. Not from inside
 * one of the client's callbacks. */
void ontap_client_free(struct ontap_client *c);
static inline void ontap_client_freep(struct ontap_client **c) { ontap_client_free(*c); }
#define _cleanup_ontap_client_ __attribute__((cleanup(ontap_client_freep)))

void ontap_client_set_log(struct ontap_client *c, ontap_log_fn fn, void *userdata);

/* Every request's end, for metrics (agent/metrics.h): its method, the HTTP status of its last
 * answer (0: none), ONTAP's error code as sent ("" when none) and the microseconds from its
 * first attempt to its end (retries and the wait for its job included; a job poll is a request
 * of its own). Called on the loop, before the request's own callback. NULL: none. */
typedef void (*ontap_observe_fn)(void *userdata, const char *method, long http_status, const char *ontap_code,
				 uint64_t usec);
void ontap_client_set_observer(struct ontap_client *c, ontap_observe_fn fn, void *userdata);
sd_event *ontap_client_get_event(struct ontap_client *c);
const char *ontap_client_svm(struct ontap_client *c);

/* Leader guard. set_epoch() and epoch_changed() cancel every stale mutating request (queued,
 * in flight, waiting for a retry or for its job); their callbacks run, with -ESTALE, before the
 * call returns. Reads are never cancelled. With an epoch source, call epoch_changed() whenever
 * the source's answer changes; it is also consulted before each send. */
void ontap_client_set_epoch(struct ontap_client *c, uint64_t epoch, bool valid);
/* When (CLOCK_MONOTONIC, the loop's clock) the guard last cancelled a mutation that had been
 * sent at least once -- in flight, waiting for a retry or following its job: ONTAP may have
 * received it and may still carry it out; 0: never. A mutation cancelled before it was ever
 * sent does not count (nothing of it reached the array). */
uint64_t ontap_client_cancelled_sent_usec(struct ontap_client *c);
void ontap_client_set_epoch_source(struct ontap_client *c, ontap_epoch_fn fn, void *userdata);
void ontap_client_epoch_changed(struct ontap_client *c);
/* 0 + the epoch to issue mutations under, or -ESTALE. */
int ontap_client_current_epoch(struct ontap_client *c, uint64_t *epoch);

void ontap_client_set_retry_policy(struct ontap_client *c, const struct ontap_retry_policy *p);
/* return_timeout on every mutation (0-120 s; default half the request timeout): ONTAP answers
 * when the job is done, or with a 202 + job after that long (then polled). 0: always 202 + polls
 * (tests of the polling). */
void ontap_client_set_return_timeout(struct ontap_client *c, unsigned seconds);
/* Job polling: first poll after initial, ×1.5 per poll up to max (defaults 250 ms, 2 s). */
void ontap_client_set_job_poll(struct ontap_client *c, uint64_t initial_usec, uint64_t max_usec);

/* Known once discovered (ontap_cluster_discover() in ontap.h) or set by the caller. */
const struct ontap_version *ontap_client_version(struct ontap_client *c);
void ontap_client_set_version(struct ontap_client *c, const struct ontap_version *v);
bool ontap_client_version_at_least(struct ontap_client *c, int gen, int major, int minor);

struct ontap_client_stats {
	unsigned in_flight, queued, max_in_flight_seen;
	uint64_t requests_sent, retries, jobs_polled, cancelled_stale;
	uint64_t connections_opened;    /* TCP (and TLS) connections made: the others reused one */
};
void ontap_client_get_stats(struct ontap_client *c, struct ontap_client_stats *st);

/* ---------------------------------------------------------------- requests */
enum {
	ONTAP_REQ_IDEMPOTENT = 1 << 0, /* mutation that may be resent ("ensure" semantics) */
	ONTAP_REQ_WAIT_JOB   = 1 << 1, /* on 202 follow the job; complete when it ends */
	ONTAP_REQ_ALL_PAGES  = 1 << 2, /* follow _links.next; body = {"records":[all],"num_records"} */
	ONTAP_REQ_URGENT     = 1 << 3, /* queue at the front (job polls, re-reads) */
};

struct ontap_reply {
	long http_status;               /* of the last exchange (job GET for jobs) */
	const json_t *body;             /* borrowed for the callback; NULL when there was none */
	const struct ontap_error *error; /* never NULL; error->error == 0 on success */
};

typedef void (*ontap_request_fn)(struct ontap_client *c, int r, const struct ontap_reply *reply,
				 void *userdata);

/*
 * method "GET" | "POST" | "PATCH" | "DELETE"; path relative to /api ("/storage/volumes?…");
 * body may be NULL (borrowed, serialized at once). For mutations, epoch is the leader epoch the
 * request is issued under (from ontap_client_current_epoch()); it is ignored for GET.
 */
int ontap_client_request(struct ontap_client *c, const char *method, const char *path,
			 const json_t *body, unsigned flags, uint64_t epoch,
			 ontap_request_fn cb, void *userdata);
