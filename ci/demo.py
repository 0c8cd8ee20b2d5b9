"""`make demo`: install the chart on the cluster, run the example DAG through the REST API, show its pod.

Then prints how to log in (address, user, the command that prints the password) and the seed task's log,
read through the REST API as the UI shows it, after its pod is gone. Leaves Airflow running.
Needs a cluster: `make cluster` brings up the local one, or point KUBECONFIG at yours.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from typing import Any

from airflow_api import AirflowApi, password_command, release_password
from release import KUBECTL, SEED_DAG, demo_values, fullname, helm, kubectl_json, task_pods, wait_ready

# The local cluster's provisioner: its volumes live on the one machine both nodes run on, so a
# ReadWriteMany claim of this class is shared by pods on either node.
LOGS_STORAGE_CLASS = "local-path-shared"


def logs_values() -> dict[str, Any]:
    """Keep finished tasks' logs on a shared claim when the cluster has the local-path class."""
    found = subprocess.run([KUBECTL, "get", "storageclass", LOGS_STORAGE_CLASS], capture_output=True, check=False)
    if found.returncode != 0:
        print(f"no StorageClass {LOGS_STORAGE_CLASS}: a task's log is readable only while its pod exists")
        return {}
    return {"logs": {"persistence": {"enabled": True, "storageClassName": LOGS_STORAGE_CLASS,
                                     "accessMode": "ReadWriteMany", "size": "1Gi"}}}


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--namespace", default="airflow-demo")
    parser.add_argument("--release", default="demo")
    args = parser.parse_args(argv)
    started = time.monotonic()
    helm("upgrade", "--install", args.release, "chart", "--namespace", args.namespace, "--create-namespace",
         values=demo_values(**logs_values()))
    print(f"helm upgrade --install {args.release}: done in {time.monotonic() - started:.1f} s")
    print(f"all components ready in {wait_ready(args.namespace, args.release, timeout=600):.1f} s")
    name = fullname(args.release)
    base_url = AirflowApi.for_release(args.namespace, name).base_url
    # Log in as a person would: the admin user and the password from the release's auth Secret.
    api = AirflowApi.login(base_url, "admin", release_password(args.namespace, name))
    api.wait_for_dag(SEED_DAG, timeout=300)
    run_id = api.trigger(SEED_DAG)
    print(f"triggered {SEED_DAG}: run {run_id}")
    pod = None
    deadline = time.monotonic() + 300
    while pod is None and time.monotonic() < deadline:
        pods = task_pods(args.namespace, SEED_DAG)
        pod = next((p for p in pods if p["spec"].get("nodeName")), None)
        time.sleep(2)
    if pod is None:
        print("no task pod was scheduled within 300 s", file=sys.stderr)
        return 1
    base = pod["spec"]["containers"][0]
    print(f"task pod {pod['metadata']['name']} on node {pod['spec']['nodeName']}")
    print(f"  container {base['name']}: requests {base['resources'].get('requests')}, "
          f"limits {base['resources'].get('limits')}")
    state = api.wait_for_run(SEED_DAG, run_id, timeout=600)
    print(f"run {run_id}: {state}")
    for task_id in sorted(api.task_states(SEED_DAG, run_id)):
        print(f"log of {SEED_DAG}.{task_id}, try 1 (REST API, as the UI shows it):")
        for line in api.task_log(SEED_DAG, run_id, task_id):
            print(f"  | {line}")
    service = kubectl_json("-n", args.namespace, "get", "service", f"{name}-api-server")
    print(f"UI: {api.base_url} (on this machine), or: kubectl -n {args.namespace} port-forward "
          f"service/{service['metadata']['name']} 8080:{service['spec']['ports'][0]['port']}")
    print("user: admin")
    print(f"password: {password_command(args.namespace, name)}")
    return 0 if state == "success" else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
