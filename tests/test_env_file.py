"""The shared env file template (templates/quantshift.env.j2): what sh reads from it
(quantshift-run sources it) is exactly the value the inventory gave, whatever the
characters. systemd's reading of the same file is checked on the lab by
molecule/default/verify.yml (the running bot's environment)."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from ansible_render import run_plays

ROOT = Path(__file__).resolve().parent.parent
VALUES = {
    "PROBE_SHELL": "a$b c'd\"e\\f #g $(h) `i`",
    "PROBE_EMPTY": "",
    "PROBE_SPACES": "  leading and trailing  ",
    "PROBE_PLAIN": "s3cr3t-token_value",
}


@pytest.fixture(scope="module")
def env_file(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("env")
    (out / "hosts.yml").write_text(yaml.safe_dump({"all": {"hosts": {"localhost": None}}}))
    run_plays(out, [{
        "hosts": "localhost", "connection": "local", "gather_facts": False,
        "vars": {"ansible_python_interpreter": sys.executable, "quantshift_env": VALUES},
        "tasks": [{"name": "Env file", "ansible.builtin.template": {
            "src": str(ROOT / "templates/quantshift.env.j2"), "dest": str(out / "env"), "mode": "0600"}}],
    }])
    return out / "env"


@pytest.mark.parametrize("key", sorted(VALUES))
def test_sh_reads_every_value_unchanged(env_file, key):
    r = subprocess.run(["sh", "-c", f'set -a; . "$1"; set +a; printf %s "${key}"', "sh", str(env_file)],
                       capture_output=True, text=True, timeout=10)
    assert r.returncode == 0 and r.stderr == "", r.stderr
    assert r.stdout == VALUES[key]
