-- The revocation feed's epoch, and signing keys cut off at once.

-- One row: the id of this database's feed history. Every auth-api renews it
-- when it starts, so a frontend whose cursor came from another history (a
-- restored backup: the same ids again, other rows) learns to start over.
CREATE TABLE feed_epoch (
    id                  INTEGER PRIMARY KEY CHECK (id = 1),
    epoch               TEXT NOT NULL
);
INSERT INTO feed_epoch (id, epoch) VALUES (1, md5(random()::text || clock_timestamp()::text));

-- `keys retire KID`: when the key was cut off. Such a key is neither used,
-- published nor accepted; the feed names it until its tokens have expired.
ALTER TABLE signing_keys ADD COLUMN removed_at BIGINT;
