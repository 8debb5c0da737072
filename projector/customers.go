package projector

import (
	"fmt"
	"io/fs"

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

// Tables implements Projection.
func (Customers) Tables() []string {
	return []string{"customers", "customer_appointments", "customer_deals"}
}

// Apply implements Projection. It fails on malformed event data or a
// database error; events it does not use return no change.
func (c Customers) Apply(b *consumer.Batch, schema string, ev eventlog.Event, area string, out *[]Change) error {
	var err error
	t := schema + ".customers"
	switch area + "/" + ev.Type {
	case AreaCustomers + "/" + cus.TypeCustomerRegistered:
		var e cus.CustomerRegistered
		if e, err = decode[cus.CustomerRegistered](ev.Data, ev.Type); err == nil {
			a := addr(e.Address)
			customerRow(b, out, schema, e.CustomerID, `INSERT INTO `+t+` AS c (id, registered, name, email, phone, street, city,
				postal_code, country, status, version, created_at, updated_at)
				VALUES ($1, true, $2, $3, $4, $5, $6, $7, $8, 'ACTIVE', $9, $10, $10)
				ON CONFLICT (id) DO UPDATE SET registered = true, name = $2, email = $3, phone = $4, street = $5,
					city = $6, postal_code = $7, country = $8, status = 'ACTIVE', version = $9, created_at = $10, updated_at = $10
				RETURNING c.id, c.sales_rep_id`,
				e.CustomerID, e.Name, e.Email, nullIfEmpty(e.Phone), a[0], a[1], a[2], a[3], ev.Version, e.RegisteredAt)
		}
	case AreaCustomers + "/" + cus.TypeCustomerUpdated:
		var e cus.CustomerUpdated
		if e, err = decode[cus.CustomerUpdated](ev.Data, ev.Type); err == nil {
			a := addr(e.Address)
			customerRow(b, out, schema, e.CustomerID, `INSERT INTO `+t+` AS c (id, name, email, phone, street, city,
				postal_code, country, version, updated_at)
				VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
				ON CONFLICT (id) DO UPDATE SET name = $2, email = $3, phone = $4, street = $5,
					city = $6, postal_code = $7, country = $8, version = $9, updated_at = $10
				RETURNING c.id, c.sales_rep_id`,
				e.CustomerID, e.Name, e.Email, nullIfEmpty(e.Phone), a[0], a[1], a[2], a[3], ev.Version, e.UpdatedAt)
		}
	case AreaCustomers + "/" + cus.TypeCustomerArchived:
		var e cus.CustomerArchived
		if e, err = decode[cus.CustomerArchived](ev.Data, ev.Type); err == nil {
			customerRow(b, out, schema, e.CustomerID, `INSERT INTO `+t+` AS c (id, status, version, updated_at)
				VALUES ($1, 'ARCHIVED', $2, $3)
				ON CONFLICT (id) DO UPDATE SET status = 'ARCHIVED', version = $2, updated_at = $3
				RETURNING c.id, c.sales_rep_id`, e.CustomerID, ev.Version, e.ArchivedAt)
		}
	case AreaRelationships + "/" + rel.TypeAccountTeamAssigned:
		var e rel.AccountTeamAssigned
		if e, err = decode[rel.AccountTeamAssigned](ev.Data, ev.Type); err == nil {
			customerRow(b, out, schema, e.CustomerID, `INSERT INTO `+t+` AS c (id, sales_rep_id, manager_id) VALUES ($1, $2, $3)
				ON CONFLICT (id) DO UPDATE SET sales_rep_id = $2, manager_id = $3
				RETURNING c.id, c.sales_rep_id`, e.CustomerID, nullIfEmpty(e.SalesRepID), nullIfEmpty(e.ManagerID))
		}
	case AreaRelationships + "/" + rel.TypeInterestRecorded:
		var e rel.InterestRecorded
		if e, err = decode[rel.InterestRecorded](ev.Data, ev.Type); err == nil {
			c.setList(b, out, schema, "interests", e.CustomerID, e.Interests)
		}
	case AreaRelationships + "/" + rel.TypeInterestRemoved:
		var e rel.InterestRemoved
		if e, err = decode[rel.InterestRemoved](ev.Data, ev.Type); err == nil {
			c.setList(b, out, schema, "interests", e.CustomerID, e.Interests)
		}
	case AreaRelationships + "/" + rel.TypeProductAdded:
		var e rel.ProductAdded
		if e, err = decode[rel.ProductAdded](ev.Data, ev.Type); err == nil {
			c.setList(b, out, schema, "products", e.CustomerID, e.Products)
		}
	case AreaAppointments + "/" + apt.TypeAppointmentScheduled:
		var e apt.AppointmentScheduled
		if e, err = decode[apt.AppointmentScheduled](ev.Data, ev.Type); err == nil {
			c.appointment(b, out, schema, e.AppointmentID, e.CustomerID, e.StartsAt, "SCHEDULED")
		}
	case AreaAppointments + "/" + apt.TypeAppointmentRescheduled:
		var e apt.AppointmentRescheduled
		if e, err = decode[apt.AppointmentRescheduled](ev.Data, ev.Type); err == nil {
			c.appointment(b, out, schema, e.AppointmentID, e.CustomerID, e.StartsAt, "SCHEDULED")
		}
	case AreaAppointments + "/" + apt.TypeAppointmentCancelled:
		var e apt.AppointmentCancelled
		if e, err = decode[apt.AppointmentCancelled](ev.Data, ev.Type); err == nil {
			c.appointment(b, out, schema, e.AppointmentID, e.CustomerID, e.StartsAt, "CANCELLED")
		}
	case AreaAppointments + "/" + apt.TypeAppointmentCompleted:
		var e apt.AppointmentCompleted
		if e, err = decode[apt.AppointmentCompleted](ev.Data, ev.Type); err == nil {
			c.appointment(b, out, schema, e.AppointmentID, e.CustomerID, e.StartsAt, "COMPLETED")
		}
	case AreaCampaigns + "/" + cmp.TypeDealOpened:
		var e cmp.DealOpened
		if e, err = decode[cmp.DealOpened](ev.Data, ev.Type); err == nil {
			c.deal(b, out, schema, e.DealID, e.CustomerID, "OPEN", e.Value)
		}
	case AreaCampaigns + "/" + cmp.TypeDealWon:
		var e cmp.DealWon
		if e, err = decode[cmp.DealWon](ev.Data, ev.Type); err == nil {
			c.deal(b, out, schema, e.DealID, e.CustomerID, "WON", e.Value)
		}
	case AreaCampaigns + "/" + cmp.TypeDealLost:
		var e cmp.DealLost
		if e, err = decode[cmp.DealLost](ev.Data, ev.Type); err == nil {
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

// customerRow queues an upsert of customer id returning (id,
// sales_rep_id), under the customer's lock, and names the changed customer
// in out once it has run.
func customerRow(b *consumer.Batch, out *[]Change, schema, id, sql string, args ...any) {
	lockKeys(b, schema+".customers", id)
	b.QueryRow(func(row pgx.Row) error {
		var id string
		var rep *string
		if err := row.Scan(&id, &rep); err != nil {
			return err
		}
		*out = append(*out, Change{Kind: KindCustomer, ID: id, Refs: refs(RefCustomer, id, RefSalesperson, deref(rep))})
		return nil
	}, sql, args...)
}

// setList replaces a text[] column with the full list an event carries.
func (Customers) setList(b *consumer.Batch, out *[]Change, schema, col, id string, list []string) {
	customerRow(b, out, schema, id, `INSERT INTO `+schema+`.customers AS c (id, `+col+`) VALUES ($1, $2)
		ON CONFLICT (id) DO UPDATE SET `+col+` = $2 RETURNING c.id, c.sales_rep_id`, id, nonNilStrings(list))
}

// appointment records the appointment's state in customer_appointments and
// recomputes the customer's upcoming count and next appointment.
func (Customers) appointment(b *consumer.Batch, out *[]Change, schema, id, customerID string, startsAt any, status string) {
	lockKeys(b, schema+".customers", customerID)
	b.Exec(`INSERT INTO `+schema+`.customer_appointments (id, customer_id, starts_at, status)
		VALUES ($1, $2, $3, $4) ON CONFLICT (id) DO UPDATE SET customer_id = $2, starts_at = $3, status = $4`,
		id, customerID, startsAt, status)
	customerRow(b, out, schema, customerID, `INSERT INTO `+schema+`.customers AS c (id, upcoming_appointment_count, next_appointment_id)
		SELECT $1, count(*), (array_agg(a.id ORDER BY a.starts_at, a.id))[1]
		FROM `+schema+`.customer_appointments a
		WHERE a.customer_id = $1 AND a.status = 'SCHEDULED' AND a.starts_at > now()
		ON CONFLICT (id) DO UPDATE SET upcoming_appointment_count = EXCLUDED.upcoming_appointment_count,
			next_appointment_id = EXCLUDED.next_appointment_id
		RETURNING c.id, c.sales_rep_id`, customerID)
}

// deal records the deal's state in customer_deals and recomputes the
// customer's open deal count and won totals.
func (Customers) deal(b *consumer.Batch, out *[]Change, schema, id, customerID, stage string, v cmp.Money) {
	lockKeys(b, schema+".customers", customerID)
	b.Exec(`INSERT INTO `+schema+`.customer_deals (id, customer_id, stage, amount, currency)
		VALUES ($1, $2, $3, $4::numeric, $5)
		ON CONFLICT (id) DO UPDATE SET customer_id = $2, stage = $3, amount = $4::numeric, currency = $5`,
		id, customerID, stage, v.Amount, v.CurrencyCode)
	customerRow(b, out, schema, customerID, `INSERT INTO `+schema+`.customers AS c (id, open_deal_count, won_totals)
		SELECT $1, `+dealTotals(schema+".customer_deals", "customer_id")+`
		ON CONFLICT (id) DO UPDATE SET open_deal_count = EXCLUDED.open_deal_count, won_totals = EXCLUDED.won_totals
		RETURNING c.id, c.sales_rep_id`, customerID)
}

// dealTotals is a select list of two expressions over the deals in table
// whose column col equals $1: the open deal count and the won totals per
// currency (decimal strings; numeric addition keeps the currency's scale).
func dealTotals(table, col string) string {
	return `(SELECT count(*) FROM ` + table + ` WHERE ` + col + ` = $1 AND stage = 'OPEN'),
		(SELECT coalesce(jsonb_object_agg(currency, total), '{}'::jsonb) FROM
			(SELECT currency, sum(amount)::text AS total FROM ` + table + `
			 WHERE ` + col + ` = $1 AND stage = 'WON' GROUP BY currency) w)`
}
