package main

import (
	"encoding/json"
	"errors"
	"fmt"
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

type message struct {
	Run json.RawMessage `json:"run"`
	OK  *bool           `json:"ok"`
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
			return nil, fmt.Errorf("the agent's answer is longer than %d bytes", maxLine)
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
	send := func(v any) error {
		b, _ := json.Marshal(v)
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
	if err := send(req); err != nil {
		return Response{}, broken(err)
	}
	for {
		line, err := c.readLine()
		if err != nil {
			return Response{}, broken(err)
		}
		var m message
		if err := json.Unmarshal(line, &m); err != nil {
			if json.Valid(line) {
				return Response{}, &UnreachableError{Reason: "the agent's answer is neither a program nor a result: " + err.Error()}
			}
			return Response{}, &UnreachableError{Reason: "the agent's answer is not JSON: " + err.Error()}
		}
		if m.Run != nil && m.OK == nil {
			var steps []Step
			if err := json.Unmarshal(m.Run, &steps); err != nil {
				return Response{}, &UnreachableError{Reason: "the agent's program is not a list of steps: " + err.Error()}
			}
			results := run(steps)
			// Running the program may have taken a while (iptables --wait); the answer still has the whole timeout.
			c.deadline = time.Now().Add(timeout)
			if err := send(Report{Results: results}); err != nil {
				return Response{}, broken(err)
			}
			continue
		}
		if m.OK == nil {
			return Response{}, &UnreachableError{Reason: "the agent's answer is neither a program nor a result"}
		}
		var res Response
		_ = json.Unmarshal(line, &res)
		return res, nil
	}
}
