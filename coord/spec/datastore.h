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
 *                "credentials": "/abs/path (a root-only file on every host)" },  smb only
 *       "path": "/srv/kvmcd/<name>" (default)  absolute, normalised, not inside another
 *                                               datastore's path (nor one inside it)
 *   } ]
 *
 * Validation (spec_validate, in spec.c) refuses the whole spec, listing every problem with its
 * JSON path ("datastores[2].size: ..."), before anything is touched. Refusals that need the
 * previous spec (changing protocol or fs of an existing datastore, shrinking) are made by
 * spec_validate_change(). Pure: no I/O.
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

enum ds_protocol { DS_PROTO_ISCSI, DS_PROTO_FC, DS_PROTO_NVME_TCP, DS_PROTO_NFS, DS_PROTO_SMB, _DS_PROTO_MAX };
enum ds_fs { DS_FS_NONE, DS_FS_OCFS2, DS_FS_GFS2, _DS_FS_MAX };

/* One datastore of a VALIDATED spec. Strings are borrowed from the spec's json_t (valid as long
 * as that reference is held). */
struct ds_spec {
	const char *name;
	enum ds_protocol protocol;
	uint64_t size;               /* bytes */
	enum ds_fs fs;               /* DS_FS_NONE for nfs / smb */
	const char *path;            /* mount point and pool target (default applied) */
	struct {
		const char *version;     /* "4.1" by default */
		unsigned nconnect;       /* 0 = not given */
		bool trunkdiscovery;
	} nfs;
	struct {
		bool multichannel;
		unsigned max_channels;   /* 0 = not given */
		const char *credentials; /* NULL = not given */
	} smb;
};

const char *ds_protocol_name(enum ds_protocol p);
const char *ds_fs_name(enum ds_fs fs);
static inline bool ds_is_block(enum ds_protocol p) { return p <= DS_PROTO_NVME_TCP; }

/*
 * The datastores of a spec that passed spec_validate(): *out (owned array, free()) of *n
 * entries in the spec's order, defaults applied. Returns 0, -EINVAL when the spec is not valid
 * (callers validate first), -ENOMEM.
 */
int ds_spec_list(const json_t *spec, struct ds_spec **out, size_t *n);

/*
 * The refusals that compare with the spec in force: a datastore's protocol or fs changed, a
 * datastore shrunk. Appends to *problems and returns -EINVAL when there is any, else 0.
 */
int spec_validate_change(const json_t *from, const json_t *to, struct spec_problems *problems);
