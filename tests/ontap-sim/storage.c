/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * ontap-sim: volumes (create, FlexClone, resize, rename, mount, restore, delete), volume
 * snapshots, LUNs and NVMe namespaces, and their sparse backing files.
 */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "sim.h"

#define MIB (1LL << 20)
#define TIB (1LL << 40)
#define VOL_MIN (20 * MIB)
#define BLK_MIN 4096LL
#define BLK_MAX (128 * TIB)

/* ---- backing files ---- */

static char *backing_path(struct sim *sim, json_t *rec)
{
	char *p = NULL;

	if (!sim->cfg.backing_dir)
		return NULL;
	if (asprintf(&p, "%s/%s.img", sim->cfg.backing_dir, jstr(rec, "uuid")) < 0)
		return NULL;
	return p;
}

int backing_resize(struct sim *sim, json_t *rec, json_int_t size)
{
	_cleanup_free_ char *p = backing_path(sim, rec);
	_cleanup_close_ int fd = -1;

	if (!p)
		return 0;
	fd = open(p, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
	if (fd < 0)
		return -errno;
	if (ftruncate(fd, size) < 0)
		return -errno;
	json_object_set_new(jsim(rec), "backing_file", json_string(p));
	return 0;
}

void backing_remove(struct sim *sim, json_t *rec)
{
	_cleanup_free_ char *p = backing_path(sim, rec);

	if (p)
		unlink(p);
}

/* Copies only the data extents, so a clone of a sparse LUN stays sparse. */
static int backing_copy(struct sim *sim, json_t *from, json_t *to, json_int_t size)
{
	_cleanup_free_ char *src = backing_path(sim, from), *dst = backing_path(sim, to);
	_cleanup_close_ int in = -1, out = -1;
	off_t data = 0, hole;

	if (!src || !dst)
		return 0;
	in = open(src, O_RDONLY | O_CLOEXEC);
	out = open(dst, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (out < 0)
		return -errno;
	if (ftruncate(out, size) < 0)
		return -errno;
	json_object_set_new(jsim(to), "backing_file", json_string(dst));
	if (in < 0)
		return 0;
	while ((data = lseek(in, data, SEEK_DATA)) >= 0) {
		off_t o_in, o_out;
		hole = lseek(in, data, SEEK_HOLE);
		if (hole < 0)
			break;
		o_in = o_out = data;
		while (o_in < hole) {
			ssize_t n = copy_file_range(in, &o_in, out, &o_out, (size_t)(hole - o_in), 0);
			if (n <= 0)
				return n < 0 ? -errno : 0;
		}
		data = hole;
	}
	return 0;
}

/* ---- helpers ---- */

static char *iso_now(struct sim *sim)
{
	return sim_time_iso(sim_now_us(sim), false);
}

json_t *volume_by_name(struct sim *sim, const char *svm_uuid, const char *name)
{
	return state_find2(sim, "volumes", "name", name, "svm.uuid", svm_uuid);
}

/* Space held by space-reserved (thick) LUNs and namespaces; thin ones hold none here. */
static json_int_t blocks_used(struct sim *sim, json_t *vol)
{
	static const char *const kinds[] = { "luns", "namespaces" };
	json_int_t used = 0;

	for (size_t k = 0; k < ARRAY_SIZE(kinds); k++) {
		json_t *x;
		size_t i;
		json_array_foreach(state_array(sim, kinds[k]), i, x)
			if (streq_ci(jstr(x, "location.volume.uuid"), jstr(vol, "uuid")) &&
			    json_is_true(jpath(x, "space.guarantee.requested")))
				used += jint(x, "space.size", 0);
	}
	return used;
}

json_int_t volume_free(struct sim *sim, json_t *vol)
{
	json_int_t size = jint(vol, "size", 0);
	json_int_t reserve = jint(vol, "space.snapshot.reserve_percent", 0);

	return size - size * reserve / 100 - blocks_used(sim, vol);
}

/*
 * A LUN/namespace must fit its volume: a thin one may not be larger than the volume's usable
 * size, a space-reserved one must also find the growth free (notes §8.13; code 1245212).
 */
static int space_check(struct sim *sim, json_t *vol, bool thick, json_int_t size, json_int_t cur,
		       struct sim_err *err)
{
	json_int_t vsize = jint(vol, "size", 0);
	json_int_t usable = vsize - vsize * jint(vol, "space.snapshot.reserve_percent", 0) / 100;

	if (size > usable || (thick && size - cur > volume_free(sim, vol)))
		return sim_err_set(err, 500, 1245212, "space.size",
				   "Not enough space in volume \"%s\": %lld bytes requested, %lld usable, %lld free.",
				   jstr(vol, "name"), (long long)size, (long long)usable,
				   (long long)volume_free(sim, vol));
	return 0;
}

bool lun_is_mapped(struct sim *sim, const char *lun_uuid)
{
	return state_find(sim, "lun_maps", "lun.uuid", lun_uuid) != NULL;
}

bool ns_is_mapped(struct sim *sim, const char *ns_uuid)
{
	return state_find(sim, "subsystem_maps", "namespace.uuid", ns_uuid) != NULL;
}

static bool snapshot_busy(struct sim *sim, json_t *snap, const char **owner)
{
	json_t *x;
	size_t i;

	json_array_foreach(state_array(sim, "volumes"), i, x) {
		if (streq_ci(jstr(x, "clone.parent_snapshot.uuid"), jstr(snap, "uuid"))) {
			*owner = "volume clone";
			return true;
		}
	}
	json_array_foreach(state_array(sim, "snapmirror_relationships"), i, x) {
		if (streq_ci(jstr(x, "_sim.src_snapshot"), jstr(snap, "uuid")) ||
		    streq_ci(jstr(x, "_sim.dst_snapshot"), jstr(snap, "uuid"))) {
			*owner = "snapmirror";
			return true;
		}
	}
	return false;
}

/* "/vol/<vol>[/<qtree>]/<name>" -> volume name, qtree, base name. */
static int split_path(const char *path, char *vol, char *qtree, char *base, size_t n)
{
	char buf[512], *parts[4];
	size_t np = 0;
	char *save = NULL;

	if (!path || strncmp(path, "/vol/", 5) != 0 || strlen(path) >= sizeof(buf))
		return -EINVAL;
	snprintf(buf, sizeof(buf), "%s", path + 5);
	for (char *t = strtok_r(buf, "/", &save); t; t = strtok_r(NULL, "/", &save)) {
		if (np == ARRAY_SIZE(parts))
			return -EINVAL;
		parts[np++] = t;
	}
	if (np < 2 || np > 3)
		return -EINVAL;
	for (const char *p = parts[np - 1]; *p; p++)
		if (!isalnum((unsigned char)*p) && !strchr("_-.", *p))
			return -EINVAL;
	snprintf(vol, n, "%s", parts[0]);
	snprintf(qtree, n, "%s", np == 3 ? parts[1] : "");
	snprintf(base, n, "%s", parts[np - 1]);
	return 0;
}

static bool block_path_taken(struct sim *sim, const char *svm_uuid, const char *path)
{
	return state_find2(sim, "luns", "name", path, "svm.uuid", svm_uuid) ||
	       state_find2(sim, "namespaces", "name", path, "svm.uuid", svm_uuid);
}

static json_t *lun_serial(struct sim *sim)
{
	static const char alphabet[] =
		"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+-";
	uint64_t seed = 1469598103934665603ULL, x;
	const char *cu = jstr(json_object_get(sim->state, "cluster"), "uuid");
	char s[13];

	for (const char *p = cu ? cu : ""; *p; p++)
		seed = (seed ^ (unsigned char)*p) * 1099511628211ULL;
	/* an odd multiplier is a bijection mod 2^64, so distinct counters give distinct serials */
	x = (uint64_t)state_counter(sim, "lun_serial") * 0x9E3779B97F4A7C15ULL ^ seed;
	s[0] = '8';
	for (int i = 11; i >= 1; i--) {
		s[i] = alphabet[x & 63];
		x >>= 6;
	}
	s[12] = '\0';
	return json_string(s);
}

static void set_or_keep(json_t *dst, json_t *src, const char *path)
{
	json_t *v = jpath(src, path);

	if (v)
		jset(dst, path, json_deep_copy(v));
}

/* ---- volumes ---- */

static void decorate_volume(struct sim *sim, json_t *rec, json_t *out)
{
	json_int_t size = jint(rec, "size", 0), used = blocks_used(sim, rec);
	json_int_t reserve = jint(rec, "space.snapshot.reserve_percent", 0);
	json_int_t avail = size - size * reserve / 100 - used;
	json_t *x;
	size_t i;
	bool prot = false;

	jset(out, "space.size", json_integer(size));
	jset(out, "space.used", json_integer(used));
	jset(out, "space.available", json_integer(avail < 0 ? 0 : avail));
	jset(out, "space.percent_used", json_integer(size ? used * 100 / size : 0));
	jset(out, "space.snapshot.used", json_integer(0));
	jset(out, "space.logical_space.used", json_integer(used));
	jset(out, "space.logical_space.available", json_integer(avail < 0 ? 0 : avail));
	jset(out, "guarantee.honored", json_true());
	json_array_foreach(state_array(sim, "snapmirror_relationships"), i, x)
		if (streq_ci(jstr(x, "_sim.src_volume"), jstr(rec, "uuid")))
			prot = true;
	jset(out, "snapmirror.is_protected", json_boolean(prot));
	json_array_foreach(state_array(sim, "consistency_groups"), i, x) {
		json_t *v;
		size_t k;
		json_array_foreach(json_object_get(x, "volumes"), k, v)
			if (streq_ci(jstr(v, "uuid"), jstr(rec, "uuid")))
				json_object_set_new(out, "consistency_group", ref_of(x));
	}
	jset(out, "statistics.timestamp", json_string(jstr(rec, "create_time")));
	jset(out, "statistics.status", json_string("ok"));
	jset(out, "statistics.iops_raw", json_pack("{s:i,s:i,s:i}", "read", 0, "write", 0, "total", 0));
}

struct coll coll_volumes = {
	.name = "volumes",
	.schema = "{'uuid':'','name':'','svm':{'name':'','uuid':''},'size':0,'state':'','type':'',"
		  "'style':'','comment':'','create_time':'','language':'',"
		  "'aggregates':[{'name':'','uuid':''}],'snapshot_policy':{'name':'','uuid':''},"
		  "'guarantee':{'type':'','honored':true},"
		  "'space':{'size':0,'available':0,'used':0,'percent_used':0,"
		  "'snapshot':{'reserve_percent':0,'used':0},"
		  "'logical_space':{'used':0,'available':0,'enforcement':true,'reporting':true}},"
		  "'nas':{'path':'','security_style':'','unix_permissions':0,'uid':0,'gid':0,"
		  "'export_policy':{'name':'','id':0}},"
		  "'clone':{'is_flexclone':true,'parent_volume':{'name':'','uuid':''},"
		  "'parent_snapshot':{'name':'','uuid':''},'parent_svm':{'name':'','uuid':''},"
		  "'split_initiated':true},"
		  "'encryption':{'enabled':true},'tiering':{'policy':''},"
		  "'qos':{'policy':{'name':'','uuid':''}},'snapmirror':{'is_protected':true},"
		  "'efficiency':{'compression':'','dedupe':''},'autosize':{'mode':''},"
		  "'snapshot_directory_access_enabled':true,'is_svm_root':true,"
		  "'consistency_group':{'name':'','uuid':''},"
		  "'statistics':{'timestamp':'','status':'','iops_raw':{'read':0,'write':0,'total':0}}}",
	.keys = "uuid,name",
	.cursor = "uuid",
	.expensive = "statistics",
	.href = "/api/storage/volumes/{uuid}",
	.decorate = decorate_volume,
};

static json_t *find_snapshot(struct sim *sim, json_t *vol, json_t *ref)
{
	json_t *s;
	size_t i;

	if (!ref)
		return NULL;
	json_array_foreach(state_array(sim, "snapshots"), i, s) {
		if (!streq_ci(jstr(s, "volume.uuid"), jstr(vol, "uuid")))
			continue;
		if ((jstr(ref, "uuid") && streq_ci(jstr(s, "uuid"), jstr(ref, "uuid"))) ||
		    (jstr(ref, "name") && strcmp(jstr(s, "name"), jstr(ref, "name")) == 0))
			return s;
	}
	return NULL;
}

static bool create_pending(struct sim *sim, const char *svm_uuid, const char *name)
{
	json_t *j;
	size_t i;

	json_array_foreach(state_array(sim, "jobs"), i, j) {
		const char *st = jstr(j, "state");
		if (strcmp(st, "queued") && strcmp(st, "running"))
			continue;
		if (streq_ci(jstr(j, "_sim.op"), "volume_create") &&
		    streq_ci(jstr(j, "_sim.args.name"), name) &&
		    streq_ci(jstr(j, "_sim.args.svm.uuid"), svm_uuid))
			return true;
	}
	return false;
}

static bool valid_enum(const char *v, const char *const *allowed)
{
	for (; *allowed; allowed++)
		if (streq_ci(v, *allowed))
			return true;
	return false;
}

static int h_volumes_post(struct req *r)
{
	static const char *const vtypes[] = { "rw", "dp", "ls", NULL };
	struct sim *sim = r->sim;
	json_t *svm, *args, *aggr = NULL, *parent = NULL, *psnap = NULL, *aggrs;
	const char *name;
	json_int_t size = VOL_MIN;
	_cleanup_free_ char *type = NULL, *style = NULL;
	int ret;

	ret = coll_check_body(r, &coll_volumes, NULL);
	if (ret < 0)
		return ret;
	ret = req_svm(r, json_object_get(r->body, "svm"), true, &svm);
	if (ret < 0)
		return ret;
	name = jstr(r->body, "name");
	if (!name || !*name)
		return req_error(r, 400, "262177", "name", "Missing value for field \"name\".");
	if (strlen(name) > 203)
		return req_error(r, 400, "917886", "name",
				 "The name \"%s\" is too long. Maximum length is 203 characters.", name);
	if (!isalpha((unsigned char)name[0]) && name[0] != '_')
		return req_error(r, 400, "917887", "name",
				 "The first character of volume name \"%s\" must be a letter or an underscore.",
				 name);
	if (volume_by_name(sim, jstr(svm, "uuid"), name))
		return req_error(r, 409, "917526", "name", "Duplicate volume name %s.", name);
	if (create_pending(sim, jstr(svm, "uuid"), name))
		return req_error(r, 409, "13107405", "name",
				 "Another volume with the name \"%s\" is being created.", name);

	type = str_lower(jstr(r->body, "type") ? jstr(r->body, "type") : "rw");
	if (!valid_enum(type, vtypes))
		return req_error(r, 400, "262197", "type",
				 "The value \"%s\" is invalid for field \"type\" (rw,dp,ls)", type);
	style = str_lower(jstr(r->body, "style") ? jstr(r->body, "style") : "flexvol");
	if (json_object_get(r->body, "size") &&
	    parse_size(json_object_get(r->body, "size"), &size) < 0)
		return req_error(r, 400, "262197", "size", "The value is invalid for field \"size\".");

	if (jpath(r->body, "clone.parent_volume")) {
		json_t *pref = jpath(r->body, "clone.parent_volume");
		parent = jstr(pref, "uuid") ? state_find(sim, "volumes", "uuid", jstr(pref, "uuid"))
					    : volume_by_name(sim, jstr(svm, "uuid"), jstr(pref, "name"));
		if (!parent)
			return req_error(r, 404, "917536", "clone.parent_volume.name",
					 "Parent volume \"%s\" does not exist.",
					 jstr(pref, "name") ? jstr(pref, "name") : jstr(pref, "uuid"));
		if (jpath(r->body, "clone.parent_snapshot")) {
			psnap = find_snapshot(sim, parent, jpath(r->body, "clone.parent_snapshot"));
			if (!psnap)
				return req_error(r, 404, "1638600", "clone.parent_snapshot.name",
						 "Snapshot copy \"%s\" does not exist.",
						 jstr(r->body, "clone.parent_snapshot.name"));
		}
		size = jint(parent, "size", size);
		aggr = json_array_get(json_object_get(parent, "aggregates"), 0);
	}

	aggrs = json_object_get(r->body, "aggregates");
	if (json_array_size(aggrs) > 1 && streq_ci(style, "flexvol"))
		return req_error(r, 400, "918242", "aggregates",
				 "Exactly one aggregate must be specified for a FlexVol volume.");
	if (json_array_size(aggrs) == 1) {
		json_t *a = json_array_get(aggrs, 0);
		aggr = jstr(a, "uuid") ? state_find(sim, "aggregates", "uuid", jstr(a, "uuid"))
				       : state_find(sim, "aggregates", "name", jstr(a, "name"));
		if (!aggr)
			return req_error(r, 404, "917508", "aggregates.name",
					 "Aggregate \"%s\" does not exist.", jstr(a, "name"));
	}
	if (!aggr)
		aggr = json_array_get(state_array(sim, "aggregates"), 0);
	if (jstr(r->body, "snapshot_policy.name") &&
	    !state_find(sim, "snapshot_policies", "name", jstr(r->body, "snapshot_policy.name")))
		return req_error(r, 404, "917551", "snapshot_policy.name",
				 "Snapshot policy \"%s\" does not exist.",
				 jstr(r->body, "snapshot_policy.name"));
	if (jint(r->body, "space.snapshot.reserve_percent", 0) > 90)
		return req_error(r, 400, "917835", "space.snapshot.reserve_percent",
				 "Snapshot reserve cannot be greater than 90%%.");
	if (jstr(r->body, "nas.export_policy.name") &&
	    !state_find2(sim, "export_policies", "name", jstr(r->body, "nas.export_policy.name"),
			 "svm.uuid", jstr(svm, "uuid")))
		return req_error(r, 404, "1703954", "nas.export_policy.name",
				 "Export policy \"%s\" does not exist.",
				 jstr(r->body, "nas.export_policy.name"));

	args = json_deep_copy(r->body);
	json_object_set_new(args, "svm", ref_of(svm));
	json_object_set_new(args, "size", json_integer(size));
	json_object_set_new(args, "type", json_string(type));
	json_object_set_new(args, "style", json_string(style));
	json_object_set_new(args, "aggregates", json_pack("[o]", ref_of(aggr)));
	if (parent)
		jset(args, "clone.parent_volume", ref_of(parent));
	if (psnap)
		jset(args, "clone.parent_snapshot", ref_of(psnap));
	return job_start(r, "volume_create", args, 201);
}

json_t *block_copy_for_clone(struct sim *sim, json_t *src, json_t *vol, const char *kind);
json_t *block_copy_for_clone(struct sim *sim, json_t *src, json_t *vol, const char *kind)
{
	json_t *c = json_deep_copy(src);
	char uuid[37], path[1024], vq[256], qt[256], base[256];
	_cleanup_free_ char *now = iso_now(sim);

	sim_uuid(uuid);
	json_object_set_new(c, "uuid", json_string(uuid));
	json_object_del(c, "_sim");
	if (split_path(jstr(src, "name"), vq, qt, base, sizeof(vq)) == 0) {
		if (qt[0])
			snprintf(path, sizeof(path), "/vol/%s/%s/%s", jstr(vol, "name"), qt, base);
		else
			snprintf(path, sizeof(path), "/vol/%s/%s", jstr(vol, "name"), base);
		json_object_set_new(c, "name", json_string(path));
	}
	jset(c, "location.volume", ref_of(vol));
	json_object_set_new(c, "create_time", json_string(now ? now : ""));
	if (strcmp(kind, "luns") == 0)
		json_object_set_new(c, "serial_number", lun_serial(sim));
	backing_copy(sim, src, c, jint(src, "space.size", 0));
	json_array_append_new(state_array(sim, kind), c);
	return c;
}

static int op_volume_create(struct sim *sim, json_t *args, json_t *job, struct sim_err *err)
{
	static const char *const kinds[] = { "luns", "namespaces" };
	json_int_t size = jint(args, "size", 0);
	const char *name = jstr(args, "name");
	json_t *vol, *parent = NULL, *psnap = NULL, *svm;
	_cleanup_free_ char *now = iso_now(sim);
	char uuid[37];

	svm = svm_find(sim, NULL, jstr(args, "svm.uuid"));
	if (!svm)
		return sim_err_set(err, 400, 2621462, "svm.name", "SVM does not exist.");
	if (volume_by_name(sim, jstr(svm, "uuid"), name))
		return sim_err_set(err, 409, 917526, "name", "Duplicate volume name %s.", name);
	if (size < VOL_MIN)
		return sim_err_set(err, 400, 917534, "size",
				   "Size \"%lldB\" (\"%lldB\") is too small. Minimum size is \"20MB\" (\"20971520B\").",
				   (long long)size, (long long)size);
	if (jpath(args, "clone.parent_volume")) {
		parent = state_find(sim, "volumes", "uuid", jstr(args, "clone.parent_volume.uuid"));
		if (!parent)
			return sim_err_set(err, 404, 917536, "clone.parent_volume.name",
					   "Parent volume no longer exists.");
		if (jpath(args, "clone.parent_snapshot")) {
			psnap = state_find(sim, "snapshots", "uuid",
					   jstr(args, "clone.parent_snapshot.uuid"));
			if (!psnap)
				return sim_err_set(err, 404, 1638600, "clone.parent_snapshot.name",
						   "Snapshot copy does not exist.");
		} else {
			char sname[256];
			int ret;

			snprintf(sname, sizeof(sname), "clone_%s.%lld", name,
				 (long long)(sim_now_us(sim) / 1000000));
			ret = snapshot_create(sim, parent, sname, NULL, &psnap);
			if (ret < 0)
				return sim_err_set(err, 500, 460770, "", "Cannot create the clone base snapshot.");
		}
	}

	sim_uuid(uuid);
	vol = json_pack("{s:s,s:s,s:o,s:I,s:s,s:s,s:s,s:s,s:s,s:s,s:O}", "uuid", uuid, "name", name,
			"svm", ref_of(svm), "size", (json_int_t)size, "state",
			jstr(args, "state") ? jstr(args, "state") : "online", "type",
			jstr(args, "type"), "style", jstr(args, "style"), "comment",
			jstr(args, "comment") ? jstr(args, "comment") : "", "create_time",
			now ? now : "", "language", "c.utf_8", "aggregates",
			json_object_get(args, "aggregates"));
	jset(vol, "snapshot_policy.name",
	     json_string(jstr(args, "snapshot_policy.name") ? jstr(args, "snapshot_policy.name")
							    : "default"));
	jset(vol, "guarantee.type",
	     json_string(jstr(args, "guarantee.type") ? jstr(args, "guarantee.type") : "volume"));
	jset(vol, "space.snapshot.reserve_percent",
	     json_integer(jint(args, "space.snapshot.reserve_percent",
			       streq_ci(jstr(args, "type"), "dp") ? 0 : 5)));
	jset(vol, "nas.path", json_string(jstr(args, "nas.path") ? jstr(args, "nas.path") : ""));
	jset(vol, "nas.security_style",
	     json_string(jstr(args, "nas.security_style") ? jstr(args, "nas.security_style") : "unix"));
	jset(vol, "nas.unix_permissions", json_integer(jint(args, "nas.unix_permissions", 755)));
	jset(vol, "nas.export_policy.name",
	     json_string(jstr(args, "nas.export_policy.name") ? jstr(args, "nas.export_policy.name")
							      : "default"));
	jset(vol, "encryption.enabled", json_boolean(json_is_true(jpath(args, "encryption.enabled"))));
	jset(vol, "tiering.policy",
	     json_string(jstr(args, "tiering.policy") ? jstr(args, "tiering.policy") : "none"));
	set_or_keep(vol, args, "qos.policy");
	jset(vol, "is_svm_root", json_false());
	jset(vol, "snapshot_directory_access_enabled", json_true());
	jset(vol, "clone.is_flexclone", json_boolean(parent != NULL));
	if (parent) {
		jset(vol, "clone.parent_volume", ref_of(parent));
		jset(vol, "clone.parent_snapshot", ref_of(psnap));
		jset(vol, "clone.parent_svm", json_deep_copy(json_object_get(parent, "svm")));
		jset(vol, "clone.split_initiated", json_false());
		jset(vol, "type", json_string("rw"));
	}
	json_array_append_new(state_array(sim, "volumes"), vol);
	if (parent) {
		for (size_t k = 0; k < ARRAY_SIZE(kinds); k++) {
			json_auto_t *copy = json_deep_copy(state_array(sim, kinds[k]));
			json_t *x;
			size_t i;
			json_array_foreach(copy, i, x)
				if (streq_ci(jstr(x, "location.volume.uuid"), jstr(parent, "uuid")))
					block_copy_for_clone(sim, x, vol, kinds[k]);
		}
		hostdata_clone(sim, vol, psnap); /* the data as of the snapshot */
	}
	json_object_set_new(jsim(job), "result",
			    json_pack("{s:s,s:s}", "coll", "volumes", "uuid", uuid));
	return 0;
}

static void rename_volume_refs(struct sim *sim, json_t *vol, const char *old, const char *new)
{
	static const char *const kinds[] = { "luns", "namespaces" };
	char prefix[512];
	json_t *x;
	size_t i;

	snprintf(prefix, sizeof(prefix), "/vol/%s/", old);
	for (size_t k = 0; k < ARRAY_SIZE(kinds); k++) {
		json_array_foreach(state_array(sim, kinds[k]), i, x) {
			const char *n = jstr(x, "name");
			char path[1024];
			if (!streq_ci(jstr(x, "location.volume.uuid"), jstr(vol, "uuid")))
				continue;
			jset(x, "location.volume.name", json_string(new));
			if (n && strncmp(n, prefix, strlen(prefix)) == 0) {
				snprintf(path, sizeof(path), "/vol/%s/%s", new, n + strlen(prefix));
				json_object_set_new(x, "name", json_string(path));
			}
		}
	}
	json_array_foreach(state_array(sim, "snapshots"), i, x)
		if (streq_ci(jstr(x, "volume.uuid"), jstr(vol, "uuid")))
			jset(x, "volume.name", json_string(new));
	json_array_foreach(state_array(sim, "volumes"), i, x)
		if (streq_ci(jstr(x, "clone.parent_volume.uuid"), jstr(vol, "uuid")))
			jset(x, "clone.parent_volume.name", json_string(new));
}

static int h_volume_patch(struct req *r, json_t *vol)
{
	struct sim *sim = r->sim;
	const char *rs_name = req_param(r, "restore_to.snapshot.name");
	const char *rs_uuid = req_param(r, "restore_to.snapshot.uuid");
	json_t *args, *body = r->body ? r->body : json_object();
	json_int_t size;
	int ret;

	if (!r->body)
		r->body = body;
	ret = coll_check_body(r, &coll_volumes, "restore_to");
	if (ret < 0)
		return ret;
	/* restore_to may come as query parameters or in the body */
	if (!rs_name)
		rs_name = jstr(body, "restore_to.snapshot.name");
	if (!rs_uuid)
		rs_uuid = jstr(body, "restore_to.snapshot.uuid");
	args = json_pack("{s:s,s:O}", "uuid", jstr(vol, "uuid"), "body", body);
	if (rs_name || rs_uuid) {
		json_auto_t *ref = json_pack("{s:s?,s:s?}", "name", rs_name, "uuid", rs_uuid);
		json_t *snap = find_snapshot(sim, vol, ref);
		if (!snap) {
			json_decref(args);
			return req_error(r, 404, "1638600", "restore_to.snapshot.name",
					 "Snapshot copy \"%s\" does not exist.", rs_name ? rs_name : rs_uuid);
		}
		json_object_set_new(args, "restore", json_string(jstr(snap, "uuid")));
	}
	if (json_object_get(body, "size") && parse_size(json_object_get(body, "size"), &size) < 0) {
		json_decref(args);
		return req_error(r, 400, "262197", "size", "The value is invalid for field \"size\".");
	}
	if (jstr(body, "name") && strcmp(jstr(body, "name"), jstr(vol, "name")) != 0 &&
	    volume_by_name(sim, jstr(vol, "svm.uuid"), jstr(body, "name"))) {
		json_decref(args);
		return req_error(r, 409, "917526", "name", "Duplicate volume name %s.",
				 jstr(body, "name"));
	}
	if (json_is_true(jpath(body, "clone.split_initiated")) && !json_is_true(jpath(vol, "clone.is_flexclone"))) {
		/* (the code is the simulator's: ONTAP's for this case is not known here) */
		json_decref(args);
		return req_error(r, 400, "917888", "clone.split_initiated",
				 "Volume \"%s\" in Vserver \"%s\" is not a FlexClone volume.", jstr(vol, "name"),
				 jstr(vol, "svm.name"));
	}
	if (jstr(body, "snapshot_policy.name") &&
	    !state_find(sim, "snapshot_policies", "name", jstr(body, "snapshot_policy.name"))) {
		json_decref(args);
		return req_error(r, 404, "917551", "snapshot_policy.name",
				 "Snapshot policy \"%s\" does not exist.",
				 jstr(body, "snapshot_policy.name"));
	}
	return job_start(r, "volume_modify", args, 200);
}

static int op_volume_modify(struct sim *sim, json_t *args, json_t *job, struct sim_err *err)
{
	json_t *vol = state_find(sim, "volumes", "uuid", jstr(args, "uuid"));
	json_t *body = json_object_get(args, "body");
	const char *restore = jstr(args, "restore");
	json_int_t size;

	if (!vol)
		return sim_err_set(err, 404, 4, "uuid", "Volume does not exist.");
	if (restore) {
		json_t *snap = state_find(sim, "snapshots", "uuid", restore);
		json_int_t seq;
		if (!snap)
			return sim_err_set(err, 404, 1638600, "restore_to.snapshot.name",
					   "Snapshot copy does not exist.");
		seq = jint(snap, "_sim.seq", 0);
		hostdata_restore(sim, vol, snap);
		/* like "volume snapshot restore": snapshots newer than the target go away */
		for (size_t i = 0; i < json_array_size(state_array(sim, "snapshots"));) {
			json_t *s = json_array_get(state_array(sim, "snapshots"), i);
			if (streq_ci(jstr(s, "volume.uuid"), jstr(vol, "uuid")) &&
			    jint(s, "_sim.seq", 0) > seq) {
				json_array_remove(state_array(sim, "snapshots"), i);
				continue;
			}
			i++;
		}
	}
	if (json_object_get(body, "size") && parse_size(json_object_get(body, "size"), &size) == 0) {
		json_int_t reserve = jint(vol, "space.snapshot.reserve_percent", 0);
		if (size < VOL_MIN || size - size * reserve / 100 < blocks_used(sim, vol))
			return sim_err_set(err, 400, 917534, "size",
					   "Size \"%lldB\" is too small. Minimum size is \"%lldB\".",
					   (long long)size,
					   (long long)(blocks_used(sim, vol) > VOL_MIN ? blocks_used(sim, vol) : VOL_MIN));
		json_object_set_new(vol, "size", json_integer(size));
	}
	if (jstr(body, "name") && strcmp(jstr(body, "name"), jstr(vol, "name")) != 0) {
		_cleanup_free_ char *old = strdup(jstr(vol, "name"));
		if (volume_by_name(sim, jstr(vol, "svm.uuid"), jstr(body, "name")))
			return sim_err_set(err, 409, 917526, "name", "Duplicate volume name %s.",
					   jstr(body, "name"));
		json_object_set(vol, "name", json_object_get(body, "name"));
		rename_volume_refs(sim, vol, old, jstr(body, "name"));
	}
	if (json_is_true(jpath(body, "clone.split_initiated")) && json_is_true(jpath(vol, "clone.is_flexclone"))) {
		/* the split, done by the time the job ends (ONTAP's runs in the background and the
		 * volume says clone.split_initiated meanwhile): a volume of its own, the parent's
		 * snapshot no longer busy, the parent deletable */
		json_t *clone = json_object_get(vol, "clone");
		json_object_set_new(clone, "is_flexclone", json_false());
		json_object_set_new(clone, "split_initiated", json_true());
		json_object_del(clone, "parent_volume");
		json_object_del(clone, "parent_snapshot");
		json_object_del(clone, "parent_svm");
	}
	set_or_keep(vol, body, "nas.path");
	hostdata_mounted(sim, vol);
	set_or_keep(vol, body, "nas.export_policy.name");
	set_or_keep(vol, body, "nas.security_style");
	set_or_keep(vol, body, "nas.unix_permissions");
	set_or_keep(vol, body, "comment");
	set_or_keep(vol, body, "snapshot_policy.name");
	set_or_keep(vol, body, "space.snapshot.reserve_percent");
	set_or_keep(vol, body, "tiering.policy");
	set_or_keep(vol, body, "qos.policy");
	set_or_keep(vol, body, "guarantee.type");
	if (jstr(body, "state")) {
		_cleanup_free_ char *st = str_lower(jstr(body, "state"));
		json_object_set_new(vol, "state", json_string(st));
	}
	if (jstr(body, "type")) {
		_cleanup_free_ char *t = str_lower(jstr(body, "type"));
		json_object_set_new(vol, "type", json_string(t));
	}
	return 0;
}

void volume_delete_contents(struct sim *sim, json_t *vol)
{
	static const char *const kinds[] = { "luns", "namespaces", "snapshots" };
	const char *vu = jstr(vol, "uuid");

	for (size_t k = 0; k < ARRAY_SIZE(kinds); k++) {
		json_t *a = state_array(sim, kinds[k]);
		for (size_t i = 0; i < json_array_size(a);) {
			json_t *x = json_array_get(a, i);
			if (streq_ci(jstr(x, "location.volume.uuid"), vu) ||
			    streq_ci(jstr(x, "volume.uuid"), vu)) {
				json_t *m;
				while ((m = state_find(sim, "lun_maps", "lun.uuid", jstr(x, "uuid"))))
					state_remove(sim, "lun_maps", m);
				while ((m = state_find(sim, "subsystem_maps", "namespace.uuid",
						       jstr(x, "uuid"))))
					state_remove(sim, "subsystem_maps", m);
				backing_remove(sim, x);
				json_array_remove(a, i);
				continue;
			}
			i++;
		}
	}
}

static int op_volume_delete(struct sim *sim, json_t *args, json_t *job, struct sim_err *err)
{
	json_t *vol = state_find(sim, "volumes", "uuid", jstr(args, "uuid")), *cg;
	size_t i;

	if (!vol)
		return sim_err_set(err, 404, 4, "uuid", "Volume does not exist.");
	if (state_find(sim, "volumes", "clone.parent_volume.uuid", jstr(vol, "uuid")))
		return sim_err_set(err, 409, 524615, "",
				   "Volume \"%s\" in Vserver \"%s\" has FlexClone volumes.",
				   jstr(vol, "name"), jstr(vol, "svm.name"));
	volume_delete_contents(sim, vol);
	json_array_foreach(state_array(sim, "consistency_groups"), i, cg) {
		json_t *vs = json_object_get(cg, "volumes"), *v;
		for (size_t k = 0; k < json_array_size(vs);) {
			v = json_array_get(vs, k);
			if (streq_ci(jstr(v, "uuid"), jstr(vol, "uuid")))
				json_array_remove(vs, k);
			else
				k++;
		}
	}
	return state_remove(sim, "volumes", vol);
}

static int h_volumes(struct req *r)
{
	if (r->m == M_GET)
		return coll_list(r, &coll_volumes, state_array(r->sim, "volumes"));
	return h_volumes_post(r);
}

static int h_volume(struct req *r)
{
	json_t *vol = state_find(r->sim, "volumes", "uuid", r->arg[0]);

	if (r->m == M_GET)
		return coll_get(r, &coll_volumes, vol);
	if (!vol)
		return req_error(r, 404, "4", "uuid", "Volume \"%s\" does not exist.", r->arg[0]);
	if (r->m == M_PATCH)
		return h_volume_patch(r, vol);
	if (state_find(r->sim, "volumes", "clone.parent_volume.uuid", jstr(vol, "uuid")))
		return req_error(r, 409, "524615", "",
				 "Volume \"%s\" in Vserver \"%s\" has FlexClone volumes. Delete or split the clones first.",
				 jstr(vol, "name"), jstr(vol, "svm.name"));
	return job_start(r, "volume_delete", json_pack("{s:s}", "uuid", r->arg[0]), 200);
}

/* ---- snapshots ---- */

static void decorate_snapshot(struct sim *sim, json_t *rec, json_t *out)
{
	const char *owner = NULL;

	if (snapshot_busy(sim, rec, &owner))
		json_object_set_new(out, "owners", json_pack("[s]", owner));
	else
		json_object_set_new(out, "owners", json_array());
}

struct coll coll_snapshots = {
	.name = "snapshots",
	.schema = "{'uuid':'','name':'','volume':{'name':'','uuid':''},'svm':{'name':'','uuid':''},"
		  "'create_time':'','state':'','comment':'','snapmirror_label':'','expiry_time':'',"
		  "'size':0,'owners':[''],'version_uuid':'','snaplock_expiry_time':''}",
	.keys = "uuid,name",
	.cursor = "uuid",
	.href = "/api/storage/volumes/{volume.uuid}/snapshots/{uuid}",
	.decorate = decorate_snapshot,
};

int snapshot_create(struct sim *sim, json_t *vol, const char *name, const char *label,
		    json_t **out)
{
	json_auto_t *ref = json_pack("{s:s}", "name", name);
	_cleanup_free_ char *now = iso_now(sim);
	char uuid[37];
	json_t *s;

	if (find_snapshot(sim, vol, ref))
		return -EEXIST;
	sim_uuid(uuid);
	s = json_pack("{s:s,s:s,s:o,s:O,s:s,s:s,s:s,s:i}", "uuid", uuid, "name", name, "volume",
		      ref_of(vol), "svm", json_object_get(vol, "svm"), "create_time", now ? now : "",
		      "state", "valid", "comment", "", "size", 0);
	if (label)
		json_object_set_new(s, "snapmirror_label", json_string(label));
	json_object_set_new(jsim(s), "seq", json_integer(state_counter(sim, "snapshot_seq")));
	json_object_set_new(jsim(s), "t_create", json_integer(sim_now_us(sim)));
	json_array_append_new(state_array(sim, "snapshots"), s);
	hostdata_snapshot(sim, vol, s);
	if (out)
		*out = s;
	return 0;
}

static int op_snapshot_create(struct sim *sim, json_t *args, json_t *job, struct sim_err *err)
{
	json_t *vol = state_find(sim, "volumes", "uuid", jstr(args, "volume")), *s = NULL;
	const char *name = jstr(args, "name");

	if (!vol)
		return sim_err_set(err, 404, 4, "uuid", "Volume does not exist.");
	if (snapshot_create(sim, vol, name, jstr(args, "snapmirror_label"), &s) < 0)
		return sim_err_set(err, 409, 525059, "name",
				   "Snapshot copy \"%s\" of volume \"%s\" on Vserver \"%s\" already exists.",
				   name, jstr(vol, "name"), jstr(vol, "svm.name"));
	set_or_keep(s, args, "comment");
	set_or_keep(s, args, "expiry_time");
	json_object_set_new(jsim(job), "result",
			    json_pack("{s:s,s:s}", "coll", "snapshots", "uuid", jstr(s, "uuid")));
	return 0;
}

static int op_snapshot_modify(struct sim *sim, json_t *args, json_t *job, struct sim_err *err)
{
	json_t *s = state_find(sim, "snapshots", "uuid", jstr(args, "uuid"));
	json_t *body = json_object_get(args, "body");

	if (!s)
		return sim_err_set(err, 404, 1638600, "uuid", "Snapshot copy does not exist.");
	if (jstr(body, "name") && strcmp(jstr(body, "name"), jstr(s, "name")) != 0) {
		json_t *vol = state_find(sim, "volumes", "uuid", jstr(s, "volume.uuid"));
		json_auto_t *ref = json_pack("{s:s}", "name", jstr(body, "name"));
		if (vol && find_snapshot(sim, vol, ref))
			return sim_err_set(err, 409, 525059, "name",
					   "Snapshot copy \"%s\" already exists.", jstr(body, "name"));
		set_or_keep(s, body, "name");
	}
	set_or_keep(s, body, "comment");
	set_or_keep(s, body, "snapmirror_label");
	set_or_keep(s, body, "expiry_time");
	return 0;
}

static int op_snapshot_delete(struct sim *sim, json_t *args, json_t *job, struct sim_err *err)
{
	json_t *s = state_find(sim, "snapshots", "uuid", jstr(args, "uuid"));
	const char *owner = NULL;

	if (!s)
		return sim_err_set(err, 404, 1638600, "uuid", "Snapshot copy does not exist.");
	if (snapshot_busy(sim, s, &owner))
		return sim_err_set(err, 409, 1638555, "",
				   "Snapshot copy \"%s\" of volume \"%s\" on Vserver \"%s\" has not expired or is locked (owner: %s).",
				   jstr(s, "name"), jstr(s, "volume.name"), jstr(s, "svm.name"), owner);
	return state_remove(sim, "snapshots", s);
}

static int h_snapshots(struct req *r)
{
	json_t *vol = state_find(r->sim, "volumes", "uuid", r->arg[0]);
	json_auto_t *list = NULL;
	const char *name;
	json_t *s;
	size_t i;
	int ret;

	if (!vol)
		return req_error(r, 404, "4", "volume.uuid", "Volume \"%s\" does not exist.", r->arg[0]);
	if (r->m == M_GET) {
		list = json_array();
		json_array_foreach(state_array(r->sim, "snapshots"), i, s)
			if (streq_ci(jstr(s, "volume.uuid"), r->arg[0]))
				json_array_append(list, s);
		return coll_list(r, &coll_snapshots, list);
	}
	ret = coll_check_body(r, &coll_snapshots, NULL);
	if (ret < 0)
		return ret;
	name = jstr(r->body, "name");
	if (!name || !*name)
		return req_error(r, 400, "262177", "name", "Missing value for field \"name\".");
	if (strpbrk(name, " /*?"))
		return req_error(r, 400, "1638518", "name", "Invalid Snapshot copy name \"%s\".", name);
	if (streq_ci(jstr(vol, "type"), "dp"))
		return req_error(r, 400, "1638461", "",
				 "Snapshot copies can only be created on read/write (RW) volumes.");
	{
		json_t *args = json_deep_copy(r->body);
		json_object_set_new(args, "volume", json_string(r->arg[0]));
		json_object_set(args, "svm", json_object_get(vol, "svm"));
		return job_start(r, "snapshot_create", args, 201);
	}
}

static int h_snapshot(struct req *r)
{
	json_t *s = state_find2(r->sim, "snapshots", "uuid", r->arg[1], "volume.uuid", r->arg[0]);
	int ret;

	if (r->m == M_GET)
		return coll_get(r, &coll_snapshots, s);
	if (!s)
		return req_error(r, 404, "1638600", "uuid", "Snapshot copy \"%s\" does not exist.",
				 r->arg[1]);
	if (r->m == M_PATCH) {
		ret = coll_check_body(r, &coll_snapshots, NULL);
		if (ret < 0)
			return ret;
		return job_start(r, "snapshot_modify",
				 json_pack("{s:s,s:O}", "uuid", r->arg[1], "body",
					   r->body ? r->body : json_null()),
				 200);
	}
	return job_start(r, "snapshot_delete", json_pack("{s:s}", "uuid", r->arg[1]), 200);
}

/* ---- LUNs and namespaces share path rules, sizes and the version switch ---- */

static void decorate_lun(struct sim *sim, json_t *rec, json_t *out)
{
	json_t *maps = json_array(), *m;
	const char *serial = jstr(rec, "serial_number");
	char hex[64] = "";
	size_t i;

	json_array_foreach(state_array(sim, "lun_maps"), i, m) {
		json_t *ig;

		if (!streq_ci(jstr(m, "lun.uuid"), jstr(rec, "uuid")))
			continue;
		ig = state_find(sim, "igroups", "uuid", jstr(m, "igroup.uuid"));
		json_array_append_new(maps, json_pack("{s:o,s:O}", "igroup",
						      ig ? ref_of(ig) : json_object(),
						      "logical_unit_number",
						      json_object_get(m, "logical_unit_number")));
	}
	jset(out, "status.mapped", json_boolean(json_array_size(maps) > 0));
	json_object_set_new(out, "lun_maps", maps);
	jset(out, "space.used", json_integer(0));
	for (size_t k = 0; serial && serial[k] && k < 12; k++)
		snprintf(hex + 2 * k, 3, "%02x", (unsigned char)serial[k]);
	if (sim_version_ge(sim, 9, 16, 1))
		json_object_set_new(out, "serial_number_hex", json_string(hex));
}

struct coll coll_luns = {
	.name = "luns",
	.schema = "{'uuid':'','name':'','svm':{'name':'','uuid':''},"
		  "'location':{'logical_unit':'','volume':{'name':'','uuid':''},"
		  "'qtree':{'name':'','id':0},'node':{'name':'','uuid':''}},"
		  "'os_type':'','serial_number':'','serial_number_hex':'','comment':'','class':'',"
		  "'enabled':true,'create_time':'',"
		  "'space':{'size':0,'used':0,'guarantee':{'requested':true,'reserved':true},"
		  "'scsi_thin_provisioning_support_enabled':true},"
		  "'status':{'state':'','mapped':true,'read_only':true,'container_state':''},"
		  "'qos_policy':{'name':'','uuid':''},'clone':{'source':{'name':'','uuid':''}},"
		  "'lun_maps':[{'igroup':{'name':'','uuid':''},'logical_unit_number':0}]}",
	.keys = "uuid,name",
	.cursor = "uuid",
	.expensive = "lun_maps,status.mapped",
	.href = "/api/storage/luns/{uuid}",
	.gated = "serial_number_hex@9.16.1",
	.decorate = decorate_lun,
};

static void decorate_ns(struct sim *sim, json_t *rec, json_t *out)
{
	json_t *m = state_find(sim, "subsystem_maps", "namespace.uuid", jstr(rec, "uuid"));

	jset(out, "status.mapped", json_boolean(m != NULL));
	jset(out, "space.used", json_integer(0));
	if (m) {
		json_t *ss = state_find(sim, "subsystems", "uuid", jstr(m, "subsystem.uuid"));
		json_object_set_new(out, "subsystem_map",
				    json_pack("{s:O,s:O,s:o}", "nsid", json_object_get(m, "nsid"),
					      "anagrpid", json_object_get(m, "anagrpid"), "subsystem",
					      ss ? ref_of(ss) : json_object()));
	}
}

struct coll coll_namespaces = {
	.name = "namespaces",
	.schema = "{'uuid':'','name':'','svm':{'name':'','uuid':''},"
		  "'location':{'namespace':'','volume':{'name':'','uuid':''},'qtree':{'name':'','id':0},"
		  "'node':{'name':'','uuid':''}},"
		  "'os_type':'','comment':'','enabled':true,'create_time':'',"
		  "'space':{'size':0,'used':0,'block_size':0,'guarantee':{'requested':true,'reserved':true}},"
		  "'status':{'state':'','mapped':true,'read_only':true,'container_state':''},"
		  "'subsystem_map':{'nsid':'','anagrpid':'','subsystem':{'name':'','uuid':''}}}",
	.keys = "uuid,name",
	.cursor = "uuid",
	.expensive = "subsystem_map,status.mapped",
	.href = "/api/storage/namespaces/{uuid}",
	.decorate = decorate_ns,
};

/* Error codes that differ between LUNs and namespaces. */
struct block_kind {
	const char *coll;
	struct coll *c;
	const char *dup, *too_small, *too_large, *bad_name, *not_found;
	const char *op;
};

static const struct block_kind LUN = { "luns", &coll_luns, "5374242", "5374124", "5374125",
				       "5374121", "5374875", "lun_create" };
static const struct block_kind NS = { "namespaces", &coll_namespaces, "72089725", "72089723",
				      "72089724", "72089732", "72090006", "namespace_create" };

static int block_make(struct sim *sim, const struct block_kind *k, json_t *args, json_t **out,
		      struct sim_err *err)
{
	json_t *svm = svm_find(sim, NULL, jstr(args, "svm.uuid"));
	json_t *vol, *rec;
	const char *path = jstr(args, "name");
	char vname[256], qt[256], base[256], uuid[37];
	json_int_t size = jint(args, "space.size", 0);
	_cleanup_free_ char *now = iso_now(sim);
	_cleanup_free_ char *ostype = str_lower(jstr(args, "os_type"));
	int ret;

	if (!svm)
		return sim_err_set(err, 400, 2621462, "svm.name", "SVM does not exist.");
	if (split_path(path, vname, qt, base, sizeof(vname)) < 0)
		return sim_err_set(err, 400, atol(k->bad_name), "name", "Invalid path \"%s\".", path);
	vol = volume_by_name(sim, jstr(svm, "uuid"), vname);
	if (!vol)
		return sim_err_set(err, 404, 917927, "name", "Volume \"%s\" not found in Vserver \"%s\".",
				   vname, jstr(svm, "name"));
	if (block_path_taken(sim, jstr(svm, "uuid"), path))
		return sim_err_set(err, 409, atol(k->dup), "name",
				   "A LUN or NVMe namespace already exists at path \"%s\".", path);
	/* a LUN clone shares its source's blocks */
	if (!jstr(args, "clone.source.uuid") &&
	    space_check(sim, vol, json_is_true(jpath(args, "space.guarantee.requested")), size, 0, err) < 0)
		return -EINVAL;
	sim_uuid(uuid);
	rec = json_pack("{s:s,s:s,s:o,s:s,s:s,s:s,s:b}", "uuid", uuid, "name", path, "svm",
			ref_of(svm), "os_type", ostype, "comment",
			jstr(args, "comment") ? jstr(args, "comment") : "", "create_time",
			now ? now : "", "enabled", 1);
	jset(rec, "location.volume", ref_of(vol));
	jset(rec, "location.qtree", json_pack("{s:s,s:i}", "name", qt, "id", 0));
	jset(rec, strcmp(k->coll, "luns") == 0 ? "location.logical_unit" : "location.namespace",
	     json_string(base));
	jset(rec, "space.size", json_integer(size));
	jset(rec, "space.guarantee.requested",
	     json_boolean(json_is_true(jpath(args, "space.guarantee.requested"))));
	jset(rec, "space.guarantee.reserved",
	     json_boolean(json_is_true(jpath(args, "space.guarantee.requested"))));
	jset(rec, "status", json_pack("{s:s,s:b,s:s}", "state", "online", "read_only", 0,
				      "container_state", "online"));
	if (strcmp(k->coll, "luns") == 0) {
		json_object_set_new(rec, "serial_number", lun_serial(sim));
		json_object_set_new(rec, "class", json_string("regular"));
		jset(rec, "space.scsi_thin_provisioning_support_enabled",
		     json_boolean(json_is_true(jpath(args, "space.scsi_thin_provisioning_support_enabled"))));
		set_or_keep(rec, args, "qos_policy");
	} else
		jset(rec, "space.block_size", json_integer(jint(args, "space.block_size",
								 streq_ci(ostype, "vmware") ? 512 : 4096)));
	if (jstr(args, "clone.source.uuid")) {
		json_t *src = state_find(sim, "luns", "uuid", jstr(args, "clone.source.uuid"));
		if (!src) {
			json_decref(rec);
			return sim_err_set(err, 404, 5374859, "clone.source.name",
					   "The source LUN no longer exists.");
		}
		ret = backing_copy(sim, src, rec, size);
	} else
		ret = backing_resize(sim, rec, size);
	if (ret < 0) {
		json_decref(rec);
		return sim_err_set(err, 500, 262145, "", "Cannot create backing file: %s",
				   strerror(-ret));
	}
	json_array_append_new(state_array(sim, k->coll), rec);
	*out = rec;
	return 0;
}

static int op_block_create(struct sim *sim, json_t *args, json_t *job, struct sim_err *err,
			   const struct block_kind *k)
{
	json_t *rec;
	int ret = block_make(sim, k, args, &rec, err);

	if (ret < 0)
		return ret;
	json_object_set_new(jsim(job), "result",
			    json_pack("{s:s,s:s}", "coll", k->coll, "uuid", jstr(rec, "uuid")));
	return 0;
}

static int op_lun_create(struct sim *sim, json_t *args, json_t *job, struct sim_err *err)
{
	return op_block_create(sim, args, job, err, &LUN);
}

static int op_ns_create(struct sim *sim, json_t *args, json_t *job, struct sim_err *err)
{
	return op_block_create(sim, args, job, err, &NS);
}

static int block_post(struct req *r, const struct block_kind *k)
{
	static const char *const lun_os[] = { "aix", "hpux", "hyper_v", "linux", "netware",
					      "openvms", "solaris", "solaris_efi", "vmware",
					      "windows", "windows_2008", "windows_gpt", "xen", NULL };
	static const char *const ns_os[] = { "aix", "linux", "vmware", "windows", NULL };
	bool is_lun = strcmp(k->coll, "luns") == 0;
	const char *missing = is_lun ? "5374884" : "262177";
	json_t *svm, *args, *rec;
	json_int_t size;
	struct sim_err err = { 0 };
	int ret;

	ret = coll_check_body(r, k->c, NULL);
	if (ret < 0)
		return ret;
	ret = req_svm(r, json_object_get(r->body, "svm"), true, &svm);
	if (ret < 0)
		return ret;
	if (is_lun && jpath(r->body, "clone.source")) {
		/* a LUN clone inherits os_type and size from its source */
		json_t *cs = jpath(r->body, "clone.source");
		json_t *src = jstr(cs, "uuid") ? state_find(r->sim, "luns", "uuid", jstr(cs, "uuid"))
					       : state_find2(r->sim, "luns", "name", jstr(cs, "name"),
							     "svm.uuid", jstr(svm, "uuid"));
		if (!src)
			return req_error(r, 404, "5374859", "clone.source.name",
					 "The source LUN \"%s\" does not exist.",
					 jstr(cs, "name") ? jstr(cs, "name") : jstr(cs, "uuid"));
		jset(r->body, "clone.source", json_pack("{s:s,s:s}", "name", jstr(src, "name"),
							 "uuid", jstr(src, "uuid")));
		if (!jstr(r->body, "os_type"))
			jset(r->body, "os_type", json_string(jstr(src, "os_type")));
		if (!jpath(r->body, "space.size"))
			jset(r->body, "space.size", json_integer(jint(src, "space.size", 0)));
	}
	if (!jstr(r->body, "name"))
		return req_error(r, 400, missing, "name", "Missing value for field \"name\".");
	if (!jstr(r->body, "os_type"))
		return req_error(r, 400, missing, "os_type", "Missing value for field \"os_type\".");
	if (!valid_enum(jstr(r->body, "os_type"), is_lun ? lun_os : ns_os))
		return req_error(r, 400, "262197", "os_type",
				 "The value \"%s\" is invalid for field \"os_type\"",
				 jstr(r->body, "os_type"));
	if (!jpath(r->body, "space.size"))
		return req_error(r, 400, missing, "space.size",
				 "Missing value for field \"space.size\".");
	if (parse_size(jpath(r->body, "space.size"), &size) < 0)
		return req_error(r, 400, is_lun ? "5374130" : "262197", "space.size",
				 "Invalid size value.");
	if (size < BLK_MIN)
		return req_error(r, 400, k->too_small, "space.size",
				 "The specified size %lld is too small. Minimum size is 4096 bytes.",
				 (long long)size);
	if (size > BLK_MAX)
		return req_error(r, 400, k->too_large, "space.size",
				 "The specified size %lld is too large. Maximum size is 128TB.",
				 (long long)size);
	if (!is_lun && jpath(r->body, "space.block_size") &&
	    jint(r->body, "space.block_size", 0) != 512 && jint(r->body, "space.block_size", 0) != 4096)
		return req_error(r, 400, "262197", "space.block_size",
				 "The value is invalid for field \"space.block_size\" (512,4096)");

	args = json_deep_copy(r->body);
	json_object_set_new(args, "svm", ref_of(svm));
	jset(args, "space.size", json_integer(size));
	{
		/* lookup errors are immediate even when the create itself is a job */
		char vname[256], qt[256], base[256];
		const char *path = jstr(args, "name");
		json_t *vol;

		if (split_path(path, vname, qt, base, sizeof(vname)) < 0)
			ret = req_error(r, 400, k->bad_name, "name", "Invalid path \"%s\".", path);
		else if (!(vol = volume_by_name(r->sim, jstr(svm, "uuid"), vname)))
			ret = req_error(r, 404, "917927", "name",
					"Volume \"%s\" not found in Vserver \"%s\".", vname,
					jstr(svm, "name"));
		else if (block_path_taken(r->sim, jstr(svm, "uuid"), path))
			ret = req_error(r, 409, k->dup, "name",
					"A LUN or NVMe namespace already exists at path \"%s\".", path);
		if (ret < 0) {
			json_decref(args);
			return ret;
		}
	}
	/* the version switch of notes §8.2: async from 9.16.1 */
	if (sim_version_ge(r->sim, 9, 16, 1))
		return job_start(r, k->op, args, 201);
	ret = block_make(r->sim, k, args, &rec, &err);
	json_decref(args);
	if (ret < 0)
		return req_error_from(r, &err);
	r->mutated = true;
	return coll_created(r, k->c, rec, 201);
}

static int block_patch(struct req *r, const struct block_kind *k, json_t *rec)
{
	bool is_lun = strcmp(k->coll, "luns") == 0;
	json_t *vol = state_find(r->sim, "volumes", "uuid", jstr(rec, "location.volume.uuid"));
	json_int_t size, cur = jint(rec, "space.size", 0);
	struct sim_err serr = { 0 };
	int ret;

	ret = coll_check_body(r, k->c, NULL);
	if (ret < 0)
		return ret;
	if (!r->body)
		return req_error(r, 400, "262177", "", "A request body is required.");
	if (jpath(r->body, "space.size")) {
		if (parse_size(jpath(r->body, "space.size"), &size) < 0)
			return req_error(r, 400, is_lun ? "5374130" : "262197", "space.size",
					 "Invalid size value.");
		if (size == cur && is_lun)
			return req_error(r, 400, "1254226", "space.size",
					 "The specified LUN size is the same as the current size.");
		if (size < cur)
			return req_error(r, 400, is_lun ? "5374892" : "72090038", "space.size",
					 is_lun ? "Reducing the size of a LUN might cause permanent data loss or corruption and is not supported by the LUN commands."
						: "Reducing the size of an NVMe namespace is not supported.");
		if (size > BLK_MAX)
			return req_error(r, 400, k->too_large, "space.size",
					 "The specified size is too large. Maximum size is 128TB.");
		if (vol && space_check(r->sim, vol, json_is_true(jpath(rec, "space.guarantee.requested")),
				       size, cur, &serr) < 0)
			return req_error_from(r, &serr);
	}
	if (jstr(r->body, "name") && strcmp(jstr(r->body, "name"), jstr(rec, "name")) != 0) {
		char vname[256], qt[256], base[256];
		json_t *nvol;

		if (!is_lun)
			return req_error(r, 400, "262196", "name",
					 "Field \"name\" cannot be set in this operation.");
		if (split_path(jstr(r->body, "name"), vname, qt, base, sizeof(vname)) < 0)
			return req_error(r, 400, "5374121", "name", "Invalid LUN path \"%s\".",
					 jstr(r->body, "name"));
		nvol = volume_by_name(r->sim, jstr(rec, "svm.uuid"), vname);
		if (!nvol)
			return req_error(r, 404, "917927", "name", "Volume \"%s\" not found.", vname);
		if (block_path_taken(r->sim, jstr(rec, "svm.uuid"), jstr(r->body, "name")))
			return req_error(r, 409, "1254196", "name",
					 "A LUN already exists at path \"%s\".", jstr(r->body, "name"));
		set_or_keep(rec, r->body, "name");
		jset(rec, "location.volume", ref_of(nvol));
		jset(rec, "location.logical_unit", json_string(base));
		jset(rec, "location.qtree.name", json_string(qt));
	}
	if (jpath(r->body, "space.size")) {
		parse_size(jpath(r->body, "space.size"), &size);
		jset(rec, "space.size", json_integer(size));
		backing_resize(r->sim, rec, size);
	}
	set_or_keep(rec, r->body, "comment");
	set_or_keep(rec, r->body, "enabled");
	set_or_keep(rec, r->body, "qos_policy");
	set_or_keep(rec, r->body, "space.guarantee.requested");
	r->mutated = true;
	req_reply(r, 200, json_object());
	return 0;
}

static int h_luns(struct req *r)
{
	if (r->m == M_GET)
		return coll_list(r, &coll_luns, state_array(r->sim, "luns"));
	return block_post(r, &LUN);
}

static int h_lun(struct req *r)
{
	json_t *lun = state_find(r->sim, "luns", "uuid", r->arg[0]), *m;

	if (r->m == M_GET)
		return coll_get(r, &coll_luns, lun);
	if (!lun)
		return req_error(r, 404, "5374875", "uuid", "The specified LUN does not exist.");
	if (r->m == M_PATCH)
		return block_patch(r, &LUN, lun);
	if (lun_is_mapped(r->sim, r->arg[0]) && !req_flag(r, "allow_delete_while_mapped"))
		return req_error(r, 409, "1254197", "",
				 "The LUN \"%s\" in Vserver \"%s\" is mapped to an initiator group. Unmap it first or use allow_delete_while_mapped.",
				 jstr(lun, "name"), jstr(lun, "svm.name"));
	while ((m = state_find(r->sim, "lun_maps", "lun.uuid", r->arg[0])))
		state_remove(r->sim, "lun_maps", m);
	backing_remove(r->sim, lun);
	state_remove(r->sim, "luns", lun);
	r->mutated = true;
	req_reply(r, 200, json_object());
	return 0;
}

static int h_namespaces(struct req *r)
{
	if (r->m == M_GET)
		return coll_list(r, &coll_namespaces, state_array(r->sim, "namespaces"));
	return block_post(r, &NS);
}

static int h_namespace(struct req *r)
{
	json_t *ns = state_find(r->sim, "namespaces", "uuid", r->arg[0]);

	if (r->m == M_GET)
		return coll_get(r, &coll_namespaces, ns);
	if (!ns)
		return req_error(r, 404, r->m == M_PATCH ? "72090006" : "4", "uuid",
				 "The specified NVMe namespace does not exist.");
	if (r->m == M_PATCH)
		return block_patch(r, &NS, ns);
	if (ns_is_mapped(r->sim, r->arg[0]))
		return req_error(r, 409, "72089796", "",
				 "The NVMe namespace \"%s\" is mapped to a subsystem. Unmap it before deleting it.",
				 jstr(ns, "name"));
	backing_remove(r->sim, ns);
	state_remove(r->sim, "namespaces", ns);
	r->mutated = true;
	req_reply(r, 200, json_object());
	return 0;
}

const struct job_op storage_job_ops[] = {
	{ "volume_create", op_volume_create },
	{ "volume_modify", op_volume_modify },
	{ "volume_delete", op_volume_delete },
	{ "snapshot_create", op_snapshot_create },
	{ "snapshot_modify", op_snapshot_modify },
	{ "snapshot_delete", op_snapshot_delete },
	{ "lun_create", op_lun_create },
	{ "namespace_create", op_ns_create },
	{ NULL, NULL },
};

const struct route storage_routes[] = {
	{ "/api/storage/volumes", M_GET | M_POST, h_volumes, NULL },
	{ "/api/storage/volumes/{}", M_GET | M_PATCH | M_DELETE, h_volume,
	  "restore_to.snapshot.name restore_to.snapshot.uuid force" },
	{ "/api/storage/volumes/{}/snapshots", M_GET | M_POST, h_snapshots, NULL },
	{ "/api/storage/volumes/{}/snapshots/{}", M_GET | M_PATCH | M_DELETE, h_snapshot, NULL },
	{ "/api/storage/luns", M_GET | M_POST, h_luns, NULL },
	{ "/api/storage/luns/{}", M_GET | M_PATCH | M_DELETE, h_lun, "allow_delete_while_mapped" },
	{ "/api/storage/namespaces", M_GET | M_POST, h_namespaces, NULL },
	{ "/api/storage/namespaces/{}", M_GET | M_PATCH | M_DELETE, h_namespace,
	  "allow_delete_while_mapped" },
	{ NULL, 0, NULL, NULL },
};
