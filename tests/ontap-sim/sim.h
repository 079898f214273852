/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * ontap-sim: shared types of the ONTAP REST simulator.
 *
 * The whole simulated cluster is one jansson document (struct sim.state) whose arrays hold the
 * records in the shape ONTAP returns them, plus an internal "_sim" member per record that is
 * never rendered. Every handler and the job thread run with sim->lock held, so handlers never
 * see a half-applied change. See README.md for the behaviour.
 */
#pragma once

#include <jansson.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>

#include "macros.h"

struct fault;

enum sim_role {
	ROLE_ADMIN,     /* cluster admin: everything */
	ROLE_READONLY,  /* GET only; mutations -> 403 code 6 */
	ROLE_VSADMIN,   /* SVM-scoped: refused on /api/cluster and /api/storage/aggregates */
};

struct sim_user {
	char *name;     /* owned */
	char *password; /* owned */
	enum sim_role role;
};

int role_parse(const char *s, enum sim_role *out);

struct sim_config {
	char *listen_host;   /* owned */
	int listen_port;
	struct sim_user *users; /* owned array */
	size_t n_users;
	char *tls_cert, *tls_key, *tls_cert_out; /* owned paths or NULL */
	char *client_ca;     /* owned path or NULL: CA for client-certificate logins */
	char *version;       /* owned, "9.14.1" */
	int ver[3];          /* parsed version */
	char **svms;         /* owned, NULL-terminated */
	char **data_ips;     /* owned, NULL-terminated */
	char *state_path, *backing_dir, *request_log, *control_token, *port_file; /* owned or NULL */
	char *host_data_dir;  /* owned or NULL: the simulated hosts' shared directory (hostdata.c) */
	int64_t job_purge_s;
	int64_t job_ms;
	int64_t transfer_ms;
	bool empty_next_page;
	bool run_schedules;   /* snapshot policies and SnapMirror schedules act on the clock */
	char *target_hook;    /* owned or NULL: program run with the target document (target.c) */
	char *target_dir;     /* borrowed (backing_dir): where target.json is written */
	char *cluster_name;   /* owned or NULL ("ontap-sim"): the simulated cluster's name */
	char *access_socket;  /* owned or NULL: the access endpoint's unix socket (fabric.c) */
};

struct sim {
	pthread_mutex_t lock;   /* guards state, faults, skew_us, cfg fields changed at runtime */
	pthread_cond_t changed; /* broadcast (under lock) whenever a job or transfer changes state */
	struct sim_config cfg;
	json_t *state;          /* owned: the simulated cluster */
	int64_t skew_us;        /* simulated clock = CLOCK_REALTIME + skew_us */
	struct fault *faults;   /* owned list */
	unsigned next_fault_id;
	FILE *log;              /* owned, request log or NULL; written under log_lock */
	pthread_mutex_t log_lock;
	json_t *target_applied;  /* owned: the target document the hook last applied, or NULL */
	volatile bool stopping;
};

enum method { M_GET = 1, M_POST = 2, M_PATCH = 4, M_DELETE = 8 };

struct req;
typedef int (*handler_fn)(struct req *r);

/* One row of a routing table: pattern segments "{}" capture one path segment into r->arg[]. */
struct route {
	const char *pattern;
	unsigned methods;      /* mask of enum method */
	handler_fn handler;
	const char *params;    /* extra query parameters accepted (space separated), may be NULL */
};

struct req {
	struct sim *sim;          /* borrowed */
	enum method m;
	const char *method;       /* borrowed, "GET" ... */
	const char *path;         /* borrowed, decoded path without query */
	const char *raw_uri;      /* borrowed, path + query as sent */
	char *arg[4];             /* owned copies of the captured segments */
	json_t *query;            /* owned: decoded query parameters name -> string */
	json_t *body;             /* owned, NULL when the request had none */
	const char *user;         /* borrowed */
	const char *svm_hdr_name, *svm_hdr_uuid; /* borrowed X-Dot-SVM-* headers or NULL */
	const struct route *route;
	/* response */
	int status;
	json_t *resp;             /* owned */
	char *location;           /* owned or NULL */
	int retry_after;          /* >0: Retry-After header */
	char *err_code;           /* owned copy of error.code for the log */
	char *job_uuid;           /* owned, set by job_start() */
	bool mutated;             /* state changed: persist before answering */
};

/* A failure detected while running a job or deciding a request. */
struct sim_err {
	int status;
	long code;
	char message[512];
	char target[64];
};

int sim_err_set(struct sim_err *e, int status, long code, const char *target, const char *fmt, ...)
	_printf_(5, 6);

/* ---- hostdata.c: the data of snapshots, clones and restores ---- */
void hostdata_snapshot(struct sim *sim, json_t *vol, json_t *snap);
void hostdata_clone(struct sim *sim, json_t *vol, json_t *snap);
void hostdata_mounted(struct sim *sim, json_t *vol);
void hostdata_restore(struct sim *sim, json_t *vol, json_t *snap);

/* ---- state.c ---- */
int64_t sim_now_us(struct sim *sim);
char *sim_time_iso(int64_t us, bool millis); /* malloc'd "2026-01-01T00:00:00+00:00" */
void sim_uuid(char out[37]);
int sim_version_ge(struct sim *sim, int gen, int major, int minor);
int parse_version(const char *s, int v[3]);
json_t *state_array(struct sim *sim, const char *name); /* borrowed; created on demand */
json_t *state_find(struct sim *sim, const char *coll, const char *path, const char *value);
json_t *state_find2(struct sim *sim, const char *coll, const char *path1, const char *v1,
		    const char *path2, const char *v2);
int state_remove(struct sim *sim, const char *coll, json_t *rec);
json_int_t state_counter(struct sim *sim, const char *name); /* returns next value */
int state_persist(struct sim *sim);
int state_load_or_init(struct sim *sim);
json_t *state_default(struct sim *sim);
json_t *jpath(json_t *v, const char *path);   /* borrowed value at dotted path or NULL */
const char *jstr(json_t *v, const char *path); /* string at dotted path or NULL */
json_int_t jint(json_t *v, const char *path, json_int_t dflt);
int jset(json_t *obj, const char *path, json_t *val); /* steals val, creates objects */
json_t *jsim(json_t *rec);                    /* the record's "_sim" object (created) */
json_t *ref_of(json_t *rec);                  /* new {"name","uuid"} reference */
int parse_size(json_t *v, json_int_t *out);   /* integer or "10GB" */
char *str_lower(const char *s);               /* malloc'd */
bool streq_ci(const char *a, const char *b);

/* ---- http.c ---- */
int req_error(struct req *r, int status, const char *code, const char *target, const char *fmt, ...)
	_printf_(5, 6);
int req_error_from(struct req *r, const struct sim_err *e);
void req_reply(struct req *r, int status, json_t *body /* taken */);
const char *req_param(struct req *r, const char *name);
bool req_flag(struct req *r, const char *name);
int req_svm(struct req *r, json_t *body_svm, bool required, json_t **svm_out);
int http_start(struct sim *sim, int listen_fd, const char *cert_pem, const char *key_pem,
	       const char *trust_pem, void **daemon_out);
void http_stop(void *daemon);

/* ---- collection.c: generic rendering, fields, filters, pagination ---- */
struct coll {
	const char *name;       /* array in the state */
	const char *schema;     /* JSON sample listing every field (with expensive ones) */
	const char *keys;       /* default fields of a collection GET, comma separated */
	const char *cursor;     /* pagination key paths, comma separated */
	const char *expensive;  /* only with fields=<name> or ** */
	const char *href;       /* self link template, "{path}" substituted from the record */
	const char *gated;      /* "field@9.16.1,..." fields that exist only from a version */
	void (*decorate)(struct sim *sim, json_t *rec, json_t *out); /* computed fields, may be NULL */
	json_t *schema_json;    /* parsed schema, set by coll_init() */
};
int coll_init(struct coll *c);
json_t *coll_render(struct sim *sim, struct coll *c, json_t *rec); /* new full copy */
int coll_list(struct req *r, struct coll *c, json_t *records /* borrowed array */);
int coll_get(struct req *r, struct coll *c, json_t *rec /* may be NULL: 404 code 4 */);
int coll_created(struct req *r, struct coll *c, json_t *rec, int status);
int coll_check_body(struct req *r, struct coll *c, const char *extra);
char *url_escape(const char *s);

/* ---- jobs.c ---- */
typedef int (*job_fn)(struct sim *sim, json_t *args, json_t *job, struct sim_err *err);
struct job_op {
	const char *name;
	job_fn run; /* runs with sim->lock held; 0 or negative with err filled */
};
int job_start(struct req *r, const char *op, json_t *args /* taken */, int done_status);
int jobs_tick(struct sim *sim, int64_t now);
int jobs_thread_start(struct sim *sim, pthread_t *tid);
extern struct coll coll_jobs;
extern const struct route job_routes[];

/* ---- faults.c ---- */
enum fault_action { FA_NONE, FA_REPLY, FA_DROP, FA_DROP_AFTER };
struct fault_decision {
	int64_t latency_ms;
	enum fault_action action;
	int status;
	char code[32];
	char message[256];
	char target[64];
	int retry_after;
	const char *name;     /* static */
};
int faults_check(struct sim *sim, const char *method, const char *path, struct fault_decision *d);
int faults_take_job(struct sim *sim, const char *method, const char *path, json_t **fail_out, bool *hang);
bool faults_take_transfer(struct sim *sim, const char *dest_path);
int faults_add(struct sim *sim, json_t *spec, unsigned *id_out);
void faults_clear(struct sim *sim);
int control_handle(struct sim *sim, const char *method, const char *path, json_t *body,
		   int *status, json_t **resp);

/* ---- access.c: GET /sim/access, what a host reaches through the fabric (README) ---- */
int access_handle(struct sim *sim, const char *method, const char *path, json_t *query,
		  const char *peer, int *status, json_t **resp);

/* ---- fabric.c: the same answers on a unix socket (--access-socket; README) ---- */
int fabric_start(struct sim *sim, const char *path); /* 0 or -errno; serves until exit */

/* ---- target.c: the target hook, a real LIO / nvmet target driven by the state (README) ---- */
json_t *target_doc(struct sim *sim);   /* new: what the data path must serve now */
int target_sync(struct sim *sim);      /* runs the hook if that changed; lock held */

/* ---- tls.c ---- */
int tls_make_self_signed(const char *host, char **cert_pem, char **key_pem);
int tls_peer_common_name(void *gnutls_session, char **cn_out);

/* ---- resource families ---- */
extern const struct route cluster_routes[], storage_routes[], san_routes[], protect_routes[],
	nas_routes[];
extern const struct job_op cluster_job_ops[], storage_job_ops[], protect_job_ops[];
extern struct coll *const all_colls[];
void state_init_cluster(struct sim *sim);  /* these fill sim->state */
void state_init_protect(struct sim *sim);
void state_init_nas(struct sim *sim, json_t *svm);
void state_init_san(struct sim *sim, json_t *svm);
extern struct coll coll_cluster, coll_nodes, coll_svms, coll_svm_peers, coll_aggregates, coll_interfaces;
/* cluster.c: the peering of SVMs a and b (either direction) with application app (NULL: any), or NULL. */
json_t *svm_peer_find(struct sim *sim, const char *a, const char *b, const char *app);
extern struct coll coll_volumes, coll_snapshots, coll_luns, coll_namespaces;
extern struct coll coll_igroups, coll_initiators, coll_lun_maps, coll_iscsi_services,
	coll_nvme_services, coll_subsystems, coll_subsystem_hosts, coll_subsystem_maps;
extern struct coll coll_schedules, coll_snapshot_policies, coll_sm_policies, coll_sm_relationships,
	coll_sm_transfers, coll_cgs, coll_cg_snapshots;
extern struct coll coll_nfs_services, coll_export_policies, coll_export_rules;
extern struct coll coll_cifs_services, coll_cifs_shares, coll_cifs_share_acls;
extern const struct route cifs_routes[];
json_t *cifs_service_of(struct sim *sim, const char *svm_uuid);   /* the SVM's CIFS server or NULL */
/* The SVM's volume whose junction path holds path (the deepest), or NULL. */
json_t *cifs_volume_of_path(struct sim *sim, const char *svm_uuid, const char *path);
int protect_tick(struct sim *sim, int64_t now);

/* Shared between families. */
json_t *svm_find(struct sim *sim, const char *name, const char *uuid);
json_t *volume_by_name(struct sim *sim, const char *svm_uuid, const char *name);
json_int_t volume_free(struct sim *sim, json_t *vol);
bool lun_is_mapped(struct sim *sim, const char *lun_uuid);
bool ns_is_mapped(struct sim *sim, const char *ns_uuid);
int backing_resize(struct sim *sim, json_t *rec, json_int_t size);
void backing_remove(struct sim *sim, json_t *rec);
int snapshot_create(struct sim *sim, json_t *vol, const char *name, const char *label,
		    json_t **out);
void volume_delete_contents(struct sim *sim, json_t *vol);
int svm_create_services(struct sim *sim, json_t *svm);
