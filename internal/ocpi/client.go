package ocpi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
)

// maxBody bounds what we read of a peer's answer or request.
const maxBody = 4 << 20

// callError is a failed call to a peer. Retry tells the outbox whether
// trying again later can help (transport errors, HTTP 5xx, 408, 429, OCPI
// 3xxx); a refusal of the content (HTTP 4xx, OCPI 2xxx) cannot.
type callError struct {
	Method, URL string
	HTTP        int
	Code        StatusCode
	Msg         string
	Retry       bool
	Err         error
}

func (e *callError) Error() string {
	switch {
	case e.Err != nil:
		return fmt.Sprintf("%s %s: %v", e.Method, e.URL, e.Err)
	case e.Code != 0:
		return fmt.Sprintf("%s %s: HTTP %d, OCPI %d %s", e.Method, e.URL, e.HTTP, e.Code, e.Msg)
	}
	return fmt.Sprintf("%s %s: HTTP %d %s", e.Method, e.URL, e.HTTP, e.Msg)
}

func (e *callError) Unwrap() error { return e.Err }

// retryable reports whether a push that failed with err may succeed later.
func retryable(err error) bool {
	var ce *callError
	if errors.As(err, &ce) {
		return ce.Retry
	}
	return true
}

// call sends one request to a peer with token and our routing headers and
// returns the envelope's data. body is marshalled unless it is nil.
func (c *CPO) call(ctx context.Context, p *Peer, token, method, url string, body any) (json.RawMessage, http.Header, error) {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return nil, nil, err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, url, rd)
	if err != nil {
		return nil, nil, &callError{Method: method, URL: url, Err: err}
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Accept", "application/json")
	if token != "" {
		req.Header.Set("Authorization", EncodeToken(token))
	}
	id := newUUID()
	req.Header.Set(hRequestID, id)
	req.Header.Set(hCorrelationID, id)
	req.Header.Set(hFromCountryCode, c.cfg.Party.CountryCode)
	req.Header.Set(hFromPartyID, c.cfg.Party.PartyID)
	if p != nil && p.CountryCode != "" {
		req.Header.Set(hToCountryCode, p.CountryCode)
		req.Header.Set(hToPartyID, p.PartyID)
	}
	resp, err := c.client.Do(req)
	if err != nil {
		return nil, nil, &callError{Method: method, URL: url, Retry: true, Err: err}
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, maxBody))
	if err != nil {
		return nil, nil, &callError{Method: method, URL: url, Retry: true, Err: err}
	}
	var env Response
	jsonErr := json.Unmarshal(raw, &env)
	if resp.StatusCode >= 300 || jsonErr != nil || env.StatusCode >= 2000 || env.StatusCode < 1000 {
		ce := &callError{Method: method, URL: url, HTTP: resp.StatusCode, Code: env.StatusCode, Msg: env.StatusMessage}
		if jsonErr != nil || env.StatusCode == 0 {
			ce.Code, ce.Msg = 0, http.StatusText(resp.StatusCode)
			if resp.StatusCode < 300 {
				ce.Msg = "answer is not an OCPI envelope"
			}
		}
		ce.Retry = resp.StatusCode >= 500 || resp.StatusCode == http.StatusRequestTimeout ||
			resp.StatusCode == http.StatusTooManyRequests || env.StatusCode >= 3000 ||
			(resp.StatusCode < 300 && ce.Code == 0)
		return nil, resp.Header, ce
	}
	return env.Data, resp.Header, nil
}
