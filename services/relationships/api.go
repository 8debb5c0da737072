package relationships

import (
	"log/slog"

	"crm/services/kit"
	"crm/services/wire"
)

// Routes are the area's commands: POST /commands/NAME with a JSON body
// (see docs/api-relationships.md).
func (s *Service) Routes(log *slog.Logger) []kit.Route {
	return []kit.Route{
		{Name: wire.RegisterSalesperson, Handler: kit.Command(wire.RegisterSalesperson, log, s.RegisterSalesperson)},
		{Name: wire.AssignAccountTeam, Handler: kit.Command(wire.AssignAccountTeam, log, s.AssignAccountTeam)},
		{Name: wire.RecordInterest, Handler: kit.Command(wire.RecordInterest, log, s.RecordInterest)},
		{Name: wire.RemoveInterest, Handler: kit.Command(wire.RemoveInterest, log, s.RemoveInterest)},
	}
}
