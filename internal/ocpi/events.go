package ocpi

// startEvents subscribes to the core's events and runs the worker that
// turns them into pushes.
func (c *CPO) startEvents() {}
