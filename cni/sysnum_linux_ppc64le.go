package main

// System call numbers the syscall package does not name on every architecture.
const (
	sysSetns       = 350
	sysMemfdCreate = 360
)
