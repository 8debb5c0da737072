package contract

// CalendarStreamID is the id of the salesperson's calendar guard stream.
func CalendarStreamID(salespersonID string) string { return "calendar-" + salespersonID }
