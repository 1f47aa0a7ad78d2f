"""The Redis replication role file has two writers: the redis role (first deploy,
replicas) and the package's failover steps. They must write byte-identical text,
or every site.yml run after a failover would report a change."""
from __future__ import annotations

from pathlib import Path

import jinja2
import pytest

from quantshift.failover import redis_role

TEMPLATE = Path(__file__).resolve().parent.parent / "roles/redis/templates/replication.conf.j2"


def render(host: str, master: str) -> str:
    env = jinja2.Environment(keep_trailing_newline=True, trim_blocks=True)
    return env.from_string(TEMPLATE.read_text()).render(
        inventory_hostname=host, redis_master_host=master, redis_port=6379,
        hostvars={"ct100": {"ansible_host": "10.0.0.100"}, "ct101": {"ansible_host": "10.0.0.101"}})


@pytest.mark.parametrize("host, master, follow", [("ct100", "ct100", None), ("ct101", "ct100", ("10.0.0.100", 6379))])
def test_role_template_and_failover_steps_write_the_same_text(tmp_path, host, master, follow):
    path = tmp_path / "replication.conf"
    redis_role.write_role_file(str(path), follow)
    assert path.read_text() == render(host, master)
