"""Build the cluster's Go binaries (ci/kube, ci/coredns, ci/netpol, ci/local-path) once per input: each
cached outside the repo, keyed by the sha256 of its module's go.mod, go.sum and Go sources (its package
and flags follow from those and this file), so a warm `up` skips the cold builds. Each is its own Go
module, so their dependencies never meet."""

from __future__ import annotations

import hashlib
import os
import re
import resource
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import layout

BUILD_TIMEOUT = 45 * 60


@dataclass(frozen=True)
class GoBinary:
    """One binary: `go build <package>` in `module`, cached as <cache>/<name>-<key>."""

    name: str
    module: Path
    package: str = "."
    ldflags: str = "-s -w"
    # Shown while building: how long a cold build took on 2 loaded cores.
    cold_minutes: int = 2

    def cache_key(self) -> str:
        digest = hashlib.sha256()
        inputs = [self.module / "go.mod", self.module / "go.sum", *sorted(self.module.glob("*.go"))]
        for path in inputs:
            digest.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
        return digest.hexdigest()

    def cached(self) -> Path:
        return layout.cache_dir() / f"{self.name}-{self.cache_key()}"


@dataclass(frozen=True)
class BuildResult:
    binary: Path
    cached: bool
    seconds: float
    peak_rss_mib: float | None

    def describe(self, name: str) -> str:
        if self.cached:
            return f"{name} binary: cached ({self.binary})"
        peak = f", largest process peak RSS {self.peak_rss_mib:.0f} MiB" if self.peak_rss_mib else ""
        return f"{name} binary: built in {self.seconds:.0f}s{peak} ({self.binary})"


def kubernetes_version(module: Path) -> str:
    """The k8s.io/kubernetes version go.mod requires: what the binary reports to kubectl and Helm."""
    match = re.search(r"^\s*k8s\.io/kubernetes\s+(v\d+\.\d+\.\d+)\s*$", (module / "go.mod").read_text(), re.M)
    if not match:
        raise RuntimeError(f"{module / 'go.mod'} does not require k8s.io/kubernetes")
    return match.group(1)


def version_ldflags(version: str) -> str:
    """Without these the servers say v0.0.0-master+$Format:%H$ and kubectl/Helm version checks break."""
    major, minor = version.lstrip("v").split(".")[:2]
    flags = ["-s", "-w"]
    for package in ("k8s.io/component-base/version", "k8s.io/client-go/pkg/version"):
        flags += [
            f"-X {package}.gitVersion={version}",
            f"-X {package}.gitMajor={major}",
            f"-X {package}.gitMinor={minor}",
            f"-X {package}.gitTreeState=clean",
        ]
    return " ".join(flags)


def kube() -> GoBinary:
    """The control plane, kubelet, kube-proxy and etcd in one binary (`kube <component>`)."""
    module = layout.GO_MODULES / "kube"
    return GoBinary("kube", module, ldflags=version_ldflags(kubernetes_version(module)), cold_minutes=12)


def coredns() -> GoBinary:
    return GoBinary("coredns", layout.GO_MODULES / "coredns", cold_minutes=8)


def netpol() -> GoBinary:
    """kube-network-policies, through ci/netpol's main (a kubeconfig instead of in-cluster config)."""
    return GoBinary("netpol", layout.GO_MODULES / "netpol", cold_minutes=10)


def local_path() -> GoBinary:
    """Rancher's local-path-provisioner, its own command (a `tool` of ci/local-path)."""
    module = layout.GO_MODULES / "local-path"
    return GoBinary("local-path", module, "github.com/rancher/local-path-provisioner", cold_minutes=4)


def all_binaries() -> tuple[GoBinary, ...]:
    return (kube(), coredns(), netpol(), local_path())


def ensure_binary(spec: GoBinary) -> BuildResult:
    """Return the cached binary for the current inputs, building it first if needed."""
    target = spec.cached()
    if target.exists():
        return BuildResult(target, True, 0.0, None)
    target.parent.mkdir(parents=True, exist_ok=True)
    log = target.parent / f"{spec.name}-build.log"
    partial = target.with_name(target.name + f".partial-{os.getpid()}")
    command = ["go", "build", "-trimpath", "-ldflags", spec.ldflags, "-o", str(partial), spec.package]
    print(f"building {spec.name} (cold build ~{spec.cold_minutes} min on 2 cores; log: {log})", flush=True)
    started = time.monotonic()
    with log.open("w") as log_file:
        process = subprocess.Popen(
            command,
            cwd=spec.module,
            stdout=log_file,
            stderr=subprocess.STDOUT,
            # go.sum is committed and complete: a build must not rewrite it.
            env={**os.environ, "GOFLAGS": "-mod=readonly"},
        )
        _wait_for_build(process, started)
    seconds = time.monotonic() - started
    if process.returncode != 0:
        partial.unlink(missing_ok=True)
        tail = "\n".join(log.read_text().splitlines()[-30:])
        raise RuntimeError(f"go build failed (exit {process.returncode}); last lines of {log}:\n{tail}")
    partial.rename(target)
    # ru_maxrss of reaped children: the largest single process (the linker or a big compile), in KiB.
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    _remove_stale_binaries(spec.name, target)
    return BuildResult(target, False, seconds, peak)


def _wait_for_build(process: subprocess.Popen[bytes], started: float) -> None:
    deadline = started + BUILD_TIMEOUT
    next_progress = started + 60
    while process.poll() is None:
        now = time.monotonic()
        if now > deadline:
            process.kill()
            process.wait()
            raise RuntimeError(f"go build did not finish within {BUILD_TIMEOUT // 60} min")
        if now >= next_progress:
            print(f"  … still building: {now - started:.0f}s", flush=True)
            next_progress = now + 60
        time.sleep(1)


def _remove_stale_binaries(name: str, keep: Path) -> None:
    """Binaries are tens to hundreds of MB: keep only the one for the current inputs of each."""
    stale = re.compile(rf"{re.escape(name)}-[0-9a-f]{{64}}")
    for old in keep.parent.iterdir():
        if old != keep and stale.fullmatch(old.name) and old.is_file():
            old.unlink(missing_ok=True)
