// One function per page: `render(params, data)` returns the page's HTML from the live model
// (and `data`, what the page's `load` fetched). A page with `load` is fetched on entry and,
// with `every` (ms), again while it is shown. Every value goes through `esc`.

import { model, TERMINAL, scalar, agentUrl, getJson } from './model.js';

export const esc = (v) => String(v ?? '').replace(/[&<>"']/g, (c) => ({
  '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;',
}[c]));
const num = (v, digits = 2) => (v === undefined || v === null || Number.isNaN(v) ? '' :
  Number(v).toLocaleString('en-US', { maximumFractionDigits: digits }));
const mb = (v) => (v >= 1024 ? `${num(v / 1024, 1)} GB` : `${num(v, 0)} MB`);
const bytes = (v) => (v >= 1 << 20 ? `${num(v / (1 << 20), 1)} MB` : v >= 1024 ? `${num(v / 1024, 1)} KB` : `${v} B`);
const time = (seconds) => (seconds ? new Date(seconds * 1000).toLocaleString() : '');
const nanos = (t) => (t?.nanoseconds ? time(t.nanoseconds / 1e9) : '');
const enc = encodeURIComponent;
const RESOURCES = ['cpus', 'mem', 'disk', 'gpus'];
const amount = (name, v) => (name === 'mem' || name === 'disk' ? mb(v) : num(v));

const table = (heads, rows, empty = 'none') => (rows.length === 0 ? `<p class="muted">${empty}</p>` :
  `<table><thead><tr>${heads.map((h) => (h.startsWith('#') ? `<th class="num">${esc(h.slice(1))}</th>` : `<th>${esc(h)}</th>`)).join('')}</tr></thead>
<tbody>${rows.join('\n')}</tbody></table>`);
const card = (n, label, id = '') => `<div class="card"${id ? ` id="${id}"` : ''}><div class="n">${esc(n)}</div><div class="l">${esc(label)}</div></div>`;
const state = (s) => `<span class="state ${esc(s)}">${esc(s)}</span>`;

const tasks = () => [...model.tasks.values()];
const active = (t) => !TERMINAL.has(t.state);
const lastStatus = (t) => (t.statuses?.length ? t.statuses[t.statuses.length - 1] : {});
const agentName = (id) => model.agents.get(id)?.agent_info?.hostname ?? id;
const frameworkName = (id) => (model.frameworks.get(id) ?? model.completedFrameworks.get(id))?.framework_info?.name ?? id;
const agentLink = (id) => `<a href="#/agents/${enc(id)}">${esc(agentName(id))}</a>`;
const frameworkLink = (id) => `<a href="#/frameworks/${enc(id)}">${esc(frameworkName(id))}</a>`;
// The sandbox of a task: Mesos' virtual path of its executor's latest run (a command task's
// executor has the task's id).
const sandboxHash = (t) => `#/sandbox/${enc(t.agent_id.value)}/${enc(t.framework_id.value)}/${enc(t.executor_id?.value ?? t.task_id.value)}`;

function taskRows(list) {
  return list.map((t) => {
    const s = lastStatus(t);
    const why = [s.reason, s.message].filter(Boolean).join(': ');
    return `<tr data-task="${esc(t.task_id.value)}"><td class="mono">${esc(t.task_id.value)}</td><td>${esc(t.name)}</td>
<td>${state(t.state)}</td><td class="reason">${esc(why)}</td><td>${frameworkLink(t.framework_id.value)}</td>
<td>${agentLink(t.agent_id.value)}</td><td class="num">${num(scalar(t.resources, 'cpus'))}</td>
<td class="num">${mb(scalar(t.resources, 'mem'))}</td><td><a class="sandbox" href="${sandboxHash(t)}">sandbox</a></td></tr>`;
  });
}
const TASK_HEADS = ['ID', 'Name', 'State', 'Reason', 'Framework', 'Agent', '#CPUs', '#Mem', ''];

// A table shows at most this many rows (the newest): a page of 100,000 rows would take the
// browser seconds to draw on every event.
const MAX_ROWS = 500;
const capped = (list) => (list.length > MAX_ROWS ? `<p class="muted">The newest ${MAX_ROWS} of ${list.length}.</p>` : '');

function taskTables(list) {
  const newest = (a, b) => (lastStatus(b).timestamp ?? 0) - (lastStatus(a).timestamp ?? 0);
  const act = list.filter(active).sort(newest);
  const done = list.filter((t) => !active(t)).sort(newest);
  return `<h2>Active tasks (${act.length})</h2><div id="active-tasks">${capped(act)}${table(TASK_HEADS, taskRows(act.slice(0, MAX_ROWS)), 'no active tasks')}</div>
<h2>Completed tasks (${done.length})</h2><div id="completed-tasks">${capped(done)}${table(TASK_HEADS, taskRows(done.slice(0, MAX_ROWS)), 'no completed tasks')}</div>`;
}

// #/ ----------------------------------------------------------------------------------------
export const overview = {
  load: () => getJson('/metrics/snapshot'),
  every: 5000,
  render(_params, metrics) {
    const m = model.master?.master_info;
    const counts = {};
    for (const t of tasks()) counts[t.state] = (counts[t.state] ?? 0) + 1;
    const agents = [...model.agents.values()];
    const live = tasks().filter(active);
    const rows = RESOURCES.map((r) => {
      const total = agents.reduce((s, a) => s + scalar(a.total_resources, r), 0);
      const used = live.reduce((s, t) => s + scalar(t.resources, r), 0);
      const revTotal = agents.reduce((s, a) => s + scalar(a.total_resources, r, true), 0);
      const revUsed = live.reduce((s, t) => s + scalar(t.resources, r, true), 0);
      const offered = metrics ? Math.max(0, (metrics[`allocator/mesos/resources/${r}/offered_or_allocated`] ?? 0)
        - (metrics[`master/${r}_used`] ?? 0)) : undefined;
      return `<tr><td>${r}</td><td class="num">${amount(r, total)}</td><td class="num">${amount(r, used)}</td>
<td class="num">${offered === undefined ? '' : amount(r, offered)}</td><td class="num">${amount(r, Math.max(0, total - used - (offered ?? 0)))}</td>
<td class="num">${amount(r, revTotal)}</td><td class="num">${amount(r, revUsed)}</td></tr>`;
    });
    const stateCards = ['TASK_STAGING', 'TASK_STARTING', 'TASK_RUNNING', 'TASK_KILLING', 'TASK_FINISHED',
      'TASK_KILLED', 'TASK_FAILED', 'TASK_LOST'].map((s) => card(counts[s] ?? 0, s.slice(5).toLowerCase()));
    return `<h1>Cluster</h1>
<dl><dt>Leader</dt><dd class="mono" id="leader">${esc(m ? `${m.hostname ?? m.address?.ip}:${m.port}` : '')}</dd>
<dt>Master id</dt><dd class="mono">${esc(m?.id)}</dd><dt>Version</dt><dd>${esc(m?.version)}</dd>
<dt>Started</dt><dd>${esc(time(model.master?.start_time))}</dd></dl>
<h2>At a glance</h2><div class="cards">${card(agents.length, 'agents', 'agents-count')}${card(model.frameworks.size, 'frameworks')}
${card(live.length, 'active tasks')}${card(metrics ? metrics['master/outstanding_offers'] ?? 0 : '', 'outstanding offers')}</div>
<h2>Tasks</h2><div class="cards">${stateCards.join('')}</div>
<h2>Resources</h2>${table(['Resource', '#Total', '#Used', '#Offered', '#Idle', '#Revocable total', '#Revocable used'], rows)}
<p class="muted">Totals and use follow the event stream; offers come from <code>/metrics/snapshot</code> every 5 s.</p>`;
  },
};

// #/agents, #/agents/ID ---------------------------------------------------------------------
// The stream has no event for a reservation, a volume or a drain (nor has Mesos'), so those
// come from `/master/slaves`, every 5 s.
const byId = (data) => new Map((data?.slaves ?? []).map((s) => [s.id, s]));
const agentState = (s) => {
  if (!s) return '';
  if (!s.deactivated) return '<span class="yes">active</span>';
  return `<span class="no">${esc(s.drain_info?.state?.toLowerCase() ?? 'deactivated')}</span>`;
};
const reservedText = (s) => Object.entries(s?.reserved_resources ?? {})
  .map(([role, q]) => `${role}: ${quantities(q)}`).join('; ');

export const agents = {
  load: () => getJson('/master/slaves'),
  every: 5000,
  render([id], data) {
    const slaves = byId(data);
    if (id) return agent(id, slaves.get(id));
    const live = tasks().filter(active);
    const rows = [...model.agents.values()].map((a) => {
      const aid = a.agent_info.id.value;
      const mine = live.filter((t) => t.agent_id.value === aid);
      const used = (r) => mine.reduce((s, t) => s + scalar(t.resources, r), 0);
      return `<tr data-agent="${esc(aid)}"><td><a href="#/agents/${enc(aid)}">${esc(a.agent_info.hostname)}</a></td>
<td class="mono">${esc(aid)}</td><td class="agent-state">${agentState(slaves.get(aid))}</td>
<td class="num">${num(used('cpus'))} / ${num(scalar(a.total_resources, 'cpus'))}</td>
<td class="num">${mb(used('mem'))} / ${mb(scalar(a.total_resources, 'mem'))}</td>
<td class="num">${mb(scalar(a.total_resources, 'disk'))}</td><td class="reserved">${esc(reservedText(slaves.get(aid)))}</td>
<td class="num">${mine.length}</td><td>${esc(nanos(a.registered_time))}</td></tr>`;
    });
    return `<h1>Agents (${model.agents.size})</h1>${table(['Host', 'ID', 'State', '#CPUs used / total', '#Mem used / total', '#Disk', 'Reserved', '#Tasks', 'Registered'], rows, 'no agents')}`;
  },
};

// One row per reserved resource of the agent: its role, reservation (outermost first) and
// persistent volume.
function reservationRows(slave) {
  const rows = [];
  for (const [role, list] of Object.entries(slave?.reserved_resources_full ?? {})) {
    for (const r of list) {
      const value = r.scalar ? amount(r.name, r.scalar.value) : (r.ranges?.range ?? []).map((x) => `${x.begin}-${x.end}`).join(', ');
      const how = (r.reservations ?? []).map((x) => `${x.type ?? 'DYNAMIC'} ${x.role}${x.principal ? ` by ${x.principal}` : ''}`).join(' / ');
      const p = r.disk?.persistence;
      const volume = p ? `${p.id} at ${r.disk.volume?.container_path ?? ''} (${r.disk.volume?.mode ?? 'RW'})` : '';
      rows.push(`<tr data-reserved="${esc(role)}"${p ? ` data-volume="${esc(p.id)}"` : ''}><td>${esc(role)}</td><td>${esc(r.name)}</td><td class="num">${esc(value)}</td>
<td>${esc(how)}</td><td class="volume">${esc(volume)}</td></tr>`);
    }
  }
  return rows;
}

function agent(id, slave) {
  const a = model.agents.get(id);
  if (!a) return `<h1>Agent</h1><p class="error">No agent ${esc(id)} (it may have been removed).</p>`;
  const res = RESOURCES.map((r) => `<tr><td>${r}</td><td class="num">${amount(r, scalar(a.total_resources, r))}</td>
<td class="num">${amount(r, scalar(a.allocated_resources, r))}</td><td class="num">${amount(r, scalar(a.total_resources, r, true))}</td></tr>`);
  const drain = slave?.drain_info;
  return `<h1>Agent ${esc(a.agent_info.hostname)}</h1>
<dl><dt>ID</dt><dd class="mono">${esc(id)}</dd><dt>Address</dt><dd class="mono">${esc(agentUrl(a))}</dd>
<dt>Version</dt><dd>${esc(a.version)}</dd><dt>Registered</dt><dd>${esc(nanos(a.registered_time))}</dd>
<dt>State</dt><dd class="agent-state">${slave ? agentState(slave) : '&hellip;'}${drain?.config?.mark_gone ? ' (marked gone once drained)' : ''}</dd></dl>
<h2>Resources</h2>${table(['Resource', '#Total', '#Allocated (at subscription)', '#Revocable'], res)}
<h2>Reservations and volumes</h2><div id="reservations">${slave ? table(['Role', 'Resource', '#Amount', 'Reservation', 'Volume'], reservationRows(slave), 'no reserved resources') : '<p class="muted">Loading&hellip;</p>'}</div>
${taskTables(tasks().filter((t) => t.agent_id.value === id))}`;
}

// #/frameworks, #/frameworks/ID -------------------------------------------------------------
export const frameworks = {
  render([id]) {
    if (id) return framework(id);
    const row = (f) => {
      const info = f.framework_info;
      const fid = info.id.value;
      const mine = tasks().filter((t) => t.framework_id.value === fid && active(t));
      return `<tr data-framework="${esc(fid)}"><td><a href="#/frameworks/${enc(fid)}">${esc(info.name)}</a></td>
<td class="mono">${esc(fid)}</td><td>${esc((info.roles ?? [info.role ?? '*']).join(', '))}</td><td>${esc(info.user)}</td>
<td>${f.active ? '<span class="yes">active</span>' : '<span class="no">inactive</span>'}${f.connected === false ? ' (disconnected)' : ''}</td>
<td class="num">${mine.length}</td><td class="num">${num(mine.reduce((s, t) => s + scalar(t.resources, 'cpus'), 0))}</td>
<td class="num">${mb(mine.reduce((s, t) => s + scalar(t.resources, 'mem'), 0))}</td><td>${esc(nanos(f.registered_time))}</td></tr>`;
    };
    const heads = ['Name', 'ID', 'Roles', 'User', 'State', '#Active tasks', '#CPUs', '#Mem', 'Registered'];
    return `<h1>Frameworks (${model.frameworks.size})</h1>${table(heads, [...model.frameworks.values()].map(row), 'no frameworks')}
<h2>Completed frameworks</h2>${table(heads, [...model.completedFrameworks.values()].map(row), 'none')}`;
  },
};

function framework(id) {
  const f = model.frameworks.get(id) ?? model.completedFrameworks.get(id);
  if (!f) return `<h1>Framework</h1><p class="error">No framework ${esc(id)}.</p>`;
  const info = f.framework_info;
  return `<h1>Framework ${esc(info.name)}</h1>
<dl><dt>ID</dt><dd class="mono">${esc(id)}</dd><dt>Roles</dt><dd>${esc((info.roles ?? [info.role ?? '*']).join(', '))}</dd>
<dt>User</dt><dd>${esc(info.user)}</dd><dt>Principal</dt><dd>${esc(info.principal)}</dd>
<dt>Hostname</dt><dd>${esc(info.hostname)}</dd><dt>Checkpoint</dt><dd>${esc(info.checkpoint ?? false)}</dd>
<dt>Failover timeout</dt><dd>${esc(info.failover_timeout ?? 0)} s</dd>
<dt>State</dt><dd>${f.active ? 'active' : 'inactive'}, ${f.connected ? 'connected' : 'disconnected'}</dd></dl>
${taskTables(tasks().filter((t) => t.framework_id.value === id))}`;
}

// #/tasks -----------------------------------------------------------------------------------
export const tasksPage = {
  render: () => `<h1>Tasks</h1>${taskTables(tasks())}`,
};

// #/roles -----------------------------------------------------------------------------------
const quantities = (q) => {
  if (!q) return '';
  if (Array.isArray(q)) return q.map((r) => `${r.name}: ${amount(r.name, r.scalar?.value)}`).join(', ');
  return Object.entries(q).filter(([, v]) => typeof v === 'number' && v !== 0).map(([k, v]) => `${k}: ${amount(k, v)}`).join(', ');
};
export const roles = {
  load: () => getJson('/master/roles'),
  every: 5000,
  render(_params, data) {
    if (!data) return '<h1>Roles</h1><p class="muted">Loading&hellip;</p>';
    const rows = (data.roles ?? []).map((r) => `<tr data-role="${esc(r.name)}"><td>${esc(r.name)}</td><td class="num">${num(r.weight)}</td>
<td>${esc(quantities(r.quota?.guarantee))}</td><td>${esc(quantities(r.quota?.limit))}</td>
<td>${esc(quantities(r.allocated))}</td><td>${esc(quantities(r.offered))}</td><td class="reserved">${esc(quantities(r.reserved))}</td>
<td>${(r.frameworks ?? []).map(frameworkLink).join(', ')}</td></tr>`);
    return `<h1>Roles</h1>${table(['Role', '#Weight', 'Quota guarantee', 'Quota limit', 'Allocated', 'Offered', 'Reserved', 'Frameworks'], rows, 'no roles yet')}
<p class="muted">From <code>/master/roles</code>, every 5 s.</p>`;
  },
};

// #/modules ---------------------------------------------------------------------------------
export const modules = {
  load: () => getJson('/master/modules'),
  every: 3000,
  render(_params, data) {
    if (!data) return '<h1>Modules</h1><p class="muted">Loading&hellip;</p>';
    const rows = (data.modules ?? []).map((m) => {
      const c = m.counters ?? {};
      const l = c.latency_us ?? {};
      const causes = Object.entries(c.faults_by_cause ?? {}).filter(([, n]) => n > 0).map(([k, n]) => `${k} ${n}`).join(', ');
      return `<tr data-module="${esc(m.name)}"><td>${esc(m.name)}${m.in_use ? ' <span class="yes">(allocating)</span>' : ''}</td>
<td>${esc(m.kind)}</td><td class="mono">${esc(m.world)}</td><td>${esc(m.failure_policy)}</td>
<td class="num calls">${num(c.calls, 0)}</td><td class="num faults">${num(c.faults, 0)}${causes ? ` <span class="muted">(${esc(causes)})</span>` : ''}</td>
<td class="num">${num(c.fallbacks, 0)}</td><td class="num">${num(c.instantiations, 0)}</td>
<td class="num">${num(l.p50, 1)}</td><td class="num">${num(l.p99, 1)}</td><td class="num">${num(l.max, 1)}</td></tr>`;
    });
    const shadows = (data.shadow_allocators ?? []).map((s) => `<tr><td>${esc(s.name)}</td><td>${esc(s.state)}</td>
<td class="num">${num(s.rounds, 0)}</td><td class="num">${num(s.rounds_differing, 0)}</td><td class="num">${num(s.faults, 0)}</td></tr>`);
    const history = (data.allocator_history ?? []).map((h) => `<tr><td class="mono">${esc(JSON.stringify(h))}</td></tr>`);
    return `<h1>Modules</h1>
<dl><dt>Allocator</dt><dd id="allocator">${esc(data.allocator)}</dd></dl>
<h2>Loaded in the master</h2>${table(['Name', 'Kind', 'World', 'Failure policy', '#Calls', '#Faults', '#Fallbacks', '#Instances', '#p50 µs', '#p99 µs', '#max µs'], rows, 'no modules loaded: the built-in native policies run')}
<h2>Shadow allocators</h2>${table(['Name', 'State', '#Rounds', '#Rounds differing', '#Faults'], shadows, 'none')}
<h2>Allocator history</h2>${table(['Change'], history, 'no swaps')}
<p class="muted">From <code>/master/modules</code>, every 3 s. An agent's modules are on its own <code>/metrics</code>.</p>`;
  },
};

// #/sandbox/AGENT/FRAMEWORK/EXECUTOR[/path], #/file/AGENT/FRAMEWORK/EXECUTOR/path ------------
// The browser reads the agent's /files directly (the agent answers them with CORS headers).
const TAIL = 64 * 1024;
function sandboxOf([agentId, frameworkId, executorId, ...rest]) {
  const a = model.agents.get(agentId);
  const root = `/frameworks/${frameworkId}/executors/${executorId}/runs/latest`;
  const rel = rest.join('/');
  return { a, agentId, base: `#/sandbox/${enc(agentId)}/${enc(frameworkId)}/${enc(executorId)}`,
    fileBase: `#/file/${enc(agentId)}/${enc(frameworkId)}/${enc(executorId)}`,
    rel, path: rel ? `${root}/${rel}` : root, url: a ? agentUrl(a) : null, executorId };
}
function crumbs(s) {
  const parts = s.rel ? s.rel.split('/') : [];
  const links = [`<a href="${s.base}">${esc(s.executorId)}</a>`];
  parts.forEach((p, i) => links.push(`<a href="${s.base}/${parts.slice(0, i + 1).map(enc).join('/')}">${esc(p)}</a>`));
  return `<p class="crumbs">Agent ${agentLink(s.agentId)} &middot; ${links.join(' / ')}</p>`;
}
const noAgent = (s) => `<h1>Sandbox</h1><p class="error">Agent ${esc(s.agentId)} is not registered: its files cannot be reached.</p>`;
const filesUrl = (s, op, extra = '') => `${s.url}/files/${op}?path=${enc(s.path)}${extra}`;

export const sandbox = {
  live: false,
  async load(params) {
    const s = sandboxOf(params);
    if (!s.url) return null;
    return getJson(filesUrl(s, 'browse'), `listing ${s.path} on ${s.url}`);
  },
  render(params, entries) {
    const s = sandboxOf(params);
    if (!s.url) return noAgent(s);
    if (!entries) return `<h1>Sandbox</h1>${crumbs(s)}<p class="muted">Loading&hellip;</p>`;
    const rows = [...entries].sort((x, y) => x.path.localeCompare(y.path)).map((e) => {
      const name = e.path.split('/').pop();
      const rel = s.rel ? `${s.rel}/${name}` : name;
      const relHash = rel.split('/').map(enc).join('/');
      const dir = e.mode?.startsWith('d');
      const open = dir ? `<a href="${s.base}/${relHash}">${esc(name)}/</a>` : `<a class="view" href="${s.fileBase}/${relHash}">${esc(name)}</a>`;
      const download = dir ? '' : `<a href="${esc(`${s.url}/files/download?path=${enc(`${s.path}/${name}`)}`)}" download="${esc(name)}">download</a>`;
      return `<tr data-file="${esc(name)}"><td class="mono">${esc(e.mode)}</td><td>${open}</td><td class="num">${bytes(e.size ?? 0)}</td>
<td>${esc(time(e.mtime))}</td><td>${download}</td></tr>`;
    });
    return `<h1>Sandbox</h1>${crumbs(s)}${table(['Mode', 'Name', '#Size', 'Modified', ''], rows, 'empty directory')}`;
  },
};

export const file = {
  live: false,
  async load(params) {
    const s = sandboxOf(params);
    if (!s.url) return null;
    const what = `reading ${s.path} on ${s.url}`;
    const size = (await getJson(filesUrl(s, 'read', '&offset=-1'), what)).offset ?? 0;
    const offset = Math.max(0, size - TAIL);
    const chunk = await getJson(filesUrl(s, 'read', `&offset=${offset}&length=${TAIL}`), what);
    return { size, offset, data: chunk.data ?? '' };
  },
  every: 5000,
  render(params, got) {
    const s = sandboxOf(params);
    if (!s.url) return noAgent(s);
    const head = `<h1>${esc(s.rel.split('/').pop())}</h1>${crumbs(s)}`;
    if (!got) return `${head}<p class="muted">Loading&hellip;</p>`;
    const note = got.offset > 0 ? `the last ${bytes(got.size - got.offset)} of ${bytes(got.size)}` : bytes(got.size);
    return `${head}<p class="muted">${esc(note)} &middot; <a href="${esc(filesUrl(s, 'download'))}" download>download</a> &middot; refreshed every 5 s</p>
<pre class="file" id="file-content">${esc(got.data)}</pre>`;
  },
};

