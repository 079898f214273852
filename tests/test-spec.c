/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Spec validation lists every problem with its path; canonical form and diff are stable. */
#include <errno.h>
#include <string.h>

#include "spec.h"
#include "tap.h"

static int problems_of(const char *text, struct spec_problems *p)
{
	json_t *s = NULL;
	int r = spec_parse(text, strlen(text), &s, p);
	json_decref(s);
	return r;
}

static bool has(const struct spec_problems *p, const char *needle)
{
	for (unsigned i = 0; i < p->n; i++)
		if (strstr(p->text[i], needle))
			return true;
	return false;
}

int main(void)
{
	struct spec_problems p = { 0 };
	json_t *a, *b;
	char *d;

	CHECK(problems_of("{}", &p) == 0 && p.n == 0, "empty spec is valid");
	CHECK(problems_of("{\"labels\":{\"env\":\"prod\",\"a.b/c-d_e\":\"x\"},\"nodes\":[{\"name\":\"kvm1\",\"id\":1,\"labels\":{\"rack\":\"r1\"}}]}", &p) == 0,
	      "valid spec refused: %s", p.n ? p.text[0] : "");
	spec_problems_clear(&p);

	/* every problem at once, each with its path */
	CHECK(problems_of("{\"labels\":{\"bad key\":\"x\",\"ok\":5},\"nodes\":[{\"name\":\"kvm1\"},{\"name\":\"kvm1\",\"id\":0,\"x\":1},7],\"vmz\":[]}", &p) == -EINVAL, "invalid accepted");
	CHECK(has(&p, "labels: invalid label key \"bad key\""), "label key");
	CHECK(has(&p, "labels.ok: must be a string"), "label value type");
	CHECK(has(&p, "nodes[0].id: missing"), "missing id");
	CHECK(has(&p, "nodes[1].id: must be an integer"), "id range");
	CHECK(has(&p, "nodes[1]: unknown key \"x\""), "unknown node key");
	CHECK(has(&p, "nodes[1].name: \"kvm1\" already used by nodes[0]"), "duplicate name");
	CHECK(has(&p, "nodes[2]: must be an object"), "node type");
	CHECK(has(&p, "vmz: unknown key"), "unknown top-level key");
	CHECK(p.n == 8, "expected 8 problems, got %u", p.n);
	d = spec_problems_join(&p);
	CHECK(d && strchr(d, '\n'), "joined problems");
	free(d);
	spec_problems_clear(&p);

	CHECK(problems_of("{\"labels\":", &p) == -EINVAL && has(&p, "line 1"), "syntax error names the line");
	spec_problems_clear(&p);
	CHECK(problems_of("{\"labels\":{},\"labels\":{}}", &p) == -EINVAL, "duplicate keys accepted");
	spec_problems_clear(&p);
	CHECK(problems_of("[1,2]", &p) == -EINVAL && has(&p, "must be a JSON object"), "array spec");
	spec_problems_clear(&p);
	CHECK(problems_of("{\"labels\":{\"k\":\"a\\u0001b\"}}", &p) == -EINVAL, "control char accepted");
	spec_problems_clear(&p);

	/* canonical text and hash do not depend on key order */
	a = json_loads("{\"nodes\":[],\"labels\":{\"b\":\"2\",\"a\":\"1\"}}", 0, NULL);
	b = json_loads("{\"labels\":{\"a\":\"1\",\"b\":\"2\"},\"nodes\":[]}", 0, NULL);
	{
		char *ca = spec_canonical(a), *cb = spec_canonical(b);
		CHECK(!strcmp(ca, cb), "canonical differs: %s vs %s", ca, cb);
		CHECK(spec_hash_bytes(ca, strlen(ca)) == spec_hash_bytes(cb, strlen(cb)), "hash");
		free(ca);
		free(cb);
	}
	d = spec_diff(a, b);
	CHECK(d && !*d, "equal specs differ: %s", d ? d : "(null)");
	free(d);
	json_decref(b);

	b = json_loads("{\"labels\":{\"a\":\"1\",\"b\":\"3\",\"c\":\"4\"},\"nodes\":[{\"name\":\"kvm2\",\"id\":2}]}", 0, NULL);
	d = spec_diff(a, b);
	CHECK(d && strstr(d, "~ labels.b: \"2\" -> \"3\""), "changed value: %s", d ? d : "(null)");
	CHECK(d && strstr(d, "+ labels.c = \"4\""), "added value: %s", d ? d : "(null)");
	CHECK(d && strstr(d, "+ nodes[name=kvm2] = {\"id\":2,\"name\":\"kvm2\"}\n"), "added node: %s", d ? d : "(null)");
	CHECK(d && !strstr(d, "nodes[name=kvm2]."), "added node's leaves listed too: %s", d ? d : "(null)");
	CHECK(d && !strstr(d, "labels.a"), "unchanged value reported: %s", d ? d : "(null)");
	free(d);
	d = spec_diff(b, a);
	CHECK(d && strstr(d, "- labels.c = \"4\""), "removed value: %s", d ? d : "(null)");
	free(d);
	json_decref(a);
	json_decref(b);
	return tap_done("test-spec");
}
