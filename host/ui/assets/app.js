// The UI's entry point: hash routing, drawing the current page, the status badge and the
// error banner, fetching and polling what a page loads. The pages are in pages.js, the live
// model and the event stream in model.js.

import { model, onChange, follow } from './model.js';
import * as pages from './pages.js';

const routes = {
  '': pages.overview,
  agents: pages.agents,
  frameworks: pages.frameworks,
  tasks: pages.tasksPage,
  roles: pages.roles,
  modules: pages.modules,
  sandbox: pages.sandbox,
  file: pages.file,
};

const main = document.getElementById('main');
const banner = document.getElementById('error');
const badge = document.getElementById('status');

// The current route: its page, its parameters, what its `load` returned and its last error.
let current = { name: null, page: null, params: [], data: undefined, error: null, timer: null, seq: 0 };

function parse() {
  const parts = location.hash.replace(/^#\/?/, '').split('/').filter((p) => p !== '').map(decodeURIComponent);
  const name = parts.length && routes[parts[0]] ? parts[0] : '';
  return { name, page: routes[name], params: name ? parts.slice(1) : [] };
}

// Draws the page (unless `chromeOnly`), then the banner, the badge and the navigation.
function draw(chromeOnly = false) {
  const { page, params, data, error } = current;
  if (!chromeOnly) {
    try {
      // A redraw keeps the reader's place: the window's and a file view's scroll.
      const pre = main.querySelector('pre');
      const preScroll = pre ? pre.scrollTop : 0;
      main.innerHTML = page.render(params, data);
      const after = main.querySelector('pre');
      if (after) after.scrollTop = preScroll;
    } catch (e) {
      main.innerHTML = '';
      showError(`This page could not be drawn: ${e.message}`);
      return;
    }
  }
  const messages = [];
  if (model.connection.state === 'down') messages.push(`Event stream: ${model.connection.message}`);
  if (error) messages.push(error);
  banner.textContent = messages.join('\n');
  banner.hidden = messages.length === 0;
  badge.textContent = model.connection.state;
  badge.className = `status ${model.connection.state}`;
  for (const a of document.querySelectorAll('nav a')) {
    a.classList.toggle('active', a.dataset.nav === (current.name === 'file' || current.name === 'sandbox' ? 'tasks' : current.name));
  }
}

function showError(text) {
  banner.textContent = text;
  banner.hidden = false;
}

// Redraws at most once per animation frame, however many events arrived.
let pending = false;
function schedule() {
  if (pending) return;
  pending = true;
  requestAnimationFrame(() => { pending = false; draw(); });
}

// A page that reads agents' files needs the model (the agents' addresses) before it loads.
let ready;
const subscribed = new Promise((resolve) => { ready = resolve; });

async function load(seq) {
  const { page, params } = current;
  try {
    if (page.live === false) await subscribed;
    const data = await page.load(params);
    if (seq !== current.seq) return;
    current.data = data;
    current.error = null;
  } catch (e) {
    if (seq !== current.seq) return;
    current.error = e.message;
  }
  schedule();
  if (page.every) current.timer = setTimeout(() => load(seq), page.every);
}

function route() {
  clearTimeout(current.timer);
  const { name, page, params } = parse();
  current = { name, page, params, data: undefined, error: null, timer: null, seq: current.seq + 1 };
  document.title = `Meseta${name ? ` · ${name}` : ''}`;
  draw();
  if (page.load) load(current.seq);
}

window.addEventListener('hashchange', route);
// Pages that follow the model redraw on every change; the sandbox pages redraw when they
// load (a redraw would lose the reader's place in a file), so a change only updates the badge.
onChange(() => {
  if (model.connection.state === 'live') ready();
  if (current.page?.live !== false) schedule(); else draw(true);
});
route();
follow();
