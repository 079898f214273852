/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The parsers of host tool output and sysfs text that the real block attach ops use
 * (resources/host/blockdev.c, iscsi.c): `iscsiadm -m session`, `iscsiadm -m node -T -p` records,
 * the node record rewrite that sets CHAP, VPD page 0x80, a tool's message for an error line,
 * portals, and /sys/class/nvme/nvmeX/address. Every input goes through all of them; besides
 * memory safety, the properties each promises are checked (abort on violation).
 */
#include <arpa/inet.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "blockdev.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(int cond)
{
	if (!cond)
		abort();
}

static void fuzz_sessions(const char *text, size_t len)
{
	struct iscsi_session_info *s = NULL;
	size_t n = 0;

	if (iscsi_parse_sessions(text, len, &s, &n) < 0)
		return;
	for (size_t i = 0; i < n; i++) {
		check(s[i].port >= 1 && s[i].port <= 65535);
		check(s[i].target[0] && memchr(s[i].target, '\0', sizeof s[i].target));
		check(s[i].addr[0] && memchr(s[i].addr, '\0', sizeof s[i].addr));
		check(s[i].transport[0] && memchr(s[i].transport, '\0', sizeof s[i].transport));
	}
	free(s);
}

static void fuzz_record(const char *text, size_t len)
{
	static const char *const keys[] = { "node.startup", "node.session.auth.authmethod",
					    "node.session.auth.username", "node.session.auth.password", "" };
	char value[64], pw[64];
	size_t out_len = 0, again_len = 0;
	bool changed = false;
	char *set, *again;

	for (size_t i = 0; i < sizeof keys / sizeof *keys; i++)
		if (iscsi_record_value(text, len, keys[i], value, sizeof value) == 0)
			check(memchr(value, '\0', sizeof value) != NULL);

	/* CHAP set into any record: afterwards the record says exactly that, and setting it again
	 * changes nothing. */
	set = iscsi_record_set_chap(text, len, "kvm-node-a", "Zq7-wR2p!xK9mT4v", &out_len, &changed);
	if (!set)
		return;
	check(set[out_len] == '\0');
	check(!out_len || set[out_len - 1] == '\n');
	check(iscsi_record_value(set, out_len, "node.session.auth.password", pw, sizeof pw) == 0);
	check(strcmp(pw, "Zq7-wR2p!xK9mT4v") == 0);
	check(iscsi_record_value(set, out_len, "node.session.auth.authmethod", value, sizeof value) == 0);
	check(strcmp(value, "CHAP") == 0);
	check(iscsi_record_value(set, out_len, "node.session.auth.username", value, sizeof value) == 0);
	check(strcmp(value, "kvm-node-a") == 0);
	again = iscsi_record_set_chap(set, out_len, "kvm-node-a", "Zq7-wR2p!xK9mT4v", &again_len, &changed);
	if (again) {
		check(!changed && again_len == out_len && memcmp(again, set, out_len) == 0);
		free(again);
	}
	free(set);
}

static void fuzz_vpd(const uint8_t *data, size_t size)
{
	char serial[256];

	if (blockdev_vpd80_serial(data, size, serial, sizeof serial) != 0)
		return;
	size_t n = strlen(serial);
	check(n > 0 && serial[0] != ' ' && serial[n - 1] != ' ');
	for (size_t i = 0; i < n; i++)
		check(serial[i] > 0x20 && serial[i] < 0x7f);
	check(n > 254 || blockdev_valid_serial(serial));
}

static void fuzz_message(const char *text, size_t len)
{
	const char *nul = memchr(text, '\0', len);
	size_t out_len = nul ? (size_t)(nul - text) : len;
	const char *err = nul ? nul + 1 : "";
	size_t err_len = nul ? len - out_len - 1 : 0;
	char *m = blockdev_tool_message(text, out_len, err, err_len);

	if (!m)
		return;
	check(strlen(m) <= 1024 + 3);
	for (const char *p = m; *p; p++)
		check((unsigned char)*p >= 0x20 && *p != 0x7f);
	free(m);
}

static void fuzz_portal(const char *text, size_t len)
{
	char buf[128], addr[64];
	unsigned port = 0;
	unsigned char bin[16];

	if (len >= sizeof buf)
		len = sizeof buf - 1;
	memcpy(buf, text, len);
	buf[len] = '\0';
	if (blockdev_portal_parse(buf, 3260, addr, sizeof addr, &port) == 0) {
		check(port >= 1 && port <= 65535);
		check(inet_pton(AF_INET, addr, bin) == 1 || inet_pton(AF_INET6, addr, bin) == 1);
		check(addr[0] != '-');
		check(blockdev_addr_equal(addr, addr));
	}
}

static void fuzz_nvme_address(const char *text, size_t len)
{
	char traddr[64], trsvcid[16];

	if (nvme_parse_address(text, len, traddr, sizeof traddr, trsvcid, sizeof trsvcid) == 0) {
		check(traddr[0] && strlen(traddr) < sizeof traddr);
		check(trsvcid[0] && strlen(trsvcid) < sizeof trsvcid);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* A private copy, so a parser that read past the end would be caught by ASan. */
	char *text = malloc(size ? size : 1);

	if (!text)
		return 0;
	memcpy(text, data, size);
	fuzz_sessions(text, size);
	fuzz_record(text, size);
	fuzz_vpd((const uint8_t *)text, size);
	fuzz_message(text, size);
	fuzz_portal(text, size);
	fuzz_nvme_address(text, size);
	free(text);
	return 0;
}
