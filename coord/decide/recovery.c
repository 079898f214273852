/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * HA recovery (recovery.h says what is decided and why). Pure: no I/O, no clock, no globals.
 *
 * Shape: three passes. (1) each VM's HA situation from its record and its owner's fence,
 * written as changes to a private copy of placement's input (started, ha_enabled, avoid);
 * (2) placement_place() on the copy; (3) the HA records from placement's decisions (counting
 * HA starts, ending incidents), and HA's reason on the VMs HA held back.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "macros.h"
#include "recovery.h"

enum why {
	WHY_NONE,
	WHY_HELD,          /* held: reason in the HA record */
	WHY_DISARMED,      /* its owner is fenced and HA is disarmed */
	WHY_LIMITED,       /* in an incident with one kind of try used up */
};

struct vst {
	const struct placement_vm *pv;
	const struct recovery_vm *rv;    /* NULL: defaults */
	const struct placement_owner *rec;
	unsigned max_restart, max_relocate;
	/* the new HA record */
	const char *failed_on;           /* borrowed (input) */
	unsigned restarts, relocations;
	char *held;                      /* owned while building */
	enum why why;
	char *reason;                    /* owned: HA's reason for status */
};

static const struct placement_node *node_of(const struct placement_input *p, const char *name)
{
	for (size_t i = 0; name && i < p->n_nodes; i++)
		if (!strcmp(p->nodes[i].name, name))
			return &p->nodes[i];
	return NULL;
}

static bool str_eq(const char *a, const char *b)
{
	return (!a && !b) || (a && b && !strcmp(a, b));
}

_printf_(2, 3) static int fmt(char **out, const char *f, ...)
{
	va_list ap;
	int n;

	free(*out);
	va_start(ap, f);
	n = vasprintf(out, f, ap);
	va_end(ap);
	if (n < 0) {
		*out = NULL;
		return -ENOMEM;
	}
	return 0;
}

void recovery_result_free(struct recovery_result *r)
{
	if (!r)
		return;
	placement_result_free(r->placement);
	for (size_t i = 0; i < r->n_vms; i++) {
		free(r->vms[i].vm);
		free(r->vms[i].failed_on);
		free(r->vms[i].held);
	}
	free(r->vms);
	free(r);
}

/* Pass 1 for one VM: its HA situation, as changes to placement's view of it. */
static int situate(const struct recovery_input *in, struct vst *s, struct placement_vm *pv, const char ***avoid_buf)
{
	const struct placement_input *p = in->placement;
	const struct placement_owner *o = s->rec;
	const struct placement_node *x = o ? node_of(p, o->node) : NULL;
	const struct placement_node *t = o && o->migrating_to ? node_of(p, o->migrating_to) : NULL;
	bool takeover = t && !t->fenced && t->member;

	if (!pv->started) {
		/* Stopped in the spec: the incident and any hold end with it. */
		s->failed_on = NULL;
		s->restarts = s->relocations = 0;
		free(s->held);
		s->held = NULL;
		return 0;
	}
	if (s->held) {
		pv->started = false;
		s->why = WHY_HELD;
		return fmt(&s->reason, "%s", s->held);
	}
	if (!in->armed && s->failed_on && !o) {
		/* released before the disarm, still waiting for room: it waits on */
		pv->started = false;
		s->why = WHY_DISARMED;
		return fmt(&s->reason, "HA is disarmed: it waits to be started again after its node %s was fenced "
			   "(kvmcctl ha arm)", s->failed_on);
	}
	if (x && x->fenced && !takeover) {
		if (!in->armed) {
			pv->ha_enabled = false;
			s->why = WHY_DISARMED;
			return fmt(&s->reason, "its owner %s is fenced and HA is disarmed: it waits until HA is armed "
				   "(kvmcctl ha arm)", o->node);
		}
		if (!pv->ha_enabled) {
			pv->started = false;
			s->why = WHY_HELD;
			if (fmt(&s->held, "its node %s was fenced and HA is off for it: stopped (kvmcctl vm start starts "
				"it again)", o->node) < 0)
				return -ENOMEM;
			return fmt(&s->reason, "%s", s->held);
		}
		if (!str_eq(s->failed_on, o->node))
			s->failed_on = o->node; /* an incident begins (or moves on: its new node failed too) */
		if (s->restarts >= s->max_restart && s->relocations >= s->max_relocate) {
			pv->started = false;
			s->why = WHY_HELD;
			if (fmt(&s->held, "its node %s was fenced and HA has no try left (restarted %u of max_restart %u, "
				"relocated %u of max_relocate %u times since it last ran): stopped (kvmcctl vm start "
				"starts it again)", o->node, s->restarts, s->max_restart, s->relocations,
				s->max_relocate) < 0)
				return -ENOMEM;
			return fmt(&s->reason, "%s", s->held);
		}
	}
	/* During an incident, for a VM placement is about to place (no owner, or a fenced one): the
	 * kind of try used up is excluded through `avoid` (strict). */
	if (s->failed_on && (!o || (x && x->fenced && !takeover)) &&
	    (s->restarts >= s->max_restart || s->relocations >= s->max_relocate)) {
		bool no_restart = s->restarts >= s->max_restart;
		size_t k = 0;
		const char **a = calloc(pv->n_avoid + p->n_nodes + 1, sizeof(*a));

		if (!a)
			return -ENOMEM;
		*avoid_buf = a;
		for (size_t j = 0; j < pv->n_avoid; j++)
			a[k++] = pv->avoid[j];
		for (size_t j = 0; j < p->n_nodes; j++) {
			bool is_failed = !strcmp(p->nodes[j].name, s->failed_on);
			if (no_restart ? is_failed : !is_failed)
				a[k++] = p->nodes[j].name;
		}
		pv->avoid = a;
		pv->n_avoid = k;
		s->why = WHY_LIMITED;
		if (no_restart)
			return fmt(&s->reason, "HA restarted it on %s %u times (max_restart %u) since it last ran: only "
				   "another node may take it", s->failed_on, s->restarts, s->max_restart);
		return fmt(&s->reason, "HA relocated it %u times (max_relocate %u) since it last ran: it starts again "
			   "only on %s, once that node is back", s->relocations, s->max_relocate, s->failed_on);
	}
	return 0;
}

int recovery_decide(const struct recovery_input *in, struct recovery_result **out)
{
	const struct placement_input *p;
	struct placement_vm *pvs = NULL;
	const char ***avoid = NULL;
	struct vst *st = NULL;
	struct recovery_result *res = NULL;
	struct placement_input copy;
	int rc = -ENOMEM;

	if (!in || !out || !in->placement || (in->n_vms && !in->vms))
		return -EINVAL;
	p = in->placement;
	if (p->n_vms && !p->vms)
		return -EINVAL;
	for (size_t i = 0; i < in->n_vms; i++) {
		bool found = false;
		if (!in->vms[i].name)
			return -EINVAL;
		for (size_t j = 0; j < p->n_vms; j++)
			found |= p->vms[j].name && !strcmp(p->vms[j].name, in->vms[i].name);
		for (size_t j = 0; j < i; j++)
			if (!strcmp(in->vms[j].name, in->vms[i].name))
				return -EINVAL;
		if (!found)
			return -EINVAL;
	}
	for (size_t j = 0; j < p->n_vms; j++)
		if (!p->vms[j].name)
			return -EINVAL;

	pvs = calloc(p->n_vms + 1, sizeof(*pvs));
	avoid = calloc(p->n_vms + 1, sizeof(*avoid));
	st = calloc(p->n_vms + 1, sizeof(*st));
	if (!pvs || !avoid || !st)
		goto out;

	/* 1. */
	for (size_t i = 0; i < p->n_vms; i++) {
		struct vst *s = &st[i];
		pvs[i] = p->vms[i];
		s->pv = &p->vms[i];
		s->max_restart = s->max_relocate = 1;
		for (size_t j = 0; j < in->n_vms; j++)
			if (!strcmp(in->vms[j].name, p->vms[i].name))
				s->rv = &in->vms[j];
		for (size_t j = 0; j < p->n_owners; j++)
			if (p->owners[j].vm && !strcmp(p->owners[j].vm, p->vms[i].name))
				s->rec = &p->owners[j];
		if (s->rv) {
			s->max_restart = s->rv->max_restart;
			s->max_relocate = s->rv->max_relocate;
			s->failed_on = s->rv->failed_on;
			s->restarts = s->rv->restarts;
			s->relocations = s->rv->relocations;
			if (s->rv->held && !(s->held = strdup(s->rv->held)))
				goto out;
		}
		rc = situate(in, s, &pvs[i], &avoid[i]);
		if (rc < 0)
			goto out;
	}

	/* 2. */
	copy = *p;
	copy.vms = pvs;
	res = calloc(1, sizeof(*res));
	if (!res) {
		rc = -ENOMEM;
		goto out;
	}
	rc = placement_place(&copy, &res->placement);
	if (rc < 0)
		goto out;

	/* 3. */
	rc = -ENOMEM;
	res->vms = calloc(p->n_vms + 1, sizeof(*res->vms));
	if (!res->vms)
		goto out;
	res->n_vms = p->n_vms;
	for (size_t i = 0; i < p->n_vms; i++) {
		struct vst *s = &st[i];
		struct placement_decision *d = &res->placement->decisions[i];
		struct recovery_vm_result *v = &res->vms[i];
		const char *rec_owner = s->rec ? s->rec->node : NULL;
		const struct placement_node *own = node_of(p, d->owner);

		if (s->failed_on && d->action == PLACEMENT_START_ON && d->owner && !str_eq(d->owner, rec_owner) &&
		    !(s->rec && str_eq(s->rec->migrating_to, d->owner))) {
			if (!strcmp(d->owner, s->failed_on))
				s->restarts++;
			else
				s->relocations++;
		}
		if (s->failed_on && d->action == PLACEMENT_KEEP && d->owner && s->rec && str_eq(d->owner, rec_owner) &&
		    s->rec->running && own && own->member && !own->fenced) {
			s->failed_on = NULL; /* it runs again: the incident is over */
			s->restarts = s->relocations = 0;
		}
		if (s->why != WHY_NONE && s->reason && (s->why != WHY_LIMITED || d->action == PLACEMENT_WAIT)) {
			free(d->reason);
			d->reason = s->reason;
			s->reason = NULL;
		}
		v->vm = strdup(p->vms[i].name);
		v->failed_on = s->failed_on ? strdup(s->failed_on) : NULL;
		v->held = s->held;
		s->held = NULL;
		v->restarts = s->restarts;
		v->relocations = s->relocations;
		if (!v->vm || (s->failed_on && !v->failed_on))
			goto out;
		v->changed = !s->rv ? (v->failed_on || v->held || v->restarts || v->relocations)
				    : (!str_eq(v->failed_on, s->rv->failed_on) || !str_eq(v->held, s->rv->held) ||
				       v->restarts != s->rv->restarts || v->relocations != s->rv->relocations);
	}
	*out = res;
	res = NULL;
	rc = 0;
out:
	for (size_t i = 0; st && i < p->n_vms; i++) {
		free(st[i].held);
		free(st[i].reason);
	}
	for (size_t i = 0; avoid && i < p->n_vms; i++)
		free(avoid[i]);
	free(avoid);
	free(st);
	free(pvs);
	recovery_result_free(res);
	return rc;
}
