/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Child processes with deadlines, watched by the sd-event loop.
 *
 * Slow host work (fence agents, iscsiadm, multipath, nvme, blkid, mkfs, mount) must never block
 * kvmcd's single event loop. A runner starts each command as a child in its own process group,
 * feeds it stdin from memory, captures stdout and stderr through non-blocking pipes read by the
 * loop, and reports exactly once, on the loop, how it ended.
 *
 * A job's life:
 *
 *     runner_start ── child runs ──────────────── exits ──▶ done(result)
 *                     │ deadline passes
 *                     ▼
 *                     SIGTERM to the group ──── exits ──▶ done(result, timed_out)
 *                     │ grace passes (grace = min(5 s, deadline / 4), at least 1 ms)
 *                     ▼
 *                     SIGKILL to the group ──── exits ──▶ done(result, timed_out)
 *                     │ max(grace, 1 s) passes (dying needs scheduling too; capture mode: grace)
 *                     ▼
 *                     done(result, timed_out, abandoned)   (stuck in the kernel, e.g. D state on a
 *                     dead iSCSI path: the caller is not held hostage; the runner reaps it later)
 *
 * So done comes at the latest deadline + grace + max(grace, 1 s) after the start: never later
 * than 1.5 * deadline + 1 s, nor than deadline + 10 s. A caller that must bound its own step can
 * count on that.
 *
 * A timed-out job logs exactly one LOG_ERR line when its callback is delivered, saying which
 * signals were sent and how it ended. runner_cancel() takes the same TERM → KILL → abandon path
 * with `cancelled` instead of `timed_out` (and no error line: cancelling is the caller's decision,
 * the caller logs it).
 *
 * A job is its process group: when the main process exits, whatever it left in its group is
 * sent SIGKILL, so no descendant outlives its deadline. A tool that must leave a daemon behind
 * has to setsid() it, as daemons do anyway. stdout and stderr are read until the main process
 * has exited and the pipes hold nothing more; a descendant that kept them open does not delay
 * the result.
 *
 * The child starts with its own process group; no blocked signals and every disposition at its
 * default (the daemon's ignored SIGPIPE is not inherited; glibc refuses to set its two internal
 * signals, 32 and 33, which the exec resets from glibc's handlers to the default); stdin from the job's bytes
 * or /dev/null; stdout and stderr on pipes; no other fd. It inherits the daemon's cwd, umask,
 * credentials, rlimits and environment (plus the job's additions).
 *
 * Requirements on the process (the daemon sets these up once, before runner_new):
 *  - SIGCHLD is blocked in every thread (sd_event_add_child() refuses otherwise: -EBUSY) and its
 *    disposition is not SIG_IGN (children would be reaped by the kernel and their status lost).
 *  - Nothing in the process reaps with wait()/waitpid(-1): sd-event watches each child through a
 *    pidfd and reaps only that pid, so other children of the process are never touched.
 *
 * All functions run on the loop's thread; none blocks except runner_free() (bounded, see there).
 * Functions return 0 or a negative errno, and write outputs only on success.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <systemd/sd-event.h>

struct runner;
struct runner_handle;

/* Per-stream capture cap used when a job leaves max_output at 0. */
#define RUNNER_DEFAULT_MAX_OUTPUT (64u * 1024u)

/*
 * Where the runner's log lines go. level: a syslog level (LOG_ERR..LOG_DEBUG); text: one line
 * without a trailing newline, borrowed for the duration of the call. The daemon forwards to
 * klog(); tests collect lines. Called on the loop thread only.
 */
typedef void (*runner_log_fn)(void *userdata, int level, const char *text);

struct runner_config {
	runner_log_fn log;         /* NULL: the runner logs nothing */
	void *log_userdata;        /* borrowed; passed to log */
	/* runner_free(): how long to wait after SIGTERM, and again after SIGKILL; 0: 1 s. */
	uint64_t shutdown_wait_usec;
};

struct runner_job {
	/* NULL-terminated. argv[0] is an absolute path, or a bare name looked up in the daemon's
	 * PATH; a relative path with a '/' is refused (the daemon's cwd is meaningless). Copied. */
	const char *const *argv;
	/* NULL, or NULL-terminated "NAME=value" strings added to the daemon's environment (same
	 * NAME replaces). A caller that parses the output should pass "LC_ALL=C". Copied; never
	 * logged (may carry secrets). */
	const char *const *env;
	/* The child's stdin (e.g. a fence agent's "key=value" lines); NULL means /dev/null. Copied
	 * into a memfd before the child starts, so the loop never writes to the child and a child
	 * that ignores stdin cannot block anything. Never logged. */
	const void *stdin_data;
	size_t stdin_len;
	/* Relative deadline in µs, > 0: every job has one, a hung tool must never hang the agent. */
	uint64_t timeout_usec;
	/* Label for log lines, e.g. "fence_ipmilan for kvm02". NULL: argv[0]. Copied. */
	const char *what;
	/* Cap per stream (stdout and stderr each) in bytes; 0: RUNNER_DEFAULT_MAX_OUTPUT. Output
	 * beyond it is read and dropped (the child never blocks on a full pipe) and flagged. */
	size_t max_output;
};

/*
 * How a job ended, handed to its done callback. Exactly one of these holds:
 *   exit_code >= 0 (and signal == 0): the process exited with that status;
 *   signal > 0 (exit_code == -1): a signal ended it;
 *   abandoned (exit_code == -1, signal == 0): still alive a while after SIGKILL; unknown.
 * timed_out and cancelled say why the runner signalled it (both may be set). A process that
 * handled SIGTERM and exited 0 after its deadline has exit_code 0 *and* timed_out: use
 * runner_result_ok().
 */
struct runner_result {
	int exit_code;
	int signal;
	bool timed_out;
	bool cancelled;
	bool abandoned;
	/* Captured output, always NUL-terminated and never NULL ("" when nothing was written); may
	 * contain NUL bytes (use the lengths). Owned by the runner and freed after the callback
	 * returns, unless the callback takes it (TAKE_PTR(res->out); it then owns it). */
	char *out;
	size_t out_len;
	bool out_truncated;        /* the child wrote more than max_output; the rest was dropped */
	char *err;
	size_t err_len;
	bool err_truncated;
	uint64_t duration_usec;    /* from the start to the end (or to the abandonment) */
	uint64_t timeout_usec;     /* the job's deadline, for messages */
	pid_t pid;                 /* the child's pid (also its process group id); 0 in capture mode */
};

/*
 * Called exactly once per started job, on the loop, never from inside runner_start() or
 * runner_cancel(). res and its buffers are borrowed for the call (see out/err for taking them).
 * The callback may call any runner function, including runner_start() and runner_free(). The
 * job's handle is freed when the callback returns.
 */
typedef void (*runner_done_fn)(struct runner_result *res, void *userdata);

/*
 * Creates a runner that runs real processes on ev (referenced until runner_free). cfg may be NULL
 * and is copied. Returns 0, -EINVAL, -ENOMEM, or -EBUSY when SIGCHLD is not blocked in the
 * calling thread. *out is owned by the caller (runner_free).
 */
int runner_new(sd_event *ev, const struct runner_config *cfg, struct runner **out);

/*
 * Frees the runner. Jobs still running get no callback: their process groups get SIGTERM; this
 * waits (blocking, on their pidfds) up to shutdown_wait_usec for them to exit, sends SIGKILL to
 * every group and waits up to shutdown_wait_usec more, reaps what died and logs what did not. So call it at shutdown (after
 * sd_event_loop() returned, or from a done callback), not while the loop must stay responsive.
 * Accepts NULL.
 */
void runner_free(struct runner *r);

/*
 * Starts job; done(result, userdata) follows exactly once, later, on the loop. job and everything
 * it points to are copied: the caller may free them when this returns. userdata is borrowed and
 * must stay valid until done has run (or the runner is freed). out may be NULL; *out is borrowed:
 * valid until done returns, use it only for runner_cancel().
 * Returns 0; -EINVAL for a bad job (no argv, relative argv[0], timeout 0, env entry without '=');
 * -ENOENT / -EACCES when no executable file of that name is found (then no callback);
 * -ENOMEM, -EMFILE. The child itself is made off the loop (a spawner thread: the loop never waits
 * for a fork or an exec); a program that cannot be made or exec'd after all (not an executable
 * format, out of processes) is reported through done like a shell's failed command: exit status
 * 127, stderr "kvmcd: cannot start 'WHAT': REASON".
 */
int runner_start(struct runner *r, const struct runner_job *job, runner_done_fn done, void *userdata,
		 struct runner_handle **out);

/*
 * Stops the job: SIGTERM to its process group, then the same escalation as at a deadline. The
 * done callback still comes, exactly once and later, with `cancelled` set. Idempotent; a no-op
 * once the job is being killed already. h must be a live handle (its done callback not yet run).
 */
void runner_cancel(struct runner_handle *h);

/* Number of jobs started and not yet reported (abandoned ones excluded). */
size_t runner_running(const struct runner *r);

/* True when the job exited with status 0 on its own (not timed out, not cancelled). */
bool runner_result_ok(const struct runner_result *res);

/*
 * "exited with status 3", "killed by signal TERM", "timed out after 30 s (killed by signal KILL)",
 * "cancelled (killed by signal TERM)", "timed out after 30 s; still alive after SIGKILL
 * (abandoned)": for the caller's log line. Writes into buf (always NUL-terminated), returns buf.
 */
const char *runner_result_describe(const struct runner_result *res, char *buf, size_t size);

/* ---- capture mode (tests) ----------------------------------------------------------------------
 *
 * runner_new_capture() makes a runner that executes nothing: each job's argv, env additions,
 * stdin, label and deadline are recorded, and its result comes from canned entries the test
 * registers with runner_capture_add(), delivered asynchronously through the loop (never inside
 * runner_start). Deadlines, cancel, TERM → KILL → abandon, output caps, truncation and log lines
 * go through the same code as real jobs, so a test of host operations sees exactly what the
 * daemon would see:
 *
 *     runner_new_capture(ev, &cfg, &r);
 *     runner_capture_add(r, (const char *[]){ "iscsiadm", "-m", "session", NULL },
 *                        &(struct runner_canned){ .exit_code = 21, .err = "iscsiadm: No active sessions.\n", .uses = 1 });
 *     runner_capture_add(r, (const char *[]){ "iscsiadm", "-m", "session", NULL },
 *                        &(struct runner_canned){ .out = "tcp: [1] 10.0.0.5:3260,1030 iqn.1992-08.com.netapp:sn.x (non-flash)\n" });
 *     runner_capture_add(r, (const char *[]){ "iscsiadm", NULL }, &(struct runner_canned){ 0 });  // anything else: exit 0
 *     ... run the code under test on ev ...
 *     runner_capture_format(r, &text);   // "iscsiadm -m session\niscsiadm -m node -T iqn... --login\n..."
 *
 * Matching: an entry matches when its argv_prefix equals the first elements of the job's argv; a
 * prefix element 0 without '/' also matches a job argv[0] with that basename ("iscsiadm" matches
 * "/usr/sbin/iscsiadm"). Among entries not used up, the longest prefix wins, then the earliest
 * registered. A job that matches nothing is recorded, logs a LOG_ERR line and ends with exit
 * status 127 and "runner capture: no canned result for: ARGV" on stderr (runner_capture_unmatched()
 * counts them, so a test can insist on 0).
 */
enum runner_canned_mode {
	RUNNER_CANNED_EXIT = 0,         /* ends after delay_usec: exit_code, or killed by `signal` if set;
					 * dies at once on SIGTERM/SIGKILL like an ordinary process */
	RUNNER_CANNED_HANG,             /* never ends by itself; dies on SIGTERM (deadline or cancel) */
	RUNNER_CANNED_HANG_IGNORE_TERM, /* never ends by itself; ignores SIGTERM, dies on SIGKILL */
	RUNNER_CANNED_HANG_UNKILLABLE,  /* ignores SIGKILL too, like a process in D state: abandoned */
};

struct runner_canned {
	enum runner_canned_mode mode;
	int exit_code;             /* 0..255 */
	int signal;                /* >0: killed by this signal instead of exiting */
	const char *out;           /* NULL: empty. Copied. Subject to the job's max_output */
	const char *err;           /* NULL: empty. Copied */
	uint64_t delay_usec;       /* RUNNER_CANNED_EXIT: how long the "process" runs (0: next iteration) */
	unsigned uses;             /* 0: unlimited; n: used up after n matches (for sequences) */
};

/* One recorded job. Every field is owned by the runner. */
struct runner_call {
	char **argv;               /* NULL-terminated copy */
	char **env;                /* NULL-terminated copy of the additions (empty list when none) */
	char *stdin_data;          /* NUL-terminated copy ("" when the job had none) */
	size_t stdin_len;
	char *what;
	uint64_t timeout_usec;
};

/* Like runner_new, executing nothing. Never needs SIGCHLD blocked. */
int runner_new_capture(sd_event *ev, const struct runner_config *cfg, struct runner **out);

/* Registers a canned result (argv_prefix NULL-terminated, at least one element; both copied).
 * Returns 0, -EINVAL (not a capture runner, empty prefix, bad mode), -ENOMEM. */
int runner_capture_add(struct runner *r, const char *const *argv_prefix, const struct runner_canned *canned);

/* Recorded jobs in start order. The pointer is borrowed: valid until runner_capture_reset() or
 * runner_free(). NULL when i is out of range or r is not a capture runner. */
size_t runner_capture_count(const struct runner *r);
const struct runner_call *runner_capture_call(const struct runner *r, size_t i);
size_t runner_capture_unmatched(const struct runner *r);

/* Every recorded argv, one line each ("\n"-terminated), arguments separated by one space and
 * shell-quoted when they need it: the text a test compares with what should have run.
 * *out is owned by the caller (free). Returns 0, -EINVAL, -ENOMEM. */
int runner_capture_format(const struct runner *r, char **out);

/* Forgets the recorded calls and the unmatched count (canned entries stay, used counts too). */
void runner_capture_reset(struct runner *r);
