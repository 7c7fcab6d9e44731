// server_stream (golden): `qwen3guard serve` on a Qwen3Guard-Stream checkpoint (a
// random tiny one from tools/make_test_model.py --stream). Per-token verdicts from
// sessions fed in text chunks equal `qwen3guard stream --json` over the same text
// (an independent process and code path: the CLI feeds its own read sizes); reset,
// delete then append (404/410), malformed requests (4xx), Gen-only routes refused,
// /v1/moderations on the Stream model, metrics, and /health staying 200 throughout.
// Usage: node stream_test.mjs BIN MODEL_DIR
import fs from 'node:fs';
import path from 'node:path';
import { check, summary, startServer, request, run, tmp } from './harness.mjs';

const [bin, model] = process.argv.slice(2);
const srv = await startServer(bin, model, ['--max-stream-sessions', '4'], 'stream');
const post = (p, body) => request(srv.port, 'POST', p, body);
const J = (r) => { try { return JSON.parse(r.body); } catch { return null; } };
const health = async () => (await request(srv.port, 'GET', '/health')).status === 200;

const prompt = 'How do I bake bread? Привет, 世界!';
const response = 'First, mix flour and water. Затем подождите — 等一下 then bake at 220°C for 30 minutes. Done!';

// The oracle: the CLI over the same text (its own chunking).
const f = path.join(tmp, 'response.txt');
fs.writeFileSync(f, response);
const cli = await run(bin, ['stream', '--model', model, '--threads', '1', '--prompt', prompt, '--response-file', f, '--json', '--chunk', '7']);
check(cli.code === 0, 'stream CLI runs', cli.stderr);
const events = cli.stdout.trim().split('\n').map((l) => JSON.parse(l));
const cliPrompt = events.find((e) => e.event === 'prompt');
const cliTokens = events.filter((e) => e.event === 'token');
const strip = (o) => { const c = { ...o }; delete c.event; return c; };

// Open, append in uneven chunks, final.
let r = await post('/v1/stream/sessions', { prompt });
let o = J(r);
check(r.status === 200 && typeof o?.id === 'string', 'open a session', r.body);
check(JSON.stringify(o.prompt) === JSON.stringify(strip(cliPrompt)), 'prompt verdict equals the CLI', { srv: o.prompt, cli: cliPrompt });
const id = o.id;
const got = [];
const sizes = [1, 5, 2, 13, 3, 8, 1, 21];
let at = 0, k = 0;
const bytes = Buffer.from(response);
while (at < bytes.length) {  // byte-wise cuts: chunks may split a UTF-8 character? no: keep JSON strings valid
  let end = Math.min(bytes.length, at + sizes[k++ % sizes.length]);
  while (end < bytes.length && (bytes[end] & 0xc0) === 0x80) end++;  // a JSON string carries whole characters
  r = await post(`/v1/stream/sessions/${id}/append`, { text: bytes.subarray(at, end).toString('utf8') });
  o = J(r);
  if (r.status !== 200) { check(false, 'append a chunk', r.body); break; }
  got.push(...o.tokens);
  at = end;
}
r = await post(`/v1/stream/sessions/${id}/append`, { final: true });
o = J(r);
check(r.status === 200 && o.summary && typeof o.summary.response_tokens === 'number', 'final append gives a summary', r.body);
got.push(...(o.tokens || []));
check(got.length === cliTokens.length && got.length > 10, `as many tokens as the CLI (${got.length} vs ${cliTokens.length})`);
const diff = got.findIndex((t, i) => JSON.stringify(t) !== JSON.stringify(strip(cliTokens[i] || {})));
check(diff === -1, 'per-token verdicts equal `qwen3guard stream --json`', diff >= 0 ? { i: diff, srv: got[diff], cli: cliTokens[diff] } : undefined);
check(await health(), '/health 200 after a session');

// The SSE variant: the whole response in one append with "stream": true, "final": true;
// the token events equal the CLI's, then a summary, then [DONE].
{
  const sse = J(await post('/v1/stream/sessions', { prompt })).id;
  r = await post(`/v1/stream/sessions/${sse}/append`, { text: response, final: true, stream: true });
  const evs = r.body.split('\n\n').filter((e) => e.startsWith('data: ')).map((e) => e.slice(6));
  check(r.status === 200 && /text\/event-stream/.test(r.headers['content-type']) && evs.at(-1) === '[DONE]', 'SSE append: event stream ending [DONE]', r.body.slice(-300));
  const objs = evs.slice(0, -1).map((e) => JSON.parse(e));
  const toks = objs.filter((e) => e.token !== undefined);
  const d = toks.findIndex((t, i) => JSON.stringify(t) !== JSON.stringify(strip(cliTokens[i] || {})));
  check(toks.length === cliTokens.length && d === -1, 'SSE token events equal `qwen3guard stream --json`', { d, n: toks.length, srv: toks[d], cli: cliTokens[d] });
  check(objs.at(-1)?.summary?.response_tokens === o.summary.response_tokens, 'SSE summary event', objs.at(-1));
  await request(srv.port, 'DELETE', `/v1/stream/sessions/${sse}`);
}

// Reset: the same prompt verdict, then appending again scores from the start.
r = await post(`/v1/stream/sessions/${id}/reset`);
o = J(r);
check(r.status === 200 && JSON.stringify(o.prompt) === JSON.stringify(strip(cliPrompt)), 'reset answers the prompt verdict', r.body);
r = await post(`/v1/stream/sessions/${id}/append`, { text: response });
o = J(r);
check(r.status === 200 && o.tokens.length > 0 &&
      JSON.stringify(o.tokens[0]) === JSON.stringify(strip(cliTokens[0])), 'after reset the first token is scored as at first', r.body.slice(0, 400));

// token_ids appends, and their validation.
r = await post(`/v1/stream/sessions/${id}/append`, { token_ids: [1, 2, 3] });
check(r.status === 400 && /mixed/.test(r.body), 'token_ids into a text session: 400', r.body);
const idsSession = J(await post('/v1/stream/sessions', { prompt })).id;
r = await post(`/v1/stream/sessions/${idsSession}/append`, { token_ids: [1, 2, 3] });
check(r.status === 200 && J(r).tokens.filter((t) => !t.template).length === 3, 'append token_ids: 3 scored tokens', r.body);
for (const [what, body] of [
  ['id outside the vocabulary', { token_ids: [99999999] }], ['negative id', { token_ids: [-1] }],
  ['id too large for int32', { token_ids: [1e12] }], ['non-integer id', { token_ids: [1.5] }],
  ['text and token_ids', { text: 'a', token_ids: [1] }], ['text not a string', { text: 5 }], ['empty body', {}],
  ['too many ids', { token_ids: new Array(5000).fill(1) }]]) {
  r = await post(`/v1/stream/sessions/${id}/append`, body);
  check(r.status === 400 && J(r)?.error?.message, `400 for ${what}`, `${r.status} ${r.body.slice(0, 200)}`);
}
r = await post(`/v1/stream/sessions/${id}/append`, '{"text": ');
check(r.status === 400, '400 for malformed JSON', r.body);
for (const [what, body] of [['no prompt', {}], ['messages ending with assistant', { messages: [{ role: 'user', content: 'a' }, { role: 'assistant', content: 'b' }] }],
  ['prompt not a string', { prompt: 3 }], ['wrong model', { prompt: 'x', model: 'nope' }]]) {
  r = await post('/v1/stream/sessions', body);
  check(r.status >= 400 && r.status < 500, `4xx for open with ${what}`, `${r.status} ${r.body.slice(0, 200)}`);
}

// Delete, then append: gone.
r = await request(srv.port, 'DELETE', `/v1/stream/sessions/${id}`);
check(r.status === 200 && J(r).deleted === true, 'delete', r.body);
r = await post(`/v1/stream/sessions/${id}/append`, { text: 'more' });
check(r.status === 404 || r.status === 410, 'append after delete: 404/410', `${r.status} ${r.body}`);
r = await post(`/v1/stream/sessions/strm-1-0000000000000000/append`, { text: 'x' });
check(r.status === 404, 'forged id: 404', `${r.status} ${r.body}`);

await request(srv.port, 'DELETE', `/v1/stream/sessions/${idsSession}`);
// The session limit (4): a 5th open answers 429; closing frees a slot.
const ids = [];
for (let i = 0; i < 4; i++) ids.push(J(await post('/v1/stream/sessions', { messages: [{ role: 'user', content: `hi ${i}` }] })).id);
r = await post('/v1/stream/sessions', { prompt: 'one too many' });
check(r.status === 429, '429 beyond --max-stream-sessions', `${r.status} ${r.body}`);
for (const s of ids) await request(srv.port, 'DELETE', `/v1/stream/sessions/${s}`);
r = await post('/v1/stream/sessions', { prompt: 'again' });
check(r.status === 200, 'a slot frees after delete', r.body);

// Gen-only routes are refused clearly.
r = await post('/v1/chat/completions', { messages: [{ role: 'user', content: 'hi' }] });
check(r.status === 400 && /Stream/.test(r.body), 'chat completions: 400 on a Stream model', r.body);

// /v1/moderations with the Stream model.
r = await post('/v1/moderations', { input: prompt });
o = J(r);
check(r.status === 200 && o.results?.length === 1 && typeof o.results[0].flagged === 'boolean' &&
      o.results[0].qwen3guard?.risk_level === cliPrompt.risk_level, 'moderations on a Stream model (prompt)', r.body.slice(0, 600));
r = await post('/v1/moderations', { input: { prompt, response } });
o = J(r);
check(r.status === 200 && o.results?.[0]?.qwen3guard?.mode === 'response', 'moderations on a Stream model (response)', r.body.slice(0, 600));

// Metrics.
r = await request(srv.port, 'GET', '/metrics');
const m = (name) => Number((r.body.match(new RegExp(`^${name} (\\d+)`, 'm')) || [])[1]);
check(m('qwen3guard_stream_sessions_open') === 1, 'metrics: open sessions', r.body.match(/qwen3guard_stream[^\n]*/g));
check(m('qwen3guard_stream_tokens_scored_total') >= got.length, 'metrics: tokens scored');
check(/qwen3guard_stream_evictions_total 0/.test(r.body), 'metrics: evictions');
check(await health(), '/health 200 at the end');

// Sessions parked between appends are not pending work: with --health-stall-s 1 and an
// idle open session, /health stays 200 (SGLang's branch went wedged-but-green; the
// opposite failure, a stall alarm on idle clients, must not happen either).
const s2 = await startServer(bin, model, ['--health-stall-s', '1'], 'stall');
const sid = JSON.parse((await request(s2.port, 'POST', '/v1/stream/sessions', { prompt: 'hi' })).body).id;
await request(s2.port, 'POST', `/v1/stream/sessions/${sid}/append`, { text: 'Hello the' });
await new Promise((res) => setTimeout(res, 2500));
r = await request(s2.port, 'GET', '/health');
check(r.status === 200, '/health 200 with an idle parked session past --health-stall-s', r.body);
s2.proc.kill('SIGTERM');
await s2.exited;

srv.proc.kill('SIGTERM');
const ex = await srv.exited;
check(ex.code === 0, 'SIGTERM: clean exit', srv.log().slice(-1000));
process.exit(summary() ? 1 : 0);
