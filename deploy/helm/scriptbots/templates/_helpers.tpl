{{- define "scriptbots.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "scriptbots.labels" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{- define "scriptbots.selectorLabels" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "scriptbots.secretName" -}}
{{- .Values.existingSecret | default (include "scriptbots.fullname" .) -}}
{{- end -}}

{{- define "scriptbots.image" -}}
{{- printf "%s:%s" .Values.image.repository (.Values.image.tag | default .Chart.AppVersion) -}}
{{- end -}}

{{/* The environment every scriptbots container gets: the Secret and the ConfigMap. */}}
{{- define "scriptbots.env" -}}
- name: SCRIPTBOTS_DATABASE_URL
  valueFrom:
    secretKeyRef: { name: {{ include "scriptbots.secretName" . }}, key: database-url }
- name: SCRIPTBOTS_SECRET_KEY
  valueFrom:
    secretKeyRef: { name: {{ include "scriptbots.secretName" . }}, key: secret-key }
{{- end -}}

{{- define "scriptbots.securityContext" -}}
{{- $context := deepCopy .Values.securityContext -}}
{{- $_ := set $context "appArmorProfile" .Values.sandbox.appArmorProfile -}}
{{- $_ := set $context "seccompProfile" .Values.sandbox.seccompProfile -}}
{{- toYaml $context -}}
{{- end -}}
