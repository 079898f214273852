/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <systemd/sd-journal.h>
#include <time.h>
#include <unistd.h>

#include "log.h"

struct klog {
	char *node;           /* owned: KVMCD_NODE; NULL = not known yet */
	uint64_t epoch;       /* KVMCD_EPOCH; 0 = none */
	int level;            /* lowest priority written to the target (the ring keeps all) */
	bool journal;         /* else stderr */
	bool stamp_stderr;    /* stderr lines start with the UTC time: the journal does not take them */
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
	free(l->node);
	free(l);
}

/* systemd's JOURNAL_STREAM names the stream it connected ("DEV:INODE"): stderr is the journal
 * only if it is still that stream (a child may have inherited the variable with stderr
 * redirected to a file). */
static bool stderr_is_journal(void)
{
	const char *v = getenv("JOURNAL_STREAM");
	unsigned long long dev, ino;
	struct stat st;

	return v && sscanf(v, "%llu:%llu", &dev, &ino) == 2 && fstat(STDERR_FILENO, &st) == 0 &&
	       (unsigned long long)st.st_dev == dev && (unsigned long long)st.st_ino == ino;
}

void klog_configure(struct klog *l, int level, int target, bool force_stderr)
{
	l->level = level;
	l->stamp_stderr = !stderr_is_journal();
	if (force_stderr || target == LOG_TARGET_STDERR)
		l->journal = false;
	else if (target == LOG_TARGET_JOURNAL)
		l->journal = true;
	else
		/* systemd sets these for the services it starts; anything else is an interactive run. */
		l->journal = getenv("JOURNAL_STREAM") || getenv("INVOCATION_ID");
}

/* The time now as "YYYY-MM-DDTHH:MM:SS.mmmZ" (UTC, milliseconds) into stamp[32]. */
static void utc_stamp(char stamp[32])
{
	struct timespec ts;
	struct tm tm;
	size_t n;

	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	n = strftime(stamp, 32, "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(stamp + n, 32 - n, ".%03ldZ", ts.tv_nsec / 1000000);
}

static void ring_add(struct klog *l, int level, const char *msg)
{
	char stamp[32];
	char *line;

	utc_stamp(stamp);
	if (asprintf(&line, "%s %s %s", stamp, level_tag[level & 7], msg) < 0)
		return; /* the ring is best effort; the line still went to the target */
	free(l->ring[l->head]);
	l->ring[l->head] = line;
	l->head = (l->head + 1) % LOG_RING_LINES;
	if (l->n < LOG_RING_LINES)
		l->n++;
}

void klog_set_context(struct klog *l, const char *node, uint64_t epoch)
{
	if (node && (!l->node || strcmp(l->node, node) != 0)) {
		char *copy = strdup(node);
		if (copy) {
			free(l->node);
			l->node = copy;
		}
	}
	l->epoch = epoch;
}

static int field_add(char **v, size_t *n, const char *key, const char *value)
{
	size_t len = strcspn(value, "\n");

	if (asprintf(&v[*n], "%s=%.*s", key, (int)len, value) < 0)
		return -ENOMEM;
	(*n)++;
	return 0;
}

int klog_journal_fields(const struct klog *l, int level, const struct klog_fields *f, const char *msg,
			char ***out, size_t *n)
{
	char **v = calloc(10, sizeof(*v)), num[32];
	int r = 0;

	*out = NULL;
	*n = 0;
	if (!v)
		return -ENOMEM;
	/* MESSAGE may hold newlines: the journal keeps them (sd_journal_sendv takes the value whole) */
	if (asprintf(&v[(*n)++], "MESSAGE=%s", msg) < 0) {
		(*n)--;
		r = -ENOMEM;
	}
	snprintf(num, sizeof(num), "%d", level & 7);
	if (r >= 0)
		r = field_add(v, n, "PRIORITY", num);
	if (r >= 0)
		r = field_add(v, n, "SYSLOG_IDENTIFIER", "kvmcd");
	if (r >= 0 && l->node)
		r = field_add(v, n, "KVMCD_NODE", l->node);
	if (r >= 0 && l->epoch) {
		snprintf(num, sizeof(num), "%llu", (unsigned long long)l->epoch);
		r = field_add(v, n, "KVMCD_EPOCH", num);
	}
	if (r >= 0 && f && f->vm)
		r = field_add(v, n, "KVMCD_VM", f->vm);
	if (r >= 0 && f && f->datastore)
		r = field_add(v, n, "KVMCD_DATASTORE", f->datastore);
	if (r >= 0 && f && f->peer)
		r = field_add(v, n, "KVMCD_PEER", f->peer);
	if (r >= 0 && f && f->policy)
		r = field_add(v, n, "KVMCD_POLICY", f->policy);
	if (r < 0) {
		for (size_t i = 0; i < *n; i++)
			free(v[i]);
		free(v);
		*n = 0;
		return r;
	}
	*out = v;
	return 0;
}

static int journal_send(const struct klog *l, int level, const struct klog_fields *f, const char *msg)
{
	char **v = NULL;
	size_t n = 0;
	struct iovec iov[10];
	int r = klog_journal_fields(l, level, f, msg, &v, &n);

	if (r < 0)
		return r;
	for (size_t i = 0; i < n; i++)
		iov[i] = (struct iovec){ .iov_base = v[i], .iov_len = strlen(v[i]) };
	r = sd_journal_sendv(iov, (int)n);
	for (size_t i = 0; i < n; i++)
		free(v[i]);
	free(v);
	return r;
}

static void klog_line(struct klog *l, int level, const struct klog_fields *f, const char *fmt, va_list ap)
	_printf_(4, 0);
static void klog_line(struct klog *l, int level, const struct klog_fields *f, const char *fmt, va_list ap)
{
	char buf[4096];

	vsnprintf(buf, sizeof(buf), fmt, ap);
	ring_add(l, level, buf);
	if (level > l->level)
		return;
	/* Without a journal (a container, early boot) the line still goes somewhere: stamped like
	 * `kvmcctl log` unless the journal takes stderr (it stamps lines itself), so a log file it
	 * is redirected to can be laid beside the other nodes' and corosync's. */
	if (!l->journal || journal_send(l, level, f, buf) < 0) {
		char stamp[32] = "";

		if (l->stamp_stderr) {
			utc_stamp(stamp);
			strcat(stamp, " ");
		}
		fprintf(stderr, "%skvmcd[%d]: %s: %s\n", stamp, (int)getpid(), level_tag[level & 7], buf);
	}
}

void klogv(struct klog *l, int level, const char *fmt, va_list ap)
{
	klog_line(l, level, NULL, fmt, ap);
}

void klogf(struct klog *l, int level, const struct klog_fields *f, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	klog_line(l, level, f, fmt, ap);
	va_end(ap);
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
