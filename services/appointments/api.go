package appointments

import (
	"log/slog"

	"crm/services/kit"
	"crm/services/wire"
)

// Routes are the area's commands: POST /commands/NAME with a JSON body
// (see docs/api-appointments.md).
func (s *Service) Routes(log *slog.Logger) []kit.Route {
	return []kit.Route{
		{Name: wire.ScheduleAppointment, Handler: kit.Command(wire.ScheduleAppointment, log, s.Schedule)},
		{Name: wire.RescheduleAppointment, Handler: kit.Command(wire.RescheduleAppointment, log, s.Reschedule)},
		{Name: wire.CancelAppointment, Handler: kit.Command(wire.CancelAppointment, log, s.Cancel)},
		{Name: wire.CompleteAppointment, Handler: kit.Command(wire.CompleteAppointment, log, s.Complete)},
	}
}
