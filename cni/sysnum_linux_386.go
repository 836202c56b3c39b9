package main

// System call numbers the syscall package does not name on every architecture.
const (
	sysSetns       = 346
	sysGetsockopt  = 365 // getsockopt: i386 has had it as a system call of its own since Linux 4.3 (the syscall package only knows socketcall)
	sysMemfdCreate = 356
)
