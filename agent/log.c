/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <systemd/sd-journal.h>
#include <time.h>
#include <unistd.h>

#include "log.h"

struct klog {
	int level;            /* lowest priority written to the target (the ring keeps all) */
	bool journal;         /* else stderr */
	char *ring[LOG_RING_LINES]; /* owned; a circular buffer of formatted lines */
	unsigned head;        /* next slot to write */
	unsigned n;           /* lines held */
};

static const char *const level_tag[8] = { "EMERG", "ALERT", "CRIT", "ERR", "WARNING", "NOTICE", "INFO", "DEBUG" };

int klog_new(struct klog **out)
{
	struct klog *l = calloc(1, sizeof(*l));

	if (!l)
		return -ENOMEM;
	klog_configure(l, LOG_INFO, LOG_TARGET_AUTO, false);
	*out = l;
	return 0;
}

void klog_free(struct klog *l)
{
	if (!l)
		return;
	for (unsigned i = 0; i < LOG_RING_LINES; i++)
		free(l->ring[i]);
	free(l);
}

void klog_configure(struct klog *l, int level, int target, bool force_stderr)
{
	l->level = level;
	if (force_stderr || target == LOG_TARGET_STDERR)
		l->journal = false;
	else if (target == LOG_TARGET_JOURNAL)
		l->journal = true;
	else
		/* systemd sets these for the services it starts; anything else is an interactive run. */
		l->journal = getenv("JOURNAL_STREAM") || getenv("INVOCATION_ID");
}

static void ring_add(struct klog *l, int level, const char *msg)
{
	struct timespec ts;
	struct tm tm;
	char stamp[32];
	char *line;

	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%S", &tm);
	if (asprintf(&line, "%s.%03ldZ %s %s", stamp, ts.tv_nsec / 1000000, level_tag[level & 7], msg) < 0)
		return; /* the ring is best effort; the line still went to the target */
	free(l->ring[l->head]);
	l->ring[l->head] = line;
	l->head = (l->head + 1) % LOG_RING_LINES;
	if (l->n < LOG_RING_LINES)
		l->n++;
}

void klogv(struct klog *l, int level, const char *fmt, va_list ap)
{
	char buf[4096];

	vsnprintf(buf, sizeof(buf), fmt, ap);
	ring_add(l, level, buf);
	if (level > l->level)
		return;
	/* Without a journal (a container, early boot) the line still goes somewhere. */
	if (!l->journal ||
	    sd_journal_send("MESSAGE=%s", buf, "PRIORITY=%i", level, "SYSLOG_IDENTIFIER=kvmcd", NULL) < 0)
		fprintf(stderr, "kvmcd[%d]: %s: %s\n", (int)getpid(), level_tag[level & 7], buf);
}

void klog(struct klog *l, int level, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	klogv(l, level, fmt, ap);
	va_end(ap);
}

json_t *klog_ring_json(const struct klog *l)
{
	json_t *a = json_array();

	if (!a)
		return NULL;
	for (unsigned i = 0; i < l->n; i++) {
		unsigned slot = (l->head + LOG_RING_LINES - l->n + i) % LOG_RING_LINES;

		json_t *s = json_string(l->ring[slot]);

		if (!s) {
			/* Not UTF-8 (a peer's bytes in a message): show it, minus the bytes JSON refuses. */
			_cleanup_free_ char *copy = strdup(l->ring[slot]);

			if (copy)
				for (char *p = copy; *p; p++)
					if ((unsigned char)*p >= 0x80)
						*p = '?';
			s = copy ? json_string(copy) : NULL;
		}
		if (json_array_append_new(a, s) < 0) {
			json_decref(a);
			return NULL;
		}
	}
	return a;
}
