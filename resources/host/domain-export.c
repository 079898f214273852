/* SPDX-License-Identifier: GPL-2.0-or-later */
/* An existing libvirt domain's definition (domain-export.h). */
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "domain-export.h"
#include "fs-common.h"
#include "macros.h"
#include "virt-common.h"

#define DEFAULT_URI "qemu:///system"

#ifdef HAVE_LIBVIRT

/* The job on a worker thread; owned by the pool while queued or running. */
struct xjob {
	char *uri, *name; /* inputs, owned */
	char *xml;        /* the result, owned */
	char *detail;     /* why not, owned */
};

static void xjob_free(void *arg)
{
	struct xjob *j = arg;

	if (!j)
		return;
	free(j->uri);
	free(j->name);
	free(j->xml);
	free(j->detail);
	free(j);
}

static int export_job(void *arg)
{
	struct xjob *j = arg;
	virConnectPtr c;
	virDomainPtr d;
	int r = host_virt_init();

	if (r < 0) {
		j->detail = strdup("virInitialize failed");
		return r;
	}
	c = virConnectOpenReadOnly(j->uri);
	if (!c)
		return host_virt_error("connect", &j->detail);
	d = virDomainLookupByName(c, j->name);
	if (!d) {
		r = host_virt_error("lookup", &j->detail);
	} else {
		char *x = virDomainGetXMLDesc(d, VIR_DOMAIN_XML_INACTIVE);
		if (!x)
			r = host_virt_error("dumpxml", &j->detail);
		else
			j->xml = x; /* libvirt's malloc: free() releases it */
		virDomainFree(d);
	}
	virConnectClose(c);
	return r;
}

static void export_done(struct hop *op, int r, void *arg)
{
	struct xjob *j = arg;

	if (!j)
		hop_finish(op, r, "libvirt did not answer within the step deadline");
	else if (r < 0)
		hop_finish(op, r, "%s", j->detail ? j->detail : strerror(-r));
	else
		hop_finish(op, 0, "%s", j->xml ? j->xml : "");
}

int host_domain_export(struct host_ctx *ctx, const char *name, host_done_fn done, void *userdata)
{
	struct hop *op;
	struct xjob *j;

	if (!ctx || !name || !done)
		return -EINVAL;
	op = hop_new(sizeof(*op), ctx, done, userdata, NULL);
	if (!op)
		return -ENOMEM;
	j = calloc(1, sizeof(*j));
	if (j) {
		j->uri = strdup(ctx->libvirt_uri ? ctx->libvirt_uri : DEFAULT_URI);
		j->name = strdup(name);
	}
	if (!j || !j->uri || !j->name) {
		xjob_free(j);
		hop_free(op);
		return -ENOMEM;
	}
	hop_work(op, export_job, j, xjob_free, export_done);
	return 0;
}

#else /* !HAVE_LIBVIRT */

int host_domain_export(struct host_ctx *ctx, const char *name, host_done_fn done, void *userdata)
{
	if (!ctx || !name || !done)
		return -EINVAL;
	return hop_fail_later(ctx, done, userdata, -EOPNOTSUPP, "kvmcd was built without libvirt: it cannot read domain %s",
			      name);
}

#endif
