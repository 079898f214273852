/* SPDX-License-Identifier: GPL-2.0-or-later */
/* state.json on disk: round trip, atomic replace, fresh node, damaged file, the state-dir lock. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "agent/persist.h"
#include "tap.h"

int main(void)
{
	char base[] = "/tmp/test-persist-XXXXXX", dir[64], path[96], *text = NULL;
	struct stat st;
	int lock, lock2, fd;

	if (!mkdtemp(base))
		return 1;
	snprintf(dir, sizeof(dir), "%s/a/b", base);

	/* The lock creates the state dir (mode 0700) and is exclusive. */
	lock = persist_lock(dir);
	CHECK(lock >= 0, "lock: %d", lock);
	CHECK(stat(dir, &st) == 0 && (st.st_mode & 07777) == 0700, "state dir mode %o", st.st_mode & 07777);
	lock2 = persist_lock(dir);
	CHECK(lock2 == -EBUSY, "second lock: %d", lock2);

	/* A fresh node has no state: success with NULL. */
	text = (char *)"untouched";
	CHECK(persist_read(dir, &text) == 0 && text == NULL, "missing file");

	CHECK(persist_write(dir, "{\"version\":1}", 13) == 0, "write 1");
	CHECK(persist_read(dir, &text) == 0 && text && strcmp(text, "{\"version\":1}") == 0, "read 1: %s", text);
	free(text);
	CHECK(persist_write(dir, "{\"version\":2}\n", 14) == 0, "write 2 (replace)");
	CHECK(persist_read(dir, &text) == 0 && text && strcmp(text, "{\"version\":2}\n") == 0, "read 2");
	free(text);
	snprintf(path, sizeof(path), "%s/%s", dir, PERSIST_STATE_FILE);
	CHECK(stat(path, &st) == 0 && (st.st_mode & 0777) == 0600, "state file mode %o", st.st_mode & 0777);
	snprintf(path, sizeof(path), "%s/.%s.tmp", dir, PERSIST_STATE_FILE);
	CHECK(access(path, F_OK) < 0, "no temporary file left behind");

	/* A file with NUL bytes is not one we wrote; the caller refuses to start. */
	snprintf(path, sizeof(path), "%s/%s", dir, PERSIST_STATE_FILE);
	fd = open(path, O_WRONLY | O_TRUNC);
	CHECK(fd >= 0 && write(fd, "{\0}", 3) == 3, "damage");
	close(fd);
	text = (char *)"untouched";
	CHECK(persist_read(dir, &text) == -EBADMSG, "NUL bytes refused");
	CHECK(strcmp(text, "untouched") == 0, "output untouched on failure");

	/* A directory where the file should be. */
	unlink(path);
	mkdir(path, 0700);
	CHECK(persist_read(dir, &text) < 0, "directory refused");
	CHECK(persist_write(dir, "x", 1) < 0, "cannot replace a directory");
	rmdir(path);

	/* The lock goes with its fd. */
	close(lock);
	lock2 = persist_lock(dir);
	CHECK(lock2 >= 0, "lock after release: %d", lock2);
	close(lock2);

	snprintf(path, sizeof(path), "rm -rf '%s'", base);
	CHECK(system(path) == 0, "cleanup");
	return tap_done("test-persist");
}
