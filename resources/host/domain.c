/* SPDX-License-Identifier: GPL-2.0-or-later */
/* A VM's libvirt domain on this node (domain.h): kvmcd's XML, and the hooks on the worker pool. */
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>
#include <libxml/parser.h>
#include <libxml/tree.h>

#include "domain.h"
#include "fs-common.h"
#include "macros.h"
#include "pool.h"
#include "virt-common.h"

#define DEFAULT_URI "qemu:///system"
#define STOP_POLL_NSEC (200 * 1000 * 1000L)
#define MIGRATE_POLL_NSEC (100 * 1000 * 1000L)     /* the helper looks at the job this often */
#define ABORT_RETRY_NSEC (1000 * 1000 * 1000L)     /* an abort libvirt refused is tried again */
#define ABORT_WAIT_SEC 30                          /* abort_job waits this long for the job's end */
#define MIGRATE_MARGIN_USEC (120 * USEC_PER_SEC)   /* the worker's deadline beyond the job's */
#define AGENT_MARGIN_USEC (10 * USEC_PER_SEC)      /* fs freeze/thaw: libvirtd's own slowness */
#define AGENT_CHANNEL "org.qemu.guest_agent.0"

const char *host_domain_agent_result(int r)
{
	switch (r) {
	case 0: return "ok";
	case -ENOENT: return "not-defined";
	case -ESRCH: return "not-running";
	case -EAGAIN: return "paused";
	case -EOPNOTSUPP: return "no-agent";
	case -ENOTCONN: return "agent-not-connected";
	case -ETIMEDOUT: return "agent-timeout";
	case -EIO: return "agent-error";
	default: return "error";
	}
}

void host_domain_sha256(const char *s, char out[65])
{
	host_sha256_hex(s, strlen(s), out);
}

int host_domain_xml(const char *user_xml, const char *uuid, char **out)
{
	xmlDocPtr doc;
	xmlNodePtr root, meta = NULL, vm;
	xmlNsPtr ns;
	xmlChar *text = NULL;
	int len = 0, r = 0;
	char sha[65];

	if (!user_xml || !out)
		return -EINVAL;
	/* no network, no entities, no DTD: the XML is a user's string, not a document to fetch */
	doc = xmlReadMemory(user_xml, (int)strlen(user_xml), "domain.xml", NULL,
			    XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING);
	if (!doc)
		return -EINVAL;
	root = xmlDocGetRootElement(doc);
	if (!root || xmlStrcmp(root->name, BAD_CAST "domain") != 0 || root->ns) {
		r = -EINVAL;
		goto out;
	}
	bool has_uuid = false;
	for (xmlNodePtr c = root->children; c; c = c->next) {
		if (c->type == XML_ELEMENT_NODE && !c->ns && xmlStrcmp(c->name, BAD_CAST "metadata") == 0)
			meta = c;
		if (c->type == XML_ELEMENT_NODE && !c->ns && xmlStrcmp(c->name, BAD_CAST "uuid") == 0)
			has_uuid = true;
	}
	if (!has_uuid && uuid && !xmlNewTextChild(root, NULL, BAD_CAST "uuid", BAD_CAST uuid)) {
		r = -ENOMEM;
		goto out;
	}
	if (!meta && !(meta = xmlNewChild(root, NULL, BAD_CAST "metadata", NULL))) {
		r = -ENOMEM;
		goto out;
	}
	/* a kvmcd element already there (the user's XML copied from a defined domain) is replaced */
	for (xmlNodePtr c = meta->children, next; c; c = next) {
		next = c->next;
		if (c->type == XML_ELEMENT_NODE && c->ns && xmlStrcmp(c->ns->href, BAD_CAST HOST_DOMAIN_XMLNS) == 0) {
			xmlUnlinkNode(c);
			xmlFreeNode(c);
		}
	}
	host_domain_sha256(user_xml, sha);
	vm = xmlNewChild(meta, NULL, BAD_CAST "vm", NULL);
	ns = vm ? xmlNewNs(vm, BAD_CAST HOST_DOMAIN_XMLNS, BAD_CAST "kvmcd") : NULL;
	if (!vm || !ns || !xmlNewProp(vm, BAD_CAST "spec_sha256", BAD_CAST sha)) {
		r = -ENOMEM;
		goto out;
	}
	xmlSetNs(vm, ns);
	xmlDocDumpFormatMemory(doc, &text, &len, 0);
	if (!text || !(*out = strndup((const char *)text, (size_t)len)))
		r = -ENOMEM;
out:
	xmlFree(text);
	xmlFreeDoc(doc);
	return r;
}

enum djob_kind {
	DJOB_LIST, DJOB_DEFINE, DJOB_START, DJOB_STOP, DJOB_UNDEFINE, DJOB_MIGRATE, DJOB_ABORT, DJOB_RESUME,
	DJOB_FREEZE, DJOB_THAW,
};

/* One hook's work on a worker thread. Owned by the worker pool while queued or running. */
struct djob {
	enum djob_kind kind;
	char *uri, *name, *xml;   /* inputs, owned */
	unsigned grace_sec;
	char *dest_uri;           /* migrate: the target's libvirtd (owned) */
	unsigned max_downtime_ms; /* migrate: 0 = QEMU's */
	uint64_t deadline_usec;   /* migrate, freeze, thaw: relative to the job's start */
	char *detail;             /* result, owned */
};

static void djob_free(void *arg)
{
	struct djob *j = arg;

	if (!j)
		return;
	free(j->uri);
	free(j->name);
	free(j->xml);
	free(j->dest_uri);
	free(j->detail);
	free(j);
}

static _printf_(3, 4) int djob_result(struct djob *j, int r, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	free(j->detail);
	if (vasprintf(&j->detail, fmt, ap) < 0)
		j->detail = NULL;
	va_end(ap);
	return r;
}

#ifdef HAVE_LIBVIRT

/* host_virt_error replaces j->detail itself */
static int virt_fail(struct djob *j, const char *step)
{
	return host_virt_error(step, &j->detail);
}

/* The spec_sha256 of kvmcd's metadata element, or NULL (not kvmcd's, or none). Owned. */
static char *domain_spec_sha(virDomainPtr d)
{
	char *x = virDomainGetMetadata(d, VIR_DOMAIN_METADATA_ELEMENT, HOST_DOMAIN_XMLNS, VIR_DOMAIN_AFFECT_CONFIG);
	char *sha = NULL;
	xmlDocPtr doc;

	if (!x)
		return NULL;
	doc = xmlReadMemory(x, (int)strlen(x), "metadata.xml", NULL, XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING);
	if (doc) {
		xmlChar *v = xmlDocGetRootElement(doc) ? xmlGetProp(xmlDocGetRootElement(doc), BAD_CAST "spec_sha256") : NULL;
		if (v)
			sha = strdup((const char *)v);
		xmlFree(v);
		xmlFreeDoc(doc);
	}
	free(x);
	return sha;
}

static const char *state_name(int s)
{
	switch (s) {
	case VIR_DOMAIN_RUNNING: case VIR_DOMAIN_BLOCKED: return "running";
	case VIR_DOMAIN_PAUSED: case VIR_DOMAIN_PMSUSPENDED: return "paused";
	case VIR_DOMAIN_SHUTOFF: case VIR_DOMAIN_SHUTDOWN: return "shutoff";
	case VIR_DOMAIN_CRASHED: return "crashed";
	default: return "other";
	}
}

/* Why a paused domain is paused (virDomainGetState's reason), in domain.h's words. */
static const char *pause_reason_name(int reason)
{
	switch (reason) {
	case VIR_DOMAIN_PAUSED_USER: return "user";
	case VIR_DOMAIN_PAUSED_MIGRATION: return "migration";
	case VIR_DOMAIN_PAUSED_SAVE: return "save";
	case VIR_DOMAIN_PAUSED_DUMP: return "dump";
	case VIR_DOMAIN_PAUSED_IOERROR: return "ioerror";
	case VIR_DOMAIN_PAUSED_WATCHDOG: return "watchdog";
	case VIR_DOMAIN_PAUSED_FROM_SNAPSHOT: return "from-snapshot";
	case VIR_DOMAIN_PAUSED_SHUTTING_DOWN: return "shutting-down";
	case VIR_DOMAIN_PAUSED_SNAPSHOT: return "snapshot";
	case VIR_DOMAIN_PAUSED_CRASHED: return "crashed";
	case VIR_DOMAIN_PAUSED_STARTING_UP: return "starting-up";
	case VIR_DOMAIN_PAUSED_POSTCOPY: return "postcopy";
	case VIR_DOMAIN_PAUSED_POSTCOPY_FAILED: return "postcopy-failed";
	default: return "unknown";
	}
}

static int domain_state(virDomainPtr d, int *state)
{
	int reason;

	return virDomainGetState(d, state, &reason, 0);
}

static int job_list(struct djob *j, virConnectPtr c)
{
	virDomainPtr *doms = NULL;
	json_t *all = json_object();
	int n = virConnectListAllDomains(c, &doms, 0), r = 0;

	if (n < 0) {
		json_decref(all);
		return virt_fail(j, "virConnectListAllDomains");
	}
	for (int i = 0; i < n && all; i++) {
		int st = 0, reason = 0, autostart = 0, persistent = virDomainIsPersistent(doms[i]);
		_cleanup_free_ char *sha = domain_spec_sha(doms[i]);
		if (virDomainGetState(doms[i], &st, &reason, 0) < 0 || persistent < 0 ||
		    virDomainGetAutostart(doms[i], &autostart) < 0) {
			r = virt_fail(j, "virDomainGetState");
			break;
		}
		json_object_set_new(all, virDomainGetName(doms[i]),
				    json_pack("{sssbsbss?ss*}", "state", state_name(st), "persistent", persistent > 0,
					      "autostart", autostart != 0, "spec_sha256", sha, "reason",
					      st == VIR_DOMAIN_PAUSED ? pause_reason_name(reason) : NULL));
	}
	for (int i = 0; i < n; i++)
		virDomainFree(doms[i]);
	free(doms);
	if (r == 0) {
		_cleanup_free_ char *text = all ? json_dumps(all, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
		r = text ? djob_result(j, 0, "%s", text) : djob_result(j, -ENOMEM, "out of memory");
	}
	json_decref(all);
	return r;
}

/* d: the domain of that name or NULL (borrowed; the caller frees it). */
static int job_define(struct djob *j, virConnectPtr c, virDomainPtr d)
{
	const char *p = strstr(j->xml, "spec_sha256=\"");
	_cleanup_free_ char *have = d ? domain_spec_sha(d) : NULL;
	virDomainPtr nd = NULL, t;
	char want[65];
	bool same;
	int a = 0, r;

	/* the wanted sha is the one inside the XML we were given (host_domain_xml made it) */
	if (!p || strlen(p) < 13 + 64)
		return djob_result(j, -EINVAL, "domain %s: the XML has no kvmcd metadata", j->name);
	memcpy(want, p + 13, 64);
	want[64] = '\0';
	if (d && !have)
		return djob_result(j, -EEXIST, "domain %s is defined here without kvmcd's metadata (not kvmcd's): left alone",
				   j->name);
	same = have && strcmp(have, want) == 0 && virDomainIsPersistent(d) == 1;
	if (!same && !(nd = virDomainDefineXMLFlags(c, j->xml, 0)))
		return virt_fail(j, "virDomainDefineXML");
	t = nd ? nd : d;
	/* never autostarted: whether it runs here is the replicated owner's decision */
	if (virDomainGetAutostart(t, &a) < 0 || (a && virDomainSetAutostart(t, 0) < 0))
		r = virt_fail(j, "virDomainSetAutostart");
	else
		r = djob_result(j, 0, same ? "unchanged" : "defined");
	if (nd)
		virDomainFree(nd);
	return r;
}

static int job_stop(struct djob *j, virDomainPtr d)
{
	struct timespec t0, now, nap = { 0, STOP_POLL_NSEC };
	int st = 0;

	if (domain_state(d, &st) < 0)
		return virt_fail(j, "virDomainGetState");
	if (st == VIR_DOMAIN_SHUTOFF)
		return djob_result(j, 0, "not running");
	if (j->grace_sec && st == VIR_DOMAIN_RUNNING) {
		if (virDomainShutdown(d) < 0)
			return virt_fail(j, "virDomainShutdown");
		/* the guest's own shutdown: wait on this worker thread, never on the loop */
		clock_gettime(CLOCK_MONOTONIC, &t0);
		for (;;) {
			if (domain_state(d, &st) < 0)
				return virt_fail(j, "virDomainGetState");
			if (st == VIR_DOMAIN_SHUTOFF)
				return djob_result(j, 0, "stopped");
			clock_gettime(CLOCK_MONOTONIC, &now);
			if (now.tv_sec - t0.tv_sec >= (time_t)j->grace_sec)
				break;
			nanosleep(&nap, NULL);
		}
	}
	if (virDomainDestroy(d) < 0) {
		if (domain_state(d, &st) == 0 && st == VIR_DOMAIN_SHUTOFF)
			return djob_result(j, 0, "stopped");
		return virt_fail(j, "virDomainDestroy");
	}
	return djob_result(j, 0, "destroyed");
}

/* ---- live migration -------------------------------------------------------------------------- */

static void ts_add_nsec(struct timespec *t, long long nsec)
{
	nsec += t->tv_nsec;
	t->tv_sec += (time_t)(nsec / 1000000000LL);
	t->tv_nsec = (long)(nsec % 1000000000LL);
}

static bool ts_reached(const struct timespec *now, const struct timespec *t)
{
	return now->tv_sec > t->tv_sec || (now->tv_sec == t->tv_sec && now->tv_nsec >= t->tv_nsec);
}

/* Whether a job (a migration, a save...) runs on the domain now. false when libvirt cannot say
 * (an inactive domain has no job). */
static bool job_active(virDomainPtr d)
{
	virDomainJobInfo info;

	if (virDomainGetJobInfo(d, &info) < 0) {
		virResetLastError();
		return false;
	}
	return info.type == VIR_DOMAIN_JOB_BOUNDED || info.type == VIR_DOMAIN_JOB_UNBOUNDED;
}

/*
 * The migration's watcher, a thread beside the blocking virDomainMigrateToURI3 (the connection
 * is shared: libvirt's remote driver takes concurrent calls, as virsh's own migrate does). It
 * sets the maximum downtime once libvirt has the job (QEMU only takes it for a migration that
 * exists), and at the deadline aborts the job, again every second until the call returns.
 */
struct mwatch {
	virDomainPtr d;                /* borrowed from the job */
	unsigned max_downtime_ms;
	struct timespec deadline;      /* CLOCK_MONOTONIC */
	pthread_mutex_t lock;
	pthread_cond_t cond;           /* on CLOCK_MONOTONIC */
	bool stop;                     /* under lock: the migration call returned */
	bool aborted;                  /* under lock: the deadline passed and an abort was sent */
	char *downtime_error;          /* owned: why the downtime could not be set */
};

static void *mwatch_run(void *arg)
{
	struct mwatch *w = arg;
	bool downtime_done = w->max_downtime_ms == 0;
	struct timespec now, next, abort_at = w->deadline;

	pthread_mutex_lock(&w->lock);
	while (!w->stop) {
		pthread_mutex_unlock(&w->lock);
		clock_gettime(CLOCK_MONOTONIC, &now);
		if (ts_reached(&now, &abort_at)) {
			bool sent = virDomainAbortJob(w->d) == 0;
			if (!sent)
				virResetLastError();
			pthread_mutex_lock(&w->lock);
			w->aborted |= sent;
			pthread_mutex_unlock(&w->lock);
			abort_at = now;
			ts_add_nsec(&abort_at, ABORT_RETRY_NSEC);
		} else if (!downtime_done && job_active(w->d)) {
			downtime_done = true;
			if (virDomainMigrateSetMaxDowntime(w->d, w->max_downtime_ms, 0) < 0) {
				char *detail = NULL;
				host_virt_error("virDomainMigrateSetMaxDowntime", &detail);
				pthread_mutex_lock(&w->lock);
				free(w->downtime_error);
				w->downtime_error = detail;
				pthread_mutex_unlock(&w->lock);
			}
		}
		next = now;
		ts_add_nsec(&next, MIGRATE_POLL_NSEC);
		pthread_mutex_lock(&w->lock);
		if (!w->stop)
			pthread_cond_timedwait(&w->cond, &w->lock, &next);
	}
	pthread_mutex_unlock(&w->lock);
	return NULL;
}

/*
 * abort_job: the job is aborted and waited for -- virDomainAbortJob returns once QEMU was told
 * to cancel, while the migration's own thread (libvirtd's, driven by whichever client started it)
 * still ends the job, and until then it may still switch the guest over to the target. An abort
 * libvirt refuses (a migration already in its last phase) is tried again until no job runs.
 * Then the domain says how it ended: shut off with reason "migrated" -- it left this node.
 */
static int job_abort(struct djob *j, virDomainPtr d)
{
	struct timespec now, deadline, nap = { 0, STOP_POLL_NSEC };
	bool sent = false;
	int st = 0, reason = 0;

	if (!d)
		return djob_result(j, 0, "no job");
	clock_gettime(CLOCK_MONOTONIC, &deadline);
	deadline.tv_sec += ABORT_WAIT_SEC;
	while (job_active(d)) {
		if (!sent && !(sent = virDomainAbortJob(d) == 0))
			virResetLastError();
		clock_gettime(CLOCK_MONOTONIC, &now);
		if (ts_reached(&now, &deadline))
			return djob_result(j, -ETIMEDOUT, "domain %s: its job still runs %d s after the abort", j->name,
					   ABORT_WAIT_SEC);
		nanosleep(&nap, NULL);
	}
	if (virDomainGetState(d, &st, &reason, 0) < 0)
		virResetLastError();
	else if (st == VIR_DOMAIN_SHUTOFF && reason == VIR_DOMAIN_SHUTOFF_MIGRATED)
		return djob_result(j, 0, "migrated");
	return djob_result(j, 0, sent ? "aborted" : "no job");
}

static int job_migrate(struct djob *j, virDomainPtr d)
{
	struct timespec t0, t1, deadline, nap = { 0, STOP_POLL_NSEC };
	struct mwatch w = { .d = d, .max_downtime_ms = j->max_downtime_ms };
	pthread_condattr_t ca;
	pthread_t thread;
	unsigned long long downtime = 0;
	bool have_downtime = false, aborted;
	int st = 0, reason = 0, r;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	deadline = t0;
	ts_add_nsec(&deadline, (long long)j->deadline_usec * 1000LL);
	/* probe: an earlier kvmcd's migration of this domain may still run inside libvirtd */
	while (job_active(d)) {
		clock_gettime(CLOCK_MONOTONIC, &t1);
		if (ts_reached(&t1, &deadline))
			return djob_result(j, -EBUSY, "domain %s: another job (an earlier migration?) still runs on it", j->name);
		nanosleep(&nap, NULL);
	}
	if (virDomainGetState(d, &st, &reason, 0) < 0)
		return virt_fail(j, "virDomainGetState");
	if (st != VIR_DOMAIN_RUNNING && st != VIR_DOMAIN_BLOCKED && st != VIR_DOMAIN_PAUSED)
		return djob_result(j, -ESRCH, "domain %s does not run here (%s%s)", j->name, state_name(st),
				   st == VIR_DOMAIN_SHUTOFF && reason == VIR_DOMAIN_SHUTOFF_MIGRATED ? ": migrated" : "");

	w.deadline = deadline;
	if (pthread_mutex_init(&w.lock, NULL) != 0)
		return djob_result(j, -ENOMEM, "cannot start the migration's watcher");
	if (pthread_condattr_init(&ca) != 0 || pthread_condattr_setclock(&ca, CLOCK_MONOTONIC) != 0 ||
	    pthread_cond_init(&w.cond, &ca) != 0) {
		pthread_mutex_destroy(&w.lock);
		return djob_result(j, -ENOMEM, "cannot start the migration's watcher");
	}
	pthread_condattr_destroy(&ca);
	r = pthread_create(&thread, NULL, mwatch_run, &w);
	if (r != 0) {
		pthread_cond_destroy(&w.cond);
		pthread_mutex_destroy(&w.lock);
		return djob_result(j, -r, "cannot start the migration's watcher: %s", strerror(r));
	}

	/* LIVE | PEER2PEER | PERSIST_DEST and never UNDEFINE_SOURCE: every node keeps every VM
	 * defined; the target's definition is replaced by the same one */
	r = virDomainMigrateToURI3(d, j->dest_uri, NULL, 0, VIR_MIGRATE_LIVE | VIR_MIGRATE_PEER2PEER | VIR_MIGRATE_PERSIST_DEST);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	if (r < 0) {
		char step[512];
		snprintf(step, sizeof step, "migration to %s", j->dest_uri);
		r = virt_fail(j, step);
	}

	pthread_mutex_lock(&w.lock);
	w.stop = true;
	pthread_cond_signal(&w.cond);
	pthread_mutex_unlock(&w.lock);
	pthread_join(thread, NULL);
	aborted = w.aborted;
	pthread_cond_destroy(&w.cond);
	pthread_mutex_destroy(&w.lock);

	if (r < 0) {
		free(w.downtime_error);
		if (aborted) {
			_cleanup_free_ char *why = TAKE_PTR(j->detail);
			return djob_result(j, -ETIMEDOUT, "migration to %s did not finish within %llu s: aborted (%s)", j->dest_uri,
					   (unsigned long long)(j->deadline_usec / USEC_PER_SEC), why ? why : "?");
		}
		return r;
	}
	/* libvirt's own account of the switch-over; not every libvirt keeps it on the source */
	{
		virTypedParameterPtr stats = NULL;
		int type = 0, n = 0;
		if (virDomainGetJobStats(d, &type, &stats, &n, VIR_DOMAIN_JOB_STATS_COMPLETED) == 0) {
			have_downtime = virTypedParamsGetULLong(stats, n, VIR_DOMAIN_JOB_DOWNTIME, &downtime) == 1;
			virTypedParamsFree(stats, n);
		} else {
			virResetLastError();
		}
	}
	{
		long long ms = (long long)(t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000;
		json_auto_t *res = json_pack("{sIso*ss*}", "ms", (json_int_t)ms, "downtime_ms",
					     have_downtime ? json_integer((json_int_t)downtime) : json_null(),
					     "downtime_error", w.downtime_error);
		_cleanup_free_ char *text = res ? json_dumps(res, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
		free(w.downtime_error);
		return text ? djob_result(j, 0, "%s", text) : djob_result(j, -ENOMEM, "out of memory");
	}
}

/* ---- guest agent: fs freeze / thaw ------------------------------------------------------------ */

enum agent_channel { AGENT_NONE, AGENT_DISCONNECTED, AGENT_CONNECTED };

/* The live definition's guest-agent channel (<channel><target type='virtio'
 * name='org.qemu.guest_agent.0' state='connected|disconnected'/>): libvirt keeps `state` from
 * QEMU's VSERPORT_CHANGE events, i.e. whether the guest has opened its end of the port. A
 * channel without a state (an old QEMU) counts as connected: the call then says. -1: no XML. */
static int agent_channel(virDomainPtr d)
{
	char *x = virDomainGetXMLDesc(d, 0);
	int found = AGENT_NONE;
	xmlDocPtr doc;
	xmlNodePtr root, devs = NULL;

	if (!x)
		return -1;
	doc = xmlReadMemory(x, (int)strlen(x), "domain.xml", NULL, XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING);
	free(x);
	if (!doc)
		return -1;
	root = xmlDocGetRootElement(doc);
	for (xmlNodePtr c = root ? root->children : NULL; c; c = c->next)
		if (c->type == XML_ELEMENT_NODE && xmlStrcmp(c->name, BAD_CAST "devices") == 0)
			devs = c;
	for (xmlNodePtr ch = devs ? devs->children : NULL; ch && found == AGENT_NONE; ch = ch->next) {
		if (ch->type != XML_ELEMENT_NODE || xmlStrcmp(ch->name, BAD_CAST "channel") != 0)
			continue;
		for (xmlNodePtr t = ch->children; t; t = t->next) {
			if (t->type != XML_ELEMENT_NODE || xmlStrcmp(t->name, BAD_CAST "target") != 0)
				continue;
			xmlChar *type = xmlGetProp(t, BAD_CAST "type"), *name = xmlGetProp(t, BAD_CAST "name");
			xmlChar *state = xmlGetProp(t, BAD_CAST "state");
			if (type && name && xmlStrcmp(type, BAD_CAST "virtio") == 0 && xmlStrcmp(name, BAD_CAST AGENT_CHANNEL) == 0)
				found = state && xmlStrcmp(state, BAD_CAST "disconnected") == 0 ? AGENT_DISCONNECTED : AGENT_CONNECTED;
			xmlFree(type);
			xmlFree(name);
			xmlFree(state);
		}
	}
	xmlFreeDoc(doc);
	return found;
}

/* What keeps the agent from being asked now, as domain.h's result (0: nothing; ask it). */
static int agent_probe(struct djob *j, virDomainPtr d)
{
	int st = 0, reason = 0, ch;

	if (virDomainGetState(d, &st, &reason, 0) < 0)
		return virt_fail(j, "virDomainGetState");
	if (st == VIR_DOMAIN_PAUSED || st == VIR_DOMAIN_PMSUSPENDED)
		return djob_result(j, -EAGAIN, "paused: domain %s is paused (%s): libvirt sends its agent nothing", j->name,
				   st == VIR_DOMAIN_PAUSED ? pause_reason_name(reason) : "pm-suspended");
	if (st != VIR_DOMAIN_RUNNING && st != VIR_DOMAIN_BLOCKED)
		return djob_result(j, -ESRCH, "not-running: domain %s does not run here (%s)", j->name, state_name(st));
	ch = agent_channel(d);
	if (ch < 0)
		return virt_fail(j, "virDomainGetXMLDesc");
	if (ch == AGENT_NONE)
		return djob_result(j, -EOPNOTSUPP, "no-agent: domain %s has no " AGENT_CHANNEL " channel", j->name);
	if (ch == AGENT_DISCONNECTED)
		return djob_result(j, -ENOTCONN,
				   "agent-not-connected: nothing in domain %s has opened its " AGENT_CHANNEL
				   " channel (no guest agent runs)", j->name);
	return 0;
}

/*
 * fs freeze / thaw. The call goes first: libvirt itself refuses to send the agent anything when
 * the domain is paused or not running, has no agent channel, or nothing in the guest has opened
 * it -- so a probe before each call would only cost two more round trips to libvirtd (its state
 * and its XML) on the path every VM-consistent snapshot waits for. After a failed call the probe
 * names what kept the agent from being asked (libvirt's words for a channel that closed and for
 * a timeout are the same error code); anything else "unresponsive" is a timeout: a freeze that
 * may still be happening in the guest.
 */
static int job_agent(struct djob *j, virDomainPtr d)
{
	bool freeze = j->kind == DJOB_FREEZE;
	const char *call = freeze ? "virDomainFSFreeze" : "virDomainFSThaw";
	unsigned secs = (unsigned)(j->deadline_usec / 2 / USEC_PER_SEC);
	int r, n = -1, code;

	if (!d)
		return djob_result(j, -ENOENT, "not-defined: domain %s is not defined here", j->name);
	if (secs < 1)
		secs = 1;   /* 0 would be libvirt's "do not wait at all" */
	if (virDomainAgentSetResponseTimeout(d, (int)secs, 0) < 0)
		call = "virDomainAgentSetResponseTimeout";
	else
		n = freeze ? virDomainFSFreeze(d, NULL, 0, 0) : virDomainFSThaw(d, NULL, 0, 0);
	if (n >= 0)
		return djob_result(j, 0, "%s %d", freeze ? "frozen" : "thawed", n);
	{
		virErrorPtr e = virGetLastError();
		code = e ? e->code : VIR_ERR_INTERNAL_ERROR;
	}
	r = virt_fail(j, call);
	{
		_cleanup_free_ char *why = TAKE_PTR(j->detail);
		int p = agent_probe(j, d);
		if (p != 0) {
			/* paused / not running / no channel / channel closed: the probe's words, libvirt's after */
			_cleanup_free_ char *probe = TAKE_PTR(j->detail);
			return djob_result(j, p, "%s (%s)", probe ? probe : "?", why ? why : "?");
		}
		if (code == VIR_ERR_AGENT_UNRESPONSIVE)
			return djob_result(j, -ETIMEDOUT, "agent-timeout: the guest agent of %s did not answer within %u s%s (%s)",
					   j->name, secs, freeze ? ": it may still freeze, thaw it" : "", why ? why : "?");
		if (r == -EIO || code == VIR_ERR_INTERNAL_ERROR)
			return djob_result(j, -EIO, "agent-error: %s", why ? why : "?");
		return djob_result(j, r, "error: %s", why ? why : "?");
	}
}

static int domain_job(void *arg)
{
	struct djob *j = arg;
	virConnectPtr c;
	virDomainPtr d = NULL;
	int r, st = 0;
	bool kept = j->kind == DJOB_FREEZE || j->kind == DJOB_THAW;

	r = host_virt_init();
	if (r < 0)
		return djob_result(j, r, "virInitialize failed");
	c = kept ? host_virt_kept_conn(j->uri) : virConnectOpen(j->uri);
	if (!c)
		return virt_fail(j, j->uri);
	if (j->kind == DJOB_LIST) {
		r = job_list(j, c);
		goto out;
	}
	d = virDomainLookupByName(c, j->name);
	if (!d) {
		virErrorPtr e = virGetLastError();
		if (!e || e->code != VIR_ERR_NO_DOMAIN) {
			r = virt_fail(j, "virDomainLookupByName");
			goto out;
		}
	}
	switch (j->kind) {
	case DJOB_DEFINE:
		r = job_define(j, c, d);
		break;
	case DJOB_START:
		if (!d) {
			r = djob_result(j, -ENOENT, "domain %s is not defined here", j->name);
			break;
		}
		if (domain_state(d, &st) < 0) {
			r = virt_fail(j, "virDomainGetState");
			break;
		}
		if (st == VIR_DOMAIN_RUNNING || st == VIR_DOMAIN_BLOCKED) {
			r = djob_result(j, 0, "running");
			break;
		}
		if (st == VIR_DOMAIN_PAUSED) {
			r = virDomainResume(d) < 0 ? virt_fail(j, "virDomainResume") : djob_result(j, 0, "started");
			break;
		}
		r = virDomainCreate(d) < 0 ? virt_fail(j, "virDomainCreate") : djob_result(j, 0, "started");
		break;
	case DJOB_STOP:
		r = d ? job_stop(j, d) : djob_result(j, 0, "not running");
		break;
	case DJOB_UNDEFINE:
		if (!d) {
			r = djob_result(j, 0, "not defined");
			break;
		}
		if (virDomainIsActive(d) == 1) {
			r = djob_result(j, -EBUSY, "domain %s runs here: stop it first", j->name);
			break;
		}
		r = virDomainUndefineFlags(d, VIR_DOMAIN_UNDEFINE_MANAGED_SAVE | VIR_DOMAIN_UNDEFINE_SNAPSHOTS_METADATA) < 0
			    ? virt_fail(j, "virDomainUndefine")
			    : djob_result(j, 0, "undefined");
		break;
	case DJOB_MIGRATE:
		r = d ? job_migrate(j, d) : djob_result(j, -ENOENT, "domain %s is not defined here", j->name);
		break;
	case DJOB_ABORT:
		r = job_abort(j, d);
		break;
	case DJOB_RESUME:
		if (!d) {
			r = djob_result(j, -ENOENT, "domain %s is not defined here", j->name);
			break;
		}
		if (domain_state(d, &st) < 0) {
			r = virt_fail(j, "virDomainGetState");
			break;
		}
		if (st == VIR_DOMAIN_RUNNING || st == VIR_DOMAIN_BLOCKED)
			r = djob_result(j, 0, "running");
		else if (st != VIR_DOMAIN_PAUSED)
			r = djob_result(j, -ESRCH, "domain %s is not paused here (%s)", j->name, state_name(st));
		else
			r = virDomainResume(d) < 0 ? virt_fail(j, "virDomainResume") : djob_result(j, 0, "resumed");
		break;
	case DJOB_FREEZE:
	case DJOB_THAW:
		r = job_agent(j, d);
		break;
	case DJOB_LIST:
		break;
	}
out:
	if (d)
		virDomainFree(d);
	if (!kept)
		virConnectClose(c);
	return r;
}

static void domain_job_done(struct hop *op, int r, void *arg)
{
	struct djob *j = arg;

	if (!j) {
		hop_finish(op, r, "libvirt did not answer within the step deadline");
		return;
	}
	hop_finish(op, r, "%s", j->detail ? j->detail : r < 0 ? strerror(-r) : "");
}

static int domain_submit(struct host_ctx *ctx, enum djob_kind kind, const char *name, const char *xml,
			 unsigned grace_sec, const struct host_migration *m, uint64_t deadline_usec, host_done_fn done,
			 void *userdata)
{
	struct hop *op;
	struct djob *j;

	if (!ctx || !done || (kind != DJOB_LIST && (!name || !*name)) || (kind == DJOB_DEFINE && !xml) ||
	    (kind == DJOB_MIGRATE && (!m || !m->dest_uri || !*m->dest_uri || !m->deadline_usec)) ||
	    ((kind == DJOB_FREEZE || kind == DJOB_THAW) && !deadline_usec))
		return -EINVAL;
	op = hop_new(sizeof *op, ctx, done, userdata, NULL);
	if (!op)
		return -ENOMEM;
	j = calloc(1, sizeof *j);
	if (j) {
		j->kind = kind;
		j->grace_sec = grace_sec;
		j->uri = strdup(ctx->libvirt_uri ? ctx->libvirt_uri : DEFAULT_URI);
		j->name = name ? strdup(name) : NULL;
		j->xml = xml ? strdup(xml) : NULL;
		if (m) {
			j->dest_uri = strdup(m->dest_uri);
			j->max_downtime_ms = m->max_downtime_ms;
			j->deadline_usec = m->deadline_usec;
		} else {
			j->deadline_usec = deadline_usec;
		}
	}
	if (!j || !j->uri || (name && !j->name) || (xml && !j->xml) || (m && !j->dest_uri)) {
		djob_free(j);
		hop_free(op);
		return -ENOMEM;
	}
	if (kind == DJOB_MIGRATE) /* bounded by its own deadline, then the abort */
		hop_work_timeout(op, domain_job, j, djob_free, domain_job_done, m->deadline_usec + MIGRATE_MARGIN_USEC);
	else if (kind == DJOB_FREEZE || kind == DJOB_THAW) /* the agent timeout (max(2 s, deadline)) */
		hop_work_timeout(op, domain_job, j, djob_free, domain_job_done,
				 (deadline_usec < 2 * USEC_PER_SEC ? 2 * USEC_PER_SEC : deadline_usec) + AGENT_MARGIN_USEC);
	else
		hop_work(op, domain_job, j, djob_free, domain_job_done);
	return 0;
}

#else /* !HAVE_LIBVIRT */

static int domain_submit(struct host_ctx *ctx, enum djob_kind kind, const char *name, const char *xml,
			 unsigned grace_sec, const struct host_migration *m, uint64_t deadline_usec, host_done_fn done,
			 void *userdata)
{
	(void)djob_free;
	(void)djob_result;
	return -EOPNOTSUPP;   /* built without libvirt: nothing started */
}

#endif

static int domain_list(struct host_ctx *ctx, host_done_fn done, void *userdata)
{
	return domain_submit(ctx, DJOB_LIST, NULL, NULL, 0, NULL, 0, done, userdata);
}

static int domain_define(struct host_ctx *ctx, const char *name, const char *xml, host_done_fn done, void *userdata)
{
	return domain_submit(ctx, DJOB_DEFINE, name, xml, 0, NULL, 0, done, userdata);
}

static int domain_start(struct host_ctx *ctx, const char *name, host_done_fn done, void *userdata)
{
	return domain_submit(ctx, DJOB_START, name, NULL, 0, NULL, 0, done, userdata);
}

static int domain_stop(struct host_ctx *ctx, const char *name, unsigned grace_sec, host_done_fn done, void *userdata)
{
	return domain_submit(ctx, DJOB_STOP, name, NULL, grace_sec, NULL, 0, done, userdata);
}

static int domain_undefine(struct host_ctx *ctx, const char *name, host_done_fn done, void *userdata)
{
	return domain_submit(ctx, DJOB_UNDEFINE, name, NULL, 0, NULL, 0, done, userdata);
}

static int domain_migrate(struct host_ctx *ctx, const struct host_migration *m, host_done_fn done, void *userdata)
{
	return domain_submit(ctx, DJOB_MIGRATE, m ? m->name : NULL, NULL, 0, m, 0, done, userdata);
}

static int domain_abort_job(struct host_ctx *ctx, const char *name, host_done_fn done, void *userdata)
{
	return domain_submit(ctx, DJOB_ABORT, name, NULL, 0, NULL, 0, done, userdata);
}

static int domain_resume(struct host_ctx *ctx, const char *name, host_done_fn done, void *userdata)
{
	return domain_submit(ctx, DJOB_RESUME, name, NULL, 0, NULL, 0, done, userdata);
}

static int domain_fs_freeze(struct host_ctx *ctx, const char *name, uint64_t deadline_usec, host_done_fn done,
			    void *userdata)
{
	return domain_submit(ctx, DJOB_FREEZE, name, NULL, 0, NULL, deadline_usec, done, userdata);
}

static int domain_fs_thaw(struct host_ctx *ctx, const char *name, uint64_t deadline_usec, host_done_fn done,
			  void *userdata)
{
	return domain_submit(ctx, DJOB_THAW, name, NULL, 0, NULL, deadline_usec, done, userdata);
}

const struct host_domain_ops host_domain_libvirt_ops = {
	.name = "libvirt",
	.list = domain_list,
	.define = domain_define,
	.start = domain_start,
	.stop = domain_stop,
	.undefine = domain_undefine,
	.migrate = domain_migrate,
	.abort_job = domain_abort_job,
	.resume = domain_resume,
	.fs_freeze = domain_fs_freeze,
	.fs_thaw = domain_fs_thaw,
};
