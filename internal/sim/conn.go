package sim

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/gobwas/ws"
	"github.com/gobwas/ws/wsutil"
)

// maxMessageSize bounds a message from the central system. OCPP 1.6 messages
// are small; SendLocalList is the largest the simulator accepts.
const maxMessageSize = 1 << 20

// wsConn is one WebSocket connection to the central system. Writes happen with
// the charger's mu held; the reader goroutine reads without it.
type wsConn struct {
	nc net.Conn
	// src is what frames are read from: the connection, or a buffered
	// reader over it when the server sent bytes right after the handshake.
	src    io.Reader
	br     *bufio.Reader
	closed bool
}

// bufPool holds frame buffers shared by all chargers, so an idle charger
// keeps none.
var bufPool = sync.Pool{New: func() any { b := make([]byte, 0, 512); return &b }}

func getBuf() *[]byte { return bufPool.Get().(*[]byte) }

func putBuf(b *[]byte) {
	if cap(*b) > 64<<10 {
		return
	}
	*b = (*b)[:0]
	bufPool.Put(b)
}

// dial opens the WebSocket connection, waiting first for a turn among the
// fleet's dialers.
func (c *Charger) dial(ctx context.Context, target string) (*wsConn, error) {
	if c.dialSem != nil {
		select {
		case c.dialSem <- struct{}{}:
			defer func() { <-c.dialSem }()
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	nd := &net.Dialer{}
	if c.localAddr.IsValid() {
		nd.LocalAddr = &net.TCPAddr{IP: c.localAddr.AsSlice(), Zone: c.localAddr.Zone()}
	}
	d := ws.Dialer{
		Protocols: []string{c.subprotocol()},
		Timeout:   c.cfg.DialTimeout,
		NetDial:   nd.DialContext,
	}
	c.mu.Lock()
	c.dialSecurity(&d)
	c.mu.Unlock()
	var refusal string
	d.OnStatusError = func(status int, reason []byte, resp io.Reader) {
		refusal = fmt.Sprintf("the central system answered the WebSocket upgrade with HTTP %d %s", status, reason)
		if r, err := http.ReadResponse(bufio.NewReader(io.LimitReader(resp, 4096)), nil); err == nil {
			body, _ := io.ReadAll(io.LimitReader(r.Body, 300))
			if b := strings.TrimSpace(string(body)); b != "" {
				refusal += ": " + b
			}
		}
	}
	nc, br, hs, err := d.Dial(ctx, target)
	if err != nil {
		if refusal == "" {
			refusal = "cannot connect: " + err.Error()
		}
		return nil, &refusalError{reason: refusal, err: fmt.Errorf("dial %s: %w", target, err)}
	}
	if hs.Protocol != c.subprotocol() {
		nc.Close()
		if br != nil {
			ws.PutReader(br)
		}
		return nil, fmt.Errorf("dial %s: server chose subprotocol %q, want %q", target, hs.Protocol, c.subprotocol())
	}
	cc := &wsConn{nc: nc, src: nc}
	if br != nil {
		cc.br = br
		cc.src = br
	}
	return cc, nil
}

// writeText writes one text message as a single masked frame.
func (cc *wsConn) writeText(p []byte, timeout time.Duration) error {
	if cc.closed {
		return net.ErrClosed
	}
	cc.nc.SetWriteDeadline(time.Now().Add(timeout))
	w := wsutil.GetWriter(cc.nc, ws.StateClientSide, ws.OpText, len(p)+ws.MaxHeaderSize)
	_, err := w.Write(p)
	if err == nil {
		err = w.Flush()
	}
	wsutil.PutWriter(w)
	return err
}

// writeControl writes a control frame.
func (cc *wsConn) writeControl(op ws.OpCode, p []byte, timeout time.Duration) error {
	if cc.closed {
		return net.ErrClosed
	}
	cc.nc.SetWriteDeadline(time.Now().Add(timeout))
	return wsutil.WriteClientMessage(cc.nc, op, p)
}

// writeClose says goodbye (1001 going away) without waiting for the answer.
func (cc *wsConn) writeClose(timeout time.Duration) {
	cc.nc.SetWriteDeadline(time.Now().Add(min(timeout, time.Second)))
	_ = wsutil.WriteClientMessage(cc.nc, ws.OpClose, ws.NewCloseFrameBody(ws.StatusGoingAway, ""))
}

// readLoop reads messages from cc and hands each to the charger until the
// connection fails or closes. Control frames are answered here.
func (c *Charger) readLoop(cc *wsConn) error {
	defer func() {
		if cc.br != nil {
			ws.PutReader(cc.br)
		}
	}()
	rd := &wsutil.Reader{
		Source:         cc.src,
		State:          ws.StateClientSide,
		CheckUTF8:      true,
		MaxMessageSize: maxMessageSize,
	}
	var ctl [125]byte
	control := func(h ws.Header, r io.Reader) error {
		if h.Length > int64(len(ctl)) {
			return ws.ErrProtocolControlPayloadOverflow
		}
		p := ctl[:h.Length]
		if _, err := io.ReadFull(r, p); err != nil {
			return err
		}
		switch h.OpCode {
		case ws.OpPing:
			c.mu.Lock()
			err := cc.writeControl(ws.OpPong, p, c.cfg.WriteTimeout)
			c.mu.Unlock()
			return err
		case ws.OpClose:
			code, reason := ws.ParseCloseFrameData(p)
			c.mu.Lock()
			_ = cc.writeControl(ws.OpClose, ws.NewCloseFrameBody(code, ""), c.cfg.WriteTimeout)
			c.mu.Unlock()
			return wsutil.ClosedError{Code: code, Reason: reason}
		}
		return nil // pong
	}
	rd.OnIntermediate = control
	for {
		h, err := rd.NextFrame()
		if err != nil {
			return err
		}
		if h.OpCode.IsControl() {
			if err := control(h, rd); err != nil {
				return err
			}
			continue
		}
		bp := getBuf()
		msg := bytes.NewBuffer((*bp)[:0])
		_, err = msg.ReadFrom(rd)
		if err != nil {
			putBuf(bp)
			if errors.Is(err, io.EOF) {
				err = io.ErrUnexpectedEOF
			}
			return err
		}
		if h.OpCode == ws.OpText {
			c.mu.Lock()
			if c.conn != cc {
				c.mu.Unlock()
				putBuf(bp)
				return net.ErrClosed
			}
			c.handleFrame(msg.Bytes())
			c.settle()
		}
		*bp = msg.Bytes()
		putBuf(bp)
	}
}

// refusalError is a failed connection attempt with its reason, which names
// no charger (an HTTP answer other than 101, or a network error).
type refusalError struct {
	reason string
	err    error
}

func (e *refusalError) Error() string { return e.err.Error() }
func (e *refusalError) Unwrap() error { return e.err }
