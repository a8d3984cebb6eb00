//go:build linux

package ocpp

import (
	"encoding/binary"
	"fmt"
	"io"
	"os"
	"sync"
	"syscall"

	"golang.org/x/sys/unix"
)

// idlePoller watches the sockets of idle chargers with one epoll instance
// and one goroutine, so that an idle charger holds neither a goroutine (its
// stack was 2 to 4 KB, the largest part of an idle charger's memory) nor a
// buffer. When a socket becomes readable the poller starts serveFrames for
// it; once that has read everything buffered it parks the socket again.
// Each socket is armed one-shot and level-triggered: it is reported once
// per park, and data that arrived before the park is reported at once.
//
// A connection whose socket cannot be reached (TLS: the TLS layer may hold
// decrypted bytes that epoll cannot see) keeps the waitFrame goroutine.
type idlePoller struct {
	epfd, wakefd int
	// file holds epfd for the runtime's network poller: run waits for
	// the epoll descriptor to turn readable the way any goroutine waits
	// for a socket, not in a blocking epoll_wait that would need a
	// thread and then a P to return (that delay cut saturation
	// throughput by half).
	file *os.File
	raw  syscall.RawConn
	// start makes the goroutine on the first park.
	start   sync.Once
	running bool
	// mu guards conns: the parked-at-least-once connections by their
	// poll id (never 0, the wake descriptor's).
	mu     sync.Mutex
	conns  map[uint64]*Conn
	nextID uint64
}

func newIdlePoller() (*idlePoller, error) {
	epfd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("epoll: %w", err)
	}
	wakefd, err := unix.Eventfd(0, unix.EFD_CLOEXEC|unix.EFD_NONBLOCK)
	if err != nil {
		unix.Close(epfd)
		return nil, fmt.Errorf("eventfd: %w", err)
	}
	ev := unix.EpollEvent{Events: unix.EPOLLIN}
	if err := unix.EpollCtl(epfd, unix.EPOLL_CTL_ADD, wakefd, &ev); err != nil {
		unix.Close(epfd)
		unix.Close(wakefd)
		return nil, fmt.Errorf("epoll add: %w", err)
	}
	// Non-blocking, so that os.NewFile registers it with the runtime's
	// poller.
	if err := unix.SetNonblock(epfd, true); err != nil {
		unix.Close(epfd)
		unix.Close(wakefd)
		return nil, fmt.Errorf("epoll nonblock: %w", err)
	}
	f := os.NewFile(uintptr(epfd), "ocpp-idle-epoll")
	raw, err := f.SyscallConn()
	if err != nil {
		f.Close()
		unix.Close(wakefd)
		return nil, fmt.Errorf("epoll file: %w", err)
	}
	return &idlePoller{epfd: epfd, wakefd: wakefd, file: f, raw: raw, conns: map[uint64]*Conn{}}, nil
}

// run dispatches readable sockets until wake is called.
func (p *idlePoller) run() {
	events := make([]unix.EpollEvent, 256)
	stop := false
	for !stop {
		err := p.raw.Read(func(fd uintptr) bool {
			n, err := unix.EpollWait(int(fd), events, 0)
			if err == unix.EINTR || (err == nil && n == 0) {
				return false // nothing ready: wait for the descriptor
			}
			if err != nil {
				stop = true // only a closed descriptor gets here
				return true
			}
			for i := range events[:n] {
				id := eventID(&events[i])
				if id == 0 {
					stop = true // wake: the server is shutting down
					continue
				}
				p.mu.Lock()
				c := p.conns[id]
				p.mu.Unlock()
				if c != nil && c.readState.CompareAndSwap(readParked, readRunning) {
					go c.serveFrames()
				}
			}
			return true
		})
		if err != nil {
			return
		}
	}
}

// park hands c's socket to the poller; it reports false when the socket
// cannot be watched (the caller then waits for the frame itself). c's
// state is readParked from here on; whoever moves it back to readRunning
// owns the read side.
func (p *idlePoller) park(s *Server, c *Conn) bool {
	if c.pollRaw == nil {
		return false
	}
	p.start.Do(func() {
		if s.enter(&s.bgWG) {
			p.running = true
			go func() {
				defer s.bgWG.Done()
				p.run()
			}()
		}
	})
	if !p.running {
		return false
	}
	op := unix.EPOLL_CTL_MOD
	if c.pollID == 0 {
		op = unix.EPOLL_CTL_ADD
		p.mu.Lock()
		p.nextID++
		c.pollID = p.nextID
		p.conns[c.pollID] = c
		p.mu.Unlock()
	}
	ev := unix.EpollEvent{Events: unix.EPOLLIN | unix.EPOLLRDHUP | unix.EPOLLONESHOT}
	setEventID(&ev, c.pollID)
	c.readState.Store(readParked)
	var cerr error
	// Control holds the descriptor open while epoll_ctl runs, so a
	// concurrent Close cannot let another socket take its number.
	err := c.pollRaw.Control(func(fd uintptr) { cerr = unix.EpollCtl(p.epfd, op, int(fd), &ev) })
	if err == nil {
		err = cerr
	}
	if err != nil && c.readState.CompareAndSwap(readParked, readRunning) {
		// Closed meanwhile (or epoll refused it): the read side is ours
		// again, and the read will say what happened.
		return false
	}
	return true
}

// forget drops c (its socket is closed or about to be: the kernel drops
// a closed descriptor from the epoll set by itself).
func (p *idlePoller) forget(c *Conn) {
	if c.pollID == 0 {
		return
	}
	p.mu.Lock()
	delete(p.conns, c.pollID)
	p.mu.Unlock()
}

// wake ends run.
func (p *idlePoller) wake() {
	var one [8]byte
	binary.NativeEndian.PutUint64(one[:], 1)
	_, _ = unix.Write(p.wakefd, one[:])
}

// close releases the descriptors, once run has ended and no connection
// is left.
func (p *idlePoller) close() {
	p.file.Close()
	unix.Close(p.wakefd)
}

// waitArrived waits in the runtime's network poller for a lingering
// charger's next bytes and reads them into a read buffer taken only once
// they are there, so that the wait holds no buffer and the read is the
// one a blocking read would have made.
func (c *Conn) waitArrived() error {
	if c.arrive == nil {
		c.arrive = c.readArrived
	}
	c.arriveErr = nil
	if err := c.pollRaw.Read(c.arrive); err != nil {
		return err
	}
	return c.arriveErr
}

// readArrived is waitArrived's read, called by RawConn.Read with the
// socket: false (wait for the poller) when nothing has arrived.
func (c *Conn) readArrived(fd uintptr) bool {
	rb := c.srv.getReadBuf()
	for {
		n, err := unix.Read(int(fd), rb.b)
		switch {
		case err == unix.EINTR:
			continue
		case err == unix.EAGAIN:
			c.srv.putReadBuf(rb)
			return false
		case n > 0:
			rb.w = n
			c.rb = rb
			return true
		case err == nil:
			c.arriveErr = io.EOF
		default:
			c.arriveErr = os.NewSyscallError("read", err)
		}
		c.srv.putReadBuf(rb)
		return true
	}
}

// tryWrite writes b with one non-blocking write and returns what the
// socket took (0 when its buffer is full); c.wmu is held. The answers a
// store gives from one goroutine (Deferred.Answer) must never wait for a
// charger.
func (c *Conn) tryWrite(b []byte) (int, error) {
	if c.attempt == nil {
		c.attempt = c.writeAttempt
	}
	c.wb = b
	err := c.pollRaw.Write(c.attempt)
	n, werr := c.wn, c.werr
	c.wb, c.wn, c.werr = nil, 0, nil
	if err != nil {
		return n, err
	}
	return n, werr
}

// writeAttempt is tryWrite's write, called by RawConn.Write with the
// socket: always true, so that RawConn.Write never waits.
func (c *Conn) writeAttempt(fd uintptr) bool {
	for {
		n, err := unix.Write(int(fd), c.wb)
		switch {
		case err == unix.EINTR:
			continue
		case err == unix.EAGAIN:
		case err != nil:
			c.werr = os.NewSyscallError("write", err)
		default:
			c.wn = n
		}
		return true
	}
}

// pollable returns the raw socket of nc when the poller can watch it.
func pollable(nc any) syscall.RawConn {
	sc, ok := nc.(syscall.Conn)
	if !ok {
		return nil
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return nil
	}
	return rc
}

// The epoll data of an event is 64 bits, split over Fd and Pad.
func eventID(ev *unix.EpollEvent) uint64 {
	return uint64(uint32(ev.Fd)) | uint64(uint32(ev.Pad))<<32
}

func setEventID(ev *unix.EpollEvent, id uint64) {
	ev.Fd, ev.Pad = int32(uint32(id)), int32(uint32(id>>32))
}
