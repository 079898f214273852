/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * kvmcd.conf: an INI file described by ONE schema table (config.c, config_schema[]). Every key has
 * a type, bounds, a default, a unit and a description; `kvmcd --dump-config` style output and
 * packaging/kvmcd.conf.example are written from the same facts.
 *
 * Parsing is all or nothing: every problem (syntax, unknown section or key, duplicate, bad value,
 * out of bounds) is collected as "file:line: [section] key: problem" before the verdict, so an
 * admin fixes the file in one go, and the daemon refuses to start (or keeps its old config on
 * SIGHUP) when there is any.
 *
 * Every path the daemon touches comes from here, so several daemons run on one machine.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "resources/ontap/ontap-options.h"

enum log_target {
	LOG_TARGET_AUTO,    /* journal when started by systemd ($JOURNAL_STREAM / $INVOCATION_ID) */
	LOG_TARGET_JOURNAL,
	LOG_TARGET_STDERR,
};

/* A loaded configuration. Every string is owned by the struct (config_free()). */
struct kvmcd_config {
	char *path;                   /* the file it came from, for messages; "(defaults)" if none */
	/* [node] */
	char *node_name;              /* default: the host name */
	/* [cluster] */
	char *cluster_group;          /* CPG group name, <= 127 bytes */
	unsigned stall_timeout_ms;
	unsigned request_timeout_ms;
	unsigned reconnect_max_ms;
	/* [paths] */
	char *state_dir;
	char *run_dir;
	char *socket_path;            /* default: <run_dir>/kvmcd.sock */
	/* [api] */
	char *api_group;              /* unix group allowed on the socket besides root */
	/* [log] */
	int log_level;                /* syslog priority: LOG_ERR .. LOG_DEBUG */
	int log_target;               /* enum log_target */
	/* [ontap] */
	struct ontap_options ontap;
};

/* The collected problems of one parse. */
struct config_errors {
	size_t n;
	char **text; /* owned, n entries: "file:line: [section] key: problem" */
};

void config_errors_clear(struct config_errors *e);

/* Frees what cfg owns and the struct itself; accepts NULL. */
void config_free(struct kvmcd_config *cfg);
static inline void config_freep(struct kvmcd_config **c) { config_free(*c); }
#define _cleanup_config_ __attribute__((cleanup(config_freep)))

/*
 * Parses data[0..len) (the contents of `name`, used in messages). Returns 0 and *out (owned by
 * the caller) when the file is valid; -EINVAL with every problem appended to *errors when it is
 * not; -ENOMEM. *out is untouched on failure. Never touches the file system (the fuzz target
 * calls it), but does read the host name for the [node] name default.
 */
int config_parse_buffer(const char *name, const char *data, size_t len, struct kvmcd_config **out,
			struct config_errors *errors);

/*
 * Reads and parses the file at path. A missing file is an error (-ENOENT, with a message) unless
 * missing_ok, in which case the defaults are returned. Same contract as config_parse_buffer.
 */
int config_load(const char *path, bool missing_ok, struct kvmcd_config **out, struct config_errors *errors);

/*
 * For SIGHUP: compares `next` (a freshly loaded config) with `cur` (running) key by key. Keys
 * that can change at runtime keep next's value; keys that need a restart get cur's value back
 * in `next` so the daemon keeps running with what it started with. For every differing key
 * calls note(userdata, "section.key", runtime) so the caller can log it. Returns the number of
 * differing keys.
 */
size_t config_reload_merge(struct kvmcd_config *next, const struct kvmcd_config *cur,
			   void (*note)(void *userdata, const char *key, bool runtime), void *userdata);

/* Writes the schema as an annotated example file (every key commented out, with its default). */
void config_write_example(FILE *f);

const char *log_level_name(int level);
