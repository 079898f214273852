/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Internals shared by the files of the ONTAP client; not installed, not for other modules. */
#pragma once

#include <curl/curl.h>
#include <stdarg.h>

#include "ontap-client.h"

struct ontap_request {
	struct ontap_client *client;         /* borrowed: the client outlives its requests */
	struct ontap_request *prev, *next;   /* in client->requests */
	enum {
		REQ_QUEUED,        /* waiting for a concurrency slot */
		REQ_RUNNING,       /* an easy handle is in the multi */
		REQ_WAIT_RETRY,    /* timer armed for the next attempt */
		REQ_WAIT_JOB,      /* 202 seen: polling the job through child requests */
		REQ_BATCHED,       /* a job GET whose question rides in one GET of several jobs
				      (jobs.c); not in a slot, not queued */
	} state;
	char *method;                        /* owned */
	char *path;                          /* owned, from the server root: "/api/…" */
	char *body;                          /* owned serialized JSON or NULL */
	unsigned flags;
	bool mutating;
	bool wait_job;                       /* a mutation that may ask ONTAP to answer once its job
						is done (return_timeout, decided per attempt) */
	uint64_t epoch;                      /* for mutations: the epoch it was issued under */

	CURL *easy;                          /* owned while REQ_RUNNING */
	struct curl_slist *headers;          /* owned while REQ_RUNNING */
	char *buf;                           /* owned response body of the current attempt */
	size_t len;
	int64_t retry_after;                 /* from the current attempt, -1 none */
	char errbuf[CURL_ERROR_SIZE];
	unsigned attempts;
	uint64_t first_usec;                 /* CLOCK_MONOTONIC of the first attempt of this page */
	uint64_t queued_usec;                /* CLOCK_MONOTONIC when it was submitted (debug log) */
	uint64_t attempt_usec;               /* CLOCK_MONOTONIC when the current attempt started */
	sd_event_source *timer;              /* owned: retry or job poll timer */

	json_t *acc;                         /* owned: pages collected so far (ALL_PAGES) */
	unsigned pages;

	bool rt_waited;                      /* this attempt asked ONTAP to hold it (return_timeout > 0) */
	char job_uuid[64];
	uint64_t job_deadline, job_interval;
	uint64_t job_since;                  /* CLOCK_MONOTONIC when the 202 came */
	uint64_t job_poll_at;                /* the poll in flight: its start, after job_since */
	unsigned job_polls;                  /* polls started */
	bool job_scout;                      /* polls at once to learn its kind's timing (jobs.c) */
	bool job_timed;                      /* the first poll waited for its kind's learned time */
	bool job_waits_scout;                /* waits for its kind's scout to learn (jobs.c) */
	unsigned job_errors;                 /* consecutive failed job GETs */
	bool job_full_read;                  /* the child in progress reads code + message */
	struct ontap_request *job_child;     /* borrowed: the job GET in progress, NULL once done */
	struct ontap_request *job_parent;    /* borrowed: for a job GET, its parent */
	bool job_state_poll;                 /* a job GET of its state only: may ride in a batch */
	bool job_alone;                      /* ... but goes alone: a batch's answer lacked its job */
	bool job_answered_in_batch;          /* finished from a batch's answer: never sent itself */
	struct job_batch *job_batch;         /* borrowed: the batch it rides in (REQ_BATCHED) */

	ontap_request_fn cb;
	void *userdata;
};

/*
 * When a job of one kind (method and path: "POST /api/storage/volumes") was last found done, after
 * its 202 (jobs.c). Learned from the client's own polls; timing only, never a decision.
 */
struct ontap_job_timing {
	char kind[96];                  /* "" when the slot is free */
	uint64_t first_usec;            /* valid when known */
	bool known;
	bool scouting;                  /* a job of this kind polls at once to learn it; the others wait */
	uint64_t scout_next_age;        /* while scouting: the age (after its 202) at which the scout
					 * polls next; 0 until it has armed a poll */
};
#define ONTAP_JOB_KINDS 8

/*
 * The client's own event sources (curl's sockets and timer, job poll timers) run before the
 * loop's ordinary ones, after the daemon's drain (SD_EVENT_PRIORITY_IMPORTANT): an answer from
 * ONTAP frees its slot and starts the next step of its chain (a LUN after its volume, a fence
 * after the verdict) without waiting behind the walks, publishes and API requests the same
 * loop iteration found pending.
 */
#define ONTAP_EVENT_PRIORITY (SD_EVENT_PRIORITY_IMPORTANT / 2)
/* Internal request flag (beside ontap-client.h's): start at the end of this loop turn, not at
 * once, so that job polls coming due together can go in one GET (jobs.c). */
#define ONTAP_REQ_TURN_END (1u << 15)

struct ontap_client {
	sd_event *event;                     /* owned ref */
	CURLM *multi;                        /* owned */
	sd_event_source *curl_timer;         /* owned: curl's one timer */
	sd_event_source *dispatch_defer;     /* owned: a dispatch at the end of this loop iteration */
	char *base_url;                      /* owned "https://address" */
	char *svm;                           /* owned */
	char *node;                          /* owned */
	char *username, *password;           /* owned, wiped on free; never logged */
	char *ca_file, *client_cert, *client_key; /* owned or NULL */
	bool tls_verify;
	unsigned max_concurrency;
	unsigned request_timeout_ms, job_timeout_ms;
	struct ontap_retry_policy retry;
	uint64_t job_poll_initial, job_poll_max;
	unsigned return_timeout_s;      /* return_timeout= on mutations; 0: none (202 + polls) */
	struct ontap_job_timing job_timing[ONTAP_JOB_KINDS];
	unsigned job_timing_next;       /* the slot a new kind takes when none is free */
	bool job_batch_off;             /* ONTAP refused a GET of several jobs: one per GET now */

	uint64_t epoch;
	bool epoch_valid;
	uint64_t cancelled_sent_usec;   /* ontap_client_cancelled_sent_usec() */
	ontap_epoch_fn epoch_fn;
	void *epoch_userdata;

	ontap_log_fn log_fn;
	void *log_userdata;
	ontap_observe_fn observe_fn;
	void *observe_userdata;

	struct ontap_request *requests;      /* all live requests, FIFO order */
	struct op *waiting_ops;              /* borrowed: ops between two re-reads (op.c), on a
					      * timer; cancelled by ontap_client_free() */
	unsigned in_flight;
	bool dispatching, dispatch_again, closing;
	uint64_t rng;
	struct ontap_client_stats stats;

	struct ontap_version version;
	bool version_known;

	/* Set by the datastore executor (datastores.c) only while it starts one plan op: the
	 * object of an ensure started now was just seen missing by the caller's own read of ONTAP,
	 * which reads ONTAP again once its ops are done. Such an ensure POSTs at once, without its
	 * lookup (ONTAP answering "exists" makes it read and verify the object as always), and a
	 * create ONTAP accepted is done without re-reading it (the caller's next read does). */
	bool ensure_seen_missing;
	/* Set by the same caller around starting an op that continues a chain (a LUN after its
	 * volume, a map after its LUN): its requests go to the front of the queue (ONTAP_REQ_URGENT),
	 * so a chain already under way finishes before the next wave's first steps -- the datastores
	 * that were started become ready first, instead of all of them at the end. */
	bool ops_urgent;
	struct fence *live_fences;      /* fence.c's fences in progress (ended when the client is freed) */
};

/* fence.c: ends every fence still in progress (-ECANCELED), for ontap_client_free(). */
void ontap_fence_client_closing(struct ontap_client *c);
/* op.c: completes every op waiting between two re-reads with -ECANCELED (ontap_client_free). */
void op_cancel_waiting(struct ontap_client *c);

void ontap_log(struct ontap_client *c, int prio, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
uint64_t ontap_now_usec(struct ontap_client *c);

/* jobs.c */
void ontap_job_start(struct ontap_request *req, const char *uuid);
void ontap_job_abort(struct ontap_request *req);
/* A slot is free for first, a job GET of its state only, and others like it wait: they all go
 * as one GET of several jobs, started now (jobs.c). True when it did: first is no longer queued. */
bool ontap_job_batch_polls(struct ontap_client *c, struct ontap_request *first);

/* client.c, used by jobs.c */
int ontap_request_submit(struct ontap_client *c, const char *method, const char *path_from_root,
			 const char *body, unsigned flags, uint64_t epoch, ontap_request_fn cb,
			 void *userdata, struct ontap_request **ret);
void ontap_request_finish(struct ontap_request *req, int r, long http_status, const json_t *body,
			  struct ontap_error *err);
/* Drops a request without calling its callback. */
void ontap_request_drop(struct ontap_request *req);
