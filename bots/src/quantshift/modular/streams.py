"""The modular architecture's bus on Redis: key and stream names, the messages,
and the few stream operations the components use (DESIGN §8, docs/modular.md).

Per account:
  qs:<account>:bars       stream, one entry per (bar, chunk of symbols): the market
                          data service says "new bars"; the bars themselves are in
                          the bar cache (marketdata/cache.py keys), written first.
  qs:<account>:signals    stream, one entry per (bar, chunk, strategy): a signal
                          worker's signals and the chunk's closes.
  qs:<account>:regime     hash, the regime service's newest regime.
  qs:<account>:regime:changes  stream of regime changes (for people, bounded).

Consumer groups: one per strategy on the bars stream (its instances share the
chunks), `regime` on the bars stream, `coordinator` on the bars and signals
streams. Every XADD is bounded (MAXLEN ~), so the bus stays a few hundred KB and
never pushes Redis towards its 512 MB limit; whatever allkeys-lru evicts anyway
is detected, never silent: a stream or group that vanished makes the reader
recreate its group and count `bus_lost` (Redis' own evicted_keys is alerted on),
and the coordinator decides a bar whose signals never came as degraded.
"""
from __future__ import annotations

import json
import socket
from dataclasses import dataclass
from typing import Sequence

import redis

# Bounded streams: ~MAXLEN entries each (approximate trimming is O(1)). A bar of
# 150 symbols in chunks of 25 is 6 bars entries and 18 signals entries, so 2,000
# keeps over 100 bars of history for debugging, a few hundred KB.
DEFAULT_MAXLEN = 2000

COORDINATOR_GROUP = "coordinator"
REGIME_GROUP = "regime"


def bars_stream(account: str) -> str:
    return f"qs:{account}:bars"


def signals_stream(account: str) -> str:
    return f"qs:{account}:signals"


def regime_key(account: str) -> str:
    return f"qs:{account}:regime"


def regime_changes_stream(account: str) -> str:
    return f"qs:{account}:regime:changes"


def consumer_name(role: str, instance: int | str = 1, host: str | None = None) -> str:
    """A consumer is named by host, role and instance: a restarted worker finds its
    own pending entries again under the same name."""
    return f"{host or socket.gethostname()}:{role}:{instance}"


# ------------------------------------------------------------------ messages --

def _floats(values) -> str:
    return ",".join(repr(float(v)) for v in values)


@dataclass(frozen=True)
class BarsEvent:
    """New bars for a chunk of symbols. The window is in the bar cache under
    `source`; the newest bar itself travels in the event (open, high, low, close,
    volume per symbol), so a worker that saw the chunk's previous bar updates its
    strategy state without reading the window again."""
    bar_ts: int
    chunk: int
    chunks: int
    symbols: tuple[str, ...]
    newest: tuple[tuple[float, ...], ...]   # (open, high, low, close, volume), each per symbol
    source: str
    timeframe: int
    lookback: int
    published_at: float

    @property
    def closes(self) -> tuple[float, ...]:
        return self.newest[3]

    def fields(self) -> dict:
        return {"bar_ts": self.bar_ts, "chunk": self.chunk, "chunks": self.chunks, "symbols": ",".join(self.symbols),
                "ohlcv": ";".join(_floats(v) for v in self.newest), "source": self.source,
                "timeframe": self.timeframe, "lookback": self.lookback, "published_at": repr(self.published_at)}

    @classmethod
    def parse(cls, f: dict) -> "BarsEvent":
        symbols = tuple(f["symbols"].split(","))
        newest = tuple(tuple(float(x) for x in part.split(",")) for part in f["ohlcv"].split(";"))
        if len(newest) != 5 or any(len(v) != len(symbols) for v in newest):
            raise ValueError("ohlcv does not match the symbols")
        return cls(int(f["bar_ts"]), int(f["chunk"]), int(f["chunks"]), symbols, newest, f["source"],
                   int(f["timeframe"]), int(f["lookback"]), float(f["published_at"]))


@dataclass(frozen=True)
class SignalsMessage:
    """One strategy's signals (+1 entry, -1 exit, 0 none) for a chunk at a bar.
    `symbols` may be fewer than the chunk's when some had no bars in the cache."""
    strategy: str
    bar_ts: int
    chunk: int
    symbols: tuple[str, ...]
    signals: tuple[int, ...]
    worker: str
    published_at: float   # when the bars event was published (latency is measured from it)

    def fields(self) -> dict:
        return {"strategy": self.strategy, "bar_ts": self.bar_ts, "chunk": self.chunk,
                "symbols": ",".join(self.symbols), "signals": ",".join(str(int(s)) for s in self.signals),
                "worker": self.worker, "published_at": repr(self.published_at)}

    @classmethod
    def parse(cls, f: dict) -> "SignalsMessage":
        symbols = tuple(f["symbols"].split(",")) if f["symbols"] else ()
        signals = tuple(int(x) for x in f["signals"].split(",")) if f["signals"] else ()
        return cls(f["strategy"], int(f["bar_ts"]), int(f["chunk"]), symbols, signals, f["worker"],
                   float(f["published_at"]))


@dataclass(frozen=True)
class Regime:
    regime_id: int
    name: str
    probabilities: dict[str, float]
    bar_ts: int
    updated_at: float

    def fields(self) -> dict:
        return {"regime_id": self.regime_id, "name": self.name, "probabilities": json.dumps(self.probabilities),
                "bar_ts": self.bar_ts, "updated_at": repr(self.updated_at)}

    @classmethod
    def parse(cls, f: dict) -> "Regime":
        return cls(int(f["regime_id"]), f["name"], json.loads(f["probabilities"]), int(f["bar_ts"]),
                   float(f["updated_at"]))


# ----------------------------------------------------------------------- bus --

class Bus:
    """A Redis connection with the components' stream operations. Redis errors
    propagate (redis.RedisError): each component counts them and retries."""

    def __init__(self, url: str, *, password: str | None = None, socket_timeout: float = 5.0,
                 maxlen: int = DEFAULT_MAXLEN):
        self.maxlen = maxlen
        self.r = redis.Redis.from_url(url, password=password, socket_timeout=socket_timeout,
                                      socket_connect_timeout=min(socket_timeout, 2.0), decode_responses=True)
        self.lost = 0   # groups found missing and recreated (eviction, FLUSHALL, a new Redis)

    def close(self) -> None:
        self.r.close()

    def ensure_group(self, stream: str, group: str, start: str = "$") -> bool:
        """Create the group (and the stream) if missing; True when it was created.
        A new group starts at `start`: `$` for new work only, `0` for all of it."""
        try:
            self.r.xgroup_create(stream, group, id=start, mkstream=True)
            return True
        except redis.ResponseError as e:
            if "BUSYGROUP" in str(e):
                return False
            raise

    def add(self, stream: str, fields: dict) -> str:
        return self.r.xadd(stream, fields, maxlen=self.maxlen, approximate=True)

    def add_many(self, stream: str, messages: Sequence[dict]) -> list[str]:
        pipe = self.r.pipeline(transaction=False)
        for f in messages:
            pipe.xadd(stream, f, maxlen=self.maxlen, approximate=True)
        return pipe.execute()

    def read(self, group: str, consumer: str, streams: Sequence[str], *, count: int = 100, block_ms: int = 1000,
             pending: bool = False) -> list[tuple[str, str, dict]]:
        """(stream, id, fields) for new entries (pending=False) or this consumer's own
        unacknowledged ones (pending=True: after a restart). A group that vanished
        (evicted stream, flushed Redis) is recreated from the stream's start and
        counted in `lost`."""
        ids = {s: ("0" if pending else ">") for s in streams}
        try:
            resp = self.r.xreadgroup(group, consumer, ids, count=count, block=None if pending else block_ms)
        except redis.ResponseError as e:
            if "NOGROUP" not in str(e):
                raise
            for s in streams:
                if self.ensure_group(s, group, start="0"):
                    self.lost += 1
            return []
        out = []
        for stream, entries in resp or []:
            for entry_id, fields in entries:
                if fields:  # a pending entry trimmed away comes back with no fields
                    out.append((stream, entry_id, fields))
        return out

    def ack(self, stream: str, group: str, ids: Sequence[str]) -> int:
        return self.r.xack(stream, group, *ids) if ids else 0

    def claim_stale(self, stream: str, group: str, consumer: str, min_idle_ms: int, count: int = 100
                    ) -> list[tuple[str, str, dict]]:
        """Entries another consumer of the group read but did not acknowledge for
        min_idle_ms (it died or hangs): XAUTOCLAIM gives them to this one."""
        out, start = [], "0-0"
        while True:
            resp = self.r.xautoclaim(stream, group, consumer, min_idle_ms, start_id=start, count=count)
            start, entries = resp[0], resp[1]
            out += [(stream, i, f) for i, f in entries if f]
            if start == "0-0" or not entries:
                return out

    def group_info(self, stream: str, group: str) -> dict | None:
        """pending (delivered, not acknowledged) and lag (not yet delivered) of a group."""
        try:
            groups = self.r.xinfo_groups(stream)
        except redis.ResponseError:
            return None
        for g in groups:
            if g["name"] == group:
                return {"pending": int(g.get("pending") or 0), "lag": int(g.get("lag") or 0)}
        return None

    def set_regime(self, account: str, regime: Regime, changed: bool) -> None:
        pipe = self.r.pipeline(transaction=True)
        pipe.hset(regime_key(account), mapping=regime.fields())
        if changed:
            pipe.xadd(regime_changes_stream(account), regime.fields(), maxlen=200, approximate=True)
        pipe.execute()

    def get_regime(self, account: str) -> Regime | None:
        f = self.r.hgetall(regime_key(account))
        if not f:
            return None
        try:
            return Regime.parse(f)
        except (KeyError, ValueError):
            return None
