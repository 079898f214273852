/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Query and path building for ONTAP URLs: quoting of operator characters, percent-encoding. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "macros.h"
#include "ontap-client.h"

char *ontap_url_encode(const char *s, bool path_segment)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t n = strlen(s);
	char *out = malloc(n * 3 + 1), *p = out;

	if (!out)
		return NULL;
	for (; *s; s++) {
		unsigned char ch = (unsigned char) *s;
		bool plain = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
			     (ch >= '0' && ch <= '9') || ch == '-' || ch == '_' || ch == '~' ||
			     (ch == '.' && !path_segment);
		if (plain)
			*p++ = (char) ch;
		else {
			*p++ = '%';
			*p++ = hex[ch >> 4];
			*p++ = hex[ch & 15];
		}
	}
	*p = '\0';
	return out;
}

/* ONTAP reads these inside a query value as operators (notes §2.1). */
static bool needs_quoting(const char *v)
{
	size_t n = strlen(v);

	if (n == 0)
		return false;
	if (strpbrk(v, "*|,!<>{}\"") || strstr(v, ".."))
		return true;
	if (v[0] == ' ' || v[n - 1] == ' ')
		return true;
	/* "null" alone means "field unset". */
	return strcmp(v, "null") == 0;
}

int ontap_query_add(char **q, const char *key, const char *value, bool raw_operators)
{
	_cleanup_free_ char *quoted = NULL, *ek = NULL, *ev = NULL;
	char *n = NULL;
	const char *v = value;

	if (!raw_operators && needs_quoting(value)) {
		/* A value that itself contains '"' is wrapped in {…} instead. */
		bool has_quote = strchr(value, '"');

		if (has_quote && strchr(value, '}'))
			return -EINVAL;  /* neither quoting form can carry it */
		if (asprintf(&quoted, has_quote ? "{%s}" : "\"%s\"", value) < 0)
			return -ENOMEM;
		v = quoted;
	}
	ek = ontap_url_encode(key, false);
	ev = ontap_url_encode(v, false);
	if (!ek || !ev)
		return -ENOMEM;
	if (asprintf(&n, "%s%s%s=%s", *q ?: "", (*q && **q) ? "&" : "", ek, ev) < 0)
		return -ENOMEM;
	free(*q);
	*q = n;
	return 0;
}

int ontap_query_addf(char **q, const char *key, const char *fmt, ...)
{
	_cleanup_free_ char *v = NULL;
	va_list ap;
	int r;

	va_start(ap, fmt);
	r = vasprintf(&v, fmt, ap);
	va_end(ap);
	if (r < 0)
		return -ENOMEM;
	return ontap_query_add(q, key, v, true);
}
