package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"time"
)

// apiClient calls a running chargebridge's operator API, for the commands
// that need the server (cmd, the connected column of chargers list, sim
// --register).
type apiClient struct {
	base  string // http://HOST:PORT
	token string
	http  *http.Client
}

// apiFlags adds --server and --api-token to f; the returned function
// gives the client once f is parsed.
func apiFlags(f *flags) func() *apiClient {
	server := f.String("server", "", "chargebridge server URL (default http://$CHARGEBRIDGE_HTTP, else http://127.0.0.1:8080)")
	token := f.String("api-token", "", "the server's operator API token (default $CHARGEBRIDGE_API_TOKEN)")
	return func() *apiClient { return newAPIClient(*server, *token) }
}

func newAPIClient(server, token string) *apiClient {
	if server == "" {
		addr := os.Getenv("CHARGEBRIDGE_HTTP")
		if addr == "" {
			addr = "127.0.0.1:8080"
		}
		server = "http://" + addr
	}
	if token == "" {
		token = os.Getenv("CHARGEBRIDGE_API_TOKEN")
	}
	return &apiClient{base: strings.TrimRight(server, "/"), token: token, http: &http.Client{Timeout: 90 * time.Second}}
}

// apiError is an answer other than 2xx, with the API's own message.
type apiError struct {
	Status int
	Msg    string
	Body   []byte
}

func (e *apiError) Error() string { return e.Msg }

// do sends a request with a JSON body (in, unless nil) and decodes a JSON
// answer into out (unless nil). Every error is one line that says what to
// do.
func (c *apiClient) do(ctx context.Context, method, path string, in, out any) error {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return err
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, body)
	if err != nil {
		return fmt.Errorf("--server %q: %w", c.base, err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Requested-By", "cli")
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		if errors.Is(err, context.Canceled) {
			return err
		}
		return fmt.Errorf("no chargebridge server answers at %s (start one with chargebridge serve, or point at yours with --server URL)", c.base)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		return fmt.Errorf("read the answer from %s: %w", c.base, err)
	}
	if resp.StatusCode == http.StatusUnauthorized {
		return &apiError{Status: resp.StatusCode, Body: b, Msg: fmt.Sprintf("the server at %s wants a login: pass --api-token TOKEN or set CHARGEBRIDGE_API_TOKEN (the token the server runs with)", c.base)}
	}
	if resp.StatusCode/100 != 2 {
		var e struct {
			Error string `json:"error"`
		}
		msg := strings.TrimSpace(string(b))
		if json.Unmarshal(b, &e) == nil && e.Error != "" {
			msg = e.Error
		}
		if len(msg) > 300 {
			msg = msg[:300] + "…"
		}
		return &apiError{Status: resp.StatusCode, Body: b, Msg: fmt.Sprintf("%s (HTTP %d)", msg, resp.StatusCode)}
	}
	if out == nil {
		return nil
	}
	if raw, ok := out.(*json.RawMessage); ok {
		*raw = b
		return nil
	}
	if err := json.Unmarshal(b, out); err != nil {
		return fmt.Errorf("the answer from %s%s is not what chargebridge sends (is --server a chargebridge?): %w", c.base, path, err)
	}
	return nil
}
