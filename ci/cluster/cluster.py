"""The local two-node Kubernetes 1.35 cluster: upstream control plane and two kubelets (one `kube`
binary built from ci/kube), a containerd per node, a CNI bridge, kube-proxy, CoreDNS (ci/coredns),
kube-network-policies (ci/netpol) and the local-path-provisioner (ci/local-path), all host processes.

    python ci/cluster/cluster.py up       # idempotent; prints `export KUBECONFIG=...`
    python ci/cluster/cluster.py down     # stops what `up` started (recorded PIDs), removes network state
    python ci/cluster/cluster.py status

State lives in .state/cluster/ (git-ignored); the built binaries in $XDG_CACHE_HOME/airflow-k8s/.
"""

from __future__ import annotations

import argparse
import functools
import os
import shutil
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import bringup
import components
import gobuild
import health
import layout
import netpolicy
import pki
import preflight
import procs
import teardown
from kubeapi import KubeApi
from layout import STATE, StateDirs
from shell import run
from waits import WaitTimeout


def _kubectl() -> str | None:
    bundled = layout.REPO_ROOT / ".tools" / "bin" / "kubectl"
    return str(bundled) if bundled.exists() else shutil.which("kubectl")


def given_cluster() -> str | None:
    """A reachable cluster named by $KUBECONFIG (kind, k3d, a cloud cluster...), or None to use ours."""
    kubeconfig = os.environ.get("KUBECONFIG", "")
    if not kubeconfig or Path(kubeconfig).resolve() == STATE.admin_kubeconfig.resolve():
        return None
    kubectl = _kubectl()
    if kubectl is None:
        raise SystemExit(f"KUBECONFIG={kubeconfig} is set but kubectl is missing: run `bash ci/install-tools.sh`")
    result = run([kubectl, "--request-timeout=5s", "get", "--raw=/readyz"], check=False, timeout=30)
    if result.returncode != 0:
        raise SystemExit(
            f"KUBECONFIG={kubeconfig} is set but its cluster is not reachable ({result.stderr.strip()}): "
            "fix it, or `unset KUBECONFIG` to use the local cluster"
        )
    return kubeconfig


def all_running(state: StateDirs) -> bool:
    records = {record.name: record for record in procs.records(state.pids)}
    return all(name in records and procs.is_alive(records[name]) for name in components.STOP_ORDER)


def healthy(state: StateDirs) -> bool:
    if not all_running(state):
        return False
    admin = KubeApi.for_identity(state.pki, pki.ADMIN.file_stem)
    try:
        return health.apiserver_ready(admin) and health.all_nodes_ready(admin) and health.dns_answers()
    except Exception:
        return False


def kube_binary_for_cleanup(state: StateDirs) -> Path | None:
    """The binary the running cluster was started with, else the current cached one, if any."""
    for record in procs.records(state.pids):
        if record.argv and Path(record.argv[0]).name.startswith("kube-"):
            return Path(record.argv[0])
    cached = gobuild.kube().cached()
    return cached if cached.exists() else None


def print_export(state: StateDirs) -> None:
    print(f"export KUBECONFIG={state.admin_kubeconfig}")


def command_up(state: StateDirs) -> int:
    started = time.monotonic()
    external = given_cluster()
    if external:
        print(f"KUBECONFIG={external} points at a reachable cluster: using it, not starting the local one.")
        return 0
    preflight.require_root()
    preflight.require_host_tools()
    preflight.require_short_socket_paths(state)

    built = {spec.name: gobuild.ensure_binary(spec) for spec in gobuild.all_binaries()}
    build_lines = [result.describe(name) for name, result in built.items()]
    for line in build_lines:
        print(line, flush=True)
    binaries = bringup.Binaries(
        built["kube"].binary, built["coredns"].binary, built["netpol"].binary, built["local-path"].binary
    )

    cluster_started = time.monotonic()
    if healthy(state):
        print("cluster is already up; importing any new images", flush=True)
        bringup.import_images(state)
    else:
        # Before any clean-up: a cluster of another checkout shares the bridge and iptables chain names,
        # so it must be stopped there, not torn down from here.
        preflight.require_free_ports(state)
        stale = teardown.leftovers(state) + [
            f"running {r.name} (pid {r.pid})" for r in procs.records(state.pids) if procs.is_alive(r)
        ]
        if stale:
            print("cleaning up a previous cluster (crashed or half up): " + "; ".join(stale), flush=True)
            teardown.down(state, kube_binary_for_cleanup(state))
        preflight.require_free_ports(state)
        preflight.require_free_network()
        try:
            bringup.up(state, binaries)
        except (WaitTimeout, RuntimeError) as error:
            print(f"\nup failed: {error}\nlogs: {state.logs}/; clean up with `make cluster-down`", file=sys.stderr)
            return 1
    print("\n".join(build_lines))
    print(f"cluster up: {time.monotonic() - cluster_started:.1f}s (total {time.monotonic() - started:.1f}s)")
    print_export(state)
    return 0


def command_down(state: StateDirs) -> int:
    preflight.require_root()
    started = time.monotonic()
    others = preflight.other_clusters(state)
    if others:
        # The bridge, iptables chains and CNI state are shared names: they belong to that cluster now.
        print(f"a local cluster of another checkout is running ({', '.join(map(str, others))}): leaving it alone")
        teardown.stop_components(state, components.STOP_ORDER)
        teardown.remove_state(state)
        print(f"cluster down: this checkout's processes and state removed ({time.monotonic() - started:.1f}s)")
        return 0
    teardown.down(state, kube_binary_for_cleanup(state))
    print(f"cluster down: processes stopped, network state removed ({time.monotonic() - started:.1f}s)")
    return 0


def command_status(state: StateDirs) -> int:
    records = procs.records(state.pids)
    if not records:
        print("local cluster: not running (no process records in .state/cluster/pids)")
        return 1
    for record in records:
        print(f"  {record.name:<20} pid {record.pid:<8} {'running' if procs.is_alive(record) else 'DEAD'}")
    admin = KubeApi.for_identity(state.pki, pki.ADMIN.file_stem)
    checks: dict[str, Callable[[], object]] = {"apiserver ready": lambda: health.apiserver_ready(admin)}
    for node in layout.NODES:
        ready = functools.partial(health.node_ready, admin, node.name)
        checks[f"node {node.name} ({node.instance_type}) Ready"] = ready
    checks["CoreDNS ready"] = health.dns_ready
    checks["DNS answers"] = health.dns_answers
    checks["kube-network-policies on its queue, chain hooked"] = lambda: (
        netpolicy.queue_bound() and netpolicy.chain_hooked()
    )
    ok = all_running(state)
    for name, check in checks.items():
        try:
            passed = bool(check())
        except Exception as error:
            passed = False
            name += f" ({type(error).__name__}: {error})"
        ok = ok and passed
        print(f"  {'ok  ' if passed else 'FAIL'} {name}")
    if ok:
        print_export(state)
    return 0 if ok else 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("command", choices=("up", "down", "status"))
    args = parser.parse_args(argv)
    commands = {"up": command_up, "down": command_down, "status": command_status}
    try:
        return commands[args.command](STATE)
    except preflight.PreflightError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
