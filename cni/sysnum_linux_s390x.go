package main

import "syscall"

// System call numbers the syscall package does not name on every architecture.
const (
	sysSetns       = 339
	sysGetsockopt  = syscall.SYS_GETSOCKOPT
	sysMemfdCreate = 350
)
