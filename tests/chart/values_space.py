"""Hypothesis strategies over the chart's value space: mostly plausible values, with the mistakes users
make mixed in (unknown executors, garbled quantities, odd queue names, missing secrets)."""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st

EXECUTORS = st.sampled_from([
    "KubernetesExecutor", "CeleryExecutor", "LocalExecutor", "KubernetesExecutor,CeleryExecutor",
    " CeleryExecutor , KubernetesExecutor ", "LocalExecutor,KubernetesExecutor", "CeleryKubernetesExecutor",
    "KubernetesExecuter", "", ",", "CeleryExecutor,CeleryExecutor", "my.module.CustomExecutor",
])
QUEUE_NAMES = st.sampled_from([
    "default", "highmem", "GPU", "gpu", "high_memory", "high-memory", "etl.v2", "q" * 41, "bad name",
    "team/etl", "x_", "-lead", "ünicode", "a",
])
QUANTITIES = st.one_of(
    st.sampled_from(["1", "500m", "256Mi", "1Gi", "0.5", "2", "-1", "lots", "1.5Gi", "", "1e3", "10Kb", ".5"]),
    st.integers(min_value=-2, max_value=64),
    st.floats(min_value=-2, max_value=8, allow_nan=False, allow_infinity=False),
)
RESOURCES = st.fixed_dictionaries({}, optional={
    "requests": st.dictionaries(st.sampled_from(["cpu", "memory", "nvidia.com/gpu"]), QUANTITIES, max_size=3),
    "limits": st.dictionaries(st.sampled_from(["cpu", "memory", "ephemeral-storage"]), QUANTITIES, max_size=3),
})
LABEL_KEYS = st.sampled_from(["pool", "example.org/node-type", "kubernetes.io/arch", "bad key!", "Upper/x"])
LABEL_VALUES = st.sampled_from(["tasks", "r5.2xlarge", "", "amd64", "no spaces allowed", "-x"])
NODE_SELECTOR = st.dictionaries(LABEL_KEYS, LABEL_VALUES, max_size=2)
TOLERATIONS = st.lists(st.fixed_dictionaries({"key": st.sampled_from(["tasks", "nvidia.com/gpu"])}, optional={
    "operator": st.sampled_from(["Exists", "Equal", "Maybe"]),
    "effect": st.sampled_from(["NoSchedule", "NoExecute", "Sometimes"]),
    "value": st.sampled_from(["true", "x"]),
}), max_size=2)
PRIORITY = st.sampled_from(["", "high", "system-cluster-critical", "High Priority"])
SPREAD = st.lists(st.fixed_dictionaries(
    {"maxSkew": st.integers(min_value=0, max_value=2),
     "topologyKey": st.sampled_from(["topology.kubernetes.io/zone", "kubernetes.io/hostname"]),
     "whenUnsatisfiable": st.sampled_from(["DoNotSchedule", "ScheduleAnyway", "Sometimes"])},
    optional={"labelSelector": st.just({"matchLabels": {"app": "x"}})}), max_size=2)
ENV_FROM = st.lists(st.one_of(
    st.fixed_dictionaries({"secretRef": st.fixed_dictionaries({"name": st.sampled_from(["env", ""])})}),
    st.fixed_dictionaries({"configMapRef": st.just({"name": "cfg"})}, optional={"prefix": st.just("X_")}),
    st.just({"prefix": "only"})), max_size=2)
CONTAINERS = st.lists(st.fixed_dictionaries({"name": st.sampled_from(["side", "car"]), "image": st.just("busybox")},
                                            optional={"restartPolicy": st.just("Always")}), max_size=1)
LABELS = st.dictionaries(st.sampled_from(["team", "app.kubernetes.io/component", "bad key!"]),
                         st.sampled_from(["data", "", "no spaces"]), max_size=2)
KEDA = st.fixed_dictionaries({}, optional={
    "enabled": st.booleans(), "minReplicaCount": st.integers(min_value=-1, max_value=3),
    "maxReplicaCount": st.integers(min_value=0, max_value=3), "connectionSecret": st.sampled_from(["", "keda-db"])})
COMPONENT = st.fixed_dictionaries({}, optional={
    "replicas": st.integers(min_value=0, max_value=3),
    "priorityClassName": PRIORITY,
    "topologySpreadConstraints": SPREAD,
    "podDisruptionBudget": st.fixed_dictionaries({}, optional={
        "enabled": st.booleans(), "maxUnavailable": st.sampled_from([0, 1, "50%", "150%", "one"])}),
    "labels": LABELS,
    "podAnnotations": st.dictionaries(st.sampled_from(["a", "example.org/b"]), st.just("1"), max_size=1),
    "envFrom": ENV_FROM,
    "extraContainers": CONTAINERS,
    "extraInitContainers": CONTAINERS,
    "extraVolumes": st.lists(st.just({"name": "extra", "emptyDir": {}}), max_size=1),
    "extraVolumeMounts": st.lists(st.sampled_from([{"name": "extra", "mountPath": "/extra"},
                                                   {"name": "extra", "mountPath": "relative"}]), max_size=1),
})
CELERY = st.fixed_dictionaries({}, optional={
    "keda": KEDA,
    "replicas": st.integers(min_value=-1, max_value=4),
    "concurrency": st.integers(min_value=0, max_value=32),
    "resources": RESOURCES,
    "autoscaling": st.fixed_dictionaries({"enabled": st.booleans()}, optional={
        "minReplicas": st.integers(min_value=0, max_value=6), "maxReplicas": st.integers(min_value=0, max_value=6)}),
})
QUEUE = st.fixed_dictionaries({}, optional={
    "workerType": st.sampled_from(["r5.2xlarge", "m5.large", "", "bad type!"]),
    "nodeSelector": NODE_SELECTOR,
    "tolerations": TOLERATIONS,
    "resources": RESOURCES,
    "celery": CELERY,
    "priorityClassName": PRIORITY,
    "topologySpreadConstraints": SPREAD,
})
WORKERS = st.fixed_dictionaries({}, optional={
    "queues": st.dictionaries(QUEUE_NAMES, QUEUE, max_size=4),
    "resources": RESOURCES,
    "workerTypeLabel": st.sampled_from(["", "node.kubernetes.io/instance-type", "example.org/type", "bad label!"]),
    "nodeSelector": NODE_SELECTOR,
    "tolerations": TOLERATIONS,
    "tmpDir": st.fixed_dictionaries({}, optional={"enabled": st.booleans(),
                                                  "sizeLimit": st.sampled_from(["", "1Gi", "big"])}),
    "podCreationBatchSize": st.integers(min_value=-1, max_value=64),
    "asyncPodCreation": st.booleans(),
    "podCreationConcurrency": st.integers(min_value=-1, max_value=64),
    "deletePods": st.booleans(),
    "multiNamespaceMode": st.booleans(),
    "configMapMounts": st.dictionaries(st.sampled_from(["cfg", "other"]), st.sampled_from(["/etc/cfg", "relative"]),
                                       max_size=1),
    "env": st.lists(st.fixed_dictionaries({"name": st.sampled_from(["A", "B_2"]), "value": st.just("1")}),
                    max_size=2),
    "priorityClassName": PRIORITY,
    "topologySpreadConstraints": SPREAD,
    "terminationGracePeriodSeconds": st.integers(min_value=-1, max_value=900),
    "labels": LABELS,
    "envFrom": ENV_FROM,
    "extraContainers": CONTAINERS,
    "extraInitContainers": CONTAINERS,
    "celery": st.fixed_dictionaries({}, optional={"keda": KEDA}),
})
DAGS = st.fixed_dictionaries({}, optional={
    "source": st.sampled_from(["image", "configMap", "persistentVolumeClaim", "gitSync", "s3"]),
    "configMap": st.fixed_dictionaries({}, optional={"files": st.dictionaries(
        st.sampled_from(["dag.py", "other_dag.py", "bad name.py"]), st.just("print(1)\n"), max_size=2)}),
    "persistence": st.fixed_dictionaries({}, optional={"existingClaim": st.sampled_from(["", "dags"])}),
    "gitSync": st.fixed_dictionaries({}, optional={
        "repo": st.sampled_from(["", "https://example.org/d.git", "git@example.org:d.git"]),
        "ssh": st.fixed_dictionaries({}, optional={
            "keySecret": st.sampled_from(["", "deploy-key"]),
            "knownHosts": st.sampled_from(["", "example.org ssh-ed25519 AAAA"])})}),
})
VALUES: st.SearchStrategy[dict[str, Any]] = st.fixed_dictionaries({}, optional={
    "executor": EXECUTORS,
    "airflowVersion": st.sampled_from(["3.3.2", "3.0.0", "2.11.0", "latest"]),
    "workers": WORKERS,
    "dags": DAGS,
    "postgresql": st.fixed_dictionaries({"enabled": st.booleans()}),
    "database": st.fixed_dictionaries({"existingSecret": st.sampled_from(["", "db"])}),
    "redis": st.fixed_dictionaries({"enabled": st.booleans()}),
    "celery": st.fixed_dictionaries({"brokerSecret": st.sampled_from(["", "broker"])}),
    "scheduler": st.fixed_dictionaries({"replicas": st.integers(min_value=-1, max_value=3)},
                                       optional={"tasksPerLoop": st.integers(min_value=-1, max_value=256)}),
    "triggerer": st.fixed_dictionaries({"replicas": st.integers(min_value=0, max_value=2)}),
    "apiServer": COMPONENT,
    "dagProcessor": COMPONENT,
    "priorityClassName": PRIORITY,
    "topologySpreadConstraints": SPREAD,
    "airflowLocalSettings": st.sampled_from(["", "def task_policy(task):\n    pass\n"]),
    "extraObjects": st.lists(st.sampled_from([
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "{{ .Release.Name }}-x"}},
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: extra-{{ .Release.Name }}\n"]), max_size=1,
        unique_by=lambda o: str(type(o))),
    "statsd": st.fixed_dictionaries({"enabled": st.booleans()}, optional={
        "prefix": st.sampled_from(["airflow", "air.flow"]),
        "serviceMonitor": st.fixed_dictionaries({"enabled": st.booleans()}, optional={
            "interval": st.sampled_from(["30s", "1m30s", "soon"])})}),
    "dbClean": st.fixed_dictionaries({"enabled": st.booleans()}, optional={
        "retentionDays": st.integers(min_value=0, max_value=90),
        "tables": st.lists(st.sampled_from(["dag_run", "xcom", "Bad"]), max_size=2)}),
    "executorSwitch": st.fixed_dictionaries({}, optional={
        "onTimeout": st.sampled_from(["fail", "keep-old-executor", "retry"]),
        "drainTimeout": st.integers(min_value=-5, max_value=7200)}),
    "networkPolicy": st.fixed_dictionaries({"enabled": st.booleans()}),
    "logs": st.fixed_dictionaries({}, optional={
        "retention": st.fixed_dictionaries({"enabled": st.booleans()}, optional={
            "days": st.integers(min_value=0, max_value=30), "intervalSeconds": st.sampled_from([1, 60, 900])}),
        "persistence": st.fixed_dictionaries({"enabled": st.booleans()}),
        "remote": st.fixed_dictionaries({"enabled": st.booleans()}, optional={
            "baseLogFolder": st.sampled_from(["", "s3://logs"])})}),
    "unexpectedKey": st.just(1),
})
