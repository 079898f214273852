/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <dlfcn.h>
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "build-config.h"
#include "datastore-plan.h"
#include "leader-datastores.h"
#include "leader-ontap.h"
#include "timing.h"
#include "macros.h"
#include "ontap-module.h"
#include "resources/ontap/ontap-client.h"
#include "resources/ontap/ontap.h"
#include "resources/ontap/ontap-fence.h"

/*
 * The ONTAP client lives in a module, kvmcd-ontap.so, dlopen()ed the first time this node becomes
 * leader with [ontap] configured (systemd's pattern for optional dependencies): kvmcd itself does
 * not link libcurl and its ~40 libraries (TLS, LDAP, Kerberos, SSH, ... about 10 MB of RSS), so
 * a follower, which never talks to ONTAP, never maps them. The [ontap] section is still checked
 * whole at start-up on every node (ontap_options_check(), built into kvmcd: no libcurl), and the
 * module must be there, so a node refuses to start on a problem it would only hit as leader. Every client function this
 * file calls goes through the table below; kvmcd does not link the client, so a direct call
 * would fail to link. Each pointer has the type of the header's declaration (typeof), so a
 * changed signature fails to compile here. The module's version script
 * (resources/ontap/kvmcd-ontap.sym) exports exactly these names. The module is never unloaded
 * (libcurl and its TLS library do not support being unloaded; there is nothing to gain).
 */
#define ONTAP_MODULE_SYMBOLS(X)                                                                    \
	X(ontap_client_new)                                                                        \
	X(ontap_client_free)                                                                       \
	X(ontap_client_set_log)                                                                    \
	X(ontap_client_set_observer)                                                               \
	X(ontap_client_set_epoch)                                                                  \
	X(ontap_client_cancelled_sent_usec)                                                        \
	X(ontap_client_version)                                                                    \
	X(ontap_cluster_discover)                                                                   \
	X(ontap_ds_observe)                                                                        \
	X(ontap_ds_execute)                                                                        \
	X(ontap_fence_node)                                                                        \
	X(ontap_fence_readback)                                                                    \
	X(ontap_claim_epoch)                                                                       \
	X(ontap_claim_cleanup)                                                                     \
	X(ontap_snapshot_ensure)                                                                   \
	X(ontap_snapshot_list)                                                                     \
	X(ontap_snapshot_delete)                                                                   \
	X(ontap_volume_restore)                                                                    \
	X(ontap_cg_ensure)                                                                         \
	X(ontap_cg_snapshot_ensure)                                                                \
	X(ontap_volume_get)                                                                        \
	X(ontap_dp_volume_ensure)                                                                  \
	X(ontap_snapmirror_ensure)                                                                 \
	X(ontap_snapmirror_get)                                                                    \
	X(ontap_snapmirror_initialize)                                                             \
	X(ontap_snapmirror_update)                                                                 \
	X(ontap_snapmirror_quiesce)                                                                \
	X(ontap_snapmirror_break)                                                                  \
	X(ontap_snapmirror_resync)                                                                 \
	X(ontap_svm_peer_list)

static struct {
	void *handle;
#define ONTAP_FN_FIELD(name) typeof(name) *name;
	ONTAP_MODULE_SYMBOLS(ONTAP_FN_FIELD)
#undef ONTAP_FN_FIELD
} ontap_dl;

/* 0, or -errno with *error (owned) naming the file and dlerror()'s reason. */
static int ontap_module_load(char **error)
{
	char path[PATH_MAX];
	const char *why;
	void *h;
	int r;

	if (ontap_dl.handle)
		return 0;
	r = ontap_module_open(&h, path, error);
	if (r < 0)
		return r;
#define ONTAP_FN_RESOLVE(name)                                                                     \
	*(void **)&ontap_dl.name = dlsym(h, #name);                                                \
	if (!ontap_dl.name) {                                                                      \
		why = dlerror();                                                                   \
		if (asprintf(error, "the ONTAP client module %s lacks %s: %s", path, #name,        \
			     why ? why : "unknown error") < 0)                                       \
			*error = NULL;                                                             \
		memset(&ontap_dl, 0, sizeof(ontap_dl));                                            \
		dlclose(h);                                                                        \
		return -ELIBBAD;                                                                   \
	}
	ONTAP_MODULE_SYMBOLS(ONTAP_FN_RESOLVE)
#undef ONTAP_FN_RESOLVE
	ontap_dl.handle = h;
	return 0;
}

/* A leader that could not build the client (module unloadable, credentials file changed since
 * start-up) tries again this often while it leads. */
#define CLIENT_RETRY_USEC (5 * USEC_PER_SEC)

struct leader_ontap {
	struct ontap_client *client; /* owned; NULL until this node first leads */
	sd_event_source *retry;      /* owned; armed while a leader has no client */
	struct klog *log;            /* borrowed */
	sd_event *event;             /* reference */
	struct ontap_options opts;   /* owned deep copy: the daemon's config is replaced on reload */
	char *node_name;             /* owned */
	uint64_t epoch;              /* leadership the client acts under; 0 = none */
	bool acting;                 /* LEADING with the client: the datastore loop and the
				      * protection service may use it (leader_ontap_snapshot) */
	char version[128];           /* "" until discovered under some leadership */
	struct leader_ds *ds;        /* owned: the datastore loop, fed the client while acting */
	char cluster_id[40];         /* the cluster's identity when this node last began acting */
	struct service_ctx *ctx;     /* borrowed */
	char last_error[512];
	/* The grants record (leader-ontap.h) for grants_epoch, the leadership this node records in:
	 * older leaderships' grants have all landed from grants_older on; grants_outstanding plan
	 * executions that may grant are running; the last one ended (answered, or given up on)
	 * so that nothing it sent lands after grants_answered. */
	struct timeouts t;
	uint64_t grants_epoch, grants_older, grants_answered, grants_patch;
	/* when the quiet point applies (an older grant may be in flight): until when an older
	 * leader's ONTAP job may still be running, so fence read-backs settle the SVM's jobs first
	 * (ontap-fence.h settle_jobs; coord/timeouts.h 6.: T_L + ontap_jobs_settled); 0 = never */
	uint64_t grants_jobs_until;
	unsigned grants_outstanding;
	bool grants_wanted;            /* a plan waits for {epoch, in_flight: true} to commit */
	sd_event_source *grants_timer; /* owned: writes {epoch, in_flight: false} when it is true */
	/* [ontap_peer] (ontap-options.h): the SnapMirror destination cluster. Its client is built
	 * with the main one (and again at the next mirror call after a failure), gets the same
	 * epoch, and is cancelled with it; peer_opts.cluster NULL: none configured. */
	struct ontap_peer_options peer_opts; /* owned deep copy */
	struct ontap_client *peer;           /* owned; NULL until this node first leads */
	char peer_version[128];              /* "" until discovered under some leadership */
	char peer_error[512];                /* why the peer client is missing or unreachable, "" */
};

/* ---- what the clients this node ran did, for metrics (leader_ontap_metrics) ------------------ */

static const double ontap_le[] = { 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30 };
static const char *const ontap_methods[] = { "GET", "POST", "PATCH", "DELETE", "other" };
static struct {
	json_t *requests;  /* owned: {"METHOD status": count} */
	json_t *errors;    /* owned: {"ontap code": count} */
	uint64_t counts[ARRAY_SIZE(ontap_methods)][ARRAY_SIZE(ontap_le) + 1];
	double sum[ARRAY_SIZE(ontap_methods)];
} ontap_stats;

static void count_in(json_t **obj, const char *key)
{
	json_t *v;

	if (!*obj && !(*obj = json_object()))
		return;
	v = json_object_get(*obj, key);
	json_object_set_new(*obj, key, json_integer((v ? json_integer_value(v) : 0) + 1));
}

static void on_client_observe(void *userdata, const char *method, long http_status, const char *ontap_code, uint64_t usec)
{
	size_t m = 0, b = 0;
	char key[48];
	double s = (double)usec / USEC_PER_SEC;

	while (m < ARRAY_SIZE(ontap_methods) - 1 && strcmp(ontap_methods[m], method) != 0)
		m++;
	snprintf(key, sizeof(key), "%s %ld", ontap_methods[m], http_status);
	count_in(&ontap_stats.requests, key);
	if (ontap_code && *ontap_code)
		count_in(&ontap_stats.errors, ontap_code);
	while (b < ARRAY_SIZE(ontap_le) && s > ontap_le[b])
		b++;
	ontap_stats.counts[m][b]++;
	ontap_stats.sum[m] += s;
}

json_t *leader_ontap_metrics(void)
{
	json_t *le = json_array(), *dur = json_object(), *out;

	for (size_t b = 0; b < ARRAY_SIZE(ontap_le); b++)
		json_array_append_new(le, json_real(ontap_le[b]));
	for (size_t m = 0; m < ARRAY_SIZE(ontap_methods); m++) {
		json_t *counts = json_array();
		uint64_t total = 0;
		for (size_t b = 0; b <= ARRAY_SIZE(ontap_le); b++) {
			json_array_append_new(counts, json_integer((json_int_t)ontap_stats.counts[m][b]));
			total += ontap_stats.counts[m][b];
		}
		if (total)
			json_object_set_new(dur, ontap_methods[m], json_pack("{sOsosf}", "le", le, "counts", counts, "sum", ontap_stats.sum[m]));
		else
			json_decref(counts);
	}
	out = json_pack("{sososo}", "requests", ontap_stats.requests ? json_deep_copy(ontap_stats.requests) : json_object(),
			"errors", ontap_stats.errors ? json_deep_copy(ontap_stats.errors) : json_object(), "duration", dur);
	json_decref(le);
	return out;
}

static void on_client_log(void *userdata, int level, const char *text)
{
	struct leader_ontap *l = userdata;
	klog(l->log, level, "ONTAP: %s", text);
}

static void on_discovered(void *userdata, int r, const struct ontap_object *obj, const struct ontap_error *err)
{
	struct leader_ontap *l = userdata;
	const struct ontap_version *v = ontap_dl.ontap_client_version(l->client);
	char buf[512];

	if (r == -ECANCELED)
		return;
	if (r < 0) {
		snprintf(l->last_error, sizeof(l->last_error), "%s", ontap_error_format(err, buf, sizeof(buf)));
		klog(l->log, LOG_ERR, "Leader cannot reach ONTAP at %s: %s", l->opts.address, l->last_error);
		return;
	}
	l->last_error[0] = 0;
	snprintf(l->version, sizeof(l->version), "%d.%d.%d", v->generation, v->major, v->minor);
	klog(l->log, LOG_NOTICE, "Leader (epoch %" PRIu64 ") reached ONTAP at %s: %s, SVM %s", l->epoch, l->opts.address,
	     v->full, l->opts.svm ? l->opts.svm : "");
}

static int strdup_opt(char **dst, const char *src)
{
	*dst = NULL;
	return src && !(*dst = strdup(src)) ? -ENOMEM : 0;
}

static int options_copy(struct ontap_options *dst, const struct ontap_options *src)
{
	*dst = *src;
	dst->address = dst->svm = dst->credentials_file = dst->ca_file = dst->client_cert = dst->client_key = NULL;
	if (strdup_opt(&dst->address, src->address) < 0 || strdup_opt(&dst->svm, src->svm) < 0 ||
	    strdup_opt(&dst->credentials_file, src->credentials_file) < 0 ||
	    strdup_opt(&dst->ca_file, src->ca_file) < 0 || strdup_opt(&dst->client_cert, src->client_cert) < 0 ||
	    strdup_opt(&dst->client_key, src->client_key) < 0)
		return -ENOMEM;
	return 0;
}

static void leader_ontap_free(struct leader_ontap *l);
static void leader_ontap_role(struct leader_ontap *l, bool is_leader, uint64_t epoch);

static int peer_options_copy(struct ontap_peer_options *dst, const struct ontap_peer_options *src)
{
	if (strdup_opt(&dst->cluster, src->cluster) < 0)
		return -ENOMEM;
	return options_copy(&dst->ontap, &src->ontap);
}

/* Returns 0 with *out NULL when [ontap] has no address (not configured). On error *error
 * (owned) says what is wrong for the admin. */
static int leader_ontap_new(struct leader_ontap **out, sd_event *event, const struct ontap_options *opts,
			    const struct ontap_peer_options *peer, const char *node_name, struct klog *log, char **error)
{
	struct leader_ontap *l;
	struct ontap_error err = { 0 };
	char buf[PATH_MAX + 64];
	const char *module;
	int r;

	*out = NULL;
	if (!opts->address || !*opts->address)
		return 0;
	r = ontap_options_check(opts, &err);
	if (r < 0) {
		if (asprintf(error, "%s", ontap_error_format(&err, buf, sizeof(buf))) < 0)
			*error = NULL;
		ontap_error_clear(&err);
		return r;
	}
	module = ontap_module_path(buf, sizeof(buf));
	if (access(module, R_OK) < 0) {
		r = -errno;
		if (asprintf(error, "the ONTAP client module %s: %s (it is loaded when this node becomes leader)",
			     module, strerror(-r)) < 0)
			*error = NULL;
		return -ELIBACC;
	}
	l = calloc(1, sizeof(*l));
	if (!l)
		return -ENOMEM;
	l->log = log;
	l->event = sd_event_ref(event);
	l->peer_opts = (struct ontap_peer_options)ONTAP_PEER_OPTIONS_DEFAULTS;
	if (options_copy(&l->opts, opts) < 0 || strdup_opt(&l->node_name, node_name) < 0 ||
	    (peer->cluster && peer_options_copy(&l->peer_opts, peer) < 0)) {
		leader_ontap_free(l);
		return -ENOMEM;
	}
	if (!opts->tls_verify)
		klog(log, LOG_WARNING, "[ontap] tls_verify=false: TLS verification of %s is DISABLED", opts->address);
	if (peer->cluster && !peer->ontap.tls_verify)
		klog(log, LOG_WARNING, "[ontap_peer] tls_verify=false: TLS verification of %s (cluster %s) is DISABLED",
		     peer->ontap.address, peer->cluster);
	*out = l;
	return 0;
}

static void leader_ontap_free(struct leader_ontap *l)
{
	if (!l)
		return;
	/* The client first: freeing it cancels what is in flight, and those callbacks
	 * (-ECANCELED) land in the datastore loop, which must still exist to take them. */
	leader_ds_set_client(l->ds, NULL, NULL);
	if (l->peer)
		ontap_dl.ontap_client_free(l->peer);
	if (l->client)
		ontap_dl.ontap_client_free(l->client);
	leader_ds_free(l->ds);
	sd_event_source_disable_unref(l->retry);
	sd_event_source_disable_unref(l->grants_timer);
	ontap_options_clear(&l->opts);
	free(l->peer_opts.cluster);
	ontap_options_clear(&l->peer_opts.ontap);
	free(l->node_name);
	sd_event_unref(l->event);
	free(l);
}

/* Loads the module and builds the client, once. A failure is logged and shown in status; this
 * node goes on leading without ONTAP and tries again every CLIENT_RETRY_USEC while it leads. */
static int client_create(struct leader_ontap *l)
{
	_cleanup_free_ char *error = NULL;
	struct ontap_error err = { 0 };
	char buf[512];
	int r;

	if (l->client)
		return 0;
	r = ontap_module_load(&error);
	if (r >= 0) {
		r = ontap_dl.ontap_client_new(&l->client, l->event, &l->opts, l->node_name, &err);
		if (r < 0 && asprintf(&error, "%s", ontap_error_format(&err, buf, sizeof(buf))) < 0)
			error = NULL;
		ontap_error_clear(&err);
	}
	if (r < 0) {
		const char *why = error ? error : strerror(-r);

		/* Said once per distinct problem, not at every retry. */
		if (strncmp(l->last_error, why, sizeof(l->last_error) - 1) != 0)
			klog(l->log, LOG_ERR, "Leader cannot set up the ONTAP client for %s: %s (trying again every %us)",
			     l->opts.address, why, (unsigned)(CLIENT_RETRY_USEC / USEC_PER_SEC));
		snprintf(l->last_error, sizeof(l->last_error), "%s", why);
		return r;
	}
	ontap_dl.ontap_client_set_log(l->client, on_client_log, l);
	ontap_dl.ontap_client_set_observer(l->client, on_client_observe, l);
	return 0;
}

static void on_peer_discovered(void *userdata, int r, const struct ontap_object *obj, const struct ontap_error *err)
{
	struct leader_ontap *l = userdata;
	const struct ontap_version *v;
	char buf[512];

	if (r == -ECANCELED || !l->peer)
		return;
	if (r < 0) {
		snprintf(l->peer_error, sizeof(l->peer_error), "%s", ontap_error_format(err, buf, sizeof(buf)));
		klog(l->log, LOG_ERR, "Leader cannot reach the peer ONTAP cluster %s at %s: %s", l->peer_opts.cluster,
		     l->peer_opts.ontap.address, l->peer_error);
		return;
	}
	v = ontap_dl.ontap_client_version(l->peer);
	l->peer_error[0] = 0;
	snprintf(l->peer_version, sizeof(l->peer_version), "%d.%d.%d", v->generation, v->major, v->minor);
	klog(l->log, LOG_NOTICE, "Leader (epoch %" PRIu64 ") reached the peer ONTAP cluster %s at %s: %s", l->epoch,
	     l->peer_opts.cluster, l->peer_opts.ontap.address, v->full);
}

/* Reads the peer cluster's version (on_peer_discovered), under this leadership. */
static void peer_discover(struct leader_ontap *l)
{
	int r;

	l->peer_version[0] = l->peer_error[0] = 0;
	r = ontap_dl.ontap_cluster_discover(l->peer, on_peer_discovered, l);
	if (r < 0)
		snprintf(l->peer_error, sizeof(l->peer_error), "cannot start talking to it: %s", strerror(-r));
}

/*
 * The [ontap_peer] client under the main client's epoch (built first if need be, then
 * discovered): 0, -ENOENT when none is configured, or the failure (logged once per distinct
 * problem, in peer_error; tried again at the next call). Needs the module, so the main client.
 */
static int peer_ensure(struct leader_ontap *l)
{
	struct ontap_error err = { 0 };
	char buf[512];
	int r;

	if (!l->peer_opts.cluster)
		return -ENOENT;
	if (!l->client || !l->epoch)
		return -ENOTCONN;
	if (l->peer)
		return 0;
	r = ontap_dl.ontap_client_new(&l->peer, l->event, &l->peer_opts.ontap, l->node_name, &err);
	if (r < 0) {
		if (strncmp(l->peer_error, ontap_error_format(&err, buf, sizeof(buf)), sizeof(l->peer_error) - 1) != 0)
			klog(l->log, LOG_ERR, "Leader cannot set up the client of the peer ONTAP cluster %s (%s): %s",
			     l->peer_opts.cluster, l->peer_opts.ontap.address, buf);
		snprintf(l->peer_error, sizeof(l->peer_error), "%s", buf);
		ontap_error_clear(&err);
		l->peer = NULL;
		return r;
	}
	ontap_dl.ontap_client_set_log(l->peer, on_client_log, l);
	ontap_dl.ontap_client_set_observer(l->peer, on_client_observe, l);
	ontap_dl.ontap_client_set_epoch(l->peer, l->epoch, true);
	peer_discover(l);
	return 0;
}

static int on_retry(sd_event_source *s, uint64_t usec, void *userdata)
{
	struct leader_ontap *l = userdata;

	if (l->epoch && !l->client)
		leader_ontap_role(l, true, l->epoch);
	return 0;
}

static void retry_arm(struct leader_ontap *l)
{
	int r;

	if (l->retry) {
		r = sd_event_source_set_time_relative(l->retry, CLIENT_RETRY_USEC);
		if (r >= 0)
			r = sd_event_source_set_enabled(l->retry, SD_EVENT_ONESHOT);
	} else
		r = sd_event_add_time_relative(l->event, &l->retry, CLOCK_MONOTONIC, CLIENT_RETRY_USEC,
					       USEC_PER_SEC / 10, on_retry, l);
	if (r < 0)
		klog(l->log, LOG_ERR, "Cannot schedule another try at the ONTAP client: %s", strerror(-r));
}

/* This node gained (is_leader, epoch) or lost the leadership. */
static void leader_ontap_role(struct leader_ontap *l, bool is_leader, uint64_t epoch)
{
	int r;

	if (!l)
		return;
	l->epoch = is_leader ? epoch : 0;
	if (l->retry)
		(void)sd_event_source_set_enabled(l->retry, SD_EVENT_OFF);
	if (!l->client) {
		if (!is_leader)
			return;
		l->version[0] = 0;
		if (client_create(l) < 0) {
			retry_arm(l);
			return;
		}
	}
	if (is_leader) /* what status shows is about this leadership's link */
		l->version[0] = l->last_error[0] = 0;
	/* Cancels queued and in-flight mutations of an older leadership before anything new goes. */
	ontap_dl.ontap_client_set_epoch(l->client, epoch, is_leader);
	if (l->peer)
		ontap_dl.ontap_client_set_epoch(l->peer, epoch, is_leader);
	if (!is_leader)
		return;
	r = ontap_dl.ontap_cluster_discover(l->client, on_discovered, l);
	if (r < 0)
		klog(l->log, LOG_ERR, "Leader cannot start talking to ONTAP at %s: %s", l->opts.address, strerror(-r));
	if (l->peer)
		peer_discover(l);
	else
		(void)peer_ensure(l); /* builds and discovers it */
}

/* The one instance (the service's state), for the HA service's narrow entry below. */
static struct leader_ontap *the_leader_ontap;

/* ---- the grants record (leader-ontap.h) ---------------------------------------------------- */

#define GRANTS_KEY LEADER_ONTAP_GRANTS_KEY

static uint64_t mono_now(struct leader_ontap *l)
{
	uint64_t t = 0;

	sd_event_now(l->event, CLOCK_MONOTONIC, &t);
	return t;
}

static uint64_t grants_settled_at(const struct leader_ontap *l)
{
	uint64_t at = l->grants_older > l->grants_answered ? l->grants_older : l->grants_answered;

	return at ? at : 1;
}

/* The record as committed: 1 = {epoch, in_flight true}, 0 = {epoch, false}, -1 = other / none. */
static int grants_record_is(const struct leader_ontap *l, uint64_t epoch)
{
	const json_t *rec = json_object_get(service_records(l->ctx), GRANTS_KEY);

	if (!json_is_object(rec) || (uint64_t)json_integer_value(json_object_get(rec, "epoch")) != epoch)
		return -1;
	return json_is_true(json_object_get(rec, "in_flight")) ? 1 : 0;
}

static bool grants_patch_pending(const struct leader_ontap *l)
{
	return l->grants_patch && service_committed_version(l->ctx) < l->grants_patch;
}

static int grants_write(struct leader_ontap *l, bool in_flight)
{
	_cleanup_free_ char *error = NULL;
	uint64_t version = 0;
	json_t *patch = json_pack("{s{sIsb}}", GRANTS_KEY, "epoch", (json_int_t)l->grants_epoch, "in_flight", in_flight);
	int r;

	if (!patch)
		return -ENOMEM;
	r = service_leader_patch(l->ctx, l->grants_epoch, patch, &version, &error);
	json_decref(patch);
	if (r < 0) {
		klog(l->log, LOG_WARNING, "Cannot record ONTAP access grants %s: %s", in_flight ? "in flight" : "settled",
		     error ? error : strerror(-r));
		return r;
	}
	l->grants_patch = version;
	return 0;
}

static int on_grants_timer(sd_event_source *s, uint64_t usec, void *userdata);

/* Writes {epoch, in_flight: false} once it is true and not yet recorded: no grant of ours is
 * out, and none of any older leadership can land any more. */
static void grants_settle(struct leader_ontap *l)
{
	uint64_t at, now;

	if (!l->grants_epoch || service_recording_epoch(l->ctx) != l->grants_epoch || l->grants_outstanding ||
	    l->grants_wanted || grants_patch_pending(l) || grants_record_is(l, l->grants_epoch) == 0)
		return;
	at = grants_settled_at(l);
	now = mono_now(l);
	if (now >= at) {
		(void)grants_write(l, false);
		return;
	}
	if (!l->grants_timer) {
		if (sd_event_add_time(l->event, &l->grants_timer, CLOCK_MONOTONIC, at, USEC_PER_SEC / 100,
				      on_grants_timer, l) < 0)
			return;
	} else {
		(void)sd_event_source_set_time(l->grants_timer, at);
	}
	(void)sd_event_source_set_enabled(l->grants_timer, SD_EVENT_ONESHOT);
}

static int on_grants_timer(sd_event_source *s, uint64_t usec, void *userdata)
{
	grants_settle(userdata);
	return 0;
}

/* RECORDING started under epoch: what the record says of the older leaderships. */
static void grants_recording(struct leader_ontap *l, uint64_t epoch)
{
	int was;
	const json_t *rec;

	if (l->grants_epoch == epoch)
		return grants_settle(l);
	rec = json_object_get(service_records(l->ctx), GRANTS_KEY);
	was = rec && json_is_object(rec) && (uint64_t)json_integer_value(json_object_get(rec, "epoch")) < epoch
		      ? (json_is_true(json_object_get(rec, "in_flight")) ? 1 : 0)
		      : -1;
	l->grants_epoch = epoch;
	l->grants_outstanding = 0;
	l->grants_wanted = false;
	l->grants_answered = 0;
	l->grants_patch = 0;
	/* epoch 1 has no predecessor; a record that says none was in flight: nothing older can
	 * land; otherwise (one was, or nobody recorded: an older kvmcd) the quiet point */
	l->grants_older = mono_now(l) + (epoch <= 1 || was == 0 ? 0 : l->t.ontap_quiet_usec);
	l->grants_jobs_until = epoch <= 1 || was == 0 ? 0 : mono_now(l) + l->t.ontap_jobs_settled_usec;
	if (epoch > 1)
		klog(l->log, LOG_INFO, "ONTAP access grants of earlier leaders: %s",
		     was == 0 ? "none in flight (the grants record): fences confirm at once"
		     : was == 1 ? "one may still land (the grants record): fences confirm after the quiet point"
				: "not recorded: fences confirm after the quiet point");
	grants_settle(l);
}

uint64_t leader_ontap_grants_settled(void)
{
	struct leader_ontap *l = the_leader_ontap;

	if (!l || !l->grants_epoch || service_recording_epoch(l->ctx) != l->grants_epoch)
		return 0;
	return l->grants_outstanding ? UINT64_MAX : grants_settled_at(l);
}

int leader_ontap_grants_begin(void)
{
	struct leader_ontap *l = the_leader_ontap;
	int r;

	if (!l || !l->grants_epoch || service_recording_epoch(l->ctx) != l->grants_epoch)
		return -ESTALE;
	if (grants_record_is(l, l->grants_epoch) == 1 && !grants_patch_pending(l)) {
		l->grants_wanted = false;
		l->grants_outstanding++;
		return 0;
	}
	l->grants_wanted = true; /* not cleared under the waiting plan's feet (grants_settle) */
	if (grants_patch_pending(l))
		return -EAGAIN;
	r = grants_write(l, true);
	if (r < 0)
		l->grants_wanted = false;
	return r < 0 ? r : -EAGAIN;
}

void leader_ontap_grants_cancel(void)
{
	struct leader_ontap *l = the_leader_ontap;

	if (!l || !l->grants_wanted)
		return;
	l->grants_wanted = false;
	grants_settle(l);
}

void leader_ontap_grants_end(bool answered)
{
	struct leader_ontap *l = the_leader_ontap;
	uint64_t now, until;

	if (!l || !l->grants_outstanding)
		return;
	l->grants_outstanding--;
	now = mono_now(l);
	/* a request that got no answer may still be carried out: within one exchange of its send
	 * if synchronous, but a volume created or mounted with an export policy is a job, which
	 * ONTAP may run on after we stopped polling it: up to a whole job_timeout, the bound we
	 * know (the fence's job listing, settle_jobs, is for an older leader's jobs: this leader's
	 * own fences simply wait) */
	until = answered ? now : now + l->t.base.ontap_job_timeout_usec + l->t.base.margin_usec;
	if (until > l->grants_answered)
		l->grants_answered = until;
	grants_settle(l);
}

int leader_ontap_fence(const struct ontap_fence_node *node, uint64_t readback_not_before_usec, bool readback_only,
		       ontap_fence_done_fn done, void *userdata)
{
	struct leader_ontap *l = the_leader_ontap;
	_cleanup_free_ char *comment = NULL;
	struct ontap_fence_options opts;

	if (!l || !l->client || !l->epoch || !ontap_dl.ontap_fence_node)
		return -ENOTCONN;
	if (asprintf(&comment, "kvmcd:%s", l->cluster_id) < 0)
		return -ENOMEM;
	opts = (struct ontap_fence_options){ .prefix = leader_ds_prefix(l->ds), .comment = l->cluster_id[0] ? comment : NULL,
					     .readback_not_before_usec = readback_not_before_usec };
	/* an older leader's job may still grant access: the read-back waits for the SVM's jobs
	 * (coord/timeouts.h 7.), bounded by when none of its jobs can run any more */
	if (l->grants_epoch && service_recording_epoch(l->ctx) == l->grants_epoch && mono_now(l) < l->grants_jobs_until) {
		opts.settle_jobs = true;
		opts.jobs_deadline_usec = l->grants_jobs_until;
	}
	return readback_only ? ontap_dl.ontap_fence_readback(l->client, node, &opts, done, userdata)
			     : ontap_dl.ontap_fence_node(l->client, node, &opts, done, userdata);
}

int leader_ontap_claim(uint64_t epoch, const char *claimant, ontap_claim_done_fn done, void *userdata)
{
	struct leader_ontap *l = the_leader_ontap;

	if (!l || !epoch)
		return -ENOTCONN;
	if (l->epoch != epoch || !l->client)
		leader_ontap_role(l, true, epoch); /* mutations stamped with the epoch being claimed */
	if (!l->client || !ontap_dl.ontap_claim_epoch)
		return -ENOTCONN;
	return ontap_dl.ontap_claim_epoch(l->client, leader_ds_prefix(l->ds), epoch, claimant, done, userdata);
}

/* ---- snapshots (leader-ontap.h: the protection service's entry) ---------------------------- */

static bool snapshots_usable(const struct leader_ontap *l)
{
	return l && l->acting && l->client && l->epoch && ontap_dl.ontap_snapshot_list;
}

int leader_ontap_snapshot(enum leader_ontap_snap_op op, const char *datastore, const char *name, ontap_done_fn done,
			  void *userdata)
{
	struct leader_ontap *l = the_leader_ontap;
	_cleanup_free_ char *vol = NULL;

	if (!snapshots_usable(l))
		return -ENOTCONN;
	if (!datastore || (op != LEADER_SNAP_LIST && (!name || !*name)))
		return -EINVAL;
	vol = dsplan_volume_name(leader_ds_prefix(l->ds), datastore);
	if (!vol)
		return -ENOMEM;
	switch (op) {
	case LEADER_SNAP_LIST:
		return ontap_dl.ontap_snapshot_list(l->client, vol, done, userdata);
	case LEADER_SNAP_ENSURE:
		return ontap_dl.ontap_snapshot_ensure(l->client, vol, name, NULL, done, userdata);
	case LEADER_SNAP_DELETE:
		return ontap_dl.ontap_snapshot_delete(l->client, vol, name, done, userdata);
	case LEADER_SNAP_RESTORE:
		return ontap_dl.ontap_volume_restore(l->client, vol, name, done, userdata);
	}
	return -EINVAL;
}

/* A consistency group snapshot in two steps: the group, then its snapshot. */
struct cg_run {
	char *cg, *name;       /* owned */
	ontap_done_fn done;
	void *userdata;
};

static void cg_run_free(struct cg_run *c)
{
	if (!c)
		return;
	free(c->cg);
	free(c->name);
	free(c);
}

static void on_cg_snapshot(void *userdata, int r, const struct ontap_object *obj, const struct ontap_error *err)
{
	struct cg_run *c = userdata;

	c->done(c->userdata, r, obj, err);
	cg_run_free(c);
}

static void on_cg_ensured(void *userdata, int r, const struct ontap_object *obj, const struct ontap_error *err)
{
	struct cg_run *c = userdata;
	struct leader_ontap *l = the_leader_ontap;

	if (r >= 0) {
		r = snapshots_usable(l) ? ontap_dl.ontap_cg_snapshot_ensure(l->client, c->cg, c->name, on_cg_snapshot, c)
					: -ECANCELED;
		if (r >= 0)
			return;
		obj = NULL;
		err = NULL;
	}
	c->done(c->userdata, r, obj, err);
	cg_run_free(c);
}

int leader_ontap_cg_snapshot(const char *group, const char *const *datastores, size_t n, const char *name,
			     ontap_done_fn done, void *userdata)
{
	struct leader_ontap *l = the_leader_ontap;
	const struct ontap_version *v;
	struct cg_run *c;
	char **vols;
	int r = -ENOMEM;

	if (!snapshots_usable(l))
		return -ENOTCONN;
	if (!group || !*group || !name || !*name || !datastores || n == 0)
		return -EINVAL;
	/* consistency groups are ONTAP 9.10.1's (notes 5.15); the client refuses them too, but
	 * says so only once the version is known */
	v = ontap_dl.ontap_client_version(l->client);
	if (v && v->generation && ONTAP_VERSION_CODE(v->generation, v->major, v->minor) < ONTAP_VERSION_CODE(9, 10, 1))
		return -EOPNOTSUPP;
	vols = calloc(n, sizeof(*vols));
	c = calloc(1, sizeof(*c));
	if (!vols || !c)
		goto out;
	for (size_t i = 0; i < n; i++)
		if (!(vols[i] = dsplan_volume_name(leader_ds_prefix(l->ds), datastores[i])))
			goto out;
	if (asprintf(&c->cg, "%s_%s", leader_ds_prefix(l->ds), group) < 0) {
		c->cg = NULL;
		goto out;
	}
	if (!(c->name = strdup(name)))
		goto out;
	c->done = done;
	c->userdata = userdata;
	r = ontap_dl.ontap_cg_ensure(l->client, c->cg, (const char *const *)vols, n, on_cg_ensured, c);
	if (r >= 0)
		c = NULL; /* the callback owns it */
out:
	for (size_t i = 0; vols && i < n; i++)
		free(vols[i]);
	free(vols);
	cg_run_free(c);
	return r;
}

/* ---- SnapMirror (issue 10; agent/mirror.c) ---------------------------------------------- */

char *leader_ontap_volume_of(const char *datastore)
{
	struct leader_ontap *l = the_leader_ontap;

	if (!snapshots_usable(l) || !datastore)
		return NULL;
	return dsplan_volume_name(leader_ds_prefix(l->ds), datastore);
}

/* The client that holds t's destination: [ontap_peer]'s when t names its cluster, else the main
 * one; NULL with *r (-ENOLINK: the peer client is not set up, leader_ontap_peer_error says
 * why; -EINVAL: a cluster that is not [ontap_peer]'s). */
static struct ontap_client *dst_client(struct leader_ontap *l, const char *cluster, int *r)
{
	if (!cluster)
		return l->client;
	if (!l->peer_opts.cluster || strcasecmp(cluster, l->peer_opts.cluster) != 0) {
		*r = -EINVAL;
		return NULL;
	}
	if (peer_ensure(l) < 0 || !l->peer) {
		*r = -ENOLINK;
		return NULL;
	}
	return l->peer;
}

const char *leader_ontap_peer_cluster(void)
{
	struct leader_ontap *l = the_leader_ontap;

	return l ? l->peer_opts.cluster : NULL;
}

const char *leader_ontap_peer_error(void)
{
	struct leader_ontap *l = the_leader_ontap;

	return l && l->peer_error[0] ? l->peer_error : NULL;
}

/* LEADER_MIRROR_SETUP in three steps: the source's size (the main client), the DP volume and the
 * relationship (the destination's client). */
struct mirror_run {
	char *src_path, *dst_path, *dst_svm, *dst_volume, *policy, *src_volume; /* owned */
	char *dst_cluster;       /* owned: [ontap_peer]'s cluster, NULL = the main one */
	ontap_done_fn done;
	void *userdata;
};

static void mirror_run_free(struct mirror_run *m)
{
	if (!m)
		return;
	free(m->src_path);
	free(m->dst_path);
	free(m->dst_svm);
	free(m->dst_volume);
	free(m->policy);
	free(m->src_volume);
	free(m->dst_cluster);
	free(m);
}

static void on_mirror_last(void *userdata, int r, const struct ontap_object *obj, const struct ontap_error *err)
{
	struct mirror_run *m = userdata;

	m->done(m->userdata, r, obj, err);
	mirror_run_free(m);
}

static void on_mirror_dp(void *userdata, int r, const struct ontap_object *obj, const struct ontap_error *err)
{
	struct mirror_run *m = userdata;
	struct leader_ontap *l = the_leader_ontap;

	if (r >= 0) {
		struct ontap_snapmirror_spec sp = { .source_path = m->src_path, .destination_path = m->dst_path,
						    .policy = m->policy };
		struct ontap_client *dst;

		if (!snapshots_usable(l))
			r = -ECANCELED;
		else if ((dst = dst_client(l, m->dst_cluster, &r)))
			r = ontap_dl.ontap_snapmirror_ensure(dst, &sp, on_mirror_last, m);
		if (r >= 0)
			return;
		obj = NULL;
		err = NULL;
	}
	m->done(m->userdata, r, obj, err);
	mirror_run_free(m);
}

static void on_mirror_src(void *userdata, int r, const struct ontap_object *obj, const struct ontap_error *err)
{
	struct mirror_run *m = userdata;
	struct leader_ontap *l = the_leader_ontap;

	if (r >= 0) {
		json_int_t size = json_integer_value(json_object_get(obj ? obj->record : NULL, "size"));
		struct ontap_client *dst;

		if (!snapshots_usable(l))
			r = -ECANCELED;
		else if ((dst = dst_client(l, m->dst_cluster, &r)))
			r = size <= 0 ? -EIO
				      : ontap_dl.ontap_dp_volume_ensure(dst, m->dst_svm, m->dst_volume, (uint64_t)size,
									on_mirror_dp, m);
		if (r >= 0)
			return;
		obj = NULL;
		err = NULL;
	}
	m->done(m->userdata, r, obj, err);
	mirror_run_free(m);
}

int leader_ontap_mirror(enum leader_ontap_mirror_op op, const struct leader_mirror_target *t, ontap_done_fn done,
			void *userdata)
{
	struct leader_ontap *l = the_leader_ontap;
	struct mirror_run *m = NULL;
	struct ontap_client *c;
	_cleanup_free_ char *dst = NULL;
	int r = -ENOMEM;

	if (!snapshots_usable(l) || !l->opts.svm || !*l->opts.svm)
		return -ENOTCONN;
	if (!t || !t->datastore || !t->dst_svm || !*t->dst_svm || !t->dst_volume || !*t->dst_volume)
		return -EINVAL;
	if (asprintf(&dst, "%s:%s", t->dst_svm, t->dst_volume) < 0) {
		dst = NULL;
		return -ENOMEM;
	}
	/* the relationship lives on its destination's cluster; the peerings on the source's */
	c = op == LEADER_MIRROR_PEERS ? l->client : dst_client(l, t->dst_cluster, &r);
	if (!c)
		return r;
	switch (op) {
	case LEADER_MIRROR_GET:
		return ontap_dl.ontap_snapmirror_get(c, dst, done, userdata);
	case LEADER_MIRROR_INITIALIZE:
		return ontap_dl.ontap_snapmirror_initialize(c, dst, done, userdata);
	case LEADER_MIRROR_UPDATE:
		return ontap_dl.ontap_snapmirror_update(c, dst, done, userdata);
	case LEADER_MIRROR_QUIESCE:
		return ontap_dl.ontap_snapmirror_quiesce(c, dst, done, userdata);
	case LEADER_MIRROR_BREAK:
		return ontap_dl.ontap_snapmirror_break(c, dst, done, userdata);
	case LEADER_MIRROR_RESYNC:
		return ontap_dl.ontap_snapmirror_resync(c, dst, done, userdata);
	case LEADER_MIRROR_PEERS:
		return ontap_dl.ontap_svm_peer_list(c, t->dst_svm, done, userdata);
	case LEADER_MIRROR_SETUP:
		break;
	default:
		return -EINVAL;
	}
	m = calloc(1, sizeof(*m));
	if (!m)
		return -ENOMEM;
	m->dst_path = TAKE_PTR(dst);
	m->src_volume = dsplan_volume_name(leader_ds_prefix(l->ds), t->datastore);
	if (!m->src_volume || asprintf(&m->src_path, "%s:%s", l->opts.svm, m->src_volume) < 0) {
		m->src_path = NULL;
		goto out;
	}
	r = -ENOMEM;
	if (!(m->dst_svm = strdup(t->dst_svm)) || !(m->dst_volume = strdup(t->dst_volume)) ||
	    (t->policy && !(m->policy = strdup(t->policy))) || (t->dst_cluster && !(m->dst_cluster = strdup(t->dst_cluster))))
		goto out;
	m->done = done;
	m->userdata = userdata;
	r = ontap_dl.ontap_volume_get(l->client, m->src_volume, on_mirror_src, m);
	if (r >= 0)
		m = NULL; /* the callback owns it */
out:
	mirror_run_free(m);
	return r;
}

uint64_t leader_ontap_cancelled_sent_usec(void)
{
	struct leader_ontap *l = the_leader_ontap;

	return l && l->client ? ontap_dl.ontap_client_cancelled_sent_usec(l->client) : 0;
}

uint64_t leader_ontap_plan_settled_version(void)
{
	return the_leader_ontap ? leader_ds_settled_version(the_leader_ontap->ds) : 0;
}

static json_t *leader_ontap_status(const struct leader_ontap *l)
{
	if (!l)
		return NULL;
	return json_pack("{sssssIsbss?ss?so?so?}", "address", l->opts.address, "svm", l->opts.svm ? l->opts.svm : "",
			 "leader_epoch", (json_int_t)l->epoch, "client_loaded", l->client != NULL,
			 "version", l->version[0] ? l->version : NULL,
			 "last_error", l->last_error[0] ? l->last_error : NULL,
			 "datastores", leader_ds_status(l->ds),
			 "peer", !l->peer_opts.cluster ? NULL
				 : json_pack("{sssssbss?ss?}", "cluster", l->peer_opts.cluster, "address",
					     l->peer_opts.ontap.address, "client_loaded", l->peer != NULL, "version",
					     l->peer_version[0] ? l->peer_version : NULL, "last_error",
					     l->peer_error[0] ? l->peer_error : NULL));
}

/* ---- the service (service.h) ---------------------------------------------------------------- */

static int svc_init(struct service_ctx *ctx, void **state, char **error)
{
	const struct kvmcd_config *cfg = service_config(ctx);
	_cleanup_free_ char *why = NULL;
	struct leader_ontap *l = NULL;
	int r;

	r = leader_ontap_new(&l, service_event(ctx), &cfg->ontap, &cfg->ontap_peer, cfg->node_name, service_log(ctx), &why);
	if (r < 0) {
		if (asprintf(error, "[ontap] in %s is unusable: %s", cfg->path, why ? why : strerror(-r)) < 0)
			*error = NULL;
		return r;
	}
	if (l) {
		_cleanup_free_ char *cluster = corosync_cluster_name();
		r = leader_ds_new(ctx, cluster ? cluster : cfg->cluster_group, &l->ds);
		if (r < 0) {
			leader_ontap_free(l);
			if (asprintf(error, "cannot set up the datastore loop: %s", strerror(-r)) < 0)
				*error = NULL;
			return r;
		}
	}
	if (l) {
		_cleanup_free_ char *twhy = NULL;
		r = timing_derive(cfg, &l->t, NULL, &twhy);
		if (r < 0) {
			leader_ontap_free(l);
			if (asprintf(error, "cannot derive the timeouts: %s", twhy ? twhy : strerror(-r)) < 0)
				*error = NULL;
			return r;
		}
	}
	*state = l; /* NULL: [ontap] not configured, the service is off */
	the_leader_ontap = l;
	if (l)
		l->ctx = ctx;
	return 0;
}

static void svc_free(void *state)
{
	if (the_leader_ontap == state)
		the_leader_ontap = NULL;
	leader_ontap_free(state);
}

/*
 * The client gets the epoch when this node starts RECORDING under it, not when it is merely
 * elected (ROLE): the HA service's fences may start then (leader_ontap_fence). The datastore
 * loop gets the client only when it ACTS (LEADING): until then a predecessor whose corosync
 * stalled may still be talking to ONTAP until its lease ends (coord/cluster/core.h), and two
 * plans must not run at once. The epoch is taken away when the leadership ends (ROLE false),
 * which cancels what is queued or in flight; a sync round (LEADING / RECORDING stop within the
 * same epoch) leaves in-flight work valid.
 */
static void svc_role(void *state, bool leading, uint64_t epoch)
{
	struct leader_ontap *l = state;

	if (!leading && l) {
		l->acting = false;
		leader_ds_set_client(l->ds, NULL, NULL);
	}
	if (!leading && l && l->epoch)
		leader_ontap_role(l, false, 0);
}

static void svc_leading(void *state, bool acting, uint64_t epoch)
{
	struct leader_ontap *l = state;
	struct leader_ds_ontap ops;

	if (!l)
		return;
	if (acting)
		snprintf(l->cluster_id, sizeof(l->cluster_id), "%s", service_cluster_id(l->ctx));
	if (acting && l->epoch != epoch)
		leader_ontap_role(l, true, epoch); /* loads the module the first time */
	/* Resolved only now: the module is loaded when this node first acts. */
	ops = (struct leader_ds_ontap){ .observe = ontap_dl.ontap_ds_observe, .execute = ontap_dl.ontap_ds_execute,
					.version = ontap_dl.ontap_client_version };
	/* The datastore loop starts new work only while acting; a sync round pauses it. */
	leader_ds_set_client(l->ds, acting && ops.observe && ops.execute ? l->client : NULL, &ops);
	l->acting = acting && l->client && l->epoch == epoch;
}

static void svc_recording(void *state, bool recording, uint64_t epoch)
{
	struct leader_ontap *l = state;

	if (!l || !recording)
		return;
	snprintf(l->cluster_id, sizeof(l->cluster_id), "%s", service_cluster_id(l->ctx));
	if (l->epoch != epoch)
		leader_ontap_role(l, true, epoch); /* loads the module the first time */
	grants_recording(l, epoch);
}

static void svc_committed(void *state, uint64_t version, bool may_act)
{
	struct leader_ontap *l = state;

	if (l && may_act) {
		grants_settle(l);      /* our last grants patch may have committed */
		leader_ds_kick(l->ds); /* the spec or a node's section may have changed */
	}
}

/* A node published or left: the datastore loop looks whether what it reads of them changed. */
static void svc_sections(void *state)
{
	struct leader_ontap *l = state;

	if (l)
		leader_ds_sections(l->ds);
}

static json_t *svc_status(void *state)
{
	return leader_ontap_status(state);
}

/* No reload hook: every [ontap] key needs a restart (config.c), so a reload hands us the values
 * we run with. */
const struct service_ops leader_ontap_service = {
	.name = "ontap",
	.init = svc_init,
	.free = svc_free,
	.role = svc_role,
	.leading = svc_leading,
	.recording = svc_recording,
	.committed = svc_committed,
	.sections = svc_sections,
	.status = svc_status,
};
