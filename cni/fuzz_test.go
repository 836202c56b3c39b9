package main

// Property tests of Run over generated CNI invocations: environments, network configurations and agent answers,
// valid, boundary and broken. TestFuzzedPayloads is deterministic (a fixed seed, printed; MIZZEN_FUZZ_SEED and
// MIZZEN_FUZZ_RUNS override it and the count); FuzzRun is the same properties for `go test -fuzz=FuzzRun`.

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

const defaultFuzzSeed = 20261201

// fuzzPlan is what the stub agent does after reading the request: programs (each a raw line; a report is read
// after each), then one last raw line (nil: close without one), with or without its newline.
type fuzzPlan struct {
	programs  [][]byte
	last      []byte
	noNewline bool
	// verdict: the last line is a well-formed final answer (ok, code and msg of the right types).
	wellFormed bool
	ok         bool
	code       int
	msg        string
	// broken: a program line the plugin must refuse (not a list of steps) comes first.
	badProgram bool
	kind       string // what the last line is, for the figures
}

// conversation is what the stub saw of one connection: the programs it sent (parsed, nil when malformed) and
// the reports it got back.
type conversation struct {
	payload  int
	programs [][]Step
	reports  []Report
}

// fuzzAgent is a stubAgent whose conversation follows the current plan.
type fuzzAgent struct {
	*stubAgent
	mu      sync.Mutex
	plan    fuzzPlan
	payload int
	convs   chan conversation
}

func startFuzzAgent(t *testing.T) *fuzzAgent {
	t.Helper()
	a := &fuzzAgent{convs: make(chan conversation, 64)}
	a.stubAgent = startAgent(t, nil)
	a.stubAgent.talk = a.talk
	return a
}

func (a *fuzzAgent) setPlan(payload int, p fuzzPlan) {
	a.mu.Lock()
	a.plan, a.payload = p, payload
	a.mu.Unlock()
}

func (a *fuzzAgent) talk(_ Request, c net.Conn, r *bufio.Reader) {
	a.mu.Lock()
	plan, payload := a.plan, a.payload
	a.mu.Unlock()
	conv := conversation{payload: payload}
	defer func() {
		select {
		case a.convs <- conv:
		default: // nobody checks fast enough: drop it rather than block the stub
		}
	}()
	_ = c.SetDeadline(time.Now().Add(30 * time.Second))
	for _, p := range plan.programs {
		var m struct {
			Run []Step `json:"run"`
		}
		if json.Unmarshal(p, &m) == nil {
			conv.programs = append(conv.programs, m.Run)
		} else {
			conv.programs = append(conv.programs, nil)
		}
		if _, err := c.Write(append(p, '\n')); err != nil {
			return
		}
		line, err := r.ReadBytes('\n')
		if err != nil {
			return
		}
		var rep Report
		_ = json.Unmarshal(line, &rep)
		conv.reports = append(conv.reports, rep)
	}
	if plan.last != nil {
		out := plan.last
		if !plan.noNewline {
			out = append(append([]byte{}, out...), '\n')
		}
		_, _ = c.Write(out)
	}
}

// fuzzGen draws one payload from its own PCG stream (seed, payload index): a failing payload is reproduced alone.
type fuzzGen struct {
	r      *rand.Rand
	socket string
}

func (g *fuzzGen) pick(xs ...string) string { return xs[g.r.IntN(len(xs))] }
func (g *fuzzGen) chance(p float64) bool    { return g.r.Float64() < p }

func (g *fuzzGen) bytes(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(g.r.UintN(256))
	}
	return b
}

// str is a short odd string: unicode, NUL bytes, invalid UTF-8, quotes, newlines, or long.
func (g *fuzzGen) str() string {
	switch g.r.IntN(9) {
	case 0:
		return ""
	case 1:
		return "пространство-имён/ポッド-🙂"
	case 2:
		return "a\x00b"
	case 3:
		return string(g.bytes(1 + g.r.IntN(40)))
	case 4:
		return `"quoted" \ back\slash` + "\n\t"
	case 5:
		return strings.Repeat("x", 100<<10)
	case 6:
		return "\u202eevil\u200b"
	case 7:
		return strconv.Itoa(g.r.IntN(1000))
	default:
		return "web-" + strconv.Itoa(g.r.IntN(100))
	}
}

// odd is a JSON value of a random type (what a wrong type looks like).
func (g *fuzzGen) odd() any {
	switch g.r.IntN(8) {
	case 0:
		return nil
	case 1:
		return g.r.IntN(2) == 0
	case 2:
		return g.r.NormFloat64() * 1e6
	case 3:
		return []any{1, "two", nil}
	case 4:
		return map[string]any{"nested": map[string]any{"x": 1}}
	case 5:
		return g.str()
	case 6:
		return -1
	default:
		return json.RawMessage(deep(1 + g.r.IntN(200)))
	}
}

func deep(n int) string { return strings.Repeat("[", n) + strings.Repeat("]", n) }

var allowedTools = []string{"iptables-restore", "ip6tables-restore", "iptables-save", "ip6tables-legacy-save", "iptables-nft-restore", "ip", "nft"}
var forbiddenTools = []string{"sh", "bash", "/sbin/iptables-restore", "../ip", "iptables", "ipx", "nft2", "", "ip\x00", "IP", "rm", " ip", "ip\n", "iptables-restore;sh"}

func (g *fuzzGen) steps() []Step {
	n := g.r.IntN(4)
	steps := make([]Step, 0, n)
	for range n {
		tool := g.pick(allowedTools...)
		if g.chance(0.2) {
			tool = g.pick(forbiddenTools...)
		}
		var args []string
		for range g.r.IntN(3) {
			args = append(args, g.pick("--noflush", "--wait", "-4", "-batch", "-", g.str()))
		}
		steps = append(steps, Step{Family: g.pick("v4", "v6", "", "x"), Tool: tool, Args: args, Stdin: g.pick("", "*nat\nCOMMIT\n", g.str())})
	}
	return steps
}

func mustMarshal(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return b
}

// hugeLine is longer than the plugin reads.
var hugeLine = sync.OnceValue(func() []byte { return bytes.Repeat([]byte("z"), maxLine+(128<<10)) })

func (g *fuzzGen) plan() fuzzPlan {
	p := fuzzPlan{}
	for range g.r.IntN(3) {
		if g.chance(0.08) {
			p.badProgram = true
			p.programs = append(p.programs, []byte(g.pick(`{"run":"iptables -F"}`, `{"run":[{"tool":5}]}`, `{"run":{"tool":"ip"}}`, `{"run":[{"tool":"ip","args":"-V"}]}`, `{"run":[1,2]}`)))
			break
		}
		if g.chance(0.05) {
			p.programs = append(p.programs, []byte(g.pick(`{"run":null}`, `{"run":[]}`)))
			continue
		}
		p.programs = append(p.programs, mustMarshal(map[string]any{"run": g.steps()}))
	}
	switch k := g.r.IntN(100); {
	case k < 45:
		p.kind = "ok"
		p.last, p.wellFormed, p.ok = mustMarshal(okAnswer), true, true
	case k < 60:
		p.kind = "refusal"
		p.code = 100 + g.r.IntN(3)
		p.msg = g.pick("pod shop/web-1 has an invalid annotation traffic.sidecar.istio.io/excludeInboundPorts: \"x\" is not a port (1-65535)", g.str())
		if strings.TrimSpace(p.msg) == "" {
			p.msg = "refused"
		}
		if g.chance(0.01) {
			p.msg = strings.Repeat("m", 1<<20)
		}
		p.last, p.wellFormed = mustMarshal(map[string]any{"ok": false, "code": p.code, "msg": p.msg, "details": g.str()}), true
		_ = json.Unmarshal(mustMarshal(p.msg), &p.msg) // as JSON carries it: invalid UTF-8 becomes U+FFFD
	case k < 68: // a refusal without a usable code or message
		p.kind = "refusal without code or msg"
		m := map[string]any{"ok": false}
		if g.chance(0.5) {
			m["code"] = g.pick("0", "-5", `"101"`, "1.5", "null", "1e3")
		}
		if g.chance(0.5) {
			m["msg"] = g.pick("", " ", "\n")
		}
		raw := map[string]json.RawMessage{}
		for k, v := range m {
			if s, ok := v.(string); ok && k == "code" {
				raw[k] = json.RawMessage(s)
			} else {
				raw[k] = mustMarshal(v)
			}
		}
		p.last = mustMarshal(raw)
	case k < 76: // wrong shapes
		p.kind = "wrong shape"
		p.last = []byte(g.pick(`{"ok":"yes"}`, `{"ok":1}`, `{"ok":null}`, `[]`, `"ok"`, `42`, `null`, `{}`, `{"run":[],"ok":true}`, `{"OK":true}`, `{"ok":true,"code":"x"}`))
	case k < 84: // garbage
		p.kind = "garbage"
		p.last = g.bytes(g.r.IntN(200))
	case k < 90: // early close
		p.kind = "early close"
		p.last = nil
	case k < 98: // the final answer without its newline, then close
		p.kind = "no newline"
		p.last, p.noNewline, p.wellFormed, p.ok = mustMarshal(okAnswer), true, true, true
	default: // oversized
		if g.chance(0.15) {
			p.kind = "over 16 MiB"
			p.last = hugeLine()
		} else {
			p.kind = "1 MiB"
			p.last = append([]byte(`{"ok":true,"pad":"`), append(bytes.Repeat([]byte("p"), 1<<20), '"', '}')...)
			p.wellFormed, p.ok = true, true
		}
	}
	return p
}

// payload is one invocation and what the generator knows of it.
type payload struct {
	env   Env
	stdin []byte
	// broken: the configuration keys deliberately made wrong (a config error must name one of them).
	broken map[string]bool
	// reject: the keys whose values no command may accept (the invocation must fail naming one of them).
	reject map[string]bool
	// clean: everything valid and the command defined for the version: the outcome is the agent's.
	clean   bool
	version string
	pod     bool
	tiny    bool // a timeout so short that a slow machine may see it expire
	ownPrev bool // prevResult is not prevResult(version)
	plan    fuzzPlan
	exec    *recordExec
}

func (g *fuzzGen) env(p *payload) {
	cmds := []string{"ADD", "ADD", "ADD", "ADD", "CHECK", "CHECK", "DEL", "DEL", "STATUS", "GC", "VERSION"}
	p.env = env(cmds[g.r.IntN(len(cmds))])
	if g.chance(0.1) {
		p.env.Command = g.pick("", "add", "Add", "ADD ", "VERSION\x00", "FROB", g.str())
		p.clean = false
	}
	p.pod = true
	switch k := g.r.IntN(10); {
	case k == 0:
		p.env.Args, p.pod = "IgnoreUnknown=1", false
	case k == 1:
		p.env.Args, p.pod = "", false
	case k == 2:
		p.env.Args = "K8S_POD_NAMESPACE=" + g.str() + ";K8S_POD_NAME=" + g.str() + ";K8S_POD_UID=" + g.str()
		p.pod = PodFromArgs(p.env.Args) != nil
	case k == 3:
		p.env.Args = g.str()
		p.pod = PodFromArgs(p.env.Args) != nil
	}
	for _, f := range []*string{&p.env.ContainerID, &p.env.Netns, &p.env.IfName, &p.env.Path} {
		if g.chance(0.06) {
			*f = g.str()
			if *f == "" && f != &p.env.Path {
				p.clean = false
			}
		}
	}
}

func (g *fuzzGen) stdin(p *payload) {
	p.version = g.pick(SupportedVersions...)
	c := map[string]any{
		"cniVersion": p.version, "name": g.pick("k8s-pod-network", "kindnet", g.str()), "type": "mizzen-cni",
		"agentSocket": g.socket, "prevResult": json.RawMessage(prevResult(p.version)),
	}
	if g.chance(0.7) {
		c["timeoutSeconds"] = 5 + g.r.Float64()*10
	}
	for range g.r.IntN(4) {
		key := g.pick("cniVersion", "name", "type", "agentSocket", "timeoutSeconds", "prevResult", "extra")
		switch g.r.IntN(4) {
		case 0: // deleted
			delete(c, key)
			switch key {
			case "cniVersion", "prevResult":
				p.broken[key] = true
			case "agentSocket":
				p.broken[key] = true // the default socket, which the test points at a missing path
			}
		case 1: // a wrong type
			c[key] = g.odd() // for agentSocket, "" is the default socket, missing here: broken too
			if key != "name" && key != "type" && key != "extra" {
				p.broken[key] = true
			}
		default: // a wrong value of the right type
			switch key {
			case "cniVersion":
				c[key] = g.pick("0.2.0", "0.3.0", "1.2.0", "2.0.0", "", "1.0", "1.0.0 ", "v1.0.0", strings.Repeat("9", 100<<10), "١.٠.٠")
				p.broken[key] = true
			case "timeoutSeconds":
				v := g.pick("0", "-1", "1e300", "3601", "1e-9", "0.001", "5e-324", "3600")
				c[key] = json.RawMessage(v)
				if n, _ := strconv.ParseFloat(v, 64); n > 0 && n <= maxTimeoutSeconds {
					p.tiny = n < 1
				} else {
					p.broken[key] = true
				}
			case "agentSocket":
				c[key] = g.pick("cni.sock", "../cni.sock", "./"+filepath.Base(g.socket), filepath.Join(filepath.Dir(g.socket), "..", "missing.sock"), "/nonexistent/../x.sock", "/"+strings.Repeat("s", 200), "/tmp/a\x00b.sock", "relative/"+g.str())
				p.broken[key] = true
			case "prevResult":
				p.ownPrev = true
				c[key] = g.pickAny(map[string]any{}, map[string]any{"ips": "x"}, map[string]any{"ips": []any{map[string]any{"address": 5}, nil}},
					map[string]any{"cniVersion": 7}, map[string]any{"deep": json.RawMessage(deep(5000))}, map[string]any{"ips": []any{map[string]any{"address": g.str()}}})
			default:
				c[g.str()] = g.pickAny(strings.Repeat("k", 100<<10), json.RawMessage(deep(2000)), g.str())
			}
		}
	}
	p.stdin = mustMarshal(c)
	if _, ok := c["cniVersion"]; ok && c["cniVersion"] == p.version {
		delete(p.broken, "cniVersion")
	}
	p.reject = rejected(p.stdin)
	// Whole-document damage.
	switch k := g.r.IntN(100); {
	case k < 5:
		p.stdin = p.stdin[:g.r.IntN(len(p.stdin))]
		p.broken["json"] = true
	case k < 8:
		p.stdin = g.bytes(g.r.IntN(300))
		p.broken["json"] = true
	case k < 11:
		p.stdin = []byte(g.pick("", " ", "null", "[]", "42", `"conf"`, "\ufeff{}", deep(20000), "{}{}"))
		p.broken["json"] = true
	case k < 14:
		i := g.r.IntN(len(p.stdin))
		p.stdin = append(append(append([]byte{}, p.stdin[:i]...), g.bytes(1+g.r.IntN(3))...), p.stdin[i:]...)
		p.broken["json"] = true
	}
}

// rejected are the keys of a configuration (a JSON object) whose values no command may accept: an unsupported
// or missing cniVersion; a timeoutSeconds that is not a number in (0, 3600]; an agentSocket that is not a string,
// or a relative one; a prevResult that is not an object.
func rejected(stdin []byte) map[string]bool {
	var c map[string]any
	out := map[string]bool{}
	if json.Unmarshal(stdin, &c) != nil {
		return out
	}
	if v, ok := c["cniVersion"].(string); !ok || !isSupported(v) {
		out["cniVersion"] = true
	}
	if t, present := c["timeoutSeconds"]; present {
		if n, ok := t.(float64); !ok || n <= 0 || n > 3600 {
			out["timeoutSeconds"] = true
		}
	}
	if s, present := c["agentSocket"]; present {
		if str, ok := s.(string); !ok || str != "" && !strings.HasPrefix(str, "/") {
			out["agentSocket"] = true
		}
	}
	if pr, present := c["prevResult"]; present {
		if _, ok := pr.(map[string]any); !ok {
			out["prevResult"] = true
		}
	}
	return out
}

// pick for values of any type.
func (g *fuzzGen) pickAny(xs ...any) any { return xs[g.r.IntN(len(xs))] }

func (g *fuzzGen) payload() payload {
	p := payload{broken: map[string]bool{}, clean: true}
	g.env(&p)
	g.stdin(&p)
	p.plan = g.plan()
	p.exec = &recordExec{}
	if g.chance(0.1) {
		p.exec.code = 2
	}
	if len(p.broken) > 0 || p.tiny || !p.plan.wellFormed || p.plan.badProgram {
		p.clean = false
	}
	switch p.env.Command {
	case "CHECK":
		p.clean = p.clean && CompareVersions(p.version, "0.4.0") >= 0
	case "STATUS", "GC":
		p.clean = p.clean && p.version == "1.1.0"
	}
	return p
}

// configKeys are the keys a configuration error may name.
var configKeys = []string{"cniVersion", "prevResult", "agentSocket", "timeoutSeconds"}

// checkOutput is the properties every invocation must have, whatever its input: an exit code of 0 or 1; on 1 a
// CNI error with a code and a message that says what is wrong; on 0 the stdout the command requires; nothing but
// allowed tools handed to the executor. It returns the CNI error (nil on success).
func checkOutput(e Env, out Output, ex *recordExec) (*CniError, error) {
	for _, steps := range ex.steps {
		if len(steps) == 0 {
			return nil, errors.New("the executor was asked to run an empty program")
		}
		for _, s := range steps {
			if !allowedTool.MatchString(s.Tool) {
				return nil, fmt.Errorf("the executor was asked to run %q", s.Tool)
			}
		}
	}
	switch out.ExitCode {
	case 0:
		switch e.Command {
		case "VERSION":
			var v struct {
				CniVersion        string   `json:"cniVersion"`
				SupportedVersions []string `json:"supportedVersions"`
			}
			if json.Unmarshal([]byte(out.Stdout), &v) != nil || !isSupported(v.CniVersion) || len(v.SupportedVersions) == 0 {
				return nil, fmt.Errorf("VERSION printed %q", clip(out.Stdout))
			}
		case "ADD":
			var r map[string]any
			if !strings.HasSuffix(out.Stdout, "\n") || json.Unmarshal([]byte(out.Stdout), &r) != nil {
				return nil, fmt.Errorf("ADD succeeded with stdout that is not a JSON object: %q", clip(out.Stdout))
			}
			if _, ok := r["cniVersion"]; !ok {
				return nil, fmt.Errorf("ADD's result has no cniVersion: %q", clip(out.Stdout))
			}
		default:
			if out.Stdout != "" {
				return nil, fmt.Errorf("%s succeeded with stdout %q (want nothing)", e.Command, clip(out.Stdout))
			}
		}
		return nil, nil
	case 1:
	default:
		return nil, fmt.Errorf("exit code %d", out.ExitCode)
	}
	var ce CniError
	dec := json.NewDecoder(strings.NewReader(out.Stdout))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&ce); err != nil || dec.More() || !strings.HasSuffix(out.Stdout, "\n") {
		return nil, fmt.Errorf("failed with stdout that is not one CNI error: %q", clip(out.Stdout))
	}
	if ce.Code < 1 || strings.TrimSpace(ce.Msg) == "" || ce.CniVersion == "" {
		return &ce, fmt.Errorf("a CNI error without a code, a message or a cniVersion: %q", clip(out.Stdout))
	}
	if strings.Contains(ce.Msg, "crashed") {
		return &ce, fmt.Errorf("the plugin crashed: %s", clip(ce.Msg))
	}
	if e.Command == "DEL" && ce.Code != codeIncompatibleVersion && ce.Code != codeDecodeFailed && ce.Code != codeInvalidConfig {
		return &ce, fmt.Errorf("DEL failed with code %d (only a configuration it cannot read may fail it): %s", ce.Code, clip(ce.Msg))
	}
	names := func(words ...string) bool {
		for _, w := range words {
			if strings.Contains(ce.Msg, w) {
				return true
			}
		}
		return false
	}
	var ok bool
	switch ce.Code {
	case codeIncompatibleVersion:
		ok = names("cniVersion")
	case codeInvalidEnv:
		ok = names("CNI_CONTAINERID", "CNI_NETNS", "CNI_IFNAME", "CNI_COMMAND")
	case codeDecodeFailed:
		ok = names("network configuration")
	case codeInvalidConfig:
		ok = names(configKeys...)
	case codeTryAgainLater, codePluginNotAvailable:
		ok = names("unreachable at ")
	default:
		ok = true // the agent's own code and message (checked against the plan where it is known)
	}
	if !ok {
		return &ce, fmt.Errorf("a code %d error whose message names no field: %s", ce.Code, clip(ce.Msg))
	}
	return &ce, nil
}

func clip(s string) string {
	if len(s) > 400 {
		return fmt.Sprintf("%s…(%d bytes)", s[:400], len(s))
	}
	return s
}

// checkPlanned: what the generator knows makes the outcome exact.
func checkPlanned(p payload, out Output, ce *CniError) error {
	if ce != nil && ce.Code == codeInvalidConfig && !p.broken["json"] { // damage may hit a key's name
		named := false
		for _, k := range configKeys {
			if p.broken[k] && strings.Contains(ce.Msg, k) {
				named = true
			}
		}
		if !named {
			return fmt.Errorf("a configuration error naming none of the keys broken (%v): %s", keys(p.broken), clip(ce.Msg))
		}
	}
	if ce != nil && ce.Code == codeDecodeFailed && !p.broken["json"] && !p.broken["timeoutSeconds"] {
		// Besides a damaged document, only a number JSON can write and float64 cannot hold fails to decode.
		return fmt.Errorf("a valid document could not be decoded: %s", clip(ce.Msg))
	}
	if len(p.reject) > 0 && !p.broken["json"] && p.env.Command != "VERSION" {
		named := false
		for k := range p.reject {
			named = named || ce != nil && strings.Contains(ce.Msg, k)
		}
		if out.ExitCode != 1 || ce == nil || (ce.Code != codeInvalidConfig && ce.Code != codeIncompatibleVersion) || !named {
			return fmt.Errorf("a configuration with unacceptable %v was not refused naming one of them: exit %d %q", keys(p.reject), out.ExitCode, clip(out.Stdout))
		}
	}
	if !p.clean {
		return nil
	}
	asked := p.env.Command == "STATUS" || (p.env.Command == "ADD" || p.env.Command == "CHECK") && p.pod
	want := 0
	if asked && !p.plan.ok {
		want = 1
	}
	if p.env.Command == "DEL" || p.env.Command == "GC" || p.env.Command == "VERSION" {
		want = 0
	}
	if out.ExitCode != want {
		return fmt.Errorf("a valid %s (pod: %v, agent ok: %v) exited %d, want %d: %q", p.env.Command, p.pod, p.plan.ok, out.ExitCode, want, clip(out.Stdout))
	}
	if want == 1 && (ce.Code != p.plan.code || ce.Msg != p.plan.msg) {
		return fmt.Errorf("the agent's refusal %d %q came out as %d %q", p.plan.code, clip(p.plan.msg), ce.Code, clip(ce.Msg))
	}
	if want == 0 && p.env.Command == "ADD" && !p.ownPrev {
		var got, prev map[string]any
		_ = json.Unmarshal([]byte(out.Stdout), &got)
		_ = json.Unmarshal([]byte(prevResult(p.version)), &prev)
		if fmt.Sprint(got) != fmt.Sprint(prev) {
			return fmt.Errorf("ADD printed %q, not prevResult", clip(out.Stdout))
		}
	}
	return nil
}

// checkConversation: a forbidden tool in a program comes back refused (code -1, naming it) unless an earlier
// step failed; never more results than steps.
func checkConversation(c conversation) error {
	for i, rep := range c.reports {
		if i >= len(c.programs) || c.programs[i] == nil {
			continue
		}
		steps := c.programs[i]
		if len(rep.Results) > len(steps) {
			return fmt.Errorf("program %d: %d results for %d steps", i, len(rep.Results), len(steps))
		}
		for j, s := range steps {
			if allowedTool.MatchString(s.Tool) {
				continue
			}
			failedBefore := false
			for _, r := range rep.Results[:min(j, len(rep.Results))] {
				failedBefore = failedBefore || r.Code != 0
			}
			if failedBefore {
				break
			}
			if len(rep.Results) != j+1 || rep.Results[j].Code != -1 || !strings.Contains(rep.Results[j].Stderr, "mizzen-cni runs only") {
				return fmt.Errorf("program %d: the forbidden tool %q of step %d was not refused: %+v", i, s.Tool, j, rep.Results)
			}
			break
		}
	}
	return nil
}

func keys(m map[string]bool) []string {
	out := []string{}
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func envInt(t *testing.T, name string, def uint64) uint64 {
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	n, err := strconv.ParseUint(v, 10, 64)
	if err != nil {
		t.Fatalf("%s=%q is not a non-negative integer", name, v)
	}
	return n
}

// safeRun is Run that turns a panic into an error (Run recovers its own, except on VERSION).
func safeRun(e Env, stdin []byte, deps Deps) (out Output, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("panic: %v", r)
		}
	}()
	return Run(e, stdin, deps), nil
}

func TestFuzzedPayloads(t *testing.T) {
	seed := envInt(t, "MIZZEN_FUZZ_SEED", defaultFuzzSeed)
	runs := int(envInt(t, "MIZZEN_FUZZ_RUNS", 10_000))
	t.Logf("seed %d, %d payloads (MIZZEN_FUZZ_SEED, MIZZEN_FUZZ_RUNS)", seed, runs)
	a := startFuzzAgent(t)
	saved := defaultSocket
	defaultSocket = filepath.Join(t.TempDir(), "default-missing.sock")
	t.Cleanup(func() { defaultSocket = saved })

	outcomes, answers := map[string]int{}, map[string]int{}
	conversations, refused, failures := 0, 0, 0
	fail := func(i int, p payload, format string, args ...any) {
		failures++
		t.Errorf("seed %d payload %d (rerun: MIZZEN_FUZZ_SEED=%d go test -run TestFuzzedPayloads): %s\n  env %q\n  stdin %q",
			seed, i, seed, fmt.Sprintf(format, args...), clip(fmt.Sprintf("%+v", p.env)), clip(string(p.stdin)))
		if failures >= 20 {
			t.Fatalf("seed %d: stopping after %d failures", seed, failures)
		}
	}
	checkConvs := func(wait time.Duration) {
		timer := time.After(wait)
		for {
			select {
			case c := <-a.convs:
				conversations++
				for _, rep := range c.reports {
					for _, r := range rep.Results {
						if strings.HasPrefix(r.Stderr, "mizzen-cni runs only") {
							refused++
						}
					}
				}
				if err := checkConversation(c); err != nil {
					t.Errorf("seed %d payload %d: %v", seed, c.payload, err)
				}
			case <-timer:
				return
			}
		}
	}
	start := time.Now()
	for i := range runs {
		g := &fuzzGen{r: rand.New(rand.NewPCG(seed, uint64(i))), socket: a.socket}
		p := g.payload()
		a.setPlan(i, p.plan)
		answers[p.plan.kind]++
		out, err := safeRun(p.env, p.stdin, Deps{Exec: p.exec.run})
		if err != nil {
			fail(i, p, "%v", err)
			continue
		}
		ce, err := checkOutput(p.env, out, p.exec)
		if err == nil {
			err = checkPlanned(p, out, ce)
		}
		if err != nil {
			fail(i, p, "%v", err)
		}
		key := "exit 0"
		if ce != nil {
			key = "code " + strconv.Itoa(ce.Code)
			if ce.Code >= 100 {
				key = "agent/plugin code ≥ 100"
			}
		}
		outcomes[key]++
		if p.clean {
			outcomes["(valid payloads)"]++
		}
		checkConvs(0)
	}
	checkConvs(50 * time.Millisecond)
	elapsed := time.Since(start)
	t.Logf("%d payloads in %.1f s (%.0f/s); outcomes %v", runs, elapsed.Seconds(), float64(runs)/elapsed.Seconds(), outcomes)
	t.Logf("agent: %d conversations checked, %d forbidden tools refused; answers planned %v", conversations, refused, answers)
	if runs >= 1000 && (outcomes["exit 0"] < runs/10 || outcomes["(valid payloads)"] < runs/10) {
		t.Errorf("seed %d: the generator is off: too few successes or valid payloads: %v", seed, outcomes)
	}
}

// FuzzRun: `go test -fuzz=FuzzRun` mutates the environment, the configuration and the agent's raw answer; plain
// `go test` runs the seeds. The agent's answer is written whole, then the stub closes its side.
func FuzzRun(f *testing.F) {
	var mu sync.Mutex
	var answer []byte
	a := startAgent(f, nil)
	a.talk = func(_ Request, c net.Conn, r *bufio.Reader) {
		mu.Lock()
		ans := answer
		mu.Unlock()
		_ = c.SetDeadline(time.Now().Add(10 * time.Second))
		_, _ = c.Write(ans)
		_ = c.(*net.UnixConn).CloseWrite()
		_, _ = r.WriteTo(io.Discard)
	}
	// A configuration without agentSocket reaches the stub too.
	saved := defaultSocket
	defaultSocket = a.socket
	f.Cleanup(func() { defaultSocket = saved })

	pod := "IgnoreUnknown=1;K8S_POD_NAMESPACE=shop;K8S_POD_NAME=web-1"
	plain := func(v string) []byte {
		return []byte(`{"cniVersion":"` + v + `","name":"n","type":"mizzen-cni","timeoutSeconds":5,"prevResult":` + prevResult(v) + `}`)
	}
	ok := string(mustMarshal(okAnswer)) + "\n"
	f.Add("ADD", "c0ffee", "/var/run/netns/cni-1", pod, plain("1.0.0"), []byte(ok))
	f.Add("ADD", "c0ffee", "/var/run/netns/cni-1", pod, plain("0.3.1"), []byte(`{"run":[{"tool":"iptables-restore","args":["--noflush"],"stdin":"*nat\nCOMMIT\n"},{"tool":"sh"}]}`+"\n"+ok))
	f.Add("CHECK", "c0ffee", "/var/run/netns/cni-1", pod, plain("0.4.0"), []byte(`{"ok":false}`+"\n"))
	f.Add("DEL", "c0ffee", "/var/run/netns/cni-1", pod, plain("1.1.0"), []byte(`{"run":"x"}`))
	f.Add("STATUS", "", "", "", plain("1.1.0"), []byte(`{"ok":"yes"}`+"\n"))
	f.Add("GC", "", "", "", plain("1.1.0"), []byte{})
	f.Add("VERSION", "", "", "", []byte(`{"cniVersion":"0.4.0"}`), []byte{})
	f.Add("ADD", "c\x00", "ns", "K8S_POD_NAMESPACE=a;K8S_POD_NAME=b", []byte(`{"cniVersion":"1.0.0","agentSocket":"rel.sock","prevResult":{}}`), []byte(ok))
	f.Add("ADD", "c", "ns", pod, []byte(`{"cniVersion":"1.0.0","timeoutSeconds":1e300,"prevResult":{}}`), []byte(ok))
	f.Add("FROB", "c", "ns", pod, []byte(`{nope`), []byte("garbage"))
	f.Fuzz(func(t *testing.T, command, containerID, netns, args string, stdin, agentAnswer []byte) {
		mu.Lock()
		answer = agentAnswer
		mu.Unlock()
		e := Env{Command: command, ContainerID: containerID, Netns: netns, IfName: "eth0", Args: args, Path: "/opt/cni/bin"}
		ex := &recordExec{}
		out, err := safeRun(e, stdin, Deps{Exec: ex.run})
		if err == nil {
			_, err = checkOutput(e, out, ex)
		}
		if err != nil {
			t.Fatalf("env %+v, stdin %q, agent %q: %v", e, clip(string(stdin)), clip(string(agentAnswer)), err)
		}
	})
}
