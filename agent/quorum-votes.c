/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "quorum-votes.h"

void quorum_votes_from_info(const struct votequorum_info *info, struct quorum_votes *out)
{
	uint32_t dev = info->qdevice_votes;
	bool device = dev > 0 && info->node_expected_votes > dev; /* configured, and sane */
	struct quorum_votes v = {
		.total = info->total_votes,
		.expected = info->node_expected_votes,
		.qdevice_votes = dev,
		.qdevice_voting = dev > 0 && (info->flags & VOTEQUORUM_INFO_QDEVICE_CAST_VOTE),
		.qdevice_registered = (info->flags & VOTEQUORUM_INFO_QDEVICE_REGISTERED) != 0,
	};

	if (device) {
		v.expected -= dev;
		/* getinfo adds the device's votes to the total while this node's device votes */
		if (v.qdevice_voting && v.total >= dev)
			v.total -= dev;
	}
	v.two_node = (info->flags & VOTEQUORUM_INFO_TWONODE) || (device && v.expected == 2);
	*out = v;
}
