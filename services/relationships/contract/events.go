package contract

import "time"

// The event type names. They are part of the log's format: never rename.
const (
	TypeSalespersonRegistered   = "SalespersonRegistered"
	TypeSalespersonEmailClaimed = "SalespersonEmailClaimed"
	TypeAccountTeamAssigned     = "AccountTeamAssigned"
	TypeInterestRecorded        = "InterestRecorded"
	TypeInterestRemoved         = "InterestRemoved"
	TypeProductAdded            = "ProductAdded"
)

// Role is a salesperson's role, named as the GraphQL enum SalespersonRole.
type Role string

// The roles.
const (
	RoleSalesRep Role = "SALES_REP"
	RoleManager  Role = "MANAGER"
)

// SalespersonRegistered: a salesperson joined. ManagerID is "" when none.
type SalespersonRegistered struct {
	SalespersonID string    `json:"salespersonId"`
	Name          string    `json:"name"`
	Email         string    `json:"email"`
	Role          Role      `json:"role"`
	ManagerID     string    `json:"managerId,omitempty"`
	RegisteredAt  time.Time `json:"registeredAt"`
}

// SalespersonEmailClaimed: the salesperson holds the email address from now
// on. Recorded in the email's claim stream.
type SalespersonEmailClaimed struct {
	Email         string    `json:"email"`
	SalespersonID string    `json:"salespersonId"`
	ClaimedAt     time.Time `json:"claimedAt"`
}

// AccountTeamAssigned: the customer's account team is now this sales rep
// and manager (ManagerID "" when none); it replaces any earlier team.
type AccountTeamAssigned struct {
	CustomerID string    `json:"customerId"`
	SalesRepID string    `json:"salesRepId"`
	ManagerID  string    `json:"managerId,omitempty"`
	AssignedAt time.Time `json:"assignedAt"`
}

// InterestRecorded: the customer has a new interest. Interests is the
// customer's full list afterwards, in the order they were recorded.
type InterestRecorded struct {
	CustomerID string    `json:"customerId"`
	Interest   string    `json:"interest"`
	Interests  []string  `json:"interests"`
	RecordedAt time.Time `json:"recordedAt"`
}

// InterestRemoved: the customer lost an interest; Interest is spelled as it
// was recorded. Interests is the full list afterwards (possibly empty).
type InterestRemoved struct {
	CustomerID string    `json:"customerId"`
	Interest   string    `json:"interest"`
	Interests  []string  `json:"interests"`
	RemovedAt  time.Time `json:"removedAt"`
}

// ProductAdded: the customer owns the product of a won deal. Products is the
// customer's full list afterwards (each product once, case-insensitively).
type ProductAdded struct {
	CustomerID string    `json:"customerId"`
	DealID     string    `json:"dealId"`
	Product    string    `json:"product"`
	Products   []string  `json:"products"`
	AddedAt    time.Time `json:"addedAt"`
}

// EventType returns the event's type name in the log.
func (SalespersonRegistered) EventType() string { return TypeSalespersonRegistered }

// EventType returns the event's type name in the log.
func (SalespersonEmailClaimed) EventType() string { return TypeSalespersonEmailClaimed }

// EventType returns the event's type name in the log.
func (AccountTeamAssigned) EventType() string { return TypeAccountTeamAssigned }

// EventType returns the event's type name in the log.
func (InterestRecorded) EventType() string { return TypeInterestRecorded }

// EventType returns the event's type name in the log.
func (InterestRemoved) EventType() string { return TypeInterestRemoved }

// EventType returns the event's type name in the log.
func (ProductAdded) EventType() string { return TypeProductAdded }

// StreamID is the stream the event is recorded in: the salesperson's id.
func (e SalespersonRegistered) StreamID() string { return e.SalespersonID }

// StreamID is the stream the event is recorded in: the email's claim stream.
func (e SalespersonEmailClaimed) StreamID() string { return EmailClaimStreamID(e.Email) }

// StreamID is the stream the event is recorded in: the customer's account stream.
func (e AccountTeamAssigned) StreamID() string { return e.CustomerID }

// StreamID is the stream the event is recorded in: the customer's account stream.
func (e InterestRecorded) StreamID() string { return e.CustomerID }

// StreamID is the stream the event is recorded in: the customer's account stream.
func (e InterestRemoved) StreamID() string { return e.CustomerID }

// StreamID is the stream the event is recorded in: the customer's account stream.
func (e ProductAdded) StreamID() string { return e.CustomerID }
