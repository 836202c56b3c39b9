package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
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

// Exchange sends the request and serves the agent's programs with run until its final answer.
func Exchange(socket string, req Request, timeout time.Duration, run func([]Step) []StepResult) (Response, error) {
	deadline := time.Now().Add(timeout)
	noAnswer := &UnreachableError{Reason: "no answer within " + strconv.FormatFloat(timeout.Seconds(), 'f', -1, 64) + "s"}
	conn, err := net.DialTimeout("unix", socket, timeout)
	if err != nil {
		if os.IsTimeout(err) {
			return Response{}, noAnswer
		}
		return Response{}, &UnreachableError{Reason: connectReason(err)}
	}
	defer conn.Close()
	_ = conn.SetDeadline(deadline)
	r := bufio.NewReaderSize(conn, 64<<10)
	send := func(v any) error {
		b, _ := json.Marshal(v)
		_, err := conn.Write(append(b, '\n'))
		return err
	}
	broken := func(err error) error {
		if os.IsTimeout(err) {
			return noAnswer
		}
		if errors.Is(err, io.EOF) || errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE) {
			return &UnreachableError{Reason: "the agent closed the connection without an answer"}
		}
		return &UnreachableError{Reason: err.Error()}
	}
	if err := send(req); err != nil {
		return Response{}, broken(err)
	}
	for {
		line, err := readLine(r)
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
			_ = conn.SetDeadline(time.Now().Add(timeout))
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

func readLine(r *bufio.Reader) ([]byte, error) {
	var line []byte
	for {
		chunk, isPrefix, err := r.ReadLine()
		if err != nil {
			if err == io.EOF && len(line) > 0 {
				return line, nil
			}
			return nil, err
		}
		line = append(line, chunk...)
		if !isPrefix {
			return line, nil
		}
		if len(line) > maxLine {
			return nil, fmt.Errorf("the agent's answer is longer than %d bytes", maxLine)
		}
	}
}
