package experiment

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	vegeta "github.com/tsenart/vegeta/v12/lib"

	"github.com/bench-dev/bench/internal/scenario"
)

// realServer is a server users put behind bench, run as a command target: files written into a
// folder of its own, and the command (argv) that serves from it on $PORT.
type realServer struct {
	name    string
	program string // skipped when it is not installed
	files   map[string]string
	command func(dir string) []string
	body    string // what it answers GET / with
}

const indexHTML = "<!doctype html><title>bench</title><p>hello from a real server</p>\n"

var realServers = []realServer{
	{
		// What `python3 -m http.server` is: HTTP/1.0, a thread per connection, one request
		// per connection.
		name: "python http.server", program: "python3",
		files: map[string]string{"index.html": indexHTML},
		command: func(dir string) []string {
			return []string{"sh", "-c", `exec python3 -m http.server --bind 127.0.0.1 --directory "$0" "$PORT" 2>/dev/null`, dir}
		},
		body: indexHTML,
	},
	{
		// ThreadingHTTPServer speaking HTTP/1.1: keep-alive connections, a thread each.
		name: "python ThreadingHTTPServer HTTP/1.1", program: "python3",
		files: map[string]string{"index.html": indexHTML, "server.py": `import functools, http.server, os, sys

class Handler(http.server.SimpleHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def log_message(self, *args):
        pass

handler = functools.partial(Handler, directory=os.path.dirname(os.path.abspath(__file__)))
http.server.ThreadingHTTPServer(("127.0.0.1", int(os.environ["PORT"])), handler).serve_forever()
`},
		command: func(dir string) []string { return []string{"python3", filepath.Join(dir, "server.py")} },
		body:    indexHTML,
	},
	{
		name: "node http", program: "node",
		files: map[string]string{"server.js": `const http = require("http");
http.createServer((req, res) => {
  res.setHeader("Content-Type", "text/plain");
  res.end("hello from node\n");
}).listen(Number(process.env.PORT), "127.0.0.1");
`},
		command: func(dir string) []string { return []string{"node", filepath.Join(dir, "server.js")} },
		body:    "hello from node\n",
	},
	{
		// nginx with a config of its own per worker (the port is in the config), in the
		// foreground as one process, so that the cluster's SIGTERM stops it.
		name: "nginx", program: "nginx",
		files: map[string]string{"index.html": indexHTML, "nginx.conf.in": `daemon off;
master_process off;
worker_processes 1;
pid @DIR@/nginx-@INDEX@.pid;
error_log @DIR@/error-@INDEX@.log warn;
events { worker_connections 1024; }
http {
  access_log off;
  keepalive_requests 10; # closes each keep-alive connection after 10 requests, with Connection: close
  client_body_temp_path @DIR@/tmp-@INDEX@;
  proxy_temp_path @DIR@/tmp-@INDEX@;
  fastcgi_temp_path @DIR@/tmp-@INDEX@;
  uwsgi_temp_path @DIR@/tmp-@INDEX@;
  scgi_temp_path @DIR@/tmp-@INDEX@;
  server {
    listen 127.0.0.1:@PORT@;
    root @DIR@;
  }
}
`},
		command: func(dir string) []string {
			return []string{"sh", "-c", `set -e
conf="$0/nginx-$BENCH_WORKER_INDEX.conf"
sed -e "s|@DIR@|$0|g" -e "s|@PORT@|$PORT|g" -e "s|@INDEX@|$BENCH_WORKER_INDEX|g" "$0/nginx.conf.in" > "$conf"
exec nginx -p "$0" -c "$conf" -e "$0/error-$BENCH_WORKER_INDEX.log"`, dir}
		},
		body: indexHTML,
	},
}

// Real servers as targets, through each of bench's own balancer engines, at a moderate fixed
// rate: every request succeeds, with the whole body the server sent.
func TestRun_realServers(t *testing.T) {
	t.Parallel()
	for _, srv := range realServers {
		for _, engine := range []string{"fast", "std"} {
			t.Run(srv.name+"/"+engine, func(t *testing.T) {
				t.Parallel()
				if _, err := exec.LookPath(srv.program); err != nil {
					t.Skipf("%s is not installed: %v", srv.program, err)
				}
				dir := t.TempDir()
				for name, content := range srv.files {
					if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
						t.Fatal(err)
					}
				}
				var argv []string
				for _, a := range srv.command(dir) {
					argv = append(argv, fmt.Sprintf("%q", a))
				}
				sc, err := scenario.Parse("real.yaml", []byte(fmt.Sprintf(`
target:
  command: [%s]
  ready_path: /
  ready_timeout: 10s
workers: [2]
balancer: {engine: %s}
load:
  rates: [150]
  duration: 1s
  warmup: 0s
  timeout: 5s
`, strings.Join(argv, ", "), engine)))
				if err != nil {
					t.Fatal(err)
				}
				sc.Load.NoiseThreshold = 1 // other tests share the machine: no step measured again
				ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
				defer cancel()
				raws := &rawBuffers{rows: map[int]*closingBuffer{}, ids: map[int]Step{}}
				res, err := Run(ctx, sc, Options{Raw: raws.open})
				if err != nil {
					t.Fatal(err)
				}
				if len(res.Steps) != 1 {
					t.Fatalf("%d steps, want 1", len(res.Steps))
				}
				st := res.Steps[0]
				if st.Requests < 140 || st.Success != 1 {
					t.Errorf("%d requests, success %v, errors %v; want about 150, all successful", st.Requests, st.Success, st.Errors)
				}
				dec := vegeta.NewDecoder(&raws.rows[1].Buffer)
				for {
					var r vegeta.Result
					if err := dec.Decode(&r); err == io.EOF {
						break
					} else if err != nil {
						t.Fatal(err)
					}
					if r.Code != 200 || r.BytesIn != uint64(len(srv.body)) {
						t.Fatalf("request %d: status %d with %d body bytes, want 200 with %d", r.Seq, r.Code, r.BytesIn, len(srv.body))
					}
				}
			})
		}
	}
}
