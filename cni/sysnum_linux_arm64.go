package main

// System call numbers the syscall package does not name on every architecture.
const (
	sysSetns       = 268
	sysMemfdCreate = 279
)
