// Scale-out: 3 replicas of `qwen3guard serve` behind Debian's nginx on loopback, load
// from 16 clients, SIGTERM to one replica mid-load: 0 failed requests, the replica
// exits 0, and the others keep serving. nginx runs as the current user with a config
// in a temp folder (docs/deploy.md has the production version of this config).
//   node nginx_test.mjs QWEN3GUARD MODEL_DIR NGINX
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { spawn } from 'node:child_process';
import { check, summary, startServer, request, sleep, tmp } from './harness.mjs';

const [bin, model, nginxBin] = process.argv.slice(2);

function freePort() {
  return new Promise((resolve) => {
    const s = net.createServer();
    s.listen(0, '127.0.0.1', () => { const p = s.address().port; s.close(() => resolve(p)); });
  });
}

const replicas = [];
for (let i = 0; i < 3; i++) replicas.push(await startServer(bin, model, [], `replica${i}`));
const port = await freePort();
const dir = path.join(tmp, 'nginx');
fs.mkdirSync(path.join(dir, 'logs'), { recursive: true });
const conf = `
worker_processes 1;
pid ${dir}/nginx.pid;
error_log ${dir}/logs/error.log warn;
events { worker_connections 256; }
http {
  access_log ${dir}/logs/access.log;
  client_body_temp_path ${dir}/body; proxy_temp_path ${dir}/proxy; fastcgi_temp_path ${dir}/fastcgi;
  uwsgi_temp_path ${dir}/uwsgi; scgi_temp_path ${dir}/scgi;
  upstream qwen3guard {
${replicas.map((r) => `    server 127.0.0.1:${r.port} max_fails=1 fail_timeout=10s;`).join('\n')}
  }
  server {
    listen 127.0.0.1:${port};
    client_max_body_size 4m;
    location / {
      proxy_pass http://qwen3guard;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_buffering off;
      proxy_read_timeout 120s;
      # A replica that is shutting down refuses or resets new connections: try the next.
      # Moderations are idempotent, so POSTs may be retried too.
      proxy_next_upstream error timeout http_502 http_503 non_idempotent;
      proxy_next_upstream_tries 3;
    }
  }
}`;
fs.writeFileSync(path.join(dir, 'nginx.conf'), conf);
const ngx = spawn(nginxBin, ['-p', dir, '-c', path.join(dir, 'nginx.conf'), '-g', 'daemon off;'], { stdio: ['ignore', 'inherit', 'inherit'] });
process.on('exit', () => { if (ngx.exitCode === null) ngx.kill('SIGKILL'); });
const deadline = Date.now() + 10000;
while (!(await request(port, 'GET', '/health').then((r) => r.status === 200).catch(() => false))) {
  if (Date.now() > deadline) throw new Error('nginx did not come up: ' + fs.readFileSync(path.join(dir, 'logs/error.log'), 'utf8'));
  await sleep(50);
}

let ok = 0, failed = [], stop = false, afterKill = 0, killedAt = 0;
const loop = async (c) => {
  for (let k = 0; !stop; k++) {
    const r = await request(port, 'POST', '/v1/moderations', { input: `client ${c} message ${k}` }).catch((e) => ({ status: e.code }));
    if (r.status === 200 && JSON.parse(r.body).results.length === 1) { ok++; if (killedAt) afterKill++; } else failed.push(r.status);
  }
};
const clients = Array.from({ length: 16 }, (_, c) => loop(c));
await sleep(2000);
killedAt = Date.now();
replicas[1].proc.kill('SIGTERM');
const ex = await replicas[1].exited;
await sleep(2000);
stop = true;
await Promise.all(clients);

check(ex.code === 0, 'SIGTERMed replica exits 0', ex);
check(failed.length === 0 && ok > 20 && afterKill > 5,
  `3 replicas behind nginx, one SIGTERMed mid-load: ${ok} requests ok (${afterKill} after the SIGTERM), 0 failed`, { failed: failed.slice(0, 10), n: failed.length });
const served = replicas.map((r) => (r.log().match(/POST \/v1\/moderations 200/g) || []).length);
check(served.every((n) => n > 0) && served.reduce((a, b) => a + b, 0) === ok, `every replica served (${served.join(' / ')}), none answered twice`, served);

ngx.kill('SIGQUIT');
for (const r of [replicas[0], replicas[2]]) r.proc.kill('SIGTERM');
const codes = await Promise.all([replicas[0], replicas[2]].map((r) => r.exited));
check(codes.every((c) => c.code === 0), 'remaining replicas exit 0');
fs.rmSync(tmp, { recursive: true, force: true });
process.exit(summary() ? 1 : 0);
