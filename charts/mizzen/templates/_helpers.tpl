{{- define "mizzen.labels" -}}
app.kubernetes.io/name: mizzen
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}
{{- define "mizzen.selector" -}}
app.kubernetes.io/name: mizzen
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}
