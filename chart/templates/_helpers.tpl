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
app.kubernetes.io/name: {{ include "airflow-k8s.name" .root | quote }}
app.kubernetes.io/instance: {{ .root.Release.Name | quote }}
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

{{/* "true" when the render can read the cluster (`helm install/upgrade`, `--dry-run=server`), empty under
     `helm template`, `helm lint` and Argo CD, where `lookup` returns an empty map. Listing Secrets in the
     release namespace needs no right Helm itself lacks (it stores releases as Secrets), and a real list,
     even an empty one, has `items`. */}}
{{- define "airflow-k8s.clusterReachable" -}}
{{- if hasKey (lookup "v1" "Secret" .Release.Namespace "") "items" -}}true{{- end -}}
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

{{/* One part of a URL's user info, percent-encoded (`p@ss/w:rd#1` -> `p%40ss%2Fw%3Ard%231`); a space becomes
     %20, not the query form's `+`, which a URL parser would keep as a plus. */}}
{{- define "airflow-k8s.urlUserInfo" -}}
{{- urlquery . | replace "+" "%20" -}}
{{- end -}}

{{/* The in-chart Redis password: redis.password, else the one in the live broker Secret (kept across upgrades),
     else a new random one (offline renders that would generate one are refused in _validate.tpl). The first
     call stores it under .Values.redis._generated, so the Secret and the checksums of one render agree. */}}
{{- define "airflow-k8s.redisPassword" -}}
{{- if not (hasKey .Values.redis "_generated") -}}
{{- $live := (lookup "v1" "Secret" .Release.Namespace (include "airflow-k8s.brokerSecretName" .)).data | default dict -}}
{{- $_ := set .Values.redis "_generated" (.Values.redis.password | default (get $live "password" | b64dec) | default (randAlphaNum 32)) -}}
{{- end -}}
{{- .Values.redis._generated -}}
{{- end -}}

{{/* Changes when the broker password changes: on the pods that hold the broker URL in their environment, so
     they restart with the new one. Empty without the in-chart Redis. */}}
{{- define "airflow-k8s.brokerChecksum" -}}
{{- $executors := include "airflow-k8s.executors" . | fromJsonArray -}}
{{- if and (has "CeleryExecutor" $executors) .Values.redis.enabled -}}
{{- include "airflow-k8s.redisPassword" . | sha256sum | trunc 16 -}}
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
# Read by airflow_local_settings.pod_mutation_hook: task pods may not run as these accounts (they hold API rights).
- name: AIRFLOW_K8S_PROTECTED_SERVICE_ACCOUNTS
  value: {{ list (include "airflow-k8s.serviceAccountName" (dict "root" . "component" "scheduler" "account" .Values.scheduler.serviceAccount)) (include "airflow-k8s.serviceAccountName" (dict "root" . "component" "api-server" "account" .Values.apiServer.serviceAccount)) (include "airflow-k8s.componentName" (dict "root" . "component" "executor-switch")) | join "," | quote }}
# The upstream image sets AIRFLOW__CORE__LOAD_EXAMPLES=false, which beats airflow.cfg: hand the configured value on.
- name: AIRFLOW__CORE__LOAD_EXAMPLES
  value: {{ include "airflow-k8s.effectiveConfig" . | fromJson | dig "core" "load_examples" "False" | toString | quote }}
- name: AIRFLOW__DATABASE__SQL_ALCHEMY_CONN
  valueFrom:
    secretKeyRef:
      name: {{ include "airflow-k8s.databaseSecretName" . | quote }}
      key: {{ include "airflow-k8s.databaseSecretKey" . | quote }}
- name: AIRFLOW__CORE__FERNET_KEY
  valueFrom:
    secretKeyRef: {name: {{ include "airflow-k8s.secretsName" . | quote }}, key: fernet-key}
- name: AIRFLOW__API__SECRET_KEY
  valueFrom:
    secretKeyRef: {name: {{ include "airflow-k8s.secretsName" . | quote }}, key: api-secret-key}
{{- if has "CeleryExecutor" $executors }}
- name: AIRFLOW__CELERY__BROKER_URL
  valueFrom:
    secretKeyRef:
      name: {{ include "airflow-k8s.brokerSecretName" . | quote }}
      key: {{ include "airflow-k8s.brokerSecretKey" . | quote }}
{{- end }}
{{- with .Values.env }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{/* The JWT signing secret, only for the components that sign or verify execution-API tokens in Airflow 3.3:
     the api-server (verifies task tokens, signs UI/API tokens) and the scheduler (its executors sign each
     task's token). The dag-processor and triggerer call the execution API in process, without tokens. */}}
{{- define "airflow-k8s.jwtEnv" -}}
- name: AIRFLOW__API_AUTH__JWT_SECRET
  valueFrom:
    secretKeyRef: {name: {{ include "airflow-k8s.secretsName" . | quote }}, key: jwt-secret}
{{- end -}}

{{/* The upstream image's entrypoint waits for the DB itself; the chart gates on migrations instead. */}}
{{- define "airflow-k8s.waitForMigrations" -}}
- name: wait-for-airflow-migrations
  image: {{ include "airflow-k8s.airflowImage" . | quote }}
  imagePullPolicy: {{ .Values.images.airflow.pullPolicy | quote }}
  args: ["airflow", "db", "check-migrations", {{ printf "--migration-wait-timeout=%d" (int64 .Values.migrations.waitTimeout) | quote }}]
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
{{- if .Values.airflowLocalSettings }}
# The user's airflowLocalSettings, loaded by the chart's airflow_local_settings.py beside its own policy.
- name: config
  mountPath: /opt/airflow/config/user_airflow_local_settings.py
  subPath: user_airflow_local_settings.py
  readOnly: true
{{- end }}
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
    claimName: {{ default (include "airflow-k8s.componentName" (dict "root" . "component" "logs")) .Values.logs.persistence.existingClaim | quote }}
{{- else }}
  emptyDir: {}
{{- end }}
{{- end -}}

{{- define "airflow-k8s.logsVolumeMount" -}}
- name: logs
  mountPath: {{ .Values.logs.mountPath | quote }}
{{- end -}}

{{/* DAG volume for every pod that parses or runs DAGs; empty for `source: image`. */}}
{{- define "airflow-k8s.dagsVolume" -}}
{{- $source := .Values.dags.source -}}
{{- if eq $source "configMap" }}
- name: dags
  configMap:
    name: {{ default (include "airflow-k8s.componentName" (dict "root" . "component" "dags")) .Values.dags.configMap.name | quote }}
{{- else if eq $source "persistentVolumeClaim" }}
- name: dags
  persistentVolumeClaim:
    claimName: {{ .Values.dags.persistence.existingClaim | quote }}
    readOnly: true
{{- else if eq $source "gitSync" }}
- name: dags
  emptyDir: {}
{{- with .Values.dags.gitSync.ssh.keySecret }}
- name: git-ssh-key
  secret:
    secretName: {{ . }}
    items: [{key: {{ $.Values.dags.gitSync.ssh.keySecretKey }}, path: key}]
    # Readable by the pod's group (gid 0, git-sync's user); OpenSSH refuses a key that is world-readable.
    defaultMode: 0440
- name: git-known-hosts
  configMap:
    name: {{ include "airflow-k8s.componentName" (dict "root" $ "component" "git-known-hosts") }}
{{- end }}
{{- end }}
{{- end -}}

{{- define "airflow-k8s.dagsVolumeMount" -}}
{{- $source := .Values.dags.source -}}
{{- if ne $source "image" }}
- name: dags
  mountPath: {{ .Values.dags.mountPath | quote }}
  readOnly: {{ ne $source "gitSync" }}
{{- if and (eq $source "persistentVolumeClaim") .Values.dags.persistence.subPath }}
  subPath: {{ .Values.dags.persistence.subPath | quote }}
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
{{- $git := $root.Values.dags.gitSync }}
{{- $args := list
    (printf "--repo=%s" $git.repo)
    (printf "--ref=%s" $git.ref)
    (printf "--root=%s" $root.Values.dags.mountPath)
    "--link=repo"
    (printf "--period=%ds" (int64 $git.period)) }}
{{- if .oneTime }}{{- $args = append $args "--one-time" }}{{- end }}
  image: {{ printf "%s:%s" $root.Values.images.gitSync.repository $root.Values.images.gitSync.tag | quote }}
  imagePullPolicy: {{ $root.Values.images.gitSync.pullPolicy | quote }}
  args: {{- toYaml $args | nindent 4 }}
{{- with $git.credentialsSecret }}
  envFrom:
    - secretRef: {name: {{ . | quote }}}
{{- end }}
{{- $ssh := $root.Values.dags.gitSync.ssh.keySecret }}
{{- if $ssh }}
  # git-sync v4 over SSH: the deploy key and the server's known host keys, checked.
  env:
    - {name: GITSYNC_SSH_KEY_FILE, value: /etc/git-secret/key}
    - {name: GITSYNC_SSH_KNOWN_HOSTS, value: "true"}
    - {name: GITSYNC_SSH_KNOWN_HOSTS_FILE, value: /etc/git-known-hosts/known_hosts}
{{- end }}
  securityContext: {{- toYaml $root.Values.securityContext | nindent 4 }}
  volumeMounts:
    - name: dags
      mountPath: {{ $root.Values.dags.mountPath | quote }}
{{- if $ssh }}
    - {name: git-ssh-key, mountPath: /etc/git-secret, readOnly: true}
    - {name: git-known-hosts, mountPath: /etc/git-known-hosts, readOnly: true}
{{- end }}
  resources:
    requests: {cpu: 10m, memory: 32Mi}
    limits: {memory: 256Mi}
{{- end -}}

{{/* Pod extras --------------------------------------------------------------------------------------- */}}

{{/* priorityClassName and topologySpreadConstraints of one pod, as JSON. `levels` are value blocks from
     general to specific (e.g. workers, then the queue): the last non-empty one wins over the global value,
     whole (lists never merge). A constraint without `labelSelector` gets `selector`, the pod's own labels. */}}
{{- define "airflow-k8s.spreadAndPriority" -}}
{{- $priority := .root.Values.priorityClassName -}}
{{- $spread := .root.Values.topologySpreadConstraints -}}
{{- range .levels -}}
{{- $level := default (dict) . -}}
{{- with $level.priorityClassName -}}{{- $priority = . -}}{{- end -}}
{{- with $level.topologySpreadConstraints -}}{{- $spread = . -}}{{- end -}}
{{- end -}}
{{- $constraints := list -}}
{{- range $spread -}}
{{- $constraint := deepCopy . -}}
{{- if not $constraint.labelSelector -}}{{- $_ := set $constraint "labelSelector" (dict "matchLabels" $.selector) -}}{{- end -}}
{{- $constraints = append $constraints $constraint -}}
{{- end -}}
{{- toJson (dict "priorityClassName" $priority "topologySpreadConstraints" $constraints) -}}
{{- end -}}

{{/* The chart's labels with a values block's `labels` under them: the chart's keys win. */}}
{{- define "airflow-k8s.podLabels" -}}
{{- toYaml (merge (dict) (include "airflow-k8s.labels" . | fromYaml) (default (dict) .extra)) -}}
{{- end -}}

{{/* Maintenance scripts (log groomer, db clean) from files/maintenance, mounted read-only. */}}
{{- define "airflow-k8s.maintenanceVolume" -}}
- name: maintenance
  configMap:
    name: {{ include "airflow-k8s.componentName" (dict "root" . "component" "maintenance") }}
{{- end -}}

{{/* Log-groomer sidecar: deletes local log files older than logs.retention.days from the logs volume. */}}
{{- define "airflow-k8s.logGroomerContainer" -}}
{{- $retention := .Values.logs.retention -}}
- name: log-groomer
  image: {{ include "airflow-k8s.airflowImage" . }}
  imagePullPolicy: {{ .Values.images.airflow.pullPolicy }}
  args: ["python", "/opt/airflow-k8s/maintenance/log_groomer.py", "--root", {{ .Values.logs.mountPath | quote }},
         "--days", {{ int64 $retention.days | toString | quote }}, "--interval", {{ int64 $retention.intervalSeconds | toString | quote }}]
  securityContext: {{- toYaml .Values.securityContext | nindent 4 }}
  resources: {{- toYaml $retention.resources | nindent 4 }}
  volumeMounts:
    {{- include "airflow-k8s.logsVolumeMount" . | nindent 4 }}
    - {name: maintenance, mountPath: /opt/airflow-k8s/maintenance, readOnly: true}
{{- end -}}

{{/* Metrics ------------------------------------------------------------------------------------------- */}}

{{- define "airflow-k8s.statsdName" -}}
{{- include "airflow-k8s.componentName" (dict "root" . "component" "statsd") -}}
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

{{/* KEDA settings of one queue's Celery worker, as JSON: the queue's `celery.keda` keys over
     workers.celery.keda; `active` when enabled and the cluster serves keda.sh/v1alpha1 (else the Deployment
     keeps its `replicas`). */}}
{{- define "airflow-k8s.celeryKeda" -}}
{{- $keda := deepCopy .root.Values.workers.celery.keda -}}
{{- /* Key by key, not `merge`: merge would let a queue's `enabled: false` lose to the default's true. */ -}}
{{- range $key, $value := dig "celery" "keda" (dict) (default (dict) .settings) -}}{{- $_ := set $keda $key $value -}}{{- end -}}
{{- $_ := set $keda "active" (and $keda.enabled (.root.Capabilities.APIVersions.Has "keda.sh/v1alpha1")) -}}
{{- toJson $keda -}}
{{- end -}}

{{- define "airflow-k8s.kedaAuthName" -}}
{{- include "airflow-k8s.componentName" (dict "root" . "component" "keda-db") -}}
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
{{- $selector := merge (include "airflow-k8s.selectorLabels" (dict "root" $root "component" "task") | fromYaml) (dict "airflow-k8s/queue-slug" (include "airflow-k8s.queueSlug" .queue)) -}}
{{- $labels := merge (dict) $selector (default (dict) $pod.metadata.labels) (default (dict) $w.labels) -}}
{{- $_ := set $pod.metadata "labels" $labels -}}
{{- with $w.podAnnotations -}}{{- $_ := set $pod.metadata "annotations" . -}}{{- end -}}
{{- $spec := $pod.spec -}}
{{- $extras := include "airflow-k8s.spreadAndPriority" (dict "root" $root "levels" (list $w $q) "selector" $selector) | fromJson -}}
{{- with $extras.priorityClassName -}}{{- $_ := set $spec "priorityClassName" . -}}{{- end -}}
{{- with $extras.topologySpreadConstraints -}}{{- $_ := set $spec "topologySpreadConstraints" . -}}{{- end -}}
{{- $_ := set $spec "terminationGracePeriodSeconds" $w.terminationGracePeriodSeconds -}}
{{- $volumes := concat (default (list) $spec.volumes) (include "airflow-k8s.taskPodVolumes" $root | fromYamlArray) -}}
{{- $_ := set $spec "volumes" $volumes -}}
{{- $_ := set $spec "serviceAccountName" (include "airflow-k8s.taskServiceAccountName" .) -}}
{{- $_ := set $spec "automountServiceAccountToken" $root.Values.allowPodLaunching -}}
{{- with $placement.nodeSelector -}}{{- $_ := set $spec "nodeSelector" . -}}{{- end -}}
{{- with $placement.tolerations -}}{{- $_ := set $spec "tolerations" . -}}{{- end -}}
{{- with $placement.affinity -}}{{- $_ := set $spec "affinity" . -}}{{- end -}}
{{- with $root.Values.imagePullSecrets -}}{{- $_ := set $spec "imagePullSecrets" . -}}{{- end -}}
{{- $init := default (list) $spec.initContainers -}}
{{- if eq $root.Values.dags.source "gitSync" -}}
{{- $init = concat $init (include "airflow-k8s.gitSyncContainer" (dict "root" $root "oneTime" true) | fromYamlArray) -}}
{{- end -}}
{{- $init = concat $init (default (list) $w.extraInitContainers) -}}
{{- if $init -}}{{- $_ := set $spec "initContainers" $init -}}{{- end -}}
{{- $base := index $spec.containers 0 -}}
{{- $_ := set $base "image" (include "airflow-k8s.airflowImage" $root) -}}
{{- $_ := set $base "imagePullPolicy" $root.Values.images.airflow.pullPolicy -}}
{{- $_ := set $base "resources" $placement.resources -}}
{{- $_ := set $base "securityContext" $w.securityContext -}}
{{- $env := concat (default (list) $base.env) (default (list) $w.env) -}}
{{- if $env -}}{{- $_ := set $base "env" $env -}}{{- else -}}{{- $_ := unset $base "env" -}}{{- end -}}
{{- with $w.envFrom -}}{{- $_ := set $base "envFrom" (concat (default (list) $base.envFrom) .) -}}{{- end -}}
{{- $_ := set $spec "containers" (concat $spec.containers (default (list) $w.extraContainers)) -}}
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
    sizeLimit: {{ $w.tmpDir.sizeLimit | quote }}
{{- else }} {}
{{- end }}
{{- end }}
{{- range $name, $path := $w.configMapMounts }}
- name: {{ include "airflow-k8s.mountVolumeName" (list "cm" $name) | quote }}
  configMap: {name: {{ $name | quote }}}
{{- end }}
{{- range $name, $path := $w.secretMounts }}
- name: {{ include "airflow-k8s.mountVolumeName" (list "secret" $name) | quote }}
  secret: {secretName: {{ $name | quote }}}
{{- end }}
{{- with $w.extraVolumes }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{/* Volume name of a `workers.configMapMounts`/`secretMounts` entry, (list prefix objectName): a DNS label
     even for dotted names, unique per object name (a checksum of the whole name ends it). */}}
{{- define "airflow-k8s.mountVolumeName" -}}
{{- $prefix := index . 0 -}}
{{- $name := index . 1 -}}
{{- printf "%s-%s-%s" $prefix ($name | replace "." "-" | trunc 40 | trimSuffix "-") (adler32sum $name) -}}
{{- end -}}

{{- define "airflow-k8s.taskPodVolumeMounts" -}}
{{- $w := .Values.workers -}}
{{ include "airflow-k8s.configVolumeMounts" . }}
{{ include "airflow-k8s.logsVolumeMount" . }}
{{- include "airflow-k8s.dagsVolumeMount" . }}
{{- if $w.tmpDir.enabled }}
- name: tmp
  mountPath: {{ $w.tmpDir.mountPath | quote }}
{{- end }}
{{- range $name, $path := $w.configMapMounts }}
- name: {{ include "airflow-k8s.mountVolumeName" (list "cm" $name) | quote }}
  mountPath: {{ $path | quote }}
  readOnly: true
{{- end }}
{{- range $name, $path := $w.secretMounts }}
- name: {{ include "airflow-k8s.mountVolumeName" (list "secret" $name) | quote }}
  mountPath: {{ $path | quote }}
  readOnly: true
{{- end }}
{{- with $w.extraVolumeMounts }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{/* The namespaces of workers.namespaces with the release's first, as a JSON list; empty without
     multiNamespaceMode or without a list (then the scheduler's rights are cluster-wide). */}}
{{- define "airflow-k8s.taskNamespaces" -}}
{{- $out := list -}}
{{- if and .Values.workers.multiNamespaceMode .Values.workers.namespaces -}}
{{- $out = prepend (without .Values.workers.namespaces .Release.Namespace) .Release.Namespace | uniq -}}
{{- end -}}
{{- toJson $out -}}
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
      "execution_api_server_url" (printf "http://%s:%d/execution/" $apiServer (int64 .Values.apiServer.service.port)))
    "scheduler" (dict "max_tis_per_query" (toString (int64 .Values.scheduler.tasksPerLoop)))
    "operators" (dict "default_queue" "default")
    "logging" (dict "base_log_folder" .Values.logs.mountPath)
-}}
{{- $_ := mergeOverwrite $cfg.core (include "airflow-k8s.auth.config" . | fromJson) -}}
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
      "worker_pods_creation_batch_size" (toString (int64 .Values.workers.podCreationBatchSize))
      "async_pod_creation" (ternary "True" "False" .Values.workers.asyncPodCreation)
      "pod_creation_max_concurrency" (toString (int64 .Values.workers.podCreationConcurrency))
      "multi_namespace_mode" (ternary "True" "False" .Values.workers.multiNamespaceMode)
      "worker_pod_pending_fatal_container_state_reasons" (include "airflow-k8s.fatalPendingReasons" .)) -}}
{{- $namespaces := include "airflow-k8s.taskNamespaces" . | fromJsonArray -}}
{{- if $namespaces -}}
{{- $_ := set $cfg.kubernetes_executor "multi_namespace_mode_namespace_list" (join "," $namespaces) -}}
{{- end -}}
{{- end -}}
{{- if .Values.statsd.enabled -}}
{{- $_ := set $cfg "metrics" (dict
      "statsd_on" "True"
      "statsd_host" (include "airflow-k8s.statsdName" .)
      "statsd_port" "9125"
      "statsd_prefix" .Values.statsd.prefix) -}}
{{- end -}}
{{- if has "CeleryExecutor" $executors -}}
{{- $_ := set $cfg "celery" (dict
      "worker_concurrency" (toString (int64 .Values.workers.celery.concurrency))
      "worker_prefetch_multiplier" "1"
      "task_acks_late" "True") -}}
{{- end -}}
{{- toJson $cfg -}}
{{- end -}}

{{/* Pods restart when what Airflow reads only at start changes: airflow.cfg and the user's local settings. */}}
{{- define "airflow-k8s.configChecksum" -}}
{{- print (include "airflow-k8s.airflowCfg" .) .Values.airflowLocalSettings | sha256sum -}}
{{- end -}}

{{/* One airflow.cfg value as text: whole numbers without a float's exponent (YAML numbers arrive as float64,
     1000000 would print as 1e+06), and `%` doubled: Airflow's parser interpolates `%(name)s`. Newlines are
     refused in _validate.tpl. */}}
{{- define "airflow-k8s.cfgValue" -}}
{{- $value := . -}}
{{- if and (kindIs "float64" $value) (eq $value (float64 (int64 $value))) -}}
{{- $value = int64 $value -}}
{{- end -}}
{{- toString $value | replace "%" "%%" -}}
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
{{ $key }} = {{ include "airflow-k8s.cfgValue" $value }}
{{- end }}
{{ end -}}
{{- end -}}
