/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * NVMe/TCP attach, the real backend, with nvme-cli and the kernel's native NVMe multipath.
 *
 * nvme-cli through the runner, not libnvme on the worker pool, deliberately:
 *  - a connect can sit in the kernel for a long time (a dead portal, a hung target): a child past
 *    its deadline gets TERM, KILL and is abandoned by the runner without holding anything, while
 *    a libnvme call on a worker thread cannot be interrupted and loses that thread to the pool;
 *  - the unit tests use the runner's argv capture with nvme-cli's real output, as for iscsiadm;
 *  - libnvme would buy structured results we do not need: what is connected and which namespace
 *    has the UUID are read from sysfs anyway (it is where libnvme reads them too), so nvme-cli's
 *    output is never parsed; only its exit status and message are used;
 *  - nvme-cli is in the full-stack image already; libnvme-dev would be one more build dependency.
 *
 * No discovery (nvme discover / connect-all): the leader's records carry the subsystem NQN and
 * every data LIF; discovery would only re-derive them, and connect-all would attach subsystems
 * kvmcd was not asked for.
 *
 * attach, for the subsystem NQN, its portals ("ip:4420", every data LIF) and the namespace UUID:
 *   sysfs: the controllers whose subsysnqn is the NQN (<sys>/class/nvme/nvmeX: transport,
 *   address "traddr=…,trsvcid=…", state) and the namespace whose uuid (or wwid "uuid.<uuid>") is
 *   the UUID, case-insensitively, skipping the hidden per-path disks nvmeXcYnZ.
 *   for every portal without a controller that is there or coming back (any state but
 *   "deleting" / "dead"):   nvme connect -t tcp -a ADDR -s PORT -n NQN
 *   ("already connected" / EALREADY counts as success; a failed portal does not stop the others,
 *   the attach then fails with the first failure once all were tried)
 *   the namespace not there yet while controllers existed before: nvme ns-rescan <dev>/nvmeX
 *   (each such controller, once), then a bounded wait on timers for the namespace and its node.
 *   done: 0 + "<dev>/nvmeXnY" (the multipath head; a UUID on two heads means native multipath
 *   is off: refused, -EEXIST).
 *
 * detach: ONE subsystem carries every datastore's namespace (coord/decide/datastore-plan.h), so
 *   `nvme disconnect -n NQN` cuts them all. It runs only when the subsystem shows no other
 *   namespace; otherwise the connections stay and the namespace goes away when the leader
 *   unmaps it (done says so). Before disconnecting, the namespace must not be in use (holders,
 *   or an exclusive open: mounted) -> -EBUSY. Then a bounded wait until no controller of the
 *   NQN remains. Nothing connected: succeeds ("not attached").
 *
 * probe: sysfs only: 0 + "<dev>/nvmeXnY" when the namespace and its node are there.
 *
 * The controllers keep nvme-cli's defaults (ctrl_loss_tmo 600 s, reconnect_delay 10 s): queueing
 * I/O while a path is lost is what the fencing design expects (notes/fullstack-fencing.md).
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>

#include "blockdev.h"
#include "macros.h"
#include "runner.h"

struct nvme_portal {
	char addr[64];
	char port[8];
	char *text;                  /* "10.0.0.5:4420" for messages */
	bool have_ctrl;              /* a usable controller goes there */
};

enum nvme_kind { NVME_PROBE, NVME_ATTACH, NVME_DETACH };

struct nvme_op {
	struct blockdev_op base;     /* first */
	enum nvme_kind kind;
	char *nqn;
	char *uuid;
	struct nvme_portal *portals;
	size_t n_portals;
	size_t cur;
	struct blockdev_nvme st;     /* the last lookup */
	char **rescan;               /* controllers that existed before the attach */
	size_t n_rescan;
	int first_r;
	char *first_error;
	unsigned n_failed;
	uint64_t deadline;
};

static struct nvme_op *nop(struct blockdev_op *op)
{
	return (struct nvme_op *)op;
}

static void nvme_op_free(struct blockdev_op *op)
{
	struct nvme_op *o = nop(op);

	bop_release(op);
	free(o->nqn);
	free(o->uuid);
	for (size_t i = 0; i < o->n_portals; i++)
		free(o->portals[i].text);
	free(o->portals);
	blockdev_nvme_clear(&o->st);
	for (size_t i = 0; i < o->n_rescan; i++)
		free(o->rescan[i]);
	free(o->rescan);
	free(o->first_error);
	free(o);
}

static bool valid_nqn(const char *s)
{
	size_t n = s ? strlen(s) : 0;

	if (n < 5 || n > 223 || strncmp(s, "nqn.", 4) != 0)
		return false;
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)s[i] < 0x21 || (unsigned char)s[i] > 0x7e)
			return false;
	return true;
}

/* 8-4-4-4-12 hex digits. */
static bool valid_uuid(const char *s)
{
	if (!s || strlen(s) != 36)
		return false;
	for (size_t i = 0; i < 36; i++) {
		bool dash = i == 8 || i == 13 || i == 18 || i == 23;

		if (dash ? s[i] != '-' : !((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f') ||
					   (s[i] >= 'A' && s[i] <= 'F')))
			return false;
	}
	return true;
}

static int nvme_op_new(struct host_ctx *ctx, const struct host_target *t, enum nvme_kind kind, host_done_fn done,
		       void *userdata, struct nvme_op **out)
{
	struct nvme_op *o;

	if (!ctx || !t || !done || !valid_nqn(t->subsystem_nqn) || !valid_uuid(t->ns_uuid))
		return -EINVAL;
	if (kind == NVME_ATTACH && (!t->n_portals || !t->portals))
		return -EINVAL;
	o = calloc(1, sizeof *o);
	if (!o)
		return -ENOMEM;
	o->kind = kind;
	if (bop_init(&o->base, ctx, "nvme-tcp", t->datastore, done, userdata, nvme_op_free) < 0 ||
	    !(o->nqn = strdup(t->subsystem_nqn)) || !(o->uuid = strdup(t->ns_uuid)))
		goto oom;
	if (kind == NVME_ATTACH) {
		o->portals = calloc(t->n_portals, sizeof *o->portals);
		if (!o->portals)
			goto oom;
		o->n_portals = t->n_portals;
		for (size_t i = 0; i < t->n_portals; i++) {
			struct nvme_portal *p = &o->portals[i];
			unsigned port;

			if (blockdev_portal_parse(t->portals[i], 4420, p->addr, sizeof p->addr, &port) < 0) {
				nvme_op_free(&o->base);
				return -EINVAL;
			}
			snprintf(p->port, sizeof p->port, "%u", port);
			if (asprintf(&p->text, strchr(p->addr, ':') ? "[%s]:%s" : "%s:%s", p->addr, p->port) < 0) {
				p->text = NULL;
				goto oom;
			}
		}
	}
	*out = o;
	return 0;
oom:
	nvme_op_free(&o->base);
	return -ENOMEM;
}

static int set_err(struct blockdev_op *op, int r, const char *fmt, ...) _printf_(3, 4);
static int set_err(struct blockdev_op *op, int r, const char *fmt, ...)
{
	va_list ap;
	char *text = NULL;

	va_start(ap, fmt);
	if (vasprintf(&text, fmt, ap) < 0)
		text = NULL;
	va_end(ap);
	free(op->error);
	op->error = text;
	return r;
}

/* nvme-cli reports failures as text (its exit statuses differ between versions): the one
 * translation into an errno. */
static int nvme_cli_errno(const char *msg)
{
	if (!msg)
		return -EIO;
	if (strstr(msg, "Connection refused"))
		return -ECONNREFUSED;
	if (strstr(msg, "No route to host") || strstr(msg, "Network is unreachable"))
		return -EHOSTUNREACH;
	if (strstr(msg, "timed out"))
		return -ETIMEDOUT;
	if (strstr(msg, "Permission denied") || strstr(msg, "not allowed"))
		return -EACCES;
	if (strstr(msg, "Invalid argument"))
		return -EINVAL;
	return -EIO;
}

static bool already_connected(const char *msg)
{
	return msg && (strstr(msg, "already connected") || strstr(msg, "Operation already in progress"));
}

/* ---- lookups ------------------------------------------------------------------------------------- */

struct nvme_job {
	char *sys_root, *dev_root, *nqn, *uuid;
	bool check_busy;
	struct blockdev_nvme found;
};

static void nvme_job_free(void *arg)
{
	struct nvme_job *j = arg;

	free(j->sys_root);
	free(j->dev_root);
	free(j->nqn);
	free(j->uuid);
	blockdev_nvme_clear(&j->found);
	free(j);
}

static int nvme_job_run(void *arg)
{
	struct nvme_job *j = arg;

	return blockdev_nvme_find(j->sys_root, j->dev_root, j->nqn, j->uuid, j->check_busy, &j->found);
}

static void nvme_looked_up(struct blockdev_op *op, int r, void *arg)
{
	struct nvme_op *o = nop(op);
	struct nvme_job *j = arg;
	bop_next_fn next = op->lookup_next;

	if (r < 0) {
		set_err(op, r, "looking for subsystem %s and namespace %s in %s: %s", o->nqn, o->uuid, op->ctx->sys_root,
			r == -ETIMEDOUT ? "the worker did not answer in time" : strerror(-r));
		next(op, r);
		return;
	}
	blockdev_nvme_clear(&o->st);
	o->st = j->found;
	j->found = (struct blockdev_nvme){ 0 };
	next(op, 0);
}

static int nvme_lookup(struct nvme_op *o, bool check_busy, bop_next_fn next)
{
	struct host_ctx *ctx = o->base.ctx;
	struct nvme_job *j = calloc(1, sizeof *j);
	int k;

	if (!j || !(j->sys_root = strdup(ctx->sys_root)) || !(j->dev_root = strdup(ctx->dev_root)) ||
	    !(j->nqn = strdup(o->nqn)) || !(j->uuid = strdup(o->uuid))) {
		if (j)
			nvme_job_free(j);
		return set_err(&o->base, -ENOMEM, "out of memory");
	}
	j->check_busy = check_busy;
	o->base.lookup_next = next;
	k = bop_work(&o->base, nvme_job_run, j, nvme_job_free, nvme_looked_up);
	if (k < 0)
		nvme_job_free(j);
	return k;
}

/* "nvme0 live 10.0.0.5:4420, nvme1 connecting 10.0.1.5:4420" (owned; "none"). */
static char *ctrl_list(const struct blockdev_nvme *st)
{
	char *text = strdup(st->n_ctrls ? "" : "none");

	for (size_t i = 0; text && i < st->n_ctrls; i++) {
		const struct blockdev_nvme_ctrl *c = &st->ctrls[i];
		char *n = NULL;

		if (asprintf(&n, "%s%s%s %s %s:%s", text, i ? ", " : "", c->name, c->state[0] ? c->state : "?",
			     c->traddr[0] ? c->traddr : "?", c->trsvcid[0] ? c->trsvcid : "?") < 0)
			n = NULL;
		free(text);
		text = n;
	}
	return text;
}

static char *ns_path(struct nvme_op *o)
{
	return blockdev_path(o->base.ctx->dev_root, o->st.ns);
}

/* ---- probe --------------------------------------------------------------------------------------- */

static void probe_looked(struct blockdev_op *op, int r)
{
	struct nvme_op *o = nop(op);

	if (r < 0) {
		bop_finish(op, r);
		return;
	}
	if (o->st.conflict) {
		bop_fail(op, -EEXIST, "%s", o->st.conflict);
		return;
	}
	if (o->st.ns[0] && o->st.ns_node) {
		op->result = ns_path(o);
		if (!op->result) {
			bop_fail(op, -ENOMEM, "out of memory");
			return;
		}
		bop_finish(op, 0);
		return;
	}
	if (o->st.ns[0])
		bop_fail(op, -ENOENT, "namespace %s is %s, but %s/%s does not exist", o->uuid, o->st.ns, op->ctx->dev_root,
			 o->st.ns);
	else if (o->st.n_ctrls)
		bop_fail(op, -ENOENT, "subsystem %s is connected, but no namespace has uuid %s", o->nqn, o->uuid);
	else
		bop_fail(op, -ENOENT, "not attached: no controller of subsystem %s", o->nqn);
}

static int nvme_probe(struct host_ctx *ctx, const struct host_target *t, host_done_fn done, void *userdata)
{
	struct nvme_op *o;
	int k = nvme_op_new(ctx, t, NVME_PROBE, done, userdata, &o);

	if (k < 0)
		return k;
	k = nvme_lookup(o, false, probe_looked);
	if (k < 0)
		nvme_op_free(&o->base);
	return k;
}

/* ---- attach -------------------------------------------------------------------------------------- */

static void wait_poll(struct blockdev_op *op, int r);

static void wait_looked(struct blockdev_op *op, int r)
{
	struct nvme_op *o = nop(op);
	int k;

	if (r < 0) {
		bop_finish(op, r);
		return;
	}
	if (o->st.conflict) {
		bop_fail(op, -EEXIST, "%s", o->st.conflict);
		return;
	}
	if (o->st.ns[0] && o->st.ns_node) {
		op->result = ns_path(o);
		if (!op->result) {
			bop_fail(op, -ENOMEM, "out of memory");
			return;
		}
		bop_finish(op, 0);
		return;
	}
	if (bop_now(op) >= o->deadline) {
		_cleanup_free_ char *ctrls = ctrl_list(&o->st);
		double secs = (double)blockdev_device_wait(op->ctx) / 1e6;

		if (o->st.ns[0])
			bop_fail(op, -ETIMEDOUT, "namespace %s is %s, but %s/%s did not appear within %.1f s (udev?)",
				 o->uuid, o->st.ns, op->ctx->dev_root, o->st.ns, secs);
		else
			bop_fail(op, -ETIMEDOUT,
				 "no namespace with uuid %s appeared in subsystem %s within %.1f s (controllers: %s)",
				 o->uuid, o->nqn, secs, ctrls ? ctrls : "?");
		return;
	}
	k = bop_after(op, BLOCKDEV_POLL_USEC, wait_poll);
	if (k < 0)
		bop_finish(op, k);
}

static void wait_poll(struct blockdev_op *op, int r)
{
	int k = nvme_lookup(nop(op), false, wait_looked);

	if (k < 0)
		bop_finish(op, k);
}

static void attach_wait(struct nvme_op *o)
{
	int k;

	o->deadline = bop_now(&o->base) + blockdev_device_wait(o->base.ctx);
	k = nvme_lookup(o, false, wait_looked);
	if (k < 0)
		bop_finish(&o->base, k);
}

static void rescan_next(struct nvme_op *o);

static void rescanned(struct blockdev_op *op, struct runner_result *res)
{
	struct nvme_op *o = nop(op);

	if (!runner_result_ok(res)) {
		_cleanup_free_ char *msg = bop_tool_text(res);

		bop_finish(op, bop_tool_error(op, res, nvme_cli_errno(msg)));
		return;
	}
	o->cur++;
	rescan_next(o);
}

static void rescan_next(struct nvme_op *o)
{
	_cleanup_free_ char *dev = NULL;
	int k;

	if (o->cur >= o->n_rescan) {
		attach_wait(o);
		return;
	}
	dev = blockdev_path(o->base.ctx->dev_root, o->rescan[o->cur]);
	if (!dev) {
		bop_fail(&o->base, -ENOMEM, "out of memory");
		return;
	}
	bop_log(&o->base, LOG_DEBUG, "rescanning the namespaces of %s", o->rescan[o->cur]);
	k = bop_run(&o->base, (const char *const[]){ "nvme", "ns-rescan", dev, NULL }, NULL, rescanned);
	if (k < 0)
		bop_finish(&o->base, k);
}

static void connected_looked(struct blockdev_op *op, int r)
{
	struct nvme_op *o = nop(op);

	if (r < 0) {
		bop_finish(op, r);
		return;
	}
	if ((o->st.ns[0] && o->st.ns_node) || o->st.conflict || !o->n_rescan) {
		attach_wait(o);
		return;
	}
	/* Controllers were there before and the namespace is not: ONTAP announces a new namespace
	 * with an AEN the kernel acts on, but a rescan costs nothing and does not depend on it. */
	o->cur = 0;
	rescan_next(o);
}

static void connect_next(struct nvme_op *o);

static void portal_failed(struct nvme_op *o, int r)
{
	bop_log(&o->base, LOG_WARNING, "portal %s: %s", o->portals[o->cur].text,
		o->base.error ? o->base.error : strerror(-r));
	if (!o->n_failed++) {
		o->first_r = r;
		free(o->first_error);
		o->first_error = TAKE_PTR(o->base.error);
	}
	free(o->base.error);
	o->base.error = NULL;
	o->cur++;
	connect_next(o);
}

static void connected(struct blockdev_op *op, struct runner_result *res)
{
	struct nvme_op *o = nop(op);
	_cleanup_free_ char *msg = bop_tool_text(res);

	if (!runner_result_ok(res) && !(!res->timed_out && already_connected(msg))) {
		portal_failed(o, bop_tool_error(op, res, nvme_cli_errno(msg)));
		return;
	}
	o->cur++;
	connect_next(o);
}

static void connect_next(struct nvme_op *o)
{
	struct nvme_portal *p;
	int k;

	while (o->cur < o->n_portals && o->portals[o->cur].have_ctrl)
		o->cur++;
	if (o->cur >= o->n_portals) {
		if (o->n_failed) {
			free(o->base.error);
			if (o->n_portals > 1) {
				if (asprintf(&o->base.error, "%s (%u of %zu portals failed)",
					     o->first_error ? o->first_error : "?", o->n_failed, o->n_portals) < 0)
					o->base.error = NULL;
			} else
				o->base.error = TAKE_PTR(o->first_error);
			bop_finish(&o->base, o->first_r);
			return;
		}
		k = nvme_lookup(o, false, connected_looked);
		if (k < 0)
			bop_finish(&o->base, k);
		return;
	}
	p = &o->portals[o->cur];
	bop_log(&o->base, LOG_DEBUG, "connecting to %s at %s", o->nqn, p->text);
	k = bop_run(&o->base, (const char *const[]){ "nvme", "connect", "-t", "tcp", "-a", p->addr, "-s", p->port,
						     "-n", o->nqn, NULL }, NULL, connected);
	if (k < 0)
		portal_failed(o, k);
}

static void attach_looked(struct blockdev_op *op, int r)
{
	struct nvme_op *o = nop(op);

	if (r < 0) {
		bop_finish(op, r);
		return;
	}
	if (o->st.conflict) {
		bop_fail(op, -EEXIST, "%s", o->st.conflict);
		return;
	}
	for (size_t i = 0; i < o->st.n_ctrls; i++) {
		const struct blockdev_nvme_ctrl *c = &o->st.ctrls[i];

		if (strcmp(c->transport, "tcp") != 0 || !blockdev_nvme_ctrl_usable(c))
			continue;
		for (size_t j = 0; j < o->n_portals; j++)
			if (strcmp(c->trsvcid, o->portals[j].port) == 0 && blockdev_addr_equal(c->traddr, o->portals[j].addr))
				o->portals[j].have_ctrl = true;
		char **v = realloc(o->rescan, (o->n_rescan + 1) * sizeof *v);
		if (!v || !(v[o->n_rescan] = strdup(c->name))) {
			if (v)
				o->rescan = v;
			bop_fail(op, -ENOMEM, "out of memory");
			return;
		}
		o->rescan = v;
		o->n_rescan++;
	}
	o->cur = 0;
	connect_next(o);
}

static int nvme_attach(struct host_ctx *ctx, const struct host_target *t, host_done_fn done, void *userdata)
{
	struct nvme_op *o;
	int k = nvme_op_new(ctx, t, NVME_ATTACH, done, userdata, &o);

	if (k < 0)
		return k;
	k = nvme_lookup(o, false, attach_looked);
	if (k < 0)
		nvme_op_free(&o->base);
	return k;
}

/* ---- detach -------------------------------------------------------------------------------------- */

static void gone_poll(struct blockdev_op *op, int r);

static void gone_looked(struct blockdev_op *op, int r)
{
	struct nvme_op *o = nop(op);
	int k;

	if (r < 0) {
		bop_finish(op, r);
		return;
	}
	if (!o->st.n_ctrls) {
		op->result = strdup("detached");
		bop_finish(op, 0);
		return;
	}
	if (bop_now(op) >= o->deadline) {
		_cleanup_free_ char *ctrls = ctrl_list(&o->st);

		bop_fail(op, -ETIMEDOUT, "subsystem %s still has controllers %.1f s after nvme disconnect: %s", o->nqn,
			 (double)blockdev_device_wait(op->ctx) / 1e6, ctrls ? ctrls : "?");
		return;
	}
	k = bop_after(op, BLOCKDEV_POLL_USEC, gone_poll);
	if (k < 0)
		bop_finish(op, k);
}

static void gone_poll(struct blockdev_op *op, int r)
{
	int k = nvme_lookup(nop(op), false, gone_looked);

	if (k < 0)
		bop_finish(op, k);
}

static void disconnected(struct blockdev_op *op, struct runner_result *res)
{
	struct nvme_op *o = nop(op);
	int k;

	if (!runner_result_ok(res)) {
		_cleanup_free_ char *msg = bop_tool_text(res);

		bop_finish(op, bop_tool_error(op, res, nvme_cli_errno(msg)));
		return;
	}
	o->deadline = bop_now(op) + blockdev_device_wait(op->ctx);
	k = nvme_lookup(o, false, gone_looked);
	if (k < 0)
		bop_finish(op, k);
}

static void detach_looked(struct blockdev_op *op, int r)
{
	struct nvme_op *o = nop(op);
	int k;

	if (r < 0) {
		bop_finish(op, r);
		return;
	}
	if (o->st.conflict) {
		bop_fail(op, -EEXIST, "not disconnecting: %s", o->st.conflict);
		return;
	}
	if (!o->st.n_ctrls) {
		op->result = strdup("not attached");
		bop_finish(op, 0);
		return;
	}
	if (o->st.n_other_ns) {
		char *list = NULL;

		for (size_t i = 0; i < o->st.n_other_ns; i++) {
			char *n = NULL;

			if (asprintf(&n, "%s%s%s", list ? list : "", list ? " " : "", o->st.other_ns[i]) < 0)
				n = NULL;
			free(list);
			list = n;
		}
		if (asprintf(&op->result,
			     "subsystem %s stays connected: it also carries %s; namespace %s (%s) goes away when it is "
			     "unmapped", o->nqn, list ? list : "other namespaces", o->uuid,
			     o->st.ns[0] ? o->st.ns : "not present") < 0)
			op->result = NULL;
		free(list);
		bop_finish(op, 0);
		return;
	}
	if (o->st.ns[0] && o->st.ns_busy) {
		bop_fail(op, -EBUSY, "not disconnecting %s: namespace %s (%s) is in use (mounted or held)", o->nqn,
			 o->st.ns, o->uuid);
		return;
	}
	bop_log(op, LOG_DEBUG, "disconnecting from %s", o->nqn);
	k = bop_run(op, (const char *const[]){ "nvme", "disconnect", "-n", o->nqn, NULL }, NULL, disconnected);
	if (k < 0)
		bop_finish(op, k);
}

static int nvme_detach(struct host_ctx *ctx, const struct host_target *t, host_done_fn done, void *userdata)
{
	struct nvme_op *o;
	int k = nvme_op_new(ctx, t, NVME_DETACH, done, userdata, &o);

	if (k < 0)
		return k;
	k = nvme_lookup(o, true, detach_looked);
	if (k < 0)
		nvme_op_free(&o->base);
	return k;
}

const struct host_attach_ops host_attach_nvme_tcp = {
	.name = "nvme-tcp",
	.probe = nvme_probe,
	.attach = nvme_attach,
	.detach = nvme_detach,
};
