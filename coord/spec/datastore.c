/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The spec's datastores: validation, sizes, defaults and the refusals against the spec in
 * force. Pure; see datastore.h for the rules. */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "datastore.h"
#include "macros.h"
#include "vm.h"

#define PROTOCOL_LIST "iscsi, fc, nvme-tcp, nfs, smb"
#define UNITS_ACCEPTED "units are K M G T P (powers of 1024, upper case, no B)"
#define NFS_NCONNECT_MAX 16
#define SMB_MAX_CHANNELS_MAX 32
#define SHOWN_MAX 64 /* a user's string quoted in a message, with its terminator */

static const char *const protocol_names[_DS_PROTO_MAX] = {
	[DS_PROTO_ISCSI] = "iscsi", [DS_PROTO_FC] = "fc", [DS_PROTO_NVME_TCP] = "nvme-tcp",
	[DS_PROTO_NFS] = "nfs", [DS_PROTO_SMB] = "smb",
};
static const char *const fs_names[_DS_FS_MAX] = {
	[DS_FS_NONE] = "none", [DS_FS_OCFS2] = "ocfs2", [DS_FS_GFS2] = "gfs2",
};
static const unsigned fs_max_nodes[_DS_FS_MAX] = {
	[DS_FS_OCFS2] = DS_OCFS2_MAX_NODES, [DS_FS_GFS2] = DS_GFS2_MAX_NODES,
};
/* NFS versions a datastore may ask for; session trunking (trunkdiscovery) is 4.1 and later. */
static const struct {
	const char *name;
	bool trunking;
} nfs_versions[] = { { "3", false }, { "4", false }, { "4.1", true }, { "4.2", true } };
#define NFS_VERSION_DEFAULT "4.1"

/* Directories a datastore may not be mounted on (the host's own), and trees it may not be
 * mounted inside (pseudo file systems, tmpfs, tmpfiles-aged, the OS itself). */
static const char *const system_dirs[] = {
	"/bin", "/boot", "/dev", "/etc", "/home", "/lib", "/lib32", "/lib64", "/media", "/mnt", "/opt",
	"/proc", "/root", "/run", "/sbin", "/srv", "/sys", "/tmp", "/usr", "/var", "/var/lib",
	"/var/lib/libvirt", "/var/lib/libvirt/images", "/var/log", "/var/tmp", DS_PATH_DEFAULT_DIR,
};
static const char *const system_trees[] = {
	"/proc", "/sys", "/dev", "/run", "/tmp", "/var/tmp", "/boot", "/etc", "/usr",
};

const char *ds_protocol_name(enum ds_protocol p)
{
	return (unsigned)p < _DS_PROTO_MAX ? protocol_names[p] : "unknown";
}

const char *ds_fs_name(enum ds_fs fs)
{
	return (unsigned)fs < _DS_FS_MAX ? fs_names[fs] : "unknown";
}

static int protocol_of(const char *s)
{
	for (int i = 0; i < _DS_PROTO_MAX; i++)
		if (!strcmp(s, protocol_names[i]))
			return i;
	return -1;
}

static int fs_of(const char *s)
{
	for (int i = DS_FS_OCFS2; i < _DS_FS_MAX; i++)
		if (!strcmp(s, fs_names[i]))
			return i;
	return -1;
}

/*
 * A user's string as a message quotes it: at most SHOWN_MAX - 4 bytes (cut on a UTF-8 character
 * boundary, then "..."), control characters as '?', so a problem stays one printable line of
 * valid UTF-8 (the API sends problems as JSON strings).
 */
static const char *shown(const char *s, char buf[static SHOWN_MAX])
{
	size_t n = strlen(s), i;
	bool cut = n > SHOWN_MAX - 4;

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

static bool name_ok(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n > DS_NAME_MAX || s[0] < 'a' || s[0] > 'z')
		return false;
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') || s[i] == '_'))
			return false;
	return true;
}

/* ---- sizes -------------------------------------------------------------------------------- */

static int unit_shift(char c)
{
	const char *units = "KMGTP", *u = c ? strchr(units, c) : NULL;

	return u ? 10 * (int)(u - units + 1) : -1;
}

_printf_(3, 4) static void say(char *why, size_t why_len, const char *fmt, ...)
{
	va_list ap;

	if (!why || !why_len)
		return;
	va_start(ap, fmt);
	vsnprintf(why, why_len, fmt, ap);
	va_end(ap);
}

/* Parses "<digits>" at s into *v; returns the first byte after them. Overflow sets *over. */
static const char *digits(const char *s, uint64_t *v, bool *over)
{
	*v = 0;
	*over = false;
	for (; *s >= '0' && *s <= '9'; s++) {
		uint64_t d = (uint64_t)(*s - '0');
		if (*v > (UINT64_MAX - d) / 10)
			*over = true;
		else
			*v = *v * 10 + d;
	}
	return s;
}

/* "1.5T" -> "1536G" when the decimal is a whole number of the next smaller unit; else "". */
static void decimal_hint(const char *s, char *hint, size_t len)
{
	uint64_t whole, frac, scale = 1;
	bool over;
	const char *p = digits(s, &whole, &over), *f = p + 1, *end;
	size_t nf;
	int shift;

	*hint = 0;
	if (over || *p != '.')
		return;
	end = digits(f, &frac, &over);
	nf = (size_t)(end - f);
	shift = unit_shift(*end);
	if (over || nf == 0 || nf > 15 || shift < 0 || end[1])
		return;
	for (size_t i = 0; i < nf; i++)
		scale *= 10;
	/* in the next smaller unit: whole * 1024 + frac * 1024 / scale, exact or nothing */
	if ((frac << 10) % scale || whole > (UINT64_MAX >> 10) - ((frac << 10) / scale))
		return;
	if (shift == 10)
		snprintf(hint, len, " (%s is %" PRIu64 " bytes, a JSON number)", s, (whole << 10) + (frac << 10) / scale);
	else
		snprintf(hint, len, " (write \"%" PRIu64 "%c\")", (whole << 10) + (frac << 10) / scale,
			 "KMGTP"[shift / 10 - 2]);
}

int ds_size_parse(const json_t *v, uint64_t *bytes, char *why, size_t why_len)
{
	char buf[SHOWN_MAX], hint[80];
	const char *s, *end;
	uint64_t n;
	bool over;
	int shift;

	if (json_is_integer(v)) {
		if (json_integer_value(v) < 0) {
			say(why, why_len, "%" JSON_INTEGER_FORMAT " is negative; a size is a number of bytes",
			    json_integer_value(v));
			return -EINVAL;
		}
		*bytes = (uint64_t)json_integer_value(v);
		return 0;
	}
	if (!json_is_string(v)) {
		say(why, why_len, "must be a whole number of bytes or a string such as \"100G\"; " UNITS_ACCEPTED);
		return -EINVAL;
	}
	s = json_string_value(v);
	shown(s, buf);
	end = digits(s, &n, &over);
	if (end == s) {
		say(why, why_len, "\"%s\" is not a size: write a whole number of bytes (107374182400) or digits and a unit (\"100G\"); " UNITS_ACCEPTED,
		    buf);
		return -EINVAL;
	}
	if (*end == '.') {
		decimal_hint(s, hint, sizeof(hint));
		say(why, why_len, "\"%s\": whole numbers only, use a smaller unit%s; " UNITS_ACCEPTED, buf, hint);
		return -EINVAL;
	}
	if (!*end) {
		say(why, why_len, "\"%s\" has no unit: a size in a string needs one (\"%sG\"), bytes are a JSON number (%s); " UNITS_ACCEPTED,
		    buf, buf, buf);
		return -EINVAL;
	}
	shift = unit_shift(*end);
	if (shift < 0 || end[1]) {
		char ubuf[SHOWN_MAX];
		/* a lower-case unit gets its spelling; anything else only the rule */
		if (!end[1] && strchr("kmgtp", *end))
			snprintf(hint, sizeof(hint), " (write \"%.*s%c\")", (int)(end - s < 40 ? end - s : 40), s,
				 *end - 'a' + 'A');
		else
			*hint = 0;
		say(why, why_len, "\"%s\": unknown unit \"%s\"%s; " UNITS_ACCEPTED, buf, shown(end, ubuf), hint);
		return -EINVAL;
	}
	if (over || n > (UINT64_MAX >> shift)) {
		say(why, why_len, "\"%s\" is larger than 64 bits of bytes", buf);
		return -ERANGE;
	}
	*bytes = n << shift;
	return 0;
}

const char *ds_size_format(uint64_t bytes, char *buf)
{
	int shift = 0;

	while (bytes && shift < 50 && !(bytes & ((1ull << (shift + 10)) - 1)))
		shift += 10;
	if (shift)
		snprintf(buf, DS_SIZE_TEXT_MAX, "%" PRIu64 "%c", bytes >> shift, "KMGTP"[shift / 10 - 1]);
	else
		snprintf(buf, DS_SIZE_TEXT_MAX, "%" PRIu64, bytes);
	return buf;
}

/* ---- paths -------------------------------------------------------------------------------- */

static bool path_char_ok(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || strchr("._+-", c);
}

/* a is b or inside b */
static bool path_within(const char *a, const char *b)
{
	size_t n = strlen(b);

	return !strncmp(a, b, n) && (a[n] == '/' || a[n] == 0);
}

/* Checks an absolute, normalised path; reports "<where>: ..." and returns false when it is not. */
static bool path_check(const json_t *v, const char *where, struct spec_problems *p)
{
	char buf[SHOWN_MAX];
	const char *s, *c;
	size_t n;

	if (!json_is_string(v)) {
		spec_problem(p, "%s: must be a string (an absolute path)", where);
		return false;
	}
	s = json_string_value(v);
	n = strlen(s);
	shown(s, buf);
	if (s[0] != '/') {
		spec_problem(p, "%s: \"%s\" is not an absolute path", where, buf);
		return false;
	}
	if (n > DS_PATH_MAX) {
		spec_problem(p, "%s: \"%s\" is longer than %u bytes", where, buf, DS_PATH_MAX);
		return false;
	}
	if (n == 1) {
		spec_problem(p, "%s: \"/\" is the root directory", where);
		return false;
	}
	for (c = s; *c; ) {
		const char *start = ++c; /* after a '/' */
		size_t len;
		while (*c && *c != '/')
			c++;
		len = (size_t)(c - start);
		if (len == 0 || (len == 1 && start[0] == '.') || (len == 2 && start[0] == '.' && start[1] == '.')) {
			spec_problem(p, "%s: \"%s\" is not normalised (no \"//\", no \".\" or \"..\" component, no trailing \"/\")",
				     where, buf);
			return false;
		}
		for (size_t i = 0; i < len; i++)
			if (!path_char_ok(start[i])) {
				spec_problem(p, "%s: \"%s\" has a character other than A-Z a-z 0-9 . _ + - /", where, buf);
				return false;
			}
	}
	return true;
}

/* ---- validation --------------------------------------------------------------------------- */

/* What validating one entry learned, for the checks across entries. */
struct seen {
	const char *name;  /* a valid name, borrowed; NULL = none */
	const char *path;  /* the valid path in force (explicit or default); NULL = none */
	bool path_default; /* path is the default, owned (default_path) */
	char default_path[sizeof(DS_PATH_DEFAULT_DIR) + DS_NAME_MAX + 1];
};

static void validate_nfs(const json_t *o, const char *at, struct spec_problems *p)
{
	const json_t *version = json_object_get(o, "version"), *nconnect = json_object_get(o, "nconnect"),
		     *trunk = json_object_get(o, "trunkdiscovery");
	const char *k, *vname = NFS_VERSION_DEFAULT;
	bool trunking = true;
	json_t *v;

	json_object_foreach((json_t *)o, k, v)
		if (strcmp(k, "version") && strcmp(k, "nconnect") && strcmp(k, "trunkdiscovery")) {
			char buf[SHOWN_MAX];
			spec_problem(p, "%s.nfs: unknown key \"%s\" (known: version, nconnect, trunkdiscovery)", at,
				     shown(k, buf));
		}
	if (version) {
		size_t i = ARRAY_SIZE(nfs_versions);
		if (json_is_string(version))
			for (i = 0; i < ARRAY_SIZE(nfs_versions); i++)
				if (!strcmp(json_string_value(version), nfs_versions[i].name))
					break;
		if (i == ARRAY_SIZE(nfs_versions)) {
			spec_problem(p, "%s.nfs.version: must be one of \"3\", \"4\", \"4.1\", \"4.2\" (a string; default \"" NFS_VERSION_DEFAULT "\")",
				     at);
			vname = NULL;
		} else {
			vname = nfs_versions[i].name;
			trunking = nfs_versions[i].trunking;
		}
	}
	if (nconnect && (!json_is_integer(nconnect) || json_integer_value(nconnect) < 1 ||
			 json_integer_value(nconnect) > NFS_NCONNECT_MAX))
		spec_problem(p, "%s.nfs.nconnect: must be an integer in 1..%d (TCP connections per mount)", at,
			     NFS_NCONNECT_MAX);
	if (trunk && !json_is_boolean(trunk))
		spec_problem(p, "%s.nfs.trunkdiscovery: must be true or false", at);
	else if (json_is_true(trunk) && vname && !trunking)
		spec_problem(p, "%s.nfs.trunkdiscovery: needs NFS version 4.1 or 4.2 (session trunking); version is \"%s\"",
			     at, vname);
}

static void validate_smb(const json_t *o, const char *at, struct spec_problems *p)
{
	const json_t *multi = json_object_get(o, "multichannel"), *max = json_object_get(o, "max_channels"),
		     *cred = json_object_get(o, "credentials"), *user = json_object_get(o, "user");
	const char *k;
	json_t *v;

	json_object_foreach((json_t *)o, k, v)
		if (strcmp(k, "multichannel") && strcmp(k, "max_channels") && strcmp(k, "credentials") && strcmp(k, "user")) {
			char buf[SHOWN_MAX];
			spec_problem(p, "%s.smb: unknown key \"%s\" (known: multichannel, max_channels, credentials, user)", at,
				     shown(k, buf));
		}
	if (user) {
		const char *u = json_string_value(user);
		size_t n = u ? strlen(u) : 0;
		bool ok = n >= 1 && n <= DS_SMB_USER_MAX && u[0] != ' ' && u[n - 1] != ' ';
		for (const char *c = u; ok && *c; c++)
			ok = (unsigned char)*c >= 0x20 && *c != 0x7f && !strchr("\"/[]:;|=,+*?<>", *c);
		if (!ok)
			spec_problem(p, "%s.smb.user: must be a Windows user or group, \"DOMAIN\\name\" or \"name\" (1 to %u "
				     "characters, none of \" / [ ] : ; | = , + * ? < > or controls, no blank at either end)",
				     at, DS_SMB_USER_MAX);
	}
	if (multi && !json_is_boolean(multi))
		spec_problem(p, "%s.smb.multichannel: must be true or false", at);
	if (max && (!json_is_integer(max) || json_integer_value(max) < 1 ||
		    json_integer_value(max) > SMB_MAX_CHANNELS_MAX))
		spec_problem(p, "%s.smb.max_channels: must be an integer in 1..%d", at, SMB_MAX_CHANNELS_MAX);
	if (cred) {
		char where[64];
		snprintf(where, sizeof(where), "%s.smb.credentials", at);
		path_check(cred, where, p);
	}
}

static void validate_path(const json_t *v, const char *at, struct seen *seen, struct spec_problems *p)
{
	char where[56], buf[SHOWN_MAX];
	const char *s;

	snprintf(where, sizeof(where), "%s.path", at);
	if (!path_check(v, where, p))
		return;
	s = json_string_value(v);
	for (size_t i = 0; i < ARRAY_SIZE(system_dirs); i++)
		if (!strcmp(s, system_dirs[i])) {
			spec_problem(p, "%s: \"%s\" is a directory of the host itself; mount a datastore below it (default " DS_PATH_DEFAULT_DIR "/<name>)",
				     where, shown(s, buf));
			return;
		}
	for (size_t i = 0; i < ARRAY_SIZE(system_trees); i++)
		if (path_within(s, system_trees[i])) {
			spec_problem(p, "%s: \"%s\" is inside %s, where a datastore may not be mounted", where,
				     shown(s, buf), system_trees[i]);
			return;
		}
	seen->path = s;
}

/* A snapshot name as ONTAP takes it: 1..DS_SNAPSHOT_NAME_MAX bytes, no blank, no control byte,
 * none of the characters ONTAP refuses in names. */
static bool snapshot_name_ok(const char *s)
{
	size_t n = s ? strlen(s) : 0;

	if (n == 0 || n > DS_SNAPSHOT_NAME_MAX)
		return false;
	for (; *s; s++)
		if ((unsigned char)*s <= ' ' || *s == 0x7f || strchr("\"'*?/\\,;:|<>[]{}", *s))
			return false;
	return true;
}

/* "clone": {"parent": NAME, "snapshot": NAME, "split"?: bool}, shape only (the parent's existence and kind are
 * checked against the other entries in ds_validate() and against the spec in force in
 * spec_validate_change()). */
static void validate_clone(const json_t *c, const char *at, struct spec_problems *p)
{
	const json_t *parent = json_object_get(c, "parent"), *snap = json_object_get(c, "snapshot");
	char buf[SHOWN_MAX];
	const char *k;
	json_t *v;

	if (!c)
		return;
	if (!json_is_object(c)) {
		spec_problem(p, "%s.clone: must be an object {\"parent\": DATASTORE, \"snapshot\": NAME} (written by `kvmcctl datastore clone`)", at);
		return;
	}
	json_object_foreach((json_t *)c, k, v)
		if (strcmp(k, "parent") && strcmp(k, "snapshot") && strcmp(k, "split"))
			spec_problem(p, "%s.clone: unknown key \"%s\" (known: parent, snapshot, split)", at, shown(k, buf));
	if (json_object_get(c, "split") && !json_is_boolean(json_object_get(c, "split")))
		spec_problem(p, "%s.clone.split: must be true or false (true: split the clone from its parent, "
			     "`kvmcctl datastore split`)", at);
	if (!json_is_string(parent) || !name_ok(json_string_value(parent)))
		spec_problem(p, "%s.clone.parent: must be the name of the datastore it is cloned from", at);
	if (!json_is_string(snap) || !snapshot_name_ok(json_string_value(snap)))
		spec_problem(p, "%s.clone.snapshot: must be the name of one of the parent's snapshots (1-%u characters, no blank)",
			     at, DS_SNAPSHOT_NAME_MAX);
}

/* What can be read of one entry without trusting it (used on the spec in force as well). */
struct loose {
	const char *name;       /* NULL = unreadable */
	int protocol;           /* -1 = unreadable */
	int fs;                 /* with the default applied; -1 = unreadable */
	bool fs_default;
	bool has_size;
	uint64_t size;
};

static struct loose read_loose(const json_t *e)
{
	const json_t *name = json_object_get(e, "name"), *proto = json_object_get(e, "protocol"),
		     *fs = json_object_get(e, "fs");
	struct loose l = { .protocol = -1, .fs = -1 };

	if (json_is_string(name))
		l.name = json_string_value(name);
	if (json_is_string(proto))
		l.protocol = protocol_of(json_string_value(proto));
	if (json_is_string(fs))
		l.fs = fs_of(json_string_value(fs));
	else if (!fs && l.protocol >= 0) {
		l.fs = ds_is_block(l.protocol) ? DS_FS_OCFS2 : DS_FS_NONE;
		l.fs_default = true;
	}
	l.has_size = ds_size_parse(json_object_get(e, "size"), &l.size, NULL, 0) == 0;
	return l;
}

static void validate_entry(const json_t *e, size_t i, size_t n_nodes, bool nodes_given, struct seen *seen,
			   struct spec_problems *p)
{
	const json_t *name = json_object_get(e, "name"), *proto = json_object_get(e, "protocol"),
		     *size = json_object_get(e, "size"), *fs = json_object_get(e, "fs"),
		     *nfs = json_object_get(e, "nfs"), *smb = json_object_get(e, "smb"),
		     *path = json_object_get(e, "path");
	char at[40], buf[SHOWN_MAX], why[256], sz[DS_SIZE_TEXT_MAX], sz_min[DS_SIZE_TEXT_MAX];
	int protocol = -1, fsys = -1;
	const char *k;
	json_t *v;

	snprintf(at, sizeof(at), "datastores[%zu]", i);
	json_object_foreach((json_t *)e, k, v)
		if (strcmp(k, "name") && strcmp(k, "protocol") && strcmp(k, "size") && strcmp(k, "fs") &&
		    strcmp(k, "nfs") && strcmp(k, "smb") && strcmp(k, "path") && strcmp(k, "clone"))
			spec_problem(p, "%s: unknown key \"%s\" (known: name, protocol, size, fs, nfs, smb, path, clone)", at,
				     shown(k, buf));
	validate_clone(json_object_get(e, "clone"), at, p);

	if (!name)
		spec_problem(p, "%s.name: missing", at);
	else if (!json_is_string(name) || !name_ok(json_string_value(name)))
		spec_problem(p, "%s.name: %s%s%smust be 1-%u chars of a-z 0-9 _, starting with a letter (it is also the libvirt pool name)",
			     at, json_is_string(name) ? "\"" : "", json_is_string(name) ? shown(json_string_value(name), buf) : "",
			     json_is_string(name) ? "\": " : "", DS_NAME_MAX);
	else
		seen->name = json_string_value(name);

	if (!proto)
		spec_problem(p, "%s.protocol: missing (one of " PROTOCOL_LIST ")", at);
	else if (!json_is_string(proto) || (protocol = protocol_of(json_string_value(proto))) < 0)
		spec_problem(p, "%s.protocol: must be one of " PROTOCOL_LIST, at);

	if (!size) {
		spec_problem(p, "%s.size: missing (bytes, or a string such as \"100G\"; " UNITS_ACCEPTED ")", at);
	} else {
		uint64_t bytes;
		int r = ds_size_parse(size, &bytes, why, sizeof(why));
		/* Without a known protocol only the smaller minimum is certain. */
		uint64_t min = protocol >= 0 && !ds_is_block(protocol) ? DS_MIN_SIZE_NAS :
			       protocol >= 0 ? DS_MIN_SIZE_BLOCK : DS_MIN_SIZE_NAS;
		if (r == -ERANGE || (r == 0 && bytes > DS_MAX_SIZE))
			spec_problem(p, "%s.size: above the maximum of %s (ONTAP's largest LUN or namespace)", at,
				     ds_size_format(DS_MAX_SIZE, sz));
		else if (r < 0)
			spec_problem(p, "%s.size: %s", at, why);
		else if (bytes < min)
			spec_problem(p, "%s.size: %s is below the minimum of %s for %s datastore", at,
				     ds_size_format(bytes, sz), ds_size_format(min, sz_min),
				     protocol < 0 ? "any" : ds_is_block(protocol) ? "a block (iscsi, fc, nvme-tcp)" :
				     "an nfs or smb");
	}

	if (fs) {
		if (!json_is_string(fs) || (fsys = fs_of(json_string_value(fs))) < 0)
			spec_problem(p, "%s.fs: must be \"ocfs2\" (the default) or \"gfs2\"", at);
		else if (protocol >= 0 && !ds_is_block(protocol)) {
			spec_problem(p, "%s.fs: only for block protocols (iscsi, fc, nvme-tcp); an %s datastore is mounted as its server exports it",
				     at, protocol_names[protocol]);
			fsys = -1;
		}
	} else if (protocol >= 0 && ds_is_block(protocol)) {
		fsys = DS_FS_OCFS2;
	}
	if (fsys > 0 && protocol >= 0 && nodes_given && n_nodes > fs_max_nodes[fsys])
		spec_problem(p, "%s.fs: %s%s holds at most %u nodes, but \"nodes\" lists %zu", at, fs_names[fsys],
			     fs ? "" : " (the default)", fs_max_nodes[fsys], n_nodes);

	if (nfs) {
		if (protocol >= 0 && protocol != DS_PROTO_NFS)
			spec_problem(p, "%s.nfs: only for protocol nfs (this one is %s)", at, protocol_names[protocol]);
		else if (!json_is_object(nfs))
			spec_problem(p, "%s.nfs: must be an object (keys version, nconnect, trunkdiscovery)", at);
		else
			validate_nfs(nfs, at, p);
	}
	if (smb) {
		if (protocol >= 0 && protocol != DS_PROTO_SMB)
			spec_problem(p, "%s.smb: only for protocol smb (this one is %s)", at, protocol_names[protocol]);
		else if (!json_is_object(smb))
			spec_problem(p, "%s.smb: must be an object (keys multichannel, max_channels, credentials, user)", at);
		else
			validate_smb(smb, at, p);
	}

	if (path) {
		validate_path(path, at, seen, p);
	} else if (seen->name) {
		snprintf(seen->default_path, sizeof(seen->default_path), DS_PATH_DEFAULT_DIR "/%s", seen->name);
		seen->path = seen->default_path;
		seen->path_default = true;
	}
}

/* Two paths in force that collide: reported on the entry that spelled its path out (the later
 * one when both did), which is where the fix goes. */
static void path_clash(const struct seen *s, size_t i, size_t j, struct spec_problems *p)
{
	size_t at = s[j].path_default ? i : j, other = at == j ? i : j;
	const char *mine = s[at].path, *theirs = s[other].path;
	const char *whose = s[other].path_default ? " (its default)" : "";
	char b1[SHOWN_MAX], b2[SHOWN_MAX];

	if (!strcmp(mine, theirs))
		spec_problem(p, "datastores[%zu].path: \"%s\" is also the path of datastores[%zu]%s", at,
			     shown(mine, b1), other, whose);
	else if (path_within(mine, theirs))
		spec_problem(p, "datastores[%zu].path: \"%s\" is inside \"%s\", the path of datastores[%zu]%s", at,
			     shown(mine, b1), shown(theirs, b2), other, whose);
	else
		spec_problem(p, "datastores[%zu].path: \"%s\" contains \"%s\", the path of datastores[%zu]%s", at,
			     shown(mine, b1), shown(theirs, b2), other, whose);
}

void ds_validate(const json_t *spec, struct spec_problems *p)
{
	const json_t *list = json_object_get(spec, "datastores"), *nodes = json_object_get(spec, "nodes");
	_cleanup_free_ struct seen *seen = NULL;
	size_t n, checked, i, j;
	json_t *e;

	if (!json_is_array(list)) {
		spec_problem(p, "datastores: must be an array of datastore objects");
		return;
	}
	n = json_array_size(list);
	if (n > DS_MAX_DATASTORES)
		spec_problem(p, "datastores: %zu entries, at most %u allowed", n, DS_MAX_DATASTORES);
	/* Entries past the maximum are checked one by one but not against each other: the spec is
	 * refused anyway, and n^2 comparisons of a 64 MiB spec would stall the daemon. */
	checked = n < DS_MAX_DATASTORES ? n : DS_MAX_DATASTORES;
	seen = calloc(checked ? checked : 1, sizeof(*seen));
	if (!seen) {
		spec_problem(p, "datastores: out of memory while validating");
		return;
	}
	json_array_foreach(list, i, e) {
		struct seen scratch = { 0 };
		struct seen *s = i < checked ? &seen[i] : &scratch;

		if (!json_is_object(e)) {
			spec_problem(p, "datastores[%zu]: must be an object", i);
			continue;
		}
		validate_entry(e, i, json_array_size(nodes), json_is_array(nodes), s, p);
	}
	/* A clone beside its parent: the same protocol and file system (it is the parent's volume). */
	json_array_foreach(list, i, e) {
		const char *parent = json_string_value(json_object_get(json_object_get(e, "clone"), "parent"));
		const json_t *pe;
		struct loose me, pl;

		if (i >= checked || !parent)
			continue;
		me = read_loose(e);
		if (me.name && !strcmp(me.name, parent)) {
			spec_problem(p, "datastores[%zu].clone.parent: a datastore cannot be cloned from itself", i);
			continue;
		}
		json_array_foreach(list, j, pe) {
			if (j >= checked || !json_is_object(pe) || !json_is_string(json_object_get(pe, "name")) ||
			    strcmp(json_string_value(json_object_get(pe, "name")), parent))
				continue;
			pl = read_loose(pe);
			if (me.protocol >= 0 && pl.protocol >= 0 && me.protocol != pl.protocol)
				spec_problem(p, "datastores[%zu].protocol: a clone has its parent's protocol (%s is %s)", i,
					     parent, protocol_names[pl.protocol]);
			else if (me.fs >= 0 && pl.fs >= 0 && me.fs != pl.fs)
				spec_problem(p, "datastores[%zu].fs: a clone has its parent's file system (%s is %s)", i,
					     parent, fs_names[pl.fs]);
			break;
		}
	}
	for (j = 1; j < checked; j++)
		for (i = 0; i < j; i++) {
			if (seen[i].name && seen[j].name && !strcmp(seen[i].name, seen[j].name))
				spec_problem(p, "datastores[%zu].name: \"%s\" already used by datastores[%zu]", j,
					     seen[j].name, i);
			if (seen[i].path && seen[j].path &&
			    (path_within(seen[i].path, seen[j].path) || path_within(seen[j].path, seen[i].path)))
				path_clash(seen, i, j, p);
		}
}

/* ---- destroy_data --------------------------------------------------------------------------- */

void ds_validate_destroy_data(const json_t *spec, struct spec_problems *p)
{
	const json_t *list = json_object_get(spec, "destroy_data"), *dss = json_object_get(spec, "datastores");
	size_t n, i, j;
	json_t *e, *d;

	if (!json_is_array(list)) {
		spec_problem(p, "destroy_data: must be an array of datastore names (written by `kvmcctl datastore remove NAME --destroy-data`)");
		return;
	}
	n = json_array_size(list);
	if (n > DS_MAX_DATASTORES)
		spec_problem(p, "destroy_data: %zu entries, at most %u allowed", n, DS_MAX_DATASTORES);
	json_array_foreach(list, i, e) {
		char buf[SHOWN_MAX];
		const char *name = json_string_value(e);

		if (!name || !name_ok(name)) {
			spec_problem(p, "destroy_data[%zu]: %s%s%smust be a datastore name (1-%u chars of a-z 0-9 _, starting with a letter)",
				     i, name ? "\"" : "", name ? shown(name, buf) : "", name ? "\": " : "", DS_NAME_MAX);
			continue;
		}
		/* Past the maximum the spec is refused anyway: no n^2 comparisons of a huge spec. */
		for (j = 0; j < i && i < DS_MAX_DATASTORES; j++)
			if (json_is_string(json_array_get(list, j)) && !strcmp(json_string_value(json_array_get(list, j)), name)) {
				spec_problem(p, "destroy_data[%zu]: \"%s\" already listed at destroy_data[%zu]", i, name, j);
				break;
			}
		json_array_foreach(dss, j, d)
			if (j < DS_MAX_DATASTORES && json_is_string(json_object_get(d, "name")) &&
			    !strcmp(json_string_value(json_object_get(d, "name")), name)) {
				spec_problem(p, "destroy_data[%zu]: \"%s\" is also datastores[%zu]: a datastore of the spec is never destroyed; take it out of destroy_data to keep it (its data is then kept when it is removed)",
					     i, name, j);
				break;
			}
	}
}

/* ---- restore ------------------------------------------------------------------------------ */

static bool restore_id_ok(const char *s)
{
	size_t n = s ? strlen(s) : 0;

	if (n == 0 || n > DS_RESTORE_ID_MAX)
		return false;
	for (; *s; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') || strchr("._-", *s)))
			return false;
	return true;
}

/* restore.<ds>.restart_vms: names only (a VM may leave the spec meanwhile: the leader then starts
 * the others), distinct, at most VM_MAX_VMS. */
static void validate_restart_vms(const json_t *a, const char *ds, struct spec_problems *p)
{
	char buf[SHOWN_MAX];
	const json_t *e, *f;
	size_t i, j;

	if (!a)
		return;
	if (!json_is_array(a) || json_array_size(a) > VM_MAX_VMS) {
		spec_problem(p, "restore.%s.restart_vms: must be an array of at most %u VM names", shown(ds, buf), VM_MAX_VMS);
		return;
	}
	json_array_foreach(a, i, e) {
		if (!vm_name_ok(json_string_value(e))) {
			spec_problem(p, "restore.%s.restart_vms[%zu]: must be a VM name (1-%u characters of A-Z a-z 0-9 . _ -)",
				     shown(ds, buf), i, VM_NAME_MAX);
			continue;
		}
		json_array_foreach(a, j, f) {
			if (j >= i)
				break;
			if (json_equal(e, f)) {
				spec_problem(p, "restore.%s.restart_vms[%zu]: \"%s\" is listed twice", shown(ds, buf), i,
					     json_string_value(e));
				break;
			}
		}
	}
}

void ds_validate_restore(const json_t *spec, struct spec_problems *p)
{
	const json_t *obj = json_object_get(spec, "restore"), *dss = json_object_get(spec, "datastores"), *d;
	const char *name, *k;
	json_t *v, *x;
	char buf[SHOWN_MAX];
	size_t j;

	if (!json_is_object(obj)) {
		spec_problem(p, "restore: must be an object {DATASTORE: {\"snapshot\", \"id\"}} (written by `kvmcctl snapshot restore`)");
		return;
	}
	if (json_object_size(obj) > DS_MAX_DATASTORES)
		spec_problem(p, "restore: %zu entries, at most %u allowed", json_object_size(obj), DS_MAX_DATASTORES);
	json_object_foreach((json_t *)obj, name, v) {
		bool known = false;

		json_array_foreach(dss, j, d)
			known |= j < DS_MAX_DATASTORES && json_is_string(json_object_get(d, "name")) &&
				 !strcmp(json_string_value(json_object_get(d, "name")), name);
		if (!known)
			spec_problem(p, "restore.%s: not a datastore of \"datastores\"", shown(name, buf));
		if (!json_is_object(v)) {
			spec_problem(p, "restore.%s: must be an object {\"snapshot\", \"id\"}", shown(name, buf));
			continue;
		}
		json_object_foreach(v, k, x)
			if (strcmp(k, "snapshot") && strcmp(k, "id") && strcmp(k, "restart_vms"))
				spec_problem(p, "restore.%s: unknown key \"%s\" (known: snapshot, id, restart_vms)", shown(name, buf), k);
		validate_restart_vms(json_object_get(v, "restart_vms"), name, p);
		if (!snapshot_name_ok(json_string_value(json_object_get(v, "snapshot"))))
			spec_problem(p, "restore.%s.snapshot: must be the name of one of its snapshots (1-%u characters, no blank)",
				     shown(name, buf), DS_SNAPSHOT_NAME_MAX);
		if (!restore_id_ok(json_string_value(json_object_get(v, "id"))))
			spec_problem(p, "restore.%s.id: must be 1-%u characters of A-Z a-z 0-9 . _ -", shown(name, buf),
				     DS_RESTORE_ID_MAX);
	}
}

const char *ds_restore_added(const json_t *from, const json_t *to)
{
	const json_t *f = json_object_get(from, "restore"), *v;
	const char *name;

	/* the request is its snapshot and id; restart_vms may go (the leader takes it out once it
	 * has started them; a user may take it out to leave them stopped) */
	json_object_foreach((json_t *)json_object_get(to, "restore"), name, v) {
		const json_t *w = json_object_get(f, name);
		if (!w || !json_equal(json_object_get(v, "snapshot"), json_object_get(w, "snapshot")) ||
		    !json_equal(json_object_get(v, "id"), json_object_get(w, "id")))
			return name;
	}
	return NULL;
}

bool ds_destroy_data_has(const json_t *spec, const char *name)
{
	const json_t *e;
	size_t i;

	json_array_foreach(json_object_get(spec, "destroy_data"), i, e)
		if (json_is_string(e) && name && !strcmp(json_string_value(e), name))
			return true;
	return false;
}

const char *ds_destroy_data_added(const json_t *from, const json_t *to)
{
	const json_t *e;
	size_t i;

	json_array_foreach(json_object_get(to, "destroy_data"), i, e)
		if (json_is_string(e) && !ds_destroy_data_has(from, json_string_value(e)))
			return json_string_value(e);
	return NULL;
}

/* ---- reading a validated spec ------------------------------------------------------------- */

int ds_spec_list(const json_t *spec, struct ds_spec **out, size_t *n)
{
	struct spec_problems probs = { 0 };
	const json_t *list;
	struct ds_spec *ds;
	size_t count, extra = 0, i;
	char *w;
	json_t *e;

	if (spec_validate(spec, &probs) < 0) {
		spec_problems_clear(&probs);
		return -EINVAL;
	}
	list = json_object_get(spec, "datastores");
	count = json_array_size(list);
	if (count == 0) {
		*out = NULL;
		*n = 0;
		return 0;
	}
	json_array_foreach(list, i, e)
		if (!json_object_get(e, "path"))
			extra += sizeof(DS_PATH_DEFAULT_DIR "/") + strlen(json_string_value(json_object_get(e, "name")));
	ds = calloc(1, count * sizeof(*ds) + extra);
	if (!ds)
		return -ENOMEM;
	w = (char *)(ds + count);
	json_array_foreach(list, i, e) {
		const json_t *nfs = json_object_get(e, "nfs"), *smb = json_object_get(e, "smb"),
			     *path = json_object_get(e, "path");
		struct loose l = read_loose(e);
		struct ds_spec *d = &ds[i];

		d->name = l.name;
		d->protocol = (enum ds_protocol)l.protocol;
		d->size = l.size;
		d->fs = (enum ds_fs)l.fs;
		if (path) {
			d->path = json_string_value(path);
		} else {
			d->path = w;
			w += sprintf(w, DS_PATH_DEFAULT_DIR "/%s", d->name) + 1;
		}
		if (d->protocol == DS_PROTO_NFS) {
			const json_t *ver = json_object_get(nfs, "version");
			d->nfs.version = ver ? json_string_value(ver) : NFS_VERSION_DEFAULT;
			d->nfs.nconnect = (unsigned)json_integer_value(json_object_get(nfs, "nconnect"));
			d->nfs.trunkdiscovery = json_is_true(json_object_get(nfs, "trunkdiscovery"));
		}
		if (d->protocol == DS_PROTO_SMB) {
			d->smb.multichannel = json_is_true(json_object_get(smb, "multichannel"));
			d->smb.max_channels = (unsigned)json_integer_value(json_object_get(smb, "max_channels"));
			d->smb.credentials = json_string_value(json_object_get(smb, "credentials"));
			d->smb.user = json_string_value(json_object_get(smb, "user"));
		}
		d->clone.parent = json_string_value(json_object_get(json_object_get(e, "clone"), "parent"));
		d->clone.snapshot = d->clone.parent ? json_string_value(json_object_get(json_object_get(e, "clone"), "snapshot")) : NULL;
		d->clone.split = d->clone.parent && json_is_true(json_object_get(json_object_get(e, "clone"), "split"));
	}
	*out = ds;
	*n = count;
	return 0;
}

/* ---- against the spec in force ------------------------------------------------------------ */

/* Whether two "clone" objects name the same origin (parent and snapshot): "split" may change. */
static bool clone_same_origin(const json_t *a, const json_t *b)
{
	return a && b && json_equal(json_object_get(a, "parent"), json_object_get(b, "parent")) &&
	       json_equal(json_object_get(a, "snapshot"), json_object_get(b, "snapshot"));
}

/* A clone added to the spec: its parent must be a datastore of the spec in force (its volume is
 * on ONTAP: the clone is made of one of its snapshots), and it holds at least the parent's size. */
static void clone_added(const json_t *e, size_t i, const json_t *old, struct spec_problems *p)
{
	const char *parent = json_string_value(json_object_get(json_object_get(e, "clone"), "parent"));
	char s1[DS_SIZE_TEXT_MAX], s2[DS_SIZE_TEXT_MAX];
	const json_t *o;
	size_t j;

	if (!parent)
		return;
	json_array_foreach(old, j, o) {
		struct loose t, f;

		if (!json_is_string(json_object_get(o, "name")) || strcmp(json_string_value(json_object_get(o, "name")), parent))
			continue;
		t = read_loose(e);
		f = read_loose(o);
		if (t.has_size && f.has_size && t.size < f.size)
			spec_problem(p, "datastores[%zu].size: a clone of %s holds its %s at least (not %s)", i, parent,
				     ds_size_format(f.size, s1), ds_size_format(t.size, s2));
		return;
	}
	spec_problem(p, "datastores[%zu].clone.parent: %s is not a datastore of the spec in force; a clone is made from an existing datastore's snapshot",
		     i, parent);
}

int spec_validate_change(const json_t *from, const json_t *to, struct spec_problems *p)
{
	const json_t *old = json_is_object(from) ? json_object_get(from, "datastores") : NULL;
	const json_t *new = json_is_object(to) ? json_object_get(to, "datastores") : NULL;
	unsigned before = p->n + p->dropped;
	size_t n_old = json_array_size(old), n_new = json_array_size(new);
	char s1[DS_SIZE_TEXT_MAX], s2[DS_SIZE_TEXT_MAX];

	/* A valid `to` has at most DS_MAX_DATASTORES entries; bound the work even when it is not. */
	if (n_new > DS_MAX_DATASTORES)
		n_new = DS_MAX_DATASTORES;
	for (size_t i = 0; i < n_new; i++) {
		const json_t *e = json_array_get(new, i), *prev = NULL;
		const char *name = json_string_value(json_object_get(e, "name"));
		struct loose t, f;

		for (size_t j = 0; name && j < n_old && !prev; j++) {
			const json_t *o = json_array_get(old, j);
			const char *oname = json_string_value(json_object_get(o, "name"));
			if (oname && !strcmp(oname, name))
				prev = o;
		}
		if (!prev) {
			clone_added(e, i, old, p);
			continue;
		}
		t = read_loose(e);
		f = read_loose(prev);
		if (json_object_get(e, "clone") && !clone_same_origin(json_object_get(e, "clone"), json_object_get(prev, "clone")))
			spec_problem(p, "datastores[%zu].clone: %s exists; what it was cloned from cannot change (only a new datastore is made a clone)",
				     i, t.name);
		if (t.protocol >= 0 && f.protocol >= 0 && t.protocol != f.protocol) {
			spec_problem(p, "datastores[%zu].protocol: %s is %s in the spec in force; a datastore's protocol cannot change (add a new datastore and move the disks)",
				     i, t.name, protocol_names[f.protocol]);
		} else if (t.fs >= 0 && f.fs >= 0 && t.fs != f.fs) {
			spec_problem(p, "datastores[%zu].fs: %s is %s%s in the spec in force; a datastore's file system cannot change (add a new datastore and move the disks)",
				     i, t.name, fs_names[f.fs], f.fs_default ? " (the default)" : "");
		}
		if (t.has_size && f.has_size && t.size < f.size)
			spec_problem(p, "datastores[%zu].size: %s would shrink from %s to %s; a datastore only grows", i,
				     t.name, ds_size_format(f.size, s1), ds_size_format(t.size, s2));
	}
	vm_validate_change(from, to, p); /* coord/spec/vm.h: a VM's <uuid> */
	return p->n + p->dropped > before ? -EINVAL : 0;
}
