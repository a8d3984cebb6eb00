package server_test

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chargebridge/chargebridge/internal/beckn"
	"github.com/chargebridge/chargebridge/internal/beckn/signing"
	"github.com/chargebridge/chargebridge/internal/cbtest"
	"github.com/chargebridge/chargebridge/internal/server"
)

func becknConfig(t *testing.T) server.Config {
	t.Helper()
	dir := t.TempDir()
	if _, err := signing.GenerateKeyFile(filepath.Join(dir, "bpp.json"), "bpp.test", "k1"); err != nil {
		t.Fatal(err)
	}
	return server.Config{
		HTTP: "127.0.0.1:0", DB: "sqlite:" + filepath.Join(dir, "cb.db"), HeartbeatInterval: time.Minute, LogLevel: "info", LogFormat: "text",
		Beckn: server.BecknConfig{KeyFile: filepath.Join(dir, "bpp.json"), Registry: "https://registry.example.com/lookup",
			Units: "physical", ConnectorType: "CCS2", MaxPowerKW: 50, Currency: "EUR", PricePerKWh: "0.30", VATPercent: "21"},
	}
}

func TestBecknConfigIsChecked(t *testing.T) {
	tests := []struct {
		name   string
		change func(*server.BecknConfig)
		want   string
	}{
		{"no-bap-keys", func(c *server.BecknConfig) { c.Registry = "" }, "--beckn-registry URL or --beckn-subscribers FILE"},
		{"both-bap-keys", func(c *server.BecknConfig) { c.Subscribers = "subs.json" }, "exactly one"},
		{"registry-without-key-file", func(c *server.BecknConfig) { c.KeyFile = "" }, "need --beckn-key-file"},
		{"units", func(c *server.BecknConfig) { c.Units = "metric" }, "--beckn-units"},
		{"connector-type", func(c *server.BecknConfig) { c.ConnectorType = "Schuko" }, "--beckn-connector-type"},
		{"power", func(c *server.BecknConfig) { c.MaxPowerKW = 0 }, "--beckn-max-power-kw"},
		{"location", func(c *server.BecknConfig) { c.Location = "north" }, "--beckn-location"},
		{"price", func(c *server.BecknConfig) { c.PricePerKWh = "cheap" }, "--beckn-price-per-kwh"},
		{"currency", func(c *server.BecknConfig) { c.Currency = "EURO" }, "currency"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := becknConfig(t)
			tt.change(&cfg.Beckn)
			err := cfg.Validate()
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Validate() = %v; want an error mentioning %q", err, tt.want)
			}
		})
	}
	t.Run("subscriber-id-differs-from-the-key-file", func(t *testing.T) {
		cfg := becknConfig(t)
		cfg.Beckn.SubscriberID = "someone.else"
		_, err := server.New(context.Background(), cfg, slog.New(slog.DiscardHandler), server.Options{})
		if err == nil || !strings.Contains(err.Error(), "subscriber_id bpp.test") {
			t.Fatalf("New() = %v; want the subscriber id mismatch", err)
		}
	})
	t.Run("valid", func(t *testing.T) {
		cfg := becknConfig(t)
		if err := cfg.Validate(); err != nil {
			t.Fatal(err)
		}
		s, err := server.New(context.Background(), cfg, slog.New(slog.DiscardHandler), server.Options{})
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Shutdown(context.Background()); err != nil {
			t.Fatal(err)
		}
	})
}

func TestBecknOffAnswersNACK(t *testing.T) {
	s := cbtest.Start(t)
	resp, err := http.Post(s.URL()+"/beckn/status", "application/json", strings.NewReader(`{}`))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var ack beckn.AckResponse
	if err := json.NewDecoder(resp.Body).Decode(&ack); err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusServiceUnavailable || ack.AckStatus != beckn.NACK || ack.Error == nil || !strings.Contains(ack.Error.Message, "--beckn-key-file") {
		t.Fatalf("HTTP %d %+v; want 503 NACK saying how to turn Beckn on", resp.StatusCode, ack)
	}
}
