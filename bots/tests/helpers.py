"""Small test helpers: scrape a real /metrics endpoint and read samples."""
from __future__ import annotations

import urllib.request

from prometheus_client.parser import text_string_to_metric_families


def scrape(port: int) -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as r:
        return r.read().decode()


def sample(text: str, name: str, **labels) -> float | None:
    for fam in text_string_to_metric_families(text):
        for s in fam.samples:
            if s.name == name and all(s.labels.get(k) == v for k, v in labels.items()):
                return s.value
    return None


def sample_names(text: str) -> set[str]:
    return {s.name for fam in text_string_to_metric_families(text) for s in fam.samples}


def hold(db, account: str = "equity", host: str = "ct100", ttl: float = 3600.0):
    """Play the lease holder: the account's leader row names `host` (created if
    absent) and `db` carries its fence, so ledger writes are accepted."""
    from quantshift.store import leader_lease
    from quantshift.store.fencing import Fence

    with db.transaction() as cur:
        _created, lease = leader_lease.init(cur, account, host, ttl)
    db.fence = Fence(account, lease.holder, lease.epoch, 0.0)
    return lease
