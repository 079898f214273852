/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * libFuzzer target: what `kvmcctl preflight` reads from outside. The inventories in the node
 * sections come from other nodes over CPG, the SVM record from the leader: the input, as JSON
 * {"nodes": {"<name>": inventory | anything, ...}, "svm": anything}, goes through
 * preflight_check() with every protocol and file system wanted; and the raw bytes go through the
 * inventory's own text parsers (os-release, initiatorname.iscsi). Besides memory safety, the
 * properties each promises are checked (abort on violation).
 */
#include <errno.h>
#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "inventory.h"
#include "preflight.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(int cond)
{
	if (!cond)
		abort();
}

static void fuzz_text(const char *text)
{
	json_t *os = NULL, *v;
	const char *k, *fam;
	char *iqn = NULL;
	int r;

	if (inventory_parse_os_release(text, &os) == 0) {
		check(json_object_size(os) == 4);
		json_object_foreach(os, k, v) {
			check(json_is_null(v) || json_is_string(v));
			if (json_is_string(v)) {
				check(json_string_length(v) > 0 && json_string_length(v) <= 255);
				for (const char *c = json_string_value(v); *c; c++)
					check((unsigned char)*c >= ' ' && *c != 0x7f);
			}
		}
		fam = preflight_family(os);
		check(!fam || !strcmp(fam, "debian") || !strcmp(fam, "fedora") || !strcmp(fam, "arch"));
		json_decref(os);
	}
	r = inventory_parse_iqn(text, &iqn);
	if (r == 0)
		check(!strncmp(iqn, "iqn.", 4) || !strncmp(iqn, "eui.", 4) || !strncmp(iqn, "naa.", 4));
	if (r == 0 || r == -EINVAL)
		check(iqn != NULL);
	free(iqn);
}

static void fuzz_report(const json_t *doc)
{
	static const bool all_protocols[_DS_PROTO_MAX] = { true, true, true, true, true };
	static const bool all_fs[_DS_FS_MAX] = { false, true, true };
	struct preflight_node nodes[32];
	struct preflight_input in = { .protocols = all_protocols, .file_systems = all_fs, .nodes = nodes,
				      .svm = json_object_get(doc, "svm") };
	json_t *rep = NULL, *f, *inv;
	const char *name;
	size_t i, failed = 0;

	json_object_foreach((json_t *)json_object_get(doc, "nodes"), name, inv) {
		if (in.n_nodes == 32)
			break;
		nodes[in.n_nodes] = (struct preflight_node){ .name = name, .inventory = inv, .member = in.n_nodes % 2 };
		in.n_nodes++;
	}
	if (preflight_check(&in, &rep) < 0)
		return; /* ENOMEM only */
	json_array_foreach(json_object_get(rep, "findings"), i, f) {
		const json_t *ok = json_object_get(f, "ok");
		check(json_string_value(json_object_get(f, "check")) != NULL);
		check(json_string_value(json_object_get(f, "found")) != NULL);
		check(json_is_true(ok) ? json_is_null(json_object_get(f, "fix"))
				       : json_string_value(json_object_get(f, "fix")) != NULL);
		failed += json_is_false(ok);
	}
	check(json_is_true(json_object_get(rep, "ok")) == (failed == 0));
	check(json_array_size(json_object_get(rep, "nodes")) == in.n_nodes);
	json_decref(rep);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *text = malloc(size + 1);
	json_t *doc;

	if (!text)
		return 0;
	memcpy(text, data, size);
	text[size] = '\0';
	fuzz_text(text);
	free(text);
	doc = json_loadb((const char *)data, size, 0, NULL);
	if (json_is_object(doc))
		fuzz_report(doc);
	json_decref(doc);
	return 0;
}
