/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The "agent" fence method: power fencing through fence-agents (agent.h says what the agent is
 * given and when an attempt counts as confirmed; fence.h the method contract).
 *
 * One attempt, on the loop:
 *
 *   start ── off child ── exit 0 ── status child ── "Status: OFF" + exit 2 ──▶ CONFIRMED
 *            │            else ──▶ FAILED          else ──▶ FAILED (still on / unreadable)
 *            │ deadline - kill_grace: the runner sends TERM (then KILL) to the step's child
 *            ▼
 *            deadline: TIMED_OUT whatever still runs (the backstop: a child that outlives KILL)
 *
 * Both steps share one window: the RUN decision's deadline is start + fence_agent_timeout +
 * fence_agent_kill_grace (coord/timeouts.h 7.), so each child's own deadline is the time left
 * until deadline - kill_grace, and the kill grace is what the runner's TERM -> KILL needs before
 * the attempt's deadline. The secrets are read from their files at every attempt, go to the
 * child through the runner's stdin memfd (never argv, env or a log line: the runner logs
 * neither stdin nor env), are wiped from memory once the attempt ends, and are scrubbed from the
 * agent's output before any of it is read (an agent may echo its input: fencing.py warns
 * "Ignoring unknown option 'password=...'" for an agent without a password).
 */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <string.h>
#include <sys/stat.h>
#include <syslog.h>
#include <time.h>

#include "fencing/agent.h"
#include "macros.h"
#include "runner.h"
#include "timeouts.h"

/* ---- small helpers ----------------------------------------------------------------------------- */

static uint64_t now_usec(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * USEC_PER_SEC + (uint64_t)ts.tv_nsec / 1000;
}

_printf_(2, 3) static int set_error(char **error, const char *fmt, ...)
{
	va_list ap;
	char *s;

	if (!error)
		return 0;
	va_start(ap, fmt);
	if (vasprintf(&s, fmt, ap) < 0)
		s = NULL;
	va_end(ap);
	free(*error);
	*error = s;
	return 0;
}

/* Appends printf output to *buf (a heap string, NULL = empty). */
_printf_(2, 3) static int append(char **buf, const char *fmt, ...)
{
	va_list ap;
	char *add, *joined;
	int r;

	va_start(ap, fmt);
	r = vasprintf(&add, fmt, ap);
	va_end(ap);
	if (r < 0)
		return -ENOMEM;
	if (!*buf) {
		*buf = add;
		return 0;
	}
	r = asprintf(&joined, "%s%s", *buf, add);
	explicit_bzero(add, strlen(add));  /* may be a secret line */
	free(add);
	if (r < 0)
		return -ENOMEM;
	explicit_bzero(*buf, strlen(*buf));
	free(*buf);
	*buf = joined;
	return 0;
}

static void free_secret(char *s)
{
	if (s) {
		explicit_bzero(s, strlen(s));
		free(s);
	}
}

/* ---- parameters ------------------------------------------------------------------------------- */

static bool key_valid(const char *k)
{
	size_t n = strlen(k);

	if (n == 0 || n > 64 || !isalpha((unsigned char)k[0]))
		return false;
	for (size_t i = 1; i < n; i++)
		if (!isalnum((unsigned char)k[i]) && k[i] != '_' && k[i] != '-')
			return false;
	return true;
}

/* A control character would end the line on the agent's stdin and start another. */
static bool value_valid(const char *v)
{
	for (const unsigned char *p = (const unsigned char *)v; *p; p++)
		if (*p < 0x20 || *p == 0x7f)
			return false;
	return strlen(v) <= 1024;
}

/* "password" and "password-script" style aliases: fencing.py accepts '-' for '_'. */
static bool key_is(const char *k, const char *want)
{
	for (; *k && *want; k++, want++) {
		char a = *k == '-' ? '_' : (char)tolower((unsigned char)*k);
		if (a != *want)
			return false;
	}
	return !*k && !*want;
}

static const char *refused_key(const char *k)
{
	if (key_is(k, "password") || key_is(k, "passwd"))
		return "a password in the configuration would be readable by every user who can read it and "
		       "end up in backups; put it in a root-only password_file";
	if (key_is(k, "action") || key_is(k, "option"))
		return "kvmcd decides the action (off, then status)";
	if (key_is(k, "nodename"))
		return "kvmcd passes the node's name itself";
	return NULL;
}

/* Opens a secret file and checks that only its owner (root or us) can read it. */
static int open_secret(const char *node, const char *key, const char *path, char **error)
{
	_cleanup_close_ int fd = -1;
	struct stat st;

	if (path[0] != '/')
		return set_error(error, "fence agent for %s: %s %s: not an absolute path", node, key, path), -EINVAL;
	fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd < 0) {
		int r = -errno;
		if (r == -ELOOP)
			return set_error(error, "fence agent for %s: %s %s: a symbolic link (name the file itself)",
					 node, key, path), -EPERM;
		return set_error(error, "fence agent for %s: %s %s: %s", node, key, path, strerror(-r)), r;
	}
	if (fstat(fd, &st) < 0)
		return set_error(error, "fence agent for %s: %s %s: %s", node, key, path, strerror(errno)), -errno;
	if (S_ISDIR(st.st_mode))
		return set_error(error, "fence agent for %s: %s %s: a directory", node, key, path), -EISDIR;
	if (!S_ISREG(st.st_mode))
		return set_error(error, "fence agent for %s: %s %s: not a regular file", node, key, path), -EINVAL;
	if (st.st_uid != 0 && st.st_uid != geteuid())
		return set_error(error, "fence agent for %s: %s %s: owned by uid %u; it must be root's", node, key, path,
				 (unsigned)st.st_uid), -EPERM;
	if (st.st_mode & 077)
		return set_error(error, "fence agent for %s: %s %s: mode %04o lets %s read it; chmod 600 (or 400) it",
				 node, key, path, (unsigned)(st.st_mode & 07777),
				 (st.st_mode & 070) && (st.st_mode & 07) ? "group and others"
				 : (st.st_mode & 070)                     ? "its group"
									  : "others"), -EPERM;
	if ((uint64_t)st.st_size > FENCE_AGENT_SECRET_FILE_MAX)
		return set_error(error, "fence agent for %s: %s %s: %llu bytes, more than %u", node, key, path,
				 (unsigned long long)st.st_size, FENCE_AGENT_SECRET_FILE_MAX), -EFBIG;
	return TAKE_FD(fd);
}

/* Reads the whole (small, regular) file; *out owned, NUL-terminated. */
static int read_secret(const char *node, const char *key, const char *path, char **out, size_t *out_len,
		       char **error)
{
	_cleanup_close_ int fd = open_secret(node, key, path, error);
	char *buf;
	size_t len = 0;

	if (fd < 0)
		return fd;
	buf = calloc(1, FENCE_AGENT_SECRET_FILE_MAX + 1);
	if (!buf)
		return -ENOMEM;
	for (;;) {
		ssize_t n = read(fd, buf + len, FENCE_AGENT_SECRET_FILE_MAX - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			int r = -errno;
			free_secret(buf);
			return set_error(error, "fence agent for %s: %s %s: %s", node, key, path, strerror(-r)), r;
		}
		if (n == 0)
			break;
		len += (size_t)n;
		if (len == FENCE_AGENT_SECRET_FILE_MAX)
			break;
	}
	if (memchr(buf, '\0', len)) {
		free_secret(buf);
		return set_error(error, "fence agent for %s: %s %s: holds a NUL byte", node, key, path), -EINVAL;
	}
	*out = buf;
	*out_len = len;
	return 0;
}

static int add_secret(struct fence_agent_params *p, const char *value)
{
	char **n;

	if (!*value)
		return 0;
	n = realloc(p->secrets, (p->n_secrets + 1) * sizeof *n);
	if (!n)
		return -ENOMEM;
	p->secrets = n;
	p->secrets[p->n_secrets] = strdup(value);
	if (!p->secrets[p->n_secrets])
		return -ENOMEM;
	p->n_secrets++;
	return 0;
}

/* Keys seen so far (config and files), to refuse one twice. */
struct seen {
	const char **keys;
	char **owned;
	size_t n, n_owned;
};

/* Keys as fencing.py reads them: case and '-' / '_' do not matter. */
static bool keys_equal(const char *a, const char *b)
{
	for (; *a && *b; a++, b++) {
		char x = *a == '-' ? '_' : (char)tolower((unsigned char)*a);
		char y = *b == '-' ? '_' : (char)tolower((unsigned char)*b);
		if (x != y)
			return false;
	}
	return !*a && !*b;
}

static bool seen_has(const struct seen *s, const char *k)
{
	for (size_t i = 0; i < s->n; i++)
		if (keys_equal(s->keys[i], k))
			return true;
	return false;
}

static int seen_add(struct seen *s, const char *k, bool copy)
{
	const char **n = realloc(s->keys, (s->n + 1) * sizeof *n);
	if (!n)
		return -ENOMEM;
	s->keys = n;
	if (copy) {
		char **o = realloc(s->owned, (s->n_owned + 1) * sizeof *o);
		if (!o)
			return -ENOMEM;
		s->owned = o;
		if (!(s->owned[s->n_owned] = strdup(k)))
			return -ENOMEM;
		k = s->owned[s->n_owned++];
	}
	s->keys[s->n++] = k;
	return 0;
}

static void seen_done(struct seen *s)
{
	for (size_t i = 0; i < s->n_owned; i++)
		free(s->owned[i]);
	free(s->owned);
	free(s->keys);
}

static int load_credentials(const char *node, const char *path, struct fence_agent_params *p, struct seen *seen,
			    char **error)
{
	char *buf = NULL, *line;
	size_t len, lineno = 0;
	int r;

	r = read_secret(node, "credentials_file", path, &buf, &len, error);
	if (r < 0)
		return r;
	/* Line by line, counting every line (blank ones too) for the messages. */
	for (char *cur = buf; cur && *cur; ) {
		char *nl = strchr(cur, '\n'), *eq, *k, *v, *end;

		lineno++;
		if (nl)
			*nl = '\0';
		line = cur;
		cur = nl ? nl + 1 : NULL;
		end = line + strlen(line);
		if (end > line && end[-1] == '\r')
			*--end = '\0';
		while (*line == ' ' || *line == '\t')
			line++;
		if (!*line || *line == '#')
			continue;
		eq = strchr(line, '=');
		if (!eq) {
			r = -EINVAL;
			set_error(error, "fence agent for %s: credentials_file %s:%zu: not key=value", node, path, lineno);
			goto out;
		}
		*eq = '\0';
		k = line;
		v = eq + 1;
		for (char *t = eq; t > k && (t[-1] == ' ' || t[-1] == '\t'); t--)
			t[-1] = '\0';
		if (!key_valid(k)) {
			r = -EINVAL;
			set_error(error, "fence agent for %s: credentials_file %s:%zu: not a key name", node, path, lineno);
			goto out;
		}
		if (key_is(k, "action") || key_is(k, "option") || key_is(k, "nodename")) {
			r = -EINVAL;
			set_error(error, "fence agent for %s: credentials_file %s:%zu: %s: %s", node, path, lineno, k,
				  refused_key(k));
			goto out;
		}
		if (seen_has(seen, k)) {
			r = -EINVAL;
			set_error(error, "fence agent for %s: credentials_file %s:%zu: %s is set twice", node, path,
				  lineno, k);
			goto out;
		}
		if (!value_valid(v)) {
			r = -EINVAL;
			set_error(error, "fence agent for %s: credentials_file %s:%zu: %s: the value has a control "
				  "character or is longer than 1024 bytes", node, path, lineno, k);
			goto out;
		}
		if ((r = seen_add(seen, k, true)) < 0 || (r = add_secret(p, v)) < 0 ||
		    (r = append(&p->secret_lines, "%s=%s\n", k, v)) < 0)
			goto out;
	}
	r = 0;
out:
	if (buf)
		explicit_bzero(buf, FENCE_AGENT_SECRET_FILE_MAX + 1);
	free(buf);
	return r;
}

static int load_password(const char *node, const char *path, struct fence_agent_params *p, struct seen *seen,
			 char **error)
{
	char *buf = NULL;
	size_t len;
	int r;

	if (seen_has(seen, "password") || seen_has(seen, "passwd"))
		return set_error(error, "fence agent for %s: password_file %s: the credentials_file sets a password "
				 "already", node, path), -EINVAL;
	r = read_secret(node, "password_file", path, &buf, &len, error);
	if (r < 0)
		return r;
	if (len > 0 && buf[len - 1] == '\n')
		buf[--len] = '\0';
	if (len > 0 && buf[len - 1] == '\r')
		buf[--len] = '\0';
	if (len == 0)
		r = -EINVAL, set_error(error, "fence agent for %s: password_file %s: empty", node, path);
	else if (!value_valid(buf))
		r = -EINVAL, set_error(error, "fence agent for %s: password_file %s: more than one line, a control "
				       "character or longer than 1024 bytes", node, path);
	else if ((r = add_secret(p, buf)) >= 0)
		r = append(&p->secret_lines, "password=%s\n", buf);
	if (buf)
		explicit_bzero(buf, FENCE_AGENT_SECRET_FILE_MAX + 1);
	free(buf);
	return r < 0 ? r : 0;
}

static int load_program(const char *node, const char *agent, struct fence_agent_params *p, char **error)
{
	const char *base;
	struct stat st;

	if (agent[0] == '/') {
		if (asprintf(&p->program, "%s", agent) < 0)
			return -ENOMEM;
	} else {
		if (strncmp(agent, "fence_", 6) != 0 || !agent[6] || !key_valid(agent) || strchr(agent, '-'))
			return set_error(error, "fence agent for %s: agent %s: neither a fence_* program name nor an "
					 "absolute path", node, agent), -EINVAL;
		if (asprintf(&p->program, "%s/%s", FENCE_AGENT_DIR, agent) < 0)
			return -ENOMEM;
	}
	base = strrchr(p->program, '/') + 1;
	if (!*base)
		return set_error(error, "fence agent for %s: agent %s: names a directory", node, agent), -EINVAL;
	if (!(p->name = strdup(base)))
		return -ENOMEM;
	if (stat(p->program, &st) < 0) {
		int r = -errno;
		return set_error(error, "fence agent for %s: agent %s: %s%s", node, p->program, strerror(-r),
				 r == -ENOENT && agent[0] != '/' ? " (is the fence-agents package installed?)" : ""), r;
	}
	if (!S_ISREG(st.st_mode) || !(st.st_mode & 0111))
		return set_error(error, "fence agent for %s: agent %s: not an executable file", node, p->program), -EACCES;
	/* It runs as root and is handed the password: nobody else may have changed it. */
	if ((st.st_uid != 0 && st.st_uid != geteuid()) || (st.st_mode & 022))
		return set_error(error, "fence agent for %s: agent %s: owned by uid %u with mode %04o; it must be "
				 "root's and writable by root only", node, p->program, (unsigned)st.st_uid,
				 (unsigned)(st.st_mode & 07777)), -EPERM;
	return 0;
}

int fence_agent_params_load(const struct fence_target *t, struct fence_agent_params *out, char **error)
{
	struct fence_agent_params p = { 0 };
	struct seen seen = { 0 };
	const char *agent = NULL, *password_file = NULL, *credentials_file = NULL;
	const char *node;
	int r;

	if (!t || !t->node || !*t->node || (t->n_params && !t->params) || !out)
		return set_error(error, "fence agent: no node given"), -EINVAL;
	node = t->node;
	if (!value_valid(node))
		return set_error(error, "fence agent: the node's name has a control character"), -EINVAL;
	r = append(&p.lines, "nodename=%s\n", node);
	if (r < 0)
		goto fail;
	for (size_t i = 0; i < t->n_params; i++) {
		const char *k = t->params[i].key, *v = t->params[i].value, *why;

		if (!k || !v) {
			r = -EINVAL;
			set_error(error, "fence agent for %s: parameter %zu without a key or value", node, i + 1);
			goto fail;
		}
		if (!key_valid(k)) {
			r = -EINVAL;
			set_error(error, "fence agent for %s: %s: not a key name ([A-Za-z][A-Za-z0-9_-]*)", node, k);
			goto fail;
		}
		if ((why = refused_key(k))) {
			r = -EINVAL;
			set_error(error, "fence agent for %s: %s: refused: %s", node, k, why);
			goto fail;
		}
		if (seen_has(&seen, k)) {
			r = -EINVAL;
			set_error(error, "fence agent for %s: %s is set twice", node, k);
			goto fail;
		}
		if (!value_valid(v)) {
			r = -EINVAL;
			set_error(error, "fence agent for %s: %s: the value has a control character or is longer "
				  "than 1024 bytes", node, k);
			goto fail;
		}
		if ((r = seen_add(&seen, k, false)) < 0)
			goto fail;
		if (key_is(k, "agent"))
			agent = v;
		else if (key_is(k, "password_file"))
			password_file = v;
		else if (key_is(k, "credentials_file"))
			credentials_file = v;
		else if ((r = append(&p.lines, "%s=%s\n", k, v)) < 0)
			goto fail;
	}
	if (!agent || !*agent) {
		r = -EINVAL;
		set_error(error, "fence agent for %s: agent is not set (e.g. agent = fence_ipmilan)", node);
		goto fail;
	}
	if ((r = load_program(node, agent, &p, error)) < 0)
		goto fail;
	if (credentials_file && (r = load_credentials(node, credentials_file, &p, &seen, error)) < 0)
		goto fail;
	if (password_file && (r = load_password(node, password_file, &p, &seen, error)) < 0)
		goto fail;
	seen_done(&seen);
	*out = p;
	return 0;
fail:
	if (r == -ENOMEM)
		set_error(error, "fence agent for %s: out of memory", node);
	seen_done(&seen);
	fence_agent_params_done(&p);
	return r;
}

void fence_agent_params_done(struct fence_agent_params *p)
{
	if (!p)
		return;
	free(p->program);
	free(p->name);
	free(p->lines);
	free_secret(p->secret_lines);
	for (size_t i = 0; i < p->n_secrets; i++)
		free_secret(p->secrets[i]);
	free(p->secrets);
	*p = (struct fence_agent_params){ 0 };
}

/* ---- the agent's answer ----------------------------------------------------------------------- */

void fence_agent_scrub(char *buf, size_t len, char *const *secrets, size_t n)
{
	for (size_t s = 0; s < n; s++) {
		size_t sl = secrets[s] ? strlen(secrets[s]) : 0;
		if (!sl)
			continue;
		for (size_t i = 0; i + sl <= len; i++)
			if (memcmp(buf + i, secrets[s], sl) == 0) {
				memset(buf + i, '*', sl);
				i += sl - 1;
			}
	}
}

/* Walks the lines of a buffer that may hold NULs; calls fn(line, len, arg) per line (without the
 * newline and trailing CR / blanks). */
typedef void (*line_fn)(const char *line, size_t len, void *arg);

static void each_line(const char *buf, size_t len, line_fn fn, void *arg)
{
	size_t i = 0;

	if (!buf)
		return;
	while (i < len) {
		size_t j = i, l;
		while (j < len && buf[j] != '\n')
			j++;
		l = j - i;
		while (l > 0 && (buf[i + l - 1] == '\r' || buf[i + l - 1] == ' ' || buf[i + l - 1] == '\t'))
			l--;
		fn(buf + i, l, arg);
		i = j + 1;
	}
}

/* Case-insensitive prefix test on a line that is not NUL-terminated. */
static bool line_starts(const char *line, size_t len, const char *prefix)
{
	size_t pl = strlen(prefix);
	return len >= pl && strncasecmp(line, prefix, pl) == 0;
}

static bool line_contains(const char *line, size_t len, const char *word)
{
	size_t wl = strlen(word);
	for (size_t i = 0; i + wl <= len; i++)
		if (strncasecmp(line + i, word, wl) == 0)
			return true;
	return false;
}

/* Copies a line into msg as printable ASCII, bounded. */
static void put_line(char *msg, size_t size, const char *line, size_t len)
{
	size_t o = 0;

	if (!size)
		return;
	for (size_t i = 0; i < len && o + 1 < size && o < 240; i++) {
		unsigned char c = (unsigned char)line[i];
		msg[o++] = (c >= 0x20 && c < 0x7f) ? (char)c : '?';
	}
	msg[o] = '\0';
}

struct status_scan {
	unsigned on, off, other;
	const char *first_other;
	size_t first_other_len;
};

static void scan_status(const char *line, size_t len, void *arg)
{
	struct status_scan *s = arg;
	const char *w;
	size_t wl;

	while (len && (*line == ' ' || *line == '\t'))
		line++, len--;
	if (!line_starts(line, len, "status:"))
		return;
	w = line + 7;
	wl = len - 7;
	while (wl && (*w == ' ' || *w == '\t'))
		w++, wl--;
	if (wl == 2 && strncasecmp(w, "on", 2) == 0)
		s->on++;
	else if (wl == 3 && strncasecmp(w, "off", 3) == 0)
		s->off++;
	else if (s->other++ == 0) {
		s->first_other = line;
		s->first_other_len = len;
	}
}

/* The line that best says what went wrong (or right). */
struct pick {
	const char *want;           /* a word the line must hold; NULL: any non-empty line */
	const char *line;
	size_t len;
};

static void pick_last(const char *line, size_t len, void *arg)
{
	struct pick *p = arg;

	if (!len || (p->want && !line_contains(line, len, p->want)))
		return;
	p->line = line;
	p->len = len;
}

/* fencing.py's logging prefixes ("2026-01-01 12:00:00,123 ERROR: ", "ERROR:root:") say nothing. */
static void strip_log_prefix(const char **line, size_t *len)
{
	static const char *const marks[] = { "ERROR:root:", "WARNING:root:", "ERROR: ", "WARNING: ", "ERROR:" };

	for (size_t m = 0; m < ARRAY_SIZE(marks); m++) {
		size_t ml = strlen(marks[m]);
		for (size_t i = 0; i + ml <= *len && i < 40; i++)
			if (strncmp(*line + i, marks[m], ml) == 0) {
				*line += i + ml;
				*len -= i + ml;
				while (*len && **line == ' ')
					(*line)++, (*len)--;
				return;
			}
	}
}

static bool best_line(const char *out, size_t out_len, const char *err, size_t err_len, const char **line,
		      size_t *len)
{
	static const char *const words[] = { "failed", "error", NULL };
	struct pick p;

	for (size_t w = 0; w < ARRAY_SIZE(words); w++) {
		p = (struct pick){ .want = words[w] };
		each_line(err, err_len, pick_last, &p);
		if (!p.line)
			each_line(out, out_len, pick_last, &p);
		if (p.line) {
			*line = p.line;
			*len = p.len;
			strip_log_prefix(line, len);
			return true;
		}
	}
	return false;
}

enum fence_agent_verdict fence_agent_parse(enum fence_agent_action action, int exit_code, const char *out,
					   size_t out_len, const char *err, size_t err_len, char *msg,
					   size_t msg_size)
{
	const char *line = NULL;
	size_t len = 0;
	struct status_scan s = { 0 };
	struct pick success = { .want = "success" };

	if (msg_size)
		msg[0] = '\0';
	if (action == FENCE_AGENT_ACTION_OFF) {
		if (exit_code == 0) {
			each_line(out, out_len, pick_last, &success);
			if (success.line)
				put_line(msg, msg_size, success.line, success.len);
			else
				snprintf(msg, msg_size, "exited with status 0");
			return FENCE_AGENT_DONE;
		}
		if (best_line(out, out_len, err, err_len, &line, &len) && len) {
			char l[256];
			put_line(l, sizeof l, line, len);
			snprintf(msg, msg_size, "exited with status %d: %s", exit_code, l);
		} else
			snprintf(msg, msg_size, "exited with status %d without a message", exit_code);
		return FENCE_AGENT_ERROR;
	}

	each_line(out, out_len, scan_status, &s);
	if (s.other) {
		char l[256];
		put_line(l, sizeof l, s.first_other, s.first_other_len);
		if (exit_code == 0 || exit_code == 2) {
			snprintf(msg, msg_size, "exit status %d with an unknown power state: %s", exit_code, l);
			return FENCE_AGENT_BAD_OUTPUT;
		}
		snprintf(msg, msg_size, "exited with status %d: %s", exit_code, l);
		return FENCE_AGENT_ERROR;
	}
	if (s.on && s.off) {
		snprintf(msg, msg_size, "exit status %d with both 'Status: ON' and 'Status: OFF' lines", exit_code);
		return FENCE_AGENT_BAD_OUTPUT;
	}
	if (exit_code == 2) {
		if (s.off) {
			snprintf(msg, msg_size, "Status: OFF");
			return FENCE_AGENT_POWER_OFF;
		}
		snprintf(msg, msg_size, s.on ? "exit status 2 (off) but 'Status: ON'"
					     : "exit status 2 (off) without a 'Status: OFF' line");
		return FENCE_AGENT_BAD_OUTPUT;
	}
	if (exit_code == 0) {
		if (s.off) {
			snprintf(msg, msg_size, "'Status: OFF' but exit status 0 (on)");
			return FENCE_AGENT_BAD_OUTPUT;
		}
		snprintf(msg, msg_size, s.on ? "Status: ON" : "exit status 0 (on) without a 'Status:' line");
		return FENCE_AGENT_POWER_ON;
	}
	if (best_line(out, out_len, err, err_len, &line, &len) && len) {
		char l[256];
		put_line(l, sizeof l, line, len);
		snprintf(msg, msg_size, "exited with status %d: %s", exit_code, l);
	} else
		snprintf(msg, msg_size, "exited with status %d without a message", exit_code);
	return FENCE_AGENT_ERROR;
}

const char *fence_agent_verdict_name(enum fence_agent_verdict v)
{
	static const char *const names[] = {
		[FENCE_AGENT_DONE] = "done", [FENCE_AGENT_POWER_OFF] = "power-off",
		[FENCE_AGENT_POWER_ON] = "power-on", [FENCE_AGENT_ERROR] = "error",
		[FENCE_AGENT_BAD_OUTPUT] = "bad-output",
	};
	return (unsigned)v < ARRAY_SIZE(names) ? names[v] : NULL;
}

/* ---- one attempt -------------------------------------------------------------------------------- */

struct fence_handle {
	struct fence_ctx *ctx;             /* borrowed */
	struct fence_agent_params p;       /* owned; the secrets wiped once the attempt ends */
	char *node;                        /* owned */
	enum fence_agent_action step;
	uint64_t started, deadline, steps_end; /* steps_end = deadline - kill grace */
	struct runner_handle *job;         /* the step's child; NULL when none runs */
	sd_event_source *timer;            /* the deadline backstop; owned */
	fence_done_fn done;
	void *userdata;                    /* borrowed */
	bool over;                         /* reported or cancelled: only the job's callback is left */
	char off_said[256];                /* the off step's answer, for the evidence */
};

_printf_(3, 4) static void alog(struct fence_handle *h, int level, const char *fmt, ...)
{
	char buf[512];
	va_list ap;

	if (!h->ctx->log)
		return;
	va_start(ap, fmt);
	vsnprintf(buf, sizeof buf, fmt, ap);
	va_end(ap);
	h->ctx->log(h->ctx->log_userdata, level, buf);
}

static void handle_free(struct fence_handle *h)
{
	sd_event_source_disable_unref(h->timer);
	fence_agent_params_done(&h->p);
	free(h->node);
	free(h);
}

/* Ends the attempt: the one callback. The handle lives on while a child is still being killed. */
static void finish(struct fence_handle *h, enum fence_outcome_kind kind, const char *text)
{
	struct fence_outcome o = {
		.kind = kind, .text = text, .duration_usec = now_usec() - h->started,
	};
	fence_done_fn done = h->done;
	void *userdata = h->userdata;

	h->over = true;
	h->timer = sd_event_source_disable_unref(h->timer);
	/* The secrets are not needed any more; do not keep them around while a child dies. */
	fence_agent_params_done(&h->p);
	/* INFO: the caller (the HA service) decides what the outcome means and logs that. */
	alog(h, LOG_INFO, "fence agent for %s: %s: %s", h->node,
	     fence_outcome_name(kind), text);
	if (h->job)
		runner_cancel(h->job);
	else
		handle_free(h);
	done(userdata, &o);
}

static void on_step(struct runner_result *res, void *userdata);

static int start_step(struct fence_handle *h, enum fence_agent_action step)
{
	const char *const argv[] = { h->p.program, NULL };
	static const char *const env[] = { "LC_ALL=C", NULL };
	_cleanup_free_ char *what = NULL;
	char *input = NULL;
	uint64_t now = now_usec();
	struct runner_job job;
	int r;

	if (now >= h->steps_end)
		return -ETIME;
	if (asprintf(&what, "%s %s for %s", h->p.name, step == FENCE_AGENT_ACTION_OFF ? "off" : "status",
		     h->node) < 0)
		return -ENOMEM;
	r = append(&input, "action=%s\n%s%s", step == FENCE_AGENT_ACTION_OFF ? "off" : "status", h->p.lines,
		   h->p.secret_lines ? h->p.secret_lines : "");
	if (r < 0)
		return r;
	job = (struct runner_job){
		.argv = argv, .env = env, .stdin_data = input, .stdin_len = strlen(input),
		.timeout_usec = h->steps_end - now, .what = what,
	};
	h->step = step;
	r = runner_start(h->ctx->runner, &job, on_step, h, &h->job);
	free_secret(input);
	if (r < 0)
		h->job = NULL;
	return r;
}

static void on_step(struct runner_result *res, void *userdata)
{
	struct fence_handle *h = userdata;
	const char *act = h->step == FENCE_AGENT_ACTION_OFF ? "off" : "status";
	char how[160], said[256], text[768];
	enum fence_agent_verdict v;
	int r;

	h->job = NULL;
	if (h->over) {          /* reported or cancelled already: the child is gone now */
		handle_free(h);
		return;
	}
	/* Nothing of the output is looked at before the secrets are out of it. */
	fence_agent_scrub(res->out, res->out_len, h->p.secrets, h->p.n_secrets);
	fence_agent_scrub(res->err, res->err_len, h->p.secrets, h->p.n_secrets);
	runner_result_describe(res, how, sizeof how);
	if (res->timed_out || res->abandoned) {
		snprintf(text, sizeof text, "%s %s: %s", h->p.name, act, how);
		finish(h, FENCE_OUTCOME_TIMED_OUT, text);
		return;
	}
	if (res->exit_code < 0) {
		snprintf(text, sizeof text, "%s %s: %s", h->p.name, act, how);
		finish(h, FENCE_OUTCOME_FAILED, text);
		return;
	}
	v = fence_agent_parse(h->step, res->exit_code, res->out, res->out_len, res->err, res->err_len, said,
			      sizeof said);
	alog(h, LOG_INFO, "fence agent for %s: %s %s: %s (%llu ms)", h->node, h->p.name, act, said,
	     (unsigned long long)(res->duration_usec / USEC_PER_MSEC));
	switch (v) {
	case FENCE_AGENT_DONE:
		snprintf(h->off_said, sizeof h->off_said, "%s", said);
		r = start_step(h, FENCE_AGENT_ACTION_STATUS);
		if (r == -ETIME)
			snprintf(text, sizeof text, "%s off succeeded (%s) but no time was left for status before the "
				 "deadline", h->p.name, said);
		else if (r < 0)
			snprintf(text, sizeof text, "%s status: could not start: %s", h->p.name, strerror(-r));
		if (r < 0)
			finish(h, r == -ETIME ? FENCE_OUTCOME_TIMED_OUT : FENCE_OUTCOME_FAILED, text);
		return;
	case FENCE_AGENT_POWER_OFF:
		snprintf(text, sizeof text, "power status: off (%s off: %s; status: %s)", h->p.name, h->off_said, said);
		finish(h, FENCE_OUTCOME_CONFIRMED, text);
		return;
	case FENCE_AGENT_POWER_ON:
		snprintf(text, sizeof text, "power status still on after off (%s off: %s; status: %s)", h->p.name,
			 h->off_said, said);
		break;
	case FENCE_AGENT_ERROR:
		snprintf(text, sizeof text, "%s %s: %s", h->p.name, act, said);
		break;
	case FENCE_AGENT_BAD_OUTPUT:
	default:
		snprintf(text, sizeof text, "%s %s: unreadable answer: %s", h->p.name, act, said);
		break;
	}
	finish(h, FENCE_OUTCOME_FAILED, text);
}

static int on_deadline(sd_event_source *s, uint64_t usec, void *userdata)
{
	struct fence_handle *h = userdata;
	char text[512];

	snprintf(text, sizeof text, "%s %s did not end by the attempt's deadline (%llu ms after the start); "
		 "stopped", h->p.name, h->step == FENCE_AGENT_ACTION_OFF ? "off" : "status",
		 (unsigned long long)((h->deadline - h->started) / USEC_PER_MSEC));
	finish(h, FENCE_OUTCOME_TIMED_OUT, text);
	return 0;
}

static int agent_check(const struct fence_target *t, char **error)
{
	struct fence_agent_params p;
	int r = fence_agent_params_load(t, &p, error);

	if (r >= 0)
		fence_agent_params_done(&p);
	return r;
}

static int agent_start(struct fence_ctx *ctx, const struct fence_target *t, uint64_t deadline_usec,
		       fence_done_fn done, void *userdata, struct fence_handle **out, char **error)
{
	struct fence_handle *h;
	uint64_t now = now_usec(), grace;
	int r;

	if (!ctx || !ctx->event || !ctx->runner || !ctx->timeouts || !t || !done || !out)
		return set_error(error, "fence agent: called without a loop, runner, timeouts or callback"), -EINVAL;
	grace = ctx->timeouts->fence_agent_kill_grace_usec;
	if (deadline_usec <= now + grace)
		return set_error(error, "fence agent for %s: the deadline leaves no time beyond the kill grace",
				 t->node ? t->node : "?"), -ETIME;
	h = calloc(1, sizeof *h);
	if (!h)
		return -ENOMEM;
	h->ctx = ctx;
	h->done = done;
	h->userdata = userdata;
	h->started = now;
	h->deadline = deadline_usec;
	h->steps_end = deadline_usec - grace;
	r = fence_agent_params_load(t, &h->p, error);
	if (r < 0)
		goto fail;
	if (!(h->node = strdup(t->node))) {
		r = -ENOMEM;
		goto fail;
	}
	r = sd_event_add_time(ctx->event, &h->timer, CLOCK_MONOTONIC, deadline_usec, 1 /* µs: not sd-event's 250 ms default slack */,
			      on_deadline, h);
	if (r < 0)
		goto fail;
	r = start_step(h, FENCE_AGENT_ACTION_OFF);
	if (r < 0) {
		set_error(error, "fence agent for %s: %s: cannot run: %s", t->node, h->p.program, strerror(-r));
		goto fail;
	}
	alog(h, LOG_INFO, "fence agent for %s: %s off, then status, within %llu ms", h->node, h->p.name,
	     (unsigned long long)((deadline_usec - now) / USEC_PER_MSEC));
	*out = h;
	return 0;
fail:
	handle_free(h);
	return r;
}

static void agent_cancel(struct fence_handle *h)
{
	if (!h || h->over)
		return;
	h->over = true;
	h->timer = sd_event_source_disable_unref(h->timer);
	fence_agent_params_done(&h->p);
	if (h->job)
		runner_cancel(h->job);   /* its callback frees h */
	else
		handle_free(h);
}

const struct fence_method_ops fence_agent_ops = {
	.name = "agent",
	.method = FENCE_METHOD_AGENT,
	.check = agent_check,
	.start = agent_start,
	.cancel = agent_cancel,
};
