/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The simulated backend's one use of umount2 (sim.h), apart from sim.c: <sys/mount.h>'s MS_*
 * macros would collide with sim.c's own mount states. */
#include <errno.h>
#include <sys/mount.h>
#include <sys/stat.h>

#include "sim.h"

void sim_dead_fuse_mount_clear(const char *mp)
{
	struct stat st;

	if (lstat(mp, &st) < 0 && errno == ENOTCONN)
		(void)umount2(mp, MNT_DETACH);
}
