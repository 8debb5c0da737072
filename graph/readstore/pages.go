package readstore

import (
	"context"
	"encoding/base64"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"crm/eventlog/errcode"
	"crm/graph/access"
	"crm/graph/model"
)

// Page sizes of every connection.
const (
	DefaultFirst = 20
	MaxFirst     = 100
)

// Page is one request for a page of a seq-ordered list: at most First rows
// whose seq is greater than After (0: from the start). Seq is assigned once
// when a row is created and only grows, so a cursor keeps its place while
// rows are inserted concurrently: new rows land after it, none shift.
type Page struct {
	First int
	After int64
}

// ParseFirst checks a connection's first argument: nil means DefaultFirst;
// below 0 or above MaxFirst is BAD_USER_INPUT on field "first".
func ParseFirst(first *int) (int, error) {
	if first == nil {
		return DefaultFirst, nil
	}
	if *first < 0 || *first > MaxFirst {
		return 0, errcode.Invalid("first", "first must be between 0 and %d", MaxFirst)
	}
	return *first, nil
}

// ParsePage checks first and after (a cursor from SeqCursor); errors are
// BAD_USER_INPUT naming the field.
func ParsePage(first *int, after *string) (Page, error) {
	n, err := ParseFirst(first)
	if err != nil {
		return Page{}, err
	}
	p := Page{First: n}
	if after != nil {
		if p.After, err = parseSeqCursor(*after); err != nil {
			return Page{}, err
		}
	}
	return p, nil
}

const seqCursorPrefix = "seq:"

// SeqCursor is the opaque cursor of a row with this seq.
func SeqCursor(seq int64) string {
	return base64.RawURLEncoding.EncodeToString([]byte(seqCursorPrefix + strconv.FormatInt(seq, 10)))
}

func parseSeqCursor(c string) (int64, error) {
	b, err := base64.RawURLEncoding.DecodeString(c)
	if err == nil {
		if rest, ok := strings.CutPrefix(string(b), seqCursorPrefix); ok {
			if n, err := strconv.ParseInt(rest, 10, 64); err == nil && n >= 0 {
				return n, nil
			}
		}
	}
	return 0, errcode.Invalid("after", "not a cursor of this list")
}

// EventCursor is the opaque cursor of an event in a history: histories are
// ordered by (occurredAt, area, position), which is unique.
func EventCursor(e *model.Event) string {
	s := fmt.Sprintf("ev:%d:%s:%d", e.OccurredAt.UnixMicro(), e.AreaName, e.PositionNum)
	return base64.RawURLEncoding.EncodeToString([]byte(s))
}

type eventCursor struct {
	at       time.Time
	area     string
	position int64
}

func parseEventCursor(c string) (*eventCursor, error) {
	bad := errcode.Invalid("after", "not a cursor of this list")
	b, err := base64.RawURLEncoding.DecodeString(c)
	if err != nil {
		return nil, bad
	}
	parts := strings.Split(string(b), ":")
	if len(parts) != 4 || parts[0] != "ev" {
		return nil, bad
	}
	us, err1 := strconv.ParseInt(parts[1], 10, 64)
	pos, err2 := strconv.ParseInt(parts[3], 10, 64)
	if err1 != nil || err2 != nil {
		return nil, bad
	}
	return &eventCursor{at: time.UnixMicro(us).UTC(), area: parts[2], position: pos}, nil
}

// where builds a conjunction of conditions with numbered arguments.
type where struct {
	conds []string
	args  []any
}

// add appends a condition in which every "?" stands for arg.
func (w *where) add(cond string, arg any) {
	w.args = append(w.args, arg)
	w.conds = append(w.conds, strings.ReplaceAll(cond, "?", "$"+strconv.Itoa(len(w.args))))
}

// pred appends a scope's condition (crm/graph/access), numbering its
// "?" in order.
func (w *where) pred(p access.Pred) {
	i := 0
	var b strings.Builder
	for _, r := range p.SQL {
		if r == '?' && i < len(p.Args) {
			w.args = append(w.args, p.Args[i])
			i++
			b.WriteString("$" + strconv.Itoa(len(w.args)))
			continue
		}
		b.WriteRune(r)
	}
	w.conds = append(w.conds, b.String())
}

func (w *where) sql() string { return strings.Join(w.conds, " AND ") }

// scoped returns sql (whose arguments are args) with " AND " and the
// scope's condition p appended, and the arguments of both.
func scoped(sql string, args []any, p access.Pred) (string, []any) {
	w := &where{args: args}
	w.pred(p)
	return sql + " AND " + w.sql(), w.args
}

// likePattern makes a case-insensitive substring pattern of user text,
// escaping LIKE's own wildcards so they match literally.
func likePattern(s string) string {
	r := strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`)
	return "%" + r.Replace(s) + "%"
}

// CustomerQuery selects registered customers; nil fields do not filter.
type CustomerQuery struct {
	Search     *string // name or email contains it, case-insensitive
	Status     *model.CustomerStatus
	SalesRepID *string
	Interest   *string
	// TeamMemberID: the customer's sales rep or manager is this salesperson.
	TeamMemberID *string
}

// customerWhere selects what q asks of the customers the caller's scope
// sees (access.From(ctx)). A search matches emails only for a scope that
// sees personal data: a name search cannot probe them.
func (s *Store) customerWhere(ctx context.Context, q CustomerQuery) *where {
	w := s.customerFilter(ctx, q)
	w.pred(access.From(ctx).CustomerRows())
	return w
}

// customerFilter is customerWhere without the scope's rows.
func (s *Store) customerFilter(ctx context.Context, q CustomerQuery) *where {
	sc := access.From(ctx)
	w := &where{conds: []string{"registered"}}
	if q.Search != nil && *q.Search != "" {
		if sc.Personal() {
			w.add(`(name ILIKE ? OR email ILIKE ?)`, likePattern(*q.Search))
		} else {
			w.add(`name ILIKE ?`, likePattern(*q.Search))
		}
	}
	if q.Status != nil {
		w.add("status = ?", string(*q.Status))
	}
	if q.SalesRepID != nil {
		w.add("sales_rep_id = ?", *q.SalesRepID)
	}
	if q.Interest != nil {
		w.add("? = ANY(interests)", *q.Interest)
	}
	if q.TeamMemberID != nil {
		w.add("(sales_rep_id = ? OR manager_id = ?)", *q.TeamMemberID)
	}
	return w
}

// Customers returns one page of the customers q selects among those the
// caller's scope sees, in seq order, and whether more follow.
//
// A scope of own customers (a sales rep's, a manager's) pages them one team
// member at a time (ownPage): walking the seq index and filtering by the
// scope would read the whole table for a team with few customers.
func (s *Store) Customers(ctx context.Context, q CustomerQuery, p Page) ([]*model.Customer, bool, error) {
	var sql string
	var args []any
	if team, me, ok := access.From(ctx).OwnTeam(); ok && access.From(ctx).Customers() == access.Own {
		w := s.customerFilter(ctx, q)
		w.add("seq > ?", p.After)
		sql, args = ownPage(s.customers, customerCols, w, p.First+1, team, "sales_rep_id", me, "manager_id")
	} else {
		w := s.customerWhere(ctx, q)
		w.add("seq > ?", p.After)
		sql, args = seqPage(s.customers, customerCols, w, p.First+1)
	}
	got, err := collect(ctx, s.db, scanCustomer, sql, args...)
	if err != nil {
		return nil, false, fmt.Errorf("page of customers: %w", err)
	}
	more := len(got) > p.First
	if more {
		got = got[:p.First]
	}
	return redact(ctx, nonNil(got)), more, nil
}

// CountCustomers counts the customers q selects among those the caller's
// scope sees.
func (s *Store) CountCustomers(ctx context.Context, q CustomerQuery) (int, error) {
	w := s.customerWhere(ctx, q)
	var n int
	if err := s.db.QueryRow(ctx, `SELECT count(*) FROM `+s.customers+` WHERE `+w.sql(), w.args...).Scan(&n); err != nil {
		return 0, fmt.Errorf("count customers: %w", err)
	}
	return n, nil
}

// AppointmentQuery selects registered appointments; nil fields do not
// filter. From/To bound startsAt: From <= startsAt < To.
type AppointmentQuery struct {
	CustomerID    *string
	SalespersonID *string
	Status        *model.AppointmentStatus
	From, To      *time.Time
}

func (s *Store) appointmentWhere(ctx context.Context, q AppointmentQuery) *where {
	w := s.appointmentFilter(q)
	w.pred(access.From(ctx).AppointmentRows())
	return w
}

// appointmentFilter is appointmentWhere without the scope's rows.
func (s *Store) appointmentFilter(q AppointmentQuery) *where {
	w := &where{conds: []string{"registered"}}
	if q.CustomerID != nil {
		w.add("customer_id = ?", *q.CustomerID)
	}
	if q.SalespersonID != nil {
		w.add("salesperson_id = ?", *q.SalespersonID)
	}
	if q.Status != nil {
		w.add("status = ?", string(*q.Status))
	}
	if q.From != nil {
		w.add("starts_at >= ?", *q.From)
	}
	if q.To != nil {
		w.add("starts_at < ?", *q.To)
	}
	return w
}

// Appointments returns one page of the appointments q selects among those
// the caller's scope sees, in seq order, and whether more follow.
// A scope of own appointments pages them one team member at a time, as
// Customers does.
func (s *Store) Appointments(ctx context.Context, q AppointmentQuery, p Page) ([]*model.Appointment, bool, error) {
	var sql string
	var args []any
	if team, _, ok := access.From(ctx).OwnTeam(); ok && access.From(ctx).Appointments() == access.Own {
		w := s.appointmentFilter(q)
		w.add("seq > ?", p.After)
		sql, args = ownPage(s.appointments, appointmentCols, w, p.First+1, team, "salesperson_id", "", "")
	} else {
		w := s.appointmentWhere(ctx, q)
		w.add("seq > ?", p.After)
		sql, args = seqPage(s.appointments, appointmentCols, w, p.First+1)
	}
	got, err := collect(ctx, s.db, scanAppointment, sql, args...)
	if err != nil {
		return nil, false, fmt.Errorf("page of appointments: %w", err)
	}
	more := len(got) > p.First
	if more {
		got = got[:p.First]
	}
	return nonNil(got), more, nil
}

// CountAppointments counts the appointments q selects among those the
// caller's scope sees.
func (s *Store) CountAppointments(ctx context.Context, q AppointmentQuery) (int, error) {
	w := s.appointmentWhere(ctx, q)
	var n int
	if err := s.db.QueryRow(ctx, `SELECT count(*) FROM `+s.appointments+` WHERE `+w.sql(), w.args...).Scan(&n); err != nil {
		return 0, fmt.Errorf("count appointments: %w", err)
	}
	return n, nil
}

// AppointmentsFirstPage is the first page of one customer's appointments.
type AppointmentsFirstPage struct {
	Items   []*model.Appointment
	HasNext bool
	Total   int
}

// CustomersAppointments returns the first page (first rows, seq order) of
// each customer's appointments with their total, in one statement: the
// batch behind Customer.appointments. Only appointments the caller's scope
// sees are counted and listed.
func (s *Store) CustomersAppointments(ctx context.Context, customerIDs []string, first int) ([]*AppointmentsFirstPage, error) {
	inner, args := scoped(`SELECT a.*, row_number() OVER (PARTITION BY customer_id ORDER BY seq) AS rn,
		       count(*) OVER (PARTITION BY customer_id) AS total
		FROM `+s.appointments+` a WHERE registered AND customer_id = ANY($1)`,
		[]any{customerIDs, first + 1}, access.From(ctx).AppointmentRows())
	rows, err := s.db.Query(ctx, `SELECT `+appointmentCols+`, total FROM (`+inner+`) x
		WHERE rn <= $2 ORDER BY customer_id, seq`, args...)
	if err != nil {
		return nil, fmt.Errorf("appointments of customers: %w", err)
	}
	defer rows.Close()
	by := make(map[string]*AppointmentsFirstPage, len(customerIDs))
	for rows.Next() {
		var total int
		a, err := scanAppointment(extraRow{rows, []any{&total}})
		if err != nil {
			return nil, fmt.Errorf("appointments of customers: %w", err)
		}
		pg := by[a.CustomerID]
		if pg == nil {
			pg = &AppointmentsFirstPage{Total: total, Items: []*model.Appointment{}}
			by[a.CustomerID] = pg
		}
		if len(pg.Items) < first {
			pg.Items = append(pg.Items, a)
		} else {
			pg.HasNext = true
		}
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("appointments of customers: %w", err)
	}
	out := make([]*AppointmentsFirstPage, len(customerIDs))
	for i, id := range customerIDs {
		if out[i] = by[id]; out[i] == nil {
			out[i] = &AppointmentsFirstPage{Items: []*model.Appointment{}}
		}
	}
	return out, nil
}

// ownPage is the page statement of a scope of own rows (see
// access.Scope.OwnTeam): the rows of table that w selects whose teamCol is
// one of team, or (when meCol is set) whose meCol is me, in seq order, at
// most limit. Each team member's rows are read from the (teamCol, seq)
// index, at most limit of them, and so are me's from (meCol, seq); the
// union is cut at limit: a page costs at most limit rows per team member,
// however large the table.
// seqPage is the statement of a page of table's rows that match w, in seq
// order, at most limit of them.
func seqPage(table, cols string, w *where, limit int) (string, []any) {
	args := append(w.args, limit)
	return `SELECT ` + cols + ` FROM ` + table + ` WHERE ` + w.sql() + ` ORDER BY seq LIMIT $` + strconv.Itoa(len(args)), args
}

func ownPage(table, cols string, w *where, limit int, team []string, teamCol, me, meCol string) (string, []any) {
	cond := w.sql()
	args := append(w.args, team, limit)
	nTeam, nLimit := len(args)-1, len(args)
	ids := fmt.Sprintf(`SELECT o.id, o.seq FROM unnest($%d::text[]) AS t(member) CROSS JOIN LATERAL (
		SELECT id, seq FROM %s WHERE %s = t.member AND %s ORDER BY seq LIMIT $%d) o`, nTeam, table, teamCol, cond, nLimit)
	if meCol != "" {
		args = append(args, me)
		ids += fmt.Sprintf(` UNION (SELECT id, seq FROM %s WHERE %s = $%d AND %s ORDER BY seq LIMIT $%d)`,
			table, meCol, len(args), cond, nLimit)
	}
	return fmt.Sprintf(`SELECT %s FROM %s WHERE id IN (SELECT id FROM (%s) x ORDER BY seq LIMIT $%d) ORDER BY seq`,
		cols, table, ids, nLimit), args
}

// extraRow scans a row's trailing columns into extra destinations.
type extraRow struct {
	pgx.Row
	extra []any
}

func (r extraRow) Scan(dest ...any) error { return r.Row.Scan(append(dest, r.extra...)...) }

// History returns one page of the events whose stream is streamID (for a
// customer: its own stream and its relationships account), ordered by
// (occurredAt, area, position), and whether more follow. after is a cursor
// from EventCursor or nil. Events of an area the caller's scope may not
// read (access.Scope.HiddenAreas) are left out.
func (s *Store) History(ctx context.Context, streamID string, first int, after *string) ([]*model.Event, bool, error) {
	w := &where{}
	w.add("stream_id = ?", streamID)
	w.pred(access.From(ctx).EventAreas())
	if after != nil {
		c, err := parseEventCursor(*after)
		if err != nil {
			return nil, false, err
		}
		w.args = append(w.args, c.at, c.area, c.position)
		n := len(w.args)
		w.conds = append(w.conds, fmt.Sprintf("(occurred_at, area, position) > ($%d, $%d, $%d)", n-2, n-1, n))
	}
	w.args = append(w.args, first+1)
	got, err := collect(ctx, s.db, scanEvent, `SELECT `+eventCols+` FROM `+s.events+` WHERE `+w.sql()+
		` ORDER BY occurred_at, area, position LIMIT $`+strconv.Itoa(len(w.args)), w.args...)
	if err != nil {
		return nil, false, fmt.Errorf("history of %s: %w", streamID, err)
	}
	more := len(got) > first
	if more {
		got = got[:first]
	}
	return nonNil(got), more, nil
}
