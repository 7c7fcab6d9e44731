#!/usr/bin/env node
// Load test for `qwen3guard serve` (loopback only, bounded): starts the server on a
// free port, then for each concurrency level runs that many closed-loop clients for a
// fixed time, each sending the next XSTest prompt to /v1/moderations (or
// /v1/chat/completions with --route chat), and reports throughput and latency
// percentiles. Only node's standard library: no npm packages needed.
//
//   node bench/serve_load.mjs --model /work/models/qwen3-0.6B-random-bf16 \
//       [--bin build/release/apps/qwen3guard/qwen3guard] [--levels 1,4,16] [--seconds 30] \
//       [--route moderations|chat] [--threads N] [--max-tokens 16] [-- extra serve flags]
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const args = process.argv.slice(2);
const dashdash = args.indexOf('--');
const extra = dashdash >= 0 ? args.splice(dashdash).slice(1) : [];
const opt = (name, def) => { const i = args.indexOf(`--${name}`); return i >= 0 ? args[i + 1] : def; };
const bin = opt('bin', path.join(here, '../build/release/apps/qwen3guard/qwen3guard'));
const model = opt('model');
const levels = opt('levels', '1,4,16').split(',').map(Number);
const seconds = Number(opt('seconds', '30'));
const route = opt('route', 'moderations');
const threads = opt('threads', '');
const maxTokens = Number(opt('max-tokens', '16'));
if (!model) { console.error('usage: serve_load.mjs --model DIR [...]'); process.exit(2); }

// XSTest prompts (shared/qwen3guard/datasets/xstest_prompts.csv, column "prompt").
function prompts() {
  const file = path.join(here, '../../shared/qwen3guard/datasets/xstest_prompts.csv');
  const text = fs.readFileSync(file, 'utf8');
  const rows = [];
  let row = [], field = '', q = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (q) { if (c === '"' && text[i + 1] === '"') { field += '"'; i++; } else if (c === '"') q = false; else field += c; }
    else if (c === '"') q = true;
    else if (c === ',') { row.push(field); field = ''; }
    else if (c === '\n') { row.push(field); rows.push(row); row = []; field = ''; }
    else if (c !== '\r') field += c;
  }
  const col = rows[0].indexOf('prompt');
  return rows.slice(1).map((r) => r[col]).filter(Boolean);
}

const agent = new http.Agent({ keepAlive: true, maxSockets: 64 });
function post(port, p, body) {
  return new Promise((resolve, reject) => {
    const data = Buffer.from(JSON.stringify(body));
    const req = http.request({ host: '127.0.0.1', port, method: 'POST', path: p, agent,
      headers: { 'Content-Type': 'application/json', 'Content-Length': data.length } }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode, body: Buffer.concat(chunks).toString() }));
    });
    req.setTimeout(600000, () => req.destroy(new Error('timeout')));
    req.on('error', reject);
    req.end(data);
  });
}

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'qg-load-'));
const portFile = path.join(tmp, 'port');
const serveArgs = ['serve', '--model', model, '--port', '0', '--port-file', portFile, '--max-queue', '1024',
  '--request-timeout-s', '600', ...(threads ? ['--threads', threads] : []), ...extra];
const srv = spawn(bin, serveArgs, { stdio: ['ignore', 'ignore', 'pipe'] });
let log = '';
srv.stderr.on('data', (d) => { log += d; });
const t0 = Date.now();
while (!fs.existsSync(portFile)) { if (Date.now() - t0 > 60000 || srv.exitCode !== null) { console.error(log); process.exit(1); } await new Promise((r) => setTimeout(r, 50)); }
const port = Number(fs.readFileSync(portFile, 'utf8'));
while (!/ready in/.test(log)) { if (Date.now() - t0 > 120000 || srv.exitCode !== null) { console.error(log); process.exit(1); } await new Promise((r) => setTimeout(r, 50)); }
const ready = (Date.now() - t0) / 1000;

const all = prompts();
let next = 0;
const body = () => {
  const p = all[next++ % all.length];
  return route === 'chat' ? { messages: [{ role: 'user', content: p }], temperature: 0, max_tokens: maxTokens } : { input: p };
};
const pathFor = route === 'chat' ? '/v1/chat/completions' : '/v1/moderations';
await post(port, pathFor, body());  // warm-up

const pct = (xs, p) => xs.length ? xs[Math.min(xs.length - 1, Math.floor(p / 100 * xs.length))] : NaN;
console.log(`qwen3guard serve load: ${model} route ${pathFor}, ${seconds} s per level, server ready in ${ready.toFixed(1)} s, ` +
  `${os.cpus().length} cores`);
console.log('clients  requests  errors  req/s   p50 ms   p90 ms   p99 ms');
const results = [];
for (const n of levels) {
  const lat = [];
  let errors = 0;
  const end = Date.now() + seconds * 1000;
  const start = Date.now();
  await Promise.all(Array.from({ length: n }, async () => {
    while (Date.now() < end) {
      const t = process.hrtime.bigint();
      const r = await post(port, pathFor, body()).catch(() => ({ status: 0 }));
      if (r.status === 200) lat.push(Number(process.hrtime.bigint() - t) / 1e6); else errors++;
    }
  }));
  const wall = (Date.now() - start) / 1000;
  lat.sort((a, b) => a - b);
  const row = { clients: n, requests: lat.length, errors, rps: lat.length / wall, p50: pct(lat, 50), p90: pct(lat, 90), p99: pct(lat, 99) };
  results.push(row);
  console.log(`${String(n).padStart(7)}  ${String(row.requests).padStart(8)}  ${String(errors).padStart(6)}  ${row.rps.toFixed(2).padStart(5)}  ` +
    `${row.p50.toFixed(0).padStart(7)}  ${row.p90.toFixed(0).padStart(7)}  ${row.p99.toFixed(0).padStart(7)}`);
}
srv.kill('SIGTERM');
await new Promise((r) => srv.on('exit', r));
fs.rmSync(tmp, { recursive: true, force: true });
agent.destroy();
if (opt('json')) fs.writeFileSync(opt('json'), JSON.stringify(results, null, 2));
