/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The spec's protection policies (coord/spec/protection.h): every rule refuses with its JSON
 * path and what is wrong, and accepts what it should; durations; the cron parser and its
 * next / previous fire times; the longest gap behind the RPO check; defaults and labels from
 * prot_spec_list(); the destination check against the source volumes; the snapshot names of
 * coord/decide/schedule.h.
 *
 * Specs are written with ' for " to stay readable: q() turns them into JSON.
 */
#include <errno.h>
#include <string.h>

#include "protection.h"
#include "schedule.h"
#include "spec.h"
#include "tap.h"

static char *q(const char *s)
{
	char *j = strdup(s);

	if (!j)
		abort();
	for (char *c = j; *c; c++)
		if (*c == '\'')
			*c = '"';
	return j;
}

static bool has(const struct spec_problems *p, const char *needle)
{
	for (unsigned i = 0; i < p->n; i++)
		if (strstr(p->text[i], needle))
			return true;
	return false;
}

static char *all(const struct spec_problems *p)
{
	static char buf[8192];
	char *j = spec_problems_join(p);

	snprintf(buf, sizeof(buf), "%s", j ? j : "(none)");
	free(j);
	return buf;
}

static int parse(const char *text, struct spec_problems *p, json_t **out)
{
	char *t = q(text);
	json_t *s = NULL;
	int r = spec_parse(t, strlen(t), &s, p);

	if (out)
		*out = s;
	else
		json_decref(s);
	free(t);
	return r;
}

#define OK(text) do { \
	struct spec_problems p_ = { 0 }; \
	int r_ = parse(text, &p_, NULL); \
	CHECK(r_ == 0 && p_.n == 0, "refused %s: %s", text, all(&p_)); \
	spec_problems_clear(&p_); \
} while (0)

#define BAD(text, ...) do { \
	const char *n_[] = { __VA_ARGS__ }; \
	struct spec_problems p_ = { 0 }; \
	int r_ = parse(text, &p_, NULL); \
	CHECK(r_ == -EINVAL, "accepted %s", text); \
	for (size_t i_ = 0; i_ < sizeof(n_) / sizeof(n_[0]); i_++) \
		CHECK(has(&p_, n_[i_]), "%s: no problem says '%s'; got: %s", text, n_[i_], all(&p_)); \
	spec_problems_clear(&p_); \
} while (0)

/* Two datastores, one VM on ds2, and the policies given. */
#define VM_XML "<domain type=\\\"kvm\\\"><name>web1</name><memory>1024</memory><devices><disk type=\\\"volume\\\" device=\\\"disk\\\"><source pool=\\\"ds2\\\" volume=\\\"web1.qcow2\\\"/><target dev=\\\"vda\\\"/></disk></devices></domain>"
#define BASE "'datastores':[{'name':'ds1','protocol':'nfs','size':'1G'},{'name':'ds2','protocol':'nfs','size':'1G'},{'name':'ds3','protocol':'nfs','size':'1G'}]," \
	     "'vms':[{'name':'web1','domain_xml':\"" VM_XML "\"}]"
#define SPEC(pols) "{" BASE ",'protection':[" pols "]}"
#define POL(body) "{'name':'gold','datastores':['ds1'],'schedules':[{'every':'1h','keep':24}]" body "}"

static void test_valid(void)
{
	OK(SPEC(""));
	OK(SPEC(POL("")));
	OK(SPEC("{'name':'gold','vms':['web1'],'schedules':[{'every':'15m','keep':4},{'cron':'0 0 * * *','keep':7},"
		"{'cron':'0 12 * * mon-fri','keep':5,'label':'noon'}],'consistency':'vm','catch_up':'skip'}"));
	OK(SPEC(POL(",'snapmirror':{'destination_svm':'svm_dr','rpo':'1h'}")));
	OK(SPEC(POL(",'snapmirror':{'destination_svm':'svm_dr','destination_volume':'ds1_copy','policy':'MirrorLatest',"
		    "'rpo':'30m','update':{'every':'15m'}}")));
	/* two schedules that interleave keep an RPO neither keeps alone */
	OK(SPEC("{'name':'p','datastores':['ds1'],'schedules':[{'cron':'0 0 * * *','keep':1},{'cron':'0 12 * * *','keep':1}],"
		"'snapmirror':{'destination_svm':'b','rpo':'12h'}}"));
	OK(SPEC("{'name':'p','datastores':['ds1'],'schedules':[{'every':'1d','keep':1}],'snapmirror':{'destination_svm':'b','rpo':'1d'}}"));
}

static void test_policy_rules(void)
{
	BAD(SPEC("{'name':'Gold','datastores':['ds1'],'schedules':[{'every':'1h','keep':1}]}"),
	    "protection[0].name: \"Gold\": must be 1-40 chars of a-z 0-9 _ -");
	BAD(SPEC("{'name':'a.b','datastores':['ds1'],'schedules':[{'every':'1h','keep':1}]}"), "protection[0].name: \"a.b\"");
	BAD(SPEC("{'datastores':['ds1'],'schedules':[{'every':'1h','keep':1}]}"), "protection[0].name: missing");
	BAD(SPEC(POL("") "," POL("")), "protection[1].name: \"gold\" already used by protection[0]");
	BAD(SPEC(POL(",'color':'red'")), "protection[0]: unknown key \"color\" (known: name, datastores, vms, schedules");
	BAD(SPEC("{'name':'p','schedules':[{'every':'1h','keep':1}]}"), "protection[0]: missing \"datastores\" (names) or \"vms\"");
	BAD(SPEC("{'name':'p','datastores':['ds1'],'vms':['web1'],'schedules':[{'every':'1h','keep':1}]}"),
	    "protection[0]: both \"datastores\" and \"vms\"");
	BAD(SPEC("{'name':'p','datastores':['ds9'],'schedules':[{'every':'1h','keep':1}]}"),
	    "protection[0].datastores[0]: \"ds9\" is not a datastore of the spec");
	BAD(SPEC("{'name':'p','vms':['web9'],'schedules':[{'every':'1h','keep':1}]}"),
	    "protection[0].vms[0]: \"web9\" is not a VM of the spec");
	BAD(SPEC("{'name':'p','datastores':['ds1','ds1'],'schedules':[{'every':'1h','keep':1}]}"),
	    "protection[0].datastores[1]: \"ds1\" already listed at datastores[0]");
	BAD(SPEC("{'name':'p','datastores':[],'schedules':[{'every':'1h','keep':1}]}"),
	    "protection[0].datastores: must be a non-empty array of datastore names");
	BAD(SPEC("{'name':'p','datastores':['ds1']}"), "protection[0].schedules: missing");
	BAD(SPEC("{'name':'p','datastores':['ds1'],'schedules':[]}"), "protection[0].schedules: must be a non-empty array");
	BAD(SPEC(POL(",'consistency':'app'")), "protection[0].consistency: must be \"crash\" (the default) or \"vm\"");
	BAD(SPEC(POL(",'catch_up':'all'")), "protection[0].catch_up: must be \"once\"");
	BAD("{'protection':{}}", "protection: must be an array of policy objects");
	BAD("{'protection':[3]}", "protection[0]: must be an object");
}

static void test_schedules(void)
{
#define S1(sched) SPEC("{'name':'p','datastores':['ds1'],'schedules':[" sched "]}")
	BAD(S1("{'every':'30s','keep':1}"), "protection[0].schedules[0].every: \"30s\" is below one minute");
	BAD(S1("{'every':'90s','keep':1}"), "schedules[0].every: \"90s\" is not a whole number of minutes");
	BAD(S1("{'every':'0m','keep':1}"), "schedules[0].every: \"0m\" is below one minute");
	BAD(S1("{'every':'1.5h','keep':1}"), "schedules[0].every: \"1.5h\": whole numbers only");
	BAD(S1("{'every':'1H','keep':1}"), "schedules[0].every: \"1H\": unknown unit");
	BAD(S1("{'every':'1h30m','keep':1}"), "unknown unit (units are s m h d w");
	BAD(S1("{'every':'15','keep':1}"), "schedules[0].every: \"15\" has no unit");
	BAD(S1("{'every':15,'keep':1}"), "schedules[0].every: 15 is a number: write a string with a unit");
	BAD(S1("{'every':'367d','keep':1}"), "schedules[0].every: above the longest interval, \"366d\"");
	BAD(S1("{'every':'99999999999999999999w','keep':1}"), "schedules[0].every: above the longest interval");
	BAD(S1("{'keep':1}"), "protection[0].schedules[0]: missing \"every\"");
	BAD(S1("{'every':'1h','cron':'* * * * *','keep':1}"), "schedules[0]: both \"every\" and \"cron\"");
	BAD(S1("{'every':'1h'}"), "schedules[0].keep: missing");
	BAD(S1("{'every':'1h','keep':0}"), "schedules[0].keep: 0 keeps nothing: must be an integer in 1..1023");
	BAD(S1("{'every':'1h','keep':1024}"), "schedules[0].keep: must be an integer in 1..1023");
	BAD(S1("{'every':'1h','keep':'3'}"), "schedules[0].keep: must be an integer");
	BAD(S1("{'every':'1h','keep':1000},{'every':'1d','keep':100}"), "protection[0].schedules: the keeps add up to 1100");
	BAD(S1("{'every':'1h','keep':1,'lable':'x'}"), "schedules[0]: unknown key \"lable\" (known: every, cron, keep, label)");
	BAD(S1("{'every':'1h','keep':1},{'every':'60m','keep':2}"),
	    "protection[0].schedules[1]: label \"1h\" is also schedules[0]'s (derived from its timing)");
	OK(S1("{'every':'1h','keep':1},{'every':'60m','keep':2,'label':'hourly2'}"));
	BAD(S1("{'every':'1h','keep':1,'label':'A'}"), "schedules[0].label: must be 1-24 chars");
	BAD(S1("{'every':'1h','keep':1,'label':'x.y'}"), "schedules[0].label");
	BAD(S1("{'cron':'0 0 30 2 *','keep':1}"), "schedules[0].cron: \"0 0 30 2 *\" never fires");
	BAD(S1("{'cron':'0 24 * * *','keep':1}"), "schedules[0].cron: hour \"24\": values are 0-23");
	BAD(S1("{'cron':'@daily','keep':1}"), "schedules[0].cron: \"@daily\": macros are not taken");
	BAD(S1("{'cron':'0 0 * *','keep':1}"), "fewer than five fields");
	BAD(S1("{'cron':'0 0 * * * *','keep':1}"), "more than five fields");
	BAD(S1("{'cron':5,'keep':1}"), "schedules[0].cron: must be a string");
	OK(S1("{'cron':'0 0 29 2 *','keep':1}"));
	OK(S1("{'cron':'0 0 30 2 mon','keep':1}")); /* either day field: Mondays */
#undef S1
}

static void test_mirror(void)
{
#define M(body) SPEC(POL(",'snapmirror':{" body "}"))
	BAD(M("'rpo':'1h'"), "protection[0].snapmirror.destination_svm: missing");
	BAD(M("'destination_svm':'1svm'"), "snapmirror.destination_svm: must be an SVM name");
	BAD(M("'destination_svm':'b','destination_volume':'x','destination_volume_suffix':'_y'"),
	    "protection[0].snapmirror: both destination_volume_suffix and destination_volume");
	BAD(M("'destination_svm':'b','destination_volume_suffix':'-x'"), "snapmirror.destination_volume_suffix: must be 1-40 chars");
	BAD(M("'destination_svm':'b','destination_volume':'9x'"), "snapmirror.destination_volume: must be a volume name");
	BAD(M("'destination_svm':'b','rpo':'30s'"), "snapmirror.rpo: \"30s\" is below one minute");
	BAD(M("'destination_svm':'b','rpo':'30m'"),
	    "protection[0].snapmirror.rpo: \"30m\" is shorter than the update interval: updates follow the snapshots (\"after-snapshot\"), and the policy's schedules leave 1h");
	BAD(M("'destination_svm':'b','rpo':'30m','update':{'every':'1h'}"),
	    "snapmirror.rpo: \"30m\" is shorter than the update interval: the update schedule leaves 1h between two updates");
	BAD(M("'destination_svm':'b','rpo':'2h','update':{'cron':'0 0-20/4 * * *'}"),
	    "the update schedule leaves 4h between two updates");
	BAD(M("'destination_svm':'b','update':'hourly'"), "snapmirror.update: must be \"after-snapshot\" (the default) or a schedule");
	BAD(M("'destination_svm':'b','update':{'every':'1h','keep':3}"), "snapmirror.update: unknown key \"keep\" (known: every, cron)");
	BAD(M("'destination_svm':'b','update':{}"), "snapmirror.update: missing \"every\"");
	BAD(M("'destination_svm':'b','polcy':'x'"), "protection[0].snapmirror: unknown key \"polcy\"");
	BAD(M("'destination_svm':'b','policy':''"), "snapmirror.policy: must be an ONTAP SnapMirror policy name");
	BAD(SPEC("{'name':'p','datastores':['ds1','ds2'],'schedules':[{'every':'1h','keep':1}],'snapmirror':{'destination_svm':'b','destination_volume':'v'}}"),
	    "snapmirror.destination_volume: names one volume, but this policy protects several datastores");
	BAD(SPEC("{'name':'p','vms':['web1'],'schedules':[{'every':'1h','keep':1}],'snapmirror':{'destination_svm':'b','destination_volume':'v'}}"),
	    "snapmirror.destination_volume: names one volume");
	/* the same destination twice */
	BAD(SPEC("{'name':'a','datastores':['ds1'],'schedules':[{'every':'1h','keep':1}],'snapmirror':{'destination_svm':'b','destination_volume':'v'}},"
		 "{'name':'c','datastores':['ds2'],'schedules':[{'every':'1h','keep':1}],'snapmirror':{'destination_svm':'B','destination_volume':'V'}}"),
	    "protection[1].snapmirror.destination_volume: \"V\" on B is also protection[0]'s destination");
	BAD(SPEC("{'name':'a','datastores':['ds1','ds2'],'schedules':[{'every':'1h','keep':1}],'snapmirror':{'destination_svm':'b'}},"
		 "{'name':'c','datastores':['ds2'],'schedules':[{'every':'1d','keep':1}],'snapmirror':{'destination_svm':'b'}}"),
	    "protection[1].snapmirror: datastore ds2 is mirrored by protection[0] too, to the same destination (SVM b, suffix \"_dr\")");
	OK(SPEC("{'name':'a','datastores':['ds1','ds2'],'schedules':[{'every':'1h','keep':1}],'snapmirror':{'destination_svm':'b'}},"
		"{'name':'c','datastores':['ds2'],'schedules':[{'every':'1d','keep':1}],'snapmirror':{'destination_svm':'b','destination_volume_suffix':'_dr2'}}"));
#undef M
}

static void test_durations_and_cron(void)
{
	struct prot_cron c;
	char why[256], buf[PROT_LABEL_MAX + 1];
	int64_t t0, sec;
	json_t *v;

	v = json_string("7d");
	CHECK(prot_duration_parse(v, &sec, NULL, 0) == 0 && sec == 7 * 86400, "7d");
	json_decref(v);
	v = json_string("2w");
	CHECK(prot_duration_parse(v, &sec, NULL, 0) == 0 && sec == 14 * 86400, "2w");
	json_decref(v);
	CHECK(!strcmp(prot_duration_format(3600, buf), "1h"), "%s", buf);
	CHECK(!strcmp(prot_duration_format(5400, buf), "90m"), "%s", buf);
	CHECK(!strcmp(prot_duration_format(604800, buf), "7d"), "%s", buf);

	CHECK(prot_cron_parse("*/15 * * * *", &c, why, sizeof(why)) == 0 && c.minutes == (1ULL | 1ULL << 15 | 1ULL << 30 | 1ULL << 45),
	      "*/15: %s %llx", why, (unsigned long long)c.minutes);
	CHECK(prot_cron_parse("0 9-17/2 * * 1-5", &c, why, sizeof(why)) == 0 && c.hours == ((1u << 9) | (1u << 11) | (1u << 13) | (1u << 15) | (1u << 17)) &&
	      c.wdays == 0x3e && c.dom_star && !c.dow_star, "9-17/2: %s", why);
	CHECK(prot_cron_parse("0 0 * * 7", &c, NULL, 0) == 0 && c.wdays == 1, "7 is Sunday");
	CHECK(prot_cron_parse("0 0 * * 5-7", &c, NULL, 0) == 0 && c.wdays == 0x61, "5-7");
	CHECK(prot_cron_parse("0 0 1 JAN,jul *", &c, NULL, 0) == 0 && c.months == ((1 << 1) | (1 << 7)), "names");
	CHECK(prot_cron_parse("30/10 * * * *", &c, NULL, 0) == 0 && c.minutes == ((1ULL << 30) | (1ULL << 40) | (1ULL << 50)), "a/n");
	CHECK(prot_cron_parse("0  0 * * *", &c, NULL, 0) == 0, "runs of blanks between fields");
	static const char *const bad[] = { "", " 0 0 * * *", "0 0 * * * ", "0\t0 * * *", "60 * * * *", "* * 0 * *", "* * * 13 *",
					   "* * * * 8", "5-1 * * * *", "*/0 * * * *", "*/60 * * * *", "1,,2 * * * *", "1, * * * *",
					   "? * * * *", "L * * * *", "* * * * 1#2", "0005 * * * *", "* * * foo *", "* * * * mond",
					   "jan * * * *", "-1 * * * *", "1- * * * *" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		CHECK(prot_cron_parse(bad[i], &c, why, sizeof(why)) == -EINVAL, "accepted cron \"%s\"", bad[i]);

	/* next / prev */
	CHECK(sched_slot_scan("2025-03-01T10:07Z", &t0) == 0, "scan");
	prot_cron_parse("0 */4 * * *", &c, NULL, 0);
	CHECK(prot_cron_next(&c, t0) == t0 - 7 * 60 + 2 * 3600, "next */4");
	CHECK(prot_cron_prev(&c, t0) == t0 - 7 * 60 - 2 * 3600, "prev */4");
	CHECK(prot_cron_prev(&c, t0 - 7 * 60 - 2 * 3600) == t0 - 7 * 60 - 2 * 3600, "prev includes t");
	CHECK(prot_cron_next(&c, t0 - 7 * 60 - 2 * 3600) == t0 - 7 * 60 + 2 * 3600, "next excludes t");
	prot_cron_parse("0 0 29 2 *", &c, NULL, 0);
	{
		int64_t want, got = prot_cron_next(&c, t0);
		sched_slot_scan("2028-02-29T00:00Z", &want);
		CHECK(got == want, "next Feb 29");
		sched_slot_scan("2096-03-01T00:00Z", &t0);
		sched_slot_scan("2104-02-29T00:00Z", &want);
		CHECK(prot_cron_next(&c, t0) == want, "2100 is no leap year");
	}
	/* both day fields restricted: either; one with '*': both */
	prot_cron_parse("0 0 13 * 5", &c, NULL, 0);
	sched_slot_scan("2025-06-01T00:00Z", &t0);
	{
		int64_t want;
		sched_slot_scan("2025-06-06T00:00Z", &want); /* a Friday, before the 13th */
		CHECK(prot_cron_next(&c, t0) == want, "dom or dow");
		prot_cron_parse("0 0 */2 * 5", &c, NULL, 0);
		sched_slot_scan("2025-06-13T00:00Z", &want); /* a Friday on an odd day ("*" first: and) */
		CHECK(prot_cron_next(&c, t0) == want, "dom and dow");
	}
}

static void test_gap(void)
{
	struct prot_timing t[2] = { { .kind = PROT_CRON }, { .kind = PROT_CRON } };

	prot_cron_parse("0 0 * * *", &t[0].cron, NULL, 0);
	prot_cron_parse("0 12 * * *", &t[1].cron, NULL, 0);
	CHECK(prot_max_gap(t, 1, 3600) == 86400, "daily: %lld", (long long)prot_max_gap(t, 1, 3600));
	CHECK(prot_max_gap(t, 2, 43200) == 43200, "two interleaved: %lld", (long long)prot_max_gap(t, 2, 43200));
	CHECK(prot_max_gap(t, 2, 86400) <= 86400, "within a limit one of them keeps");
	CHECK(prot_max_gap(t, 2, 3600) > 3600, "above the limit");
	prot_cron_parse("0 0 * * 1-5", &t[0].cron, NULL, 0);
	CHECK(prot_max_gap(t, 1, 7 * 86400) == 3 * 86400, "weekdays: %lld", (long long)prot_max_gap(t, 1, 7 * 86400));
	prot_cron_parse("0 0 31 * *", &t[0].cron, NULL, 0);
	CHECK(prot_max_gap(t, 1, 366 * 86400) == 61 * 86400, "the 31st: %lld", (long long)prot_max_gap(t, 1, 366 * 86400));
	t[0] = (struct prot_timing){ .kind = PROT_EVERY, .every = 7200 };
	CHECK(prot_max_gap(t, 1, 3600) == 7200, "every");
}

static void test_list(void)
{
	struct spec_problems p = { 0 };
	struct prot_policy *pol = NULL;
	json_t *spec = NULL;
	size_t n = 0;

	CHECK(parse(SPEC("{'name':'a','vms':['web1'],'schedules':[{'every':'60m','keep':4},{'cron':'0  0 * * *','keep':7},{'every':'1w','keep':2,'label':'weekly'}]},"
			 "{'name':'b','datastores':['ds3','ds1'],'schedules':[{'every':'1d','keep':1}],'catch_up':'skip','consistency':'vm',"
			 "'snapmirror':{'destination_svm':'dr','rpo':'2d','update':{'every':'12h'}}}"), &p, &spec) == 0,
	      "%s", all(&p));
	CHECK(prot_spec_list(spec, &pol, &n) == 0 && n == 2, "list");
	if (pol && n == 2) {
		CHECK(pol[0].by_vms && pol[0].n_vms == 1 && pol[0].n_datastores == 1 && !strcmp(pol[0].datastores[0], "ds2"),
		      "vms resolve to their datastores");
		CHECK(pol[0].n_schedules == 3 && !strcmp(pol[0].schedules[0].label, "1h") && pol[0].schedules[0].keep == 4,
		      "label of every: %s", pol[0].schedules[0].label);
		CHECK(!strncmp(pol[0].schedules[1].label, "cron-", 5) && strlen(pol[0].schedules[1].label) == 13,
		      "label of cron: %s", pol[0].schedules[1].label);
		CHECK(!strcmp(pol[0].schedules[2].label, "weekly") && pol[0].schedules[2].timing.every == 604800, "weekly");
		CHECK(pol[0].consistency == PROT_CRASH && pol[0].catch_up == PROT_CATCH_UP_ONCE && !pol[0].has_mirror, "defaults");
		CHECK(!pol[1].by_vms && pol[1].n_datastores == 2 && !strcmp(pol[1].datastores[0], "ds1") &&
		      !strcmp(pol[1].datastores[1], "ds3"), "datastores in the spec's order");
		CHECK(pol[1].catch_up == PROT_CATCH_UP_SKIP && pol[1].consistency == PROT_VM, "catch_up, consistency");
		CHECK(pol[1].has_mirror && !strcmp(pol[1].mirror.destination_svm, "dr") && !pol[1].mirror.destination_volume &&
		      !strcmp(pol[1].mirror.destination_volume_suffix, "_dr") && !strcmp(pol[1].mirror.policy, "MirrorAllSnapshots") &&
		      pol[1].mirror.rpo == 2 * 86400 && !pol[1].mirror.update_after_snapshot &&
		      pol[1].mirror.update.every == 43200, "mirror defaults");

		/* the same cron spelled with other blanks has the same label */
		{
			struct prot_policy *p2 = NULL;
			size_t n2;
			json_t *s2 = NULL;
			CHECK(parse(SPEC("{'name':'a','datastores':['ds1'],'schedules':[{'cron':'0 0 * * *','keep':7}]}"), &p, &s2) == 0, "%s", all(&p));
			CHECK(prot_spec_list(s2, &p2, &n2) == 0 && !strcmp(p2[0].schedules[0].label, pol[0].schedules[1].label),
			      "cron label stable");
			free(p2);
			json_decref(s2);
		}
		/* destinations against the source volumes */
		{
			const char *dss[] = { "ds1", "ds2", "ds3", "ds1_dr" };
			struct prot_policy m = pol[1];
			spec_problems_clear(&p);
			CHECK(prot_check_destinations(&m, 1, dss, 3, "svm1", "kvmcd_c", &p) == 0, "another SVM: %s", all(&p));
			m.mirror.destination_svm = "SVM1";
			CHECK(prot_check_destinations(&m, 1, dss, 3, "svm1", "kvmcd_c", &p) == 0, "suffix on the same SVM: %s", all(&p));
			CHECK(prot_check_destinations(&m, 1, dss, 4, "svm1", "kvmcd_c", &p) == -EINVAL &&
			      has(&p, "protection[0].snapmirror.destination_volume_suffix: the destination of ds1, volume kvmcd_c_ds1_dr on SVM SVM1 (the source SVM), is the volume of datastore ds1_dr"),
			      "suffix onto another datastore: %s", all(&p));
			spec_problems_clear(&p);
			m.mirror.destination_volume = "kvmcd_c_ds1";
			m.n_datastores = 1;
			CHECK(prot_check_destinations(&m, 1, dss, 3, "svm1", "kvmcd_c", &p) == -EINVAL &&
			      has(&p, "is the volume of its own datastore ds1: the mirror would overwrite it"), "own volume: %s", all(&p));
		}
		/* consistency groups against the ONTAP release: policy b has two datastores, a one */
		spec_problems_clear(&p);
		CHECK(prot_check_ontap_version(pol, 2, 9, 10, 1, &p) == 0 && p.n == 0, "9.10.1 has CGs: %s", all(&p));
		CHECK(prot_check_ontap_version(pol, 2, 9, 16, 0, &p) == 0 && p.n == 0, "9.16.0: %s", all(&p));
		CHECK(prot_check_ontap_version(pol, 2, 9, 10, 0, &p) == -EINVAL && p.n == 1 &&
		      has(&p, "protection[1].datastores: policy b cuts 2 datastores (ds1, ds3) together as one ONTAP consistency group snapshot, which needs ONTAP 9.10.1 or later; the cluster runs 9.10.0"),
		      "9.10.0: %s", all(&p));
		spec_problems_clear(&p);
		CHECK(prot_check_ontap_version(pol, 1, 9, 8, 0, &p) == 0 && p.n == 0, "one datastore needs no CG: %s", all(&p));
	}
	free(pol);
	json_decref(spec);
	spec_problems_clear(&p);
	spec = json_object();
	CHECK(prot_spec_list(spec, &pol, &n) == 0 && !pol && n == 0, "no policies");
	json_decref(spec);
}

static void test_diff(void)
{
	json_t *a = NULL, *b = NULL;
	struct spec_problems p = { 0 };
	char *d;

	parse(SPEC(POL("")), &p, &a);
	parse(SPEC("{'name':'gold','datastores':['ds1'],'schedules':[{'every':'1h','keep':48}]}"), &p, &b);
	d = spec_diff(a, b);
	CHECK(d && strstr(d, "~ protection[name=gold].schedules[0].keep: 24 -> 48"), "diff: %s", d ? d : "(null)");
	free(d);
	json_decref(a);
	json_decref(b);
	spec_problems_clear(&p);
}

static void test_names(void)
{
	char name[SCHED_NAME_MAX], pol[PROT_NAME_MAX + 1], lab[PROT_LABEL_MAX + 1], txt[SCHED_SLOT_TEXT];
	int64_t slot, back;

	CHECK(sched_slot_scan("2025-03-01T14:00Z", &slot) == 0, "scan");
	CHECK(sched_snapshot_name("gold", "1h", slot, name) == 0 && !strcmp(name, "kvmcd.gold.1h.20250301T1400Z"), "%s", name);
	CHECK(sched_snapshot_parse(name, pol, lab, &back) == 0 && back == slot && !strcmp(pol, "gold") && !strcmp(lab, "1h"),
	      "parse back");
	CHECK(!strcmp(sched_slot_format(slot, txt), "2025-03-01T14:00Z"), "%s", txt);
	CHECK(sched_snapshot_name("gold", "1h", slot + 30, name) == -EINVAL, "not a whole minute");
	CHECK(sched_snapshot_name("Gold", "1h", slot, name) == -EINVAL, "bad policy");
	static const char *const foreign[] = {
		"kvmcd.gold.1h.20250301T1400Z.x", "kvmcd.gold.1h.20250230T1400Z", "kvmcd.gold.1h.20250301T2400Z",
		"kvmcd.gold.20250301T1400Z", "kvmcd.Gold.1h.20250301T1400Z", "kvmcd.gold.1h.20250301t1400z",
		"snapmirror.1234_5678.2025-03-01_140000", "hourly.2025-03-01_1405", "kvmcd..1h.20250301T1400Z",
		"kvmcd.gold.1h.2025030lT1400Z", "xkvmcd.gold.1h.20250301T1400Z", "kvmcd.gold.+snapmirror.20250301T1400Z",
	};
	for (size_t i = 0; i < sizeof(foreign) / sizeof(foreign[0]); i++)
		CHECK(sched_snapshot_parse(foreign[i], pol, lab, &back) == -EINVAL, "read %s as kvmcd's", foreign[i]);
	CHECK(sched_slot_scan("2025-02-29T00:00Z", &slot) == -EINVAL, "Feb 29 2025");
	CHECK(sched_slot_scan("2024-02-29T00:00Z", &slot) == 0, "Feb 29 2024");
}

int main(void)
{
	test_valid();
	test_policy_rules();
	test_schedules();
	test_mirror();
	test_durations_and_cron();
	test_gap();
	test_list();
	test_diff();
	test_names();
	return tap_done("test-protection-spec");
}
