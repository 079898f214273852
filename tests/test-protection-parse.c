/* SPDX-License-Identifier: GPL-2.0-or-later */
/* agent/protection-parse.c: ONTAP's snapshot listing, on-demand names, the leader's records. */
#include <errno.h>
#include <string.h>

#include "agent/protection-parse.h"
#include "tap.h"

static void test_listing(void)
{
	json_t *l = json_loads("{\"records\":["
			       "{\"uuid\":\"u1\",\"name\":\"kvmcd.gold.1m.20250301T1400Z\",\"create_time\":\"2025-03-01T14:00:02+00:00\",\"owners\":[]},"
			       "{\"name\":\"hourly.2025-03-01_1405\",\"owners\":[\"volume clone\"]},"
			       "{\"name\":\"no-owners-field\"},"
			       "{\"name\":\"odd-owners\",\"owners\":\"snapmirror\"},"
			       "{\"uuid\":\"no name\"},{\"name\":17},{\"name\":\"\"},{\"name\":\"ctl\\u0001x\"},"
			       "{\"name\":\"bad-time\",\"create_time\":5}],\"num_records\":9}", 0, NULL);
	struct prot_snap *s = NULL, *untouched = (void *)0x1;
	size_t n = 99;
	char big[400];

	CHECK(l && prot_listing_parse(l, &s, &n) == 0 && n == 5, "n %zu", n);
	if (n == 5) {
		CHECK(!strcmp(s[0].name, "kvmcd.gold.1m.20250301T1400Z") && !s[0].busy &&
			      !strcmp(s[0].create_time, "2025-03-01T14:00:02+00:00"), "first");
		CHECK(s[1].busy, "owners -> busy");
		CHECK(!s[2].busy && !strcmp(s[2].create_time, ""), "no owners field: free, no time");
		CHECK(s[3].busy, "owners we cannot read: busy (never deleted)");
		CHECK(!strcmp(s[4].name, "bad-time") && !strcmp(s[4].create_time, ""), "a time that is no string");
	}
	prot_listing_free(s, n);
	json_decref(l);

	n = 7;
	s = untouched;
	l = json_loads("{\"records\":[],\"num_records\":0}", 0, NULL);
	CHECK(prot_listing_parse(l, &s, &n) == 0 && n == 0 && s == NULL, "empty");
	json_decref(l);
	s = untouched;
	n = 7;
	l = json_loads("{\"num_records\":0}", 0, NULL);
	CHECK(prot_listing_parse(l, &s, &n) == -EINVAL && s == untouched && n == 7, "no records: -EINVAL, untouched");
	json_decref(l);
	l = json_loads("[1]", 0, NULL);
	CHECK(prot_listing_parse(l, &s, &n) == -EINVAL, "not an object");
	json_decref(l);
	CHECK(prot_listing_parse(NULL, &s, &n) == -EINVAL, "NULL");
	memset(big, 'a', sizeof(big) - 1);
	big[sizeof(big) - 1] = 0;
	l = json_pack("{s[{ss}]}", "records", "name", big);
	CHECK(prot_listing_parse(l, &s, &n) == 0 && n == 0 && !s, "a name over %u bytes is skipped", PROT_SNAP_NAME_MAX);
	json_decref(l);
	l = json_pack("{so}", "records", json_array());
	for (unsigned i = 0; i <= PROT_SNAP_LIST_MAX; i++)
		json_array_append_new(json_object_get(l, "records"), json_pack("{ss}", "name", "x"));
	CHECK(prot_listing_parse(l, &s, &n) == -E2BIG, "too many records");
	json_decref(l);
}

static void test_ondemand(void)
{
	char buf[PROT_ONDEMAND_NAME_MAX], pol[PROT_NAME_MAX + 1] = "", label[PROT_LABEL_MAX + 1];
	int64_t t = 0, slot;

	CHECK(prot_ondemand_name("gold", 1740837912, buf) == 0 && !strcmp(buf, "kvmcd.gold.ondemand.20250301T140512Z"),
	      "%s", buf);
	CHECK(prot_ondemand_parse(buf, pol, &t) == 0 && !strcmp(pol, "gold") && t == 1740837912, "parse back");
	CHECK(prot_snapshot_is_ours(buf), "ours");
	/* never a slot's name: retention never reads it */
	CHECK(sched_snapshot_parse(buf, pol, label, &slot) == -EINVAL, "not a schedule's name");
	CHECK(prot_ondemand_name("Gold", 0, buf) == -EINVAL, "not a policy name");
	CHECK(prot_ondemand_name("gold", -1, buf) == -EINVAL, "before the epoch");
	CHECK(prot_ondemand_name("gold", PROT_TIME_MAX + 1, buf) == -EINVAL, "after 9999");
	CHECK(prot_ondemand_parse("kvmcd.gold.ondemand.20250230T140512Z", pol, &t) == -EINVAL, "Feb 30");
	CHECK(prot_ondemand_parse("kvmcd.gold.ondemand.20250301T140560Z", pol, &t) == -EINVAL, "second 60");
	CHECK(prot_ondemand_parse("kvmcd.gold.ondemand.20250301T1405Z", pol, &t) == -EINVAL, "a slot's form");
	CHECK(prot_ondemand_parse("kvmcd.gold.ondemand.20250301T140512Zx", pol, &t) == -EINVAL, "trailing");
	CHECK(prot_ondemand_parse("kvmcd.gold.manual.20250301T140512Z", pol, &t) == -EINVAL, "another label");
	CHECK(prot_ondemand_parse("kvmcd..ondemand.20250301T140512Z", pol, &t) == -EINVAL, "no policy");
	CHECK(prot_ondemand_parse("kvmcd.gold.ondemand.2025030AT140512Z", pol, &t) == -EINVAL, "a letter");
	CHECK(prot_ondemand_parse(NULL, pol, &t) == -EINVAL, "NULL");
	CHECK(prot_snapshot_is_ours("kvmcd.gold.1m.20250301T1400Z"), "a slot's name is ours");
	CHECK(!prot_snapshot_is_ours("hourly.2025-03-01_1405"), "ONTAP's policy snapshot is not");
	CHECK(!prot_snapshot_is_ours("kvmcd.gold"), "half a name is not");
}

static void test_records(void)
{
	char key[PROT_RECORD_KEY_MAX];
	int64_t s, d;
	json_t *r;

	CHECK(prot_record_key("gold", "1m", key) == 0 && !strcmp(key, "prot/gold/1m"), "%s", key);
	CHECK(prot_record_key("gold", SCHED_MIRROR_LABEL, key) == 0 && !strcmp(key, "prot/gold/+snapmirror"), "%s", key);
	CHECK(prot_record_key("gold", "a/b", key) == -EINVAL, "a label with a slash");
	CHECK(prot_record_key("go/ld", "1m", key) == -EINVAL, "a policy with a slash");
	r = json_pack("{sIsn}", "started", (json_int_t)1740837600, "done");
	prot_record_slots(r, &s, &d);
	CHECK(s == 1740837600 && d == SCHED_NONE, "started, done null");
	json_decref(r);
	r = json_pack("{sIss}", "started", (json_int_t)1740837601, "done", "x");
	prot_record_slots(r, &s, &d);
	CHECK(s == SCHED_NONE && d == SCHED_NONE, "not a whole minute; not a number");
	json_decref(r);
	r = json_pack("{sIsI}", "started", (json_int_t)-60, "done", (json_int_t)(PROT_TIME_MAX + 60));
	prot_record_slots(r, &s, &d);
	CHECK(s == SCHED_NONE && d == SCHED_NONE, "out of range");
	json_decref(r);
	prot_record_slots(NULL, &s, &d);
	CHECK(s == SCHED_NONE && d == SCHED_NONE, "no record");
}

static void test_vm_verdict(void)
{
	const char *why = "x";
	json_t *frozen = json_pack("{ss}", "report", "frozen");
	json_t *crash = json_pack("{ssss}", "report", "crash-consistent", "outcome", "agent-timeout");
	json_t *thawed = json_pack("{ssss}", "report", "thawed", "why", "deadline");
	json_t *odd = json_pack("{ss}", "report", "thaw-failed");

	CHECK(prot_vm_verdict(frozen, NULL, false, true, &why) && !why, "frozen, in time, taken: consistent");
	CHECK(!prot_vm_verdict(frozen, NULL, true, true, &why) && !strcmp(why, "deadline"), "frozen but late: %s", why);
	CHECK(!prot_vm_verdict(frozen, NULL, false, false, &why) && !strcmp(why, "snapshot-failed"), "%s", why);
	CHECK(!prot_vm_verdict(crash, NULL, false, true, &why) && !strcmp(why, "agent-timeout"), "crash: %s", why);
	CHECK(!prot_vm_verdict(thawed, NULL, false, true, &why) && !strcmp(why, "deadline"),
	      "thawed before the snapshot returned (its node's deadline): %s", why);
	CHECK(!prot_vm_verdict(odd, NULL, false, true, &why) && !strcmp(why, "thaw-failed"), "%s", why);
	CHECK(!prot_vm_verdict(NULL, NULL, false, true, &why) && !strcmp(why, "no-report"), "no report: %s", why);
	CHECK(!prot_vm_verdict(frozen, "paused", false, true, &why) && !strcmp(why, "paused"),
	      "decided without asking: %s", why);
	json_decref(frozen);
	json_decref(crash);
	json_decref(thawed);
	json_decref(odd);
}

static void test_vms_history(void)
{
	json_t *hist = json_object(), *vms = json_pack("{s{sssb}}", "vm1", "node", "n1", "consistent", 1);
	char name[64];

	for (int i = 0; i < 5; i++) {
		snprintf(name, sizeof(name), "kvmcd.app.1m.20250301T14%02dZ", i);
		CHECK(prot_vms_history_add(hist, name, 1740837600 + i * 60, vms, 3) == 0, "add %s", name);
	}
	CHECK(json_object_size(hist) == 3, "kept 3, has %zu", json_object_size(hist));
	CHECK(!json_object_get(hist, "kvmcd.app.1m.20250301T1400Z") && !json_object_get(hist, "kvmcd.app.1m.20250301T1401Z"),
	      "the two oldest dropped");
	CHECK(json_is_true(json_object_get(json_object_get(json_object_get(json_object_get(hist,
		"kvmcd.app.1m.20250301T1404Z"), "vms"), "vm1"), "consistent")), "the newest holds its vms");
	CHECK(prot_vms_history_add(hist, "kvmcd.app.1m.20250301T1404Z", 1740837600 + 300, vms, 3) == 0 &&
	      json_object_size(hist) == 3, "the same name again replaces it");
	CHECK(prot_vms_history_add(hist, "", 0, vms, 3) == -EINVAL, "no name");
	CHECK(prot_vms_history_add(hist, "x", 0, NULL, 3) == -EINVAL, "no vms");
	CHECK(prot_vms_history_add(vms, "x", 0, vms, 0) == -EINVAL, "max 0");
	json_decref(hist);
	json_decref(vms);
}

int main(void)
{
	test_vm_verdict();
	test_vms_history();
	test_listing();
	test_ondemand();
	test_records();
	return tap_done("test-protection-parse");
}
