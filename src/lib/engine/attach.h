/* attach.h — the wire protocol between berth-monitor and attach clients.
 *
 * The monitor listens on <bundle>/attach.sock (AF_UNIX SOCK_SEQPACKET, mode
 * 0600).  Every message is one packet: a type byte and a payload, so message
 * boundaries survive without any length prefix.  Any number of clients may
 * be attached at once; each gets the container's output produced while it
 * is connected (earlier output is in the log file, never replayed here).
 *
 *   monitor -> client   ATTACH_STDOUT data | ATTACH_STDERR data |
 *                       ATTACH_EXIT int32 exit code (host byte order; sent
 *                       once the container has exited and its output was
 *                       drained, just before the monitor closes the socket)
 *   client -> monitor   ATTACH_STDIN data | ATTACH_CLOSE_STDIN |
 *                       ATTACH_RESIZE uint16 rows, uint16 cols (host order)
 *
 * Payloads are at most ATTACH_DATA_MAX bytes; attach_send_stdin() splits
 * longer input.  A tty container reports all output as ATTACH_STDOUT.
 */
#ifndef BERTH_ENGINE_ATTACH_H
#define BERTH_ENGINE_ATTACH_H

#include <stddef.h>
#include <stdint.h>

#include "core/error.h"

#define ATTACH_SOCKET_NAME "attach.sock"
#define ATTACH_DATA_MAX (16 * 1024)
#define ATTACH_FRAME_MAX (1 + ATTACH_DATA_MAX)

/* monitor -> client */
#define ATTACH_STDOUT 1
#define ATTACH_STDERR 2
#define ATTACH_EXIT 3
/* client -> monitor */
#define ATTACH_STDIN 1
#define ATTACH_CLOSE_STDIN 2
#define ATTACH_RESIZE 3

/* Connect to <bundle_dir>/attach.sock.  -ENOENT / -ECONNREFUSED: no monitor
 * (the container is not running; read status.json). */
int attach_connect(const char *bundle_dir, struct berth_error *err);

/* Client side.  Return 0 or -errno (-EPIPE once the monitor is gone). */
int attach_send_stdin(int fd, const void *buf, size_t len);
int attach_send_close_stdin(int fd);
int attach_send_resize(int fd, unsigned short rows, unsigned short cols);

/* Receive one frame: *type, payload into buf (cap bytes; ATTACH_DATA_MAX
 * always suffices), *len.  For ATTACH_EXIT use attach_exit_code().
 * Returns 0, -ECONNRESET when the monitor closed the socket, or -errno;
 * -EBADMSG for an empty or truncated frame. */
int attach_recv(int fd, int *type, void *buf, size_t cap, size_t *len);
int attach_exit_code(const void *payload, size_t len);

/* Shared encoders/decoders (the monitor and the tests use them). */
/* Fill frame with type + payload; returns the frame length. */
size_t attach_encode(uint8_t *frame, int type, const void *payload, size_t len);
size_t attach_encode_exit(uint8_t frame[5], int exit_code);
/* Decode a resize payload; -EBADMSG when its size is wrong. */
int attach_decode_resize(const void *payload, size_t len, unsigned short *rows, unsigned short *cols);

#endif
