package ocpp

import (
	"bufio"
	"io"
)

// readBufSize is the size of a connection's read buffer: a MeterValues
// frame and the next one's header fit, and larger frames are read past it.
const readBufSize = 4096

// readBuf is a pooled read buffer, held by a connection only while its
// frames are being read (Conn.rb). It is filled either by a read of the
// socket (Conn.readFull) or, when a busy charger's next frame arrives, by
// the read that found it (Conn.readArrived), so that waiting holds no
// buffer and costs no extra system call.
type readBuf struct {
	b    []byte
	r, w int // unread bytes are b[r:w]
}

func (s *Server) getReadBuf() *readBuf {
	s.stats.ReadBuffers.Add(1)
	if rb, ok := s.readBufs.Get().(*readBuf); ok {
		return rb
	}
	return &readBuf{b: make([]byte, readBufSize)}
}

func (s *Server) putReadBuf(rb *readBuf) {
	s.stats.ReadBuffers.Add(-1)
	if len(rb.b) != readBufSize {
		return // an upgrade's larger one
	}
	rb.r, rb.w = 0, 0
	s.readBufs.Put(rb)
}

// adoptBuffered takes the bytes an upgrade left buffered in br (the
// charger's first frames, sent before it read the 101) into a read
// buffer; it returns nil when there are none.
func (s *Server) adoptBuffered(br *bufio.Reader) *readBuf {
	if br == nil || br.Buffered() == 0 {
		return nil
	}
	rb := s.getReadBuf()
	if n := br.Buffered(); n > len(rb.b) {
		rb.b = make([]byte, n)
	}
	rb.w, _ = br.Read(rb.b)
	return rb
}

// buffered is the number of bytes read from the socket and not consumed.
func (c *Conn) buffered() int {
	if c.rb == nil {
		return 0
	}
	return c.rb.w - c.rb.r
}

// readFull reads len(p) bytes, from the connection's read buffer (taken
// if it has none) and the socket, with io.ReadFull's errors. What is left
// of a read larger than the buffer goes to p directly.
func (c *Conn) readFull(p []byte) error {
	if c.rb == nil {
		c.rb = c.srv.getReadBuf()
	}
	rb := c.rb
	got := 0
	for got < len(p) {
		if rb.r < rb.w {
			n := copy(p[got:], rb.b[rb.r:rb.w])
			rb.r += n
			got += n
			continue
		}
		rb.r, rb.w = 0, 0
		var n int
		var err error
		if len(p)-got >= len(rb.b) {
			n, err = c.nc.Read(p[got:])
			got += n
		} else {
			n, err = c.nc.Read(rb.b)
			rb.w = n
		}
		switch {
		case n > 0:
			// Bytes that came with an error are used first; the next
			// read reports it again.
		case err == nil:
			return io.ErrNoProgress
		case err == io.EOF && got > 0:
			return io.ErrUnexpectedEOF
		default:
			return err
		}
	}
	return nil
}
