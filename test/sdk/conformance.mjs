// Conformance of keel-llm-sim with the official SDKs: every answer it gives must be accepted
// and understood by `openai` and `@anthropic-ai/sdk`, streamed and not, with tools.
// Run by run.sh with KEEL_SIM_PORT (and KEEL_SIM_KEY, the key the sim requires) set.
import assert from 'node:assert/strict';
import OpenAI from 'openai';
import Anthropic from '@anthropic-ai/sdk';

const port = process.env.KEEL_SIM_PORT;
const key = process.env.KEEL_SIM_KEY ?? 'unused';
if (!port) {
  console.error('conformance.mjs: set KEEL_SIM_PORT to the port of a running keel-llm-sim');
  process.exit(2);
}
const base = `http://127.0.0.1:${port}`;
const openai = new OpenAI({ apiKey: key, baseURL: `${base}/v1`, maxRetries: 0, timeout: 10_000 });
const anthropic = new Anthropic({ apiKey: key, baseURL: base, maxRetries: 0, timeout: 10_000 });

const weatherOpenAi = {
  type: 'function',
  function: {
    name: 'get_weather',
    description: 'Current weather in a city',
    parameters: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] },
  },
};
const weatherAnthropic = {
  name: 'get_weather',
  description: 'Current weather in a city',
  input_schema: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] },
};
const askWeather = 'What is the weather? tool:get_weather {"city":"Oslo"}';
const tokens = (text) => Math.ceil([...text].length / 4);

async function admin(path, body) {
  const res = await fetch(`${base}${path}`, {
    method: body === undefined ? 'GET' : 'POST',
    headers: { 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  assert.equal(res.status, 200, `${path} answered ${res.status}: ${text}`);
  return JSON.parse(text);
}

// --- OpenAI ----------------------------------------------------------------------------------

async function openaiPlain() {
  const r = await openai.chat.completions.create({
    model: 'sim-large',
    messages: [{ role: 'user', content: 'hello sdk' }],
  });
  assert.match(r.id, /^chatcmpl-/);
  assert.equal(r.object, 'chat.completion');
  assert.equal(r.model, 'sim-large');
  assert.equal(r.choices[0].message.role, 'assistant');
  assert.equal(r.choices[0].message.content, 'echo: hello sdk');
  assert.equal(r.choices[0].finish_reason, 'stop');
  assert.deepEqual(r.usage, {
    prompt_tokens: tokens('hello sdk'),
    completion_tokens: tokens('echo: hello sdk'),
    total_tokens: tokens('hello sdk') + tokens('echo: hello sdk'),
  });
}

async function openaiTools() {
  const messages = [{ role: 'user', content: askWeather }];
  const r = await openai.chat.completions.create({
    model: 'sim-large', messages, tools: [weatherOpenAi],
  });
  const msg = r.choices[0].message;
  assert.equal(r.choices[0].finish_reason, 'tool_calls');
  assert.equal(msg.content, null);
  assert.equal(msg.tool_calls.length, 1);
  const call = msg.tool_calls[0];
  assert.match(call.id, /^call_/);
  assert.equal(call.type, 'function');
  assert.equal(call.function.name, 'get_weather');
  assert.deepEqual(JSON.parse(call.function.arguments), { city: 'Oslo' });
  messages.push(msg, { role: 'tool', tool_call_id: call.id, content: '{"temp_c":4}' });
  const r2 = await openai.chat.completions.create({
    model: 'sim-large', messages, tools: [weatherOpenAi],
  });
  assert.equal(r2.choices[0].message.content, 'Result: {"temp_c":4}');
  assert.equal(r2.choices[0].finish_reason, 'stop');
}

async function openaiStream() {
  const stream = await openai.chat.completions.create({
    model: 'sim-small',
    messages: [{ role: 'user', content: 'stream these words to me please' }],
    stream: true,
    stream_options: { include_usage: true },
  });
  let text = '';
  let chunks = 0;
  let finish = null;
  let usage = null;
  let id = null;
  for await (const chunk of stream) {
    assert.equal(chunk.object, 'chat.completion.chunk');
    id ??= chunk.id;
    assert.equal(chunk.id, id, 'every chunk carries the same id');
    if (chunk.usage) usage = chunk.usage;
    if (chunk.choices.length === 0) continue;
    chunks += 1;
    text += chunk.choices[0].delta.content ?? '';
    finish = chunk.choices[0].finish_reason ?? finish;
  }
  assert.equal(text, 'echo: stream these words to me please');
  assert.ok(chunks >= 5, `expected several content chunks, got ${chunks}`);
  assert.equal(finish, 'stop');
  assert.ok(usage, 'include_usage: a final chunk with usage');
  assert.equal(usage.completion_tokens, tokens(text));
}

async function openaiStreamTools() {
  const stream = await openai.chat.completions.create({
    model: 'sim-large',
    messages: [{ role: 'user', content: askWeather }],
    tools: [weatherOpenAi],
    stream: true,
  });
  const calls = [];
  let finish = null;
  for await (const chunk of stream) {
    assert.equal(chunk.usage ?? null, null, 'no usage without include_usage');
    const choice = chunk.choices[0];
    for (const d of choice.delta.tool_calls ?? []) {
      calls[d.index] ??= { id: '', name: '', arguments: '' };
      if (d.id) calls[d.index].id = d.id;
      if (d.function?.name) calls[d.index].name = d.function.name;
      calls[d.index].arguments += d.function?.arguments ?? '';
    }
    finish = choice.finish_reason ?? finish;
  }
  assert.equal(finish, 'tool_calls');
  assert.equal(calls.length, 1);
  assert.equal(calls[0].name, 'get_weather');
  assert.deepEqual(JSON.parse(calls[0].arguments), { city: 'Oslo' });
}

async function openaiStreamHelper() {
  // The SDK's own accumulator (ChatCompletionStream) must rebuild the same completion.
  const runner = openai.chat.completions.stream({
    model: 'sim-large',
    messages: [{ role: 'user', content: askWeather }],
    tools: [weatherOpenAi],
    stream_options: { include_usage: true },
  });
  const final = await runner.finalChatCompletion();
  const call = final.choices[0].message.tool_calls[0];
  assert.equal(call.function.name, 'get_weather');
  assert.deepEqual(JSON.parse(call.function.arguments), { city: 'Oslo' });
  assert.equal(final.choices[0].finish_reason, 'tool_calls');
  assert.ok(final.usage.total_tokens > 0);
  const text = openai.chat.completions.stream({
    model: 'sim-large', messages: [{ role: 'user', content: 'accumulate me' }],
  });
  assert.equal(await text.finalContent(), 'echo: accumulate me');
}

async function openaiErrors() {
  await admin('/admin/faults', { 'sim-large': { fail_next: 1, fail_status: 503 } });
  await assert.rejects(
    openai.chat.completions.create({ model: 'sim-large', messages: [{ role: 'user', content: 'x' }] }),
    (e) => e instanceof OpenAI.InternalServerError && e.status === 503);
  await admin('/admin/faults', { 'sim-large': { rate_limit_next: 1, retry_after: '2s' } });
  await assert.rejects(
    openai.chat.completions.create({ model: 'sim-large', messages: [{ role: 'user', content: 'x' }] }),
    (e) => e instanceof OpenAI.RateLimitError && e.headers.get('retry-after') === '2' &&
      e.error?.code === 'rate_limit_exceeded');
  await admin('/admin/faults', { 'sim-large': { spend_limit: true } });
  await assert.rejects(
    openai.chat.completions.create({ model: 'sim-large', messages: [{ role: 'user', content: 'x' }] }),
    (e) => e instanceof OpenAI.RateLimitError && e.error?.code === 'insufficient_quota');
  await admin('/admin/faults', {});
  const wrongKey = new OpenAI({ apiKey: 'wrong', baseURL: `${base}/v1`, maxRetries: 0 });
  await assert.rejects(
    wrongKey.chat.completions.create({ model: 'sim-large', messages: [{ role: 'user', content: 'x' }] }),
    (e) => e instanceof OpenAI.AuthenticationError);
  await assert.rejects(
    openai.chat.completions.create({ model: 'sim-large', messages: [] }),
    (e) => e instanceof OpenAI.BadRequestError && /messages/.test(e.message));
}

async function openaiModels() {
  const ids = [];
  for await (const m of openai.models.list()) ids.push(m.id);
  assert.ok(ids.includes('sim-large') && ids.includes('sim-small'), `models: ${ids}`);
}

// --- Anthropic -------------------------------------------------------------------------------

async function anthropicPlain() {
  const m = await anthropic.messages.create({
    model: 'sim-large',
    max_tokens: 100,
    system: 'You are terse.',
    messages: [{ role: 'user', content: 'hello claude' }],
  });
  assert.match(m.id, /^msg_/);
  assert.equal(m.type, 'message');
  assert.equal(m.role, 'assistant');
  assert.equal(m.model, 'sim-large');
  assert.deepEqual(m.content, [{ type: 'text', text: 'echo: hello claude' }]);
  assert.equal(m.stop_reason, 'end_turn');
  assert.equal(m.stop_sequence, null);
  assert.equal(m.usage.input_tokens, tokens('You are terse.hello claude'));  // system counts
  assert.equal(m.usage.output_tokens, tokens('echo: hello claude'));
}

async function anthropicTools() {
  const messages = [{ role: 'user', content: askWeather }];
  const m = await anthropic.messages.create({
    model: 'sim-large', max_tokens: 200, messages, tools: [weatherAnthropic],
  });
  assert.equal(m.stop_reason, 'tool_use');
  const use = m.content.find((b) => b.type === 'tool_use');
  assert.ok(use, `a tool_use block in ${JSON.stringify(m.content)}`);
  assert.match(use.id, /^toolu_/);
  assert.equal(use.name, 'get_weather');
  assert.deepEqual(use.input, { city: 'Oslo' });
  messages.push({ role: 'assistant', content: m.content });
  messages.push({
    role: 'user',
    content: [{ type: 'tool_result', tool_use_id: use.id, content: 'rain, 4C' }],
  });
  const m2 = await anthropic.messages.create({
    model: 'sim-large', max_tokens: 200, messages, tools: [weatherAnthropic],
  });
  assert.deepEqual(m2.content, [{ type: 'text', text: 'Result: rain, 4C' }]);
  assert.equal(m2.stop_reason, 'end_turn');
}

async function anthropicStreamHelper() {
  const stream = anthropic.messages.stream({
    model: 'sim-small',
    max_tokens: 200,
    messages: [{ role: 'user', content: 'stream these words to me please' }],
  });
  let text = '';
  let deltas = 0;
  stream.on('text', (t) => {
    text += t;
    deltas += 1;
  });
  const final = await stream.finalMessage();
  assert.equal(text, 'echo: stream these words to me please');
  assert.ok(deltas >= 5, `expected several text deltas, got ${deltas}`);
  assert.deepEqual(final.content, [{ type: 'text', text }]);
  assert.equal(final.stop_reason, 'end_turn');
  assert.equal(final.usage.output_tokens, tokens(text));
  assert.ok(final.usage.input_tokens > 0);
}

async function anthropicStreamTools() {
  const stream = anthropic.messages.stream({
    model: 'sim-large',
    max_tokens: 200,
    messages: [{ role: 'user', content: askWeather }],
    tools: [weatherAnthropic],
  });
  let json = '';
  stream.on('inputJson', (partial) => { json += partial; });
  const final = await stream.finalMessage();
  assert.equal(final.stop_reason, 'tool_use');
  const use = final.content.find((b) => b.type === 'tool_use');
  assert.ok(use, `a tool_use block in ${JSON.stringify(final.content)}`);
  assert.equal(use.name, 'get_weather');
  assert.deepEqual(use.input, { city: 'Oslo' });
  assert.deepEqual(JSON.parse(json), { city: 'Oslo' });
}

async function anthropicRawStream() {
  const stream = await anthropic.messages.create({
    model: 'sim-large',
    max_tokens: 200,
    stream: true,
    messages: [{ role: 'user', content: 'raw events' }],
  });
  const types = [];
  let text = '';
  for await (const ev of stream) {
    if (types.at(-1) !== ev.type) types.push(ev.type);
    if (ev.type === 'content_block_delta' && ev.delta.type === 'text_delta') text += ev.delta.text;
  }
  assert.equal(text, 'echo: raw events');
  assert.deepEqual(types, ['message_start', 'content_block_start', 'content_block_delta',
    'content_block_stop', 'message_delta', 'message_stop']);
}

async function anthropicErrors() {
  await admin('/admin/faults', { 'sim-large': { fail_next: 1, fail_status: 529 } });
  await assert.rejects(
    anthropic.messages.create({ model: 'sim-large', max_tokens: 10, messages: [{ role: 'user', content: 'x' }] }),
    (e) => e instanceof Anthropic.APIError && e.status === 529 &&
      e.error?.error?.type === 'overloaded_error');
  await admin('/admin/faults', { 'sim-large': { rate_limit_next: 1 } });
  await assert.rejects(
    anthropic.messages.create({ model: 'sim-large', max_tokens: 10, messages: [{ role: 'user', content: 'x' }] }),
    (e) => e instanceof Anthropic.RateLimitError && e.error?.error?.type === 'rate_limit_error');
  await admin('/admin/faults', { 'sim-large': { spend_limit: true } });
  await assert.rejects(
    anthropic.messages.create({ model: 'sim-large', max_tokens: 10, messages: [{ role: 'user', content: 'x' }] }),
    (e) => e instanceof Anthropic.BadRequestError && /credit balance is too low/.test(e.message));
  await admin('/admin/faults', {});
  const wrongKey = new Anthropic({ apiKey: 'wrong', baseURL: base, maxRetries: 0 });
  await assert.rejects(
    wrongKey.messages.create({ model: 'sim-large', max_tokens: 10, messages: [{ role: 'user', content: 'x' }] }),
    (e) => e instanceof Anthropic.AuthenticationError);
  await assert.rejects(
    anthropic.messages.create({ model: 'sim-large', messages: [{ role: 'user', content: 'x' }] }),
    (e) => e instanceof Anthropic.BadRequestError && /max_tokens/.test(e.message));
}

async function accounting() {
  const stats = await admin('/admin/stats');
  assert.ok(stats.models['sim-large'].requests > 0);
  assert.ok(stats.models['sim-small'].by_status['200'] >= 2);
  const requests = await admin('/admin/requests');
  assert.ok(requests.some((r) => r.api === 'openai') && requests.some((r) => r.api === 'anthropic'));
}

const cases = [
  ['openai: create', openaiPlain],
  ['openai: create with tools and a tool result', openaiTools],
  ['openai: stream with include_usage', openaiStream],
  ['openai: stream with tool calls', openaiStreamTools],
  ['openai: chat.completions.stream helper', openaiStreamHelper],
  ['openai: errors (503, 429 + Retry-After, quota, 401, 400)', openaiErrors],
  ['openai: models.list', openaiModels],
  ['anthropic: create', anthropicPlain],
  ['anthropic: create with tools and a tool_result', anthropicTools],
  ['anthropic: messages.stream + finalMessage', anthropicStreamHelper],
  ['anthropic: messages.stream with tool_use', anthropicStreamTools],
  ['anthropic: create stream:true events', anthropicRawStream],
  ['anthropic: errors (529, 429, credit, 401, 400)', anthropicErrors],
  ['sim: accounting of the above', accounting],
];

let failed = 0;
for (const [name, fn] of cases) {
  try {
    await fn();
    console.log(`ok   ${name}`);
  } catch (e) {
    failed += 1;
    console.error(`FAIL ${name}\n     ${(e && e.stack) || e}`);
  }
}
if (failed > 0) {
  console.error(`${failed} of ${cases.length} SDK conformance checks failed`);
  process.exit(1);
}
console.log(`all ${cases.length} SDK conformance checks passed`);
