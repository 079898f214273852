/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Unit tests for coord/decide/fence.c and recovery.c: what the scenarios cannot say -- a fence
 * configuration refused with the words for the operator, malformed input refused with -EINVAL
 * and nothing written, names. The decisions themselves are tested by the golden scenarios and
 * the random runs (tests/scenarios/ha/, ha-sim).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fence.h"
#include "recovery.h"
#include "timeouts.h"

static int failures;

#define CHECK(cond)                                                                          \
	do {                                                                                 \
		if (!(cond)) {                                                               \
			fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond); \
			failures++;                                                          \
		}                                                                            \
	} while (0)

static bool refused(const struct timeouts *t, const enum fence_method *lv, size_t n, const char *words)
{
	struct fence_config c;
	char *err = NULL;
	bool ok = fence_config_from_timeouts(t, lv, n, &c, &err) == -EINVAL && err && strstr(err, words);

	if (!ok)
		fprintf(stderr, "refusal: %s (want '%s')\n", err ? err : "(none)", words);
	free(err);
	return ok;
}

static void test_config(void)
{
	struct timeouts_base b;
	struct timeouts t, nowd;
	struct fence_config c;
	enum fence_method lv[] = { FENCE_METHOD_ONTAP, FENCE_METHOD_AGENT, FENCE_METHOD_WATCHDOG };
	enum fence_method twice[] = { FENCE_METHOD_AGENT, FENCE_METHOD_AGENT };
	enum fence_method wd[] = { FENCE_METHOD_WATCHDOG };
	enum fence_method bad[] = { (enum fence_method)7 };
	char *err = NULL;

	timeouts_defaults(&b);
	CHECK(timeouts_derive(&b, &t, NULL) == 0);
	CHECK(fence_config_from_timeouts(&t, lv, 3, &c, &err) == 0 && !err);
	/* the timing is timeouts.h's, not a copy */
	CHECK(c.n_levels == 3 && c.levels[2] == FENCE_METHOD_WATCHDOG);
	CHECK(c.method[FENCE_METHOD_ONTAP].attempt_usec == t.fence_ontap_attempt_usec);
	CHECK(c.method[FENCE_METHOD_AGENT].attempt_usec ==
	      t.base.fence_agent_timeout_usec + t.fence_agent_kill_grace_usec);
	CHECK(c.agent_grace_usec == t.agent_grace_usec && c.ontap_quiet_usec == t.ontap_quiet_usec);
	CHECK(c.watchdog_nodedown_usec == t.watchdog_dead_after_nodedown_usec);
	CHECK(c.round_pause_usec == t.fence_round_pause_usec);

	CHECK(refused(&t, lv, 0, "no level"));
	CHECK(refused(&t, twice, 2, "method agent is configured twice"));
	CHECK(refused(&t, bad, 1, "unknown method"));
	b.watchdog_timeout_usec = 0;
	CHECK(timeouts_derive(&b, &nowd, NULL) == 0);
	CHECK(refused(&nowd, wd, 1, "there is no watchdog"));
}

static void test_malformed(void)
{
	struct timeouts_base b;
	struct timeouts t;
	struct fence_config c;
	enum fence_method lv[] = { FENCE_METHOD_ONTAP };
	struct fence_result *res = (struct fence_result *)&res; /* must stay untouched */
	struct fence_node nodes[2] = { { .name = "n1", .member = true }, { .name = "n1", .member = true } };
	struct fence_record recs[2] = { { .node = "n1", .status = FENCE_PENDING }, { .node = "n1", .status = FENCE_PENDING } };
	struct fence_input in;

	timeouts_defaults(&b);
	CHECK(timeouts_derive(&b, &t, NULL) == 0);
	CHECK(fence_config_from_timeouts(&t, lv, 1, &c, NULL) == 0);

	in = (struct fence_input){ .nodes = nodes, .n_nodes = 1, .acting = true, .armed = true };
	CHECK(fence_decide(&in, &res) == -EINVAL);                  /* no config */
	in.config = &c;
	in.n_nodes = 2;
	CHECK(fence_decide(&in, &res) == -EINVAL);                  /* two nodes named n1 */
	in.n_nodes = 1;
	in.records = recs;
	in.n_records = 2;
	CHECK(fence_decide(&in, &res) == -EINVAL);                  /* two records for n1 */
	recs[0].level = 3;
	in.n_records = 1;
	CHECK(fence_decide(&in, &res) == -EINVAL);                  /* level out of range */
	nodes[0].member = false;                                    /* out, failure 0 */
	in.n_records = 0;
	CHECK(fence_decide(&in, &res) == -EINVAL);
	CHECK(res == (struct fence_result *)&res);

	/* not acting: nothing at all, whatever the records say */
	nodes[0].failure = 4;
	recs[0].level = 0;
	in.n_records = 1;
	in.acting = false;
	res = NULL;
	CHECK(fence_decide(&in, &res) == 0 && res && res->n_decisions == 0 && !res->may_act && !res->wake_usec);
	fence_result_free(res);

	/* a two-node survivor that has not seen its peer since it started claims nothing */
	in.acting = true;
	in.claim.needed = true;
	res = NULL;
	CHECK(fence_decide(&in, &res) == 0 && res->claim == FENCE_CLAIM_WAIT_FOR_PEER && res->n_decisions == 0);
	fence_result_free(res);
	in.claim.peer_seen = true;
	res = NULL;
	CHECK(fence_decide(&in, &res) == 0 && res->claim == FENCE_CLAIM_MAKE && !res->may_act);
	fence_result_free(res);
}

static void test_recovery_malformed(void)
{
	struct placement_vm vms[1] = { { .name = "a", .started = true } };
	struct placement_input pin = { .vms = vms, .n_vms = 1 };
	struct recovery_vm rv[2] = { { .name = "a" }, { .name = "a" } };
	struct recovery_result *res = (struct recovery_result *)&res;
	struct recovery_input in = { .placement = &pin, .vms = rv, .n_vms = 2, .armed = true };

	CHECK(recovery_decide(&in, &res) == -EINVAL);               /* two HA entries for a */
	rv[1].name = "b";
	CHECK(recovery_decide(&in, &res) == -EINVAL);               /* b is no VM of the input */
	in.placement = NULL;
	CHECK(recovery_decide(&in, &res) == -EINVAL);
	CHECK(res == (struct recovery_result *)&res);
	in.placement = &pin;
	in.n_vms = 1;
	res = NULL;
	CHECK(recovery_decide(&in, &res) == 0 && res->n_vms == 1 && !res->vms[0].changed &&
	      res->placement->n_decisions == 1);
	recovery_result_free(res);
}

static void test_names(void)
{
	enum fence_method m;

	CHECK(!strcmp(fence_method_name(FENCE_METHOD_WATCHDOG), "watchdog") && !fence_method_name(_FENCE_METHOD_MAX));
	CHECK(!strcmp(fence_status_name(FENCE_RELEASING), "releasing") && !fence_status_name(_FENCE_STATUS_MAX));
	CHECK(!strcmp(fence_action_name(FENCE_ACT_UNFENCE), "unfence") && !fence_action_name(_FENCE_ACT_MAX));
	CHECK(!strcmp(fence_loss_name(FENCE_LOSS_PROCDOWN), "procdown"));
	CHECK(!strcmp(fence_claim_action_name(FENCE_CLAIM_SELF_FENCE), "self-fence"));
	CHECK(fence_method_from_name("agent", &m) == 0 && m == FENCE_METHOD_AGENT);
	CHECK(fence_method_from_name("scsi", &m) == -EINVAL && fence_method_from_name(NULL, &m) == -EINVAL);
}

int main(void)
{
	test_config();
	test_malformed();
	test_recovery_malformed();
	test_names();
	if (failures) {
		fprintf(stderr, "%d check(s) failed\n", failures);
		return 1;
	}
	printf("ok test-fence\n");
	return 0;
}
