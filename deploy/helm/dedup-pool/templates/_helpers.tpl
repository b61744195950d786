{{/* Names and labels (Helm's recommended app.kubernetes.io/* labels). */}}
{{- define "dedup-pool.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "dedup-pool.fullname" -}}
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

{{- define "dedup-pool.selectorLabels" -}}
app.kubernetes.io/name: {{ include "dedup-pool.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "dedup-pool.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{ include "dedup-pool.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/component: worker
app.kubernetes.io/part-of: dedup-pool
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{- define "dedup-pool.secretName" -}}
{{- default (include "dedup-pool.fullname" .) .Values.secret.existingSecret }}
{{- end }}

{{- define "dedup-pool.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "dedup-pool.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/*
A replica may take drainTimeout for running handlers, then up to a lock TTL for aborted
ones to settle, then closes: the pod must be given that long before SIGKILL.
*/}}
{{- define "dedup-pool.gracePeriod" -}}
{{- add .Values.pool.drainTimeoutSeconds .Values.pool.lockTtlSeconds .Values.gracePeriodMarginSeconds }}
{{- end }}

{{/* A CPU quantity ("500m", "2", 1.5) as whole CPUs, rounded down, at least 1. */}}
{{- define "dedup-pool.wholeCpus" -}}
{{- $cpu := toString . }}
{{- if hasSuffix "m" $cpu }}
{{- max 1 (div (atoi (trimSuffix "m" $cpu)) 1000) }}
{{- else }}
{{- max 1 (int (floor (float64 $cpu))) }}
{{- end }}
{{- end }}

{{/* DEDUP_THREADS: pool.threads, else the CPU limit, else the CPU request. */}}
{{- define "dedup-pool.threads" -}}
{{- $res := .Values.resources | default dict }}
{{- $limits := $res.limits | default dict }}
{{- $requests := $res.requests | default dict }}
{{- if not (kindIs "invalid" .Values.pool.threads) }}
{{- .Values.pool.threads }}
{{- else if $limits.cpu }}
{{- include "dedup-pool.wholeCpus" $limits.cpu }}
{{- else if $requests.cpu }}
{{- include "dedup-pool.wholeCpus" $requests.cpu }}
{{- else }}
{{- fail "pool.threads: set it, or resources.limits.cpu (threads follow the CPU limit); without either a pod would start a thread per core of its node" }}
{{- end }}
{{- end }}
