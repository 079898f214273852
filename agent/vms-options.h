/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The [vms] section of kvmcd.conf (agent/vms-config.c): how the VM service (agent/vms.c) moves
 * VMs. Every key takes effect on SIGHUP for what starts afterwards; a migration in flight keeps
 * the values it started with.
 *
 * migration_uri is the target's libvirtd as the SOURCE node's libvirtd reaches it (libvirt's
 * peer-to-peer migration: the source's libvirtd connects to it itself), with "{node}" standing
 * for the target's kvmcd node name ([node] name): "qemu+tcp://{node}/system" (the default: the
 * node names resolve on every host, libvirtd listens on TCP), "qemu+tls://{node}.example.net/system",
 * "qemu+ssh://root@{node}/system". The limits bound migrations in flight (a drain's, a
 * rebalance's and `kvmcctl vm migrate`'s together); only the leader's values count.
 */
#pragma once

/* [vms] shutdown_policy: what a planned host shutdown does with this node's guests
 * (agent/vms-shutdown.c). Never renumbered. */
enum vms_shutdown_policy {
	VMS_SHUTDOWN_MIGRATE,   /* drained: guests leave live; what cannot is shut down, restarted elsewhere */
	VMS_SHUTDOWN_STOP,      /* shut down here, restarted elsewhere (cold) */
	VMS_SHUTDOWN_FREEZE,    /* shut down here, kept by this node, started here when it is back */
};
/* [vms] shutdown_policy_on: which stops of kvmcd apply the policy. Never renumbered. */
enum vms_shutdown_on {
	VMS_SHUTDOWN_ON_SYSTEM,  /* only while systemd shuts the host down (SystemState "stopping") */
	VMS_SHUTDOWN_ON_ANY,     /* every SIGTERM (kvmcd restarts too) */
};
/* [vms] paused_policy: guests QEMU paused on an I/O error, once their storage is back
 * (agent/vms-paused.c). Never renumbered. */
enum vms_paused_policy {
	VMS_PAUSED_AUTO_RESUME,
	VMS_PAUSED_LEAVE,       /* leave-paused: `kvmcctl vm resume NAME` resumes it */
	VMS_PAUSED_KILL,        /* destroyed; restarted per the VM's ha.max_restart */
};
/* A guest's ACPI shutdown before it is destroyed (a guest without <acpi/>: destroyed at once). */
#define VMS_STOP_GRACE_SEC 60u

/* [vms] vm_lock: the lock below kvmcd that makes a second copy of a running VM impossible whatever
 * any kvmcd believes (resources/host/vm-lock.h). Never renumbered. */
enum vms_lock_kind {
	VMS_LOCK_AUTO,   /* dlm when this node has DLM (the lockspace can be joined), else none */
	VMS_LOCK_NONE,   /* no lock below kvmcd (libvirt's own configuration still applies) */
	VMS_LOCK_DLM,    /* a DLM lockspace; a node where it cannot be joined starts no VM */
	VMS_LOCK_LOCKD,  /* libvirt's lockd (virtlockd leases); verified before every start */
};

struct vms_options {
	int shutdown_policy;            /* enum vms_shutdown_policy */
	int shutdown_policy_on;         /* enum vms_shutdown_on */
	unsigned shutdown_timeout_ms;   /* the whole policy, SIGTERM to exit (coord/timeouts.h 8.) */
	int paused_policy;              /* enum vms_paused_policy */
	char *migration_uri;            /* template: "{node}" is replaced by the target's name */
	unsigned migration_timeout_ms;  /* a migration not finished by then is aborted */
	unsigned max_downtime_ms;       /* the guest's pause at the switch-over; 0 = QEMU's own */
	unsigned migrations_per_node;   /* in flight with one node as source or target */
	unsigned migrations_per_cluster;/* in flight in the whole cluster */
	unsigned balance_gap;           /* rebalance: percentage points of memory share */
	int vm_lock;                    /* enum vms_lock_kind; needs a restart */
	char *vm_lock_lockspace;        /* dlm: the lockspace's name; needs a restart */
};

#define VMS_OPTIONS_DEFAULTS { .shutdown_timeout_ms = 240000, \
			       .migration_uri = (char *)"qemu+tcp://{node}/system", \
			       .migration_timeout_ms = 300000, .max_downtime_ms = 0, \
			       .migrations_per_node = 1, .migrations_per_cluster = 4, .balance_gap = 10, \
			       .vm_lock = VMS_LOCK_AUTO, .vm_lock_lockspace = (char *)"kvmcd" }

/* "{node}" in the template replaced by node. 0 and *out (owned), -EINVAL (no "{node}"), -ENOMEM. */
int vms_migration_uri(const char *template_uri, const char *node, char **out);

struct config_section;
extern const struct config_section vms_config_section;
