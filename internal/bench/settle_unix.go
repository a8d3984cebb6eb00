//go:build unix

package bench

import "syscall"

// settle flushes the file system's dirty pages before a measurement, so
// that one server's writes (a SQLite WAL of hundreds of MB, say, or the
// removal of its files) are not written back by the kernel during the
// next server's window, taking CPU from it and its load generator.
func settle() { syscall.Sync() }
