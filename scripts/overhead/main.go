// Command overhead runs one proxy in its own process for scripts/overhead.sh,
// so that the script can drive it with wrk and read its CPU from /proc:
//
//	overhead balance --backend 127.0.0.1:9001 [--backend …] [--listen 127.0.0.1:0] [--strategy round-robin] [--engine fast|std]
//	overhead haproxy --backend 127.0.0.1:9001 [--backend …] [--listen 127.0.0.1:0] [--strategy round-robin] [--threads 1]
//
// It prints one line, "ADDR PID" (the PID of the process doing the
// proxying: its own for balance, HAProxy's for haproxy), then serves until
// SIGTERM or SIGINT.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/bench-dev/bench/internal/balancer"
	"github.com/bench-dev/bench/internal/haproxy"
)

// list is a repeatable flag; each value may also be comma-separated.
type list []string

func (l *list) String() string { return strings.Join(*l, ",") }
func (l *list) Set(v string) error {
	*l = append(*l, strings.Split(v, ",")...)
	return nil
}

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "overhead:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	if len(args) == 0 || (args[0] != "balance" && args[0] != "haproxy") {
		return fmt.Errorf("usage: overhead balance|haproxy --backend ADDR [--listen ADDR] [--strategy S]")
	}
	fs := flag.NewFlagSet(args[0], flag.ContinueOnError)
	var backends list
	fs.Var(&backends, "backend", "worker host:port (repeatable, or comma-separated)")
	listen := fs.String("listen", "127.0.0.1:0", "address to accept on")
	strategy := fs.String("strategy", string(balancer.StrategyRoundRobin), "selection strategy")
	engine := fs.String("engine", string(balancer.DefaultEngine), "balance: fast or std")
	threads := fs.Int("threads", 1, "haproxy: nbthread")
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	if len(backends) == 0 {
		return fmt.Errorf("--backend: none given")
	}

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()

	switch args[0] {
	case "balance":
		sel, err := balancer.NewSelector(balancer.Strategy(*strategy))
		if err != nil {
			return err
		}
		b := balancer.New(backends, sel, balancer.WithEngine(balancer.Engine(*engine)))
		addr, err := b.Serve(ctx, *listen)
		if err != nil {
			return err
		}
		fmt.Println(addr, os.Getpid())
		<-ctx.Done()
		b.Wait()
	case "haproxy":
		p, err := haproxy.Start(ctx, haproxy.Config{Backends: backends, Listen: *listen, Strategy: balancer.Strategy(*strategy), Threads: *threads})
		if err != nil {
			return err
		}
		fmt.Println(p.Addr(), p.PID())
		select {
		case <-ctx.Done():
		case <-p.Done():
		}
		return p.Stop()
	}
	return nil
}
