/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * ontap-sim: command line, listening socket, TLS material, and the process lifecycle.
 * The HTTP server runs one thread per connection; the job thread advances jobs and
 * SnapMirror transfers; the main thread only waits for SIGINT/SIGTERM.
 */
#include <errno.h>
#include <getopt.h>
#include <netdb.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include "sim.h"

static void usage(void)
{
	fputs("Usage: ontap-sim [--listen HOST:PORT] [--user NAME:PASSWORD[:admin|readonly|vsadmin]]...\n"
	      "                 [--tls-cert FILE --tls-key FILE] [--tls-cert-out FILE] [--client-ca FILE]\n"
	      "                 [--ontap-version X.Y.Z] [--svm NAME]... [--data-ip IP]...\n"
	      "                 [--state FILE] [--backing-dir DIR] [--host-data-dir DIR] [--request-log FILE]\n"
	      "                 [--control-token TOKEN] [--job-purge-seconds N] [--job-ms N]\n"
	      "                 [--transfer-ms N] [--empty-next-page] [--run-schedules]\n"
	      "                 [--fault JSON]... [--port-file FILE] [--target-hook PROG]\n"
	      "                 [--cluster-name NAME] [--access-socket PATH]\n"
	      "See tests/ontap-sim/README.md.\n", stderr);
}

static char *read_file(const char *path)
{
	_cleanup_fclose_ FILE *f = fopen(path, "re");
	char *buf = NULL;
	size_t len = 0;
	ssize_t n;

	if (!f)
		return NULL;
	n = getdelim(&buf, &len, '\0', f);
	if (n < 0) {
		free(buf);
		return NULL;
	}
	return buf;
}

static int write_file(const char *path, const char *text)
{
	_cleanup_fclose_ FILE *f = fopen(path, "we");

	if (!f)
		return -errno;
	if (fputs(text, f) < 0 || fflush(f) != 0)
		return -EIO;
	return 0;
}

static int add_user(struct sim_config *cfg, const char *spec)
{
	_cleanup_free_ char *s = strdup(spec);
	char *colon, *role;
	struct sim_user *u;
	enum sim_role r = ROLE_ADMIN;

	if (!s || !(colon = strchr(s, ':')))
		return -EINVAL;
	*colon = '\0';
	role = strrchr(colon + 1, ':');
	if (role && role_parse(role + 1, &r) == 0)
		*role = '\0';
	u = realloc(cfg->users, (cfg->n_users + 1) * sizeof(*u));
	if (!u)
		return -ENOMEM;
	cfg->users = u;
	u[cfg->n_users].name = strdup(s);
	u[cfg->n_users].password = strdup(colon + 1);
	u[cfg->n_users].role = r;
	cfg->n_users++;
	return 0;
}

static int strv_push(char ***v, const char *s)
{
	size_t n = 0;
	char **nv;

	while (*v && (*v)[n])
		n++;
	nv = realloc(*v, (n + 2) * sizeof(char *));
	if (!nv)
		return -ENOMEM;
	nv[n] = strdup(s);
	nv[n + 1] = NULL;
	*v = nv;
	return 0;
}

static int parse_listen(struct sim_config *cfg, const char *arg)
{
	const char *colon;

	if (arg[0] == '[') {
		const char *end = strchr(arg, ']');
		if (!end || end[1] != ':')
			return -EINVAL;
		cfg->listen_host = strndup(arg + 1, (size_t)(end - arg - 1));
		colon = end + 1;
	} else {
		colon = strrchr(arg, ':');
		if (!colon)
			return -EINVAL;
		cfg->listen_host = strndup(arg, (size_t)(colon - arg));
	}
	cfg->listen_port = atoi(colon + 1);
	return cfg->listen_port < 0 || cfg->listen_port > 65535 ? -EINVAL : 0;
}

static int open_listener(const char *host, int port, int *port_out)
{
	struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM,
				  .ai_flags = AI_PASSIVE | AI_NUMERICSERV };
	struct addrinfo *res = NULL;
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	char portstr[16];
	int fd = -1, one = 1, ret;

	snprintf(portstr, sizeof(portstr), "%d", port);
	ret = getaddrinfo(host, portstr, &hints, &res);
	if (ret != 0) {
		fprintf(stderr, "ontap-sim: cannot resolve '%s': %s\n", host, gai_strerror(ret));
		return -EINVAL;
	}
	fd = socket(res->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		goto fail;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, res->ai_addr, res->ai_addrlen) < 0 || listen(fd, 128) < 0)
		goto fail;
	if (getsockname(fd, (struct sockaddr *)&ss, &sl) < 0)
		goto fail;
	*port_out = ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
						   : ((struct sockaddr_in *)&ss)->sin_port);
	freeaddrinfo(res);
	return fd;
fail:
	ret = -errno;
	if (fd >= 0)
		close(fd);
	freeaddrinfo(res);
	return ret;
}

int main(int argc, char **argv)
{
	enum { O_LISTEN = 256, O_USER, O_CERT, O_KEY, O_CERT_OUT, O_VERSION, O_STATE, O_BACKING, O_HOST_DATA,
	       O_CLUSTER_NAME, O_ACCESS_SOCKET, O_SVM, O_LOG, O_TOKEN, O_PURGE, O_PORT_FILE, O_JOB_MS, O_XFER_MS, O_EMPTY, O_FAULT,
	       O_DATA_IP, O_RUN_SCHED, O_CLIENT_CA, O_TARGET_HOOK, O_HELP };
	static const struct option opts[] = {
		{ "listen", required_argument, NULL, O_LISTEN },
		{ "user", required_argument, NULL, O_USER },
		{ "tls-cert", required_argument, NULL, O_CERT },
		{ "tls-key", required_argument, NULL, O_KEY },
		{ "tls-cert-out", required_argument, NULL, O_CERT_OUT },
		{ "client-ca", required_argument, NULL, O_CLIENT_CA },
		{ "ontap-version", required_argument, NULL, O_VERSION },
		{ "state", required_argument, NULL, O_STATE },
		{ "backing-dir", required_argument, NULL, O_BACKING },
		{ "host-data-dir", required_argument, NULL, O_HOST_DATA },
		{ "svm", required_argument, NULL, O_SVM },
		{ "data-ip", required_argument, NULL, O_DATA_IP },
		{ "request-log", required_argument, NULL, O_LOG },
		{ "control-token", required_argument, NULL, O_TOKEN },
		{ "job-purge-seconds", required_argument, NULL, O_PURGE },
		{ "job-ms", required_argument, NULL, O_JOB_MS },
		{ "transfer-ms", required_argument, NULL, O_XFER_MS },
		{ "empty-next-page", no_argument, NULL, O_EMPTY },
		{ "run-schedules", no_argument, NULL, O_RUN_SCHED },
		{ "fault", required_argument, NULL, O_FAULT },
		{ "port-file", required_argument, NULL, O_PORT_FILE },
		{ "target-hook", required_argument, NULL, O_TARGET_HOOK },
		{ "cluster-name", required_argument, NULL, O_CLUSTER_NAME },
		{ "access-socket", required_argument, NULL, O_ACCESS_SOCKET },
		{ "help", no_argument, NULL, O_HELP },
		{ NULL, 0, NULL, 0 },
	};
	static struct sim sim = {
		.lock = PTHREAD_MUTEX_INITIALIZER,
		.changed = PTHREAD_COND_INITIALIZER,
		.log_lock = PTHREAD_MUTEX_INITIALIZER,
	};
	struct sim_config *cfg = &sim.cfg;
	_cleanup_free_ char *cert = NULL, *key = NULL, *trust = NULL;
	json_auto_t *faults = json_array();
	void *daemon = NULL;
	pthread_t jobs_tid;
	sigset_t sigs;
	int c, ret, fd, port = 0, sig;
	json_t *f;
	size_t i;

	cfg->job_purge_s = 300;
	cfg->job_ms = 300;
	cfg->transfer_ms = 1000;
	cfg->version = strdup("9.14.1");
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) >= 0) {
		ret = 0;
		switch (c) {
		case O_LISTEN: ret = parse_listen(cfg, optarg); break;
		case O_USER: ret = add_user(cfg, optarg); break;
		case O_CERT: cfg->tls_cert = strdup(optarg); break;
		case O_KEY: cfg->tls_key = strdup(optarg); break;
		case O_CERT_OUT: cfg->tls_cert_out = strdup(optarg); break;
		case O_CLIENT_CA: cfg->client_ca = strdup(optarg); break;
		case O_VERSION: free(cfg->version); cfg->version = strdup(optarg); break;
		case O_STATE: cfg->state_path = strdup(optarg); break;
		case O_BACKING: cfg->backing_dir = strdup(optarg); break;
		case O_HOST_DATA: cfg->host_data_dir = strdup(optarg); break;
		case O_SVM: ret = strv_push(&cfg->svms, optarg); break;
		case O_DATA_IP: ret = strv_push(&cfg->data_ips, optarg); break;
		case O_LOG: cfg->request_log = strdup(optarg); break;
		case O_TOKEN: cfg->control_token = strdup(optarg); break;
		case O_PURGE: cfg->job_purge_s = atoll(optarg); break;
		case O_JOB_MS: cfg->job_ms = atoll(optarg); break;
		case O_XFER_MS: cfg->transfer_ms = atoll(optarg); break;
		case O_EMPTY: cfg->empty_next_page = true; break;
		case O_RUN_SCHED: cfg->run_schedules = true; break;
		case O_PORT_FILE: cfg->port_file = strdup(optarg); break;
		case O_TARGET_HOOK: cfg->target_hook = strdup(optarg); break;
		case O_CLUSTER_NAME: cfg->cluster_name = strdup(optarg); break;
		case O_ACCESS_SOCKET: cfg->access_socket = strdup(optarg); break;
		case O_FAULT: {
			json_error_t jerr;
			json_t *spec = json_loads(optarg, 0, &jerr);
			if (!spec) {
				fprintf(stderr, "ontap-sim: --fault: %s\n", jerr.text);
				return 2;
			}
			json_array_append_new(faults, spec);
			break;
		}
		case 'h':
		case O_HELP: usage(); return 0;
		default: usage(); return 2;
		}
		if (ret < 0) {
			fprintf(stderr, "ontap-sim: invalid argument '%s'\n", optarg);
			return 2;
		}
	}
	if (optind < argc) {
		usage();
		return 2;
	}
	if (!cfg->listen_host) {
		cfg->listen_host = strdup("127.0.0.1");
		cfg->listen_port = 8443;
	}
	if (cfg->target_hook && !cfg->backing_dir) {
		fprintf(stderr, "ontap-sim: --target-hook needs --backing-dir (the LUN files it serves)\n");
		return 2;
	}
	cfg->target_dir = cfg->backing_dir;
	if (parse_version(cfg->version, cfg->ver) < 0) {
		fprintf(stderr, "ontap-sim: invalid --ontap-version '%s'\n", cfg->version);
		return 2;
	}
	if (!cfg->svms)
		strv_push(&cfg->svms, "svm1");
	if (!cfg->data_ips)
		strv_push(&cfg->data_ips, "127.0.0.1");
	if (!cfg->n_users)
		add_user(cfg, "admin:netapp1!");
	if (!!cfg->tls_cert != !!cfg->tls_key) {
		fprintf(stderr, "ontap-sim: --tls-cert and --tls-key go together\n");
		return 2;
	}
	for (i = 0; all_colls[i]; i++)
		if (coll_init(all_colls[i]) < 0)
			return 1;
	if (cfg->backing_dir && mkdir(cfg->backing_dir, 0755) < 0 && errno != EEXIST) {
		fprintf(stderr, "ontap-sim: cannot create '%s': %m\n", cfg->backing_dir);
		return 1;
	}
	if (cfg->request_log) {
		sim.log = fopen(cfg->request_log, "ae");
		if (!sim.log) {
			fprintf(stderr, "ontap-sim: cannot open '%s': %m\n", cfg->request_log);
			return 1;
		}
	}
	ret = state_load_or_init(&sim);
	if (ret < 0) {
		fprintf(stderr, "ontap-sim: cannot initialise state: %s\n", strerror(-ret));
		return 1;
	}
	target_sync(&sim); /* a restarted simulator serves what its state says (failures: stderr) */
	json_array_foreach(faults, i, f) {
		if (faults_add(&sim, f, NULL) < 0) {
			fprintf(stderr, "ontap-sim: invalid --fault (needs a known \"type\")\n");
			return 2;
		}
	}

	if (cfg->tls_cert) {
		cert = read_file(cfg->tls_cert);
		key = read_file(cfg->tls_key);
		if (!cert || !key) {
			fprintf(stderr, "ontap-sim: cannot read TLS certificate or key: %m\n");
			return 1;
		}
	} else {
		ret = tls_make_self_signed(cfg->listen_host, &cert, &key);
		if (ret < 0) {
			fprintf(stderr, "ontap-sim: cannot generate a certificate: %s\n", strerror(-ret));
			return 1;
		}
	}
	if (cfg->client_ca && !(trust = read_file(cfg->client_ca))) {
		fprintf(stderr, "ontap-sim: cannot read '%s': %m\n", cfg->client_ca);
		return 1;
	}
	if (cfg->tls_cert_out && (ret = write_file(cfg->tls_cert_out, cert)) < 0) {
		fprintf(stderr, "ontap-sim: cannot write '%s': %s\n", cfg->tls_cert_out, strerror(-ret));
		return 1;
	}

	fd = open_listener(cfg->listen_host, cfg->listen_port, &port);
	if (fd < 0) {
		fprintf(stderr, "ontap-sim: cannot listen on %s:%d: %s\n", cfg->listen_host,
			cfg->listen_port, strerror(-fd));
		return 1;
	}

	/* signals are taken synchronously by the main thread; other threads inherit the mask */
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGINT);
	sigaddset(&sigs, SIGTERM);
	pthread_sigmask(SIG_BLOCK, &sigs, NULL);
	signal(SIGPIPE, SIG_IGN);

	ret = jobs_thread_start(&sim, &jobs_tid);
	if (ret < 0) {
		fprintf(stderr, "ontap-sim: cannot start the job thread: %s\n", strerror(-ret));
		return 1;
	}
	if (cfg->access_socket && (ret = fabric_start(&sim, cfg->access_socket)) < 0) {
		fprintf(stderr, "ontap-sim: cannot serve the access socket '%s': %s\n", cfg->access_socket, strerror(-ret));
		return 1;
	}
	ret = http_start(&sim, fd, cert, key, trust, &daemon);
	if (ret < 0) {
		fprintf(stderr, "ontap-sim: cannot start the HTTPS server\n");
		return 1;
	}
	if (cfg->port_file) {
		char num[16];
		snprintf(num, sizeof(num), "%d\n", port);
		if ((ret = write_file(cfg->port_file, num)) < 0) {
			fprintf(stderr, "ontap-sim: cannot write '%s': %s\n", cfg->port_file,
				strerror(-ret));
			return 1;
		}
	}
	printf(strchr(cfg->listen_host, ':') ? "ontap-sim listening on https://[%s]:%d\n"
					     : "ontap-sim listening on https://%s:%d\n",
	       cfg->listen_host, port);
	fflush(stdout);

	sigwait(&sigs, &sig);
	sim.stopping = true;
	pthread_mutex_lock(&sim.lock);
	pthread_cond_broadcast(&sim.changed);
	pthread_mutex_unlock(&sim.lock);
	http_stop(daemon);
	pthread_join(jobs_tid, NULL);
	pthread_mutex_lock(&sim.lock);
	state_persist(&sim);
	pthread_mutex_unlock(&sim.lock);
	if (sim.log)
		fclose(sim.log);
	return 0;
}
