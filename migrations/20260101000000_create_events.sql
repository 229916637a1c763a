-- Events from devices and clients, one row per event_id.
-- event_id is ASCII and compared byte for byte, so idempotency keys that differ only in case
-- are different events.
CREATE TABLE IF NOT EXISTS events (
    id          BIGINT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
    event_id    VARCHAR(64) CHARACTER SET ascii COLLATE ascii_bin NOT NULL UNIQUE,
    source      VARCHAR(128) NOT NULL,
    recorded_at DATETIME(6) NOT NULL,
    received_at DATETIME(6) NOT NULL,
    val1        DOUBLE NOT NULL,
    val2        DOUBLE NOT NULL,
    payload     JSON NULL,
    INDEX events_source_recorded_at (source, recorded_at)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;
