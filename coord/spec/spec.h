/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The cluster spec: the desired state an admin applies with `kvmcctl spec apply`.
 *
 * A JSON object. At this stage it knows six keys, all optional:
 *   "nodes":      array of {"name": string, "id": integer 1..2^31-1, "labels": {string: string}}
 *                 names and ids unique; the id is the corosync node id of that host.
 *   "labels":     object mapping label keys to string values.
 *   "datastores": array of datastore objects (name, protocol, size, fs, nfs, smb, path, clone); their
 *                 rules, defaults and limits are in datastore.h. Refusals that need the spec in
 *                 force (a protocol or fs changed, a datastore shrunk) are spec_validate_change()'s.
 *   "destroy_data": names of datastores removed from "datastores" whose ONTAP volume the user
 *                 asked to destroy (`kvmcctl datastore remove NAME --destroy-data`); datastore.h
 *                 says why it is here and how it is kept from being set by accident.
 *   "vms":        array of VM objects (name, domain_xml, state, placement, ha); their rules,
 *                 defaults and limits are in vm.h (every disk on a datastore of the same spec).
 *   "protection": array of protection policies (name, datastores or vms, schedules, consistency,
 *                 catch_up, snapmirror); their rules, defaults and limits are in protection.h.
 * Label keys: 1..63 chars of [A-Za-z0-9._/-], starting with a letter or digit; values: strings of
 * at most 256 bytes without control characters. Any other key anywhere is an error, so a typo
 * is never silently ignored.
 *
 * Validation is whole: every problem is collected (with a JSON path such as
 * "nodes[1].name") before the verdict, so an admin fixes a file in one go.
 * Pure: no I/O.
 */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SPEC_MAX_BYTES (64u * 1024u * 1024u)
#define SPEC_MAX_PROBLEMS 100u

struct spec_problems {
	unsigned n;                       /* problems recorded (at most SPEC_MAX_PROBLEMS) */
	unsigned dropped;                 /* problems beyond the cap, counted only */
	char *text[SPEC_MAX_PROBLEMS];    /* owned: "path: what is wrong" */
};

void spec_problems_clear(struct spec_problems *p);
/* All problems as one "\n"-separated string (owned by the caller), or NULL when there are none. */
char *spec_problems_join(const struct spec_problems *p);

/*
 * Parses and validates text[0..len). On success returns 0 and *out holds a new reference to
 * the spec (owned by the caller). On failure returns -EINVAL with every problem in *problems
 * (which the caller clears) and leaves *out untouched.
 */
int spec_parse(const char *text, size_t len, json_t **out, struct spec_problems *problems);

/* Validates an already-parsed document; same contract as spec_parse. */
int spec_validate(const json_t *spec, struct spec_problems *problems);

/* Whether s is a host name as the spec's nodes[].name takes it (1-63 chars of A-Z a-z 0-9 - . _,
 * starting with a letter or digit); also the rule of a VM's placement prefer / avoid. */
bool spec_node_name_ok(const char *s);

/* The spec as canonical text: sorted keys, compact. Owned by the caller. NULL on ENOMEM. */
char *spec_canonical(const json_t *spec);

/* 64-bit FNV-1a of bytes; used to compare replicated states cheaply. */
uint64_t spec_hash_bytes(const void *data, size_t len);

/*
 * Human-readable differences between two specs ("+ labels.env = \"prod\"", "- nodes[name=kvm3] = {...}",
 * "~ labels.tier: \"a\" -> \"b\""), one per line, in a stable order. Returns an owned string,
 * empty when equal; NULL on ENOMEM.
 * Entries of arrays of objects with a string "name" (nodes, datastores) are keyed by that name,
 * so reordering them is no change: an entry added or removed is one line with the whole entry
 * ("+ datastores[name=ds1] = {\"name\":\"ds1\",...}"), a changed entry one line per changed
 * leaf ("~ datastores[name=ds1].size: \"100G\" -> \"200G\""). A datastore's size change also
 * says the sizes in binary units when either side is in bytes, and "(same size)" when only the
 * spelling changed.
 */
char *spec_diff(const json_t *from, const json_t *to);

/*
 * For the validators of parts of the spec (datastore.c): records "path: what is wrong" in *p,
 * counting it in p->dropped beyond SPEC_MAX_PROBLEMS (or when out of memory).
 */
void spec_problem(struct spec_problems *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
