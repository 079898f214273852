/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The VM service's planned-shutdown policy (issue 8): what kvmcd does with this node's guests
 * when it is stopped while the host shuts down. [vms] shutdown_policy (vms-options.h):
 *
 *   migrate (default)  the node asks the leader to drain it: records["drain/NAME"] =
 *                      {"drained": true, "requested_by": NAME, "shutdown": {"policy", "run", "at"}};
 *                      its guests leave by live migration (placement_drain, within the [vms]
 *                      limits); a guest owned here but not running is given up (placement: a
 *                      drained owner stops it, then it is placed elsewhere). kvmcd exits once no
 *                      record names this node the owner of a VM and nothing of the spec runs here.
 *                      What has not left by shutdown_drain (coord/timeouts.h 8.) is aborted and
 *                      shut down cleanly here, then released as for `stop`: a guest left running
 *                      when kvmcd exits dies with the host anyway, uncleanly.
 *   stop               the guests are shut down here (ACPI, then destroy after 60 s; a guest
 *                      without <acpi/> at once), then the drain is recorded the same way: the
 *                      leader gives the stopped VMs up and restarts them elsewhere (cold).
 *                      Stopping first means the leader never plans a live migration off it.
 *   freeze             the guests are shut down here and stay this node's: the record is
 *                      {"drained": false, ..., "shutdown": {"policy": "freeze", ...}}, so
 *                      placement keeps the VMs with their owner (an owner that left the view keeps
 *                      its VMs, placement.h's safety rule) and they start here again when the
 *                      node is back; `vm list` shows them "stopped", "frozen: NAME shut down".
 *                      If the node never comes back they wait for it: the HA issue's fencing
 *                      decides (a fenced frozen node's VMs must then be restarted elsewhere,
 *                      or kept, by that rules; nothing here moves them). An admin ends
 *                      the mark with `kvmcctl node undrain NAME`.
 *
 * WHEN: [vms] shutdown_policy_on = system-shutdown (default) applies the policy only when systemd
 * stops kvmcd because the host shuts down: its manager's SystemState is "stopping" (systemd
 * reports it as soon as shutdown.target is queued, so a queued poweroff / reboot job counts),
 * asked over the system bus, asynchronously, within BUS_TIMEOUT_USEC; no bus (no systemd) means
 * no host shutdown. any-stop applies it on every SIGTERM (admins who want it on restarts too; the
 * multi-node tests). Otherwise kvmcd stops at once, as before: its guests keep running and it
 * takes them back when it restarts.
 *
 * SAFETY: nothing here starts a domain; while the policy runs this node starts none (node_act
 * asks vms_shutdown_holds()). The leader, not this node, gives a VM another owner, and only once
 * this node reports it down (placement's rule); this node leaves the CPG only after, so the
 * leader never has to guess. If it cannot (inquorate, the leader does not record the drain
 * within request_timeout + a margin, the deadline passes), the guests are still shut down
 * cleanly here, why is logged, and the VMs stay owned by this node: they wait for it.
 * If this node is the leader it serves its own request and leads until it exits; the next
 * leader is elected when it leaves (after the lease).
 *
 * RETURN: the drain ends itself: a kvmcd run that finds records["drain/ME"] carrying another
 * run's "shutdown" mark asks the leader to undrain it (an admin's own drain, without the mark,
 * stays). A node drained by an admin when it shuts down stays drained.
 *
 * TIMING (one place, coord/timeouts.h 8.): all of it within [vms] shutdown_timeout of the
 * SIGTERM; the daemon holds its exit that long (service.h stop) and tells systemd
 * (EXTEND_TIMEOUT_USEC); the unit's TimeoutStopSec is above the default.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <time.h>

#include <systemd/sd-bus.h>

#include "macros.h"
#include "timing.h"
#include "vms-internal.h"

#define BUS_TIMEOUT_USEC (5 * USEC_PER_SEC)      /* systemd's answer about SystemState */
#define RECORD_MARGIN_USEC (5 * USEC_PER_SEC)   /* the drain record after request_timeout */
#define UNDRAIN_RETRY_USEC (10 * USEC_PER_SEC)  /* a returning node's undrain, asked again */

enum sd_phase {
	SD_IDLE,     /* running normally (a returning node may still ask for its undrain) */
	SD_DETECT,   /* SIGTERM: is the host shutting down? (the bus query) */
	SD_DRAIN,    /* migrate: the drain is recorded, the guests leave */
	SD_STOP,     /* the guests are shut down here */
	SD_RECORD,   /* stop / freeze: the drain record is asked for, after the guests are down */
	SD_RELEASE,  /* the leader gives the stopped VMs to other nodes */
	SD_DONE,     /* kvmcd may exit */
};

static const char *const phase_names[] = { "idle", "detect", "drain", "stop", "record", "release", "done" };
static const char *const policy_names[] = { "migrate", "stop", "freeze" };

struct vms_shutdown {
	struct vms *d;                /* borrowed back-pointer */
	enum sd_phase phase;
	int policy;                   /* enum vms_shutdown_policy: the one being applied */
	char *fallback;               /* owned: why migrate fell back to shutting down here */
	uint64_t started;             /* CLOCK_MONOTONIC: the SIGTERM */
	uint64_t drain_deadline;      /* migrate: what has not left then is shut down here */
	uint64_t deadline;            /* the whole policy */
	uint64_t record_deadline;     /* the leader records the drain by then, or we go on without */
	uint64_t unready_grace;       /* a view that cannot act this long (commit_max) will not drain us */
	uint64_t unready_since;       /* CLOCK_MONOTONIC: since when the view cannot act; 0: it can */
	bool requested;               /* the drain request is out (this run) */
	sd_bus *bus;                  /* owned, while the SystemState query runs */
	sd_bus_slot *slot;            /* owned: that query */
	uint64_t undrain_at;          /* a returning node: ask for the undrain (again) then; 0 = now */
	bool undrained;               /* ... it is done (no mark of another run left) */
};

static struct vms_shutdown *sh_get(struct vms *d)
{
	if (!d->shutdown && (d->shutdown = calloc(1, sizeof(*d->shutdown))))
		d->shutdown->d = d;
	return d->shutdown;
}

bool vms_shutdown_holds(struct vms *d)
{
	return d->shutdown && d->shutdown->phase > SD_DETECT;
}

json_t *vms_shutdown_status(struct vms *d)
{
	struct vms_shutdown *s = d->shutdown;

	if (!s || s->phase == SD_IDLE)
		return json_null();
	return json_pack("{s:s,s:s,s:s?}", "phase", phase_names[s->phase], "policy", policy_names[s->policy], "fallback",
			 s->fallback);
}

static void sh_log(struct vms_shutdown *s, int level, const char *fmt, ...) _printf_(3, 4);
static void sh_log(struct vms_shutdown *s, int level, const char *fmt, ...)
{
	_cleanup_free_ char *text = NULL;
	va_list ap;

	va_start(ap, fmt);
	if (vasprintf(&text, fmt, ap) < 0)
		text = NULL;
	va_end(ap);
	klog(service_log(s->d->ctx), level, "Shutdown policy %s: %s", policy_names[s->policy], text ? text : "?");
}

/* The spec's VMs whose domain runs (or is paused) here, as the last listing says. */
static size_t running_here(struct vms *d, const struct vm_spec *specs, size_t n)
{
	size_t c = 0;

	for (size_t i = 0; i < n; i++) {
		const char *st = json_string_value(json_object_get(json_object_get(d->libvirt, specs[i].name), "state"));
		c += st && (!strcmp(st, "running") || !strcmp(st, "paused"));
	}
	return c;
}

/* The VMs the records give this node (as owner, or as a migration's target). */
static size_t owned_here(struct vms *d, const struct vm_spec *specs, size_t n, char *names, size_t size)
{
	size_t c = 0;

	if (size)
		names[0] = 0;
	for (size_t i = 0; i < n; i++) {
		const json_t *rec = vms_vm_record(d, specs[i].name);
		if (strcmp(json_string_value(json_object_get(rec, "owner")) ?: "", vms_me(d)) &&
		    strcmp(json_string_value(json_object_get(rec, "migrating_to")) ?: "", vms_me(d)))
			continue;
		if (size && strlen(names) + strlen(specs[i].name) + 3 < size)
			snprintf(names + strlen(names), size - strlen(names), "%s%s", c ? ", " : "", specs[i].name);
		c++;
	}
	return c;
}

/* records["drain/ME"] is this run's shutdown drain, or an admin's drain (which stands). */
static bool recorded(struct vms *d)
{
	const json_t *rec = vms_node_record(d, vms_me(d)), *mark = json_object_get(rec, "shutdown");

	if (!mark)
		return json_is_true(json_object_get(rec, "drained"));
	return !strcmp(json_string_value(json_object_get(mark, "run")) ?: "", d->nonce);
}

static void request_drain(struct vms_shutdown *s)
{
	struct vms *d = s->d;
	const struct kvmcd_config *cfg = service_config(d->ctx);
	uint64_t wait = (uint64_t)cfg->request_timeout_ms * USEC_PER_MSEC + RECORD_MARGIN_USEC;
	char at[32];
	time_t t = time(NULL);
	struct tm tm;
	int r;

	if (s->requested || recorded(d))
		return;
	if (!gmtime_r(&t, &tm) || !strftime(at, sizeof(at), "%Y-%m-%dT%H:%M:%SZ", &tm))
		snprintf(at, sizeof(at), "?");
	r = vms_request_internal(d, json_pack("{s:s,s:s,s:{s:s,s:s,s:s}}", "op", "drain", "node", vms_me(d), "shutdown",
					      "policy", policy_names[s->policy], "run", d->nonce, "at", at),
				 wait);
	if (r < 0) {
		sh_log(s, LOG_WARNING, "cannot ask the leader for the drain: %s", strerror(-r));
		return;
	}
	s->requested = true;
	s->record_deadline = vms_now(d) + wait;
}

static void finish(struct vms_shutdown *s, int level, const char *why)
{
	s->phase = SD_DONE;
	sh_log(s, level, "%s (%.1f s after the stop signal); kvmcd stops", why,
	       (double)(vms_now(s->d) - s->started) / USEC_PER_SEC);
	service_stop_done(s->d->ctx);
}

/* migrate cannot go on: the guests are shut down here instead, and why is logged. */
static void fall_back(struct vms_shutdown *s, const char *why)
{
	free(s->fallback);
	s->fallback = strdup(why);
	sh_log(s, LOG_WARNING, "%s: shutting this node's guests down here instead", why);
	s->phase = SD_STOP;
}

static void on_abort(void *userdata, int r, const char *detail)
{
	struct vm_local *l = userdata;

	klog(service_log(l->d->ctx), r < 0 ? LOG_WARNING : LOG_NOTICE, "VM '%s': abort of migration %s for the host's shutdown: %s",
	     l->name, l->abort_id ? l->abort_id : "?", detail && *detail ? detail : r < 0 ? strerror(-r) : "done");
	if (r < 0) { /* tried again at the next step */
		free(l->abort_id);
		l->abort_id = NULL;
	}
}

static void on_stopped(void *userdata, int r, const char *detail)
{
	struct vm_local *l = userdata;
	struct vms *d = l->d;

	l->busy = false;
	if (r < 0)
		klogf(service_log(d->ctx), LOG_WARNING, KLOG_VM(l->name), "VM '%s': cannot shut it down for the host's shutdown: %s", l->name,
		     detail && *detail ? detail : strerror(-r));
	else
		klogf(service_log(d->ctx), LOG_NOTICE, KLOG_VM(l->name), "VM '%s': %s on this node (shutdown policy)", l->name, detail ? detail : "");
	d->list_again = true;
	vms_kick(d);
}

/* SD_STOP: every guest of the spec running here is shut down (a migration of it from here is
 * aborted first: libvirt then resumes it here, and it is shut down at the next step). Returns
 * how many still run. */
static size_t stop_guests(struct vms_shutdown *s, const struct vm_spec *specs, size_t n)
{
	struct vms *d = s->d;
	size_t left = 0;

	for (size_t i = 0; i < n; i++) {
		const char *st = json_string_value(json_object_get(json_object_get(d->libvirt, specs[i].name), "state"));
		struct vm_local *l;
		int r;

		if (!st || (strcmp(st, "running") && strcmp(st, "paused")))
			continue;
		left++;
		if (!(l = vms_local(d, specs[i].name, true)) || l->busy)
			continue;
		if (l->mig_id && l->mig_state == MIG_RUNNING) {
			if (!l->abort_id && (l->abort_id = strdup(l->mig_id)) &&
			    d->dom->abort_job(&d->host, specs[i].name, on_abort, l) < 0) {
				free(l->abort_id);
				l->abort_id = NULL;
			}
			continue;
		}
		l->busy = true;
		r = d->dom->stop(&d->host, specs[i].name, vms_has_acpi(specs[i].domain_xml) ? VMS_STOP_GRACE_SEC : 0,
				 on_stopped, l);
		if (r < 0)
			on_stopped(l, r, NULL);
	}
	return left;
}

/* A returning node: a drain another run of this node recorded for its shutdown ends now. */
static void undrain_returned(struct vms_shutdown *s)
{
	struct vms *d = s->d;
	const json_t *mark = json_object_get(vms_node_record(d, vms_me(d)), "shutdown");
	const char *run = json_string_value(json_object_get(mark, "run"));

	if (s->undrained || !service_may_act(d->ctx) || vms_now(d) < s->undrain_at)
		return;
	if (!mark || (run && !strcmp(run, d->nonce))) {
		s->undrained = !mark;
		return;
	}
	for (struct vm_request *q = d->requests; q; q = q->next)
		if (!strcmp(json_string_value(json_object_get(q->body, "op")) ?: "", "undrain"))
			return; /* asked already; answered or timed out by vms_requests_check() */
	klog(service_log(d->ctx), LOG_NOTICE, "This node is back from a planned shutdown (policy %s at %s): ending its drain",
	     json_string_value(json_object_get(mark, "policy")) ?: "?", json_string_value(json_object_get(mark, "at")) ?: "?");
	if (vms_request_internal(d, json_pack("{s:s,s:s}", "op", "undrain", "node", vms_me(d)),
				 (uint64_t)service_config(d->ctx)->request_timeout_ms * USEC_PER_MSEC + RECORD_MARGIN_USEC) < 0)
		klog(service_log(d->ctx), LOG_WARNING, "Cannot ask the leader to end this node's shutdown drain; trying again");
	s->undrain_at = vms_now(d) + UNDRAIN_RETRY_USEC;
}

void vms_shutdown_step(struct vms *d)
{
	struct vms_shutdown *s = sh_get(d);
	const struct vm_spec *specs = NULL;
	char names[512];
	size_t n = 0, owned, running;
	uint64_t now = vms_now(d);
	bool unready;

	if (!s)
		return;
	if (s->phase == SD_IDLE) {
		undrain_returned(s);
		return;
	}
	if (s->phase == SD_DETECT || s->phase == SD_DONE || !d->libvirt)
		return;
	if (service_vm_specs(d->ctx, &specs, &n) < 0)
		n = 0;
	owned = owned_here(d, specs, n, names, sizeof(names));
	running = running_here(d, specs, n);
	/* a sync round (another node left, a leader change) stops acting for a moment: only a view
	 * that cannot act for unready_grace counts as inquorate / leaderless */
	if (service_may_act(d->ctx))
		s->unready_since = 0;
	else if (!s->unready_since)
		s->unready_since = now;
	unready = s->unready_since && now >= s->unready_since + s->unready_grace;

	if (now >= s->deadline) {
		char why[640];
		if (running)
			snprintf(why, sizeof(why), "the deadline ([vms] shutdown_timeout) passed with %zu guest%s still running here",
				 running, running == 1 ? "" : "s");
		else if (owned)
			snprintf(why, sizeof(why), "the deadline ([vms] shutdown_timeout) passed: %s stay%s owned by this node and "
				 "wait for it", names, owned == 1 ? "s" : "");
		else
			snprintf(why, sizeof(why), "the deadline ([vms] shutdown_timeout) passed");
		finish(s, LOG_WARNING, why);
		return;
	}
	switch (s->phase) {
	case SD_DRAIN:
		if (!owned && !running) {
			finish(s, LOG_NOTICE, "every guest has left this node");
			return;
		}
		if (unready)
			fall_back(s, "this node has not been in a synced quorate view for commit_max (no leader can drain it)");
		else if (now >= s->drain_deadline)
			fall_back(s, "the drain's deadline (shutdown_drain, kvmcd --print-timeouts) passed");
		else if (!recorded(d) && s->requested && now >= s->record_deadline)
			fall_back(s, "the leader did not record the drain in time");
		else
			request_drain(s); /* a request lost with a leader change is asked again */
		if (s->phase != SD_STOP)
			return;
		_fallthrough_;
	case SD_STOP:
		if (stop_guests(s, specs, n))
			return;
		sh_log(s, LOG_NOTICE, "no guest of the spec runs here any more");
		if (unready) {
			finish(s, LOG_WARNING, owned ? "not in a synced quorate view: its VMs stay owned by this node and wait "
						       "for it (placement never gives them away while it may run them)"
						     : "not in a synced quorate view");
			return;
		}
		if (!service_may_act(d->ctx))
			return; /* a sync round: the drain is asked for once it is over */
		s->phase = s->policy == VMS_SHUTDOWN_MIGRATE && recorded(d) ? SD_RELEASE : SD_RECORD;
		s->requested = false;
		_fallthrough_;
	case SD_RECORD:
		if (!recorded(d)) {
			if (s->requested && now >= s->record_deadline) {
				finish(s, LOG_WARNING, "the leader did not record the drain in time: this node's VMs stay owned "
						       "by it and wait for it");
				return;
			}
			request_drain(s);
			return;
		}
		if (s->policy == VMS_SHUTDOWN_FREEZE) {
			finish(s, LOG_NOTICE, owned ? "its guests are down and frozen: they start here again when this node is back"
						    : "nothing was running here");
			return;
		}
		s->phase = SD_RELEASE;
		_fallthrough_;
	case SD_RELEASE:
		if (!owned) {
			finish(s, LOG_NOTICE, "its guests are down here and the leader has given them to other nodes");
			return;
		}
		if (running)
			s->phase = SD_STOP; /* something started meanwhile (a migration's hand-over) */
		return;
	default:
		return;
	}
}

/* The policy starts: the bus said the host shuts down, or it applies on any stop. */
static void begin(struct vms_shutdown *s)
{
	struct vms *d = s->d;

	s->policy = service_config(d->ctx)->vms.shutdown_policy;
	sh_log(s, LOG_NOTICE, "kvmcd stops%s: applying it (within %.0f s)",
	       service_config(d->ctx)->vms.shutdown_policy_on == VMS_SHUTDOWN_ON_ANY ? " ([vms] shutdown_policy_on = any-stop)"
										    : " while the host shuts down",
	       (double)(s->deadline - vms_now(d)) / USEC_PER_SEC);
	s->phase = s->policy == VMS_SHUTDOWN_MIGRATE ? SD_DRAIN : SD_STOP;
	vms_kick(d);
}

static void bus_close(struct vms_shutdown *s)
{
	s->slot = sd_bus_slot_unref(s->slot);
	s->bus = sd_bus_flush_close_unref(s->bus);
}

static int on_system_state(sd_bus_message *m, void *userdata, sd_bus_error *ret_error)
{
	struct vms_shutdown *s = userdata;
	const sd_bus_error *e = sd_bus_message_get_error(m);
	const char *state = NULL;
	int r = 0;

	if (!e)
		r = sd_bus_message_read(m, "v", "s", &state);
	if (e || r < 0 || !state) {
		klog(service_log(s->d->ctx), LOG_NOTICE,
		     "Cannot ask systemd whether the host shuts down (%s): taking this stop for a plain one; the guests keep running",
		     e ? e->message : strerror(r < 0 ? -r : EINVAL));
		state = "unknown";
	} else {
		klog(service_log(s->d->ctx), LOG_INFO, "systemd's SystemState: %s", state);
	}
	if (!strcmp(state, "stopping")) {
		begin(s);
	} else {
		s->phase = SD_IDLE;
		if (!e && r >= 0)
			klog(service_log(s->d->ctx), LOG_NOTICE,
			     "kvmcd stops but the host does not shut down (systemd's SystemState %s): its guests keep running; "
			     "[vms] shutdown_policy_on = any-stop applies the shutdown policy here too", state);
		service_stop_done(s->d->ctx);
	}
	bus_close(s);
	return 0;
}

/* Asks systemd's manager for its SystemState without blocking the loop. 0: the answer comes
 * to on_system_state; < 0: no system bus (no systemd: no host shutdown either). */
static int ask_systemd(struct vms_shutdown *s)
{
	int r = sd_bus_open_system(&s->bus);

	if (r >= 0)
		r = sd_bus_attach_event(s->bus, service_event(s->d->ctx), SD_EVENT_PRIORITY_NORMAL);
	if (r >= 0)
		r = sd_bus_set_method_call_timeout(s->bus, BUS_TIMEOUT_USEC);
	if (r >= 0)
		r = sd_bus_call_method_async(s->bus, &s->slot, "org.freedesktop.systemd1", "/org/freedesktop/systemd1",
					     "org.freedesktop.DBus.Properties", "Get", on_system_state, s, "ss",
					     "org.freedesktop.systemd1.Manager", "SystemState");
	if (r < 0)
		bus_close(s);
	return r;
}

int vms_shutdown_stop(void *state, uint64_t *deadline)
{
	struct vms *d = state;
	struct vms_shutdown *s = sh_get(d);
	const struct kvmcd_config *cfg = service_config(d->ctx);
	_cleanup_free_ char *error = NULL;
	struct timeouts t;
	uint64_t now = vms_now(d);
	int r;

	if (!s)
		return 0;
	/* the deadlines from the one place safety timing lives (coord/timeouts.h 8.) */
	r = timing_derive(cfg, &t, NULL, &error);
	if (r < 0) {
		klog(service_log(d->ctx), LOG_WARNING, "The shutdown policy's timing does not fit: %s; draining for half of "
		     "[vms] shutdown_timeout", error ? error : strerror(-r));
		t.shutdown_drain_usec = (uint64_t)cfg->vms.shutdown_timeout_ms * USEC_PER_MSEC / 2;
	}
	s->started = now;
	s->deadline = now + (uint64_t)cfg->vms.shutdown_timeout_ms * USEC_PER_MSEC;
	s->drain_deadline = now + t.shutdown_drain_usec;
	s->policy = cfg->vms.shutdown_policy;
	s->unready_grace = r < 0 ? (uint64_t)cfg->request_timeout_ms * USEC_PER_MSEC : t.commit_max_usec;
	if (cfg->vms.shutdown_policy_on == VMS_SHUTDOWN_ON_ANY) {
		begin(s);
	} else {
		r = ask_systemd(s);
		if (r < 0) {
			klog(service_log(d->ctx), LOG_INFO, "No systemd on the system bus (%s): not a host shutdown; the guests "
			     "keep running", strerror(-r));
			return 0;
		}
		s->phase = SD_DETECT;
	}
	*deadline = s->deadline;
	return 1;
}

void vms_shutdown_free(struct vms *d)
{
	if (!d->shutdown)
		return;
	bus_close(d->shutdown);
	free(d->shutdown->fallback);
	free(d->shutdown);
	d->shutdown = NULL;
}

/* ---- the leader's side -------------------------------------------------------------------------- */

json_t *vms_shutdown_serve(struct vms *d, const char *node, const char *requester, const json_t *body, json_t **rec)
{
	const json_t *mark = json_object_get(body, "shutdown"), *cur = vms_node_record(d, node);
	const char *policy = json_string_value(json_object_get(mark, "policy"));
	const char *run = json_string_value(json_object_get(mark, "run"));

	*rec = NULL;
	if (!json_is_object(mark) || !policy || !run ||
	    (strcmp(policy, "migrate") && strcmp(policy, "stop") && strcmp(policy, "freeze")))
		return json_pack("{s:b,s:s,s:i,s:s}", "ok", 0, "outcome", "refused", "errno", EINVAL, "error",
				 "a shutdown drain needs \"shutdown\": {\"policy\": migrate|stop|freeze, \"run\"}");
	if (!strcmp(json_string_value(json_object_get(json_object_get(cur, "shutdown"), "run")) ?: "", run))
		return json_pack("{s:b,s:s}", "ok", 1, "message", "recorded");
	if (json_is_true(json_object_get(cur, "drained")) && !json_object_get(cur, "shutdown"))
		return json_pack("{s:b,s:s}", "ok", 1, "message", "drained already by an admin: it stays drained");
	/* freeze keeps the VMs with their owner: not drained (a drained owner would give them up) */
	*rec = json_pack("{s:b,s:s,s:O}", "drained", strcmp(policy, "freeze") != 0, "requested_by", requester, "shutdown", mark);
	return NULL; /* answered once the record is in place */
}

bool vms_shutdown_frozen(struct vms *d, const char *owner, char *buf, size_t size)
{
	const json_t *mark = owner ? json_object_get(vms_node_record(d, owner), "shutdown") : NULL;

	if (strcmp(json_string_value(json_object_get(mark, "policy")) ?: "", "freeze"))
		return false;
	snprintf(buf, size, "frozen: %s shut down", owner);
	return true;
}
