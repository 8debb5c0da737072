// Package model holds the GraphQL gateway's read models: one struct per
// contract type that the read store fills from the read tables. Related
// entities are held by id (SalesRepID, CustomerID...), never loaded by the
// store: the nested fields are resolvers that go through per-request
// loaders, or, for a customer's relations, fields the gateway fills with
// batched reads when a query selects them.
// Enums, inputs and connections without extra state are generated into
// models_gen.go by gqlgen.
package model

import (
	"context"
	"time"
)

// Address is a customer's postal address; nil on a Customer when every part
// is empty.
type Address struct {
	Street     *string `json:"street"`
	City       *string `json:"city"`
	PostalCode *string `json:"postalCode"`
	Country    *string `json:"country"`
}

// Money is an exact amount in one currency.
type Money struct {
	Amount       Decimal `json:"amount"`
	CurrencyCode string  `json:"currencyCode"`
}

// Customer is a registered customer as the customers projection denormalized
// it. Seq is its cursor order.
type Customer struct {
	ID                       string         `json:"id"`
	Name                     string         `json:"name"`
	Email                    string         `json:"email"`
	Phone                    *string        `json:"phone"`
	Address                  *Address       `json:"address"`
	Status                   CustomerStatus `json:"status"`
	Version                  int64          `json:"version"`
	CreatedAt                time.Time      `json:"createdAt"`
	UpdatedAt                time.Time      `json:"updatedAt"`
	SalesRepID               *string        `json:"-"`
	ManagerID                *string        `json:"-"`
	Interests                []string       `json:"interests"`
	Products                 []string       `json:"products"`
	UpcomingAppointmentCount int            `json:"upcomingAppointmentCount"`
	NextAppointmentID        *string        `json:"-"`
	OpenDealCount            int            `json:"openDealCount"`
	WonDealTotal             []*Money       `json:"wonDealTotal"`
	Seq                      int64          `json:"-"`

	// The related entities, filled by the gateway for the fields a query
	// selects (graph/relations.go); nil when not asked for.
	SalesRep        *Salesperson `json:"salesRep"`
	Manager         *Salesperson `json:"manager"`
	NextAppointment *Appointment `json:"nextAppointment"`
	Deals           []*Deal      `json:"deals"`
}

// IsNode marks Customer as a Node.
func (Customer) IsNode() {}

// GetID returns the node id.
func (c Customer) GetID() string { return c.ID }

// Salesperson is a registered sales rep or manager.
type Salesperson struct {
	ID        string          `json:"id"`
	Name      string          `json:"name"`
	Email     string          `json:"email"`
	Role      SalespersonRole `json:"role"`
	ManagerID *string         `json:"-"`
	Version   int64           `json:"-"`
	CreatedAt time.Time       `json:"-"`
	Seq       int64           `json:"-"`
}

// IsNode marks Salesperson as a Node.
func (Salesperson) IsNode() {}

// GetID returns the node id.
func (s Salesperson) GetID() string { return s.ID }

// Appointment is a registered appointment.
type Appointment struct {
	ID                 string            `json:"id"`
	CustomerID         string            `json:"-"`
	CustomerName       *string           `json:"-"`
	SalespersonID      string            `json:"-"`
	SalespersonName    *string           `json:"-"`
	StartsAt           time.Time         `json:"startsAt"`
	EndsAt             time.Time         `json:"endsAt"`
	Location           string            `json:"location"`
	Status             AppointmentStatus `json:"status"`
	CancellationReason *string           `json:"cancellationReason"`
	Notes              *string           `json:"notes"`
	Version            int64             `json:"version"`
	Seq                int64             `json:"-"`
}

// IsNode marks Appointment as a Node.
func (Appointment) IsNode() {}

// GetID returns the node id.
func (a Appointment) GetID() string { return a.ID }

// Offer is one offer of a campaign, as stored in the campaign's offers list.
type Offer struct {
	ID              string     `json:"id"`
	Product         string     `json:"product"`
	DiscountPercent int        `json:"discountPercent"`
	ValidUntil      *time.Time `json:"validUntil"`
}

// Campaign is a campaign with its offers and deal totals.
type Campaign struct {
	ID            string         `json:"id"`
	Name          string         `json:"name"`
	Status        CampaignStatus `json:"status"`
	StartsAt      *time.Time     `json:"startsAt"`
	EndsAt        *time.Time     `json:"endsAt"`
	Offers        []*Offer       `json:"offers"`
	OpenDealCount int            `json:"openDealCount"`
	WonDealTotal  []*Money       `json:"wonDealTotal"`
	Version       int64          `json:"version"`
	Seq           int64          `json:"-"`
}

// IsNode marks Campaign as a Node.
func (Campaign) IsNode() {}

// GetID returns the node id.
func (c Campaign) GetID() string { return c.ID }

// Offer returns the campaign's offer with that id, or nil.
func (c *Campaign) Offer(id string) *Offer {
	for _, o := range c.Offers {
		if o.ID == id {
			return o
		}
	}
	return nil
}

// Deal is a deal of a customer, optionally within a campaign.
type Deal struct {
	ID         string    `json:"id"`
	CustomerID string    `json:"-"`
	CampaignID *string   `json:"-"`
	OfferID    *string   `json:"-"`
	SalesRepID *string   `json:"-"`
	Product    string    `json:"product"`
	Value      *Money    `json:"value"`
	Stage      DealStage `json:"stage"`
	LostReason *string   `json:"lostReason"`
	Version    int64     `json:"version"`
	Seq        int64     `json:"-"`
}

// IsNode marks Deal as a Node.
func (Deal) IsNode() {}

// GetID returns the node id.
func (d Deal) GetID() string { return d.ID }

// Event is one recorded event of an area's log, as the events projection
// copied it.
type Event struct {
	ID         string    `json:"id"`
	Area       Area      `json:"area"`
	StreamID   string    `json:"streamId"`
	Version    int64     `json:"version"`
	Position   string    `json:"position"`
	Type       string    `json:"type"`
	OccurredAt time.Time `json:"occurredAt"`
	Data       JSON      `json:"data"`
	// Actor is who caused the event (nil when the log recorded none).
	Actor *string `json:"actor"`
	// Cursor is the event feed's position right after this event (see
	// graph/feed): set by the feed for the areas it follows, and by a
	// history for the event's own area.
	Cursor string `json:"cursor"`
	// AreaName and PositionNum are area and position as stored, for cursors.
	AreaName    string `json:"-"`
	PositionNum int64  `json:"-"`
}

// CustomerConnection is one page of customers. Count computes totalCount
// only when a client asks for it.
type CustomerConnection struct {
	Edges    []*CustomerEdge                        `json:"edges"`
	PageInfo *PageInfo                              `json:"pageInfo"`
	Count    func(ctx context.Context) (int, error) `json:"-"`
}

// AppointmentConnection is one page of appointments. Count computes
// totalCount only when a client asks for it.
type AppointmentConnection struct {
	Edges    []*AppointmentEdge                     `json:"edges"`
	PageInfo *PageInfo                              `json:"pageInfo"`
	Count    func(ctx context.Context) (int, error) `json:"-"`
}

// SetID sets the customer's id: a mutation whose selection asks for its
// entity's id and nothing else answers with it, without reading the row
// (graph.mutate).
func (c *Customer) SetID(id string) { c.ID = id }

// SetID sets the salesperson's id (see Customer.SetID).
func (p *Salesperson) SetID(id string) { p.ID = id }

// SetID sets the appointment's id (see Customer.SetID).
func (a *Appointment) SetID(id string) { a.ID = id }

// SetID sets the campaign's id (see Customer.SetID).
func (c *Campaign) SetID(id string) { c.ID = id }

// SetID sets the deal's id (see Customer.SetID).
func (d *Deal) SetID(id string) { d.ID = id }
