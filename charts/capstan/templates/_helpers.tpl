{{/*
Helpers shared by the templates. Components are named by their binary's suffix:
application-controller, api-server, repo-server, auth-gateway (and redis).
*/}}

{{- define "capstan.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* The prefix of every object name. */}}
{{- define "capstan.fullname" -}}
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

{{- define "capstan.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* A component's object name: (dict "root" $ "component" "api-server"). */}}
{{- define "capstan.componentName" -}}
{{- printf "%s-%s" (include "capstan.fullname" .root) .component | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Selector labels of a component: (dict "root" $ "component" "api-server"). */}}
{{- define "capstan.selectorLabels" -}}
app.kubernetes.io/name: {{ include "capstan.name" .root }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end }}

{{/* Labels of every object; with "component" set, of that component's objects. */}}
{{- define "capstan.labels" -}}
helm.sh/chart: {{ include "capstan.chart" .root }}
app.kubernetes.io/name: {{ include "capstan.name" .root }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
{{- if .component }}
app.kubernetes.io/component: {{ .component }}
{{- end }}
app.kubernetes.io/part-of: capstan
app.kubernetes.io/version: {{ .root.Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .root.Release.Service }}
{{- with .root.Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{/* The ServiceAccount of a component: (dict "root" $ "component" "api-server" "values" .Values.apiServer). */}}
{{- define "capstan.serviceAccountName" -}}
{{- if .values.serviceAccount.create }}
{{- default (include "capstan.componentName" .) .values.serviceAccount.name }}
{{- else }}
{{- default "default" .values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/* An image reference from a component override and the chart default: (dict "root" $ "image" .Values.apiServer.image). */}}
{{- define "capstan.image" -}}
{{- $global := .root.Values.image }}
{{- $img := .image | default dict }}
{{- $repository := $img.repository | default $global.repository }}
{{- $digest := $img.digest | default $global.digest }}
{{- $tag := $img.tag | default $global.tag | default .root.Chart.AppVersion }}
{{- if $digest }}
{{- printf "%s@%s" $repository $digest }}
{{- else }}
{{- printf "%s:%s" $repository (toString $tag) }}
{{- end }}
{{- end }}

{{- define "capstan.imagePullPolicy" -}}
{{- $img := .image | default dict }}
{{- $img.pullPolicy | default .root.Values.image.pullPolicy }}
{{- end }}

{{/* A component's ServiceAccount, with the Workload Identity annotations when enabled: (dict "root" $ "component" ... "values" ...). */}}
{{- define "capstan.serviceAccount" -}}
{{- $values := .values }}
{{- if $values.serviceAccount.create }}
apiVersion: v1
kind: ServiceAccount
metadata:
  name: {{ include "capstan.serviceAccountName" . }}
  namespace: {{ .root.Release.Namespace }}
  labels:
    {{- include "capstan.labels" . | nindent 4 }}
  {{- $annotations := deepCopy ($values.serviceAccount.annotations | default dict) }}
  {{- if $values.workloadIdentity.enabled }}
  {{- $_ := set $annotations "azure.workload.identity/client-id" $values.workloadIdentity.clientId }}
  {{- if $values.workloadIdentity.tenantId }}
  {{- $_ := set $annotations "azure.workload.identity/tenant-id" $values.workloadIdentity.tenantId }}
  {{- end }}
  {{- end }}
  {{- with $annotations }}
  annotations:
    {{- toYaml . | nindent 4 }}
  {{- end }}
automountServiceAccountToken: true
{{- end }}
{{- end }}

{{/* Pod labels of a component: selector labels, Workload Identity, user labels. */}}
{{- define "capstan.podLabels" -}}
{{ include "capstan.selectorLabels" . }}
app.kubernetes.io/part-of: capstan
app.kubernetes.io/version: {{ .root.Chart.AppVersion | quote }}
{{- if .values.workloadIdentity.enabled }}
azure.workload.identity/use: "true"
{{- end }}
{{- with .values.podLabels }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{/* Pod annotations: user annotations, scrape annotations, checksums. (dict ... "metricsPort" 8083). */}}
{{- define "capstan.podAnnotations" -}}
{{- if .root.Values.metrics.scrapeAnnotations }}
prometheus.io/scrape: "true"
prometheus.io/port: {{ .metricsPort | int64 | toString | quote }}
prometheus.io/path: /metrics
{{- end }}
{{- with .values.podAnnotations }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{- define "capstan.podSecurityContext" -}}
{{- toYaml (.values.podSecurityContext | default .root.Values.podSecurityContext) }}
{{- end }}

{{- define "capstan.containerSecurityContext" -}}
{{- toYaml (.values.containerSecurityContext | default .root.Values.containerSecurityContext) }}
{{- end }}

{{/* Scheduling fields shared by every component's pod spec. */}}
{{- define "capstan.scheduling" -}}
{{- with .values.priorityClassName }}
priorityClassName: {{ . }}
{{- end }}
{{- with .values.nodeSelector }}
nodeSelector:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .values.tolerations }}
tolerations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .values.affinity }}
affinity:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .values.topologySpreadConstraints }}
topologySpreadConstraints:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .root.Values.imagePullSecrets }}
imagePullSecrets:
  {{- range . }}
  - name: {{ . }}
  {{- end }}
{{- end }}
{{- end }}

{{/* Probes on the admin port: /healthz (startup, liveness) and /readyz (readiness). */}}
{{- define "capstan.probes" -}}
{{- $p := .values.probes }}
startupProbe:
  httpGet:
    path: /healthz
    port: metrics
  periodSeconds: {{ $p.startup.periodSeconds }}
  failureThreshold: {{ $p.startup.failureThreshold }}
livenessProbe:
  httpGet:
    path: /healthz
    port: metrics
  periodSeconds: {{ $p.liveness.periodSeconds }}
  timeoutSeconds: {{ $p.liveness.timeoutSeconds }}
  failureThreshold: {{ $p.liveness.failureThreshold }}
readinessProbe:
  httpGet:
    path: /readyz
    port: metrics
  periodSeconds: {{ $p.readiness.periodSeconds }}
  timeoutSeconds: {{ $p.readiness.timeoutSeconds }}
  failureThreshold: {{ $p.readiness.failureThreshold }}
{{- end }}

{{/* Environment shared by every Capstan container. */}}
{{- define "capstan.commonEnv" -}}
- name: CAPSTAN_LOG_FORMAT
  value: {{ .root.Values.log.format | quote }}
- name: CAPSTAN_LOG_LEVEL
  value: {{ .root.Values.log.level | quote }}
# Tools a component runs (exec credential plugins, helm, kustomize) write below HOME.
- name: HOME
  value: /tmp
{{- end }}

{{/* The cache key Secret's name and key. */}}
{{- define "capstan.cacheKeySecretName" -}}
{{- if .Values.cacheKey.existingSecret }}
{{- .Values.cacheKey.existingSecret }}
{{- else }}
{{- printf "%s-cache-key" (include "capstan.fullname" .) | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}

{{- define "capstan.cacheKeyPath" -}}
/etc/capstan/cache-key/{{ .Values.cacheKey.secretKey }}
{{- end }}

{{/* The bundled Redis' Service and password Secret names. */}}
{{- define "capstan.redis.fullname" -}}
{{- include "capstan.componentName" (dict "root" . "component" "redis") }}
{{- end }}

{{/*
The Redis settings of a component: (dict "root" $ "prefix" "CAPSTAN_API_SERVER"). The URL
carries no password: the password goes verbatim from its Secret into <prefix>_REDIS_PASSWORD
(so an Azure access key needs no percent-encoding), and a CA from redis.external.caSecret is
mounted by capstan.redis.caVolume(Mount) and named by <prefix>_REDIS_CA_FILE.
*/}}
{{- define "capstan.redis.env" -}}
{{- $r := .root.Values.redis }}
{{- $secret := "" }}
{{- $secretKey := "" }}
{{- $url := "" }}
{{- if eq $r.mode "bundled" }}
{{- $host := printf "%s.%s.svc" (include "capstan.redis.fullname" .root) .root.Release.Namespace }}
{{- if $r.bundled.auth.enabled }}
{{- $secret = include "capstan.redis.fullname" .root }}
{{- $secretKey = "redis-password" }}
{{- end }}
{{- $url = printf "redis://%s:%d/0" $host ($r.bundled.port | int) }}
{{- else }}
{{- $e := $r.external }}
{{- if $e.insecureSkipVerify }}
{{- fail "redis.external.insecureSkipVerify is no longer supported: Capstan always verifies Redis' certificate. Put the CA that signs it in a Secret and set redis.external.caSecret." }}
{{- end }}
{{- if and $e.caSecret (not $e.tls) }}
{{- fail "redis.external.caSecret needs redis.external.tls: true (rediss://)." }}
{{- end }}
{{- if $e.existingSecret }}
{{- $secret = $e.existingSecret }}
{{- $secretKey = $e.passwordKey }}
{{- end }}
{{- $userinfo := "" }}
{{- if $e.username }}
{{- $userinfo = printf "%s@" (urlquery $e.username) }}
{{- end }}
{{- $scheme := ternary "rediss" "redis" $e.tls }}
{{- $url = printf "%s://%s%s:%d/%d" $scheme $userinfo $e.host ($e.port | int) ($e.db | int) }}
{{- end }}
- name: {{ .prefix }}_REDIS_URL
  value: {{ $url | quote }}
{{- if $secret }}
- name: {{ .prefix }}_REDIS_PASSWORD
  valueFrom:
    secretKeyRef:
      name: {{ $secret }}
      key: {{ $secretKey }}
{{- end }}
{{- if include "capstan.redis.caEnabled" .root }}
- name: {{ .prefix }}_REDIS_CA_FILE
  value: {{ printf "/etc/capstan/redis-ca/%s" $r.external.caKey | quote }}
{{- end }}
- name: {{ .prefix }}_CACHE_KEY_FILE
  value: {{ include "capstan.cacheKeyPath" .root | quote }}
{{- end }}

{{/* "true" when an external Redis' CA comes from redis.external.caSecret. */}}
{{- define "capstan.redis.caEnabled" -}}
{{- if and (eq .Values.redis.mode "external") .Values.redis.external.caSecret -}}
true
{{- end }}
{{- end }}

{{/* The volume and mount of the external Redis' CA (nothing without redis.external.caSecret). */}}
{{- define "capstan.redis.caVolume" -}}
{{- if include "capstan.redis.caEnabled" . }}
- name: redis-ca
  secret:
    secretName: {{ .Values.redis.external.caSecret }}
    defaultMode: 0444
    items:
      - key: {{ .Values.redis.external.caKey }}
        path: {{ .Values.redis.external.caKey }}
{{- end }}
{{- end }}

{{- define "capstan.redis.caVolumeMount" -}}
{{- if include "capstan.redis.caEnabled" . }}
- name: redis-ca
  mountPath: /etc/capstan/redis-ca
  readOnly: true
{{- end }}
{{- end }}

{{/* The cache key volume and its mount. */}}
{{- define "capstan.cacheKeyVolume" -}}
- name: cache-key
  secret:
    secretName: {{ include "capstan.cacheKeySecretName" . }}
    defaultMode: 0440
    items:
      - key: {{ .Values.cacheKey.secretKey }}
        path: {{ .Values.cacheKey.secretKey }}
{{- end }}

{{- define "capstan.cacheKeyVolumeMount" -}}
- name: cache-key
  mountPath: /etc/capstan/cache-key
  readOnly: true
{{- end }}

{{/* In-cluster addresses between components. */}}
{{/* The repo-server's headless Service: every pod's address (see repo-server.yaml). */}}
{{- define "capstan.repoServerAddress" -}}
{{- printf "http://%s-headless:%d" (include "capstan.componentName" (dict "root" . "component" "repo-server")) (.Values.repoServer.ports.grpc | int) }}
{{- end }}

{{- define "capstan.apiServerAddress" -}}
{{- printf "http://%s:%d" (include "capstan.componentName" (dict "root" . "component" "api-server")) (.Values.apiServer.ports.http | int) }}
{{- end }}

{{- define "capstan.authGatewayInternalName" -}}
{{- printf "%s-internal" (include "capstan.componentName" (dict "root" . "component" "auth-gateway")) | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "capstan.authGatewayGrpcAddress" -}}
{{- printf "http://%s:%d" (include "capstan.authGatewayInternalName" .) (.Values.authGateway.ports.grpc | int) }}
{{- end }}

{{/* The external URL: authGateway.publicUrl, else https://<ingress.hostname> with the Ingress. */}}
{{- define "capstan.publicUrl" -}}
{{- if .Values.authGateway.publicUrl }}
{{- .Values.authGateway.publicUrl }}
{{- else if and .Values.ingress.enabled .Values.ingress.hostname }}
{{- printf "%s://%s" (ternary "https" "http" .Values.ingress.tls.enabled) .Values.ingress.hostname }}
{{- end }}
{{- end }}

{{/*
Whether a configuration object may be rendered: (dict "root" $ "apiVersion" "v1" "kind"
"ConfigMap" "name" "argocd-cm"). True when the object does not exist, or exists and belongs
to this release (so the release keeps managing what it created; anything made by hand, by
the auth-gateway or by another tool is left alone). `helm template` and `--dry-run=client`
have no cluster: lookup returns nothing there, and the object is always rendered.
*/}}
{{- define "capstan.mayManage" -}}
{{- $existing := lookup .apiVersion .kind .root.Release.Namespace .name }}
{{- if not $existing -}}
true
{{- else }}
{{- $annotations := $existing.metadata.annotations | default dict }}
{{- if and (eq (get $annotations "meta.helm.sh/release-name") .root.Release.Name) (eq (get $annotations "meta.helm.sh/release-namespace") .root.Release.Namespace) -}}
true
{{- end }}
{{- end }}
{{- end }}

{{/*
API versions of the cluster: policy/v1 PodDisruptionBudgets (Kubernetes 1.21) and
autoscaling/v2 HorizontalPodAutoscalers (1.23), else their 1.20 predecessors policy/v1beta1
and autoscaling/v2beta2 (the same fields for what the chart sets). Against a cluster, Helm
lists every served group/version and group/version/kind; offline (`helm template`, `helm
lint`) it knows group/versions only and the Kubernetes version from `--kube-version` (default:
its client's, current), so the group/version and the version are checked too — an offline
render for a current cluster gets policy/v1 and autoscaling/v2, one with `--kube-version
1.20` the 1.20 ones.
*/}}
{{- define "capstan.pdbApiVersion" -}}
{{- $served := or (.Capabilities.APIVersions.Has "policy/v1/PodDisruptionBudget") (.Capabilities.APIVersions.Has "policy/v1") }}
{{- if and $served (semverCompare ">=1.21.0-0" .Capabilities.KubeVersion.Version) -}}
policy/v1
{{- else -}}
policy/v1beta1
{{- end }}
{{- end }}

{{- define "capstan.hpaApiVersion" -}}
{{- $served := or (.Capabilities.APIVersions.Has "autoscaling/v2/HorizontalPodAutoscaler") (.Capabilities.APIVersions.Has "autoscaling/v2") }}
{{- if and $served (semverCompare ">=1.23.0-0" .Capabilities.KubeVersion.Version) -}}
autoscaling/v2
{{- else -}}
autoscaling/v2beta2
{{- end }}
{{- end }}

{{/* A PodDisruptionBudget: (dict "root" $ "component" "api-server" "values" .Values.apiServer). */}}
{{- define "capstan.pdb" -}}
{{- if .values.pdb.enabled }}
apiVersion: {{ include "capstan.pdbApiVersion" .root }}
kind: PodDisruptionBudget
metadata:
  name: {{ include "capstan.componentName" . }}
  namespace: {{ .root.Release.Namespace }}
  labels:
    {{- include "capstan.labels" . | nindent 4 }}
spec:
  {{- if not (kindIs "invalid" .values.pdb.minAvailable) }}
  minAvailable: {{ .values.pdb.minAvailable }}
  {{- else }}
  maxUnavailable: {{ .values.pdb.maxUnavailable }}
  {{- end }}
  selector:
    matchLabels:
      {{- include "capstan.selectorLabels" . | nindent 6 }}
{{- end }}
{{- end }}

{{/* A HorizontalPodAutoscaler for a Deployment: (dict "root" $ "component" ... "values" ...). */}}
{{- define "capstan.hpa" -}}
{{- $a := .values.autoscaling }}
{{- if $a.enabled }}
apiVersion: {{ include "capstan.hpaApiVersion" .root }}
kind: HorizontalPodAutoscaler
metadata:
  name: {{ include "capstan.componentName" . }}
  namespace: {{ .root.Release.Namespace }}
  labels:
    {{- include "capstan.labels" . | nindent 4 }}
spec:
  scaleTargetRef:
    apiVersion: apps/v1
    kind: Deployment
    name: {{ include "capstan.componentName" . }}
  minReplicas: {{ $a.minReplicas }}
  maxReplicas: {{ $a.maxReplicas }}
  metrics:
    {{- with $a.targetCPUUtilizationPercentage }}
    - type: Resource
      resource:
        name: cpu
        target:
          type: Utilization
          averageUtilization: {{ . }}
    {{- end }}
    {{- with $a.targetMemoryUtilizationPercentage }}
    - type: Resource
      resource:
        name: memory
        target:
          type: Utilization
          averageUtilization: {{ . }}
    {{- end }}
{{- end }}
{{- end }}

{{/* An emptyDir with an optional size limit: (dict "name" "tmp" "sizeLimit" "1Gi"). */}}
{{- define "capstan.emptyDir" -}}
- name: {{ .name }}
  emptyDir:
    {{- if .sizeLimit }}
    sizeLimit: {{ .sizeLimit }}
    {{- else }}
    {}
    {{- end }}
{{- end }}
