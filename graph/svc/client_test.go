package svc

import (
	"context"
	"net/http"
	"testing"

	"crm/eventlog/errcode"
	"crm/eventlog/svcauth"
	"crm/services/wire"
)

func TestCommandThroughInProcessService(t *testing.T) {
	t.Parallel()
	customers := newService("customers")
	c := New(map[string]string{"customers": "http://customers", "campaigns": "http://127.0.0.1:1"},
		&http.Client{Transport: HandlerTransport{"customers": customers}}, testKey)
	ctx := context.Background()

	res, err := c.Command(ctx, "customers", wire.RegisterCustomer, map[string]any{"name": "Ada", "email": "ada@example.com"},
		Meta{Actor: "user-1", CorrelationID: "corr-9"})
	if err != nil {
		t.Fatal(err)
	}
	if res.Events[0].Metadata.Actor != "user-1" || res.Events[0].Metadata.CorrelationID != "corr-9" {
		t.Fatalf("metadata %+v", res.Events[0].Metadata)
	}
	if tok := c.Token(); tok["customers"] != res.Position {
		t.Fatalf("token %v after position %d", tok, res.Position)
	}

	_, err = c.Command(ctx, "customers", wire.RegisterCustomer, map[string]any{"name": "Ada", "email": "nope"}, Meta{Actor: "user-1"})
	if e := errcode.Of(err); e == nil || e.Code != errcode.BadUserInput || e.Field != "email" {
		t.Fatalf("refusal %v", err)
	}
	// The second command carried what the first one returned.
	if toks := customers.sentTokens(); len(toks) != 2 || toks[0] != "" {
		t.Fatalf("tokens sent %q", toks)
	} else if tok, err := wire.ParseToken(toks[1]); err != nil || tok["customers"] != res.Position {
		t.Fatalf("token sent %q (%v), want customers:%d", toks[1], err, res.Position)
	}
	_, err = c.Command(ctx, "campaigns", wire.CreateCampaign, map[string]any{"name": "X"}, Meta{Actor: "user-1"})
	if errcode.CodeOf(err) != errcode.Unavailable {
		t.Fatalf("unreachable service: %v", err)
	}
}

// A command goes out only with a credential for its actor: without an
// actor it is refused here (UNAUTHENTICATED) and nothing is sent; the
// service records the credential's subject; a client on another key is
// refused by the service.
func TestCommandCarriesTheActorsCredential(t *testing.T) {
	t.Parallel()
	customers := newService("customers")
	hc := &http.Client{Transport: HandlerTransport{"customers": customers}}
	c := New(map[string]string{"customers": "http://customers"}, hc, testKey)
	ctx := context.Background()
	body := map[string]any{"name": "Ada", "email": "ada@example.com"}
	if _, err := c.Command(ctx, "customers", wire.RegisterCustomer, body, Meta{}); errcode.CodeOf(err) != errcode.Unauthenticated {
		t.Fatalf("no actor: %v", err)
	}
	if n := len(customers.sentTokens()); n != 0 {
		t.Fatalf("%d commands sent without an actor", n)
	}
	res, err := c.Command(ctx, "customers", wire.RegisterCustomer, body, Meta{Actor: "user-9"})
	if err != nil || res.Events[0].Metadata.Actor != "user-9" {
		t.Fatalf("with an actor: %+v %v", res, err)
	}
	other := New(map[string]string{"customers": "http://customers"}, hc, svcauth.Random())
	if _, err := other.Command(ctx, "customers", wire.RegisterCustomer, body, Meta{Actor: "user-9"}); errcode.CodeOf(err) != errcode.Unauthenticated {
		t.Fatalf("another key: %v", err)
	}
	if _, err := New(map[string]string{"customers": "http://customers"}, hc, nil).Command(ctx, "customers", wire.RegisterCustomer, body, Meta{Actor: "u"}); err == nil {
		t.Fatal("a client without key sent a command")
	}
}
