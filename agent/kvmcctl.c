/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * kvmcctl: the admin's client for kvmcd's local API (see api-server.h for the wire format).
 *
 * A short-lived, blocking program: one connection, one request, one reply.
 *
 * Exit status -- ONE contract for every command; "changes" are `spec apply` and every verb
 * that will change the cluster (usage() and README.md "Using kvmcctl" print it):
 *   0  done: the change is committed (or was already in place); a read was answered
 *   1  usage error, or another failure here (configuration, memory, an unreadable reply)
 *   2  refused, nothing applied: the spec file was rejected before sending (unreadable, over
 *      SPEC_MAX_BYTES, a NUL byte, a JSON syntax error) or by kvmcd (invalid spec, cluster not
 *      ready, permission, too many API connections), or kvmcd could not be reached or did
 *      not take the whole request
 *   3  outcome unknown: kvmcd took the request but no verdict came back (not committed in
 *      time, kvmcd stopped, or the connection was lost after sending); the change may still
 *      apply -- check `kvmcctl spec get`. For `spec get`: the copy may be stale (this node is
 *      not in a synced quorate view); printed anyway, and --allow-stale makes that 0.
 * The reply's "outcome" decides (exit_of_failure()); from an older daemon without it, the
 * errno does. `datastore remove` is a change: an unknown NAME is refused by kvmcd (2), nothing
 * applied; one removed already is "already in place" (0). So are `vm add|import|start|stop|
 * remove`: an unknown NAME, a VM added twice with another definition, a file or domain that is
 * no VM kvmcd can take (unreadable, not a <domain>, a disk on no datastore) are refused (2),
 * nothing applied; a VM started already, or added again as it is, is "already in place" (0).
 * `vm migrate VM NODE` waits for the migration's end: 0 once NODE owns the VM (or it ran there
 * already), 2 when it is refused (NODE not eligible, the limits) or the migration failed (the VM
 * keeps running where it was; the reason is printed and kept in `vm list`), 3 when no verdict
 * came in time. `node drain|undrain` and `cluster rebalance` return once the leader recorded
 * them (2: refused, e.g. an unknown node).
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/un.h>
#include <syslog.h>
#include <unistd.h>

#include "build-config.h"
#include "config.h"
#include "coord/spec/spec.h"
#include "coord/spec/vm.h"
#include "fencing/dlm-device.h"
#include "macros.h"
#ifdef HAVE_ONTAP_CHECK
#include <dlfcn.h>
#include <limits.h>

#include "ontap-module.h"
#include "resources/ontap/ontap-check.h"
#endif

#define DEFAULT_CONFIG KVMCD_SYSCONFDIR "/kvmcd/kvmcd.conf"
#define MAX_REPLY (512u * 1024u * 1024u)
#define SEND_TIMEOUT_MS 30000u /* to connect (a full backlog) and for each send() */

enum {
	EXIT_DONE = 0,
	EXIT_OTHER = 1,
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
		"  spec get [--allow-stale] print the cluster spec (JSON)\n"
		"  spec apply FILE|-        replace the spec; prints \"applied: version N\"\n"
		"  spec diff FILE|-         show what `spec apply` would change\n"
		"  log                      dump kvmcd's recent log lines (all levels)\n"
		"  records [PREFIX]         the leader's records this node holds (JSON; those whose key\n"
		"                           starts with PREFIX: ds/, vm/, prot/, mirror/, fence/, ...)\n"
		"  metrics                  the Prometheus metrics ([metrics] listen serves the same)\n"
		"  ontap check [--peer] [--config FILE] [--json]\n"
		"                           check the ONTAP connection configured in [ontap]\n"
		"  datastore list [--json]  every datastore: ONTAP state, hosts ready\n"
		"  datastore show NAME [--json]\n"
		"                           its ONTAP objects and, per node, device, mount, pool, error\n"
		"  datastore remove NAME [--destroy-data]\n"
		"                           take it out of the spec: detached from every node; its ONTAP\n"
		"                           volume (the data) is kept, or with --destroy-data destroyed\n"
		"                           once every node has detached it\n"
		"  datastore clone DATASTORE SNAPSHOT NEW\n"
		"                           a new datastore NEW: a FlexClone of DATASTORE at SNAPSHOT,\n"
		"                           attached, mounted and pooled on every node beside its parent\n"
		"  datastore split NAME     split the clone NAME from its parent on ONTAP (it stays in use;\n"
		"                           the parent's snapshot is no longer busy afterwards)\n"
		"  pool verify              exit 0 only if every node's pool is identical and active\n"
		"  preflight [--json] [--protocol P[,P]] [--fs F[,F]]\n"
		"                           can every node run the spec's datastores (and P, F)? per node\n"
		"                           the packages (named for its distribution), kernel modules,\n"
		"                           initiator name and host NQN (present, unique), libvirtd; the\n"
		"                           SVM's side; exit 0 only when no check failed, 1 when one did\n"
		"  vm list [--json]         every VM: running|stopped|migrating|paused|waiting|error, its node, why\n"
		"  vm show NAME [--json]    one VM: its record and what every node's libvirtd reports\n"
		"  vm add FILE.xml [--stopped] [--prefer N1,N2] [--avoid N1,N2] [--anti-affinity VM1,VM2]\n"
		"         [--affinity VM1,VM2] [--no-ha] [--priority N]\n"
		"                           add the VM the libvirt domain XML defines (named by its <name>)\n"
		"                           to the spec; its disks must be on the spec's datastores\n"
		"  vm import NAME [options of vm add]\n"
		"                           the same with this node's libvirt domain NAME's definition\n"
		"  vm start NAME | vm stop NAME\n"
		"                           set the VM's state in the spec (kvmcd runs it or shuts it down)\n"
		"  vm remove NAME           take the VM out of the spec (its disks stay on the datastore)\n"
		"  vm migrate VM NODE [--max-downtime MS]\n"
		"                           live-migrate the running VM to NODE; returns when NODE owns it,\n"
		"                           or why not (it then keeps running where it was)\n"
		"  vm resume NAME [--force] resume a paused VM on its owner once its storage answers again\n"
		"                           (--force: without checking); refused when it is not paused\n"
		"  node list [--json]       every node: member, drained / maintenance, capacity, use, VMs\n"
		"  node drain NODE          live-migrate everything off NODE and keep new VMs away (kept\n"
		"                           across restarts: maintenance once nothing runs there)\n"
		"  node undrain NODE        NODE takes VMs again (running VMs are not moved back)\n"
		"  node unfence NODE        give a node whose fence is confirmed and that is back its storage\n"
		"                           access and its place in placement (the operator's word that it\n"
		"                           runs nothing it does not own)\n"
		"  fence history [--json]   the fences in force and the last changes (HA, issue 9)\n"
		"  fence wait NODE [--timeout SECONDS] [--since EPOCH_SECONDS] [--json]\n"
		"                           wait until NODE (a name or a corosync node id) is fenced: 0 once\n"
		"                           its fence is confirmed, 3 when the time runs out first\n"
		"  fence dlm-device         dlm_controld's fence device (also run as fence_kvmcd): key=value\n"
		"                           lines on stdin, node=ID; exit 0 once kvmcd confirmed its fence\n"
		"  ha disarm | ha arm       no fencing and no recovery while disarmed (maintenance windows)\n"
		"  snapshot list [DATASTORE] [--json]\n"
		"                           the snapshots the leader last listed on ONTAP, kvmcd's with their\n"
		"                           policy, label and slot\n"
		"  snapshot create POLICY   an on-demand snapshot of POLICY's datastores now (named\n"
		"                           kvmcd.POLICY.ondemand.TIME: never a slot's, never retention's)\n"
		"  snapshot delete NAME     delete kvmcd's snapshot NAME on every datastore that has it\n"
		"  snapshot restore DATASTORE SNAPSHOT [--stop-vms [--leave-stopped]]\n"
		"                           revert DATASTORE to SNAPSHOT: every node takes it down, the\n"
		"                           leader restores the volume, every node brings it back; refused\n"
		"                           while its VMs run, unless --stop-vms (they are started again\n"
		"                           once it is back on every node, unless --leave-stopped)\n"
		"  snapshot restore-status [--json]\n"
		"                           each datastore's last restore: down, restoring, done, failed\n"
		"  protection status [--json]\n"
		"                           per policy: last snapshot, next due, health, errors, SnapMirror\n"
		"                           (state, lag against the RPO)\n"
		"  dr status [DATASTORE] [--json]\n"
		"                           per datastore with SnapMirror: relationship state, health, lag,\n"
		"                           RPO, last transfer, whether it is failed over\n"
		"  dr failover DATASTORE    quiesce and break its SnapMirror: the destination volume becomes\n"
		"                           writable (refused while a transfer runs, before initialization)\n"
		"  dr resync DATASTORE      after a failover: the destination follows the source again\n"
		"  cluster rebalance [--dry-run]\n"
		"                           live-migrate VMs that break a rule, are not on their preferred\n"
		"                           node, or for load; --dry-run prints the plan only\n"
		"\n"
		"Options:\n"
		"  -c, --config FILE   read the socket path from FILE (default %s)\n"
		"  -s, --socket PATH   talk to the daemon at PATH\n"
		"\n"
		"Exit status (every command; a change is `spec apply`, `datastore remove`, a `vm` verb, `node\n"
		"drain|undrain` or `cluster rebalance`):\n"
		"  0  done: the change is committed (or was already in place); a read was answered\n"
		"  1  usage error, or another failure here (configuration, memory, unreadable reply)\n"
		"  2  refused, nothing applied: the spec file was rejected (unreadable, over 64 MiB,\n"
		"     a NUL byte, a JSON syntax error: FILE:LINE:COLUMN) or kvmcd refused it (invalid\n"
		"     spec; cluster not ready: not connected, not quorate, no leader, stalled; permission;\n"
		"     too many API connections), or kvmcd could not be reached; fix or wait, then retry\n"
		"  3  outcome unknown: kvmcd took the change but no verdict came back (not committed in\n"
		"     time, kvmcd stopped or died, connection lost); it may still apply: check\n"
		"     `kvmcctl spec get`. For `spec get`: this node's copy may be stale (it is not in a\n"
		"     synced quorate view); the spec is printed with a warning, --allow-stale exits 0\n",
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
	return EXIT_OTHER;
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

static void set_timeout(int fd, int opt, unsigned ms)
{
	struct timeval tv = { .tv_sec = ms / 1000, .tv_usec = (ms % 1000) * 1000 };

	(void)setsockopt(fd, SOL_SOCKET, opt, &tv, sizeof(tv));
}

/*
 * One exchange (api-server.h): the header line, the body (when body is not NULL), then one
 * reply line. Returns 0 with the reply object in *out (owned), or a negative errno after
 * printing why. *sent says whether the whole request left: only then may kvmcd act on it.
 */
static int call(struct ctl *ctl, const json_t *header, const char *body, size_t body_len, unsigned timeout_ms,
		json_t **out, bool *sent)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	_cleanup_close_ int fd = -1;
	_cleanup_free_ char *text = NULL, *buf = NULL;
	size_t len = 0, cap = 0;
	char *nl = NULL;
	json_error_t jerr;
	json_t *reply;
	int r, send_err = 0, read_err = 0;

	*sent = false;
	if (strlen(ctl->socket_path) >= sizeof(sa.sun_path)) {
		fprintf(stderr, "kvmcctl: socket path too long: %s\n", ctl->socket_path);
		return -ENAMETOOLONG;
	}
	memcpy(sa.sun_path, ctl->socket_path, strlen(ctl->socket_path));
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd >= 0)
		set_timeout(fd, SO_SNDTIMEO, SEND_TIMEOUT_MS); /* also bounds connect() on a full backlog */
	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		r = -errno;
		if (r == -EAGAIN)
			fprintf(stderr, "kvmcctl: kvmcd at %s accepts no connections within %us (busy or stuck); nothing sent\n",
				ctl->socket_path, SEND_TIMEOUT_MS / 1000);
		else
			fprintf(stderr, "kvmcctl: cannot reach kvmcd at %s: %s (%s)\n", ctl->socket_path, strerror(-r),
				r == -EACCES ? "only root and members of the [api] group may use it" : "is kvmcd running?");
		return r;
	}
	text = json_dumps(header, JSON_COMPACT);
	if (!text)
		return -ENOMEM;
	r = write_all(fd, text, strlen(text));
	if (r == 0)
		r = write_all(fd, "\n", 1);
	if (r == 0 && body)
		r = write_all(fd, body, body_len);
	if (r == 0) {
		*sent = true;
		(void)shutdown(fd, SHUT_WR);
	} else if (r == -EAGAIN) {
		fprintf(stderr, "kvmcctl: kvmcd at %s did not take the request within %us; nothing applied\n",
			ctl->socket_path, SEND_TIMEOUT_MS / 1000);
		return -ETIMEDOUT;
	} else
		send_err = r; /* kvmcd may have refused and closed: its answer is still there to read */

	set_timeout(fd, SO_RCVTIMEO, timeout_ms);
	/* One line; kvmcd closes after it (a refused client may see ECONNRESET after the line). */
	while (!nl) {
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
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			read_err = errno == EAGAIN ? -ETIMEDOUT : -errno;
			break;
		}
		if (n == 0)
			break;
		nl = memchr(buf + len, '\n', (size_t)n);
		len += (size_t)n;
	}
	if (!nl) {
		if (send_err) {
			fprintf(stderr, "kvmcctl: kvmcd at %s closed the connection before taking the whole request (%s); nothing applied\n",
				ctl->socket_path, strerror(-send_err));
			return send_err;
		}
		if (read_err == -ETIMEDOUT) {
			fprintf(stderr, "kvmcctl: kvmcd at %s did not answer within %us\n", ctl->socket_path,
				timeout_ms / 1000);
			return -ETIMEDOUT;
		}
		fprintf(stderr, "kvmcctl: kvmcd at %s %s after taking the request, without answering (did it stop or die?)\n",
			ctl->socket_path, read_err ? strerror(-read_err) : "closed the connection");
		return -ECONNRESET;
	}
	*sent = true; /* whatever happened to our sending, kvmcd answered the request */
	reply = json_loadb(buf, (size_t)(nl - buf), 0, &jerr);
	if (!json_is_object(reply)) {
		json_decref(reply);
		fprintf(stderr, "kvmcctl: kvmcd sent an unreadable reply: %s\n", jerr.text);
		return -EBADMSG;
	}
	*out = reply;
	return 0;
}

/* A {"ok":false} reply's exit status: its "outcome", or for an older daemon its errno. */
static int exit_of_failure(json_t *reply)
{
	const char *outcome = json_string_value(json_object_get(reply, "outcome"));
	const char *error = json_string_value(json_object_get(reply, "error"));

	if (outcome)
		return strcmp(outcome, "refused") == 0 ? EXIT_REFUSED : EXIT_UNKNOWN;
	switch ((int)json_integer_value(json_object_get(reply, "errno"))) {
	case EINVAL:     /* invalid spec or request */
	case EMSGSIZE:   /* too large */
	case EBUSY:      /* too many API connections, too many specs in flight */
	case EMFILE:     /* too many API connections (descriptors short) */
	case EACCES:     /* permission */
	case ESHUTDOWN:  /* kvmcd stopping after a fatal error */
	case EOPNOTSUPP: /* unknown command */
		return EXIT_REFUSED;
	case EAGAIN:
	case ENOTCONN:
		/* The core says "refused: ..." when it turns a change away before sending it; the same
		 * errnos for a change that failed after it went out (quorum or corosync lost) do not,
		 * and that one may still commit elsewhere. */
		return error && strncmp(error, "refused", 7) == 0 ? EXIT_REFUSED : EXIT_UNKNOWN;
	case ETIMEDOUT:
	case ECANCELED:
		return EXIT_UNKNOWN;
	default:
		return EXIT_OTHER;
	}
}

/* Prints a {"ok":false} reply and maps it to an exit status. */
static int report_error(const char *what, json_t *reply, bool change)
{
	const char *error = json_string_value(json_object_get(reply, "error"));
	json_t *problems = json_object_get(reply, "problems"), *item;
	int code = exit_of_failure(reply);
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
	if (change && code == EXIT_UNKNOWN && !(error && strstr(error, "kvmcctl ")))
		fputs("kvmcctl: outcome unknown: the change may still apply; check `kvmcctl spec get`\n", stderr);
	return code;
}

/*
 * Runs one request (header taken; body borrowed, NULL for none). On success *out is the reply
 * (owned) and the result EXIT_DONE; otherwise the exit status, already explained.
 */
static int request_timed(struct ctl *ctl, const char *what, bool change, json_t *header, const char *body,
			 size_t body_len, unsigned timeout_ms, json_t **out)
{
	json_t *reply = NULL;
	bool sent = false;
	int r;

	if (!header) {
		fputs("kvmcctl: out of memory\n", stderr);
		return EXIT_OTHER;
	}
	if (resolve_socket(ctl) < 0) {
		json_decref(header);
		return EXIT_OTHER;
	}
	r = call(ctl, header, body, body_len, timeout_ms ? timeout_ms : answer_timeout_ms(ctl, change), &reply, &sent);
	json_decref(header);
	if (r < 0) {
		if (!sent)
			return r == -ENOMEM ? EXIT_OTHER : EXIT_REFUSED; /* kvmcd cannot have acted on it */
		if (!change)
			return EXIT_OTHER;
		fprintf(stderr, "kvmcctl: %s: outcome unknown: the change may or may not apply; check `kvmcctl spec get`\n", what);
		return EXIT_UNKNOWN;
	}
	if (!json_is_true(json_object_get(reply, "ok"))) {
		r = report_error(what, reply, change);
		json_decref(reply);
		return r;
	}
	*out = reply;
	return EXIT_DONE;
}

static int request(struct ctl *ctl, const char *what, bool change, json_t *header, const char *body, size_t body_len,
		   json_t **out)
{
	return request_timed(ctl, what, change, header, body, body_len, 0, out);
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
	/* [ontap_peer]: the SnapMirror destination cluster, reached by the leader too */
	json_t *peer = json_object_get(o, "peer");
	if (json_is_object(peer)) {
		const char *pv = str_or(peer, "version", NULL), *pe = str_or(peer, "last_error", NULL);

		printf("ONTAP peer:  cluster %s at %s: ", str_or(peer, "cluster", "?"), str_or(peer, "address", "?"));
		if (epoch == 0)
			printf("not this node's job\n");
		else if (pe)
			printf("this leader CANNOT reach it: %s\n", pe);
		else if (pv)
			printf("reached by this leader, ONTAP %s\n", pv);
		else
			printf("%s\n", json_is_true(json_object_get(peer, "client_loaded")) ? "connecting" : "not connected yet");
	}
}

static void print_status(json_t *st)
{
	json_t *node = json_object_get(st, "node"), *leader = json_object_get(st, "leader");
	json_t *members = json_object_get(st, "members"), *sync = json_object_get(st, "sync");
	json_t *daemon = json_object_get(st, "daemon"), *m;
	bool connected = json_is_true(json_object_get(daemon, "connected"));
	const char *cluster = str_or(st, "cluster_id", ""), *why = str_or(st, "no_leader_reason", "");
	json_int_t self = int_of(node, "id");
	size_t i;

	if (*cluster)
		printf("Cluster:     %s\n", cluster);
	printf("Node:        %" JSON_INTEGER_FORMAT " (%s)\n", self, str_or(node, "name", "?"));
	printf("Corosync:    %s\n", connected ? "connected" : "NOT CONNECTED (reconnecting)");
	printf("Quorum:      %s, votes %" JSON_INTEGER_FORMAT " of %" JSON_INTEGER_FORMAT " expected\n",
	       json_is_true(json_object_get(st, "quorate")) ? "quorate" : "NOT QUORATE", int_of(st, "votes"),
	       int_of(st, "expected_votes"));
	if (json_is_object(leader))
		printf("Leader:      %" JSON_INTEGER_FORMAT " (%s), epoch %" JSON_INTEGER_FORMAT "%s\n",
		       int_of(leader, "id"), str_or(leader, "name", "?"), int_of(leader, "epoch"),
		       int_of(leader, "id") == self ? " (this node)" : "");
	else if (*why)
		printf("Leader:      none (%s)\n", why);
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
	{
		json_t *removed = json_object_get(json_object_get(st, "datastores"), "removed"), *x;
		json_array_foreach(removed, i, x) {
			const char *state = str_or(x, "state", "?"), *wait = str_or(json_object_get(x, "ontap"), "blocked", NULL);
			if (!strcmp(state, "destroyed"))
				continue; /* done as asked; `datastore list` still names it */
			printf("Removed:     datastore %s: %s%s%s\n", str_or(x, "name", "?"),
			       !strcmp(state, "kept") ? "its volume and data are KEPT on ONTAP" :
			       !strcmp(state, "destroying") ? "its volume is being DESTROYED (--destroy-data)" :
							     "being detached; its volume and data will be kept",
			       wait ? ": " : "", wait ? wait : "");
		}
	}
	{
		json_t *errors = json_object_get(json_object_get(st, "datastores"), "ontap_errors"), *x;
		json_array_foreach(errors, i, x) {
			const char *ds = str_or(x, "datastore", "");
			if (*ds)
				printf("ERROR:       datastore %s on ONTAP: %s (the leader retries)\n", ds, str_or(x, "error", "?"));
			else
				printf("ERROR:       datastores on ONTAP: %s (the leader retries)\n", str_or(x, "error", "?"));
		}
	}
	{
		json_t *blocked = json_object_get(json_object_get(st, "datastores"), "blocked_nodes"), *whys, *x;
		const char *who;
		json_object_foreach(blocked, who, whys)
			json_array_foreach(whys, i, x)
				printf("ERROR:       node %s is kept off the array: %s\n", who, json_string_value(x) ?: "?");
	}
	{
		json_t *dups = json_object_get(json_object_get(st, "datastores"), "duplicate_initiators"), *x;
		json_array_foreach(dups, i, x) {
			_cleanup_free_ char *nodes = json_dumps(json_object_get(x, "nodes"), JSON_COMPACT);
			printf("ERROR:       %s %s is on several nodes %s (cloned hosts?): the array cannot tell them apart; give each host its own\n",
			       str_or(x, "kind", "?"), str_or(x, "value", "?"), nodes ? nodes : "?");
		}
	}
	{
		/* issue 9: fencing state; disarmed is said loudly */
		json_t *ha = json_object_get(st, "ha"), *f;
		const char *who;
		if (json_is_false(json_object_get(ha, "armed")))
			printf("WARNING:     HA IS DISARMED: no fencing and no recovery until `kvmcctl ha arm`\n");
		if (str_or(ha, "error", NULL))
			printf("WARNING:     HA: %s\n", str_or(ha, "error", ""));
		json_object_foreach(json_object_get(ha, "fences"), who, f)
			printf("%s node %s: fence %s%s%s%s\n", !strcmp(str_or(f, "status", ""), "failed") ? "ERROR:      " : "Fence:      ",
			       who, str_or(f, "status", "?"), str_or(f, "method", NULL) ? " (" : "", str_or(f, "method", ""),
			       str_or(f, "method", NULL) ? ")" : "");
	}
	{
		/* issue 10: SnapMirror RPO breaches, errors, failed-over relationships */
		json_t *w = json_object_get(json_object_get(st, "mirror"), "warnings"), *x;
		json_array_foreach(w, i, x)
			printf("WARNING:     %s\n", json_string_value(x) ?: "?");
	}
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
	r = request(ctl, "status", false, json_pack("{ss}", "cmd", "status"), NULL, 0, &reply);
	if (r != EXIT_DONE)
		return r;
	st = json_object_get(reply, "status");
	if (json) {
		json_dumpf(st, stdout, JSON_INDENT(2) | JSON_SORT_KEYS);
		putchar('\n');
	} else
		print_status(st);
	json_decref(reply);
	return EXIT_DONE;
}

/*
 * Reads the spec FILE (stdin for "-") and checks here what can be checked here, so the admin
 * hears about the file, not about the request: its size, NUL bytes, JSON syntax (reported as
 * FILE:LINE:COLUMN: message, from the same jansson parse kvmcd does). Returns 0 with *out
 * (owned) and *out_len, or an exit status after saying why.
 */
static int load_spec(const char *path, char **out, size_t *out_len)
{
	const char *name = strcmp(path, "-") == 0 ? "<stdin>" : path;
	_cleanup_close_ int fd = -1;
	_cleanup_free_ char *buf = NULL;
	size_t len = 0, cap = 0;
	json_error_t jerr;
	struct stat st;
	json_t *doc;
	char *nul;

	fd = strcmp(path, "-") == 0 ? fcntl(STDIN_FILENO, F_DUPFD_CLOEXEC, 3) : open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		fprintf(stderr, "kvmcctl: cannot open %s: %m; nothing sent\n", name);
		return EXIT_REFUSED;
	}
	if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_size > (off_t)SPEC_MAX_BYTES) {
		fprintf(stderr, "kvmcctl: %s is %jd bytes; a spec may be at most %u bytes (64 MiB); nothing sent\n", name,
			(intmax_t)st.st_size, SPEC_MAX_BYTES);
		return EXIT_REFUSED;
	}
	for (;;) {
		ssize_t n;

		if (len == cap) {
			char *p;

			if (cap > SPEC_MAX_BYTES) {
				fprintf(stderr, "kvmcctl: %s is more than %u bytes; a spec may be at most %u bytes (64 MiB); nothing sent\n",
					name, SPEC_MAX_BYTES, SPEC_MAX_BYTES);
				return EXIT_REFUSED;
			}
			cap = cap ? cap * 2 : 65536;
			if (cap > SPEC_MAX_BYTES + 1u)
				cap = SPEC_MAX_BYTES + 1u;
			p = realloc(buf, cap);
			if (!p) {
				fputs("kvmcctl: out of memory\n", stderr);
				return EXIT_OTHER;
			}
			buf = p;
		}
		n = read(fd, buf + len, cap - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			fprintf(stderr, "kvmcctl: cannot read %s: %m; nothing sent\n", name);
			return EXIT_REFUSED;
		}
		if (n == 0)
			break;
		len += (size_t)n;
	}
	if (len > SPEC_MAX_BYTES) {
		fprintf(stderr, "kvmcctl: %s is more than %u bytes; a spec may be at most %u bytes (64 MiB); nothing sent\n",
			name, SPEC_MAX_BYTES, SPEC_MAX_BYTES);
		return EXIT_REFUSED;
	}
	nul = len ? memchr(buf, '\0', len) : NULL;
	if (nul) {
		fprintf(stderr, "%s: byte %zu is a NUL byte; a spec is JSON text\n", name, (size_t)(nul - buf));
		return EXIT_REFUSED;
	}
	/* The flags of spec_parse(): what passes here, kvmcd parses too. */
	doc = json_loadb(buf ? buf : "", len, JSON_REJECT_DUPLICATES, &jerr);
	if (!doc) {
		fprintf(stderr, "%s:%d:%d: %s\n", name, jerr.line, jerr.column, jerr.text);
		return EXIT_REFUSED;
	}
	json_decref(doc);
	*out = TAKE_PTR(buf);
	*out_len = len;
	return 0;
}

static int cmd_spec_get(struct ctl *ctl, int argc, char **argv)
{
	static const struct option options[] = { { "allow-stale", no_argument, NULL, 'a' }, { NULL, 0, NULL, 0 } };
	json_t *reply = NULL;
	bool allow_stale = false;
	int c, r;

	optind = 1;
	while ((c = getopt_long(argc, argv, "+", options, NULL)) >= 0) {
		if (c != 'a')
			return usage_error("spec get: unknown option");
		allow_stale = true;
	}
	if (optind < argc)
		return usage_error("spec get: unexpected argument '%s'", argv[optind]);
	r = request(ctl, "spec get", false, json_pack("{ss}", "cmd", "spec-get"), NULL, 0, &reply);
	if (r != EXIT_DONE)
		return r;
	json_dumpf(json_object_get(reply, "spec"), stdout, JSON_INDENT(2) | JSON_SORT_KEYS);
	putchar('\n');
	fflush(stdout);
	/* An older daemon says nothing about it: then as before. */
	if (json_is_false(json_object_get(reply, "current"))) {
		fprintf(stderr, "kvmcctl: warning: this node's copy of the spec (version %" JSON_INTEGER_FORMAT ") may be stale: %s\n",
			int_of(reply, "version"), str_or(reply, "why_not_current", "this node is not in a synced quorate view"));
		if (!allow_stale) {
			fputs("kvmcctl: exit status 3; --allow-stale accepts a possibly stale copy\n", stderr);
			r = EXIT_UNKNOWN;
		}
	}
	json_decref(reply);
	return r;
}

static int cmd_spec(struct ctl *ctl, int argc, char **argv)
{
	_cleanup_free_ char *text = NULL;
	json_t *reply = NULL;
	size_t len = 0;
	bool apply;
	int r;

	if (argc < 2)
		return usage_error("spec: missing subcommand (get, apply, diff)");
	if (strcmp(argv[1], "get") == 0)
		return cmd_spec_get(ctl, argc - 1, argv + 1);
	if (strcmp(argv[1], "apply") != 0 && strcmp(argv[1], "diff") != 0)
		return usage_error("spec: unknown subcommand '%s' (get, apply, diff)", argv[1]);
	apply = argv[1][0] == 'a';
	if (argc != 3)
		return usage_error("spec %s: expects exactly one FILE (or - for stdin)", argv[1]);
	r = load_spec(argv[2], &text, &len);
	if (r != 0)
		return r;
	r = request(ctl, apply ? "spec apply" : "spec diff", apply,
		    json_pack("{sssI}", "cmd", apply ? "spec-apply" : "spec-diff", "spec_length", (json_int_t)len),
		    text ? text : "", len, &reply);
	if (r != EXIT_DONE)
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
	return EXIT_DONE;
}

/* kvmcctl records [PREFIX]: the leader's records this node holds, as JSON (read-only). */
static int cmd_records(struct ctl *ctl, int argc, char **argv)
{
	json_t *reply = NULL, *req;
	int r;

	if (argc > 2)
		return usage_error("records: unexpected argument '%s'", argv[2]);
	req = json_pack("{ss}", "cmd", "records");
	if (req && argc == 2)
		json_object_set_new(req, "prefix", json_string(argv[1]));
	r = request(ctl, "records", false, req, NULL, 0, &reply);
	if (r != EXIT_DONE)
		return r;
	json_dumpf(json_object_get(reply, "records"), stdout, JSON_INDENT(2) | JSON_SORT_KEYS);
	putchar('\n');
	fflush(stdout);
	if (json_is_false(json_object_get(reply, "current")))
		fprintf(stderr, "kvmcctl: warning: this node's copy of the records (version %" JSON_INTEGER_FORMAT
			") may be stale: %s\n", int_of(reply, "version"),
			str_or(reply, "why_not_current", "this node is not in a synced quorate view"));
	json_decref(reply);
	return r;
}

static int cmd_log(struct ctl *ctl, int argc, char **argv)
{
	json_t *reply = NULL, *line;
	size_t i;
	int r;

	if (argc != 1)
		return usage_error("log: unexpected argument '%s'", argv[1]);
	r = request(ctl, "log", false, json_pack("{ss}", "cmd", "log"), NULL, 0, &reply);
	if (r != EXIT_DONE)
		return r;
	json_array_foreach(json_object_get(reply, "lines"), i, line)
		printf("%s\n", json_string_value(line) ?: "");
	json_decref(reply);
	return EXIT_DONE;
}

static int cmd_metrics(struct ctl *ctl, int argc, char **argv)
{
	json_t *reply = NULL;
	int r;

	if (argc != 1)
		return usage_error("metrics: unexpected argument '%s'", argv[1]);
	r = request(ctl, "metrics", false, json_pack("{ss}", "cmd", "metrics"), NULL, 0, &reply);
	if (r != EXIT_DONE)
		return r;
	fputs(json_string_value(json_object_get(reply, "text")) ?: "", stdout);
	json_decref(reply);
	return EXIT_DONE;
}

static int cmd_ontap(struct ctl *ctl, int argc, char **argv)
{
	static const struct option options[] = {
		{ "json", no_argument, NULL, 'j' }, { "config", required_argument, NULL, 'c' },
		{ "peer", no_argument, NULL, 'p' }, { NULL, 0, NULL, 0 },
	};
	bool json = false, peer = false;
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
		else if (c == 'p')
			peer = true;
		else
			return usage_error("ontap check: unknown option");
	}
	if (optind < argc)
		return usage_error("ontap check: unexpected argument '%s'", argv[optind]);
	if (load_config(ctl, true) < 0)
		return EXIT_OTHER;
	if (peer && !ctl->cfg->ontap_peer.cluster) {
		fprintf(stderr, "kvmcctl: ontap check --peer: %s has no [ontap_peer] section (the SnapMirror destination "
			"cluster's connection)\n", ctl->cfg->path ? ctl->cfg->path : "the configuration");
		return EXIT_OTHER;
	}
#ifdef HAVE_ONTAP_CHECK
	{
		/* the check lives in the ONTAP module (ontap-module.h): kvmcctl itself does not link
		 * libcurl, which would cost every other command its start-up time */
		_cleanup_free_ char *error = NULL;
		char path[PATH_MAX];
		typeof(ontap_check_run) *check;
		void *h;

		if (ontap_module_open(&h, path, &error) < 0) {
			fprintf(stderr, "kvmcctl: %s\n", error ? error : "cannot load the ONTAP client module");
			return EXIT_OTHER;
		}
		*(void **)&check = dlsym(h, "ontap_check_run");
		if (!check) {
			fprintf(stderr, "kvmcctl: the ONTAP client module %s lacks ontap_check_run\n", path);
			return EXIT_OTHER;
		}
		return peer ? check(&ctl->cfg->ontap_peer.ontap, ctl->cfg->ontap_peer.cluster, json, stdout)
			    : check(&ctl->cfg->ontap, NULL, json, stdout);
	}
#else
	(void)json;
	fputs("kvmcctl: this build has no ONTAP client (resources/ontap was not built)\n", stderr);
	return EXIT_OTHER;
#endif
}

/* ---- datastores ------------------------------------------------------------------------------ */

static const char *node_ready(json_t *n)
{
	const char *err = str_or(n, "error", NULL);

	if (err)
		return err;
	if (json_is_true(json_object_get(n, "pool_active")))
		return "ready";
	return str_or(n, "step", "?");
}

static void print_datastore(json_t *ds, bool detail)
{
	json_t *ontap = json_object_get(ds, "ontap"), *nodes = json_object_get(ds, "nodes"), *n;
	const char *k, *blocked = str_or(ontap, "blocked", NULL);
	size_t ready = 0;

	json_object_foreach(nodes, k, n)
		ready += json_is_true(json_object_get(n, "pool_active"));
	if (!blocked)
		blocked = str_or(ontap, "error", NULL); /* an ONTAP operation of it fails: the leader retries */
	if (!detail) {
		/* the size as the spec gives it: "100G" without JSON's quotes, or the bytes */
		const json_t *sz = json_object_get(ds, "size");
		_cleanup_free_ char *size = json_is_string(sz) ? strdup(json_string_value(sz))
							       : json_dumps(sz, JSON_ENCODE_ANY);
		if (json_is_true(json_object_get(ds, "removed"))) {
			size_t attached = 0;
			json_object_foreach(nodes, k, n)
				attached += json_is_true(json_object_get(n, "attached"));
			printf("%-20s %-9s %-14s %-9s removed, %zu node%s still attached%s%s\n", str_or(ds, "name", "?"),
			       str_or(ds, "protocol", "-"), "-", str_or(ds, "state", "?"), attached, attached == 1 ? "" : "s",
			       blocked ? ": " : "", blocked ? blocked : "");
			return;
		}
		printf("%-20s %-9s %-14s %-9s %zu/%zu nodes ready%s%s\n", str_or(ds, "name", "?"),
		       str_or(ds, "protocol", "?"), size ? size : "?",
		       !json_is_object(ontap) ? "pending" : json_is_true(json_object_get(ontap, "ready")) ? "ready" : "blocked",
		       ready, json_object_size(nodes), blocked ? ": " : "", blocked ? blocked : "");
		return;
	}
	printf("Datastore:   %s (%s%s%s)\n", str_or(ds, "name", "?"), str_or(ds, "protocol", "?"),
	       str_or(ds, "fs", NULL) ? ", " : "", str_or(ds, "fs", ""));
	if (json_is_true(json_object_get(ds, "removed"))) {
		const char *state = str_or(ds, "state", "?");
		printf("             removed from the spec; %s\n",
		       !strcmp(state, "kept") ? "its volume and data are KEPT on ONTAP" :
		       !strcmp(state, "destroying") ? "its volume will be DESTROYED once every node has detached it (--destroy-data)" :
		       !strcmp(state, "destroyed") ? "its volume is destroyed (--destroy-data)" :
						     "being detached from every node; its volume and data will be kept");
		if (!json_is_object(ontap))
			return;
		printf("ONTAP:       volume %s%s%s\n", str_or(ontap, "volume", "?"), blocked ? ", " : "", blocked ? blocked : "");
		printf("Nodes:%s\n", json_object_size(nodes) ? "" : "       none has it attached");
		json_object_foreach(nodes, k, n)
			printf("  %-16s attached:%-3s mounted:%-3s %s\n", k, json_is_true(json_object_get(n, "attached")) ? "yes" : "no",
			       json_is_true(json_object_get(n, "mounted")) ? "yes" : "no", node_ready(n));
		return;
	}
	if (!json_is_object(ontap)) {
		printf("ONTAP:       not provisioned yet (the leader works on it)\n");
	} else {
		printf("ONTAP:       volume %s, %s\n", str_or(ontap, "volume", "?"),
		       blocked ? blocked : json_is_true(json_object_get(ontap, "ready")) ? "ready" : "in progress");
		if (str_or(ontap, "lun_serial", NULL))
			printf("             LUN serial %s, target %s\n", str_or(ontap, "lun_serial", ""),
			       str_or(ontap, "target_iqn", "-"));
		if (str_or(ontap, "ns_uuid", NULL))
			printf("             namespace %s in %s\n", str_or(ontap, "ns_uuid", ""), str_or(ontap, "subsystem_nqn", "?"));
		if (str_or(ontap, "export_path", NULL))
			printf("             export %s\n", str_or(ontap, "export_path", ""));
		if (json_is_object(json_object_get(ontap, "clone"))) {
			json_t *cl = json_object_get(ontap, "clone");
			const char *st = str_or(cl, "state", "unknown");

			printf("             clone of %s at %s: %s\n", str_or(cl, "parent", "?"), str_or(cl, "snapshot", "?"),
			       !strcmp(st, "flexclone") ? "a FlexClone (the parent's snapshot is busy; `datastore split` frees it)"
			       : !strcmp(st, "splitting") ? "being split from its parent"
			       : !strcmp(st, "split") ? "split from its parent (a volume of its own)" : st);
		}
	}
	printf("Nodes:\n");
	json_object_foreach(nodes, k, n)
		printf("  %-16s attached:%-3s mounted:%-3s pool:%-8s %s\n", k,
		       json_is_true(json_object_get(n, "attached")) ? "yes" : "no",
		       json_is_true(json_object_get(n, "mounted")) ? "yes" : "no",
		       json_is_true(json_object_get(n, "pool_active")) ? "active" : "-", node_ready(n));
}

static int datastores_get(struct ctl *ctl, const char *what, json_t **list)
{
	json_t *reply = NULL;
	int r = request(ctl, what, false, json_pack("{ss}", "cmd", "datastore-list"), NULL, 0, &reply);

	if (r != EXIT_DONE)
		return r;
	*list = json_incref(json_object_get(reply, "datastores"));
	json_decref(reply);
	return EXIT_DONE;
}

/*
 * kvmcctl datastore remove NAME [--destroy-data]: a change, through kvmcd's spec-apply path
 * (the verb "datastore-remove", agent/datastores.c): NAME leaves the spec, every node detaches
 * it; its ONTAP volume is kept, or with --destroy-data destroyed once every node has detached.
 */
static int cmd_datastore_remove(struct ctl *ctl, int argc, char **argv)
{
	const char *name = NULL;
	json_t *reply = NULL;
	bool destroy = false;
	int r;

	for (int k = 2; k < argc; k++) {
		if (strcmp(argv[k], "--destroy-data") == 0)
			destroy = true;
		else if (argv[k][0] == '-')
			return usage_error("datastore remove: unknown option '%s'", argv[k]);
		else if (!name)
			name = argv[k];
		else
			return usage_error("datastore remove: unexpected argument '%s'", argv[k]);
	}
	if (!name)
		return usage_error("datastore remove: which datastore?");
	r = request(ctl, "datastore remove", true,
		    json_pack("{sssssb}", "cmd", "datastore-remove", "name", name, "destroy_data", destroy), NULL, 0, &reply);
	if (r != EXIT_DONE)
		return r;
	printf("%s\n", str_or(reply, "message", "applied"));
	if (strncmp(str_or(reply, "message", ""), "unchanged", 9) != 0)
		printf("%s: removed from the spec; every node detaches it; %s\n", name,
		       destroy ? "its ONTAP volume (the data) will be DESTROYED once every node has detached it"
			       : "its ONTAP volume and data are KEPT (`--destroy-data` destroys them)");
	json_decref(reply);
	return EXIT_DONE;
}

/*
 * kvmcctl datastore clone DATASTORE SNAPSHOT NEW: a change, through kvmcd's spec-apply path (the
 * verb "datastore-clone", agent/datastore-clone.h): NEW joins the spec as a clone of DATASTORE
 * at SNAPSHOT; the leader makes the FlexClone, every node attaches, mounts and pools it.
 */
static int cmd_datastore_clone(struct ctl *ctl, int argc, char **argv)
{
	const char *pos[3] = { NULL, NULL, NULL };
	json_t *reply = NULL;
	int n = 0, r;

	for (int k = 2; k < argc; k++) {
		if (argv[k][0] == '-')
			return usage_error("datastore clone: unknown option '%s'", argv[k]);
		if (n == 3)
			return usage_error("datastore clone: unexpected argument '%s'", argv[k]);
		pos[n++] = argv[k];
	}
	if (n != 3)
		return usage_error("datastore clone DATASTORE SNAPSHOT NEW");
	r = request(ctl, "datastore clone", true,
		    json_pack("{ssssssss}", "cmd", "datastore-clone", "name", pos[0], "snapshot", pos[1], "new", pos[2]),
		    NULL, 0, &reply);
	if (r != EXIT_DONE)
		return r;
	printf("%s\n", str_or(reply, "message", "applied"));
	if (strncmp(str_or(reply, "message", ""), "unchanged", 9) != 0)
		printf("%s: a clone of %s at snapshot %s; the leader creates it, every node attaches, mounts and pools it "
		       "(`kvmcctl datastore show %s`)\n", pos[2], pos[0], pos[1], pos[2]);
	json_decref(reply);
	return EXIT_DONE;
}

/*
 * kvmcctl datastore split NAME: a change, through kvmcd's spec-apply path (the verb
 * "datastore-split", agent/datastore-clone.h): the clone NAME's "clone" gains "split": true; the
 * leader splits its volume from the parent on ONTAP, the datastore staying in use.
 */
static int cmd_datastore_split(struct ctl *ctl, int argc, char **argv)
{
	json_t *reply = NULL;
	int r;

	if (argc != 3 || argv[2][0] == '-')
		return usage_error("datastore split NAME");
	r = request(ctl, "datastore split", true, json_pack("{ssss}", "cmd", "datastore-split", "name", argv[2]), NULL, 0,
		    &reply);
	if (r != EXIT_DONE)
		return r;
	printf("%s\n", str_or(reply, "message", "applied"));
	if (strncmp(str_or(reply, "message", ""), "unchanged", 9) != 0)
		printf("%s: the leader splits it from its parent on ONTAP; it stays attached and in use "
		       "(`kvmcctl datastore show %s`)\n", argv[2], argv[2]);
	json_decref(reply);
	return EXIT_DONE;
}

/* kvmcctl datastore list [--json] | show NAME [--json] | remove NAME [--destroy-data] |
 * clone DATASTORE SNAPSHOT NEW | split NAME */
static int cmd_datastore(struct ctl *ctl, int argc, char **argv)
{
	const char *verb = argc >= 2 ? argv[1] : "", *name = NULL;
	json_t *list = NULL, *ds, *found = NULL;
	bool json = false, show;
	size_t i;
	int r;

	if (strcmp(verb, "remove") == 0)
		return cmd_datastore_remove(ctl, argc, argv);
	if (strcmp(verb, "clone") == 0)
		return cmd_datastore_clone(ctl, argc, argv);
	if (strcmp(verb, "split") == 0)
		return cmd_datastore_split(ctl, argc, argv);
	show = strcmp(verb, "show") == 0;
	if (!show && strcmp(verb, "list") != 0)
		return usage_error("datastore: list [--json] | show NAME [--json] | remove NAME [--destroy-data] | "
				   "clone DATASTORE SNAPSHOT NEW | split NAME");
	/* Options and the name in any order ("show ds1 --json", "show --json ds1"). */
	for (int k = 2; k < argc; k++) {
		if (strcmp(argv[k], "--json") == 0 || strcmp(argv[k], "-j") == 0)
			json = true;
		else if (argv[k][0] == '-')
			return usage_error("datastore %s: unknown option '%s'", verb, argv[k]);
		else if (show && !name)
			name = argv[k];
		else
			return usage_error("datastore %s: unexpected argument '%s'", verb, argv[k]);
	}
	if (show && !name)
		return usage_error("datastore show: which datastore?");
	r = datastores_get(ctl, show ? "datastore show" : "datastore list", &list);
	if (r != EXIT_DONE)
		return r;
	if (show) {
		json_array_foreach(list, i, ds)
			if (strcmp(str_or(ds, "name", ""), name) == 0)
				found = ds;
		if (!found) {
			fprintf(stderr, "kvmcctl: no datastore '%s' in the spec, nor a removed one\n", name);
			json_decref(list);
			return EXIT_OTHER;
		}
		if (json)
			json_dumpf(found, stdout, JSON_INDENT(2) | JSON_SORT_KEYS), putchar('\n');
		else
			print_datastore(found, true);
	} else if (json) {
		json_dumpf(list, stdout, JSON_INDENT(2) | JSON_SORT_KEYS);
		putchar('\n');
	} else {
		printf("%-20s %-9s %-14s %-9s %s\n", "NAME", "PROTOCOL", "SIZE", "ONTAP", "HOSTS");
		json_array_foreach(list, i, ds)
			print_datastore(ds, false);
	}
	json_decref(list);
	return EXIT_DONE;
}

/* kvmcctl pool verify: exit 0 only if every node's pool of every datastore is active and the
 * same (its XML hash); otherwise names each node that differs and exits 1. */
static int cmd_pool(struct ctl *ctl, int argc, char **argv)
{
	json_t *list = NULL, *ds, *n;
	bool ok = true;
	size_t i;
	int r;

	if (argc != 2 || strcmp(argv[1], "verify") != 0)
		return usage_error("pool: verify");
	r = datastores_get(ctl, "pool verify", &list);
	if (r != EXIT_DONE)
		return r;
	json_array_foreach(list, i, ds) {
		const char *k, *first = NULL, *first_node = NULL;
		bool this_ok = json_object_size(json_object_get(ds, "nodes")) > 0;

		if (json_is_true(json_object_get(ds, "removed")))
			continue;
		json_object_foreach(json_object_get(ds, "nodes"), k, n) {
			const char *h = str_or(n, "pool_xml_sha256", NULL);
			if (!json_is_true(json_object_get(n, "pool_active"))) {
				printf("%s: node %s: pool not active (%s)\n", str_or(ds, "name", "?"), k, node_ready(n));
				this_ok = false;
			} else if (!first) {
				first = h;
				first_node = k;
			} else if (!h || strcmp(h, first) != 0) {
				printf("%s: node %s: pool differs from node %s's (XML sha256 %s, %s's %s)\n", str_or(ds, "name", "?"),
				       k, first_node, h ? h : "none", first_node, first ? first : "none");
				this_ok = false;
			}
		}
		if (this_ok)
			printf("%s: identical and active on %zu nodes\n", str_or(ds, "name", "?"),
			       json_object_size(json_object_get(ds, "nodes")));
		ok &= this_ok;
	}
	json_decref(list);
	return ok ? EXIT_DONE : EXIT_OTHER;
}

/* ---- VMs ------------------------------------------------------------------------------------ */

/*
 * Reads a domain XML file (stdin for "-") and checks here what can be checked here, so the admin
 * hears about the file: its size (VM_DOMAIN_XML_MAX), NUL bytes, UTF-8, and that it is a <domain>
 * with a <name> kvmcd takes (vm_domain_identity, the reading kvmcd does). Returns 0 with *out
 * (owned) and name, or an exit status after saying why.
 */
static int load_domain_xml(const char *path, char **out, char name[static VM_NAME_MAX + 1])
{
	const char *shown = strcmp(path, "-") == 0 ? "<stdin>" : path;
	_cleanup_close_ int fd = -1;
	_cleanup_free_ char *buf = NULL;
	char uuid[VM_UUID_TEXT], why[512];
	size_t len = 0;
	json_t *utf8;
	int r;

	fd = strcmp(path, "-") == 0 ? fcntl(STDIN_FILENO, F_DUPFD_CLOEXEC, 3) : open(path, O_RDONLY | O_CLOEXEC);
	buf = malloc(VM_DOMAIN_XML_MAX + 2);
	if (fd < 0 || !buf) {
		fprintf(stderr, "kvmcctl: cannot open %s: %s; nothing sent\n", shown, fd < 0 ? strerror(errno) : "out of memory");
		return fd < 0 ? EXIT_REFUSED : EXIT_OTHER;
	}
	for (;;) {
		ssize_t n = read(fd, buf + len, VM_DOMAIN_XML_MAX + 1 - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			fprintf(stderr, "kvmcctl: cannot read %s: %m; nothing sent\n", shown);
			return EXIT_REFUSED;
		}
		len += (size_t)n;
		if (n == 0 || len > VM_DOMAIN_XML_MAX)
			break;
	}
	buf[len] = 0;
	if (len > VM_DOMAIN_XML_MAX) {
		fprintf(stderr, "kvmcctl: %s is more than %u bytes; a domain definition may be at most %u bytes; nothing sent\n",
			shown, VM_DOMAIN_XML_MAX, VM_DOMAIN_XML_MAX);
		return EXIT_REFUSED;
	}
	if (strlen(buf) != len) {
		fprintf(stderr, "%s: byte %zu is a NUL byte; a domain definition is XML text; nothing sent\n", shown, strlen(buf));
		return EXIT_REFUSED;
	}
	utf8 = json_stringn(buf, len);
	if (!utf8) {
		fprintf(stderr, "%s: not UTF-8 text; nothing sent\n", shown);
		return EXIT_REFUSED;
	}
	json_decref(utf8);
	r = vm_domain_identity(buf, name, uuid, why, sizeof(why));
	if (r == -ENOMEM) {
		fputs("kvmcctl: out of memory\n", stderr);
		return EXIT_OTHER;
	}
	if (r < 0) {
		fprintf(stderr, "%s: %s; nothing sent\n", shown, why);
		return EXIT_REFUSED;
	}
	*out = TAKE_PTR(buf);
	return 0;
}

/* "a,b" as a JSON array of names into obj[key]; false after saying why (an empty name). */
static bool add_list(json_t *obj, const char *key, const char *list, const char *opt)
{
	_cleanup_free_ char *copy = strdup(list);
	json_t *arr = json_array();
	char *p, *w;

	if (!copy || !arr || json_object_set_new(obj, key, arr) < 0) {
		fputs("kvmcctl: out of memory\n", stderr);
		return false;
	}
	for (p = copy; (w = strsep(&p, ",")); ) {
		if (!*w) {
			usage_error("vm: %s needs names separated by commas, without empty ones ('%s')", opt, list);
			return false;
		}
		json_array_append_new(arr, json_string(w));
	}
	return true;
}

/* The request of `vm add` / `vm import` without its XML: the options as spec keys. Exit status
 * or EXIT_DONE with *req (owned) and the first argument that is not an option in *arg. */
static int vm_add_options(int argc, char **argv, const char *verb, json_t **req, const char **arg)
{
	static const struct option options[] = {
		{ "stopped", no_argument, NULL, 's' }, { "prefer", required_argument, NULL, 'p' },
		{ "avoid", required_argument, NULL, 'a' }, { "anti-affinity", required_argument, NULL, 'A' },
		{ "affinity", required_argument, NULL, 'f' }, { "no-ha", no_argument, NULL, 'n' },
		{ "priority", required_argument, NULL, 'P' }, { NULL, 0, NULL, 0 },
	};
	json_auto_t *r = json_pack("{sss{}s{}}", "cmd", "vm-add", "placement", "ha");
	json_t *placement = json_object_get(r, "placement"), *ha = json_object_get(r, "ha");
	int c;

	if (!r)
		return EXIT_OTHER;
	optind = 0; /* 0, not 1: glibc starts over, and main's "+" (no permuting) is forgotten */
	opterr = 0;
	/* GNU getopt permutes: FILE / NAME may come anywhere among the options. */
	while ((c = getopt_long(argc, argv, "", options, NULL)) >= 0) {
		char *end;
		long prio;
		switch (c) {
		case 's':
			json_object_set_new(r, "state", json_string("stopped"));
			break;
		case 'p':
		case 'a':
		case 'A':
		case 'f':
			if (!add_list(placement, c == 'p' ? "prefer" : c == 'a' ? "avoid" : c == 'A' ? "anti_affinity" : "affinity",
				      optarg, argv[optind - 1]))
				return EXIT_OTHER;
			break;
		case 'n':
			json_object_set_new(ha, "enabled", json_false());
			break;
		case 'P':
			errno = 0;
			prio = strtol(optarg, &end, 10);
			if (errno || end == optarg || *end || prio < VM_PRIORITY_MIN || prio > VM_PRIORITY_MAX)
				return usage_error("vm %s: --priority needs an integer in %d..%d (higher first), not '%s'", verb,
						   VM_PRIORITY_MIN, VM_PRIORITY_MAX, optarg);
			json_object_set_new(ha, "priority", json_integer(prio));
			break;
		default:
			return usage_error("vm %s: unknown option '%s'", verb, argv[optind - 1]);
		}
	}
	if (optind >= argc)
		return usage_error("vm %s: %s", verb, strcmp(verb, "add") == 0 ? "which file (FILE.xml)?" : "which domain (NAME)?");
	if (optind + 1 < argc)
		return usage_error("vm %s: unexpected argument '%s'", verb, argv[optind + 1]);
	*arg = argv[optind];
	if (json_object_size(placement) == 0)
		json_object_del(r, "placement");
	if (json_object_size(ha) == 0)
		json_object_del(r, "ha");
	*req = TAKE_PTR(r);
	return EXIT_DONE;
}

/* Sends vm-add (req taken) for the VM `name` and says what happened. */
static int vm_add_send(struct ctl *ctl, const char *what, json_t *req, const char *name)
{
	bool stopped = json_is_string(json_object_get(req, "state"));
	json_t *reply = NULL;
	int r = request(ctl, what, true, req, NULL, 0, &reply);

	if (r != EXIT_DONE)
		return r;
	printf("%s\n", str_or(reply, "message", "applied"));
	if (strncmp(str_or(reply, "message", ""), "unchanged", 9) != 0)
		printf("%s: in the spec, %s\n", name,
		       stopped ? "stopped (`kvmcctl vm start %s` starts it)" : "started: kvmcd runs it on one node");
	json_decref(reply);
	return EXIT_DONE;
}

/*
 * kvmcctl vm add FILE.xml [options] | vm import NAME [options]: a new entry of the spec's "vms"
 * (coord/spec/vm.h) named after the definition's <name>, through kvmcd's spec-apply path (the
 * verb "vm-add", agent/vm-spec-api.h). import asks this node's kvmcd for the definition of its
 * libvirt domain NAME first ("vm-domain-xml"), then adds it the same way.
 */
static int cmd_vm_add(struct ctl *ctl, int argc, char **argv, bool import)
{
	const char *verb = import ? "import" : "add", *arg = NULL;
	_cleanup_free_ char *xml = NULL;
	char name[VM_NAME_MAX + 1], uuid[VM_UUID_TEXT], what[32];
	json_t *req = NULL;
	int r = vm_add_options(argc, argv, verb, &req, &arg);

	if (r != EXIT_DONE)
		return r;
	if (import) {
		json_t *reply = NULL;
		r = request(ctl, "vm import", false, json_pack("{ssss}", "cmd", "vm-domain-xml", "name", arg), NULL, 0, &reply);
		if (r != EXIT_DONE) {
			json_decref(req);
			return r;
		}
		xml = strdup(str_or(reply, "domain_xml", ""));
		json_decref(reply);
		if (!xml) {
			json_decref(req);
			fputs("kvmcctl: out of memory\n", stderr);
			return EXIT_OTHER;
		}
		if (vm_domain_identity(xml, name, uuid, NULL, 0) < 0 || strcmp(name, arg) != 0) {
			json_decref(req);
			fprintf(stderr, "kvmcctl: vm import: libvirt's definition of '%s' is not one kvmcd can read; nothing applied\n", arg);
			return EXIT_REFUSED;
		}
	} else {
		r = load_domain_xml(arg, &xml, name);
		if (r != 0) {
			json_decref(req);
			return r;
		}
	}
	json_object_set_new(req, "domain_xml", json_string(xml));
	snprintf(what, sizeof(what), "vm %s", verb);
	return vm_add_send(ctl, what, req, name);
}

/* kvmcctl vm start|stop|remove NAME: the spec's entry changed through kvmcd's spec-apply path. */
static int cmd_vm_change(struct ctl *ctl, int argc, char **argv)
{
	const char *verb = argv[0];
	bool remove = strcmp(verb, "remove") == 0;
	json_t *reply = NULL, *req;
	char what[16];
	int r;

	if (argc != 2 || argv[1][0] == '-')
		return usage_error("vm %s: %s", verb, argc < 2 ? "which VM (NAME)?" : argc > 2 ? "one VM NAME only" : "no options");
	req = remove ? json_pack("{ssss}", "cmd", "vm-remove", "name", argv[1])
		     : json_pack("{ssssss}", "cmd", "vm-state", "name", argv[1], "state",
				 strcmp(verb, "start") == 0 ? "started" : "stopped");
	snprintf(what, sizeof(what), "vm %s", verb);
	r = request(ctl, what, true, req, NULL, 0, &reply);
	if (r != EXIT_DONE)
		return r;
	printf("%s\n", str_or(reply, "message", "applied"));
	if (strncmp(str_or(reply, "message", ""), "unchanged", 9) != 0)
		printf("%s: %s\n", argv[1],
		       remove ? "removed from the spec; kvmcd stops its domain and undefines it on every node (its disks stay on the datastore)"
		       : strcmp(verb, "start") == 0 ? "started in the spec: kvmcd runs it on one node"
						    : "stopped in the spec: kvmcd shuts it down");
	json_decref(reply);
	return EXIT_DONE;
}

/* kvmcctl vm list [--json] | show NAME [--json]: what the VM service reports (agent/vms.h). */
static int cmd_vm_view(struct ctl *ctl, int argc, char **argv)
{
	const char *verb = argv[1], *name = NULL;
	bool json = false, show = strcmp(verb, "show") == 0;
	json_t *reply = NULL, *v;
	size_t i;
	int r;

	for (int k = 2; k < argc; k++) {
		if (strcmp(argv[k], "--json") == 0 || strcmp(argv[k], "-j") == 0)
			json = true;
		else if (argv[k][0] == '-')
			return usage_error("vm %s: unknown option '%s'", verb, argv[k]);
		else if (show && !name)
			name = argv[k];
		else
			return usage_error("vm %s: unexpected argument '%s'", verb, argv[k]);
	}
	if (show && !name)
		return usage_error("vm show: which VM (NAME)?");
	r = request(ctl, show ? "vm show" : "vm list", false,
		    show ? json_pack("{ssss}", "cmd", "vm-show", "name", name) : json_pack("{ss}", "cmd", "vm-list"), NULL, 0,
		    &reply);
	if (r != EXIT_DONE)
		return r;
	if (show) {
		v = json_object_get(reply, "vm");
		if (json) {
			json_dumpf(v, stdout, JSON_INDENT(2) | JSON_SORT_KEYS);
			putchar('\n');
		} else {
			const char *k;
			json_t *n;
			printf("VM:          %s (%s in the spec)\n", str_or(v, "name", "?"), str_or(v, "spec_state", "?"));
			printf("State:       %s%s%s\n", str_or(v, "state", "?"), str_or(v, "reason", NULL) ? ": " : "",
			       str_or(v, "reason", ""));
			printf("Owner:       %s\n", str_or(v, "node", "none"));
			if (str_or(v, "migrating_to", NULL))
				printf("Migrating:   to %s\n", str_or(v, "migrating_to", "?"));
			{
				json_t *last = json_object_get(v, "last_migration");
				if (json_is_object(last))
					printf("Last move:   %s -> %s at %s: %s%s\n", str_or(last, "from", "?"), str_or(last, "to", "?"),
					       str_or(last, "at", "?"), json_is_true(json_object_get(last, "ok")) ? "done" : "FAILED: ",
					       json_is_true(json_object_get(last, "ok")) ? "" : str_or(last, "error", "?"));
			}
			printf("Nodes:\n");
			json_object_foreach(json_object_get(v, "nodes"), k, n)
				printf("  %-16s %s%s%s\n", k, str_or(n, "state", "?"), str_or(n, "error", NULL) ? ": " : "",
				       str_or(n, "error", ""));
		}
	} else if (json) {
		json_dumpf(json_object_get(reply, "vms"), stdout, JSON_INDENT(2) | JSON_SORT_KEYS);
		putchar('\n');
	} else {
		printf("%-24s %-10s %-16s %s\n", "NAME", "STATE", "NODE", "REASON");
		json_array_foreach(json_object_get(reply, "vms"), i, v)
			printf("%-24s %-10s %-16s %s\n", str_or(v, "name", "?"), str_or(v, "state", "?"), str_or(v, "node", "-"),
			       str_or(v, "reason", ""));
	}
	json_decref(reply);
	return EXIT_DONE;
}

/* How long `vm migrate` waits: kvmcd answers at the latest once the migration's deadline
 * ([vms] migration_timeout) and its abort are past. */
static unsigned migrate_timeout_ms(const struct ctl *ctl)
{
	return (ctl->cfg ? ctl->cfg->vms.migration_timeout_ms : 86400000u) + 240000u;
}

/* kvmcctl vm migrate VM NODE [--max-downtime MS] */
static int cmd_vm_migrate(struct ctl *ctl, int argc, char **argv)
{
	const char *vm = NULL, *node = NULL;
	long downtime = 0;
	json_t *reply = NULL, *req;
	int r;

	for (int k = 2; k < argc; k++) {
		if (strcmp(argv[k], "--max-downtime") == 0) {
			char *end = NULL;
			if (k + 1 >= argc)
				return usage_error("vm migrate: --max-downtime needs milliseconds");
			errno = 0;
			downtime = strtol(argv[++k], &end, 10);
			if (errno || !end || *end || downtime < 1 || downtime > 60000)
				return usage_error("vm migrate: --max-downtime needs milliseconds 1..60000, not '%s'", argv[k]);
		} else if (argv[k][0] == '-') {
			return usage_error("vm migrate: unknown option '%s'", argv[k]);
		} else if (!vm) {
			vm = argv[k];
		} else if (!node) {
			node = argv[k];
		} else {
			return usage_error("vm migrate: unexpected argument '%s'", argv[k]);
		}
	}
	if (!vm || !node)
		return usage_error("vm migrate: which VM to which NODE (vm migrate VM NODE)?");
	if (resolve_socket(ctl) < 0)
		return EXIT_OTHER;
	req = json_pack("{ssssss}", "cmd", "vm-migrate", "name", vm, "to", node);
	if (req && downtime)
		json_object_set_new(req, "max_downtime_ms", json_integer(downtime));
	r = request_timed(ctl, "vm migrate", true, req, NULL, 0, migrate_timeout_ms(ctl), &reply);
	if (r != EXIT_DONE)
		return r;
	printf("%s\n", str_or(reply, "message", "migrated"));
	json_decref(reply);
	return EXIT_DONE;
}

/* kvmcctl vm resume NAME [--force]: the VM's owner resumes a paused guest once its storage
 * answers again (--force: without checking); refused when it is not paused. */
static int cmd_vm_resume(struct ctl *ctl, int argc, char **argv)
{
	const char *vm = NULL;
	bool force = false;
	json_t *reply = NULL;
	int r;

	for (int k = 2; k < argc; k++) {
		if (strcmp(argv[k], "--force") == 0)
			force = true;
		else if (argv[k][0] == '-')
			return usage_error("vm resume: unknown option '%s'", argv[k]);
		else if (!vm)
			vm = argv[k];
		else
			return usage_error("vm resume: one VM NAME only");
	}
	if (!vm)
		return usage_error("vm resume: which VM (NAME)?");
	r = request(ctl, "vm resume", true, json_pack("{s:s,s:s,s:b}", "cmd", "vm-resume", "name", vm, "force", force), NULL, 0,
		    &reply);
	if (r != EXIT_DONE)
		return r;
	printf("%s\n", str_or(reply, "message", "resumed"));
	json_decref(reply);
	return EXIT_DONE;
}

/* A reply as --json prints it: without its "ok". */
static void print_reply_json(json_t *reply)
{
	json_object_del(reply, "ok");
	json_dumpf(reply, stdout, JSON_INDENT(2) | JSON_SORT_KEYS);
	putchar('\n');
}

/*
 * fence-wait: kvmcd answers once the node's fence is confirmed in the replicated state (or the
 * timeout passed: errno ETIMEDOUT / EAGAIN with where the fence stands). header taken.
 */
static int fence_wait_call(struct ctl *ctl, json_t *header, unsigned timeout_sec, json_t **reply)
{
	if (header)
		json_object_set_new(header, "timeout_ms", json_integer((json_int_t)timeout_sec * 1000));
	/* kvmcd answers by the deadline itself; the margin covers a busy daemon */
	return request_timed(ctl, "fence wait", false, header, NULL, 0, timeout_sec * 1000 + 30000, reply);
}

/* kvmcctl fence wait NODE [--timeout SECONDS] [--since EPOCH] [--json] */
static int cmd_fence_wait(struct ctl *ctl, int argc, char **argv)
{
	const char *node = NULL;
	unsigned long timeout = DLM_DEVICE_TIMEOUT_DEFAULT;
	long long since = -1;
	bool json = false;
	json_t *header, *reply = NULL;
	char *end;
	int r;

	for (int k = 2; k < argc; k++) {
		if (!strcmp(argv[k], "--json") || !strcmp(argv[k], "-j"))
			json = true;
		else if (!strcmp(argv[k], "--timeout") && k + 1 < argc) {
			errno = 0;
			timeout = strtoul(argv[++k], &end, 10);
			if (errno || *end || !*argv[k] || argv[k][0] == '-' || timeout > DLM_DEVICE_TIMEOUT_MAX)
				return usage_error("fence wait: --timeout %s is not 0..%u seconds", argv[k], DLM_DEVICE_TIMEOUT_MAX);
		} else if (!strcmp(argv[k], "--since") && k + 1 < argc) {
			errno = 0;
			since = strtoll(argv[++k], &end, 10);
			if (errno || *end || !*argv[k] || since < 0)
				return usage_error("fence wait: --since %s is not seconds since the epoch", argv[k]);
		} else if (argv[k][0] != '-' && !node)
			node = argv[k];
		else
			return usage_error("fence wait: unexpected argument '%s'", argv[k]);
	}
	if (!node)
		return usage_error("fence wait: which NODE (a name or a corosync node id)?");
	errno = 0;
	unsigned long id = strtoul(node, &end, 10);
	if (!errno && !*end && node[0] >= '1' && node[0] <= '9' && id <= UINT32_MAX)
		header = json_pack("{s:s,s:I}", "cmd", "fence-wait", "nodeid", (json_int_t)id);
	else
		header = json_pack("{s:s,s:s}", "cmd", "fence-wait", "name", node);
	if (header && since >= 0)
		json_object_set_new(header, "since", json_integer(since));
	r = fence_wait_call(ctl, header, (unsigned)timeout, &reply);
	if (r != EXIT_DONE)
		return r;
	if (json) {
		print_reply_json(reply);
	} else {
		printf("%s: %s (by %s)\n", str_or(reply, "node", node), str_or(reply, "message", "fenced"),
		       str_or(reply, "confirmed_by", "?"));
	}
	json_decref(reply);
	return EXIT_DONE;
}

static bool stderr_is_devnull(void)
{
	struct stat a, b;

	return fstat(STDERR_FILENO, &a) == 0 && stat("/dev/null", &b) == 0 && S_ISCHR(a.st_mode) && a.st_rdev == b.st_rdev;
}

/* Under dlm_controld stdout and stderr are /dev/null: stderr's lines go to syslog instead. */
static ssize_t syslog_write(void *cookie, const char *buf, size_t size)
{
	static char line[1024];
	static size_t len;

	(void)cookie;
	for (size_t i = 0; i < size; i++) {
		if (buf[i] == '\n' || len == sizeof(line) - 1) {
			line[len] = 0;
			if (len)
				syslog(LOG_ERR, "%s", line);
			len = 0;
			if (buf[i] == '\n')
				continue;
		}
		line[len++] = buf[i];
	}
	return (ssize_t)size;
}

/*
 * The DLM fence device (fencing/dlm-device.h): stdin from dlm_controld; exit 0 once kvmcd has
 * confirmed the victim's fence, 1 otherwise (dlm_controld runs it again).
 */
static int cmd_fence_dlm_device(struct ctl *ctl)
{
	static char in[DLM_DEVICE_INPUT_MAX + 1];
	struct dlm_device_request req;
	_cleanup_free_ char *error = NULL;
	json_t *reply = NULL, *header;
	bool quiet = stderr_is_devnull();
	size_t len = 0;
	ssize_t n;
	int r;

	openlog("fence_kvmcd", LOG_PID | (quiet ? 0 : LOG_PERROR), LOG_DAEMON);
	if (quiet) {
		FILE *f = fopencookie(NULL, "w", (cookie_io_functions_t){ .write = syslog_write });
		if (f) {
			setvbuf(f, NULL, _IOLBF, 0);
			stderr = f;
		}
	}
	while (len < sizeof(in) && (n = read(STDIN_FILENO, in + len, sizeof(in) - len)) != 0) {
		if (n < 0) {
			if (errno == EINTR)
				continue;
			syslog(LOG_ERR, "reading stdin: %m");
			return EXIT_OTHER;
		}
		len += (size_t)n;
	}
	r = dlm_device_parse(in, len, &req, &error);
	if (r < 0) {
		syslog(LOG_ERR, "refused dlm_controld's request: %s", error ? error : strerror(-r));
		return EXIT_OTHER;
	}
	if (req.action == DLM_DEVICE_ON) {
		syslog(LOG_NOTICE, "unfence of node %u: nothing to do here (kvmcd's leader gives a returning node its access back)",
		       req.nodeid);
		return EXIT_DONE;
	}
	if (req.socket[0])
		ctl->socket_path = req.socket;
	syslog(LOG_NOTICE, "dlm_controld asks to fence node %u: waiting up to %u s for kvmcd's fence to be confirmed",
	       req.nodeid, req.timeout_sec);
	header = json_pack("{s:s,s:I}", "cmd", "fence-wait", "nodeid", (json_int_t)req.nodeid);
	if (header && req.has_fail_time)
		json_object_set_new(header, "since", json_integer(req.fail_time));
	r = fence_wait_call(ctl, header, req.timeout_sec, &reply);
	if (r != EXIT_DONE) {
		syslog(LOG_WARNING, "node %u is not fenced (yet): dlm_controld will ask again", req.nodeid);
		return EXIT_OTHER;
	}
	syslog(LOG_NOTICE, "node %u (%s) is fenced: confirmed by %s", req.nodeid, str_or(reply, "node", "?"),
	       str_or(reply, "confirmed_by", "?"));
	json_decref(reply);
	return EXIT_DONE;
}

/* kvmcctl fence history [--json] (issue 9): the fences in force and the last changes. */
static int cmd_fence(struct ctl *ctl, int argc, char **argv)
{
	json_t *reply = NULL, *x;
	bool json = false;
	size_t i;
	int r;

	if (argc >= 2 && strcmp(argv[1], "wait") == 0)
		return cmd_fence_wait(ctl, argc, argv);
	if (argc == 2 && strcmp(argv[1], "dlm-device") == 0)
		return cmd_fence_dlm_device(ctl);
	if (argc < 2 || strcmp(argv[1], "history") != 0)
		return usage_error("fence: history [--json] | wait NODE [--timeout S] [--since T] [--json] | dlm-device");
	for (int k = 2; k < argc; k++) {
		if (strcmp(argv[k], "--json") == 0 || strcmp(argv[k], "-j") == 0)
			json = true;
		else
			return usage_error("fence history: unexpected argument '%s'", argv[k]);
	}
	r = request(ctl, "fence history", false, json_pack("{ss}", "cmd", "fence-history"), NULL, 0, &reply);
	if (r != EXIT_DONE)
		return r;
	if (json) {
		print_reply_json(reply);
		json_decref(reply);
		return EXIT_DONE;
	}
	if (json_is_false(json_object_get(reply, "armed")))
		printf("HA IS DISARMED: no fencing and no recovery until `kvmcctl ha arm`\n");
	printf("%-16s %-10s %-9s %-8s %-8s %s\n", "NODE", "STATUS", "METHOD", "ATTEMPT", "LOSS", "SINCE / ERROR");
	json_array_foreach(json_object_get(reply, "fences"), i, x)
		printf("%-16s %-10s %-9s %-8" JSON_INTEGER_FORMAT " %-8s %s%s%s\n", str_or(x, "node", "?"), str_or(x, "status", "?"),
		       str_or(x, "confirmed_by", str_or(x, "method", "-")), int_of(x, "attempt"), str_or(x, "loss", "?"),
		       str_or(x, "at", "?"), str_or(x, "error", NULL) ? ": " : "", str_or(x, "error", ""));
	if (!json_array_size(json_object_get(reply, "fences")))
		printf("(no fence in force)\n");
	printf("\nHistory (oldest first):\n");
	json_array_foreach(json_object_get(reply, "history"), i, x)
		printf("  %s %-16s %-10s %-9s %s%s%s\n", str_or(x, "at", "?"), str_or(x, "node", "?"), str_or(x, "status", "?"),
		       str_or(x, "method", "-"), str_or(x, "reason", ""), str_or(x, "evidence", NULL) ? " -- " : "",
		       str_or(x, "evidence", ""));
	json_decref(reply);
	return EXIT_DONE;
}

/* kvmcctl ha disarm | arm (issue 9): returns once the leader recorded it. */
static int cmd_ha(struct ctl *ctl, int argc, char **argv)
{
	json_t *reply = NULL;
	int r;

	if (argc != 2 || (strcmp(argv[1], "disarm") != 0 && strcmp(argv[1], "arm") != 0))
		return usage_error("ha: disarm | arm");
	r = request(ctl, strcmp(argv[1], "arm") ? "ha disarm" : "ha arm", true,
		    json_pack("{ss}", "cmd", strcmp(argv[1], "arm") ? "ha-disarm" : "ha-arm"), NULL, 0, &reply);
	if (r != EXIT_DONE)
		return r;
	printf("%s\n", str_or(reply, "message", "done"));
	json_decref(reply);
	return EXIT_DONE;
}

/* kvmcctl vm add|import|start|stop|remove|list|show|migrate|resume ... */
static int cmd_vm(struct ctl *ctl, int argc, char **argv)
{
	const char *verb = argc >= 2 ? argv[1] : "";

	if (strcmp(verb, "migrate") == 0)
		return cmd_vm_migrate(ctl, argc, argv);
	if (strcmp(verb, "resume") == 0)
		return cmd_vm_resume(ctl, argc, argv);

	if (strcmp(verb, "list") == 0 || strcmp(verb, "show") == 0)
		return cmd_vm_view(ctl, argc, argv);

	if (strcmp(verb, "add") == 0 || strcmp(verb, "import") == 0)
		return cmd_vm_add(ctl, argc - 1, argv + 1, strcmp(verb, "import") == 0);
	if (strcmp(verb, "start") == 0 || strcmp(verb, "stop") == 0 || strcmp(verb, "remove") == 0)
		return cmd_vm_change(ctl, argc - 1, argv + 1);
	return usage_error("vm: list [--json] | show NAME [--json] | add FILE.xml [options] | import NAME [options] | start NAME | stop NAME | remove NAME | migrate VM NODE [--max-downtime MS] | resume NAME [--force]");
}

/* ---- nodes and the cluster's VMs ---------------------------------------------------------------- */

static void print_names(json_t *arr)
{
	size_t i;
	json_t *v;

	if (!json_array_size(arr)) {
		printf("-");
		return;
	}
	json_array_foreach(arr, i, v)
		printf("%s%s", i ? "," : "", json_string_value(v) ?: "?");
}

/* kvmcctl node list [--json] | drain NODE | undrain NODE */
static int cmd_node(struct ctl *ctl, int argc, char **argv)
{
	const char *verb = argc >= 2 ? argv[1] : "";
	json_t *reply = NULL, *n;
	bool json = false;
	size_t i;
	int r;

	if (strcmp(verb, "unfence") == 0) { /* issue 9 */
		if (argc != 3 || argv[2][0] == '-')
			return usage_error("node unfence: %s", argc < 3 ? "which NODE?" : argc > 3 ? "one NODE only" : "no options");
		r = request(ctl, "node unfence", true, json_pack("{ssss}", "cmd", "node-unfence", "name", argv[2]), NULL, 0, &reply);
		if (r != EXIT_DONE)
			return r;
		printf("%s: %s\n", argv[2], str_or(reply, "message", "unfenced"));
		json_decref(reply);
		return EXIT_DONE;
	}
	if (strcmp(verb, "drain") == 0 || strcmp(verb, "undrain") == 0) {
		bool on = strcmp(verb, "drain") == 0;
		char what[16];
		if (argc != 3 || argv[2][0] == '-')
			return usage_error("node %s: %s", verb, argc < 3 ? "which NODE?" : argc > 3 ? "one NODE only" : "no options");
		snprintf(what, sizeof(what), "node %s", verb);
		r = request(ctl, what, true, json_pack("{ssss}", "cmd", on ? "node-drain" : "node-undrain", "name", argv[2]),
			    NULL, 0, &reply);
		if (r != EXIT_DONE)
			return r;
		printf("%s: %s\n", argv[2], str_or(reply, "message", on ? "drained" : "undrained"));
		if (on)
			printf("%s: its VMs leave by live migration (kvmcctl node list shows \"maintenance\" once none is left)\n",
			       argv[2]);
		json_decref(reply);
		return EXIT_DONE;
	}
	if (strcmp(verb, "list") != 0)
		return usage_error("node: list [--json] | drain NODE | undrain NODE | unfence NODE");
	for (int k = 2; k < argc; k++) {
		if (strcmp(argv[k], "--json") == 0 || strcmp(argv[k], "-j") == 0)
			json = true;
		else
			return usage_error("node list: unexpected argument '%s'", argv[k]);
	}
	r = request(ctl, "node list", false, json_pack("{ss}", "cmd", "node-list"), NULL, 0, &reply);
	if (r != EXIT_DONE)
		return r;
	if (json) {
		json_dumpf(json_object_get(reply, "nodes"), stdout, JSON_INDENT(2) | JSON_SORT_KEYS);
		putchar('\n');
	} else {
		printf("%-16s %-7s %-12s %-22s %-9s %s\n", "NAME", "MEMBER", "STATE", "MEMORY MiB (USED)", "VCPUS", "VMS");
		json_array_foreach(json_object_get(reply, "nodes"), i, n) {
			json_t *cap = json_object_get(n, "capacity"), *used = json_object_get(n, "used");
			char mem[64] = "-", cpu[32] = "-";
			if (json_is_object(cap)) {
				snprintf(mem, sizeof(mem), "%" JSON_INTEGER_FORMAT "/%" JSON_INTEGER_FORMAT " (%" JSON_INTEGER_FORMAT "%%)",
					 int_of(used, "memory_mib"), int_of(cap, "memory_mib"), int_of(n, "load_pct"));
				snprintf(cpu, sizeof(cpu), "%" JSON_INTEGER_FORMAT "/%" JSON_INTEGER_FORMAT, int_of(used, "vcpus"),
					 int_of(cap, "vcpus"));
			}
			printf("%-16s %-7s %-12s %-22s %-9s ", str_or(n, "name", "?"),
			       json_is_true(json_object_get(n, "member")) ? "yes" : "no",
			       json_is_true(json_object_get(n, "maintenance")) ? "maintenance"
			       : json_is_true(json_object_get(n, "drained"))   ? "draining"
									       : "-",
			       mem, cpu);
			print_names(json_object_get(n, "vms"));
			if (int_of(n, "migrations"))
				printf(" (%" JSON_INTEGER_FORMAT " migrating)", int_of(n, "migrations"));
			putchar('\n');
		}
	}
	json_decref(reply);
	return EXIT_DONE;
}

/* kvmcctl cluster rebalance [--dry-run] [--json] */
static int cmd_cluster(struct ctl *ctl, int argc, char **argv)
{
	bool dry = false, json = false;
	json_t *reply = NULL, *req, *m;
	size_t i;
	int r;

	if (argc < 2 || strcmp(argv[1], "rebalance") != 0)
		return usage_error("cluster: rebalance [--dry-run] [--json]");
	for (int k = 2; k < argc; k++) {
		if (strcmp(argv[k], "--dry-run") == 0 || strcmp(argv[k], "-n") == 0)
			dry = true;
		else if (strcmp(argv[k], "--json") == 0 || strcmp(argv[k], "-j") == 0)
			json = true;
		else
			return usage_error("cluster rebalance: unexpected argument '%s'", argv[k]);
	}
	req = json_pack("{sssb}", "cmd", "cluster-rebalance", "dry_run", dry);
	r = request(ctl, "cluster rebalance", !dry, req, NULL, 0, &reply);
	if (r != EXIT_DONE)
		return r;
	if (json) {
		json_dumpf(reply, stdout, JSON_INDENT(2) | JSON_SORT_KEYS);
		putchar('\n');
		json_decref(reply);
		return EXIT_DONE;
	}
	if (dry)
		printf("Plan (dry run, nothing done; the leader plans again when asked):\n");
	else
		printf("%s\n", str_or(reply, "message", "rebalance started"));
	json_array_foreach(json_object_get(reply, "moves"), i, m)
		printf("  %s: %s -> %s (%s)\n", str_or(m, "vm", "?"), str_or(m, "from", "?"), str_or(m, "to", "?"),
		       str_or(m, "why", ""));
	json_array_foreach(json_object_get(reply, "stuck"), i, m)
		printf("  %s: stays (%s)\n", str_or(m, "vm", "?"), str_or(m, "why", ""));
	if (!json_array_size(json_object_get(reply, "moves")) && !json_array_size(json_object_get(reply, "stuck")))
		printf("  nothing to move\n");
	if (int_of(reply, "in_flight") || int_of(reply, "deferred"))
		printf("  (%" JSON_INTEGER_FORMAT " migrations in flight; %" JSON_INTEGER_FORMAT
		       " more moves held back by the limits, planned once those finish)\n",
		       int_of(reply, "in_flight"), int_of(reply, "deferred"));
	json_decref(reply);
	return EXIT_DONE;
}

/* ---- preflight ------------------------------------------------------------------------------- */

/* "a,b" into the JSON array arr; each name must be one of names[]. false after saying why. */
static bool add_names(json_t *arr, const char *list, const char *const *names, const char *what)
{
	_cleanup_free_ char *copy = strdup(list);
	char *save = NULL;

	if (!copy)
		return false;
	for (char *w = strtok_r(copy, ",", &save); w; w = strtok_r(NULL, ",", &save)) {
		size_t i;
		for (i = 0; names[i] && strcmp(names[i], w) != 0; i++)
			;
		if (!names[i]) {
			usage_error("preflight: unknown %s '%s'", what, w);
			return false;
		}
		json_array_append_new(arr, json_string(w));
	}
	return true;
}

static void print_preflight(json_t *rep)
{
	json_t *f, *v;
	size_t i, k;
	const char *fam;

	printf("%-12s %-28s %-14s %-7s %s\n", "NODE", "CHECK", "NEEDED FOR", "RESULT", "FOUND");
	json_array_foreach(json_object_get(rep, "findings"), i, f) {
		json_t *ok = json_object_get(f, "ok"), *pkgs = json_object_get(f, "packages");
		char needed[64] = "";
		size_t len = 0;

		json_array_foreach(json_object_get(f, "needed_for"), k, v)
			len += (size_t)snprintf(needed + len, len < sizeof(needed) ? sizeof(needed) - len : 0, "%s%s",
						k ? "," : "", json_string_value(v) ?: "?");
		printf("%-12s %-28s %-14s %-7s %s\n", str_or(f, "node", "(ONTAP)"), str_or(f, "check", "?"), needed,
		       json_is_true(ok) ? "ok" : json_is_false(ok) ? "FAILED" : "unknown", str_or(f, "found", ""));
		if (json_is_true(ok))
			continue;
		printf("%-12s   fix: %s\n", "", str_or(f, "fix", "?"));
		if (json_is_object(pkgs) && json_is_null(json_object_get(f, "package")))
			printf("%-12s   packages: Debian/Ubuntu %s, Fedora/RHEL %s, Arch %s\n", "", str_or(pkgs, "debian", "?"),
			       str_or(pkgs, "fedora", "?"), str_or(pkgs, "arch", "?"));
	}
	printf("\n");
	json_array_foreach(json_object_get(rep, "nodes"), i, v) {
		fam = str_or(v, "family", NULL);
		printf("%-12s %s%s%s%s: %" JSON_INTEGER_FORMAT " passed, %" JSON_INTEGER_FORMAT " failed%s\n", str_or(v, "name", "?"),
		       str_or(v, "os", "distribution unknown"), fam ? " (" : "", fam ? fam : "", fam ? " family)" : "",
		       int_of(v, "passed"), int_of(v, "failed"), int_of(v, "unknown") ? ", some not checked" : "");
	}
	{
		_cleanup_free_ char *protos = json_dumps(json_object_get(rep, "protocols"), JSON_COMPACT);
		_cleanup_free_ char *fss = json_dumps(json_object_get(rep, "file_systems"), JSON_COMPACT);
		json_int_t failed = int_of(rep, "failed"), unknown = int_of(rep, "unknown");

		printf("preflight: %s: %" JSON_INTEGER_FORMAT " passed, %" JSON_INTEGER_FORMAT " failed, %" JSON_INTEGER_FORMAT
		       " could not be checked (protocols %s, file systems %s)\n",
		       failed ? "NOT READY" : "ready", int_of(rep, "passed"), failed, unknown, protos ? protos : "?",
		       fss ? fss : "?");
	}
}

/*
 * kvmcctl preflight [--json] [--protocol P[,P]] [--fs F[,F]]: the report of any node's kvmcd for
 * every node (agent/preflight-api.h). Exit 0 when no check failed, 1 when one did (what could
 * not be checked is listed, and does not fail it), 3 when this node's copy may be stale.
 */
static int cmd_preflight(struct ctl *ctl, int argc, char **argv)
{
	static const struct option options[] = {
		{ "json", no_argument, NULL, 'j' }, { "protocol", required_argument, NULL, 'p' },
		{ "fs", required_argument, NULL, 'f' }, { NULL, 0, NULL, 0 },
	};
	static const char *const protocols[] = { "iscsi", "fc", "nvme-tcp", "nfs", "smb", NULL };
	static const char *const file_systems[] = { "ocfs2", "gfs2", NULL };
	json_t *reply = NULL, *rep, *req = json_pack("{sss[]s[]}", "cmd", "preflight", "protocols", "file_systems");
	bool json = false;
	int c, r;

	if (!req)
		return EXIT_OTHER;
	optind = 1;
	while ((c = getopt_long(argc, argv, "+jp:f:", options, NULL)) >= 0) {
		if (c == 'j')
			json = true;
		else if (c == 'p' ? !add_names(json_object_get(req, "protocols"), optarg, protocols, "protocol")
			 : c == 'f' ? !add_names(json_object_get(req, "file_systems"), optarg, file_systems, "file system")
				    : (usage_error("preflight: unknown option"), true)) {
			json_decref(req);
			return EXIT_OTHER;
		}
	}
	if (optind < argc) {
		json_decref(req);
		return usage_error("preflight: unexpected argument '%s'", argv[optind]);
	}
	r = request(ctl, "preflight", false, req, NULL, 0, &reply);
	if (r != EXIT_DONE)
		return r;
	rep = json_object_get(reply, "preflight");
	if (!json_is_object(rep)) {
		fputs("kvmcctl: kvmcd's preflight reply has no report\n", stderr);
		json_decref(reply);
		return EXIT_OTHER;
	}
	if (json)
		json_dumpf(rep, stdout, JSON_INDENT(2) | JSON_SORT_KEYS), putchar('\n');
	else
		print_preflight(rep);
	fflush(stdout);
	r = json_is_true(json_object_get(rep, "ok")) ? EXIT_DONE : EXIT_OTHER;
	if (json_is_false(json_object_get(reply, "current"))) {
		fprintf(stderr, "kvmcctl: warning: %s; exit status 3: run preflight on a node of the quorate partition\n",
			str_or(reply, "why_not_current", "this node's copy may be stale"));
		r = EXIT_UNKNOWN;
	}
	json_decref(reply);
	return r;
}

/* ---- snapshots and protection (issue 10; agent/protection.c) -------------------------------- */

/* How long `snapshot create|delete` waits: kvmcd answers by its request deadline (180 s). */
#define SNAPSHOT_TIMEOUT_MS 200000u

/*
 * kvmcctl snapshot restore DATASTORE SNAPSHOT [--stop-vms [--leave-stopped]]: a change through kvmcd's spec-apply
 * path (the verb "snapshot-restore", agent/restore.h); answered once the request is committed,
 * the restore then runs by itself (`snapshot restore-status`).
 */
static int cmd_snapshot_restore(struct ctl *ctl, int argc, char **argv)
{
	const char *pos[2] = { NULL, NULL };
	json_t *reply = NULL;
	bool stop = false, leave = false;
	int n = 0, r;

	for (int k = 2; k < argc; k++) {
		if (strcmp(argv[k], "--stop-vms") == 0)
			stop = true;
		else if (strcmp(argv[k], "--leave-stopped") == 0)
			leave = true;
		else if (argv[k][0] == '-')
			return usage_error("snapshot restore: unknown option '%s'", argv[k]);
		else if (n == 2)
			return usage_error("snapshot restore: unexpected argument '%s'", argv[k]);
		else
			pos[n++] = argv[k];
	}
	if (n != 2)
		return usage_error("snapshot restore DATASTORE SNAPSHOT [--stop-vms [--leave-stopped]]");
	if (leave && !stop)
		return usage_error("snapshot restore: --leave-stopped goes with --stop-vms");
	r = request(ctl, "snapshot restore", true,
		    json_pack("{sssssssbsb}", "cmd", "snapshot-restore", "datastore", pos[0], "snapshot", pos[1], "stop_vms", stop,
			      "leave_stopped", leave),
		    NULL, 0, &reply);
	if (r != EXIT_DONE)
		return r;
	printf("%s\n%s: restore to %s requested%s; every node takes it down, the leader reverts its volume, every node "
	       "brings it back (`kvmcctl snapshot restore-status`)\n", str_or(reply, "message", "applied"), pos[0], pos[1],
	       !stop ? "" : leave ? " (its VMs stopped first and left stopped: `kvmcctl vm start` them)"
			   : " (its VMs stopped first, started again once it is back)");
	json_decref(reply);
	return EXIT_DONE;
}

/* kvmcctl snapshot restore-status [--json] */
static int cmd_snapshot_restore_status(struct ctl *ctl, int argc, char **argv)
{
	bool json = argc >= 3 && (strcmp(argv[2], "--json") == 0 || strcmp(argv[2], "-j") == 0);
	json_t *reply = NULL, *v;
	const char *ds;
	int r;

	if (argc > 3 || (argc == 3 && !json))
		return usage_error("snapshot restore-status [--json]");
	r = request(ctl, "snapshot restore-status", false, json_pack("{ss}", "cmd", "snapshot-restore-status"), NULL, 0, &reply);
	if (r != EXIT_DONE)
		return r;
	if (json) {
		char *t = json_dumps(json_object_get(reply, "restores"), JSON_INDENT(2) | JSON_SORT_KEYS);
		printf("%s\n", t ? t : "{}");
		free(t);
	} else {
		printf("%-20s %-12s %s\n", "DATASTORE", "PHASE", "SNAPSHOT");
		json_object_foreach(json_object_get(reply, "restores"), ds, v) {
			_cleanup_free_ char *restart = json_array_size(json_object_get(v, "restart_vms"))
							       ? json_dumps(json_object_get(v, "restart_vms"), JSON_COMPACT)
							       : NULL;
			printf("%-20s %-12s %s%s%s%s%s%s%s\n", ds, str_or(v, "phase", "?"), str_or(v, "snapshot", "?"),
			       json_string_value(json_object_get(v, "error")) ? "  error: " : "",
			       json_string_value(json_object_get(v, "error")) ? json_string_value(json_object_get(v, "error")) : "",
			       json_string_value(json_object_get(v, "waiting")) ? "  waiting: " : "",
			       json_string_value(json_object_get(v, "waiting")) ? json_string_value(json_object_get(v, "waiting")) : "",
			       restart ? "  VMs to start again after it: " : "", restart ? restart : "");
		}
	}
	json_decref(reply);
	return EXIT_DONE;
}

/* kvmcctl snapshot list [DATASTORE] [--json] | create POLICY | delete NAME | restore ... */
static int cmd_snapshot(struct ctl *ctl, int argc, char **argv)
{
	const char *verb = argc >= 2 ? argv[1] : "", *arg = NULL;
	json_t *reply = NULL, *snaps, *s;
	bool json = false;
	size_t i;
	int r;

	if (strcmp(verb, "restore") == 0)
		return cmd_snapshot_restore(ctl, argc, argv);
	if (strcmp(verb, "restore-status") == 0)
		return cmd_snapshot_restore_status(ctl, argc, argv);
	for (int k = 2; k < argc; k++) {
		if (strcmp(argv[k], "--json") == 0 || strcmp(argv[k], "-j") == 0)
			json = true;
		else if (argv[k][0] == '-')
			return usage_error("snapshot %s: unknown option '%s'", verb, argv[k]);
		else if (!arg)
			arg = argv[k];
		else
			return usage_error("snapshot %s: unexpected argument '%s'", verb, argv[k]);
	}
	if (strcmp(verb, "create") == 0 || strcmp(verb, "delete") == 0) {
		bool create = verb[0] == 'c';

		if (!arg)
			return usage_error(create ? "snapshot create: which policy?" : "snapshot delete: which snapshot?");
		if (json)
			return usage_error("snapshot %s: no --json", verb);
		if (resolve_socket(ctl) < 0)
			return EXIT_OTHER;
		r = request_timed(ctl, create ? "snapshot create" : "snapshot delete", true,
				  json_pack("{ssss}", "cmd", create ? "snapshot-create" : "snapshot-delete",
					    create ? "policy" : "name", arg),
				  NULL, 0, SNAPSHOT_TIMEOUT_MS, &reply);
		if (r != EXIT_DONE)
			return r;
		printf("%s\n", str_or(reply, "message", "done"));
		json_decref(reply);
		return EXIT_DONE;
	}
	if (strcmp(verb, "list") != 0)
		return usage_error("snapshot: list [DATASTORE] [--json] | create POLICY | delete NAME");
	r = request(ctl, "snapshot list", false,
		    arg ? json_pack("{ssss}", "cmd", "snapshot-list", "datastore", arg) : json_pack("{ss}", "cmd", "snapshot-list"),
		    NULL, 0, &reply);
	if (r != EXIT_DONE)
		return r;
	snaps = json_object_get(reply, "snapshots");
	if (json) {
		json_dumpf(snaps, stdout, JSON_INDENT(2) | JSON_SORT_KEYS);
		putchar('\n');
	} else {
		printf("%-16s %-48s %-22s %-5s %s\n", "DATASTORE", "NAME", "CREATED", "BUSY", "POLICY");
		json_array_foreach(snaps, i, s)
			printf("%-16s %-48s %-22s %-5s %s\n", str_or(s, "datastore", "?"), str_or(s, "name", "?"),
			       str_or(s, "create_time", ""), json_is_true(json_object_get(s, "busy")) ? "yes" : "-",
			       str_or(s, "policy", "-"));
		printf("(listed by %s at %s)\n", str_or(reply, "leader", "?"), str_or(reply, "listed_at", "?"));
	}
	json_decref(reply);
	return EXIT_DONE;
}

/* kvmcctl protection status [--json] */
static int cmd_protection(struct ctl *ctl, int argc, char **argv)
{
	json_t *reply = NULL, *pol, *sc;
	bool json = false;
	size_t i, k;
	int r;

	if (argc < 2 || strcmp(argv[1], "status") != 0)
		return usage_error("protection: status [--json]");
	for (int a = 2; a < argc; a++) {
		if (strcmp(argv[a], "--json") == 0 || strcmp(argv[a], "-j") == 0)
			json = true;
		else
			return usage_error("protection status: unexpected argument '%s'", argv[a]);
	}
	r = request(ctl, "protection status", false, json_pack("{ss}", "cmd", "protection-status"), NULL, 0, &reply);
	if (r != EXIT_DONE)
		return r;
	if (json) {
		print_reply_json(reply);
		json_decref(reply);
		return EXIT_DONE;
	}
	if (!json_array_size(json_object_get(reply, "policies")))
		printf("no protection policy in the spec\n");
	json_array_foreach(json_object_get(reply, "policies"), i, pol) {
		json_t *ds = json_object_get(pol, "datastores"), *d;
		size_t j;

		printf("%s: %s, consistency %s", str_or(pol, "name", "?"), str_or(pol, "health", "?"),
		       str_or(pol, "consistency", "?"));
		json_array_foreach(ds, j, d)
			printf("%s%s", j ? ", " : "; datastores ", json_string_value(d));
		printf("\n  last snapshot %s (%s), next due %s\n", str_or(pol, "last_snapshot", "none"),
		       str_or(pol, "last_snapshot_name", "-"), str_or(pol, "next_due", "none"));
		json_array_foreach(json_object_get(pol, "schedules"), k, sc)
			printf("  schedule %-12s keep %-4d last %-18s next %-18s missed %d%s%s%s\n", str_or(sc, "label", "?"),
			       (int)int_of(sc, "keep"), str_or(sc, "last_snapshot", "none"), str_or(sc, "next_due", "none"),
			       (int)int_of(sc, "missed"), json_is_true(json_object_get(sc, "clock_behind")) ? " (clock behind)" : "",
			       json_is_string(json_object_get(sc, "in_flight")) ? " in flight: " : "",
			       str_or(sc, "in_flight", ""));
		if (json_is_string(json_object_get(pol, "errors")))
			printf("  error: %s\n", str_or(pol, "errors", ""));
		if (json_is_string(json_object_get(pol, "waiting_for")))
			printf("  waiting for datastore %s to be provisioned\n", str_or(pol, "waiting_for", ""));
		if (json_is_object(json_object_get(pol, "last_vms"))) { /* consistency vm: what the last one got */
			const char *vm;
			json_t *v;
			int first = 0;
			printf("  last snapshot's VMs:");
			if (!json_object_size(json_object_get(pol, "last_vms")))
				printf(" none running");
			json_object_foreach(json_object_get(pol, "last_vms"), vm, v)
				printf("%s %s %s%s%s", first++ ? "," : "", vm, json_is_true(json_object_get(v, "consistent")) ? "consistent" : "crash-consistent (",
				       json_is_true(json_object_get(v, "consistent")) ? "" : str_or(v, "why", "?"),
				       json_is_true(json_object_get(v, "consistent")) ? "" : ")");
			printf("\n");
		}
		json_array_foreach(json_object_get(pol, "kept"), k, sc)
			printf("  kept: %s on %s (%s)\n", str_or(sc, "name", "?"), str_or(sc, "datastore", "?"),
			       str_or(sc, "why", "?"));
		if (json_is_object(json_object_get(pol, "snapmirror"))) {
			json_t *sm = json_object_get(pol, "snapmirror"), *lag = json_object_get(sm, "lag_seconds");
			json_t *rpo = json_object_get(sm, "rpo_seconds");

			printf("  snapmirror to SVM %s: %s, %s", str_or(sm, "destination_svm", "?"), str_or(sm, "state", "?"),
			       str_or(sm, "health", "?"));
			if (json_is_integer(lag))
				printf(", lag %" JSON_INTEGER_FORMAT " s", json_integer_value(lag));
			else
				printf(", lag unknown");
			if (json_is_integer(rpo))
				printf(" (RPO %" JSON_INTEGER_FORMAT " s%s)", json_integer_value(rpo),
				       json_is_false(json_object_get(sm, "rpo_ok")) ? ": BREACHED" : "");
			printf(", last transfer %s\n", str_or(sm, "last_transfer", "none"));
		}
	}
	json_decref(reply);
	return EXIT_DONE;
}

/* ---- DR (issue 10; agent/mirror.c) ------------------------------------------------------------ */

/* How long `dr failover|resync` waits: kvmcd answers by its request deadline (150 s). */
#define DR_TIMEOUT_MS 170000u

/* kvmcctl dr status [DATASTORE] [--json] | failover DATASTORE | resync DATASTORE */
static int cmd_dr(struct ctl *ctl, int argc, char **argv)
{
	const char *verb = argc >= 2 ? argv[1] : "", *arg = NULL;
	json_t *reply = NULL, *x;
	bool json = false;
	size_t i;
	int r;

	for (int k = 2; k < argc; k++) {
		if (strcmp(argv[k], "--json") == 0 || strcmp(argv[k], "-j") == 0)
			json = true;
		else if (argv[k][0] == '-')
			return usage_error("dr %s: unknown option '%s'", verb, argv[k]);
		else if (!arg)
			arg = argv[k];
		else
			return usage_error("dr %s: unexpected argument '%s'", verb, argv[k]);
	}
	if (strcmp(verb, "failover") == 0 || strcmp(verb, "resync") == 0) {
		bool failover = verb[0] == 'f';

		if (!arg)
			return usage_error("dr %s: which datastore?", verb);
		if (json)
			return usage_error("dr %s: no --json", verb);
		r = request_timed(ctl, failover ? "dr failover" : "dr resync", true,
				  json_pack("{ssss}", "cmd", failover ? "dr-failover" : "dr-resync", "datastore", arg), NULL, 0,
				  DR_TIMEOUT_MS, &reply);
		if (r != EXIT_DONE)
			return r;
		printf("%s\n", str_or(reply, "message", "done"));
		json_decref(reply);
		return EXIT_DONE;
	}
	if (strcmp(verb, "status") != 0)
		return usage_error("dr: status [DATASTORE] [--json] | failover DATASTORE | resync DATASTORE");
	r = request(ctl, "dr status", false,
		    arg ? json_pack("{ssss}", "cmd", "dr-status", "datastore", arg) : json_pack("{ss}", "cmd", "dr-status"), NULL,
		    0, &reply);
	if (r != EXIT_DONE)
		return r;
	if (json) {
		print_reply_json(reply);
		json_decref(reply);
		return EXIT_DONE;
	}
	if (!json_array_size(json_object_get(reply, "datastores")))
		printf("no datastore is protected by SnapMirror\n");
	else
		printf("%-16s %-12s %-28s %-14s %-12s %-10s %-10s %s\n", "DATASTORE", "POLICY", "DESTINATION", "STATE",
		       "HEALTH", "LAG", "RPO", "LAST TRANSFER");
	json_array_foreach(json_object_get(reply, "datastores"), i, x) {
		char dest[256], lag[32], rpo[32];
		json_t *l = json_object_get(x, "lag_seconds"), *o = json_object_get(x, "rpo_seconds");

		snprintf(dest, sizeof(dest), "%s:%s", str_or(x, "destination_svm", "?"), str_or(x, "destination_volume", "?"));
		snprintf(lag, sizeof(lag), json_is_integer(l) ? "%" JSON_INTEGER_FORMAT "s" : "-", json_integer_value(l));
		snprintf(rpo, sizeof(rpo), json_is_integer(o) ? "%" JSON_INTEGER_FORMAT "s" : "-", json_integer_value(o));
		printf("%-16s %-12s %-28s %-14s %-12s %-10s %-10s %s%s%s\n", str_or(x, "datastore", "?"),
		       str_or(x, "policy", "?"), dest, str_or(x, "state", "unknown"), str_or(x, "health", "?"), lag, rpo,
		       str_or(x, "last_transfer", "-"),
		       json_is_string(json_object_get(x, "dr")) ? "  dr: " : "", str_or(x, "dr", ""));
		if (json_is_string(json_object_get(x, "error")))
			printf("  error: %s\n", str_or(x, "error", ""));
		if (json_is_string(json_object_get(x, "unhealthy_reason")))
			printf("  unhealthy: %s\n", str_or(x, "unhealthy_reason", ""));
	}
	json_decref(reply);
	return EXIT_DONE;
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
	const char *cmd, *base = argc > 0 && argv[0] ? strrchr(argv[0], '/') : NULL;
	int c, r;

	/* fence_kvmcd: dlm_controld's fence device, run with no arguments (dlm-device.h) */
	base = base ? base + 1 : argc > 0 ? argv[0] : "";
	if (base && strcmp(base, "fence_kvmcd") == 0) {
		r = cmd_fence_dlm_device(&ctl);
		config_free(ctl.cfg);
		return r;
	}

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
			return EXIT_OTHER;
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
	else if (strcmp(cmd, "records") == 0)
		r = cmd_records(&ctl, argc, argv);
	else if (strcmp(cmd, "metrics") == 0)
		r = cmd_metrics(&ctl, argc, argv);
	else if (strcmp(cmd, "ontap") == 0)
		r = cmd_ontap(&ctl, argc, argv);
	else if (strcmp(cmd, "datastore") == 0)
		r = cmd_datastore(&ctl, argc, argv);
	else if (strcmp(cmd, "pool") == 0)
		r = cmd_pool(&ctl, argc, argv);
	else if (strcmp(cmd, "preflight") == 0)
		r = cmd_preflight(&ctl, argc, argv);
	else if (strcmp(cmd, "vm") == 0)
		r = cmd_vm(&ctl, argc, argv);
	else if (strcmp(cmd, "node") == 0)
		r = cmd_node(&ctl, argc, argv);
	else if (strcmp(cmd, "cluster") == 0)
		r = cmd_cluster(&ctl, argc, argv);
	else if (strcmp(cmd, "fence") == 0)
		r = cmd_fence(&ctl, argc, argv);
	else if (strcmp(cmd, "ha") == 0)
		r = cmd_ha(&ctl, argc, argv);
	else if (strcmp(cmd, "snapshot") == 0)
		r = cmd_snapshot(&ctl, argc, argv);
	else if (strcmp(cmd, "protection") == 0)
		r = cmd_protection(&ctl, argc, argv);
	else if (strcmp(cmd, "dr") == 0)
		r = cmd_dr(&ctl, argc, argv);
	else
		r = usage_error("unknown command '%s'", cmd);
	config_free(ctl.cfg);
	return r;
}
