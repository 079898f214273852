/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * common/runner: real children (output, stdin, env, exit codes, signals, deadlines with TERM then
 * KILL, caps, many at once, cancel, process-group kills reaching grandchildren, what the child
 * inherits) and capture mode (recorded argv, canned results, hang/ignore-TERM/unkillable).
 * Runs in about two seconds; the loop is driven with sd_event_run(), nothing sleeps on it.
 */
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <syslog.h>
#include <time.h>

#include "macros.h"
#include "runner.h"
#include "tap.h"

#define MSEC USEC_PER_MSEC
#define SEC USEC_PER_SEC

static sd_event *ev;

/* ---- helpers --------------------------------------------------------------------------------- */

struct logs {
	unsigned n_err, n_warning, n_total;
	char last_err[1024];
};

static void collect_log(void *userdata, int level, const char *text)
{
	struct logs *l = userdata;

	l->n_total++;
	if (level <= LOG_ERR) {
		l->n_err++;
		snprintf(l->last_err, sizeof l->last_err, "%s", text);
	} else if (level == LOG_WARNING)
		l->n_warning++;
	if (getenv("RUNNER_TEST_VERBOSE"))
		printf("# log %d: %s\n", level, text);
}

/* One job's outcome, copied out of the callback. */
struct outcome {
	unsigned calls;
	struct runner_result res;   /* out/err taken (owned here) */
	char desc[160];
};

static void on_done(struct runner_result *res, void *userdata)
{
	struct outcome *o = userdata;

	o->calls++;
	o->res = *res;
	o->res.out = TAKE_PTR(res->out);
	o->res.err = TAKE_PTR(res->err);
	runner_result_describe(res, o->desc, sizeof o->desc);
}

static void outcome_clear(struct outcome *o)
{
	free(o->res.out);
	free(o->res.err);
	*o = (struct outcome){ 0 };
}

static uint64_t now_usec(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * SEC + (uint64_t)ts.tv_nsec / 1000;
}

/* Runs the loop until *count reaches want; false if that takes longer than max_usec. */
static bool run_until(const unsigned *count, unsigned want, uint64_t max_usec)
{
	uint64_t deadline = now_usec() + max_usec;

	while (*count < want) {
		uint64_t now = now_usec();
		if (now >= deadline)
			return false;
		if (sd_event_run(ev, deadline - now) < 0)
			return false;
	}
	return true;
}

/* Starts one job and runs the loop until it is reported. */
static int run_job(struct runner *r, const struct runner_job *job, struct outcome *o, uint64_t max_usec)
{
	int k = runner_start(r, job, on_done, o, NULL);

	if (k < 0)
		return k;
	return run_until(&o->calls, 1, max_usec) ? 0 : -ETIMEDOUT;
}

/* True once pid has exited (gone or a zombie), waiting up to max_msec on its pidfd. */
static bool process_ends(pid_t pid, int max_msec)
{
	int fd = (int)syscall(SYS_pidfd_open, pid, 0);

	if (fd < 0)
		return errno == ESRCH;
	struct pollfd p = { .fd = fd, .events = POLLIN };
	int k = poll(&p, 1, max_msec);
	close(fd);
	return k == 1;
}

static unsigned count_fds(void)
{
	char path[64];
	unsigned n = 0;

	for (int fd = 0; fd < 1024; fd++) {
		snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
		if (access(path, F_OK) == 0)
			n++;
	}
	return n;
}

#define ARGV(...) ((const char *const[]){ __VA_ARGS__, NULL })

/* ---- real children --------------------------------------------------------------------------- */

static void test_basic(struct runner *r)
{
	struct outcome o = { 0 };
	struct runner_job job = { .argv = ARGV("/bin/sh", "-c", "echo out; echo err >&2; exit 3"),
				  .timeout_usec = 5 * SEC };

	CHECK(run_job(r, &job, &o, 5 * SEC) == 0, "job did not finish");
	CHECK(o.calls == 1, "calls %u", o.calls);
	CHECK(o.res.exit_code == 3 && o.res.signal == 0, "exit %d signal %d", o.res.exit_code, o.res.signal);
	CHECK(o.res.out && strcmp(o.res.out, "out\n") == 0 && o.res.out_len == 4, "out '%s'", o.res.out);
	CHECK(o.res.err && strcmp(o.res.err, "err\n") == 0 && o.res.err_len == 4, "err '%s'", o.res.err);
	CHECK(!o.res.timed_out && !o.res.cancelled && !o.res.abandoned, "flags");
	CHECK(!o.res.out_truncated && !o.res.err_truncated, "truncated");
	CHECK(o.res.pid > 0, "pid %d", o.res.pid);
	CHECK(o.res.duration_usec > 0 && o.res.duration_usec < 5 * SEC, "duration %llu",
	      (unsigned long long)o.res.duration_usec);
	CHECK(!runner_result_ok(&o.res), "ok with status 3");
	CHECK(strcmp(o.desc, "exited with status 3") == 0, "describe '%s'", o.desc);
	outcome_clear(&o);

	/* A bare name goes through PATH; no output gives "" rather than NULL. */
	struct runner_job ok = { .argv = ARGV("true"), .timeout_usec = 5 * SEC };
	CHECK(run_job(r, &ok, &o, 5 * SEC) == 0, "true did not finish");
	CHECK(runner_result_ok(&o.res), "true: %s", o.desc);
	CHECK(o.res.out && o.res.out[0] == '\0' && o.res.err && o.res.err[0] == '\0', "empty output not \"\"");
	outcome_clear(&o);

	/* Killed by a signal of its own. */
	struct runner_job sig = { .argv = ARGV("/bin/sh", "-c", "kill -USR1 $$"), .timeout_usec = 5 * SEC };
	CHECK(run_job(r, &sig, &o, 5 * SEC) == 0, "kill did not finish");
	CHECK(o.res.signal == SIGUSR1 && o.res.exit_code == -1, "signal %d exit %d", o.res.signal, o.res.exit_code);
	CHECK(strcmp(o.desc, "killed by signal USR1") == 0, "describe '%s'", o.desc);
	outcome_clear(&o);
}

static void test_start_errors(struct runner *r)
{
	struct outcome o = { 0 };
	struct runner_job job = { .argv = ARGV("/nonexistent/kvmcd-test"), .timeout_usec = SEC };

	CHECK(runner_start(r, &job, on_done, &o, NULL) == -ENOENT, "missing absolute program");
	job.argv = ARGV("kvmcd-no-such-command");
	CHECK(runner_start(r, &job, on_done, &o, NULL) == -ENOENT, "missing PATH program");
	job.argv = ARGV("bin/sh", "-c", "true");
	CHECK(runner_start(r, &job, on_done, &o, NULL) == -EINVAL, "relative path accepted");
	job.argv = ARGV("/bin/true");
	job.timeout_usec = 0;
	CHECK(runner_start(r, &job, on_done, &o, NULL) == -EINVAL, "timeout 0 accepted");
	job.timeout_usec = SEC;
	job.env = ARGV("NOEQUALS");
	CHECK(runner_start(r, &job, on_done, &o, NULL) == -EINVAL, "env without '=' accepted");
	job.env = NULL;
	job.argv = ARGV(NULL);
	CHECK(runner_start(r, &job, on_done, &o, NULL) == -EINVAL, "empty argv accepted");
	CHECK(runner_start(r, NULL, on_done, &o, NULL) == -EINVAL, "NULL job accepted");
	CHECK(runner_running(r) == 0, "failed starts left jobs: %zu", runner_running(r));
	/* Nothing may come later for a failed start. */
	sd_event_run(ev, 20 * MSEC);
	CHECK(o.calls == 0, "callback after a failed start");
}

static void test_stdin_env(struct runner *r)
{
	struct outcome o = { 0 };
	const char *in = "action=off\nip=10.0.0.9\npassword=se cret\n";
	struct runner_job job = { .argv = ARGV("cat"), .stdin_data = in, .stdin_len = strlen(in),
				  .timeout_usec = 5 * SEC };

	CHECK(run_job(r, &job, &o, 5 * SEC) == 0, "cat did not finish");
	CHECK(o.res.exit_code == 0 && o.res.out && strcmp(o.res.out, in) == 0, "stdin passthrough: '%s'", o.res.out);
	outcome_clear(&o);

	/* No stdin: /dev/null, so cat ends at once. */
	job.stdin_data = NULL;
	job.stdin_len = 0;
	CHECK(run_job(r, &job, &o, 5 * SEC) == 0, "cat </dev/null did not finish");
	CHECK(o.res.exit_code == 0 && o.res.out_len == 0, "cat </dev/null: %d '%s'", o.res.exit_code, o.res.out);
	outcome_clear(&o);

	/* Large stdin (bigger than a pipe) comes back whole, over many reads. */
	size_t big_len = 300 * 1024;
	char *big = malloc(big_len);
	for (size_t i = 0; i < big_len; i++)
		big[i] = (char)('a' + i % 26);
	job.stdin_data = big;
	job.stdin_len = big_len;
	job.max_output = big_len;
	CHECK(run_job(r, &job, &o, 5 * SEC) == 0, "big cat did not finish");
	CHECK(o.res.out_len == big_len && o.res.out && memcmp(o.res.out, big, big_len) == 0 && !o.res.out_truncated,
	      "big stdin: %zu bytes back", o.res.out_len);
	free(big);
	outcome_clear(&o);

	/* Environment: additions, replacements, and the rest inherited. */
	setenv("KVMCD_TEST_INHERITED", "inherited", 1);
	setenv("KVMCD_TEST_REPLACED", "old", 1);
	struct runner_job env = { .argv = ARGV("/bin/sh", "-c",
					       "echo \"$KVMCD_TEST_INHERITED $KVMCD_TEST_REPLACED $KVMCD_TEST_ADDED\""),
				  .env = ARGV("KVMCD_TEST_REPLACED=new", "KVMCD_TEST_ADDED=added=x"),
				  .timeout_usec = 5 * SEC };
	CHECK(run_job(r, &env, &o, 5 * SEC) == 0, "env job did not finish");
	CHECK(o.res.out && strcmp(o.res.out, "inherited new added=x\n") == 0, "env: '%s'", o.res.out);
	outcome_clear(&o);
}

/* What the child inherits: no blocked or ignored signals, only fds 0-2, its own process group. */
static void test_child_setup(struct runner *r)
{
	struct outcome o = { 0 };
	int leak = open("/dev/null", O_RDONLY);   /* deliberately not close-on-exec */
	struct runner_job job = { .argv = ARGV("cat", "/proc/self/status"), .timeout_usec = 5 * SEC };

	CHECK(run_job(r, &job, &o, 5 * SEC) == 0, "cat status did not finish");
	CHECK(o.res.out && strstr(o.res.out, "\nSigBlk:\t0000000000000000\n"), "signals blocked in the child:\n%s",
	      o.res.out);
	/* Ignored signals are inherited across exec, so SIGPIPE must have been reset. Only 1..31:
	 * glibc's posix_spawn leaves its two internal signals (32, 33; sigfillset() omits them)
	 * ignored in every child it makes, which no ordinary program uses. */
	const char *ign = o.res.out ? strstr(o.res.out, "\nSigIgn:\t") : NULL;
	unsigned long long ignored = ign ? strtoull(ign + 9, NULL, 16) : ~0ULL;
	CHECK((ignored & 0x7fffffffULL) == 0, "signals ignored in the child: %llx", ignored);
	outcome_clear(&o);

	/* ls opens the directory itself as fd 3. */
	job.argv = ARGV("ls", "/proc/self/fd");
	CHECK(run_job(r, &job, &o, 5 * SEC) == 0, "ls fd did not finish");
	CHECK(o.res.out && strcmp(o.res.out, "0\n1\n2\n3\n") == 0, "fds in the child: '%s' (leak is %d)", o.res.out,
	      leak);
	outcome_clear(&o);
	close(leak);

	/* /proc/self/stat: "pid (comm) state ppid pgrp ..." */
	job.argv = ARGV("cat", "/proc/self/stat");
	CHECK(run_job(r, &job, &o, 5 * SEC) == 0, "cat stat did not finish");
	int pgrp = 0;
	const char *close_paren = o.res.out ? strrchr(o.res.out, ')') : NULL;
	CHECK(close_paren && sscanf(close_paren + 1, " %*c %*d %d", &pgrp) == 1, "stat '%s'", o.res.out);
	CHECK(pgrp == o.res.pid && pgrp != getpgrp(), "child pgrp %d, pid %d, ours %d", pgrp, o.res.pid, getpgrp());
	outcome_clear(&o);
}

static void test_deadline(struct runner *r, struct logs *logs)
{
	struct outcome o = { 0 };
	unsigned errs = logs->n_err;
	struct runner_job job = { .argv = ARGV("sleep", "30"), .timeout_usec = 200 * MSEC, .what = "sleepy" };

	CHECK(run_job(r, &job, &o, 10 * SEC) == 0, "sleep 30 was not stopped at its deadline");
	CHECK(o.res.timed_out && !o.res.cancelled && !o.res.abandoned, "flags t%d c%d a%d", o.res.timed_out,
	      o.res.cancelled, o.res.abandoned);
	CHECK(o.res.signal == SIGTERM, "ended by signal %d", o.res.signal);
	CHECK(o.res.duration_usec >= 200 * MSEC && o.res.duration_usec < 5 * SEC, "duration %llu",
	      (unsigned long long)o.res.duration_usec);
	CHECK(logs->n_err == errs + 1, "%u error lines for one timeout", logs->n_err - errs);
	/* (On a starved host the SIGKILL may follow before the sleep got to die of the TERM; the
	 * line then says so too.) */
	CHECK(strstr(logs->last_err, "'sleepy'") && strstr(logs->last_err, "deadline of 200 ms") &&
		      strstr(logs->last_err, "sent SIGTERM to its process group") &&
		      strstr(logs->last_err, "(signal TERM)"),
	      "log line: %s", logs->last_err);
	CHECK(strcmp(o.desc, "timed out after 200 ms (killed by signal TERM)") == 0, "describe '%s'", o.desc);
	CHECK(!runner_result_ok(&o.res), "timed out but ok");
	outcome_clear(&o);

	/* TERM first (the trap says it arrived), then KILL after the grace (500 ms / 4 = 125 ms). The
	 * sleep inside is killed by the TERM too; the shell loops on. 500 ms gives the shell time to
	 * set its trap even on a loaded host. */
	errs = logs->n_err;
	struct runner_job stubborn = {
		.argv = ARGV("/bin/sh", "-c", "trap 'echo got-term >&2' TERM; echo ready; while :; do sleep 1; done"),
		.timeout_usec = 500 * MSEC,
	};
	CHECK(run_job(r, &stubborn, &o, 10 * SEC) == 0, "TERM-trapping shell was not stopped");
	CHECK(o.res.timed_out && o.res.signal == SIGKILL, "timed_out %d signal %d", o.res.timed_out, o.res.signal);
	CHECK(o.res.err && strstr(o.res.err, "got-term"), "SIGTERM did not come first: err '%s'", o.res.err);
	CHECK(o.res.out && strcmp(o.res.out, "ready\n") == 0, "out '%s'", o.res.out);
	CHECK(o.res.duration_usec >= 625 * MSEC && o.res.duration_usec < 5 * SEC, "duration %llu",
	      (unsigned long long)o.res.duration_usec);
	CHECK(logs->n_err == errs + 1, "%u error lines for one timeout", logs->n_err - errs);
	CHECK(strstr(logs->last_err, "SIGTERM") && strstr(logs->last_err, "then SIGKILL 125 ms"), "log line: %s",
	      logs->last_err);
	outcome_clear(&o);
}

static void test_output_cap(struct runner *r)
{
	struct outcome o = { 0 };
	struct runner_job job = {
		.argv = ARGV("/bin/sh", "-c", "head -c 200000 /dev/zero | tr '\\0' x; echo done >&2"),
		.timeout_usec = 5 * SEC,
		.max_output = 1000,
	};

	CHECK(run_job(r, &job, &o, 5 * SEC) == 0, "chatty job did not finish");
	CHECK(o.res.exit_code == 0, "the child was blocked or failed: %s", o.desc);
	CHECK(o.res.out_len == 1000 && o.res.out_truncated && o.res.out && strlen(o.res.out) == 1000,
	      "out %zu bytes, truncated %d", o.res.out_len, o.res.out_truncated);
	CHECK(o.res.out && o.res.out[0] == 'x' && o.res.out[999] == 'x', "content");
	CHECK(o.res.err && strcmp(o.res.err, "done\n") == 0 && !o.res.err_truncated, "err '%s'", o.res.err);
	outcome_clear(&o);
}

static void test_many(struct runner *r)
{
	enum { N = 64 };
	struct outcome o[N] = { 0 };
	unsigned fds = count_fds();
	unsigned total = 0;

	for (int i = 0; i < N; i++) {
		char arg[16];
		snprintf(arg, sizeof arg, "%d", i);
		struct runner_job job = { .argv = ARGV("/bin/sh", "-c", "echo \"$1\"; echo \"e$1\" >&2; exit $(($1 % 7))",
						       "sh", arg),
					  .timeout_usec = 10 * SEC };
		CHECK(runner_start(r, &job, on_done, &o[i], NULL) == 0, "start %d", i);
	}
	CHECK(runner_running(r) == N, "running %zu", runner_running(r));
	uint64_t deadline = now_usec() + 10 * SEC;
	for (;;) {
		total = 0;
		for (int i = 0; i < N; i++)
			total += o[i].calls;
		if (total >= N || now_usec() > deadline)
			break;
		sd_event_run(ev, 100 * MSEC);
	}
	CHECK(total == N, "%u of %d reported", total, N);
	for (int i = 0; i < N; i++) {
		char want[16], want_err[16];
		snprintf(want, sizeof want, "%d\n", i);
		snprintf(want_err, sizeof want_err, "e%d\n", i);
		CHECK(o[i].calls == 1 && o[i].res.exit_code == i % 7, "job %d: calls %u, %s", i, o[i].calls, o[i].desc);
		CHECK(o[i].res.out && strcmp(o[i].res.out, want) == 0, "job %d out '%s'", i, o[i].res.out);
		CHECK(o[i].res.err && strcmp(o[i].res.err, want_err) == 0, "job %d err '%s'", i, o[i].res.err);
		outcome_clear(&o[i]);
	}
	CHECK(runner_running(r) == 0, "running %zu", runner_running(r));
	CHECK(count_fds() == fds, "fds before %u, after %u", fds, count_fds());
}

static struct runner_handle *self_handle;

static void on_done_cancel_self(struct runner_result *res, void *userdata)
{
	on_done(res, userdata);
	runner_cancel(self_handle);   /* too late: must be a no-op */
}

static void test_cancel(struct runner *r, struct logs *logs)
{
	struct outcome o = { 0 };
	struct runner_handle *h = NULL;
	unsigned errs = logs->n_err;
	struct runner_job job = { .argv = ARGV("sleep", "30"), .timeout_usec = 30 * SEC };

	CHECK(runner_start(r, &job, on_done, &o, &h) == 0 && h, "start");
	sd_event_run(ev, 0);
	runner_cancel(h);
	CHECK(o.calls == 0, "callback from inside runner_cancel");
	runner_cancel(h);   /* idempotent */
	CHECK(run_until(&o.calls, 1, 10 * SEC), "cancelled job not reported");
	CHECK(o.calls == 1 && o.res.cancelled && !o.res.timed_out && o.res.signal == SIGTERM, "calls %u, %s", o.calls,
	      o.desc);
	CHECK(o.res.duration_usec < 5 * SEC, "cancel took %llu us", (unsigned long long)o.res.duration_usec);
	CHECK(strcmp(o.desc, "cancelled (killed by signal TERM)") == 0, "describe '%s'", o.desc);
	CHECK(logs->n_err == errs, "a cancel logged an error");
	sd_event_run(ev, 20 * MSEC);
	CHECK(o.calls == 1, "second callback");
	outcome_clear(&o);

	/* Cancelling from inside the job's own callback changes nothing. */
	struct runner_job quick = { .argv = ARGV("/bin/sh", "-c", "exit 4"), .timeout_usec = 5 * SEC };
	CHECK(runner_start(r, &quick, on_done_cancel_self, &o, &self_handle) == 0, "start");
	CHECK(run_until(&o.calls, 1, 3 * SEC), "quick not reported");
	CHECK(o.res.exit_code == 4 && !o.res.cancelled, "%s", o.desc);
	sd_event_run(ev, 20 * MSEC);
	CHECK(o.calls == 1 && logs->n_err == errs, "calls %u", o.calls);
	outcome_clear(&o);
}

/* The child is made on a spawner thread: a cancel before it exists reaches it once it does, and
 * a program that exec refuses ends like a shell's failed command, saying why. */
static void test_spawn(struct runner *r)
{
	struct outcome o = { 0 };
	struct runner_handle *h = NULL;
	struct runner_job job = { .argv = ARGV("sleep", "30"), .timeout_usec = 30 * SEC };
	char path[] = "/tmp/kvmcd-test-runner-XXXXXX";
	int fd;

	CHECK(runner_start(r, &job, on_done, &o, &h) == 0 && h, "start");
	runner_cancel(h); /* no loop turn yet: the child may not exist */
	CHECK(run_until(&o.calls, 1, 10 * SEC), "job cancelled while spawning not reported");
	CHECK(o.res.cancelled && o.res.signal == SIGTERM && o.res.pid > 0, "cancelled while spawning: %s (pid %d)", o.desc,
	      (int)o.res.pid);
	CHECK(process_ends(o.res.pid, 1000), "the child of a job cancelled while spawning lives on");
	outcome_clear(&o);

	fd = mkstemp(path);
	CHECK(fd >= 0 && write(fd, "\x7f" "ELF not really\n", 16) == 16 && fchmod(fd, 0755) == 0, "write %s", path);
	close(fd);
	job.argv = ARGV(path);
	job.timeout_usec = 5 * SEC;
	CHECK(run_job(r, &job, &o, 5 * SEC) == 0, "an executable file exec refuses: not reported");
	CHECK(o.res.exit_code == 127 && o.res.err && strstr(o.res.err, "cannot start") && strstr(o.res.err, "Exec format error"),
	      "exec format error: %s, stderr '%s'", o.desc, o.res.err ? o.res.err : "");
	outcome_clear(&o);
	unlink(path);
}

/* The deadline's TERM reaches the whole group; a normal exit takes leftovers with it. */
static void test_process_group(struct runner *r)
{
	struct outcome o = { 0 };
	struct runner_job job = { .argv = ARGV("/bin/sh", "-c", "sleep 30 & echo $!; wait"),
				  .timeout_usec = 300 * MSEC };

	CHECK(run_job(r, &job, &o, 3 * SEC) == 0, "job not stopped");
	pid_t grandchild = o.res.out ? (pid_t)atoi(o.res.out) : 0;
	CHECK(o.res.timed_out && grandchild > 0, "timed_out %d, grandchild '%s'", o.res.timed_out, o.res.out);
	CHECK(grandchild > 0 && process_ends(grandchild, 2000), "grandchild %d survived its group's deadline",
	      grandchild);
	outcome_clear(&o);

	/* The TERM goes to the group, not just the leader: this shell ignores TERM (set after it
	 * started the sleep, which keeps the default), so only a group-wide TERM ends the sleep,
	 * after which the shell finishes on its own before any SIGKILL. */
	struct runner_job deaf = { .argv = ARGV("/bin/sh", "-c", "sleep 30 & trap '' TERM; wait $!; echo reaped"),
				   .timeout_usec = 600 * MSEC };   /* time to set the trap even on a loaded host */
	CHECK(run_job(r, &deaf, &o, 10 * SEC) == 0, "job not stopped");
	CHECK(o.res.timed_out && o.res.exit_code == 0 && o.res.out && strcmp(o.res.out, "reaped\n") == 0,
	      "TERM did not reach the grandchild: %s, out '%s'", o.desc, o.res.out);
	outcome_clear(&o);

	/* The shell exits at once, its background sleep keeps stdout open: the result must not wait
	 * for that pipe, and the sleep must die with the job. */
	struct runner_job leftover = { .argv = ARGV("/bin/sh", "-c", "sleep 30 & echo $!"), .timeout_usec = 10 * SEC };
	CHECK(run_job(r, &leftover, &o, 3 * SEC) == 0, "job with a leftover not reported");
	grandchild = o.res.out ? (pid_t)atoi(o.res.out) : 0;
	CHECK(o.res.exit_code == 0 && o.res.duration_usec < 5 * SEC, "%s after %llu us", o.desc,
	      (unsigned long long)o.res.duration_usec);
	CHECK(grandchild > 0 && process_ends(grandchild, 2000), "leftover %d survived its job", grandchild);
	outcome_clear(&o);
}

static struct runner *nested_runner;
static unsigned nested_other_calls;

static void on_other_done(struct runner_result *res, void *userdata)
{
	nested_other_calls++;
}

static void on_done_free_runner(struct runner_result *res, void *userdata)
{
	struct outcome *o = userdata;

	on_done(res, userdata);
	runner_free(nested_runner);   /* from inside a callback: the other job ends without one */
	nested_runner = NULL;
	(void)o;
}

/* Runs the loop for usec (timers and children keep being served). */
static void run_for(uint64_t usec)
{
	unsigned never = 0;

	(void)run_until(&never, 1, usec);
}

static void test_free_running(struct logs *logs)
{
	struct runner_config cfg = { .log = collect_log, .log_userdata = logs, .shutdown_wait_usec = 300 * MSEC };
	struct runner *r = NULL;
	struct outcome o = { 0 };
	unsigned calls = 0;
	char pids_path[] = "/tmp/test-runner-pids.XXXXXX";
	int fd = mkstemp(pids_path);
	char script[256];

	/* runner_free with a plain sleep and a TERM-ignoring shell with a grandchild: every process
	 * dies, no callbacks, and it takes the wait after SIGTERM (300 ms here) for the deaf one. */
	CHECK(fd >= 0, "mkstemp");
	close(fd);
	CHECK(runner_new(ev, &cfg, &r) == 0, "runner_new");
	snprintf(script, sizeof script, "echo $$ >>%s; exec sleep 30", pids_path);
	struct runner_job plain = { .argv = ARGV("/bin/sh", "-c", script), .timeout_usec = 30 * SEC };
	CHECK(runner_start(r, &plain, on_other_done, &calls, NULL) == 0, "start plain");
	snprintf(script, sizeof script, "trap '' TERM; sleep 30 & echo $! $$ >>%s; wait", pids_path);
	struct runner_job deaf = { .argv = ARGV("/bin/sh", "-c", script), .timeout_usec = 30 * SEC };
	CHECK(runner_start(r, &deaf, on_other_done, &calls, NULL) == 0, "start deaf");
	run_for(150 * MSEC);   /* until both shells have set up */
	uint64_t t0 = now_usec();
	runner_free(r);
	uint64_t took = now_usec() - t0;
	CHECK(calls == 0, "callbacks from runner_free");
	CHECK(took >= 300 * MSEC && took < 2 * SEC, "runner_free took %llu us", (unsigned long long)took);
	FILE *f = fopen(pids_path, "r");
	int pid, n = 0;
	while (f && fscanf(f, "%d", &pid) == 1) {
		n++;
		CHECK(process_ends(pid, 1000), "pid %d survived runner_free", pid);
	}
	CHECK(n == 3, "%d pids recorded", n);
	if (f)
		fclose(f);
	unlink(pids_path);
	run_for(10 * MSEC);
	CHECK(calls == 0, "callbacks after runner_free");

	/* runner_free from a done callback. */
	cfg.shutdown_wait_usec = 0;   /* the default */
	CHECK(runner_new(ev, &cfg, &nested_runner) == 0, "runner_new");
	struct runner_job quick = { .argv = ARGV("true"), .timeout_usec = 5 * SEC };
	struct runner_job slow = { .argv = ARGV("sleep", "30"), .timeout_usec = 30 * SEC };
	nested_other_calls = 0;
	CHECK(runner_start(nested_runner, &slow, on_other_done, NULL, NULL) == 0, "start slow");
	CHECK(runner_start(nested_runner, &quick, on_done_free_runner, &o, NULL) == 0, "start quick");
	CHECK(run_until(&o.calls, 1, 3 * SEC), "quick not reported");
	CHECK(nested_runner == NULL && nested_other_calls == 0, "slow job reported after runner_free");
	outcome_clear(&o);
}

static void test_sigchld_required(void)
{
	struct runner *r = NULL;
	sigset_t m;

	sigemptyset(&m);
	sigaddset(&m, SIGCHLD);
	sigprocmask(SIG_UNBLOCK, &m, NULL);
	CHECK(runner_new(ev, NULL, &r) == -EBUSY && !r, "runner_new with SIGCHLD unblocked");
	sigprocmask(SIG_BLOCK, &m, NULL);
}

/* ---- capture mode ---------------------------------------------------------------------------- */

static void test_capture(struct logs *logs)
{
	struct runner_config cfg = { .log = collect_log, .log_userdata = logs };
	struct runner *r = NULL;
	struct outcome o = { 0 };
	_cleanup_free_ char *text = NULL;

	CHECK(runner_new_capture(ev, &cfg, &r) == 0, "runner_new_capture");
	/* A probe that finds nothing the first time and a session afterwards; a catch-all for
	 * iscsiadm; a longer prefix that wins over it; multipath output. */
	CHECK(runner_capture_add(r, ARGV("iscsiadm", "-m", "session"),
				 &(struct runner_canned){ .exit_code = 21, .err = "iscsiadm: No active sessions.\n",
							  .uses = 1 }) == 0, "add");
	CHECK(runner_capture_add(r, ARGV("iscsiadm", "-m", "session"),
				 &(struct runner_canned){ .out = "tcp: [1] 10.0.0.5:3260,1030 iqn.1992-08.com.netapp:sn.1 (non-flash)\n" }) == 0,
	      "add");
	CHECK(runner_capture_add(r, ARGV("iscsiadm"), &(struct runner_canned){ .exit_code = 0 }) == 0, "add");
	CHECK(runner_capture_add(r, ARGV("iscsiadm", "-m", "node", "-T"),
				 &(struct runner_canned){ .exit_code = 15, .err = "session exists\n" }) == 0, "add");
	CHECK(runner_capture_add(r, ARGV("/sbin/multipath", "-ll"),
				 &(struct runner_canned){ .out = "3600a0980383030 dm-0 NETAPP,LUN C-Mode\n",
							  .delay_usec = 30 * MSEC }) == 0, "add");
	CHECK(runner_capture_add(r, ARGV(NULL), &(struct runner_canned){ 0 }) == -EINVAL, "empty prefix accepted");
	CHECK(runner_capture_add(r, ARGV("x"), &(struct runner_canned){ .exit_code = 256 }) == -EINVAL,
	      "exit 256 accepted");

	/* The first probe: canned failure; delivered later, never inside runner_start. */
	struct runner_job probe = { .argv = ARGV("/usr/sbin/iscsiadm", "-m", "session"), .timeout_usec = 10 * SEC,
				    .env = ARGV("LC_ALL=C") };
	CHECK(runner_start(r, &probe, on_done, &o, NULL) == 0, "start");
	CHECK(o.calls == 0, "capture result delivered inside runner_start");
	CHECK(run_until(&o.calls, 1, SEC), "probe not reported");
	CHECK(o.res.exit_code == 21 && strcmp(o.res.err, "iscsiadm: No active sessions.\n") == 0 && o.res.out_len == 0,
	      "probe 1: %s, err '%s'", o.desc, o.res.err);
	CHECK(o.res.pid == 0, "capture pid %d", o.res.pid);
	outcome_clear(&o);

	/* The login, by the longer prefix, with the portal's secret on stdin. */
	const char *secret = "node.session.auth.password = s3cret\n";
	struct runner_job login = { .argv = ARGV("iscsiadm", "-m", "node", "-T", "iqn.1992-08.com.netapp:sn.1", "-p",
						 "10.0.0.5:3260", "--login"),
				    .stdin_data = secret, .stdin_len = strlen(secret), .timeout_usec = 20 * SEC,
				    .what = "iSCSI login" };
	CHECK(run_job(r, &login, &o, SEC) == 0, "login not reported");
	CHECK(o.res.exit_code == 15 && strcmp(o.res.err, "session exists\n") == 0, "login: %s", o.desc);
	outcome_clear(&o);

	/* The second probe: the first entry is used up. */
	CHECK(run_job(r, &probe, &o, SEC) == 0, "probe 2 not reported");
	CHECK(o.res.exit_code == 0 && strstr(o.res.out, "iqn.1992-08.com.netapp:sn.1"), "probe 2: %s '%s'", o.desc,
	      o.res.out);
	outcome_clear(&o);

	/* Catch-all and an exact argv[0] with a slash; the delay is honoured. */
	struct runner_job rescan = { .argv = ARGV("iscsiadm", "-m", "session", "-R"), .timeout_usec = SEC };
	CHECK(run_job(r, &rescan, &o, SEC) == 0 && o.res.exit_code == 0 && o.res.out_len > 0,
	      "a longer argv matches its prefix: %s '%s'", o.desc, o.res.out);
	outcome_clear(&o);
	struct runner_job mp = { .argv = ARGV("/sbin/multipath", "-ll"), .timeout_usec = SEC, .max_output = 10 };
	CHECK(run_job(r, &mp, &o, SEC) == 0, "multipath not reported");
	CHECK(o.res.duration_usec >= 30 * MSEC, "delay ignored: %llu", (unsigned long long)o.res.duration_usec);
	CHECK(o.res.out_len == 10 && o.res.out_truncated && strcmp(o.res.out, "3600a09803") == 0,
	      "canned output not capped: '%s'", o.res.out);
	outcome_clear(&o);

	/* Unmatched: 127, said on stderr and in an error line, counted. */
	unsigned errs = logs->n_err;
	struct runner_job blkid = { .argv = ARGV("blkid", "-p", "/dev/dm-0"), .timeout_usec = SEC };
	CHECK(run_job(r, &blkid, &o, SEC) == 0, "unmatched not reported");
	CHECK(o.res.exit_code == 127 && strstr(o.res.err, "no canned result for: blkid -p /dev/dm-0"), "unmatched: %s '%s'",
	      o.desc, o.res.err);
	CHECK(runner_capture_unmatched(r) == 1 && logs->n_err == errs + 1, "unmatched %zu, errors %u",
	      runner_capture_unmatched(r), logs->n_err - errs);
	outcome_clear(&o);

	/* What was recorded. */
	CHECK(runner_capture_count(r) == 6, "recorded %zu", runner_capture_count(r));
	CHECK(runner_capture_format(r, &text) == 0, "format");
	const char *want = "/usr/sbin/iscsiadm -m session\n"
			   "iscsiadm -m node -T iqn.1992-08.com.netapp:sn.1 -p 10.0.0.5:3260 --login\n"
			   "/usr/sbin/iscsiadm -m session\n"
			   "iscsiadm -m session -R\n"
			   "/sbin/multipath -ll\n"
			   "blkid -p /dev/dm-0\n";
	CHECK(text && strcmp(text, want) == 0, "recorded:\n%s\nwanted:\n%s", text, want);
	const struct runner_call *c = runner_capture_call(r, 1);
	CHECK(c && strcmp(c->stdin_data, secret) == 0 && c->stdin_len == strlen(secret), "stdin not recorded");
	CHECK(c && strcmp(c->what, "iSCSI login") == 0 && c->timeout_usec == 20 * SEC && c->env && !c->env[0],
	      "call fields");
	c = runner_capture_call(r, 0);
	CHECK(c && c->env[0] && strcmp(c->env[0], "LC_ALL=C") == 0 && !c->env[1], "env not recorded");
	CHECK(runner_capture_call(r, 6) == NULL, "call out of range");
	runner_capture_reset(r);
	CHECK(runner_capture_count(r) == 0 && runner_capture_unmatched(r) == 0, "reset");

	/* Quoting in the recorded text. */
	struct runner_job quoted = { .argv = ARGV("iscsiadm", "a b", "it's", ""), .timeout_usec = SEC };
	CHECK(run_job(r, &quoted, &o, SEC) == 0, "quoted not reported");
	outcome_clear(&o);
	free(text);
	text = NULL;
	CHECK(runner_capture_format(r, &text) == 0 && strcmp(text, "iscsiadm 'a b' 'it'\\''s' ''\n") == 0,
	      "quoting: %s", text);

	runner_free(r);
}

/* The deadline path in capture mode: hang → TERM; ignore TERM → KILL; unkillable → abandoned. */
static void test_capture_hang(struct logs *logs)
{
	struct runner_config cfg = { .log = collect_log, .log_userdata = logs };
	struct runner *r = NULL;
	struct outcome o = { 0 };
	struct runner_handle *h = NULL;

	CHECK(runner_new_capture(ev, &cfg, &r) == 0, "runner_new_capture");
	runner_capture_add(r, ARGV("fence_ipmilan"), &(struct runner_canned){ .mode = RUNNER_CANNED_HANG });
	runner_capture_add(r, ARGV("mount"), &(struct runner_canned){ .mode = RUNNER_CANNED_HANG_IGNORE_TERM });
	runner_capture_add(r, ARGV("multipath"), &(struct runner_canned){ .mode = RUNNER_CANNED_HANG_UNKILLABLE,
									   .out = "partial\n" });
	runner_capture_add(r, ARGV("nvme"), &(struct runner_canned){ .delay_usec = 10 * SEC });

	unsigned errs = logs->n_err;
	struct runner_job fence = { .argv = ARGV("fence_ipmilan"), .timeout_usec = 100 * MSEC };
	CHECK(run_job(r, &fence, &o, 2 * SEC) == 0, "hang not stopped");
	CHECK(o.res.timed_out && o.res.signal == SIGTERM && o.res.duration_usec >= 100 * MSEC, "hang: %s", o.desc);
	CHECK(logs->n_err == errs + 1, "error lines %u", logs->n_err - errs);
	outcome_clear(&o);

	errs = logs->n_err;
	struct runner_job mount = { .argv = ARGV("mount", "-t", "gfs2", "/dev/dm-0", "/srv/ds1"), .timeout_usec = 100 * MSEC };
	CHECK(run_job(r, &mount, &o, 2 * SEC) == 0, "TERM-ignoring hang not stopped");
	CHECK(o.res.timed_out && o.res.signal == SIGKILL && o.res.duration_usec >= 125 * MSEC, "ignore-term: %s",
	      o.desc);
	CHECK(logs->n_err == errs + 1 && strstr(logs->last_err, "then SIGKILL 25 ms"), "log: %s", logs->last_err);
	outcome_clear(&o);

	errs = logs->n_err;
	struct runner_job mp = { .argv = ARGV("multipath", "-ll"), .timeout_usec = 100 * MSEC, .what = "multipath -ll" };
	CHECK(run_job(r, &mp, &o, 2 * SEC) == 0, "unkillable not given up");
	CHECK(o.res.timed_out && o.res.abandoned && o.res.signal == 0 && o.res.exit_code == -1, "unkillable: %s",
	      o.desc);
	CHECK(o.res.duration_usec >= 150 * MSEC && o.res.duration_usec < SEC, "abandoned after %llu",
	      (unsigned long long)o.res.duration_usec);
	CHECK(strcmp(o.res.out, "partial\n") == 0, "output of an abandoned job: '%s'", o.res.out);
	CHECK(strcmp(o.desc, "timed out after 100 ms; still alive after SIGKILL (abandoned)") == 0, "describe '%s'",
	      o.desc);
	CHECK(logs->n_err == errs + 1 && strstr(logs->last_err, "still alive 25 ms after SIGKILL"), "log: %s",
	      logs->last_err);
	outcome_clear(&o);

	/* Cancel a hang, and a delayed exit (dies at once, like a process on SIGTERM). */
	CHECK(runner_start(r, &fence, on_done, &o, &h) == 0, "start");
	runner_cancel(h);
	CHECK(o.calls == 0, "callback inside runner_cancel");
	CHECK(run_until(&o.calls, 1, SEC) && o.res.cancelled && o.res.signal == SIGTERM && !o.res.timed_out,
	      "cancel hang: %s", o.desc);
	outcome_clear(&o);
	struct runner_job nvme = { .argv = ARGV("nvme", "list-subsys", "-o", "json"), .timeout_usec = 20 * SEC };
	CHECK(runner_start(r, &nvme, on_done, &o, &h) == 0, "start");
	runner_cancel(h);
	CHECK(run_until(&o.calls, 1, SEC) && o.res.cancelled && o.res.signal == SIGTERM, "cancel delayed: %s", o.desc);
	outcome_clear(&o);

	/* runner_free with a hang in flight: no callback. */
	unsigned calls = 0;
	CHECK(runner_start(r, &fence, on_other_done, &calls, NULL) == 0, "start");
	runner_free(r);
	sd_event_run(ev, 10 * MSEC);
	CHECK(calls == 0, "callback after runner_free");
}

int main(void)
{
	struct logs logs = { 0 };
	struct runner_config cfg = { .log = collect_log, .log_userdata = &logs };
	struct runner *r = NULL;
	sigset_t mask;

	/* As the daemon does: SIGCHLD blocked (sd-event's requirement), SIGTERM blocked for its
	 * signalfd, SIGPIPE ignored; the children must inherit none of it. */
	sigemptyset(&mask);
	sigaddset(&mask, SIGCHLD);
	sigaddset(&mask, SIGTERM);
	sigprocmask(SIG_BLOCK, &mask, NULL);
	signal(SIGPIPE, SIG_IGN);
	if (sd_event_new(&ev) < 0)
		return 1;

	test_sigchld_required();
	CHECK(runner_new(ev, &cfg, &r) == 0, "runner_new");
	if (!r)
		return tap_done("test-runner");
	test_basic(r);
	test_start_errors(r);
	test_stdin_env(r);
	test_child_setup(r);
	test_deadline(r, &logs);
	test_output_cap(r);
	test_many(r);
	test_cancel(r, &logs);
	test_spawn(r);
	test_process_group(r);
	CHECK(runner_running(r) == 0, "jobs left: %zu", runner_running(r));
	runner_free(r);
	test_free_running(&logs);
	test_capture(&logs);
	test_capture_hang(&logs);
	CHECK(logs.n_warning == 0, "%u unexpected warnings", logs.n_warning);

	sd_event_unref(ev);
	return tap_done("test-runner");
}
