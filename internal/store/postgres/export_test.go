package postgres

import "testing"

// SchemaForTest returns the URL of a fresh schema of the test database, for
// the tests of package postgres_test; it skips without one.
func SchemaForTest(t testing.TB) string { return newSchema(t, testDB(t)) }
