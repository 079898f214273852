/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The DLM implementation's seam for tests (vm-lock.h is the interface): the few libdlm calls it
 * makes, as a table. The real one is libdlm's; tests/test-vm-lock.c passes a fake lock manager
 * with the kernel's semantics (exclusive locks, NOQUEUE refusals, completion ASTs read from a
 * descriptor, persistent locks orphaned when their process closes, orphans adopted), so the
 * whole state machine runs without a kernel DLM. Only with HAVE_LIBDLM (libdlm.h's types).
 */
#pragma once

#include <libdlm.h>
#include <sys/types.h>

#include "vm-lock.h"

/* libdlm's calls, same signatures and errno conventions (NULL / -1 and errno on failure). */
struct host_vm_lock_dlm_api {
	dlm_lshandle_t (*open_lockspace)(const char *name);
	dlm_lshandle_t (*new_lockspace)(const char *name, mode_t mode, uint32_t flags);
	int (*close_lockspace)(dlm_lshandle_t ls);
	int (*ls_get_fd)(dlm_lshandle_t ls);
	int (*ls_lock)(dlm_lshandle_t ls, uint32_t mode, struct dlm_lksb *lksb, uint32_t flags, const void *name,
		       unsigned int namelen, uint32_t parent, void (*astaddr)(void *astarg), void *astarg,
		       void (*bastaddr)(void *astarg), void *range);
	int (*ls_unlock)(dlm_lshandle_t ls, uint32_t lkid, uint32_t flags, struct dlm_lksb *lksb, void *astarg);
	/* Reads every completion queued on fd and calls each one's astaddr(astarg), without
	 * blocking (libdlm's dlm_dispatch). */
	int (*dispatch)(int fd);
};

/* host_vm_lock_dlm->open with another api (borrowed; outlives the lock). */
int host_vm_lock_dlm_open_api(struct host_ctx *ctx, const struct host_vm_lock_params *p,
			      const struct host_vm_lock_dlm_api *api, struct host_vm_lock **out);
