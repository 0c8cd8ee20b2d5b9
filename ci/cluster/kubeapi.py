"""A small Kubernetes API client on the standard library (TLS client certificates), enough for the
cluster tooling's readiness checks, bootstrap objects and the DNS server's watches."""

from __future__ import annotations

import contextlib
import json
import ssl
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import layout

JSON = dict[str, Any]


class ApiError(RuntimeError):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(f"HTTP {status}: {message}")
        self.status = status


@dataclass(frozen=True)
class KubeApi:
    server: str
    ca_file: Path
    cert_file: Path
    key_file: Path

    @classmethod
    def for_identity(cls, pki_dir: Path, file_stem: str) -> KubeApi:
        return cls(
            server=f"https://{layout.NODE_IP}:{layout.APISERVER_PORT}",
            ca_file=pki_dir / "ca.crt",
            cert_file=pki_dir / f"{file_stem}.crt",
            key_file=pki_dir / f"{file_stem}.key",
        )

    def _context(self) -> ssl.SSLContext:
        context = ssl.create_default_context(cafile=str(self.ca_file))
        context.load_cert_chain(str(self.cert_file), str(self.key_file))
        return context

    def _open(self, method: str, path: str, body: JSON | None, timeout: float) -> Any:
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(self.server + path, data=data, method=method)
        request.add_header("Accept", "application/json")
        if data is not None:
            request.add_header("Content-Type", "application/json")
        try:
            return urllib.request.urlopen(request, context=self._context(), timeout=timeout)
        except urllib.error.HTTPError as error:
            detail = error.read().decode(errors="replace")
            with contextlib.suppress(ValueError):
                detail = json.loads(detail).get("message", detail)
            raise ApiError(error.code, detail) from None

    def request(self, method: str, path: str, body: JSON | None = None, timeout: float = 10.0) -> JSON:
        with self._open(method, path, body, timeout) as response:
            raw = response.read()
        return json.loads(raw) if raw.strip().startswith(b"{") else {"text": raw.decode()}

    def get(self, path: str, timeout: float = 10.0) -> JSON:
        return self.request("GET", path, timeout=timeout)

    def get_text(self, path: str, timeout: float = 5.0) -> str:
        with self._open("GET", path, None, timeout) as response:
            return response.read().decode()

    def create(self, path: str, body: JSON) -> JSON:
        """POST `body`; an object that already exists is left as it is (bootstrap is idempotent)."""
        try:
            return self.request("POST", path, body)
        except ApiError as error:
            if error.status == 409:
                return body
            raise

    def delete(self, path: str) -> None:
        try:
            self.request("DELETE", path, {"propagationPolicy": "Background", "gracePeriodSeconds": 0})
        except ApiError as error:
            if error.status != 404:
                raise

    def watch(self, path: str, resource_version: str, timeout_seconds: int = 240) -> Iterator[JSON]:
        """Yield watch events (one JSON object per line) until the server ends the watch."""
        separator = "&" if "?" in path else "?"
        query = (
            f"{separator}watch=1&allowWatchBookmarks=true&resourceVersion={resource_version}"
            f"&timeoutSeconds={timeout_seconds}"
        )
        with self._open("GET", path + query, None, timeout=timeout_seconds + 30) as response:
            for line in response:
                if line.strip():
                    yield json.loads(line)
