package ocpi

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/chargebridge/chargebridge/internal/charging"
	"github.com/chargebridge/chargebridge/internal/tariff"
)

// Version is the one OCPI version chargebridge speaks.
const Version = "2.2.1"

// StatusCode is an OCPI status_code (status_codes.asciidoc).
type StatusCode int

// OCPI status codes chargebridge uses.
const (
	StatusSuccess            StatusCode = 1000
	StatusClientError        StatusCode = 2000
	StatusInvalidParams      StatusCode = 2001
	StatusNotEnoughInfo      StatusCode = 2002
	StatusUnknownLocation    StatusCode = 2003
	StatusUnknownToken       StatusCode = 2004
	StatusServerError        StatusCode = 3000
	StatusClientAPIError     StatusCode = 3001
	StatusUnsupportedVersion StatusCode = 3002
	StatusNoMatchingEndpoint StatusCode = 3003
)

// Response is the OCPI envelope of every answer.
type Response struct {
	Data          json.RawMessage `json:"data,omitempty"`
	StatusCode    StatusCode      `json:"status_code"`
	StatusMessage string          `json:"status_message,omitempty"`
	Timestamp     DateTime        `json:"timestamp"`
}

// Error is an OCPI failure: a status code, the HTTP status to send it
// with, and a message for the peer.
type Error struct {
	HTTP    int
	Code    StatusCode
	Message string
}

func (e *Error) Error() string {
	return fmt.Sprintf("ocpi %d: %s", e.Code, e.Message)
}

func errorf(httpStatus int, code StatusCode, format string, args ...any) *Error {
	return &Error{HTTP: httpStatus, Code: code, Message: fmt.Sprintf(format, args...)}
}

// Header names (transport_and_format, "Request format" and "Message routing").
const (
	hRequestID       = "X-Request-ID"
	hCorrelationID   = "X-Correlation-ID"
	hFromCountryCode = "OCPI-from-country-code"
	hFromPartyID     = "OCPI-from-party-id"
	hToCountryCode   = "OCPI-to-country-code"
	hToPartyID       = "OCPI-to-party-id"
	hTotalCount      = "X-Total-Count"
	hLimit           = "X-Limit"
)

// newUUID returns a random UUID v4 string (for tokens and request ids).
func newUUID() string {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic("crypto/rand failed: " + err.Error())
	}
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b[:])
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}

// EncodeToken is the Authorization header value of a credentials token:
// "Token " and the token in Base64 (RFC 4648 section 4), as 2.2.1 requires.
func EncodeToken(token string) string {
	return "Token " + base64.StdEncoding.EncodeToString([]byte(token))
}

// DecodeTokenHeader returns the candidate credentials tokens of an
// Authorization header: the Base64-decoded token, and the value as sent,
// because OCPI 2.1.1 and 2.2 peers often send it un-encoded (the 2.2.1
// note in transport_and_format). The caller tries them in order.
func DecodeTokenHeader(h string) []string {
	const prefix = "token "
	if len(h) < len(prefix) || !strings.EqualFold(h[:len(prefix)], prefix) {
		return nil
	}
	raw := strings.TrimSpace(h[len(prefix):])
	if raw == "" {
		return nil
	}
	var out []string
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		if b, err := enc.DecodeString(raw); err == nil {
			// Some peers encode a trailing newline (the spec's own example
			// does, "...Cg==").
			if s := strings.TrimRight(string(b), "\r\n"); validToken(s) {
				out = append(out, s)
				break
			}
		}
	}
	if validToken(raw) {
		out = append(out, raw)
	}
	return out
}

// validToken: 1 to 64 printable non-whitespace ASCII characters (credentials
// object, "token").
func validToken(s string) bool {
	if len(s) == 0 || len(s) > 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < 0x21 || s[i] > 0x7e {
			return false
		}
	}
	return true
}

// writeResponse writes the envelope with data (nil for none).
func (c *CPO) writeResponse(w http.ResponseWriter, status int, data any) {
	var raw json.RawMessage
	if data != nil {
		b, err := json.Marshal(data)
		if err != nil {
			c.writeError(w, errorf(http.StatusInternalServerError, StatusServerError, "encode answer: %v", err))
			return
		}
		raw = b
	}
	c.writeEnvelope(w, status, Response{Data: raw, StatusCode: StatusSuccess, StatusMessage: "Success", Timestamp: DateTime(c.now())})
}

// writeError writes an OCPI error. Errors that are not *Error are 3000.
func (c *CPO) writeError(w http.ResponseWriter, err error) {
	var e *Error
	if !errors.As(err, &e) {
		c.log.Error("ocpi request failed", "err", err)
		e = errorf(http.StatusInternalServerError, StatusServerError, "internal error")
	}
	c.writeEnvelope(w, e.HTTP, Response{StatusCode: e.Code, StatusMessage: e.Message, Timestamp: DateTime(c.now())})
}

func (c *CPO) writeEnvelope(w http.ResponseWriter, status int, r Response) {
	b, _ := json.Marshal(r)
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

// Page is a parsed paginated request (transport_and_format, "Paginated
// Request"): date_from inclusive, date_to exclusive, on last_updated.
type Page struct {
	From, To      time.Time
	Offset, Limit int
	// After is our own keyset cursor, from the Link we gave for this
	// page ("after"): the page starts after that document whatever
	// offset says (offset then only numbers the next Link), so paging a
	// long list costs the same on every page and skips or repeats
	// nothing when documents change meanwhile. Only document lists have
	// one.
	After *charging.DocPosition
	// NextAfter is the last document of the page served, for the next
	// Link.
	NextAfter *charging.DocPosition
}

// encodeAfter is the "after" parameter of the page that follows pos:
// checked (charging.EncodeKeyCursor), so a made-up one is refused.
func encodeAfter(pos charging.DocPosition) string {
	return charging.EncodeKeyCursor(strconv.FormatInt(pos.Updated.UnixNano(), 10) + "\x00" + pos.ID)
}

// decodeAfter is the inverse of encodeAfter.
func decodeAfter(s string) (*charging.DocPosition, error) {
	key, err := charging.DecodeKeyCursor(s)
	if err != nil {
		return nil, err
	}
	ns, id, ok := strings.Cut(key, "\x00")
	n, err := strconv.ParseInt(ns, 10, 64)
	if !ok || err != nil || n == 0 {
		return nil, fmt.Errorf("%w: bad cursor %q", charging.ErrInvalidInput, s)
	}
	return &charging.DocPosition{Updated: time.Unix(0, n).UTC(), ID: id}, nil
}

// MaxLimit is the most objects one page returns (X-Limit).
const MaxLimit = 100

// parsePage reads date_from, date_to, offset and limit.
func parsePage(q url.Values) (Page, error) {
	p := Page{Limit: MaxLimit}
	var err error
	if s := q.Get("date_from"); s != "" {
		if p.From, err = tariff.ParseDateTime(s); err != nil {
			return p, errorf(http.StatusBadRequest, StatusInvalidParams, "date_from %q is not an OCPI DateTime", s)
		}
	}
	if s := q.Get("date_to"); s != "" {
		if p.To, err = tariff.ParseDateTime(s); err != nil {
			return p, errorf(http.StatusBadRequest, StatusInvalidParams, "date_to %q is not an OCPI DateTime", s)
		}
	}
	if s := q.Get("offset"); s != "" {
		if p.Offset, err = strconv.Atoi(s); err != nil || p.Offset < 0 {
			return p, errorf(http.StatusBadRequest, StatusInvalidParams, "offset %q is not a non-negative integer", s)
		}
	}
	if s := q.Get("after"); s != "" {
		if p.After, err = decodeAfter(s); err != nil {
			return p, errorf(http.StatusBadRequest, StatusInvalidParams, "after %q is not a cursor this server gave", s)
		}
	}
	if s := q.Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 0 {
			return p, errorf(http.StatusBadRequest, StatusInvalidParams, "limit %q is not a non-negative integer", s)
		}
		p.Limit = min(n, MaxLimit)
		// limit=0 asks for no objects: the headers (X-Total-Count) only.
	}
	return p, nil
}

// writePage writes one page of a list with the pagination headers: Link
// to the next page (with the request's filters) when there is one,
// X-Total-Count and X-Limit.
func (c *CPO) writePage(w http.ResponseWriter, r *http.Request, p Page, total int, items any) {
	w.Header().Set(hTotalCount, strconv.Itoa(total))
	w.Header().Set(hLimit, strconv.Itoa(MaxLimit))
	if next := p.Offset + p.Limit; p.Limit > 0 && next < total {
		q := r.URL.Query()
		q.Set("offset", strconv.Itoa(next))
		q.Set("limit", strconv.Itoa(p.Limit))
		q.Del("after")
		if p.NextAfter != nil && !p.NextAfter.Updated.IsZero() {
			q.Set("after", encodeAfter(*p.NextAfter))
		}
		w.Header().Set("Link", "<"+c.publicURL()+r.URL.Path+"?"+q.Encode()+`>; rel="next"`)
	}
	c.writeResponse(w, http.StatusOK, items)
}
