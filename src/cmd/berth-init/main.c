/* berth-init — the minimal init that `berth run --init` puts at PID 1.
 *
 * A process running as PID 1 of a PID namespace gets no default signal
 * actions (SIGTERM does nothing unless it installs a handler) and inherits
 * every orphan, whose zombie nobody else reaps.  Most programs are written
 * for neither.  berth-init runs the real command as its only child and:
 *  - forwards every signal it can catch to that child (to the child's
 *    process group with -g), so `berth stop` reaches the program;
 *  - reaps every zombie that is reparented to it;
 *  - exits with the child's exit status, or 128 + signal number when the
 *    child was killed by a signal, as a shell reports it;
 *  - exits 127 (not found) or 126 (cannot execute) when the command cannot
 *    be run, with one line on stderr naming it.
 * It links only libc (statically when the toolchain can), so it runs in any
 * image.  The engine bind-mounts it read-only at /sbin/docker-init (the
 * path docker uses, so scripts that look for it keep working).
 *
 * usage: berth-init [-g] [--] COMMAND [ARG...]
 */
#include <errno.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

/* Signals that report a fault of this very process: never forwarded, keep
 * their default action so a bug here is not hidden. */
static bool synchronous(int sig)
{
	return sig == SIGFPE || sig == SIGILL || sig == SIGSEGV || sig == SIGBUS || sig == SIGABRT ||
	       sig == SIGTRAP || sig == SIGSYS;
}

static void usage(void)
{
	fputs("usage: berth-init [-g] [--] COMMAND [ARG...]\n"
	      "  -g  forward signals to the child's process group instead of the child only\n", stderr);
}

int main(int argc, char **argv)
{
	bool group = false;
	int i = 1;
	for (; i < argc && argv[i][0] == '-'; i++) {
		if (!strcmp(argv[i], "--")) {
			i++;
			break;
		}
		if (!strcmp(argv[i], "-g")) {
			group = true;
		} else if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
			usage();
			return 0;
		} else if (!strcmp(argv[i], "--version")) {
			printf("berth-init version %s\n", BERTH_VERSION);
			return 0;
		} else {
			fprintf(stderr, "berth-init: unknown option '%s'\n", argv[i]);
			usage();
			return 2;
		}
	}
	if (i >= argc) {
		usage();
		return 2;
	}
	char **cmd = argv + i;

	/* Not PID 1 (e.g. sharing another container's pid namespace): become the
	 * subreaper so the zombies still come here. */
	if (getpid() != 1)
		(void) prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0);

	sigset_t all, old;
	sigfillset(&all);
	for (int s = 1; s < NSIG; s++)
		if (synchronous(s))
			sigdelset(&all, s);
	sigprocmask(SIG_BLOCK, &all, &old);
	/* Handing the terminal to the child's group makes us a background
	 * process; stopping on terminal access must not happen to PID 1. */
	signal(SIGTTIN, SIG_IGN);
	signal(SIGTTOU, SIG_IGN);

	pid_t child = fork();
	if (child < 0) {
		fprintf(stderr, "berth-init: fork: %s\n", strerror(errno));
		return 1;
	}
	if (child == 0) {
		/* Its own process group, in the foreground of the terminal if any,
		 * so a ctrl-c on the terminal reaches it as it would without us. */
		setpgid(0, 0);
		if (isatty(STDIN_FILENO))
			(void) tcsetpgrp(STDIN_FILENO, getpid());
		signal(SIGTTIN, SIG_DFL);
		signal(SIGTTOU, SIG_DFL);
		sigprocmask(SIG_SETMASK, &old, NULL);
		execvp(cmd[0], cmd);
		int e = errno;
		fprintf(stderr, "berth-init: exec %s: %s\n", cmd[0], strerror(e));
		_exit(e == ENOENT || e == ENOTDIR ? 127 : 126);
	}
	/* Both sides set the group: whichever runs first, a signal sent right
	 * after the fork already finds it. */
	setpgid(child, child);

	for (;;) {
		siginfo_t si;
		int sig = sigwaitinfo(&all, &si);
		if (sig < 0) {
			if (errno == EINTR)
				continue;
			fprintf(stderr, "berth-init: sigwaitinfo: %s\n", strerror(errno));
			return 1;
		}
		if (sig != SIGCHLD) {
			if (kill(group ? -child : child, sig) < 0 && errno == ESRCH && group)
				(void) kill(child, sig);
			continue;
		}
		for (;;) {
			int st;
			pid_t pid = waitpid(-1, &st, WNOHANG);
			if (pid <= 0)
				break;
			if (pid != child)
				continue;
			/* The kernel kills what is left of the namespace once we exit. */
			if (WIFEXITED(st))
				return WEXITSTATUS(st);
			if (WIFSIGNALED(st))
				return 128 + WTERMSIG(st);
		}
	}
}
