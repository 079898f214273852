/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * resources/host/vm-lock*.c without a kernel DLM and without virtlockd:
 *
 *  - the DLM implementation's state machine against a fake lock manager with the kernel's
 *    semantics (tests/test-vm-lock.c's fake_*: exclusive locks, LKF_NOQUEUE refusals as EAGAIN
 *    completions, completions read from a pipe by dispatch, persistent locks orphaned when their
 *    handle closes and adopted with LKF_ORPHAN, a "recovery" that blocks every call), shared by
 *    several lock states standing for kvmcds on different nodes: a second holder refused, its
 *    other VMs unaffected, release / acquire in order, idempotence, orphans kept through a kvmcd
 *    exit and adopted (acquire) or dropped (release) by the next, a call stuck in recovery
 *    answering -ETIMEDOUT while its outcome still counts, no completion ever read while a
 *    request is being written (the fake checks), joins failing and retried, close with a call
 *    stuck and from inside a done;
 *  - the lockd implementation: libvirt's config syntax, the configuration check, and probe /
 *    acquire against a fake /etc/libvirt, a fake mountinfo and a socket standing for virtlockd.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "macros.h"
#include "tap.h"
#include "vm-lock-lockd.h"
#include "vm-lock.h"
#ifdef HAVE_LIBDLM
#include "vm-lock-dlm.h"
#endif

#define MSEC USEC_PER_MSEC
#define SEC USEC_PER_SEC

static sd_event *ev;

struct result {
	unsigned calls;
	int r;
	char detail[4096];
	struct host_vm_lock *close_me;   /* closes this lock from inside done */
};

static void on_done(void *userdata, int r, const char *detail)
{
	struct result *res = userdata;

	res->calls++;
	res->r = r;
	snprintf(res->detail, sizeof res->detail, "%s", detail ? detail : "(null)");
	if (res->close_me) {
		res->close_me->ops->close(res->close_me);
		res->close_me = NULL;
	}
}

static uint64_t now_usec(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * SEC + (uint64_t)ts.tv_nsec / 1000;
}

static void spin(uint64_t usec)
{
	uint64_t end = now_usec() + usec;

	while (now_usec() < end)
		sd_event_run(ev, 5 * MSEC);
}

/* Waits (10 s at most) until every result has its callback. */
static void wait_all(struct result *const *res, size_t n)
{
	uint64_t end = now_usec() + 10 * SEC;

	for (;;) {
		bool all = true;
		for (size_t i = 0; i < n; i++)
			all &= res[i]->calls > 0;
		if (all || now_usec() > end)
			break;
		sd_event_run(ev, 5 * MSEC);
	}
	for (int i = 0; i < 5; i++)
		sd_event_run(ev, 0);
}

#define CALL(res, call) do { \
	res = (struct result){ 0 }; \
	int _k = (call); \
	CHECK(_k == 0, "%s returned %d", #call, _k); \
	if (_k == 0) \
		wait_all((struct result *const[]){ &res }, 1); \
	CHECK(_k != 0 || res.calls == 1, "%s: %u callbacks", #call, res.calls); \
} while (0)

static struct host_ctx ctx;

#ifdef HAVE_LIBDLM
/* ---- a fake DLM ----------------------------------------------------------------------------- */

#define FAKE_LOCKS 64
#define FAKE_HANDLES 16
#define FAKE_QUEUE 32

struct fake_completion {
	struct dlm_lksb *lksb;
	void (*ast)(void *);
	void *arg;
	int status;           /* as libdlm hands it over: positive errno, 0, EUNLOCK */
	uint32_t lkid;
};

struct fake_handle {
	bool used;
	int node;
	int rfd, wfd;         /* the "device": a pipe, readable while completions are queued */
	struct fake_completion q[FAKE_QUEUE];
	unsigned nq;
};

struct fake_lock {
	bool used;
	char name[HOST_VM_LOCK_NAME_MAX + 1];
	int node;
	int handle;           /* -1: an orphan of `node` */
	uint32_t lkid;
	bool persistent;
};

static struct {
	pthread_mutex_t mu;
	pthread_cond_t cond;
	bool blocked;             /* "recovery": every call waits */
	unsigned in_call;         /* calls inside lock / unlock */
	unsigned dispatch_in_call; /* dispatches while a call was inside: must stay 0 */
	unsigned lock_calls;
	int join_errno;           /* new_lockspace fails with it */
	bool joined[4];           /* the node's kernel lockspace exists */
	struct fake_handle h[FAKE_HANDLES];
	struct fake_lock locks[FAKE_LOCKS];
	uint32_t next_lkid;
} fake = { .mu = PTHREAD_MUTEX_INITIALIZER, .cond = PTHREAD_COND_INITIALIZER, .next_lkid = 0x10001 };

/* the AST routine vm-lock-dlm.c registers (static there): learnt from its lock calls */
static void (*fake_last_ast)(void *);

static int handle_index(dlm_lshandle_t ls)
{
	return (int)((intptr_t)ls - 1);
}

static void fake_wait_unblocked(void)
{
	while (fake.blocked)
		pthread_cond_wait(&fake.cond, &fake.mu);
}

static dlm_lshandle_t fake_handle_new(int node)
{
	for (int i = 0; i < FAKE_HANDLES; i++) {
		int p[2];
		if (fake.h[i].used || pipe2(p, O_CLOEXEC | O_NONBLOCK) < 0)
			continue;
		fake.h[i] = (struct fake_handle){ .used = true, .node = node, .rfd = p[0], .wfd = p[1] };
		return (dlm_lshandle_t)(intptr_t)(i + 1);
	}
	errno = EMFILE;
	return NULL;
}

static dlm_lshandle_t fake_open(int node, const char *name)
{
	dlm_lshandle_t ls = NULL;

	pthread_mutex_lock(&fake.mu);
	if (!fake.joined[node])
		errno = ENOENT;
	else
		ls = fake_handle_new(node);
	pthread_mutex_unlock(&fake.mu);
	return ls;
}

static dlm_lshandle_t fake_new(int node, const char *name)
{
	dlm_lshandle_t ls = NULL;

	pthread_mutex_lock(&fake.mu);
	fake_wait_unblocked();
	if (fake.join_errno) {
		errno = fake.join_errno;
	} else {
		fake.joined[node] = true;
		ls = fake_handle_new(node);
	}
	pthread_mutex_unlock(&fake.mu);
	return ls;
}

static dlm_lshandle_t open1(const char *n) { return fake_open(1, n); }
static dlm_lshandle_t open2(const char *n) { return fake_open(2, n); }
static dlm_lshandle_t new1(const char *n, mode_t m, uint32_t f) { return fake_new(1, n); }
static dlm_lshandle_t new2(const char *n, mode_t m, uint32_t f) { return fake_new(2, n); }

static int fake_close(dlm_lshandle_t ls)
{
	int i = handle_index(ls);

	pthread_mutex_lock(&fake.mu);
	/* the kernel's device_close: persistent locks become the node's orphans, others go */
	for (int k = 0; k < FAKE_LOCKS; k++) {
		if (!fake.locks[k].used || fake.locks[k].handle != i)
			continue;
		if (fake.locks[k].persistent)
			fake.locks[k].handle = -1;
		else
			fake.locks[k].used = false;
	}
	close(fake.h[i].rfd);
	close(fake.h[i].wfd);
	fake.h[i].used = false;
	pthread_mutex_unlock(&fake.mu);
	return 0;
}

static int fake_get_fd(dlm_lshandle_t ls)
{
	return fake.h[handle_index(ls)].rfd;
}

static void fake_complete(int i, struct dlm_lksb *lksb, void (*ast)(void *), void *arg, int status, uint32_t lkid)
{
	struct fake_handle *h = &fake.h[i];

	if (h->nq < FAKE_QUEUE)
		h->q[h->nq++] = (struct fake_completion){ lksb, ast, arg, status, lkid };
	(void)!write(h->wfd, "c", 1);
}

static int fake_lock(dlm_lshandle_t ls, uint32_t mode, struct dlm_lksb *lksb, uint32_t flags, const void *name,
		     unsigned int namelen, uint32_t parent, void (*ast)(void *), void *arg, void (*bast)(void *),
		     void *range)
{
	int i = handle_index(ls), k, free_k = -1;
	uint32_t lkid = 0;
	char n[HOST_VM_LOCK_NAME_MAX + 1];

	pthread_mutex_lock(&fake.mu);
	fake.in_call++;
	fake.lock_calls++;
	fake_wait_unblocked();
	snprintf(n, sizeof(n), "%.*s", (int)namelen, (const char *)name);
	if (mode != LKM_EXMODE || !ast || namelen > HOST_VM_LOCK_NAME_MAX || !(flags & LKF_NOQUEUE)) {
		fake.in_call--;
		pthread_mutex_unlock(&fake.mu);
		errno = EINVAL;
		return -1;
	}
	lksb->sb_status = EINPROG;
	if (flags & LKF_ORPHAN) {
		for (k = 0; k < FAKE_LOCKS; k++)
			if (fake.locks[k].used && fake.locks[k].handle == -1 && fake.locks[k].node == fake.h[i].node &&
			    strcmp(fake.locks[k].name, n) == 0)
				break;
		if (k == FAKE_LOCKS) {
			fake.in_call--;
			pthread_mutex_unlock(&fake.mu);
			errno = ENOENT;
			return -1;
		}
		fake.locks[k].handle = i;
		fake.locks[k].persistent = flags & LKF_PERSISTENT;
		lkid = fake.locks[k].lkid;
	} else {
		bool busy = false;
		for (k = 0; k < FAKE_LOCKS; k++) {
			busy |= fake.locks[k].used && strcmp(fake.locks[k].name, n) == 0;
			if (!fake.locks[k].used && free_k < 0)
				free_k = k;
		}
		lkid = fake.next_lkid++;
		if (busy) {
			fake_complete(i, lksb, ast, arg, EAGAIN, lkid);
		} else {
			fake.locks[free_k] = (struct fake_lock){ .used = true, .node = fake.h[i].node, .handle = i, .lkid = lkid,
								 .persistent = flags & LKF_PERSISTENT };
			snprintf(fake.locks[free_k].name, sizeof(fake.locks[free_k].name), "%s", n);
			fake_complete(i, lksb, ast, arg, 0, lkid);
		}
	}
	pthread_mutex_unlock(&fake.mu);
	/* the completion is queued before write(2) returns; libdlm then stores the lock id: the
	 * window in which a dispatch on another thread would race with this store */
	usleep(2000);
	lksb->sb_lkid = lkid;
	pthread_mutex_lock(&fake.mu);
	fake.in_call--;
	pthread_mutex_unlock(&fake.mu);
	return 0;
}

static int fake_unlock(dlm_lshandle_t ls, uint32_t lkid, uint32_t flags, struct dlm_lksb *lksb, void *arg)
{
	int i = handle_index(ls), k;

	pthread_mutex_lock(&fake.mu);
	fake.in_call++;
	fake_wait_unblocked();
	lksb->sb_status = EINPROG;
	for (k = 0; k < FAKE_LOCKS; k++)
		if (fake.locks[k].used && fake.locks[k].lkid == lkid && fake.locks[k].handle == i)
			break;
	if (k == FAKE_LOCKS) {
		fake.in_call--;
		pthread_mutex_unlock(&fake.mu);
		errno = EINVAL;
		return -1;
	}
	fake.locks[k].used = false;
	/* the unlock's completion goes to the lock's completion routine with the new astarg */
	fake_complete(i, lksb, fake_last_ast, arg, EUNLOCK, lkid);
	fake.in_call--;
	pthread_mutex_unlock(&fake.mu);
	return 0;
}


static int fake_dispatch(int fd)
{
	struct fake_completion q[FAKE_QUEUE];
	unsigned n = 0;
	char buf[64];

	pthread_mutex_lock(&fake.mu);
	if (fake.in_call)
		fake.dispatch_in_call++;
	for (int i = 0; i < FAKE_HANDLES; i++) {
		if (!fake.h[i].used || fake.h[i].rfd != fd)
			continue;
		while (read(fd, buf, sizeof(buf)) > 0)
			;
		n = fake.h[i].nq;
		memcpy(q, fake.h[i].q, n * sizeof(q[0]));
		fake.h[i].nq = 0;
	}
	pthread_mutex_unlock(&fake.mu);
	for (unsigned i = 0; i < n; i++) {
		/* libdlm: copy the lksb (status already flipped positive), then call the AST */
		q[i].lksb->sb_status = q[i].status;
		q[i].lksb->sb_lkid = q[i].lkid;
		if (q[i].ast)
			q[i].ast(q[i].arg);
	}
	return 0;
}

/* the AST routine is static in vm-lock-dlm.c: the fake learns it from the first lock call */
static int fake_lock_learn(dlm_lshandle_t ls, uint32_t mode, struct dlm_lksb *lksb, uint32_t flags, const void *name,
			   unsigned int namelen, uint32_t parent, void (*ast)(void *), void *arg, void (*bast)(void *),
			   void *range)
{
	fake_last_ast = ast;
	return fake_lock(ls, mode, lksb, flags, name, namelen, parent, ast, arg, bast, range);
}

static const struct host_vm_lock_dlm_api api1 = {
	.open_lockspace = open1, .new_lockspace = new1, .close_lockspace = fake_close, .ls_get_fd = fake_get_fd,
	.ls_lock = fake_lock_learn, .ls_unlock = fake_unlock, .dispatch = fake_dispatch,
};
static const struct host_vm_lock_dlm_api api2 = {
	.open_lockspace = open2, .new_lockspace = new2, .close_lockspace = fake_close, .ls_get_fd = fake_get_fd,
	.ls_lock = fake_lock_learn, .ls_unlock = fake_unlock, .dispatch = fake_dispatch,
};

/* Who holds `name` in the fake: "n1", "n1-orphan", "" */
static const char *fake_holder(const char *vm)
{
	static char out[32];
	char n[HOST_VM_LOCK_NAME_MAX + 1];

	snprintf(n, sizeof(n), "vm:%s", vm);
	out[0] = '\0';
	pthread_mutex_lock(&fake.mu);
	for (int k = 0; k < FAKE_LOCKS; k++)
		if (fake.locks[k].used && strcmp(fake.locks[k].name, n) == 0)
			snprintf(out, sizeof(out), "n%d%s", fake.locks[k].node, fake.locks[k].handle < 0 ? "-orphan" : "");
	pthread_mutex_unlock(&fake.mu);
	return out;
}

static void fake_block(bool on)
{
	pthread_mutex_lock(&fake.mu);
	fake.blocked = on;
	pthread_cond_broadcast(&fake.cond);
	pthread_mutex_unlock(&fake.mu);
}

static struct host_vm_lock *open_node(const struct host_vm_lock_dlm_api *api, uint64_t timeout)
{
	struct host_vm_lock_params p = { .lockspace = "kvmcd", .op_timeout_usec = timeout };
	struct host_vm_lock *l = NULL;

	CHECK(host_vm_lock_dlm_open_api(&ctx, &p, api, &l) == 0 && l, "open");
	return l;
}

/* ---- DLM tests ------------------------------------------------------------------------------ */

static void test_dlm_basic(void)
{
	struct host_vm_lock *a = open_node(&api1, 0), *b = open_node(&api2, 0);
	struct result r1, r2;

	CHECK(host_vm_lock_dlm && host_vm_lock_find("dlm") == host_vm_lock_dlm, "the dlm table is found");
	CHECK(!strcmp(a->ops->name, "dlm"), "name");
	CALL(r1, a->ops->probe(a, on_done, &r1));
	CHECK(r1.r == 0 && strstr(r1.detail, "lockspace 'kvmcd' joined"), "probe joins: %d %s", r1.r, r1.detail);

	CALL(r1, a->ops->acquire(a, "vm1", on_done, &r1));
	CHECK(r1.r == 0 && !strcmp(r1.detail, "acquired"), "n1 acquires vm1: %d %s", r1.r, r1.detail);
	CHECK(!strcmp(fake_holder("vm1"), "n1"), "the lock system says n1 holds vm:vm1: %s", fake_holder("vm1"));
	CALL(r1, a->ops->acquire(a, "vm1", on_done, &r1));
	CHECK(r1.r == 0 && !strcmp(r1.detail, "held"), "again: held: %d %s", r1.r, r1.detail);

	CALL(r2, b->ops->acquire(b, "vm1", on_done, &r2));
	CHECK(r2.r == -EBUSY && strstr(r2.detail, "vm:vm1") && strstr(r2.detail, "held elsewhere"),
	      "n2 is refused vm1 by the lock system: %d %s", r2.r, r2.detail);
	CALL(r2, b->ops->acquire(b, "vm2", on_done, &r2));
	CHECK(r2.r == 0 && !strcmp(r2.detail, "acquired"), "n2 takes vm2: %d %s", r2.r, r2.detail);

	CALL(r1, a->ops->list(a, on_done, &r1));
	CHECK(r1.r == 0 && !strcmp(r1.detail, "{\"vm1\":\"held\"}"), "n1 lists what it holds: %s", r1.detail);
	CALL(r2, b->ops->list(b, on_done, &r2));
	CHECK(r2.r == 0 && !strcmp(r2.detail, "{\"vm2\":\"held\"}"), "n2 lists only vm2: %s", r2.detail);
	CALL(r1, a->ops->probe(a, on_done, &r1));
	CHECK(r1.r == 0 && strstr(r1.detail, "1 lock held"), "probe counts: %s", r1.detail);

	/* vm1 migrates to n2: n1 releases after its domain left, n2 acquires */
	CALL(r1, a->ops->release(a, "vm1", on_done, &r1));
	CHECK(r1.r == 0 && !strcmp(r1.detail, "released"), "n1 releases vm1: %d %s", r1.r, r1.detail);
	CALL(r2, b->ops->acquire(b, "vm1", on_done, &r2));
	CHECK(r2.r == 0 && !strcmp(r2.detail, "acquired"), "then n2 takes vm1: %d %s", r2.r, r2.detail);
	CALL(r1, a->ops->release(a, "vm1", on_done, &r1));
	CHECK(r1.r == 0 && !strcmp(r1.detail, "not held"), "releasing again: not held: %d %s", r1.r, r1.detail);
	CALL(r1, a->ops->release(a, "never-seen", on_done, &r1));
	CHECK(r1.r == 0 && !strcmp(r1.detail, "not held"), "releasing an unknown VM: %d %s", r1.r, r1.detail);
	CHECK(!strcmp(fake_holder("vm1"), "n2"), "n2 holds vm1: %s", fake_holder("vm1"));

	/* a VM name at the limit (48 bytes: vm: + 48 <= 64) and one over the DLM's */
	CALL(r1, a->ops->acquire(a, "abcdefghij0123456789abcdefghij0123456789abcdefgh", on_done, &r1));
	CHECK(r1.r == 0, "48-byte name: %d %s", r1.r, r1.detail);
	r1 = (struct result){ 0 };
	CHECK(a->ops->acquire(a, "abcdefghij0123456789abcdefghij0123456789abcdefghij0123456789abc", on_done, &r1) ==
	      -ENAMETOOLONG, "a 62-byte name: nothing started");
	CHECK(a->ops->acquire(a, "", on_done, &r1) == -EINVAL && a->ops->release(a, NULL, on_done, &r1) == -EINVAL,
	      "no name");
	spin(20 * MSEC);
	CHECK(r1.calls == 0, "no callback after a refused call");

	/* back to back: answered in order */
	struct result s[4] = { 0 };
	CHECK(a->ops->acquire(a, "vm7", on_done, &s[0]) == 0 && a->ops->release(a, "vm7", on_done, &s[1]) == 0 &&
	      a->ops->acquire(a, "vm7", on_done, &s[2]) == 0 && a->ops->acquire(a, "vm7", on_done, &s[3]) == 0, "queued");
	wait_all((struct result *const[]){ &s[0], &s[1], &s[2], &s[3] }, 4);
	CHECK(!strcmp(s[0].detail, "acquired") && !strcmp(s[1].detail, "released") && !strcmp(s[2].detail, "acquired") &&
	      !strcmp(s[3].detail, "acquired"), "in order: %s / %s / %s / %s", s[0].detail, s[1].detail, s[2].detail,
	      s[3].detail);

	CHECK(fake.dispatch_in_call == 0, "no completion read while a request was being written (%u)", fake.dispatch_in_call);
	a->ops->close(a);
	b->ops->close(b);
}

/* kvmcd exits while its VMs run: its locks stay (orphans), the next kvmcd adopts or drops them */
static void test_dlm_orphans(void)
{
	struct host_vm_lock *a = open_node(&api1, 0), *b = open_node(&api2, 0), *a2;
	struct result r;

	CALL(r, a->ops->acquire(a, "vm3", on_done, &r));
	CHECK(r.r == 0, "n1 takes vm3: %s", r.detail);
	CALL(r, a->ops->acquire(a, "vm4", on_done, &r));
	CHECK(r.r == 0, "n1 takes vm4: %s", r.detail);
	a->ops->close(a); /* kvmcd stops; vm3 and vm4 keep running */
	CHECK(!strcmp(fake_holder("vm3"), "n1-orphan"), "vm3 is still held, by n1's orphan: %s", fake_holder("vm3"));
	CALL(r, b->ops->acquire(b, "vm3", on_done, &r));
	CHECK(r.r == -EBUSY, "n2 is refused vm3 while n1's kvmcd is down: %d %s", r.r, r.detail);

	a2 = open_node(&api1, 0); /* kvmcd back on n1 (the lockspace exists: opened, not created) */
	unsigned calls = fake.lock_calls;
	CALL(r, a2->ops->acquire(a2, "vm3", on_done, &r));
	CHECK(r.r == 0 && !strcmp(r.detail, "adopted"), "the new kvmcd adopts vm3: %d %s", r.r, r.detail);
	CHECK(fake.lock_calls == calls + 1, "one call (LKF_ORPHAN): %u", fake.lock_calls - calls);
	CHECK(!strcmp(fake_holder("vm3"), "n1"), "n1's kvmcd holds vm3 again: %s", fake_holder("vm3"));
	CALL(r, a2->ops->release(a2, "vm4", on_done, &r)); /* vm4 stopped while kvmcd was down */
	CHECK(r.r == 0 && !strcmp(r.detail, "released"), "its orphan vm4 is adopted and released: %d %s", r.r, r.detail);
	CHECK(!*fake_holder("vm4"), "vm4 is free: %s", fake_holder("vm4"));
	calls = fake.lock_calls;
	CALL(r, a2->ops->release(a2, "vm4", on_done, &r));
	CHECK(r.r == 0 && !strcmp(r.detail, "not held") && fake.lock_calls == calls, "again: not held, no call: %s",
	      r.detail);
	CALL(r, b->ops->acquire(b, "vm4", on_done, &r));
	CHECK(r.r == 0, "n2 may take vm4 now: %d %s", r.r, r.detail);
	CALL(r, a2->ops->release(a2, "vm3", on_done, &r));
	CALL(r, b->ops->acquire(b, "vm3", on_done, &r));
	CHECK(r.r == 0, "and vm3 once n1 released it: %d %s", r.r, r.detail);
	a2->ops->close(a2);
	b->ops->close(b);
}

/* The lockspace recovers (a node waits to be fenced): calls block in the kernel. */
static void test_dlm_recovery(void)
{
	struct host_vm_lock *a = open_node(&api1, 300 * MSEC), *b = open_node(&api2, 300 * MSEC);
	struct result r, r2;
	uint64_t t0;

	CALL(r, a->ops->probe(a, on_done, &r));
	CALL(r, b->ops->probe(b, on_done, &r));
	fake_block(true);
	t0 = now_usec();
	CALL(r, a->ops->acquire(a, "vm5", on_done, &r));
	CHECK(r.r == -ETIMEDOUT && strstr(r.detail, "did not answer within 0.3 s") &&
	      strstr(r.detail, "lock request is still in the kernel"), "timed out: %d %s", r.r, r.detail);
	CHECK(now_usec() - t0 < 2 * SEC, "after its deadline: %llu ms", (unsigned long long)((now_usec() - t0) / MSEC));
	CALL(r2, a->ops->release(a, "vm6", on_done, &r2));
	CHECK(r2.r == -ETIMEDOUT, "another VM's call waits too (one thread): %d %s", r2.r, r2.detail);
	CALL(r2, a->ops->list(a, on_done, &r2));
	CHECK(!strcmp(r2.detail, "{\"vm5\":\"acquiring\",\"vm6\":\"releasing\"}"), "list shows both in flight: %s",
	      r2.detail);
	fake_block(false); /* recovery done: the request completes after all */
	spin(100 * MSEC);
	CHECK(!strcmp(fake_holder("vm5"), "n1"), "the late request was granted: %s", fake_holder("vm5"));
	unsigned calls = fake.lock_calls;
	CALL(r, a->ops->acquire(a, "vm5", on_done, &r));
	CHECK(r.r == 0 && !strcmp(r.detail, "held") && fake.lock_calls == calls,
	      "the next acquire knows it holds vm5 (no call): %d %s", r.r, r.detail);
	CALL(r, b->ops->acquire(b, "vm5", on_done, &r));
	CHECK(r.r == -EBUSY, "and n2 is refused: %d", r.r);
	CALL(r, a->ops->release(a, "vm5", on_done, &r));
	CHECK(r.r == 0 && !strcmp(r.detail, "released"), "released: %s", r.detail);
	CHECK(fake.dispatch_in_call == 0, "no completion read while a request was being written (%u)", fake.dispatch_in_call);
	a->ops->close(a);
	b->ops->close(b);
}

static void test_dlm_join_and_close(void)
{
	struct host_vm_lock *c = open_node(&api2, 0), *d;
	struct result r;

	/* a fresh kvmcd on a node where dlm_controld does not run (nothing joined yet) */
	fake.joined[2] = false;
	fake.join_errno = EUNATCH;
	CALL(r, c->ops->probe(c, on_done, &r));
	CHECK(r.r == -ENOLCK && strstr(r.detail, "dlm_controld is not running"), "probe: %d %s", r.r, r.detail);
	CALL(r, c->ops->acquire(c, "vm8", on_done, &r));
	CHECK(r.r == -ENOLCK && strstr(r.detail, "cannot join DLM lockspace 'kvmcd'"), "acquire: %d %s", r.r, r.detail);
	fake.join_errno = 0;
	CALL(r, c->ops->acquire(c, "vm8", on_done, &r));
	CHECK(r.r == 0 && !strcmp(r.detail, "acquired"), "joined on the next call: %d %s", r.r, r.detail);
	CALL(r, c->ops->release(c, "vm8", on_done, &r));

	/* close from inside a done: no further callback */
	struct result s1 = { 0 }, s2 = { 0 };
	s1.close_me = c;
	CHECK(c->ops->acquire(c, "vm9", on_done, &s1) == 0 && c->ops->acquire(c, "vm10", on_done, &s2) == 0, "queued");
	spin(200 * MSEC);
	CHECK(s1.calls == 1 && s2.calls == 0, "closed inside the first done: %u %u", s1.calls, s2.calls);

	/* close with a call stuck in the kernel: returns (<= ~1 s), the call ends later */
	d = open_node(&api1, 0);
	CALL(r, d->ops->probe(d, on_done, &r));
	fake_block(true);
	r = (struct result){ 0 };
	CHECK(d->ops->acquire(d, "vm11", on_done, &r) == 0, "acquire");
	spin(50 * MSEC);
	uint64_t t0 = now_usec();
	d->ops->close(d);
	CHECK(now_usec() - t0 < 3 * SEC, "close returns");
	fake_block(false);
	usleep(100 * 1000);
	CHECK(r.calls == 0, "no callback after close");
}
#endif /* HAVE_LIBDLM */

/* ---- lockd ---------------------------------------------------------------------------------- */

static void test_conf_syntax(void)
{
	char *v = NULL;
	unsigned line = 0;
	const char *text = "# a comment\n"
			   "user = \"root\"\n"
			   "cgroup_controllers = [ \"cpu\", # inline\n  \"devices\" ]\n"
			   "  lock_manager='lockd'  # trailing\n"
			   "max_files = 2048;\n"
			   "long = \"\"\"two\nlines\"\"\"\n"
			   "lock_manager = \"lockd2\"\n";

	CHECK(host_libvirt_conf_get(text, "lock_manager", &v, NULL) == 0 && v && !strcmp(v, "lockd2"), "last wins: %s",
	      v ? v : "");
	free(v);
	CHECK(host_libvirt_conf_get(text, "max_files", &v, NULL) == 0 && v && !strcmp(v, "2048"), "number");
	free(v);
	CHECK(host_libvirt_conf_get(text, "long", &v, NULL) == 0 && v && !strcmp(v, "two\nlines"), "long string");
	free(v);
	CHECK(host_libvirt_conf_get(text, "cgroup_controllers", &v, NULL) == -ENOENT, "lists are not returned");
	CHECK(host_libvirt_conf_get(text, "absent", &v, NULL) == -ENOENT && !v, "absent");
	CHECK(host_libvirt_conf_get(NULL, "x", &v, NULL) == -ENOENT, "no file");
	CHECK(host_libvirt_conf_get("a = 1\nb = \"open\n", "a", &v, &line) == -EINVAL && line == 2, "unterminated: line %u",
	      line);
	CHECK(host_libvirt_conf_get("a = 1\n\nnot an assignment\n", "a", &v, &line) == -EINVAL && line == 3, "junk: %u",
	      line);
	CHECK(host_libvirt_conf_get("a = [ 1, 2\n", "a", &v, &line) == -EINVAL, "open list");
	CHECK(host_libvirt_conf_get("a = 1 2\n", "a", &v, &line) == -EINVAL, "two values");
}

static void test_lockd_config(void)
{
	char *dir = NULL, *why = NULL;
	const char *q = "lock_manager = \"lockd\"\n";
	const char *l = "file_lockspace_dir = \"/srv/ds1/.kvmcd-leases\"\nrequire_lease_for_disks = 1\n";

#define EXPECT_FAIL(qc, lc, needle) do { \
	int _r = host_vm_lock_lockd_config(qc, lc, &dir, &why); \
	CHECK(_r == -ENOLCK && why && strstr(why, needle) && !dir, "%s: %d %s", needle, _r, why ? why : ""); \
	free(why); why = NULL; free(dir); dir = NULL; \
} while (0)

	CHECK(host_vm_lock_lockd_config(q, l, &dir, &why) == 0 && dir && !strcmp(dir, "/srv/ds1/.kvmcd-leases") && !why,
	      "lockd with a lease dir: %s", why ? why : "");
	free(dir);
	dir = NULL;
	CHECK(host_vm_lock_lockd_config(q, "file_lockspace_dir = '/x'\n", &dir, &why) == 0, "defaults: auto leases, required");
	free(dir);
	dir = NULL;
	EXPECT_FAIL(NULL, l, "lock_manager is unset");
	EXPECT_FAIL("lock_manager = \"sanlock\"\n", l, "lock_manager is \"sanlock\"");
	EXPECT_FAIL(q, NULL, "file_lockspace_dir is not set");
	EXPECT_FAIL(q, "file_lockspace_dir = \"leases\"\n", "not an absolute path");
	EXPECT_FAIL(q, "auto_disk_leases = 0\nfile_lockspace_dir = \"/x\"\n", "auto_disk_leases = 0");
	EXPECT_FAIL(q, "require_lease_for_disks = 0\nfile_lockspace_dir = \"/x\"\n", "require_lease_for_disks = 0");
	EXPECT_FAIL(q, "auto_disk_leases = yes\n", "auto_disk_leases = yes (0 or 1)");
	EXPECT_FAIL("lock_manager = \n", l, "qemu.conf: line 1 does not parse");
#undef EXPECT_FAIL
}

static int write_file(const char *dir, const char *name, const char *text)
{
	char p[4096];
	FILE *f;

	snprintf(p, sizeof(p), "%s/%s", dir, name);
	f = fopen(p, "we");
	if (!f)
		return -errno;
	fputs(text, f);
	return fclose(f) == 0 ? 0 : -EIO;
}

static void test_lockd_probe(void)
{
	char tmp[] = "/tmp/test-vm-lock.XXXXXX", path[4096], real[4096];
	struct host_vm_lock_params p = { 0 };
	struct host_vm_lock *l = NULL;
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct result r;
	int lfd;

	CHECK(mkdtemp(tmp) != NULL, "mkdtemp");
	CHECK(realpath(tmp, real) != NULL, "realpath");
	snprintf(path, sizeof(path), "%s/etc/libvirt", tmp);
	snprintf(path, sizeof(path), "%s/etc", tmp);
	mkdir(path, 0755);
	snprintf(path, sizeof(path), "%s/etc/libvirt", tmp);
	mkdir(path, 0755);
	snprintf(path, sizeof(path), "%s/leases", tmp);
	mkdir(path, 0755);
	snprintf(path, sizeof(path), "%s/proc", tmp);
	mkdir(path, 0755);
	snprintf(path, sizeof(path), "%s/proc/self", tmp);
	mkdir(path, 0755);
	snprintf(path, sizeof(path), "%s/etc/libvirt", tmp);
	CHECK(write_file(path, "qemu.conf", "lock_manager = \"lockd\"\n") == 0, "qemu.conf");
	{
		char t[4200];
		snprintf(t, sizeof(t), "file_lockspace_dir = \"%s/leases\"\n", tmp);
		CHECK(write_file(path, "qemu-lockd.conf", t) == 0, "qemu-lockd.conf");
	}
	/* the lease dir's file system: the fake mountinfo says NFS at the temporary dir */
	{
		char t[9000], pr[4200];
		snprintf(t, sizeof(t),
			 "21 1 8:1 / / rw,relatime shared:1 - ext4 /dev/sda1 rw\n"
			 "40 21 0:50 / %s rw,relatime shared:9 - nfs4 filer:/vol/ds1 rw,vers=4.2\n", real);
		snprintf(pr, sizeof(pr), "%s/proc/self", tmp);
		CHECK(write_file(pr, "mountinfo", t) == 0, "mountinfo");
	}
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s/virtlockd-sock", tmp);
	lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	CHECK(lfd >= 0 && bind(lfd, (struct sockaddr *)&sa, sizeof(sa)) == 0 && listen(lfd, 4) == 0, "virtlockd's socket");

	char etc[4200], proc[4200];
	snprintf(etc, sizeof(etc), "%s/etc", tmp);
	snprintf(proc, sizeof(proc), "%s/proc", tmp);
	struct host_ctx c = ctx;
	c.etc_root = etc;
	c.proc_root = proc;
	p.virtlockd_socket = sa.sun_path;
	CHECK(host_vm_lock_find("lockd") == &host_vm_lock_lockd_ops && !host_vm_lock_lockd_ops.list, "lockd, no list");
	CHECK(host_vm_lock_lockd_ops.open(&c, &p, &l) == 0 && l, "open");
	CALL(r, l->ops->probe(l, on_done, &r));
	CHECK(r.r == 0 && strstr(r.detail, "/leases (nfs4)") && strstr(r.detail, "virtlockd on"), "probe: %d %s", r.r,
	      r.detail);
	CALL(r, l->ops->acquire(l, "vm1", on_done, &r));
	CHECK(r.r == 0 && strstr(r.detail, "lockd: leases in"), "acquire verifies: %d %s", r.r, r.detail);
	CALL(r, l->ops->release(l, "vm1", on_done, &r));
	CHECK(r.r == 0 && strstr(r.detail, "libvirt drops the lease"), "release does nothing: %d %s", r.r, r.detail);

	/* virtlockd gone */
	close(lfd);
	unlink(sa.sun_path);
	CALL(r, l->ops->acquire(l, "vm1", on_done, &r));
	CHECK(r.r == -ENOLCK && strstr(r.detail, "virtlockd does not answer"), "no virtlockd: %d %s", r.r, r.detail);
	/* the lease dir on a local file system */
	{
		char pr[4200];
		snprintf(pr, sizeof(pr), "%s/proc/self", tmp);
		write_file(pr, "mountinfo", "21 1 8:1 / / rw,relatime shared:1 - ext4 /dev/sda1 rw\n");
	}
	CALL(r, l->ops->acquire(l, "vm1", on_done, &r));
	CHECK(r.r == -ENOLCK && strstr(r.detail, "on ext4") && strstr(r.detail, "shared datastore"), "local fs: %d %s",
	      r.r, r.detail);
	/* libvirt not set up */
	CHECK(write_file(path, "qemu.conf", "#lock_manager = \"lockd\"\n") == 0, "qemu.conf");
	CALL(r, l->ops->probe(l, on_done, &r));
	CHECK(r.r == -ENOLCK && strstr(r.detail, "lock_manager is unset"), "unset: %d %s", r.r, r.detail);
	l->ops->close(l);

	char cmd[4200];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmp);
	CHECK(system(cmd) == 0, "cleanup");
}

int main(void)
{
	CHECK(sd_event_new(&ev) >= 0, "event loop");
	ctx = (struct host_ctx){ .event = ev, .node_name = "n1" };
	CHECK(host_vm_lock_find("nope") == NULL && host_vm_lock_find(NULL) == NULL, "unknown table");
	{
		char buf[HOST_VM_LOCK_NAME_MAX + 1];
		CHECK(host_vm_lock_resource("web1", buf) == 0 && !strcmp(buf, "vm:web1"), "resource name");
	}
#ifdef HAVE_LIBDLM
	test_dlm_basic();
	test_dlm_orphans();
	test_dlm_recovery();
	test_dlm_join_and_close();
#else
	printf("test-vm-lock: built without libdlm: the DLM tests are skipped\n");
#endif
	test_conf_syntax();
	test_lockd_config();
	test_lockd_probe();
	spin(20 * MSEC);
	sd_event_unref(ev);
	return tap_done("test-vm-lock");
}
