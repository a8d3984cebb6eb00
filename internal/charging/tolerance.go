package charging

import (
	"context"
	"errors"
	"fmt"
)

// DocTolerance is the document kind of a charger's tolerance switch (id and
// owner: the charger).
const DocTolerance = "tolerance"

// Tolerance is a charger's tolerance switch. With Tolerate, a message
// whose only faults against the schema are ones a lenient reading can take
// as sent (a string longer than allowed, such as some vendors' serial
// numbers, or an unknown enum value) is accepted and the fault recorded as
// tolerated; without it (the default) the message is refused and the
// fault recorded as refused.
type Tolerance struct {
	ChargerID string `json:"charger_id"`
	Tolerate  bool   `json:"tolerate"`
}

// SetTolerance switches a registered charger's tolerance. It applies to the
// charger's next message on this server, and on other servers sharing the
// store from its next connection. ErrNotFound for an unknown charger;
// ErrNotSupported when the store keeps no documents.
func (s *Service) SetTolerance(ctx context.Context, t Tolerance) error {
	ds, err := s.full()
	if err != nil {
		return err
	}
	if _, err := s.store.GetCharger(ctx, t.ChargerID); err != nil {
		return fmt.Errorf("tolerance of %s: %w", t.ChargerID, err)
	}
	body, err := marshalDoc(t)
	if err != nil {
		return err
	}
	if err := ds.PutDoc(ctx, Doc{Kind: DocTolerance, ID: t.ChargerID, Owner: t.ChargerID, Body: body, Updated: s.clock.Now()}); err != nil {
		return fmt.Errorf("tolerance of %s: %w", t.ChargerID, err)
	}
	s.tolMu.Lock()
	if s.tolerant == nil {
		s.tolerant = make(map[string]bool)
	}
	s.tolerant[t.ChargerID] = t.Tolerate
	s.tolMu.Unlock()
	s.log.Info("charger tolerance switched", "charger", t.ChargerID, "tolerate", t.Tolerate)
	return nil
}

// LoadTolerance reads a charger's tolerance from the store (adapters call
// it when the charger connects) and remembers it for Tolerates. A charger
// without a switch is strict.
func (s *Service) LoadTolerance(ctx context.Context, chargerID string) (Tolerance, error) {
	t := Tolerance{ChargerID: chargerID}
	ds, err := s.full()
	if err != nil {
		return t, nil // no documents: strict
	}
	d, err := ds.GetDoc(ctx, DocTolerance, chargerID)
	switch {
	case errors.Is(err, ErrNotFound):
	case err != nil:
		return t, fmt.Errorf("tolerance of %s: %w", chargerID, err)
	default:
		if err := unmarshalDoc(d.Body, &t); err != nil {
			return t, fmt.Errorf("tolerance of %s: %w", chargerID, err)
		}
		t.ChargerID = chargerID
	}
	s.tolMu.Lock()
	if s.tolerant == nil { // one bool per charger that connected
		s.tolerant = make(map[string]bool)
	}
	s.tolerant[chargerID] = t.Tolerate
	s.tolMu.Unlock()
	return t, nil
}

// Tolerates reports whether a charger is tolerated, as last loaded or set
// on this server (false when never loaded).
func (s *Service) Tolerates(chargerID string) bool {
	s.tolMu.Lock()
	defer s.tolMu.Unlock()
	return s.tolerant[chargerID]
}
