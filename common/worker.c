/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Worker pool: threads take jobs from a FIFO under one mutex, post finished jobs to a second
 * list and poke an eventfd; the loop thread drains that list and calls done. Deadlines are
 * sd-event timers on the loop thread; the job's state (under the mutex) decides who owns it.
 *
 * Job states and owners:
 *   QUEUED     in core->queue; the pool (loop side) may take it out again at its deadline
 *   RUNNING    held by its thread
 *   ABANDONED  held by its thread; the deadline passed and done(-ETIMEDOUT) was called
 *   FINISHED   in core->finished (pushed by the thread, RUNNING or ABANDONED before), waiting for
 *              the loop
 *
 * The shared part (mutex, lists, eventfd) is reference-counted by the pool and each thread, so
 * a thread stuck past worker_pool_free() can still finish safely.
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <time.h>

#include "macros.h"
#include "worker.h"

#define JOIN_WAIT_USEC (1 * USEC_PER_SEC)
#define TIMER_ACCURACY_USEC USEC_PER_MSEC

enum job_state { JOB_QUEUED, JOB_RUNNING, JOB_ABANDONED, JOB_FINISHED };

struct job {
	struct job *prev, *next;            /* in core->queue or core->finished; under core->lock */
	struct job *live_prev, *live_next;  /* in pool->live until the loop is done with it; loop only */
	struct worker_pool *pool;           /* borrowed; loop side only */
	worker_fn fn;
	void *arg;                          /* see worker.h for who owns it when */
	worker_free_fn free_arg;
	worker_done_fn done;
	void *userdata;                     /* borrowed */
	enum job_state state;               /* under core->lock */
	bool finished;                      /* fn returned (FINISHED list); under core->lock */
	int result;
	sd_event_source *timer;             /* owned; loop only; NULL once the deadline is dealt with */
};

struct job_list {
	struct job *head, *tail;
};

struct core {
	pthread_mutex_t lock;
	pthread_cond_t wake;                /* a job was queued, or stopping */
	unsigned refs;                      /* the pool + each thread not yet exited */
	struct job_list queue, finished;
	unsigned n_queued, n_in_fn, n_abandoned;
	bool stopping;                      /* worker_pool_free began: threads exit when idle */
	bool detached;                      /* worker_pool_free is done: threads free their own jobs */
	int efd;                            /* owned; written by threads, read by the loop */
};

struct worker_pool {
	sd_event *event;                    /* referenced */
	sd_event_source *wake_src;          /* owned: the eventfd */
	struct core *core;                  /* one reference */
	pthread_t *threads;                 /* owned */
	unsigned n_threads;
	struct job *live;                   /* every job the loop has not finished with */
	bool *freed;                        /* set while dispatching, so a done that frees the pool
					     * stops the dispatch loop */
};

static uint64_t now_usec(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * USEC_PER_SEC + (uint64_t)ts.tv_nsec / 1000;
}

static void list_push(struct job_list *l, struct job *j)
{
	j->next = NULL;
	j->prev = l->tail;
	if (l->tail)
		l->tail->next = j;
	else
		l->head = j;
	l->tail = j;
}

static void list_remove(struct job_list *l, struct job *j)
{
	if (j->prev)
		j->prev->next = j->next;
	else
		l->head = j->next;
	if (j->next)
		j->next->prev = j->prev;
	else
		l->tail = j->prev;
	j->prev = j->next = NULL;
}

static struct job *list_pop(struct job_list *l)
{
	struct job *j = l->head;

	if (j)
		list_remove(l, j);
	return j;
}

static void live_unlink(struct worker_pool *p, struct job *j)
{
	if (j->live_prev)
		j->live_prev->live_next = j->live_next;
	else if (p->live == j)
		p->live = j->live_next;
	if (j->live_next)
		j->live_next->live_prev = j->live_prev;
	j->live_prev = j->live_next = NULL;
}

/* Frees arg and the job; touches neither pool nor core. */
static void job_free(struct job *j)
{
	if (j->free_arg)
		j->free_arg(j->arg);
	free(j);
}

static void core_unref(struct core *c)
{
	pthread_mutex_lock(&c->lock);
	bool last = --c->refs == 0;
	pthread_mutex_unlock(&c->lock);
	if (!last)
		return;
	pthread_mutex_destroy(&c->lock);
	pthread_cond_destroy(&c->wake);
	closep(&c->efd);
	free(c);
}

static void *worker_main(void *userdata)
{
	struct core *c = userdata;

	pthread_mutex_lock(&c->lock);
	for (;;) {
		while (!c->stopping && !c->queue.head)
			pthread_cond_wait(&c->wake, &c->lock);
		if (c->stopping)
			break;
		struct job *j = list_pop(&c->queue);
		c->n_queued--;
		c->n_in_fn++;
		j->state = JOB_RUNNING;
		pthread_mutex_unlock(&c->lock);

		int r = j->fn(j->arg);

		pthread_mutex_lock(&c->lock);
		c->n_in_fn--;
		if (j->state == JOB_ABANDONED)
			c->n_abandoned--;
		j->result = r;
		if (c->detached) {
			/* The pool is gone; nobody else will free this. */
			pthread_mutex_unlock(&c->lock);
			job_free(j);
			pthread_mutex_lock(&c->lock);
			continue;
		}
		j->finished = true;
		list_push(&c->finished, j);
		pthread_mutex_unlock(&c->lock);
		/* An eventfd counter cannot fill up in practice; a lost wake-up is impossible since the
		 * loop drains the whole list on each one. */
		uint64_t one = 1;
		(void)!write(c->efd, &one, sizeof one);
		pthread_mutex_lock(&c->lock);
	}
	pthread_mutex_unlock(&c->lock);
	core_unref(c);
	return NULL;
}

static int on_wake(sd_event_source *s, int fd, uint32_t revents, void *userdata)
{
	struct worker_pool *p = userdata;
	bool freed = false;
	uint64_t n;

	(void)!read(fd, &n, sizeof n);
	p->freed = &freed;
	for (;;) {
		pthread_mutex_lock(&p->core->lock);
		struct job *j = list_pop(&p->core->finished);
		bool abandoned = j && j->state == JOB_ABANDONED;
		if (j)
			j->state = JOB_FINISHED;
		pthread_mutex_unlock(&p->core->lock);
		if (!j)
			break;
		live_unlink(p, j);
		j->timer = sd_event_source_disable_unref(j->timer);
		if (!abandoned)
			j->done(j->result, j->arg, j->userdata);
		/* A late result of an abandoned job is dropped: its done already had -ETIMEDOUT. */
		job_free(j);
		if (freed)
			return 0;   /* done freed the pool */
	}
	p->freed = NULL;
	return 0;
}

static int on_deadline(sd_event_source *s, uint64_t usec, void *userdata)
{
	struct job *j = userdata;
	struct worker_pool *p = j->pool;
	bool drop = false;

	pthread_mutex_lock(&p->core->lock);
	if (j->finished) {
		/* fn returned just in time; on_wake delivers its result. */
		pthread_mutex_unlock(&p->core->lock);
		return 0;
	}
	if (j->state == JOB_QUEUED) {
		list_remove(&p->core->queue, j);
		p->core->n_queued--;
		drop = true;
	} else {
		j->state = JOB_ABANDONED;
		p->core->n_abandoned++;
	}
	pthread_mutex_unlock(&p->core->lock);

	j->timer = sd_event_source_disable_unref(j->timer);
	if (drop)
		live_unlink(p, j);
	/* The call may be stuck for good; the caller decides on its own clock, not the library's. */
	j->done(-ETIMEDOUT, NULL, j->userdata);
	if (drop)
		job_free(j);
	return 0;
}

int worker_pool_new(sd_event *ev, unsigned n_threads, struct worker_pool **out)
{
	struct worker_pool *p;
	struct core *c;
	sigset_t all, old;
	int r;

	if (!ev || !out || n_threads > WORKER_THREADS_MAX)
		return -EINVAL;
	if (n_threads == 0)
		n_threads = 2;

	c = calloc(1, sizeof *c);
	if (!c)
		return -ENOMEM;
	c->efd = -1;
	c->refs = 1;
	pthread_mutex_init(&c->lock, NULL);
	pthread_cond_init(&c->wake, NULL);
	p = calloc(1, sizeof *p);
	if (!p) {
		core_unref(c);
		return -ENOMEM;
	}
	p->core = c;
	p->event = sd_event_ref(ev);
	p->threads = calloc(n_threads, sizeof *p->threads);
	if (!p->threads) {
		worker_pool_free(p);
		return -ENOMEM;
	}
	c->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (c->efd < 0) {
		r = -errno;
		worker_pool_free(p);
		return r;
	}
	r = sd_event_add_io(ev, &p->wake_src, c->efd, EPOLLIN, on_wake, p);
	if (r < 0) {
		worker_pool_free(p);
		return r;
	}

	/* Threads inherit the mask: with every signal blocked there, the daemon's signalfds and
	 * SIGCHLD handling stay on the loop thread. */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	for (; p->n_threads < n_threads; p->n_threads++) {
		pthread_mutex_lock(&c->lock);
		c->refs++;
		pthread_mutex_unlock(&c->lock);
		r = -pthread_create(&p->threads[p->n_threads], NULL, worker_main, c);
		if (r < 0) {
			pthread_mutex_lock(&c->lock);
			c->refs--;
			pthread_mutex_unlock(&c->lock);
			break;
		}
		(void)pthread_setname_np(p->threads[p->n_threads], "kvmcd-worker");
	}
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (r < 0) {
		worker_pool_free(p);
		return r;
	}
	*out = p;
	return 0;
}

void worker_pool_free(struct worker_pool *p)
{
	struct job_list drop = { 0 };
	struct job *j;

	if (!p)
		return;
	if (p->freed)
		*p->freed = true;
	struct core *c = p->core;

	pthread_mutex_lock(&c->lock);
	c->stopping = true;
	while ((j = list_pop(&c->queue)))
		list_push(&drop, j);
	while ((j = list_pop(&c->finished)))
		list_push(&drop, j);
	c->n_queued = 0;
	pthread_cond_broadcast(&c->wake);
	pthread_mutex_unlock(&c->lock);

	/* Every timer goes now; the jobs threads still hold stay theirs. */
	while (p->live) {
		j = p->live;
		j->timer = sd_event_source_disable_unref(j->timer);
		live_unlink(p, j);
	}
	while ((j = list_pop(&drop)))
		job_free(j);
	p->wake_src = sd_event_source_disable_unref(p->wake_src);

	/* Idle threads exit at once; one inside a slow call gets a bounded wait, then is left. */
	struct timespec until;
	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += JOIN_WAIT_USEC / USEC_PER_SEC;
	for (unsigned i = 0; i < p->n_threads; i++)
		if (pthread_timedjoin_np(p->threads[i], NULL, &until) != 0)
			(void)pthread_detach(p->threads[i]);

	pthread_mutex_lock(&c->lock);
	c->detached = true;
	while ((j = list_pop(&c->finished)))
		list_push(&drop, j);
	pthread_mutex_unlock(&c->lock);
	while ((j = list_pop(&drop)))
		job_free(j);

	core_unref(c);
	free(p->threads);
	sd_event_unref(p->event);
	free(p);
}

int worker_submit(struct worker_pool *p, worker_fn fn, void *arg, worker_free_fn free_arg, worker_done_fn done,
		  void *userdata, uint64_t timeout_usec)
{
	struct job *j;
	int r;

	if (!p || !fn || !done || timeout_usec == 0)
		return -EINVAL;
	j = calloc(1, sizeof *j);
	if (!j)
		return -ENOMEM;
	*j = (struct job){ .pool = p, .fn = fn, .arg = arg, .free_arg = free_arg, .done = done,
			   .userdata = userdata, .state = JOB_QUEUED };
	/* Absolute, from the clock: sd_event_add_time_relative() counts from the loop's cached
	 * iteration time, which is stale when we are called outside a callback. */
	r = sd_event_add_time(p->event, &j->timer, CLOCK_MONOTONIC, now_usec() + timeout_usec, TIMER_ACCURACY_USEC,
			      on_deadline, j);
	if (r < 0) {
		free(j);    /* not job_free: on failure arg stays the caller's */
		return r;
	}
	pthread_mutex_lock(&p->core->lock);
	if (p->core->stopping) {
		pthread_mutex_unlock(&p->core->lock);
		sd_event_source_disable_unref(j->timer);
		free(j);
		return -ESHUTDOWN;
	}
	list_push(&p->core->queue, j);
	p->core->n_queued++;
	pthread_cond_signal(&p->core->wake);
	pthread_mutex_unlock(&p->core->lock);

	j->live_next = p->live;
	if (p->live)
		p->live->live_prev = j;
	p->live = j;
	return 0;
}

void worker_pool_stats(struct worker_pool *p, struct worker_stats *out)
{
	if (!out)
		return;
	*out = (struct worker_stats){ 0 };
	if (!p)
		return;
	pthread_mutex_lock(&p->core->lock);
	out->threads = p->n_threads;
	out->queued = p->core->n_queued;
	out->running = p->core->n_in_fn - p->core->n_abandoned;
	out->abandoned = p->core->n_abandoned;
	pthread_mutex_unlock(&p->core->lock);
}
