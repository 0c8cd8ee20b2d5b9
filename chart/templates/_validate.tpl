{{/* Every cross-value check lives here. values.schema.json checks shapes and single values; this checks
     what one value means for another. Each message names the key and the fix. */}}
{{- define "airflow-k8s.validate" -}}
{{- $requested := include "airflow-k8s.executors.requested" . | fromJsonArray -}}
{{- $known := list "KubernetesExecutor" "CeleryExecutor" "LocalExecutor" -}}
{{- $hybrid := list "CeleryKubernetesExecutor" "LocalKubernetesExecutor" -}}
{{- $major := include "airflow-k8s.airflowMajor" . | int -}}

{{- if not $requested -}}
{{- fail "executor is empty: set it to KubernetesExecutor, CeleryExecutor, LocalExecutor or a comma list of them" -}}
{{- end -}}
{{- $seen := list -}}
{{- range $requested -}}
{{- if and (has . $hybrid) (ge $major 3) -}}
{{- fail (printf "executor: %s does not exist on Airflow 3; use the list form, e.g. executor: %q, and pick an executor per task with executor=" . (ternary "CeleryExecutor,KubernetesExecutor" "LocalExecutor,KubernetesExecutor" (eq . "CeleryKubernetesExecutor"))) -}}
{{- end -}}
{{- if not (or (has . $known) (has . $hybrid)) -}}
{{- fail (printf "executor: unknown executor %q; use KubernetesExecutor, CeleryExecutor or LocalExecutor (one name or a comma list)" .) -}}
{{- end -}}
{{- if has . $seen -}}
{{- fail (printf "executor: %q is listed twice in %q" . $.Values.executor) -}}
{{- end -}}
{{- $seen = append $seen . -}}
{{- end -}}

{{/* Queues: names reach ConfigMap keys and Kubernetes resource names. */}}
{{- $w := .Values.workers -}}
{{- $names := dict -}}
{{- range $queue, $settings := include "airflow-k8s.queues" . | fromJson -}}
{{- if not (regexMatch "^[A-Za-z0-9][A-Za-z0-9_.-]*$" $queue) -}}
{{- fail (printf "workers.queues.%s: a queue name may hold only letters, digits, '_', '.' and '-' and must start with a letter or digit (it becomes the ConfigMap key %s.yaml and part of resource names)" $queue $queue) -}}
{{- end -}}
{{- $slug := include "airflow-k8s.queueSlug" $queue -}}
{{- $name := include "airflow-k8s.celeryWorkerName" (dict "root" $ "queue" $queue) -}}
{{- if or (gt (len $slug) 40) (not (regexMatch "^[a-z0-9]([-a-z0-9]*[a-z0-9])?$" $slug)) -}}
{{- fail (printf "workers.queues.%s: the queue name maps to %q, which is not a valid Kubernetes name part (at most 40 characters, must end with a letter or digit); rename the queue" $queue $slug) -}}
{{- end -}}
{{- with get $names $name -}}
{{- fail (printf "workers.queues.%s and workers.queues.%s both map to the Kubernetes name %q; rename one of them" . $queue $name) -}}
{{- end -}}
{{- $_ := set $names $name $queue -}}
{{- $settings = default (dict) $settings -}}
{{- if and $settings.workerType (not $w.workerTypeLabel) -}}
{{- fail (printf "workers.queues.%s.workerType is set but workers.workerTypeLabel is empty; set workers.workerTypeLabel to the node label that holds the worker type (e.g. node.kubernetes.io/instance-type)" $queue) -}}
{{- end -}}
{{- $autoscaling := dig "celery" "autoscaling" (dict) $settings -}}
{{- if and $autoscaling.enabled (gt (int (default 1 $autoscaling.minReplicas)) (int (default 1 $autoscaling.maxReplicas))) -}}
{{- fail (printf "workers.queues.%s.celery.autoscaling.minReplicas (%v) is above maxReplicas (%v)" $queue $autoscaling.minReplicas $autoscaling.maxReplicas) -}}
{{- end -}}
{{- end -}}

{{/* Environment the chart sets itself: a second entry of the same name breaks server-side apply. */}}
{{- $reserved := dict
    "AIRFLOW__CORE__LOAD_EXAMPLES" "set config.core.load_examples instead (the chart hands it to every component)"
    "CONNECTION_CHECK_MAX_COUNT" "the chart sets 0: components wait for migrations in an init container, task pods talk to the execution API"
    "DUMB_INIT_SETSID" "the chart sets 0 on Celery workers so a stopping worker finishes its tasks (warm shutdown)" -}}
{{- range $key, $list := dict "env" .Values.env "workers.env" .Values.workers.env -}}
{{- range $list -}}
{{- $name := toString .name -}}
{{- with get $reserved $name -}}
{{- fail (printf "%s: %s is set by the chart, remove it: %s" $key $name .) -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/* Where the data lives. */}}
{{- if and (not .Values.postgresql.enabled) (not .Values.database.existingSecret) -}}
{{- fail "database.existingSecret is empty while postgresql.enabled is false: name a Secret that holds the metadata database URL, or set postgresql.enabled=true" -}}
{{- end -}}
{{- if and (has "CeleryExecutor" $requested) (not .Values.redis.enabled) (not .Values.celery.brokerSecret) -}}
{{- fail "celery.brokerSecret is empty while redis.enabled is false and executor includes CeleryExecutor: name a Secret that holds the broker URL, or set redis.enabled=true" -}}
{{- end -}}
{{- $dags := .Values.dags -}}
{{- if and (eq $dags.source "persistentVolumeClaim") (not $dags.persistence.existingClaim) -}}
{{- fail "dags.persistence.existingClaim is empty while dags.source is persistentVolumeClaim: name the claim that holds the DAGs" -}}
{{- end -}}
{{- if and (eq $dags.source "gitSync") (not $dags.gitSync.repo) -}}
{{- fail "dags.gitSync.repo is empty while dags.source is gitSync: set the repository URL" -}}
{{- end -}}
{{- if and (eq $dags.source "configMap") (not $dags.configMap.name) (not $dags.configMap.files) -}}
{{- fail "dags.configMap.files is empty while dags.source is configMap: add DAG files, or name an existing ConfigMap in dags.configMap.name" -}}
{{- end -}}
{{- if and .Values.logs.remote.enabled (not .Values.logs.remote.baseLogFolder) -}}
{{- fail "logs.remote.baseLogFolder is empty while logs.remote.enabled is true: set the remote folder, e.g. s3://bucket/logs" -}}
{{- end -}}
{{- end -}}
