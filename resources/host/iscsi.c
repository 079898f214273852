/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * iSCSI attach with open-iscsi (iscsiadm) and dm-multipath, the real backend.
 *
 * attach, for a target IQN, its portals (every data LIF) and the LUN serial:
 *
 *   iscsiadm -m session                                    sessions now (exit 21: none)
 *   for every portal P, in the order given:
 *     iscsiadm -m node -T IQN -p P                          the node record (exit 21: none)
 *     no record:  iscsiadm -m discovery -t sendtargets -p P -o new      (no CHAP)
 *                 iscsiadm -m node -o new -T IQN -p P                   (CHAP, see below)
 *                 then the record is shown again and must exist now
 *     node.startup is not automatic:
 *                 iscsiadm -m node -T IQN -p P -o update -n node.startup -v automatic
 *     CHAP configured: the record files get authmethod / username / password (worker, below),
 *                 the record is shown again when they changed and must say CHAP, the user and
 *                 a (masked) password
 *     no CHAP, the record says CHAP:
 *                 iscsiadm -m node -T IQN -p P -o update -n node.session.auth.authmethod -v None
 *     no session through P:  iscsiadm -m node -T IQN -p P --login     (exit 15: it exists, fine)
 *   a failed portal does not stop the others; the attach then fails with the first failure
 *   (its step and iscsiadm's own words) once every portal was tried
 *   the device: the sd disks whose VPD 0x80 is the serial and their multipath map
 *   (blockdev.h); sessions that existed before are rescanned once when it is not there yet:
 *     iscsiadm -m session -r SID --rescan
 *   then a bounded wait on timers (multipath kicked once when the paths stay without a map).
 *   done: 0 + "/dev/mapper/<name>".
 *
 * Discovery runs only for a portal without a node record, and with -o new: a plain sendtargets
 * discovery also runs "update" and "delete", which would reset the settings of existing records
 * (node.startup, CHAP) to iscsid.conf's defaults and drop records of other portals.
 *
 * CHAP. iscsiadm takes a value only on its command line (-v), where every local user can read it
 * in /proc/PID/cmdline and where kvmcd's runner would log it. So the secret never goes through
 * iscsiadm: a worker reads the root-only secret file (regular, owned by kvmcd's user, no group or
 * other access) and writes node.session.auth.{authmethod,username,password} into the record's
 * files itself (<etc>/iscsi/nodes/IQN/ADDR,PORT,TPGT/IFACE, or <root>/var/lib/iscsi/nodes on
 * distributions that keep them there), under iscsiadm's own lock (<root>/run/lock/iscsi/
 * lock.write, taken with link() as iscsiadm does), atomically (temporary file 0600, fsync,
 * rename), only when something differs. iscsiadm then shows the record again and must report
 * authmethod CHAP, the user and a masked password, so a changed record format or location fails
 * loudly instead of logging in without CHAP. With CHAP the record is created statically (-o new)
 * rather than by discovery: a target that wants CHAP on discovery sessions too would refuse the
 * discovery, and the secret would have to go into the discovery record as well. The secret is
 * zeroed in memory after use and appears in no argv, environment, log line or error message.
 *
 * detach:
 *   iscsiadm -m session                                    the target's sessions (exit 21: none)
 *   the LUN's paths and map, and the disks of OTHER LUNs on the target's sessions (sysfs): ONTAP
 *   has one target per SVM, so other datastores' LUNs usually share these sessions
 *   multipath -f NAME                                       when the map exists
 *   other LUNs on the sessions: each path deleted (tee /sys/block/sdX/device/delete <<< 1);
 *     sessions and records stay (they serve the other LUNs)
 *   no other LUN:
 *     every portal with a session:   iscsiadm -m node -T IQN -p P --logout  (exit 21: gone)
 *     sessions to the target through portals not in the list (a LIF since removed from it):
 *                                     iscsiadm -m session -r SID --logout
 *     the target's records, all of them (discovery also made records for LIFs not in the list):
 *                                     iscsiadm -m node -T IQN -o delete      (exit 21: none)
 *   then a bounded wait until no disk carries the serial. Nothing there: succeeds.
 *
 * Attach and detach of datastores on the same target must not run at the same time (the caller
 * serialises them per target): a detach that finds no other LUN on the sessions logs out, and an
 * attach of another LUN in flight would lose its sessions.
 *
 * probe: sysfs only (no tool): 0 + "/dev/mapper/<name>" when the serial's map and its node are
 * there, -ENOENT otherwise, -EEXIST for a conflict (blockdev.h).
 */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "blockdev.h"
#include "macros.h"
#include "runner.h"

#define ISCSIADM_NO_OBJS_FOUND 21   /* ISCSI_ERR_NO_OBJS_FOUND: no records / sessions */
#define ISCSIADM_SESS_EXISTS 15     /* ISCSI_ERR_SESS_EXISTS: already logged in */
#define CHAP_SECRET_MAX 255u        /* open-iscsi keeps at most 256 bytes with the NUL */
#define RECORD_FILE_MAX (256u * 1024u)
#define MASKED "********"           /* how iscsiadm shows a password that is set */

/* iscsiadm's exit statuses (open-iscsi iscsi_err.h) as errnos: the one translation. */
static int iscsiadm_errno(int status)
{
	switch (status) {
	case 2:  /* ISCSI_ERR_SESS_NOT_FOUND */
	case ISCSIADM_NO_OBJS_FOUND:
		return -ENOENT;
	case 3:  /* ISCSI_ERR_NOMEM */
		return -ENOMEM;
	case 4:  /* ISCSI_ERR_TRANS: no connection to the portal */
		return -EHOSTUNREACH;
	case 5:  /* ISCSI_ERR_LOGIN */
	case 19: /* ISCSI_ERR_FATAL_LOGIN */
		return -ECONNREFUSED;
	case 7:  /* ISCSI_ERR_INVAL */
		return -EINVAL;
	case 8:  /* ISCSI_ERR_TRANS_TIMEOUT */
	case 11: /* ISCSI_ERR_PDU_TIMEOUT */
		return -ETIMEDOUT;
	case 12: /* ISCSI_ERR_TRANS_NOT_FOUND: iscsi_tcp not loaded */
		return -ENODEV;
	case 13: /* ISCSI_ERR_ACCESS */
	case 24: /* ISCSI_ERR_LOGIN_AUTH_FAILED */
		return -EACCES;
	case ISCSIADM_SESS_EXISTS:
		return -EEXIST;
	case 18: /* ISCSI_ERR_ISCSID_COMM_ERR */
	case 20: /* ISCSI_ERR_ISCSID_NOTCONN: iscsid not running */
		return -ENOTCONN;
	case 28: /* ISCSI_ERR_BUSY */
		return -EBUSY;
	case 29: /* ISCSI_ERR_AGAIN */
		return -EAGAIN;
	default:
		return -EIO;
	}
}

static int iscsiadm_error(struct blockdev_op *op, const struct runner_result *res)
{
	return bop_tool_error(op, res, res->exit_code > 0 ? iscsiadm_errno(res->exit_code) : -EIO);
}

/* ---- parsers ------------------------------------------------------------------------------------ */

/* One "tcp: [3] 10.0.0.5:3260,1030 iqn.… (non-flash)" line. */
static bool parse_session_line(const char *line, size_t len, struct iscsi_session_info *s)
{
	const char *p = line, *end = line + len, *q;
	char num[16];
	size_t l;
	char *e;
	unsigned long v;
	long t;

	*s = (struct iscsi_session_info){ 0 };
	q = memchr(p, ':', (size_t)(end - p));
	if (!q || q == p || (size_t)(q - p) >= sizeof s->transport)
		return false;
	for (const char *c = p; c < q; c++)
		if (!isalnum((unsigned char)*c) && *c != '_' && *c != '-')
			return false;
	memcpy(s->transport, p, (size_t)(q - p));
	p = q + 1;
	while (p < end && *p == ' ')
		p++;
	if (p >= end || *p++ != '[')
		return false;
	q = memchr(p, ']', (size_t)(end - p));
	if (!q || q == p || (size_t)(q - p) >= sizeof num)
		return false;
	memcpy(num, p, (size_t)(q - p));
	num[q - p] = '\0';
	if (!isdigit((unsigned char)num[0]))
		return false;
	errno = 0;
	v = strtoul(num, &e, 10);
	if (errno || *e || v > UINT32_MAX)
		return false;
	s->sid = (unsigned)v;
	p = q + 1;
	while (p < end && *p == ' ')
		p++;
	/* the portal: "ADDR:PORT,TPGT" or "[ADDR]:PORT,TPGT" */
	if (p < end && *p == '[') {
		q = memchr(p, ']', (size_t)(end - p));
		if (!q)
			return false;
		l = (size_t)(q - p - 1);
		if (!l || l >= sizeof s->addr)
			return false;
		memcpy(s->addr, p + 1, l);
		p = q + 1;
		if (p >= end || *p++ != ':')
			return false;
	} else {
		q = p;
		while (q < end && *q != ' ' && *q != ',')
			q++;
		/* the last ':' before the ',' separates the port */
		const char *colon = NULL;
		for (const char *c = p; c < q; c++)
			if (*c == ':')
				colon = c;
		if (!colon)
			return false;
		l = (size_t)(colon - p);
		if (!l || l >= sizeof s->addr)
			return false;
		memcpy(s->addr, p, l);
		p = colon + 1;
	}
	if (strlen(s->addr) != l)
		return false;   /* a NUL inside */
	for (size_t i = 0; i < l; i++)
		if ((unsigned char)s->addr[i] < 0x21 || (unsigned char)s->addr[i] > 0x7e || s->addr[i] == '[' ||
		    s->addr[i] == ']')
			return false;
	q = p;
	while (q < end && isdigit((unsigned char)*q))
		q++;
	if (q == p || (size_t)(q - p) >= sizeof num)
		return false;
	memcpy(num, p, (size_t)(q - p));
	num[q - p] = '\0';
	v = strtoul(num, NULL, 10);
	if (v == 0 || v > 65535)
		return false;
	s->port = (unsigned)v;
	p = q;
	if (p >= end || *p++ != ',')
		return false;
	q = p;
	if (q < end && *q == '-')
		q++;
	while (q < end && isdigit((unsigned char)*q))
		q++;
	if (q == p || (size_t)(q - p) >= sizeof num)
		return false;
	memcpy(num, p, (size_t)(q - p));
	num[q - p] = '\0';
	errno = 0;
	t = strtol(num, &e, 10);
	if (errno || *e || t < INT32_MIN / 2 || t > INT32_MAX / 2)
		return false;
	s->tpgt = (int)t;
	p = q;
	while (p < end && *p == ' ')
		p++;
	q = p;
	while (q < end && *q != ' ')
		q++;
	l = (size_t)(q - p);
	if (!l || l >= sizeof s->target)
		return false;
	memcpy(s->target, p, l);
	for (size_t i = 0; i < l; i++)
		if ((unsigned char)s->target[i] < 0x21 || (unsigned char)s->target[i] > 0x7e)
			return false;
	return true;
}

int iscsi_parse_sessions(const char *text, size_t len, struct iscsi_session_info **out, size_t *n)
{
	struct iscsi_session_info *v = NULL;
	size_t k = 0;

	for (size_t pos = 0; pos < len;) {
		const char *line = text + pos;
		const char *nl = memchr(line, '\n', len - pos);
		size_t l = nl ? (size_t)(nl - line) : len - pos;
		struct iscsi_session_info s;

		pos += l + (nl ? 1 : 0);
		if (l && line[l - 1] == '\r')
			l--;
		if (!parse_session_line(line, l, &s))
			continue;
		struct iscsi_session_info *nv = realloc(v, (k + 1) * sizeof *nv);
		if (!nv) {
			free(v);
			return -ENOMEM;
		}
		v = nv;
		v[k++] = s;
	}
	*out = v;
	*n = k;
	return 0;
}

/* The key of a record line ("  node.startup = manual"): start and length, 0 when none. */
static size_t record_key(const char *line, size_t len, const char **key)
{
	size_t i = 0, start;

	while (i < len && (line[i] == ' ' || line[i] == '\t'))
		i++;
	start = i;
	if (i < len && line[i] == '#')
		return 0;
	while (i < len && line[i] != ' ' && line[i] != '\t' && line[i] != '=')
		i++;
	*key = line + start;
	return i - start;
}

int iscsi_record_value(const char *text, size_t len, const char *key, char *out, size_t size)
{
	size_t klen = strlen(key);

	for (size_t pos = 0; pos < len;) {
		const char *line = text + pos, *k;
		const char *nl = memchr(line, '\n', len - pos);
		size_t l = nl ? (size_t)(nl - line) : len - pos, kl, i;

		pos += l + (nl ? 1 : 0);
		kl = record_key(line, l, &k);
		if (kl != klen || memcmp(k, key, klen) != 0)
			continue;
		i = (size_t)(k - line) + kl;
		while (i < l && (line[i] == ' ' || line[i] == '\t'))
			i++;
		if (i >= l || line[i] != '=')
			continue;
		i++;
		while (i < l && (line[i] == ' ' || line[i] == '\t'))
			i++;
		while (l > i && (line[l - 1] == ' ' || line[l - 1] == '\t' || line[l - 1] == '\r' || line[l - 1] == '\0'))
			l--;
		if (l - i == 7 && memcmp(line + i, "<empty>", 7) == 0)
			i = l;
		if (l - i >= size)
			return -ENOBUFS;
		memcpy(out, line + i, l - i);
		out[l - i] = '\0';
		return 0;
	}
	return -ENOENT;
}

static const char *const chap_keys[] = {
	"node.session.auth.authmethod",
	"node.session.auth.username",
	"node.session.auth.password",
};

char *iscsi_record_set_chap(const char *text, size_t len, const char *user, const char *secret, size_t *out_len,
			    bool *changed)
{
	const char *values[] = { "CHAP", user, secret };
	bool done[3] = { false, false, false };
	size_t cap = len + 3 * 64 + strlen(user) + strlen(secret) + 8, used = 0;
	size_t end_record = SIZE_MAX;   /* offset in the output of the "# END RECORD" line */
	char *o = malloc(cap);

	if (!o)
		return NULL;
	for (size_t pos = 0; pos < len;) {
		const char *line = text + pos, *k;
		const char *nl = memchr(line, '\n', len - pos);
		size_t l = nl ? (size_t)(nl - line) : len - pos, kl;
		int which = -1;

		pos += l + (nl ? 1 : 0);
		kl = record_key(line, l, &k);
		for (int i = 0; i < 3 && kl; i++)
			if (kl == strlen(chap_keys[i]) && memcmp(k, chap_keys[i], kl) == 0)
				which = i;
		if (which >= 0) {
			if (done[which])
				continue;          /* a repeated key: the first one stays, set */
			done[which] = true;
			used += (size_t)sprintf(o + used, "%s = %s\n", chap_keys[which], values[which]);
			continue;
		}
		if (l >= 12 && memcmp(line, "# END RECORD", 12) == 0 && end_record == SIZE_MAX)
			end_record = used;
		memcpy(o + used, line, l);
		used += l;
		o[used++] = '\n';
	}
	/* Keys the record did not have go before "# END RECORD" (iscsiadm reads every line, but
	 * keeps its own files' shape), at the end otherwise. */
	size_t tail_len = end_record == SIZE_MAX ? 0 : used - end_record;
	char *tail = NULL;

	if (tail_len) {
		tail = malloc(tail_len);
		if (!tail) {
			explicit_bzero(o, cap);
			free(o);
			return NULL;
		}
		memcpy(tail, o + end_record, tail_len);
		used = end_record;
	}
	for (int i = 0; i < 3; i++)
		if (!done[i])
			used += (size_t)sprintf(o + used, "%s = %s\n", chap_keys[i], values[i]);
	if (tail) {
		memcpy(o + used, tail, tail_len);
		used += tail_len;
		explicit_bzero(tail, tail_len);
		free(tail);
	}
	o[used] = '\0';
	*changed = used != len || memcmp(o, text, len) != 0;
	*out_len = used;
	return o;
}

/* ---- the operation ----------------------------------------------------------------------------- */

struct iscsi_portal {
	char *text;                  /* as iscsiadm takes it: "10.0.0.5:3260", "[fd00::5]:3260" */
	char addr[64];
	unsigned port;
	bool session;                /* a session to the target goes through it */
	unsigned sid;
	bool created;                /* this run created its record */
	char *created_said;          /* what discovery / -o new said, for a "still no record" error */
	char *record;                /* the last `iscsiadm -m node -T -p` output */
};

enum iscsi_kind { ISCSI_ATTACH, ISCSI_DETACH };

struct iscsi_op {
	struct blockdev_op base;     /* first */
	enum iscsi_kind kind;
	char *iqn;
	char *chap_user;             /* NULL: no CHAP */
	char *chap_secret_file;
	struct iscsi_portal *portals;
	size_t n_portals;
	size_t cur;                  /* the portal being handled */
	int first_r;                 /* the first failed portal's error */
	char *first_error;
	unsigned n_failed;
	bool sessions_before;        /* some portal had a session when the attach started */
	size_t rescan;               /* next portal to rescan */
	size_t other_disks;          /* detach: disks of other LUNs on the target's sessions */
	char *other_list;
	bool something;              /* detach: there was something to detach */
	unsigned *extra_sids;        /* sessions to the target through portals not in the list */
	size_t n_extra;
	size_t extra;                /* detach: next extra session to log out */
};

static struct iscsi_op *iop(struct blockdev_op *op)
{
	return (struct iscsi_op *)op;
}

static void iscsi_op_free(struct blockdev_op *op)
{
	struct iscsi_op *o = iop(op);

	bop_release(op);
	free(o->iqn);
	free(o->chap_user);
	free(o->chap_secret_file);
	for (size_t i = 0; i < o->n_portals; i++) {
		free(o->portals[i].text);
		free(o->portals[i].created_said);
		free(o->portals[i].record);
	}
	free(o->portals);
	free(o->first_error);
	free(o->other_list);
	free(o->extra_sids);
	free(o);
}

static bool printable(const char *s, size_t min, size_t max)
{
	size_t n = s ? strlen(s) : 0;

	if (n < min || n > max)
		return false;
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)s[i] < 0x21 || (unsigned char)s[i] > 0x7e)
			return false;
	return true;
}

static bool valid_iqn(const char *s)
{
	return printable(s, 5, 223) &&
	       (strncmp(s, "iqn.", 4) == 0 || strncmp(s, "eui.", 4) == 0 || strncmp(s, "naa.", 4) == 0) &&
	       !strchr(s, '/');
}

static int iscsi_op_new(struct host_ctx *ctx, const struct host_target *t, enum iscsi_kind kind, host_done_fn done,
			void *userdata, struct iscsi_op **out)
{
	struct iscsi_op *o;

	if (!ctx || !t || !done || !blockdev_valid_serial(t->lun_serial) || !valid_iqn(t->target_iqn) ||
	    !t->n_portals || !t->portals)
		return -EINVAL;
	if (t->chap_user && (!printable(t->chap_user, 1, 255) || !t->chap_secret_file || t->chap_secret_file[0] != '/'))
		return -EINVAL;
	o = calloc(1, sizeof *o);
	if (!o)
		return -ENOMEM;
	if (bop_init(&o->base, ctx, "iscsi", t->datastore, done, userdata, iscsi_op_free) < 0 ||
	    !(o->base.serial = strdup(t->lun_serial)))
		goto oom;
	o->kind = kind;
	if (!(o->iqn = strdup(t->target_iqn)))
		goto oom;
	if (t->chap_user && (!(o->chap_user = strdup(t->chap_user)) ||
			     !(o->chap_secret_file = strdup(t->chap_secret_file))))
		goto oom;
	o->portals = calloc(t->n_portals, sizeof *o->portals);
	if (!o->portals)
		goto oom;
	o->n_portals = t->n_portals;
	for (size_t i = 0; i < t->n_portals; i++) {
		struct iscsi_portal *p = &o->portals[i];
		bool v6;
		int k;

		if (blockdev_portal_parse(t->portals[i], 3260, p->addr, sizeof p->addr, &p->port) < 0) {
			iscsi_op_free(&o->base);
			return -EINVAL;
		}
		v6 = strchr(p->addr, ':') != NULL;
		k = asprintf(&p->text, v6 ? "[%s]:%u" : "%s:%u", p->addr, p->port);
		if (k < 0) {
			p->text = NULL;
			goto oom;
		}
		for (size_t j = 0; j < i; j++)
			if (blockdev_addr_equal(o->portals[j].addr, p->addr) && o->portals[j].port == p->port) {
				iscsi_op_free(&o->base);
				return -EINVAL;   /* the same portal twice */
			}
	}
	*out = o;
	return 0;
oom:
	iscsi_op_free(&o->base);
	return -ENOMEM;
}

static int set_err(struct blockdev_op *op, int r, const char *fmt, ...) _printf_(3, 4);
static int set_err(struct blockdev_op *op, int r, const char *fmt, ...)
{
	va_list ap;
	char *text = NULL;

	va_start(ap, fmt);
	if (vasprintf(&text, fmt, ap) < 0)
		text = NULL;
	va_end(ap);
	free(op->error);
	op->error = text;
	return r;
}

/* ---- the CHAP worker job --------------------------------------------------------------------- */

struct chap_job {
	char *secret_file;
	char *user;
	char *iqn;
	char addr[64];
	unsigned port;
	char *node_dirs[2];          /* where open-iscsi may keep its node records */
	char *lock_dir;
	uint64_t lock_wait_usec;
	bool check_only;             /* only read and check the secret file */
	/* out */
	bool changed;
	char *files;                 /* the record files, for messages */
	char *error;
};

static void chap_job_free(void *arg)
{
	struct chap_job *j = arg;

	free(j->secret_file);
	free(j->user);
	free(j->iqn);
	free(j->node_dirs[0]);
	free(j->node_dirs[1]);
	free(j->lock_dir);
	free(j->files);
	free(j->error);
	free(j);
}

static int job_error(struct chap_job *j, int r, const char *fmt, ...) _printf_(3, 4);
static int job_error(struct chap_job *j, int r, const char *fmt, ...)
{
	va_list ap;

	free(j->error);
	va_start(ap, fmt);
	if (vasprintf(&j->error, fmt, ap) < 0)
		j->error = NULL;
	va_end(ap);
	return r;
}

/* Reads the secret: a regular file of kvmcd's user, no access for group or others; the first
 * line. Error messages never quote the content. */
static int read_secret(struct chap_job *j, char *secret, size_t size)
{
	_cleanup_close_ int fd = open(j->secret_file, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY);
	struct stat st;
	char buf[CHAP_SECRET_MAX + 3];   /* the secret, CR LF, and one byte to see it is too long */
	size_t got = 0, n;
	int r = 0;

	if (fd < 0)
		return job_error(j, -errno, "CHAP secret file %s: %s", j->secret_file, strerror(errno));
	if (fstat(fd, &st) < 0)
		return job_error(j, -errno, "CHAP secret file %s: %s", j->secret_file, strerror(errno));
	if (!S_ISREG(st.st_mode))
		return job_error(j, -EINVAL, "CHAP secret file %s is not a regular file", j->secret_file);
	if (st.st_uid != geteuid() || (st.st_mode & 0077))
		return job_error(j, -EPERM,
				 "CHAP secret file %s must belong to uid %u and be readable by its owner only "
				 "(it is uid %u, mode %04o)", j->secret_file, (unsigned)geteuid(), (unsigned)st.st_uid,
				 (unsigned)(st.st_mode & 07777));
	for (;;) {
		ssize_t k = read(fd, buf + got, sizeof buf - got);

		if (k < 0 && errno == EINTR)
			continue;
		if (k < 0) {
			r = job_error(j, -errno, "CHAP secret file %s: %s", j->secret_file, strerror(errno));
			goto out;
		}
		if (k == 0)
			break;
		got += (size_t)k;
		if (got == sizeof buf) {
			r = job_error(j, -EINVAL, "CHAP secret in %s is longer than %u bytes", j->secret_file,
				      CHAP_SECRET_MAX);
			goto out;
		}
	}
	/* One line; a final newline (LF or CRLF) is not part of the secret. */
	n = got;
	for (size_t i = 0; i < got; i++)
		if (buf[i] == '\n' || buf[i] == '\r') {
			n = i;
			break;
		}
	for (size_t i = n; i < got; i++)
		if (buf[i] != '\n' && buf[i] != '\r') {
			r = job_error(j, -EINVAL, "CHAP secret file %s holds more than one line", j->secret_file);
			goto out;
		}
	if (!n || n > CHAP_SECRET_MAX || n >= size) {
		r = job_error(j, -EINVAL, "CHAP secret in %s is empty or longer than %u bytes", j->secret_file,
			      CHAP_SECRET_MAX);
		goto out;
	}
	/* open-iscsi's record parser cuts blanks around a value and the line at a newline. */
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)buf[i] < 0x20 || (unsigned char)buf[i] > 0x7e) {
			r = job_error(j, -EINVAL, "CHAP secret in %s holds a byte that is not printable ASCII",
				      j->secret_file);
			goto out;
		}
	if (buf[0] == ' ' || buf[n - 1] == ' ') {
		r = job_error(j, -EINVAL, "CHAP secret in %s starts or ends with a blank", j->secret_file);
		goto out;
	}
	memcpy(secret, buf, n);
	secret[n] = '\0';
out:
	explicit_bzero(buf, sizeof buf);
	return r;
}

/* The record files of IQN at ADDR:PORT in one node directory (any TPGT, any iface). */
static int record_files(const char *node_dir, const struct chap_job *j, char ***out, size_t *n)
{
	char dir[PATH_MAX], prefix[96];
	DIR *d;
	struct dirent *de;
	char **v = NULL;
	size_t k = 0;
	int plen;

	*out = NULL;
	*n = 0;
	if (snprintf(dir, sizeof dir, "%s/%s", node_dir, j->iqn) >= (int)sizeof dir)
		return -ENAMETOOLONG;
	plen = snprintf(prefix, sizeof prefix, "%s,%u", j->addr, j->port);
	d = opendir(dir);
	if (!d)
		return errno == ENOENT ? 0 : -errno;
	while ((de = readdir(d))) {
		char path[PATH_MAX];
		struct stat st;

		if (strncmp(de->d_name, prefix, (size_t)plen) != 0 ||
		    (de->d_name[plen] != '\0' && de->d_name[plen] != ','))
			continue;
		if (snprintf(path, sizeof path, "%s/%s", dir, de->d_name) >= (int)sizeof path ||
		    lstat(path, &st) < 0)
			continue;
		if (S_ISREG(st.st_mode)) {
			/* the old layout: the portal is the record */
			char **nv = realloc(v, (k + 2) * sizeof *v);
			if (!nv || !(nv[k] = strdup(path)))
				goto oom_nv;
			v = nv;
			v[++k] = NULL;
			continue;
oom_nv:
			if (nv)
				v = nv;
			goto oom;
		}
		if (!S_ISDIR(st.st_mode))
			continue;
		DIR *ifaces = opendir(path);
		struct dirent *ie;

		if (!ifaces)
			continue;
		while ((ie = readdir(ifaces))) {
			char file[PATH_MAX];
			struct stat fst;
			char **nv;

			if (ie->d_name[0] == '.')
				continue;
			if (snprintf(file, sizeof file, "%s/%s", path, ie->d_name) >= (int)sizeof file ||
			    lstat(file, &fst) < 0 || !S_ISREG(fst.st_mode))
				continue;
			nv = realloc(v, (k + 2) * sizeof *v);
			if (!nv) {
				closedir(ifaces);
				goto oom;
			}
			v = nv;
			if (!(v[k] = strdup(file))) {
				closedir(ifaces);
				goto oom;
			}
			v[++k] = NULL;
		}
		closedir(ifaces);
	}
	closedir(d);
	*out = v;
	*n = k;
	return 0;
oom:
	closedir(d);
	for (size_t i = 0; i < k; i++)
		free(v[i]);
	free(v);
	return -ENOMEM;
}

static int mkdir_parents(const char *path, mode_t mode)
{
	char buf[PATH_MAX];
	size_t len = strlen(path);

	if (len >= sizeof buf)
		return -ENAMETOOLONG;
	memcpy(buf, path, len + 1);
	for (char *p = buf + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(buf, mode) < 0 && errno != EEXIST)
			return -errno;
		*p = '/';
	}
	if (mkdir(buf, mode) < 0 && errno != EEXIST)
		return -errno;
	return 0;
}

/* iscsiadm's database lock: link(lock, lock.write) succeeds for one holder at a time. */
static int db_lock(struct chap_job *j, char *write_path, size_t size)
{
	char lock[PATH_MAX];
	struct timespec start, now, pause = { 0, 10 * 1000 * 1000 };
	int fd, k;

	k = mkdir_parents(j->lock_dir, 0755);
	if (k < 0)
		return job_error(j, k, "open-iscsi's lock directory %s: %s", j->lock_dir, strerror(-k));
	if (snprintf(lock, sizeof lock, "%s/lock", j->lock_dir) >= (int)sizeof lock ||
	    snprintf(write_path, size, "%s/lock.write", j->lock_dir) >= (int)size)
		return job_error(j, -ENAMETOOLONG, "open-iscsi's lock directory %s: name too long", j->lock_dir);
	fd = open(lock, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
	if (fd < 0)
		return job_error(j, -errno, "open-iscsi's lock %s: %s", lock, strerror(errno));
	close(fd);
	clock_gettime(CLOCK_MONOTONIC, &start);
	for (;;) {
		uint64_t waited;

		if (link(lock, write_path) == 0)
			return 0;
		if (errno != EEXIST)
			return job_error(j, -errno, "open-iscsi's lock %s: %s", write_path, strerror(errno));
		clock_gettime(CLOCK_MONOTONIC, &now);
		waited = (uint64_t)(now.tv_sec - start.tv_sec) * USEC_PER_SEC +
			 (uint64_t)((now.tv_nsec - start.tv_nsec) / 1000);
		if (waited >= j->lock_wait_usec)
			return job_error(j, -EBUSY,
					 "open-iscsi's lock %s is held (an iscsiadm running, or a stale lock) after %.1f s",
					 write_path, (double)waited / 1e6);
		nanosleep(&pause, NULL);
	}
}

/* Replaces path by content: a temporary file 0600 beside it, fsync, rename, fsync the dir. */
static int replace_file(const char *path, const char *content, size_t len)
{
	char tmp[PATH_MAX], dir[PATH_MAX];
	_cleanup_close_ int fd = -1, dfd = -1;
	char *slash;
	size_t done = 0;

	if (snprintf(tmp, sizeof tmp, "%s.kvmcd-XXXXXX", path) >= (int)sizeof tmp)
		return -ENAMETOOLONG;
	fd = mkostemp(tmp, O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (fchmod(fd, 0600) < 0)
		goto fail;
	while (done < len) {
		ssize_t k = write(fd, content + done, len - done);

		if (k < 0 && errno == EINTR)
			continue;
		if (k < 0)
			goto fail;
		done += (size_t)k;
	}
	if (fsync(fd) < 0 || rename(tmp, path) < 0)
		goto fail;
	snprintf(dir, sizeof dir, "%s", path);
	slash = strrchr(dir, '/');
	if (slash) {
		*slash = '\0';
		dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (dfd >= 0)
			(void)fsync(dfd);
	}
	return 0;
fail:;
	int e = -errno;
	unlink(tmp);
	return e;
}

static int set_chap_in(struct chap_job *j, const char *file, const char *secret)
{
	char *text = malloc(RECORD_FILE_MAX + 1), *updated;
	ssize_t n = 0;
	size_t ulen = 0;
	bool changed = false;
	int k = 0;
	_cleanup_close_ int fd = open(file, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);

	if (!text)
		return job_error(j, -ENOMEM, "out of memory");
	if (fd < 0) {
		k = job_error(j, -errno, "node record %s: %s", file, strerror(errno));
		goto out;
	}
	for (;;) {
		ssize_t r = read(fd, text + n, RECORD_FILE_MAX + 1 - (size_t)n);

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			k = job_error(j, -errno, "node record %s: %s", file, strerror(errno));
			goto out;
		}
		if (r == 0)
			break;
		n += r;
		if ((size_t)n > RECORD_FILE_MAX) {
			k = job_error(j, -EFBIG, "node record %s is larger than %u bytes", file, RECORD_FILE_MAX);
			goto out;
		}
	}
	text[n] = '\0';
	updated = iscsi_record_set_chap(text, (size_t)n, j->user, secret, &ulen, &changed);
	if (!updated) {
		k = job_error(j, -ENOMEM, "out of memory");
		goto out;
	}
	if (changed) {
		k = replace_file(file, updated, ulen);
		if (k < 0)
			job_error(j, k, "writing node record %s: %s", file, strerror(-k));
		else
			j->changed = true;
	}
	explicit_bzero(updated, ulen);
	free(updated);
out:
	explicit_bzero(text, (size_t)n);
	free(text);
	return k;
}

static int chap_job_run(void *arg)
{
	struct chap_job *j = arg;
	char secret[CHAP_SECRET_MAX + 1], write_path[PATH_MAX];
	char **files = NULL;
	size_t n = 0;
	int k;

	k = read_secret(j, secret, sizeof secret);
	if (k < 0 || j->check_only)
		goto out;
	for (size_t d = 0; d < 2 && !n; d++) {
		k = record_files(j->node_dirs[d], j, &files, &n);
		if (k < 0) {
			job_error(j, k, "reading open-iscsi's node records in %s: %s", j->node_dirs[d], strerror(-k));
			goto out;
		}
	}
	if (!n) {
		k = job_error(j, -ENOENT, "no open-iscsi node record for %s at %s,%u in %s or %s", j->iqn, j->addr,
			      j->port, j->node_dirs[0], j->node_dirs[1]);
		goto out;
	}
	k = db_lock(j, write_path, sizeof write_path);
	if (k < 0)
		goto out;
	for (size_t i = 0; i < n && k >= 0; i++)
		k = set_chap_in(j, files[i], secret);
	unlink(write_path);
	free(j->files);
	j->files = NULL;
	for (size_t i = 0; i < n; i++) {
		char *list = NULL;

		if (asprintf(&list, "%s%s%s", j->files ? j->files : "", j->files ? ", " : "", files[i]) >= 0) {
			free(j->files);
			j->files = list;
		}
	}
out:
	explicit_bzero(secret, sizeof secret);
	for (size_t i = 0; i < n; i++)
		free(files[i]);
	free(files);
	return k;
}

/* <etc_root>'s parent: "" for "/etc", "/tmp/x" for "/tmp/x/etc". */
static char *host_root(const char *etc_root)
{
	const char *slash = strrchr(etc_root, '/');
	size_t n = slash ? (size_t)(slash - etc_root) : 0;

	return strndup(etc_root, n);
}

static struct chap_job *chap_job_new(struct iscsi_op *o, const struct iscsi_portal *p, bool check_only)
{
	struct host_ctx *ctx = o->base.ctx;
	struct chap_job *j = calloc(1, sizeof *j);
	_cleanup_free_ char *root = host_root(ctx->etc_root);

	if (!j || !root)
		goto oom;
	j->check_only = check_only;
	j->lock_wait_usec = blockdev_step_timeout(ctx) / 2;
	if (!(j->secret_file = strdup(o->chap_secret_file)) || !(j->user = strdup(o->chap_user)) ||
	    !(j->iqn = strdup(o->iqn)))
		goto oom;
	if (p) {
		snprintf(j->addr, sizeof j->addr, "%s", p->addr);
		j->port = p->port;
	}
	if (asprintf(&j->node_dirs[0], "%s/iscsi/nodes", ctx->etc_root) < 0) {
		j->node_dirs[0] = NULL;
		goto oom;
	}
	if (asprintf(&j->node_dirs[1], "%s/var/lib/iscsi/nodes", root) < 0) {
		j->node_dirs[1] = NULL;
		goto oom;
	}
	if (asprintf(&j->lock_dir, "%s/run/lock/iscsi", root) < 0) {
		j->lock_dir = NULL;
		goto oom;
	}
	return j;
oom:
	if (j)
		chap_job_free(j);
	return NULL;
}

/* ---- attach -------------------------------------------------------------------------------------- */

static void portal_begin(struct iscsi_op *o);
static void portal_show(struct iscsi_op *o);
static void portal_auth(struct iscsi_op *o);
static void portal_verify(struct iscsi_op *o);
static void portal_login(struct iscsi_op *o);
static void portals_done(struct iscsi_op *o);

static const char *node_argv_base(struct iscsi_op *o, const char **argv)
{
	struct iscsi_portal *p = &o->portals[o->cur];

	argv[0] = "iscsiadm";
	argv[1] = "-m";
	argv[2] = "node";
	argv[3] = "-T";
	argv[4] = o->iqn;
	argv[5] = "-p";
	argv[6] = p->text;
	return p->text;
}

/* A portal failed: keep the first failure, go on with the next portal. */
static void portal_failed(struct iscsi_op *o, int r)
{
	bop_log(&o->base, LOG_WARNING, "portal %s: %s", o->portals[o->cur].text,
		o->base.error ? o->base.error : strerror(-r));
	if (!o->n_failed++) {
		o->first_r = r;
		free(o->first_error);
		o->first_error = TAKE_PTR(o->base.error);
	}
	free(o->base.error);
	o->base.error = NULL;
	o->cur++;
	portal_begin(o);
}

static void portal_next(struct iscsi_op *o)
{
	o->cur++;
	portal_begin(o);
}

static void portal_logged_in(struct blockdev_op *op, struct runner_result *res)
{
	struct iscsi_op *o = iop(op);

	if (!runner_result_ok(res) && !(res->exit_code == ISCSIADM_SESS_EXISTS && !res->timed_out)) {
		portal_failed(o, iscsiadm_error(op, res));
		return;
	}
	portal_next(o);
}

static void portal_login(struct iscsi_op *o)
{
	struct iscsi_portal *p = &o->portals[o->cur];
	const char *argv[9];
	int k;

	if (p->session) {
		portal_next(o);
		return;
	}
	node_argv_base(o, argv);
	argv[7] = "--login";
	argv[8] = NULL;
	bop_log(&o->base, LOG_DEBUG, "logging in to %s at %s", o->iqn, p->text);
	k = bop_run(&o->base, argv, NULL, portal_logged_in);
	if (k < 0)
		portal_failed(o, k);
}

static void portal_auth_updated(struct blockdev_op *op, struct runner_result *res)
{
	struct iscsi_op *o = iop(op);

	if (!runner_result_ok(res)) {
		portal_failed(o, iscsiadm_error(op, res));
		return;
	}
	portal_login(o);
}

static void portal_reshown(struct blockdev_op *op, struct runner_result *res)
{
	struct iscsi_op *o = iop(op);
	struct iscsi_portal *p = &o->portals[o->cur];

	if (!runner_result_ok(res)) {
		portal_failed(o, iscsiadm_error(op, res));
		return;
	}
	free(p->record);
	p->record = TAKE_PTR(res->out);
	portal_verify(o);
}

static void portal_chap_written(struct blockdev_op *op, int r, void *arg)
{
	struct iscsi_op *o = iop(op);
	struct chap_job *j = arg;
	const char *argv[8];
	int k;

	if (r < 0) {
		set_err(op, r, "setting CHAP for %s at %s: %s", o->iqn, o->portals[o->cur].text,
			j && j->error ? j->error : r == -ETIMEDOUT ? "the worker did not answer in time" : strerror(-r));
		portal_failed(o, r);
		return;
	}
	if (!j->changed) {
		portal_verify(o);
		return;
	}
	bop_log(op, LOG_INFO, "CHAP settings written to %s", j->files ? j->files : "?");
	/* Show the record again: iscsiadm itself must now see CHAP, the user and a password. */
	node_argv_base(o, argv);
	argv[7] = NULL;
	k = bop_run(op, argv, NULL, portal_reshown);
	if (k < 0)
		portal_failed(o, k);
}

static void portal_verify(struct iscsi_op *o)
{
	struct iscsi_portal *p = &o->portals[o->cur];
	const char *rec = p->record ? p->record : "";
	char method[32] = "", user[300] = "", password[300] = "";

	(void)iscsi_record_value(rec, strlen(rec), "node.session.auth.authmethod", method, sizeof method);
	(void)iscsi_record_value(rec, strlen(rec), "node.session.auth.username", user, sizeof user);
	(void)iscsi_record_value(rec, strlen(rec), "node.session.auth.password", password, sizeof password);
	if (strcmp(method, "CHAP") != 0 || strcmp(user, o->chap_user) != 0 || !password[0]) {
		explicit_bzero(password, sizeof password);
		set_err(&o->base, -EIO,
			"iscsiadm -m node -T %s -p %s does not show the CHAP settings kvmcd wrote into open-iscsi's "
			"node record (authmethod '%s', username '%s', password %s): its node database is not where "
			"kvmcd looked", o->iqn, p->text, method, user, password[0] ? "set" : "not set");
		portal_failed(o, -EIO);
		return;
	}
	explicit_bzero(password, sizeof password);
	portal_login(o);
}

static void portal_auth(struct iscsi_op *o)
{
	struct iscsi_portal *p = &o->portals[o->cur];
	const char *rec = p->record ? p->record : "";
	char method[32] = "";
	int k;

	if (o->chap_user) {
		struct chap_job *j = chap_job_new(o, p, false);

		if (!j) {
			portal_failed(o, set_err(&o->base, -ENOMEM, "out of memory"));
			return;
		}
		k = bop_work(&o->base, chap_job_run, j, chap_job_free, portal_chap_written);
		if (k < 0) {
			chap_job_free(j);
			portal_failed(o, k);
		}
		return;
	}
	(void)iscsi_record_value(rec, strlen(rec), "node.session.auth.authmethod", method, sizeof method);
	if (strcmp(method, "CHAP") == 0) {
		/* no CHAP configured: the record must not log in with old credentials */
		const char *argv[] = { "iscsiadm", "-m", "node", "-T", o->iqn, "-p", p->text, "-o", "update",
				       "-n", "node.session.auth.authmethod", "-v", "None", NULL };

		k = bop_run(&o->base, argv, NULL, portal_auth_updated);
		if (k < 0)
			portal_failed(o, k);
		return;
	}
	portal_login(o);
}

static void portal_startup_set(struct blockdev_op *op, struct runner_result *res)
{
	struct iscsi_op *o = iop(op);

	if (!runner_result_ok(res)) {
		portal_failed(o, iscsiadm_error(op, res));
		return;
	}
	portal_auth(o);
}

static void portal_created(struct blockdev_op *op, struct runner_result *res)
{
	struct iscsi_op *o = iop(op);
	struct iscsi_portal *p = &o->portals[o->cur];

	if (!runner_result_ok(res)) {
		portal_failed(o, iscsiadm_error(op, res));
		return;
	}
	p->created = true;
	free(p->created_said);
	p->created_said = blockdev_tool_message(res->out, res->out_len, res->err, res->err_len);
	portal_show(o);
}

static void portal_shown(struct blockdev_op *op, struct runner_result *res)
{
	struct iscsi_op *o = iop(op);
	struct iscsi_portal *p = &o->portals[o->cur];
	char startup[32] = "";
	int k;

	if (res->exit_code == ISCSIADM_NO_OBJS_FOUND && !res->timed_out) {
		if (p->created) {
			set_err(op, -ENOENT, "%s found no node record for %s at %s after creating it (it said: %s)",
				op->step, o->iqn, p->text, p->created_said && *p->created_said ? p->created_said : "nothing");
			portal_failed(o, -ENOENT);
			return;
		}
		if (o->chap_user) {
			bop_log(op, LOG_DEBUG, "creating the node record for %s at %s", o->iqn, p->text);
			k = bop_run(op, (const char *const[]){ "iscsiadm", "-m", "node", "-o", "new", "-T", o->iqn, "-p",
							       p->text, NULL }, NULL, portal_created);
		} else {
			bop_log(op, LOG_DEBUG, "sendtargets discovery at %s", p->text);
			k = bop_run(op, (const char *const[]){ "iscsiadm", "-m", "discovery", "-t", "sendtargets", "-p",
							       p->text, "-o", "new", NULL }, NULL, portal_created);
		}
		if (k < 0)
			portal_failed(o, k);
		return;
	}
	if (!runner_result_ok(res)) {
		portal_failed(o, iscsiadm_error(op, res));
		return;
	}
	free(p->record);
	p->record = TAKE_PTR(res->out);
	(void)iscsi_record_value(p->record, strlen(p->record), "node.startup", startup, sizeof startup);
	if (strcmp(startup, "automatic") != 0) {
		const char *argv[] = { "iscsiadm", "-m", "node", "-T", o->iqn, "-p", p->text, "-o", "update",
				       "-n", "node.startup", "-v", "automatic", NULL };

		k = bop_run(op, argv, NULL, portal_startup_set);
		if (k < 0)
			portal_failed(o, k);
		return;
	}
	portal_auth(o);
}

static void portal_show(struct iscsi_op *o)
{
	const char *argv[8];
	int k;

	node_argv_base(o, argv);
	argv[7] = NULL;
	k = bop_run(&o->base, argv, NULL, portal_shown);
	if (k < 0)
		portal_failed(o, k);
}

static void portal_begin(struct iscsi_op *o)
{
	if (o->cur >= o->n_portals) {
		portals_done(o);
		return;
	}
	portal_show(o);
}

static void attach_waited(struct blockdev_op *op, int r)
{
	bop_finish(op, r);
}

static void attach_wait(struct iscsi_op *o)
{
	int k = blockdev_scsi_wait(&o->base, attach_waited);

	if (k < 0)
		bop_finish(&o->base, k);
}

static void rescan_next(struct iscsi_op *o);

static void rescanned(struct blockdev_op *op, struct runner_result *res)
{
	struct iscsi_op *o = iop(op);

	if (!runner_result_ok(res)) {
		bop_finish(op, iscsiadm_error(op, res));
		return;
	}
	o->rescan++;
	rescan_next(o);
}

static void rescan_next(struct iscsi_op *o)
{
	char sid[16];
	int k;

	while (o->rescan < o->n_portals && !o->portals[o->rescan].session)
		o->rescan++;
	if (o->rescan >= o->n_portals) {
		attach_wait(o);
		return;
	}
	snprintf(sid, sizeof sid, "%u", o->portals[o->rescan].sid);
	bop_log(&o->base, LOG_DEBUG, "rescanning session %s (%s at %s)", sid, o->iqn, o->portals[o->rescan].text);
	k = bop_run(&o->base, (const char *const[]){ "iscsiadm", "-m", "session", "-r", sid, "--rescan", NULL }, NULL,
		    rescanned);
	if (k < 0)
		bop_finish(&o->base, k);
}

static void attach_looked(struct blockdev_op *op, int r)
{
	struct iscsi_op *o = iop(op);
	const struct blockdev_scsi *s = &op->scsi;

	if (r < 0) {
		bop_finish(op, r);
		return;
	}
	if ((s->map[0] && s->map_node) || s->conflict || !o->sessions_before || s->n_paths) {
		/* there (the wait returns at once), a conflict, fresh logins (the kernel scans them),
		 * or paths already (the map is what is missing): no rescan */
		attach_wait(o);
		return;
	}
	/* A LUN mapped after the sessions were made is not seen until the session is rescanned
	 * (the kernel only logs the target's "REPORTED LUNS DATA HAS CHANGED"). */
	o->rescan = 0;
	rescan_next(o);
}

static void portals_done(struct iscsi_op *o)
{
	int k;

	if (o->n_failed) {
		free(o->base.error);
		if (o->n_portals > 1) {
			if (asprintf(&o->base.error, "%s (%u of %zu portals failed)", o->first_error ? o->first_error : "?",
				     o->n_failed, o->n_portals) < 0)
				o->base.error = NULL;
		} else
			o->base.error = TAKE_PTR(o->first_error);
		bop_finish(&o->base, o->first_r);
		return;
	}
	k = blockdev_scsi_lookup(&o->base, false, attach_looked);
	if (k < 0)
		bop_finish(&o->base, k);
}

/* Marks the portals that already carry a session to the target. */
static int mark_sessions(struct iscsi_op *o, struct runner_result *res)
{
	_cleanup_free_ struct iscsi_session_info *s = NULL;
	size_t n = 0;
	int k = iscsi_parse_sessions(res->out, res->out_len, &s, &n);

	if (k < 0)
		return set_err(&o->base, k, "out of memory");
	for (size_t i = 0; i < n; i++) {
		bool listed = false;

		if (strcasecmp(s[i].target, o->iqn) != 0)
			continue;
		for (size_t j = 0; j < o->n_portals; j++) {
			struct iscsi_portal *p = &o->portals[j];

			if (p->port != s[i].port || !blockdev_addr_equal(p->addr, s[i].addr))
				continue;
			listed = true;
			if (!p->session) {
				p->session = true;
				p->sid = s[i].sid;
				o->sessions_before = true;
			}
		}
		if (!listed) {
			unsigned *v = realloc(o->extra_sids, (o->n_extra + 1) * sizeof *v);

			if (!v)
				return set_err(&o->base, -ENOMEM, "out of memory");
			o->extra_sids = v;
			o->extra_sids[o->n_extra++] = s[i].sid;
		}
	}
	return 0;
}

static void secret_checked(struct blockdev_op *op, int r, void *arg)
{
	struct iscsi_op *o = iop(op);
	struct chap_job *j = arg;

	if (r < 0) {
		bop_fail(op, r, "%s", j && j->error ? j->error
			 : r == -ETIMEDOUT ? "reading the CHAP secret: the worker did not answer in time" : strerror(-r));
		return;
	}
	portal_begin(o);
}

static void attach_sessions(struct blockdev_op *op, struct runner_result *res)
{
	struct iscsi_op *o = iop(op);
	int k;

	if (!runner_result_ok(res) && !(res->exit_code == ISCSIADM_NO_OBJS_FOUND && !res->timed_out)) {
		bop_finish(op, iscsiadm_error(op, res));
		return;
	}
	if (runner_result_ok(res)) {
		k = mark_sessions(o, res);
		if (k < 0) {
			bop_finish(op, k);
			return;
		}
	}
	o->cur = 0;
	if (o->chap_user) {
		/* A bad secret file is refused before anything is changed. */
		struct chap_job *j = chap_job_new(o, NULL, true);

		if (!j) {
			bop_fail(op, -ENOMEM, "out of memory");
			return;
		}
		k = bop_work(op, chap_job_run, j, chap_job_free, secret_checked);
		if (k < 0) {
			chap_job_free(j);
			bop_finish(op, k);
		}
		return;
	}
	portal_begin(o);
}

static int iscsi_attach(struct host_ctx *ctx, const struct host_target *t, host_done_fn done, void *userdata)
{
	struct iscsi_op *o;
	int k = iscsi_op_new(ctx, t, ISCSI_ATTACH, done, userdata, &o);

	if (k < 0)
		return k;
	k = bop_run(&o->base, (const char *const[]){ "iscsiadm", "-m", "session", NULL }, NULL, attach_sessions);
	if (k < 0)
		iscsi_op_free(&o->base);
	return k;
}

/* ---- probe --------------------------------------------------------------------------------------- */

static int iscsi_probe(struct host_ctx *ctx, const struct host_target *t, host_done_fn done, void *userdata)
{
	return blockdev_scsi_probe(ctx, t, "iscsi", done, userdata);
}

/* ---- detach -------------------------------------------------------------------------------------- */

static void detach_logout(struct iscsi_op *o);
static void detach_logout_extra(struct iscsi_op *o);

static void detach_gone(struct blockdev_op *op, int r)
{
	struct iscsi_op *o = iop(op);

	if (r < 0) {
		bop_finish(op, r);
		return;
	}
	free(op->result);
	if (o->other_disks) {
		if (asprintf(&op->result, "detached; the sessions to %s stay: they carry other LUNs (%s)", o->iqn,
			     o->other_list ? o->other_list : "?") < 0)
			op->result = NULL;
	} else
		op->result = strdup(o->something ? "detached" : "not attached");
	bop_finish(op, 0);
}

static void detach_wait_gone(struct iscsi_op *o)
{
	int k = blockdev_scsi_wait_gone(&o->base, detach_gone);

	if (k < 0)
		bop_finish(&o->base, k);
}

static void records_deleted(struct blockdev_op *op, struct runner_result *res)
{
	struct iscsi_op *o = iop(op);

	if (!runner_result_ok(res) && !(res->exit_code == ISCSIADM_NO_OBJS_FOUND && !res->timed_out)) {
		bop_finish(op, iscsiadm_error(op, res));
		return;
	}
	if (runner_result_ok(res))
		o->something = true;
	detach_wait_gone(o);
}

static void detach_records(struct iscsi_op *o)
{
	int k;

	/* every record of the target, whichever portal (-p would leave the records that discovery
	 * made for LIFs outside the list) */
	k = bop_run(&o->base, (const char *const[]){ "iscsiadm", "-m", "node", "-T", o->iqn, "-o", "delete", NULL },
		    NULL, records_deleted);
	if (k < 0)
		bop_finish(&o->base, k);
}

static void logged_out(struct blockdev_op *op, struct runner_result *res)
{
	struct iscsi_op *o = iop(op);

	/* 21: the session went away meanwhile */
	if (!runner_result_ok(res) && !(res->exit_code == ISCSIADM_NO_OBJS_FOUND && !res->timed_out)) {
		bop_finish(op, iscsiadm_error(op, res));
		return;
	}
	if (o->cur < o->n_portals) {
		o->cur++;
		detach_logout(o);
	} else {
		o->extra++;
		detach_logout_extra(o);
	}
}

static void detach_logout_extra(struct iscsi_op *o)
{
	char sid[16];
	int k;

	if (o->extra >= o->n_extra) {
		detach_records(o);
		return;
	}
	o->something = true;
	snprintf(sid, sizeof sid, "%u", o->extra_sids[o->extra]);
	bop_log(&o->base, LOG_DEBUG, "logging out of session %s of %s (a portal not in the list)", sid, o->iqn);
	k = bop_run(&o->base, (const char *const[]){ "iscsiadm", "-m", "session", "-r", sid, "--logout", NULL }, NULL,
		    logged_out);
	if (k < 0)
		bop_finish(&o->base, k);
}

static void detach_logout(struct iscsi_op *o)
{
	const char *argv[9];
	int k;

	while (o->cur < o->n_portals && !o->portals[o->cur].session)
		o->cur++;
	if (o->cur >= o->n_portals) {
		o->extra = 0;
		detach_logout_extra(o);
		return;
	}
	o->something = true;
	node_argv_base(o, argv);
	argv[7] = "--logout";
	argv[8] = NULL;
	bop_log(&o->base, LOG_DEBUG, "logging out of %s at %s", o->iqn, o->portals[o->cur].text);
	k = bop_run(&o->base, argv, NULL, logged_out);
	if (k < 0)
		bop_finish(&o->base, k);
}

static void detach_removed(struct blockdev_op *op, int r)
{
	struct iscsi_op *o = iop(op);

	if (r < 0) {
		bop_finish(op, r);
		return;
	}
	if (o->other_disks) {
		detach_wait_gone(o);
		return;
	}
	o->cur = 0;
	detach_logout(o);
}

/* The worker job of a detach: the LUN, and the disks of other LUNs on the target's sessions. */
struct detach_job {
	char *sys_root, *dev_root, *serial;
	unsigned *sids;
	size_t n_sids;
	struct blockdev_scsi found;
	size_t n_other;
	char *other;                 /* "sdd sde" */
};

static void detach_job_free(void *arg)
{
	struct detach_job *j = arg;

	free(j->sys_root);
	free(j->dev_root);
	free(j->serial);
	free(j->sids);
	blockdev_scsi_clear(&j->found);
	free(j->other);
	free(j);
}

static int add_word(char **list, const char *word)
{
	char *n = NULL;

	if (asprintf(&n, "%s%s%s", *list ? *list : "", *list ? " " : "", word) < 0)
		return -ENOMEM;
	free(*list);
	*list = n;
	return 0;
}

/* Disks under <sys>/class/iscsi_session/sessionN/device/target*\/H:C:T:L/block/. */
static int session_disks(struct detach_job *j, unsigned sid)
{
	char base[PATH_MAX];
	DIR *d;
	struct dirent *de;
	int k = 0;

	if (snprintf(base, sizeof base, "%s/class/iscsi_session/session%u/device", j->sys_root, sid) >= (int)sizeof base)
		return -ENAMETOOLONG;
	d = opendir(base);
	if (!d)
		return 0;
	while ((de = readdir(d)) && k >= 0) {
		char tdir[PATH_MAX];
		DIR *t;
		struct dirent *le;

		if (strncmp(de->d_name, "target", 6) != 0)
			continue;
		if (snprintf(tdir, sizeof tdir, "%s/%s", base, de->d_name) >= (int)sizeof tdir || !(t = opendir(tdir)))
			continue;
		while ((le = readdir(t)) && k >= 0) {
			char bdir[PATH_MAX];
			DIR *b;
			struct dirent *be;
			unsigned h, c, tg, l;
			char extra;

			if (sscanf(le->d_name, "%u:%u:%u:%u%c", &h, &c, &tg, &l, &extra) != 4)
				continue;
			if (snprintf(bdir, sizeof bdir, "%s/%s/block", tdir, le->d_name) >= (int)sizeof bdir ||
			    !(b = opendir(bdir)))
				continue;
			while ((be = readdir(b)) && k >= 0) {
				bool ours = false;

				if (be->d_name[0] == '.')
					continue;
				for (size_t i = 0; i < j->found.n_paths; i++)
					if (strcmp(j->found.paths[i].name, be->d_name) == 0)
						ours = true;
				if (ours)
					continue;
				j->n_other++;
				k = add_word(&j->other, be->d_name);
			}
			closedir(b);
		}
		closedir(t);
	}
	closedir(d);
	return k;
}

static int detach_job_run(void *arg)
{
	struct detach_job *j = arg;
	int k = blockdev_scsi_find(j->sys_root, j->dev_root, j->serial, false, &j->found);

	for (size_t i = 0; i < j->n_sids && k >= 0; i++)
		k = session_disks(j, j->sids[i]);
	return k;
}

static void detach_looked(struct blockdev_op *op, int r, void *arg)
{
	struct iscsi_op *o = iop(op);
	struct detach_job *j = arg;
	int k;

	if (r < 0) {
		bop_fail(op, r, "looking for serial '%s' and the LUNs of %s's sessions in %s: %s", op->serial, o->iqn,
			 op->ctx->sys_root, r == -ETIMEDOUT ? "the worker did not answer in time" : strerror(-r));
		return;
	}
	blockdev_scsi_clear(&op->scsi);
	op->scsi = j->found;
	j->found = (struct blockdev_scsi){ 0 };
	o->other_disks = j->n_other;
	o->other_list = TAKE_PTR(j->other);
	if (op->scsi.n_paths)
		o->something = true;
	k = blockdev_scsi_remove(op, o->other_disks > 0, detach_removed);
	if (k < 0)
		bop_finish(op, k);
}

static void detach_sessions(struct blockdev_op *op, struct runner_result *res)
{
	struct iscsi_op *o = iop(op);
	struct detach_job *j;
	int k;

	if (!runner_result_ok(res) && !(res->exit_code == ISCSIADM_NO_OBJS_FOUND && !res->timed_out)) {
		bop_finish(op, iscsiadm_error(op, res));
		return;
	}
	if (runner_result_ok(res) && (k = mark_sessions(o, res)) < 0) {
		bop_finish(op, k);
		return;
	}
	j = calloc(1, sizeof *j);
	if (!j || !(j->sys_root = strdup(op->ctx->sys_root)) || !(j->dev_root = strdup(op->ctx->dev_root)) ||
	    !(j->serial = strdup(op->serial)) || !(j->sids = calloc(o->n_portals + o->n_extra, sizeof *j->sids))) {
		if (j)
			detach_job_free(j);
		bop_fail(op, -ENOMEM, "out of memory");
		return;
	}
	for (size_t i = 0; i < o->n_portals; i++)
		if (o->portals[i].session)
			j->sids[j->n_sids++] = o->portals[i].sid;
	for (size_t i = 0; i < o->n_extra; i++)
		j->sids[j->n_sids++] = o->extra_sids[i];
	k = bop_work(op, detach_job_run, j, detach_job_free, detach_looked);
	if (k < 0) {
		detach_job_free(j);
		bop_finish(op, k);
	}
}

static int iscsi_detach(struct host_ctx *ctx, const struct host_target *t, host_done_fn done, void *userdata)
{
	struct iscsi_op *o;
	int k = iscsi_op_new(ctx, t, ISCSI_DETACH, done, userdata, &o);

	if (k < 0)
		return k;
	k = bop_run(&o->base, (const char *const[]){ "iscsiadm", "-m", "session", NULL }, NULL, detach_sessions);
	if (k < 0)
		iscsi_op_free(&o->base);
	return k;
}

const struct host_attach_ops host_attach_iscsi = {
	.name = "iscsi",
	.probe = iscsi_probe,
	.attach = iscsi_attach,
	.detach = iscsi_detach,
};

