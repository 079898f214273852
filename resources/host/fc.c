/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Fibre Channel attach, the real backend: the fabric and zoning are given (the leader only
 * maps the LUN to the node's igroup of WWPNs), so attaching is making the kernel see the LUN
 * and dm-multipath assemble it.
 *
 * attach:
 *   the LUN's paths and map (blockdev.h: by VPD 0x80 serial). Already there (or paths without
 *   a map yet, or a conflict): no rescan, straight to the wait below.
 *   otherwise every FC HBA port that is Online (<sys>/class/fc_host/hostN/port_state) has its
 *   SCSI host scanned:   tee <sys>/class/scsi_host/hostN/scan <<< "- - -"
 *   (a child, not a worker thread: a scan blocks in the kernel for as long as the fabric makes
 *   it, and a child past its deadline is abandoned where a thread would be lost to the pool).
 *   No FC port at all: -ENODEV; none online: -ENETDOWN, naming each port's state.
 *   then the bounded wait for the map and its /dev/mapper node (multipath kicked once).
 *   done: 0 + "/dev/mapper/<name>".
 *
 * detach: multipath -f NAME (when the map exists), then each path deleted after checking it is
 *   not in use (tee <sys>/block/sdX/device/delete <<< 1), then a bounded wait until no disk
 *   carries the serial. Nothing there: succeeds ("not attached").
 *
 * probe: as for iSCSI (blockdev_scsi_probe).
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <syslog.h>

#include "blockdev.h"
#include "macros.h"
#include "runner.h"

struct fc_op {
	struct blockdev_op base;     /* first */
	char **hosts;                /* "host3", ...: the online FC ports to scan */
	size_t n_hosts;
	size_t cur;
	bool something;              /* detach: there was something to detach */
};

static struct fc_op *fop(struct blockdev_op *op)
{
	return (struct fc_op *)op;
}

static void fc_op_free(struct blockdev_op *op)
{
	struct fc_op *o = fop(op);

	bop_release(op);
	for (size_t i = 0; i < o->n_hosts; i++)
		free(o->hosts[i]);
	free(o->hosts);
	free(o);
}

static int fc_op_new(struct host_ctx *ctx, const struct host_target *t, host_done_fn done, void *userdata,
		     struct fc_op **out)
{
	struct fc_op *o;

	if (!ctx || !t || !done || !blockdev_valid_serial(t->lun_serial))
		return -EINVAL;
	o = calloc(1, sizeof *o);
	if (!o)
		return -ENOMEM;
	if (bop_init(&o->base, ctx, "fc", t->datastore, done, userdata, fc_op_free) < 0 ||
	    !(o->base.serial = strdup(t->lun_serial))) {
		fc_op_free(&o->base);
		return -ENOMEM;
	}
	*out = o;
	return 0;
}

static int fc_probe(struct host_ctx *ctx, const struct host_target *t, host_done_fn done, void *userdata)
{
	return blockdev_scsi_probe(ctx, t, "fc", done, userdata);
}

/* ---- attach ------------------------------------------------------------------------------------- */

/* The worker job listing the FC ports. */
struct hosts_job {
	char *sys_root;
	char **online;               /* out: hosts whose port is Online */
	size_t n_online;
	size_t n_ports;              /* out: every FC port */
	char *states;                /* out: "host3 Linkdown, host4 Offline" for a message */
};

static void hosts_job_free(void *arg)
{
	struct hosts_job *j = arg;

	free(j->sys_root);
	for (size_t i = 0; i < j->n_online; i++)
		free(j->online[i]);
	free(j->online);
	free(j->states);
	free(j);
}

static int hosts_job_run(void *arg)
{
	struct hosts_job *j = arg;
	char dir[PATH_MAX];
	DIR *d;
	struct dirent *de;
	int k = 0;

	if (snprintf(dir, sizeof dir, "%s/class/fc_host", j->sys_root) >= (int)sizeof dir)
		return -ENAMETOOLONG;
	d = opendir(dir);
	if (!d)
		return errno == ENOENT ? 0 : -errno;
	while ((de = readdir(d)) && k >= 0) {
		char path[PATH_MAX], state[64] = "";
		FILE *f;
		char *list = NULL;

		if (strncmp(de->d_name, "host", 4) != 0)
			continue;
		j->n_ports++;
		if (snprintf(path, sizeof path, "%s/%s/port_state", dir, de->d_name) < (int)sizeof path &&
		    (f = fopen(path, "re"))) {
			if (!fgets(state, sizeof state, f))
				state[0] = '\0';
			fclose(f);
			state[strcspn(state, "\n")] = '\0';
		}
		if (asprintf(&list, "%s%s%s %s", j->states ? j->states : "", j->states ? ", " : "", de->d_name,
			     state[0] ? state : "(no port_state)") < 0) {
			k = -ENOMEM;
			break;
		}
		free(j->states);
		j->states = list;
		/* No port_state (an old or odd driver): scanning does no harm. */
		if (state[0] && strcmp(state, "Online") != 0)
			continue;
		char **v = realloc(j->online, (j->n_online + 1) * sizeof *v);
		if (!v || !(v[j->n_online] = strdup(de->d_name))) {
			if (v)
				j->online = v;
			k = -ENOMEM;
			break;
		}
		j->online = v;
		j->n_online++;
	}
	closedir(d);
	return k;
}

static void attach_waited(struct blockdev_op *op, int r)
{
	bop_finish(op, r);
}

static void attach_wait(struct fc_op *o)
{
	int k = blockdev_scsi_wait(&o->base, attach_waited);

	if (k < 0)
		bop_finish(&o->base, k);
}

static void scan_next(struct fc_op *o);

static void scanned(struct blockdev_op *op, struct runner_result *res)
{
	struct fc_op *o = fop(op);

	if (!runner_result_ok(res)) {
		bop_finish(op, bop_tool_error(op, res, -EIO));
		return;
	}
	o->cur++;
	scan_next(o);
}

static void scan_next(struct fc_op *o)
{
	_cleanup_free_ char *scan = NULL;
	int k;

	if (o->cur >= o->n_hosts) {
		attach_wait(o);
		return;
	}
	if (asprintf(&scan, "%s/class/scsi_host/%s/scan", o->base.ctx->sys_root, o->hosts[o->cur]) < 0) {
		scan = NULL;
		bop_fail(&o->base, -ENOMEM, "out of memory");
		return;
	}
	bop_log(&o->base, LOG_DEBUG, "scanning SCSI host %s", o->hosts[o->cur]);
	/* "- - -": every channel, target and LUN. */
	k = bop_run(&o->base, (const char *const[]){ "tee", scan, NULL }, "- - -\n", scanned);
	if (k < 0)
		bop_finish(&o->base, k);
}

static void hosts_listed(struct blockdev_op *op, int r, void *arg)
{
	struct fc_op *o = fop(op);
	struct hosts_job *j = arg;

	if (r < 0) {
		bop_fail(op, r, "listing the Fibre Channel ports in %s/class/fc_host: %s", op->ctx->sys_root,
			 r == -ETIMEDOUT ? "the worker did not answer in time" : strerror(-r));
		return;
	}
	if (!j->n_ports) {
		bop_fail(op, -ENODEV, "this host has no Fibre Channel port (%s/class/fc_host is empty)", op->ctx->sys_root);
		return;
	}
	if (!j->n_online) {
		bop_fail(op, -ENETDOWN, "no Fibre Channel port is online (%s)", j->states ? j->states : "?");
		return;
	}
	o->hosts = TAKE_PTR(j->online);
	o->n_hosts = j->n_online;
	j->n_online = 0;
	o->cur = 0;
	scan_next(o);
}

static void attach_looked(struct blockdev_op *op, int r)
{
	struct fc_op *o = fop(op);
	const struct blockdev_scsi *s = &op->scsi;
	struct hosts_job *j;
	int k;

	if (r < 0) {
		bop_finish(op, r);
		return;
	}
	if (s->n_paths || s->conflict) {
		/* The LUN is seen: whatever is missing (the map) comes from multipath, not a rescan. */
		attach_wait(o);
		return;
	}
	j = calloc(1, sizeof *j);
	if (!j || !(j->sys_root = strdup(op->ctx->sys_root))) {
		free(j);
		bop_fail(op, -ENOMEM, "out of memory");
		return;
	}
	k = bop_work(op, hosts_job_run, j, hosts_job_free, hosts_listed);
	if (k < 0) {
		hosts_job_free(j);
		bop_finish(op, k);
	}
}

static int fc_attach(struct host_ctx *ctx, const struct host_target *t, host_done_fn done, void *userdata)
{
	struct fc_op *o;
	int k = fc_op_new(ctx, t, done, userdata, &o);

	if (k < 0)
		return k;
	k = blockdev_scsi_lookup(&o->base, false, attach_looked);
	if (k < 0)
		fc_op_free(&o->base);
	return k;
}

/* ---- detach ------------------------------------------------------------------------------------- */

static void detach_gone(struct blockdev_op *op, int r)
{
	struct fc_op *o = fop(op);

	if (r < 0) {
		bop_finish(op, r);
		return;
	}
	free(op->result);
	op->result = strdup(o->something ? "detached" : "not attached");
	bop_finish(op, 0);
}

static void detach_removed(struct blockdev_op *op, int r)
{
	int k;

	if (r < 0) {
		bop_finish(op, r);
		return;
	}
	k = blockdev_scsi_wait_gone(op, detach_gone);
	if (k < 0)
		bop_finish(op, k);
}

static void detach_looked(struct blockdev_op *op, int r)
{
	struct fc_op *o = fop(op);
	int k;

	if (r < 0) {
		bop_finish(op, r);
		return;
	}
	o->something = op->scsi.n_paths > 0;
	k = blockdev_scsi_remove(op, true, detach_removed);
	if (k < 0)
		bop_finish(op, k);
}

static int fc_detach(struct host_ctx *ctx, const struct host_target *t, host_done_fn done, void *userdata)
{
	struct fc_op *o;
	int k = fc_op_new(ctx, t, done, userdata, &o);

	if (k < 0)
		return k;
	k = blockdev_scsi_lookup(&o->base, false, detach_looked);
	if (k < 0)
		fc_op_free(&o->base);
	return k;
}

const struct host_attach_ops host_attach_fc = {
	.name = "fc",
	.probe = fc_probe,
	.attach = fc_attach,
	.detach = fc_detach,
};
