/* SPDX-License-Identifier: GPL-2.0-or-later */
/* ontap-sim: a self-signed ECDSA P-256 certificate for the listen host, made with gnutls. */
#include <arpa/inet.h>
#include <errno.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include <gnutls/gnutls.h>
#include <gnutls/x509.h>

#include "sim.h"

static void crtp(gnutls_x509_crt_t *c)
{
	if (*c)
		gnutls_x509_crt_deinit(*c);
}

static void keyp(gnutls_x509_privkey_t *k)
{
	if (*k)
		gnutls_x509_privkey_deinit(*k);
}

static int add_san(gnutls_x509_crt_t crt, const char *host)
{
	unsigned char addr[16];

	if (inet_pton(AF_INET, host, addr) == 1)
		return gnutls_x509_crt_set_subject_alt_name(crt, GNUTLS_SAN_IPADDRESS, addr, 4,
							    GNUTLS_FSAN_APPEND);
	if (inet_pton(AF_INET6, host, addr) == 1)
		return gnutls_x509_crt_set_subject_alt_name(crt, GNUTLS_SAN_IPADDRESS, addr, 16,
							    GNUTLS_FSAN_APPEND);
	return gnutls_x509_crt_set_subject_alt_name(crt, GNUTLS_SAN_DNSNAME, host,
						    (unsigned)strlen(host), GNUTLS_FSAN_APPEND);
}

/*
 * The Common Name of the client certificate, if the client sent one that chains to the
 * --client-ca trust (ONTAP maps it to the user of the same name). -ENOENT: no certificate,
 * -EACCES: a certificate that does not verify.
 */
int tls_peer_common_name(void *gnutls_session, char **cn_out)
{
	gnutls_session_t s = gnutls_session;
	const gnutls_datum_t *peers;
	_cleanup_(crtp) gnutls_x509_crt_t crt = NULL;
	unsigned n = 0, status = 0;
	char cn[256];
	size_t len = sizeof(cn);

	if (!s || !(peers = gnutls_certificate_get_peers(s, &n)) || n == 0)
		return -ENOENT;
	if (gnutls_certificate_verify_peers2(s, &status) < 0 || status != 0)
		return -EACCES;
	if (gnutls_x509_crt_init(&crt) < 0 ||
	    gnutls_x509_crt_import(crt, &peers[0], GNUTLS_X509_FMT_DER) < 0 ||
	    gnutls_x509_crt_get_dn_by_oid(crt, GNUTLS_OID_X520_COMMON_NAME, 0, 0, cn, &len) < 0)
		return -EACCES;
	*cn_out = strndup(cn, len);
	return *cn_out ? 0 : -ENOMEM;
}

static char *export_datum(gnutls_datum_t *d)
{
	char *s = strndup((const char *)d->data, d->size);

	gnutls_free(d->data);
	return s;
}

int tls_make_self_signed(const char *host, char **cert_pem, char **key_pem)
{
	_cleanup_(crtp) gnutls_x509_crt_t crt = NULL;
	_cleanup_(keyp) gnutls_x509_privkey_t key = NULL;
	unsigned char serial[16], keyid[64];
	size_t keyid_len = sizeof(keyid);
	gnutls_datum_t d;
	time_t now = time(NULL);
	const char *cn = "ontap-sim";
	char *c, *k;

	if (gnutls_x509_privkey_init(&key) < 0 ||
	    gnutls_x509_privkey_generate(key, GNUTLS_PK_ECDSA,
					 GNUTLS_CURVE_TO_BITS(GNUTLS_ECC_CURVE_SECP256R1), 0) < 0)
		return -EIO;
	if (gnutls_x509_crt_init(&crt) < 0)
		return -ENOMEM;
	if (getrandom(serial, sizeof(serial), 0) != sizeof(serial))
		return -EIO;
	serial[0] &= 0x7f;
	gnutls_x509_crt_set_version(crt, 3);
	gnutls_x509_crt_set_serial(crt, serial, sizeof(serial));
	gnutls_x509_crt_set_activation_time(crt, now - 3600);
	gnutls_x509_crt_set_expiration_time(crt, now + 10L * 365 * 24 * 3600);
	gnutls_x509_crt_set_dn_by_oid(crt, GNUTLS_OID_X520_COMMON_NAME, 0, cn, strlen(cn));
	gnutls_x509_crt_set_dn_by_oid(crt, GNUTLS_OID_X520_ORGANIZATION_NAME, 0, "kvmcd tests", 11);
	if (gnutls_x509_crt_set_key(crt, key) < 0)
		return -EIO;
	/* a self-signed trust anchor: CA:TRUE so strict verifiers accept it as its own issuer */
	gnutls_x509_crt_set_basic_constraints(crt, 1, -1);
	gnutls_x509_crt_set_key_usage(crt, GNUTLS_KEY_DIGITAL_SIGNATURE | GNUTLS_KEY_KEY_CERT_SIGN);
	gnutls_x509_crt_set_key_purpose_oid(crt, GNUTLS_KP_TLS_WWW_SERVER, 0);
	if (add_san(crt, host) < 0)
		return -EINVAL;
	if (strcmp(host, "127.0.0.1") != 0)
		add_san(crt, "127.0.0.1");
	if (strcmp(host, "localhost") != 0)
		add_san(crt, "localhost");
	if (strcmp(host, "::1") != 0)
		add_san(crt, "::1");
	if (gnutls_x509_crt_get_key_id(crt, 0, keyid, &keyid_len) == 0) {
		gnutls_x509_crt_set_subject_key_id(crt, keyid, keyid_len);
		gnutls_x509_crt_set_authority_key_id(crt, keyid, keyid_len);
	}
	if (gnutls_x509_crt_sign2(crt, crt, key, GNUTLS_DIG_SHA256, 0) < 0)
		return -EIO;
	if (gnutls_x509_crt_export2(crt, GNUTLS_X509_FMT_PEM, &d) < 0)
		return -EIO;
	c = export_datum(&d);
	if (gnutls_x509_privkey_export2(key, GNUTLS_X509_FMT_PEM, &d) < 0) {
		free(c);
		return -EIO;
	}
	k = export_datum(&d);
	if (!c || !k) {
		free(c);
		free(k);
		return -ENOMEM;
	}
	*cert_pem = c;
	*key_pem = k;
	return 0;
}
