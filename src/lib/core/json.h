/* json.h — small jansson helpers shared by the modules that emit JSON.
 *
 * Promises: builders return a new reference or NULL on allocation failure,
 * never a half-built value.
 */
#ifndef BERTH_CORE_JSON_H
#define BERTH_CORE_JSON_H

#include <jansson.h>
#include <stddef.h>

/* A JSON array of the n strings in v. */
json_t *berth_json_strv(const char *const *v, size_t n);

#endif
