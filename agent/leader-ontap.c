/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "leader-ontap.h"
#include "macros.h"
#include "resources/ontap/ontap-client.h"
#include "resources/ontap/ontap.h"

struct leader_ontap {
	struct ontap_client *client; /* owned */
	struct klog *log;            /* borrowed */
	char *address, *svm;         /* owned copies for status */
	uint64_t epoch;              /* leadership the client acts under; 0 = none */
	char version[128];           /* "" until discovered under some leadership */
	char last_error[512];
};

static void on_client_log(void *userdata, int level, const char *text)
{
	struct leader_ontap *l = userdata;
	klog(l->log, level, "ONTAP: %s", text);
}

static void on_discovered(void *userdata, int r, const struct ontap_object *obj, const struct ontap_error *err)
{
	struct leader_ontap *l = userdata;
	const struct ontap_version *v = ontap_client_version(l->client);
	char buf[512];

	if (r == -ECANCELED)
		return;
	if (r < 0) {
		snprintf(l->last_error, sizeof(l->last_error), "%s", ontap_error_format(err, buf, sizeof(buf)));
		klog(l->log, LOG_ERR, "Leader cannot reach ONTAP at %s: %s", l->address, l->last_error);
		return;
	}
	l->last_error[0] = 0;
	snprintf(l->version, sizeof(l->version), "%d.%d.%d", v->generation, v->major, v->minor);
	klog(l->log, LOG_NOTICE, "Leader (epoch %" PRIu64 ") reached ONTAP at %s: %s, SVM %s", l->epoch, l->address,
	     v->full, l->svm);
}

int leader_ontap_new(struct leader_ontap **out, sd_event *event, const struct ontap_options *opts,
		     const char *node_name, struct klog *log, char **error)
{
	struct leader_ontap *l;
	struct ontap_error err = { 0 };
	char buf[512];
	int r;

	*out = NULL;
	if (!opts->address || !*opts->address)
		return 0;
	l = calloc(1, sizeof(*l));
	if (!l)
		return -ENOMEM;
	l->log = log;
	l->address = strdup(opts->address);
	l->svm = strdup(opts->svm ? opts->svm : "");
	r = ontap_client_new(&l->client, event, opts, node_name, &err);
	if (r < 0) {
		if (asprintf(error, "%s", ontap_error_format(&err, buf, sizeof(buf))) < 0)
			*error = NULL;
		ontap_error_clear(&err);
		leader_ontap_free(l);
		return r;
	}
	ontap_client_set_log(l->client, on_client_log, l);
	/* No leadership yet: every mutation would be refused with -ESTALE. */
	ontap_client_set_epoch(l->client, 0, false);
	*out = l;
	return 0;
}

void leader_ontap_free(struct leader_ontap *l)
{
	if (!l)
		return;
	ontap_client_free(l->client);
	free(l->address);
	free(l->svm);
	free(l);
}

void leader_ontap_role(struct leader_ontap *l, bool is_leader, uint64_t epoch)
{
	int r;

	if (!l)
		return;
	l->epoch = is_leader ? epoch : 0;
	/* Cancels queued and in-flight mutations of an older leadership before anything new goes. */
	ontap_client_set_epoch(l->client, epoch, is_leader);
	if (!is_leader)
		return;
	r = ontap_cluster_discover(l->client, on_discovered, l);
	if (r < 0)
		klog(l->log, LOG_ERR, "Leader cannot start talking to ONTAP at %s: %s", l->address, strerror(-r));
}

json_t *leader_ontap_status(const struct leader_ontap *l)
{
	if (!l)
		return NULL;
	return json_pack("{sssssIss?ss?}", "address", l->address, "svm", l->svm, "leader_epoch", (json_int_t)l->epoch,
			 "version", l->version[0] ? l->version : NULL,
			 "last_error", l->last_error[0] ? l->last_error : NULL);
}
