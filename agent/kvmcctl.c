/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * kvmcctl: the admin's client for kvmcd's local API (see api-server.h for the protocol).
 *
 * A short-lived, blocking program: one connection, one request, one reply. Exit statuses:
 *   0   success
 *   1   failure: the daemon is unreachable, said no, or the spec is invalid
 *   2   refused because the cluster is not ready (this node is not connected, not quorate, or
 *       membership is stalled); nothing was applied, retry later
 *   3   outcome unknown: the change was not committed in time, or kvmcd stopped meanwhile,
 *       but it may still apply (check `kvmcctl spec get`)
 *   64  usage error
 */
#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/un.h>
#include <sysexits.h>
#include <unistd.h>

#include "build-config.h"
#include "config.h"
#include "macros.h"
#ifdef HAVE_ONTAP_CHECK
#include "resources/ontap/ontap-check.h"
#endif

#define DEFAULT_CONFIG KVMCD_SYSCONFDIR "/kvmcd/kvmcd.conf"
#define MAX_REPLY (512u * 1024u * 1024u)
#define MAX_SPEC_FILE (64u * 1024u * 1024u)

enum {
	EXIT_REFUSED = 2,
	EXIT_UNKNOWN = 3,
};

struct ctl {
	const char *config_path;  /* borrowed from argv; NULL = default */
	const char *socket_path;  /* borrowed from argv or cfg; NULL until resolved */
	struct kvmcd_config *cfg; /* owned; NULL when --socket was given and no config loaded */
};

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: kvmcctl [--config FILE | --socket PATH] COMMAND\n"
		"\n"
		"Commands:\n"
		"  status [--json]          this node, quorum, leader, members, state and sync\n"
		"  spec get                 print the cluster spec (JSON)\n"
		"  spec apply FILE|-        replace the spec; prints \"applied: version N\"\n"
		"  spec diff FILE|-         show what `spec apply` would change\n"
		"  log                      dump kvmcd's recent log lines (all levels)\n"
		"  ontap check [--config FILE] [--json]\n"
		"                           check the ONTAP connection configured in [ontap]\n"
		"\n"
		"Options:\n"
		"  -c, --config FILE   read the socket path from FILE (default %s)\n"
		"  -s, --socket PATH   talk to the daemon at PATH\n"
		"\n"
		"Exit status: 0 ok, 1 failure, 2 refused (cluster not ready, nothing applied, retry),\n"
		"3 outcome unknown (not committed in time, may still apply), 64 usage error.\n",
		DEFAULT_CONFIG);
}

static int usage_error(const char *fmt, ...) _printf_(1, 2);
static int usage_error(const char *fmt, ...)
{
	va_list ap;

	fputs("kvmcctl: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputs("\n\n", stderr);
	usage(stderr);
	return EX_USAGE;
}

/* ---- configuration -------------------------------------------------------------------------- */

static int load_config(struct ctl *ctl, bool required)
{
	struct config_errors errors = { 0 };
	const char *path = ctl->config_path ? ctl->config_path : DEFAULT_CONFIG;
	int r;

	/* Without --config and without the default file, the daemon runs on defaults too. */
	r = config_load(path, !ctl->config_path && !required, &ctl->cfg, &errors);
	if (r < 0) {
		for (size_t i = 0; i < errors.n; i++)
			fprintf(stderr, "kvmcctl: %s\n", errors.text[i]);
		if (r == -ENOMEM)
			fprintf(stderr, "kvmcctl: out of memory\n");
		else if (errors.n)
			fprintf(stderr, "kvmcctl: %s has %zu problem%s%s\n", path, errors.n, errors.n == 1 ? "" : "s",
				required ? "" : " (use --socket PATH to reach the daemon anyway)");
		config_errors_clear(&errors);
		return r;
	}
	return 0;
}

static int resolve_socket(struct ctl *ctl)
{
	if (ctl->socket_path)
		return 0;
	if (load_config(ctl, false) < 0)
		return -EINVAL;
	ctl->socket_path = ctl->cfg->socket_path;
	return 0;
}

/* ---- talking to kvmcd ----------------------------------------------------------------------- */

static int write_all(int fd, const char *p, size_t len)
{
	while (len > 0) {
		ssize_t n = send(fd, p, len, MSG_NOSIGNAL);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

/*
 * How long to wait for an answer. kvmcd answers a spec-apply at the latest when its request
 * timeout expires; everything else at once. The margin covers a daemon that is busy, not one
 * that is hung (then the watchdog restarts it and we say so rather than hang).
 */
static unsigned answer_timeout_ms(const struct ctl *ctl, bool waits_for_commit)
{
	if (!waits_for_commit)
		return 30000;
	return (ctl->cfg ? ctl->cfg->request_timeout_ms : 3600000) + 30000;
}

/*
 * Sends req (borrowed) and returns the reply object in *out (owned). On failure prints why and
 * returns a negative errno (-ETIMEDOUT when no answer came within timeout_ms).
 */
static int call(struct ctl *ctl, json_t *req, unsigned timeout_ms, json_t **out)
{
	struct timeval tv = { .tv_sec = timeout_ms / 1000, .tv_usec = (timeout_ms % 1000) * 1000 };
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	_cleanup_close_ int fd = -1;
	_cleanup_free_ char *text = NULL, *buf = NULL;
	size_t len = 0, cap = 0;
	json_error_t jerr;
	json_t *reply;
	int r;

	if (strlen(ctl->socket_path) >= sizeof(sa.sun_path)) {
		fprintf(stderr, "kvmcctl: socket path too long: %s\n", ctl->socket_path);
		return -ENAMETOOLONG;
	}
	memcpy(sa.sun_path, ctl->socket_path, strlen(ctl->socket_path));
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		r = -errno;
		fprintf(stderr, "kvmcctl: cannot reach kvmcd at %s: %s (%s)\n", ctl->socket_path, strerror(-r),
			r == -EACCES ? "only root and members of the [api] group may use it" : "is kvmcd running?");
		return r;
	}
	text = json_dumps(req, JSON_COMPACT | JSON_ENSURE_ASCII);
	if (!text)
		return -ENOMEM;
	r = write_all(fd, text, strlen(text));
	if (r == 0)
		r = write_all(fd, "\n", 1);
	if (r < 0) {
		fprintf(stderr, "kvmcctl: sending to kvmcd at %s: %s\n", ctl->socket_path, strerror(-r));
		return r;
	}
	(void)shutdown(fd, SHUT_WR);
	(void)setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	/* The daemon answers a spec-apply only after commit or its own request timeout; wait for it. */
	for (;;) {
		ssize_t n;

		if (len == cap) {
			char *p;

			cap = cap ? cap * 2 : 65536;
			if (cap > MAX_REPLY) {
				fprintf(stderr, "kvmcctl: reply from kvmcd larger than %u bytes\n", MAX_REPLY);
				return -EMSGSIZE;
			}
			p = realloc(buf, cap);
			if (!p)
				return -ENOMEM;
			buf = p;
		}
		n = read(fd, buf + len, cap - len);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN) {
				fprintf(stderr, "kvmcctl: kvmcd at %s did not answer within %us\n", ctl->socket_path,
					timeout_ms / 1000);
				return -ETIMEDOUT;
			}
			r = -errno;
			fprintf(stderr, "kvmcctl: reading from kvmcd at %s: %s\n", ctl->socket_path, strerror(-r));
			return r;
		}
		if (n == 0)
			break;
		len += (size_t)n;
	}
	if (len == 0) {
		fprintf(stderr, "kvmcctl: kvmcd at %s closed the connection without answering\n", ctl->socket_path);
		return -ECONNRESET;
	}
	reply = json_loadb(buf, len, 0, &jerr);
	if (!json_is_object(reply)) {
		json_decref(reply);
		fprintf(stderr, "kvmcctl: kvmcd sent an unreadable reply: %s\n", jerr.text);
		return -EBADMSG;
	}
	*out = reply;
	return 0;
}

/* Prints a {"ok":false} reply and maps it to an exit status. */
static int report_error(const char *what, json_t *reply)
{
	const char *error = json_string_value(json_object_get(reply, "error"));
	int err = (int)json_integer_value(json_object_get(reply, "errno"));
	json_t *problems = json_object_get(reply, "problems"), *item;
	size_t i;

	/* The first line is the verdict; the daemon puts one problem on each following line. */
	fprintf(stderr, "kvmcctl: %s: ", what);
	for (const char *p = error ? error : "failed"; *p; p++) {
		fputc(*p, stderr);
		if (*p == '\n' && p[1])
			fputs("  ", stderr);
	}
	fputc('\n', stderr);
	json_array_foreach(problems, i, item)
		fprintf(stderr, "  %s\n", json_string_value(item) ?: "?");
	if (json_integer_value(json_object_get(reply, "problems_dropped")) > 0)
		fprintf(stderr, "  ... and %" JSON_INTEGER_FORMAT " more\n",
			json_integer_value(json_object_get(reply, "problems_dropped")));
	switch (err) {
	case ENOTCONN:
	case EAGAIN:
		return EXIT_REFUSED;
	case ETIMEDOUT:
	case ECANCELED:
		return EXIT_UNKNOWN;
	default:
		return EXIT_FAILURE;
	}
}

/* Runs one request; on success *out is the reply (owned); otherwise returns the exit status. */
static int request(struct ctl *ctl, const char *what, json_t *req, json_t **out)
{
	json_t *reply = NULL;
	bool apply;
	int r;

	if (!req) {
		fputs("kvmcctl: out of memory\n", stderr);
		return EXIT_FAILURE;
	}
	apply = strcmp(json_string_value(json_object_get(req, "cmd")) ?: "", "spec-apply") == 0;
	if (resolve_socket(ctl) < 0) {
		json_decref(req);
		return EXIT_FAILURE;
	}
	r = call(ctl, req, answer_timeout_ms(ctl, apply), &reply);
	json_decref(req);
	if (r < 0)
		/* A change that got no answer may still commit. */
		return r == -ETIMEDOUT && apply ? EXIT_UNKNOWN : EXIT_FAILURE;
	if (!json_is_true(json_object_get(reply, "ok"))) {
		r = report_error(what, reply);

		json_decref(reply);
		return r;
	}
	*out = reply;
	return EXIT_SUCCESS;
}

/* ---- commands ------------------------------------------------------------------------------- */

static const char *str_or(json_t *o, const char *key, const char *dflt)
{
	const char *s = json_string_value(json_object_get(o, key));

	return s ? s : dflt;
}

static json_int_t int_of(json_t *o, const char *key)
{
	return json_integer_value(json_object_get(o, key));
}

/* The [ontap] link: only the leader has one; null when [ontap] is not configured. */
static void print_ontap(json_t *o)
{
	json_int_t epoch = int_of(o, "leader_epoch");
	const char *version = str_or(o, "version", NULL), *error = str_or(o, "last_error", NULL);

	if (!json_is_object(o))
		return;
	printf("ONTAP:       %s, SVM %s: ", str_or(o, "address", "?"), str_or(o, "svm", "?"));
	if (epoch == 0)
		printf("not this node's job (only the leader talks to ONTAP)\n");
	else if (error)
		printf("leader (epoch %" JSON_INTEGER_FORMAT ") CANNOT reach it: %s\n", epoch, error);
	else if (version)
		printf("reached by this leader (epoch %" JSON_INTEGER_FORMAT "), ONTAP %s\n", epoch, version);
	else
		printf("leader (epoch %" JSON_INTEGER_FORMAT ") connecting\n", epoch);
}

static void print_status(json_t *st)
{
	json_t *node = json_object_get(st, "node"), *leader = json_object_get(st, "leader");
	json_t *members = json_object_get(st, "members"), *sync = json_object_get(st, "sync");
	json_t *daemon = json_object_get(st, "daemon"), *m;
	bool connected = json_is_true(json_object_get(daemon, "connected"));
	json_int_t self = int_of(node, "id");
	size_t i;

	printf("Node:        %" JSON_INTEGER_FORMAT " (%s)\n", self, str_or(node, "name", "?"));
	printf("Corosync:    %s\n", connected ? "connected" : "NOT CONNECTED (reconnecting)");
	printf("Quorum:      %s, votes %" JSON_INTEGER_FORMAT " of %" JSON_INTEGER_FORMAT " expected\n",
	       json_is_true(json_object_get(st, "quorate")) ? "quorate" : "NOT QUORATE", int_of(st, "votes"),
	       int_of(st, "expected_votes"));
	if (json_is_object(leader))
		printf("Leader:      %" JSON_INTEGER_FORMAT " (%s), epoch %" JSON_INTEGER_FORMAT "%s\n",
		       int_of(leader, "id"), str_or(leader, "name", "?"), int_of(leader, "epoch"),
		       int_of(leader, "id") == self ? " (this node)" : "");
	else
		printf("Leader:      none\n");
	printf("Members:     %zu\n", json_array_size(members));
	json_array_foreach(members, i, m)
		printf("  %-10" JSON_INTEGER_FORMAT " %-24s %s%s%s\n", int_of(m, "id"), str_or(m, "name", "?"),
		       str_or(m, "state", "?"), json_is_true(json_object_get(m, "leader")) ? ", leader" : "",
		       json_is_false(json_object_get(m, "quorate")) ? ", not quorate" : "");
	printf("State:       version %" JSON_INTEGER_FORMAT " (epoch %" JSON_INTEGER_FORMAT ", committed %" JSON_INTEGER_FORMAT ")\n",
	       int_of(st, "state_version"), int_of(st, "state_epoch"), int_of(st, "committed_version"));
	printf("Sync:        %s (round %" JSON_INTEGER_FORMAT ", for %.1fs)\n", str_or(sync, "state", "?"),
	       int_of(sync, "round"), json_number_value(json_object_get(sync, "seconds_in_state")));
	if (json_is_true(json_object_get(sync, "stalled")))
		printf("WARNING:     membership is STALLED: corosync has delivered nothing for %.1fs "
		       "(membership re-forming without completing, e.g. an asymmetric partition); no leader acts\n",
		       json_number_value(json_object_get(sync, "seconds_in_state")));
	if (!connected)
		printf("WARNING:     this daemon is not connected to corosync; it follows no leader\n");
	print_ontap(json_object_get(st, "ontap"));
}

static int cmd_status(struct ctl *ctl, int argc, char **argv)
{
	static const struct option options[] = { { "json", no_argument, NULL, 'j' }, { NULL, 0, NULL, 0 } };
	json_t *reply = NULL, *st;
	bool json = false;
	int c, r;

	optind = 1;
	while ((c = getopt_long(argc, argv, "+j", options, NULL)) >= 0) {
		if (c != 'j')
			return usage_error("status: unknown option");
		json = true;
	}
	if (optind < argc)
		return usage_error("status: unexpected argument '%s'", argv[optind]);
	r = request(ctl, "status", json_pack("{ss}", "cmd", "status"), &reply);
	if (r != EXIT_SUCCESS)
		return r;
	st = json_object_get(reply, "status");
	if (json) {
		json_dumpf(st, stdout, JSON_INDENT(2) | JSON_SORT_KEYS);
		putchar('\n');
	} else
		print_status(st);
	json_decref(reply);
	return EXIT_SUCCESS;
}

/* Reads a spec file, or stdin for "-". Returns 0 with *out (owned, UTF-8 checked later by jansson). */
static int read_spec(const char *path, char **out, size_t *out_len)
{
	_cleanup_fclose_ FILE *f = NULL;
	_cleanup_free_ char *buf = NULL;
	size_t len;

	f = strcmp(path, "-") == 0 ? fdopen(dup(STDIN_FILENO), "r") : fopen(path, "re");
	if (!f) {
		fprintf(stderr, "kvmcctl: cannot open %s: %m\n", path);
		return -errno;
	}
	buf = malloc(MAX_SPEC_FILE + 1);
	if (!buf)
		return -ENOMEM;
	len = fread(buf, 1, MAX_SPEC_FILE + 1, f);
	if (ferror(f)) {
		fprintf(stderr, "kvmcctl: cannot read %s: %m\n", path);
		return -EIO;
	}
	if (len > MAX_SPEC_FILE) {
		fprintf(stderr, "kvmcctl: %s is larger than %u bytes\n", path, MAX_SPEC_FILE);
		return -EFBIG;
	}
	buf[len] = '\0';
	*out = TAKE_PTR(buf);
	*out_len = len;
	return 0;
}

static json_t *spec_request(const char *cmd, const char *path)
{
	_cleanup_free_ char *text = NULL;
	json_t *s;
	size_t len = 0;

	if (read_spec(path, &text, &len) < 0)
		return NULL;
	s = json_stringn(text, len);
	if (!s) {
		fprintf(stderr, "kvmcctl: %s is not UTF-8 text\n", path);
		return NULL;
	}
	return json_pack("{ssso}", "cmd", cmd, "spec_text", s);
}

static int cmd_spec(struct ctl *ctl, int argc, char **argv)
{
	json_t *reply = NULL, *req;
	int r;

	if (argc < 2)
		return usage_error("spec: missing subcommand (get, apply, diff)");
	if (strcmp(argv[1], "get") == 0) {
		if (argc != 2)
			return usage_error("spec get: unexpected argument '%s'", argv[2]);
		r = request(ctl, "spec get", json_pack("{ss}", "cmd", "spec-get"), &reply);
		if (r != EXIT_SUCCESS)
			return r;
		json_dumpf(json_object_get(reply, "spec"), stdout, JSON_INDENT(2) | JSON_SORT_KEYS);
		putchar('\n');
		json_decref(reply);
		return EXIT_SUCCESS;
	}
	if (strcmp(argv[1], "apply") == 0 || strcmp(argv[1], "diff") == 0) {
		bool apply = argv[1][0] == 'a';

		if (argc != 3)
			return usage_error("spec %s: expects exactly one FILE (or - for stdin)", argv[1]);
		req = spec_request(apply ? "spec-apply" : "spec-diff", argv[2]);
		if (!req)
			return EXIT_FAILURE;
		r = request(ctl, apply ? "spec apply" : "spec diff", req, &reply);
		if (r != EXIT_SUCCESS)
			return r;
		if (apply)
			printf("%s\n", str_or(reply, "message", "applied"));
		else {
			const char *diff = str_or(reply, "diff", "");

			/* Like diff(1): nothing at all when there is no difference. */
			if (*diff)
				printf("%s%s", diff, diff[strlen(diff) - 1] == '\n' ? "" : "\n");
		}
		json_decref(reply);
		return EXIT_SUCCESS;
	}
	return usage_error("spec: unknown subcommand '%s' (get, apply, diff)", argv[1]);
}

static int cmd_log(struct ctl *ctl, int argc, char **argv)
{
	json_t *reply = NULL, *line;
	size_t i;
	int r;

	if (argc != 1)
		return usage_error("log: unexpected argument '%s'", argv[1]);
	r = request(ctl, "log", json_pack("{ss}", "cmd", "log"), &reply);
	if (r != EXIT_SUCCESS)
		return r;
	json_array_foreach(json_object_get(reply, "lines"), i, line)
		printf("%s\n", json_string_value(line) ?: "");
	json_decref(reply);
	return EXIT_SUCCESS;
}

static int cmd_ontap(struct ctl *ctl, int argc, char **argv)
{
	static const struct option options[] = {
		{ "json", no_argument, NULL, 'j' }, { "config", required_argument, NULL, 'c' }, { NULL, 0, NULL, 0 },
	};
	bool json = false;
	int c;

	if (argc < 2 || strcmp(argv[1], "check") != 0)
		return usage_error("ontap: unknown or missing subcommand (check)");
	optind = 1;
	argc--, argv++;
	while ((c = getopt_long(argc, argv, "+jc:", options, NULL)) >= 0) {
		if (c == 'j')
			json = true;
		else if (c == 'c')
			ctl->config_path = optarg;
		else
			return usage_error("ontap check: unknown option");
	}
	if (optind < argc)
		return usage_error("ontap check: unexpected argument '%s'", argv[optind]);
	if (load_config(ctl, true) < 0)
		return EXIT_FAILURE;
#ifdef HAVE_ONTAP_CHECK
	return ontap_check_run(&ctl->cfg->ontap, json, stdout);
#else
	(void)json;
	fputs("kvmcctl: this build has no ONTAP client (resources/ontap was not built)\n", stderr);
	return EXIT_FAILURE;
#endif
}

int main(int argc, char **argv)
{
	static const struct option options[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "socket", required_argument, NULL, 's' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	struct ctl ctl = { 0 };
	const char *cmd;
	int c, r;

	/* '+': options end at the command, which parses its own. */
	while ((c = getopt_long(argc, argv, "+c:s:hV", options, NULL)) >= 0) {
		switch (c) {
		case 'c':
			ctl.config_path = optarg;
			break;
		case 's':
			ctl.socket_path = optarg;
			break;
		case 'h':
			usage(stdout);
			return EXIT_SUCCESS;
		case 'V':
			printf("kvmcctl %s\n", KVMCD_VERSION);
			return EXIT_SUCCESS;
		default:
			usage(stderr);
			return EX_USAGE;
		}
	}
	if (ctl.config_path && ctl.socket_path)
		return usage_error("--config and --socket exclude each other");
	if (optind >= argc)
		return usage_error("missing command");
	argc -= optind;
	argv += optind;
	cmd = argv[0];
	if (strcmp(cmd, "status") == 0)
		r = cmd_status(&ctl, argc, argv);
	else if (strcmp(cmd, "spec") == 0)
		r = cmd_spec(&ctl, argc, argv);
	else if (strcmp(cmd, "log") == 0)
		r = cmd_log(&ctl, argc, argv);
	else if (strcmp(cmd, "ontap") == 0)
		r = cmd_ontap(&ctl, argc, argv);
	else
		r = usage_error("unknown command '%s'", cmd);
	config_free(ctl.cfg);
	return r;
}
