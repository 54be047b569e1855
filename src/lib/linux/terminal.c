#include "linux/terminal.h"
#include "core/cleanup.h"
#include "core/fs.h"
#include "core/sock.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <termios.h>
#include <unistd.h>

int linux_terminal_open(const char *ptmx_path, unsigned rows, unsigned cols, int *master, int *slave,
			struct berth_error *err)
{
	_cleanup_close_ int m = open(ptmx_path, O_RDWR | O_NOCTTY | O_CLOEXEC);
	if (m < 0)
		return berth_errno(err, errno, "terminal: open %s", ptmx_path);
	struct stat st;
	if (fstat(m, &st) < 0)
		return berth_errno(err, errno, "terminal: fstat %s", ptmx_path);
	if (!S_ISCHR(st.st_mode))
		return berth_err(err, ENOTTY, "terminal: %s is not a character device", ptmx_path);
	int unlock = 0;
	if (ioctl(m, TIOCSPTLCK, &unlock) < 0)
		return berth_errno(err, errno, "terminal: %s is not a pty multiplexer (unlock)", ptmx_path);
	/* The slave straight from the master: a /dev/pts/N path could be a
	 * file or link the container put there. */
	_cleanup_close_ int s = ioctl(m, TIOCGPTPEER, O_RDWR | O_NOCTTY | O_CLOEXEC);
	if (s < 0)
		return berth_errno(err, errno, "terminal: opening the pty slave of %s (TIOCGPTPEER)", ptmx_path);
	if (rows || cols) {
		struct winsize ws = { .ws_row = (unsigned short) rows, .ws_col = (unsigned short) cols };
		if (ioctl(m, TIOCSWINSZ, &ws) < 0)
			return berth_errno(err, errno, "process.consoleSize: setting %ux%u", rows, cols);
	}
	*master = steal_fd(m);
	*slave = steal_fd(s);
	return 0;
}

int linux_terminal_send_master(int console_sock, int master, struct berth_error *err)
{
	static const char name[] = "/dev/ptmx";
	int r = berth_send_fd(console_sock, master, name, sizeof(name) - 1);
	if (r < 0)
		return berth_errno(err, r, "--console-socket: sending the pty master");
	return 0;
}

int linux_terminal_make_controlling(int slave, struct berth_error *err)
{
	if (setsid() < 0)
		return berth_errno(err, errno, "terminal: setsid");
	if (ioctl(slave, TIOCSCTTY, 0) < 0)
		return berth_errno(err, errno, "terminal: making the pty the controlling terminal (TIOCSCTTY)");
	for (int fd = 0; fd <= 2; fd++) {
		if (slave == fd) {
			int fl = fcntl(fd, F_GETFD);
			if (fl < 0 || fcntl(fd, F_SETFD, fl & ~FD_CLOEXEC) < 0)
				return berth_errno(err, errno, "terminal: fd %d", fd);
			continue;
		}
		if (dup2(slave, fd) < 0)
			return berth_errno(err, errno, "terminal: dup2 onto fd %d", fd);
	}
	return 0;
}

/* Everything proxy() changes in our process, so every exit path undoes it. */
struct proxy_saved {
	bool termios_set;
	struct termios termios;
	bool mask_set;
	sigset_t mask;
	int master_flags;
	int master;
	int sfd;
};

static void proxy_restore(struct proxy_saved *s)
{
	if (s->termios_set)
		tcsetattr(STDIN_FILENO, TCSANOW, &s->termios);
	if (s->sfd >= 0)
		close(s->sfd);
	if (s->mask_set)
		sigprocmask(SIG_SETMASK, &s->mask, NULL);
	if (s->master_flags >= 0)
		fcntl(s->master, F_SETFL, s->master_flags);
}

static void forward_winsize(int master)
{
	struct winsize ws;
	if (ioctl(STDIN_FILENO, TIOCGWINSZ, &ws) == 0 || ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0)
		ioctl(master, TIOCSWINSZ, &ws);
}

int linux_terminal_proxy(int master, int stop_fd, struct berth_error *err)
{
	struct proxy_saved saved __attribute__((cleanup(proxy_restore))) = {
		.master_flags = -1, .master = master, .sfd = -1,
	};
	if (isatty(STDIN_FILENO) && tcgetattr(STDIN_FILENO, &saved.termios) == 0) {
		struct termios raw = saved.termios;
		cfmakeraw(&raw);
		if (tcsetattr(STDIN_FILENO, TCSANOW, &raw) < 0)
			return berth_errno(err, errno, "terminal: setting stdin to raw mode");
		saved.termios_set = true;
	}
	sigset_t winch;
	sigemptyset(&winch);
	sigaddset(&winch, SIGWINCH);
	if (sigprocmask(SIG_BLOCK, &winch, &saved.mask) < 0)
		return berth_errno(err, errno, "terminal: blocking SIGWINCH");
	saved.mask_set = true;
	saved.sfd = signalfd(-1, &winch, SFD_CLOEXEC | SFD_NONBLOCK);
	if (saved.sfd < 0)
		return berth_errno(err, errno, "terminal: signalfd");
	saved.master_flags = fcntl(master, F_GETFL);
	if (saved.master_flags < 0 || fcntl(master, F_SETFL, saved.master_flags | O_NONBLOCK) < 0)
		return berth_errno(err, errno, "terminal: pty master");
	forward_winsize(master);

	char in[4096], out[8192];
	size_t in_len = 0, in_off = 0;
	bool stdin_open = true, master_open = true, stopped = stop_fd < 0, out_ok = true;
	bool send_eof = false;
	while (master_open || !stopped) {
		struct pollfd pfd[4];
		int n = 0, i_in = -1, i_m = -1, i_sig, i_stop = -1;
		if (stdin_open && in_len == 0 && master_open) {
			i_in = n;
			pfd[n++] = (struct pollfd) { .fd = STDIN_FILENO, .events = POLLIN };
		}
		if (master_open) {
			i_m = n;
			pfd[n++] = (struct pollfd) { .fd = master,
						     .events = POLLIN | (in_len || send_eof ? POLLOUT : 0) };
		}
		i_sig = n;
		pfd[n++] = (struct pollfd) { .fd = saved.sfd, .events = POLLIN };
		if (!stopped) {
			i_stop = n;
			pfd[n++] = (struct pollfd) { .fd = stop_fd, .events = POLLIN };
		}
		if (poll(pfd, (nfds_t) n, -1) < 0) {
			if (errno == EINTR)
				continue;
			return berth_errno(err, errno, "terminal: poll");
		}
		if (pfd[i_sig].revents & POLLIN) {
			struct signalfd_siginfo si;
			while (read(saved.sfd, &si, sizeof(si)) == (ssize_t) sizeof(si))
				;
			if (master_open)
				forward_winsize(master);
		}
		if (i_stop >= 0 && pfd[i_stop].revents)
			stopped = true;
		if (i_in >= 0 && pfd[i_in].revents) {
			ssize_t r = read(STDIN_FILENO, in, sizeof(in));
			if (r > 0) {
				in_len = (size_t) r;
				in_off = 0;
			} else if (r == 0 || (errno != EINTR && errno != EAGAIN)) {
				/* Our input ended: let a canonical-mode reader in the
				 * container see end-of-file too. */
				stdin_open = false;
				struct termios t;
				if (tcgetattr(master, &t) == 0 && (t.c_lflag & ICANON))
					send_eof = true;
			}
		}
		if (i_m < 0)
			continue;
		short re = pfd[i_m].revents;
		if (re & POLLOUT) {
			if (in_len) {
				ssize_t w = write(master, in + in_off, in_len);
				if (w > 0) {
					in_off += (size_t) w;
					in_len -= (size_t) w;
				} else if (w < 0 && errno != EAGAIN && errno != EINTR) {
					in_len = 0;
				}
			} else if (send_eof) {
				struct termios t;
				if (tcgetattr(master, &t) == 0 && write(master, &t.c_cc[VEOF], 1) == 1)
					send_eof = false;
				else if (errno != EAGAIN && errno != EINTR)
					send_eof = false;
			}
		}
		if (re & (POLLIN | POLLHUP | POLLERR)) {
			ssize_t r = read(master, out, sizeof(out));
			if (r > 0) {
				/* A closed stdout must not stop the container: keep
				 * draining the pty, drop what nobody reads. */
				if (out_ok && berth_write_all(STDOUT_FILENO, out, (size_t) r) < 0)
					out_ok = false;
			} else if (r == 0 || errno == EIO) {
				master_open = false;
			} else if (errno != EAGAIN && errno != EINTR) {
				return berth_errno(err, errno, "terminal: reading the pty master");
			} else if (re & POLLHUP && !(re & POLLIN)) {
				master_open = false;
			}
		}
	}
	return 0;
}
