/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The replicated state on disk, in <state_dir>:
 *
 *   state.json     the last snapshot (core_persist_json()), replaced atomically: temporary file,
 *                  fsync, rename, fsync of the directory -- after a crash it is the old or the
 *                  new snapshot, never a mix.
 *   journal.jsonl  the core's journal records since that snapshot, one JSON text per line,
 *                  each appended with one write and made durable with fdatasync before
 *                  persist_append() returns. Opened by its path for every append (see
 *                  persist.c: a descriptor kept open would go on writing into a file deleted,
 *                  moved or remounted read-only under it) and refused (-ESTALE) if its size is
 *                  not the one this process left.
 *   kvmcd.lock     flock()ed while a daemon uses the directory.
 *
 * "Persist, then acknowledge" depends on three properties, each tested in tests/test-persist.c:
 *   - an append that fails (short write, ENOSPC, EFBIG, fdatasync error) is cut back to the
 *     journal's previous size, so a torn line is never followed by a good one; if even that
 *     fails, every later append fails until a snapshot starts a new journal;
 *   - a snapshot is made durable BEFORE the journal is emptied: a crash in between leaves the
 *     new snapshot and the old journal, whose records the core skips by version on replay;
 *   - a torn last line (a crash mid-append: never acknowledged) is cut off when the directory
 *     is opened, before anything is appended after it.
 *
 * One struct persist per daemon; it holds the lock and the journal's size.
 * Every function returns 0 or a negative errno and writes its outputs only on success.
 */
#pragma once

#include <stddef.h>
#include <stdint.h>

#define PERSIST_STATE_FILE "state.json"
#define PERSIST_JOURNAL_FILE "journal.jsonl"
#define PERSIST_LOCK_FILE "kvmcd.lock"
#define PERSIST_MAX_BYTES (256u * 1024u * 1024u) /* a spec is at most 64 MiB; leave room */
/* The daemon snapshots once the journal outgrows max(1 MiB, snapshot), so it stays below the
 * snapshot limit plus one record; refuse to read anything larger. */
#define PERSIST_MAX_JOURNAL_BYTES (2u * PERSIST_MAX_BYTES)

struct persist;

/*
 * Opens state_dir: creates it (mode 0700) if missing, takes an exclusive lock on
 * <state_dir>/kvmcd.lock (-EBUSY when another process holds it), opens journal.jsonl for
 * appending (created, mode 0600) and cuts a torn last line off it. *out is owned by the
 * caller (persist_free()); the lock lives as long as it does.
 */
int persist_open(const char *state_dir, struct persist **out);

/* Closes the journal and releases the lock; accepts NULL. */
void persist_free(struct persist *p);

/*
 * Reads the snapshot and the journal. *snapshot is NULL when there is no state.json (a fresh
 * node); *journal is NULL when the journal is empty. Both owned, NUL-terminated. -EBADMSG for a
 * file with NUL bytes (not one we wrote), -EFBIG beyond the limits, -EBADFD for a non-file.
 */
int persist_read(struct persist *p, char **snapshot, char **journal);

/*
 * Appends rec[0..len) and a newline to the journal and fdatasync()s it. rec is one line: it must
 * not contain a newline (-EINVAL). On any failure the journal is cut back to its size before the
 * call (and stays refused, -EIO, if that fails too, until the next persist_write()). -ESTALE
 * when the file is not as this process left it (changed, replaced or truncated by someone else).
 */
int persist_append(struct persist *p, const char *rec, size_t len);

/*
 * Replaces state.json with text[0..len) atomically and durably, THEN empties the journal and
 * fsync()s it (the journal is the records since this snapshot: none).
 */
int persist_write(struct persist *p, const char *text, size_t len);

/* Current sizes in bytes, for the compaction policy and status. */
uint64_t persist_journal_bytes(const struct persist *p);
uint64_t persist_snapshot_bytes(const struct persist *p);
const char *persist_dir(const struct persist *p);
