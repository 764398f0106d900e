// End-to-end tests of the feed builder (`pagefeed serve`, GET /new) in headless Chromium.
//
//   node builder.test.mjs [--out DIR] [--screenshots DIR]
//
// Starts a page server and `pagefeed serve` on 127.0.0.1, drives Debian chromium (or
// PAGEFEED_CHROMIUM) with playwright-core through the labels and button names a person sees,
// and checks: the whole path from the page's address to a saved, served feed (with a field
// picked by clicking in the copy of the page), that the token is required, and that a private
// address is refused when allow_private_hosts is off. --out DIR receives the saved feed's
// files (for check-feed); --screenshots DIR receives a PNG of each step at 1280 and 375 px.
// The binary is PAGEFEED_BIN, else target/release/pagefeed, else target/debug/pagefeed.

import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const ROOT = path.resolve(HERE, '..');
const TOKEN = 'e2e-admin-token-0123456789';
const FLAGS = [
  '--headless', '--no-sandbox', '--disable-gpu', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync',
];
const WIDTHS = [1280, 375];

function arg(name) {
  const i = process.argv.indexOf(name);
  return i > 0 ? process.argv[i + 1] : undefined;
}
const OUT = arg('--out');
const SHOTS = arg('--screenshots');

function binary() {
  if (process.env.PAGEFEED_BIN) return path.resolve(process.env.PAGEFEED_BIN);
  for (const p of ['target/release/pagefeed', 'target/debug/pagefeed']) {
    const full = path.join(ROOT, p);
    if (existsSync(full)) return full;
  }
  throw new Error('no pagefeed binary: run `cargo build --release` or set PAGEFEED_BIN');
}

// ---------------------------------------------------------------------------------------------
// The pages the feeds are made from.

const ENTRIES = [
  ['Ferry timetable changes for winter', '2026-11-30', 'Ana Ruiz', 'The winter timetable starts on Monday with fewer crossings.'],
  ['New berth opens at the north pier', '2026-11-29', 'Ben Ode', 'Larger ships can now dock at the north pier.'],
  ['Harbour festival dates announced', '2026-11-28', 'Cai Lee', 'The festival returns in June with music and boats.'],
  ['Dredging works in the outer basin', '2026-11-27', 'Dee Moss', 'Works run for three weeks; small boats keep to the east channel.'],
  ['Lighthouse open for visits again', '2026-11-26', 'Eva Nord', 'The restored lighthouse opens its doors on weekends.'],
];

const LISTING = `<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>Harbour news</title>
<style>body{font-family:Georgia,serif;margin:1rem;max-width:40rem}.post{margin:1rem 0;padding:.5rem;border-bottom:1px solid #ccc}
.by{color:#555;font-style:italic}</style>
<script>document.title = "scripts must not run in the copy"</script></head>
<body onload="document.body.textContent='script ran'"><h1>Harbour news</h1>
<form action="/search"><input name="q" aria-label="Search"><button>Search</button></form>
<div class="list">
${ENTRIES.map(([t, d, a, s], i) => `<article class="post"><h2 class="headline"><a href="/news/${i + 1}">${t}</a></h2>
<time datetime="${d}T08:00:00Z">${d}</time><p class="by">${a}</p><p class="teaser">${s}</p></article>`).join('\n')}
</div></body></html>`;

function pageServer() {
  const server = http.createServer((req, res) => {
    if (req.url === '/news' || req.url === '/other') {
      res.writeHead(200, { 'Content-Type': 'text/html; charset=utf-8' });
      res.end(LISTING);
    } else {
      res.writeHead(404, { 'Content-Type': 'text/plain' });
      res.end('not found\n');
    }
  });
  return new Promise((resolve) => {
    server.listen(0, '127.0.0.1', () => resolve(server));
  });
}

// ---------------------------------------------------------------------------------------------
// pagefeed serve.

function freePort() {
  return new Promise((resolve, reject) => {
    const s = http.createServer();
    s.on('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

async function startServe(dir, upstream, allowPrivate, token = TOKEN) {
  const config = path.join(dir, 'pagefeed.toml');
  // A known port, so the feeds can name their own address (base_url: atom:link rel=self).
  const port = await freePort();
  writeFileSync(config, `# e2e config
[settings]
base_url = "http://127.0.0.1:${port}/feeds/"
output_dir = "out"
host_delay = "0s"
admin_token = "${token}"
allow_private_hosts = ${allowPrivate}

[feeds.other]
url = "${upstream}/other"
refresh = "1d"

[feeds.other.items]
selector = "article.post"
title = "h2"
`);
  const child = spawn(binary(), ['serve', '--config', config, '--listen', `127.0.0.1:${port}`], {
    cwd: dir,
    stdio: ['ignore', 'ignore', 'pipe'],
    env: { ...process.env, RUST_LOG: '' },
  });
  let stderr = '';
  const origin = await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`serve did not start:\n${stderr}`)), 60000);
    child.stderr.on('data', (chunk) => {
      stderr += chunk;
      const m = stderr.match(/listening on (http:\/\/[^/\s]+)\//);
      if (m) {
        clearTimeout(timer);
        resolve(m[1]);
      }
    });
    child.on('exit', (code) => reject(new Error(`serve exited (${code}):\n${stderr}`)));
  });
  return { child, origin, config, token, stderr: () => stderr };
}

// ---------------------------------------------------------------------------------------------
// The browser.

async function browser(dir) {
  const userDataDir = path.join(dir, 'chromium-profile');
  return chromium.launchPersistentContext(userDataDir, {
    executablePath: process.env.PAGEFEED_CHROMIUM || '/usr/bin/chromium',
    headless: true,
    args: FLAGS,
    viewport: { width: 1280, height: 900 },
  });
}

// Each step is checked at 375 px (nothing wider than the screen) and, with --screenshots,
// photographed at each width.
let shotNumber = 0;
async function shot(page, name) {
  shotNumber += 1;
  const size = page.viewportSize();
  for (const width of SHOTS ? WIDTHS : [375]) {
    await page.setViewportSize({ width, height: width === 375 ? 812 : 900 });
    await page.waitForTimeout(150);
    if (width === 375) {
      const overflow = await page.evaluate(() => document.documentElement.scrollWidth);
      assert.ok(overflow <= 375, `${name}: the page is ${overflow} px wide at 375 px`);
    }
    if (!SHOTS) continue;
    const file = path.join(SHOTS, `${String(shotNumber).padStart(2, '0')}-${name}-${width}.png`);
    await page.screenshot({ path: file, fullPage: true });
  }
  await page.setViewportSize(size);
}

async function signIn(page, origin, token = TOKEN) {
  await page.goto(`${origin}/new`);
  await page.getByLabel('Admin token').fill(token);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByLabel('Page address').waitFor();
}

// ---------------------------------------------------------------------------------------------
// The tests.

async function tokenRequired(ctx, origin) {
  const page = await ctx.newPage();
  await page.goto(`${origin}/new`);
  await page.getByLabel('Admin token').waitFor();
  assert.equal(await page.getByLabel('Page address').count(), 0, 'the builder is hidden before signing in');
  await shot(page, 'sign-in');
  // The endpoints refuse a request without the token.
  const status = await page.evaluate(async () => {
    const r = await fetch('/api/suggest', { method: 'POST', body: '{"url":"https://example.org/"}' });
    return r.status;
  });
  assert.equal(status, 401);
  await page.getByLabel('Admin token').fill('not-the-token');
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByRole('alert').waitFor();
  assert.match(await page.getByRole('alert').textContent(), /not the admin token/);
  assert.equal(await page.getByLabel('Page address').count(), 0);
  await page.close();
  console.log('ok - the token is required');
}

async function wholePath(ctx, serve, upstream) {
  const page = await ctx.newPage();
  const errors = [];
  page.on('pageerror', (e) => errors.push(e.message));
  await signIn(page, serve.origin);
  await page.getByLabel('Page address').fill(`${upstream}/news`);
  await shot(page, 'address');
  await page.getByRole('button', { name: 'Find entries' }).click();
  const use = page.getByRole('button', { name: 'Use these' }).first();
  await use.waitFor();
  const card = page.locator('.card').first();
  assert.match(await card.textContent(), /5 entries/);
  assert.match(await card.textContent(), /Ferry timetable changes for winter/);
  await shot(page, 'candidates');

  // Keyboard: the card's button works with Enter.
  await use.focus();
  await page.keyboard.press('Enter');
  const rows = page.locator('#preview tbody tr');
  await rows.first().waitFor();
  assert.equal(await rows.count(), 5);

  // The copy has no scripts, forms or handlers, and the entries are outlined.
  const frame = page.frameLocator('#copy');
  await frame.locator('article.post').first().waitFor();
  const copy = page.frame({ url: /about:srcdoc/ }) || page.frames()[1];
  const facts = await copy.evaluate(() => ({
    scripts: document.querySelectorAll('script').length,
    forms: document.querySelectorAll('form, input, button').length,
    handlers: document.querySelectorAll('[onload], [onclick]').length,
    outlined: document.querySelectorAll('.pagefeed-entry').length,
    title: document.title,
    body: document.body.textContent.includes('script ran'),
  }));
  assert.deepEqual(
    { ...facts, title: facts.title === 'Harbour news' },
    { scripts: 0, forms: 0, handlers: 0, outlined: 5, title: true, body: false },
  );

  // Pick the Authors field by clicking an author's name in the copy.
  const authors = page.getByLabel('Authors');
  await authors.fill('');
  await authors.focus();
  await frame.locator('article.post').nth(1).locator('.by').click();
  assert.equal(await authors.inputValue(), '.by');
  // Pick the Summary field too, by clicking.
  await page.getByLabel('Summary').fill('');
  await page.getByLabel('Summary').click();
  // The preview follows (debounced; the time is printed, not asserted).
  const previewed = page.waitForResponse((r) => r.url().endsWith('/api/preview')
    && (r.request().postData() || '').includes('"summary":".teaser"')
    && (r.request().postData() || '').includes('"authors":".by"'));
  const clicked = Date.now();
  await frame.locator('article.post').nth(2).locator('.teaser').click();
  assert.equal(await page.getByLabel('Summary').inputValue(), '.teaser');
  assert.equal((await previewed).status(), 200);
  await page.waitForFunction(() => document.getElementById('config').value.includes('summary = ".teaser"'));
  console.log(`# preview updated ${Date.now() - clicked} ms after the click`);
  assert.equal(await page.locator('#preview tbody tr td:nth-child(5)').first().textContent(), 'Ana Ruiz');
  assert.match(await page.locator('#coverage').textContent(), /authors 100%/);
  assert.match(await page.locator('#coverage').textContent(), /summary 100%/);
  await shot(page, 'fields');

  await page.getByLabel('Feed name').fill('harbour');
  await page.waitForFunction(() => document.getElementById('config').value.includes('[feeds.harbour.items]'));
  const config = await page.getByLabel('Config').inputValue();
  assert.match(config, /authors = "\.by"/);
  assert.equal(await page.getByLabel('Config').getAttribute('readonly'), '');
  await page.getByRole('button', { name: 'Copy config' }).click();
  await page.getByRole('button', { name: 'Save feed' }).click();
  const rss = page.locator('#saved').getByRole('link', { name: 'RSS' });
  await rss.waitFor();
  assert.match(await page.locator('#saved').textContent(), /built: 5 entries/);
  await shot(page, 'saved');

  // The config holds the new table after the old lines; the feed is served at once.
  const text = readFileSync(serve.config, 'utf8');
  assert.ok(text.startsWith('# e2e config\n'), 'existing lines untouched');
  assert.match(text, /\[feeds\.harbour\.items\]\n[^[]*authors = "\.by"/);
  const check = spawnSync(binary(), ['check', '--config', serve.config], { encoding: 'utf8' });
  assert.equal(check.status, 0, `${check.stdout}${check.stderr}`);
  for (const [format, ext] of [['RSS', 'rss'], ['Atom', 'atom'], ['JSON Feed', 'json']]) {
    const href = await page.locator('#saved').getByRole('link', { name: format, exact: true }).getAttribute('href');
    assert.equal(href, `${serve.origin}/feeds/harbour.${ext}`);
    const res = await page.request.get(href);
    assert.equal(res.status(), 200, `${href}`);
    const body = await res.body();
    assert.match(body.toString(), /Dredging works in the outer basin/);
    if (OUT) writeFileSync(path.join(OUT, `harbour.${ext}`), body);
  }
  assert.deepEqual(errors, [], 'no errors in the page');
  await page.close();
  console.log('ok - the whole path: address, Use these, a field picked by clicking, preview, Save feed');
}

async function privateRefused(ctx, serve, upstream) {
  const page = await ctx.newPage();
  await signIn(page, serve.origin, serve.token);
  await page.getByLabel('Page address').fill(`${upstream}/news`);
  await page.getByLabel('Page address').press('Enter');
  const alert = page.locator('#error');
  await alert.waitFor({ state: 'visible' });
  assert.match(await alert.textContent(), /private or loopback/);
  assert.match(await alert.textContent(), /allow_private_hosts/);
  assert.equal(await page.getByRole('button', { name: 'Use these' }).count(), 0);
  await shot(page, 'private-refused');
  await page.close();
  console.log('ok - a private address is refused');
}

async function main() {
  if (OUT) mkdirSync(OUT, { recursive: true });
  if (SHOTS) mkdirSync(SHOTS, { recursive: true });
  const dir = mkdtempSync(path.join(tmpdir(), 'pagefeed-e2e-'));
  const pages = await pageServer();
  const upstream = `http://127.0.0.1:${pages.address().port}`;
  const open = serveList();
  let ctx;
  try {
    const allowed = open.add(await startServe(mkdir(dir, 'allowed'), upstream, true));
    ctx = await browser(dir);
    await tokenRequired(ctx, allowed.origin);
    await wholePath(ctx, allowed, upstream);
    const strict = open.add(await startServe(mkdir(dir, 'strict'), upstream, false, `${TOKEN}-strict`));
    await privateRefused(ctx, strict, upstream);
    console.log('all builder tests passed');
  } finally {
    if (ctx) await ctx.close();
    open.stop();
    pages.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

function mkdir(dir, name) {
  const p = path.join(dir, name);
  mkdirSync(p);
  return p;
}

function serveList() {
  const all = [];
  return {
    add(s) {
      all.push(s);
      return s;
    },
    stop() {
      for (const s of all) s.child.kill();
    },
  };
}

main().catch((e) => {
  console.error(`not ok - ${e.stack || e}`);
  process.exit(1);
});
