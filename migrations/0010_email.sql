-- Email suppression list (issue 12): addresses no email action may send to again. An address
-- (trimmed, lower-cased) is added by a one-click unsubscribe (RFC 8058, `unsubscribed`) or a
-- provider's hard bounce (`hard_bounce`); every send checks it first and records a suppressed
-- send as `skipped`. Adding an address again keeps its first reason and time.
CREATE TABLE email_suppressions (
  address    TEXT PRIMARY KEY,
  reason     TEXT NOT NULL,
  person     TEXT,
  source     TEXT,
  created_at TEXT NOT NULL
) STRICT;
