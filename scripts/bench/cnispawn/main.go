// cnispawn starts CNI plugin invocations the way a container runtime does (libcni: fork/exec from a Go
// process, CNI_* in the environment, the network configuration on stdin) and measures each one: wall time
// from start to exit, and the CPU time of the process and the children it waited for (wait4's rusage).
// Reads a JSON list of jobs on stdin; runs them `-parallel N` at a time in rounds; prints one JSON line per job.
// Used by scripts/bench/cni so that no Node parent (whose fork of a large process adds 15-30 ms) is measured.
package main

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"sync"
	"syscall"
	"time"
)

type job struct {
	Exe   string            `json:"exe"`
	Env   map[string]string `json:"env"`
	Stdin string            `json:"stdin"`
}

type result struct {
	Index  int     `json:"index"`
	WallMs float64 `json:"wallMs"`
	CPUMs  float64 `json:"cpuMs"`
	Code   int     `json:"code"`
	Stdout string  `json:"stdout"`
	Stderr string  `json:"stderr"`
}

func run(i int, j job) result {
	cmd := exec.Command(j.Exe)
	cmd.Env = []string{"PATH=" + os.Getenv("PATH")}
	for k, v := range j.Env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	cmd.Stdin = bytes.NewReader([]byte(j.Stdin))
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	t0 := time.Now()
	err := cmd.Run()
	wall := time.Since(t0)
	r := result{Index: i, WallMs: float64(wall.Microseconds()) / 1000, Stdout: out.String(), Stderr: errb.String()}
	if cmd.ProcessState != nil {
		r.Code = cmd.ProcessState.ExitCode()
		if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
			r.CPUMs = float64(ru.Utime.Nano()+ru.Stime.Nano()) / 1e6
		}
	} else if err != nil {
		r.Code = -1
		r.Stderr = err.Error()
	}
	return r
}

func main() {
	parallel := flag.Int("parallel", 1, "invocations started at once, in rounds")
	flag.Parse()
	var jobs []job
	if err := json.NewDecoder(os.Stdin).Decode(&jobs); err != nil {
		fmt.Fprintln(os.Stderr, "cnispawn: stdin is not a JSON list of jobs:", err)
		os.Exit(2)
	}
	enc := json.NewEncoder(os.Stdout)
	for start := 0; start < len(jobs); start += *parallel {
		end := min(start+*parallel, len(jobs))
		results := make([]result, end-start)
		var wg sync.WaitGroup
		for i := start; i < end; i++ {
			wg.Add(1)
			go func(i int) {
				defer wg.Done()
				results[i-start] = run(i, jobs[i])
			}(i)
		}
		wg.Wait()
		for _, r := range results {
			_ = enc.Encode(r)
		}
	}
}
