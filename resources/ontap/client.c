/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * ONTAP client core: curl multi on sd-event (the pattern of systemd's curl-util.c), bounded
 * concurrency with a FIFO queue, retries, pagination, leader-epoch guard.
 *
 * Life of a request: QUEUED → (slot free, epoch still valid) RUNNING → attempt done →
 *   2xx: [202 + WAIT_JOB → WAIT_JOB (jobs.c) → finish] [ALL_PAGES + next → QUEUED] finish
 *   error: retry policy says wait → WAIT_RETRY → QUEUED; otherwise finish.
 * finish calls the callback once and frees the request.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "build-config.h"
#include "macros.h"
#include "ontap-internal.h"
#include "ontap-test.h"
#include "secret.h"

#define MAX_BODY_BYTES (64u * 1024 * 1024)
#define MAX_PAGES 100000u

void ontap_log(struct ontap_client *c, int prio, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	if (c->log_fn)
		c->log_fn(c->log_userdata, prio, msg);
	else if (prio <= LOG_WARNING)
		fprintf(stderr, "ontap: %s\n", msg);
}

uint64_t ontap_now_usec(struct ontap_client *c)
{
	uint64_t t;

	if (sd_event_now(c->event, CLOCK_MONOTONIC, &t) < 0) {
		struct timespec ts;

		clock_gettime(CLOCK_MONOTONIC, &ts);
		t = (uint64_t) ts.tv_sec * USEC_PER_SEC + (uint64_t) ts.tv_nsec / 1000;
	}
	return t;
}

static double client_random(struct ontap_client *c)
{
	/* xorshift64*: jitter only, not security. */
	c->rng ^= c->rng >> 12;
	c->rng ^= c->rng << 25;
	c->rng ^= c->rng >> 27;
	return (double) ((c->rng * 2685821657736338717ULL) >> 11) / (double) (1ULL << 53);
}

/* ------------------------------------------------------------------ curl ↔ sd-event glue */

static void process_curl_messages(struct ontap_client *c);
static void dispatch(struct ontap_client *c);

static int on_curl_io(sd_event_source *s, int fd, uint32_t revents, void *userdata)
{
	struct ontap_client *c = userdata;
	int action = 0, running;

	if (revents & (EPOLLIN | EPOLLHUP | EPOLLRDHUP))
		action |= CURL_CSELECT_IN;
	if (revents & EPOLLOUT)
		action |= CURL_CSELECT_OUT;
	if (revents & EPOLLERR)
		action |= CURL_CSELECT_ERR;
	if (curl_multi_socket_action(c->multi, fd, action, &running) != CURLM_OK)
		ontap_log(c, LOG_ERR, "curl_multi_socket_action failed");
	process_curl_messages(c);
	return 0;
}

static int curl_socket_cb(CURL *easy, curl_socket_t fd, int what, void *userp, void *socketp)
{
	struct ontap_client *c = userp;
	sd_event_source *io = socketp;
	uint32_t events = 0;

	if (what == CURL_POLL_REMOVE) {
		if (io) {
			sd_event_source_disable_unref(io);
			curl_multi_assign(c->multi, fd, NULL);
		}
		return 0;
	}
	if (what == CURL_POLL_IN || what == CURL_POLL_INOUT)
		events |= EPOLLIN;
	if (what == CURL_POLL_OUT || what == CURL_POLL_INOUT)
		events |= EPOLLOUT;
	if (io) {
		if (sd_event_source_set_io_events(io, events) < 0 ||
		    sd_event_source_set_enabled(io, SD_EVENT_ON) < 0)
			return -1;
		return 0;
	}
	if (sd_event_add_io(c->event, &io, fd, events, on_curl_io, c) < 0)
		return -1;
	(void) sd_event_source_set_description(io, "ontap-curl-io");
	(void) sd_event_source_set_priority(io, ONTAP_EVENT_PRIORITY);
	if (curl_multi_assign(c->multi, fd, io) != CURLM_OK) {
		sd_event_source_disable_unref(io);
		return -1;
	}
	return 0;
}

static int on_curl_timer(sd_event_source *s, uint64_t usec, void *userdata)
{
	struct ontap_client *c = userdata;
	int running;

	if (curl_multi_socket_action(c->multi, CURL_SOCKET_TIMEOUT, 0, &running) != CURLM_OK)
		ontap_log(c, LOG_ERR, "curl_multi_socket_action(timeout) failed");
	process_curl_messages(c);
	return 0;
}

static int curl_timer_cb(CURLM *multi, long timeout_ms, void *userp)
{
	struct ontap_client *c = userp;
	uint64_t usec;

	if (timeout_ms < 0)
		return c->curl_timer ? (sd_event_source_set_enabled(c->curl_timer, SD_EVENT_OFF) < 0 ? -1 : 0) : 0;
	usec = (uint64_t) timeout_ms * USEC_PER_MSEC;
	if (c->curl_timer) {
		if (sd_event_source_set_time_relative(c->curl_timer, usec) < 0 ||
		    sd_event_source_set_enabled(c->curl_timer, SD_EVENT_ONESHOT) < 0)
			return -1;
		return 0;
	}
	/* Accuracy 1 µs: 0 would mean sd-event's default slack of 250 ms on every curl timeout. */
	if (sd_event_add_time_relative(c->event, &c->curl_timer, CLOCK_MONOTONIC, usec, 1,
				       on_curl_timer, c) < 0)
		return -1;
	(void) sd_event_source_set_description(c->curl_timer, "ontap-curl-timer");
	(void) sd_event_source_set_priority(c->curl_timer, ONTAP_EVENT_PRIORITY);
	return 0;
}

/* ------------------------------------------------------------------ request list */

static void list_append(struct ontap_client *c, struct ontap_request *req, bool front)
{
	struct ontap_request *t;

	if (front || !c->requests) {
		req->prev = NULL;
		req->next = c->requests;
		if (c->requests)
			c->requests->prev = req;
		c->requests = req;
		return;
	}
	t = c->requests;
	while (t->next)
		t = t->next;
	t->next = req;
	req->prev = t;
	req->next = NULL;
}

static void list_remove(struct ontap_client *c, struct ontap_request *req)
{
	if (req->prev)
		req->prev->next = req->next;
	else
		c->requests = req->next;
	if (req->next)
		req->next->prev = req->prev;
	req->prev = req->next = NULL;
}

/*
 * An urgent request (ONTAP_REQ_URGENT: a job poll, the next step of a chain already under way)
 * goes ahead of every request that is not, but behind the urgent ones already waiting: first
 * come, first served among them. At the very front, each new one went first: under a full
 * queue the LUNs and maps of chains started later kept passing the job polls that would start
 * the next chains, which waited 350 ms for a slot (bench/datastores.sh).
 */
static void list_insert_urgent(struct ontap_client *c, struct ontap_request *req)
{
	struct ontap_request *last = NULL;

	for (struct ontap_request *t = c->requests; t; t = t->next)
		if (t->state == REQ_QUEUED && (t->flags & ONTAP_REQ_URGENT))
			last = t;
	if (!last) {
		list_append(c, req, true);
		return;
	}
	req->prev = last;
	req->next = last->next;
	if (last->next)
		last->next->prev = req;
	last->next = req;
}

/* Moves a request to the back (or front) of the FIFO, for a new attempt or page. */
static void requeue(struct ontap_request *req, bool front)
{
	struct ontap_client *c = req->client;

	list_remove(c, req);
	list_append(c, req, front);
	req->state = REQ_QUEUED;
}

static void attempt_cleanup(struct ontap_request *req)
{
	struct ontap_client *c = req->client;

	if (req->easy) {
		if (req->state == REQ_RUNNING) {
			curl_multi_remove_handle(c->multi, req->easy);
			c->in_flight--;
		}
		curl_easy_cleanup(req->easy);
		req->easy = NULL;
	}
	curl_slist_free_all(req->headers);
	req->headers = NULL;
	free(req->buf);
	req->buf = NULL;
	req->len = 0;
	req->retry_after = -1;
}

static void request_free(struct ontap_request *req)
{
	struct ontap_client *c = req->client;

	attempt_cleanup(req);
	ontap_job_abort(req);
	req->timer = sd_event_source_disable_unref(req->timer);
	list_remove(c, req);
	json_decref(req->acc);
	free(req->method);
	free(req->path);
	free(req->body);
	free(req);
}

void ontap_request_drop(struct ontap_request *req)
{
	request_free(req);
}

void ontap_request_finish(struct ontap_request *req, int r, long http_status, const json_t *body,
			  struct ontap_error *err)
{
	struct ontap_client *c = req->client;
	ontap_request_fn cb = req->cb;
	void *userdata = req->userdata;
	struct ontap_error local = {};
	struct ontap_reply reply;
	json_t *keep = body ? json_incref((json_t *) body) : NULL;

	if (!err)
		err = &local;
	err->error = r;
	if (r < 0 && err->http_status == 0)
		err->http_status = http_status;
	if (c->observe_fn && !req->job_answered_in_batch)
		c->observe_fn(c->observe_userdata, req->method ?: "?", http_status, r < 0 ? err->code_text : "",
			      req->first_usec ? ontap_now_usec(c) - req->first_usec : 0);
	request_free(req);   /* before the callback: it may submit, cancel or free the client */
	reply = (struct ontap_reply) { .http_status = http_status, .body = keep, .error = err };
	if (cb)
		cb(c, r, &reply, userdata);
	json_decref(keep);
	ontap_error_clear(&local);
	dispatch(c);
}

/* ------------------------------------------------------------------ one attempt */

static size_t write_cb(char *ptr, size_t size, size_t nmemb, void *userdata)
{
	struct ontap_request *req = userdata;
	size_t n = size * nmemb;
	char *nb;

	if (req->len + n > MAX_BODY_BYTES)
		return 0;
	nb = realloc(req->buf, req->len + n + 1);
	if (!nb)
		return 0;
	memcpy(nb + req->len, ptr, n);
	req->buf = nb;
	req->len += n;
	req->buf[req->len] = '\0';
	return n;
}

static size_t header_cb(char *ptr, size_t size, size_t nmemb, void *userdata)
{
	struct ontap_request *req = userdata;
	size_t n = size * nmemb;

	if (n > 12 && strncasecmp(ptr, "Retry-After:", 12) == 0) {
		char tmp[32] = "";
		size_t l = n - 12 < sizeof tmp - 1 ? n - 12 : sizeof tmp - 1;
		char *end;
		long v;

		memcpy(tmp, ptr + 12, l);
		v = strtol(tmp, &end, 10);
		/* Seconds only; an HTTP-date falls back to our own backoff. */
		if (end != tmp && v >= 0 && v < 3600)
			req->retry_after = v;
	}
	return n;
}

static int header_add(struct curl_slist **l, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int header_add(struct curl_slist **l, const char *fmt, ...)
{
	char line[512];
	struct curl_slist *n;
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(line, sizeof line, fmt, ap);
	va_end(ap);
	n = curl_slist_append(*l, line);
	if (!n)
		return -ENOMEM;
	*l = n;
	return 0;
}

/* Current epoch for the X-Kvmcd-Epoch header of reads, 0 when none. */
static uint64_t header_epoch(struct ontap_client *c, struct ontap_request *req)
{
	uint64_t e = 0;

	if (req->mutating)
		return req->epoch;
	return ontap_client_current_epoch(c, &e) == 0 ? e : 0;
}

/* More requests wait for a slot than are left once req takes one. */
static bool slots_short(struct ontap_client *c, const struct ontap_request *req)
{
	unsigned free_after = c->in_flight + 1 < c->max_concurrency ? c->max_concurrency - c->in_flight - 1 : 0, queued = 0;

	for (const struct ontap_request *q = c->requests; q; q = q->next)
		if (q != req && q->state == REQ_QUEUED && ++queued > free_after)
			return true;
	return false;
}

/*
 * The URL of one attempt. A mutation asks ONTAP to answer when its job is done (return_timeout,
 * 1-120 s; notes §3): the final answer (200/201, or the job's error) comes in the same round trip
 * instead of a 202 and job polls, so the next operation of a chain (volume -> LUN -> map) starts
 * as soon as ONTAP is done, not at the next poll. Half the request timeout, so ONTAP answers
 * (with a 202 and the job, polled as before) well before curl gives up. But such a request holds
 * its slot (an ONTAP session) for the whole job: while other requests wait for a slot it asks
 * for the 202 at once instead (return_timeout=0), and its job is polled without a slot held --
 * fifty volume jobs then run side by side in ONTAP rather than max_concurrency at a time.
 */
static char *attempt_url(struct ontap_client *c, struct ontap_request *req)
{
	char *url;

	req->rt_waited = false;
	if (!req->wait_job)
		return asprintf(&url, "%s%s", c->base_url, req->path) < 0 ? NULL : url;
	req->rt_waited = !slots_short(c, req) && c->return_timeout_s > 0;
	if (asprintf(&url, "%s%s%creturn_timeout=%u", c->base_url, req->path, strchr(req->path, '?') ? '&' : '?',
		     req->rt_waited ? c->return_timeout_s : 0) < 0)
		return NULL;
	return url;
}

static int attempt_start(struct ontap_request *req)
{
	struct ontap_client *c = req->client;
	_cleanup_free_ char *url = NULL;
	CURL *e;
	int r = -ENOMEM;

	url = attempt_url(c, req);
	if (!url)
		return -ENOMEM;
	req->easy = e = curl_easy_init();
	if (!e)
		return -ENOMEM;
	req->retry_after = -1;
	req->errbuf[0] = '\0';

	if (header_add(&req->headers, "Accept: application/hal+json") < 0 ||
	    header_add(&req->headers, "Content-Type: application/json") < 0 ||
	    header_add(&req->headers, "X-Dot-Client-App: kvmcd/%s", KVMCD_VERSION) < 0 ||
	    header_add(&req->headers, "X-Kvmcd-Node: %s", c->node) < 0 ||
	    header_add(&req->headers, "X-Kvmcd-Epoch: %llu", (unsigned long long) header_epoch(c, req)) < 0 ||
	    header_add(&req->headers, "Expect:") < 0)
		goto fail;

	if (curl_easy_setopt(e, CURLOPT_URL, url) != CURLE_OK ||
	    curl_easy_setopt(e, CURLOPT_PRIVATE, req) != CURLE_OK ||
	    curl_easy_setopt(e, CURLOPT_HTTPHEADER, req->headers) != CURLE_OK ||
	    curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, req->method) != CURLE_OK ||
	    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, write_cb) != CURLE_OK ||
	    curl_easy_setopt(e, CURLOPT_WRITEDATA, req) != CURLE_OK ||
	    curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, header_cb) != CURLE_OK ||
	    curl_easy_setopt(e, CURLOPT_HEADERDATA, req) != CURLE_OK ||
	    curl_easy_setopt(e, CURLOPT_ERRORBUFFER, req->errbuf) != CURLE_OK ||
	    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L) != CURLE_OK ||
	    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, (long) c->request_timeout_ms) != CURLE_OK ||
	    curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS,
			     (long) (c->request_timeout_ms < 10000 ? c->request_timeout_ms : 10000)) != CURLE_OK ||
	    curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "https") != CURLE_OK ||
	    curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L) != CURLE_OK ||
	    curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, c->tls_verify ? 1L : 0L) != CURLE_OK ||
	    curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, c->tls_verify ? 2L : 0L) != CURLE_OK)
		goto fail;
	if (c->ca_file && curl_easy_setopt(e, CURLOPT_CAINFO, c->ca_file) != CURLE_OK)
		goto fail;
	if (c->client_cert && (curl_easy_setopt(e, CURLOPT_SSLCERT, c->client_cert) != CURLE_OK ||
			       curl_easy_setopt(e, CURLOPT_SSLKEY, c->client_key) != CURLE_OK))
		goto fail;
	if (c->username && (curl_easy_setopt(e, CURLOPT_HTTPAUTH, (long) CURLAUTH_BASIC) != CURLE_OK ||
			    curl_easy_setopt(e, CURLOPT_USERNAME, c->username) != CURLE_OK ||
			    curl_easy_setopt(e, CURLOPT_PASSWORD, c->password) != CURLE_OK))
		goto fail;
	/* curl silently resends a request once when a reused connection turns out dead before any
	 * answer. Harmless for reads and "ensure" mutations; for anything else a fresh connection
	 * makes every send ours to decide (ontap_retry_delay). */
	if (req->mutating && !(req->flags & ONTAP_REQ_IDEMPOTENT) &&
	    curl_easy_setopt(e, CURLOPT_FRESH_CONNECT, 1L) != CURLE_OK)
		goto fail;
	if (strcmp(req->method, "GET") == 0) {
		if (curl_easy_setopt(e, CURLOPT_HTTPGET, 1L) != CURLE_OK)
			goto fail;
	} else {
		const char *b = req->body ?: "";
		/* Every mutation sends a body, "{}" at least: some ONTAP endpoints refuse a
		 * Content-Type without one, and a DELETE body is refused (262198). */
		if (strcmp(req->method, "DELETE") == 0)
			b = NULL;
		if (b && (curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE, (long) strlen(b)) != CURLE_OK ||
			  curl_easy_setopt(e, CURLOPT_COPYPOSTFIELDS, b) != CURLE_OK))
			goto fail;
	}
	req->attempt_usec = ontap_now_usec(c);
	if (req->attempts == 0 || req->first_usec == 0)
		req->first_usec = req->attempt_usec;
	req->attempts++;
	if (curl_multi_add_handle(c->multi, e) != CURLM_OK)
		goto fail;
	req->state = REQ_RUNNING;
	c->in_flight++;
	c->stats.requests_sent++;
	if (c->in_flight > c->stats.max_in_flight_seen)
		c->stats.max_in_flight_seen = c->in_flight;
	return 0;
fail:
	attempt_cleanup(req);
	return r;
}

static bool request_stale(struct ontap_client *c, struct ontap_request *req)
{
	uint64_t e;

	if (!req->mutating)
		return false;
	return ontap_client_current_epoch(c, &e) < 0 || e != req->epoch;
}

static void finish_stale(struct ontap_request *req)
{
	struct ontap_error err = {};

	req->client->stats.cancelled_stale++;
	/* Sent at least once: ONTAP may have received it and may still carry it out. */
	if (req->attempts > 0)
		req->client->cancelled_sent_usec = ontap_now_usec(req->client);
	ontap_error_setf(&err, -ESTALE, "%s %s: leader epoch %llu is no longer current; not sent",
			 req->method, req->path, (unsigned long long) req->epoch);
	ontap_request_finish(req, -ESTALE, 0, NULL, &err);
	ontap_error_clear(&err);
}

static void dispatch(struct ontap_client *c)
{
	if (c->closing)
		return;
	if (c->dispatching) {
		c->dispatch_again = true;
		return;
	}
	c->dispatching = true;
	do {
		c->dispatch_again = false;
		for (struct ontap_request *req = c->requests, *next; req; req = next) {
			next = req->next;
			if (req->state != REQ_QUEUED)
				continue;
			if (request_stale(c, req)) {
				finish_stale(req);
				c->dispatch_again = true;  /* the list changed under us */
				break;
			}
			if (c->in_flight >= c->max_concurrency)
				continue;  /* keep scanning: stale queued requests still fail fast */
			if (req->job_state_poll && ontap_job_batch_polls(c, req)) {
				c->dispatch_again = true;  /* the list changed under us */
				break;
			}
			if (attempt_start(req) < 0) {
				struct ontap_error err = {};

				ontap_error_setf(&err, -ENOMEM, "cannot start request %s %s", req->method, req->path);
				ontap_request_finish(req, -ENOMEM, 0, NULL, &err);
				ontap_error_clear(&err);
				c->dispatch_again = true;
				break;
			}
		}
	} while (c->dispatch_again);
	c->dispatching = false;
}

static int on_dispatch_defer(sd_event_source *s, void *userdata)
{
	dispatch(userdata);
	return 0;
}

static int on_retry_timer(sd_event_source *s, uint64_t usec, void *userdata)
{
	struct ontap_request *req = userdata;

	req->timer = sd_event_source_disable_unref(req->timer);
	requeue(req, true);
	dispatch(req->client);
	return 0;
}

/*
 * At debug level, where each attempt's time went: waiting for a slot (since the submit, retries
 * included), in flight as kvmcd saw it, and curl's own split of that flight (the TCP connect and
 * TLS handshake, 0 on a reused connection; the first byte of the answer). What a slow ONTAP
 * phase is made of -- slots, the array, or this loop's own lateness -- reads from these lines.
 */
static void attempt_log(struct ontap_request *req, long http)
{
	struct ontap_client *c = req->client;
	curl_off_t tls = 0, ttfb = 0, total = 0;
	uint64_t now = ontap_now_usec(c);

	if (!c->log_fn)
		return;
	curl_easy_getinfo(req->easy, CURLINFO_APPCONNECT_TIME_T, &tls);
	curl_easy_getinfo(req->easy, CURLINFO_STARTTRANSFER_TIME_T, &ttfb);
	curl_easy_getinfo(req->easy, CURLINFO_TOTAL_TIME_T, &total);
	ontap_log(c, LOG_DEBUG, "%s %s: HTTP %ld, %llu ms in flight (tls %lld, first byte %lld, curl total %lld ms), "
		  "%llu ms for a slot, %u in flight", req->method, req->path, http,
		  (unsigned long long) ((now - req->attempt_usec) / USEC_PER_MSEC), (long long) (tls / 1000),
		  (long long) (ttfb / 1000), (long long) (total / 1000),
		  (unsigned long long) ((req->attempt_usec - req->queued_usec) / USEC_PER_MSEC),
		  c->in_flight);
}

static void attempt_done(struct ontap_request *req, CURLcode cc)
{
	struct ontap_client *c = req->client;
	_cleanup_(json_decrefp) json_t *body = NULL;
	struct ontap_error err = {};
	long http = 0, connects = 0;
	curl_off_t sent = 0;
	char jobuuid[64];
	uint64_t delay;
	int r;

	curl_easy_getinfo(req->easy, CURLINFO_RESPONSE_CODE, &http);
	if (curl_easy_getinfo(req->easy, CURLINFO_NUM_CONNECTS, &connects) == CURLE_OK && connects > 0)
		c->stats.connections_opened += (uint64_t) connects;
	if (curl_easy_getinfo(req->easy, CURLINFO_REQUEST_SIZE, &sent) != CURLE_OK)
		sent = 1;  /* unknown: assume it went out */
	if (req->buf && req->len > 0)
		body = json_loadb(req->buf, req->len, 0, NULL);
	attempt_log(req, http);
	curl_multi_remove_handle(c->multi, req->easy);
	c->in_flight--;
	curl_easy_cleanup(req->easy);
	req->easy = NULL;
	req->state = REQ_QUEUED;  /* not running any more; callers below set the real state */

	if (cc == CURLE_OK && http >= 200 && http < 300 && req->len > 0 && !body) {
		/* A success we cannot read must not pass for "no records": a lookup would then
		 * create, or a delete report success. */
		ontap_error_setf(&err, -EBADMSG, "%s %s: HTTP %ld with a malformed JSON body", req->method,
				 req->path, http);
		r = -EBADMSG;
		goto fail;
	}
	if (cc == CURLE_OK && http >= 200 && http < 300) {
		if (http == 202 && (req->flags & ONTAP_REQ_WAIT_JOB) &&
		    ontap_parse_job_ref(body, jobuuid, sizeof jobuuid) == 0) {
			attempt_cleanup(req);
			ontap_job_start(req, jobuuid);
			return;
		}
		if (req->flags & ONTAP_REQ_ALL_PAGES) {
			_cleanup_free_ char *next = NULL;

			if (!req->acc)
				req->acc = json_array();
			r = req->acc ? ontap_page_merge(req->acc, body, &next) : -ENOMEM;
			if (r < 0) {
				ontap_error_setf(&err, r, "malformed collection page from %s", req->path);
				goto fail;
			}
			if (next && ++req->pages < MAX_PAGES && strcmp(next, req->path) != 0) {
				free(req->path);
				req->path = TAKE_PTR(next);
				req->attempts = 0;
				req->first_usec = 0;
				attempt_cleanup(req);
				requeue(req, true);
				return;
			}
			json_decref(body);
			body = json_pack("{s:O,s:I}", "records", req->acc,
					 "num_records", (json_int_t) json_array_size(req->acc));
		}
		attempt_cleanup(req);
		ontap_request_finish(req, 0, http, body, NULL);
		return;
	}

	/* Failure: build the detail, then ask the policy. */
	err.curl_code = cc;
	err.http_status = http;
	if (body)
		(void) ontap_parse_error_body(body, &err);
	if (cc != CURLE_OK && !err.message)
		ontap_error_setf(&err, 0, "%s %s: %s", req->method, req->path,
				 req->errbuf[0] ? req->errbuf : curl_easy_strerror(cc));
	r = ontap_errno_from(cc, http, err.code, err.message);
	if (r == 0)
		r = -EIO;
	if (http == 401 && !c->username && c->client_cert)
		ontap_error_setf(&err, r, "ONTAP rejected the client certificate '%s' (HTTP 401): it must chain "
				 "to a CA the cluster trusts and its CN must name an ONTAP user%s%s",
				 c->client_cert, err.message ? ": " : "", err.message ?: "");
	else if (http == 401)
		ontap_error_setf(&err, r, "ONTAP rejected the credentials (HTTP 401)%s%s",
				 err.message ? ": " : "", err.message ?: "");

	delay = ontap_retry_delay(&c->retry, &(struct ontap_retry_input) {
		.curl_code = cc, .http_status = http, .ontap_code = err.code, .message = err.message,
		.mutating = req->mutating, .idempotent = req->flags & ONTAP_REQ_IDEMPOTENT,
		.sent = sent > 0, .attempts = req->attempts,
		.elapsed_usec = ontap_now_usec(c) - req->first_usec,
		.retry_after_sec = req->retry_after, .random = client_random(c),
	});
	if (delay > 0 && !c->closing) {
		ontap_log(c, LOG_DEBUG, "%s %s: %s; retrying in %llu ms (attempt %u)", req->method, req->path,
			  err.message ?: strerror(-r), (unsigned long long) (delay / 1000), req->attempts + 1);
		attempt_cleanup(req);
		ontap_error_clear(&err);
		c->stats.retries++;
		req->state = REQ_WAIT_RETRY;
		if (sd_event_add_time_relative(c->event, &req->timer, CLOCK_MONOTONIC, delay, 1,
					       on_retry_timer, req) < 0) {
			ontap_error_setf(&err, -ENOMEM, "cannot arm retry timer");
			r = -ENOMEM;
			goto fail;
		}
		return;
	}
fail:
	attempt_cleanup(req);
	ontap_request_finish(req, r, http, body, &err);
	ontap_error_clear(&err);
}

static void process_curl_messages(struct ontap_client *c)
{
	CURLMsg *msg;
	int left;

	/* One message at a time: a callback may remove other handles, and curl drops their
	 * pending messages when that happens. */
	while ((msg = curl_multi_info_read(c->multi, &left))) {
		struct ontap_request *req = NULL;

		if (msg->msg != CURLMSG_DONE)
			continue;
		if (curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **) &req) != CURLE_OK || !req)
			continue;
		attempt_done(req, msg->data.result);
	}
	dispatch(c);
}

/* ------------------------------------------------------------------ submit */

int ontap_request_submit(struct ontap_client *c, const char *method, const char *path_from_root,
			 const char *body, unsigned flags, uint64_t epoch, ontap_request_fn cb,
			 void *userdata, struct ontap_request **ret)
{
	struct ontap_request *req;
	bool mutating = strcmp(method, "GET") != 0;
	uint64_t cur;

	if (c->closing)
		return -ESHUTDOWN;
	if (mutating && (ontap_client_current_epoch(c, &cur) < 0 || cur != epoch)) {
		c->stats.cancelled_stale++;
		return -ESTALE;
	}
	req = calloc(1, sizeof *req);
	if (!req)
		return -ENOMEM;
	req->client = c;
	req->method = strdup(method);
	/* return_timeout: decided when each attempt starts (attempt_url) */
	req->wait_job = mutating && c->return_timeout_s && !strstr(path_from_root, "return_timeout=");
	req->path = strdup(path_from_root);
	req->body = body ? strdup(body) : NULL;
	if (!req->method || !req->path || (body && !req->body)) {
		free(req->method); free(req->path); free(req->body); free(req);
		return -ENOMEM;
	}
	req->flags = flags;
	req->mutating = mutating;
	req->epoch = epoch;
	req->retry_after = -1;
	req->cb = cb;
	req->userdata = userdata;
	req->state = REQ_QUEUED;
	req->queued_usec = ontap_now_usec(c);
	if (flags & ONTAP_REQ_URGENT)
		list_insert_urgent(c, req);
	else
		list_append(c, req, false);
	if (ret)
		*ret = req;
	/* A mutation that may wait for its job in the round trip starts once this loop iteration
	 * has queued everything it submits (a plan's whole wave comes in one go): only then can
	 * attempt_url() tell whether others wait for a slot. Were the first ones started at once,
	 * they would each hold a slot for their whole job while the rest of the wave queues. */
	if ((req->wait_job || (flags & ONTAP_REQ_TURN_END)) && c->in_flight < c->max_concurrency) {
		if (!c->dispatch_defer) {
			if (sd_event_add_defer(c->event, &c->dispatch_defer, on_dispatch_defer, c) < 0)
				c->dispatch_defer = NULL;
			else /* after this turn's answers and poll timers, before everything else */
				(void) sd_event_source_set_priority(c->dispatch_defer, ONTAP_EVENT_PRIORITY + 1);
		} else {
			(void) sd_event_source_set_enabled(c->dispatch_defer, SD_EVENT_ONESHOT);
		}
		if (c->dispatch_defer)
			return 0;
	}
	/* Start on the next loop iteration: the callback must never run inside this call. */
	if (c->in_flight < c->max_concurrency) {
		if (attempt_start(req) < 0) {
			list_remove(c, req);
			free(req->method); free(req->path); free(req->body); free(req);
			return -ENOMEM;
		}
	}
	return 0;
}

int ontap_client_request(struct ontap_client *c, const char *method, const char *path,
			 const json_t *body, unsigned flags, uint64_t epoch,
			 ontap_request_fn cb, void *userdata)
{
	_cleanup_free_ char *full = NULL, *text = NULL;

	if (!c || !method || !path || path[0] != '/')
		return -EINVAL;
	if (strcmp(method, "GET") && strcmp(method, "POST") && strcmp(method, "PATCH") &&
	    strcmp(method, "DELETE"))
		return -EINVAL;
	if (asprintf(&full, "/api%s", path) < 0)
		return -ENOMEM;
	if (body) {
		text = json_dumps(body, JSON_COMPACT);
		if (!text)
			return -ENOMEM;
	} else if (strcmp(method, "POST") == 0 || strcmp(method, "PATCH") == 0) {
		text = strdup("{}");
		if (!text)
			return -ENOMEM;
	}
	return ontap_request_submit(c, method, full, text, flags, epoch, cb, userdata, NULL);
}

/* ------------------------------------------------------------------ epoch */

int ontap_client_current_epoch(struct ontap_client *c, uint64_t *epoch)
{
	if (c->epoch_fn) {
		uint64_t e = 0;
		int r = c->epoch_fn(c->epoch_userdata, &e);

		if (r < 0)
			return -ESTALE;
		*epoch = e;
		return 0;
	}
	if (!c->epoch_valid)
		return -ESTALE;
	*epoch = c->epoch;
	return 0;
}

void ontap_client_epoch_changed(struct ontap_client *c)
{
	bool again;

	/* Cancel in-flight and waiting mutations issued under another epoch. Job polls of a
	 * stale parent go with it (ontap_job_abort). Restart the scan after each completion:
	 * a callback may change the list. */
	do {
		again = false;
		for (struct ontap_request *req = c->requests; req; req = req->next) {
			if (!request_stale(c, req))
				continue;
			finish_stale(req);
			again = true;
			break;
		}
	} while (again);
}

void ontap_client_set_epoch(struct ontap_client *c, uint64_t epoch, bool valid)
{
	c->epoch = epoch;
	c->epoch_valid = valid;
	ontap_client_epoch_changed(c);
}

uint64_t ontap_client_cancelled_sent_usec(struct ontap_client *c)
{
	return c->cancelled_sent_usec;
}

void ontap_client_set_epoch_source(struct ontap_client *c, ontap_epoch_fn fn, void *userdata)
{
	c->epoch_fn = fn;
	c->epoch_userdata = userdata;
	ontap_client_epoch_changed(c);
}

/* ------------------------------------------------------------------ life cycle */

int ontap_client_new_for_test(struct ontap_client **ret, sd_event *event,
			      const struct ontap_options *opts, const char *node_name,
			      uid_t credentials_owner, struct ontap_error *err)
{
	_cleanup_ontap_client_ struct ontap_client *c = NULL;
	char host[256];
	int r;

	c = calloc(1, sizeof *c);
	if (!c)
		return -ENOMEM;
	r = ontap_options_check_for_test(opts, credentials_owner, &c->username, &c->password, err);
	if (r < 0)
		return r;
	c->event = sd_event_ref(event);
	c->tls_verify = opts->tls_verify;
	c->max_concurrency = opts->max_concurrency ?: 16; /* ONTAP_OPTIONS_DEFAULTS says why */
	c->request_timeout_ms = opts->request_timeout_ms ?: 30000;
	c->job_timeout_ms = opts->job_timeout_ms ?: 600000;
	c->retry = ONTAP_RETRY_POLICY_DEFAULT;
	c->job_poll_initial = 250 * USEC_PER_MSEC;
	c->return_timeout_s = c->request_timeout_ms / 2000 < 1 ? 1 : c->request_timeout_ms / 2000 > 120 ? 120 : c->request_timeout_ms / 2000;
	c->job_poll_max = 2 * USEC_PER_SEC;
	if (getrandom(&c->rng, sizeof c->rng, GRND_NONBLOCK) != sizeof c->rng || c->rng == 0)
		c->rng = 0x9E3779B97F4A7C15ULL ^ (uint64_t) getpid();

	if (!node_name) {
		if (gethostname(host, sizeof host) < 0)
			snprintf(host, sizeof host, "unknown");
		host[sizeof host - 1] = '\0';
		node_name = host;
	}
	if (asprintf(&c->base_url, "https://%s", opts->address) < 0)
		return -ENOMEM;
	c->node = strdup(node_name);
	c->svm = strdup(opts->svm ?: "");
	if (!c->node || !c->svm)
		return -ENOMEM;
	if (strpbrk(c->node, "\r\n"))
		return -EINVAL;
	if ((opts->ca_file && !(c->ca_file = strdup(opts->ca_file))) ||
	    (opts->client_cert && !(c->client_cert = strdup(opts->client_cert))) ||
	    (opts->client_key && !(c->client_key = strdup(opts->client_key))))
		return -ENOMEM;
	if (!c->tls_verify)
		ontap_log(c, LOG_WARNING,
			  "TLS verification of %s is DISABLED (tls_verify=false): anyone on the path can "
			  "impersonate the cluster and read the credentials", opts->address);

	c->multi = curl_multi_init();
	if (!c->multi)
		return -ENOMEM;
	if (curl_multi_setopt(c->multi, CURLMOPT_SOCKETFUNCTION, curl_socket_cb) != CURLM_OK ||
	    curl_multi_setopt(c->multi, CURLMOPT_SOCKETDATA, c) != CURLM_OK ||
	    curl_multi_setopt(c->multi, CURLMOPT_TIMERFUNCTION, curl_timer_cb) != CURLM_OK ||
	    curl_multi_setopt(c->multi, CURLMOPT_TIMERDATA, c) != CURLM_OK ||
	    curl_multi_setopt(c->multi, CURLMOPT_MAX_HOST_CONNECTIONS, (long) c->max_concurrency) != CURLM_OK ||
	    /* A connection per slot stays open between bursts. libcurl's default keeps four per
	     * transfer in progress: a lull of one job poll closed a dozen, and the next burst paid
	     * a TCP and TLS handshake for each (bench/datastores.sh: 20 per round). */
	    curl_multi_setopt(c->multi, CURLMOPT_MAXCONNECTS, (long) c->max_concurrency) != CURLM_OK)
		return -ENOMEM;
	*ret = TAKE_PTR(c);
	return 0;
}

int ontap_client_new(struct ontap_client **ret, sd_event *event, const struct ontap_options *opts,
		     const char *node_name, struct ontap_error *err)
{
	return ontap_client_new_for_test(ret, event, opts, node_name, 0, err);
}

void ontap_client_free(struct ontap_client *c)
{
	if (!c)
		return;
	c->closing = true;
	/* Children (job GETs) are dropped with their parents, so always take the head again. */
	while (c->requests) {
		struct ontap_request *req = c->requests;
		struct ontap_error err = {};

		if (req->job_parent) {
			ontap_request_drop(req);
			continue;
		}
		ontap_error_setf(&err, -ECANCELED, "client shut down");
		ontap_request_finish(req, -ECANCELED, 0, NULL, &err);
		ontap_error_clear(&err);
	}
	op_cancel_waiting(c);
	ontap_fence_client_closing(c);
	if (c->multi)
		curl_multi_cleanup(c->multi);
	sd_event_source_disable_unref(c->curl_timer);
	sd_event_source_disable_unref(c->dispatch_defer);
	sd_event_unref(c->event);
	free(c->base_url);
	free(c->svm);
	free(c->node);
	ontap_secret_free(c->username);
	ontap_secret_free(c->password);
	free(c->ca_file);
	free(c->client_cert);
	free(c->client_key);
	free(c);
}

void ontap_client_set_log(struct ontap_client *c, ontap_log_fn fn, void *userdata)
{
	c->log_fn = fn;
	c->log_userdata = userdata;
}

void ontap_client_set_observer(struct ontap_client *c, ontap_observe_fn fn, void *userdata)
{
	c->observe_fn = fn;
	c->observe_userdata = userdata;
}

sd_event *ontap_client_get_event(struct ontap_client *c) { return c->event; }
const char *ontap_client_svm(struct ontap_client *c) { return c->svm; }

void ontap_client_set_retry_policy(struct ontap_client *c, const struct ontap_retry_policy *p)
{
	c->retry = *p;
}

void ontap_client_set_return_timeout(struct ontap_client *c, unsigned seconds)
{
	c->return_timeout_s = seconds > 120 ? 120 : seconds;
}

void ontap_client_set_job_poll(struct ontap_client *c, uint64_t initial_usec, uint64_t max_usec)
{
	c->job_poll_initial = initial_usec;
	c->job_poll_max = max_usec < initial_usec ? initial_usec : max_usec;
}

const struct ontap_version *ontap_client_version(struct ontap_client *c)
{
	return c->version_known ? &c->version : NULL;
}

void ontap_client_set_version(struct ontap_client *c, const struct ontap_version *v)
{
	c->version = *v;
	c->version_known = true;
}

bool ontap_client_version_at_least(struct ontap_client *c, int gen, int major, int minor)
{
	if (!c->version_known)
		return false;
	return ONTAP_VERSION_CODE(c->version.generation, c->version.major, c->version.minor) >=
	       ONTAP_VERSION_CODE(gen, major, minor);
}

void ontap_client_get_stats(struct ontap_client *c, struct ontap_client_stats *st)
{
	*st = c->stats;
	st->in_flight = c->in_flight;
	st->queued = 0;
	for (struct ontap_request *r = c->requests; r; r = r->next)
		if (r->state == REQ_QUEUED)
			st->queued++;
}
