package migrations

import (
	"strings"
	"testing"
	"testing/fstest"
)

func TestLoad(t *testing.T) {
	fsys := fstest.MapFS{
		"m/0002_second.sql": {Data: []byte("B")},
		"m/0001_first.sql":  {Data: []byte("A")},
		"m/README.md":       {Data: []byte("not a migration")},
	}
	ms, err := Load(fsys, "m")
	if err != nil {
		t.Fatal(err)
	}
	if len(ms) != 2 || ms[0].Version != 1 || ms[0].Name != "0001_first" || ms[0].SQL != "A" || ms[1].Version != 2 {
		t.Fatalf("got %+v; want 0001_first then 0002_second", ms)
	}
	for name, bad := range map[string]fstest.MapFS{
		"bad-name":     {"m/first.sql": {Data: []byte("x")}},
		"zero-version": {"m/0000_x.sql": {Data: []byte("x")}},
		"same-version": {"m/0001_a.sql": {Data: []byte("x")}, "m/001_b.sql": {Data: []byte("y")}},
	} {
		if _, err := Load(bad, "m"); err == nil || !strings.Contains(err.Error(), "migration") {
			t.Errorf("%s: Load = %v; want a migration error", name, err)
		}
	}
}
