package main

// `mizzen-cni fingerprint <backend>`: the agent's cheap drift probe (ADR 0005). For each network namespace path on
// stdin (one per line) it prints one line `<path>\t<fingerprint>` (or `<path>\terror: ...`): a value that changes
// whenever the netns's packet-filter rules change, read with a few syscalls and no process per netns —
// nf_tables' ruleset generation (netlink NFT_MSG_GETGEN, bumped by every nft or iptables-nft change) and,
// for the legacy backend, the nat and mangle tables' entry counts, sizes and hook offsets (IPT_SO_GET_INFO).
// The agent runs `iptables-save` only in the netns whose fingerprint moved since it last found them in sync.

import (
	"bufio"
	"errors"
	"io"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"unsafe"
)

const (
	netlinkNetfilter   = 12
	nfnlSubsysNftables = 10
	nftMsgGetgen       = 16
	nftaGenID          = 1
	iptSoGetInfo       = 64 // IPT_SO_GET_INFO and IP6T_SO_GET_INFO
)

// nftGeneration asks nf_tables for the ruleset generation of the current netns.
func nftGeneration() (uint32, error) {
	fd, err := syscall.Socket(syscall.AF_NETLINK, syscall.SOCK_RAW|syscall.SOCK_CLOEXEC, netlinkNetfilter)
	if err != nil {
		return 0, err
	}
	defer syscall.Close(fd)
	if err := syscall.Bind(fd, &syscall.SockaddrNetlink{Family: syscall.AF_NETLINK}); err != nil {
		return 0, err
	}
	msg := make([]byte, 20)
	putLE32(msg[0:], 20)
	putLE16(msg[4:], nfnlSubsysNftables<<8|nftMsgGetgen)
	putLE16(msg[6:], syscall.NLM_F_REQUEST)
	putLE32(msg[8:], 1)
	// nfgenmsg: family AF_UNSPEC, version 0, res_id 0.
	if err := syscall.Sendto(fd, msg, 0, &syscall.SockaddrNetlink{Family: syscall.AF_NETLINK}); err != nil {
		return 0, err
	}
	buf := make([]byte, 4096)
	n, _, err := syscall.Recvfrom(fd, buf, 0)
	if err != nil {
		return 0, err
	}
	msgs, err := syscall.ParseNetlinkMessage(buf[:n])
	if err != nil {
		return 0, err
	}
	for _, m := range msgs {
		if m.Header.Type == syscall.NLMSG_ERROR {
			if len(m.Data) >= 4 {
				if code := int32(le32(m.Data)); code != 0 {
					return 0, syscall.Errno(-code)
				}
			}
			continue
		}
		attrs := m.Data[min(4, len(m.Data)):] // after nfgenmsg
		for len(attrs) >= 4 {
			l := int(le16(attrs[0:]))
			t := le16(attrs[2:]) & 0x3fff
			if l < 4 || l > len(attrs) {
				break
			}
			if t == nftaGenID && l >= 8 {
				return be32(attrs[4:]), nil
			}
			attrs = attrs[(l+3)&^3:]
		}
	}
	return 0, errors.New("no generation in the answer")
}

// xtInfo is struct ipt_getinfo / ip6t_getinfo.
type xtInfo struct {
	Name       [32]byte
	ValidHooks uint32
	HookEntry  [5]uint32
	Underflow  [5]uint32
	NumEntries uint32
	Size       uint32
}

// legacyTable describes one legacy x_tables table of the current netns; "-" when it does not exist. Only a
// table the netns already has is asked about (asking would instantiate it).
func legacyTable(family int, table string) string {
	names := "/proc/thread-self/net/ip_tables_names"
	if family == syscall.AF_INET6 {
		names = "/proc/thread-self/net/ip6_tables_names"
	}
	if b, err := os.ReadFile(names); err != nil || !slices.Contains(strings.Fields(string(b)), table) {
		return "-"
	}
	level := syscall.IPPROTO_IP
	if family == syscall.AF_INET6 {
		level = syscall.IPPROTO_IPV6
	}
	fd, err := syscall.Socket(family, syscall.SOCK_RAW|syscall.SOCK_CLOEXEC, syscall.IPPROTO_RAW)
	if err != nil {
		return "-"
	}
	defer syscall.Close(fd)
	var info xtInfo
	copy(info.Name[:], table)
	size := uint32(unsafe.Sizeof(info))
	_, _, errno := syscall.Syscall6(sysGetsockopt, uintptr(fd), uintptr(level), iptSoGetInfo, uintptr(unsafe.Pointer(&info)), uintptr(unsafe.Pointer(&size)), 0)
	if errno != 0 {
		return "-"
	}
	offsets := make([]string, 0, 10)
	for _, v := range append(info.HookEntry[:], info.Underflow[:]...) {
		offsets = append(offsets, strconv.FormatUint(uint64(v), 10))
	}
	return strconv.FormatUint(uint64(info.NumEntries), 10) + "/" + strconv.FormatUint(uint64(info.Size), 10) + "/" + strings.Join(offsets, ":")
}

// fingerprintHere is the fingerprint of the current netns for the backend (legacy, nft or plain: both).
func fingerprintHere(backend string) string {
	parts := []string{}
	if backend != "legacy" {
		if g, err := nftGeneration(); err == nil {
			parts = append(parts, "gen="+strconv.FormatUint(uint64(g), 10))
		} else {
			parts = append(parts, "gen=-")
		}
	}
	if backend != "nft" {
		for _, f := range []struct {
			name   string
			family int
		}{{"ipt", syscall.AF_INET}, {"ip6t", syscall.AF_INET6}} {
			parts = append(parts, f.name+"="+legacyTable(f.family, "nat")+","+legacyTable(f.family, "mangle"))
		}
	}
	return strings.Join(parts, " ")
}

// fingerprintOf enters the netns on a thread of its own, which dies with it.
func fingerprintOf(path, backend string) (string, error) {
	type answer struct {
		fp  string
		err error
	}
	ch := make(chan answer, 1)
	go func() {
		runtime.LockOSThread() // never unlocked: the thread exits with this goroutine, netns and all
		if err := setns(path); err != nil {
			ch <- answer{err: err}
			return
		}
		ch <- answer{fp: fingerprintHere(backend)}
	}()
	a := <-ch
	return a.fp, a.err
}

// Fingerprints serves the `fingerprint` subcommand.
func Fingerprints(backend string, in io.Reader, out io.Writer) {
	w := bufio.NewWriter(out)
	defer w.Flush()
	s := bufio.NewScanner(in)
	for s.Scan() {
		path := strings.TrimSpace(s.Text())
		if path == "" {
			continue
		}
		fp, err := fingerprintOf(path, backend)
		if err != nil {
			_, _ = w.WriteString(path + "\terror: " + err.Error() + "\n")
		} else {
			_, _ = w.WriteString(path + "\t" + fp + "\n")
		}
	}
}

// Byte order helpers (encoding/binary would link reflect into the plugin, which starts for every pod).
func putLE16(b []byte, v uint16) { b[0], b[1] = byte(v), byte(v>>8) }
func putLE32(b []byte, v uint32) {
	b[0], b[1], b[2], b[3] = byte(v), byte(v>>8), byte(v>>16), byte(v>>24)
}
func le16(b []byte) uint16 { return uint16(b[0]) | uint16(b[1])<<8 }
func le32(b []byte) uint32 {
	return uint32(b[0]) | uint32(b[1])<<8 | uint32(b[2])<<16 | uint32(b[3])<<24
}
func be32(b []byte) uint32 {
	return uint32(b[3]) | uint32(b[2])<<8 | uint32(b[1])<<16 | uint32(b[0])<<24
}
