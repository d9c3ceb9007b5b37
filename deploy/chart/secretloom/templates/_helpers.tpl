{{/*
Names, labels, the image and the one decision several templates make
(leader election: the flags, the Lease, its Role, the rollout strategy),
defined once here.
*/}}

{{- define "secretloom.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "secretloom.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{- define "secretloom.selectorLabels" -}}
app.kubernetes.io/name: {{ include "secretloom.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "secretloom.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{ include "secretloom.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: secretloom
{{- end -}}

{{- define "secretloom.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "secretloom.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- required "serviceAccount.name: name the existing ServiceAccount when serviceAccount.create is false" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{/* Cluster-scoped names carry the release namespace: two releases never collide. */}}
{{- define "secretloom.clusterName" -}}
{{- printf "%s-%s" .Release.Namespace (include "secretloom.fullname" .) -}}
{{- end -}}

{{/* "true" when the controller campaigns for a Lease before writing. */}}
{{- define "secretloom.leaderElect" -}}
{{- if or .Values.leaderElection.force (gt (int .Values.replicas) 1) (gt (int .Values.shards) 1) -}}true{{- end -}}
{{- end -}}

{{- define "secretloom.image" -}}
{{- $tag := default .Chart.AppVersion .Values.image.tag -}}
{{- if .Values.image.digest -}}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest -}}
{{- else -}}
{{- printf "%s:%s" .Values.image.repository $tag -}}
{{- end -}}
{{- end -}}

{{/*
One --store-servers entry as {cidr, port} YAML when it is an address
(10.0.0.5, 10.0.0.0/8, 10.0.0.5:8200, fd00::/8, [fd00::/8]:8200); empty for a
host name, which a NetworkPolicy cannot express.
*/}}
{{- define "secretloom.storeServerBlock" -}}
{{- $addr := "" -}}
{{- $port := "" -}}
{{- if regexMatch "^[0-9.]+(/[0-9]+)?(:[0-9]+)?$" . -}}
{{- $parts := splitList ":" . -}}
{{- $addr = first $parts -}}
{{- if gt (len $parts) 1 }}{{ $port = last $parts }}{{ end -}}
{{- else if regexMatch "^\\[[0-9a-fA-F:]+(/[0-9]+)?\\](:[0-9]+)?$" . -}}
{{- $addr = regexReplaceAll "^\\[([^\\]]+)\\].*$" . "${1}" -}}
{{- $port = regexReplaceAll "^\\[[^\\]]+\\]:?" . "" -}}
{{- else if regexMatch "^[0-9a-fA-F]*:[0-9a-fA-F:]*(/[0-9]+)?$" . -}}
{{- $addr = . -}}
{{- end -}}
{{- if $addr -}}
{{- if not (contains "/" $addr) -}}
{{- $addr = printf "%s/%s" $addr (ternary "128" "32" (contains ":" $addr)) -}}
{{- end -}}
cidr: {{ $addr | quote }}
{{- if $port }}
port: {{ $port }}
{{- end -}}
{{- end -}}
{{- end -}}
