/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * kvmcd's logger: one object owned by the daemon and handed (borrowed) to every module.
 *
 * Lines go to the journal (with PRIORITY and SYSLOG_IDENTIFIER) or to stderr with a fixed prefix
 * "kvmcd[PID]: LEVEL: ", filtered by the configured level. Independently of that level, the
 * last LOG_RING_LINES lines of every level (debug included) are kept in memory so `kvmcctl log`
 * can show what happened just before a problem without turning debug logging on.
 */
#pragma once

#include <jansson.h>
#include <stdarg.h>
#include <stdbool.h>
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

/* Logs and returns r (a negative errno), for "return log_error(..., r)" at decision points. */
#define klog_errno(l, level, r, fmt, ...) ({ klog(l, level, fmt, ##__VA_ARGS__); (r); })

/* The ring as a JSON array of strings "2026-11-24T11:52:09.123Z LEVEL message", oldest first. */
json_t *klog_ring_json(const struct klog *l);
