/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The scenario runner shared by every pure core's golden tests (STYLE.md habits 3 and 14).
 *
 * A pure core takes (state, input, now) and returns (new state, actions). To test one, write a
 * DRIVER: one C file that simulates the core's surroundings (for the coordination core: corosync
 * with CPG, votequorum, partitions, restarts and disks), knows the statements that act on them
 * and the invariants the core must keep. The runner does everything else, the same way for every
 * driver:
 *
 *   - virtual time and one event heap, ordered by time, then script statements before driver
 *     events, then first in first out: a run never reads a clock and never uses threads, so a
 *     scenario always produces the same trace;
 *   - the scenario file: `#` comments, `at T STATEMENT` (T in ms), `end T`, and the driver's
 *     untimed header statements (`nodes 3`, `option ...`);
 *   - statement dispatch through the driver's tables: `at T VERB ARGS` and `at T expect WHAT ARGS`;
 *   - the trace: every line the driver emits with scn_trace(), prefixed with the virtual time;
 *     compared with the golden FILE.expect (FILE.expect.actual + a diff when it differs),
 *     rewritten with --update;
 *   - the driver's invariant hook, called after every step (every event handled);
 *   - the seeded random mode (below). A random run records what it runs as a scenario file, so
 *     the driver must behave the same in both modes (there is no "am I random" query).
 *
 * One executable per driver: runner.c + coord-driver.c = scenario-sim (the coordination core).
 * A driver file ends with
 *     int main(int argc, char **argv) { return scn_main(&my_driver, argc, argv); }
 * and its scenarios live in tests/scenarios/<driver>/ (the coordination core's, the first, in
 * tests/scenarios/ itself); tests/meson.build registers each file as a test.
 *
 * Command line (every driver):
 *   PROG FILE.scn [--update] [--trace]
 *       runs one scenario; --update rewrites FILE.expect from this run (review the diff first),
 *       --trace also prints the trace as it goes, with the driver's debug lines.
 *   PROG --random N [--seed S] [--nodes K] [--time MS] [--exclude VERB,...] [--keep-going]
 *        [--no-shrink] [--trace]
 *       N random runs; run i uses seed S+i (S defaults to a fresh one, printed). Each run lets
 *       the driver set the scene (K nodes, or its own choice), generates random statements for
 *       MS of virtual time (default 60000), each chosen by the driver when it is due (it may look
 *       at the cores), checks the invariants after every step (a run ends at its first failure),
 *       then lets the driver schedule a quiet phase and its liveness checks. A failing run prints
 *       its seed, the command line that repeats it (--random 1 --seed S+i ...), the smallest
 *       scenario found that fails the same way (delta debugging over its statements; "the same
 *       way" = the first failure's text with numbers masked), the statements it ran as a
 *       scenario file (checked to repeat the failure), and its trace; --keep-going goes on to
 *       the other runs. --exclude drops the random statements with those verbs (to look past a
 *       known failure: `--exclude stall`).
 *   Exit status: 0 passed, 1 failed, 2 bad usage or scenario, 77 skipped (the driver found
 *   that the core under test does not implement what the scenario needs: scn_unsupported()).
 *
 * Memory: the runner owns the events and their script lines; a driver event's `data` belongs to
 * the event and is released by the driver's event_free hook. Nothing is global: every run has
 * its own struct scn and its own driver state, so runs never leak into each other.
 */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "macros.h"

#define SCN_MS UINT64_C(1000) /* virtual time is in usec; scenario files speak ms */

struct scn;

/* An event in virtual time. Fields above the line are the driver's; below, the runner's. */
struct scn_event {
	uint64_t at;   /* usec */
	int kind;      /* the driver's own kind (>= 1) */
	int node;      /* free for the driver (which node it concerns) */
	uint64_t gen;  /* free for the driver (e.g. the generation of the process it is for) */
	void *data;    /* owned by the event; released by scn_driver.event_free */
	/* ---- runner-private ---- */
	uint64_t seq;
	int prio;      /* 0: script statements, 1: driver events */
	char *line;    /* script statement (owned) */
	int lineno;    /* its line in the scenario file; 0 for generated ones */
};

/*
 * A statement the driver understands. `run` gets the verb it was registered under (one function
 * may serve several) and the rest of the line; it returns 0, or -EINVAL after scn_fail() for a
 * statement it cannot parse. Tables end with a zeroed entry.
 */
struct scn_statement {
	const char *verb;
	int (*run)(void *d, struct scn *r, const char *verb, const char *args);
	const char *help; /* "ARGS  what it does", one line for --help */
};

/* Options of the random mode, from the command line. */
struct scn_random_opts {
	unsigned nodes;        /* --nodes K; 0: the driver chooses */
	uint64_t chaos_usec;   /* --time: how long random statements are generated */
};

/* splitmix64: small, fast, the same sequence on every machine. */
struct scn_rng {
	uint64_t s;
};
uint64_t scn_rng_next(struct scn_rng *g);
uint64_t scn_rng_below(struct scn_rng *g, uint64_t n);   /* uniform in [0, n); n > 0 */
uint64_t scn_rng_range(struct scn_rng *g, uint64_t lo, uint64_t hi); /* uniform in [lo, hi] */
bool scn_rng_chance(struct scn_rng *g, unsigned percent);

/*
 * A driver: the simulated surroundings of one pure core. Hooks marked "optional" may be NULL.
 * Every hook gets the driver's own state `d` (from create) and the run `r`.
 */
struct scn_driver {
	const char *name;    /* "coord": shown in usage and failure reports */
	const char *summary; /* one paragraph for --help: what is simulated */
	/* Untimed statements at the top of a file (`nodes 3`). */
	const struct scn_statement *header;
	/* Timed statements: `at T VERB ARGS`. */
	const struct scn_statement *statements;
	/* Checks: `at T expect WHAT ARGS`; a check that does not hold calls scn_fail(). */
	const struct scn_statement *expectations;

	/* The driver's state for one run; NULL on ENOMEM. destroy frees it (accepts NULL). */
	void *(*create)(struct scn *r);
	void (*destroy)(void *d);
	/* After the header, before the first event: validate it (scn_fail + -EINVAL) and set up. */
	int (*ready)(void *d, struct scn *r);
	/* A driver event is due (scn_now() == e->at). The runner frees e afterwards. */
	void (*handle)(void *d, struct scn *r, struct scn_event *e);
	/* Releases e->data (optional: NULL when driver events carry no data). */
	void (*event_free)(struct scn_event *e);
	/* Safety invariants, after every step; scn_fail() for each one broken (optional). */
	void (*invariants)(void *d, struct scn *r);
	/* After the last step, before the trace is judged (optional): checks of the end state. */
	void (*finish)(void *d, struct scn *r);

	/*
	 * Random mode (all three NULL: not supported).
	 * random_begin: set the scene with scn_header() and scn_at() (statements at fixed times,
	 *   e.g. `at 0 start 1,2,3`); returns 0 or -EINVAL.
	 * random_step: a random statement is due now: write one (without `at T`) into buf and the
	 *   delay until the next one into *next_usec (>= 1 ms); it may look at the cores. Returns 0,
	 *   or -EAGAIN for "nothing this time" (still sets *next_usec).
	 * random_end: the random phase is over at `at`: schedule the quiet phase and its liveness
	 *   checks with scn_at(); returns the time the run ends.
	 */
	int (*random_begin)(void *d, struct scn *r, struct scn_rng *g, const struct scn_random_opts *o);
	int (*random_step)(void *d, struct scn *r, struct scn_rng *g, char *buf, size_t size, uint64_t *next_usec);
	uint64_t (*random_end)(void *d, struct scn *r, struct scn_rng *g, uint64_t at);
};

int scn_main(const struct scn_driver *driver, int argc, char **argv);

/* ---- for drivers ------------------------------------------------------------------------ */

uint64_t scn_now(const struct scn *r);

/* A golden trace line: "  T.TTT " + the text. */
_printf_(2, 3) void scn_trace(struct scn *r, const char *fmt, ...);
/* `who event {canonical fields}` as a golden trace line; takes the reference to fields. */
void scn_trace_json(struct scn *r, const char *who, const char *event, json_t *fields);
/* A line shown only with --trace, never in the golden. */
_printf_(2, 3) void scn_debug(struct scn *r, const char *fmt, ...);

/* A check failed: reported on stderr with the time and the statement's line, counted. */
_printf_(2, 3) void scn_fail(struct scn *r, const char *fmt, ...);
bool scn_failed(const struct scn *r);
/* The core under test lacks something this run needs: failures become a skip (exit 77). */
void scn_unsupported(struct scn *r, const char *what);

/* Events. scn_schedule() returns the event (already queued; its fields may still be set). */
struct scn_event *scn_schedule(struct scn *r, uint64_t at, int kind, int node, uint64_t gen, void *data);
/* Queued driver events of one kind. */
size_t scn_count(const struct scn *r, int kind);
/*
 * Removes the queued driver events `pick` selects and returns them in the order they would have
 * fired (*out: owned array of owned events, free each with scn_event_free). Returns the count.
 */
size_t scn_take(struct scn *r, bool (*pick)(const struct scn_event *e, void *ud), void *ud,
		struct scn_event ***out);
void scn_event_free(struct scn *r, struct scn_event *e);

/* Scene setting for random_begin / random_end: a header statement run now, a statement at a
 * time; both are recorded in the scenario a failing run prints. */
_printf_(2, 3) int scn_header(struct scn *r, const char *fmt, ...);
_printf_(3, 4) int scn_at(struct scn *r, uint64_t at, const char *fmt, ...);

/* ---- parsing helpers -------------------------------------------------------------------- */

/* Copies the next blank-separated word into w (truncated to max-1) and returns what follows it,
 * blanks skipped. */
const char *scn_word(const char *s, char *w, size_t max);
const char *scn_skipws(const char *s);
/* "1,3,4" (values 1..max_value) into out[0..n); returns n, or -EINVAL. */
int scn_parse_list(const char *s, int max_value, int *out, int max);
/* A whole word as an unsigned number; -EINVAL when it is not one. */
int scn_parse_u64(const char *s, uint64_t *v);

/* errno as its name ("ESTALE"); "E<n>" for one the table lacks. err may be negative. */
const char *scn_errno_name(int err);
