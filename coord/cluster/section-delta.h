/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * JSON merge patches (RFC 7386) between two versions of a node section. A node whose section
 * changed multicasts what changed rather than all of it (core.c, WIRE_NODE_SECTION_PATCH): with
 * 50 datastores a section is ~20 KB and one walk step changes a few hundred bytes of it, and
 * every byte multicast is encrypted, ordered and delivered by corosync on every member.
 *
 * Pure functions, no I/O. Neither modifies its arguments.
 */
#pragma once

#include <jansson.h>

/*
 * A merge patch that turns the object `from` into the object `to` (both borrowed), or NULL when
 * no merge patch can express it -- `to` holds a null member inside an object, which a merge patch
 * would read as "delete" -- or memory ran out. Arrays and scalars that differ are carried whole.
 * The result is owned by the caller; it may share members of `to`.
 */
json_t *section_delta_diff(const json_t *from, const json_t *to);

/*
 * `target` with the merge patch `patch` applied (RFC 7386 section 2; both borrowed), or NULL when
 * memory ran out. The result is owned by the caller and shares the members the patch leaves
 * unchanged with `target` (and members of `patch`): treat all three as immutable afterwards.
 */
json_t *section_delta_apply(const json_t *target, const json_t *patch);
