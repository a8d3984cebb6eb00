-- 0003_beckn_replay: Beckn message ids already received, per BAP, kept for
-- the lifetime of the signature that carried them, so a replay is refused
-- after a restart and by every node sharing the database.
CREATE TABLE beckn_replay (
    bap_id     text   NOT NULL,
    message_id text   NOT NULL,
    expires_at bigint NOT NULL,
    PRIMARY KEY (bap_id, message_id)
);
CREATE INDEX beckn_replay_expires ON beckn_replay (expires_at);
