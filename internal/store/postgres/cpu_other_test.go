//go:build !linux

package postgres

import "time"

func cpuTime() time.Duration        { return 0 }
func serverCPUTime() time.Duration  { return 0 }
func machineCPUTime() time.Duration { return 0 }
