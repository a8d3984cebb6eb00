package charging

import (
	"strconv"
	"testing"
)

// registers keeps, per open transaction, the newest meter version it was
// told of: a writer that raced another and lost must not put an older
// version back over the newer one.
func TestRegistersPut(t *testing.T) {
	tests := []struct {
		name        string
		have        *openTx
		put         openTx
		wantVersion int64
	}{
		{"first", nil, openTx{seq: 1, version: 3}, 3},
		{"newer", &openTx{seq: 1, version: 3}, openTx{seq: 1, version: 4}, 4},
		{"same", &openTx{seq: 1, version: 3, sessionID: "a"}, openTx{seq: 1, version: 3, sessionID: "b"}, 3},
		{"older-is-dropped", &openTx{seq: 1, version: 5}, openTx{seq: 1, version: 4}, 5},
		{"another-session-replaces", &openTx{seq: 1, version: 5}, openTx{seq: 2, version: 0}, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var r registers
			if tt.have != nil {
				r.put(registerKey("c", "k"), *tt.have)
			}
			r.put(registerKey("c", "k"), tt.put)
			got, ok := r.get(registerKey("c", "k"))
			if !ok || got.version != tt.wantVersion {
				t.Errorf("got %+v, %v; want version %d", got, ok, tt.wantVersion)
			}
			r.forget(registerKey("c", "k"))
			if _, ok := r.get(registerKey("c", "k")); ok {
				t.Errorf("forgotten transaction still remembered")
			}
		})
	}
}

// The memory is bounded: when full it starts again empty.
func TestRegistersBounded(t *testing.T) {
	var r registers
	for i := range maxRemembered + 1 {
		r.put(registerKey("cp", string(rune('a'+i%26))+string(rune(i))), openTx{seq: int64(i + 1)})
	}
	if n := len(r.last); n > maxRemembered {
		t.Errorf("remembered %d transactions; want at most %d", n, maxRemembered)
	}
}

// update writes a copy from get back to its own entry: the newer version
// is remembered, an older one is not put back over a newer, and a
// transaction forgotten meanwhile (it stopped) stays forgotten.
func TestRegistersUpdate(t *testing.T) {
	key := registerKey("c", "k")
	var r registers
	r.put(key, openTx{seq: 1, version: 3})
	o, ok := r.get(key)
	if !ok || o.slot == nil {
		t.Fatalf("get = %+v, %v; want the entry with its slot", o, ok)
	}
	o.version = 4
	r.update(key, o)
	if got, _ := r.get(key); got.version != 4 {
		t.Errorf("after update: version %d; want 4", got.version)
	}
	stale := o
	stale.version = 2
	r.update(key, stale)
	if got, _ := r.get(key); got.version != 4 {
		t.Errorf("after a stale update: version %d; want 4 kept", got.version)
	}
	o, _ = r.get(key)
	r.forget(key)
	o.version = 5
	r.update(key, o)
	if got, ok := r.get(key); ok {
		t.Errorf("forgotten transaction back after an update: %+v", got)
	}
	r.update(key, openTx{seq: 2, version: 1}) // no slot: put
	if got, ok := r.get(key); !ok || got.seq != 2 {
		t.Errorf("update without a slot = %+v, %v; want it remembered", got, ok)
	}
}

// A connection's TxCache finds the entry its last MeterValues used; it
// never hands out an entry the registers no longer hold: one forgotten
// (the transaction stopped, and maybe started again under the same id),
// one of a map emptied since (maxRemembered), or another transaction's.
func TestRegistersTxCache(t *testing.T) {
	key, other := registerKey("c", "k"), registerKey("c", "other")
	var r registers
	var c TxCache
	if _, ok := r.getCached(key, &c); ok {
		t.Fatal("found a transaction never put")
	}
	r.put(key, openTx{seq: 1, version: 3})
	r.put(other, openTx{seq: 2, version: 7})
	want := func(k txKey, seq, version int64) {
		t.Helper()
		got, ok := r.getCached(k, &c)
		if !ok || got.seq != seq || got.version != version {
			t.Fatalf("getCached = %+v, %v; want seq %d version %d", got, ok, seq, version)
		}
		if c.slot != r.last[k] {
			t.Fatal("the cache does not hold the entry it was served from")
		}
	}
	want(key, 1, 3)
	o, _ := r.getCached(key, &c)
	o.version = 4
	r.update(key, o)
	want(key, 1, 4)
	want(other, 2, 7) // another transaction: looked up, not the cached one

	want(key, 1, 4)
	r.forget(key)
	if got, ok := r.getCached(key, &c); ok {
		t.Fatalf("a forgotten transaction served from the cache: %+v", got)
	}
	r.put(key, openTx{seq: 3, version: 0}) // the same id again
	want(key, 3, 0)

	for i := 0; len(r.last) > 1 || i == 0; i++ { // until the map is emptied
		r.put(registerKey("fill", strconv.Itoa(i)), openTx{seq: int64(10 + i)})
	}
	if got, ok := r.getCached(key, &c); ok {
		t.Fatalf("an entry of an emptied map served from the cache: %+v", got)
	}
}
