/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * An existing libvirt domain's definition, read for `kvmcctl vm import NAME` (the local-API
 * verb "vm-domain-xml", agent/vm-spec-api.c): the persistent definition
 * (VIR_DOMAIN_XML_INACTIVE: no runtime state), over a READ-ONLY connection to
 * host_ctx.libvirt_uri, on the worker pool (every libvirt call blocks). Neither SECURE nor
 * MIGRATABLE (which implies secure data, and which libvirt refuses on a read-only connection):
 * no password of the definition travels into the replicated spec. Reads only: nothing on the
 * host changes.
 *
 * host.h's contract: < 0 when nothing was started (no callback), else 0 and `done` exactly once
 * from the loop: 0 + the domain XML; -ENOENT + "lookup: ..." when there is no such domain;
 * another negative errno + "STEP: libvirt's message"; -EOPNOTSUPP when kvmcd was built without
 * libvirt (then from the loop too, with a sentence saying so).
 */
#pragma once

#include "host.h"

int host_domain_export(struct host_ctx *ctx, const char *name, host_done_fn done, void *userdata);
