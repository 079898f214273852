/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * kvmcd's logger: one object owned by the daemon and handed (borrowed) to every module.
 *
 * Lines go to the journal (with PRIORITY and SYSLOG_IDENTIFIER) or to stderr with a fixed prefix
 * "kvmcd[PID]: LEVEL: ", preceded by the UTC time ("2026-11-27T09:43:46.003Z ", as in
 * `kvmcctl log`) unless stderr is the journal's stream, filtered by the configured level. In the journal every line also
 * carries structured fields an admin can filter on (`journalctl KVMCD_VM=web1`):
 *   KVMCD_NODE       this node's name (klog_set_context)
 *   KVMCD_EPOCH      the leadership epoch this node follows, when there is one
 *   KVMCD_VM, KVMCD_DATASTORE, KVMCD_PEER (another node the line is about: a fenced one, a
 *   migration's target), KVMCD_POLICY   when the caller names them (klogf). Independently of that level, the
 * last LOG_RING_LINES lines of every level (debug included) are kept in memory so `kvmcctl log`
 * can show what happened just before a problem without turning debug logging on.
 */
#pragma once

#include <jansson.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <syslog.h>

#include "config.h"
#include "macros.h"

#define LOG_RING_LINES 1000u

struct klog;

/* Starts logging at LOG_INFO to the automatic target. Returns 0 or -ENOMEM. */
int klog_new(struct klog **out);
void klog_free(struct klog *l);

/* level: LOG_ERR..LOG_DEBUG; target: enum log_target; force_stderr: --foreground. */
void klog_configure(struct klog *l, int level, int target, bool force_stderr);

void klog(struct klog *l, int level, const char *fmt, ...) _printf_(3, 4);
void klogv(struct klog *l, int level, const char *fmt, va_list ap) _printf_(3, 0);

/* What a line is about; every member may be NULL. Borrowed for the call. */
struct klog_fields {
	const char *vm, *datastore, *peer, *policy;
};
void klogf(struct klog *l, int level, const struct klog_fields *f, const char *fmt, ...) _printf_(4, 5);
#define KLOG_VM(name) (&(const struct klog_fields){ .vm = (name) })
#define KLOG_DS(name) (&(const struct klog_fields){ .datastore = (name) })
#define KLOG_PEER(name) (&(const struct klog_fields){ .peer = (name) })
#define KLOG_POLICY(name) (&(const struct klog_fields){ .policy = (name) })

/* This node's name (copied; NULL: none yet) and the epoch it follows (0: none), for every
 * line's KVMCD_NODE / KVMCD_EPOCH. */
void klog_set_context(struct klog *l, const char *node, uint64_t epoch);

/* The journal fields of one line ("KEY=value" strings, owned by the caller: free each and the
 * array), for the journal and for tests. Values are cut at a newline (a field is one line). */
int klog_journal_fields(const struct klog *l, int level, const struct klog_fields *f, const char *msg,
			char ***out, size_t *n);

/* Logs and returns r (a negative errno), for "return log_error(..., r)" at decision points. */
#define klog_errno(l, level, r, fmt, ...) ({ klog(l, level, fmt, ##__VA_ARGS__); (r); })

/* The ring as a JSON array of strings "2026-11-24T11:52:09.123Z LEVEL message", oldest first. */
json_t *klog_ring_json(const struct klog *l);
