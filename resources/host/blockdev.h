/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * What the three real block attach backends (iscsi.c, fc.c, nvme-tcp.c) share:
 *
 *  - finding a device by IDENTITY in sysfs, never by name or order: a SCSI LUN by its unit
 *    serial (VPD page 0x80, /sys/block/sdX/device/vpd_pg80) and then its dm-multipath holder;
 *    an NVMe namespace by its UUID (/sys/block/nvmeXnY/uuid or wwid "uuid.<uuid>"). The serial
 *    is compared byte for byte, never through a WWID computed from it: LIO builds its NAA
 *    WWID from the serial's hex digits only, so two serials can share one WWID (see
 *    /work/shared/notes/fullstack-fencing.md), and a multipath map that holds paths of two
 *    serials is reported as a conflict, never used;
 *  - the parsers of tool output (pure, exposed for the unit tests and tests/fuzz);
 *  - the asynchronous plumbing of one operation (struct blockdev_op): tool runs through
 *    common/runner.h, sysfs lookups and file writes on common/worker.h, timer retries on the
 *    loop, and one way to report a failed step ("<command line>: <how it ended>: <the tool's
 *    own message>").
 *
 * Timing (every value derives from host_ctx.step_timeout_usec, "step" below; 30 s when 0):
 *  - every child (iscsiadm, multipath, nvme, tee) and every worker job has the deadline step;
 *  - a device that should appear (after a login, a connect, a rescan) or disappear (after a
 *    logout, a disconnect, a delete) is polled every BLOCKDEV_POLL_USEC for at most
 *    blockdev_device_wait() = 2 * step, on a timer: nothing sleeps on the loop;
 *  - SCSI paths that carry the serial but no multipath map after blockdev_kick_after()
 *    = min(3 s, wait / 3) get one `multipath -a /dev/sdX` + `multipath /dev/sdX`.
 *
 * sysfs / dev / etc roots come from host_ctx, so tests point them at a fake tree.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <systemd/sd-event.h>

#include "host.h"

struct runner_result;

/* The real attach ops tables (host_backend_real points at them). */
extern const struct host_attach_ops host_attach_iscsi;
extern const struct host_attach_ops host_attach_fc;
extern const struct host_attach_ops host_attach_nvme_tcp;

#define BLOCKDEV_NAME_MAX 64u             /* a kernel block / controller / session name */
#define BLOCKDEV_POLL_USEC (250ull * 1000ull)
#define BLOCKDEV_DEFAULT_STEP_USEC (30ull * 1000000ull)

uint64_t blockdev_step_timeout(const struct host_ctx *ctx);
uint64_t blockdev_device_wait(const struct host_ctx *ctx);
uint64_t blockdev_kick_after(const struct host_ctx *ctx);

/* ---- parsers (pure, any thread; fuzzed by tests/fuzz/fuzz-host-tools.c) ---------------------- */

/* The unit serial of a VPD page 0x80 as sysfs gives it (4-byte header: peripheral, page code
 * 0x80, page length big-endian; then the serial, possibly NUL / space padded). Writes the
 * serial without padding into out. Returns 0, -EBADMSG (not page 0x80, truncated, empty, or
 * bytes outside printable ASCII), -ENOBUFS (out too small). */
int blockdev_vpd80_serial(const void *page, size_t len, char *out, size_t size);

/* A tool's own message for an error line: stderr (stdout when stderr is empty), lines trimmed,
 * empty lines and repeats of the previous line dropped, joined with "; ", control bytes shown
 * as '?', at most about 1 KiB. Owned; "" when the tool said nothing; NULL only on ENOMEM. */
char *blockdev_tool_message(const char *out, size_t out_len, const char *err, size_t err_len);

/* An iSCSI portal / NVMe transport address "IP", "IP:PORT", "[IPv6]" or "[IPv6]:PORT": the
 * address must be a numeric IPv4 or IPv6 literal (never a host name, never something argv could
 * take for an option). addr gets the address without brackets. Returns 0 or -EINVAL. */
int blockdev_portal_parse(const char *text, unsigned default_port, char *addr, size_t addr_size,
			  unsigned *port);
/* Two numeric addresses are the same host address (IPv6 spelled differently compares equal). */
bool blockdev_addr_equal(const char *a, const char *b);

/* iscsiadm -m session: one line per session, "tcp: [3] 10.0.0.5:3260,1030 iqn.… (non-flash)"
 * ("[fe80::1]:3260,1" for IPv6). */
struct iscsi_session_info {
	unsigned sid;
	char transport[16];
	char addr[64];
	unsigned port;
	int tpgt;
	char target[224];
};
/* Parses every well-formed line (others are skipped); *out owned (free), *n entries. Returns 0
 * or -ENOMEM. */
int iscsi_parse_sessions(const char *text, size_t len, struct iscsi_session_info **out, size_t *n);
/* iscsiadm -m node -T … -p … prints a record as "key = value" lines. Copies key's value into
 * out ("" for "<empty>"). Returns 0, -ENOENT (no such key), -ENOBUFS. */
int iscsi_record_value(const char *text, size_t len, const char *key, char *out, size_t size);
/* The node record file with the CHAP settings set: text with the three node.session.auth lines
 * (authmethod, username, password) replaced (a repeated one dropped), or added before
 * "# END RECORD" (at the end when there is none); every line ends in a newline. Owned, *out_len
 * bytes plus a NUL; NULL on ENOMEM. *changed says whether it differs from text. */
char *iscsi_record_set_chap(const char *text, size_t len, const char *user, const char *secret, size_t *out_len,
			    bool *changed);

/* /sys/class/nvme/nvmeX/address: "traddr=10.0.0.5,trsvcid=4420[,host_traddr=…][,src_addr=…]".
 * Returns 0 (both found), -EBADMSG. */
int nvme_parse_address(const char *text, size_t len, char *traddr, size_t traddr_size, char *trsvcid,
		       size_t trsvcid_size);

/* A LUN serial as ONTAP reports it (12 characters there; other targets use other lengths):
 * 1..254 bytes of printable ASCII without blanks. */
bool blockdev_valid_serial(const char *serial);

/* ---- sysfs lookups (blocking file reads: call them on a worker) ----------------------------- */

struct blockdev_scsi_path {
	char name[BLOCKDEV_NAME_MAX];      /* "sdb" */
	char holder[BLOCKDEV_NAME_MAX];    /* its dm-multipath map "dm-3", "" = none */
	bool busy;                         /* only with check_busy: held or opened exclusively */
};

/* What sysfs shows for one LUN serial. Owned by the caller (blockdev_scsi_clear). */
struct blockdev_scsi {
	struct blockdev_scsi_path *paths;  /* every sd disk whose VPD 0x80 is the serial */
	size_t n_paths;
	char map[BLOCKDEV_NAME_MAX];       /* "dm-3": the multipath map holding them, "" = none */
	char *map_name;                    /* its dm name: the device is <dev>/mapper/<map_name> */
	char *map_uuid;                    /* "mpath-<wwid>" */
	bool map_node;                     /* <dev>/mapper/<map_name> exists (udev made it) */
	/* Non-NULL when what sysfs shows must not be used: paths in two maps, a map that also holds
	 * a path with another serial (a WWID collision), a path held by something that is not a
	 * multipath map. A human sentence. */
	char *conflict;
};

/* Every /sys/block/sd* with the serial, and their multipath map; with check_busy also whether
 * each path is in use (an entry in holders/, or <dev>/sdX cannot be opened O_EXCL: mounted or
 * claimed). Returns 0 (also when nothing matches: n_paths 0), -ENOMEM; *out is written only on
 * success. */
int blockdev_scsi_find(const char *sys_root, const char *dev_root, const char *serial, bool check_busy,
		       struct blockdev_scsi *out);
void blockdev_scsi_clear(struct blockdev_scsi *s);
/* "sdb sdc" (owned; "" when none). */
char *blockdev_scsi_path_list(const struct blockdev_scsi *s);

struct blockdev_nvme_ctrl {
	char name[BLOCKDEV_NAME_MAX];      /* "nvme0" */
	char transport[16];                /* "tcp" */
	char traddr[64];
	char trsvcid[16];
	char state[32];                    /* "live", "connecting", "resetting", "deleting", ... */
};

/* What sysfs shows for one subsystem NQN and namespace UUID. Owned (blockdev_nvme_clear). */
struct blockdev_nvme {
	char subsys[BLOCKDEV_NAME_MAX];    /* "nvme-subsys0" whose subsysnqn is the NQN, "" = none */
	struct blockdev_nvme_ctrl *ctrls;  /* controllers whose subsysnqn is the NQN */
	size_t n_ctrls;
	char ns[BLOCKDEV_NAME_MAX];        /* "nvme0n1": the namespace (the multipath head), "" = none */
	bool ns_node;                      /* <dev>/<ns> exists */
	bool ns_busy;                      /* only with check_busy: held (holders/) or opened
					    * exclusively (mounted, claimed) */
	char **other_ns;                   /* other namespaces of the subsystem ("nvme0n2", ...) */
	size_t n_other_ns;
	char *conflict;                    /* as for SCSI: the uuid on two block devices (native
					    * multipath off), or under another subsystem */
};

/* The subsystem, its controllers and the namespace with the uuid (compared case-insensitively;
 * wwid "uuid.<uuid>" counts too; hidden per-path disks nvmeXcYnZ are skipped). The busy check
 * opens the device O_EXCL for an instant, so only a detach asks for it (a probe must never make
 * a concurrent mkfs fail). Returns 0 or -ENOMEM; *out written only on success. */
int blockdev_nvme_find(const char *sys_root, const char *dev_root, const char *nqn, const char *uuid,
		       bool check_busy, struct blockdev_nvme *out);
void blockdev_nvme_clear(struct blockdev_nvme *n);
/* A controller that is there or coming back ("deleting", "deleting (no IO)" and "dead" are not). */
bool blockdev_nvme_ctrl_usable(const struct blockdev_nvme_ctrl *c);

/* ---- one asynchronous operation -------------------------------------------------------------
 *
 * A protocol's operation embeds struct blockdev_op first. Exactly one step runs at a time: a
 * tool (bop_run), a worker job (bop_work) or a timer (bop_after); its continuation runs on the
 * loop. bop_finish() calls the hook's done callback once and frees the operation. */
struct blockdev_op;
typedef void (*bop_tool_fn)(struct blockdev_op *op, struct runner_result *res);
typedef void (*bop_work_fn)(struct blockdev_op *op, int r, void *arg);  /* arg NULL on -ETIMEDOUT */
typedef void (*bop_next_fn)(struct blockdev_op *op, int r);

struct blockdev_op {
	struct host_ctx *ctx;              /* borrowed */
	const char *proto;                 /* "iscsi", "fc", "nvme-tcp" */
	char *datastore;                   /* for log lines */
	host_done_fn done;
	void *userdata;                    /* borrowed until done */
	void (*free_op)(struct blockdev_op *op); /* frees the containing operation */
	char *step;                        /* the running tool's command line, owned */

	bop_tool_fn tool_next;
	bop_work_fn work_next;
	bop_next_fn timer_next;
	sd_event_source *timer;            /* owned while armed */

	/* The shared SCSI flows (blockdev_scsi_wait / _remove / _wait_gone). */
	char *serial;                      /* owned */
	struct blockdev_scsi scsi;         /* the last lookup */
	uint64_t deadline;                 /* CLOCK_MONOTONIC µs */
	uint64_t paths_seen_at;            /* 0 = no path seen yet */
	bool kicked;                       /* multipath -a + multipath ran */
	char *kick_note;                   /* what they said, for a timeout message; owned */
	size_t next_path;                  /* index into scsi.paths while deleting */
	bool remove_paths;                 /* blockdev_scsi_remove deletes the paths too */
	bop_next_fn lookup_next;           /* where a lookup continues */
	bop_next_fn flow_next;             /* where a shared flow continues */

	char *result;                      /* detail handed to done on success (device path); owned */
	char *error;                       /* detail of a failure; owned */
};

/* Initialises the common part. datastore may be NULL. Returns 0 or -ENOMEM. */
int bop_init(struct blockdev_op *op, struct host_ctx *ctx, const char *proto, const char *datastore,
	     host_done_fn done, void *userdata, void (*free_op)(struct blockdev_op *op));
/* Frees what bop_init and the shared flows allocated (not op itself). */
void bop_release(struct blockdev_op *op);

/* done(userdata, r, r < 0 ? op->error : op->result) once, then free_op. From the loop only. */
void bop_finish(struct blockdev_op *op, int r);
/* Sets op->error from a format and finishes with r. */
void bop_fail(struct blockdev_op *op, int r, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* op->error = "<step>: <how it ended>[: <tool message>]" and returns the errno the caller passes
 * (or -ETIMEDOUT for a timeout / abandonment, -EINTR for a signal / cancel). */
int bop_tool_error(struct blockdev_op *op, const struct runner_result *res, int r);
/* The tool's message alone (owned, "" when none). */
char *bop_tool_text(const struct runner_result *res);

void bop_log(struct blockdev_op *op, int level, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* Runs argv (bare tool names are looked up in PATH) with LC_ALL=C, stdin from stdin_data
 * (NULL: /dev/null), deadline step. Returns 0 (next follows with the result) or a negative
 * errno with op->error set (nothing started). */
int bop_run(struct blockdev_op *op, const char *const *argv, const char *stdin_data, bop_tool_fn next);
/* Runs fn(arg) on the worker pool, deadline step; next(op, r, arg) follows (arg NULL on timeout;
 * free_arg runs after next). Returns 0 or a negative errno with op->error set. */
int bop_work(struct blockdev_op *op, int (*fn)(void *arg), void *arg, void (*free_arg)(void *arg),
	     bop_work_fn next);
/* next(op, 0) after usec. Returns 0 or a negative errno with op->error set. */
int bop_after(struct blockdev_op *op, uint64_t usec, bop_next_fn next);
uint64_t bop_now(struct blockdev_op *op);

/* ---- shared SCSI flows (iscsi, fc) ----------------------------------------------------------
 * Each continues with next(op, r); on success op->scsi holds the last lookup, on failure
 * op->error says why. op->serial must be set. */

/* One lookup into op->scsi (check_busy: see blockdev_scsi_find). */
int blockdev_scsi_lookup(struct blockdev_op *op, bool check_busy, bop_next_fn next);
/* Waits (bounded, timer retries) until the serial's multipath map and its /dev/mapper node are
 * there; kicks multipath once when paths stay without a map. Success: op->result =
 * "<dev>/mapper/<name>". Failure: -EEXIST (conflict) or -ETIMEDOUT (what was and was not seen). */
int blockdev_scsi_wait(struct blockdev_op *op, bop_next_fn next);
/* Flushes the serial's multipath map (multipath -f NAME) when there is one, then, when
 * delete_paths, deletes each path (tee <sys>/block/sdX/device/delete <<< 1) after checking it
 * is not in use. Uses op->scsi as looked up last (call blockdev_scsi_lookup first). */
int blockdev_scsi_remove(struct blockdev_op *op, bool delete_paths, bop_next_fn next);
/* Waits (bounded) until no path with the serial and no map remain. -ETIMEDOUT names them. */
int blockdev_scsi_wait_gone(struct blockdev_op *op, bop_next_fn next);

/* The probe hook of a SCSI transport (iscsi, fc: the identity search is the same): sysfs only.
 * done: 0 + "<dev>/mapper/<name>", -ENOENT (not attached; says what is there), -EEXIST (a
 * conflict). Returns < 0 when nothing was started (-EINVAL: no valid serial). */
int blockdev_scsi_probe(struct host_ctx *ctx, const struct host_target *t, const char *proto, host_done_fn done,
			void *userdata);

/* "<dev_root>/<rel>" (owned, NULL on ENOMEM). */
char *blockdev_path(const char *root, const char *rel);
