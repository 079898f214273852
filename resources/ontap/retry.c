/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Which failures are retried, and after how long. Pure: the caller passes the facts, the clock
 * and the random number.
 *
 * Safe to retry:
 *  - 429 (Retry-After honoured) and 503: ONTAP refused the request before acting on it;
 *  - "temporarily locked" in the message: ONTAP asks to come back later;
 *  - connection refused / resolve errors: the request surely never reached ONTAP;
 *  - reset / EOF / timeout: for GETs always; for mutations only when nothing was sent yet or the
 *    mutation is an idempotent "ensure" (a resend is detected as a duplicate and re-read).
 * Never retried: TLS verification failures, 4xx (except 429), other 5xx.
 * Backoff: base × 2^(attempt-1), capped, full jitter in [½, 1] of that, all within a budget.
 */
#include <string.h>
#include <strings.h>

#include "ontap-client.h"

static bool transport_never_sent(CURLcode cc)
{
	return cc == CURLE_COULDNT_CONNECT || cc == CURLE_COULDNT_RESOLVE_HOST ||
	       cc == CURLE_COULDNT_RESOLVE_PROXY;
}

static bool transport_maybe_sent(CURLcode cc)
{
	return cc == CURLE_SEND_ERROR || cc == CURLE_RECV_ERROR || cc == CURLE_GOT_NOTHING ||
	       cc == CURLE_PARTIAL_FILE || cc == CURLE_OPERATION_TIMEDOUT ||
	       cc == CURLE_SSL_CONNECT_ERROR;
}

uint64_t ontap_retry_delay(const struct ontap_retry_policy *p, const struct ontap_retry_input *in)
{
	bool retry = false;
	uint64_t delay, exp;

	if (in->attempts >= p->max_attempts)
		return 0;

	if (in->curl_code != CURLE_OK) {
		if (transport_never_sent(in->curl_code))
			retry = true;
		else if (transport_maybe_sent(in->curl_code))
			retry = !in->mutating || in->idempotent || !in->sent;
	} else if (in->http_status == 429 || in->http_status == 503)
		retry = true;
	else if (in->http_status >= 400 && in->message && strcasestr(in->message, "temporarily locked"))
		retry = true;
	if (!retry)
		return 0;

	exp = p->base_usec;
	for (unsigned i = 1; i < in->attempts && exp < p->max_delay_usec; i++)
		exp *= 2;
	if (exp > p->max_delay_usec)
		exp = p->max_delay_usec;
	delay = exp / 2 + (uint64_t) ((double) (exp / 2) * in->random);
	if (in->retry_after_sec >= 0) {
		uint64_t ra = (uint64_t) in->retry_after_sec * 1000000ULL;

		if (ra > delay)
			delay = ra;  /* the server knows best; our jitter only ever adds */
	}
	if (delay == 0)
		delay = 1;
	if (in->elapsed_usec + delay > p->budget_usec)
		return 0;
	return delay;
}
