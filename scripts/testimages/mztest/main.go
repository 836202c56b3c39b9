// Command mztest is the one binary of the test image that the real-node e2e tests run in pods.
//
//	mztest echo [PORT...]     TCP servers (default 8080): reply "echo HOSTNAME PORT: LINE" to each line
//	mztest proxy [PORT...]    stand-in istio-proxy (default 15001 15006): for each connection, reply one line
//	                          "proxy PORT orig=IP:PORT from=IP:PORT uid=UID" with the connection's original
//	                          destination (SO_ORIGINAL_DST, IPv4), log the same line, close
//	mztest connect HOST:PORT [MSG]   connect (3 s timeout), send MSG (default "hello"), print the first line of the reply
//	mztest dial HOST:PORT     connect (3 s timeout) and print "connected to ADDR from ADDR"
//	mztest sleep              block until SIGTERM/SIGINT
package main

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"net"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"
)

const soOriginalDst = 80 // linux/netfilter_ipv4.h

func main() {
	if len(os.Args) < 2 {
		usage()
	}
	args := os.Args[2:]
	switch os.Args[1] {
	case "echo":
		serve(portsOr(args, "8080"), echoConn)
	case "proxy":
		serve(portsOr(args, "15001", "15006"), proxyConn)
	case "connect":
		if len(args) < 1 {
			usage()
		}
		msg := "hello"
		if len(args) > 1 {
			msg = args[1]
		}
		os.Exit(connect(args[0], msg))
	case "dial":
		if len(args) < 1 {
			usage()
		}
		c, err := net.DialTimeout("tcp", args[0], 3*time.Second)
		if err != nil {
			fmt.Fprintf(os.Stderr, "dial %s: %v\n", args[0], err)
			os.Exit(1)
		}
		fmt.Printf("connected to %s from %s\n", c.RemoteAddr(), c.LocalAddr())
		_ = c.Close()
	case "sleep":
		waitSignal()
	default:
		usage()
	}
}

func usage() {
	fmt.Fprintln(os.Stderr, "usage: mztest echo [PORT...] | proxy [PORT...] | connect HOST:PORT [MSG] | dial HOST:PORT | sleep")
	os.Exit(2)
}

func portsOr(args []string, def ...string) []string {
	if len(args) > 0 {
		return args
	}
	return def
}

func waitSignal() {
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM)
	<-sigs
	os.Exit(0)
}

func serve(ports []string, handle func(net.Conn, string)) {
	for _, p := range ports {
		ln, err := net.Listen("tcp", ":"+p)
		if err != nil {
			fmt.Fprintf(os.Stderr, "mztest: listen on port %s: %v\n", p, err)
			os.Exit(1)
		}
		fmt.Printf("listening on %s uid=%d\n", ln.Addr(), os.Getuid())
		go func(ln net.Listener, port string) {
			for {
				c, err := ln.Accept()
				if err != nil {
					fmt.Fprintf(os.Stderr, "mztest: accept: %v\n", err)
					time.Sleep(100 * time.Millisecond)
					continue
				}
				go handle(c, port)
			}
		}(ln, p)
	}
	waitSignal()
}

func echoConn(c net.Conn, port string) {
	defer c.Close()
	host, _ := os.Hostname()
	_ = c.SetDeadline(time.Now().Add(30 * time.Second))
	sc := bufio.NewScanner(c)
	for sc.Scan() {
		fmt.Fprintf(c, "echo %s %s: %s\n", host, port, sc.Text())
	}
}

func proxyConn(c net.Conn, port string) {
	defer c.Close()
	orig := "unknown"
	if tc, ok := c.(*net.TCPConn); ok {
		if a, err := originalDst(tc); err == nil {
			orig = a
		} else {
			orig = "error:" + strings.ReplaceAll(err.Error(), " ", "_")
		}
	}
	line := fmt.Sprintf("proxy %s orig=%s from=%s uid=%d", port, orig, c.RemoteAddr(), os.Getuid())
	fmt.Println(line)
	fmt.Fprintln(c, line)
}

// originalDst reads the destination a connection had before iptables' REDIRECT/DNAT rewrote it.
func originalDst(c *net.TCPConn) (string, error) {
	raw, err := c.SyscallConn()
	if err != nil {
		return "", err
	}
	var addr string
	var serr error
	err = raw.Control(func(fd uintptr) {
		// struct sockaddr_in fits in the 16 bytes of an ipv6_mreq, the stdlib's fixed-size getsockopt.
		m, e := syscall.GetsockoptIPv6Mreq(int(fd), syscall.SOL_IP, soOriginalDst)
		if e != nil {
			serr = e
			return
		}
		b := m.Multiaddr
		port := binary.BigEndian.Uint16(b[2:4])
		addr = net.JoinHostPort(net.IPv4(b[4], b[5], b[6], b[7]).String(), strconv.Itoa(int(port)))
	})
	if err != nil {
		return "", err
	}
	return addr, serr
}

func connect(addr, msg string) int {
	c, err := net.DialTimeout("tcp", addr, 3*time.Second)
	if err != nil {
		fmt.Fprintf(os.Stderr, "connect %s: %v\n", addr, err)
		return 1
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	fmt.Fprintln(c, msg)
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil && line == "" {
		fmt.Fprintf(os.Stderr, "read from %s: %v\n", addr, err)
		return 1
	}
	fmt.Print(strings.TrimRight(line, "\n") + "\n")
	return 0
}
