package main

import (
	"encoding/base64"
	"strconv"
	"syscall"
	"unsafe"
)

// An nf_tables batch the agent encoded (ADR 0005, "The ADD without iptables-restore"): the restore input of a
// fresh netns as the netlink messages iptables-nft-restore would send for it. The plugin decides nothing about
// it: it checks that the bytes are well-formed netlink messages, sends them in one sendmsg on a netfilter socket
// of the pod's netns and reports the kernel's answer to each message that asks for one. The kernel applies a
// batch as one transaction: all of it or, on any error, none of it.

const (
	nlmsgHdrLen = 16
	nlmsgError  = 2
	nlmFAck     = 0x4
	// NETLINK_CAP_ACK: an error does not echo the whole failing message (a rule can be a few hundred bytes).
	netlinkCapAck = 10
	solNetlink    = 270 // SOL_NETLINK
	// How long the kernel may take to answer; it answers while the sendmsg runs, so this is a safety net.
	netlinkTimeoutSec = 10
)

// ne32 and ne16 read netlink's host-order fields; every offset used is aligned (messages are 4-byte aligned).
func ne32(b []byte) uint32 { return *(*uint32)(unsafe.Pointer(&b[0])) }
func ne16(b []byte) uint16 { return *(*uint16)(unsafe.Pointer(&b[0])) }

// batchAcks checks that b is a sequence of whole netlink messages and returns the sequence numbers of those
// that ask for an acknowledgement.
func batchAcks(b []byte) ([]uint32, string) {
	var acks []uint32
	for off := 0; off < len(b); {
		if len(b)-off < nlmsgHdrLen {
			return nil, "a truncated message header at byte " + strconv.Itoa(off)
		}
		n := int(ne32(b[off:]))
		if n < nlmsgHdrLen || n > len(b)-off {
			return nil, "a message of length " + strconv.Itoa(n) + " at byte " + strconv.Itoa(off) + " of " + strconv.Itoa(len(b))
		}
		if ne16(b[off+6:])&nlmFAck != 0 {
			acks = append(acks, ne32(b[off+8:]))
		}
		off += (n + 3) &^ 3
	}
	if len(acks) == 0 {
		return nil, "no message that asks for an acknowledgement"
	}
	return acks, ""
}

// applyNetlink sends the batch (base64) on a NETLINK_NETFILTER socket of the current netns. Code 0: every message
// was acknowledged. Code 1: the kernel refused one; stdout is its sequence number, stderr the error. Code -1:
// the batch could not be sent or answered.
func applyNetlink(encoded string) StepResult {
	batch, err := base64.StdEncoding.DecodeString(encoded)
	if err != nil {
		return StepResult{Code: -1, Stderr: "mizzen-cni: the agent's netlink batch is not base64: " + err.Error()}
	}
	acks, problem := batchAcks(batch)
	if problem != "" {
		return StepResult{Code: -1, Stderr: "mizzen-cni: the agent's netlink batch has " + problem}
	}
	fd, err := syscall.Socket(syscall.AF_NETLINK, syscall.SOCK_RAW|syscall.SOCK_CLOEXEC, syscall.NETLINK_NETFILTER)
	if err != nil {
		return StepResult{Code: -1, Stderr: "mizzen-cni: netfilter netlink socket: " + err.Error()}
	}
	defer syscall.Close(fd)
	_ = syscall.SetsockoptInt(fd, solNetlink, netlinkCapAck, 1)
	_ = syscall.SetsockoptTimeval(fd, syscall.SOL_SOCKET, syscall.SO_RCVTIMEO, &syscall.Timeval{Sec: netlinkTimeoutSec})
	for {
		err = syscall.Sendto(fd, batch, 0, &syscall.SockaddrNetlink{Family: syscall.AF_NETLINK})
		if err != syscall.EINTR {
			break
		}
	}
	if err != nil {
		return StepResult{Code: -1, Stderr: "mizzen-cni: sending the netlink batch: " + err.Error()}
	}
	pending := make(map[uint32]bool, len(acks))
	for _, s := range acks {
		pending[s] = true
	}
	buf := make([]byte, 32<<10)
	for len(pending) > 0 {
		n, _, err := syscall.Recvfrom(fd, buf, 0)
		if err == syscall.EINTR {
			continue
		}
		if err != nil {
			return StepResult{Code: -1, Stderr: "mizzen-cni: waiting for the kernel's answer to the netlink batch (" + strconv.Itoa(len(pending)) + " of " + strconv.Itoa(len(acks)) + " messages unanswered): " + err.Error()}
		}
		for off := 0; off+nlmsgHdrLen <= n; {
			l := int(ne32(buf[off:]))
			if l < nlmsgHdrLen || off+l > n {
				break
			}
			if ne16(buf[off+4:]) == nlmsgError && l >= nlmsgHdrLen+4 {
				seq := ne32(buf[off+8:])
				if errno := -int32(ne32(buf[off+nlmsgHdrLen:])); errno != 0 {
					return StepResult{Code: 1, Stdout: strconv.FormatUint(uint64(seq), 10), Stderr: syscall.Errno(errno).Error()}
				}
				delete(pending, seq)
			}
			off += (l + 3) &^ 3
		}
	}
	return StepResult{}
}
