package main

// What the plugin and the agent say to each other (operator/src/agent/protocol.ts is the other side). One
// connection per CNI command; every message is one JSON object on one line:
//   plugin → agent  Request
//   agent  → plugin either a program {"run": [Step...]} — the plugin runs it in the pod's netns and answers
//                   {"results": [StepResult...]} — or the final Response ({"ok": ...}), after which it closes.

// SupportedVersions are the CNI spec versions the plugin speaks, oldest first.
var SupportedVersions = []string{"0.3.1", "0.4.0", "1.0.0", "1.1.0"}

// DefaultSocketPath is where the agent listens when the conflist entry does not say.
const DefaultSocketPath = "/var/run/mizzen/cni.sock"

// CNI error codes: 1-99 are the spec's, 100+ mizzen's.
const (
	codeIncompatibleVersion = 1
	codeInvalidEnv          = 4
	codeDecodeFailed        = 6
	codeInvalidConfig       = 7
	codeTryAgainLater       = 11
	codePluginNotAvailable  = 50
	codeRedirectFailed      = 101
)

// PodRef is the pod from CNI_ARGS.
type PodRef struct {
	Namespace string `json:"namespace"`
	Name      string `json:"name"`
	UID       string `json:"uid,omitempty"`
}

// Request is the plugin's one message that opens an exchange.
type Request struct {
	Command     string   `json:"command"`
	CniVersion  string   `json:"cniVersion"`
	ContainerID string   `json:"containerId"`
	Netns       string   `json:"netns"`
	IfName      string   `json:"ifName"`
	Pod         *PodRef  `json:"pod,omitempty"`
	IPs         []string `json:"ips"`
	// Network is the conflist's name (libcni's cache key together with the container id and interface).
	Network string `json:"network,omitempty"`
	// Exec: this plugin runs the agent's programs in the pod's netns.
	Exec bool `json:"exec"`
	// Netlink: this plugin applies the agent's nf_tables netlink batches (a Step with Netlink).
	Netlink bool `json:"netlink"`
}

// Step is one program to run in the pod's netns: an allowed executable, its arguments and its stdin; or, with
// Netlink, an nf_tables batch (base64) to send on a netfilter netlink socket (Tool only names it).
type Step struct {
	Family  string   `json:"family"`
	Tool    string   `json:"tool"`
	Args    []string `json:"args"`
	Stdin   string   `json:"stdin,omitempty"`
	Netlink string   `json:"netlink,omitempty"`
}

// StepResult is what one step did. Code -1: it could not be started (or the netns could not be entered).
type StepResult struct {
	Code   int    `json:"code"`
	Stdout string `json:"stdout"`
	Stderr string `json:"stderr"`
}

// Report answers a program: one result per step run, in order, stopping after the first that failed.
type Report struct {
	Results []StepResult `json:"results"`
}

// Response is the agent's final answer.
type Response struct {
	OK      bool   `json:"ok"`
	Code    int    `json:"code"`
	Msg     string `json:"msg"`
	Details string `json:"details,omitempty"`
}

// CniError is what a failing plugin prints on stdout.
type CniError struct {
	CniVersion string `json:"cniVersion"`
	Code       int    `json:"code"`
	Msg        string `json:"msg"`
	Details    string `json:"details,omitempty"`
}
