/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * kvmcd.conf parser: a good file, every kind of error (each named file:line: [section] key),
 * all errors of a file collected at once, defaults, computed defaults, reload merging, and the
 * generated example file parsing back to the defaults.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <unistd.h>

#include "agent/config.h"
#include "tap.h"

static int parse(const char *text, struct kvmcd_config **out, struct config_errors *e)
{
	return config_parse_buffer("t.conf", text, strlen(text), out, e);
}

/* True when some collected error contains needle. */
static bool has_error(const struct config_errors *e, const char *needle)
{
	for (size_t i = 0; i < e->n; i++)
		if (strstr(e->text[i], needle))
			return true;
	return false;
}

static void dump(const struct config_errors *e)
{
	for (size_t i = 0; i < e->n; i++)
		fprintf(stderr, "  | %s\n", e->text[i]);
}

/* One bad input: must fail with -EINVAL, exactly one error, containing `expect`. */
static void expect_one(const char *text, const char *expect)
{
	struct config_errors e = { 0 };
	struct kvmcd_config *c = NULL;
	int r = parse(text, &c, &e);

	CHECK(r == -EINVAL, "%s: r=%d", expect, r);
	CHECK(c == NULL, "%s: output written on failure", expect);
	CHECK(e.n == 1, "%s: %zu errors", expect, e.n);
	CHECK(has_error(&e, expect), "missing error '%s'", expect);
	if (e.n != 1 || !has_error(&e, expect))
		dump(&e);
	config_errors_clear(&e);
	config_free(c);
}

static void test_defaults(void)
{
	struct config_errors e = { 0 };
	struct kvmcd_config *c = NULL;
	char host[256] = "";

	CHECK(parse("", &c, &e) == 0, "empty file");
	if (!c)
		return;
	gethostname(host, sizeof(host) - 1);
	CHECK(strcmp(c->node_name, host) == 0, "node name defaults to host name: %s", c->node_name);
	CHECK(strcmp(c->cluster_group, "kvmcd") == 0, "group");
	CHECK(c->stall_timeout_ms == 8000, "stall_timeout %u", c->stall_timeout_ms);
	CHECK(c->request_timeout_ms == 30000, "request_timeout");
	CHECK(c->reconnect_max_ms == 5000, "reconnect_max");
	CHECK(strcmp(c->state_dir, "/var/lib/kvmcd") == 0, "state_dir");
	CHECK(strcmp(c->run_dir, "/run/kvmcd") == 0, "run_dir");
	CHECK(strcmp(c->socket_path, "/run/kvmcd/kvmcd.sock") == 0, "socket %s", c->socket_path);
	CHECK(strcmp(c->api_group, "kvmcd") == 0, "api group");
	CHECK(c->log_level == LOG_INFO, "log level");
	CHECK(c->log_target == LOG_TARGET_AUTO, "log target");
	CHECK(c->ontap.address == NULL && c->ontap.svm == NULL && c->ontap.ca_file == NULL, "ontap unset");
	CHECK(c->ontap.tls_verify, "tls_verify");
	CHECK(c->ontap.max_concurrency == 8, "max_concurrency");
	CHECK(c->ontap.request_timeout_ms == 30000 && c->ontap.job_timeout_ms == 600000, "ontap timeouts");
	CHECK(strcmp(c->path, "t.conf") == 0, "path");
	config_free(c);
}

static void test_good(void)
{
	static const char text[] =
		"\xef\xbb\xbf# a comment after a byte order mark\n"
		"; another\n"
		"\n"
		"[node]\n"
		"name = kvm1\n"
		"\n"
		"[cluster]\n"
		"  group = prod-cluster   ; inline comment\n"
		"stall_timeout = 5s\n"
		"request_timeout = 2min\n"
		"reconnect_max=250ms\n"
		"[paths]\n"
		"state_dir = /srv/kvmcd/n1\n"
		"run_dir = /run/kvmcd-n1\r\n"
		"[api]\n"
		"group = kvmadm\n"
		"[log]\n"
		"level = debug\n"
		"target = stderr\n"
		"[ontap]\n"
		"address = cluster1.example.com:443\n"
		"svm = svm_kvm\n"
		"credentials_file = /etc/kvmcd/ontap.cred\n"
		"ca_file =\n"
		"client_cert = /etc/kvmcd/c.pem\n"
		"client_key = /etc/kvmcd/c.key\n"
		"tls_verify = no\n"
		"max_concurrency = 64\n"
		"request_timeout = 10000\n"
		"job_timeout = 1min\n";
	struct config_errors e = { 0 };
	struct kvmcd_config *c = NULL;
	int r = parse(text, &c, &e);

	CHECK(r == 0, "good file: %d", r);
	dump(&e);
	config_errors_clear(&e);
	if (!c)
		return;
	CHECK(strcmp(c->node_name, "kvm1") == 0, "name");
	CHECK(strcmp(c->cluster_group, "prod-cluster") == 0, "group '%s'", c->cluster_group);
	CHECK(c->stall_timeout_ms == 5000, "5s");
	CHECK(c->request_timeout_ms == 120000, "2min");
	CHECK(c->reconnect_max_ms == 250, "250ms");
	CHECK(strcmp(c->state_dir, "/srv/kvmcd/n1") == 0, "state_dir");
	CHECK(strcmp(c->run_dir, "/run/kvmcd-n1") == 0, "run_dir (CRLF) '%s'", c->run_dir);
	CHECK(strcmp(c->socket_path, "/run/kvmcd-n1/kvmcd.sock") == 0, "socket follows run_dir");
	CHECK(strcmp(c->api_group, "kvmadm") == 0, "api group");
	CHECK(c->log_level == LOG_DEBUG && c->log_target == LOG_TARGET_STDERR, "log");
	CHECK(strcmp(c->ontap.address, "cluster1.example.com:443") == 0, "address");
	CHECK(strcmp(c->ontap.svm, "svm_kvm") == 0, "svm");
	CHECK(strcmp(c->ontap.credentials_file, "/etc/kvmcd/ontap.cred") == 0, "cred");
	CHECK(c->ontap.ca_file == NULL, "empty optional path = unset");
	CHECK(!c->ontap.tls_verify, "tls_verify");
	CHECK(c->ontap.max_concurrency == 64, "max_concurrency");
	CHECK(c->ontap.request_timeout_ms == 10000 && c->ontap.job_timeout_ms == 60000, "ontap timeouts");
	config_free(c);

	/* An explicit socket wins over run_dir. */
	c = NULL;
	CHECK(parse("[paths]\nsocket = /tmp/x.sock\nrun_dir = /elsewhere\n", &c, &e) == 0, "socket");
	if (c)
		CHECK(strcmp(c->socket_path, "/tmp/x.sock") == 0, "explicit socket");
	config_free(c);
	config_errors_clear(&e);
}

static void test_each_error(void)
{
	/* syntax */
	expect_one("[node]\nname kvm1\n", "t.conf:2: syntax error: expected 'key = value'");
	expect_one("[node\n", "t.conf:1: syntax error: section header without ']'");
	expect_one("[node] x\n", "t.conf:1: syntax error: text after section header");
	expect_one("[node]\n= x\n", "t.conf:2: syntax error: missing key");
	expect_one("[node]\nna me = x\n", "t.conf:2: syntax error: invalid key name");
	expect_one("name = x\n[node]\n", "t.conf:1: name: key outside any section");
	/* unknown section reported once, not once per key */
	expect_one("[nodes]\nname = a\ngroup = b\n", "t.conf:1: [nodes]: unknown section");
	expect_one("[node]\nnmae = kvm1\n", "t.conf:2: [node] nmae: unknown key");
	expect_one("[node]\nname = a\n[node]\nname = b\n", "t.conf:4: [node] name: duplicate key (already set on line 2)");
	/* values */
	expect_one("[cluster]\nstall_timeout = 999\n", "t.conf:2: [cluster] stall_timeout: 999 is out of bounds (1000..600000 ms)");
	expect_one("[cluster]\nstall_timeout = 601s\n", "[cluster] stall_timeout: 601s is out of bounds");
	expect_one("[cluster]\nrequest_timeout = soon\n", "[cluster] request_timeout: 'soon' is not a duration");
	expect_one("[cluster]\nrequest_timeout = 5h\n", "[cluster] request_timeout: '5h' is not a duration");
	expect_one("[cluster]\nreconnect_max = -1\n", "[cluster] reconnect_max: '-1' is not a duration");
	expect_one("[cluster]\nreconnect_max = 99999999999999999999\n", "[cluster] reconnect_max: 99999999999999999999 is out of bounds");
	expect_one("[ontap]\nmax_concurrency = 0\n", "t.conf:2: [ontap] max_concurrency: 0 is out of bounds (1..64)");
	expect_one("[ontap]\nmax_concurrency = 8s\n", "[ontap] max_concurrency: '8s' is not a non-negative integer");
	expect_one("[ontap]\ntls_verify = maybe\n", "[ontap] tls_verify: 'maybe' is not a boolean");
	expect_one("[log]\nlevel = loud\n", "[log] level: 'loud' is not one of: err, warning, notice, info, debug");
	expect_one("[log]\ntarget = syslog\n", "[log] target: 'syslog' is not one of: auto, journal, stderr");
	expect_one("[paths]\nstate_dir = var/lib/kvmcd\n", "[paths] state_dir: 'var/lib/kvmcd' is not an absolute path");
	expect_one("[paths]\nstate_dir =\n", "[paths] state_dir: must not be empty");
	expect_one("[node]\nname = a b\n", "[node] name: 'a b' must not contain blanks");
	expect_one("[node]\nname = a\tb\n", "[node] name: must not contain control characters");
	expect_one("[api]\ngroup = Admins\n", "[api] group: 'Admins' must start with a lower-case letter");
	expect_one("[cluster]\ngroup = 0123456789012345678901234567890123456789012345678901234567890123456789"
		   "01234567890123456789012345678901234567890123456789012345678\n",
		   "[cluster] group: too long (129 bytes, at most 127)");
	/* rules across keys */
	expect_one("[paths]\nrun_dir = /0123456789/0123456789/0123456789/0123456789/0123456789/0123456789/"
		   "0123456789/0123456789/0123456789\n",
		   "t.conf:2: [paths] run_dir: too long for a unix socket path");
	expect_one("[ontap]\nclient_cert = /c.pem\n", "t.conf:2: [ontap] client_cert: client_cert and client_key must be set together");
	/* bytes inih must never see */
	{
		static const char nul[] = "[node]\nname = a\0b\n";
		struct config_errors e = { 0 };
		struct kvmcd_config *c = NULL;

		CHECK(config_parse_buffer("t.conf", nul, sizeof(nul) - 1, &c, &e) == -EINVAL, "NUL accepted");
		CHECK(has_error(&e, "t.conf:2: line contains a NUL byte"), "NUL error");
		config_errors_clear(&e);
		config_free(c);
	}
	{
		char line[400];

		snprintf(line, sizeof(line), "[paths]\nstate_dir = /%0300d\n", 0);
		expect_one(line, "t.conf:2: line too long");
	}
}

/* Every problem of one file comes back at once, each with its own line. */
static void test_all_collected(void)
{
	static const char text[] =
		"[node]\n"                       /* 1 */
		"name = ok\n"                    /* 2 */
		"[cluster]\n"                    /* 3 */
		"stall_timeout = 10\n"           /* 4: out of bounds */
		"bogus = 1\n"                    /* 5: unknown key */
		"this is not ini\n"              /* 6: syntax */
		"[weird]\n"                      /* 7: unknown section */
		"x = 1\n"                        /* 8: not reported again */
		"[log]\n"                        /* 9 */
		"level = loud\n"                 /* 10: bad enum */
		"level = info\n"                 /* 11: duplicate */
		"[ontap]\n"                      /* 12 */
		"tls_verify = perhaps\n";        /* 13: bad bool */
	struct config_errors e = { 0 };
	struct kvmcd_config *c = NULL;
	int r = parse(text, &c, &e);

	CHECK(r == -EINVAL && c == NULL, "r=%d", r);
	CHECK(e.n == 7, "%zu errors", e.n);
	CHECK(has_error(&e, "t.conf:4: [cluster] stall_timeout:"), "line 4");
	CHECK(has_error(&e, "t.conf:5: [cluster] bogus: unknown key"), "line 5");
	CHECK(has_error(&e, "t.conf:6: syntax error"), "line 6");
	CHECK(has_error(&e, "t.conf:7: [weird]: unknown section"), "line 7");
	CHECK(!has_error(&e, "t.conf:8:"), "line 8 reported");
	CHECK(has_error(&e, "t.conf:10: [log] level:"), "line 10");
	CHECK(has_error(&e, "t.conf:11: [log] level: duplicate key (already set on line 10)"), "line 11");
	CHECK(has_error(&e, "t.conf:13: [ontap] tls_verify:"), "line 13");
	if (e.n != 7)
		dump(&e);
	config_errors_clear(&e);

	/* Errors add up across calls into one list (the daemon prints them together). */
	CHECK(parse("[x]\n", &c, &e) == -EINVAL && parse("[y]\n", &c, &e) == -EINVAL && e.n == 2, "append");
	config_errors_clear(&e);
}

static void test_load(void)
{
	struct config_errors e = { 0 };
	struct kvmcd_config *c = NULL;
	char path[] = "/tmp/test-config-XXXXXX";
	int fd = mkstemp(path);

	CHECK(config_load("/nonexistent/kvmcd.conf", false, &c, &e) == -ENOENT, "missing file is an error");
	CHECK(has_error(&e, "/nonexistent/kvmcd.conf: cannot open"), "missing file named");
	config_errors_clear(&e);
	CHECK(config_load("/nonexistent/kvmcd.conf", true, &c, &e) == 0 && c, "missing_ok gives defaults");
	config_free(c);
	c = NULL;
	CHECK(fd >= 0, "mkstemp");
	if (fd < 0)
		return;
	CHECK(write(fd, "[cluster]\nstall_timeout = 1\n", 28) == 28, "write");
	close(fd);
	CHECK(config_load(path, false, &c, &e) == -EINVAL, "bad file");
	CHECK(e.n == 1 && strncmp(e.text[0], path, strlen(path)) == 0 && strstr(e.text[0], ":2: [cluster] stall_timeout"),
	      "error names the file and line: %s", e.n ? e.text[0] : "");
	config_errors_clear(&e);
	unlink(path);
}

struct noted {
	int runtime, restart;
};

static void note(void *userdata, const char *key, bool runtime)
{
	struct noted *n = userdata;

	if (runtime)
		n->runtime++;
	else
		n->restart++;
}

static void test_reload_merge(void)
{
	struct config_errors e = { 0 };
	struct kvmcd_config *cur = NULL, *next = NULL;
	struct noted n = { 0 };

	CHECK(parse("[node]\nname = a\n[log]\nlevel = info\n", &cur, &e) == 0, "cur");
	CHECK(parse("[node]\nname = b\n[log]\nlevel = debug\n[cluster]\nreconnect_max = 1s\nstall_timeout = 9s\n",
		    &next, &e) == 0, "next");
	if (!cur || !next)
		return;
	CHECK(config_reload_merge(next, cur, note, &n) == 4, "4 keys differ");
	CHECK(n.runtime == 2 && n.restart == 2, "runtime %d restart %d", n.runtime, n.restart);
	CHECK(strcmp(next->node_name, "a") == 0, "name needs restart: kept");
	CHECK(next->stall_timeout_ms == 8000, "stall_timeout needs restart: kept");
	CHECK(next->log_level == LOG_DEBUG, "log level applied");
	CHECK(next->reconnect_max_ms == 1000, "reconnect_max applied");
	CHECK(config_reload_merge(next, cur, NULL, NULL) == 2, "after merge only runtime keys differ");
	config_free(cur);
	config_free(next);
}

/* The example file written from the schema must parse back to exactly the defaults. */
static void test_example(void)
{
	struct config_errors e = { 0 };
	struct kvmcd_config *a = NULL, *b = NULL;
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	config_write_example(f);
	fclose(f);
	/* Uncomment every "#key = value" line that shows a default value. */
	for (char *line = buf; line && *line; line = strchr(line, '\n') ? strchr(line, '\n') + 1 : NULL) {
		char *eq = strstr(line, " = "), *nl = strchr(line, '\n');

		if (line[0] == '#' && line[1] >= 'a' && line[1] <= 'z' && eq && (!nl || eq < nl) && eq[3] != '\n')
			line[0] = ' ';
	}
	CHECK(strstr(buf, "\n group = kvmcd\n") && strstr(buf, "\n stall_timeout = 8000\n"), "uncommented:\n%s", buf);
	CHECK(config_parse_buffer("example", buf, len, &a, &e) == 0, "example parses");
	dump(&e);
	config_errors_clear(&e);
	CHECK(parse("", &b, &e) == 0, "defaults");
	if (a && b)
		CHECK(config_reload_merge(a, b, NULL, NULL) == 0, "example == defaults");
	config_free(a);
	config_free(b);
	free(buf);
}

int main(void)
{
	test_defaults();
	test_good();
	test_each_error();
	test_all_collected();
	test_load();
	test_reload_merge();
	test_example();
	return tap_done("test-config");
}
