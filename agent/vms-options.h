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

struct vms_options {
	char *migration_uri;            /* template: "{node}" is replaced by the target's name */
	unsigned migration_timeout_ms;  /* a migration not finished by then is aborted */
	unsigned max_downtime_ms;       /* the guest's pause at the switch-over; 0 = QEMU's own */
	unsigned migrations_per_node;   /* in flight with one node as source or target */
	unsigned migrations_per_cluster;/* in flight in the whole cluster */
	unsigned balance_gap;           /* rebalance: percentage points of memory share */
};

#define VMS_OPTIONS_DEFAULTS { .migration_uri = (char *)"qemu+tcp://{node}/system", \
			       .migration_timeout_ms = 300000, .max_downtime_ms = 0, \
			       .migrations_per_node = 1, .migrations_per_cluster = 4, .balance_gap = 10 }

/* "{node}" in the template replaced by node. 0 and *out (owned), -EINVAL (no "{node}"), -ENOMEM. */
int vms_migration_uri(const char *template_uri, const char *node, char **out);

struct config_section;
extern const struct config_section vms_config_section;
