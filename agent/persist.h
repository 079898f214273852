/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The replicated state on disk: <state_dir>/state.json, written atomically (temporary file,
 * fsync, rename, fsync of the directory) so that after a crash the file is either the old or
 * the new state, never a mix -- "persist, then acknowledge" depends on it.
 */
#pragma once

#include <stddef.h>

#define PERSIST_STATE_FILE "state.json"
#define PERSIST_LOCK_FILE "kvmcd.lock"
#define PERSIST_MAX_BYTES (256u * 1024u * 1024u) /* a spec is at most 64 MiB; leave room */

/*
 * Creates state_dir (mode 0700) if missing and takes an exclusive lock on <state_dir>/kvmcd.lock
 * so two daemons never share one state. Returns the lock fd (owned by the caller; the lock
 * lives as long as it is open), -EBUSY when another process holds it, or a negative errno.
 */
int persist_lock(const char *state_dir);

/*
 * Reads <state_dir>/state.json. Returns 0 with *out (owned, NUL-terminated) or *out = NULL when
 * the file does not exist (a fresh node); a negative errno when it cannot be read.
 */
int persist_read(const char *state_dir, char **out);

/* Replaces <state_dir>/state.json with text[0..len) atomically and durably. 0 or negative errno. */
int persist_write(const char *state_dir, const char *text, size_t len);
