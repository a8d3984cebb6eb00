package beckn

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"hash/fnv"
	"io"
	"log/slog"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/chargebridge/chargebridge/internal/beckn/signing"
	"github.com/chargebridge/chargebridge/internal/charging"
)

// Callback delivery: one queue per shard, one goroutine per queue, a
// delivery's shard chosen by its transaction id, so that the messages of
// one transaction reach the BAP in the order they were queued (an
// on_update STOP before the COMPLETED that follows it). A delivery is
// retried with backoff until it is acknowledged or its deadline (the
// request's ttl) passes; while it waits, its shard waits too, which costs
// the other transactions of the shard some latency and never their order.
const (
	senderShards     = 16
	senderQueue      = 256
	retryFirst       = 200 * time.Millisecond
	retryMax         = 5 * time.Second
	unsolicitedTTL   = 5 * time.Minute
	callbackResponse = 64 << 10
)

type delivery struct {
	url, action, txID, msgID string
	body                     []byte
	deadline                 time.Time
	// done, when set, runs once the delivery is acknowledged or given up
	// (not when the sender stops first).
	done func()
}

type sender struct {
	client *http.Client
	keys   *signing.KeyPair
	clock  charging.Clock
	sigTTL time.Duration
	log    *slog.Logger
	shards [senderShards]chan *delivery

	delivered, failed, dropped atomic.Int64

	// tallies counts callbacks per transaction for the operator's orders
	// page, since start, for at most maxTallies transactions.
	tallyMu sync.Mutex
	tallies map[string]Tally
}

// Tally is how a transaction's callbacks went: delivered, given up
// (failed), and the last failure.
type Tally struct {
	Delivered int64  `json:"delivered"`
	Failed    int64  `json:"failed"`
	LastError string `json:"last_error,omitempty"`
}

// maxTallies bounds the transactions whose callbacks are counted; beyond
// it an arbitrary one is forgotten.
const maxTallies = 10000

func (s *sender) tally(txID string, err error) {
	s.tallyMu.Lock()
	defer s.tallyMu.Unlock()
	if s.tallies == nil {
		s.tallies = map[string]Tally{}
	}
	t, ok := s.tallies[txID]
	if !ok && len(s.tallies) >= maxTallies {
		for k := range s.tallies {
			delete(s.tallies, k)
			break
		}
	}
	if err == nil {
		t.Delivered++
	} else {
		t.Failed++
		t.LastError = err.Error()
	}
	s.tallies[txID] = t
}

// tallyOf returns the callbacks of a transaction (zero when none counted).
func (s *sender) tallyOf(txID string) Tally {
	s.tallyMu.Lock()
	defer s.tallyMu.Unlock()
	return s.tallies[txID]
}

func newSender(client *http.Client, keys *signing.KeyPair, clock charging.Clock, sigTTL time.Duration, log *slog.Logger) *sender {
	s := &sender{client: client, keys: keys, clock: clock, sigTTL: sigTTL, log: log}
	for i := range s.shards {
		s.shards[i] = make(chan *delivery, senderQueue)
	}
	return s
}

func (s *sender) start(ctx context.Context, wg *sync.WaitGroup) {
	for _, q := range s.shards {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-ctx.Done():
					if n := len(q); n > 0 {
						s.log.Warn("beckn callbacks abandoned at shutdown", "count", n)
					}
					return
				case d := <-q:
					s.deliver(ctx, d)
				}
			}
		}()
	}
}

// enqueue queues d without blocking; a full shard drops it, loudly.
func (s *sender) enqueue(d *delivery) {
	h := fnv.New32a()
	_, _ = h.Write([]byte(d.txID))
	select {
	case s.shards[h.Sum32()%senderShards] <- d:
	default:
		s.dropped.Add(1)
		s.log.Error("beckn callback dropped: delivery queue full", "action", d.action, "transaction_id", d.txID, "url", d.url)
	}
}

// deliver posts d until the BAP acknowledges it, refuses it, or the
// deadline passes.
func (s *sender) deliver(ctx context.Context, d *delivery) {
	wait := retryFirst
	for attempt := 1; ; attempt++ {
		retry, err := s.post(ctx, d)
		if err == nil {
			if d.done != nil {
				d.done()
			}
			s.tally(d.txID, nil)
			s.delivered.Add(1)
			s.log.Debug("beckn callback delivered", "action", d.action, "transaction_id", d.txID, "attempt", attempt)
			return
		}
		if !retry || time.Now().Add(wait).After(d.deadline) || ctx.Err() != nil {
			if d.done != nil && ctx.Err() == nil {
				d.done()
			}
			s.tally(d.txID, err)
			s.failed.Add(1)
			s.log.Warn("beckn callback not delivered", "action", d.action, "transaction_id", d.txID, "message_id", d.msgID,
				"url", d.url, "attempts", attempt, "err", err)
			return
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			s.failed.Add(1)
			return
		case <-t.C:
		}
		wait = min(2*wait, retryMax)
	}
}

// post makes one attempt; retry says whether another may succeed.
func (s *sender) post(ctx context.Context, d *delivery) (retry bool, err error) {
	now := s.clock.Now()
	auth, err := s.keys.Sign(d.body, now, now.Add(s.sigTTL))
	if err != nil {
		return false, err
	}
	ctx, cancel := context.WithDeadline(ctx, d.deadline)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, d.url, bytes.NewReader(d.body))
	if err != nil {
		return false, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", auth)
	resp, err := s.client.Do(req)
	if err != nil {
		return true, err
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(io.LimitReader(resp.Body, callbackResponse))
	switch {
	case resp.StatusCode >= 500 || resp.StatusCode == http.StatusTooManyRequests:
		return true, fmt.Errorf("BAP answered %s: %.200s", resp.Status, data)
	case resp.StatusCode >= 300:
		return false, fmt.Errorf("BAP answered %s: %.200s", resp.Status, data)
	}
	var ack struct {
		AckStatus string `json:"ack_status"`
		Message   struct {
			Ack struct {
				Status string `json:"status"`
			} `json:"ack"`
		} `json:"message"`
		Status string `json:"status"`
	}
	if json.Unmarshal(data, &ack) == nil && (ack.AckStatus == NACK || ack.Message.Ack.Status == NACK || ack.Status == NACK) {
		return false, fmt.Errorf("BAP answered NACK: %.200s", data)
	}
	return false, nil
}
