package svc

import (
	"context"
	"log/slog"
	"net/http"
	"testing"

	"crm/eventlog/errcode"
	"crm/services/customers"
	"crm/services/kit"
	"crm/services/kit/kittest"
)

func TestCommandThroughInProcessService(t *testing.T) {
	t.Parallel()
	l, _ := kittest.Log(t)
	mux := kit.Mux(l, customers.NewService(l).Routes(slog.Default())...)
	c := New(map[string]string{"customers": "http://customers", "campaigns": "http://127.0.0.1:1"},
		&http.Client{Transport: HandlerTransport{"customers": mux}})
	ctx := context.Background()

	res, err := c.Command(ctx, "customers", "register-customer", map[string]any{"name": "Ada", "email": "ada@example.com"},
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

	_, err = c.Command(ctx, "customers", "register-customer", map[string]any{"name": "Ada", "email": "nope"}, Meta{})
	if e := errcode.Of(err); e == nil || e.Code != errcode.BadUserInput || e.Field != "email" {
		t.Fatalf("refusal %v", err)
	}
	_, err = c.Command(ctx, "campaigns", "create-campaign", map[string]any{"name": "X"}, Meta{})
	if errcode.CodeOf(err) != errcode.Unavailable {
		t.Fatalf("unreachable service: %v", err)
	}
}
