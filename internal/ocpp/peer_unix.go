//go:build unix

package ocpp

import (
	"crypto/tls"
	"errors"
	"net"
	"syscall"
)

// peerGone reports whether the other side of nc has already closed or
// reset it, without reading or waiting: a look at the socket's receive
// queue (MSG_PEEK), which the bytes a live charger sent stay in. Only
// plain TCP (under TLS too) can be looked at; other connections are
// never gone.
func peerGone(nc net.Conn) bool {
	if tc, ok := nc.(*tls.Conn); ok {
		nc = tc.NetConn()
	}
	sc, ok := nc.(syscall.Conn)
	if !ok {
		return false
	}
	raw, err := sc.SyscallConn()
	if err != nil {
		return false
	}
	gone := false
	var b [1]byte
	_ = raw.Read(func(fd uintptr) bool {
		n, _, err := syscall.Recvfrom(int(fd), b[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
		gone = (n == 0 && err == nil) || errors.Is(err, syscall.ECONNRESET)
		return true // never wait for the socket to turn readable
	})
	return gone
}
