/* container.c — container records and live state; see container.h. */
#include "engine/container.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "core/cleanup.h"
#include "core/fs.h"

#define MAX_INSERT_ATTEMPTS 200

void ctr_record_clear(struct ctr_record *r)
{
	if (!r)
		return;
	free(r->name);
	free(r->image_ref);
	free(r->runtime);
	json_decref(r->record);
	memset(r, 0, sizeof(*r));
}

int ctr_name_check(const char *name, struct berth_error *err)
{
	const char *s = name ? name : "";
	if (*s == '/')
		s++;
	size_t n = strlen(s);
	bool ok = n >= 2 && isascii((unsigned char) s[0]) && isalnum((unsigned char) s[0]);
	for (size_t i = 1; ok && i < n; i++) {
		unsigned char c = (unsigned char) s[i];
		ok = isascii(c) && (isalnum(c) || c == '_' || c == '.' || c == '-');
	}
	if (ok)
		return 0;
	return berth_err(err, EINVAL, "Invalid container name (%s), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed",
	                 name ? name : "");
}

static int random_bytes(void *buf, size_t len)
{
	unsigned char *p = buf;
	while (len > 0) {
		ssize_t n = getrandom(p, len, 0);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		p += n;
		len -= (size_t) n;
	}
	return 0;
}

static int new_id(char id[65])
{
	unsigned char raw[32];
	int r = random_bytes(raw, sizeof(raw));
	if (r < 0)
		return r;
	static const char hex[] = "0123456789abcdef";
	for (size_t i = 0; i < sizeof(raw); i++) {
		id[2 * i] = hex[raw[i] >> 4];
		id[2 * i + 1] = hex[raw[i] & 15];
	}
	id[64] = '\0';
	return 0;
}

/* Generated names: "<adjective>_<surname>", seafarers and scientists. */
static const char *const name_adjectives[] = {
	"bold", "brave", "bright", "brisk", "busy", "calm", "candid", "cheerful", "clever", "crisp",
	"curious", "daring", "eager", "earnest", "fair", "fearless", "fierce", "gallant", "gentle", "glad",
	"golden", "hardy", "hearty", "humble", "jolly", "keen", "kind", "lively", "lucky", "merry",
	"mighty", "modest", "nimble", "noble", "patient", "plucky", "polite", "proud", "quick", "quiet",
	"rapid", "ready", "sharp", "silent", "sleek", "snappy", "steady", "sunny", "swift", "tidy",
	"vivid", "witty", "zealous",
};
static const char *const name_surnames[] = {
	"amundsen", "babbage", "ballard", "bohr", "boole", "cabot", "cook", "cousteau", "curie", "darwin",
	"dirac", "drake", "earhart", "euler", "faraday", "fermi", "feynman", "franklin", "galileo", "gauss",
	"goodall", "hamilton", "henson", "heyerdahl", "hilbert", "hopper", "hypatia", "kepler", "lamarr", "liskov",
	"lovelace", "magellan", "maxwell", "meitner", "nansen", "newton", "noether", "pascal", "piccard", "ramanujan",
	"riemann", "ritchie", "sagan", "shackleton", "shannon", "tasman", "tesla", "thompson", "turing", "vespucci",
	"zheng",
};

/* Docker-style: plain for the first tries, then with a growing random
 * number so a crowded store still finds a free name quickly. */
static int generate_name(int attempt, char *buf, size_t len)
{
	uint32_t rnd[3];
	int r = random_bytes(rnd, sizeof(rnd));
	if (r < 0)
		return r;
	const char *a = name_adjectives[rnd[0] % ARRAY_SIZE(name_adjectives)];
	const char *s = name_surnames[rnd[1] % ARRAY_SIZE(name_surnames)];
	if (attempt < 8)
		snprintf(buf, len, "%s_%s", a, s);
	else
		snprintf(buf, len, "%s_%s%" PRIu32, a, s, rnd[2] % (attempt < 32 ? 10u : 100000u));
	return 0;
}

static int64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t) ts.tv_sec * 1000000000 + ts.tv_nsec;
}

int ctr_record_insert(struct berth_db *db, struct ctr_record *r, char **chain_ids, size_t n_layers,
                      struct berth_error *err)
{
	if (!r->record)
		return berth_err(err, EINVAL, "container record: no JSON record");
	if (r->name) {
		int rc = ctr_name_check(r->name, err);
		if (rc < 0)
			return rc;
		if (r->name[0] == '/')
			memmove(r->name, r->name + 1, strlen(r->name));
	}
	_cleanup_free_ char *text = json_dumps(r->record, JSON_COMPACT);
	if (!text)
		return berth_err(err, ENOMEM, "container record: serializing");
	struct db_container row = {
		.image_ref = r->image_ref,
		.created = r->created > 0 ? r->created : now_ns(),
		.runtime = r->runtime,
		.record = text,
	};
	snprintf(row.image_id, sizeof(row.image_id), "%s", r->image_id);
	char generated[96];
	/* A fresh error per attempt: berth_err keeps the first message, and a
	 * lost race for a generated name is not the caller's error. */
	struct berth_error e = { 0 };
	int rc = 0;
	for (int attempt = 0; attempt < MAX_INSERT_ATTEMPTS; attempt++) {
		berth_error_clear(&e);
		rc = new_id(row.id);
		if (rc < 0)
			return berth_errno(err, rc, "container record: generating an id");
		if (r->name) {
			row.name = r->name;
		} else {
			rc = generate_name(attempt, generated, sizeof(generated));
			if (rc < 0)
				return berth_errno(err, rc, "container record: generating a name");
			row.name = generated;
		}
		rc = db_container_insert(db, &row, chain_ids, n_layers, &e);
		if (rc == 0)
			break;
		if (rc == -EADDRINUSE || (rc == -EEXIST && !r->name))
			continue;
		return berth_err(err, e.code, "%s", e.msg);
	}
	if (rc < 0)
		return berth_err(err, e.code, "%s (after %d attempts)", e.msg, MAX_INSERT_ATTEMPTS);
	if (!r->name && !(r->name = strdup(generated))) {
		/* The row exists; the caller must still learn its name. */
		db_container_delete(db, row.id, NULL);
		return berth_err(err, ENOMEM, "container record: out of memory");
	}
	memcpy(r->id, row.id, sizeof(r->id));
	r->created = row.created;
	return 0;
}

/* db row -> ctr_record (steals the strings of row) */
static int record_from_row(struct db_container *row, struct ctr_record *out, struct berth_error *err)
{
	memset(out, 0, sizeof(*out));
	json_error_t je;
	json_t *j = json_loads(row->record ? row->record : "", 0, &je);
	if (!j || !json_is_object(j)) {
		json_decref(j);
		return berth_err(err, EBADMSG, "container %s: record is not a JSON object: %s", row->id,
		                 j ? "wrong type" : je.text);
	}
	/* The row's name is authoritative: a rename does not rewrite the record. */
	_cleanup_free_ char *slashed = NULL;
	if (asprintf(&slashed, "/%s", row->name ? row->name : "") < 0) {
		slashed = NULL;
		json_decref(j);
		return berth_err(err, ENOMEM, "container %s: out of memory", row->id);
	}
	if (json_object_set_new(j, "Name", json_string(slashed)) < 0) {
		json_decref(j);
		return berth_err(err, ENOMEM, "container %s: out of memory", row->id);
	}
	memcpy(out->id, row->id, sizeof(out->id));
	memcpy(out->image_id, row->image_id, sizeof(out->image_id));
	out->name = steal_ptr(row->name);
	out->image_ref = steal_ptr(row->image_ref);
	out->runtime = steal_ptr(row->runtime);
	out->created = row->created;
	out->record = j;
	return 0;
}

int ctr_record_get(struct berth_db *db, const char *id, struct ctr_record *out, struct berth_error *err)
{
	memset(out, 0, sizeof(*out));
	struct db_container row;
	int r = db_container_get(db, id, &row, err);
	if (r < 0)
		return r;
	r = record_from_row(&row, out, err);
	db_container_clear(&row);
	return r;
}

int ctr_resolve(struct berth_db *db, const char *s, char id[65], struct berth_error *err)
{
	return db_container_resolve(db, s, id, err);
}

int ctr_record_delete(struct berth_db *db, const char *id, struct berth_error *err)
{
	return db_container_delete(db, id, err);
}

int ctr_record_rename(struct berth_db *db, const char *id, const char *new_name, struct berth_error *err)
{
	int r = ctr_name_check(new_name, err);
	if (r < 0)
		return r;
	const char *name = new_name[0] == '/' ? new_name + 1 : new_name;
	struct db_container row;
	r = db_container_get(db, id, &row, err);
	if (r < 0)
		return r;
	bool same = row.name && !strcmp(row.name, name);
	db_container_clear(&row);
	if (same)
		return berth_err(err, EINVAL, "Renaming a container with the same name as its current name");
	return db_container_rename(db, id, name, err);
}

int ctr_record_update(struct berth_db *db, const char *id, json_t *record, struct berth_error *err)
{
	_cleanup_free_ char *text = json_dumps(record, JSON_COMPACT);
	if (!text)
		return berth_errno(err, ENOMEM, "container %s", id);
	return db_container_set_record(db, id, text, err);
}

struct walk_ctx {
	int (*fn)(void *ctx, const struct ctr_record *r);
	void *ctx;
};

static int walk_one(void *ctx, const struct db_container *c)
{
	struct walk_ctx *w = ctx;
	struct db_container row = *c;
	struct ctr_record rec;
	/* record_from_row steals strings: hand it copies of the borrowed row */
	row.name = c->name ? strdup(c->name) : NULL;
	row.image_ref = c->image_ref ? strdup(c->image_ref) : NULL;
	row.runtime = c->runtime ? strdup(c->runtime) : NULL;
	row.record = NULL;
	if ((c->name && !row.name) || (c->image_ref && !row.image_ref) || (c->runtime && !row.runtime)) {
		db_container_clear(&row);
		return -ENOMEM;
	}
	row.record = c->record;
	int r = record_from_row(&row, &rec, NULL);
	row.record = NULL;
	if (r == -EBADMSG) {
		/* still list it: the user must be able to see and remove it */
		memset(&rec, 0, sizeof(rec));
		memcpy(rec.id, row.id, sizeof(rec.id));
		memcpy(rec.image_id, row.image_id, sizeof(rec.image_id));
		rec.name = steal_ptr(row.name);
		rec.image_ref = steal_ptr(row.image_ref);
		rec.runtime = steal_ptr(row.runtime);
		rec.created = row.created;
		r = 0;
	}
	db_container_clear(&row);
	if (r < 0)
		return r;
	r = w->fn(w->ctx, &rec);
	ctr_record_clear(&rec);
	return r;
}

int ctr_records_walk(struct berth_db *db, int (*fn)(void *ctx, const struct ctr_record *r), void *ctx)
{
	struct walk_ctx w = { fn, ctx };
	return db_containers_walk(db, walk_one, &w);
}

/* ---- live state ---- */

void ctr_state_clear(struct ctr_state *s)
{
	if (!s)
		return;
	free(s->started_at);
	free(s->finished_at);
	free(s->error);
	memset(s, 0, sizeof(*s));
}

/* Field 22 (starttime) of /proc/<pid>/stat: 0 when unreadable. */
static unsigned long long proc_start_time(int pid)
{
	char path[64];
	snprintf(path, sizeof(path), "/proc/%d/stat", pid);
	_cleanup_free_ char *buf = NULL;
	if (berth_read_file(path, &buf, NULL) < 0)
		return 0;
	/* comm may hold spaces and parentheses: fields restart after the last ')' */
	char *p = strrchr(buf, ')');
	if (!p)
		return 0;
	p++;
	/* after ')' come fields 3 (state) .. ; starttime is field 22 */
	for (int field = 3; field < 22; field++) {
		p = strchr(p + 1, ' ');
		if (!p)
			return 0;
	}
	return strtoull(p + 1, NULL, 10);
}

static bool pid_alive(int pid, unsigned long long start)
{
	if (pid <= 0)
		return false;
	if (kill(pid, 0) < 0 && errno != EPERM)
		return false;
	if (start == 0)
		return true;
	unsigned long long now = proc_start_time(pid);
	/* unreadable /proc (hidepid, another pid namespace): trust kill(2) */
	return now == 0 || now == start;
}

static int state_str(json_t *j, const char *key, char **out)
{
	json_t *v = json_object_get(j, key);
	if (!v || json_is_null(v))
		return 0;
	if (!json_is_string(v))
		return -EBADMSG;
	const char *s = json_string_value(v);
	if (!*s)
		return 0;
	*out = strdup(s);
	return *out ? 0 : -ENOMEM;
}

/* The monitor writes the exit shortly after the container's pid is gone; while it
 * lives, "running" is still the truth (it is about to become "exited"). */
static bool monitor_alive(int dfd)
{
	_cleanup_free_ char *buf = NULL;
	size_t len = 0;
	if (berth_read_file_at(dfd, "monitor.pid", &buf, &len) < 0)
		return false;
	int pid = atoi(buf);
	if (pid <= 0)
		return false;
	char path[64], comm[64] = "";
	snprintf(path, sizeof(path), "/proc/%d/comm", pid);
	_cleanup_free_ char *c = NULL;
	if (berth_read_file(path, &c, &len) < 0)
		return false;
	snprintf(comm, sizeof(comm), "%s", c);
	return strncmp(comm, "berth-monitor", 13) == 0;
}

int ctr_state_read(const char *bundle_dir, struct ctr_state *out)
{
	memset(out, 0, sizeof(*out));
	_cleanup_close_ int dfd = open(bundle_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0)
		return -errno;
	_cleanup_free_ char *buf = NULL;
	size_t len = 0;
	int r = berth_read_file_at(dfd, "status.json", &buf, &len);
	if (r == -ENOENT) {
		snprintf(out->state, sizeof(out->state), "created");
		return 0;
	}
	if (r < 0)
		return r;
	json_t *j = json_loadb(buf, len, 0, NULL);
	if (!json_is_object(j)) {
		json_decref(j);
		return -EBADMSG;
	}
	const char *state = json_string_value(json_object_get(j, "state"));
	json_t *pid = json_object_get(j, "pid"), *code = json_object_get(j, "exit_code");
	json_t *oom = json_object_get(j, "oom_killed"), *start = json_object_get(j, "pid_start");
	r = 0;
	if (!state || (strcmp(state, "created") && strcmp(state, "running") && strcmp(state, "paused") &&
	               strcmp(state, "exited")))
		r = -EBADMSG;
	else if ((pid && !json_is_null(pid) && !json_is_integer(pid)) ||
	         (code && !json_is_null(code) && !json_is_integer(code)) ||
	         (oom && !json_is_null(oom) && !json_is_boolean(oom)) ||
	         (start && !json_is_null(start) && !json_is_integer(start)))
		r = -EBADMSG;
	if (r == 0) {
		snprintf(out->state, sizeof(out->state), "%s", state);
		out->pid = json_is_integer(pid) ? (int) json_integer_value(pid) : 0;
		out->exit_code = json_is_integer(code) ? (int) json_integer_value(code) : 0;
		out->oom_killed = json_is_true(oom);
		r = state_str(j, "started_at", &out->started_at);
	}
	if (r == 0)
		r = state_str(j, "finished_at", &out->finished_at);
	if (r == 0)
		r = state_str(j, "error", &out->error);
	unsigned long long start_ticks = json_is_integer(start) ? (unsigned long long) json_integer_value(start) : 0;
	json_decref(j);
	if (r < 0) {
		ctr_state_clear(out);
		return r;
	}
	if ((!strcmp(out->state, "running") || !strcmp(out->state, "paused")) && !pid_alive(out->pid, start_ticks) &&
	    !monitor_alive(dfd)) {
		/* Nobody recorded the exit: the monitor died with (or before) its container. */
		snprintf(out->state, sizeof(out->state), "exited");
		out->exit_code = 255;
		free(out->error);
		if (!(out->error = strdup("monitor lost"))) {
			ctr_state_clear(out);
			return -ENOMEM;
		}
	}
	return 0;
}

static int parse_digits(const char **p, int n, int *out)
{
	int v = 0;
	for (int i = 0; i < n; i++, (*p)++) {
		if (!isdigit((unsigned char) **p))
			return -EINVAL;
		v = v * 10 + (**p - '0');
	}
	*out = v;
	return 0;
}

static int expect(const char **p, char c)
{
	if (**p != c)
		return -EINVAL;
	(*p)++;
	return 0;
}

int ctr_time_parse(const char *s, int64_t *ns_out)
{
	*ns_out = 0;
	if (!s || !*s)
		return 0;
	const char *p = s;
	int Y, M, D, h, m, sec;
	if (parse_digits(&p, 4, &Y) || expect(&p, '-') || parse_digits(&p, 2, &M) || expect(&p, '-') ||
	    parse_digits(&p, 2, &D))
		return -EINVAL;
	if (*p != 'T' && *p != 't' && *p != ' ')
		return -EINVAL;
	p++;
	if (parse_digits(&p, 2, &h) || expect(&p, ':') || parse_digits(&p, 2, &m) || expect(&p, ':') ||
	    parse_digits(&p, 2, &sec))
		return -EINVAL;
	if (M < 1 || M > 12 || D < 1 || D > 31 || h > 23 || m > 59 || sec > 60)
		return -EINVAL;
	int64_t frac = 0;
	if (*p == '.') {
		p++;
		int digits = 0;
		while (isdigit((unsigned char) *p)) {
			if (digits < 9) {
				frac = frac * 10 + (*p - '0');
				digits++;
			}
			p++;
		}
		if (digits == 0)
			return -EINVAL;
		for (; digits < 9; digits++)
			frac *= 10;
	}
	int64_t offset = 0;
	if (*p == 'Z' || *p == 'z') {
		p++;
	} else if (*p == '+' || *p == '-') {
		int sign = *p == '-' ? -1 : 1, oh, om;
		p++;
		if (parse_digits(&p, 2, &oh) || expect(&p, ':') || parse_digits(&p, 2, &om))
			return -EINVAL;
		offset = sign * (oh * 3600 + om * 60);
	} else {
		return -EINVAL;
	}
	if (*p)
		return -EINVAL;
	if (Y <= 1)    /* Go's zero time.Time: never happened */
		return 0;
	struct tm tm = { .tm_year = Y - 1900, .tm_mon = M - 1, .tm_mday = D, .tm_hour = h, .tm_min = m, .tm_sec = sec };
	time_t t = timegm(&tm);
	*ns_out = ((int64_t) t - offset) * 1000000000 + frac;
	return 0;
}

/* go-units HumanDuration, whole seconds */
static void human_duration(int64_t secs, char *buf, size_t len)
{
	if (secs < 0)
		secs = 0;
	int64_t minutes = secs / 60, hours = (secs + 1800) / 3600;
	if (secs < 1)
		snprintf(buf, len, "Less than a second");
	else if (secs == 1)
		snprintf(buf, len, "1 second");
	else if (secs < 60)
		snprintf(buf, len, "%" PRId64 " seconds", secs);
	else if (minutes == 1)
		snprintf(buf, len, "About a minute");
	else if (minutes < 60)
		snprintf(buf, len, "%" PRId64 " minutes", minutes);
	else if (hours == 1)
		snprintf(buf, len, "About an hour");
	else if (hours < 48)
		snprintf(buf, len, "%" PRId64 " hours", hours);
	else if (hours < 24 * 7 * 2)
		snprintf(buf, len, "%" PRId64 " days", hours / 24);
	else if (hours < 24 * 30 * 2)
		snprintf(buf, len, "%" PRId64 " weeks", hours / 24 / 7);
	else if (hours < 24 * 365 * 2)
		snprintf(buf, len, "%" PRId64 " months", hours / 24 / 30);
	else
		snprintf(buf, len, "%" PRId64 " years", secs / 3600 / 24 / 365);
}

char *ctr_state_status(const struct ctr_state *s, int64_t now)
{
	int64_t started = 0, finished = 0;
	if (ctr_time_parse(s->started_at, &started) < 0)
		started = 0;
	if (ctr_time_parse(s->finished_at, &finished) < 0)
		finished = 0;
	char dur[64], out[160];
	bool paused = !strcmp(s->state, "paused");
	if (paused || !strcmp(s->state, "running")) {
		if (started) {
			human_duration(now - started / 1000000000, dur, sizeof(dur));
			snprintf(out, sizeof(out), "Up %s%s", dur, paused ? " (Paused)" : "");
		} else {
			snprintf(out, sizeof(out), "Up%s", paused ? " (Paused)" : "");
		}
	} else if (!strcmp(s->state, "exited") && started) {
		if (finished) {
			human_duration(now - finished / 1000000000, dur, sizeof(dur));
			snprintf(out, sizeof(out), "Exited (%d) %s ago", s->exit_code, dur);
		} else {
			snprintf(out, sizeof(out), "Exited (%d)", s->exit_code);
		}
	} else {
		/* never started (docker shows a failed start as Created too) */
		snprintf(out, sizeof(out), "Created");
	}
	return strdup(out);
}
