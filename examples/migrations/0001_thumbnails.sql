-- Every processed upload: one row per image, written by the `thumbnailer` subscriber.
CREATE TABLE IF NOT EXISTS processed_uploads (
    upload_key TEXT PRIMARY KEY,
    size_bytes INTEGER NOT NULL,
    attempts INTEGER NOT NULL,
    processed_at TEXT NOT NULL
);
