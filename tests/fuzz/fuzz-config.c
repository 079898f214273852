/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * libFuzzer target: the kvmcd.conf parser (agent/config.c) on arbitrary bytes -- NULs, overlong
 * lines, broken sections, bad values -- plus the reload merge of whatever parsed against the
 * defaults. Errors must be collected, never crash or leak.
 */
#include <stdint.h>
#include <stdlib.h>

#include "agent/config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct config_errors errors = { 0 };
	struct kvmcd_config *cfg = NULL, *defaults = NULL;

	if (config_parse_buffer("fuzz.conf", (const char *)data, size, &cfg, &errors) == 0) {
		if (!errors.n && config_parse_buffer("defaults", "", 0, &defaults, &errors) == 0)
			config_reload_merge(cfg, defaults, NULL, NULL);
		if (errors.n)
			abort(); /* success must come with no problems */
	} else if (errors.n == 0)
		abort(); /* failure must say why (ENOMEM aside, which the fuzzer does not inject) */
	config_free(cfg);
	config_free(defaults);
	config_errors_clear(&errors);
	return 0;
}
