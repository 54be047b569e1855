# phases.awk: the timeline of one `berth run --rm IMAGE true` from `strace -f -ttt -T` output,
# as markdown: the milestones (which process did what, in ms since the CLI's execve) and
# every syscall that took 3 ms or more outside of plain waiting (wait4, poll, read of a
# pipe, accept, ...), and every stretch of 3 ms or more in which a process made no syscall
# at all (user-space work, or waiting for a CPU on a loaded machine). Used by
# bench/engine-run.sh; `-v work=DIR` shortens paths to <tmp>.
#
# Process names come from execve (basename, plus the runtime's subcommand); a process that
# has not exec'd is "PARENT (fork)". strace's <unfinished ...> / <... resumed> pairs are
# joined so that a syscall's start and end are both known.

function short(s) {
    if (work != "")
        gsub(work, "<tmp>", s)
    gsub(idre, "ID", s)
    gsub(/\|/, "\\|", s)
    return s
}
function ms(t) { return sprintf("%.1f", (t - t0) * 1000) }
function mark(t, pid, what) {
    nm++
    mt[nm] = t
    mp[nm] = (pid in name) ? name[pid] : ("pid " pid)
    mw[nm] = what
}
# The label of an execve: program basename, and for berth-runtime / berth its subcommand.
function exec_label(line,    a, n, prog, i, args, sub_) {
    if (!match(line, /\["[^"]*"(, "[^"]*")*/))
        return "?"
    args = substr(line, RSTART + 1, RLENGTH - 1)
    n = split(args, a, /", "/)
    for (i = 1; i <= n; i++)
        gsub(/^"|"$/, "", a[i])
    prog = a[1]
    sub(/.*\//, "", prog)
    sub_ = ""
    if (prog == "berth-runtime" || prog == "berth") {
        for (i = 2; i <= n; i++) {
            if (a[i] ~ /^(--root|--log|--log-format|--log-level|-l)$/) { i++; continue }
            if (a[i] ~ /^-/) continue
            sub_ = a[i]
            if (a[i] == "container" && i < n) sub_ = a[i] " " a[i + 1]
            break
        }
    }
    return sub_ == "" ? prog : prog " " sub_
}

BEGIN {
    t0 = 0; nm = 0; ns = 0; ng = 0
    # A container id (64 hex digits), spelled out: not every awk knows {64}.
    idre = ""
    for (i = 0; i < 64; i++)
        idre = idre "[0-9a-f]"
}

{
    pid = $1
    t = $2 + 0
    if (t0 == 0) {
        t0 = t
        name[pid] = "berth (CLI)"
    }
    line = $0
    # Join <unfinished ...> with its <... resumed> half.
    if (line ~ /<unfinished \.\.\.>$/) {
        pend[pid] = line
        pendt[pid] = t
        next
    }
    start = t
    if (match(line, /<\.\.\. [a-z0-9_]+ resumed>/) && (pid in pend)) {
        head = pend[pid]
        sub(/ *<unfinished \.\.\.>$/, "", head)
        rest = substr(line, RSTART + RLENGTH)
        start = pendt[pid]
        line = head rest
        delete pend[pid]
    }
    # Duration (-T) and result.
    dur = 0
    if (match(line, /<[0-9]+\.[0-9]+>$/))
        dur = substr(line, RSTART + 1, RLENGTH - 2) + 0
    call = line
    sub(/^[0-9]+ +[0-9.]+ +/, "", call)
    sub(/\(.*/, "", call)

    if (call == "clone" || call == "clone3" || call == "vfork" || call == "fork") {
        if (match(line, /= [0-9]+( <[0-9.]+>)?$/)) {
            child = substr(line, RSTART + 2)
            sub(/ .*/, "", child)
            par = (pid in name) ? name[pid] : ("pid " pid)
            sub(/ \(fork\)$/, "", par)
            name[child] = par " (fork)"
            parent[child] = pid
        }
    }
    if ((call == "execve" || call == "execveat") && line ~ /= 0( <[0-9.]+>)?$/) {
        lbl = exec_label(line)
        if (t == t0)
            lbl = "berth (CLI)"
        else if (lbl !~ /^berth/)
            lbl = lbl " (container)"
        else if (pid in parent && (parent[pid] in name)) {
            par = name[parent[pid]]
            sub(/ \[.*/, "", par)
            sub(/ \(fork\)$/, "", par)
            if (lbl != par)
                lbl = lbl " [from " par "]"
        }
        if (!(pid in name) || name[pid] != lbl || call == "execveat") {
            name[pid] = lbl
            mark(start, pid, call == "execveat" ? "re-exec (execveat)" : "execve")
        }
    }
    if (call == "openat" && line ~ /berth\.db"/ && !(pid in dbopen)) {
        dbopen[pid] = 1
        mark(start, pid, "opens berth.db")
    }
    if (call == "move_mount" && line ~ /\/rootfs"/)
        mark(start, pid, "overlay rootfs mounted (move_mount)")
    if (call == "mount" && line ~ /\/netns\//)
        mark(start, pid, "netns bind-mounted")
    if (call == "pivot_root")
        mark(start, pid, "pivot_root")
    if (call == "connect" && line ~ /start\.sock/)
        mark(start, pid, "connects to start.sock (start)")
    if (call == "renameat" && line ~ /"status\.json"/)
        mark(start, pid, "writes status.json")
    if (call == "umount2" && line ~ /\/rootfs"/)
        mark(start, pid, sprintf("umount2 rootfs (took %.1f ms)", dur * 1000))
    if (call == "unlinkat" && line ~ /"upper", AT_REMOVEDIR/)
        mark(start, pid, sprintf("removes upper dir (took %.1f ms)", dur * 1000))
    if (call == "rmdir" && line ~ /cgroup/ && !(pid in cgrm)) {
        cgrm[pid] = 1
        mark(start, pid, "removes cgroups")
    }
    if (line ~ /\+\+\+ exited with/) {
        st = line
        sub(/.*\+\+\+ /, "", st)
        sub(/ \+\+\+.*/, "", st)
        mark(t, pid, st)
    }
    # Slow syscalls that are not waiting for another process or for input.
    if (dur >= 0.003 && call !~ /^(wait4|waitid|poll|ppoll|epoll_wait|epoll_pwait|select|pselect6|accept|accept4|read|recvmsg|recvfrom|futex|nanosleep|clock_nanosleep|rt_sigsuspend|rt_sigtimedwait|restart_syscall|execve|execveat)$/) {
        ns++
        st_t[ns] = start
        st_p[ns] = (pid in name) ? name[pid] : ("pid " pid)
        st_d[ns] = dur
        s = line
        sub(/^[0-9]+ +[0-9.]+ +/, "", s)
        sub(/ <[0-9.]+>$/, "", s)
        st_c[ns] = substr(short(s), 1, 140)
    }
    # A process's silence between the end of one syscall and the start of the next.
    if ((pid in lastend) && start - lastend[pid] >= 0.003 && line !~ /^[0-9]+ +[0-9.]+ +(\+\+\+|---)/) {
        ng++
        g_t[ng] = lastend[pid]
        g_d[ng] = start - lastend[pid]
        g_p[ng] = (pid in name) ? name[pid] : ("pid " pid)
        s = line
        sub(/^[0-9]+ +[0-9.]+ +/, "", s)
        g_c[ng] = substr(short(s), 1, 60)
    }
    if (line !~ /^[0-9]+ +[0-9.]+ +(\+\+\+|---)/)
        lastend[pid] = start + dur
    last = t
}

END {
    print "### where the time of one `berth run --rm IMAGE true` goes (strace -f -ttt -T)"
    print ""
    printf "One run under strace (which slows every syscall, so the total here, %.1f ms, is larger\n", (last - t0) * 1000
    print "than the medians above); ms since the CLI's execve. Processes are named by what they exec'd."
    print ""
    print "| ms | +ms | process | event |"
    print "|---:|---:|---|---|"
    # Marks are made when a call completes but carry its start: sort them by time.
    for (i = 2; i <= nm; i++)
        for (j = i; j > 1 && mt[j] < mt[j - 1]; j--) {
            x = mt[j]; mt[j] = mt[j - 1]; mt[j - 1] = x
            x = mp[j]; mp[j] = mp[j - 1]; mp[j - 1] = x
            x = mw[j]; mw[j] = mw[j - 1]; mw[j - 1] = x
        }
    prev = t0
    for (i = 1; i <= nm; i++) {
        printf "| %s | %.1f | %s | %s |\n", ms(mt[i]), (mt[i] - prev) * 1000, short(mp[i]), short(mw[i])
        prev = mt[i]
    }
    print ""
    print "Syscalls that took 3 ms or more (waits for other processes excluded):"
    print ""
    print "| ms | took ms | process | syscall |"
    print "|---:|---:|---|---|"
    for (i = 1; i <= ns; i++)
        printf "| %s | %.1f | %s | `%s` |\n", ms(st_t[i]), st_d[i] * 1000, short(st_p[i]), st_c[i]
    if (ns == 0)
        print "| | | | (none) |"
    print ""
    print "Stretches of 3 ms or more without any syscall (user-space work, or no CPU free):"
    print ""
    print "| ms | for ms | process | next syscall |"
    print "|---:|---:|---|---|"
    for (i = 1; i <= ng; i++)
        printf "| %s | %.1f | %s | `%s` |\n", ms(g_t[i]), g_d[i] * 1000, short(g_p[i]), g_c[i]
    if (ng == 0)
        print "| | | | (none) |"
}
