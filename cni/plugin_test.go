package main

import (
	"bufio"
	"encoding/json"
	"net"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

// stubAgent serves one connection per call of handle on a unix socket in a temp dir.
type stubAgent struct {
	socket   string
	requests []Request
	reports  []Report
	// script answers a request: programs to send (each answered by a report), then the final response.
	script func(Request) ([][]Step, map[string]any)
	// talk, when set, holds the rest of the conversation instead of script (raw lines, early close, ...).
	talk func(req Request, c net.Conn, r *bufio.Reader)
}

func startAgent(t testing.TB, script func(Request) ([][]Step, map[string]any)) *stubAgent {
	t.Helper()
	a := &stubAgent{socket: filepath.Join(t.TempDir(), "cni.sock"), script: script}
	l, err := net.Listen("unix", a.socket)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			a.serve(c)
		}
	}()
	return a
}

func (a *stubAgent) serve(c net.Conn) {
	defer c.Close()
	r := bufio.NewReader(c)
	line, err := r.ReadBytes('\n')
	if err != nil {
		return
	}
	var req Request
	_ = json.Unmarshal(line, &req)
	if a.talk != nil {
		a.talk(req, c, r)
		return
	}
	a.requests = append(a.requests, req)
	programs, final := a.script(req)
	for _, p := range programs {
		b, _ := json.Marshal(map[string]any{"run": p})
		_, _ = c.Write(append(b, '\n'))
		line, err := r.ReadBytes('\n')
		if err != nil {
			return
		}
		var rep Report
		_ = json.Unmarshal(line, &rep)
		a.reports = append(a.reports, rep)
	}
	if final != nil {
		b, _ := json.Marshal(final)
		_, _ = c.Write(append(b, '\n'))
	}
}

var okAnswer = map[string]any{"ok": true, "redirected": true, "reason": "sidecar", "message": "ok", "spawns": 1}

func prevResult(v string) string {
	return `{"cniVersion":"` + v + `","interfaces":[{"name":"eth0"}],"ips":[{"address":"10.244.0.2/24","gateway":"10.244.0.1","interface":0}]}`
}

func conf(v, socket string, extra string) []byte {
	return []byte(`{"cniVersion":"` + v + `","name":"k8s-pod-network","type":"mizzen-cni","agentSocket":"` + socket + `","prevResult":` + prevResult(v) + extra + `}`)
}

func env(cmd string) Env {
	return Env{Command: cmd, ContainerID: "c0ffee", Netns: "/var/run/netns/cni-1", IfName: "eth0", Path: "/opt/cni/bin",
		Args: "IgnoreUnknown=1;K8S_POD_NAMESPACE=shop;K8S_POD_NAME=web-1;K8S_POD_UID=uid-1"}
}

// recordExec is an Executor that records what it was asked to run and answers with code 0.
type recordExec struct {
	netns []string
	steps [][]Step
	code  int
}

func (r *recordExec) run(netns string, steps []Step) []StepResult {
	r.netns = append(r.netns, netns)
	r.steps = append(r.steps, steps)
	out := []StepResult{}
	for range steps {
		out = append(out, StepResult{Code: r.code, Stderr: map[bool]string{true: "", false: "iptables-restore: line 2 failed"}[r.code == 0]})
		if r.code != 0 {
			break
		}
	}
	return out
}

func cniErr(t *testing.T, out Output) CniError {
	t.Helper()
	var e CniError
	if err := json.Unmarshal([]byte(out.Stdout), &e); err != nil {
		t.Fatalf("stdout is not a CNI error: %q", out.Stdout)
	}
	if out.ExitCode != 1 {
		t.Fatalf("exit code %d for an error", out.ExitCode)
	}
	return e
}

func TestVersion(t *testing.T) {
	for _, tc := range []struct{ stdin, want string }{
		{`{"cniVersion":"0.4.0"}`, "0.4.0"},
		{`{"cniVersion":"9.9.9"}`, "1.1.0"},
		{``, "1.1.0"},
		{`{nope`, "1.1.0"},
	} {
		out := Run(Env{Command: "VERSION"}, []byte(tc.stdin), Deps{})
		want := `{"cniVersion":"` + tc.want + `","supportedVersions":["0.3.1","0.4.0","1.0.0","1.1.0"]}` + "\n"
		if out.Stdout != want || out.ExitCode != 0 {
			t.Errorf("VERSION %q: got %q", tc.stdin, out.Stdout)
		}
	}
}

func TestAddAsksOnceAndPrintsPrevResult(t *testing.T) {
	for _, v := range SupportedVersions {
		a := startAgent(t, func(Request) ([][]Step, map[string]any) { return nil, okAnswer })
		ex := &recordExec{}
		out := Run(env("ADD"), conf(v, a.socket, ""), Deps{Exec: ex.run})
		if out.ExitCode != 0 || out.Stdout != prevResult(v)+"\n" {
			t.Fatalf("%s: got %d %q", v, out.ExitCode, out.Stdout)
		}
		want := []Request{{Command: "ADD", CniVersion: v, ContainerID: "c0ffee", Netns: "/var/run/netns/cni-1", IfName: "eth0",
			Pod: &PodRef{Namespace: "shop", Name: "web-1", UID: "uid-1"}, IPs: []string{"10.244.0.2/24"}, Network: "k8s-pod-network", Exec: true, Netlink: true}}
		if !reflect.DeepEqual(a.requests, want) {
			t.Errorf("%s: requests %+v", v, a.requests)
		}
		if len(ex.steps) != 0 {
			t.Errorf("%s: ran %v without a program", v, ex.steps)
		}
	}
}

func TestAddRunsTheProgramInThePodNetnsAndReports(t *testing.T) {
	prog := []Step{{Family: "v4", Tool: "iptables-restore", Args: []string{"--noflush", "--wait"}, Stdin: "*nat\nCOMMIT\n"}}
	a := startAgent(t, func(Request) ([][]Step, map[string]any) { return [][]Step{prog}, okAnswer })
	ex := &recordExec{}
	out := Run(env("ADD"), conf("1.0.0", a.socket, ""), Deps{Exec: ex.run})
	if out.ExitCode != 0 {
		t.Fatalf("got %q", out.Stdout)
	}
	if !reflect.DeepEqual(ex.netns, []string{"/var/run/netns/cni-1"}) || !reflect.DeepEqual(ex.steps, [][]Step{prog}) {
		t.Errorf("ran %v in %v", ex.steps, ex.netns)
	}
	if !reflect.DeepEqual(a.reports, []Report{{Results: []StepResult{{Code: 0}}}}) {
		t.Errorf("reports %+v", a.reports)
	}
}

func TestAddFailsWithTheAgentsVerdictOnAFailedProgram(t *testing.T) {
	prog := []Step{{Family: "v4", Tool: "iptables-restore", Args: []string{"--noflush", "--wait"}}, {Family: "v6", Tool: "ip6tables-restore"}}
	var agent *stubAgent
	agent = startAgent(t, func(Request) ([][]Step, map[string]any) { return [][]Step{prog}, nil })
	agent.script = func(Request) ([][]Step, map[string]any) {
		return [][]Step{prog}, map[string]any{"ok": false, "code": 101, "msg": "mizzen agent could not program pod shop/web-1: iptables-restore --noflush --wait failed (exit 2): iptables-restore: line 2 failed"}
	}
	ex := &recordExec{code: 2}
	e := cniErr(t, Run(env("ADD"), conf("1.0.0", agent.socket, ""), Deps{Exec: ex.run}))
	if e.Code != 101 || !strings.HasSuffix(e.Msg, "iptables-restore: line 2 failed") {
		t.Errorf("got %+v", e)
	}
	if len(agent.reports) != 1 || len(agent.reports[0].Results) != 1 || agent.reports[0].Results[0].Code != 2 {
		t.Errorf("reports %+v: want one result, the failed one", agent.reports)
	}
}

func TestUnreachableAgent(t *testing.T) {
	dir := t.TempDir()
	sock := filepath.Join(dir, "nobody.sock")
	e := cniErr(t, Run(env("ADD"), conf("1.0.0", sock, ""), Deps{}))
	want := "mizzen-cni cannot program pod traffic redirection: the mizzen node agent is unreachable at " + sock + " (connect ENOENT); is the istio-cni-node pod running and ready on this node?"
	if e.Code != 11 || e.Msg != want || e.CniVersion != "1.0.0" {
		t.Errorf("got %+v", e)
	}
	e = cniErr(t, Run(env("STATUS"), conf("1.1.0", sock, ""), Deps{}))
	if e.Code != 50 || !strings.HasPrefix(e.Msg, "mizzen-cni is not available: the mizzen node agent is unreachable at ") {
		t.Errorf("STATUS: got %+v", e)
	}
	// DEL never fails; the problem goes to stderr.
	out := Run(env("DEL"), conf("1.0.0", sock, ""), Deps{})
	if out.ExitCode != 0 || out.Stdout != "" || !strings.HasPrefix(out.Stderr, "mizzen-cni: DEL did not clean /var/run/netns/cni-1: mizzen-cni cannot program") {
		t.Errorf("DEL: got %+v", out)
	}
}

func TestSilentAgentTimesOut(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "silent.sock")
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	go func() {
		c, err := l.Accept()
		if err == nil {
			time.Sleep(2 * time.Second)
			c.Close()
		}
	}()
	e := cniErr(t, Run(env("ADD"), conf("1.0.0", sock, `,"timeoutSeconds":0.2`), Deps{}))
	if e.Code != 11 || !strings.Contains(e.Msg, "(no answer within 0.2s)") {
		t.Errorf("got %+v", e)
	}
}

func TestAgentClosingWithoutAnswer(t *testing.T) {
	a := startAgent(t, func(Request) ([][]Step, map[string]any) { return nil, nil })
	e := cniErr(t, Run(env("CHECK"), conf("1.0.0", a.socket, ""), Deps{}))
	if e.Code != 11 || !strings.Contains(e.Msg, "(the agent closed the connection without an answer)") {
		t.Errorf("got %+v", e)
	}
}

func TestAgentRefusalPassesThrough(t *testing.T) {
	msg := `pod shop/web-1 has an invalid annotation traffic.sidecar.istio.io/excludeInboundPorts: "x" is not a port (1-65535)`
	a := startAgent(t, func(Request) ([][]Step, map[string]any) {
		return nil, map[string]any{"ok": false, "code": 100, "msg": msg}
	})
	out := Run(env("ADD"), conf("1.0.0", a.socket, ""), Deps{})
	want := `{"cniVersion":"1.0.0","code":100,"msg":` + mustJSON(msg) + "}\n"
	if out.Stdout != want || out.ExitCode != 1 {
		t.Errorf("got %q", out.Stdout)
	}
}

func mustJSON(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

func TestConfigurationAndEnvironmentErrors(t *testing.T) {
	a := startAgent(t, func(Request) ([][]Step, map[string]any) { return nil, okAnswer })
	cases := []struct {
		name  string
		env   Env
		stdin string
		code  int
		msg   string
	}{
		{"undecodable", env("ADD"), `{nope`, 6, "mizzen-cni could not decode its network configuration"},
		{"not an object", env("ADD"), `[1]`, 6, "mizzen-cni: the network configuration is not a JSON object"},
		{"prevResult not an object", env("ADD"), `{"cniVersion":"1.0.0","prevResult":3}`, 7, "mizzen-cni: prevResult must be an object"},
		{"agentSocket not a string", env("ADD"), `{"cniVersion":"1.0.0","agentSocket":1}`, 7, "mizzen-cni: agentSocket must be a string"},
		{"bad timeout", env("ADD"), `{"cniVersion":"1.0.0","timeoutSeconds":0}`, 7, "mizzen-cni: timeoutSeconds must be a positive number"},
		// Beyond ~9.2e9 s the timeout used to overflow into a negative one: every command failed at once.
		{"huge timeout", env("ADD"), `{"cniVersion":"1.0.0","timeoutSeconds":1e300}`, 7, "mizzen-cni: timeoutSeconds must be at most 3600, not 1e+300"},
		{"relative socket", env("ADD"), `{"cniVersion":"1.0.0","agentSocket":"../run/cni.sock"}`, 7, `mizzen-cni: agentSocket must be an absolute path, not "../run/cni.sock"`},
		{"long version", env("ADD"), `{"cniVersion":"` + strings.Repeat("9", 300) + `"}`, 1, `mizzen-cni does not support cniVersion "` + strings.Repeat("9", 255) + `… (302 bytes); it supports 0.3.1, 0.4.0, 1.0.0, 1.1.0`},
		{"old version", env("ADD"), `{"cniVersion":"0.2.0"}`, 1, `mizzen-cni does not support cniVersion "0.2.0"; it supports 0.3.1, 0.4.0, 1.0.0, 1.1.0`},
		{"no version", env("ADD"), `{}`, 1, `mizzen-cni does not support cniVersion undefined; it supports 0.3.1, 0.4.0, 1.0.0, 1.1.0`},
		{"unchained", env("ADD"), `{"cniVersion":"1.0.0","agentSocket":"` + a.socket + `"}`, 7, "mizzen-cni must run chained after the primary CNI plugin: its configuration has no prevResult"},
		{"no netns", func() Env { e := env("ADD"); e.Netns = ""; return e }(), string(conf("1.0.0", a.socket, "")), 4, "mizzen-cni: CNI_NETNS must be set"},
		{"nothing set", Env{Command: "ADD"}, string(conf("1.0.0", a.socket, "")), 4, "mizzen-cni: CNI_CONTAINERID, CNI_NETNS, CNI_IFNAME must be set"},
		{"unknown command", env("FROB"), string(conf("1.0.0", a.socket, "")), 4, `mizzen-cni: unknown CNI_COMMAND "FROB" (VERSION, ADD, CHECK, DEL, STATUS, GC)`},
		{"CHECK 0.3.1", env("CHECK"), string(conf("0.3.1", a.socket, "")), 1, "mizzen-cni: CHECK is not defined for cniVersion 0.3.1 (0.4.0 or later)"},
		{"CHECK unchained", env("CHECK"), `{"cniVersion":"1.0.0"}`, 7, "mizzen-cni: CHECK needs prevResult"},
		{"STATUS 1.0.0", env("STATUS"), string(conf("1.0.0", a.socket, "")), 1, "mizzen-cni: STATUS is not defined for cniVersion 1.0.0 (1.1.0 or later)"},
		{"GC 1.0.0", env("GC"), string(conf("1.0.0", a.socket, "")), 1, "mizzen-cni: GC is not defined for cniVersion 1.0.0"},
	}
	for _, tc := range cases {
		e := cniErr(t, Run(tc.env, []byte(tc.stdin), Deps{}))
		if e.Code != tc.code || e.Msg != tc.msg {
			t.Errorf("%s: got %d %q, want %d %q", tc.name, e.Code, e.Msg, tc.code, tc.msg)
		}
	}
	if len(a.requests) != 0 {
		t.Errorf("asked the agent %d times", len(a.requests))
	}
}

func TestCommandsThatSucceedQuietly(t *testing.T) {
	a := startAgent(t, func(Request) ([][]Step, map[string]any) { return nil, okAnswer })
	for _, cmd := range []string{"CHECK", "DEL", "STATUS", "GC"} {
		out := Run(env(cmd), conf("1.1.0", a.socket, ""), Deps{})
		if out.ExitCode != 0 || out.Stdout != "" || out.Stderr != "" {
			t.Errorf("%s: got %+v", cmd, out)
		}
	}
	var cmds []string
	for _, r := range a.requests {
		cmds = append(cmds, r.Command)
	}
	if !reflect.DeepEqual(cmds, []string{"CHECK", "DEL", "STATUS"}) {
		t.Errorf("asked %v", cmds)
	}
	if a.requests[2].Pod != nil {
		t.Errorf("STATUS named a pod")
	}
	// A sandbox that is not a Kubernetes pod: ADD passes prevResult through without asking.
	e := env("ADD")
	e.Args = "IgnoreUnknown=1"
	out := Run(e, conf("1.0.0", a.socket, ""), Deps{})
	if out.ExitCode != 0 || out.Stdout != prevResult("1.0.0")+"\n" || len(a.requests) != 3 {
		t.Errorf("non-Kubernetes ADD: %+v", out)
	}
	// DEL without a netns has nothing to clean.
	e = env("DEL")
	e.Netns = ""
	if out := Run(e, conf("1.0.0", a.socket, ""), Deps{}); out.ExitCode != 0 || len(a.requests) != 3 {
		t.Errorf("DEL without netns: %+v", out)
	}
}

func TestForbiddenToolsNeverReachTheExecutor(t *testing.T) {
	prog := []Step{{Tool: "ip", Args: []string{"-V"}}, {Tool: "../ip"}, {Tool: "nft"}}
	a := startAgent(t, func(Request) ([][]Step, map[string]any) { return [][]Step{prog, {{Tool: "sh"}}, {}}, okAnswer })
	ex := &recordExec{}
	if out := Run(env("ADD"), conf("1.0.0", a.socket, ""), Deps{Exec: ex.run}); out.ExitCode != 0 {
		t.Fatalf("got %+v", out)
	}
	// The executor ran the step before the forbidden one, and nothing for a forbidden or an empty program.
	if !reflect.DeepEqual(ex.steps, [][]Step{prog[:1]}) {
		t.Errorf("the executor was asked to run %+v", ex.steps)
	}
	want := []Report{
		{Results: []StepResult{{Code: 0}, {Code: -1, Stderr: `mizzen-cni runs only iptables, ip6tables, ip and nft programs, not "../ip"`}}},
		{Results: []StepResult{{Code: -1, Stderr: `mizzen-cni runs only iptables, ip6tables, ip and nft programs, not "sh"`}}},
		{Results: []StepResult{}},
	}
	if !reflect.DeepEqual(a.reports, want) {
		t.Errorf("reports %+v", a.reports)
	}
}

func TestARefusalWithoutCodeOrMessageStillSaysWhat(t *testing.T) {
	for _, answer := range []map[string]any{{"ok": false}, {"ok": false, "code": 0, "msg": " "}, {"ok": false, "code": -3}} {
		a := startAgent(t, func(Request) ([][]Step, map[string]any) { return nil, answer })
		e := cniErr(t, Run(env("CHECK"), conf("1.0.0", a.socket, ""), Deps{}))
		want := "mizzen-cni: the mizzen node agent at " + a.socket + " refused CHECK without saying why"
		if e.Code != 101 || !strings.HasPrefix(e.Msg, want) {
			t.Errorf("%v: got %+v", answer, e)
		}
	}
	a := startAgent(t, func(Request) ([][]Step, map[string]any) { return nil, map[string]any{"ok": "yes"} })
	e := cniErr(t, Run(env("ADD"), conf("1.0.0", a.socket, ""), Deps{}))
	if e.Code != 11 || !strings.Contains(e.Msg, "(the agent's answer is neither a program nor a result: json: cannot unmarshal") {
		t.Errorf("ok: \"yes\": got %+v", e)
	}
}

func TestDelReportsALeftoverWithoutFailing(t *testing.T) {
	a := startAgent(t, func(Request) ([][]Step, map[string]any) {
		return nil, map[string]any{"ok": false, "code": 101, "msg": "boom"}
	})
	out := Run(env("DEL"), conf("1.0.0", a.socket, ""), Deps{})
	if out.ExitCode != 0 || out.Stderr != "mizzen-cni: DEL left rules in /var/run/netns/cni-1: boom\n" {
		t.Errorf("got %+v", out)
	}
}

func TestPrevResultWithoutVersionGetsTheConfs(t *testing.T) {
	e := env("ADD")
	e.Args = ""
	out := Run(e, []byte(`{"cniVersion":"1.0.0","prevResult":{ "ips": [] }}`), Deps{})
	if out.Stdout != `{"cniVersion":"1.0.0","ips":[]}`+"\n" {
		t.Errorf("got %q", out.Stdout)
	}
	out = Run(e, []byte(`{"cniVersion":"1.0.0","prevResult":{}}`), Deps{})
	if out.Stdout != `{"cniVersion":"1.0.0"}`+"\n" {
		t.Errorf("got %q", out.Stdout)
	}
}

func TestArgumentParsing(t *testing.T) {
	if p := PodFromArgs("IgnoreUnknown=1;K8S_POD_NAMESPACE=a;K8S_POD_NAME=b"); !reflect.DeepEqual(p, &PodRef{Namespace: "a", Name: "b"}) {
		t.Errorf("got %+v", p)
	}
	if p := PodFromArgs("K8S_POD_NAMESPACE=a"); p != nil {
		t.Errorf("got %+v", p)
	}
	if m := ParseCniArgs("A=1;broken;B=x=y;=z"); !reflect.DeepEqual(m, map[string]string{"A": "1", "B": "x=y"}) {
		t.Errorf("got %v", m)
	}
	got := ResultAddresses(json.RawMessage(`{"ips":[{"address":"10.0.0.2/24"},{"address":"fd00::2/64"},{}]}`))
	if !reflect.DeepEqual(got, []string{"10.0.0.2/24", "fd00::2/64"}) {
		t.Errorf("got %v", got)
	}
	if got := ResultAddresses(nil); len(got) != 0 {
		t.Errorf("got %v", got)
	}
	for _, tc := range []struct {
		a, b string
		want int
	}{{"0.3.1", "0.4.0", -1}, {"1.0.0", "0.4.0", 1}, {"1.1.0", "1.1.0", 0}, {"1.10.0", "1.9.0", 1}} {
		if got := CompareVersions(tc.a, tc.b); got != tc.want {
			t.Errorf("CompareVersions(%s, %s) = %d", tc.a, tc.b, got)
		}
	}
}

func TestRunStepsRunsOnlyAllowedToolsAndStopsAtTheFirstFailure(t *testing.T) {
	res := RunSteps([]Step{{Family: "v4", Tool: "ip", Args: []string{"-V"}}, {Family: "v4", Tool: "sh", Args: []string{"-c", "true"}}, {Family: "v4", Tool: "ip", Args: []string{"-V"}}})
	if len(res) != 2 {
		t.Fatalf("got %+v", res)
	}
	if res[0].Code != 0 || !strings.HasPrefix(res[0].Stdout, "ip utility") {
		t.Errorf("ip -V: %+v", res[0])
	}
	if res[1].Code != -1 || res[1].Stderr != `mizzen-cni runs only iptables, ip6tables, ip and nft programs, not "sh"` {
		t.Errorf("sh: %+v", res[1])
	}
	// A failing allowed tool: its exit code and stderr.
	res = RunSteps([]Step{{Family: "v4", Tool: "ip", Args: []string{"-4", "-batch", "-"}, Stdin: "frobnicate\n"}})
	if len(res) != 1 || res[0].Code == 0 || res[0].Stderr == "" {
		t.Errorf("ip -batch frobnicate: %+v", res)
	}
	for _, tool := range []string{"iptables-restore", "ip6tables-legacy-save", "iptables-nft-restore", "nft", "ip"} {
		if !allowedTool.MatchString(tool) {
			t.Errorf("%s not allowed", tool)
		}
	}
	for _, tool := range []string{"/sbin/iptables-restore", "iptables", "ipx", "nft2", "../ip"} {
		if allowedTool.MatchString(tool) {
			t.Errorf("%s allowed", tool)
		}
	}
}

func TestEnteringANetnsThatIsNotOne(t *testing.T) {
	res := RunInNetns(filepath.Join(t.TempDir(), "missing"), []Step{{Tool: "ip", Args: []string{"-V"}}})
	if len(res) != 1 || res[0].Code != -1 || !strings.HasPrefix(res[0].Stderr, "mizzen-cni could not enter the network namespace ") {
		t.Errorf("got %+v", res)
	}
}
