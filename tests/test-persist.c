/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The state directory on disk (agent/persist.h): the lock, the atomic snapshot, the journal
 * (append, read back, a torn last line, a snapshot resetting it, a crash between the snapshot
 * and the journal's truncation, a short write / file-size limit that must never leave a torn
 * line before a good one), damaged files.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "agent/persist.h"
#include "tap.h"

static char dir[64];

static char *slurp(const char *name)
{
	static char buf[4096];
	char path[128];
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	fd = open(path, O_RDONLY);
	if (fd < 0)
		return NULL;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	buf[n < 0 ? 0 : n] = 0;
	return buf;
}

static void put(const char *name, const char *text, int flags)
{
	char path[128];
	int fd;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	fd = open(path, O_WRONLY | O_CREAT | flags, 0600);
	CHECK(fd >= 0 && write(fd, text, strlen(text)) == (ssize_t)strlen(text), "write %s", name);
	if (fd >= 0)
		close(fd);
}

/* persist_read() into two strings compared with the expected ones (NULL = absent). */
static void check_read(struct persist *p, const char *snapshot, const char *journal, const char *what)
{
	char *s = (char *)"untouched", *j = (char *)"untouched";
	int r = persist_read(p, &s, &j);

	CHECK(r == 0, "%s: read: %d", what, r);
	if (r < 0)
		return;
	CHECK(snapshot ? s && strcmp(s, snapshot) == 0 : s == NULL, "%s: snapshot '%s', want '%s'", what,
	      s ? s : "(null)", snapshot ? snapshot : "(null)");
	CHECK(journal ? j && strcmp(j, journal) == 0 : j == NULL, "%s: journal '%s', want '%s'", what,
	      j ? j : "(null)", journal ? journal : "(null)");
	free(s);
	free(j);
}

static struct persist *reopen(struct persist *p)
{
	struct persist *q = NULL;
	int r;

	persist_free(p);
	r = persist_open(dir, &q);
	CHECK(r == 0 && q, "reopen: %d", r);
	if (!q)
		exit(tap_done("test-persist"));
	return q;
}

int main(void)
{
	char base[] = "/tmp/test-persist-XXXXXX", path[128];
	struct persist *p = NULL, *p2 = NULL;
	struct rlimit saved, small;
	char *s, *j;
	struct stat st;
	int r;

	if (!mkdtemp(base))
		return 1;
	snprintf(dir, sizeof(dir), "%s/a/b", base);

	/* Opening creates the state dir (mode 0700) and locks it exclusively. */
	r = persist_open(dir, &p);
	CHECK(r == 0 && p, "open: %d", r);
	if (!p)
		return tap_done("test-persist");
	CHECK(stat(dir, &st) == 0 && (st.st_mode & 07777) == 0700, "state dir mode %o", st.st_mode & 07777);
	r = persist_open(dir, &p2);
	CHECK(r == -EBUSY && !p2, "second open: %d", r);
	snprintf(path, sizeof(path), "%s/%s", dir, PERSIST_JOURNAL_FILE);
	CHECK(stat(path, &st) == 0 && (st.st_mode & 0777) == 0600 && st.st_size == 0, "journal created, mode %o",
	      st.st_mode & 0777);

	/* A fresh node has no state: success with NULL, NULL. */
	check_read(p, NULL, NULL, "fresh");

	/* The snapshot: atomic replace, mode 0600, no temporary file left behind. */
	CHECK(persist_write(p, "{\"version\":1}", 13) == 0, "write 1");
	check_read(p, "{\"version\":1}", NULL, "snapshot 1");
	CHECK(persist_write(p, "{\"version\":2}\n", 14) == 0, "write 2 (replace)");
	check_read(p, "{\"version\":2}\n", NULL, "snapshot 2");
	CHECK(persist_snapshot_bytes(p) == 14, "snapshot bytes %llu", (unsigned long long)persist_snapshot_bytes(p));
	snprintf(path, sizeof(path), "%s/%s", dir, PERSIST_STATE_FILE);
	CHECK(stat(path, &st) == 0 && (st.st_mode & 0777) == 0600, "state file mode %o", st.st_mode & 0777);
	snprintf(path, sizeof(path), "%s/.%s.tmp", dir, PERSIST_STATE_FILE);
	CHECK(access(path, F_OK) < 0, "no temporary file left behind");

	/* Journal: append and read back, one record a line. */
	CHECK(persist_append(p, "{\"v\":3}", 7) == 0, "append 3");
	CHECK(persist_append(p, "{\"v\":4}", 7) == 0, "append 4");
	check_read(p, "{\"version\":2}\n", "{\"v\":3}\n{\"v\":4}\n", "journal 3,4");
	CHECK(persist_journal_bytes(p) == 16, "journal bytes %llu", (unsigned long long)persist_journal_bytes(p));
	CHECK(persist_append(p, "a\nb", 3) == -EINVAL, "a record with a newline is refused");
	CHECK(persist_append(p, "", 0) == -EINVAL, "an empty record is refused");
	CHECK(strcmp(slurp(PERSIST_JOURNAL_FILE), "{\"v\":3}\n{\"v\":4}\n") == 0, "refusals wrote nothing");
	/* ... and survives a restart, appending where it was. */
	p = reopen(p);
	check_read(p, "{\"version\":2}\n", "{\"v\":3}\n{\"v\":4}\n", "journal after reopen");
	CHECK(persist_journal_bytes(p) == 16 && persist_snapshot_bytes(p) == 14, "sizes after reopen");

	/* A snapshot empties the journal; appends go on from the start. */
	CHECK(persist_write(p, "{\"version\":4}", 13) == 0, "snapshot 4");
	check_read(p, "{\"version\":4}", NULL, "snapshot resets the journal");
	CHECK(persist_journal_bytes(p) == 0, "journal bytes after a snapshot");
	snprintf(path, sizeof(path), "%s/%s", dir, PERSIST_JOURNAL_FILE);
	CHECK(stat(path, &st) == 0 && st.st_size == 0, "journal file empty: %lld", (long long)st.st_size);
	CHECK(persist_append(p, "{\"v\":5}", 7) == 0, "append 5");
	check_read(p, "{\"version\":4}", "{\"v\":5}\n", "append after a snapshot");

	/* A crash mid-append leaves a torn last line: cut off at the next open, so that nothing is
	 * ever appended after it. */
	put(PERSIST_JOURNAL_FILE, "{\"v\":6,\"tor", O_APPEND);
	p = reopen(p);
	check_read(p, "{\"version\":4}", "{\"v\":5}\n", "torn last line cut off");
	CHECK(persist_journal_bytes(p) == 8, "journal bytes after the cut: %llu",
	      (unsigned long long)persist_journal_bytes(p));
	CHECK(persist_append(p, "{\"v\":6}", 7) == 0, "append 6 after the cut");
	CHECK(strcmp(slurp(PERSIST_JOURNAL_FILE), "{\"v\":5}\n{\"v\":6}\n") == 0, "journal: %s",
	      slurp(PERSIST_JOURNAL_FILE));
	/* A journal that is one torn line and nothing else. */
	put(PERSIST_JOURNAL_FILE, "{\"v\":7", O_TRUNC);
	p = reopen(p);
	check_read(p, "{\"version\":4}", NULL, "a lone torn line is cut off");
	CHECK(persist_append(p, "{\"v\":5}", 7) == 0 && persist_append(p, "{\"v\":6}", 7) == 0, "re-append 5, 6");

	/* A crash between the snapshot's rename and the journal's truncation: the new snapshot and
	 * the old journal are both read (the core skips records the snapshot already holds). */
	put(PERSIST_STATE_FILE, "{\"version\":6}", O_TRUNC);
	p = reopen(p);
	check_read(p, "{\"version\":6}", "{\"v\":5}\n{\"v\":6}\n", "snapshot newer than the journal");
	CHECK(persist_snapshot_bytes(p) == 13, "snapshot bytes from the file");

	/* A short write (the file-size limit cuts the record; the next write fails with EFBIG as
	 * ENOSPC would): the journal is cut back to its previous size and the next append is clean. */
	signal(SIGXFSZ, SIG_IGN);
	CHECK(getrlimit(RLIMIT_FSIZE, &saved) == 0, "getrlimit");
	small = saved;
	small.rlim_cur = persist_journal_bytes(p) + 4;
	CHECK(setrlimit(RLIMIT_FSIZE, &small) == 0, "setrlimit");
	r = persist_append(p, "{\"v\":7,\"pad\":\"xxxxxxxx\"}", 24);
	CHECK(r == -EFBIG, "append beyond the limit: %d", r);
	CHECK(persist_journal_bytes(p) == 16, "journal bytes unchanged: %llu", (unsigned long long)persist_journal_bytes(p));
	CHECK(strcmp(slurp(PERSIST_JOURNAL_FILE), "{\"v\":5}\n{\"v\":6}\n") == 0, "torn part cut back: %s",
	      slurp(PERSIST_JOURNAL_FILE));
	/* The snapshot too fails cleanly: the old one stays, no temporary file. */
	small.rlim_cur = 4;
	CHECK(setrlimit(RLIMIT_FSIZE, &small) == 0, "setrlimit");
	r = persist_write(p, "{\"version\":7,\"pad\":\"xxxxxxxx\"}", 30);
	CHECK(r == -EFBIG, "snapshot beyond the limit: %d", r);
	CHECK(setrlimit(RLIMIT_FSIZE, &saved) == 0, "restore the limit");
	check_read(p, "{\"version\":6}", "{\"v\":5}\n{\"v\":6}\n", "old snapshot and journal kept");
	snprintf(path, sizeof(path), "%s/.%s.tmp", dir, PERSIST_STATE_FILE);
	CHECK(access(path, F_OK) < 0, "no temporary file left behind after a failed snapshot");
	CHECK(persist_append(p, "{\"v\":7}", 7) == 0, "append 7 once there is room");
	CHECK(strcmp(slurp(PERSIST_JOURNAL_FILE), "{\"v\":5}\n{\"v\":6}\n{\"v\":7}\n") == 0, "journal: %s",
	      slurp(PERSIST_JOURNAL_FILE));
	signal(SIGXFSZ, SIG_DFL);

	/* The journal is the file at its path, as this process left it: one written, replaced or
	 * deleted by someone else is never appended to (a kept descriptor would have gone on writing
	 * into a file nobody reads). A snapshot starts it afresh. */
	put(PERSIST_JOURNAL_FILE, "{\"v\":99}\n", O_APPEND);
	r = persist_append(p, "{\"v\":8}", 7);
	CHECK(r == -ESTALE, "append to a journal someone else wrote: %d", r);
	snprintf(path, sizeof(path), "%s/%s", dir, PERSIST_JOURNAL_FILE);
	unlink(path);
	r = persist_append(p, "{\"v\":8}", 7);
	CHECK(r == -ENOENT, "append to a deleted journal: %d", r);
	CHECK(persist_write(p, "{\"version\":7}", 13) == 0, "snapshot 7 recreates the journal");
	CHECK(persist_append(p, "{\"v\":8}", 7) == 0, "append 8");
	check_read(p, "{\"version\":7}", "{\"v\":8}\n", "after the journal was recreated");

	/* A file with NUL bytes is not one we wrote; the caller refuses to start. */
	snprintf(path, sizeof(path), "%s/%s", dir, PERSIST_STATE_FILE);
	r = open(path, O_WRONLY | O_TRUNC);
	CHECK(r >= 0 && write(r, "{\0}", 3) == 3, "damage");
	close(r);
	s = j = (char *)"untouched";
	CHECK(persist_read(p, &s, &j) == -EBADMSG, "NUL bytes refused");
	CHECK(strcmp(s, "untouched") == 0 && strcmp(j, "untouched") == 0, "outputs untouched on failure");

	/* A directory where the snapshot should be. */
	unlink(path);
	mkdir(path, 0700);
	CHECK(persist_read(p, &s, &j) < 0, "directory refused");
	CHECK(persist_write(p, "x", 1) < 0, "cannot replace a directory");
	rmdir(path);

	/* The lock goes with the object. */
	persist_free(p);
	r = persist_open(dir, &p2);
	CHECK(r == 0, "open after release: %d", r);
	persist_free(p2);

	snprintf(path, sizeof(path), "rm -rf '%s'", base);
	CHECK(system(path) == 0, "cleanup");
	return tap_done("test-persist");
}
