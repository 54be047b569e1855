/* signals.h — signal names as runc and kill(1) spell them.
 *
 * Promises: berth_signal_parse() accepts "KILL", "SIGKILL", "kill", "9",
 * "RTMIN+3" / "SIGRTMIN+3", "RTMAX-1", and refuses anything that is not a
 * signal on this system with -EINVAL.
 */
#ifndef BERTH_CORE_SIGNALS_H
#define BERTH_CORE_SIGNALS_H

int berth_signal_parse(const char *s);
/* "SIGTERM" for 15; NULL for numbers without a name. */
const char *berth_signal_name(int sig);

#endif
