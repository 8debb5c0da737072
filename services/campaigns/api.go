package campaigns

import (
	"log/slog"

	"crm/services/kit"
	"crm/services/wire"
)

// Routes are the area's commands: POST /commands/NAME with a JSON body
// (see docs/api-campaigns.md).
func (s *Service) Routes(log *slog.Logger) []kit.Route {
	return []kit.Route{
		{Name: wire.CreateCampaign, Handler: kit.Command(wire.CreateCampaign, log, s.CreateCampaign)},
		{Name: wire.LaunchCampaign, Handler: kit.Command(wire.LaunchCampaign, log, s.LaunchCampaign)},
		{Name: wire.EndCampaign, Handler: kit.Command(wire.EndCampaign, log, s.EndCampaign)},
		{Name: wire.AddOffer, Handler: kit.Command(wire.AddOffer, log, s.AddOffer)},
		{Name: wire.OpenDeal, Handler: kit.Command(wire.OpenDeal, log, s.OpenDeal)},
		{Name: wire.WinDeal, Handler: kit.Command(wire.WinDeal, log, s.WinDeal)},
		{Name: wire.LoseDeal, Handler: kit.Command(wire.LoseDeal, log, s.LoseDeal)},
	}
}
