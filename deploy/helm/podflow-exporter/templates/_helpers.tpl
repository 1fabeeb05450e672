{{/* Names and labels shared by every template. */}}

{{- define "podflow-exporter.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Object names: the release name when it already contains the chart name
(`helm install podflow-exporter ...` gives plain podflow-exporter), else
<release>-<chart>.
*/}}
{{- define "podflow-exporter.fullname" -}}
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

{{- define "podflow-exporter.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "podflow-exporter.selectorLabels" -}}
app.kubernetes.io/name: {{ include "podflow-exporter.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "podflow-exporter.labels" -}}
helm.sh/chart: {{ include "podflow-exporter.chart" . }}
{{ include "podflow-exporter.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/component: exporter
app.kubernetes.io/part-of: podflow
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{- define "podflow-exporter.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "podflow-exporter.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- required "serviceAccount.name is required when serviceAccount.create is false" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "podflow-exporter.image" -}}
{{- printf "%s:%s" .Values.image.repository (default (printf "v%s" .Chart.AppVersion) .Values.image.tag) }}
{{- end }}

{{/* Where the host's cgroup v2 hierarchy is mounted in the container. */}}
{{- define "podflow-exporter.cgroupMount" -}}
/host/sys/fs/cgroup
{{- end }}

{{/* Where the web config Secret is mounted. */}}
{{- define "podflow-exporter.webConfigDir" -}}
/etc/podflow-exporter/web
{{- end }}

{{/*
Capabilities added to the container (after dropping ALL). CAP_BPF and
CAP_PERFMON load the maps and the tracing programs; CAP_NET_ADMIN attaches
the cgroup_skb programs (collectors flows, dns, http) and reads conntrack
(translation).
*/}}
{{- define "podflow-exporter.capabilities" -}}
- BPF
- PERFMON
{{- if or .Values.collectors.flows .Values.collectors.dns .Values.collectors.http .Values.translation.enabled }}
- NET_ADMIN
{{- end }}
{{- if .Values.capabilities.sysResource }}
- SYS_RESOURCE
{{- end }}
{{- if .Values.capabilities.sysAdmin }}
- SYS_ADMIN
{{- end }}
{{- end }}

{{/*
GOMEMLIMIT in bytes: goMemLimitPercent of a Kubernetes memory quantity
(plain bytes or a k/M/G/T/Ki/Mi/Gi/Ti suffix). Empty without a limit.
*/}}
{{- define "podflow-exporter.goMemLimit" -}}
{{- $limit := .Values.resources.limits | default dict }}
{{- with $limit.memory }}
{{- $q := kindIs "float64" . | ternary (int64 .) . | toString }}
{{- if not (regexMatch "^[0-9]+(Ki|Mi|Gi|Ti|k|M|G|T)?$" $q) }}
{{- fail (printf "resources.limits.memory %q: use a whole number of bytes or a k, M, G, T, Ki, Mi, Gi or Ti suffix" $q) }}
{{- end }}
{{- $units := dict "" 1 "k" 1000 "M" 1000000 "G" 1000000000 "T" 1000000000000 "Ki" 1024 "Mi" 1048576 "Gi" 1073741824 "Ti" 1099511627776 }}
{{- $n := regexReplaceAll "^([0-9]+).*$" $q "${1}" | int64 }}
{{- $unit := regexReplaceAll "^[0-9]+" $q "" }}
{{- div (mul $n (get $units $unit) $.Values.goMemLimitPercent) 100 }}
{{- end }}
{{- end }}

{{/* A map as k=v pairs on one line, for NOTES.txt. */}}
{{- define "podflow-exporter.inline" -}}
{{- $pairs := list }}
{{- range $k, $v := . }}
{{- $pairs = append $pairs (printf "%s=%v" $k $v) }}
{{- end }}
{{- join ", " $pairs }}
{{- end }}
