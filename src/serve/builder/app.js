// The feed builder page of `pagefeed serve` (GET /new). Plain ES module, no dependencies.
// It talks to /api/suggest, /api/preview and /api/feeds; the session cookie rides along.

const FIELDS = ['title', 'link', 'summary', 'authors', 'date', 'image'];
const LABELS = {
  selector: 'Item selector', title: 'Title', link: 'Link', summary: 'Summary',
  authors: 'Authors', date: 'Date', image: 'Image',
};
const PREVIEW_DELAY_MS = 350;

const $ = (id) => document.getElementById(id);
const state = {
  url: '',
  name: '',
  candidates: [],
  // attr/from of a field as suggested, kept until the field's selector changes.
  extras: {},
  active: 'title',
  timer: 0,
  seq: 0,
  // false: the chosen list is read from the page's data (no [items]).
  selectors: true,
  toml: '',
};

async function api(path, body) {
  const res = await fetch(path, {
    method: 'POST',
    credentials: 'same-origin',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify(body),
  });
  let data = {};
  try {
    data = await res.json();
  } catch {
    data = { error: `the server answered HTTP ${res.status}` };
  }
  if (!res.ok) {
    const err = new Error(data.error || `HTTP ${res.status}`);
    err.status = res.status;
    throw err;
  }
  return data;
}

function show(el, text) {
  el.textContent = text || '';
  el.hidden = !text;
}

function text(tag, content, cls) {
  const e = document.createElement(tag);
  if (content !== undefined && content !== null) e.textContent = content;
  if (cls) e.className = cls;
  return e;
}

// ---------------------------------------------------------------------------------------------
// 1. The address.

async function findEntries(ev) {
  ev.preventDefault();
  const button = ev.submitter || $('address-form').querySelector('button');
  const url = $('address').value.trim();
  if (!url) return;
  show($('error'), '');
  $('status').textContent = `Fetching ${url} …`;
  button.disabled = true;
  try {
    const data = await api('/api/suggest', { url });
    state.url = data.url || url;
    state.name = data.name || '';
    state.candidates = data.candidates || [];
    if (!$('feed-name').value) $('feed-name').value = state.name;
    loadCopy(data.copy || '');
    renderCandidates(data);
    $('status').textContent = state.candidates.length
      ? `${state.candidates.length} list${state.candidates.length === 1 ? '' : 's'} of entries found.`
      : 'No list of entries found on this page; type the selectors below.';
    $('candidates-section').hidden = false;
    if (!state.candidates.length) openEditor();
  } catch (e) {
    $('status').textContent = '';
    show($('error'), e.message);
  } finally {
    button.disabled = false;
  }
}

// ---------------------------------------------------------------------------------------------
// 2. The candidates.

function renderCandidates(data) {
  const list = $('candidates');
  list.replaceChildren();
  state.candidates.forEach((c, i) => {
    const li = text('li', null, 'card');
    const id = `cand-${i}`;
    const h = text('h3', `Candidate ${i + 1}: ${c.method}`);
    h.id = id;
    li.append(h);
    const n = (c.entries || []).length;
    li.append(text('p', `${n} entr${n === 1 ? 'y' : 'ies'} · ${c.selector}`, 'muted'));
    if (c.problem) li.append(text('p', c.problem, 'error'));
    const ul = document.createElement('ul');
    for (const entry of (c.entries || []).slice(0, 3)) {
      const item = text('li', entry.title || '(no title)');
      const facts = [];
      if (entry.date) facts.push(entry.date.slice(0, 10));
      if (entry.authors && entry.authors.length) facts.push(`by ${entry.authors.join(', ')}`);
      if (facts.length) item.append(text('div', facts.join(' · '), 'muted'));
      ul.append(item);
    }
    li.append(ul);
    const use = text('button', 'Use these');
    use.type = 'button';
    use.setAttribute('aria-describedby', id);
    use.addEventListener('click', () => useCandidate(c));
    li.append(use);
    list.append(li);
  });
  if (data.feed_links && data.feed_links.length) {
    const li = text('li', null, 'card');
    li.append(text('h3', 'The page has its own feed'));
    for (const f of data.feed_links) li.append(text('p', `${f.url} (${f.type})`, 'muted'));
    list.append(li);
  }
}

function fieldInput(name) {
  return $(`f-${name}`);
}

function useCandidate(c) {
  state.extras = {};
  state.selectors = c.selectors !== false;
  fieldInput('selector').value = state.selectors ? c.selector : '';
  for (const f of FIELDS) {
    const v = c.fields ? c.fields[f] : undefined;
    let sel = '';
    if (state.selectors && typeof v === 'string') sel = v;
    else if (state.selectors && v && typeof v === 'object') {
      sel = v.selector || '';
      const extra = {};
      if (v.attr) extra.attr = v.attr;
      if (v.from) extra.from = v.from;
      state.extras[f] = extra;
    }
    fieldInput(f).value = sel;
  }
  openEditor();
  outlineEntries();
  if (state.selectors) {
    schedulePreview();
  } else {
    state.toml = c.toml || '';
    $('config').value = withName(state.toml);
    show($('preview-error'), '');
    $('coverage').textContent = `These entries are read from the page's ${c.method} (${c.selector}); the feed needs no selectors.`;
    renderPreview({ entries: [] });
  }
  fieldInput(state.selectors ? 'title' : 'selector').focus();
}

function openEditor() {
  $('edit-section').hidden = false;
  $('save-section').hidden = false;
  setActive(state.active);
}

// ---------------------------------------------------------------------------------------------
// 3. The copy of the page and picking by clicking.

function copyDoc() {
  const frame = $('copy');
  try {
    return frame.contentDocument;
  } catch {
    return null;
  }
}

function loadCopy(html) {
  const frame = $('copy');
  frame.addEventListener('load', attachPicker, { once: true });
  frame.srcdoc = html;
}

function attachPicker() {
  const doc = copyDoc();
  if (!doc) return;
  doc.addEventListener('click', onCopyClick, true);
  doc.addEventListener('submit', (e) => e.preventDefault(), true);
  doc.addEventListener('mouseover', (e) => {
    if (e.target instanceof doc.defaultView.Element) e.target.classList.add('pagefeed-hover');
  }, true);
  doc.addEventListener('mouseout', (e) => {
    if (e.target instanceof doc.defaultView.Element) e.target.classList.remove('pagefeed-hover');
  }, true);
  outlineEntries();
}

function setActive(name) {
  state.active = name;
  for (const input of document.querySelectorAll('#fields input')) {
    input.parentElement.classList.toggle('active', input.dataset.field === name);
  }
  $('picking').textContent = `Picking: ${LABELS[name]}`;
}

function itemSelector() {
  return fieldInput('selector').value.trim();
}

function safeMatches(el, sel) {
  try {
    return el.matches(sel);
  } catch {
    return false;
  }
}

function safeAll(root, sel) {
  try {
    return Array.from(root.querySelectorAll(sel));
  } catch {
    return null;
  }
}

function outlineEntries() {
  const doc = copyDoc();
  if (!doc || !doc.body) return;
  for (const e of doc.querySelectorAll('.pagefeed-entry')) e.classList.remove('pagefeed-entry');
  const sel = itemSelector();
  if (!sel) return;
  const found = safeAll(doc, sel) || [];
  for (const e of found) e.classList.add('pagefeed-entry');
}

const IDENT = /^-?[A-Za-z_][A-Za-z0-9_-]*$/;

function cssString(s) {
  return `"${s.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`;
}

// Simple selectors for `el`, shortest first: tag, classes, tag.class, attributes.
function simpleParts(el) {
  const tag = el.localName;
  const classes = Array.from(el.classList).filter((c) => IDENT.test(c) && !c.startsWith('pagefeed-'));
  const out = [tag];
  for (const c of classes) out.push(`.${c}`, `${tag}.${c}`);
  if (classes.length > 1) out.push(tag + classes.map((c) => `.${c}`).join(''));
  for (const a of ['itemprop', 'rel', 'role', 'datetime', 'property']) {
    const v = el.getAttribute(a);
    if (v !== null && a !== 'datetime') out.push(`${tag}[${a}=${cssString(v)}]`);
    else if (v !== null) out.push(`${tag}[${a}]`);
  }
  return out.sort((a, b) => a.length - b.length);
}

function uniqueIn(entry, sel, el) {
  const m = safeAll(entry, sel);
  return m !== null && m.length === 1 && m[0] === el;
}

// The shortest selector that picks `el`, and only it, inside `entry`.
function relativeSelector(el, entry) {
  if (el === entry) return ':scope';
  const own = simpleParts(el);
  for (const s of own) if (uniqueIn(entry, s, el)) return s;
  const tries = [];
  for (let a = el.parentElement; a && a !== entry; a = a.parentElement) {
    for (const p of simpleParts(a)) for (const s of own) tries.push(`${p} ${s}`);
  }
  tries.sort((a, b) => a.length - b.length);
  for (const s of tries) if (uniqueIn(entry, s, el)) return s;
  // A path of positions from the entry down.
  const steps = [];
  for (let e = el; e && e !== entry; e = e.parentElement) {
    let n = 1;
    for (let s = e.previousElementSibling; s; s = s.previousElementSibling) {
      if (s.localName === e.localName) n += 1;
    }
    steps.unshift(`${e.localName}:nth-of-type(${n})`);
  }
  return `:scope > ${steps.join(' > ')}`;
}

// A selector for every entry like `el`: its classes, else its tag under its parent.
function entrySelector(el) {
  const doc = el.ownerDocument;
  for (let e = el; e && e !== doc.body; e = e.parentElement) {
    for (const s of simpleParts(e)) {
      const all = safeAll(doc, s) || [];
      if (all.length >= 2 && all.length <= 500 && all.includes(e)) return s;
    }
  }
  return el.localName;
}

// What a field takes when an element inside it is clicked.
function targetFor(field, el, entry) {
  const inEntry = (e) => e && entry.contains(e);
  if (field === 'link' && el.localName !== 'a') {
    const a = el.closest('a');
    if (inEntry(a)) return a;
    const inner = el.querySelector('a');
    if (inner) return inner;
  }
  if (field === 'image' && el.localName !== 'img') {
    const img = el.querySelector('img');
    if (img) return img;
  }
  if (field === 'date' && el.localName !== 'time') {
    const t = el.closest('time');
    if (inEntry(t)) return t;
  }
  return el;
}

function onCopyClick(ev) {
  ev.preventDefault();
  ev.stopPropagation();
  const el = ev.target;
  if (!el || !el.localName) return;
  const field = state.active;
  if (field === 'selector') {
    setField('selector', entrySelector(el));
    return;
  }
  const sel = itemSelector();
  let entry = null;
  for (let e = el; e && e.nodeType === 1; e = e.parentElement) {
    if (sel && safeMatches(e, sel)) {
      entry = e;
      break;
    }
  }
  if (!entry) {
    $('picking').textContent = sel
      ? `That element is not inside an entry (outlined in orange): pick inside one, or choose Item selector first.`
      : 'Set the Item selector first (choose it, then click an entry).';
    return;
  }
  const target = targetFor(field, el, entry);
  for (const e of copyDoc().querySelectorAll('.pagefeed-picked')) e.classList.remove('pagefeed-picked');
  target.classList.add('pagefeed-picked');
  setField(field, relativeSelector(target, entry));
}

function setField(field, value) {
  const input = fieldInput(field);
  input.value = value;
  delete state.extras[field];
  $('picking').textContent = `${LABELS[field]}: ${value}`;
  onFieldsChanged();
}

// ---------------------------------------------------------------------------------------------
// The preview.

function items() {
  const out = { selector: itemSelector() };
  for (const f of FIELDS) {
    const v = fieldInput(f).value.trim();
    if (!v) continue;
    const extra = state.extras[f];
    out[f] = extra && Object.keys(extra).length ? { selector: v, ...extra } : v;
  }
  return out;
}

function onFieldsChanged() {
  state.selectors = true;
  outlineEntries();
  schedulePreview();
}

function schedulePreview() {
  clearTimeout(state.timer);
  state.timer = setTimeout(runPreview, PREVIEW_DELAY_MS);
}

async function runPreview() {
  const it = items();
  if (!it.selector || !it.title) {
    $('coverage').textContent = 'Set at least the Item selector and the Title.';
    return;
  }
  const seq = ++state.seq;
  const name = $('feed-name').value.trim() || state.name || 'page';
  try {
    const data = await api('/api/preview', { url: state.url, name, items: it });
    if (seq !== state.seq) return;
    show($('preview-error'), '');
    state.toml = data.toml || '';
    $('config').value = state.toml;
    renderPreview(data);
  } catch (e) {
    if (seq !== state.seq) return;
    show($('preview-error'), e.message);
  }
}

function value(entry, field) {
  const f = entry.fields ? entry.fields[field] : undefined;
  if (!f || f.value === null || f.value === undefined) return '';
  return Array.isArray(f.value) ? f.value.join(', ') : String(f.value);
}

function renderPreview(data) {
  const body = $('preview').querySelector('tbody');
  body.replaceChildren();
  for (const entry of data.entries || []) {
    const tr = document.createElement('tr');
    tr.append(text('td', String(entry.n)));
    for (const f of ['title', 'link', 'date', 'authors', 'summary', 'image']) {
      let v = value(entry, f);
      if (f === 'summary' && v.length > 160) v = `${v.slice(0, 159)}…`;
      tr.append(text('td', v));
    }
    body.append(tr);
  }
  if (data.coverage) {
    const parts = [];
    for (const [field, c] of Object.entries(data.coverage)) {
      if (!c.configured) continue;
      parts.push(`${field} ${Math.round(c.share * 100)}% (${c.matched} of ${c.of})`);
    }
    const n = (data.entries || []).length;
    $('coverage').textContent = `${n} entr${n === 1 ? 'y' : 'ies'}. Coverage: ${parts.join(' · ')}`;
  }
}

// ---------------------------------------------------------------------------------------------
// 4. Saving and the config.

function withName(toml) {
  const name = $('feed-name').value.trim();
  if (!name || !state.name) return toml;
  return toml.split(`[feeds.${state.name}`).join(`[feeds.${name}`);
}

async function saveFeed(ev) {
  ev.preventDefault();
  const button = ev.submitter || $('save-form').querySelector('button');
  const name = $('feed-name').value.trim();
  show($('save-error'), '');
  $('saved').replaceChildren();
  const table = { url: state.url };
  if (state.selectors) table.items = items();
  button.disabled = true;
  try {
    const data = await api('/api/feeds', { name, table });
    const box = $('saved');
    const file = String(data.config || 'the config').split(/[\\/]/).pop();
    const built = data.status === 'failed'
      ? `Saved to ${file}, but the first build failed: ${data.error}`
      : `Saved to ${file} and built: ${data.items} entries. Subscribe:`;
    box.append(text('p', built));
    const ul = document.createElement('ul');
    for (const l of data.links || []) {
      const li = document.createElement('li');
      const a = text('a', l.format);
      a.href = l.url;
      li.append(a, document.createTextNode(` ${new URL(l.url, location.href).href}`));
      ul.append(li);
    }
    box.append(ul);
    $('config').value = data.toml || $('config').value;
  } catch (e) {
    show($('save-error'), e.message);
  } finally {
    button.disabled = false;
  }
}

async function copyConfig() {
  const area = $('config');
  try {
    await navigator.clipboard.writeText(area.value);
  } catch {
    area.focus();
    area.select();
    document.execCommand('copy');
  }
  $('copied').textContent = 'Copied.';
  setTimeout(() => { $('copied').textContent = ''; }, 2000);
}

// ---------------------------------------------------------------------------------------------

function start() {
  $('address-form').addEventListener('submit', findEntries);
  $('save-form').addEventListener('submit', saveFeed);
  $('copy-config').addEventListener('click', copyConfig);
  $('feed-name').addEventListener('input', () => {
    if (state.selectors) schedulePreview();
    else $('config').value = withName(state.toml);
  });
  for (const input of document.querySelectorAll('#fields input')) {
    input.addEventListener('focus', () => setActive(input.dataset.field));
    input.addEventListener('input', () => {
      delete state.extras[input.dataset.field];
      onFieldsChanged();
    });
  }
  $('fields').addEventListener('submit', (e) => e.preventDefault());
}

start();
