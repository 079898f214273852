/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * A small pool of threads for blocking library calls (libvirt, libnvme, ...), reporting back on
 * the sd-event loop.
 *
 * fn runs on a worker thread; done runs on the loop's thread, woken through an eventfd watched
 * by the loop. Jobs start in submission order, up to n_threads at a time. Every job has a
 * deadline, counted from its submission (time spent queued counts):
 *
 *   fn returns in time        → done(fn's result, arg, userdata), then free_arg(arg)
 *   the deadline passes first → done(-ETIMEDOUT, NULL, userdata) at once. If fn had not started,
 *                               it never will and free_arg(arg) follows at once. If fn is
 *                               running, the thread cannot be interrupted: its result is
 *                               discarded when it returns, and free_arg(arg) runs then, on the
 *                               loop. Until then that thread is lost to the pool (see
 *                               worker_pool_stats: a stuck library call shows as `abandoned`).
 *
 * Ownership of arg: the pool's from a successful worker_submit() until free_arg(arg) (NULL
 * free_arg: arg is not the pool's to free, and the caller must keep it alive until fn has
 * returned, which after a timeout only the stats tell; so give heap args a free_arg). fn may
 * read and write arg; done borrows it during its call to read results and may take pieces of
 * it (set the field NULL so free_arg skips it).
 *
 * fn must not touch the loop or anything the loop thread owns, only arg. Worker threads block
 * every signal, so signals keep going to the loop thread.
 *
 * All functions run on the loop's thread. Return 0 or a negative errno.
 */
#pragma once

#include <stdint.h>
#include <systemd/sd-event.h>

struct worker_pool;

#define WORKER_THREADS_MAX 16u

/* Runs on a worker thread; returns 0 or a negative errno (handed to done as is). */
typedef int (*worker_fn)(void *arg);
/* Runs on the loop thread exactly once per submitted job: r is fn's result, or -ETIMEDOUT with
 * arg NULL. May call worker_submit() and worker_pool_free(). */
typedef void (*worker_done_fn)(int r, void *arg, void *userdata);
/* Frees a job's arg; on the loop thread (except after worker_pool_free, see there). */
typedef void (*worker_free_fn)(void *arg);

struct worker_stats {
	unsigned threads;    /* threads the pool was made with */
	unsigned queued;     /* submitted, not started */
	unsigned running;    /* fn running, deadline not passed */
	unsigned abandoned;  /* fn still running past its deadline (threads stuck) */
};

/*
 * Creates a pool of n_threads threads (1..WORKER_THREADS_MAX; 0 means 2) reporting on ev
 * (referenced until worker_pool_free). *out is owned by the caller.
 * Returns 0, -EINVAL, -ENOMEM, or the errno of creating the eventfd or a thread.
 */
int worker_pool_new(sd_event *ev, unsigned n_threads, struct worker_pool **out);

/*
 * Frees the pool. Queued jobs and results not yet delivered are dropped: free_arg, no done.
 * Idle threads are joined. Threads still inside fn get up to 1 s (blocking) to return; after that
 * they are detached and left to finish on their own: when fn returns such a thread calls
 * free_arg(arg) itself (off the loop: free_arg must not touch the loop) and exits. Accepts NULL.
 */
void worker_pool_free(struct worker_pool *p);

/*
 * Queues fn(arg); done(r, arg, userdata) follows exactly once, on the loop, never from inside
 * worker_submit(). timeout_usec > 0, relative to now. userdata is borrowed until done has run.
 * Ownership of arg: see the top of this file; on failure the caller keeps it.
 * Returns 0, -EINVAL (no fn, no done, timeout 0), -ENOMEM, -ESHUTDOWN (pool being freed).
 */
int worker_submit(struct worker_pool *p, worker_fn fn, void *arg, worker_free_fn free_arg, worker_done_fn done,
		  void *userdata, uint64_t timeout_usec);

void worker_pool_stats(struct worker_pool *p, struct worker_stats *out);
