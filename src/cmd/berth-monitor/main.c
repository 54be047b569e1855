/* berth-monitor — the per-container monitor (our conmon).
 *
 * One small single-threaded process per running container.  It detaches
 * from the berth command that spawned it (fork, setsid, fork), becomes the
 * child subreaper, owns the container's stdio (pipes, or the pty master
 * received on a console socket), runs `RUNTIME create` + `start`, writes the
 * output to the json-file log and to attached clients, reaps the container's
 * init when it exits, records the exit in status.json, deletes the runtime
 * state and, for --rm, execs the cleanup command.
 *
 * Promises to the caller (the engine):
 *  - When the process the caller started exits with 0, DIR/monitor.pid is
 *    written and DIR/attach.sock listens: a client that connects before it
 *    reads "ok" from the sync fd misses none of the container's output.
 *  - The sync fd receives exactly one line: "ok\n" once the container runs
 *    (status.json says running), or "error: TEXT\n" (status.json says
 *    exited with 127/126/1 and the runtime's error text); then EOF.
 *  - status.json is only ever replaced atomically.
 *  - After setup the event loop allocates nothing; SIGTERM/SIGINT/SIGHUP
 *    are ignored (the container's lifetime belongs to the runtime).
 *  - With --restart POLICY (no, on-failure[:N], always, unless-stopped) a
 *    container that exits is deleted from the runtime and created + started
 *    again after docker's backoff (100 ms, doubling, at most 1 min, back to
 *    100 ms after a run of 10 s or more), unless DIR/stopping exists (the
 *    engine creates it before it stops, kills or removes the container) or
 *    the bundle's config.json is gone.  Between runs status.json says
 *    "running" with pid 0, "restarting": true and the last exit; every
 *    status carries "restart_count" once it is not zero.  Attached clients
 *    get each run's exit frame and are let go.  Nothing restarts after the
 *    monitor itself is gone (host reboot): there is no daemon to do it.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "core/cleanup.h"
#include "core/error.h"
#include "core/fs.h"
#include "core/sock.h"
#include "engine/attach.h"
#include "engine/logfile.h"

#define CLIENT_STALL_MS 10000   /* a client that takes no output this long is dropped */
#define FINAL_SEND_MS 2000      /* how long the last frames may wait for a slow client */
#define ERRTEXT_MAX 4096

struct client {
	int fd;
	size_t pend_len;        /* a frame the client's socket had no room for */
	long long pend_since;   /* ms, CLOCK_MONOTONIC */
	uint8_t *pend;
};

struct monitor {
	/* options */
	const char *id;
	char bundle[PATH_MAX], rtroot[PATH_MAX], log_path[PATH_MAX], runtime[PATH_MAX];
	bool tty, open_stdin, have_log, attach_wait;
	int64_t log_max_size;
	int log_max_file;
	char **cleanup_argv;
	int sync_fd;

	int dirfd, devnull, sigfd, listen_fd;
	int out_fd, err_fd;     /* container output (tty: out_fd is the master) */
	int in_fd;              /* container stdin (pipe or master), -1 when closed */
	int master;
	bool close_stdin_pending;
	struct logfile_writer *log;

	pid_t ctr_pid;
	struct timespec started;
	bool exited;
	int exit_code;

	/* --restart (helper P2) */
	int restart_kind, restart_max, restart_count;
	bool restarting, runtime_deleted;

	struct client *clients;
	size_t nclients, cap_clients;
	struct pollfd *pfds;
	size_t cap_pfds;

	uint8_t *frame;         /* 1 type byte + ATTACH_DATA_MAX */
	uint8_t *inbuf;         /* stdin that the container has not taken yet */
	size_t in_len, in_off;
};

static long long now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void usage(FILE *f)
{
	fputs("usage: berth-monitor --id ID --bundle DIR --runtime PATH --runtime-root DIR\n"
	      "                     [--tty] [--stdin] [--log-path FILE] [--log-max-size BYTES]\n"
	      "                     [--log-max-file N] [--cleanup-arg ARG]... [--sync-fd N]\n"
	      "                     [--restart no|on-failure[:N]|always|unless-stopped]\n", f);
}

static int absolute(const char *in, char *out, size_t cap, bool must_exist)
{
	if (must_exist) {
		if (!realpath(in, out))
			return -errno;
		return 0;
	}
	if (in[0] == '/') {
		if (strlen(in) >= cap)
			return -ENAMETOOLONG;
		strcpy(out, in);
		return 0;
	}
	char cwd[PATH_MAX];
	if (!getcwd(cwd, sizeof(cwd)))
		return -errno;
	if (snprintf(out, cap, "%s/%s", cwd, in) >= (int) cap)
		return -ENAMETOOLONG;
	return 0;
}

/* How long --attach-wait waits for the first client before starting anyway. */
#define ATTACH_WAIT_MS 30000

/* ------------------------------------------------------------ restart policy (helper P2) */

enum { RESTART_NO, RESTART_ON_FAILURE, RESTART_ALWAYS, RESTART_UNLESS_STOPPED };
#define STOPPING_MARKER "stopping"   /* created by the engine before stop/kill/rm */
#define BACKOFF_START_MS 100
#define BACKOFF_MAX_MS 60000
#define BACKOFF_RESET_MS 10000       /* a run this long resets the backoff */

static int parse_restart(struct monitor *m, const char *v)
{
	if (!strcmp(v, "no")) {
		m->restart_kind = RESTART_NO;
	} else if (!strcmp(v, "always")) {
		m->restart_kind = RESTART_ALWAYS;
	} else if (!strcmp(v, "unless-stopped")) {
		m->restart_kind = RESTART_UNLESS_STOPPED;
	} else if (!strncmp(v, "on-failure", 10) && (v[10] == '\0' || v[10] == ':')) {
		m->restart_kind = RESTART_ON_FAILURE;
		if (v[10] == ':') {
			char *end;
			errno = 0;
			long n = strtol(v + 11, &end, 10);
			if (errno || end == v + 11 || *end || n < 0 || n > 1000000000)
				return -1;
			m->restart_max = (int) n;
		}
	} else {
		return -1;
	}
	return 0;
}
/* end restart policy */

static int parse_args(struct monitor *m, int argc, char **argv)
{
	enum { OPT_ID = 1000, OPT_BUNDLE, OPT_RUNTIME, OPT_RTROOT, OPT_TTY, OPT_STDIN, OPT_LOG, OPT_LOGSIZE, OPT_LOGFILES,
	       OPT_CLEANUP, OPT_SYNC, OPT_HELP, OPT_ATTACH_WAIT, OPT_RESTART };
	static const struct option opts[] = {
		{ "id", required_argument, NULL, OPT_ID },
		{ "bundle", required_argument, NULL, OPT_BUNDLE },
		{ "runtime", required_argument, NULL, OPT_RUNTIME },
		{ "runtime-root", required_argument, NULL, OPT_RTROOT },
		{ "tty", no_argument, NULL, OPT_TTY },
		{ "stdin", no_argument, NULL, OPT_STDIN },
		{ "attach-wait", no_argument, NULL, OPT_ATTACH_WAIT },
		{ "log-path", required_argument, NULL, OPT_LOG },
		{ "log-max-size", required_argument, NULL, OPT_LOGSIZE },
		{ "log-max-file", required_argument, NULL, OPT_LOGFILES },
		{ "cleanup-arg", required_argument, NULL, OPT_CLEANUP },
		{ "sync-fd", required_argument, NULL, OPT_SYNC },
		{ "restart", required_argument, NULL, OPT_RESTART },
		{ "help", no_argument, NULL, OPT_HELP },
		{ 0 },
	};
	const char *bundle = NULL, *runtime = NULL, *rtroot = NULL, *log = NULL;
	size_t ncleanup = 0;
	int c, r;
	m->cleanup_argv = calloc((size_t) argc + 1, sizeof(char *));
	if (!m->cleanup_argv)
		return -1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "+", opts, NULL)) != -1) {
		char *end;
		switch (c) {
		case OPT_ID: m->id = optarg; break;
		case OPT_BUNDLE: bundle = optarg; break;
		case OPT_RUNTIME: runtime = optarg; break;
		case OPT_RTROOT: rtroot = optarg; break;
		case OPT_TTY: m->tty = true; break;
		case OPT_STDIN: m->open_stdin = true; break;
		case OPT_ATTACH_WAIT: m->attach_wait = true; break;
		case OPT_LOG: log = optarg; break;
		case OPT_LOGSIZE:
			errno = 0;
			m->log_max_size = strtoll(optarg, &end, 10);
			if (errno || *end || end == optarg || m->log_max_size < 0) {
				fprintf(stderr, "berth-monitor: --log-max-size %s: not a byte count\n", optarg);
				return -1;
			}
			break;
		case OPT_LOGFILES:
			errno = 0;
			m->log_max_file = (int) strtol(optarg, &end, 10);
			if (errno || *end || end == optarg || m->log_max_file < 1) {
				fprintf(stderr, "berth-monitor: --log-max-file %s: must be a number >= 1\n", optarg);
				return -1;
			}
			break;
		case OPT_CLEANUP: m->cleanup_argv[ncleanup++] = optarg; break;
		case OPT_SYNC:
			errno = 0;
			m->sync_fd = (int) strtol(optarg, &end, 10);
			if (errno || *end || end == optarg || m->sync_fd < 0 || fcntl(m->sync_fd, F_GETFD) < 0) {
				fprintf(stderr, "berth-monitor: --sync-fd %s: not an open file descriptor\n", optarg);
				return -1;
			}
			break;
		case OPT_RESTART:
			if (parse_restart(m, optarg) < 0) {
				fprintf(stderr, "berth-monitor: --restart %s: must be no, on-failure[:N], always or "
					"unless-stopped\n", optarg);
				return -1;
			}
			break;
		case OPT_HELP:
			usage(stdout);
			exit(0);
		default:
			fprintf(stderr, "berth-monitor: unknown or incomplete option '%s'\n", argv[optind - 1]);
			usage(stderr);
			return -1;
		}
	}
	if (optind != argc) {
		fprintf(stderr, "berth-monitor: unexpected argument '%s'\n", argv[optind]);
		return -1;
	}
	const char *missing = !m->id ? "--id" : !bundle ? "--bundle" : !runtime ? "--runtime" :
			      !rtroot ? "--runtime-root" : NULL;
	if (missing) {
		fprintf(stderr, "berth-monitor: %s is required\n", missing);
		usage(stderr);
		return -1;
	}
	if (!*m->id || strchr(m->id, '/')) {
		fprintf(stderr, "berth-monitor: --id '%s': not a container id\n", m->id);
		return -1;
	}
	if ((r = absolute(bundle, m->bundle, sizeof(m->bundle), true)) < 0) {
		fprintf(stderr, "berth-monitor: --bundle %s: %s\n", bundle, strerror(-r));
		return -1;
	}
	if ((r = absolute(rtroot, m->rtroot, sizeof(m->rtroot), false)) < 0) {
		fprintf(stderr, "berth-monitor: --runtime-root %s: %s\n", rtroot, strerror(-r));
		return -1;
	}
	/* A bare name is looked up in PATH when it is run. */
	if (strchr(runtime, '/') ? (r = absolute(runtime, m->runtime, sizeof(m->runtime), false)) < 0 :
	    (size_t) snprintf(m->runtime, sizeof(m->runtime), "%s", runtime) >= sizeof(m->runtime)) {
		fprintf(stderr, "berth-monitor: --runtime %s: %s\n", runtime, strerror(r < 0 ? -r : ENAMETOOLONG));
		return -1;
	}
	if (!log && (m->log_max_size || m->log_max_file > 1)) {
		fprintf(stderr, "berth-monitor: --log-max-size and --log-max-file need --log-path\n");
		return -1;
	}
	if (log) {
		if ((r = absolute(log, m->log_path, sizeof(m->log_path), false)) < 0) {
			fprintf(stderr, "berth-monitor: --log-path %s: %s\n", log, strerror(-r));
			return -1;
		}
		m->have_log = true;
	}
	if (m->sync_fd >= 0)
		fcntl(m->sync_fd, F_SETFD, FD_CLOEXEC);
	return 0;
}

/* ------------------------------------------------------------ status */

static void sync_send(struct monitor *m, const char *line)
{
	if (m->sync_fd < 0)
		return;
	berth_write_all(m->sync_fd, line, strlen(line));
	close(m->sync_fd);
	m->sync_fd = -1;
}

static void write_status(struct monitor *m, const char *state, const char *error)
{
	char buf[ERRTEXT_MAX * 6 + 512], st[48], fin[48];
	struct timespec now;
	int n = snprintf(buf, sizeof(buf), "{\"state\":\"%s\"", state);
	if (m->ctr_pid > 0)
		n += snprintf(buf + n, sizeof(buf) - (size_t) n, ",\"pid\":%d", (int) m->ctr_pid);
	if (m->started.tv_sec) {
		logfile_format_time(&m->started, false, st, sizeof(st));
		n += snprintf(buf + n, sizeof(buf) - (size_t) n, ",\"started_at\":\"%s\"", st);
	}
	if (m->restart_count)
		n += snprintf(buf + n, sizeof(buf) - (size_t) n, ",\"restart_count\":%d", m->restart_count);
	if (m->restarting)
		n += snprintf(buf + n, sizeof(buf) - (size_t) n, ",\"restarting\":true");
	if (strcmp(state, "exited") == 0 || m->restarting) {
		clock_gettime(CLOCK_REALTIME, &now);
		logfile_format_time(&now, false, fin, sizeof(fin));
		n += snprintf(buf + n, sizeof(buf) - (size_t) n, ",\"finished_at\":\"%s\",\"exit_code\":%d",
			      fin, m->exit_code);
	}
	if (error) {
		size_t el = strlen(error);
		if (el > ERRTEXT_MAX)
			el = ERRTEXT_MAX;
		n += snprintf(buf + n, sizeof(buf) - (size_t) n, ",\"error\":\"");
		n += (int) logfile_json_escape(buf + n, error, el);
		n += snprintf(buf + n, sizeof(buf) - (size_t) n, "\"");
	}
	n += snprintf(buf + n, sizeof(buf) - (size_t) n, "}\n");
	berth_write_file_replace(m->dirfd, "status.json", buf, (size_t) n, 0644);
}

/* ------------------------------------------------------------ runtime */

static pid_t spawn(struct monitor *m, char *const argv[], int in, int out, int errfd)
{
	pid_t pid = fork();
	if (pid != 0)
		return pid;
	int fds[3] = { in, out, errfd };
	/* Move the sources above 2 first, so one dup2 cannot clobber another. */
	for (int i = 0; i < 3; i++)
		if (fds[i] < 3)
			fds[i] = fcntl(fds[i], F_DUPFD_CLOEXEC, 3);
	for (int i = 0; i < 3; i++)
		if (dup2(fds[i], i) < 0)
			_exit(127);
	sigset_t all;
	sigemptyset(&all);
	sigprocmask(SIG_SETMASK, &all, NULL);
	signal(SIGPIPE, SIG_DFL);
	syscall(SYS_close_range, 3U, ~0U, 0U);
	execvp(argv[0], argv);
	dprintf(2, "cannot execute the OCI runtime %s: %s\n", argv[0], strerror(errno));
	_exit(127);
}

static void keep_tail(char *text, size_t *len, const char *data, size_t n)
{
	if (n >= ERRTEXT_MAX - 1) {
		data += n - (ERRTEXT_MAX - 1);
		n = ERRTEXT_MAX - 1;
	}
	if (*len + n > ERRTEXT_MAX - 1) {
		size_t drop = *len + n - (ERRTEXT_MAX - 1);
		memmove(text, text + drop, *len - drop);
		*len -= drop;
	}
	memcpy(text + *len, data, n);
	*len += n;
	text[*len] = '\0';
}

/* Wait for a runtime process while collecting what it writes to cap_fd
 * (nonblocking; may be shared with the container, which writes nothing
 * before `start`).  Returns its wait status. */
static int wait_runtime(pid_t pid, int cap_fd, char *text, size_t *tlen)
{
	int pidfd = (int) syscall(SYS_pidfd_open, pid, 0);
	int status = 0;
	char buf[1024];
	for (;;) {
		struct pollfd p[2] = { { .fd = cap_fd, .events = POLLIN }, { .fd = pidfd, .events = POLLIN } };
		if (cap_fd >= 0)
			poll(p, 2, pidfd >= 0 ? -1 : 50);
		ssize_t n;
		while (cap_fd >= 0 && (n = read(cap_fd, buf, sizeof(buf))) > 0)
			keep_tail(text, tlen, buf, (size_t) n);
		pid_t w = waitpid(pid, &status, cap_fd >= 0 ? WNOHANG : 0);
		if (w == pid || (w < 0 && errno != EINTR))
			break;
	}
	while (cap_fd >= 0) {
		ssize_t n = read(cap_fd, buf, sizeof(buf));
		if (n <= 0)
			break;
		keep_tail(text, tlen, buf, (size_t) n);
	}
	if (pidfd >= 0)
		close(pidfd);
	return status;
}

/* The runtime's last error line, unwrapped from logrus' text or JSON form
 * (runc, crun) to its message. */
static void error_line(const char *text, char *out, size_t cap)
{
	const char *end = text + strlen(text);
	while (end > text && (end[-1] == '\n' || end[-1] == '\r' || end[-1] == ' '))
		end--;
	const char *start = end;
	while (start > text && start[-1] != '\n')
		start--;
	const char *msg = NULL;
	char quote_end = '"';
	for (const char *p = start; p + 5 < end; p++) {
		if (strncmp(p, "msg=\"", 5) == 0) {
			msg = p + 5;
			break;
		}
		if (p + 7 < end && strncmp(p, "\"msg\":\"", 7) == 0) {
			msg = p + 7;
			break;
		}
	}
	size_t o = 0;
	if (msg) {
		for (const char *p = msg; p < end && *p != quote_end && o + 1 < cap; p++) {
			if (*p == '\\' && p + 1 < end)
				p++;
			out[o++] = *p;
		}
	} else {
		for (const char *p = start; p < end && o + 1 < cap; p++)
			out[o++] = *p;
	}
	out[o] = '\0';
	if (o == 0)
		snprintf(out, cap, "the OCI runtime failed without an error message");
}

/* docker's mapping of a failed exec to the container's exit code. */
static int exec_error_code(const char *msg)
{
	if (strstr(msg, "executable file not found") || strstr(msg, "no such file or directory"))
		return 127;
	if (strstr(msg, "permission denied"))
		return 126;
	return 1;
}

static int run_runtime(struct monitor *m, const char *cmd, bool force, char *text, size_t *tlen)
{
	char *argv[] = { m->runtime, "--root", m->rtroot, (char *) cmd, force ? "--force" : (char *) m->id,
			 force ? (char *) m->id : NULL, NULL };
	int p[2];
	if (pipe2(p, O_CLOEXEC) < 0)
		return -1;
	/* Only our end: the runtime's stderr stays blocking. */
	fcntl(p[0], F_SETFL, O_NONBLOCK);
	pid_t pid = spawn(m, argv, m->devnull, m->devnull, p[1]);
	close(p[1]);
	if (pid < 0) {
		close(p[0]);
		return -1;
	}
	int st = wait_runtime(pid, p[0], text, tlen);
	close(p[0]);
	return WIFEXITED(st) && WEXITSTATUS(st) == 0 ? 0 : -1;
}

static void delete_runtime_state(struct monitor *m, bool force)
{
	char text[ERRTEXT_MAX];
	size_t tlen = 0;
	text[0] = '\0';
	if (run_runtime(m, "delete", force, text, &tlen) < 0 && !force) {
		tlen = 0;
		run_runtime(m, "delete", true, text, &tlen);
	}
}

__attribute__((noreturn)) static void fail_start(struct monitor *m, const char *text)
{
	char msg[ERRTEXT_MAX], line[ERRTEXT_MAX + 16];
	error_line(text, msg, sizeof(msg));
	m->exit_code = exec_error_code(msg);
	write_status(m, "exited", msg);
	snprintf(line, sizeof(line), "error: %s\n", msg);
	sync_send(m, line);
	delete_runtime_state(m, true);
	/* console.sock too: a failure between its listen and the runtime's create leaves it */
	unlinkat(m->dirfd, "console.sock", 0);
	unlinkat(m->dirfd, ATTACH_SOCKET_NAME, 0);
	_exit(1);
}

static int start_container(struct monitor *m)
{
	char text[ERRTEXT_MAX], pidfile[PATH_MAX + 16], console[PATH_MAX + 16];
	size_t tlen = 0;
	int in_r = -1, out_w = -1, err_w = -1, cap_r = -1, console_l = -1;
	int p[2];
	text[0] = '\0';
	snprintf(pidfile, sizeof(pidfile), "%s/ctr.pid", m->bundle);
	snprintf(console, sizeof(console), "%s/console.sock", m->bundle);
	unlinkat(m->dirfd, "ctr.pid", 0);

	if (m->tty) {
		console_l = berth_unix_listen(console, SOCK_STREAM, 1);
		if (console_l < 0) {
			snprintf(text, sizeof(text), "console socket %s: %s", console, strerror(-console_l));
			fail_start(m, text);
		}
		if (pipe2(p, O_CLOEXEC) < 0)
			goto sys_fail;
		fcntl(p[0], F_SETFL, O_NONBLOCK);
		cap_r = p[0];
		err_w = p[1];
		out_w = m->devnull;
		in_r = m->devnull;
	} else {
		if (pipe2(p, O_CLOEXEC) < 0)
			goto sys_fail;
		m->out_fd = p[0];
		out_w = p[1];
		if (pipe2(p, O_CLOEXEC) < 0)
			goto sys_fail;
		m->err_fd = p[0];
		err_w = p[1];
		cap_r = m->err_fd;
		if (m->open_stdin) {
			if (pipe2(p, O_CLOEXEC) < 0)
				goto sys_fail;
			in_r = p[0];
			m->in_fd = p[1];
			fcntl(m->in_fd, F_SETFL, O_NONBLOCK);
		} else {
			in_r = m->devnull;
		}
		fcntl(m->out_fd, F_SETFL, O_NONBLOCK);
		fcntl(m->err_fd, F_SETFL, O_NONBLOCK);
	}

	char *argv[] = { m->runtime, "--root", m->rtroot, "create", "--bundle", m->bundle, "--pid-file", pidfile,
			 m->tty ? "--console-socket" : (char *) m->id, m->tty ? console : NULL, (char *) m->id, NULL };
	pid_t pid = spawn(m, argv, in_r, out_w, err_w);
	if (in_r != m->devnull)
		close(in_r);
	if (out_w != m->devnull)
		close(out_w);
	close(err_w);
	if (pid < 0)
		goto sys_fail;
	int st = wait_runtime(pid, cap_r, text, &tlen);
	if (m->tty)
		close(cap_r);
	if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
		if (console_l >= 0)
			unlink(console);
		fail_start(m, tlen ? text : "the OCI runtime's create failed");
	}
	if (m->tty) {
		/* The runtime sent the master before create returned. */
		int conn = accept4(console_l, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
		int master = -1;
		size_t got;
		char payload[256];
		if (conn >= 0) {
			fcntl(conn, F_SETFL, 0);
			berth_recv_fd(conn, &master, payload, sizeof(payload), &got);
			close(conn);
		}
		close(console_l);
		unlink(console);
		if (master < 0)
			fail_start(m, "the OCI runtime did not send the container's terminal on --console-socket");
		fcntl(master, F_SETFL, O_NONBLOCK);
		m->master = m->out_fd = m->in_fd = master;
	}

	{
		/* In a block: the sys_fail label below must not be in its scope. */
		_cleanup_free_ char *pidtxt = NULL;
		size_t plen;
		if (berth_read_file_at(m->dirfd, "ctr.pid", &pidtxt, &plen) < 0 || (m->ctr_pid = atoi(pidtxt)) <= 0)
			fail_start(m, "the OCI runtime wrote no container pid to ctr.pid");
	}

	tlen = 0;
	text[0] = '\0';
	if (run_runtime(m, "start", false, text, &tlen) < 0)
		fail_start(m, tlen ? text : "the OCI runtime's start failed");
	clock_gettime(CLOCK_REALTIME, &m->started);
	write_status(m, "running", NULL);
	sync_send(m, "ok\n");
	return 0;

sys_fail:
	snprintf(text, sizeof(text), "starting the OCI runtime: %s", strerror(errno));
	fail_start(m, text);
}

/* ------------------------------------------------------------ clients */

static void drop_client(struct monitor *m, size_t i)
{
	close(m->clients[i].fd);
	free(m->clients[i].pend);
	m->clients[i] = m->clients[--m->nclients];
}

static void accept_clients(struct monitor *m)
{
	for (;;) {
		int fd = accept4(m->listen_fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
		if (fd < 0)
			return;
		if (m->nclients == m->cap_clients) {
			size_t nc = m->cap_clients ? m->cap_clients * 2 : 4;
			struct client *n = realloc(m->clients, nc * sizeof(*n));
			struct pollfd *pf = realloc(m->pfds, (nc + 8) * sizeof(*pf));
			if (n)
				m->clients = n;
			if (pf)
				m->pfds = pf;
			if (!n || !pf) {
				close(fd);
				return;
			}
			m->cap_clients = nc;
			m->cap_pfds = nc + 8;
		}
		uint8_t *pend = malloc(ATTACH_FRAME_MAX);
		if (!pend) {
			close(fd);
			return;
		}
		m->clients[m->nclients++] = (struct client) { .fd = fd, .pend = pend };
		if (m->exited) {
			uint8_t f[5];
			size_t n = attach_encode_exit(f, m->exit_code);
			(void) !send(fd, f, n, MSG_DONTWAIT | MSG_NOSIGNAL);
		}
	}
}

/* Send one frame to every client.  A client whose socket is full keeps the
 * frame as pending (the event loop then stops reading output until it took
 * it); with wait_ms it is waited for instead, and dropped after that. */
static void broadcast(struct monitor *m, const uint8_t *frame, size_t len, int wait_ms)
{
	for (size_t i = 0; i < m->nclients;) {
		struct client *c = &m->clients[i];
		ssize_t n = send(c->fd, frame, len, MSG_DONTWAIT | MSG_NOSIGNAL);
		if (n < 0 && errno == EAGAIN && wait_ms > 0) {
			struct pollfd p = { .fd = c->fd, .events = POLLOUT };
			if (poll(&p, 1, wait_ms) > 0 && (p.revents & POLLOUT))
				continue;
		}
		if (n < 0 && errno == EAGAIN && wait_ms == 0) {
			memcpy(c->pend, frame, len);
			c->pend_len = len;
			c->pend_since = now_ms();
		} else if (n < 0 && errno != EINTR) {
			drop_client(m, i);
			continue;
		} else if (n < 0) {
			continue;
		}
		i++;
	}
}

static bool any_pending(struct monitor *m)
{
	for (size_t i = 0; i < m->nclients; i++)
		if (m->clients[i].pend_len)
			return true;
	return false;
}

static void flush_pending(struct monitor *m, size_t i)
{
	struct client *c = &m->clients[i];
	ssize_t n = send(c->fd, c->pend, c->pend_len, MSG_DONTWAIT | MSG_NOSIGNAL);
	if (n >= 0)
		c->pend_len = 0;
	else if (errno != EAGAIN && errno != EINTR)
		drop_client(m, i);
}

static void write_stdin(struct monitor *m)
{
	while (m->in_len > m->in_off && m->in_fd >= 0) {
		ssize_t n = write(m->in_fd, m->inbuf + m->in_off, m->in_len - m->in_off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			return;
		if (n < 0) {
			/* The container closed its stdin: what it never read is dropped. */
			m->in_len = m->in_off = 0;
			break;
		}
		m->in_off += (size_t) n;
	}
	m->in_len = m->in_off = 0;
	if (m->close_stdin_pending && m->in_fd >= 0 && m->in_fd != m->master) {
		close(m->in_fd);
		m->in_fd = -1;
		m->close_stdin_pending = false;
	}
}

static void client_input(struct monitor *m, size_t i)
{
	struct client *c = &m->clients[i];
	ssize_t n = recv(c->fd, m->frame, ATTACH_FRAME_MAX, MSG_DONTWAIT);
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n <= 0) {
		drop_client(m, i);
		return;
	}
	const uint8_t *payload = m->frame + 1;
	size_t len = (size_t) n - 1;
	unsigned short rows, cols;
	switch (m->frame[0]) {
	case ATTACH_STDIN:
		if (m->in_fd < 0 || !m->inbuf || len == 0)
			break;
		memcpy(m->inbuf, payload, len);
		m->in_len = len;
		m->in_off = 0;
		write_stdin(m);
		break;
	case ATTACH_CLOSE_STDIN:
		/* A terminal has no end-of-input to give: closing is for pipes. */
		if (m->in_fd >= 0 && m->in_fd != m->master) {
			m->close_stdin_pending = true;
			write_stdin(m);
		}
		break;
	case ATTACH_RESIZE:
		if (m->master >= 0 && attach_decode_resize(payload, len, &rows, &cols) == 0) {
			struct winsize ws = { .ws_row = rows, .ws_col = cols };
			ioctl(m->master, TIOCSWINSZ, &ws);
		}
		break;
	default:
		break;
	}
}

/* ------------------------------------------------------------ output */

/* Read one chunk of output; false at EOF (or a hung-up terminal). */
static bool read_output(struct monitor *m, int *fdp, int type, int wait_ms)
{
	ssize_t n = read(*fdp, m->frame + 1, ATTACH_DATA_MAX);
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return n < 0 && errno == EINTR;
	if (n <= 0) {
		/* EIO from a master: every slave fd is closed. */
		if (*fdp != m->master)
			close(*fdp);
		*fdp = -1;
		return false;
	}
	if (m->log)
		logfile_writer_feed(m->log, type == ATTACH_STDERR ? LOGFILE_STDERR : LOGFILE_STDOUT,
				    (const char *) m->frame + 1, (size_t) n);
	m->frame[0] = (uint8_t) type;
	broadcast(m, m->frame, (size_t) n + 1, wait_ms);
	return true;
}

static void reap(struct monitor *m)
{
	struct signalfd_siginfo si;
	while (read(m->sigfd, &si, sizeof(si)) == sizeof(si))
		;
	for (;;) {
		int st;
		pid_t pid = waitpid(-1, &st, WNOHANG);
		if (pid <= 0)
			return;
		if (pid == m->ctr_pid && !m->exited) {
			m->exited = true;
			m->exit_code = WIFEXITED(st) ? WEXITSTATUS(st) : WIFSIGNALED(st) ? 128 + WTERMSIG(st) : 1;
		}
	}
}

static void event_loop(struct monitor *m)
{
	/* Clients that connected while the container was being created (the
	 * engine's foreground run) are taken before any output is read. */
	accept_clients(m);
	while (!m->exited) {
		size_t n = 0;
		bool pending = any_pending(m);
		int timeout = -1;
		m->pfds[n++] = (struct pollfd) { .fd = m->sigfd, .events = POLLIN };
		m->pfds[n++] = (struct pollfd) { .fd = m->listen_fd, .events = POLLIN };
		m->pfds[n++] = (struct pollfd) { .fd = pending ? -1 : m->out_fd, .events = POLLIN };
		m->pfds[n++] = (struct pollfd) { .fd = pending ? -1 : m->err_fd, .events = POLLIN };
		m->pfds[n++] = (struct pollfd) { .fd = m->in_len ? m->in_fd : -1, .events = POLLOUT };
		size_t first_client = n;
		long long now = now_ms();
		for (size_t i = 0; i < m->nclients; i++) {
			struct client *c = &m->clients[i];
			short ev = m->in_len ? 0 : POLLIN;
			if (c->pend_len) {
				ev |= POLLOUT;
				long long left = c->pend_since + CLIENT_STALL_MS - now;
				if (left < 0)
					left = 0;
				if (timeout < 0 || left < timeout)
					timeout = (int) left;
			}
			/* While stdin is blocked, clients wait (their hang-up too). */
			m->pfds[n++] = (struct pollfd) { .fd = ev ? c->fd : -1, .events = ev };
		}
		if (poll(m->pfds, n, timeout) < 0)
			continue;
		if (m->pfds[0].revents)
			reap(m);
		if (m->pfds[2].revents)
			read_output(m, &m->out_fd, ATTACH_STDOUT, 0);
		if (m->pfds[3].revents)
			read_output(m, &m->err_fd, ATTACH_STDERR, 0);
		if (m->pfds[4].revents)
			write_stdin(m);
		/* Clients from the back, so dropping one (swap with the last) skips none. */
		now = now_ms();
		for (size_t i = m->nclients; i-- > 0;) {
			short re = m->pfds[first_client + i].revents;
			struct client *c = &m->clients[i];
			if (c->pend_len && (re & POLLOUT))
				flush_pending(m, i);
			else if (c->pend_len && now - c->pend_since >= CLIENT_STALL_MS)
				drop_client(m, i);
			else if ((re & (POLLIN | POLLHUP | POLLERR)) && m->in_len == 0)
				client_input(m, i);
		}
		/* Accept after serving: new clients are polled from the next round. */
		if (m->pfds[1].revents)
			accept_clients(m);
	}
}

/* Give clients what is pending and read what the container wrote before it died. */
static void drain_output(struct monitor *m)
{
	for (size_t i = m->nclients; i-- > 0;) {
		struct client *c = &m->clients[i];
		if (!c->pend_len)
			continue;
		struct pollfd p = { .fd = c->fd, .events = POLLOUT };
		if (poll(&p, 1, FINAL_SEND_MS) > 0 && send(c->fd, c->pend, c->pend_len, MSG_NOSIGNAL) >= 0)
			c->pend_len = 0;
		else
			drop_client(m, i);
	}
	/* Drain what the container wrote before it died; do not wait for EOF:
	 * a process outside the container's pid namespace may hold the pipe. */
	while (m->out_fd >= 0 && read_output(m, &m->out_fd, ATTACH_STDOUT, FINAL_SEND_MS))
		;
	while (m->err_fd >= 0 && read_output(m, &m->err_fd, ATTACH_STDERR, FINAL_SEND_MS))
		;
}

/* A foreground `run --rm` CLI removes the container itself as soon as it
 * sees the exit, holding CLEANUP_LOCK from before the start until it is done.
 * Wait for that lock: if the container's files are gone afterwards, the CLI
 * did the work; if the CLI died first, its lock went with it and the cleanup
 * falls to us.  Without an attached CLI the lock is free and we go on at once. */
#define CLEANUP_LOCK "cleanup.lock"
static bool cleanup_claimed(struct monitor *m)
{
	int fd = openat(m->dirfd, CLEANUP_LOCK, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return faccessat(m->dirfd, "config.json", F_OK, 0) < 0;
	while (flock(fd, LOCK_EX) < 0 && errno == EINTR)
		;
	close(fd);
	return faccessat(m->dirfd, "config.json", F_OK, 0) < 0;
}

static void finish(struct monitor *m)
{
	drain_output(m);
	if (m->log) {
		logfile_writer_close(m->log);
		m->log = NULL;
	}
	write_status(m, "exited", NULL);
	accept_clients(m);
	uint8_t f[5];
	size_t n = attach_encode_exit(f, m->exit_code);
	broadcast(m, f, n, FINAL_SEND_MS);
	while (m->nclients)
		drop_client(m, m->nclients - 1);
	char path[PATH_MAX + 32];
	snprintf(path, sizeof(path), "%s/%s", m->bundle, ATTACH_SOCKET_NAME);
	unlink(path);
	close(m->listen_fd);
	if (m->in_fd >= 0 && m->in_fd != m->master)
		close(m->in_fd);
	if (m->master >= 0)
		close(m->master);
	if (m->out_fd >= 0 && m->out_fd != m->master)
		close(m->out_fd);
	if (m->err_fd >= 0)
		close(m->err_fd);
	if (m->cleanup_argv[0] && cleanup_claimed(m))
		return;      /* the attached CLI removed everything, runtime state included */
	if (!m->runtime_deleted)
		delete_runtime_state(m, false);
}

/* ------------------------------------------------------------ restarts (helper P2) */

static bool stop_requested(struct monitor *m)
{
	return faccessat(m->dirfd, STOPPING_MARKER, F_OK, 0) == 0 || faccessat(m->dirfd, "config.json", F_OK, 0) < 0;
}

static bool want_restart(struct monitor *m)
{
	if (m->restart_kind == RESTART_NO || stop_requested(m))
		return false;
	if (m->restart_kind == RESTART_ON_FAILURE)
		return m->exit_code != 0 && (m->restart_max == 0 || m->restart_count < m->restart_max);
	return true;
}

/* One run is over and another follows: tell the clients how it ended, let
 * them go, and give the runtime's state back; the log and the attach socket
 * stay for the next run. */
static void end_run(struct monitor *m)
{
	drain_output(m);
	m->restarting = true;
	m->ctr_pid = 0;
	write_status(m, "running", NULL);
	uint8_t f[5];
	size_t n = attach_encode_exit(f, m->exit_code);
	broadcast(m, f, n, FINAL_SEND_MS);
	while (m->nclients)
		drop_client(m, m->nclients - 1);
	if (m->in_fd >= 0 && m->in_fd != m->master)
		close(m->in_fd);
	if (m->master >= 0)
		close(m->master);
	if (m->out_fd >= 0 && m->out_fd != m->master)
		close(m->out_fd);
	if (m->err_fd >= 0)
		close(m->err_fd);
	m->in_fd = m->out_fd = m->err_fd = m->master = -1;
	m->in_len = m->in_off = 0;
	m->close_stdin_pending = false;
	delete_runtime_state(m, false);
}

/* Wait out the backoff, reaping what comes; false when a stop came first. */
static bool backoff(struct monitor *m, long long ms)
{
	long long end = now_ms() + ms;
	for (;;) {
		if (stop_requested(m))
			return false;
		long long left = end - now_ms();
		if (left <= 0)
			return true;
		struct pollfd p = { .fd = m->sigfd, .events = POLLIN };
		if (poll(&p, 1, (int) (left < 50 ? left : 50)) > 0)
			reap(m);
	}
}

/* Run the container, and again per the restart policy, until it is done. */
static void run_with_restarts(struct monitor *m)
{
	long long delay = BACKOFF_START_MS;
	start_container(m);
	for (;;) {
		event_loop(m);
		if (!want_restart(m))
			return;
		struct timespec now;
		clock_gettime(CLOCK_REALTIME, &now);
		long long ran = (long long) (now.tv_sec - m->started.tv_sec) * 1000 +
				(now.tv_nsec - m->started.tv_nsec) / 1000000;
		if (ran >= BACKOFF_RESET_MS)
			delay = BACKOFF_START_MS;
		end_run(m);
		if (!backoff(m, delay)) {
			/* stopped while waiting: the runtime state is already gone */
			m->restarting = false;
			m->runtime_deleted = true;
			return;
		}
		delay = delay * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : delay * 2;
		m->restart_count++;
		m->restarting = false;
		m->exited = false;
		start_container(m);
		/* A stop that came while the runtime created it: end this run now. */
		if (stop_requested(m) && m->ctr_pid > 0)
			kill(m->ctr_pid, SIGKILL);
	}
}
/* end restarts */

/* ------------------------------------------------------------ main */

/* Detach from the caller: it waits for this first process, which returns
 * once the monitor is set up (or 1 when setup failed).  The grandchild is
 * no session leader, so it never gets a controlling terminal. */
static int daemonize(int *ready_w)
{
	int p[2];
	if (pipe2(p, O_CLOEXEC) < 0)
		return -errno;
	pid_t pid = fork();
	if (pid < 0)
		return -errno;
	if (pid > 0) {
		char c;
		int st;
		close(p[1]);
		ssize_t n;
		do
			n = read(p[0], &c, 1);
		while (n < 0 && errno == EINTR);
		waitpid(pid, &st, 0);
		_exit(n == 1 ? 0 : 1);
	}
	close(p[0]);
	if (setsid() < 0)
		_exit(1);
	pid = fork();
	if (pid < 0)
		_exit(1);
	if (pid > 0)
		_exit(0);
	*ready_w = p[1];
	return 0;
}

int main(int argc, char **argv)
{
	static struct monitor mon;
	struct monitor *m = &mon;
	m->sync_fd = -1;
	m->out_fd = m->err_fd = m->in_fd = m->master = m->listen_fd = -1;
	m->log_max_file = 1;
	if (parse_args(m, argc, argv) < 0)
		return 1;

	int ready = -1, r;
	if ((r = daemonize(&ready)) < 0) {
		fprintf(stderr, "berth-monitor: fork: %s\n", strerror(-r));
		return 1;
	}
	char text[PATH_MAX + 128];
	const char *what = NULL;
	bool wrote_pid = false;
	if (chdir("/") < 0) {
		what = "chdir /";
		goto setup_fail;
	}
	if (prctl(PR_SET_CHILD_SUBREAPER, 1) < 0) {
		what = "becoming a subreaper";
		goto setup_fail;
	}
	sigset_t mask;
	sigemptyset(&mask);
	sigaddset(&mask, SIGCHLD);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGHUP);
	sigaddset(&mask, SIGQUIT);
	sigprocmask(SIG_BLOCK, &mask, NULL);
	signal(SIGPIPE, SIG_IGN);
	m->sigfd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);
	if (m->sigfd < 0) {
		what = "signalfd";
		goto setup_fail;
	}
	m->devnull = open("/dev/null", O_RDWR | O_CLOEXEC);
	if (m->devnull < 0) {
		what = "opening /dev/null";
		goto setup_fail;
	}
	m->dirfd = open(m->bundle, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (m->dirfd < 0) {
		snprintf(text, sizeof(text), "berth-monitor: --bundle %s: %s", m->bundle, strerror(errno));
		goto setup_fail_text;
	}
	char pidbuf[32];
	int pl = snprintf(pidbuf, sizeof(pidbuf), "%d\n", (int) getpid());
	if ((r = berth_write_file_replace(m->dirfd, "monitor.pid", pidbuf, (size_t) pl, 0644)) < 0) {
		errno = -r;
		what = "writing monitor.pid in the bundle";
		goto setup_fail;
	}
	wrote_pid = true;
	if (m->have_log) {
		struct berth_error err = { 0 };
		if (logfile_writer_open(m->log_path, m->log_max_size, m->log_max_file, &m->log, &err) < 0) {
			snprintf(text, sizeof(text), "%s", err.msg);
			goto setup_fail_text;
		}
	}
	snprintf(text, sizeof(text), "%s/%s", m->bundle, ATTACH_SOCKET_NAME);
	m->listen_fd = berth_unix_listen(text, SOCK_SEQPACKET, SOMAXCONN);
	if (m->listen_fd < 0 || fchmodat(m->dirfd, ATTACH_SOCKET_NAME, 0600, 0) < 0) {
		int e = m->listen_fd < 0 ? -m->listen_fd : errno;
		char path[PATH_MAX + 32];
		snprintf(path, sizeof(path), "%s", text);
		snprintf(text, sizeof(text), "berth-monitor: attach socket %s: %s", path, strerror(e));
		goto setup_fail_text;
	}
	fcntl(m->listen_fd, F_SETFL, O_NONBLOCK);
	m->frame = malloc(ATTACH_FRAME_MAX);
	m->pfds = malloc(8 * sizeof(*m->pfds));
	m->cap_pfds = 8;
	if ((m->open_stdin || m->tty) && !(m->inbuf = malloc(ATTACH_DATA_MAX)))
		free(steal_ptr(m->frame));
	if (!m->frame || !m->pfds) {
		errno = ENOMEM;
		what = "allocating the attach buffers";
		goto setup_fail;
	}

	/* Set up: let the caller go, and stop holding its stdio. */
	(void) !write(ready, "1", 1);
	close(ready);
	dup2(m->devnull, 0);
	dup2(m->devnull, 1);
	dup2(m->devnull, 2);

	if (m->attach_wait) {
		/* A foreground run: the caller attaches before the container may say
		 * anything.  Bounded, so a caller that died does not stall the start. */
		struct pollfd lp = { .fd = m->listen_fd, .events = POLLIN };
		if (poll(&lp, 1, ATTACH_WAIT_MS) > 0)
			accept_clients(m);
	}
	/* A stop request belongs to the run it was made for. */
	unlinkat(m->dirfd, STOPPING_MARKER, 0);
	run_with_restarts(m);
	finish(m);
	if (m->cleanup_argv[0] && faccessat(m->dirfd, "config.json", F_OK, 0) == 0) {
		sigprocmask(SIG_UNBLOCK, &mask, NULL);
		signal(SIGPIPE, SIG_DFL);
		syscall(SYS_close_range, 3U, ~0U, 0U);
		execvp(m->cleanup_argv[0], m->cleanup_argv);
		_exit(127);
	}
	return 0;

setup_fail:
	snprintf(text, sizeof(text), "berth-monitor: %s: %s", what, strerror(errno));
setup_fail_text:
	fprintf(stderr, "%s\n", text);
	/* nothing of a monitor that never ran may stay behind in the bundle */
	if (m->listen_fd >= 0)
		unlinkat(m->dirfd, ATTACH_SOCKET_NAME, 0);
	if (wrote_pid)
		unlinkat(m->dirfd, "monitor.pid", 0);
	if (m->sync_fd >= 0) {
		char line[sizeof(text) + 16];
		snprintf(line, sizeof(line), "error: %s\n", text);
		sync_send(m, line);
	}
	return 1;
}
