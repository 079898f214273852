/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The one error type of the ONTAP client.
 *
 * Every failure is reported twice: as a negative errno (what callers branch on) and as a
 * struct ontap_error (what a user reads: the ONTAP code and message, the object and the HTTP
 * status). ontap_errno_from() is the only place where CURLcode, HTTP status and ONTAP error codes
 * are translated into errno values.
 *
 * Credentials never appear here: messages come from ONTAP bodies or from our own fixed texts.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <jansson.h>
#include <curl/curl.h>

/* ONTAP error codes the client acts on (decimal; ONTAP sends them as strings in error bodies
 * and as integers in jobs). See shared/notes/ontap-rest.md §4-§6. */
enum {
	ONTAP_E_DUPLICATE             = 1,
	ONTAP_E_INVALID               = 2,
	ONTAP_E_NOT_SUPPORTED         = 3,
	ONTAP_E_NOT_FOUND             = 4,
	ONTAP_E_PERMISSION            = 6,
	ONTAP_E_LIMIT                 = 7,
	ONTAP_E_IN_USE                = 8,
	ONTAP_E_TOO_MANY_REQUESTS     = 262160,
	ONTAP_E_INVALID_FIELD         = 262197,
	ONTAP_E_NO_SPACE              = 1245212,
	ONTAP_E_SVM_NOT_FOUND         = 2621462,
	ONTAP_E_NOT_AUTHORIZED_SVM    = 6691623,
	ONTAP_E_VOLUME_EXISTS         = 917526,
	ONTAP_E_VOLUME_BEING_CREATED  = 13107405,
	ONTAP_E_VOLUME_TOO_SMALL      = 917534,
	ONTAP_E_VOLUME_HAS_CLONES     = 524615,
	ONTAP_E_VOLUME_BUSY           = 524486,
	ONTAP_E_LUN_EXISTS            = 5374242,
	ONTAP_E_LUN_NOT_FOUND         = 5374875,
	ONTAP_E_LUN_NOT_FOUND2        = 5374876,
	ONTAP_E_LUN_SHRINK            = 5374892,
	ONTAP_E_LUN_SAME_SIZE         = 1254226,
	ONTAP_E_LUN_MAPPED            = 1254197,
	ONTAP_E_IGROUP_EXISTS         = 5374023,
	ONTAP_E_IGROUP_NOT_FOUND      = 5374852,
	ONTAP_E_IGROUP_MAPPED         = 1254213,
	ONTAP_E_INITIATOR_PRESENT     = 5374035,
	ONTAP_E_INITIATOR_OTHER_OS    = 5374732,
	ONTAP_E_LUN_MAP_EXISTS        = 1254207,
	ONTAP_E_LUN_MAP_NOT_FOUND     = 5374922,
	ONTAP_E_NS_EXISTS             = 72089725,
	ONTAP_E_NS_MAPPED             = 72089796,
	ONTAP_E_NS_SHRINK             = 72090038,
	ONTAP_E_SUBSYS_EXISTS         = 72090025,
	ONTAP_E_SUBSYS_NOT_FOUND      = 72090001,
	ONTAP_E_SUBSYS_MAPPED         = 72090023,
	ONTAP_E_SUBSYS_HAS_HOSTS      = 72090024,
	ONTAP_E_SUBSYS_HOST_EXISTS    = 72089705,
	ONTAP_E_NS_MAP_EXISTS         = 72089790,
	ONTAP_E_NS_MAP_NOT_FOUND      = 72090019,
	ONTAP_E_SNAPSHOT_EXISTS       = 525059,
	ONTAP_E_SNAPSHOT_LIMIT        = 525062,
	ONTAP_E_SNAPSHOT_BUSY         = 1638555,
	ONTAP_E_SNAPSHOT_NOT_FOUND    = 1638600,
	ONTAP_E_SNAPSHOT_POLICY_EXISTS = 1638527,
	ONTAP_E_EXPORT_POLICY_NOT_FOUND = 1703954,
	ONTAP_E_EXPORT_RULE_EXISTS    = 1704070,
	ONTAP_E_CG_EXISTS             = 53411860,
	ONTAP_E_CG_SNAPSHOT_FAILED    = 53411921,
	ONTAP_E_SM_EXISTS             = 6619637,
	ONTAP_E_SM_TRANSFER_BUSY      = 13303812,
	ONTAP_E_SM_BREAK_FAILED       = 13303808,
	ONTAP_E_SM_ALREADY_INIT       = 13303832,
	ONTAP_E_SM_BAD_TRANSITION     = 13303818,
	ONTAP_E_SM_TRANSIENT          = 13303830,
	ONTAP_E_SM_MODIFY_BUSY        = 6619715,
	ONTAP_E_SCHEDULE_EXISTS       = 458798,
	ONTAP_E_JOB_FAILED            = 460770,
};

struct ontap_error {
	int error;              /* the negative errno this detail explains; 0 = no error */
	long http_status;       /* 0 when no HTTP response was received */
	int64_t code;           /* ONTAP code as a number; 0 = none */
	char code_text[24];     /* the code as ONTAP sent it ("5374242"), "" when none */
	char *message;          /* owned: ONTAP's message or our own text; NULL = none */
	char *target;           /* owned: ONTAP's target field, NULL = none */
	char *object;           /* owned: what we were working on ("volume 'ds1'"), NULL = none */
	int curl_code;          /* CURLcode of the transfer, 0 = CURLE_OK */
	bool job_purged;        /* the job finished out of sight (GET job → 404) */
};

/*
 * The one translation into errno. Inputs are whatever is known (CURLE_OK / 0 / 0 / NULL when
 * absent); the most specific one wins: transport error, then ONTAP code, then HTTP status.
 */
int ontap_errno_from(CURLcode cc, long http_status, int64_t ontap_code, const char *message);

void ontap_error_clear(struct ontap_error *e);
void ontap_error_copy(struct ontap_error *dst, const struct ontap_error *src);
/* Sets e->error, e->message (formatted) and leaves the other fields alone. */
void ontap_error_setf(struct ontap_error *e, int error, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
void ontap_error_set_object(struct ontap_error *e, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/* "volume 'ds1': ONTAP error 917526 (HTTP 409): Duplicate volume name" into buf. */
const char *ontap_error_format(const struct ontap_error *e, char *buf, size_t size);

/* Parsers for outside input (fuzzed by tests/fuzz/fuzz-ontap-response.c). All return 0 or a
 * negative errno and never trust field types. */

/* Reads {"error":{"code":"…","message":"…","target":"…"}} into e (code string → number). */
int ontap_parse_error_body(const json_t *body, struct ontap_error *e);

enum ontap_job_state {
	ONTAP_JOB_UNKNOWN, ONTAP_JOB_QUEUED, ONTAP_JOB_RUNNING, ONTAP_JOB_PAUSED,
	ONTAP_JOB_SUCCESS, ONTAP_JOB_FAILURE,
};
struct ontap_job {
	char uuid[64];
	enum ontap_job_state state;
	int64_t code;           /* integer on jobs; error.code (string) used when code is absent/0 */
	const char *message;    /* borrowed from the parsed json */
};
/* A 202 body {"job":{"uuid":…}} → uuid. -ENOMSG when the body holds no job. */
int ontap_parse_job_ref(const json_t *body, char *uuid, size_t size);
/* A job record → state/code/message. */
int ontap_parse_job(const json_t *body, struct ontap_job *job);
static inline bool ontap_job_state_terminal(enum ontap_job_state s)
{
	return s == ONTAP_JOB_SUCCESS || s == ONTAP_JOB_FAILURE;
}

/*
 * Collection pages: appends page.records to acc (a json array), returns the number of records
 * on this page (counted, num_records is not trusted) and the next href (NULL when there is
 * none, or the page was empty). *next is owned by the caller.
 */
int ontap_page_merge(json_t *acc, const json_t *page, char **next);
