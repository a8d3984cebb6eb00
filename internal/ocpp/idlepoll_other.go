//go:build !linux

package ocpp

import (
	"errors"
	"syscall"
)

// idlePoller is Linux only (epoll); elsewhere every idle charger keeps its
// waitFrame goroutine.
type idlePoller struct{}

func newIdlePoller() (*idlePoller, error) { return nil, errors.ErrUnsupported }

func (p *idlePoller) park(*Server, *Conn) bool { return false }
func (p *idlePoller) forget(*Conn)             {}
func (p *idlePoller) wake()                    {}
func (p *idlePoller) close()                   {}

func pollable(any) syscall.RawConn { return nil }

// waitArrived is never called here: without pollable sockets no charger
// lingers.
func (c *Conn) waitArrived() error { return errors.ErrUnsupported }

// tryWrite is never called here: without pollable sockets no call is
// deferred (Conn.Defer).
func (c *Conn) tryWrite([]byte) (int, error) { return 0, errors.ErrUnsupported }
