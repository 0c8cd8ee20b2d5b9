"""Fixtures for tests on a real cluster: the one named by $KUBECONFIG, else the local one from `make cluster`.

Without a cluster the tests skip locally and fail in CI (CI=true), where a missing cluster is a defect.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from kubernetes import client, config
from kubernetes.client.rest import ApiException
from waiting import wait_for

REPO_ROOT = Path(__file__).resolve().parents[2]
LOCAL_KUBECONFIG = REPO_ROOT / ".state" / "cluster" / "admin.kubeconfig"
NO_CLUSTER = "no Kubernetes cluster: run `make cluster` (or set KUBECONFIG to a reachable cluster)"

def _no_cluster(detail: str) -> None:
    message = f"{NO_CLUSTER} ({detail})"
    if os.environ.get("CI") == "true":
        pytest.fail(message, pytrace=False)
    pytest.skip(message)


@pytest.fixture(scope="session")
def cluster_kubeconfig() -> Iterator[str]:
    """The kubeconfig the session uses, also exported as $KUBECONFIG for kubectl and helm subprocesses."""
    given = os.environ.get("KUBECONFIG")
    kubeconfig = given or str(LOCAL_KUBECONFIG)
    if not given and not LOCAL_KUBECONFIG.exists():
        _no_cluster("KUBECONFIG is not set and .state/cluster/admin.kubeconfig does not exist")
    try:
        api_client = config.new_client_from_config(config_file=kubeconfig)
        with api_client:
            client.VersionApi(api_client).get_code(_request_timeout=10)
    except Exception as error:
        _no_cluster(f"{kubeconfig} is not usable: {type(error).__name__}: {error}")
    os.environ["KUBECONFIG"] = kubeconfig
    yield kubeconfig
    if given is None:
        os.environ.pop("KUBECONFIG", None)


@pytest.fixture(scope="session")
def local_cluster(cluster_kubeconfig: str) -> bool:
    """True when the session runs on the local cluster from `make cluster` (not a given $KUBECONFIG)."""
    return Path(cluster_kubeconfig).resolve() == LOCAL_KUBECONFIG.resolve()


@pytest.fixture(name="wait_until", scope="session")
def wait_until_fixture() -> Callable[..., object]:
    """`wait_for(what, probe, timeout)` of tests/e2e/waiting.py, as a fixture."""
    return wait_for


@pytest.fixture(scope="session")
def kube_client(cluster_kubeconfig: str) -> Iterator[client.ApiClient]:
    api_client = config.new_client_from_config(config_file=cluster_kubeconfig)
    yield api_client
    api_client.close()


@pytest.fixture(scope="session")
def core_v1(kube_client: client.ApiClient) -> client.CoreV1Api:
    return client.CoreV1Api(kube_client)


@pytest.fixture(scope="session")
def batch_v1(kube_client: client.ApiClient) -> client.BatchV1Api:
    return client.BatchV1Api(kube_client)


@pytest.fixture(scope="session")
def e2e_namespace(core_v1: client.CoreV1Api) -> Iterator[str]:
    """A namespace of this test session, enforcing Pod Security "restricted"; deleted at the end."""
    name = f"e2e-cluster-{uuid.uuid4().hex[:8]}"
    labels = {f"pod-security.kubernetes.io/{mode}": "restricted" for mode in ("enforce", "warn", "audit")}
    core_v1.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=name, labels=labels)))
    wait_for(
        f"the default ServiceAccount in {name}",
        lambda: _exists(lambda: core_v1.read_namespaced_service_account("default", name)),
        timeout=60,
    )
    yield name
    core_v1.delete_namespace(name, propagation_policy="Background", grace_period_seconds=0)


def _exists(read: Callable[[], object]) -> bool:
    try:
        read()
    except ApiException as error:
        if error.status == 404:
            return False
        raise
    return True
