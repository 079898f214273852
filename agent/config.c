/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * kvmcd.conf parser: one schema table, inih for the INI mechanics.
 *
 * inih stops reporting after the first syntax error it meets and gives its handler no line
 * number (Debian builds it without INI_HANDLER_LINENO), so we feed it through our own reader
 * (ini_parse_stream): the reader counts lines, checks each line's syntax itself, reports every
 * bad line, and hands inih only lines it will accept -- normalised (leading blanks removed, so
 * an indented "key = value" can never be taken for a multi-line continuation of the key before
 * it). inih still splits keys from values and strips inline comments.
 */
#include <errno.h>
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

enum cfg_type { CFG_STRING, CFG_BOOL, CFG_UINT, CFG_DURATION_MS, CFG_ENUM, CFG_PATH };

struct cfg_enum {
	const char *name;
	int value;
};

struct cfg_key {
	const char *section, *key;
	enum cfg_type type;
	size_t offset;             /* of the field in struct kvmcd_config */
	unsigned min, max;         /* UINT/DURATION: bounds; STRING: max length in bytes */
	const char *def;           /* default, as it would be written in the file; NULL = unset */
	const char *def_text;      /* for computed defaults: how the default is derived */
	const char *unit;
	const struct cfg_enum *enums; /* ENUM: NULL-terminated */
	bool optional;             /* STRING/PATH: may be empty (= unset) */
	bool runtime;              /* SIGHUP applies it; otherwise it needs a restart */
	bool (*check)(const char *value, const char **why); /* extra rule for STRING */
	const char *description;
};

static const struct cfg_enum log_levels[] = {
	{ "err", LOG_ERR }, { "warning", LOG_WARNING }, { "notice", LOG_NOTICE },
	{ "info", LOG_INFO }, { "debug", LOG_DEBUG }, { NULL, 0 },
};

static const struct cfg_enum log_targets[] = {
	{ "auto", LOG_TARGET_AUTO }, { "journal", LOG_TARGET_JOURNAL }, { "stderr", LOG_TARGET_STDERR },
	{ NULL, 0 },
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

#define F(field) offsetof(struct kvmcd_config, field)

static const struct cfg_key config_schema[] = {
	{ "node", "name", CFG_STRING, F(node_name), 1, 255, NULL, "the host name", NULL, NULL, false, false,
	  check_node_name, "Name of this node as shown in status and used in the spec." },

	{ "cluster", "group", CFG_STRING, F(cluster_group), 1, 127, "kvmcd", NULL, NULL, NULL, false, false,
	  check_node_name, "Corosync CPG group the daemons of one cluster join." },
	{ "cluster", "stall_timeout", CFG_DURATION_MS, F(stall_timeout_ms), 1000, 600000, "8000", NULL, "ms",
	  NULL, false, false, NULL,
	  "No CPG delivery for this long while following a leader or syncing means membership is stalled." },
	{ "cluster", "request_timeout", CFG_DURATION_MS, F(request_timeout_ms), 1000, 3600000, "30000", NULL,
	  "ms", NULL, false, false, NULL, "A change request not committed within this time fails." },
	{ "cluster", "reconnect_max", CFG_DURATION_MS, F(reconnect_max_ms), 100, 60000, "5000", NULL, "ms",
	  NULL, false, true, NULL,
	  "Longest wait between attempts to reconnect to corosync (backoff starts at 100 ms)." },

	{ "paths", "state_dir", CFG_PATH, F(state_dir), 0, 0, "/var/lib/kvmcd", NULL, NULL, NULL, false, false,
	  NULL, "Persistent state (state.json)." },
	{ "paths", "run_dir", CFG_PATH, F(run_dir), 0, 0, "/run/kvmcd", NULL, NULL, NULL, false, false, NULL,
	  "Runtime files." },
	{ "paths", "socket", CFG_PATH, F(socket_path), 0, SOCKET_PATH_MAX, NULL, "<run_dir>/kvmcd.sock", NULL,
	  NULL, false, false, NULL, "Local API socket (kvmcctl)." },

	{ "api", "group", CFG_STRING, F(api_group), 1, 32, "kvmcd", NULL, NULL, NULL, false, true,
	  check_unix_name, "Unix group whose members may use the API socket besides root." },

	{ "log", "level", CFG_ENUM, F(log_level), 0, 0, "info", NULL, NULL, log_levels, false, true, NULL,
	  "Lowest level logged: err, warning, notice, info, debug (the in-memory ring keeps all)." },
	{ "log", "target", CFG_ENUM, F(log_target), 0, 0, "auto", NULL, NULL, log_targets, false, true, NULL,
	  "auto (journal when started by systemd, else stderr), journal or stderr." },

	{ "ontap", "address", CFG_STRING, F(ontap.address), 1, 255, NULL, NULL, NULL, NULL, true, false,
	  check_node_name, "ONTAP cluster management LIF: host or host:port." },
	{ "ontap", "svm", CFG_STRING, F(ontap.svm), 1, 255, NULL, NULL, NULL, NULL, true, false, check_node_name,
	  "Data SVM kvmcd provisions in." },
	{ "ontap", "credentials_file", CFG_PATH, F(ontap.credentials_file), 0, 0, NULL, NULL, NULL, NULL, true,
	  false, NULL, "File with username=... and password=... lines (root-owned, mode 0600 or 0400)." },
	{ "ontap", "ca_file", CFG_PATH, F(ontap.ca_file), 0, 0, NULL, "the system CAs", NULL, NULL, true, false,
	  NULL, "PEM CA bundle to verify ONTAP's certificate." },
	{ "ontap", "client_cert", CFG_PATH, F(ontap.client_cert), 0, 0, NULL, NULL, NULL, NULL, true, false,
	  NULL, "PEM client certificate (certificate authentication)." },
	{ "ontap", "client_key", CFG_PATH, F(ontap.client_key), 0, 0, NULL, NULL, NULL, NULL, true, false, NULL,
	  "Key of client_cert." },
	{ "ontap", "tls_verify", CFG_BOOL, F(ontap.tls_verify), 0, 0, "true", NULL, NULL, NULL, false, false,
	  NULL, "Verify ONTAP's TLS certificate; false only for labs." },
	{ "ontap", "max_concurrency", CFG_UINT, F(ontap.max_concurrency), 1, 64, "8", NULL, NULL, NULL, false,
	  false, NULL, "Requests in flight to the ONTAP cluster." },
	{ "ontap", "request_timeout", CFG_DURATION_MS, F(ontap.request_timeout_ms), 1000, 3600000, "30000",
	  NULL, "ms", NULL, false, false, NULL, "One HTTP exchange with ONTAP." },
	{ "ontap", "job_timeout", CFG_DURATION_MS, F(ontap.job_timeout_ms), 1000, 86400000, "600000", NULL,
	  "ms", NULL, false, false, NULL, "Waiting for an asynchronous ONTAP job." },
};
#undef F

#define N_KEYS ARRAY_SIZE(config_schema)

static const char *const config_sections[] = { "node", "cluster", "paths", "api", "log", "ontap" };

const char *log_level_name(int level)
{
	for (const struct cfg_enum *e = log_levels; e->name; e++)
		if (e->value == level)
			return e->name;
	return "?";
}

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

/* ---- the config object ---------------------------------------------------------------------- */

static void *field(struct kvmcd_config *c, const struct cfg_key *k) { return (char *)c + k->offset; }
static const void *cfield(const struct kvmcd_config *c, const struct cfg_key *k)
{
	return (const char *)c + k->offset;
}

void config_free(struct kvmcd_config *cfg)
{
	if (!cfg)
		return;
	for (size_t i = 0; i < N_KEYS; i++)
		if (config_schema[i].type == CFG_STRING || config_schema[i].type == CFG_PATH)
			free(*(char **)field(cfg, &config_schema[i]));
	free(cfg->path);
	free(cfg);
}

static bool is_section(const char *s)
{
	for (size_t i = 0; i < ARRAY_SIZE(config_sections); i++)
		if (strcmp(s, config_sections[i]) == 0)
			return true;
	return false;
}

static const struct cfg_key *find_key(const char *section, const char *key)
{
	for (size_t i = 0; i < N_KEYS; i++)
		if (strcmp(config_schema[i].section, section) == 0 && strcmp(config_schema[i].key, key) == 0)
			return &config_schema[i];
	return NULL;
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
 * Parses value for key k and stores it in cfg. Returns 0, -EINVAL with *why (owned by the
 * caller), -ENOMEM. cfg is untouched on error.
 */
static int parse_value(const struct cfg_key *k, const char *value, struct kvmcd_config *cfg, char **why)
{
	void *dst = field(cfg, k);
	const char *w = NULL;

	switch (k->type) {
	case CFG_STRING:
	case CFG_PATH: {
		size_t len = strlen(value), max = k->max ? k->max : PATH_MAX - 1;
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
		if (len > max)
			return fail(why, "too long (%zu bytes, at most %zu)", len, max);
		if (k->type == CFG_PATH && value[0] != '/')
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
	case CFG_BOOL: {
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
	case CFG_UINT:
	case CFG_DURATION_MS: {
		unsigned long long n = 0, mult = 1;
		const char *p = value;

		if (!(*p >= '0' && *p <= '9'))
			goto bad_number;
		for (; *p >= '0' && *p <= '9'; p++) {
			n = n * 10 + (unsigned)(*p - '0');
			if (n > UINT32_MAX)
				goto out_of_bounds;
		}
		if (k->type == CFG_DURATION_MS) {
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
		return fail(why, k->type == CFG_UINT ? "'%s' is not a non-negative integer"
							 : "'%s' is not a duration (milliseconds, or with suffix ms, s or min)",
				value);
out_of_bounds:
		return fail(why, "%s is out of bounds (%u..%u%s%s)", value, k->min, k->max, k->unit ? " " : "",
				k->unit ? k->unit : "");
	}
	case CFG_ENUM: {
		char list[256] = "";

		for (const struct cfg_enum *e = k->enums; e->name; e++) {
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

/* A config holding every default; the computed ones (node name, socket) come in finish(). */
static int config_new_defaults(const char *path, struct kvmcd_config **out)
{
	_cleanup_config_ struct kvmcd_config *c = calloc(1, sizeof(*c));
	_cleanup_free_ char *why = NULL;

	if (!c)
		return -ENOMEM;
	c->path = strdup(path);
	if (!c->path)
		return -ENOMEM;
	for (size_t i = 0; i < N_KEYS; i++) {
		int r;

		if (!config_schema[i].def)
			continue;
		r = parse_value(&config_schema[i], config_schema[i].def, c, &why);
		if (r < 0)
			return r == -EINVAL ? -EPROTO : r; /* a broken default is a bug in the table */
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
	unsigned set_line[N_KEYS];    /* where each key was set; 0 = default */
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
	if (r < 0 || errors_add(x->errors, "%s:%u: %s", x->name, x->line, s) < 0)
		x->error = -ENOMEM;
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
	size_t n;

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
	if (n + 2 > (size_t)num) {
		ctx_error(x, "line too long (%zu bytes, at most %d)", n, num - 2);
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
		x->section_known = is_section(x->section);
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
	const struct cfg_key *k = find_key(section, name);
	_cleanup_free_ char *why = NULL;
	size_t idx;
	int r;

	if (!k) {
		ctx_error(x, "[%s] %s: unknown key", section, name);
		return 1;
	}
	idx = (size_t)(k - config_schema);
	if (x->set_line[idx]) {
		ctx_error(x, "[%s] %s: duplicate key (already set on line %u)", section, name, x->set_line[idx]);
		return 1;
	}
	x->set_line[idx] = x->line;
	r = parse_value(k, value, x->cfg, &why);
	if (r == -ENOMEM)
		x->error = -ENOMEM;
	else if (r < 0)
		ctx_error(x, "[%s] %s: %s", section, name, why);
	return 1; /* keep going: every problem is collected */
}

static unsigned line_of(const struct parse_ctx *x, const char *section, const char *key)
{
	const struct cfg_key *k = find_key(section, key);

	return k ? x->set_line[k - config_schema] : 0;
}

/* Computed defaults and rules that involve more than one key. */
static void config_finish(struct parse_ctx *x)
{
	struct kvmcd_config *c = x->cfg;

	if (!c->node_name) {
		char host[HOST_NAME_MAX + 1] = "";

		if (gethostname(host, sizeof(host) - 1) < 0 || !host[0]) {
			x->line = 0;
			ctx_error(x, "[node] name: not set and the host name is unknown");
		} else if (!(c->node_name = strdup(host)))
			x->error = -ENOMEM;
	}
	if (!c->socket_path) {
		if (asprintf(&c->socket_path, "%s/kvmcd.sock", c->run_dir) < 0) {
			c->socket_path = NULL;
			x->error = -ENOMEM;
		} else if (strlen(c->socket_path) > SOCKET_PATH_MAX) {
			x->line = line_of(x, "paths", "run_dir");
			ctx_error(x, "[paths] run_dir: too long for a unix socket path '%s' (at most %u bytes); set [paths] socket",
				  c->socket_path, SOCKET_PATH_MAX);
		}
	}
	if (!c->ontap.client_cert != !c->ontap.client_key) {
		x->line = line_of(x, "ontap", c->ontap.client_cert ? "client_cert" : "client_key");
		ctx_error(x, "[ontap] %s: client_cert and client_key must be set together",
			  c->ontap.client_cert ? "client_cert" : "client_key");
	}
}

int config_parse_buffer(const char *name, const char *data, size_t len, struct kvmcd_config **out,
			struct config_errors *errors)
{
	_cleanup_config_ struct kvmcd_config *c = NULL;
	struct parse_ctx x = { .name = name, .data = data, .len = len, .errors = errors,
			       .n_errors_at_start = errors->n };
	int r;

	r = config_new_defaults(name, &c);
	if (r < 0)
		return r;
	x.cfg = c;
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
	config_finish(&x);
	if (x.error < 0)
		return x.error;
	if (errors->n > x.n_errors_at_start)
		return -EINVAL;
	*out = TAKE_PTR(c);
	return 0;
}

int config_load(const char *path, bool missing_ok, struct kvmcd_config **out, struct config_errors *errors)
{
	_cleanup_fclose_ FILE *f = NULL;
	_cleanup_free_ char *buf = NULL;
	size_t len;
	int r;

	f = fopen(path, "re");
	if (!f) {
		r = -errno;
		if (r == -ENOENT && missing_ok)
			return config_parse_buffer(path, "", 0, out, errors);
		if (errors_add(errors, "%s: cannot open: %s", path, strerror(-r)) < 0)
			return -ENOMEM;
		return r;
	}
	buf = malloc(CONFIG_MAX_BYTES + 1);
	if (!buf)
		return -ENOMEM;
	len = fread(buf, 1, CONFIG_MAX_BYTES + 1, f);
	if (ferror(f)) {
		r = errno ? -errno : -EIO;
		if (errors_add(errors, "%s: cannot read: %s", path, strerror(-r)) < 0)
			return -ENOMEM;
		return r;
	}
	if (len > CONFIG_MAX_BYTES) {
		if (errors_add(errors, "%s: file too large (more than %u bytes)", path, CONFIG_MAX_BYTES) < 0)
			return -ENOMEM;
		return -EFBIG;
	}
	return config_parse_buffer(path, buf, len, out, errors);
}

/* ---- reload --------------------------------------------------------------------------------- */

static bool value_equal(const struct cfg_key *k, const struct kvmcd_config *a, const struct kvmcd_config *b)
{
	const void *fa = cfield(a, k), *fb = cfield(b, k);

	switch (k->type) {
	case CFG_STRING:
	case CFG_PATH: {
		const char *sa = *(char *const *)fa, *sb = *(char *const *)fb;

		return (!sa && !sb) || (sa && sb && strcmp(sa, sb) == 0);
	}
	case CFG_BOOL:
		return *(const bool *)fa == *(const bool *)fb;
	case CFG_UINT:
	case CFG_DURATION_MS:
		return *(const unsigned *)fa == *(const unsigned *)fb;
	case CFG_ENUM:
		return *(const int *)fa == *(const int *)fb;
	}
	return false;
}

size_t config_reload_merge(struct kvmcd_config *next, const struct kvmcd_config *cur,
			   void (*note)(void *userdata, const char *key, bool runtime), void *userdata)
{
	size_t n = 0;

	for (size_t i = 0; i < N_KEYS; i++) {
		const struct cfg_key *k = &config_schema[i];
		char name[80];

		if (value_equal(k, next, cur))
			continue;
		n++;
		snprintf(name, sizeof(name), "%s.%s", k->section, k->key);
		if (note)
			note(userdata, name, k->runtime);
		if (k->runtime)
			continue;
		/* Keep what the daemon started with: swap the running value back in. */
		switch (k->type) {
		case CFG_STRING:
		case CFG_PATH: {
			char **dst = field(next, k);
			const char *src = *(char *const *)cfield(cur, k);
			char *copy = src ? strdup(src) : NULL;

			if (src && !copy)
				break; /* ENOMEM: keep the new value rather than lose both */
			free(*dst);
			*dst = copy;
			break;
		}
		case CFG_BOOL:
			*(bool *)field(next, k) = *(const bool *)cfield(cur, k);
			break;
		case CFG_UINT:
		case CFG_DURATION_MS:
			*(unsigned *)field(next, k) = *(const unsigned *)cfield(cur, k);
			break;
		case CFG_ENUM:
			*(int *)field(next, k) = *(const int *)cfield(cur, k);
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

void config_write_example(FILE *f)
{
	const char *section = NULL;

	fputs("# kvmcd configuration. Every key is optional; the value shown is the default.\n"
	      "# Durations are milliseconds, or take a suffix: ms, s, min.\n", f);
	for (size_t i = 0; i < N_KEYS; i++) {
		const struct cfg_key *k = &config_schema[i];

		if (!section || strcmp(section, k->section) != 0) {
			section = k->section;
			fprintf(f, "\n[%s]\n", section);
		}
		{
			char text[512];
			int n = snprintf(text, sizeof(text), "%s", k->description);

			if (k->type == CFG_UINT || k->type == CFG_DURATION_MS)
				n += snprintf(text + n, sizeof(text) - (size_t)n, " Range %u..%u%s%s.", k->min, k->max,
					      k->unit ? " " : "", k->unit ? k->unit : "");
			if (!k->runtime)
				snprintf(text + n, sizeof(text) - (size_t)n, " Changing it needs a restart.");
			write_comment(f, text);
		}
		if (k->def)
			fprintf(f, "#%s = %s\n", k->key, k->def);
		else if (k->def_text)
			fprintf(f, "# (default: %s)\n#%s =\n", k->def_text, k->key);
		else
			fprintf(f, "# (default: unset)\n#%s =\n", k->key);
	}
}
