//go:build !unix

package bench

// settle has nothing to flush where sync(2) does not exist.
func settle() {}
