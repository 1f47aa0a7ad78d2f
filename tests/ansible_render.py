"""Render role templates with the real ansible-playbook on the control node (local
connection), the way the roles render them: one helper for the render tests."""
from __future__ import annotations

import os
import subprocess
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent


def run_plays(out: Path, plays: list[dict]) -> None:
    """Write plays to out/render.yml and run them against out/hosts.yml; fail with the
    end of Ansible's output when a task fails."""
    (out / "render.yml").write_text(yaml.safe_dump(plays))
    env = {**os.environ, "ANSIBLE_CONFIG": str(ROOT / "ansible.cfg"), "ANSIBLE_NOCOLOR": "1",
           "PATH": f"{ROOT / '.venv/bin'}:{os.environ['PATH']}"}
    r = subprocess.run([str(ROOT / ".venv/bin/ansible-playbook"), "-i", str(out / "hosts.yml"), str(out / "render.yml")],
                       capture_output=True, text=True, env=env, cwd=ROOT, timeout=300)
    assert r.returncode == 0, r.stdout[-4000:] + r.stderr
