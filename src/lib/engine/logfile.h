/* logfile.h — container logs in docker's json-file format: writer and reader.
 *
 * The writer is used by berth-monitor: it cuts a container's output into
 * lines and appends one JSON object per line, byte-compatible with docker's
 * json-file driver ({"log":"...\n","stream":"stdout","time":"RFC3339Nano"}),
 * escaping as docker does (\n \r \t \" \\, other control characters and
 * <, >, & as \u00XX, U+2028/U+2029 escaped, invalid UTF-8 as \ufffd).  A line
 * longer than LOGFILE_LINE_MAX is written in LOGFILE_LINE_MAX pieces without
 * the newline, and a trailing partial line is written at flush.  Each record
 * is one write(2), so a reader never sees a record cut by another.  With a
 * size limit the file rotates (ctr.log -> ctr.log.1 -> ... keeping max_files
 * files in all).  After open, the writer allocates nothing.
 *
 * The reader (berth logs) prints the raw text of the records, oldest rotated
 * file first, to the stream's fd, with tail / since / timestamps filters,
 * and in follow mode keeps reading (across rotations) until the container
 * has exited and everything was read.  It needs no JSON library.
 */
#ifndef BERTH_ENGINE_LOGFILE_H
#define BERTH_ENGINE_LOGFILE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "core/error.h"

#define LOGFILE_LINE_MAX (16 * 1024)

enum logfile_stream { LOGFILE_STDOUT = 0, LOGFILE_STDERR = 1 };

struct logfile_writer;

/* Open (append to) path.  max_size <= 0: no rotation; max_files < 1 counts
 * as 1 (at the limit the file is truncated instead of rotated). */
int logfile_writer_open(const char *path, int64_t max_size, int max_files,
			struct logfile_writer **out, struct berth_error *err);
/* Feed output of one stream; complete lines are written at once, a partial
 * line is kept until its newline or until LOGFILE_LINE_MAX bytes. */
int logfile_writer_feed(struct logfile_writer *w, enum logfile_stream s, const char *data, size_t len);
/* Write the kept partial line of a stream (if any), without a newline. */
int logfile_writer_flush(struct logfile_writer *w, enum logfile_stream s);
/* Write one record as it is (no line splitting); ts NULL = now. */
int logfile_writer_record(struct logfile_writer *w, enum logfile_stream s, const char *data, size_t len,
			  const struct timespec *ts);
/* Flushes both streams and frees the writer (NULL is fine). */
void logfile_writer_close(struct logfile_writer *w);

/* JSON string body of in[0..len) as docker's json-file escapes it.  out must
 * hold 6 * len + 1 bytes; returns the length written (NUL-terminated). */
size_t logfile_json_escape(char *out, const char *in, size_t len);

/* RFC3339Nano in UTC.  fixed9: always nine fraction digits (docker logs -t);
 * otherwise Go's RFC3339Nano (trailing zeros and an all-zero fraction
 * dropped), as docker stores times.  buf needs 40 bytes. */
void logfile_format_time(const struct timespec *ts, bool fixed9, char *buf, size_t cap);
/* Parse an RFC3339(Nano) time with Z or +hh:mm offset into ns since the epoch. */
int logfile_parse_time(const char *s, int64_t *ns);

struct logfile_read_opts {
	bool follow;
	bool timestamps;          /* prefix each line with its fixed9 time and a space */
	int64_t since_ns;         /* records strictly older are skipped; 0 = all */
	int64_t until_ns;         /* records newer are skipped; 0 = no limit */
	long tail;                /* last N records (of the whole log, before since); -1 = all */
	int out_fd, err_fd;
	/* follow stops once the log is fully read and: status.json in the log's
	 * directory (written by berth-monitor) no longer says "running"/"created",
	 * or says running but its pid is gone (the monitor was killed), or stop()
	 * returns true.  stop may be NULL. */
	bool (*stop)(void *ctx);
	void *stop_ctx;
};

/* Print the log at path (and its rotated files).  -ENOENT is not an error:
 * a container that never wrote has no log.  Returns 0 or -errno (a write
 * error on out/err such as -EPIPE included). */
int logfile_read(const char *path, const struct logfile_read_opts *o, struct berth_error *err);

/* One decoded record, for callers that want the records themselves.
 * text points into scratch storage valid until the next call. */
struct logfile_record {
	enum logfile_stream stream;
	int64_t time_ns;
	const char *text;
	size_t len;
};
/* Decode one json-file line (without its newline).  buf receives the
 * unescaped text and must hold len bytes.  -EINVAL on a malformed line. */
int logfile_parse_line(const char *line, size_t len, char *buf, struct logfile_record *rec);

#endif
