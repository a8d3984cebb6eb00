package security

import (
	"fmt"
	"sync"
	"sync/atomic"
	"time"
)

// PayloadLimits bound the free-form payloads a charger may make us store
// (DataTransfer): their size, and how many per minute, per charger.
type PayloadLimits struct {
	MaxBytes  int
	PerMinute int
}

// Budget enforces PayloadLimits with a token bucket per charger (a
// minute's worth of burst); it counts what it dropped.
type Budget struct {
	lim PayloadLimits

	// mu guards buckets.
	mu      sync.Mutex
	buckets map[string]*bucket

	DroppedSize, DroppedRate atomic.Int64
}

type bucket struct {
	tokens float64
	at     time.Time
}

// NewBudget returns a Budget; a zero limit is no limit.
func NewBudget(lim PayloadLimits) *Budget {
	return &Budget{lim: lim, buckets: make(map[string]*bucket)}
}

// Allow says whether a payload of size bytes from chargerID may be stored
// at now, and why not.
func (b *Budget) Allow(chargerID string, size int, now time.Time) error {
	if b.lim.MaxBytes > 0 && size > b.lim.MaxBytes {
		b.DroppedSize.Add(1)
		return fmt.Errorf("payload of %d bytes is over the limit of %d", size, b.lim.MaxBytes)
	}
	if b.lim.PerMinute <= 0 {
		return nil
	}
	rate := float64(b.lim.PerMinute) / 60
	b.mu.Lock()
	defer b.mu.Unlock()
	k := b.buckets[chargerID]
	if k == nil {
		if len(b.buckets) >= 100_000 {
			clear(b.buckets) // a full map after a flood of ids: start over
		}
		k = &bucket{tokens: float64(b.lim.PerMinute), at: now}
		b.buckets[chargerID] = k
	}
	k.tokens = min(float64(b.lim.PerMinute), k.tokens+now.Sub(k.at).Seconds()*rate)
	k.at = now
	if k.tokens < 1 {
		b.DroppedRate.Add(1)
		return fmt.Errorf("more than %d payloads a minute", b.lim.PerMinute)
	}
	k.tokens--
	return nil
}
