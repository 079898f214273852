/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The spec's "datastores": one entry becomes ONTAP storage, attached on every host, a cluster
 * file system (block protocols) or a NAS mount, and the same libvirt pool everywhere.
 * Other tools read and write these names; they are an interface:
 *
 *   "datastores": [ {
 *       "name": "[a-z][a-z0-9_]{0,39}",      unique; also the libvirt pool name on every node
 *       "protocol": "iscsi" | "fc" | "nvme-tcp" | "nfs" | "smb",
 *       "size": 107374182400 | "100G" | "512M" | "2T",   bytes, or binary units K M G T P
 *       "fs": "ocfs2" (default for block) | "gfs2",      block protocols only
 *       "nfs": { "version": "4.1" (default; "3", "4", "4.1", "4.2"), "nconnect": 1..16,
 *                "trunkdiscovery": bool },               nfs only
 *       "smb": { "multichannel": bool, "max_channels": 1..32,
 *                "credentials": "/abs/path (a root-only file on every host)",
 *                "user": "DOMAIN\\kvm-hosts" },   smb only; user: the Windows user or group the
 *                                                 share's ACL grants full control (the account of
 *                                                 the credentials file), default Everyone
 *       "path": "/srv/kvmcd/<name>" (default)  absolute, normalised, not inside another
 *                                               datastore's path (nor one inside it)
 *       "clone": { "parent": "ds1", "snapshot": "NAME", "split": false }   a FlexClone of datastore ds1 at its
 *                                               snapshot NAME (`kvmcctl datastore clone`): the
 *                                               leader creates its volume as that clone instead
 *                                               of an empty one; then it is a datastore like any
 *                                               other (see "Clones" below)
 *   } ]
 *
 *   "destroy_data": [ "ds1", ... ]   (top level, beside "datastores")
 *       Names of datastores REMOVED from "datastores" whose ONTAP volume -- the data -- the
 *       user asked to destroy. A datastore removed without being listed here keeps its volume
 *       (status says "kept"). The leader destroys a listed volume only once every node has
 *       detached the datastore, and only objects kvmcd created (agent/leader-datastores.c).
 *
 * Why the request lives in the spec (and not in a leader record or a one-shot command): it is
 * then replicated and persisted with the removal itself, in ONE change, so it survives any
 * leader change and can never be half applied (removed from the spec but the destroy request
 * lost, or the reverse); a new leader simply reads it. It cannot be set by accident:
 *   - `kvmcctl datastore remove NAME --destroy-data` is the only way in: kvmcd refuses a plain
 *     `spec apply` whose "destroy_data" names a datastore the spec in force does not list there
 *     (ds_destroy_data_added(), checked by the node that takes the request), so re-applying an
 *     old file, or a copy from another cluster, never destroys anything;
 *   - a name may not be in "datastores" and "destroy_data" at once, so re-creating a datastore
 *     of that name needs its name taken out of "destroy_data" first, by hand: a later plain
 *     removal of the new datastore keeps its data again.
 * `spec apply` of the spec it got from `spec get` keeps the list as it is (nothing is added).
 *
 * Clones. "clone" is how the datastore's volume is MADE, read only while the volume does not
 * exist: the plan (datastore-plan.h) creates it as a FlexClone of the parent's volume at that
 * snapshot (the LUN / namespace comes with it), and the node that would have run mkfs makes the
 * cloned file system distinct instead (a new UUID and the clone's label; GFS2 also its lock
 * table), so it mounts beside its parent. Rules: same protocol and fs as the parent when the
 * parent is in the spec too; when a clone is ADDED (spec_validate_change) its parent must be a
 * datastore of the spec in force and its size at least the parent's; an existing datastore's
 * "clone" cannot be added or changed (it may be dropped: the volume exists), but for "split".
 * The parent may be removed later: the clone is a volume of its own, yet ONTAP keeps the parent's
 * snapshot busy (retention keeps it, `snapshot delete` is refused) until the clone is split or
 * destroyed. "split": true (`kvmcctl datastore split NAME`) asks the leader to split it: while
 * ONTAP reports the volume a FlexClone with no split started, the plan's volume-clone-split op
 * starts one (datastore-plan.h); ONTAP splits in the background, the datastore stays attached,
 * mounted and in use throughout, and once ONTAP reports it no FlexClone the parent's snapshot is
 * free. A split cannot be undone: setting "split" back to false changes nothing on ONTAP.
 *
 * Restores. "restore" (top level, beside "datastores") asks the leader to revert datastores to
 * one of their snapshots (agent/restore.h):
 *   "restore": { "ds1": { "snapshot": "NAME", "id": "n1.1764230400123456", "restart_vms": ["web1"] } }
 * Like "destroy_data", the request lives in the spec so that it is replicated and persisted with
 * what goes with it in ONE change (`kvmcctl snapshot restore --stop-vms` stops the datastore's
 * VMs in the same change) and survives any leader change; "id" makes it one request: the
 * leader records restore/<ds> with that id and never runs an id twice. `kvmcctl snapshot
 * restore` is the only way in: a plain `spec apply` whose "restore" differs from the spec in
 * force in an entry it has is refused (ds_restore_added(), checked by the node that takes the
 * request), so re-applying an old file never reverts anything; `spec apply` of `spec get`'s
 * output keeps the entries as they are. Rules: an object; each key a datastore of
 * "datastores"; each value {"snapshot": a snapshot name (the rule of clone.snapshot), "id":
 * 1..DS_RESTORE_ID_MAX bytes of A-Z a-z 0-9 . _ -} and optionally "restart_vms": the VMs that
 * `--stop-vms` stopped in the same change, which the leader starts again once the restore has
 * ended and every member has the datastore back (agent/restore.h); distinct VM names, not
 * necessarily in "vms" (one may be removed meanwhile). The request is the snapshot and the id:
 * a change that only drops restart_vms (to leave those VMs stopped) asks for nothing.
 *
 * Validation (spec_validate, in spec.c) refuses the whole spec, listing every problem with its
 * JSON path ("datastores[2].size: ..."), before anything is touched. Refusals that need the
 * previous spec (changing protocol or fs of an existing datastore, shrinking) are made by
 * spec_validate_change(). Pure: no I/O.
 *
 * The rules, precisely:
 *   - Required: name, protocol, size. Any other key than the eight above, in an entry or in its
 *     "nfs" / "smb" object, is refused: a typo is never ignored. At most DS_MAX_DATASTORES.
 *   - name: as above, unique. protocol: exactly one of the five names (lower case).
 *   - size: a JSON integer of bytes, or a string of decimal digits followed by ONE upper-case
 *     binary unit K M G T P (1K = 1024). Refused, each with a message saying what is accepted:
 *     decimals ("1.5T": the message suggests "1536G"), SI or IEC spellings ("100GB", "100GiB"),
 *     lower case ("10g": one spelling per size, and "m" reads as milli), a digits-only string,
 *     signs, blanks, JSON reals. Then DS_MIN_SIZE_BLOCK (iscsi, fc, nvme-tcp) or
 *     DS_MIN_SIZE_NAS (nfs, smb) <= size <= DS_MAX_SIZE; a value that overflows 64 bits is
 *     simply above the maximum.
 *   - fs: block protocols only (a file system on NFS/SMB is refused), default ocfs2. The spec's
 *     "nodes" may not list more hosts than the fs holds (DS_OCFS2_MAX_NODES, DS_GFS2_MAX_NODES);
 *     the message names both numbers.
 *   - nfs: only with protocol nfs; version a string, nconnect an integer, trunkdiscovery a
 *     bool, and trunkdiscovery true needs version 4.1 or 4.2 (it is NFSv4.1 session trunking).
 *   - smb: only with protocol smb; credentials an absolute, normalised path (see "path"); user
 *     1..DS_SMB_USER_MAX characters, none of " / [ ] : ; | = , + * ? < > or a control character
 *     (Windows refuses them in names; a backslash separates the domain), no blank at either end.
 *   - destroy_data: an array of at most DS_MAX_DATASTORES distinct datastore names (the rule
 *     of "name"), none of them the name of an entry of "datastores".
 *   - path: absolute and normalised (no "//", no "." or ".." component, no trailing "/"), at
 *     most DS_PATH_MAX bytes of A-Z a-z 0-9 . _ + - and "/". Not "/", not one of the system's
 *     own directories ("/etc", "/var", "/srv", DS_PATH_DEFAULT_DIR, ...), not inside /proc, /sys,
 *     /dev, /run, /tmp, /var/tmp, /boot, /etc or /usr (a cluster fs mounted there on every host
 *     at once, or aged out by tmpfiles, is a disaster). After defaults no two datastores share a
 *     path and none is inside another's.
 * Every message is "<JSON path>: <what is wrong>", e.g. "datastores[1].size: \"10g\": unknown
 * unit \"g\" (write \"10G\"); units are K M G T P (powers of 1024, upper case, no B)".
 * spec_validate_change() speaks about the new spec's entries: "datastores[0].size: ds1 would
 * shrink from 200G to 100G; a datastore only grows".
 */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "spec.h"

#define DS_NAME_MAX 40u
/* ONTAP's smallest FlexVol is 20 MB; a LUN or namespace must leave the volume room for its
 * metadata, and OCFS2/GFS2 need a journal per node: block datastores start at 1 GiB. */
#define DS_MIN_SIZE_NAS (20ull << 20)
#define DS_MIN_SIZE_BLOCK (1ull << 30)
#define DS_MAX_SIZE (128ull << 40)            /* ONTAP's LUN / namespace maximum */
#define DS_OCFS2_MAX_NODES 255u               /* OCFS2 node slots */
#define DS_GFS2_MAX_NODES 16u                 /* GFS2's supported cluster size */
#define DS_MAX_DATASTORES 256u                /* entries in "datastores" */
#define DS_PATH_MAX 200u                      /* bytes of a "path" or "smb.credentials" */
#define DS_SMB_USER_MAX 256u                  /* bytes of "smb.user" */
#define DS_PATH_DEFAULT_DIR "/srv/kvmcd"      /* default path: DS_PATH_DEFAULT_DIR "/" name */
#define DS_SNAPSHOT_NAME_MAX 255u            /* bytes of "clone.snapshot" (ONTAP's limit) */
#define DS_SIZE_TEXT_MAX 24u                  /* ds_size_format()'s buffer: "18446744073709551615" */

enum ds_protocol { DS_PROTO_ISCSI, DS_PROTO_FC, DS_PROTO_NVME_TCP, DS_PROTO_NFS, DS_PROTO_SMB, _DS_PROTO_MAX };
enum ds_fs { DS_FS_NONE, DS_FS_OCFS2, DS_FS_GFS2, _DS_FS_MAX };

/* One datastore of a VALIDATED spec. Strings are borrowed from the spec's json_t (valid as long
 * as that reference is held). */
struct ds_spec {
	const char *name;
	enum ds_protocol protocol;
	uint64_t size;               /* bytes */
	enum ds_fs fs;               /* DS_FS_NONE for nfs / smb */
	const char *path;            /* mount point and pool target (default applied: then owned by
					the array ds_spec_list() returned) */
	struct {                     /* protocol nfs; all zero (version NULL) otherwise */
		const char *version;     /* "4.1" by default */
		unsigned nconnect;       /* 0 = not given */
		bool trunkdiscovery;
	} nfs;
	struct {                     /* protocol smb; all zero otherwise */
		bool multichannel;
		unsigned max_channels;   /* 0 = not given */
		const char *credentials; /* NULL = not given */
		const char *user;        /* the share ACL's user or group; NULL = not given (Everyone) */
	} smb;
	struct {                     /* "clone": what it was made from; both NULL when not a clone */
		const char *parent;      /* the parent datastore's name */
		const char *snapshot;    /* the parent's snapshot it was cloned at */
		bool split;              /* "split": true -- split it from its parent (see "Clones") */
	} clone;
};

/* "iscsi", "fc", "nvme-tcp", "nfs", "smb"; "none", "ocfs2", "gfs2"; "unknown" out of range. */
const char *ds_protocol_name(enum ds_protocol p);
const char *ds_fs_name(enum ds_fs fs);
static inline bool ds_is_block(enum ds_protocol p) { return p <= DS_PROTO_NVME_TCP; }

/*
 * The datastores of a spec that passed spec_validate(): *out (owned array, free() once; the
 * default paths live in the same block) of *n entries in the spec's order, defaults applied;
 * *out is NULL when there are none. Validates the spec itself. Returns 0, -EINVAL when the spec
 * is not valid (callers validate first), -ENOMEM. Writes *out and *n only on success.
 */
int ds_spec_list(const json_t *spec, struct ds_spec **out, size_t *n);

/*
 * A "size" value as bytes: a JSON integer, or "<digits><K|M|G|T|P>". Range is not checked here
 * except that a value overflowing 64 bits is -ERANGE. Returns 0, -EINVAL when it is not a size;
 * on failure *why (why_len bytes, may be NULL) says what is wrong and what is accepted, without
 * the JSON path. Writes *bytes only on success.
 */
int ds_size_parse(const json_t *v, uint64_t *bytes, char *why, size_t why_len);

/* bytes in the largest binary unit that divides it exactly ("100G", "1536M", "1000"); buf has
 * DS_SIZE_TEXT_MAX bytes. Returns buf. */
const char *ds_size_format(uint64_t bytes, char *buf);

/* For spec.c's spec_validate(): the problems of spec["datastores"], which is present. */
void ds_validate(const json_t *spec, struct spec_problems *problems);
/* For spec.c's spec_validate(): the problems of spec["destroy_data"], which is present. */
void ds_validate_destroy_data(const json_t *spec, struct spec_problems *problems);

/* For spec.c's spec_validate(): the problems of spec["restore"], which is present. */
void ds_validate_restore(const json_t *spec, struct spec_problems *problems);
/*
 * The first datastore whose "restore" entry in `to` has another snapshot or id than the one in
 * `from` (the spec in force; may be NULL), or NULL: a change that asks for a restore. Borrowed
 * from `to`.
 */
const char *ds_restore_added(const json_t *from, const json_t *to);
#define DS_RESTORE_ID_MAX 64u

/* Whether spec["destroy_data"] lists name (the user asked to destroy that datastore's data). */
bool ds_destroy_data_has(const json_t *spec, const char *name);

/*
 * The first name `to` lists in "destroy_data" that `from` (the spec in force; may be NULL) does
 * not, or NULL when there is none: a change that asks to destroy data. Borrowed from `to`.
 * Anything that is not a string is skipped (validation refuses it).
 */
const char *ds_destroy_data_added(const json_t *from, const json_t *to);

/*
 * The refusals that compare with the spec in force: a datastore's protocol or fs (defaults
 * applied) changed, a datastore shrunk; and the VMs' (vm_validate_change(): a <uuid>, vm.h).
 * Entries are matched by name; anything else may change
 * (a renamed datastore is a removal and an addition; a path may move). `to` has passed
 * spec_validate(); `from` is the spec in force and may be NULL, {} or even a spec today's rules
 * would refuse (what can be read of it is compared). Appends to *problems and returns -EINVAL
 * when there is any, else 0.
 */
int spec_validate_change(const json_t *from, const json_t *to, struct spec_problems *problems);
