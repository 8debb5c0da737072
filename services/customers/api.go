package customers

import (
	"log/slog"

	"crm/services/kit"
)

// Routes are the area's commands: POST /commands/NAME with a JSON body
// (see docs/api.md).
func (s *Service) Routes(log *slog.Logger) []kit.Route {
	return []kit.Route{
		{Name: "register-customer", Handler: kit.Command("register-customer", log, s.Register)},
		{Name: "update-customer", Handler: kit.Command("update-customer", log, s.Update)},
		{Name: "archive-customer", Handler: kit.Command("archive-customer", log, s.Archive)},
	}
}
