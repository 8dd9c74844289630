// The shoal dashboard. It speaks only to the agent's REST API, with the
// bearer token the user typed (kept in sessionStorage, sent only in the
// Authorization header). Collections are listed once and then followed
// with watches streamed over fetch; a change re-renders only the table
// rows of the objects it touched, batched per animation frame.

const TOKEN_KEY = 'shoal.token';
const LOG_LINES = 5000; // lines kept in the log view
const EVENT_ROWS = 200; // newest events shown
const SLOW_REFRESH_MS = 15000; // node metrics and members (not watchable)

const $ = (id) => document.getElementById(id);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

let token = sessionStorage.getItem(TOKEN_KEY) || '';
let session = null; // {ac: AbortController, colls: {...}}

class AuthError extends Error {}
class Relist extends Error {}

// ---------- API ----------

function authHeaders(extra) {
  return Object.assign({ Authorization: 'Bearer ' + token, Accept: 'application/json' }, extra || {});
}

// api sends one request. Reads, and writes marked idempotent (sending
// them twice leaves the same state), are sent again when the network
// drops them.
async function api(path, { method = 'GET', body, contentType, signal, idempotent = false } = {}) {
  const headers = authHeaders(body === undefined ? {} : { 'Content-Type': contentType || 'application/json' });
  const init = {
    method, headers, signal, cache: 'no-store', credentials: 'omit',
    body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
  };
  let r;
  for (let attempt = 1; ; attempt++) {
    try {
      r = await fetch(path, init);
      break;
    } catch (e) {
      // A read that the network dropped (the browser aborts requests
      // when the host's addresses change) is tried again; a write is not.
      if ((method !== 'GET' && !idempotent) || attempt >= 3 || (signal && signal.aborted)) throw e;
      await sleep(200 * attempt);
    }
  }
  if (r.status === 401) {
    loggedOut('The server refused the token (401 Unauthorized): log in again.');
    throw new AuthError('unauthorized');
  }
  const text = await r.text();
  let data = null;
  try { data = text ? JSON.parse(text) : null; } catch { data = null; }
  if (!r.ok) {
    const err = new Error((data && data.message) || `${method} ${path}: HTTP ${r.status}`);
    err.status = r.status;
    throw err;
  }
  return data;
}

// readLines calls onLine for every line of a streamed answer.
async function readLines(resp, onLine) {
  const reader = resp.body.getReader();
  const dec = new TextDecoder();
  let buf = '';
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buf += dec.decode(value, { stream: true });
      let i;
      while ((i = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, i);
        buf = buf.slice(i + 1);
        onLine(line);
      }
    }
  } catch (e) {
    reader.cancel().catch(() => {}); // stop the stream a handler gave up on
    throw e;
  }
  buf += dec.decode();
  if (buf) onLine(buf);
}

const seg = encodeURIComponent;

// ---------- live collections ----------

// Collection holds the objects of one resource, listed then watched.
class Collection {
  constructor(name, path) {
    this.name = name;
    this.path = path;
    this.items = new Map();
    this.rv = '';
    this.synced = false;
    this.dirty = new Set();
    this.listeners = [];
    this.error = '';
  }

  key(o) { return (o.metadata.namespace || '') + '/' + o.metadata.name; }

  onChange(fn) { this.listeners.push(fn); }

  mark(k) {
    this.dirty.add(k);
    scheduleFlush();
  }

  flush() {
    if (this.dirty.size === 0) return;
    const keys = this.dirty;
    this.dirty = new Set();
    for (const fn of this.listeners) fn(keys);
  }

  async run(signal) {
    this.started = true;
    this.backoff = 500;
    while (!signal.aborted) {
      try {
        if (!this.rv) await this.list(signal);
        await this.watch(signal);
      } catch (e) {
        if (e instanceof AuthError || signal.aborted) return;
        if (e instanceof Relist) { this.rv = ''; continue; }
        this.error = e.message;
        if (e.status === 403) { // not for this token: say so once, do not hammer
          showBanner(`Your token may not list ${this.name}: ${e.message}`);
          this.synced = true;
          scheduleFlush();
          return;
        }
        setLive(false);
        await sleep(this.backoff);
        this.backoff = Math.min(this.backoff * 2, 10000);
      }
    }
  }

  async list(signal) {
    const list = await api(this.path, { signal });
    const fresh = new Map();
    for (const o of list.items || []) fresh.set(this.key(o), o);
    for (const k of this.items.keys()) if (!fresh.has(k)) this.dirty.add(k);
    for (const [k, o] of fresh) {
      const old = this.items.get(k);
      if (!old || old.metadata.resourceVersion !== o.metadata.resourceVersion) this.dirty.add(k);
    }
    this.items = fresh;
    this.rv = list.metadata.resourceVersion || '';
    if (!this.synced) performance.mark('shoal:listed:' + this.name);
    this.synced = true;
    scheduleFlush();
  }

  async watch(signal) {
    const sep = this.path.includes('?') ? '&' : '?';
    const url = `${this.path}${sep}watch=1&allowWatchBookmarks=true&resourceVersion=${seg(this.rv)}`;
    const r = await fetch(url, { headers: authHeaders(), signal, cache: 'no-store', credentials: 'omit' });
    if (r.status === 401) {
      loggedOut('The server refused the token (401 Unauthorized): log in again.');
      throw new AuthError('unauthorized');
    }
    if (r.status === 410 || r.status === 504) throw new Relist();
    if (!r.ok) {
      const err = new Error(`watch ${this.name}: HTTP ${r.status}`);
      err.status = r.status;
      throw err;
    }
    setLive(true);
    this.backoff = 500; // connected: the next break retries soon again
    performance.mark('shoal:watching:' + this.name);
    await readLines(r, (line) => {
      if (!line.trim()) return;
      const ev = JSON.parse(line);
      if (ev.type === 'ERROR') throw new Relist();
      const o = ev.object;
      if (o && o.metadata && o.metadata.resourceVersion) this.rv = o.metadata.resourceVersion;
      if (ev.type === 'BOOKMARK') return;
      const k = this.key(o);
      if (ev.type === 'DELETED') this.items.delete(k);
      else this.items.set(k, o);
      this.mark(k);
    });
  }
}

let flushScheduled = false;
function scheduleFlush() {
  if (flushScheduled) return;
  flushScheduled = true;
  // rAF batches a burst of events into one render; the timer covers a
  // hidden tab, where frames do not come.
  requestAnimationFrame(flushAll);
  setTimeout(flushAll, 250);
}

function flushAll() {
  if (!flushScheduled || !session) return;
  flushScheduled = false;
  for (const c of Object.values(session.colls)) c.flush();
  checkComplete();
}

// checkComplete marks the first moment every collection is listed and
// rendered: the browser test measures it.
function checkComplete() {
  if (!session || session.complete) return;
  if (!Object.values(session.colls).every((c) => c.synced || !c.started)) return;
  session.complete = true;
  performance.mark('shoal:complete');
  document.body.dataset.complete = '1';
}

// ---------- permissions ----------

// Permissions are asked with SelfSubjectAccessReviews, once per verb,
// resource and namespace; a button shows only once the answer is yes.
const perms = new Map();
let permsPending = 0;

function can(verb, resource, { group = '', sub = '', ns = '' } = {}) {
  const k = [verb, group, resource, sub, ns].join('|');
  const v = perms.get(k);
  if (v !== undefined) return v === true;
  perms.set(k, 'asking');
  permsPending++;
  document.body.dataset.perms = 'pending';
  const body = {
    apiVersion: 'authorization.k8s.io/v1', kind: 'SelfSubjectAccessReview',
    spec: { resourceAttributes: { verb, group, resource, subresource: sub, namespace: ns } },
  };
  api('/apis/authorization.k8s.io/v1/selfsubjectaccessreviews', { method: 'POST', body })
    .then((rev) => perms.set(k, !!(rev && rev.status && rev.status.allowed)))
    .catch(() => perms.set(k, false))
    .finally(() => {
      permsPending--;
      rerenderSoon();
    });
  return false;
}

let rerenderTimer = 0;
function rerenderSoon() {
  clearTimeout(rerenderTimer);
  rerenderTimer = setTimeout(() => {
    for (const t of tables()) t.refresh();
    // Ready once the answers are on the page (the rebuild may ask more).
    if (permsPending === 0) document.body.dataset.perms = 'ready';
  }, 30);
}

// ---------- helpers ----------

function el(tag, attrs, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k === 'class') e.className = v;
    else if (k === 'onclick') e.addEventListener('click', v);
    else if (k in e && k !== 'list') e[k] = v;
    else e.setAttribute(k, v);
  }
  for (const c of children) if (c !== undefined && c !== null) e.append(c);
  return e;
}

function td(label, content, cls) {
  return el('td', { 'data-label': label, class: cls }, content === undefined ? '' : content);
}

function age(ts) {
  if (!ts) return '';
  const s = Math.max(0, (Date.now() - Date.parse(ts)) / 1000);
  if (s < 120) return Math.floor(s) + 's';
  if (s < 7200) return Math.floor(s / 60) + 'm';
  if (s < 172800) return Math.floor(s / 3600) + 'h';
  return Math.floor(s / 86400) + 'd';
}

// quantity parses a Kubernetes quantity ("250m", "2", "512Mi", "1G").
function quantity(q) {
  if (q === undefined || q === null || q === '') return NaN;
  const m = /^([0-9.]+)([a-zA-Z]*)$/.exec(String(q));
  if (!m) return NaN;
  const mult = { '': 1, n: 1e-9, u: 1e-6, m: 1e-3, k: 1e3, K: 1e3, M: 1e6, G: 1e9, T: 1e12, P: 1e15,
    Ki: 1024, Mi: 1024 ** 2, Gi: 1024 ** 3, Ti: 1024 ** 4, Pi: 1024 ** 5 }[m[2]];
  return mult === undefined ? NaN : parseFloat(m[1]) * mult;
}

function bytes(n) {
  if (!isFinite(n)) return '?';
  const u = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let i = 0;
  while (n >= 1024 && i < u.length - 1) { n /= 1024; i++; }
  return (n >= 10 || i === 0 ? Math.round(n) : n.toFixed(1)) + ' ' + u[i];
}

function usage(used, cap, fmt) {
  if (!isFinite(cap)) return '';
  const txt = isFinite(used) ? `${fmt(used)} / ${fmt(cap)}` : fmt(cap);
  const wrap = el('span', {}, txt);
  if (isFinite(used) && cap > 0) {
    const pct = Math.round((100 * used) / cap);
    wrap.append(' ', el('meter', { min: 0, max: 100, value: pct, high: 85, title: pct + '%' }));
  }
  return wrap;
}

const cores = (n) => (n < 1 ? Math.round(n * 1000) + 'm' : n.toFixed(n < 10 ? 1 : 0));

function showBanner(msg, bad) {
  const b = $('banner');
  b.textContent = msg;
  b.className = 'banner' + (bad ? ' bad' : '');
  b.hidden = !msg;
}

function setLive(ok) {
  const l = $('live');
  l.hidden = false;
  l.classList.toggle('down', !ok);
  l.textContent = ok ? 'live' : 'reconnecting';
}

// act runs an action and shows its failure. The body's data-acts counts the
// actions started and data-act says how the last one ended, for whoever
// drives the page (the browser tests wait on them).
async function act(what, fn) {
  const body = document.body.dataset;
  body.acts = String(Number(body.acts || 0) + 1);
  body.act = `${what}: running`;
  try {
    await fn();
    showBanner('');
    body.act = `${what}: done`;
  } catch (e) {
    if (!(e instanceof AuthError)) showBanner(`${what} failed: ${e.message}`, true);
    body.act = `${what}: failed: ${e.message}`;
  }
}

let confirmResolve = null;
function confirmAction(text) {
  $('confirm-text').textContent = text;
  $('confirm').showModal();
  return new Promise((r) => { confirmResolve = r; });
}
function closeConfirm(ok) {
  $('confirm').close();
  if (confirmResolve) confirmResolve(ok);
  confirmResolve = null;
}

const nsFilter = () => $('ns').value;
const inNs = (o) => !nsFilter() || o.metadata.namespace === nsFilter();

// ---------- tables ----------

// Table keeps one row per object, in key order, and re-renders only the
// rows whose objects changed.
class Table {
  constructor(id, { sources, filter, fill, limit }) {
    this.tbody = $(id).tBodies[0];
    this.sources = sources; // [{coll, prefix}]
    this.filter = filter || (() => true);
    this.fill = fill;
    this.limit = limit || Infinity;
    this.rows = new Map(); // key -> tr
    this.order = []; // sorted keys shown
    for (const s of sources) s.coll.onChange((keys) => this.update(s, keys));
  }

  get visible() { return !this.tbody.closest('.view').hidden; }

  object(key) {
    for (const s of this.sources) {
      if (key.startsWith(s.prefix)) {
        const o = s.coll.items.get(key.slice(s.prefix.length));
        if (o) return { o, src: s };
      }
    }
    return null;
  }

  update(src, keys) {
    for (const k of keys) this.render(src.prefix + k);
    this.changed();
  }

  render(key) {
    const hit = this.object(key);
    let tr = this.rows.get(key);
    if (!hit || !this.filter(hit.o, hit.src)) {
      if (tr) {
        tr.remove();
        this.rows.delete(key);
        this.order.splice(this.index(key), 1);
      }
      return;
    }
    const fresh = !tr;
    const cells = this.fill(hit.o, hit.src);
    if (fresh) {
      tr = el('tr', { 'data-key': key });
      tr.replaceChildren(...cells);
    } else if (tr.children.length !== cells.length) {
      tr.replaceChildren(...cells);
    } else {
      // Replace only the cells that differ: a status change leaves the
      // action buttons (and a replica count being typed) alone.
      cells.forEach((c, i) => {
        const old = tr.children[i];
        if (old.outerHTML !== c.outerHTML) old.replaceWith(c);
      });
    }
    if (fresh) {
      const i = this.index(key);
      this.order.splice(i, 0, key);
      this.rows.set(key, tr);
      const next = this.rows.get(this.order[i + 1]);
      this.tbody.insertBefore(tr, next || null);
    }
  }

  // index is where key is, or goes, in order (binary search).
  index(key) {
    let lo = 0;
    let hi = this.order.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (this.order[mid] < key) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  // refresh renders every row again in place: only cells that differ are
  // replaced (a permission answer adds buttons, a typed count stays).
  refresh() {
    for (const s of this.sources) for (const k of s.coll.items.keys()) this.render(s.prefix + k);
    this.changed();
  }

  rebuild() {
    this.rows.clear();
    this.order = [];
    this.tbody.replaceChildren();
    for (const s of this.sources) for (const k of s.coll.items.keys()) this.render(s.prefix + k);
    this.changed();
  }

  changed() {}
}

let allTables = [];
const tables = () => allTables;

// ---------- views ----------

function podStatus(p) {
  if (p.metadata.deletionTimestamp) return ['Terminating', 'warn'];
  for (const c of (p.status && p.status.containerStatuses) || []) {
    const w = c.state && c.state.waiting;
    if (w && w.reason && w.reason !== 'ContainerCreating') return [w.reason, 'bad'];
    const t = c.state && c.state.terminated;
    if (t && p.status.phase === 'Running') return [t.reason || 'Terminated', 'warn'];
  }
  const phase = (p.status && p.status.phase) || 'Pending';
  const cls = { Running: 'ok', Succeeded: 'ok', Pending: 'warn', Failed: 'bad' }[phase] || '';
  return [phase, cls];
}

function podReady(p) {
  const cs = (p.status && p.status.containerStatuses) || [];
  const total = (p.spec.containers || []).length;
  return `${cs.filter((c) => c.ready).length}/${total}`;
}

const restarts = (p) => ((p.status && p.status.containerStatuses) || []).reduce((n, c) => n + (c.restartCount || 0), 0);

function nodeReady(n) {
  const c = ((n.status && n.status.conditions) || []).find((c) => c.type === 'Ready');
  return c && c.status === 'True';
}

// Workload rollout progress as [text, done, desired, state class].
function rollout(kind, o) {
  const s = o.status || {};
  const gen = (s.observedGeneration || 0) >= (o.metadata.generation || 0);
  switch (kind) {
    case 'Deployment': {
      const want = o.spec.replicas ?? 1;
      const done = gen && (s.updatedReplicas || 0) === want && (s.availableReplicas || 0) === want && (s.replicas || 0) === want;
      const txt = done ? 'complete' : `${s.updatedReplicas || 0}/${want} updated, ${s.availableReplicas || 0} available`;
      return [txt, s.readyReplicas || 0, want, done ? 'ok' : 'warn'];
    }
    case 'StatefulSet': {
      const want = o.spec.replicas ?? 1;
      const done = gen && (s.readyReplicas || 0) === want && (s.updatedReplicas ?? want) === want;
      return [done ? 'complete' : `${s.updatedReplicas || 0}/${want} updated`, s.readyReplicas || 0, want, done ? 'ok' : 'warn'];
    }
    case 'DaemonSet': {
      const want = s.desiredNumberScheduled || 0;
      const done = gen && (s.updatedNumberScheduled || 0) === want && (s.numberReady || 0) === want;
      return [done ? 'complete' : `${s.updatedNumberScheduled || 0}/${want} updated`, s.numberReady || 0, want, done ? 'ok' : 'warn'];
    }
    case 'Job': {
      const want = o.spec.completions ?? 1;
      const failed = ((s.conditions || []).find((c) => c.type === 'Failed' && c.status === 'True'));
      const done = (s.succeeded || 0) >= want;
      const txt = failed ? 'failed' : done ? 'complete' : `${s.active || 0} active`;
      return [txt, s.succeeded || 0, want, failed ? 'bad' : done ? 'ok' : 'warn'];
    }
  }
  return ['', 0, 0, ''];
}

const workloadPaths = {
  Deployment: ['apps', 'deployments'],
  StatefulSet: ['apps', 'statefulsets'],
  DaemonSet: ['apps', 'daemonsets'],
  Job: ['batch', 'jobs'],
};

function objPath(kind, ns, name) {
  const [group, res] = workloadPaths[kind];
  const base = group === 'apps' ? '/apis/apps/v1' : '/apis/batch/v1';
  return `${base}/namespaces/${seg(ns)}/${res}/${seg(name)}`;
}

const mergePatch = 'application/merge-patch+json';

function workloadActions(kind, o) {
  const ns = o.metadata.namespace;
  const name = o.metadata.name;
  const [group, res] = workloadPaths[kind];
  const out = [];
  if ((kind === 'Deployment' || kind === 'StatefulSet') && can('patch', res, { group, sub: 'scale', ns })) {
    const input = el('input', { type: 'number', min: 0, max: 1000, value: o.spec.replicas ?? 1, class: 'scale-input', 'aria-label': 'replicas', 'data-replicas': String(o.spec.replicas ?? 1) });
    out.push(input, el('button', {
      type: 'button', class: 'act-scale', onclick: () => act('scale', async () => {
        const n = Number(input.value);
        if (!Number.isInteger(n) || n < 0) throw new Error(`replicas must be a whole number 0 or more, not "${input.value}"`);
        await api(objPath(kind, ns, name) + '/scale', { method: 'PATCH', contentType: mergePatch, body: { spec: { replicas: n } }, idempotent: true });
      }),
    }, 'Scale'), ' ');
  }
  if (kind !== 'Job' && can('patch', res, { group, ns })) {
    out.push(el('button', {
      type: 'button', class: 'act-restart', onclick: () => act('restart', () =>
        api(objPath(kind, ns, name), { method: 'PATCH', contentType: mergePatch, idempotent: true, // one stamp, sent again as is
          body: { spec: { template: { metadata: { annotations: { 'kubectl.kubernetes.io/restartedAt': new Date().toISOString() } } } } } })),
    }, 'Restart'), ' ');
  }
  if (kind === 'Deployment' && can('update', res, { group, ns }) && can('list', 'replicasets', { group: 'apps', ns })) {
    out.push(el('button', { type: 'button', class: 'act-rollback', onclick: () => act('rollback', () => rollback(o)) }, 'Roll back'), ' ');
  }
  if (can('delete', res, { group, ns })) {
    out.push(el('button', {
      type: 'button', class: 'act-delete danger', onclick: async () => {
        if (!(await confirmAction(`Delete ${kind} ${ns}/${name} and its pods?`))) return;
        act('delete', () => api(objPath(kind, ns, name) + '?propagationPolicy=Background', { method: 'DELETE' }));
      },
    }, 'Delete'));
  }
  return out;
}

// rollback writes the template of the revision before the newest back
// into the Deployment, as `shoal rollout undo` does.
async function rollback(d) {
  const ns = d.metadata.namespace;
  const list = await api(`/apis/apps/v1/namespaces/${seg(ns)}/replicasets`);
  const rev = (rs) => Number((rs.metadata.annotations || {})['deployment.kubernetes.io/revision'] || 0);
  const sets = (list.items || [])
    .filter((rs) => (rs.metadata.ownerReferences || []).some((r) => r.uid === d.metadata.uid) && rev(rs) > 0)
    .sort((a, b) => rev(b) - rev(a));
  if (sets.length < 2) throw new Error(`no earlier revision of deployment ${d.metadata.name} to go back to`);
  const tmpl = sets[1].spec.template;
  if (tmpl.metadata && tmpl.metadata.labels) delete tmpl.metadata.labels['pod-template-hash'];
  // Written with the resourceVersion read; the controllers write the
  // Deployment's status too, so a conflict reads it again.
  for (let attempt = 1; ; attempt++) {
    const cur = await api(objPath('Deployment', ns, d.metadata.name));
    cur.spec.template = tmpl;
    try {
      await api(objPath('Deployment', ns, d.metadata.name), { method: 'PUT', body: cur });
      return;
    } catch (e) {
      // A conflict, or a PUT the network dropped: read again and rewrite
      // (writing the same template twice changes nothing).
      if ((e.status !== 409 && !(e instanceof TypeError)) || attempt >= 5) throw e;
    }
  }
}

function nodeActions(n) {
  const name = n.metadata.name;
  const out = [];
  if (!can('patch', 'nodes')) return out;
  const cordon = (on) => api(`/api/v1/nodes/${seg(name)}`, { method: 'PATCH', contentType: mergePatch, body: { spec: { unschedulable: on } }, idempotent: true });
  if (n.spec.unschedulable) out.push(el('button', { type: 'button', class: 'act-uncordon', onclick: () => act('uncordon', () => cordon(null)) }, 'Uncordon'), ' ');
  else out.push(el('button', { type: 'button', class: 'act-cordon', onclick: () => act('cordon', () => cordon(true)) }, 'Cordon'), ' ');
  if (can('create', 'pods', { sub: 'eviction' })) {
    out.push(el('button', {
      type: 'button', class: 'act-drain danger', onclick: async () => {
        if (!(await confirmAction(`Drain node ${name}? It is cordoned and its pods (but DaemonSets') are evicted.`))) return;
        act('drain', async () => {
          await cordon(true);
          const pods = [...session.colls.pods.items.values()].filter((p) => p.spec.nodeName === name &&
            !(p.metadata.ownerReferences || []).some((r) => r.kind === 'DaemonSet'));
          for (const p of pods) {
            const ns = p.metadata.namespace;
            await api(`/api/v1/namespaces/${seg(ns)}/pods/${seg(p.metadata.name)}/eviction`, {
              method: 'POST', body: { apiVersion: 'policy/v1', kind: 'Eviction', metadata: { name: p.metadata.name, namespace: ns } },
            });
          }
        });
      },
    }, 'Drain'));
  }
  return out;
}

function podActions(p) {
  const ns = p.metadata.namespace;
  const name = p.metadata.name;
  const out = [el('a', { href: `#/pod/${seg(ns)}/${seg(name)}`, class: 'act-logs' }, 'Logs'), ' '];
  if (can('delete', 'pods', { ns })) {
    out.push(el('button', {
      type: 'button', class: 'act-delete danger', onclick: async () => {
        if (!(await confirmAction(`Delete pod ${ns}/${name}?`))) return;
        act('delete', () => api(`/api/v1/namespaces/${seg(ns)}/pods/${seg(name)}`, { method: 'DELETE' }));
      },
    }, 'Delete'));
  }
  return out;
}

function buildTables(c) {
  const nodePods = new Map(); // node -> pod count, kept as pods change
  const podNode = new Map();
  c.pods.onChange((keys) => {
    const touched = new Set();
    for (const k of keys) {
      const before = podNode.get(k);
      const p = c.pods.items.get(k);
      const after = p && p.spec.nodeName;
      if (before === after) continue;
      if (before) { nodePods.set(before, (nodePods.get(before) || 1) - 1); touched.add('/' + before); }
      if (after) { nodePods.set(after, (nodePods.get(after) || 0) + 1); touched.add('/' + after); podNode.set(k, after); } else podNode.delete(k);
    }
    if (touched.size) nodes.update(nodes.sources[0], touched);
  });

  const nodes = new Table('nodes', {
    sources: [{ coll: c.nodes, prefix: '' }],
    fill: (n) => {
      const name = n.metadata.name;
      const alloc = (n.status && (n.status.allocatable || n.status.capacity)) || {};
      const m = session.nodeMetrics.get(name);
      const mem = session.members.items.find((x) => x.name === name);
      const ready = nodeReady(n);
      const status = el('span', { class: ready ? 'ok' : 'bad' }, ready ? 'Ready' : 'NotReady');
      const st = [status];
      if (n.spec.unschedulable) st.push(el('span', { class: 'warn' }, ', SchedulingDisabled'));
      if (session.members.leader === name) st.push(el('span', { class: 'chip' }, ' leader'));
      return [
        td('Name', name),
        td('Status', el('span', {}, ...st)),
        td('Member', mem ? el('span', { class: mem.state === 'alive' ? 'ok' : 'bad' }, mem.state) : ''),
        td('CPU', usage(m ? quantity(m.usage.cpu) : NaN, quantity(alloc.cpu), cores), 'num'),
        td('Memory', usage(m ? quantity(m.usage.memory) : NaN, quantity(alloc.memory), bytes), 'num'),
        td('Pods', `${nodePods.get(name) || 0} / ${alloc.pods || '?'}`, 'num'),
        td('Version', (n.status && n.status.nodeInfo && n.status.nodeInfo.kubeletVersion) || '', 'opt'),
        td('Actions', el('span', {}, ...nodeActions(n)), 'actions'),
      ];
    },
  });

  const workloads = new Table('workloads', {
    sources: Object.keys(workloadPaths).map((kind) => ({ coll: c[kind], prefix: kind + ':', kind })),
    filter: inNs,
    fill: (o, src) => {
      const [txt, done, want, cls] = rollout(src.kind, o);
      const project = (o.metadata.labels || {})['com.docker.compose.project'];
      const images = ((o.spec.template && o.spec.template.spec.containers) || []).map((x) => x.image).join(', ');
      return [
        td('Kind', src.kind),
        td('Namespace', project ? el('span', {}, o.metadata.namespace, ' ', el('span', { class: 'chip', title: 'compose project' }, 'compose')) : o.metadata.namespace),
        td('Name', o.metadata.name),
        td('Rollout', el('span', { class: cls }, el('progress', { max: Math.max(want, 1), value: done }), ' ', txt)),
        td('Ready', `${done}/${want}`, 'num'),
        td('Images', images, 'opt'),
        td('Actions', el('span', {}, ...workloadActions(src.kind, o)), 'actions'),
      ];
    },
  });

  const text = () => $('pod-filter').value.trim();
  const pods = new Table('pods', {
    sources: [{ coll: c.pods, prefix: '' }],
    filter: (p) => inNs(p) && (!text() || p.metadata.name.includes(text())),
    fill: (p) => {
      const [st, cls] = podStatus(p);
      const ns = p.metadata.namespace;
      return [
        td('Namespace', ns),
        td('Name', el('a', { href: `#/pod/${seg(ns)}/${seg(p.metadata.name)}` }, p.metadata.name)),
        td('Status', el('span', { class: 'pod-status ' + cls }, st)),
        td('Ready', podReady(p), 'num'),
        td('Restarts', String(restarts(p)), 'num'),
        td('Node', p.spec.nodeName || ''),
        td('IP', (p.status && p.status.podIP) || '', 'opt'),
        td('Age', age(p.metadata.creationTimestamp), 'num age'),
        td('Actions', el('span', {}, ...podActions(p)), 'actions'),
      ];
    },
  });
  pods.changed = () => { $('pod-count').textContent = `(${pods.order.length} shown of ${c.pods.items.size})`; };

  const services = new Table('services', {
    sources: [{ coll: c.services, prefix: '' }],
    filter: inNs,
    fill: (s) => {
      const ports = (s.spec.ports || []).map((p) => `${p.port}${p.targetPort && p.targetPort !== p.port ? '→' + p.targetPort : ''}/${p.protocol || 'TCP'}`).join(', ');
      const ep = c.endpoints.items.get(c.services.key(s));
      const addrs = [];
      for (const sub of (ep && ep.subsets) || []) {
        for (const a of sub.addresses || []) for (const p of sub.ports || [{}]) addrs.push(p.port ? `${a.ip}:${p.port}` : a.ip);
      }
      const notReady = ((ep && ep.subsets) || []).reduce((n, sub) => n + (sub.notReadyAddresses || []).length, 0);
      const shown = addrs.slice(0, 6).join(', ') + (addrs.length > 6 ? ` and ${addrs.length - 6} more` : '');
      return [
        td('Namespace', s.metadata.namespace),
        td('Name', s.metadata.name),
        td('Type', s.spec.type || 'ClusterIP'),
        td('Cluster IP', s.spec.clusterIP || '', 'opt'),
        td('Ports', ports),
        td('Endpoints', el('span', { class: addrs.length ? '' : 'warn' }, shown || '(none)', notReady ? ` (${notReady} not ready)` : '')),
      ];
    },
  });
  c.endpoints.onChange((keys) => services.update(services.sources[0], keys));

  allTables = [nodes, workloads, pods, services];
  session.tables = { nodes, workloads, pods, services };

  // Events: the newest EVENT_ROWS, rebuilt when shown (cheap at that size).
  c.events.onChange(() => { if (!$('view-events').hidden) renderEvents(); if (!$('view-pod').hidden) renderPod(); });
  c.pods.onChange((keys) => { if (!$('view-pod').hidden && session.pod && keys.has(session.pod.key)) renderPod(); });
  c.namespaces.onChange(renderNamespaces);
}

const eventTime = (e) => e.lastTimestamp || e.eventTime || e.firstTimestamp || e.metadata.creationTimestamp || '';

function eventRows(list, withObject) {
  return list.map((e) => el('tr', {},
    td('Last seen', age(eventTime(e)), 'num'),
    td('Type', el('span', { class: e.type === 'Warning' ? 'warn' : '' }, e.type || '')),
    td('Reason', e.reason || ''),
    withObject ? td('Object', `${(e.involvedObject.kind || '').toLowerCase()}/${e.involvedObject.name || ''}`) : undefined,
    td('Message', e.message || '')));
}

function newestEvents(pred) {
  const list = [...session.colls.events.items.values()].filter(pred);
  list.sort((a, b) => (eventTime(b) > eventTime(a) ? 1 : eventTime(b) < eventTime(a) ? -1 : 0));
  return list.slice(0, EVENT_ROWS);
}

function renderEvents() {
  $('events').tBodies[0].replaceChildren(...eventRows(newestEvents(inNs), true));
}

function renderNamespaces() {
  const sel = $('ns');
  const cur = sel.value;
  const names = [...session.colls.namespaces.items.values()].map((n) => n.metadata.name).sort();
  sel.replaceChildren(el('option', { value: '' }, 'all namespaces'), ...names.map((n) => el('option', { value: n }, n)));
  sel.value = names.includes(cur) ? cur : '';
  const projects = [...session.colls.namespaces.items.values()].filter((n) => (n.metadata.labels || {})['com.docker.compose.project']);
  $('projects').replaceChildren(...(projects.length ? [el('span', { class: 'muted' }, 'Compose projects:')] : []),
    ...projects.map((n) => el('a', { href: '#/workloads', class: 'chip', 'data-ns': n.metadata.name, onclick: () => { $('ns').value = n.metadata.name; onFilter(); } }, n.metadata.name)));
}

// ---------- node metrics and members (not watchable: refreshed slowly) ----------

async function refreshSlow(signal) {
  while (!signal.aborted) {
    const [metrics, members] = await Promise.allSettled([
      api('/apis/metrics.k8s.io/v1beta1/nodes', { signal }),
      api('/shoal/v1/members', { signal }),
    ]);
    if (signal.aborted) return;
    if (metrics.status === 'fulfilled') session.nodeMetrics = new Map((metrics.value.items || []).map((m) => [m.metadata.name, m]));
    if (members.status === 'fulfilled') {
      session.members = members.value;
      renderMembers();
    }
    session.tables.nodes.refresh();
    await sleep(SLOW_REFRESH_MS);
  }
}

function renderMembers() {
  const m = session.members;
  $('members-self').textContent = m.self || '';
  $('leader').textContent = m.leader ? `leader: ${m.leader}` : 'no leader';
  $('members').tBodies[0].replaceChildren(...(m.items || []).map((x) => el('tr', { 'data-key': x.name },
    td('Name', x.name),
    td('State', el('span', { class: x.state === 'alive' ? 'ok' : 'bad' }, x.state)),
    td('Address', x.address || '', 'opt'),
    td('Clock offset', x.clock ? `${x.clock.offset} ± ${x.clock.uncertainty}${x.clock.skewed ? ' (skewed)' : ''}` : ''),
    td('Version', x.version || '', 'opt'))));
}

// ---------- pod detail and logs ----------

function renderPod() {
  const { ns, name, key } = session.pod;
  const p = session.colls.pods.items.get(key);
  $('pod-name').textContent = `${ns}/${name}`;
  const info = $('pod-info');
  if (!p) {
    info.replaceChildren(el('dt', {}, 'Status'), el('dd', { class: 'bad' }, 'not found (deleted?)'));
  } else {
    const [st, cls] = podStatus(p);
    const rows = [['Status', el('span', { class: cls }, st)], ['Node', p.spec.nodeName || '(not scheduled)'],
      ['IP', (p.status && p.status.podIP) || ''], ['Restarts', String(restarts(p))], ['Age', age(p.metadata.creationTimestamp)]];
    for (const cs of (p.status && p.status.containerStatuses) || []) {
      const state = Object.keys(cs.state || {})[0] || '?';
      rows.push([`Container ${cs.name}`, `${cs.image} — ${state}${cs.ready ? ', ready' : ''}, ${cs.restartCount || 0} restarts`]);
    }
    info.replaceChildren(...rows.flatMap(([k, v]) => [el('dt', {}, k), el('dd', {}, v)]));
    const sel = $('log-container');
    const names = (p.spec.containers || []).map((x) => x.name);
    if (sel.dataset.pod !== key) {
      sel.dataset.pod = key;
      sel.replaceChildren(...names.map((n) => el('option', { value: n }, n)));
    }
  }
  const evs = newestEvents((e) => e.involvedObject && e.involvedObject.kind === 'Pod' &&
    e.involvedObject.name === name && (e.involvedObject.namespace || e.metadata.namespace) === ns);
  $('pod-events').tBodies[0].replaceChildren(...eventRows(evs, false));
}

let logAbort = null;

function stopLogs() {
  if (logAbort) logAbort.abort();
  logAbort = null;
  $('log-stop').hidden = true;
  $('log-follow').hidden = false;
}

// afterOverlap returns the lines of a resumed stream's tail that come
// after those already shown (recent): the latest place where the last
// shown lines recur. With no overlap, everything, after a note.
function afterOverlap(recent, got) {
  if (!recent.length) return got;
  for (let j = got.length - 1; j >= 0; j--) {
    const k = Math.min(20, j + 1, recent.length);
    let same = true;
    for (let i = 0; i < k && same; i++) same = got[j - i] === recent[recent.length - 1 - i];
    if (same) return got.slice(j + 1);
  }
  return ['[reconnected: lines written meanwhile may be missing]', ...got];
}

async function followLogs() {
  stopLogs();
  const { ns, name } = session.pod;
  const container = $('log-container').value;
  const ac = new AbortController();
  logAbort = ac;
  const pre = $('log');
  const state = (t) => { if (logAbort === ac) $('log-state').textContent = t; };
  pre.replaceChildren();
  $('log-stop').hidden = false;
  $('log-follow').hidden = true;
  state('connecting…');
  let lines = 0;
  let pending = [];
  let scheduled = false;
  const recent = []; // the last lines shown, to resume without repeating them
  const flush = () => {
    scheduled = false;
    if (!pending.length) return;
    const atEnd = pre.scrollTop + pre.clientHeight >= pre.scrollHeight - 4;
    pre.append(document.createTextNode(pending.join('')));
    lines += pending.length;
    pending = [];
    while (lines > LOG_LINES && pre.firstChild) { // drop the oldest chunks
      lines -= (pre.firstChild.textContent.match(/\n/g) || []).length;
      pre.firstChild.remove();
    }
    if (atEnd) pre.scrollTop = pre.scrollHeight;
  };
  const show = (line) => {
    pending.push(line + '\n');
    recent.push(line);
    if (recent.length > 50) recent.shift();
    if (!scheduled) { scheduled = true; requestAnimationFrame(flush); setTimeout(flush, 200); }
  };
  const url = (tail) => `/api/v1/namespaces/${seg(ns)}/pods/${seg(name)}/log?follow=true&tailLines=${tail}` +
    (container ? `&container=${seg(container)}` : '');
  // A stream the network broke is opened again (a few times), from a
  // short tail that overlaps what is shown.
  for (let attempt = 0; logAbort === ac; ) {
    const resumed = recent.length > 0;
    try {
      const r = await fetch(url(resumed ? 200 : 500), { headers: authHeaders({ Accept: 'text/plain' }), signal: ac.signal, cache: 'no-store', credentials: 'omit' });
      if (r.status === 401) { loggedOut('The server refused the token (401 Unauthorized): log in again.'); return; }
      if (!r.ok) {
        let msg = `HTTP ${r.status}`;
        try { msg = (await r.json()).message || msg; } catch { /* not a Status */ }
        state(`cannot follow: ${msg}`);
        stopLogs();
        return;
      }
      state('following');
      let overlap = resumed ? [] : null; // the resumed tail, until placed
      const place = () => {
        if (overlap === null) return;
        const got = overlap;
        overlap = null;
        for (const l of afterOverlap(recent.slice(), got)) show(l);
      };
      await readLines(r, (line) => {
        if (overlap === null) { show(line); return; }
        if (!overlap.length) setTimeout(place, 300); // the tail comes in one burst
        overlap.push(line);
      });
      place();
      flush();
      state('the log stream ended');
      if (logAbort === ac) stopLogs();
      return;
    } catch (e) {
      if (ac.signal.aborted) return;
      flush();
      if (++attempt > 5) {
        state(`log stream broke: ${e.message}`);
        stopLogs();
        return;
      }
      state(`reconnecting (${e.message})…`);
      await sleep(300 * attempt);
    }
  }
}

// ---------- routing ----------

function route() {
  if (!session) return;
  const parts = location.hash.replace(/^#\/?/, '').split('/').map(decodeURIComponent);
  let view = parts[0] || 'nodes';
  if (view === 'pod' && parts.length === 3) {
    const pod = { ns: parts[1], name: parts[2], key: `${parts[1]}/${parts[2]}` };
    if (!session.pod || session.pod.key !== pod.key) { stopLogs(); $('log').replaceChildren(); $('log-state').textContent = ''; }
    session.pod = pod;
  } else if (!['nodes', 'workloads', 'pods', 'services', 'events'].includes(view)) {
    view = 'nodes';
  }
  if (view !== 'pod') stopLogs();
  // Events are many and only two views show them: watched from the first
  // time one of those is shown.
  if ((view === 'events' || view === 'pod') && !session.colls.events.started) session.colls.events.run(session.ac.signal);
  for (const s of document.querySelectorAll('.view')) s.hidden = s.id !== 'view-' + view;
  for (const a of document.querySelectorAll('#nav a')) a.classList.toggle('active', a.dataset.view === view);
  if (view === 'events') renderEvents();
  if (view === 'pod') renderPod();
}

function onFilter() {
  for (const t of tables()) t.rebuild();
  if (!$('view-events').hidden) renderEvents();
}

// ---------- session ----------

function startSession() {
  const ac = new AbortController();
  const colls = {
    nodes: new Collection('nodes', '/api/v1/nodes'),
    namespaces: new Collection('namespaces', '/api/v1/namespaces'),
    pods: new Collection('pods', '/api/v1/pods'),
    services: new Collection('services', '/api/v1/services'),
    endpoints: new Collection('endpoints', '/api/v1/endpoints'),
    events: new Collection('events', '/api/v1/events'),
    Deployment: new Collection('deployments', '/apis/apps/v1/deployments'),
    StatefulSet: new Collection('statefulsets', '/apis/apps/v1/statefulsets'),
    DaemonSet: new Collection('daemonsets', '/apis/apps/v1/daemonsets'),
    Job: new Collection('jobs', '/apis/batch/v1/jobs'),
  };
  session = { ac, colls, complete: false, nodeMetrics: new Map(), members: { items: [] }, pod: null };
  perms.clear();
  buildTables(colls);
  $('login').hidden = true;
  $('nav').hidden = false;
  $('ns').hidden = false;
  $('logout').hidden = false;
  document.body.dataset.perms = 'ready';
  for (const c of Object.values(colls)) if (c !== colls.events) c.run(ac.signal);
  route();
  refreshSlow(ac.signal).catch(() => {});
  session.ageTimer = setInterval(() => {
    for (const tr of $('pods').tBodies[0].rows) {
      const p = colls.pods.items.get(tr.dataset.key);
      const cell = tr.querySelector('td.age');
      if (p && cell) cell.textContent = age(p.metadata.creationTimestamp);
    }
  }, 60000);
}

function endSession() {
  if (!session) return;
  session.ac.abort();
  clearInterval(session.ageTimer);
  stopLogs();
  session = null;
  allTables = [];
  for (const s of document.querySelectorAll('.view')) s.hidden = true;
  for (const id of ['nodes', 'workloads', 'pods', 'services', 'events', 'members', 'pod-events']) $(id).tBodies[0].replaceChildren();
  $('nav').hidden = true;
  $('ns').hidden = true;
  $('logout').hidden = true;
  $('live').hidden = true;
  delete document.body.dataset.complete;
}

function loggedOut(msg) {
  endSession();
  token = '';
  sessionStorage.removeItem(TOKEN_KEY);
  $('login').hidden = false;
  $('login-error').textContent = msg || '';
  $('token').value = '';
  $('token').focus();
}

async function login(ev) {
  ev.preventDefault();
  const t = $('token').value.trim();
  if (!t) return;
  token = t;
  $('login-error').textContent = '';
  try {
    await api('/apis/authentication.k8s.io/v1/selfsubjectreviews', {
      method: 'POST', body: { apiVersion: 'authentication.k8s.io/v1', kind: 'SelfSubjectReview' },
    });
  } catch (e) {
    if (!(e instanceof AuthError)) $('login-error').textContent = `Cannot reach the API: ${e.message}`;
    return;
  }
  sessionStorage.setItem(TOKEN_KEY, token);
  startSession();
}

function init() {
  $('login').addEventListener('submit', login);
  $('logout').addEventListener('click', () => loggedOut(''));
  $('ns').addEventListener('change', onFilter);
  $('pod-filter').addEventListener('input', () => { clearTimeout(init.t); init.t = setTimeout(onFilter, 150); });
  $('log-follow').addEventListener('click', followLogs);
  $('log-stop').addEventListener('click', () => { stopLogs(); $('log-state').textContent = 'stopped'; });
  $('confirm-ok').addEventListener('click', () => closeConfirm(true));
  $('confirm-cancel').addEventListener('click', () => closeConfirm(false));
  $('confirm').addEventListener('cancel', () => closeConfirm(false));
  window.addEventListener('hashchange', route);
  if (token) startSession();
  else loggedOut('');
}

init();
