/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Minimal checking helpers for the unit tests: each failed check prints where and what. */
#pragma once
#include <stdio.h>
#include <stdlib.h>

static int tap_failed, tap_checks;

#define CHECK(cond, ...) do { \
	tap_checks++; \
	if (!(cond)) { \
		tap_failed++; \
		fprintf(stderr, "%s:%d: check failed: %s: ", __FILE__, __LINE__, #cond); \
		fprintf(stderr, __VA_ARGS__); \
		fputc('\n', stderr); \
	} \
} while (0)

static inline int tap_done(const char *name)
{
	printf("%s: %d checks, %d failed\n", name, tap_checks, tap_failed);
	return tap_failed ? 1 : 0;
}
