/* runstat: run commands many times, one run at a time, and report wall time and peak RSS.
 *
 *   runstat [-n RUNS] [-w WARMUP] [-T TIMEOUT_S] [-e PREFIX] -- CMD [ARG...] [::: CMD [ARG...]]...
 *
 * With several commands (separated by ":::") the runs are interleaved round-robin: round r
 * runs every command once, starting with command r mod K, so background load on a shared
 * machine falls on all commands alike instead of on whichever ran during a busy spell.
 * Runs never overlap. WARMUP unmeasured rounds come first.
 *
 * Each run is fork + execvp; its wall time is measured with CLOCK_MONOTONIC from just
 * before fork() to just after wait4() has reaped the child, so it covers everything the
 * command does until its own process exits. Peak RSS is ru_maxrss of the rusage that
 * wait4() returns for the reaped child: the kernel reports the largest high-water RSS of
 * any single process among the child itself (across its execs) and those of its
 * descendants that were waited for inside its tree. It is not a sum over processes, and
 * a process reaped outside the tree (an orphan adopted by init or a subreaper) is not
 * included. The maximum over the measured runs is reported.
 *
 * The substring "%n" in any argument becomes the run number (1..RUNS for measured runs,
 * w1..wWARMUP for warm-ups), so every run can use a fresh container id. A command stops
 * at its first failure (non-zero exit, signal, or timeout); the others go on.
 *
 * Each run starts in a process group of its own, so that a timeout or a SIGINT/SIGTERM
 * sent to runstat kills everything of that run still in the group (SIGKILL to the
 * group), not only its first process. stdin is /dev/null; with -e, the stdout and stderr
 * of command J go to PREFIX.J (J = 1..K), truncated at every run, so the output of a
 * failed run is kept.
 *
 * Output: one line per command, in the order given, e.g.
 *   cmd=1 ok=100 runs=100 median_ms=41.203 p90_ms=44.870 min_ms=... max_ms=... mean_ms=...
 *   maxrss_kib=...
 * or, after a failure,
 *   cmd=2 ok=17 runs=100 fail_run=18 fail_status="exit 1" fail_ms=...
 * p90 is the nearest-rank 90th percentile. Exit status 0 when every run of every command
 * succeeded, 1 when a command failed, 2 on a usage or system error.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

struct run_result {
    double ms;
    long maxrss_kib;
    int status; /* as returned by wait4 */
    int timed_out;
};

struct command {
    char **argv; /* template; "%n" not yet substituted */
    int argc;
    char *outfile; /* PREFIX.J, or NULL */
    double *ms;
    long ok;
    long maxrss_kib;
    int failed;
    char fail_tag[32];
    struct run_result fail;
};

static volatile sig_atomic_t alarm_fired;
static volatile sig_atomic_t child_pgid;

static void on_alarm(int sig)
{
    (void)sig;
    alarm_fired = 1;
}

/* Ctrl-C does not reach the run's own process group: take it down, then die of the
 * same signal so the caller sees how runstat ended. */
static void on_terminate(int sig)
{
    if (child_pgid > 0)
        kill(-child_pgid, SIGKILL);
    signal(sig, SIG_DFL);
    raise(sig);
}

static void usage(FILE *f)
{
    fprintf(f,
            "usage: runstat [-n RUNS] [-w WARMUP] [-T TIMEOUT_S] [-e PREFIX] -- CMD [ARG...] [::: CMD [ARG...]]...\n"
            "  -n RUNS     measured runs per command (default 1)\n"
            "  -w WARMUP   unmeasured rounds before them (default 0)\n"
            "  -T SECONDS  kill a run (SIGKILL to its process group) that takes longer (default 0 = no limit)\n"
            "  -e PREFIX   send command J's stdout+stderr to PREFIX.J (truncated per run); default: inherited\n"
            "  \"%%n\" in an argument becomes the run number (w1.. for warm-ups)\n");
}

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

/* Replace every "%n" in @arg by @tag; returns a malloc'd string or NULL. */
static char *subst(const char *arg, const char *tag)
{
    size_t taglen = strlen(tag), n = 0;
    for (const char *p = arg; (p = strstr(p, "%n")); p += 2)
        n++;
    char *out = malloc(strlen(arg) + n * taglen + 1);
    if (!out)
        return NULL;
    char *o = out;
    for (const char *p = arg; *p;) {
        if (p[0] == '%' && p[1] == 'n') {
            memcpy(o, tag, taglen);
            o += taglen;
            p += 2;
        } else {
            *o++ = *p++;
        }
    }
    *o = '\0';
    return out;
}

static void free_argv(char **argv, int argc)
{
    for (int i = 0; i < argc; i++)
        free(argv[i]);
    free(argv);
}

/* One run of @c; 0 when it could be run (whatever its outcome, in @r), or -errno. */
static int run_once(const struct command *c, const char *tag, unsigned timeout_s, struct run_result *r)
{
    char **argv = calloc((size_t)c->argc + 1, sizeof(*argv));
    if (!argv)
        return -ENOMEM;
    for (int i = 0; i < c->argc; i++) {
        argv[i] = subst(c->argv[i], tag);
        if (!argv[i]) {
            free_argv(argv, i);
            return -ENOMEM;
        }
    }

    /* Open the redirections before the clock starts, so they are not timed. */
    int err = 0;
    int in_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
    int out_fd = -1;
    if (in_fd < 0) {
        err = -errno;
        goto out;
    }
    if (c->outfile) {
        out_fd = open(c->outfile, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        if (out_fd < 0) {
            err = -errno;
            goto out;
        }
    }

    alarm_fired = 0;
    memset(r, 0, sizeof(*r));
    double t0 = now_ms();
    pid_t pid = fork();
    if (pid < 0) {
        err = -errno;
        goto out;
    }
    if (pid == 0) {
        setpgid(0, 0);
        /* dup2 clears O_CLOEXEC on the new descriptor. */
        dup2(in_fd, STDIN_FILENO);
        if (out_fd >= 0) {
            dup2(out_fd, STDOUT_FILENO);
            dup2(out_fd, STDERR_FILENO);
        }
        signal(SIGALRM, SIG_DFL);
        signal(SIGINT, SIG_DFL);
        signal(SIGTERM, SIG_DFL);
        execvp(argv[0], argv);
        fprintf(stderr, "runstat: exec %s: %s\n", argv[0], strerror(errno));
        _exit(127);
    }
    /* Also set here, so that neither order of scheduling leaves a window. */
    setpgid(pid, pid);
    child_pgid = pid;
    if (timeout_s)
        alarm(timeout_s);

    struct rusage ru;
    int status;
    for (;;) {
        pid_t w = wait4(pid, &status, 0, &ru);
        if (w == pid)
            break;
        if (w < 0 && errno == EINTR) {
            if (alarm_fired && !r->timed_out) {
                r->timed_out = 1;
                kill(-pid, SIGKILL);
            }
            continue;
        }
        err = -errno;
        goto out;
    }
    double t1 = now_ms();
    alarm(0);
    if (r->timed_out)
        kill(-pid, SIGKILL); /* whatever of the group outlived its leader */
    child_pgid = 0;

    r->ms = t1 - t0;
    r->maxrss_kib = ru.ru_maxrss; /* Linux reports KiB */
    r->status = status;
out:
    if (in_fd >= 0)
        close(in_fd);
    if (out_fd >= 0)
        close(out_fd);
    free_argv(argv, c->argc);
    return err;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static void describe(const struct run_result *r, char *buf, size_t len)
{
    if (r->timed_out)
        snprintf(buf, len, "timed out (killed)");
    else if (WIFEXITED(r->status))
        snprintf(buf, len, "exit %d", WEXITSTATUS(r->status));
    else if (WIFSIGNALED(r->status))
        snprintf(buf, len, "killed by signal %d (%s)", WTERMSIG(r->status), strsignal(WTERMSIG(r->status)));
    else
        snprintf(buf, len, "wait status 0x%x", r->status);
}

static void report(int j, const struct command *c, long runs)
{
    if (c->failed) {
        char why[128];
        describe(&c->fail, why, sizeof(why));
        printf("cmd=%d ok=%ld runs=%ld fail_run=%s fail_status=\"%s\" fail_ms=%.3f\n", j, c->ok, runs,
               c->fail_tag, why, c->fail.ms);
        return;
    }
    long ok = c->ok;
    double *ms = c->ms;
    qsort(ms, (size_t)ok, sizeof(*ms), cmp_double);
    double sum = 0;
    for (long i = 0; i < ok; i++)
        sum += ms[i];
    double median = ok % 2 ? ms[ok / 2] : (ms[ok / 2 - 1] + ms[ok / 2]) / 2;
    long rank = (ok * 90 + 99) / 100; /* nearest rank: ceil(0.9 * ok) */
    printf("cmd=%d ok=%ld runs=%ld median_ms=%.3f p90_ms=%.3f min_ms=%.3f max_ms=%.3f mean_ms=%.3f "
           "maxrss_kib=%ld\n",
           j, ok, runs, median, ms[rank - 1], ms[0], ms[ok - 1], sum / (double)ok, c->maxrss_kib);
}

int main(int argc, char **argv)
{
    long runs = 1, warmup = 0, timeout_s = 0;
    const char *prefix = NULL;
    int opt;
    while ((opt = getopt(argc, argv, "+n:w:T:e:h")) != -1) {
        char *end;
        switch (opt) {
        case 'n':
        case 'w':
        case 'T': {
            errno = 0;
            long v = strtol(optarg, &end, 10);
            if (errno || *optarg == '\0' || *end != '\0' || v < 0 || v > 1000000 || (opt == 'n' && v == 0)) {
                fprintf(stderr, "runstat: -%c: bad number '%s'\n", opt, optarg);
                return 2;
            }
            if (opt == 'n')
                runs = v;
            else if (opt == 'w')
                warmup = v;
            else
                timeout_s = v;
            break;
        }
        case 'e':
            prefix = optarg;
            break;
        case 'h':
            usage(stdout);
            return 0;
        default:
            usage(stderr);
            return 2;
        }
    }
    if (optind >= argc) {
        usage(stderr);
        return 2;
    }

    /* Split the rest at ":::" into commands; each must be non-empty. */
    int ncmd = 1;
    for (int i = optind; i < argc; i++)
        if (strcmp(argv[i], ":::") == 0)
            ncmd++;
    struct command *cmds = calloc((size_t)ncmd, sizeof(*cmds));
    if (!cmds) {
        perror("runstat: calloc");
        return 2;
    }
    int j = 0;
    cmds[0].argv = argv + optind;
    for (int i = optind; i <= argc; i++) {
        if (i == argc || strcmp(argv[i], ":::") == 0) {
            cmds[j].argc = (int)(argv + i - cmds[j].argv);
            if (cmds[j].argc == 0) {
                fprintf(stderr, "runstat: command %d is empty\n", j + 1);
                return 2;
            }
            if (i < argc) {
                argv[i] = NULL; /* terminates the previous command's argv */
                cmds[++j].argv = argv + i + 1;
            }
        }
    }
    for (j = 0; j < ncmd; j++) {
        cmds[j].ms = calloc((size_t)runs, sizeof(double));
        if (!cmds[j].ms) {
            perror("runstat: calloc");
            return 2;
        }
        if (prefix && asprintf(&cmds[j].outfile, "%s.%d", prefix, j + 1) < 0) {
            perror("runstat: asprintf");
            return 2;
        }
    }

    struct sigaction sa = { .sa_handler = on_alarm }; /* no SA_RESTART: wait4 sees EINTR */
    sigemptyset(&sa.sa_mask);
    sigaction(SIGALRM, &sa, NULL);
    struct sigaction st = { .sa_handler = on_terminate };
    sigemptyset(&st.sa_mask);
    sigaction(SIGINT, &st, NULL);
    sigaction(SIGTERM, &st, NULL);

    int any_failed = 0;
    for (long i = -warmup; i < runs; i++) {
        char tag[32];
        if (i < 0)
            snprintf(tag, sizeof(tag), "w%ld", warmup + i + 1);
        else
            snprintf(tag, sizeof(tag), "%ld", i + 1);
        long round = i + warmup;
        for (int k = 0; k < ncmd; k++) {
            struct command *c = &cmds[(round + k) % ncmd];
            if (c->failed)
                continue;
            struct run_result r;
            int rc = run_once(c, tag, (unsigned)timeout_s, &r);
            if (rc < 0) {
                fprintf(stderr, "runstat: run %s of %s: %s\n", tag, c->argv[0], strerror(-rc));
                return 2;
            }
            if (r.timed_out || !WIFEXITED(r.status) || WEXITSTATUS(r.status) != 0) {
                c->failed = 1;
                any_failed = 1;
                c->fail = r;
                snprintf(c->fail_tag, sizeof(c->fail_tag), "%s", tag);
                continue;
            }
            if (i < 0)
                continue;
            c->ms[c->ok++] = r.ms;
            if (r.maxrss_kib > c->maxrss_kib)
                c->maxrss_kib = r.maxrss_kib;
        }
    }

    for (j = 0; j < ncmd; j++) {
        report(j + 1, &cmds[j], runs);
        free(cmds[j].ms);
        free(cmds[j].outfile);
    }
    free(cmds);
    return any_failed ? 1 : 0;
}
