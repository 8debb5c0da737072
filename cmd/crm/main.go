// Command crm runs the CRM: the GraphQL gateway, the four write services
// with their relays, and the projector, together (`crm dev`) or one by one.
// `crm --help` lists the subcommands; configuration comes from the
// environment (shared/contract/CONTRACT.md).
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr)
	stop()
	if err != nil {
		fmt.Fprintf(os.Stderr, "crm: %s\n", oneLine(err))
	}
	os.Exit(exitCode(err))
}
