package ocpi

// moduleRoutes registers the function modules' routes under base.
func (c *CPO) moduleRoutes(base string) {
	c.handle("GET "+base+"/locations", registered, c.getLocations)
	c.handle("GET "+base+"/locations/{location_id}", registered, c.getLocation)
	c.handle("GET "+base+"/locations/{location_id}/{evse_uid}", registered, c.getLocation)
	c.handle("GET "+base+"/locations/{location_id}/{evse_uid}/{connector_id}", registered, c.getLocation)
	c.handle("GET "+base+"/tariffs", registered, c.getTariffs)
	c.handle("GET "+base+"/sessions", registered, c.getSessions)
	c.handle("GET "+base+"/cdrs", registered, c.getCDRs)
	tok := base + "/tokens/{country_code}/{party_id}/{token_uid}"
	c.handle("GET "+tok, registered, c.getToken)
	c.handle("PUT "+tok, registered, c.putToken)
	c.handle("PATCH "+tok, registered, c.patchToken)
	if c.cmd != nil {
		c.handle("POST "+base+"/commands/{command}", registered, c.postCommand)
	}
}
