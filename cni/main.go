// mizzen-cni: the chained CNI plugin of mizzen's node agent (ADR 0005). It holds no credentials and decides
// nothing: it forwards each CNI command to the agent over the agent's unix socket and, when the agent answers
// with a program (iptables-restore, ip6tables-restore, ip or nft input), runs it in the pod's network namespace
// and reports the outcome on the same connection. A static Go binary because the plugin's start-up is on every
// pod's start-up path (ADR 0005, decision 3).
package main

import (
	"io"
	"os"
	"runtime"
)

func init() {
	// The main goroutine stays on the main OS thread, which is the one that enters the pod's network
	// namespace (setns is per thread) and forks the programs that inherit it.
	runtime.LockOSThread()
	// One P: the plugin runs one goroutine at a time, and with a second P every wake-up (the socket, the child's
	// exit) would also wake a thread to spin looking for work, which costs CPU that eight plugins starting
	// together on a small node compete for.
	runtime.GOMAXPROCS(1)
}

func main() {
	if len(os.Args) == 3 && os.Args[1] == "fingerprint" {
		Fingerprints(os.Args[2], os.Stdin, os.Stdout)
		return
	}
	stdin, err := io.ReadAll(os.Stdin)
	if err != nil {
		stdin = nil
	}
	out := Run(EnvFromOS(), stdin, Deps{Exec: RunInNetns})
	if out.Stderr != "" {
		_, _ = os.Stderr.WriteString(out.Stderr)
	}
	_, _ = os.Stdout.WriteString(out.Stdout)
	os.Exit(out.ExitCode)
}
