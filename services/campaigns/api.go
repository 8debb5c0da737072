package campaigns

import (
	"log/slog"

	"crm/services/kit"
)

// Routes are the area's commands: POST /commands/NAME with a JSON body
// (see docs/api-campaigns.md).
func (s *Service) Routes(log *slog.Logger) []kit.Route {
	return []kit.Route{
		{Name: "create-campaign", Handler: kit.Command("create-campaign", log, s.CreateCampaign)},
		{Name: "launch-campaign", Handler: kit.Command("launch-campaign", log, s.LaunchCampaign)},
		{Name: "end-campaign", Handler: kit.Command("end-campaign", log, s.EndCampaign)},
		{Name: "add-offer", Handler: kit.Command("add-offer", log, s.AddOffer)},
		{Name: "open-deal", Handler: kit.Command("open-deal", log, s.OpenDeal)},
		{Name: "win-deal", Handler: kit.Command("win-deal", log, s.WinDeal)},
		{Name: "lose-deal", Handler: kit.Command("lose-deal", log, s.LoseDeal)},
	}
}
