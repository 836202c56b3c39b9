package main

import (
	"bytes"
	"errors"
	"os"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// Env is the CNI_* environment of one invocation.
type Env struct {
	Command, ContainerID, Netns, IfName, Args, Path string
}

// EnvFromOS reads CNI_COMMAND, CNI_CONTAINERID, CNI_NETNS, CNI_IFNAME, CNI_ARGS and CNI_PATH.
func EnvFromOS() Env {
	return Env{
		Command:     os.Getenv("CNI_COMMAND"),
		ContainerID: os.Getenv("CNI_CONTAINERID"),
		Netns:       os.Getenv("CNI_NETNS"),
		IfName:      os.Getenv("CNI_IFNAME"),
		Args:        os.Getenv("CNI_ARGS"),
		Path:        os.Getenv("CNI_PATH"),
	}
}

// Output is what the plugin prints and its exit code.
type Output struct {
	Stdout   string
	Stderr   string
	ExitCode int
}

// Executor runs a program in a network namespace: one result per step run, stopping after the first failure.
type Executor func(netns string, steps []Step) []StepResult

// Deps are the plugin's effects besides the socket: running programs in the pod's netns.
type Deps struct {
	Exec Executor
}

const defaultTimeoutSeconds = 30.0

// maxTimeoutSeconds bounds timeoutSeconds: far above any runtime's own CNI timeout, far below what overflows a
// time.Duration (a larger value used to become a negative timeout, failing every command at once).
const maxTimeoutSeconds = 3600.0

// defaultSocket is DefaultSocketPath (tests point it elsewhere).
var defaultSocket = DefaultSocketPath

// maxQuoted bounds a value quoted in a message (a 100 KB cniVersion must not make a 200 KB error).
const maxQuoted = 256

// truncate cuts s to maxQuoted bytes (on a rune boundary), saying its full length.
func truncate(s string) string {
	if len(s) <= maxQuoted {
		return s
	}
	cut := maxQuoted
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "… (" + strconv.Itoa(len(s)) + " bytes)"
}

// quote is s as a JSON string, cut to maxQuoted bytes (on a rune boundary) with the full length said.
func quote(s string) string {
	if len(s) <= maxQuoted {
		return jsonQuote(s)
	}
	cut := maxQuoted
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return jsonQuote(s[:cut]) + "… (" + strconv.Itoa(len(s)) + " bytes)"
}

func latestVersion() string { return SupportedVersions[len(SupportedVersions)-1] }

type pluginError struct {
	code    int
	msg     string
	details string
}

func (e *pluginError) Error() string { return e.msg }

func perr(code int, msg string) *pluginError {
	return &pluginError{code: code, msg: msg}
}

// netConf is the plugin's entry of the conflist, with prevResult kept verbatim.
type netConf struct {
	CniVersion     string
	Name           string
	AgentSocket    string
	TimeoutSeconds float64
	PrevResult     []byte
}

func parseNetConf(stdin []byte) (netConf, *pluginError) {
	obj, err := parseJSON(stdin)
	if err == nil {
		err = obj.finite()
	}
	if err != nil {
		e := perr(codeDecodeFailed, "mizzen-cni could not decode its network configuration")
		e.details = err.Error()
		return netConf{}, e
	}
	if obj.kind != jsonObject {
		return netConf{}, perr(codeDecodeFailed, "mizzen-cni: the network configuration is not a JSON object")
	}
	conf := netConf{}
	if v := obj.field("cniVersion"); v != nil && v.kind == jsonString {
		conf.CniVersion = v.str
	}
	if v := obj.field("name"); v != nil && v.kind == jsonString {
		conf.Name = v.str
	}
	if p := obj.field("prevResult"); p != nil {
		if p.kind != jsonObject {
			return conf, perr(codeInvalidConfig, "mizzen-cni: prevResult must be an object")
		}
		conf.PrevResult = p.raw
	}
	if s := obj.field("agentSocket"); s != nil {
		if s.kind != jsonString {
			return conf, perr(codeInvalidConfig, "mizzen-cni: agentSocket must be a string")
		}
		if s.str != "" && !strings.HasPrefix(s.str, "/") {
			return conf, perr(codeInvalidConfig, "mizzen-cni: agentSocket must be an absolute path, not "+quote(s.str))
		}
		conf.AgentSocket = s.str
	}
	if t := obj.field("timeoutSeconds"); t != nil {
		var n float64
		if t.kind == jsonNumber {
			n, _ = strconv.ParseFloat(string(t.raw), 64) // finite: checked above
		}
		if t.kind != jsonNumber || !(n > 0) {
			return conf, perr(codeInvalidConfig, "mizzen-cni: timeoutSeconds must be a positive number")
		}
		if n > maxTimeoutSeconds {
			return conf, perr(codeInvalidConfig, "mizzen-cni: timeoutSeconds must be at most "+formatG(maxTimeoutSeconds)+", not "+formatG(n))
		}
		conf.TimeoutSeconds = n
	}
	return conf, nil
}

// formatG is fmt's %g of a float64.
func formatG(n float64) string { return strconv.FormatFloat(n, 'g', -1, 64) }

// ParseCniArgs reads CNI_ARGS (`K=V;K=V`); malformed pairs are ignored.
func ParseCniArgs(args string) map[string]string {
	out := map[string]string{}
	for _, pair := range strings.Split(args, ";") {
		if i := strings.Index(pair, "="); i > 0 {
			out[pair[:i]] = pair[i+1:]
		}
	}
	return out
}

// PodFromArgs is the pod of K8S_POD_NAMESPACE, K8S_POD_NAME and K8S_POD_UID, or nil for a non-Kubernetes sandbox.
func PodFromArgs(args string) *PodRef {
	m := ParseCniArgs(args)
	if m["K8S_POD_NAMESPACE"] == "" || m["K8S_POD_NAME"] == "" {
		return nil
	}
	return &PodRef{Namespace: m["K8S_POD_NAMESPACE"], Name: m["K8S_POD_NAME"], UID: m["K8S_POD_UID"]}
}

// ResultAddresses are the `ips[].address` strings of a prevResult (none when it does not decode as a result:
// ips not a list, an entry not an object, an address number out of range).
func ResultAddresses(prevResult []byte) []string {
	out := []string{}
	if len(prevResult) == 0 {
		return out
	}
	r, err := parseJSON(prevResult)
	if err != nil || r.kind != jsonObject {
		return out
	}
	// As encoding/json decodes it into struct{ IPs []struct{ Address any } }, reusing the slice for a repeated key.
	var addrs []*jsonValue
	for _, ips := range r.structFields("ips") {
		switch ips.kind {
		case jsonNull:
			addrs = nil
			continue
		case jsonArray:
		default:
			return out
		}
		prev := addrs
		addrs = make([]*jsonValue, len(ips.items))
		for i, ip := range ips.items {
			if i < len(prev) {
				addrs[i] = prev[i]
			}
			switch ip.kind {
			case jsonNull:
				continue
			case jsonObject:
			default:
				return out
			}
			for _, a := range ip.structFields("address") {
				if a.finite() != nil {
					return out
				}
				addrs[i] = a
			}
		}
	}
	for _, a := range addrs {
		if a != nil && a.kind == jsonString {
			out = append(out, a.str)
		}
	}
	return out
}

// CompareVersions compares dotted versions numerically: -1, 0 or 1.
func CompareVersions(a, b string) int {
	pa, pb := strings.Split(a, "."), strings.Split(b, ".")
	for i := 0; i < len(pa) || i < len(pb); i++ {
		var x, y float64
		if i < len(pa) {
			x = num(pa[i])
		}
		if i < len(pb) {
			y = num(pb[i])
		}
		if x != y {
			if x < y {
				return -1
			}
			return 1
		}
	}
	return 0
}

func num(s string) float64 {
	n, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return 0
	}
	return n
}

func isSupported(v string) bool {
	for _, s := range SupportedVersions {
		if s == v {
			return true
		}
	}
	return false
}

// encode is the JSON of a CNI error.
func (e CniError) encode() []byte {
	var w jsonObjectWriter
	w.str("cniVersion", e.CniVersion)
	w.num("code", e.Code)
	w.str("msg", e.Msg)
	if e.Details != "" {
		w.str("details", e.Details)
	}
	return w.bytes()
}

func failure(cniVersion string, e *pluginError) Output {
	return Output{Stdout: string(CniError{CniVersion: cniVersion, Code: e.code, Msg: e.msg, Details: e.details}.encode()) + "\n", ExitCode: 1}
}

func versionOutput(stdin []byte) Output {
	v := ""
	if len(bytes.TrimSpace(stdin)) > 0 {
		if doc, err := parseJSON(stdin); err == nil && doc.kind == jsonObject {
			for _, cv := range doc.structFields("cniVersion") {
				if cv.finite() != nil {
					v = ""
					break
				}
				v = ""
				if cv.kind == jsonString {
					v = cv.str
				}
			}
		}
	}
	if !isSupported(v) {
		v = latestVersion()
	}
	var w jsonObjectWriter
	w.str("cniVersion", v)
	w.strs("supportedVersions", SupportedVersions)
	return Output{Stdout: string(w.bytes()) + "\n"}
}

type context struct {
	conf   netConf
	env    Env
	deps   Deps
	socket string
}

func (c *context) requireEnv(keys ...string) *pluginError {
	var missing []string
	for _, k := range keys {
		var v string
		switch k {
		case "CNI_CONTAINERID":
			v = c.env.ContainerID
		case "CNI_NETNS":
			v = c.env.Netns
		case "CNI_IFNAME":
			v = c.env.IfName
		}
		if v == "" {
			missing = append(missing, k)
		}
	}
	if len(missing) > 0 {
		return perr(codeInvalidEnv, "mizzen-cni: "+strings.Join(missing, ", ")+" must be set")
	}
	return nil
}

func (c *context) request(command string, pod *PodRef) Request {
	return Request{
		Command: command, CniVersion: c.conf.CniVersion, ContainerID: c.env.ContainerID, Netns: c.env.Netns,
		IfName: c.env.IfName, Pod: pod, IPs: ResultAddresses(c.conf.PrevResult), Network: c.conf.Name, Exec: true, Netlink: true,
	}
}

func (c *context) timeout() time.Duration {
	s := c.conf.TimeoutSeconds
	if s == 0 {
		s = defaultTimeoutSeconds
	}
	return time.Duration(s * float64(time.Second))
}

// ask runs one exchange; an unreachable agent is a CNI error (11, or 50 for STATUS) naming the socket.
func (c *context) ask(req Request) (Response, *pluginError) {
	res, err := Exchange(c.socket, req, c.timeout(), c.runProgram)
	if err != nil {
		var u *UnreachableError
		if errors.As(err, &u) {
			if req.Command == "STATUS" {
				return res, perr(codePluginNotAvailable, "mizzen-cni is not available: the mizzen node agent is unreachable at "+c.socket+" ("+u.Reason+"); is the istio-cni-node pod running and ready on this node?")
			}
			return res, perr(codeTryAgainLater, "mizzen-cni cannot program pod traffic redirection: the mizzen node agent is unreachable at "+c.socket+" ("+u.Reason+"); is the istio-cni-node pod running and ready on this node?")
		}
		return res, perr(codeRedirectFailed, "mizzen-cni failed: "+err.Error())
	}
	return res, nil
}

// agentFailure is the agent's refusal as a CNI error; one without a code (or a negative one) or without a message
// still fails with a code and a message that says so.
func (c *context) agentFailure(command string, res Response) *pluginError {
	if res.OK {
		return nil
	}
	e := &pluginError{code: res.Code, msg: res.Msg, details: res.Details}
	if e.code < 1 {
		e.code = codeRedirectFailed
	}
	if strings.TrimSpace(e.msg) == "" {
		e.msg = "mizzen-cni: the mizzen node agent at " + c.socket + " refused " + command + " without saying why (code " + strconv.Itoa(res.Code) + ")"
	}
	return e
}

// runProgram runs the agent's program through the executor, which is never asked to run a tool outside the
// allow-list nor to enter the netns for an empty program: the steps before a forbidden one run, and the forbidden
// one fails (code -1, naming it) as if it had been run, so the program stops there. A netlink step runs no tool.
func (c *context) runProgram(steps []Step) []StepResult {
	allowed := steps
	var refusal *StepResult
	for i, s := range steps {
		if s.Netlink == "" && !allowedTool.MatchString(s.Tool) {
			allowed = steps[:i]
			refusal = &StepResult{Code: -1, Stderr: "mizzen-cni runs only iptables, ip6tables, ip and nft programs, not " + quote(s.Tool)}
			break
		}
	}
	results := []StepResult{}
	if len(allowed) > 0 {
		results = c.deps.Exec(c.env.Netns, allowed)
	}
	if refusal != nil && len(results) == len(allowed) && (len(results) == 0 || results[len(results)-1].Code == 0) {
		results = append(results, *refusal)
	}
	return results
}

// prevResultOut is prevResult as the runtime gave it (with the conf's cniVersion when it has none).
func (c *context) prevResultOut() string {
	compact := string(compactJSON(c.conf.PrevResult)) // valid JSON: it was parsed with the configuration
	if probe, err := parseJSON(c.conf.PrevResult); err == nil && probe.field("cniVersion") != nil {
		return compact + "\n"
	}
	v := jsonQuote(c.conf.CniVersion)
	rest := strings.TrimPrefix(compact, "{")
	if strings.TrimSpace(rest) == "}" {
		return "{\"cniVersion\":" + v + "}\n"
	}
	return "{\"cniVersion\":" + v + "," + rest + "\n"
}

func (c *context) add() (Output, *pluginError) {
	if e := c.requireEnv("CNI_CONTAINERID", "CNI_NETNS", "CNI_IFNAME"); e != nil {
		return Output{}, e
	}
	if c.conf.PrevResult == nil {
		return Output{}, perr(codeInvalidConfig, "mizzen-cni must run chained after the primary CNI plugin: its configuration has no prevResult")
	}
	out := c.prevResultOut()
	pod := PodFromArgs(c.env.Args)
	if pod == nil {
		return Output{Stdout: out}, nil // not a Kubernetes pod: nothing to redirect
	}
	res, e := c.ask(c.request("ADD", pod))
	if e != nil {
		return Output{}, e
	}
	if e := c.agentFailure("ADD", res); e != nil {
		return Output{}, e
	}
	return Output{Stdout: out}, nil
}

func (c *context) check() (Output, *pluginError) {
	const command = "CHECK"
	if CompareVersions(c.conf.CniVersion, "0.4.0") < 0 {
		return Output{}, perr(codeIncompatibleVersion, "mizzen-cni: CHECK is not defined for cniVersion "+c.conf.CniVersion+" (0.4.0 or later)")
	}
	if e := c.requireEnv("CNI_CONTAINERID", "CNI_NETNS", "CNI_IFNAME"); e != nil {
		return Output{}, e
	}
	if c.conf.PrevResult == nil {
		return Output{}, perr(codeInvalidConfig, "mizzen-cni: CHECK needs prevResult")
	}
	pod := PodFromArgs(c.env.Args)
	if pod == nil {
		return Output{}, nil
	}
	res, e := c.ask(c.request("CHECK", pod))
	if e != nil {
		return Output{}, e
	}
	return Output{}, c.agentFailure(command, res)
}

// del never fails: the netns dies with its rules, and a failing DEL would keep the pod from being deleted.
func (c *context) del() (Output, *pluginError) {
	pod := PodFromArgs(c.env.Args)
	if c.env.Netns == "" || c.env.ContainerID == "" {
		return Output{}, nil
	}
	res, e := c.ask(c.request("DEL", pod))
	if e != nil {
		return Output{Stderr: "mizzen-cni: DEL did not clean " + c.env.Netns + ": " + e.msg + "\n"}, nil
	}
	if e := c.agentFailure("DEL", res); e != nil {
		return Output{Stderr: "mizzen-cni: DEL left rules in " + c.env.Netns + ": " + e.msg + "\n"}, nil
	}
	return Output{}, nil
}

func (c *context) status() (Output, *pluginError) {
	const command = "STATUS"
	if CompareVersions(c.conf.CniVersion, "1.1.0") < 0 {
		return Output{}, perr(codeIncompatibleVersion, "mizzen-cni: STATUS is not defined for cniVersion "+c.conf.CniVersion+" (1.1.0 or later)")
	}
	res, e := c.ask(c.request("STATUS", nil))
	if e != nil {
		return Output{}, e
	}
	return Output{}, c.agentFailure(command, res)
}

func (c *context) dispatch() (Output, *pluginError) {
	switch c.env.Command {
	case "ADD":
		return c.add()
	case "CHECK":
		return c.check()
	case "DEL":
		return c.del()
	case "STATUS":
		return c.status()
	case "GC":
		// Nothing to collect: the plugin allocates nothing, and the rules live and die with each netns.
		if CompareVersions(c.conf.CniVersion, "1.1.0") < 0 {
			return Output{}, perr(codeIncompatibleVersion, "mizzen-cni: GC is not defined for cniVersion "+c.conf.CniVersion)
		}
		return Output{}, nil
	default:
		return Output{}, perr(codeInvalidEnv, "mizzen-cni: unknown CNI_COMMAND "+quote(c.env.Command)+" (VERSION, ADD, CHECK, DEL, STATUS, GC)")
	}
}

// Run is one plugin invocation. It never panics on bad input: every failure is a CNI error on stdout.
func Run(env Env, stdin []byte, deps Deps) (out Output) {
	if env.Command == "VERSION" {
		return versionOutput(stdin)
	}
	cniVersion := latestVersion()
	defer func() {
		if r := recover(); r != nil {
			out = failure(cniVersion, perr(codeRedirectFailed, "mizzen-cni crashed: "+panicText(r)))
		}
	}()
	conf, e := parseNetConf(stdin)
	if conf.CniVersion != "" {
		cniVersion = conf.CniVersion
	}
	if e != nil {
		return failure(cniVersion, e)
	}
	if !isSupported(conf.CniVersion) {
		v := "undefined"
		if doc, err := parseJSON(stdin); err == nil && doc.kind == jsonObject {
			if r := doc.field("cniVersion"); r != nil {
				v = truncate(string(r.raw))
			}
		}
		return failure(cniVersion, perr(codeIncompatibleVersion, "mizzen-cni does not support cniVersion "+v+"; it supports "+strings.Join(SupportedVersions, ", ")))
	}
	socket := conf.AgentSocket
	if socket == "" {
		socket = defaultSocket
	}
	c := &context{conf: conf, env: env, deps: deps, socket: socket}
	res, e := c.dispatch()
	if e != nil {
		return failure(cniVersion, e)
	}
	return res
}

// panicText is fmt's %v of a recovered panic value, for the values a panic carries (runtime errors, errors,
// strings).
func panicText(r any) string {
	switch v := r.(type) {
	case error:
		return v.Error()
	case string:
		return v
	case interface{ String() string }:
		return v.String()
	}
	return "a panic"
}
