package relationships

import (
	"context"

	"crm/eventlog/consumer"
	cmp "crm/services/campaigns/contract"
	cus "crm/services/customers/contract"
	"crm/services/kit"
	"crm/services/relationships/domain"
	"crm/services/wire"
)

// Replicas maps each area this one replicates to how its events change the
// replica (crm verify replays them with the same mappers).
var Replicas = map[string]kit.Mapper{"customers": kit.StatusMapper("customerId", customerStatuses)}

// customerStatuses maps the customers area's events that set a customer's
// status to the status the replica keeps.
var customerStatuses = map[string]string{cus.TypeCustomerRegistered: "ACTIVE", cus.TypeCustomerArchived: "ARCHIVED"}

// Open migrates the area's schema and assembles the area: its log, command
// API, relay, its replica of the customers (for account teams and
// interests) and its reaction to won deals (products owned).
func Open(ctx context.Context, cfg kit.AreaConfig) (*kit.Area, error) {
	log, err := kit.OpenLog(ctx, Area, cfg, nil, nil)
	if err != nil {
		return nil, err
	}
	customers := kit.NewReplica(kit.ReplicaConfig{Pool: cfg.Pool, Schema: Area, Source: "customers", Name: Area,
		Partitions: cfg.Partitions, Wait: cfg.ConsistencyWait, Redis: cfg.Redis, Namespace: cfg.Namespace,
		Mapper: Replicas["customers"]})
	svc := NewService(log, facts{customers})
	return kit.NewArea(Area, cfg, log, svc.Routes(cfg.Logger),
		kit.Subscription{Source: "customers", Handlers: []consumer.Handler{customers.Handler()}},
		kit.Subscription{Source: "campaigns", Handlers: []consumer.Handler{kit.React(cmp.TypeDealWon, svc.DealWon)}})
}

// facts answers the service's questions from the local replica.
type facts struct{ customers *kit.Replica }

func (f facts) Customer(ctx context.Context, id string, token wire.Token) (domain.CustomerFact, error) {
	return kit.Fact(ctx, f.customers, id, token, domain.UnknownCustomer,
		map[string]domain.CustomerFact{"ACTIVE": domain.ActiveCustomer, "ARCHIVED": domain.ArchivedCustomer})
}
