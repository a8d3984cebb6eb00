package ocpi

// moduleRoutes registers the function modules' routes under base.
func (c *CPO) moduleRoutes(base string) {
	c.handle("GET "+base+"/locations", registered, c.getLocations)
	c.handle("GET "+base+"/locations/{location_id}", registered, c.getLocation)
	c.handle("GET "+base+"/locations/{location_id}/{evse_uid}", registered, c.getLocation)
	c.handle("GET "+base+"/locations/{location_id}/{evse_uid}/{connector_id}", registered, c.getLocation)
	c.handle("GET "+base+"/tariffs", registered, c.getTariffs)
}
