/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * fencing/agent.c, the "agent" fence method, with real children: a fake agent speaking
 * fence-agents' stdin protocol (tests/fence-fixtures/fake-fence-agent) and, when the
 * fence-agents package is installed, its real fence_dummy. What an admin would check: a node is
 * confirmed fenced only when `status` says OFF after `off`; still on, an error, an answer that
 * contradicts itself or a hung agent are failures with the agent's reason; the hung agent is
 * killed by the deadline; the password reaches the agent on stdin and nowhere else (not its
 * command line, not its environment, not a log line, not the outcome, not even when the agent
 * echoes it); bad parameters and badly protected secret files are refused naming the problem.
 * About 5 s.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <sys/stat.h>
#include <syslog.h>
#include <time.h>

#include "fencing/agent.h"
#include "fencing/fence.h"
#include "macros.h"
#include "runner.h"
#include "tap.h"
#include "timeouts.h"

#define MSEC USEC_PER_MSEC
#define SEC USEC_PER_SEC
#define PASSWORD "s3cret-PW-only-on-stdin"
#define CRED_SECRET "cred-secret-value-77"

static sd_event *ev;
static struct runner *runner;
static struct timeouts timeouts;
static char dir[64];
static char fake[4096];

/* Every log line, to look for the secrets in. */
static char logbuf[64 * 1024];
static size_t loglen;

static void collect_log(void *userdata, int level, const char *text)
{
	int n = snprintf(logbuf + loglen, sizeof logbuf - loglen, "%d %s\n", level, text);
	if (n > 0 && (size_t)n < sizeof logbuf - loglen)
		loglen += (size_t)n;
	if (getenv("FENCE_TEST_VERBOSE"))
		printf("# log %d: %s\n", level, text);
}

static uint64_t now_usec(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * SEC + (uint64_t)ts.tv_nsec / 1000;
}

struct got {
	unsigned calls;
	enum fence_outcome_kind kind;
	char text[1024];
	uint64_t at;
};

static void on_done(void *userdata, const struct fence_outcome *o)
{
	struct got *g = userdata;

	g->calls++;
	g->kind = o->kind;
	snprintf(g->text, sizeof g->text, "%s", o->text ? o->text : "");
	g->at = now_usec();
}

static void run_until(const unsigned *count, unsigned want, uint64_t max_usec)
{
	uint64_t end = now_usec() + max_usec;

	while (*count < want && now_usec() < end)
		sd_event_run(ev, 50 * MSEC);
}

/* Keeps the loop running for a while (late callbacks would show). */
static void run_for(uint64_t usec)
{
	uint64_t end = now_usec() + usec;

	while (now_usec() < end)
		sd_event_run(ev, end - now_usec());
}

static char *slurp(const char *name)
{
	char path[256], *buf;
	FILE *f;
	size_t n;

	snprintf(path, sizeof path, "%s/%s", dir, name);
	f = fopen(path, "r");
	if (!f)
		return strdup("");
	buf = calloc(1, 65536);
	n = fread(buf, 1, 65535, f);
	buf[n] = '\0';
	fclose(f);
	return buf;
}

static void write_file(const char *name, const char *content, mode_t mode)
{
	char path[256];
	int fd;

	snprintf(path, sizeof path, "%s/%s", dir, name);
	unlink(path);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	if (fd < 0 || write(fd, content, strlen(content)) != (ssize_t)strlen(content)) {
		perror(path);
		exit(1);
	}
	fchmod(fd, mode);
	close(fd);
}

static pid_t read_pid(const char *name)
{
	_cleanup_free_ char *s = slurp(name);
	return (pid_t)atoi(s);
}

static bool pid_gone(pid_t pid)
{
	char path[64], state = 0;
	FILE *f;

	if (pid <= 0)
		return false;
	if (kill(pid, 0) < 0 && errno == ESRCH)
		return true;
	/* a zombie of ours is gone for this purpose */
	snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
	f = fopen(path, "r");
	if (!f)
		return true;
	if (fscanf(f, "%*d %*s %c", &state) != 1)
		state = 0;
	fclose(f);
	return state == 'Z';
}

static bool wait_gone(pid_t pid, uint64_t max_usec)
{
	uint64_t end = now_usec() + max_usec;

	while (!pid_gone(pid) && now_usec() < end)
		sd_event_run(ev, 20 * MSEC);
	return pid_gone(pid);
}

/* The fake agent's parameters for mode; with the password file (and a credentials file). */
static struct fence_ctx ctx;

static void run_fake(const char *mode, uint64_t window, struct got *g)
{
	char state[128], pwfile[128], credfile[128];
	struct fence_param params[] = {
		{ "agent", fake }, { "ip", "192.0.2.12" }, { "mode", mode }, { "state_dir", state },
		{ "password_file", pwfile }, { "credentials_file", credfile },
	};
	struct fence_target t = { .node = "n2", .params = params, .n_params = ARRAY_SIZE(params) };
	struct fence_handle *h = NULL;
	_cleanup_free_ char *error = NULL;
	int r;

	snprintf(state, sizeof state, "%s", dir);
	snprintf(pwfile, sizeof pwfile, "%s/pw", dir);
	snprintf(credfile, sizeof credfile, "%s/cred", dir);
	*g = (struct got){ 0 };
	/* What an earlier run recorded must not pass for this one's. */
	for (size_t i = 0; i < 10; i++) {
		static const char *const rec[] = { "stdin", "cmdline", "environ", "pid", "child" };
		char path[256];
		snprintf(path, sizeof path, "%s/%s.%s", dir, rec[i / 2], i % 2 ? "status" : "off");
		unlink(path);
	}
	r = fence_agent_ops.start(&ctx, &t, now_usec() + window, on_done, g, &h, &error);
	CHECK(r == 0, "%s: start: %d %s", mode, r, error ? error : "");
	if (r < 0)
		return;
	CHECK(g->calls == 0, "%s: no callback from inside start", mode);
	run_until(&g->calls, 1, window + 5 * SEC);
	CHECK(g->calls == 1, "%s: one callback (%u)", mode, g->calls);
}

static void no_secret_anywhere(const char *what, const char *text)
{
	CHECK(!strstr(text, PASSWORD), "%s: holds the password: %s", what, text);
	CHECK(!strstr(text, CRED_SECRET), "%s: holds the credentials file's secret: %s", what, text);
}

static void test_confirmed(void)
{
	struct got g;
	_cleanup_free_ char *in_off = NULL, *in_status = NULL, *cmd = NULL, *env = NULL;

	run_fake("ok", 10 * SEC, &g);
	CHECK(g.kind == FENCE_OUTCOME_CONFIRMED, "ok: confirmed, got %s: %s", fence_outcome_name(g.kind), g.text);
	CHECK(strstr(g.text, "power status: off") && strstr(g.text, "Status: OFF") &&
	      strstr(g.text, "Success: Powered OFF"), "ok: the evidence: %s", g.text);
	/* What the agent was given: the protocol on stdin, the secrets there and only there. */
	in_off = slurp("stdin.off");
	in_status = slurp("stdin.status");
	CHECK(strncmp(in_off, "action=off\n", 11) == 0, "off's stdin starts with action=off: %s", in_off);
	CHECK(strncmp(in_status, "action=status\n", 14) == 0, "status's stdin: %s", in_status);
	CHECK(strstr(in_off, "\nnodename=n2\n") && strstr(in_off, "\nip=192.0.2.12\n") &&
	      strstr(in_off, "\nusername=admin-user\n") && strstr(in_off, "\npassword=" PASSWORD "\n") &&
	      strstr(in_off, "\nsecret_key=" CRED_SECRET "\n"), "the parameters on stdin: %s", in_off);
	CHECK(!strstr(in_off, "password_file") && !strstr(in_off, "credentials_file") && !strstr(in_off, "agent="),
	      "kvmcd's own keys are not passed: %s", in_off);
	cmd = slurp("cmdline.off");
	env = slurp("environ.off");
	CHECK(strstr(cmd, "fake-fence-agent") != NULL, "the command line was recorded: %s", cmd);
	no_secret_anywhere("the agent's command line (/proc/PID/cmdline)", cmd);
	no_secret_anywhere("the agent's environment", env);
	CHECK(strstr(env, "LC_ALL=C") != NULL, "the agent runs with LC_ALL=C");
}

static void test_failures(void)
{
	struct got g;
	uint64_t t0;
	pid_t pid, child;

	run_fake("still-on", 10 * SEC, &g);
	CHECK(g.kind == FENCE_OUTCOME_FAILED && strstr(g.text, "still on") && strstr(g.text, "Status: ON"),
	      "still on after off: failed, got %s: %s", fence_outcome_name(g.kind), g.text);

	run_fake("off-fails", 10 * SEC, &g);
	CHECK(g.kind == FENCE_OUTCOME_FAILED &&
	      strstr(g.text, "off: exited with status 1: Failed: Unable to connect/login to fencing device"),
	      "off fails: the agent's reason, got %s: %s", fence_outcome_name(g.kind), g.text);
	{
		_cleanup_free_ char *st = slurp("stdin.status");
		CHECK(st[0] == '\0', "no status after a failed off: %s", st);
	}

	run_fake("status-no-line", 10 * SEC, &g);
	CHECK(g.kind == FENCE_OUTCOME_FAILED && strstr(g.text, "unreadable answer") &&
	      strstr(g.text, "without a 'Status: OFF' line"), "exit 2 alone is not trusted: %s", g.text);

	run_fake("status-contra", 10 * SEC, &g);
	CHECK(g.kind == FENCE_OUTCOME_FAILED && strstr(g.text, "unreadable answer"),
	      "Status: OFF with exit 0 contradicts itself: %s", g.text);

	run_fake("echo-password", 10 * SEC, &g);
	CHECK(g.kind == FENCE_OUTCOME_FAILED && strstr(g.text, "Failed: bad input"), "echo: %s", g.text);
	no_secret_anywhere("the outcome of an agent that echoes its input", g.text);

	/* A hung off: the runner stops it at deadline - kill grace, the attempt ends by the deadline. */
	t0 = now_usec();
	run_fake("hang-off", 1500 * MSEC, &g);
	CHECK(g.kind == FENCE_OUTCOME_TIMED_OUT, "hang: timed out, got %s: %s", fence_outcome_name(g.kind), g.text);
	CHECK(g.at - t0 >= 1100 * MSEC && g.at - t0 <= 1500 * MSEC + 300 * MSEC,
	      "hang: reported at the deadline (%llu ms after the start)", (unsigned long long)((g.at - t0) / MSEC));
	pid = read_pid("pid.off");
	child = read_pid("child.off");
	CHECK(wait_gone(pid, 2 * SEC), "hang: the agent (pid %d) was killed", (int)pid);
	CHECK(wait_gone(child, 2 * SEC), "hang: the agent's own child (pid %d) was killed too", (int)child);

	/* A status that ignores SIGTERM: KILLed; the report comes by the deadline all the same. */
	t0 = now_usec();
	run_fake("hang-status-kill", 2000 * MSEC, &g);
	CHECK(g.kind == FENCE_OUTCOME_TIMED_OUT && strstr(g.text, "status"),
	      "status ignoring TERM: timed out, got %s: %s", fence_outcome_name(g.kind), g.text);
	CHECK(g.at - t0 <= 2000 * MSEC + 300 * MSEC, "reported by the deadline (%llu ms)",
	      (unsigned long long)((g.at - t0) / MSEC));
	pid = read_pid("pid.status");
	CHECK(wait_gone(pid, 8 * SEC), "the TERM-ignoring agent (pid %d) was killed", (int)pid);
}

static void test_cancel(void)
{
	char state[128], pwfile[128], credfile[128];
	struct fence_param params[] = {
		{ "agent", fake }, { "mode", "hang-off" }, { "state_dir", state }, { "password_file", pwfile },
	};
	struct fence_target t = { .node = "n3", .params = params, .n_params = ARRAY_SIZE(params) };
	struct fence_handle *h = NULL;
	struct got g = { 0 };
	pid_t pid;

	snprintf(state, sizeof state, "%s", dir);
	snprintf(pwfile, sizeof pwfile, "%s/pw", dir);
	snprintf(credfile, sizeof credfile, "%s/cred", dir);
	unlink(strcat(strcpy((char[160]){ 0 }, dir), "/pid.off"));
	if (fence_agent_ops.start(&ctx, &t, now_usec() + 10 * SEC, on_done, &g, &h, NULL) != 0) {
		CHECK(false, "cancel: start");
		return;
	}
	/* Let it start and record its pid. */
	for (uint64_t end = now_usec() + 3 * SEC; read_pid("pid.off") <= 0 && now_usec() < end;)
		sd_event_run(ev, 20 * MSEC);
	pid = read_pid("pid.off");
	fence_agent_ops.cancel(h);
	CHECK(wait_gone(pid, 3 * SEC), "cancel: the agent (pid %d) is killed", (int)pid);
	run_for(300 * MSEC);
	CHECK(g.calls == 0, "cancel: no callback after cancel (%u)", g.calls);
}

static int load(const struct fence_param *params, size_t n, char **error)
{
	struct fence_target t = { .node = "n2", .params = params, .n_params = n };
	struct fence_agent_params p;
	int r;

	free(*error);
	*error = NULL;
	r = fence_agent_params_load(&t, &p, error);
	if (r >= 0)
		fence_agent_params_done(&p);
	return r;
}

static void test_params(void)
{
	char pw[128], cred[128], badpw[128], linkpw[128], badcred[128], badagent[128];
	_cleanup_free_ char *error = NULL;
	int r;

	snprintf(pw, sizeof pw, "%s/pw", dir);
	snprintf(cred, sizeof cred, "%s/cred", dir);
	snprintf(badpw, sizeof badpw, "%s/pw-0644", dir);
	snprintf(linkpw, sizeof linkpw, "%s/pw-link", dir);
	snprintf(badcred, sizeof badcred, "%s/cred-bad", dir);
	snprintf(badagent, sizeof badagent, "%s/agent-0777", dir);
	write_file("pw-0644", PASSWORD "\n", 0644);
	write_file("cred-bad", "username=x\n\nthis line has no equals sign " CRED_SECRET "\n", 0600);
	write_file("agent-0777", "#!/bin/sh\nexit 0\n", 0777);
	unlink(linkpw);
	CHECK(symlink(pw, linkpw) == 0, "symlink");

#define PARAMS(...) ((const struct fence_param[]){ __VA_ARGS__ }), \
		    ARRAY_SIZE(((const struct fence_param[]){ __VA_ARGS__ }))
	r = load(PARAMS({ "agent", fake }, { "ip", "192.0.2.1" }, { "password_file", pw }), &error);
	CHECK(r == 0, "good parameters load: %s", error ? error : "");

	r = load(PARAMS({ "ip", "192.0.2.1" }), &error);
	CHECK(r == -EINVAL && error && strstr(error, "n2") && strstr(error, "agent is not set"), "no agent: %s", error);

	r = load(PARAMS({ "agent", fake }, { "password", PASSWORD }), &error);
	CHECK(r == -EINVAL && strstr(error, "password: refused") && strstr(error, "password_file"),
	      "a password in the config is refused: %s", error);
	no_secret_anywhere("the refusal of a password in the config", error);

	r = load(PARAMS({ "agent", fake }, { "passwd", "x" }), &error);
	CHECK(r == -EINVAL && strstr(error, "passwd: refused"), "passwd too: %s", error);

	r = load(PARAMS({ "agent", fake }, { "action", "reboot" }), &error);
	CHECK(r == -EINVAL && strstr(error, "kvmcd decides the action"), "action refused: %s", error);

	r = load(PARAMS({ "agent", fake }, { "ip", "a" }, { "IP", "b" }), &error);
	CHECK(r == -EINVAL && strstr(error, "set twice"), "a key twice: %s", error);

	r = load(PARAMS({ "agent", fake }, { "ip", "a\naction=on" }), &error);
	CHECK(r == -EINVAL && strstr(error, "ip: the value has a control character"),
	      "a newline cannot smuggle a line: %s", error);

	r = load(PARAMS({ "agent", fake }, { "bad key", "a" }), &error);
	CHECK(r == -EINVAL && strstr(error, "not a key name"), "key syntax: %s", error);

	r = load(PARAMS({ "agent", fake }, { "password_file", badpw }), &error);
	CHECK(r == -EPERM && strstr(error, "mode 0644") && strstr(error, "chmod 600"), "a readable password file: %s",
	      error);
	no_secret_anywhere("the refusal of a readable password file", error);

	r = load(PARAMS({ "agent", fake }, { "password_file", linkpw }), &error);
	CHECK(r == -EPERM && strstr(error, "symbolic link"), "a symlink: %s", error);

	r = load(PARAMS({ "agent", fake }, { "password_file", "/nonexistent/pw" }), &error);
	CHECK(r == -ENOENT && strstr(error, "/nonexistent/pw"), "a missing file: %s", error);

	r = load(PARAMS({ "agent", fake }, { "password_file", "relative/pw" }), &error);
	CHECK(r == -EINVAL && strstr(error, "not an absolute path"), "relative: %s", error);

	r = load(PARAMS({ "agent", fake }, { "credentials_file", badcred }), &error);
	CHECK(r == -EINVAL && strstr(error, "cred-bad:3: not key=value"), "the credentials file's line: %s", error);
	no_secret_anywhere("the refusal of a bad credentials line", error);

	r = load(PARAMS({ "agent", fake }, { "credentials_file", cred }, { "username", "again" }), &error);
	CHECK(r == -EINVAL && strstr(error, "username is set twice"), "a key in config and file: %s", error);

	write_file("cred-pw", "password=" CRED_SECRET "\n", 0600);
	r = load(PARAMS({ "agent", fake }, { "credentials_file", strcat(strcpy((char[160]){ 0 }, dir), "/cred-pw") },
			{ "password_file", pw }), &error);
	CHECK(r == -EINVAL && strstr(error, "sets a password already"), "two passwords: %s", error);

	r = load(PARAMS({ "agent", "fence_no_such_agent_here" }), &error);
	CHECK(r == -ENOENT && strstr(error, "/usr/sbin/fence_no_such_agent_here") && strstr(error, "fence-agents"),
	      "a missing agent: %s", error);

	r = load(PARAMS({ "agent", "ipmilan" }), &error);
	CHECK(r == -EINVAL && strstr(error, "neither a fence_* program name nor an absolute path"), "bare name: %s",
	      error);

	r = load(PARAMS({ "agent", badagent }), &error);
	CHECK(r == -EPERM && strstr(error, "writable by root only"), "a world-writable agent: %s", error);

	/* check() is the same test without running anything. */
	{
		struct fence_target t = { .node = "n2", .params = PARAMS({ "agent", fake }, { "password_file", badpw }) };
		free(error);
		error = NULL;
		CHECK(fence_agent_ops.check(&t, &error) == -EPERM && strstr(error, "mode 0644"), "check: %s", error);
	}
	/* start() refuses the same way, with nothing started. */
	{
		struct fence_target t = { .node = "n2", .params = PARAMS({ "agent", fake }, { "password_file", badpw }) };
		struct fence_handle *h = NULL;
		struct got g = { 0 };
		free(error);
		error = NULL;
		CHECK(fence_agent_ops.start(&ctx, &t, now_usec() + 10 * SEC, on_done, &g, &h, &error) == -EPERM &&
		      strstr(error, "mode 0644"), "start refuses: %s", error);
		run_for(100 * MSEC);
		CHECK(g.calls == 0, "no callback after a refused start");
		CHECK(fence_agent_ops.start(&ctx, &t, now_usec() + 100 * MSEC, on_done, &g, &h, NULL) == -ETIME,
		      "a deadline inside the kill grace is refused");
	}
#undef PARAMS
}

/* The real fence-agents package's fence_dummy (a power "switch" in a file), when installed. */
static void test_fence_dummy(void)
{
	char status_file[128], pw[128];
	struct fence_param params[] = {
		{ "agent", "fence_dummy" }, { "status_file", status_file }, { "password_file", pw },
	};
	struct fence_target t = { .node = "n2", .params = params, .n_params = ARRAY_SIZE(params) };
	struct fence_handle *h = NULL;
	_cleanup_free_ char *error = NULL, *st = NULL;
	struct got g = { 0 };
	int r;

	if (access(FENCE_AGENT_DIR "/fence_dummy", X_OK) != 0) {
		printf("# SKIP fence_dummy: the fence-agents package is not installed\n");
		return;
	}
	snprintf(status_file, sizeof status_file, "%s/dummy.status", dir);
	snprintf(pw, sizeof pw, "%s/pw", dir);
	write_file("dummy.status", "on", 0644);
	r = fence_agent_ops.start(&ctx, &t, now_usec() + 60 * SEC, on_done, &g, &h, &error);
	CHECK(r == 0, "fence_dummy: start %d %s", r, error ? error : "");
	run_until(&g.calls, 1, 70 * SEC);
	CHECK(g.calls == 1 && g.kind == FENCE_OUTCOME_CONFIRMED && strstr(g.text, "power status: off") &&
	      strstr(g.text, "Success: Powered OFF") && strstr(g.text, "Status: OFF"),
	      "fence_dummy: on -> off, confirmed: %s: %s", fence_outcome_name(g.kind), g.text);
	st = slurp("dummy.status");
	CHECK(strcmp(st, "off") == 0, "fence_dummy switched its power off: '%s'", st);

	/* A power state it cannot read: fence-agents' own error, not a confirmation. */
	write_file("dummy.status", "broken", 0644);
	g = (struct got){ 0 };
	r = fence_agent_ops.start(&ctx, &t, now_usec() + 60 * SEC, on_done, &g, &h, NULL);
	CHECK(r == 0, "fence_dummy: start");
	run_until(&g.calls, 1, 70 * SEC);
	CHECK(g.calls == 1 && g.kind == FENCE_OUTCOME_FAILED &&
	      strstr(g.text, "Failed: Unable to obtain correct plug status or plug is not available"),
	      "fence_dummy: unreadable power state: failed with fence-agents' reason: %s: %s",
	      fence_outcome_name(g.kind), g.text);
}

static void test_parser(void)
{
	char msg[256];
	static const char zeros[] = "Status: OFF\n\0\0\0garbage\n";
	static const char glued[] = "Status: OFF\0garbage\n";

	CHECK(fence_agent_parse(FENCE_AGENT_ACTION_STATUS, 2, "Status: OFF\n", 12, "", 0, msg, sizeof msg) ==
	      FENCE_AGENT_POWER_OFF, "OFF: %s", msg);
	CHECK(fence_agent_parse(FENCE_AGENT_ACTION_STATUS, 2, "  status: off\r\n", 15, "", 0, msg, sizeof msg) ==
	      FENCE_AGENT_POWER_OFF, "case and CRLF: %s", msg);
	CHECK(fence_agent_parse(FENCE_AGENT_ACTION_STATUS, 0, "Status: ON\n", 11, "", 0, msg, sizeof msg) ==
	      FENCE_AGENT_POWER_ON, "ON: %s", msg);
	CHECK(fence_agent_parse(FENCE_AGENT_ACTION_STATUS, 2, "Status: OFF\nStatus: ON\n", 23, "", 0, msg,
				sizeof msg) == FENCE_AGENT_BAD_OUTPUT, "both: %s", msg);
	CHECK(fence_agent_parse(FENCE_AGENT_ACTION_STATUS, 2, "Status: UNKNOWN\n", 16, "", 0, msg, sizeof msg) ==
	      FENCE_AGENT_BAD_OUTPUT, "unknown state: %s", msg);
	CHECK(fence_agent_parse(FENCE_AGENT_ACTION_STATUS, 1, "",  0, "ERROR:root:Failed: Connection timed out\n", 40,
				msg, sizeof msg) == FENCE_AGENT_ERROR && strcmp(msg, "exited with status 1: Failed: "
										"Connection timed out") == 0, "error: %s", msg);
	CHECK(fence_agent_parse(FENCE_AGENT_ACTION_STATUS, 2, zeros, sizeof zeros - 1, "", 0, msg, sizeof msg) ==
	      FENCE_AGENT_POWER_OFF, "NUL bytes on another line: %s", msg);
	CHECK(fence_agent_parse(FENCE_AGENT_ACTION_STATUS, 2, glued, sizeof glued - 1, "", 0, msg, sizeof msg) ==
	      FENCE_AGENT_BAD_OUTPUT && !memchr(msg, '\0', strlen(msg)), "a NUL inside the Status line: %s", msg);
	CHECK(fence_agent_parse(FENCE_AGENT_ACTION_OFF, 0, "", 0, "", 0, msg, sizeof msg) == FENCE_AGENT_DONE,
	      "off without words: %s", msg);
	CHECK(fence_agent_parse(FENCE_AGENT_ACTION_OFF, 3, "", 0, "\x01\x02 login \xff failed\n", 18, msg,
				sizeof msg) == FENCE_AGENT_ERROR && !strchr(msg, '\x01'), "control bytes: %s", msg);
	{
		char buf[] = "pw=abcabc; abc";
		char *secrets[] = { "abc", "" };
		fence_agent_scrub(buf, strlen(buf), secrets, 2);
		CHECK(strcmp(buf, "pw=******; ***") == 0, "scrub: %s", buf);
	}
}

int main(void)
{
	sigset_t ss;
	struct runner_config rc = { .log = collect_log };
	char cwd[2048];

	sigemptyset(&ss);
	sigaddset(&ss, SIGCHLD);
	sigprocmask(SIG_BLOCK, &ss, NULL);
	if (sd_event_default(&ev) < 0 || runner_new(ev, &rc, &runner) < 0)
		return 1;
	timeouts.fence_agent_kill_grace_usec = 300 * MSEC;
	ctx = (struct fence_ctx){ .event = ev, .runner = runner, .timeouts = &timeouts, .log = collect_log };
	snprintf(dir, sizeof dir, "/tmp/test-fence-agent.XXXXXX");
	if (!mkdtemp(dir))
		return 1;
	if (getenv("FENCE_FIXTURES"))
		snprintf(fake, sizeof fake, "%s/fake-fence-agent", getenv("FENCE_FIXTURES"));
	else if (getcwd(cwd, sizeof cwd))
		snprintf(fake, sizeof fake, "%s/tests/fence-fixtures/fake-fence-agent", cwd);
	if (access(fake, X_OK) != 0) {
		fprintf(stderr, "the fake agent %s is not there (run through meson test: FENCE_FIXTURES)\n", fake);
		return 1;
	}
	write_file("pw", PASSWORD "\n", 0600);
	write_file("cred", "# the BMC's account\nusername=admin-user\n\nsecret_key=" CRED_SECRET "\n", 0400);

	test_parser();
	test_params();
	test_confirmed();
	test_failures();
	test_cancel();
	test_fence_dummy();

	logbuf[loglen] = '\0';
	CHECK(loglen > 0, "something was logged");
	no_secret_anywhere("the log", logbuf);

	runner_free(runner);
	sd_event_unref(ev);
	{
		char cmd[128];
		snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
		if (system(cmd) != 0)
			fprintf(stderr, "could not remove %s\n", dir);
	}
	return tap_done("test-fence-agent");
}
