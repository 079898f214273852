/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The spec's protection policies: durations, cron expressions, validation, defaults, the
 * policies of a valid spec. Pure; protection.h has the rules. */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "datastore.h"
#include "macros.h"
#include "protection.h"
#include "vm.h"

#define SHOWN_MAX 64 /* a user's string quoted in a message, with its terminator */
#define DURATION_ACCEPTED "a duration is digits and one unit: s m h d w (\"15m\", \"1h\", \"7d\")"
#define MINUTES_PER_DAY 1440
#define DAY_WORDS ((MINUTES_PER_DAY + 63) / 64)

static const char *const consistency_names[] = { [PROT_CRASH] = "crash", [PROT_VM] = "vm" };
static const char *const catch_up_names[] = { [PROT_CATCH_UP_ONCE] = "once", [PROT_CATCH_UP_SKIP] = "skip" };

const char *prot_consistency_name(enum prot_consistency c)
{
	return (unsigned)c < ARRAY_SIZE(consistency_names) ? consistency_names[c] : "unknown";
}

const char *prot_catch_up_name(enum prot_catch_up c)
{
	return (unsigned)c < ARRAY_SIZE(catch_up_names) ? catch_up_names[c] : "unknown";
}

_printf_(3, 4) static void say(char *why, size_t why_len, const char *fmt, ...)
{
	va_list ap;

	if (!why || !why_len)
		return;
	va_start(ap, fmt);
	vsnprintf(why, why_len, fmt, ap);
	va_end(ap);
}

/* A user's string as a message quotes it: cut on a UTF-8 boundary, controls as '?'. */
static const char *shown(const char *s, char buf[static SHOWN_MAX])
{
	size_t n = strlen(s), i;
	bool cut = n > SHOWN_MAX - 4;

	if (cut) {
		n = SHOWN_MAX - 4;
		while (n > 0 && ((unsigned char)s[n] & 0xc0) == 0x80)
			n--;
	}
	for (i = 0; i < n; i++)
		buf[i] = (unsigned char)s[i] < 0x20 || s[i] == 0x7f ? '?' : s[i];
	strcpy(buf + i, cut ? "..." : "");
	return buf;
}

static bool lower_or_digit(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

bool prot_policy_name_ok(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n > PROT_NAME_MAX || s[0] < 'a' || s[0] > 'z')
		return false;
	for (size_t i = 0; i < n; i++)
		if (!lower_or_digit(s[i]) && s[i] != '_' && s[i] != '-')
			return false;
	return true;
}

bool prot_label_ok(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n > PROT_LABEL_MAX || !lower_or_digit(s[0]))
		return false;
	for (size_t i = 0; i < n; i++)
		if (!lower_or_digit(s[i]) && s[i] != '_' && s[i] != '-')
			return false;
	return true;
}

static bool alnum_(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
}

static bool svm_name_ok(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n > PROT_SVM_NAME_MAX || !((s[0] >= 'a' && s[0] <= 'z') || (s[0] >= 'A' && s[0] <= 'Z')))
		return false;
	for (size_t i = 0; i < n; i++)
		if (!alnum_(s[i]) && s[i] != '.' && s[i] != '-')
			return false;
	return true;
}

static bool volume_name_ok(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n > PROT_VOLUME_NAME_MAX || (s[0] >= '0' && s[0] <= '9'))
		return false;
	for (size_t i = 0; i < n; i++)
		if (!alnum_(s[i]))
			return false;
	return true;
}

static bool suffix_ok(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n > PROT_SUFFIX_MAX)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!alnum_(s[i]))
			return false;
	return true;
}

/* ---- durations ---------------------------------------------------------------------------- */

int prot_duration_parse(const json_t *v, int64_t *sec, char *why, size_t why_len)
{
	static const struct {
		char unit;
		int64_t sec;
	} units[] = { { 's', 1 }, { 'm', 60 }, { 'h', 3600 }, { 'd', 86400 }, { 'w', 604800 } };
	char buf[SHOWN_MAX];
	const char *s, *p;
	int64_t n = 0;
	bool over = false;

	if (json_is_integer(v)) {
		say(why, why_len, "%" JSON_INTEGER_FORMAT " is a number: write a string with a unit (\"%" JSON_INTEGER_FORMAT "m\" or \"%" JSON_INTEGER_FORMAT "s\"); " DURATION_ACCEPTED,
		    json_integer_value(v), json_integer_value(v), json_integer_value(v));
		return -EINVAL;
	}
	if (!json_is_string(v)) {
		say(why, why_len, "must be a string; " DURATION_ACCEPTED);
		return -EINVAL;
	}
	s = json_string_value(v);
	shown(s, buf);
	for (p = s; *p >= '0' && *p <= '9'; p++) {
		if (n > (INT64_MAX - (*p - '0')) / 10)
			over = true;
		else
			n = n * 10 + (*p - '0');
	}
	if (p == s) {
		say(why, why_len, "\"%s\" is not a duration; " DURATION_ACCEPTED, buf);
		return -EINVAL;
	}
	if (*p == '.') {
		say(why, why_len, "\"%s\": whole numbers only, use a smaller unit (\"90m\" for 1.5h); " DURATION_ACCEPTED, buf);
		return -EINVAL;
	}
	if (!*p) {
		say(why, why_len, "\"%s\" has no unit (\"%.20sm\"?); " DURATION_ACCEPTED, buf, s);
		return -EINVAL;
	}
	for (size_t i = 0; i < ARRAY_SIZE(units); i++)
		if (*p == units[i].unit && !p[1]) {
			if (over || n > INT64_MAX / units[i].sec) {
				say(why, why_len, "\"%s\" is far too long", buf);
				return -ERANGE;
			}
			*sec = n * units[i].sec;
			return 0;
		}
	say(why, why_len, "\"%s\": unknown unit (units are s m h d w, lower case, one per duration: \"90m\", not \"1h30m\")", buf);
	return -EINVAL;
}

const char *prot_duration_format(int64_t sec, char *buf)
{
	if (sec > 0 && sec % 86400 == 0)
		snprintf(buf, PROT_LABEL_MAX + 1, "%" PRId64 "d", sec / 86400);
	else if (sec > 0 && sec % 3600 == 0)
		snprintf(buf, PROT_LABEL_MAX + 1, "%" PRId64 "h", sec / 3600);
	else if (sec % 60 == 0)
		snprintf(buf, PROT_LABEL_MAX + 1, "%" PRId64 "m", sec / 60);
	else
		snprintf(buf, PROT_LABEL_MAX + 1, "%" PRId64 "s", sec);
	return buf;
}

/* ---- the calendar ------------------------------------------------------------------------- */

/* Days since 1970-01-01 of a proleptic Gregorian date, and back (H. Hinnant's algorithms). */
int64_t prot_days_from_civil(int64_t y, unsigned m, unsigned d)
{
	int64_t era, yoe, doy, doe;

	y -= m <= 2;
	era = (y >= 0 ? y : y - 399) / 400;
	yoe = y - era * 400;
	doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + doe - 719468;
}

void prot_civil_from_days(int64_t z, int64_t *y, unsigned *m, unsigned *d)
{
	int64_t era, doe, yoe, doy, mp;

	z += 719468;
	era = (z >= 0 ? z : z - 146096) / 146097;
	doe = z - era * 146097;
	yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	mp = (5 * doy + 2) / 153;
	*d = (unsigned)(doy - (153 * mp + 2) / 5 + 1);
	*m = (unsigned)(mp < 10 ? mp + 3 : mp - 9);
	*y = yoe + era * 400 + (*m <= 2);
}

/* ---- cron ---------------------------------------------------------------------------------- */

static const struct cron_field {
	const char *name;
	unsigned min, max;
	const char *const *names; /* three-letter names of min.. (NULL: numbers only) */
} cron_fields[5] = {
	{ "minute", 0, 59, NULL },
	{ "hour", 0, 23, NULL },
	{ "day of month", 1, 31, NULL },
	{ "month", 1, 12, (const char *const[]){ "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep",
						  "oct", "nov", "dec" } },
	{ "day of week", 0, 7, (const char *const[]){ "sun", "mon", "tue", "wed", "thu", "fri", "sat", "sun" } },
};

/* A number or (month, dow) a name at *s; advances *s. Returns -1 when there is none. */
static int cron_value(const struct cron_field *f, const char **s)
{
	const char *p = *s;
	unsigned v = 0, nd = 0;

	if (f->names && ((*p | 0x20) >= 'a' && (*p | 0x20) <= 'z')) {
		for (unsigned i = 0; i <= f->max - f->min; i++)
			if (!strncasecmp(p, f->names[i], 3) && !((p[3] | 0x20) >= 'a' && (p[3] | 0x20) <= 'z')) {
				*s = p + 3;
				return (int)(f->min + i);
			}
		return -1;
	}
	while (*p >= '0' && *p <= '9' && nd < 3) {
		v = v * 10 + (unsigned)(*p++ - '0');
		nd++;
	}
	if (!nd || (*p >= '0' && *p <= '9'))
		return -1;
	*s = p;
	return (int)v;
}

/* One field [start, end) into *bits (bit v for each value v). */
static int cron_field_parse(const struct cron_field *f, const char *start, const char *end, uint64_t *bits,
			    char *why, size_t why_len)
{
	char text[PROT_CRON_TEXT_MAX + 1];
	const char *s;

	snprintf(text, sizeof(text), "%.*s", (int)(end - start), start);
	s = text;
	*bits = 0;
	for (;;) {
		int lo, hi, step = 1;
		bool star = false;

		if (*s == '*') {
			star = true;
			lo = (int)f->min;
			hi = (int)f->max;
			s++;
		} else {
			if ((lo = cron_value(f, &s)) < 0)
				goto bad;
			hi = lo;
			if (*s == '-') {
				s++;
				if ((hi = cron_value(f, &s)) < 0)
					goto bad;
			}
			if ((unsigned)lo < f->min || (unsigned)lo > f->max || (unsigned)hi < f->min || (unsigned)hi > f->max) {
				say(why, why_len, "%s \"%s\": values are %u-%u%s", f->name, text, f->min, f->max,
				    f->names ? " or names" : "");
				return -EINVAL;
			}
			if (hi < lo) {
				say(why, why_len, "%s \"%s\": the range %d-%d runs backwards", f->name, text, lo, hi);
				return -EINVAL;
			}
		}
		if (*s == '/') {
			const char *d = ++s;
			step = 0;
			while (*s >= '0' && *s <= '9' && s - d < 3)
				step = step * 10 + (*s++ - '0');
			if (s == d || (*s >= '0' && *s <= '9') || step < 1 || (unsigned)step > f->max - f->min) {
				say(why, why_len, "%s \"%s\": a step is 1..%u", f->name, text, f->max - f->min);
				return -EINVAL;
			}
			if (!star && lo == hi) /* "a/n": from a to the field's end */
				hi = (int)f->max;
		}
		for (int v = lo; v <= hi; v += step)
			*bits |= UINT64_C(1) << v;
		if (!*s)
			return 0;
		if (*s++ != ',' || !*s)
			goto bad;
	}
bad:
	say(why, why_len, "%s \"%s\": not understood (\"*\", numbers%s, \"a-b\", \"*/n\", \"a-b/n\", lists with \",\")", f->name,
	    text, f->names ? " or names" : "");
	return -EINVAL;
}

int prot_cron_parse(const char *s, struct prot_cron *out, char *why, size_t why_len)
{
	const char *field[5], *fend[5], *p = s;
	uint64_t bits[5];
	struct prot_cron c = { 0 };
	size_t n = 0;
	char buf[SHOWN_MAX];

	if (strlen(s) > PROT_CRON_TEXT_MAX) {
		say(why, why_len, "longer than %u bytes", PROT_CRON_TEXT_MAX);
		return -EINVAL;
	}
	if (*s == '@') {
		say(why, why_len, "\"%s\": macros are not taken; write the five fields (\"0 0 * * *\" for @daily)", shown(s, buf));
		return -EINVAL;
	}
	if (*s == ' ' || (*s && s[strlen(s) - 1] == ' ')) {
		say(why, why_len, "\"%s\": a blank at either end", shown(s, buf));
		return -EINVAL;
	}
	while (*p) {
		const char *b = p;
		while (*p && *p != ' ')
			p++;
		if (n == 5) {
			n++;
			break;
		}
		field[n] = b;
		fend[n++] = p;
		while (*p == ' ')
			p++;
	}
	if (n != 5) {
		say(why, why_len, "\"%s\": %s five fields separated by blanks: minute hour day-of-month month day-of-week",
		    shown(s, buf), n < 5 ? "fewer than" : "more than");
		return -EINVAL;
	}
	for (size_t i = 0; i < 5; i++) {
		for (const char *c2 = field[i]; c2 < fend[i]; c2++)
			if ((unsigned char)*c2 <= ' ' || *c2 == 0x7f) {
				say(why, why_len, "\"%s\": fields are separated by blanks only (no tab or control character)",
				    shown(s, buf));
				return -EINVAL;
			}
		if (cron_field_parse(&cron_fields[i], field[i], fend[i], &bits[i], why, why_len) < 0)
			return -EINVAL;
	}
	c.minutes = bits[0];
	c.hours = (uint32_t)bits[1];
	c.mdays = (uint32_t)bits[2];
	c.months = (uint16_t)bits[3];
	c.wdays = (uint8_t)((bits[4] | (bits[4] >> 7)) & 0x7f);
	c.dom_star = *field[2] == '*';
	c.dow_star = *field[4] == '*';
	*out = c;
	return 0;
}

bool prot_cron_fires(const struct prot_cron *c)
{
	static const unsigned mdays_max[13] = { 0, 31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };

	if (!c->minutes || !c->hours || !c->months)
		return false;
	if (!c->dom_star && !c->dow_star && c->wdays)
		return true; /* either day field: some weekday of every month */
	if (!c->wdays)
		return false;
	for (unsigned m = 1; m <= 12; m++)
		if ((c->months >> m) & 1)
			for (unsigned d = 1; d <= mdays_max[m]; d++)
				if ((c->mdays >> d) & 1)
					return true;
	return false;
}

static bool cron_day(const struct prot_cron *c, int64_t z)
{
	int64_t y;
	unsigned m, d, w = (unsigned)(((z % 7) + 11) % 7); /* 1970-01-01 was a Thursday (4) */
	bool dom, dow;

	if (c->months == 0x1ffe && c->dom_star && c->dow_star && c->mdays == 0xfffffffe && c->wdays == 0x7f)
		return true; /* every day: no calendar needed */
	prot_civil_from_days(z, &y, &m, &d);
	if (!((c->months >> m) & 1))
		return false;
	dom = (c->mdays >> d) & 1;
	dow = (c->wdays >> w) & 1;
	return !c->dom_star && !c->dow_star ? dom || dow : dom && dow;
}

/* The first minute of the day at or after `from` (0..1439) when c fires, or -1. */
static int cron_first_in_day(const struct prot_cron *c, int from)
{
	for (int h = from / 60; h < 24; h++) {
		uint64_t mins = c->minutes;
		if (!((c->hours >> h) & 1))
			continue;
		if (h == from / 60)
			mins &= ~UINT64_C(0) << (from % 60);
		if (mins)
			return h * 60 + __builtin_ctzll(mins);
	}
	return -1;
}

/* The last minute of the day at or before `to` (0..1439) when c fires, or -1. */
static int cron_last_in_day(const struct prot_cron *c, int to)
{
	for (int h = to / 60; h >= 0; h--) {
		uint64_t mins = c->minutes & ((UINT64_C(1) << 60) - 1);
		if (!((c->hours >> h) & 1))
			continue;
		if (h == to / 60 && to % 60 < 63)
			mins &= (UINT64_C(2) << (to % 60)) - 1;
		if (mins)
			return h * 60 + 63 - __builtin_clzll(mins);
	}
	return -1;
}

int64_t prot_cron_next(const struct prot_cron *c, int64_t t)
{
	int64_t z, minute;

	if (t < 0 || t >= PROT_TIME_MAX)
		return INT64_MIN;
	minute = t / 60 + 1;
	z = minute / MINUTES_PER_DAY;
	for (int from = (int)(minute % MINUTES_PER_DAY), k = 0; k <= PROT_CRON_SEARCH_DAYS; k++, z++, from = 0) {
		int m;
		if (!cron_day(c, z) || (m = cron_first_in_day(c, from)) < 0)
			continue;
		return z * 86400 + m * 60 > PROT_TIME_MAX ? INT64_MIN : z * 86400 + m * 60;
	}
	return INT64_MIN;
}

int64_t prot_cron_prev(const struct prot_cron *c, int64_t t)
{
	int64_t z, minute;

	if (t < 0 || t > PROT_TIME_MAX)
		return INT64_MIN;
	minute = t / 60;
	z = minute / MINUTES_PER_DAY;
	for (int to = (int)(minute % MINUTES_PER_DAY), k = 0; k <= PROT_CRON_SEARCH_DAYS && z >= 0;
	     k++, z--, to = MINUTES_PER_DAY - 1) {
		int m;
		if (!cron_day(c, z) || (m = cron_last_in_day(c, to)) < 0)
			continue;
		return z * 86400 + m * 60;
	}
	return INT64_MIN;
}

/* ---- gaps ---------------------------------------------------------------------------------- */

/* The minutes of a day c fires at, as bits. */
static void cron_day_bits(const struct prot_cron *c, uint64_t bits[static DAY_WORDS])
{
	memset(bits, 0, DAY_WORDS * sizeof(uint64_t));
	for (int h = 0; h < 24; h++)
		if ((c->hours >> h) & 1)
			for (int m = 0; m < 60; m++)
				if ((c->minutes >> m) & 1)
					bits[(h * 60 + m) / 64] |= UINT64_C(1) << ((h * 60 + m) % 64);
}

/* A cron that fires every day: its longest gap from its minutes alone (the wrap included). */
static int64_t cron_daily_gap(const struct prot_cron *c)
{
	int first = cron_first_in_day(c, 0), prev = first, gap;

	if (first < 0)
		return INT64_MAX;
	gap = 0;
	for (int m; (m = prev + 1 < MINUTES_PER_DAY ? cron_first_in_day(c, prev + 1) : -1) >= 0; prev = m)
		if (m - prev > gap)
			gap = m - prev;
	if (MINUTES_PER_DAY - prev + first > gap)
		gap = MINUTES_PER_DAY - prev + first;
	return (int64_t)gap * 60;
}

int64_t prot_max_gap(const struct prot_timing *t, size_t n, int64_t limit)
{
	const int64_t z0 = prot_days_from_civil(2001, 1, 1), zend = z0 + PROT_GAP_HORIZON_DAYS;
	uint64_t day_bits[PROT_MAX_SCHEDULES + 1][DAY_WORDS];
	int64_t best = INT64_MAX, last = -1, gap = 0;

	/* One timing that keeps the gaps within the limit settles it. */
	for (size_t i = 0; i < n; i++) {
		int64_t g = INT64_MAX;
		if (t[i].kind == PROT_EVERY)
			g = t[i].every;
		else if (t[i].cron.months == 0x1ffe && t[i].cron.dom_star && t[i].cron.dow_star &&
			 t[i].cron.mdays == 0xfffffffe && t[i].cron.wdays == 0x7f)
			g = cron_daily_gap(&t[i].cron);
		if (g < best)
			best = g;
	}
	if (best <= limit || n > ARRAY_SIZE(day_bits))
		return best;
	for (size_t i = 0; i < n; i++)
		if (t[i].kind == PROT_CRON)
			cron_day_bits(&t[i].cron, day_bits[i]);
	/* Otherwise walk the days, each day's minutes of every timing together. */
	for (int64_t z = z0; z < zend; z++) {
		uint64_t bits[DAY_WORDS] = { 0 };
		for (size_t i = 0; i < n; i++) {
			if (t[i].kind == PROT_CRON) {
				if (cron_day(&t[i].cron, z))
					for (size_t w = 0; w < DAY_WORDS; w++)
						bits[w] |= day_bits[i][w];
			} else {
				int64_t e = t[i].every, s = z * 86400, k = (s + e - 1) / e * e;
				for (; k < s + 86400; k += e)
					bits[(k - s) / 60 / 64] |= UINT64_C(1) << ((k - s) / 60 % 64);
			}
		}
		for (size_t w = 0; w < DAY_WORDS; w++)
			for (uint64_t b = bits[w]; b; b &= b - 1) {
				int64_t minute = (z - z0) * MINUTES_PER_DAY + (int64_t)w * 64 + __builtin_ctzll(b);
				/* before the first fire: a lower bound of a real gap (the fire before the
				 * horizon is earlier still) */
				int64_t g = (minute - (last < 0 ? 0 : last)) * 60;
				if (g > gap)
					gap = g;
				if (gap > limit)
					return gap;
				last = minute;
			}
	}
	if (last < 0)
		return INT64_MAX;
	/* after the last fire: a lower bound too */
	if (((zend - z0) * MINUTES_PER_DAY - last) * 60 > gap)
		gap = ((zend - z0) * MINUTES_PER_DAY - last) * 60;
	return gap;
}

/* ---- validation ---------------------------------------------------------------------------- */

static uint32_t fnv1a32(const char *s)
{
	uint32_t h = 2166136261u;

	for (; *s; s++) {
		h ^= (unsigned char)*s;
		h *= 16777619u;
	}
	return h;
}

/* The cron's five fields joined by one blank: what its default label hashes. */
static void cron_canonical(const char *s, char *out, size_t len)
{
	size_t o = 0;

	for (; *s && o + 1 < len; s++)
		if (*s != ' ' || (o && out[o - 1] != ' '))
			out[o++] = *s;
	out[o] = 0;
}

static bool only_keys(const json_t *o, const char *const *keys, size_t n, const char *at, const char *known,
		      struct spec_problems *p)
{
	const char *k;
	json_t *v;
	bool ok = true;

	json_object_foreach((json_t *)o, k, v) {
		size_t i;
		for (i = 0; i < n && strcmp(k, keys[i]); i++)
			;
		if (i == n) {
			char buf[SHOWN_MAX];
			spec_problem(p, "%s: unknown key \"%s\" (known: %s)", at, shown(k, buf), known);
			ok = false;
		}
	}
	return ok;
}

/* A duration at `at` within 1m .. 366d, whole minutes. Returns false after reporting. */
static bool duration_check(const json_t *v, const char *at, const char *what, int64_t *sec, struct spec_problems *p)
{
	char why[256], buf[SHOWN_MAX], f[PROT_LABEL_MAX + 1];
	int r = prot_duration_parse(v, sec, why, sizeof(why));

	if (r == -ERANGE || (r == 0 && *sec > PROT_DURATION_MAX)) {
		spec_problem(p, "%s: above the longest %s, \"366d\"%s", at, what,
			     !strcmp(what, "interval") ? " (use \"cron\" for rarer runs)" : "");
		return false;
	}
	if (r < 0) {
		spec_problem(p, "%s: %s", at, why);
		return false;
	}
	shown(json_string_value(v), buf);
	if (*sec < PROT_EVERY_MIN) {
		spec_problem(p, "%s: \"%s\" is below one minute (the smallest %s is \"1m\")", at, buf, what);
		return false;
	}
	if (*sec % 60) {
		spec_problem(p, "%s: \"%s\" is not a whole number of minutes (slots are whole minutes: \"%s\"?)", at, buf,
			     prot_duration_format(*sec / 60 * 60, f));
		return false;
	}
	return true;
}

/* "every" or "cron" of object o at `at` into *t. Returns false after reporting. */
static bool timing_check(const json_t *o, const char *at, struct prot_timing *t, char *cron_text, size_t cron_len,
			 struct spec_problems *p)
{
	const json_t *every = json_object_get(o, "every"), *cron = json_object_get(o, "cron");
	char where[96], why[256];

	if (!every == !cron) {
		spec_problem(p, "%s: %s", at, every ? "both \"every\" and \"cron\"; give one" :
			     "missing \"every\" (\"15m\", \"1h\", ...) or \"cron\" (\"0 0-23/4 * * *\")");
		return false;
	}
	if (every) {
		snprintf(where, sizeof(where), "%s.every", at);
		t->kind = PROT_EVERY;
		return duration_check(every, where, "interval", &t->every, p);
	}
	t->kind = PROT_CRON;
	if (!json_is_string(cron)) {
		spec_problem(p, "%s.cron: must be a string of five fields (minute hour day-of-month month day-of-week, UTC)", at);
		return false;
	}
	if (prot_cron_parse(json_string_value(cron), &t->cron, why, sizeof(why)) < 0) {
		spec_problem(p, "%s.cron: %s", at, why);
		return false;
	}
	if (!prot_cron_fires(&t->cron)) {
		char buf[SHOWN_MAX];
		spec_problem(p, "%s.cron: \"%s\" never fires (no month of its list has such a day)", at,
			     shown(json_string_value(cron), buf));
		return false;
	}
	if (cron_text)
		cron_canonical(json_string_value(cron), cron_text, cron_len);
	return true;
}

/* The label of a schedule whose timing is valid. */
static void default_label(const struct prot_timing *t, const char *cron_text, char out[static PROT_LABEL_MAX + 1])
{
	if (t->kind == PROT_EVERY)
		prot_duration_format(t->every, out);
	else
		snprintf(out, PROT_LABEL_MAX + 1, "cron-%08" PRIx32, fnv1a32(cron_text));
}

/* What validating one policy learned, for the checks across policies. */
struct seen {
	const char *name;                /* valid name, borrowed; NULL: none */
	const json_t *datastores;        /* its valid "datastores" list; NULL: vms or invalid */
	bool mirror_ok;
	const char *svm, *volume, *suffix; /* the mirror's destination (suffix default applied) */
	size_t volume_at;                /* where the volume is in the spec: for the message */
};

static void check_names(const json_t *list, const char *at, const char *key, const json_t *known, bool ds,
			struct spec_problems *p, bool *ok)
{
	size_t i, j;
	json_t *e;

	*ok = false;
	if (!json_is_array(list) || json_array_size(list) == 0) {
		spec_problem(p, "%s.%s: must be a non-empty array of %s names", at, key, ds ? "datastore" : "VM");
		return;
	}
	if (json_array_size(list) > PROT_MAX_TARGETS) {
		spec_problem(p, "%s.%s: %zu names, at most %u allowed", at, key, json_array_size(list), PROT_MAX_TARGETS);
		return;
	}
	*ok = true;
	json_array_foreach(list, i, e) {
		const char *s = json_string_value(e);
		char buf[SHOWN_MAX];
		bool found = false;
		json_t *k;

		if (!s) {
			spec_problem(p, "%s.%s[%zu]: must be a %s name (a string)", at, key, i, ds ? "datastore" : "VM");
			*ok = false;
			continue;
		}
		for (j = 0; j < i; j++)
			if (json_is_string(json_array_get(list, j)) && !strcmp(json_string_value(json_array_get(list, j)), s))
				break;
		if (j < i) {
			spec_problem(p, "%s.%s[%zu]: \"%s\" already listed at %s[%zu]", at, key, i, shown(s, buf), key, j);
			*ok = false;
			continue;
		}
		json_array_foreach(known, j, k)
			if (json_is_string(json_object_get(k, "name")) && !strcmp(json_string_value(json_object_get(k, "name")), s)) {
				found = true;
				break;
			}
		if (!found) {
			spec_problem(p, "%s.%s[%zu]: \"%s\" is not a %s of the spec (its \"%s\" has no such name)", at, key, i,
				     shown(s, buf), ds ? "datastore" : "VM", ds ? "datastores" : "vms");
			*ok = false;
		}
	}
}

static void check_mirror(const json_t *m, const char *at, bool single_ds, const struct prot_timing *sched, size_t n_sched,
			 bool sched_ok, struct seen *seen, struct spec_problems *p)
{
	static const char *const keys[] = { "destination_svm", "destination_volume_suffix", "destination_volume", "policy",
					    "rpo", "update" };
	const json_t *svm = json_object_get(m, "destination_svm"), *suffix = json_object_get(m, "destination_volume_suffix"),
		     *vol = json_object_get(m, "destination_volume"), *pol = json_object_get(m, "policy"),
		     *rpo = json_object_get(m, "rpo"), *upd = json_object_get(m, "update");
	char where[96], buf[SHOWN_MAX], f1[PROT_LABEL_MAX + 1], f2[PROT_LABEL_MAX + 1];
	struct prot_timing ut;
	bool ok = true, upd_ok = false, upd_after = true;
	int64_t rpo_s = 0;

	only_keys(m, keys, ARRAY_SIZE(keys), at,
		  "destination_svm, destination_volume_suffix, destination_volume, policy, rpo, update", p);
	if (!svm) {
		spec_problem(p, "%s.destination_svm: missing (the SVM the mirror's volumes go to; peered with this one)", at);
		ok = false;
	} else if (!json_is_string(svm) || !svm_name_ok(json_string_value(svm))) {
		spec_problem(p, "%s.destination_svm: must be an SVM name (1-%u chars of A-Z a-z 0-9 . _ -, starting with a letter)",
			     at, PROT_SVM_NAME_MAX);
		ok = false;
	}
	if (suffix && vol) {
		spec_problem(p, "%s: both destination_volume_suffix and destination_volume; give one", at);
		ok = false;
	} else if (suffix && (!json_is_string(suffix) || !suffix_ok(json_string_value(suffix)))) {
		spec_problem(p, "%s.destination_volume_suffix: must be 1-%u chars of A-Z a-z 0-9 _ (appended to each source volume's name)",
			     at, PROT_SUFFIX_MAX);
		ok = false;
	} else if (vol && (!json_is_string(vol) || !volume_name_ok(json_string_value(vol)))) {
		spec_problem(p, "%s.destination_volume: must be a volume name (1-%u chars of A-Z a-z 0-9 _, not starting with a digit)",
			     at, PROT_VOLUME_NAME_MAX);
		ok = false;
	} else if (vol && !single_ds) {
		spec_problem(p, "%s.destination_volume: names one volume, but this policy protects several datastores or names VMs; use destination_volume_suffix (each source volume gets its own mirror)",
			     at);
		ok = false;
	}
	if (pol) {
		const char *s = json_string_value(pol);
		bool good = s && *s && strlen(s) <= PROT_POLICY_NAME_MAX;
		for (const char *c = s; good && *c; c++)
			good = (unsigned char)*c >= 0x20 && *c != 0x7f;
		if (!good)
			spec_problem(p, "%s.policy: must be an ONTAP SnapMirror policy name (1-%u bytes, no control character; default \"" PROT_MIRROR_POLICY_DEFAULT "\")",
				     at, PROT_POLICY_NAME_MAX);
	}
	if (rpo) {
		snprintf(where, sizeof(where), "%s.rpo", at);
		if (!duration_check(rpo, where, "RPO", &rpo_s, p))
			rpo_s = 0;
	}
	if (upd) {
		snprintf(where, sizeof(where), "%s.update", at);
		if (json_is_string(upd) && !strcmp(json_string_value(upd), "after-snapshot")) {
			upd_ok = true;
		} else if (json_is_object(upd)) {
			static const char *const ukeys[] = { "every", "cron" };
			upd_after = false;
			bool keys_ok = only_keys(upd, ukeys, ARRAY_SIZE(ukeys), where, "every, cron", p);
			/* both report: every problem in one go */
			upd_ok = timing_check(upd, where, &ut, NULL, 0, p) && keys_ok;
		} else {
			spec_problem(p, "%s: must be \"after-snapshot\" (the default) or a schedule ({\"every\": \"15m\"} or {\"cron\": \"...\"})",
				     where);
		}
	} else {
		upd_ok = true;
	}
	/* The RPO against the update interval, when everything it depends on is valid. */
	if (rpo_s && upd_ok && (!upd_after || sched_ok)) {
		int64_t g = upd_after ? prot_max_gap(sched, n_sched, rpo_s) : prot_max_gap(&ut, 1, rpo_s);
		shown(json_string_value(rpo), buf);
		if (g > rpo_s && g == INT64_MAX)
			spec_problem(p, "%s.rpo: \"%s\" cannot be kept: the updates never run", at, buf);
		else if (g > rpo_s && upd_after)
			spec_problem(p, "%s.rpo: \"%s\" is shorter than the update interval: updates follow the snapshots (\"after-snapshot\"), and the policy's schedules leave %s between two of them",
				     at, buf, prot_duration_format(g, f1));
		else if (g > rpo_s)
			spec_problem(p, "%s.rpo: \"%s\" is shorter than the update interval: the update schedule leaves %s between two updates (%s)",
				     at, buf, prot_duration_format(g, f1), prot_duration_format(rpo_s, f2));
	}
	if (ok) {
		seen->mirror_ok = true;
		seen->svm = json_string_value(svm);
		seen->volume = json_string_value(vol);
		seen->suffix = suffix ? json_string_value(suffix) : vol ? NULL : PROT_SUFFIX_DEFAULT;
	}
}

static void check_policy(const json_t *spec, const json_t *e, size_t i, struct seen *seen, struct spec_problems *p)
{
	static const char *const keys[] = { "name", "datastores", "vms", "schedules", "consistency", "catch_up",
					    "snapmirror" };
	const json_t *name = json_object_get(e, "name"), *ds = json_object_get(e, "datastores"),
		     *vms = json_object_get(e, "vms"), *sched = json_object_get(e, "schedules"),
		     *cons = json_object_get(e, "consistency"), *cu = json_object_get(e, "catch_up"),
		     *mirror = json_object_get(e, "snapmirror");
	struct prot_timing timings[PROT_MAX_SCHEDULES];
	char at[32], sat[64], buf[SHOWN_MAX];
	char labels[PROT_MAX_SCHEDULES][PROT_LABEL_MAX + 1];
	bool sched_ok = false, targets_ok = false;
	size_t n_sched = 0, j;
	unsigned keep_sum = 0;
	json_t *s;

	snprintf(at, sizeof(at), "protection[%zu]", i);
	only_keys(e, keys, ARRAY_SIZE(keys), at, "name, datastores, vms, schedules, consistency, catch_up, snapmirror", p);

	if (!name)
		spec_problem(p, "%s.name: missing", at);
	else if (!json_is_string(name) || !prot_policy_name_ok(json_string_value(name)))
		spec_problem(p, "%s.name: %s%s%smust be 1-%u chars of a-z 0-9 _ -, starting with a letter (it is part of every snapshot name)",
			     at, json_is_string(name) ? "\"" : "", json_is_string(name) ? shown(json_string_value(name), buf) : "",
			     json_is_string(name) ? "\": " : "", PROT_NAME_MAX);
	else
		seen->name = json_string_value(name);

	if (ds && vms)
		spec_problem(p, "%s: both \"datastores\" and \"vms\"; a policy protects one or the other (make two policies)", at);
	else if (!ds && !vms)
		spec_problem(p, "%s: missing \"datastores\" (names) or \"vms\" (names): what the policy protects", at);
	else if (ds)
		check_names(ds, at, "datastores", json_object_get(spec, "datastores"), true, p, &targets_ok);
	else
		check_names(vms, at, "vms", json_object_get(spec, "vms"), false, p, &targets_ok);
	if (ds && !vms && targets_ok)
		seen->datastores = ds;

	if (!sched) {
		spec_problem(p, "%s.schedules: missing (an array of {\"every\" or \"cron\", \"keep\"})", at);
	} else if (!json_is_array(sched) || json_array_size(sched) == 0) {
		spec_problem(p, "%s.schedules: must be a non-empty array of {\"every\" or \"cron\", \"keep\"}", at);
	} else if (json_array_size(sched) > PROT_MAX_SCHEDULES) {
		spec_problem(p, "%s.schedules: %zu entries, at most %u allowed", at, json_array_size(sched), PROT_MAX_SCHEDULES);
	} else {
		sched_ok = true;
		json_array_foreach(sched, j, s) {
			static const char *const skeys[] = { "every", "cron", "keep", "label" };
			const json_t *keep = json_object_get(s, "keep"), *label = json_object_get(s, "label");
			char cron_text[PROT_CRON_TEXT_MAX + 1] = "";
			bool timing_ok;

			snprintf(sat, sizeof(sat), "%s.schedules[%zu]", at, j);
			labels[j][0] = 0;
			if (!json_is_object(s)) {
				spec_problem(p, "%s: must be an object ({\"every\" or \"cron\", \"keep\"})", sat);
				sched_ok = false;
				continue;
			}
			only_keys(s, skeys, ARRAY_SIZE(skeys), sat, "every, cron, keep, label", p);
			timing_ok = timing_check(s, sat, &timings[n_sched], cron_text, sizeof(cron_text), p);
			sched_ok &= timing_ok;
			if (!keep) {
				spec_problem(p, "%s.keep: missing (how many of this schedule's snapshots to keep, 1..%u)", sat,
					     PROT_KEEP_MAX);
			} else if (!json_is_integer(keep) || json_integer_value(keep) < 1 ||
				   json_integer_value(keep) > PROT_KEEP_MAX) {
				spec_problem(p, "%s.keep: %smust be an integer in 1..%u (ONTAP holds at most %u snapshots per volume)",
					     sat, json_is_integer(keep) && json_integer_value(keep) == 0 ? "0 keeps nothing: " : "",
					     PROT_KEEP_MAX, PROT_KEEP_MAX);
			} else {
				keep_sum += (unsigned)json_integer_value(keep);
			}
			if (label) {
				if (!json_is_string(label) || !prot_label_ok(json_string_value(label)))
					spec_problem(p, "%s.label: must be 1-%u chars of a-z 0-9 _ -, starting with a letter or digit (it is part of the snapshot names)",
						     sat, PROT_LABEL_MAX);
				else
					snprintf(labels[j], sizeof(labels[j]), "%s", json_string_value(label));
			} else if (timing_ok) {
				default_label(&timings[n_sched], cron_text, labels[j]);
			}
			if (timing_ok)
				n_sched++;
			for (size_t k = 0; labels[j][0] && k < j; k++)
				if (!strcmp(labels[k], labels[j])) {
					spec_problem(p, "%s: label \"%s\" is also schedules[%zu]'s%s; the label names the snapshots, so two schedules need two labels (give one a \"label\")",
						     sat, labels[j], k, label ? "" : " (derived from its timing)");
					break;
				}
		}
		if (keep_sum > PROT_KEEP_MAX)
			spec_problem(p, "%s.schedules: the keeps add up to %u snapshots per volume; ONTAP holds at most %u", at,
				     keep_sum, PROT_KEEP_MAX);
	}

	if (cons && !(json_is_string(cons) && (!strcmp(json_string_value(cons), "crash") || !strcmp(json_string_value(cons), "vm"))))
		spec_problem(p, "%s.consistency: must be \"crash\" (the default) or \"vm\" (guests frozen through their agent)", at);
	if (cu && !(json_is_string(cu) && (!strcmp(json_string_value(cu), "once") || !strcmp(json_string_value(cu), "skip"))))
		spec_problem(p, "%s.catch_up: must be \"once\" (the default: the latest missed slot runs once) or \"skip\" (missed slots never run)",
			     at);
	if (mirror) {
		snprintf(sat, sizeof(sat), "%s.snapmirror", at);
		if (!json_is_object(mirror))
			spec_problem(p, "%s: must be an object (destination_svm, destination_volume_suffix or destination_volume, policy, rpo, update)",
				     sat);
		else
			check_mirror(mirror, sat, ds && !vms && json_array_size(ds) == 1, timings, n_sched, sched_ok, seen, p);
	}
}

void prot_validate(const json_t *spec, struct spec_problems *p)
{
	const json_t *list = json_object_get(spec, "protection");
	_cleanup_free_ struct seen *seen = NULL;
	size_t n, checked, i, j;
	json_t *e;

	if (!json_is_array(list)) {
		spec_problem(p, "protection: must be an array of policy objects");
		return;
	}
	n = json_array_size(list);
	if (n > PROT_MAX_POLICIES)
		spec_problem(p, "protection: %zu policies, at most %u allowed", n, PROT_MAX_POLICIES);
	/* Past the maximum the spec is refused anyway: no n^2 comparisons of a huge spec. */
	checked = n < PROT_MAX_POLICIES ? n : PROT_MAX_POLICIES;
	seen = calloc(checked ? checked : 1, sizeof(*seen));
	if (!seen) {
		spec_problem(p, "protection: out of memory while validating");
		return;
	}
	json_array_foreach(list, i, e) {
		struct seen scratch = { 0 };

		if (!json_is_object(e)) {
			spec_problem(p, "protection[%zu]: must be an object", i);
			continue;
		}
		check_policy(spec, e, i, i < checked ? &seen[i] : &scratch, p);
	}
	for (j = 1; j < checked; j++)
		for (i = 0; i < j; i++) {
			const struct seen *a = &seen[i], *b = &seen[j];
			if (a->name && b->name && !strcmp(a->name, b->name))
				spec_problem(p, "protection[%zu].name: \"%s\" already used by protection[%zu]", j, b->name, i);
			if (!a->mirror_ok || !b->mirror_ok || strcasecmp(a->svm, b->svm))
				continue;
			if (a->volume && b->volume && !strcasecmp(a->volume, b->volume))
				spec_problem(p, "protection[%zu].snapmirror.destination_volume: \"%s\" on %s is also protection[%zu]'s destination",
					     j, b->volume, b->svm, i);
			/* the same datastore mirrored twice to <its volume><the same suffix> */
			if (a->suffix && b->suffix && a->datastores && b->datastores && !strcasecmp(a->suffix, b->suffix)) {
				size_t x, y;
				json_t *da, *db;
				json_array_foreach(b->datastores, y, db)
					json_array_foreach(a->datastores, x, da)
						if (!strcmp(json_string_value(da), json_string_value(db))) {
							spec_problem(p, "protection[%zu].snapmirror: datastore %s is mirrored by protection[%zu] too, to the same destination (SVM %s, suffix \"%s\"); one mirror per datastore and destination",
								     j, json_string_value(db), i, b->svm, b->suffix);
							goto next;
						}
			}
next:;
		}
}

/* ---- policies of a valid spec ------------------------------------------------------------- */

static int timing_read(const json_t *o, struct prot_timing *t, char *cron_text, size_t len)
{
	const json_t *every = json_object_get(o, "every");

	if (every) {
		t->kind = PROT_EVERY;
		return prot_duration_parse(every, &t->every, NULL, 0);
	}
	t->kind = PROT_CRON;
	if (cron_text)
		cron_canonical(json_string_value(json_object_get(o, "cron")), cron_text, len);
	return prot_cron_parse(json_string_value(json_object_get(o, "cron")), &t->cron, NULL, 0);
}

int prot_spec_list(const json_t *spec, struct prot_policy **out, size_t *n)
{
	struct spec_problems probs = { 0 };
	const json_t *list, *dss;
	_cleanup_free_ struct vm_spec *vms = NULL;
	size_t count, n_sched = 0, n_names = 0, n_vms = 0, n_ds, i, j;
	struct prot_policy *pol;
	struct prot_schedule *sw;
	const char **nw;
	json_t *e;
	int r;

	if (spec_validate(spec, &probs) < 0) {
		spec_problems_clear(&probs);
		return -EINVAL;
	}
	list = json_object_get(spec, "protection");
	count = json_array_size(list);
	if (count == 0) {
		*out = NULL;
		*n = 0;
		return 0;
	}
	dss = json_object_get(spec, "datastores");
	n_ds = json_array_size(dss);
	r = vm_spec_list(spec, &vms, &n_vms);
	if (r < 0)
		return r;
	json_array_foreach(list, i, e) {
		n_sched += json_array_size(json_object_get(e, "schedules"));
		/* datastores (at most every datastore of the spec) + the VM names */
		n_names += n_ds + json_array_size(json_object_get(e, "vms"));
	}
	pol = calloc(1, count * sizeof(*pol) + n_sched * sizeof(*sw) + n_names * sizeof(*nw));
	if (!pol)
		return -ENOMEM;
	sw = (struct prot_schedule *)(pol + count);
	nw = (const char **)(sw + n_sched);
	json_array_foreach(list, i, e) {
		const json_t *pvms = json_object_get(e, "vms"), *pds = json_object_get(e, "datastores"),
			     *m = json_object_get(e, "snapmirror"), *s;
		struct prot_policy *pp = &pol[i];
		const char **names = nw;
		json_t *d;

		pp->name = json_string_value(json_object_get(e, "name"));
		pp->consistency = json_is_string(json_object_get(e, "consistency")) &&
				  !strcmp(json_string_value(json_object_get(e, "consistency")), "vm") ? PROT_VM : PROT_CRASH;
		pp->catch_up = json_is_string(json_object_get(e, "catch_up")) &&
			       !strcmp(json_string_value(json_object_get(e, "catch_up")), "skip") ? PROT_CATCH_UP_SKIP :
			       PROT_CATCH_UP_ONCE;
		/* datastores in the spec's order: named, or used by a VM named */
		json_array_foreach(dss, j, d) {
			const char *dn = json_string_value(json_object_get(d, "name"));
			bool in = false;
			size_t k, x;
			json_t *v;
			json_array_foreach(pds, k, v)
				in |= !strcmp(json_string_value(v), dn);
			json_array_foreach(pvms, k, v)
				for (size_t q = 0; q < n_vms && !in; q++)
					if (!strcmp(vms[q].name, json_string_value(v)))
						for (x = 0; x < vms[q].datastores.n; x++)
							in |= !strcmp(vms[q].datastores.name[x], dn);
			if (in)
				*nw++ = dn;
		}
		pp->datastores = names;
		pp->n_datastores = (size_t)(nw - names);
		if (pvms) {
			pp->by_vms = true;
			pp->vms = nw;
			pp->n_vms = json_array_size(pvms);
			json_array_foreach(pvms, j, d)
				*nw++ = json_string_value(d);
		}
		pp->schedules = sw;
		json_array_foreach(json_object_get(e, "schedules"), j, s) {
			const json_t *label = json_object_get(s, "label");
			char cron_text[PROT_CRON_TEXT_MAX + 1] = "";
			timing_read(s, &sw->timing, cron_text, sizeof(cron_text));
			sw->keep = (unsigned)json_integer_value(json_object_get(s, "keep"));
			if (label)
				snprintf(sw->label, sizeof(sw->label), "%s", json_string_value(label));
			else
				default_label(&sw->timing, cron_text, sw->label);
			sw++;
			pp->n_schedules++;
		}
		if (m) {
			const json_t *upd = json_object_get(m, "update");
			pp->has_mirror = true;
			pp->mirror.destination_svm = json_string_value(json_object_get(m, "destination_svm"));
			pp->mirror.destination_volume = json_string_value(json_object_get(m, "destination_volume"));
			pp->mirror.destination_volume_suffix =
				json_object_get(m, "destination_volume_suffix") ?
				json_string_value(json_object_get(m, "destination_volume_suffix")) :
				pp->mirror.destination_volume ? NULL : PROT_SUFFIX_DEFAULT;
			pp->mirror.policy = json_object_get(m, "policy") ? json_string_value(json_object_get(m, "policy")) :
					    PROT_MIRROR_POLICY_DEFAULT;
			if (json_object_get(m, "rpo"))
				prot_duration_parse(json_object_get(m, "rpo"), &pp->mirror.rpo, NULL, 0);
			pp->mirror.update_after_snapshot = !json_is_object(upd);
			if (json_is_object(upd))
				timing_read(upd, &pp->mirror.update, NULL, 0);
		}
	}
	*out = pol;
	*n = count;
	return 0;
}

int prot_check_ontap_version(const struct prot_policy *pol, size_t n, int gen, int major, int minor,
			     struct spec_problems *p)
{
	unsigned before = p->n + p->dropped;
	long have = gen * 10000L + major * 100L + minor;

	if (have >= 91001)
		return 0;
	for (size_t i = 0; i < n; i++)
		if (pol[i].n_datastores > 1)
			spec_problem(p, "protection[%zu].%s: policy %s cuts %zu datastores (%s, %s%s) together as one ONTAP consistency group snapshot, which needs ONTAP " PROT_CG_MIN_VERSION " or later; the cluster runs %d.%d.%d (give each datastore a policy of its own, or upgrade ONTAP)",
				     i, pol[i].by_vms ? "vms" : "datastores", pol[i].name, pol[i].n_datastores, pol[i].datastores[0],
				     pol[i].datastores[1], pol[i].n_datastores > 2 ? ", ..." : "", gen, major, minor);
	return p->n + p->dropped > before ? -EINVAL : 0;
}

int prot_check_destinations(const struct prot_policy *pol, size_t n, const char *const *all, size_t n_all,
			    const char *source_svm, const char *prefix, struct spec_problems *p)
{
	unsigned before = p->n + p->dropped;

	for (size_t i = 0; i < n; i++) {
		const struct prot_mirror *m = &pol[i].mirror;
		if (!pol[i].has_mirror || !source_svm || strcasecmp(m->destination_svm, source_svm))
			continue;
		for (size_t d = 0; d < pol[i].n_datastores; d++) {
			char dest[PROT_VOLUME_NAME_MAX + PROT_SUFFIX_MAX + 64], vol[PROT_VOLUME_NAME_MAX + 64];
			if (m->destination_volume)
				snprintf(dest, sizeof(dest), "%s", m->destination_volume);
			else
				snprintf(dest, sizeof(dest), "%s_%s%s", prefix, pol[i].datastores[d], m->destination_volume_suffix);
			for (size_t k = 0; k < n_all; k++) {
				snprintf(vol, sizeof(vol), "%s_%s", prefix, all[k]);
				if (!strcasecmp(dest, vol)) {
					spec_problem(p, "protection[%zu].snapmirror.%s: the destination of %s, volume %s on SVM %s (the source SVM), is the volume of %sdatastore %s: the mirror would overwrite it (choose another destination_svm or %s)",
						     i, m->destination_volume ? "destination_volume" : "destination_volume_suffix",
						     pol[i].datastores[d], dest, m->destination_svm,
						     strcmp(all[k], pol[i].datastores[d]) ? "" : "its own ", all[k],
						     m->destination_volume ? "destination_volume" : "destination_volume_suffix");
					break;
				}
			}
			if (m->destination_volume)
				break;
		}
	}
	return p->n + p->dropped > before ? -EINVAL : 0;
}
