"""`make demo`: install the chart on the cluster, run the example DAG through the REST API, show its pod.

Leaves Airflow running. Needs a cluster: `make cluster` brings up the local one, or point KUBECONFIG at yours.
"""

from __future__ import annotations

import argparse
import sys
import time

from airflow_api import AirflowApi
from release import SEED_DAG, demo_values, fullname, helm, kubectl_json, task_pods, wait_ready


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--namespace", default="airflow-demo")
    parser.add_argument("--release", default="demo")
    args = parser.parse_args(argv)
    started = time.monotonic()
    helm("upgrade", "--install", args.release, "chart", "--namespace", args.namespace, "--create-namespace",
         values=demo_values())
    print(f"helm upgrade --install {args.release}: done in {time.monotonic() - started:.1f} s")
    print(f"all components ready in {wait_ready(args.namespace, args.release, timeout=600):.1f} s")
    api = AirflowApi.for_release(args.namespace, fullname(args.release))
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
    service = kubectl_json("-n", args.namespace, "get", "service", f"{fullname(args.release)}-api-server")
    print(f"UI: {api.base_url} (on this machine), or: kubectl -n {args.namespace} port-forward "
          f"service/{service['metadata']['name']} 8080:{service['spec']['ports'][0]['port']}")
    return 0 if state == "success" else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
