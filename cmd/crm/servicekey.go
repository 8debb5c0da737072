package main

import (
	"fmt"
	"strings"

	"crm/eventlog/svcauth"
)

// serviceKeyEnv holds the key of the service credential the gateway,
// services and projectors share (docs/operations.md): hex or base64 of at
// least 32 random bytes.
const serviceKeyEnv = "CRM_SERVICE_KEY"

// loadServiceKey sets cfg.ServiceKey from CRM_SERVICE_KEY for subcommand
// sub. Unset, `crm dev` (dev) draws a random key, which only its own
// process needs; every other subcommand refuses to start, as it does for a
// malformed key (the error never repeats the key).
func (a *app) loadServiceKey(cfg *Config, sub string, dev bool) error {
	raw := strings.TrimSpace(a.getenv(serviceKeyEnv))
	if raw == "" {
		if dev {
			cfg.ServiceKey = svcauth.Random()
			return nil
		}
		return fmt.Errorf("%s: %s is required (hex or base64 of at least %d random bytes, the same for the gateway, services and projectors; see docs/operations.md)",
			sub, serviceKeyEnv, svcauth.MinKeyBytes)
	}
	k, err := svcauth.ParseKey(raw)
	if err != nil {
		return fmt.Errorf("%s: %s: %v", sub, serviceKeyEnv, strings.TrimPrefix(err.Error(), "svcauth: "))
	}
	cfg.ServiceKey = k
	return nil
}
