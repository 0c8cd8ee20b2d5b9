"""The host add-ons' wiring: build cache keys, the Corefile, the NetworkPolicy queue rules, the add-ons' RBAC."""

from __future__ import annotations

import shutil
from pathlib import Path

import bootstrap
import configs
import gobuild
import layout
import netpolicy
import pytest
from layout import StateDirs

READ_VERBS = {"get", "list", "watch"}


def test_each_go_module_is_its_own(tmp_path: Path) -> None:
    modules = [spec.module for spec in gobuild.all_binaries()]
    assert len(set(modules)) == len(modules)
    for module in modules:
        assert (module / "go.mod").is_file() and (module / "go.sum").is_file(), module


def test_cache_key_follows_the_module_inputs(tmp_path: Path) -> None:
    module = tmp_path / "coredns"
    shutil.copytree(layout.GO_MODULES / "coredns", module)
    spec = gobuild.GoBinary("coredns", module)
    before = spec.cache_key()
    (module / "go.sum").write_text((module / "go.sum").read_text() + "\n")
    assert spec.cache_key() != before
    assert spec.cached().name == f"coredns-{spec.cache_key()}"


def test_stale_binaries_of_one_name_only_are_removed(tmp_path: Path) -> None:
    keep = tmp_path / f"netpol-{'a' * 64}"
    stale, other, log = tmp_path / f"netpol-{'b' * 64}", tmp_path / f"kube-{'b' * 64}", tmp_path / "netpol-build.log"
    for path in (keep, stale, other, log):
        path.write_text("")
    gobuild._remove_stale_binaries("netpol", keep)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(p.name for p in (keep, other, log))


def test_corefile_serves_cluster_zones_only_without_forwarding(tmp_path: Path) -> None:
    text = configs.corefile(StateDirs(tmp_path))
    header = text.splitlines()[0]
    assert header == f"{layout.CLUSTER_DOMAIN}:53 in-addr.arpa:53 ip6.arpa:53 {{"
    assert f"bind {layout.NODE_IP}" in text
    assert f"kubeconfig {tmp_path / 'config' / 'dns.kubeconfig'}" in text
    for plugin in ("errors", "health 127.0.0.1:", "ready 127.0.0.1:", "cache 30", "loop"):
        assert f"\n    {plugin}" in text, plugin
    assert "forward" not in text and "fallthrough" not in text


def test_every_new_pod_connection_is_queued_to_the_controller() -> None:
    assert netpolicy.TABLE == "mangle", "before filter: an accepted packet still meets the isolation chains"
    assert dict(netpolicy.HOOKS) == {
        "FORWARD": ("-i", layout.BRIDGE, "-o", layout.BRIDGE),
        "INPUT": ("-i", layout.BRIDGE),
    }
    rule = " ".join(netpolicy.RULE)
    assert rule == f"-m conntrack --ctstate NEW -j NFQUEUE --queue-num {layout.NETPOL_QUEUE}"
    assert "--queue-bypass" not in rule, "fail closed while the controller is down"


def test_queue_bound_reads_the_kernels_queue_list(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    queues = tmp_path / "nfnetlink_queue"
    monkeypatch.setattr(netpolicy, "QUEUES", queues)
    assert not netpolicy.queue_bound()
    queues.write_text(f"  {layout.NETPOL_QUEUE + 1}  1234 0 2 128 0 0 0  1\n")
    assert not netpolicy.queue_bound()
    queues.write_text(f"  {layout.NETPOL_QUEUE}  1234 0 2 128 0 0 0  1\n")
    assert netpolicy.queue_bound()


@pytest.mark.parametrize("client", [bootstrap.DNS, bootstrap.NETPOL], ids=lambda c: c.file_stem)
def test_dns_and_netpol_only_read(client: bootstrap.ClientIdentity) -> None:
    verbs = {verb for rule in bootstrap.ROLES[client] for verb in rule["verbs"]}
    assert verbs <= READ_VERBS


def test_provisioner_writes_only_volumes_events_and_its_helper_pods() -> None:
    written = {
        resource
        for rule in bootstrap.ROLES[bootstrap.LOCAL_PATH]
        if set(rule["verbs"]) - READ_VERBS
        for resource in rule["resources"]
    }
    assert written == {"persistentvolumes", "events"}
    assert {r for rule in bootstrap.LOCAL_PATH_POD_RULES for r in rule["resources"]} == {"pods"}


def test_local_path_volumes_live_under_each_nodes_state(tmp_path: Path) -> None:
    state = StateDirs(tmp_path)
    classes = configs.local_path_config(state)["storageClassConfigs"]
    assert classes == {
        "local-path": {"nodePathMap": [{"node": n.node.name, "paths": [str(n.local_path)]} for n in state.nodes]},
        "local-path-shared": {"sharedFileSystemPath": str(state.shared_volumes)},
    }
    assert str(state.shared_volumes).startswith(str(state.root)) and all(
        str(n.local_path).startswith(str(state.root)) for n in state.nodes
    )
