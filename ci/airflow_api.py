"""A small client of a release's Airflow REST API, for `make demo` and the end-to-end tests.

It talks to the api-server Service's cluster IP directly: the local cluster's host reaches Service IPs
through kube-proxy, so no port-forward is needed. The token is signed with the release's own JWT secret
by Airflow's auth manager code (run in a subprocess with that secret in its environment).
"""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import Any

from release import kubectl_json

_TOKEN_SCRIPT = """
from airflow.api_fastapi.auth.managers.simple.simple_auth_manager import SimpleAuthManager
from airflow.api_fastapi.auth.managers.simple.user import SimpleAuthManagerUser
print(SimpleAuthManager().generate_jwt(SimpleAuthManagerUser(username="admin", role="admin")))
"""


def release_password(namespace: str, fullname: str, username: str = "admin") -> str:
    """A login password from the release's auth Secret (SimpleAuthManager's `passwords.json`)."""
    data = kubectl_json("-n", namespace, "get", "secret", f"{fullname}-auth")["data"]
    return str(json.loads(base64.b64decode(data["passwords.json"]))[username])


def password_command(namespace: str, fullname: str) -> str:
    """The command that prints the release's login passwords."""
    return (f"kubectl -n {namespace} get secret {fullname}-auth -o jsonpath='{{.data.passwords\\.json}}' "
            "| base64 -d")


def admin_token(namespace: str, secret: str) -> str:
    """An admin API token signed with the release's `jwt-secret`."""
    data = kubectl_json("-n", namespace, "get", "secret", secret)["data"]
    jwt_secret = base64.b64decode(data["jwt-secret"]).decode()
    env = {**os.environ, "AIRFLOW__API_AUTH__JWT_SECRET": jwt_secret, "AIRFLOW_HOME": os.environ.get(
        "AIRFLOW_HOME", "/tmp/airflow-k8s-api-client")}
    result = subprocess.run([sys.executable, "-c", _TOKEN_SCRIPT], env=env, capture_output=True, text=True,
                            check=True)
    return result.stdout.strip().splitlines()[-1]


@dataclass(frozen=True)
class AirflowApi:
    """REST calls against one release's api-server."""

    base_url: str
    token: str

    @classmethod
    def for_release(cls, namespace: str, fullname: str) -> AirflowApi:
        service = kubectl_json("-n", namespace, "get", "service", f"{fullname}-api-server")
        port = service["spec"]["ports"][0]["port"]
        return cls(f"http://{service['spec']['clusterIP']}:{port}", admin_token(namespace, f"{fullname}-secrets"))

    def call(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        request = urllib.request.Request(
            f"{self.base_url}/api/v2{path}", method=method,
            data=json.dumps(body).encode() if body is not None else None,
            headers={"Authorization": f"Bearer {self.token}", "Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=30) as response:
            return json.load(response)

    def wait_for_dag(self, dag_id: str, timeout: float) -> None:
        """Wait until the dag-processor has parsed `dag_id`, then unpause it."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                self.call("GET", f"/dags/{dag_id}")
                break
            except urllib.error.HTTPError as error:
                if error.code != 404 or time.monotonic() > deadline:
                    raise
            print(f"waiting for DAG {dag_id} to be parsed", flush=True)
            time.sleep(3)
        self.call("PATCH", f"/dags/{dag_id}", {"is_paused": False})

    def trigger(self, dag_id: str) -> str:
        run = self.call("POST", f"/dags/{dag_id}/dagRuns", {"logical_date": None})
        return str(run["dag_run_id"])

    @classmethod
    def login(cls, base_url: str, username: str, password: str) -> AirflowApi:
        """Log in as a user does, through the auth manager's token endpoint (SimpleAuthManager and FAB alike)."""
        request = urllib.request.Request(
            f"{base_url}/auth/token", method="POST",
            data=json.dumps({"username": username, "password": password}).encode(),
            headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=30) as response:
            return cls(base_url, str(json.load(response)["access_token"]))

    def task_log(self, dag_id: str, run_id: str, task_id: str, try_number: int = 1) -> list[str]:
        """A task try's log as the UI shows it: the messages of its structured log lines."""
        found = self.call("GET", f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{task_id}/logs/{try_number}"
                                 "?full_content=true")
        lines = []
        for entry in found.get("content") or []:
            lines.append(str(entry.get("event", "")) if isinstance(entry, dict) else str(entry))
        return lines

    def run_state(self, dag_id: str, run_id: str) -> str:
        return str(self.call("GET", f"/dags/{dag_id}/dagRuns/{run_id}")["state"])

    def task_states(self, dag_id: str, run_id: str) -> dict[str, str]:
        found = self.call("GET", f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances")["task_instances"]
        return {ti["task_id"]: ti["state"] for ti in found}

    def wait_for_run(self, dag_id: str, run_id: str, timeout: float) -> str:
        """Poll the run until it ends; return its final state."""
        deadline = time.monotonic() + timeout
        state = "unknown"
        while time.monotonic() < deadline:
            state = self.run_state(dag_id, run_id)
            if state in ("success", "failed"):
                return state
            print(f"{dag_id} {run_id}: {state} {self.task_states(dag_id, run_id)}", flush=True)
            time.sleep(5)
        raise TimeoutError(f"{dag_id} run {run_id} still {state} after {timeout:.0f} s")
