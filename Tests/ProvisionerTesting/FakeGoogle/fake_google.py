#!/usr/bin/env python3
"""A fake Google for the calendar tests: the OAuth token endpoint of a
service account, the Calendar API v3 events list/insert/patch (paging, sync
tokens, 410 Gone, showDeleted, cancelled events, client-chosen event IDs)
and freeBusy.query, as Google documents them, on 127.0.0.1 over HTTPS or
plain HTTP.

The token endpoint verifies each JWT's RS256 signature against the service
account's public key with `openssl dgst -verify` (no Python package needed).

Tests drive it through /_admin/… (events written "in the calendar" by
people, injected failures, expired tokens) and read /_admin/stats.
Prints "PORT n" on stdout when it listens. Stdlib only.
"""
import argparse, base64, json, os, re, secrets, ssl, subprocess, sys, tempfile, threading, time
from datetime import date, datetime, timedelta, timezone
from zoneinfo import ZoneInfo
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit, parse_qs, unquote

SCOPE = "https://www.googleapis.com/auth/calendar"
FREEBUSY_MAX_CALENDARS = 50     # calendarExpansionMax's documented maximum
EVENT_ID = re.compile(r"^[a-v0-9]{5,1024}$")


class State:
    def __init__(self, public_key, service_email):
        self.lock = threading.RLock()  # replies record themselves, some from under the lock
        self.public_key = public_key
        self.service_email = service_email
        self.calendars = {}          # id -> {"events": {id: event}, "seq": n, "epoch": n, "timeZone": tz}
        self.tokens = {}             # access token -> service email
        self.issued_tokens = []      # every access token handed out (tests look for them in logs)
        self.assertions = []         # every JWT received
        self.failures = []           # [{"match": "GET /calendar", "status": 429, "count": n, "answer": text or None}]
        self.pages = {}              # page token -> (remaining items, next sync token, time zone)
        self.page_size = None        # overrides maxResults when set
        self.expires_in = 3600
        self.log = []                # [{"method", "path", "query", "status", "client_port", "calendars"}]

    def calendar(self, cal_id):
        return self.calendars.setdefault(cal_id, {"events": {}, "seq": 0, "epoch": 0, "timeZone": "UTC"})


def b64url_decode(text):
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def verify_rs256(public_key, signing_input, signature):
    with tempfile.TemporaryDirectory() as folder:
        data, sig = os.path.join(folder, "data"), os.path.join(folder, "sig")
        with open(data, "wb") as f:
            f.write(signing_input)
        with open(sig, "wb") as f:
            f.write(signature)
        result = subprocess.run(["openssl", "dgst", "-sha256", "-verify", public_key, "-signature", sig, data],
                                capture_output=True)
        return result.returncode == 0


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):
        sys.stderr.write("fake-google: " + (fmt % args) + "\n")

    # -- plumbing --
    def reply(self, status, body):
        data = json.dumps(body).encode()
        # Logged before the answer goes out: a client that has its answer
        # then always finds its request in the log (/_admin/stats).
        self.record(status)
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=UTF-8")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def reply_raw(self, status, data):
        self.record(status)
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=UTF-8")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def record(self, status):
        parts = urlsplit(self.path)
        if not parts.path.startswith("/_admin"):
            with STATE.lock:
                STATE.log.append({"method": self.command, "path": unquote(parts.path),
                                  "query": {k: v[0] for k, v in parse_qs(parts.query).items()}, "status": status,
                                  "client_port": self.client_address[1],
                                  "calendars": self.asked_calendars})

    def error(self, status, message, reason="error"):
        self.reply(status, {"error": {"code": status, "message": message,
                                      "errors": [{"domain": "global", "reason": reason, "message": message}]}})

    def body(self):
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def route(self, method):
        self.asked_calendars = None   # one handler serves every request of a kept-alive connection
        parts = urlsplit(self.path)
        path, query = unquote(parts.path), {k: v[0] for k, v in parse_qs(parts.query).items()}
        body = self.body()
        if path.startswith("/_admin/"):
            return self.admin(method, path[len("/_admin/"):], query, body)
        with STATE.lock:
            for rule in STATE.failures:
                if rule["count"] != 0 and rule["match"] in f"{method} {path}":
                    rule["count"] -= 1
                    status, answer = rule["status"], rule.get("answer")
                    break
            else:
                status = None
        if status is not None and answer is not None:
            return self.reply_raw(status, answer.encode())
        if status is not None:
            reasons = {401: "authError", 403: "rateLimitExceeded", 404: "notFound", 429: "rateLimitExceeded"}
            return self.error(status, f"injected {status}", reasons.get(status, "backendError"))
        if path == "/token" and method == "POST":
            return self.token(body)
        if path == "/calendar/v3/freeBusy":
            if method != "POST":
                return self.error(405, "Method Not Allowed")
            if self.bearer_email() is None:
                return self.error(401, "Request had invalid authentication credentials.", "authError")
            return self.freebusy(body)
        match = re.match(r"^/calendar/v3/calendars/([^/]+)/events(?:/([^/]+))?$", path)
        if not match:
            return self.error(404, "Not Found", "notFound")
        email = self.bearer_email()
        if email is None:
            return self.error(401, "Request had invalid authentication credentials.", "authError")
        cal_id, event_id = match.group(1), match.group(2)
        if method == "GET" and event_id is None:
            return self.list(cal_id, query)
        if method == "POST" and event_id is None:
            return self.insert(cal_id, body, email)
        if method == "PATCH" and event_id is not None:
            return self.patch(cal_id, event_id, body)
        return self.error(405, "Method Not Allowed")

    def bearer_email(self):
        auth = self.headers.get("Authorization", "")
        with STATE.lock:
            return STATE.tokens.get(auth[len("Bearer "):]) if auth.startswith("Bearer ") else None

    def do_GET(self): self.route("GET")
    def do_POST(self): self.route("POST")
    def do_PATCH(self): self.route("PATCH")

    # -- OAuth 2.0 for service accounts --
    def token(self, body):
        form = {k: v[0] for k, v in parse_qs(body.decode()).items()}
        if form.get("grant_type") != "urn:ietf:params:oauth:grant-type:jwt-bearer":
            return self.reply(400, {"error": "unsupported_grant_type"})
        assertion = form.get("assertion", "")
        with STATE.lock:
            STATE.assertions.append(assertion)
        pieces = assertion.split(".")
        if len(pieces) != 3:
            return self.reply(400, {"error": "invalid_grant", "error_description": "not a JWT"})
        try:
            header, claims = json.loads(b64url_decode(pieces[0])), json.loads(b64url_decode(pieces[1]))
            signature = b64url_decode(pieces[2])
        except Exception:
            return self.reply(400, {"error": "invalid_grant", "error_description": "malformed JWT"})
        if header.get("alg") != "RS256" or header.get("typ") != "JWT":
            return self.reply(400, {"error": "invalid_grant", "error_description": "alg must be RS256"})
        if not verify_rs256(STATE.public_key, (pieces[0] + "." + pieces[1]).encode(), signature):
            return self.reply(400, {"error": "invalid_grant", "error_description": "Invalid JWT Signature."})
        now = time.time()
        expected_aud = f"{SCHEME}://127.0.0.1:{PORT}/token"
        problems = []
        if claims.get("iss") != STATE.service_email: problems.append("iss")
        if claims.get("aud") != expected_aud: problems.append("aud")
        if claims.get("scope") != SCOPE: problems.append("scope")
        if not isinstance(claims.get("iat"), int) or abs(claims["iat"] - now) > 300: problems.append("iat")
        if claims.get("exp") != claims.get("iat", 0) + 3600: problems.append("exp")
        if problems:
            return self.reply(400, {"error": "invalid_grant", "error_description": "bad claims: " + ",".join(problems)})
        token = "ya29." + secrets.token_urlsafe(32)
        with STATE.lock:
            STATE.tokens[token] = claims["iss"]
            STATE.issued_tokens.append(token)
            expires = STATE.expires_in
        self.reply(200, {"access_token": token, "expires_in": expires, "token_type": "Bearer"})

    # -- Calendar API v3 --
    def list(self, cal_id, query):
        if query.get("singleEvents") != "true":
            return self.error(400, "this fake serves singleEvents=true only", "badRequest")
        page_token = query.get("pageToken")
        with STATE.lock:
            cal = STATE.calendar(cal_id)
            if page_token is not None:
                if page_token not in STATE.pages:
                    return self.error(400, "Invalid page token", "badRequest")
                items, sync_token, tz = STATE.pages.pop(page_token)
            else:
                sync = query.get("syncToken")
                events = sorted(cal["events"].values(), key=lambda e: e["_seq"])
                if sync is not None:
                    try:
                        epoch, since = (int(n) for n in sync.split("-")[1:3])
                    except Exception:
                        epoch, since = -1, -1
                    if epoch != cal["epoch"] or since > cal["seq"]:
                        return self.error(410, "Sync token is no longer valid, a full sync is required.", "fullSyncRequired")
                    items = [e for e in events if e["_seq"] > since]
                else:
                    items = [e for e in events if query.get("showDeleted") == "true" or e.get("status") != "cancelled"]
                sync_token, tz = f"sync-{cal['epoch']}-{cal['seq']}-{secrets.token_hex(4)}", cal["timeZone"]
            size = STATE.page_size or min(int(query.get("maxResults", "250")), 2500)
            page, rest = items[:size], items[size:]
            answer = {"kind": "calendar#events", "timeZone": tz, "items": [public(e) for e in page]}
            if rest:
                token = secrets.token_urlsafe(12)
                STATE.pages[token] = (rest, sync_token, tz)
                answer["nextPageToken"] = token
            else:
                answer["nextSyncToken"] = sync_token
        self.reply(200, answer)

    def insert(self, cal_id, body, email):
        try:
            event = json.loads(body)
        except Exception:
            return self.error(400, "Parse Error", "parseError")
        if "start" not in event or "end" not in event:
            return self.error(400, "Missing end time.", "required")
        with STATE.lock:
            cal = STATE.calendar(cal_id)
            event_id = event.get("id") or secrets.token_hex(13)
            if not EVENT_ID.match(event_id):
                return self.error(400, "Invalid resource id value.", "invalid")
            if event_id in cal["events"]:
                return self.error(409, "The requested identifier already exists.", "duplicate")
            event.update({"id": event_id, "status": event.get("status", "confirmed"),
                          "organizer": {"email": email}, "creator": {"email": email}})
            stored = touch(cal, event)
        self.reply(200, public(stored))

    def patch(self, cal_id, event_id, body):
        try:
            fields = json.loads(body)
        except Exception:
            return self.error(400, "Parse Error", "parseError")
        with STATE.lock:
            cal = STATE.calendar(cal_id)
            event = cal["events"].get(event_id)
            if event is None:
                return self.error(404, "Not Found", "notFound")
            event = dict(event, **fields)
            stored = touch(cal, event)
        self.reply(200, public(stored))

    def freebusy(self, body):
        """freeBusy.query: per calendar asked for, its busy time in [timeMin, timeMax) as merged
        intervals from its events that block time (not cancelled, not transparent, not declined by
        the calendar itself), clipped to the window; `errors` instead for a calendar it does not know
        and for those past the 50 one query may ask for."""
        try:
            query = json.loads(body)
        except Exception:
            return self.error(400, "Parse Error", "parseError")
        for field in ("timeMin", "timeMax"):
            if field not in query:
                return self.error(400, f"Missing {field} parameter.", "required")
        try:
            low, high = parse_time(query["timeMin"]), parse_time(query["timeMax"])
        except Exception:
            return self.error(400, "Bad Request", "invalid")
        if high <= low:
            return self.error(400, "The specified time range is empty.", "timeRangeEmpty")
        try:
            zone = ZoneInfo(query.get("timeZone") or "UTC")
        except Exception:
            return self.error(400, "Invalid time zone.", "invalid")
        ids = [item.get("id", "") for item in query.get("items", []) if isinstance(item, dict)]
        self.asked_calendars = len(ids)
        answer = {}
        with STATE.lock:
            for index, cal_id in enumerate(ids):
                if index >= FREEBUSY_MAX_CALENDARS:
                    answer[cal_id] = {"errors": [{"domain": "global", "reason": "tooManyCalendarsRequested"}], "busy": []}
                elif cal_id not in STATE.calendars:
                    answer[cal_id] = {"errors": [{"domain": "global", "reason": "notFound"}], "busy": []}
                else:
                    cal = STATE.calendars[cal_id]
                    spans = sorted(span for span in (busy_span(e, cal["timeZone"]) for e in cal["events"].values()) if span)
                    merged = []
                    for start, end in spans:
                        start, end = max(start, low), min(end, high)
                        if start >= end:
                            continue
                        if merged and start <= merged[-1][1]:
                            merged[-1][1] = max(merged[-1][1], end)
                        else:
                            merged.append([start, end])
                    answer[cal_id] = {"busy": [{"start": format_time(s, zone), "end": format_time(e, zone)} for s, e in merged]}
        self.reply(200, {"kind": "calendar#freeBusy", "timeMin": format_time(low, timezone.utc),
                         "timeMax": format_time(high, timezone.utc), "calendars": answer})

    # -- the test's side --
    def admin(self, method, action, query, body):
        data = json.loads(body) if body else {}
        with STATE.lock:
            if action == "put":        # events written in the calendar by someone (insert or change):
                cal = STATE.calendar(query["cal"])   # one event, or {"items": [...]} for many at once
                for item in data["items"] if "items" in data else [data]:
                    event = dict(cal["events"].get(item["id"], {}), **item)
                    event.setdefault("status", "confirmed")
                    touch(cal, event)
            elif action == "cancel":
                cal = STATE.calendar(query["cal"])
                cal["events"][query["id"]]["status"] = "cancelled"
                touch(cal, cal["events"][query["id"]])
            elif action == "timezone":
                STATE.calendar(query["cal"])["timeZone"] = query["tz"]
            elif action == "fail":
                STATE.failures.append({"match": data["match"], "status": data["status"], "count": data.get("count", 1),
                                       "answer": data.get("answer")})   # raw body text instead of an error
            elif action == "expires-in":   # the lifetime the next tokens are given: any JSON value
                STATE.expires_in = data["value"]
            elif action == "clear-failures":
                STATE.failures = []
            elif action == "expire-tokens":
                STATE.tokens.clear()
            elif action == "expire-sync-tokens":
                cal = STATE.calendar(query["cal"])
                cal["epoch"] += 1   # every sync token handed out so far now gets 410 Gone
            elif action == "page-size":
                STATE.page_size = int(query["size"])
            elif action == "events":
                answer = {"items": list(STATE.calendar(query["cal"])["events"].values())}
                return self.reply_locked(answer)
            elif action == "stats":
                return self.reply_locked({"log": STATE.log, "tokens": STATE.issued_tokens, "assertions": STATE.assertions})
            elif action == "count":    # requests answered so far (not /_admin), cheap to poll
                return self.reply_locked({"requests": len(STATE.log),
                                          "token": sum(1 for r in STATE.log if r["path"] == "/token"),
                                          "freebusy": sum(1 for r in STATE.log if r["path"] == "/calendar/v3/freeBusy")})
            else:
                return self.reply_locked({"error": "unknown admin action " + action}, 404)
        self.reply(200, {"ok": True})

    def reply_locked(self, body, status=200):
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


def touch(cal, event):
    cal["seq"] += 1
    event["_seq"] = cal["seq"]
    event["updated"] = time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime())
    event.setdefault("kind", "calendar#event")
    cal["events"][event["id"]] = event
    return event


def parse_time(text):
    """RFC 3339 (Z or an offset) to an aware datetime."""
    moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if moment.tzinfo is None:
        raise ValueError("no offset")
    return moment


def format_time(moment, zone):
    return moment.astimezone(zone).isoformat().replace("+00:00", "Z")


def busy_span(event, calendar_zone):
    """(start, end) of the time an event blocks, or None: cancelled and transparent events block
    nothing, nor does one the calendar itself declined. Without an end, a timed event lasts an hour
    and an all-day one a day."""
    if event.get("status") == "cancelled" or event.get("transparency") == "transparent":
        return None
    if any(a.get("self") and a.get("responseStatus") == "declined" for a in event.get("attendees", [])):
        return None

    def moment(field):
        if not isinstance(field, dict):
            return None, False
        if "dateTime" in field:
            return parse_time(field["dateTime"]), False
        if "date" in field:
            zone = ZoneInfo(field.get("timeZone") or calendar_zone)
            return datetime.combine(date.fromisoformat(field["date"]), datetime.min.time(), zone), True
        return None, False
    try:
        start, all_day = moment(event.get("start"))
        end, _ = moment(event.get("end"))
    except Exception:
        return None
    if start is None:
        return None
    if end is None or end <= start or event.get("endTimeUnspecified"):
        end = start + (timedelta(days=1) if all_day else timedelta(hours=1))
    return start, end


def public(event):
    if event.get("status") == "cancelled":
        # Google sends only the ID and status of a deleted event in an incremental sync.
        return {"kind": "calendar#event", "id": event["id"], "status": "cancelled",
                **({"recurringEventId": event["recurringEventId"]} if "recurringEventId" in event else {})}
    return {k: v for k, v in event.items() if not k.startswith("_")}


def main():
    global STATE, SCHEME, PORT
    parser = argparse.ArgumentParser()
    parser.add_argument("--public-key", required=True)
    parser.add_argument("--service-email", required=True)
    parser.add_argument("--cert")
    parser.add_argument("--key")
    args = parser.parse_args()
    STATE = State(args.public_key, args.service_email)
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    SCHEME = "http"
    if args.cert:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(args.cert, args.key)
        server.socket = context.wrap_socket(server.socket, server_side=True)
        SCHEME = "https"
    PORT = server.server_address[1]
    print(f"PORT {PORT}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
