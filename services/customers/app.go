package customers

import (
	"context"

	"crm/services/kit"
)

// Open migrates the area's schema and assembles the area: its log, command
// API and relay. The customer area follows no other area.
func Open(ctx context.Context, cfg kit.AreaConfig) (*kit.Area, error) {
	log, err := kit.OpenLog(ctx, Area, cfg, nil, nil)
	if err != nil {
		return nil, err
	}
	return kit.NewArea(Area, cfg, log, NewService(log).Routes(cfg.Logger))
}
