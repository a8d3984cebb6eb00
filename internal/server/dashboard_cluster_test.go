package server_test

import (
	"bufio"
	"io"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chargebridge/chargebridge/internal/cluster/natstest"
	"github.com/chargebridge/chargebridge/internal/store/postgres/pgtest"
)

// TestDashboardPagesShowEveryNodesConnections: node b's dashboard pages
// (overview, chargers list, charger page, alerts, the live count) show a
// charger held by node a as online, as b's API does.
func TestDashboardPagesShowEveryNodesConnections(t *testing.T) {
	dsn := pgtest.Schema(t)
	ns := natstest.Start(t)
	a := startNode(t, dsn, ns.URL(), "a")
	b := startNode(t, dsn, ns.URL(), "b")
	const cp = "CP-DASH-ON-A"
	stop := clusterSim(t, a, cp, time.Hour)
	defer stop()
	page := func(path string) string {
		t.Helper()
		resp, err := b.HTTP.Get(b.URL() + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("GET b's %s: %d", path, resp.StatusCode)
		}
		return string(body)
	}
	waitFor(t, "b's API to show a's charger connected", func() bool {
		var c struct {
			Connected bool `json:"connected"`
		}
		return b.GetJSON("/api/v1/chargers/"+cp, &c) == http.StatusOK && c.Connected
	})
	if body := page("/chargers"); !strings.Contains(body, `data-charger="`+cp+`" data-online="true"`) || !strings.Contains(body, "· 1 online") {
		t.Errorf("b's chargers page does not show %s online:\n%s", cp, excerpt(body, cp))
	}
	if body := page("/chargers/" + cp); !strings.Contains(body, `id="charger-state" class="state on"`) {
		t.Errorf("b's page of %s does not show it online:\n%s", cp, excerpt(body, "charger-state"))
	}
	// The overview is cached a moment.
	waitFor(t, "b's overview to count a's charger online", func() bool {
		m := regexp.MustCompile(`id="chargers-online">(\d+)<`).FindStringSubmatch(page("/"))
		return m != nil && m[1] == "1"
	})
	if body := page("/alerts"); strings.Contains(body, "charger offline since") {
		t.Errorf("b's alerts page says a's charger is offline:\n%s", excerpt(body, "offline since"))
	}
	// The live stream's count, which a viewer gets when it connects.
	waitFor(t, "b's live stream to count a's charger online", func() bool {
		resp, err := b.HTTP.Get(b.URL() + "/api/v1/stream")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		r := bufio.NewReader(resp.Body)
		for {
			line, err := r.ReadString('\n')
			if err != nil {
				return false
			}
			if strings.HasPrefix(line, "data: ") {
				return strings.TrimSpace(line) == `data: {"online":1}`
			}
		}
	})
}

// excerpt is the part of body around the first s.
func excerpt(body, s string) string {
	i := strings.Index(body, s)
	if i < 0 {
		return "(" + s + " is not on the page)"
	}
	return body[max(0, i-200):min(len(body), i+300)]
}
