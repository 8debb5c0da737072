package customers

import (
	"log/slog"

	"crm/services/kit"
	"crm/services/wire"
)

// Routes are the area's commands: POST /commands/NAME with a JSON body
// (see docs/api.md).
func (s *Service) Routes(log *slog.Logger) []kit.Route {
	return []kit.Route{
		{Name: wire.RegisterCustomer, Handler: kit.Command(wire.RegisterCustomer, log, s.Register)},
		{Name: wire.UpdateCustomer, Handler: kit.Command(wire.UpdateCustomer, log, s.Update)},
		{Name: wire.ArchiveCustomer, Handler: kit.Command(wire.ArchiveCustomer, log, s.Archive)},
	}
}
