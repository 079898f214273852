/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * kvmcd.conf parser: the sections declared by their modules (config.h says how), collected in
 * config_sections[]; inih for the INI mechanics. The daemon's own sections ([node], [cluster],
 * [paths], [api], [log]) are declared here.
 *
 * inih stops reporting after the first syntax error it meets and gives its handler no line
 * number (Debian builds it without INI_HANDLER_LINENO), so we feed it through our own reader
 * (ini_parse_stream): the reader counts lines, checks each line's syntax itself, reports every
 * bad line, and hands inih only lines it will accept -- normalised (leading blanks removed, so
 * an indented "key = value" can never be taken for a multi-line continuation of the key before
 * it). inih still splits keys from values and strips inline comments.
 *
 * Line length: Debian 12's libinih (r55) reads every line into a fixed stack buffer of
 * INI_MAX_LINE = 200 bytes (INI_USE_STACK=1, INI_ALLOW_REALLOC=0; ini_parse_string() and
 * ini_parse_stream() share it), so no reader can hand it a longer line. A line of more than
 * CONFIG_LINE_MAX bytes is refused with its length, never cut, and every key's maximum value
 * length fits on a line (checked by tests/test-config.c).
 */
#include <errno.h>
#include <fcntl.h>
#include <ini.h>
#include <limits.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/stat.h>
#include <syslog.h>
#include <unistd.h>

#include "config.h"
#include "macros.h"

#define CONFIG_MAX_BYTES (1u << 20) /* a config file is small; refuse anything absurd */
#define SOCKET_PATH_MAX 107u        /* sizeof(sockaddr_un.sun_path) - 1 */

/* ---- the daemon's own sections ------------------------------------------------------------- */

static const struct config_enum log_levels[] = {
	{ "err", LOG_ERR }, { "warning", LOG_WARNING }, { "notice", LOG_NOTICE },
	{ "info", LOG_INFO }, { "debug", LOG_DEBUG }, { NULL, 0 },
};

static const struct config_enum log_targets[] = {
	{ "auto", LOG_TARGET_AUTO }, { "journal", LOG_TARGET_JOURNAL }, { "stderr", LOG_TARGET_STDERR },
	{ NULL, 0 },
};

/* Every default of [node], [cluster], [paths], [api] and [log] (their fields are flat in struct
 * kvmcd_config, so these sections have offset 0 and key offsets into the whole struct). */
static const struct kvmcd_config daemon_defaults = {
	.cluster_group = "kvmcd",
	.stall_timeout_ms = 0, /* derived from corosync's timing (coord/timeouts.h 3.) */
	.request_timeout_ms = 30000,
	.reconnect_max_ms = 5000,
	.state_dir = "/var/lib/kvmcd",
	.run_dir = "/run/kvmcd",
	.api_group = "kvmcd",
	.api_max_connections = 64,
	.log_level = LOG_INFO,
	.log_target = LOG_TARGET_AUTO,
};

/* Unix user/group names as shadow-utils accepts them, so a typo shows up here, not at runtime. */
static bool check_unix_name(const char *v, const char **why)
{
	if (!((*v >= 'a' && *v <= 'z') || *v == '_')) {
		*why = "must start with a lower-case letter or '_'";
		return false;
	}
	for (const char *p = v; *p; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '_' || *p == '-' ||
		      (*p == '$' && !p[1]))) {
			*why = "may contain only a-z, 0-9, '_' and '-'";
			return false;
		}
	return true;
}

/* Node names travel in the CPG protocol and show in status; keep them printable and unspaced. */
static bool check_node_name(const char *v, const char **why)
{
	for (const char *p = v; *p; p++)
		if ((unsigned char)*p <= ' ' || *p == 0x7f) {
			*why = "must not contain blanks or control characters";
			return false;
		}
	return true;
}

#define C struct kvmcd_config

static const struct config_key node_keys[] = {
	{ .name = "name", CONFIG_STRING_AT(C, node_name), .max = CONFIG_HOST_NAME_MAX, .check = check_node_name,
	  .default_text = "the host name",
	  .description = "Name of this node as shown in status and used in the spec (a host name)." },
	{ 0 },
};

static const struct config_key cluster_keys[] = {
	{ .name = "group", CONFIG_STRING_AT(C, cluster_group), .max = 127, .check = check_node_name,
	  .description = "Corosync CPG group the daemons of one cluster join." },
	{ .name = "stall_timeout", CONFIG_DURATION_AT(C, stall_timeout_ms), .min = 1000, .max = 600000, .unit = "ms",
	  .default_text = "2 x (corosync's failure detection + 1 s): 18060 ms with corosync's defaults on 3 nodes",
	  .description = "No CPG delivery for this long while following a leader or syncing means membership "
			 "is stalled. Unset: derived from corosync's totem timing, the shortest that never takes a "
			 "node failure for a stall (kvmcd --print-timeouts)." },
	{ .name = "request_timeout", CONFIG_DURATION_AT(C, request_timeout_ms), .min = 1000, .max = 3600000,
	  .unit = "ms", .description = "A change request not committed within this time fails." },
	{ .name = "reconnect_max", CONFIG_DURATION_AT(C, reconnect_max_ms), .min = 100, .max = 60000, .unit = "ms",
	  .runtime = true,
	  .description = "Longest wait between attempts to reconnect to corosync (backoff starts at 100 ms)." },
	{ 0 },
};

static const struct config_key paths_keys[] = {
	{ .name = "state_dir", CONFIG_PATH_AT(C, state_dir), .max = CONFIG_PATH_MAX,
	  .description = "Persistent state (state.json)." },
	{ .name = "run_dir", CONFIG_PATH_AT(C, run_dir), .max = CONFIG_PATH_MAX,
	  .description = "Runtime files. Unless [paths] socket is set, <run_dir>/kvmcd.sock must fit 107 bytes." },
	{ .name = "socket", CONFIG_PATH_AT(C, socket_path), .max = SOCKET_PATH_MAX,
	  .default_text = "<run_dir>/kvmcd.sock", .description = "Local API socket (kvmcctl)." },
	{ 0 },
};

static const struct config_key api_keys[] = {
	{ .name = "group", CONFIG_STRING_AT(C, api_group), .max = 32, .runtime = true, .check = check_unix_name,
	  .description = "Unix group whose members may use the API socket besides root." },
	{ .name = "max_connections", CONFIG_UINT_AT(C, api_max_connections), .min = 8, .max = 4096, .runtime = true,
	  .description = "Concurrent API connections; more are refused (the last eighth are only for root)." },
	{ 0 },
};

static const struct config_key log_keys[] = {
	{ .name = "level", CONFIG_ENUM_AT(C, log_level), .enums = log_levels, .runtime = true,
	  .description = "Lowest level logged: err, warning, notice, info, debug (the in-memory ring keeps all)." },
	{ .name = "target", CONFIG_ENUM_AT(C, log_target), .enums = log_targets, .runtime = true,
	  .description = "auto (journal when started by systemd, else stderr), journal or stderr." },
	{ 0 },
};

#undef C

/* [node] name defaults to the host name (at most HOST_NAME_MAX bytes, like the key). */
static int node_check(void *section, struct config_check *chk)
{
	struct kvmcd_config *c = section;
	char host[HOST_NAME_MAX + 1] = "";

	if (c->node_name)
		return 0;
	if (gethostname(host, sizeof(host) - 1) < 0 || !host[0]) {
		config_check_error(chk, "name", "not set and the host name is unknown");
		return 0;
	}
	c->node_name = strdup(host);
	return c->node_name ? 0 : -ENOMEM;
}

/* [paths] socket defaults to <run_dir>/kvmcd.sock, which must fit a unix socket address. */
static int paths_check(void *section, struct config_check *chk)
{
	struct kvmcd_config *c = section;

	if (c->socket_path || !c->run_dir)
		return 0;
	if (asprintf(&c->socket_path, "%s/kvmcd.sock", c->run_dir) < 0) {
		c->socket_path = NULL;
		return -ENOMEM;
	}
	if (strlen(c->socket_path) > SOCKET_PATH_MAX)
		config_check_error(chk, "run_dir",
				   "too long for a unix socket path '%s' (at most %u bytes); set [paths] socket",
				   c->socket_path, SOCKET_PATH_MAX);
	return 0;
}

static const struct config_section node_section = {
	.name = "node", .offset = 0, .defaults = &daemon_defaults, .keys = node_keys, .check = node_check,
};
static const struct config_section cluster_section = {
	.name = "cluster", .offset = 0, .defaults = &daemon_defaults, .keys = cluster_keys,
};
static const struct config_section paths_section = {
	.name = "paths", .offset = 0, .defaults = &daemon_defaults, .keys = paths_keys, .check = paths_check,
};
static const struct config_section api_section = {
	.name = "api", .offset = 0, .defaults = &daemon_defaults, .keys = api_keys,
};
static const struct config_section log_section = {
	.name = "log", .offset = 0, .defaults = &daemon_defaults, .keys = log_keys,
};

/* ---- every section, in file order: a new section is one line here (config.h says how) ------ */

const struct config_section *const config_sections[] = {
	&node_section,
	&cluster_section,
	&paths_section,
	&api_section,
	&log_section,
	&ontap_config_section,   /* resources/ontap/ontap-config.c */
	&ontap_peer_config_section, /* resources/ontap/ontap-config.c */
	&host_config_section,    /* resources/host/host-config.c */
	&vms_config_section,     /* agent/vms-config.c */
	&ha_config_section,      /* agent/ha-config.c */
	&protection_config_section, /* agent/protection-config.c */
	&metrics_config_section, /* agent/metrics-config.c */
	NULL,
};

const char *log_level_name(int level)
{
	for (const struct config_enum *e = log_levels; e->name; e++)
		if (e->value == level)
			return e->name;
	return "?";
}

/* ---- walking the schema --------------------------------------------------------------------- */

/* Every key of every section has one index, 0..n_keys()-1: sections in order, keys in order. */
static size_t n_keys(void)
{
	size_t n = 0;

	for (const struct config_section *const *s = config_sections; *s; s++)
		for (const struct config_key *k = (*s)->keys; k->name; k++)
			n++;
	return n;
}

/* The section called name, and the index of its first key; NULL if there is none. */
static const struct config_section *find_section(const char *name, size_t *first_key)
{
	size_t first = 0;

	for (const struct config_section *const *s = config_sections; *s; s++) {
		if (strcmp((*s)->name, name) == 0) {
			if (first_key)
				*first_key = first;
			return *s;
		}
		for (const struct config_key *k = (*s)->keys; k->name; k++)
			first++;
	}
	return NULL;
}

static const struct config_key *find_key(const struct config_section *s, const char *name)
{
	for (const struct config_key *k = s->keys; k->name; k++)
		if (strcmp(k->name, name) == 0)
			return k;
	return NULL;
}

/* The line key (of section s) was set on in cfg's file; 0 if it kept its default. */
static unsigned key_line(const unsigned *lines, const struct config_section *s, const char *key)
{
	size_t first;
	const struct config_key *k;

	if (!lines || !key || !find_section(s->name, &first) || !(k = find_key(s, key)))
		return 0;
	return lines[first + (size_t)(k - s->keys)];
}

static void *field(struct kvmcd_config *c, const struct config_section *s, const struct config_key *k)
{
	return (char *)c + s->offset + k->offset;
}

static const void *cfield(const struct kvmcd_config *c, const struct config_section *s, const struct config_key *k)
{
	return (const char *)c + s->offset + k->offset;
}

static bool is_string(const struct config_key *k) { return k->type == CONFIG_STRING || k->type == CONFIG_PATH; }

/* ---- errors --------------------------------------------------------------------------------- */

void config_errors_clear(struct config_errors *e)
{
	for (size_t i = 0; i < e->n; i++)
		free(e->text[i]);
	free(e->text);
	e->text = NULL;
	e->n = 0;
}

static int errors_add(struct config_errors *e, const char *fmt, ...) _printf_(2, 3);
static int errors_add(struct config_errors *e, const char *fmt, ...)
{
	char **n, *s;
	va_list ap;
	int r;

	va_start(ap, fmt);
	r = vasprintf(&s, fmt, ap);
	va_end(ap);
	if (r < 0)
		return -ENOMEM;
	n = realloc(e->text, (e->n + 1) * sizeof(*n));
	if (!n) {
		free(s);
		return -ENOMEM;
	}
	n[e->n++] = s;
	e->text = n;
	return 0;
}

/* "file:line: text", or "file: text" for a problem with no line (a default, a computed value). */
static int errors_add_at(struct config_errors *e, const char *file, unsigned line, const char *text)
{
	return line ? errors_add(e, "%s:%u: %s", file, line, text) : errors_add(e, "%s: %s", file, text);
}

/* ---- the config object ---------------------------------------------------------------------- */

void config_free(struct kvmcd_config *cfg)
{
	if (!cfg)
		return;
	for (const struct config_section *const *s = config_sections; *s; s++)
		for (const struct config_key *k = (*s)->keys; k->name; k++)
			if (is_string(k))
				free(*(char **)field(cfg, *s, k));
	free(cfg->key_lines);
	free(cfg->path);
	free(cfg);
}

/* Sets *why (owned) for parse_value's caller; returns -EINVAL, or -ENOMEM with *why NULL. */
static int fail(char **why, const char *fmt, ...) _printf_(2, 3);
static int fail(char **why, const char *fmt, ...)
{
	va_list ap;
	int r;

	va_start(ap, fmt);
	r = vasprintf(why, fmt, ap);
	va_end(ap);
	if (r < 0) {
		*why = NULL;
		return -ENOMEM;
	}
	return -EINVAL;
}

/*
 * Parses value for key k and stores it at dst. Returns 0, -EINVAL with *why (owned by the
 * caller), -ENOMEM. dst is untouched on error.
 */
static int parse_value(const struct config_key *k, const char *value, void *dst, char **why)
{
	const char *w = NULL;

	switch (k->type) {
	case CONFIG_STRING:
	case CONFIG_PATH: {
		size_t len = strlen(value);
		char *copy;

		if (len == 0) {
			if (!k->optional)
				return fail(why, "must not be empty");
			free(*(char **)dst);
			*(char **)dst = NULL;
			return 0;
		}
		for (const char *p = value; *p; p++)
			if ((unsigned char)*p < ' ' || *p == 0x7f)
				return fail(why, "must not contain control characters");
		if (len > k->max)
			return fail(why, "too long (%zu bytes, at most %u)", len, k->max);
		if (k->type == CONFIG_PATH && value[0] != '/')
			return fail(why, "'%s' is not an absolute path", value);
		if (k->check && !k->check(value, &w))
			return fail(why, "'%s' %s", value, w);
		copy = strdup(value);
		if (!copy)
			return -ENOMEM;
		free(*(char **)dst);
		*(char **)dst = copy;
		return 0;
	}
	case CONFIG_BOOL: {
		static const char *const yes[] = { "true", "yes", "on", "1" }, *const no[] = { "false", "no", "off", "0" };

		for (size_t i = 0; i < ARRAY_SIZE(yes); i++) {
			if (strcasecmp(value, yes[i]) == 0) {
				*(bool *)dst = true;
				return 0;
			}
			if (strcasecmp(value, no[i]) == 0) {
				*(bool *)dst = false;
				return 0;
			}
		}
		return fail(why, "'%s' is not a boolean (true/false, yes/no, on/off, 1/0)", value);
	}
	case CONFIG_UINT:
	case CONFIG_DURATION_MS: {
		unsigned long long n = 0, mult = 1;
		const char *p = value;

		if (!(*p >= '0' && *p <= '9'))
			goto bad_number;
		for (; *p >= '0' && *p <= '9'; p++) {
			n = n * 10 + (unsigned)(*p - '0');
			if (n > UINT32_MAX)
				goto out_of_bounds;
		}
		if (k->type == CONFIG_DURATION_MS) {
			/* Plain numbers are milliseconds; a suffix saves admins from counting zeros. */
			while (*p == ' ')
				p++;
			if (*p == '\0' || strcmp(p, "ms") == 0)
				mult = 1;
			else if (strcmp(p, "s") == 0)
				mult = 1000;
			else if (strcmp(p, "min") == 0)
				mult = 60000;
			else
				goto bad_number;
			n *= mult;
		} else if (*p)
			goto bad_number;
		if (n < k->min || n > k->max)
			goto out_of_bounds;
		*(unsigned *)dst = (unsigned)n;
		return 0;
bad_number:
		return fail(why, k->type == CONFIG_UINT ? "'%s' is not a non-negative integer"
							: "'%s' is not a duration (milliseconds, or with suffix ms, s or min)",
			    value);
out_of_bounds:
		return fail(why, "%s is out of bounds (%u..%u%s%s)", value, k->min, k->max, k->unit ? " " : "",
			    k->unit ? k->unit : "");
	}
	case CONFIG_ENUM: {
		char list[256] = "";

		for (const struct config_enum *e = k->enums; e->name; e++) {
			if (strcmp(value, e->name) == 0) {
				*(int *)dst = e->value;
				return 0;
			}
			snprintf(list + strlen(list), sizeof(list) - strlen(list), "%s%s", e == k->enums ? "" : ", ", e->name);
		}
		return fail(why, "'%s' is not one of: %s", value, list);
	}
	}
	return -EINVAL;
}

/* A config holding every section's defaults; the computed ones come from the check hooks. */
static int config_new_defaults(const char *path, struct kvmcd_config **out)
{
	_cleanup_config_ struct kvmcd_config *c = calloc(1, sizeof(*c));

	if (!c)
		return -ENOMEM;
	c->path = strdup(path);
	if (!c->path)
		return -ENOMEM;
	for (const struct config_section *const *s = config_sections; *s; s++)
		for (const struct config_key *k = (*s)->keys; k->name; k++) {
			const void *def = (const char *)(*s)->defaults + k->offset;
			void *dst = field(c, *s, k);

			switch (k->type) {
			case CONFIG_STRING:
			case CONFIG_PATH: {
				const char *v = *(char *const *)def;

				if (v && !(*(char **)dst = strdup(v)))
					return -ENOMEM;
				break;
			}
			case CONFIG_BOOL:
				*(bool *)dst = *(const bool *)def;
				break;
			case CONFIG_UINT:
			case CONFIG_DURATION_MS:
				*(unsigned *)dst = *(const unsigned *)def;
				break;
			case CONFIG_ENUM:
				*(int *)dst = *(const int *)def;
				break;
			}
		}
	*out = TAKE_PTR(c);
	return 0;
}

/* ---- parsing -------------------------------------------------------------------------------- */

struct parse_ctx {
	const char *name;             /* file name for messages (borrowed) */
	const char *data;             /* borrowed */
	size_t len, pos;
	unsigned line;                /* number of the line last handed to inih */
	bool section_known;           /* the current section is in the schema */
	bool in_section;              /* a section header has been seen */
	char section[64];             /* for messages about unknown sections */
	unsigned *set_line;           /* where each key was set (by key index); 0 = default */
	struct kvmcd_config *cfg;     /* borrowed */
	struct config_errors *errors; /* borrowed */
	size_t n_errors_at_start;
	int error;                    /* -ENOMEM once an allocation failed */
};

static void ctx_error(struct parse_ctx *x, const char *fmt, ...) _printf_(2, 3);
static void ctx_error(struct parse_ctx *x, const char *fmt, ...)
{
	_cleanup_free_ char *s = NULL;
	va_list ap;
	int r;

	va_start(ap, fmt);
	r = vasprintf(&s, fmt, ap);
	va_end(ap);
	if (r < 0 || errors_add_at(x->errors, x->name, x->line, s) < 0)
		x->error = -ENOMEM;
}

struct config_check {
	struct parse_ctx *x;
	const struct config_section *section;
};

void config_check_error(struct config_check *chk, const char *key, const char *fmt, ...)
{
	_cleanup_free_ char *s = NULL;
	va_list ap;
	int r;

	va_start(ap, fmt);
	r = vasprintf(&s, fmt, ap);
	va_end(ap);
	if (r < 0) {
		chk->x->error = -ENOMEM;
		return;
	}
	chk->x->line = key_line(chk->x->set_line, chk->section, key);
	ctx_error(chk->x, "[%s] %s: %s", chk->section->name, key, s);
}

bool config_check_key_set(const struct config_check *chk, const char *key)
{
	return key_line(chk->x->set_line, chk->section, key) != 0;
}

static bool is_key_char(char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_'; }

/*
 * fgets-style reader for ini_parse_stream. Hands inih one normalised line at a time and reports
 * the lines inih must not see (replacing them with a comment, so inih's own line count and ours
 * never drift apart).
 */
static char *config_reader(char *str, int num, void *stream)
{
	struct parse_ctx *x = stream;
	const char *start, *end, *nl;
	size_t n, max;

	if (x->pos >= x->len || num < 4)
		return NULL;
	start = x->data + x->pos;
	nl = memchr(start, '\n', x->len - x->pos);
	end = nl ? nl : x->data + x->len;
	x->pos = (size_t)(end - x->data) + (nl ? 1 : 0);
	x->line++;

	if (memchr(start, '\0', (size_t)(end - start))) {
		ctx_error(x, "line contains a NUL byte");
		goto skip;
	}
	while (start < end && (*start == ' ' || *start == '\t'))
		start++;
	if (x->line == 1 && end - start >= 3 && memcmp(start, "\xef\xbb\xbf", 3) == 0)
		start += 3; /* UTF-8 byte order mark; inih would accept it too */
	while (end > start && (end[-1] == '\r' || end[-1] == ' ' || end[-1] == '\t'))
		end--;
	n = (size_t)(end - start);
	if (n == 0 || *start == ';' || *start == '#')
		goto skip;
	/* The line, its newline and a NUL must fit inih's buffer; never hand it a line to cut. */
	max = (size_t)num - 2 < CONFIG_LINE_MAX ? (size_t)num - 2 : CONFIG_LINE_MAX;
	if (n > max) {
		ctx_error(x, "line too long (%zu bytes, at most %zu)", n, max);
		goto skip;
	}

	if (*start == '[') {
		const char *close = memchr(start, ']', n);
		const char *after;

		if (!close) {
			ctx_error(x, "syntax error: section header without ']'");
			goto skip;
		}
		for (after = close + 1; after < end && (*after == ' ' || *after == '\t'); after++)
			;
		if (after < end && *after != ';' && *after != '#') {
			ctx_error(x, "syntax error: text after section header");
			goto skip;
		}
		n = (size_t)(close - start - 1);
		if (n >= sizeof(x->section))
			n = sizeof(x->section) - 1;
		memcpy(x->section, start + 1, n);
		x->section[n] = '\0';
		x->in_section = true;
		x->section_known = find_section(x->section, NULL) != NULL;
		if (!x->section_known)
			ctx_error(x, "[%s]: unknown section", x->section);
		/* inih keeps the section name for the handler; give it exactly the one we checked. */
		snprintf(str, (size_t)num, "[%s]\n", x->section);
		return str;
	}

	{
		const char *eq = memchr(start, '=', n), *k;

		if (!eq) {
			ctx_error(x, "syntax error: expected 'key = value' or '[section]'");
			goto skip;
		}
		for (k = start; k < eq && is_key_char(*k); k++)
			;
		for (const char *t = k; t < eq; t++)
			if (*t != ' ' && *t != '\t') {
				ctx_error(x, "syntax error: invalid key name '%.*s'", (int)(eq - start), start);
				goto skip;
			}
		if (k == start) {
			ctx_error(x, "syntax error: missing key before '='");
			goto skip;
		}
		if (!x->in_section) {
			ctx_error(x, "%.*s: key outside any section", (int)(k - start), start);
			goto skip;
		}
		if (!x->section_known)
			goto skip; /* reported once, at the section header */
		memcpy(str, start, n);
		str[n] = '\n';
		str[n + 1] = '\0';
		return str;
	}
skip:
	/* A comment keeps inih's line count in step with ours. */
	strcpy(str, ";\n");
	return str;
}

static int config_handler(void *user, const char *section, const char *name, const char *value)
{
	struct parse_ctx *x = user;
	_cleanup_free_ char *why = NULL;
	const struct config_section *s;
	const struct config_key *k;
	size_t idx;
	int r;

	s = find_section(section, &idx);
	k = s ? find_key(s, name) : NULL;
	if (!k) {
		ctx_error(x, "[%s] %s: unknown key", section, name);
		return 1;
	}
	idx += (size_t)(k - s->keys);
	/* A duplicate is one problem; a bad value on that line is another, reported too. */
	if (x->set_line[idx])
		ctx_error(x, "[%s] %s: duplicate key (already set on line %u)", section, name, x->set_line[idx]);
	else
		x->set_line[idx] = x->line;
	r = parse_value(k, value, field(x->cfg, s, k), &why);
	if (r == -ENOMEM)
		x->error = -ENOMEM;
	else if (r < 0)
		ctx_error(x, "[%s] %s: %s", section, name, why);
	return 1; /* keep going: every problem is collected */
}

int config_parse_buffer(const char *name, const char *data, size_t len, struct kvmcd_config **out,
			struct config_errors *errors)
{
	_cleanup_config_ struct kvmcd_config *c = NULL;
	_cleanup_free_ unsigned *set_line = NULL;
	struct parse_ctx x = { .name = name, .data = data, .len = len, .errors = errors,
			       .n_errors_at_start = errors->n };
	int r;

	r = config_new_defaults(name, &c);
	if (r < 0)
		return r;
	set_line = calloc(n_keys() + 1, sizeof(*set_line));
	if (!set_line)
		return -ENOMEM;
	x.cfg = c;
	x.set_line = set_line;
	r = ini_parse_stream(config_reader, &x, config_handler, &x);
	if (r == -2)
		return -ENOMEM;
	if (r > 0 && errors->n == x.n_errors_at_start) {
		/* Our reader should have caught every syntax error; never let one pass silently. */
		x.line = (unsigned)r;
		ctx_error(&x, "syntax error");
	}
	if (x.error < 0)
		return x.error;
	/* Rules across keys and computed defaults, section by section, in the same parse. */
	for (const struct config_section *const *s = config_sections; *s; s++) {
		struct config_check chk = { .x = &x, .section = *s };

		if (!(*s)->check)
			continue;
		r = (*s)->check((char *)c + (*s)->offset, &chk);
		if (r < 0)
			return r;
		if (x.error < 0)
			return x.error;
	}
	if (errors->n > x.n_errors_at_start)
		return -EINVAL;
	c->key_lines = TAKE_PTR(set_line);
	*out = TAKE_PTR(c);
	return 0;
}

/*
 * Opens path for reading only if it is a regular file: a FIFO would block the reader forever, a
 * device could have side effects just from being opened. stat() first so such a file is never
 * opened; O_NONBLOCK and fstat() in case it was swapped in between. Returns the fd or -errno,
 * with *not_regular set when that is the reason (-EINVAL).
 */
static int open_regular(const char *path, bool *not_regular)
{
	_cleanup_close_ int fd = -1;
	struct stat st;

	*not_regular = false;
	if (stat(path, &st) < 0)
		return -errno;
	if (!S_ISREG(st.st_mode))
		goto not_regular;
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) < 0)
		return -errno;
	if (!S_ISREG(st.st_mode))
		goto not_regular;
	return TAKE_FD(fd);
not_regular:
	*not_regular = true;
	return -EINVAL;
}

int config_load(const char *path, bool missing_ok, struct kvmcd_config **out, struct config_errors *errors)
{
	_cleanup_close_ int fd = -1;
	_cleanup_free_ char *buf = NULL;
	bool not_regular;
	size_t len = 0;
	int r;

	fd = open_regular(path, &not_regular);
	if (fd < 0) {
		r = fd;
		if (r == -ENOENT && missing_ok)
			return config_parse_buffer(path, "", 0, out, errors);
		if (not_regular)
			r = errors_add(errors, "%s: not a regular file", path) < 0 ? -ENOMEM : r;
		else if (errors_add(errors, "%s: cannot open: %s", path, strerror(-r)) < 0)
			r = -ENOMEM;
		return r;
	}
	buf = malloc(CONFIG_MAX_BYTES + 1);
	if (!buf)
		return -ENOMEM;
	while (len < CONFIG_MAX_BYTES + 1) {
		ssize_t n = read(fd, buf + len, CONFIG_MAX_BYTES + 1 - len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			r = -errno;
			if (errors_add(errors, "%s: cannot read: %s", path, strerror(-r)) < 0)
				return -ENOMEM;
			return r;
		}
		if (n == 0)
			break;
		len += (size_t)n;
	}
	if (len > CONFIG_MAX_BYTES) {
		if (errors_add(errors, "%s: file too large (more than %u bytes)", path, CONFIG_MAX_BYTES) < 0)
			return -ENOMEM;
		return -EFBIG;
	}
	return config_parse_buffer(path, buf, len, out, errors);
}

/* ---- checks that need the file system ------------------------------------------------------ */

int config_check_runtime(const struct kvmcd_config *cfg, struct config_errors *errors)
{
	int ret = 0;

	for (const struct config_section *const *s = config_sections; *s; s++) {
		_cleanup_free_ char *problem = NULL, *text = NULL;
		const char *key = NULL;
		int r;

		if (!(*s)->check_runtime)
			continue;
		r = (*s)->check_runtime((const char *)cfg + (*s)->offset, &key, &problem);
		if (r == -ENOMEM)
			return -ENOMEM;
		if (r >= 0)
			continue;
		if (asprintf(&text, "[%s]%s%s: %s", (*s)->name, key ? " " : "", key ? key : "",
			     problem ? problem : strerror(-r)) < 0) {
			text = NULL;
			return -ENOMEM;
		}
		if (errors_add_at(errors, cfg->path, key_line(cfg->key_lines, *s, key), text) < 0)
			return -ENOMEM;
		ret = -EINVAL;
	}
	return ret;
}

/* ---- reload --------------------------------------------------------------------------------- */

static bool value_equal(const struct config_section *s, const struct config_key *k, const struct kvmcd_config *a,
			const struct kvmcd_config *b)
{
	const void *fa = cfield(a, s, k), *fb = cfield(b, s, k);

	switch (k->type) {
	case CONFIG_STRING:
	case CONFIG_PATH: {
		const char *sa = *(char *const *)fa, *sb = *(char *const *)fb;

		return (!sa && !sb) || (sa && sb && strcmp(sa, sb) == 0);
	}
	case CONFIG_BOOL:
		return *(const bool *)fa == *(const bool *)fb;
	case CONFIG_UINT:
	case CONFIG_DURATION_MS:
		return *(const unsigned *)fa == *(const unsigned *)fb;
	case CONFIG_ENUM:
		return *(const int *)fa == *(const int *)fb;
	}
	return false;
}

size_t config_reload_merge(struct kvmcd_config *next, const struct kvmcd_config *cur,
			   void (*note)(void *userdata, const char *key, bool runtime), void *userdata)
{
	size_t n = 0;

	for (const struct config_section *const *sp = config_sections; *sp; sp++)
		for (const struct config_key *k = (*sp)->keys; k->name; k++) {
			const struct config_section *s = *sp;
			char name[80];

			if (value_equal(s, k, next, cur))
				continue;
			n++;
			snprintf(name, sizeof(name), "%s.%s", s->name, k->name);
			if (note)
				note(userdata, name, k->runtime);
			if (k->runtime)
				continue;
			/* Keep what the daemon started with: swap the running value back in. */
			switch (k->type) {
			case CONFIG_STRING:
			case CONFIG_PATH: {
				char **dst = field(next, s, k);
				const char *src = *(char *const *)cfield(cur, s, k);
				char *copy = src ? strdup(src) : NULL;

				if (src && !copy)
					break; /* ENOMEM: keep the new value rather than lose both */
				free(*dst);
				*dst = copy;
				break;
			}
			case CONFIG_BOOL:
				*(bool *)field(next, s, k) = *(const bool *)cfield(cur, s, k);
				break;
			case CONFIG_UINT:
			case CONFIG_DURATION_MS:
				*(unsigned *)field(next, s, k) = *(const unsigned *)cfield(cur, s, k);
				break;
			case CONFIG_ENUM:
				*(int *)field(next, s, k) = *(const int *)cfield(cur, s, k);
				break;
			}
		}
	return n;
}

/* ---- documentation -------------------------------------------------------------------------- */

/* Writes text as "# " comment lines of at most ~96 columns, breaking at spaces. */
static void write_comment(FILE *f, const char *text)
{
	while (*text) {
		size_t n = strlen(text);

		if (n > 94) {
			n = 94;
			while (n > 0 && text[n] != ' ')
				n--;
			if (n == 0)
				n = strcspn(text, " ");
		}
		fprintf(f, "# %.*s\n", (int)n, text);
		text += n;
		while (*text == ' ')
			text++;
	}
}

/* The default of k as it would be written in the file; NULL for an unset string. */
static const char *default_value(const struct config_section *s, const struct config_key *k, char *buf, size_t size)
{
	const void *def = (const char *)s->defaults + k->offset;

	switch (k->type) {
	case CONFIG_STRING:
	case CONFIG_PATH:
		return *(char *const *)def;
	case CONFIG_BOOL:
		return *(const bool *)def ? "true" : "false";
	case CONFIG_UINT:
	case CONFIG_DURATION_MS:
		if (*(const unsigned *)def < k->min && k->default_text)
			return NULL; /* a default computed elsewhere (default_text says how), not writable */
		snprintf(buf, size, "%u", *(const unsigned *)def);
		return buf;
	case CONFIG_ENUM:
		for (const struct config_enum *e = k->enums; e->name; e++)
			if (e->value == *(const int *)def)
				return e->name;
		return "?";
	}
	return NULL;
}

void config_write_example(FILE *f)
{
	fprintf(f,
		"# kvmcd configuration. Every key is optional; the value shown is the default.\n"
		"# Durations are milliseconds, or take a suffix: ms, s, min. A line holds at most %u bytes.\n",
		CONFIG_LINE_MAX);
	for (const struct config_section *const *s = config_sections; *s; s++) {
		fprintf(f, "\n[%s]\n", (*s)->name);
		for (const struct config_key *k = (*s)->keys; k->name; k++) {
			char text[512], num[16];
			const char *def;
			int n = snprintf(text, sizeof(text), "%s", k->description);

			if (k->type == CONFIG_UINT || k->type == CONFIG_DURATION_MS)
				n += snprintf(text + n, sizeof(text) - (size_t)n, " Range %u..%u%s%s.", k->min, k->max,
					      k->unit ? " " : "", k->unit ? k->unit : "");
			if (is_string(k))
				n += snprintf(text + n, sizeof(text) - (size_t)n, " At most %u bytes.", k->max);
			if (!k->runtime)
				snprintf(text + n, sizeof(text) - (size_t)n, " Changing it needs a restart.");
			write_comment(f, text);
			def = default_value(*s, k, num, sizeof(num));
			if (def)
				fprintf(f, "#%s = %s\n", k->name, def);
			else
				fprintf(f, "# (default: %s)\n#%s =\n", k->default_text ? k->default_text : "unset",
					k->name);
		}
	}
}
