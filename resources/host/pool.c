/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * libvirt `dir` pools, identical on every node (pool.h says what is defined and what is hashed).
 *
 *   probe   virConnectOpen(uri), virStoragePoolLookupByName, virStoragePoolGetXMLDesc(INACTIVE),
 *           virStoragePoolIsActive        -> "active <sha256>" / "inactive <sha256>", -ENOENT
 *   ensure  lookup by name (else: refuse a pool holding our UUID under another name, then
 *           virStoragePoolDefineXML), check the definition is kvmcd's (other UUID, target, type,
 *           permissions or anything more: -EEXIST), virStoragePoolSetAutostart(1) unless set,
 *           virStoragePoolCreate unless active             -> the sha256
 *   remove  lookup (none: done), refuse a pool of that name that is not this one (-EEXIST),
 *           virStoragePoolDestroy when active, virStoragePoolUndefine when persistent
 *
 * Each hook is one job on the worker pool (libvirt blocks) with the step deadline, on the
 * worker thread's kept connection (host_virt_kept_conn). libvirt's errors are translated in one place
 * (virt_errno). The XML builder, parser and hash are pure and built without libvirt too (the
 * fuzzer, and a build with -Dlibvirt=disabled, whose hooks then return -EOPNOTSUPP).
 */
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "fs-common.h"
#include "pool.h"
#include "virt-common.h"

#ifdef HAVE_LIBVIRT
#include <libvirt/libvirt.h>
#include <libvirt/virterror.h>
#endif

#define DEFAULT_URI "qemu:///system"
#define POOL_MODE "0755"
#define POOL_OWNER "0"
#define POOL_GROUP "0"
#define XML_DEPTH_MAX 8
#define XML_MAX (1u << 20)

/* ---- sha256 (FIPS 180-4) ---------------------------------------------------------------------- */

static const uint32_t K256[64] = {
	0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
	0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
	0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
	0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
	0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
	0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
	0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
	0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
};

#define ROR(x, n) (((x) >> (n)) | ((x) << (32 - (n))))

static void sha256_block(uint32_t h[8], const unsigned char *p)
{
	uint32_t w[64], a = h[0], b = h[1], c = h[2], d = h[3], e = h[4], f = h[5], g = h[6], k = h[7];
	for (int i = 0; i < 16; i++)
		w[i] = (uint32_t)p[4 * i] << 24 | (uint32_t)p[4 * i + 1] << 16 | (uint32_t)p[4 * i + 2] << 8 | p[4 * i + 3];
	for (int i = 16; i < 64; i++) {
		uint32_t s0 = ROR(w[i - 15], 7) ^ ROR(w[i - 15], 18) ^ (w[i - 15] >> 3);
		uint32_t s1 = ROR(w[i - 2], 17) ^ ROR(w[i - 2], 19) ^ (w[i - 2] >> 10);
		w[i] = w[i - 16] + s0 + w[i - 7] + s1;
	}
	for (int i = 0; i < 64; i++) {
		uint32_t t1 = k + (ROR(e, 6) ^ ROR(e, 11) ^ ROR(e, 25)) + ((e & f) ^ (~e & g)) + K256[i] + w[i];
		uint32_t t2 = (ROR(a, 2) ^ ROR(a, 13) ^ ROR(a, 22)) + ((a & b) ^ (a & c) ^ (b & c));
		k = g, g = f, f = e, e = d + t1, d = c, c = b, b = a, a = t1 + t2;
	}
	h[0] += a, h[1] += b, h[2] += c, h[3] += d, h[4] += e, h[5] += f, h[6] += g, h[7] += k;
}

void host_sha256_hex(const void *data, size_t len, char out[HOST_SHA256_HEX])
{
	uint32_t h[8] = { 0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19 };
	const unsigned char *p = data;
	size_t n = len;
	for (; n >= 64; n -= 64, p += 64)
		sha256_block(h, p);
	unsigned char tail[128] = { 0 };
	memcpy(tail, p, n);
	tail[n] = 0x80;
	size_t tlen = n + 1 + 8 <= 64 ? 64 : 128;
	uint64_t bits = (uint64_t)len * 8;
	for (int i = 0; i < 8; i++)
		tail[tlen - 1 - i] = (unsigned char)(bits >> (8 * i));
	sha256_block(h, tail);
	if (tlen == 128)
		sha256_block(h, tail + 64);
	for (int i = 0; i < 8; i++)
		snprintf(out + 8 * i, 9, "%08x", h[i]);
}

/* ---- the XML kvmcd defines -------------------------------------------------------------------- */

static void xml_escaped(FILE *f, const char *s)
{
	for (; *s; s++) {
		switch (*s) {
		case '&': fputs("&amp;", f); break;
		case '<': fputs("&lt;", f); break;
		case '>': fputs("&gt;", f); break;
		case '\'': fputs("&apos;", f); break;
		case '"': fputs("&quot;", f); break;
		default: fputc(*s, f);
		}
	}
}

int host_pool_canonical(const struct host_pool_def *d, char **out)
{
	char *buf = NULL;
	size_t size = 0;
	FILE *f = open_memstream(&buf, &size);
	if (!f)
		return -ENOMEM;
	fputs("<pool type='", f);
	xml_escaped(f, d->type ? d->type : "");
	fputs("'>\n", f);
#define ELEMENT(indent, tag, v) do { if (v) { fputs(indent "<" tag ">", f); xml_escaped(f, v); fputs("</" tag ">\n", f); } } while (0)
	ELEMENT("  ", "name", d->name);
	ELEMENT("  ", "uuid", d->uuid);
	if (d->path || d->mode || d->owner || d->group) {
		fputs("  <target>\n", f);
		ELEMENT("    ", "path", d->path);
		if (d->mode || d->owner || d->group) {
			fputs("    <permissions>\n", f);
			ELEMENT("      ", "mode", d->mode);
			ELEMENT("      ", "owner", d->owner);
			ELEMENT("      ", "group", d->group);
			fputs("    </permissions>\n", f);
		}
		fputs("  </target>\n", f);
	}
#undef ELEMENT
	fputs("</pool>\n", f);
	if (fclose(f) != 0) {
		free(buf);
		return -ENOMEM;
	}
	*out = buf;
	return 0;
}

static bool valid_uuid(const char *u)
{
	if (!u || strlen(u) != 36)
		return false;
	for (int i = 0; i < 36; i++) {
		bool dash = i == 8 || i == 13 || i == 18 || i == 23;
		char c = u[i];
		if (dash ? c != '-' : !((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F')))
			return false;
	}
	return true;
}

static bool valid_name(const char *n)
{
	if (!n || !(*n >= 'a' && *n <= 'z') || strlen(n) > 64)
		return false;
	for (; *n; n++)
		if (!((*n >= 'a' && *n <= 'z') || (*n >= '0' && *n <= '9') || *n == '_'))
			return false;
	return true;
}

static bool valid_path(const char *p)
{
	if (!p || p[0] != '/' || strlen(p) > 4096)
		return false;
	for (; *p; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			return false;
	return true;
}

int host_pool_xml(const struct host_pool_spec *p, char **out)
{
	if (!p || !valid_name(p->name) || !valid_uuid(p->uuid) || !valid_path(p->target_path))
		return -EINVAL;
	char uuid[37];
	for (int i = 0; i < 37; i++)
		uuid[i] = (char)(p->uuid[i] >= 'A' && p->uuid[i] <= 'F' ? p->uuid[i] - 'A' + 'a' : p->uuid[i]);
	struct host_pool_def d = {
		.type = (char *)"dir", .name = (char *)p->name, .uuid = uuid, .path = (char *)p->target_path,
		.mode = (char *)POOL_MODE, .owner = (char *)POOL_OWNER, .group = (char *)POOL_GROUP,
	};
	return host_pool_canonical(&d, out);
}

/* ---- reading libvirt's XML -------------------------------------------------------------------- */

/* A tiny XML subset reader: elements, attributes, text with the five entities and numeric
 * references, comments and a prolog skipped. Enough for what libvirt formats; anything else is
 * -EINVAL. */
struct xnode {
	char *name;
	char *type_attr;               /* the attribute `type`, if any */
	unsigned n_other_attrs;        /* attributes other than type / unit */
	char *text;                    /* the text directly inside, concatenated */
	struct xnode *child, *next;
};

static void xnode_free(struct xnode *n)
{
	while (n) {
		struct xnode *next = n->next;
		xnode_free(n->child);
		free(n->name);
		free(n->type_attr);
		free(n->text);
		free(n);
		n = next;
	}
}

struct xin {
	const char *p, *end;
};

static bool is_name_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '-' ||
	       c == '.' || c == ':';
}

static void skip_blanks(struct xin *in)
{
	while (in->p < in->end && (*in->p == ' ' || *in->p == '\t' || *in->p == '\n' || *in->p == '\r'))
		in->p++;
}

/* Appends [s, s+n) to *text with entities decoded. -EINVAL on a bad entity. */
static int append_text(char **text, const char *s, size_t n)
{
	size_t have = *text ? strlen(*text) : 0;
	char *t = realloc(*text, have + n + 1);
	if (!t)
		return -ENOMEM;
	*text = t;
	char *w = t + have;
	for (size_t i = 0; i < n; i++) {
		if (s[i] == '\0')
			return -EINVAL;
		if (s[i] != '&') {
			*w++ = s[i];
			continue;
		}
		const char *semi = memchr(s + i, ';', n - i);
		if (!semi)
			return -EINVAL;
		size_t len = (size_t)(semi - (s + i)) + 1;
		static const struct { const char *e; char c; } ents[] = {
			{ "&amp;", '&' }, { "&lt;", '<' }, { "&gt;", '>' }, { "&apos;", '\'' }, { "&quot;", '"' },
		};
		bool done = false;
		for (size_t k = 0; k < sizeof ents / sizeof ents[0] && !done; k++)
			if (len == strlen(ents[k].e) && memcmp(s + i, ents[k].e, len) == 0) {
				*w++ = ents[k].c;
				done = true;
			}
		if (!done && len >= 4 && s[i + 1] == '#') {
			unsigned long v = 0;
			bool hex = s[i + 2] == 'x';
			size_t j = i + (hex ? 3 : 2);
			if (j >= i + len - 1)
				return -EINVAL;
			for (; j < i + len - 1; j++) {
				char c = s[j];
				int d = c >= '0' && c <= '9' ? c - '0' : hex && c >= 'a' && c <= 'f' ? c - 'a' + 10
					: hex && c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
				if (d < 0 || v > 0x10ffff)
					return -EINVAL;
				v = v * (hex ? 16 : 10) + (unsigned long)d;
			}
			if (v == 0 || v > 0x7f)
				return -EINVAL;  /* only ASCII: nothing kvmcd defines needs more */
			*w++ = (char)v;
			done = true;
		}
		if (!done)
			return -EINVAL;
		i += len - 1;
	}
	*w = '\0';
	return 0;
}

/* Skips "<?...?>" and "<!--...-->" at in->p. 1 when one was skipped, 0 when none, -EINVAL. */
static int skip_misc(struct xin *in)
{
	size_t left = (size_t)(in->end - in->p);
	if (left >= 2 && memcmp(in->p, "<?", 2) == 0) {
		const char *e = memmem(in->p, left, "?>", 2);
		if (!e)
			return -EINVAL;
		in->p = e + 2;
		return 1;
	}
	if (left >= 4 && memcmp(in->p, "<!--", 4) == 0) {
		const char *e = memmem(in->p + 4, left - 4, "-->", 3);
		if (!e)
			return -EINVAL;
		in->p = e + 3;
		return 1;
	}
	return 0;
}

static int parse_element(struct xin *in, int depth, struct xnode **out);

static int parse_content(struct xin *in, int depth, struct xnode *n)
{
	struct xnode **tail = &n->child;
	for (;;) {
		const char *lt = memchr(in->p, '<', (size_t)(in->end - in->p));
		if (!lt)
			return -EINVAL;
		int r = append_text(&n->text, in->p, (size_t)(lt - in->p));
		if (r < 0)
			return r;
		in->p = lt;
		r = skip_misc(in);
		if (r < 0)
			return r;
		if (r > 0)
			continue;
		if (in->end - in->p >= 2 && in->p[1] == '/') {
			in->p += 2;
			size_t k = strlen(n->name);
			if ((size_t)(in->end - in->p) < k || memcmp(in->p, n->name, k) != 0)
				return -EINVAL;
			in->p += k;
			skip_blanks(in);
			if (in->p >= in->end || *in->p != '>')
				return -EINVAL;
			in->p++;
			return 0;
		}
		struct xnode *c = NULL;
		r = parse_element(in, depth + 1, &c);
		if (r < 0)
			return r;
		*tail = c;
		tail = &c->next;
	}
}

static int parse_element(struct xin *in, int depth, struct xnode **out)
{
	if (depth > XML_DEPTH_MAX || in->p >= in->end || *in->p != '<')
		return -EINVAL;
	in->p++;
	const char *s = in->p;
	while (in->p < in->end && is_name_char(*in->p))
		in->p++;
	if (in->p == s)
		return -EINVAL;
	struct xnode *n = calloc(1, sizeof *n);
	if (!n)
		return -ENOMEM;
	n->name = strndup(s, (size_t)(in->p - s));
	int r = n->name ? 0 : -ENOMEM;
	while (r == 0) {
		skip_blanks(in);
		if (in->p >= in->end) {
			r = -EINVAL;
			break;
		}
		if (*in->p == '>') {
			in->p++;
			r = parse_content(in, depth, n);
			break;
		}
		if (*in->p == '/') {
			if (in->end - in->p < 2 || in->p[1] != '>')
				r = -EINVAL;
			in->p += 2;
			break;
		}
		const char *an = in->p;
		while (in->p < in->end && is_name_char(*in->p))
			in->p++;
		size_t alen = (size_t)(in->p - an);
		skip_blanks(in);
		if (alen == 0 || in->p >= in->end || *in->p != '=') {
			r = -EINVAL;
			break;
		}
		in->p++;
		skip_blanks(in);
		if (in->p >= in->end || (*in->p != '\'' && *in->p != '"')) {
			r = -EINVAL;
			break;
		}
		char q = *in->p++;
		const char *v = in->p, *e = memchr(in->p, q, (size_t)(in->end - in->p));
		if (!e) {
			r = -EINVAL;
			break;
		}
		in->p = e + 1;
		if (alen == 4 && memcmp(an, "type", 4) == 0 && !n->type_attr)
			r = append_text(&n->type_attr, v, (size_t)(e - v));
		else if (!(alen == 4 && memcmp(an, "unit", 4) == 0))
			n->n_other_attrs++;
	}
	if (r < 0) {
		xnode_free(n);
		return r;
	}
	*out = n;
	return 0;
}

void host_pool_def_done(struct host_pool_def *d)
{
	if (!d)
		return;
	free(d->type);
	free(d->name);
	free(d->uuid);
	free(d->path);
	free(d->mode);
	free(d->owner);
	free(d->group);
	*d = (struct host_pool_def){ 0 };
}

static bool blank_text(const char *t)
{
	for (; t && *t; t++)
		if (*t != ' ' && *t != '\t' && *t != '\n' && *t != '\r')
			return false;
	return true;
}

/* A leaf element's text into *slot (first occurrence only). */
static int take_leaf(const struct xnode *n, char **slot, const char *where, char **why)
{
	if (*slot || n->child || n->n_other_attrs || n->type_attr) {
		if (asprintf(why, "element <%s%s> is not kvmcd's", where, n->name) < 0)
			*why = NULL;
		return -EEXIST;
	}
	*slot = strdup(n->text ? n->text : "");
	return *slot ? 0 : -ENOMEM;
}

static int extra(const char *where, const struct xnode *n, char **why)
{
	if (asprintf(why, "element <%s%s> is not kvmcd's", where, n->name) < 0)
		*why = NULL;
	return -EEXIST;
}

int host_pool_parse(const char *xml, size_t len, struct host_pool_def *out, char **why)
{
	*why = NULL;
	if (len > XML_MAX)
		return -EINVAL;
	struct xin in = { xml, xml + len };
	struct xnode *root = NULL;
	int r;
	for (;;) {
		skip_blanks(&in);
		r = skip_misc(&in);
		if (r < 0)
			return r;
		if (r == 0)
			break;
	}
	r = parse_element(&in, 0, &root);
	if (r < 0)
		return r;
	skip_blanks(&in);
	if (in.p != in.end || strcmp(root->name, "pool") != 0) {
		xnode_free(root);
		return -EINVAL;
	}

	struct host_pool_def d = { 0 };
	d.type = strdup(root->type_attr ? root->type_attr : "");
	r = d.type ? 0 : -ENOMEM;
	if (r == 0 && (root->n_other_attrs || !blank_text(root->text)))
		r = extra("", root, why);
	for (struct xnode *c = root->child; c && r == 0; c = c->next) {
		if (strcmp(c->name, "name") == 0)
			r = take_leaf(c, &d.name, "", why);
		else if (strcmp(c->name, "uuid") == 0)
			r = take_leaf(c, &d.uuid, "", why);
		else if (strcmp(c->name, "capacity") == 0 || strcmp(c->name, "allocation") == 0 ||
			 strcmp(c->name, "available") == 0)
			continue;       /* live numbers, never part of the definition */
		else if (strcmp(c->name, "source") == 0) {
			if (c->child || c->n_other_attrs || c->type_attr || !blank_text(c->text))
				r = extra("", c, why);
		} else if (strcmp(c->name, "target") == 0) {
			if (c->n_other_attrs || c->type_attr || !blank_text(c->text))
				r = extra("", c, why);
			for (struct xnode *t = c->child; t && r == 0; t = t->next) {
				if (strcmp(t->name, "path") == 0)
					r = take_leaf(t, &d.path, "target><", why);
				else if (strcmp(t->name, "permissions") == 0 && !t->n_other_attrs && !t->type_attr &&
					 blank_text(t->text) && !d.mode && !d.owner && !d.group) {
					for (struct xnode *q = t->child; q && r == 0; q = q->next) {
						if (strcmp(q->name, "mode") == 0)
							r = take_leaf(q, &d.mode, "permissions><", why);
						else if (strcmp(q->name, "owner") == 0)
							r = take_leaf(q, &d.owner, "permissions><", why);
						else if (strcmp(q->name, "group") == 0)
							r = take_leaf(q, &d.group, "permissions><", why);
						else
							r = extra("permissions><", q, why);
					}
				} else
					r = extra("target><", t, why);
			}
		} else
			r = extra("", c, why);
	}
	xnode_free(root);
	if (r < 0) {
		host_pool_def_done(&d);
		return r;
	}
	*out = d;
	return 0;
}

int host_pool_hash(const char *libvirt_xml, char out[HOST_SHA256_HEX])
{
	struct host_pool_def d = { 0 };
	_cleanup_free_ char *why = NULL, *canon = NULL;
	size_t len = strlen(libvirt_xml);
	int r = host_pool_parse(libvirt_xml, len, &d, &why);
	if (r == -ENOMEM)
		return r;
	if (r == 0) {
		r = host_pool_canonical(&d, &canon);
		host_pool_def_done(&d);
		if (r < 0)
			return r;
		host_sha256_hex(canon, strlen(canon), out);
		return 0;
	}
	/* Not kvmcd's shape: libvirt's text without the lines of the live elements. */
	char *buf = malloc(len + 1), *w = buf;
	if (!buf)
		return -ENOMEM;
	for (const char *p = libvirt_xml; *p;) {
		const char *nl = strchr(p, '\n');
		size_t n = nl ? (size_t)(nl - p) + 1 : strlen(p);
		const char *t = p;
		while (t < p + n && (*t == ' ' || *t == '\t'))
			t++;
		size_t rest = (size_t)(p + n - t);
		bool live = (rest >= 9 && memcmp(t, "<capacity", 9) == 0) || (rest >= 11 && memcmp(t, "<allocation", 11) == 0) ||
			    (rest >= 10 && memcmp(t, "<available", 10) == 0);
		if (!live) {
			memcpy(w, p, n);
			w += n;
		}
		p += n;
	}
	host_sha256_hex(buf, (size_t)(w - buf), out);
	free(buf);
	return 0;
}

/* ---- the hooks -------------------------------------------------------------------------------- */

enum pjob_kind { PJOB_PROBE, PJOB_ENSURE, PJOB_REMOVE };

/* One hook's work on a worker thread. Owned by the worker pool while queued or running. */
struct pjob {
	enum pjob_kind kind;
	char *uri, *name, *uuid, *path, *xml;   /* inputs, owned */
	char *detail;                           /* result, owned */
};

static void pjob_free(void *arg)
{
	struct pjob *j = arg;
	if (!j)
		return;
	free(j->uri);
	free(j->name);
	free(j->uuid);
	free(j->path);
	free(j->xml);
	free(j->detail);
	free(j);
}

static _printf_(3, 4) int pjob_result(struct pjob *j, int r, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	free(j->detail);
	if (vasprintf(&j->detail, fmt, ap) < 0)
		j->detail = NULL;
	va_end(ap);
	return r;
}

#ifdef HAVE_LIBVIRT

static int virt_errno(struct pjob *j, const char *step)
{
	return host_virt_error(step, &j->detail);
}

/* The definition's XML: INACTIVE where the driver takes the flag (the test driver does not). */
static char *pool_xml_desc(virStoragePoolPtr p)
{
	char *x = virStoragePoolGetXMLDesc(p, VIR_STORAGE_XML_INACTIVE);
	if (!x) {
		virErrorPtr e = virGetLastError();
		if (e && (e->code == VIR_ERR_INVALID_ARG || e->code == VIR_ERR_NO_SUPPORT))
			x = virStoragePoolGetXMLDesc(p, 0);
	}
	return x;
}

/* -EEXIST with the difference when the defined pool is not the one kvmcd would define. */
static int pool_compare(struct pjob *j, const char *xml)
{
	struct host_pool_def d = { 0 };
	_cleanup_free_ char *why = NULL;
	int r = host_pool_parse(xml, strlen(xml), &d, &why);
	if (r == -EEXIST)
		return pjob_result(j, r, "pool %s is defined with more than kvmcd defines (%s): left alone", j->name,
				   why ? why : "?");
	if (r < 0)
		return pjob_result(j, r == -ENOMEM ? r : -EIO, "pool %s: cannot read libvirt's XML", j->name);
	if (!d.uuid || strcasecmp(d.uuid, j->uuid) != 0)
		r = pjob_result(j, -EEXIST, "pool %s exists with uuid %s, not %s: left alone", j->name,
				d.uuid ? d.uuid : "(none)", j->uuid);
	else if (!d.path || strcmp(d.path, j->path) != 0)
		r = pjob_result(j, -EEXIST, "pool %s exists with target %s, not %s: left alone", j->name,
				d.path ? d.path : "(none)", j->path);
	else if (!d.type || strcmp(d.type, "dir") != 0)
		r = pjob_result(j, -EEXIST, "pool %s exists with type %s, not dir: left alone", j->name,
				d.type ? d.type : "(none)");
	else if (j->kind == PJOB_ENSURE && (!d.mode || strcmp(d.mode, POOL_MODE) != 0 || !d.owner ||
					     strcmp(d.owner, POOL_OWNER) != 0 || !d.group || strcmp(d.group, POOL_GROUP) != 0))
		r = pjob_result(j, -EEXIST, "pool %s exists with permissions mode %s owner %s group %s, not "
				POOL_MODE "/" POOL_OWNER "/" POOL_GROUP ": left alone", j->name, d.mode ? d.mode : "-",
				d.owner ? d.owner : "-", d.group ? d.group : "-");
	host_pool_def_done(&d);
	return r;
}

/* "active <sha>" / "inactive <sha>" (probe) or "<sha>" (ensure) of the pool now. */
static int pool_report(struct pjob *j, virStoragePoolPtr p, bool with_state)
{
	_cleanup_free_ char *xml = pool_xml_desc(p);
	if (!xml)
		return virt_errno(j, "virStoragePoolGetXMLDesc");
	char hash[HOST_SHA256_HEX];
	if (host_pool_hash(xml, hash) < 0)
		return pjob_result(j, -ENOMEM, "out of memory");
	if (!with_state)
		return pjob_result(j, 0, "%s", hash);
	int active = virStoragePoolIsActive(p);
	if (active < 0)
		return virt_errno(j, "virStoragePoolIsActive");
	return pjob_result(j, 0, "%s %s", active ? "active" : "inactive", hash);
}

static int pool_job(void *arg)
{
	struct pjob *j = arg;
	int init_r = host_virt_init();
	if (init_r < 0)
		return pjob_result(j, init_r, "virInitialize failed");

	virConnectPtr c = host_virt_kept_conn(j->uri);
	if (!c)
		return virt_errno(j, j->uri);
	virStoragePoolPtr p = virStoragePoolLookupByName(c, j->name);
	bool defined_now = false; /* by this job: persistent, not autostarted, inactive */
	int r = 0;

	if (!p) {
		virErrorPtr e = virGetLastError();
		if (!e || e->code != VIR_ERR_NO_STORAGE_POOL) {
			r = virt_errno(j, "virStoragePoolLookupByName");
			goto out;
		}
		if (j->kind == PJOB_PROBE) {
			r = pjob_result(j, -ENOENT, "pool %s is not defined", j->name);
			goto out;
		}
		if (j->kind == PJOB_REMOVE) {
			r = pjob_result(j, 0, "pool %s is not defined", j->name);
			goto out;
		}
		/* Our UUID under another name would make libvirt refuse, less clearly. */
		virStoragePoolPtr other = virStoragePoolLookupByUUIDString(c, j->uuid);
		if (other) {
			r = pjob_result(j, -EEXIST, "uuid %s is already pool %s: left alone", j->uuid,
					virStoragePoolGetName(other));
			virStoragePoolFree(other);
			goto out;
		}
		p = virStoragePoolDefineXML(c, j->xml, 0);
		if (!p) {
			r = virt_errno(j, "virStoragePoolDefineXML");
			goto out;
		}
		defined_now = true;
	} else {
		_cleanup_free_ char *xml = pool_xml_desc(p);
		if (!xml) {
			r = virt_errno(j, "virStoragePoolGetXMLDesc");
			goto out;
		}
		if (j->kind == PJOB_PROBE) {
			r = pool_report(j, p, true);
			goto out;
		}
		r = pool_compare(j, xml);
		if (r < 0)
			goto out;
	}

	int k;
	if (j->kind == PJOB_REMOVE) {
		if ((k = virStoragePoolIsActive(p)) < 0 || (k && virStoragePoolDestroy(p) < 0)) {
			r = virt_errno(j, k < 0 ? "virStoragePoolIsActive" : "virStoragePoolDestroy");
			goto out;
		}
		if ((k = virStoragePoolIsPersistent(p)) < 0 || (k && virStoragePoolUndefine(p) < 0)) {
			r = virt_errno(j, k < 0 ? "virStoragePoolIsPersistent" : "virStoragePoolUndefine");
			goto out;
		}
		r = pjob_result(j, 0, "pool %s removed", j->name);
		goto out;
	}

	/* ensure: a transient pool of ours becomes persistent; then autostart; then running. A pool
	 * this job just defined is known to be persistent, not autostarted and inactive: three
	 * round trips fewer to a libvirtd that, with many datastores attaching, is busy. */
	if (!defined_now && (k = virStoragePoolIsPersistent(p)) < 0) {
		r = virt_errno(j, "virStoragePoolIsPersistent");
		goto out;
	}
	if (!defined_now && !k) {
		virStoragePoolPtr d = virStoragePoolDefineXML(c, j->xml, 0);
		if (!d) {
			r = virt_errno(j, "virStoragePoolDefineXML");
			goto out;
		}
		virStoragePoolFree(d);
	}
	int autostart = 0;
	if (!defined_now && virStoragePoolGetAutostart(p, &autostart) < 0) {
		r = virt_errno(j, "virStoragePoolGetAutostart");
		goto out;
	}
	if (!autostart && virStoragePoolSetAutostart(p, 1) < 0) {
		r = virt_errno(j, "virStoragePoolSetAutostart");
		goto out;
	}
	if ((k = defined_now ? 0 : virStoragePoolIsActive(p)) < 0 || (!k && virStoragePoolCreate(p, 0) < 0)) {
		r = virt_errno(j, k < 0 ? "virStoragePoolIsActive" : "virStoragePoolCreate");
		goto out;
	}
	r = pool_report(j, p, false);
out:
	if (p)
		virStoragePoolFree(p);
	return r;
}

static void pool_job_done(struct hop *op, int r, void *arg)
{
	struct pjob *j = arg;
	if (!j) {
		hop_finish(op, r, "libvirt did not answer within the step deadline");
		return;
	}
	hop_finish(op, r, "%s", j->detail ? j->detail : r < 0 ? strerror(-r) : "");
}

static int pool_submit(struct host_ctx *ctx, const struct host_pool_spec *p, enum pjob_kind kind, host_done_fn done,
		       void *userdata)
{
	if (!ctx || !p || !done)
		return -EINVAL;
	_cleanup_free_ char *xml = NULL;
	int r = host_pool_xml(p, &xml);
	if (r < 0)
		return r == -ENOMEM ? r
				    : hop_fail_later(ctx, done, userdata, r, "pool %s: needs a name [a-z][a-z0-9_]*, a UUID "
						     "and an absolute target path", p->name ? p->name : "(none)");
	struct hop *op = hop_new(sizeof *op, ctx, done, userdata, NULL);
	if (!op)
		return -ENOMEM;
	struct pjob *j = calloc(1, sizeof *j);
	if (j) {
		j->kind = kind;
		j->uri = strdup(ctx->libvirt_uri ? ctx->libvirt_uri : DEFAULT_URI);
		j->name = strdup(p->name);
		j->uuid = strdup(p->uuid);
		j->path = strdup(p->target_path);
		j->xml = TAKE_PTR(xml);
	}
	if (!j || !j->uri || !j->name || !j->uuid || !j->path) {
		pjob_free(j);
		hop_free(op);
		return -ENOMEM;
	}
	hop_work(op, pool_job, j, pjob_free, pool_job_done);
	return 0;
}

#else /* !HAVE_LIBVIRT */

static int pool_submit(struct host_ctx *ctx, const struct host_pool_spec *p, enum pjob_kind kind, host_done_fn done,
		       void *userdata)
{
	(void)pjob_free;
	(void)pjob_result;
	return -EOPNOTSUPP;   /* built without libvirt: nothing started */
}

#endif

static int pool_probe(struct host_ctx *ctx, const struct host_pool_spec *p, host_done_fn done, void *userdata)
{
	return pool_submit(ctx, p, PJOB_PROBE, done, userdata);
}

static int pool_ensure(struct host_ctx *ctx, const struct host_pool_spec *p, host_done_fn done, void *userdata)
{
	return pool_submit(ctx, p, PJOB_ENSURE, done, userdata);
}

static int pool_remove(struct host_ctx *ctx, const struct host_pool_spec *p, host_done_fn done, void *userdata)
{
	return pool_submit(ctx, p, PJOB_REMOVE, done, userdata);
}

const struct host_pool_ops host_pool_libvirt_ops = {
	.name = "libvirt",
	.probe = pool_probe,
	.ensure = pool_ensure,
	.remove = pool_remove,
};
