"""Drive the lab from the control node: SQL on the arbiter, systemd over SSH,
podman/nsenter for hard failures, the playbooks, the single-trader check and the
timings table (TIMINGS, shared by the cases and conftest's report)."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
import urllib.request
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(ROOT / "scripts"))
import lab_status  # noqa: E402  (the one reader of the lab inventory, and its ssh)

sys.path.insert(0, str(ROOT / "bots/src"))
from quantshift import naming  # noqa: E402  (unit names and paths, as the roles build them)
from quantshift.store import audit  # noqa: E402  (the execution audit's SQL and judge, as the unit tests use them)

ADDRESSES, GROUPS = lab_status.hosts_by_group()
DB_HOST = GROUPS["database"][0]
BOTS = lab_status.bot_instances()
ACCOUNTS = [b["name"] for b in BOTS]
# Two meanings, kept apart: "is the account running / enabled on a host" is its target;
# what a process does (MainPID, kill -9, SIGSTOP, NRestarts) is a component's unit.
ACCOUNT_TARGETS = [naming.target(a) for a in ACCOUNTS]
COMPONENTS = lab_status.components()  # account -> its processes (naming.components)
COMPONENT_UNITS = [c.unit for a in ACCOUNTS for c in COMPONENTS[a]]
# The process that holds each account's lease and trades (the coordinator, or the monolith).
COORDINATOR_UNITS = [COMPONENTS[a][0].unit for a in ACCOUNTS]
PORTS = {b["name"]: b["metrics_port"] for b in BOTS}  # the coordinator's (the seed's quantshift_<account>_*)
MONITOR_UNIT = naming.unit(naming.MONITOR)
MONITOR_CONFIG = naming.config_path(naming.MONITOR)
MONITOR_PORT = int(lab_status.settings()["failover_monitor_metrics_port"])
PODMAN_ENV = {**os.environ, "CONTAINERS_CONF": str(ROOT / ".lab/containers.conf")}


def ssh(host: str, command: str, input: str | None = None, check: bool = True, timeout: float = 60) -> str:
    r = lab_status.ssh(ADDRESSES[host], command, input=input, timeout=timeout)
    if check and r.returncode != 0:
        raise RuntimeError(f"{host}: {command}: rc={r.returncode} {r.stderr.strip()}")
    return r.stdout


def sql(query: str) -> list[list[str]]:
    out = ssh(DB_HOST, "runuser -u postgres -- psql -X -q -d quantshift -At -F '|' -v ON_ERROR_STOP=1 -f -",
              input=query)
    return [line.split("|") for line in out.splitlines() if line]


def podman(*args: str, check: bool = True) -> str:
    r = subprocess.run(["podman", *args], capture_output=True, text=True, env=PODMAN_ENV, timeout=120)
    if check and r.returncode != 0:
        raise RuntimeError(f"podman {' '.join(args)}: {r.stderr.strip()}")
    return r.stdout.strip()


def nsenter_net(container: str, *cmd: str) -> None:
    pid = podman("inspect", "-f", "{{.State.Pid}}", container)
    subprocess.run(["nsenter", "-t", pid, "-n", *cmd], check=True, capture_output=True, text=True)


def cut(container: str, dst_host: str, port: int) -> None:
    """Drop every packet from container to dst_host:port (lab-notes: selective partition)."""
    nsenter_net(container, "nft", "add", "table", "inet", "chaos")
    nsenter_net(container, "nft", "add", "chain", "inet", "chaos", "out",
                "{ type filter hook output priority 0; policy accept; }")
    nsenter_net(container, "nft", "add", "rule", "inet", "chaos", "out", "ip", "daddr", ADDRESSES[dst_host],
                "tcp", "dport", str(port), "drop")


def heal(container: str) -> None:
    nsenter_net(container, "nft", "delete", "table", "inet", "chaos")


CHAOS_VARS = ROOT / "molecule/failover/vars/chaos.yml"


def run_playbook(playbook: str, *extra: str, extra_vars_file: Path | None = CHAOS_VARS) -> subprocess.CompletedProcess:
    """Run a playbook on the lab (with the chaos timings unless told otherwise)."""
    # Molecule forces colour for its own runs; these outputs are read by the tests.
    env = {**os.environ, "ANSIBLE_CONFIG": str(ROOT / "ansible.cfg"), "QUANTSHIFT_LAB_DIR": str(ROOT / ".lab"),
           "ANSIBLE_NOCOLOR": "1", "ANSIBLE_FORCE_COLOR": "0"}
    extra_vars = ["-e", f"@{extra_vars_file}"] if extra_vars_file else []
    return subprocess.run([str(ROOT / ".venv/bin/ansible-playbook"), "-i", str(ROOT / "inventories/lab/hosts.yml"),
                           *extra_vars, str(ROOT / playbook), *extra], capture_output=True, text=True, env=env,
                          cwd=ROOT, timeout=900)


def ansible_playbook(playbook: str, *extra: str, extra_vars_file: Path | None = CHAOS_VARS) -> str:
    """run_playbook that must succeed; its output."""
    r = run_playbook(playbook, *extra, extra_vars_file=extra_vars_file)
    if r.returncode != 0:
        lines = r.stdout.splitlines()
        failed = [i for i, line in enumerate(lines) if "fatal:" in line or "FAILED!" in line]
        detail = "\n".join(lines[max(0, failed[0] - 3):failed[0] + 12]) if failed else r.stdout[-3000:]
        raise RuntimeError(f"{playbook} failed:\n{detail}\n{r.stderr[-1000:]}")
    return r.stdout


def recap_changed(output: str) -> int:
    total = 0
    for line in output.split("PLAY RECAP", 1)[1].splitlines():
        if "changed=" in line:
            total += int(line.split("changed=")[1].split()[0])
    return total


def changed_tasks(output: str) -> list[str]:
    """'task: host' for every result the default callback printed as changed."""
    task, changed = "", []
    for line in output.splitlines():
        if line.startswith(("TASK [", "RUNNING HANDLER [")):
            task = line.split("[", 1)[1].rsplit("]", 1)[0]
        elif line.startswith("changed: ["):
            changed.append(f"{task}: {line.split('[', 1)[1].split(']', 1)[0]}")
    return changed


def leases() -> dict[str, tuple[str, int]]:
    return {a: (h, int(e)) for a, h, e in sql("SELECT account, holder, epoch FROM leader")}


def primary_claims(window: float = 10) -> dict[str, set[str]]:
    """account -> hosts whose bot reported PRIMARY in a heartbeat of the last `window` seconds."""
    out: dict[str, set[str]] = {a: set() for a in ACCOUNTS}
    for a, h in sql("SELECT account, host_id FROM bot_status WHERE is_primary "
                    f"AND last_heartbeat > now() - make_interval(secs => {float(window)})"):
        out[a].add(h)
    return out


def unit_show(host: str, unit: str, prop: str) -> str:
    return ssh(host, f"systemctl show -p {prop} --value {unit}").strip()


def metric(host: str, port: int, name: str, **labels) -> float | None:
    """One sample from a live /metrics endpoint; None when unreachable or absent."""
    from prometheus_client.parser import text_string_to_metric_families

    try:
        with urllib.request.urlopen(f"http://{ADDRESSES[host]}:{port}/metrics", timeout=3) as r:
            text = r.read().decode()
    except OSError:
        return None
    for fam in text_string_to_metric_families(text):
        for sample in fam.samples:
            if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items()):
                return sample.value
    return None


def wait_until(what: str, predicate, timeout: float, interval: float = 0.5):
    t0 = time.monotonic()
    while True:
        try:
            value = predicate()
        except (RuntimeError, subprocess.TimeoutExpired):
            value = None
        if value:
            return value
        if time.monotonic() - t0 > timeout:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for: {what}")
        time.sleep(interval)


def single_trader_violations() -> audit.Verdict:
    """Every execution (fill) must belong to an order of the host that held the
    account's lease when it executed, under that lease's epoch; orders a broker
    executed under an old epoch (fenced_orders) are violations too. Runs the
    audit's own queries on the arbiter and judges the rows with audit.judge().
    Executions are read before the lease history, so a lease event written in
    between can only add periods after them, never misplace one."""
    executions = sql(audit.EXECUTIONS_SQL)
    history = sql(audit.LEASE_HISTORY_SQL)
    fenced = sql(audit.FENCED_SQL)
    return audit.judge(history, executions, fenced)


class AlertReceiver:
    """The webhooks on the lab network's gateway: the failover monitor and the bots
    post to /alert, Alertmanager to ALERTMANAGER_PATH (chaos.yml sets both URLs).
    `alerts` holds the bodies posted to any other path than Alertmanager's;
    `requests` holds every request as (arrival time.monotonic(), path, body)."""

    ALERTMANAGER_PATH = "/alertmanager"

    def __init__(self, host: str = "172.29.100.1", port: int = 18080):
        self.alerts: list[dict] = []
        self.requests: list[tuple[float, str, dict]] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                arrived = time.monotonic()
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))))
                receiver.requests.append((arrived, self.path, body))
                if self.path != receiver.ALERTMANAGER_PATH:
                    receiver.alerts.append(body)
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer((host, port), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def notifications(self, since: int = 0) -> list[tuple[float, dict]]:
        """Alertmanager's webhook posts from request number `since` on: (arrival, body)."""
        return [(t, body) for t, path, body in self.requests[since:] if path == self.ALERTMANAGER_PATH]

    def close(self):
        self.server.shutdown()


@dataclass
class Timings:
    rows: list[tuple[str, float, str]] = field(default_factory=list)

    def add(self, name: str, seconds: float, goal: str = "") -> None:
        self.rows.append((name, seconds, goal))
        print(f"chaos timing: {name}: {seconds:.1f} s {goal}", flush=True)

    def table(self) -> list[str]:
        width = max((len(name) for name, _, _ in self.rows), default=0)
        return [f"{name:<{width}} {seconds:7.1f} s {goal}" for name, seconds, goal in self.rows]


TIMINGS = Timings()  # one table for the whole run: the cases add, conftest.py prints it
