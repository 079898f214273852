/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The metrics service (service.h), named "metrics": the Prometheus endpoint on [metrics] listen
 * (GET /metrics) and the local API verb "metrics" ({"text", "content_type"}: `kvmcctl metrics`),
 * both metrics.h's text. agent/metrics-service.c says what it counts itself.
 */
#pragma once

#include "service.h"

extern const struct service_ops metrics_service;
