#!/usr/bin/env python3
"""How long each console page takes to load with a realistic amount of data (issue 17).

For each backend (PostgreSQL, SQLite) it creates a fresh database, migrates it with the real
`inboxctl migrate`, seeds it (by default 10,000 collections and 100,000 events, with their
decisions and notifications), starts the release `api` binary on a free port, signs in to the
console as a browser does (the sign-in form's CSRF token and cookie, then the session cookie), and
loads every page: 2 warm-up loads, then --loads timed ones, each timed from sending the request to
the last byte of the answer over one keep-alive connection. Prints p50 and max (ms) and the size
of each page as a markdown table; --json FILE keeps the figures.

    scripts/console-timing.py                       # both backends, 10k collections, 100k events
    scripts/console-timing.py --backend sqlite --collections 1000 --events-per-collection 5
    scripts/bench.sh console                        # the same, after bench.sh's build

Python 3 standard library only, plus `psql` for PostgreSQL. The binaries are taken from
$CARGO_TARGET_DIR/release (else target/release), built first unless --no-build. The database is
`bench_console` (dropped and created again) on PostgreSQL, a file in a temporary folder on SQLite;
both are removed at the end unless --keep. The api process is stopped on exit, Ctrl-C included.
"""

import argparse
import datetime as dt
import hashlib
import http.client
import json
import os
import re
import shutil
import signal
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.parse
import uuid

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
KEY_ENV = "CONSOLE_TIMING_API_KEY"
# A fixed key: only this run's api knows it, bound to 127.0.0.1, and it dies with the run.
KEY = "console-timing-key-" + "0123456789abcdef"
PROVIDERS = ("paystack", "stripe", "flutterwave")
MS = dt.timedelta(milliseconds=1)


def say(text):
    print(text, flush=True)


def fail(text):
    raise SystemExit(f"console-timing: {text}")


# ---------------------------------------------------------------------------- the data's shape
#
# One definition, written twice: as set-based SQL for PostgreSQL (generate_series) and as Python
# rows for SQLite. The formulas must stay the same on both sides.
#
# Collection n (1..N): REQ-00000n; provider paystack / stripe / flutterwave by n % 3. The first 99 %
# are created evenly from 24 h to 10 minutes ago (T0 + (n - 1) * SPACING), with status by
# (n * 37) % 100: < 85 SUCCESS, < 92 PENDING, < 97 FAILED, else INITIATED. The newest hundredth
# arrived in a burst in the last 4 minutes and is not processed yet: INITIATED, every event
# RECEIVED (1 % of events: the processors' backlog), no decision. (Spread evenly instead, 1 % of a
# day would be the last 15 minutes, and the overview's lag of the last 15 minutes would be empty.)
# Event k (0..E-1) of collection n, global number i = (n - 1) * E + k + 1: received at created +
# (2 + 15 k + (7 i) % 11) s + (131 i) % 1000 ms (k s + the same ms in the burst). k = 0 asks for
# PENDING, the others for the collection's final status. Event k = 3 of every fifth processed
# collection is FAILED (2 %), the rest PROCESSED, a few ms to 2 s after it was received.
# Decisions: INITIATED collections one (ignored), PENDING ones one (INITIATED -> PENDING applied),
# SUCCESS and FAILED two (-> PENDING, then PENDING -> final, event k = 1), 300 ms after their
# event; transition ids 2n - 1 and 2n. Each applied decision has its notification, DELIVERED but
# for the last one of the next-newest hundredth of collections (PENDING: the dispatcher's backlog)
# and of every 97th collection (FAILED).

def status_of(n, fresh):
    r = (n * 37) % 100
    if n > fresh:
        return "INITIATED"
    return "SUCCESS" if r < 85 else "PENDING" if r < 92 else "FAILED" if r < 97 else "INITIATED"


FAILURES = (
    "no collection has request_ref {ref}",
    "amount mismatch: 1500000 NGN received, {amount} {currency} expected",
    "unrecognised status \"reversed\" at data.status",
    "database: could not serialize access due to concurrent update",
)


def pg_seed_sql(n_coll, per, now):
    """The seed as psql scripts, by step (a table each, in order). `now` is the anchor (UTC).
    The two helper tables are ordinary (unlogged) ones: each step is its own psql session."""
    now_lit = f"'{now.isoformat()}'::timestamptz"
    fresh, pending_from = n_coll - n_coll // 100, n_coll - n_coll // 50
    spacing, burst = (86400 - 600) / fresh, 200 / max(1, n_coll - fresh)
    final = min(1, per - 1)
    steps = {}
    steps["seed tables"] = f"""
DROP TABLE IF EXISTS seed_c, seed_e;
CREATE UNLOGGED TABLE seed_c AS
SELECT n, md5('collection-' || n)::uuid AS id, 'REQ-' || lpad(n::text, 6, '0') AS ref,
       CASE WHEN n > {fresh} THEN 'INITIATED' WHEN (n * 37) % 100 < 85 THEN 'SUCCESS' WHEN (n * 37) % 100 < 92 THEN 'PENDING'
            WHEN (n * 37) % 100 < 97 THEN 'FAILED' ELSE 'INITIATED' END AS status,
       (ARRAY['paystack', 'stripe', 'flutterwave'])[n % 3 + 1] AS provider,
       100 + (n * 7919) % 99900 AS amount,
       CASE n % 3 WHEN 0 THEN 'NGN' WHEN 1 THEN 'USD' ELSE (ARRAY['GHS', 'KES'])[n % 2 + 1] END AS currency,
       CASE WHEN n > {fresh} THEN {now_lit} - interval '240 seconds' + (n - {fresh} - 1) * {burst} * interval '1 second'
            ELSE {now_lit} - interval '24 hours' + (n - 1) * {spacing} * interval '1 second' END AS created
FROM generate_series(1, {n_coll}) n;

CREATE UNLOGGED TABLE seed_e AS
SELECT c.n, c.ref, c.provider, c.amount, c.currency, k, (c.n - 1) * {per} + k + 1 AS i,
       md5('event-' || ((c.n - 1) * {per} + k + 1))::uuid AS eid,
       c.created + (CASE WHEN c.n > {fresh} THEN k ELSE 2 + 15 * k + (7 * ((c.n - 1) * {per} + k + 1)) % 11 END * 1000
                    + (131 * ((c.n - 1) * {per} + k + 1)) % 1000) * interval '1 millisecond' AS received
FROM seed_c c, generate_series(0, {per - 1}) k;
ANALYZE seed_c;
ANALYZE seed_e;
"""
    steps["collections"] = f"""
INSERT INTO collections (id, request_ref, status, provider, provider_ref, amount, currency, metadata,
                         version, created_at, updated_at)
SELECT c.id, c.ref, c.status, c.provider,
       CASE c.provider WHEN 'paystack' THEN (3000000000 + c.n)::text WHEN 'stripe' THEN 'pi_' || substr(md5('pi' || c.n), 1, 24)
            ELSE 'FLW-MOCK-' || substr(md5('flw' || c.n), 1, 20) END,
       c.amount || '.00', c.currency,
       jsonb_build_object('customer_id', 'cus_' || substr(md5('cus' || c.n), 1, 14), 'order', 'ORD-' || (700000 + c.n),
                          'channel', (ARRAY['card', 'bank_transfer', 'ussd'])[c.n % 3 + 1]),
       CASE c.status WHEN 'INITIATED' THEN 1 WHEN 'PENDING' THEN 2 ELSE 3 END,
       c.created,
       CASE c.status WHEN 'INITIATED' THEN c.created ELSE e.received + interval '300 ms' END
FROM seed_c c
JOIN seed_e e ON e.n = c.n AND e.k = CASE c.status WHEN 'PENDING' THEN 0 ELSE {final} END;
"""
    steps["webhook_events"] = f"""
INSERT INTO webhook_events (id, provider, event_id, dedup_key, request_ref, payload, signature, status,
                            attempts, next_attempt_at, last_error, duplicate_count, received_at,
                            last_seen_at, processed_at)
SELECT e.eid, e.provider,
       CASE e.provider WHEN 'stripe' THEN 'evt_' || substr(md5('evt' || e.i), 1, 24)
            WHEN 'flutterwave' THEN (5000000 + e.i)::text END,
       CASE e.provider WHEN 'stripe' THEN 'evt_' || substr(md5('evt' || e.i), 1, 24)
            WHEN 'flutterwave' THEN (5000000 + e.i)::text
            ELSE (CASE WHEN e.k = 0 THEN 'charge.pending' ELSE 'charge.success' END) || ':' || (4000000000 + e.i) END,
       e.ref,
       CASE e.provider
         WHEN 'paystack' THEN jsonb_build_object(
           'event', CASE WHEN e.k = 0 THEN 'charge.pending' WHEN e.status = 'FAILED' THEN 'charge.failed' ELSE 'charge.success' END,
           'data', jsonb_build_object(
             'id', 4000000000 + e.i, 'domain', 'live', 'reference', e.ref,
             'status', CASE WHEN e.k = 0 THEN 'pending' WHEN e.status = 'FAILED' THEN 'failed' ELSE 'success' END,
             'amount', e.amount * 100, 'currency', e.currency, 'channel', 'card',
             'gateway_response', 'Successful', 'paid_at', to_char(e.received at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS".000Z"'),
             'customer', jsonb_build_object('id', 90000 + e.n, 'email', 'customer' || e.n || '@example.com',
                                            'customer_code', 'CUS_' || substr(md5('cus' || e.n), 1, 14)),
             'authorization', jsonb_build_object('authorization_code', 'AUTH_' || substr(md5('auth' || e.i), 1, 10),
                                                 'bin', '408408', 'last4', '4081', 'exp_month', '12', 'exp_year', '2030',
                                                 'card_type', 'visa', 'bank', 'TEST BANK')))
         WHEN 'stripe' THEN jsonb_build_object(
           'id', 'evt_' || substr(md5('evt' || e.i), 1, 24), 'object', 'event', 'api_version', '2024-06-20',
           'type', CASE WHEN e.k = 0 THEN 'payment_intent.processing' WHEN e.status = 'FAILED' THEN 'payment_intent.payment_failed'
                        ELSE 'payment_intent.succeeded' END,
           'created', extract(epoch FROM e.received)::bigint, 'livemode', true,
           'data', jsonb_build_object('object', jsonb_build_object(
             'id', 'pi_' || substr(md5('pi' || e.n), 1, 24), 'object', 'payment_intent', 'amount', e.amount * 100,
             'currency', lower(e.currency), 'status', CASE WHEN e.k = 0 THEN 'processing' ELSE 'succeeded' END,
             'payment_method', 'pm_' || substr(md5('pm' || e.n), 1, 24), 'receipt_email', 'customer' || e.n || '@example.com',
             'metadata', jsonb_build_object('request_ref', e.ref))))
         ELSE jsonb_build_object(
           'event', 'charge.completed',
           'data', jsonb_build_object(
             'id', 5000000 + e.i, 'tx_ref', e.ref, 'flw_ref', 'FLW-MOCK-' || substr(md5('flw' || e.n), 1, 20),
             'amount', e.amount, 'charged_amount', e.amount, 'currency', e.currency,
             'status', CASE WHEN e.k = 0 THEN 'pending' ELSE 'successful' END, 'payment_type', 'card',
             'created_at', to_char(e.received at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS".000Z"'),
             'customer', jsonb_build_object('id', 90000 + e.n, 'name', 'Customer ' || e.n, 'email', 'customer' || e.n || '@example.com'),
             'card', jsonb_build_object('first_6digits', '553188', 'last_4digits', '2950', 'issuer', 'MASTERCARD',
                                        'country', 'GH', 'type', 'MASTERCARD', 'expiry', '09/32')))
       END,
       substr(md5('sig' || e.i) || md5('sig2' || e.i), 1, 64),
       e.status, CASE e.status WHEN 'RECEIVED' THEN 0 WHEN 'FAILED' THEN 5 ELSE 1 END,
       e.received, e.last_error, CASE WHEN e.i % 10 = 3 THEN 1 ELSE 0 END, e.received,
       e.received + CASE WHEN e.i % 10 = 3 THEN interval '30 seconds' ELSE interval '0' END,
       CASE WHEN e.status <> 'RECEIVED' THEN e.received + (5 + (e.i * 53) % 2000) * interval '1 millisecond' END
FROM (SELECT s.*,
             CASE WHEN s.n > {fresh} THEN 'RECEIVED'
                  WHEN s.k = 3 AND s.n % 5 = 0 THEN 'FAILED' ELSE 'PROCESSED' END AS status,
             CASE WHEN s.k = 3 AND s.n % 5 = 0 AND s.n <= {fresh} THEN
               (ARRAY['no collection has request_ref ' || s.ref,
                      'amount mismatch: 1500000 NGN received, ' || s.amount || '.00 ' || s.currency || ' expected',
                      'unrecognised status "reversed" at data.status',
                      'database: could not serialize access due to concurrent update'])[(s.n / 5) % 4 + 1] END AS last_error
      FROM seed_e s) e;
"""
    steps["collection_transitions"] = f"""
INSERT INTO collection_transitions (id, collection_id, webhook_event_id, from_status, to_status, outcome, reason, actor, created_at)
SELECT 2 * c.n - 1, c.id, e.eid, 'INITIATED', CASE WHEN c.status = 'INITIATED' THEN 'INITIATED' ELSE 'PENDING' END,
       CASE WHEN c.status = 'INITIATED' THEN 'ignored' ELSE 'applied' END,
       CASE WHEN c.status = 'INITIATED' THEN 'the event does not concern a payment' ELSE 'INITIATED -> PENDING' END,
       'processor', e.received + interval '300 ms'
FROM seed_c c JOIN seed_e e ON e.n = c.n AND e.k = 0
WHERE c.n <= {fresh}
UNION ALL
SELECT 2 * c.n, c.id, e.eid, 'PENDING', c.status, 'applied', 'PENDING -> ' || c.status, 'processor',
       e.received + interval '300 ms'
FROM seed_c c JOIN seed_e e ON e.n = c.n AND e.k = {final}
WHERE c.status IN ('SUCCESS', 'FAILED')
ORDER BY 1;
SELECT setval(pg_get_serial_sequence('collection_transitions', 'id'), (SELECT max(id) FROM collection_transitions));
"""
    steps["notifications"] = f"""
INSERT INTO notifications (id, collection_id, transition_id, type, payload, status, attempts, next_attempt_at,
                           last_error, delivered_at, created_at)
SELECT md5('notification-' || t.id)::uuid, t.collection_id, t.id,
       CASE t.to_status WHEN 'SUCCESS' THEN 'collection.succeeded' WHEN 'FAILED' THEN 'collection.failed' ELSE 'collection.updated' END,
       jsonb_build_object('type', CASE t.to_status WHEN 'SUCCESS' THEN 'collection.succeeded' WHEN 'FAILED' THEN 'collection.failed'
                                  ELSE 'collection.updated' END,
                          'timestamp', to_char(t.created_at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'),
                          'data', jsonb_build_object('request_ref', c.ref, 'status', t.to_status, 'previous_status', t.from_status,
                                                     'amount', c.amount || '.00', 'currency', c.currency, 'provider', c.provider,
                                                     'provider_ref', null, 'version', CASE WHEN t.id % 2 = 1 THEN 2 ELSE 3 END,
                                                     'event_id', t.webhook_event_id,
                                                     'occurred_at', to_char(t.created_at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'))),
       x.status, CASE x.status WHEN 'DELIVERED' THEN 1 WHEN 'FAILED' THEN 12 ELSE 0 END,
       t.created_at + CASE x.status WHEN 'FAILED' THEN interval '10 minutes' ELSE interval '0' END,
       CASE WHEN x.status = 'FAILED' THEN 'HTTP 503 from http://127.0.0.1:8090/hooks after 12 attempts' END,
       CASE WHEN x.status = 'DELIVERED' THEN t.created_at + (30 + (t.id * 17) % 300) * interval '1 millisecond' END,
       t.created_at
FROM collection_transitions t JOIN seed_c c ON c.id = t.collection_id
CROSS JOIN LATERAL (SELECT CASE WHEN c.n % 97 = 0 AND t.id = 2 * c.n - (CASE WHEN c.status IN ('SUCCESS', 'FAILED') THEN 0 ELSE 1 END) THEN 'FAILED'
                                WHEN c.n > {pending_from} AND t.id = 2 * c.n - (CASE WHEN c.status IN ('SUCCESS', 'FAILED') THEN 0 ELSE 1 END) THEN 'PENDING'
                                ELSE 'DELIVERED' END AS status) x
WHERE t.outcome = 'applied'
ORDER BY t.id;
"""
    steps["drop seed tables"] = "DROP TABLE seed_c, seed_e;"
    return steps


def iso_z(at, micros=False):
    return at.strftime("%Y-%m-%dT%H:%M:%S.%fZ" if micros else "%Y-%m-%dT%H:%M:%S.000Z")


def sqlite_time(at):
    return at.strftime("%Y-%m-%d %H:%M:%S.%f")


def md5_uuid(text):
    return str(uuid.UUID(hashlib.md5(text.encode()).hexdigest()))


def md5_hex(text):
    return hashlib.md5(text.encode()).hexdigest()


def compact(value):
    return json.dumps(value, separators=(",", ":"))


def sqlite_rows(n_coll, per, now):
    """The same rows as pg_seed_sql, as tuples per table (times as fixed-width UTC text)."""
    t0 = now - dt.timedelta(hours=24)
    fresh, pending_from = n_coll - n_coll // 100, n_coll - n_coll // 50
    spacing, burst = (86400 - 600) / fresh, 200 / max(1, n_coll - fresh)
    final = min(1, per - 1)
    collections, events, transitions, notifications = [], [], [], []
    for n in range(1, n_coll + 1):
        cid = md5_uuid(f"collection-{n}")
        ref = f"REQ-{n:06d}"
        status = status_of(n, fresh)
        provider = PROVIDERS[n % 3]
        amount = 100 + (n * 7919) % 99900
        currency = ("NGN", "USD", ("GHS", "KES")[n % 2])[n % 3]
        if n > fresh:
            created = now - dt.timedelta(seconds=240) + dt.timedelta(seconds=(n - fresh - 1) * burst)
        else:
            created = t0 + dt.timedelta(seconds=(n - 1) * spacing)
        received = []
        for k in range(per):
            i = (n - 1) * per + k + 1
            seconds = k if n > fresh else 2 + 15 * k + (7 * i) % 11
            at = created + dt.timedelta(milliseconds=seconds * 1000 + (131 * i) % 1000)
            received.append(at)
            if n > fresh:
                st = "RECEIVED"
            elif k == 3 and n % 5 == 0:
                st = "FAILED"
            else:
                st = "PROCESSED"
            last_error = FAILURES[(n // 5) % 4].format(ref=ref, amount=f"{amount}.00", currency=currency) \
                if st == "FAILED" else None
            evt = "evt_" + md5_hex(f"evt{i}")[:24]
            if provider == "paystack":
                kind = "charge.pending" if k == 0 else "charge.success"
                event_id, dedup = None, f"{kind}:{4000000000 + i}"
                payload = {
                    "event": "charge.pending" if k == 0 else "charge.failed" if st == "FAILED" else "charge.success",
                    "data": {
                        "id": 4000000000 + i, "domain": "live", "reference": ref,
                        "status": "pending" if k == 0 else "failed" if st == "FAILED" else "success",
                        "amount": amount * 100, "currency": currency, "channel": "card",
                        "gateway_response": "Successful", "paid_at": iso_z(at),
                        "customer": {"id": 90000 + n, "email": f"customer{n}@example.com",
                                     "customer_code": "CUS_" + md5_hex(f"cus{n}")[:14]},
                        "authorization": {"authorization_code": "AUTH_" + md5_hex(f"auth{i}")[:10],
                                          "bin": "408408", "last4": "4081", "exp_month": "12",
                                          "exp_year": "2030", "card_type": "visa", "bank": "TEST BANK"},
                    },
                }
            elif provider == "stripe":
                event_id = dedup = evt
                payload = {
                    "id": evt, "object": "event", "api_version": "2024-06-20",
                    "type": "payment_intent.processing" if k == 0 else
                    "payment_intent.payment_failed" if st == "FAILED" else "payment_intent.succeeded",
                    "created": int(at.timestamp()), "livemode": True,
                    "data": {"object": {
                        "id": "pi_" + md5_hex(f"pi{n}")[:24], "object": "payment_intent", "amount": amount * 100,
                        "currency": currency.lower(), "status": "processing" if k == 0 else "succeeded",
                        "payment_method": "pm_" + md5_hex(f"pm{n}")[:24],
                        "receipt_email": f"customer{n}@example.com", "metadata": {"request_ref": ref}}},
                }
            else:
                event_id = dedup = str(5000000 + i)
                payload = {
                    "event": "charge.completed",
                    "data": {
                        "id": 5000000 + i, "tx_ref": ref, "flw_ref": "FLW-MOCK-" + md5_hex(f"flw{n}")[:20],
                        "amount": amount, "charged_amount": amount, "currency": currency,
                        "status": "pending" if k == 0 else "successful", "payment_type": "card",
                        "created_at": iso_z(at),
                        "customer": {"id": 90000 + n, "name": f"Customer {n}", "email": f"customer{n}@example.com"},
                        "card": {"first_6digits": "553188", "last_4digits": "2950", "issuer": "MASTERCARD",
                                 "country": "GH", "type": "MASTERCARD", "expiry": "09/32"},
                    },
                }
            dup = i % 10 == 3
            events.append((
                md5_uuid(f"event-{i}"), provider, event_id, dedup, ref, compact(payload),
                (md5_hex(f"sig{i}") + md5_hex(f"sig2{i}"))[:64], st,
                {"RECEIVED": 0, "FAILED": 5}.get(st, 1), sqlite_time(at), last_error, 1 if dup else 0,
                sqlite_time(at), sqlite_time(at + dt.timedelta(seconds=30 if dup else 0)),
                None if st == "RECEIVED" else sqlite_time(at + (5 + (i * 53) % 2000) * MS),
            ))
        if status == "INITIATED":
            updated = created
        elif status == "PENDING":
            updated = received[0] + 300 * MS
        else:
            updated = received[final] + 300 * MS
        provider_ref = {"paystack": str(3000000000 + n), "stripe": "pi_" + md5_hex(f"pi{n}")[:24]}.get(
            provider, "FLW-MOCK-" + md5_hex(f"flw{n}")[:20])
        collections.append((
            cid, ref, status, provider, provider_ref, f"{amount}.00", currency,
            compact({"channel": ("card", "bank_transfer", "ussd")[n % 3], "customer_id": "cus_" + md5_hex(f"cus{n}")[:14],
                     "order": f"ORD-{700000 + n}"}),
            {"INITIATED": 1, "PENDING": 2}.get(status, 3), sqlite_time(created), sqlite_time(updated),
        ))
        decided = [(2 * n - 1, "INITIATED", "INITIATED" if status == "INITIATED" else "PENDING",
                    "ignored" if status == "INITIATED" else "applied",
                    "the event does not concern a payment" if status == "INITIATED" else "INITIATED -> PENDING", 0)]
        if status in ("SUCCESS", "FAILED"):
            decided.append((2 * n, "PENDING", status, "applied", f"PENDING -> {status}", final))
        if n > fresh:
            decided = []
        last_id = decided[-1][0] if decided else None
        for tid, frm, to, outcome, reason, k in decided:
            at = received[k] + 300 * MS
            eid = md5_uuid(f"event-{(n - 1) * per + k + 1}")
            transitions.append((tid, cid, eid, frm, to, outcome, reason, "processor", sqlite_time(at)))
            if outcome != "applied":
                continue
            kind = {"SUCCESS": "collection.succeeded", "FAILED": "collection.failed"}.get(to, "collection.updated")
            if n % 97 == 0 and tid == last_id:
                nst = "FAILED"
            elif n > pending_from and tid == last_id:
                nst = "PENDING"
            else:
                nst = "DELIVERED"
            payload = {"type": kind, "timestamp": iso_z(at, True),
                       "data": {"request_ref": ref, "status": to, "previous_status": frm, "amount": f"{amount}.00",
                                "currency": currency, "provider": provider, "provider_ref": None,
                                "version": 2 if tid % 2 == 1 else 3, "event_id": eid,
                                "occurred_at": iso_z(at, True)}}
            notifications.append((
                md5_uuid(f"notification-{tid}"), cid, tid, kind, compact(payload), nst,
                {"DELIVERED": 1, "FAILED": 12}.get(nst, 0),
                sqlite_time(at + dt.timedelta(minutes=10 if nst == "FAILED" else 0)),
                "HTTP 503 from http://127.0.0.1:8090/hooks after 12 attempts" if nst == "FAILED" else None,
                sqlite_time(at + (30 + (tid * 17) % 300) * MS) if nst == "DELIVERED" else None,
                sqlite_time(at),
            ))
    transitions.sort()
    notifications.sort(key=lambda row: row[2])
    return {
        "collections": ("INSERT INTO collections (id, request_ref, status, provider, provider_ref, amount, currency, "
                        "metadata, version, created_at, updated_at) VALUES (?,?,?,?,?,?,?,?,?,?,?)", collections),
        "webhook_events": ("INSERT INTO webhook_events (id, provider, event_id, dedup_key, request_ref, payload, "
                           "signature, status, attempts, next_attempt_at, last_error, duplicate_count, received_at, "
                           "last_seen_at, processed_at) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)", events),
        "collection_transitions": ("INSERT INTO collection_transitions (id, collection_id, webhook_event_id, "
                                   "from_status, to_status, outcome, reason, actor, created_at) "
                                   "VALUES (?,?,?,?,?,?,?,?,?)", transitions),
        "notifications": ("INSERT INTO notifications (id, collection_id, transition_id, type, payload, status, "
                          "attempts, next_attempt_at, last_error, delivered_at, created_at) "
                          "VALUES (?,?,?,?,?,?,?,?,?,?,?)", notifications),
    }


SEEDED = ("collections", "webhook_events", "collection_transitions", "notifications")

# Tables that a newer schema may have, filled from the events seeded when they are there with
# these columns: (columns, PostgreSQL SQL, SQLite SQL).
DERIVED = {
    # The receivers' answers per minute, provider and outcome (the overview's charts): every event
    # accepted, its repeats as duplicates, and a few refused signatures.
    "intake_counts": ({"minute", "provider", "outcome", "count"}, """
INSERT INTO intake_counts (minute, provider, outcome, count)
SELECT date_trunc('minute', received_at), provider, 'accepted', count(*) FROM webhook_events GROUP BY 1, 2
UNION ALL
SELECT date_trunc('minute', last_seen_at), provider, 'duplicate', sum(duplicate_count) FROM webhook_events
WHERE duplicate_count > 0 GROUP BY 1, 2
UNION ALL
SELECT date_trunc('minute', received_at), provider, 'invalid_signature', 1 + count(*) % 3 FROM webhook_events
WHERE provider = 'paystack' AND extract(minute FROM received_at)::int % 7 = 0 GROUP BY 1, 2""", """
INSERT INTO intake_counts (minute, provider, outcome, count)
SELECT substr(received_at, 1, 16) || ':00.000000', provider, 'accepted', count(*) FROM webhook_events GROUP BY 1, 2
UNION ALL
SELECT substr(last_seen_at, 1, 16) || ':00.000000', provider, 'duplicate', sum(duplicate_count) FROM webhook_events
WHERE duplicate_count > 0 GROUP BY 1, 2
UNION ALL
SELECT substr(received_at, 1, 16) || ':00.000000', provider, 'invalid_signature', 1 + count(*) % 3 FROM webhook_events
WHERE provider = 'paystack' AND CAST(substr(received_at, 15, 2) AS INTEGER) % 7 = 0 GROUP BY 1, 2"""),
}


# ---------------------------------------------------------------------------- the backends

class Postgres:
    name = "postgres"

    def __init__(self, args):
        self.admin = args.pg
        self.db = args.pg_database
        self.url = self.admin.rsplit("/", 1)[0] + "/" + self.db
        self.keep = args.keep

    def psql(self, url, *args, stdin=None):
        env = dict(os.environ, PGOPTIONS="-c client_min_messages=warning")
        done = subprocess.run(["psql", url, "-X", "-q", "-v", "ON_ERROR_STOP=1", *args], input=stdin,
                              capture_output=True, text=True, env=env)
        if done.returncode != 0:
            fail(f"psql failed: {done.stderr.strip()}")
        return done.stdout

    def value(self, sql):
        return self.psql(self.url, "-Atc", sql).strip()

    def create(self):
        self.psql(self.admin, "-c", f"DROP DATABASE IF EXISTS {self.db} WITH (FORCE)", "-c", f"CREATE DATABASE {self.db}")

    def tables(self):
        return set(self.value("SELECT tablename FROM pg_tables WHERE schemaname = 'public'").split())

    def seed(self, n_coll, per, now):
        tables = self.tables()
        missing = [t for t in SEEDED if t not in tables]
        if missing:
            fail(f"the migrated schema has no {', '.join(missing)}: this script's seed needs updating")
        started = time.monotonic()
        for step, sql in pg_seed_sql(n_coll, per, now).items():
            at = time.monotonic()
            self.psql(self.url, "-c", sql)
            if step in SEEDED:
                self.progress(step, time.monotonic() - at)
            else:
                say(f"  ({step}){'':<{22 - len(step)}} {'':>8}      {time.monotonic() - at:6.1f} s")
        for table in sorted(tables - set(SEEDED) - {"__diesel_schema_migrations"}):
            columns, sql, _ = DERIVED.get(table, (None, None, None))
            have = set(self.value(f"SELECT column_name FROM information_schema.columns WHERE table_name = '{table}'").split())
            if columns and columns == have:
                at = time.monotonic()
                self.psql(self.url, "-c", sql)
                self.progress(table, time.monotonic() - at)
            else:
                say(f"  {table:<24} left empty (not known to this script)")
        at = time.monotonic()
        self.psql(self.url, "-c", "VACUUM ANALYZE")
        say(f"  VACUUM ANALYZE           {time.monotonic() - at:6.1f} s; seeded in {time.monotonic() - started:.1f} s, "
            f"database {self.value(f'SELECT pg_size_pretty(pg_database_size(current_database()))')}")

    def progress(self, table, seconds):
        say(f"  {table:<24} {int(self.value(f'SELECT count(*) FROM {table}')):>8} rows {seconds:6.1f} s")

    def failed_event(self):
        return self.value("SELECT id FROM webhook_events WHERE status = 'FAILED' ORDER BY received_at DESC LIMIT 1")

    def drop(self):
        if not self.keep:
            self.psql(self.admin, "-c", f"DROP DATABASE IF EXISTS {self.db} WITH (FORCE)")
        else:
            say(f"kept: {self.url}")


class Sqlite:
    name = "sqlite"

    def __init__(self, args):
        self.folder = tempfile.mkdtemp(prefix="console-timing-")
        self.path = os.path.join(self.folder, "inbox.db")
        self.url = "sqlite://" + self.path
        self.keep = args.keep

    def create(self):
        pass  # inboxctl migrate creates the file

    def connect(self):
        return sqlite3.connect(self.path, isolation_level=None)

    def tables(self):
        with self.connect() as db:
            return {row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}

    def seed(self, n_coll, per, now):
        tables = self.tables()
        missing = [t for t in SEEDED if t not in tables]
        if missing:
            fail(f"the migrated schema has no {', '.join(missing)}: this script's seed needs updating")
        started = time.monotonic()
        rows = sqlite_rows(n_coll, per, now)
        say(f"  rows built in Python     {time.monotonic() - started:6.1f} s")
        db = self.connect()
        db.execute("PRAGMA foreign_keys = ON")
        db.execute("PRAGMA synchronous = OFF")
        db.execute("BEGIN")
        for table in SEEDED:
            at = time.monotonic()
            sql, values = rows[table]
            db.executemany(sql, values)
            count = db.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
            say(f"  {table:<24} {count:>8} rows {time.monotonic() - at:6.1f} s")
        for table in sorted(tables - set(SEEDED) - {"__diesel_schema_migrations", "sqlite_sequence"}):
            columns, _, sql = DERIVED.get(table, (None, None, None))
            have = {row[1] for row in db.execute(f"PRAGMA table_info({table})")}
            if columns and columns == have:
                at = time.monotonic()
                db.execute(sql)
                count = db.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
                say(f"  {table:<24} {count:>8} rows {time.monotonic() - at:6.1f} s")
            else:
                say(f"  {table:<24} left empty (not known to this script)")
        db.execute("COMMIT")
        at = time.monotonic()
        db.execute("ANALYZE")
        db.close()
        say(f"  ANALYZE                  {time.monotonic() - at:6.1f} s; seeded in {time.monotonic() - started:.1f} s, "
            f"file {os.path.getsize(self.path) / 1e6:.0f} MB")

    def failed_event(self):
        with self.connect() as db:
            row = db.execute("SELECT id FROM webhook_events WHERE status = 'FAILED' ORDER BY received_at DESC LIMIT 1").fetchone()
        return row[0] if row else ""

    def drop(self):
        if self.keep:
            say(f"kept: {self.url}")
        else:
            shutil.rmtree(self.folder, ignore_errors=True)


# ---------------------------------------------------------------------------- the api process

def die_with_parent():
    """In the api's process before exec: SIGTERM when this script dies, even by SIGKILL (Linux)."""
    try:
        import ctypes
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Api:
    """The release api binary on a free port; stopped by stop(), whatever happened."""

    def __init__(self, bin_dir, workdir, database_url):
        self.bin_dir, self.workdir, self.database_url = bin_dir, workdir, database_url
        self.port = free_port()
        self.proc = None
        self.log = os.path.join(workdir, "api.log")
        self.config = os.path.join(workdir, "inbox.toml")
        with open(self.config, "w") as f:
            f.write(f"""# Written by scripts/console-timing.py.
[database]
pool_size = 8
[api]
bind = "127.0.0.1:{self.port}"
metrics_addr = "127.0.0.1:0"
workers = 2
shutdown_grace_secs = 1
# The console needs a key with `read`; `admin` also opens the replay confirmation page.
[api.keys.timing]
scopes = ["read", "admin"]
secrets = ["{KEY_ENV}"]
[log]
level = "warn"
[providers.paystack]
preset = "paystack"
secrets = ["CONSOLE_TIMING_PAYSTACK_SECRET"]
[providers.stripe]
preset = "stripe"
secrets = ["CONSOLE_TIMING_STRIPE_SECRET"]
[providers.flutterwave]
preset = "flutterwave"
secrets = ["CONSOLE_TIMING_FLUTTERWAVE_SECRET"]
""")

    def env(self):
        # Nothing of the caller's configuration (bench.sh exports its own) may reach the binaries.
        env = {k: v for k, v in os.environ.items() if not k.startswith("INBOX__")}
        env.pop("REDIS_URL", None)
        env.update(INBOX_CONFIG=self.config, DATABASE_URL=self.database_url, **{KEY_ENV: KEY},
                   CONSOLE_TIMING_PAYSTACK_SECRET="sk_test_" + "0" * 32,
                   CONSOLE_TIMING_STRIPE_SECRET="whsec_" + "1" * 32,
                   CONSOLE_TIMING_FLUTTERWAVE_SECRET="flw-hash-" + "2" * 24)
        return env

    def migrate(self):
        done = subprocess.run([os.path.join(self.bin_dir, "inboxctl"), "migrate"], env=self.env(),
                              capture_output=True, text=True)
        if done.returncode != 0:
            fail(f"inboxctl migrate failed ({done.returncode}): {done.stderr.strip() or done.stdout.strip()}")

    def start(self):
        log = open(self.log, "ab")
        self.proc = subprocess.Popen([os.path.join(self.bin_dir, "api")], env=self.env(), stdout=log, stderr=log,
                                     start_new_session=True, preexec_fn=die_with_parent)
        log.close()
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                fail(f"the api exited with {self.proc.returncode}:\n{self.tail()}")
            try:
                conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=2)
                conn.request("GET", "/readyz")
                if conn.getresponse().status == 200:
                    conn.close()
                    return
                conn.close()
            except OSError:
                pass
            time.sleep(0.1)
        fail(f"the api was not ready after 30 s:\n{self.tail()}")

    def tail(self):
        try:
            with open(self.log, errors="replace") as f:
                return "".join(f.readlines()[-20:])
        except OSError:
            return "(no log)"

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None


# ---------------------------------------------------------------------------- the browser

class Browser:
    """One keep-alive connection and a cookie jar for the /console path, as a browser keeps."""

    def __init__(self, port):
        self.port = port
        self.cookies = {}
        self.conn = None

    def request(self, method, path, body=None, headers=None):
        headers = dict(headers or {})
        if self.cookies:
            headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        for attempt in (1, 2):
            if self.conn is None:
                self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=120)
            try:
                started = time.perf_counter()
                self.conn.request(method, path, body=body, headers=headers)
                response = self.conn.getresponse()
                data = response.read()
                elapsed = time.perf_counter() - started
                break
            except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError):
                # The server closed an idle keep-alive connection: reconnect once, as a browser does.
                self.conn.close()
                self.conn = None
                if attempt == 2:
                    raise
        for header, value in response.getheaders():
            if header.lower() == "set-cookie":
                name, _, rest = value.partition("=")
                cookie_value = rest.split(";", 1)[0]
                if cookie_value and "max-age=0" not in value.lower():
                    self.cookies[name.strip()] = cookie_value
                else:
                    self.cookies.pop(name.strip(), None)
        if response.getheader("Connection", "").lower() == "close":
            self.conn.close()
            self.conn = None
        return response.status, response, data, elapsed

    def sign_in(self, key):
        status, _, page, _ = self.request("GET", "/console/login")
        if status != 200:
            fail(f"GET /console/login answered {status}")
        found = re.search(rb'name="csrf" value="([^"]+)"', page)
        if not found or "inbox_console_login" not in self.cookies:
            fail("the sign-in form had no CSRF token or no inbox_console_login cookie")
        form = urllib.parse.urlencode({"csrf": found.group(1).decode(), "key": key})
        status, response, _, _ = self.request("POST", "/console/login", body=form,
                                              headers={"Content-Type": "application/x-www-form-urlencoded"})
        if status != 303 or "inbox_console" not in self.cookies:
            fail(f"POST /console/login answered {status} (location {response.getheader('Location')}), "
                 f"cookies {sorted(self.cookies)}: not signed in")

    def close(self):
        if self.conn:
            self.conn.close()


def pages(n_coll, failed_event):
    ref = f"REQ-{max(1, n_coll // 2):06d}"
    return [
        ("overview", "/console/"),
        ("collections", "/console/collections"),
        ("collections by status", "/console/collections?status=FAILED"),
        ("collection search", f"/console/collections?request_ref={ref}"),
        ("timeline", f"/console/collections/{ref}"),
        ("events", "/console/events"),
        ("events failed", "/console/events?status=FAILED"),
        ("events by provider", "/console/events?provider=stripe"),
        ("event", f"/console/events/{failed_event}"),
        ("replay confirmation", "/console/events/replay?status=FAILED"),
        ("notifications", "/console/notifications"),
        ("notifications failed", "/console/notifications?status=FAILED"),
        ("providers", "/console/providers"),
    ]


def measure(browser, path, loads, warmups=2, save=None):
    times, size, body = [], 0, b""
    for n in range(warmups + loads):
        status, response, body, elapsed = browser.request("GET", path)
        if status != 200:
            fail(f"GET {path} answered {status} (location {response.getheader('Location')}): "
                 f"{body[:300].decode(errors='replace')}")
        if n >= warmups:
            times.append(elapsed * 1000)
        size = len(body)
    if save:
        with open(save, "wb") as f:
            f.write(body)
    return {"p50_ms": statistics.median(times), "max_ms": max(times), "min_ms": min(times), "bytes": size,
            "loads": loads}


def run_backend(backend, args, bin_dir):
    say(f"\n== {backend.name}: {args.collections} collections, {args.collections * args.events_per_collection} events")
    workdir = tempfile.mkdtemp(prefix=f"console-timing-{backend.name}-")
    api = Api(bin_dir, workdir, backend.url)
    browser = None
    try:
        backend.create()
        at = time.monotonic()
        api.migrate()
        say(f"  inboxctl migrate         {time.monotonic() - at:6.1f} s ({backend.url})")
        backend.seed(args.collections, args.events_per_collection,
                     dt.datetime.now(dt.timezone.utc).replace(tzinfo=None) if backend.name == "sqlite"
                     else dt.datetime.now(dt.timezone.utc))
        failed = backend.failed_event()
        if not failed:
            fail("no FAILED event was seeded")
        api.start()
        say(f"  api on 127.0.0.1:{api.port}; load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
        browser = Browser(api.port)
        browser.sign_in(KEY)
        results = []
        for name, path in pages(args.collections, failed):
            save = None
            if args.save:
                os.makedirs(args.save, exist_ok=True)
                save = os.path.join(args.save, f"{backend.name}-{name.replace(' ', '-')}.html")
            figures = measure(browser, path, args.loads, save=save)
            results.append(dict(page=name, path=path, **figures))
            say(f"  {name:<22} p50 {figures['p50_ms']:7.1f} ms  max {figures['max_ms']:7.1f} ms  {figures['bytes']:>7} bytes")
        return results
    except BaseException:
        if os.path.exists(api.log):
            say(f"  (the api's log, {api.log}:)\n{api.tail()}")
        raise
    finally:
        if browser:
            browser.close()
        api.stop()
        try:
            backend.drop()
        except SystemExit as e:  # keep the first failure's message, not this one's
            print(f"console-timing: cleaning up: {e}", file=sys.stderr)
        if args.keep:
            say(f"kept: {workdir} (the api's configuration and log)")
        else:
            shutil.rmtree(workdir, ignore_errors=True)


def table(name, results):
    lines = [f"\n{name}\n", "| page | path | p50 ms | max ms | bytes |", "|---|---|---:|---:|---:|"]
    for r in results:
        lines.append(f"| {r['page']} | `{r['path']}` | {r['p50_ms']:.1f} | {r['max_ms']:.1f} | {r['bytes']} |")
    return "\n".join(lines)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--backend", choices=("postgres", "sqlite", "both"), default="both")
    parser.add_argument("--collections", type=int, default=10000)
    parser.add_argument("--events-per-collection", type=int, default=10)
    parser.add_argument("--loads", type=int, default=20, help="timed loads per page (after 2 warm-up loads)")
    parser.add_argument("--keep", action="store_true", help="leave the database(s) behind")
    parser.add_argument("--no-build", action="store_true", help="use the binaries as they are")
    parser.add_argument("--json", metavar="FILE", help="also write the figures to FILE")
    parser.add_argument("--save", metavar="DIR", help="keep each page's last answer in DIR (<backend>-<page>.html)")
    parser.add_argument("--pg", default=os.environ.get("BENCH_PG", "postgres://postgres@127.0.0.1:5432/postgres"),
                        help="an admin connection URL (default $BENCH_PG or the local postgres)")
    parser.add_argument("--pg-database", default="bench_console")
    args = parser.parse_args()
    if args.collections < 5 or args.events_per_collection < 4 or args.loads < 1:
        parser.error("--collections >= 5 and --events-per-collection >= 4 (event 3 of every fifth collection "
                     "is the failed one), --loads >= 1")
    if not re.fullmatch(r"[a-z_][a-z0-9_]*", args.pg_database):
        parser.error("--pg-database: a plain lower-case name")

    # Ctrl-C, SIGTERM and SIGHUP unwind, so the api and the database go too (SIGINT explicitly:
    # a background job of a non-interactive shell starts with it ignored).
    def stop(signum, _frame):
        raise KeyboardInterrupt(f"signal {signum}")
    for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, stop)

    target = os.environ.get("CARGO_TARGET_DIR") or "target"
    bin_dir = os.path.join(ROOT, target, "release") if not os.path.isabs(target) else os.path.join(target, "release")
    if not args.no_build:
        say("building the release api and inboxctl ...")
        subprocess.run(["cargo", "build", "--release", "--quiet", "--bin", "api", "--bin", "inboxctl"], cwd=ROOT, check=True)
    for binary in ("api", "inboxctl"):
        if not os.access(os.path.join(bin_dir, binary), os.X_OK):
            fail(f"no {bin_dir}/{binary}: build it (cargo build --release --bin api --bin inboxctl)")

    backends = {"postgres": [Postgres], "sqlite": [Sqlite], "both": [Postgres, Sqlite]}[args.backend]
    load_before = os.getloadavg()
    runs = {}
    started = time.monotonic()
    try:
        for make in backends:
            backend = make(args)
            runs[backend.name] = run_backend(backend, args, bin_dir)
    except KeyboardInterrupt:
        say("\nconsole-timing: interrupted; the api is stopped and the database dropped (unless --keep)")
        return 130
    load_after = os.getloadavg()
    conditions = (f"{os.cpu_count()} cores, load average {load_before[0]:.2f} before and {load_after[0]:.2f} after "
                  f"(1 min); {args.collections} collections, {args.collections * args.events_per_collection} events; "
                  f"p50 and max of {args.loads} loads after 2 warm-up loads; {time.monotonic() - started:.0f} s in all")
    for name, results in runs.items():
        say(table(f"{name} ({conditions})", results))
    if len(runs) == 2:
        pg, lite = runs["postgres"], runs["sqlite"]
        say("\nboth backends\n")
        say("| page | path | PostgreSQL p50 ms | max ms | SQLite p50 ms | max ms | bytes |")
        say("|---|---|---:|---:|---:|---:|---:|")
        for a, b in zip(pg, lite):
            path = a["path"] if a["path"] == b["path"] else re.sub(r"/events/[0-9a-f-]{36}", "/events/{id}", a["path"])
            say(f"| {a['page']} | `{path}` | {a['p50_ms']:.1f} | {a['max_ms']:.1f} | {b['p50_ms']:.1f} | "
                f"{b['max_ms']:.1f} | {a['bytes']} |")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"conditions": conditions, "collections": args.collections,
                       "events": args.collections * args.events_per_collection, "loads": args.loads,
                       "date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
                       "results": runs}, f, indent=2)
        say(f"\nfigures: {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
