package main

import (
	"errors"
	"os"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"unsafe"
)

// allowList is the set of programs the agent may have the plugin run: the iptables family (any backend), ip and
// nft — `^(ip6?tables(-legacy|-nft)?-(save|restore)|ip|nft)$`, matched without a regular expression engine.
type allowList struct{}

func (allowList) MatchString(tool string) bool {
	switch tool {
	case "ip", "nft":
		return true
	}
	rest, ok := strings.CutPrefix(tool, "ip")
	if !ok {
		return false
	}
	rest = strings.TrimPrefix(rest, "6")
	if rest, ok = strings.CutPrefix(rest, "tables"); !ok {
		return false
	}
	if r, cut := strings.CutPrefix(rest, "-legacy"); cut {
		rest = r
	} else if r, cut := strings.CutPrefix(rest, "-nft"); cut {
		rest = r
	}
	return rest == "-save" || rest == "-restore"
}

// The only programs the agent may have the plugin run.
var allowedTool allowList

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
		return errors.New("mizzen-cni already entered another network namespace")
	}
	runtime.LockOSThread() // never unlocked: the thread now belongs to the pod's netns
	err := setns(path)
	entered[path] = err
	return err
}

func setns(path string) error {
	fd, err := syscall.Open(path, syscall.O_RDONLY|syscall.O_CLOEXEC, 0)
	if err != nil {
		return &os.PathError{Op: "open", Path: path, Err: err}
	}
	defer syscall.Close(fd)
	if _, _, errno := syscall.RawSyscall(sysSetns, uintptr(fd), syscall.CLONE_NEWNET, 0); errno != 0 {
		return &os.SyscallError{Syscall: "setns " + path, Err: errno}
	}
	return nil
}

func executable(p string) bool {
	var st syscall.Stat_t
	return syscall.Stat(p, &st) == nil && st.Mode&syscall.S_IFMT != syscall.S_IFDIR && st.Mode&0o111 != 0
}

// lookTool finds the tool in PATH (an empty entry is the working directory, as exec.LookPath has it; a relative
// result is refused), then in the fallback directories.
func lookTool(tool string) (string, error) {
	for _, dir := range strings.Split(os.Getenv("PATH"), ":") {
		if dir == "" || dir[0] != '/' {
			continue // a relative PATH entry would run whatever the working directory holds
		}
		if p := dir + "/" + tool; executable(p) {
			return p, nil
		}
	}
	for _, d := range fallbackDirs {
		if p := d + "/" + tool; executable(p) {
			return p, nil
		}
	}
	return "", errors.New(tool + ": not found in PATH nor in " + strings.Join(fallbackDirs, ", "))
}

// memfd is an anonymous in-memory file: the step's stdin, stdout and stderr. A child writing to a file needs no
// reader alive (no pipe, no goroutine, no deadlock on a large output) and reading a file needs no writer.
func memfd(name string) (int, error) {
	p, err := syscall.BytePtrFromString(name)
	if err != nil {
		return -1, err
	}
	const mfdCloexec = 1
	fd, _, errno := syscall.Syscall(sysMemfdCreate, uintptr(unsafe.Pointer(p)), mfdCloexec, 0)
	if errno != 0 {
		return -1, &os.SyscallError{Syscall: "memfd_create", Err: errno}
	}
	return int(fd), nil
}

// readAll reads a memfd from its start.
func readAll(fd int) string {
	var b []byte
	buf := make([]byte, 16<<10)
	off := int64(0)
	for {
		n, err := syscall.Pread(fd, buf, off)
		if n > 0 {
			b = append(b, buf[:n]...)
			off += int64(n)
		}
		if err == syscall.EINTR {
			continue
		}
		if err != nil || n == 0 {
			return string(b)
		}
	}
}

func writeAll(fd int, s string) error {
	b := []byte(s)
	for len(b) > 0 {
		n, err := syscall.Write(fd, b)
		if err == syscall.EINTR {
			continue
		}
		if err != nil {
			return err
		}
		b = b[n:]
	}
	_, err := syscall.Seek(fd, 0, 0)
	return err
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
	if s.Netlink != "" {
		return applyNetlink(s.Netlink)
	}
	if !allowedTool.MatchString(s.Tool) {
		return StepResult{Code: -1, Stderr: "mizzen-cni runs only iptables, ip6tables, ip and nft programs, not " + strconv.Quote(s.Tool)}
	}
	path, err := lookTool(s.Tool)
	if err != nil {
		return StepResult{Code: -1, Stderr: err.Error()}
	}
	var fds [3]int
	for i, name := range []string{"stdin", "stdout", "stderr"} {
		if fds[i], err = memfd(name); err != nil {
			for _, fd := range fds[:i] {
				_ = syscall.Close(fd)
			}
			return StepResult{Code: -1, Stderr: err.Error()}
		}
	}
	defer func() {
		for _, fd := range fds {
			_ = syscall.Close(fd)
		}
	}()
	if err := writeAll(fds[0], s.Stdin); err != nil {
		return StepResult{Code: -1, Stderr: "mizzen-cni could not write the program's input: " + err.Error()}
	}
	// From this (locked) thread, so the child starts in the netns it entered; vfork-like, the way os/exec starts.
	pid, err := syscall.ForkExec(path, append([]string{path}, s.Args...), &syscall.ProcAttr{
		Env:   os.Environ(),
		Files: []uintptr{uintptr(fds[0]), uintptr(fds[1]), uintptr(fds[2])},
	})
	if err != nil {
		return StepResult{Code: -1, Stderr: (&os.PathError{Op: "fork/exec", Path: path, Err: err}).Error()}
	}
	var status syscall.WaitStatus
	for {
		_, err = syscall.Wait4(pid, &status, 0, nil)
		if !errors.Is(err, syscall.EINTR) {
			break
		}
	}
	stdout, stderr := readAll(fds[1]), readAll(fds[2])
	switch {
	case err != nil:
		return StepResult{Code: -1, Stdout: stdout, Stderr: "wait: " + err.Error()}
	case status.Exited():
		return StepResult{Code: status.ExitStatus(), Stdout: stdout, Stderr: stderr}
	default:
		// Killed by a signal: exec.ExitError's ExitCode() was -1 for that too.
		return StepResult{Code: -1, Stdout: stdout, Stderr: stderr}
	}
}

// RunInNetns enters the pod's network namespace and runs the steps there.
func RunInNetns(netns string, steps []Step) []StepResult {
	if err := enterNetns(netns); err != nil {
		return []StepResult{{Code: -1, Stderr: "mizzen-cni could not enter the network namespace " + netns + ": " + err.Error()}}
	}
	return RunSteps(steps)
}
