/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Deltas between two versions of a node section. A node whose section changed multicasts what
 * changed rather than all of it (core.c, WIRE_NODE_SECTION_PATCH): with 50 datastores a section
 * is ~16 KB and one walk step changes a few hundred bytes of it, and every byte multicast is
 * encrypted, ordered and delivered by corosync on every member.
 *
 * Not an RFC 7386 merge patch: there a null deletes, and sections hold nulls ("error": null,
 * a datastore's "device" before it is attached). A delta is a tree of nodes, each a JSON object
 * with exactly one member:
 *   {"=": VALUE}          the value becomes VALUE (any JSON value, null included);
 *   {"-": true}           the member is deleted (only below a "/" node);
 *   {"/": {KEY: NODE...}} the value is an object: each KEY changes as its NODE says, the other
 *                         members stay.
 * The root is a "/" node. Example: {"/":{"datastores":{"/":{"ds1":{"/":{"error":{"=":null}}},
 * "ds7":{"-":true}}}}}.
 *
 * Pure functions, no I/O. Neither modifies its arguments.
 */
#pragma once

#include <jansson.h>

/*
 * The delta that turns the object `from` into the object `to` (both borrowed): a "/" node,
 * {"/":{}} when they are equal. NULL when either is not an object or memory ran out. The result
 * is owned by the caller; it may share members of `to`.
 */
json_t *section_delta_diff(const json_t *from, const json_t *to);

/*
 * `target` with `delta` applied (both borrowed), into *out (owned by the caller). The result
 * shares the members the delta leaves unchanged with `target` (and values of `delta`): treat
 * all three as immutable afterwards. Returns 0, -EINVAL when the delta is malformed or does not
 * fit `target` (a "/" over a non-object, a "-" of a member it lacks: it was made from another
 * version), or -ENOMEM.
 */
int section_delta_apply(const json_t *target, const json_t *delta, json_t **out);
