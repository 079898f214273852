/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The libvirt pool of a datastore: a `dir` pool with the same name, UUID and XML on every node,
 * defined, autostarted and started, through libvirt's C API on the worker pool (every libvirt
 * call blocks). Each hook opens its own connection (host_ctx.libvirt_uri, "qemu:///system" by
 * default) on a worker thread and closes it, so a restarted libvirtd costs nothing to recover.
 *
 * The XML kvmcd defines, built here byte for byte the same on every node (host_pool_xml):
 *
 *   <pool type='dir'>
 *     <name>ds1</name>
 *     <uuid>6a1e9c8e-5b3c-4f6e-9f50-1a2b3c4d5e6f</uuid>
 *     <target>
 *       <path>/srv/kvmcd/ds1</path>
 *       <permissions>
 *         <mode>0755</mode>
 *         <owner>0</owner>
 *         <group>0</group>
 *       </permissions>
 *     </target>
 *   </pool>
 *
 * WHAT IS HASHED (the probe's "active <sha256>" and ensure's result). Not libvirt's XML as is:
 * it carries <capacity>, <allocation> and <available>, live numbers that differ between nodes
 * and from one minute to the next, and VIR_STORAGE_XML_INACTIVE does not drop them (libvirt
 * returns the running definition when no redefinition is pending; its test driver refuses the
 * flag altogether). So the hash is the sha256 of the CANONICAL XML: libvirt's XML (asked with
 * VIR_STORAGE_XML_INACTIVE, without the flag where a driver refuses it) is parsed, the three
 * live elements dropped, and the rest rebuilt with host_pool_xml's exact layout. When libvirt's
 * definition is exactly kvmcd's, the hash equals sha256(host_pool_xml(spec)): any node, or the
 * leader, can compute the expected hash from the spec without libvirt, and libvirt versions that
 * format differently still agree. A definition holding anything kvmcd does not define (another
 * pool type, a <source> with content, a label, ...) has no canonical form: it is hashed as
 * libvirt returns it minus the three live elements, which never equals a canonical hash, and
 * ensure refuses it (-EEXIST, naming the element).
 */
#pragma once

#include <stddef.h>

#include "host.h"

extern const struct host_pool_ops host_pool_libvirt_ops;

#define HOST_SHA256_HEX 65u   /* 64 hex digits + NUL */

/* The XML above for p (name [a-z][a-z0-9_]*, a UUID, an absolute path; characters of the path
 * XML-escaped; the uuid lower-cased). Returns 0 and *out (owned), -EINVAL, -ENOMEM. */
int host_pool_xml(const struct host_pool_spec *p, char **out);

/* The fields of a pool definition kvmcd knows. Owned strings; NULL = absent. */
struct host_pool_def {
	char *type, *name, *uuid, *path, *mode, *owner, *group;
};
void host_pool_def_done(struct host_pool_def *d);

/* Parses libvirt's pool XML into d. Returns 0 when the definition holds nothing else than the
 * fields above (empty <source/>, the three live elements and blanks are allowed), -EEXIST when
 * it holds more (*why, owned: "element <source><dir path=…> is not kvmcd's"), -EINVAL when it is
 * not XML this parser reads, -ENOMEM. Pure (fuzzed). */
int host_pool_parse(const char *xml, size_t len, struct host_pool_def *d, char **why);

/* The canonical XML of a parsed definition (host_pool_xml's layout; missing fields left out).
 * Returns 0 and *out (owned), -ENOMEM. */
int host_pool_canonical(const struct host_pool_def *d, char **out);

/* The hash the probe reports for libvirt's XML (see above). out has HOST_SHA256_HEX bytes.
 * Returns 0, -ENOMEM. */
int host_pool_hash(const char *libvirt_xml, char out[HOST_SHA256_HEX]);

/* sha256 of data as 64 lower-case hex digits. */
void host_sha256_hex(const void *data, size_t len, char out[HOST_SHA256_HEX]);
