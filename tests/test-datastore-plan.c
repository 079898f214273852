/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The datastore plan's small parts (names, sizes, op JSON, the edges of its input) and its
 * scale. What it plans is tested by the golden scenarios and random runs of plan-sim
 * (tests/scenarios/plan/, tests/scenario/plan-driver.c).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "datastore-plan.h"
#include "macros.h"
#include "tap.h"

static void test_names(void)
{
	char *s;

	s = dsplan_prefix("lab");
	CHECK(s && !strcmp(s, "kvmcd_lab"), "%s", s);
	free(s);
	s = dsplan_prefix("prod-eu.1 x");
	CHECK(s && !strcmp(s, "kvmcd_prod_eu_1_x"), "sanitised: %s", s);
	free(s);
	s = dsplan_prefix("a-very-long-corosync-cluster-name-that-goes-on-and-on");
	CHECK(s && strlen(s) == 40 && !strncmp(s, "kvmcd_a_very_long", 17), "at most 40: %s", s);
	free(s);
	s = dsplan_prefix(NULL);
	CHECK(s && !strcmp(s, "kvmcd_"), "%s", s);
	free(s);

	s = dsplan_volume_name("kvmcd_lab", "ds1");
	CHECK(s && !strcmp(s, "kvmcd_lab_ds1"), "%s", s);
	free(s);
	s = dsplan_lun_path("kvmcd_lab", "ds1");
	CHECK(s && !strcmp(s, "/vol/kvmcd_lab_ds1/lun0"), "%s", s);
	free(s);
	s = dsplan_namespace_path("kvmcd_lab", "ds1");
	CHECK(s && !strcmp(s, "/vol/kvmcd_lab_ds1/ns0"), "%s", s);
	free(s);
	s = dsplan_igroup_name("kvmcd_lab", "kvm-01.example.com");
	CHECK(s && !strcmp(s, "kvmcd_lab_kvm-01.example.com"), "host names pass: %s", s);
	free(s);
	s = dsplan_igroup_name("kvmcd_lab", "a b/c");
	CHECK(s && !strcmp(s, "kvmcd_lab_a_b_c"), "%s", s);
	free(s);
}

/* Which node formats: spread by name, the same whatever order the members come in, never the
 * node to avoid (the leader) while another can. */
static void test_formatter(void)
{
	const char *abc[] = { "n1", "n2", "n3" }, *cba[] = { "n3", NULL, "n2", "", "n1" }, *one[] = { "n2" };
	unsigned per[3] = { 0 }, avoided[3] = { 0 };
	char name[16];

	CHECK(dsplan_formatter(NULL, 0, "ds1", NULL) == NULL, "no node: none");
	CHECK(dsplan_formatter((const char *[]){ NULL, "" }, 2, "ds1", NULL) == NULL, "no named node: none");
	CHECK(!strcmp(dsplan_formatter(one, 1, "ds1", NULL), "n2"), "one node: that one");
	CHECK(!strcmp(dsplan_formatter(one, 1, "ds1", "n2"), "n2"), "one node, the one to avoid: still that one");
	for (int i = 0; i < 300; i++) {
		const char *a, *b;

		snprintf(name, sizeof(name), "b%03d", i);
		a = dsplan_formatter(abc, 3, name, NULL);
		b = dsplan_formatter(cba, 5, name, NULL);
		CHECK(a && b && !strcmp(a, b), "%s: %s in one order, %s in another", name, a, b);
		if (a)
			per[a[1] - '1']++;
		/* the leader (n1) formats none while n2 or n3 can, whatever the order */
		a = dsplan_formatter(abc, 3, name, "n1");
		b = dsplan_formatter(cba, 5, name, "n1");
		CHECK(a && b && !strcmp(a, b) && strcmp(a, "n1"), "%s, avoiding n1: %s in one order, %s in another", name, a, b);
		if (a)
			avoided[a[1] - '1']++;
	}
	CHECK(per[0] >= 60 && per[1] >= 60 && per[2] >= 60, "300 datastores over 3 nodes: %u / %u / %u", per[0],
	      per[1], per[2]);
	CHECK(avoided[0] == 0 && avoided[1] >= 100 && avoided[2] >= 100, "300 datastores over 3 nodes avoiding n1: %u / %u / %u",
	      avoided[0], avoided[1], avoided[2]);
	CHECK(!strcmp(dsplan_formatter(abc, 3, "ds1", "n9"), dsplan_formatter(abc, 3, "ds1", NULL)),
	      "avoiding a node that is not a member changes nothing");
	/* a node named twice counts once per entry, never out of the list */
	CHECK(dsplan_formatter((const char *[]){ "n1", "n1" }, 2, "ds1", NULL) &&
	      !strcmp(dsplan_formatter((const char *[]){ "n1", "n1" }, 2, "ds1", NULL), "n1"), "duplicates");
	CHECK(!strcmp(dsplan_formatter((const char *[]){ "n1", "n1" }, 2, "ds1", "n1"), "n1"), "duplicates of the one to avoid");
}

static void test_sizes(void)
{
	CHECK(dsplan_volume_size(DS_PROTO_NFS, 20ull << 20) == 20ull << 20, "NAS: the size");
	CHECK(dsplan_volume_size(DS_PROTO_SMB, 4097) == 8192, "rounded up to 4 KiB");
	CHECK(dsplan_volume_size(DS_PROTO_ISCSI, 100ull << 30) == 118111600640ull, "block: a tenth more (110G)");
	CHECK(dsplan_volume_size(DS_PROTO_NVME_TCP, 1ull << 30) % 4096 == 0 &&
	      dsplan_volume_size(DS_PROTO_NVME_TCP, 1ull << 30) >= (1ull << 30) + (1ull << 30) / 10, "block, rounded");
	CHECK(dsplan_volume_size(DS_PROTO_FC, DS_MAX_SIZE) > DS_MAX_SIZE, "no overflow at the maximum");
}

static void test_op_json(void)
{
	char *members[] = { "iqn.a", "iqn.b" };
	struct dsplan_op op = { .kind = DSPLAN_IGROUP_ENSURE, .object = "kvmcd_lab_n1", .members = members,
				.n_members = 2, .protocol = "iscsi", .comment = "kvmcd:c1", .wave = 0 };
	char *j = dsplan_op_json(&op);

	CHECK(j && !strcmp(j, "{\"kind\":\"igroup-ensure\",\"wave\":0,\"object\":\"kvmcd_lab_n1\",\"members\":[\"iqn.a\",\"iqn.b\"],"
			      "\"protocol\":\"iscsi\",\"comment\":\"kvmcd:c1\"}"), "%s", j);
	free(j);
	op = (struct dsplan_op){ .kind = DSPLAN_LUN_MAP_DELETE, .datastore = "ds1", .object = "/vol/v/lun0", .target = "ig", .wave = 2 };
	j = dsplan_op_json(&op);
	CHECK(j && !strcmp(j, "{\"kind\":\"lun-map-delete\",\"wave\":2,\"datastore\":\"ds1\",\"object\":\"/vol/v/lun0\",\"target\":\"ig\"}"),
	      "%s", j);
	free(j);
	op.kind = _DSPLAN_OP_MAX;
	CHECK(!dsplan_op_json(&op), "an unknown kind has no JSON");
	for (int k = 0; k < _DSPLAN_OP_MAX; k++)
		CHECK(dsplan_op_name((enum dsplan_op_kind)k) != NULL, "kind %d has a name", k);
	CHECK(!dsplan_op_name(_DSPLAN_OP_MAX) && !dsplan_op_name((enum dsplan_op_kind)-1), "out of range");
}

static struct dsplan *plan(const struct dsplan_input *in)
{
	struct dsplan *p = NULL;
	int r = dsplan_compute(in, &p);

	CHECK(r == 0 && p, "compute: %d", r);
	return p;
}

static void test_edges(void)
{
	struct dsplan_input in = { .prefix = "kvmcd_lab", .cluster_id = "c1" };
	struct dsplan *p;
	struct ds_spec ds[] = { { .name = "ds1", .protocol = DS_PROTO_ISCSI, .size = 1ull << 30 },
				{ .name = "ds1", .protocol = DS_PROTO_NFS, .size = 1ull << 30 } };
	struct dsplan_node nodes[] = { { .name = "n1", .iqn = "iqn.x:n1" }, { .name = "n1", .iqn = "iqn.x:other" },
				       { .name = "n/1", .iqn = "iqn.x:n3" }, { .name = "n_1", .iqn = "iqn.x:n4" } };
	struct dsplan_removal rm[] = { { .name = "ds1", .protocol = DS_PROTO_ISCSI, .destroy_data = true } };

	/* nothing at all, and no ONTAP state given */
	p = plan(&in);
	CHECK(p && !p->n_ops && !p->n_waves && !p->n_blocked && !p->n_waiting && !p->n_kept_volumes, "empty");
	dsplan_free(p);
	dsplan_free(NULL);

	/* a second datastore or node of the same name is ignored; a removal named like a datastore
	 * of the spec is ignored (the spec wins); two node names with one igroup name: the second
	 * waits */
	in.datastores = ds;
	in.n_datastores = 2;
	in.nodes = nodes;
	in.n_nodes = 4;
	in.removals = rm;
	in.n_removals = 1;
	p = plan(&in);
	if (p) {
		size_t igroups = 0, deletes = 0, volumes = 0;
		bool collision = false;
		for (size_t i = 0; i < p->n_ops; i++) {
			igroups += p->ops[i].kind == DSPLAN_IGROUP_ENSURE;
			volumes += p->ops[i].kind == DSPLAN_VOLUME_ENSURE;
			deletes += p->ops[i].kind == DSPLAN_VOLUME_DELETE || p->ops[i].kind == DSPLAN_LUN_DELETE;
		}
		for (size_t i = 0; i < p->n_waiting; i++)
			collision |= !strcmp(p->waiting[i].subject, "n_1") && strstr(p->waiting[i].why, "n/1");
		CHECK(volumes == 1 && igroups == 2 && deletes == 0 && p->n_waves == 3,
		      "volumes %zu, igroups %zu, deletes %zu, waves %u", volumes, igroups, deletes, p->n_waves);
		CHECK(collision, "igroup name collision reported");
	}
	dsplan_free(p);

	/* a node name too long for an igroup (ONTAP: 96 characters) waits */
	{
		char longname[90];
		struct dsplan_node one = { .name = longname, .iqn = "iqn.x:long" };
		memset(longname, 'h', sizeof(longname) - 1);
		longname[sizeof(longname) - 1] = 0;
		in.nodes = &one;
		in.n_nodes = 1;
		in.n_removals = 0;
		p = plan(&in);
		CHECK(p && p->n_waiting == 1 && strstr(p->waiting[0].why, "longer than ONTAP's 96"), "long name");
		for (size_t i = 0; p && i < p->n_ops; i++)
			CHECK(p->ops[i].kind != DSPLAN_IGROUP_ENSURE, "no igroup for it");
		dsplan_free(p);
		in.nodes = nodes;
		in.n_nodes = 4;
		in.n_removals = 1;
	}

	/* the SVM serving nothing: everything blocked, nothing planned */
	{
		bool serves[_DS_PROTO_MAX] = { false };
		in.svm_serves = serves;
		p = plan(&in);
		CHECK(p && !p->n_ops && p->n_blocked == 1 && strstr(p->blocked[0].why, "does not serve iscsi"), "svm");
		dsplan_free(p);
		in.svm_serves = NULL;
	}
}

/* DS_MAX_DATASTORES datastores on 16 nodes, half of it on ONTAP already: 3 waves, and fast. */
static void test_scale(void)
{
	enum { N = DS_MAX_DATASTORES, NODES = 16 };
	static struct ds_spec ds[N];
	static char dsname[N][16], vol[N][48], path[N][64], node[NODES][16], iqn[NODES][48], ig[NODES][32];
	static const char *inis[NODES][1];
	static struct dsplan_node nodes[NODES];
	static struct dsplan_ontap_volume vols[N];
	static struct dsplan_ontap_lun luns[N];
	static struct dsplan_ontap_igroup igs[NODES];
	static struct dsplan_ontap_map maps[N * NODES];
	struct dsplan_ontap o = { .volumes = vols, .luns = luns, .igroups = igs, .lun_maps = maps };
	struct dsplan_input in = { .prefix = "kvmcd_lab", .cluster_id = "c1", .datastores = ds, .n_datastores = N,
				   .nodes = nodes, .n_nodes = NODES, .ontap = &o };
	struct timespec a, b;
	struct dsplan *p;
	double ms;

	for (int n = 0; n < NODES; n++) {
		snprintf(node[n], sizeof(node[n]), "kvm%d", n);
		snprintf(iqn[n], sizeof(iqn[n]), "iqn.1994-05.com.redhat:kvm%d", n);
		snprintf(ig[n], sizeof(ig[n]), "kvmcd_lab_kvm%d", n);
		inis[n][0] = iqn[n];
		nodes[n] = (struct dsplan_node){ .name = node[n], .iqn = iqn[n] };
		igs[o.n_igroups++] = (struct dsplan_ontap_igroup){ ig[n], "iscsi", inis[n], 1, "kvmcd:c1" };
	}
	for (int i = 0; i < N; i++) {
		snprintf(dsname[i], sizeof(dsname[i]), "ds%d", i);
		snprintf(vol[i], sizeof(vol[i]), "kvmcd_lab_ds%d", i);
		snprintf(path[i], sizeof(path[i]), "/vol/kvmcd_lab_ds%d/lun0", i);
		ds[i] = (struct ds_spec){ .name = dsname[i], .protocol = DS_PROTO_ISCSI, .size = 100ull << 30 };
		if (i % 2)
			continue;
		vols[o.n_volumes++] = (struct dsplan_ontap_volume){ vol[i], dsplan_volume_size(DS_PROTO_ISCSI, 100ull << 30), "kvmcd:c1" };
		luns[o.n_luns++] = (struct dsplan_ontap_lun){ path[i], 100ull << 30, NULL, "kvmcd:c1" };
		for (int n = 0; n < NODES; n++)
			maps[o.n_lun_maps++] = (struct dsplan_ontap_map){ path[i], ig[n], n };
	}
	clock_gettime(CLOCK_MONOTONIC, &a);
	p = plan(&in);
	clock_gettime(CLOCK_MONOTONIC, &b);
	ms = (double)(b.tv_sec - a.tv_sec) * 1e3 + (double)(b.tv_nsec - a.tv_nsec) / 1e6;
	CHECK(p && p->n_ops == (size_t)(N / 2) * (2 + NODES) && p->n_waves == 3, "ops %zu, waves %u", p ? p->n_ops : 0,
	      p ? p->n_waves : 0);
	printf("%d datastores x %d nodes: %zu ops in %u waves, %.1f ms\n", N, NODES, p ? p->n_ops : 0, p ? p->n_waves : 0, ms);
	CHECK(ms < 2000, "%.1f ms", ms);
	dsplan_free(p);
}

int main(void)
{
	test_names();
	test_formatter();
	test_sizes();
	test_op_json();
	test_edges();
	test_scale();
	return tap_done("test-datastore-plan");
}
