// Package domain is the pure core of the appointments area: its events, its
// aggregates and the decisions that turn a command into events. It does no
// I/O and reads no clock; the service layer loads state, passes facts it
// learned from other areas (is the customer known and active, does the
// salesperson exist) and the current time, and appends what a decision
// returns. A refusal is always a coded error (crm/eventlog/errcode) and no
// events.
//
// # Streams
//
//   - "<appointment id>" (apt_...): the appointment's own stream, holding
//     AppointmentScheduled, AppointmentRescheduled, AppointmentCancelled and
//     AppointmentCompleted. Folded by [Appointment.Apply].
//   - "calendar-<salesperson id>" (contract.CalendarStreamID): a guard stream
//     holding the salesperson's booked slots, CalendarSlotBooked and
//     CalendarSlotReleased. Folded by [Calendar.Apply]. It exists only so
//     that "no two scheduled appointments of a salesperson overlap" holds
//     under concurrent commands: two schedulers that both read calendar
//     version N cannot both append at N.
//
// Every event says which stream it belongs to ([Event.StreamID]); the
// service groups a decision's events by stream and appends them atomically
// (eventlog AppendMulti).
//
// # What each decision appends where
//
//   - [Appointment.Schedule]: AppointmentScheduled to the new appointment's
//     stream (expected version: none yet) and CalendarSlotBooked to the
//     salesperson's calendar (expected version: the calendar's Version as
//     read). A version conflict on the calendar means another booking raced
//     this one; the service retries the whole command with fresh state, which
//     then either succeeds or returns the overlap CONFLICT. The client's
//     expectedVersion never applies to the calendar.
//   - [Appointment.Reschedule]: AppointmentRescheduled to the appointment
//     (expected version: the client's, or the one read) and
//     CalendarSlotBooked (replacing this appointment's slot) to the calendar
//     (expected version: as read, retried on conflict as above).
//   - [Appointment.Cancel], [Appointment.Complete] and
//     [Appointment.CancelForArchivedCustomer]: AppointmentCancelled or
//     AppointmentCompleted to the appointment and CalendarSlotReleased to
//     the calendar. Releasing a slot can never create an overlap, so the
//     calendar may be appended to with "any version".
//
// Projections need only the appointment events; every one of them carries
// the appointment, customer and salesperson ids and the full current times,
// so a read model (a customer's next appointment, a salesperson's agenda)
// never has to look anything up. Calendar events may be ignored by readers.
package domain
