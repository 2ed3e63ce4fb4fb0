package load

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"testing"
)

// serverEnv makes the test binary, re-executed, serve as a trivial target in
// its own process, so that benchmarks measure the driver's CPU and
// allocations alone.
const serverEnv = "LOAD_TEST_TARGET"

func TestMain(m *testing.M) {
	if os.Getenv(serverEnv) == "1" {
		os.Exit(serveTrivial())
	}
	os.Exit(m.Run())
}

// serveTrivial answers "ok" on a loopback port printed on stdout, until
// stdin closes (the parent is done or gone).
func serveTrivial() int {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	fmt.Println(ln.Addr())
	go func() {
		io.Copy(io.Discard, os.Stdin)
		ln.Close()
	}()
	ok := []byte("ok")
	http.Serve(ln, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write(ok) }))
	return 0
}

// startTarget runs the trivial target in a child process with the given
// GOMAXPROCS and returns its URL. The child is stopped at cleanup.
func startTarget(tb testing.TB, procs int) string {
	tb.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), serverEnv+"=1", fmt.Sprintf("GOMAXPROCS=%d", procs))
	stdin, err := cmd.StdinPipe()
	if err != nil {
		tb.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		tb.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		stdin.Close()
		cmd.Process.Kill()
		cmd.Wait()
	})
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil {
		tb.Fatalf("target did not report its address: %v", err)
	}
	return "http://" + strings.TrimSpace(line) + "/"
}
