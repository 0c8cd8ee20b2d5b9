"""A stand-in for the few Kubernetes API endpoints the hooks call, for integration tests without a cluster.

It serves the Deployment scale subresource, ConfigMaps, pods and PVCs over HTTP, so the hooks run their
real ``kubernetes`` client code through a kubeconfig that points here. Scaling the scheduler Deployment
calls ``on_scale`` — the test starts or stops real ``airflow scheduler`` processes there, which is what
the Deployment controller would do in a cluster. Once the project's local cluster exists, the e2e tests
use that instead.
"""

from __future__ import annotations

import json
import re
import threading
import urllib.parse
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

_SCALE = re.compile(r"^/apis/apps/v1/namespaces/([^/]+)/deployments/([^/]+)/scale$")
_OBJ = re.compile(r"^/api/v1/namespaces/([^/]+)/(configmaps|pods|persistentvolumeclaims)(?:/([^/]+))?$")
# One term of a label selector (equality- or set-based), roughly as the API server's parser accepts it.
_TERM = re.compile(r"!?[A-Za-z0-9./_-]+((==?|!=)[A-Za-z0-9._-]*|\s+(in|notin)\s+\([^()]*\))?")
_KINDS = {"configmaps": "ConfigMap", "pods": "Pod", "persistentvolumeclaims": "PersistentVolumeClaim"}


def _matches(labels: dict[str, str], selector: str) -> bool:
    for term in filter(None, (t.strip() for t in selector.split(","))):
        key, eq, value = term.partition("=")
        if eq and labels.get(key) != value.lstrip("="):
            return False
        if not eq and key not in labels:
            return False
    return True


class FakeKube:
    """In-memory objects plus an HTTP server; use as a context manager.

    Example:
        >>> with FakeKube(tmp_path) as k:  # doctest: +SKIP
        ...     k.deployments[("ns", "sched")] = 1
        ...     os.environ["KUBECONFIG"] = str(k.kubeconfig)
    """

    def __init__(self, home: Path, on_scale: Callable[[str, int], None] | None = None) -> None:
        self.deployments: dict[tuple[str, str], int] = {}
        self.objects: dict[tuple[str, str, str], dict[str, Any]] = {}  # (kind plural, ns, name) -> object
        self.on_scale = on_scale
        self.calls: list[tuple[str, str]] = []
        self.lock = threading.Lock()
        self.kubeconfig = home / "kubeconfig"
        self._server: ThreadingHTTPServer | None = None

    def __enter__(self) -> FakeKube:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def _send(self, code: int, body: dict[str, Any]) -> None:
                data = json.dumps(body).encode()
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def _body(self) -> dict[str, Any]:
                n = int(self.headers.get("Content-Length") or 0)
                return json.loads(self.rfile.read(n) or b"{}")

            def _handle(self, method: str) -> None:
                path, _, query = self.path.partition("?")
                params = dict(p.partition("=")[::2] for p in query.split("&") if p)
                with fake.lock:
                    fake.calls.append((method, path))
                    code, body = fake.handle(method, path, params, self._body() if method in ("POST", "PATCH") else {})
                self._send(code, body)

            def do_GET(self) -> None:
                self._handle("GET")

            def do_POST(self) -> None:
                self._handle("POST")

            def do_PATCH(self) -> None:
                self._handle("PATCH")

            def do_DELETE(self) -> None:
                self._handle("DELETE")

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        port = self._server.server_address[1]
        self.kubeconfig.write_text(json.dumps({
            "apiVersion": "v1", "kind": "Config", "current-context": "fake",
            "clusters": [{"name": "fake", "cluster": {"server": f"http://127.0.0.1:{port}"}}],
            "users": [{"name": "fake", "user": {"token": "fake"}}],
            "contexts": [{"name": "fake", "context": {"cluster": "fake", "user": "fake"}}],
        }))
        return self

    def __exit__(self, *exc: object) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    def handle(self, method: str, path: str, params: dict[str, str], body: dict[str, Any]) -> tuple[int, dict]:
        """Route one request (under the lock)."""
        if m := _SCALE.match(path):
            ns, name = m.groups()
            if (ns, name) not in self.deployments:
                return 404, _status(404, f"deployments {name} not found")
            if method == "PATCH":
                replicas = int(body["spec"]["replicas"])
                self.deployments[(ns, name)] = replicas
                if self.on_scale:
                    self.on_scale(name, replicas)
            r = self.deployments[(ns, name)]
            return 200, {"apiVersion": "autoscaling/v1", "kind": "Scale", "metadata": {"name": name, "namespace": ns},
                         "spec": {"replicas": r}, "status": {"replicas": r}}
        if m := _OBJ.match(path):
            ns, plural, name = m.groups()
            key = (plural, ns, name or "")
            if name is None and method == "GET":
                sel = urllib.parse.unquote_plus(params.get("labelSelector", ""))
                if any(not _TERM.fullmatch(t.strip()) for t in sel.split(",") if t.strip()):
                    return 400, _status(400, f"unable to parse requirement: {sel!r}")
                items = [o for (p, n, _), o in sorted(self.objects.items())
                         if p == plural and n == ns and _matches(o["metadata"].get("labels", {}), sel)]
                return 200, {"apiVersion": "v1", "kind": _KINDS[plural] + "List", "metadata": {}, "items": items}
            if name is None and method == "POST":
                key = (plural, ns, body["metadata"]["name"])
                if key in self.objects:
                    return 409, _status(409, "already exists")
                body.setdefault("apiVersion", "v1")
                body["kind"] = _KINDS[plural]
                self.objects[key] = body
                return 201, body
            if key not in self.objects:
                return 404, _status(404, f"{plural} {name} not found")
            if method == "GET":
                return 200, self.objects[key]
            if method == "PATCH":
                obj = self.objects[key]
                for field, value in body.items():
                    if isinstance(value, dict) and isinstance(obj.get(field), dict):
                        obj[field].update(value)
                    else:
                        obj[field] = value
                return 200, obj
            if method == "DELETE":
                return 200, self.objects.pop(key)
        return 404, _status(404, f"no route {method} {path}")

    def add_pod(self, ns: str, name: str, phase: str, labels: dict[str, str], annotations: dict[str, str]) -> None:
        """Create a pod object as the KubernetesExecutor would have."""
        with self.lock:
            self.objects[("pods", ns, name)] = {
                "apiVersion": "v1", "kind": "Pod",
                "metadata": {"name": name, "namespace": ns, "labels": labels, "annotations": annotations},
                "spec": {"containers": [{"name": "base", "image": "apache/airflow"}]}, "status": {"phase": phase},
            }

    def config_map(self, ns: str, name: str) -> dict[str, str] | None:
        obj = self.objects.get(("configmaps", ns, name))
        return None if obj is None else dict(obj.get("data") or {})


def _status(code: int, message: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Status", "status": "Failure", "message": message, "code": code,
            "reason": {400: "BadRequest", 404: "NotFound", 409: "AlreadyExists"}.get(code, "")}
