{{/* Names and labels shared by every template. */}}

{{- define "rollout-operator.name" -}}
{{- .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* The release name when it already contains the chart name ("rollout-operator" gives the
     names of manifests/), else <release>-rollout-operator. */}}
{{- define "rollout-operator.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "rollout-operator.selectorLabels" -}}
app.kubernetes.io/name: {{ include "rollout-operator.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: operator
{{- end -}}

{{- define "rollout-operator.labels" -}}
{{ include "rollout-operator.selectorLabels" . }}
app.kubernetes.io/part-of: rollout-operator
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{- end -}}

{{- define "rollout-operator.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "rollout-operator.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- required "serviceAccount.name is required when serviceAccount.create=false" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{- define "rollout-operator.image" -}}
{{- if .Values.image.digest -}}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest -}}
{{- else -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) -}}
{{- end -}}
{{- end -}}

{{/* The operator's RBAC rules, generated from operator/rollout_operator/rbac.py by
     hack/gen-rbac.py into files/rbac-rules.yaml (one source of truth for chart, kustomize
     overlays and the start-up permission check). */}}
{{- define "rollout-operator.rules" -}}
{{- .Files.Get "files/rbac-rules.yaml" | fromYaml | toJson -}}
{{- end -}}

{{/* Rules wherever the operator watches: as a JSON list. */}}
{{- define "rollout-operator.watchedRules" -}}
{{- $rules := include "rollout-operator.rules" . | fromJson -}}
{{- $watched := $rules.watched -}}
{{- if .Values.secrets.enabled -}}
{{- $watched = concat $watched $rules.secrets -}}
{{- end -}}
{{- toJson $watched -}}
{{- end -}}

{{/* Rules in the release namespace only, as a JSON list: the leader-election Lease (every
     install runs with --leader-elect, HA or not) and, with secrets, the hash-key Secret. */}}
{{- define "rollout-operator.ownNamespaceRules" -}}
{{- $rules := include "rollout-operator.rules" . | fromJson -}}
{{- $own := list -}}
{{- if .Values.secrets.enabled -}}
{{- $own = concat $own $rules.ownNamespace.secrets -}}
{{- end -}}
{{- $own = concat $own $rules.ownNamespace.leaderElection -}}
{{- toJson $own -}}
{{- end -}}
