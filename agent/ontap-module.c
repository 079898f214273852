/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Finding and opening the ONTAP client module (ontap-module.h). */
#include <dlfcn.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "build-config.h"
#include "ontap-abi.h"
#include "ontap-module.h"

#define ONTAP_MODULE_NAME "kvmcd-ontap.so"

const char *ontap_module_path(char *buf, size_t size)
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

int ontap_module_open(void **handle, char path[PATH_MAX], char **error)
{
	char buf[PATH_MAX];
	const char *(*abi)(void);
	const char *why, *theirs;
	void *h;

	*handle = NULL;
	snprintf(path, PATH_MAX, "%s", ontap_module_path(buf, sizeof(buf)));
	h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
	if (!h) {
		why = dlerror();
		if (asprintf(error, "cannot load the ONTAP client module %s: %s", path, why ? why : "unknown error") < 0)
			*error = NULL;
		return -ELIBACC;
	}
	/* first the stamp: no pointer of a module built against other headers is ever called */
	*(void **)&abi = dlsym(h, "ontap_module_abi");
	theirs = abi ? abi() : NULL;
	if (!theirs || strcmp(theirs, KVMCD_ONTAP_ABI) != 0) {
		if (asprintf(error, "the ONTAP client module %s is not this kvmcd's (its ABI stamp %s, this "
			     "kvmcd's %s): it comes from another build or version; install the matching "
			     "module or restart kvmcd after an upgrade", path, theirs ? theirs : "missing",
			     KVMCD_ONTAP_ABI) < 0)
			*error = NULL;
		dlclose(h);
		return -ELIBBAD;
	}
	*handle = h;
	return 0;
}
