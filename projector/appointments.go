package projector

import (
	"fmt"
	"io/fs"
	"time"

	"github.com/jackc/pgx/v5"

	"crm/eventlog"
	"crm/eventlog/consumer"
	apt "crm/services/appointments/contract"
	cus "crm/services/customers/contract"
	rel "crm/services/relationships/contract"
)

// Appointments is the appointment read model (table appointments, with the
// private table appointment_names): each appointment with its customer's
// and salesperson's names, filled whichever arrives first.
//
// A row is registered by AppointmentScheduled; a later event of the same
// stream whose predecessor was parked as a dead letter still creates the row
// (unregistered) from the data it carries.
type Appointments struct{}

// Name implements Projection.
func (Appointments) Name() string { return "appointments" }

// Sources implements Projection.
func (Appointments) Sources() []string {
	return []string{AreaAppointments, AreaCustomers, AreaRelationships}
}

// Migrations implements Projection.
func (Appointments) Migrations() fs.FS { return migrationsOf("appointments") }

// Tables implements Projection.
func (Appointments) Tables() []string { return []string{"appointments", "appointment_names"} }

// Apply implements Projection. It fails on malformed event data or a
// database error; events it does not use return no change.
func (a Appointments) Apply(b *consumer.Batch, schema string, ev eventlog.Event, area string, out *[]Change) error {
	var err error
	t := schema + ".appointments"
	// names fills the names of a new row from what is known already.
	const names = `(SELECT name FROM %[1]s.appointment_names WHERE id = $2), (SELECT name FROM %[1]s.appointment_names WHERE id = $3)`
	switch area + "/" + ev.Type {
	case AreaAppointments + "/" + apt.TypeAppointmentScheduled:
		var e apt.AppointmentScheduled
		if e, err = decode[apt.AppointmentScheduled](b, ev); err == nil {
			lockKeys(b, schema+".appointments", e.CustomerID, e.SalespersonID)
			appointmentRows(b, out, `INSERT INTO `+t+` AS a (id, registered, customer_id, salesperson_id,
				customer_name, salesperson_name, starts_at, ends_at, location, status, version, created_at, updated_at)
				VALUES ($1, true, $2, $3, `+fmt.Sprintf(names, schema)+`, $4, $5, $6, 'SCHEDULED', $7, $8, $8)
				ON CONFLICT (id) DO UPDATE SET registered = true, customer_id = $2, salesperson_id = $3,
					customer_name = EXCLUDED.customer_name, salesperson_name = EXCLUDED.salesperson_name,
					starts_at = $4, ends_at = $5, location = $6, status = 'SCHEDULED', version = $7, created_at = $8, updated_at = $8
				RETURNING a.id, a.customer_id, a.salesperson_id`,
				e.AppointmentID, e.CustomerID, e.SalespersonID, e.StartsAt, e.EndsAt, e.Location, ev.Version, ev.RecordedAt)
		}
	case AreaAppointments + "/" + apt.TypeAppointmentRescheduled:
		var e apt.AppointmentRescheduled
		if e, err = decode[apt.AppointmentRescheduled](b, ev); err == nil {
			lockKeys(b, schema+".appointments", e.CustomerID, e.SalespersonID)
			appointmentRows(b, out, `INSERT INTO `+t+` AS a (id, customer_id, salesperson_id,
				customer_name, salesperson_name, starts_at, ends_at, location, status, version, updated_at)
				VALUES ($1, $2, $3, `+fmt.Sprintf(names, schema)+`, $4, $5, $6, 'SCHEDULED', $7, $8)
				ON CONFLICT (id) DO UPDATE SET starts_at = $4, ends_at = $5, location = $6, version = $7, updated_at = $8
				RETURNING a.id, a.customer_id, a.salesperson_id`,
				e.AppointmentID, e.CustomerID, e.SalespersonID, e.StartsAt, e.EndsAt, e.Location, ev.Version, ev.RecordedAt)
		}
	case AreaAppointments + "/" + apt.TypeAppointmentCancelled:
		var e apt.AppointmentCancelled
		if e, err = decode[apt.AppointmentCancelled](b, ev); err == nil {
			a.finish(b, out, schema, ev, e.AppointmentID, e.CustomerID, e.SalespersonID, e.StartsAt, e.EndsAt,
				"CANCELLED", "cancellation_reason", e.Reason)
		}
	case AreaAppointments + "/" + apt.TypeAppointmentCompleted:
		var e apt.AppointmentCompleted
		if e, err = decode[apt.AppointmentCompleted](b, ev); err == nil {
			a.finish(b, out, schema, ev, e.AppointmentID, e.CustomerID, e.SalespersonID, e.StartsAt, e.EndsAt,
				"COMPLETED", "notes", e.Notes)
		}
	case AreaCustomers + "/" + cus.TypeCustomerRegistered:
		var e cus.CustomerRegistered
		if e, err = decode[cus.CustomerRegistered](b, ev); err == nil {
			a.name(b, out, schema, "customer", e.CustomerID, e.Name)
		}
	case AreaCustomers + "/" + cus.TypeCustomerUpdated:
		var e cus.CustomerUpdated
		if e, err = decode[cus.CustomerUpdated](b, ev); err == nil {
			a.name(b, out, schema, "customer", e.CustomerID, e.Name)
		}
	case AreaRelationships + "/" + rel.TypeSalespersonRegistered:
		var e rel.SalespersonRegistered
		if e, err = decode[rel.SalespersonRegistered](b, ev); err == nil {
			a.name(b, out, schema, "salesperson", e.SalespersonID, e.Name)
		}
	default:
		return nil
	}
	if err != nil {
		return fmt.Errorf("appointments: %s %s: %w", ev.Type, ev.ID, err)
	}
	return nil
}

// finish applies a cancellation or completion: the status and its text
// column (col is a constant of the caller).
func (Appointments) finish(b *consumer.Batch, out *[]Change, schema string, ev eventlog.Event, id, customerID, salespersonID string,
	startsAt, endsAt time.Time, status, col, text string) {
	lockKeys(b, schema+".appointments", customerID, salespersonID)
	appointmentRows(b, out, `INSERT INTO `+schema+`.appointments AS a (id, customer_id, salesperson_id,
		customer_name, salesperson_name, starts_at, ends_at, status, `+col+`, version, updated_at)
		VALUES ($1, $2, $3, (SELECT name FROM `+schema+`.appointment_names WHERE id = $2),
			(SELECT name FROM `+schema+`.appointment_names WHERE id = $3), $4, $5, $6, $7, $8, $9)
		ON CONFLICT (id) DO UPDATE SET status = $6, `+col+` = $7, version = $8, updated_at = $9
		RETURNING a.id, a.customer_id, a.salesperson_id`,
		id, customerID, salespersonID, startsAt, endsAt, status, nullIfEmpty(text), ev.Version, ev.RecordedAt)
}

// name records a customer's or salesperson's name (who is "customer" or
// "salesperson", a constant) and, once the batch's names are written,
// copies it into their appointments.
func (Appointments) name(b *consumer.Batch, out *[]Change, schema, who, id, name string) {
	lockKeys(b, schema+".appointments", id)
	b.Upsert(consumer.Table{Name: schema + ".appointment_names", Key: "id"}, nil, id, "name", name)
	b.Refresh(`UPDATE `+schema+`.appointments AS a SET `+who+`_name = n.name
		FROM `+schema+`.appointment_names n
		WHERE n.id = ANY($1::text[]) AND a.`+who+`_id = n.id AND a.`+who+`_name IS DISTINCT FROM n.name
		RETURNING a.id, a.customer_id, a.salesperson_id`, id, func(row pgx.Row) error {
		var id string
		var customerID, salespersonID *string
		if err := row.Scan(&id, &customerID, &salespersonID); err != nil {
			return err
		}
		*out = append(*out, appointmentChange(id, customerID, salespersonID))
		return nil
	})
}

// appointmentRows queues a statement returning (id, customer_id,
// salesperson_id) rows and names each changed appointment in out.
func appointmentRows(b *consumer.Batch, out *[]Change, sql string, args ...any) {
	b.Query(func(rows pgx.Rows) error {
		var id string
		var customerID, salespersonID *string
		_, err := pgx.ForEachRow(rows, []any{&id, &customerID, &salespersonID}, func() error {
			*out = append(*out, appointmentChange(id, customerID, salespersonID))
			return nil
		})
		return err
	}, sql, args...)
}

// appointmentChange names a changed appointment.
func appointmentChange(id string, customerID, salespersonID *string) Change {
	return Change{Kind: KindAppointment, ID: id, Refs: refs(RefCustomer, deref(customerID), RefSalesperson, deref(salespersonID))}
}
