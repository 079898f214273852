/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * VM locks in a DLM lockspace (vm-lock.h): libdlm's asynchronous API, its completions read on the
 * sd-event loop, its requests written on a thread of this lock's own.
 *
 * Why not everything on the loop (dlm_ls_lock + dlm_ls_get_fd + dlm_dispatch): a request is a
 * write(2) on the lockspace device, and the kernel takes the lockspace's recovery lock inside
 * that write (dlm_user_request -> dlm_lock_recovery). While the lockspace recovers -- a member
 * failed and dlm_controld waits for it to be fenced: seconds, minutes, or as long as fencing
 * keeps failing -- every request and unlock blocks in write(2). On the loop that would stop
 * corosync's dispatch, the watchdog keepalive and the local API. Joining blocks too (the kernel
 * waits for dlm_controld; libdlm polls up to 10 s for udev's device node). So joins, requests
 * and unlocks run on ONE worker thread of this lock (never the caller's pool: a request stuck
 * through a fencing must not starve libvirt's jobs), and the completion ASTs are read on the loop
 * (the lockspace fd in sd-event, dlm_dispatch when readable). Jobs are never abandoned (a
 * deadline of days): a hook's own timer answers its caller instead, and the request goes on.
 *
 * Two rules keep the threads apart:
 *  - libdlm writes a request's lksb from the requesting thread after write(2) returns (the lock
 *    id) and dlm_dispatch writes the same lksb when it reads the completion: the loop reads
 *    completions only while no job runs (the fd's event source is off meanwhile; completions
 *    wait in the kernel's queue);
 *  - an AST only records its status; what it means is decided after dlm_dispatch has returned
 *    (no new request from inside libdlm's read loop).
 *
 * Per VM one `struct vml`: its resource "vm:NAME", its lksb at a fixed address (the kernel hands
 * it back in every completion), at most one job or completion in flight; callers queue behind it
 * in order (acquire, release, acquire ...). A hook that times out answers -ETIMEDOUT but its
 * request goes on: the outcome is recorded when it completes, so the next acquire or release
 * starts from what the lock system really did.
 *
 * Lock flags: LKM_EXMODE | LKF_NOQUEUE (refused at once: the completion says EAGAIN) |
 * LKF_PERSISTENT (when kvmcd exits its locks stay, as this node's orphans). The first acquire or
 * release of a VM in a process first tries LKF_ORPHAN: adopt an orphan of that name and mode (the
 * write returns its lock id, no completion follows; ENOENT when there is none). A restarted
 * kvmcd so takes back the locks of the VMs that kept running and releases those of VMs that
 * stopped meanwhile.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <syslog.h>

#include <jansson.h>

#include "macros.h"
#include "vm-lock-dlm.h"
#include "worker.h"

#define JOB_DEADLINE_USEC (7ULL * 24 * 3600 * USEC_PER_SEC) /* never abandoned: see above */
#define LOCK_FLAGS (LKF_NOQUEUE | LKF_PERSISTENT)

enum vml_state { VML_FREE, VML_HELD };
enum vml_op { OP_NONE, OP_LOCK, OP_ADOPT, OP_UNLOCK };
enum waiter_kind { W_ACQUIRE, W_RELEASE, W_PROBE };

/* One caller of a hook, until done has been called. */
struct waiter {
	enum waiter_kind kind;
	host_done_fn done;
	void *userdata;                /* borrowed, handed to done */
	uint64_t deadline;             /* CLOCK_MONOTONIC */
	int r;                         /* once finished */
	char *detail;                  /* owned, once finished */
	struct waiter *next;
};

/* One VM's lock in this process. */
struct vml {
	atomic_uint refs;              /* the table's, and a job's while one is queued or running */
	struct dlm_locks *m;           /* borrowed (loop only) */
	char *vm;                      /* owned */
	char res[HOST_VM_LOCK_NAME_MAX + 1];
	unsigned res_len;
	struct dlm_lksb lksb;          /* the kernel's handle on our lock: never moves while it exists */
	enum vml_state state;          /* what the lock system granted us */
	enum vml_op op;                /* in flight: a job, then (lock, unlock) its completion */
	bool ast_wait;                 /* the job was written: its completion is due */
	bool ast_queued;               /* on m->asts: read by dispatch, not processed yet */
	int ast_status;                /* libdlm's sb_status (positive errno, EUNLOCK) */
	bool orphan_checked;           /* no orphan of an earlier process can exist for it */
	struct waiter *waiters;        /* owned, FIFO: acquire and release callers */
	struct vml *next;              /* m->locks */
	struct vml *next_ast;          /* m->asts */
};

struct dlm_locks {
	struct host_vm_lock base;
	const struct host_vm_lock_dlm_api *api; /* borrowed */
	char lockspace[HOST_VM_LOCK_NAME_MAX + 1];
	uint64_t op_timeout;
	struct worker_pool *pool;      /* owned: one thread, this lock's only */
	dlm_lshandle_t ls;             /* NULL until joined */
	int fd;                        /* the lockspace's (libdlm's; closed with ls) */
	sd_event_source *io;           /* owned: fd readable = completions queued */
	sd_event_source *timer;        /* owned: the earliest waiter's deadline */
	sd_event_source *finish;       /* owned: calls the finished waiters' done */
	bool joining;
	unsigned jobs;                 /* submitted, done not run yet */
	struct waiter *probes;         /* owned: probes waiting for the join */
	struct vml *locks;             /* owned (one reference each) */
	struct vml *asts;              /* read by the current dispatch, in order (borrowed) */
	struct vml **asts_tail;
	struct waiter *finished;       /* owned: done to be called, in order */
	struct waiter **finished_tail;
	bool delivering;               /* inside on_finish */
	bool close_pending;            /* close() was called from a done: finish it there */
	bool dispatch_failed;          /* logged once */
};

enum job_kind { JOB_JOIN, JOB_LOCK, JOB_ADOPT, JOB_UNLOCK };

/* One blocking libdlm call sequence on the lock's thread. Owned by the worker pool. */
struct job {
	enum job_kind kind;
	const struct host_vm_lock_dlm_api *api;
	char lockspace[HOST_VM_LOCK_NAME_MAX + 1];
	dlm_lshandle_t ls;             /* in (lock, adopt, unlock); out (join) */
	int fd;                        /* out (join) */
	bool try_adopt;                /* in (lock): look for an orphan first */
	struct vml *vl;                /* a reference (lock, adopt, unlock) */
	bool adopted;                  /* out */
	const char *call;              /* out: the libdlm call that failed */
	int err;                       /* out: its errno */
};

static void on_ast(void *arg);
static int on_io(sd_event_source *s, int fd, uint32_t revents, void *userdata);

/* ---- small helpers -------------------------------------------------------------------------- */

static _printf_(3, 4) void mlog(struct dlm_locks *m, int level, const char *fmt, ...)
{
	struct host_ctx *ctx = m->base.ctx;
	_cleanup_free_ char *text = NULL;
	va_list ap;

	if (!ctx->log)
		return;
	va_start(ap, fmt);
	if (vasprintf(&text, fmt, ap) < 0)
		text = NULL;
	va_end(ap);
	if (text)
		ctx->log(ctx->log_userdata, level, text);
}

static uint64_t now_usec(struct dlm_locks *m)
{
	uint64_t t = 0;

	sd_event_now(m->base.ctx->event, CLOCK_MONOTONIC, &t);
	return t;
}

static void vml_unref(struct vml *vl)
{
	/* may run on a worker thread (a job freed after close): frees memory only */
	if (!vl || atomic_fetch_sub(&vl->refs, 1) != 1)
		return;
	free(vl->vm);
	free(vl);
}

static void waiter_free(struct waiter *w)
{
	if (!w)
		return;
	free(w->detail);
	free(w);
}

static void waiters_free(struct waiter *w)
{
	while (w) {
		struct waiter *n = w->next;
		waiter_free(w);
		w = n;
	}
}

/* ---- finishing hooks (done always from the finish event, never from a hook) ----------------- */

static _printf_(3, 4) void finish(struct dlm_locks *m, struct waiter *w, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	free(w->detail);
	if (vasprintf(&w->detail, fmt, ap) < 0)
		w->detail = NULL;
	va_end(ap);
	w->next = NULL;
	*m->finished_tail = w;
	m->finished_tail = &w->next;
	sd_event_source_set_enabled(m->finish, SD_EVENT_ONESHOT);
}

/* Finishes the waiters of `kind` at the head of vl's queue with r and the detail. */
static _printf_(4, 5) void finish_leading(struct vml *vl, enum waiter_kind kind, int r, const char *fmt, ...)
{
	_cleanup_free_ char *text = NULL;
	va_list ap;

	va_start(ap, fmt);
	if (vasprintf(&text, fmt, ap) < 0)
		text = NULL;
	va_end(ap);
	while (vl->waiters && vl->waiters->kind == kind) {
		struct waiter *w = vl->waiters;
		vl->waiters = w->next;
		w->r = r;
		finish(vl->m, w, "%s", text ? text : r < 0 ? strerror(-r) : "");
	}
}

static void dlm_close(struct host_vm_lock *base);

static int on_finish(sd_event_source *s, void *userdata)
{
	struct dlm_locks *m = userdata;

	m->delivering = true;
	while (m->finished && !m->close_pending) {
		struct waiter *w = m->finished;
		m->finished = w->next;
		if (!m->finished)
			m->finished_tail = &m->finished;
		w->done(w->userdata, w->r, w->detail ? w->detail : "");
		waiter_free(w);
	}
	m->delivering = false;
	if (m->close_pending)
		dlm_close(&m->base);
	return 0;
}

/* ---- deadlines ------------------------------------------------------------------------------ */

static void arm_timer(struct dlm_locks *m)
{
	uint64_t next = UINT64_MAX;

	for (struct vml *vl = m->locks; vl; vl = vl->next)
		for (struct waiter *w = vl->waiters; w; w = w->next)
			next = w->deadline < next ? w->deadline : next;
	for (struct waiter *w = m->probes; w; w = w->next)
		next = w->deadline < next ? w->deadline : next;
	if (next == UINT64_MAX) {
		sd_event_source_set_enabled(m->timer, SD_EVENT_OFF);
		return;
	}
	sd_event_source_set_time(m->timer, next);
	sd_event_source_set_enabled(m->timer, SD_EVENT_ONESHOT);
}

static const char *what_waits(struct dlm_locks *m, const struct vml *vl)
{
	if (!m->ls)
		return "joining the lockspace";
	if (vl && vl->op == OP_UNLOCK)
		return "the unlock";
	if (vl && vl->op != OP_NONE)
		return "the lock request";
	return "an earlier operation on this lock";
}

static int on_timer(sd_event_source *s, uint64_t usec, void *userdata)
{
	struct dlm_locks *m = userdata;
	uint64_t now = now_usec(m);
	double secs = (double)m->op_timeout / USEC_PER_SEC;

	for (struct vml *vl = m->locks; vl; vl = vl->next) {
		for (struct waiter **p = &vl->waiters; *p;) {
			struct waiter *w = *p;
			if (w->deadline > now) {
				p = &w->next;
				continue;
			}
			*p = w->next;
			w->r = -ETIMEDOUT;
			finish(m, w, "lock %s: DLM lockspace '%s' did not answer within %.1f s (%s is still in "
				     "the kernel: the lockspace may be recovering, a failed node waiting to be fenced); "
				     "its outcome counts once it completes", vl->res, m->lockspace, secs, what_waits(m, vl));
		}
	}
	for (struct waiter **p = &m->probes; *p;) {
		struct waiter *w = *p;
		if (w->deadline > now) {
			p = &w->next;
			continue;
		}
		*p = w->next;
		w->r = -ETIMEDOUT;
		finish(m, w, "joining DLM lockspace '%s' did not finish within %.1f s (dlm_controld waits for quorum "
			     "or fencing?)", m->lockspace, secs);
	}
	arm_timer(m);
	return 0;
}

/* ---- jobs on the lock's thread -------------------------------------------------------------- */

static int job_fail(struct job *j, const char *call)
{
	j->call = call;
	j->err = errno > 0 ? errno : EIO;
	return -j->err;
}

/* Worker thread: touches only the job and its vl's res / lksb (see the top of this file). */
static int job_run(void *arg)
{
	struct job *j = arg;
	struct vml *vl = j->vl;

	errno = 0;
	switch (j->kind) {
	case JOB_JOIN:
		j->ls = j->api->open_lockspace(j->lockspace);
		if (!j->ls) {
			errno = 0;
			j->ls = j->api->new_lockspace(j->lockspace, 0600, 0);
		}
		if (!j->ls) {
			/* libdlm fails without an errno when /proc/misc has no dlm-control */
			if (errno == 0)
				errno = ENODEV;
			return job_fail(j, "dlm_new_lockspace");
		}
		j->fd = j->api->ls_get_fd(j->ls);
		return 0;
	case JOB_LOCK:
	case JOB_ADOPT:
		if (j->try_adopt) {
			/* adopt keeps the flags given here: LKF_PERSISTENT again */
			if (j->api->ls_lock(j->ls, LKM_EXMODE, &vl->lksb, LOCK_FLAGS | LKF_ORPHAN, vl->res, vl->res_len, 0,
					    on_ast, vl, NULL, NULL) == 0) {
				j->adopted = true;
				return 0;
			}
			if (errno != ENOENT)
				return job_fail(j, "dlm_ls_lock(LKF_ORPHAN)");
			if (j->kind == JOB_ADOPT)
				return -ENOENT;
			errno = 0;
		}
		if (j->api->ls_lock(j->ls, LKM_EXMODE, &vl->lksb, LOCK_FLAGS, vl->res, vl->res_len, 0, on_ast, vl, NULL,
				    NULL) < 0)
			return job_fail(j, "dlm_ls_lock");
		return 0;
	case JOB_UNLOCK:
		if (j->api->ls_unlock(j->ls, vl->lksb.sb_lkid, 0, &vl->lksb, vl) < 0)
			return job_fail(j, "dlm_ls_unlock");
		return 0;
	}
	return -EINVAL;
}

/* May run on a worker thread after close (see worker.h): frees memory (and an orphaned join's
 * handle) only. */
static void job_free(void *arg)
{
	struct job *j = arg;

	if (!j)
		return;
	if (j->kind == JOB_JOIN && j->ls)
		j->api->close_lockspace(j->ls);
	vml_unref(j->vl);
	free(j);
}

static void io_update(struct dlm_locks *m)
{
	if (m->io)
		sd_event_source_set_enabled(m->io, m->jobs ? SD_EVENT_OFF : SD_EVENT_ON);
}

static void job_done(int r, void *arg, void *userdata);

static int submit(struct dlm_locks *m, enum job_kind kind, struct vml *vl, bool try_adopt)
{
	struct job *j = calloc(1, sizeof(*j));
	int r;

	if (!j)
		return -ENOMEM;
	j->kind = kind;
	j->api = m->api;
	j->ls = m->ls;
	j->try_adopt = try_adopt;
	memcpy(j->lockspace, m->lockspace, sizeof(j->lockspace));
	if (vl) {
		atomic_fetch_add(&vl->refs, 1);
		j->vl = vl;
	}
	r = worker_submit(m->pool, job_run, j, job_free, job_done, m, JOB_DEADLINE_USEC);
	if (r < 0) {
		job_free(j);
		return r;
	}
	m->jobs++;
	io_update(m);
	return 0;
}

/* ---- the per-VM state machine --------------------------------------------------------------- */

static void vml_step(struct vml *vl);

static void join(struct dlm_locks *m)
{
	int r;

	if (m->ls || m->joining)
		return;
	r = submit(m, JOB_JOIN, NULL, false);
	if (r < 0) {
		/* nothing runs: every caller waiting for the join hears it now */
		for (struct vml *vl = m->locks; vl; vl = vl->next)
			while (vl->waiters)
				finish_leading(vl, vl->waiters->kind, r, "cannot join DLM lockspace '%s': %s", m->lockspace,
					       strerror(-r));
		while (m->probes) {
			struct waiter *w = m->probes;
			m->probes = w->next;
			w->r = r;
			finish(m, w, "cannot join DLM lockspace '%s': %s", m->lockspace, strerror(-r));
		}
		return;
	}
	m->joining = true;
}

static void start(struct vml *vl, enum vml_op op)
{
	static const enum job_kind kinds[] = { [OP_LOCK] = JOB_LOCK, [OP_ADOPT] = JOB_ADOPT, [OP_UNLOCK] = JOB_UNLOCK };
	int r = submit(vl->m, kinds[op], vl, op != OP_UNLOCK && !vl->orphan_checked);

	if (r < 0) {
		finish_leading(vl, vl->waiters->kind, r, "lock %s: cannot queue the DLM call: %s", vl->res, strerror(-r));
		return;
	}
	vl->op = op;
}

/* Starts what the first caller in line needs, or answers it when the lock is already so. */
static void vml_step(struct vml *vl)
{
	struct dlm_locks *m = vl->m;

	while (vl->op == OP_NONE && vl->waiters) {
		if (!m->ls) {
			join(m);
			break;
		}
		if (vl->waiters->kind == W_ACQUIRE) {
			if (vl->state == VML_HELD) {
				finish_leading(vl, W_ACQUIRE, 0, "held");
				continue;
			}
			start(vl, OP_LOCK);
		} else if (vl->state == VML_HELD) {
			start(vl, OP_UNLOCK);
		} else if (vl->orphan_checked) {
			finish_leading(vl, W_RELEASE, 0, "not held");
		} else {
			start(vl, OP_ADOPT);
		}
	}
	arm_timer(m);
}

static const char *join_hint(int err)
{
	switch (err) {
	case EUNATCH: return " (dlm_controld is not running)";
	case ENOENT: case ENODEV: case ENXIO: return " (no DLM here: the dlm kernel module and dlm_controld are needed)";
	case EPERM: case EACCES: return " (joining a lockspace needs CAP_SYS_ADMIN)";
	case EINTR: return " (interrupted: dlm_controld did not answer)";
	default: return "";
	}
}

static void joined(struct dlm_locks *m, int r, struct job *j)
{
	int err = j ? j->err : ETIMEDOUT;

	m->joining = false;
	if (r == 0) {
		r = sd_event_add_io(m->base.ctx->event, &m->io, j->fd, EPOLLIN, on_io, m);
		if (r < 0) {
			m->api->close_lockspace(j->ls);
			j->ls = NULL;
			err = -r;
		}
	}
	if (r < 0) {
		/* everyone waiting hears why; the next hook tries again */
		for (struct vml *vl = m->locks; vl; vl = vl->next)
			while (vl->waiters && vl->op == OP_NONE)
				finish_leading(vl, vl->waiters->kind, -ENOLCK, "cannot join DLM lockspace '%s': %s: %s%s",
					       m->lockspace, j && j->call ? j->call : "sd_event_add_io", strerror(err),
					       join_hint(err));
		while (m->probes) {
			struct waiter *w = m->probes;
			m->probes = w->next;
			w->r = -ENOLCK;
			finish(m, w, "cannot join DLM lockspace '%s': %s: %s%s", m->lockspace,
			       j && j->call ? j->call : "sd_event_add_io", strerror(err), join_hint(err));
		}
		arm_timer(m);
		return;
	}
	m->ls = TAKE_PTR(j->ls);
	m->fd = j->fd;
	io_update(m);
	while (m->probes) {
		struct waiter *w = m->probes;
		m->probes = w->next;
		w->r = 0;
		finish(m, w, "DLM lockspace '%s' joined", m->lockspace);
	}
	for (struct vml *vl = m->locks; vl; vl = vl->next)
		vml_step(vl);
	arm_timer(m);
}

static void job_done(int r, void *arg, void *userdata)
{
	struct dlm_locks *m = userdata;
	struct job *j = arg;
	struct vml *vl;

	m->jobs--;
	io_update(m);
	if (!j) {
		/* a libdlm call blocked for days: its lock stays in flight, it cannot be told apart */
		mlog(m, LOG_ERR, "DLM lockspace '%s': a call has been blocked in the kernel for days", m->lockspace);
		return;
	}
	if (j->kind == JOB_JOIN) {
		joined(m, r, j);
		return;
	}
	vl = j->vl;
	switch (j->kind) {
	case JOB_LOCK:
		vl->orphan_checked = vl->orphan_checked || r == 0;
		if (r < 0) {
			vl->op = OP_NONE;
			finish_leading(vl, W_ACQUIRE, r == -EINVAL ? -EINVAL : -EIO, "lock %s: %s: %s", vl->res, j->call,
				       strerror(j->err));
		} else if (j->adopted) {
			vl->op = OP_NONE;
			vl->state = VML_HELD;
			finish_leading(vl, W_ACQUIRE, 0, "adopted");
		} else {
			vl->ast_wait = true; /* the completion tells */
		}
		break;
	case JOB_ADOPT:
		vl->op = OP_NONE;
		if (r == -ENOENT) {
			vl->orphan_checked = true; /* no orphan: nothing held; the next step answers */
		} else if (r < 0) {
			finish_leading(vl, W_RELEASE, -EIO, "lock %s: %s: %s", vl->res, j->call, strerror(j->err));
		} else {
			vl->orphan_checked = true;
			vl->state = VML_HELD; /* an earlier kvmcd's: the next step unlocks it */
		}
		break;
	case JOB_UNLOCK:
		if (r < 0) {
			vl->op = OP_NONE;
			finish_leading(vl, W_RELEASE, -EIO, "lock %s: %s: %s", vl->res, j->call, strerror(j->err));
		} else {
			vl->ast_wait = true;
		}
		break;
	case JOB_JOIN:
		break;
	}
	vml_step(vl);
}

/* ---- completions ---------------------------------------------------------------------------- */

/* Called by libdlm's dispatch, on the loop, with the lksb already updated: only records. */
static void on_ast(void *arg)
{
	struct vml *vl = arg;

	vl->ast_status = vl->lksb.sb_status;
	if (vl->ast_queued)
		return;
	vl->ast_queued = true;
	vl->next_ast = NULL;
	*vl->m->asts_tail = vl;
	vl->m->asts_tail = &vl->next_ast;
}

static void process_ast(struct vml *vl)
{
	struct dlm_locks *m = vl->m;
	int st = vl->ast_status;

	if (!vl->ast_wait) {
		mlog(m, LOG_WARNING, "DLM lockspace '%s': unexpected completion for %s (status %d): ignored", m->lockspace,
		     vl->res, st);
		return;
	}
	vl->ast_wait = false;
	if (vl->op == OP_LOCK) {
		if (st == 0) {
			vl->state = VML_HELD;
			finish_leading(vl, W_ACQUIRE, 0, "acquired");
		} else if (st == EAGAIN) {
			vl->state = VML_FREE;
			finish_leading(vl, W_ACQUIRE, -EBUSY,
				       "lock %s in DLM lockspace '%s' is held elsewhere (another node, or another process "
				       "on this one): refused at once (EX, LKF_NOQUEUE)", vl->res, m->lockspace);
		} else {
			vl->state = VML_FREE;
			finish_leading(vl, W_ACQUIRE, st > 0 && st < 4096 ? -st : -EIO, "lock %s: the DLM answered %d (%s)",
				       vl->res, st, st > 0 && st < 4096 ? strerror(st) : "unknown");
		}
	} else if (vl->op == OP_UNLOCK) {
		if (st == EUNLOCK) {
			vl->state = VML_FREE;
			finish_leading(vl, W_RELEASE, 0, "released");
		} else {
			finish_leading(vl, W_RELEASE, -EIO, "unlock of %s: the DLM answered %d (%s)", vl->res, st,
				       st > 0 && st < 4096 ? strerror(st) : "unknown");
		}
	}
	vl->op = OP_NONE;
	vml_step(vl);
}

static int on_io(sd_event_source *s, int fd, uint32_t revents, void *userdata)
{
	struct dlm_locks *m = userdata;

	if (m->api->dispatch(fd) < 0 && !m->dispatch_failed) {
		m->dispatch_failed = true;
		mlog(m, LOG_ERR, "DLM lockspace '%s': reading completions failed: %s", m->lockspace, strerror(errno));
	}
	while (m->asts) {
		struct vml *vl = m->asts;
		m->asts = vl->next_ast;
		if (!m->asts)
			m->asts_tail = &m->asts;
		vl->ast_queued = false;
		process_ast(vl);
	}
	return 0;
}

/* ---- hooks ---------------------------------------------------------------------------------- */

static struct dlm_locks *of(struct host_vm_lock *l)
{
	return (struct dlm_locks *)l;
}

static struct waiter *waiter_new(struct dlm_locks *m, enum waiter_kind kind, host_done_fn done, void *userdata)
{
	struct waiter *w = calloc(1, sizeof(*w));

	if (!w)
		return NULL;
	w->kind = kind;
	w->done = done;
	w->userdata = userdata;
	w->deadline = now_usec(m) + m->op_timeout;
	return w;
}

static struct vml *vml_get(struct dlm_locks *m, const char *vm, int *r)
{
	char res[HOST_VM_LOCK_NAME_MAX + 1];
	struct vml *vl;

	*r = host_vm_lock_resource(vm, res);
	if (*r < 0)
		return NULL;
	for (vl = m->locks; vl; vl = vl->next)
		if (strcmp(vl->res, res) == 0)
			return vl;
	vl = calloc(1, sizeof(*vl));
	if (!vl || !(vl->vm = strdup(vm))) {
		free(vl);
		*r = -ENOMEM;
		return NULL;
	}
	atomic_init(&vl->refs, 1);
	vl->m = m;
	memcpy(vl->res, res, sizeof(res));
	vl->res_len = (unsigned)strlen(res);
	vl->next = m->locks;
	m->locks = vl;
	return vl;
}

static int queue(struct host_vm_lock *l, enum waiter_kind kind, const char *vm, host_done_fn done, void *userdata)
{
	struct dlm_locks *m = of(l);
	struct waiter *w, **p;
	struct vml *vl;
	int r;

	if (!m || !vm || !done)
		return -EINVAL;
	vl = vml_get(m, vm, &r);
	if (!vl)
		return r;
	w = waiter_new(m, kind, done, userdata);
	if (!w)
		return -ENOMEM;
	for (p = &vl->waiters; *p; p = &(*p)->next)
		;
	*p = w;
	vml_step(vl);
	return 0;
}

static int dlm_acquire(struct host_vm_lock *l, const char *vm, host_done_fn done, void *userdata)
{
	return queue(l, W_ACQUIRE, vm, done, userdata);
}

static int dlm_release(struct host_vm_lock *l, const char *vm, host_done_fn done, void *userdata)
{
	return queue(l, W_RELEASE, vm, done, userdata);
}

static int dlm_list(struct host_vm_lock *l, host_done_fn done, void *userdata)
{
	struct dlm_locks *m = of(l);
	json_auto_t *all = json_object();
	_cleanup_free_ char *text = NULL;
	struct waiter *w;

	if (!m || !done)
		return -EINVAL;
	if (!all)
		return -ENOMEM;
	for (struct vml *vl = m->locks; vl; vl = vl->next) {
		const char *s = vl->op == OP_LOCK ? "acquiring"
				: vl->op != OP_NONE ? "releasing"
				: vl->state == VML_HELD ? "held" : NULL;
		if (s && json_object_set_new(all, vl->vm, json_string(s)) < 0)
			return -ENOMEM;
	}
	text = json_dumps(all, JSON_COMPACT | JSON_SORT_KEYS);
	w = text ? waiter_new(m, W_PROBE, done, userdata) : NULL;
	if (!w)
		return -ENOMEM;
	w->r = 0;
	finish(m, w, "%s", text);
	return 0;
}

static int dlm_probe(struct host_vm_lock *l, host_done_fn done, void *userdata)
{
	struct dlm_locks *m = of(l);
	struct waiter *w;
	unsigned held = 0;

	if (!m || !done)
		return -EINVAL;
	w = waiter_new(m, W_PROBE, done, userdata);
	if (!w)
		return -ENOMEM;
	if (m->ls) {
		for (struct vml *vl = m->locks; vl; vl = vl->next)
			held += vl->state == VML_HELD;
		w->r = 0;
		finish(m, w, "DLM lockspace '%s' joined; %u lock%s held by this process", m->lockspace, held,
		       held == 1 ? "" : "s");
		return 0;
	}
	w->next = m->probes;
	m->probes = w;
	join(m);
	arm_timer(m);
	return 0;
}

static void dlm_close(struct host_vm_lock *base)
{
	struct dlm_locks *m = of(base);
	struct worker_stats ws = { 0 };

	if (!m)
		return;
	if (m->delivering) {
		/* from inside a done: on_finish stops calling done and comes back here */
		m->close_pending = true;
		return;
	}
	sd_event_source_disable_unref(m->io);
	sd_event_source_disable_unref(m->timer);
	sd_event_source_disable_unref(m->finish);
	if (m->pool)
		worker_pool_stats(m->pool, &ws);
	/* queued jobs are dropped (their references go); one inside the kernel gets 1 s */
	worker_pool_free(m->pool);
	/* Closing the lockspace fd makes our persistent locks this node's orphans: still held. A
	 * call still inside the kernel may be using the fd: then the handle is left open (the
	 * process is exiting; the kernel orphans the locks when it does). */
	if (m->ls && !ws.running && !ws.abandoned)
		m->api->close_lockspace(m->ls);
	waiters_free(m->probes);
	waiters_free(m->finished);
	while (m->locks) {
		struct vml *vl = m->locks;
		m->locks = vl->next;
		waiters_free(vl->waiters);
		vml_unref(vl);
	}
	free(m);
}

/* ---- setup ---------------------------------------------------------------------------------- */

extern const struct host_vm_lock_ops host_vm_lock_dlm_ops;

int host_vm_lock_dlm_open_api(struct host_ctx *ctx, const struct host_vm_lock_params *p,
			      const struct host_vm_lock_dlm_api *api, struct host_vm_lock **out)
{
	const char *name = p && p->lockspace ? p->lockspace : HOST_VM_LOCK_DEFAULT_LOCKSPACE;
	struct dlm_locks *m;
	int r;

	if (!ctx || !ctx->event || !api || !out || !*name)
		return -EINVAL;
	if (strlen(name) > HOST_VM_LOCK_NAME_MAX)
		return -ENAMETOOLONG;
	for (const char *c = name; *c; c++)
		if (*c == '/' || *c <= ' ' || *c > '~')
			return -EINVAL; /* a device name: /dev/misc/dlm_NAME */
	m = calloc(1, sizeof(*m));
	if (!m)
		return -ENOMEM;
	m->base = (struct host_vm_lock){ .ops = &host_vm_lock_dlm_ops, .ctx = ctx };
	m->api = api;
	m->fd = -1;
	snprintf(m->lockspace, sizeof(m->lockspace), "%s", name);
	m->op_timeout = p && p->op_timeout_usec ? p->op_timeout_usec : HOST_VM_LOCK_DEFAULT_TIMEOUT_USEC;
	m->finished_tail = &m->finished;
	m->asts_tail = &m->asts;
	r = worker_pool_new(ctx->event, 1, &m->pool);
	if (r >= 0)
		r = sd_event_add_time(ctx->event, &m->timer, CLOCK_MONOTONIC, 0, USEC_PER_MSEC, on_timer, m);
	if (r >= 0)
		r = sd_event_source_set_enabled(m->timer, SD_EVENT_OFF);
	if (r >= 0)
		r = sd_event_add_defer(ctx->event, &m->finish, on_finish, m);
	if (r >= 0)
		r = sd_event_source_set_enabled(m->finish, SD_EVENT_OFF);
	if (r < 0) {
		dlm_close(&m->base);
		return r;
	}
	*out = &m->base;
	return 0;
}

static const struct host_vm_lock_dlm_api real_api = {
	.open_lockspace = dlm_open_lockspace,
	.new_lockspace = dlm_new_lockspace,
	.close_lockspace = dlm_close_lockspace,
	.ls_get_fd = dlm_ls_get_fd,
	.ls_lock = dlm_ls_lock,
	.ls_unlock = dlm_ls_unlock,
	.dispatch = dlm_dispatch,
};

static int dlm_open(struct host_ctx *ctx, const struct host_vm_lock_params *p, struct host_vm_lock **out)
{
	return host_vm_lock_dlm_open_api(ctx, p, &real_api, out);
}

const struct host_vm_lock_ops host_vm_lock_dlm_ops = {
	.name = "dlm",
	.open = dlm_open,
	.close = dlm_close,
	.acquire = dlm_acquire,
	.release = dlm_release,
	.list = dlm_list,
	.probe = dlm_probe,
};
