package access

// Pred is a SQL condition of a scope: each "?" in SQL stands for the next
// of Args, in order (the read store numbers them). The conditions name the
// read tables' columns unqualified, so they apply to the table a statement
// reads; each one has an index behind it (customers_sales_rep,
// customers_manager, appointments_salesperson, deals_customer: see
// docs/access.md and scripts/plans).
type Pred struct {
	SQL  string
	Args []any
}

var (
	all     = Pred{SQL: "true"}
	nothing = Pred{SQL: "false"}
)

func rows(r Rows, own func() Pred) Pred {
	switch r {
	case Every:
		return all
	case Own:
		return own()
	}
	return nothing
}

// CustomerRows is the condition on a read.customers row that s sees it:
// its sales rep is in s's team, or its manager is s's salesperson.
func (s *Scope) CustomerRows() Pred {
	return rows(s.Customers(), s.ownCustomers)
}

func (s *Scope) ownCustomers() Pred {
	if len(s.team) == 0 {
		return nothing
	}
	return Pred{SQL: "(sales_rep_id = ANY(?) OR manager_id = ?)", Args: []any{s.team, s.me}}
}

// AppointmentRows is the condition on a read.appointments row that s sees
// it: its salesperson is in s's team.
func (s *Scope) AppointmentRows() Pred {
	return rows(s.Appointments(), func() Pred {
		if len(s.team) == 0 {
			return nothing
		}
		return Pred{SQL: "salesperson_id = ANY(?)", Args: []any{s.team}}
	})
}

// DealRows is the condition on a read.deals row that s sees it: its
// customer is one s sees. customers is the qualified customers table of
// the same read schema.
func (s *Scope) DealRows(customers string) Pred {
	return rows(s.Deals(), func() Pred {
		own := s.ownCustomers()
		if own.SQL == nothing.SQL {
			return nothing
		}
		return Pred{SQL: "customer_id IN (SELECT id FROM " + customers + " WHERE " + own.SQL + ")", Args: own.Args}
	})
}

// EventAreas is the condition on a read.events row that its area is not
// one of s's HiddenAreas.
func (s *Scope) EventAreas() Pred {
	if s == nil {
		return nothing
	}
	hidden := s.HiddenAreas()
	if len(hidden) == 0 {
		return all
	}
	return Pred{SQL: "area <> ALL(?)", Args: []any{hidden}}
}

// OwnTeam returns, for a scope of own customers or appointments (Own
// grants), the team and salesperson its predicates are made of: its
// customers are those whose sales_rep_id is in team or whose manager_id is
// me, its appointments those whose salesperson_id is in team (as
// CustomerRows and AppointmentRows say). ok is false for any other scope.
// The read store uses it to page own rows one team member at a time.
func (s *Scope) OwnTeam() (team []string, me string, ok bool) {
	if s == nil || len(s.team) == 0 || (s.customers != Own && s.appointments != Own) {
		return nil, "", false
	}
	return s.team, s.me, true
}
