/* cleanup.h — scope-exit helpers.
 *
 * Promises: variables declared with these attributes are released when they
 * leave scope, whatever path the function takes.  Ownership moves out of a
 * scope only through steal_ptr()/steal_fd(), so a reader always sees where a
 * resource changes hands.
 */
#ifndef BERTH_CORE_CLEANUP_H
#define BERTH_CORE_CLEANUP_H

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
#include <dirent.h>

static inline void berth_freep(void *p) { free(*(void **) p); }
static inline void berth_closep(int *fd)
{
	if (*fd >= 0) {
		int saved = errno;
		close(*fd);
		errno = saved;
	}
}
static inline void berth_fclosep(FILE **f) { if (*f) fclose(*f); }
static inline void berth_closedirp(DIR **d) { if (*d) closedir(*d); }
static inline void berth_strv_freep(char ***v)
{
	if (*v) {
		for (char **p = *v; *p; p++)
			free(*p);
		free(*v);
	}
}

#define _cleanup_(f) __attribute__((cleanup(f)))
#define _cleanup_free_ _cleanup_(berth_freep)
#define _cleanup_close_ _cleanup_(berth_closep)
#define _cleanup_fclose_ _cleanup_(berth_fclosep)
#define _cleanup_closedir_ _cleanup_(berth_closedirp)
#define _cleanup_strv_ _cleanup_(berth_strv_freep)

#define steal_ptr(p) ({ __typeof__(p) _t = (p); (p) = NULL; _t; })
#define steal_fd(fd) ({ int _t = (fd); (fd) = -1; _t; })

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

#endif
