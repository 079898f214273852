/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The scenario runner: virtual time, the event heap, scenario files, statement dispatch, the
 * trace and its golden, invariant hooks and the seeded random mode. runner.h says how a driver
 * plugs in; nothing here knows which core is under test.
 */
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "runner.h"

enum {
	EV_SCRIPT = -1,       /* a statement (from the file, scn_at, or a random step) */
	EV_RANDOM_STEP = -2,  /* the driver picks a random statement now */
	EV_RANDOM_END = -3,   /* the random phase is over: the driver schedules the quiet phase */
};

struct scn {
	const struct scn_driver *drv;
	void *d;                     /* the driver's state (owned through drv->destroy) */
	uint64_t now, seq, end;
	struct scn_event **heap;     /* owned, and so are the events */
	size_t heap_n, heap_cap;

	FILE *trace;                 /* golden trace (memstream over tracebuf) */
	char *tracebuf;
	size_t tracelen;
	bool live;                   /* --trace: every line to stdout as well */

	FILE *fails;                 /* failure messages (memstream over failbuf) */
	char *failbuf;
	size_t faillen;
	int failures;
	char *first_failure;         /* owned */
	int lineno;                  /* line of the statement being run; 0 outside one */
	char *unsupported;           /* owned: what the core lacks, NULL when nothing */

	bool stop_at_failure;        /* random runs and shrinking: the first failure ends the run */
	/* random mode */
	bool random;
	const char *exclude;         /* "stall,delay": statements the random mode must not run */
	struct scn_rng rng;
	uint64_t chaos_end;
	FILE *script;                /* the statements run, as a scenario file (memstream) */
	char *scriptbuf;
	size_t scriptlen;
};

/* ---- PRNG ------------------------------------------------------------------------------- */

uint64_t scn_rng_next(struct scn_rng *g)
{
	uint64_t z = (g->s += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

uint64_t scn_rng_below(struct scn_rng *g, uint64_t n)
{
	/* Rejection sampling keeps it uniform; n is small, so this loops almost never. */
	uint64_t limit = UINT64_MAX - UINT64_MAX % n, v;

	do
		v = scn_rng_next(g);
	while (v >= limit);
	return v % n;
}

uint64_t scn_rng_range(struct scn_rng *g, uint64_t lo, uint64_t hi)
{
	return lo + scn_rng_below(g, hi - lo + 1);
}

bool scn_rng_chance(struct scn_rng *g, unsigned percent)
{
	return scn_rng_below(g, 100) < percent;
}

/* ---- output ----------------------------------------------------------------------------- */

uint64_t scn_now(const struct scn *r)
{
	return r->now;
}

static void vline(struct scn *r, bool golden, const char *fmt, va_list ap) _printf_(3, 0);
static void vline(struct scn *r, bool golden, const char *fmt, va_list ap)
{
	_cleanup_free_ char *text = NULL;

	if (vasprintf(&text, fmt, ap) < 0)
		abort();
	if (golden)
		fprintf(r->trace, "%7.3f %s\n", (double)r->now / 1e6, text);
	if (r->live)
		printf("%7.3f %s%s\n", (double)r->now / 1e6, golden ? "" : "   . ", text);
}

void scn_trace(struct scn *r, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vline(r, true, fmt, ap);
	va_end(ap);
}

void scn_debug(struct scn *r, const char *fmt, ...)
{
	va_list ap;

	if (!r->live)
		return;
	va_start(ap, fmt);
	vline(r, false, fmt, ap);
	va_end(ap);
}

void scn_trace_json(struct scn *r, const char *who, const char *event, json_t *fields)
{
	_cleanup_free_ char *f = fields ? json_dumps(fields, JSON_SORT_KEYS | JSON_COMPACT) : NULL;

	if (!f)
		abort();
	scn_trace(r, "%s %s %s", who, event, f);
	json_decref(fields);
}

void scn_fail(struct scn *r, const char *fmt, ...)
{
	_cleanup_free_ char *text = NULL;
	va_list ap;

	va_start(ap, fmt);
	if (vasprintf(&text, fmt, ap) < 0)
		abort();
	va_end(ap);
	fprintf(r->fails, "FAIL (t=%.3f", (double)r->now / 1e6);
	if (r->lineno)
		fprintf(r->fails, ", line %d", r->lineno);
	fprintf(r->fails, "): %s\n", text);
	if (r->live)
		fprintf(stderr, "FAIL (t=%.3f): %s\n", (double)r->now / 1e6, text);
	scn_trace(r, "FAIL %s", text);
	if (!r->first_failure && asprintf(&r->first_failure, "t=%.3f: %s", (double)r->now / 1e6, text) < 0)
		abort();
	r->failures++;
}

bool scn_failed(const struct scn *r)
{
	return r->failures > 0;
}

void scn_unsupported(struct scn *r, const char *what)
{
	if (!r->unsupported && !(r->unsupported = strdup(what)))
		abort();
}

/* ---- events ----------------------------------------------------------------------------- */

static bool ev_before(const struct scn_event *a, const struct scn_event *b)
{
	if (a->at != b->at)
		return a->at < b->at;
	if (a->prio != b->prio)
		return a->prio < b->prio;
	return a->seq < b->seq;
}

static void heap_push(struct scn *r, struct scn_event *e)
{
	size_t i;

	if (r->heap_n == r->heap_cap) {
		r->heap_cap = r->heap_cap ? r->heap_cap * 2 : 256;
		r->heap = realloc(r->heap, r->heap_cap * sizeof(*r->heap));
		if (!r->heap)
			abort();
	}
	i = r->heap_n++;
	r->heap[i] = e;
	while (i > 0 && ev_before(r->heap[i], r->heap[(i - 1) / 2])) {
		struct scn_event *t = r->heap[i];
		r->heap[i] = r->heap[(i - 1) / 2];
		r->heap[(i - 1) / 2] = t;
		i = (i - 1) / 2;
	}
}

static struct scn_event *heap_pop(struct scn *r)
{
	struct scn_event *top;
	size_t i = 0;

	if (!r->heap_n)
		return NULL;
	top = r->heap[0];
	r->heap[0] = r->heap[--r->heap_n];
	for (;;) {
		size_t l = 2 * i + 1, rr = l + 1, m = i;
		if (l < r->heap_n && ev_before(r->heap[l], r->heap[m]))
			m = l;
		if (rr < r->heap_n && ev_before(r->heap[rr], r->heap[m]))
			m = rr;
		if (m == i)
			break;
		struct scn_event *t = r->heap[i];
		r->heap[i] = r->heap[m];
		r->heap[m] = t;
		i = m;
	}
	return top;
}

static struct scn_event *event_new(struct scn *r, uint64_t at, int kind, int prio)
{
	struct scn_event *e = calloc(1, sizeof(*e));

	if (!e)
		abort();
	e->at = at;
	e->kind = kind;
	e->prio = prio;
	e->seq = r->seq++;
	return e;
}

struct scn_event *scn_schedule(struct scn *r, uint64_t at, int kind, int node, uint64_t gen, void *data)
{
	struct scn_event *e = event_new(r, at < r->now ? r->now : at, kind, 1);

	e->node = node;
	e->gen = gen;
	e->data = data;
	heap_push(r, e);
	return e;
}

void scn_event_free(struct scn *r, struct scn_event *e)
{
	if (!e)
		return;
	if (e->data && r->drv->event_free)
		r->drv->event_free(e);
	free(e->line);
	free(e);
}

size_t scn_count(const struct scn *r, int kind)
{
	size_t n = 0;

	for (size_t k = 0; k < r->heap_n; k++)
		n += r->heap[k]->kind == kind;
	return n;
}

size_t scn_take(struct scn *r, bool (*pick)(const struct scn_event *e, void *ud), void *ud,
		struct scn_event ***out)
{
	struct scn_event **keep = calloc(r->heap_n + 1, sizeof(*keep)), **taken = calloc(r->heap_n + 1, sizeof(*taken));
	size_t nkeep = 0, ntaken = 0;
	struct scn_event *e;

	if (!keep || !taken)
		abort();
	/* Popping yields firing order; the kept ones go back with their sequence numbers, so
	 * their order is unchanged. */
	while ((e = heap_pop(r))) {
		if (e->kind > 0 && pick(e, ud))
			taken[ntaken++] = e;
		else
			keep[nkeep++] = e;
	}
	for (size_t k = 0; k < nkeep; k++)
		heap_push(r, keep[k]);
	free(keep);
	*out = taken;
	return ntaken;
}

/* ---- statements ------------------------------------------------------------------------- */

const char *scn_skipws(const char *s)
{
	while (isspace((unsigned char)*s))
		s++;
	return s;
}

const char *scn_word(const char *s, char *w, size_t max)
{
	size_t n = 0;

	s = scn_skipws(s);
	while (*s && !isspace((unsigned char)*s)) {
		if (n + 1 < max)
			w[n++] = *s;
		s++;
	}
	w[n] = 0;
	return scn_skipws(s);
}

int scn_parse_list(const char *s, int max_value, int *out, int max)
{
	int n = 0;

	s = scn_skipws(s);
	while (n < max) {
		char *end;
		long v = strtol(s, &end, 10);
		if (end == s || v < 1 || v > max_value)
			return -EINVAL;
		out[n++] = (int)v;
		s = end;
		if (*s != ',')
			break;
		s++;
	}
	return *s && !isspace((unsigned char)*s) ? -EINVAL : n;
}

int scn_parse_u64(const char *s, uint64_t *v)
{
	char *end;

	s = scn_skipws(s);
	if (!isdigit((unsigned char)*s))
		return -EINVAL;
	errno = 0;
	*v = strtoull(s, &end, 10);
	if (errno || (*end && !isspace((unsigned char)*end)))
		return -EINVAL;
	return 0;
}

const char *scn_errno_name(int err)
{
	static const struct {
		int err;
		const char *name;
	} names[] = {
#define E(x) { x, #x }
		E(EPERM), E(ENOENT), E(EIO), E(E2BIG), E(EBADF), E(EAGAIN), E(ENOMEM), E(EACCES), E(EBUSY),
		E(EEXIST), E(EINVAL), E(ENOSPC), E(ERANGE), E(EDEADLK), E(ENOSYS), E(ENODATA), E(ETIME),
		E(ENOLINK), E(EPROTO), E(EBADMSG), E(EOVERFLOW), E(EMSGSIZE), E(EPROTONOSUPPORT),
		E(EOPNOTSUPP), E(ENETDOWN), E(ENETUNREACH), E(ECONNABORTED), E(ECONNRESET), E(ENOBUFS),
		E(EISCONN), E(ENOTCONN), E(ESHUTDOWN), E(ETIMEDOUT), E(ECONNREFUSED), E(EHOSTDOWN),
		E(EHOSTUNREACH), E(EALREADY), E(EINPROGRESS), E(ESTALE), E(ECANCELED), E(EOWNERDEAD),
		E(ENOTRECOVERABLE), E(ENOMSG), E(EIDRM), E(ENOTSUP) /* = EOPNOTSUPP on Linux */,
#undef E
	};
	static char buf[16];

	if (err < 0)
		err = -err;
	for (size_t k = 0; k < ARRAY_SIZE(names); k++)
		if (names[k].err == err)
			return names[k].name;
	snprintf(buf, sizeof(buf), "E%d", err);
	return buf;
}

static const struct scn_statement *lookup(const struct scn_statement *t, const char *verb)
{
	for (; t && t->verb; t++)
		if (!strcmp(t->verb, verb))
			return t;
	return NULL;
}

static void run_statement(struct scn *r, const char *line, int lineno)
{
	char verb[64], what[64];
	const char *rest = scn_word(line, verb, sizeof(verb));
	const struct scn_statement *st;

	r->lineno = lineno;
	scn_trace(r, "== %s", line);
	if (r->script)
		fprintf(r->script, "at %" PRIu64 " %s\n", r->now / SCN_MS, line);
	if (!strcmp(verb, "expect")) {
		rest = scn_word(rest, what, sizeof(what));
		st = lookup(r->drv->expectations, what);
		if (!st)
			scn_fail(r, "unknown expectation \"%s\"", what);
		else
			st->run(r->d, r, what, rest);
	} else if ((st = lookup(r->drv->statements, verb))) {
		st->run(r->d, r, verb, rest);
	} else {
		scn_fail(r, "unknown statement \"%s\"", verb);
	}
	r->lineno = 0;
}

int scn_header(struct scn *r, const char *fmt, ...)
{
	_cleanup_free_ char *line = NULL;
	char verb[64];
	const struct scn_statement *st;
	const char *rest;
	va_list ap;

	va_start(ap, fmt);
	if (vasprintf(&line, fmt, ap) < 0)
		abort();
	va_end(ap);
	if (r->script)
		fprintf(r->script, "%s\n", line);
	rest = scn_word(line, verb, sizeof(verb));
	st = lookup(r->drv->header, verb);
	if (!st) {
		scn_fail(r, "unknown header statement \"%s\"", verb);
		return -EINVAL;
	}
	return st->run(r->d, r, verb, rest);
}

static void at_line(struct scn *r, uint64_t at, char *line, int lineno)
{
	struct scn_event *e = event_new(r, at, EV_SCRIPT, 0);

	e->line = line;
	e->lineno = lineno;
	heap_push(r, e);
}

int scn_at(struct scn *r, uint64_t at, const char *fmt, ...)
{
	char *line;
	va_list ap;

	va_start(ap, fmt);
	if (vasprintf(&line, fmt, ap) < 0)
		abort();
	va_end(ap);
	/* Whole milliseconds, so that the scenario a failing run prints repeats it exactly. */
	at = (at + SCN_MS - 1) / SCN_MS * SCN_MS;
	at_line(r, at < r->now ? r->now : at, line, 0);
	return 0;
}

/* ---- one run ---------------------------------------------------------------------------- */

static struct scn *run_new(const struct scn_driver *drv, bool live)
{
	struct scn *r = calloc(1, sizeof(*r));

	if (!r)
		abort();
	r->drv = drv;
	r->live = live;
	r->trace = open_memstream(&r->tracebuf, &r->tracelen);
	r->fails = open_memstream(&r->failbuf, &r->faillen);
	if (!r->trace || !r->fails || !(r->d = drv->create(r)))
		abort();
	return r;
}

static void run_free(struct scn *r)
{
	struct scn_event *e;

	if (!r)
		return;
	while ((e = heap_pop(r)))
		scn_event_free(r, e);
	r->drv->destroy(r->d);
	free(r->heap);
	if (r->trace)
		fclose(r->trace);
	if (r->fails)
		fclose(r->fails);
	if (r->script)
		fclose(r->script);
	free(r->tracebuf);
	free(r->failbuf);
	free(r->scriptbuf);
	free(r->first_failure);
	free(r->unsupported);
	free(r);
}

/* Is the statement's verb in the comma-separated list? */
static bool excluded(const char *list, const char *stmt)
{
	char verb[64];
	size_t n;

	if (!list)
		return false;
	scn_word(stmt, verb, sizeof(verb));
	n = strlen(verb);
	for (const char *p = list; *p;) {
		size_t len = strcspn(p, ",");
		if (len == n && !strncmp(p, verb, n))
			return true;
		p += len + (p[len] == ',');
	}
	return false;
}

static void random_step(struct scn *r)
{
	char buf[1024];
	uint64_t next = SCN_MS;

	if (r->drv->random_step(r->d, r, &r->rng, buf, sizeof(buf), &next) == 0 && !excluded(r->exclude, buf))
		run_statement(r, buf, 0);
	next = (next < SCN_MS ? SCN_MS : next + SCN_MS - 1) / SCN_MS * SCN_MS;
	if (r->now + next < r->chaos_end)
		heap_push(r, event_new(r, r->now + next, EV_RANDOM_STEP, 0));
}

/* Runs the events up to the end; in random mode stops at the first failure. */
static void run_events(struct scn *r)
{
	struct scn_event *e;

	while ((e = heap_pop(r))) {
		if (e->at > r->end) {
			scn_event_free(r, e);
			break;
		}
		r->now = e->at;
		switch (e->kind) {
		case EV_SCRIPT:
			run_statement(r, e->line, e->lineno);
			break;
		case EV_RANDOM_STEP:
			random_step(r);
			break;
		case EV_RANDOM_END:
			r->end = r->drv->random_end(r->d, r, &r->rng, r->now);
			break;
		default:
			r->drv->handle(r->d, r, e);
			break;
		}
		scn_event_free(r, e);
		if (r->drv->invariants)
			r->drv->invariants(r->d, r);
		if (r->stop_at_failure && r->failures)
			return;
	}
	if (r->drv->finish)
		r->drv->finish(r->d, r);
}

static void close_streams(struct scn *r)
{
	fflush(r->trace);
	fflush(r->fails);
	if (r->script)
		fflush(r->script);
}

/* ---- scenario files --------------------------------------------------------------------- */

static int load_stream(struct scn *r, FILE *f, const char *path)
{
	_cleanup_free_ char *line = NULL;
	size_t cap = 0;
	int lineno = 0;

	while (getline(&line, &cap, f) >= 0) {
		char verb[64], arg[64], *hash;
		const char *rest;
		uint64_t t;

		lineno++;
		line[strcspn(line, "\n")] = 0;
		hash = strchr(line, '#');
		if (hash && (hash == line || isspace((unsigned char)hash[-1])))
			*hash = 0;
		rest = scn_word(line, verb, sizeof(verb));
		if (!*verb)
			continue;
		r->lineno = lineno;
		if (!strcmp(verb, "at")) {
			char *copy;
			rest = scn_word(rest, arg, sizeof(arg));
			if (scn_parse_u64(arg, &t) < 0 || !*rest)
				goto bad;
			copy = strdup(rest);
			if (!copy)
				abort();
			/* trailing blanks are not part of the statement */
			for (size_t n = strlen(copy); n && isspace((unsigned char)copy[n - 1]); n--)
				copy[n - 1] = 0;
			at_line(r, t * SCN_MS, copy, lineno);
		} else if (!strcmp(verb, "end")) {
			if (scn_parse_u64(rest, &t) < 0)
				goto bad;
			r->end = t * SCN_MS;
		} else {
			const struct scn_statement *st = lookup(r->drv->header, verb);
			if (!st || st->run(r->d, r, verb, rest) < 0)
				goto bad;
		}
		continue;
bad:
		fprintf(stderr, "%s:%d: cannot parse \"%s\"\n", path, lineno, line);
		return -EINVAL;
	}
	r->lineno = 0;
	if (!r->end) {
		fprintf(stderr, "%s: needs \"end T\"\n", path);
		return -EINVAL;
	}
	return 0;
}

static int load(struct scn *r, const char *path)
{
	_cleanup_fclose_ FILE *f = fopen(path, "re");

	if (!f) {
		fprintf(stderr, "%s: %m\n", path);
		return -errno;
	}
	return load_stream(r, f, path);
}

static char *read_all(const char *path, size_t *len)
{
	_cleanup_fclose_ FILE *f = fopen(path, "re");
	char *buf = NULL;
	size_t n = 0;
	FILE *m;
	char chunk[65536];
	size_t k;

	if (!f)
		return NULL;
	m = open_memstream(&buf, &n);
	if (!m)
		abort();
	while ((k = fread(chunk, 1, sizeof(chunk), f)) > 0)
		fwrite(chunk, 1, k, m);
	fclose(m);
	*len = n;
	return buf;
}

static int write_all(const char *path, const char *data, size_t len)
{
	FILE *f = fopen(path, "we");

	if (!f)
		return -errno;
	if (fwrite(data, 1, len, f) != len) {
		fclose(f);
		return -EIO;
	}
	return fclose(f) == 0 ? 0 : -errno;
}

static int run_file(const struct scn_driver *drv, const char *path, bool update, bool live)
{
	_cleanup_free_ char *expect_path = NULL, *want = NULL;
	size_t len = strlen(path), wantlen = 0;
	struct scn *r = run_new(drv, live);
	int rc = 0;

	if (len > 4 && !strcmp(path + len - 4, ".scn"))
		len -= 4;
	if (asprintf(&expect_path, "%.*s.expect", (int)len, path) < 0)
		abort();
	if (load(r, path) < 0 || (drv->ready && drv->ready(r->d, r) < 0)) {
		close_streams(r);
		fwrite(r->failbuf, 1, r->faillen, stderr);
		run_free(r);
		return 2;
	}
	run_events(r);
	close_streams(r);
	if (!live) /* --trace showed them as they happened */
		fwrite(r->failbuf, 1, r->faillen, stderr);

	if (r->failures && r->unsupported) {
		printf("SKIP %s: the core does not implement %s yet\n", path, r->unsupported);
		run_free(r);
		return 77;
	}
	if (update) {
		if (r->failures) {
			fprintf(stderr, "not rewriting %s: %d check(s) failed\n", expect_path, r->failures);
			rc = 1;
		} else if (write_all(expect_path, r->tracebuf, r->tracelen) < 0) {
			fprintf(stderr, "%s: cannot write\n", expect_path);
			rc = 2;
		} else {
			fprintf(stderr, "wrote %s\n", expect_path);
		}
	} else if (!(want = read_all(expect_path, &wantlen))) {
		fprintf(stderr, "%s: missing (run with --update after reviewing the trace):\n", expect_path);
		fwrite(r->tracebuf, 1, r->tracelen, stderr);
		rc = 1;
	} else if (wantlen != r->tracelen || memcmp(want, r->tracebuf, wantlen)) {
		_cleanup_free_ char *actual = NULL;
		if (asprintf(&actual, "%s.actual", expect_path) < 0)
			abort();
		if (write_all(actual, r->tracebuf, r->tracelen) == 0) {
			_cleanup_free_ char *cmd = NULL;
			fprintf(stderr, "trace differs from %s; this run's trace is in %s:\n", expect_path, actual);
			fflush(stderr);
			if (asprintf(&cmd, "diff -u '%s' '%s' | head -80 >&2", expect_path, actual) >= 0 &&
			    system(cmd) < 0)
				fprintf(stderr, "(diff failed)\n");
		} else {
			fprintf(stderr, "trace differs from %s (and %s cannot be written)\n", expect_path, actual);
		}
		rc = 1;
	}
	if (r->failures) {
		fprintf(stderr, "%d check(s) failed\n", r->failures);
		rc = rc ? rc : 1;
	}
	if (!rc)
		printf("ok %s\n", path);
	run_free(r);
	return rc;
}

/* ---- shrinking a failing run ----------------------------------------------------------- */

/* What kind of failure: its text after the time, every word with a digit in it (numbers, node
 * names, hashes) replaced by '#', so that a smaller run failing the same way matches although
 * versions, epochs, client numbers or hashes differ. */
static char *signature(const char *failure)
{
	const char *p = strstr(failure, ": ");
	char *sig = strdup(p ? p + 2 : failure), *o = sig;

	if (!sig)
		abort();
	for (const char *q = sig; *q;) {
		const char *w = q;
		bool digit = false;
		while (isalnum((unsigned char)*q) || *q == '_')
			digit |= isdigit((unsigned char)*q++) != 0;
		if (digit) {
			*o++ = '#'; /* in place: o stays behind q */
		} else if (q > w) {
			memmove(o, w, (size_t)(q - w));
			o += q - w;
		} else {
			*o++ = *q++;
		}
	}
	*o = 0;
	return sig;
}

/* Runs a scenario held in memory up to its first failure; returns that failure's signature
 * (owned), NULL when it passes. */
static char *run_text(const struct scn_driver *drv, const char *text)
{
	FILE *f = fmemopen((void *)text, strlen(text), "r");
	struct scn *r = run_new(drv, false);
	char *sig = NULL;

	if (!f)
		abort();
	r->stop_at_failure = true;
	if (load_stream(r, f, "(scenario in memory)") == 0 && (!drv->ready || drv->ready(r->d, r) == 0)) {
		run_events(r);
		if (r->first_failure)
			sig = signature(r->first_failure);
	}
	fclose(f);
	run_free(r);
	return sig;
}

/* The scenario made of the lines that are not `at` statements plus the kept ones, in order. */
static char *join_kept(char **lines, size_t n, const bool *keep)
{
	char *text = NULL;
	size_t len = 0;
	FILE *m = open_memstream(&text, &len);

	if (!m)
		abort();
	for (size_t k = 0; k < n; k++)
		if (keep[k])
			fprintf(m, "%s\n", lines[k]);
	fclose(m);
	return text;
}

/*
 * Delta debugging (ddmin, complements only) over the `at` statements of a failing scenario:
 * the smallest scenario found that still fails with the same signature. Owned; NULL when
 * nothing could be removed. *runs counts the runs it took (bounded).
 */
static char *shrink(const struct scn_driver *drv, const char *script, const char *want, unsigned *runs)
{
	_cleanup_free_ char *copy = strdup(script);
	_cleanup_free_ char **lines = NULL;
	_cleanup_free_ bool *keep = NULL, *trial = NULL;
	_cleanup_free_ size_t *at = NULL;
	size_t n = 0, cap = 0, nat = 0, granularity = 2;
	bool shrunk = false;

	if (!copy)
		abort();
	for (char *save = NULL, *l = strtok_r(copy, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
		if (n == cap && !(lines = realloc(lines, (cap = cap ? 2 * cap : 64) * sizeof(*lines))))
			abort();
		lines[n++] = l;
	}
	keep = calloc(n + 1, sizeof(*keep));
	trial = calloc(n + 1, sizeof(*trial));
	at = calloc(n + 1, sizeof(*at));
	if (!keep || !trial || !at)
		abort();
	for (size_t k = 0; k < n; k++) {
		keep[k] = true;
		if (!strncmp(lines[k], "at ", 3))
			at[nat++] = k;
	}
	while (nat >= 2 && *runs < 3000) {
		size_t chunk = (nat + granularity - 1) / granularity;
		bool reduced = false;

		for (size_t start = 0; start < nat && !reduced; start += chunk) {
			_cleanup_free_ char *text = NULL, *sig = NULL;
			memcpy(trial, keep, n * sizeof(*keep));
			for (size_t k = start; k < start + chunk && k < nat; k++)
				trial[at[k]] = false;
			text = join_kept(lines, n, trial);
			sig = run_text(drv, text);
			++*runs;
			if (sig && !strcmp(sig, want)) {
				size_t m = 0;
				memcpy(keep, trial, n * sizeof(*keep));
				for (size_t k = 0; k < nat; k++)
					if (keep[at[k]])
						at[m++] = at[k];
				nat = m;
				granularity = granularity > 2 ? granularity - 1 : 2;
				reduced = shrunk = true;
			}
		}
		if (!reduced) {
			if (granularity >= nat)
				break;
			granularity = granularity * 2 < nat ? granularity * 2 : nat;
		}
	}
	return shrunk ? join_kept(lines, n, keep) : NULL;
}

/* ---- random mode ------------------------------------------------------------------------ */

struct random_cli {
	unsigned runs;
	uint64_t seed;
	bool keep_going, no_shrink;
	const char *exclude;
	struct scn_random_opts o;
	bool time_given;
};

static void print_repro(FILE *f, const char *prog, const struct random_cli *c, uint64_t seed)
{
	fprintf(f, "%s --random 1 --seed %" PRIu64, prog, seed);
	if (c->o.nodes)
		fprintf(f, " --nodes %u", c->o.nodes);
	if (c->time_given)
		fprintf(f, " --time %" PRIu64, c->o.chaos_usec / SCN_MS);
	if (c->exclude)
		fprintf(f, " --exclude %s", c->exclude);
	fputc('\n', f);
}

/* One random run; returns 0 passed, 1 failed. *statements counts what it ran. */
static int run_random(const struct scn_driver *drv, const char *prog, const struct random_cli *c, unsigned i,
		      bool live, uint64_t *virtual_usec)
{
	uint64_t seed = c->seed + i, first = SCN_MS;
	struct scn *r = run_new(drv, live);
	int rc = 0;

	r->random = r->stop_at_failure = true;
	r->exclude = c->exclude;
	r->rng.s = seed;
	r->script = open_memstream(&r->scriptbuf, &r->scriptlen);
	if (!r->script)
		abort();
	fprintf(r->script, "# ");
	print_repro(r->script, prog, c, seed);
	r->chaos_end = c->o.chaos_usec;
	r->end = UINT64_MAX;
	if (drv->random_begin(r->d, r, &r->rng, &c->o) < 0 || (drv->ready && drv->ready(r->d, r) < 0)) {
		close_streams(r);
		fwrite(r->failbuf, 1, r->faillen, stderr);
		run_free(r);
		return 1;
	}
	heap_push(r, event_new(r, first, EV_RANDOM_STEP, 0));
	heap_push(r, event_new(r, r->chaos_end, EV_RANDOM_END, 0));
	run_events(r);
	*virtual_usec += r->now;
	fprintf(r->script, "end %" PRIu64 "\n", (r->end == UINT64_MAX ? r->now : r->end) / SCN_MS);
	close_streams(r);
	if (r->failures) {
		_cleanup_free_ char *want = signature(r->first_failure), *replayed = NULL, *small = NULL;
		unsigned runs = 0;

		fprintf(stderr, "FAIL %s random run %u of %u: seed %" PRIu64 "\n", drv->name, i + 1, c->runs, seed);
		fprintf(stderr, "  first failure: %s\n", r->first_failure);
		fprintf(stderr, "  repeat it: ");
		print_repro(stderr, prog, c, seed);
		if (r->unsupported)
			fprintf(stderr, "  note: the core does not implement %s yet\n", r->unsupported);
		/* The scenario below must fail the same way when run as a file: check it. */
		replayed = run_text(drv, r->scriptbuf);
		if (!replayed || strcmp(replayed, want))
			fprintf(stderr, "  RUNNER BUG: the scenario below does not repeat it (%s)\n",
				replayed ? replayed : "it passes");
		else if (!c->no_shrink && (small = shrink(drv, r->scriptbuf, want, &runs)))
			fprintf(stderr, "---- the smallest scenario found that fails the same way (%u runs to find it) ----\n%s",
				runs, small);
		fprintf(stderr, "---- the whole run as a scenario file (%s FILE.scn --trace repeats it) ----\n", prog);
		fwrite(r->scriptbuf, 1, r->scriptlen, stderr);
		if (!live) { /* else it is on stdout already */
			fprintf(stderr, "---- its trace ----\n");
			fwrite(r->tracebuf, 1, r->tracelen, stderr);
			fprintf(stderr, "---- failures ----\n");
			fwrite(r->failbuf, 1, r->faillen, stderr);
		}
		rc = 1;
	}
	run_free(r);
	return rc;
}

static int random_main(const struct scn_driver *drv, const char *prog, struct random_cli *c, bool live)
{
	unsigned failed = 0, done = 0;
	uint64_t virt = 0;

	if (!drv->random_begin || !drv->random_step || !drv->random_end) {
		fprintf(stderr, "%s: the %s driver has no random mode\n", prog, drv->name);
		return 2;
	}
	for (unsigned i = 0; i < c->runs; i++) {
		done++;
		if (run_random(drv, prog, c, i, live, &virt)) {
			failed++;
			if (!c->keep_going)
				break;
		}
	}
	printf("%s %s random: %u run(s) from seed %" PRIu64 ", %u failed, %.0f s of virtual time\n",
	       failed ? "FAIL" : "ok", drv->name, done, c->seed, failed, (double)virt / 1e6);
	return failed ? 1 : 0;
}

/* ---- command line ----------------------------------------------------------------------- */

static void print_table(FILE *f, const char *prefix, const struct scn_statement *t)
{
	for (; t && t->verb; t++)
		fprintf(f, "  %s%s %s\n", prefix, t->verb, t->help ? t->help : "");
}

static void usage(const struct scn_driver *drv, const char *prog, FILE *f)
{
	fprintf(f,
		"usage: %s FILE.scn [--update] [--trace]\n"
		"       %s --random N [--seed S] [--nodes K] [--time MS] [--exclude VERB,...] [--keep-going]\n"
		"          [--no-shrink] [--trace]\n\n"
		"%s\n\nScenario language (times in ms, '#' starts a comment):\n",
		prog, prog, drv->summary);
	print_table(f, "", drv->header);
	fprintf(f, "  at T STATEMENT\n  end T\nStatements:\n");
	print_table(f, "at T ", drv->statements);
	fprintf(f, "Expectations:\n");
	print_table(f, "at T expect ", drv->expectations);
}

static int number_arg(int argc, char **argv, int *i, uint64_t *v)
{
	if (*i + 1 >= argc || scn_parse_u64(argv[*i + 1], v) < 0) {
		fprintf(stderr, "%s needs a number\n", argv[*i]);
		return -EINVAL;
	}
	(*i)++;
	return 0;
}

int scn_main(const struct scn_driver *drv, int argc, char **argv)
{
	struct random_cli c = { .o.chaos_usec = 60000 * SCN_MS };
	const char *prog = argv[0], *file = NULL;
	bool update = false, live = false, random = false, seeded = false;

	for (int i = 1; i < argc; i++) {
		uint64_t v;
		if (!strcmp(argv[i], "--update"))
			update = true;
		else if (!strcmp(argv[i], "--trace"))
			live = true;
		else if (!strcmp(argv[i], "--keep-going"))
			c.keep_going = true;
		else if (!strcmp(argv[i], "--no-shrink"))
			c.no_shrink = true;
		else if (!strcmp(argv[i], "--exclude") && i + 1 < argc)
			c.exclude = argv[++i];
		else if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
			usage(drv, prog, stdout);
			return 0;
		} else if (!strcmp(argv[i], "--random")) {
			if (number_arg(argc, argv, &i, &v) < 0 || !v || v > 1000000)
				return 2;
			random = true;
			c.runs = (unsigned)v;
		} else if (!strcmp(argv[i], "--seed")) {
			if (number_arg(argc, argv, &i, &c.seed) < 0)
				return 2;
			seeded = true;
		} else if (!strcmp(argv[i], "--nodes")) {
			if (number_arg(argc, argv, &i, &v) < 0 || !v || v > 64)
				return 2;
			c.o.nodes = (unsigned)v;
		} else if (!strcmp(argv[i], "--time")) {
			if (number_arg(argc, argv, &i, &v) < 0 || v < 1000)
				return 2;
			c.o.chaos_usec = v * SCN_MS;
			c.time_given = true;
		} else if (argv[i][0] == '-' || file) {
			usage(drv, prog, stderr);
			return 2;
		} else {
			file = argv[i];
		}
	}
	if (random == !!file || (update && random)) {
		usage(drv, prog, stderr);
		return 2;
	}
	if (live) /* the trace and the failure reports interleave in order */
		setvbuf(stdout, NULL, _IOLBF, 0);
	if (file)
		return run_file(drv, file, update, live);
	if (!seeded) {
		if (getrandom(&c.seed, sizeof(c.seed), 0) != sizeof(c.seed))
			c.seed = 1;
		c.seed >>= 16; /* short enough to type */
		printf("seed %" PRIu64 "\n", c.seed);
	}
	return random_main(drv, prog, &c, live);
}
