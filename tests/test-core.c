/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Core edges the scenarios do not reach: loading persisted state (and refusing a damaged file
 * with a message naming the problem), the status document's contract used by `kvmcctl status
 * --json`, and requests refused before a node is part of a quorate view.
 */
#include <errno.h>
#include <string.h>

#include "core.h"
#include "tap.h"

static struct core *mk(const char *disk, int *r, char **err)
{
	struct core_config cfg = { .nodeid = 1, .name = "kvm1", .proto_min = 1, .proto_max = 1 };
	struct core *c = NULL;
	*r = core_new(&cfg, disk, NULL, &c, err);
	return c;
}

static int last_reply(struct core *c, char **text)
{
	struct core_action a;
	int err = 1;
	while (core_next_action(c, &a)) {
		if (a.type == CORE_ACT_REPLY) {
			err = a.error;
			free(*text);
			*text = strdup(a.text);
		}
		core_action_clear(&a);
	}
	return err;
}

int main(void)
{
	struct core *c;
	char *err = NULL, *text = NULL, *saved;
	int r;
	json_t *st, *spec;

	/* damaged state files are refused with the reason, never silently replaced */
	c = mk("{\"format\":1,\"version\":3", &r, &err);
	CHECK(r == -EINVAL && !c && err && strstr(err, "line"), "truncated JSON: %d %s", r, err);
	free(err); err = NULL;
	c = mk("{\"format\":3,\"version\":3,\"state_epoch\":1,\"max_epoch\":1,\"spec\":{},\"status\":{}}", &r, &err);
	CHECK(r == -EINVAL && err && strstr(err, "format 3"), "future format: %s", err);
	free(err); err = NULL;
	c = mk("{\"format\":1,\"version\":3,\"state_epoch\":4,\"max_epoch\":1,\"spec\":{},\"status\":{}}", &r, &err);
	CHECK(r == -EINVAL && err && strstr(err, "max_epoch"), "epochs: %s", err);
	free(err); err = NULL;
	c = mk("{\"format\":1,\"version\":3,\"state_epoch\":1,\"max_epoch\":1,\"spec\":{\"vm\":1},\"status\":{}}", &r, &err);
	CHECK(r == -EINVAL && err && strstr(err, "invalid spec") && strstr(err, "vm"), "bad spec: %s", err);
	free(err); err = NULL;

	/* a good file round-trips through core_persist_json */
	c = mk("{\"format\":1,\"version\":7,\"state_epoch\":2,\"max_epoch\":5,\"spec\":{\"labels\":{\"a\":\"b\"}},\"status\":{}}", &r, &err);
	CHECK(r == 0 && c, "good state refused: %s", err);
	if (!c)
		return tap_done("test-core");
	CHECK(core_state_version(c) == 7, "version");
	saved = core_persist_json(c);
	core_free(c);
	c = mk(saved, &r, &err);
	CHECK(r == 0 && core_state_version(c) == 7, "reload of persisted state");
	free(saved);
	spec = core_spec_json(c);
	CHECK(!strcmp(json_string_value(json_object_get(json_object_get(spec, "labels"), "a")), "b"), "spec kept");
	json_decref(spec);

	/* before corosync: changes are refused with a clear message */
	core_request_spec(c, 1, 42, "{\"labels\":{}}", 13);
	CHECK(last_reply(c, &text) == -ENOTCONN && strstr(text, "not connected"), "disconnected: %s", text);
	/* invalid specs are refused whole, every problem listed */
	core_request_spec(c, 1, 43, "{\"labels\":{\"a b\":1}}", 20);
	CHECK(last_reply(c, &text) == -EINVAL && strstr(text, "nothing applied") && strstr(text, "invalid label key") &&
	      strstr(text, "must be a string"), "invalid: %s", text);

	/* connected, in a view, but not quorate */
	core_connected(c, 2, 1);
	core_quorum(c, 3, false, 1, 3);
	{
		uint32_t m[] = { 1 };
		core_confchg(c, 4, m, 1, NULL, 0);
	}
	core_request_spec(c, 5, 44, "{\"labels\":{\"x\":\"y\"}}", 20);
	CHECK(last_reply(c, &text) == -EAGAIN && strstr(text, "not quorate") && strstr(text, "votes 1 of 3"),
	      "inquorate: %s", text);

	/* the status contract */
	st = core_status_json(c, 10);
	CHECK(json_is_object(json_object_get(st, "node")), "node");
	CHECK(json_integer_value(json_object_get(json_object_get(st, "node"), "id")) == 1, "node.id");
	CHECK(!strcmp(json_string_value(json_object_get(json_object_get(st, "node"), "name")), "kvm1"), "node.name");
	CHECK(json_is_false(json_object_get(st, "quorate")), "quorate");
	CHECK(json_is_null(json_object_get(st, "leader")), "leader null");
	CHECK(json_is_array(json_object_get(st, "members")), "members");
	CHECK(json_integer_value(json_object_get(st, "state_version")) == 7, "state_version");
	CHECK(json_is_string(json_object_get(json_object_get(st, "sync"), "state")), "sync.state");
	json_decref(st);

	core_free(c);
	free(text);
	return tap_done("test-core");
}
