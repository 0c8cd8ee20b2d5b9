{{/* Names ------------------------------------------------------------------------------------------ */}}

{{- define "airflow-k8s.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "airflow-k8s.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 40 | trimSuffix "-" -}}
{{- else -}}
{{- $name := include "airflow-k8s.name" . -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 40 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 40 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/* Resource name of one component: <fullname>-<component>. */}}
{{- define "airflow-k8s.componentName" -}}
{{- printf "%s-%s" (include "airflow-k8s.fullname" .root) .component -}}
{{- end -}}

{{/* Labels: one place for the app.kubernetes.io set. The chart version never enters selectors. */}}
{{- define "airflow-k8s.selectorLabels" -}}
app.kubernetes.io/name: {{ include "airflow-k8s.name" .root }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{- define "airflow-k8s.labels" -}}
{{ include "airflow-k8s.selectorLabels" . }}
app.kubernetes.io/managed-by: {{ .root.Release.Service }}
app.kubernetes.io/part-of: airflow-k8s
app.kubernetes.io/version: {{ .root.Chart.AppVersion | quote }}
helm.sh/chart: {{ printf "%s-%s" .root.Chart.Name .root.Chart.Version | replace "+" "_" }}
{{- end -}}

{{/* Executors ---------------------------------------------------------------------------------------- */}}

{{/* The executors named in values, as a JSON list: split on commas, spaces trimmed, empties dropped. */}}
{{- define "airflow-k8s.executors.requested" -}}
{{- $out := list -}}
{{- range splitList "," (toString .Values.executor) -}}
{{- $name := trim . -}}
{{- if $name -}}{{- $out = append $out $name -}}{{- end -}}
{{- end -}}
{{- toJson $out -}}
{{- end -}}

{{/* Executors that leave this release but may still hold work: kept as secondary executors when
     executorSwitch.onTimeout is keep-old-executor (read from the hooks' state ConfigMap at render time;
     `helm template` sees none). */}}
{{- define "airflow-k8s.executors.retained" -}}
{{- $requested := include "airflow-k8s.executors.requested" . | fromJsonArray -}}
{{- $out := list -}}
{{- if and .Values.executorSwitch.enabled (eq .Values.executorSwitch.onTimeout "keep-old-executor") -}}
{{- $state := lookup "v1" "ConfigMap" .Release.Namespace (include "airflow-k8s.executorSwitch.stateName" .) -}}
{{- /* Retained: what the previous release requested and this one drops, and what the hooks found still
       retiring. Not everything live: a retained executor would otherwise be kept forever. */}}
{{- $live := concat (include "airflow-k8s.executors.previouslyRequested" . | fromJsonArray) (splitList "," (dig "data" "retiring" "" $state)) -}}
{{- range $live -}}
{{- $name := trim . -}}
{{- if and $name (not (has $name $requested)) (not (has $name $out)) -}}{{- $out = append $out $name -}}{{- end -}}
{{- end -}}
{{- end -}}
{{- toJson $out -}}
{{- end -}}

{{/* The executors the running release serves: executorSwitch.fromExecutors, else the annotation Helm wrote
     on the live config ConfigMap (empty on install and under `helm template`). */}}
{{- define "airflow-k8s.executors.live" -}}
{{- $names := .Values.executorSwitch.fromExecutors -}}
{{- if not $names -}}
{{- $config := lookup "v1" "ConfigMap" .Release.Namespace (include "airflow-k8s.componentName" (dict "root" . "component" "config")) -}}
{{- $names = dig "metadata" "annotations" "airflow-k8s/executors" "" $config -}}
{{- end -}}
{{- $out := list -}}
{{- range splitList "," $names -}}
{{- if trim . -}}{{- $out = append $out (trim .) -}}{{- end -}}
{{- end -}}
{{- toJson $out -}}
{{- end -}}

{{/* The executors the previous release asked for in its values (not those it only retained). */}}
{{- define "airflow-k8s.executors.previouslyRequested" -}}
{{- $names := .Values.executorSwitch.fromExecutors -}}
{{- if not $names -}}
{{- $config := lookup "v1" "ConfigMap" .Release.Namespace (include "airflow-k8s.componentName" (dict "root" . "component" "config")) -}}
{{- $names = dig "metadata" "annotations" "airflow-k8s/requested-executors" (dig "metadata" "annotations" "airflow-k8s/executors" "" $config) $config -}}
{{- end -}}
{{- $out := list -}}
{{- range splitList "," $names -}}
{{- if trim . -}}{{- $out = append $out (trim .) -}}{{- end -}}
{{- end -}}
{{- toJson $out -}}
{{- end -}}

{{/* Every executor this release runs: the requested ones (first = default), then retained ones. Templates
     parse this once at their top and test membership with `has`. */}}
{{- define "airflow-k8s.executors" -}}
{{- $requested := include "airflow-k8s.executors.requested" . | fromJsonArray -}}
{{- $retained := include "airflow-k8s.executors.retained" . | fromJsonArray -}}
{{- toJson (concat $requested $retained) -}}
{{- end -}}

{{- define "airflow-k8s.executorSwitch.stateName" -}}
{{- include "airflow-k8s.componentName" (dict "root" . "component" "executor-state") -}}
{{- end -}}

{{/* Images and shared container pieces ------------------------------------------------------------ */}}

{{- define "airflow-k8s.airflowImage" -}}
{{- printf "%s:%s" .Values.images.airflow.repository (default .Values.airflowVersion .Values.images.airflow.tag) -}}
{{- end -}}

{{- define "airflow-k8s.airflowMajor" -}}
{{- (semver .Values.airflowVersion).Major -}}
{{- end -}}

{{- define "airflow-k8s.secretsName" -}}
{{- default (include "airflow-k8s.componentName" (dict "root" . "component" "secrets")) .Values.secrets.existingSecret -}}
{{- end -}}

{{- define "airflow-k8s.databaseSecretName" -}}
{{- if .Values.postgresql.enabled -}}
{{- include "airflow-k8s.componentName" (dict "root" . "component" "database") -}}
{{- else -}}
{{- .Values.database.existingSecret -}}
{{- end -}}
{{- end -}}

{{- define "airflow-k8s.databaseSecretKey" -}}
{{- if .Values.postgresql.enabled -}}connection{{- else -}}{{- .Values.database.existingSecretKey -}}{{- end -}}
{{- end -}}

{{- define "airflow-k8s.brokerSecretName" -}}
{{- if .Values.redis.enabled -}}
{{- include "airflow-k8s.componentName" (dict "root" . "component" "broker") -}}
{{- else -}}
{{- .Values.celery.brokerSecret -}}
{{- end -}}
{{- end -}}

{{- define "airflow-k8s.brokerSecretKey" -}}
{{- if .Values.redis.enabled -}}connection{{- else -}}{{- .Values.celery.brokerSecretKey -}}{{- end -}}
{{- end -}}

{{/* Environment of every Airflow component container: secrets by reference, never in the ConfigMap. */}}
{{- define "airflow-k8s.airflowEnv" -}}
{{- $executors := include "airflow-k8s.executors" . | fromJsonArray -}}
# The image's entrypoint would first poll the DB; components wait for migrations in an init container instead.
- name: CONNECTION_CHECK_MAX_COUNT
  value: "0"
# The upstream image sets AIRFLOW__CORE__LOAD_EXAMPLES=false, which beats airflow.cfg: hand the configured value on.
- name: AIRFLOW__CORE__LOAD_EXAMPLES
  value: {{ include "airflow-k8s.effectiveConfig" . | fromJson | dig "core" "load_examples" "False" | toString | quote }}
- name: AIRFLOW__DATABASE__SQL_ALCHEMY_CONN
  valueFrom:
    secretKeyRef:
      name: {{ include "airflow-k8s.databaseSecretName" . }}
      key: {{ include "airflow-k8s.databaseSecretKey" . }}
- name: AIRFLOW__CORE__FERNET_KEY
  valueFrom:
    secretKeyRef: {name: {{ include "airflow-k8s.secretsName" . }}, key: fernet-key}
- name: AIRFLOW__API_AUTH__JWT_SECRET
  valueFrom:
    secretKeyRef: {name: {{ include "airflow-k8s.secretsName" . }}, key: jwt-secret}
- name: AIRFLOW__API__SECRET_KEY
  valueFrom:
    secretKeyRef: {name: {{ include "airflow-k8s.secretsName" . }}, key: api-secret-key}
{{- if has "CeleryExecutor" $executors }}
- name: AIRFLOW__CELERY__BROKER_URL
  valueFrom:
    secretKeyRef:
      name: {{ include "airflow-k8s.brokerSecretName" . }}
      key: {{ include "airflow-k8s.brokerSecretKey" . }}
{{- end }}
{{- with .Values.env }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{/* The upstream image's entrypoint waits for the DB itself; the chart gates on migrations instead. */}}
{{- define "airflow-k8s.waitForMigrations" -}}
- name: wait-for-airflow-migrations
  image: {{ include "airflow-k8s.airflowImage" . }}
  imagePullPolicy: {{ .Values.images.airflow.pullPolicy }}
  args: ["airflow", "db", "check-migrations", "--migration-wait-timeout={{ .Values.migrations.waitTimeout }}"]
  securityContext: {{- toYaml .Values.securityContext | nindent 4 }}
  env: {{- include "airflow-k8s.airflowEnv" . | nindent 4 }}
  volumeMounts: {{- include "airflow-k8s.configVolumeMounts" . | nindent 4 }}
  resources: {{- toYaml .Values.migrations.resources | nindent 4 }}
{{- end -}}

{{/* Volumes and mounts --------------------------------------------------------------------------- */}}

{{- define "airflow-k8s.configVolumeMounts" -}}
- name: config
  mountPath: /opt/airflow/airflow.cfg
  subPath: airflow.cfg
  readOnly: true
- name: config
  mountPath: /opt/airflow/config/airflow_local_settings.py
  subPath: airflow_local_settings.py
  readOnly: true
{{- end -}}

{{- define "airflow-k8s.configVolume" -}}
- name: config
  configMap:
    name: {{ include "airflow-k8s.componentName" (dict "root" . "component" "config") }}
{{- end -}}

{{- define "airflow-k8s.podTemplatesVolume" -}}
- name: pod-templates
  configMap:
    name: {{ include "airflow-k8s.componentName" (dict "root" . "component" "pod-templates") }}
{{- end -}}

{{- define "airflow-k8s.logsVolume" -}}
- name: logs
{{- if .Values.logs.persistence.enabled }}
  persistentVolumeClaim:
    claimName: {{ default (include "airflow-k8s.componentName" (dict "root" . "component" "logs")) .Values.logs.persistence.existingClaim }}
{{- else }}
  emptyDir: {}
{{- end }}
{{- end -}}

{{- define "airflow-k8s.logsVolumeMount" -}}
- name: logs
  mountPath: {{ .Values.logs.mountPath }}
{{- end -}}

{{/* DAG volume for every pod that parses or runs DAGs; empty for `source: image`. */}}
{{- define "airflow-k8s.dagsVolume" -}}
{{- $source := .Values.dags.source -}}
{{- if eq $source "configMap" }}
- name: dags
  configMap:
    name: {{ default (include "airflow-k8s.componentName" (dict "root" . "component" "dags")) .Values.dags.configMap.name }}
{{- else if eq $source "persistentVolumeClaim" }}
- name: dags
  persistentVolumeClaim:
    claimName: {{ .Values.dags.persistence.existingClaim }}
    readOnly: true
{{- else if eq $source "gitSync" }}
- name: dags
  emptyDir: {}
{{- end }}
{{- end -}}

{{- define "airflow-k8s.dagsVolumeMount" -}}
{{- $source := .Values.dags.source -}}
{{- if ne $source "image" }}
- name: dags
  mountPath: {{ .Values.dags.mountPath }}
  readOnly: {{ ne $source "gitSync" }}
{{- if and (eq $source "persistentVolumeClaim") .Values.dags.persistence.subPath }}
  subPath: {{ .Values.dags.persistence.subPath }}
{{- end }}
{{- end }}
{{- end -}}

{{/* The folder Airflow reads DAGs from: git-sync publishes the checkout under a `repo` link. */}}
{{- define "airflow-k8s.dagsFolder" -}}
{{- if eq .Values.dags.source "gitSync" -}}
{{- trimSuffix "/" (printf "%s/repo/%s" .Values.dags.mountPath .Values.dags.gitSync.subPath) -}}
{{- else -}}
{{- .Values.dags.mountPath -}}
{{- end -}}
{{- end -}}

{{/* git-sync container; `oneTime` makes it an init container for task pods. */}}
{{- define "airflow-k8s.gitSyncContainer" -}}
{{- $root := .root -}}
- name: {{ ternary "git-sync-init" "git-sync" .oneTime }}
  image: {{ printf "%s:%s" $root.Values.images.gitSync.repository $root.Values.images.gitSync.tag }}
  imagePullPolicy: {{ $root.Values.images.gitSync.pullPolicy }}
  args:
    - --repo={{ $root.Values.dags.gitSync.repo }}
    - --ref={{ $root.Values.dags.gitSync.ref }}
    - --root={{ $root.Values.dags.mountPath }}
    - --link=repo
    - --period={{ $root.Values.dags.gitSync.period }}s
{{- if .oneTime }}
    - --one-time
{{- end }}
{{- with $root.Values.dags.gitSync.credentialsSecret }}
  envFrom:
    - secretRef: {name: {{ . }}}
{{- end }}
  securityContext: {{- toYaml $root.Values.securityContext | nindent 4 }}
  volumeMounts:
    - name: dags
      mountPath: {{ $root.Values.dags.mountPath }}
  resources:
    requests: {cpu: 10m, memory: 32Mi}
    limits: {memory: 256Mi}
{{- end -}}

{{/* Queues ------------------------------------------------------------------------------------------ */}}

{{/* Every queue, `default` always included, as name -> settings. */}}
{{- define "airflow-k8s.queues" -}}
{{- toJson (merge (dict) (default (dict) .Values.workers.queues) (dict "default" (dict))) -}}
{{- end -}}

{{/* Kubernetes-name form of a queue name: lower case, `_` and `.` become `-`. */}}
{{- define "airflow-k8s.queueSlug" -}}
{{- . | lower | replace "_" "-" | replace "." "-" -}}
{{- end -}}

{{- define "airflow-k8s.celeryWorkerName" -}}
{{- printf "%s-worker-%s" (include "airflow-k8s.fullname" .root) (include "airflow-k8s.queueSlug" .queue) | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* Where a queue's pods run and how big its task pods are, as JSON: the effective values, computed once
     for task pods and Celery workers alike. nodeSelector merges (workerType > queue > global); tolerations,
     affinity and resources of a queue replace the global ones. */}}
{{- define "airflow-k8s.queuePlacement" -}}
{{- $w := .root.Values.workers -}}
{{- $q := default (dict) .settings -}}
{{- $typeSelector := dict -}}
{{- with $q.workerType -}}{{- $_ := set $typeSelector $w.workerTypeLabel (toString .) -}}{{- end -}}
{{- $nodeSelector := merge (dict) $typeSelector (default (dict) $q.nodeSelector) (default (dict) $w.nodeSelector) -}}
{{- toJson (dict
    "nodeSelector" $nodeSelector
    "tolerations" (default $w.tolerations $q.tolerations)
    "affinity" (default $w.affinity $q.affinity)
    "resources" (default $w.resources $q.resources)) -}}
{{- end -}}

{{/* Task pods ---------------------------------------------------------------------------------------- */}}

{{/* One queue's task pod template. A `podTemplate` (the queue's, else workers.podTemplate) is used as is;
     otherwise the base file from pod_templates/ gets the effective values set on it. */}}
{{- define "airflow-k8s.taskPodTemplate" -}}
{{- $root := .root -}}
{{- $w := $root.Values.workers -}}
{{- $q := default (dict) .settings -}}
{{- $override := default $w.podTemplate $q.podTemplate -}}
{{- if $override -}}
{{- tpl $override $root -}}
{{- else -}}
{{- $placement := include "airflow-k8s.queuePlacement" . | fromJson -}}
{{- $pod := tpl ($root.Files.Get "files/pod_templates/pod-template.yaml") $root | fromYaml -}}
{{- $labels := merge (dict) (include "airflow-k8s.selectorLabels" (dict "root" $root "component" "task") | fromYaml) (dict "airflow-k8s/queue-slug" (include "airflow-k8s.queueSlug" .queue)) (default (dict) $pod.metadata.labels) -}}
{{- $_ := set $pod.metadata "labels" $labels -}}
{{- with $w.podAnnotations -}}{{- $_ := set $pod.metadata "annotations" . -}}{{- end -}}
{{- $spec := $pod.spec -}}
{{- $volumes := concat (default (list) $spec.volumes) (include "airflow-k8s.taskPodVolumes" $root | fromYamlArray) -}}
{{- $_ := set $spec "volumes" $volumes -}}
{{- $_ := set $spec "serviceAccountName" (include "airflow-k8s.componentName" (dict "root" $root "component" "worker")) -}}
{{- with $placement.nodeSelector -}}{{- $_ := set $spec "nodeSelector" . -}}{{- end -}}
{{- with $placement.tolerations -}}{{- $_ := set $spec "tolerations" . -}}{{- end -}}
{{- with $placement.affinity -}}{{- $_ := set $spec "affinity" . -}}{{- end -}}
{{- with $root.Values.imagePullSecrets -}}{{- $_ := set $spec "imagePullSecrets" . -}}{{- end -}}
{{- if eq $root.Values.dags.source "gitSync" -}}
{{- $_ := set $spec "initContainers" (include "airflow-k8s.gitSyncContainer" (dict "root" $root "oneTime" true) | fromYamlArray) -}}
{{- end -}}
{{- $base := index $spec.containers 0 -}}
{{- $_ := set $base "image" (include "airflow-k8s.airflowImage" $root) -}}
{{- $_ := set $base "imagePullPolicy" $root.Values.images.airflow.pullPolicy -}}
{{- $_ := set $base "resources" $placement.resources -}}
{{- $_ := set $base "securityContext" $w.securityContext -}}
{{- $env := concat (default (list) $base.env) (default (list) $w.env) -}}
{{- if $env -}}{{- $_ := set $base "env" $env -}}{{- else -}}{{- $_ := unset $base "env" -}}{{- end -}}
{{- $_ := set $base "volumeMounts" (concat (default (list) $base.volumeMounts) (include "airflow-k8s.taskPodVolumeMounts" $root | fromYamlArray)) -}}
{{- toYaml $pod -}}
{{- end -}}
{{- end -}}

{{- define "airflow-k8s.taskPodVolumes" -}}
{{- $w := .Values.workers -}}
{{ include "airflow-k8s.configVolume" . }}
{{ include "airflow-k8s.logsVolume" . }}
{{- include "airflow-k8s.dagsVolume" . }}
{{- if $w.tmpDir.enabled }}
- name: tmp
  emptyDir:
{{- if $w.tmpDir.sizeLimit }}
    sizeLimit: {{ $w.tmpDir.sizeLimit }}
{{- else }} {}
{{- end }}
{{- end }}
{{- range $name, $path := $w.configMapMounts }}
- name: {{ printf "cm-%s" $name | trunc 63 | trimSuffix "-" }}
  configMap: {name: {{ $name }}}
{{- end }}
{{- range $name, $path := $w.secretMounts }}
- name: {{ printf "secret-%s" $name | trunc 63 | trimSuffix "-" }}
  secret: {secretName: {{ $name }}}
{{- end }}
{{- with $w.extraVolumes }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{- define "airflow-k8s.taskPodVolumeMounts" -}}
{{- $w := .Values.workers -}}
{{ include "airflow-k8s.configVolumeMounts" . }}
{{ include "airflow-k8s.logsVolumeMount" . }}
{{- include "airflow-k8s.dagsVolumeMount" . }}
{{- if $w.tmpDir.enabled }}
- name: tmp
  mountPath: {{ $w.tmpDir.mountPath }}
{{- end }}
{{- range $name, $path := $w.configMapMounts }}
- name: {{ printf "cm-%s" $name | trunc 63 | trimSuffix "-" }}
  mountPath: {{ $path }}
  readOnly: true
{{- end }}
{{- range $name, $path := $w.secretMounts }}
- name: {{ printf "secret-%s" $name | trunc 63 | trimSuffix "-" }}
  mountPath: {{ $path }}
  readOnly: true
{{- end }}
{{- with $w.extraVolumeMounts }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{/* Airflow configuration ------------------------------------------------------------------------- */}}

{{/* The chart's settings, section -> key -> value; `config` in values is merged over these. */}}
{{- define "airflow-k8s.computedConfig" -}}
{{- $executors := include "airflow-k8s.executors" . | fromJsonArray -}}
{{- $apiServer := include "airflow-k8s.componentName" (dict "root" . "component" "api-server") -}}
{{- $cfg := dict
    "core" (dict
      "executor" (join "," $executors)
      "dags_folder" (include "airflow-k8s.dagsFolder" .)
      "load_examples" "False"
      "execution_api_server_url" (printf "http://%s:%v/execution/" $apiServer .Values.apiServer.service.port))
    "scheduler" (dict "max_tis_per_query" (toString .Values.scheduler.tasksPerLoop))
    "operators" (dict "default_queue" "default")
    "logging" (dict "base_log_folder" .Values.logs.mountPath)
-}}
{{- if .Values.logs.remote.enabled -}}
{{- $_ := set $cfg.logging "remote_logging" "True" -}}
{{- $_ := set $cfg.logging "remote_base_log_folder" .Values.logs.remote.baseLogFolder -}}
{{- $_ := set $cfg.logging "remote_log_conn_id" .Values.logs.remote.connId -}}
{{- end -}}
{{- /* pod_template_file for every executor: the cluster policy reads it at parse time (see the pod-templates
       ConfigMap). */}}
{{- /* worker_container_repository/tag for every executor too: Airflow's documented pod_override example names
       the worker image as `<repository>:<tag>` read from this config when the DAG is parsed (empty gives the
       image ":", InvalidImageName), and the KubernetesExecutor sets it on every task pod. */}}
{{- $_ := set $cfg "kubernetes_executor" (dict
      "pod_template_file" "/opt/airflow/pod_templates/default.yaml"
      "worker_container_repository" .Values.images.airflow.repository
      "worker_container_tag" (toString (default .Values.airflowVersion .Values.images.airflow.tag))) -}}
{{- if has "KubernetesExecutor" $executors -}}
{{- $_ := mergeOverwrite $cfg.kubernetes_executor (dict
      "namespace" .Release.Namespace
      "delete_worker_pods" (ternary "True" "False" .Values.workers.deletePods)
      "worker_pods_creation_batch_size" (toString .Values.workers.podCreationBatchSize)
      "async_pod_creation" (ternary "True" "False" .Values.workers.asyncPodCreation)
      "pod_creation_max_concurrency" (toString .Values.workers.podCreationConcurrency)
      "multi_namespace_mode" (ternary "True" "False" .Values.workers.multiNamespaceMode)
      "worker_pod_pending_fatal_container_state_reasons" (include "airflow-k8s.fatalPendingReasons" .)) -}}
{{- end -}}
{{- if has "CeleryExecutor" $executors -}}
{{- $_ := set $cfg "celery" (dict
      "worker_concurrency" (toString .Values.workers.celery.concurrency)
      "worker_prefetch_multiplier" "1"
      "task_acks_late" "True") -}}
{{- end -}}
{{- toJson $cfg -}}
{{- end -}}

{{/* Waiting reasons of a pending task pod's container that fail its task at once instead of leaving it queued
     while the pod can never start: Airflow's default list plus ImagePullBackOff (the state a failed pull
     settles in; the watcher may only see it after a restart). */}}
{{- define "airflow-k8s.fatalPendingReasons" -}}
CreateContainerConfigError,CreateContainerError,ErrImagePull,ImagePullBackOff,ImageInspectError,InvalidImageName
{{- end -}}

{{/* The effective configuration, section -> key -> value: values `config` over the computed settings. */}}
{{- define "airflow-k8s.effectiveConfig" -}}
{{- toJson (mergeOverwrite (include "airflow-k8s.computedConfig" . | fromJson) (deepCopy (default (dict) .Values.config))) -}}
{{- end -}}

{{/* airflow.cfg: the effective configuration, sections and keys sorted. */}}
{{- define "airflow-k8s.airflowCfg" -}}
{{- $config := include "airflow-k8s.effectiveConfig" . | fromJson -}}
{{- range $section, $keys := $config }}
[{{ $section }}]
{{- range $key, $value := $keys }}
{{ $key }} = {{ $value }}
{{- end }}
{{ end -}}
{{- end -}}
