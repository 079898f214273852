/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Unit tests for coord/decide/placement.c: what the scenarios cannot say -- malformed input is
 * refused with -EINVAL and nothing written, limits are checked, names the core does not know are
 * ignored, empty inputs work, action names. The decisions themselves are tested by the golden
 * scenarios (tests/scenarios/placement/, placement-sim).
 */
#include <errno.h>
#include <stdio.h>
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

int main(void)
{
	test_malformed();
	test_empty_and_names();
	test_unknown_names();
	if (failures) {
		fprintf(stderr, "%d check(s) failed\n", failures);
		return 1;
	}
	printf("ok test-placement\n");
	return 0;
}
