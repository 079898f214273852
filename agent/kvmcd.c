/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * kvmcd: the cluster coordination agent. See daemon.h for what runs inside.
 *
 * kvmcd never forks: systemd (Type=notify) or a test harness supervises it. --foreground sends
 * the log to stderr whatever [log] target says, for interactive runs and tests.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>

#include "build-config.h"
#include "config.h"
#include "daemon.h"
#include "timing.h"
#include "log.h"
#include "macros.h"

#define DEFAULT_CONFIG KVMCD_SYSCONFDIR "/kvmcd/kvmcd.conf"

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: kvmcd [--config FILE] [--foreground] [--version]\n"
		"       kvmcd --check-config [--config FILE]\n"
		"       kvmcd --print-example-config\n"
		"       kvmcd --print-timeouts [--config FILE]\n"
		"\n"
		"  -c, --config FILE         configuration file (default %s; defaults apply if it is missing)\n"
		"  -f, --foreground          log to stderr whatever [log] target says\n"
		"      --check-config        check the configuration and the files it names as kvmcd does\n"
		"                            when it starts; print every problem, exit non-zero on any\n"
		"      --print-example-config  print every key with its default and description\n"
		"      --print-timeouts      print every safety timeout, its value and how it is derived\n"
		"                            (from the configuration and corosync's totem settings)\n"
		"  -V, --version             print the version\n",
		DEFAULT_CONFIG);
}

int main(int argc, char **argv)
{
	enum { ARG_CHECK = 0x100, ARG_EXAMPLE, ARG_TIMEOUTS };
	static const struct option options[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "foreground", no_argument, NULL, 'f' },
		{ "version", no_argument, NULL, 'V' },
		{ "help", no_argument, NULL, 'h' },
		{ "check-config", no_argument, NULL, ARG_CHECK },
		{ "print-example-config", no_argument, NULL, ARG_EXAMPLE },
		{ "print-timeouts", no_argument, NULL, ARG_TIMEOUTS },
		{ NULL, 0, NULL, 0 },
	};
	struct daemon_args args = { .config_path = DEFAULT_CONFIG };
	struct config_errors errors = { 0 };
	struct kvmcd_config *cfg = NULL;
	struct klog *log = NULL;
	bool check_only = false, print_timeouts = false;
	int c, r;

	while ((c = getopt_long(argc, argv, "c:fVh", options, NULL)) >= 0) {
		switch (c) {
		case 'c':
			args.config_path = optarg;
			args.config_explicit = true;
			break;
		case 'f':
			args.foreground = true;
			break;
		case 'V':
			printf("kvmcd %s\n", KVMCD_VERSION);
			return EXIT_SUCCESS;
		case 'h':
			usage(stdout);
			return EXIT_SUCCESS;
		case ARG_CHECK:
			check_only = true;
			break;
		case ARG_EXAMPLE:
			config_write_example(stdout);
			return EXIT_SUCCESS;
		case ARG_TIMEOUTS:
			print_timeouts = check_only = true;
			break;
		default:
			usage(stderr);
			return EX_USAGE;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "kvmcd: unexpected argument '%s'\n", argv[optind]);
		usage(stderr);
		return EX_USAGE;
	}

	if (klog_new(&log) < 0) {
		fputs("kvmcd: out of memory\n", stderr);
		return EXIT_FAILURE;
	}
	klog_configure(log, LOG_INFO, LOG_TARGET_AUTO, args.foreground || check_only);
	/* The file, then what it names (credentials, PEM files): one verdict for --check-config and
	 * start-up alike. */
	r = config_load(args.config_path, !args.config_explicit, &cfg, &errors);
	if (r >= 0)
		r = config_check_runtime(cfg, &errors);
	if (r < 0) {
		for (size_t i = 0; i < errors.n; i++)
			klog(log, LOG_ERR, "%s", errors.text[i]);
		if (r == -ENOMEM)
			klog(log, LOG_ERR, "%s: out of memory", args.config_path);
		klog(log, LOG_ERR, "Configuration %s has %zu problem%s; %s", args.config_path, errors.n,
		     errors.n == 1 ? "" : "s", check_only ? "not OK" : "refusing to start");
		config_errors_clear(&errors);
		config_free(cfg);
		klog_free(log);
		return EXIT_FAILURE;
	}
	if (print_timeouts) {
		_cleanup_free_ char *text = NULL, *source = NULL, *error = NULL;
		struct timeouts t;

		r = timing_derive(cfg, &t, &source, &error);
		if (r >= 0)
			r = timeouts_describe(&t, &text);
		if (r < 0)
			klog(log, LOG_ERR, "Timeouts of %s: %s", args.config_path, error ? error : strerror(-r));
		else
			printf("# from %s and %s\n%s", args.config_path, source ? source : "corosync's defaults", text);
		config_free(cfg);
		klog_free(log);
		return r < 0 ? EXIT_FAILURE : EXIT_SUCCESS;
	}
	if (check_only) {
		printf("%s: OK\n", args.config_path);
		config_free(cfg);
		klog_free(log);
		return EXIT_SUCCESS;
	}
	klog_configure(log, cfg->log_level, cfg->log_target, args.foreground);
	r = daemon_run(&args, log, cfg);
	klog_free(log);
	return r < 0 ? EXIT_FAILURE : EXIT_SUCCESS;
}
