// Package killtest kills a real chargebridge process (kill -9: no shutdown,
// no flush) while chargers load it, restarts it on the same database, and
// checks that nothing it acknowledged was lost: a CALLRESULT is an answer
// given only once the change is on disk. It has only tests.
package killtest
