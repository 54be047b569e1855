#include "spec/state.h"

#include <errno.h>
#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/cleanup.h"

static const char *const statuses[] = { "creating", "created", "running", "stopped", "paused" };

char *spec_state_to_json(const struct spec_state *s, bool pretty)
{
	if (!s || !s->oci_version || !s->id || !s->status || !s->bundle)
		return NULL;
	json_t *o = json_object();
	if (!o)
		return NULL;
	/* jansson keeps insertion order, which gives runc's key order. */
	int r = json_object_set_new(o, "ociVersion", json_string(s->oci_version));
	r |= json_object_set_new(o, "id", json_string(s->id));
	r |= json_object_set_new(o, "status", json_string(s->status));
	if (s->pid > 0)
		r |= json_object_set_new(o, "pid", json_integer(s->pid));
	r |= json_object_set_new(o, "bundle", json_string(s->bundle));
	if (s->n_annotations > 0) {
		json_t *a = json_object();
		r |= json_object_set_new(o, "annotations", a);
		for (size_t i = 0; a && i < s->n_annotations; i++)
			r |= json_object_set_new(a, s->annotations[i].key,
						 json_string(s->annotations[i].value));
	}
	char *out = r == 0 ? json_dumps(o, pretty ? JSON_INDENT(2) : JSON_COMPACT) : NULL;
	json_decref(o);
	return out;
}

void spec_state_clear(struct spec_state *s)
{
	if (!s)
		return;
	free(s->oci_version);
	free(s->id);
	free(s->status);
	free(s->bundle);
	for (size_t i = 0; s->annotations && i < s->n_annotations; i++) {
		free(s->annotations[i].key);
		free(s->annotations[i].value);
	}
	free(s->annotations);
	memset(s, 0, sizeof(*s));
}

static int take_string(json_t *root, const char *key, bool required, char **out,
		       struct berth_error *err)
{
	json_t *v = json_object_get(root, key);
	if (!v || json_is_null(v))
		return required ? berth_err(err, EINVAL, "state: %s: is required", key) : 0;
	if (!json_is_string(v))
		return berth_err(err, EINVAL, "state: %s: must be a string", key);
	*out = strdup(json_string_value(v));
	return *out ? 0 : berth_errno(err, ENOMEM, "state: %s", key);
}

static int parse_state(json_t *root, struct spec_state *s, struct berth_error *err)
{
	int r;
	if ((r = take_string(root, "ociVersion", true, &s->oci_version, err)) < 0 ||
	    (r = take_string(root, "id", true, &s->id, err)) < 0 ||
	    (r = take_string(root, "status", true, &s->status, err)) < 0 ||
	    (r = take_string(root, "bundle", true, &s->bundle, err)) < 0)
		return r;

	bool known = false;
	for (size_t i = 0; i < ARRAY_SIZE(statuses); i++)
		known |= strcmp(statuses[i], s->status) == 0;
	if (!known)
		return berth_err(err, EINVAL, "state: status: unknown status \"%s\"", s->status);

	json_t *pid = json_object_get(root, "pid");
	if (pid && !json_is_null(pid)) {
		if (!json_is_integer(pid))
			return berth_err(err, EINVAL, "state: pid: must be an integer");
		json_int_t p = json_integer_value(pid);
		if (p < 0 || p > INT32_MAX)
			return berth_err(err, EINVAL, "state: pid: %lld is not a valid process ID",
					 (long long) p);
		s->pid = (pid_t) p;
	}

	json_t *ann = json_object_get(root, "annotations");
	if (ann && !json_is_null(ann)) {
		if (!json_is_object(ann))
			return berth_err(err, EINVAL, "state: annotations: must be an object");
		size_t n = json_object_size(ann);
		if (n == 0)
			return 0;
		s->annotations = calloc(n, sizeof(*s->annotations));
		if (!s->annotations)
			return berth_errno(err, ENOMEM, "state: annotations");
		const char *k;
		json_t *v;
		json_object_foreach(ann, k, v) {
			if (!json_is_string(v))
				return berth_err(err, EINVAL, "state: annotations.%s: must be a string", k);
			struct spec_kv *kv = &s->annotations[s->n_annotations++];
			kv->key = strdup(k);
			kv->value = strdup(json_string_value(v));
			if (!kv->key || !kv->value)
				return berth_errno(err, ENOMEM, "state: annotations.%s", k);
		}
	}
	return 0;
}

int spec_state_from_json(const char *json, struct spec_state *out, struct berth_error *err)
{
	json_error_t jerr;
	json_t *root = json_loads(json, 0, &jerr);
	if (!root)
		return berth_err(err, EINVAL, "state: line %d column %d: %s", jerr.line, jerr.column,
				 jerr.text);
	struct spec_state s = { 0 };
	int r = json_is_object(root) ? parse_state(root, &s, err)
				     : berth_err(err, EINVAL, "state: must be a JSON object");
	json_decref(root);
	if (r < 0) {
		spec_state_clear(&s);
		return r;
	}
	*out = s;
	return 0;
}
