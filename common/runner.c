/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The runner: one job state machine (deadline, cancel, TERM → KILL → abandon, result, log lines)
 * over two backends that make and signal the "process": real children, or capture for tests.
 * Keeping the state machine shared is the point of capture mode: a test that hangs a canned
 * iscsiadm exercises the very timer and escalation code the daemon runs.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "macros.h"
#include "runner.h"
#include "worker.h"

extern char **environ;

/* runner_free(): how long it waits after SIGTERM, and again after SIGKILL, by default. */
#define SHUTDOWN_WAIT_USEC (1 * USEC_PER_SEC)
/* The grace between SIGTERM and SIGKILL (and, at least 1 s for real processes, between SIGKILL
 * and giving up): long enough for a tool to undo half-done work, short against the deadline, so
 * that the caller hears at most min(1.5 * deadline + 1 s, deadline + 10 s) after the start. */
#define GRACE_MAX_USEC (5 * USEC_PER_SEC)
#define GRACE_MIN_USEC USEC_PER_MSEC
/* Timer slack: deadlines are about seconds, a millisecond is plenty and cheap. */
#define TIMER_ACCURACY_USEC USEC_PER_MSEC
/* Threads that start children (real backend, see real_start()): a spawn holds its thread until
 * the child has exec'd, which on a loaded machine is whenever the scheduler gets to the child. */
#define SPAWN_THREADS 4u
/* Reads per wake-up of one pipe, so a chatty child cannot starve the loop. */
#define READS_PER_DISPATCH 16
/* Reads when draining after the exit: bounded in case a killed leftover still writes. */
#define READS_PER_DRAIN 1024

struct buf {
	char *data;         /* owned; NUL-terminated ("" from the start); NULL once taken */
	size_t len;
	size_t max;         /* cap on len */
	bool truncated;
};

enum phase {
	PHASE_RUNNING,
	PHASE_TERM_SENT,    /* timer: the grace before SIGKILL */
	PHASE_KILL_SENT,    /* timer: the grace before abandoning */
};

struct runner_handle {
	struct runner *runner;              /* borrowed; the job is in its list until reported */
	struct runner_handle *prev, *next;
	char *what;                         /* owned */
	runner_done_fn done;
	void *userdata;                     /* borrowed */
	uint64_t timeout_usec, grace_usec;
	uint64_t start_usec;                /* CLOCK_MONOTONIC */
	enum phase phase;
	bool timed_out, cancelled;
	bool reported;                      /* done is running: cancel is a no-op */
	sd_event_source *timer;             /* owned: the deadline, then each grace */
	struct buf out, err;

	/* real backend */
	pid_t pid;                          /* also the process group id; 0 while spawning */
	struct spawn *spawn;                /* borrowed: the spawn in flight, NULL once it is done */
	int pending_sig;                    /* a signal asked for while spawning (SIGKILL wins) */
	sd_event_source *child;             /* owned: pidfd watch; NULL once released */
	int out_fd, err_fd;                 /* owned read ends; -1 once at EOF */
	sd_event_source *out_src, *err_src; /* owned */

	/* capture backend: what the fake process does */
	enum runner_canned_mode fake_mode;
	int fake_exit_code, fake_signal;
	sd_event_source *fake_end;          /* owned: fires when the fake process ends */
};

/* A real process reported as abandoned; watched only to reap it and say so. */
struct orphan {
	struct runner *runner;              /* borrowed */
	struct orphan *prev, *next;
	pid_t pid;
	char *what;                         /* owned */
	sd_event_source *child;             /* owned */
};

struct canned {
	char **prefix;                      /* owned, NULL-terminated */
	size_t prefix_len;
	struct runner_canned c;             /* out/err point to owned copies */
	unsigned used;
};

/*
 * How a job's process is made and signalled; the job state machine above it is shared. Two
 * implementations: real_backend (posix_spawn on a spawner thread into its own process group, exit watched through a
 * pidfd, output read from pipes on the loop) and capture_backend (records the job, plays a
 * canned result). Every hook runs on the loop thread.
 */
struct runner_backend {
	/* Makes h's process from job. On 0 the backend reports the end later with job_exited(),
	 * from a loop callback, never from inside start. On error nothing is left behind and no
	 * report follows. h->out/err caps are set already. */
	int (*start)(struct runner *r, struct runner_handle *h, const struct runner_job *job);
	/* Sends sig to h's process group. Idempotent; never reports synchronously. */
	void (*kill)(struct runner_handle *h, int sig);
	/* h is reported while its process still lives: keep watching it, detached from h, so it is
	 * reaped whenever it dies. Called before release. */
	void (*abandon)(struct runner *r, struct runner_handle *h);
	/* Frees h's backend resources (sources, fds). Accepts a half-started h. */
	void (*release)(struct runner_handle *h);
	/* runner_free(): end every process still running, without callbacks. */
	void (*shutdown)(struct runner *r);
	/* The least time between SIGKILL and giving up on the process (see abandon_wait()). */
	uint64_t kill_wait_min_usec;
};

struct runner {
	sd_event *event;                    /* referenced */
	struct runner_config cfg;
	const struct runner_backend *backend;
	struct worker_pool *spawner;        /* real: owned, made at the first start */
	struct runner_handle *jobs;         /* started, not yet reported */
	size_t n_running;
	struct orphan *orphans;             /* real: abandoned, not yet reaped */
	/* capture only */
	struct canned *canned;              /* owned array */
	size_t n_canned;
	struct runner_call *calls;          /* owned array */
	size_t n_calls;
	size_t unmatched;
};

/* ---- small helpers --------------------------------------------------------------------------- */

static uint64_t now_usec(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * USEC_PER_SEC + (uint64_t)ts.tv_nsec / 1000;
}

static void runner_log(struct runner *r, int level, const char *fmt, ...) _printf_(3, 4);
static void runner_log(struct runner *r, int level, const char *fmt, ...)
{
	char line[1024];
	va_list ap;

	if (!r->cfg.log)
		return;
	va_start(ap, fmt);
	vsnprintf(line, sizeof line, fmt, ap);
	va_end(ap);
	r->cfg.log(r->cfg.log_userdata, level, line);
}

/* "250 ms", "5 s", "1.5 s", "35.004 s" */
static const char *fmt_usec(uint64_t usec, char buf[static 32])
{
	if (usec < USEC_PER_SEC) {
		snprintf(buf, 32, "%" PRIu64 " ms", (uint64_t)((usec + USEC_PER_MSEC / 2) / USEC_PER_MSEC));
		return buf;
	}
	int n = snprintf(buf, 32, "%.3f", (double)usec / USEC_PER_SEC);
	while (n > 0 && buf[n - 1] == '0')
		buf[--n] = '\0';
	if (n > 0 && buf[n - 1] == '.')
		buf[--n] = '\0';
	snprintf(buf + n, 32 - (size_t)n, " s");
	return buf;
}

static const char *sig_name(int sig)
{
	const char *n = sigabbrev_np(sig);

	return n ? n : "?";
}

static void strv_free(char **v)
{
	if (!v)
		return;
	for (char **p = v; *p; p++)
		free(*p);
	free(v);
}

static size_t strv_len(const char *const *v)
{
	size_t n = 0;

	while (v && v[n])
		n++;
	return n;
}

/* A NULL-terminated deep copy; NULL v gives an empty list. Returns NULL on ENOMEM. */
static char **strv_copy(const char *const *v)
{
	size_t n = strv_len(v);
	char **c = calloc(n + 1, sizeof *c);

	if (!c)
		return NULL;
	for (size_t i = 0; i < n; i++)
		if (!(c[i] = strdup(v[i]))) {
			strv_free(c);
			return NULL;
		}
	return c;
}

/* Shell quoting for display, so a recorded command line reads unambiguously. */
static void fput_quoted(FILE *f, const char *s)
{
	if (*s && strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_@%+=:,./-[]") ==
		  strlen(s)) {
		fputs(s, f);
		return;
	}
	fputc('\'', f);
	for (; *s; s++) {
		if (*s == '\'')
			fputs("'\\''", f);
		else
			fputc(*s, f);
	}
	fputc('\'', f);
}

static void fput_argv(FILE *f, char *const *argv)
{
	for (size_t i = 0; argv[i]; i++) {
		if (i)
			fputc(' ', f);
		fput_quoted(f, argv[i]);
	}
}

/* The argv as one display line; NULL on ENOMEM (only used for log lines and capture text). */
static char *argv_line(char *const *argv)
{
	char *text = NULL;
	size_t size;
	FILE *f = open_memstream(&text, &size);

	if (!f)
		return NULL;
	fput_argv(f, argv);
	if (fclose(f) != 0) {
		free(text);
		return NULL;
	}
	return text;
}

/* Appends what fits under the cap, flags the rest. Returns 0 or -ENOMEM. */
static int buf_append(struct buf *b, const char *p, size_t n)
{
	size_t room = b->max - b->len;

	if (n > room) {
		b->truncated = true;
		n = room;
	}
	if (n == 0)
		return 0;
	/* b->data is at least "" (runner_start), so the result is always a string. */
	char *d = realloc(b->data, b->len + n + 1);
	if (!d)
		return -ENOMEM;
	memcpy(d + b->len, p, n);
	b->len += n;
	d[b->len] = '\0';
	b->data = d;
	return 0;
}

/* Hands the buffer out as a NUL-terminated string; runner_start allocated it, so never NULL. */
static char *buf_take(struct buf *b, size_t *len)
{
	*len = b->len;
	b->len = 0;
	return TAKE_PTR(b->data);
}

/* grace = min(5 s, deadline / 4), at least 1 ms (see the header's timeline). */
static uint64_t grace_for(uint64_t timeout_usec)
{
	uint64_t g = timeout_usec / 4;

	if (g > GRACE_MAX_USEC)
		g = GRACE_MAX_USEC;
	if (g < GRACE_MIN_USEC)
		g = GRACE_MIN_USEC;
	return g;
}

/* How long to wait after SIGKILL before reporting the job as abandoned: the grace, but for real
 * processes at least 1 s, because a killed process still has to be scheduled to die (on a loaded
 * host that takes a while) and "abandoned" is meant for processes stuck in the kernel. */
static uint64_t abandon_wait(const struct runner *r, const struct runner_handle *h)
{
	return h->grace_usec > r->backend->kill_wait_min_usec ? h->grace_usec : r->backend->kill_wait_min_usec;
}

static const char *pid_text(pid_t pid, char buf[static 32])
{
	if (pid > 0)
		snprintf(buf, 32, " (pid %d)", (int)pid);
	else
		buf[0] = '\0';
	return buf;
}

/* ---- the job state machine ------------------------------------------------------------------- */

static void handle_free(struct runner_handle *h)
{
	if (!h)
		return;
	sd_event_source_disable_unref(h->timer);
	free(h->what);
	free(h->out.data);
	free(h->err.data);
	free(h);
}

static void job_unlink(struct runner *r, struct runner_handle *h)
{
	if (h->prev)
		h->prev->next = h->next;
	else
		r->jobs = h->next;
	if (h->next)
		h->next->prev = h->prev;
	h->prev = h->next = NULL;
	r->n_running--;
}

/* The one loud line of a job that overran its deadline (or a cancelled one that would not die):
 * what was sent, how it ended, when. */
static void log_killed(struct runner *r, const struct runner_handle *h, const struct runner_result *res)
{
	char pid[32], deadline[32], grace[32], wait[32], took[32], sent[64], how[48];
	const char *why = h->timed_out ? "overran its deadline of" : "was cancelled; its deadline was";

	if (h->phase == PHASE_KILL_SENT)
		snprintf(sent, sizeof sent, ", then SIGKILL %s later", fmt_usec(h->grace_usec, grace));
	else
		sent[0] = '\0';
	if (res->signal)
		snprintf(how, sizeof how, "it ended (signal %s)", sig_name(res->signal));
	else
		snprintf(how, sizeof how, "it exited with status %d", res->exit_code);

	if (res->abandoned)
		runner_log(r, LOG_ERR,
			   "'%s'%s %s %s: sent SIGTERM to its process group%s; still alive %s after SIGKILL (%s after "
			   "the start; stuck in the kernel?): reporting it as failed; it is reaped whenever it ends",
			   h->what, pid_text(res->pid, pid), why, fmt_usec(h->timeout_usec, deadline), sent,
			   fmt_usec(abandon_wait(r, h), wait), fmt_usec(res->duration_usec, took));
	else
		runner_log(r, h->timed_out ? LOG_ERR : LOG_DEBUG,
			   "'%s'%s %s %s: sent SIGTERM to its process group%s; %s after %s", h->what,
			   pid_text(res->pid, pid), why, fmt_usec(h->timeout_usec, deadline), sent, how,
			   fmt_usec(res->duration_usec, took));
}

/*
 * Reports h exactly once and frees it. Everything that touches the runner happens before the
 * callback, which may free the runner.
 */
static void job_complete(struct runner_handle *h, int exit_code, int sig, bool abandoned)
{
	struct runner *r = h->runner;
	struct runner_result res = {
		.exit_code = exit_code,
		.signal = sig,
		.timed_out = h->timed_out,
		.cancelled = h->cancelled,
		.abandoned = abandoned,
		.duration_usec = now_usec() - h->start_usec,
		.timeout_usec = h->timeout_usec,
		.pid = h->pid,
	};
	char pid[32], took[32];

	job_unlink(r, h);
	h->timer = sd_event_source_disable_unref(h->timer);
	if (abandoned)
		r->backend->abandon(r, h);
	r->backend->release(h);
	res.out = buf_take(&h->out, &res.out_len);
	res.out_truncated = h->out.truncated;
	res.err = buf_take(&h->err, &res.err_len);
	res.err_truncated = h->err.truncated;

	if (h->phase != PHASE_RUNNING)
		log_killed(r, h, &res);
	else if (sig)
		runner_log(r, LOG_DEBUG, "'%s'%s was killed by signal %s after %s", h->what, pid_text(res.pid, pid),
			   sig_name(sig), fmt_usec(res.duration_usec, took));
	else
		runner_log(r, LOG_DEBUG, "'%s'%s exited with status %d after %s", h->what, pid_text(res.pid, pid),
			   exit_code, fmt_usec(res.duration_usec, took));

	h->reported = true;
	h->done(&res, h->userdata);

	/* NULL when the callback took them. */
	free(res.out);
	free(res.err);
	handle_free(h);
}

/* Called by a backend when h's process has ended. */
static void job_exited(struct runner_handle *h, int exit_code, int sig)
{
	job_complete(h, exit_code, sig, false);
}

/* Timers are set from the clock, not relative to sd_event_now(): that is the start of the
 * current loop iteration, stale by however long the iteration has run (or since the last one,
 * when called outside the loop). */
static int arm_timer(struct runner_handle *h, uint64_t usec)
{
	int r = sd_event_source_set_time(h->timer, now_usec() + usec);

	if (r >= 0)
		r = sd_event_source_set_enabled(h->timer, SD_EVENT_ONESHOT);
	return r;
}

/* SIGTERM now, the grace timer next. Returns 0 or the errno of arming the timer. */
static int escalate_term(struct runner_handle *h)
{
	h->runner->backend->kill(h, SIGTERM);
	h->phase = PHASE_TERM_SENT;
	return arm_timer(h, h->grace_usec);
}

static int on_timer(sd_event_source *s, uint64_t usec, void *userdata)
{
	struct runner_handle *h = userdata;
	int r;

	switch (h->phase) {
	case PHASE_RUNNING:
		h->timed_out = true;
		r = escalate_term(h);
		break;
	case PHASE_TERM_SENT:
		h->runner->backend->kill(h, SIGKILL);
		h->phase = PHASE_KILL_SENT;
		r = arm_timer(h, abandon_wait(h->runner, h));
		break;
	case PHASE_KILL_SENT:
	default:
		job_complete(h, -1, 0, true);
		return 0;
	}
	if (r < 0) {
		/* Cannot time the grace (out of memory): do not leave the caller waiting on a process
		 * that may never die; kill it and report it now. */
		h->runner->backend->kill(h, SIGKILL);
		h->phase = PHASE_KILL_SENT;
		job_complete(h, -1, 0, true);
	}
	return 0;
}

/* ---- real backend ---------------------------------------------------------------------------- */

/* Keeps our fds off 0..2 so the dup2()s in the child never clobber each other, even when the
 * daemon was started with a closed stdin/stdout. Returns the fd to use or -errno. */
static int fd_above_stdio(int fd)
{
	if (fd < 0 || fd > 2)
		return fd;
	int n = fcntl(fd, F_DUPFD_CLOEXEC, 3);
	int e = errno;
	close(fd);
	return n < 0 ? -e : n;
}

static int stdin_fd(const struct runner_job *job)
{
	if (!job->stdin_data) {
		int fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
		return fd < 0 ? -errno : fd_above_stdio(fd);
	}

	/* A memfd rather than a pipe: the whole input is there before the child starts, so the
	 * loop never writes to a child, and a child that does not read cannot block us or get us
	 * a SIGPIPE. */
	_cleanup_close_ int fd = memfd_create("kvmcd-runner-stdin", MFD_CLOEXEC);
	if (fd < 0)
		return -errno;
	const char *p = job->stdin_data;
	size_t left = job->stdin_len;
	while (left > 0) {
		ssize_t n = write(fd, p, left);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		p += n;
		left -= (size_t)n;
	}
	if (lseek(fd, 0, SEEK_SET) < 0)
		return -errno;
	return fd_above_stdio(TAKE_FD(fd));
}

/* A pipe whose read end (ours) is non-blocking and whose write end (the child's) blocks as a
 * child expects. Both are close-on-exec here; dup2 in the child clears it on 1 and 2. */
static int output_pipe(int *rd, int *wr)
{
	int p[2];

	if (pipe2(p, O_CLOEXEC) < 0)
		return -errno;
	p[0] = fd_above_stdio(p[0]);
	p[1] = fd_above_stdio(p[1]);
	if (p[0] < 0 || p[1] < 0 || fcntl(p[0], F_SETFL, O_NONBLOCK) < 0) {
		int e = p[0] < 0 ? p[0] : p[1] < 0 ? p[1] : -errno;
		closep(&p[0]);
		closep(&p[1]);
		return e;
	}
	*rd = p[0];
	*wr = p[1];
	return 0;
}

static bool env_overridden(const char *entry, const char *const *add)
{
	size_t n = strcspn(entry, "=");

	for (size_t i = 0; add && add[i]; i++)
		if (strncmp(add[i], entry, n) == 0 && add[i][n] == '=')
			return true;
	return false;
}

/* The daemon's environment with the job's additions; the pointers are borrowed from environ and
 * job->env, only the array is owned (and only when add is not NULL). */
static int env_merge(const char *const *add, char ***out)
{
	size_t n = strv_len((const char *const *)environ), m = strv_len(add), k = 0;

	if (!add) {
		*out = environ;
		return 0;
	}
	char **envp = calloc(n + m + 1, sizeof *envp);
	if (!envp)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++)
		if (!env_overridden(environ[i], add))
			envp[k++] = environ[i];
	for (size_t i = 0; i < m; i++)
		envp[k++] = (char *)add[i];
	*out = envp;
	return 0;
}

/* Reads what the pipe holds into b, at most max_reads times. Returns 1 when more may come, 0 at
 * EOF, -errno on a read error (treated like EOF by the callers: the stream is closed). */
static int pipe_read(int fd, struct buf *b, int max_reads)
{
	char scratch[16384];

	for (int i = 0; i < max_reads; i++) {
		ssize_t n = read(fd, scratch, sizeof scratch);
		if (n == 0)
			return 0;
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return errno == EAGAIN ? 1 : -errno;
		}
		if (buf_append(b, scratch, (size_t)n) < 0)
			b->truncated = true;    /* out of memory: keep reading so the child never blocks */
	}
	return 1;
}

static void stream_close(struct runner_handle *h, bool is_err)
{
	if (is_err) {
		h->err_src = sd_event_source_disable_unref(h->err_src);
		closep(&h->err_fd);
		h->err_fd = -1;
	} else {
		h->out_src = sd_event_source_disable_unref(h->out_src);
		closep(&h->out_fd);
		h->out_fd = -1;
	}
}

static int on_output(sd_event_source *s, int fd, uint32_t revents, void *userdata)
{
	struct runner_handle *h = userdata;
	bool is_err = fd == h->err_fd;

	if (pipe_read(fd, is_err ? &h->err : &h->out, READS_PER_DISPATCH) <= 0)
		stream_close(h, is_err);
	return 0;
}

static int on_child(sd_event_source *s, const siginfo_t *si, void *userdata)
{
	struct runner_handle *h = userdata;
	int exit_code = -1, sig = 0;

	if (si->si_code == CLD_EXITED)
		exit_code = si->si_status;
	else
		sig = si->si_status;
	/* sd-event reaps only after this returns: the zombie still holds the pid, so the group id
	 * cannot name anyone else yet. Whatever the job left in its group dies with it. */
	(void)kill(-h->pid, SIGKILL);
	/* The main process has exited, so everything it wrote is in the pipes now; take it without
	 * waiting for EOF, which a leftover holding the pipe could delay. */
	if (h->out_fd >= 0 && pipe_read(h->out_fd, &h->out, READS_PER_DRAIN) <= 0)
		stream_close(h, false);
	if (h->err_fd >= 0 && pipe_read(h->err_fd, &h->err, READS_PER_DRAIN) <= 0)
		stream_close(h, true);
	job_exited(h, exit_code, sig);
	return 0;
}

static void orphan_free(struct orphan *o)
{
	struct runner *r = o->runner;

	if (o->prev)
		o->prev->next = o->next;
	else
		r->orphans = o->next;
	if (o->next)
		o->next->prev = o->prev;
	sd_event_source_disable_unref(o->child);
	free(o->what);
	free(o);
}

static int on_orphan_exit(sd_event_source *s, const siginfo_t *si, void *userdata)
{
	struct orphan *o = userdata;
	char pid[32];

	(void)kill(-o->pid, SIGKILL);
	if (si->si_code == CLD_EXITED)
		runner_log(o->runner, LOG_WARNING, "'%s'%s, abandoned after SIGKILL, finally exited with status %d",
			   o->what, pid_text(o->pid, pid), si->si_status);
	else
		runner_log(o->runner, LOG_WARNING, "'%s'%s, abandoned after SIGKILL, finally ended (signal %s)",
			   o->what, pid_text(o->pid, pid), sig_name(si->si_status));
	orphan_free(o);
	return 0;
}

/*
 * The program a job names, as execve() needs it: argv[0] itself when it holds a '/', else the
 * first executable regular file of that name along the daemon's PATH, as execvp() would find
 * it. -ENOENT when there is none, -EACCES when one exists but may not be run.
 */
static int program_path(const char *name, char **out)
{
	const char *path = getenv("PATH");
	int e = -ENOENT;

	if (!*name)
		return -ENOENT;
	if (strchr(name, '/')) {
		if (access(name, X_OK) < 0)
			return -errno;
		*out = strdup(name);
		return *out ? 0 : -ENOMEM;
	}
	if (!path)
		path = "/bin:/usr/bin";
	for (const char *d = path;; d += strcspn(d, ":") + 1) {
		size_t len = strcspn(d, ":");
		_cleanup_free_ char *p = NULL;
		struct stat st;

		if (asprintf(&p, "%.*s%s%s", (int)len, len ? d : ".", "/", name) < 0)
			return -ENOMEM;
		if (access(p, X_OK) == 0) {
			if (stat(p, &st) == 0 && S_ISREG(st.st_mode)) {
				*out = TAKE_PTR(p);
				return 0;
			}
		} else if (errno == EACCES)
			e = -EACCES;
		if (!d[len])
			return e;
	}
}

/* Reaps pid whenever it ends, and says so; for a process no job reports any more. */
static void orphan_watch(struct runner *r, pid_t pid, const char *what)
{
	struct orphan *o = calloc(1, sizeof *o);
	char buf[32];

	if (o && (o->what = strdup(what)) && sd_event_add_child(r->event, &o->child, pid, WEXITED, on_orphan_exit, o) >= 0) {
		o->runner = r;
		o->pid = pid;
		o->next = r->orphans;
		if (r->orphans)
			r->orphans->prev = o;
		r->orphans = o;
		return;
	}
	if (o)
		free(o->what);
	free(o);
	runner_log(r, LOG_ERR, "'%s'%s: cannot keep watching it (out of memory); it stays a zombie when it ends", what,
		   pid_text(pid, buf));
}

/*
 * One child being started on a spawner thread. Owned by the worker pool from worker_submit()
 * until spawn_free(). s->h and h->spawn point at each other while both live; whichever goes
 * first clears the other's pointer (on the loop thread: done and free_arg run there, and after
 * runner_free() every handle is gone before the pool).
 */
struct spawn {
	struct runner_handle *h;            /* borrowed; NULL once the handle is gone */
	char *prog, *what;                  /* owned */
	char **argv, **envp;                /* owned copies: the job's are runner_start()'s only */
	int in, out_w, err_w;               /* owned: the child's stdin, stdout, stderr */
	pid_t pid;                          /* the child once spawned; 0 once the loop took it */
};

static void spawn_free(void *arg)
{
	struct spawn *s = arg;

	if (s->h)
		s->h->spawn = NULL;
	if (s->pid > 0) {
		/* A child nobody will watch: its result was dropped (runner_free) or came after the
		 * spawn's own deadline. */
		(void)kill(-s->pid, SIGKILL);
		(void)waitpid(s->pid, NULL, WNOHANG);
	}
	closep(&s->in);
	closep(&s->out_w);
	closep(&s->err_w);
	free(s->prog);
	free(s->what);
	strv_free(s->argv);
	strv_free(s->envp);
	free(s);
}

/*
 * On a spawner thread. The child: its own process group (so TERM/KILL reach everything it
 * starts), no blocked signals and every disposition default (the daemon blocks SIGCHLD and
 * friends and ignores SIGPIPE; a tool must not inherit that), stdin/stdout/stderr ours, every
 * other fd closed. posix_spawn makes it vfork-like (no copy of the daemon's page tables) and
 * returns once it has exec'd, with exec's error if it could not.
 */
static int spawn_run(void *arg)
{
	struct spawn *s = arg;
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t at;
	sigset_t none, all;
	pid_t pid = 0;
	int e;

	if (posix_spawn_file_actions_init(&fa) != 0)
		return -ENOMEM;
	if (posix_spawnattr_init(&at) != 0) {
		posix_spawn_file_actions_destroy(&fa);
		return -ENOMEM;
	}
	sigemptyset(&none);
	sigfillset(&all);
	e = posix_spawn_file_actions_adddup2(&fa, s->in, 0);
	if (!e)
		e = posix_spawn_file_actions_adddup2(&fa, s->out_w, 1);
	if (!e)
		e = posix_spawn_file_actions_adddup2(&fa, s->err_w, 2);
	if (!e)
		e = posix_spawn_file_actions_addclosefrom_np(&fa, 3);
	if (!e)
		e = posix_spawnattr_setflags(&at, POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
	if (!e)
		e = posix_spawnattr_setpgroup(&at, 0);
	if (!e)
		e = posix_spawnattr_setsigmask(&at, &none);
	if (!e)
		e = posix_spawnattr_setsigdefault(&at, &all);
	if (!e)
		e = posix_spawn(&pid, s->prog, &fa, &at, s->argv, s->envp);
	posix_spawnattr_destroy(&at);
	posix_spawn_file_actions_destroy(&fa);
	if (e)
		return -e;
	s->pid = pid;
	return 0;
}

/* A job whose child could not be made: it ends like a shell's failed command, 127 and why. */
static void spawn_failed(struct runner_handle *h, int err)
{
	char line[256];

	snprintf(line, sizeof line, "kvmcd: cannot start '%s': %s\n", h->what, strerror(-err));
	if (buf_append(&h->err, line, strlen(line)) < 0)
		h->err.truncated = true;
	job_exited(h, 127, 0);
}

/* On the loop: the spawn of s->h's child is over (arg NULL: past its own deadline, spawn_free
 * follows whenever the thread returns). */
static void on_spawned(int ret, void *arg, void *userdata)
{
	struct runner *r = userdata;
	struct spawn *s = arg;
	struct runner_handle *h;
	pid_t pid;
	int k;

	if (!s)
		return;
	h = s->h;
	if (h) {
		h->spawn = NULL;
		s->h = NULL;
	}
	if (s->pid <= 0) {
		if (h)
			spawn_failed(h, ret < 0 ? ret : -EIO);
		return;
	}
	pid = s->pid;
	s->pid = 0;
	if (!h) { /* reported meanwhile (abandoned while spawning, or cancelled and freed) */
		(void)kill(-pid, SIGKILL);
		orphan_watch(r, pid, s->what);
		return;
	}
	h->pid = pid;
	k = sd_event_add_child(r->event, &h->child, pid, WEXITED, on_child, h);
	if (k < 0) {
		/* Not watched, so nobody else will reap it: kill and reap here (a fresh child that was
		 * just sent SIGKILL dies at once). */
		(void)kill(-pid, SIGKILL);
		(void)waitpid(pid, NULL, 0);
		h->pid = 0;
		spawn_failed(h, k);
		return;
	}
	if (h->pending_sig)
		(void)kill(-pid, h->pending_sig);
}

/*
 * Starts h's child without holding the loop: what can fail at once (the program, the pipes)
 * fails here, the rest goes to a spawner thread (spawn_run) and comes back through on_spawned.
 * Not _Fork() on the loop: a fork copies the daemon's page tables (libvirt, libcurl and their
 * libraries mapped: 1-2 ms each, 30-76 ms on a loaded machine, 160-330 ms per kvmcd in a
 * 50-datastore bench/datastores.sh run, measured with the clone syscalls traced); nor
 * posix_spawn() on the loop, which holds it until the child has exec'd (10 ms to over 1 s per
 * child on a loaded machine). Until the child exists, a signal asked for is kept for it
 * (real_kill) and a job reported meanwhile leaves its child to be killed and reaped.
 */
static int real_start(struct runner *r, struct runner_handle *h, const struct runner_job *job)
{
	_cleanup_close_ int out_r = -1, err_r = -1;
	_cleanup_free_ char *prog = NULL;
	struct spawn *s;
	char **envp = NULL;
	int k;

	k = program_path(job->argv[0], &prog);
	if (k < 0)
		return k;
	if (!r->spawner) {
		k = worker_pool_new(r->event, SPAWN_THREADS, &r->spawner);
		if (k < 0)
			return k;
	}
	s = calloc(1, sizeof *s);
	if (!s)
		return -ENOMEM;
	s->out_w = s->err_w = -1;
	s->in = stdin_fd(job); /* a negative errno is closed by nobody: closep() skips it */
	k = s->in < 0 ? s->in : output_pipe(&out_r, &s->out_w);
	if (k >= 0)
		k = output_pipe(&err_r, &s->err_w);
	if (k >= 0)
		k = env_merge(job->env, &envp);
	if (k >= 0) {
		s->envp = strv_copy((const char *const *)envp);
		if (envp != environ)
			free(envp);
		s->argv = strv_copy(job->argv);
		s->prog = TAKE_PTR(prog);
		s->what = strdup(h->what);
		k = s->envp && s->argv && s->what ? 0 : -ENOMEM;
	}
	if (k >= 0)
		k = sd_event_add_io(r->event, &h->out_src, out_r, EPOLLIN, on_output, h);
	if (k >= 0)
		k = sd_event_add_io(r->event, &h->err_src, err_r, EPOLLIN, on_output, h);
	if (k >= 0)
		/* the spawn's own deadline only bounds a thread that never returns: the job's
		 * (deadline + grace + abandon wait) reports it first */
		k = worker_submit(r->spawner, spawn_run, s, spawn_free, on_spawned, r,
				  2 * h->timeout_usec + 20 * USEC_PER_SEC);
	if (k < 0) {
		h->out_src = sd_event_source_disable_unref(h->out_src);
		h->err_src = sd_event_source_disable_unref(h->err_src);
		spawn_free(s);
		return k;
	}
	s->h = h;
	h->spawn = s;
	h->out_fd = TAKE_FD(out_r);
	h->err_fd = TAKE_FD(err_r);
	return 0;
}

static void real_kill(struct runner_handle *h, int sig)
{
	if (h->pid > 0)
		(void)kill(-h->pid, sig);
	else if (h->spawn && h->pending_sig != SIGKILL)
		h->pending_sig = sig; /* sent by on_spawned once the child exists */
}

static void real_abandon(struct runner *r, struct runner_handle *h)
{
	/* Still being spawned: on_spawned kills and watches the child once it exists. */
	if (h->pid <= 0)
		return;
	/* The pidfd watch is re-made for the orphan (sd-event keys child sources by pid). */
	h->child = sd_event_source_disable_unref(h->child);
	orphan_watch(r, h->pid, h->what);
}

static void real_release(struct runner_handle *h)
{
	if (h->spawn) {
		h->spawn->h = NULL;
		h->spawn = NULL;
	}
	h->child = sd_event_source_disable_unref(h->child);
	if (h->out_fd >= 0 || h->out_src)
		stream_close(h, false);
	if (h->err_fd >= 0 || h->err_src)
		stream_close(h, true);
}

/* Blocks until every fd in p is readable (the pidfd of a process that ended) or timeout passes. */
static void wait_pidfds(struct pollfd *p, size_t n, uint64_t timeout_usec)
{
	uint64_t deadline = now_usec() + timeout_usec;

	for (;;) {
		size_t open = 0;
		for (size_t i = 0; i < n; i++)
			open += p[i].fd >= 0;
		uint64_t now = now_usec();
		if (open == 0 || now >= deadline)
			return;
		int k = poll(p, n, (int)((deadline - now + USEC_PER_MSEC - 1) / USEC_PER_MSEC));
		if (k < 0 && errno != EINTR)
			return;
		for (size_t i = 0; i < n; i++)
			if (p[i].fd >= 0 && p[i].revents)
				p[i].fd = -1;   /* poll() ignores negative fds */
	}
}

static void real_shutdown(struct runner *r)
{
	size_t n = r->n_running, i = 0;
	_cleanup_free_ struct pollfd *p = calloc(n ? n : 1, sizeof *p);
	char pid[32];

	for (struct runner_handle *h = r->jobs; h; h = h->next, i++) {
		real_kill(h, SIGTERM);
		if (p)
			p[i] = (struct pollfd){ .fd = h->child ? sd_event_source_get_child_pidfd(h->child) : -1,
						.events = POLLIN };
	}
	if (p)
		wait_pidfds(p, n, r->cfg.shutdown_wait_usec);
	/* Every group gets SIGKILL, also those whose main process ended on SIGTERM: that kills what
	 * they left behind. Safe, since none is reaped yet: the zombies still hold the group ids. */
	for (struct runner_handle *h = r->jobs; h; h = h->next)
		real_kill(h, SIGKILL);
	if (p)
		wait_pidfds(p, n, r->cfg.shutdown_wait_usec);
	for (struct runner_handle *h = r->jobs; h; h = h->next) {
		siginfo_t si = { 0 };
		if (h->pid <= 0)
			continue;
		/* Reap what died; the pidfd sources are then dropped without reaping. */
		if (waitid(P_PID, (id_t)h->pid, &si, WEXITED | WNOHANG) < 0 || si.si_pid == 0)
			runner_log(r, LOG_ERR, "'%s'%s is still alive after SIGTERM and SIGKILL at shutdown", h->what,
				   pid_text(h->pid, pid));
	}
	while (r->orphans) {
		struct orphan *o = r->orphans;
		siginfo_t si = { 0 };

		(void)kill(-o->pid, SIGKILL);
		(void)waitid(P_PID, (id_t)o->pid, &si, WEXITED | WNOHANG);
		orphan_free(o);
	}
}

static const struct runner_backend real_backend = {
	.start = real_start,
	.kill = real_kill,
	.abandon = real_abandon,
	.release = real_release,
	.shutdown = real_shutdown,
	.kill_wait_min_usec = 1 * USEC_PER_SEC,
};

/* ---- capture backend ------------------------------------------------------------------------- */

static bool prefix_matches(const struct canned *c, const char *const *argv)
{
	for (size_t i = 0; i < c->prefix_len; i++) {
		if (!argv[i])
			return false;
		if (i == 0 && !strchr(c->prefix[0], '/')) {
			const char *slash = strrchr(argv[0], '/');
			if (strcmp(slash ? slash + 1 : argv[0], c->prefix[0]) != 0)
				return false;
		} else if (strcmp(argv[i], c->prefix[i]) != 0)
			return false;
	}
	return true;
}

static struct canned *canned_find(struct runner *r, const char *const *argv)
{
	struct canned *best = NULL;

	for (size_t i = 0; i < r->n_canned; i++) {
		struct canned *c = &r->canned[i];
		if (c->c.uses && c->used >= c->c.uses)
			continue;
		if (prefix_matches(c, argv) && (!best || c->prefix_len > best->prefix_len))
			best = c;
	}
	return best;
}

static int on_fake_end(sd_event_source *s, uint64_t usec, void *userdata)
{
	struct runner_handle *h = userdata;

	job_exited(h, h->fake_exit_code, h->fake_signal);
	return 0;
}

static int record_call(struct runner *r, const struct runner_job *job, const char *what)
{
	struct runner_call *calls = reallocarray(r->calls, r->n_calls + 1, sizeof *calls);
	struct runner_call c = { .stdin_len = job->stdin_len, .timeout_usec = job->timeout_usec };

	if (!calls)
		return -ENOMEM;
	r->calls = calls;
	c.argv = strv_copy(job->argv);
	c.env = strv_copy(job->env);
	c.stdin_data = malloc(job->stdin_len + 1);
	c.what = strdup(what);
	if (!c.argv || !c.env || !c.stdin_data || !c.what) {
		strv_free(c.argv);
		strv_free(c.env);
		free(c.stdin_data);
		free(c.what);
		return -ENOMEM;
	}
	if (job->stdin_len)
		memcpy(c.stdin_data, job->stdin_data, job->stdin_len);
	c.stdin_data[job->stdin_len] = '\0';
	r->calls[r->n_calls++] = c;
	return 0;
}

static int capture_start(struct runner *r, struct runner_handle *h, const struct runner_job *job)
{
	struct canned *c = canned_find(r, job->argv);
	_cleanup_free_ char *line = NULL;
	int k;

	if (!c && !(line = argv_line((char *const *)job->argv)))
		return -ENOMEM;
	k = record_call(r, job, h->what);
	if (k < 0)
		return k;
	if (c) {
		h->fake_mode = c->c.mode;
		h->fake_exit_code = c->c.signal > 0 ? -1 : c->c.exit_code;
		h->fake_signal = c->c.signal > 0 ? c->c.signal : 0;
		k = buf_append(&h->out, c->c.out, strlen(c->c.out));
		if (k >= 0)
			k = buf_append(&h->err, c->c.err, strlen(c->c.err));
	} else {
		/* Like a shell's "command not found", so the code under test sees a failure. */
		h->fake_mode = RUNNER_CANNED_EXIT;
		h->fake_exit_code = 127;
		static const char msg[] = "runner capture: no canned result for: ";
		k = buf_append(&h->err, msg, strlen(msg));
		if (k >= 0)
			k = buf_append(&h->err, line, strlen(line));
		if (k >= 0)
			k = buf_append(&h->err, "\n", 1);
	}
	if (k >= 0 && h->fake_mode == RUNNER_CANNED_EXIT)
		k = sd_event_add_time(r->event, &h->fake_end, CLOCK_MONOTONIC, now_usec() + (c ? c->c.delay_usec : 0),
				      1, on_fake_end, h);
	if (k < 0) {
		struct runner_call *last = &r->calls[--r->n_calls];
		strv_free(last->argv);
		strv_free(last->env);
		free(last->stdin_data);
		free(last->what);
		return k;
	}
	if (c)
		c->used++;
	else {
		r->unmatched++;
		runner_log(r, LOG_ERR, "runner capture: no canned result for: %s", line);
	}
	return 0;
}

static void capture_kill(struct runner_handle *h, int sig)
{
	bool dies;

	switch (h->fake_mode) {
	case RUNNER_CANNED_EXIT:
	case RUNNER_CANNED_HANG:
		dies = true;
		break;
	case RUNNER_CANNED_HANG_IGNORE_TERM:
		dies = sig == SIGKILL;
		break;
	default:
		dies = false;
		break;
	}
	if (!dies)
		return;
	/* A signal ends the fake process on the next loop iteration, like a real one's exit. */
	h->fake_mode = RUNNER_CANNED_EXIT;
	h->fake_exit_code = -1;
	h->fake_signal = sig;
	if (h->fake_end) {
		if (sd_event_source_set_time(h->fake_end, now_usec()) >= 0 &&
		    sd_event_source_set_enabled(h->fake_end, SD_EVENT_ONESHOT) >= 0)
			return;
		h->fake_end = sd_event_source_disable_unref(h->fake_end);
	}
	/* On failure the job goes on to the abandon step, as a real unkillable one would. */
	(void)sd_event_add_time(h->runner->event, &h->fake_end, CLOCK_MONOTONIC, now_usec(), 1, on_fake_end, h);
}

static void capture_abandon(struct runner *r, struct runner_handle *h)
{
}

static void capture_release(struct runner_handle *h)
{
	h->fake_end = sd_event_source_disable_unref(h->fake_end);
}

static void capture_shutdown(struct runner *r)
{
}

static const struct runner_backend capture_backend = {
	.start = capture_start,
	.kill = capture_kill,
	.abandon = capture_abandon,
	.release = capture_release,
	.shutdown = capture_shutdown,
	.kill_wait_min_usec = 0,   /* a fake process dies on the next iteration or never */
};

/* ---- public API ------------------------------------------------------------------------------ */

static int runner_alloc(sd_event *ev, const struct runner_config *cfg, const struct runner_backend *b,
			struct runner **out)
{
	struct runner *r;

	if (!ev || !out)
		return -EINVAL;
	r = calloc(1, sizeof *r);
	if (!r)
		return -ENOMEM;
	r->event = sd_event_ref(ev);
	if (cfg)
		r->cfg = *cfg;
	if (!r->cfg.shutdown_wait_usec)
		r->cfg.shutdown_wait_usec = SHUTDOWN_WAIT_USEC;
	r->backend = b;
	*out = r;
	return 0;
}

int runner_new(sd_event *ev, const struct runner_config *cfg, struct runner **out)
{
	sigset_t mask;

	/* sd_event_add_child() insists on it; say so now rather than at the first job. */
	if (pthread_sigmask(SIG_SETMASK, NULL, &mask) != 0 || !sigismember(&mask, SIGCHLD))
		return -EBUSY;
	return runner_alloc(ev, cfg, &real_backend, out);
}

int runner_new_capture(sd_event *ev, const struct runner_config *cfg, struct runner **out)
{
	return runner_alloc(ev, cfg, &capture_backend, out);
}

void runner_free(struct runner *r)
{
	if (!r)
		return;
	r->backend->shutdown(r);
	while (r->jobs) {
		struct runner_handle *h = r->jobs;
		job_unlink(r, h);
		r->backend->release(h);
		handle_free(h);
	}
	/* After the handles: a spawn still in flight then has nobody to tell, and spawn_free kills
	 * its child. */
	worker_pool_free(r->spawner);
	for (size_t i = 0; i < r->n_canned; i++) {
		strv_free(r->canned[i].prefix);
		free((char *)r->canned[i].c.out);
		free((char *)r->canned[i].c.err);
	}
	free(r->canned);
	runner_capture_reset(r);
	sd_event_unref(r->event);
	free(r);
}

static int job_check(const struct runner_job *job)
{
	if (!job || !job->argv || !job->argv[0] || !job->argv[0][0] || job->timeout_usec == 0)
		return -EINVAL;
	/* Absolute, or a bare name for PATH: "bin/x" would depend on the daemon's cwd. */
	if (job->argv[0][0] != '/' && strchr(job->argv[0], '/'))
		return -EINVAL;
	for (size_t i = 0; job->env && job->env[i]; i++) {
		const char *eq = strchr(job->env[i], '=');
		if (!eq || eq == job->env[i])
			return -EINVAL;
	}
	if (job->stdin_len && !job->stdin_data)
		return -EINVAL;
	return 0;
}

int runner_start(struct runner *r, const struct runner_job *job, runner_done_fn done, void *userdata,
		 struct runner_handle **out)
{
	struct runner_handle *h;
	int k;

	if (!r || !done)
		return -EINVAL;
	k = job_check(job);
	if (k < 0)
		return k;
	h = calloc(1, sizeof *h);
	if (!h)
		return -ENOMEM;
	h->runner = r;
	h->done = done;
	h->userdata = userdata;
	h->timeout_usec = job->timeout_usec;
	h->grace_usec = grace_for(job->timeout_usec);
	h->out.max = h->err.max = job->max_output ? job->max_output : RUNNER_DEFAULT_MAX_OUTPUT;
	h->out_fd = h->err_fd = -1;
	h->what = strdup(job->what ? job->what : job->argv[0]);
	/* Allocated now so that reporting the job later cannot fail for lack of memory. */
	h->out.data = calloc(1, 1);
	h->err.data = calloc(1, 1);
	if (!h->what || !h->out.data || !h->err.data) {
		handle_free(h);
		return -ENOMEM;
	}
	/* The timer exists before the process, so nothing can fail after the process exists but
	 * inside the backend, which cleans up after itself. */
	h->start_usec = now_usec();
	k = sd_event_add_time(r->event, &h->timer, CLOCK_MONOTONIC, h->start_usec + job->timeout_usec,
			      TIMER_ACCURACY_USEC, on_timer, h);
	if (k < 0) {
		handle_free(h);
		return k;
	}
	k = r->backend->start(r, h, job);
	if (k < 0) {
		r->backend->release(h);
		handle_free(h);
		return k;
	}
	h->next = r->jobs;
	if (r->jobs)
		r->jobs->prev = h;
	r->jobs = h;
	r->n_running++;

	if (r->cfg.log) {
		_cleanup_free_ char *line = argv_line((char *const *)job->argv);
		char pid[32], deadline[32];

		runner_log(r, LOG_DEBUG, "Started '%s'%s, deadline %s: %s", h->what, pid_text(h->pid, pid),
			   fmt_usec(h->timeout_usec, deadline), line ? line : job->argv[0]);
	}
	if (out)
		*out = h;
	return 0;
}

void runner_cancel(struct runner_handle *h)
{
	if (!h || h->reported)
		return;
	h->cancelled = true;
	if (h->phase != PHASE_RUNNING)
		return;
	if (escalate_term(h) < 0) {
		/* No timer for the grace: go straight to SIGKILL; the exit still reports the job (only
		 * a process stuck in the kernel would now never be reported). */
		h->runner->backend->kill(h, SIGKILL);
		h->phase = PHASE_KILL_SENT;
	}
}

size_t runner_running(const struct runner *r)
{
	return r ? r->n_running : 0;
}

bool runner_result_ok(const struct runner_result *res)
{
	return res && res->exit_code == 0 && !res->timed_out && !res->cancelled && !res->abandoned;
}

const char *runner_result_describe(const struct runner_result *res, char *buf, size_t size)
{
	char how[64], deadline[32];

	if (!buf || size == 0)
		return "";
	if (res->abandoned)
		snprintf(how, sizeof how, "still alive after SIGKILL (abandoned)");
	else if (res->signal)
		snprintf(how, sizeof how, "killed by signal %s", sig_name(res->signal));
	else
		snprintf(how, sizeof how, "exited with status %d", res->exit_code);

	if (res->timed_out)
		snprintf(buf, size, "timed out after %s%s%s%s", fmt_usec(res->timeout_usec, deadline),
			 res->abandoned ? "; " : " (", how, res->abandoned ? "" : ")");
	else if (res->cancelled)
		snprintf(buf, size, "cancelled%s%s%s", res->abandoned ? "; " : " (", how, res->abandoned ? "" : ")");
	else
		snprintf(buf, size, "%s", how);
	return buf;
}

/* ---- capture API ----------------------------------------------------------------------------- */

int runner_capture_add(struct runner *r, const char *const *argv_prefix, const struct runner_canned *canned)
{
	struct canned c = { 0 };

	if (!r || r->backend != &capture_backend || !argv_prefix || !argv_prefix[0] || !canned ||
	    canned->mode > RUNNER_CANNED_HANG_UNKILLABLE || canned->exit_code < 0 || canned->exit_code > 255 ||
	    canned->signal < 0)
		return -EINVAL;
	struct canned *arr = reallocarray(r->canned, r->n_canned + 1, sizeof *arr);
	if (!arr)
		return -ENOMEM;
	r->canned = arr;
	c.c = *canned;
	c.prefix = strv_copy(argv_prefix);
	c.prefix_len = strv_len(argv_prefix);
	c.c.out = strdup(canned->out ? canned->out : "");
	c.c.err = strdup(canned->err ? canned->err : "");
	if (!c.prefix || !c.c.out || !c.c.err) {
		strv_free(c.prefix);
		free((char *)c.c.out);
		free((char *)c.c.err);
		return -ENOMEM;
	}
	r->canned[r->n_canned++] = c;
	return 0;
}

size_t runner_capture_count(const struct runner *r)
{
	return r ? r->n_calls : 0;
}

const struct runner_call *runner_capture_call(const struct runner *r, size_t i)
{
	return r && i < r->n_calls ? &r->calls[i] : NULL;
}

size_t runner_capture_unmatched(const struct runner *r)
{
	return r ? r->unmatched : 0;
}

int runner_capture_format(const struct runner *r, char **out)
{
	char *text = NULL;
	size_t size;
	FILE *f;

	if (!r || !out || r->backend != &capture_backend)
		return -EINVAL;
	f = open_memstream(&text, &size);
	if (!f)
		return -ENOMEM;
	for (size_t i = 0; i < r->n_calls; i++) {
		fput_argv(f, r->calls[i].argv);
		fputc('\n', f);
	}
	if (fclose(f) != 0) {
		free(text);
		return -ENOMEM;
	}
	*out = text;
	return 0;
}

void runner_capture_reset(struct runner *r)
{
	if (!r)
		return;
	for (size_t i = 0; i < r->n_calls; i++) {
		strv_free(r->calls[i].argv);
		strv_free(r->calls[i].env);
		free(r->calls[i].stdin_data);
		free(r->calls[i].what);
	}
	free(r->calls);
	r->calls = NULL;
	r->n_calls = 0;
	r->unmatched = 0;
}
