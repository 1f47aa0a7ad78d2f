"""The lab keeps its secrets the way production does: an ansible-vault file of
vault_* variables, encrypted with a vault password the lab generates itself."""
from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VENV_BIN = ROOT / ".venv/bin"


def run(*args, lab_dir: Path, **kw):
    env = {**os.environ, "QUANTSHIFT_LAB_DIR": str(lab_dir), "ANSIBLE_CONFIG": str(ROOT / "ansible.cfg"),
           "ANSIBLE_NOCOLOR": "1"}
    env.pop("ANSIBLE_VAULT_PASSWORD_FILE", None)
    return subprocess.run(list(args), capture_output=True, text=True, env=env, cwd=ROOT, timeout=120, **kw)


def test_generated_vault_is_encrypted_private_and_feeds_the_lab_inventory(tmp_path):
    lab = tmp_path / "lab"
    r = run(sys.executable, "scripts/lab_secrets.py", "ensure", lab_dir=lab)
    assert r.returncode == 0 and "generated" in r.stdout, r.stderr
    vault, password = lab / "vault.yml", lab / "vault-password"
    assert vault.read_text().startswith("$ANSIBLE_VAULT;1.1;AES256")
    for p in (vault, password):
        assert stat.S_IMODE(p.stat().st_mode) == 0o600, p
    before = vault.read_bytes()
    assert "kept" in run(sys.executable, "scripts/lab_secrets.py", "ensure", lab_dir=lab).stdout
    assert vault.read_bytes() == before  # generated once, never rotated behind the lab's back

    # The inventory resolves every secret through the vault, one bot password per host.
    r = run(str(VENV_BIN / "ansible"), "-i", "inventories/lab/hosts.yml", "bots", "-c", "local", "-m", "debug",
            "-a", json.dumps({"msg": "{{ [quantshift_db_owner_password, quantshift_db_monitor_password, redis_password,"
                                     " quantshift_db_bot_password, quantshift_db_exporter_password]"
                                     " | map('length') | list }}"
                                     " {{ quantshift_db_bot_password | hash('sha1') }}"}),
            lab_dir=lab)
    assert r.returncode == 0, r.stdout + r.stderr
    lines = [line for line in r.stdout.splitlines() if '"msg"' in line]
    assert len(lines) == 2 and all("[32, 32, 32, 32, 32]" in line for line in lines), r.stdout
    assert lines[0].split()[-1] != lines[1].split()[-1], "each bot host must have its own password"
    # ...and the plaintext is nowhere on disk in the lab dir.
    shown = run(sys.executable, "scripts/lab_secrets.py", "show", lab_dir=lab).stdout
    assert shown.split() == sorted(["vault_quantshift_db_bot_passwords", "vault_quantshift_db_monitor_password",
                                    "vault_quantshift_db_owner_password", "vault_redis_password",
                                    "vault_quantshift_db_exporter_password", "vault_quantshift_bot_env"])


def test_a_lab_vault_from_an_older_checkout_gets_the_missing_secret_and_keeps_the_others(tmp_path):
    lab = tmp_path / "lab"
    assert run(sys.executable, "scripts/lab_secrets.py", "ensure", lab_dir=lab).returncode == 0
    load = [sys.executable, "-c", "import sys, json; sys.path.insert(0, 'scripts'); import lab_secrets;"
            " print(json.dumps(lab_secrets.load()))"]
    before = json.loads(run(*load, lab_dir=lab).stdout)
    older = {k: v for k, v in before.items() if k != "vault_quantshift_db_exporter_password"}
    # what an older checkout generated: the same file without the exporter's password
    r = run(sys.executable, "-c", "import sys, json; sys.path.insert(0, 'scripts'); import lab_secrets;"
            f" lab_secrets._write(json.loads({json.dumps(json.dumps(older))}))", lab_dir=lab)
    assert r.returncode == 0, r.stderr
    r = run(sys.executable, "scripts/lab_secrets.py", "ensure", lab_dir=lab)
    assert r.returncode == 0 and "added vault_quantshift_db_exporter_password" in r.stdout, r.stdout + r.stderr
    after = json.loads(run(*load, lab_dir=lab).stdout)
    assert {k: v for k, v in after.items() if k in older} == older, "an existing secret was rotated"
    assert len(after["vault_quantshift_db_exporter_password"]) == 32


def test_the_lab_vault_holds_broker_keys_shaped_like_real_paper_keys(tmp_path):
    from quantshift.venues import credentials

    lab = tmp_path / "lab"
    r = run(sys.executable, "scripts/lab_secrets.py", "ensure", lab_dir=lab)
    assert r.returncode == 0
    code = "import sys, json; sys.path.insert(0, 'scripts'); import lab_secrets; print(json.dumps(lab_secrets.load()))"
    env = json.loads(run(sys.executable, "-c", code, lab_dir=lab).stdout)["vault_quantshift_bot_env"]
    # The deploy's checks pass them for paper trading, as a real paper account's would.
    assert credentials.problems("alpaca", env, paper=True) == []
    assert credentials.problems("ccxt", env, paper=True) == []
    assert not any(v in r.stdout + r.stderr for v in env.values()), "a key was printed"


def test_a_wrong_vault_password_fails_clearly(tmp_path):
    lab = tmp_path / "lab"
    assert run(sys.executable, "scripts/lab_secrets.py", "ensure", lab_dir=lab).returncode == 0
    (lab / "vault-password").write_text("not-the-password")
    r = run(str(VENV_BIN / "ansible"), "-i", "inventories/lab/hosts.yml", "ct100", "-c", "local", "-m", "debug",
            "-a", "msg={{ redis_password | length }}", lab_dir=lab)
    assert r.returncode != 0
    assert "Decryption failed" in r.stdout + r.stderr
