/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Helpers for tests and the benchmark that drive the ONTAP client against tests/ontap-sim:
 * start the simulator on a free port with a generated certificate in a temp dir, talk to its
 * /_sim control endpoint, and wait for typed operations on an sd-event loop.
 *
 * Header-only (static functions) so both tests/ and bench/ can include it without a library.
 */
#pragma once

#include <curl/curl.h>
#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "macros.h"
#include "ontap.h"
#include "ontap-op.h"   /* jget/jstring/jbool for reading records */
#include "ontap-test.h"

struct sim {
	long log_mark;          /* sim_log_count() looks only past this offset */
	pid_t pid;
	int port;
	char dir[128];
	char cert[256], log[256], creds[256], token[32];
	char address[64];
};

static inline const char *sim_binary(void)
{
	const char *p = getenv("ONTAP_SIM");

	if (p && access(p, X_OK) == 0)
		return p;
	if (access("build/tests/ontap-sim/ontap-sim", X_OK) == 0)
		return "build/tests/ontap-sim/ontap-sim";
	return NULL;
}

static inline void sim_write_file(const char *path, const char *text, mode_t mode)
{
	FILE *f = fopen(path, "w");

	if (!f) {
		perror(path);
		exit(1);
	}
	fputs(text, f);
	fclose(f);
	chmod(path, mode);
}

/* Starts the simulator; extra args (NULL-terminated) are appended. 0, or 77-worthy -ENOENT. */
static inline int sim_start(struct sim *s, const char *const *extra)
{
	const char *bin = sim_binary();
	char portfile[256], line[256];
	const char *argv[64];
	int n = 0, pipefd[2];
	FILE *f;

	if (!bin)
		return -ENOENT;
	memset(s, 0, sizeof *s);
	snprintf(s->dir, sizeof s->dir, "/tmp/ontap-test.XXXXXX");
	if (!mkdtemp(s->dir))
		return -errno;
	snprintf(s->cert, sizeof s->cert, "%s/cert.pem", s->dir);
	snprintf(s->log, sizeof s->log, "%s/requests.log", s->dir);
	snprintf(s->creds, sizeof s->creds, "%s/credentials", s->dir);
	snprintf(portfile, sizeof portfile, "%s/port", s->dir);
	snprintf(s->token, sizeof s->token, "tok%d", (int) getpid());
	sim_write_file(s->creds, "username=admin\npassword=netapp1!\n", 0600);

	argv[n++] = bin;
	argv[n++] = "--listen"; argv[n++] = "127.0.0.1:0";
	argv[n++] = "--port-file"; argv[n++] = portfile;
	argv[n++] = "--tls-cert-out"; argv[n++] = s->cert;
	argv[n++] = "--user"; argv[n++] = "admin:netapp1!";
	argv[n++] = "--user"; argv[n++] = "viewer:view1:readonly";
	argv[n++] = "--request-log"; argv[n++] = s->log;
	argv[n++] = "--control-token"; argv[n++] = s->token;
	for (size_t i = 0; extra && extra[i] && n < 62; i++)
		argv[n++] = extra[i];
	argv[n] = NULL;

	if (pipe(pipefd) < 0)
		return -errno;
	s->pid = fork();
	if (s->pid < 0)
		return -errno;
	if (s->pid == 0) {
		dup2(pipefd[1], 1);
		close(pipefd[0]);
		close(pipefd[1]);
		execv(bin, (char *const *) argv);
		_exit(127);
	}
	close(pipefd[1]);
	f = fdopen(pipefd[0], "r");
	if (!f || !fgets(line, sizeof line, f) || !strstr(line, "listening")) {
		fprintf(stderr, "ontap-sim did not start\n");
		if (f)
			fclose(f);
		kill(s->pid, SIGTERM);
		waitpid(s->pid, NULL, 0);
		return -EIO;
	}
	fclose(f);
	f = fopen(portfile, "r");
	if (!f || fscanf(f, "%d", &s->port) != 1) {
		if (f)
			fclose(f);
		return -EIO;
	}
	fclose(f);
	snprintf(s->address, sizeof s->address, "127.0.0.1:%d", s->port);
	return 0;
}

static inline void sim_stop(struct sim *s)
{
	char cmd[256];

	if (s->pid > 0) {
		kill(s->pid, SIGTERM);
		waitpid(s->pid, NULL, 0);
		s->pid = 0;
	}
	if (s->dir[0] && !getenv("ONTAP_TEST_KEEP")) {
		snprintf(cmd, sizeof cmd, "rm -rf '%s'", s->dir);
		(void) !system(cmd);
	}
}

static size_t sim_sink(char *p, size_t sz, size_t n, void *ud)
{
	return sz * n;
}

/* Blocking control call (test setup only, outside the loop). Returns the HTTP status. */
static inline long sim_control(struct sim *s, const char *method, const char *path, const char *body)
{
	CURL *e = curl_easy_init();
	struct curl_slist *h = NULL;
	char url[256], tok[64];
	long status = 0;

	snprintf(url, sizeof url, "https://%s%s", s->address, path);
	snprintf(tok, sizeof tok, "X-Sim-Token: %s", s->token);
	h = curl_slist_append(h, tok);
	h = curl_slist_append(h, "Content-Type: application/json");
	curl_easy_setopt(e, CURLOPT_URL, url);
	curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, method);
	curl_easy_setopt(e, CURLOPT_HTTPHEADER, h);
	curl_easy_setopt(e, CURLOPT_CAINFO, s->cert);
	curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, sim_sink);
	if (body)
		curl_easy_setopt(e, CURLOPT_POSTFIELDS, body);
	if (curl_easy_perform(e) == CURLE_OK)
		curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &status);
	curl_slist_free_all(h);
	curl_easy_cleanup(e);
	return status;
}

static inline long sim_fault(struct sim *s, const char *json)
{
	return sim_control(s, "POST", "/_sim/faults", json);
}

static inline void sim_options(struct sim *s, struct ontap_options *o)
{
	ontap_options_clear(o);
	o->address = strdup(s->address);
	o->svm = strdup("svm1");
	o->credentials_file = strdup(s->creds);
	o->ca_file = strdup(s->cert);
	o->request_timeout_ms = 10000;
	o->job_timeout_ms = 20000;
}

/* From now on sim_log_count() ignores what is already in the request log. */
static inline void sim_log_mark(struct sim *s)
{
	struct stat st;

	s->log_mark = stat(s->log, &st) == 0 ? (long) st.st_size : 0;
}

/* Counts request-log lines (past the mark) containing all of the given substrings. */
static inline int sim_log_count(struct sim *s, const char *a, const char *b)
{
	char line[4096];
	int n = 0;
	FILE *f = fopen(s->log, "r");

	if (!f)
		return -1;
	fseek(f, s->log_mark, SEEK_SET);
	while (fgets(line, sizeof line, f))
		if (strstr(line, a) && (!b || strstr(line, b)))
			n++;
	fclose(f);
	return n;
}

/* The line number (from 1, past the mark) of the first request-log line holding both, 0 if none. */
static inline int sim_log_line(struct sim *s, const char *a, const char *b)
{
	char line[4096];
	int n = 0, at = 0;
	FILE *f = fopen(s->log, "r");

	if (!f)
		return 0;
	fseek(f, s->log_mark, SEEK_SET);
	while (!at && fgets(line, sizeof line, f))
		if (++n && strstr(line, a) && (!b || strstr(line, b)))
			at = n;
	fclose(f);
	return at;
}

/* ---------------------------------------------------------------- waiting for operations */

struct wait {
	bool done;
	int r;
	json_t *rec;              /* owned copy */
	char uuid[64], name[256], serial[128], state[64];
	uint64_t size;
	int64_t number;
	bool adopted;
	struct ontap_error err;
};

static void wait_done(void *userdata, int r, const struct ontap_object *o, const struct ontap_error *e)
{
	struct wait *w = userdata;

	w->done = true;
	w->r = r;
	if (o) {
		if (o->record)
			w->rec = json_deep_copy(o->record);
		snprintf(w->uuid, sizeof w->uuid, "%s", o->uuid ?: "");
		snprintf(w->name, sizeof w->name, "%s", o->name ?: "");
		snprintf(w->serial, sizeof w->serial, "%s", o->serial ?: "");
		snprintf(w->state, sizeof w->state, "%s", o->state ?: "");
		w->size = o->size;
		w->number = o->number;
		w->adopted = o->adopted;
	}
	if (e)
		ontap_error_copy(&w->err, e);
}

static inline void wait_reset(struct wait *w)
{
	json_decref(w->rec);
	ontap_error_clear(&w->err);
	memset(w, 0, sizeof *w);
}

static inline int wait_run(sd_event *ev, struct wait *w, int start_r)
{
	if (start_r < 0) {
		w->done = true;
		w->r = start_r;
		return start_r;
	}
	while (!w->done)
		if (sd_event_run(ev, UINT64_MAX) < 0)
			return -EIO;
	return w->r;
}

static inline uint64_t now_usec(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t) ts.tv_sec * 1000000ULL + (uint64_t) ts.tv_nsec / 1000;
}
