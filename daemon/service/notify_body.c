/* notify_body.c - what an endpoint receives for an event: the Standard Webhooks body
 * {"type", "timestamp", "data"}, or a Slack incoming-webhook message (a text fallback and
 * blocks: what happened, to which database, by whom, how long, the error and its hint, and a
 * link to the job on the web console when public_url is set). Pure:
 * no I/O. Not here: signing (notify_send.c). */
#include "notify_internal.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define SLACK_TEXT_MAX 2900 /* Slack refuses a section text over 3000 characters */

static const char *str(json_t *o, const char *key)
{
	const char *s = json_string_value(json_object_get(o, key));
	return s && *s ? s : NULL;
}

/* Seconds between two of our ISO 8601 UTC times, or -1. */
static double seconds_between(const char *a, const char *b)
{
	struct tm ta = {0}, tb = {0};
	double fa = 0, fb = 0;
	const char *ra, *rb;
	if (!a || !b || !(ra = strptime(a, "%Y-%m-%dT%H:%M:%S", &ta)) || !(rb = strptime(b, "%Y-%m-%dT%H:%M:%S", &tb)))
		return -1;
	if (*ra == '.')
		fa = strtod(ra, NULL);
	if (*rb == '.')
		fb = strtod(rb, NULL);
	return difftime(timegm(&tb), timegm(&ta)) + fb - fa;
}

/* "job 3f2a… (deploy) succeeded", "backup created", "health changed: ok -> degraded". */
static void headline(const char *type, json_t *data, char *out, size_t sz)
{
	const char *kind = str(data, "kind"), *state = str(data, "state"), *id = str(data, "id");
	if (strncmp(type, "job.", 4) == 0)
		snprintf(out, sz, "%s job %.8s %s", kind ? kind : "a", id ? id : "", type + 4);
	else if (strcmp(type, "health.changed") == 0)
		snprintf(out, sz, "health changed: %s -> %s", str(data, "from") ? str(data, "from") : "?",
			 str(data, "status") ? str(data, "status") : "?");
	else if (strcmp(type, "test") == 0)
		snprintf(out, sz, "test notification");
	else
		snprintf(out, sz, "%s%s%s", type, state ? ": " : "", state ? state : "");
}

/* A job id (a UUID) that can go into a URL and a Slack <url|text> link as it is. */
static bool link_safe(const char *s)
{
	size_t n = strspn(s, "0123456789abcdefABCDEF-");
	return n > 0 && n < 80 && s[n] == '\0';
}

static json_t *mrkdwn(const char *text)
{
	return json_pack("{s:s, s:s%}", "type", "mrkdwn", "text", text,
			 strlen(text) < SLACK_TEXT_MAX ? strlen(text) : (size_t)SLACK_TEXT_MAX);
}

static char *slack_body(const struct notify_conf *c, const char *type, const char *timestamp, json_t *data)
{
	char head[200], text[600], buf[SLACK_TEXT_MAX + 100];
	json_t *db = json_object_get(data, "database"), *error = json_object_get(data, "error");
	const char *dbname = str(db, "name"), *dbhost = str(db, "host");
	const char *actor = str(data, "requested_by") ? str(data, "requested_by") : str(data, "actor");
	double secs = seconds_between(str(data, "started_at"), str(data, "finished_at"));

	headline(type, data, head, sizeof head);
	snprintf(text, sizeof text, "migrated on %s: %s (%s%s%s)", c->host, head, dbname ? dbname : "database",
		 dbhost ? " on " : "", dbhost ? dbhost : "");
	json_t *fields = json_array();
	snprintf(buf, sizeof buf, "*Database*\n%s%s%s", dbname ? dbname : "-", dbhost ? " on " : "",
		 dbhost ? dbhost : "");
	json_array_append_new(fields, mrkdwn(buf));
	snprintf(buf, sizeof buf, "*Requested by*\n%s", actor ? actor : "-");
	json_array_append_new(fields, mrkdwn(buf));
	if (secs >= 0) {
		snprintf(buf, sizeof buf, "*Duration*\n%.1f s", secs);
		json_array_append_new(fields, mrkdwn(buf));
	}
	if (str(data, "id") && c->public_url[0] && strncmp(type, "job.", 4) == 0 && link_safe(str(data, "id"))) {
		/* the console's job page (its route in ui/app.js) */
		snprintf(buf, sizeof buf, "*Job*\n<%s/ui/#/jobs/%s|`%s`> (open in the console)", c->public_url,
			 str(data, "id"), str(data, "id"));
		json_array_append_new(fields, mrkdwn(buf));
	} else if (str(data, "id")) {
		snprintf(buf, sizeof buf, "*Job*\n`%s`", str(data, "id"));
		json_array_append_new(fields, mrkdwn(buf));
	}
	json_t *blocks = json_array();
	json_array_append_new(blocks, json_pack("{s:s, s:{s:s, s:s%}}", "type", "header", "text", "type", "plain_text",
						"text", head, strlen(head) < 150 ? strlen(head) : (size_t)150));
	snprintf(buf, sizeof buf, "*%s* on `%s`", type, c->host);
	json_array_append_new(blocks,
			      json_pack("{s:s, s:o, s:o}", "type", "section", "text", mrkdwn(buf), "fields", fields));
	if (json_is_object(error)) {
		const char *msg = str(error, "message"), *hint = str(error, "hint"), *sqlstate = str(error, "sqlstate");
		snprintf(buf, sizeof buf, "*Error*%s%s%s\n```%.2500s```%s%.300s", sqlstate ? " (SQLSTATE " : "",
			 sqlstate ? sqlstate : "", sqlstate ? ")" : "", msg ? msg : "-", hint ? "\n*Hint:* " : "",
			 hint ? hint : "");
		json_array_append_new(blocks, json_pack("{s:s, s:o}", "type", "section", "text", mrkdwn(buf)));
	}
	snprintf(buf, sizeof buf, "%s · migrated %s", timestamp, PACKAGE_VERSION);
	json_array_append_new(blocks, json_pack("{s:s, s:[o]}", "type", "context", "elements", mrkdwn(buf)));
	json_t *msg = json_pack("{s:s, s:o}", "text", text, "blocks", blocks);
	char *out = msg ? json_dumps(msg, JSON_COMPACT) : NULL;
	json_decref(msg);
	return out;
}

char *notify_body(const struct notify_conf *c, const struct notify_endpoint *e, const char *type, const char *timestamp,
		  json_t *data)
{
	if (e->format == NOTIFY_SLACK)
		return slack_body(c, type, timestamp, data);
	json_t *o = json_pack("{s:s, s:s, s:O}", "type", type, "timestamp", timestamp, "data", data);
	char *out = o ? json_dumps(o, JSON_COMPACT) : NULL;
	json_decref(o);
	return out;
}
