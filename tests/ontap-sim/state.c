/* SPDX-License-Identifier: GPL-2.0-or-later */
/* ontap-sim: the state document, simulated clock, JSON path helpers and persistence. */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "sim.h"

int sim_err_set(struct sim_err *e, int status, long code, const char *target, const char *fmt, ...)
{
	va_list ap;

	e->status = status;
	e->code = code;
	snprintf(e->target, sizeof(e->target), "%s", target ? target : "");
	va_start(ap, fmt);
	vsnprintf(e->message, sizeof(e->message), fmt, ap);
	va_end(ap);
	return -EINVAL;
}

int64_t sim_now_us(struct sim *sim)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000 + sim->skew_us;
}

char *sim_time_iso(int64_t us, bool millis)
{
	time_t t = us / 1000000;
	struct tm tm;
	char buf[64], *s = NULL;

	gmtime_r(&t, &tm);
	strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%S", &tm);
	if (millis) {
		if (asprintf(&s, "%s.%03dZ", buf, (int)((us / 1000) % 1000)) < 0)
			return NULL;
	} else if (asprintf(&s, "%s+00:00", buf) < 0)
		return NULL;
	return s;
}

void sim_uuid(char out[37])
{
	uint8_t b[16];

	if (getrandom(b, sizeof(b), 0) != sizeof(b)) {
		for (size_t i = 0; i < sizeof(b); i++)
			b[i] = (uint8_t)rand();
	}
	b[6] = (b[6] & 0x0f) | 0x40;
	b[8] = (b[8] & 0x3f) | 0x80;
	snprintf(out, 37, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x",
		 b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13],
		 b[14], b[15]);
}

int sim_version_ge(struct sim *sim, int gen, int major, int minor)
{
	const int *v = sim->cfg.ver;

	if (v[0] != gen)
		return v[0] > gen;
	if (v[1] != major)
		return v[1] > major;
	return v[2] >= minor;
}

int role_parse(const char *s, enum sim_role *out)
{
	if (!s || strcmp(s, "admin") == 0)
		*out = ROLE_ADMIN;
	else if (strcmp(s, "readonly") == 0)
		*out = ROLE_READONLY;
	else if (strcmp(s, "vsadmin") == 0)
		*out = ROLE_VSADMIN;
	else
		return -EINVAL;
	return 0;
}

int parse_version(const char *s, int v[3])
{
	int n = 0;

	v[0] = v[1] = v[2] = 0;
	if (!s || sscanf(s, "%d.%d.%d%n", &v[0], &v[1], &v[2], &n) != 3 || v[0] < 9)
		return -EINVAL;
	return 0;
}

json_t *jpath(json_t *v, const char *path)
{
	char buf[256], *save = NULL, *tok;

	if (!v || !path)
		return NULL;
	snprintf(buf, sizeof(buf), "%s", path);
	for (tok = strtok_r(buf, ".", &save); tok && v; tok = strtok_r(NULL, ".", &save))
		v = json_is_object(v) ? json_object_get(v, tok) : NULL;
	return v;
}

const char *jstr(json_t *v, const char *path)
{
	return json_string_value(jpath(v, path));
}

json_int_t jint(json_t *v, const char *path, json_int_t dflt)
{
	json_t *x = jpath(v, path);

	return json_is_integer(x) ? json_integer_value(x) : dflt;
}

int jset(json_t *obj, const char *path, json_t *val)
{
	char buf[256], *dot;
	json_t *cur = obj;
	char *seg = buf;

	snprintf(buf, sizeof(buf), "%s", path);
	while ((dot = strchr(seg, '.'))) {
		json_t *next;

		*dot = '\0';
		next = json_object_get(cur, seg);
		if (!json_is_object(next)) {
			next = json_object();
			json_object_set_new(cur, seg, next);
		}
		cur = next;
		seg = dot + 1;
	}
	return json_object_set_new(cur, seg, val) == 0 ? 0 : -ENOMEM;
}

json_t *jsim(json_t *rec)
{
	json_t *s = json_object_get(rec, "_sim");

	if (!s) {
		s = json_object();
		json_object_set_new(rec, "_sim", s);
	}
	return s;
}

json_t *ref_of(json_t *rec)
{
	return json_pack("{s:s?,s:s?}", "name", jstr(rec, "name"), "uuid", jstr(rec, "uuid"));
}

json_t *state_array(struct sim *sim, const char *name)
{
	json_t *a = json_object_get(sim->state, name);

	if (!a) {
		a = json_array();
		json_object_set_new(sim->state, name, a);
	}
	return a;
}

json_t *state_find2(struct sim *sim, const char *coll, const char *path1, const char *v1,
		    const char *path2, const char *v2)
{
	json_t *a = state_array(sim, coll), *rec;
	size_t i;

	json_array_foreach(a, i, rec) {
		const char *x = jstr(rec, path1);

		if (!x || strcmp(x, v1) != 0)
			continue;
		if (path2) {
			const char *y = jstr(rec, path2);
			if (!y || !v2 || strcmp(y, v2) != 0)
				continue;
		}
		return rec;
	}
	return NULL;
}

json_t *state_find(struct sim *sim, const char *coll, const char *path, const char *value)
{
	if (!value)
		return NULL;
	return state_find2(sim, coll, path, value, NULL, NULL);
}

int state_remove(struct sim *sim, const char *coll, json_t *rec)
{
	json_t *a = state_array(sim, coll), *x;
	size_t i;

	json_array_foreach(a, i, x) {
		if (x == rec)
			return json_array_remove(a, i) == 0 ? 0 : -EIO;
	}
	return -ENOENT;
}

json_int_t state_counter(struct sim *sim, const char *name)
{
	json_t *c = json_object_get(sim->state, "counters");
	json_int_t v;

	if (!c) {
		c = json_object();
		json_object_set_new(sim->state, "counters", c);
	}
	v = jint(c, name, 0) + 1;
	json_object_set_new(c, name, json_integer(v));
	return v;
}

int parse_size(json_t *v, json_int_t *out)
{
	static const struct { const char *sfx; json_int_t mul; } units[] = {
		{ "KB", 1LL << 10 }, { "MB", 1LL << 20 }, { "GB", 1LL << 30 },
		{ "TB", 1LL << 40 }, { "PB", 1LL << 50 }, { "B", 1 },
	};
	const char *s;
	char *end;
	double d;

	if (json_is_integer(v)) {
		*out = json_integer_value(v);
		return 0;
	}
	if (!json_is_string(v))
		return -EINVAL;
	s = json_string_value(v);
	d = strtod(s, &end);
	if (end == s)
		return -EINVAL;
	if (*end == '\0') {
		*out = (json_int_t)d;
		return 0;
	}
	for (size_t i = 0; i < ARRAY_SIZE(units); i++) {
		if (strcasecmp(end, units[i].sfx) == 0) {
			*out = (json_int_t)(d * (double)units[i].mul);
			return 0;
		}
	}
	return -EINVAL;
}

char *str_lower(const char *s)
{
	char *d = strdup(s ? s : "");

	for (char *p = d; p && *p; p++)
		*p = (char)tolower((unsigned char)*p);
	return d;
}

bool streq_ci(const char *a, const char *b)
{
	return a && b && strcasecmp(a, b) == 0;
}

json_t *state_default(struct sim *sim)
{
	json_t *old = sim->state, *st;

	sim->state = json_object();
	json_object_set_new(sim->state, "format", json_string("ontap-sim-state-1"));
	state_init_cluster(sim);
	state_init_protect(sim);
	st = sim->state;
	sim->state = old;
	return st;
}

/* Persist, then acknowledge: written to a temporary file, fsync'd and renamed into place. */
int state_persist(struct sim *sim)
{
	_cleanup_free_ char *tmp = NULL;
	_cleanup_close_ int fd = -1;
	_cleanup_free_ char *text = NULL;
	size_t len, off = 0;

	/* the data path follows the state before the change is acknowledged, as on an array */
	target_sync(sim);
	if (!sim->cfg.state_path)
		return 0;
	/* the simulated clock survives a restart, or pending jobs would wait for the old skew */
	json_object_set_new(sim->state, "clock_skew_us", json_integer(sim->skew_us));
	text = json_dumps(sim->state, JSON_INDENT(1));
	if (!text)
		return -ENOMEM;
	if (asprintf(&tmp, "%s.tmp", sim->cfg.state_path) < 0)
		return -ENOMEM;
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		return -errno;
	len = strlen(text);
	while (off < len) {
		ssize_t n = write(fd, text + off, len - off);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		off += (size_t)n;
	}
	if (fsync(fd) < 0)
		return -errno;
	if (rename(tmp, sim->cfg.state_path) < 0)
		return -errno;
	return 0;
}

int state_load_or_init(struct sim *sim)
{
	json_error_t jerr;
	json_t *st;

	if (sim->cfg.state_path && access(sim->cfg.state_path, F_OK) == 0) {
		st = json_load_file(sim->cfg.state_path, 0, &jerr);
		if (!st) {
			fprintf(stderr, "ontap-sim: cannot load state '%s': %s (line %d)\n",
				sim->cfg.state_path, jerr.text, jerr.line);
			return -EINVAL;
		}
		json_decref(sim->state);
		sim->state = st;
		sim->skew_us = jint(st, "clock_skew_us", 0);
		return 0;
	}
	json_decref(sim->state);
	sim->state = state_default(sim);
	return state_persist(sim);
}
