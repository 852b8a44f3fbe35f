// Signing in with OpenID Connect in Debian's Chromium, against the test's real OpenID Provider
// (tests/oidc/provider.mjs, its development login and consent pages): Ana, unknown to Custos,
// gets an account from her membership claim, and logs out at the provider too; the DPO's
// invited account is found by its verified address; a changed nonce is refused; someone
// without membership, and an unverified address, are refused. Each person in a fresh browser.
// Usage: node oidc.mjs BASE_URL SCREENSHOT_DIR ISSUER
import assert from 'node:assert/strict';
import { launchChromium } from './journey.mjs';
import { accessibilityProblems } from './a11y.mjs';

const [base, shots, issuer] = process.argv.slice(2);
const browser = await launchChromium();
const inaccessible = [];

/// From Custos's sign-in page through the provider's login and consent pages, as `login`.
/// With `alter`, the way to the provider is taken by hand and its URL changed on the way (the
/// state's cookie set in the browser all the same).
async function throughProvider(page, login, next = '/', alter = null) {
  await page.goto(`${base}/login?next=${encodeURIComponent(next)}`);
  for (const problem of await accessibilityProblems(page)) inaccessible.push(`login: ${problem}`);
  if (alter) {
    const started = await page.request.get(`${base}/login/oidc?next=${encodeURIComponent(next)}`, { maxRedirects: 0 });
    assert.equal(started.status(), 303);
    const url = new URL(started.headers().location);
    alter(url);
    await page.goto(url.href);
  } else {
    await page.getByRole('link', { name: 'Sign in with Test Provider' }).click();
  }
  await page.waitForURL((url) => url.href.startsWith(issuer)).catch(async (error) => {
    throw new Error(`not at the provider but at ${page.url()}: ${await page.locator('body').innerText()}`, { cause: error });
  });
  await page.locator('input[name=login]').fill(login);
  await page.locator('input[name=password]').fill('any password');
  await page.locator('button[type=submit]').click();
  // Consent, the first time this person meets the client; then back at Custos.
  const consent = page.getByRole('button', { name: 'Continue' });
  const custos = page.locator('main#content');
  await consent.or(custos).first().waitFor().catch(async (error) => {
    throw new Error(`after signing in at the provider, at ${page.url()}: ${await page.locator('body').innerText()}`, { cause: error });
  });
  if (await consent.count()) await consent.click();
  await page.waitForURL((url) => url.href.startsWith(base));
  await custos.waitFor();
}

async function fresh() {
  return (await browser.newContext({ viewport: { width: 1280, height: 900 } })).newPage();
}

try {
  // 1. Ana: no account yet; the claim gives her hypermarket-a as viewer (and an organisation
  // the register does not have, which is ignored).
  let page = await fresh();
  await throughProvider(page, 'ana', '/activities');
  assert.equal(new URL(page.url()).pathname, '/activities');
  assert.ok((await page.locator('header').innerText()).includes('ana@hypermarket-a.test'));
  const rows = await page.locator('tbody tr').allInnerTexts();
  assert.equal(rows.length, 1, `a viewer of the hypermarket sees its one activity: ${rows}`);
  await page.screenshot({ path: `${shots}/oidc-signed-in.png`, fullPage: true });
  // Logging out ends the session here and at the provider, then comes back to sign-in.
  await page.getByRole('button', { name: 'Sign out' }).click();
  await page.waitForURL((url) => url.href.startsWith(issuer));
  await page.screenshot({ path: `${shots}/oidc-provider-logout.png`, fullPage: true });
  await page.locator('button[autofocus], button[value=yes], button[type=submit]').first().click();
  await page.waitForURL((url) => url.href.startsWith(`${base}/login`));
  await page.goto(`${base}/activities`);
  assert.match(page.url(), /\/login\?next=/, 'the session has ended');
  await page.context().close();

  // 2. The DPO: invited earlier, found by the verified address the provider gives.
  page = await fresh();
  await throughProvider(page, 'dpo');
  assert.ok((await page.locator('header').innerText()).includes('dpo@hypermarket-a.test'));
  await page.context().close();

  // 3. A nonce changed on the way to the provider: the ID token it brings back is refused.
  page = await fresh();
  await throughProvider(page, 'dpo', '/', (url) => url.searchParams.set('nonce', 'a-nonce-of-someone-else'));
  let shown = await page.locator('main').innerText();
  assert.ok(shown.includes('could not be verified'), shown);
  assert.equal(await page.locator('header').count(), 0, 'not signed in: still the sign-in page');
  await page.context().close();

  // 4. Someone without membership or invitation, and an address the provider has not verified.
  page = await fresh();
  await throughProvider(page, 'nobody');
  shown = await page.locator('main').innerText();
  assert.ok(shown.includes('There is no account here for nobody@example.com'), shown);
  await page.screenshot({ path: `${shots}/oidc-refused.png`, fullPage: true });
  await page.context().close();
  page = await fresh();
  await throughProvider(page, 'shady');
  shown = await page.locator('main').innerText();
  assert.ok(shown.includes('did not give a verified e-mail address'), shown);
  await page.context().close();

  assert.deepEqual(inaccessible, [], 'accessibility basics');
  console.log('oidc journeys passed');
} finally {
  await browser.close();
}
