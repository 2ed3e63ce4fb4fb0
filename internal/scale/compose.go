package scale

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"

	"go.yaml.in/yaml/v3"

	"github.com/bench-dev/bench/internal/scenario"
)

// Compose scales one service of a compose file with Docker Compose, in a project of its own
// so that nothing else is touched and `down` removes exactly what it started.
type Compose struct {
	cfg     scenario.Compose
	ready   Ready
	onEvent func(string)
	cli     []string // "docker compose" or "docker-compose"
	// Project is the compose project the replicas run in, unique to this Compose.
	Project string
	cpus    float64

	mu    sync.Mutex
	up    bool     // up was run: Close must run down
	addrs []string // where the replicas of the last Scale listen
}

// composeFile is what bench reads of a compose file: the scaled service's image and CPU limit.
type composeFile struct {
	Services map[string]composeService `yaml:"services"`
}

type composeService struct {
	Image  string `yaml:"image"`
	Build  any    `yaml:"build"`
	CPUs   any    `yaml:"cpus"`
	Deploy struct {
		Resources struct {
			Limits struct {
				CPUs any `yaml:"cpus"`
			} `yaml:"limits"`
		} `yaml:"resources"`
	} `yaml:"deploy"`
}

var (
	cliOnce sync.Once
	cli     []string
	cliErr  error
)

// composeCLI finds the Compose tool once: the docker CLI's plugin where present, else the
// standalone docker-compose.
func composeCLI() ([]string, error) {
	cliOnce.Do(func() {
		if exec.Command("docker", "compose", "version").Run() == nil {
			cli = []string{"docker", "compose"}
			return
		}
		if _, err := exec.LookPath("docker-compose"); err == nil {
			cli = []string{"docker-compose"}
			return
		}
		cliErr = errors.New("scale.compose: neither `docker compose` nor docker-compose is installed")
	})
	return cli, cliErr
}

// NewCompose reads the compose file, checks that the service is in it and that its image is on
// this machine (or is built by compose), and finds the Compose tool. It starts nothing.
func NewCompose(cfg scenario.Compose, ready Ready, onEvent func(string)) (*Compose, error) {
	data, err := os.ReadFile(cfg.File)
	if err != nil {
		return nil, fmt.Errorf("scale.compose.file: %w", err)
	}
	var f composeFile
	if err := yaml.Unmarshal(data, &f); err != nil {
		return nil, fmt.Errorf("scale.compose.file: %s: %w", cfg.File, err)
	}
	svc, ok := f.Services[cfg.Service]
	if !ok {
		return nil, fmt.Errorf("scale.compose.service: %s has no service %q", cfg.File, cfg.Service)
	}
	cpus, err := cpuLimit(svc)
	if err != nil {
		return nil, fmt.Errorf("scale.compose.file: %s: service %s: %w", cfg.File, cfg.Service, err)
	}
	c, err := composeCLI()
	if err != nil {
		return nil, err
	}
	if svc.Build == nil && svc.Image != "" {
		if _, err := run(context.Background(), []string{"docker", "image", "inspect", "--format", "{{.Id}}", svc.Image}); err != nil {
			return nil, fmt.Errorf("scale.compose: image %s of service %s is not on this machine and the compose file does not build it; build it first (bench's own worker image: scripts/docker-image.sh)", svc.Image, cfg.Service)
		}
	}
	var b [4]byte
	_, _ = rand.Read(b[:])
	return &Compose{cfg: cfg, ready: ready, onEvent: onEvent, cli: c, cpus: cpus,
		Project: fmt.Sprintf("bench%d%s", os.Getpid(), hex.EncodeToString(b[:]))}, nil
}

// cpuLimit reads the service's CPU limit, `cpus:` or `deploy.resources.limits.cpus:`.
func cpuLimit(svc composeService) (float64, error) {
	v := svc.CPUs
	if v == nil {
		v = svc.Deploy.Resources.Limits.CPUs
	}
	if v == nil {
		return 0, nil
	}
	s := strings.Trim(fmt.Sprint(v), `"' `)
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || !(f > 0) {
		return 0, fmt.Errorf("cpus: %q is not a number of CPUs like 0.5", s)
	}
	return f, nil
}

// CPUs is each replica's CPU limit, 0 when it has none: as the running containers have it once
// Scale ran (a compose tool may ignore a key of the file, docker-compose 1 deploy: limits
// without --compatibility), as the compose file says before.
func (c *Compose) CPUs() float64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.cpus
}

// observeCPUs reads the CPU limit the service's first container runs with.
func (c *Compose) observeCPUs(ctx context.Context) error {
	ids, err := run(ctx, c.compose("ps", "-q", c.cfg.Service))
	if err != nil {
		return fmt.Errorf("scale.compose: %w", err)
	}
	fields := strings.Fields(ids)
	if len(fields) == 0 {
		return fmt.Errorf("scale.compose: no container of %s runs", c.cfg.Service)
	}
	out, err := run(ctx, []string{"docker", "inspect", "--format", "{{.HostConfig.NanoCpus}} {{.HostConfig.CpuQuota}} {{.HostConfig.CpuPeriod}}", fields[0]})
	if err != nil {
		return fmt.Errorf("scale.compose: %w", err)
	}
	var nano, quota, period int64
	if _, err := fmt.Sscan(out, &nano, &quota, &period); err != nil {
		return fmt.Errorf("scale.compose: docker inspect said %q: %w", strings.TrimSpace(out), err)
	}
	cpus := float64(nano) / 1e9
	if nano == 0 && quota > 0 {
		if period == 0 {
			period = 100_000 // the kernel's default CFS period, µs
		}
		cpus = float64(quota) / float64(period)
	}
	c.mu.Lock()
	said := c.cpus
	c.cpus = cpus
	c.mu.Unlock()
	if said != cpus {
		c.event("scale.compose: the replicas of %s run with a CPU limit of %g (0 = none), the compose file says %g: reporting what runs", c.cfg.Service, cpus, said)
	}
	return nil
}

func (c *Compose) compose(args ...string) []string {
	return append(append(append([]string(nil), c.cli...), "-p", c.Project, "-f", c.cfg.File), args...)
}

func (c *Compose) event(format string, args ...any) {
	if c.onEvent != nil {
		c.onEvent(fmt.Sprintf(format, args...))
	}
}

// Scale runs `up -d --scale SERVICE=n` (the other services of the file start too: a balancer of
// its own, say), asks compose where each replica's port is published, and waits until every
// replica answers the ready path.
func (c *Compose) Scale(ctx context.Context, n int) ([]string, error) {
	c.mu.Lock()
	c.up = true // a failed or cancelled up may still have created containers
	c.mu.Unlock()
	argv := c.compose("up", "-d", "--scale", c.cfg.Service+"="+strconv.Itoa(n))
	c.event("%s", strings.Join(argv, " "))
	if _, err := run(ctx, argv); err != nil {
		return nil, fmt.Errorf("scale.compose: %w", err)
	}
	addrs := make([]string, n)
	for i := range addrs {
		out, err := run(ctx, c.compose("port", "--index="+strconv.Itoa(i+1), c.cfg.Service, strconv.Itoa(c.cfg.Port)))
		if err != nil {
			return nil, fmt.Errorf("scale.compose: replica %d: %w", i+1, err)
		}
		addr, err := scenario.CheckEndpoint(out, nil)
		if err != nil {
			return nil, fmt.Errorf("scale.compose: replica %d of %s publishes port %d as %q, not on loopback: publish it with ports: [\"127.0.0.1::%d\"]",
				i+1, c.cfg.Service, c.cfg.Port, strings.TrimSpace(out), c.cfg.Port)
		}
		addrs[i] = addr
	}
	if err := c.observeCPUs(ctx); err != nil {
		return nil, err
	}
	c.event("%d replica(s) of %s at %s; waiting until each answers %s", n, c.cfg.Service, strings.Join(addrs, " "), c.ready.Path)
	if err := WaitReady(ctx, addrs, c.ready); err != nil {
		return nil, fmt.Errorf("scale.compose: %w", err)
	}
	c.event("%d replica(s) of %s ready: %s", n, c.cfg.Service, strings.Join(addrs, " "))
	c.mu.Lock()
	c.addrs = addrs
	c.mu.Unlock()
	return addrs, nil
}

// Close removes the project's containers and networks, if Scale ever ran.
func (c *Compose) Close() error {
	c.mu.Lock()
	up := c.up
	c.up = false
	c.mu.Unlock()
	if !up {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), closeTimeout)
	defer cancel()
	argv := c.compose("down", "--volumes", "--remove-orphans", "--timeout", "5")
	c.event("%s", strings.Join(argv, " "))
	if _, err := run(ctx, argv); err != nil {
		return fmt.Errorf("scale.compose: %w", err)
	}
	return nil
}
