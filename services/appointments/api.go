package appointments

import (
	"log/slog"

	"crm/services/kit"
)

// Routes are the area's commands: POST /commands/NAME with a JSON body
// (see docs/api-appointments.md).
func (s *Service) Routes(log *slog.Logger) []kit.Route {
	return []kit.Route{
		{Name: "schedule-appointment", Handler: kit.Command("schedule-appointment", log, s.Schedule)},
		{Name: "reschedule-appointment", Handler: kit.Command("reschedule-appointment", log, s.Reschedule)},
		{Name: "cancel-appointment", Handler: kit.Command("cancel-appointment", log, s.Cancel)},
		{Name: "complete-appointment", Handler: kit.Command("complete-appointment", log, s.Complete)},
	}
}
