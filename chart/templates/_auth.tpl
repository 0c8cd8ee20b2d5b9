{{/* Login: the auth manager, its users, and where their passwords come from. */}}

{{- define "airflow-k8s.auth.secretName" -}}
{{- default (include "airflow-k8s.componentName" (dict "root" . "component" "auth")) .Values.auth.existingSecret -}}
{{- end -}}

{{/* Where the api-server's SimpleAuthManager reads passwords: a writable copy of the Secret's
     `passwords.json` (Airflow opens the file for writing at start and at every login). */}}
{{- define "airflow-k8s.auth.passwordsFile" -}}/opt/airflow/auth/passwords.json{{- end -}}

{{/* [core] settings of the auth manager, as JSON. */}}
{{- define "airflow-k8s.auth.config" -}}
{{- if eq .Values.auth.manager "fab" -}}
{{- toJson (dict "auth_manager" "airflow.providers.fab.auth_manager.fab_auth_manager.FabAuthManager") -}}
{{- else -}}
{{- $users := list -}}
{{- range $name, $role := .Values.auth.simple.users -}}
{{- $users = append $users (printf "%s:%s" $name $role) -}}
{{- end -}}
{{- toJson (dict
    "auth_manager" "airflow.api_fastapi.auth.managers.simple.simple_auth_manager.SimpleAuthManager"
    "simple_auth_manager_users" (join "," $users)
    "simple_auth_manager_passwords_file" (include "airflow-k8s.auth.passwordsFile" .)) -}}
{{- end -}}
{{- end -}}

{{/* What the api-server needs for login, as JSON {initContainers, volumes, volumeMounts}. */}}
{{- define "airflow-k8s.auth.apiServerPod" -}}
{{- $auth := .Values.auth -}}
{{- $out := dict "initContainers" (list) "volumes" (list) "volumeMounts" (list) -}}
{{- if eq $auth.manager "simple" -}}
{{- $dir := dir (include "airflow-k8s.auth.passwordsFile" .) -}}
{{- $copy := dict
    "name" "auth-passwords"
    "image" (include "airflow-k8s.airflowImage" .)
    "imagePullPolicy" .Values.images.airflow.pullPolicy
    "command" (list "cp" "/opt/airflow/auth-secret/passwords.json" (include "airflow-k8s.auth.passwordsFile" .))
    "securityContext" .Values.securityContext
    "resources" (dict "requests" (dict "cpu" "10m" "memory" "16Mi") "limits" (dict "memory" "64Mi"))
    "volumeMounts" (list (dict "name" "auth-secret" "mountPath" "/opt/airflow/auth-secret" "readOnly" true)
                         (dict "name" "auth" "mountPath" $dir)) -}}
{{- $_ := set $out "initContainers" (list $copy) -}}
{{- $_ := set $out "volumes" (list
    (dict "name" "auth-secret" "secret" (dict "secretName" (include "airflow-k8s.auth.secretName" .)
      "items" (list (dict "key" "passwords.json" "path" "passwords.json"))))
    (dict "name" "auth" "emptyDir" (dict "medium" "Memory" "sizeLimit" "1Mi"))) -}}
{{- $_ := set $out "volumeMounts" (list (dict "name" "auth" "mountPath" $dir)) -}}
{{- else if or $auth.fab.webserverConfig $auth.fab.webserverConfigSecret -}}
{{- $secret := default (include "airflow-k8s.componentName" (dict "root" . "component" "webserver-config")) $auth.fab.webserverConfigSecret -}}
{{- $_ := set $out "volumes" (list (dict "name" "webserver-config" "secret" (dict "secretName" $secret))) -}}
{{- $_ := set $out "volumeMounts" (list (dict "name" "webserver-config" "mountPath" "/opt/airflow/webserver_config.py"
    "subPath" "webserver_config.py" "readOnly" true)) -}}
{{- end -}}
{{- toJson $out -}}
{{- end -}}
