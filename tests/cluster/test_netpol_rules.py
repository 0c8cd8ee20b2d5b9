"""The NetworkPolicy enforcer's rule rendering (ci/cluster/netpol.py), on hand-written API objects."""

from __future__ import annotations

import os
import shutil
import subprocess
from typing import Any

import netpol
import pytest

FWD, IN = netpol.FORWARD_CHAIN, netpol.INPUT_CHAIN
BASE = [f"-A {FWD} {netpol.ESTABLISHED}", f"-A {IN} {netpol.ESTABLISHED}"]


def pod(name: str, ip: str, namespace: str = "app", ports: list[dict[str, Any]] | None = None,
        **labels: str) -> dict[str, Any]:
    return {"metadata": {"name": name, "namespace": namespace, "labels": labels},
            "spec": {"containers": [{"name": "main", "ports": ports or []}]},
            "status": {"phase": "Running", "podIP": ip}}


def namespace(name: str, **labels: str) -> dict[str, Any]:
    return {"metadata": {"name": name, "labels": {"kubernetes.io/metadata.name": name, **labels}}}


def policy(spec: dict[str, Any], name: str = "p", ns: str = "app") -> dict[str, Any]:
    return {"metadata": {"name": name, "namespace": ns}, "spec": spec}


NAMESPACES = [namespace("app"), namespace("other", team="data")]
TASK = pod("task", "10.244.0.5", component="task")
API = pod("api", "10.244.0.6", component="api-server", ports=[{"name": "http", "containerPort": 8080}])
DB = pod("db", "10.244.0.7", component="postgresql")
ELSEWHERE = pod("redis", "10.244.0.8", namespace="other", component="redis")
PODS = [TASK, API, DB, ELSEWHERE]
TASK_SELECTOR = {"matchLabels": {"component": "task"}}


def chain_of(lines: list[str], hook: str, match: str) -> list[str]:
    """The body of the per-pod chain `hook` jumps to for `match` (e.g. `-s 10.244.0.5/32`)."""
    jumps = [line.split()[-1] for line in lines if line.startswith(f"-A {hook} {match} ")]
    assert len(jumps) == 1, lines
    return [line.split(None, 2)[2] for line in lines if line.split()[1] == jumps[0]]


def test_no_policy_changes_nothing() -> None:
    assert netpol.rules([], PODS, NAMESPACES) == BASE


def test_empty_rule_lists_deny_both_ways_and_only_the_selected_pod_is_hooked() -> None:
    lines = netpol.rules([policy({"podSelector": TASK_SELECTOR, "policyTypes": ["Ingress", "Egress"],
                                  "ingress": [], "egress": []})], PODS, NAMESPACES)
    assert chain_of(lines, FWD, "-s 10.244.0.5/32") == ["-d 10.244.0.5/32 -j RETURN", "-j REJECT"]
    assert chain_of(lines, IN, "-s 10.244.0.5/32") == ["-d 10.244.0.5/32 -j RETURN", "-j REJECT"]
    assert chain_of(lines, FWD, "-d 10.244.0.5/32") == ["-s 10.244.0.5/32 -j RETURN", "-j REJECT"]
    hooks = [line for line in lines if line.split()[1] in (FWD, IN) and "ESTABLISHED" not in line]
    assert all("10.244.0.5/32" in line for line in hooks) and len(hooks) == 3


@pytest.mark.parametrize(("spec", "hooks"), [
    ({"podSelector": TASK_SELECTOR}, {"-d"}),  # no policyTypes, no egress: Ingress only
    ({"podSelector": TASK_SELECTOR, "egress": [{}]}, {"-d", "-s"}),  # egress rules imply Egress
    ({"podSelector": TASK_SELECTOR, "policyTypes": ["Egress"]}, {"-s"}),
])
def test_policy_types_default_as_the_api_does(spec: dict[str, Any], hooks: set[str]) -> None:
    lines = netpol.rules([policy(spec)], PODS, NAMESPACES)
    assert {line.split()[2] for line in lines if line.startswith(f"-A {FWD} -")} - {"-m"} == hooks


def test_chart_policy_allows_api_server_db_and_dns() -> None:
    spec = {"podSelector": TASK_SELECTOR, "policyTypes": ["Ingress", "Egress"], "ingress": [], "egress": [
        {"to": [{"podSelector": {"matchLabels": {"component": "api-server"}}}],
         "ports": [{"protocol": "TCP", "port": 8080}]},
        {"to": [{"podSelector": {"matchLabels": {"component": "postgresql"}}}], "ports": [{"port": 5432}]},
        {"ports": [{"protocol": "UDP", "port": 53}, {"protocol": "TCP", "port": 53}]},
    ]}
    egress = chain_of(netpol.rules([policy(spec)], PODS, NAMESPACES), FWD, "-s 10.244.0.5/32")
    assert egress == [
        "-d 10.244.0.5/32 -j RETURN",
        "-d 10.244.0.6/32 -p tcp --dport 8080 -j RETURN",
        "-d 10.244.0.7/32 -p tcp --dport 5432 -j RETURN",
        "-p udp --dport 53 -j RETURN",
        "-p tcp --dport 53 -j RETURN",
        "-j REJECT",
    ]


def test_namespace_selector_alone_and_with_pod_selector() -> None:
    other_ns = {"namespaceSelector": {"matchLabels": {"team": "data"}}}
    both = {**other_ns, "podSelector": {"matchLabels": {"component": "nothing-here"}}}
    egress = chain_of(netpol.rules([policy({"podSelector": TASK_SELECTOR, "egress": [{"to": [other_ns]}]})],
                                   PODS, NAMESPACES), FWD, "-s 10.244.0.5/32")
    assert "-d 10.244.0.8/32 -j RETURN" in egress and len(egress) == 3
    egress = chain_of(netpol.rules([policy({"podSelector": TASK_SELECTOR, "egress": [{"to": [both]}]})],
                                   PODS, NAMESPACES), FWD, "-s 10.244.0.5/32")
    assert egress == ["-d 10.244.0.5/32 -j RETURN", "-j REJECT"]


def test_ip_block_except_becomes_the_cidrs_that_remain() -> None:
    block = {"ipBlock": {"cidr": "10.244.0.0/24", "except": ["10.244.0.0/25", "10.244.0.128/26"]}}
    egress = chain_of(netpol.rules([policy({"podSelector": TASK_SELECTOR, "egress": [{"to": [block]}]})],
                                   PODS, NAMESPACES), FWD, "-s 10.244.0.5/32")
    assert egress == ["-d 10.244.0.5/32 -j RETURN", "-d 10.244.0.192/26 -j RETURN", "-j REJECT"]


def test_ingress_from_pods_with_named_port_and_port_range() -> None:
    spec = {"podSelector": {"matchLabels": {"component": "api-server"}}, "ingress": [
        {"from": [{"podSelector": TASK_SELECTOR}], "ports": [{"port": "http"}]},
        {"from": [{"ipBlock": {"cidr": "10.244.0.1/32"}}], "ports": [{"port": 9000, "endPort": 9010}]},
    ]}
    ingress = chain_of(netpol.rules([policy(spec)], PODS, NAMESPACES), FWD, "-d 10.244.0.6/32")
    assert ingress == ["-s 10.244.0.6/32 -j RETURN", "-s 10.244.0.5/32 -p tcp --dport 8080 -j RETURN",
                       "-s 10.244.0.1/32 -p tcp --dport 9000:9010 -j RETURN", "-j REJECT"]


def test_named_egress_port_towards_anywhere_means_pods_that_have_it() -> None:
    spec = {"podSelector": TASK_SELECTOR, "egress": [{"ports": [{"port": "http"}]}]}
    egress = chain_of(netpol.rules([policy(spec)], PODS, NAMESPACES), FWD, "-s 10.244.0.5/32")
    assert egress == ["-d 10.244.0.5/32 -j RETURN", "-d 10.244.0.6/32 -p tcp --dport 8080 -j RETURN", "-j REJECT"]


def test_several_policies_add_up() -> None:
    first = policy({"podSelector": TASK_SELECTOR, "policyTypes": ["Egress"],
                    "egress": [{"to": [{"podSelector": {"matchLabels": {"component": "api-server"}}}]}]}, "a")
    second = policy({"podSelector": {}, "policyTypes": ["Egress"],
                     "egress": [{"to": [{"podSelector": {"matchLabels": {"component": "postgresql"}}}]}]}, "b")
    lines = netpol.rules([second, first], PODS, NAMESPACES)
    assert chain_of(lines, FWD, "-s 10.244.0.5/32") == [
        "-d 10.244.0.5/32 -j RETURN", "-d 10.244.0.6/32 -j RETURN", "-d 10.244.0.7/32 -j RETURN", "-j REJECT"]
    assert "-d 10.244.0.8/32" not in " ".join(lines)  # `other` namespace: no policy there, untouched


@pytest.mark.parametrize(("expressions", "selected"), [
    ([{"key": "component", "operator": "In", "values": ["task", "db"]}], True),
    ([{"key": "component", "operator": "NotIn", "values": ["task"]}], False),
    ([{"key": "missing", "operator": "NotIn", "values": ["x"]}], True),
    ([{"key": "component", "operator": "Exists"}], True),
    ([{"key": "component", "operator": "DoesNotExist"}], False),
])
def test_match_expressions(expressions: list[dict[str, Any]], selected: bool) -> None:
    assert netpol.selects({"matchExpressions": expressions}, {"component": "task"}) is selected


def test_finished_and_host_network_pods_are_ignored() -> None:
    done = pod("done", "10.244.0.9", component="task")
    done["status"]["phase"] = "Succeeded"
    host = pod("host", "10.244.0.1", component="task")
    host["spec"]["hostNetwork"] = True
    lines = netpol.rules([policy({"podSelector": TASK_SELECTOR})], [done, host], NAMESPACES)
    assert lines == BASE


def test_unsupported_fields_are_named() -> None:
    spec = {"podSelector": {}, "egress": [{"to": [{"ipBlock": {"cidr": "fd00::/8"}}],
                                           "ports": [{"port": "http"}], "extra": 1}], "future": True}
    messages = netpol.unsupported(policy(spec))
    assert messages == [f"app/p: {m} not supported, ignored" for m in (
        "spec.future", "spec.egress[0].extra", "spec.egress[0].to[0].ipBlock (IPv6)",
        "spec.egress[0].ports[0]: named port towards an ipBlock")]


def test_restore_input_flushes_ours_and_deletes_stale_chains() -> None:
    lines = netpol.rules([policy({"podSelector": TASK_SELECTOR})], PODS, NAMESPACES)
    text = netpol.restore_input(lines, [FWD, IN, f"{netpol.PREFIX}-I00000000"])
    assert text.startswith(f"*filter\n:{FWD} - [0:0]\n:{IN} - [0:0]\n")
    assert text.endswith(f"-X {netpol.PREFIX}-I00000000\nCOMMIT\n")
    assert all(len(line.split()[0][1:]) <= 28 for line in text.splitlines() if line.startswith(":"))


@pytest.mark.skipif(os.geteuid() != 0 or not shutil.which("iptables-restore"), reason="needs root and iptables")
def test_iptables_accepts_the_rules() -> None:
    spec = {"podSelector": TASK_SELECTOR, "ingress": [{"from": [{"namespaceSelector": {}}]}], "egress": [
        {"to": [{"ipBlock": {"cidr": "0.0.0.0/0", "except": ["10.96.0.0/16"]}}],
         "ports": [{"protocol": "UDP", "port": 53}, {"protocol": "SCTP", "port": 1, "endPort": 9}]}]}
    text = netpol.restore_input(netpol.rules([policy(spec)], PODS, NAMESPACES), [])
    # --test parses and checks the transaction without committing it.
    subprocess.run(["iptables-restore", "-w", "--test", "--noflush"], input=text, text=True, check=True)
