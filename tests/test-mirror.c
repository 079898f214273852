/* SPDX-License-Identifier: GPL-2.0-or-later */
/* coord/decide/mirror.c: SnapMirror's pure rules -- the destination name, ONTAP's lag_time and
 * relationship record, when an update is due, the RPO rule, and which DR transitions are safe. */
#include <errno.h>
#include <string.h>

#include "coord/decide/mirror.h"
#include "coord/decide/schedule.h"
#include "tap.h"

static void test_destination(void)
{
	struct prot_mirror m = { .destination_svm = "svm_dr", .destination_volume_suffix = "_dr" };
	char buf[PROT_VOLUME_NAME_MAX + 1], small[8], big[300];

	CHECK(mirror_destination(&m, "kvmcd_c_ds1", buf, sizeof(buf)) == 0 && !strcmp(buf, "kvmcd_c_ds1_dr"), "%s", buf);
	m.destination_volume_suffix = NULL;
	CHECK(mirror_destination(&m, "v", buf, sizeof(buf)) == 0 && !strcmp(buf, "v" PROT_SUFFIX_DEFAULT), "default suffix");
	m.destination_volume = "given";
	CHECK(mirror_destination(&m, "v", buf, sizeof(buf)) == 0 && !strcmp(buf, "given"), "destination_volume wins");
	m.destination_volume = NULL;
	strcpy(small, "keep");
	CHECK(mirror_destination(&m, "a_long_volume", small, sizeof(small)) == -ENAMETOOLONG && !strcmp(small, "keep"),
	      "too long for the buffer: untouched");
	memset(big, 'v', 202);
	big[202] = 0;
	CHECK(mirror_destination(&m, big, buf, sizeof(buf)) == -ENAMETOOLONG, "beyond ONTAP's volume name length");
	CHECK(mirror_destination(&m, "", buf, sizeof(buf)) == -EINVAL, "no source");
}

static void test_duration(void)
{
	static const struct { const char *s; int r; int64_t v; } cases[] = {
		{ "PT1H2M", 0, 3720 },        { "PT30S", 0, 30 },          { "P1DT0H0M5S", 0, 86405 },
		{ "PT0H0M0S", 0, 0 },         { "PT0.5S", 0, 0 },          { "PT1.999S", 0, 1 },
		{ "P2W", 0, 1209600 },        { "P1D", 0, 86400 },         { "PT473S", 0, 473 },
		{ "P", -EINVAL, 0 },          { "PT", -EINVAL, 0 },        { "", -EINVAL, 0 },
		{ "1H", -EINVAL, 0 },         { "PT1D", -EINVAL, 0 },      { "P1H", -EINVAL, 0 },
		{ "PT1M1H", -EINVAL, 0 },     { "P1Y", -EINVAL, 0 },       { "P1M", -EINVAL, 0 },
		{ "PT-1S", -EINVAL, 0 },      { "PT1.S", -EINVAL, 0 },     { "PT.5S", -EINVAL, 0 },
		{ "PT1.5M", -EINVAL, 0 },     { "PT1S ", -EINVAL, 0 },     { "PTT1S", -EINVAL, 0 },
		{ "P1DT", -EINVAL, 0 },       { "PT1H1H", -EINVAL, 0 },
		{ "P99999999999999D", -ERANGE, 0 }, { "P36600000D", -ERANGE, 0 },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int64_t v = -7;
		int r = mirror_duration_parse(cases[i].s, &v);

		CHECK(r == cases[i].r && (r < 0 ? v == -7 : v == cases[i].v), "'%s': r %d v %lld", cases[i].s, r, (long long)v);
	}
	CHECK(mirror_duration_parse(NULL, NULL) == -EINVAL, "NULL");
}

static void test_rel(void)
{
	json_t *rec = json_loads("{\"uuid\":\"u\",\"state\":\"snapmirrored\",\"healthy\":false,"
				 "\"unhealthy_reason\":[{\"message\":\"Transfer failed.\\nline\",\"code\":13303870}],"
				 "\"lag_time\":\"PT7M53S\",\"transfer\":{\"state\":\"failed\"}}", 0, NULL);
	struct mirror_rel r, untouched;

	CHECK(rec && mirror_rel_parse(rec, &r) == 0, "parse");
	CHECK(!strcmp(r.state, "snapmirrored") && !r.healthy && r.has_lag && r.lag == 473 &&
		      !strcmp(r.transfer_state, "failed") && !strcmp(r.reason, "Transfer failed.?line"),
	      "fields: %s %d %lld %s '%s'", r.state, r.healthy, (long long)r.lag, r.transfer_state, r.reason);
	CHECK(!mirror_transferring(&r), "failed is not running");
	json_decref(rec);
	rec = json_loads("{\"state\":5,\"healthy\":\"yes\",\"lag_time\":\"soon\",\"transfer\":\"x\"}", 0, NULL);
	CHECK(mirror_rel_parse(rec, &r) == 0 && !r.state[0] && !r.healthy && !r.has_lag && !r.transfer_state[0],
	      "wrong types are absent");
	json_decref(rec);
	rec = json_loads("{\"state\":\"a-state-name-much-longer-than-any-real-one\",\"transfer\":{\"state\":\"transferring\"}}",
			 0, NULL);
	CHECK(mirror_rel_parse(rec, &r) == 0 && !r.state[0] && mirror_transferring(&r), "a state too long is no state");
	json_decref(rec);
	memset(&untouched, 0x5a, sizeof(untouched));
	r = untouched;
	rec = json_array();
	CHECK(mirror_rel_parse(rec, &r) == -EINVAL && !memcmp(&r, &untouched, sizeof(r)), "not an object: untouched");
	json_decref(rec);
}

static void test_update(void)
{
	struct prot_mirror m = { .update_after_snapshot = true };
	int64_t slot = -1;

	CHECK(!mirror_update_due(&m, SCHED_NONE, SCHED_NONE, 1000, &slot) && slot == -1, "no snapshot yet");
	CHECK(mirror_update_due(&m, 600, SCHED_NONE, 1000, &slot) && slot == 600, "a snapshot, never updated");
	CHECK(!mirror_update_due(&m, 600, 600, 1000, &slot), "updated for it already");
	CHECK(mirror_update_due(&m, 660, 600, 1000, &slot) && slot == 660, "the next snapshot");
	CHECK(!mirror_update_due(&m, 600, 660, 1000, &slot), "an older done (clock back) is not a new snapshot");
	CHECK(mirror_next_update(&m, 1000) == INT64_MAX, "after-snapshot: no wake-up of its own");

	m.update_after_snapshot = false;
	m.update.kind = PROT_EVERY;
	m.update.every = 900;
	slot = -1;
	CHECK(mirror_update_due(&m, SCHED_NONE, SCHED_NONE, 1000, &slot) && slot == 900, "own schedule: latest slot %lld",
	      (long long)slot);
	CHECK(!mirror_update_due(&m, 5000, 900, 1700, &slot), "own schedule: snapshots do not matter, 900 done");
	CHECK(mirror_update_due(&m, SCHED_NONE, 900, 1800, &slot) && slot == 1800, "own schedule: the next slot");
	CHECK(mirror_next_update(&m, 1000) == 1800, "own schedule: next");
	CHECK(!mirror_update_due(NULL, 1, SCHED_NONE, 1, &slot), "NULL");
}

static void test_rpo(void)
{
	struct mirror_rel r = { .healthy = true, .has_lag = true, .lag = 300 };

	strcpy(r.state, "snapmirrored");
	CHECK(mirror_rpo_check(300, &r) == MIRROR_RPO_OK, "lag == rpo is ok");
	r.lag = 301;
	CHECK(mirror_rpo_check(300, &r) == MIRROR_RPO_BREACH, "lag > rpo: breach");
	CHECK(mirror_rpo_check(0, &r) == MIRROR_RPO_NONE, "no rpo: no watch");
	r.has_lag = false;
	CHECK(mirror_rpo_check(300, &r) == MIRROR_RPO_BREACH, "initialized, no lag reported: breach");
	strcpy(r.state, "uninitialized");
	CHECK(mirror_rpo_check(300, &r) == MIRROR_RPO_NONE, "uninitialized: none yet");
	strcpy(r.state, "broken_off");
	r.has_lag = true;
	r.lag = 99999;
	CHECK(mirror_rpo_check(300, &r) == MIRROR_RPO_NONE, "failed over: the admin's decision, not a breach");
	strcpy(r.state, "paused");
	CHECK(mirror_rpo_check(300, &r) == MIRROR_RPO_BREACH, "paused and behind: breach");
	CHECK(mirror_rpo_check(300, NULL) == MIRROR_RPO_NONE, "never read");
	CHECK(!strcmp(mirror_rpo_name(MIRROR_RPO_BREACH), "breach"), "name");
}

static void test_dr(void)
{
	struct mirror_rel r = { .healthy = true };
	char why[MIRROR_WHY_MAX];

	CHECK(mirror_dr_check(MIRROR_DR_FAILOVER, "ds1", NULL, why, sizeof(why)) == -ENODATA && strstr(why, "ds1"),
	      "never read: %s", why);
	strcpy(r.state, "snapmirrored");
	CHECK(mirror_dr_check(MIRROR_DR_FAILOVER, "ds1", &r, why, sizeof(why)) == 0 && !why[0], "failover from snapmirrored");
	strcpy(r.transfer_state, "transferring");
	CHECK(mirror_dr_check(MIRROR_DR_FAILOVER, "ds1", &r, why, sizeof(why)) == -EBUSY && strstr(why, "transfer"),
	      "failover while transferring: %s", why);
	strcpy(r.transfer_state, "queued");
	CHECK(mirror_dr_check(MIRROR_DR_RESYNC, "ds1", &r, why, sizeof(why)) == -EBUSY, "resync while queued");
	strcpy(r.transfer_state, "success");
	strcpy(r.state, "paused");
	CHECK(mirror_dr_check(MIRROR_DR_FAILOVER, "ds1", &r, why, sizeof(why)) == 0, "failover from paused (quiesced)");
	strcpy(r.state, "uninitialized");
	CHECK(mirror_dr_check(MIRROR_DR_FAILOVER, "ds1", &r, why, sizeof(why)) == -EINVAL && strstr(why, "no copy yet"),
	      "failover before initialization: %s", why);
	strcpy(r.state, "broken_off");
	CHECK(mirror_dr_check(MIRROR_DR_FAILOVER, "ds1", &r, why, sizeof(why)) == -EALREADY && strstr(why, "already"),
	      "failover twice: %s", why);
	CHECK(mirror_dr_check(MIRROR_DR_RESYNC, "ds1", &r, why, sizeof(why)) == 0, "resync after failover");
	strcpy(r.state, "snapmirrored");
	CHECK(mirror_dr_check(MIRROR_DR_RESYNC, "ds1", &r, why, sizeof(why)) == -EALREADY && strstr(why, "needs no resync"),
	      "resync when snapmirrored: %s", why);
	strcpy(r.state, "uninitialized");
	CHECK(mirror_dr_check(MIRROR_DR_RESYNC, "ds1", &r, why, sizeof(why)) == -EINVAL && strstr(why, "broken_off"),
	      "resync when uninitialized: %s", why);
	strcpy(r.state, "synchronizing");
	CHECK(mirror_dr_check(MIRROR_DR_FAILOVER, "ds1", &r, NULL, 0) == -EINVAL, "an unknown state, no why buffer");
	CHECK(!strcmp(mirror_dr_name(MIRROR_DR_RESYNC), "resync"), "name");
}

int main(void)
{
	test_destination();
	test_duration();
	test_rel();
	test_update();
	test_rpo();
	test_dr();
	return tap_done("test-mirror");
}
