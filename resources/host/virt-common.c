/* SPDX-License-Identifier: GPL-2.0-or-later */
/* libvirt's initialisation and error translation, shared by the libvirt jobs (virt-common.h). */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "virt-common.h"

#ifdef HAVE_LIBVIRT

static pthread_once_t libvirt_once = PTHREAD_ONCE_INIT;
static int libvirt_init_r;

static void libvirt_silent(void *userdata, virErrorPtr err)
{
}

static void libvirt_init(void)
{
	libvirt_init_r = virInitialize() < 0 ? -EIO : 0;
	virSetErrorFunc(NULL, libvirt_silent);
}

int host_virt_init(void)
{
	pthread_once(&libvirt_once, libvirt_init);
	return libvirt_init_r;
}

struct kept_conn {
	virConnectPtr conn;
	char *uri;
};

static pthread_key_t kept_key;
static pthread_once_t kept_once = PTHREAD_ONCE_INIT;

static void kept_free(void *p)
{
	struct kept_conn *k = p;

	if (!k)
		return;
	if (k->conn)
		virConnectClose(k->conn);
	free(k->uri);
	free(k);
}

static void kept_init(void)
{
	(void)pthread_key_create(&kept_key, kept_free);
}

virConnectPtr host_virt_kept_conn(const char *uri)
{
	struct kept_conn *k;

	pthread_once(&kept_once, kept_init);
	k = pthread_getspecific(kept_key);
	if (!k) {
		k = calloc(1, sizeof(*k));
		if (!k || pthread_setspecific(kept_key, k) != 0) {
			free(k);
			return NULL;
		}
	}
	if (k->conn && (!k->uri || strcmp(k->uri, uri) != 0 || virConnectIsAlive(k->conn) != 1)) {
		virConnectClose(k->conn);
		k->conn = NULL;
	}
	if (!k->conn) {
		free(k->uri);
		k->uri = strdup(uri);
		k->conn = k->uri ? virConnectOpen(uri) : NULL;
	}
	return k->conn;
}

int host_virt_error(const char *step, char **detail)
{
	virErrorPtr e = virGetLastError();
	int code = e ? e->code : VIR_ERR_INTERNAL_ERROR, r;

	switch (code) {
	case VIR_ERR_NO_STORAGE_POOL: case VIR_ERR_NO_DOMAIN: r = -ENOENT; break;
	case VIR_ERR_OPERATION_INVALID: r = -EBUSY; break;
	case VIR_ERR_NO_CONNECT: r = -ECONNREFUSED; break;
	case VIR_ERR_AUTH_FAILED: case VIR_ERR_AUTH_CANCELLED: case VIR_ERR_ACCESS_DENIED: r = -EACCES; break;
	case VIR_ERR_OPERATION_TIMEOUT: r = -ETIMEDOUT; break;
	case VIR_ERR_NO_SUPPORT: case VIR_ERR_OPERATION_UNSUPPORTED: r = -EOPNOTSUPP; break;
	case VIR_ERR_INVALID_ARG: case VIR_ERR_XML_ERROR: case VIR_ERR_XML_DETAIL: r = -EINVAL; break;
	case VIR_ERR_SYSTEM_ERROR: r = e && e->int1 > 0 ? -e->int1 : -EIO; break;
	default: r = -EIO;
	}
	free(*detail);
	if (asprintf(detail, "%s: %s", step, e && e->message ? e->message : "unknown libvirt error") < 0)
		*detail = NULL;
	return r;
}

#endif
