#include "linux/hooks.h"
#include "core/cleanup.h"
#include "core/log.h"
#include "core/signals.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define HOOK_OUTPUT_MAX 4096

struct tail {
	char buf[HOOK_OUTPUT_MAX];
	size_t len;
};

static void tail_add(struct tail *t, const char *data, size_t n)
{
	if (n >= sizeof(t->buf)) {
		memcpy(t->buf, data + n - sizeof(t->buf), sizeof(t->buf));
		t->len = sizeof(t->buf);
		return;
	}
	if (t->len + n > sizeof(t->buf)) {
		size_t drop = t->len + n - sizeof(t->buf);
		memmove(t->buf, t->buf + drop, t->len - drop);
		t->len -= drop;
	}
	memcpy(t->buf + t->len, data, n);
	t->len += n;
}

/* The last non-empty line, made printable so the error stays one line. */
static void tail_last_line(const struct tail *t, char *out, size_t cap)
{
	size_t end = t->len;
	while (end > 0 && (t->buf[end - 1] == '\n' || t->buf[end - 1] == '\r' ||
			   t->buf[end - 1] == ' ' || t->buf[end - 1] == '\t'))
		end--;
	size_t start = end;
	while (start > 0 && t->buf[start - 1] != '\n')
		start--;
	size_t n = 0;
	for (size_t i = start; i < end && n + 1 < cap; i++) {
		unsigned char c = (unsigned char) t->buf[i];
		out[n++] = (c < 0x20 || c == 0x7f) ? '?' : (char) c;
	}
	out[n] = '\0';
}

/* Pipe ends at fd >= 3, so the child's dup2 onto 0/1/2 never clobbers one
 * with another when the caller runs with a standard fd closed. */
static int pipe_high(int p[2])
{
	int tmp[2];
	if (pipe2(tmp, O_CLOEXEC) < 0)
		return -errno;
	for (int i = 0; i < 2; i++) {
		if (tmp[i] >= 3) {
			p[i] = tmp[i];
			continue;
		}
		p[i] = fcntl(tmp[i], F_DUPFD_CLOEXEC, 3);
		int e = errno;
		close(tmp[i]);
		if (p[i] < 0) {
			if (i == 1)
				close(p[0]);
			else
				close(tmp[1]);
			return -e;
		}
	}
	return 0;
}

static void close_pair(int p[2])
{
	for (int i = 0; i < 2; i++)
		if (p[i] >= 0) {
			close(p[i]);
			p[i] = -1;
		}
}

static long long now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Only async-signal-safe calls: the caller may have threads. */
static __attribute__((noreturn)) void hook_child(const struct spec_hook *h, char *const argv[], char *const envp[],
						 int in_fd, int out_fd, int err_fd)
{
	sigset_t none;
	sigemptyset(&none);
	/* A hook starts like any program: nothing blocked, nothing ignored. */
	struct sigaction dfl = { .sa_handler = SIG_DFL };
	for (int sig = 1; sig < NSIG; sig++)
		sigaction(sig, &dfl, NULL);
	sigprocmask(SIG_SETMASK, &none, NULL);
	setpgid(0, 0);
	if (dup2(in_fd, 0) < 0 || dup2(out_fd, 1) < 0 || dup2(out_fd, 2) < 0) {
		int e = errno;
		(void) !write(err_fd, &e, sizeof(e));
		_exit(127);
	}
	close_range(3, ~0U, CLOSE_RANGE_CLOEXEC);
	execve(h->path, argv, envp);
	int e = errno;
	(void) !write(err_fd, &e, sizeof(e));
	_exit(127);
}

static int run_one(const struct spec_hook *h, size_t idx, const char *kind, const char *state,
		   struct berth_error *err)
{
	char *default_argv[] = { h->path, NULL };
	char *empty_env[] = { NULL };
	char *const *argv = h->args && h->args[0] ? h->args : default_argv;
	char *const *envp = h->env ? h->env : empty_env;
	size_t state_len = strlen(state), state_off = 0;

	int in[2] = { -1, -1 }, out[2] = { -1, -1 }, ep[2] = { -1, -1 };
	int r;
	if ((r = pipe_high(in)) < 0 || (r = pipe_high(out)) < 0 || (r = pipe_high(ep)) < 0) {
		close_pair(in);
		close_pair(out);
		return berth_errno(err, r, "%s[%zu] (%s): pipe", kind, idx, h->path);
	}

	pid_t pid = fork();
	if (pid < 0) {
		r = -errno;
		close_pair(in);
		close_pair(out);
		close_pair(ep);
		return berth_errno(err, r, "%s[%zu] (%s): fork", kind, idx, h->path);
	}
	if (pid == 0)
		hook_child(h, argv, envp, in[0], out[1], ep[1]);

	setpgid(pid, pid); /* whichever of us is first; EACCES after exec is fine */
	close(in[0]);
	close(out[1]);
	close(ep[1]);
	_cleanup_close_ int wfd = in[1], rfd = out[0], efd = ep[0];
	_cleanup_close_ int pidfd = (int) syscall(SYS_pidfd_open, pid, 0);
	fcntl(wfd, F_SETFL, O_NONBLOCK);
	fcntl(rfd, F_SETFL, O_NONBLOCK);
	if (state_len == 0)
		close(steal_fd(wfd));

	struct tail tail = { .len = 0 };
	long long deadline = h->has_timeout && h->timeout > 0 ? now_ms() + (long long) h->timeout * 1000 : -1;
	bool timed_out = false, exited = false;
	int status = 0;
	while (!exited) {
		struct pollfd pfd[3];
		int n = 0, i_w = -1, i_r = -1;
		if (wfd >= 0) {
			i_w = n;
			pfd[n++] = (struct pollfd) { .fd = wfd, .events = POLLOUT };
		}
		if (rfd >= 0) {
			i_r = n;
			pfd[n++] = (struct pollfd) { .fd = rfd, .events = POLLIN };
		}
		if (pidfd >= 0)
			pfd[n++] = (struct pollfd) { .fd = pidfd, .events = POLLIN };
		int timeout = -1;
		if (deadline >= 0) {
			long long left = deadline - now_ms();
			if (left <= 0) {
				timed_out = true;
				break;
			}
			timeout = left > 1000000 ? 1000000 : (int) left;
		}
		/* Without pidfds (before 5.3) look at the child now and then. */
		if (pidfd < 0 && (timeout < 0 || timeout > 50))
			timeout = 50;
		if (poll(pfd, (nfds_t) n, timeout) < 0 && errno != EINTR) {
			r = -errno;
			kill(-pid, SIGKILL);
			kill(pid, SIGKILL);
			waitpid(pid, NULL, 0);
			return berth_errno(err, r, "%s[%zu] (%s): poll", kind, idx, h->path);
		}
		if (i_w >= 0 && pfd[i_w].revents) {
			ssize_t w = write(wfd, state + state_off, state_len - state_off);
			if (w > 0)
				state_off += (size_t) w;
			/* EPIPE: the hook does not want the state; that is its call. */
			if (state_off == state_len || (w < 0 && errno != EAGAIN && errno != EINTR))
				close(steal_fd(wfd));
		}
		if (i_r >= 0 && pfd[i_r].revents) {
			char buf[4096];
			ssize_t got = read(rfd, buf, sizeof(buf));
			if (got > 0)
				tail_add(&tail, buf, (size_t) got);
			else if (got == 0 || (errno != EAGAIN && errno != EINTR))
				close(steal_fd(rfd));
		}
		pid_t w = waitpid(pid, &status, WNOHANG);
		if (w == pid)
			exited = true;
		else if (w < 0 && errno != EINTR) {
			r = -errno;
			return berth_errno(err, r, "%s[%zu] (%s): waitpid", kind, idx, h->path);
		}
	}
	if (timed_out) {
		kill(-pid, SIGKILL);
		kill(pid, SIGKILL);
		while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
			;
		return berth_err(err, ETIMEDOUT, "%s[%zu] (%s): timed out after %ds", kind, idx, h->path, h->timeout);
	}
	/* What the hook printed before exiting; a daemon it left behind may
	 * hold the pipe open, so take what is there and do not wait for EOF. */
	if (rfd >= 0) {
		char buf[4096];
		ssize_t got;
		while ((got = read(rfd, buf, sizeof(buf))) > 0)
			tail_add(&tail, buf, (size_t) got);
	}
	int exec_errno = 0;
	if (read(efd, &exec_errno, sizeof(exec_errno)) != (ssize_t) sizeof(exec_errno))
		exec_errno = 0;
	if (exec_errno)
		return berth_errno(err, exec_errno, "%s[%zu] (%s): cannot execute", kind, idx, h->path);

	char line[512];
	tail_last_line(&tail, line, sizeof(line));
	if (tail.len && berth_log_debug_enabled())
		log_debug("%s[%zu] (%s) output: %.*s", kind, idx, h->path, (int) tail.len, tail.buf);
	if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
		return 0;
	if (WIFEXITED(status))
		return berth_err(err, ECANCELED, "%s[%zu] (%s): exited with status %d%s%s", kind, idx, h->path,
				 WEXITSTATUS(status), *line ? ": " : "", line);
	int sig = WTERMSIG(status);
	const char *name = berth_signal_name(sig);
	return berth_err(err, ECANCELED, "%s[%zu] (%s): killed by signal %d (%s)%s%s", kind, idx, h->path, sig,
			 name ? name : "?", *line ? ": " : "", line);
}

static int run_hooks(const struct spec_hook *hooks, size_t n, const char *kind, const char *state_json,
		     bool keep_going, struct berth_error *err)
{
	if (n == 0)
		return 0;
	/* Writing the state to a hook that exited early raises SIGPIPE at this
	 * thread; keep it blocked and swallow only a SIGPIPE we caused. */
	sigset_t pipe_set, old_mask, pending;
	sigemptyset(&pipe_set);
	sigaddset(&pipe_set, SIGPIPE);
	sigemptyset(&pending);
	sigpending(&pending);
	bool was_pending = sigismember(&pending, SIGPIPE);
	pthread_sigmask(SIG_BLOCK, &pipe_set, &old_mask);

	int r = 0, failed = 0;
	for (size_t i = 0; i < n && (r == 0 || keep_going); i++) {
		struct berth_error one = { 0 };
		struct berth_error *e = keep_going ? &one : err;
		if (!hooks[i].path || hooks[i].path[0] != '/')
			r = berth_err(e, EINVAL, "%s[%zu].path: must be an absolute path", kind, i);
		else
			r = run_one(&hooks[i], i, kind, state_json ? state_json : "", e);
		if (r < 0 && keep_going) {
			log_warn("%s", one.msg);
			failed++;
		}
	}
	if (keep_going)
		r = failed;

	sigemptyset(&pending);
	sigpending(&pending);
	if (!was_pending && sigismember(&pending, SIGPIPE)) {
		struct timespec zero = { 0, 0 };
		sigtimedwait(&pipe_set, NULL, &zero);
	}
	pthread_sigmask(SIG_SETMASK, &old_mask, NULL);
	return r;
}

int linux_hooks_run(const struct spec_hook *hooks, size_t n, const char *kind, const char *state_json,
		    struct berth_error *err)
{
	return run_hooks(hooks, n, kind, state_json, false, err);
}

int linux_hooks_run_all(const struct spec_hook *hooks, size_t n, const char *kind, const char *state_json)
{
	return run_hooks(hooks, n, kind, state_json, true, NULL);
}
