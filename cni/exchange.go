package main

import (
	"errors"
	"strconv"
	"syscall"
	"time"
)

// UnreachableError: no socket, nobody listening, no answer in time, or the connection broke before the answer.
type UnreachableError struct{ Reason string }

func (e *UnreachableError) Error() string { return e.Reason }

// maxLine bounds one message from the agent (a program carries a few KB of restore input).
const maxLine = 16 << 20

var errnoNames = map[syscall.Errno]string{
	syscall.ENOENT: "ENOENT", syscall.ECONNREFUSED: "ECONNREFUSED", syscall.EACCES: "EACCES", syscall.EPERM: "EPERM",
	syscall.ENOTSOCK: "ENOTSOCK", syscall.ETIMEDOUT: "ETIMEDOUT", syscall.EAGAIN: "EAGAIN", syscall.ENOTDIR: "ENOTDIR",
	syscall.ECONNRESET: "ECONNRESET", syscall.EPIPE: "EPIPE",
}

// connectReason names a dial failure like the errno it is (`connect ENOENT`).
func connectReason(err error) string {
	var errno syscall.Errno
	if errors.As(err, &errno) {
		if name, ok := errnoNames[errno]; ok {
			return "connect " + name
		}
		return "connect " + errno.Error()
	}
	return err.Error()
}

// message is what the agent's line says: a program (run present, ok absent or null) or the final answer (ok).
type message struct {
	Run *jsonValue // the steps (any JSON value: decoded as a list of steps when the line is a program)
	OK  *bool
}

// decodeMessage reads a line as encoding/json would decode it into {Run json.RawMessage; OK *bool}.
func decodeMessage(line []byte) (message, *jsonValue, error) {
	v, err := parseJSON(line)
	if err != nil {
		return message{}, nil, err
	}
	var m message
	switch v.kind {
	case jsonNull:
		return m, v, nil
	case jsonObject:
	default:
		return m, v, typeError(v, "Go value of type main.message")
	}
	m.Run = v.structField("run")
	for _, ok := range v.structFields("ok") {
		switch ok.kind {
		case jsonNull:
			m.OK = nil
		case jsonBool:
			b := ok.b
			m.OK = &b
		default:
			if err == nil {
				err = typeError(ok, "Go struct field message.ok of type bool")
			}
		}
	}
	return m, v, err
}

// decodeSteps reads a program as encoding/json would decode it into []Step.
func decodeSteps(v *jsonValue) ([]Step, error) {
	switch v.kind {
	case jsonNull:
		return nil, nil
	case jsonArray:
	default:
		return nil, typeError(v, "Go value of type []main.Step")
	}
	var err error
	steps := make([]Step, 0, len(v.items))
	for _, it := range v.items {
		var s Step
		switch it.kind {
		case jsonNull:
		case jsonObject:
			s.Family = stringField(it, "family", "Go struct field Step.family of type string", &err)
			s.Tool = stringField(it, "tool", "Go struct field Step.tool of type string", &err)
			s.Stdin = stringField(it, "stdin", "Go struct field Step.stdin of type string", &err)
			s.Netlink = stringField(it, "netlink", "Go struct field Step.netlink of type string", &err)
			for _, a := range it.structFields("args") {
				switch a.kind {
				case jsonNull:
					s.Args = nil
				case jsonArray:
					// encoding/json reuses the slice: an element decoded from null keeps what it held.
					prev := s.Args
					s.Args = make([]string, len(a.items))
					for i, x := range a.items {
						if i < len(prev) {
							s.Args[i] = prev[i]
						}
						s.Args[i] = decodeString(x, s.Args[i], "Go struct field Step.args of type string", &err)
					}
				default:
					if err == nil {
						err = typeError(a, "Go struct field Step.args of type []string")
					}
				}
			}
		default:
			if err == nil {
				err = typeError(it, "Go value of type main.Step")
			}
		}
		steps = append(steps, s)
	}
	return steps, err
}

// decodeResponse reads the final answer as encoding/json would decode it into Response, ignoring type errors
// (a key of the wrong type leaves its field as it was).
func decodeResponse(v *jsonValue) Response {
	var r Response
	if v.kind != jsonObject {
		return r
	}
	for _, ok := range v.structFields("ok") {
		if ok.kind == jsonBool {
			r.OK = ok.b
		}
	}
	for _, code := range v.structFields("code") {
		if code.kind == jsonNumber {
			if n, err := strconv.ParseInt(string(code.raw), 10, 0); err == nil {
				r.Code = int(n)
			}
		}
	}
	var ignored error
	r.Msg = stringField(v, "msg", "", &ignored)
	r.Details = stringField(v, "details", "", &ignored)
	return r
}

// encode is the JSON line of the request.
func (r Request) encode() []byte {
	var w jsonObjectWriter
	w.str("command", r.Command)
	w.str("cniVersion", r.CniVersion)
	w.str("containerId", r.ContainerID)
	w.str("netns", r.Netns)
	w.str("ifName", r.IfName)
	if r.Pod != nil {
		var p jsonObjectWriter
		p.str("namespace", r.Pod.Namespace)
		p.str("name", r.Pod.Name)
		if r.Pod.UID != "" {
			p.str("uid", r.Pod.UID)
		}
		w.raw("pod", p.bytes())
	}
	w.strs("ips", r.IPs)
	if r.Network != "" {
		w.str("network", r.Network)
	}
	w.boolean("exec", r.Exec)
	w.boolean("netlink", r.Netlink)
	return w.bytes()
}

// encode is the JSON line of the report (nil results are null, as encoding/json writes a nil slice).
func (r Report) encode() []byte {
	b := []byte(`{"results":`)
	if r.Results == nil {
		b = append(b, "null"...)
	} else {
		b = append(b, '[')
		for i, res := range r.Results {
			if i > 0 {
				b = append(b, ',')
			}
			var w jsonObjectWriter
			w.num("code", res.Code)
			w.str("stdout", res.Stdout)
			w.str("stderr", res.Stderr)
			b = append(b, w.bytes()...)
		}
		b = append(b, ']')
	}
	return append(b, '}')
}

// errTimeout: a socket operation ran past the deadline (SO_RCVTIMEO/SO_SNDTIMEO expired, EAGAIN).
var errTimeout = errors.New("timeout")

// errClosed: the agent closed the connection (end of stream).
var errClosed = errors.New("closed")

// conn is a blocking unix stream socket used from the calling thread only, with the exchange's deadline applied
// to each read and write as the socket's own timeouts. Plain syscalls: no poller, no extra goroutine or thread,
// which the plugin does not need for one connection and whose set-up is part of every pod's start-up.
type conn struct {
	fd       int
	deadline time.Time
	buf      []byte // read but not yet consumed
}

func dialUnix(socket string, deadline time.Time) (*conn, error) {
	fd, err := syscall.Socket(syscall.AF_UNIX, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, err
	}
	c := &conn{fd: fd, deadline: deadline}
	// A unix connect blocks (up to the send timeout) only while the listener's backlog is full.
	if err := c.arm(syscall.SO_SNDTIMEO); err != nil {
		c.close()
		return nil, err
	}
	for {
		err = syscall.Connect(fd, &syscall.SockaddrUnix{Name: socket})
		if err != syscall.EINTR {
			break
		}
	}
	if err != nil {
		c.close()
		if err == syscall.EAGAIN || err == syscall.EINPROGRESS {
			return nil, errTimeout
		}
		return nil, err
	}
	return c, nil
}

func (c *conn) close() { _ = syscall.Close(c.fd) }

// arm sets the socket's timeout for the next operation to what is left until the deadline.
func (c *conn) arm(opt int) error {
	left := time.Until(c.deadline)
	if left <= 0 {
		return errTimeout
	}
	tv := syscall.NsecToTimeval(left.Nanoseconds())
	if tv.Sec == 0 && tv.Usec == 0 {
		tv.Usec = 1 // zero would mean no timeout
	}
	return syscall.SetsockoptTimeval(c.fd, syscall.SOL_SOCKET, opt, &tv)
}

func (c *conn) write(b []byte) error {
	for len(b) > 0 {
		if err := c.arm(syscall.SO_SNDTIMEO); err != nil {
			return err
		}
		n, err := syscall.SendmsgN(c.fd, b, nil, nil, syscall.MSG_NOSIGNAL)
		switch {
		case err == syscall.EINTR:
			continue
		case err == syscall.EAGAIN:
			return errTimeout
		case err != nil:
			return err
		}
		b = b[n:]
	}
	return nil
}

// readLine returns the next line without its newline; a last line without one is returned at the end of stream.
func (c *conn) readLine() ([]byte, error) {
	scanned := 0
	for {
		for i := scanned; i < len(c.buf); i++ {
			if c.buf[i] == '\n' {
				line := c.buf[:i:i]
				c.buf = c.buf[i+1:]
				return line, nil
			}
		}
		scanned = len(c.buf)
		if len(c.buf) > maxLine {
			return nil, errors.New("the agent's answer is longer than " + strconv.Itoa(maxLine) + " bytes")
		}
		if err := c.arm(syscall.SO_RCVTIMEO); err != nil {
			return nil, err
		}
		if cap(c.buf)-len(c.buf) < 16<<10 {
			grown := make([]byte, len(c.buf), 2*cap(c.buf)+64<<10)
			copy(grown, c.buf)
			c.buf = grown
		}
		n, err := syscall.Read(c.fd, c.buf[len(c.buf):cap(c.buf)])
		switch {
		case err == syscall.EINTR:
			continue
		case err == syscall.EAGAIN:
			return nil, errTimeout
		case err != nil:
			return nil, err
		case n == 0:
			if len(c.buf) > 0 {
				line := c.buf
				c.buf = nil
				return line, nil
			}
			return nil, errClosed
		}
		c.buf = c.buf[:len(c.buf)+n]
	}
}

// Exchange sends the request and serves the agent's programs with run until its final answer.
func Exchange(socket string, req Request, timeout time.Duration, run func([]Step) []StepResult) (Response, error) {
	noAnswer := &UnreachableError{Reason: "no answer within " + strconv.FormatFloat(timeout.Seconds(), 'f', -1, 64) + "s"}
	c, err := dialUnix(socket, time.Now().Add(timeout))
	if err != nil {
		if err == errTimeout {
			return Response{}, noAnswer
		}
		return Response{}, &UnreachableError{Reason: connectReason(err)}
	}
	defer c.close()
	send := func(b []byte) error {
		return c.write(append(b, '\n'))
	}
	broken := func(err error) error {
		if err == errTimeout {
			return noAnswer
		}
		if err == errClosed || err == syscall.ECONNRESET || err == syscall.EPIPE {
			return &UnreachableError{Reason: "the agent closed the connection without an answer"}
		}
		return &UnreachableError{Reason: err.Error()}
	}
	if err := send(req.encode()); err != nil {
		return Response{}, broken(err)
	}
	for {
		line, err := c.readLine()
		if err != nil {
			return Response{}, broken(err)
		}
		m, doc, err := decodeMessage(line)
		if err != nil {
			if doc != nil {
				return Response{}, &UnreachableError{Reason: "the agent's answer is neither a program nor a result: " + err.Error()}
			}
			return Response{}, &UnreachableError{Reason: "the agent's answer is not JSON: " + err.Error()}
		}
		if m.Run != nil && m.OK == nil {
			steps, err := decodeSteps(m.Run)
			if err != nil {
				return Response{}, &UnreachableError{Reason: "the agent's program is not a list of steps: " + err.Error()}
			}
			results := run(steps)
			// Running the program may have taken a while (iptables --wait); the answer still has the whole timeout.
			c.deadline = time.Now().Add(timeout)
			if err := send(Report{Results: results}.encode()); err != nil {
				return Response{}, broken(err)
			}
			continue
		}
		if m.OK == nil {
			return Response{}, &UnreachableError{Reason: "the agent's answer is neither a program nor a result"}
		}
		return decodeResponse(doc), nil
	}
}
