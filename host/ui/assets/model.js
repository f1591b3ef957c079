// The live model of the cluster, kept from the master's operator event stream
// (POST /api/v1 {"type":"SUBSCRIBE"}: RecordIO records "<length>\n<json>"), and the fetch
// helpers every page uses. Nothing here touches the DOM: `onChange` tells app.js to redraw.

export const TERMINAL = new Set([
  'TASK_FINISHED', 'TASK_FAILED', 'TASK_KILLED', 'TASK_LOST', 'TASK_ERROR',
  'TASK_DROPPED', 'TASK_GONE', 'TASK_GONE_BY_OPERATOR',
]);

export const model = {
  agents: new Map(), // agent id -> v1 Agent
  frameworks: new Map(), // framework id -> v1 Framework
  completedFrameworks: new Map(),
  tasks: new Map(), // "<framework id>/<task id>" -> v1 Task (active and completed)
  master: null, // GET_MASTER's payload
  connection: { state: 'connecting', message: '' },
};

const listeners = [];
export function onChange(f) { listeners.push(f); }
function changed() { for (const f of listeners) f(); }

// A failed request, with a message a person can act on.
export class RequestError extends Error {
  constructor(what, status, body) {
    let hint = '';
    if (status === 401) hint = ': this endpoint needs credentials (reload the page to log in)';
    else if (status === 403) hint = ': the credentials given may not see this';
    else if (status === 0) hint = '';
    super(`${what} failed${status ? ` (HTTP ${status})` : ''}${hint}${body ? `: ${body.slice(0, 300)}` : ''}`);
    this.status = status;
  }
}

// GET `url`, parsed as JSON.
export async function getJson(url, what = `GET ${url}`) {
  let response;
  try {
    response = await fetch(url, { headers: { Accept: 'application/json' } });
  } catch (e) {
    throw new RequestError(`${what}: ${e.message}`, 0, '');
  }
  if (!response.ok) throw new RequestError(what, response.status, await response.text());
  return response.json();
}

// One synchronous v1 operator call.
export async function operatorCall(call) {
  const response = await fetch('/api/v1', {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', Accept: 'application/json' },
    body: JSON.stringify(call),
  });
  if (!response.ok) throw new RequestError(call.type, response.status, await response.text());
  return response.json();
}

export const key = (frameworkId, taskId) => `${frameworkId}/${taskId}`;
const taskKey = (t) => key(t.framework_id.value, t.task_id.value);

function reset(state) {
  model.agents.clear();
  model.frameworks.clear();
  model.completedFrameworks.clear();
  model.tasks.clear();
  for (const a of state.get_agents?.agents ?? []) model.agents.set(a.agent_info.id.value, a);
  const fs = state.get_frameworks ?? {};
  for (const f of fs.frameworks ?? []) model.frameworks.set(f.framework_info.id.value, f);
  for (const f of fs.completed_frameworks ?? []) model.completedFrameworks.set(f.framework_info.id.value, f);
  const ts = state.get_tasks ?? {};
  for (const list of [ts.completed_tasks, ts.unreachable_tasks, ts.tasks]) {
    for (const t of list ?? []) model.tasks.set(taskKey(t), t);
  }
}

// Applies one event of the stream to the model.
export function apply(event) {
  switch (event.type) {
    case 'SUBSCRIBED':
      reset(event.subscribed?.get_state ?? {});
      break;
    case 'TASK_ADDED': {
      const t = event.task_added.task;
      model.tasks.set(taskKey(t), t);
      break;
    }
    case 'TASK_UPDATED': {
      const u = event.task_updated;
      const k = key(u.framework_id.value, u.status.task_id.value);
      const t = model.tasks.get(k) ?? {
        task_id: u.status.task_id, framework_id: u.framework_id,
        agent_id: u.status.agent_id, name: u.status.task_id.value, resources: [], statuses: [],
      };
      t.state = u.state;
      t.statuses = [...(t.statuses ?? []), u.status].slice(-10);
      model.tasks.set(k, t);
      break;
    }
    case 'AGENT_ADDED': {
      const a = event.agent_added.agent;
      model.agents.set(a.agent_info.id.value, a);
      break;
    }
    case 'AGENT_REMOVED':
      model.agents.delete(event.agent_removed.agent_id.value);
      break;
    case 'FRAMEWORK_ADDED':
    case 'FRAMEWORK_UPDATED': {
      const f = (event.framework_added ?? event.framework_updated).framework;
      model.frameworks.set(f.framework_info.id.value, f);
      break;
    }
    case 'FRAMEWORK_REMOVED': {
      const info = event.framework_removed.framework_info;
      const f = model.frameworks.get(info.id.value) ?? { framework_info: info };
      model.frameworks.delete(info.id.value);
      model.completedFrameworks.set(info.id.value, { ...f, active: false, connected: false });
      break;
    }
    default: // HEARTBEAT and events this page does not show
      return false;
  }
  return true;
}

// Splits RecordIO: "<decimal length>\n<record>" repeated; lengths count bytes. Chunks are
// kept as they come and joined only once a whole record is there (SUBSCRIBED of a large
// cluster is megabytes, arriving in many chunks).
export class RecordIO {
  constructor() {
    this.chunks = [];
    this.size = 0;
    this.head = 0; // bytes of the current record's length line, 0 while unknown
    this.need = 0; // bytes of the length line and the record
    this.decoder = new TextDecoder();
  }

  flatten() {
    if (this.chunks.length !== 1) {
      const joined = new Uint8Array(this.size);
      let at = 0;
      for (const c of this.chunks) { joined.set(c, at); at += c.length; }
      this.chunks = [joined];
    }
    return this.chunks[0] ?? new Uint8Array(0);
  }

  push(chunk) {
    this.chunks.push(chunk);
    this.size += chunk.length;
    const records = [];
    for (;;) {
      if (this.head === 0) {
        const buffer = this.flatten();
        const nl = buffer.indexOf(10);
        if (nl < 0) {
          if (buffer.length > 20) throw new Error('malformed RecordIO: no length line');
          break;
        }
        const length = Number(this.decoder.decode(buffer.subarray(0, nl)));
        if (!Number.isInteger(length) || length < 0) throw new Error('malformed RecordIO length');
        this.head = nl + 1;
        this.need = nl + 1 + length;
      }
      if (this.size < this.need) break;
      const buffer = this.flatten();
      records.push(this.decoder.decode(buffer.subarray(this.head, this.need)));
      const rest = buffer.subarray(this.need);
      this.chunks = rest.length ? [rest] : [];
      this.size = rest.length;
      this.head = 0;
      this.need = 0;
    }
    return records;
  }
}

function setConnection(state, message = '') {
  model.connection = { state, message };
  changed();
}

// Subscribes and keeps subscribed: on an error or a silent stream, again after a backoff
// (1 s doubling to 30 s; reset once a stream delivered SUBSCRIBED).
export async function follow() {
  let backoff = 1000;
  for (;;) {
    try {
      model.master = (await operatorCall({ type: 'GET_MASTER' })).get_master;
      await stream(() => { backoff = 1000; });
      setConnection('down', 'the event stream ended; reconnecting');
    } catch (e) {
      setConnection('down', `${e.message}; retrying in ${Math.round(backoff / 1000)} s`);
    }
    await new Promise((r) => setTimeout(r, backoff));
    backoff = Math.min(backoff * 2, 30000);
    setConnection('connecting');
  }
}

async function stream(subscribed) {
  const controller = new AbortController();
  const response = await fetch('/api/v1', {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', Accept: 'application/json' },
    body: JSON.stringify({ type: 'SUBSCRIBE' }),
    signal: controller.signal,
  });
  if (!response.ok) throw new RequestError('SUBSCRIBE', response.status, await response.text());
  const reader = response.body.getReader();
  const framing = new RecordIO();
  // Heartbeats come every heartbeat_interval_seconds; five missed ones mean a dead stream.
  let silence = 75000;
  let watchdog = setTimeout(() => controller.abort(), silence);
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) return;
      clearTimeout(watchdog);
      watchdog = setTimeout(() => controller.abort(), silence);
      let redraw = false;
      for (const record of framing.push(value)) {
        const event = JSON.parse(record);
        if (event.type === 'SUBSCRIBED') {
          silence = 5000 * (event.subscribed.heartbeat_interval_seconds || 15) + 1000;
          subscribed();
          model.connection = { state: 'live', message: '' };
        }
        redraw = apply(event) || redraw;
      }
      if (redraw) changed();
    }
  } finally {
    clearTimeout(watchdog);
  }
}

// Resources -----------------------------------------------------------------------------

// The sum of the scalar `name` in a v1 resource list; `revocable` picks which kind.
export function scalar(resources, name, revocable = false) {
  let sum = 0;
  for (const r of resources ?? []) {
    if (r.name === name && r.scalar && Boolean(r.revocable) === revocable) sum += r.scalar.value;
  }
  return sum;
}

// `http://host:port` of an agent, from its pid `slave(1)@host:port`.
export function agentUrl(agent) {
  const pid = agent?.pid ?? '';
  const at = pid.indexOf('@');
  if (at >= 0) return `${location.protocol}//${pid.slice(at + 1)}`;
  const info = agent?.agent_info ?? {};
  return `${location.protocol}//${info.hostname}:${info.port ?? 5051}`;
}
