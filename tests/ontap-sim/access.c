/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * ontap-sim: the data-path access endpoint, outside /api (README.md "Access endpoint").
 *
 * This machine has no iSCSI, FC, NVMe/TCP or NFS, so the host side of the multi-node tier
 * (resources/host/sim.c) asks the simulator what a host could reach through the fabric right
 * now, decided from the same records a real array would use:
 *
 *   GET /sim/access?initiator=IQN|WWPN[,...]  LUNs mapped to an igroup holding one of them
 *   GET /sim/access?hostnqn=NQN               namespaces mapped to a subsystem listing that host
 *   GET /sim/access[?client=ADDR]             junctioned volumes and what their export policy
 *                                             grants ADDR (default: the caller's address), and
 *                                             the CIFS shares on each (SMB: a share exists and
 *                                             the SVM's CIFS server is enabled)
 *
 * Each answer lists the backing file (--backing-dir) that stands for the LUN / namespace, so the
 * host can "attach" it. No authentication: this is the fabric, not the management API (access
 * to a LUN is governed by igroups, not by REST users). Not in the request log (it logs /api).
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "sim.h"

/* An initiator name in one comparable form: IQN / EUI / NAA lower-cased; an FC WWPN
 * ("20:00:00:25:b5:00:00:01" or "0x20000025b5000001") as 16 lower-case hex digits. */
static void initiator_norm(const char *in, char *out, size_t size)
{
	size_t n = 0, hex = 0;
	const char *p = in;
	bool wwpn = true;

	if (strncasecmp(p, "0x", 2) == 0)
		p += 2;
	for (const char *q = p; *q; q++) {
		if (isxdigit((unsigned char)*q))
			hex++;
		else if (*q != ':')
			wwpn = false;
	}
	if (wwpn && hex == 16) {
		for (; *p && n + 1 < size; p++)
			if (*p != ':')
				out[n++] = (char)tolower((unsigned char)*p);
	} else {
		for (p = in; *p && n + 1 < size; p++)
			out[n++] = (char)tolower((unsigned char)*p);
	}
	out[n] = '\0';
}

static bool initiator_in(json_t *wanted /* array of normalised names */, const char *name)
{
	char norm[256];
	json_t *w;
	size_t i;

	if (!name)
		return false;
	initiator_norm(name, norm, sizeof(norm));
	json_array_foreach(wanted, i, w)
		if (strcmp(json_string_value(w), norm) == 0)
			return true;
	return false;
}

static bool service_enabled(struct sim *sim, const char *coll, const char *svm_uuid)
{
	json_t *svc = state_find(sim, coll, "svm.uuid", svm_uuid);

	return svc && !json_is_false(json_object_get(svc, "enabled"));
}

/* A LUN or namespace the data path can serve: enabled, online, in an online volume. */
static bool block_online(struct sim *sim, json_t *rec)
{
	json_t *vol = state_find(sim, "volumes", "uuid", jstr(rec, "location.volume.uuid"));

	if (json_is_false(json_object_get(rec, "enabled")))
		return false;
	if (jstr(rec, "status.state") && strcmp(jstr(rec, "status.state"), "online") != 0)
		return false;
	return !vol || !jstr(vol, "state") || strcmp(jstr(vol, "state"), "online") == 0;
}

static json_t *backing_of(json_t *rec)
{
	const char *p = jstr(rec, "_sim.backing_file");

	return p ? json_string(p) : json_null();
}

static json_t *luns_for(struct sim *sim, const char *list)
{
	json_auto_t *wanted = json_array();
	_cleanup_free_ char *copy = strdup(list);
	json_t *out = json_array(), *m, *x;
	char *save = NULL;
	size_t i, k;

	if (!copy || !out)
		return out;
	for (char *t = strtok_r(copy, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
		char norm[256];
		initiator_norm(t, norm, sizeof(norm));
		json_array_append_new(wanted, json_string(norm));
	}
	json_array_foreach(state_array(sim, "lun_maps"), i, m) {
		json_t *ig = state_find(sim, "igroups", "uuid", jstr(m, "igroup.uuid"));
		json_t *lun = state_find(sim, "luns", "uuid", jstr(m, "lun.uuid"));
		json_t *svc, *rec = NULL, *init;
		bool match = false, iscsi = false;

		if (!ig || !lun || !block_online(sim, lun))
			continue;
		json_array_foreach(json_object_get(ig, "initiators"), k, init) {
			if (initiator_in(wanted, jstr(init, "name"))) {
				match = true;
				iscsi |= strncasecmp(jstr(init, "name"), "iqn.", 4) == 0 ||
					 strncasecmp(jstr(init, "name"), "eui.", 4) == 0;
			}
		}
		if (!match)
			continue;
		/* iSCSI initiators reach a LUN only while the SVM's iSCSI service runs */
		if (iscsi && !service_enabled(sim, "iscsi_services", jstr(lun, "svm.uuid")))
			continue;
		json_array_foreach(out, k, x)
			if (streq_ci(jstr(x, "uuid"), jstr(lun, "uuid")))
				rec = x;
		if (rec) {
			json_array_append_new(json_object_get(rec, "igroups"), json_string(jstr(ig, "name")));
			continue;
		}
		svc = state_find(sim, "iscsi_services", "svm.uuid", jstr(lun, "svm.uuid"));
		rec = json_pack("{s:s,s:s,s:s,s:s,s:I,s:O,s:[s],s:s,s:o}", "uuid", jstr(lun, "uuid"),
				"name", jstr(lun, "name"), "svm", jstr(lun, "svm.name"), "serial_number",
				jstr(lun, "serial_number"), "size", jint(lun, "space.size", 0),
				"logical_unit_number", json_object_get(m, "logical_unit_number"),
				"igroups", jstr(ig, "name"), "target_iqn",
				jstr(svc, "target.name") ? jstr(svc, "target.name") : "", "backing_file",
				backing_of(lun));
		if (rec) {
			json_object_set_new(rec, "smb", json_boolean(json_array_size(json_object_get(rec, "shares")) > 0));
			json_array_append_new(out, rec);
		}
	}
	return out;
}

static json_t *namespaces_for(struct sim *sim, const char *nqn)
{
	json_t *out = json_array(), *m, *h;
	size_t i, k;

	if (!out)
		return out;
	json_array_foreach(state_array(sim, "subsystem_maps"), i, m) {
		json_t *ss = state_find(sim, "subsystems", "uuid", jstr(m, "subsystem.uuid"));
		json_t *ns = state_find(sim, "namespaces", "uuid", jstr(m, "namespace.uuid"));
		bool match = false;

		if (!ss || !ns || !block_online(sim, ns))
			continue;
		json_array_foreach(json_object_get(ss, "hosts"), k, h)
			match |= streq_ci(jstr(h, "nqn"), nqn);
		if (!match || !service_enabled(sim, "nvme_services", jstr(ns, "svm.uuid")))
			continue;
		json_array_append_new(out, json_pack("{s:s,s:s,s:s,s:I,s:s,s:s,s:O,s:o}", "uuid",
						     jstr(ns, "uuid"), "name", jstr(ns, "name"), "svm",
						     jstr(ns, "svm.name"), "size", jint(ns, "space.size", 0),
						     "subsystem", jstr(ss, "name"), "target_nqn",
						     jstr(ss, "target_nqn") ? jstr(ss, "target_nqn") : "",
						     "nsid", json_object_get(m, "nsid"), "backing_file",
						     backing_of(ns)));
	}
	return out;
}

/* Does an export rule's client match ADDR? Addresses and CIDR subnets (IPv4, IPv6); "0.0.0.0/0"
 * and "::/0" match everything of their family. Host names, domains and netgroups never match
 * (the simulator resolves nothing; README). */
static bool client_matches(const char *match, const char *addr)
{
	unsigned char a[16], m[16];
	char net[INET6_ADDRSTRLEN + 8];
	const char *slash = strchr(match, '/');
	int family, bits, len;

	family = strchr(addr, ':') ? AF_INET6 : AF_INET;
	len = family == AF_INET6 ? 16 : 4;
	if (inet_pton(family, addr, a) != 1)
		return false;
	snprintf(net, sizeof(net), "%.*s", slash ? (int)(slash - match) : (int)strlen(match), match);
	if (inet_pton(family, net, m) != 1)
		return false;
	bits = slash ? atoi(slash + 1) : len * 8;
	if (bits < 0 || bits > len * 8)
		return false;
	for (int i = 0; i < len && bits > 0; i++, bits -= 8) {
		unsigned char mask = bits >= 8 ? 0xff : (unsigned char)(0xff << (8 - bits));
		if ((a[i] & mask) != (m[i] & mask))
			return false;
	}
	return true;
}

static bool list_has(json_t *list, const char *const *values)
{
	json_t *x;
	size_t i;

	json_array_foreach(list, i, x)
		for (size_t k = 0; values[k]; k++)
			if (streq_ci(json_string_value(x), values[k]))
				return true;
	return false;
}

/* "never" denies; every other security flavour (any, sys, none = anonymous, krb5...) grants. */
static bool rule_grants(json_t *list)
{
	json_t *x;
	size_t i;

	json_array_foreach(list, i, x)
		if (!streq_ci(json_string_value(x), "never"))
			return true;
	return false;
}

/* What the export policy of vol grants addr over NFS: "rw", "ro" or "none"; *index the rule. */
static const char *nfs_access(struct sim *sim, json_t *vol, const char *addr, json_int_t *index)
{
	static const char *const nfs[] = { "any", "nfs", "nfs3", "nfs4", NULL };
	const char *pname = jstr(vol, "nas.export_policy.name");
	json_t *pol, *rule, *c;
	size_t i, k;

	*index = -1;
	if (!service_enabled(sim, "nfs_services", jstr(vol, "svm.uuid")))
		return "none";
	pol = state_find2(sim, "export_policies", "name", pname ? pname : "default", "svm.uuid",
			  jstr(vol, "svm.uuid"));
	if (!pol)
		return "none";
	/* ONTAP evaluates the rules in index order; the first one matching the client decides */
	json_array_foreach(json_object_get(pol, "rules"), i, rule) {
		bool match = false;
		json_array_foreach(json_object_get(rule, "clients"), k, c)
			match |= jstr(c, "match") && client_matches(jstr(c, "match"), addr);
		if (!match || !list_has(json_object_get(rule, "protocols"), nfs))
			continue;
		*index = jint(rule, "index", 0);
		if (!rule_grants(json_object_get(rule, "ro_rule")))
			return "none";
		return rule_grants(json_object_get(rule, "rw_rule")) ? "rw" : "ro";
	}
	return "none";
}

/* SMB: the names of the CIFS shares on this volume (whose path is in it), while the SVM's CIFS
 * server is enabled; share-level ACLs are not evaluated (the simulated host has no SMB user). */
static json_t *smb_shares(struct sim *sim, json_t *vol)
{
	json_t *out = json_array(), *sh, *svc = cifs_service_of(sim, jstr(vol, "svm.uuid"));
	size_t i;

	if (!out || !svc || !json_is_true(json_object_get(svc, "enabled")))
		return out;
	json_array_foreach(state_array(sim, "cifs_shares"), i, sh)
		if (jstr(sh, "path") && cifs_volume_of_path(sim, jstr(vol, "svm.uuid"), jstr(sh, "path")) == vol)
			json_array_append_new(out, json_string(jstr(sh, "name")));
	return out;
}

static json_t *exports_for(struct sim *sim, const char *addr)
{
	json_t *out = json_array(), *vol;
	size_t i;

	if (!out)
		return out;
	json_array_foreach(state_array(sim, "volumes"), i, vol) {
		const char *junction = jstr(vol, "nas.path");
		json_int_t index;
		const char *nfs;
		json_t *rec;

		if (!junction || !*junction || (jstr(vol, "state") && strcmp(jstr(vol, "state"), "online")))
			continue;
		nfs = nfs_access(sim, vol, addr, &index);
		rec = json_pack("{s:s,s:s,s:s,s:s,s:o,s:o}", "volume", jstr(vol, "name"), "svm",
				jstr(vol, "svm.name"), "junction", junction, "nfs", nfs, "rule",
				index >= 0 ? json_integer(index) : json_null(), "shares", smb_shares(sim, vol));
		if (rec) {
			json_object_set_new(rec, "smb", json_boolean(json_array_size(json_object_get(rec, "shares")) > 0));
			json_array_append_new(out, rec);
		}
	}
	return out;
}

static int access_locked(struct sim *sim, const char *method, const char *path, json_t *query,
			 const char *peer, int *status, json_t **resp)
{
	const char *initiator = json_string_value(json_object_get(query, "initiator"));
	const char *nqn = json_string_value(json_object_get(query, "hostnqn"));
	const char *client = json_string_value(json_object_get(query, "client"));
	const char *key;
	json_t *v;

	if (strcmp(path, "/sim/access") != 0 && strcmp(path, "/sim/access/") != 0) {
		*status = 404;
		*resp = json_pack("{s:{s:s,s:s}}", "error", "message", "API not found", "code", "4");
		return -ENOENT;
	}
	if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0) {
		*status = 405;
		*resp = json_pack("{s:{s:s,s:s}}", "error", "message", "Only GET is supported on /sim/access.",
				  "code", "3");
		return -EINVAL;
	}
	json_object_foreach(query, key, v) {
		if (strcmp(key, "initiator") && strcmp(key, "hostnqn") && strcmp(key, "client")) {
			*status = 400;
			*resp = json_pack("{s:{s:s,s:s,s:s}}", "error", "message", "Unexpected argument.",
					  "code", "262179", "target", key);
			return -EINVAL;
		}
	}
	if (!!initiator + !!nqn + !!client > 1 || (initiator && !*initiator) || (nqn && !*nqn)) {
		*status = 400;
		*resp = json_pack("{s:{s:s,s:s}}", "error", "message",
				  "Give one of initiator=, hostnqn= or client= (non-empty).", "code", "2");
		return -EINVAL;
	}
	*status = 200;
	if (initiator)
		*resp = json_pack("{s:s,s:o}", "initiator", initiator, "luns", luns_for(sim, initiator));
	else if (nqn)
		*resp = json_pack("{s:s,s:o}", "hostnqn", nqn, "namespaces", namespaces_for(sim, nqn));
	else {
		if (!client || !*client)
			client = peer;
		if (!*client) {
			*status = 400;
			*resp = json_pack("{s:{s:s,s:s}}", "error", "message",
					  "Give client=ADDR: the access socket has no peer address.", "code", "2");
			return -EINVAL;
		}
		*resp = json_pack("{s:s,s:o}", "client", client, "exports", exports_for(sim, client));
	}
	return *resp ? 0 : -ENOMEM;
}

int access_handle(struct sim *sim, const char *method, const char *path, json_t *query,
		  const char *peer, int *status, json_t **resp)
{
	int ret;

	pthread_mutex_lock(&sim->lock);
	ret = access_locked(sim, method, path, query, peer ? peer : "", status, resp);
	pthread_mutex_unlock(&sim->lock);
	return ret;
}
