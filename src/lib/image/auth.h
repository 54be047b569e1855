/* auth.h — registry credentials and registry trust settings.
 *
 * Promises: WWW-Authenticate challenges are parsed per RFC 7235 (token or
 * quoted-string parameters with backslash escapes, commas inside quotes, any
 * parameter order, case-insensitive scheme and names).  Credentials live in a
 * docker-compatible config.json ("auths" -> {"auth": base64("user:pass")}),
 * so berth, docker, podman and skopeo share logins; writing it keeps every
 * key berth does not own, is atomic and durable, and leaves the file mode
 * 0600 in a 0700 directory.  Credential helpers ("credsStore",
 * "credHelpers") are not supported: they are reported with a warning and
 * left in place.
 */
#ifndef BERTH_IMAGE_AUTH_H
#define BERTH_IMAGE_AUTH_H

#include <stddef.h>

#include "core/error.h"

struct auth_challenge {
	char *scheme;   /* "bearer"/"basic", lowercased */
	char *realm, *service, *scope, *error;   /* NULL when absent */
};
/* Parses one WWW-Authenticate value: quoted strings with escapes, commas
 * inside quotes, any param order.  Unknown params and token68 data are
 * skipped; a repeated scope is joined with ' ' (the form token servers take),
 * any other repeated param is an error.  When the value holds several
 * challenges ("Bearer realm=..., Basic realm=...") the Bearer one is
 * returned, else the Basic one, else the first.  -EINVAL on syntax errors or
 * a missing scheme. */
int auth_challenge_parse(const char *value, struct auth_challenge *out, struct berth_error *err);
void auth_challenge_clear(struct auth_challenge *c);

struct auth_creds { char *username, *password, *identity_token; };
void auth_creds_clear(struct auth_creds *c);

/* $REGISTRY_AUTH_FILE, else $DOCKER_CONFIG/config.json, else
 * $HOME/.docker/config.json.  -ENOENT when none of them is set,
 * -ENAMETOOLONG when buf is too small. */
int auth_config_path(char *buf, size_t len);
/* For the three config functions, path NULL means auth_config_path().
 * 1 found, 0 none (also when the file does not exist or the entry holds no
 * credentials, e.g. it is kept by a credential helper); key match as docker:
 * "host", "https://host", "http://host", "https://host/v1/" ...,
 * "https://index.docker.io/v1/" for docker.io (registry may be "docker.io",
 * "index.docker.io" or "registry-1.docker.io"). */
int auth_config_lookup(const char *path, const char *registry, struct auth_creds *out, struct berth_error *err);
/* Keeps every other key of the file; atomic write, mode 0600, creates the directory (0700) */
int auth_config_store(const char *path, const char *registry, const char *user, const char *pass, struct berth_error *err);
/* -ENOENT when not logged in */
int auth_config_erase(const char *path, const char *registry, struct berth_error *err);

/* /etc/berth/registries.json ($BERTH_REGISTRIES_CONF): {"insecure-registries": ["host:port", ...]}
 * (docker daemon.json style; other keys of the file are not read).  path NULL
 * means $BERTH_REGISTRIES_CONF, else /etc/berth/registries.json.  As in
 * docker, a "host" or "host:port" entry matches the registry host exactly
 * (case-insensitive): "myreg" does not cover "myreg:5000".  A CIDR entry
 * ("10.0.0.0/8", "fd00::/8") covers hosts given as IP literals in it, on any
 * port; unlike docker, host names are not resolved to match a CIDR.
 * 1 when host is listed, 0 otherwise (missing file = 0), -EINVAL naming the
 * file (and entry) when it is malformed. */
int registries_conf_insecure(const char *path, const char *host, struct berth_error *err);

#endif
