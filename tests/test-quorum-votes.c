/* SPDX-License-Identifier: GPL-2.0-or-later */
/* agent/quorum-votes.h: votequorum's numbers as kvmcd counts them (the nodes' votes only). */
#include <string.h>

#include "agent/quorum-votes.h"
#include "tap.h"

#define QD_REG (VOTEQUORUM_INFO_QDEVICE_REGISTERED | VOTEQUORUM_INFO_QDEVICE_ALIVE)
#define QD_VOTING (QD_REG | VOTEQUORUM_INFO_QDEVICE_CAST_VOTE)

static struct quorum_votes of(unsigned total, unsigned expected, unsigned flags, unsigned qdevice_votes)
{
	struct votequorum_info info;
	struct quorum_votes v;

	memset(&info, 0, sizeof(info));
	info.total_votes = total;
	info.node_expected_votes = expected;
	info.highest_expected = expected;
	info.flags = VOTEQUORUM_INFO_QUORATE | flags;
	info.qdevice_votes = qdevice_votes;
	if (qdevice_votes)
		strcpy(info.qdevice_name, "Qdevice");
	memset(&v, 0xa5, sizeof(v));
	quorum_votes_from_info(&info, &v);
	return v;
}

#define EXPECT(v, tot, exp, dev, voting, two) do { \
	CHECK((v).total == (tot), "total %u, want %u", (v).total, (unsigned)(tot)); \
	CHECK((v).expected == (exp), "expected %u, want %u", (v).expected, (unsigned)(exp)); \
	CHECK((v).qdevice_votes == (dev), "qdevice_votes %u, want %u", (v).qdevice_votes, (unsigned)(dev)); \
	CHECK((v).qdevice_voting == (voting), "qdevice_voting %d", (v).qdevice_voting); \
	CHECK((v).two_node == (two), "two_node %d", (v).two_node); \
} while (0)

int main(void)
{
	struct quorum_votes v;

	/* No device: corosync's numbers as they are. */
	v = of(3, 3, 0, 0);
	EXPECT(v, 3, 3, 0, false, false);
	v = of(2, 3, 0, 0);
	EXPECT(v, 2, 3, 0, false, false);
	/* two_node: the flag alone says so. */
	v = of(1, 2, VOTEQUORUM_INFO_TWONODE | VOTEQUORUM_INFO_WAIT_FOR_ALL, 0);
	EXPECT(v, 1, 2, 0, false, true);

	/* 2 nodes + a qdevice (1 vote, corosync's automatic node_count - 1): 3 expected. */
	v = of(3, 3, QD_VOTING, 1);                /* both nodes, the device votes */
	EXPECT(v, 2, 2, 1, true, true);
	CHECK(v.qdevice_registered, "registered");
	v = of(2, 3, QD_VOTING, 1);                /* the lone survivor the device votes for */
	EXPECT(v, 1, 2, 1, true, true);
	v = of(1, 3, QD_REG, 1);                   /* the lone node the device does not vote for */
	EXPECT(v, 1, 2, 1, false, true);
	v = of(2, 3, 0, 1);                        /* configured, no daemon registered: expected still 3 */
	EXPECT(v, 2, 2, 1, false, true);
	CHECK(!v.qdevice_registered, "not registered");

	/* 3 nodes + a qdevice (2 votes): 5 expected; not a two-node cluster. */
	v = of(4, 5, QD_VOTING, 2);                /* two nodes and the device */
	EXPECT(v, 2, 3, 2, true, false);
	v = of(3, 5, QD_VOTING, 2);                /* one node and the device (lms) */
	EXPECT(v, 1, 3, 2, true, false);
	v = of(2, 5, QD_REG, 2);                   /* two nodes, no device vote */
	EXPECT(v, 2, 3, 2, false, false);
	/* 4 nodes + a device with 1 vote (set by hand): 5 expected, 4 nodes. */
	v = of(3, 5, QD_VOTING, 1);
	EXPECT(v, 2, 4, 1, true, false);

	/* Nonsense from corosync (device votes >= expected): left as given, never underflows. */
	v = of(2, 2, QD_VOTING, 2);
	EXPECT(v, 2, 2, 2, true, false);
	v = of(0, 3, QD_VOTING, 1);
	EXPECT(v, 0, 2, 1, true, true);
	return tap_done("test-quorum-votes");
}
