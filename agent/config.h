/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * kvmcd.conf: an INI file. Each [section] is declared by the module it configures, as a
 * struct config_section: its keys (type, bounds, unit, description, runtime or restart) with
 * designated initializers, and ONE struct holding every default. config.c only collects the
 * sections (config_sections[]) and does the INI mechanics, the error collection, the reload
 * merge and the example file (`kvmcd --print-example-config`, packaging/kvmcd.conf.example).
 *
 * Parsing is all or nothing: every problem (syntax, unknown section or key, duplicate, bad value,
 * out of bounds, a rule across keys) is collected as "file:line: [section] key: problem" before
 * the verdict, so an admin fixes the file in one go, and the daemon refuses to start (or keeps
 * its old config on SIGHUP) when there is any. What needs the file system (a credentials file
 * that exists and is safe, PEM files that are readable) is checked by config_check_runtime(),
 * which kvmcd runs both at start-up and for --check-config.
 *
 * A config line holds at most CONFIG_LINE_MAX bytes (the line buffer compiled into the
 * packaged libinih); every string key's maximum length fits on one line (tests/test-config.c
 * checks each key), and a longer line is refused, never cut.
 *
 * Every path the daemon touches comes from here, so several daemons run on one machine.
 *
 * ---- Adding a section (e.g. [fencing], declared by fencing/) --------------------------------
 *  1. In the module's options header: the struct the section fills (strings are char *, owned;
 *     bool, unsigned, int for enums), a FOO_OPTIONS_DEFAULTS initializer with every default
 *     (the one place defaults live; the module's own code uses it too), and
 *        struct config_section;
 *        extern const struct config_section foo_config_section;
 *  2. The section itself in the module, e.g. fencing/fencing-config.c (it includes this header;
 *     see resources/ontap/ontap-config.c):
 *        static const struct fencing_options defaults = FENCING_OPTIONS_DEFAULTS;
 *        static const struct config_key keys[] = {
 *                { .name = "timeout", CONFIG_DURATION_AT(struct fencing_options, timeout_ms),
 *                  .min = 1000, .max = 60000, .unit = "ms", .runtime = true,
 *                  .description = "..." },
 *                { 0 },
 *        };
 *        const struct config_section fencing_config_section = {
 *                .name = "fencing", .offset = offsetof(struct kvmcd_config, fencing),
 *                .defaults = &defaults, .keys = keys,
 *                .check = NULL, .check_runtime = NULL,   (optional hooks, see below)
 *        };
 *     and that file in agent_config_lib's sources (agent/meson.build) and config_fuzz_sources
 *     (tests/meson.build).
 *  3. A field `struct fencing_options fencing;` in struct kvmcd_config below, and ONE line,
 *     `&fencing_config_section,`, in config.c's config_sections[] (its place there is its
 *     place in the example file).
 * Strings are freed by config_free(); the module's own code (a copy it keeps) uses its own
 * clear function.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "resources/ontap/ontap-options.h"
#include "resources/host/host-options.h"
#include "vms-options.h"
#include "ha-options.h"
#include "protection-options.h"
#include "metrics-options.h"

/* The longest config line, in bytes without the newline (libinih's INI_MAX_LINE minus 2). */
#define CONFIG_LINE_MAX 198u
/* The longest value of a path key, unless its key says less; fits one line with any key. */
#define CONFIG_PATH_MAX 160u
/* Host names (and with them node names): the kernel's limit, HOST_NAME_MAX. */
#define CONFIG_HOST_NAME_MAX 64u

enum log_target {
	LOG_TARGET_AUTO,    /* journal when started by systemd ($JOURNAL_STREAM / $INVOCATION_ID) */
	LOG_TARGET_JOURNAL,
	LOG_TARGET_STDERR,
};

/* A loaded configuration. Every string is owned by the struct (config_free()). */
struct kvmcd_config {
	char *path;                   /* the file it came from, for messages; "(defaults)" if none */
	/* [node] */
	char *node_name;              /* default: the host name; <= CONFIG_HOST_NAME_MAX bytes */
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
	unsigned api_max_connections; /* concurrent API connections (api-server.h) */
	/* [log] */
	int log_level;                /* syslog priority: LOG_ERR .. LOG_DEBUG */
	int log_target;               /* enum log_target */
	/* [ontap] (resources/ontap/ontap-config.c) */
	struct ontap_options ontap;
	/* [ontap_peer] (resources/ontap/ontap-config.c): the SnapMirror destination cluster */
	struct ontap_peer_options ontap_peer;
	/* [host] */
	struct host_options host;
	/* [vms] (agent/vms-config.c) */
	struct vms_options vms;
	/* [ha] (agent/ha-config.c) */
	struct ha_options ha;
	struct protection_options protection; /* [protection] (agent/protection-config.c) */
	struct metrics_options metrics; /* [metrics] (agent/metrics-config.c) */

	unsigned *key_lines;          /* private to config.c: the line each key was set on, 0 = default */
};

/* ---- the schema ---------------------------------------------------------------------------- */

enum config_type {
	CONFIG_STRING,      /* char *; NULL = unset (optional keys only) */
	CONFIG_PATH,        /* char *, an absolute path */
	CONFIG_BOOL,        /* bool: true/false, yes/no, on/off, 1/0 */
	CONFIG_UINT,        /* unsigned */
	CONFIG_DURATION_MS, /* unsigned, milliseconds; the file may say ms, s or min */
	CONFIG_ENUM,        /* int, one of .enums */
};

struct config_enum {
	const char *name;
	int value;
};

/*
 * The field a key fills, with its C type checked at compile time (a field of another type is a
 * negative array size): `{ .name = "svm", CONFIG_STRING_AT(struct ontap_options, svm), ... }`.
 */
#define CONFIG_AT_(T, member, ctype)                                                               \
	.offset = offsetof(T, member) +                                                            \
		  0 * sizeof(char[1 - 2 * !__builtin_types_compatible_p(__typeof__(((T *)0)->member), ctype)])
#define CONFIG_STRING_AT(T, m)   .type = CONFIG_STRING, CONFIG_AT_(T, m, char *)
#define CONFIG_PATH_AT(T, m)     .type = CONFIG_PATH, CONFIG_AT_(T, m, char *)
#define CONFIG_BOOL_AT(T, m)     .type = CONFIG_BOOL, CONFIG_AT_(T, m, bool)
#define CONFIG_UINT_AT(T, m)     .type = CONFIG_UINT, CONFIG_AT_(T, m, unsigned)
#define CONFIG_DURATION_AT(T, m) .type = CONFIG_DURATION_MS, CONFIG_AT_(T, m, unsigned)
#define CONFIG_ENUM_AT(T, m)     .type = CONFIG_ENUM, CONFIG_AT_(T, m, int)

struct config_key {
	const char *name;                 /* NULL ends a section's key array */
	enum config_type type;            /* set by CONFIG_*_AT() together with offset */
	size_t offset;                    /* of the field in the section's struct */
	unsigned min, max;                /* UINT/DURATION_MS: bounds; STRING/PATH: max length in bytes */
	const char *unit;                 /* for bounds in messages and the example, e.g. "ms" */
	const struct config_enum *enums;  /* ENUM: the names, { NULL } terminated */
	const char *default_text;         /* a default computed by the section's check hook: how */
	bool optional;                    /* STRING/PATH: may be empty (= unset) */
	bool runtime;                     /* SIGHUP applies it; otherwise it needs a restart */
	bool (*check)(const char *value, const char **why); /* STRING/PATH: one more rule; why is
							      * static text shown after 'value' */
	const char *description;          /* one or two sentences for the example file */
};

/* One parse in progress, as seen by a section's check hook. */
struct config_check;

/* Reports a problem with `key` of the section being checked, at the line the key was set on:
 * "file:line: [section] key: problem" (no line when the key kept its default). */
void config_check_error(struct config_check *chk, const char *key, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* Whether `key` of the section being checked was set in the file, even to a value refused (its
 * field then keeps the default): rules across keys that are about what the admin wrote. */
bool config_check_key_set(const struct config_check *chk, const char *key);

struct config_section {
	const char *name;                 /* [name] */
	size_t offset;                    /* of the section's struct in struct kvmcd_config */
	const void *defaults;             /* a struct of the section's type: every key's default is
					   * its field here (strings are copied; NULL = unset) */
	const struct config_key *keys;    /* { 0 } terminated */
	/*
	 * Optional: rules across keys and computed defaults (fill a field left NULL), run in the same
	 * parse after every line, also when some line had a problem. `section` points at the
	 * section's struct inside the config being built. Problems go to config_check_error().
	 * Returns 0, or -ENOMEM (which aborts the parse). Never touches the file system.
	 */
	int (*check)(void *section, struct config_check *chk);
	/*
	 * Optional: what needs the file system or the host (files exist, are readable, are safe):
	 * the checks the module itself runs when the daemon starts, so --check-config and start-up
	 * agree. Returns 0, -ENOMEM, or another -errno with *key (a key of this section, for the
	 * message's line) and *problem (malloc()ed text).
	 */
	int (*check_runtime)(const void *section, const char **key, char **problem);
};

/* Every section, in file order, NULL-terminated. */
extern const struct config_section *const config_sections[];

/* ---- loading ------------------------------------------------------------------------------- */

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
 * missing_ok, in which case the defaults are returned. Anything but a regular file (a FIFO, a
 * device, a directory) is refused without reading from it (-EINVAL, "not a regular file").
 * Same contract as config_parse_buffer.
 */
int config_load(const char *path, bool missing_ok, struct kvmcd_config **out, struct config_errors *errors);

/*
 * The checks parsing cannot do, the same the daemon's modules run when it starts (for [ontap]:
 * ontap_options_check()): files named by keys exist, are readable and safe. kvmcd calls it after
 * config_load(), both to start and for --check-config. Appends "file:line: [section] key:
 * problem" for each section with a problem; returns 0, -EINVAL or -ENOMEM.
 */
int config_check_runtime(const struct kvmcd_config *cfg, struct config_errors *errors);

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
