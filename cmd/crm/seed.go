package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"time"

	"crm/graph/auth"
)

// seeder writes demo data through the gateway's public mutations. Every
// mutation carries an idempotency key derived from what it seeds, so
// running the seed again records nothing new.
type seeder struct {
	url  string
	http *http.Client
	n    int
}

type gqlError struct {
	Message    string         `json:"message"`
	Extensions map[string]any `json:"extensions"`
}

// do runs one mutation and returns the id at data.<field>.id.
func (s *seeder) do(ctx context.Context, field, query string, input map[string]any) (string, error) {
	body, _ := json.Marshal(map[string]any{"query": query, "variables": map[string]any{"input": input}})
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.url, bytes.NewReader(body))
	if err != nil {
		return "", err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := s.http.Do(req)
	if err != nil {
		return "", fmt.Errorf("seed: %w", err)
	}
	defer resp.Body.Close()
	var out struct {
		Data   map[string]struct{ ID string } `json:"data"`
		Errors []gqlError                     `json:"errors"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		return "", fmt.Errorf("seed: %s: HTTP %d: %w", field, resp.StatusCode, err)
	}
	if len(out.Errors) > 0 {
		return "", fmt.Errorf("seed: %s: %s (%v)", field, out.Errors[0].Message, out.Errors[0].Extensions["code"])
	}
	s.n++
	return out.Data[field].ID, nil
}

func (s *seeder) mutation(ctx context.Context, field, inputType, key string, input map[string]any) (string, error) {
	input["idempotencyKey"] = "seed-" + key
	return s.do(ctx, field, fmt.Sprintf("mutation($input: %s!) { %s(input: $input) { id } }", inputType, field), input)
}

var (
	seedFirst = []string{"Ada", "Alan", "Barbara", "Claude", "Donald", "Edsger", "Frances", "Grace", "John", "Katherine"}
	seedLast  = []string{"Lovelace", "Kay", "Liskov", "Shannon", "Knuth"}
	seedTopic = []string{"solar panels", "heat pumps", "wallboxes", "batteries", "insulation"}
)

// seed writes a few salespeople, 50 customers with account teams,
// interests and appointments, and a campaign with offers and deals.
// It signs in with CRM_TOKEN when set, else as the development issuer's
// admin (crm dev).
func runSeed(ctx context.Context, a *app, endpoint string) error {
	client := &http.Client{Timeout: 30 * time.Second}
	token := a.getenv("CRM_TOKEN")
	if token == "" {
		var err error
		if token, err = auth.DevToken(ctx, client, devBase(endpoint), "admin"); err != nil {
			return fmt.Errorf("seed: sign in (set CRM_TOKEN to an admin's token outside crm dev): %w", err)
		}
	}
	client.Transport = bearerTransport{token: token, next: http.DefaultTransport}
	s := &seeder{url: endpoint, http: client}
	mgr, err := s.mutation(ctx, "registerSalesperson", "RegisterSalespersonInput", "mgr",
		map[string]any{"name": "Margaret Hamilton", "email": "margaret@example.com", "role": "MANAGER"})
	if err != nil {
		return err
	}
	var reps []string
	for i, name := range []string{"Grace Hopper", "Alan Turing", "Radia Perlman"} {
		id, err := s.mutation(ctx, "registerSalesperson", "RegisterSalespersonInput", fmt.Sprint("rep-", i),
			map[string]any{"name": name, "email": fmt.Sprintf("rep%d@example.com", i), "role": "SALES_REP", "managerId": mgr})
		if err != nil {
			return err
		}
		reps = append(reps, id)
	}
	day := time.Now().UTC().Truncate(24 * time.Hour).Add(24 * time.Hour)
	var customers []string
	for i := 0; i < 50; i++ {
		name := seedFirst[i%len(seedFirst)] + " " + seedLast[i/len(seedFirst)%len(seedLast)]
		cus, err := s.mutation(ctx, "registerCustomer", "RegisterCustomerInput", fmt.Sprint("customer-", i), map[string]any{
			"name": name, "email": fmt.Sprintf("customer%d@example.com", i), "phone": fmt.Sprintf("+4420794600%02d", i),
			"address": map[string]any{"city": []string{"London", "Paris", "Berlin", "Madrid"}[i%4], "country": []string{"GB", "FR", "DE", "ES"}[i%4]}})
		if err != nil {
			return err
		}
		customers = append(customers, cus)
		rep := reps[i%len(reps)]
		if _, err := s.mutation(ctx, "assignAccountTeam", "AssignAccountTeamInput", fmt.Sprint("team-", i),
			map[string]any{"customerId": cus, "salesRepId": rep, "managerId": mgr}); err != nil {
			return err
		}
		for j := 0; j <= i%2; j++ {
			if _, err := s.mutation(ctx, "recordInterest", "RecordInterestInput", fmt.Sprint("interest-", i, "-", j),
				map[string]any{"customerId": cus, "interest": seedTopic[(i+j)%len(seedTopic)]}); err != nil {
				return err
			}
		}
		// Each rep sees customers i, i+3, i+6...: one slot each, never overlapping.
		slot := i / len(reps)
		start := day.Add(time.Duration(slot/4)*24*time.Hour + time.Duration(9+2*(slot%4))*time.Hour)
		if _, err := s.mutation(ctx, "scheduleAppointment", "ScheduleAppointmentInput", fmt.Sprint("appointment-", i),
			map[string]any{"customerId": cus, "salespersonId": rep, "startsAt": start.Format(time.RFC3339),
				"endsAt": start.Add(time.Hour).Format(time.RFC3339), "location": "Customer site"}); err != nil {
			return err
		}
	}
	cmp, err := s.mutation(ctx, "createCampaign", "CreateCampaignInput", "campaign", map[string]any{"name": "Winter energy savings"})
	if err != nil {
		return err
	}
	if _, err := s.mutation(ctx, "launchCampaign", "LaunchCampaignInput", "campaign-launch", map[string]any{"id": cmp}); err != nil {
		return err
	}
	for i, product := range []string{"Solar panel kit", "Heat pump"} {
		if _, err := s.mutation(ctx, "addOffer", "AddOfferInput", fmt.Sprint("offer-", i),
			map[string]any{"campaignId": cmp, "product": product, "discountPercent": 10 + 5*i}); err != nil {
			return err
		}
	}
	for i := 0; i < 12; i++ {
		deal, err := s.mutation(ctx, "openDeal", "OpenDealInput", fmt.Sprint("deal-", i), map[string]any{
			"customerId": customers[i], "campaignId": cmp, "salesRepId": reps[i%len(reps)],
			"product": []string{"Solar panel kit", "Heat pump"}[i%2],
			"value":   map[string]any{"amount": fmt.Sprintf("%d.00", 4000+250*i), "currencyCode": "EUR"}})
		if err != nil {
			return err
		}
		switch i % 4 {
		case 0:
			_, err = s.mutation(ctx, "winDeal", "WinDealInput", fmt.Sprint("deal-won-", i), map[string]any{"id": deal})
		case 1:
			_, err = s.mutation(ctx, "loseDeal", "LoseDealInput", fmt.Sprint("deal-lost-", i), map[string]any{"id": deal, "reason": "budget"})
		}
		if err != nil {
			return err
		}
	}
	fmt.Fprintf(a.stdout, "seeded through %s: %d mutations (4 salespeople, 50 customers, a campaign with 12 deals)\n", endpoint, s.n)
	return nil
}
