{{/* Names and labels shared by every template. */}}

{{- define "botfleet.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "botfleet.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "botfleet.operatorName" -}}
{{- printf "%s-operator" (include "botfleet.fullname" .) | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "botfleet.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Labels of every object of the release (without component). */}}
{{- define "botfleet.baseLabels" -}}
helm.sh/chart: {{ include "botfleet.chart" . }}
app.kubernetes.io/name: {{ include "botfleet.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: botfleet
{{- end }}

{{/* Labels of the operator's objects. */}}
{{- define "botfleet.labels" -}}
{{ include "botfleet.baseLabels" . }}
app.kubernetes.io/component: operator
{{- end }}

{{/* Operator pods; component keeps them apart from the bots (component: bot). */}}
{{- define "botfleet.selectorLabels" -}}
app.kubernetes.io/name: {{ include "botfleet.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: operator
{{- end }}

{{- define "botfleet.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "botfleet.operatorName" .) .Values.serviceAccount.name }}
{{- else }}
{{- required "serviceAccount.name is required when serviceAccount.create is false" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "botfleet.image" -}}
{{- $tag := default .Chart.AppVersion .Values.image.tag }}
{{- $repo := .Values.image.repository }}
{{- with .Values.image.registry }}{{ $repo = printf "%s/%s" (trimSuffix "/" .) $repo }}{{ end }}
{{- if .Values.image.digest }}
{{- printf "%s@%s" $repo .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" $repo $tag }}
{{- end }}
{{- end }}

{{/* true when a monitoring.coreos.com/v1 object may be rendered: the API exists or it is forced. */}}
{{- define "botfleet.monitoringApi" -}}
{{- if or .force (.root.Capabilities.APIVersions.Has "monitoring.coreos.com/v1") }}true{{ end }}
{{- end }}

{{/* A label map as "k=v,k2=v2" (sorted keys): the operator's selector settings. */}}
{{- define "botfleet.selectorString" -}}
{{- $pairs := list }}
{{- range $k, $v := . }}
{{- $pairs = append $pairs (printf "%s=%s" $k $v) }}
{{- end }}
{{- join "," $pairs }}
{{- end }}

{{/* The Secret holding the operator's HMAC key (hashkey-secret.yaml, or the user's). */}}
{{- define "botfleet.hashKeySecret" -}}
{{- default (printf "%s-hash-key" (include "botfleet.operatorName" .)) .Values.operator.hashKey.existingSecret }}
{{- end }}
