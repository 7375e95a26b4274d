#!/usr/bin/env python3
"""A local notification endpoint for `make bench`: verifies each delivery's Standard Webhooks
signature (from the specification: HMAC-SHA256 of "{id}.{timestamp}.{body}" with the base64 key
after `whsec_`), answers 204 (401 for a bad signature), and appends "<webhook-id> <arrival epoch
ms> <valid 0|1>" per delivery to the file given. Runs until killed.

    notify-endpoint.py PORT SECRET OUT_FILE
"""
import base64
import hashlib
import hmac
import http.server
import sys
import threading
import time

port, secret, out = int(sys.argv[1]), sys.argv[2], sys.argv[3]
key = base64.b64decode(secret.removeprefix("whsec_"))
lock = threading.Lock()
log = open(out, "a", buffering=1)


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_POST(self):
        arrived = time.time_ns() // 1_000_000
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        ident = self.headers.get("webhook-id", "")
        signed = f"{ident}.{self.headers.get('webhook-timestamp', '')}.".encode() + body
        expected = base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()
        valid = any(hmac.compare_digest(expected, e.split(",", 1)[1])
                    for e in self.headers.get("webhook-signature", "").split() if e.startswith("v1,"))
        with lock:
            log.write(f"{ident} {arrived} {int(valid)}\n")
        self.send_response(204 if valid else 401)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


class Server(http.server.ThreadingHTTPServer):
    # Python's default backlog of 5 would refuse the dispatchers' connections when they open
    # together, which would measure this script, not the dispatcher.
    request_queue_size = 512
    daemon_threads = True


Server(("127.0.0.1", port), Handler).serve_forever()
