/* SPDX-License-Identifier: GPL-2.0-or-later */
/* libFuzzer target: spec parsing/validation, canonical form and diff against the empty spec. */
#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>

#include "spec.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct spec_problems p = { 0 };
	json_t *spec = NULL, *empty = json_object();
	char *s;

	if (spec_parse((const char *)data, size, &spec, &p) == 0) {
		s = spec_canonical(spec);
		free(s);
		s = spec_diff(empty, spec);
		free(s);
		json_decref(spec);
	} else {
		s = spec_problems_join(&p);
		free(s);
	}
	spec_problems_clear(&p);
	json_decref(empty);
	return 0;
}
