/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <dlfcn.h>
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "build-config.h"
#include "leader-ontap.h"
#include "macros.h"
#include "resources/ontap/ontap-client.h"
#include "resources/ontap/ontap.h"

/*
 * The ONTAP client lives in a module, kvmcd-ontap.so, dlopen()ed the first time [ontap] is
 * configured (systemd's pattern for optional dependencies): kvmcd itself does not link libcurl
 * and its ~40 libraries, so a node without [ontap] never maps them. Every client function this
 * file calls goes through the table below; kvmcd does not link the client, so a direct call
 * would fail to link. Each pointer has the type of the header's declaration (typeof), so a
 * changed signature fails to compile here. The module's version script
 * (resources/ontap/kvmcd-ontap.sym) exports exactly these names. The module is never unloaded
 * (libcurl and its TLS library do not support being unloaded; there is nothing to gain).
 */
#define ONTAP_MODULE_SYMBOLS(X)                                                                    \
	X(ontap_client_new)                                                                        \
	X(ontap_client_free)                                                                       \
	X(ontap_client_set_log)                                                                    \
	X(ontap_client_set_epoch)                                                                  \
	X(ontap_client_version)                                                                    \
	X(ontap_cluster_discover)                                                                  \
	X(ontap_error_format)                                                                      \
	X(ontap_error_clear)

static struct {
	void *handle;
#define ONTAP_FN_FIELD(name) typeof(name) *name;
	ONTAP_MODULE_SYMBOLS(ONTAP_FN_FIELD)
#undef ONTAP_FN_FIELD
} ontap_dl;

#define ONTAP_MODULE_NAME "kvmcd-ontap.so"

/*
 * Which file to load, in this order:
 *  1. $KVMCD_ONTAP_MODULE, if set (a relocated build tree, a test); secure_getenv(), so never for
 *     a set-id kvmcd.
 *  2. kvmcd run from its meson build tree: <build>/agent/kvmcd, recognised by <build>/meson-info/
 *     (meson's marker of a build dir) next to the directory of /proc/self/exe, loads
 *     <build>/resources/ontap/kvmcd-ontap.so, the module of that very build (not an installed
 *     one of another version or one built without the ASan runtime this binary carries), however
 *     it is started: any cwd, through a symlink, inside tests/multinode's namespaces. There is
 *     no fallback to the installed module from a build tree: mixing builds fails loudly instead.
 *  3. Otherwise the installed module, KVMCD_ONTAP_MODULE_PATH (<libdir>/kvmcd/kvmcd-ontap.so, a
 *     private directory off the loader's path). An installed /usr/sbin/kvmcd would only look at
 *     /usr/meson-info, which is no build tree.
 * Always an absolute path: dlopen() never searches LD_LIBRARY_PATH or the cache for it.
 */
static const char *ontap_module_path(char *buf, size_t size)
{
	const char *env = secure_getenv("KVMCD_ONTAP_MODULE");
	char exe[PATH_MAX];
	char *slash;
	struct stat st;
	ssize_t n;

	if (env && *env)
		return env;
	n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	if (n > 0) {
		exe[n] = 0;
		/* <build>/agent/kvmcd -> <build> (a " (deleted)" suffix only touches the last part). */
		for (int i = 0; i < 2 && (slash = strrchr(exe, '/')); i++)
			*slash = 0;
		if (exe[0] == '/' && (size_t)snprintf(buf, size, "%s/meson-info", exe) < size &&
		    stat(buf, &st) == 0 && S_ISDIR(st.st_mode) &&
		    (size_t)snprintf(buf, size, "%s/resources/ontap/" ONTAP_MODULE_NAME, exe) < size)
			return buf;
	}
	return KVMCD_ONTAP_MODULE_PATH;
}

/* 0, or -errno with *error (owned) naming the file and dlerror()'s reason. */
static int ontap_module_load(char **error)
{
	char buf[PATH_MAX];
	const char *path, *why;
	void *h;

	if (ontap_dl.handle)
		return 0;
	path = ontap_module_path(buf, sizeof(buf));
	/* RTLD_NOW: a module with an unresolvable symbol fails here, at start-up, not mid-request. */
	h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
	if (!h) {
		why = dlerror();
		if (asprintf(error, "cannot load the ONTAP client module %s: %s", path, why ? why : "unknown error") < 0)
			*error = NULL;
		return -ELIBACC;
	}
#define ONTAP_FN_RESOLVE(name)                                                                     \
	*(void **)&ontap_dl.name = dlsym(h, #name);                                                \
	if (!ontap_dl.name) {                                                                      \
		why = dlerror();                                                                   \
		if (asprintf(error, "the ONTAP client module %s lacks %s: %s", path, #name,        \
			     why ? why : "unknown error") < 0)                                       \
			*error = NULL;                                                             \
		memset(&ontap_dl, 0, sizeof(ontap_dl));                                            \
		dlclose(h);                                                                        \
		return -ELIBBAD;                                                                   \
	}
	ONTAP_MODULE_SYMBOLS(ONTAP_FN_RESOLVE)
#undef ONTAP_FN_RESOLVE
	ontap_dl.handle = h;
	return 0;
}

struct leader_ontap {
	struct ontap_client *client; /* owned */
	struct klog *log;            /* borrowed */
	char *address, *svm;         /* owned copies for status */
	uint64_t epoch;              /* leadership the client acts under; 0 = none */
	char version[128];           /* "" until discovered under some leadership */
	char last_error[512];
};

static void on_client_log(void *userdata, int level, const char *text)
{
	struct leader_ontap *l = userdata;
	klog(l->log, level, "ONTAP: %s", text);
}

static void on_discovered(void *userdata, int r, const struct ontap_object *obj, const struct ontap_error *err)
{
	struct leader_ontap *l = userdata;
	const struct ontap_version *v = ontap_dl.ontap_client_version(l->client);
	char buf[512];

	if (r == -ECANCELED)
		return;
	if (r < 0) {
		snprintf(l->last_error, sizeof(l->last_error), "%s", ontap_dl.ontap_error_format(err, buf, sizeof(buf)));
		klog(l->log, LOG_ERR, "Leader cannot reach ONTAP at %s: %s", l->address, l->last_error);
		return;
	}
	l->last_error[0] = 0;
	snprintf(l->version, sizeof(l->version), "%d.%d.%d", v->generation, v->major, v->minor);
	klog(l->log, LOG_NOTICE, "Leader (epoch %" PRIu64 ") reached ONTAP at %s: %s, SVM %s", l->epoch, l->address,
	     v->full, l->svm);
}

int leader_ontap_new(struct leader_ontap **out, sd_event *event, const struct ontap_options *opts,
		     const char *node_name, struct klog *log, char **error)
{
	struct leader_ontap *l;
	struct ontap_error err = { 0 };
	char buf[512];
	int r;

	*out = NULL;
	if (!opts->address || !*opts->address)
		return 0;
	r = ontap_module_load(error);
	if (r < 0)
		return r;
	l = calloc(1, sizeof(*l));
	if (!l)
		return -ENOMEM;
	l->log = log;
	l->address = strdup(opts->address);
	l->svm = strdup(opts->svm ? opts->svm : "");
	r = ontap_dl.ontap_client_new(&l->client, event, opts, node_name, &err);
	if (r < 0) {
		if (asprintf(error, "%s", ontap_dl.ontap_error_format(&err, buf, sizeof(buf))) < 0)
			*error = NULL;
		ontap_dl.ontap_error_clear(&err);
		leader_ontap_free(l);
		return r;
	}
	ontap_dl.ontap_client_set_log(l->client, on_client_log, l);
	/* No leadership yet: every mutation would be refused with -ESTALE. */
	ontap_dl.ontap_client_set_epoch(l->client, 0, false);
	*out = l;
	return 0;
}

void leader_ontap_free(struct leader_ontap *l)
{
	if (!l)
		return;
	ontap_dl.ontap_client_free(l->client);
	free(l->address);
	free(l->svm);
	free(l);
}

void leader_ontap_role(struct leader_ontap *l, bool is_leader, uint64_t epoch)
{
	int r;

	if (!l)
		return;
	l->epoch = is_leader ? epoch : 0;
	/* Cancels queued and in-flight mutations of an older leadership before anything new goes. */
	ontap_dl.ontap_client_set_epoch(l->client, epoch, is_leader);
	if (!is_leader)
		return;
	r = ontap_dl.ontap_cluster_discover(l->client, on_discovered, l);
	if (r < 0)
		klog(l->log, LOG_ERR, "Leader cannot start talking to ONTAP at %s: %s", l->address, strerror(-r));
}

json_t *leader_ontap_status(const struct leader_ontap *l)
{
	if (!l)
		return NULL;
	return json_pack("{sssssIss?ss?}", "address", l->address, "svm", l->svm, "leader_epoch", (json_int_t)l->epoch,
			 "version", l->version[0] ? l->version : NULL,
			 "last_error", l->last_error[0] ? l->last_error : NULL);
}
