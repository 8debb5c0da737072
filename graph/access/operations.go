package access

import (
	"crm/graph/auth"
)

// roles says, per role, whether an operation may run at all, in the order
// admin, manager, sales, marketing, viewer.
type roles [5]bool

const (
	y = true  // may run it
	n = false // FORBIDDEN
)

// Operations is the table of role × operation: every root field of the
// schema, by "Type.field". An operation a role may run still answers only
// the rows its Scope sees; a command on a customer, appointment or deal
// additionally needs that row in the scope (graph/guard.go). Changing a rule
// is changing a line here (and docs/access.md).
var Operations = map[string]roles{
	//                               admin manager sales marketing viewer
	"Query.node":                      {y, y, y, y, y},
	"Query.customer":                  {y, y, y, y, y},
	"Query.customers":                 {y, y, y, y, y},
	"Query.salesperson":               {y, y, y, y, y},
	"Query.salespeople":               {y, y, y, y, y},
	"Query.appointment":               {y, y, y, n, y},
	"Query.appointments":              {y, y, y, n, y},
	"Query.campaign":                  {y, y, y, y, y},
	"Query.campaigns":                 {y, y, y, y, y},
	"Query.deal":                      {y, y, y, y, y},
	"Query.projections":               {y, n, n, n, n},
	"Query.events":                    {y, y, y, y, y},
	"Mutation.registerCustomer":       {y, y, y, n, n},
	"Mutation.updateCustomer":         {y, y, y, n, n},
	"Mutation.archiveCustomer":        {y, y, y, n, n},
	"Mutation.registerSalesperson":    {y, n, n, n, n},
	"Mutation.assignAccountTeam":      {y, y, n, n, n},
	"Mutation.recordInterest":         {y, y, y, n, n},
	"Mutation.removeInterest":         {y, y, y, n, n},
	"Mutation.scheduleAppointment":    {y, y, y, n, n},
	"Mutation.rescheduleAppointment":  {y, y, y, n, n},
	"Mutation.cancelAppointment":      {y, y, y, n, n},
	"Mutation.completeAppointment":    {y, y, y, n, n},
	"Mutation.createCampaign":         {y, n, n, y, n},
	"Mutation.launchCampaign":         {y, n, n, y, n},
	"Mutation.endCampaign":            {y, n, n, y, n},
	"Mutation.addOffer":               {y, n, n, y, n},
	"Mutation.openDeal":               {y, y, y, y, n},
	"Mutation.winDeal":                {y, y, y, y, n},
	"Mutation.loseDeal":               {y, y, y, y, n},
	"Subscription.customerChanged":    {y, y, y, y, y},
	"Subscription.appointmentChanged": {y, y, y, n, y},
	"Subscription.dealChanged":        {y, y, y, y, y},
	"Subscription.eventRecorded":      {y, y, y, y, y},
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
