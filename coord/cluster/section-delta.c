/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "section-delta.h"

#include <stdbool.h>

/* A null reachable through objects alone: applying the value as a patch would delete there. */
static bool holds_object_null(const json_t *v)
{
	const char *k;
	json_t *m;

	if (!json_is_object(v))
		return false;
	json_object_foreach((json_t *)v, k, m)
		if (json_is_null(m) || holds_object_null(m))
			return true;
	return false;
}

json_t *section_delta_diff(const json_t *from, const json_t *to)
{
	json_t *patch = json_object(), *f, *t;
	const char *k;

	if (!patch || !json_is_object(from) || !json_is_object(to))
		goto fail;
	json_object_foreach((json_t *)from, k, f)
		if (!json_object_get(to, k) && json_object_set_new(patch, k, json_null()) < 0)
			goto fail;
	json_object_foreach((json_t *)to, k, t) {
		json_t *d;

		f = json_object_get(from, k);
		if (f && json_equal(f, t))
			continue;
		if (json_is_null(t))
			goto fail;
		if (json_is_object(t) && json_is_object(f))
			d = section_delta_diff(f, t);
		else if (holds_object_null(t))
			goto fail;
		else
			d = json_incref(t);
		if (!d || json_object_set_new(patch, k, d) < 0)
			goto fail;
	}
	return patch;
fail:
	json_decref(patch);
	return NULL;
}

json_t *section_delta_apply(const json_t *target, const json_t *patch)
{
	json_t *out, *p;
	const char *k;

	if (!json_is_object(patch))
		return json_incref((json_t *)patch);
	out = json_is_object(target) ? json_copy((json_t *)target) : json_object(); /* shallow */
	if (!out)
		return NULL;
	json_object_foreach((json_t *)patch, k, p) {
		json_t *v;

		if (json_is_null(p)) {
			json_object_del(out, k);
			continue;
		}
		v = section_delta_apply(json_object_get(out, k), p);
		if (!v || json_object_set_new(out, k, v) < 0) {
			json_decref(out);
			return NULL;
		}
	}
	return out;
}
