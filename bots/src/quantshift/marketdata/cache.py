"""Redis cache for bars, with a TTL, one key per (source, timeframe, symbol).

Redis is an accelerator, never a dependency: any Redis error is reported to the
caller (counted as cycle_errors_total{type="redis"}) and treated as a miss, so
the bot keeps trading from the source. Short socket timeouts keep an
unreachable Redis from stalling a cycle.
"""
from __future__ import annotations

import logging
import struct
from typing import Sequence

import numpy as np
import redis

from .base import Bars

log = logging.getLogger(__name__)

_HEADER = struct.Struct("<qqi")  # last bar ts, timeframe, bar count


def encode(ts: np.ndarray, ohlcv: np.ndarray, timeframe: int) -> bytes:
    """ts (T,), ohlcv (5, T) for one symbol."""
    return _HEADER.pack(int(ts[-1]), timeframe, len(ts)) + ts.astype("<i8").tobytes() + \
        np.ascontiguousarray(ohlcv, dtype="<f8").tobytes()


def decode(blob: bytes) -> tuple[int, int, np.ndarray, np.ndarray]:
    last, tf, n = _HEADER.unpack_from(blob)
    off = _HEADER.size
    ts = np.frombuffer(blob, dtype="<i8", count=n, offset=off)
    ohlcv = np.frombuffer(blob, dtype="<f8", count=5 * n, offset=off + 8 * n).reshape(5, n)
    return last, tf, ts, ohlcv


class BarCache:
    def __init__(self, url: str, *, password: str | None = None, ttl_seconds: int = 300,
                 socket_timeout: float = 0.5, prefix: str = "qs:bars"):
        self.ttl = int(ttl_seconds)
        self.prefix = prefix
        self.client = redis.Redis.from_url(url, password=password, socket_timeout=socket_timeout,
                                           socket_connect_timeout=socket_timeout, retry_on_timeout=False)

    def key(self, source: str, timeframe: int, symbol: str) -> str:
        return f"{self.prefix}:{source}:{timeframe}:{symbol}"

    def get_many(self, source: str, timeframe: int, symbols: Sequence[str], end_ts: int, n: int
                 ) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        """Hits only: symbol -> (ts, ohlcv) whose newest bar is end_ts with >= n bars.
        Raises redis.RedisError when Redis is unreachable."""
        blobs = self.client.mget([self.key(source, timeframe, s) for s in symbols])
        out = {}
        for s, blob in zip(symbols, blobs):
            if not blob:
                continue
            try:
                last, tf, ts, ohlcv = decode(blob)
            except (struct.error, ValueError):
                continue  # a corrupt or foreign value is a miss, it will be overwritten
            if last == end_ts and tf == timeframe and len(ts) >= n:
                out[s] = (ts[-n:], ohlcv[:, -n:])
        return out

    def put_many(self, source: str, bars: Bars) -> None:
        pipe = self.client.pipeline(transaction=False)
        ohlcv = np.stack([bars.open, bars.high, bars.low, bars.close, bars.volume])  # (5, T, m)
        for j, s in enumerate(bars.symbols):
            pipe.set(self.key(source, bars.timeframe_seconds, s),
                     encode(bars.ts, ohlcv[:, :, j], bars.timeframe_seconds), ex=self.ttl)
        pipe.execute()
