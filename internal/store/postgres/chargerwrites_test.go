package postgres

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/chargebridge/chargebridge/internal/charging"
	"github.com/chargebridge/chargebridge/internal/store/postgres/pgtest"
)

// commitCounter counts the transactions the pool's connections commit: a
// statement after which the connection is outside a transaction is a
// statement of its own (autocommit) or a COMMIT. Until release is
// closed, the first statement waits (after hold is set).
type commitCounter struct {
	commits atomic.Int64
	hold    atomic.Bool
	release chan struct{}
}

func (c *commitCounter) TraceQueryStart(ctx context.Context, _ *pgx.Conn, _ pgx.TraceQueryStartData) context.Context {
	if c.hold.Load() {
		<-c.release
	}
	return ctx
}

func (c *commitCounter) TraceQueryEnd(_ context.Context, conn *pgx.Conn, d pgx.TraceQueryEndData) {
	if d.Err == nil && conn.PgConn().TxStatus() == 'I' && !strings.EqualFold(strings.TrimSpace(d.CommandTag.String()), "ROLLBACK") {
		c.commits.Add(1)
	}
}

// TestConnectingChargersShareCommits: the BootNotification and the two
// StatusNotifications of chargers connecting together are written in
// shared transactions (each was its own commit: three per charger at a
// fleet's ramp, where PostgreSQL's commits were the machine's bottleneck),
// and each charger's writes land as when written alone. The writes are
// held back until every charger has made its boot, so they are concurrent
// by construction.
func TestConnectingChargersShareCommits(t *testing.T) {
	const n = 120
	cc := &commitCounter{release: make(chan struct{})}
	st, err := Open(t.Context(), pgtest.Schema(t), func(c *config) { c.tracer = cc })
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	at := time.Date(2026, 12, 6, 3, 0, 0, 0, time.UTC)
	id := func(i int) string { return fmt.Sprintf("cp-%03d", i) }
	for i := range n {
		if err := st.CreateCharger(t.Context(), charging.Charger{ID: id(i), CreatedAt: at}); err != nil {
			t.Fatal(err)
		}
	}
	before := cc.commits.Load()
	released := sync.OnceFunc(func() { close(cc.release) })
	defer released()
	cc.hold.Store(true)
	var arrived atomic.Int64
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			if arrived.Add(1) == n {
				cc.hold.Store(false)
				released()
			}
			if err := st.RecordBoot(t.Context(), charging.Boot{ChargerID: id(i), Vendor: "V", Model: fmt.Sprint("M", i), Status: charging.BootAccepted, At: at}); err != nil {
				t.Error(err)
				return
			}
			for k, status := range []charging.ConnectorStatus{charging.StatusAvailable, charging.StatusPreparing} {
				c := charging.Connector{ChargerID: id(i), ConnectorID: k, Status: status, StatusAt: at.Add(time.Duration(i) * time.Second), UpdatedAt: at}
				c.Availability, c.State = c.Status.Split()
				if _, applied, err := st.SetConnectorStatus(t.Context(), c); err != nil || !applied {
					t.Errorf("status of %s/%d: applied %v, %v", id(i), k, applied, err)
					return
				}
			}
		})
	}
	wg.Wait()
	t.Logf("%d chargers: %d commits", n, cc.commits.Load()-before)
	if got := cc.commits.Load() - before; got > n {
		t.Errorf("%d chargers' boot and two statuses made together took %d commits; want at most %d (one each was %d)", n, got, n, 3*n)
	}
	for _, i := range []int{0, 61, n - 1} {
		c, err := st.GetCharger(t.Context(), id(i))
		if err != nil {
			t.Fatal(err)
		}
		if c.Model != fmt.Sprint("M", i) || c.BootStatus != charging.BootAccepted || c.LastBootAt == nil || !c.LastBootAt.Equal(at) {
			t.Errorf("%s after its boot: model %q, boot status %q, last boot %v", id(i), c.Model, c.BootStatus, c.LastBootAt)
		}
		got := map[int]charging.ConnectorStatus{}
		for _, k := range c.Connectors {
			got[k.ConnectorID] = k.Status
		}
		if got[0] != charging.StatusAvailable || got[1] != charging.StatusPreparing {
			t.Errorf("%s connectors %v; want 0 Available, 1 Preparing", id(i), got)
		}
	}
	var boots, statuses int
	if err := st.pool.QueryRow(t.Context(), `SELECT count(*) FILTER (WHERE kind = $1), count(*) FILTER (WHERE kind = $2) FROM event_log`,
		string(charging.ChargerChanged), string(charging.ConnectorChanged)).Scan(&boots, &statuses); err != nil {
		t.Fatal(err)
	}
	if boots != n || statuses != 2*n {
		t.Errorf("event log has %d ChargerChanged and %d ConnectorChanged; want %d and %d", boots, statuses, n, 2*n)
	}
}

// TestChargerWritesFailAlone: in writes made together, the boot and
// status of an unknown charger are ErrNotFound and the others' land.
func TestChargerWritesFailAlone(t *testing.T) {
	st := openTest(t).(*Store)
	const n = 60
	at := time.Date(2026, 12, 6, 3, 0, 0, 0, time.UTC)
	id := func(i int) string { return fmt.Sprintf("cp-%03d", i) }
	for i := range n {
		if err := st.CreateCharger(t.Context(), charging.Charger{ID: id(i), CreatedAt: at}); err != nil {
			t.Fatal(err)
		}
	}
	var wg sync.WaitGroup
	bootErrs, statusErrs := make([]error, 2*n), make([]error, 2*n)
	for i := range 2 * n { // the second half is unknown
		wg.Go(func() {
			bootErrs[i] = st.RecordBoot(t.Context(), charging.Boot{ChargerID: id(i), Status: charging.BootAccepted, At: at})
			_, _, statusErrs[i] = st.SetConnectorStatus(t.Context(), charging.Connector{ChargerID: id(i), ConnectorID: 1, Status: charging.StatusAvailable, StatusAt: at, UpdatedAt: at})
		})
	}
	wg.Wait()
	for i := range 2 * n {
		for what, err := range map[string]error{"boot": bootErrs[i], "status": statusErrs[i]} {
			switch {
			case i < n && err != nil:
				t.Errorf("%s of %s: %v", what, id(i), err)
			case i >= n && !errors.Is(err, charging.ErrNotFound):
				t.Errorf("%s of unknown %s: %v; want ErrNotFound", what, id(i), err)
			}
		}
	}
	c, err := st.GetCharger(t.Context(), id(n-1))
	if err != nil || c.LastBootAt == nil || len(c.Connectors) == 0 {
		t.Errorf("%s after boot and status: %+v, %v", id(n-1), c, err)
	}
}
