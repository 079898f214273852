/* SPDX-License-Identifier: GPL-2.0-or-later */
/* SnapMirror and DR, the pure part (mirror.h). */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "mirror.h"
#include "schedule.h"

int mirror_destination(const struct prot_mirror *m, const char *src_volume, char *buf, size_t size)
{
	int n;

	if (!m || !src_volume || !buf || !*src_volume)
		return -EINVAL;
	if (m->destination_volume)
		n = snprintf(NULL, 0, "%s", m->destination_volume);
	else
		n = snprintf(NULL, 0, "%s%s", src_volume,
			     m->destination_volume_suffix ? m->destination_volume_suffix : PROT_SUFFIX_DEFAULT);
	if (n < 0 || (size_t)n >= size || (size_t)n > PROT_VOLUME_NAME_MAX)
		return -ENAMETOOLONG;
	if (m->destination_volume)
		snprintf(buf, size, "%s", m->destination_volume);
	else
		snprintf(buf, size, "%s%s", src_volume,
			 m->destination_volume_suffix ? m->destination_volume_suffix : PROT_SUFFIX_DEFAULT);
	return 0;
}

/* digits into *v (no sign), at most 12 of them; the end in *end. */
static int number(const char *s, int64_t *v, const char **end)
{
	int64_t x = 0;
	size_t k = 0;

	while (s[k] >= '0' && s[k] <= '9') {
		if (k == 12)
			return -ERANGE;
		x = x * 10 + (s[k] - '0');
		k++;
	}
	if (k == 0)
		return -EINVAL;
	*v = x;
	*end = s + k;
	return 0;
}

int mirror_duration_parse(const char *s, int64_t *sec)
{
	/* the designators in the order they may come, with their seconds */
	static const struct { char c; int64_t mult; bool time; } units[] = {
		{ 'W', 7 * 86400, false }, { 'D', 86400, false }, { 'H', 3600, true }, { 'M', 60, true }, { 'S', 1, true },
	};
	const char *p;
	int64_t total = 0;
	size_t u = 0, parts = 0;
	bool in_time = false;

	if (!s || *s != 'P')
		return -EINVAL;
	p = s + 1;
	while (*p) {
		int64_t v;
		const char *end;
		int r;

		if (*p == 'T') {
			if (in_time || !p[1])
				return -EINVAL;
			in_time = true;
			p++;
			while (u < 2)
				u++; /* H M S only from here */
			continue;
		}
		r = number(p, &v, &end);
		if (r < 0)
			return r;
		if (*end == '.') { /* a fraction: only of seconds */
			const char *f = end + 1;
			while (*f >= '0' && *f <= '9')
				f++;
			if (f == end + 1 || *f != 'S')
				return -EINVAL;
			end = f;
		}
		while (u < sizeof(units) / sizeof(units[0]) && units[u].c != *end)
			u++;
		if (u == sizeof(units) / sizeof(units[0]) || units[u].time != in_time)
			return -EINVAL;
		if (v > MIRROR_LAG_MAX / units[u].mult || total > MIRROR_LAG_MAX - v * units[u].mult)
			return -ERANGE;
		total += v * units[u].mult;
		u++;
		parts++;
		p = end + 1;
	}
	if (!parts)
		return -EINVAL;
	*sec = total;
	return 0;
}

static void copy_state(char *dst, size_t size, const json_t *v)
{
	const char *s = json_string_value(v);

	dst[0] = 0;
	if (s && strlen(s) < size)
		snprintf(dst, size, "%s", s);
}

int mirror_rel_parse(const json_t *rec, struct mirror_rel *out)
{
	struct mirror_rel r = { 0 };
	const json_t *reasons, *lag;
	const char *msg;

	if (!json_is_object(rec))
		return -EINVAL;
	copy_state(r.state, sizeof(r.state), json_object_get(rec, "state"));
	copy_state(r.transfer_state, sizeof(r.transfer_state),
		   json_object_get(json_object_get(rec, "transfer"), "state"));
	r.healthy = json_is_true(json_object_get(rec, "healthy"));
	lag = json_object_get(rec, "lag_time");
	if (json_is_string(lag) && mirror_duration_parse(json_string_value(lag), &r.lag) == 0)
		r.has_lag = true;
	reasons = json_object_get(rec, "unhealthy_reason");
	msg = json_string_value(json_object_get(json_array_get(reasons, 0), "message"));
	if (msg) {
		snprintf(r.reason, sizeof(r.reason), "%s", msg);
		for (char *c = r.reason; *c; c++)
			if ((unsigned char)*c < 0x20 || *c == 0x7f)
				*c = '?';
	}
	*out = r;
	return 0;
}

bool mirror_transferring(const struct mirror_rel *r)
{
	return r && (!strcmp(r->transfer_state, "queued") || !strcmp(r->transfer_state, "transferring"));
}

bool mirror_update_due(const struct prot_mirror *m, int64_t latest_done, int64_t updated, int64_t now,
		       int64_t *slot)
{
	int64_t s;

	if (!m)
		return false;
	if (m->update_after_snapshot)
		s = latest_done;
	else
		s = sched_slot_prev(&m->update, now);
	if (s == SCHED_NONE || (updated != SCHED_NONE && s <= updated))
		return false;
	*slot = s;
	return true;
}

int64_t mirror_next_update(const struct prot_mirror *m, int64_t now)
{
	int64_t s;

	if (!m || m->update_after_snapshot)
		return INT64_MAX;
	s = sched_slot_next(&m->update, now);
	return s == SCHED_NONE ? INT64_MAX : s;
}

enum mirror_rpo mirror_rpo_check(int64_t rpo, const struct mirror_rel *r)
{
	if (rpo <= 0 || !r || !r->state[0] || !strcmp(r->state, "uninitialized") || !strcmp(r->state, "broken_off"))
		return MIRROR_RPO_NONE;
	if (!r->has_lag)
		return MIRROR_RPO_BREACH;
	return r->lag > rpo ? MIRROR_RPO_BREACH : MIRROR_RPO_OK;
}

const char *mirror_rpo_name(enum mirror_rpo v)
{
	switch (v) {
	case MIRROR_RPO_NONE: return "none";
	case MIRROR_RPO_OK: return "ok";
	case MIRROR_RPO_BREACH: return "breach";
	}
	return "unknown";
}

const char *mirror_dr_name(enum mirror_dr_op op)
{
	return op == MIRROR_DR_FAILOVER ? "failover" : op == MIRROR_DR_RESYNC ? "resync" : "unknown";
}

static int refuse(char *why, size_t len, int r, const char *fmt, ...) __attribute__((format(printf, 4, 5)));
static int refuse(char *why, size_t len, int r, const char *fmt, ...)
{
	va_list ap;

	if (why && len) {
		va_start(ap, fmt);
		vsnprintf(why, len, fmt, ap);
		va_end(ap);
	}
	return r;
}

int mirror_dr_check(enum mirror_dr_op op, const char *datastore, const struct mirror_rel *r, char *why,
		    size_t why_len)
{
	const char *ds = datastore ? datastore : "?";

	if (why && why_len)
		why[0] = 0;
	if (!r || !r->state[0])
		return refuse(why, why_len, -ENODATA,
			      "the SnapMirror relationship of datastore %s has not been read from ONTAP yet; "
			      "try again when `kvmcctl dr status` shows its state", ds);
	if (mirror_transferring(r))
		return refuse(why, why_len, -EBUSY,
			      "a SnapMirror transfer of datastore %s is running (relationship %s); "
			      "wait for it to end (`kvmcctl dr status`)", ds, r->state);
	if (op == MIRROR_DR_FAILOVER) {
		if (!strcmp(r->state, "snapmirrored") || !strcmp(r->state, "paused"))
			return 0;
		if (!strcmp(r->state, "broken_off"))
			return refuse(why, why_len, -EALREADY,
				      "datastore %s is already failed over: its relationship is %s and the "
				      "destination is writable", ds, r->state);
		if (!strcmp(r->state, "uninitialized"))
			return refuse(why, why_len, -EINVAL,
				      "datastore %s cannot fail over: its relationship is %s, the destination "
				      "holds no copy yet", ds, r->state);
		return refuse(why, why_len, -EINVAL,
			      "datastore %s cannot fail over from relationship state %s (only from "
			      "snapmirrored or paused)", ds, r->state);
	}
	if (op == MIRROR_DR_RESYNC) {
		if (!strcmp(r->state, "broken_off"))
			return 0;
		if (!strcmp(r->state, "snapmirrored"))
			return refuse(why, why_len, -EALREADY,
				      "datastore %s needs no resync: its relationship is %s", ds, r->state);
		return refuse(why, why_len, -EINVAL,
			      "datastore %s cannot resync from relationship state %s (only after a failover: "
			      "broken_off)", ds, r->state);
	}
	return -EINVAL;
}
