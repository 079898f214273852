/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * libFuzzer target: a VM's domain XML, the one piece of the spec that is not JSON. The input is
 * the "domain_xml" string (up to its first NUL, as a JSON string holds it) of a VM in a spec with
 * two datastores, two nodes and a second VM it keeps away from: vm_domain_identity() reads
 * its name and UUID (the VM is named after it when it can be, so the deeper checks run), the
 * spec is validated, and a valid one is listed (vm_spec_list) and compared with itself and with
 * the VM renamed (spec_validate_change). Besides memory safety, the properties promised are
 * checked (abort on violation): a valid spec lists, every VM's datastores are datastores of the
 * spec, the UUID read back is the identity's, a spec never conflicts with itself.
 */
#include <errno.h>
#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "datastore.h"
#include "spec.h"
#include "vm.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(int cond)
{
	if (!cond)
		abort();
}

#define BASE "{\"datastores\":[{\"name\":\"ds1\",\"protocol\":\"nfs\",\"size\":\"1G\"}," \
	     "{\"name\":\"ds2\",\"protocol\":\"iscsi\",\"size\":\"1G\",\"path\":\"/data/ds2\"}]," \
	     "\"nodes\":[{\"name\":\"kvm1\",\"id\":1},{\"name\":\"kvm2\",\"id\":2}]}"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char name[VM_NAME_MAX + 1] = "fz", uuid[VM_UUID_TEXT], why[256];
	struct spec_problems p = { 0 };
	json_t *spec, *xml, *me, *other;
	struct vm_spec *vms = NULL;
	size_t len = strnlen((const char *)data, size), n = 0;
	bool named;

	xml = json_stringn((const char *)data, len);
	if (!xml)
		return 0; /* not UTF-8: a JSON spec cannot hold it */
	named = vm_domain_identity(json_string_value(xml), name, uuid, why, sizeof(why)) == 0;
	if (!named)
		strcpy(name, "fz");
	spec = json_loads(BASE, 0, NULL);
	me = json_pack("{sssosss{s[s]s[s]}}", "name", name, "domain_xml", xml, "state", "started", "placement",
		       "prefer", "kvm1", "anti_affinity", "other");
	other = json_pack("{sssss{s[s]}}", "name", "other", "domain_xml", "<domain type='kvm'><name>other</name></domain>",
			  "placement", "avoid", "kvm2");
	if (!spec || !me || !other)
		abort();
	json_object_set_new(spec, "vms", json_pack("[oo]", me, other));
	if (spec_validate(spec, &p) == 0) {
		json_t *renamed = json_deep_copy(spec);
		check(named && vm_spec_list(spec, &vms, &n) == 0 && n == 2);
		check(!strcmp(vms[0].name, name) && !strcmp(vms[0].uuid, uuid));
		for (size_t i = 0; i < vms[0].datastores.n; i++)
			check(!strcmp(vms[0].datastores.name[i], "ds1") || !strcmp(vms[0].datastores.name[i], "ds2"));
		check(spec_validate_change(spec, spec, &p) == 0 && p.n == 0);
		json_object_set_new(json_array_get(json_object_get(renamed, "vms"), 0), "name", json_string("renamed"));
		(void)spec_validate_change(spec, renamed, &p);
		json_decref(renamed);
		free(vms);
	} else {
		char *all = spec_problems_join(&p);
		check(all != NULL);
		free(all);
	}
	spec_problems_clear(&p);
	json_decref(spec);
	return 0;
}
