//go:build !unix

package ocpp

import "net"

// peerGone cannot look at the socket here: a connection is never gone
// before its first read.
func peerGone(net.Conn) bool { return false }
