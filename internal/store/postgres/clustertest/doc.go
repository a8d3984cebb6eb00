// Package clustertest runs several chargebridge processes on one PostgreSQL
// database, as nodes behind a load balancer would, and checks that they
// share it safely. It holds tests only; they need CHARGEBRIDGE_TEST_POSTGRES
// (see package pgtest) and build the chargebridge binary.
package clustertest
