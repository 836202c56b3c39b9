package main

import "syscall"

// System call numbers the syscall package does not name on every architecture.
const (
	sysSetns       = 268
	sysGetsockopt  = syscall.SYS_GETSOCKOPT
	sysMemfdCreate = 279
)
