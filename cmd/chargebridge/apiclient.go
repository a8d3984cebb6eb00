package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/chargebridge/chargebridge/internal/security"
)

// apiClient calls a running chargebridge's operator API, for the commands
// that need the server (cmd, the connected column of chargers list, sim
// --register).
type apiClient struct {
	base  string // http://HOST:PORT
	token string
	http  *http.Client
	// err is a setup error (an unreadable --ca), returned by every call.
	err error
}

// apiFlags adds --server, --api-token and --ca to f; the returned function
// gives the client once f is parsed.
func apiFlags(f *flags) func() *apiClient {
	server := f.String("server", "", "chargebridge server URL (default http://$CHARGEBRIDGE_HTTP, else http://127.0.0.1:8080)")
	token := f.String("api-token", "", "the server's operator API token (default $CHARGEBRIDGE_API_TOKEN)")
	caFile := f.String("ca", "", "CA certificate (PEM) that signs the server's TLS certificate, when it is not publicly trusted")
	return func() *apiClient {
		c := newAPIClient(*server, *token)
		if *caFile != "" {
			pool, err := security.LoadCertPool(*caFile)
			if err != nil {
				c.err = fmt.Errorf("--ca: %w", err)
			} else {
				c.http.Transport = &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}}
			}
		}
		return c
	}
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
	if c.err != nil {
		return c.err
	}
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
		var ue *url.Error
		if errors.As(err, &ue) && strings.Contains(ue.Err.Error(), "certificate") {
			return fmt.Errorf("the server at %s has a TLS certificate this machine does not trust (%v): give its CA with --ca FILE", c.base, ue.Err)
		}
		return fmt.Errorf("no chargebridge server answers at %s (start one with chargebridge serve, or point at yours with --server URL): %v", c.base, unwrapURL(err))
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

// unwrapURL drops the method and URL the http client puts before an error.
func unwrapURL(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}
