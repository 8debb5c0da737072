// Package appointments is the appointments area's write service: it loads
// the aggregates a command needs from the area's event log, asks its Facts
// what it knows of the customer and relationships areas, lets the domain
// decide (see services/appointments/domain), and appends the events. It
// imports no other area: customers and salespeople are known through Facts,
// the archiving of a customer through the CustomerArchived reaction
// (reaction.go), which finds the customer's appointments in an index kept
// inline with the log (index.go).
package appointments

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"crm/eventlog"
	"crm/eventlog/errcode"
	"crm/eventlog/ids"
	"crm/services/appointments/contract"
	"crm/services/appointments/domain"
	"crm/services/kit"
	"crm/services/wire"
)

// Area is the area's name: its schema, its Redis streams, its token key.
const Area = "appointments"

// Facts is what the service needs to know of other areas. The lead's
// implementation answers from local replicas of the customer and
// relationships areas' events.
type Facts interface {
	// Customer returns what is known of the customer with the given
	// (well-formed) id, once the replica has applied the customer area's
	// log at least up to token's position for that area (a bounded wait).
	// A coded error (CONSISTENCY_TIMEOUT, UNAVAILABLE...) is passed on to
	// the client as is; an error without a code is answered as UNAVAILABLE.
	Customer(ctx context.Context, customerID string, token wire.Token) (domain.CustomerFact, error)
	// SalespersonKnown reports whether the salesperson with the given
	// (well-formed) id exists, once the replica has applied the
	// relationships area's log up to token's position for that area.
	// Errors as for Customer.
	SalespersonKnown(ctx context.Context, salespersonID string, token wire.Token) (bool, error)
}

// Service runs the area's commands and reactions.
type Service struct {
	log       *eventlog.Log
	facts     Facts
	index     index
	x         *kit.Executor
	now       func() time.Time
	calendars *stripes
}

// NewService returns a service over the area's log that learns about
// customers and salespeople from facts. pool is on the log's database: the
// CustomerArchived reaction reads the appointment index that Inline keeps
// there, in the log's schema (see Migrate and Inline).
func NewService(log *eventlog.Log, facts Facts, pool *pgxpool.Pool) *Service {
	return &Service{
		log:       log,
		facts:     facts,
		index:     newIndex(pool, log.Schema()),
		x:         &kit.Executor{Area: Area, Log: log},
		now:       time.Now,
		calendars: newStripes(),
	}
}

// ScheduleAppointment is the body of POST /commands/schedule-appointment.
// Times are RFC 3339 strings (any offset; stored in UTC, to the
// microsecond).
type ScheduleAppointment struct {
	wire.CommandOptions
	CustomerID    string `json:"customerId"`
	SalespersonID string `json:"salespersonId"`
	StartsAt      string `json:"startsAt"`
	EndsAt        string `json:"endsAt"`
	Location      string `json:"location"`
}

// RescheduleAppointment is the body of POST /commands/reschedule-appointment.
// An absent or null location keeps the appointment's location.
type RescheduleAppointment struct {
	wire.CommandOptions
	ID       string  `json:"id"`
	StartsAt string  `json:"startsAt"`
	EndsAt   string  `json:"endsAt"`
	Location *string `json:"location,omitempty"`
}

// CancelAppointment is the body of POST /commands/cancel-appointment.
type CancelAppointment struct {
	wire.CommandOptions
	ID     string `json:"id"`
	Reason string `json:"reason"`
}

// CompleteAppointment is the body of POST /commands/complete-appointment.
type CompleteAppointment struct {
	wire.CommandOptions
	ID    string `json:"id"`
	Notes string `json:"notes,omitempty"`
}

// Schedule books a new appointment under a fresh id. Refusals: see
// domain.Appointment.Schedule, plus BAD_USER_INPUT for a time that is not
// RFC 3339, and the coded errors of Facts.
func (s *Service) Schedule(ctx context.Context, cmd *ScheduleAppointment, req kit.Request) (wire.Result, error) {
	if err := checkID("customerId", ids.Customer, cmd.CustomerID); err != nil {
		return wire.Result{}, err
	}
	if err := checkID("salespersonId", ids.Salesperson, cmd.SalespersonID); err != nil {
		return wire.Result{}, err
	}
	startsAt, endsAt, err := parseTimes(cmd.StartsAt, cmd.EndsAt)
	if err != nil {
		return wire.Result{}, err
	}
	// The facts are asked before the calendar is locked: a replica that
	// has to catch up must not hold up the salesperson's other bookings.
	customer, err := s.facts.Customer(ctx, cmd.CustomerID, req.Token)
	if err != nil {
		return wire.Result{}, factsError(err)
	}
	known, err := s.facts.SalespersonKnown(ctx, cmd.SalespersonID, req.Token)
	if err != nil {
		return wire.Result{}, factsError(err)
	}
	calID := contract.CalendarStreamID(cmd.SalespersonID)
	unlock, err := s.calendars.lock(ctx, calID)
	if err != nil {
		return wire.Result{}, err
	}
	defer unlock()
	id := ids.New(ids.Appointment)
	return s.x.Run(ctx, req.Meta, req.Expected, func(ctx context.Context) (kit.Plan, error) {
		cal, calV, err := s.loadCalendar(ctx, cmd.SalespersonID)
		if err != nil {
			return kit.Plan{}, err
		}
		evs, err := domain.Appointment{}.Schedule(cal, domain.ScheduleAppointment{AppointmentID: id,
			CustomerID: cmd.CustomerID, SalespersonID: cmd.SalespersonID, StartsAt: startsAt, EndsAt: endsAt,
			Location: cmd.Location}, domain.Facts{Customer: customer, SalespersonKnown: known}, s.now())
		return kit.Plan{Primary: id, Events: kit.Events(evs), Versions: map[string]int64{id: eventlog.NoStream, calID: calV}}, err
	})
}

// Reschedule moves a scheduled appointment. Refusals: see
// domain.Appointment.Reschedule, plus BAD_USER_INPUT for a time that is not
// RFC 3339, and the coded errors of Facts.
func (s *Service) Reschedule(ctx context.Context, cmd *RescheduleAppointment, req kit.Request) (wire.Result, error) {
	if err := checkID("id", ids.Appointment, cmd.ID); err != nil {
		return wire.Result{}, err
	}
	startsAt, endsAt, err := parseTimes(cmd.StartsAt, cmd.EndsAt)
	if err != nil {
		return wire.Result{}, err
	}
	// An appointment's customer and salesperson never change, so they can
	// be read before the decision, to ask the facts and lock the calendar.
	first, _, err := s.loadAppointment(ctx, cmd.ID)
	if err != nil {
		return wire.Result{}, err
	}
	customer := domain.CustomerUnknown
	if first.Exists() {
		if customer, err = s.facts.Customer(ctx, first.CustomerID, req.Token); err != nil {
			return wire.Result{}, factsError(err)
		}
		unlock, err := s.calendars.lock(ctx, contract.CalendarStreamID(first.SalespersonID))
		if err != nil {
			return wire.Result{}, err
		}
		defer unlock()
	}
	return s.x.Run(ctx, req.Meta, req.Expected, func(ctx context.Context) (kit.Plan, error) {
		a, v, err := s.loadAppointment(ctx, cmd.ID)
		if err != nil {
			return kit.Plan{}, err
		}
		versions := map[string]int64{cmd.ID: v}
		var cal domain.Calendar
		if a.Exists() {
			calID := contract.CalendarStreamID(a.SalespersonID)
			if cal, versions[calID], err = s.loadCalendar(ctx, a.SalespersonID); err != nil {
				return kit.Plan{}, err
			}
		}
		evs, err := a.Reschedule(cal, domain.RescheduleAppointment{ID: cmd.ID, StartsAt: startsAt, EndsAt: endsAt,
			Location: cmd.Location}, customer, s.now())
		return kit.Plan{Primary: cmd.ID, Events: kit.Events(evs), Versions: versions}, err
	})
}

// Cancel calls off a scheduled appointment. Refusals: see
// domain.Appointment.Cancel.
func (s *Service) Cancel(ctx context.Context, cmd *CancelAppointment, req kit.Request) (wire.Result, error) {
	if err := checkID("id", ids.Appointment, cmd.ID); err != nil {
		return wire.Result{}, err
	}
	return s.x.Run(ctx, req.Meta, req.Expected, func(ctx context.Context) (kit.Plan, error) {
		a, v, err := s.loadAppointment(ctx, cmd.ID)
		if err != nil {
			return kit.Plan{}, err
		}
		evs, err := a.Cancel(domain.CancelAppointment{ID: cmd.ID, Reason: cmd.Reason})
		return kit.Plan{Primary: cmd.ID, Events: kit.Events(evs), Versions: releasing(cmd.ID, a, v)}, err
	})
}

// Complete records that a scheduled appointment took place. Refusals: see
// domain.Appointment.Complete.
func (s *Service) Complete(ctx context.Context, cmd *CompleteAppointment, req kit.Request) (wire.Result, error) {
	if err := checkID("id", ids.Appointment, cmd.ID); err != nil {
		return wire.Result{}, err
	}
	return s.x.Run(ctx, req.Meta, req.Expected, func(ctx context.Context) (kit.Plan, error) {
		a, v, err := s.loadAppointment(ctx, cmd.ID)
		if err != nil {
			return kit.Plan{}, err
		}
		evs, err := a.Complete(domain.CompleteAppointment{ID: cmd.ID, Notes: cmd.Notes}, s.now())
		return kit.Plan{Primary: cmd.ID, Events: kit.Events(evs), Versions: releasing(cmd.ID, a, v)}, err
	})
}

// releasing is the versions of a decision that may release the calendar
// slot of appointment a (id): the appointment as read, and its calendar at
// any version, since a release can never create an overlap
// (docs/domain-appointments.md).
func releasing(id string, a domain.Appointment, v int64) map[string]int64 {
	versions := map[string]int64{id: v}
	if a.Exists() {
		versions[contract.CalendarStreamID(a.SalespersonID)] = eventlog.AnyVersion
	}
	return versions
}

// checkID refuses a missing or malformed id before anything is loaded.
func checkID(field, prefix, id string) error {
	if id == "" {
		return errcode.Invalid(field, "is required")
	}
	if !ids.Valid(prefix, id) {
		return errcode.Invalid(field, "is not a valid %s id", prefix)
	}
	return nil
}

// parseTimes parses the RFC 3339 times of a command. An empty time stays
// zero, for the domain to refuse as missing.
func parseTimes(startsAt, endsAt string) (time.Time, time.Time, error) {
	start, err := parseTime("startsAt", startsAt)
	if err != nil {
		return start, time.Time{}, err
	}
	end, err := parseTime("endsAt", endsAt)
	return start, end, err
}

func parseTime(field, s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}, errcode.Invalid(field, "must be an RFC 3339 date-time, e.g. 2026-03-02T09:00:00Z")
	}
	return t, nil
}

// factsError passes a coded error of Facts on and classifies any other as
// UNAVAILABLE: a replica that cannot answer is a dependency that is down.
func factsError(err error) error {
	if errcode.Of(err) != nil || ctxErr(err) {
		return err
	}
	return errcode.Wrap(errcode.Unavailable, err, "what the service knows of other areas is unavailable")
}

func (s *Service) loadAppointment(ctx context.Context, id string) (domain.Appointment, int64, error) {
	var a domain.Appointment
	v, err := kit.Load(ctx, s.log, id, domain.Decode, a.Apply)
	return a, v, err
}

func (s *Service) loadCalendar(ctx context.Context, salespersonID string) (domain.Calendar, int64, error) {
	c := domain.Calendar{SalespersonID: salespersonID}
	v, err := kit.Load(ctx, s.log, contract.CalendarStreamID(salespersonID), domain.Decode, c.Apply)
	return c, v, err
}
