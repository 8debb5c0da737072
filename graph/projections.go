package graph

import (
	"context"

	"crm/eventlog/errcode"
	"crm/graph/model"
)

// projections answers the projections query from the projector's status.
func (r *Resolver) projections(ctx context.Context) ([]*model.ProjectionStatus, error) {
	if r.Status == nil {
		return nil, errcode.New(errcode.Unavailable, "projection status is not available")
	}
	st, err := r.Status(ctx)
	if err != nil {
		return nil, errcode.Wrap(errcode.Unavailable, err, "projection status is unavailable")
	}
	out := make([]*model.ProjectionStatus, len(st))
	for i, s := range st {
		out[i] = &model.ProjectionStatus{Name: s.Name, State: model.ProjectionState(s.State), Lag: int(s.Lag), UpdatedAt: s.UpdatedAt}
	}
	return out, nil
}
