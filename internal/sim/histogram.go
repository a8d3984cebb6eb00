package sim

import (
	"encoding/json"
	"fmt"
	"math"
	"math/bits"
	"sync/atomic"
	"time"
)

// The histogram keeps histSub sub-buckets per power of two of nanoseconds, so
// a bucket is at most 1/histSub (6.25%) wide relative to its values. Values
// below 2*histSub ns have a bucket each; everything from 2^(histMaxBits) ns
// (about 18 minutes) up lands in the last bucket.
const (
	histSubBits = 4
	histSub     = 1 << histSubBits
	histMaxBits = 40
	histBuckets = 2*histSub + (histMaxBits-histSubBits-1)*histSub
)

// Histogram is a log-bucketed histogram of durations, such as CALL→CALLRESULT
// latencies. Record is safe for concurrent use and lock-free; histograms from
// several chargers or processes merge with Merge or through their JSON form.
// The zero value is an empty histogram ready to use. Quantiles are accurate to
// within about 6% of the value.
type Histogram struct {
	count   atomic.Uint64
	sumNs   atomic.Uint64
	maxNs   atomic.Uint64
	buckets [histBuckets]atomic.Uint64
}

// histIndex returns the bucket of a value in nanoseconds.
func histIndex(v uint64) int {
	if v < 2*histSub {
		return int(v)
	}
	shift := bits.Len64(v) - histSubBits - 1
	m := v >> shift // in [histSub, 2*histSub)
	i := 2*histSub + (shift-1)*histSub + int(m-histSub)
	if i >= histBuckets {
		return histBuckets - 1
	}
	return i
}

// histBounds returns the smallest and largest value in nanoseconds of bucket i.
func histBounds(i int) (lo, hi uint64) {
	if i < 2*histSub {
		return uint64(i), uint64(i)
	}
	k := i - 2*histSub
	shift := k/histSub + 1
	m := uint64(k%histSub + histSub)
	return m << shift, (m+1)<<shift - 1
}

// Record adds one duration. Negative durations count as zero.
func (h *Histogram) Record(d time.Duration) {
	v := uint64(max(d, 0))
	h.buckets[histIndex(v)].Add(1)
	h.count.Add(1)
	h.sumNs.Add(v)
	for {
		m := h.maxNs.Load()
		if v <= m || h.maxNs.CompareAndSwap(m, v) {
			return
		}
	}
}

// Merge adds every value recorded in o to h. It is safe to call while other
// goroutines record into either histogram; the result then includes some of
// their values.
func (h *Histogram) Merge(o *Histogram) {
	for i := range o.buckets {
		if n := o.buckets[i].Load(); n != 0 {
			h.buckets[i].Add(n)
		}
	}
	h.count.Add(o.count.Load())
	h.sumNs.Add(o.sumNs.Load())
	om := o.maxNs.Load()
	for {
		m := h.maxNs.Load()
		if om <= m || h.maxNs.CompareAndSwap(m, om) {
			return
		}
	}
}

// Reset empties the histogram, to start a measurement window. Values
// recorded while it runs may land on either side of the reset.
func (h *Histogram) Reset() {
	for i := range h.buckets {
		h.buckets[i].Store(0)
	}
	h.count.Store(0)
	h.sumNs.Store(0)
	h.maxNs.Store(0)
}

// Count returns how many values were recorded.
func (h *Histogram) Count() uint64 { return h.count.Load() }

// Mean returns the mean of the recorded values, or 0 when there are none.
func (h *Histogram) Mean() time.Duration {
	n := h.count.Load()
	if n == 0 {
		return 0
	}
	return time.Duration(h.sumNs.Load() / n)
}

// Max returns the largest recorded value.
func (h *Histogram) Max() time.Duration { return time.Duration(h.maxNs.Load()) }

// Quantile returns the value below which the fraction q (0 to 1) of the
// recorded values lie, such as 0.5, 0.99 or 0.999; it returns 0 for an empty
// histogram. The answer is the middle of the bucket holding that value,
// never more than Max.
func (h *Histogram) Quantile(q float64) time.Duration {
	n := h.count.Load()
	if n == 0 {
		return 0
	}
	q = min(max(q, 0), 1)
	rank := uint64(math.Ceil(q * float64(n)))
	rank = max(rank, 1)
	var seen uint64
	for i := range h.buckets {
		seen += h.buckets[i].Load()
		if seen >= rank {
			lo, hi := histBounds(i)
			return time.Duration(min(lo+(hi-lo)/2, h.maxNs.Load()))
		}
	}
	return h.Max()
}

// String summarises the histogram as count, mean, p50, p99, p99.9 and max.
func (h *Histogram) String() string {
	return fmt.Sprintf("n=%d mean=%v p50=%v p99=%v p99.9=%v max=%v",
		h.Count(), h.Mean(), h.Quantile(0.5), h.Quantile(0.99), h.Quantile(0.999), h.Max())
}

// histogramJSON is the wire form of a Histogram: the non-empty buckets as
// [index, count] pairs, so that workers can ship theirs to a coordinator.
type histogramJSON struct {
	Count   uint64      `json:"count"`
	SumNs   uint64      `json:"sum_ns"`
	MaxNs   uint64      `json:"max_ns"`
	Buckets [][2]uint64 `json:"buckets"`
}

// MarshalJSON encodes the histogram so that UnmarshalJSON, possibly in
// another process, can merge it.
func (h *Histogram) MarshalJSON() ([]byte, error) {
	// Values may be recorded while this runs: the count written is the sum
	// of the buckets written, so the encoding is always consistent.
	out := histogramJSON{SumNs: h.sumNs.Load(), MaxNs: h.maxNs.Load(), Buckets: [][2]uint64{}}
	for i := range h.buckets {
		if n := h.buckets[i].Load(); n != 0 {
			out.Buckets = append(out.Buckets, [2]uint64{uint64(i), n})
			out.Count += n
		}
	}
	return json.Marshal(out)
}

// UnmarshalJSON merges an encoded histogram into h (it adds to what h holds
// already, so decoding several workers' histograms into one sums them).
func (h *Histogram) UnmarshalJSON(data []byte) error {
	var in histogramJSON
	if err := json.Unmarshal(data, &in); err != nil {
		return fmt.Errorf("decode histogram: %w", err)
	}
	var o Histogram
	var total uint64
	for _, b := range in.Buckets {
		if b[0] >= histBuckets {
			return fmt.Errorf("decode histogram: bucket %d out of range [0,%d)", b[0], histBuckets)
		}
		o.buckets[b[0]].Add(b[1])
		total += b[1]
	}
	if total != in.Count {
		return fmt.Errorf("decode histogram: buckets hold %d values but count is %d", total, in.Count)
	}
	o.count.Store(in.Count)
	o.sumNs.Store(in.SumNs)
	o.maxNs.Store(in.MaxNs)
	h.Merge(&o)
	return nil
}
