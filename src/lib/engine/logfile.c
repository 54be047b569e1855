#include "engine/logfile.h"
#include "core/cleanup.h"
#include "core/fs.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

/* ------------------------------------------------------------ escaping */

static const char hexdig[] = "0123456789abcdef";

/* Length of the valid UTF-8 sequence at s (1..4) and its code point, or 0
 * when invalid (overlong, surrogate, > U+10FFFF, truncated), as Go's
 * utf8.DecodeRune judges it. */
static size_t utf8_decode(const unsigned char *s, size_t len, uint32_t *cp)
{
	unsigned char c = s[0];
	size_t n;
	uint32_t v, min;
	if (c < 0xC2)
		return 0;
	if (c < 0xE0) {
		n = 2; v = c & 0x1F; min = 0x80;
	} else if (c < 0xF0) {
		n = 3; v = c & 0x0F; min = 0x800;
	} else if (c < 0xF5) {
		n = 4; v = c & 0x07; min = 0x10000;
	} else {
		return 0;
	}
	if (len < n)
		return 0;
	for (size_t i = 1; i < n; i++) {
		if ((s[i] & 0xC0) != 0x80)
			return 0;
		v = (v << 6) | (s[i] & 0x3F);
	}
	if (v < min || v > 0x10FFFF || (v >= 0xD800 && v <= 0xDFFF))
		return 0;
	*cp = v;
	return n;
}

size_t logfile_json_escape(char *out, const char *in, size_t len)
{
	const unsigned char *s = (const unsigned char *) in;
	size_t o = 0;
	for (size_t i = 0; i < len;) {
		unsigned char c = s[i];
		if (c < 0x80) {
			i++;
			switch (c) {
			case '"': out[o++] = '\\'; out[o++] = '"'; continue;
			case '\\': out[o++] = '\\'; out[o++] = '\\'; continue;
			case '\n': out[o++] = '\\'; out[o++] = 'n'; continue;
			case '\r': out[o++] = '\\'; out[o++] = 'r'; continue;
			case '\t': out[o++] = '\\'; out[o++] = 't'; continue;
			}
			/* docker's encoder is HTML-safe: <, > and & are escaped too. */
			if (c < 0x20 || c == '<' || c == '>' || c == '&') {
				memcpy(out + o, "\\u00", 4);
				out[o + 4] = hexdig[c >> 4];
				out[o + 5] = hexdig[c & 0xF];
				o += 6;
			} else {
				out[o++] = (char) c;
			}
			continue;
		}
		uint32_t cp;
		size_t n = utf8_decode(s + i, len - i, &cp);
		if (n == 0) {
			memcpy(out + o, "\\ufffd", 6);
			o += 6;
			i++;
		} else if (cp == 0x2028 || cp == 0x2029) {
			memcpy(out + o, cp == 0x2028 ? "\\u2028" : "\\u2029", 6);
			o += 6;
			i += n;
		} else {
			memcpy(out + o, s + i, n);
			o += n;
			i += n;
		}
	}
	out[o] = '\0';
	return o;
}

/* ------------------------------------------------------------ time */

void logfile_format_time(const struct timespec *ts, bool fixed9, char *buf, size_t cap)
{
	struct tm tm;
	time_t sec = ts->tv_sec;
	gmtime_r(&sec, &tm);
	size_t n = strftime(buf, cap, "%Y-%m-%dT%H:%M:%S", &tm);
	char frac[16];
	snprintf(frac, sizeof(frac), "%09ld", ts->tv_nsec);
	if (!fixed9) {
		int l = 9;
		while (l > 0 && frac[l - 1] == '0')
			l--;
		frac[l] = '\0';
	}
	if (frac[0])
		snprintf(buf + n, cap - n, ".%sZ", frac);
	else
		snprintf(buf + n, cap - n, "Z");
}

static int digits(const char *s, int n, int *v)
{
	*v = 0;
	for (int i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -EINVAL;
		*v = *v * 10 + (s[i] - '0');
	}
	return 0;
}

int logfile_parse_time(const char *s, int64_t *ns)
{
	int Y, M, D, h, m, sec;
	if (strlen(s) < 20 || s[4] != '-' || s[7] != '-' || (s[10] != 'T' && s[10] != 't') ||
	    s[13] != ':' || s[16] != ':')
		return -EINVAL;
	if (digits(s, 4, &Y) || digits(s + 5, 2, &M) || digits(s + 8, 2, &D) || digits(s + 11, 2, &h) ||
	    digits(s + 14, 2, &m) || digits(s + 17, 2, &sec))
		return -EINVAL;
	if (M < 1 || M > 12 || D < 1 || D > 31 || h > 23 || m > 59 || sec > 60)
		return -EINVAL;
	const char *p = s + 19;
	int64_t frac = 0;
	if (*p == '.') {
		int nd = 0;
		p++;
		while (*p >= '0' && *p <= '9') {
			if (nd < 9) {
				frac = frac * 10 + (*p - '0');
				nd++;
			}
			p++;
		}
		if (nd == 0)
			return -EINVAL;
		for (; nd < 9; nd++)
			frac *= 10;
	}
	int64_t off = 0;
	if (*p == 'Z' || *p == 'z') {
		p++;
	} else if ((*p == '+' || *p == '-') && strlen(p) == 6 && p[3] == ':') {
		int oh, om;
		if (digits(p + 1, 2, &oh) || digits(p + 4, 2, &om))
			return -EINVAL;
		off = (oh * 3600 + om * 60) * (*p == '-' ? -1 : 1);
		p += 6;
	} else {
		return -EINVAL;
	}
	if (*p)
		return -EINVAL;
	struct tm tm = { .tm_year = Y - 1900, .tm_mon = M - 1, .tm_mday = D, .tm_hour = h, .tm_min = m, .tm_sec = sec };
	time_t t = timegm(&tm);
	*ns = ((int64_t) t - off) * 1000000000LL + frac;
	return 0;
}

/* ------------------------------------------------------------ writer */

/* The longest record: an escaped full line plus the JSON around it. */
#define REC_MAX (6 * LOGFILE_LINE_MAX + 128)

struct logfile_writer {
	int fd;
	int max_files;
	int64_t size, max_size;
	size_t pend_len[2];
	char path[PATH_MAX];
	char pend[2][LOGFILE_LINE_MAX];
	char rec[REC_MAX];
};

int logfile_writer_open(const char *path, int64_t max_size, int max_files,
			struct logfile_writer **out, struct berth_error *err)
{
	if (strlen(path) + 8 >= PATH_MAX)
		return berth_err(err, ENAMETOOLONG, "log path %s: too long", path);
	struct logfile_writer *w = malloc(sizeof(*w));
	if (!w)
		return berth_err(err, ENOMEM, "log writer for %s", path);
	w->fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0640);
	if (w->fd < 0) {
		int r = berth_errno(err, errno, "open log file %s", path);
		free(w);
		return r;
	}
	struct stat st;
	w->size = fstat(w->fd, &st) == 0 ? st.st_size : 0;
	w->max_size = max_size > 0 ? max_size : 0;
	w->max_files = max_files < 1 ? 1 : max_files;
	w->pend_len[0] = w->pend_len[1] = 0;
	strcpy(w->path, path);
	*out = w;
	return 0;
}

static int rotate(struct logfile_writer *w)
{
	if (w->max_files <= 1) {
		if (ftruncate(w->fd, 0) < 0)
			return -errno;
		w->size = 0;
		return 0;
	}
	char from[PATH_MAX + 16], to[PATH_MAX + 16];
	for (int i = w->max_files - 1; i >= 2; i--) {
		snprintf(from, sizeof(from), "%s.%d", w->path, i - 1);
		snprintf(to, sizeof(to), "%s.%d", w->path, i);
		if (rename(from, to) < 0 && errno != ENOENT)
			return -errno;
	}
	snprintf(to, sizeof(to), "%s.1", w->path);
	if (rename(w->path, to) < 0)
		return -errno;
	int fd = open(w->path, O_WRONLY | O_APPEND | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0640);
	if (fd < 0)
		return -errno;
	close(w->fd);
	w->fd = fd;
	w->size = 0;
	return 0;
}

int logfile_writer_record(struct logfile_writer *w, enum logfile_stream s, const char *data, size_t len,
			  const struct timespec *ts)
{
	struct timespec now;
	if (!ts) {
		clock_gettime(CLOCK_REALTIME, &now);
		ts = &now;
	}
	if (len > LOGFILE_LINE_MAX)
		len = LOGFILE_LINE_MAX;
	static const char head[] = "{\"log\":\"";
	char *p = w->rec;
	memcpy(p, head, sizeof(head) - 1);
	p += sizeof(head) - 1;
	p += logfile_json_escape(p, data, len);
	const char *mid = s == LOGFILE_STDERR ? "\",\"stream\":\"stderr\",\"time\":\"" : "\",\"stream\":\"stdout\",\"time\":\"";
	size_t ml = strlen(mid);
	memcpy(p, mid, ml);
	p += ml;
	logfile_format_time(ts, false, p, 40);
	p += strlen(p);
	memcpy(p, "\"}\n", 3);
	p += 3;
	/* docker rotates before a write once the file has reached the limit. */
	if (w->max_size > 0 && w->size >= w->max_size) {
		int r = rotate(w);
		if (r < 0)
			return r;
	}
	size_t n = (size_t) (p - w->rec);
	int r = berth_write_all(w->fd, w->rec, n);
	if (r < 0)
		return r;
	w->size += (int64_t) n;
	return 0;
}

int logfile_writer_feed(struct logfile_writer *w, enum logfile_stream s, const char *data, size_t len)
{
	char *pend = w->pend[s];
	size_t *pl = &w->pend_len[s];
	while (len > 0) {
		size_t room = LOGFILE_LINE_MAX - *pl;
		size_t n = len < room ? len : room;
		const char *nl = memchr(data, '\n', n);
		if (nl)
			n = (size_t) (nl - data) + 1;
		if (*pl == 0 && nl) {
			/* The common case: a whole line in the input, no copy. */
			int r = logfile_writer_record(w, s, data, n, NULL);
			if (r < 0)
				return r;
		} else {
			memcpy(pend + *pl, data, n);
			*pl += n;
			if (nl || *pl == LOGFILE_LINE_MAX) {
				int r = logfile_writer_record(w, s, pend, *pl, NULL);
				*pl = 0;
				if (r < 0)
					return r;
			}
		}
		data += n;
		len -= n;
	}
	return 0;
}

int logfile_writer_flush(struct logfile_writer *w, enum logfile_stream s)
{
	if (w->pend_len[s] == 0)
		return 0;
	int r = logfile_writer_record(w, s, w->pend[s], w->pend_len[s], NULL);
	w->pend_len[s] = 0;
	return r;
}

void logfile_writer_close(struct logfile_writer *w)
{
	if (!w)
		return;
	logfile_writer_flush(w, LOGFILE_STDOUT);
	logfile_writer_flush(w, LOGFILE_STDERR);
	close(w->fd);
	free(w);
}

/* ------------------------------------------------------------ parsing */

static void put_utf8(char *out, size_t *o, uint32_t cp)
{
	if (cp < 0x80) {
		out[(*o)++] = (char) cp;
	} else if (cp < 0x800) {
		out[(*o)++] = (char) (0xC0 | (cp >> 6));
		out[(*o)++] = (char) (0x80 | (cp & 0x3F));
	} else if (cp < 0x10000) {
		out[(*o)++] = (char) (0xE0 | (cp >> 12));
		out[(*o)++] = (char) (0x80 | ((cp >> 6) & 0x3F));
		out[(*o)++] = (char) (0x80 | (cp & 0x3F));
	} else {
		out[(*o)++] = (char) (0xF0 | (cp >> 18));
		out[(*o)++] = (char) (0x80 | ((cp >> 12) & 0x3F));
		out[(*o)++] = (char) (0x80 | ((cp >> 6) & 0x3F));
		out[(*o)++] = (char) (0x80 | (cp & 0x3F));
	}
}

static int hex4(const char *p, const char *end, uint32_t *v)
{
	if (end - p < 4)
		return -EINVAL;
	*v = 0;
	for (int i = 0; i < 4; i++) {
		char c = p[i];
		int d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 :
			c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
		if (d < 0)
			return -EINVAL;
		*v = (*v << 4) | (uint32_t) d;
	}
	return 0;
}

/* *p at the opening quote; decodes into out (cap bytes; an unescaped string
 * is never longer than its escaped form). */
static int parse_string(const char **pp, const char *end, char *out, size_t cap, size_t *olen)
{
	const char *p = *pp + 1;
	size_t o = 0;
	while (p < end && *p != '"') {
		if (o + 4 > cap)
			return -ENOSPC;
		if (*p != '\\') {
			out[o++] = *p++;
			continue;
		}
		if (++p >= end)
			return -EINVAL;
		char c = *p++;
		switch (c) {
		case '"': case '\\': case '/': out[o++] = c; break;
		case 'b': out[o++] = '\b'; break;
		case 'f': out[o++] = '\f'; break;
		case 'n': out[o++] = '\n'; break;
		case 'r': out[o++] = '\r'; break;
		case 't': out[o++] = '\t'; break;
		case 'u': {
			uint32_t cp, lo;
			if (hex4(p, end, &cp) < 0)
				return -EINVAL;
			p += 4;
			if (cp >= 0xD800 && cp <= 0xDBFF && end - p >= 6 && p[0] == '\\' && p[1] == 'u' &&
			    hex4(p + 2, end, &lo) == 0 && lo >= 0xDC00 && lo <= 0xDFFF) {
				cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
				p += 6;
			} else if (cp >= 0xD800 && cp <= 0xDFFF) {
				cp = 0xFFFD;
			}
			put_utf8(out, &o, cp);
			break;
		}
		default:
			return -EINVAL;
		}
	}
	if (p >= end)
		return -EINVAL;
	*pp = p + 1;
	*olen = o;
	return 0;
}

static void skip_ws(const char **p, const char *end)
{
	while (*p < end && (**p == ' ' || **p == '\t' || **p == '\r' || **p == '\n'))
		(*p)++;
}

/* Skip any JSON value (docker adds "attrs":{...} with --log-opt labels). */
static int skip_value(const char **pp, const char *end)
{
	const char *p = *pp;
	int depth = 0;
	bool in_str = false;
	for (; p < end; p++) {
		char c = *p;
		if (in_str) {
			if (c == '\\')
				p++;
			else if (c == '"')
				in_str = false;
			else
				continue;
			if (depth == 0 && !in_str) {
				*pp = p + 1;
				return 0;
			}
			continue;
		}
		if (c == '"') {
			in_str = true;
		} else if (c == '{' || c == '[') {
			depth++;
		} else if (c == '}' || c == ']') {
			if (depth == 0)
				break;
			if (--depth == 0) {
				*pp = p + 1;
				return 0;
			}
		} else if (depth == 0 && (c == ',' || c == ' ')) {
			break;
		}
	}
	if (depth || in_str)
		return -EINVAL;
	*pp = p;
	return 0;
}

int logfile_parse_line(const char *line, size_t len, char *buf, struct logfile_record *rec)
{
	const char *p = line, *end = line + len;
	bool have_log = false;
	rec->stream = LOGFILE_STDOUT;
	rec->time_ns = 0;
	rec->text = buf;
	rec->len = 0;
	skip_ws(&p, end);
	if (p >= end || *p != '{')
		return -EINVAL;
	p++;
	for (;;) {
		skip_ws(&p, end);
		if (p < end && *p == '}')
			break;
		if (p >= end || *p != '"')
			return -EINVAL;
		char key[16];
		size_t kl;
		if (parse_string(&p, end, key, sizeof(key) - 1, &kl) < 0) {
			/* An unknown long key: skip it as a value. */
			if (skip_value(&p, end) < 0)
				return -EINVAL;
			kl = 0;
		}
		key[kl] = '\0';
		skip_ws(&p, end);
		if (p >= end || *p != ':')
			return -EINVAL;
		p++;
		skip_ws(&p, end);
		if (strcmp(key, "log") == 0) {
			if (p >= end || *p != '"' || parse_string(&p, end, buf, len, &rec->len) < 0)
				return -EINVAL;
			have_log = true;
		} else if (strcmp(key, "stream") == 0 || strcmp(key, "time") == 0) {
			char v[64];
			size_t vl;
			if (p >= end || *p != '"' || parse_string(&p, end, v, sizeof(v) - 1, &vl) < 0)
				return -EINVAL;
			v[vl] = '\0';
			if (key[0] == 's')
				rec->stream = strcmp(v, "stderr") == 0 ? LOGFILE_STDERR : LOGFILE_STDOUT;
			else if (logfile_parse_time(v, &rec->time_ns) < 0)
				return -EINVAL;
		} else if (skip_value(&p, end) < 0) {
			return -EINVAL;
		}
		skip_ws(&p, end);
		if (p < end && *p == ',') {
			p++;
			continue;
		}
		if (p < end && *p == '}')
			break;
		return -EINVAL;
	}
	return have_log ? 0 : -EINVAL;
}

/* ------------------------------------------------------------ reader */

struct linereader {
	int fd;
	char *buf;
	size_t cap, start, end;
	ino_t ino;
	off_t off;             /* file offset of buf[end] */
};

static int lr_open(struct linereader *lr, const char *path)
{
	lr->fd = open(path, O_RDONLY | O_CLOEXEC);
	if (lr->fd < 0)
		return -errno;
	struct stat st;
	if (fstat(lr->fd, &st) < 0)
		return -errno;
	lr->ino = st.st_ino;
	lr->start = lr->end = 0;
	lr->off = 0;
	return 0;
}

static void lr_close(struct linereader *lr)
{
	if (lr->fd >= 0)
		close(lr->fd);
	lr->fd = -1;
}

/* Next complete line (without '\n') or 0 when no complete line is there yet
 * (a partial one stays buffered for the next call). */
static int lr_next(struct linereader *lr, const char **line, size_t *len)
{
	for (;;) {
		char *nl = lr->end > lr->start ? memchr(lr->buf + lr->start, '\n', lr->end - lr->start) : NULL;
		if (nl) {
			*line = lr->buf + lr->start;
			*len = (size_t) (nl - *line);
			lr->start += *len + 1;
			return 1;
		}
		if (lr->start > 0) {
			memmove(lr->buf, lr->buf + lr->start, lr->end - lr->start);
			lr->end -= lr->start;
			lr->start = 0;
		}
		if (lr->end == lr->cap) {
			size_t nc = lr->cap ? lr->cap * 2 : 64 * 1024;
			char *nb = realloc(lr->buf, nc);
			if (!nb)
				return -ENOMEM;
			lr->buf = nb;
			lr->cap = nc;
		}
		ssize_t n = read(lr->fd, lr->buf + lr->end, lr->cap - lr->end);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			return 0;
		lr->end += (size_t) n;
		lr->off += n;
	}
}

struct outbuf {
	int fd;
	size_t len;
	char data[32 * 1024];
};

static int ob_flush(struct outbuf *b)
{
	int r = b->len ? berth_write_all(b->fd, b->data, b->len) : 0;
	b->len = 0;
	return r;
}

static int ob_put(struct outbuf *b, const char *d, size_t n)
{
	if (b->len + n > sizeof(b->data)) {
		int r = ob_flush(b);
		if (r < 0)
			return r;
		if (n > sizeof(b->data))
			return berth_write_all(b->fd, d, n);
	}
	memcpy(b->data + b->len, d, n);
	b->len += n;
	return 0;
}

struct reader {
	const struct logfile_read_opts *o;
	struct outbuf *ob[2];
	struct outbuf *last;
	char *scratch;
	size_t scratch_cap;
	long skip;             /* records still to skip for --tail */
};

static int emit_line(struct reader *rd, const char *line, size_t len)
{
	/* --tail counts lines as count_lines() did, decodable or not. */
	if (rd->skip > 0) {
		rd->skip--;
		return 0;
	}
	if (len == 0)
		return 0;
	if (len > rd->scratch_cap) {
		char *n = realloc(rd->scratch, len);
		if (!n)
			return -ENOMEM;
		rd->scratch = n;
		rd->scratch_cap = len;
	}
	struct logfile_record rec;
	if (logfile_parse_line(line, len, rd->scratch, &rec) < 0)
		return 0;   /* docker skips what it cannot decode, so do we */
	if (rd->o->since_ns && rec.time_ns < rd->o->since_ns)
		return 0;
	if (rd->o->until_ns && rec.time_ns > rd->o->until_ns)
		return 0;
	struct outbuf *b = rd->ob[rec.stream];
	/* Keep the order of stdout and stderr lines when both reach one terminal. */
	if (rd->last && rd->last != b) {
		int r = ob_flush(rd->last);
		if (r < 0)
			return r;
	}
	rd->last = b;
	if (rd->o->timestamps) {
		char ts[48];
		struct timespec t = { .tv_sec = rec.time_ns / 1000000000LL, .tv_nsec = rec.time_ns % 1000000000LL };
		logfile_format_time(&t, true, ts, sizeof(ts) - 1);
		size_t tl = strlen(ts);
		ts[tl++] = ' ';
		int r = ob_put(b, ts, tl);
		if (r < 0)
			return r;
	}
	return ob_put(b, rec.text, rec.len);
}

static int drain(struct reader *rd, struct linereader *lr)
{
	const char *line = NULL;
	size_t len = 0;
	int r;
	while ((r = lr_next(lr, &line, &len)) > 0) {
		r = emit_line(rd, line, len);
		if (r < 0)
			return r;
	}
	return r;
}

static int count_lines(const char *path, long *count)
{
	_cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return errno == ENOENT ? 0 : -errno;
	char buf[64 * 1024];
	for (;;) {
		ssize_t n = read(fd, buf, sizeof(buf));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			return 0;
		for (char *p = buf; (p = memchr(p, '\n', (size_t) (buf + n - p))); p++)
			(*count)++;
	}
}

/* Is the container still producing output?  See logfile_read_opts. */
static bool container_running(const char *dir)
{
	char path[PATH_MAX + 16];
	snprintf(path, sizeof(path), "%s/status.json", dir);
	_cleanup_free_ char *s = NULL;
	size_t len;
	if (berth_read_file(path, &s, &len) < 0)
		return false;
	if (!strstr(s, "\"state\":\"running\"") && !strstr(s, "\"state\":\"created\""))
		return false;
	const char *p = strstr(s, "\"pid\":");
	if (p) {
		long pid = strtol(p + 6, NULL, 10);
		if (pid > 0 && kill((pid_t) pid, 0) < 0 && errno == ESRCH)
			return false;
	}
	return true;
}

static int follow(struct reader *rd, struct linereader *lr, const char *path, const char *dir)
{
	const struct logfile_read_opts *o = rd->o;
	_cleanup_close_ int ino = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
	if (ino >= 0)
		inotify_add_watch(ino, dir, IN_MODIFY | IN_CREATE | IN_MOVED_TO | IN_CLOSE_WRITE | IN_DELETE);
	for (;;) {
		bool done = !container_running(dir) || (o->stop && o->stop(o->stop_ctx));
		int r;
		if (lr->fd >= 0) {
			struct stat st;
			if (fstat(lr->fd, &st) == 0 && st.st_size < lr->off) {
				/* Truncated in place (max-file 1): start over. */
				lseek(lr->fd, 0, SEEK_SET);
				lr->off = 0;
				lr->start = lr->end = 0;
			}
			r = drain(rd, lr);
			if (r < 0)
				return r;
		}
		struct stat st;
		if (stat(path, &st) == 0 && (lr->fd < 0 || st.st_ino != lr->ino)) {
			/* Rotated: the old file is complete now; finish it, then read
			 * the files rotated after it (it is path.K now; K-1..1 are
			 * newer), then switch to the new path. */
			if (lr->fd >= 0) {
				if ((r = drain(rd, lr)) < 0)
					return r;
				lr_close(lr);
				char rp[PATH_MAX + 16];
				int k = 1;
				struct stat rst;
				for (;; k++) {
					snprintf(rp, sizeof(rp), "%s.%d", path, k);
					if (stat(rp, &rst) < 0 || rst.st_ino == lr->ino)
						break;
				}
				for (int i = k - 1; i >= 1; i--) {
					snprintf(rp, sizeof(rp), "%s.%d", path, i);
					if (lr_open(lr, rp) == 0)
						r = drain(rd, lr);
					lr_close(lr);
					if (r < 0)
						return r;
				}
			}
			if (lr_open(lr, path) == 0)
				continue;
			lr_close(lr);
		}
		for (int i = 0; i < 2; i++)
			if ((r = ob_flush(rd->ob[i])) < 0)
				return r;
		if (done)
			return 0;
		struct pollfd pfd = { .fd = ino, .events = POLLIN };
		if (ino >= 0) {
			if (poll(&pfd, 1, 250) > 0) {
				char evbuf[4096];
				while (read(ino, evbuf, sizeof(evbuf)) > 0)
					;
			}
		} else {
			poll(NULL, 0, 100);
		}
	}
}

int logfile_read(const char *path, const struct logfile_read_opts *o, struct berth_error *err)
{
	char dir[PATH_MAX];
	if (strlen(path) >= sizeof(dir) - 16)
		return berth_err(err, ENAMETOOLONG, "log path %s: too long", path);
	strcpy(dir, path);
	char *slash = strrchr(dir, '/');
	if (slash == dir)
		dir[1] = '\0';
	else if (slash)
		*slash = '\0';
	else
		strcpy(dir, ".");

	/* Rotated files: path.N is the oldest. */
	int nrot = 0;
	char rp[PATH_MAX + 16];
	for (;;) {
		snprintf(rp, sizeof(rp), "%s.%d", path, nrot + 1);
		if (access(rp, F_OK) < 0)
			break;
		nrot++;
	}

	struct outbuf *ob_out = malloc(sizeof(*ob_out)), *ob_err = malloc(sizeof(*ob_err));
	if (!ob_out || !ob_err) {
		free(ob_out);
		free(ob_err);
		return berth_err(err, ENOMEM, "reading %s", path);
	}
	ob_out->fd = o->out_fd;
	ob_err->fd = o->err_fd;
	ob_out->len = ob_err->len = 0;
	struct reader rd = { .o = o, .ob = { ob_out, ob_err } };
	struct linereader lr = { .fd = -1 };
	int r = 0;

	if (o->tail >= 0) {
		long total = 0;
		for (int i = nrot; i >= 0 && r == 0; i--) {
			if (i)
				snprintf(rp, sizeof(rp), "%s.%d", path, i);
			r = count_lines(i ? rp : path, &total);
		}
		if (r < 0) {
			berth_errno(err, -r, "read log %s", path);
			goto out;
		}
		rd.skip = total > o->tail ? total - o->tail : 0;
	}
	for (int i = nrot; i >= 1; i--) {
		snprintf(rp, sizeof(rp), "%s.%d", path, i);
		if (lr_open(&lr, rp) < 0) {
			lr_close(&lr);
			continue;   /* rotated away while we read */
		}
		r = drain(&rd, &lr);
		lr_close(&lr);
		if (r < 0)
			goto fail;
	}
	r = lr_open(&lr, path);
	if (r < 0) {
		lr_close(&lr);
		if (r != -ENOENT) {
			berth_errno(err, -r, "open log %s", path);
			goto out;
		}
		r = 0;
	} else {
		r = drain(&rd, &lr);
		if (r < 0)
			goto fail;
	}
	if (o->follow)
		r = follow(&rd, &lr, path, dir);
	if (r == 0)
		r = ob_flush(ob_out);
	if (r == 0)
		r = ob_flush(ob_err);
fail:
	if (r < 0)
		berth_errno(err, -r, "logs of %s", path);
out:
	lr_close(&lr);
	free(lr.buf);
	free(rd.scratch);
	free(ob_out);
	free(ob_err);
	return r;
}
