{{/*
The controller's rules, written once: deploy/rbac/role.yaml and
clusterrole.yaml carry the same verbs (tests/chart/test_chart_rbac.py
compares them). Two refinements over those files, both narrowing:
- Leases are granted only in the release namespace, `get`/`update` only on
  the one Lease the controller uses (templates/lease.yaml), instead of in
  every namespace it watches. `create` stays, so a deleted Lease comes back.
- `get serviceaccounts` exists only for controller.tokenServiceAccountLabel
  (the controller reads the account's labels before requesting its token).
*/}}

{{/* What the controller needs in every namespace it serves. */}}
{{- define "secretloom.rules.namespaced" -}}
# `delete` is never called by the controller: the SecretSync admission policy asks it of
# whoever creates a `creationPolicy: Owner` SecretSync, and the controller creates one for
# each such SealedSecret (Bitnami's by default), whose author that policy checked already.
- apiGroups: [""]
  resources: [secrets]
  verbs: [get, list, watch, create, patch, delete]
- apiGroups: [secretloom.io]
  resources: [secretsyncs]
  verbs: [get, list, watch, create, patch]
- apiGroups: [secretloom.io]
  resources: [secretsyncs/status]
  verbs: [patch]
- apiGroups: [secretloom.io]
  resources: [secretsyncs/finalizers]
  verbs: [update]
# SealedSecrets: each is written through a SecretSync the controller creates.
- apiGroups: [secretloom.io]
  resources: [sealedsecrets]
  verbs: [get, list, watch]
- apiGroups: [secretloom.io]
  resources: [sealedsecrets/status]
  verbs: [patch]
- apiGroups: [secretloom.io]
  resources: [secretstores]
  verbs: [get, list, watch]
- apiGroups: [secretloom.io]
  resources: [secretstores/status]
  verbs: [patch]
# Store credentials: CA bundles in ConfigMaps and short-lived ServiceAccount
# tokens (TokenRequest) for Vault's Kubernetes auth. No Secret is created.
- apiGroups: [""]
  resources: [configmaps]
  verbs: [get]
- apiGroups: [""]
  resources: [serviceaccounts/token]
  verbs: [create]
{{- if .Values.controller.tokenServiceAccountLabel }}
- apiGroups: [""]
  resources: [serviceaccounts]
  verbs: [get]
{{- end }}
- apiGroups: [apps]
  resources: [deployments, statefulsets, daemonsets]
  verbs: [list, patch]
- apiGroups: [argoproj.io]
  resources: [rollouts]
  verbs: [list, patch]
- apiGroups: [events.k8s.io]
  resources: [events]
  verbs: [create]
{{- end -}}

{{/* Cluster-wide mode adds ClusterSecretStores and the Namespaces their selectors match. */}}
{{- define "secretloom.rules.cluster" -}}
{{ include "secretloom.rules.namespaced" . }}
- apiGroups: [secretloom.io]
  resources: [clustersecretstores]
  verbs: [get, list, watch]
- apiGroups: [secretloom.io]
  resources: [clustersecretstores/status]
  verbs: [patch]
- apiGroups: [""]
  resources: [namespaces]
  verbs: [get, list, watch]
{{- end -}}

{{/* The Lease, in the release namespace. `create` cannot be limited to a name. */}}
{{- define "secretloom.rules.lease" -}}
- apiGroups: [coordination.k8s.io]
  resources: [leases]
  verbs: [create]
{{- if gt (int .Values.shards) 1 }}
# Sharded: the shard Leases, and one member Lease per replica named by a hash
# of its identity (not known here), listed to count the live replicas and
# deleted when a replica leaves. Leases of this namespace only.
- apiGroups: [coordination.k8s.io]
  resources: [leases]
  verbs: [get, list, update, delete]
{{- else }}
- apiGroups: [coordination.k8s.io]
  resources: [leases]
  resourceNames: [{{ include "secretloom.fullname" . }}]
  verbs: [get, update]
{{- end }}
{{- end -}}

{{/* Sealing keys and the published certificate, in the release namespace. */}}
{{- define "secretloom.rules.sealing" -}}
- apiGroups: [""]
  resources: [secrets]
  verbs: [get, list, create]
- apiGroups: [""]
  resources: [configmaps]
  verbs: [create]
- apiGroups: [""]
  resources: [configmaps]
  resourceNames: [secretloom-sealing-cert]
  verbs: [get, patch]
{{- end -}}

{{- define "secretloom.subjects" -}}
- kind: ServiceAccount
  name: {{ include "secretloom.serviceAccountName" . }}
  namespace: {{ .Release.Namespace }}
{{- end -}}
