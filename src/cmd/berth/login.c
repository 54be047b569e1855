/* login and logout: credentials in docker's config.json (image/auth.h),
 * checked against the registry before they are stored. */
#include "cli.h"
#include "core/cleanup.h"
#include "image/auth.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define DEFAULT_SERVER "docker.io"

/* What users type ("https://index.docker.io/v1/", "localhost:5000/", "quay.io")
 * -> the registry's name as a config.json key ("docker.io", "localhost:5000"). */
static int normalise_server(const char *in, char **out)
{
	const char *s = in;
	if (!strncmp(s, "https://", 8))
		s += 8;
	else if (!strncmp(s, "http://", 7))
		s += 7;
	size_t n = strcspn(s, "/");
	if (n == 0)
		return -EINVAL;
	char *host = strndup(s, n);
	if (!host)
		return -ENOMEM;
	for (char *p = host; *p; p++)
		if (*p >= 'A' && *p <= 'Z')
			*p = (char) (*p - 'A' + 'a');
	if (!strcmp(host, "index.docker.io") || !strcmp(host, "registry-1.docker.io")) {
		free(host);
		host = strdup(DEFAULT_SERVER);
		if (!host)
			return -ENOMEM;
	}
	*out = host;
	return 0;
}

/* The host the registry API answers on. */
static const char *api_host(const char *server)
{
	return strcmp(server, DEFAULT_SERVER) ? server : "registry-1.docker.io";
}

static int server_arg(struct cli *cli, int argc, char **argv, char **server)
{
	const char *arg = optind < argc ? argv[optind] : DEFAULT_SERVER;
	int r = normalise_server(arg, server);
	if (r == -EINVAL)
		return cli_usage_error(cli, "\"%s\" is not a registry server name", arg);
	if (r < 0)
		return cli_failf("out of memory");
	return 0;
}

static int auth_file(char *buf, size_t len)
{
	int r = auth_config_path(buf, len);
	if (r == -ENOENT)
		return cli_failf("no place for credentials: set $HOME, $DOCKER_CONFIG or $REGISTRY_AUTH_FILE");
	if (r < 0)
		return cli_failf("credentials file path: %s", strerror(-r));
	return 0;
}

static void secret_free(char **p)
{
	if (*p) {
		explicit_bzero(*p, strlen(*p));
		free(*p);
	}
}

/* The whole of stdin, minus trailing newlines. */
static int read_stdin_secret(char **out)
{
	size_t cap = 256, len = 0;
	char *buf = malloc(cap);
	if (!buf)
		return -ENOMEM;
	for (;;) {
		if (len + 1 >= cap) {
			/* grow by copying, so no stale copy of the secret is left in freed memory */
			char *nb = malloc(cap * 2);
			if (!nb) {
				explicit_bzero(buf, cap);
				free(buf);
				return -ENOMEM;
			}
			memcpy(nb, buf, len);
			explicit_bzero(buf, cap);
			free(buf);
			buf = nb;
			cap *= 2;
		}
		ssize_t n = read(STDIN_FILENO, buf + len, cap - len - 1);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			int e = errno;
			explicit_bzero(buf, cap);
			free(buf);
			return -e;
		}
		if (n == 0)
			break;
		len += (size_t) n;
	}
	buf[len] = '\0';
	while (len > 0 && (buf[len - 1] == '\n' || buf[len - 1] == '\r'))
		buf[--len] = '\0';
	*out = buf;
	return 0;
}

int cmd_login(struct cli *cli, int argc, char **argv)
{
	enum { O_STDIN = 1000, O_TLS };
	static const struct option opts[] = {
		{ "username", required_argument, NULL, 'u' },
		{ "password", required_argument, NULL, 'p' },
		{ "password-stdin", no_argument, NULL, O_STDIN },
		{ "tls-verify", optional_argument, NULL, O_TLS },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	_cleanup_free_ char *user = NULL;
	_cleanup_(secret_free) char *pass = NULL;
	bool pass_stdin = false, tls_verify = cli->tls_verify;
	int c, r;
	while ((c = cli_getopt(cli, argc, argv, "u:p:h", opts)) != -1) {
		switch (c) {
		case 'u':
			free(user);
			if (!(user = strdup(optarg)))
				return cli_failf("out of memory");
			break;
		case 'p':
			secret_free(&pass);
			if (!(pass = strdup(optarg)))
				return cli_failf("out of memory");
			break;
		case O_STDIN: pass_stdin = true; break;
		case O_TLS:
			if (cli_parse_bool("--tls-verify", optarg, &tls_verify, cli) < 0)
				return CLI_EXIT_USAGE;
			break;
		default:
			return cli_opt_exit(c);
		}
	}
	if ((r = cli_args_range(cli, argc, 0, 1)))
		return r;
	if (pass && pass_stdin)
		return cli_usage_error(cli, "--password and --password-stdin are mutually exclusive");
	if (pass_stdin && !user)
		return cli_usage_error(cli, "must provide --username with --password-stdin");
	if (pass)
		fprintf(stderr, "WARNING! Using --password via the CLI is insecure. Use --password-stdin.\n");
	_cleanup_free_ char *server = NULL;
	if ((r = server_arg(cli, argc, argv, &server)))
		return r;
	char path[PATH_MAX];
	if ((r = auth_file(path, sizeof(path))))
		return r;

	if (pass_stdin) {
		r = read_stdin_secret(&pass);
		if (r < 0)
			return cli_failf("--password-stdin: reading stdin: %s", strerror(-r));
		if (!*pass)
			return cli_failf("--password-stdin: stdin held no password");
	}

	struct berth_error err = { 0 };
	struct registry_opts ro;
	registry_opts_init(&ro);
	ro.tls_verify = tls_verify;
	ro.auth_file = path;

	/* Nothing given: the stored credentials may still be good (docker's habit). */
	if (!user && !pass) {
		struct auth_creds stored = { 0 };
		int found = auth_config_lookup(path, server, &stored, &err);
		auth_creds_clear(&stored);
		if (found < 0)
			return cli_fail(&err);
		if (found == 1) {
			fprintf(stderr, "Authenticating with existing credentials...\n");
			if (registry_check_login(api_host(server), &ro, &err) == 0) {
				printf("Login Succeeded\n");
				return 0;
			}
			fprintf(stderr, "Stored credentials are not accepted: %s\n", err.msg);
			berth_error_clear(&err);
		}
	}
	if (!user) {
		r = cli_prompt_line("Username: ", &user);
		if (r == -ENOTTY)
			return cli_failf("cannot perform an interactive login from a non TTY device (use -u and --password-stdin)");
		if (r < 0 || !*user)
			return cli_failf("login to %s: no username given", server);
	}
	if (!pass) {
		r = cli_prompt_secret("Password: ", &pass);
		if (r == -ENOTTY)
			return cli_failf("cannot perform an interactive login from a non TTY device (use --password-stdin)");
		if (r < 0 || !*pass)
			return cli_failf("login to %s: no password given", server);
	}
	ro.username = user;
	ro.password = pass;
	if (registry_check_login(api_host(server), &ro, &err) < 0)
		return cli_fail(&err);
	if (auth_config_store(path, server, user, pass, &err) < 0)
		return cli_fail(&err);
	fprintf(stderr, "WARNING! Your password will be stored unencrypted in %s.\n", path);
	printf("Login Succeeded\n");
	return 0;
}

int cmd_logout(struct cli *cli, int argc, char **argv)
{
	int c, r;
	while ((c = cli_getopt(cli, argc, argv, "h", cli_help_only)) != -1)
		return cli_opt_exit(c);
	if ((r = cli_args_range(cli, argc, 0, 1)))
		return r;
	_cleanup_free_ char *server = NULL;
	if ((r = server_arg(cli, argc, argv, &server)))
		return r;
	char path[PATH_MAX];
	if ((r = auth_file(path, sizeof(path))))
		return r;
	struct berth_error err = { 0 };
	r = auth_config_erase(path, server, &err);
	if (r == -ENOENT)
		return cli_failf("Not logged in to %s", server);
	if (r < 0)
		return cli_fail(&err);
	printf("Removing login credentials for %s\n", server);
	return 0;
}
