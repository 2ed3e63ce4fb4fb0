package experiment

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	vegeta "github.com/tsenart/vegeta/v12/lib"

	"github.com/bench-dev/bench/internal/load"
	"github.com/bench-dev/bench/internal/scenario"
)

// recordEnv makes the test binary, re-executed by the cluster, serve as a worker that records
// every request but its readiness probes (GET /ready) as a JSON line in the folder it names.
const recordEnv = "EXPERIMENT_TEST_RECORD"

// recorded is one request a recording worker saw.
type recorded struct {
	Method, URI, Body, ContentType string
	Length                         int64
}

const recordedReply = "recorded\n"

func runRecorder(dir string) int {
	f, err := os.Create(filepath.Join(dir, "worker-"+os.Getenv("BENCH_WORKER_INDEX")+".log"))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer f.Close()
	var mu sync.Mutex
	srv := &http.Server{Addr: "127.0.0.1:" + os.Getenv("PORT"), Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodGet && r.URL.Path == "/ready" {
			return
		}
		body, _ := io.ReadAll(r.Body)
		line, _ := json.Marshal(recorded{r.Method, r.RequestURI, string(body), r.Header.Get("Content-Type"), r.ContentLength})
		mu.Lock()
		f.Write(append(line, '\n'))
		mu.Unlock()
		io.WriteString(w, recordedReply)
	})}
	ln, err := net.Listen("tcp", srv.Addr)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	go func() {
		<-ctx.Done()
		srv.Close()
	}()
	if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return 0
}

// readRecorded returns every request the recording workers in dir saw.
func readRecorded(t *testing.T, dir string) []recorded {
	t.Helper()
	logs, err := filepath.Glob(filepath.Join(dir, "worker-*.log"))
	if err != nil || len(logs) == 0 {
		t.Fatalf("no worker logs in %s (%v)", dir, err)
	}
	var all []recorded
	for _, p := range logs {
		f, err := os.Open(p)
		if err != nil {
			t.Fatal(err)
		}
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			var r recorded
			if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
				t.Fatalf("%s: %v", p, err)
			}
			all = append(all, r)
		}
		f.Close()
	}
	return all
}

// A scenario whose load is a vegeta targets file of POSTs with bodies to two endpoints is served
// exactly as written: the workers see those methods, paths, headers and bodies, in the
// proportions the file gives them (a target listed twice is sent twice as often), and the raw
// results name their step and count the bytes. Through each of bench's own balancer engines.
func TestRun_targetsFile(t *testing.T) {
	t.Parallel()
	for _, engine := range []string{"fast", "std"} {
		t.Run(engine, func(t *testing.T) {
			t.Parallel()
			runTargetsFile(t, engine)
		})
	}
}

func runTargetsFile(t *testing.T, engine string) {
	dir, rec := t.TempDir(), t.TempDir()
	files := map[string]string{
		"s.yaml": fmt.Sprintf(`
target:
  command: [%q]
  env: {%s: %q}
  ready_path: /ready
  path: /not-sent
workers: [2]
balancer: {engine: %s}
load:
  rates: [150]
  duration: 1s
  warmup: 0s
  targets: targets.txt
`, os.Args[0], recordEnv, rec, engine),
		"targets.txt": `POST http://localhost/orders
Content-Type: application/json
@order.json

POST http://localhost/orders
Content-Type: application/json
@order.json

POST http://localhost/payments?currency=eur
Content-Type: text/plain
@payment.txt
`,
		"order.json":  `{"item": 42, "qty": 2}`,
		"payment.txt": "pay 12.50",
	}
	sc := loadFiles(t, dir, files)
	sc.Load.NoiseThreshold = 1 // other tests share the machine: no step measured again
	raws := &rawBuffers{rows: map[int]*closingBuffer{}, ids: map[int]Step{}}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	res, err := Run(ctx, sc, Options{Raw: raws.open})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Steps) != 1 || res.Steps[0].Success != 1 {
		t.Fatalf("steps %+v, want one with every request answered", res.Steps)
	}
	st := res.Steps[0]

	seen := readRecorded(t, rec)
	if uint64(len(seen)) != st.Requests {
		t.Fatalf("workers saw %d requests, the step measured %d", len(seen), st.Requests)
	}
	order := recorded{"POST", "/orders", files["order.json"], "application/json", int64(len(files["order.json"]))}
	payment := recorded{"POST", "/payments?currency=eur", files["payment.txt"], "text/plain", int64(len(files["payment.txt"]))}
	var orders, payments int
	for _, r := range seen {
		switch r {
		case order:
			orders++
		case payment:
			payments++
		default:
			t.Fatalf("a worker saw a request not in the targets file: %+v", r)
		}
	}
	// The mix cycles through order, order, payment in some order: a partial cycle at most.
	if d := orders - 2*payments; d < -2 || d > 2 {
		t.Errorf("%d orders and %d payments, want 2:1 within one cycle", orders, payments)
	}

	b := raws.rows[1]
	if b == nil {
		t.Fatal("no raw results for row 1")
	}
	dec := vegeta.NewDecoder(&b.Buffer)
	var n uint64
	for {
		var r vegeta.Result
		if err := dec.Decode(&r); err == io.EOF {
			break
		} else if err != nil {
			t.Fatal(err)
		}
		n++
		wantOut := uint64(len(files["order.json"]))
		if strings.Contains(r.URL, "/payments") {
			wantOut = uint64(len(files["payment.txt"]))
		}
		if r.Attack != "step 1: 2 workers, round-robin, 150 rps" || r.BytesIn != uint64(len(recordedReply)) || r.BytesOut != wantOut {
			t.Fatalf("raw result %d: attack %q, %d bytes in, %d out; want the step's name, %d in, %d out",
				r.Seq, r.Attack, r.BytesIn, r.BytesOut, len(recordedReply), wantOut)
		}
	}
	if n != st.Requests {
		t.Errorf("%d raw results, %d requests", n, st.Requests)
	}
}

// Any mix a scenario accepts, the generator takes: one bound, written in both packages.
func TestMaxTotalWeight(t *testing.T) {
	if scenario.MaxTotalWeight > load.MaxMix {
		t.Errorf("scenario.MaxTotalWeight = %d, above load.MaxMix = %d", scenario.MaxTotalWeight, load.MaxMix)
	}
}
