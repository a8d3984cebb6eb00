package web

import (
	"context"
	"net/http"

	"github.com/chargebridge/chargebridge/internal/beckn"
)

// Orders lists the Beckn orders (beckn.BPP.Orders) and the BPP's
// callback counters (beckn.BPP.Counters).
type Orders struct {
	List     func(ctx context.Context, limit int) ([]beckn.OrderView, int, error)
	Counters func() beckn.Counters
}

// maxOrderRows is how many orders the page and the API list.
const maxOrderRows = 200

type ordersData struct {
	Available bool
	Status    string
	Statuses  []string
	Rows      []beckn.OrderView
	Total     int
	Counters  beckn.Counters
}

var orderStatuses = []string{beckn.OrderCreated, beckn.OrderConfirmed, beckn.OrderInProgress, beckn.OrderCompleted, beckn.OrderCancelled}

func (d *Dashboard) ordersPage(w http.ResponseWriter, r *http.Request) {
	data := ordersData{Available: d.orders != nil, Status: r.URL.Query().Get("status"), Statuses: orderStatuses}
	if d.orders != nil {
		os, total, err := d.orders.List(r.Context(), maxOrderRows)
		if err != nil {
			d.fail(w, r, err)
			return
		}
		data.Total = total
		for _, o := range os {
			if data.Status == "" || o.Status == data.Status {
				data.Rows = append(data.Rows, o)
			}
		}
		data.Counters = d.orders.Counters()
	}
	d.render(w, r, http.StatusOK, "orders", "Beckn orders", "orders", data)
}

// OrdersJSON is the body of GET /api/v1/beckn/orders.
type OrdersJSON struct {
	Items     []beckn.OrderView `json:"items"`
	Total     int               `json:"total"`
	Callbacks struct {
		Delivered int64 `json:"delivered"`
		Failed    int64 `json:"failed"`
		Dropped   int64 `json:"dropped"`
	} `json:"callbacks"`
}

func (d *Dashboard) listOrders(w http.ResponseWriter, r *http.Request) {
	if d.orders == nil {
		writeError(w, http.StatusNotImplemented, "Beckn is not enabled on this server")
		return
	}
	os, total, err := d.orders.List(r.Context(), maxOrderRows)
	if err != nil {
		d.log.Error("list orders failed", "err", err)
		writeError(w, http.StatusInternalServerError, "internal error; see the server log")
		return
	}
	out := OrdersJSON{Items: os, Total: total}
	c := d.orders.Counters()
	out.Callbacks.Delivered, out.Callbacks.Failed, out.Callbacks.Dropped = c.CallbacksDelivered, c.CallbacksFailed, c.Dropped
	writeJSON(w, http.StatusOK, out)
}
