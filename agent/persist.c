/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include "macros.h"
#include "persist.h"

struct persist {
	char *dir;              /* owned: the state directory */
	char *journal_path;     /* owned: <dir>/journal.jsonl */
	int lock_fd;            /* owned: flock()ed <dir>/kvmcd.lock */
	uint64_t journal_size;  /* bytes of complete records in the journal */
	uint64_t snapshot_size; /* bytes of the last state.json read or written */
	bool journal_broken;    /* a failed append could not be cut back: refuse appends until the
				 * next snapshot empties the journal */
};

/* mkdir -p with mode 0700 for what we create; existing directories are left as they are. */
static int mkdir_parents(const char *path, mode_t mode)
{
	_cleanup_free_ char *p = strdup(path);

	if (!p)
		return -ENOMEM;
	for (char *s = p + 1; ; s++) {
		if (*s == '/' || *s == '\0') {
			char c = *s;

			*s = '\0';
			if (mkdir(p, mode) < 0 && errno != EEXIST)
				return -errno;
			*s = c;
			if (!c)
				break;
		}
	}
	return 0;
}

static int fsync_dir(const char *dir)
{
	_cleanup_close_ int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	if (fd < 0 || fsync(fd) < 0)
		return -errno;
	return 0;
}

static char *path_of(const struct persist *p, const char *name)
{
	char *path;

	return asprintf(&path, "%s/%s", p->dir, name) < 0 ? NULL : path;
}

/*
 * A crash in the middle of an append leaves a line without its newline. It was never
 * acknowledged (the fdatasync did not return), so it is cut off here, before anything is
 * appended after it.
 */
static int journal_cut_torn_tail(int fd, uint64_t *size)
{
	char buf[65536];
	struct stat st;
	off_t end;

	if (fstat(fd, &st) < 0)
		return -errno;
	end = st.st_size;
	while (end > 0) {
		size_t n = end < (off_t)sizeof(buf) ? (size_t)end : sizeof(buf);
		ssize_t k = pread(fd, buf, n, end - (off_t)n);
		char *nl;

		if (k < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if ((size_t)k != n)
			return -EIO; /* shrank under our lock: someone else writes here */
		nl = memrchr(buf, '\n', n);
		if (nl) {
			end = end - (off_t)n + (nl - buf) + 1;
			break;
		}
		end -= (off_t)n;
	}
	if (end != st.st_size && (ftruncate(fd, end) < 0 || fsync(fd) < 0))
		return -errno;
	*size = (uint64_t)end;
	return 0;
}

int persist_open(const char *state_dir, struct persist **out)
{
	_cleanup_free_ char *lock_path = NULL, *state_path = NULL;
	_cleanup_close_ int jfd = -1;
	struct persist *p;
	struct stat st;
	int r;

	r = mkdir_parents(state_dir, 0700);
	if (r < 0)
		return r;
	p = calloc(1, sizeof(*p));
	if (!p)
		return -ENOMEM;
	p->lock_fd = -1;
	p->dir = strdup(state_dir);
	if (!p->dir || !(lock_path = path_of(p, PERSIST_LOCK_FILE)) ||
	    !(p->journal_path = path_of(p, PERSIST_JOURNAL_FILE)) || !(state_path = path_of(p, PERSIST_STATE_FILE))) {
		r = -ENOMEM;
		goto fail;
	}
	p->lock_fd = open(lock_path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (p->lock_fd < 0) {
		r = -errno;
		goto fail;
	}
	if (flock(p->lock_fd, LOCK_EX | LOCK_NB) < 0) {
		r = errno == EWOULDBLOCK ? -EBUSY : -errno;
		goto fail;
	}
	jfd = open(p->journal_path, O_RDWR | O_APPEND | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (jfd < 0) {
		r = -errno;
		goto fail;
	}
	if (fstat(jfd, &st) < 0) {
		r = -errno;
		goto fail;
	}
	if (!S_ISREG(st.st_mode)) {
		r = -EBADFD;
		goto fail;
	}
	r = journal_cut_torn_tail(jfd, &p->journal_size);
	if (r < 0)
		goto fail;
	/* The journal may have just been created: its directory entry must be durable before the
	 * first record appended to it is acknowledged. */
	r = fsync_dir(p->dir);
	if (r < 0)
		goto fail;
	if (stat(state_path, &st) == 0)
		p->snapshot_size = (uint64_t)st.st_size;
	*out = p;
	return 0;
fail:
	persist_free(p);
	return r;
}

void persist_free(struct persist *p)
{
	if (!p)
		return;
	if (p->lock_fd >= 0)
		close(p->lock_fd);
	free(p->journal_path);
	free(p->dir);
	free(p);
}

/* Reads <dir>/name whole: 0 with *out (owned) or NULL when missing; *size its length. */
static int read_file(const struct persist *p, const char *name, size_t limit, char **out, size_t *size)
{
	_cleanup_free_ char *path = path_of(p, name), *buf = NULL;
	_cleanup_close_ int fd = -1;
	struct stat st;
	size_t len = 0;

	if (!path)
		return -ENOMEM;
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0) {
		if (errno == ENOENT) {
			*out = NULL;
			*size = 0;
			return 0;
		}
		return -errno;
	}
	if (fstat(fd, &st) < 0)
		return -errno;
	if (!S_ISREG(st.st_mode))
		return -EBADFD;
	if ((unsigned long long)st.st_size > limit)
		return -EFBIG;
	buf = malloc((size_t)st.st_size + 1);
	if (!buf)
		return -ENOMEM;
	while (len < (size_t)st.st_size) {
		ssize_t n = read(fd, buf + len, (size_t)st.st_size - len);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (n == 0)
			break; /* shrank under us: parse what is there; the core rejects a torn file */
		len += (size_t)n;
	}
	buf[len] = '\0';
	if (strlen(buf) != len)
		return -EBADMSG; /* NUL bytes: not a JSON text we wrote */
	*out = TAKE_PTR(buf);
	*size = len;
	return 0;
}

int persist_read(struct persist *p, char **snapshot, char **journal)
{
	_cleanup_free_ char *s = NULL, *j = NULL;
	size_t s_len, j_len;
	int r;

	r = read_file(p, PERSIST_STATE_FILE, PERSIST_MAX_BYTES, &s, &s_len);
	if (r < 0)
		return r;
	r = read_file(p, PERSIST_JOURNAL_FILE, PERSIST_MAX_JOURNAL_BYTES, &j, &j_len);
	if (r < 0)
		return r;
	if (j && j_len == 0) {
		free(j);
		j = NULL;
	}
	p->snapshot_size = s_len;
	*snapshot = TAKE_PTR(s);
	*journal = TAKE_PTR(j);
	return 0;
}

/* Writes every byte of iov[0..n) (modified), or returns the error of the write that failed. */
static int writev_all(int fd, struct iovec *iov, int n)
{
	while (n > 0) {
		ssize_t k = writev(fd, iov, n);

		if (k < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (k == 0)
			return -EIO;
		while (n > 0 && (size_t)k >= iov->iov_len) {
			k -= (ssize_t)iov->iov_len;
			iov++;
			n--;
		}
		if (n > 0) {
			iov->iov_base = (char *)iov->iov_base + k;
			iov->iov_len -= (size_t)k;
		}
	}
	return 0;
}

/*
 * The journal is opened by its path for every append rather than kept open: what is made
 * durable is then always <dir>/journal.jsonl as it is now. A kept descriptor would go on
 * "persisting" into a file that was deleted or moved away, or through a mount that has since
 * been made read-only, and the node would acknowledge state it will not find when it restarts.
 * The open costs microseconds beside the fdatasync. The size must be the one we left: anything
 * else means someone else wrote or replaced the file, and nothing is appended to it.
 */
static int journal_open(struct persist *p, int *ret_fd)
{
	_cleanup_close_ int fd = open(p->journal_path, O_WRONLY | O_APPEND | O_CLOEXEC | O_NOFOLLOW);
	struct stat st;

	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) < 0)
		return -errno;
	if (!S_ISREG(st.st_mode))
		return -EBADFD;
	if ((uint64_t)st.st_size != p->journal_size)
		return -ESTALE;
	*ret_fd = TAKE_FD(fd);
	return 0;
}

int persist_append(struct persist *p, const char *rec, size_t len)
{
	struct iovec iov[2] = { { .iov_base = (void *)rec, .iov_len = len }, { .iov_base = (void *)"\n", .iov_len = 1 } };
	_cleanup_close_ int fd = -1;
	int r;

	if (len == 0 || memchr(rec, '\n', len))
		return -EINVAL;
	if (p->journal_broken)
		return -EIO;
	r = journal_open(p, &fd);
	if (r < 0)
		return r;
	r = writev_all(fd, iov, 2);
	if (r == 0 && fdatasync(fd) < 0)
		r = -errno;
	if (r < 0) {
		/* Cut back whatever part of the line made it, so that nothing good is ever appended
		 * after a torn line (the daemon stops on this error, but a snapshot may still run). */
		if (ftruncate(fd, (off_t)p->journal_size) < 0 || fdatasync(fd) < 0)
			p->journal_broken = true;
		return r;
	}
	p->journal_size += len + 1;
	return 0;
}

int persist_write(struct persist *p, const char *text, size_t len)
{
	_cleanup_free_ char *tmp = NULL, *path = NULL;
	_cleanup_close_ int fd = -1, dfd = -1;
	struct iovec iov = { .iov_base = (void *)text, .iov_len = len };
	int r;

	if (asprintf(&tmp, "%s/.%s.tmp", p->dir, PERSIST_STATE_FILE) < 0) {
		tmp = NULL;
		return -ENOMEM;
	}
	path = path_of(p, PERSIST_STATE_FILE);
	if (!path)
		return -ENOMEM;
	dfd = open(p->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0)
		return -errno;
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0)
		return -errno;
	r = writev_all(fd, &iov, 1);
	if (r == 0 && fsync(fd) < 0)
		r = -errno;
	if (r == 0 && close(TAKE_FD(fd)) < 0)
		r = -errno;
	if (r == 0 && rename(tmp, path) < 0)
		r = -errno;
	if (r < 0) {
		(void)unlink(tmp);
		return r;
	}
	/* The rename is durable only once the directory is. */
	if (fsync(dfd) < 0)
		return -errno;
	p->snapshot_size = len;
	/* Only now: a crash before this point leaves the new snapshot and the old journal, whose
	 * records the core skips by version. The other order could lose acknowledged records.
	 * (Created if missing: the snapshot starts the journal afresh whatever happened to it.) */
	fd = open(p->journal_path, O_WRONLY | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0)
		return -errno;
	if (ftruncate(fd, 0) < 0 || fsync(fd) < 0 || fsync(dfd) < 0)
		return -errno;
	p->journal_size = 0;
	p->journal_broken = false;
	return 0;
}

uint64_t persist_journal_bytes(const struct persist *p) { return p->journal_size; }
uint64_t persist_snapshot_bytes(const struct persist *p) { return p->snapshot_size; }
const char *persist_dir(const struct persist *p) { return p->dir; }
