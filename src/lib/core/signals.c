#include "core/signals.h"

#include <ctype.h>
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static const struct { const char *name; int sig; } table[] = {
	{ "HUP", SIGHUP }, { "INT", SIGINT }, { "QUIT", SIGQUIT }, { "ILL", SIGILL },
	{ "TRAP", SIGTRAP }, { "ABRT", SIGABRT }, { "IOT", SIGIOT }, { "BUS", SIGBUS },
	{ "FPE", SIGFPE }, { "KILL", SIGKILL }, { "USR1", SIGUSR1 }, { "SEGV", SIGSEGV },
	{ "USR2", SIGUSR2 }, { "PIPE", SIGPIPE }, { "ALRM", SIGALRM }, { "TERM", SIGTERM },
	{ "STKFLT", SIGSTKFLT }, { "CHLD", SIGCHLD }, { "CLD", SIGCHLD }, { "CONT", SIGCONT },
	{ "STOP", SIGSTOP }, { "TSTP", SIGTSTP }, { "TTIN", SIGTTIN }, { "TTOU", SIGTTOU },
	{ "URG", SIGURG }, { "XCPU", SIGXCPU }, { "XFSZ", SIGXFSZ }, { "VTALRM", SIGVTALRM },
	{ "PROF", SIGPROF }, { "WINCH", SIGWINCH }, { "IO", SIGIO }, { "POLL", SIGPOLL },
	{ "PWR", SIGPWR }, { "SYS", SIGSYS },
};

static int parse_number(const char *s, int *out)
{
	if (!*s)
		return -EINVAL;
	for (const char *p = s; *p; p++)
		if (!isdigit((unsigned char) *p))
			return -EINVAL;
	errno = 0;
	long v = strtol(s, NULL, 10);
	if (errno || v > 1024)
		return -EINVAL;
	*out = (int) v;
	return 0;
}

int berth_signal_parse(const char *s)
{
	int n;
	if (!s || !*s)
		return -EINVAL;
	if (parse_number(s, &n) == 0)
		return (n >= 1 && n <= SIGRTMAX) ? n : -EINVAL;
	if (strncasecmp(s, "SIG", 3) == 0)
		s += 3;
	for (size_t i = 0; i < sizeof(table) / sizeof(table[0]); i++)
		if (strcasecmp(s, table[i].name) == 0)
			return table[i].sig;
	if (strncasecmp(s, "RTMIN", 5) == 0) {
		const char *rest = s + 5;
		if (!*rest)
			return SIGRTMIN;
		if (*rest != '+' || parse_number(rest + 1, &n) < 0 || SIGRTMIN + n > SIGRTMAX)
			return -EINVAL;
		return SIGRTMIN + n;
	}
	if (strncasecmp(s, "RTMAX", 5) == 0) {
		const char *rest = s + 5;
		if (!*rest)
			return SIGRTMAX;
		if (*rest != '-' || parse_number(rest + 1, &n) < 0 || SIGRTMAX - n < SIGRTMIN)
			return -EINVAL;
		return SIGRTMAX - n;
	}
	return -EINVAL;
}

const char *berth_signal_name(int sig)
{
	static const char *const names[] = {
		[SIGHUP] = "SIGHUP", [SIGINT] = "SIGINT", [SIGQUIT] = "SIGQUIT", [SIGILL] = "SIGILL",
		[SIGTRAP] = "SIGTRAP", [SIGABRT] = "SIGABRT", [SIGBUS] = "SIGBUS", [SIGFPE] = "SIGFPE",
		[SIGKILL] = "SIGKILL", [SIGUSR1] = "SIGUSR1", [SIGSEGV] = "SIGSEGV", [SIGUSR2] = "SIGUSR2",
		[SIGPIPE] = "SIGPIPE", [SIGALRM] = "SIGALRM", [SIGTERM] = "SIGTERM", [SIGSTKFLT] = "SIGSTKFLT",
		[SIGCHLD] = "SIGCHLD", [SIGCONT] = "SIGCONT", [SIGSTOP] = "SIGSTOP", [SIGTSTP] = "SIGTSTP",
		[SIGTTIN] = "SIGTTIN", [SIGTTOU] = "SIGTTOU", [SIGURG] = "SIGURG", [SIGXCPU] = "SIGXCPU",
		[SIGXFSZ] = "SIGXFSZ", [SIGVTALRM] = "SIGVTALRM", [SIGPROF] = "SIGPROF", [SIGWINCH] = "SIGWINCH",
		[SIGIO] = "SIGIO", [SIGPWR] = "SIGPWR", [SIGSYS] = "SIGSYS",
	};
	if (sig <= 0 || (size_t) sig >= sizeof(names) / sizeof(names[0]))
		return NULL;
	return names[sig];
}
