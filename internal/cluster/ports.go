package cluster

import (
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"

	"golang.org/x/sys/unix"
)

// A port chosen by listening on 127.0.0.1:0 comes from the kernel's ephemeral range, the same
// range every outgoing connection takes its local port from. Between closing the probe
// listener and the worker's bind, a connection of the load generator, the balancer or a
// readiness probe can grab it, and the worker dies with "address already in use" (seen under
// parallel tests). Ports outside that range are never handed out implicitly, so they are
// chosen there, checked free by listening, and reserved in this process until Stop.
const (
	lowestPort      = 10000 // below this live well-known services
	portTries       = 200
	defaultEphemLow = 32768
	defaultEphemHi  = 60999
)

var (
	reservedMu sync.Mutex
	reserved   = map[int]bool{} // ports handed to workers of live clusters in this process
)

// reservePorts returns n distinct loopback ports that were free a moment ago and are reserved
// until releasePorts. All probe listeners stay open until all ports are chosen.
func reservePorts(n int) ([]int, error) {
	lo, hi := ephemeralRange()
	// Candidates: [lowestPort, lo) and (hi, 65535].
	below, above := max(0, lo-lowestPort), max(0, 65535-hi)

	reservedMu.Lock()
	defer reservedMu.Unlock()
	ports := make([]int, 0, n)
	lns := make([]net.Listener, 0, n)
	defer func() {
		for _, ln := range lns {
			ln.Close()
		}
	}()
	for len(ports) < n {
		ln, err := listenOutsideRange(lowestPort, below, hi+1, above)
		if err != nil {
			return nil, fmt.Errorf("cluster: picking a free loopback port: %w", err)
		}
		lns = append(lns, ln)
		ports = append(ports, ln.Addr().(*net.TCPAddr).Port)
	}
	for _, p := range ports {
		reserved[p] = true
	}
	return ports, nil
}

// listenOutsideRange listens on a random free port of [lowA, lowA+nA) ∪ [lowB, lowB+nB) not
// reserved; if none is found it falls back to any port the kernel picks.
func listenOutsideRange(lowA, nA, lowB, nB int) (net.Listener, error) {
	if nA+nB > 0 {
		for range portTries {
			p := randomPort(lowA, nA, lowB, nB)
			if reserved[p] {
				continue
			}
			if ln, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(p)); err == nil {
				return ln, nil
			}
		}
	}
	for range portTries {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		if !reserved[ln.Addr().(*net.TCPAddr).Port] {
			return ln, nil
		}
		ln.Close()
	}
	return nil, fmt.Errorf("no free port after %d tries", 2*portTries)
}

// randomPort returns a random port of [lowA, lowA+nA) ∪ [lowB, lowB+nB); nA+nB must be > 0.
func randomPort(lowA, nA, lowB, nB int) int {
	p := rand.IntN(nA + nB)
	if p < nA {
		return p + lowA
	}
	return p + lowB - nA
}

// reserveSharedPort returns a loopback port for workers that all listen on it with
// SO_REUSEPORT, and the socket holding it, to be closed after releasePorts.
//
// The socket is bound without SO_REUSEADDR or SO_REUSEPORT — so the bind fails on a port
// anybody else has, even another user of SO_REUSEPORT — and only then gets SO_REUSEPORT. It
// never listens: it receives no connections, yet keeps every later bind without
// SO_REUSEPORT off the port, while the workers (same user, SO_REUSEPORT) bind next to it.
// Holding it until Stop keeps the port ours even while every worker is down for a restart.
func reserveSharedPort() (port, fd int, err error) {
	lo, hi := ephemeralRange()
	below, above := max(0, lo-lowestPort), max(0, 65535-hi)

	reservedMu.Lock()
	defer reservedMu.Unlock()
	try := func(p int) (int, int, error) {
		fd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			return 0, -1, fmt.Errorf("cluster: reserving a shared port: socket: %w", err)
		}
		if err := unix.Bind(fd, &unix.SockaddrInet4{Port: p, Addr: [4]byte{127, 0, 0, 1}}); err != nil {
			unix.Close(fd)
			return 0, -1, nil // taken: try another
		}
		if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_REUSEPORT, 1); err != nil {
			unix.Close(fd)
			return 0, -1, fmt.Errorf("cluster: reserving a shared port: SO_REUSEPORT: %w", err)
		}
		sa, err := unix.Getsockname(fd)
		if err != nil {
			unix.Close(fd)
			return 0, -1, fmt.Errorf("cluster: reserving a shared port: %w", err)
		}
		return sa.(*unix.SockaddrInet4).Port, fd, nil
	}
	for i := range 2 * portTries {
		p := 0 // the kernel's pick, once the range outside the ephemeral one seems full
		if i < portTries && below+above > 0 {
			p = randomPort(lowestPort, below, hi+1, above)
		}
		if reserved[p] {
			continue
		}
		port, fd, err := try(p)
		if err != nil {
			return 0, -1, err
		}
		if fd < 0 {
			continue
		}
		if reserved[port] {
			unix.Close(fd)
			continue
		}
		reserved[port] = true
		return port, fd, nil
	}
	return 0, -1, fmt.Errorf("cluster: reserving a shared port: no free port after %d tries", 2*portTries)
}

func releasePorts(ports []int) {
	reservedMu.Lock()
	defer reservedMu.Unlock()
	for _, p := range ports {
		delete(reserved, p)
	}
}

// ephemeralRange returns the kernel's range for implicitly bound local ports.
func ephemeralRange() (lo, hi int) {
	data, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range")
	if err != nil {
		return defaultEphemLow, defaultEphemHi
	}
	f := strings.Fields(string(data))
	if len(f) != 2 {
		return defaultEphemLow, defaultEphemHi
	}
	lo, err1 := strconv.Atoi(f[0])
	hi, err2 := strconv.Atoi(f[1])
	if err1 != nil || err2 != nil || lo > hi {
		return defaultEphemLow, defaultEphemHi
	}
	return lo, hi
}
