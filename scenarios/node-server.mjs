// A minimal Node.js service for `bench run scenarios/node.yaml`: one event loop per process,
// listening on 127.0.0.1:$PORT, burning COST_MS of CPU per request (default 2).
import { createServer } from 'node:http';

const port = Number(process.env.PORT);
const costMs = Number(process.env.COST_MS ?? 2);
const worker = `${process.env.BENCH_WORKER_INDEX ?? 0}/${process.pid}`;

function burn(ms) {
  const end = process.cpuUsage().user + ms * 1000;
  let x = 0;
  while (process.cpuUsage().user < end) {
    for (let i = 0; i < 1000; i++) x = (x * 1103515245 + 12345) | 0;
  }
  return x;
}

createServer((req, res) => {
  burn(costMs);
  res.writeHead(200, { 'Content-Type': 'text/plain', 'X-Worker': worker });
  res.end('ok\n');
}).listen(port, '127.0.0.1');

process.on('SIGTERM', () => process.exit(0));
