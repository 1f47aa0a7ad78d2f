"""The redis role applies `__redis_dynamic_settings` with CONFIG SET and no restart,
from a file Redis includes at start. Both paths are checked against a real
redis-server: the rendered file starts a server, every setting in it is accepted
at runtime, and the min-replicas option really stops writes without a replica."""
from __future__ import annotations

import shutil
import socket
import subprocess
import time
from pathlib import Path

import jinja2
import pytest
import redis
import yaml

ROLE = Path(__file__).resolve().parent.parent / "roles/redis"
PASSWORD = "p" * 20


def settings(**over) -> dict[str, str]:
    """The role's dynamic settings rendered from its defaults (+ overrides)."""
    env = jinja2.Environment()
    defaults = yaml.safe_load((ROLE / "defaults/main.yml").read_text())
    ctx = {**defaults, "redis_password": PASSWORD, **over}
    raw = yaml.safe_load((ROLE / "vars/main.yml").read_text())["__redis_dynamic_settings"]
    return {k: env.from_string(str(v)).render(**ctx) for k, v in raw.items()}


def rendered_file(tmp_path: Path, values: dict[str, str]) -> Path:
    env = jinja2.Environment(keep_trailing_newline=True, trim_blocks=True)
    text = env.from_string((ROLE / "templates/dynamic.conf.j2").read_text()).render(
        __redis_dynamic_settings=values, ansible_managed="test")
    p = tmp_path / "quantshift-dynamic.conf"
    p.write_text(text)
    return p


@pytest.fixture
def start_redis(tmp_path):
    procs = []

    def _start(include: Path) -> redis.Redis:
        exe = shutil.which("redis-server")
        assert exe, "redis-server not on PATH: install the Debian package redis-server"
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        conf = tmp_path / f"redis-{port}.conf"
        conf.write_text(f"port {port}\nbind 127.0.0.1\ndir {tmp_path}\nappendonly no\ninclude {include}\n")
        procs.append(subprocess.Popen([exe, str(conf)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        r = redis.Redis(port=port, password=PASSWORD, socket_timeout=2)
        deadline = time.time() + 10
        while True:
            try:
                r.ping()
                return r
            except redis.ConnectionError:
                assert procs[-1].poll() is None and time.time() < deadline, "redis-server did not start"
                time.sleep(0.05)

    yield _start
    for p in procs:
        p.terminate()
        p.wait(5)


def test_the_seed_settings_load_from_the_file_and_every_one_is_settable_at_runtime(tmp_path, start_redis):
    values = settings()
    r = start_redis(rendered_file(tmp_path, values))
    assert r.config_get("maxmemory")["maxmemory"] == str(512 * 1024 * 1024)
    assert r.config_get("maxmemory-policy")["maxmemory-policy"] == "allkeys-lru"
    assert r.config_get("save")["save"] == "900 1"
    assert r.config_get("min-replicas-to-write")["min-replicas-to-write"] == "0"
    # The handler's CONFIG SET path: a static setting here would raise.
    for name, value in values.items():
        assert r.config_set(name, value), name
    assert r.set("k", "v")  # min-replicas off: a master without replica still writes


def test_min_replicas_option_stops_writes_without_a_replica(tmp_path, start_redis):
    values = settings(redis_min_replicas_to_write=1, redis_min_replicas_max_lag=5)
    assert values["min-replicas-to-write"] == "1" and values["min-replicas-max-lag"] == "5"
    r = start_redis(rendered_file(tmp_path, values))
    with pytest.raises(redis.ResponseError, match="NOREPLICAS"):
        r.set("k", "v")
    # Switched off at runtime (what the role's handler does), writes resume at once.
    r.config_set("min-replicas-to-write", "0")
    assert r.set("k", "v")
