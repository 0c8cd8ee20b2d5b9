"""The value sets the render tests exercise; each is rendered once per test session."""

from __future__ import annotations

from typing import Any

SEED_DAG_FILES = ("example_kubernetes_executor_pod_override.py", "queue_routing.py")

QUEUES: dict[str, Any] = {
    "default": {},
    "highmem": {"workerType": "r5.2xlarge", "resources": {"requests": {"cpu": "2", "memory": "16Gi"},
                                                          "limits": {"cpu": "2", "memory": "16Gi"}}},
    "GPU": {
        "nodeSelector": {"accelerator": "nvidia-t4"},
        "tolerations": [{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}],
        "celery": {"replicas": 2, "concurrency": 4, "resources": {"requests": {"cpu": "4", "memory": "8Gi"}}},
    },
}

# A whole template for one queue; `tpl` renders it, so it may use values.
CUSTOM_POD_TEMPLATE = """\
apiVersion: v1
kind: Pod
metadata:
  name: custom
spec:
  containers:
    - name: base
      image: "{{ .Values.images.airflow.repository }}:x"
"""

EVERYTHING: dict[str, Any] = {
    "executor": " KubernetesExecutor , CeleryExecutor ",
    "images": {"airflow": {"repository": "example.org/airflow", "tag": "3.3.2-custom", "pullPolicy": "Always"}},
    "imagePullSecrets": [{"name": "regcred"}],
    "env": [{"name": "COMPONENT_ENV", "value": "1"}],
    "config": {"core": {"parallelism": 64}, "scheduler": {"task_queued_timeout": 1200}},
    "secrets": {"existingSecret": "airflow-secrets"},
    "database": {"existingSecret": "airflow-db", "existingSecretKey": "url"},
    "postgresql": {"enabled": False},
    "redis": {"enabled": False},
    "celery": {"brokerSecret": "broker", "brokerSecretKey": "url"},
    "scheduler": {"replicas": 2, "nodeSelector": {"role": "control"}, "tasksPerLoop": 32},
    "apiServer": {"service": {"type": "NodePort", "port": 8081}},
    "triggerer": {"replicas": 0},
    "migrations": {"useHelmHooks": False},
    "dags": {"source": "gitSync", "gitSync": {"repo": "https://example.org/dags.git", "subPath": "dags",
                                               "credentialsSecret": "git-creds"}},
    "logs": {"persistence": {"enabled": True, "storageClassName": "nfs"},
             "remote": {"enabled": True, "baseLogFolder": "s3://logs/airflow", "connId": "aws"}},
    "workers": {
        "resources": {"requests": {"cpu": "500m", "memory": "512Mi"}, "limits": {"cpu": "1", "memory": "1Gi"}},
        "nodeSelector": {"pool": "tasks"},
        "tolerations": [{"key": "tasks", "operator": "Exists", "effect": "NoSchedule"}],
        "affinity": {"podAntiAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": [
            {"weight": 1, "podAffinityTerm": {"topologyKey": "kubernetes.io/hostname",
                                              "labelSelector": {"matchLabels": {"app": "x"}}}}]}},
        "extraVolumes": [{"name": "shared", "emptyDir": {}}],
        "extraVolumeMounts": [{"name": "shared", "mountPath": "/shared"}],
        "configMapMounts": {"task-config": "/etc/task-config"},
        "secretMounts": {"task-secret": "/etc/task-secret"},
        "env": [{"name": "TASK_ENV", "value": "1"}],
        "tmpDir": {"mountPath": "/scratch", "sizeLimit": "2Gi"},
        "podAnnotations": {"example.org/team": "data"},
        "workerTypeLabel": "example.org/node-type",
        "podCreationBatchSize": 32,
        "asyncPodCreation": False,
        "podCreationConcurrency": 8,
        "deletePods": False,
        "celery": {"terminationGracePeriodSeconds": 7200},
        "queues": {**QUEUES, "scaled": {"celery": {"autoscaling": {"enabled": True, "minReplicas": 1,
                                                                    "maxReplicas": 5}}},
                   "custom": {"podTemplate": CUSTOM_POD_TEMPLATE}},
    },
    "executorSwitch": {"drainTimeout": 600, "onTimeout": "keep-old-executor"},
    "networkPolicy": {"enabled": True, "gitSyncEgress": [{"ports": [{"port": 443, "protocol": "TCP"}]}],
                      "remoteLoggingEgress": [{"ports": [{"port": 443, "protocol": "TCP"}]}]},
    "tests": {"dagId": "example_kubernetes_executor_pod_override_sources", "timeout": 120},
}

SCENARIOS: dict[str, dict[str, Any]] = {
    "defaults": {},
    "kubernetes": {"executor": "KubernetesExecutor", "workers": {"queues": QUEUES}},
    "celery": {"executor": "CeleryExecutor", "workers": {"queues": QUEUES}},
    "multi": {"executor": "KubernetesExecutor,CeleryExecutor", "workers": {"queues": QUEUES}},
    "everything": EVERYTHING,
}
