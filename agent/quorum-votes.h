/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * What kvmcd counts of votequorum's numbers (cpg-glue.c asks votequorum_getinfo() at every quorum
 * notification and hands the result to the core). Pure: no corosync calls, unit-tested
 * (tests/test-quorum-votes.c).
 *
 * The core's rule "a leader's view holds a majority of the expected members" (coord/cluster/
 * core.c elect()) is about HOSTS whose kvmcd runs. votequorum's expected votes also hold a quorum
 * device's votes (corosync-qdevice, e.g. model net with a corosync-qnetd elsewhere): corosync
 * counts a configured device in them whether or not its daemon has registered (votequorum.c:
 * node_count - 1 device votes added when quorum.device.votes is unset, and expected votes are
 * raised to the total, which counts the configured device). Its total holds the device's votes
 * while the device votes for this partition. So both lose the device's votes here: the core
 * sees the nodes' votes only, and a 2-node cluster with a qdevice (2 + 1 = 3 expected) no longer
 * refuses its lone survivor as "1 of 3 expected members".
 *
 * two_node: votequorum's two_node flag, or a configured quorum device with exactly two node
 * votes expected. Either way a lone survivor can be quorate -- by two_node's rule or by the
 * device's vote -- and the core treats both alike (core_two_node()): it elects the survivor but
 * lets it act only after it won the ONTAP claim for its epoch and then fences its peer
 * (coord/decide/fence.h "Two-node clusters"). The device decides which half is quorate; the claim
 * still guards what quorum does not: a survivor with stale state (its peer committed alone after
 * it left) computes an epoch the peer already claimed, and loses. corosync refuses two_node and a
 * device in one configuration, so the two never mix.
 */
#pragma once

#include <corosync/votequorum.h>
#include <stdbool.h>
#include <stdint.h>

struct quorum_votes {
	uint32_t total;          /* votes of the nodes in this partition (without the device's) */
	uint32_t expected;       /* expected votes of the nodes (without the device's) */
	uint32_t qdevice_votes;  /* the configured quorum device's votes; 0 without one */
	bool qdevice_voting;     /* the device casts its vote for this partition now */
	bool qdevice_registered; /* this node's qdevice daemon is registered with votequorum */
	bool two_node;           /* a lone survivor may be quorate: see the header comment */
};

/* Fills *out from votequorum's info of this node. Never fails: a device's votes larger than
 * the numbers they are taken from (a misreport) leave those numbers as corosync gave them. */
void quorum_votes_from_info(const struct votequorum_info *info, struct quorum_votes *out);
