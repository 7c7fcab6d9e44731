// Shared helpers for the server integration tests: start `qwen3guard serve` on a free
// loopback port (--port 0 --port-file), wait for /health, raw HTTP requests, the
// classify CLI, check() bookkeeping. Every wait is bounded.
import { spawn, execFile } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';

// Bitwise comparisons (server vs classify, concurrent vs sequential) need kernels whose
// per-row results do not depend on the batch: the scalar path is that today; AVX2 will be
// once dev/kernels' batch-invariant matmul is merged (then drop this default).
export const env = { ...process.env, QG_FORCE_ISA: process.env.QG_FORCE_ISA ?? 'scalar' };

export const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'qg-server-'));
let failures = 0, passes = 0;
const T0 = Date.now();

export function check(cond, what, detail) {
  if (cond) { passes++; console.log(`ok: ${what} [${((Date.now() - T0) / 1000).toFixed(1)} s]`); }
  else { failures++; console.log(`FAIL: ${what}${detail !== undefined ? ': ' + (typeof detail === 'string' ? detail : JSON.stringify(detail)).slice(0, 2000) : ''}`); }
}
export function summary() {
  console.log(`${passes} passed, ${failures} failed`);
  return failures;
}
// Every server started here dies with the test, even when the test itself fails.
const children = new Set();
process.on('exit', () => { for (const c of children) if (c.exitCode === null) c.kill('SIGKILL'); });
for (const sig of ['SIGINT', 'SIGTERM']) process.on(sig, () => process.exit(1));
process.on('uncaughtException', (e) => { console.log(`FAIL: uncaught ${e.stack || e}`); process.exit(1); });

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

export async function startServer(bin, model, args = [], name = 'srv') {
  const portFile = path.join(tmp, `${name}.port`);
  const logFile = path.join(tmp, `${name}.log`);
  const log = fs.openSync(logFile, 'w');
  const proc = spawn(bin, ['serve', '--model', model, '--host', '127.0.0.1', '--port', '0', '--port-file', portFile,
    '--threads', '1', '--kv-cache-mb', '64', ...args], { stdio: ['ignore', log, log], env });
  children.add(proc);
  const exited = new Promise((resolve) => proc.on('exit', (code, signal) => { children.delete(proc); resolve({ code, signal }); }));
  const deadline = Date.now() + 30000;
  while (!fs.existsSync(portFile)) {
    if (Date.now() > deadline || proc.exitCode !== null) throw new Error(`${name} did not start: ${fs.readFileSync(logFile, 'utf8')}`);
    await sleep(20);
  }
  const port = Number(fs.readFileSync(portFile, 'utf8'));
  const url = `http://127.0.0.1:${port}`;
  while (true) {
    const r = await request(port, 'GET', '/health').catch(() => null);
    if (r && r.status === 200) break;
    if (Date.now() > deadline) throw new Error(`${name} never became healthy`);
    await sleep(20);
  }
  return { proc, port, url, exited, logFile, log: () => fs.readFileSync(logFile, 'utf8') };
}

// One HTTP request on a fresh connection. Resolves {status, headers, body}; rejects
// with the socket error (err.code: ECONNREFUSED, ECONNRESET, ...).
export function request(port, method, p, body, headers = {}, timeoutMs = 30000) {
  return new Promise((resolve, reject) => {
    const data = body === undefined ? undefined : (Buffer.isBuffer(body) ? body : Buffer.from(typeof body === 'string' ? body : JSON.stringify(body)));
    const h = { Connection: 'close', ...headers };
    if (data && !Object.keys(h).some((k) => k.toLowerCase() === 'content-type')) h['Content-Type'] = 'application/json';
    if (data) h['Content-Length'] = data.length;
    const req = http.request({ host: '127.0.0.1', port, method, path: p, headers: h, agent: false }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') }));
      res.on('error', reject);
    });
    req.setTimeout(timeoutMs, () => req.destroy(Object.assign(new Error('timeout'), { code: 'ETIMEDOUT' })));
    req.on('error', reject);
    if (data) req.write(data);
    req.end();
  });
}

// Raw bytes on a socket; resolves with whatever came back before the server closed
// (or after timeoutMs).
export function rawExchange(port, bytes, { timeoutMs = 5000, keepOpenMs = 0 } = {}) {
  return new Promise((resolve) => {
    const s = net.connect(port, '127.0.0.1');
    let got = '';
    const t0 = Date.now();
    const done = (why) => { clearTimeout(timer); s.destroy(); resolve({ text: got, why, ms: Date.now() - t0 }); };
    const timer = setTimeout(() => done('timeout'), timeoutMs);
    s.on('data', (d) => { got += d.toString('latin1'); });
    s.on('end', () => done('closed'));
    s.on('error', () => done('error'));
    s.on('connect', () => { if (bytes) s.write(bytes); if (keepOpenMs) setTimeout(() => {}, keepOpenMs); });
  });
}

export function run(cmd, args, input) {
  return new Promise((resolve) => {
    const p = execFile(cmd, args, { maxBuffer: 64 << 20, timeout: 60000, env }, (err, stdout, stderr) =>
      resolve({ code: err ? (err.code ?? 1) : 0, stdout, stderr }));
    if (input !== undefined) { p.stdin.write(input); p.stdin.end(); }
  });
}

export async function classifyJson(bin, model, conv, extra = []) {
  const f = path.join(tmp, `conv-${Math.random().toString(36).slice(2)}.json`);
  fs.writeFileSync(f, JSON.stringify(conv));
  const r = await run(bin, ['classify', '--model', model, '--threads', '1', '--json', '--messages', f, ...extra]);
  if (r.code !== 0) throw new Error(`classify failed: ${r.stderr}`);
  return JSON.parse(r.stdout);
}

export function rssKb(pid) {
  const m = fs.readFileSync(`/proc/${pid}/status`, 'utf8').match(/VmRSS:\s+(\d+) kB/);
  return m ? Number(m[1]) : -1;
}
