/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "section-delta.h"

#include <errno.h>
#include <string.h>

json_t *section_delta_diff(const json_t *from, const json_t *to)
{
	json_t *kids = json_object(), *node = NULL, *f, *t;
	const char *k;

	if (!kids || !json_is_object(from) || !json_is_object(to))
		goto fail;
	json_object_foreach((json_t *)from, k, f)
		if (!json_object_get(to, k) && json_object_set_new(kids, k, json_pack("{sb}", "-", 1)) < 0)
			goto fail;
	json_object_foreach((json_t *)to, k, t) {
		json_t *d;

		f = json_object_get(from, k);
		if (f && json_equal(f, t))
			continue;
		if (json_is_object(f) && json_is_object(t))
			d = section_delta_diff(f, t);
		else
			d = json_pack("{sO}", "=", t);
		if (!d || json_object_set_new(kids, k, d) < 0)
			goto fail;
	}
	node = json_pack("{so}", "/", kids);
	return node; /* json_pack took kids, also on failure */
fail:
	json_decref(kids);
	return NULL;
}

int section_delta_apply(const json_t *target, const json_t *delta, json_t **out)
{
	json_t *v, *kids, *res, *child;
	const char *k;

	*out = NULL;
	if (!json_is_object(delta) || json_object_size(delta) != 1)
		return -EINVAL;
	if ((v = json_object_get(delta, "="))) {
		*out = json_incref(v);
		return 0;
	}
	kids = json_object_get(delta, "/");
	if (!json_is_object(kids) || !json_is_object(target))
		return -EINVAL;
	if (!(res = json_copy((json_t *)target))) /* shallow: unchanged members are shared */
		return -ENOMEM;
	json_object_foreach(kids, k, child) {
		int r;

		if (json_is_object(child) && json_object_size(child) == 1 && json_object_get(child, "-")) {
			if (json_object_del(res, k) < 0) {
				json_decref(res);
				return -EINVAL;
			}
			continue;
		}
		r = section_delta_apply(json_object_get(res, k), child, &v);
		if (r < 0 || json_object_set_new(res, k, v) < 0) {
			json_decref(res);
			return r < 0 ? r : -ENOMEM;
		}
	}
	*out = res;
	return 0;
}
