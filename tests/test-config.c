/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * kvmcd.conf parser: a good file, every kind of error (each named file:line: [section] key),
 * all errors of a file collected at once, defaults, computed defaults, reload merging, the
 * generated example file parsing back to the defaults, the schema itself (every key's maximum
 * reachable on one line), the [ontap] address, the file checks --check-config shares with the
 * daemon's start-up (config_check_runtime) and files that are not regular files.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
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
	CHECK(c->stall_timeout_ms == 0, "stall_timeout %u (0: derived from corosync)", c->stall_timeout_ms);
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
	CHECK(c->ontap.max_concurrency == 16, "max_concurrency");
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
	expect_one("[ontap]\nclient_cert = /c.pem\n", "t.conf:2: [ontap] client_cert: client_cert and client_key must be given together");
	expect_one("[ontap]\nsvm = s\nclient_key = /c.key\n", "t.conf:3: [ontap] client_key: client_cert and client_key must be given together");
	/* An address alone: the daemon cannot log in, so the parse already refuses it. */
	expect_one("[ontap]\naddress = cluster1\nsvm = svm1\n",
		   "t.conf:2: [ontap] address: neither credentials_file nor client_cert is configured");
	/* [ontap_peer]: the cluster's name and its address go together; its login as [ontap]'s */
	expect_one("[ontap_peer]\ncluster = c2\n", "t.conf:2: [ontap_peer] cluster: needs the address of that cluster's management LIF");
	expect_one("[ontap_peer]\naddress = c2.example\ncredentials_file = /f\n",
		   "t.conf:2: [ontap_peer] address: needs the name of the cluster it reaches");
	expect_one("[ontap_peer]\ncluster = c2\naddress = c2.example\n",
		   "t.conf:3: [ontap_peer] address: neither credentials_file nor client_cert is configured");
	expect_one("[ontap_peer]\ncluster = c 2\naddress = h\ncredentials_file = /f\n", "[ontap_peer] cluster: 'c 2' must hold only letters, digits");
	expect_one("[ontap_peer]\ncluster = c2\naddress = https://c2\ncredentials_file = /f\n",
		   "t.conf:3: [ontap_peer] address: 'https://c2'");
	/* A duplicated key with a bad value: both problems. */
	{
		struct config_errors e = { 0 };
		struct kvmcd_config *c = NULL;

		CHECK(parse("[node]\nname = a\n\nname = a b\n", &c, &e) == -EINVAL && !c, "duplicate + bad value");
		CHECK(e.n == 2, "%zu errors", e.n);
		CHECK(has_error(&e, "t.conf:4: [node] name: duplicate key (already set on line 2)"), "duplicate named");
		CHECK(has_error(&e, "t.conf:4: [node] name: 'a b' must not contain blanks"), "bad value named too");
		if (e.n != 2)
			dump(&e);
		config_errors_clear(&e);
		CHECK(parse("[cluster]\nstall_timeout = 5s\nstall_timeout = 1\n", &c, &e) == -EINVAL && e.n == 2 &&
		      has_error(&e, "t.conf:3: [cluster] stall_timeout: duplicate key") &&
		      has_error(&e, "t.conf:3: [cluster] stall_timeout: 1 is out of bounds"), "duplicate duration");
		config_errors_clear(&e);
		/* A good duplicate is still one problem. */
		CHECK(parse("[node]\nname = a\nname = a\n", &c, &e) == -EINVAL && e.n == 1, "good duplicate: %zu", e.n);
		config_errors_clear(&e);
	}
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
		expect_one(line, "t.conf:2: line too long (313 bytes, at most 198)");
	}
	expect_one("[node]\nname = 01234567890123456789012345678901234567890123456789012345678901234\n",
		   "t.conf:2: [node] name: too long (65 bytes, at most 64)");
}

/* Lines up to CONFIG_LINE_MAX bytes are whole; one byte more is refused with its length. */
static void test_line_limit(void)
{
	struct config_errors e = { 0 };
	struct kvmcd_config *c = NULL;
	char text[512];
	int pad = (int)CONFIG_LINE_MAX - (int)strlen("name= kvm1");

	/* "name<spaces>= kvm1": blanks before '=' are allowed, so any length can be built. */
	snprintf(text, sizeof(text), "[node]\nname%*s= kvm1\n", pad, "");
	CHECK(strlen(strchr(text, '\n') + 1) == CONFIG_LINE_MAX + 1, "line of %u bytes", CONFIG_LINE_MAX);
	CHECK(parse(text, &c, &e) == 0 && c && strcmp(c->node_name, "kvm1") == 0, "a %u-byte line is read whole",
	      CONFIG_LINE_MAX);
	dump(&e);
	config_errors_clear(&e);
	config_free(c);
	c = NULL;
	/* Leading indentation and trailing blanks do not count. */
	snprintf(text, sizeof(text), "[node]\n\t  name%*s= kvm1  \r\n", pad, "");
	CHECK(parse(text, &c, &e) == 0, "indented %u-byte line", CONFIG_LINE_MAX);
	config_errors_clear(&e);
	config_free(c);
	c = NULL;
	snprintf(text, sizeof(text), "[node]\nname%*s= kvm1\n", pad + 1, "");
	expect_one(text, "t.conf:2: line too long (199 bytes, at most 198)");
	/* Never silently cut: a value that would reach past the limit is refused, not shortened. */
	snprintf(text, sizeof(text), "[paths]\nstate_dir = /%0250d\n[node]\nname = a\n", 0);
	CHECK(parse(text, &c, &e) == -EINVAL && !c && e.n == 1 && has_error(&e, "t.conf:2: line too long"),
	      "long value refused");
	config_errors_clear(&e);
}

/* The value of exactly max bytes a key accepts (e.g. "/aaa" for a path). */
static void max_value(const struct config_key *k, char *buf, size_t size)
{
	size_t n = k->max < size - 1 ? k->max : size - 1;

	memset(buf, 'a', n);
	buf[n] = '\0';
	if (k->type == CONFIG_PATH)
		buf[0] = '/';
	if (strcmp(k->name, "migration_uri") == 0 && n >= 12)
		memcpy(buf, "q://{node}/", 11); /* [vms]: its own rule wants a URI with {node} */
	if (strcmp(k->name, "listen") == 0 && n == 53) /* [metrics]: the longest numeric address */
		memcpy(buf, "[ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255]:65535", 53);
	if (strcmp(k->name, "watchdog") == 0)
		buf[0] = '/'; /* [ha]: a device path */
	if (strcmp(k->name, "levels") == 0 && n >= 20) { /* [ha]: known levels, blanks between */
		memset(buf, ' ', n);
		memcpy(buf, "ontap", 5);
		memcpy(buf + n - 15, ",agent,watchdog", 15);
	}
}

/*
 * The schema itself: names unique, bounds sane, and every string key's documented maximum
 * reachable -- "key = value" with a value of max bytes fits CONFIG_LINE_MAX and parses -- and
 * max + 1 refused. Every numeric key's bounds parse and the numbers past them do not.
 */
static void test_schema(void)
{
	size_t n_sections = 0, n_keys = 0;

	for (const struct config_section *const *s = config_sections; *s; s++, n_sections++) {
		CHECK((*s)->name && (*s)->keys && (*s)->defaults, "section %zu incomplete", n_sections);
		for (const struct config_section *const *t = config_sections; t < s; t++)
			CHECK(strcmp((*t)->name, (*s)->name) != 0, "[%s] declared twice", (*s)->name);
		for (const struct config_key *k = (*s)->keys; k->name; k++, n_keys++) {
			struct config_errors e = { 0 };
			struct kvmcd_config *c = NULL;
			char value[256], text[512];

			CHECK(k->description && *k->description, "[%s] %s: no description", (*s)->name, k->name);
			for (const struct config_key *j = (*s)->keys; j < k; j++)
				CHECK(strcmp(j->name, k->name) != 0, "[%s] %s declared twice", (*s)->name, k->name);
			switch (k->type) {
			case CONFIG_STRING:
			case CONFIG_PATH:
				CHECK(k->max > 0, "[%s] %s: no maximum", (*s)->name, k->name);
				CHECK(strlen(k->name) + 3 + k->max <= CONFIG_LINE_MAX,
				      "[%s] %s: at most %u bytes cannot fit a %u-byte line", (*s)->name, k->name, k->max,
				      CONFIG_LINE_MAX);
				max_value(k, value, sizeof(value));
				snprintf(text, sizeof(text), "[%s]\n%s = %s\n", (*s)->name, k->name, value);
				/* Keys that need a partner for their section's own rules get one. */
				if (strcmp((*s)->name, "ontap") == 0)
					snprintf(text + strlen(text), sizeof(text) - strlen(text), "%s",
						 strcmp(k->name, "client_cert") == 0 ? "client_key = /k\n"
						 : strcmp(k->name, "client_key") == 0 ? "client_cert = /c\n"
						 : strcmp(k->name, "address") == 0 ? "credentials_file = /f\n" : "");
				else if (strcmp((*s)->name, "ontap_peer") == 0)
					snprintf(text + strlen(text), sizeof(text) - strlen(text), "%s",
						 strcmp(k->name, "client_cert") == 0 ? "client_key = /k\n"
						 : strcmp(k->name, "client_key") == 0 ? "client_cert = /c\n"
						 : strcmp(k->name, "address") == 0 ? "cluster = c2\ncredentials_file = /f\n"
						 : strcmp(k->name, "cluster") == 0 ? "address = h\ncredentials_file = /f\n" : "");
				else if (strcmp((*s)->name, "ha") == 0 && strcmp(k->name, "levels") == 0)
					strcat(text, "agent_dir = /d\n"); /* the agent level needs its parameters */
				else if (strcmp((*s)->name, "paths") == 0 && strcmp(k->name, "run_dir") == 0)
					strcat(text, "socket = /s\n"); /* else <run_dir>/kvmcd.sock must fit 107 */
				CHECK(parse(text, &c, &e) == 0 && c, "[%s] %s: %u bytes refused", (*s)->name, k->name, k->max);
				dump(&e);
				config_errors_clear(&e);
				if (c) {
					const char *got = *(char *const *)((const char *)c + (*s)->offset + k->offset);

					CHECK(got && strcmp(got, value) == 0, "[%s] %s: %u bytes stored whole", (*s)->name,
					      k->name, k->max);
				}
				config_free(c);
				c = NULL;
				snprintf(text, sizeof(text), "[%s]\n%s = %sa\n", (*s)->name, k->name, value);
				CHECK(parse(text, &c, &e) == -EINVAL && (has_error(&e, "too long")), "[%s] %s: %u bytes accepted",
				      (*s)->name, k->name, k->max + 1);
				config_errors_clear(&e);
				break;
			case CONFIG_UINT:
			case CONFIG_DURATION_MS:
				CHECK(k->min <= k->max, "[%s] %s: bounds", (*s)->name, k->name);
				snprintf(text, sizeof(text), "[%s]\n%s = %u\n", (*s)->name, k->name, k->max);
				CHECK(parse(text, &c, &e) == 0, "[%s] %s = %u refused", (*s)->name, k->name, k->max);
				config_free(c);
				c = NULL;
				config_errors_clear(&e);
				snprintf(text, sizeof(text), "[%s]\n%s = %u\n", (*s)->name, k->name, k->min);
				CHECK(parse(text, &c, &e) == 0, "[%s] %s = %u refused", (*s)->name, k->name, k->min);
				config_free(c);
				c = NULL;
				config_errors_clear(&e);
				snprintf(text, sizeof(text), "[%s]\n%s = %llu\n", (*s)->name, k->name, k->max + 1ULL);
				CHECK(parse(text, &c, &e) == -EINVAL && has_error(&e, "out of bounds"), "[%s] %s past max",
				      (*s)->name, k->name);
				config_errors_clear(&e);
				break;
			case CONFIG_ENUM:
				CHECK(k->enums && k->enums[0].name, "[%s] %s: no names", (*s)->name, k->name);
				break;
			case CONFIG_BOOL:
				break;
			}
		}
	}
	CHECK(n_sections == 12 && n_keys == 60, "%zu sections, %zu keys", n_sections, n_keys);
}

/* [ontap] address: host, host:port, [IPv6], [IPv6]:port, port 1..65535; the value named. */
static void test_ontap_address(void)
{
	static const char *const good[] = {
		"cluster1", "cluster1.example.com", "cluster1:1", "10.0.0.1:443", "cluster1:65535",
		"[::1]", "[fe80::1]:8443", "[::ffff:10.0.0.1]:443",
	};
	static const struct {
		const char *address, *why;
	} bad[] = {
		{ "cluster1:", "has an empty port" },
		{ "cluster1:0", "has a port outside 1..65535" },
		{ "cluster1:65536", "has a port outside 1..65535" },
		{ "cluster1:99999999999999999999", "has a port outside 1..65535" },
		{ "cluster1:https", "has a port that is not a number" },
		{ "cluster1:-1", "has a port that is not a number" },
		{ ":443", "has an empty host" },
		{ "fe80::1", "looks like an IPv6 address" },
		{ "[::1]:", "has an empty port" },
		{ "[::1]:0", "has a port outside 1..65535" },
		{ "[::1", "has '[' without ']'" },
		{ "[]:443", "has no IPv6 address" },
		{ "[cluster1]", "has no IPv6 address" },
		{ "[::1]443", "must be [IPv6] or [IPv6]:port" },
		{ "https://cluster1", "must be host, host:port, [IPv6] or [IPv6]:port, port 1..65535, without scheme" },
		{ "admin@cluster1", "must be host, host:port, [IPv6] or [IPv6]:port, port 1..65535, without scheme" },
		{ "cluster1/api", "must be host, host:port, [IPv6] or [IPv6]:port, port 1..65535, without scheme" },
		{ "clus]ter1", "must be host, host:port" },
	};
	char text[256], expect[256];

	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		struct config_errors e = { 0 };
		struct kvmcd_config *c = NULL;

		snprintf(text, sizeof(text), "[ontap]\naddress = %s\ncredentials_file = /f\n", good[i]);
		CHECK(parse(text, &c, &e) == 0 && c && strcmp(c->ontap.address, good[i]) == 0, "address %s refused",
		      good[i]);
		dump(&e);
		config_errors_clear(&e);
		config_free(c);
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		snprintf(text, sizeof(text), "[ontap]\naddress = %s\ncredentials_file = /f\n", bad[i].address);
		snprintf(expect, sizeof(expect), "t.conf:2: [ontap] address: '%s' %s", bad[i].address, bad[i].why);
		expect_one(text, expect);
	}
}

/* Writes a small file with the given mode. */
static void write_file(const char *path, const char *content, mode_t mode)
{
	FILE *f = fopen(path, "we");

	CHECK(f != NULL, "create %s", path);
	if (!f)
		return;
	fputs(content, f);
	fclose(f);
	CHECK(chmod(path, mode) == 0, "chmod %s", path);
}

/*
 * Parses text, which must be valid, then runs config_check_runtime(): OK when expect is NULL,
 * else exactly one problem containing expect and (if not NULL) also expect2.
 */
static void check_runtime(const char *what, const char *text, const char *expect, const char *expect2)
{
	struct config_errors e = { 0 };
	struct kvmcd_config *c = NULL;
	int r = parse(text, &c, &e);
	bool good;

	CHECK(r == 0, "%s: parse: %d", what, r);
	if (r == 0)
		r = config_check_runtime(c, &e);
	if (!expect)
		good = r == 0 && e.n == 0;
	else
		good = r == -EINVAL && e.n == 1 && has_error(&e, expect) && (!expect2 || has_error(&e, expect2));
	CHECK(good, "%s: r=%d, %zu problems, expected %s", what, r, e.n, expect ? expect : "none");
	if (!good)
		dump(&e);
	config_errors_clear(&e);
	config_free(c);
}

/*
 * config_check_runtime(): what kvmcd checks at start-up and for --check-config alike -- the
 * credentials file (exists, safe, complete), the PEM files readable -- with file:line.
 */
static void test_check_runtime(void)
{
	char dir[] = "/tmp/test-config-rt-XXXXXX", cred[128], ca[128], cert[128], key[128], text[1024];
	bool root = geteuid() == 0;

	CHECK(mkdtemp(dir) != NULL, "mkdtemp");
	snprintf(cred, sizeof(cred), "%s/ontap.cred", dir);
	snprintf(ca, sizeof(ca), "%s/ca.pem", dir);
	snprintf(cert, sizeof(cert), "%s/client.pem", dir);
	snprintf(key, sizeof(key), "%s/client.key", dir);
	write_file(ca, "-----BEGIN CERTIFICATE-----\n", 0644);
	write_file(cert, "-----BEGIN CERTIFICATE-----\n", 0644);
	write_file(key, "-----BEGIN PRIVATE KEY-----\n", 0600);

	/* No [ontap] address: nothing the daemon checks, whatever the other keys name. */
	check_runtime("defaults", "", NULL, NULL);
	check_runtime("no address", "[ontap]\ncredentials_file = /nonexistent/c\nca_file = /nonexistent/ca\n", NULL, NULL);

	snprintf(text, sizeof(text), "[ontap]\naddress = cluster1\nsvm = svm1\ncredentials_file = %s/none\n", dir);
	check_runtime("missing credentials file", text, "t.conf:4: [ontap] credentials_file: credentials file '",
		      "/none': cannot open: No such file");

	write_file(cred, "username=u\npassword=p\n", 0644);
	snprintf(text, sizeof(text), "[ontap]\naddress = cluster1\ncredentials_file = %s\n", cred);
	check_runtime("credentials file others can read", text, "t.conf:3: [ontap] credentials_file: credentials file '",
		      root ? "mode 0644 gives group/others access" : NULL);

	/* Safe (0600, root-owned: only when the test runs as root) and complete: OK. */
	CHECK(chmod(cred, 0600) == 0, "chmod");
	if (root) {
		check_runtime("safe credentials file", text, NULL, NULL);
		write_file(cred, "username=u\n", 0600);
		check_runtime("incomplete credentials file", text, "t.conf:3: [ontap] credentials_file: ", NULL);
		write_file(cred, "username=u\npassword=p\n", 0600);
	}

	/* Missing PEM files, each named with its line. */
	snprintf(text, sizeof(text), "[ontap]\naddress = cluster1\ncredentials_file = %s\nca_file = %s/missing.pem\n",
		 cred, dir);
	check_runtime("missing ca_file", text, "t.conf:4: [ontap] ca_file: ca_file '", "/missing.pem': No such file");
	snprintf(text, sizeof(text), "[ontap]\naddress = cluster1\nclient_key = %s\nclient_cert = %s/none.pem\n", key,
		 dir);
	check_runtime("missing client_cert", text, "t.conf:4: [ontap] client_cert: client_cert '",
		      "/none.pem': No such file");
	snprintf(text, sizeof(text), "[ontap]\naddress = cluster1\nclient_cert = %s\nclient_key = %s/none.key\n", cert,
		 dir);
	check_runtime("missing client_key", text, "t.conf:4: [ontap] client_key: client_key '", "/none.key': No such file");
	/* Certificate login with readable files, and a CA: OK (no credentials file to own). */
	snprintf(text, sizeof(text), "[ontap]\naddress = cluster1\nca_file = %s\nclient_cert = %s\nclient_key = %s\n",
		 ca, cert, key);
	check_runtime("certificate login", text, NULL, NULL);
	/* [ontap_peer]'s files as [ontap]'s, named with its section and line */
	snprintf(text, sizeof(text), "[ontap_peer]\ncluster = c2\naddress = c2.example\ncredentials_file = %s/none\n", dir);
	check_runtime("[ontap_peer]: missing credentials file", text,
		      "t.conf:4: [ontap_peer] credentials_file: credentials file '", "/none': cannot open: No such file");
	snprintf(text, sizeof(text), "[ontap_peer]\ncluster = c2\naddress = c2.example\nca_file = %s\nclient_cert = %s\n"
		 "client_key = %s\n", ca, cert, key);
	check_runtime("[ontap_peer]: certificate login", text, NULL, NULL);

	unlink(cred);
	unlink(ca);
	unlink(cert);
	unlink(key);
	rmdir(dir);
}

/* The [ontap] defaults live in one place: the parser's and ontap_options_clear()'s agree. */
static void test_ontap_defaults(void)
{
	struct config_errors e = { 0 };
	struct kvmcd_config *c = NULL;
	struct ontap_options o = { 0 };

	ontap_options_clear(&o);
	CHECK(parse("", &c, &e) == 0 && c, "defaults");
	if (!c)
		return;
	CHECK(memcmp(&o, &c->ontap, sizeof(o)) == 0, "ontap_options_clear() == the section's defaults");
	CHECK(!c->ontap_peer.cluster && memcmp(&o, &c->ontap_peer.ontap, sizeof(o)) == 0, "[ontap_peer]: none, [ontap]'s defaults");
	config_free(c);
	c = NULL;
	/* a whole [ontap_peer] lands in its struct */
	CHECK(parse("[ontap_peer]\ncluster = dr-site.1\naddress = 10.0.0.9:8443\ncredentials_file = /etc/kvmcd/dr\n"
		    "ca_file = /etc/kvmcd/dr.pem\nmax_concurrency = 4\n", &c, &e) == 0 && c, "[ontap_peer] parsed");
	dump(&e);
	config_errors_clear(&e);
	if (c)
		CHECK(!strcmp(c->ontap_peer.cluster, "dr-site.1") && !strcmp(c->ontap_peer.ontap.address, "10.0.0.9:8443") &&
		      !strcmp(c->ontap_peer.ontap.credentials_file, "/etc/kvmcd/dr") &&
		      !strcmp(c->ontap_peer.ontap.ca_file, "/etc/kvmcd/dr.pem") && c->ontap_peer.ontap.max_concurrency == 4 &&
		      c->ontap_peer.ontap.tls_verify && !c->ontap.address, "[ontap_peer] fields");
	config_free(c);
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

/* Only regular files are read: a FIFO would block forever, a device is never opened. */
static void test_load_not_regular(void)
{
	char dir[] = "/tmp/test-config-fifo-XXXXXX", fifo[128];
	struct config_errors e = { 0 };
	struct kvmcd_config *c = NULL;
	int fd;

	CHECK(mkdtemp(dir) != NULL, "mkdtemp");
	snprintf(fifo, sizeof(fifo), "%s/kvmcd.conf", dir);
	CHECK(mkfifo(fifo, 0600) == 0, "mkfifo");
	alarm(10); /* a hang is a failure, not a stuck test run */
	CHECK(config_load(fifo, false, &c, &e) == -EINVAL && !c, "FIFO refused");
	CHECK(e.n == 1 && has_error(&e, ": not a regular file") && strncmp(e.text[0], fifo, strlen(fifo)) == 0,
	      "FIFO named: %s", e.n ? e.text[0] : "");
	config_errors_clear(&e);
	CHECK(config_load(fifo, true, &c, &e) == -EINVAL && !c, "FIFO refused with missing_ok too");
	config_errors_clear(&e);
	/* A writer waiting on the FIFO would get EOF at once, not data read as config. */
	fd = open(fifo, O_RDWR | O_NONBLOCK);
	CHECK(fd >= 0, "open fifo");
	CHECK(config_load(fifo, false, &c, &e) == -EINVAL, "FIFO with a writer refused");
	config_errors_clear(&e);
	if (fd >= 0)
		close(fd);
	CHECK(config_load("/dev/null", false, &c, &e) == -EINVAL && has_error(&e, "/dev/null: not a regular file"),
	      "device refused");
	config_errors_clear(&e);
	CHECK(config_load(dir, false, &c, &e) == -EINVAL && has_error(&e, ": not a regular file"), "directory refused");
	config_errors_clear(&e);
	alarm(0);
	unlink(fifo);
	rmdir(dir);
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
	CHECK(next->stall_timeout_ms == 0, "stall_timeout needs restart: kept (unset: derived)");
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
	CHECK(strstr(buf, "\n group = kvmcd\n") && strstr(buf, "\n request_timeout = 30000\n") &&
	      strstr(buf, "\n#stall_timeout =\n"), "uncommented (stall_timeout stays unset: derived):\n%s", buf);
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
	test_line_limit();
	test_schema();
	test_ontap_address();
	test_ontap_defaults();
	test_all_collected();
	test_load();
	test_load_not_regular();
	test_check_runtime();
	test_reload_merge();
	test_example();
	return tap_done("test-config");
}
