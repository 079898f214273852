/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * ontap-sim: what every ONTAP collection does alike — render a record (computed fields, HAL
 * self link), select fields (keys / * / ** / dotted names, 262197 for unknown ones), filter by
 * query (wildcards, !, |, null, ranges, quoting), sort by the cursor key and paginate with
 * start.<key>= cursors.
 */
#include <ctype.h>
#include <errno.h>
#include <fnmatch.h>
#include <stdio.h>
#include <string.h>

#include "sim.h"

static const char *const common_params[] = {
	"fields", "max_records", "return_records", "return_timeout", "order_by", "offset",
	"pretty", "ignore_unknown_fields", "query", "query_fields",
};

int coll_init(struct coll *c)
{
	_cleanup_free_ char *text = strdup(c->schema);
	json_error_t jerr;

	/* schemas are written with single quotes in C for readability */
	for (char *p = text; p && *p; p++)
		if (*p == '\'')
			*p = '"';
	c->schema_json = json_loads(text, 0, &jerr);
	if (!c->schema_json) {
		fprintf(stderr, "ontap-sim: schema of '%s' does not parse: %s (col %d)\n", c->name,
			jerr.text, jerr.column);
		return -EINVAL;
	}
	return 0;
}

char *url_escape(const char *s)
{
	static const char hex[] = "0123456789ABCDEF";
	char *out = malloc(strlen(s) * 3 + 1), *p = out;

	if (!out)
		return NULL;
	for (; *s; s++) {
		unsigned char ch = (unsigned char)*s;
		if (isalnum(ch) || strchr("-._~:/", ch))
			*p++ = (char)ch;
		else {
			*p++ = '%';
			*p++ = hex[ch >> 4];
			*p++ = hex[ch & 15];
		}
	}
	*p = '\0';
	return out;
}

/* Does the dotted path exist in the schema sample? Arrays stand for their first element,
 * an empty object accepts any sub-path. Version-gated fields count only from their version. */
static bool schema_has(struct sim *sim, struct coll *c, const char *path)
{
	char buf[256], *save = NULL, *tok;
	json_t *v = c->schema_json;

	if (c->gated) {
		_cleanup_free_ char *g = strdup(c->gated);
		char *gs = NULL;

		for (char *e = strtok_r(g, ",", &gs); e; e = strtok_r(NULL, ",", &gs)) {
			char *at = strchr(e, '@');
			int a = 0, b = 0, d = 0;

			if (!at)
				continue;
			*at = '\0';
			sscanf(at + 1, "%d.%d.%d", &a, &b, &d);
			if (strcmp(e, path) == 0 && !sim_version_ge(sim, a, b, d))
				return false;
		}
	}
	snprintf(buf, sizeof(buf), "%s", path);
	for (tok = strtok_r(buf, ".", &save); tok; tok = strtok_r(NULL, ".", &save)) {
		while (json_is_array(v))
			v = json_array_get(v, 0);
		if (json_is_object(v) && json_object_size(v) == 0)
			return true;
		if (!json_is_object(v))
			return false;
		v = json_object_get(v, tok);
		if (!v)
			return false;
	}
	return true;
}

static void href_fill(json_t *rec, const char *tmpl, json_t *out)
{
	char buf[1024];
	size_t n = 0;

	for (const char *p = tmpl; *p && n < sizeof(buf) - 1;) {
		if (*p == '{') {
			const char *end = strchr(p, '}');
			char key[128];
			json_t *v;
			_cleanup_free_ char *esc = NULL;

			if (!end)
				break;
			snprintf(key, sizeof(key), "%.*s", (int)(end - p - 1), p + 1);
			v = jpath(rec, key);
			if (json_is_integer(v)) {
				char num[32];
				snprintf(num, sizeof(num), "%lld", (long long)json_integer_value(v));
				esc = strdup(num);
			} else
				esc = url_escape(json_string_value(v) ? json_string_value(v) : "");
			n += (size_t)snprintf(buf + n, sizeof(buf) - n, "%s", esc ? esc : "");
			p = end + 1;
		} else
			buf[n++] = *p++;
	}
	buf[n < sizeof(buf) ? n : sizeof(buf) - 1] = '\0';
	json_object_set_new(out, "_links", json_pack("{s:{s:s}}", "self", "href", buf));
}

json_t *coll_render(struct sim *sim, struct coll *c, json_t *rec)
{
	json_t *out = json_deep_copy(rec);

	json_object_del(out, "_sim");
	if (c->decorate)
		c->decorate(sim, rec, out);
	if (c->href)
		href_fill(rec, c->href, out);
	return out;
}

static void jdel(json_t *v, const char *path)
{
	const char *dot = strchr(path, '.');
	char seg[128];

	if (!dot) {
		if (json_is_object(v))
			json_object_del(v, path);
		else if (json_is_array(v)) {
			size_t i;
			json_t *e;
			json_array_foreach(v, i, e)
				jdel(e, path);
		}
		return;
	}
	snprintf(seg, sizeof(seg), "%.*s", (int)(dot - path), path);
	if (json_is_array(v)) {
		size_t i;
		json_t *e;
		json_array_foreach(v, i, e)
			jdel(e, path);
		return;
	}
	jdel(json_object_get(v, seg), dot + 1);
}

/* Copy the value at path from src into dst, creating the enclosing objects/arrays. */
static void project(json_t *src, const char *path, json_t *dst)
{
	const char *dot = strchr(path, '.');
	char seg[128];
	json_t *v, *d;

	snprintf(seg, sizeof(seg), "%.*s", dot ? (int)(dot - path) : (int)strlen(path), path);
	v = json_object_get(src, seg);
	if (!v)
		return;
	if (!dot) {
		json_object_set_new(dst, seg, json_deep_copy(v));
		return;
	}
	d = json_object_get(dst, seg);
	if (json_is_object(v)) {
		if (!json_is_object(d)) {
			d = json_object();
			json_object_set_new(dst, seg, d);
		}
		project(v, dot + 1, d);
	} else if (json_is_array(v)) {
		size_t i;
		json_t *e;

		if (!json_is_array(d)) {
			d = json_array();
			json_object_set_new(dst, seg, d);
			json_array_foreach(v, i, e)
				json_array_append_new(d, json_object());
		}
		json_array_foreach(v, i, e) {
			if (json_is_object(e))
				project(e, dot + 1, json_array_get(d, i));
		}
	}
}

static void strip_expensive(struct coll *c, json_t *out)
{
	_cleanup_free_ char *ex = c->expensive ? strdup(c->expensive) : NULL;
	char *save = NULL;

	if (!ex)
		return;
	for (char *f = strtok_r(ex, ",", &save); f; f = strtok_r(NULL, ",", &save))
		jdel(out, f);
}

/* Builds the selected view of a rendered record. */
static int select_fields(struct req *r, struct coll *c, json_t *full, bool instance, json_t **out)
{
	const char *fields = req_param(r, "fields");
	_cleanup_free_ char *list = NULL, *keys = NULL;
	json_t *o;
	char *save = NULL;
	bool all = false, all_exp = false;

	if (!fields || !*fields) {
		if (instance) {
			o = json_deep_copy(full);
			strip_expensive(c, o);
			*out = o;
			return 0;
		}
		fields = "";
	}
	list = strdup(fields);
	o = json_object();
	for (char *f = strtok_r(list, ",", &save); f; f = strtok_r(NULL, ",", &save)) {
		while (*f == ' ')
			f++;
		if (strcmp(f, "**") == 0)
			all_exp = true;
		else if (strcmp(f, "*") == 0)
			all = true;
		else if (strcmp(f, "_links") == 0 || schema_has(r->sim, c, f))
			project(full, f, o);
		else {
			json_decref(o);
			return req_error(r, 400, "262197", "fields",
					 "The value \"%s\" is invalid for field \"fields\"", f);
		}
	}
	if (all || all_exp) {
		json_t *copy = json_deep_copy(full);
		if (!all_exp)
			strip_expensive(c, copy);
		json_object_update_missing(o, copy);
		json_object_update(o, copy);
		json_decref(copy);
		/* explicitly named expensive fields survive "*" */
		if (!all_exp) {
			_cleanup_free_ char *again = strdup(fields);
			char *s2 = NULL;
			for (char *f = strtok_r(again, ",", &s2); f; f = strtok_r(NULL, ",", &s2))
				if (strcmp(f, "*") != 0 && strcmp(f, "**") != 0)
					project(full, f, o);
		}
	}
	keys = strdup(c->keys ? c->keys : "");
	save = NULL;
	for (char *k = strtok_r(keys, ",", &save); k; k = strtok_r(NULL, ",", &save))
		project(full, k, o);
	project(full, "_links", o);
	*out = o;
	return 0;
}

static int check_fields(struct req *r, struct coll *c)
{
	const char *fields = req_param(r, "fields");
	_cleanup_free_ char *list = fields ? strdup(fields) : NULL;
	char *save = NULL;

	if (!list)
		return 0;
	for (char *f = strtok_r(list, ",", &save); f; f = strtok_r(NULL, ",", &save)) {
		while (*f == ' ')
			f++;
		if (strcmp(f, "*") && strcmp(f, "**") && strcmp(f, "_links") &&
		    !schema_has(r->sim, c, f))
			return req_error(r, 400, "262197", "fields",
					 "The value \"%s\" is invalid for field \"fields\"", f);
	}
	return 0;
}

static bool is_common_param(const char *name)
{
	if (strncmp(name, "start.", 6) == 0)
		return true;
	for (size_t i = 0; i < ARRAY_SIZE(common_params); i++)
		if (strcmp(name, common_params[i]) == 0)
			return true;
	return false;
}

static bool is_route_param(struct req *r, const char *name)
{
	_cleanup_free_ char *p = NULL;
	char *save = NULL;

	if (!r->route || !r->route->params)
		return false;
	p = strdup(r->route->params);
	for (char *t = strtok_r(p, " ", &save); t; t = strtok_r(NULL, " ", &save)) {
		size_t n = strlen(t);
		if (strcmp(t, name) == 0 || (n && t[n - 1] == '*' && strncmp(t, name, n - 1) == 0))
			return true;
	}
	return false;
}

/* ---- query filters ---- */

static void collect(json_t *v, const char *path, json_t *out)
{
	const char *dot;
	char seg[128];

	if (!v || json_is_null(v))
		return;
	if (json_is_array(v)) {
		size_t i;
		json_t *e;
		json_array_foreach(v, i, e)
			collect(e, path, out);
		return;
	}
	if (!*path) {
		if (!json_is_object(v))
			json_array_append(out, v);
		return;
	}
	if (!json_is_object(v))
		return;
	dot = strchr(path, '.');
	snprintf(seg, sizeof(seg), "%.*s", dot ? (int)(dot - path) : (int)strlen(path), path);
	collect(json_object_get(v, seg), dot ? dot + 1 : "", out);
}

static void val_str(json_t *v, char *buf, size_t n)
{
	if (json_is_string(v))
		snprintf(buf, n, "%s", json_string_value(v));
	else if (json_is_integer(v))
		snprintf(buf, n, "%lld", (long long)json_integer_value(v));
	else if (json_is_real(v))
		snprintf(buf, n, "%g", json_real_value(v));
	else if (json_is_boolean(v))
		snprintf(buf, n, "%s", json_is_true(v) ? "true" : "false");
	else
		buf[0] = '\0';
}

static bool as_number(const char *s, double *d)
{
	char *end;

	if (!*s)
		return false;
	*d = strtod(s, &end);
	return *end == '\0';
}

static int cmp_vals(const char *a, const char *b)
{
	double x, y;

	if (as_number(a, &x) && as_number(b, &y))
		return x < y ? -1 : x > y;
	return strcmp(a, b);
}

static void unquote(char *s)
{
	size_t n = strlen(s);

	if (n >= 2 && ((s[0] == '"' && s[n - 1] == '"') || (s[0] == '{' && s[n - 1] == '}'))) {
		memmove(s, s + 1, n - 2);
		s[n - 2] = '\0';
	}
}

static bool match_one(json_t *vals, const char *alt_in)
{
	char alt[512], *a = alt, *range = NULL;
	bool neg = false, quoted;
	size_t i;
	json_t *v;
	int op = 0; /* 1 <, 2 <=, 3 >, 4 >= */

	snprintf(alt, sizeof(alt), "%s", alt_in);
	if (*a == '!') {
		neg = true;
		a++;
	}
	if (strcmp(a, "null") == 0) {
		bool m = json_array_size(vals) == 0;
		return neg ? !m : m;
	}
	if (strncmp(a, "<=", 2) == 0) { op = 2; a += 2; }
	else if (strncmp(a, ">=", 2) == 0) { op = 4; a += 2; }
	else if (*a == '<') { op = 1; a++; }
	else if (*a == '>') { op = 3; a++; }
	quoted = *a == '"' || *a == '{';
	if (!quoted && !op && (range = strstr(a, ".."))) {
		*range = '\0';
		range += 2;
	}
	unquote(a);
	json_array_foreach(vals, i, v) {
		char s[512];
		bool m;

		val_str(v, s, sizeof(s));
		if (range)
			m = cmp_vals(s, a) >= 0 && cmp_vals(s, range) <= 0;
		else if (op == 1)
			m = cmp_vals(s, a) < 0;
		else if (op == 2)
			m = cmp_vals(s, a) <= 0;
		else if (op == 3)
			m = cmp_vals(s, a) > 0;
		else if (op == 4)
			m = cmp_vals(s, a) >= 0;
		else if (!quoted && strchr(a, '*'))
			m = fnmatch(a, s, FNM_CASEFOLD) == 0;
		else
			m = strcasecmp(s, a) == 0;
		if (m)
			return !neg;
	}
	return neg;
}

static bool match_expr(json_t *rec, const char *field, const char *expr)
{
	json_auto_t *vals = json_array();
	char alt[512];
	size_t n = 0;
	int depth = 0;
	bool inq = false;

	collect(rec, field, vals);
	for (const char *p = expr;; p++) {
		if (*p == '\0' || (*p == '|' && !inq && depth == 0)) {
			alt[n] = '\0';
			if (match_one(vals, alt))
				return true;
			n = 0;
			if (!*p)
				break;
			continue;
		}
		if (*p == '"')
			inq = !inq;
		else if (*p == '{' && !inq)
			depth++;
		else if (*p == '}' && !inq && depth)
			depth--;
		if (n < sizeof(alt) - 1)
			alt[n++] = *p;
	}
	return false;
}

/* ---- sorting and pagination ---- */

struct sort_ctx {
	char **paths;
	size_t n;
	bool desc;
};

static int cmp_on(json_t *a, json_t *b, const char *path)
{
	char x[512], y[512];

	val_str(jpath(a, path), x, sizeof(x));
	val_str(jpath(b, path), y, sizeof(y));
	return cmp_vals(x, y);
}

static int cmp_records(const void *pa, const void *pb, void *arg)
{
	json_t *a = *(json_t *const *)pa, *b = *(json_t *const *)pb;
	const struct sort_ctx *ctx = arg;

	for (size_t i = 0; i < ctx->n; i++) {
		int c = cmp_on(a, b, ctx->paths[i]);
		if (c)
			return ctx->desc ? -c : c;
	}
	return 0;
}

static size_t split(char *s, const char *sep, char **out, size_t max)
{
	size_t n = 0;
	char *save = NULL;

	for (char *t = strtok_r(s, sep, &save); t && n < max; t = strtok_r(NULL, sep, &save))
		out[n++] = t;
	return n;
}

static void append_param(char **buf, size_t *len, const char *k, const char *v)
{
	_cleanup_free_ char *ek = url_escape(k), *ev = url_escape(v);
	char *nb = NULL;

	if (asprintf(&nb, "%s%s%s=%s", *buf, strchr(*buf, '?') ? "&" : "?", ek, ev) < 0)
		return;
	free(*buf);
	*buf = nb;
	*len = strlen(nb);
}

int coll_list(struct req *r, struct coll *c, json_t *records)
{
	_cleanup_free_ json_t **arr = NULL;
	_cleanup_free_ char *cursor = strdup(c->cursor ? c->cursor : "uuid");
	_cleanup_free_ char *order = NULL;
	_cleanup_free_ char *next = NULL;
	char *cpaths[4], *order_field = NULL;
	size_t ncur, n = 0, i, start_at = 0, max = SIZE_MAX, off = 0, len = 0;
	const char *key, *value, *s;
	json_t *rec, *v, *out, *page;
	struct sort_ctx ctx;
	bool has_start = false, use_offset = false;
	json_auto_t *all = json_array();

	/* validate query parameters first */
	if (check_fields(r, c) < 0)
		return -EINVAL;
	json_object_foreach(r->query, key, v) {
		if (is_common_param(key) || is_route_param(r, key))
			continue;
		if (!schema_has(r->sim, c, key))
			return req_error(r, 400, "262179", key, "Unexpected argument \"%s\".", key);
	}
	if ((s = req_param(r, "max_records"))) {
		char *end;
		long m = strtol(s, &end, 10);
		if (*end || m < 0)
			return req_error(r, 400, "262197", "max_records",
					 "The value \"%s\" is invalid for field \"max_records\"", s);
		max = m == 0 ? SIZE_MAX : (size_t)m;
	}
	if ((s = req_param(r, "offset")))
		off = strtoul(s, NULL, 10);

	json_array_foreach(records, i, rec) {
		json_t *full = coll_render(r->sim, c, rec);
		bool ok = true;

		if (r->svm_hdr_name && json_object_get(full, "svm") &&
		    !streq_ci(jstr(full, "svm.name"), r->svm_hdr_name))
			ok = false;
		json_object_foreach(r->query, key, v) {
			if (!ok)
				break;
			if (is_common_param(key) || is_route_param(r, key))
				continue;
			ok = match_expr(full, key, json_string_value(v));
		}
		if (ok)
			json_array_append(all, full);
		json_decref(full);
	}
	n = json_array_size(all);
	arr = calloc(n + 1, sizeof(*arr));
	json_array_foreach(all, i, rec)
		arr[i] = rec;

	ncur = split(cursor, ",", cpaths, ARRAY_SIZE(cpaths));
	ctx.paths = cpaths;
	ctx.n = ncur;
	ctx.desc = false;
	if ((s = req_param(r, "order_by")) && *s) {
		char *sp;
		order = strdup(s);
		order_field = order;
		while (*order_field == ' ')
			order_field++;
		sp = strpbrk(order_field, " +");
		if (sp) {
			*sp = '\0';
			ctx.desc = strncasecmp(sp + 1, "desc", 4) == 0;
		}
		if (!schema_has(r->sim, c, order_field))
			return req_error(r, 500, "262210", "order_by",
					 "Invalid order_by field \"%s\".", order_field);
		ctx.paths = &order_field;
		ctx.n = 1;
		use_offset = true;
	}
	qsort_r(arr, n, sizeof(*arr), cmp_records, &ctx);

	/* cursor: skip records before the start.<key> tuple */
	if (!use_offset) {
		for (i = 0; i < ncur; i++) {
			char pk[160];
			snprintf(pk, sizeof(pk), "start.%s", cpaths[i]);
			if (req_param(r, pk))
				has_start = true;
		}
		if (has_start) {
			for (start_at = 0; start_at < n; start_at++) {
				int cmp = 0;
				for (i = 0; i < ncur && !cmp; i++) {
					char pk[160], x[512];
					const char *sv;
					snprintf(pk, sizeof(pk), "start.%s", cpaths[i]);
					sv = req_param(r, pk);
					val_str(jpath(arr[start_at], cpaths[i]), x, sizeof(x));
					cmp = cmp_vals(x, sv ? sv : "");
				}
				if (cmp >= 0)
					break;
			}
		}
	}
	start_at += off;

	page = json_array();
	for (i = start_at; i < n && json_array_size(page) < max; i++) {
		if (select_fields(r, c, arr[i], false, &out) < 0) {
			json_decref(page);
			return -EINVAL;
		}
		json_array_append_new(page, out);
	}

	if (max != SIZE_MAX && (i < n || (r->sim->cfg.empty_next_page && json_array_size(page) == max))) {
		next = strdup(r->path);
		json_object_foreach(r->query, key, v) {
			value = json_string_value(v);
			if (strncmp(key, "start.", 6) == 0 || strcmp(key, "offset") == 0)
				continue;
			append_param(&next, &len, key, value);
		}
		if (use_offset) {
			char num[32];
			snprintf(num, sizeof(num), "%zu", i);
			append_param(&next, &len, "offset", num);
		} else {
			for (size_t k = 0; k < ncur; k++) {
				char pk[160], x[512];
				snprintf(pk, sizeof(pk), "start.%s", cpaths[k]);
				if (i < n)
					val_str(jpath(arr[i], cpaths[k]), x, sizeof(x));
				else {
					/* nothing follows: a cursor past the last record (empty page) */
					val_str(jpath(arr[n - 1], cpaths[k]), x, sizeof(x) - 2);
					strcat(x, "~");
				}
				append_param(&next, &len, pk, x);
			}
		}
	}
	out = json_pack("{s:o,s:I,s:{s:{s:s}}}", "records", page, "num_records",
			(json_int_t)json_array_size(page), "_links", "self", "href", r->raw_uri);
	if (next)
		json_object_set_new(json_object_get(out, "_links"), "next",
				    json_pack("{s:s}", "href", next));
	req_reply(r, 200, out);
	return 0;
}

int coll_get(struct req *r, struct coll *c, json_t *rec)
{
	json_auto_t *full = NULL;
	const char *key;
	json_t *v, *out;

	json_object_foreach(r->query, key, v) {
		if (!is_common_param(key) && !is_route_param(r, key))
			return req_error(r, 400, "262179", key, "Unexpected argument \"%s\".", key);
	}
	if (check_fields(r, c) < 0)
		return -EINVAL;
	if (!rec)
		return req_error(r, 404, "4", "uuid", "entry doesn't exist");
	full = coll_render(r->sim, c, rec);
	if (select_fields(r, c, full, true, &out) < 0)
		return -EINVAL;
	req_reply(r, 200, out);
	return 0;
}

int coll_created(struct req *r, struct coll *c, json_t *rec, int status)
{
	json_t *body;

	if (req_flag(r, "return_records") && rec) {
		json_t *full = coll_render(r->sim, c, rec);
		strip_expensive(c, full);
		body = json_pack("{s:I,s:[o]}", "num_records", (json_int_t)1, "records", full);
	} else
		body = json_object();
	req_reply(r, status, body);
	return 0;
}

static bool extra_allows(const char *extra, const char *path)
{
	_cleanup_free_ char *e = extra ? strdup(extra) : NULL;
	char *save = NULL;

	if (!e)
		return false;
	for (char *t = strtok_r(e, " ", &save); t; t = strtok_r(NULL, " ", &save)) {
		size_t n = strlen(t);
		if (strncmp(path, t, n) == 0 && (path[n] == '\0' || path[n] == '.'))
			return true;
	}
	return false;
}

static int check_leaves(struct req *r, struct coll *c, const char *extra, json_t *v,
			const char *prefix)
{
	const char *key;
	json_t *x;
	size_t i;

	if (json_is_array(v)) {
		json_array_foreach(v, i, x) {
			int ret = check_leaves(r, c, extra, x, prefix);
			if (ret < 0)
				return ret;
		}
		return 0;
	}
	if (!json_is_object(v) || json_object_size(v) == 0) {
		if (*prefix && !extra_allows(extra, prefix) && !schema_has(r->sim, c, prefix))
			return req_error(r, 400, "262179", prefix, "Unexpected argument \"%s\".",
					 prefix);
		return 0;
	}
	json_object_foreach(v, key, x) {
		char p[256];
		int ret;

		snprintf(p, sizeof(p), "%s%s%s", prefix, *prefix ? "." : "", key);
		if (extra_allows(extra, p))
			continue;
		ret = check_leaves(r, c, extra, x, p);
		if (ret < 0)
			return ret;
	}
	return 0;
}

int coll_check_body(struct req *r, struct coll *c, const char *extra)
{
	if (!r->body || req_flag(r, "ignore_unknown_fields"))
		return 0;
	if (!json_is_object(r->body))
		return req_error(r, 400, "262199", "", "The request body must be a JSON object.");
	return check_leaves(r, c, extra, r->body, "");
}
