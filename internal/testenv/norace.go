//go:build !race

package testenv

// Race says the race detector is on: it changes what escapes to the heap,
// so allocation counts measured without it do not hold.
const Race = false
