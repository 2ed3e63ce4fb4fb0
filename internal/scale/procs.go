package scale

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
)

// PIDs returns the main process of every running container of the project and the userland
// proxies (docker-proxy) that carry its published ports, so that their CPU counts as the
// replicas' and not as interference. Each replica of bench's worker image is one process.
func (c *Compose) PIDs(ctx context.Context) ([]int, error) {
	ids, err := run(ctx, c.compose("ps", "-q"))
	if err != nil {
		return nil, fmt.Errorf("scale.compose: %w", err)
	}
	var pids []int
	if fields := strings.Fields(ids); len(fields) > 0 {
		out, err := run(ctx, append([]string{"docker", "inspect", "--format", "{{.State.Pid}}"}, fields...))
		if err != nil {
			return nil, fmt.Errorf("scale.compose: %w", err)
		}
		for _, f := range strings.Fields(out) {
			if pid, err := strconv.Atoi(f); err == nil && pid > 0 {
				pids = append(pids, pid)
			}
		}
	}
	return append(pids, proxies(c.ports())...), nil
}

// ports returns the host ports Scale last found.
func (c *Compose) ports() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	var ports []string
	for _, a := range c.addrs {
		if i := strings.LastIndexByte(a, ':'); i >= 0 {
			ports = append(ports, a[i+1:])
		}
	}
	return ports
}

// proxies finds the docker-proxy processes whose -host-port is one of ports.
func proxies(ports []string) []int {
	if len(ports) == 0 {
		return nil
	}
	dirs, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	var pids []int
	for _, d := range dirs {
		b, err := os.ReadFile(d)
		if err != nil || !bytes.Contains(b, []byte("docker-proxy")) {
			continue
		}
		args := strings.Split(string(b), "\x00")
		for i := 0; i+1 < len(args); i++ {
			if args[i] == "-host-port" && slices.Contains(ports, args[i+1]) {
				if pid, err := strconv.Atoi(filepath.Base(filepath.Dir(d))); err == nil {
					pids = append(pids, pid)
				}
				break
			}
		}
	}
	return pids
}
