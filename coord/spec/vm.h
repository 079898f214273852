/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The spec's "vms": the VMs kvmcd keeps running, each on exactly one host (issue 8). Other tools
 * read and write these names; they are an interface:
 *
 *   "vms": [ {
 *       "name": "[A-Za-z0-9][A-Za-z0-9._-]{0,47}",  unique; the libvirt domain name on every node
 *       "domain_xml": "<domain type='kvm'>...</domain>",   the libvirt definition, a string
 *       "state": "started" (default) | "stopped",
 *       "placement": {                               every key optional, every list default []
 *           "prefer": [node names], "avoid": [node names],
 *           "anti_affinity": [VM names], "affinity": [VM names]   strict rules
 *       },
 *       "ha": { "enabled": true (default), "priority": 0 (default; higher first),
 *               "max_restart": 1 (default; on the same node), "max_relocate": 1 (default) }
 *   } ]
 *
 * Validation (spec_validate, in spec.c) refuses the whole spec, listing every problem with its
 * JSON path and the VM's name ("vms[2].domain_xml: web1: disk 'vdb': ..."), before anything is
 * touched. Pure: no I/O (libxml2 parses the domain XML in memory, never a file or the network).
 *
 * The rules, precisely:
 *   - Any key other than the five above, in an entry or in its "placement" / "ha" object, is
 *     refused: a typo is never ignored. Required: name, domain_xml. At most VM_MAX_VMS entries.
 *   - name: 1..VM_NAME_MAX characters of A-Z a-z 0-9 . _ -, starting with a letter or a digit.
 *     Why so narrow: libvirt puts the name into file names (/run/libvirt/qemu/NAME.pid, the log,
 *     the lock manager's leases), kvmcd into its record keys and the ownership lock's name
 *     (a DLM resource name has at most 64 bytes: VM_NAME_MAX leaves room for a prefix), and
 *     shells and logs show it: no "/", no blank, no quote, no control character, never "." or
 *     "..". Names are case-sensitive like libvirt's; unique.
 *   - domain_xml: a string of at most VM_DOMAIN_XML_MAX bytes holding one well-formed XML
 *     document (its own encoding declaration is ignored: it is the JSON's UTF-8) whose root is
 *     <domain> with type "kvm" or "qemu" (TCG). No DOCTYPE (no entity declarations: nothing
 *     is expanded or fetched).
 *       * <name> MUST be present and equal "name". Chosen over "may be absent": the string is
 *         then a complete definition libvirt takes as it is, kvmcd never has to write the
 *         user's name into it, and `kvmcctl vm add FILE.xml` takes the name from there.
 *       * <uuid>, when present, is a UUID (8-4-4-4-12 hex digits, or 32 without dashes), unique
 *         among the VMs. When absent, libvirt would invent one per node: the VM runtime must
 *         then give every node the same one (vm_spec.uuid is ""), or migration between nodes
 *         that defined it with different UUIDs fails.
 *       * Every <disk> (of every <devices>) lives on a kvmcd datastore of the SAME spec, so
 *         that any node can run the VM:
 *           <disk type='volume'> <source pool='DS' volume='FILE'/>: DS is the name of a
 *               datastore of "datastores"; FILE a plain file name (no "/", not "." or "..").
 *           <disk type='file'> (or no type: libvirt's default) <source file='PATH'/>: PATH is
 *               absolute, normalised (no "//", no "." or ".." component, no trailing "/",
 *               no control character, at most VM_PATH_MAX bytes) and strictly inside the
 *               path of a datastore of the spec ("path", default DS_PATH_DEFAULT_DIR/<name>,
 *               as ds_spec_list() gives it).
 *         The same holds for every <backingStore> of a disk's chain (down to an empty
 *         <backingStore/>, at most VM_BACKING_DEPTH deep) and a source's <dataStore>. A disk
 *         of device "cdrom" or "floppy" without a source (an empty drive) is fine. Refused:
 *         any other disk type (block, dir, network, nvme, vhostuser), a file or volume disk
 *         without its source, a file outside every datastore.
 *       * <hostdev> (PCI, USB, SCSI, mdev passthrough) and <interface type='hostdev'|'vdpa'>
 *         are refused: the device exists on one host only.
 *       * <filesystem>: type "mount" (the default; a host directory passed through) needs its
 *         <source dir> inside a datastore's path, type "file" its <source file>; "ram" is fine;
 *         any other type ("block", "template", "bind", ...) is refused.
 *       * <os>: <kernel>, <initrd>, <dtb> and <nvram>, when they name a file, are files the VM
 *         boots from or writes (NVRAM holds the UEFI variables): inside a datastore's path like
 *         a disk. <loader> is firmware from the host's packages (the same on every host) and is
 *         not checked. An <nvram> without a path (libvirt then keeps per-host variables under
 *         /var/lib/libvirt) is not refused; its variables do not follow the VM.
 *       Every other element (interfaces on libvirt networks or bridges, graphics, consoles,
 *       <metadata>, ...) is the user's and is not checked. A refusal names the VM and the
 *       device: "vms[1].domain_xml: web1: disk 'vdb': file \"/var/lib/libvirt/images/b.qcow2\"
 *       is on no datastore of the spec (/srv/kvmcd/ds1): the VM could not run on another node".
 *   - state: exactly "started" or "stopped".
 *   - placement.prefer / avoid: arrays of at most VM_LIST_MAX distinct host names (the rule of
 *     the spec's nodes[].name); when the spec lists "nodes", each must be one of them. A node in
 *     both prefer and avoid is refused.
 *     placement.anti_affinity / affinity: arrays of at most VM_LIST_MAX distinct names of VMs of
 *     the spec (a name no entry has is refused), never the VM itself. Affinity is symmetric and
 *     transitive (strict: those VMs run on one node), so VMs are grouped by every affinity
 *     rule; an anti_affinity between two VMs of one group contradicts it and is refused (the
 *     same name in a VM's affinity and anti_affinity is the simplest case).
 *   - ha.enabled: true or false. ha.priority: an integer in VM_PRIORITY_MIN..VM_PRIORITY_MAX.
 *     ha.max_restart, ha.max_relocate: integers in 0..VM_HA_COUNT_MAX.
 * Every message is "<JSON path>: [<VM name>: ]<what is wrong>".
 *
 * Against the spec in force (spec_validate_change): a VM that keeps its name may not change its
 * <uuid> (when both definitions have one): libvirt cannot redefine a domain under another UUID
 * while it exists. Changing a VM's name is a removal and an addition (the old domain goes, a new
 * one comes). Nothing else is refused there. In particular removing a datastore that a VM still
 * uses needs no rule of its own: the VM's disk would then be on no datastore of the new spec,
 * which spec_validate() refuses by itself ("pool \"ds1\" is not a datastore of the spec: a
 * datastore cannot be removed while a VM has a disk on it").
 */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "spec.h"

#define VM_NAME_MAX 48u              /* bytes of a VM name (see above: DLM names are 64) */
#define VM_MAX_VMS 4096u             /* entries in "vms" */
#define VM_DOMAIN_XML_MAX (256u * 1024u) /* bytes of one domain_xml */
#define VM_LIST_MAX 128u             /* names in one placement list */
#define VM_PATH_MAX 4096u            /* bytes of a file path in the domain XML */
#define VM_BACKING_DEPTH 64u         /* backing chain elements checked per disk */
#define VM_PRIORITY_MIN (-1000)
#define VM_PRIORITY_MAX 1000
#define VM_HA_COUNT_MAX 100          /* max_restart, max_relocate */
#define VM_UUID_TEXT 37u             /* "xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx" + NUL */

enum vm_state { VM_STATE_STARTED, VM_STATE_STOPPED };

/* A list of names, borrowed from the spec's json_t; the array lives in vm_spec_list()'s block. */
struct vm_names {
	const char *const *name;
	size_t n;
};

/* One VM of a VALIDATED spec, defaults applied. Strings are borrowed from the spec's json_t
 * (valid as long as that reference is held); arrays and uuid live in vm_spec_list()'s block. */
struct vm_spec {
	const char *name;
	const char *domain_xml;         /* the user's definition, as the spec holds it */
	char uuid[VM_UUID_TEXT];        /* its <uuid>, lower case with dashes; "" when it has none */
	uint64_t memory_mib;            /* its <memory> in MiB, rounded up (libvirt's units) */
	unsigned vcpus;                 /* its <vcpu> (1 when absent) */
	enum vm_state state;
	struct {
		struct vm_names prefer, avoid;          /* node names */
		struct vm_names anti_affinity, affinity; /* VM names */
	} placement;
	struct {
		bool enabled;
		int priority;
		unsigned max_restart, max_relocate;
	} ha;
	/* The datastores its disks and files use, each once, in the order of the spec's
	 * "datastores" (names borrowed from there): the datastores that must be ready on a node
	 * before the VM can run there. */
	struct vm_names datastores;
};

/* "started", "stopped"; "unknown" out of range. */
const char *vm_state_name(enum vm_state s);

/*
 * The VMs of a spec that passed spec_validate(): *out (owned, free() once: the arrays and UUIDs
 * live in the same block) of *n entries in the spec's order; *out is NULL when there are none.
 * Validates the spec itself. Returns 0, -EINVAL when the spec is not valid (callers validate
 * first), -ENOMEM. Writes *out and *n only on success.
 */
int vm_spec_list(const json_t *spec, struct vm_spec **out, size_t *n);

/*
 * The <name> and <uuid> of a domain XML, for `kvmcctl vm add FILE.xml` (the entry's name comes
 * from the definition). name_out has VM_NAME_MAX + 1 bytes, uuid_out VM_UUID_TEXT (written ""
 * when there is none). Returns 0; -EINVAL when it is not a <domain> document with a <name>
 * that is a valid VM name, and then *why (why_len bytes, may be NULL) says what is wrong;
 * -ENOMEM. Writes the outputs only on success. Pure.
 */
int vm_domain_identity(const char *xml, char *name_out, char *uuid_out, char *why, size_t why_len);

/* Whether s is a valid VM name (the rule of "name"). */
bool vm_name_ok(const char *s);

/* For spec.c's spec_validate(): the problems of spec["vms"], which is present. */
void vm_validate(const json_t *spec, struct spec_problems *problems);

/*
 * For spec_validate_change(): the refusals of "vms" that compare with the spec in force (a VM
 * that keeps its name changed its <uuid>). `to` has passed spec_validate(); `from` may be NULL
 * or anything. Appends to *problems.
 */
void vm_validate_change(const json_t *from, const json_t *to, struct spec_problems *problems);
