/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * libFuzzer target: the kvmcd.conf parser (agent/config.c and the sections it collects, e.g.
 * resources/ontap/ontap-config.c) on arbitrary bytes -- NULs, overlong lines, broken sections,
 * duplicates, bad values, bad ONTAP addresses -- plus the reload merge of whatever parsed
 * against the defaults. Errors must be collected, never crash or leak; whatever parses must
 * hold only values its schema allows (no string longer than its key's maximum).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "agent/config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Every string of a parsed config within its key's maximum, without control characters. */
static void check_values(const struct kvmcd_config *cfg)
{
	for (const struct config_section *const *s = config_sections; *s; s++)
		for (const struct config_key *k = (*s)->keys; k->name; k++) {
			const char *v;

			if (k->type != CONFIG_STRING && k->type != CONFIG_PATH)
				continue;
			v = *(char *const *)((const char *)cfg + (*s)->offset + k->offset);
			if (!v)
				continue;
			if (strlen(v) > k->max)
				abort(); /* computed defaults (host name, socket) included */
			for (const char *p = v; *p; p++)
				if ((unsigned char)*p < ' ' || *p == 0x7f)
					abort();
		}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct config_errors errors = { 0 };
	struct kvmcd_config *cfg = NULL, *defaults = NULL;

	if (config_parse_buffer("fuzz.conf", (const char *)data, size, &cfg, &errors) == 0) {
		if (errors.n)
			abort(); /* success must come with no problems */
		check_values(cfg);
		if (config_parse_buffer("defaults", "", 0, &defaults, &errors) == 0)
			config_reload_merge(cfg, defaults, NULL, NULL);
		if (errors.n)
			abort();
	} else if (errors.n == 0)
		abort(); /* failure must say why (ENOMEM aside, which the fuzzer does not inject) */
	config_free(cfg);
	config_free(defaults);
	config_errors_clear(&errors);
	return 0;
}
