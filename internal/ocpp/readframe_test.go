package ocpp

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"sync"
	"testing"

	"github.com/gobwas/ws"
)

// wsFrame is one frame as the reference reader below decodes it.
type wsFrame struct {
	op      ws.OpCode
	fin     bool
	payload []byte
}

// referenceFrames decodes the client frames at the start of data the way
// RFC 6455 section 5.2 reads, with the server's rules (masked, no reserved
// bits, control frames short and whole, at most max bytes): the frames
// before the first one that is bad or cut short, and whether data ends
// exactly after them.
func referenceFrames(data []byte, max uint64) (frames []wsFrame, clean bool) {
	for {
		if len(data) == 0 {
			return frames, true
		}
		if len(data) < 2 {
			return frames, false
		}
		b0, b1 := data[0], data[1]
		data = data[2:]
		op := ws.OpCode(b0 & 0x0f)
		fin := b0&0x80 != 0
		if b0&0x70 != 0 || b1&0x80 == 0 {
			return frames, false
		}
		n := uint64(b1 & 0x7f)
		switch n {
		case 126:
			if len(data) < 2 {
				return frames, false
			}
			n, data = uint64(binary.BigEndian.Uint16(data)), data[2:]
		case 127:
			if len(data) < 8 {
				return frames, false
			}
			n, data = binary.BigEndian.Uint64(data), data[8:]
		}
		if op.IsControl() && (n > 125 || !fin) || n > max || len(data) < 4 || uint64(len(data)-4) < n {
			return frames, false
		}
		mask, body := data[:4], bytes.Clone(data[4:4+n])
		for i := range body {
			body[i] ^= mask[i%4]
		}
		frames = append(frames, wsFrame{op, fin, body})
		data = data[4+n:]
	}
}

// FuzzReadFrame gives a connection's frame reader arbitrary bytes, cut
// into pieces of arbitrary size, and checks that it reads the frames the
// reference reader finds, then fails where that stops (io.EOF only when
// the bytes end between two frames), whatever the pieces and wherever the
// read buffer's edges fall: frames that span several reads, several frames
// in one read, and payloads larger than the buffer.
func FuzzReadFrame(f *testing.F) {
	masked := func(op ws.OpCode, fin bool, payload []byte) []byte {
		var b bytes.Buffer
		fr := ws.MaskFrameInPlace(ws.NewFrame(op, fin, bytes.Clone(payload)))
		if err := ws.WriteFrame(&b, fr); err != nil {
			f.Fatal(err)
		}
		return b.Bytes()
	}
	text := []byte(`[2,"1","MeterValues",{"connectorId":1,"meterValue":[]}]`)
	f.Add(masked(ws.OpText, true, text), uint16(7))
	f.Add(append(masked(ws.OpText, false, text[:10]), masked(ws.OpContinuation, true, text[10:])...), uint16(1))
	f.Add(masked(ws.OpText, true, bytes.Repeat([]byte("x"), 300)), uint16(100))
	f.Add(append(masked(ws.OpText, true, bytes.Repeat([]byte("y"), 5000)), masked(ws.OpPing, true, []byte("p"))...), uint16(4095))
	f.Add(append(masked(ws.OpText, true, text), 0x81, 0x05, 'h', 'e', 'l', 'l', 'o'), uint16(3)) // unmasked
	f.Add(append(masked(ws.OpPing, true, nil), 0x89, 0xfe, 0x00, 0x7e, 1, 2, 3, 4), uint16(2))   // control frame of 126
	f.Add(masked(ws.OpText, true, text)[:20], uint16(0))
	const max = 8192
	f.Fuzz(func(t *testing.T, data []byte, piece uint16) {
		want, clean := referenceFrames(data, max)
		srv := NewServer(Config{MaxMessageSize: max})
		server, client := net.Pipe()
		c := &Conn{srv: srv, nc: server}
		var wg sync.WaitGroup
		wg.Go(func() {
			defer client.Close()
			size := int(piece)%(2*readBufSize) + 1
			for rest := data; len(rest) > 0; {
				k := min(size, len(rest))
				if _, err := client.Write(rest[:k]); err != nil {
					return // the reader stopped
				}
				rest = rest[k:]
				size = size*7%5000 + 1 // vary the pieces
			}
		})
		defer func() {
			server.Close()
			wg.Wait()
		}()
		for i := 0; ; i++ {
			op, fin, payload, err := c.readFrame()
			if err != nil {
				if i != len(want) {
					t.Fatalf("frame %d: %v; the reference reads %d frames", i, err, len(want))
				}
				if clean != errors.Is(err, io.EOF) {
					t.Fatalf("after the %d frames: %v; bytes end between frames: %v", i, err, clean)
				}
				if n := srv.Stats().ReadBuffers.Load(); n != 0 {
					t.Fatalf("%d read buffers held after the reader failed", n)
				}
				return
			}
			if i >= len(want) {
				t.Fatalf("frame %d (%v, %d bytes) read; the reference reads %d frames", i, op, len(payload), len(want))
			}
			if w := want[i]; op != w.op || fin != w.fin || !bytes.Equal(payload, w.payload) {
				t.Fatalf("frame %d: %v fin %v %q; want %v fin %v %q", i, op, fin, payload, w.op, w.fin, w.payload)
			}
		}
	})
}
