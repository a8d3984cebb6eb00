package charging_test

import (
	"errors"
	"testing"

	"github.com/chargebridge/chargebridge/internal/charging"
)

func TestKeyCursor(t *testing.T) {
	for _, key := range []string{"CP-1", "", "ünïcode/with.dots", "k"} {
		got, err := charging.DecodeKeyCursor(charging.EncodeKeyCursor(key))
		if err != nil || got != key {
			t.Errorf("round trip of %q: %q, %v", key, got, err)
		}
	}
	for _, bad := range []string{"garbage", "k", "kQ1AtMQ.0", charging.EncodeCursor(5), charging.EncodeKeyCursor("CP-1") + "x"} {
		if _, err := charging.DecodeKeyCursor(bad); !errors.Is(err, charging.ErrInvalidInput) {
			t.Errorf("DecodeKeyCursor(%q) = %v; want ErrInvalidInput", bad, err)
		}
	}
}
