"""The ledger's tables. ``SCHEMA`` creates whatever a file lacks; ``SCHEMA_VERSION`` is
kept in ``PRAGMA user_version`` so that an older file is upgraded on open
(:mod:`.migrate`) and a newer one is refused.

Schema 4 stores what a cold tick of a thousand releases writes thousands of times in its
binary form: a hash as its 32 bytes, a time as integer microseconds since 1970 UTC, a
release, in deliveries and events, by its row number rather than by its key, and the
event log's words (event, state, actor, channel) by their number in ``names``. The facts are the same as schema 3's; :mod:`.store` converts at the boundary, so
nothing outside the ledger sees the encoding.
"""

from __future__ import annotations

SCHEMA_VERSION = 4
IN_FLIGHT = 1  # the number of the event name ``in_flight`` (table ``names``)

# Column types as SQLite reads them: BLOB has no affinity (a hash that is not a SHA-256, if
# one ever comes, stays the text it was), INTEGER keeps the microseconds as integers.
SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS releases (
    id INTEGER PRIMARY KEY,
    key TEXT NOT NULL UNIQUE,  -- source/id: the release's id is the part after the source
    source TEXT NOT NULL,
    title TEXT NOT NULL,
    content_hash BLOB NOT NULL,
    data BLOB NOT NULL,  -- the release's other fields, compressed JSON (rows.pack_release)
    tags TEXT NOT NULL DEFAULT '[]',
    priority TEXT NOT NULL DEFAULT 'normal',
    published INTEGER,
    publish_at INTEGER,
    first_seen INTEGER NOT NULL,
    changed_at INTEGER NOT NULL,
    approved_by TEXT,
    approved_at TEXT,  -- as the approval said it (with its own offset), or NULL
    approved_hash BLOB,
    approval_origin TEXT,
    approval_identity TEXT,  -- a digest: compared only for equality (approval.identity)
    hold_reason TEXT,
    due_since INTEGER,
    retracted_at INTEGER,
    retracted_by TEXT,
    retracted_reason TEXT,
    planned INTEGER  -- 1: planned for every channel it routes to, under meta's plan (0 bytes on disk)
);
CREATE INDEX IF NOT EXISTS releases_source ON releases (source);
-- A release's text (summary and body), apart from its row so that it can be let go once
-- every channel has the release (``keep_text``); the row keeps the content hash.
CREATE TABLE IF NOT EXISTS release_text (release INTEGER PRIMARY KEY REFERENCES releases (id), data BLOB NOT NULL);
-- Releases whose text was let go and is wanted again (a channel added later with backfill):
-- the next time their source yields them unchanged, the text is kept again.
CREATE TABLE IF NOT EXISTS text_wanted (release INTEGER PRIMARY KEY REFERENCES releases (id));
CREATE TABLE IF NOT EXISTS deliveries (
    release INTEGER NOT NULL REFERENCES releases (id),
    channel TEXT NOT NULL,
    state TEXT NOT NULL,
    action TEXT NOT NULL DEFAULT 'publish',
    content_hash BLOB NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_at INTEGER,
    receipt TEXT,
    last_error TEXT NOT NULL DEFAULT '',
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    sent_at INTEGER,
    PRIMARY KEY (release, channel)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS deliveries_state ON deliveries (state);
-- The few words the event log repeats thousands of times (event names, states, actors,
-- channels), each stored once; events refer to them by number. ``in_flight`` is always 1:
-- the index of calls below names it.
CREATE TABLE IF NOT EXISTS names (id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE);
INSERT INTO names (id, name) VALUES (1, 'in_flight') ON CONFLICT DO NOTHING;
CREATE TABLE IF NOT EXISTS events (
    id INTEGER PRIMARY KEY,  -- never reused: nothing is ever deleted (the triggers below)
    at INTEGER NOT NULL,
    release INTEGER,
    channel INTEGER,  -- names
    actor INTEGER NOT NULL,  -- names
    event INTEGER NOT NULL,  -- names
    state INTEGER,  -- names
    content_hash BLOB,
    payload_hash BLOB,
    attempt INTEGER,
    remote_id TEXT,
    url TEXT,
    detail TEXT NOT NULL DEFAULT ''
);
CREATE INDEX IF NOT EXISTS events_release ON events (release);
-- Only calls are counted by time (daily quotas); the rest of the log is read by release or in order.
CREATE INDEX IF NOT EXISTS events_calls ON events (channel, at) WHERE event = 1;
-- The event log as the rest of syndicator reads it (and as an operator can, in the sqlite3 shell).
CREATE VIEW IF NOT EXISTS event_log AS
SELECT events.id, events.at, events.release, releases.key AS release_key, channel.name AS channel,
    actor.name AS actor, event.name AS event, state.name AS state, events.content_hash,
    events.payload_hash, events.attempt, events.remote_id, events.url, events.detail
FROM events
    LEFT JOIN releases ON releases.id = events.release
    LEFT JOIN names AS channel ON channel.id = events.channel
    JOIN names AS actor ON actor.id = events.actor
    JOIN names AS event ON event.id = events.event
    LEFT JOIN names AS state ON state.id = events.state;
CREATE TABLE IF NOT EXISTS alerts (
    problem TEXT PRIMARY KEY, first_seen INTEGER NOT NULL, sent_at INTEGER, cleared_at INTEGER,
    summary TEXT NOT NULL
) WITHOUT ROWID;
CREATE TRIGGER IF NOT EXISTS events_no_update BEFORE UPDATE ON events
BEGIN SELECT RAISE(ABORT, 'the event log is append-only'); END;
CREATE TRIGGER IF NOT EXISTS events_no_delete BEFORE DELETE ON events
BEGIN SELECT RAISE(ABORT, 'the event log is append-only'); END;
CREATE TABLE IF NOT EXISTS channels (
    name TEXT PRIMARY KEY, type TEXT NOT NULL, first_seen INTEGER NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS source_state (
    source TEXT NOT NULL, key TEXT NOT NULL, value TEXT NOT NULL, PRIMARY KEY (source, key)
) WITHOUT ROWID;
"""
