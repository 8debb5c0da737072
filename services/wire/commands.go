package wire

// CommandPath is the path a command is posted to on its area's service:
// POST /commands/NAME.
func CommandPath(name string) string { return CommandsPrefix + name }

// CommandsPrefix is the path under which a service mounts its commands.
const CommandsPrefix = "/commands/"

// The command names, per area. They are part of the API: never rename.
const (
	// customers
	RegisterCustomer = "register-customer"
	UpdateCustomer   = "update-customer"
	ArchiveCustomer  = "archive-customer"

	// relationships
	RegisterSalesperson = "register-salesperson"
	AssignAccountTeam   = "assign-account-team"
	RecordInterest      = "record-interest"
	RemoveInterest      = "remove-interest"

	// appointments
	ScheduleAppointment   = "schedule-appointment"
	RescheduleAppointment = "reschedule-appointment"
	CancelAppointment     = "cancel-appointment"
	CompleteAppointment   = "complete-appointment"

	// campaigns
	CreateCampaign = "create-campaign"
	LaunchCampaign = "launch-campaign"
	EndCampaign    = "end-campaign"
	AddOffer       = "add-offer"
	OpenDeal       = "open-deal"
	WinDeal        = "win-deal"
	LoseDeal       = "lose-deal"
)
