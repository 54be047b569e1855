/* Unit tests for image/registry.
 *
 * Two kinds of server:
 *  - Debian's docker-registry, started here on 127.0.0.1 (random free ports, temp storage, config written
 *    by the test): one open, one with htpasswd Basic auth.  Push monolithic and chunked, HEAD, mount across
 *    repositories, manifests by tag and digest, Range reads, 404 texts, Basic auth and login checks,
 *    concurrent blob reads through one struct registry.  Skipped (with a message) only when
 *    /usr/bin/docker-registry is missing.
 *  - A small HTTP/1.1 server in a thread of this program, listening on 127.0.0.1 and 127.0.0.2: Bearer
 *    token auth with Basic creds at the token endpoint, token refresh on 401, redirects to the other host
 *    (Authorization must not follow) and relative same-host redirects (it must), mid-stream breaks
 *    resumed with Range, a server ignoring Range on resume (-ESPIPE), 429 + Retry-After, 503 retries,
 *    digest mismatches, oversized manifests, redirect loops and JSON error bodies.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/cleanup.h"
#include "core/digest.h"
#include "core/error.h"
#include "image/reference.h"
#include "image/registry.h"
#include "spec/image.h"

#define REGISTRY_BIN "/usr/bin/docker-registry"

/* ------------------------------------------------------------------ helpers */

struct buf {
	char *data;
	size_t len, cap;
	int calls;
	bool *resumed_ptr;        /* resumed flag as seen at the first sink call */
	bool resumed_at_first;
};

static int buf_sink(void *ctx, const void *data, size_t len)
{
	struct buf *b = ctx;
	if (b->calls++ == 0 && b->resumed_ptr)
		b->resumed_at_first = *b->resumed_ptr;
	if (b->len + len > b->cap) {
		size_t cap = b->cap ? b->cap : 4096;
		while (cap < b->len + len)
			cap *= 2;
		b->data = realloc(b->data, cap);
		assert_non_null(b->data);
		b->cap = cap;
	}
	memcpy(b->data + b->len, data, len);
	b->len += len;
	return 0;
}

static void buf_free(struct buf *b)
{
	free(b->data);
	memset(b, 0, sizeof(*b));
}

static void fill_random(char *p, size_t n, unsigned seed)
{
	uint32_t x = seed * 2654435761u + 1;
	for (size_t i = 0; i < n; i++) {
		x ^= x << 13;
		x ^= x >> 17;
		x ^= x << 5;
		p[i] = (char) x;
	}
}

static int memfd_with(const void *data, size_t len)
{
	int fd = memfd_create("blob", MFD_CLOEXEC);
	assert_true(fd >= 0);
	size_t off = 0;
	while (off < len) {
		ssize_t n = write(fd, (const char *) data + off, len - off);
		assert_true(n > 0);
		off += (size_t) n;
	}
	return fd;
}

static int free_port(const char *addr)
{
	int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct sockaddr_in sa = { .sin_family = AF_INET };
	inet_pton(AF_INET, addr, &sa.sin_addr);
	if (s < 0 || bind(s, (struct sockaddr *) &sa, sizeof(sa)) < 0)
		return -1;
	socklen_t l = sizeof(sa);
	getsockname(s, (struct sockaddr *) &sa, &l);
	close(s);
	return ntohs(sa.sin_port);
}

static bool port_open(int port)
{
	int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t) port) };
	inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
	bool ok = connect(s, (struct sockaddr *) &sa, sizeof(sa)) == 0;
	close(s);
	return ok;
}

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double) ts.tv_sec + ts.tv_nsec / 1e9;
}

static void write_file(const char *path, const char *content)
{
	FILE *f = fopen(path, "we");
	assert_non_null(f);
	fputs(content, f);
	fclose(f);
}

/* ------------------------------------------------------------------ docker-registry */

struct dreg {
	pid_t pid;
	int port;
	char dir[256];
};

static struct {
	char tmp[128];
	bool have_registry;
	struct dreg open, basic;
} T;

static int dreg_start(struct dreg *d, const char *name, bool basic_auth)
{
	char path[512], cfg[2048];
	snprintf(d->dir, sizeof(d->dir), "%s/%s", T.tmp, name);
	if (mkdir(d->dir, 0700) < 0)
		return -errno;
	d->port = free_port("127.0.0.1");
	if (d->port < 0)
		return -EADDRNOTAVAIL;
	char auth[1024] = "";
	if (basic_auth) {
		/* htpasswd -Bbn alice secret > htpasswd */
		snprintf(path, sizeof(path), "htpasswd -Bbn alice secret > %s/htpasswd", d->dir);
		if (system(path) != 0)
			return -ENOEXEC;
		snprintf(auth, sizeof(auth), "auth:\n  htpasswd:\n    realm: berth-test\n    path: %s/htpasswd\n", d->dir);
	}
	snprintf(cfg, sizeof(cfg),
		 "version: 0.1\n"
		 "log:\n  level: error\n  accesslog:\n    disabled: true\n"
		 "storage:\n  filesystem:\n    rootdirectory: %s/data\n  delete:\n    enabled: true\n"
		 "http:\n  addr: 127.0.0.1:%d\n"
		 "%s",
		 d->dir, d->port, auth);
	snprintf(path, sizeof(path), "%s/config.yml", d->dir);
	write_file(path, cfg);
	char logp[512];
	snprintf(logp, sizeof(logp), "%s/log", d->dir);
	d->pid = fork();
	if (d->pid < 0)
		return -errno;
	if (d->pid == 0) {
		int fd = open(logp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
		if (fd >= 0) {
			dup2(fd, 1);
			dup2(fd, 2);
		}
		/* docker-registry reads REGISTRY_<SECTION>_<KEY> as config overrides: our auth-file variable
		 * would land in its "auth" section */
		unsetenv("REGISTRY_AUTH_FILE");
		execl(REGISTRY_BIN, REGISTRY_BIN, "serve", path, (char *) NULL);
		_exit(127);
	}
	for (int i = 0; i < 500; i++) {
		if (port_open(d->port))
			return 0;
		if (waitpid(d->pid, NULL, WNOHANG) == d->pid) {
			d->pid = 0;
			char cmd[600];
			snprintf(cmd, sizeof(cmd), "sed 's/^/# /' %s >&2", logp);
			if (system(cmd) != 0)
				fprintf(stderr, "# (no registry log)\n");
			return -ECHILD;
		}
		usleep(10000);
	}
	return -ETIMEDOUT;
}

static void dreg_stop(struct dreg *d)
{
	if (d->pid <= 0)
		return;
	kill(d->pid, SIGTERM);
	for (int i = 0; i < 200; i++) {
		if (waitpid(d->pid, NULL, WNOHANG) == d->pid) {
			d->pid = 0;
			return;
		}
		usleep(10000);
	}
	kill(d->pid, SIGKILL);
	waitpid(d->pid, NULL, 0);
	d->pid = 0;
}

/* ------------------------------------------------------------------ fake registry */

#define FAKE_REPO "fake/img"
#define B1_LEN 70000        /* redirected to the other host */
#define B2_LEN 50000        /* relative redirect, same host */
#define B3_LEN 300000       /* breaks mid-stream, resumable */
#define B4_LEN 300000       /* breaks mid-stream, Range ignored afterwards */
#define B5_LEN 1000         /* 429 then ok */
#define B6_LEN 1000         /* 503, 503, then ok */

static struct fake {
	pthread_t thread;
	int l1, l2;              /* listeners on 127.0.0.1 and 127.0.0.2 */
	int port1, port2;
	int stop_pipe[2];
	pthread_mutex_t mu;
	/* blobs */
	char *blob[7];
	size_t blob_len[7];
	char digest[7][BERTH_DIGEST_MAX];
	/* state, under mu; tests read it through fake_snap() so no assertion fires with mu held */
	struct fake_state {
		int token_requests;
		char token[64];          /* the currently valid token ("" = none) */
		char last_token_query[1024];
		char last_token_auth[256];
		bool revoke;             /* the next authorised /v2/ request fails with invalid_token */
		int b1_other_hits, b1_other_auth;   /* requests on 127.0.0.2 and how many carried Authorization */
		int b2_local_hits, b2_local_auth;
		int b3_hits, b4_hits, b5_hits, b6_hits;
		char b3_range[64];
	} s;
	char manifest_body[256];
	char manifest_digest[BERTH_DIGEST_MAX];
} F;

static struct fake_state fake_snap(void)
{
	pthread_mutex_lock(&F.mu);
	struct fake_state st = F.s;
	pthread_mutex_unlock(&F.mu);
	return st;
}

struct http_request {
	char method[16];
	char target[2048];
	char auth[512];
	char range[128];
	bool tls;
};

static void send_all(int fd, const void *p, size_t n)
{
	const char *c = p;
	while (n > 0) {
		ssize_t w = send(fd, c, n, MSG_NOSIGNAL);
		if (w <= 0)
			return;
		c += w;
		n -= (size_t) w;
	}
}

/* Writes a response; body_send < body_len simulates a connection that breaks mid-body. */
static void respond(int fd, int status, const char *reason, const char *headers, const void *body, size_t body_len,
		    size_t body_send)
{
	char head[4096];
	int n = snprintf(head, sizeof(head), "HTTP/1.1 %d %s\r\nContent-Length: %zu\r\nConnection: close\r\n%s\r\n",
			 status, reason, body_len, headers ? headers : "");
	send_all(fd, head, (size_t) n);
	if (body && body_send)
		send_all(fd, body, body_send);
}

static void respond_json(int fd, int status, const char *reason, const char *headers, const char *json)
{
	char h[2048];
	snprintf(h, sizeof(h), "Content-Type: application/json\r\n%s", headers ? headers : "");
	respond(fd, status, reason, h, json, strlen(json), strlen(json));
}

static int read_request(int fd, struct http_request *rq)
{
	char buf[16384];
	size_t len = 0;
	memset(rq, 0, sizeof(*rq));
	for (;;) {
		if (len == sizeof(buf) - 1)
			return -1;
		ssize_t n = recv(fd, buf + len, sizeof(buf) - 1 - len, 0);
		if (n <= 0)
			return -1;
		if (len == 0 && (unsigned char) buf[0] == 0x16) {
			rq->tls = true;   /* a TLS ClientHello: the client probes https first */
			return 0;
		}
		len += (size_t) n;
		buf[len] = '\0';
		if (strstr(buf, "\r\n\r\n"))
			break;
	}
	char *end = strstr(buf, "\r\n\r\n");
	size_t head_len = (size_t) (end - buf) + 4;
	if (sscanf(buf, "%15s %2047s", rq->method, rq->target) != 2)
		return -1;
	long content_length = 0;
	char *save = NULL;
	*end = '\0';
	for (char *line = strtok_r(strchr(buf, '\n') + 1, "\r\n", &save); line; line = strtok_r(NULL, "\r\n", &save)) {
		char *colon = strchr(line, ':');
		if (!colon)
			continue;
		*colon = '\0';
		char *v = colon + 1;
		while (*v == ' ')
			v++;
		if (strcasecmp(line, "authorization") == 0)
			snprintf(rq->auth, sizeof(rq->auth), "%s", v);
		else if (strcasecmp(line, "range") == 0)
			snprintf(rq->range, sizeof(rq->range), "%s", v);
		else if (strcasecmp(line, "content-length") == 0)
			content_length = strtol(v, NULL, 10);
	}
	/* drain a body we do not need */
	long have = (long) (len - head_len);
	while (have < content_length) {
		ssize_t n = recv(fd, buf, sizeof(buf), 0);
		if (n <= 0)
			break;
		have += n;
	}
	return 0;
}

static void challenge(int fd, const char *error)
{
	char h[512];
	snprintf(h, sizeof(h), "WWW-Authenticate: Bearer realm=\"http://127.0.0.1:%d/token\",service=\"fake-registry\"%s%s%s\r\n",
		 F.port1, error ? ",error=\"" : "", error ? error : "", error ? "\"" : "");
	respond_json(fd, 401, "Unauthorized", h,
		     "{\"errors\":[{\"code\":\"UNAUTHORIZED\",\"message\":\"authentication required\"}]}");
}

static int blob_index(const char *target)
{
	const char *prefix = "/v2/" FAKE_REPO "/blobs/";
	if (strncmp(target, prefix, strlen(prefix)) != 0)
		return 0;
	const char *d = target + strlen(prefix);
	for (int i = 1; i <= 6; i++)
		if (strcmp(d, F.digest[i]) == 0)
			return i;
	return 0;
}

static long range_start(const char *range)
{
	if (strncmp(range, "bytes=", 6) != 0)
		return -1;
	return strtol(range + 6, NULL, 10);
}

static void serve_blob_range(int fd, int i, const char *range)
{
	long start = range[0] ? range_start(range) : 0;
	if (range[0] && start >= 0 && (size_t) start < F.blob_len[i]) {
		char h[256];
		snprintf(h, sizeof(h), "Content-Range: bytes %ld-%zu/%zu\r\n", start, F.blob_len[i] - 1, F.blob_len[i]);
		size_t n = F.blob_len[i] - (size_t) start;
		respond(fd, 206, "Partial Content", h, F.blob[i] + start, n, n);
		return;
	}
	respond(fd, 200, "OK", NULL, F.blob[i], F.blob_len[i], F.blob_len[i]);
}

static void handle_main(int fd, const struct http_request *rq)
{
	char h[1024];
	const char *t = rq->target;

	if (strncmp(t, "/token", 6) == 0) {
		pthread_mutex_lock(&F.mu);
		F.s.token_requests++;
		snprintf(F.s.last_token_query, sizeof(F.s.last_token_query), "%s", t);
		snprintf(F.s.last_token_auth, sizeof(F.s.last_token_auth), "%s", rq->auth);
		snprintf(F.s.token, sizeof(F.s.token), "tok%d", F.s.token_requests);
		char body[256];
		/* alternate between the two field names registries use */
		snprintf(body, sizeof(body), "{\"%s\":\"%s\",\"expires_in\":300}",
			 F.s.token_requests % 2 ? "token" : "access_token", F.s.token);
		pthread_mutex_unlock(&F.mu);
		respond_json(fd, 200, "OK", NULL, body);
		return;
	}
	if (strncmp(t, "/local/blob2", 12) == 0) {
		pthread_mutex_lock(&F.mu);
		F.s.b2_local_hits++;
		if (rq->auth[0])
			F.s.b2_local_auth++;
		pthread_mutex_unlock(&F.mu);
		respond(fd, 200, "OK", NULL, F.blob[2], F.blob_len[2], F.blob_len[2]);
		return;
	}
	if (strncmp(t, "/v2/", 4) != 0) {
		respond(fd, 404, "Not Found", NULL, "", 0, 0);
		return;
	}
	/* Everything under /v2/ wants the current Bearer token */
	pthread_mutex_lock(&F.mu);
	char want[80];
	snprintf(want, sizeof(want), "Bearer %s", F.s.token);
	bool authed = F.s.token[0] && strcmp(rq->auth, want) == 0;
	bool revoked = false;
	if (authed && F.s.revoke) {
		F.s.revoke = false;
		F.s.token[0] = '\0';
		revoked = true;
	}
	pthread_mutex_unlock(&F.mu);
	if (revoked) {
		challenge(fd, "invalid_token");
		return;
	}
	if (!authed) {
		challenge(fd, NULL);
		return;
	}
	if (strcmp(t, "/v2/") == 0) {
		respond_json(fd, 200, "OK", NULL, "{}");
		return;
	}
	int bi = blob_index(t);
	pthread_mutex_lock(&F.mu);
	int hits = 0;
	switch (bi) {
	case 3: hits = ++F.s.b3_hits; if (rq->range[0]) snprintf(F.s.b3_range, sizeof(F.s.b3_range), "%s", rq->range); break;
	case 4: hits = ++F.s.b4_hits; break;
	case 5: hits = ++F.s.b5_hits; break;
	case 6: hits = ++F.s.b6_hits; break;
	default: break;
	}
	pthread_mutex_unlock(&F.mu);
	switch (bi) {
	case 1:
		snprintf(h, sizeof(h), "Location: http://127.0.0.2:%d/cdn/blob1?sig=abc\r\n", F.port2);
		respond(fd, 307, "Temporary Redirect", h, "", 0, 0);
		return;
	case 2:
		respond(fd, 302, "Found", "Location: /local/blob2\r\n", "", 0, 0);
		return;
	case 3:
		if (hits == 1) {   /* first transfer breaks after a third of the body */
			respond(fd, 200, "OK", NULL, F.blob[3], F.blob_len[3], F.blob_len[3] / 3);
			return;
		}
		serve_blob_range(fd, 3, rq->range);
		return;
	case 4:
		if (hits == 1)
			respond(fd, 200, "OK", NULL, F.blob[4], F.blob_len[4], F.blob_len[4] / 3);
		else
			respond(fd, 200, "OK", NULL, F.blob[4], F.blob_len[4], F.blob_len[4]);  /* ignores Range */
		return;
	case 5:
		if (hits == 1)
			respond_json(fd, 429, "Too Many Requests", "Retry-After: 1\r\n",
				     "{\"errors\":[{\"code\":\"TOOMANYREQUESTS\",\"message\":\"slow down\"}]}");
		else
			serve_blob_range(fd, 5, rq->range);
		return;
	case 6:
		if (hits <= 2)
			respond(fd, 503, "Service Unavailable", NULL, "busy", 4, 4);
		else
			serve_blob_range(fd, 6, rq->range);
		return;
	default:
		break;
	}
	if (strcmp(t, "/v2/" FAKE_REPO "/blobs/sha256:" "1111111111111111111111111111111111111111111111111111111111111111") == 0) {
		/* a redirect loop */
		snprintf(h, sizeof(h), "Location: %s\r\n", t);
		respond(fd, 302, "Found", h, "", 0, 0);
		return;
	}
	const char *mprefix = "/v2/" FAKE_REPO "/manifests/";
	if (strncmp(t, mprefix, strlen(mprefix)) == 0) {
		const char *ref = t + strlen(mprefix);
		const char *body = F.manifest_body;
		if (strcmp(ref, "good") == 0 || strcmp(ref, F.manifest_digest) == 0) {
			snprintf(h, sizeof(h), "Content-Type: %s\r\nDocker-Content-Digest: %s\r\n", MT_OCI_MANIFEST,
				 F.manifest_digest);
			respond(fd, 200, "OK", h, body, strlen(body), strlen(body));
		} else if (strcmp(ref, "bad-dcd") == 0) {
			snprintf(h, sizeof(h), "Content-Type: %s\r\nDocker-Content-Digest: sha256:%064d\r\n",
				 MT_OCI_MANIFEST, 0);
			respond(fd, 200, "OK", h, body, strlen(body), strlen(body));
		} else if (strncmp(ref, "sha256:", 7) == 0) {
			/* asked by a digest the body does not have */
			snprintf(h, sizeof(h), "Content-Type: %s\r\n", MT_OCI_MANIFEST);
			respond(fd, 200, "OK", h, body, strlen(body), strlen(body));
		} else if (strcmp(ref, "huge") == 0) {
			static char big[65536];
			memset(big, ' ', sizeof(big));
			respond(fd, 200, "OK", "Content-Type: application/vnd.oci.image.manifest.v1+json\r\n", big,
				(size_t) 5 * 1024 * 1024, sizeof(big));
		} else if (strcmp(ref, "denied") == 0) {
			respond_json(fd, 403, "Forbidden", NULL,
				     "{\"errors\":[{\"code\":\"DENIED\",\"message\":\"quota exceeded for fake/img\"}]}");
		} else {
			respond_json(fd, 404, "Not Found", NULL,
				     "{\"errors\":[{\"code\":\"MANIFEST_UNKNOWN\",\"message\":\"manifest unknown\"}]}");
		}
		return;
	}
	respond_json(fd, 404, "Not Found", NULL, "{\"errors\":[{\"code\":\"NAME_UNKNOWN\",\"message\":\"unknown\"}]}");
}

static void handle_other(int fd, const struct http_request *rq)
{
	if (strncmp(rq->target, "/cdn/blob1", 10) == 0) {
		pthread_mutex_lock(&F.mu);
		F.s.b1_other_hits++;
		if (rq->auth[0])
			F.s.b1_other_auth++;
		pthread_mutex_unlock(&F.mu);
		serve_blob_range(fd, 1, rq->range);
		return;
	}
	respond(fd, 404, "Not Found", NULL, "", 0, 0);
}

static void *fake_main(void *arg)
{
	struct pollfd pfd[3] = {
		{ .fd = F.l1, .events = POLLIN }, { .fd = F.l2, .events = POLLIN }, { .fd = F.stop_pipe[0], .events = POLLIN },
	};
	for (;;) {
		if (poll(pfd, 3, -1) < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		if (pfd[2].revents)
			break;
		for (int i = 0; i < 2; i++) {
			if (!(pfd[i].revents & POLLIN))
				continue;
			int c = accept4(pfd[i].fd, NULL, NULL, SOCK_CLOEXEC);
			if (c < 0)
				continue;
			struct timeval tv = { .tv_sec = 5 };
			setsockopt(c, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
			struct http_request rq;
			if (read_request(c, &rq) == 0) {
				if (rq.tls)
					send_all(c, "HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n", 47);
				else if (i == 0)
					handle_main(c, &rq);
				else
					handle_other(c, &rq);
			}
			shutdown(c, SHUT_WR);
			/* let the client read what we sent before the socket goes away */
			char sink[4096];
			while (recv(c, sink, sizeof(sink), 0) > 0)
				;
			close(c);
		}
	}
	return NULL;
}

static int listen_on(const char *addr, int *port)
{
	int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	int one = 1;
	setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	struct sockaddr_in sa = { .sin_family = AF_INET };
	inet_pton(AF_INET, addr, &sa.sin_addr);
	if (bind(s, (struct sockaddr *) &sa, sizeof(sa)) < 0 || listen(s, 16) < 0) {
		close(s);
		return -1;
	}
	socklen_t l = sizeof(sa);
	getsockname(s, (struct sockaddr *) &sa, &l);
	*port = ntohs(sa.sin_port);
	return s;
}

static int fake_start(void)
{
	static const size_t lens[7] = { 0, B1_LEN, B2_LEN, B3_LEN, B4_LEN, B5_LEN, B6_LEN };
	pthread_mutex_init(&F.mu, NULL);
	for (int i = 1; i <= 6; i++) {
		F.blob_len[i] = lens[i];
		F.blob[i] = malloc(lens[i]);
		fill_random(F.blob[i], lens[i], 100 + (unsigned) i);
		berth_digest_buf(F.blob[i], lens[i], F.digest[i]);
	}
	snprintf(F.manifest_body, sizeof(F.manifest_body),
		 "{\"schemaVersion\":2,\"mediaType\":\"%s\",\"layers\":[]}", MT_OCI_MANIFEST);
	berth_digest_buf(F.manifest_body, strlen(F.manifest_body), F.manifest_digest);
	F.l1 = listen_on("127.0.0.1", &F.port1);
	F.l2 = listen_on("127.0.0.2", &F.port2);
	if (F.l1 < 0 || F.l2 < 0 || pipe2(F.stop_pipe, O_CLOEXEC) < 0)
		return -1;
	return pthread_create(&F.thread, NULL, fake_main, NULL) == 0 ? 0 : -1;
}

static void fake_stop(void)
{
	if (write(F.stop_pipe[1], "x", 1) == 1)
		pthread_join(F.thread, NULL);
	close(F.l1);
	close(F.l2);
	close(F.stop_pipe[0]);
	close(F.stop_pipe[1]);
	for (int i = 1; i <= 6; i++)
		free(F.blob[i]);
}

/* ------------------------------------------------------------------ group setup */

static int group_setup(void **state)
{
	snprintf(T.tmp, sizeof(T.tmp), "/tmp/berth-test-registry-XXXXXX");
	if (!mkdtemp(T.tmp))
		return -1;
	char p[256];
	/* keep the host's credentials and trust settings out of the tests */
	snprintf(p, sizeof(p), "%s/no-auth.json", T.tmp);
	setenv("REGISTRY_AUTH_FILE", p, 1);
	snprintf(p, sizeof(p), "%s/no-registries.json", T.tmp);
	setenv("BERTH_REGISTRIES_CONF", p, 1);

	if (fake_start() < 0)
		return -1;
	T.have_registry = access(REGISTRY_BIN, X_OK) == 0;
	if (!T.have_registry) {
		fprintf(stderr, "# %s is missing: skipping the tests against a real registry\n", REGISTRY_BIN);
		return 0;
	}
	int k = dreg_start(&T.open, "open", false);
	if (k == 0)
		k = dreg_start(&T.basic, "basic", true);
	if (k < 0) {
		fprintf(stderr, "# starting docker-registry failed: %s\n", strerror(-k));
		return -1;
	}
	return 0;
}

static int group_teardown(void **state)
{
	dreg_stop(&T.open);
	dreg_stop(&T.basic);
	fake_stop();
	char cmd[300];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", T.tmp);
	if (system(cmd) != 0)
		fprintf(stderr, "# could not remove %s\n", T.tmp);
	return 0;
}

#define NEED_REGISTRY()                                                                        \
	do {                                                                                   \
		if (!T.have_registry) {                                                        \
			fprintf(stderr, "# skipped: " REGISTRY_BIN " not installed\n");        \
			skip();                                                                \
		}                                                                              \
	} while (0)

static struct registry *open_repo(int port, const char *path, const struct registry_opts *opts)
{
	char s[256];
	snprintf(s, sizeof(s), "127.0.0.1:%d/%s", port, path);
	struct image_ref ref = { 0 };
	struct berth_error err = { 0 };
	assert_int_equal(image_ref_parse(s, &ref, &err), 0);
	struct registry *r = NULL;
	int k = registry_open(&ref, opts, &r, &err);
	if (k < 0)
		fprintf(stderr, "registry_open: %s\n", err.msg);
	assert_int_equal(k, 0);
	image_ref_clear(&ref);
	return r;
}

static void push_buf(struct registry *r, const void *data, size_t len, char digest[BERTH_DIGEST_MAX])
{
	struct berth_error err = { 0 };
	assert_int_equal(berth_digest_buf(data, len, digest), 0);
	_cleanup_close_ int fd = memfd_with(data, len);
	int k = registry_push_blob(r, digest, (int64_t) len, fd, &err);
	if (k < 0)
		fprintf(stderr, "push: %s\n", err.msg);
	assert_int_equal(k, 0);
}

/* ------------------------------------------------------------------ tests: docker-registry */

static void test_push_monolithic_and_range(void **state)
{
	NEED_REGISTRY();
	struct registry *r = open_repo(T.open.port, "test/mono", NULL);
	struct berth_error err = { 0 };
	size_t len = 200000;
	char *data = malloc(len);
	fill_random(data, len, 1);
	char digest[BERTH_DIGEST_MAX];
	assert_int_equal(berth_digest_buf(data, len, digest), 0);

	int64_t size = 0;
	assert_int_equal(registry_blob_exists(r, digest, &size, &err), 0);
	push_buf(r, data, len, digest);
	assert_int_equal(registry_blob_exists(r, digest, &size, &err), 1);
	assert_int_equal(size, (int64_t) len);

	struct buf b = { 0 };
	bool resumed = true;
	b.resumed_ptr = &resumed;
	assert_int_equal(registry_get_blob(r, digest, 0, buf_sink, &b, &resumed, &err), 0);
	assert_false(resumed);
	assert_int_equal(b.len, len);
	assert_memory_equal(b.data, data, len);
	buf_free(&b);

	/* from an offset: Range honoured, *resumed already true when the sink sees the first byte */
	b.resumed_ptr = &resumed;
	resumed = false;
	assert_int_equal(registry_get_blob(r, digest, 123456, buf_sink, &b, &resumed, &err), 0);
	assert_true(resumed);
	assert_true(b.resumed_at_first);
	assert_int_equal(b.len, len - 123456);
	assert_memory_equal(b.data, data + 123456, len - 123456);
	buf_free(&b);

	/* a wrong size is refused by the registry (digest check on its side) */
	char other[BERTH_DIGEST_MAX];
	assert_int_equal(berth_digest_buf("something else", 14, other), 0);
	_cleanup_close_ int fd = memfd_with(data, 1000);
	berth_error_clear(&err);
	int k = registry_push_blob(r, other, 1000, fd, &err);
	assert_int_equal(k, -EBADMSG);
	assert_non_null(strstr(err.msg, other));
	assert_int_equal(registry_blob_exists(r, other, NULL, &err), 0);

	free(data);
	registry_close(r);
}

static void test_push_chunked(void **state)
{
	NEED_REGISTRY();
	struct registry *r = open_repo(T.open.port, "test/chunked", NULL);
	struct berth_error err = { 0 };
	size_t len = (size_t) REGISTRY_CHUNK_SIZE + 300001;   /* two PATCHes, the second short */
	char *data = malloc(len);
	fill_random(data, len, 2);
	char digest[BERTH_DIGEST_MAX];
	push_buf(r, data, len, digest);
	int64_t size = 0;
	assert_int_equal(registry_blob_exists(r, digest, &size, &err), 1);
	assert_int_equal(size, (int64_t) len);
	struct buf b = { 0 };
	bool resumed = true;
	assert_int_equal(registry_get_blob(r, digest, 0, buf_sink, &b, &resumed, &err), 0);
	assert_false(resumed);
	assert_int_equal(b.len, len);
	assert_memory_equal(b.data, data, len);
	buf_free(&b);
	free(data);
	registry_close(r);
}

static void test_mount(void **state)
{
	NEED_REGISTRY();
	struct registry *src = open_repo(T.open.port, "test/src", NULL);
	struct registry *dst = open_repo(T.open.port, "test/dst", NULL);
	struct berth_error err = { 0 };
	char data[5000], digest[BERTH_DIGEST_MAX];
	fill_random(data, sizeof(data), 3);
	push_buf(src, data, sizeof(data), digest);
	assert_int_equal(registry_blob_exists(dst, digest, NULL, &err), 0);
	assert_int_equal(registry_mount_blob(dst, digest, "test/src", &err), 1);
	assert_int_equal(registry_blob_exists(dst, digest, NULL, &err), 1);

	/* a blob the source does not have: the registry wants an upload */
	char absent[BERTH_DIGEST_MAX];
	assert_int_equal(berth_digest_buf("absent", 6, absent), 0);
	assert_int_equal(registry_mount_blob(dst, absent, "test/src", &err), 0);
	assert_int_equal(registry_mount_blob(dst, digest, "../evil", &err), -EINVAL);
	registry_close(src);
	registry_close(dst);
}

static char *make_manifest(struct registry *r)
{
	char config[] = "{\"architecture\":\"amd64\",\"os\":\"linux\",\"rootfs\":{\"type\":\"layers\",\"diff_ids\":[]}}";
	char layer[3000];
	fill_random(layer, sizeof(layer), 4);
	char cd[BERTH_DIGEST_MAX], ld[BERTH_DIGEST_MAX];
	push_buf(r, config, strlen(config), cd);
	push_buf(r, layer, sizeof(layer), ld);
	char *m = NULL;
	assert_true(asprintf(&m,
			     "{\"schemaVersion\":2,\"mediaType\":\"%s\",\"config\":{\"mediaType\":\"%s\",\"digest\":\"%s\","
			     "\"size\":%zu},\"layers\":[{\"mediaType\":\"%s\",\"digest\":\"%s\",\"size\":%zu}]}",
			     MT_OCI_MANIFEST, MT_OCI_CONFIG, cd, strlen(config), MT_OCI_LAYER_GZ, ld, sizeof(layer)) > 0);
	return m;
}

static void test_manifest_roundtrip(void **state)
{
	NEED_REGISTRY();
	struct registry *r = open_repo(T.open.port, "test/app", NULL);
	struct berth_error err = { 0 };
	_cleanup_free_ char *m = make_manifest(r);
	char md[BERTH_DIGEST_MAX];
	assert_int_equal(berth_digest_buf(m, strlen(m), md), 0);

	int k = registry_put_manifest(r, "v1", MT_OCI_MANIFEST, m, strlen(m), &err);
	if (k < 0)
		fprintf(stderr, "put: %s\n", err.msg);
	assert_int_equal(k, 0);
	assert_int_equal(registry_put_manifest(r, md, MT_OCI_MANIFEST, m, strlen(m), &err), 0);

	/* by tag */
	char *body = NULL, *mt = NULL, dg[BERTH_DIGEST_MAX];
	size_t len = 0;
	assert_int_equal(registry_get_manifest(r, "v1", &body, &len, &mt, dg, &err), 0);
	assert_int_equal(len, strlen(m));
	assert_memory_equal(body, m, len);
	assert_int_equal(body[len], '\0');
	assert_string_equal(mt, MT_OCI_MANIFEST);
	assert_string_equal(dg, md);
	free(body);
	free(mt);

	/* by digest */
	assert_int_equal(registry_get_manifest(r, md, &body, &len, &mt, dg, &err), 0);
	assert_memory_equal(body, m, len);
	assert_string_equal(dg, md);
	free(body);
	free(mt);

	/* pushing by a digest that is not the document's is refused before anything is sent */
	char wrong[BERTH_DIGEST_MAX];
	assert_int_equal(berth_digest_buf("x", 1, wrong), 0);
	berth_error_clear(&err);
	assert_int_equal(registry_put_manifest(r, wrong, MT_OCI_MANIFEST, m, strlen(m), &err), -EBADMSG);

	/* unknown tag: ENOENT naming image and host */
	berth_error_clear(&err);
	body = NULL;
	assert_int_equal(registry_get_manifest(r, "nope", &body, &len, &mt, dg, &err), -ENOENT);
	assert_null(body);
	char want[128];
	snprintf(want, sizeof(want), "127.0.0.1:%d/test/app:nope not found on 127.0.0.1:%d", T.open.port, T.open.port);
	assert_non_null(strstr(err.msg, want));
	assert_non_null(strstr(err.msg, "manifest unknown"));

	/* unknown blob */
	berth_error_clear(&err);
	struct buf b = { 0 };
	assert_int_equal(registry_get_blob(r, wrong, 0, buf_sink, &b, NULL, &err), -ENOENT);
	assert_non_null(strstr(err.msg, wrong));
	assert_int_equal(b.len, 0);

	/* bad input */
	berth_error_clear(&err);
	assert_int_equal(registry_get_manifest(r, "sha256:abc", &body, &len, &mt, dg, &err), -EINVAL);
	berth_error_clear(&err);
	assert_int_equal(registry_get_manifest(r, "a/b", &body, &len, &mt, dg, &err), -EINVAL);
	registry_close(r);
}

struct conc {
	struct registry *r;
	char digest[BERTH_DIGEST_MAX];
	const char *data;
	size_t len;
	int64_t offset;
	int rc;
	bool ok;
};

static void *conc_main(void *arg)
{
	struct conc *c = arg;
	struct berth_error err = { 0 };
	for (int i = 0; i < 5; i++) {
		struct buf b = { 0 };
		bool resumed = false;
		c->rc = registry_get_blob(c->r, c->digest, c->offset, buf_sink, &b, &resumed, &err);
		c->ok = c->rc == 0 && b.len == c->len - (size_t) c->offset &&
			memcmp(b.data, c->data + c->offset, b.len) == 0 && resumed == (c->offset > 0);
		buf_free(&b);
		if (!c->ok)
			break;
	}
	return NULL;
}

static void test_concurrent_blobs(void **state)
{
	NEED_REGISTRY();
	struct registry *r = open_repo(T.open.port, "test/conc", NULL);
	enum { N = 6 };
	struct conc c[N];
	char *data[N];
	pthread_t th[N];
	for (int i = 0; i < N; i++) {
		data[i] = malloc(400000);
		fill_random(data[i], 400000, 50 + (unsigned) i);
		c[i] = (struct conc) { .r = r, .data = data[i], .len = 400000, .offset = i * 1000 };
		push_buf(r, data[i], 400000, c[i].digest);
	}
	/* a fresh registry object, so the threads race on the first probe too */
	registry_close(r);
	r = open_repo(T.open.port, "test/conc", NULL);
	for (int i = 0; i < N; i++) {
		c[i].r = r;
		assert_int_equal(pthread_create(&th[i], NULL, conc_main, &c[i]), 0);
	}
	for (int i = 0; i < N; i++) {
		pthread_join(th[i], NULL);
		assert_true(c[i].ok);
		free(data[i]);
	}
	registry_close(r);
}

static void test_basic_auth(void **state)
{
	NEED_REGISTRY();
	struct berth_error err = { 0 };
	char host[64];
	snprintf(host, sizeof(host), "127.0.0.1:%d", T.basic.port);

	/* anonymous: refused with the registry's words */
	struct registry *anon = open_repo(T.basic.port, "private/app", NULL);
	char *body = NULL, *mt = NULL, dg[BERTH_DIGEST_MAX];
	size_t len;
	assert_int_equal(registry_get_manifest(anon, "latest", &body, &len, &mt, dg, &err), -EACCES);
	assert_non_null(strstr(err.msg, "pull access denied for"));
	assert_non_null(strstr(err.msg, host));
	assert_non_null(strstr(err.msg, "authentication required"));
	registry_close(anon);

	/* explicit creds */
	struct registry_opts o;
	registry_opts_init(&o);
	o.username = "alice";
	o.password = "secret";
	struct registry *r = open_repo(T.basic.port, "private/app", &o);
	_cleanup_free_ char *m = make_manifest(r);
	berth_error_clear(&err);
	assert_int_equal(registry_put_manifest(r, "latest", MT_OCI_MANIFEST, m, strlen(m), &err), 0);
	assert_int_equal(registry_get_manifest(r, "latest", &body, &len, &mt, dg, &err), 0);
	assert_memory_equal(body, m, len);
	free(body);
	free(mt);
	registry_close(r);

	/* creds from an auth file (docker config.json) */
	char af[256];
	snprintf(af, sizeof(af), "%s/auth.json", T.tmp);
	char cfg[512];
	/* base64("alice:secret") */
	snprintf(cfg, sizeof(cfg), "{\"auths\":{\"%s\":{\"auth\":\"YWxpY2U6c2VjcmV0\"}}}", host);
	write_file(af, cfg);
	registry_opts_init(&o);
	o.auth_file = af;
	r = open_repo(T.basic.port, "private/app", &o);
	assert_int_equal(registry_get_manifest(r, "latest", &body, &len, &mt, dg, &err), 0);
	free(body);
	free(mt);
	registry_close(r);

	/* login checks */
	registry_opts_init(&o);
	o.username = "alice";
	o.password = "secret";
	assert_int_equal(registry_check_login(host, &o, &err), 0);
	o.password = "wrong";
	berth_error_clear(&err);
	assert_int_equal(registry_check_login(host, &o, &err), -EACCES);
	assert_non_null(strstr(err.msg, "login to"));
	assert_non_null(strstr(err.msg, "authentication required"));
	assert_null(strstr(err.msg, "wrong"));       /* secrets stay out of messages */
	registry_opts_init(&o);
	berth_error_clear(&err);
	assert_int_equal(registry_check_login(host, &o, &err), -EACCES);   /* no creds at all */
	registry_opts_init(&o);
	o.auth_file = af;
	assert_int_equal(registry_check_login(host, &o, &err), 0);
}

static void test_connection_refused(void **state)
{
	struct registry_opts o;
	registry_opts_init(&o);
	o.max_retries = -1;
	int port = free_port("127.0.0.1");
	struct registry *r = open_repo(port, "x/y", &o);
	struct berth_error err = { 0 };
	char *body = NULL, *mt = NULL, dg[BERTH_DIGEST_MAX];
	size_t len;
	assert_int_equal(registry_get_manifest(r, "latest", &body, &len, &mt, dg, &err), -ECONNREFUSED);
	assert_non_null(strstr(err.msg, "cannot reach registry 127.0.0.1:"));
	registry_close(r);
}

/* ------------------------------------------------------------------ tests: fake registry */

static struct registry *open_fake(bool creds)
{
	struct registry_opts o;
	registry_opts_init(&o);
	if (creds) {
		o.username = "alice";
		o.password = "pw";
	}
	return open_repo(F.port1, FAKE_REPO, &o);
}

static void test_token_and_redirects(void **state)
{
	struct registry *r = open_fake(true);
	struct berth_error err = { 0 };
	int tokens0 = fake_snap().token_requests;
	struct fake_state st;

	/* redirected to 127.0.0.2: the blob arrives, the Authorization header does not travel */
	struct buf b = { 0 };
	int k = registry_get_blob(r, F.digest[1], 0, buf_sink, &b, NULL, &err);
	if (k < 0)
		fprintf(stderr, "get_blob: %s\n", err.msg);
	assert_int_equal(k, 0);
	assert_int_equal(b.len, B1_LEN);
	assert_memory_equal(b.data, F.blob[1], B1_LEN);
	buf_free(&b);
	st = fake_snap();
	assert_int_equal(st.b1_other_hits, 1);
	assert_int_equal(st.b1_other_auth, 0);
	/* one token, fetched with Basic creds, for the pull scope of this repository */
	assert_int_equal(st.token_requests, tokens0 + 1);
	assert_string_equal(st.last_token_auth, "Basic YWxpY2U6cHc=");   /* alice:pw */
	assert_non_null(strstr(st.last_token_query, "service=fake-registry"));
	assert_non_null(strstr(st.last_token_query, "scope=repository%3afake%2fimg%3apull") ?:
			strstr(st.last_token_query, "scope=repository%3Afake%2Fimg%3Apull"));

	/* relative redirect on the same host: the header stays */
	assert_int_equal(registry_get_blob(r, F.digest[2], 0, buf_sink, &b, NULL, &err), 0);
	assert_int_equal(b.len, B2_LEN);
	assert_memory_equal(b.data, F.blob[2], B2_LEN);
	buf_free(&b);
	st = fake_snap();
	assert_int_equal(st.b2_local_hits, 1);
	assert_int_equal(st.b2_local_auth, 1);
	assert_int_equal(st.token_requests, tokens0 + 1);   /* cached */

	/* the server revokes the token: one refresh, then success */
	pthread_mutex_lock(&F.mu);
	F.s.revoke = true;
	pthread_mutex_unlock(&F.mu);
	char *body = NULL, *mt = NULL, dg[BERTH_DIGEST_MAX];
	size_t len;
	k = registry_get_manifest(r, "good", &body, &len, &mt, dg, &err);
	if (k < 0)
		fprintf(stderr, "get_manifest: %s\n", err.msg);
	assert_int_equal(k, 0);
	assert_string_equal(body, F.manifest_body);
	assert_string_equal(dg, F.manifest_digest);
	assert_string_equal(mt, MT_OCI_MANIFEST);
	free(body);
	free(mt);
	assert_int_equal(fake_snap().token_requests, tokens0 + 2);

	/* redirect loop */
	berth_error_clear(&err);
	assert_int_equal(registry_get_blob(r, "sha256:1111111111111111111111111111111111111111111111111111111111111111",
					   0, buf_sink, &b, NULL, &err), -ELOOP);
	registry_close(r);

	/* anonymous: the token endpoint sees no Authorization */
	r = open_fake(false);
	assert_int_equal(registry_get_blob(r, F.digest[2], 0, buf_sink, &b, NULL, &err), 0);
	buf_free(&b);
	st = fake_snap();
	assert_string_equal(st.last_token_auth, "");
	registry_close(r);
}

static void test_resume_mid_stream(void **state)
{
	struct registry *r = open_fake(false);
	struct berth_error err = { 0 };
	struct buf b = { 0 };
	bool resumed = true;
	int k = registry_get_blob(r, F.digest[3], 0, buf_sink, &b, &resumed, &err);
	if (k < 0)
		fprintf(stderr, "get_blob: %s\n", err.msg);
	assert_int_equal(k, 0);
	assert_false(resumed);     /* the call started at 0 */
	assert_int_equal(b.len, B3_LEN);
	assert_memory_equal(b.data, F.blob[3], B3_LEN);
	buf_free(&b);
	struct fake_state st = fake_snap();
	assert_int_equal(st.b3_hits, 2);
	long start = range_start(st.b3_range);
	assert_true(start > 0 && start <= B3_LEN / 3);

	/* the server ignores Range when resuming: -ESPIPE, the caller restarts */
	berth_error_clear(&err);
	k = registry_get_blob(r, F.digest[4], 0, buf_sink, &b, &resumed, &err);
	assert_int_equal(k, -ESPIPE);
	assert_non_null(strstr(err.msg, "ignored Range"));
	assert_true(b.len > 0 && b.len <= B4_LEN / 3);
	assert_memory_equal(b.data, F.blob[4], b.len);   /* what the sink got is still a clean prefix */
	buf_free(&b);
	/* and the restart works */
	assert_int_equal(registry_get_blob(r, F.digest[4], 0, buf_sink, &b, &resumed, &err), 0);
	assert_int_equal(b.len, B4_LEN);
	assert_memory_equal(b.data, F.blob[4], B4_LEN);
	buf_free(&b);

	/* starting at an offset the server ignores: whole blob, *resumed false before the first byte */
	b.resumed_ptr = &resumed;
	resumed = true;
	assert_int_equal(registry_get_blob(r, F.digest[4], 1000, buf_sink, &b, &resumed, &err), 0);
	assert_false(resumed);
	assert_false(b.resumed_at_first);
	assert_int_equal(b.len, B4_LEN);
	buf_free(&b);
	registry_close(r);
}

static void test_retries(void **state)
{
	struct registry *r = open_fake(false);
	struct berth_error err = { 0 };
	struct buf b = { 0 };
	double t0 = now_s();
	int k = registry_get_blob(r, F.digest[5], 0, buf_sink, &b, NULL, &err);
	double t1 = now_s();
	if (k < 0)
		fprintf(stderr, "get_blob: %s\n", err.msg);
	assert_int_equal(k, 0);
	assert_int_equal(b.len, B5_LEN);
	buf_free(&b);
	assert_true(t1 - t0 >= 0.95);    /* Retry-After: 1 honoured */
	assert_int_equal(fake_snap().b5_hits, 2);

	t0 = now_s();
	assert_int_equal(registry_get_blob(r, F.digest[6], 0, buf_sink, &b, NULL, &err), 0);
	t1 = now_s();
	assert_int_equal(b.len, B6_LEN);
	assert_memory_equal(b.data, F.blob[6], B6_LEN);
	buf_free(&b);
	assert_true(t1 - t0 >= 0.55);    /* 200 ms + 400 ms backoff */
	assert_int_equal(fake_snap().b6_hits, 3);
	registry_close(r);
}

static void test_manifest_verification(void **state)
{
	struct registry *r = open_fake(false);
	struct berth_error err = { 0 };
	char *body = NULL, *mt = NULL, dg[BERTH_DIGEST_MAX];
	size_t len = 0;

	assert_int_equal(registry_get_manifest(r, F.manifest_digest, &body, &len, &mt, dg, &err), 0);
	assert_string_equal(dg, F.manifest_digest);
	free(body);
	free(mt);

	/* tag whose Docker-Content-Digest does not match the body */
	body = NULL;
	assert_int_equal(registry_get_manifest(r, "bad-dcd", &body, &len, &mt, dg, &err), -EBADMSG);
	assert_null(body);
	assert_non_null(strstr(err.msg, "digest mismatch"));

	/* asked by a digest, served something else (a tampered digest) */
	char tampered[BERTH_DIGEST_MAX];
	snprintf(tampered, sizeof(tampered), "%s", F.manifest_digest);
	tampered[10] = tampered[10] == 'a' ? 'b' : 'a';
	berth_error_clear(&err);
	assert_int_equal(registry_get_manifest(r, tampered, &body, &len, &mt, dg, &err), -EBADMSG);
	assert_null(body);
	assert_non_null(strstr(err.msg, tampered));

	/* larger than 4 MiB */
	berth_error_clear(&err);
	assert_int_equal(registry_get_manifest(r, "huge", &body, &len, &mt, dg, &err), -EFBIG);
	assert_null(body);

	/* the registry's JSON error text reaches the message */
	berth_error_clear(&err);
	assert_int_equal(registry_get_manifest(r, "denied", &body, &len, &mt, dg, &err), -EACCES);
	assert_non_null(strstr(err.msg, "quota exceeded for fake/img"));
	assert_non_null(strstr(err.msg, "pull access denied for 127.0.0.1:"));

	berth_error_clear(&err);
	assert_int_equal(registry_get_manifest(r, "missing", &body, &len, &mt, dg, &err), -ENOENT);
	assert_non_null(strstr(err.msg, "/fake/img:missing not found on 127.0.0.1:"));
	registry_close(r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_token_and_redirects),
		cmocka_unit_test(test_resume_mid_stream),
		cmocka_unit_test(test_retries),
		cmocka_unit_test(test_manifest_verification),
		cmocka_unit_test(test_connection_refused),
		cmocka_unit_test(test_push_monolithic_and_range),
		cmocka_unit_test(test_push_chunked),
		cmocka_unit_test(test_mount),
		cmocka_unit_test(test_manifest_roundtrip),
		cmocka_unit_test(test_concurrent_blobs),
		cmocka_unit_test(test_basic_auth),
	};
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
