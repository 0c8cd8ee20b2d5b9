"""The value sets the render tests exercise; each is rendered once per test session."""

from __future__ import annotations

from typing import Any

IRSA_ROLE = "arn:aws:iam::123456789012:role/airflow"

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
    "scheduler": {"replicas": 2, "nodeSelector": {"role": "control"}, "tasksPerLoop": 32,
                  "serviceAccount": {"create": False, "name": "platform-scheduler"}},
    "apiServer": {"service": {"type": "LoadBalancer", "port": 8081,
                              "annotations": {"service.beta.kubernetes.io/aws-load-balancer-scheme": "internal"},
                              "loadBalancerSourceRanges": ["10.0.0.0/8"]},
                  "serviceAccount": {"annotations": {"eks.amazonaws.com/role-arn": IRSA_ROLE}}},
    "triggerer": {"replicas": 0},
    "allowPodLaunching": True,
    "auth": {"manager": "fab", "existingSecret": "airflow-auth",
             "fab": {"admin": {"username": "root", "firstName": "R", "lastName": "Oot", "email": "root@example.org"},
                     "webserverConfig": "AUTH_TYPE = AUTH_OAUTH\n"}},
    "ingress": {"apiServer": {"enabled": True, "ingressClassName": "nginx", "hosts": ["airflow.example.org"],
                              "annotations": {"cert-manager.io/cluster-issuer": "letsencrypt"},
                              "tls": [{"hosts": ["airflow.example.org"], "secretName": "airflow-tls"}]}},
    "httpRoute": {"apiServer": {"enabled": True, "parentRefs": [{"name": "public", "namespace": "gateways"}],
                                "hostnames": ["airflow.example.org"], "annotations": {"team": "data"}}},
    "migrations": {"useHelmHooks": False},
    "dags": {"source": "gitSync", "gitSync": {"repo": "https://example.org/dags.git", "subPath": "dags",
                                               "credentialsSecret": "git-creds"}},
    "logs": {"persistence": {"enabled": True, "storageClassName": "nfs", "accessMode": "ReadWriteOnce"},
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
        "celery": {"terminationGracePeriodSeconds": 7200,
                   "serviceAccount": {"annotations": {"iam.gke.io/gcp-service-account": "celery@p.iam"}}},
        "serviceAccount": {"annotations": {"eks.amazonaws.com/role-arn": IRSA_ROLE}},
        "queues": {**QUEUES, "gpu-jobs": {"serviceAccountName": "gpu-tasks"},
                   "scaled": {"celery": {"autoscaling": {"enabled": True, "minReplicas": 1, "maxReplicas": 5}}},
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

SPREAD = [{"maxSkew": 1, "topologyKey": "topology.kubernetes.io/zone", "whenUnsatisfiable": "ScheduleAnyway"}]
SIDECAR = {"name": "sidecar", "image": "example.org/sidecar:1", "securityContext": {
    "allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]}}}
NATIVE_SIDECAR = {**SIDECAR, "name": "native-sidecar", "restartPolicy": "Always"}
USER_LOCAL_SETTINGS = '''\
from kubernetes.client import models as k8s

__all__ = ["task_policy", "pod_mutation_hook"]


def task_policy(task):
    # Reroutes a queue the chart has no template for; labels every task pod it builds.
    if task.queue == "no_such_queue":
        task.queue = "GPU"
    if not hasattr(task, "partial_kwargs") and "pod_override" not in (task.executor_config or {}):
        task.executor_config = {**(task.executor_config or {}), "pod_override": k8s.V1Pod(
            metadata=k8s.V1ObjectMeta(labels={"example.org/user-policy": "applied"}))}


def pod_mutation_hook(pod):
    pod.metadata.annotations = {**(pod.metadata.annotations or {}), "example.org/mutated": "yes"}
'''
COMPONENT_EXTRAS: dict[str, Any] = {
    "replicas": 2,
    "priorityClassName": "airflow-control",
    "podAnnotations": {"example.org/scrape": "no"},
    "labels": {"team": "data", "app.kubernetes.io/component": "not-this"},
    "envFrom": [{"secretRef": {"name": "component-env"}}],
    "extraContainers": [SIDECAR],
    "extraInitContainers": [{**SIDECAR, "name": "prepare"}],
    "extraVolumes": [{"name": "extra", "emptyDir": {}}],
    "extraVolumeMounts": [{"name": "extra", "mountPath": "/extra"}],
}
# Every day-2 value, with the monitoring and KEDA APIs present (SCENARIO_ARGS).
DAY2: dict[str, Any] = {
    "executor": "CeleryExecutor,KubernetesExecutor",
    "priorityClassName": "airflow-default",
    "topologySpreadConstraints": SPREAD,
    "airflowLocalSettings": USER_LOCAL_SETTINGS,
    "extraObjects": [
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "{{ .Release.Name }}-extra"},
         "data": {"release": "{{ .Release.Name }}"}},
        "apiVersion: v1\nkind: Secret\nmetadata:\n  name: '{{ .Release.Name }}-extra-secret'\n"
        "stringData:\n  key: value\n",
    ],
    "scheduler": {**COMPONENT_EXTRAS, "topologySpreadConstraints": [
        {"maxSkew": 1, "topologyKey": "kubernetes.io/hostname", "whenUnsatisfiable": "DoNotSchedule"}]},
    "apiServer": {**COMPONENT_EXTRAS, "replicas": 3, "podDisruptionBudget": {"maxUnavailable": "50%"}},
    "dagProcessor": {**COMPONENT_EXTRAS, "podDisruptionBudget": {"enabled": False}},
    "triggerer": {"replicas": 1, "envFrom": [{"configMapRef": {"name": "trig-env"}, "prefix": "T_"}]},
    "dags": {"source": "gitSync", "gitSync": {
        "repo": "git@example.org:data/dags.git",
        "ssh": {"keySecret": "git-deploy-key", "knownHosts": "example.org ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAA\n"}}},
    "logs": {"retention": {"days": 7, "intervalSeconds": 600}},
    "statsd": {"enabled": True, "serviceMonitor": {"enabled": True, "labels": {"release": "prometheus"}},
               "extraMappings": [{"match": "airflow.custom.*", "name": "airflow_custom", "labels": {"part": "$1"}}]},
    "dbClean": {"enabled": True, "retentionDays": 30, "tables": ["dag_run", "xcom"]},
    "workers": {
        "priorityClassName": "airflow-tasks",
        "terminationGracePeriodSeconds": 900,
        "labels": {"cost-center": "etl"},
        "podAnnotations": {"example.org/team": "data"},
        "envFrom": [{"secretRef": {"name": "task-env"}}],
        "extraContainers": [SIDECAR],
        "extraInitContainers": [NATIVE_SIDECAR],
        "celery": {"keda": {"enabled": True, "maxReplicaCount": 4}},
        "queues": {**QUEUES,
                   "highmem": {**QUEUES["highmem"], "priorityClassName": "airflow-highmem",
                               "topologySpreadConstraints": [{"maxSkew": 2, "topologyKey": "kubernetes.io/hostname",
                                                              "whenUnsatisfiable": "ScheduleAnyway"}],
                               "celery": {"keda": {"minReplicaCount": 1}}},
                   "fixed": {"celery": {"replicas": 2, "keda": {"enabled": False}}}},
    },
}

SCENARIOS["day2"] = DAY2
# `helm template` flags per scenario: the APIs a cluster with prometheus-operator and KEDA serves.
SCENARIO_ARGS: dict[str, tuple[str, ...]] = {
    "day2": ("--api-versions", "monitoring.coreos.com/v1/ServiceMonitor", "--api-versions", "monitoring.coreos.com/v1",
             "--api-versions", "keda.sh/v1alpha1", "--api-versions", "keda.sh/v1alpha1/ScaledObject"),
}
