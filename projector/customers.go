package projector

import (
	"fmt"
	"io/fs"
	"time"

	"github.com/jackc/pgx/v5"

	"crm/eventlog"
	"crm/eventlog/consumer"
	apt "crm/services/appointments/contract"
	cmp "crm/services/campaigns/contract"
	cus "crm/services/customers/contract"
	rel "crm/services/relationships/contract"
)

// Customers is the denormalized customer read model (table customers, with
// the private helper tables customer_appointments and customer_deals): the
// customer area's contact data, the account team, interests and products
// from relationships, the upcoming appointments from appointments and the
// open deals and won totals from campaigns.
//
// Rows are created by whichever area's event comes first; registered turns
// true with CustomerRegistered. The upcoming appointment count and the next
// appointment are recomputed at each appointment event of the customer
// against the clock of that moment: an appointment whose start passes
// without a further event stays counted until the customer's next
// appointment event.
type Customers struct{}

// Name implements Projection.
func (Customers) Name() string { return "customers" }

// Sources implements Projection.
func (Customers) Sources() []string {
	return []string{AreaCustomers, AreaRelationships, AreaAppointments, AreaCampaigns}
}

// Migrations implements Projection.
func (Customers) Migrations() fs.FS { return migrationsOf("customers") }

// QueryIndexes implements QueryIndexed: the gateway's lists by sales rep,
// manager and interest; Apply reads customers by id only.
func (Customers) QueryIndexes() []string {
	return []string{"customers_sales_rep", "customers_manager", "customers_interests"}
}

// Tables implements Projection.
func (Customers) Tables() []string {
	return []string{"customers", "customer_appointments", "customer_deals"}
}

// Apply implements Projection. It fails on malformed event data or a
// database error; events it does not use return no change.
func (c Customers) Apply(b *consumer.Batch, schema string, ev eventlog.Event, area string, out *[]Change) error {
	var err error
	switch area + "/" + ev.Type {
	case AreaCustomers + "/" + cus.TypeCustomerRegistered:
		var e cus.CustomerRegistered
		if e, err = decode[cus.CustomerRegistered](b, ev); err == nil {
			a := addr(e.Address)
			c.row(b, out, schema, e.CustomerID, "registered", true, "name", e.Name, "email", e.Email,
				"phone", nullIfEmpty(e.Phone), "street", a[0], "city", a[1], "postal_code", a[2], "country", a[3],
				"status", "ACTIVE", "version", ev.Version, "created_at", e.RegisteredAt, "updated_at", e.RegisteredAt)
		}
	case AreaCustomers + "/" + cus.TypeCustomerUpdated:
		var e cus.CustomerUpdated
		if e, err = decode[cus.CustomerUpdated](b, ev); err == nil {
			a := addr(e.Address)
			c.row(b, out, schema, e.CustomerID, "name", e.Name, "email", e.Email,
				"phone", nullIfEmpty(e.Phone), "street", a[0], "city", a[1], "postal_code", a[2], "country", a[3],
				"version", ev.Version, "updated_at", e.UpdatedAt)
		}
	case AreaCustomers + "/" + cus.TypeCustomerArchived:
		var e cus.CustomerArchived
		if e, err = decode[cus.CustomerArchived](b, ev); err == nil {
			c.row(b, out, schema, e.CustomerID, "status", "ARCHIVED", "version", ev.Version, "updated_at", e.ArchivedAt)
		}
	case AreaRelationships + "/" + rel.TypeAccountTeamAssigned:
		var e rel.AccountTeamAssigned
		if e, err = decode[rel.AccountTeamAssigned](b, ev); err == nil {
			c.row(b, out, schema, e.CustomerID, "sales_rep_id", nullIfEmpty(e.SalesRepID), "manager_id", nullIfEmpty(e.ManagerID))
		}
	case AreaRelationships + "/" + rel.TypeInterestRecorded:
		var e rel.InterestRecorded
		if e, err = decode[rel.InterestRecorded](b, ev); err == nil {
			c.row(b, out, schema, e.CustomerID, "interests", nonNilStrings(e.Interests))
		}
	case AreaRelationships + "/" + rel.TypeInterestRemoved:
		var e rel.InterestRemoved
		if e, err = decode[rel.InterestRemoved](b, ev); err == nil {
			c.row(b, out, schema, e.CustomerID, "interests", nonNilStrings(e.Interests))
		}
	case AreaRelationships + "/" + rel.TypeProductAdded:
		var e rel.ProductAdded
		if e, err = decode[rel.ProductAdded](b, ev); err == nil {
			c.row(b, out, schema, e.CustomerID, "products", nonNilStrings(e.Products))
		}
	case AreaAppointments + "/" + apt.TypeAppointmentScheduled:
		var e apt.AppointmentScheduled
		if e, err = decode[apt.AppointmentScheduled](b, ev); err == nil {
			c.appointment(b, out, schema, e.AppointmentID, e.CustomerID, e.StartsAt, "SCHEDULED")
		}
	case AreaAppointments + "/" + apt.TypeAppointmentRescheduled:
		var e apt.AppointmentRescheduled
		if e, err = decode[apt.AppointmentRescheduled](b, ev); err == nil {
			c.appointment(b, out, schema, e.AppointmentID, e.CustomerID, e.StartsAt, "SCHEDULED")
		}
	case AreaAppointments + "/" + apt.TypeAppointmentCancelled:
		var e apt.AppointmentCancelled
		if e, err = decode[apt.AppointmentCancelled](b, ev); err == nil {
			c.appointment(b, out, schema, e.AppointmentID, e.CustomerID, e.StartsAt, "CANCELLED")
		}
	case AreaAppointments + "/" + apt.TypeAppointmentCompleted:
		var e apt.AppointmentCompleted
		if e, err = decode[apt.AppointmentCompleted](b, ev); err == nil {
			c.appointment(b, out, schema, e.AppointmentID, e.CustomerID, e.StartsAt, "COMPLETED")
		}
	case AreaCampaigns + "/" + cmp.TypeDealOpened:
		var e cmp.DealOpened
		if e, err = decode[cmp.DealOpened](b, ev); err == nil {
			c.deal(b, out, schema, e.DealID, e.CustomerID, "OPEN", e.Value)
		}
	case AreaCampaigns + "/" + cmp.TypeDealWon:
		var e cmp.DealWon
		if e, err = decode[cmp.DealWon](b, ev); err == nil {
			c.deal(b, out, schema, e.DealID, e.CustomerID, "WON", e.Value)
		}
	case AreaCampaigns + "/" + cmp.TypeDealLost:
		var e cmp.DealLost
		if e, err = decode[cmp.DealLost](b, ev); err == nil {
			c.deal(b, out, schema, e.DealID, e.CustomerID, "LOST", e.Value)
		}
	default:
		return nil
	}
	if err != nil {
		return fmt.Errorf("customers: %s %s: %w", ev.Type, ev.ID, err)
	}
	return nil
}

// addr splits an optional address into its four nullable columns.
func addr(a *cus.Address) [4]*string {
	if a == nil {
		return [4]*string{}
	}
	return [4]*string{nullIfEmpty(a.Street), nullIfEmpty(a.City), nullIfEmpty(a.PostalCode), nullIfEmpty(a.Country)}
}

// row folds an upsert of customer id's columns (name, value pairs) into
// the batch's set-based upsert of customers, under the customer's lock;
// the changed customer is named in out once it has run.
func (Customers) row(b *consumer.Batch, out *[]Change, schema, id string, cols ...any) {
	lockKeys(b, schema+".customers", id)
	b.Upsert(consumer.Table{Name: schema + ".customers", Key: "id", Returning: "id, sales_rep_id"},
		customerChanged(out), id, cols...)
}

// customerChanged names in out each customer a statement returns as (id,
// sales_rep_id).
func customerChanged(out *[]Change) func(pgx.Row) error {
	return func(row pgx.Row) error {
		var id string
		var rep *string
		if err := row.Scan(&id, &rep); err != nil {
			return err
		}
		*out = append(*out, Change{Kind: KindCustomer, ID: id, Refs: refs(RefCustomer, id, RefSalesperson, deref(rep))})
		return nil
	}
}

// appointment records the appointment's state in customer_appointments and
// has its customer's upcoming count and next appointment recomputed once
// the batch's appointment rows are written. The customer an appointment
// belongs to is the one it was first recorded with (it never changes in
// the appointments area): recomputing that owner, rather than the customer
// an event names, makes the result the same however events are batched.
func (Customers) appointment(b *consumer.Batch, out *[]Change, schema, id, customerID string, startsAt time.Time, status string) {
	lockKeys(b, schema+".customers", customerID)
	b.Upsert(consumer.Table{Name: schema + ".customer_appointments", Key: "id", InsertOnly: ownerColumn}, nil, id,
		"customer_id", customerID, "starts_at", startsAt, "status", status)
	b.Refresh(`INSERT INTO `+schema+`.customers AS c (id, upcoming_appointment_count, next_appointment_id)
		SELECT k.id, u.n, u.next
		FROM (SELECT DISTINCT customer_id AS id FROM `+schema+`.customer_appointments WHERE id = ANY($1::text[])) k,
		-- per customer, by its index: a join could scan the whole table
		LATERAL (SELECT count(*) AS n, (array_agg(a.id ORDER BY a.starts_at, a.id))[1] AS next
			FROM `+schema+`.customer_appointments a
			WHERE a.customer_id = k.id AND a.status = 'SCHEDULED' AND a.starts_at > now()) u
		ON CONFLICT (id) DO UPDATE SET upcoming_appointment_count = EXCLUDED.upcoming_appointment_count,
			next_appointment_id = EXCLUDED.next_appointment_id
		RETURNING c.id, c.sales_rep_id`, id, customerChanged(out))
}

// deal records the deal's state in customer_deals and has its customer's
// open deal count and won totals recomputed once the batch's deal rows are
// written (the owner, as for appointments).
func (Customers) deal(b *consumer.Batch, out *[]Change, schema, id, customerID, stage string, v cmp.Money) {
	lockKeys(b, schema+".customers", customerID)
	b.Upsert(consumer.Table{Name: schema + ".customer_deals", Key: "id", InsertOnly: ownerColumn, Casts: amountCast}, nil, id,
		"customer_id", customerID, "stage", stage, "amount", v.Amount, "currency", v.CurrencyCode)
	b.Refresh(`INSERT INTO `+schema+`.customers AS c (id, open_deal_count, won_totals)
		SELECT k.id, `+dealTotals(schema+".customer_deals", "customer_id", "k.id")+`
		FROM (SELECT DISTINCT customer_id AS id FROM `+schema+`.customer_deals WHERE id = ANY($1::text[])) k
		ON CONFLICT (id) DO UPDATE SET open_deal_count = EXCLUDED.open_deal_count, won_totals = EXCLUDED.won_totals
		RETURNING c.id, c.sales_rep_id`, id, customerChanged(out))
}

// Column lists of the customers' private tables, shared by every call.
var (
	// ownerColumn: an appointment's or deal's customer is the one it was
	// first recorded with.
	ownerColumn = []string{"customer_id"}
	// amountCast: a money amount travels as its decimal string.
	amountCast = map[string]string{"amount": "numeric"}
)

// dealTotals is a select list of two expressions over the deals in table
// whose column col equals ref (a parameter or a column): the open deal
// count and the won totals per currency (decimal strings; numeric
// addition keeps the currency's scale).
func dealTotals(table, col, ref string) string {
	return `(SELECT count(*) FROM ` + table + ` WHERE ` + col + ` = ` + ref + ` AND stage = 'OPEN'),
		(SELECT coalesce(jsonb_object_agg(currency, total), '{}'::jsonb) FROM
			(SELECT currency, sum(amount)::text AS total FROM ` + table + `
			 WHERE ` + col + ` = ` + ref + ` AND stage = 'WON' GROUP BY currency) w)`
}
