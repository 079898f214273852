/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The "agent" fence method's parts that tests and the fuzzer call directly: its parameters (the
 * configuration and the root-only secret files) and the reading of a fence agent's answer. The
 * method itself is fence_agent_ops (fencing/fence.h).
 *
 * Configuration, per node (the daemon's section `[fence-agent NODE]`, in order):
 *
 *   agent = fence_ipmilan            required: a bare fence_* name (run from /usr/sbin) or an
 *                                    absolute path; the program must be a regular executable
 *                                    owned by root (or kvmcd's user) and not group/world-writable:
 *                                    it runs as root and is handed the BMC's password
 *   password_file = /etc/kvmcd/bmc-n2.pw      optional: the password, the file's whole content
 *                                    (one trailing newline dropped); passed as password=...
 *   credentials_file = /etc/kvmcd/bmc-n2.cred optional: key=value lines ('#' comments), e.g.
 *                                    username and password; passed as they are
 *   ip = 10.0.0.12, username = admin, lanplus = 1, plug = ..., ...   anything else: passed to
 *                                    the agent as key=value on its stdin, in this order
 *
 * Both files must be regular files owned by root (or kvmcd's user) with no group/other access
 * (mode 0600 or 0400); they are read at every attempt (a rotated password is used at once) and
 * never logged. Refused keys: password / passwd (a secret in the configuration: use
 * password_file), action / option (kvmcd decides the action), nodename (kvmcd sets it), a key
 * twice (also across the files), a key that is not [A-Za-z][A-Za-z0-9_-]*, a value with a
 * control character (it would start another stdin line).
 *
 * What the agent gets (fence-agents' stdin protocol, the one fenced / dlm_controld / Pacemaker
 * use): NO arguments (argv is just the program: argv and /proc/PID/cmdline are readable by every
 * user), the environment plus LC_ALL=C, and on stdin
 *
 *   action=off | action=status
 *   nodename=NODE
 *   <the configured key=value lines>
 *   <the credentials file's lines>
 *   password=<the password file>
 *
 * An attempt runs `off`, then `status`; CONFIRMED only when `status`, run after an `off` that
 * succeeded, prints "Status: OFF" and exits with 2 (fence-agents: status exits 0 = on, 2 = off,
 * anything else = could not tell; fencing.py also exits 1 for every failure). Exit 2 alone is
 * not trusted (older agents used 2 for bad arguments).
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "fencing/fence.h"

/* Where bare agent names are looked for. */
#define FENCE_AGENT_DIR "/usr/sbin"
/* Largest secret file read. */
#define FENCE_AGENT_SECRET_FILE_MAX (64u * 1024u)

/* A node's agent configuration, loaded (files read). Everything owned. */
struct fence_agent_params {
	char *program;          /* absolute path of the agent */
	char *name;             /* its base name, for messages ("fence_ipmilan") */
	char *lines;            /* "nodename=...\n" + the configured lines: not secret */
	char *secret_lines;     /* the files' lines: SECRET (wiped when freed) */
	char **secrets;         /* every secret value, for scrubbing the agent's output */
	size_t n_secrets;
};

/*
 * Loads t's parameters: checks every key and value, the program and the files, and reads the
 * files. Returns 0 and *out (fence_agent_params_done), or a negative errno with *error (owned;
 * "fence agent for n2: password_file /etc/kvmcd/x: mode 0644 lets others read it (chmod 600)";
 * never a secret): -EINVAL (a key or value), -ENOENT (a file or the program missing), -EPERM (a
 * file's owner or mode), -EISDIR, -EFBIG, -ENOMEM. error may be NULL.
 */
int fence_agent_params_load(const struct fence_target *t, struct fence_agent_params *out, char **error);
/* Frees and wipes; accepts a zeroed struct. */
void fence_agent_params_done(struct fence_agent_params *p);

enum fence_agent_action {
	FENCE_AGENT_ACTION_OFF,
	FENCE_AGENT_ACTION_STATUS,
};

enum fence_agent_verdict {
	FENCE_AGENT_DONE,        /* off: the agent says it succeeded (exit 0) */
	FENCE_AGENT_POWER_OFF,   /* status: "Status: OFF" and exit 2 */
	FENCE_AGENT_POWER_ON,    /* status: "Status: ON" and exit 0 (or exit 0 without a line) */
	FENCE_AGENT_ERROR,       /* the agent says it failed (its message in msg) */
	FENCE_AGENT_BAD_OUTPUT,  /* an answer that contradicts itself or the protocol */
};

/*
 * Reads an agent's answer to `action`: its exit status (>= 0; a signal or a deadline is the
 * caller's to describe) and what it wrote. msg (always NUL-terminated, printable ASCII, at most
 * msg_size - 1 bytes) gets the line that says it ("Success: Powered OFF", "Status: OFF",
 * "Failed: Unable to connect/login to fencing device") or why the answer cannot be read
 * ("exit status 2 (off) without a 'Status: OFF' line"). out and err may hold any bytes (NULs
 * included); they are not modified. Returns the verdict; never fails.
 */
enum fence_agent_verdict fence_agent_parse(enum fence_agent_action action, int exit_code, const char *out,
					   size_t out_len, const char *err, size_t err_len, char *msg,
					   size_t msg_size);

/*
 * Overwrites every occurrence of each of the n secrets in buf[0..len) with '*' (same length, so
 * the buffer's length does not change). Empty secrets are skipped. For the agent's output before
 * anything of it is read, logged or kept.
 */
void fence_agent_scrub(char *buf, size_t len, char *const *secrets, size_t n);

const char *fence_agent_verdict_name(enum fence_agent_verdict v);
