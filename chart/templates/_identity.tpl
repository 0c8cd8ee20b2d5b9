{{/* Identity: one ServiceAccount per component; a token only where the Kubernetes API is used. */}}

{{/* Name of a component's ServiceAccount. Arguments: root, component, account (its serviceAccount values).
     A created account defaults to <fullname>-<component>; an account you manage defaults to `default`. */}}
{{- define "airflow-k8s.serviceAccountName" -}}
{{- if .account.create -}}
{{- default (include "airflow-k8s.componentName" .) .account.name -}}
{{- else -}}
{{- default "default" .account.name -}}
{{- end -}}
{{- end -}}

{{/* A component's ServiceAccount object, when created. The account itself mounts no token; the pods that
     call the Kubernetes API ask for one (see airflow-k8s.apiTokens). */}}
{{- define "airflow-k8s.serviceAccount" -}}
{{- if .account.create }}
apiVersion: v1
kind: ServiceAccount
metadata:
  name: {{ include "airflow-k8s.serviceAccountName" . }}
  labels: {{- include "airflow-k8s.labels" . | nindent 4 }}
  {{- with .account.annotations }}
  annotations: {{- toYaml . | nindent 4 }}
  {{- end }}
automountServiceAccountToken: false
{{- end }}
{{- end -}}

{{/* Which components mount a service-account token, as JSON component -> bool: the scheduler launches
     task pods and the api-server reads their logs (KubernetesExecutor); task pods, Celery workers and the
     triggerer only when tasks launch pods themselves (allowPodLaunching). */}}
{{- define "airflow-k8s.apiTokens" -}}
{{- $k8s := has "KubernetesExecutor" (include "airflow-k8s.executors" . | fromJsonArray) -}}
{{- $launch := .Values.allowPodLaunching -}}
{{- toJson (dict "scheduler" $k8s "api-server" $k8s "dag-processor" false
    "triggerer" $launch "celery-worker" $launch "worker" $launch) -}}
{{- end -}}

{{/* Service account of one queue's task pods: the queue's own, else the task pods' account. */}}
{{- define "airflow-k8s.taskServiceAccountName" -}}
{{- $q := default (dict) .settings -}}
{{- default (include "airflow-k8s.serviceAccountName" (dict "root" .root "component" "worker" "account" .root.Values.workers.serviceAccount)) $q.serviceAccountName -}}
{{- end -}}

{{/* A Role and RoleBinding for one component's account wherever task pods run: the release namespace; with
     workers.multiNamespaceMode one per namespace of workers.namespaces, or a ClusterRole when no list is
     given. Arguments: root, component, account (its serviceAccount values), suffix (name suffix), rules. */}}
{{- define "airflow-k8s.taskNamespaceRole" -}}
{{- $root := .root -}}
{{- $subject := dict "root" $root "component" .component "account" .account -}}
{{- $name := printf "%s-%s" (include "airflow-k8s.componentName" $subject) .suffix -}}
{{- $labels := include "airflow-k8s.labels" $subject -}}
{{- $account := include "airflow-k8s.serviceAccountName" $subject -}}
{{- $namespaces := include "airflow-k8s.taskNamespaces" $root | fromJsonArray -}}
{{- $cluster := and $root.Values.workers.multiNamespaceMode (not $namespaces) -}}
{{- $kind := ternary "ClusterRole" "Role" $cluster -}}
{{- if not $namespaces }}{{- $namespaces = list $root.Release.Namespace -}}{{- end }}
{{- range $namespace := ternary (list "") $namespaces $cluster }}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: {{ $kind }}
metadata:
  name: {{ $name }}
  {{- with $namespace }}
  namespace: {{ . | quote }}
  {{- end }}
  labels: {{- $labels | nindent 4 }}
rules: {{- toYaml $.rules | nindent 2 }}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: {{ $kind }}Binding
metadata:
  name: {{ $name }}
  {{- with $namespace }}
  namespace: {{ . | quote }}
  {{- end }}
  labels: {{- $labels | nindent 4 }}
roleRef:
  apiGroup: rbac.authorization.k8s.io
  kind: {{ $kind }}
  name: {{ $name }}
subjects:
  - kind: ServiceAccount
    name: {{ $account | quote }}
    namespace: {{ $root.Release.Namespace | quote }}
{{- end }}
{{- end -}}
