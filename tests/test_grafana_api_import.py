"""The api mode of roles/grafana_dashboards, end to end against a loopback fake
of Grafana's HTTP API.

Grafana cannot be installed here (no package source), so FakeGrafana serves
the endpoints that community.grafana 2.3.0's grafana_folder, grafana_datasource
and grafana_dashboard modules (and the role's own uri checks) call, with the
payloads and answers of Grafana 11.3+'s documented HTTP API
(docs/sources/developers/http_api/{dashboard,folder,data_source}.md and
pkg/api/dtos/datasource.go), keeping state in memory as Grafana does:
dashboards by uid with a version that grows on every save (412 version-mismatch
without overwrite), folders and datasources with ids, and Grafana's 401/403
bodies for bad or insufficient credentials. What it does not model: anything
Grafana would do to the JSON beyond setting id/uid/version (it stores it as
given, like the legacy SQL store), nested folders, several organizations,
provisioned dashboards.

Each test runs the real ansible-playbook (-v) with the role in api mode on
localhost (ansible_connection=local), pointing at the fake on 127.0.0.1."""
from __future__ import annotations

import base64
import copy
import json
import os
import re
import secrets
import subprocess
import sys
import threading
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
VENV_BIN = ROOT / ".venv/bin"
DASHBOARDS = sorted((ROOT / "files/grafana/dashboards").glob("*.json"))

# Fresh secrets per run: "never in the output" means something only if the
# value cannot appear there by accident.
TOKEN = "glsa_" + secrets.token_hex(16)
VIEWER_TOKEN = "glsa_" + secrets.token_hex(16)
USER, PASSWORD = "deployer", "pw-" + secrets.token_hex(12)
PROMETHEUS_URL = "http://10.92.3.30:9090"


def _slug(title: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", title.lower()).strip("-")


def _now() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


class FakeGrafana:
    """In-memory Grafana 11.6 HTTP API (one organization, id 1)."""

    VERSION = "11.6.0"
    ADMIN, VIEWER = "Admin", "Viewer"

    def __init__(self) -> None:
        self.tokens = {TOKEN: self.ADMIN, VIEWER_TOKEN: self.VIEWER}
        self.users = {USER: (PASSWORD, self.ADMIN)}
        self.folders: dict[str, dict] = {}        # uid -> folder
        self.dashboards: dict[str, dict] = {}     # uid -> {"dashboard", "folder_uid", "created", ...}
        self.datasources: dict[int, dict] = {}    # id -> DataSource DTO
        self.requests: list[dict] = []            # every request, in order
        self._ids = 0
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                                        daemon=True)

    # -- lifecycle -----------------------------------------------------------
    @property
    def url(self) -> str:
        return "http://127.0.0.1:%d" % self._server.server_address[1]

    def start(self) -> "FakeGrafana":
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def writes(self, since: int = 0) -> list[dict]:
        """POST/PUT/DELETE requests except the organization switch (a no-op here)."""
        return [r for r in self.requests[since:] if r["method"] != "GET" and not r["path"].startswith("/api/user/using/")]

    def edit_in_ui(self, uid: str, **changes) -> None:
        """What a save in Grafana's UI does: new content, version + 1."""
        with self._lock:
            entry = self.dashboards[uid]
            entry["dashboard"].update(changes)
            entry["dashboard"]["version"] += 1

    def _next_id(self) -> int:
        self._ids += 1
        return self._ids

    # -- HTTP plumbing -------------------------------------------------------
    def _handler_class(self):
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _serve(self):
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                status, body = fake.handle(self.command, self.path, self.headers, raw)
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = do_PUT = do_DELETE = _serve

            def log_message(self, *args):  # keep pytest output clean
                pass

        return Handler

    def handle(self, method: str, target: str, headers, raw: bytes) -> tuple[int, object]:
        split = urlsplit(target)
        path, query = split.path, parse_qs(split.query)
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = "<invalid json>"
        with self._lock:
            record = {"method": method, "path": target, "authorization": headers.get("Authorization"), "body": body}
            self.requests.append(record)
            if method == "GET" and path == "/api/health":
                return 200, {"commit": "0a1b2c3d", "database": "ok", "version": self.VERSION}
            who, error = self._authenticate(headers.get("Authorization"))
            record["who"] = who
            if error:
                return error
            if body == "<invalid json>":
                return 400, {"message": "bad request data"}
            return self._route(method, path, query, body, who)

    def _authenticate(self, header: str | None):
        if not header:
            return None, (401, {"message": "Unauthorized", "messageId": "auth.unauthorized", "statusCode": 401,
                                "traceID": ""})
        scheme, _, credentials = header.partition(" ")
        if scheme == "Bearer":
            if credentials in self.tokens:
                return {"kind": "token", "login": "sa-quantshift", "role": self.tokens[credentials]}, None
            return None, (401, {"message": "Invalid API key", "messageId": "api-key.invalid", "statusCode": 401,
                                "traceID": ""})
        if scheme == "Basic":
            user, _, password = base64.b64decode(credentials).decode().partition(":")
            if user in self.users and self.users[user][0] == password:
                return {"kind": "user", "login": user, "role": self.users[user][1]}, None
            return None, (401, {"message": "Invalid username or password", "messageId": "password-auth.failed",
                                "statusCode": 401, "traceID": ""})
        return None, (401, {"message": "Unauthorized", "messageId": "auth.unauthorized", "statusCode": 401,
                            "traceID": ""})

    @staticmethod
    def _denied(action: str) -> tuple[int, dict]:
        return 403, {"accessErrorId": "ACE0000000001", "title": "Access denied",
                     "message": "You'll need additional permissions to perform this action. "
                                "Permissions needed: %s" % action}

    def _route(self, method, path, query, body, who):
        admin = who["role"] == self.ADMIN
        if method == "GET" and path == "/api/frontend/settings":
            return 200, {"buildInfo": {"version": self.VERSION, "commit": "0a1b2c3d", "edition": "Open Source",
                                       "env": "production", "hideVersion": False, "hasUpdate": False,
                                       "latestVersion": ""},
                         "defaultDatasource": self._default_datasource_name(), "appSubUrl": ""}
        if method == "POST" and (m := re.fullmatch(r"/api/user/using/(\d+)", path)):
            if who["kind"] != "user":
                return 400, {"message": "Not a user"}
            if int(m.group(1)) != 1:
                return 401, {"message": "Not a valid organization"}
            return 200, {"message": "Active organization changed"}
        if method == "GET" and path == "/api/search":
            return 200, self._search(query)
        if path == "/api/folders":
            if method == "GET":
                if query.get("parentUid"):
                    return 200, []  # no nested folders here
                return 200, [{"id": f["id"], "uid": f["uid"], "title": f["title"]} for f in self.folders.values()]
            if method == "POST":
                return self._create_folder(body, who) if admin else self._denied("folders:create")
        if method == "GET" and (m := re.fullmatch(r"/api/dashboards/uid/([^/]+)", path)):
            return self._get_dashboard(unquote(m.group(1)), who)
        if method == "POST" and path == "/api/dashboards/db":
            return self._save_dashboard(body, who) if admin else self._denied("dashboards:create")
        if path.startswith("/api/datasources") and not admin:
            return self._denied("datasources:read" if method == "GET" else "datasources:write")
        if method == "GET" and (m := re.fullmatch(r"/api/datasources/name/([^/]+)", path)):
            ds = self._datasource_by_name(unquote(m.group(1)))
            return (200, copy.deepcopy(ds)) if ds else (404, {"message": "Data source not found"})
        if method == "POST" and path == "/api/datasources":
            return self._save_datasource(None, body)
        if method == "PUT" and (m := re.fullmatch(r"/api/datasources/(\d+)", path)):
            return self._save_datasource(int(m.group(1)), body)
        return 404, {"message": "Not found"}

    # -- folders -------------------------------------------------------------
    def _folder_dto(self, f: dict) -> dict:
        return {**f, "url": "/dashboards/f/%s/%s" % (f["uid"], _slug(f["title"])), "hasAcl": False,
                "canSave": True, "canEdit": True, "canAdmin": True, "canDelete": True}

    def _create_folder(self, body, who):
        if not isinstance(body, dict) or not (body.get("title") or "").strip():
            return 400, {"message": "folder title cannot be empty"}
        if body.get("parentUid"):
            return 400, {"message": "parent folder not found"}
        uid = body.get("uid") or secrets.token_hex(7)
        if uid in self.folders or uid in self.dashboards:
            return 409, {"message": "A folder/dashboard with the same uid already exists"}
        folder = {"id": self._next_id(), "uid": uid, "title": body["title"], "createdBy": who["login"],
                  "created": _now(), "updatedBy": who["login"], "updated": _now(), "version": 1}
        self.folders[uid] = folder
        return 200, self._folder_dto(folder)

    def _folder_by_id(self, folder_id: int) -> dict | None:
        return next((f for f in self.folders.values() if f["id"] == folder_id), None)

    # -- dashboards ----------------------------------------------------------
    def _search(self, query):
        text = (query.get("query") or [""])[0].lower()
        kind = (query.get("type") or [""])[0]
        folder_ids = {int(i) for v in query.get("folderIds", []) for i in v.split(",") if i}
        limit = int((query.get("limit") or ["1000"])[0])
        hits = []
        if kind in ("", "dash-folder"):
            for f in self.folders.values():
                if text in f["title"].lower() and not folder_ids:
                    hits.append({"id": f["id"], "uid": f["uid"], "orgId": 1, "title": f["title"],
                                 "uri": "db/" + _slug(f["title"]), "url": self._folder_dto(f)["url"], "slug": "",
                                 "type": "dash-folder", "tags": [], "isStarred": False, "sortMeta": 0,
                                 "isDeleted": False})
        if kind in ("", "dash-db"):
            for uid, entry in self.dashboards.items():
                dash, folder = entry["dashboard"], self.folders.get(entry["folder_uid"])
                folder_id = folder["id"] if folder else 0
                if text not in dash["title"].lower() or (folder_ids and folder_id not in folder_ids):
                    continue
                hit = {"id": dash["id"], "uid": uid, "orgId": 1, "title": dash["title"],
                       "uri": "db/" + _slug(dash["title"]), "url": "/d/%s/%s" % (uid, _slug(dash["title"])),
                       "slug": "", "type": "dash-db", "tags": dash.get("tags", []), "isStarred": False,
                       "sortMeta": 0, "isDeleted": False}
                if folder:
                    hit.update(folderId=folder["id"], folderUid=folder["uid"], folderTitle=folder["title"],
                               folderUrl=self._folder_dto(folder)["url"])
                hits.append(hit)
        return hits[:limit]

    def _get_dashboard(self, uid, who):
        entry = self.dashboards.get(uid)
        if entry is None:
            return 404, {"message": "Dashboard not found"}
        dash, folder = entry["dashboard"], self.folders.get(entry["folder_uid"])
        can = who["role"] == self.ADMIN
        meta = {"type": "db", "canSave": can, "canEdit": can, "canAdmin": can, "canStar": True, "canDelete": can,
                "slug": _slug(dash["title"]), "url": "/d/%s/%s" % (uid, _slug(dash["title"])),
                "expires": "0001-01-01T00:00:00Z", "created": entry["created"], "updated": entry["updated"],
                "updatedBy": entry["updated_by"], "createdBy": entry["created_by"], "version": dash["version"],
                "hasAcl": False, "isFolder": False, "folderId": folder["id"] if folder else 0,
                "folderUid": folder["uid"] if folder else "", "folderTitle": folder["title"] if folder else "General",
                "folderUrl": self._folder_dto(folder)["url"] if folder else "", "provisioned": False,
                "provisionedExternalId": "",
                "annotationsPermissions": {"dashboard": {"canAdd": can, "canEdit": can, "canDelete": can},
                                           "organization": {"canAdd": can, "canEdit": can, "canDelete": can}}}
        return 200, {"dashboard": copy.deepcopy(dash), "meta": meta}

    def _save_dashboard(self, body, who):
        """POST /api/dashboards/db as Grafana 11.3+ does it (no unique-title constraint)."""
        if not isinstance(body, dict) or not isinstance(body.get("dashboard"), dict):
            return 400, {"message": "bad request data"}
        dash = copy.deepcopy(body["dashboard"])
        if not (dash.get("title") or "").strip():
            return 400, {"message": "Dashboard title cannot be empty", "status": "empty-name"}
        if body.get("folderUid"):
            folder = self.folders.get(body["folderUid"])
        elif body.get("folderId"):
            folder = self._folder_by_id(body["folderId"])
        else:
            folder = None
        if (body.get("folderUid") or body.get("folderId")) and folder is None:
            return 400, {"message": "folder not found", "status": "not-found"}
        uid = dash.get("uid") or secrets.token_hex(7)
        if len(uid) > 40:
            return 400, {"message": "uid too long, max 40 characters", "status": "bad-uid"}
        existing = self.dashboards.get(uid)
        if dash.get("id") and (existing is None or existing["dashboard"]["id"] != dash["id"]):
            return 404, {"message": "Dashboard not found", "status": "not-found"}
        if existing is not None:
            if dash.get("version") != existing["dashboard"]["version"] and not body.get("overwrite"):
                return 412, {"message": "The dashboard has been changed by someone else", "status": "version-mismatch"}
            dash.update(id=existing["dashboard"]["id"], uid=uid, version=existing["dashboard"]["version"] + 1)
            existing.update(dashboard=dash, folder_uid=folder["uid"] if folder else "", updated=_now(),
                            updated_by=who["login"])
            existing["messages"].append(body.get("message", ""))
        else:
            dash.update(id=self._next_id(), uid=uid, version=1)
            self.dashboards[uid] = {"dashboard": dash, "folder_uid": folder["uid"] if folder else "",
                                    "created": _now(), "updated": _now(), "created_by": who["login"],
                                    "updated_by": who["login"], "messages": [body.get("message", "")]}
        return 200, {"id": dash["id"], "uid": uid, "url": "/d/%s/%s" % (uid, _slug(dash["title"])),
                     "status": "success", "version": dash["version"], "slug": _slug(dash["title"]),
                     "folderUid": folder["uid"] if folder else ""}

    # -- datasources ---------------------------------------------------------
    def _datasource_by_name(self, name: str) -> dict | None:
        return next((d for d in self.datasources.values() if d["name"] == name), None)

    def _default_datasource_name(self) -> str:
        return next((d["name"] for d in self.datasources.values() if d["isDefault"]), "")

    def _save_datasource(self, ds_id, body):
        """POST /api/datasources and PUT /api/datasources/:id; answers with the DataSource DTO."""
        if not isinstance(body, dict) or not body.get("name") or not body.get("type"):
            return 400, {"message": "Required fields are missing"}
        current = self.datasources.get(ds_id) if ds_id is not None else None
        if ds_id is not None and current is None:
            return 404, {"message": "Data source not found"}
        for other in self.datasources.values():
            if other is current:
                continue
            if other["name"] == body["name"]:
                return 409, {"message": "data source with the same name already exists"}
            if body.get("uid") and other["uid"] == body["uid"]:
                return 409, {"message": "data source with the same uid already exists"}
        secure = {k: True for k, v in (body.get("secureJsonData") or {}).items() if v}
        if current is not None:
            secure = {**current["secureJsonFields"], **secure}
        dto = {"id": ds_id if current else self._next_id(),
               "uid": body.get("uid") or (current["uid"] if current else secrets.token_hex(7)),
               "orgId": 1, "name": body["name"], "type": body["type"],
               "typeLogoUrl": "public/app/plugins/datasource/%s/img/%s_logo.svg" % (body["type"], body["type"]),
               "access": body.get("access", "proxy"), "url": body.get("url", ""), "user": body.get("user", ""),
               "database": body.get("database", ""), "basicAuth": bool(body.get("basicAuth")),
               "basicAuthUser": body.get("basicAuthUser", ""), "withCredentials": bool(body.get("withCredentials")),
               "isDefault": bool(body.get("isDefault")), "jsonData": body.get("jsonData") or {},
               "secureJsonFields": secure, "version": current["version"] + 1 if current else 1,
               "readOnly": False, "apiVersion": ""}
        if dto["isDefault"]:
            for other in self.datasources.values():
                other["isDefault"] = False
        self.datasources[dto["id"]] = dto
        message = "Datasource updated" if current else "Datasource added"
        return 200, {"datasource": copy.deepcopy(dto), "id": dto["id"], "message": message, "name": dto["name"]}


# -- running the role -----------------------------------------------------------

@pytest.fixture
def grafana():
    fake = FakeGrafana().start()
    yield fake
    fake.stop()


def api_vars(grafana: FakeGrafana, **overrides) -> dict:
    return {"grafana_dashboards_mode": "api", "grafana_dashboards_url": grafana.url,
            "grafana_dashboards_api_token": TOKEN, "grafana_dashboards_prometheus_url": PROMETHEUS_URL,
            **overrides}


def run_role(tmp_path: Path, role_vars: dict) -> subprocess.CompletedProcess:
    """ansible-playbook -v applying the role to localhost; the secrets travel in
    a vars file, not on the command line."""
    (tmp_path / "inventory.yml").write_text(yaml.safe_dump({"all": {"children": {"monitoring": {"hosts": {
        "localhost": {"ansible_connection": "local", "ansible_python_interpreter": sys.executable}}}}}}))
    (tmp_path / "play.yml").write_text(yaml.safe_dump([{
        "name": "Grafana dashboards", "hosts": "monitoring", "gather_facts": False,
        "roles": [{"role": "grafana_dashboards"}]}]))
    (tmp_path / "vars.yml").write_text(yaml.safe_dump(role_vars))
    env = {**os.environ, "ANSIBLE_CONFIG": str(ROOT / "ansible.cfg"), "ANSIBLE_ROLES_PATH": str(ROOT / "roles"),
           "PATH": f"{VENV_BIN}:{os.environ['PATH']}", "ANSIBLE_NOCOLOR": "1", "ANSIBLE_PIPELINING": "True", "NO_PROXY": "127.0.0.1,localhost",
           "no_proxy": "127.0.0.1,localhost"}
    return subprocess.run([str(VENV_BIN / "ansible-playbook"), "-v", "-i", str(tmp_path / "inventory.yml"),
                           "-e", "@" + str(tmp_path / "vars.yml"), str(tmp_path / "play.yml")],
                          capture_output=True, text=True, env=env, cwd=ROOT, timeout=120)


def recap(result: subprocess.CompletedProcess) -> dict[str, int]:
    m = re.search(r"^localhost\s*:\s*(.*)$", result.stdout, re.M)
    assert m, result.stdout + result.stderr
    return {k: int(v) for k, v in re.findall(r"(\w+)=(\d+)", m.group(1))}


def one_line(result: subprocess.CompletedProcess) -> str:
    return " ".join((result.stdout + result.stderr).split())


def assert_no_secret(result: subprocess.CompletedProcess) -> None:
    output = result.stdout + result.stderr
    for secret in (TOKEN, VIEWER_TOKEN, PASSWORD, base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()):
        assert secret not in output, "a secret was printed"


def without_id_and_version(dashboard: dict) -> dict:
    return {k: v for k, v in dashboard.items() if k not in ("id", "version")}


# -- tests ---------------------------------------------------------------------

def test_import_is_complete_then_idempotent_then_puts_back_a_dashboard_edited_in_grafana(grafana, tmp_path):
    # 1. First run, with a token: folder, datasource and every dashboard created.
    first = run_role(tmp_path, api_vars(grafana))
    assert first.returncode == 0, first.stdout + first.stderr
    assert_no_secret(first)
    assert recap(first)["changed"] > 0 and recap(first)["failed"] == 0

    # Every request but the health check carried the token, as a Bearer header.
    authed = [r for r in grafana.requests if r["path"] != "/api/health"]
    assert authed and all(r["authorization"] == "Bearer " + TOKEN for r in authed)

    assert list(grafana.folders) == ["quantshift"]
    assert grafana.folders["quantshift"]["title"] == "QuantShift"

    (ds,) = grafana.datasources.values()
    assert (ds["name"], ds["uid"], ds["type"], ds["url"], ds["access"], ds["isDefault"]) == \
        ("Prometheus", "quantshift-prometheus", "prometheus", PROMETHEUS_URL, "proxy", True)

    assert len(DASHBOARDS) >= 2
    assert set(grafana.dashboards) == {json.loads(p.read_text())["uid"] for p in DASHBOARDS}
    for path in DASHBOARDS:
        source = json.loads(path.read_text())
        stored = grafana.dashboards[source["uid"]]
        assert stored["dashboard"]["title"] == source["title"]
        assert without_id_and_version(stored["dashboard"]) == without_id_and_version(source), path.name
        assert stored["folder_uid"] == "quantshift"
        assert stored["dashboard"]["version"] == 1

    # 2. Second run: nothing to do, and nothing written.
    before = len(grafana.requests)
    second = run_role(tmp_path, api_vars(grafana))
    assert second.returncode == 0, second.stdout + second.stderr
    assert_no_secret(second)
    assert recap(second)["changed"] == 0, second.stdout
    assert grafana.writes(before) == []
    assert all(e["dashboard"]["version"] == 1 for e in grafana.dashboards.values())

    # 3. Someone saves a change in Grafana's UI; the next run, this time with a
    # user and password, puts the file back (overwrite) and touches nothing else.
    uid = json.loads(DASHBOARDS[0].read_text())["uid"]
    grafana.edit_in_ui(uid, title="Edited in the UI", panels=[])
    before = len(grafana.requests)
    third = run_role(tmp_path, api_vars(grafana, grafana_dashboards_api_token="", grafana_dashboards_api_user=USER,
                                        grafana_dashboards_api_password=PASSWORD))
    assert third.returncode == 0, third.stdout + third.stderr
    assert_no_secret(third)
    assert recap(third)["changed"] == 1, third.stdout
    authed = [r for r in grafana.requests[before:] if r["path"] != "/api/health"]
    assert all(r["authorization"].startswith("Basic ") and r["who"]["login"] == USER for r in authed)
    assert any(r["path"] == "/api/user/using/1" for r in authed), "basic auth selects grafana_dashboards_api_org_id"
    (post,) = grafana.writes(before)
    assert post["path"] == "/api/dashboards/db" and post["body"]["overwrite"] is True
    assert post["body"]["message"] == "Imported by Ansible from quantshift-infra"
    stored = grafana.dashboards[uid]["dashboard"]
    assert without_id_and_version(stored) == without_id_and_version(json.loads(DASHBOARDS[0].read_text()))
    assert stored["version"] == 3


def test_a_wrong_token_fails_with_one_clear_message_and_writes_nothing(grafana, tmp_path):
    result = run_role(tmp_path, api_vars(grafana, grafana_dashboards_api_token="glsa_not-the-right-one"))
    assert result.returncode != 0
    assert (f"grafana_dashboards_api_token: the Grafana at {grafana.url} rejected the credentials "
            "(HTTP 401: Invalid API key)") in one_line(result), result.stdout
    assert "glsa_not-the-right-one" not in result.stdout + result.stderr
    assert_no_secret(result)
    assert grafana.writes() == [] and grafana.dashboards == {} and grafana.datasources == {}


def test_a_token_that_may_not_write_fails_with_the_module_message_and_no_token(grafana, tmp_path):
    """A Viewer token passes the credentials check (it may search); then
    grafana_dashboard's own error message includes the request headers, token
    included, which the module masks (no_log parameter) before the rescue
    repeats it."""
    result = run_role(tmp_path, api_vars(grafana, grafana_dashboards_api_token=VIEWER_TOKEN,
                                         grafana_dashboards_api_datasource=False,
                                         grafana_dashboards_folder="General"))
    assert result.returncode != 0
    text = one_line(result)
    assert f"grafana_dashboards: 'Import the dashboards' failed against {grafana.url}: error : Unable to create" in text
    assert "Permissions needed: dashboards:create" in text and "Bearer ********" in text, result.stdout
    assert_no_secret(result)
    assert grafana.dashboards == {}


def test_a_token_that_may_not_manage_datasources_fails_before_writing(grafana, tmp_path):
    result = run_role(tmp_path, api_vars(grafana, grafana_dashboards_api_token=VIEWER_TOKEN))
    assert result.returncode != 0
    assert ("grafana_dashboards_datasource_name: the credentials may not read the datasource 'Prometheus' "
            "(HTTP 403): managing it needs an Admin token or user") in one_line(result), result.stdout
    assert grafana.writes() == []
    assert_no_secret(result)


def test_a_datasource_of_the_same_name_owned_by_someone_else_is_left_alone(grafana, tmp_path):
    grafana._save_datasource(None, {"name": "Prometheus", "type": "prometheus", "uid": "team-prom",
                                    "url": "http://prom.example:9090", "isDefault": True})
    result = run_role(tmp_path, api_vars(grafana))
    assert result.returncode != 0
    assert ("grafana_dashboards_datasource_name: the Grafana already has a datasource named 'Prometheus' "
            "with uid 'team-prom'") in one_line(result), result.stdout
    assert grafana.writes() == []
    assert_no_secret(result)


@pytest.mark.parametrize("overrides, message", [
    ({"grafana_dashboards_mode": "grafana"}, "grafana_dashboards_mode must be one of: provisioning, api, got: grafana"),
    ({"grafana_dashboards_url": ""}, "grafana_dashboards_url: api mode needs the base URL of the Grafana"),
    ({"grafana_dashboards_url": "grafana.example:3000"}, "grafana_dashboards_url: api mode needs the base URL"),
    ({"grafana_dashboards_url": "https://admin:pw@grafana.example"}, "with no credentials in it"),
    ({"grafana_dashboards_api_token": ""}, "grafana_dashboards_api_token: api mode needs either"),
    ({"grafana_dashboards_api_user": USER, "grafana_dashboards_api_password": PASSWORD},
     "grafana_dashboards_api_token: api mode needs either"),
    ({"grafana_dashboards_prometheus_url": "http://localhost:9090"},
     "grafana_dashboards_prometheus_url: http://localhost:9090 would be the external Grafana's own host"),
], ids=["bad-mode", "no-url", "no-scheme", "credentials-in-url", "no-credentials", "both-credentials",
        "localhost-prometheus"])
def test_bad_input_fails_in_preflight_with_one_message_and_sends_nothing(grafana, tmp_path, overrides, message):
    result = run_role(tmp_path, api_vars(grafana, **overrides))
    assert result.returncode != 0
    assert message in one_line(result), result.stdout
    assert recap(result)["failed"] == 1
    assert grafana.requests == [], "preflight must fail before anything is sent to Grafana"
    assert_no_secret(result)
