{{/* Metadata of every executor-switch hook resource: Helm hook annotations (overridable for Argo CD). */}}
{{- define "airflow-k8s.hooks.metadata" -}}
{{- $root := .root -}}
name: {{ include "airflow-k8s.componentName" (dict "root" $root "component" .component) }}
labels: {{- include "airflow-k8s.labels" (dict "root" $root "component" "executor-switch") | nindent 2 }}
annotations:
  helm.sh/hook: {{ .hook }}
  helm.sh/hook-weight: {{ .weight | quote }}
  # Failed hooks stay for `kubectl logs`; the next upgrade replaces them.
  helm.sh/hook-delete-policy: before-hook-creation,hook-succeeded
  {{- with $root.Values.executorSwitch.hookAnnotations }}
  {{- toYaml . | nindent 2 }}
  {{- end }}
{{- end -}}

{{/* A hook Job running `python -m airflow_k8s_hooks <args>` on the stock Airflow image; the package comes
     from the hooks ConfigMap on PYTHONPATH. `celeryBroker` adds the broker URL of the old release. */}}
{{- define "airflow-k8s.hooks.job" -}}
{{- $root := .root -}}
apiVersion: batch/v1
kind: Job
metadata: {{- include "airflow-k8s.hooks.metadata" . | nindent 2 }}
spec:
  # Retryable failures (exit 75: DB, broker or API unreachable) are retried; every step is resumable.
  backoffLimit: 3
  {{- with .deadline }}
  activeDeadlineSeconds: {{ . }}
  {{- end }}
  podFailurePolicy:
    rules:
      # Exit 2, 3 and 4 are decisions (bad usage, refused, drain timed out): retrying cannot change them.
      - action: FailJob
        onExitCodes: {containerName: hook, operator: In, values: [2, 3, 4]}
      # A deleted or evicted hook pod is not a failure: the Job starts another, which resumes.
      - action: Ignore
        onPodConditions: [{type: DisruptionTarget, status: "True"}]
  template:
    metadata:
      labels: {{- include "airflow-k8s.labels" (dict "root" $root "component" "executor-switch") | nindent 8 }}
    spec:
      restartPolicy: Never
      serviceAccountName: {{ include "airflow-k8s.componentName" (dict "root" $root "component" "executor-switch") }}
      securityContext: {{- toYaml $root.Values.podSecurityContext | nindent 8 }}
      {{- with $root.Values.imagePullSecrets }}
      imagePullSecrets: {{- toYaml . | nindent 8 }}
      {{- end }}
      containers:
        - name: hook
          image: {{ include "airflow-k8s.airflowImage" $root | quote }}
          imagePullPolicy: {{ $root.Values.images.airflow.pullPolicy | quote }}
          args: {{- toYaml (concat (list "python" "-m" "airflow_k8s_hooks") .args) | nindent 12 }}
          env:
            - {name: PYTHONPATH, value: /opt/airflow-k8s-hooks}
            - {name: PYTHONUNBUFFERED, value: "1"}
            {{- /* A switch to Celery adds the broker Secret, which Helm creates only after the pre-upgrade hooks:
                   optional, or their pods never start. */}}
            {{- $env := include "airflow-k8s.airflowEnv" $root | fromYamlArray }}
            {{- range $env }}
            {{- if and (eq .name "AIRFLOW__CELERY__BROKER_URL") (dig "valueFrom" "secretKeyRef" "" .) }}
            {{- $_ := set .valueFrom.secretKeyRef "optional" true }}
            {{- end }}
            {{- end }}
            {{- toYaml $env | nindent 12 }}
            {{- if and .celeryBroker (not (has "CeleryExecutor" (include "airflow-k8s.executors" $root | fromJsonArray))) }}
            - name: AIRFLOW__CELERY__BROKER_URL
              valueFrom:
                secretKeyRef:
                  name: {{ include "airflow-k8s.brokerSecretName" $root }}
                  key: {{ include "airflow-k8s.brokerSecretKey" $root }}
            {{- end }}
          securityContext: {{- toYaml $root.Values.securityContext | nindent 12 }}
          resources: {{- toYaml $root.Values.executorSwitch.resources | nindent 12 }}
          volumeMounts:
            {{- include "airflow-k8s.configVolumeMounts" $root | nindent 12 }}
            - {name: hooks, mountPath: /opt/airflow-k8s-hooks, readOnly: true}
      volumes:
        {{- include "airflow-k8s.configVolume" $root | nindent 8 }}
        - name: hooks
          configMap:
            name: {{ include "airflow-k8s.componentName" (dict "root" $root "component" "executor-switch") }}
            items:
              {{- range $path, $_ := $root.Files.Glob "files/hooks/**.py" }}
              {{- $relative := trimPrefix "files/hooks/" $path }}
              - {key: {{ $relative | replace "/" "__" }}, path: {{ $relative }}}
              {{- end }}
{{- end -}}

{{/* Label selector of this release's KubernetesExecutor task pods. */}}
{{- define "airflow-k8s.hooks.taskPodSelector" -}}
{{- $labels := include "airflow-k8s.selectorLabels" (dict "root" . "component" "task") | fromYaml -}}
{{- $pairs := list -}}
{{- range $key := keys $labels | sortAlpha -}}{{- $pairs = append $pairs (printf "%s=%s" $key (get $labels $key)) -}}{{- end -}}
{{- join "," $pairs -}}
{{- end -}}
