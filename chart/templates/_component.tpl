{{/* One Airflow component Deployment (scheduler, api-server, dag-processor, triggerer). Arguments:
     root, component, settings (its values block: replicas, resources, placement, serviceAccount), args,
     ports, readiness, startup, liveness, dags (mount DAGs), podTemplates (mount task pod templates), annotations,
     initContainers, volumes, volumeMounts (the chart's own extra lists), logGroomer (run the log-groomer
     sidecar when logs.retention.enabled), jwt (gets the JWT signing secret). Every user extra (labels,
     podAnnotations, envFrom, extraContainers, extraInitContainers, extraVolumes, extraVolumeMounts,
     priorityClassName, topologySpreadConstraints) is read from `settings` here, once for all components. */}}
{{- define "airflow-k8s.componentDeployment" -}}
{{- $root := .root -}}
{{- $settings := .settings -}}
{{- $gitSync := and .dags (eq $root.Values.dags.source "gitSync") -}}
{{- $token := get (include "airflow-k8s.apiTokens" $root | fromJson) .component -}}
{{- $logGroomer := and .logGroomer $root.Values.logs.retention.enabled -}}
{{- $labels := include "airflow-k8s.podLabels" (dict "root" $root "component" .component "extra" $settings.labels) -}}
{{- $extras := include "airflow-k8s.spreadAndPriority" (dict "root" $root "levels" (list $settings) "selector" (include "airflow-k8s.selectorLabels" . | fromYaml)) | fromJson -}}
apiVersion: apps/v1
kind: Deployment
metadata:
  name: {{ include "airflow-k8s.componentName" . }}
  labels: {{- $labels | nindent 4 }}
spec:
  replicas: {{ int64 $settings.replicas }}
  selector:
    matchLabels: {{- include "airflow-k8s.selectorLabels" . | nindent 6 }}
  template:
    metadata:
      labels: {{- $labels | nindent 8 }}
      annotations:
        # Restart on config changes: Airflow reads its config only at start.
        checksum/config: {{ include "airflow-k8s.configChecksum" $root }}
        {{- with include "airflow-k8s.brokerChecksum" $root }}
        checksum/broker: {{ . | quote }}
        {{- end }}
        {{- with .annotations }}
        {{- toYaml . | nindent 8 }}
        {{- end }}
        {{- with $settings.podAnnotations }}
        {{- toYaml . | nindent 8 }}
        {{- end }}
    spec:
      serviceAccountName: {{ include "airflow-k8s.serviceAccountName" (dict "root" $root "component" .component "account" $settings.serviceAccount) }}
      automountServiceAccountToken: {{ $token }}
      securityContext: {{- toYaml $root.Values.podSecurityContext | nindent 8 }}
      {{- with $root.Values.imagePullSecrets }}
      imagePullSecrets: {{- toYaml . | nindent 8 }}
      {{- end }}
      {{- with $settings.nodeSelector }}
      nodeSelector: {{- toYaml . | nindent 8 }}
      {{- end }}
      {{- with $settings.tolerations }}
      tolerations: {{- toYaml . | nindent 8 }}
      {{- end }}
      {{- with $settings.affinity }}
      affinity: {{- toYaml . | nindent 8 }}
      {{- end }}
      {{- with $extras.priorityClassName }}
      priorityClassName: {{ . | quote }}
      {{- end }}
      {{- with $extras.topologySpreadConstraints }}
      topologySpreadConstraints: {{- toYaml . | nindent 8 }}
      {{- end }}
      initContainers:
        {{- include "airflow-k8s.waitForMigrations" $root | nindent 8 }}
        {{- with .initContainers }}
        {{- toYaml . | nindent 8 }}
        {{- end }}
        {{- with $settings.extraInitContainers }}
        {{- toYaml . | nindent 8 }}
        {{- end }}
      containers:
        - name: {{ .component }}
          image: {{ include "airflow-k8s.airflowImage" $root | quote }}
          imagePullPolicy: {{ $root.Values.images.airflow.pullPolicy | quote }}
          args: {{- toYaml .args | nindent 12 }}
          env: {{- include "airflow-k8s.airflowEnv" $root | nindent 12 }}
            {{- if .jwt }}
            {{- include "airflow-k8s.jwtEnv" $root | nindent 12 }}
            {{- end }}
          {{- with $settings.envFrom }}
          envFrom: {{- toYaml . | nindent 12 }}
          {{- end }}
          {{- with .ports }}
          ports: {{- toYaml . | nindent 12 }}
          {{- end }}
          {{- with .readiness }}
          readinessProbe: {{- toYaml . | nindent 12 }}
          {{- end }}
          {{- with .startup }}
          startupProbe: {{- toYaml . | nindent 12 }}
          {{- end }}
          {{- with .liveness }}
          livenessProbe: {{- toYaml . | nindent 12 }}
          {{- end }}
          securityContext: {{- toYaml $root.Values.securityContext | nindent 12 }}
          resources: {{- toYaml $settings.resources | nindent 12 }}
          volumeMounts:
            {{- include "airflow-k8s.configVolumeMounts" $root | nindent 12 }}
            {{- include "airflow-k8s.logsVolumeMount" $root | nindent 12 }}
            {{- if .dags }}
            {{- include "airflow-k8s.dagsVolumeMount" $root | nindent 12 }}
            {{- end }}
            {{- if .podTemplates }}
            - name: pod-templates
              mountPath: /opt/airflow/pod_templates
              readOnly: true
            {{- end }}
            {{- with .volumeMounts }}
            {{- toYaml . | nindent 12 }}
            {{- end }}
            {{- with $settings.extraVolumeMounts }}
            {{- toYaml . | nindent 12 }}
            {{- end }}
        {{- if $gitSync }}
        {{- include "airflow-k8s.gitSyncContainer" (dict "root" $root "oneTime" false) | nindent 8 }}
        {{- end }}
        {{- if $logGroomer }}
        {{- include "airflow-k8s.logGroomerContainer" $root | nindent 8 }}
        {{- end }}
        {{- with $settings.extraContainers }}
        {{- toYaml . | nindent 8 }}
        {{- end }}
      volumes:
        {{- include "airflow-k8s.configVolume" $root | nindent 8 }}
        {{- include "airflow-k8s.logsVolume" $root | nindent 8 }}
        {{- if .dags }}
        {{- include "airflow-k8s.dagsVolume" $root | nindent 8 }}
        {{- end }}
        {{- if .podTemplates }}
        {{- include "airflow-k8s.podTemplatesVolume" $root | nindent 8 }}
        {{- end }}
        {{- with .volumes }}
        {{- toYaml . | nindent 8 }}
        {{- end }}
        {{- if $logGroomer }}
        {{- include "airflow-k8s.maintenanceVolume" $root | nindent 8 }}
        {{- end }}
        {{- with $settings.extraVolumes }}
        {{- toYaml . | nindent 8 }}
        {{- end }}
{{- end -}}

{{/* PodDisruptionBudget of one component (root, component, settings): rendered when enabled and more than one
     replica runs; one pod has nothing to keep available. */}}
{{- define "airflow-k8s.componentPdb" -}}
{{- $pdb := .settings.podDisruptionBudget -}}
{{- if and $pdb.enabled (gt (int .settings.replicas) 1) }}
apiVersion: policy/v1
kind: PodDisruptionBudget
metadata:
  name: {{ include "airflow-k8s.componentName" . }}
  labels: {{- include "airflow-k8s.labels" . | nindent 4 }}
spec:
  maxUnavailable: {{ $pdb.maxUnavailable }}
  selector:
    matchLabels: {{- include "airflow-k8s.selectorLabels" . | nindent 6 }}
{{- end }}
{{- end -}}

{{/* `airflow jobs check` as a liveness probe: the job's own heartbeat in the DB, not a port. */}}
{{- define "airflow-k8s.jobCheckProbe" -}}
exec:
  command: ["airflow", "jobs", "check", "--job-type", {{ . | quote }}, "--local"]
initialDelaySeconds: 120
periodSeconds: 60
timeoutSeconds: 50
failureThreshold: 5
{{- end -}}
