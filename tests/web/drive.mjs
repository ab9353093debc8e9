// Drives faccia's web vote page in the system's headless Chromium (playwright-core, no browser
// download) and checks it with axe-core. Run by tests/web.rs, which starts `faccia serve`,
// issues the links through the real queue API and checks the database afterwards.
//
//   node drive.mjs <plan.json>
//
// plan: { "mode": "faces" | "agid", "chromium": "/usr/bin/chromium", "base": "http://127.0.0.1:PORT",
//         "links": { name: url, ... } }
// Prints one line per check ("ok ..." / "FAIL ..."), then a JSON summary line, and exits 1 when
// a check failed.

import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { randomBytes } from 'node:crypto';
import { chromium } from 'playwright-core';

const require = createRequire(import.meta.url);
const axeSource = readFileSync(require.resolve('axe-core/axe.min.js'), 'utf8');
const plan = JSON.parse(readFileSync(process.argv[2], 'utf8'));
const summary = { failed: 0, passed: 0, axe: {} };

function check(cond, what, extra) {
  if (cond) {
    summary.passed += 1;
    console.log(`ok ${what}`);
  } else {
    summary.failed += 1;
    console.log(`FAIL ${what}${extra === undefined ? '' : ': ' + JSON.stringify(extra)}`);
  }
}

function checkHeaders(headers, what) {
  const csp = headers['content-security-policy'] || '';
  check(csp.includes("default-src 'none'") && csp.includes("form-action 'self'") &&
        !csp.includes('unsafe'), `${what}: strict CSP`, csp);
  check(headers['referrer-policy'] === 'no-referrer', `${what}: Referrer-Policy no-referrer`,
        headers['referrer-policy']);
  check(!('set-cookie' in headers), `${what}: no cookie set`);
}

async function h1(page) {
  return (await page.locator('h1').innerText()).trim();
}

async function axe(page, name) {
  await page.addScriptTag({ content: axeSource });
  const result = await page.evaluate(async () => {
    // eslint-disable-next-line no-undef
    const r = await axe.run(document, {
      runOnly: { type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'best-practice'] },
    });
    return r.violations.map((v) => ({ id: v.id, impact: v.impact, nodes: v.nodes.length,
      help: v.help, target: v.nodes.map((n) => n.target.join(' ')).slice(0, 3) }));
  });
  const bad = result.filter((v) => v.impact === 'serious' || v.impact === 'critical');
  summary.axe[name] = result;
  check(bad.length === 0, `axe ${name}: no serious or critical violation`, bad);
  const lang = await page.evaluate(() => document.documentElement.lang);
  check(lang === 'it' || lang === 'en', `axe ${name}: html lang set`, lang);
}

function randomToken() {
  const alphabet = 'abcdefghijklmnopqrstuvwxyz234567';
  const bytes = randomBytes(32);
  return Array.from(bytes, (b) => alphabet[b & 31]).join('');
}

async function post(url, body, headers = {}) {
  const r = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers },
    body,
    redirect: 'manual',
  });
  return { status: r.status, text: await r.text(), headers: Object.fromEntries(r.headers) };
}

async function faces(browser) {
  const L = plan.links;
  // 1. No JavaScript, Italian (the default): vote once, second use refused.
  {
    const ctx = await browser.newContext({ javaScriptEnabled: false, locale: 'it-IT' });
    const page = await ctx.newPage();
    const resp = await page.goto(L.nojs);
    check(resp.status() === 200, 'no-JS: the link opens the vote page', resp.status());
    checkHeaders(resp.headers(), 'no-JS vote page');
    check((await h1(page)) === 'Come giudica il servizio che ha ricevuto?', 'no-JS: Italian heading', await h1(page));
    for (const name of ['Soddisfatto', 'Sufficiente', 'Insoddisfatto']) {
      check(await page.getByRole('button', { name, exact: true }).count() === 1, `no-JS: face button "${name}"`);
    }
    const [nav] = await Promise.all([
      page.waitForNavigation(),
      page.getByRole('button', { name: 'Soddisfatto', exact: true }).click(),
    ]);
    check(nav.status() === 200, 'no-JS: the vote is taken', nav.status());
    checkHeaders(nav.headers(), 'no-JS thanks page');
    check((await h1(page)) === 'Grazie!', 'no-JS: thank-you page', await h1(page));
    const again = await page.goto(L.nojs);
    check(again.status() === 200 && (await h1(page)) === 'Giudizio già espresso',
          'no-JS: second use of the link says the vote was given', [again.status(), await h1(page)]);
    check((await ctx.cookies()).length === 0, 'no-JS: no cookies');
    await ctx.close();
  }
  // 2. JavaScript on, English from Accept-Language: red, then a reason.
  {
    const ctx = await browser.newContext({ javaScriptEnabled: true, locale: 'en-GB' });
    const page = await ctx.newPage();
    const resp = await page.goto(L.js);
    check(resp.status() === 200, 'JS: the link opens the vote page', resp.status());
    check((await h1(page)) === 'How do you rate the service you received?', 'JS: English from Accept-Language', await h1(page));
    check(await page.evaluate(() => document.documentElement.lang) === 'en', 'JS: html lang en');
    await Promise.all([page.waitForNavigation(), page.getByRole('button', { name: 'Unsatisfied', exact: true }).click()]);
    check((await h1(page)) === 'Why are you unsatisfied?', 'JS: after red, the reasons', await h1(page));
    check(await page.getByRole('button').count() === 5, 'JS: four reasons and "prefer not to say"');
    const [nav] = await Promise.all([page.waitForNavigation(), page.getByRole('button', { name: 'Waiting time', exact: true }).click()]);
    check(nav.status() === 200 && (await h1(page)) === 'Thank you!', 'JS: the vote with its reason is taken', await h1(page));
    const again = await page.goto(L.js);
    check((await h1(page)) === 'Rating already given', 'JS: second use refused kindly', [again.status(), await h1(page)]);
    // Submitting the old form again (back button, or a second tab).
    const replay = await page.request.post(L.js, { form: { face: 'green', lang: 'en' } });
    check(replay.status() === 409 && (await replay.text()).includes('Rating already given'),
          'JS: a second submission is refused (409, kind page)', replay.status());
    check((await ctx.cookies()).length === 0, 'JS: no cookies');
    await ctx.close();
  }
  // 3. A link whose time is over.
  {
    const ctx = await browser.newContext({ javaScriptEnabled: false, locale: 'it-IT' });
    const page = await ctx.newPage();
    const resp = await page.goto(L.expired);
    check(resp.status() === 410, 'expired link: 410', resp.status());
    check((await h1(page)) === 'Il tempo per votare è scaduto', 'expired link: kind page', await h1(page));
    await ctx.close();
    const p = await post(L.expired, 'face=green&lang=it');
    check(p.status === 410, 'expired link: a POST is refused (410)', p.status);
  }
  // 4. Random and malformed tokens: all refused, in the browser and over plain HTTP.
  {
    const ctx = await browser.newContext({ javaScriptEnabled: false, locale: 'it-IT' });
    const page = await ctx.newPage();
    for (let i = 0; i < 5; i++) {
      const r = await page.goto(`${plan.base}/v/${randomToken()}`);
      check(r.status() === 404 && (await h1(page)) === 'Collegamento non valido', `random token in the browser #${i + 1}: 404 page`, r.status());
    }
    await ctx.close();
    let refused = 0;
    let votes = 0;
    const n = plan.random_tokens || 1000;
    for (let i = 0; i < n; i += 50) {
      const batch = [];
      for (let j = i; j < Math.min(n, i + 50); j++) {
        const url = `${plan.base}/v/${randomToken()}`;
        batch.push(j % 2 ? post(url, 'face=green').then((r) => r.status) : fetch(url).then((r) => r.status));
      }
      for (const s of await Promise.all(batch)) {
        if (s === 404) refused += 1; else votes += 1;
      }
    }
    check(refused === n && votes === 0, `${n} random tokens refused (404)`, { refused, votes });
    summary.random_refused = refused;
    for (const bad of ['short', 'A'.repeat(32), '0'.repeat(32), `${randomToken()}x`, '%00', '..%2f..%2fetc']) {
      const r = await fetch(`${plan.base}/v/${bad}`);
      check(r.status === 404, `malformed token ${JSON.stringify(bad)}: 404`, r.status);
    }
  }
  // 5. Concurrent submissions of one link: exactly one vote.
  {
    const n = 24;
    const answers = await Promise.all(Array.from({ length: n }, (_, i) =>
      post(L.concurrent, `face=${['green', 'yellow'][i % 2]}&lang=it`)));
    const ok = answers.filter((a) => a.status === 200).length;
    const conflict = answers.filter((a) => a.status === 409).length;
    check(ok === 1 && conflict === n - 1, `${n} concurrent submissions: one stored, the rest refused`, { ok, conflict });
  }
  // 6. Accessibility (axe-core) of every page a citizen can see, in Italian and English.
  for (const lang of ['it', 'en']) {
    const ctx = await browser.newContext({ javaScriptEnabled: true, bypassCSP: true });
    const page = await ctx.newPage();
    await page.goto(`${L.axe}?lang=${lang}`);
    await axe(page, `vote page (${lang})`);
    await Promise.all([page.waitForNavigation(), page.locator('button.face.red').click()]);
    check((await page.locator('button[name=reason]').count()) === 5, `reasons page (${lang}) shown`);
    await axe(page, `reasons page (${lang})`);
    await page.goto(`${L.nojs}?lang=${lang}`);
    await axe(page, `already-voted page (${lang})`);
    await page.goto(`${L.expired}?lang=${lang}`);
    await axe(page, `expired page (${lang})`);
    await page.goto(`${plan.base}/v/${randomToken()}?lang=${lang}`);
    await axe(page, `not-found page (${lang})`);
    await ctx.close();
  }
  {
    const ctx = await browser.newContext({ javaScriptEnabled: true, bypassCSP: true });
    const page = await ctx.newPage();
    await page.goto(`${L.thanks}?lang=en`);
    await Promise.all([page.waitForNavigation(), page.getByRole('button', { name: 'Fair', exact: true }).click()]);
    check((await h1(page)) === 'Thank you!', 'thank-you page (en) shown', await h1(page));
    await axe(page, 'thank-you page (en)');
    await ctx.close();
  }
}

async function agid(browser) {
  const L = plan.links;
  {
    const ctx = await browser.newContext({ javaScriptEnabled: false, locale: 'it-IT' });
    const page = await ctx.newPage();
    const resp = await page.goto(L.agid);
    check(resp.status() === 200, 'AGID: the link opens the form', resp.status());
    checkHeaders(resp.headers(), 'AGID form');
    check((await h1(page)) === 'Quanto è soddisfatto del servizio?', 'AGID: stars question', await h1(page));
    await page.getByLabel('2 stelle su 5').check();
    await Promise.all([page.waitForNavigation(), page.getByRole('button', { name: 'Avanti', exact: true }).click()]);
    check((await h1(page)) === 'Dove ha incontrato le maggiori difficoltà?', 'AGID: follow-up for 1-3 stars', await h1(page));
    await page.getByLabel('Ho avuto problemi tecnici').check();
    await page.getByLabel(/Vuole aggiungere altri dettagli/).fill(plan.free_text);
    const [nav] = await Promise.all([page.waitForNavigation(), page.getByRole('button', { name: 'Invia il giudizio', exact: true }).click()]);
    check(nav.status() === 200 && (await h1(page)) === 'Grazie!', 'AGID: the answer is taken', await h1(page));
    await page.goto(L.agid);
    check((await h1(page)) === 'Giudizio già espresso', 'AGID: second use refused kindly', await h1(page));
    await ctx.close();
  }
  {
    // 5 stars, no follow-up, no text, with JavaScript, in English.
    const ctx = await browser.newContext({ javaScriptEnabled: true, locale: 'en-US' });
    const page = await ctx.newPage();
    await page.goto(L.agid_js);
    await page.getByLabel('5 stars out of 5').check();
    await Promise.all([page.waitForNavigation(), page.getByRole('button', { name: 'Next', exact: true }).click()]);
    check((await h1(page)) === 'What did you like best?', 'AGID JS: follow-up for 4-5 stars', await h1(page));
    await Promise.all([page.waitForNavigation(), page.getByRole('button', { name: 'Send your rating', exact: true }).click()]);
    check((await h1(page)) === 'Thank you!', 'AGID JS: the answer is taken', await h1(page));
    await ctx.close();
  }
  // Over-long free text is cut at 200 characters by the server too (a client ignoring maxlength).
  {
    const r = await post(L.agid_long, `stars=3&step=2&follow_up=5&lang=it&text=${'x'.repeat(450)}`);
    check(r.status === 200, 'AGID: a long free text is taken (cut to 200)', r.status);
  }
  for (const lang of ['it', 'en']) {
    const ctx = await browser.newContext({ javaScriptEnabled: true, bypassCSP: true });
    const page = await ctx.newPage();
    await page.goto(`${L.agid_axe}?lang=${lang}`);
    await axe(page, `AGID stars page (${lang})`);
    await page.locator('#stars-4').check();
    await Promise.all([page.waitForNavigation(), page.locator('button.primary').click()]);
    check((await page.locator('textarea').count()) === 1, `AGID follow-up page (${lang}) shown`);
    await axe(page, `AGID follow-up page (${lang})`);
    await ctx.close();
  }
}

const browser = await chromium.launch({
  executablePath: plan.chromium,
  headless: true,
  args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage'],
});
try {
  if (plan.mode === 'agid') await agid(browser); else await faces(browser);
} catch (e) {
  summary.failed += 1;
  console.log(`FAIL driver error: ${e && e.stack ? e.stack : e}`);
} finally {
  await browser.close();
}
console.log(`SUMMARY ${JSON.stringify(summary)}`);
process.exit(summary.failed ? 1 : 0);
