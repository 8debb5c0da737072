package access

import (
	"crm/graph/auth"
)

// roles says, per role, whether an operation may run at all, in the order
// admin, manager, sales, marketing, viewer.
type roles [5]bool

const (
	Y = true  // may run it
	n = false // FORBIDDEN
)

// Operations is the table of role × operation: every root field of the
// schema, by "Type.field". An operation a role may run still answers only
// the rows its Scope sees; a command on a customer, appointment or deal
// additionally needs that row in the scope (see Target). Changing a rule
// is changing a line here (and docs/access.md).
var Operations = map[string]roles{
	//                               admin manager sales marketing viewer
	"Query.node":                      {Y, Y, Y, Y, Y},
	"Query.customer":                  {Y, Y, Y, Y, Y},
	"Query.customers":                 {Y, Y, Y, Y, Y},
	"Query.salesperson":               {Y, Y, Y, Y, Y},
	"Query.salespeople":               {Y, Y, Y, Y, Y},
	"Query.appointment":               {Y, Y, Y, n, Y},
	"Query.appointments":              {Y, Y, Y, n, Y},
	"Query.campaign":                  {Y, Y, Y, Y, Y},
	"Query.campaigns":                 {Y, Y, Y, Y, Y},
	"Query.deal":                      {Y, Y, Y, Y, Y},
	"Query.projections":               {Y, n, n, n, n},
	"Query.events":                    {Y, Y, Y, Y, Y},
	"Mutation.registerCustomer":       {Y, Y, Y, n, n},
	"Mutation.updateCustomer":         {Y, Y, Y, n, n},
	"Mutation.archiveCustomer":        {Y, Y, Y, n, n},
	"Mutation.registerSalesperson":    {Y, n, n, n, n},
	"Mutation.assignAccountTeam":      {Y, Y, n, n, n},
	"Mutation.recordInterest":         {Y, Y, Y, n, n},
	"Mutation.removeInterest":         {Y, Y, Y, n, n},
	"Mutation.scheduleAppointment":    {Y, Y, Y, n, n},
	"Mutation.rescheduleAppointment":  {Y, Y, Y, n, n},
	"Mutation.cancelAppointment":      {Y, Y, Y, n, n},
	"Mutation.completeAppointment":    {Y, Y, Y, n, n},
	"Mutation.createCampaign":         {Y, n, n, Y, n},
	"Mutation.launchCampaign":         {Y, n, n, Y, n},
	"Mutation.endCampaign":            {Y, n, n, Y, n},
	"Mutation.addOffer":               {Y, n, n, Y, n},
	"Mutation.openDeal":               {Y, Y, Y, Y, n},
	"Mutation.winDeal":                {Y, Y, Y, Y, n},
	"Mutation.loseDeal":               {Y, Y, Y, Y, n},
	"Subscription.customerChanged":    {Y, Y, Y, Y, Y},
	"Subscription.appointmentChanged": {Y, Y, Y, n, Y},
	"Subscription.dealChanged":        {Y, Y, Y, Y, Y},
	"Subscription.eventRecorded":      {Y, Y, Y, Y, Y},
}

// roleIndex is the column of a role in Operations.
func roleIndex(r auth.Role) int {
	for i, v := range auth.Roles {
		if v == r {
			return i
		}
	}
	return -1
}

// Allowed reports whether role may run op ("Type.field"). An operation
// missing from the table is allowed to no one (fail closed: a new root
// field needs its line).
func Allowed(role auth.Role, op string) bool {
	row, ok := Operations[op]
	i := roleIndex(role)
	return ok && i >= 0 && row[i]
}

// Allow is Allowed for s, as an error: nil, or FORBIDDEN naming op.
func (s *Scope) Allow(op string) error {
	if s == nil || !Allowed(s.role, op) {
		return Forbidden(op)
	}
	return nil
}
