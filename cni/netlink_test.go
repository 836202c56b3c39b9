package main

import (
	"encoding/base64"
	"os"
	"runtime"
	"syscall"
	"testing"
	"unsafe"
)

// nlmsg builds one nfnetlink message in host order (what the agent's encoder writes).
func nlmsg(typ, flags uint16, seq uint32, family uint8, resID uint16, attrs []byte) []byte {
	b := make([]byte, 20+len(attrs))
	*(*uint32)(unsafe.Pointer(&b[0])) = uint32(len(b))
	*(*uint16)(unsafe.Pointer(&b[4])) = typ
	*(*uint16)(unsafe.Pointer(&b[6])) = flags
	*(*uint32)(unsafe.Pointer(&b[8])) = seq
	b[16] = family
	b[18], b[19] = byte(resID>>8), byte(resID)
	copy(b[20:], attrs)
	return b
}

// strAttr is a NUL-terminated string attribute, padded to 4 bytes.
func strAttr(typ uint16, s string) []byte {
	n := 4 + len(s) + 1
	b := make([]byte, (n+3)&^3)
	*(*uint16)(unsafe.Pointer(&b[0])) = uint16(n)
	*(*uint16)(unsafe.Pointer(&b[2])) = typ
	copy(b[4:], s)
	return b
}

func batch(msgs ...[]byte) string {
	var all []byte
	all = append(all, nlmsg(0x10, 1, 0, 0, 10, nil)...)
	for _, m := range msgs {
		all = append(all, m...)
	}
	all = append(all, nlmsg(0x11, 1, 99, 0, 10, nil)...)
	return base64.StdEncoding.EncodeToString(all)
}

func TestBatchAcksChecksTheFraming(t *testing.T) {
	ok := nlmsg(10<<8, 1|4, 7, 2, 0, strAttr(1, "nat"))
	if acks, problem := batchAcks(ok); problem != "" || len(acks) != 1 || acks[0] != 7 {
		t.Fatalf("acks %v, problem %q", acks, problem)
	}
	for name, b := range map[string][]byte{
		"truncated header":      ok[:10],
		"length past the end":   append(nlmsg(10<<8, 5, 1, 2, 0, nil)[:16], 0, 0, 0),
		"no acknowledged":       nlmsg(0x10, 1, 0, 0, 10, nil),
		"length under a header": {8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0},
	} {
		if _, problem := batchAcks(b); problem == "" {
			t.Errorf("%s: accepted", name)
		}
	}
	if r := applyNetlink("not base64!"); r.Code != -1 {
		t.Errorf("bad base64: %+v", r)
	}
}

// In a network namespace of its own (root only): an accepted batch is acknowledged message by message, a refused
// one reports the message's sequence number and the kernel's error.
func TestApplyNetlinkInAFreshNetns(t *testing.T) {
	if os.Getuid() != 0 {
		t.Skip("needs root (unshare of a network namespace)")
	}
	done := make(chan []StepResult)
	go func() {
		// This thread moves to a new netns and is never unlocked: it exits with the goroutine.
		runtime.LockOSThread()
		if err := syscall.Unshare(syscall.CLONE_NEWNET); err != nil {
			done <- []StepResult{{Code: -2, Stderr: err.Error()}}
			return
		}
		const newTable, newChain = 10<<8 | 0, 10<<8 | 3
		good := batch(nlmsg(newTable, 1|4|0x400, 1, 2, 0, strAttr(1, "mzt")))
		bad := batch(
			nlmsg(newTable, 1|4|0x400, 1, 2, 0, strAttr(1, "mzt2")),
			nlmsg(newChain, 1|4|0x400, 2, 2, 0, append(strAttr(1, "nowhere"), strAttr(3, "c")...)),
		)
		done <- []StepResult{applyNetlink(good), applyNetlink(bad)}
	}()
	r := <-done
	if r[0].Code == -2 {
		t.Skip("no network namespace: " + r[0].Stderr)
	}
	if r[0] != (StepResult{}) {
		t.Errorf("accepted batch: %+v", r[0])
	}
	if r[1] != (StepResult{Code: 1, Stdout: "2", Stderr: "no such file or directory"}) {
		t.Errorf("refused batch: %+v", r[1])
	}
}
