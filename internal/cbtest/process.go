package cbtest

import (
	"encoding/json"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/chargebridge/chargebridge/internal/api"
)

// The tests that need a real chargebridge process (several processes on
// one database, a kill -9) build the binary and run `chargebridge serve`.

// BuildBinary builds cmd/chargebridge into a temporary directory.
func BuildBinary(t *testing.T) string {
	t.Helper()
	goTool := filepath.Join(runtime.GOROOT(), "bin", "go")
	if _, err := os.Stat(goTool); err != nil {
		if goTool, err = exec.LookPath("go"); err != nil {
			t.Skip("no go command to build chargebridge with")
		}
	}
	bin := filepath.Join(t.TempDir(), "chargebridge")
	cmd := exec.Command(goTool, "build", "-o", bin, "github.com/chargebridge/chargebridge/cmd/chargebridge")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build ./cmd/chargebridge: %v\n%s", err, out)
	}
	return bin
}

// FreePort returns an address on 127.0.0.1 nothing listens on now. serve
// needs a concrete port, so there is a short window in which another
// program could take it.
func FreePort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// Process is a `chargebridge serve` child process.
type Process struct {
	Name string
	Base string // http://127.0.0.1:PORT
	Cmd  *exec.Cmd
	Out  *LogBuffer
	// Exited is closed when the process has exited, with Err its status.
	Exited chan struct{}
	Err    error
}

// StartServe runs `bin serve --http ADDR args...` on a free port (addr ""),
// or on addr. It is killed when the test ends, if still running.
func StartServe(t *testing.T, bin, name, addr string, args ...string) *Process {
	t.Helper()
	if addr == "" {
		addr = FreePort(t)
	}
	p := &Process{Name: name, Base: "http://" + addr, Out: &LogBuffer{}, Exited: make(chan struct{})}
	p.Cmd = exec.Command(bin, append([]string{"serve", "--http", addr}, args...)...)
	// Flags win over CHARGEBRIDGE_* variables, but a --config file from
	// the environment could still add settings: run without one.
	p.Cmd.Env = slices.DeleteFunc(os.Environ(), func(kv string) bool { return strings.HasPrefix(kv, "CHARGEBRIDGE_CONFIG") })
	p.Cmd.Stdout, p.Cmd.Stderr = p.Out, p.Out
	if err := p.Cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	go func() {
		p.Err = p.Cmd.Wait()
		close(p.Exited)
	}()
	t.Cleanup(func() {
		select {
		case <-p.Exited:
		default:
			p.Cmd.Process.Kill()
			<-p.Exited
		}
	})
	return p
}

// WSURL is the process's OCPP base URL.
func (p *Process) WSURL() string { return "ws" + strings.TrimPrefix(p.Base, "http") + "/ocpp" }

// WaitReady polls /readyz until the process serves.
func (p *Process) WaitReady(t *testing.T) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case <-p.Exited:
			t.Fatalf("%s exited before it was ready: %v\n%s", p.Name, p.Err, p.Out)
		default:
		}
		resp, err := http.Get(p.Base + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("%s not ready after 30s:\n%s", p.Name, p.Out)
}

// Stop interrupts the process and waits for a clean exit.
func (p *Process) Stop(t *testing.T) {
	t.Helper()
	if err := p.Cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Errorf("interrupt %s: %v", p.Name, err)
	}
	select {
	case <-p.Exited:
		if p.Err != nil {
			t.Errorf("%s exited with %v:\n%s", p.Name, p.Err, p.Out)
		}
	case <-time.After(20 * time.Second):
		// A goroutine dump says what it waits for.
		_ = p.Cmd.Process.Signal(syscall.SIGQUIT)
		select {
		case <-p.Exited:
		case <-time.After(5 * time.Second):
		}
		t.Errorf("%s did not stop within 20s (its goroutines at SIGQUIT follow):\n%s", p.Name, p.Out)
	}
}

// Kill kills the process (SIGKILL: no shutdown, no flush) and waits for it.
func (p *Process) Kill(t *testing.T) {
	t.Helper()
	if err := p.Cmd.Process.Kill(); err != nil {
		t.Fatalf("kill %s: %v", p.Name, err)
	}
	<-p.Exited
}

// GetJSON GETs path and decodes the answer into v; it fails the test on
// any status but 200.
func (p *Process) GetJSON(t *testing.T, path string, v any) {
	t.Helper()
	resp, err := http.Get(p.Base + path)
	if err != nil {
		t.Fatalf("%s: GET %s: %v", p.Name, path, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("%s: GET %s: status %d", p.Name, path, resp.StatusCode)
	}
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		t.Fatalf("%s: GET %s: %v", p.Name, path, err)
	}
}

// Sessions pages through the process's whole session list.
func (p *Process) Sessions(t *testing.T) []api.Session {
	t.Helper()
	var all []api.Session
	cursor := ""
	for range 10000 {
		var page struct {
			Items      []api.Session `json:"items"`
			NextCursor string        `json:"next_cursor"`
		}
		p.GetJSON(t, "/api/v1/sessions?limit=200&cursor="+cursor, &page)
		all = append(all, page.Items...)
		if page.NextCursor == "" {
			return all
		}
		cursor = page.NextCursor
	}
	t.Fatalf("%s: the session list does not end", p.Name)
	return nil
}
