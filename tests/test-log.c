/* SPDX-License-Identifier: GPL-2.0-or-later */
/* kvmcd's logger (agent/log.h): the journal fields of a line, the ring `kvmcctl log` reads, and
 * stderr's lines (stamped unless stderr is the journal's stream). */
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"

static int failures;
#define CHECK(c)                                                                                   \
	do {                                                                                       \
		if (!(c)) {                                                                        \
			fprintf(stderr, "%s:%d: CHECK(%s) failed\n", __FILE__, __LINE__, #c);      \
			failures++;                                                                \
		}                                                                                  \
	} while (0)

/* The fields as one "A|B|C" string. */
static char *fields(struct klog *l, int level, const struct klog_fields *f, const char *msg)
{
	char **v = NULL, *out = calloc(1, 4096);
	size_t n = 0;

	CHECK(klog_journal_fields(l, level, f, msg, &v, &n) == 0);
	for (size_t i = 0; i < n; i++) {
		if (i)
			strcat(out, "|");
		strncat(out, v[i], 4096 - strlen(out) - 2);
		free(v[i]);
	}
	free(v);
	return out;
}

/* What one WARNING line looks like on stderr (a temporary file), with JOURNAL_STREAM set to
 * journal_stream, or to that file's own "DEV:INODE" (as systemd sets it) when it is "self". */
static char *stderr_line(const char *journal_stream)
{
	char path[] = "/tmp/test-log-XXXXXX", *line = calloc(1, 512), self[64];
	int fd = mkstemp(path), saved = dup(STDERR_FILENO);
	struct klog *l = NULL;
	struct stat st;
	FILE *f;

	CHECK(fd >= 0 && saved >= 0 && line && fstat(fd, &st) == 0);
	snprintf(self, sizeof(self), "%llu:%llu", (unsigned long long)st.st_dev, (unsigned long long)st.st_ino);
	if (journal_stream)
		setenv("JOURNAL_STREAM", strcmp(journal_stream, "self") ? journal_stream : self, 1);
	else
		unsetenv("JOURNAL_STREAM");
	fflush(stderr);
	dup2(fd, STDERR_FILENO);
	CHECK(klog_new(&l) == 0);
	klog_configure(l, LOG_INFO, LOG_TARGET_STDERR, true);
	klog(l, LOG_WARNING, "line %d", 1);
	klog_free(l);
	fflush(stderr);
	dup2(saved, STDERR_FILENO);
	close(saved);
	unsetenv("JOURNAL_STREAM");
	f = fdopen(fd, "r");
	rewind(f);
	if (!fgets(line, 512, f))
		line[0] = '\0';
	fclose(f);
	unlink(path);
	return line;
}

static bool matches(const char *s, const char *re)
{
	regex_t r;
	bool ok;

	if (regcomp(&r, re, REG_EXTENDED | REG_NOSUB) != 0)
		return false;
	ok = regexec(&r, s, 0, NULL, 0) == 0;
	regfree(&r);
	return ok;
}

int main(void)
{
	struct klog *l = NULL;
	char *s;
	json_t *ring;

	CHECK(klog_new(&l) == 0);
	klog_configure(l, LOG_WARNING, LOG_TARGET_STDERR, true);

	/* before the daemon knows its node: only what is always there */
	s = fields(l, LOG_NOTICE, NULL, "starting");
	CHECK(!strcmp(s, "MESSAGE=starting|PRIORITY=5|SYSLOG_IDENTIFIER=kvmcd"));
	free(s);

	klog_set_context(l, "n2", 7);
	s = fields(l, LOG_WARNING, KLOG_VM("web1"), "VM 'web1': started");
	CHECK(!strcmp(s, "MESSAGE=VM 'web1': started|PRIORITY=4|SYSLOG_IDENTIFIER=kvmcd|KVMCD_NODE=n2|KVMCD_EPOCH=7|KVMCD_VM=web1"));
	free(s);
	s = fields(l, LOG_ERR, &(const struct klog_fields){ .datastore = "ds1", .peer = "n3", .policy = "gold" }, "x");
	CHECK(!strcmp(s, "MESSAGE=x|PRIORITY=3|SYSLOG_IDENTIFIER=kvmcd|KVMCD_NODE=n2|KVMCD_EPOCH=7|KVMCD_DATASTORE=ds1|"
			 "KVMCD_PEER=n3|KVMCD_POLICY=gold"));
	free(s);
	/* no leader: no epoch field; a field value is one line, the message keeps its lines */
	klog_set_context(l, NULL, 0);
	s = fields(l, LOG_INFO, KLOG_VM("a\nKVMCD_NODE=evil"), "two\nlines");
	CHECK(!strcmp(s, "MESSAGE=two\nlines|PRIORITY=6|SYSLOG_IDENTIFIER=kvmcd|KVMCD_NODE=n2|KVMCD_VM=a"));
	free(s);

	/* klogf's lines reach the ring like klog's, whatever the level written out */
	klogf(l, LOG_DEBUG, KLOG_DS("ds1"), "Datastore '%s': %s", "ds1", "ready");
	klog(l, LOG_DEBUG, "plain %d", 1);
	ring = klog_ring_json(l);
	CHECK(json_array_size(ring) == 2);
	CHECK(strstr(json_string_value(json_array_get(ring, 0)) ?: "", "DEBUG Datastore 'ds1': ready"));
	CHECK(strstr(json_string_value(json_array_get(ring, 1)) ?: "", "DEBUG plain 1"));
	json_decref(ring);
	klog_free(l);

	/* stderr: the UTC time first, as in the ring; not when stderr is the stream JOURNAL_STREAM
	 * names (the journal stamps it), but still when the variable was inherited by a process
	 * whose stderr goes elsewhere */
	s = stderr_line(NULL);
	CHECK(matches(s, "^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\\.[0-9]{3}Z kvmcd\\[[0-9]+\\]: WARNING: line 1\n$"));
	free(s);
	s = stderr_line("1:2");
	CHECK(matches(s, "^[0-9]{4}-.*Z kvmcd\\[[0-9]+\\]: WARNING: line 1\n$"));
	free(s);
	s = stderr_line("self");
	CHECK(matches(s, "^kvmcd\\[[0-9]+\\]: WARNING: line 1\n$"));
	free(s);
	if (failures) {
		fprintf(stderr, "%d check(s) failed\n", failures);
		return 1;
	}
	printf("all log checks passed\n");
	return 0;
}
