-- The modular architecture's trading coordinator acts on each bar at most once
-- (DESIGN §8): before it plans a bar's orders it inserts the bar here, in a
-- transaction under its fence. A signal redelivered by the bus (a worker redoing
-- an event, the coordinator restarted before it acknowledged) finds its bar
-- already decided and is dropped; so every (symbol, bar time, strategy) is acted
-- on at most once, whichever host or epoch decided it.
CREATE TABLE IF NOT EXISTS decided_bars (
    account     text        NOT NULL,
    bar_ts      bigint      NOT NULL,
    epoch       bigint      NOT NULL,
    host_id     text        NOT NULL,
    strategies  text[]      NOT NULL,   -- whose signals were in (all of them unless degraded)
    degraded    boolean     NOT NULL,
    decided_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (account, bar_ts)
);

DROP TRIGGER IF EXISTS ledger_fence ON decided_bars;
CREATE TRIGGER ledger_fence BEFORE INSERT OR UPDATE OR DELETE ON decided_bars
    FOR EACH ROW EXECUTE FUNCTION ledger_fence();
