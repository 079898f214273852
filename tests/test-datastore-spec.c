/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The spec's datastores (coord/spec/datastore.h): every rule refuses with its JSON path and what
 * is wrong, and accepts what it should; sizes and their units; defaults; the refusals against
 * the spec in force; how spec_diff shows datastores.
 *
 * Specs are written with ' for " to stay readable: q() turns them into JSON.
 */
#include <errno.h>
#include <stdarg.h>
#include <string.h>

#include "datastore.h"
#include "spec.h"
#include "tap.h"

__attribute__((returns_nonnull)) static void *xmalloc(size_t n)
{
	void *p = malloc(n);

	if (!p)
		abort();
	return p;
}

/* Appends to *s (owned, NULL to start). */
__attribute__((format(printf, 2, 3))) static void appendf(char **s, const char *fmt, ...)
{
	size_t have = *s ? strlen(*s) : 0;
	char *add = NULL;
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vasprintf(&add, fmt, ap);
	va_end(ap);
	if (n < 0)
		abort();
	*s = realloc(*s, have + (size_t)n + 1);
	if (!*s)
		abort();
	memcpy(*s + have, add, (size_t)n + 1);
	free(add);
}

static char *q(const char *s)
{
	char *j = strcpy(xmalloc(strlen(s) + 1), s);

	for (char *c = j; *c; c++)
		if (*c == '\'')
			*c = '"';
	return j;
}

static bool has(const struct spec_problems *p, const char *needle)
{
	for (unsigned i = 0; i < p->n; i++)
		if (strstr(p->text[i], needle))
			return true;
	return false;
}

static char *all(const struct spec_problems *p)
{
	static char buf[8192];
	char *j = spec_problems_join(p);

	snprintf(buf, sizeof(buf), "%s", j ? j : "(none)");
	free(j);
	return buf;
}

static int parse(const char *text, struct spec_problems *p)
{
	char *t = q(text);
	json_t *s = NULL;
	int r = spec_parse(t, strlen(t), &s, p);

	json_decref(s);
	free(t);
	return r;
}

static json_t *load(const char *text)
{
	char *t = q(text);
	json_t *j = json_loads(t, JSON_REJECT_DUPLICATES, NULL);

	free(t);
	if (!j)
		abort();
	return j;
}

/* The spec is valid. */
#define OK(text) do { \
	struct spec_problems p_ = { 0 }; \
	int r_ = parse(text, &p_); \
	CHECK(r_ == 0 && p_.n == 0, "refused %s: %s", text, all(&p_)); \
	spec_problems_clear(&p_); \
} while (0)

/* The spec is refused and one problem contains each needle (path and what is wrong). */
#define BAD(text, ...) do { \
	const char *n_[] = { __VA_ARGS__ }; \
	struct spec_problems p_ = { 0 }; \
	int r_ = parse(text, &p_); \
	CHECK(r_ == -EINVAL, "accepted %s", text); \
	for (size_t i_ = 0; i_ < sizeof(n_) / sizeof(n_[0]); i_++) \
		CHECK(has(&p_, n_[i_]), "%s: no problem says '%s'; got: %s", text, n_[i_], all(&p_)); \
	spec_problems_clear(&p_); \
} while (0)

/* One datastore entry (its keys, without braces) as a whole spec. */
#define DS(body) "{'datastores':[{" body "}]}"

/* A spec with n nodes and one datastore entry. Owned. */
static char *with_nodes(unsigned n, const char *entry)
{
	char *s = NULL;

	appendf(&s, "{'nodes':[");
	for (unsigned i = 1; i <= n; i++)
		appendf(&s, "%s{'name':'kvm%u','id':%u}", i > 1 ? "," : "", i, i);
	appendf(&s, "],'datastores':[{%s}]}", entry);
	return s;
}

static void test_names_and_keys(void)
{
	OK("{}");
	OK("{'datastores':[]}");
	OK(DS("'name':'ds1','protocol':'iscsi','size':'100G'"));
	OK(DS("'name':'a','protocol':'iscsi','size':'1G'"));
	OK(DS("'name':'ds_1_x9','protocol':'iscsi','size':'1G'"));
	OK(DS("'name':'abcdefghijklmnopqrstuvwxyz0123456789_abc','protocol':'iscsi','size':'1G'")); /* 40 */

	BAD(DS("'protocol':'iscsi','size':'1G'"), "datastores[0].name: missing");
	BAD(DS("'name':'DS1','protocol':'iscsi','size':'1G'"), "datastores[0].name: \"DS1\": must be 1-40 chars of a-z 0-9 _, starting with a letter");
	BAD(DS("'name':'1ds','protocol':'iscsi','size':'1G'"), "datastores[0].name: \"1ds\": must be 1-40 chars");
	BAD(DS("'name':'ds-1','protocol':'iscsi','size':'1G'"), "datastores[0].name: \"ds-1\": must be");
	BAD(DS("'name':'','protocol':'iscsi','size':'1G'"), "datastores[0].name: \"\": must be");
	BAD(DS("'name':7,'protocol':'iscsi','size':'1G'"), "datastores[0].name: must be 1-40 chars");
	BAD(DS("'name':'abcdefghijklmnopqrstuvwxyz0123456789_abcd','protocol':'iscsi','size':'1G'"),
	    "datastores[0].name: \"abcdefghijklmnopqrstuvwxyz0123456789_abcd\": must be 1-40 chars");
	BAD("{'datastores':[{'name':'ds1','protocol':'iscsi','size':'1G'},{'name':'ds2','protocol':'nfs','size':'1G'},"
	    "{'name':'ds1','protocol':'nfs','size':'1G'}]}",
	    "datastores[2].name: \"ds1\" already used by datastores[0]");

	/* unknown keys, at every level, are refused: typos are never ignored */
	BAD(DS("'name':'ds1','protocol':'iscsi','sise':'1G'"),
	    "datastores[0]: unknown key \"sise\" (known: name, protocol, size, fs, nfs, smb, path, clone)",
	    "datastores[0].size: missing");
	BAD("{'datastore':[]}", "datastore: unknown key (known: nodes, labels, datastores, destroy_data, restore, vms, protection)");
	BAD("{'datastores':{}}", "datastores: must be an array of datastore objects");
	BAD("{'datastores':[7]}", "datastores[0]: must be an object");

	/* protocol */
	OK(DS("'name':'ds1','protocol':'fc','size':'1G'"));
	OK(DS("'name':'ds1','protocol':'nvme-tcp','size':'1G'"));
	OK(DS("'name':'ds1','protocol':'nfs','size':'1G'"));
	OK(DS("'name':'ds1','protocol':'smb','size':'1G'"));
	BAD(DS("'name':'ds1','size':'1G'"), "datastores[0].protocol: missing (one of iscsi, fc, nvme-tcp, nfs, smb)");
	BAD(DS("'name':'ds1','protocol':'iSCSI','size':'1G'"), "datastores[0].protocol: must be one of iscsi, fc, nvme-tcp, nfs, smb");
	BAD(DS("'name':'ds1','protocol':'nvme','size':'1G'"), "datastores[0].protocol: must be one of");
	BAD(DS("'name':'ds1','protocol':1,'size':'1G'"), "datastores[0].protocol: must be one of");

	/* at most DS_MAX_DATASTORES */
	{
		char *s = NULL, *w;
		appendf(&s, "{'datastores':[");
		for (unsigned i = 0; i <= DS_MAX_DATASTORES; i++)
			appendf(&s, "%s{'name':'ds%u','protocol':'nfs','size':'1G'}", i ? "," : "", i);
		appendf(&s, "]}");
		BAD(s, "datastores: 257 entries, at most 256 allowed");
		/* the last one allowed */
		w = strrchr(s, '{');
		strcpy(w - 1, "]}");
		OK(s);
		free(s);
	}
}

static void test_sizes(void)
{
	char why[256], buf[DS_SIZE_TEXT_MAX];
	uint64_t b = 0;
	json_t *v;

	/* units: powers of 1024, upper case */
	static const struct { const char *text; uint64_t bytes; } good[] = {
		{ "1K", 1024 }, { "512M", 512ull << 20 }, { "100G", 100ull << 30 }, { "2T", 2ull << 40 },
		{ "1P", 1ull << 50 }, { "0G", 0 }, { "007G", 7ull << 30 }, { "16383P", 16383ull << 50 },
	};
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		v = json_string(good[i].text);
		b = 1;
		CHECK(ds_size_parse(v, &b, why, sizeof(why)) == 0 && b == good[i].bytes, "%s -> %llu (%s)", good[i].text,
		      (unsigned long long)b, why);
		json_decref(v);
	}
	v = json_integer(107374182400);
	CHECK(ds_size_parse(v, &b, NULL, 0) == 0 && b == 107374182400ull, "integer bytes");
	json_decref(v);

	/* overflowing 64 bits: -ERANGE, not a wrapped value */
	v = json_string("16384P");
	b = 7;
	CHECK(ds_size_parse(v, &b, why, sizeof(why)) == -ERANGE && b == 7, "16384P overflows: %s", why);
	json_decref(v);
	v = json_string("99999999999999999999999K");
	CHECK(ds_size_parse(v, &b, why, sizeof(why)) == -ERANGE, "long digits overflow: %s", why);
	json_decref(v);

	/* refused, each saying what is accepted */
	static const struct { const char *text; const char *why; } bad[] = {
		{ "10g", "\"10g\": unknown unit \"g\" (write \"10G\"); units are K M G T P (powers of 1024, upper case, no B)" },
		{ "5p", "(write \"5P\")" },
		{ "100GB", "\"100GB\": unknown unit \"GB\"; units are K M G T P" },
		{ "100GiB", "unknown unit \"GiB\"; units are K M G T P" },
		{ "100 G", "unknown unit \" G\"" },
		{ "100B", "unknown unit \"B\"" },
		{ "1.5T", "\"1.5T\": whole numbers only, use a smaller unit (write \"1536G\"); units are" },
		{ "0.5G", "(write \"512M\")" },
		{ "1.5K", "(1.5K is 1536 bytes, a JSON number)" },
		{ "1.3G", "\"1.3G\": whole numbers only, use a smaller unit; units" }, /* 1331.2M: no hint */
		{ "1.5", "whole numbers only" },
		{ "100", "\"100\" has no unit: a size in a string needs one (\"100G\"), bytes are a JSON number (100)" },
		{ "-1", "\"-1\" is not a size: write a whole number of bytes (107374182400) or digits and a unit (\"100G\")" },
		{ "-1G", "is not a size" },
		{ "+1G", "is not a size" },
		{ " 100G", "is not a size" },
		{ "", "\"\" is not a size" },
		{ "G", "is not a size" },
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		v = json_string(bad[i].text);
		b = 7;
		why[0] = 0;
		CHECK(ds_size_parse(v, &b, why, sizeof(why)) == -EINVAL && b == 7 && strstr(why, bad[i].why),
		      "'%s': got '%s', want '%s'", bad[i].text, why, bad[i].why);
		json_decref(v);
	}
	v = json_integer(-1);
	CHECK(ds_size_parse(v, &b, why, sizeof(why)) == -EINVAL && strstr(why, "-1 is negative"), "-1: %s", why);
	json_decref(v);
	v = json_real(1.5e9);
	CHECK(ds_size_parse(v, &b, why, sizeof(why)) == -EINVAL && strstr(why, "must be a whole number of bytes"), "real: %s", why);
	json_decref(v);
	v = json_true();
	CHECK(ds_size_parse(v, &b, why, sizeof(why)) == -EINVAL, "bool");
	json_decref(v);
	v = json_string("\x01\x02G");
	CHECK(ds_size_parse(v, &b, why, sizeof(why)) == -EINVAL && strstr(why, "\"??G\""), "control chars shown as ?: %s", why);
	json_decref(v);

	CHECK(!strcmp(ds_size_format(100ull << 30, buf), "100G"), "%s", buf);
	CHECK(!strcmp(ds_size_format(1536ull << 20, buf), "1536M"), "%s", buf);
	CHECK(!strcmp(ds_size_format(1000, buf), "1000"), "%s", buf);
	CHECK(!strcmp(ds_size_format(0, buf), "0"), "%s", buf);
	CHECK(!strcmp(ds_size_format(1ull << 60, buf), "1024P"), "%s", buf);
	CHECK(!strcmp(ds_size_format(UINT64_MAX, buf), "18446744073709551615"), "%s", buf);

	/* in a spec: the path, and the limits per protocol */
	OK(DS("'name':'ds1','protocol':'iscsi','size':1073741824"));
	OK(DS("'name':'ds1','protocol':'iscsi','size':'128T'"));
	OK(DS("'name':'ds1','protocol':'iscsi','size':140737488355328"));
	OK(DS("'name':'ds1','protocol':'nfs','size':'20M'"));
	OK(DS("'name':'ds1','protocol':'smb','size':20971520"));
	BAD(DS("'name':'ds1','protocol':'iscsi','size':'512M'"),
	    "datastores[0].size: 512M is below the minimum of 1G for a block (iscsi, fc, nvme-tcp) datastore");
	BAD(DS("'name':'ds1','protocol':'nvme-tcp','size':1073741823"), "datastores[0].size: 1073741823 is below the minimum of 1G");
	BAD(DS("'name':'ds1','protocol':'nfs','size':'19M'"), "datastores[0].size: 19M is below the minimum of 20M for an nfs or smb datastore");
	BAD(DS("'name':'ds1','protocol':'iscsi','size':'0G'"), "datastores[0].size: 0 is below the minimum of 1G");
	BAD(DS("'name':'ds1','protocol':'nope','size':'0G'"), "datastores[0].size: 0 is below the minimum of 20M for any datastore");
	BAD(DS("'name':'ds1','protocol':'iscsi','size':'129T'"),
	    "datastores[0].size: above the maximum of 128T (ONTAP's largest LUN or namespace)");
	BAD(DS("'name':'ds1','protocol':'iscsi','size':140737488355329"), "datastores[0].size: above the maximum of 128T");
	BAD(DS("'name':'ds1','protocol':'iscsi','size':'99999999P'"), "datastores[0].size: above the maximum of 128T");
	BAD(DS("'name':'ds1','protocol':'iscsi','size':-1"), "datastores[0].size: -1 is negative");
	BAD(DS("'name':'ds1','protocol':'iscsi','size':'-1'"), "datastores[0].size: \"-1\" is not a size");
	BAD(DS("'name':'ds1','protocol':'iscsi','size':'10g'"), "datastores[0].size: \"10g\": unknown unit \"g\" (write \"10G\")");
	BAD(DS("'name':'ds1','protocol':'iscsi','size':'100GB'"), "datastores[0].size: \"100GB\": unknown unit \"GB\"; units are K M G T P");
	BAD(DS("'name':'ds1','protocol':'iscsi','size':'1.5T'"), "datastores[0].size: \"1.5T\": whole numbers only, use a smaller unit (write \"1536G\")");
	BAD(DS("'name':'ds1','protocol':'iscsi','size':1.5e12"), "datastores[0].size: must be a whole number of bytes or a string");
	BAD(DS("'name':'ds1','protocol':'iscsi'"), "datastores[0].size: missing (bytes, or a string such as \"100G\"");
}

static void test_fs_and_nodes(void)
{
	char *s;

	OK(DS("'name':'ds1','protocol':'iscsi','size':'1G','fs':'ocfs2'"));
	OK(DS("'name':'ds1','protocol':'fc','size':'1G','fs':'gfs2'"));
	OK(DS("'name':'ds1','protocol':'nvme-tcp','size':'1G','fs':'gfs2'"));
	BAD(DS("'name':'ds1','protocol':'iscsi','size':'1G','fs':'ext4'"), "datastores[0].fs: must be \"ocfs2\" (the default) or \"gfs2\"");
	BAD(DS("'name':'ds1','protocol':'iscsi','size':'1G','fs':'OCFS2'"), "datastores[0].fs: must be");
	BAD(DS("'name':'ds1','protocol':'nfs','size':'1G','fs':'ocfs2'"),
	    "datastores[0].fs: only for block protocols (iscsi, fc, nvme-tcp); an nfs datastore is mounted as its server exports it");
	BAD(DS("'name':'ds1','protocol':'smb','size':'1G','fs':'gfs2'"), "datastores[0].fs: only for block protocols");

	/* more nodes than the file system holds: both numbers named */
	s = with_nodes(DS_GFS2_MAX_NODES, "'name':'ds1','protocol':'iscsi','size':'1G','fs':'gfs2'");
	OK(s);
	free(s);
	s = with_nodes(DS_GFS2_MAX_NODES + 1, "'name':'ds1','protocol':'iscsi','size':'1G','fs':'gfs2'");
	BAD(s, "datastores[0].fs: gfs2 holds at most 16 nodes, but \"nodes\" lists 17");
	free(s);
	s = with_nodes(DS_GFS2_MAX_NODES + 1, "'name':'ds1','protocol':'iscsi','size':'1G'");
	OK(s); /* ocfs2 by default: 17 is fine */
	free(s);
	s = with_nodes(DS_GFS2_MAX_NODES + 1, "'name':'ds1','protocol':'nfs','size':'1G'");
	OK(s);
	free(s);
	/* OCFS2's 255 slots are more than a spec may list nodes (128), so both are said */
	s = with_nodes(DS_OCFS2_MAX_NODES + 1, "'name':'ds1','protocol':'fc','size':'1G'");
	BAD(s, "datastores[0].fs: ocfs2 (the default) holds at most 255 nodes, but \"nodes\" lists 256",
	    "nodes: 256 entries, at most 128 allowed");
	free(s);
}

static void test_nfs_smb(void)
{
	OK(DS("'name':'ds1','protocol':'nfs','size':'1T','nfs':{}"));
	OK(DS("'name':'ds1','protocol':'nfs','size':'1T','nfs':{'version':'4.2','nconnect':16,'trunkdiscovery':true}"));
	OK(DS("'name':'ds1','protocol':'nfs','size':'1T','nfs':{'version':'3','nconnect':1}"));
	OK(DS("'name':'ds1','protocol':'nfs','size':'1T','nfs':{'version':'4','trunkdiscovery':false}"));
	OK(DS("'name':'ds1','protocol':'nfs','size':'1T','nfs':{'trunkdiscovery':true}")); /* default 4.1 */
	BAD(DS("'name':'ds1','protocol':'iscsi','size':'1T','nfs':{'version':'4.2'}"),
	    "datastores[0].nfs: only for protocol nfs (this one is iscsi)");
	BAD(DS("'name':'ds1','protocol':'smb','size':'1T','nfs':{}"), "datastores[0].nfs: only for protocol nfs (this one is smb)");
	BAD(DS("'name':'ds1','protocol':'nfs','size':'1T','nfs':[]"), "datastores[0].nfs: must be an object (keys version, nconnect, trunkdiscovery)");
	BAD(DS("'name':'ds1','protocol':'nfs','size':'1T','nfs':{'vers':'3'}"),
	    "datastores[0].nfs: unknown key \"vers\" (known: version, nconnect, trunkdiscovery)");
	BAD(DS("'name':'ds1','protocol':'nfs','size':'1T','nfs':{'version':4.1}"),
	    "datastores[0].nfs.version: must be one of \"3\", \"4\", \"4.1\", \"4.2\" (a string");
	BAD(DS("'name':'ds1','protocol':'nfs','size':'1T','nfs':{'version':'4.0'}"), "datastores[0].nfs.version: must be one of");
	BAD(DS("'name':'ds1','protocol':'nfs','size':'1T','nfs':{'nconnect':0}"), "datastores[0].nfs.nconnect: must be an integer in 1..16");
	BAD(DS("'name':'ds1','protocol':'nfs','size':'1T','nfs':{'nconnect':17}"), "datastores[0].nfs.nconnect: must be an integer in 1..16");
	BAD(DS("'name':'ds1','protocol':'nfs','size':'1T','nfs':{'nconnect':'4'}"), "datastores[0].nfs.nconnect: must be");
	BAD(DS("'name':'ds1','protocol':'nfs','size':'1T','nfs':{'trunkdiscovery':'yes'}"), "datastores[0].nfs.trunkdiscovery: must be true or false");
	BAD(DS("'name':'ds1','protocol':'nfs','size':'1T','nfs':{'version':'3','trunkdiscovery':true}"),
	    "datastores[0].nfs.trunkdiscovery: needs NFS version 4.1 or 4.2 (session trunking); version is \"3\"");

	OK(DS("'name':'ds1','protocol':'smb','size':'1T','smb':{}"));
	OK(DS("'name':'ds1','protocol':'smb','size':'1T','smb':{'multichannel':true,'max_channels':32,'credentials':'/etc/kvmcd/smb.cred'}"));
	OK(DS("'name':'ds1','protocol':'smb','size':'1T','smb':{'multichannel':false,'max_channels':1}"));
	BAD(DS("'name':'ds1','protocol':'nfs','size':'1T','smb':{}"), "datastores[0].smb: only for protocol smb (this one is nfs)");
	BAD(DS("'name':'ds1','protocol':'fc','size':'1T','smb':{}"), "datastores[0].smb: only for protocol smb (this one is fc)");
	BAD(DS("'name':'ds1','protocol':'smb','size':'1T','smb':'x'"), "datastores[0].smb: must be an object");
	BAD(DS("'name':'ds1','protocol':'smb','size':'1T','smb':{'channels':2}"),
	    "datastores[0].smb: unknown key \"channels\" (known: multichannel, max_channels, credentials, user)");
	BAD(DS("'name':'ds1','protocol':'smb','size':'1T','smb':{'multichannel':1}"), "datastores[0].smb.multichannel: must be true or false");
	OK(DS("'name':'ds1','protocol':'smb','size':'1T','smb':{'user':'LAB\\\\kvm-hosts'}"));
	OK(DS("'name':'ds1','protocol':'smb','size':'1T','smb':{'user':'Domain Users'}"));
	BAD(DS("'name':'ds1','protocol':'smb','size':'1T','smb':{'user':''}"),
	    "datastores[0].smb.user: must be a Windows user or group, \"DOMAIN\\name\" or \"name\" (1 to 256 characters, none of "
	    "\" / [ ] : ; | = , + * ? < > or controls, no blank at either end)");
	BAD(DS("'name':'ds1','protocol':'smb','size':'1T','smb':{'user':'a,b'}"), "datastores[0].smb.user: must be a Windows user");
	BAD(DS("'name':'ds1','protocol':'smb','size':'1T','smb':{'user':' x'}"), "datastores[0].smb.user: must be a Windows user");
	BAD(DS("'name':'ds1','protocol':'smb','size':'1T','smb':{'user':7}"), "datastores[0].smb.user: must be a Windows user");
	BAD(DS("'name':'ds1','protocol':'smb','size':'1T','smb':{'max_channels':0}"), "datastores[0].smb.max_channels: must be an integer in 1..32");
	BAD(DS("'name':'ds1','protocol':'smb','size':'1T','smb':{'max_channels':33}"), "datastores[0].smb.max_channels: must be an integer in 1..32");
	BAD(DS("'name':'ds1','protocol':'smb','size':'1T','smb':{'credentials':'smb.cred'}"),
	    "datastores[0].smb.credentials: \"smb.cred\" is not an absolute path");
	BAD(DS("'name':'ds1','protocol':'smb','size':'1T','smb':{'credentials':'/etc//smb.cred'}"),
	    "datastores[0].smb.credentials: \"/etc//smb.cred\" is not normalised");
	BAD(DS("'name':'ds1','protocol':'smb','size':'1T','smb':{'credentials':true}"),
	    "datastores[0].smb.credentials: must be a string (an absolute path)");
}

static void test_paths(void)
{
	char long_path[DS_PATH_MAX + 2], *s;

	OK(DS("'name':'ds1','protocol':'iscsi','size':'1G','path':'/data/ds1'"));
	OK(DS("'name':'ds1','protocol':'iscsi','size':'1G','path':'/srv/kvmcd/other'"));
	OK(DS("'name':'ds1','protocol':'iscsi','size':'1G','path':'/var/lib/libvirt/images/ds1'"));
	OK(DS("'name':'ds1','protocol':'iscsi','size':'1G','path':'/data/.snap-1_x+y'"));
	BAD(DS("'name':'ds1','protocol':'iscsi','size':'1G','path':'data/ds1'"), "datastores[0].path: \"data/ds1\" is not an absolute path");
	BAD(DS("'name':'ds1','protocol':'iscsi','size':'1G','path':''"), "datastores[0].path: \"\" is not an absolute path");
	BAD(DS("'name':'ds1','protocol':'iscsi','size':'1G','path':'/'"), "datastores[0].path: \"/\" is the root directory");
	BAD(DS("'name':'ds1','protocol':'iscsi','size':'1G','path':1"), "datastores[0].path: must be a string (an absolute path)");
	static const char *const unnormal[] = { "/data//ds1", "/data/./ds1", "/data/../ds1", "/data/ds1/", "/data/.", "/..", "//data" };
	for (size_t i = 0; i < sizeof(unnormal) / sizeof(unnormal[0]); i++) {
		char spec[256], want[128];
		snprintf(spec, sizeof(spec), DS("'name':'ds1','protocol':'iscsi','size':'1G','path':'%s'"), unnormal[i]);
		snprintf(want, sizeof(want), "datastores[0].path: \"%s\" is not normalised (no \"//\", no \".\" or \"..\" component, no trailing \"/\")",
			 unnormal[i]);
		BAD(spec, want);
	}
	BAD(DS("'name':'ds1','protocol':'iscsi','size':'1G','path':'/data/my ds'"),
	    "datastores[0].path: \"/data/my ds\" has a character other than A-Z a-z 0-9 . _ + - /");
	BAD(DS("'name':'ds1','protocol':'iscsi','size':'1G','path':'/data/a\\\\b'"), "has a character other than");
	BAD(DS("'name':'ds1','protocol':'iscsi','size':'1G','path':'/data/\\u0001'"), "datastores[0].path: \"/data/?\" has a character");
	memset(long_path, 'a', sizeof(long_path));
	long_path[0] = '/';
	long_path[DS_PATH_MAX] = 0; /* DS_PATH_MAX bytes: fine */
	s = NULL;
	appendf(&s, DS("'name':'ds1','protocol':'iscsi','size':'1G','path':'%s'"), long_path);
	OK(s);
	free(s);
	long_path[DS_PATH_MAX] = 'a';
	long_path[DS_PATH_MAX + 1] = 0;
	s = NULL;
	appendf(&s, DS("'name':'ds1','protocol':'iscsi','size':'1G','path':'%s'"), long_path);
	BAD(s, "datastores[0].path: \"/aaaaaaaa", "...\" is longer than 200 bytes");
	free(s);

	/* the host's own directories */
	BAD(DS("'name':'ds1','protocol':'iscsi','size':'1G','path':'/etc'"),
	    "datastores[0].path: \"/etc\" is a directory of the host itself; mount a datastore below it (default /srv/kvmcd/<name>)");
	BAD(DS("'name':'ds1','protocol':'iscsi','size':'1G','path':'/srv/kvmcd'"), "datastores[0].path: \"/srv/kvmcd\" is a directory of the host itself");
	BAD(DS("'name':'ds1','protocol':'iscsi','size':'1G','path':'/var'"), "datastores[0].path: \"/var\" is a directory of the host itself");
	BAD(DS("'name':'ds1','protocol':'iscsi','size':'1G','path':'/proc/ds1'"),
	    "datastores[0].path: \"/proc/ds1\" is inside /proc, where a datastore may not be mounted");
	BAD(DS("'name':'ds1','protocol':'iscsi','size':'1G','path':'/tmp/x/ds1'"), "datastores[0].path: \"/tmp/x/ds1\" is inside /tmp");
	BAD(DS("'name':'ds1','protocol':'iscsi','size':'1G','path':'/var/tmp/ds1'"), "is inside /var/tmp");
	OK(DS("'name':'ds1','protocol':'iscsi','size':'1G','path':'/tmpdata/ds1'")); /* not inside /tmp */

	/* between datastores, after defaults */
	OK("{'datastores':[{'name':'ds1','protocol':'nfs','size':'1G','path':'/data/a'},"
	   "{'name':'ds2','protocol':'nfs','size':'1G','path':'/data/ab'},{'name':'ds3','protocol':'nfs','size':'1G'}]}");
	BAD("{'datastores':[{'name':'ds1','protocol':'nfs','size':'1G','path':'/data/a'},"
	    "{'name':'ds2','protocol':'nfs','size':'1G','path':'/data/a'}]}",
	    "datastores[1].path: \"/data/a\" is also the path of datastores[0]");
	BAD("{'datastores':[{'name':'ds1','protocol':'nfs','size':'1G','path':'/data/a'},"
	    "{'name':'ds2','protocol':'nfs','size':'1G','path':'/data/a/b'}]}",
	    "datastores[1].path: \"/data/a/b\" is inside \"/data/a\", the path of datastores[0]");
	BAD("{'datastores':[{'name':'ds1','protocol':'nfs','size':'1G','path':'/data/a/b'},"
	    "{'name':'ds2','protocol':'nfs','size':'1G','path':'/data/a'}]}",
	    "datastores[1].path: \"/data/a\" contains \"/data/a/b\", the path of datastores[0]");
	/* the explicit path is the one to fix, whichever comes first */
	BAD("{'datastores':[{'name':'ds1','protocol':'nfs','size':'1G','path':'/srv/kvmcd/ds2'},"
	    "{'name':'ds2','protocol':'nfs','size':'1G'}]}",
	    "datastores[0].path: \"/srv/kvmcd/ds2\" is also the path of datastores[1] (its default)");
	BAD("{'datastores':[{'name':'ds2','protocol':'nfs','size':'1G'},"
	    "{'name':'ds1','protocol':'nfs','size':'1G','path':'/srv/kvmcd/ds2/sub'}]}",
	    "datastores[1].path: \"/srv/kvmcd/ds2/sub\" is inside \"/srv/kvmcd/ds2\", the path of datastores[0] (its default)");
}

static void test_whole(void)
{
	struct spec_problems p = { 0 };
	char *s, *joined;

	/* every problem at once, each with its path */
	CHECK(parse("{'nodes':[{'name':'kvm1','id':1}],'datastores':[{'name':'ds1','protocol':'nfs','size':'10g','fs':'gfs2','x':1},"
		    "{'name':'ds1','protocol':'iscsi','size':'2T','nfs':{},'path':'/srv/kvmcd/ds1'}]}", &p) == -EINVAL,
	      "accepted");
	CHECK(has(&p, "datastores[0]: unknown key \"x\""), "%s", all(&p));
	CHECK(has(&p, "datastores[0].size: \"10g\""), "%s", all(&p));
	CHECK(has(&p, "datastores[0].fs: only for block protocols"), "%s", all(&p));
	CHECK(has(&p, "datastores[1].nfs: only for protocol nfs"), "%s", all(&p));
	CHECK(has(&p, "datastores[1].name: \"ds1\" already used by datastores[0]"), "%s", all(&p));
	CHECK(has(&p, "datastores[1].path: \"/srv/kvmcd/ds1\" is also the path of datastores[0] (its default)"), "%s", all(&p));
	CHECK(p.n == 6, "6 problems, got %u: %s", p.n, all(&p));
	spec_problems_clear(&p);

	/* SPEC_MAX_PROBLEMS holds: the rest is counted */
	s = NULL;
	appendf(&s, "{'datastores':[");
	for (unsigned i = 0; i < 200; i++)
		appendf(&s, "%s{'name':'D%u','protocol':'x','size':'1g'}", i ? "," : "", i);
	appendf(&s, "]}");
	CHECK(parse(s, &p) == -EINVAL && p.n == SPEC_MAX_PROBLEMS && p.dropped == 600 - SPEC_MAX_PROBLEMS, "n %u dropped %u",
	      p.n, p.dropped);
	joined = spec_problems_join(&p);
	CHECK(joined && strstr(joined, "(and 500 more problems)"), "joined");
	free(joined);
	spec_problems_clear(&p);
	free(s);
}

static void test_list(void)
{
	json_t *spec;
	struct ds_spec *ds = (void *)1;
	size_t n = 7;

	CHECK(!strcmp(ds_protocol_name(DS_PROTO_ISCSI), "iscsi") && !strcmp(ds_protocol_name(DS_PROTO_NVME_TCP), "nvme-tcp") &&
	      !strcmp(ds_protocol_name(DS_PROTO_SMB), "smb") && !strcmp(ds_protocol_name(_DS_PROTO_MAX), "unknown"), "protocol names");
	CHECK(!strcmp(ds_fs_name(DS_FS_NONE), "none") && !strcmp(ds_fs_name(DS_FS_OCFS2), "ocfs2") &&
	      !strcmp(ds_fs_name(DS_FS_GFS2), "gfs2") && !strcmp(ds_fs_name((enum ds_fs)-1), "unknown"), "fs names");

	spec = load("{}");
	CHECK(ds_spec_list(spec, &ds, &n) == 0 && !ds && n == 0, "no datastores");
	json_decref(spec);

	spec = load("{'datastores':[{'name':'ds1','protocol':'iscsi','size':'1G'}],'bad':1}");
	ds = (void *)1;
	CHECK(ds_spec_list(spec, &ds, &n) == -EINVAL && ds == (void *)1, "invalid spec listed");
	json_decref(spec);

	spec = load("{'nodes':[{'name':'kvm1','id':1}],'datastores':["
		    "{'name':'ds1','protocol':'iscsi','size':'100G'},"
		    "{'name':'ds2','protocol':'fc','size':2199023255552,'fs':'gfs2','path':'/data/ds2'},"
		    "{'name':'nfs1','protocol':'nfs','size':'1T'},"
		    "{'name':'nfs2','protocol':'nfs','size':'1T','nfs':{'version':'4.2','nconnect':8,'trunkdiscovery':true}},"
		    "{'name':'smb1','protocol':'smb','size':'512G','smb':{'multichannel':true,'max_channels':4,'credentials':'/etc/kvmcd/smb1','user':'LAB\\\\kvm'}},"
		    "{'name':'nv1','protocol':'nvme-tcp','size':'128T'}]}");
	ds = NULL;
	CHECK(ds_spec_list(spec, &ds, &n) == 0 && n == 6, "listed %zu", n);
	if (n == 6) {
		CHECK(!strcmp(ds[0].name, "ds1") && ds[0].protocol == DS_PROTO_ISCSI && ds[0].size == 100ull << 30 &&
		      ds[0].fs == DS_FS_OCFS2 && !strcmp(ds[0].path, "/srv/kvmcd/ds1") && !ds[0].nfs.version &&
		      !ds[0].smb.credentials, "ds1 defaults");
		CHECK(!strcmp(ds[1].name, "ds2") && ds[1].protocol == DS_PROTO_FC && ds[1].size == 2ull << 40 &&
		      ds[1].fs == DS_FS_GFS2 && !strcmp(ds[1].path, "/data/ds2"), "ds2 explicit");
		CHECK(ds[2].protocol == DS_PROTO_NFS && ds[2].fs == DS_FS_NONE && !strcmp(ds[2].path, "/srv/kvmcd/nfs1") &&
		      !strcmp(ds[2].nfs.version, "4.1") && ds[2].nfs.nconnect == 0 && !ds[2].nfs.trunkdiscovery, "nfs1 defaults");
		CHECK(!strcmp(ds[3].nfs.version, "4.2") && ds[3].nfs.nconnect == 8 && ds[3].nfs.trunkdiscovery, "nfs2 options");
		CHECK(ds[4].protocol == DS_PROTO_SMB && ds[4].fs == DS_FS_NONE && ds[4].size == 512ull << 30 &&
		      ds[4].smb.multichannel && ds[4].smb.max_channels == 4 && !strcmp(ds[4].smb.credentials, "/etc/kvmcd/smb1") &&
		      !strcmp(ds[4].smb.user ?: "", "LAB\\kvm") && !ds[4].nfs.version && !ds[0].smb.user, "smb1 options");
		CHECK(ds[5].protocol == DS_PROTO_NVME_TCP && ds[5].size == 128ull << 40 && ds[5].fs == DS_FS_OCFS2 &&
		      !strcmp(ds[5].path, "/srv/kvmcd/nv1"), "nv1 defaults");
		CHECK(ds_is_block(ds[5].protocol) && !ds_is_block(ds[4].protocol), "ds_is_block");
	}
	free(ds);
	json_decref(spec);
}

static void test_change(void)
{
	struct spec_problems p = { 0 };
	json_t *from = load("{'datastores':[{'name':'ds1','protocol':'iscsi','size':'100G'},"
			    "{'name':'ds2','protocol':'nfs','size':'1T'},{'name':'ds3','protocol':'fc','size':'1T','fs':'gfs2'}]}");
	json_t *to;

#define CHANGE_OK(text) do { \
	to = load(text); \
	CHECK(spec_validate_change(from, to, &p) == 0 && p.n == 0, "refused %s: %s", text, all(&p)); \
	spec_problems_clear(&p); \
	json_decref(to); \
} while (0)
#define CHANGE_BAD(text, needle) do { \
	to = load(text); \
	CHECK(spec_validate_change(from, to, &p) == -EINVAL && has(&p, needle), "%s: want '%s', got %s", text, needle, all(&p)); \
	spec_problems_clear(&p); \
	json_decref(to); \
} while (0)

	/* grow, respell, move, reorder, add, remove: allowed */
	CHANGE_OK("{'datastores':[{'name':'ds1','protocol':'iscsi','size':'200G','path':'/data/ds1','fs':'ocfs2'},"
		  "{'name':'ds3','protocol':'fc','size':1099511627776,'fs':'gfs2'},{'name':'ds4','protocol':'smb','size':'1G'}]}");
	CHANGE_OK("{}");
	CHANGE_OK("{'datastores':[{'name':'ds2','protocol':'nfs','size':'1024G','nfs':{'version':'3'}}]}");
	/* a renamed datastore is a new one (the plan removes the old) */
	CHANGE_OK("{'datastores':[{'name':'ds9','protocol':'nfs','size':'1G'}]}");

	CHANGE_BAD("{'datastores':[{'name':'ds2','protocol':'nfs','size':'1T'},{'name':'ds1','protocol':'nvme-tcp','size':'100G'}]}",
		   "datastores[1].protocol: ds1 is iscsi in the spec in force; a datastore's protocol cannot change");
	CHANGE_BAD("{'datastores':[{'name':'ds1','protocol':'iscsi','size':'100G','fs':'gfs2'}]}",
		   "datastores[0].fs: ds1 is ocfs2 (the default) in the spec in force; a datastore's file system cannot change");
	CHANGE_BAD("{'datastores':[{'name':'ds3','protocol':'fc','size':'1T'}]}",
		   "datastores[0].fs: ds3 is gfs2 in the spec in force; a datastore's file system cannot change");
	CHANGE_BAD("{'datastores':[{'name':'ds1','protocol':'iscsi','size':'99G'}]}",
		   "datastores[0].size: ds1 would shrink from 100G to 99G; a datastore only grows");
	CHANGE_BAD("{'datastores':[{'name':'ds2','protocol':'nfs','size':1099511627775}]}",
		   "datastores[0].size: ds2 would shrink from 1T to 1099511627775; a datastore only grows");
	/* every problem at once */
	to = load("{'datastores':[{'name':'ds1','protocol':'nfs','size':'1G'},{'name':'ds3','protocol':'fc','size':'1G','fs':'ocfs2'}]}");
	CHECK(spec_validate_change(from, to, &p) == -EINVAL && p.n == 4, "4 problems: %s", all(&p));
	CHECK(has(&p, "datastores[0].protocol") && has(&p, "datastores[0].size") && has(&p, "datastores[1].fs") &&
	      has(&p, "datastores[1].size"), "%s", all(&p));
	spec_problems_clear(&p);

	/* no spec in force, or one today's rules would refuse: what can be read is compared */
	CHECK(spec_validate_change(NULL, to, &p) == 0 && p.n == 0, "NULL from");
	json_decref(from);
	from = load("{'datastores':[{'name':'ds1','protocol':'nfs','size':'100G','extra':1},7,{'name':3},{'name':'ds3','size':'2x'}]}");
	CHECK(spec_validate_change(from, to, &p) == -EINVAL && p.n == 1 && has(&p, "datastores[0].size: ds1 would shrink from 100G to 1G"),
	      "loose from: %s", all(&p));
	spec_problems_clear(&p);
	json_decref(to);
	json_decref(from);
#undef CHANGE_OK
#undef CHANGE_BAD
}

/* "clone" (datastore.h "Clones"): its shape, its parent's kind, and only when added. */
static void test_clone(void)
{
	struct spec_problems p = { 0 };
	struct ds_spec *ds = NULL;
	size_t n = 0;
	json_t *from, *to;

	OK("{'datastores':[{'name':'ds1','protocol':'iscsi','size':'1G'},"
	   "{'name':'ds1c','protocol':'iscsi','size':'1G','clone':{'parent':'ds1','snapshot':'kvmcd.gold.1h.20260101T0000Z'}}]}");
	/* the parent need not be in the spec any more (its clone is a volume of its own) */
	OK(DS("'name':'ds1c','protocol':'iscsi','size':'1G','clone':{'parent':'gone','snapshot':'s1'}"));
	BAD(DS("'name':'c','protocol':'nfs','size':'1G','clone':'ds1'"), "datastores[0].clone: must be an object");
	BAD(DS("'name':'c','protocol':'nfs','size':'1G','clone':{'parent':'ds1'}"), "datastores[0].clone.snapshot: must be");
	BAD(DS("'name':'c','protocol':'nfs','size':'1G','clone':{'parent':'ds1','snapshot':'a b'}"), "datastores[0].clone.snapshot");
	BAD(DS("'name':'c','protocol':'nfs','size':'1G','clone':{'parent':'Bad/','snapshot':'s'}"), "datastores[0].clone.parent");
	OK(DS("'name':'c','protocol':'nfs','size':'1G','clone':{'parent':'ds1','snapshot':'s','split':true}"));
	BAD(DS("'name':'c','protocol':'nfs','size':'1G','clone':{'parent':'ds1','snapshot':'s','split':'yes'}"),
	    "datastores[0].clone.split: must be true or false");
	BAD(DS("'name':'c','protocol':'nfs','size':'1G','clone':{'parent':'ds1','snapshot':'s','spilt':true}"),
	    "datastores[0].clone: unknown key \"spilt\" (known: parent, snapshot, split)");
	BAD(DS("'name':'c','protocol':'nfs','size':'1G','clone':{'parent':'c','snapshot':'s'}"), "cloned from itself");
	BAD("{'datastores':[{'name':'ds1','protocol':'iscsi','size':'1G'},"
	    "{'name':'c','protocol':'nvme-tcp','size':'1G','clone':{'parent':'ds1','snapshot':'s'}}]}",
	    "datastores[1].protocol: a clone has its parent's protocol (ds1 is iscsi)");
	BAD("{'datastores':[{'name':'ds1','protocol':'iscsi','size':'1G'},"
	    "{'name':'c','protocol':'iscsi','size':'1G','fs':'gfs2','clone':{'parent':'ds1','snapshot':'s'}}]}",
	    "datastores[1].fs: a clone has its parent's file system (ds1 is ocfs2)");

	to = load("{'datastores':[{'name':'ds1','protocol':'iscsi','size':'1G'},"
		  "{'name':'c','protocol':'iscsi','size':'2G','clone':{'parent':'ds1','snapshot':'s1'}}]}");
	CHECK(ds_spec_list(to, &ds, &n) == 0 && n == 2 && !ds[0].clone.parent && !strcmp(ds[1].clone.parent, "ds1") &&
	      !strcmp(ds[1].clone.snapshot, "s1"), "ds_spec_list reads clone");
	free(ds);

	/* added: the parent is in the spec in force, the size at least its */
	from = load("{'datastores':[{'name':'ds1','protocol':'iscsi','size':'1G'}]}");
	CHECK(spec_validate_change(from, to, &p) == 0, "a clone added: %s", all(&p));
	spec_problems_clear(&p);
	json_decref(from);
	from = load("{'datastores':[{'name':'ds1','protocol':'iscsi','size':'4G'}]}");
	CHECK(spec_validate_change(from, to, &p) == -EINVAL && has(&p, "datastores[1].size: a clone of ds1 holds its 4G at least (not 2G)"),
	      "smaller than its parent: %s", all(&p));
	spec_problems_clear(&p);
	json_decref(from);
	from = load("{'datastores':[{'name':'ds9','protocol':'iscsi','size':'1G'}]}");
	CHECK(spec_validate_change(from, to, &p) == -EINVAL && has(&p, "datastores[1].clone.parent: ds1 is not a datastore of the spec in force"),
	      "parent not in force: %s", all(&p));
	spec_problems_clear(&p);
	json_decref(from);
	/* existing: "clone" kept or dropped is fine, changed or added is refused */
	CHECK(spec_validate_change(to, to, &p) == 0, "unchanged: %s", all(&p));
	spec_problems_clear(&p);
	from = load("{'datastores':[{'name':'ds1','protocol':'iscsi','size':'1G'},{'name':'c','protocol':'iscsi','size':'2G'}]}");
	CHECK(spec_validate_change(to, from, &p) == 0, "clone dropped: %s", all(&p));
	spec_problems_clear(&p);
	CHECK(spec_validate_change(from, to, &p) == -EINVAL && has(&p, "datastores[1].clone: c exists; what it was cloned from cannot change"),
	      "clone added to an existing datastore: %s", all(&p));
	spec_problems_clear(&p);
	json_decref(from);
	/* "split" is the one part of an existing clone that may change (`datastore split`) */
	from = load("{'datastores':[{'name':'ds1','protocol':'iscsi','size':'1G'},"
		    "{'name':'c','protocol':'iscsi','size':'2G','clone':{'parent':'ds1','snapshot':'s1','split':true}}]}");
	CHECK(spec_validate_change(to, from, &p) == 0, "split added to an existing clone: %s", all(&p));
	spec_problems_clear(&p);
	CHECK(spec_validate_change(from, to, &p) == 0, "split dropped again (changes nothing on ONTAP): %s", all(&p));
	spec_problems_clear(&p);
	CHECK(ds_spec_list(from, &ds, &n) == 0 && n == 2 && ds[1].clone.split && !ds[0].clone.split, "ds_spec_list reads split");
	free(ds);
	CHECK(ds_spec_list(to, &ds, &n) == 0 && n == 2 && !ds[1].clone.split, "no split unless asked");
	free(ds);
	json_decref(from);
	from = load("{'datastores':[{'name':'ds1','protocol':'iscsi','size':'1G'},"
		    "{'name':'c','protocol':'iscsi','size':'2G','clone':{'parent':'ds1','snapshot':'s2','split':true}}]}");
	CHECK(spec_validate_change(to, from, &p) == -EINVAL && has(&p, "datastores[1].clone: c exists; what it was cloned from cannot change"),
	      "split with another snapshot: %s", all(&p));
	spec_problems_clear(&p);
	json_decref(from);
	json_decref(to);
}

/* "restore" (datastore.h "Restores"): its shape, and that only a new request counts as added. */
static void test_restore(void)
{
	json_t *a, *b;

	OK("{'datastores':[{'name':'ds1','protocol':'iscsi','size':'1G'}],'restore':{'ds1':{'snapshot':'kvmcd.gold.1h.x','id':'n1.17.1'}}}");
	OK("{'datastores':[{'name':'ds1','protocol':'iscsi','size':'1G'}],'restore':{}}");
	BAD("{'datastores':[],'restore':{'ds9':{'snapshot':'s','id':'i'}}}", "restore.ds9: not a datastore of \"datastores\"");
	BAD("{'restore':[]}", "restore: must be an object");
	BAD("{'datastores':[{'name':'ds1','protocol':'nfs','size':'1G'}],'restore':{'ds1':{'snapshot':'s'}}}", "restore.ds1.id: must be");
	BAD("{'datastores':[{'name':'ds1','protocol':'nfs','size':'1G'}],'restore':{'ds1':{'snapshot':'a b','id':'x'}}}",
	    "restore.ds1.snapshot: must be");
	BAD("{'datastores':[{'name':'ds1','protocol':'nfs','size':'1G'}],'restore':{'ds1':{'snapshot':'s','id':'x','when':1}}}",
	    "restore.ds1: unknown key \"when\"");
	OK("{'datastores':[{'name':'ds1','protocol':'nfs','size':'1G'}],'restore':{'ds1':{'snapshot':'s','id':'x','restart_vms':['vm1','gone']}}}");
	BAD("{'datastores':[{'name':'ds1','protocol':'nfs','size':'1G'}],'restore':{'ds1':{'snapshot':'s','id':'x','restart_vms':'vm1'}}}",
	    "restore.ds1.restart_vms: must be an array");
	BAD("{'datastores':[{'name':'ds1','protocol':'nfs','size':'1G'}],'restore':{'ds1':{'snapshot':'s','id':'x','restart_vms':['a b']}}}",
	    "restore.ds1.restart_vms[0]: must be a VM name");
	BAD("{'datastores':[{'name':'ds1','protocol':'nfs','size':'1G'}],'restore':{'ds1':{'snapshot':'s','id':'x','restart_vms':['v','w','v']}}}",
	    "restore.ds1.restart_vms[2]: \"v\" is listed twice");
	a = load("{'restore':{'ds1':{'snapshot':'s','id':'i1','restart_vms':['v']}}}");
	b = load("{'restore':{'ds1':{'snapshot':'s','id':'i1'}}}");
	CHECK(!ds_restore_added(a, b), "restart_vms dropped: no new request");
	json_decref(b);
	b = load("{'restore':{'ds1':{'snapshot':'s2','id':'i1','restart_vms':['v']}}}");
	CHECK(ds_restore_added(a, b) && !strcmp(ds_restore_added(a, b), "ds1"), "another snapshot is a new request");
	json_decref(b);
	json_decref(a);
	a = load("{'restore':{'ds1':{'snapshot':'s','id':'i1'}}}");
	b = load("{'restore':{'ds1':{'snapshot':'s','id':'i1'}}}");
	CHECK(!ds_restore_added(a, b) && !ds_restore_added(a, NULL), "the request in force, or none: nothing added");
	json_decref(b);
	b = load("{'restore':{'ds1':{'snapshot':'s','id':'i2'}}}");
	CHECK(ds_restore_added(a, b) && !strcmp(ds_restore_added(a, b), "ds1"), "another id is a new request");
	CHECK(ds_restore_added(NULL, b) && !strcmp(ds_restore_added(NULL, b), "ds1"), "added to a spec without one");
	json_decref(a);
	json_decref(b);
}

static void test_diff(void)
{
	json_t *a = load("{'labels':{'env':'prod'},'datastores':[{'name':'ds1','protocol':'iscsi','size':'100G'},"
			 "{'name':'ds2','protocol':'nfs','size':1099511627776}]}");
	json_t *b;
	char *d;

#define DIFF(text) (b = load(text), d = spec_diff(a, b), json_decref(b), d ? d : strdup("(null)"))
	/* reordering is no change */
	d = DIFF("{'labels':{'env':'prod'},'datastores':[{'name':'ds2','protocol':'nfs','size':1099511627776},"
		 "{'size':'100G','protocol':'iscsi','name':'ds1'}]}");
	CHECK(!*d, "reorder: %s", d);
	free(d);

	/* added and removed: one line each with the whole entry */
	d = DIFF("{'labels':{'env':'prod'},'datastores':[{'name':'ds2','protocol':'nfs','size':1099511627776},"
		 "{'name':'ds3','protocol':'smb','size':'1T','smb':{'multichannel':true}}]}");
	CHECK(!strcmp(d, "- datastores[name=ds1] = {\"name\":\"ds1\",\"protocol\":\"iscsi\",\"size\":\"100G\"}\n"
			 "+ datastores[name=ds3] = {\"name\":\"ds3\",\"protocol\":\"smb\",\"size\":\"1T\",\"smb\":{\"multichannel\":true}}\n"),
	      "add/remove:\n%s", d);
	free(d);

	/* changed: one line per leaf, sizes readable */
	d = DIFF("{'labels':{'env':'prod'},'datastores':[{'name':'ds1','protocol':'iscsi','size':'200G','fs':'ocfs2'},"
		 "{'name':'ds2','protocol':'nfs','size':2199023255552,'nfs':{'nconnect':4}}]}");
	CHECK(!strcmp(d, "+ datastores[name=ds1].fs = \"ocfs2\"\n"
			 "~ datastores[name=ds1].size: \"100G\" -> \"200G\"\n"
			 "+ datastores[name=ds2].nfs.nconnect = 4\n"
			 "~ datastores[name=ds2].size: 1099511627776 -> 2199023255552 (1T -> 2T)\n"),
	      "changes:\n%s", d);
	free(d);

	/* a respelled size is no resize */
	d = DIFF("{'labels':{'env':'prod'},'datastores':[{'name':'ds1','protocol':'iscsi','size':'102400M'},"
		 "{'name':'ds2','protocol':'nfs','size':'1T'}]}");
	CHECK(!strcmp(d, "~ datastores[name=ds1].size: \"100G\" -> \"102400M\" (same size)\n"
			 "~ datastores[name=ds2].size: 1099511627776 -> \"1T\" (same size)\n"),
	      "respelled:\n%s", d);
	free(d);

	/* from nothing */
	json_decref(a);
	a = json_object();
	d = DIFF("{'datastores':[{'name':'ds1','protocol':'iscsi','size':'100G'}]}");
	CHECK(!strcmp(d, "+ datastores[name=ds1] = {\"name\":\"ds1\",\"protocol\":\"iscsi\",\"size\":\"100G\"}\n"), "from {}:\n%s", d);
	free(d);
	json_decref(a);
#undef DIFF
}

/* "destroy_data": the names of removed datastores whose data the user asked to destroy. */
static void test_destroy_data(void)
{
	json_t *from, *to;

	OK("{'destroy_data':[]}");
	OK("{'destroy_data':['ds1','ds_2']}");
	OK("{'datastores':[{'name':'ds1','protocol':'nfs','size':'1G'}],'destroy_data':['ds2']}");
	BAD("{'destroy_data':'ds1'}", "destroy_data: must be an array of datastore names");
	BAD("{'destroy_data':['DS1',7]}", "destroy_data[0]: \"DS1\": must be a datastore name",
	    "destroy_data[1]: must be a datastore name");
	BAD("{'destroy_data':['ds1','ds2','ds1']}", "destroy_data[2]: \"ds1\" already listed at destroy_data[0]");
	/* never a datastore of the spec: re-creating one means taking it out of destroy_data */
	BAD("{'datastores':[{'name':'ds0','protocol':'nfs','size':'1G'},{'name':'ds1','protocol':'nfs','size':'1G'}],'destroy_data':['ds1']}",
	    "destroy_data[0]: \"ds1\" is also datastores[1]: a datastore of the spec is never destroyed");
	{
		char *s = NULL, *w;
		appendf(&s, "{'destroy_data':[");
		for (unsigned i = 0; i <= DS_MAX_DATASTORES; i++)
			appendf(&s, "%s'ds%u'", i ? "," : "", i);
		appendf(&s, "]}");
		BAD(s, "destroy_data: 257 entries, at most 256 allowed");
		w = strrchr(s, ',');
		strcpy(w, "]}");
		OK(s);
		free(s);
	}

	/* what a change adds: the only thing a plain spec apply may not do */
	from = load("{'datastores':[{'name':'ds1','protocol':'nfs','size':'1G'}],'destroy_data':['ds0']}");
	to = load("{'destroy_data':['ds0','ds1']}");
	CHECK(ds_destroy_data_added(from, to) && !strcmp(ds_destroy_data_added(from, to), "ds1"), "ds1 added");
	CHECK(ds_destroy_data_added(NULL, to) && !strcmp(ds_destroy_data_added(NULL, to), "ds0"), "from nothing: ds0 added");
	CHECK(!ds_destroy_data_added(to, from), "taking names out adds nothing");
	CHECK(!ds_destroy_data_added(from, from), "the same list adds nothing");
	CHECK(ds_destroy_data_has(to, "ds1") && !ds_destroy_data_has(from, "ds1") && !ds_destroy_data_has(NULL, "ds1"),
	      "ds_destroy_data_has");
	json_decref(from);
	json_decref(to);
}

int main(void)
{
	test_names_and_keys();
	test_sizes();
	test_fs_and_nodes();
	test_nfs_smb();
	test_paths();
	test_whole();
	test_list();
	test_change();
	test_clone();
	test_restore();
	test_diff();
	test_destroy_data();
	return tap_done("test-datastore-spec");
}
