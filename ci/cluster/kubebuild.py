"""Build the `kube` binary (ci/kube) once per input: cached outside the repo, keyed by the sha256 of
go.mod, go.sum and the Go sources, so a warm `up` skips the ~12 minute cold build."""

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
class BuildResult:
    binary: Path
    cached: bool
    seconds: float
    peak_rss_mib: float | None


def cache_key(module: Path) -> str:
    digest = hashlib.sha256()
    inputs = [module / "go.mod", module / "go.sum", *sorted(module.glob("*.go"))]
    for path in inputs:
        digest.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()


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


def cached_binary(module: Path = layout.KUBE_MODULE) -> Path:
    return layout.cache_dir() / f"kube-{cache_key(module)}"


def ensure_binary(module: Path = layout.KUBE_MODULE) -> BuildResult:
    """Return the cached binary for the current inputs, building it first if needed."""
    target = cached_binary(module)
    if target.exists():
        return BuildResult(target, True, 0.0, None)
    target.parent.mkdir(parents=True, exist_ok=True)
    log = target.parent / "kube-build.log"
    partial = target.with_name(target.name + f".partial-{os.getpid()}")
    version = kubernetes_version(module)
    command = ["go", "build", "-trimpath", "-ldflags", version_ldflags(version), "-o", str(partial), "."]
    print(f"building kube {version} (cold build ~12 min on 2 cores; log: {log})", flush=True)
    started = time.monotonic()
    with log.open("w") as log_file:
        process = subprocess.Popen(
            command,
            cwd=module,
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
    _remove_stale_binaries(target)
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


def _remove_stale_binaries(keep: Path) -> None:
    """Each binary is ~200 MB: keep only the one for the current inputs."""
    for old in keep.parent.glob("kube-*"):
        if old != keep and old.name != "kube-build.log" and ".partial-" not in old.name and old.is_file():
            old.unlink(missing_ok=True)
