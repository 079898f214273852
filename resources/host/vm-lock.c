/* SPDX-License-Identifier: GPL-2.0-or-later */
/* What the VM lock implementations share (vm-lock.h): the table by name, the resource name. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "vm-lock.h"

#ifdef HAVE_LIBDLM
extern const struct host_vm_lock_ops host_vm_lock_dlm_ops;
const struct host_vm_lock_ops *const host_vm_lock_dlm = &host_vm_lock_dlm_ops;
#else
const struct host_vm_lock_ops *const host_vm_lock_dlm = NULL;
#endif

const struct host_vm_lock_ops *host_vm_lock_find(const char *name)
{
	if (!name)
		return NULL;
	if (strcmp(name, "dlm") == 0)
		return host_vm_lock_dlm;
	if (strcmp(name, "lockd") == 0)
		return &host_vm_lock_lockd_ops;
	return NULL;
}

int host_vm_lock_resource(const char *vm, char buf[HOST_VM_LOCK_NAME_MAX + 1])
{
	if (!vm || !*vm)
		return -EINVAL;
	if (strlen(HOST_VM_LOCK_PREFIX) + strlen(vm) > HOST_VM_LOCK_NAME_MAX)
		return -ENAMETOOLONG;
	snprintf(buf, HOST_VM_LOCK_NAME_MAX + 1, HOST_VM_LOCK_PREFIX "%s", vm);
	return 0;
}
