package main

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"syscall"
)

// The only programs the agent may have the plugin run: the iptables family (any backend), ip and nft.
var allowedTool = regexp.MustCompile(`^(ip6?tables(-legacy|-nft)?-(save|restore)|ip|nft)$`)

// Where to look when the runtime's PATH does not have the tool (containerd passes its own environment).
var fallbackDirs = []string{"/usr/sbin", "/sbin", "/usr/bin", "/bin", "/usr/local/sbin", "/usr/local/bin"}

var entered = map[string]error{}

// enterNetns moves the calling OS thread (locked: the main goroutine, see main.go) into the network namespace,
// once per process; programs forked afterwards from this thread start in it.
func enterNetns(path string) error {
	if err, done := entered[path]; done {
		return err
	}
	if len(entered) > 0 {
		return fmt.Errorf("mizzen-cni already entered another network namespace")
	}
	runtime.LockOSThread() // never unlocked: the thread now belongs to the pod's netns
	err := setns(path)
	entered[path] = err
	return err
}

func setns(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	if _, _, errno := syscall.RawSyscall(sysSetns, f.Fd(), syscall.CLONE_NEWNET, 0); errno != 0 {
		return fmt.Errorf("setns %s: %w", path, errno)
	}
	return nil
}

func lookTool(tool string) (string, error) {
	if p, err := exec.LookPath(tool); err == nil {
		return p, nil
	}
	for _, d := range fallbackDirs {
		p := filepath.Join(d, tool)
		if st, err := os.Stat(p); err == nil && !st.IsDir() && st.Mode()&0o111 != 0 {
			return p, nil
		}
	}
	return "", fmt.Errorf("%s: not found in PATH nor in %s", tool, strings.Join(fallbackDirs, ", "))
}

// RunSteps runs the steps in the current network namespace, stopping after the first that fails.
func RunSteps(steps []Step) []StepResult {
	results := make([]StepResult, 0, len(steps))
	for _, s := range steps {
		r := runStep(s)
		results = append(results, r)
		if r.Code != 0 {
			break
		}
	}
	return results
}

func runStep(s Step) StepResult {
	if !allowedTool.MatchString(s.Tool) {
		return StepResult{Code: -1, Stderr: fmt.Sprintf("mizzen-cni runs only iptables, ip6tables, ip and nft programs, not %q", s.Tool)}
	}
	path, err := lookTool(s.Tool)
	if err != nil {
		return StepResult{Code: -1, Stderr: err.Error()}
	}
	cmd := exec.Command(path, s.Args...)
	cmd.Stdin = strings.NewReader(s.Stdin)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err = cmd.Run()
	var exit *exec.ExitError
	switch {
	case err == nil:
		return StepResult{Code: 0, Stdout: stdout.String(), Stderr: stderr.String()}
	case errors.As(err, &exit):
		return StepResult{Code: exit.ExitCode(), Stdout: stdout.String(), Stderr: stderr.String()}
	default:
		return StepResult{Code: -1, Stdout: stdout.String(), Stderr: err.Error()}
	}
}

// RunInNetns enters the pod's network namespace and runs the steps there.
func RunInNetns(netns string, steps []Step) []StepResult {
	if err := enterNetns(netns); err != nil {
		return []StepResult{{Code: -1, Stderr: fmt.Sprintf("mizzen-cni could not enter the network namespace %s: %v", netns, err)}}
	}
	return RunSteps(steps)
}
