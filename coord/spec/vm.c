/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The spec's VMs: validation (the domain XML read with libxml2, in memory), defaults, the
 * refusals against the spec in force. Pure; see vm.h for the rules. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>

#include <libxml/parser.h>
#include <libxml/tree.h>
#include <libxml/xmlerror.h>

#include "datastore.h"
#include "macros.h"
#include "spec.h"
#include "vm.h"

#define SHOWN_MAX 64      /* a user's string quoted in a message, with its terminator */
#define WHY_MAX 512       /* one problem's text after the path */
#define PATHS_SHOWN 3     /* datastore paths or names a refusal lists */
#define GROUP_SHOWN 6     /* members of an affinity group a refusal lists */
#define NAMES_KNOWN "name, domain_xml, state, placement, ha"
#define PLACEMENT_KNOWN "prefer, avoid, anti_affinity, affinity"
#define HA_KNOWN "enabled, priority, max_restart, max_relocate"

static const char *const state_names[] = { [VM_STATE_STARTED] = "started", [VM_STATE_STOPPED] = "stopped" };

const char *vm_state_name(enum vm_state s)
{
	return (unsigned)s < ARRAY_SIZE(state_names) ? state_names[s] : "unknown";
}

static inline void xml_freep(xmlChar **p)
{
	if (*p)
		xmlFree(*p);
}
#define _cleanup_xml_ _cleanup_(xml_freep)

static inline void xml_doc_freep(xmlDocPtr *d)
{
	if (*d)
		xmlFreeDoc(*d);
}
#define _cleanup_xml_doc_ _cleanup_(xml_doc_freep)

/*
 * A user's string as a message quotes it: at most SHOWN_MAX - 4 bytes (cut on a UTF-8 character
 * boundary, then "..."), control characters as '?', so a problem stays one printable line of
 * valid UTF-8 (the API sends problems as JSON strings). NULL shows as "".
 */
static const char *shown(const char *s, char buf[static SHOWN_MAX])
{
	size_t n, i;
	bool cut;

	s = s ? s : "";
	n = strlen(s);
	cut = n > SHOWN_MAX - 4;
	if (cut) {
		n = SHOWN_MAX - 4;
		while (n > 0 && ((unsigned char)s[n] & 0xc0) == 0x80)
			n--;
	}
	for (i = 0; i < n; i++)
		buf[i] = (unsigned char)s[i] < 0x20 || s[i] == 0x7f ? '?' : s[i];
	strcpy(buf + i, cut ? "..." : "");
	return buf;
}

bool vm_name_ok(const char *s)
{
	size_t n = s ? strlen(s) : 0;

	if (n == 0 || n > VM_NAME_MAX || !((s[0] >= 'a' && s[0] <= 'z') || (s[0] >= 'A' && s[0] <= 'Z') ||
					    (s[0] >= '0' && s[0] <= '9')))
		return false;
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z') || (s[i] >= '0' && s[i] <= '9') ||
		      s[i] == '.' || s[i] == '_' || s[i] == '-'))
			return false;
	return true;
}

static bool has_control(const char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			return true;
	return false;
}

/* "8-4-4-4-12" hex digits or 32 without dashes, either case, into out as lower case with dashes. */
static bool uuid_parse(const char *s, char out[static VM_UUID_TEXT])
{
	static const char hex[] = "0123456789abcdef";
	size_t n = strlen(s), k = 0;
	bool dashed = n == 36;

	if (n != 36 && n != 32)
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		if (dashed && (i == 8 || i == 13 || i == 18 || i == 23)) {
			if (c != '-')
				return false;
			continue;
		}
		if (c >= 'A' && c <= 'F')
			c = (char)(c - 'A' + 'a');
		if (!strchr(hex, c) || !c)
			return false;
		if (k == 8 || k == 13 || k == 18 || k == 23)
			out[k++] = '-';
		out[k++] = c;
	}
	out[k] = 0;
	return true;
}

/* ---- the datastores a VM may use ------------------------------------------------------------ */

/* A datastore as the VM checks see it: its name and the path in force (default applied). */
struct ds_ref {
	const char *name; /* borrowed from the spec */
	const char *path; /* borrowed from the spec or ds_view.list, or owned (ds_view.owned) */
	bool owned;
};

struct ds_view {
	struct ds_ref *ref;   /* owned */
	size_t n;
	struct ds_spec *list; /* owned; NULL when read leniently */
};

static void ds_view_clear(struct ds_view *v)
{
	for (size_t i = 0; i < v->n; i++)
		if (v->ref[i].owned)
			free((char *)v->ref[i].path);
	free(v->ref);
	free(v->list);
	*v = (struct ds_view){ 0 };
}

/*
 * The spec's datastores as ds_spec_list() gives them (defaults applied) when "datastores" is
 * valid on its own; otherwise (the spec is refused for that already) what can be read of each
 * entry with a string name -- its string path or the default -- so the VMs are still checked
 * and every problem is listed at once. Returns 0 or -ENOMEM.
 */
static int ds_view_read(const json_t *spec, struct ds_view *v)
{
	const json_t *dss = json_object_get(spec, "datastores"), *e;
	json_t *sub;
	size_t n = 0, i;
	int r;

	*v = (struct ds_view){ 0 };
	if (!json_is_array(dss) || json_array_size(dss) == 0)
		return 0;
	/* Only what the datastore rules read: no "vms" (no recursion into this file). */
	sub = json_pack("{sO}", "datastores", dss);
	if (!sub)
		return -ENOMEM;
	if (json_is_array(json_object_get(spec, "nodes")))
		json_object_set(sub, "nodes", json_object_get(spec, "nodes"));
	r = ds_spec_list(sub, &v->list, &n);
	json_decref(sub);
	if (r == -ENOMEM)
		return r;
	v->ref = calloc(json_array_size(dss), sizeof(*v->ref));
	if (!v->ref) {
		ds_view_clear(v);
		return -ENOMEM;
	}
	if (r == 0) {
		for (i = 0; i < n; i++)
			v->ref[i] = (struct ds_ref){ .name = v->list[i].name, .path = v->list[i].path };
		v->n = n;
		return 0;
	}
	v->list = NULL;
	json_array_foreach(dss, i, e) {
		const char *name = json_string_value(json_object_get(e, "name"));
		const char *path = json_string_value(json_object_get(e, "path"));
		struct ds_ref *d = &v->ref[v->n];

		if (!name || !*name)
			continue;
		d->name = name;
		if (path) {
			d->path = path;
		} else {
			char *p = NULL;
			if (asprintf(&p, DS_PATH_DEFAULT_DIR "/%s", name) < 0) {
				ds_view_clear(v);
				return -ENOMEM;
			}
			d->path = p;
			d->owned = true;
		}
		v->n++;
	}
	return 0;
}

/* "ds1, ds2, ds3, ..." or "/srv/kvmcd/ds1, ..." into buf; "the spec has no datastores" when none. */
static const char *ds_shown(const struct ds_view *v, bool paths, char *buf, size_t len)
{
	size_t w = 0;
	char one[SHOWN_MAX];

	if (v->n == 0) {
		snprintf(buf, len, "the spec has no datastores");
		return buf;
	}
	buf[0] = 0;
	for (size_t i = 0; i < v->n && i < PATHS_SHOWN && w < len; i++)
		w += (size_t)snprintf(buf + w, len - w, "%s%s", i ? ", " : "",
				      shown(paths ? v->ref[i].path : v->ref[i].name, one));
	if (v->n > PATHS_SHOWN && w < len)
		snprintf(buf + w, len - w, ", ...");
	return buf;
}

/* ---- the domain XML ------------------------------------------------------------------------- */

/* One check of one domain XML. */
struct dom_check {
	const struct ds_view *ds;
	struct spec_problems *p; /* NULL: count only (vm_spec_list reads a validated spec) */
	const char *at;          /* "vms[3].domain_xml" */
	const char *vm;          /* the VM's name for messages, "" when it has none valid */
	bool *used;              /* ds->n flags: the datastores the domain uses; may be NULL */
	unsigned problems;
};

_printf_(2, 3) static void bad(struct dom_check *c, const char *fmt, ...)
{
	char why[WHY_MAX];
	va_list ap;

	c->problems++;
	if (!c->p)
		return;
	va_start(ap, fmt);
	vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
	spec_problem(c->p, "%s: %s%s%s", c->at, c->vm, *c->vm ? ": " : "", why);
}

static bool is(const xmlNode *n, const char *name)
{
	return n && n->type == XML_ELEMENT_NODE && !n->ns && !strcmp((const char *)n->name, name);
}

/* The first child element of n called name (no namespace: libvirt's own), or NULL. */
static xmlNode *child(const xmlNode *n, const char *name)
{
	for (xmlNode *c = n ? n->children : NULL; c; c = c->next)
		if (is(c, name))
			return c;
	return NULL;
}

static xmlChar *attr(const xmlNode *n, const char *name)
{
	return n ? xmlGetNoNsProp(n, (const xmlChar *)name) : NULL;
}

/*
 * Parses xml (a NUL-terminated string) into a document, or returns NULL with *why saying why
 * (-ENOMEM in *err when libxml2 ran out of memory, else -EINVAL). Never reads a file or the
 * network, expands no entity (a DOCTYPE is refused before parsing), reports nothing itself.
 */
static xmlDocPtr xml_read(const char *xml, char *why, size_t why_len, int *err)
{
	xmlParserCtxtPtr ctx;
	xmlDocPtr doc;
	size_t len = strlen(xml);

	*err = -EINVAL;
	if (len > VM_DOMAIN_XML_MAX) {
		snprintf(why, why_len, "%zu bytes, at most %u allowed", len, VM_DOMAIN_XML_MAX);
		return NULL;
	}
	if (strstr(xml, "<!DOCTYPE")) {
		snprintf(why, why_len, "has a DOCTYPE; a domain definition needs none (no DTD, no entities)");
		return NULL;
	}
	ctx = xmlNewParserCtxt();
	if (!ctx) {
		*err = -ENOMEM;
		snprintf(why, why_len, "out of memory");
		return NULL;
	}
	doc = xmlCtxtReadMemory(ctx, xml, (int)len, "domain_xml", "UTF-8",
				XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING | XML_PARSE_IGNORE_ENC);
	if (!doc) {
		xmlErrorPtr e = xmlCtxtGetLastError(ctx);
		const char *msg = e && e->message ? e->message : "unreadable";
		size_t n = strlen(msg);

		while (n > 0 && (msg[n - 1] == '\n' || msg[n - 1] == ' '))
			n--;
		if (e && e->code == XML_ERR_NO_MEMORY)
			*err = -ENOMEM;
		snprintf(why, why_len, "not well-formed XML: line %d: %.*s", e ? e->line : 0, (int)(n > 200 ? 200 : n), msg);
	}
	xmlFreeParserCtxt(ctx);
	return doc;
}

/* The root <domain> of doc, or NULL after saying why into why. */
static xmlNode *domain_root(xmlDocPtr doc, char *why, size_t why_len)
{
	xmlNode *root = xmlDocGetRootElement(doc);
	char buf[SHOWN_MAX];

	if (!is(root, "domain")) {
		snprintf(why, why_len, "the root element is <%s>%s, not libvirt's <domain>",
			 root ? shown((const char *)root->name, buf) : "", root && root->ns ? " (in a namespace)" : "");
		return NULL;
	}
	return root;
}

/* A file the domain uses must be strictly inside a datastore's path. */
static void check_file(struct dom_check *c, const char *what, const char *path)
{
	char buf[SHOWN_MAX], list[PATHS_SHOWN * SHOWN_MAX + 8];
	size_t n = strlen(path);

	if (n == 0) {
		bad(c, "%s: an empty file name", what);
		return;
	}
	if (path[0] != '/') {
		bad(c, "%s: file \"%s\" is not an absolute path", what, shown(path, buf));
		return;
	}
	if (n > VM_PATH_MAX || has_control(path)) {
		bad(c, "%s: file \"%s\" is longer than %u bytes or has control characters", what, shown(path, buf),
		    VM_PATH_MAX);
		return;
	}
	for (const char *s = path; *s;) {
		const char *start = ++s; /* after a '/' */
		size_t len;
		while (*s && *s != '/')
			s++;
		len = (size_t)(s - start);
		if (len == 0 || (len == 1 && start[0] == '.') || (len == 2 && start[0] == '.' && start[1] == '.')) {
			bad(c, "%s: file \"%s\" is not normalised (no \"//\", no \".\" or \"..\" component, no trailing \"/\")",
			    what, shown(path, buf));
			return;
		}
	}
	for (size_t i = 0; i < c->ds->n; i++) {
		const char *dp = c->ds->ref[i].path;
		size_t dn = strlen(dp);
		if (!strncmp(path, dp, dn) && path[dn] == '/') {
			if (c->used)
				c->used[i] = true;
			return;
		}
	}
	bad(c, "%s: file \"%s\" is on no datastore of the spec (%s): the VM could not run on another node", what,
	    shown(path, buf), ds_shown(c->ds, true, list, sizeof(list)));
}

static void check_volume(struct dom_check *c, const char *what, const char *pool, const char *volume)
{
	char b1[SHOWN_MAX], b2[SHOWN_MAX], list[PATHS_SHOWN * SHOWN_MAX + 8];
	size_t i;

	if (!pool || !*pool) {
		bad(c, "%s: a volume disk needs <source pool='DATASTORE' volume='FILE'/>: no pool", what);
		return;
	}
	for (i = 0; i < c->ds->n && strcmp(c->ds->ref[i].name, pool); i++)
		;
	if (i == c->ds->n)
		bad(c, "%s: pool \"%s\" is not a datastore of the spec (%s): the VM could not run on another node; "
		    "a datastore cannot be removed while a VM has a disk on it", what, shown(pool, b1),
		    ds_shown(c->ds, false, list, sizeof(list)));
	else if (c->used)
		c->used[i] = true;
	if (!volume || !*volume)
		bad(c, "%s: a volume disk needs <source pool='DATASTORE' volume='FILE'/>: no volume", what);
	else if (strchr(volume, '/') || !strcmp(volume, ".") || !strcmp(volume, "..") || has_control(volume))
		bad(c, "%s: volume \"%s\" is not a file name in its pool", what, shown(volume, b2));
}

/*
 * One storage element: a <disk>, a <backingStore> of its chain or a <dataStore> of a source.
 * removable: an empty cdrom / floppy drive is fine. what names it in messages.
 */
static void check_store(struct dom_check *c, const xmlNode *store, const char *what, bool removable, unsigned depth)
{
	_cleanup_xml_ xmlChar *type = attr(store, "type");
	const char *t = type ? (const char *)type : "file";
	const xmlNode *src = child(store, "source"), *next;
	char buf[SHOWN_MAX], sub[160];

	if (!strcmp(t, "file")) {
		_cleanup_xml_ xmlChar *file = attr(src, "file");
		if (file && *file)
			check_file(c, what, (const char *)file);
		else if (!removable)
			bad(c, "%s: a file disk without <source file='...'/>", what);
	} else if (!strcmp(t, "volume")) {
		_cleanup_xml_ xmlChar *pool = attr(src, "pool"), *volume = attr(src, "volume");
		if (!(removable && !pool && !volume))
			check_volume(c, what, (const char *)pool, (const char *)volume);
	} else if (!(removable && !src)) {
		_cleanup_xml_ xmlChar *dev = attr(src, "dev"), *dir = attr(src, "dir"), *name = attr(src, "name");
		const xmlChar *where = dev ? dev : dir ? dir : name;
		bad(c, "%s: type '%s'%s%s%s: only file and volume disks on the spec's datastores can run on another node",
		    what, shown(t, buf), where ? " (" : "", where ? shown((const char *)where, sub) : "", where ? ")" : "");
	}
	/* A qcow2 external data file (libvirt's <dataStore> inside the source). */
	next = child(src, "dataStore");
	if (next) {
		snprintf(sub, sizeof(sub), "%s, data store", what);
		check_store(c, next, sub, false, depth + 1);
	}
	/* The backing chain, down to an empty <backingStore/> */
	next = child(store, "backingStore");
	if (next && (next->properties || child(next, "source") || child(next, "backingStore"))) {
		if (depth + 1 >= VM_BACKING_DEPTH) {
			bad(c, "%s: a backing chain deeper than %u", what, VM_BACKING_DEPTH);
			return;
		}
		snprintf(sub, sizeof(sub), "%.100s, backing store", what);
		check_store(c, next, sub, false, depth + 1);
	}
}

static void check_disk(struct dom_check *c, const xmlNode *disk, unsigned k)
{
	_cleanup_xml_ xmlChar *device = attr(disk, "device"), *dev = attr(child(disk, "target"), "dev");
	bool removable = device && (!strcmp((const char *)device, "cdrom") || !strcmp((const char *)device, "floppy"));
	char what[SHOWN_MAX + 16], buf[SHOWN_MAX];

	if (dev && *dev)
		snprintf(what, sizeof(what), "disk '%s'", shown((const char *)dev, buf));
	else
		snprintf(what, sizeof(what), "disk #%u", k);
	check_store(c, disk, what, removable, 0);
}

static void check_filesystem(struct dom_check *c, const xmlNode *fs, unsigned k)
{
	_cleanup_xml_ xmlChar *type = attr(fs, "type"), *target = attr(child(fs, "target"), "dir");
	const char *t = type ? (const char *)type : "mount";
	const xmlNode *src = child(fs, "source");
	char what[SHOWN_MAX + 24], buf[SHOWN_MAX];

	if (target && *target)
		snprintf(what, sizeof(what), "filesystem '%s'", shown((const char *)target, buf));
	else
		snprintf(what, sizeof(what), "filesystem #%u", k);
	if (!strcmp(t, "mount") || !strcmp(t, "file")) {
		_cleanup_xml_ xmlChar *path = attr(src, !strcmp(t, "mount") ? "dir" : "file");
		if (path && *path)
			check_file(c, what, (const char *)path);
		else
			bad(c, "%s: type '%s' without its <source %s='...'/>", what, t, !strcmp(t, "mount") ? "dir" : "file");
	} else if (strcmp(t, "ram")) {
		bad(c, "%s: type '%s' passes this host's storage through: the VM could not run on another node", what,
		    shown(t, buf));
	}
}

static void check_devices(struct dom_check *c, const xmlNode *devices, unsigned counts[static 4])
{
	char buf[SHOWN_MAX];

	for (const xmlNode *d = devices->children; d; d = d->next) {
		if (is(d, "disk")) {
			check_disk(c, d, ++counts[0]);
		} else if (is(d, "hostdev")) {
			_cleanup_xml_ xmlChar *type = attr(d, "type");
			bad(c, "hostdev #%u%s%s%s: a host device (passthrough) exists on this host only: the VM could not run on another node",
			    ++counts[1], type ? " (type " : "", type ? shown((const char *)type, buf) : "", type ? ")" : "");
		} else if (is(d, "interface")) {
			_cleanup_xml_ xmlChar *type = attr(d, "type"), *mac = attr(child(d, "mac"), "address");
			char what[SHOWN_MAX + 16];
			++counts[2];
			if (!type || (strcmp((const char *)type, "hostdev") && strcmp((const char *)type, "vdpa")))
				continue;
			if (mac && *mac)
				snprintf(what, sizeof(what), "interface %s", shown((const char *)mac, buf));
			else
				snprintf(what, sizeof(what), "interface #%u", counts[2]);
			bad(c, "%s: type '%s' passes a host device through: the VM could not run on another node", what,
			    (const char *)type);
		} else if (is(d, "filesystem")) {
			check_filesystem(c, d, ++counts[3]);
		}
	}
}

/* <os>: the files a VM boots from (kernel, initrd, dtb) and its UEFI variables (nvram). */
static void check_os(struct dom_check *c, const xmlNode *os)
{
	static const char *const files[] = { "kernel", "initrd", "dtb", "nvram" };

	for (size_t i = 0; i < ARRAY_SIZE(files); i++) {
		const xmlNode *f = child(os, files[i]);
		_cleanup_xml_ xmlChar *text = NULL, *type = NULL, *src_file = NULL;
		char what[32];
		const char *s;

		if (!f)
			continue;
		snprintf(what, sizeof(what), "os <%s>", files[i]);
		type = attr(f, "type");
		if (type && strcmp((const char *)type, "file")) {
			char buf[SHOWN_MAX];
			bad(c, "%s: type '%s': only a file on a datastore follows the VM to another node", what,
			    shown((const char *)type, buf));
			continue;
		}
		src_file = attr(child(f, "source"), "file");
		if (src_file && *src_file) {
			check_file(c, what, (const char *)src_file);
			continue;
		}
		text = xmlNodeGetContent(f);
		s = text ? (const char *)text : "";
		while (*s == ' ' || *s == '\n' || *s == '\t' || *s == '\r')
			s++;
		/* <nvram template='...'/> without a path: libvirt keeps per-host variables (vm.h) */
		if (*s)
			check_file(c, what, s);
	}
}

/* The text of the only <tag> child of root into out (owned), NULL when there is none; a second
 * one is reported. */
static xmlChar *only_text(struct dom_check *c, const xmlNode *root, const char *tag)
{
	const xmlNode *first = NULL;

	for (const xmlNode *n = root->children; n; n = n->next)
		if (is(n, tag)) {
			if (first) {
				bad(c, "<domain> has more than one <%s>", tag);
				break;
			}
			first = n;
		}
	return first ? xmlNodeGetContent(first) : NULL;
}

/* <memory unit='…'>N</memory> in MiB (libvirt's units; KiB by default) and <vcpu>N</vcpu>: what
 * placement counts the VM as needing. */
static void domain_needs(const xmlNode *root, uint64_t *mib, unsigned *vcpus)
{
	static const struct {
		const char *name;
		double bytes;
	} units[] = {
		{ "b", 1.0 },		  { "bytes", 1.0 },	   { "KB", 1e3 },	   { "k", 1024.0 },
		{ "KiB", 1024.0 },	  { "MB", 1e6 },	   { "M", 1048576.0 },	   { "MiB", 1048576.0 },
		{ "GB", 1e9 },		  { "G", 1073741824.0 },   { "GiB", 1073741824.0 }, { "TB", 1e12 },
		{ "T", 1099511627776.0 }, { "TiB", 1099511627776.0 },
	};

	*mib = 0;
	*vcpus = 1;
	for (xmlNodePtr c = root ? root->children : NULL; c; c = c->next) {
		if (c->type != XML_ELEMENT_NODE)
			continue;
		if (xmlStrcmp(c->name, BAD_CAST "memory") == 0) {
			xmlChar *t = xmlNodeGetContent(c), *u = xmlGetProp(c, BAD_CAST "unit");
			unsigned long long n = t ? strtoull((const char *)t, NULL, 10) : 0;
			const char *unit = u ? (const char *)u : "KiB";
			double bytes = (double)n; /* a unit libvirt does not know: bytes */
			for (size_t k = 0; k < sizeof(units) / sizeof(units[0]); k++)
				if (!strcmp(unit, units[k].name))
					bytes = n * units[k].bytes;
			*mib = (uint64_t)((bytes + 1048575.0) / 1048576.0);
			xmlFree(t);
			xmlFree(u);
		} else if (xmlStrcmp(c->name, BAD_CAST "vcpu") == 0) {
			xmlChar *t = xmlNodeGetContent(c);
			unsigned long n = t ? strtoul((const char *)t, NULL, 10) : 1;
			*vcpus = n ? (unsigned)n : 1;
			xmlFree(t);
		}
	}
}

/*
 * Checks one VM's domain XML against vm.h's rules: every problem through bad(). uuid (may be
 * NULL) gets its <uuid> ("" when none or unreadable), needs (may be NULL) its memory_mib and
 * vcpus. Returns -ENOMEM when libxml2 ran out of memory (after reporting it), else 0.
 */
static int check_domain(struct dom_check *c, const char *xml, const char *name, char *uuid, struct vm_spec *needs)
{
	_cleanup_xml_doc_ xmlDocPtr doc = NULL;
	_cleanup_xml_ xmlChar *type = NULL, *dname = NULL, *duuid = NULL;
	char why[WHY_MAX], buf[SHOWN_MAX], b2[SHOWN_MAX], u[VM_UUID_TEXT];
	unsigned counts[4] = { 0 };
	xmlNode *root;
	int err;

	if (uuid)
		uuid[0] = 0;
	doc = xml_read(xml, why, sizeof(why), &err);
	if (!doc) {
		bad(c, "%s", why);
		return err == -ENOMEM ? err : 0;
	}
	root = domain_root(doc, why, sizeof(why));
	if (!root) {
		bad(c, "%s", why);
		return 0;
	}
	type = attr(root, "type");
	if (!type || (strcmp((const char *)type, "kvm") && strcmp((const char *)type, "qemu")))
		bad(c, "<domain type='%s'>: kvmcd runs \"kvm\" domains (or \"qemu\", emulated)",
		    shown((const char *)type, buf));
	dname = only_text(c, root, "name");
	if (!dname)
		bad(c, "<domain> has no <name>; it must be the VM's name%s%s%s", *name ? " \"" : "", name, *name ? "\"" : "");
	else if (*name && strcmp((const char *)dname, name))
		bad(c, "<name> is \"%s\"; it must be the VM's name \"%s\"", shown((const char *)dname, buf), shown(name, b2));
	duuid = only_text(c, root, "uuid");
	if (duuid && !uuid_parse((const char *)duuid, u))
		bad(c, "<uuid> \"%s\" is not a UUID (8-4-4-4-12 hex digits, or 32 without dashes)",
		    shown((const char *)duuid, buf));
	else if (duuid && uuid)
		memcpy(uuid, u, VM_UUID_TEXT);
	if (needs)
		domain_needs(root, &needs->memory_mib, &needs->vcpus);
	for (const xmlNode *n = root->children; n; n = n->next)
		if (is(n, "os"))
			check_os(c, n);
		else if (is(n, "devices"))
			check_devices(c, n, counts);
	return 0;
}

int vm_domain_identity(const char *xml, char *name_out, char *uuid_out, char *why, size_t why_len)
{
	_cleanup_xml_doc_ xmlDocPtr doc = NULL;
	_cleanup_xml_ xmlChar *name = NULL, *uuid = NULL;
	char buf[SHOWN_MAX], u[VM_UUID_TEXT] = "", scratch[WHY_MAX];
	struct ds_view none = { 0 };
	struct dom_check c = { .ds = &none, .at = "", .vm = "" };
	xmlNode *root;
	int err;

	if (!why || !why_len) {
		why = scratch;
		why_len = sizeof(scratch);
	}
	doc = xml_read(xml ? xml : "", why, why_len, &err);
	if (!doc)
		return err;
	root = domain_root(doc, why, why_len);
	if (!root)
		return -EINVAL;
	name = only_text(&c, root, "name");
	uuid = only_text(&c, root, "uuid");
	if (c.problems) {
		snprintf(why, why_len, "<domain> has more than one <name> or <uuid>");
		return -EINVAL;
	}
	if (!name) {
		snprintf(why, why_len, "<domain> has no <name>: the VM's name comes from it");
		return -EINVAL;
	}
	if (!vm_name_ok((const char *)name)) {
		snprintf(why, why_len, "<name> \"%s\" is not a VM name kvmcd takes: 1-%u chars of A-Z a-z 0-9 . _ -, starting with a letter or digit",
			 shown((const char *)name, buf), VM_NAME_MAX);
		return -EINVAL;
	}
	if (uuid && !uuid_parse((const char *)uuid, u)) {
		snprintf(why, why_len, "<uuid> \"%s\" is not a UUID (8-4-4-4-12 hex digits, or 32 without dashes)",
			 shown((const char *)uuid, buf));
		return -EINVAL;
	}
	strcpy(name_out, (const char *)name);
	memcpy(uuid_out, u, VM_UUID_TEXT);
	return 0;
}

/* ---- names across entries --------------------------------------------------------------------- */

struct name_ix {
	const char *name; /* borrowed */
	size_t i;         /* the entry */
};

static int name_ix_cmp(const void *a, const void *b)
{
	const struct name_ix *x = a, *y = b;
	int r = strcmp(x->name, y->name);

	return r ? r : (x->i > y->i) - (x->i < y->i);
}

/* The entry with that name (the first when there are several), or -1. */
static ssize_t name_find(const struct name_ix *ix, size_t n, const char *name)
{
	size_t lo = 0, hi = n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int r = strcmp(ix[mid].name, name);
		if (r < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < n && !strcmp(ix[lo].name, name) ? (ssize_t)ix[lo].i : -1;
}

/* ---- validation -------------------------------------------------------------------------------- */

/* What validating one entry learned, for the checks across entries. */
struct seen {
	const char *name;         /* a valid name, borrowed; NULL = none */
	char uuid[VM_UUID_TEXT];  /* its domain's <uuid>, "" = none */
	size_t group;             /* union-find parent over affinity */
};

static size_t group_of(struct seen *s, size_t i)
{
	while (s[i].group != i) {
		s[i].group = s[s[i].group].group;
		i = s[i].group;
	}
	return i;
}

static void check_ha(const json_t *ha, const char *at, struct spec_problems *p)
{
	const json_t *v;
	const char *k;
	char buf[SHOWN_MAX];

	if (!json_is_object(ha)) {
		spec_problem(p, "%s.ha: must be an object (keys " HA_KNOWN ")", at);
		return;
	}
	json_object_foreach((json_t *)ha, k, v)
		if (strcmp(k, "enabled") && strcmp(k, "priority") && strcmp(k, "max_restart") && strcmp(k, "max_relocate"))
			spec_problem(p, "%s.ha: unknown key \"%s\" (known: " HA_KNOWN ")", at, shown(k, buf));
	v = json_object_get(ha, "enabled");
	if (v && !json_is_boolean(v))
		spec_problem(p, "%s.ha.enabled: must be true (the default) or false", at);
	v = json_object_get(ha, "priority");
	if (v && (!json_is_integer(v) || json_integer_value(v) < VM_PRIORITY_MIN || json_integer_value(v) > VM_PRIORITY_MAX))
		spec_problem(p, "%s.ha.priority: must be an integer in %d..%d (higher first; default 0)", at, VM_PRIORITY_MIN,
			     VM_PRIORITY_MAX);
	v = json_object_get(ha, "max_restart");
	if (v && (!json_is_integer(v) || json_integer_value(v) < 0 || json_integer_value(v) > VM_HA_COUNT_MAX))
		spec_problem(p, "%s.ha.max_restart: must be an integer in 0..%d (restarts on the same node; default 1)", at,
			     VM_HA_COUNT_MAX);
	v = json_object_get(ha, "max_relocate");
	if (v && (!json_is_integer(v) || json_integer_value(v) < 0 || json_integer_value(v) > VM_HA_COUNT_MAX))
		spec_problem(p, "%s.ha.max_relocate: must be an integer in 0..%d (moves to another node; default 1)", at,
			     VM_HA_COUNT_MAX);
}

/* One placement list's shape: an array of at most VM_LIST_MAX distinct names that pass ok().
 * Returns whether it may be read further (an array). */
static bool check_list(const json_t *list, const char *at, const char *key, bool (*ok)(const char *),
		       const char *rule, struct spec_problems *p)
{
	const json_t *e;
	size_t i, n;
	char buf[SHOWN_MAX];

	if (!json_is_array(list)) {
		spec_problem(p, "%s.placement.%s: must be an array of %s", at, key, rule);
		return false;
	}
	n = json_array_size(list);
	if (n > VM_LIST_MAX)
		spec_problem(p, "%s.placement.%s: %zu names, at most %u allowed", at, key, n, VM_LIST_MAX);
	json_array_foreach(list, i, e) {
		const char *s = json_string_value(e);
		if (!s || !ok(s)) {
			spec_problem(p, "%s.placement.%s[%zu]: %s%s%smust be one of %s", at, key, i, s ? "\"" : "",
				     s ? shown(s, buf) : "", s ? "\": " : "", rule);
			continue;
		}
		for (size_t j = 0; j < i && i < VM_LIST_MAX; j++)
			if (json_is_string(json_array_get(list, j)) && !strcmp(json_string_value(json_array_get(list, j)), s)) {
				spec_problem(p, "%s.placement.%s[%zu]: \"%s\" already listed at %s[%zu]", at, key, i, s, key, j);
				break;
			}
	}
	return true;
}

static bool in_list(const json_t *list, const char *s)
{
	const json_t *e;
	size_t i;

	json_array_foreach(list, i, e)
		if (json_is_string(e) && !strcmp(json_string_value(e), s))
			return true;
	return false;
}

#define NODE_RULE "host names (1-63 chars of A-Z a-z 0-9 - . _)"
#define VM_RULE "VM names (1-48 chars of A-Z a-z 0-9 . _ -)"

/* The placement of entry i (whose valid name is s[i].name or NULL): lists, nodes, VM names. */
static void check_placement(const json_t *pl, size_t i, struct seen *s, const struct name_ix *vms, size_t n_vms,
			    const struct name_ix *nodes, size_t n_nodes, bool nodes_given, struct spec_problems *p)
{
	static const char *const keys[] = { "prefer", "avoid", "anti_affinity", "affinity" };
	const char *me = s[i].name ? s[i].name : "", *k;
	char at[32], buf[SHOWN_MAX];
	const json_t *v;

	snprintf(at, sizeof(at), "vms[%zu]", i);
	if (!json_is_object(pl)) {
		spec_problem(p, "%s.placement: must be an object (keys " PLACEMENT_KNOWN ")", at);
		return;
	}
	json_object_foreach((json_t *)pl, k, v)
		if (strcmp(k, "prefer") && strcmp(k, "avoid") && strcmp(k, "anti_affinity") && strcmp(k, "affinity"))
			spec_problem(p, "%s.placement: unknown key \"%s\" (known: " PLACEMENT_KNOWN ")", at, shown(k, buf));
	for (size_t q = 0; q < ARRAY_SIZE(keys); q++) {
		const json_t *list = json_object_get(pl, keys[q]), *e;
		bool node_list = q < 2;
		size_t j;

		if (!list || !check_list(list, at, keys[q], node_list ? spec_node_name_ok : vm_name_ok,
					 node_list ? NODE_RULE : VM_RULE, p))
			continue;
		json_array_foreach(list, j, e) {
			const char *name = json_string_value(e);
			if (j >= VM_LIST_MAX || !name || !(node_list ? spec_node_name_ok(name) : vm_name_ok(name)))
				continue;
			if (node_list) {
				if (nodes_given && name_find(nodes, n_nodes, name) < 0)
					spec_problem(p, "%s.placement.%s[%zu]: %s%s\"%s\" is not a node of the spec's \"nodes\"", at,
						     keys[q], j, me, *me ? ": " : "", name);
				else if (q == 1 && in_list(json_object_get(pl, "prefer"), name))
					spec_problem(p, "%s.placement.avoid[%zu]: %s%s\"%s\" is also in prefer: a node is preferred or avoided, not both",
						     at, j, me, *me ? ": " : "", name);
				continue;
			}
			if (name_find(vms, n_vms, name) < 0)
				spec_problem(p, "%s.placement.%s[%zu]: %s%s\"%s\" is not a VM of the spec", at, keys[q], j, me,
					     *me ? ": " : "", name);
			else if (*me && !strcmp(name, me))
				spec_problem(p, "%s.placement.%s[%zu]: %s: a VM %s", at, keys[q], j, me,
					     q == 2 ? "cannot keep away from itself" : "always runs with itself; leave it out");
			else if (q == 2 && in_list(json_object_get(pl, "affinity"), name))
				spec_problem(p, "%s.placement.anti_affinity[%zu]: %s%s\"%s\" is also in affinity: a VM runs with another or apart from it, not both",
					     at, j, me, *me ? ": " : "", name);
		}
	}
}

/* Joins the affinity groups: entry i runs with every VM of its "affinity" (strict, mutual). */
static void join_affinity(const json_t *pl, size_t i, struct seen *s, const struct name_ix *vms, size_t n_vms)
{
	const json_t *e;
	size_t j;

	json_array_foreach(json_object_get(pl, "affinity"), j, e) {
		ssize_t o = json_is_string(e) ? name_find(vms, n_vms, json_string_value(e)) : -1;
		if (o >= 0 && j < VM_LIST_MAX) {
			size_t a = group_of(s, i), b = group_of(s, (size_t)o);
			if (a != b)
				s[a > b ? a : b].group = a < b ? a : b;
		}
	}
}

/* "a, b, c, ..." : the members of entry i's group, into buf. */
static const char *group_shown(struct seen *s, size_t n, size_t i, char *buf, size_t len)
{
	size_t g = group_of(s, i), w = 0, shown_n = 0;

	buf[0] = 0;
	for (size_t k = 0; k < n && w < len; k++)
		if (s[k].name && group_of(s, k) == g) {
			if (shown_n++ == GROUP_SHOWN) {
				snprintf(buf + w, len - w, ", ...");
				break;
			}
			w += (size_t)snprintf(buf + w, len - w, "%s%s", w ? ", " : "", s[k].name);
		}
	return buf;
}

/* Anti-affinity inside an affinity group can never be met. */
static void check_groups(const json_t *pl, size_t i, struct seen *s, size_t n, const struct name_ix *vms,
			 size_t n_vms, struct spec_problems *p)
{
	const json_t *e, *aff = json_object_get(pl, "affinity");
	char group[GROUP_SHOWN * (VM_NAME_MAX + 2) + 8];
	size_t j;

	if (!s[i].name)
		return;
	json_array_foreach(json_object_get(pl, "anti_affinity"), j, e) {
		const char *name = json_string_value(e);
		ssize_t o = name ? name_find(vms, n_vms, name) : -1;
		if (o < 0 || j >= VM_LIST_MAX || (size_t)o == i || in_list(aff, name))
			continue; /* reported by check_placement */
		if (group_of(s, i) == group_of(s, (size_t)o))
			spec_problem(p, "vms[%zu].placement.anti_affinity[%zu]: %s: \"%s\" is in its affinity group (%s: affinity is strict and mutual, so they run on one node): the rule can never be met",
				     i, j, s[i].name, name, group_shown(s, n, i, group, sizeof(group)));
	}
}

static void check_entry(const json_t *e, size_t i, const struct ds_view *dsv, struct seen *seen,
			struct spec_problems *p)
{
	const json_t *name = json_object_get(e, "name"), *xml = json_object_get(e, "domain_xml"),
		     *state = json_object_get(e, "state"), *ha = json_object_get(e, "ha");
	char at[32], where[48], buf[SHOWN_MAX];
	const char *k;
	json_t *v;

	snprintf(at, sizeof(at), "vms[%zu]", i);
	json_object_foreach((json_t *)e, k, v)
		if (strcmp(k, "name") && strcmp(k, "domain_xml") && strcmp(k, "state") && strcmp(k, "placement") &&
		    strcmp(k, "ha"))
			spec_problem(p, "%s: unknown key \"%s\" (known: " NAMES_KNOWN ")", at, shown(k, buf));
	if (!name)
		spec_problem(p, "%s.name: missing (the libvirt domain name)", at);
	else if (!json_is_string(name) || !vm_name_ok(json_string_value(name)))
		spec_problem(p, "%s.name: %s%s%smust be 1-%u chars of A-Z a-z 0-9 . _ -, starting with a letter or digit (it is the libvirt domain name on every node)",
			     at, json_is_string(name) ? "\"" : "", json_is_string(name) ? shown(json_string_value(name), buf) : "",
			     json_is_string(name) ? "\": " : "", VM_NAME_MAX);
	else
		seen->name = json_string_value(name);
	if (state && !(json_is_string(state) && (!strcmp(json_string_value(state), "started") ||
						 !strcmp(json_string_value(state), "stopped"))))
		spec_problem(p, "%s.state: must be \"started\" (the default) or \"stopped\"", at);
	if (ha)
		check_ha(ha, at, p);
	if (!xml) {
		spec_problem(p, "%s.domain_xml: missing (the libvirt domain definition, as a string)", at);
	} else if (!json_is_string(xml)) {
		spec_problem(p, "%s.domain_xml: must be a string (the libvirt domain definition)", at);
	} else {
		struct dom_check c = { .ds = dsv, .p = p, .at = where, .vm = seen->name ? seen->name : "" };
		snprintf(where, sizeof(where), "%s.domain_xml", at);
		if (check_domain(&c, json_string_value(xml), seen->name ? seen->name : "", seen->uuid, NULL) < 0)
			spec_problem(p, "%s: out of memory while reading it", where);
	}
}

/* The string "name"s of list's entries into *out (owned, sorted; at least one slot) and *n.
 * Entries past max are left out. 0 or -ENOMEM. */
static int index_names(const json_t *list, size_t max, struct name_ix **out, size_t *n)
{
	struct name_ix *ix = calloc(json_array_size(list) ? json_array_size(list) : 1, sizeof(*ix));
	const json_t *e;
	size_t i;

	if (!ix)
		return -ENOMEM;
	*n = 0;
	json_array_foreach(list, i, e) {
		const char *s = json_string_value(json_object_get(e, "name"));
		if (i >= max)
			break;
		if (s)
			ix[(*n)++] = (struct name_ix){ s, i };
	}
	if (*n)
		qsort(ix, *n, sizeof(*ix), name_ix_cmp);
	*out = ix;
	return 0;
}

void vm_validate(const json_t *spec, struct spec_problems *p)
{
	const json_t *list = json_object_get(spec, "vms"), *nodes = json_object_get(spec, "nodes"), *e;
	_cleanup_free_ struct seen *seen = NULL;
	_cleanup_free_ struct name_ix *vms = NULL, *node_ix = NULL, *uuids = NULL;
	struct ds_view dsv = { 0 };
	size_t n, checked, i, n_vms = 0, n_nodes = 0, n_uuids = 0;

	if (!json_is_array(list)) {
		spec_problem(p, "vms: must be an array of VM objects");
		return;
	}
	n = json_array_size(list);
	if (n > VM_MAX_VMS)
		spec_problem(p, "vms: %zu entries, at most %u allowed", n, VM_MAX_VMS);
	/* Entries past the maximum are checked one by one but not against each other: the spec is
	 * refused anyway. */
	checked = n < VM_MAX_VMS ? n : VM_MAX_VMS;
	seen = calloc(checked ? checked : 1, sizeof(*seen));
	if (!seen || ds_view_read(spec, &dsv) < 0) {
		spec_problem(p, "vms: out of memory while validating");
		return;
	}
	json_array_foreach(list, i, e) {
		struct seen scratch = { 0 };
		struct seen *s = i < checked ? &seen[i] : &scratch;

		s->group = i < checked ? i : 0;
		if (!json_is_object(e)) {
			spec_problem(p, "vms[%zu]: must be an object", i);
			continue;
		}
		check_entry(e, i, &dsv, s, p);
	}
	ds_view_clear(&dsv);

	/* Names and UUIDs are unique: each later entry is reported against the first. */
	vms = calloc(checked ? checked : 1, sizeof(*vms));
	uuids = calloc(checked ? checked : 1, sizeof(*uuids));
	if (!vms || !uuids) {
		spec_problem(p, "vms: out of memory while validating");
		return;
	}
	for (i = 0; i < checked; i++) {
		if (seen[i].name)
			vms[n_vms++] = (struct name_ix){ seen[i].name, i };
		if (seen[i].uuid[0])
			uuids[n_uuids++] = (struct name_ix){ seen[i].uuid, i };
	}
	if (n_vms)
		qsort(vms, n_vms, sizeof(*vms), name_ix_cmp);
	if (n_uuids)
		qsort(uuids, n_uuids, sizeof(*uuids), name_ix_cmp);
	for (i = 1; i < n_vms; i++)
		if (!strcmp(vms[i].name, vms[i - 1].name)) {
			size_t first = i - 1;
			while (first > 0 && !strcmp(vms[first - 1].name, vms[i].name))
				first--;
			spec_problem(p, "vms[%zu].name: \"%s\" already used by vms[%zu]", vms[i].i, vms[i].name, vms[first].i);
		}
	for (i = 1; i < n_uuids; i++)
		if (!strcmp(uuids[i].name, uuids[i - 1].name)) {
			size_t first = i - 1;
			while (first > 0 && !strcmp(uuids[first - 1].name, uuids[i].name))
				first--;
			spec_problem(p, "vms[%zu].domain_xml: <uuid> %s is also the UUID of vms[%zu]%s%s%s: libvirt needs one per domain",
				     uuids[i].i, uuids[i].name, uuids[first].i, seen[uuids[first].i].name ? " (" : "",
				     seen[uuids[first].i].name ? seen[uuids[first].i].name : "",
				     seen[uuids[first].i].name ? ")" : "");
		}

	/* Placement: node names against "nodes", VM names against the entries, affinity groups. */
	if (json_is_array(nodes) && index_names(nodes, json_array_size(nodes), &node_ix, &n_nodes) < 0) {
		spec_problem(p, "vms: out of memory while validating");
		return;
	}
	json_array_foreach(list, i, e) {
		const json_t *pl = json_object_get(e, "placement");
		if (i >= checked || !json_is_object(e) || !pl)
			continue;
		check_placement(pl, i, seen, vms, n_vms, node_ix, n_nodes, json_is_array(nodes), p);
		if (json_is_object(pl) && seen[i].name)
			join_affinity(pl, i, seen, vms, n_vms);
	}
	json_array_foreach(list, i, e)
		if (i < checked && json_is_object(json_object_get(e, "placement")))
			check_groups(json_object_get(e, "placement"), i, seen, checked, vms, n_vms, p);
}

/* ---- reading a validated spec ----------------------------------------------------------------- */

static size_t list_len(const json_t *pl, const char *key)
{
	return json_array_size(json_object_get(pl, key));
}

static struct vm_names fill_names(const json_t *list, const char **slot)
{
	const json_t *e;
	size_t i;

	json_array_foreach(list, i, e)
		slot[i] = json_string_value(e);
	return (struct vm_names){ .name = slot, .n = json_array_size(list) };
}

int vm_spec_list(const json_t *spec, struct vm_spec **out, size_t *n)
{
	struct spec_problems probs = { 0 };
	_cleanup_free_ bool *used = NULL;
	_cleanup_free_ size_t *n_used = NULL;
	_cleanup_free_ unsigned char *use = NULL; /* count x n_ds flags */
	_cleanup_free_ char (*uuids)[VM_UUID_TEXT] = NULL;
	_cleanup_free_ struct vm_spec *needs = NULL; /* memory_mib and vcpus only */
	struct ds_view dsv = { 0 };
	const json_t *list, *e;
	struct vm_spec *vm;
	size_t count, slots = 0, i;
	const char **w;
	int r = 0;

	if (spec_validate(spec, &probs) < 0) {
		spec_problems_clear(&probs);
		return -EINVAL;
	}
	list = json_object_get(spec, "vms");
	count = json_array_size(list);
	if (count == 0) {
		*out = NULL;
		*n = 0;
		return 0;
	}
	/* The datastores exactly as the datastore module gives them (a valid spec's are valid). */
	if (ds_view_read(spec, &dsv) < 0)
		return -ENOMEM;
	n_used = calloc(count, sizeof(*n_used));
	use = calloc(count * (dsv.n ? dsv.n : 1), 1);
	used = calloc(dsv.n ? dsv.n : 1, sizeof(*used));
	uuids = calloc(count, sizeof(*uuids));
	needs = calloc(count, sizeof(*needs));
	if (!n_used || !use || !used || !uuids || !needs) {
		ds_view_clear(&dsv);
		return -ENOMEM;
	}
	json_array_foreach(list, i, e) {
		const json_t *pl = json_object_get(e, "placement");
		struct dom_check c = { .ds = &dsv, .at = "", .vm = "", .used = used };

		memset(used, 0, (dsv.n ? dsv.n : 1) * sizeof(*used));
		if (check_domain(&c, json_string_value(json_object_get(e, "domain_xml")),
				 json_string_value(json_object_get(e, "name")), uuids[i], &needs[i]) < 0) {
			r = -ENOMEM;
			break;
		}
		for (size_t d = 0; d < dsv.n; d++)
			if (used[d]) {
				use[i * dsv.n + d] = 1;
				n_used[i]++;
			}
		slots += list_len(pl, "prefer") + list_len(pl, "avoid") + list_len(pl, "anti_affinity") +
			 list_len(pl, "affinity") + n_used[i];
	}
	vm = r < 0 ? NULL : calloc(1, count * sizeof(*vm) + slots * sizeof(*w));
	if (!vm) {
		ds_view_clear(&dsv);
		return -ENOMEM;
	}
	w = (const char **)(vm + count);
	json_array_foreach(list, i, e) {
		const json_t *pl = json_object_get(e, "placement"), *ha = json_object_get(e, "ha");
		const json_t *enabled = json_object_get(ha, "enabled"), *restart = json_object_get(ha, "max_restart"),
			     *relocate = json_object_get(ha, "max_relocate");
		struct vm_spec *v = &vm[i];

		v->name = json_string_value(json_object_get(e, "name"));
		v->domain_xml = json_string_value(json_object_get(e, "domain_xml"));
		v->state = json_is_string(json_object_get(e, "state")) &&
					   !strcmp(json_string_value(json_object_get(e, "state")), "stopped")
				   ? VM_STATE_STOPPED
				   : VM_STATE_STARTED;
		v->placement.prefer = fill_names(json_object_get(pl, "prefer"), w);
		w += v->placement.prefer.n;
		v->placement.avoid = fill_names(json_object_get(pl, "avoid"), w);
		w += v->placement.avoid.n;
		v->placement.anti_affinity = fill_names(json_object_get(pl, "anti_affinity"), w);
		w += v->placement.anti_affinity.n;
		v->placement.affinity = fill_names(json_object_get(pl, "affinity"), w);
		w += v->placement.affinity.n;
		v->ha.enabled = enabled ? json_is_true(enabled) : true;
		v->ha.priority = (int)json_integer_value(json_object_get(ha, "priority"));
		v->ha.max_restart = restart ? (unsigned)json_integer_value(restart) : 1;
		v->ha.max_relocate = relocate ? (unsigned)json_integer_value(relocate) : 1;
		v->datastores = (struct vm_names){ .name = w, .n = n_used[i] };
		for (size_t d = 0; d < dsv.n; d++)
			if (use[i * dsv.n + d])
				*w++ = json_string_value(json_object_get(json_array_get(json_object_get(spec, "datastores"), d), "name"));
		memcpy(v->uuid, uuids[i], VM_UUID_TEXT);
		v->memory_mib = needs[i].memory_mib;
		v->vcpus = needs[i].vcpus;
	}
	ds_view_clear(&dsv);
	*out = vm;
	*n = count;
	return 0;
}

/* ---- against the spec in force ---------------------------------------------------------------- */

void vm_validate_change(const json_t *from, const json_t *to, struct spec_problems *p)
{
	const json_t *old = json_is_object(from) ? json_object_get(from, "vms") : NULL;
	const json_t *new = json_is_object(to) ? json_object_get(to, "vms") : NULL, *e;
	_cleanup_free_ struct name_ix *ix = NULL;
	size_t i, n_ix;

	if (!json_is_array(old) || !json_is_array(new) || json_array_size(old) == 0)
		return;
	if (index_names(old, VM_MAX_VMS, &ix, &n_ix) < 0) {
		spec_problem(p, "vms: out of memory while comparing with the spec in force");
		return;
	}
	json_array_foreach(new, i, e) {
		const char *name = json_string_value(json_object_get(e, "name"));
		const char *xml = json_string_value(json_object_get(e, "domain_xml")), *oxml;
		char n1[VM_NAME_MAX + 1], n2[VM_NAME_MAX + 1], u1[VM_UUID_TEXT], u2[VM_UUID_TEXT];
		ssize_t o;

		if (i >= VM_MAX_VMS || !name || !xml)
			continue;
		o = name_find(ix, n_ix, name);
		oxml = o >= 0 ? json_string_value(json_object_get(json_array_get(old, (size_t)o), "domain_xml")) : NULL;
		if (!oxml || !strcmp(oxml, xml))
			continue;
		if (vm_domain_identity(oxml, n1, u1, NULL, 0) < 0 || vm_domain_identity(xml, n2, u2, NULL, 0) < 0)
			continue;
		if (u1[0] && u2[0] && strcmp(u1, u2))
			spec_problem(p, "vms[%zu].domain_xml: %s: <uuid> would change from %s to %s; a VM keeps its UUID (remove the VM and add it again to give it another)",
				     i, name, u1, u2);
	}
}
