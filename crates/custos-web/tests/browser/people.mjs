// Running an instance's people in the browser (issue 19), in Debian's Chromium at the width
// given (the web test runs it at 1280 and at 375 px): the instance administrator invites a
// lead for the hypermarket, changes the DPO's role, disables and enables the DPO's account
// after confirming, sets up two-factor sign-in by scanning the key (the code is computed here
// as an app would, RFC 6238), signs out and in again with a recovery code at the code step,
// and a forgotten password is asked for. Every page screenshotted, checked for overflow on a
// phone and for the accessibility basics.
// Usage: node people.mjs BASE_URL SCREENSHOT_DIR WIDTH
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { launchChromium, looker, navigate } from './journey.mjs';

const [base, shots, widthArg] = process.argv.slice(2);
const width = Number(widthArg || 1280);
const browser = await launchChromium();

/// The six-digit TOTP code of a base32 key for now (what an authenticator app shows).
function totp(key) {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
  let bits = '';
  for (const c of key.replace(/=+$/, '')) bits += alphabet.indexOf(c).toString(2).padStart(5, '0');
  const bytes = Buffer.from(bits.match(/.{8}/g).map((b) => parseInt(b, 2)));
  const counter = Buffer.alloc(8);
  counter.writeBigUInt64BE(BigInt(Math.floor(Date.now() / 1000 / 30)));
  const digest = createHmac('sha1', bytes).update(counter).digest();
  const offset = digest[digest.length - 1] & 0x0f;
  return String((digest.readUInt32BE(offset) & 0x7fffffff) % 1_000_000).padStart(6, '0');
}

const { look, tooWide, inaccessible } = looker(shots, 'people', width);

const text = async (page) => page.locator('main').innerText();

try {
  const page = await (await browser.newContext({ viewport: { width, height: 900 } })).newPage();
  await page.goto(`${base}/login`);
  await page.getByLabel('E-mail address').fill('admin@custos.test');
  await page.getByLabel('Password').fill('password of admin');
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.waitForURL(`${base}/`);

  // 1. People: the invitation goes out; the list says who has access to what.
  await navigate(page, 'People');
  await page.getByText('Invite someone').click();
  await page.getByLabel(/^E-mail address/).fill('lead@hypermarket-a.test');
  await page.getByLabel('Organisation', { exact: true }).selectOption('hypermarket-a');
  await page.getByLabel('Role', { exact: true }).selectOption('admin');
  await look(page, 'invite');
  await page.getByRole('button', { name: 'Send the invitation' }).click();
  let shown = await text(page);
  assert.ok(shown.includes('The invitation is on its way to lead@hypermarket-a.test'), shown);
  assert.ok(shown.includes('lead@hypermarket-a.test') && shown.includes('invited'), shown);
  await look(page, 'people');

  // 2. A person's role changed; the account disabled after saying what happens, then back.
  await page.getByRole('link', { name: 'dpo@hypermarket-a.test' }).click();
  await page.getByLabel('Role in hypermarket-a').selectOption('viewer');
  await page.getByRole('button', { name: 'Change' }).click();
  assert.ok((await text(page)).includes('Role in hypermarket-a: viewer.'));
  await page.getByRole('button', { name: 'Disable…' }).click();
  assert.ok((await text(page)).includes('Every session of the account ends now'));
  await look(page, 'disable-confirm');
  await page.getByRole('button', { name: 'Disable the account' }).click();
  assert.ok((await text(page)).includes('dpo@hypermarket-a.test is disabled.'));
  await look(page, 'person-disabled');
  await page.getByRole('button', { name: 'Enable again…' }).click();
  await page.getByRole('button', { name: 'Enable the account' }).click();
  assert.ok((await text(page)).includes('dpo@hypermarket-a.test is active.'));

  // 3. Two-factor sign-in: the key as a QR code and a link, confirmed with the app's code.
  await navigate(page, 'Settings');
  await look(page, 'security');
  await page.getByRole('button', { name: 'Set up two-factor sign-in' }).click();
  assert.equal(await page.locator('.qr svg').count(), 1, 'the QR code is drawn');
  const key = (await page.locator('code.secret').innerText()).trim();
  await look(page, 'totp-offer');
  await page.getByLabel('The six-digit code the app shows now').fill(totp(key));
  await page.getByRole('button', { name: 'Turn two-factor sign-in on' }).click();
  shown = await text(page);
  assert.ok(shown.includes('Two-factor sign-in is on'), shown);
  const recovery = (await page.locator('ul.codes code').allInnerTexts()).map((c) => c.trim());
  assert.equal(recovery.length, 10);
  await look(page, 'recovery-codes');

  // 4. Signing in again: the password, then a recovery code at the code step.
  await page.getByRole('button', { name: 'Sign out' }).click();
  await page.waitForURL(/\/login/);
  await page.getByLabel('E-mail address').fill('admin@custos.test');
  await page.getByLabel('Password').fill('password of admin');
  await page.getByRole('button', { name: 'Sign in' }).click();
  assert.ok((await page.locator('main').innerText()).includes('Two-factor sign-in'));
  await page.getByLabel('Code').fill('000000');
  await page.getByRole('button', { name: 'Sign in' }).click();
  assert.match(await page.getByRole('alert').innerText(), /This code is not right/);
  await look(page, 'login-code');
  await page.getByLabel('Code').fill(recovery[0]);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.waitForURL(`${base}/`);

  // 5. A forgotten password, from the sign-in page: the same answer for any address.
  await page.getByRole('button', { name: 'Sign out' }).click();
  await page.waitForURL(/\/login/);
  await page.getByRole('link', { name: 'Forgot your password?' }).click();
  await page.getByLabel('E-mail address').fill('nobody@example.com');
  await look(page, 'reset-ask');
  await page.getByRole('button', { name: 'Send the link' }).click();
  assert.ok((await page.locator('main').innerText()).includes('If nobody@example.com has an account'));
  await look(page, 'reset-sent');

  if (width <= 400) assert.deepEqual(tooWide, [], `pages wider than a ${width} px phone`);
  assert.deepEqual(inaccessible, [], 'accessibility basics');
  console.log('people journeys passed');
} finally {
  await browser.close();
}
