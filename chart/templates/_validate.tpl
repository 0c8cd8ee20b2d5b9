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
{{- $keda := include "airflow-k8s.celeryKeda" (dict "root" $ "settings" $settings) | fromJson -}}
{{- if and $keda.enabled $autoscaling.enabled -}}
{{- fail (printf "workers.queues.%s.celery.autoscaling.enabled and KEDA (workers.celery.keda.enabled or workers.queues.%s.celery.keda.enabled) both scale the queue's workers; keep one" $queue $queue) -}}
{{- end -}}
{{- if and $keda.enabled (gt (int $keda.minReplicaCount) (int $keda.maxReplicaCount)) -}}
{{- fail (printf "workers.queues.%s: KEDA minReplicaCount (%v) is above maxReplicaCount (%v) (workers.celery.keda or the queue's celery.keda)" $queue $keda.minReplicaCount $keda.maxReplicaCount) -}}
{{- end -}}
{{- if and $keda.enabled (not $.Values.postgresql.enabled) (not $keda.connectionSecret) -}}
{{- fail (printf "workers.celery.keda.connectionSecret is empty while KEDA scales queue %s and postgresql.enabled is false: name a Secret holding a postgresql:// URL of the metadata database (KEDA cannot read the SQLAlchemy URL)" $queue) -}}
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
{{- if and (eq $dags.source "gitSync") $dags.gitSync.ssh.keySecret (not (trim $dags.gitSync.ssh.knownHosts)) -}}
{{- fail "dags.gitSync.ssh.knownHosts is empty while dags.gitSync.ssh.keySecret is set: add the git server's host keys (ssh-keyscan <host>) so git-sync can check whom it talks to" -}}
{{- end -}}
{{- if and (eq $dags.source "gitSync") (not $dags.gitSync.repo) -}}
{{- fail "dags.gitSync.repo is empty while dags.source is gitSync: set the repository URL" -}}
{{- end -}}
{{- if and (eq $dags.source "configMap") (not $dags.configMap.name) (not $dags.configMap.files) -}}
{{- fail "dags.configMap.files is empty while dags.source is configMap: add DAG files, or name an existing ConfigMap in dags.configMap.name" -}}
{{- end -}}

{{/* Login and the way in. */}}
{{- $fab := .Values.auth.fab -}}
{{- if and (ne .Values.auth.manager "fab") (or $fab.webserverConfig $fab.webserverConfigSecret) -}}
{{- $key := ternary "auth.fab.webserverConfig" "auth.fab.webserverConfigSecret" (not (empty $fab.webserverConfig)) -}}
{{- fail (printf "%s is set but auth.manager is simple: set auth.manager=fab (webserver_config.py is FAB's), or remove it" $key) -}}
{{- end -}}
{{- if and $fab.webserverConfig $fab.webserverConfigSecret -}}
{{- fail "auth.fab.webserverConfig and auth.fab.webserverConfigSecret are both set: keep one (the Secret wins otherwise silently)" -}}
{{- end -}}
{{- $service := .Values.apiServer.service -}}
{{- if and $service.loadBalancerSourceRanges (ne $service.type "LoadBalancer") -}}
{{- fail (printf "apiServer.service.loadBalancerSourceRanges is set but apiServer.service.type is %s: set the type to LoadBalancer, or drop the ranges (only a load balancer applies them)" $service.type) -}}
{{- end -}}
{{- if and .Values.httpRoute.apiServer.enabled (not .Values.httpRoute.apiServer.parentRefs) -}}
{{- fail "httpRoute.apiServer.parentRefs is empty while httpRoute.apiServer.enabled is true: name the Gateway the route attaches to, e.g. [{name: public, namespace: gateways}]" -}}
{{- end -}}
{{- if and .Values.logs.remote.enabled (not .Values.logs.remote.baseLogFolder) -}}
{{- fail "logs.remote.baseLogFolder is empty while logs.remote.enabled is true: set the remote folder, e.g. s3://bucket/logs" -}}
{{- end -}}
{{- if has ".." (splitList "/" $dags.persistence.subPath) -}}
{{- fail (printf "dags.persistence.subPath: %q climbs out of the claim with '..'; name a folder inside it" $dags.persistence.subPath) -}}
{{- end -}}
{{- range $field := list "configMapMounts" "secretMounts" -}}
{{- range $name, $_ := get $w $field -}}
{{- if not (and (le (len $name) 253) (regexMatch "^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$" $name)) -}}
{{- fail (printf "workers.%s: %q is not a Kubernetes object name (lower case letters, digits, '-' and '.'); name the existing %s" $field $name (ternary "ConfigMap" "Secret" (eq $field "configMapMounts"))) -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- $volumes := list "config" "logs" "dags" "tmp" -}}
{{- range $w.extraVolumes -}}
{{- $name := toString (default "" .name) -}}
{{- if has $name $volumes -}}
{{- fail (printf "workers.extraVolumes: the name %q is used twice or by the chart (config, logs, dags, tmp); rename the volume" $name) -}}
{{- end -}}
{{- $volumes = append $volumes $name -}}
{{- end -}}
{{- include "airflow-k8s.validate.names" . -}}
{{- $np := .Values.networkPolicy -}}
{{- if and $np.enabled (has "KubernetesExecutor" $requested) -}}
{{- if and (eq $dags.source "gitSync") (not $np.gitSyncEgress) -}}
{{- fail "networkPolicy.gitSyncEgress is empty while networkPolicy.enabled is true and dags.source is gitSync: task pods clone the DAGs in an init container; allow the git host, e.g. networkPolicy.gitSyncEgress: [{ports: [{port: 443, protocol: TCP}]}]" -}}
{{- end -}}
{{- if and .Values.logs.remote.enabled (not $np.remoteLoggingEgress) -}}
{{- fail "networkPolicy.remoteLoggingEgress is empty while networkPolicy.enabled and logs.remote.enabled are true: task pods upload their logs; allow the log store, e.g. networkPolicy.remoteLoggingEgress: [{ports: [{port: 443, protocol: TCP}]}]" -}}
{{- end -}}
{{- end -}}
{{- if and $w.namespaces (not $w.multiNamespaceMode) -}}
{{- fail "workers.namespaces is set while workers.multiNamespaceMode is false: set workers.multiNamespaceMode=true, or clear workers.namespaces" -}}
{{- end -}}
{{- include "airflow-k8s.validate.config" . -}}
{{- include "airflow-k8s.validate.executorSwitch" . -}}
{{- include "airflow-k8s.validate.secrets" . -}}
{{- end -}}

{{/* Resource names: the longest name the chart derives must stay a valid Kubernetes name (63 characters). */}}
{{- define "airflow-k8s.validate.names" -}}
{{- $longest := include "airflow-k8s.componentName" (dict "root" . "component" "executor-switch-preflight") -}}
{{- if gt (len $longest) 63 -}}
{{- fail (printf "fullnameOverride/nameOverride: the resource prefix %q is too long (%q has %d characters, at most 63); set a fullnameOverride of at most 37 characters" (include "airflow-k8s.fullname" .) $longest (len $longest)) -}}
{{- end -}}
{{- end -}}

{{/* `config`: one line per value, no key the chart sets from other values, no secret (this is a ConfigMap). */}}
{{- define "airflow-k8s.validate.config" -}}
{{- $owned := dict
    "core.executor" "executor"
    "core.execution_api_server_url" "apiServer.service.port (the chart points task pods at its api-server Service)"
    "core.dags_folder" "dags.mountPath and dags.gitSync.subPath"
    "core.simple_auth_manager_all_admins" "nothing: it makes every visitor an admin; configure users with core.simple_auth_manager_users"
    "kubernetes_executor.namespace" "the release namespace (helm --namespace)"
    "kubernetes_executor.multi_namespace_mode" "workers.multiNamespaceMode (it decides the scheduler's RBAC)"
    "kubernetes_executor.multi_namespace_mode_namespace_list" "workers.namespaces (it decides the scheduler's RBAC)"
    "logging.base_log_folder" "logs.mountPath"
    "logging.remote_logging" "logs.remote.enabled"
    "logging.remote_base_log_folder" "logs.remote.baseLogFolder" -}}
{{- $secrets := dict
    "core.fernet_key" "secrets.existingSecret (key fernet-key)"
    "api_auth.jwt_secret" "secrets.existingSecret (key jwt-secret)"
    "api.secret_key" "secrets.existingSecret (key api-secret-key)"
    "database.sql_alchemy_conn" "database.existingSecret"
    "celery.broker_url" "celery.brokerSecret"
    "celery.result_backend" "env with valueFrom.secretKeyRef (AIRFLOW__CELERY__RESULT_BACKEND)" -}}
{{- range $section, $keys := default (dict) .Values.config -}}
{{- if not (regexMatch "^[A-Za-z0-9_.-]+$" $section) -}}
{{- fail (printf "config.%q: a section name holds only letters, digits, '_', '.' and '-'" $section) -}}
{{- end -}}
{{- range $key, $value := $keys -}}
{{- $path := printf "%s.%s" $section $key -}}
{{- if not (regexMatch "^[A-Za-z0-9_.-]+$" $key) -}}
{{- fail (printf "config.%s.%q: a key name holds only letters, digits, '_', '.' and '-'" $section $key) -}}
{{- end -}}
{{- if regexMatch "[\\x00-\\x1f\\x7f\\x{85}\\x{2028}\\x{2029}]" (toString $value) -}}
{{- fail (printf "config.%s: the value holds a newline or another control character; airflow.cfg takes one line per key (for a multi-line value use env AIRFLOW__%s__%s)" $path (upper $section) (upper $key)) -}}
{{- end -}}
{{- with get $owned (lower $path) -}}
{{- fail (printf "config.%s is set by the chart; remove it and use %s" $path .) -}}
{{- end -}}
{{- /* `<option>_cmd` and `<option>_secret` of a secret option name where Airflow fetches it from (a command,
       the secrets backend): not secrets themselves. */}}
{{- $base := regexReplaceAll "_(cmd|secret)$" (lower $key) "" -}}
{{- $generic := "(password|_secret$|secret_key$|_token$|_conn$)" -}}
{{- $indirection := and (ne $base (lower $key)) (or (hasKey $secrets (printf "%s.%s" (lower $section) $base)) (regexMatch $generic $base)) -}}
{{- if not $indirection -}}
{{- with get $secrets (lower $path) -}}
{{- fail (printf "config.%s is a secret and config lands in a ConfigMap; remove it and use %s" $path .) -}}
{{- end -}}
{{- if regexMatch $generic (lower $key) -}}
{{- fail (printf "config.%s looks like a secret and config lands in a ConfigMap; remove it and set env AIRFLOW__%s__%s with valueFrom.secretKeyRef (or config.%s.%s_secret / %s_cmd)" $path (upper $section) (upper $key) $section $key $key) -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/* executorSwitch.fromExecutors: known names, and a switch only where the pre-upgrade hooks run. */}}
{{- define "airflow-k8s.validate.executorSwitch" -}}
{{- $switch := .Values.executorSwitch -}}
{{- $known := list "KubernetesExecutor" "CeleryExecutor" "LocalExecutor" -}}
{{- $from := list -}}
{{- range splitList "," $switch.fromExecutors -}}
{{- $name := trim . -}}
{{- if $name -}}
{{- if not (has $name $known) -}}
{{- fail (printf "executorSwitch.fromExecutors: unknown executor %q; list the executors the running release serves (KubernetesExecutor, CeleryExecutor, LocalExecutor), comma separated" $name) -}}
{{- end -}}
{{- $from = append $from $name -}}
{{- end -}}
{{- end -}}
{{- $executors := include "airflow-k8s.executors" . | fromJsonArray -}}
{{- $removed := list -}}
{{- range $from -}}{{- if not (has . $executors) -}}{{- $removed = append $removed . -}}{{- end -}}{{- end -}}
{{- if and $switch.enabled $removed .Release.IsInstall -}}
{{- fail (printf "executorSwitch.fromExecutors=%q removes %s, but this render is an install: `helm template` and Argo CD render as an install, where the pre-upgrade preflight and drain hooks do not exist, so the running tasks of %s would be lost. Switch executors with `helm upgrade` (the hooks run there), then set executorSwitch.fromExecutors to the new executor; or clear executorSwitch.fromExecutors" $switch.fromExecutors (join "," $removed) (join "," $removed)) -}}
{{- end -}}
{{- end -}}

{{/* Generated secrets need the cluster: without it (`helm template`, Argo CD) every render would make new
     ones, and applying it would replace the Fernet key (stored connections become unreadable). */}}
{{- define "airflow-k8s.validate.secrets" -}}
{{- if not (or (include "airflow-k8s.clusterReachable" .) .Values.secrets.renderOffline) -}}
{{- $executors := include "airflow-k8s.executors" . | fromJsonArray -}}
{{- $generated := list -}}
{{- if not .Values.secrets.existingSecret -}}{{- $generated = append $generated "secrets.existingSecret" -}}{{- end -}}
{{- if and .Values.postgresql.enabled (not .Values.postgresql.password) -}}{{- $generated = append $generated "postgresql.password" -}}{{- end -}}
{{- if and (has "CeleryExecutor" $executors) .Values.redis.enabled (not .Values.redis.password) -}}{{- $generated = append $generated "redis.password" -}}{{- end -}}
{{- with $generated -}}
{{- fail (printf "this render has no cluster to read the generated secrets from (helm template, Argo CD): each render would make new random ones, and applying it would replace the Fernet key and make stored connections unreadable. Set %s (or, for a preview that is never applied, secrets.renderOffline=true)" (join ", " .)) -}}
{{- end -}}
{{- end -}}
{{- end -}}
