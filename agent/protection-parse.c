/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The protection service's pure helpers (protection-parse.h). */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "protection-parse.h"

void prot_listing_free(struct prot_snap *s, size_t n)
{
	for (size_t i = 0; s && i < n; i++) {
		free(s[i].name);
		free(s[i].create_time);
	}
	free(s);
}

static bool name_ok(const char *s)
{
	size_t len = strlen(s);

	if (len == 0 || len > PROT_SNAP_NAME_MAX)
		return false;
	for (const unsigned char *p = (const unsigned char *)s; *p; p++)
		if (*p < 0x20 || *p == 0x7f)
			return false;
	return true;
}

int prot_listing_parse(const json_t *listing, struct prot_snap **out, size_t *n)
{
	const json_t *recs = json_object_get(listing, "records"), *rec;
	struct prot_snap *v = NULL;
	size_t i, k = 0;

	if (!json_is_object(listing) || !json_is_array(recs))
		return -EINVAL;
	if (json_array_size(recs) > PROT_SNAP_LIST_MAX)
		return -E2BIG;
	if (json_array_size(recs) && !(v = calloc(json_array_size(recs), sizeof(*v))))
		return -ENOMEM;
	json_array_foreach(recs, i, rec) {
		const char *name = json_string_value(json_object_get(rec, "name"));
		const char *ct = json_string_value(json_object_get(rec, "create_time"));
		const json_t *owners = json_object_get(rec, "owners");

		if (!name || !name_ok(name))
			continue;
		v[k].name = strdup(name);
		v[k].create_time = strdup(ct && name_ok(ct) ? ct : "");
		if (!v[k].name || !v[k].create_time) {
			prot_listing_free(v, k + 1);
			return -ENOMEM;
		}
		v[k].busy = owners && !(json_is_array(owners) && json_array_size(owners) == 0);
		k++;
	}
	if (k == 0) {
		free(v);
		v = NULL;
	}
	*out = v;
	*n = k;
	return 0;
}

int prot_ondemand_name(const char *policy, int64_t t, char *buf)
{
	struct tm tm;
	time_t tt = (time_t)t;

	if (!policy || !prot_policy_name_ok(policy) || t < 0 || t > PROT_TIME_MAX || !gmtime_r(&tt, &tm))
		return -EINVAL;
	snprintf(buf, PROT_ONDEMAND_NAME_MAX, "kvmcd.%s." PROT_ONDEMAND_LABEL ".%04d%02d%02dT%02d%02d%02dZ", policy,
		 tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
	return 0;
}

static int digits(const char *s, size_t n, unsigned *v)
{
	*v = 0;
	for (size_t i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -EINVAL;
		*v = *v * 10 + (unsigned)(s[i] - '0');
	}
	return 0;
}

int prot_ondemand_parse(const char *name, char *policy, int64_t *t)
{
	static const char mid[] = "." PROT_ONDEMAND_LABEL ".";
	char pol[PROT_NAME_MAX + 1], check[PROT_ONDEMAND_NAME_MAX];
	const char *p, *dot;
	unsigned y, mo, d, h, mi, s;
	int64_t at;

	if (!name || strncmp(name, "kvmcd.", 6) != 0)
		return -EINVAL;
	p = name + 6;
	dot = strchr(p, '.');
	if (!dot || (size_t)(dot - p) > PROT_NAME_MAX)
		return -EINVAL;
	memcpy(pol, p, (size_t)(dot - p));
	pol[dot - p] = 0;
	if (!prot_policy_name_ok(pol) || strncmp(dot, mid, sizeof(mid) - 1) != 0)
		return -EINVAL;
	p = dot + sizeof(mid) - 1;
	if (strlen(p) != 16 || p[8] != 'T' || p[15] != 'Z' || digits(p, 4, &y) < 0 || digits(p + 4, 2, &mo) < 0 ||
	    digits(p + 6, 2, &d) < 0 || digits(p + 9, 2, &h) < 0 || digits(p + 11, 2, &mi) < 0 ||
	    digits(p + 13, 2, &s) < 0)
		return -EINVAL;
	if (mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || s > 59)
		return -EINVAL;
	at = prot_days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + s;
	/* a real date, written exactly so: what prot_ondemand_name would write */
	if (prot_ondemand_name(pol, at, check) < 0 || strcmp(check, name) != 0)
		return -EINVAL;
	if (policy)
		memcpy(policy, pol, strlen(pol) + 1);
	if (t)
		*t = at;
	return 0;
}

bool prot_snapshot_is_ours(const char *name)
{
	char pol[PROT_NAME_MAX + 1], label[PROT_LABEL_MAX + 1];
	int64_t slot;

	return name && (sched_snapshot_parse(name, pol, label, &slot) == 0 || prot_ondemand_parse(name, pol, &slot) == 0);
}

int prot_record_key(const char *policy, const char *label, char *buf)
{
	if (!policy || !label || !prot_policy_name_ok(policy) ||
	    (!prot_label_ok(label) && strcmp(label, SCHED_MIRROR_LABEL) != 0))
		return -EINVAL;
	snprintf(buf, PROT_RECORD_KEY_MAX, PROT_RECORD_PREFIX "%s/%s", policy, label);
	return 0;
}

static int64_t slot_of(const json_t *v)
{
	json_int_t s;

	if (!json_is_integer(v))
		return SCHED_NONE;
	s = json_integer_value(v);
	return s >= 0 && s <= PROT_TIME_MAX && s % 60 == 0 ? (int64_t)s : SCHED_NONE;
}

void prot_record_slots(const json_t *rec, int64_t *started, int64_t *done)
{
	*started = slot_of(json_object_get(rec, "started"));
	*done = slot_of(json_object_get(rec, "done"));
}

bool prot_vm_verdict(const json_t *report, const char *pre_why, bool late, bool ok, const char **why)
{
	const char *r = json_string_value(json_object_get(report, "report"));

	*why = NULL;
	if (pre_why)
		*why = pre_why;
	else if (!report)
		*why = "no-report";
	else if (r && !strcmp(r, "frozen")) {
		if (ok && !late)
			return true;
		*why = !ok ? "snapshot-failed" : "deadline";
	} else if (r && !strcmp(r, "crash-consistent"))
		*why = json_string_value(json_object_get(report, "outcome")) ?: "crash-consistent";
	else
		*why = json_string_value(json_object_get(report, "why")) ?: r ?: "unknown";
	return false;
}

int prot_vms_history_add(json_t *hist, const char *name, int64_t at, const json_t *vms, size_t max)
{
	json_t *e;

	if (!json_is_object(hist) || !name || !*name || !json_is_object(vms) || !max)
		return -EINVAL;
	e = json_pack("{sIsO}", "at", (json_int_t)at, "vms", (json_t *)vms);
	if (!e || json_object_set_new(hist, name, e) < 0)
		return -ENOMEM;
	while (json_object_size(hist) > max) {
		const char *oldest = NULL, *k;
		json_int_t at_min = 0;
		json_t *v;

		json_object_foreach(hist, k, v) {
			json_int_t a = json_integer_value(json_object_get(v, "at"));
			if (!oldest || a < at_min || (a == at_min && strcmp(k, oldest) < 0)) {
				oldest = k;
				at_min = a;
			}
		}
		json_object_del(hist, oldest);
	}
	return 0;
}
