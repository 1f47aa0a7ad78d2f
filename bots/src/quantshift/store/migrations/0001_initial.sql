-- 0001: the arbiter schema. All timestamps are timestamptz written with the
-- database's now(), never a host clock (two hosts' clocks must not decide
-- who trades).

-- leader lease: one row per account (store/leader_lease.py)
CREATE TABLE IF NOT EXISTS leader (
    account          text PRIMARY KEY,
    holder           text        NOT NULL,
    epoch            bigint      NOT NULL CHECK (epoch >= 1),
    lease_expires_at timestamptz NOT NULL,
    updated_at       timestamptz NOT NULL DEFAULT now()
);

-- bot status / heartbeats per (account, host) (store/heartbeat.py)
CREATE TABLE IF NOT EXISTS bot_status (
    account        text        NOT NULL,
    host_id        text        NOT NULL,
    status         text        NOT NULL,
    epoch          bigint,
    is_primary     boolean     NOT NULL DEFAULT false,
    pid            integer,
    version        text,
    starts         bigint      NOT NULL DEFAULT 1,
    started_at     timestamptz NOT NULL DEFAULT now(),
    last_heartbeat timestamptz NOT NULL DEFAULT now(),
    detail         text,
    PRIMARY KEY (account, host_id)
);

-- orders: stored PENDING before the broker is called (store/orders.py)
CREATE TABLE IF NOT EXISTS orders (
    id               bigserial PRIMARY KEY,
    client_order_id  text        NOT NULL UNIQUE,
    account          text        NOT NULL,
    host_id          text        NOT NULL,
    epoch            bigint      NOT NULL,
    symbol           text        NOT NULL,
    side             text        NOT NULL CHECK (side IN ('buy', 'sell')),
    qty              numeric     NOT NULL CHECK (qty > 0),
    order_type       text        NOT NULL DEFAULT 'market',
    status           text        NOT NULL CHECK (status IN
                         ('PENDING', 'ACCEPTED', 'PARTIALLY_FILLED', 'FILLED', 'CANCELED', 'REJECTED', 'UNKNOWN')),
    strategy         text,
    broker_order_id  text,
    filled_qty       numeric     NOT NULL DEFAULT 0,
    avg_fill_price   numeric,
    error            text,
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS orders_account_status ON orders (account, status);

-- fills (store/fills.py)
CREATE TABLE IF NOT EXISTS fills (
    id              bigserial PRIMARY KEY,
    client_order_id text        NOT NULL REFERENCES orders (client_order_id),
    account         text        NOT NULL,
    symbol          text        NOT NULL,
    side            text        NOT NULL CHECK (side IN ('buy', 'sell')),
    qty             numeric     NOT NULL CHECK (qty > 0),
    price           numeric     NOT NULL CHECK (price > 0),
    fee             numeric     NOT NULL DEFAULT 0,
    filled_at       timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS fills_account ON fills (account, filled_at);

-- positions (store/positions.py)
CREATE TABLE IF NOT EXISTS positions (
    account    text        NOT NULL,
    symbol     text        NOT NULL,
    qty        numeric     NOT NULL,
    avg_price  numeric     NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (account, symbol)
);

-- cash per account, the sim broker's ledger (store/cash.py)
CREATE TABLE IF NOT EXISTS cash (
    account    text PRIMARY KEY,
    balance    numeric     NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now()
);

-- start-of-day value and the latched kill switch per UTC day (store/daily_pnl.py)
CREATE TABLE IF NOT EXISTS daily_pnl (
    account     text        NOT NULL,
    day         date        NOT NULL,
    start_value numeric     NOT NULL,
    last_value  numeric     NOT NULL,
    limit_hit   boolean     NOT NULL DEFAULT false,
    updated_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (account, day)
);

-- failover events: everything the monitor or a playbook does (store/failover_events.py)
CREATE TABLE IF NOT EXISTS failover_events (
    id               bigserial PRIMARY KEY,
    account          text,
    event            text        NOT NULL,
    from_holder      text,
    to_holder        text,
    epoch            bigint,
    duration_seconds double precision,
    detail           text,
    created_at       timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS failover_events_created ON failover_events (created_at);
