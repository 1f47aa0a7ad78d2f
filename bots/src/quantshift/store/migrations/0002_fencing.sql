-- 0002: fencing enforced where effects happen (DESIGN §4, docs/DECISIONS.md).
--
-- Every row written for an account in the ledger (orders, fills, positions,
-- cash, daily P&L, fenced-order records) is checked, by a trigger in the same
-- transaction, against that account's leader row: the writer's fence (account,
-- holder, epoch, margin; set with set_config(..., true) by store/fencing.py)
-- must name the current holder and epoch, and the lease must still run for more
-- than the margin by the database's *current* clock (clock_timestamp(), not the
-- transaction's start: a writer frozen inside a transaction gains nothing).
-- The leader row is locked FOR SHARE until commit, so a takeover waits for an
-- in-flight ledger write to end (idle_in_transaction_session_timeout ends a
-- frozen one) and can never interleave with it.

-- When the current epoch began (takeover, handover, init): fenced-order
-- detection compares execution times with it.
ALTER TABLE leader ADD COLUMN IF NOT EXISTS epoch_since timestamptz NOT NULL DEFAULT now();

-- Orders found at a broker under an older epoch's client order id, executed
-- after that epoch ended (a broker cannot check our fencing token): recorded,
-- alerted, and their position adopted from the broker (store/fenced_orders.py).
CREATE TABLE IF NOT EXISTS fenced_orders (
    id               bigserial PRIMARY KEY,
    account          text        NOT NULL,
    client_order_id  text        NOT NULL UNIQUE,
    order_epoch      bigint,
    holder_epoch     bigint      NOT NULL,
    symbol           text        NOT NULL,
    side             text        NOT NULL,
    filled_qty       numeric     NOT NULL,
    avg_price        numeric,
    executed_at      timestamptz,
    detected_at      timestamptz NOT NULL DEFAULT now(),
    detail           text
);

-- Arbiter reachability as each failover monitor saw it (store/monitor_checks.py):
-- a primary's heartbeat counts as stale only while the arbiter was reachable.
CREATE TABLE IF NOT EXISTS monitor_checks (
    host_id          text PRIMARY KEY,
    last_check_at    timestamptz NOT NULL,
    reachable_since  timestamptz NOT NULL
);

CREATE OR REPLACE FUNCTION ledger_fence() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE
    acct    text := CASE WHEN TG_OP = 'DELETE' THEN OLD.account ELSE NEW.account END;
    f_acct  text := current_setting('quantshift.fence_account', true);
    f_host  text := current_setting('quantshift.fence_holder', true);
    f_epoch text := current_setting('quantshift.fence_epoch', true);
    f_margin text := current_setting('quantshift.fence_margin', true);
    lead    record;
BEGIN
    IF TG_OP = 'UPDATE' AND NEW.account IS DISTINCT FROM OLD.account THEN
        RAISE EXCEPTION 'fenced: % row moved from account % to %', TG_TABLE_NAME, OLD.account, NEW.account
            USING ERRCODE = 'QSF01';
    END IF;
    IF coalesce(f_acct, '') = '' THEN
        RAISE EXCEPTION 'fenced: % write for account % without a lease (standby or no fence)', TG_TABLE_NAME, acct
            USING ERRCODE = 'QSF01';
    END IF;
    IF f_acct IS DISTINCT FROM acct THEN
        RAISE EXCEPTION 'fenced: % write for account % under the fence of account %', TG_TABLE_NAME, acct, f_acct
            USING ERRCODE = 'QSF01';
    END IF;
    SELECT holder, epoch, lease_expires_at INTO lead FROM leader WHERE account = acct FOR SHARE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'fenced: account % has no leader row', acct USING ERRCODE = 'QSF01';
    END IF;
    IF lead.holder IS DISTINCT FROM f_host OR lead.epoch IS DISTINCT FROM f_epoch::bigint THEN
        RAISE EXCEPTION 'fenced: account % is held by % at epoch %, not % at epoch %',
            acct, lead.holder, lead.epoch, f_host, f_epoch USING ERRCODE = 'QSF01';
    END IF;
    IF lead.lease_expires_at <= clock_timestamp() + make_interval(secs => f_margin::float8) THEN
        RAISE EXCEPTION 'fenced: lease of account % (epoch %) ends in % s, within the %-second margin', acct,
            lead.epoch, round(extract(epoch FROM lead.lease_expires_at - clock_timestamp())::numeric, 3), f_margin
            USING ERRCODE = 'QSF01';
    END IF;
    RETURN CASE WHEN TG_OP = 'DELETE' THEN OLD ELSE NEW END;
END $$;

DO $$
DECLARE t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['orders', 'fills', 'positions', 'cash', 'daily_pnl', 'fenced_orders'] LOOP
        EXECUTE format('DROP TRIGGER IF EXISTS ledger_fence ON %I', t);
        EXECUTE format('CREATE TRIGGER ledger_fence BEFORE INSERT OR UPDATE OR DELETE ON %I '
                       'FOR EACH ROW EXECUTE FUNCTION ledger_fence()', t);
    END LOOP;
END $$;
REVOKE ALL ON FUNCTION ledger_fence() FROM PUBLIC;
