/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Golden scenario runner for the coordination core.
 *
 * Runs N cores (coord/cluster/core.c, the same code the daemon runs) in one process over a simulated
 * corosync: CPG with extended virtual synchrony (messages are delivered in one total order, only
 * in the view they were sent in; messages of a view in flight at a membership change are flushed
 * to the members that stay together, the rest dropped), votequorum (one vote per node whose
 * corosync runs, quorate with more than half of the expected votes), failure detection delays,
 * partitions, stalls (corosync delivering nothing, as in an asymmetric partition), per-node
 * delivery delays, agent and corosync restarts with the persisted state kept on "disk".
 *
 * Virtual time, no threads, no randomness: a scenario always produces the same decision log.
 * The log is compared with the scenario's .expect file, `expect` lines in the scenario are
 * checked at their time, and safety invariants are checked after every step:
 *   - an epoch is only ever led by one node, and a node's epochs only grow;
 *   - at most one node acts as leader at any time, and only in a quorate partition once the
 *     partition's membership has been delivered;
 *   - synced members of one view at the same version hold identical state.
 *
 * Usage: scenario-sim FILE.scn [--update]   (--update rewrites FILE.expect from this run)
 *
 * Scenario language (one statement per line, '#' comments, times in ms):
 *   nodes N                        define nodes 1..N (expected votes = N)
 *   option detect|merge|latency|stall|join|corosync_start|request_timeout MS
 *   option quorum_first 1          votequorum's event precedes the CPG view (default: 1 ms after)
 *   proto I MIN MAX                protocol range of node I's agent (before it starts)
 *   at T start|kill|start-agent|kill-agent|stop-agent|start-corosync|kill-corosync I[,J...]
 *   at T partition A,B C ...       cut links between the groups   | at T heal
 *   at T stall A,B,...             those nodes' corosync stops delivering | at T unstall
 *   at T delay I MS                extra delivery latency to node I
 *   at T disk I VERSION EPOCH JSON replace node I's persisted state (its agent must be down)
 *   at T apply I JSON              a client on node I applies JSON as the spec
 *   at T inject I HEX              deliver raw bytes to node I as if sent by its lowest peer
 *   at T expect leader L [epoch E] [on I,J]  | no-leader I,J | version V I,J | same-state I,J
 *   at T expect stalled I | not-stalled I | quorate I | not-quorate I | spec I JSON | synced I,J
 *   end T
 */
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core.h"
#include "macros.h"
#include "spec.h"

#define MAXN 16
#define MS 1000ULL

enum ev_kind {
	EV_SCRIPT,   /* a scenario statement */
	EV_DELIVER,  /* a message reaches a node */
	EV_RING,     /* corosync settles a new membership: recompute components, send views */
	EV_QUORUM,   /* votequorum notification for one node */
	EV_TICK,     /* a core's timer */
	EV_CONNECT,  /* an agent's connection to corosync comes up */
};

struct msg {
	int refs;
	uint8_t *data;   /* owned */
	size_t len;
	int sender;
	uint64_t view;   /* view id it was sent in */
};

struct event {
	uint64_t at;     /* usec */
	uint64_t seq;    /* tie-break: FIFO */
	enum ev_kind kind;
	int node;
	struct msg *msg;
	char *line;      /* EV_SCRIPT: owned */
	int lineno;
};

struct node {
	int id;
	bool corosync_up, agent_up, connected;
	bool joined;              /* agent is a CPG member (once connected) */
	struct core *core;        /* NULL while the agent is down */
	char *disk;               /* persisted state text, owned */
	uint16_t proto_min, proto_max;
	uint64_t delay;           /* extra delivery latency */
	uint64_t view;            /* view id the node currently has */
	uint32_t view_members[MAXN];
	uint64_t view_inc[MAXN];  /* incarnation of each member when the view formed */
	size_t n_view;
	uint64_t incarnation;     /* bumped at each (re)connect: a new CPG member */
	uint32_t ring[MAXN];      /* settled totem ring (votequorum's node list) */
	size_t n_ring;
	bool view_pending;        /* its component's membership is being re-formed */
	uint64_t tick_at;
	uint64_t last_epoch;      /* invariant: epochs a node leads only grow */
	uint64_t gen;             /* agent generation: events for a dead agent are dropped */
};

static struct {
	int n;
	struct node nodes[MAXN + 1];
	int group[MAXN + 1];       /* partition group; nodes in different groups are cut */
	bool stalled[MAXN + 1];
	uint64_t now;
	uint64_t seq;
	uint64_t next_view;
	struct event **heap;
	size_t heap_n, heap_cap;
	uint64_t detect, merge, latency, stall, join, corosync_start, request_timeout;
	bool quorum_first;
	uint64_t client_seq;
	FILE *log;
	char *logbuf;
	size_t loglen;
	int failures;
	uint64_t epoch_owner[4096];
	struct msg *held[4096];    /* sent by stalled nodes: cpg_mcast_joined keeps them queued */
	size_t n_held;
	uint64_t end;
} S;

_printf_(1, 2) static void out(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	fprintf(S.log, "%7.3f ", (double)S.now / 1e6);
	vfprintf(S.log, fmt, ap);
	fputc('\n', S.log);
	va_end(ap);
}

_printf_(2, 3) static void fail(int lineno, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	fprintf(stderr, "FAIL (t=%.3f%s", (double)S.now / 1e6, lineno ? ", line " : "");
	if (lineno)
		fprintf(stderr, "%d", lineno);
	fprintf(stderr, "): ");
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
	out("FAIL: see stderr");
	S.failures++;
}

/* ---- event heap ------------------------------------------------------------------------- */

static bool ev_before(const struct event *a, const struct event *b)
{
	return a->at < b->at || (a->at == b->at && a->seq < b->seq);
}

static void push_ev_keepseq(struct event *e)
{
	size_t i;

	if (S.heap_n == S.heap_cap) {
		S.heap_cap = S.heap_cap ? S.heap_cap * 2 : 256;
		S.heap = realloc(S.heap, S.heap_cap * sizeof(*S.heap));
		if (!S.heap)
			abort();
	}
	i = S.heap_n++;
	S.heap[i] = e;
	while (i > 0 && ev_before(S.heap[i], S.heap[(i - 1) / 2])) {
		struct event *t = S.heap[i];
		S.heap[i] = S.heap[(i - 1) / 2];
		S.heap[(i - 1) / 2] = t;
		i = (i - 1) / 2;
	}
}

static void push_ev(struct event *e)
{
	e->seq = S.seq++;
	push_ev_keepseq(e);
}

static struct event *pop_ev(void)
{
	struct event *top;
	size_t i = 0;

	if (!S.heap_n)
		return NULL;
	top = S.heap[0];
	S.heap[0] = S.heap[--S.heap_n];
	for (;;) {
		size_t l = 2 * i + 1, r = l + 1, m = i;
		if (l < S.heap_n && ev_before(S.heap[l], S.heap[m]))
			m = l;
		if (r < S.heap_n && ev_before(S.heap[r], S.heap[m]))
			m = r;
		if (m == i)
			break;
		struct event *t = S.heap[i];
		S.heap[i] = S.heap[m];
		S.heap[m] = t;
		i = m;
	}
	return top;
}

static struct event *new_ev(uint64_t at, enum ev_kind kind, int node)
{
	struct event *e = calloc(1, sizeof(*e));

	if (!e)
		abort();
	e->at = at;
	e->kind = kind;
	e->node = node;
	return e;
}

static void msg_unref(struct msg *m)
{
	if (m && --m->refs == 0) {
		free(m->data);
		free(m);
	}
}

static void free_ev(struct event *e)
{
	msg_unref(e->msg);
	free(e->line);
	free(e);
}

/* ---- topology --------------------------------------------------------------------------- */

static bool linked(int a, int b)
{
	return S.group[a] == S.group[b] && S.stalled[a] == S.stalled[b];
}

/* Nodes whose corosync runs and can reach `of` (its totem ring). */
static size_t ring_of(int of, int *out)
{
	size_t n = 0;

	for (int i = 1; i <= S.n; i++)
		if (S.nodes[i].corosync_up && linked(of, i))
			out[n++] = i;
	return n;
}

/* votequorum's verdict for a node: from its last settled ring, not from the wires. */
static bool ring_quorate(int of)
{
	return S.nodes[of].corosync_up && S.nodes[of].n_ring * 2 > (size_t)S.n;
}

static void settle_rings(void)
{
	for (int i = 1; i <= S.n; i++) {
		int r[MAXN];
		size_t n;
		if (!S.nodes[i].corosync_up || S.stalled[i])
			continue;
		n = ring_of(i, r);
		S.nodes[i].n_ring = n;
		for (size_t k = 0; k < n; k++)
			S.nodes[i].ring[k] = (uint32_t)r[k];
	}
}

static void schedule_ring(uint64_t after)
{
	for (int i = 1; i <= S.n; i++)
		S.nodes[i].view_pending = true;
	push_ev(new_ev(S.now + after, EV_RING, 0));
}

/* ---- running a core --------------------------------------------------------------------- */

static void multicast(int sender, uint8_t *data, size_t len);
static void fanout(struct msg *m);
static void give_quorum(struct node *nd);

static void arm_tick(struct node *nd)
{
	uint64_t d = nd->core ? core_next_deadline(nd->core) : 0;
	struct event *e;

	if (!d || d == nd->tick_at)
		return;
	if (d < S.now)
		d = S.now;
	nd->tick_at = d;
	e = new_ev(d, EV_TICK, nd->id);
	e->lineno = (int)nd->gen;
	push_ev(e);
}

static void check_invariants(void);

static void drain(struct node *nd)
{
	struct core_action a;

	while (nd->core && core_next_action(nd->core, &a)) {
		switch (a.type) {
		case CORE_ACT_SEND:
			multicast(nd->id, TAKE_PTR(a.data), a.len);
			break;
		case CORE_ACT_PERSIST:
			free(nd->disk);
			nd->disk = core_persist_json(nd->core);
			break;
		case CORE_ACT_REPLY:
			out("n%d: reply #%" PRIu64 ": %s (version %" PRIu64 "): %s", nd->id, a.client_id,
			    a.error ? strerror(-a.error) : "ok", a.version, a.text);
			break;
		case CORE_ACT_LOG:
			if (a.level <= CORE_LOG_INFO) {
				char *t = core_log_text(&a);
				out("n%d: %s", nd->id, t ? t : "?");
				free(t);
			}
			break;
		case CORE_ACT_ROLE:
			if (a.is_leader) {
				out("n%d: == acting as leader, epoch %" PRIu64, nd->id, a.epoch);
				if (a.epoch < nd->last_epoch)
					fail(0, "node %d leads epoch %" PRIu64 " after epoch %" PRIu64, nd->id, a.epoch,
					     nd->last_epoch);
				nd->last_epoch = a.epoch;
				if (a.epoch < ARRAY_SIZE(S.epoch_owner)) {
					if (S.epoch_owner[a.epoch] && S.epoch_owner[a.epoch] != (uint64_t)nd->id)
						fail(0, "epoch %" PRIu64 " led by node %d and node %" PRIu64, a.epoch,
						     nd->id, S.epoch_owner[a.epoch]);
					S.epoch_owner[a.epoch] = nd->id;
				}
			} else {
				out("n%d: == no longer leader", nd->id);
			}
			break;
		case CORE_ACT_LEADING:
		case CORE_ACT_COMMITTED:
			break;
		}
		core_action_clear(&a);
	}
	arm_tick(nd);
}

static void multicast(int sender, uint8_t *data, size_t len)
{
	struct node *s = &S.nodes[sender];
	struct msg *m;

	if (!s->joined) {
		free(data); /* not in a group: a real cpg_mcast_joined fails too */
		return;
	}
	m = calloc(1, sizeof(*m));
	if (!m)
		abort();
	m->data = data;
	m->len = len;
	m->sender = sender;
	m->view = s->view;
	if (S.stalled[sender]) {
		/* corosync answers "try again": the agent keeps it queued until corosync moves */
		if (S.n_held < ARRAY_SIZE(S.held))
			S.held[S.n_held++] = m;
		else
			msg_unref(m);
		return;
	}
	fanout(m);
}

static void fanout(struct msg *m)
{
	struct node *s = &S.nodes[m->sender];

	for (size_t i = 0; i < s->n_view; i++) {
		int to = (int)s->view_members[i];
		struct event *e = new_ev(S.now + S.latency + S.nodes[to].delay, EV_DELIVER, to);
		e->msg = m;
		m->refs++;
		push_ev(e);
	}
	if (!m->refs) {
		free(m->data);
		free(m);
	}
}

/* After a ring change: queued messages go out if their sender still has the view they were
 * queued in; otherwise the new view's sync round supersedes them. */
static void release_held(void)
{
	size_t n = S.n_held;

	S.n_held = 0;
	for (size_t k = 0; k < n; k++) {
		struct msg *m = S.held[k];
		struct node *s = &S.nodes[m->sender];
		if (!S.stalled[m->sender] && s->joined && s->view == m->view)
			fanout(m);
		else if (S.stalled[m->sender])
			S.held[S.n_held++] = m;
		else
			msg_unref(m);
	}
}

static void agent_start(int i)
{
	struct node *nd = &S.nodes[i];
	struct core_config cfg = {
		.nodeid = (uint32_t)i, .proto_min = nd->proto_min, .proto_max = nd->proto_max,
		.stall_timeout_usec = S.stall, .request_timeout_usec = S.request_timeout,
	};
	char name[16];
	_cleanup_free_ char *err = NULL;

	if (nd->agent_up)
		return;
	snprintf(name, sizeof(name), "n%d", i);
	cfg.name = name;
	if (core_new(&cfg, nd->disk, NULL, &nd->core, &err) < 0) {
		out("n%d: agent refuses to start: %s", i, err ? err : "?");
		return;
	}
	nd->agent_up = true;
	nd->gen++;
	out("n%d: agent started (state version %" PRIu64 ")", i, core_state_version(nd->core));
	if (nd->corosync_up) {
		struct event *e = new_ev(S.now + S.join, EV_CONNECT, i);
		e->lineno = (int)nd->gen;
		push_ev(e);
	}
}

static void agent_stop(int i, bool clean)
{
	struct node *nd = &S.nodes[i];

	if (!nd->agent_up)
		return;
	core_free(nd->core);
	nd->core = NULL;
	nd->agent_up = nd->connected = nd->joined = false;
	nd->n_view = 0;
	nd->tick_at = 0;
	nd->gen++;
	out("n%d: agent %s", i, clean ? "stopped" : "killed");
	/* A process leaving CPG is seen at once by its ring (no failure detection needed). */
	if (nd->corosync_up)
		schedule_ring(20 * MS);
}

static void corosync_stop(int i)
{
	struct node *nd = &S.nodes[i];

	if (!nd->corosync_up)
		return;
	nd->corosync_up = false;
	out("n%d: corosync killed", i);
	if (nd->agent_up && nd->connected) {
		nd->connected = nd->joined = false;
		nd->n_view = 0;
		core_disconnected(nd->core, S.now);
		drain(nd);
	}
	schedule_ring(S.detect);
}

static void corosync_start(int i)
{
	struct node *nd = &S.nodes[i];

	if (nd->corosync_up)
		return;
	nd->corosync_up = true;
	nd->n_ring = 1;
	nd->ring[0] = (uint32_t)i;
	out("n%d: corosync started", i);
	if (nd->agent_up) {
		/* The agent's reconnect backoff finds it once it is up. */
		struct event *e = new_ev(S.now + S.corosync_start, EV_CONNECT, i);
		e->lineno = (int)nd->gen;
		push_ev(e);
	}
	schedule_ring(S.corosync_start);
}

/*
 * Corosync settled a new membership: each connected component gets a view (only if it changed
 * for that node) followed by -- or preceded by, with quorum_first -- a quorum event. In-flight
 * messages of old views are delivered first to members that stay with their sender.
 */
static void ring_change(void)
{
	uint32_t members[MAXN + 1][MAXN];
	size_t nm[MAXN + 1] = { 0 };
	uint64_t newview[MAXN + 1] = { 0 };

	/* Flush: messages of the old views still in flight reach the members that stay with their
	 * sender, now and in order, before the new views; the others never arrive. */
	{
		struct event **keep = calloc(S.heap_n + 1, sizeof(*keep)), **flush = calloc(S.heap_n + 1, sizeof(*flush));
		size_t nkeep = 0, nflush = 0;
		struct event *e;

		if (!keep || !flush)
			abort();
		while ((e = pop_ev())) {
			struct node *to = e->node ? &S.nodes[e->node] : NULL;
			if (e->kind == EV_DELIVER && to->core && to->joined && e->msg->view == to->view &&
			    linked(e->node, e->msg->sender) && !S.stalled[e->node])
				flush[nflush++] = e;
			else
				keep[nkeep++] = e;
		}
		for (size_t k = 0; k < nkeep; k++)
			push_ev_keepseq(keep[k]);
		for (size_t k = 0; k < nflush; k++) {
			struct node *nd = &S.nodes[flush[k]->node];
			core_message(nd->core, S.now, (uint32_t)flush[k]->msg->sender, flush[k]->msg->data,
				     flush[k]->msg->len);
			drain(nd); /* what it sends now belongs to the old view and dies with it */
			free_ev(flush[k]);
		}
		free(keep);
		free(flush);
	}

	settle_rings();
	for (int i = 1; i <= S.n; i++) {
		struct node *nd = &S.nodes[i];
		nd->view_pending = false;
		if (!nd->joined || S.stalled[i])
			continue;
		for (int j = 1; j <= S.n; j++)
			if (S.nodes[j].joined && linked(i, j))
				members[i][nm[i]++] = (uint32_t)j;
	}
	for (int i = 1; i <= S.n; i++) {
		struct node *nd = &S.nodes[i];
		bool same;
		if (!nd->joined || S.stalled[i])
			continue;
		same = nm[i] == nd->n_view && !memcmp(members[i], nd->view_members, nm[i] * sizeof(uint32_t));
		for (size_t k = 0; same && k < nm[i]; k++)
			same = nd->view_inc[k] == S.nodes[members[i][k]].incarnation;
		if (same)
			continue;
		/* one view id per component */
		for (int j = 1; j < i && !newview[i]; j++)
			if (newview[j] && linked(i, j))
				newview[i] = newview[j];
		if (!newview[i])
			newview[i] = ++S.next_view;
	}
	for (int i = 1; i <= S.n; i++) {
		struct node *nd = &S.nodes[i];
		struct core_left left[MAXN];
		size_t nl = 0;
		struct event *q;
		if (!newview[i])
			continue;
		for (size_t k = 0; k < nd->n_view; k++) {
			int o = (int)nd->view_members[k];
			bool still = false;
			for (size_t j = 0; j < nm[i]; j++)
				still |= members[i][j] == (uint32_t)o && nd->view_inc[k] == S.nodes[o].incarnation;
			if (!still)
				left[nl++] = (struct core_left){ (uint32_t)o,
					S.nodes[o].corosync_up && linked(i, o) ? CORE_LEAVE_PROCDOWN : CORE_LEAVE_NODEDOWN };
		}
		nd->view = newview[i];
		memcpy(nd->view_members, members[i], nm[i] * sizeof(uint32_t));
		for (size_t k = 0; k < nm[i]; k++)
			nd->view_inc[k] = S.nodes[members[i][k]].incarnation;
		nd->n_view = nm[i];
		q = new_ev(S.quorum_first ? S.now : S.now + 1 * MS, EV_QUORUM, i);
		q->lineno = (int)nd->gen;
		if (S.quorum_first) {
			give_quorum(nd);
			free_ev(q);
		} else {
			push_ev(q);
		}
		core_confchg(nd->core, S.now, nd->view_members, nd->n_view, left, nl);
		drain(nd);
	}
	release_held();
	/* Nodes whose CPG view did not change still get votequorum's verdict on the new ring. */
	for (int i = 1; i <= S.n; i++) {
		struct node *nd = &S.nodes[i];
		struct event *q;
		if (newview[i] || !nd->connected || S.stalled[i])
			continue;
		q = new_ev(S.now + 1 * MS, EV_QUORUM, i);
		q->lineno = (int)nd->gen;
		push_ev(q);
	}
}

static uint32_t ring_votes(int i)
{
	return S.nodes[i].corosync_up ? (uint32_t)S.nodes[i].n_ring : 0;
}

static void give_quorum(struct node *nd)
{
	core_quorum_nodes(nd->core, nd->ring, nd->n_ring);
	core_quorum(nd->core, S.now, ring_quorate(nd->id), ring_votes(nd->id), (uint32_t)S.n);
}

/* ---- invariants ------------------------------------------------------------------------- */

static void check_invariants(void)
{
	int acting = 0, who = 0;

	for (int i = 1; i <= S.n; i++) {
		struct node *nd = &S.nodes[i];
		if (!nd->core || !core_is_leader(nd->core))
			continue;
		acting++;
		who = i;
		if (!nd->view_pending && !ring_quorate(i))
			fail(0, "node %d acts as leader in a partition without quorum", i);
	}
	if (acting > 1)
		fail(0, "%d nodes act as leader at once (last: %d)", acting, who);
	for (int i = 1; i <= S.n; i++)
		for (int j = i + 1; j <= S.n; j++) {
			struct node *a = &S.nodes[i], *b = &S.nodes[j];
			if (!a->core || !b->core || !a->joined || !b->joined || a->view != b->view)
				continue;
			if (core_is_synced(a->core) && core_is_synced(b->core) &&
			    core_state_version(a->core) == core_state_version(b->core) &&
			    core_state_hash(a->core) != core_state_hash(b->core))
				fail(0, "nodes %d and %d are synced at version %" PRIu64 " with different states", i, j,
				     core_state_version(a->core));
		}
}

/* ---- scenario statements ---------------------------------------------------------------- */

static int parse_list(const char *s, int *out, int max)
{
	int n = 0;
	char *end;

	while (*s && n < max) {
		long v = strtol(s, &end, 10);
		if (end == s || v < 1 || v > S.n)
			return -1;
		out[n++] = (int)v;
		s = end;
		if (*s == ',')
			s++;
		else if (*s && !isspace((unsigned char)*s))
			return -1;
		else
			break;
	}
	return n;
}

static const char *skipws(const char *s)
{
	while (isspace((unsigned char)*s))
		s++;
	return s;
}

static const char *word(const char *s, char *w, size_t max)
{
	size_t n = 0;

	s = skipws(s);
	while (*s && !isspace((unsigned char)*s) && n + 1 < max)
		w[n++] = *s++;
	w[n] = 0;
	return skipws(s);
}

static int hexval(int ch)
{
	return isdigit(ch) ? ch - '0' : tolower(ch) - 'a' + 10;
}

static void do_expect(const char *rest, int lineno)
{
	char what[32], arg[64];
	int list[MAXN], n;

	rest = word(rest, what, sizeof(what));
	if (!strcmp(what, "leader")) {
		long leader, epoch = -1;
		rest = word(rest, arg, sizeof(arg));
		leader = strtol(arg, NULL, 10);
		n = 0;
		while (*rest) {
			rest = word(rest, arg, sizeof(arg));
			if (!strcmp(arg, "epoch")) {
				rest = word(rest, arg, sizeof(arg));
				epoch = strtol(arg, NULL, 10);
			} else if (!strcmp(arg, "on")) {
				rest = word(rest, arg, sizeof(arg));
				n = parse_list(arg, list, MAXN);
			}
		}
		if (n <= 0) /* default: every running agent linked to the leader */
			for (int i = 1; i <= S.n; i++)
				if (S.nodes[i].core && linked(i, (int)leader))
					list[n++] = i;
		for (int k = 0; k < n; k++) {
			struct core *c = S.nodes[list[k]].core;
			if (!c || core_leader_id(c) != (uint32_t)leader || !core_is_synced(c) ||
			    (epoch >= 0 && core_leader_epoch(c) != (uint64_t)epoch))
				fail(lineno, "expected node %d to follow leader %ld%s%ld synced; it follows %" PRIu32
					     " epoch %" PRIu64 " (%s)",
				     list[k], leader, epoch >= 0 ? " epoch " : "", epoch >= 0 ? epoch : 0L,
				     c ? core_leader_id(c) : 0, c ? core_leader_epoch(c) : 0,
				     c ? (core_is_synced(c) ? "synced" : "not synced") : "agent down");
		}
		if (!S.nodes[leader].core || !core_is_leader(S.nodes[leader].core))
			fail(lineno, "expected node %ld to act as leader", leader);
		return;
	}
	if (!strcmp(what, "version")) {
		long v;
		rest = word(rest, arg, sizeof(arg));
		v = strtol(arg, NULL, 10);
		n = parse_list(rest, list, MAXN);
		for (int k = 0; k < n; k++) {
			struct core *c = S.nodes[list[k]].core;
			if (!c || core_state_version(c) != (uint64_t)v)
				fail(lineno, "expected node %d at version %ld, it is at %" PRIu64, list[k], v,
				     c ? core_state_version(c) : 0);
		}
		return;
	}
	if (!strcmp(what, "spec")) {
		json_t *want, *have;
		rest = word(rest, arg, sizeof(arg));
		n = parse_list(arg, list, 1);
		want = json_loads(rest, 0, NULL);
		if (n != 1 || !want || !S.nodes[list[0]].core) {
			fail(lineno, "bad expect spec");
			json_decref(want);
			return;
		}
		have = core_spec_json(S.nodes[list[0]].core);
		if (!json_equal(want, have)) {
			_cleanup_free_ char *h = json_dumps(have, JSON_SORT_KEYS | JSON_COMPACT);
			fail(lineno, "node %d spec is %s", list[0], h);
		}
		json_decref(want);
		json_decref(have);
		return;
	}
	n = parse_list(rest, list, MAXN);
	if (n <= 0) {
		fail(lineno, "bad expect: %s", what);
		return;
	}
	for (int k = 0; k < n; k++) {
		struct core *c = S.nodes[list[k]].core;
		json_t *st;
		bool stalled;
		if (!c) {
			fail(lineno, "node %d: agent is down", list[k]);
			continue;
		}
		st = core_status_json(c, S.now);
		stalled = json_is_true(json_object_get(json_object_get(st, "sync"), "stalled"));
		json_decref(st);
		if (!strcmp(what, "no-leader") && core_leader_id(c))
			fail(lineno, "expected node %d without leader, it follows %" PRIu32, list[k], core_leader_id(c));
		else if (!strcmp(what, "stalled") && !stalled)
			fail(lineno, "expected node %d stalled", list[k]);
		else if (!strcmp(what, "not-stalled") && stalled)
			fail(lineno, "expected node %d not stalled", list[k]);
		else if (!strcmp(what, "quorate") && !core_is_quorate(c))
			fail(lineno, "expected node %d quorate", list[k]);
		else if (!strcmp(what, "not-quorate") && core_is_quorate(c))
			fail(lineno, "expected node %d not quorate", list[k]);
		else if (!strcmp(what, "synced") && !core_is_synced(c))
			fail(lineno, "expected node %d synced", list[k]);
		else if (!strcmp(what, "same-state") &&
			 (core_state_hash(c) != core_state_hash(S.nodes[list[0]].core) ||
			  core_state_version(c) != core_state_version(S.nodes[list[0]].core)))
			fail(lineno, "node %d state (version %" PRIu64 ") differs from node %d's (version %" PRIu64 ")",
			     list[k], core_state_version(c), list[0], core_state_version(S.nodes[list[0]].core));
		else if (strcmp(what, "no-leader") && strcmp(what, "stalled") && strcmp(what, "not-stalled") &&
			 strcmp(what, "quorate") && strcmp(what, "not-quorate") && strcmp(what, "synced") &&
			 strcmp(what, "same-state"))
			fail(lineno, "unknown expectation \"%s\"", what);
	}
}

static void run_script(const char *line, int lineno)
{
	char verb[32], arg[256];
	const char *rest = word(line, verb, sizeof(verb));
	int list[MAXN], n;

	out("== %s", line);
	if (!strcmp(verb, "expect")) {
		do_expect(rest, lineno);
		return;
	}
	if (!strcmp(verb, "partition")) {
		int g = 0;
		for (int i = 1; i <= S.n; i++)
			S.group[i] = -i; /* unlisted nodes are alone */
		while (*rest) {
			rest = word(rest, arg, sizeof(arg));
			n = parse_list(arg, list, MAXN);
			if (n <= 0) {
				fail(lineno, "bad partition group \"%s\"", arg);
				return;
			}
			g++;
			for (int k = 0; k < n; k++)
				S.group[list[k]] = g;
		}
		schedule_ring(S.detect);
		return;
	}
	if (!strcmp(verb, "heal")) {
		for (int i = 1; i <= S.n; i++)
			S.group[i] = 0;
		schedule_ring(S.merge);
		return;
	}
	if (!strcmp(verb, "unstall")) {
		for (int i = 1; i <= S.n; i++)
			S.stalled[i] = false;
		schedule_ring(S.merge);
		return;
	}
	if (!strcmp(verb, "disk")) {
		int i;
		long long ver, ep;
		int used = 0;
		json_t *spec, *doc;
		if (sscanf(rest, "%d %lld %lld %n", &i, &ver, &ep, &used) != 3 || i < 1 || i > S.n ||
		    S.nodes[i].agent_up || !(spec = json_loads(rest + used, 0, NULL))) {
			fail(lineno, "disk: needs I VERSION EPOCH JSON for a node whose agent is down");
			return;
		}
		doc = json_pack("{sisIsIsIsoso}", "format", 1, "version", (json_int_t)ver, "state_epoch",
				(json_int_t)ep, "max_epoch", (json_int_t)ep, "spec", spec, "status", json_object());
		free(S.nodes[i].disk);
		S.nodes[i].disk = json_dumps(doc, JSON_SORT_KEYS);
		json_decref(doc);
		return;
	}
	if (!strcmp(verb, "apply") || !strcmp(verb, "inject")) {
		rest = word(rest, arg, sizeof(arg));
		n = parse_list(arg, list, 1);
		if (n != 1 || !S.nodes[list[0]].core) {
			fail(lineno, "%s: node %s has no running agent", verb, arg);
			return;
		}
		if (!strcmp(verb, "apply")) {
			uint64_t id = ++S.client_seq;
			out("n%d: client #%" PRIu64 " applies %s", list[0], id, rest);
			core_request_spec(S.nodes[list[0]].core, S.now, id, rest, strlen(rest));
		} else {
			size_t len = strlen(rest) / 2;
			uint8_t *b = calloc(len + 1, 1);
			for (size_t k = 0; k < len; k++)
				b[k] = (uint8_t)(hexval(rest[2 * k]) << 4 | hexval(rest[2 * k + 1]));
			core_message(S.nodes[list[0]].core, S.now, list[0] == 1 ? 2 : 1, b, len);
			free(b);
		}
		drain(&S.nodes[list[0]]);
		return;
	}
	rest = word(rest, arg, sizeof(arg));
	n = parse_list(arg, list, MAXN);
	if (n <= 0) {
		fail(lineno, "bad node list \"%s\"", arg);
		return;
	}
	for (int k = 0; k < n; k++) {
		int i = list[k];
		if (!strcmp(verb, "start")) {
			corosync_start(i);
			agent_start(i);
		} else if (!strcmp(verb, "kill")) {
			agent_stop(i, false);
			corosync_stop(i);
		} else if (!strcmp(verb, "start-agent")) {
			agent_start(i);
		} else if (!strcmp(verb, "kill-agent") || !strcmp(verb, "stop-agent")) {
			agent_stop(i, !strcmp(verb, "stop-agent"));
		} else if (!strcmp(verb, "start-corosync")) {
			corosync_start(i);
		} else if (!strcmp(verb, "kill-corosync")) {
			corosync_stop(i);
		} else if (!strcmp(verb, "stall")) {
			S.stalled[i] = true;
		} else if (!strcmp(verb, "delay")) {
			word(rest, arg, sizeof(arg));
			S.nodes[i].delay = strtoull(arg, NULL, 10) * MS;
		} else {
			fail(lineno, "unknown statement \"%s\"", verb);
			return;
		}
	}
}

static void handle(struct event *e)
{
	struct node *nd = e->node ? &S.nodes[e->node] : NULL;

	S.now = e->at;
	switch (e->kind) {
	case EV_SCRIPT:
		run_script(e->line, e->lineno);
		break;
	case EV_RING:
		/* Only the last scheduled ring change applies; earlier ones are superseded. */
		for (size_t k = 0; k < S.heap_n; k++)
			if (S.heap[k]->kind == EV_RING)
				return;
		ring_change();
		break;
	case EV_DELIVER:
		if (!nd->core || !nd->joined || e->msg->view != nd->view || S.stalled[e->node])
			break;
		core_message(nd->core, S.now, (uint32_t)e->msg->sender, e->msg->data, e->msg->len);
		drain(nd);
		break;
	case EV_QUORUM:
		if (!nd->core || !nd->connected || (uint64_t)e->lineno != nd->gen || S.stalled[e->node])
			break;
		give_quorum(nd);
		drain(nd);
		break;
	case EV_TICK:
		if (!nd->core || (uint64_t)e->lineno != nd->gen || e->at != nd->tick_at)
			break;
		nd->tick_at = 0;
		core_tick(nd->core, S.now);
		drain(nd);
		break;
	case EV_CONNECT:
		if (!nd->core || (uint64_t)e->lineno != nd->gen || !nd->corosync_up || nd->connected)
			break;
		nd->connected = nd->joined = true;
		nd->incarnation++;
		core_connected(nd->core, S.now, (uint32_t)e->node);
		/* quorum_trackstart(CS_TRACK_CURRENT) reports the current verdict right away */
		give_quorum(nd);
		drain(nd);
		schedule_ring(S.join);
		break;
	}
	check_invariants();
}

static int load(const char *path)
{
	_cleanup_fclose_ FILE *f = fopen(path, "re");
	char *line = NULL;
	size_t cap = 0;
	int lineno = 0;

	if (!f) {
		fprintf(stderr, "%s: %m\n", path);
		return -errno;
	}
	while (getline(&line, &cap, f) >= 0) {
		char verb[32], arg[64], *hash;
		const char *rest;
		lineno++;
		line[strcspn(line, "\n")] = 0;
		hash = strchr(line, '#');
		if (hash && (hash == line || isspace((unsigned char)hash[-1])))
			*hash = 0;
		rest = word(line, verb, sizeof(verb));
		if (!*verb)
			continue;
		if (!strcmp(verb, "nodes")) {
			S.n = atoi(rest);
			if (S.n < 1 || S.n > MAXN)
				goto bad;
			for (int i = 1; i <= S.n; i++)
				S.nodes[i] = (struct node){ .id = i, .proto_min = WIRE_PROTO_MIN, .proto_max = WIRE_PROTO_MAX };
		} else if (!strcmp(verb, "option")) {
			rest = word(rest, arg, sizeof(arg));
			uint64_t v = strtoull(rest, NULL, 10) * MS;
			if (!strcmp(arg, "detect")) S.detect = v;
			else if (!strcmp(arg, "merge")) S.merge = v;
			else if (!strcmp(arg, "latency")) S.latency = v;
			else if (!strcmp(arg, "stall")) S.stall = v;
			else if (!strcmp(arg, "join")) S.join = v;
			else if (!strcmp(arg, "corosync_start")) S.corosync_start = v;
			else if (!strcmp(arg, "request_timeout")) S.request_timeout = v;
			else if (!strcmp(arg, "quorum_first")) S.quorum_first = v != 0;
			else goto bad;
		} else if (!strcmp(verb, "proto")) {
			int i, lo, hi;
			if (sscanf(rest, "%d %d %d", &i, &lo, &hi) != 3 || i < 1 || i > S.n)
				goto bad;
			S.nodes[i].proto_min = (uint16_t)lo;
			S.nodes[i].proto_max = (uint16_t)hi;
		} else if (!strcmp(verb, "at")) {
			struct event *e;
			rest = word(rest, arg, sizeof(arg));
			e = new_ev(strtoull(arg, NULL, 10) * MS, EV_SCRIPT, 0);
			e->line = strdup(rest);
			e->lineno = lineno;
			push_ev(e);
		} else if (!strcmp(verb, "end")) {
			S.end = strtoull(rest, NULL, 10) * MS;
		} else {
			goto bad;
		}
		continue;
bad:
		fprintf(stderr, "%s:%d: cannot parse \"%s\"\n", path, lineno, line);
		free(line);
		return -EINVAL;
	}
	free(line);
	if (!S.n || !S.end) {
		fprintf(stderr, "%s: needs \"nodes N\" and \"end T\"\n", path);
		return -EINVAL;
	}
	return 0;
}

int main(int argc, char **argv)
{
	_cleanup_free_ char *expect_path = NULL;
	struct event *e;
	bool update = argc > 2 && !strcmp(argv[2], "--update");
	int rc = 0;

	if (argc < 2) {
		fprintf(stderr, "usage: %s FILE.scn [--update]\n", argv[0]);
		return 64;
	}
	S.detect = 2000 * MS;
	S.merge = 1500 * MS;
	S.latency = 1 * MS;
	S.stall = 8000 * MS;
	S.join = 20 * MS;
	S.corosync_start = 1000 * MS;
	S.request_timeout = 30000 * MS;
	S.log = open_memstream(&S.logbuf, &S.loglen);
	if (load(argv[1]) < 0)
		return 2;
	while ((e = pop_ev())) {
		if (e->at > S.end) {
			free_ev(e);
			break;
		}
		handle(e);
		free_ev(e);
	}
	while ((e = pop_ev()))
		free_ev(e);
	for (int i = 1; i <= S.n; i++) {
		core_free(S.nodes[i].core);
		free(S.nodes[i].disk);
	}
	fclose(S.log);

	if (asprintf(&expect_path, "%.*s.expect", (int)(strlen(argv[1]) - (strstr(argv[1], ".scn") ? 4 : 0)),
		     argv[1]) < 0)
		return 2;
	if (update) {
		FILE *f = fopen(expect_path, "we");
		if (!f || fwrite(S.logbuf, 1, S.loglen, f) != S.loglen || fclose(f) != 0) {
			fprintf(stderr, "%s: cannot write\n", expect_path);
			return 2;
		}
		fprintf(stderr, "wrote %s\n", expect_path);
	} else {
		_cleanup_fclose_ FILE *f = fopen(expect_path, "re");
		_cleanup_free_ char *want = NULL;
		size_t n = 0;
		if (f) {
			want = malloc(4 << 20);
			n = want ? fread(want, 1, (4 << 20) - 1, f) : 0;
		}
		if (!f || !want) {
			fprintf(stderr, "%s: missing (run with --update after reviewing the log)\n", expect_path);
			fwrite(S.logbuf, 1, S.loglen, stderr);
			rc = 1;
		} else if (n != S.loglen || memcmp(want, S.logbuf, n)) {
			_cleanup_free_ char *tmp = NULL;
			FILE *g;
			if (asprintf(&tmp, "%s.actual", expect_path) >= 0 && (g = fopen(tmp, "we"))) {
				fwrite(S.logbuf, 1, S.loglen, g);
				fclose(g);
				fprintf(stderr, "decision log differs from %s; this run's log is in %s:\n", expect_path, tmp);
				{
					char cmd[4096];
					snprintf(cmd, sizeof(cmd), "diff -u '%s' '%s' | head -60 >&2", expect_path, tmp);
					if (system(cmd) < 0)
						fprintf(stderr, "(diff failed)\n");
				}
			}
			rc = 1;
		}
	}
	free(S.logbuf);
	free(S.heap);
	if (S.failures) {
		fprintf(stderr, "%d check(s) failed\n", S.failures);
		rc = 1;
	}
	if (!rc)
		printf("ok %s\n", argv[1]);
	return rc;
}
