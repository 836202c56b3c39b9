package main

// The plugin's own JSON against encoding/json: every decoder and encoder of jsonlite.go is compared with what
// the plugin did with encoding/json before (the reference functions below are that code), over hand-written
// edge cases and generated documents (seeded, printed), and as FuzzJSONLite for `go test -fuzz`.

import (
	"bytes"
	"encoding/json"
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"
)

// --- encoding/json references (the plugin's code before jsonlite) ---

func refValid(b []byte) bool { return json.Valid(b) }

func refQuote(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

func refCompact(b []byte) []byte {
	var buf bytes.Buffer
	if json.Compact(&buf, b) != nil {
		return nil
	}
	return buf.Bytes()
}

func refResultAddresses(prevResult []byte) []string {
	out := []string{}
	var r struct {
		IPs []struct {
			Address any `json:"address"`
		} `json:"ips"`
	}
	if len(prevResult) == 0 || json.Unmarshal(prevResult, &r) != nil {
		return out
	}
	for _, ip := range r.IPs {
		if s, ok := ip.Address.(string); ok {
			out = append(out, s)
		}
	}
	return out
}

func refVersion(stdin []byte) string {
	var doc struct {
		CniVersion any `json:"cniVersion"`
	}
	if len(bytes.TrimSpace(stdin)) == 0 || json.Unmarshal(stdin, &doc) != nil {
		doc.CniVersion = nil
	}
	v, _ := doc.CniVersion.(string)
	if !isSupported(v) {
		v = latestVersion()
	}
	b, _ := json.Marshal(map[string]any{"cniVersion": v, "supportedVersions": SupportedVersions})
	return string(b) + "\n"
}

// refNetConf is parseNetConf with encoding/json: what it accepts and the fields it reads.
func refNetConf(stdin []byte) (conf netConf, code int) {
	var doc any
	if err := json.Unmarshal(stdin, &doc); err != nil {
		return netConf{}, codeDecodeFailed
	}
	obj, ok := doc.(map[string]any)
	if !ok {
		return netConf{}, codeDecodeFailed
	}
	var raw map[string]json.RawMessage
	_ = json.Unmarshal(stdin, &raw)
	if v, ok := obj["cniVersion"].(string); ok {
		conf.CniVersion = v
	}
	if v, ok := obj["name"].(string); ok {
		conf.Name = v
	}
	if p, present := obj["prevResult"]; present {
		if _, isObj := p.(map[string]any); !isObj {
			return conf, codeInvalidConfig
		}
		conf.PrevResult = raw["prevResult"]
	}
	if s, present := obj["agentSocket"]; present {
		str, ok := s.(string)
		if !ok || str != "" && !strings.HasPrefix(str, "/") {
			return conf, codeInvalidConfig
		}
		conf.AgentSocket = str
	}
	if t, present := obj["timeoutSeconds"]; present {
		n, ok := t.(float64)
		if !ok || !(n > 0) || n > maxTimeoutSeconds {
			return conf, codeInvalidConfig
		}
		conf.TimeoutSeconds = n
	}
	return conf, 0
}

type refMessage struct {
	Run json.RawMessage `json:"run"`
	OK  *bool           `json:"ok"`
}

// refAnswer is what Exchange made of one line from the agent with encoding/json: "invalid", "type" (valid JSON
// of the wrong shape), "neither", "badProgram", a program, or a final response.
func refAnswer(line []byte) (kind string, steps []Step, res Response) {
	var m refMessage
	if err := json.Unmarshal(line, &m); err != nil {
		if json.Valid(line) {
			return "type", nil, Response{}
		}
		return "invalid", nil, Response{}
	}
	if m.Run != nil && m.OK == nil {
		if err := json.Unmarshal(m.Run, &steps); err != nil {
			return "badProgram", nil, Response{}
		}
		return "program", steps, Response{}
	}
	if m.OK == nil {
		return "neither", nil, Response{}
	}
	_ = json.Unmarshal(line, &res)
	return "response", nil, res
}

func liteAnswer(line []byte) (kind string, steps []Step, res Response) {
	m, doc, err := decodeMessage(line)
	if err != nil {
		if doc != nil {
			return "type", nil, Response{}
		}
		return "invalid", nil, Response{}
	}
	if m.Run != nil && m.OK == nil {
		steps, err := decodeSteps(m.Run)
		if err != nil {
			return "badProgram", nil, Response{}
		}
		return "program", steps, Response{}
	}
	if m.OK == nil {
		return "neither", nil, Response{}
	}
	return "response", nil, decodeResponse(doc)
}

// --- the comparison ---

func compareJSON(t *testing.T, in []byte) {
	t.Helper()
	doc, err := parseJSON(in)
	if (err == nil) != refValid(in) {
		t.Fatalf("%q: parseJSON error %v, json.Valid %v", in, err, refValid(in))
	}
	if err == nil {
		if got, want := compactJSON(doc.raw), refCompact(in); !bytes.Equal(got, want) {
			t.Fatalf("%q: compact %q, want %q", in, got, want)
		}
		if doc.kind == jsonString {
			var s string
			_ = json.Unmarshal(in, &s)
			if doc.str != s {
				t.Fatalf("%q: string %q, want %q", in, doc.str, s)
			}
			if got, want := jsonQuote(s), refQuote(s); got != want {
				t.Fatalf("quote %q: %s, want %s", s, got, want)
			}
		}
	}
	if got, want := ResultAddresses(in), refResultAddresses(in); !reflect.DeepEqual(got, want) {
		t.Fatalf("%q: ResultAddresses %q, want %q", in, got, want)
	}
	if got, want := versionOutput(in).Stdout, refVersion(in); got != want {
		t.Fatalf("%q: VERSION %q, want %q", in, got, want)
	}
	conf, e := parseNetConf(in)
	wantConf, wantCode := refNetConf(in)
	code := 0
	if e != nil {
		code = e.code
	}
	if code != wantCode || conf.CniVersion != wantConf.CniVersion || conf.Name != wantConf.Name || conf.AgentSocket != wantConf.AgentSocket ||
		conf.TimeoutSeconds != wantConf.TimeoutSeconds || !bytes.Equal(conf.PrevResult, wantConf.PrevResult) {
		t.Fatalf("%q: parseNetConf %+v code %d, want %+v code %d", in, conf, code, wantConf, wantCode)
	}
	gk, gs, gr := liteAnswer(in)
	wk, ws, wr := refAnswer(in)
	if gk != wk || !reflect.DeepEqual(gs, ws) || gr != wr {
		t.Fatalf("%q: answer %s %#v %+v, want %s %#v %+v", in, gk, gs, gr, wk, ws, wr)
	}
}

var jsonCases = []string{
	``, ` `, `null`, `true`, `false`, `0`, `-0`, `1.5e3`, `1e400`, `-`, `01`, `1.`, `.5`, `1e`, `1e+`, `"a"`, `"\u00e9\ud83d\ude00"`,
	`"\ud800"`, `"\udc00x"`, `"\ud800\u0041"`, `"\ud800\udbff"`, `"\uZZZZ"`, `"\x"`, "\"\x01\"", "\"\xff\xfe\"", `"<&>` + "\u2028\u2029" + `"`,
	`[]`, `[1,]`, `[,1]`, `{}`, `{"a":1,}`, `{"a" 1}`, `{a:1}`, `{"a":1}{}`, `[1] x`, " {\"a\" : [ 1 , \"x y\" ] }\n",
	`{"cniVersion":"1.0.0"}`, `{"CNIVERSION":"1.0.0"}`, `{"cniVersion":"1.0.0","cniVersion":"0.4.0"}`, `{"cniVersion":1}`,
	`{"cniVersion":"1.0.0","x":1e999}`, `["1.0.0"]`,
	`{"cniVersion":"1.0.0","name":"n","prevResult":{"cniVersion":"1.0.0","ips":[{"address":"10.0.0.2/24"},{"address":"fd00::2/64"},{}]}}`,
	`{"prevResult":null}`, `{"prevResult":[]}`, `{"prevResult":{"ips":{"address":"x"}}}`, `{"prevResult":{"ips":[1]}}`,
	`{"ips":[{"address":"a"},null,{"Address":"b"},{"ADDRESS":1e500}]}`, `{"IPS":[{"address":"a"}]}`, `{"ips":null}`, `{"ips":[{"address":["x",1]}]}`,
	`{"agentSocket":"/run/x.sock"}`, `{"agentSocket":"rel"}`, `{"agentSocket":""}`, `{"agentSocket":null}`, `{"agentSocket":5}`,
	`{"timeoutSeconds":0}`, `{"timeoutSeconds":-1}`, `{"timeoutSeconds":"5"}`, `{"timeoutSeconds":3600}`, `{"timeoutSeconds":3600.5}`, `{"timeoutSeconds":1e-300}`,
	`{"run":[{"family":"v4","tool":"iptables-restore","args":["--noflush","--wait"],"stdin":"*nat\nCOMMIT\n"}]}`,
	`{"run":null}`, `{"run":[]}`, `{"run":[null]}`, `{"run":{}}`, `{"run":"x"}`, `{"run":[1]}`, `{"run":[{"tool":1}]}`, `{"run":[{"args":"x"}]}`,
	`{"run":[{"args":[null,"a"]}]}`, `{"run":[{"args":[1]}]}`, `{"Run":[{"Tool":"ip"}]}`, `{"run":[],"ok":null}`, `{"run":[],"ok":true}`,
	`{"ok":true}`, `{"ok":false,"code":7,"msg":"m","details":"d"}`, `{"ok":"yes"}`, `{"ok":1}`, `{"ok":false,"code":1.5,"msg":2}`,
	`{"ok":false,"code":1e2}`, `{"ok":false,"code":99999999999999999999}`, `{"ok":false,"code":-3,"msg":null}`, `{"OK":true,"Msg":"x"}`,
	`{"ok":true,"ok":null}`, `[{"ok":true}]`, `"ok"`, `{"a":{"b":{"c":[[[]]]}}}`,
}

func TestJSONLiteMatchesEncodingJSON(t *testing.T) {
	for _, c := range jsonCases {
		compareJSON(t, []byte(c))
	}
}

// genJSON makes a JSON-ish document: mostly valid, with the plugin's keys, sometimes broken by a mutation.
func genJSON(r *rand.Rand, depth int) string {
	keys := []string{"cniVersion", "name", "prevResult", "agentSocket", "timeoutSeconds", "ips", "address", "run", "ok", "code", "msg",
		"details", "tool", "args", "stdin", "family", "OK", "Tool", "x"}
	atoms := []string{`null`, `true`, `false`, `0`, `-1`, `7`, `2.5`, `1e3`, `1e400`, `-0.0`, `"1.0.0"`, `"0.4.0"`, `"/run/s"`, `"rel"`,
		`"iptables-restore"`, `"10.0.0.2/24"`, `"a\"b\\c\n"`, `"\u00e9"`, `"\ud800"`, `"<&>"`, `""`}
	if depth > 3 {
		return atoms[r.IntN(len(atoms))]
	}
	switch r.IntN(4) {
	case 0:
		return atoms[r.IntN(len(atoms))]
	case 1:
		n := r.IntN(4)
		parts := make([]string, n)
		for i := range parts {
			parts[i] = genJSON(r, depth+1)
		}
		return "[" + strings.Join(parts, ",") + "]"
	default:
		n := r.IntN(5)
		parts := make([]string, n)
		for i := range parts {
			parts[i] = `"` + keys[r.IntN(len(keys))] + `":` + []string{"", " ", "\n"}[r.IntN(3)] + genJSON(r, depth+1)
		}
		return "{" + strings.Join(parts, ",") + "}"
	}
}

func mutate(r *rand.Rand, s string) string {
	if s == "" || r.IntN(3) > 0 {
		return s
	}
	b := []byte(s)
	i := r.IntN(len(b))
	switch r.IntN(4) {
	case 0:
		return string(b[:i])
	case 1:
		return string(append(b[:i:i], b[i+1:]...))
	case 2:
		const chars = "{}[],:\"\\ x0-e\xff"
		b[i] = chars[r.IntN(len(chars))]
		return string(b)
	default:
		return string(b[:i]) + genJSON(r, 2) + string(b[i:])
	}
}

func TestJSONLiteMatchesEncodingJSONOnGeneratedDocuments(t *testing.T) {
	const seed = 20261201
	r := rand.New(rand.NewPCG(seed, seed))
	for i := 0; i < 20000; i++ {
		in := mutate(r, genJSON(r, 0))
		if t.Failed() {
			t.Fatalf("seed %d document %d", seed, i)
		}
		compareJSON(t, []byte(in))
	}
}

func TestJSONLiteEncodesLikeEncodingJSON(t *testing.T) {
	req := Request{Command: "ADD", CniVersion: "1.0.0", ContainerID: "c<1>", Netns: "/run/netns/x", IfName: "eth0",
		Pod: &PodRef{Namespace: "ns", Name: "p&q"}, IPs: []string{"10.0.0.2/24"}, Network: "k8s-pod-network", Exec: true}
	for _, r := range []Request{req, {Command: "STATUS", IPs: []string{}}, {Command: "DEL", Pod: &PodRef{UID: "u"}}, {}} {
		want, _ := json.Marshal(r)
		if got := r.encode(); !bytes.Equal(got, want) {
			t.Errorf("request %s, want %s", got, want)
		}
	}
	for _, rep := range []Report{{}, {Results: []StepResult{}}, {Results: []StepResult{{Code: -1, Stdout: "a\x00b\xff", Stderr: "iptables: <x> \u2028"}, {}}}} {
		want, _ := json.Marshal(rep)
		if got := rep.encode(); !bytes.Equal(got, want) {
			t.Errorf("report %s, want %s", got, want)
		}
	}
	for _, e := range []CniError{{CniVersion: "1.0.0", Code: 11, Msg: "m \"q\""}, {Code: 7, Msg: "m", Details: "d\t"}} {
		want, _ := json.Marshal(e)
		if got := e.encode(); !bytes.Equal(got, want) {
			t.Errorf("CNI error %s, want %s", got, want)
		}
	}
	for c := 0; c < 0x110000; c += 7 {
		s := string(rune(c)) + "\xc3"
		if got, want := jsonQuote(s), refQuote(s); got != want {
			t.Fatalf("quote %q: %s, want %s", s, got, want)
		}
	}
}

func FuzzJSONLite(f *testing.F) {
	for _, c := range jsonCases {
		f.Add([]byte(c))
	}
	f.Fuzz(func(t *testing.T, in []byte) { compareJSON(t, in) })
}
