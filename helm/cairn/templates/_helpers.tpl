{{/*
Chart name, overridable with nameOverride.
*/}}
{{- define "cairn.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Fully qualified app name. Truncated to 52 characters so that
"<fullname>-<component>" still fits the 63-character limit of names and labels.
*/}}
{{- define "cairn.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 52 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 52 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 52 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{/*
Name of a component's resources. Call with (dict "ctx" $ "component" "orders").
*/}}
{{- define "cairn.componentName" -}}
{{- printf "%s-%s" (include "cairn.fullname" .ctx) .component | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Chart name and version, for the helm.sh/chart label.
*/}}
{{- define "cairn.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Image tag: image.tag, or the chart's appVersion.
*/}}
{{- define "cairn.imageTag" -}}
{{- .Values.image.tag | default .Chart.AppVersion }}
{{- end }}

{{- define "cairn.image" -}}
{{- printf "%s:%s" .Values.image.repository (include "cairn.imageTag" .) }}
{{- end }}

{{/*
Selector labels. Call with (dict "ctx" $ "component" "orders").
These must never change between releases: Deployment selectors are immutable.
*/}}
{{- define "cairn.selectorLabels" -}}
app.kubernetes.io/name: {{ include "cairn.name" .ctx }}
app.kubernetes.io/instance: {{ .ctx.Release.Name }}
{{- if .component }}
app.kubernetes.io/component: {{ .component }}
{{- end }}
{{- end }}

{{/*
Standard labels. Call with (dict "ctx" $ "component" "orders"); component may
be empty for resources shared by all components.
*/}}
{{- define "cairn.labels" -}}
helm.sh/chart: {{ include "cairn.chart" .ctx }}
{{ include "cairn.selectorLabels" . }}
app.kubernetes.io/version: {{ include "cairn.imageTag" .ctx | trunc 63 | trimSuffix "-" | quote }}
app.kubernetes.io/managed-by: {{ .ctx.Release.Service }}
app.kubernetes.io/part-of: cairn
{{- end }}

{{/*
Name of the ServiceAccount used by the pods.
*/}}
{{- define "cairn.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "cairn.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/*
Name of the Secret holding CAIRN_DATABASE_URL, CAIRN_AMQP_URL, CAIRN_JWT_SECRET.
*/}}
{{- define "cairn.secretName" -}}
{{- if .Values.existingSecret }}
{{- .Values.existingSecret }}
{{- else }}
{{- include "cairn.fullname" . }}
{{- end }}
{{- end }}

{{/*
JWT secret, base64-encoded: secrets.jwtSecret if set; else the value already in
the release's Secret (so upgrades keep it); else a new random one. The result is
memoised in .Values so every template of one render uses the same value.
*/}}
{{- define "cairn.jwtSecretB64" -}}
{{- if not .Values.secrets._jwtSecretB64 }}
{{- $value := "" }}
{{- if .Values.secrets.jwtSecret }}
{{- $value = .Values.secrets.jwtSecret | b64enc }}
{{- else }}
{{- $existing := lookup "v1" "Secret" .Release.Namespace (include "cairn.fullname" .) }}
{{- if and $existing $existing.data }}
{{- $value = get $existing.data .Values.secretKeys.jwtSecret }}
{{- end }}
{{- if not $value }}
{{- $value = randAlphaNum 64 | b64enc }}
{{- end }}
{{- end }}
{{- $_ := set .Values.secrets "_jwtSecretB64" $value }}
{{- end }}
{{- .Values.secrets._jwtSecretB64 }}
{{- end }}

{{/*
data of the chart-created Secrets (the release one and the migrate hook one).
*/}}
{{- define "cairn.secretData" -}}
{{ .Values.secretKeys.databaseUrl }}: {{ .Values.secrets.databaseUrl | b64enc | quote }}
{{ .Values.secretKeys.amqpUrl }}: {{ .Values.secrets.amqpUrl | b64enc | quote }}
{{ .Values.secretKeys.jwtSecret }}: {{ include "cairn.jwtSecretB64" . | quote }}
{{- end }}

{{/*
data of the migrate hook Secret: the release Secret's, plus the schema owner's
URL, which only the migrate Job gets.
*/}}
{{- define "cairn.migrateSecretData" -}}
{{ include "cairn.secretData" . }}
{{- with .Values.secrets.migrationDatabaseUrl }}
{{ $.Values.secretKeys.migrationDatabaseUrl }}: {{ . | b64enc | quote }}
{{- end }}
{{- end }}

{{/*
The service names `cairn serve` takes (services/cairn/src/config.rs, enum Service).
*/}}
{{- define "cairn.serviceNames" -}}
identity channels orders inventory invoicing shipping dashboard subscriptions
{{- end }}

{{/*
Whether a service's replica count is owned by an HPA ("true" or ""). Call with
the service's values.
*/}}
{{- define "cairn.autoscaled" -}}
{{- if and .autoscaling .autoscaling.enabled }}true{{ end }}
{{- end }}

{{/*
The fewest pods a service runs: its HPA's minReplicas, else its replicas.
Call with the service's values.
*/}}
{{- define "cairn.minReplicas" -}}
{{- if include "cairn.autoscaled" . }}{{ int .autoscaling.minReplicas }}{{ else }}{{ int .replicas }}{{ end }}
{{- end }}

{{/*
A service's probes: the global `probes`, overridden key by key by the
service's own. Call with (dict "ctx" $ "svc" $svc); returns YAML.
*/}}
{{- define "cairn.probes" -}}
{{- toYaml (mergeOverwrite (deepCopy .ctx.Values.probes) (deepCopy (.svc.probes | default dict))) }}
{{- end }}

{{/*
One httpGet probe on the http port from its values (path and timings).
*/}}
{{- define "cairn.httpProbe" -}}
httpGet:
  path: {{ .path }}
  port: http
{{- range $k := list "initialDelaySeconds" "periodSeconds" "timeoutSeconds" "failureThreshold" "successThreshold" }}
{{- if hasKey $ $k }}
{{ $k }}: {{ get $ $k }}
{{- end }}
{{- end }}
{{- end }}

{{/*
Environment shared by the service containers and the migrate Job.
Call with (dict "ctx" $ "secretName" "...").
*/}}
{{- define "cairn.env" -}}
- name: CAIRN_LISTEN
  value: {{ printf "0.0.0.0:%v" .ctx.Values.containerPort | quote }}
- name: CAIRN_LOG_FORMAT
  value: {{ .ctx.Values.logFormat | quote }}
{{- $v := .ctx.Values }}
{{- $publicUrl := $v.publicUrl }}
{{- if and (not $publicUrl) $v.ingress.enabled }}
{{- $publicUrl = printf "%s://%s" (ternary "https" "http" $v.ingress.tls.enabled) $v.ingress.host }}
{{- end }}
{{- with $publicUrl }}
- name: CAIRN_PUBLIC_URL
  value: {{ . | quote }}
{{- end }}
- name: CAIRN_RECONCILE_INTERVAL_SECONDS
  value: {{ $v.reconcile.intervalSeconds | quote }}
- name: CAIRN_RECONCILE_OVERLAP_SECONDS
  value: {{ $v.reconcile.overlapSeconds | quote }}
- name: CAIRN_WRITEBACK_TICK_MS
  value: {{ $v.reconcile.writebackTickMs | quote }}
- name: CAIRN_DB_MAX_CONNECTIONS
  value: {{ $v.dbMaxConnections | quote }}
- name: CAIRN_DRAIN_SECONDS
  value: {{ $v.drainSeconds | quote }}
- name: CAIRN_AMQP_SHARDS
  value: {{ $v.amqpShards | quote }}
{{- with $v.amqpPrefix }}
- name: CAIRN_AMQP_PREFIX
  value: {{ . | quote }}
{{- end }}
- name: CAIRN_DATABASE_URL
  valueFrom:
    secretKeyRef:
      name: {{ .secretName }}
      key: {{ .ctx.Values.secretKeys.databaseUrl }}
- name: CAIRN_AMQP_URL
  valueFrom:
    secretKeyRef:
      name: {{ .secretName }}
      key: {{ .ctx.Values.secretKeys.amqpUrl }}
- name: CAIRN_JWT_SECRET
  valueFrom:
    secretKeyRef:
      name: {{ .secretName }}
      key: {{ .ctx.Values.secretKeys.jwtSecret }}
{{- with .ctx.Values.extraEnv }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{/*
Pod-level settings shared by the Deployments and the migrate Job.
Call with (dict "ctx" $ "serviceAccountName" "..."); an empty
serviceAccountName leaves the namespace's default ServiceAccount.
*/}}
{{- define "cairn.podCommon" -}}
{{- if .serviceAccountName }}
serviceAccountName: {{ .serviceAccountName }}
{{- end }}
automountServiceAccountToken: {{ .ctx.Values.serviceAccount.automountServiceAccountToken }}
{{- with .ctx.Values.imagePullSecrets }}
imagePullSecrets:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .ctx.Values.podSecurityContext }}
securityContext:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .ctx.Values.nodeSelector }}
nodeSelector:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .ctx.Values.affinity }}
affinity:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .ctx.Values.tolerations }}
tolerations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end }}

{{/*
Fail early on values that would render a broken release.
*/}}
{{- define "cairn.validate" -}}
{{- if not .Values.existingSecret }}
{{- if not .Values.secrets.databaseUrl }}
{{- fail "secrets.databaseUrl is required when existingSecret is not set" }}
{{- end }}
{{- if not .Values.secrets.amqpUrl }}
{{- fail "secrets.amqpUrl is required when existingSecret is not set" }}
{{- end }}
{{- end }}
{{- $known := splitList " " (include "cairn.serviceNames" .) }}
{{- range $name, $svc := .Values.services }}
{{- if not (has $name $known) }}
{{- fail (printf "services.%s: no such service (`cairn serve` takes %s)" $name (join ", " $known)) }}
{{- end }}
{{- if and $svc.enabled (include "cairn.autoscaled" $svc) (lt (int $svc.autoscaling.maxReplicas) (int $svc.autoscaling.minReplicas)) }}
{{- fail (printf "services.%s.autoscaling.maxReplicas is below minReplicas" $name) }}
{{- end }}
{{- with $svc.podDisruptionBudget }}
{{- if and (hasKey . "minAvailable") (hasKey . "maxUnavailable") }}
{{- fail (printf "services.%s.podDisruptionBudget: give minAvailable or maxUnavailable, not both" $name) }}
{{- end }}
{{- end }}
{{- end }}
{{- with .Values.services.inventory }}
{{- if include "cairn.autoscaled" . }}
{{- fail "services.inventory.autoscaling: inventory is not autoscaled. Each inventory partition (amqpShards of them) has one active engine across the pods (RabbitMQ single-active-consumer), so more pods add standbys, not throughput; set services.inventory.replicas (default 2: an owner and a standby) and remove autoscaling" }}
{{- end }}
{{- end }}
{{- if lt (int .Values.amqpShards) 1 }}
{{- fail "amqpShards must be at least 1" }}
{{- end }}
{{- if ge (int .Values.drainSeconds) (int .Values.terminationGracePeriodSeconds) }}
{{- fail "drainSeconds must be below terminationGracePeriodSeconds (the pod is killed at the end of the grace period)" }}
{{- end }}
{{- if .Values.ingress.enabled }}
{{- if not .Values.ingress.host }}
{{- fail "ingress.host is required when ingress.enabled is true" }}
{{- end }}
{{- range .Values.ingress.paths }}
{{- $svc := get $.Values.services .service }}
{{- if not $svc }}
{{- fail (printf "ingress path %s routes to unknown service %q" .path .service) }}
{{- end }}
{{- if not $svc.enabled }}
{{- fail (printf "ingress path %s routes to disabled service %q" .path .service) }}
{{- end }}
{{- end }}
{{- end }}
{{- end }}
