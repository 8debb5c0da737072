package relationships

import (
	"log/slog"

	"crm/services/kit"
)

// Routes are the area's commands: POST /commands/NAME with a JSON body
// (see docs/api-relationships.md).
func (s *Service) Routes(log *slog.Logger) []kit.Route {
	return []kit.Route{
		{Name: "register-salesperson", Handler: kit.Command("register-salesperson", log, s.RegisterSalesperson)},
		{Name: "assign-account-team", Handler: kit.Command("assign-account-team", log, s.AssignAccountTeam)},
		{Name: "record-interest", Handler: kit.Command("record-interest", log, s.RecordInterest)},
		{Name: "remove-interest", Handler: kit.Command("remove-interest", log, s.RemoveInterest)},
	}
}
