/* SPDX-License-Identifier: GPL-2.0-or-later */
/* kvmcd-ontap.so's ABI stamp (see abi-stamp.py and agent/leader-ontap.c): only in the module. */
#include "ontap-abi.h"

const char *ontap_module_abi(void);

const char *ontap_module_abi(void)
{
	return KVMCD_ONTAP_ABI;
}
