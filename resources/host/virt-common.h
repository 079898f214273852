/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * What every libvirt job on the worker pool shares (pool.c, domain.c): libvirt's one-time
 * initialisation, and the one translation of libvirt's error space into an errno and a message.
 * Only with HAVE_LIBVIRT.
 */
#pragma once

#ifdef HAVE_LIBVIRT
#include <libvirt/libvirt.h>
#include <libvirt/virterror.h>

/* virInitialize() once per process (before threads use libvirt) with libvirt's stderr reporting
 * off (kvmcd reports errors itself). 0 or -EIO. Thread-safe. */
int host_virt_init(void);

/*
 * The calling thread's open connection to uri (borrowed: the caller never closes it), opened on
 * first use, or NULL with libvirt's error set. Worker threads keep one each: opening a
 * connection costs several RPCs (authentication, features) -- most of a freeze's time
 * (bench/freeze.sh) and of a pool ensure's (bench/datastores.sh, 50 pools at once). One per
 * thread: libvirt's errors are per thread, and a call waits on its own connection only. Closed
 * when the thread exits; reopened when libvirtd went away (virConnectIsAlive).
 */
virConnectPtr host_virt_kept_conn(const char *uri);

/* The calling thread's last libvirt error as a negative errno, and *detail (owned, replaced) =
 * "STEP: libvirt's message". */
int host_virt_error(const char *step, char **detail);
#endif
