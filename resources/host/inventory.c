/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * This host's facts (inventory.h): two worker jobs, one reading files and interfaces, one asking
 * libvirtd, joined on the loop into one JSON object. Also the pure pieces (parsers, the address
 * filter, the cloned-host check) that sim.c and the tests use directly.
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <unistd.h>

#ifdef HAVE_LIBVIRT
#include <libvirt/libvirt.h>
#include <libvirt/virterror.h>
#endif

#include "inventory.h"
#include "macros.h"
#include "worker.h"

#define DEFAULT_STEP_TIMEOUT (30 * USEC_PER_SEC)
#define LIBVIRT_TIMEOUT_MAX (5 * USEC_PER_SEC)
#define SMALL_FILE_MAX (64u * 1024u)
#define NAME_MAX_LEN 223u   /* iSCSI names and NQNs (RFC 3720, NVMe base spec) */

const char *const INVENTORY_TOOLS[] = {
	"iscsiadm", "multipath", "multipathd", "nvme", "blkid", "mkfs.ocfs2", "tunefs.ocfs2",
	"mkfs.gfs2", "gfs2_jadd", "mount.nfs", "mount.cifs", "dlm_controld", "virsh", NULL,
};

/* ocfs2_stack_user: OCFS2 on the corosync (user space) cluster stack needs it. */
const char *const INVENTORY_MODULES[] = {
	"iscsi_tcp", "nvme_tcp", "dm_multipath", "ocfs2", "ocfs2_stack_user", "gfs2", "dlm", "nfs",
	"cifs", NULL,
};

static const char *const TOOL_DIRS[] = {
	"/usr/local/sbin", "/usr/local/bin", "/usr/sbin", "/usr/bin", "/sbin", "/bin", NULL,
};

/* ---- small helpers ------------------------------------------------------------------------ */

static char *path_join(const char *root, const char *rel)
{
	char *p = NULL;
	size_t n = strlen(root);

	while (n > 1 && root[n - 1] == '/')
		n--;
	if (n == 1 && root[0] == '/')
		n = 0;
	if (asprintf(&p, "%.*s%s", (int)n, root, rel) < 0)
		return NULL;
	return p;
}

/* Reads a small text file whole (at most SMALL_FILE_MAX bytes). 0, -errno, -EFBIG, -ENOMEM. */
static int read_small(const char *path, char **out)
{
	_cleanup_fclose_ FILE *f = fopen(path, "re");
	_cleanup_free_ char *buf = NULL;
	size_t n;

	if (!f)
		return -errno;
	buf = malloc(SMALL_FILE_MAX + 1);
	if (!buf)
		return -ENOMEM;
	n = fread(buf, 1, SMALL_FILE_MAX + 1, f);
	if (ferror(f))
		return -EIO;
	if (n > SMALL_FILE_MAX)
		return -EFBIG;
	buf[n] = '\0';
	*out = TAKE_PTR(buf);
	return 0;
}

static char *trim(char *s)
{
	char *e;

	while (*s && isspace((unsigned char)*s))
		s++;
	e = s + strlen(s);
	while (e > s && isspace((unsigned char)e[-1]))
		*--e = '\0';
	return s;
}

static void lower(char *s)
{
	for (; *s; s++)
		*s = (char)tolower((unsigned char)*s);
}

/* Printable ASCII without blanks, at most NAME_MAX_LEN bytes. */
static bool name_chars_ok(const char *s)
{
	if (!*s || strlen(s) > NAME_MAX_LEN)
		return false;
	for (; *s; s++)
		if (*s <= ' ' || *s > '~')
			return false;
	return true;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* A JSON array of the keys of a JSON object used as a set, sorted. */
static json_t *set_to_sorted_array(json_t *set)
{
	size_t n = json_object_size(set), i = 0;
	_cleanup_free_ const char **keys = calloc(n ? n : 1, sizeof(char *));
	json_t *out = json_array(), *v;
	const char *k;

	if (!keys || !out) {
		json_decref(out);
		return NULL;
	}
	json_object_foreach(set, k, v)
		keys[i++] = k;
	qsort(keys, n, sizeof(char *), cmp_str);
	for (i = 0; i < n; i++)
		if (json_array_append_new(out, json_string(keys[i])) < 0) {
			json_decref(out);
			return NULL;
		}
	return out;
}

/* ---- identities --------------------------------------------------------------------------- */

int inventory_parse_iqn(const char *text, char **out)
{
	_cleanup_free_ char *copy = strdup(text ? text : "");
	_cleanup_free_ char *value = NULL;
	char *save = NULL;

	if (!copy)
		return -ENOMEM;
	for (char *line = strtok_r(copy, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		char *l = trim(line);
		if (*l == '#' || strncmp(l, "InitiatorName=", 14) != 0)
			continue;
		free(value);
		value = strdup(trim(l + 14));
		if (!value)
			return -ENOMEM;
	}
	if (!value || !*value)
		return -ENOENT;
	lower(value);
	if (!name_chars_ok(value) ||
	    (strncmp(value, "iqn.", 4) != 0 && strncmp(value, "eui.", 4) != 0 && strncmp(value, "naa.", 4) != 0)) {
		*out = TAKE_PTR(value);
		return -EINVAL;
	}
	*out = TAKE_PTR(value);
	return 0;
}

int inventory_read_iqn(const char *etc_root, char **out)
{
	_cleanup_free_ char *path = path_join(etc_root, "/iscsi/initiatorname.iscsi");
	_cleanup_free_ char *text = NULL;
	int r;

	if (!path)
		return -ENOMEM;
	r = read_small(path, &text);
	if (r < 0)
		return r;
	return inventory_parse_iqn(text, out);
}

/* The first line of a file, trimmed. 0, -ENOENT when absent or empty, -errno. */
static int read_first_line(const char *path, char **out)
{
	_cleanup_free_ char *text = NULL;
	char *nl, *t;
	int r;

	r = read_small(path, &text);
	if (r < 0)
		return r;
	nl = strchr(text, '\n');
	if (nl)
		*nl = '\0';
	t = trim(text);
	if (!*t)
		return -ENOENT;
	*out = strdup(t);
	return *out ? 0 : -ENOMEM;
}

int inventory_read_nqn(const char *etc_root, char **out)
{
	_cleanup_free_ char *path = path_join(etc_root, "/nvme/hostnqn");
	_cleanup_free_ char *nqn = NULL;
	int r;

	if (!path)
		return -ENOMEM;
	r = read_first_line(path, &nqn);
	if (r < 0)
		return r;
	r = strncasecmp(nqn, "nqn.", 4) == 0 && name_chars_ok(nqn) ? 0 : -EINVAL;
	*out = TAKE_PTR(nqn);
	return r;
}

static void problem(json_t *problems, const char *fmt, ...) _printf_(2, 3);

/* ---- the distribution ------------------------------------------------------------------- */

#define OS_VALUE_MAX 255u

/* One os-release value (after the '='): unquoted, '…' or "…" (with \ escapes), then nothing
 * but blanks or a comment. Control characters dropped, cut at OS_VALUE_MAX bytes. */
static void os_value(const char *v, char *out)
{
	size_t n = 0;
	char q = 0;

	v += strspn(v, " \t");
	if (*v == '"' || *v == '\'')
		q = *v++;
	for (; *v; v++) {
		char c = *v;
		if (q && c == q)
			break;
		if (!q && (c == ' ' || c == '\t' || c == '#'))
			break;
		if (c == '\\' && q != '\'' && v[1])
			c = *++v;
		if ((unsigned char)c < ' ' || c == 0x7f)
			continue;
		if (n < OS_VALUE_MAX)
			out[n++] = c;
	}
	out[n] = '\0';
}

int inventory_parse_os_release(const char *text, json_t **out)
{
	static const char *const keys[][2] = {
		{ "ID", "id" }, { "ID_LIKE", "id_like" }, { "VERSION_ID", "version_id" }, { "PRETTY_NAME", "pretty_name" },
	};
	json_auto_t *o = json_object();
	const char *line = text ? text : "";

	if (!o)
		return -ENOMEM;
	for (size_t k = 0; k < ARRAY_SIZE(keys); k++)
		if (json_object_set_new(o, keys[k][1], json_null()) < 0)
			return -ENOMEM;
	while (*line) {
		const char *end = strchr(line, '\n');
		size_t len = end ? (size_t)(end - line) : strlen(line);
		_cleanup_free_ char *l = strndup(line, len);
		char *t, *eq, value[OS_VALUE_MAX + 1];

		if (!l)
			return -ENOMEM;
		line += len + (end ? 1 : 0);
		t = trim(l);
		eq = strchr(t, '=');
		if (*t == '#' || !eq)
			continue;
		*eq = '\0';
		for (size_t k = 0; k < ARRAY_SIZE(keys); k++) {
			json_t *v;

			if (strcmp(t, keys[k][0]) != 0)
				continue;
			os_value(eq + 1, value);
			v = *value ? json_string(value) : NULL; /* NULL too when it is not UTF-8 */
			if (json_object_set_new(o, keys[k][1], v ? v : json_null()) < 0)
				return -ENOMEM;
		}
	}
	*out = TAKE_PTR(o);
	return 0;
}

/* <etc_root>/os-release, or /usr/lib/os-release when etc_root is the real /etc. A new object
 * (inventory_parse_os_release's), or json_null() when there is none; NULL on ENOMEM. */
static json_t *read_os_release(const char *etc_root, json_t *problems)
{
	_cleanup_free_ char *path = path_join(etc_root, "/os-release"), *text = NULL;
	json_t *o = NULL;
	int r;

	if (!path)
		return NULL;
	r = read_small(path, &text);
	if (r == -ENOENT && strcmp(etc_root, "/etc") == 0) {
		free(path);
		path = strdup("/usr/lib/os-release");
		if (!path)
			return NULL;
		r = read_small(path, &text);
	}
	if (r == -ENOENT)
		return json_null();
	if (r < 0) {
		problem(problems, "%s: %s", path, strerror(-r));
		return json_null();
	}
	return inventory_parse_os_release(text, &o) < 0 ? NULL : o;
}

bool inventory_known_name(const char *name)
{
	for (size_t i = 0; name && INVENTORY_TOOLS[i]; i++)
		if (strcmp(name, INVENTORY_TOOLS[i]) == 0)
			return true;
	for (size_t i = 0; name && INVENTORY_MODULES[i]; i++)
		if (strcmp(name, INVENTORY_MODULES[i]) == 0)
			return true;
	return false;
}

/* name is one of the comma-separated list (blanks around names ignored). */
static bool in_list(const char *list, const char *name)
{
	size_t n = strlen(name);

	for (const char *p = list; p && *p;) {
		const char *comma = strchr(p, ','), *e;
		p += strspn(p, " \t");
		e = comma ? comma : p + strlen(p);
		while (e > p && (e[-1] == ' ' || e[-1] == '\t'))
			e--;
		if ((size_t)(e - p) == n && strncmp(p, name, n) == 0)
			return true;
		p = comma ? comma + 1 : NULL;
	}
	return false;
}

/* "0x21000024FF5A1B2C\n" or "21:00:00:24:ff:5a:1b:2c" -> "0x21000024ff5a1b2c"; false if not a WWPN. */
static bool wwpn_norm(const char *in, char out[19])
{
	size_t n = 0;

	while (isspace((unsigned char)*in))
		in++;
	if (strncasecmp(in, "0x", 2) == 0)
		in += 2;
	for (; *in && !isspace((unsigned char)*in); in++) {
		if (*in == ':')
			continue;
		if (!isxdigit((unsigned char)*in) || n >= 16)
			return false;
		out[2 + n++] = (char)tolower((unsigned char)*in);
	}
	if (n != 16)
		return false;
	out[0] = '0';
	out[1] = 'x';
	out[18] = '\0';
	return true;
}

int inventory_read_wwpns(const char *sys_root, json_t **out)
{
	_cleanup_free_ char *dir = path_join(sys_root, "/class/fc_host");
	json_auto_t *set = json_object();
	DIR *d;
	struct dirent *de;

	if (!dir || !set)
		return -ENOMEM;
	d = opendir(dir);
	if (d) {
		while ((de = readdir(d))) {
			_cleanup_free_ char *p = NULL, *text = NULL;
			char w[19];

			if (de->d_name[0] == '.')
				continue;
			if (asprintf(&p, "%s/%s/port_name", dir, de->d_name) < 0) {
				closedir(d);
				return -ENOMEM;
			}
			if (read_small(p, &text) == 0 && wwpn_norm(text, w))
				json_object_set_new(set, w, json_true());
		}
		closedir(d);
	}
	*out = set_to_sorted_array(set);
	return *out ? 0 : -ENOMEM;
}

/* ---- addresses ---------------------------------------------------------------------------- */

json_t *inventory_addresses(const struct ifaddrs *list)
{
	json_auto_t *set = json_object();

	if (!set)
		return NULL;
	for (const struct ifaddrs *i = list; i; i = i->ifa_next) {
		char text[INET6_ADDRSTRLEN];

		if (!i->ifa_addr || !(i->ifa_flags & IFF_UP) || (i->ifa_flags & IFF_LOOPBACK))
			continue;
		if (i->ifa_addr->sa_family == AF_INET) {
			const struct in_addr *a = &((const struct sockaddr_in *)(const void *)i->ifa_addr)->sin_addr;
			uint32_t h = ntohl(a->s_addr);
			if ((h >> 24) == 127 || (h >> 16) == 0xa9fe || h == 0)
				continue;
			if (!inet_ntop(AF_INET, a, text, sizeof(text)))
				continue;
		} else if (i->ifa_addr->sa_family == AF_INET6) {
			const struct in6_addr *a = &((const struct sockaddr_in6 *)(const void *)i->ifa_addr)->sin6_addr;
			if (IN6_IS_ADDR_LOOPBACK(a) || IN6_IS_ADDR_LINKLOCAL(a) || IN6_IS_ADDR_UNSPECIFIED(a) ||
			    IN6_IS_ADDR_V4MAPPED(a))
				continue;
			if (!inet_ntop(AF_INET6, a, text, sizeof(text)))
				continue;
		} else
			continue;
		json_object_set_new(set, text, json_true());
	}
	return set_to_sorted_array(set);
}

/* ---- tools and modules -------------------------------------------------------------------- */

static bool is_executable(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0 && S_ISREG(st.st_mode) && (st.st_mode & 0111);
}

static bool tool_found(const char *tools_root, const char *name)
{
	bool real_root = strcmp(tools_root, "/") == 0;
	const char *env;

	for (size_t i = 0; TOOL_DIRS[i]; i++) {
		_cleanup_free_ char *dir = path_join(tools_root, TOOL_DIRS[i]), *p = NULL;
		if (dir && asprintf(&p, "%s/%s", dir, name) >= 0 && is_executable(p))
			return true;
	}
	env = getenv("PATH");
	if (real_root && env) {
		_cleanup_free_ char *copy = strdup(env);
		char *save = NULL;
		for (char *d = copy ? strtok_r(copy, ":", &save) : NULL; d; d = strtok_r(NULL, ":", &save)) {
			_cleanup_free_ char *p = NULL;
			if (d[0] == '/' && asprintf(&p, "%s/%s", d, name) >= 0 && is_executable(p))
				return true;
		}
	}
	return false;
}

/* "kernel/drivers/md/dm-multipath.ko.xz" -> "dm_multipath" (in place, returns the start). */
static char *module_name_of_path(char *p)
{
	char *base = strrchr(p, '/'), *ko;

	base = base ? base + 1 : p;
	ko = strstr(base, ".ko");
	if (ko)
		*ko = '\0';
	for (char *c = base; *c; c++)
		if (*c == '-')
			*c = '_';
	return base;
}

/* Adds the module names of a modules.dep ("path: deps") or modules.builtin ("path") file. */
static void read_module_list(const char *path, json_t *set)
{
	_cleanup_fclose_ FILE *f = fopen(path, "re");
	_cleanup_free_ char *line = NULL;
	size_t cap = 0;

	if (!f)
		return;
	while (getline(&line, &cap, f) > 0) {
		char *colon = strchr(line, ':'), *name;
		if (colon)
			*colon = '\0';
		name = module_name_of_path(trim(line));
		if (*name)
			json_object_set_new(set, name, json_true());
	}
}

static void read_proc_modules(const char *path, json_t *set)
{
	_cleanup_fclose_ FILE *f = fopen(path, "re");
	_cleanup_free_ char *line = NULL;
	size_t cap = 0;

	if (!f)
		return;
	while (getline(&line, &cap, f) > 0) {
		char *sp = strchr(line, ' ');
		if (sp)
			*sp = '\0';
		if (*line)
			json_object_set_new(set, line, json_true());
	}
}

/* ---- the facts job (worker thread) -------------------------------------------------------- */

struct facts_job {
	struct collect *c;            /* a reference */
	char *etc_root, *sys_root, *proc_root, *modules_dir, *tools_root, *backend;
	char *kernel_release, *hostname; /* NULL: ask the system */
	bool simulated;               /* inventory_options.simulated */
	char *missing;                /* its simulated_missing (owned) or NULL */
	json_t *out;                  /* owned; the facts object, taken by the done callback */
};

static void problem(json_t *problems, const char *fmt, ...)
{
	_cleanup_free_ char *text = NULL;
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vasprintf(&text, fmt, ap);
	va_end(ap);
	if (n >= 0)
		json_array_append_new(problems, json_string(text));
}

static json_t *str_or_null(const char *s)
{
	return s ? json_string(s) : json_null();
}

static int facts_run(void *arg)
{
	struct facts_job *j = arg;
	json_auto_t *o = json_object(), *problems = json_array(), *tools = json_object(), *mods = json_object();
	json_auto_t *loaded = json_object(), *builtin = json_object(), *avail = json_object();
	_cleanup_free_ char *iqn = NULL, *nqn = NULL, *hostid = NULL, *path = NULL, *hostid_path = NULL;
	_cleanup_free_ char *mdir = NULL, *p_dep = NULL, *p_builtin = NULL, *p_proc = NULL;
	char host[256] = "";
	struct utsname u;
	const char *release;
	struct ifaddrs *ifa = NULL;
	json_t *v;
	int r;

	if (!o || !problems || !tools || !mods || !loaded || !builtin || !avail)
		return -ENOMEM;
	json_object_set_new(o, "schema", json_integer(INVENTORY_SCHEMA));
	json_object_set_new(o, "backend", json_string(j->backend));

	if (j->hostname)
		snprintf(host, sizeof(host), "%s", j->hostname);
	else if (gethostname(host, sizeof(host) - 1) < 0)
		host[0] = '\0';
	json_object_set_new(o, "hostname", json_string(host));

	if (j->kernel_release)
		release = j->kernel_release;
	else
		release = uname(&u) == 0 ? u.release : "";
	json_object_set_new(o, "kernel", json_string(release));

	if (getifaddrs(&ifa) == 0) {
		v = inventory_addresses(ifa);
		freeifaddrs(ifa);
	} else {
		problem(problems, "getifaddrs: %s", strerror(errno));
		v = json_array();
	}
	json_object_set_new(o, "addresses", v ? v : json_array());

	path = path_join(j->etc_root, "/iscsi/initiatorname.iscsi");
	r = inventory_read_iqn(j->etc_root, &iqn);
	if (r == -EINVAL)
		problem(problems, "%s: \"%s\" is not an iSCSI name (iqn., eui. or naa.)", path, iqn);
	else if (r < 0 && r != -ENOENT)
		problem(problems, "%s: %s", path, strerror(-r));
	json_object_set_new(o, "iscsi_iqn", str_or_null(r == 0 ? iqn : NULL));

	if (inventory_read_wwpns(j->sys_root, &v) < 0)
		return -ENOMEM;
	json_object_set_new(o, "fc_wwpns", v);

	free(path);
	path = path_join(j->etc_root, "/nvme/hostnqn");
	r = inventory_read_nqn(j->etc_root, &nqn);
	if (r == -EINVAL)
		problem(problems, "%s: \"%s\" is not an NVMe qualified name", path, nqn);
	else if (r < 0 && r != -ENOENT)
		problem(problems, "%s: %s", path, strerror(-r));
	json_object_set_new(o, "nvme_nqn", str_or_null(r == 0 ? nqn : NULL));

	hostid_path = path_join(j->etc_root, "/nvme/hostid");
	r = hostid_path ? read_first_line(hostid_path, &hostid) : -ENOMEM;
	if (r == 0 && !name_chars_ok(hostid)) {
		problem(problems, "%s: not a host ID", hostid_path);
		r = -EINVAL;
	} else if (r < 0 && r != -ENOENT && r != -ENOMEM)
		problem(problems, "%s: %s", hostid_path, strerror(-r));
	json_object_set_new(o, "nvme_hostid", str_or_null(r == 0 ? hostid : NULL));

	v = read_os_release(j->etc_root, problems);
	if (!v)
		return -ENOMEM;
	json_object_set_new(o, "os", v);

	if (j->simulated) {
		/* The simulated host has what its simulated storage needs, but what a test took away. */
		for (size_t i = 0; INVENTORY_TOOLS[i]; i++)
			json_object_set_new(tools, INVENTORY_TOOLS[i], json_boolean(!in_list(j->missing, INVENTORY_TOOLS[i])));
		for (size_t i = 0; INVENTORY_MODULES[i]; i++)
			json_object_set_new(mods, INVENTORY_MODULES[i],
					    json_string(in_list(j->missing, INVENTORY_MODULES[i]) ? "missing" : "loaded"));
		json_object_set(o, "tools", tools);
		json_object_set(o, "modules", mods);
		json_object_set(o, "problems", problems);
		j->out = TAKE_PTR(o);
		return 0;
	}
	for (size_t i = 0; INVENTORY_TOOLS[i]; i++)
		json_object_set_new(tools, INVENTORY_TOOLS[i], json_boolean(tool_found(j->tools_root, INVENTORY_TOOLS[i])));
	json_object_set(o, "tools", tools);

	p_proc = path_join(j->proc_root, "/modules");
	if (asprintf(&mdir, "%s/%s", j->modules_dir, release) < 0)
		mdir = NULL;
	if (!p_proc || !mdir || asprintf(&p_dep, "%s/modules.dep", mdir) < 0 ||
	    asprintf(&p_builtin, "%s/modules.builtin", mdir) < 0)
		return -ENOMEM;
	read_proc_modules(p_proc, loaded);
	read_module_list(p_builtin, builtin);
	read_module_list(p_dep, avail);
	for (size_t i = 0; INVENTORY_MODULES[i]; i++) {
		const char *m = INVENTORY_MODULES[i], *state = "missing";
		_cleanup_free_ char *sysmod = NULL;
		struct stat st;

		if (asprintf(&sysmod, "%s/module/%s", j->sys_root, m) < 0)
			return -ENOMEM;
		if (json_object_get(loaded, m))
			state = "loaded";
		else if (json_object_get(builtin, m) || (stat(sysmod, &st) == 0 && S_ISDIR(st.st_mode)))
			state = "builtin";
		else if (json_object_get(avail, m))
			state = "available";
		json_object_set_new(mods, m, json_string(state));
	}
	json_object_set(o, "modules", mods);
	json_object_set(o, "problems", problems);
	j->out = TAKE_PTR(o);
	return 0;
}

/* ---- the libvirt job (worker thread) ------------------------------------------------------ */

struct libvirt_job {
	struct collect *c;            /* a reference */
	char *uri;
	json_t *out;                  /* owned; {"uri","answers",...} */
};

#ifdef HAVE_LIBVIRT
/* kvmcd reports libvirt's errors itself (the caller logs the detail); libvirt's default handler
 * would also print every one to stderr, i.e. the journal, on each refresh while libvirtd is
 * down. Process-wide, set once. */
static void libvirt_quiet(void *userdata, virErrorPtr err) {}
static pthread_once_t libvirt_once = PTHREAD_ONCE_INIT;
static void libvirt_init_once(void)
{
	virSetErrorFunc(NULL, libvirt_quiet);
}
#endif

static int libvirt_run(void *arg)
{
	struct libvirt_job *j = arg;
	json_auto_t *o = json_pack("{s:s}", "uri", j->uri);

	if (!o)
		return -ENOMEM;
#ifdef HAVE_LIBVIRT
	{
		virConnectPtr conn;
		unsigned long v = 0;
		char ver[64];

		pthread_once(&libvirt_once, libvirt_init_once);
		conn = virConnectOpenReadOnly(j->uri);
		if (!conn || virConnectGetLibVersion(conn, &v) < 0) {
			const char *msg = virGetLastErrorMessage();
			json_object_set_new(o, "answers", json_false());
			json_object_set_new(o, "error", json_string(msg ? msg : "unknown libvirt error"));
		} else {
			snprintf(ver, sizeof(ver), "%lu.%lu.%lu", v / 1000000, (v / 1000) % 1000, v % 1000);
			json_object_set_new(o, "answers", json_true());
			json_object_set_new(o, "version", json_string(ver));
		}
		if (conn)
			virConnectClose(conn);
	}
#endif
	j->out = TAKE_PTR(o);
	return 0;
}

/* ---- joining the two jobs on the loop ----------------------------------------------------- */

enum { JOB_FACTS, JOB_LIBVIRT, _JOB_MAX };

/*
 * One inventory_collect(). References: one per submitted job's arg (dropped by its free_arg) and
 * one per job whose done is still to come (dropped by that done; by free_arg instead when the
 * pool was freed and done will never come). free_arg may run on a detached worker thread after
 * worker_pool_free(), hence the atomic count; nothing else touches the object then.
 */
struct collect {
	unsigned refs;
	bool delivered[_JOB_MAX];     /* loop thread */
	unsigned pending;             /* dones still to come */
	int facts_r;
	json_t *facts;                /* owned */
	json_t *libvirt;              /* owned; NULL = not probed */
	uint64_t libvirt_timeout_usec;
	char *libvirt_uri;            /* owned */
	host_done_fn done;
	void *userdata;
};

static void collect_unref(struct collect *c)
{
	if (c && __atomic_sub_fetch(&c->refs, 1, __ATOMIC_ACQ_REL) == 0) {
		json_decref(c->facts);
		json_decref(c->libvirt);
		free(c->libvirt_uri);
		free(c);
	}
}

static void collect_finish(struct collect *c)
{
	_cleanup_free_ char *text = NULL;
	char msg[256];

	if (c->facts_r < 0) {
		snprintf(msg, sizeof(msg), "reading host facts: %s",
			 c->facts_r == -ETIMEDOUT ? "timed out" : strerror(-c->facts_r));
		c->done(c->userdata, c->facts_r, msg);
		return;
	}
	json_object_set(c->facts, "libvirtd", c->libvirt ? c->libvirt : json_null());
	text = json_dumps(c->facts, JSON_COMPACT | JSON_SORT_KEYS);
	if (!text)
		c->done(c->userdata, -ENOMEM, "reading host facts: out of memory");
	else
		c->done(c->userdata, 0, text);
}

static void job_delivered(struct collect *c, unsigned which)
{
	c->delivered[which] = true;
	if (--c->pending == 0)
		collect_finish(c);
	collect_unref(c);
}

static void facts_done(int r, void *arg, void *userdata)
{
	struct collect *c = userdata;
	struct facts_job *j = arg;

	c->facts_r = r;
	if (r >= 0 && j)
		c->facts = TAKE_PTR(j->out);
	job_delivered(c, JOB_FACTS);
}

static void libvirt_done(int r, void *arg, void *userdata)
{
	struct collect *c = userdata;
	struct libvirt_job *j = arg;

	if (r >= 0 && j && j->out)
		c->libvirt = TAKE_PTR(j->out);
	else {
		char msg[128];
		if (r == -ETIMEDOUT)
			snprintf(msg, sizeof(msg), "timed out after %.1f s", (double)c->libvirt_timeout_usec / USEC_PER_SEC);
		else
			snprintf(msg, sizeof(msg), "%s", strerror(-r));
		c->libvirt = json_pack("{s:s,s:b,s:s}", "uri", c->libvirt_uri, "answers", 0, "error", msg);
	}
	job_delivered(c, JOB_LIBVIRT);
}

static void facts_free(void *arg)
{
	struct facts_job *j = arg;
	struct collect *c = j->c;

	if (!c->delivered[JOB_FACTS])
		collect_unref(c);   /* its done will never come (pool freed) */
	collect_unref(c);
	free(j->etc_root);
	free(j->sys_root);
	free(j->proc_root);
	free(j->modules_dir);
	free(j->tools_root);
	free(j->backend);
	free(j->kernel_release);
	free(j->hostname);
	free(j->missing);
	json_decref(j->out);
	free(j);
}

static void libvirt_free(void *arg)
{
	struct libvirt_job *j = arg;
	struct collect *c = j->c;

	if (!c->delivered[JOB_LIBVIRT])
		collect_unref(c);
	collect_unref(c);
	free(j->uri);
	json_decref(j->out);
	free(j);
}

static char *dup_or(const char *s, const char *dflt)
{
	return strdup(s && *s ? s : dflt);
}

int inventory_collect(struct host_ctx *ctx, const struct inventory_options *o, host_done_fn done,
		      void *userdata)
{
	static const struct inventory_options none = { 0 };
	uint64_t step = ctx && ctx->step_timeout_usec ? ctx->step_timeout_usec : DEFAULT_STEP_TIMEOUT;
	struct collect *c;
	struct facts_job *fj;
	struct libvirt_job *lj = NULL;
	const char *uri;
	int r;

	if (!ctx || !ctx->workers || !done)
		return -EINVAL;
	if (!o)
		o = &none;
	uri = o->libvirt_uri ? o->libvirt_uri : ctx->libvirt_uri ? ctx->libvirt_uri : "qemu:///system";
#ifndef HAVE_LIBVIRT
	uri = "";
#endif
	c = calloc(1, sizeof(*c));
	fj = calloc(1, sizeof(*fj));
	if (!c || !fj) {
		free(c);
		free(fj);
		return -ENOMEM;
	}
	c->done = done;
	c->userdata = userdata;
	c->libvirt_timeout_usec = o->libvirt_timeout_usec ? o->libvirt_timeout_usec
							  : (step < LIBVIRT_TIMEOUT_MAX ? step : LIBVIRT_TIMEOUT_MAX);
	fj->c = c;
	fj->etc_root = dup_or(ctx->etc_root, "/etc");
	fj->sys_root = dup_or(ctx->sys_root, "/sys");
	fj->proc_root = dup_or(o->proc_root ? o->proc_root : ctx->proc_root, "/proc");
	fj->modules_dir = dup_or(o->modules_dir, "/lib/modules");
	fj->tools_root = dup_or(o->tools_root, "/");
	fj->backend = dup_or(o->backend, "real");
	fj->kernel_release = o->kernel_release ? strdup(o->kernel_release) : NULL;
	fj->hostname = o->hostname ? strdup(o->hostname) : NULL;
	fj->simulated = o->simulated;
	fj->missing = o->simulated_missing ? strdup(o->simulated_missing) : NULL;
	if ((o->simulated_missing && !fj->missing) || !fj->etc_root || !fj->sys_root || !fj->proc_root || !fj->modules_dir || !fj->tools_root ||
	    !fj->backend || (o->kernel_release && !fj->kernel_release) || (o->hostname && !fj->hostname)) {
		c->refs = 2;        /* let facts_free() release everything: as if never delivered */
		facts_free(fj);
		return -ENOMEM;
	}
	if (*uri) {
		lj = calloc(1, sizeof(*lj));
		if (!lj || !(lj->uri = strdup(uri)) || !(c->libvirt_uri = strdup(uri))) {
			if (lj)
				free(lj->uri);
			free(lj);
			c->refs = 2;
			facts_free(fj);
			return -ENOMEM;
		}
		lj->c = c;
	}

	/* facts: the arg's reference and its done's */
	c->refs = 2;
	c->pending = 1;
	r = worker_submit(ctx->workers, facts_run, fj, facts_free, facts_done, c, step);
	if (r < 0) {
		facts_free(fj);     /* drops both: nothing was started */
		if (lj) {
			free(lj->uri);
			free(lj);
		}
		return r;
	}
	if (lj) {
		c->refs += 2;
		c->pending++;
		r = worker_submit(ctx->workers, libvirt_run, lj, libvirt_free, libvirt_done, c,
				  c->libvirt_timeout_usec);
		if (r < 0) {
			/* the facts job runs anyway: report libvirt's failure in its place */
			c->pending--;
			c->refs -= 2;
			c->libvirt = json_pack("{s:s,s:b,s:s}", "uri", uri, "answers", 0, "error", strerror(-r));
			free(lj->uri);
			free(lj);
		}
	}
	return 0;
}

static int real_collect(struct host_ctx *ctx, host_done_fn done, void *userdata)
{
	return inventory_collect(ctx, NULL, done, userdata);
}

const struct host_inventory_ops host_inventory_real = {
	.name = "real",
	.collect = real_collect,
};

/* ---- cloned hosts ------------------------------------------------------------------------- */

static void dup_add(json_t *index, const char *kind, const char *value, const char *node)
{
	_cleanup_free_ char *key = NULL;
	json_t *nodes;

	if (!value || !*value || asprintf(&key, "%s\x1f%s", kind, value) < 0)
		return;
	nodes = json_object_get(index, key);
	if (!nodes) {
		nodes = json_object();
		json_object_set_new(index, key, nodes);
	}
	json_object_set_new(nodes, node, json_true());
}

bool node_section_datastores_reconciled(const json_t *section)
{
	const json_t *flag = json_object_get(section, DATASTORES_RECONCILED_KEY);

	if (flag)
		return json_is_true(flag);
	return json_is_object(json_object_get(section, "datastores"));
}

int inventory_duplicates(const json_t *sections, json_t **out)
{
	json_auto_t *index = json_object(), *result = json_array(), *keys = NULL;
	const char *id, *key;
	json_t *entry, *nodes;
	size_t i;

	if (!json_is_object(sections))
		return -EINVAL;
	if (!index || !result)
		return -ENOMEM;
	json_object_foreach((json_t *)sections, id, entry) {
		const json_t *sec = json_object_get(entry, "section");
		const json_t *inv = json_object_get(sec, INVENTORY_SECTION_KEY);
		const char *name = json_string_value(json_object_get(entry, "name"));
		const json_t *w;
		char buf[256];
		size_t k;

		if (!json_is_object(inv))
			inv = sec;
		if (!json_is_object(inv))
			continue;
		if (!name || !*name)
			name = id;
		if (json_string_value(json_object_get(inv, "iscsi_iqn"))) {
			snprintf(buf, sizeof(buf), "%s", json_string_value(json_object_get(inv, "iscsi_iqn")));
			lower(buf);
			dup_add(index, "iqn", buf, name);
		}
		if (json_string_value(json_object_get(inv, "nvme_nqn"))) {
			snprintf(buf, sizeof(buf), "%s", json_string_value(json_object_get(inv, "nvme_nqn")));
			lower(buf);
			dup_add(index, "nqn", buf, name);
		}
		json_array_foreach(json_object_get(inv, "fc_wwpns"), k, w) {
			char norm[19];
			if (json_string_value(w) && wwpn_norm(json_string_value(w), norm))
				dup_add(index, "wwpn", norm, name);
		}
	}
	keys = json_object();
	if (!keys)
		return -ENOMEM;
	json_object_foreach(index, key, nodes)
		if (json_object_size(nodes) > 1)
			json_object_set_new(keys, key, json_true());
	{
		json_auto_t *sorted = set_to_sorted_array(keys);
		json_t *k;
		if (!sorted)
			return -ENOMEM;
		json_array_foreach(sorted, i, k) {
			const char *full = json_string_value(k), *sep = strchr(full, '\x1f');
			json_t *names = set_to_sorted_array(json_object_get(index, full));
			json_t *rec = names ? json_pack("{s:s%,s:s,s:o}", "kind", full, (size_t)(sep - full),
							"value", sep + 1, "nodes", names)
					    : NULL;
			if (!rec || json_array_append_new(result, rec) < 0)
				return -ENOMEM;
		}
	}
	*out = TAKE_PTR(result);
	return 0;
}
