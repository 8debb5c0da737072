package appointments

import (
	"context"

	"crm/eventlog"
	"crm/eventlog/consumer"
	"crm/services/appointments/domain"
	cus "crm/services/customers/contract"
	"crm/services/kit"
	rel "crm/services/relationships/contract"
	"crm/services/wire"
)

// Replicas maps each area this one replicates to how its events change the
// replica (crm verify replays them with the same mappers).
var Replicas = map[string]kit.Mapper{
	"customers":     kit.StatusMapper("customerId", customerStatuses),
	"relationships": kit.StatusMapper("salespersonId", map[string]string{rel.TypeSalespersonRegistered: "ACTIVE"}, "role"),
}

// customerStatuses maps the customers area's events that set a customer's
// status to the status the replica keeps.
var customerStatuses = map[string]string{cus.TypeCustomerRegistered: "ACTIVE", cus.TypeCustomerArchived: "ARCHIVED"}

// Open migrates the area's schema and assembles the area: its log (with
// the inline appointment index), command API, relay, its replicas of the
// customers and the salespeople, and its reaction to archived customers.
func Open(ctx context.Context, cfg kit.AreaConfig) (*kit.Area, error) {
	log, err := kit.OpenLog(ctx, Area, cfg, Inline(Area), Migrate)
	if err != nil {
		return nil, err
	}
	replica := func(source string, m kit.Mapper) *kit.Replica {
		return kit.NewReplica(kit.ReplicaConfig{Pool: cfg.Pool, Schema: Area, Source: source, Name: Area,
			Partitions: cfg.Partitions, Wait: cfg.ConsistencyWait, Redis: cfg.Redis, Namespace: cfg.Namespace, Mapper: m})
	}
	f := facts{customers: replica("customers", Replicas["customers"]), salespeople: replica("relationships", Replicas["relationships"])}
	svc := NewService(log, f, cfg.Pool)
	archived := kit.React(cus.TypeCustomerArchived, func(ctx context.Context, ev eventlog.Event) error {
		return svc.CustomerArchived(ctx, kit.DataField(ev, "customerId"), ev)
	})
	return kit.NewArea(Area, cfg, log, svc.Routes(cfg.Logger),
		kit.Subscription{Source: "customers", Handlers: []consumer.Handler{f.customers.Handler(), archived}},
		kit.Subscription{Source: "relationships", Handlers: []consumer.Handler{f.salespeople.Handler()}})
}

// facts answers the service's questions from the local replicas.
type facts struct{ customers, salespeople *kit.Replica }

func (f facts) Customer(ctx context.Context, id string, token wire.Token) (domain.CustomerFact, error) {
	return kit.Fact(ctx, f.customers, id, token, domain.CustomerUnknown,
		map[string]domain.CustomerFact{"ACTIVE": domain.CustomerActive, "ARCHIVED": domain.CustomerArchived})
}

func (f facts) SalespersonKnown(ctx context.Context, id string, token wire.Token) (bool, error) {
	return kit.Fact(ctx, f.salespeople, id, token, false, map[string]bool{"ACTIVE": true})
}
