/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The lockd implementation's pure part (vm-lock-lockd.c says what the host needs), for its tests:
 * reading libvirt's config files and deciding whether they make libvirt take disk leases in a
 * lease directory.
 */
#pragma once

#include "vm-lock.h"

/*
 * The value of `key` in a libvirt config file's text (virconf syntax: `name = value` lines,
 * `#` comments, "strings" / 'strings' / """long strings""", numbers, [lists] over several lines;
 * the last assignment counts). *out owned: a string's content, a number as written. 0, -ENOENT
 * (not set; lists are never returned), -EINVAL (*bad_line, may be NULL, says where), -ENOMEM.
 */
int host_libvirt_conf_get(const char *text, const char *key, char **out, unsigned *bad_line);

/*
 * From qemu.conf's and qemu-lockd.conf's texts (NULL: the file is absent): 0 and *lease_dir
 * (owned, file_lockspace_dir) when libvirt takes a lease for every disk in that directory; else
 * -ENOLCK and *why (owned): what is missing or wrong, and the setting that fixes it. Pure.
 */
int host_vm_lock_lockd_config(const char *qemu_conf, const char *lockd_conf, char **lease_dir, char **why);
