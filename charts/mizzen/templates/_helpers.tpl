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
{{- /* Without leader election two replicas would both act: one replica then, whatever replicaCount says. */ -}}
{{- define "mizzen.replicas" -}}
{{- if .Values.leaderElection.enabled }}{{ .Values.replicaCount }}{{ else }}1{{ end -}}
{{- end -}}
