/* events.c - GET /v1/jobs/{id}/events: the job as Server-Sent Events, from its first record
 * (or after Last-Event-ID) to its end. `curl -N` shows a deploy live. Each event is one
 * journal record: "id: <seq>", "event: job|state|step|log|cancel|end", "data: <record>".
 * When there is nothing new the content reader suspends the connection and a job watch
 * resumes it: no thread waits, no polling. The stream closes after the job's end record. */
#include "api_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct sse {
	struct md_jobs *jobs;
	struct MHD_Connection *conn;
	char id[80];
	uint64_t last_seq;
	uint64_t watch;
	char *buf;
	size_t len, off, cap;
	bool done;
};

static void sse_wake(void *ctx)
{
	struct sse *s = ctx;
	s->watch = 0;
	MHD_resume_connection(s->conn);
}

static bool append(struct sse *s, const char *text, size_t n)
{
	if (s->len + n > s->cap) {
		size_t cap = s->cap ? s->cap : 4096;
		while (cap < s->len + n)
			cap *= 2;
		char *b = realloc(s->buf, cap);
		if (!b)
			return false;
		s->buf = b;
		s->cap = cap;
	}
	memcpy(s->buf + s->len, text, n);
	s->len += n;
	return true;
}

static bool add_events(struct sse *s, json_t *events)
{
	size_t i;
	json_t *ev;
	json_array_foreach(events, i, ev)
	{
		char head[128];
		char *data = json_dumps(json_object_get(ev, "data"), JSON_COMPACT | JSON_PRESERVE_ORDER);
		uint64_t seq = (uint64_t)json_integer_value(json_object_get(ev, "seq"));
		int n = snprintf(head, sizeof head, "id: %llu\nevent: %s\ndata: ", (unsigned long long)seq,
				 json_string_value(json_object_get(ev, "event")));
		bool ok = data && append(s, head, (size_t)n) && append(s, data, strlen(data)) && append(s, "\n\n", 2);
		free(data);
		if (!ok)
			return false;
		s->last_seq = seq;
	}
	return true;
}

static ssize_t sse_read(void *cls, uint64_t pos, char *out, size_t max)
{
	struct sse *s = cls;
	(void)pos;
	for (;;) {
		if (s->off < s->len) {
			size_t n = s->len - s->off < max ? s->len - s->off : max;
			memcpy(out, s->buf + s->off, n);
			s->off += n;
			return (ssize_t)n;
		}
		s->len = s->off = 0;
		if (s->done)
			return MHD_CONTENT_READER_END_OF_STREAM;
		json_t *events = NULL;
		bool ended = false;
		struct md_error err = {0};
		if (md_jobs_events(s->jobs, s->id, s->last_seq, &events, &ended, &err) < 0)
			return MHD_CONTENT_READER_END_WITH_ERROR;
		bool any = json_array_size(events) > 0;
		bool ok = add_events(s, events);
		json_decref(events);
		if (!ok)
			return MHD_CONTENT_READER_END_WITH_ERROR;
		if (ended)
			s->done = true;
		if (any || ended)
			continue;
		/* Nothing new: park the connection until the job has something to say. Suspend
		 * first, then watch, so that a wake-up can never come before the suspension. */
		MHD_suspend_connection(s->conn);
		enum md_watch_result w = MD_WATCH_SHUTDOWN;
		int r = md_jobs_watch(s->jobs, s->id, s->last_seq, sse_wake, s, &w, &s->watch);
		if (r == 0 && w == MD_WATCH_PARKED)
			return 0;
		MHD_resume_connection(s->conn);
		if (r < 0 || w == MD_WATCH_SHUTDOWN) /* the job is gone, or the daemon is stopping */
			s->done = true;
	}
}

static void sse_free(void *cls)
{
	struct sse *s = cls;
	if (s->watch)
		md_jobs_unwatch(s->jobs, s->watch);
	free(s->buf);
	free(s);
}

struct MHD_Response *api_job_events(struct md_request *req, unsigned *ret_status)
{
	struct md_error err = {0};
	json_t *none = NULL;
	bool ended;
	const char *last = api_header(req, "Last-Event-ID");
	struct sse *s;
	struct MHD_Response *r;

	/* 404 for an unknown job before the stream starts. */
	if (md_jobs_events(req->api->deps.jobs, req->param, UINT64_MAX, &none, &ended, &err) < 0)
		return api_error_from(&err, ret_status);
	json_decref(none);
	s = calloc(1, sizeof *s);
	if (!s)
		return api_error(500, "internal", "out of memory", NULL, ret_status);
	s->jobs = req->api->deps.jobs;
	s->conn = req->conn;
	snprintf(s->id, sizeof s->id, "%s", req->param);
	s->last_seq = last ? strtoull(last, NULL, 10) : 0;
	char hello[160];
	int n = snprintf(hello, sizeof hello, ": events of job %s\nretry: 2000\n\n", s->id);
	append(s, hello, (size_t)n);
	r = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 16 * 1024, sse_read, s, sse_free);
	if (!r) {
		sse_free(s);
		return NULL;
	}
	MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, "text/event-stream");
	MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
	MHD_add_response_header(r, "X-Accel-Buffering", "no");
	*ret_status = MHD_HTTP_OK;
	return r;
}
