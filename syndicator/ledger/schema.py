"""The ledger's tables. ``SCHEMA`` creates whatever a file lacks; ``SCHEMA_VERSION`` is
kept in ``PRAGMA user_version`` so that an older file is upgraded on open
(``Store._upgrade``) and a newer one is refused."""

from __future__ import annotations

SCHEMA_VERSION = 3

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS releases (
    key TEXT PRIMARY KEY,
    source TEXT NOT NULL,
    release_id TEXT NOT NULL,
    title TEXT NOT NULL,
    content_hash TEXT NOT NULL,
    data BLOB NOT NULL,
    tags TEXT NOT NULL DEFAULT '[]',
    priority TEXT NOT NULL DEFAULT 'normal',
    published TEXT,
    publish_at TEXT,
    first_seen TEXT NOT NULL,
    changed_at TEXT NOT NULL,
    approved_by TEXT,
    approved_at TEXT,
    approved_hash TEXT,
    approval_origin TEXT,
    approval_identity TEXT,
    hold_reason TEXT,
    due_since TEXT,
    retracted_at TEXT,
    retracted_by TEXT,
    retracted_reason TEXT,
    planned INTEGER  -- 1: planned for every channel it routes to, under meta's plan (0 bytes on disk)
);
CREATE INDEX IF NOT EXISTS releases_source ON releases (source);
-- A release's text (summary and body), apart from its row so that it can be let go once
-- every channel has the release (``keep_text``); the row keeps the content hash.
CREATE TABLE IF NOT EXISTS release_text (key TEXT PRIMARY KEY, data BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS deliveries (
    release_key TEXT NOT NULL REFERENCES releases (key),
    channel TEXT NOT NULL,
    state TEXT NOT NULL,
    action TEXT NOT NULL DEFAULT 'publish',
    content_hash TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_at TEXT,
    receipt TEXT,
    last_error TEXT NOT NULL DEFAULT '',
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    sent_at TEXT,
    PRIMARY KEY (release_key, channel)
);
CREATE INDEX IF NOT EXISTS deliveries_state ON deliveries (state);
CREATE TABLE IF NOT EXISTS events (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    at TEXT NOT NULL,
    release_key TEXT,
    channel TEXT,
    actor TEXT NOT NULL,
    event TEXT NOT NULL,
    state TEXT,
    content_hash TEXT,
    payload_hash TEXT,
    attempt INTEGER,
    remote_id TEXT,
    url TEXT,
    detail TEXT NOT NULL DEFAULT ''
);
CREATE INDEX IF NOT EXISTS events_release ON events (release_key);
-- Only calls are counted by time (daily quotas); the rest of the log is read by release or in order.
CREATE INDEX IF NOT EXISTS events_calls ON events (channel, at) WHERE event = 'in_flight';
CREATE TABLE IF NOT EXISTS alerts (
    problem TEXT PRIMARY KEY, first_seen TEXT NOT NULL, sent_at TEXT, cleared_at TEXT, summary TEXT NOT NULL
);
CREATE TRIGGER IF NOT EXISTS events_no_update BEFORE UPDATE ON events
BEGIN SELECT RAISE(ABORT, 'the event log is append-only'); END;
CREATE TRIGGER IF NOT EXISTS events_no_delete BEFORE DELETE ON events
BEGIN SELECT RAISE(ABORT, 'the event log is append-only'); END;
CREATE TABLE IF NOT EXISTS channels (
    name TEXT PRIMARY KEY, type TEXT NOT NULL, first_seen TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS source_state (
    source TEXT NOT NULL, key TEXT NOT NULL, value TEXT NOT NULL, PRIMARY KEY (source, key)
);
"""
