/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Unit tests for coord/decide/placement.c: what the scenarios cannot say -- malformed input is
 * refused with -EINVAL and nothing written, limits are checked, names the core does not know are
 * ignored, empty inputs work, action names. The decisions themselves are tested by the golden
 * scenarios (tests/scenarios/placement/, placement-sim).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "placement.h"

static int failures;

#define CHECK(cond)                                                                          \
	do {                                                                                 \
		if (!(cond)) {                                                               \
			fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond); \
			failures++;                                                          \
		}                                                                            \
	} while (0)

static void test_malformed(void)
{
	struct placement_vm vms[2] = { { .name = "a", .started = true }, { .name = "a", .started = true } };
	struct placement_node nodes[2] = { { .name = "n1", .member = true }, { .name = "n1", .member = true } };
	struct placement_owner owners[2] = { { .vm = "a", .node = "n1" }, { .vm = "a", .node = "n1" } };
	struct placement_result *res = (struct placement_result *)&res; /* must stay untouched */
	struct placement_plan *plan = (struct placement_plan *)&plan;
	struct placement_input in;

	in = (struct placement_input){ .vms = vms, .n_vms = 2 };
	CHECK(placement_place(&in, &res) == -EINVAL);           /* two VMs named a */
	in = (struct placement_input){ .vms = vms, .n_vms = 1, .nodes = nodes, .n_nodes = 2 };
	CHECK(placement_place(&in, &res) == -EINVAL);           /* two nodes named n1 */
	in = (struct placement_input){ .vms = vms, .n_vms = 1, .nodes = nodes, .n_nodes = 1, .owners = owners, .n_owners = 2 };
	CHECK(placement_place(&in, &res) == -EINVAL);           /* two records for a */
	owners[1] = (struct placement_owner){ .vm = "b", .node = NULL };
	CHECK(placement_place(&in, &res) == -EINVAL);           /* a record without a node */
	vms[1].name = NULL;
	in = (struct placement_input){ .vms = vms, .n_vms = 2 };
	CHECK(placement_place(&in, &res) == -EINVAL);           /* a VM without a name */
	in = (struct placement_input){ .n_vms = 1 };
	CHECK(placement_place(&in, &res) == -EINVAL);           /* a count without an array */
	vms[0].n_prefer = 1;
	in = (struct placement_input){ .vms = vms, .n_vms = 1 };
	CHECK(placement_place(&in, &res) == -EINVAL);           /* a list count without a list */
	vms[0].n_prefer = 0;
	CHECK(placement_place(NULL, &res) == -EINVAL);
	CHECK(placement_place(&in, NULL) == -EINVAL);
	CHECK(placement_drain(&in, &(struct placement_limits){ .per_node = 0, .per_cluster = 1, .balance_gap = 10 },
			      &plan) == -EINVAL);
	CHECK(placement_rebalance(&in, &(struct placement_limits){ .per_node = 1, .per_cluster = 0, .balance_gap = 10 },
				  &plan) == -EINVAL);
	CHECK(placement_rebalance(&in, &(struct placement_limits){ .per_node = 1, .per_cluster = 1, .balance_gap = 101 },
				  &plan) == -EINVAL);
	CHECK(res == (struct placement_result *)&res);
	CHECK(plan == (struct placement_plan *)&plan);
}

static void test_empty_and_names(void)
{
	struct placement_input in = { 0 };
	struct placement_result *res = NULL;
	struct placement_plan *plan = NULL;

	CHECK(placement_place(&in, &res) == 0);
	CHECK(res && res->n_decisions == 0);
	placement_result_free(res);
	CHECK(placement_rebalance(&in, NULL, &plan) == 0);
	CHECK(plan && plan->n_moves == 0 && plan->n_stuck == 0);
	placement_plan_free(plan);
	placement_result_free(NULL);
	placement_plan_free(NULL);

	CHECK(!strcmp(placement_action_name(PLACEMENT_KEEP), "keep"));
	CHECK(!strcmp(placement_action_name(PLACEMENT_START_ON), "start-on"));
	CHECK(!strcmp(placement_action_name(PLACEMENT_STOP), "stop"));
	CHECK(!strcmp(placement_action_name(PLACEMENT_WAIT), "wait"));
	CHECK(placement_action_name(_PLACEMENT_ACTION_MAX) == NULL);
	CHECK(placement_action_name((enum placement_action)-1) == NULL);
}

/* Names the core does not know (nodes and VMs in the rules, records of VMs not in the spec, a VM
 * naming itself) are ignored, not refused: the spec's validation refuses them. */
static void test_unknown_names(void)
{
	const char *self[] = { "a", "ghost" }, *nodes_named[] = { "nowhere", "n1" };
	struct placement_vm vms[] = { {
		.name = "a", .started = true, .memory_mib = 1024, .vcpus = 1,
		.prefer = nodes_named, .n_prefer = 2, .avoid = nodes_named, .n_avoid = 1,
		.anti_affinity = self, .n_anti_affinity = 2, .affinity = self, .n_affinity = 2, .ha_enabled = true,
	} };
	struct placement_node nodes[] = { { .name = "n0", .member = true, .memory_mib = 8192, .vcpus = 8 },
					  { .name = "n1", .member = true, .memory_mib = 8192, .vcpus = 8 } };
	struct placement_owner owners[] = { { .vm = "gone", .node = "n0", .running = true } };
	struct placement_input in = { .vms = vms, .n_vms = 1, .nodes = nodes, .n_nodes = 2, .owners = owners, .n_owners = 1 };
	struct placement_result *res = NULL;

	CHECK(placement_place(&in, &res) == 0);
	CHECK(res && res->n_decisions == 1);
	if (res && res->n_decisions == 1) {
		CHECK(!strcmp(res->decisions[0].vm, "a"));
		CHECK(res->decisions[0].action == PLACEMENT_START_ON);
		CHECK(res->decisions[0].owner && !strcmp(res->decisions[0].owner, "n1")); /* its preference */
		CHECK(res->decisions[0].migrating_to == NULL);
	}
	placement_result_free(res);
}

/* placement_check_move: each refusal with its errno and words, and the limits. */
static void test_check_move(void)
{
	const char *anti_a[] = { "b" }, *aff_c[] = { "d" }, *avoid_n3[] = { "n3" };
	struct placement_vm vms[] = {
		{ .name = "a", .started = true, .memory_mib = 1024, .vcpus = 1, .anti_affinity = anti_a, .n_anti_affinity = 1,
		  .ha_enabled = true },
		{ .name = "b", .started = true, .memory_mib = 1024, .vcpus = 1, .ha_enabled = true },
		{ .name = "c", .started = true, .memory_mib = 1024, .vcpus = 1, .affinity = aff_c, .n_affinity = 1,
		  .ha_enabled = true },
		{ .name = "d", .started = true, .memory_mib = 1024, .vcpus = 1, .ha_enabled = true },
		{ .name = "e", .started = true, .memory_mib = 1024, .vcpus = 1, .avoid = avoid_n3, .n_avoid = 1, .ha_enabled = true },
		{ .name = "f", .started = false, .memory_mib = 1024, .vcpus = 1, .ha_enabled = true },
		{ .name = "g", .started = true, .memory_mib = 1024, .vcpus = 1, .ha_enabled = true },
		{ .name = "big", .started = true, .memory_mib = 6000, .vcpus = 1, .ha_enabled = true },
	};
	struct placement_node nodes[] = {
		{ .name = "n1", .member = true, .memory_mib = 8192, .vcpus = 16 },
		{ .name = "n2", .member = true, .memory_mib = 8192, .vcpus = 16 },
		{ .name = "n3", .member = true, .memory_mib = 8192, .vcpus = 16 },
		{ .name = "n4", .member = true, .memory_mib = 8192, .vcpus = 16, .drained = true },
		{ .name = "n5", .member = true, .memory_mib = 4096, .vcpus = 16 },
	};
	struct placement_owner owners[] = {
		{ .vm = "a", .node = "n1", .running = true },
		{ .vm = "b", .node = "n2", .running = true },
		{ .vm = "c", .node = "n1", .running = true },
		{ .vm = "d", .node = "n1", .running = true },
		{ .vm = "e", .node = "n1", .running = true },
		{ .vm = "g", .node = "n3", .running = true, .migrating_to = "n2" },
		{ .vm = "big", .node = "n3", .running = true },
	};
	struct placement_input in = { .vms = vms, .n_vms = 8, .nodes = nodes, .n_nodes = 5, .owners = owners, .n_owners = 7 };
	struct placement_limits lim = { .per_node = 1, .per_cluster = 4, .balance_gap = 10 };
	char *why = NULL;

#define MOVE(vm, to, l, err, words)                                                                  \
	do {                                                                                         \
		why = NULL;                                                                          \
		int _r = placement_check_move(&in, l, vm, to, &why);                                 \
		CHECK(_r == (err));                                                                  \
		if (_r != (err))                                                                     \
			fprintf(stderr, "  %s -> %s: %d %s\n", vm, to, _r, why ? why : "(no why)");    \
		CHECK((err) == 0 ? why == NULL : why != NULL && strstr(why, words) != NULL);         \
		if (why && (err) != 0 && !strstr(why, words))                                       \
			fprintf(stderr, "  %s -> %s: '%s' lacks '%s'\n", vm, to, why, words);         \
		free(why);                                                                           \
	} while (0)

	MOVE("a", "n3", NULL, 0, "");
	MOVE("a", "n3", &lim, -EBUSY, "n3 has 1 migration in flight");  /* g leaves n3 */
	MOVE("a", "n5", &lim, 0, "");
	MOVE("a", "n2", NULL, -EPERM, "n2 runs b (anti-affinity)");
	MOVE("a", "n1", NULL, -EALREADY, "a runs on n1 already");
	MOVE("a", "n4", NULL, -EPERM, "n4 is drained");
	MOVE("big", "n5", NULL, -EPERM, "n5 has 4096 MiB free (needs 6000)");
	MOVE("e", "n3", NULL, -EPERM, "e avoids n3");
	MOVE("c", "n2", NULL, -EPERM, "affinity with d");
	MOVE("f", "n2", NULL, -EBUSY, "f is stopped in the spec");
	MOVE("g", "n1", NULL, -EBUSY, "g is migrating to n2 already");
	MOVE("nosuch", "n1", NULL, -ENOENT, "no VM nosuch");
	MOVE("a", "n9", NULL, -ENOENT, "no node n9");
	owners[0].running = false;
	MOVE("a", "n3", NULL, -EBUSY, "a does not run now");
	owners[0].running = true;
	lim.per_cluster = 1;
	MOVE("a", "n5", &lim, -EBUSY, "1 migrations are in flight in the cluster (limit 1)");
	CHECK(placement_check_move(&in, NULL, NULL, "n1", &why) == -EINVAL);
	CHECK(placement_check_move(&in, &(struct placement_limits){ 0 }, "a", "n1", &why) == -EINVAL);
#undef MOVE
}

int main(void)
{
	test_malformed();
	test_empty_and_names();
	test_unknown_names();
	test_check_move();
	if (failures) {
		fprintf(stderr, "%d check(s) failed\n", failures);
		return 1;
	}
	printf("ok test-placement\n");
	return 0;
}
