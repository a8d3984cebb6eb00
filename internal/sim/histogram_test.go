package sim

import (
	"testing"
	"time"
)

// TestHistogramJSONWhileRecording encodes a histogram others write to: the
// encoding must always decode (a benchmark worker ships it mid-run).
func TestHistogramJSONWhileRecording(t *testing.T) {
	var h Histogram
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		for d := time.Duration(1); ; d++ {
			select {
			case <-stop:
				return
			default:
				h.Record(d % 5000)
			}
		}
	}()
	for i := 0; i < 200; i++ {
		b, err := h.MarshalJSON()
		if err != nil {
			t.Fatal(err)
		}
		var back Histogram
		if err := back.UnmarshalJSON(b); err != nil {
			close(stop)
			<-done
			t.Fatalf("encoding taken while recording does not decode: %v", err)
		}
	}
	close(stop)
	<-done
}
