/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Spec parsing, validation, canonical form, hashing and diff. Pure; see spec.h. */
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "macros.h"
#include "spec.h"

#define LABEL_KEY_MAX 63
#define LABEL_VALUE_MAX 256
#define NODE_NAME_MAX 63
#define SPEC_MAX_NODES 128

void spec_problems_clear(struct spec_problems *p)
{
	for (unsigned i = 0; i < p->n; i++)
		free(p->text[i]);
	*p = (struct spec_problems){ 0 };
}

_printf_(2, 3) static void problem(struct spec_problems *p, const char *fmt, ...)
{
	va_list ap;
	char *s = NULL;

	if (p->n >= SPEC_MAX_PROBLEMS) {
		p->dropped++;
		return;
	}
	va_start(ap, fmt);
	if (vasprintf(&s, fmt, ap) < 0)
		s = NULL;
	va_end(ap);
	if (!s) {
		p->dropped++;
		return;
	}
	p->text[p->n++] = s;
}

char *spec_problems_join(const struct spec_problems *p)
{
	size_t len = 1;
	char *out, *w;

	if (p->n == 0 && p->dropped == 0)
		return NULL;
	for (unsigned i = 0; i < p->n; i++)
		len += strlen(p->text[i]) + 1;
	len += 64;
	out = malloc(len);
	if (!out)
		return NULL;
	w = out;
	*w = 0;
	for (unsigned i = 0; i < p->n; i++)
		w += sprintf(w, "%s%s", i ? "\n" : "", p->text[i]);
	if (p->dropped)
		sprintf(w, "%s(and %u more problems)", p->n ? "\n" : "", p->dropped);
	return out;
}

static bool label_key_ok(const char *k)
{
	size_t n = strlen(k);

	if (n == 0 || n > LABEL_KEY_MAX || !isalnum((unsigned char)k[0]))
		return false;
	for (size_t i = 0; i < n; i++)
		if (!isalnum((unsigned char)k[i]) && !strchr("._/-", k[i]))
			return false;
	return true;
}

/* Printable UTF-8 is fine; control characters are not (they break logs and terminals). */
static bool text_ok(const char *v, size_t max)
{
	size_t n = strlen(v);

	if (n > max)
		return false;
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)v[i] < 0x20 || v[i] == 0x7f)
			return false;
	return true;
}

static bool node_name_ok(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n > NODE_NAME_MAX || !isalnum((unsigned char)s[0]))
		return false;
	for (size_t i = 0; i < n; i++)
		if (!isalnum((unsigned char)s[i]) && s[i] != '-' && s[i] != '.' && s[i] != '_')
			return false;
	return true;
}

static void validate_labels(const json_t *labels, const char *path, struct spec_problems *p)
{
	const char *k;
	json_t *v;

	if (!json_is_object(labels)) {
		problem(p, "%s: must be an object of string values", path);
		return;
	}
	json_object_foreach((json_t *)labels, k, v) {
		if (!label_key_ok(k))
			problem(p, "%s: invalid label key \"%.80s\" (1-%d chars of A-Z a-z 0-9 . _ / -, starting with a letter or digit)",
				path, k, LABEL_KEY_MAX);
		if (!json_is_string(v))
			problem(p, "%s.%.80s: must be a string", path, k);
		else if (!text_ok(json_string_value(v), LABEL_VALUE_MAX))
			problem(p, "%s.%.80s: value longer than %d bytes or has control characters", path, k,
				LABEL_VALUE_MAX);
	}
}

static void validate_nodes(const json_t *nodes, struct spec_problems *p)
{
	size_t i, j;
	json_t *n;

	if (!json_is_array(nodes)) {
		problem(p, "nodes: must be an array of {\"name\", \"id\"} objects");
		return;
	}
	if (json_array_size(nodes) > SPEC_MAX_NODES)
		problem(p, "nodes: %zu entries, at most %d allowed", json_array_size(nodes), SPEC_MAX_NODES);
	json_array_foreach(nodes, i, n) {
		const char *k;
		json_t *v, *name, *id;

		if (!json_is_object(n)) {
			problem(p, "nodes[%zu]: must be an object", i);
			continue;
		}
		json_object_foreach(n, k, v)
			if (strcmp(k, "name") && strcmp(k, "id") && strcmp(k, "labels"))
				problem(p, "nodes[%zu]: unknown key \"%.80s\" (known: name, id, labels)", i, k);
		name = json_object_get(n, "name");
		id = json_object_get(n, "id");
		if (!name)
			problem(p, "nodes[%zu].name: missing", i);
		else if (!json_is_string(name) || !node_name_ok(json_string_value(name)))
			problem(p, "nodes[%zu].name: must be a host name (1-%d chars of A-Z a-z 0-9 - . _)", i,
				NODE_NAME_MAX);
		if (!id)
			problem(p, "nodes[%zu].id: missing (the corosync node id of this host)", i);
		else if (!json_is_integer(id) || json_integer_value(id) < 1 ||
			 json_integer_value(id) > 0x7fffffff)
			problem(p, "nodes[%zu].id: must be an integer in 1..2147483647", i);
		if (json_object_get(n, "labels")) {
			char path[64];
			snprintf(path, sizeof(path), "nodes[%zu].labels", i);
			validate_labels(json_object_get(n, "labels"), path, p);
		}
		/* Duplicates: report each later entry against the first one. */
		for (j = 0; j < i; j++) {
			json_t *o = json_array_get(nodes, j);
			json_t *oname = json_object_get(o, "name"), *oid = json_object_get(o, "id");
			if (json_is_string(name) && json_is_string(oname) &&
			    !strcmp(json_string_value(name), json_string_value(oname)))
				problem(p, "nodes[%zu].name: \"%s\" already used by nodes[%zu]", i,
					json_string_value(name), j);
			if (json_is_integer(id) && json_is_integer(oid) &&
			    json_integer_value(id) == json_integer_value(oid))
				problem(p, "nodes[%zu].id: %" JSON_INTEGER_FORMAT " already used by nodes[%zu]", i,
					json_integer_value(id), j);
		}
	}
}

int spec_validate(const json_t *spec, struct spec_problems *p)
{
	const char *k;
	json_t *v;
	unsigned before = p->n + p->dropped;

	if (!json_is_object(spec)) {
		problem(p, "spec: must be a JSON object");
		return -EINVAL;
	}
	json_object_foreach((json_t *)spec, k, v) {
		if (!strcmp(k, "nodes"))
			validate_nodes(v, p);
		else if (!strcmp(k, "labels"))
			validate_labels(v, "labels", p);
		else
			problem(p, "%.80s: unknown key (known: nodes, labels)", k);
	}
	return p->n + p->dropped > before ? -EINVAL : 0;
}

int spec_parse(const char *text, size_t len, json_t **out, struct spec_problems *p)
{
	json_error_t err;
	json_t *spec;

	if (len > SPEC_MAX_BYTES) {
		problem(p, "spec: %zu bytes, at most %u allowed", len, SPEC_MAX_BYTES);
		return -EINVAL;
	}
	spec = json_loadb(text, len, JSON_REJECT_DUPLICATES, &err);
	if (!spec) {
		problem(p, "line %d, column %d: %s", err.line, err.column, err.text);
		return -EINVAL;
	}
	if (spec_validate(spec, p) < 0) {
		json_decref(spec);
		return -EINVAL;
	}
	*out = spec;
	return 0;
}

char *spec_canonical(const json_t *spec)
{
	return json_dumps(spec, JSON_SORT_KEYS | JSON_COMPACT | JSON_ENCODE_ANY);
}

uint64_t spec_hash_bytes(const void *data, size_t len)
{
	const uint8_t *b = data;
	uint64_t h = 0xcbf29ce484222325ULL;

	for (size_t i = 0; i < len; i++) {
		h ^= b[i];
		h *= 0x100000001b3ULL;
	}
	return h;
}

/* ---- diff ------------------------------------------------------------------------------- */

struct flat {
	char **path;  /* owned */
	char **value; /* owned: compact JSON */
	size_t n, cap;
};

static void flat_free(struct flat *f)
{
	for (size_t i = 0; i < f->n; i++) {
		free(f->path[i]);
		free(f->value[i]);
	}
	free(f->path);
	free(f->value);
}

static int flat_add(struct flat *f, const char *path, const json_t *v)
{
	if (f->n == f->cap) {
		size_t cap = f->cap ? f->cap * 2 : 32;
		char **p = realloc(f->path, cap * sizeof(*p));
		if (!p)
			return -ENOMEM;
		f->path = p;
		p = realloc(f->value, cap * sizeof(*p));
		if (!p)
			return -ENOMEM;
		f->value = p;
		f->cap = cap;
	}
	f->path[f->n] = strdup(path);
	f->value[f->n] = json_dumps(v, JSON_SORT_KEYS | JSON_COMPACT | JSON_ENCODE_ANY);
	if (!f->path[f->n] || !f->value[f->n]) {
		free(f->path[f->n]);
		free(f->value[f->n]);
		return -ENOMEM;
	}
	f->n++;
	return 0;
}

/*
 * Flattens to leaf paths. Arrays of objects with a "name" are keyed by name (nodes[name=kvm1])
 * so that reordering entries is not reported as a change.
 */
static int flatten(struct flat *f, const char *path, const json_t *v)
{
	char *sub = NULL;
	int r = 0;

	if (json_is_object(v) && json_object_size(v) > 0) {
		const char *k;
		json_t *c;
		json_object_foreach((json_t *)v, k, c) {
			if (asprintf(&sub, "%s%s%s", path, *path ? "." : "", k) < 0)
				return -ENOMEM;
			r = flatten(f, sub, c);
			free(sub);
			if (r < 0)
				return r;
		}
		return 0;
	}
	if (json_is_array(v) && json_array_size(v) > 0) {
		size_t i;
		json_t *c;
		json_array_foreach(v, i, c) {
			json_t *name = json_is_object(c) ? json_object_get(c, "name") : NULL;
			if (json_is_string(name))
				r = asprintf(&sub, "%s[name=%s]", path, json_string_value(name));
			else
				r = asprintf(&sub, "%s[%zu]", path, i);
			if (r < 0)
				return -ENOMEM;
			r = flatten(f, sub, c);
			free(sub);
			if (r < 0)
				return r;
		}
		return 0;
	}
	if (!*path)
		return 0; /* an empty spec has no leaves */
	return flat_add(f, path, v);
}

static int flat_cmp_idx(const struct flat *f, size_t a, size_t b)
{
	return strcmp(f->path[a], f->path[b]);
}

/* Sorts the pairs by path (insertion sort on an index permutation: specs are small). */
static size_t *flat_order(const struct flat *f)
{
	size_t *idx = calloc(f->n ? f->n : 1, sizeof(*idx));

	if (!idx)
		return NULL;
	for (size_t i = 0; i < f->n; i++) {
		size_t j = i;
		idx[i] = i;
		while (j > 0 && flat_cmp_idx(f, idx[j - 1], idx[j]) > 0) {
			size_t t = idx[j - 1];
			idx[j - 1] = idx[j];
			idx[j] = t;
			j--;
		}
	}
	return idx;
}

_printf_(3, 4) static int out_append(char **buf, size_t *len, const char *fmt, ...)
{
	va_list ap;
	char *line = NULL, *nb;
	int n;

	va_start(ap, fmt);
	n = vasprintf(&line, fmt, ap);
	va_end(ap);
	if (n < 0)
		return -ENOMEM;
	nb = realloc(*buf, *len + (size_t)n + 1);
	if (!nb) {
		free(line);
		return -ENOMEM;
	}
	memcpy(nb + *len, line, (size_t)n + 1);
	*buf = nb;
	*len += (size_t)n;
	free(line);
	return 0;
}

char *spec_diff(const json_t *from, const json_t *to)
{
	struct flat a = { 0 }, b = { 0 };
	_cleanup_free_ size_t *ia = NULL, *ib = NULL;
	char *out = NULL;
	size_t len = 0, i = 0, j = 0;
	int r = 0;

	if (flatten(&a, "", from) < 0 || flatten(&b, "", to) < 0)
		goto fail;
	ia = flat_order(&a);
	ib = flat_order(&b);
	out = strdup("");
	if (!ia || !ib || !out)
		goto fail;
	while (r == 0 && (i < a.n || j < b.n)) {
		int c = i >= a.n ? 1 : j >= b.n ? -1 : strcmp(a.path[ia[i]], b.path[ib[j]]);
		if (c < 0) {
			r = out_append(&out, &len, "- %s = %s\n", a.path[ia[i]], a.value[ia[i]]);
			i++;
		} else if (c > 0) {
			r = out_append(&out, &len, "+ %s = %s\n", b.path[ib[j]], b.value[ib[j]]);
			j++;
		} else {
			if (strcmp(a.value[ia[i]], b.value[ib[j]]))
				r = out_append(&out, &len, "~ %s: %s -> %s\n", a.path[ia[i]], a.value[ia[i]],
					       b.value[ib[j]]);
			i++;
			j++;
		}
	}
	if (r < 0)
		goto fail;
	flat_free(&a);
	flat_free(&b);
	return out;
fail:
	flat_free(&a);
	flat_free(&b);
	free(out);
	return NULL;
}
