package beckn

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// Actions the BPP receives, each answered by "on_" + the action.
var Actions = []string{"discover", "select", "init", "confirm", "status", "track", "update", "cancel", "rating", "support"}

// JSON-LD contexts written into the objects we emit. They are the
// published locations of the core v2 (rc-eos) vocabulary and of the DEG
// EV-charging attribute packs.
const (
	CoreContext    = "https://raw.githubusercontent.com/beckn/protocol-specifications-v2/tags/core-2.0.0-rc-eos-release/schema/core/v2/context.jsonld"
	ServiceContext = "https://schema.beckn.io/EvChargingService/v2.0/context.jsonld"
	OfferContext   = "https://schema.beckn.io/EvChargingOffer/v2.0/context.jsonld"
)

// Context is the context object of every Beckn message, in the snake_case
// form of the core v2 rc-eos dialect the DEG examples use.
type Context struct {
	Domain        string          `json:"domain,omitempty"`
	Action        string          `json:"action"`
	Version       string          `json:"version"`
	BapID         string          `json:"bap_id,omitempty"`
	BapURI        string          `json:"bap_uri,omitempty"`
	BppID         string          `json:"bpp_id,omitempty"`
	BppURI        string          `json:"bpp_uri,omitempty"`
	TransactionID string          `json:"transaction_id"`
	MessageID     string          `json:"message_id"`
	Timestamp     string          `json:"timestamp"`
	TTL           string          `json:"ttl,omitempty"`
	Location      json.RawMessage `json:"location,omitempty"`
	NetworkID     []string        `json:"network_id,omitempty"`
	SchemaContext []string        `json:"schema_context,omitempty"`
}

// Request is a message a BAP sends: its context and the action's message,
// decoded later by the action's handler.
type Request struct {
	Context Context         `json:"context"`
	Message json.RawMessage `json:"message"`
}

// Callback is a message the BPP sends to a BAP: a business answer, or an
// error when the request could not be carried out after it was
// acknowledged.
type Callback struct {
	Context Context `json:"context"`
	Message any     `json:"message,omitempty"`
	Error   *Error  `json:"error,omitempty"`
}

// Error is a Beckn error object: a code from the v2 registry and a message
// that says what was wrong without internal details.
type Error struct {
	Code    string `json:"code"`
	Message string `json:"message"`
	Paths   string `json:"paths,omitempty"`
}

func (e *Error) Error() string { return e.Code + ": " + e.Message }

// errorf returns an *Error with a formatted message.
func errorf(code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// AckResponse is the synchronous answer to every request (core v2 rc-eos
// AckResponse): ACK, or NACK with an error.
type AckResponse struct {
	TransactionID string `json:"transaction_id"`
	Timestamp     string `json:"timestamp"`
	AckStatus     string `json:"ack_status"`
	Error         *Error `json:"error,omitempty"`
}

// Ack statuses.
const (
	ACK  = "ACK"
	NACK = "NACK"
)

// Error codes of the Beckn v2 error registry that the BPP uses.
const (
	CodeInvalidRequest      = "30000"
	CodeItemNotFound        = "30004"
	CodeOrderNotFound       = "30008"
	CodeInvalidUpdate       = "30010"
	CodeInvalidRating       = "30012"
	CodeBusinessError       = "40000"
	CodeActionNotApplicable = "40001"
	CodeQuantityUnavailable = "40002"
	CodeAgentUnavailable    = "40006"
	CodeCancelNotPossible   = "50001"
	CodeUpdateNotPossible   = "50002"
	CodeDomainNotSupported  = "50005"
	CodeVersionNotSupported = "50006"
	CodeAuthentication      = "60000"
	CodeInvalidSignature    = "60001"
	CodeExpiredSignature    = "60002"
	CodeKeyNotFound         = "60003"
	CodeAlgorithmMismatch   = "60004"
	CodeContextError        = "60005"
)

// DefaultTTL is the ttl of a message that has none.
const DefaultTTL = 30 * time.Second

// MaxTTL bounds how long we keep trying to deliver a callback, whatever
// ttl a request asks for.
const MaxTTL = 10 * time.Minute

var ttlRE = regexp.MustCompile(`^P(?:(\d{1,4})W)?(?:(\d{1,4})D)?(?:T(?:(\d{1,5})H)?(?:(\d{1,6})M)?(?:(\d{1,7}(?:\.\d{1,9})?)S)?)?$`)

// ParseTTL reads an ISO 8601 duration such as "PT30S" or "P1DT2H". An
// empty string is DefaultTTL.
func ParseTTL(s string) (time.Duration, error) {
	if s == "" {
		return DefaultTTL, nil
	}
	m := ttlRE.FindStringSubmatch(s)
	if m == nil || s == "P" || strings.HasSuffix(s, "T") {
		return 0, fmt.Errorf("ttl %q is not an ISO 8601 duration such as PT30S", s)
	}
	var d time.Duration
	for i, unit := range []time.Duration{7 * 24 * time.Hour, 24 * time.Hour, time.Hour, time.Minute} {
		if m[i+1] != "" {
			n, _ := strconv.Atoi(m[i+1])
			d += time.Duration(n) * unit
		}
	}
	if m[5] != "" {
		f, _ := strconv.ParseFloat(m[5], 64)
		d += time.Duration(f * float64(time.Second))
	}
	return d, nil
}

// validateContext checks what every request's context must carry. It
// returns a NACK error, or nil.
func validateContext(c *Context, action, ourID string) *Error {
	bad := func(path, format string, args ...any) *Error {
		e := errorf(CodeContextError, format, args...)
		e.Paths = "context." + path
		return e
	}
	switch {
	case c.Action != action:
		return bad("action", "context.action %q does not match the endpoint /%s", c.Action, action)
	case c.TransactionID == "" || len(c.TransactionID) > 128:
		return bad("transaction_id", "context.transaction_id is required (at most 128 characters)")
	case c.MessageID == "" || len(c.MessageID) > 128:
		return bad("message_id", "context.message_id is required (at most 128 characters)")
	case c.BapID == "":
		return bad("bap_id", "context.bap_id is required")
	}
	if !strings.HasPrefix(c.Version, "2.") {
		e := errorf(CodeVersionNotSupported, "context.version %q is not supported; this BPP speaks 2.0.0", c.Version)
		e.Paths = "context.version"
		return e
	}
	if c.Domain != "" && !strings.Contains(c.Domain, "ev-charging") {
		e := errorf(CodeDomainNotSupported, "context.domain %q is not supported; this BPP serves beckn.one:deg:ev-charging", c.Domain)
		e.Paths = "context.domain"
		return e
	}
	if err := checkCallbackURI(c.BapURI); err != nil {
		return bad("bap_uri", "context.bap_uri: %v", err)
	}
	if _, err := time.Parse(time.RFC3339Nano, c.Timestamp); err != nil {
		return bad("timestamp", "context.timestamp %q is not an RFC 3339 date-time", c.Timestamp)
	}
	if ttl, err := ParseTTL(c.TTL); err != nil || ttl <= 0 {
		return bad("ttl", "context.ttl %q is not a positive ISO 8601 duration such as PT30S", c.TTL)
	}
	// A discover may be broadcast (through a gateway or a discovery
	// service), so it may name another bpp_id; every other action is
	// addressed to us.
	if action != "discover" && c.BppID != "" && c.BppID != ourID {
		return bad("bpp_id", "context.bpp_id %q is not this BPP (%s)", c.BppID, ourID)
	}
	return nil
}

// checkCallbackURI accepts an absolute http(s) URL without user info or a
// fragment.
func checkCallbackURI(s string) error {
	if s == "" {
		return errors.New("required")
	}
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil || u.Fragment != "" {
		return fmt.Errorf("%q is not an absolute http(s) URL", s)
	}
	return nil
}

// callbackURL is the URL of the on_{action} endpoint under a BAP's base URI.
func callbackURL(bapURI, action string) string {
	return strings.TrimRight(bapURI, "/") + "/on_" + action
}
