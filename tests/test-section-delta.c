/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * coord/cluster/section-delta.c: deltas between two versions of a node section. Cases a reader
 * can check by eye, deltas that do not fit, then 20 000 seeded random pairs: applying the delta
 * to the old version gives exactly the new one, and neither input changes.
 */
#include <stdbool.h>
#include <errno.h>
#include <stdint.h>
#include <string.h>

#include "section-delta.h"
#include "tap.h"

static json_t *J(const char *text)
{
	json_t *v = json_loads(text, JSON_DECODE_ANY, NULL);
	if (!v)
		abort();
	return v;
}

/* diff(from, to) is `want`, and applying it to from gives to */
static void check(const char *from_text, const char *to_text, const char *want)
{
	json_t *from = J(from_text), *to = J(to_text), *d = section_delta_diff(from, to), *r = NULL;
	char *got = d ? json_dumps(d, JSON_SORT_KEYS | JSON_COMPACT) : NULL;

	CHECK(got && !strcmp(got, want), "%s -> %s: delta %s, expected %s", from_text, to_text, got ? got : "none", want);
	CHECK(d && section_delta_apply(from, d, &r) == 0 && json_equal(r, to), "%s + %s", from_text, got);
	json_decref(r);
	free(got);
	json_decref(d);
	json_decref(from);
	json_decref(to);
}

/* applying delta to target fails with -EINVAL and leaves *out NULL */
static void refused(const char *target_text, const char *delta_text)
{
	json_t *target = J(target_text), *delta = J(delta_text), *r = (json_t *)1;

	CHECK(section_delta_apply(target, delta, &r) == -EINVAL && r == NULL, "%s over %s accepted", delta_text, target_text);
	json_decref(target);
	json_decref(delta);
}

static uint64_t rng = 88172645463325252ull;
static unsigned below(unsigned n)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return (unsigned)(rng % n);
}

/* a small random value: objects over a few keys, arrays, scalars, sometimes null */
static json_t *random_value(int depth)
{
	static const char *const keys[] = { "a", "b", "c", "d" };
	unsigned kind = below(depth > 2 ? 5 : 8);
	json_t *v;

	switch (kind) {
	case 0: return json_integer(below(3));
	case 1: return json_string(below(2) ? "x" : "y");
	case 2: return json_boolean(below(2));
	case 3: return below(8) ? json_integer(7) : json_null();
	case 4: return json_real(0.5 * below(3));
	case 5:
		v = json_array();
		for (unsigned i = below(3); i > 0; i--)
			json_array_append_new(v, random_value(depth + 1));
		return v;
	default:
		v = json_object();
		for (unsigned i = 0; i < 4; i++)
			if (below(3))
				json_object_set_new(v, keys[i], random_value(depth + 1));
		return v;
	}
}

/* a version of v with random parts changed, added or removed */
static json_t *mutate(const json_t *v)
{
	json_t *m;

	if (!json_is_object(v) || !below(6))
		return random_value(1);
	m = json_deep_copy(v);
	for (const char *k = "abcd"; *k; k++) {
		char key[2] = { *k, 0 };
		unsigned roll = below(8);
		if (roll == 0)
			json_object_del(m, key);
		else if (roll == 1)
			json_object_set_new(m, key, random_value(1));
		else if (roll == 2 && json_object_get(m, key))
			json_object_set_new(m, key, mutate(json_object_get(m, key)));
	}
	return m;
}

static bool object_null(const json_t *v)
{
	const char *k;
	json_t *m;

	json_object_foreach((json_t *)v, k, m)
		if (json_is_null(m) || (json_is_object(m) && object_null(m)))
			return true;
	return false;
}

int main(void)
{
	unsigned with_null = 0;

	check("{}", "{}", "{\"/\":{}}");
	check("{\"a\":1}", "{\"a\":1}", "{\"/\":{}}");
	check("{\"a\":1,\"b\":2}", "{\"a\":1}", "{\"/\":{\"b\":{\"-\":true}}}");
	check("{\"a\":{\"x\":1,\"y\":2}}", "{\"a\":{\"x\":1,\"y\":3}}", "{\"/\":{\"a\":{\"/\":{\"y\":{\"=\":3}}}}}");
	check("{\"a\":[1,2]}", "{\"a\":[1,3]}", "{\"/\":{\"a\":{\"=\":[1,3]}}}");      /* arrays whole */
	check("{\"a\":1}", "{\"a\":{\"b\":{}}}", "{\"/\":{\"a\":{\"=\":{\"b\":{}}}}}");  /* scalar -> object */
	check("{\"a\":{\"b\":1}}", "{\"a\":2}", "{\"/\":{\"a\":{\"=\":2}}}");         /* object -> scalar */
	/* nulls are values like any other (a merge patch could not say these) */
	check("{\"a\":1}", "{\"a\":null}", "{\"/\":{\"a\":{\"=\":null}}}");
	check("{}", "{\"a\":{\"b\":null}}", "{\"/\":{\"a\":{\"=\":{\"b\":null}}}}");
	check("{\"a\":{\"b\":1}}", "{\"a\":{\"b\":1,\"c\":null}}", "{\"/\":{\"a\":{\"/\":{\"c\":{\"=\":null}}}}}");
	check("{\"a\":null}", "{}", "{\"/\":{\"a\":{\"-\":true}}}");
	/* keys that look like the delta's own */
	check("{\"=\":1,\"/\":{\"-\":2}}", "{\"=\":2,\"/\":{}}", "{\"/\":{\"/\":{\"/\":{\"-\":{\"-\":true}}},\"=\":{\"=\":2}}}");

	/* a delta made over another version, or not a delta at all */
	refused("{}", "{\"/\":{\"a\":{\"-\":true}}}");          /* deletes what is not there */
	refused("{\"a\":1}", "{\"/\":{\"a\":{\"/\":{}}}}");     /* descends into a non-object */
	refused("{}", "{\"/\":{\"a\":{\"/\":{}}}}");              /* ... or into nothing */
	refused("{}", "{\"=\":1,\"/\":{}}");                       /* two kinds at once */
	refused("{}", "{\"/\":{\"a\":3}}");                        /* a child that is no node */
	refused("{}", "{\"x\":1}");
	refused("{}", "[]");
	refused("{}", "{}");
	/* the apply shares what it leaves alone and changes nothing it was given */
	{
		json_t *from = J("{\"keep\":{\"k\":[1,2,3]},\"chg\":{\"x\":1}}"), *p = J("{\"/\":{\"chg\":{\"/\":{\"x\":{\"=\":2}}}}}");
		json_t *copy = json_deep_copy(from), *r = NULL;
		CHECK(section_delta_apply(from, p, &r) == 0 && json_object_get(r, "keep") == json_object_get(from, "keep"),
		      "unchanged members shared");
		CHECK(json_equal(from, copy), "the target is unchanged");
		CHECK(json_integer_value(json_object_get(json_object_get(r, "chg"), "x")) == 2, "the change applied");
		json_decref(r);
		json_decref(copy);
		json_decref(from);
		json_decref(p);
	}

	for (int i = 0; i < 20000; i++) {
		json_t *from = random_value(3), *to, *fc, *tc, *d;

		if (!json_is_object(from)) {
			json_decref(from);
			from = json_object();
			json_object_set_new(from, "a", random_value(1));
		}
		to = mutate(from);
		if (!json_is_object(to)) {
			json_t *o = json_object();
			json_object_set_new(o, "b", to);
			to = o;
		}
		fc = json_deep_copy(from);
		tc = json_deep_copy(to);
		d = section_delta_diff(from, to);
		{
			json_t *r = NULL;
			if (!(d && section_delta_apply(from, d, &r) == 0 && json_equal(r, to))) {
				char *a = json_dumps(from, JSON_SORT_KEYS), *b = json_dumps(to, JSON_SORT_KEYS),
				     *c = d ? json_dumps(d, JSON_SORT_KEYS) : NULL;
				CHECK(0, "round %d: %s + %s != %s", i, a, c ? c : "(none)", b);
				free(a);
				free(b);
				free(c);
			}
			if (object_null(to))
				with_null++;
			json_decref(r);
		}
		CHECK(json_equal(from, fc) && json_equal(to, tc), "round %d: an input changed", i);
		json_decref(d);
		json_decref(fc);
		json_decref(tc);
		json_decref(from);
		json_decref(to);
	}
	CHECK(with_null > 500, "the random pairs hold nulls: %u of 20000", with_null);
	return tap_done("test-section-delta");
}
