#!/usr/bin/env python3
"""A webhook receiver and an independent Standard Webhooks verifier for test_notify.c (stdlib only).

  notify_receiver.py serve PORT LOG [--fail-first N] [--fail-type TYPE] [--status CODE] [--sleep S]
      listen on 127.0.0.1:PORT; append each request as a JSON line {n, t, method, path, headers
      (lower-cased), body, body_b64, answered} to LOG (created once the port is bound); answer
      500 to the first N requests and to every one whose body's "type" is TYPE, CODE (200) to
      the others, after sleeping S seconds
  notify_receiver.py verify LOG SECRET
      every request a POST with webhook-id, webhook-timestamp (within 5 min) and a v1 signature
      that verifies with Python's hmac under the whsec_ SECRET, and a {type, timestamp, data}
      body: prints "ok N", exit 0; else the reason, exit 1
"""
import base64, hashlib, hmac, json, re, sys, threading, time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

RFC3339 = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)$")


def serve(port, log, fail_first=0, fail_type=None, status=200, sleep=0.0):
    lock, count = threading.Lock(), [0]

    class H(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *a):
            pass

        def do_POST(self):
            raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            try:
                typ = json.loads(raw).get("type")
            except Exception:
                typ = None
            with lock:
                count[0] += 1
                code = 500 if count[0] <= fail_first or (fail_type and typ == fail_type) else status
                rec = {"n": count[0], "t": time.time(), "method": self.command, "path": self.path,
                       "headers": {k.lower(): v for k, v in self.headers.items()},
                       "body": raw.decode("utf-8", "replace"), "body_b64": base64.b64encode(raw).decode(),
                       "answered": code}
                with open(log, "a") as f:
                    f.write(json.dumps(rec) + "\n")
            if sleep:
                time.sleep(sleep)
            out = b'{"ok": true}'
            try:
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(out)))
                self.end_headers()
                self.wfile.write(out)
            except OSError:
                pass  # the client gave up (its timeout): fine

        do_GET = do_PUT = do_POST

    srv = ThreadingHTTPServer(("127.0.0.1", port), H)
    srv.daemon_threads = True
    open(log, "a").close()
    srv.serve_forever()


def verify(log, secret):
    key = base64.b64decode(secret[len("whsec_"):])
    n = 0
    for line in open(log):
        if not line.strip():
            continue
        rec = json.loads(line)
        h = rec["headers"]
        mid, ts, sigs = h.get("webhook-id"), h.get("webhook-timestamp"), h.get("webhook-signature")
        if rec["method"] != "POST" or not (mid and ts and sigs):
            return "request %d: not a signed POST (headers %s)" % (rec["n"], sorted(h))
        if not ts.isdigit() or abs(int(ts) - rec["t"]) > 300:
            return "request %d: webhook-timestamp %r is not now" % (rec["n"], ts)
        raw = base64.b64decode(rec["body_b64"])
        want = hmac.new(key, mid.encode() + b"." + ts.encode() + b"." + raw, hashlib.sha256).digest()
        ok = any(v == "v1" and hmac.compare_digest(base64.b64decode(b), want)
                 for v, _, b in (s.partition(",") for s in sigs.split()))
        if not ok:
            return "request %d: signature %r does not verify" % (rec["n"], sigs)
        body = json.loads(raw)
        if not (isinstance(body.get("type"), str) and isinstance(body.get("data"), dict)
                and RFC3339.match(body.get("timestamp", ""))):
            return "request %d: body is not {type, timestamp, data}" % rec["n"]
        n += 1
    print("ok %d" % n)
    return None


if __name__ == "__main__":
    a = sys.argv[1:]
    if a[:1] == ["serve"]:
        opts = {"--fail-first": 0, "--fail-type": None, "--status": 200, "--sleep": 0.0}
        rest = a[3:]
        for i in range(0, len(rest), 2):
            opts[rest[i]] = type(opts[rest[i]])(rest[i + 1]) if opts[rest[i]] is not None else rest[i + 1]
        serve(int(a[1]), a[2], opts["--fail-first"], opts["--fail-type"], opts["--status"], opts["--sleep"])
    elif a[:1] == ["verify"]:
        why = verify(a[1], a[2])
        if why:
            print(why)
            sys.exit(1)
    else:
        sys.exit(__doc__)
