/* SPDX-License-Identifier: GPL-2.0-or-later */
/* kvmcd's logger (agent/log.h): the journal fields of a line, and the ring `kvmcctl log` reads. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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
	if (failures) {
		fprintf(stderr, "%d check(s) failed\n", failures);
		return 1;
	}
	printf("all log checks passed\n");
	return 0;
}
