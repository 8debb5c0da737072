package domain

import (
	"encoding/json"
	"fmt"

	"crm/services/campaigns/contract"
)

// Event is one fact recorded by the campaigns area. Its JSON encoding
// (encoding/json, camelCase fields) is the event's data in the log.
type Event interface {
	// EventType is the stable type name stored with the event.
	EventType() string
	// StreamID is the stream the event is appended to.
	StreamID() string
}

// The area's events are its published contract (crm/services/campaigns/contract):
// the domain decides in those types.
type (
	Money            = contract.Money
	CampaignCreated  = contract.CampaignCreated
	CampaignLaunched = contract.CampaignLaunched
	CampaignEnded    = contract.CampaignEnded
	OfferAdded       = contract.OfferAdded
	DealOpened       = contract.DealOpened
	DealWon          = contract.DealWon
	DealLost         = contract.DealLost
)

// The event type names (contract).
const (
	TypeCampaignCreated  = contract.TypeCampaignCreated
	TypeCampaignLaunched = contract.TypeCampaignLaunched
	TypeCampaignEnded    = contract.TypeCampaignEnded
	TypeOfferAdded       = contract.TypeOfferAdded
	TypeDealOpened       = contract.TypeDealOpened
	TypeDealWon          = contract.TypeDealWon
	TypeDealLost         = contract.TypeDealLost
)

// Decode turns a recorded event back into its struct. It fails on an
// unknown type or on data that is not the type's JSON.
func Decode(eventType string, data []byte) (Event, error) {
	switch eventType {
	case TypeCampaignCreated:
		return decodeAs[CampaignCreated](eventType, data)
	case TypeCampaignLaunched:
		return decodeAs[CampaignLaunched](eventType, data)
	case TypeCampaignEnded:
		return decodeAs[CampaignEnded](eventType, data)
	case TypeOfferAdded:
		return decodeAs[OfferAdded](eventType, data)
	case TypeDealOpened:
		return decodeAs[DealOpened](eventType, data)
	case TypeDealWon:
		return decodeAs[DealWon](eventType, data)
	case TypeDealLost:
		return decodeAs[DealLost](eventType, data)
	}
	return nil, fmt.Errorf("campaigns: unknown event type %q", eventType)
}

func decodeAs[T Event](eventType string, data []byte) (Event, error) {
	var e T
	if err := json.Unmarshal(data, &e); err != nil {
		return nil, fmt.Errorf("campaigns: decode %s: %w", eventType, err)
	}
	return e, nil
}
