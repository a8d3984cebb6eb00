package main

import (
	"context"
	"errors"

	"github.com/chargebridge/chargebridge/internal/charging"
)

// deleteCharger deletes a charger through the store's delete method.
func deleteCharger(ctx context.Context, svc *charging.Service, id string) error {
	d, ok := svc.Store().(interface {
		DeleteCharger(ctx context.Context, id string) error
	})
	if !ok {
		return errors.New("this database cannot delete chargers")
	}
	return d.DeleteCharger(ctx, id)
}

// deleteTag deletes an id tag through the store's delete method.
func deleteTag(ctx context.Context, svc *charging.Service, id string) error {
	d, ok := svc.Store().(interface {
		DeleteIDTag(ctx context.Context, id string) error
	})
	if !ok {
		return errors.New("this database cannot delete id tags")
	}
	return d.DeleteIDTag(ctx, id)
}
