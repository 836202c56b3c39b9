package main

// System call numbers the syscall package does not name on every architecture.
const (
	sysSetns       = 339
	sysMemfdCreate = 350
)
