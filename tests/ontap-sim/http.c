/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * ontap-sim: the HTTPS front end — libmicrohttpd glue (one thread per connection), Basic auth,
 * fault injection, routing, the common query-parameter rules, error bodies and the request log.
 * Handlers run with sim->lock held; latency faults sleep before the lock is taken.
 *
 * One thread per connection keeps the simulator simple and lets a request block (latency
 * faults, return_timeout waiting on sim->changed) without stalling other clients, as a real
 * cluster does not stall either.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <microhttpd.h>
#include <netdb.h>

#include "sim.h"

#define MAX_BODY (4u << 20)

/* Per-request context, created by the URI log callback before the first access call. */
struct conn {
	char *uri;      /* owned: raw path + query as sent */
	char *body;     /* owned upload buffer */
	size_t len;
	bool started;
	bool too_large;
};

static const struct route *const route_tables[] = {
	cluster_routes, storage_routes, san_routes, protect_routes, nas_routes, cifs_routes, job_routes,
};

int req_error(struct req *r, int status, const char *code, const char *target, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;
	json_t *err;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	err = json_pack("{s:s,s:s}", "message", msg, "code", code);
	if (target && *target)
		json_object_set_new(err, "target", json_string(target));
	free(r->err_code);
	r->err_code = strdup(code);
	req_reply(r, status, json_pack("{s:o}", "error", err));
	return -EINVAL;
}

int req_error_from(struct req *r, const struct sim_err *e)
{
	char code[32];

	snprintf(code, sizeof(code), "%ld", e->code);
	return req_error(r, e->status ? e->status : 400, code, e->target, "%s", e->message);
}

void req_reply(struct req *r, int status, json_t *body)
{
	json_decref(r->resp);
	r->resp = body;
	r->status = status;
}

const char *req_param(struct req *r, const char *name)
{
	return json_string_value(json_object_get(r->query, name));
}

bool req_flag(struct req *r, const char *name)
{
	const char *v = req_param(r, name);

	return v && (strcasecmp(v, "true") == 0 || strcmp(v, "1") == 0 || *v == '\0');
}

int req_svm(struct req *r, json_t *body_svm, bool required, json_t **svm_out)
{
	const char *name = jstr(body_svm, "name"), *uuid = jstr(body_svm, "uuid");
	json_t *svm = NULL, *by_uuid;

	if (r->svm_hdr_name || r->svm_hdr_uuid) {
		if ((name && r->svm_hdr_name && !streq_ci(name, r->svm_hdr_name)) ||
		    (uuid && r->svm_hdr_uuid && strcmp(uuid, r->svm_hdr_uuid) != 0))
			return req_error(r, 400, "2621706", "svm.name",
					 "The specified SVM does not match the SVM of the request header.");
		if (!name)
			name = r->svm_hdr_name;
		if (!uuid)
			uuid = r->svm_hdr_uuid;
	}
	if (!name && !uuid) {
		if (!required) {
			*svm_out = NULL;
			return 0;
		}
		return req_error(r, 400, "2", "svm.name",
				 "Either \"svm.name\" or \"svm.uuid\" must be specified.");
	}
	if (name)
		svm = svm_find(r->sim, name, NULL);
	if (uuid) {
		by_uuid = svm_find(r->sim, NULL, uuid);
		if (svm && by_uuid && svm != by_uuid)
			return req_error(r, 400, "2621706", "svm.uuid",
					 "The UUID \"%s\" is not the UUID of SVM \"%s\".", uuid, name);
		if (!svm)
			svm = by_uuid;
	}
	if (!svm)
		return req_error(r, 400, "2621462", "svm.name", "SVM \"%s\" does not exist.",
				 name ? name : uuid);
	*svm_out = svm;
	return 0;
}

static void req_free(struct req *r)
{
	for (size_t i = 0; i < ARRAY_SIZE(r->arg); i++)
		free(r->arg[i]);
	json_decref(r->query);
	json_decref(r->body);
	json_decref(r->resp);
	free(r->location);
	free(r->err_code);
	free(r->job_uuid);
}

static enum MHD_Result collect_arg(void *cls, enum MHD_ValueKind kind, const char *key,
				   const char *value)
{
	json_object_set_new(cls, key, json_string(value ? value : ""));
	return MHD_YES;
}

static void *uri_logger(void *cls, const char *uri, struct MHD_Connection *con)
{
	struct conn *c = calloc(1, sizeof(*c));

	if (c)
		c->uri = strdup(uri);
	return c;
}

static void on_completed(void *cls, struct MHD_Connection *con, void **con_cls,
			 enum MHD_RequestTerminationCode toe)
{
	struct conn *c = *con_cls;

	if (c) {
		free(c->uri);
		free(c->body);
		free(c);
	}
	*con_cls = NULL;
}

static void log_request(struct sim *sim, struct MHD_Connection *con, struct req *r,
			const char *fault)
{
	json_auto_t *line = NULL;
	_cleanup_free_ char *when = NULL, *text = NULL;
	const char *node, *epoch;

	if (!sim->log)
		return;
	pthread_mutex_lock(&sim->lock);
	when = sim_time_iso(sim_now_us(sim), true);
	pthread_mutex_unlock(&sim->lock);
	line = json_pack("{s:s,s:s,s:s,s:i}", "time", when ? when : "", "method", r->method,
			 "path", r->raw_uri, "status", r->status);
	if (r->user)
		json_object_set_new(line, "user", json_string(r->user));
	if (r->err_code)
		json_object_set_new(line, "code", json_string(r->err_code));
	if (r->job_uuid)
		json_object_set_new(line, "job", json_string(r->job_uuid));
	/* what a POST creates, by the name it gives (the order of creations in a plan's run) */
	if (r->body && json_is_string(json_object_get(r->body, "name")))
		json_object_set(line, "name", json_object_get(r->body, "name"));
	node = MHD_lookup_connection_value(con, MHD_HEADER_KIND, "X-Kvmcd-Node");
	epoch = MHD_lookup_connection_value(con, MHD_HEADER_KIND, "X-Kvmcd-Epoch");
	if (node)
		json_object_set_new(line, "node", json_string(node));
	if (epoch)
		json_object_set_new(line, "epoch", json_string(epoch));
	if (fault)
		json_object_set_new(line, "fault", json_string(fault));
	text = json_dumps(line, JSON_COMPACT);
	if (!text)
		return;
	pthread_mutex_lock(&sim->log_lock);
	fprintf(sim->log, "%s\n", text);
	fflush(sim->log);
	pthread_mutex_unlock(&sim->log_lock);
}

/* With "Accept: application/json" ONTAP omits the HAL links, except the pagination link. */
static void strip_links(json_t *v, bool top)
{
	const char *key;
	json_t *x;
	size_t i;

	if (json_is_array(v)) {
		json_array_foreach(v, i, x)
			strip_links(x, false);
		return;
	}
	if (!json_is_object(v))
		return;
	if (json_object_get(v, "_links")) {
		json_t *next = json_object_get(json_object_get(v, "_links"), "next");
		if (top && next)
			json_object_set_new(v, "_links", json_pack("{s:O}", "next", next));
		else
			json_object_del(v, "_links");
	}
	json_object_foreach(v, key, x)
		strip_links(x, false);
}

static bool plain_json(struct MHD_Connection *con)
{
	const char *a = MHD_lookup_connection_value(con, MHD_HEADER_KIND, "Accept");

	return a && strstr(a, "application/json") && !strstr(a, "hal+json");
}

static enum MHD_Result send_json(struct MHD_Connection *con, struct req *r)
{
	struct MHD_Response *resp;
	char *text;
	enum MHD_Result ret;
	bool plain = plain_json(con);

	if (plain && r->resp && !r->job_uuid)
		strip_links(r->resp, true);

	text = r->resp ? json_dumps(r->resp, JSON_COMPACT) : strdup("{}");
	if (!text)
		return MHD_NO;
	resp = MHD_create_response_from_buffer(strlen(text), text, MHD_RESPMEM_MUST_FREE);
	if (!resp) {
		free(text);
		return MHD_NO;
	}
	MHD_add_response_header(resp, "Server", "libzapid-httpd");
	MHD_add_response_header(resp, "Content-Type", plain ? "application/json" : "application/hal+json");
	MHD_add_response_header(resp, "Cache-Control", "no-cache,no-store,must-revalidate");
	if (r->location)
		MHD_add_response_header(resp, "Location", r->location);
	if (r->retry_after > 0) {
		char num[16];
		snprintf(num, sizeof(num), "%d", r->retry_after);
		MHD_add_response_header(resp, "Retry-After", num);
	}
	if (r->status == 401)
		MHD_add_response_header(resp, "WWW-Authenticate", "Basic realm=\"ontap-sim\"");
	ret = MHD_queue_response(con, (unsigned)r->status, resp);
	MHD_destroy_response(resp);
	return ret;
}

static bool route_match(const char *pattern, const char *path, struct req *r)
{
	const char *p = pattern, *q = path;
	size_t nargs = 0;

	for (size_t i = 0; i < ARRAY_SIZE(r->arg); i++) {
		free(r->arg[i]);
		r->arg[i] = NULL;
	}

	while (*p && *q) {
		if (p[0] == '{' && p[1] == '}') {
			const char *end = strchr(q, '/');
			size_t n = end ? (size_t)(end - q) : strlen(q);
			if (n == 0 || nargs >= ARRAY_SIZE(r->arg))
				return false;
			r->arg[nargs] = strndup(q, n);
			nargs++;
			p += 2;
			q += n;
			continue;
		}
		if (*p != *q)
			return false;
		p++;
		q++;
	}
	/* a trailing slash on the request is tolerated */
	return *p == '\0' && (*q == '\0' || (q[0] == '/' && q[1] == '\0'));
}

static int dispatch(struct req *r)
{
	bool path_found = false;
	const char *key;
	json_t *v;
	int ret;

	for (size_t t = 0; t < ARRAY_SIZE(route_tables); t++) {
		for (const struct route *rt = route_tables[t]; rt->pattern; rt++) {
			if (!route_match(rt->pattern, r->path, r))
				continue;
			path_found = true;
			if (rt->methods & r->m) {
				r->route = rt;
				break;
			}
		}
		if (r->route)
			break;
	}
	if (!r->route) {
		if (path_found)
			return req_error(r, 405, "3", "", "The method %s is not supported on %s.",
					 r->method, r->path);
		return req_error(r, 404, "4", "", "API not found");
	}
	if (r->m != M_GET) {
		json_object_foreach(r->query, key, v) {
			const char *p = r->route->params;
			bool ok = false;

			if (strcmp(key, "return_records") == 0 || strcmp(key, "return_timeout") == 0 ||
			    strcmp(key, "ignore_unknown_fields") == 0 || strcmp(key, "fields") == 0)
				continue;
			if (p) {
				_cleanup_free_ char *cp = strdup(p);
				char *save = NULL;
				for (char *tkn = strtok_r(cp, " ", &save); tkn && !ok;
				     tkn = strtok_r(NULL, " ", &save)) {
					size_t n = strlen(tkn);
					ok = strcmp(tkn, key) == 0 ||
					     (n && tkn[n - 1] == '*' && strncmp(tkn, key, n - 1) == 0);
				}
			}
			if (!ok)
				return req_error(r, 400, "262179", key, "Unexpected argument \"%s\".", key);
		}
		if ((key = req_param(r, "return_timeout"))) {
			char *end;
			long t = strtol(key, &end, 10);
			if (*end || t < 0 || t > 120)
				return req_error(r, 400, "262197", "return_timeout",
						 "The value \"%s\" is invalid for field \"return_timeout\" (0-120)",
						 key);
		}
	}
	ret = r->route->handler(r);
	if (ret < 0 && r->status == 0)
		return req_error(r, 500, "262145", "", "Internal error: %s", strerror(-ret));
	return 0;
}

/* A login by client certificate: CN = user name, no password (notes §1). */
static int check_cert_auth(struct sim *sim, struct MHD_Connection *con, char **user_out)
{
	const union MHD_ConnectionInfo *ci;
	_cleanup_free_ char *cn = NULL;
	int ret = -EACCES;

	if (!sim->cfg.client_ca)
		return -EACCES;
	ci = MHD_get_connection_info(con, MHD_CONNECTION_INFO_GNUTLS_SESSION);
	if (!ci || tls_peer_common_name(ci->tls_session, &cn) < 0)
		return -EACCES;
	pthread_mutex_lock(&sim->lock);
	for (size_t i = 0; i < sim->cfg.n_users; i++) {
		if (strcmp(sim->cfg.users[i].name, cn) == 0) {
			ret = (int)sim->cfg.users[i].role;
			break;
		}
	}
	pthread_mutex_unlock(&sim->lock);
	*user_out = TAKE_PTR(cn);
	return ret;
}

static int check_auth(struct sim *sim, struct MHD_Connection *con, struct req *r, char **user_out)
{
	char *pass = NULL;
	char *user = MHD_basic_auth_get_username_password(con, &pass);
	int ret = -EACCES;

	if (!user)
		return check_cert_auth(sim, con, user_out);
	*user_out = strdup(user);
	pthread_mutex_lock(&sim->lock);
	for (size_t i = 0; i < sim->cfg.n_users; i++) {
		struct sim_user *u = &sim->cfg.users[i];
		if (strcmp(u->name, user) == 0 && pass && strcmp(u->password, pass) == 0) {
			ret = (int)u->role;
			break;
		}
	}
	pthread_mutex_unlock(&sim->lock);
	MHD_free(user);
	MHD_free(pass);
	return ret;
}

/* The caller's address as text ("" when unknown); an IPv4-mapped IPv6 address as IPv4. */
static void peer_address(struct MHD_Connection *con, char *out, size_t size)
{
	const union MHD_ConnectionInfo *ci = MHD_get_connection_info(con, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
	const struct sockaddr *sa = ci ? ci->client_addr : NULL;
	socklen_t len = sa && sa->sa_family == AF_INET6 ? sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in);

	out[0] = '\0';
	if (!sa || getnameinfo(sa, len, out, (socklen_t)size, NULL, 0, NI_NUMERICHOST) != 0)
		out[0] = '\0';
	else if (strncmp(out, "::ffff:", 7) == 0 && strchr(out, '.'))
		memmove(out, out + 7, strlen(out + 7) + 1);
}

static enum MHD_Result handle(struct sim *sim, struct MHD_Connection *con, const char *url,
			      const char *method, struct conn *c)
{
	struct req r = { .sim = sim, .method = method, .path = url, .raw_uri = c->uri ? c->uri : url };
	_cleanup_free_ char *user = NULL;
	struct fault_decision fd = { 0 };
	enum MHD_Result mret;
	int auth;

	if (strcmp(method, "GET") == 0 || strcmp(method, "HEAD") == 0)
		r.m = M_GET;
	else if (strcmp(method, "POST") == 0)
		r.m = M_POST;
	else if (strcmp(method, "PATCH") == 0)
		r.m = M_PATCH;
	else if (strcmp(method, "DELETE") == 0)
		r.m = M_DELETE;
	r.query = json_object();
	MHD_get_connection_values(con, MHD_GET_ARGUMENT_KIND, collect_arg, r.query);

	if (c->len) {
		json_error_t jerr;
		r.body = json_loadb(c->body, c->len, 0, &jerr);
	}

	if (strncmp(url, "/sim/", 5) == 0) {
		/* the data-path access endpoint (access.c): no auth, not logged */
		char peer[64];
		json_t *resp = NULL;
		int status = 200;

		peer_address(con, peer, sizeof(peer));
		if (access_handle(sim, method, url, r.query, peer, &status, &resp) < 0 && !resp)
			resp = json_pack("{s:{s:s,s:s}}", "error", "message", "access error", "code", "2");
		req_reply(&r, status, resp ? resp : json_object());
		mret = send_json(con, &r);
		req_free(&r);
		return mret;
	}

	if (strncmp(url, "/_sim", 5) == 0) {
		const char *tok = MHD_lookup_connection_value(con, MHD_HEADER_KIND, "X-Sim-Token");

		if (sim->cfg.control_token && (!tok || strcmp(tok, sim->cfg.control_token) != 0))
			req_error(&r, 401, "6", "", "Bad or missing X-Sim-Token.");
		else if (c->len && !r.body)
			req_error(&r, 400, "262199", "", "Malformed JSON body.");
		else {
			json_t *resp = NULL;
			int status = 200;
			if (control_handle(sim, method, url, r.body, &status, &resp) < 0 && !resp)
				resp = json_pack("{s:{s:s,s:s}}", "error", "message", "control error",
						 "code", "2");
			req_reply(&r, status, resp ? resp : json_object());
		}
		mret = send_json(con, &r);
		req_free(&r);
		return mret;
	}

	auth = check_auth(sim, con, &r, &user);
	r.user = user;
	if (auth < 0) {
		req_error(&r, 401, "6", "", "Authentication failed.");
		goto reply;
	}
	if (c->too_large) {
		req_error(&r, 413, "262199", "", "Request body too large.");
		goto reply;
	}
	r.svm_hdr_name = MHD_lookup_connection_value(con, MHD_HEADER_KIND, "X-Dot-SVM-Name");
	r.svm_hdr_uuid = MHD_lookup_connection_value(con, MHD_HEADER_KIND, "X-Dot-SVM-UUID");

	pthread_mutex_lock(&sim->lock);
	faults_check(sim, method, url, &fd);
	pthread_mutex_unlock(&sim->lock);
	if (fd.latency_ms > 0) {
		struct timespec ts = { fd.latency_ms / 1000, (fd.latency_ms % 1000) * 1000000 };
		while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
			;
	}
	if (fd.action == FA_DROP) {
		log_request(sim, con, &r, "drop");
		req_free(&r);
		return MHD_NO;
	}
	if (fd.action == FA_REPLY) {
		req_error(&r, fd.status, fd.code, fd.target, "%s", fd.message);
		r.retry_after = fd.retry_after;
		goto reply;
	}
	if (auth == ROLE_READONLY && r.m != M_GET) {
		req_error(&r, 403, "6", "", "User is not authorized.");
		goto reply;
	}
	if (auth == ROLE_VSADMIN &&
	    (strcmp(url, "/api/cluster") == 0 || strncmp(url, "/api/storage/aggregates", 23) == 0)) {
		req_error(&r, 403, "6", "", "User is not authorized.");
		goto reply;
	}
	if (c->len && !r.body) {
		req_error(&r, 400, "262199", "", "The JSON body of the request is malformed.");
		goto reply;
	}
	if (r.m == 0) {
		req_error(&r, 405, "3", "", "The method %s is not supported.", method);
		goto reply;
	}

	pthread_mutex_lock(&sim->lock);
	dispatch(&r);
	if (r.mutated) {
		int ret = state_persist(sim);
		if (ret < 0)
			fprintf(stderr, "ontap-sim: failed to persist state: %s\n", strerror(-ret));
		pthread_cond_broadcast(&sim->changed);
	}
	pthread_mutex_unlock(&sim->lock);

	if (fd.action == FA_DROP_AFTER) {
		log_request(sim, con, &r, "drop_after");
		req_free(&r);
		return MHD_NO;
	}
reply:
	/* logged before the answer leaves, so a test that got the answer also finds the line */
	log_request(sim, con, &r, fd.name);
	mret = send_json(con, &r);
	req_free(&r);
	return mret;
}

static enum MHD_Result on_access(void *cls, struct MHD_Connection *con, const char *url,
				 const char *method, const char *version, const char *upload_data,
				 size_t *upload_data_size, void **con_cls)
{
	struct conn *c = *con_cls;

	if (!c) {
		c = calloc(1, sizeof(*c));
		if (!c)
			return MHD_NO;
		*con_cls = c;
	}
	if (!c->started) {
		c->started = true;
		return MHD_YES;
	}
	if (*upload_data_size) {
		if (c->len + *upload_data_size > MAX_BODY)
			c->too_large = true;
		else {
			char *nb = realloc(c->body, c->len + *upload_data_size + 1);
			if (!nb)
				return MHD_NO;
			memcpy(nb + c->len, upload_data, *upload_data_size);
			c->body = nb;
			c->len += *upload_data_size;
			c->body[c->len] = '\0';
		}
		*upload_data_size = 0;
		return MHD_YES;
	}
	return handle(cls, con, url, method, c);
}

static void mhd_log(void *cls, const char *fmt, va_list ap) __attribute__((format(printf, 2, 0)));
static void mhd_log(void *cls, const char *fmt, va_list ap)
{
	fputs("ontap-sim: mhd: ", stderr);
	vfprintf(stderr, fmt, ap);
}

int http_start(struct sim *sim, int listen_fd, const char *cert_pem, const char *key_pem,
	       const char *trust_pem, void **daemon_out)
{
	/* with a trust CA, MHD asks clients for a certificate (optional for them) */
	struct MHD_OptionItem trust[] = {
		{ trust_pem ? MHD_OPTION_HTTPS_MEM_TRUST : MHD_OPTION_END, 0, (void *)trust_pem },
		{ MHD_OPTION_END, 0, NULL },
	};
	struct MHD_Daemon *d;

	d = MHD_start_daemon(MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD |
				     MHD_USE_TLS | MHD_USE_ERROR_LOG,
			     0, NULL, NULL, on_access, sim,
			     MHD_OPTION_EXTERNAL_LOGGER, mhd_log, sim,
			     MHD_OPTION_LISTEN_SOCKET, listen_fd,
			     MHD_OPTION_HTTPS_MEM_CERT, cert_pem,
			     MHD_OPTION_HTTPS_MEM_KEY, key_pem,
			     MHD_OPTION_URI_LOG_CALLBACK, uri_logger, sim,
			     MHD_OPTION_NOTIFY_COMPLETED, on_completed, sim,
			     MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)120,
			     MHD_OPTION_ARRAY, trust,
			     MHD_OPTION_END);
	if (!d)
		return -EIO;
	*daemon_out = d;
	return 0;
}

void http_stop(void *daemon)
{
	if (daemon)
		MHD_stop_daemon(daemon);
}
