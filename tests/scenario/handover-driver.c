/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Scenario driver for the hand-over of live migrations (coord/decide/handover.c, with
 * coord/decide/placement.c before it: the composition agent/vms-leader.c runs). It simulates
 * the replicated ownership records, the leader's passes over them, every node's kvmcd the way
 * agent/vms.c acts (the source drives the job and reports its end in its section, the target
 * never starts nor stops its incoming domain, a node stops a domain it does not own and starts
 * the one it owns), each node's section as its last LISTING of libvirt left it (so reports can be
 * late), and a WORLD: which node's libvirtd really runs which domain, and libvirt's migration jobs
 * (peer to peer: a job goes on when the source's kvmcd dies, and dies with either host). Built
 * with runner.c into handover-sim; runner.h describes the runner, the command line and the random
 * mode.
 *
 * The trace (golden: FILE.expect):
 *   == STATEMENT                                    a scenario statement, as written
 *   record set {"vm","owner","migrating_to","id","abort"}   a leader patch changed a record
 *   record last {"vm","ok","error"}                 ... and its last_migration
 *   record forget {"vm"}                            ... deleted it (the VM left the spec)
 *   handover VERDICT {"vm","why","from_report"}     the core's verdict, when not none / go-on
 *   leader lost {"changes"}                         a pass whose patch was lost (`leader lose`)
 *   migrate refused {"vm","to","errno","why"}       placement_check_move refused the request
 *   world start|stop {"vm","node"}                  a node's kvmcd started / stopped a domain
 *   world job-start {"vm","from","to","id"}         the source's libvirt job started
 *   world migrated {"vm","from","to"}               the job finished: the domain runs on the target
 *   world job-failed {"vm","from","to","error"}     the job failed: the domain stays on the source
 *   world lost {"vm","node"}                        a crash took a running domain with it
 *   settle done {"rounds"}
 *   FAIL TEXT                                       a check failed (never in a golden)
 *
 * Invariants, after every step:
 *   - the world: no domain runs on two nodes (a target's incoming domain is paused: not running),
 *     none on a dead host;
 *   - the record names one responsible node: migrating_to only with an owner, never the owner;
 *   - a VM of the spec that runs on a live host is recorded to that host, or is the target of
 *     the recorded migration (it arrived; the hand-over is not recorded yet): never a domain the
 *     record does not account for;
 *   - every hand-over (DONE) happens when the target runs the domain and the source does not;
 *     every FAILED leaves the source the owner (the VM is never left without an owner while the
 *     source runs it); a verdict computed twice on the same input is the same (a new leader that
 *     reads the same records and sections decides the same);
 *   - never a silent stop: a node stops a running domain of a started VM of the spec only while
 *     another copy... never: such a stop, with the VM running nowhere else, is a failure.
 *
 * Timing model. Statements are the moments at which things happen; a node's section changes
 * only when its kvmcd lists libvirt (`list`), except a job's success, which the source publishes
 * at once (agent/vms.c: migration_ended), and a node's own domain ops (start, stop, a job
 * started), after which it lists at once (vms.c's on_op) -- unless a listing is in flight
 * (`list-begin` ... `list-end`: one that started before the op comes in after it; the section
 * then says "unknown" of the VMs an op touched since, vms.c's reported_state). A kvmcd (re)start
 * takes longer than the listing period
 * (2 s), so `kvmcd-up` first lets every other live node list: the hand-over from listings (the
 * source's report lost with its kvmcd) depends on that (handover.h).
 *
 * Scenario language (one statement per line, '#' comments, times in ms):
 *   nodes N                                 (header) kvm1..kvmN, members, alive (default 3)
 *   limits per-node N per-cluster N         (header or timed) migrate's limits (default 1 4)
 *   at T vm NAME [on NODE]                  a started VM in the spec; `on`: recorded to NODE and
 *                                           running there, listed
 *   at T spec VM started|stopped|removed    the spec changes
 *   at T migrate VM NODE                    `kvmcctl vm migrate`: the leader checks it
 *                                           (placement_check_move with the limits) and records it
 *   at T leader [lose]                      one leader pass: placement, hand-over, one patch
 *                                           (lose: computed and traced, never committed)
 *   at T act NODE|all                       kvmcd acts on the records (vms.c's node_act)
 *   at T list NODE|all                      kvmcd lists libvirt: its section follows the world
 *   at T list-begin NODE|all                a listing starts (it sees the world as it is now) ...
 *   at T list-end NODE|all                  ... and comes in: its section follows what it saw
 *   at T step                               act all, list all, leader
 *   at T settle [MAX]                       steps until nothing changes (default 8)
 *   at T finish VM|all                      the VM's libvirt job completes (switch-over)
 *   at T fail VM [WHY]                      the job fails (e.g. the target's QEMU killed)
 *   at T deadline VM                        the job is aborted at the source's deadline
 *   at T kvmcd-down NODE | kvmcd-up NODE    its kvmcd stops (libvirtd and jobs go on) / starts
 *   at T crash NODE | boot NODE             the host dies (domains and jobs with it) / comes
 *                                           back empty (unfenced), kvmcd up
 *   at T fence NODE | unfence NODE          crash + the confirmed-fence flag / flag cleared
 *   at T drain NODE | undrain NODE
 *   at T expect record VM NODE|none [migrating-to NODE|none]
 *   at T expect runs VM NODE|none           in the world
 *   at T expect verdict VM VERDICT          of the last pass
 *   at T expect why VM REGEX                of the last pass
 *   at T expect last VM ok|failed [REGEX]   the record's last_migration
 *   at T expect refused REGEX               the last migrate request was refused, for this
 *   at T expect settled                     no migration in flight, every started VM runs on its
 *                                           owner alone, no stopped or removed VM runs
 */
#include <errno.h>
#include <inttypes.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "handover.h"
#include "placement.h"
#include "runner.h"

#define MS SCN_MS
#define MAX_NODES 8
#define MAX_VMS 8
#define NONE ((size_t)-1)

enum dom { OFF, RUNNING, INCOMING };

struct snode {
	char name[16];
	bool host;                   /* the host is alive */
	bool kvmcd;                  /* its kvmcd runs and is a member of the quorate view */
	bool fenced, drained;
	bool listed[MAX_VMS];        /* its section has a listing (else "unknown") */
	enum dom seen[MAX_VMS];      /* its last listing */
	/* vms.c's listing sequence: a VM's state is reported only from a listing started after
	 * the VM's last domain op here ended (else "unknown") */
	unsigned list_seq;           /* listings started by this kvmcd */
	unsigned listed_seq;         /* the sequence number of the last one taken in */
	unsigned op_seq[MAX_VMS];    /* list_seq when the VM's last domain op here ended */
	bool listing;                /* a listing in flight (`list-begin`): it saw `snap` */
	unsigned snap_seq;
	enum dom snap[MAX_VMS];
};

/* The source kvmcd's memory of its job (vms.c's struct vm_local mig_*): lost with its kvmcd. */
struct local {
	char *id;                    /* NULL: none */
	enum handover_job state;
	char *error;
	unsigned report_after;       /* failed: reported once a listing started at or after this
				        sequence number is in (vms.c's mig_report_after) */
	bool abort_sent;
	bool settling;               /* a restarted kvmcd found the migration abandoned and its
				        predecessor's job still running: it aborted that job and
				        reports how it ends (vms.c's on_abandoned) */
};

struct job {                         /* libvirt's migration job, in the source's libvirtd */
	bool active;
	size_t from, to;
	char *id;
	bool orphan;                 /* its kvmcd died; a restarted kvmcd waits for it (domain.c) */
};

struct svm {
	char *name;
	bool in_spec, started;
	/* the record */
	char *owner, *mig_to, *mig_id, *abort;
	bool has_last, last_ok;
	char *last_error;
	/* the world */
	enum dom dom[MAX_NODES];
	bool migrated[MAX_NODES];    /* shut off there by a migration's switch-over (libvirt's
				        reason "migrated"), not started since */
	struct job job;
	struct local local[MAX_NODES];
	/* the last pass */
	struct handover_decision hd;
	bool decided;
};

struct sim {
	struct scn *r;
	struct snode nodes[MAX_NODES];
	size_t n_nodes;
	struct svm vms[MAX_VMS];
	size_t n_vms;
	struct placement_limits lim;
	unsigned mig_seq;
	char *refused;               /* owned: the last migrate request's refusal; NULL: accepted */
	unsigned changes;            /* record changes, world changes (settle's measure) */
};

#define BAD(...) do { scn_fail(r, __VA_ARGS__); return -EINVAL; } while (0)

static char *xstrdup(const char *s)
{
	char *c = s ? strdup(s) : NULL;

	if (s && !c)
		abort();
	return c;
}

static void set_str(char **p, const char *s)
{
	char *c = xstrdup(s);

	free(*p);
	*p = c;
}

static bool same(const char *a, const char *b)
{
	return (!a && !b) || (a && b && !strcmp(a, b));
}

static size_t node_idx(struct sim *s, const char *name)
{
	for (size_t i = 0; name && i < s->n_nodes; i++)
		if (!strcmp(s->nodes[i].name, name))
			return i;
	return NONE;
}

static struct svm *vm_find(struct sim *s, const char *name)
{
	for (size_t i = 0; i < s->n_vms; i++)
		if (!strcmp(s->vms[i].name, name))
			return &s->vms[i];
	return NULL;
}

static size_t vm_idx(struct sim *s, const struct svm *v)
{
	return (size_t)(v - s->vms);
}

static bool matches(const char *re, const char *text)
{
	regex_t rx;
	bool m;

	if (regcomp(&rx, re, REG_EXTENDED | REG_NOSUB))
		return false;
	m = regexec(&rx, text, 0, NULL, 0) == 0;
	regfree(&rx);
	return m;
}

/* What a node's section says of a VM's domain: NULL without a section (kvmcd not a member). */
static const char *reported(struct sim *s, size_t n, size_t v)
{
	static const char *const names[] = { [OFF] = "shutoff", [RUNNING] = "running", [INCOMING] = "paused" };

	const struct snode *x = n == NONE ? NULL : &s->nodes[n];

	if (!x || !x->kvmcd)
		return NULL; /* no section. A section lists every VM kvmcd defined there, also those
				that left the spec (here: every VM) */
	return x->listed[v] && x->listed_seq > x->op_seq[v] ? names[x->seen[v]] : "unknown";
}

static size_t world_runner(const struct sim *s, const struct svm *v)
{
	for (size_t n = 0; n < s->n_nodes; n++)
		if (v->dom[n] == RUNNING)
			return n;
	return NONE;
}

/* ---- the world ------------------------------------------------------------------------------ */

static void world_set(struct sim *s, struct svm *v, size_t n, enum dom d, const char *ev)
{
	v->dom[n] = d;
	v->migrated[n] = false;
	s->changes++;
	if (ev)
		scn_trace_json(s->r, "world", ev, json_pack("{ssss}", "vm", v->name, "node", s->nodes[n].name));
}

/* The source's kvmcd hears how its job ended (if it runs: else the end is lost with it). */
static void local_end(struct sim *s, struct svm *v, size_t n, bool ok, const char *error)
{
	struct local *l = &v->local[n];

	if (!s->nodes[n].kvmcd || !l->id)
		return;
	l->state = ok ? HANDOVER_JOB_DONE : HANDOVER_JOB_FAILED;
	set_str(&l->error, ok ? NULL : error);
	/* a failure is reported with a listing started after it; a success at once */
	l->report_after = ok ? 0 : s->nodes[n].list_seq + 1;
	s->nodes[n].op_seq[vm_idx(s, v)] = s->nodes[n].list_seq;
}

static void job_start(struct sim *s, struct svm *v, size_t from, size_t to, const char *id)
{
	v->job = (struct job){ .active = true, .from = from, .to = to, .id = xstrdup(id) };
	s->changes++;
	scn_trace_json(s->r, "world", "job-start",
		       json_pack("{ssssssss}", "vm", v->name, "from", s->nodes[from].name, "to", s->nodes[to].name, "id", id));
	if (s->nodes[to].host)
		v->dom[to] = INCOMING;
}

static void job_clear(struct svm *v)
{
	free(v->job.id);
	v->job = (struct job){ 0 };
}

static void job_fail(struct sim *s, struct svm *v, const char *error)
{
	size_t from = v->job.from, to = v->job.to;
	bool orphan = v->job.orphan;
	char *id = xstrdup(v->job.id);

	if (v->dom[to] == INCOMING)
		v->dom[to] = OFF;
	scn_trace_json(s->r, "world", "job-failed", json_pack("{ssssssss}", "vm", v->name, "from", s->nodes[from].name, "to",
							      s->nodes[to].name, "error", error));
	job_clear(v);
	s->changes++;
	if (orphan && v->local[from].settling) /* aborted by a restarted kvmcd: the guest stays */
		local_end(s, v, from, false, v->local[from].error);
	else if (orphan && s->nodes[from].kvmcd && v->local[from].id && v->dom[from] == RUNNING && s->nodes[to].host)
		job_start(s, v, from, to, id); /* the restarted kvmcd's own job, which waited for it, goes */
	else
		local_end(s, v, from, false, error);
	free(id);
}

static void job_finish(struct sim *s, struct svm *v)
{
	size_t from = v->job.from, to = v->job.to;
	bool orphan = v->job.orphan;

	v->dom[from] = OFF;
	v->migrated[from] = true;
	v->dom[to] = RUNNING;
	v->migrated[to] = false;
	scn_trace_json(s->r, "world", "migrated",
		       json_pack("{ssssss}", "vm", v->name, "from", s->nodes[from].name, "to", s->nodes[to].name));
	job_clear(v);
	s->changes++;
	if (orphan && v->local[from].settling) /* its abort came too late: the guest left */
		local_end(s, v, from, true, NULL);
	else if (orphan) /* the restarted kvmcd's job probes the domain: gone (domain.c's -ESRCH) */
		local_end(s, v, from, false, "domain does not run here (shut off: migrated)");
	else
		local_end(s, v, from, true, NULL);
}

static void host_dies(struct sim *s, size_t n)
{
	struct snode *x = &s->nodes[n];

	x->host = x->kvmcd = false;
	for (size_t i = 0; i < s->n_vms; i++) {
		struct svm *v = &s->vms[i];
		if (v->job.active && v->job.from == n) { /* the source's QEMU is gone: so is the job */
			if (v->dom[v->job.to] == INCOMING)
				v->dom[v->job.to] = OFF;
			job_clear(v);
		}
		if (v->dom[n] == RUNNING)
			scn_trace_json(s->r, "world", "lost", json_pack("{ssss}", "vm", v->name, "node", x->name));
		v->dom[n] = OFF;
		if (v->job.active && v->job.to == n)
			job_fail(s, v, "the target's libvirtd went away");
		free(v->local[n].id);
		free(v->local[n].error);
		v->local[n] = (struct local){ 0 };
		x->listed[i] = false;
		x->op_seq[i] = 0;
		v->migrated[n] = false;
	}
	x->list_seq = x->listed_seq = 0;
	x->listing = false;
	s->changes++;
}

/* ---- a node's kvmcd (agent/vms.c) ------------------------------------------------------------ */

/* A listing starts (vms.c's refresh): it sees the world as it is now, and comes in later. */
static void list_begin(struct sim *s, size_t n)
{
	struct snode *x = &s->nodes[n];

	if (!x->kvmcd || x->listing)
		return;
	x->listing = true;
	x->snap_seq = ++x->list_seq;
	for (size_t i = 0; i < s->n_vms; i++)
		x->snap[i] = s->vms[i].dom[n];
}

/* ... and comes in (on_listed): the section follows it. */
static void list_end(struct sim *s, size_t n)
{
	struct snode *x = &s->nodes[n];

	if (!x->kvmcd || !x->listing)
		return;
	x->listing = false;
	x->listed_seq = x->snap_seq;
	for (size_t i = 0; i < s->n_vms; i++) {
		if (!x->listed[i] || x->seen[i] != x->snap[i])
			s->changes++;
		x->listed[i] = true;
		x->seen[i] = x->snap[i];
	}
}

/* `list`: a listing in flight comes in first (vms.c lists again after it), then a fresh one. */
static void list_node(struct sim *s, size_t n)
{
	list_end(s, n);
	list_begin(s, n);
	list_end(s, n);
}

static void local_forget(struct local *l)
{
	free(l->id);
	free(l->error);
	*l = (struct local){ 0 };
}

/* vms.c's node_migrate: this node is the record's source. */
static void node_migrate(struct sim *s, struct svm *v, size_t n)
{
	struct local *l = &v->local[n];
	size_t to = node_idx(s, v->mig_to), i = vm_idx(s, v);

	if (!v->mig_id || to == NONE)
		return;
	if (l->id && !strcmp(l->id, v->mig_id)) {
		if (l->state == HANDOVER_JOB_RUNNING && v->abort && !l->abort_sent) {
			l->abort_sent = true; /* virDomainAbortJob: the migrate call fails */
			if (v->job.active && v->job.from == n)
				job_fail(s, v, "operation aborted: migration out job: canceled by client");
		}
		return;
	}
	if (l->id && l->state == HANDOVER_JOB_RUNNING)
		return;
	local_forget(l);
	if (!s->nodes[n].listed[i] || s->nodes[n].seen[i] == OFF)
		return; /* not here (by its listing): the leader decides from what every node reports */
	l->id = xstrdup(v->mig_id);
	l->state = HANDOVER_JOB_RUNNING;
	s->changes++;
	if (v->abort) {
		/* vms.c's abort_job + on_abandoned: a job its predecessor left is aborted and waited
		 * for -- it may still switch the guest over: the random run's `finish` / `fail` end it
		 * (job_finish, job_fail: reported done or failed). Without a job, the domain says how
		 * it ended: migrated (done), running here (failed), else nothing is reported */
		char why[256];
		snprintf(why, sizeof(why), "abandoned before it started: %s", v->abort);
		l->abort_sent = true;
		if (v->job.active && v->job.from == n) {
			l->settling = true;
			set_str(&l->error, why);
			v->job.orphan = true;
		} else if (v->dom[n] == RUNNING) {
			local_end(s, v, n, false, why);
		} else if (v->migrated[n]) {
			local_end(s, v, n, true, NULL);
		} else {
			local_forget(l);
		}
		return;
	}
	if (v->job.active && v->job.from == n) {
		v->job.orphan = true; /* an earlier kvmcd's job: this one's waits for it */
		return;
	}
	if (v->dom[n] != RUNNING) {
		local_end(s, v, n, false, "domain does not run here (shut off)");
		return;
	}
	if (!s->nodes[to].host) {
		local_end(s, v, n, false, "cannot connect to the target's libvirtd");
		return;
	}
	job_start(s, v, n, to, v->mig_id);
}

static bool mine(const struct sim *s, const struct svm *v, size_t n)
{
	return v->owner && !strcmp(v->owner, s->nodes[n].name);
}

static void node_stop(struct sim *s, struct svm *v, size_t n)
{
	s->nodes[n].op_seq[vm_idx(s, v)] = s->nodes[n].list_seq;
	if (v->dom[n] == OFF)
		return; /* the op probes first */
	if (v->dom[n] == RUNNING && v->in_spec && v->started) {
		bool elsewhere = false;
		for (size_t k = 0; k < s->n_nodes; k++)
			elsewhere |= k != n && v->dom[k] == RUNNING;
		if (!elsewhere)
			scn_fail(s->r, "%s stops %s, which runs nowhere else: a silent stop", s->nodes[n].name, v->name);
	}
	if (v->dom[n] == INCOMING && v->job.active && v->job.to == n) {
		job_fail(s, v, "the target's domain was destroyed");
		return;
	}
	world_set(s, v, n, OFF, "stop");
}

/* vms.c's node_act (and node_forget for VMs that left the spec), from this node's listing. */
static void node_act_(struct sim *s, size_t n);

/* A node lists again right after its own domain ops (vms.c: on_op sets list_again) -- unless a
 * listing started before them is still in flight (`list-begin`): that one comes in first, and
 * the section reports the VMs an op touched since as "unknown" (vms.c's reported_state), never
 * what that listing saw of them. */
static void node_act(struct sim *s, size_t n)
{
	unsigned before = s->changes;

	node_act_(s, n);
	if (s->changes != before && !s->nodes[n].listing)
		list_node(s, n);
}

static void node_act_(struct sim *s, size_t n)
{
	struct snode *x = &s->nodes[n];

	if (!x->kvmcd)
		return;
	for (size_t i = 0; i < s->n_vms; i++) {
		struct svm *v = &s->vms[i];
		struct local *l = &v->local[n];
		bool running = x->listed[i] && x->seen[i] != OFF, me = mine(s, v, n);

		if (!x->listed[i])
			continue;
		if (!v->in_spec) {
			if (running && !(l->id && l->state == HANDOVER_JOB_RUNNING))
				node_stop(s, v, n);
			continue;
		}
		if (l->id && (!me || !v->mig_to || !same(v->mig_id, l->id)) && l->state != HANDOVER_JOB_RUNNING)
			local_forget(l); /* the leader took its result in */
		if (me && v->mig_to) {
			node_migrate(s, v, n);
			continue;
		}
		if (v->mig_to && !strcmp(v->mig_to, x->name))
			continue; /* the target: the incoming domain is the source's to run */
		if (l->id && l->state == HANDOVER_JOB_RUNNING)
			continue;
		/* a started VM that no node owns is left running: the leader adopts it (build) */
		if (running && ((v->owner && !me) || !v->started)) {
			node_stop(s, v, n);
		} else if (me && !running && v->started) {
			x->op_seq[i] = x->list_seq;
			if (v->dom[n] == OFF) /* the op probes first */
				world_set(s, v, n, RUNNING, "start");
		}
	}
}

/* ---- the leader (agent/vms-leader.c) -------------------------------------------------------- */

struct built {
	struct placement_input in;
	struct placement_vm vms[MAX_VMS];
	struct placement_node nodes[MAX_NODES];
	struct placement_owner owners[MAX_VMS];
	size_t map[MAX_VMS];         /* placement's VM index -> s->vms */
};

static void build(struct sim *s, struct built *b)
{
	size_t nv = 0, no = 0;

	*b = (struct built){ 0 };
	for (size_t i = 0; i < s->n_vms; i++) {
		const struct svm *v = &s->vms[i];
		size_t o = node_idx(s, v->owner);
		if (!v->in_spec)
			continue;
		b->map[nv] = i;
		b->vms[nv++] = (struct placement_vm){ .name = v->name, .started = v->started, .memory_mib = 1024, .vcpus = 1,
						      .ha_enabled = true };
		for (size_t n = 0; !v->owner && o == NONE && n < s->n_nodes; n++)
			if (handover_state_running(reported(s, n, i)))
				o = n; /* vms_pinput_build's unowned_runner: it stays where it runs */
		if (o != NONE)
			b->owners[no++] = (struct placement_owner){
				.vm = v->name, .node = s->nodes[o].name, .migrating_to = v->mig_to,
				.running = handover_state_may_run(reported(s, o, i)),
			};
	}
	for (size_t n = 0; n < s->n_nodes; n++) {
		const struct snode *x = &s->nodes[n];
		b->nodes[n] = (struct placement_node){ .name = x->name, .member = x->kvmcd, .memory_mib = 65536, .vcpus = 64,
						       .drained = x->drained, .fenced = x->fenced };
	}
	b->in = (struct placement_input){ .vms = b->vms, .n_vms = nv, .nodes = b->nodes, .n_nodes = s->n_nodes,
					  .owners = b->owners, .n_owners = no };
}

/* The core's input for one VM, as vms-leader.c's migrations_settle builds it. */
static struct handover_input hinput(struct sim *s, size_t i, const struct placement_decision *dec)
{
	struct svm *v = &s->vms[i];
	size_t from = node_idx(s, v->owner), to = node_idx(s, v->mig_to);
	const struct local *l = from != NONE && s->nodes[from].kvmcd ? &v->local[from] : NULL;
	enum handover_job job = l && l->id ? l->state : HANDOVER_JOB_NONE;

	if (job != HANDOVER_JOB_DONE && l && l->report_after > s->nodes[from].listed_seq)
		job = HANDOVER_JOB_RUNNING; /* its failure is published with a listing after it */
	return (struct handover_input){
		.vm = v->name, .owner = v->owner, .migrating_to = v->mig_to, .id = v->mig_id, .abort = v->abort,
		.decided_owner = dec->owner, .decided_migrating_to = dec->migrating_to, .decided_reason = dec->reason,
		.source_state = reported(s, from, i), .target_state = reported(s, to, i),
		.target_fenced = to != NONE && s->nodes[to].fenced,
		.job_id = l ? l->id : NULL, .job = job, .job_error = job == HANDOVER_JOB_FAILED ? l->error : NULL,
	};
}

struct want {                        /* the record a pass wants for one VM */
	char *owner, *mig_to, *mig_id, *abort;
	bool forget, end, ok;
	char *error;
};

static void want_clear(struct want *w)
{
	free(w->owner);
	free(w->mig_to);
	free(w->mig_id);
	free(w->abort);
	free(w->error);
	*w = (struct want){ 0 };
}

static void check_verdict(struct sim *s, struct svm *v, const struct handover_input *in, const struct handover_decision *hd)
{
	struct handover_decision again;
	size_t from = node_idx(s, in->owner), to = node_idx(s, in->migrating_to);

	if (handover_decide(in, &again) < 0)
		abort();
	if (again.verdict != hd->verdict || again.from_report != hd->from_report || !same(again.why, hd->why))
		scn_fail(s->r, "%s: the same input decided twice differs (%s, %s)", v->name, handover_verdict_name(hd->verdict),
			 handover_verdict_name(again.verdict));
	handover_decision_clear(&again);
	if (hd->verdict == HANDOVER_DONE) {
		size_t runner = world_runner(s, v);
		if (to == NONE || (runner != NONE && runner != to))
			scn_fail(s->r, "%s handed over to %s while it runs on %s", v->name,
				 in->migrating_to ? in->migrating_to : "?", runner != NONE ? s->nodes[runner].name : "?");
	}
	if (hd->verdict == HANDOVER_FAILED && from != NONE && world_runner(s, v) != NONE && world_runner(s, v) != from)
		scn_fail(s->r, "%s: its migration failed (it stays with %s) while it runs on %s", v->name, in->owner,
			 s->nodes[world_runner(s, v)].name);
	if ((hd->verdict == HANDOVER_FAILED || hd->verdict == HANDOVER_ABORT) && !hd->why)
		scn_fail(s->r, "%s: %s without a reason", v->name, handover_verdict_name(hd->verdict));
}

/* One pass: placement, the hand-over core, then one patch of what differs (unless lost). */
static void leader_pass(struct sim *s, bool lose)
{
	struct built b;
	struct placement_result *res = NULL;
	struct want want[MAX_VMS] = { 0 };
	unsigned changes = 0;
	bool any = false;

	for (size_t n = 0; n < s->n_nodes; n++)
		any |= s->nodes[n].kvmcd;
	if (!any)
		return; /* no quorate member: no leader */
	build(s, &b);
	if (placement_place(&b.in, &res) < 0)
		abort();
	for (size_t i = 0; i < s->n_vms; i++) {
		handover_decision_clear(&s->vms[i].hd);
		s->vms[i].decided = false;
	}
	for (size_t k = 0; k < res->n_decisions; k++) {
		const struct placement_decision *dec = &res->decisions[k];
		size_t i = b.map[k];
		struct svm *v = &s->vms[i];
		struct want *w = &want[i];
		struct handover_input in = hinput(s, i, dec);
		size_t o = node_idx(s, dec->owner);
		bool abandon = v->mig_to && !dec->migrating_to && same(dec->owner, v->owner) && dec->owner;

		/* record_of_decision (a stop is done once its owner reports the domain down) */
		if (dec->action == PLACEMENT_STOP && dec->owner && !v->mig_to && o != NONE &&
		    handover_stop_done(reported(s, o, i)))
			w->owner = NULL;
		else
			w->owner = xstrdup(dec->owner);
		if (v->mig_to && (dec->migrating_to || abandon)) {
			w->mig_to = xstrdup(v->mig_to);
			w->mig_id = xstrdup(v->mig_id);
			w->abort = xstrdup(v->abort);
		}
		if (handover_decide(&in, &v->hd) < 0)
			abort();
		v->decided = true;
		scn_debug(s->r, "%s: placement %s owner %s migrating_to %s (%s); source %s target %s job %s %s: %s", v->name,
			  placement_action_name(dec->action), dec->owner ? dec->owner : "-",
			  dec->migrating_to ? dec->migrating_to : "-", dec->reason ? dec->reason : "", in.source_state ? in.source_state : "-",
			  in.target_state ? in.target_state : "-", handover_job_name(in.job), in.job_id ? in.job_id : "-",
			  handover_verdict_name(v->hd.verdict));
		check_verdict(s, v, &in, &v->hd);
		switch (v->hd.verdict) {
		case HANDOVER_DONE:
		case HANDOVER_FAILED:
			set_str(&w->owner, v->hd.verdict == HANDOVER_DONE ? v->mig_to : v->owner);
			set_str(&w->mig_to, NULL);
			set_str(&w->mig_id, NULL);
			set_str(&w->abort, NULL);
			w->end = true;
			w->ok = v->hd.verdict == HANDOVER_DONE;
			w->error = xstrdup(v->hd.why);
			break;
		case HANDOVER_ABORT:
			set_str(&w->abort, v->hd.why);
			break;
		default:
			break;
		}
		if (v->hd.verdict != HANDOVER_NONE && v->hd.verdict != HANDOVER_GO_ON) {
			json_t *j = json_pack("{ss}", "vm", v->name);
			if (v->hd.why)
				json_object_set_new(j, "why", json_string(v->hd.why));
			if (v->hd.verdict == HANDOVER_DONE)
				json_object_set_new(j, "from_report", json_boolean(v->hd.from_report));
			scn_trace_json(s->r, "handover", handover_verdict_name(v->hd.verdict), j);
		}
	}
	placement_result_free(res);
	for (size_t i = 0; i < s->n_vms; i++) {
		struct svm *v = &s->vms[i];
		if (v->in_spec || !(v->owner || v->mig_to))
			continue;
		bool runs = false;
		for (size_t n = 0; n < s->n_nodes; n++)
			runs |= handover_state_may_run(reported(s, n, i));
		size_t o = node_idx(s, v->owner), t = node_idx(s, v->mig_to);
		struct handover_input in = { .vm = v->name, .removed = true, .runs_anywhere = runs, .owner = v->owner,
					     .migrating_to = v->mig_to, .source_member = o != NONE && s->nodes[o].kvmcd,
					     .target_member = t != NONE && s->nodes[t].kvmcd };
		if (handover_decide(&in, &v->hd) < 0)
			abort();
		v->decided = true;
		if (v->hd.verdict == HANDOVER_FORGET)
			want[i].forget = true;
		else {
			want[i].owner = xstrdup(v->owner);
			want[i].mig_to = xstrdup(v->mig_to);
			want[i].mig_id = xstrdup(v->mig_id);
			want[i].abort = xstrdup(v->abort);
		}
	}
	for (size_t i = 0; i < s->n_vms; i++) {
		struct svm *v = &s->vms[i];
		struct want *w = &want[i];
		if (!v->in_spec && !(v->owner || v->mig_to)) {
			want_clear(w);
			continue;
		}
		if (w->forget) {
			changes++;
			if (!lose) {
				scn_trace_json(s->r, "record", "forget", json_pack("{ss}", "vm", v->name));
				set_str(&v->owner, NULL);
				set_str(&v->mig_to, NULL);
				set_str(&v->mig_id, NULL);
				set_str(&v->abort, NULL);
			}
		} else if (!same(w->owner, v->owner) || !same(w->mig_to, v->mig_to) || !same(w->mig_id, v->mig_id) ||
			   !same(w->abort, v->abort) || w->end) {
			changes++;
			if (!lose) {
				json_t *j = json_pack("{ss}", "vm", v->name);
				if (w->owner)
					json_object_set_new(j, "owner", json_string(w->owner));
				if (w->mig_to)
					json_object_set_new(j, "migrating_to", json_string(w->mig_to));
				if (w->mig_id)
					json_object_set_new(j, "id", json_string(w->mig_id));
				if (w->abort)
					json_object_set_new(j, "abort", json_string(w->abort));
				scn_trace_json(s->r, "record", "set", j);
				if (w->end) {
					j = json_pack("{sssb}", "vm", v->name, "ok", w->ok);
					if (w->error)
						json_object_set_new(j, "error", json_string(w->error));
					scn_trace_json(s->r, "record", "last", j);
					v->has_last = true;
					v->last_ok = w->ok;
					set_str(&v->last_error, w->error);
				}
				set_str(&v->owner, w->owner);
				set_str(&v->mig_to, w->mig_to);
				set_str(&v->mig_id, w->mig_id);
				set_str(&v->abort, w->abort);
			}
		}
		want_clear(w);
	}
	if (lose)
		scn_trace_json(s->r, "leader", "lost", json_pack("{si}", "changes", (int)changes));
	else
		s->changes += changes;
}

/* ---- invariants ----------------------------------------------------------------------------- */

static void invariants(void *d, struct scn *r)
{
	struct sim *s = d;

	for (size_t i = 0; i < s->n_vms; i++) {
		const struct svm *v = &s->vms[i];
		size_t runners = 0, runner = NONE;
		for (size_t n = 0; n < s->n_nodes; n++) {
			if (v->dom[n] == RUNNING) {
				runners++;
				runner = n;
			}
			if (v->dom[n] != OFF && !s->nodes[n].host)
				scn_fail(r, "%s runs on %s, whose host is dead", v->name, s->nodes[n].name);
		}
		if (runners > 1)
			scn_fail(r, "%s runs on %zu nodes at once", v->name, runners);
		if (v->mig_to && (!v->owner || !strcmp(v->owner, v->mig_to)))
			scn_fail(r, "%s's record names %s as owner and %s as migration target", v->name, v->owner ? v->owner : "none",
				 v->mig_to);
		if (v->in_spec && runners == 1 && !mine(s, v, runner) && !same(v->mig_to, s->nodes[runner].name))
			scn_fail(r, "%s runs on %s, but the record names %s%s%s", v->name, s->nodes[runner].name,
				 v->owner ? v->owner : "no owner", v->mig_to ? " migrating to " : "", v->mig_to ? v->mig_to : "");
	}
}

/* ---- statements ----------------------------------------------------------------------------- */

static int parse_uint(struct scn *r, const char *w, uint64_t *v)
{
	if (scn_parse_u64(w, v) < 0)
		BAD("'%s' is not a number", w);
	return 0;
}

static int hd_nodes(void *d, struct scn *r, const char *verb, const char *args)
{
	struct sim *s = d;
	uint64_t n;

	if (parse_uint(r, args, &n) < 0)
		return -EINVAL;
	if (n < 1 || n > MAX_NODES)
		BAD("nodes: 1..%d", MAX_NODES);
	s->n_nodes = n;
	for (size_t i = 0; i < n; i++) {
		snprintf(s->nodes[i].name, sizeof(s->nodes[i].name), "kvm%u", (unsigned)(i + 1));
		s->nodes[i].host = s->nodes[i].kvmcd = true;
	}
	return 0;
}

static int st_limits(void *d, struct scn *r, const char *verb, const char *args)
{
	struct sim *s = d;
	char w[4][32];
	uint64_t a, b;
	const char *p = args;

	for (int i = 0; i < 4; i++)
		p = scn_word(p, w[i], sizeof(w[i]));
	if (strcmp(w[0], "per-node") || strcmp(w[2], "per-cluster") || *p)
		BAD("limits per-node N per-cluster N");
	if (parse_uint(r, w[1], &a) < 0 || parse_uint(r, w[3], &b) < 0)
		return -EINVAL;
	if (!a || !b)
		BAD("limits are >= 1");
	s->lim.per_node = (unsigned)a;
	s->lim.per_cluster = (unsigned)b;
	return 0;
}

static size_t node_arg(struct sim *s, struct scn *r, const char *w)
{
	size_t n = node_idx(s, w);

	if (n == NONE)
		scn_fail(r, "no node '%s'", w);
	return n;
}

static struct svm *vm_arg(struct sim *s, struct scn *r, const char *w)
{
	struct svm *v = vm_find(s, w);

	if (!v)
		scn_fail(r, "no VM '%s'", w);
	return v;
}

static int st_vm(void *d, struct scn *r, const char *verb, const char *args)
{
	struct sim *s = d;
	char name[32], w[32], on[32];
	const char *p = scn_word(args, name, sizeof(name));
	struct svm *v;
	size_t n = NONE;

	if (!*name || vm_find(s, name))
		BAD("vm NAME [on NODE]: a new name");
	if (s->n_vms == MAX_VMS)
		BAD("at most %d VMs", MAX_VMS);
	p = scn_word(p, w, sizeof(w));
	if (*w) {
		p = scn_word(p, on, sizeof(on));
		if (strcmp(w, "on") || *p || (n = node_arg(s, r, on)) == NONE)
			BAD("vm NAME [on NODE]");
	}
	v = &s->vms[s->n_vms++];
	*v = (struct svm){ .name = xstrdup(name), .in_spec = true, .started = true };
	if (n != NONE) {
		v->owner = xstrdup(s->nodes[n].name);
		v->dom[n] = RUNNING;
		list_node(s, n);
	}
	return 0;
}

static int st_spec(void *d, struct scn *r, const char *verb, const char *args)
{
	struct sim *s = d;
	char name[32], w[32];
	struct svm *v;

	scn_word(scn_word(args, name, sizeof(name)), w, sizeof(w));
	if (!(v = vm_arg(s, r, name)))
		return -EINVAL;
	if (!strcmp(w, "started") || !strcmp(w, "stopped")) {
		v->in_spec = true;
		v->started = !strcmp(w, "started");
	} else if (!strcmp(w, "removed")) {
		v->in_spec = false;
	} else {
		BAD("spec VM started|stopped|removed");
	}
	return 0;
}

static int st_migrate(void *d, struct scn *r, const char *verb, const char *args)
{
	struct sim *s = d;
	char name[32], to[32], id[32];
	struct svm *v;
	struct built b;
	char *why = NULL;
	int rc;

	scn_word(scn_word(args, name, sizeof(name)), to, sizeof(to));
	if (!(v = vm_arg(s, r, name)))
		return -EINVAL;
	free(s->refused);
	s->refused = NULL;
	if (!v->in_spec) {
		s->refused = xstrdup("not in the spec");
		return 0;
	}
	build(s, &b);
	rc = placement_check_move(&b.in, &s->lim, v->name, to, &why);
	if (rc == -ENOMEM || rc == -EINVAL)
		abort();
	if (rc < 0) {
		scn_trace_json(r, "migrate", "refused",
			       json_pack("{ssssssss?}", "vm", v->name, "to", to, "errno", scn_errno_name(rc), "why", why));
		s->refused = why ? why : xstrdup(scn_errno_name(rc));
		return 0;
	}
	if (!v->owner) /* check_move says it runs on a live owner */
		abort();
	snprintf(id, sizeof(id), "m%u", ++s->mig_seq);
	set_str(&v->mig_to, to);
	set_str(&v->mig_id, id);
	set_str(&v->abort, NULL);
	s->changes++;
	scn_trace_json(r, "record", "set",
		       json_pack("{ssssssss}", "vm", v->name, "owner", v->owner, "migrating_to", to, "id", id));
	return 0;
}

static void each_node(struct sim *s, const char *w, void (*fn)(struct sim *, size_t))
{
	if (!strcmp(w, "all")) {
		for (size_t n = 0; n < s->n_nodes; n++)
			fn(s, n);
		return;
	}
	size_t n = node_arg(s, s->r, w);
	if (n != NONE)
		fn(s, n);
}

static int st_leader(void *d, struct scn *r, const char *verb, const char *args)
{
	if (*args && strcmp(args, "lose"))
		BAD("leader [lose]");
	leader_pass(d, !strcmp(args, "lose"));
	return 0;
}

static int st_each(void *d, struct scn *r, const char *verb, const char *args)
{
	struct sim *s = d;
	char w[32];

	scn_word(args, w, sizeof(w));
	each_node(s, w, !strcmp(verb, "act") ? node_act : !strcmp(verb, "list-begin") ? list_begin
							: !strcmp(verb, "list-end") ? list_end : list_node);
	return 0;
}

static void step(struct sim *s)
{
	each_node(s, "all", node_act);
	each_node(s, "all", list_node);
	leader_pass(s, false);
}

static int st_step(void *d, struct scn *r, const char *verb, const char *args)
{
	step(d);
	return 0;
}

static int st_settle(void *d, struct scn *r, const char *verb, const char *args)
{
	struct sim *s = d;
	uint64_t max = 8;
	unsigned rounds = 0;

	if (*args && parse_uint(r, args, &max) < 0)
		return -EINVAL;
	do {
		s->changes = 0;
		step(s);
		rounds++;
	} while (s->changes && rounds < max);
	if (s->changes)
		scn_fail(r, "not settled after %u rounds", rounds);
	scn_trace_json(r, "settle", "done", json_pack("{si}", "rounds", (int)rounds));
	return 0;
}

static int st_job(void *d, struct scn *r, const char *verb, const char *args)
{
	struct sim *s = d;
	char name[32];
	const char *rest = scn_word(args, name, sizeof(name));
	struct svm *v;

	if (!strcmp(verb, "finish") && !strcmp(name, "all")) {
		for (size_t i = 0; i < s->n_vms; i++)
			if (s->vms[i].job.active)
				job_finish(s, &s->vms[i]);
		return 0;
	}
	if (!(v = vm_arg(s, r, name)))
		return -EINVAL;
	if (!v->job.active)
		BAD("%s: no migration job runs", name);
	if (!strcmp(verb, "finish"))
		job_finish(s, v);
	else if (!strcmp(verb, "deadline"))
		job_fail(s, v, "did not finish within 10 s: aborted");
	else
		job_fail(s, v, *rest ? rest : "the target's QEMU was killed");
	return 0;
}

static void kvmcd_down(struct sim *s, size_t n)
{
	s->nodes[n].kvmcd = false;
	s->nodes[n].listing = false; /* a new process counts from 0 */
	s->nodes[n].list_seq = s->nodes[n].listed_seq = 0;
	for (size_t i = 0; i < s->n_vms; i++) {
		local_forget(&s->vms[i].local[n]);
		s->nodes[n].listed[i] = false;
		s->nodes[n].op_seq[i] = 0;
		if (s->vms[i].job.active && s->vms[i].job.from == n)
			s->vms[i].job.orphan = true;
	}
	s->changes++;
}

static void kvmcd_up(struct sim *s, size_t n)
{
	if (!s->nodes[n].host || s->nodes[n].kvmcd)
		return;
	/* a restart takes longer than the listing period: every other member has listed since */
	each_node(s, "all", list_node);
	s->nodes[n].kvmcd = true;
	s->changes++;
}

static int st_node(void *d, struct scn *r, const char *verb, const char *args)
{
	struct sim *s = d;
	char w[32];
	size_t n;

	scn_word(args, w, sizeof(w));
	if ((n = node_arg(s, r, w)) == NONE)
		return -EINVAL;
	if (!strcmp(verb, "kvmcd-down")) {
		kvmcd_down(s, n);
	} else if (!strcmp(verb, "kvmcd-up")) {
		kvmcd_up(s, n);
	} else if (!strcmp(verb, "crash")) {
		host_dies(s, n);
	} else if (!strcmp(verb, "fence")) {
		host_dies(s, n);
		s->nodes[n].fenced = true;
	} else if (!strcmp(verb, "unfence")) {
		s->nodes[n].fenced = false;
	} else if (!strcmp(verb, "boot")) {
		if (!s->nodes[n].host) {
			/* a fenced host comes back clean: its fence is cleared (the HA issue's path) */
			s->nodes[n].fenced = false;
			s->nodes[n].host = true;
			kvmcd_up(s, n);
		}
	} else if (!strcmp(verb, "drain") || !strcmp(verb, "undrain")) {
		s->nodes[n].drained = !strcmp(verb, "drain");
	}
	s->changes++;
	return 0;
}

/* ---- expectations --------------------------------------------------------------------------- */

static int ex_vm(void *d, struct scn *r, const char *what, const char *args)
{
	struct sim *s = d;
	char name[32], w[64], w2[32], w3[32];
	const char *rest = scn_word(args, name, sizeof(name));
	struct svm *v = vm_arg(s, r, name);
	const char *re;

	if (!v)
		return -EINVAL;
	re = scn_skipws(rest);
	rest = scn_word(rest, w, sizeof(w));
	if (!strcmp(what, "record")) {
		rest = scn_word(scn_word(rest, w2, sizeof(w2)), w3, sizeof(w3));
		if (!same(v->owner, strcmp(w, "none") ? w : NULL))
			scn_fail(r, "%s: recorded owner %s, not %s", name, v->owner ? v->owner : "none", w);
		if (*w2 && (strcmp(w2, "migrating-to") || !*w3))
			BAD("expect record VM NODE|none [migrating-to NODE|none]");
		if (*w2 && !same(v->mig_to, strcmp(w3, "none") ? w3 : NULL))
			scn_fail(r, "%s: recorded migrating to %s, not %s", name, v->mig_to ? v->mig_to : "none", w3);
	} else if (!strcmp(what, "runs")) {
		size_t n = world_runner(s, v);
		if (!same(n == NONE ? NULL : s->nodes[n].name, strcmp(w, "none") ? w : NULL))
			scn_fail(r, "%s runs on %s, not %s", name, n == NONE ? "none" : s->nodes[n].name, w);
	} else if (!strcmp(what, "verdict")) {
		if (!v->decided || strcmp(handover_verdict_name(v->hd.verdict), w))
			scn_fail(r, "%s: verdict %s, not %s", name, v->decided ? handover_verdict_name(v->hd.verdict) : "(none)", w);
	} else if (!strcmp(what, "why")) {
		if (!v->decided || !v->hd.why || !matches(re, v->hd.why))
			scn_fail(r, "%s: why '%s' does not match /%s/", name, v->decided && v->hd.why ? v->hd.why : "(none)", re);
	} else if (!strcmp(what, "last")) {
		re = scn_skipws(rest);
		if (!v->has_last || v->last_ok != !strcmp(w, "ok"))
			scn_fail(r, "%s: last migration %s, not %s", name, !v->has_last ? "none" : v->last_ok ? "ok" : "failed", w);
		else if (*re && (!v->last_error || !matches(re, v->last_error)))
			scn_fail(r, "%s: last migration's error '%s' does not match /%s/", name,
				 v->last_error ? v->last_error : "(none)", re);
	}
	return 0;
}

static int ex_refused(void *d, struct scn *r, const char *what, const char *args)
{
	struct sim *s = d;

	if (!s->refused)
		scn_fail(r, "the last migrate request was not refused");
	else if (!matches(args, s->refused))
		scn_fail(r, "refused for '%s', not /%s/", s->refused, args);
	return 0;
}

static int ex_settled(void *d, struct scn *r, const char *what, const char *args)
{
	struct sim *s = d;

	for (size_t i = 0; i < s->n_vms; i++) {
		const struct svm *v = &s->vms[i];
		size_t n = world_runner(s, v), o = node_idx(s, v->owner);
		if (v->mig_to || v->job.active)
			scn_fail(r, "not settled: %s is migrating", v->name);
		if (v->in_spec && v->started && (n == NONE || n != o))
			scn_fail(r, "not settled: %s (owner %s) runs on %s", v->name, v->owner ? v->owner : "none",
				 n == NONE ? "no node" : s->nodes[n].name);
		if ((!v->in_spec || !v->started) && n != NONE)
			scn_fail(r, "%s is stopped or removed but runs on %s", v->name, s->nodes[n].name);
	}
	return 0;
}

/* ---- random mode ---------------------------------------------------------------------------- */

static int random_begin(void *d, struct scn *r, struct scn_rng *g, const struct scn_random_opts *o)
{
	unsigned nodes = o->nodes ? o->nodes : (unsigned)scn_rng_range(g, 2, 4), vms = (unsigned)scn_rng_range(g, 1, 4);

	if (nodes > MAX_NODES)
		nodes = MAX_NODES;
	if (scn_header(r, "nodes %u", nodes) < 0 ||
	    scn_header(r, "limits per-node %u per-cluster %u", (unsigned)scn_rng_range(g, 1, 2),
		       (unsigned)scn_rng_range(g, 1, 3)) < 0)
		return -EINVAL;
	for (unsigned i = 1; i <= vms; i++)
		scn_at(r, 0, "vm vm%u on kvm%u", i, (unsigned)scn_rng_range(g, 1, nodes));
	return 0;
}

static int random_step(void *d, struct scn *r, struct scn_rng *g, char *buf, size_t size, uint64_t *next)
{
	struct sim *s = d;
	unsigned roll = (unsigned)scn_rng_below(g, 100);
	const char *n = s->nodes[scn_rng_below(g, s->n_nodes)].name;
	const struct svm *v = &s->vms[scn_rng_below(g, s->n_vms)];

	*next = scn_rng_range(g, 10, 300) * MS;
	if (roll < 14) {
		snprintf(buf, size, "migrate %s %s", v->name, n);
	} else if (roll < 24) {
		snprintf(buf, size, "step");
	} else if (roll < 34) {
		snprintf(buf, size, "leader%s", scn_rng_chance(g, 20) ? " lose" : "");
	} else if (roll < 42) {
		snprintf(buf, size, "act %s", scn_rng_chance(g, 30) ? "all" : n);
	} else if (roll < 52) {
		/* a listing that started before a node's own op can come in after it */
		const char *verb = scn_rng_chance(g, 40) ? "list" : s->nodes[node_idx(s, n)].listing ? "list-end" : "list-begin";
		snprintf(buf, size, "%s %s", verb, scn_rng_chance(g, 30) ? "all" : n);
	} else if (roll < 66) {
		if (!v->job.active)
			return -EAGAIN;
		snprintf(buf, size, "%s %s", scn_rng_chance(g, 55) ? "finish" : scn_rng_chance(g, 50) ? "fail" : "deadline",
			 v->name);
	} else if (roll < 72) {
		/* often a migration's source while its job runs: its job goes on without it, and the
		 * kvmcd that comes back may find the migration abandoned meanwhile */
		if (v->job.active && scn_rng_chance(g, 50))
			n = s->nodes[v->job.from].name;
		snprintf(buf, size, "kvmcd-down %s", n);
	} else if (roll < 80) {
		for (size_t k = 0; k < s->n_nodes && scn_rng_chance(g, 50); k++)
			if (s->nodes[k].host && !s->nodes[k].kvmcd)
				n = s->nodes[k].name; /* mostly one that is down: a restart, not a no-op */
		for (size_t i = 0; i < s->n_vms; i++) {
			const struct svm *w = &s->vms[i];
			if (w->job.active && !strcmp(s->nodes[w->job.from].name, n) && !s->nodes[w->job.to].drained &&
			    scn_rng_chance(g, 50)) {
				/* first the target is drained: the kvmcd that comes back finds the migration
				 * abandoned while its predecessor's job still runs (vms.c's on_abandoned) */
				snprintf(buf, size, "drain %s", s->nodes[w->job.to].name);
				return 0;
			}
		}
		snprintf(buf, size, "kvmcd-up %s", n);
	} else if (roll < 83) {
		/* a target that crashes after the switch-over, before its hand-over, is fenced: a
		 * crash and a reboot would leave the migration waiting (handover.h: a known gap) */
		bool holds = false;
		for (size_t i = 0; i < s->n_vms; i++)
			holds |= same(s->vms[i].mig_to, n) && s->vms[i].dom[node_idx(s, n)] == RUNNING;
		snprintf(buf, size, "%s %s", holds ? "fence" : "crash", n);
	} else if (roll < 85) {
		snprintf(buf, size, "fence %s", n);
	} else if (roll < 89) {
		snprintf(buf, size, "boot %s", n);
	} else if (roll < 91) {
		snprintf(buf, size, "unfence %s", n);
	} else if (roll < 95) {
		bool drain = scn_rng_chance(g, 50);
		if (drain && v->mig_to && scn_rng_chance(g, 50))
			n = v->mig_to; /* the leader abandons the migration: the source is asked to abort */
		snprintf(buf, size, "%s %s", drain ? "drain" : "undrain", n);
	} else {
		/* a removed VM comes back too, also while a member still runs its old domain (every
		 * section reports every domain kvmcd defined) */
		static const char *const st[] = { "started", "started", "stopped", "removed" };
		snprintf(buf, size, "spec %s %s", v->name, st[scn_rng_below(g, v->in_spec ? 4 : 3)]);
	}
	return 0;
}

static uint64_t random_end(void *d, struct scn *r, struct scn_rng *g, uint64_t at)
{
	struct sim *s = d;

	/* jobs end and the fences count (a leader acts on them) before every host is back,
	 * unfenced, undrained, kvmcd up; the jobs started meanwhile end; then it must settle */
	scn_at(r, at, "finish all");
	for (size_t i = 0; i < s->n_nodes; i++)
		if (s->nodes[i].host && !s->nodes[i].kvmcd)
			scn_at(r, at, "kvmcd-up %s", s->nodes[i].name);
	scn_at(r, at + 1 * MS, "settle 12");
	for (size_t i = 0; i < s->n_nodes; i++) {
		const struct snode *x = &s->nodes[i];
		if (x->fenced)
			scn_at(r, at + 2 * MS, "unfence %s", x->name);
		if (!x->host)
			scn_at(r, at + 2 * MS, "boot %s", x->name);
		if (x->drained)
			scn_at(r, at + 2 * MS, "undrain %s", x->name);
	}
	scn_at(r, at + 2 * MS, "finish all");
	scn_at(r, at + 3 * MS, "settle 12");
	scn_at(r, at + 4 * MS, "finish all");
	scn_at(r, at + 5 * MS, "settle 12");
	scn_at(r, at + 6 * MS, "expect settled");
	return at + 7 * MS;
}

/* ---- the driver ----------------------------------------------------------------------------- */

static void *create(struct scn *r)
{
	struct sim *s = calloc(1, sizeof(*s));

	if (!s)
		return NULL;
	s->r = r;
	s->lim = (struct placement_limits)PLACEMENT_LIMITS_DEFAULT;
	return s;
}

static int ready(void *d, struct scn *r)
{
	struct sim *s = d;

	if (!s->n_nodes)
		return hd_nodes(d, r, "nodes", "3");
	return 0;
}

static void destroy(void *d)
{
	struct sim *s = d;

	if (!s)
		return;
	for (size_t i = 0; i < s->n_vms; i++) {
		struct svm *v = &s->vms[i];
		free(v->name);
		free(v->owner);
		free(v->mig_to);
		free(v->mig_id);
		free(v->abort);
		free(v->last_error);
		job_clear(v);
		for (size_t n = 0; n < MAX_NODES; n++)
			local_forget(&v->local[n]);
		handover_decision_clear(&v->hd);
	}
	free(s->refused);
	free(s);
}

static void handle(void *d, struct scn *r, struct scn_event *e)
{
	/* no driver events: everything happens in statements */
}

static const struct scn_statement header[] = {
	{ "nodes", hd_nodes, "N  kvm1..kvmN (default 3)" },
	{ "limits", st_limits, "per-node N per-cluster N  migrate's limits (default 1 4)" },
	{ 0 }
};

static const struct scn_statement statements[] = {
	{ "limits", st_limits, "per-node N per-cluster N" },
	{ "vm", st_vm, "NAME [on NODE]  a started VM; on: recorded to NODE, running there" },
	{ "spec", st_spec, "VM started|stopped|removed" },
	{ "migrate", st_migrate, "VM NODE  kvmcctl vm migrate: checked, recorded" },
	{ "leader", st_leader, "[lose]  one leader pass (lose: its patch never commits)" },
	{ "act", st_each, "NODE|all  kvmcd acts on the records" },
	{ "list", st_each, "NODE|all  kvmcd lists libvirt into its section" },
	{ "list-begin", st_each, "NODE|all  a listing starts: it sees the world as it is now" },
	{ "list-end", st_each, "NODE|all  ... and comes in late: its section follows it" },
	{ "step", st_step, " act all, list all, leader" },
	{ "settle", st_settle, "[MAX]  steps until nothing changes" },
	{ "finish", st_job, "VM|all  the libvirt job completes" },
	{ "fail", st_job, "VM [WHY]  the libvirt job fails" },
	{ "deadline", st_job, "VM  the source aborts the job at its deadline" },
	{ "kvmcd-down", st_node, "NODE  its kvmcd stops; libvirtd and jobs go on" },
	{ "kvmcd-up", st_node, "NODE  its kvmcd starts (every member lists first)" },
	{ "crash", st_node, "NODE  the host dies" },
	{ "boot", st_node, "NODE  the host is back, empty, unfenced, kvmcd up" },
	{ "fence", st_node, "NODE  crash + confirmed fence" },
	{ "unfence", st_node, "NODE" },
	{ "drain", st_node, "NODE" },
	{ "undrain", st_node, "NODE" },
	{ 0 }
};

static const struct scn_statement expectations[] = {
	{ "record", ex_vm, "VM NODE|none [migrating-to NODE|none]" },
	{ "runs", ex_vm, "VM NODE|none  in the world" },
	{ "verdict", ex_vm, "VM VERDICT  of the last pass" },
	{ "why", ex_vm, "VM REGEX  of the last pass" },
	{ "last", ex_vm, "VM ok|failed [REGEX]  the record's last migration" },
	{ "refused", ex_refused, "REGEX  the last migrate request" },
	{ "settled", ex_settled, " nothing in flight, every VM where it should be" },
	{ 0 }
};

static const struct scn_driver handover_driver = {
	.name = "handover",
	.summary = "The hand-over of live migrations (coord/decide/handover.c after placement.c): records,\n"
		   "the leader's passes, every node's kvmcd and its listings, libvirt's jobs. See\n"
		   "tests/scenario/handover-driver.c for the trace format and the invariants.",
	.header = header,
	.statements = statements,
	.expectations = expectations,
	.create = create,
	.destroy = destroy,
	.ready = ready,
	.handle = handle,
	.invariants = invariants,
	.random_begin = random_begin,
	.random_step = random_step,
	.random_end = random_end,
};

int main(int argc, char **argv)
{
	return scn_main(&handover_driver, argc, argv);
}
