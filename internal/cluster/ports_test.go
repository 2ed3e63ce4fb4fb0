package cluster

import (
	"net"
	"strconv"
	"testing"
)

func TestReservePorts(t *testing.T) {
	t.Parallel()
	lo, hi := ephemeralRange()
	first, err := reservePorts(50)
	if err != nil {
		t.Fatal(err)
	}
	second, err := reservePorts(50)
	if err != nil {
		releasePorts(first)
		t.Fatal(err)
	}
	defer releasePorts(second)
	releasePorts(first)

	seen := map[int]bool{}
	for _, p := range append(first, second...) {
		if seen[p] {
			t.Errorf("port %d handed out twice while reserved", p)
		}
		seen[p] = true
		// Outside the ephemeral range, where no outgoing connection can take it meanwhile.
		if p >= lo && p <= hi || p < lowestPort {
			t.Errorf("port %d inside the ephemeral range %d-%d or below %d", p, lo, hi, lowestPort)
		}
	}
	// A reserved port is free to listen on: nothing in this process holds it in between. Other
	// processes (tests of other packages, reserving in the same ranges, containers publishing
	// ports) take some now and then (4 of 50 in one full test run); a port this process kept
	// would fail them all.
	var taken []error
	for _, p := range second {
		ln, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(p))
		if err != nil {
			taken = append(taken, err)
			continue
		}
		ln.Close()
	}
	if len(taken) > len(second)/2 {
		t.Errorf("%d of the 50 reserved ports could not be listened on: %v", len(taken), taken)
	}
	reservedMu.Lock()
	got := len(reserved)
	reservedMu.Unlock()
	if got < 50 {
		t.Errorf("%d ports reserved, want at least the 50 of the second call", got)
	}
}
