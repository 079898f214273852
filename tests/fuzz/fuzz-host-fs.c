/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * libFuzzer target for what resources/host reads from outside tools and files for the cluster
 * file systems, mounts and pools. The first byte picks the parser, the rest is its input:
 *   0  blkid -p -o export output (then the probe's detail and the verdict drawn from it)
 *   1  /proc/self/mountinfo (looked up for a few mount points)
 *   2  debugfs.ocfs2 -R stats output        3  gfs2_edit -p sb journals output
 *   4  /etc/fstab                            5  libvirt's pool XML (parse, canonical form, hash)
 * Corpus: tests/fuzz/corpus/host-fs/ (the unit tests' fixtures with their selector byte).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fs-common.h"
#include "mount-unit.h"
#include "pool.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	const char *text = (const char *)data + 1;
	size_t len = size - 1;
	static const struct host_fs_params params = { .cluster_name = "kvmtest", .label = "ds1", .slots = 4 };

	switch (data[0] % 6) {
	case 0: {
		struct fs_blkid b;
		if (fs_blkid_parse(text, len, &b) == 0) {
			struct fs_super s = { .label = (char *)"ds1", .uuid = NULL, .cluster = (char *)"kvmtest",
					      .stack = (char *)"pcmk", .slots = 4 };
			char *d = fs_probe_describe(&b, (b.n_props & 1) ? &s : NULL);
			if (d) {
				char *why = NULL;
				host_fs_verdict(DS_FS_OCFS2, &params, d, &why);
				free(why);
				host_fs_verdict(DS_FS_GFS2, &params, d, &why);
				free(why);
				free(d);
			}
			fs_blkid_done(&b);
		}
		break;
	}
	case 1: {
		static const char *const points[] = { "/", "/srv/kvmcd/ds1", "/mnt/with space", "" };
		for (size_t i = 0; i < sizeof points / sizeof points[0]; i++) {
			struct fs_mount m;
			if (fs_mountinfo_find(text, len, points[i], &m) == 0)
				fs_mount_done(&m);
		}
		break;
	}
	case 2:
	case 3: {
		struct fs_super s;
		if ((data[0] % 6 == 2 ? fs_ocfs2_stats_parse : fs_gfs2_edit_parse)(text, len, &s) == 0)
			fs_super_done(&s);
		break;
	}
	case 4:
		mount_unit_fstab_find(text, len, "/srv/kvmcd/ds1");
		break;
	case 5: {
		/* host_pool_hash reads a C string: give it one. */
		char *z = malloc(len + 1);
		if (!z)
			return 0;
		memcpy(z, text, len);
		z[len] = '\0';
		struct host_pool_def d;
		char *why = NULL, *canon = NULL, hash[HOST_SHA256_HEX];
		if (host_pool_parse(z, strlen(z), &d, &why) == 0) {
			if (host_pool_canonical(&d, &canon) == 0)
				free(canon);
			host_pool_def_done(&d);
		}
		free(why);
		host_pool_hash(z, hash);
		free(z);
		break;
	}
	}
	return 0;
}
