/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * kvmcd's fence device for dlm_controld (issue 9): `fence_kvmcd`, a name of kvmcctl (a symlink;
 * also `kvmcctl fence dlm-device`). DLM recovery, the cluster file systems and kvmcd's VM
 * recovery then all wait on the same single fence: kvmcd's, recorded in the replicated state.
 *
 * dlm.conf (dlm.conf(5); what dlm_controld does was measured in ../shared/notes/
 * fullstack-fencing.md section 2):
 *
 *   enable_fencing=1
 *   fence_all /usr/sbin/fence_kvmcd [timeout=60] [socket=/run/kvmcd/api.sock]
 *
 * (or `device kvmcd /usr/sbin/fence_kvmcd ...` and one `connect kvmcd node=ID` per node). The
 * device is run with NO arguments, stdout and stderr on /dev/null, and one key=value per line on
 * stdin: the device line's arguments, then `node=<corosync node id of the victim>`, then that
 * node's `connect` arguments, then `fail_time=<time(2) on this node when it saw the failure>`;
 * unfencing adds `action=on`. Exit 0 = fenced; anything else = not fenced, and dlm_controld runs
 * the device again (repeat_failed_fencing, on by default) about 2 s later.
 *
 * What the device does: asks the local kvmcd (its API socket) to answer once the victim's fence
 * is CONFIRMED in the replicated state -- kvmcd fences a host that left the membership by itself
 * (its HA service, by the configured levels); the device never fences on its own, so there is
 * one fence per failure, never a second one racing it. It exits 0 then, or 1 when `timeout`
 * seconds pass first (the fence is still pending, failed, HA is disarmed, or kvmcd sees the node
 * as a member: the log says which). `action=on` exits 0 at once: kvmcd gives a returning node its
 * access back itself (the leader's unfence). Everything is logged to syslog (daemon facility, ident
 * fence_kvmcd), the only place dlm_controld lets a device speak.
 *
 * This file: the stdin parser (pure; fuzzed: tests/fuzz/fuzz-dlm-device.c). Keys it takes:
 *   node       required once: the victim's corosync node id, 1..4294967295, decimal
 *   action     off (default) | reboot (treated as off) | on; anything else is refused
 *   fail_time  optional: seconds since the epoch, 0..2^62
 *   timeout    optional: seconds to wait for the confirmation, 1..3600 (default 60)
 *   socket     optional: kvmcd's API socket, an absolute path (default: kvmcctl's)
 * Every other key (the connect arguments: host=, iqn=, ...) is ignored. Refused: a line without
 * '=', an empty key, a key that is not [A-Za-z0-9_.-]+, a known key twice, a NUL or another
 * control character than '\n' (and a '\r' right before it), a line over DLM_DEVICE_LINE_MAX,
 * more than DLM_DEVICE_INPUT_MAX bytes in all. Empty lines are skipped.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define DLM_DEVICE_INPUT_MAX (64u * 1024u)
#define DLM_DEVICE_LINE_MAX 4096u
#define DLM_DEVICE_TIMEOUT_DEFAULT 60u
#define DLM_DEVICE_TIMEOUT_MAX 3600u
#define DLM_DEVICE_SOCKET_MAX 107u /* sun_path */

enum dlm_device_action {
	DLM_DEVICE_OFF,
	DLM_DEVICE_ON,
};

struct dlm_device_request {
	uint32_t nodeid;
	enum dlm_device_action action;
	bool has_fail_time;
	int64_t fail_time;
	unsigned timeout_sec;
	char socket[DLM_DEVICE_SOCKET_MAX + 1]; /* "" = the default */
};

/*
 * Parses the device's stdin (text of len bytes, not NUL-terminated). Returns 0 and fills *out,
 * or -EINVAL (bad input), -E2BIG (too long) or -ENOMEM with *error (owned; may stay NULL on
 * ENOMEM) naming the problem and its line.
 */
int dlm_device_parse(const char *text, size_t len, struct dlm_device_request *out, char **error);
