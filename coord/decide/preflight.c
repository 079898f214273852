/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Preflight (preflight.h): the requirements table and the report. Pure: no I/O, no clock. */
#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "macros.h"
#include "preflight.h"

/* What needs a requirement: one bit per protocol (enum ds_protocol), then the file systems. */
#define NEED_PROTO(p) (1u << (p))
#define NEED_FS(f) (1u << (_DS_PROTO_MAX + (f)))
#define N_ISCSI NEED_PROTO(DS_PROTO_ISCSI)
#define N_FC NEED_PROTO(DS_PROTO_FC)
#define N_NVME NEED_PROTO(DS_PROTO_NVME_TCP)
#define N_NFS NEED_PROTO(DS_PROTO_NFS)
#define N_SMB NEED_PROTO(DS_PROTO_SMB)
#define N_OCFS2 NEED_FS(DS_FS_OCFS2)
#define N_GFS2 NEED_FS(DS_FS_GFS2)
#define N_BLOCK (N_ISCSI | N_FC | N_NVME)

enum family { FAM_DEBIAN, FAM_FEDORA, FAM_ARCH, _FAM_MAX };
static const char *const family_names[_FAM_MAX] = { "debian", "fedora", "arch" };
static const char *const family_install[_FAM_MAX] = { "apt install", "dnf install", "pacman -S" };
static const char *const family_label[_FAM_MAX] = { "Debian/Ubuntu", "Fedora/RHEL", "Arch" };

/* A requirement met by a host tool or a kernel module. */
struct requirement {
	bool module;                  /* a kernel module (else a tool) */
	const char *name;             /* as in the inventory's "tools" / "modules" */
	unsigned needs;               /* NEED_* bits */
	const char *pkg[_FAM_MAX];    /* tools: the package per family */
};

/* NetApp's host table (Debian / Fedora / Arch names) and what kvmcd's host ops run. */
static const struct requirement requirements[] = {
	{ false, "iscsiadm", N_ISCSI, { "open-iscsi", "iscsi-initiator-utils", "open-iscsi" } },
	{ false, "multipath", N_ISCSI | N_FC, { "multipath-tools", "device-mapper-multipath", "multipath-tools" } },
	{ false, "multipathd", N_ISCSI | N_FC, { "multipath-tools", "device-mapper-multipath", "multipath-tools" } },
	{ false, "nvme", N_NVME, { "nvme-cli", "nvme-cli", "nvme-cli" } },
	{ false, "blkid", N_BLOCK, { "util-linux", "util-linux", "util-linux" } },
	{ false, "mkfs.ocfs2", N_OCFS2, { "ocfs2-tools", "ocfs2-tools", "ocfs2-tools" } },
	{ false, "tunefs.ocfs2", N_OCFS2, { "ocfs2-tools", "ocfs2-tools", "ocfs2-tools" } },
	{ false, "mkfs.gfs2", N_GFS2, { "gfs2-utils", "gfs2-utils", "gfs2-utils" } },
	{ false, "gfs2_jadd", N_GFS2, { "gfs2-utils", "gfs2-utils", "gfs2-utils" } },
	{ false, "dlm_controld", N_OCFS2 | N_GFS2, { "dlm-controld", "dlm", "dlm" } },
	{ false, "mount.nfs", N_NFS, { "nfs-common", "nfs-utils", "nfs-utils" } },
	{ false, "mount.cifs", N_SMB, { "cifs-utils", "cifs-utils", "cifs-utils" } },
	{ true, "iscsi_tcp", N_ISCSI, { NULL } },
	{ true, "dm_multipath", N_ISCSI | N_FC, { NULL } },
	{ true, "nvme_tcp", N_NVME, { NULL } },
	{ true, "ocfs2", N_OCFS2, { NULL } },
	{ true, "ocfs2_stack_user", N_OCFS2, { NULL } },
	{ true, "gfs2", N_GFS2, { NULL } },
	{ true, "dlm", N_OCFS2 | N_GFS2, { NULL } },
	{ true, "nfs", N_NFS, { NULL } },
	{ true, "cifs", N_SMB, { NULL } },
};

static const char *const libvirt_pkg[_FAM_MAX] = { "libvirt-daemon-system", "libvirt", "libvirt" };

/* How to turn a protocol on for an SVM (ONTAP CLI): command, then " -vserver SVM", then the rest. */
static const char *const enable_cli[_DS_PROTO_MAX][2] = {
	[DS_PROTO_ISCSI] = { "vserver iscsi create", "" },
	[DS_PROTO_FC] = { "vserver fcp create", "" },
	[DS_PROTO_NVME_TCP] = { "vserver nvme create", "" },
	[DS_PROTO_NFS] = { "vserver nfs create", " -v4.1 enabled" },
	[DS_PROTO_SMB] = { "vserver cifs create", " -cifs-server NAME -domain DOMAIN" },
};
static const char *const lif_policy[_DS_PROTO_MAX] = {
	[DS_PROTO_ISCSI] = "default-data-iscsi",
	[DS_PROTO_NVME_TCP] = "default-data-nvme-tcp",
	[DS_PROTO_NFS] = "default-data-files",
	[DS_PROTO_SMB] = "default-data-files",
};

struct b {
	const struct preflight_input *in;
	unsigned in_use;              /* NEED_* bits */
	json_t *findings;             /* the report's array (borrowed from the report) */
	json_t *node;                 /* the current node's summary (borrowed), NULL for ONTAP */
	unsigned passed, failed, unknown;
	bool oom;
};

static char *vstrf(const char *fmt, va_list ap) _printf_(1, 0);
static char *vstrf(const char *fmt, va_list ap)
{
	char *s = NULL;

	return vasprintf(&s, fmt, ap) < 0 ? NULL : s;
}

static char *strf(const char *fmt, ...) _printf_(1, 2);
static char *strf(const char *fmt, ...)
{
	va_list ap;
	char *s;

	va_start(ap, fmt);
	s = vstrf(fmt, ap);
	va_end(ap);
	return s;
}

static const char *jstr(const json_t *o, const char *key)
{
	return json_string_value(json_object_get(o, key));
}

/* "needed_for": the names of the bits of `needs` in use; ["all"] for 0. */
static json_t *needed_for(const struct b *b, unsigned needs)
{
	json_t *a = json_array();

	if (!a)
		return NULL;
	if (!needs)
		json_array_append_new(a, json_string("all"));
	for (int p = 0; p < _DS_PROTO_MAX; p++)
		if (needs & b->in_use & NEED_PROTO(p))
			json_array_append_new(a, json_string(ds_protocol_name(p)));
	for (int f = DS_FS_OCFS2; f < _DS_FS_MAX; f++)
		if (needs & b->in_use & NEED_FS(f))
			json_array_append_new(a, json_string(ds_fs_name(f)));
	return a;
}

/*
 * Appends one finding. ok: 1 passed, 0 failed, -1 unknown. found (taken), fix (taken; dropped
 * when ok), pkg (static, per family, NULL: none), family (of the node; -1 unknown).
 */
static void add(struct b *b, const char *node, const char *check, int ok, unsigned needs, char *found, char *fix,
		const char *const *pkg, int family)
{
	json_t *f, *pkgs = json_null(), *pkg_one = json_null();

	if (ok == 1) {
		free(fix);
		fix = NULL;
	}
	if (pkg && pkg[0]) {
		pkgs = json_pack("{ssssss}", family_names[FAM_DEBIAN], pkg[FAM_DEBIAN], family_names[FAM_FEDORA],
				 pkg[FAM_FEDORA], family_names[FAM_ARCH], pkg[FAM_ARCH]);
		if (family >= 0)
			pkg_one = json_string(pkg[family]);
	}
	f = found && (ok == 1 || fix) ?
		json_pack("{ssss?sosssoss?soso}", "check", check, "node", node, "ok",
			  ok < 0 ? json_null() : json_boolean(ok == 1), "found", found, "needed_for", needed_for(b, needs),
			  "fix", fix, "packages", pkgs, "package", pkg_one) : NULL;
	free(found);
	free(fix);
	if (!f || json_array_append_new(b->findings, f) < 0) {
		b->oom = true;
		return;
	}
	if (ok == 1)
		b->passed++;
	else if (ok == 0)
		b->failed++;
	else
		b->unknown++;
	if (b->node) {
		const char *k = ok == 1 ? "passed" : ok == 0 ? "failed" : "unknown";
		json_object_set_new(b->node, k, json_integer(json_integer_value(json_object_get(b->node, k)) + 1));
	}
}

/* "install open-iscsi: apt install open-iscsi", or every family's name when the node's is not known. */
static char *install_text(const char *what, const char *const *pkg, int family)
{
	if (family >= 0)
		return strf("install %s (it provides %s): %s %s", pkg[family], what, family_install[family], pkg[family]);
	return strf("install the package that provides %s: %s (%s), %s (%s), %s (%s)", what, pkg[FAM_DEBIAN],
		    family_label[FAM_DEBIAN], pkg[FAM_FEDORA], family_label[FAM_FEDORA], pkg[FAM_ARCH], family_label[FAM_ARCH]);
}

const char *preflight_family(const json_t *os)
{
	static const struct { const char *word; enum family f; } words[] = {
		{ "debian", FAM_DEBIAN }, { "ubuntu", FAM_DEBIAN }, { "raspbian", FAM_DEBIAN }, { "linuxmint", FAM_DEBIAN },
		{ "devuan", FAM_DEBIAN }, { "fedora", FAM_FEDORA }, { "rhel", FAM_FEDORA }, { "centos", FAM_FEDORA },
		{ "rocky", FAM_FEDORA }, { "almalinux", FAM_FEDORA }, { "ol", FAM_FEDORA }, { "arch", FAM_ARCH },
		{ "manjaro", FAM_ARCH }, { "endeavouros", FAM_ARCH },
	};
	const char *fields[2] = { jstr(os, "id"), jstr(os, "id_like") };

	for (size_t k = 0; k < ARRAY_SIZE(fields); k++) {
		const char *p = fields[k];
		while (p && *p) {
			size_t n;
			p += strspn(p, " \t");
			n = strcspn(p, " \t");
			for (size_t i = 0; n && i < ARRAY_SIZE(words); i++)
				if (strlen(words[i].word) == n && strncasecmp(p, words[i].word, n) == 0)
					return family_names[words[i].f];
			p += n;
		}
	}
	return NULL;
}

static int family_of(const json_t *inv)
{
	const char *f = preflight_family(json_object_get(inv, "os"));

	for (int i = 0; f && i < _FAM_MAX; i++)
		if (strcmp(f, family_names[i]) == 0)
			return i;
	return -1;
}

/* The inventory's "problems" line about a file, for the message (NULL: none). */
static const char *problem_about(const json_t *inv, const char *file)
{
	const json_t *p;
	size_t i;

	json_array_foreach(json_object_get(inv, "problems"), i, p)
		if (json_string_value(p) && strstr(json_string_value(p), file))
			return json_string_value(p);
	return NULL;
}

/* The other nodes holding the same identity (case-insensitive), ", "-separated; NULL: none
 * (or OOM, which latches). */
static char *holders(struct b *b, size_t self, const char *key, const char *value)
{
	char *out = NULL;
	size_t len = 0;
	FILE *f;
	bool any = false;

	if (!value)
		return NULL;
	f = open_memstream(&out, &len);
	if (!f) {
		b->oom = true;
		return NULL;
	}
	for (size_t i = 0; i < b->in->n_nodes; i++) {
		const json_t *inv = b->in->nodes[i].inventory, *v;
		bool same = false;
		size_t k;

		if (i == self || !json_is_object(inv))
			continue;
		if (json_is_array(json_object_get(inv, key))) {
			json_array_foreach(json_object_get(inv, key), k, v)
				same |= json_string_value(v) && strcasecmp(json_string_value(v), value) == 0;
		} else {
			same = jstr(inv, key) && strcasecmp(jstr(inv, key), value) == 0;
		}
		if (same) {
			fprintf(f, "%s%s", any ? ", " : "", b->in->nodes[i].name ? b->in->nodes[i].name : "?");
			any = true;
		}
	}
	if (fclose(f) != 0) {
		free(out);
		b->oom = true;
		return NULL;
	}
	if (!any) {
		free(out);
		return NULL;
	}
	return out;
}

static void check_identities(struct b *b, size_t idx, int family)
{
	const struct preflight_node *n = &b->in->nodes[idx];
	const json_t *inv = n->inventory;

	if (b->in_use & N_ISCSI) {
		const char *iqn = jstr(inv, "iscsi_iqn"), *why = problem_about(inv, "initiatorname.iscsi");
		_cleanup_free_ char *others = holders(b, idx, "iscsi_iqn", iqn);

		if (!iqn)
			add(b, n->name, "iscsi-iqn", 0, N_ISCSI,
			    why ? strf("no iSCSI initiator name: %s", why)
				: strf("no iSCSI initiator name (/etc/iscsi/initiatorname.iscsi is missing or has no InitiatorName=)"),
			    strf("give the host a unique name: echo \"InitiatorName=$(iscsi-iname)\" > /etc/iscsi/initiatorname.iscsi "
				 "(iscsi-iname comes with %s), then restart iscsid", family >= 0 ? requirements[0].pkg[family] : "open-iscsi"),
			    NULL, family);
		else if (others)
			add(b, n->name, "iscsi-iqn", 0, N_ISCSI, strf("initiator name %s is also %s's (a cloned host?)", iqn, others),
			    strf("give each host its own initiator name: echo \"InitiatorName=$(iscsi-iname)\" > "
				 "/etc/iscsi/initiatorname.iscsi on all but one of them, then restart iscsid"),
			    NULL, family);
		else
			add(b, n->name, "iscsi-iqn", 1, N_ISCSI, strf("%s, unique", iqn), NULL, NULL, family);
	}
	if (b->in_use & N_FC) {
		const json_t *w = json_object_get(inv, "fc_wwpns"), *v;
		_cleanup_free_ char *dups = NULL;
		size_t k, n_ports = 0;

		json_array_foreach(w, k, v) {
			_cleanup_free_ char *others = holders(b, idx, "fc_wwpns", json_string_value(v));
			n_ports += json_string_value(v) != NULL;
			if (others && !dups)
				dups = strf("FC port %s is also %s's (a cloned host?)", json_string_value(v), others);
		}
		if (!n_ports)
			add(b, n->name, "fc-wwpn", 0, N_FC, strf("no FC host port (nothing in /sys/class/fc_host)"),
			    strf("install an FC HBA and load its driver (e.g. qla2xxx, lpfc), or use another protocol"), NULL,
			    family);
		else if (dups)
			add(b, n->name, "fc-wwpn", 0, N_FC, TAKE_PTR(dups),
			    strf("each host needs its own FC ports: WWPNs are set by the HBA (or the virtual port's "
				 "definition); fix the duplicated one"),
			    NULL, family);
		else
			add(b, n->name, "fc-wwpn", 1, N_FC, strf("%zu FC port%s, unique", n_ports, n_ports == 1 ? "" : "s"), NULL,
			    NULL, family);
	}
	if (b->in_use & N_NVME) {
		const char *nqn = jstr(inv, "nvme_nqn"), *why = problem_about(inv, "nvme/hostnqn");
		_cleanup_free_ char *others = holders(b, idx, "nvme_nqn", nqn);

		if (!nqn)
			add(b, n->name, "nvme-host-nqn", 0, N_NVME,
			    why ? strf("no NVMe host NQN: %s", why) : strf("no NVMe host NQN (/etc/nvme/hostnqn is missing)"),
			    strf("nvme gen-hostnqn > /etc/nvme/hostnqn (nvme-cli)"), NULL, family);
		else if (others)
			add(b, n->name, "nvme-host-nqn", 0, N_NVME, strf("host NQN %s is also %s's (a cloned host?)", nqn, others),
			    strf("give each host its own: nvme gen-hostnqn > /etc/nvme/hostnqn and a new /etc/nvme/hostid "
				 "(uuidgen) on all but one of them"),
			    NULL, family);
		else
			add(b, n->name, "nvme-host-nqn", 1, N_NVME, strf("%s, unique", nqn), NULL, NULL, family);
	}
}

static void check_requirements(struct b *b, const struct preflight_node *n, int family)
{
	const json_t *inv = n->inventory, *tools = json_object_get(inv, "tools"), *mods = json_object_get(inv, "modules");
	const char *kernel = jstr(inv, "kernel");

	for (size_t i = 0; i < ARRAY_SIZE(requirements); i++) {
		const struct requirement *q = &requirements[i];
		char check[64];

		if (!(q->needs & b->in_use))
			continue;
		snprintf(check, sizeof(check), "%s:%s", q->module ? "module" : "tool", q->name);
		if (!q->module) {
			const json_t *v = json_object_get(tools, q->name);
			if (json_is_true(v))
				add(b, n->name, check, 1, q->needs, strf("present"), NULL, q->pkg, family);
			else if (json_is_false(v))
				add(b, n->name, check, 0, q->needs, strf("missing"), install_text(q->name, q->pkg, family), q->pkg,
				    family);
			else
				add(b, n->name, check, -1, q->needs, strf("not reported by this node's kvmcd"),
				    strf("upgrade kvmcd on %s", n->name), q->pkg, family);
			continue;
		}
		{
			const char *st = json_string_value(json_object_get(mods, q->name));
			if (st && (!strcmp(st, "loaded") || !strcmp(st, "builtin")))
				add(b, n->name, check, 1, q->needs, strf("%s", st), NULL, NULL, family);
			else if (st && !strcmp(st, "available"))
				add(b, n->name, check, 1, q->needs, strf("available (loaded on demand)"), NULL, NULL, family);
			else if (st && !strcmp(st, "missing"))
				add(b, n->name, check, 0, q->needs, strf("missing from kernel %s", kernel ? kernel : "?"),
				    strf("the running kernel has no %s module: install a kernel, or its extra modules package, "
					 "that has it (e.g. Debian's linux-image-amd64, not the -cloud flavour; Fedora's "
					 "kernel-modules-extra) and boot it",
					 q->name),
				    NULL, family);
			else
				add(b, n->name, check, -1, q->needs, strf("not reported by this node's kvmcd"),
				    strf("upgrade kvmcd on %s", n->name), NULL, family);
		}
	}
}

static void check_libvirtd(struct b *b, const struct preflight_node *n, int family)
{
	const json_t *lv = json_object_get(n->inventory, "libvirtd");
	const char *uri = jstr(lv, "uri");

	if (json_is_true(json_object_get(lv, "answers")))
		add(b, n->name, "libvirtd", 1, 0, strf("%s answers (libvirt %s)", uri ? uri : "?", jstr(lv, "version") ?: "?"),
		    NULL, libvirt_pkg, family);
	else if (json_is_object(lv))
		add(b, n->name, "libvirtd", 0, 0,
		    strf("%s does not answer: %s", uri ? uri : "?", jstr(lv, "error") ?: "no reason given"),
		    family >= 0 ? strf("install %s (%s %s) and start it: systemctl enable --now libvirtd", libvirt_pkg[family],
				       family_install[family], libvirt_pkg[family])
				: strf("install libvirtd (%s: %s, %s: %s, %s: %s) and start it: systemctl enable --now libvirtd",
				       family_label[FAM_DEBIAN], libvirt_pkg[FAM_DEBIAN], family_label[FAM_FEDORA],
				       libvirt_pkg[FAM_FEDORA], family_label[FAM_ARCH], libvirt_pkg[FAM_ARCH]),
		    libvirt_pkg, family);
	else
		add(b, n->name, "libvirtd", 0, 0,
		    strf("not probed (this node's kvmcd is built without libvirt, or [host] libvirt_uri is empty)"),
		    strf("kvmcd defines the datastores' pools in libvirtd: build kvmcd with libvirt and set [host] libvirt_uri"),
		    NULL, family);
}

/* The node's VM lock, as its kvmcd found it (preflight_node.vm_lock). */
static void check_vm_lock(struct b *b, const struct preflight_node *n, int family)
{
	static const char *const dlm_pkg[_FAM_MAX] = { "dlm-controld", "dlm", "dlm" };
	const json_t *vl = n->vm_lock, *ok = json_object_get(vl, "ok");
	const char *configured = jstr(vl, "configured") ?: "?", *system = jstr(vl, "system") ?: "?";
	const char *found = jstr(vl, "found") ?: "nothing said";
	/* a node that really mounts OCFS2 / GFS2 runs DLM: auto not finding it there is a fault. The
	 * simulated host backend (tests) mounts no cluster file system */
	bool cluster_fs = (b->in_use & (N_OCFS2 | N_GFS2)) && !strcmp(jstr(n->inventory, "backend") ?: "", "real");

	if (!json_is_object(vl))
		return;
	if (json_is_true(ok) && !strcmp(system, "none") && !strcmp(configured, "auto") && cluster_fs)
		add(b, n->name, "vm-lock", 0, N_OCFS2 | N_GFS2, strf("none ([vms] vm_lock = auto): %s", found),
		    strf("start DLM on %s (systemctl enable --now dlm; the cluster file systems need it too): kvmcd "
			 "finds it within 30 s and takes a DLM lock per running VM; or set [vms] vm_lock = none",
			 n->name),
		    dlm_pkg, family);
	else if (json_is_true(ok))
		add(b, n->name, "vm-lock", 1, 0, strf("%s ([vms] vm_lock = %s): %s", system, configured, found), NULL, NULL,
		    family);
	else if (json_is_false(ok) && !strcmp(configured, "lockd"))
		add(b, n->name, "vm-lock", 0, 0, strf("lockd does not work here: %s", found),
		    strf("set up libvirt's lockd on %s: qemu.conf lock_manager = \"lockd\"; qemu-lockd.conf "
			 "require_lease_for_disks = 1 and file_lockspace_dir on a datastore every node mounts; virtlockd "
			 "running (systemctl enable --now virtlockd.socket); libvirtd restarted. Or set [vms] vm_lock = "
			 "dlm or none and restart kvmcd",
			 n->name),
		    NULL, family);
	else if (json_is_false(ok))
		add(b, n->name, "vm-lock", 0, 0, strf("%s does not work here: %s", configured, found),
		    strf("start DLM on %s (corosync and dlm_controld: systemctl enable --now dlm), or set [vms] vm_lock "
			 "= lockd or none and restart kvmcd; until then no VM starts there",
			 n->name),
		    dlm_pkg, family);
	else
		add(b, n->name, "vm-lock", -1, 0, strf("%s ([vms] vm_lock = %s) is being probed: %s", system, configured, found),
		    strf("run preflight again in a few seconds; `kvmcctl log` on %s says what the probe waits for", n->name),
		    NULL, family);
}

static void check_node(struct b *b, size_t idx)
{
	const struct preflight_node *n = &b->in->nodes[idx];
	const json_t *inv = n->inventory, *os;
	int family;

	b->node = json_pack("{sssnsnsnsisisi}", "name", n->name ? n->name : "?", "family", "os", "backend", "passed", 0,
			    "failed", 0, "unknown", 0);
	if (!b->node) {
		b->oom = true;
		return;
	}
	if (!json_is_object(inv)) {
		add(b, n->name, "inventory", 0, 0,
		    n->member ? strf("kvmcd on %s has not published its inventory yet", n->name)
			      : strf("kvmcd on %s is not a member of the cluster (stopped, or cut off): its inventory is unknown",
				     n->name),
		    n->member ? strf("wait a few seconds and run preflight again; `kvmcctl log` on %s says why it cannot collect it",
				     n->name)
			      : strf("start kvmcd on %s (systemctl start kvmcd) and run preflight again; a host that left for "
				     "good: list the cluster's hosts in the spec's \"nodes\"",
				     n->name),
		    NULL, -1);
		return;
	}
	os = json_object_get(inv, "os");
	family = family_of(inv);
	json_object_set_new(b->node, "family", family >= 0 ? json_string(family_names[family]) : json_null());
	json_object_set_new(b->node, "os", jstr(os, "pretty_name") ? json_string(jstr(os, "pretty_name")) : json_null());
	json_object_set_new(b->node, "backend", jstr(inv, "backend") ? json_string(jstr(inv, "backend")) : json_null());
	{
		const json_t *p;
		size_t i;
		char *found = strf("published by %s kvmcd (%s backend), kernel %s%s", n->member ? "its" : "its last",
				   jstr(inv, "backend") ?: "?", jstr(inv, "kernel") ?: "?",
				   json_array_size(json_object_get(inv, "problems")) ? "; problems:" : "");
		json_array_foreach(json_object_get(inv, "problems"), i, p) {
			char *more = found && json_string_value(p) ? strf("%s %s", found, json_string_value(p)) : NULL;
			free(found);
			found = more;
		}
		add(b, n->name, "inventory", 1, 0, found, NULL, NULL, family);
	}
	check_libvirtd(b, n, family);
	check_requirements(b, n, family);
	check_identities(b, idx, family);
	check_vm_lock(b, n, family);
}

static void check_ontap(struct b *b)
{
	const json_t *svm = b->in->svm, *serves = json_object_get(svm, "serves"), *lifs = json_object_get(svm, "lifs");
	const char *name = jstr(svm, "name");

	b->node = NULL;
	if (!(b->in_use & (NEED_PROTO(_DS_PROTO_MAX) - 1)))
		return;
	if (!json_is_object(svm)) {
		add(b, NULL, "ontap", -1, 0, strf("the leader has not recorded the SVM (no [ontap] section, ONTAP not reached yet, or an older leader)"),
		    strf("`kvmcctl status` on the leader shows its ONTAP link; `kvmcctl ontap check` tests the connection"), NULL,
		    -1);
		return;
	}
	if (!name)
		name = "?";
	for (int p = 0; p < _DS_PROTO_MAX; p++) {
		const json_t *s = json_object_get(serves, ds_protocol_name(p)), *l = json_object_get(lifs, ds_protocol_name(p));
		char check[64];

		if (!(b->in_use & NEED_PROTO(p)))
			continue;
		snprintf(check, sizeof(check), "ontap-protocol:%s", ds_protocol_name(p));
		if (json_is_true(s))
			add(b, NULL, check, 1, NEED_PROTO(p), strf("SVM %s serves %s", name, ds_protocol_name(p)), NULL, NULL, -1);
		else if (json_is_false(s))
			add(b, NULL, check, 0, NEED_PROTO(p), strf("SVM %s does not serve %s", name, ds_protocol_name(p)),
			    strf("enable %s on SVM %s (ONTAP CLI: %s -vserver %s%s; or System Manager: Storage VMs > %s > "
				 "Settings), or use another protocol",
				 ds_protocol_name(p), name, enable_cli[p][0], name, enable_cli[p][1], name),
			    NULL, -1);
		else
			add(b, NULL, check, -1, NEED_PROTO(p),
			    strf("not known whether SVM %s serves %s (the ONTAP user cannot read the SVM's protocols)", name,
				 ds_protocol_name(p)),
			    strf("`kvmcctl ontap check` on any node shows what the SVM serves"), NULL, -1);
		if (!json_is_integer(l) || !json_is_true(s))
			continue;
		snprintf(check, sizeof(check), "ontap-lifs:%s", ds_protocol_name(p));
		if (json_integer_value(l) > 0)
			add(b, NULL, check, 1, NEED_PROTO(p),
			    strf("%" JSON_INTEGER_FORMAT " %s data LIF%s up", json_integer_value(l), ds_protocol_name(p),
				 json_integer_value(l) == 1 ? "" : "s"),
			    NULL, NULL, -1);
		else
			add(b, NULL, check, 0, NEED_PROTO(p), strf("SVM %s has no %s data LIF up", name, ds_protocol_name(p)),
			    strf("create one (two, on different nodes, for multipath) on SVM %s: network interface create "
				 "-vserver %s -lif NAME -service-policy %s -home-node NODE -home-port PORT -address IP "
				 "-netmask MASK",
				 name, name, lif_policy[p] ? lif_policy[p] : "default-data-blocks"),
			    NULL, -1);
	}
}

int preflight_check(const struct preflight_input *in, json_t **out)
{
	json_auto_t *report = NULL, *protos = json_array(), *fss = json_array(), *nodes = json_array();
	struct b b = { .in = in };

	if (!in || (in->n_nodes && !in->nodes) || (in->n_datastores && !in->datastores))
		return -EINVAL;
	if (!protos || !fss || !nodes)
		return -ENOMEM;
	for (size_t i = 0; i < in->n_datastores; i++) {
		const struct ds_spec *d = &in->datastores[i];
		if ((unsigned)d->protocol < _DS_PROTO_MAX)
			b.in_use |= NEED_PROTO(d->protocol);
		if (ds_is_block(d->protocol) && d->fs > DS_FS_NONE && (unsigned)d->fs < _DS_FS_MAX)
			b.in_use |= NEED_FS(d->fs);
	}
	for (int p = 0; in->protocols && p < _DS_PROTO_MAX; p++)
		if (in->protocols[p])
			b.in_use |= NEED_PROTO(p);
	for (int f = DS_FS_OCFS2; in->file_systems && f < _DS_FS_MAX; f++)
		if (in->file_systems[f])
			b.in_use |= NEED_FS(f);
	for (int p = 0; p < _DS_PROTO_MAX; p++)
		if (b.in_use & NEED_PROTO(p))
			json_array_append_new(protos, json_string(ds_protocol_name(p)));
	for (int f = DS_FS_OCFS2; f < _DS_FS_MAX; f++)
		if (b.in_use & NEED_FS(f))
			json_array_append_new(fss, json_string(ds_fs_name(f)));

	report = json_pack("{sOsOsOs[]}", "protocols", protos, "file_systems", fss, "nodes", nodes, "findings");
	if (!report)
		return -ENOMEM;
	b.findings = json_object_get(report, "findings");
	for (size_t i = 0; i < in->n_nodes && !b.oom; i++) {
		check_node(&b, i);
		if (b.node && json_array_append_new(nodes, b.node) < 0)
			b.oom = true;
		b.node = NULL;
	}
	if (!b.oom)
		check_ontap(&b);
	if (b.oom || json_object_set_new(report, "ok", json_boolean(b.failed == 0)) < 0 ||
	    json_object_set_new(report, "passed", json_integer(b.passed)) < 0 ||
	    json_object_set_new(report, "failed", json_integer(b.failed)) < 0 ||
	    json_object_set_new(report, "unknown", json_integer(b.unknown)) < 0)
		return -ENOMEM;
	*out = TAKE_PTR(report);
	return 0;
}
