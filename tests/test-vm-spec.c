/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The spec's VMs (coord/spec/vm.h): every rule refuses with its JSON path, the VM's name and what
 * is wrong, and accepts what it should; the domain XML's disks, host devices, file systems and
 * boot files; placement and affinity groups; defaults (vm_spec_list); the refusals against the
 * spec in force; vm_domain_identity; how spec_diff shows VMs.
 *
 * Specs are JSON with ' for " (q()); VMs are added with vm()/vms() so the domain XML, which uses
 * ' itself, needs no escaping.
 */
#include <errno.h>
#include <stdarg.h>
#include <string.h>

#include "datastore.h"
#include "spec.h"
#include "tap.h"
#include "vm.h"

__attribute__((returns_nonnull)) static void *xmalloc(size_t n)
{
	void *p = malloc(n);

	if (!p)
		abort();
	return p;
}

static char *q(const char *s)
{
	char *j = strcpy(xmalloc(strlen(s) + 1), s);

	for (char *c = j; *c; c++)
		if (*c == '\'')
			*c = '"';
	return j;
}

static json_t *load(const char *text)
{
	char *t = q(text);
	json_t *j = json_loads(t, JSON_REJECT_DUPLICATES, NULL);

	free(t);
	if (!j)
		abort();
	return j;
}

static bool has(const struct spec_problems *p, const char *needle)
{
	for (unsigned i = 0; i < p->n; i++)
		if (strstr(p->text[i], needle))
			return true;
	return false;
}

static char *all(const struct spec_problems *p)
{
	static char buf[16384];
	char *j = spec_problems_join(p);

	snprintf(buf, sizeof(buf), "%s", j ? j : "(none)");
	free(j);
	return buf;
}

/* A domain XML: name, then whatever goes inside <devices> (and optionally inside <os>). */
static char *domx(const char *name, const char *os, const char *devices)
{
	char *x = NULL;

	if (asprintf(&x, "<domain type='kvm'><name>%s</name><memory unit='MiB'>64</memory>"
			 "<os><type arch='x86_64'>hvm</type>%s</os><devices>%s</devices></domain>",
		     name, os ? os : "", devices ? devices : "") < 0)
		abort();
	return x;
}

/* A domain XML with a name and a <uuid>, no devices. */
static char *xstrdup_uuid(const char *name, const char *uuid)
{
	char *x = NULL;

	if (asprintf(&x, "<domain type='kvm'><name>%s</name><uuid>%s</uuid></domain>", name, uuid) < 0)
		abort();
	return x;
}

#define VOL(ds, file, dev) "<disk type='volume' device='disk'><source pool='" ds "' volume='" file "'/><target dev='" dev "'/></disk>"
#define FILE_DISK(path, dev) "<disk type='file' device='disk'><source file='" path "'/><target dev='" dev "'/></disk>"

/* A VM entry with its name, a domain XML (taken) and extra keys as JSON text (' for "). */
static json_t *vm(const char *name, char *xml, const char *extra)
{
	json_t *e = extra ? load(extra) : json_object();

	if (name)
		json_object_set_new(e, "name", json_string(name));
	if (xml)
		json_object_set_new(e, "domain_xml", json_string(xml));
	free(xml);
	return e;
}

/* base (JSON text with ' for ", may be NULL) + "vms": the entries (taken), NULL-terminated. */
static json_t *spec_with(const char *base, ...)
{
	json_t *s = base ? load(base) : json_object(), *list = json_array(), *e;
	va_list ap;

	va_start(ap, base);
	while ((e = va_arg(ap, json_t *)))
		json_array_append_new(list, e);
	va_end(ap);
	json_object_set_new(s, "vms", list);
	return s;
}

#define DS1 "{'datastores':[{'name':'ds1','protocol':'nfs','size':'1G'},{'name':'ds2','protocol':'nfs','size':'1G','path':'/data/ds2'}]}"

/* The spec (taken) is valid. */
#define OK(spec) do { \
	json_t *s_ = (spec); \
	struct spec_problems p_ = { 0 }; \
	CHECK(spec_validate(s_, &p_) == 0 && p_.n == 0, "refused: %s", all(&p_)); \
	spec_problems_clear(&p_); \
	json_decref(s_); \
} while (0)

/* The spec (taken) is refused and one problem contains each needle. */
#define BAD(spec, ...) do { \
	const char *n_[] = { __VA_ARGS__ }; \
	json_t *s_ = (spec); \
	struct spec_problems p_ = { 0 }; \
	CHECK(spec_validate(s_, &p_) == -EINVAL, "accepted: %s", n_[0]); \
	for (size_t i_ = 0; i_ < sizeof(n_) / sizeof(n_[0]); i_++) \
		CHECK(has(&p_, n_[i_]), "no problem says '%s'; got: %s", n_[i_], all(&p_)); \
	spec_problems_clear(&p_); \
	json_decref(s_); \
} while (0)

/* The spec (taken) is refused with exactly `count` problems. */
#define BAD_N(spec, count) do { \
	json_t *s_ = (spec); \
	struct spec_problems p_ = { 0 }; \
	CHECK(spec_validate(s_, &p_) == -EINVAL && p_.n == (count), "want %u problems, got %u: %s", (unsigned)(count), \
	      p_.n, all(&p_)); \
	spec_problems_clear(&p_); \
	json_decref(s_); \
} while (0)

static void test_minimal_and_defaults(void)
{
	struct vm_spec *v = NULL;
	size_t n = 99;
	json_t *s;

	OK(spec_with(DS1, vm("web1", domx("web1", NULL, VOL("ds1", "web1.qcow2", "vda")), NULL), NULL));
	/* no disks at all is fine (a diskless network boot) */
	OK(spec_with(NULL, vm("pxe", domx("pxe", NULL, NULL), NULL), NULL));
	OK(spec_with(NULL, NULL));

	s = spec_with(DS1,
		      vm("web1", domx("web1", NULL, VOL("ds2", "a.qcow2", "vda") FILE_DISK("/srv/kvmcd/ds1/web1/b.raw", "vdb")
							VOL("ds2", "c.qcow2", "vdc")),
			 NULL),
		      vm("db1", domx("db1", NULL, FILE_DISK("/data/ds2/db1.qcow2", "vda")),
			 "{'state':'stopped','placement':{'prefer':['kvm1','kvm2'],'avoid':['kvm3'],'anti_affinity':['web1']},"
			 "'ha':{'enabled':false,'priority':-5,'max_restart':0,'max_relocate':3}}"),
		      NULL);
	CHECK(vm_spec_list(s, &v, &n) == 0 && n == 2, "listed %zu", n);
	if (v && n == 2) {
		CHECK(!strcmp(v[0].name, "web1") && v[0].state == VM_STATE_STARTED && v[0].ha.enabled &&
			      v[0].ha.priority == 0 && v[0].ha.max_restart == 1 && v[0].ha.max_relocate == 1,
		      "web1's defaults");
		CHECK(v[0].placement.prefer.n == 0 && v[0].placement.avoid.n == 0 && v[0].placement.affinity.n == 0 &&
			      v[0].placement.anti_affinity.n == 0,
		      "empty placement");
		/* each datastore once, in the order of "datastores" */
		CHECK(v[0].datastores.n == 2 && !strcmp(v[0].datastores.name[0], "ds1") &&
			      !strcmp(v[0].datastores.name[1], "ds2"),
		      "web1 uses ds1, ds2 (%zu)", v[0].datastores.n);
		CHECK(v[0].uuid[0] == 0 && strstr(v[0].domain_xml, "<name>web1</name>"), "no uuid, the XML");
		CHECK(v[0].memory_mib == 64 && v[0].vcpus == 1, "web1 needs 64 MiB, 1 vCPU (%llu, %u)",
		      (unsigned long long)v[0].memory_mib, v[0].vcpus);
		CHECK(v[1].state == VM_STATE_STOPPED && !v[1].ha.enabled && v[1].ha.priority == -5 && v[1].ha.max_restart == 0 &&
			      v[1].ha.max_relocate == 3,
		      "db1's values");
		CHECK(v[1].placement.prefer.n == 2 && !strcmp(v[1].placement.prefer.name[1], "kvm2") &&
			      v[1].placement.avoid.n == 1 && !strcmp(v[1].placement.avoid.name[0], "kvm3") &&
			      v[1].placement.anti_affinity.n == 1 && !strcmp(v[1].placement.anti_affinity.name[0], "web1"),
		      "db1's placement");
		CHECK(v[1].datastores.n == 1 && !strcmp(v[1].datastores.name[0], "ds2"), "db1 uses ds2 (explicit path)");
	}
	free(v);
	json_decref(s);

	s = spec_with(DS1, vm("web1", domx("web1", NULL, NULL), NULL), NULL);
	json_object_set_new(json_array_get(json_object_get(s, "vms"), 0), "state", json_string("off"));
	v = (void *)1;
	CHECK(vm_spec_list(s, &v, &n) == -EINVAL && v == (void *)1, "invalid spec listed");
	json_decref(s);
	s = load("{}");
	CHECK(vm_spec_list(s, &v, &n) == 0 && !v && n == 0, "no vms");
	json_decref(s);
	CHECK(!strcmp(vm_state_name(VM_STATE_STOPPED), "stopped") && !strcmp(vm_state_name(7), "unknown"), "state names");
}

/* A domain XML with a name and what goes between </name> and the end. */
static char *xstrdup_body(const char *name, const char *body)
{
	char *x = NULL;

	if (asprintf(&x, "<domain type='kvm'><name>%s</name>%s</domain>", name, body) < 0)
		abort();
	return x;
}

/* What placement counts a VM as needing, parsed with the list: libvirt's units, KiB by default. */
static void test_needs(void)
{
	struct vm_spec *v = NULL;
	size_t n = 0;
	json_t *s = spec_with(NULL, vm("a", xstrdup_body("a", "<memory unit='GiB'>2</memory><vcpu placement='static'>4</vcpu>"), NULL),
			      vm("b", xstrdup_body("b", "<memory>1048577</memory>"), NULL),
			      vm("c", xstrdup_body("c", "<vcpu>0</vcpu><memory unit='KB'>1000000</memory>"), NULL),
			      vm("d", xstrdup_body("d", ""), NULL), NULL);

	CHECK(vm_spec_list(s, &v, &n) == 0 && n == 4, "listed %zu", n);
	if (v && n == 4) {
		CHECK(v[0].memory_mib == 2048 && v[0].vcpus == 4, "a: 2 GiB, 4 vCPUs (%llu, %u)", (unsigned long long)v[0].memory_mib,
		      v[0].vcpus);
		CHECK(v[1].memory_mib == 1025 && v[1].vcpus == 1, "b: KiB by default, rounded up to a MiB (%llu, %u)",
		      (unsigned long long)v[1].memory_mib, v[1].vcpus);
		CHECK(v[2].memory_mib == 954 && v[2].vcpus == 1, "c: 10^9 bytes, <vcpu>0 counts 1 (%llu, %u)",
		      (unsigned long long)v[2].memory_mib, v[2].vcpus);
		CHECK(v[3].memory_mib == 0 && v[3].vcpus == 1, "d: no <memory>, no <vcpu> (%llu, %u)",
		      (unsigned long long)v[3].memory_mib, v[3].vcpus);
	}
	free(v);
	json_decref(s);
}

static void test_uuid(void)
{
	struct vm_spec *v = NULL;
	size_t n = 0;
	json_t *s = spec_with(NULL,
			      vm("a", xstrdup_uuid("a", "6695EB01-F6A4-8304-79AA-97F2502E193F"), NULL),
			      vm("b", xstrdup_uuid("b", "6695eb01f6a4830479aa97f2502e1940"), NULL), NULL);

	CHECK(vm_spec_list(s, &v, &n) == 0 && n == 2, "uuids listed");
	if (v && n == 2)
		CHECK(!strcmp(v[0].uuid, "6695eb01-f6a4-8304-79aa-97f2502e193f") &&
			      !strcmp(v[1].uuid, "6695eb01-f6a4-8304-79aa-97f2502e1940"),
		      "normalised: %s %s", v[0].uuid, v[1].uuid);
	free(v);
	json_decref(s);
	BAD(spec_with(NULL, vm("a", xstrdup_uuid("a", "6695eb01-f6a4-8304-79aa-97f2502e193f"), NULL),
		      vm("b", xstrdup_uuid("b", "6695EB01F6A4830479AA97F2502E193F"), NULL), NULL),
	    "vms[1].domain_xml: <uuid> 6695eb01-f6a4-8304-79aa-97f2502e193f is also the UUID of vms[0] (a): libvirt needs one per domain");
	BAD(spec_with(NULL, vm("a", xstrdup_uuid("a", "6695eb01-f6a4-8304-79aa"), NULL), NULL),
	    "vms[0].domain_xml: a: <uuid> \"6695eb01-f6a4-8304-79aa\" is not a UUID (8-4-4-4-12 hex digits, or 32 without dashes)");
	BAD(spec_with(NULL, vm("a", xstrdup_uuid("a", "6695eb01-f6a4-8304-79aa-97f2502e193g"), NULL), NULL), "is not a UUID");
	BAD(spec_with(NULL, vm("a", xstrdup_uuid("a", "6695eb01f-6a4-8304-79aa-97f2502e193f"), NULL), NULL), "is not a UUID");
}

static void test_names(void)
{
	char long_ok[VM_NAME_MAX + 1], too_long[VM_NAME_MAX + 2];

	memset(long_ok, 'a', VM_NAME_MAX);
	long_ok[VM_NAME_MAX] = 0;
	memset(too_long, 'a', VM_NAME_MAX + 1);
	too_long[VM_NAME_MAX + 1] = 0;
	OK(spec_with(NULL, vm(long_ok, domx(long_ok, NULL, NULL), NULL), NULL));
	OK(spec_with(NULL, vm("Web-1.prod_a", domx("Web-1.prod_a", NULL, NULL), NULL), NULL));
	OK(spec_with(NULL, vm("9lives", domx("9lives", NULL, NULL), NULL), NULL));
	BAD(spec_with(NULL, vm(too_long, domx(too_long, NULL, NULL), NULL), NULL),
	    "vms[0].name: \"aaaa", "must be 1-48 chars of A-Z a-z 0-9 . _ -, starting with a letter or digit (it is the libvirt domain name on every node)");
	BAD(spec_with(NULL, vm("web 1", domx("web 1", NULL, NULL), NULL), NULL), "vms[0].name: \"web 1\": must be 1-48 chars");
	BAD(spec_with(NULL, vm("-web", domx("-web", NULL, NULL), NULL), NULL), "vms[0].name: \"-web\": must be");
	BAD(spec_with(NULL, vm(".", domx(".", NULL, NULL), NULL), NULL), "vms[0].name: \".\": must be");
	BAD(spec_with(NULL, vm("a/b", domx("a/b", NULL, NULL), NULL), NULL), "vms[0].name: \"a/b\": must be");
	BAD(spec_with(NULL, vm("", domx("", NULL, NULL), NULL), NULL), "vms[0].name: \"\": must be");
	BAD(spec_with(NULL, vm(NULL, domx("x", NULL, NULL), NULL), NULL), "vms[0].name: missing (the libvirt domain name)");
	BAD(spec_with(NULL, vm(NULL, domx("x", NULL, NULL), "{'name':7}"), NULL), "vms[0].name: must be 1-48 chars");
	BAD(spec_with(NULL, vm("web1", domx("web1", NULL, NULL), NULL), vm("web2", domx("web2", NULL, NULL), NULL),
		      vm("web1", domx("web1", NULL, NULL), NULL), vm("web1", domx("web1", NULL, NULL), NULL), NULL),
	    "vms[2].name: \"web1\" already used by vms[0]", "vms[3].name: \"web1\" already used by vms[0]");
	/* names are case-sensitive, like libvirt's */
	OK(spec_with(NULL, vm("web1", domx("web1", NULL, NULL), NULL), vm("WEB1", domx("WEB1", NULL, NULL), NULL), NULL));
	CHECK(vm_name_ok("a") && !vm_name_ok(NULL) && !vm_name_ok("a b") && !vm_name_ok("_a") && vm_name_ok("a_"), "vm_name_ok");
}

static void test_shape(void)
{
	json_t *s;

	BAD(load("{'vms':{}}"), "vms: must be an array of VM objects");
	BAD(load("{'vms':[3]}"), "vms[0]: must be an object");
	BAD(spec_with(NULL, vm("a", domx("a", NULL, NULL), "{'cpu':2}"), NULL),
	    "vms[0]: unknown key \"cpu\" (known: name, domain_xml, state, placement, ha)");
	BAD(spec_with(NULL, vm("a", NULL, NULL), NULL), "vms[0].domain_xml: missing (the libvirt domain definition, as a string)");
	BAD(spec_with(NULL, vm("a", NULL, "{'domain_xml':{}}"), NULL), "vms[0].domain_xml: must be a string (the libvirt domain definition)");
	OK(spec_with(NULL, vm("a", domx("a", NULL, NULL), "{'state':'stopped'}"), NULL));
	OK(spec_with(NULL, vm("a", domx("a", NULL, NULL), "{'state':'started'}"), NULL));
	BAD(spec_with(NULL, vm("a", domx("a", NULL, NULL), "{'state':'running'}"), NULL),
	    "vms[0].state: must be \"started\" (the default) or \"stopped\"");
	BAD(spec_with(NULL, vm("a", domx("a", NULL, NULL), "{'state':true}"), NULL), "vms[0].state: must be");
	/* the spec's own unknown-key message lists vms */
	s = load("{'vm':[]}");
	BAD(s, "vm: unknown key (known: nodes, labels, datastores, destroy_data, restore, vms, protection)");
	/* at most VM_MAX_VMS */
	s = json_object();
	{
		json_t *list = json_array();
		for (unsigned i = 0; i <= VM_MAX_VMS; i++) {
			char name[16];
			snprintf(name, sizeof(name), "v%u", i);
			json_array_append_new(list, vm(name, domx(name, NULL, NULL), NULL));
		}
		json_object_set_new(s, "vms", list);
	}
	BAD_N(s, 1);
}

static void test_ha(void)
{
	OK(spec_with(NULL, vm("a", domx("a", NULL, NULL), "{'ha':{'enabled':true,'priority':1000,'max_restart':100,'max_relocate':0}}"), NULL));
	OK(spec_with(NULL, vm("a", domx("a", NULL, NULL), "{'ha':{'priority':-1000}}"), NULL));
	OK(spec_with(NULL, vm("a", domx("a", NULL, NULL), "{'ha':{}}"), NULL));
	BAD(spec_with(NULL, vm("a", domx("a", NULL, NULL), "{'ha':true}"), NULL),
	    "vms[0].ha: must be an object (keys enabled, priority, max_restart, max_relocate)");
	BAD(spec_with(NULL, vm("a", domx("a", NULL, NULL), "{'ha':{'enable':true}}"), NULL),
	    "vms[0].ha: unknown key \"enable\" (known: enabled, priority, max_restart, max_relocate)");
	BAD(spec_with(NULL, vm("a", domx("a", NULL, NULL), "{'ha':{'enabled':'yes'}}"), NULL),
	    "vms[0].ha.enabled: must be true (the default) or false");
	BAD(spec_with(NULL, vm("a", domx("a", NULL, NULL), "{'ha':{'priority':1001}}"), NULL),
	    "vms[0].ha.priority: must be an integer in -1000..1000 (higher first; default 0)");
	BAD(spec_with(NULL, vm("a", domx("a", NULL, NULL), "{'ha':{'priority':-1001}}"), NULL), "vms[0].ha.priority: must be");
	BAD(spec_with(NULL, vm("a", domx("a", NULL, NULL), "{'ha':{'priority':1.5}}"), NULL), "vms[0].ha.priority: must be");
	BAD(spec_with(NULL, vm("a", domx("a", NULL, NULL), "{'ha':{'max_restart':-1}}"), NULL),
	    "vms[0].ha.max_restart: must be an integer in 0..100 (restarts on the same node; default 1)");
	BAD(spec_with(NULL, vm("a", domx("a", NULL, NULL), "{'ha':{'max_restart':101}}"), NULL), "vms[0].ha.max_restart: must be");
	BAD(spec_with(NULL, vm("a", domx("a", NULL, NULL), "{'ha':{'max_relocate':'1'}}"), NULL),
	    "vms[0].ha.max_relocate: must be an integer in 0..100 (moves to another node; default 1)");
}

static void test_xml(void)
{
	char *big = xmalloc(VM_DOMAIN_XML_MAX + 64);

	BAD(spec_with(NULL, vm("a", strdup("<domain type='kvm'><name>a</name>"), NULL), NULL),
	    "vms[0].domain_xml: a: not well-formed XML: line 1: ");
	BAD(spec_with(NULL, vm("a", strdup("<domain type='kvm'>\n<name>a</name>\n<devices><disk></devices></domain>"), NULL), NULL),
	    "vms[0].domain_xml: a: not well-formed XML: line 3:");
	BAD(spec_with(NULL, vm("a", strdup(""), NULL), NULL), "vms[0].domain_xml: a: not well-formed XML");
	BAD(spec_with(NULL, vm("a", strdup("<?xml version='1.0'?><!DOCTYPE domain [<!ENTITY x 'y'>]><domain type='kvm'><name>a</name></domain>"), NULL), NULL),
	    "vms[0].domain_xml: a: has a DOCTYPE; a domain definition needs none (no DTD, no entities)");
	/* an encoding declaration is ignored: the text is the JSON's UTF-8 */
	OK(spec_with(NULL, vm("a", strdup("<?xml version='1.0' encoding='ISO-8859-1'?><domain type='kvm'><name>a</name><description>\xc3\xa9</description></domain>"), NULL), NULL));
	BAD(spec_with(NULL, vm("a", strdup("<network><name>a</name></network>"), NULL), NULL),
	    "vms[0].domain_xml: a: the root element is <network>, not libvirt's <domain>");
	BAD(spec_with(NULL, vm("a", strdup("<x:domain xmlns:x='urn:x' type='kvm'><name>a</name></x:domain>"), NULL), NULL),
	    "the root element is <domain> (in a namespace), not libvirt's <domain>");
	BAD(spec_with(NULL, vm("a", strdup("<domain type='xen'><name>a</name></domain>"), NULL), NULL),
	    "vms[0].domain_xml: a: <domain type='xen'>: kvmcd runs \"kvm\" domains (or \"qemu\", emulated)");
	BAD(spec_with(NULL, vm("a", strdup("<domain><name>a</name></domain>"), NULL), NULL), "<domain type=''>: kvmcd runs");
	OK(spec_with(NULL, vm("a", strdup("<domain type='qemu'><name>a</name></domain>"), NULL), NULL));
	BAD(spec_with(NULL, vm("a", strdup("<domain type='kvm'><uuid>6695eb01-f6a4-8304-79aa-97f2502e193f</uuid></domain>"), NULL), NULL),
	    "vms[0].domain_xml: a: <domain> has no <name>; it must be the VM's name \"a\"");
	BAD(spec_with(NULL, vm("a", domx("b", NULL, NULL), NULL), NULL),
	    "vms[0].domain_xml: a: <name> is \"b\"; it must be the VM's name \"a\"");
	BAD(spec_with(NULL, vm("a", domx(" a", NULL, NULL), NULL), NULL), "<name> is \" a\"; it must be the VM's name \"a\"");
	BAD(spec_with(NULL, vm("a", strdup("<domain type='kvm'><name>a</name><name>a</name></domain>"), NULL), NULL),
	    "vms[0].domain_xml: a: <domain> has more than one <name>");
	/* a VM without a valid name is still checked, without a name in the messages */
	BAD(spec_with(NULL, vm("a b", strdup("<domain type='kvm'><name>a b</name><devices><hostdev/></devices></domain>"), NULL), NULL),
	    "vms[0].domain_xml: hostdev #1");
	/* too large */
	memset(big, ' ', VM_DOMAIN_XML_MAX + 60);
	memcpy(big, "<domain type='kvm'><name>a</name>", 33);
	strcpy(big + VM_DOMAIN_XML_MAX + 40, "</domain>");
	BAD(spec_with(NULL, vm("a", big, NULL), NULL), "vms[0].domain_xml: a: 262193 bytes, at most 262144 allowed");
	/* elements in another namespace (metadata) are not libvirt's: ignored */
	OK(spec_with(NULL, vm("a", strdup("<domain type='kvm'><name>a</name><metadata><k:disk xmlns:k='urn:k' type='block'/></metadata>"
					  "<devices><k:hostdev xmlns:k='urn:k'/></devices></domain>"),
			      NULL),
		     NULL));
}

static void test_disks(void)
{
	/* volumes */
	OK(spec_with(DS1, vm("a", domx("a", NULL, VOL("ds1", "a.qcow2", "vda") VOL("ds2", "a-data.raw", "vdb")), NULL), NULL));
	BAD(spec_with(DS1, vm("a", domx("a", NULL, VOL("default", "a.qcow2", "vda")), NULL), NULL),
	    "vms[0].domain_xml: a: disk 'vda': pool \"default\" is not a datastore of the spec (ds1, ds2): the VM could not run on another node; a datastore cannot be removed while a VM has a disk on it");
	BAD(spec_with(NULL, vm("a", domx("a", NULL, VOL("ds1", "a.qcow2", "vda")), NULL), NULL),
	    "disk 'vda': pool \"ds1\" is not a datastore of the spec (the spec has no datastores)");
	BAD(spec_with(DS1, vm("a", domx("a", NULL, VOL("ds1", "sub/a.qcow2", "vda")), NULL), NULL),
	    "vms[0].domain_xml: a: disk 'vda': volume \"sub/a.qcow2\" is not a file name in its pool");
	BAD(spec_with(DS1, vm("a", domx("a", NULL, VOL("ds1", "..", "vda")), NULL), NULL), "volume \"..\" is not a file name");
	BAD(spec_with(DS1, vm("a", domx("a", NULL, "<disk type='volume'><source pool='ds1'/><target dev='vda'/></disk>"), NULL), NULL),
	    "disk 'vda': a volume disk needs <source pool='DATASTORE' volume='FILE'/>: no volume");
	BAD(spec_with(DS1, vm("a", domx("a", NULL, "<disk type='volume'><source volume='x'/><target dev='vda'/></disk>"), NULL), NULL),
	    "disk 'vda': a volume disk needs <source pool='DATASTORE' volume='FILE'/>: no pool");
	BAD(spec_with(DS1, vm("a", domx("a", NULL, "<disk type='volume'><target dev='vda'/></disk>"), NULL), NULL), "no pool");

	/* files: under a datastore's path (default or explicit), normalised */
	OK(spec_with(DS1, vm("a", domx("a", NULL, FILE_DISK("/srv/kvmcd/ds1/a.qcow2", "vda") FILE_DISK("/data/ds2/x/y/a.img", "vdb")), NULL), NULL));
	BAD(spec_with(DS1, vm("web1", domx("web1", NULL, FILE_DISK("/srv/kvmcd/ds1/a.qcow2", "vda") FILE_DISK("/var/lib/libvirt/images/web1.qcow2", "vdb")), NULL), NULL),
	    "vms[0].domain_xml: web1: disk 'vdb': file \"/var/lib/libvirt/images/web1.qcow2\" is on no datastore of the spec (/srv/kvmcd/ds1, /data/ds2): the VM could not run on another node");
	BAD(spec_with(DS1, vm("a", domx("a", NULL, FILE_DISK("/srv/kvmcd/ds1/../ds3/a.qcow2", "vda")), NULL), NULL),
	    "vms[0].domain_xml: a: disk 'vda': file \"/srv/kvmcd/ds1/../ds3/a.qcow2\" is not normalised (no \"//\", no \".\" or \"..\" component, no trailing \"/\")");
	BAD(spec_with(DS1, vm("a", domx("a", NULL, FILE_DISK("/srv/kvmcd/ds1//a.qcow2", "vda")), NULL), NULL), "is not normalised");
	BAD(spec_with(DS1, vm("a", domx("a", NULL, FILE_DISK("/srv/kvmcd/ds1/./a.qcow2", "vda")), NULL), NULL), "is not normalised");
	BAD(spec_with(DS1, vm("a", domx("a", NULL, FILE_DISK("/srv/kvmcd/ds1/a/", "vda")), NULL), NULL), "is not normalised");
	BAD(spec_with(DS1, vm("a", domx("a", NULL, FILE_DISK("ds1/a.qcow2", "vda")), NULL), NULL),
	    "disk 'vda': file \"ds1/a.qcow2\" is not an absolute path");
	/* the datastore's directory itself, a sibling with the same prefix */
	BAD(spec_with(DS1, vm("a", domx("a", NULL, FILE_DISK("/srv/kvmcd/ds1", "vda")), NULL), NULL), "file \"/srv/kvmcd/ds1\" is on no datastore");
	BAD(spec_with(DS1, vm("a", domx("a", NULL, FILE_DISK("/srv/kvmcd/ds10/a.qcow2", "vda")), NULL), NULL), "file \"/srv/kvmcd/ds10/a.qcow2\" is on no datastore");
	BAD(spec_with(DS1, vm("a", domx("a", NULL, FILE_DISK("/srv/kvmcd/ds1/a&#10;b", "vda")), NULL), NULL), "has control characters");
	/* no type: libvirt's default is file */
	OK(spec_with(DS1, vm("a", domx("a", NULL, "<disk device='disk'><source file='/srv/kvmcd/ds1/a.qcow2'/><target dev='vda'/></disk>"), NULL), NULL));
	BAD(spec_with(DS1, vm("a", domx("a", NULL, "<disk><source file='/root/a.qcow2'/><target dev='vda'/></disk>"), NULL), NULL), "disk 'vda': file \"/root/a.qcow2\" is on no datastore");
	BAD(spec_with(DS1, vm("a", domx("a", NULL, "<disk type='file' device='disk'><target dev='vda'/></disk>"), NULL), NULL),
	    "vms[0].domain_xml: a: disk 'vda': a file disk without <source file='...'/>");
	/* a disk without a target is numbered */
	BAD(spec_with(DS1, vm("a", domx("a", NULL, FILE_DISK("/srv/kvmcd/ds1/a", "vda") "<disk type='file'><source file='/tmp/b'/></disk>"), NULL), NULL),
	    "disk #2: file \"/tmp/b\" is on no datastore");

	/* removable media: empty drives are fine, a local image is not */
	OK(spec_with(DS1, vm("a", domx("a", NULL, "<disk type='file' device='cdrom'><target dev='sda' bus='sata'/><readonly/></disk>"
					       "<disk type='block' device='floppy'><target dev='fda'/></disk>"
					       "<disk type='volume' device='cdrom'><target dev='sdb'/></disk>"
					       "<disk type='file' device='cdrom'><source file='/srv/kvmcd/ds1/iso/debian.iso'/><target dev='sdc'/></disk>"), NULL), NULL));
	BAD(spec_with(DS1, vm("a", domx("a", NULL, "<disk type='file' device='cdrom'><source file='/var/lib/libvirt/images/debian.iso'/><target dev='sda'/></disk>"), NULL), NULL),
	    "disk 'sda': file \"/var/lib/libvirt/images/debian.iso\" is on no datastore of the spec");

	/* other disk types */
	BAD(spec_with(DS1, vm("a", domx("a", NULL, "<disk type='block' device='disk'><source dev='/dev/sdb'/><target dev='vdb'/></disk>"), NULL), NULL),
	    "vms[0].domain_xml: a: disk 'vdb': type 'block' (/dev/sdb): only file and volume disks on the spec's datastores can run on another node");
	BAD(spec_with(DS1, vm("a", domx("a", NULL, "<disk type='network' device='disk'><source protocol='rbd' name='pool/img'/><target dev='vdc'/></disk>"), NULL), NULL),
	    "disk 'vdc': type 'network' (pool/img): only file and volume disks");
	BAD(spec_with(DS1, vm("a", domx("a", NULL, "<disk type='dir' device='disk'><source dir='/srv/kvmcd/ds1'/><target dev='hdd'/></disk>"), NULL), NULL),
	    "disk 'hdd': type 'dir' (/srv/kvmcd/ds1): only file and volume disks");
	BAD(spec_with(DS1, vm("a", domx("a", NULL, "<disk type='nvme' device='disk'><source type='pci'/><target dev='vde'/></disk>"), NULL), NULL),
	    "disk 'vde': type 'nvme': only file and volume disks");

	/* backing chains and data files */
	OK(spec_with(DS1, vm("a", domx("a", NULL, "<disk type='file'><source file='/srv/kvmcd/ds1/a.qcow2'/>"
					       "<backingStore type='file'><format type='qcow2'/><source file='/data/ds2/base.qcow2'/><backingStore/></backingStore>"
					       "<target dev='vda'/></disk>"), NULL), NULL));
	BAD(spec_with(DS1, vm("a", domx("a", NULL, "<disk type='file'><source file='/srv/kvmcd/ds1/a.qcow2'/>"
					       "<backingStore type='file'><source file='/data/ds2/mid.qcow2'/>"
					       "<backingStore type='file'><source file='/var/lib/libvirt/images/base.qcow2'/></backingStore></backingStore>"
					       "<target dev='vda'/></disk>"), NULL), NULL),
	    "vms[0].domain_xml: a: disk 'vda', backing store, backing store: file \"/var/lib/libvirt/images/base.qcow2\" is on no datastore");
	BAD(spec_with(DS1, vm("a", domx("a", NULL, "<disk type='file'><source file='/srv/kvmcd/ds1/a.qcow2'/>"
					       "<backingStore type='block'><source dev='/dev/vg/base'/></backingStore><target dev='vda'/></disk>"), NULL), NULL),
	    "disk 'vda', backing store: type 'block' (/dev/vg/base)");
	BAD(spec_with(DS1, vm("a", domx("a", NULL, "<disk type='file'><source file='/srv/kvmcd/ds1/a.qcow2'>"
					       "<dataStore type='file'><format type='raw'/><source file='/opt/a.raw'/></dataStore></source><target dev='vda'/></disk>"), NULL), NULL),
	    "disk 'vda', data store: file \"/opt/a.raw\" is on no datastore");
	{
		/* a chain deeper than VM_BACKING_DEPTH */
		char *devs = NULL, *x;
		size_t len = 0;
		FILE *f = open_memstream(&devs, &len);
		fputs("<disk type='file'><source file='/srv/kvmcd/ds1/a'/>", f);
		for (unsigned i = 0; i < VM_BACKING_DEPTH + 2; i++)
			fputs("<backingStore type='file'><source file='/srv/kvmcd/ds1/b'/>", f);
		for (unsigned i = 0; i < VM_BACKING_DEPTH + 2; i++)
			fputs("</backingStore>", f);
		fputs("<target dev='vda'/></disk>", f);
		fclose(f);
		x = domx("a", NULL, devs);
		free(devs);
		BAD(spec_with(DS1, vm("a", x, NULL), NULL), "a backing chain deeper than 64");
	}
}

static void test_devices(void)
{
	BAD(spec_with(DS1, vm("gpu1", domx("gpu1", NULL, "<hostdev mode='subsystem' type='pci' managed='yes'><source><address domain='0' bus='3' slot='0' function='0'/></source></hostdev>"), NULL), NULL),
	    "vms[0].domain_xml: gpu1: hostdev #1 (type pci): a host device (passthrough) exists on this host only: the VM could not run on another node");
	BAD(spec_with(DS1, vm("a", domx("a", NULL, "<hostdev mode='subsystem' type='usb'/><hostdev mode='capabilities' type='storage'/>"), NULL), NULL),
	    "hostdev #1 (type usb)", "hostdev #2 (type storage)");
	BAD(spec_with(DS1, vm("a", domx("a", NULL, "<interface type='network'><source network='default'/></interface>"
					       "<interface type='hostdev'><mac address='52:54:00:6d:90:02'/><source><address type='pci' bus='4'/></source></interface>"
					       "<interface type='vdpa'><source dev='/dev/vhost-vdpa-0'/></interface>"), NULL), NULL),
	    "vms[0].domain_xml: a: interface 52:54:00:6d:90:02: type 'hostdev' passes a host device through: the VM could not run on another node",
	    "interface #3: type 'vdpa' passes a host device through");
	OK(spec_with(DS1, vm("a", domx("a", NULL, "<interface type='bridge'><source bridge='br0'/></interface><interface type='network'/>"
					      "<graphics type='vnc'/><serial type='pty'/><channel type='unix'><target type='virtio'/></channel>"
					      "<filesystem type='ram'><source usage='1024'/><target dir='tmp'/></filesystem>"
					      "<filesystem type='mount'><driver type='virtiofs'/><source dir='/srv/kvmcd/ds1/share'/><target dir='share'/></filesystem>"
					      "<filesystem><source dir='/data/ds2/x'/><target dir='x'/></filesystem>"
					      "<filesystem type='file'><source file='/data/ds2/fs.img'/><target dir='img'/></filesystem>"), NULL), NULL));
	BAD(spec_with(DS1, vm("a", domx("a", NULL, "<filesystem type='mount' accessmode='passthrough'><source dir='/home/share'/><target dir='share'/></filesystem>"), NULL), NULL),
	    "vms[0].domain_xml: a: filesystem 'share': file \"/home/share\" is on no datastore of the spec");
	BAD(spec_with(DS1, vm("a", domx("a", NULL, "<filesystem type='block'><source dev='/dev/sdc'/><target dir='b'/></filesystem>"), NULL), NULL),
	    "filesystem 'b': type 'block' passes this host's storage through: the VM could not run on another node");
	BAD(spec_with(DS1, vm("a", domx("a", NULL, "<filesystem type='template'><source name='t'/></filesystem>"), NULL), NULL),
	    "filesystem #1: type 'template' passes");
	BAD(spec_with(DS1, vm("a", domx("a", NULL, "<filesystem><target dir='x'/></filesystem>"), NULL), NULL),
	    "filesystem 'x': type 'mount' without its <source dir='...'/>");
	/* <os> files */
	OK(spec_with(DS1, vm("a", domx("a", "<loader readonly='yes' type='pflash'>/usr/share/OVMF/OVMF_CODE_4M.fd</loader>"
					       "<nvram template='/usr/share/OVMF/OVMF_VARS_4M.fd'>/srv/kvmcd/ds1/a_VARS.fd</nvram>"
					       "<kernel>/data/ds2/vmlinuz</kernel><initrd>/data/ds2/initrd.img</initrd>", NULL), NULL), NULL));
	OK(spec_with(DS1, vm("a", domx("a", "<nvram template='/usr/share/OVMF/OVMF_VARS_4M.fd'/>", NULL), NULL), NULL));
	BAD(spec_with(DS1, vm("a", domx("a", "<nvram>/var/lib/libvirt/qemu/nvram/a_VARS.fd</nvram>", NULL), NULL), NULL),
	    "vms[0].domain_xml: a: os <nvram>: file \"/var/lib/libvirt/qemu/nvram/a_VARS.fd\" is on no datastore of the spec");
	BAD(spec_with(DS1, vm("a", domx("a", "<kernel>/boot/vmlinuz</kernel><initrd>/boot/initrd.img</initrd><dtb>/boot/x.dtb</dtb>", NULL), NULL), NULL),
	    "os <kernel>: file \"/boot/vmlinuz\" is on no datastore", "os <initrd>: file \"/boot/initrd.img\"", "os <dtb>: file \"/boot/x.dtb\"");
	BAD(spec_with(DS1, vm("a", domx("a", "<nvram type='network'><source protocol='iscsi' name='x'/></nvram>", NULL), NULL), NULL),
	    "os <nvram>: type 'network': only a file on a datastore follows the VM to another node");
	OK(spec_with(DS1, vm("a", domx("a", "<nvram type='file'><source file='/srv/kvmcd/ds1/v.fd'/></nvram>", NULL), NULL), NULL));
	BAD(spec_with(DS1, vm("a", domx("a", "<nvram type='file'><source file='/var/v.fd'/></nvram>", NULL), NULL), NULL),
	    "os <nvram>: file \"/var/v.fd\" is on no datastore");
}

static void test_placement(void)
{
	const char *nodes = "{'nodes':[{'name':'kvm1','id':1},{'name':'kvm2','id':2},{'name':'kvm3','id':3}]}";

	OK(spec_with(nodes, vm("a", domx("a", NULL, NULL), "{'placement':{'prefer':['kvm1'],'avoid':['kvm3']}}"), NULL));
	/* without "nodes" any host name goes */
	OK(spec_with(NULL, vm("a", domx("a", NULL, NULL), "{'placement':{'prefer':['h1.example.com'],'avoid':['x_9']}}"), NULL));
	OK(spec_with(NULL, vm("a", domx("a", NULL, NULL), "{'placement':{}}"), NULL));
	BAD(spec_with(NULL, vm("a", domx("a", NULL, NULL), "{'placement':[]}"), NULL),
	    "vms[0].placement: must be an object (keys prefer, avoid, anti_affinity, affinity)");
	BAD(spec_with(NULL, vm("a", domx("a", NULL, NULL), "{'placement':{'prefered':[]}}"), NULL),
	    "vms[0].placement: unknown key \"prefered\" (known: prefer, avoid, anti_affinity, affinity)");
	BAD(spec_with(NULL, vm("a", domx("a", NULL, NULL), "{'placement':{'prefer':'kvm1'}}"), NULL),
	    "vms[0].placement.prefer: must be an array of host names (1-63 chars of A-Z a-z 0-9 - . _)");
	BAD(spec_with(NULL, vm("a", domx("a", NULL, NULL), "{'placement':{'affinity':'b'}}"), NULL),
	    "vms[0].placement.affinity: must be an array of VM names (1-48 chars of A-Z a-z 0-9 . _ -)");
	BAD(spec_with(NULL, vm("a", domx("a", NULL, NULL), "{'placement':{'avoid':['kvm 1', 3]}}"), NULL),
	    "vms[0].placement.avoid[0]: \"kvm 1\": must be one of host names", "vms[0].placement.avoid[1]: must be one of host names");
	BAD(spec_with(NULL, vm("a", domx("a", NULL, NULL), "{'placement':{'prefer':['kvm1','kvm2','kvm1']}}"), NULL),
	    "vms[0].placement.prefer[2]: \"kvm1\" already listed at prefer[0]");
	BAD(spec_with(nodes, vm("a", domx("a", NULL, NULL), "{'placement':{'prefer':['kvm1','kvm9'],'avoid':['kvm8']}}"), NULL),
	    "vms[0].placement.prefer[1]: a: \"kvm9\" is not a node of the spec's \"nodes\"",
	    "vms[0].placement.avoid[0]: a: \"kvm8\" is not a node of the spec's \"nodes\"");
	BAD(spec_with(nodes, vm("a", domx("a", NULL, NULL), "{'placement':{'prefer':['kvm1','kvm2'],'avoid':['kvm2']}}"), NULL),
	    "vms[0].placement.avoid[0]: a: \"kvm2\" is also in prefer: a node is preferred or avoided, not both");
	{
		json_t *s = spec_with(NULL, vm("a", domx("a", NULL, NULL), NULL), NULL), *pl = json_object(), *l = json_array();
		for (unsigned i = 0; i <= VM_LIST_MAX; i++) {
			char name[16];
			snprintf(name, sizeof(name), "h%u", i);
			json_array_append_new(l, json_string(name));
		}
		json_object_set_new(pl, "prefer", l);
		json_object_set_new(json_array_get(json_object_get(s, "vms"), 0), "placement", pl);
		BAD(s, "vms[0].placement.prefer: 129 names, at most 128 allowed");
	}

	/* VM references */
	OK(spec_with(NULL, vm("a", domx("a", NULL, NULL), "{'placement':{'anti_affinity':['b'],'affinity':['c']}}"),
		     vm("b", domx("b", NULL, NULL), "{'placement':{'anti_affinity':['a']}}"), vm("c", domx("c", NULL, NULL), NULL), NULL));
	BAD(spec_with(NULL, vm("a", domx("a", NULL, NULL), "{'placement':{'anti_affinity':['b','zz'],'affinity':['yy']}}"),
		      vm("b", domx("b", NULL, NULL), NULL), NULL),
	    "vms[0].placement.anti_affinity[1]: a: \"zz\" is not a VM of the spec", "vms[0].placement.affinity[0]: a: \"yy\" is not a VM of the spec");
	BAD(spec_with(NULL, vm("a", domx("a", NULL, NULL), "{'placement':{'anti_affinity':['a']}}"), NULL),
	    "vms[0].placement.anti_affinity[0]: a: a VM cannot keep away from itself");
	BAD(spec_with(NULL, vm("a", domx("a", NULL, NULL), "{'placement':{'affinity':['a']}}"), NULL),
	    "vms[0].placement.affinity[0]: a: a VM always runs with itself; leave it out");
	BAD(spec_with(NULL, vm("a", domx("a", NULL, NULL), "{'placement':{'anti_affinity':['b','b']}}"), vm("b", domx("b", NULL, NULL), NULL), NULL),
	    "vms[0].placement.anti_affinity[1]: \"b\" already listed at anti_affinity[0]");
	BAD(spec_with(NULL, vm("a", domx("a", NULL, NULL), "{'placement':{'anti_affinity':['b'],'affinity':['b']}}"), vm("b", domx("b", NULL, NULL), NULL), NULL),
	    "vms[0].placement.anti_affinity[0]: a: \"b\" is also in affinity: a VM runs with another or apart from it, not both");
	/* across VMs: affinity is mutual ... */
	BAD(spec_with(NULL, vm("a", domx("a", NULL, NULL), "{'placement':{'affinity':['b']}}"),
		      vm("b", domx("b", NULL, NULL), "{'placement':{'anti_affinity':['a']}}"), NULL),
	    "vms[1].placement.anti_affinity[0]: b: \"a\" is in its affinity group (a, b: affinity is strict and mutual, so they run on one node): the rule can never be met");
	/* ... and transitive */
	BAD(spec_with(NULL, vm("a", domx("a", NULL, NULL), "{'placement':{'affinity':['b'],'anti_affinity':['d']}}"),
		      vm("b", domx("b", NULL, NULL), "{'placement':{'affinity':['c']}}"),
		      vm("c", domx("c", NULL, NULL), NULL), vm("d", domx("d", NULL, NULL), "{'placement':{'affinity':['c']}}"), NULL),
	    "vms[0].placement.anti_affinity[0]: a: \"d\" is in its affinity group (a, b, c, d: affinity is strict and mutual");
	/* separate groups may keep apart */
	OK(spec_with(NULL, vm("a", domx("a", NULL, NULL), "{'placement':{'affinity':['b'],'anti_affinity':['c','d']}}"),
		     vm("b", domx("b", NULL, NULL), NULL), vm("c", domx("c", NULL, NULL), "{'placement':{'affinity':['d']}}"),
		     vm("d", domx("d", NULL, NULL), "{'placement':{'anti_affinity':['b']}}"), NULL));
}

static void test_datastores_side(void)
{
	/* an invalid datastore is reported; the VMs are still checked against what can be read of it */
	BAD_N(spec_with("{'datastores':[{'name':'ds1','protocol':'nfs','size':'1g'}]}",
			vm("a", domx("a", NULL, FILE_DISK("/srv/kvmcd/ds1/a", "vda") VOL("ds1", "b", "vdb")), NULL), NULL),
	      1);
	BAD(spec_with("{'datastores':[{'name':'ds1','protocol':'nfs','size':'1g'}]}",
		      vm("a", domx("a", NULL, FILE_DISK("/opt/a", "vda")), NULL), NULL),
	    "datastores[0].size", "vms[0].domain_xml: a: disk 'vda': file \"/opt/a\" is on no datastore of the spec (/srv/kvmcd/ds1)");
	/* a datastore cannot leave the spec while a VM has a disk on it */
	BAD(spec_with("{'datastores':[{'name':'ds2','protocol':'nfs','size':'1G'}]}",
		      vm("a", domx("a", NULL, VOL("ds1", "a.qcow2", "vda")), NULL), NULL),
	    "vms[0].domain_xml: a: disk 'vda': pool \"ds1\" is not a datastore of the spec (ds2): the VM could not run on another node; a datastore cannot be removed while a VM has a disk on it");
	/* more than PATHS_SHOWN datastores: the list is cut */
	BAD(spec_with("{'datastores':[{'name':'d1','protocol':'nfs','size':'1G'},{'name':'d2','protocol':'nfs','size':'1G'},"
		      "{'name':'d3','protocol':'nfs','size':'1G'},{'name':'d4','protocol':'nfs','size':'1G'}]}",
		      vm("a", domx("a", NULL, FILE_DISK("/opt/a", "vda")), NULL), NULL),
	    "(/srv/kvmcd/d1, /srv/kvmcd/d2, /srv/kvmcd/d3, ...)");
}

static void test_all_at_once(void)
{
	/* every problem of a spec at once: 2 + 1 + 1 + 1 + 1 */
	BAD_N(spec_with(DS1,
			vm("web1", domx("web1", NULL, FILE_DISK("/var/a", "vda") "<hostdev type='pci'/>"), "{'state':'up'}"),
			vm("web2", domx("web3", NULL, NULL), "{'placement':{'affinity':['nope']},'ha':{'priority':'high'}}"), NULL),
	      6);
}

static void test_identity(void)
{
	char name[VM_NAME_MAX + 1] = "x", uuid[VM_UUID_TEXT] = "x", why[256];

	CHECK(vm_domain_identity("<domain type='kvm'><name>web1</name><uuid>6695EB01F6A4830479AA97F2502E193F</uuid></domain>", name,
				 uuid, why, sizeof(why)) == 0 &&
		      !strcmp(name, "web1") && !strcmp(uuid, "6695eb01-f6a4-8304-79aa-97f2502e193f"),
	      "identity: %s %s", name, uuid);
	CHECK(vm_domain_identity("<domain type='kvm'><name>db1</name></domain>", name, uuid, why, sizeof(why)) == 0 &&
		      !strcmp(name, "db1") && uuid[0] == 0,
	      "no uuid");
	CHECK(vm_domain_identity("<domain type='kvm'><uuid>x</uuid></domain>", name, uuid, why, sizeof(why)) == -EINVAL &&
		      strstr(why, "<domain> has no <name>: the VM's name comes from it") && !strcmp(name, "db1"),
	      "no name: %s", why);
	CHECK(vm_domain_identity("<domain type='kvm'><name>a b</name></domain>", name, uuid, why, sizeof(why)) == -EINVAL &&
		      strstr(why, "<name> \"a b\" is not a VM name kvmcd takes: 1-48 chars"),
	      "bad name: %s", why);
	CHECK(vm_domain_identity("<domain type='kvm'><name>a</name><uuid>1</uuid></domain>", name, uuid, why, sizeof(why)) == -EINVAL &&
		      strstr(why, "<uuid> \"1\" is not a UUID"),
	      "bad uuid: %s", why);
	CHECK(vm_domain_identity("<pool/>", name, uuid, why, sizeof(why)) == -EINVAL && strstr(why, "the root element is <pool>"),
	      "not a domain: %s", why);
	CHECK(vm_domain_identity("<domain", name, uuid, why, sizeof(why)) == -EINVAL && strstr(why, "not well-formed XML: line 1"),
	      "not XML: %s", why);
	CHECK(vm_domain_identity("<domain><name>a</name><name>b</name></domain>", name, uuid, NULL, 0) == -EINVAL, "two names");
}

static void test_change(void)
{
	struct spec_problems p = { 0 };
	json_t *from = spec_with(DS1, vm("a", xstrdup_uuid("a", "6695eb01-f6a4-8304-79aa-97f2502e193f"), NULL),
				 vm("b", domx("b", NULL, NULL), NULL), NULL);
	json_t *to;

	/* the same UUID in another spelling, devices changed: fine */
	to = spec_with(DS1, vm("a", xstrdup_uuid("a", "6695EB01F6A4830479AA97F2502E193F"), NULL),
		       vm("b", domx("b", NULL, VOL("ds1", "b", "vda")), NULL), NULL);
	CHECK(spec_validate_change(from, to, &p) == 0 && p.n == 0, "refused: %s", all(&p));
	spec_problems_clear(&p);
	json_decref(to);
	/* another UUID for a VM that keeps its name */
	to = spec_with(DS1, vm("a", xstrdup_uuid("a", "6695eb01-f6a4-8304-79aa-97f2502e1940"), NULL), NULL);
	CHECK(spec_validate_change(from, to, &p) == -EINVAL &&
		      has(&p, "vms[0].domain_xml: a: <uuid> would change from 6695eb01-f6a4-8304-79aa-97f2502e193f to 6695eb01-f6a4-8304-79aa-97f2502e1940; a VM keeps its UUID (remove the VM and add it again to give it another)"),
	      "uuid change: %s", all(&p));
	spec_problems_clear(&p);
	json_decref(to);
	/* renamed (a removal and an addition), a UUID added where there was none: fine */
	to = spec_with(DS1, vm("a2", xstrdup_uuid("a2", "6695eb01-f6a4-8304-79aa-97f2502e1940"), NULL),
		       vm("b", xstrdup_uuid("b", "6695eb01-f6a4-8304-79aa-97f2502e1941"), NULL), NULL);
	CHECK(spec_validate_change(from, to, &p) == 0, "rename refused: %s", all(&p));
	spec_problems_clear(&p);
	CHECK(spec_validate_change(NULL, to, &p) == 0 && spec_validate_change(json_object_get(to, "nope"), to, &p) == 0,
	      "NULL from");
	json_decref(to);
	/* a spec in force today's rules would refuse: what can be read is compared */
	to = load("{'vms':[{'name':'a','domain_xml':7},{'name':3}]}");
	CHECK(spec_validate_change(to, from, &p) == 0, "odd from: %s", all(&p));
	json_decref(to);
	json_decref(from);
	spec_problems_clear(&p);
}

static void test_diff(void)
{
	json_t *a = spec_with(NULL, vm("web1", domx("web1", NULL, NULL), NULL), NULL);
	json_t *b = spec_with(NULL, vm("web1", domx("web1", NULL, NULL), "{'state':'stopped'}"), NULL);
	char *d = spec_diff(a, b);

	CHECK(d && !strcmp(d, "+ vms[name=web1].state = \"stopped\"\n"), "diff: %s", d ? d : "NULL");
	free(d);
	json_decref(a);
	json_decref(b);
}

int main(void)
{
	test_minimal_and_defaults();
	test_uuid();
	test_needs();
	test_names();
	test_shape();
	test_ha();
	test_xml();
	test_disks();
	test_devices();
	test_placement();
	test_datastores_side();
	test_all_at_once();
	test_identity();
	test_change();
	test_diff();
	return tap_done("test-vm-spec");
}
