/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * common/worker: fn on worker threads, done and free_arg on the loop thread, at most n_threads at
 * once, deadlines while queued and while running (late result discarded, arg freed when the call
 * returns), worker_pool_free with queued, finished-undelivered and stuck jobs, and from a done
 * callback. About 1.5 s (the stuck-thread case waits out worker_pool_free's 1 s join).
 */
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <string.h>
#include <time.h>

#include "macros.h"
#include "tap.h"
#include "worker.h"

#define MSEC USEC_PER_MSEC
#define SEC USEC_PER_SEC

static sd_event *ev;
static pthread_t loop_thread;

static uint64_t now_usec(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * SEC + (uint64_t)ts.tv_nsec / 1000;
}

static bool run_until(const unsigned *count, unsigned want, uint64_t max_usec)
{
	uint64_t deadline = now_usec() + max_usec;

	while (*count < want) {
		uint64_t now = now_usec();
		if (now >= deadline)
			return false;
		if (sd_event_run(ev, deadline - now) < 0)
			return false;
	}
	return true;
}

/* A gate a worker can block on until the test opens it (a stuck library call). */
struct gate {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	bool open;
};

static struct gate gate = { PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, false };

static void gate_set(bool open)
{
	pthread_mutex_lock(&gate.lock);
	gate.open = open;
	pthread_cond_broadcast(&gate.cond);
	pthread_mutex_unlock(&gate.lock);
}

static void gate_wait(void)
{
	pthread_mutex_lock(&gate.lock);
	while (!gate.open)
		pthread_cond_wait(&gate.cond, &gate.lock);
	pthread_mutex_unlock(&gate.lock);
}

static atomic_int in_fn, max_in_fn;
static atomic_uint frees, frees_off_loop;
static unsigned dones;

struct arg {
	int input;
	int output;
	bool block;               /* wait at the gate */
	bool ran;
	bool ran_on_loop_thread;
	uint64_t hold_usec;       /* busy time on the worker thread */
};

static int job_fn(void *userdata)
{
	struct arg *a = userdata;
	int now = atomic_fetch_add(&in_fn, 1) + 1;

	for (int m = atomic_load(&max_in_fn); now > m && !atomic_compare_exchange_weak(&max_in_fn, &m, now);)
		;
	a->ran = true;
	a->ran_on_loop_thread = pthread_equal(pthread_self(), loop_thread);
	if (a->block)
		gate_wait();
	if (a->hold_usec) {
		struct timespec ts = { 0, (long)(a->hold_usec * 1000) };
		nanosleep(&ts, NULL);   /* on the worker thread: this is the "blocking library call" */
	}
	a->output = a->input * 2;
	atomic_fetch_sub(&in_fn, 1);
	return a->input < 0 ? -EIO : 0;
}

static void arg_free(void *userdata)
{
	atomic_fetch_add(&frees, 1);
	if (!pthread_equal(pthread_self(), loop_thread))
		atomic_fetch_add(&frees_off_loop, 1);
	free(userdata);
}

struct outcome {
	unsigned calls;
	int r;
	bool arg_null;
	int output;
	bool on_loop_thread;
};

static void on_done(int r, void *userdata_arg, void *userdata)
{
	struct outcome *o = userdata;
	struct arg *a = userdata_arg;

	dones++;
	o->calls++;
	o->r = r;
	o->arg_null = a == NULL;
	o->output = a ? a->output : 0;
	o->on_loop_thread = pthread_equal(pthread_self(), loop_thread);
	if (a)
		CHECK(!a->ran_on_loop_thread, "fn ran on the loop thread");
}

static struct arg *arg_new(int input)
{
	struct arg *a = calloc(1, sizeof *a);

	a->input = input;
	return a;
}

/* Waits (off the loop: nothing to dispatch) until n jobs are inside fn. */
static bool wait_running(struct worker_pool *p, unsigned n)
{
	struct worker_stats st = { 0 };

	for (uint64_t deadline = now_usec() + 2 * SEC; now_usec() < deadline;) {
		worker_pool_stats(p, &st);
		if (st.running == n)
			return true;
		sched_yield();
	}
	return false;
}

static void test_results(void)
{
	enum { N = 24 };
	struct worker_pool *p = NULL;
	struct outcome o[N] = { 0 };
	struct worker_stats st;

	CHECK(worker_pool_new(ev, 3, &p) == 0, "pool");
	atomic_store(&max_in_fn, 0);
	unsigned frees0 = atomic_load(&frees), dones0 = dones;
	uint64_t t0 = now_usec();
	for (int i = 0; i < N; i++) {
		struct arg *a = arg_new(i == 5 ? -1 : i);
		a->hold_usec = 10 * MSEC;
		CHECK(worker_submit(p, job_fn, a, arg_free, on_done, &o[i], 5 * SEC) == 0, "submit %d", i);
	}
	CHECK(dones == dones0, "done called inside worker_submit");
	worker_pool_stats(p, &st);
	CHECK(st.threads == 3 && st.queued + st.running == N && st.abandoned == 0, "stats t%u q%u r%u a%u", st.threads,
	      st.queued, st.running, st.abandoned);
	CHECK(run_until(&dones, dones0 + N, 5 * SEC), "%u of %d done", dones - dones0, N);
	uint64_t took = now_usec() - t0;
	for (int i = 0; i < N; i++) {
		CHECK(o[i].calls == 1 && o[i].on_loop_thread && !o[i].arg_null, "job %d: calls %u, loop %d", i, o[i].calls,
		      o[i].on_loop_thread);
		if (i == 5)
			CHECK(o[i].r == -EIO, "fn's error not passed on: %d", o[i].r);
		else
			CHECK(o[i].r == 0 && o[i].output == 2 * i, "job %d: r %d output %d", i, o[i].r, o[i].output);
	}
	CHECK(atomic_load(&frees) == frees0 + N && atomic_load(&frees_off_loop) == 0, "frees %u (off loop %u)",
	      atomic_load(&frees) - frees0, atomic_load(&frees_off_loop));
	/* Never more than the pool's threads at once (and some overlap, or there is no pool). */
	CHECK(atomic_load(&max_in_fn) <= 3 && atomic_load(&max_in_fn) >= 2, "at most 3 at once, saw %d",
	      atomic_load(&max_in_fn));
	/* 24 jobs of 10 ms on 3 threads: at least 8 rounds. */
	CHECK(took >= 80 * MSEC, "took %llu us", (unsigned long long)took);
	worker_pool_stats(p, &st);
	CHECK(st.queued == 0 && st.running == 0 && st.abandoned == 0, "stats after q%u r%u a%u", st.queued, st.running,
	      st.abandoned);

	CHECK(worker_submit(p, NULL, NULL, NULL, on_done, &o[0], SEC) == -EINVAL, "no fn accepted");
	CHECK(worker_submit(p, job_fn, NULL, NULL, NULL, &o[0], SEC) == -EINVAL, "no done accepted");
	CHECK(worker_submit(p, job_fn, NULL, NULL, on_done, &o[0], 0) == -EINVAL, "timeout 0 accepted");
	worker_pool_free(p);
	CHECK(worker_pool_new(ev, WORKER_THREADS_MAX + 1, &p) == -EINVAL, "too many threads accepted");
}

/* The queued job must not have run: checked through a flag the fn would set. */
static atomic_bool never_ran = true;

static int must_not_run(void *arg)
{
	atomic_store(&never_ran, false);
	return 0;
}

static void test_deadlines(void)
{
	struct worker_pool *p = NULL;
	struct outcome stuck = { 0 }, queued = { 0 }, fine = { 0 };
	struct worker_stats st;

	/* One thread: a call stuck at the gate, a job queued behind it. */
	CHECK(worker_pool_new(ev, 1, &p) == 0, "pool");
	gate_set(false);
	struct arg *a_stuck = arg_new(1);
	a_stuck->block = true;
	unsigned frees0 = atomic_load(&frees);
	CHECK(worker_submit(p, job_fn, a_stuck, arg_free, on_done, &stuck, 300 * MSEC) == 0, "submit stuck");
	CHECK(wait_running(p, 1), "stuck job not running");
	CHECK(worker_submit(p, must_not_run, arg_new(2), arg_free, on_done, &queued, 50 * MSEC) == 0, "submit queued");

	/* The queued one times out first: never runs, arg freed at once. */
	uint64_t t0 = now_usec();
	CHECK(run_until(&queued.calls, 1, SEC), "queued job: no timeout");
	CHECK(queued.r == -ETIMEDOUT && queued.arg_null && queued.on_loop_thread, "queued: r %d", queued.r);
	CHECK(now_usec() - t0 >= 40 * MSEC, "timed out early");
	CHECK(atomic_load(&frees) == frees0 + 1, "queued arg not freed at its timeout");
	CHECK(stuck.calls == 0, "stuck reported early");

	/* The running one times out: done(-ETIMEDOUT, NULL) while fn is still inside. */
	CHECK(run_until(&stuck.calls, 1, SEC), "stuck job: no timeout");
	CHECK(stuck.r == -ETIMEDOUT && stuck.arg_null && stuck.on_loop_thread, "stuck: r %d", stuck.r);
	CHECK(atomic_load(&frees) == frees0 + 1, "arg of a running call freed under its feet");
	worker_pool_stats(p, &st);
	CHECK(st.abandoned == 1 && st.running == 0 && st.queued == 0, "stats q%u r%u a%u", st.queued, st.running,
	      st.abandoned);

	/* The call returns: result dropped, no second done, arg freed on the loop thread. */
	gate_set(true);
	unsigned want = frees0 + 2;
	uint64_t deadline = now_usec() + SEC;
	while (atomic_load(&frees) < want && now_usec() < deadline)
		sd_event_run(ev, 50 * MSEC);
	CHECK(atomic_load(&frees) == want && atomic_load(&frees_off_loop) == 0, "late arg: frees %u, off loop %u",
	      atomic_load(&frees) - frees0, atomic_load(&frees_off_loop));
	CHECK(stuck.calls == 1 && queued.calls == 1, "second done: %u %u", stuck.calls, queued.calls);
	CHECK(atomic_load(&never_ran), "a job that timed out in the queue ran later");
	worker_pool_stats(p, &st);
	CHECK(st.abandoned == 0, "abandoned %u after the call returned", st.abandoned);

	/* The thread is back: a new job runs. */
	CHECK(worker_submit(p, job_fn, arg_new(21), arg_free, on_done, &fine, SEC) == 0, "submit");
	CHECK(run_until(&fine.calls, 1, SEC) && fine.r == 0 && fine.output == 42, "after recovery: r %d", fine.r);
	worker_pool_free(p);
}

static struct worker_pool *nested_pool;

static void on_done_free_pool(int r, void *arg, void *userdata)
{
	struct outcome *o = userdata;

	o->calls++;
	o->r = r;
	worker_pool_free(nested_pool);
	nested_pool = NULL;
}

static void test_free(void)
{
	struct worker_pool *p = NULL;
	struct outcome o[4] = { 0 };

	/* Free with a stuck call, a queued job and nothing delivered: no done; queued arg freed now;
	 * the stuck thread is left after 1 s and frees its arg itself when the call returns. */
	CHECK(worker_pool_new(ev, 1, &p) == 0, "pool");
	gate_set(false);
	struct arg *a = arg_new(3);
	a->block = true;
	unsigned frees0 = atomic_load(&frees), off0 = atomic_load(&frees_off_loop), dones0 = dones;
	CHECK(worker_submit(p, job_fn, a, arg_free, on_done, &o[0], 10 * SEC) == 0, "submit stuck");
	CHECK(worker_submit(p, must_not_run, arg_new(4), arg_free, on_done, &o[1], 10 * SEC) == 0, "submit queued");
	CHECK(wait_running(p, 1), "stuck job not running");
	uint64_t t0 = now_usec();
	worker_pool_free(p);
	uint64_t took = now_usec() - t0;
	CHECK(took >= 900 * MSEC && took < 2 * SEC, "free took %llu us", (unsigned long long)took);
	CHECK(dones == dones0, "done called by worker_pool_free");
	CHECK(atomic_load(&frees) == frees0 + 1 && atomic_load(&never_ran), "queued job: frees %u, ran %d",
	      atomic_load(&frees) - frees0, !atomic_load(&never_ran));
	gate_set(true);
	/* both counters: arg_free() counts frees before frees_off_loop */
	for (uint64_t deadline = now_usec() + SEC;
	     (atomic_load(&frees) < frees0 + 2 || atomic_load(&frees_off_loop) < off0 + 1) && now_usec() < deadline;)
		sched_yield();
	CHECK(atomic_load(&frees) == frees0 + 2 && atomic_load(&frees_off_loop) == off0 + 1,
	      "stuck arg after free: frees %u, off loop %u", atomic_load(&frees) - frees0,
	      atomic_load(&frees_off_loop) - off0);

	/* Free from a done callback, with another result waiting to be delivered. */
	CHECK(worker_pool_new(ev, 2, &nested_pool) == 0, "pool");
	frees0 = atomic_load(&frees);
	CHECK(worker_submit(nested_pool, job_fn, arg_new(5), arg_free, on_done_free_pool, &o[2], SEC) == 0, "submit");
	CHECK(worker_submit(nested_pool, job_fn, arg_new(6), arg_free, on_done_free_pool, &o[3], SEC) == 0, "submit");
	unsigned total = 0;
	for (uint64_t deadline = now_usec() + SEC; !total && now_usec() < deadline;) {
		sd_event_run(ev, 50 * MSEC);
		total = o[2].calls + o[3].calls;
	}
	sd_event_run(ev, 20 * MSEC);
	CHECK(o[2].calls + o[3].calls == 1 && !nested_pool, "dones after a free from done: %u",
	      o[2].calls + o[3].calls);
	/* Both args are freed: one after its done, the other by the free (or by its thread). */
	/* both counters: arg_free() counts frees before frees_off_loop */
	for (uint64_t deadline = now_usec() + SEC;
	     (atomic_load(&frees) < frees0 + 2 || atomic_load(&frees_off_loop) < off0 + 1) && now_usec() < deadline;)
		sched_yield();
	CHECK(atomic_load(&frees) == frees0 + 2, "frees %u", atomic_load(&frees) - frees0);
}

int main(void)
{
	loop_thread = pthread_self();
	if (sd_event_new(&ev) < 0)
		return 1;
	test_results();
	test_deadlines();
	test_free();
	sd_event_unref(ev);
	return tap_done("test-worker");
}
