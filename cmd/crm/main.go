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
	"runtime/pprof"
	"strconv"
	"strings"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	stopProfile := startCPUProfile(os.Getenv("CRM_CPU_PROFILE"))
	err := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr)
	stopProfile()
	stop()
	if err != nil {
		fmt.Fprintf(os.Stderr, "crm: %s\n", oneLine(err))
	}
	os.Exit(exitCode(err))
}

// startCPUProfile writes a CPU profile of the whole process to path ("%p"
// in it is replaced by the process id) when path is set, for operators and
// benchmarks (docs/operations.md); the returned function ends it.
func startCPUProfile(path string) func() {
	if path == "" {
		return func() {}
	}
	f, err := os.Create(strings.ReplaceAll(path, "%p", strconv.Itoa(os.Getpid())))
	if err == nil {
		err = pprof.StartCPUProfile(f)
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "crm: CRM_CPU_PROFILE: %v\n", err)
		return func() {}
	}
	return func() {
		pprof.StopCPUProfile()
		_ = f.Close()
	}
}
