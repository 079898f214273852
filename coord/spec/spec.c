/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Spec parsing, validation, canonical form, hashing and diff. Pure; see spec.h. */
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "datastore.h"
#include "macros.h"
#include "protection.h"
#include "spec.h"
#include "vm.h"

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

_printf_(2, 0) static void problem_v(struct spec_problems *p, const char *fmt, va_list ap)
{
	char *s = NULL;

	if (p->n >= SPEC_MAX_PROBLEMS) {
		p->dropped++;
		return;
	}
	if (vasprintf(&s, fmt, ap) < 0)
		s = NULL;
	if (!s) {
		p->dropped++;
		return;
	}
	p->text[p->n++] = s;
}

void spec_problem(struct spec_problems *p, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	problem_v(p, fmt, ap);
	va_end(ap);
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

bool spec_node_name_ok(const char *s)
{
	return node_name_ok(s);
}

static void validate_labels(const json_t *labels, const char *path, struct spec_problems *p)
{
	const char *k;
	json_t *v;

	if (!json_is_object(labels)) {
		spec_problem(p, "%s: must be an object of string values", path);
		return;
	}
	json_object_foreach((json_t *)labels, k, v) {
		if (!label_key_ok(k))
			spec_problem(p, "%s: invalid label key \"%.80s\" (1-%d chars of A-Z a-z 0-9 . _ / -, starting with a letter or digit)",
				path, k, LABEL_KEY_MAX);
		if (!json_is_string(v))
			spec_problem(p, "%s.%.80s: must be a string", path, k);
		else if (!text_ok(json_string_value(v), LABEL_VALUE_MAX))
			spec_problem(p, "%s.%.80s: value longer than %d bytes or has control characters", path, k,
				LABEL_VALUE_MAX);
	}
}

static void validate_nodes(const json_t *nodes, struct spec_problems *p)
{
	size_t i, j;
	json_t *n;

	if (!json_is_array(nodes)) {
		spec_problem(p, "nodes: must be an array of {\"name\", \"id\"} objects");
		return;
	}
	if (json_array_size(nodes) > SPEC_MAX_NODES)
		spec_problem(p, "nodes: %zu entries, at most %d allowed", json_array_size(nodes), SPEC_MAX_NODES);
	json_array_foreach(nodes, i, n) {
		const char *k;
		json_t *v, *name, *id;

		if (!json_is_object(n)) {
			spec_problem(p, "nodes[%zu]: must be an object", i);
			continue;
		}
		json_object_foreach(n, k, v)
			if (strcmp(k, "name") && strcmp(k, "id") && strcmp(k, "labels"))
				spec_problem(p, "nodes[%zu]: unknown key \"%.80s\" (known: name, id, labels)", i, k);
		name = json_object_get(n, "name");
		id = json_object_get(n, "id");
		if (!name)
			spec_problem(p, "nodes[%zu].name: missing", i);
		else if (!json_is_string(name) || !node_name_ok(json_string_value(name)))
			spec_problem(p, "nodes[%zu].name: must be a host name (1-%d chars of A-Z a-z 0-9 - . _)", i,
				NODE_NAME_MAX);
		if (!id)
			spec_problem(p, "nodes[%zu].id: missing (the corosync node id of this host)", i);
		else if (!json_is_integer(id) || json_integer_value(id) < 1 ||
			 json_integer_value(id) > 0x7fffffff)
			spec_problem(p, "nodes[%zu].id: must be an integer in 1..2147483647", i);
		if (json_object_get(n, "labels")) {
			char path[64];
			snprintf(path, sizeof(path), "nodes[%zu].labels", i);
			validate_labels(json_object_get(n, "labels"), path, p);
		}
		/* Duplicates: report each later entry against the first one. Past the maximum the spec
		 * is refused already; n^2 comparisons of a 64 MiB spec would stall the daemon. */
		for (j = 0; j < i && i < SPEC_MAX_NODES; j++) {
			json_t *o = json_array_get(nodes, j);
			json_t *oname = json_object_get(o, "name"), *oid = json_object_get(o, "id");
			if (json_is_string(name) && json_is_string(oname) &&
			    !strcmp(json_string_value(name), json_string_value(oname)))
				spec_problem(p, "nodes[%zu].name: \"%s\" already used by nodes[%zu]", i,
					json_string_value(name), j);
			if (json_is_integer(id) && json_is_integer(oid) &&
			    json_integer_value(id) == json_integer_value(oid))
				spec_problem(p, "nodes[%zu].id: %" JSON_INTEGER_FORMAT " already used by nodes[%zu]", i,
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
		spec_problem(p, "spec: must be a JSON object");
		return -EINVAL;
	}
	json_object_foreach((json_t *)spec, k, v) {
		if (!strcmp(k, "nodes"))
			validate_nodes(v, p);
		else if (!strcmp(k, "labels"))
			validate_labels(v, "labels", p);
		else if (!strcmp(k, "datastores"))
			ds_validate(spec, p);
		else if (!strcmp(k, "destroy_data"))
			ds_validate_destroy_data(spec, p);
		else if (!strcmp(k, "restore"))
			ds_validate_restore(spec, p);
		else if (!strcmp(k, "vms"))
			vm_validate(spec, p);
		else if (!strcmp(k, "protection"))
			prot_validate(spec, p);
		else
			spec_problem(p, "%.80s: unknown key (known: nodes, labels, datastores, destroy_data, restore, vms, protection)", k);
	}
	return p->n + p->dropped > before ? -EINVAL : 0;
}

int spec_parse(const char *text, size_t len, json_t **out, struct spec_problems *p)
{
	json_error_t err;
	json_t *spec;

	if (len > SPEC_MAX_BYTES) {
		spec_problem(p, "spec: %zu bytes, at most %u allowed", len, SPEC_MAX_BYTES);
		return -EINVAL;
	}
	spec = json_loadb(text, len, JSON_REJECT_DUPLICATES, &err);
	if (!spec) {
		spec_problem(p, "line %d, column %d: %s", err.line, err.column, err.text);
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

/* One flattened item: a leaf, or a whole entry of an array of objects keyed by "name". */
struct flat_item {
	char *path;         /* owned: "labels.env", "nodes[name=kvm1]", "datastores[name=ds1].size" */
	char *value;        /* owned: compact JSON with sorted keys */
	const json_t *json; /* borrowed from the spec being flattened */
	bool entry;         /* a keyed entry ("nodes[name=kvm1]"); its leaves follow it */
};

struct flat {
	struct flat_item *item; /* owned */
	size_t n, cap;
};

static void flat_free(struct flat *f)
{
	for (size_t i = 0; i < f->n; i++) {
		free(f->item[i].path);
		free(f->item[i].value);
	}
	free(f->item);
}

static int flat_add(struct flat *f, const char *path, const json_t *v, bool entry)
{
	struct flat_item *it;

	if (f->n == f->cap) {
		size_t cap = f->cap ? f->cap * 2 : 32;
		it = realloc(f->item, cap * sizeof(*it));
		if (!it)
			return -ENOMEM;
		f->item = it;
		f->cap = cap;
	}
	it = &f->item[f->n];
	*it = (struct flat_item){ .path = strdup(path), .json = v, .entry = entry,
				  .value = json_dumps(v, JSON_SORT_KEYS | JSON_COMPACT | JSON_ENCODE_ANY) };
	if (!it->path || !it->value) {
		free(it->path);
		free(it->value);
		return -ENOMEM;
	}
	f->n++;
	return 0;
}

/*
 * Flattens to leaf paths. Arrays of objects with a "name" are keyed by name (nodes[name=kvm1])
 * so that reordering entries is not reported as a change; each such entry is also an item of
 * its own, so an entry added or removed can be shown as one line.
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
			r = json_is_string(name) ? flat_add(f, sub, c, true) : 0;
			if (r == 0)
				r = flatten(f, sub, c);
			free(sub);
			if (r < 0)
				return r;
		}
		return 0;
	}
	if (!*path)
		return 0; /* an empty spec has no leaves */
	return flat_add(f, path, v, false);
}

static int flat_cmp(const void *a, const void *b)
{
	const struct flat_item *x = a, *y = b;

	return strcmp(x->path, y->path);
}

/* The index after item i and, when it is an entry, everything inside it (sorted by path, the
 * items under a path are the ones right after it). */
static size_t flat_skip(const struct flat *f, size_t i)
{
	size_t k = i + 1, n = strlen(f->item[i].path);

	if (f->item[i].entry)
		while (k < f->n && !strncmp(f->item[k].path, f->item[i].path, n))
			k++;
	return k;
}

/* A datastore's size: readable when written in bytes, and a respelling is no resize. */
static void size_note(const struct flat_item *x, const struct flat_item *y, char *note, size_t len)
{
	static const char suffix[] = "].size";
	size_t n = strlen(x->path);
	char a[DS_SIZE_TEXT_MAX], b[DS_SIZE_TEXT_MAX];
	uint64_t sa, sb;

	*note = 0;
	if (strncmp(x->path, "datastores[", 11) || n < sizeof(suffix) || strcmp(x->path + n - (sizeof(suffix) - 1), suffix) ||
	    ds_size_parse(x->json, &sa, NULL, 0) < 0 || ds_size_parse(y->json, &sb, NULL, 0) < 0)
		return;
	if (sa == sb)
		snprintf(note, len, " (same size)");
	else if (json_is_integer(x->json) || json_is_integer(y->json))
		snprintf(note, len, " (%s -> %s)", ds_size_format(sa, a), ds_size_format(sb, b));
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
	char *out = NULL, note[2 * DS_SIZE_TEXT_MAX + 16];
	size_t len = 0, i = 0, j = 0;
	int r = 0;

	if (flatten(&a, "", from) < 0 || flatten(&b, "", to) < 0)
		goto fail;
	if (a.n)
		qsort(a.item, a.n, sizeof(*a.item), flat_cmp);
	if (b.n)
		qsort(b.item, b.n, sizeof(*b.item), flat_cmp);
	out = strdup("");
	if (!out)
		goto fail;
	while (r == 0 && (i < a.n || j < b.n)) {
		const struct flat_item *x = i < a.n ? &a.item[i] : NULL, *y = j < b.n ? &b.item[j] : NULL;
		int c = !x ? 1 : !y ? -1 : strcmp(x->path, y->path);
		if (c < 0) {
			r = out_append(&out, &len, "- %s = %s\n", x->path, x->value);
			i = flat_skip(&a, i);
		} else if (c > 0) {
			r = out_append(&out, &len, "+ %s = %s\n", y->path, y->value);
			j = flat_skip(&b, j);
		} else {
			/* an entry on both sides: its leaves that follow say what changed */
			if (!(x->entry && y->entry) && strcmp(x->value, y->value)) {
				size_note(x, y, note, sizeof(note));
				r = out_append(&out, &len, "~ %s: %s -> %s%s\n", x->path, x->value, y->value, note);
			}
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
