// The browser as the workplace (issue 18), each journey taken by the party allowed to, in
// Debian's Chromium at the width given (the web test runs it at 1280 and at 375 px, each on a
// fresh server): the DPO adds a processor with an SCC transfer and sees the finding go; the
// processor proposes a contract amendment and the controller accepts it; the processor
// answers a request for information and the controller approves; the processor acknowledges
// and completes an Art. 19 notification; a DPO acknowledges a finding. Every page is
// screenshotted, and at 375 px none may be wider than the screen.
// Usage: node workplace.mjs BASE_URL SCREENSHOT_DIR WIDTH
import assert from 'node:assert/strict';
import { launchChromium, looker, navigate } from './journey.mjs';

const [base, shots, widthArg] = process.argv.slice(2);
const width = Number(widthArg || 1280);
const browser = await launchChromium();

const { look, tooWide, inaccessible } = looker(shots, 'workplace', width);

async function signIn(page, email, password) {
  await page.goto(`${base}/login`);
  await page.getByLabel('E-mail address').fill(email);
  await page.getByLabel('Password').fill(password);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.waitForURL(`${base}/`);
}

async function api(method, path, user, body) {
  const response = await fetch(`${base}${path}`, {
    method,
    headers: { authorization: `Bearer custos_test-token-of-${user}`, 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await response.text();
  return { status: response.status, body: text ? JSON.parse(text) : null };
}

const text = async (page) => page.locator('main').innerText();

try {
  const context = await browser.newContext({ viewport: { width, height: 900 } });
  const page = await context.newPage();

  // 1. The DPO adds a processor in the US, engages it, sees the transfer finding, records the
  // SCCs in the link's form and sees the finding go.
  await signIn(page, 'dpo@hypermarket-a.test', 'password of hypermarket');
  await look(page, 'dashboard');
  await navigate(page, 'Organisations');
  await page.getByRole('link', { name: 'Add an organisation' }).click();
  await page.getByLabel('Identifier').fill('cloud-us');
  await page.getByLabel('Legal name').fill('Cloud US Inc');
  await page.getByLabel('Country of establishment').selectOption('US');
  await page.getByLabel('Address').fill('1 Cloud Way, Seattle');
  await page.locator('#f-contact_email').fill('pat@cloud-us.example');
  await look(page, 'organisation-form');
  await page.getByRole('button', { name: 'Save the organisation' }).click();
  await page.waitForURL(/\/links\/new\?processor=cloud-us$/);
  await page.getByLabel('Identifier of the link').fill('a-cloud');
  await page.getByLabel('Activity').selectOption('customer-marketing');
  await page.getByLabel('Engaged by (the controller, or a processor above in the chain)').fill('hypermarket-a');
  await page.getByLabel('What it does with the data').fill('Cloud hosting of campaign data');
  await page.getByRole('button', { name: 'Preview' }).click();
  let shown = await text(page);
  assert.ok(shown.includes('It adds Cloud US Inc (cloud-us) to the recipients of customer-marketing.'), shown);
  assert.ok(shown.includes('Transfer outside the EEA with no mechanism'), shown);
  await look(page, 'link-preview');
  await page.getByRole('button', { name: 'Save the link' }).click();
  await page.waitForURL(`${base}/links/a-cloud`);
  await page.goto(`${base}/findings?rule=transfer-no-mechanism`);
  shown = await text(page);
  assert.ok(shown.includes('a-cloud'), shown);
  await look(page, 'findings-transfer');
  await page.getByRole('link', { name: "the link's form" }).first().click();
  await page.waitForURL(/\/links\/a-cloud\/edit$/);
  const offered = await page.locator('#f-transfer option').allInnerTexts();
  assert.ok(offered.some((o) => o.startsWith('Standard contractual clauses, module 2')), offered.join('\n'));
  assert.ok(!offered.some((o) => o.startsWith('Adequacy')), 'no decision covers an uncertified US importer');
  await page.locator('#f-transfer').selectOption('scc-2');
  await page.getByRole('button', { name: 'Preview' }).click();
  assert.ok((await text(page)).includes('1 finding(s) resolved'));
  await page.getByRole('button', { name: 'Save the link' }).click();
  await page.waitForURL(`${base}/links/a-cloud`);
  await look(page, 'link');
  await page.goto(`${base}/findings?rule=transfer-no-mechanism`);
  assert.ok(!(await text(page)).includes('a-cloud'), 'the finding is gone');
  // The access answer's preview is a readable frame, not 300 × 150 px.
  const access = await api('POST', '/api/v1/subject-requests', 'hypermarket',
    { controller: 'hypermarket-a', kind: 'access', email: 'luis@example.com' });
  assert.equal(access.status, 201);
  assert.equal((await api('POST', `/api/v1/subject-requests/${access.body.key}/verification`, 'hypermarket',
    { method: 'in person', evidence: 'ID shown' })).status, 200);
  await page.goto(`${base}/subject-requests/${access.body.key}`);
  const frame = await page.locator('iframe.preview').boundingBox();
  assert.ok(frame.width >= Math.min(600, width - 60) && frame.height >= 400, JSON.stringify(frame));
  await look(page, 'access-answer');

  // 2. Agency B's editor proposes an amendment of its contract; the hypermarket accepts it.
  await page.getByRole('button', { name: 'Sign out' }).click();
  await signIn(page, 'b-editor@agency-b.test', 'password of b-editor');
  await page.goto(`${base}/contracts/dpa-a-b`);
  await look(page, 'contract');
  await page.getByRole('link', { name: 'Propose an amendment' }).click();
  await page.getByLabel('Breach notice to the engaging party, in hours (Art. 33(2))').fill('48');
  await look(page, 'contract-form');
  await page.getByRole('button', { name: 'Send the proposal to hypermarket-a' }).click();
  await page.waitForURL(/\/contracts\/dpa-a-b#amendment-/);
  await page.getByRole('button', { name: 'Sign out' }).click();
  await signIn(page, 'dpo@hypermarket-a.test', 'password of hypermarket');
  await page.getByRole('link', { name: /agency-b proposes an amendment of contract dpa-a-b/ }).click();
  shown = await text(page);
  assert.ok(shown.includes('breach_notice_hours') && shown.includes('48'), shown);
  await look(page, 'amendment');
  await page.getByRole('button', { name: 'Accept the amendment' }).click();
  await page.waitForURL(/\/contracts\/dpa-a-b#amendment-/);
  assert.ok((await text(page)).includes('within 48 hours of becoming aware'));

  // 3. Agency B files a US candidate without a transfer mechanism; the hypermarket asks; B
  // answers with a new dossier version; the hypermarket approves.
  await page.getByRole('button', { name: 'Sign out' }).click();
  await signIn(page, 'b-editor@agency-b.test', 'password of b-editor');
  await page.goto(`${base}/change-requests/new`);
  await page.getByLabel('What the candidate will do').fill('Campaign analytics');
  await page.getByLabel('Id in the register (lowercase, dashes)').fill('analytics-us');
  await page.getByLabel('Legal name').fill('Analytics US Inc');
  await page.getByLabel('Country (ISO code, e.g. ES)').fill('US');
  await page.getByLabel('Address').fill('1 Main St, Austin');
  await page.getByLabel('Contact person').fill('Sam Roe');
  await page.getByLabel('Contact e-mail').fill('sam@analytics-us.example');
  await page.getByLabel('Description of the processing').fill('Aggregated campaign statistics');
  await look(page, 'change-form');
  await page.getByRole('button', { name: 'File the request' }).click();
  await page.waitForURL(/\/change-requests\/[0-9a-f-]{36}$/);
  const requestUrl = page.url();
  await page.getByRole('button', { name: 'Sign out' }).click();
  await signIn(page, 'dpo@hypermarket-a.test', 'password of hypermarket');
  await page.goto(requestUrl);
  assert.ok((await text(page)).includes('ask for it before approving'));
  await look(page, 'change-request-missing-transfer');
  await page.getByRole('button', { name: 'Ask for more information' }).click();
  await page.waitForURL(requestUrl);
  await page.getByRole('button', { name: 'Sign out' }).click();
  await signIn(page, 'b-editor@agency-b.test', 'password of b-editor');
  await page.goto(requestUrl);
  await page.getByLabel('Transfer mechanism, if it processes outside the EEA').selectOption('scc-3');
  await look(page, 'dossier-version');
  await page.getByRole('button', { name: 'Send the new version' }).click();
  await page.waitForURL(requestUrl);
  await page.getByRole('button', { name: 'Sign out' }).click();
  await signIn(page, 'dpo@hypermarket-a.test', 'password of hypermarket');
  await page.goto(requestUrl);
  assert.ok(!(await text(page)).includes('ask for it before approving'));
  await page.getByRole('button', { name: 'Approve' }).click();
  await page.waitForURL(requestUrl);
  assert.ok((await page.locator('.lead').innerText()).includes('approved'));

  // 4. An erasure reaches agency B (set up through the API), whose portal user acknowledges
  // and completes it in the page, reached from its dashboard.
  assert.equal((await api('POST', '/api/v1/disclosures', 'hypermarket', { identifier: 'ana.garcia@example.com',
    activity: 'customer-marketing', recipient: 'agency-b', categories: ['email'], at: '2025-05-10T10:00:00Z' })).status, 201);
  const erasure = await api('POST', '/api/v1/subject-requests', 'hypermarket',
    { controller: 'hypermarket-a', kind: 'erasure', email: 'ana.garcia@example.com' });
  assert.equal(erasure.status, 201);
  assert.equal((await api('POST', `/api/v1/subject-requests/${erasure.body.key}/verification`, 'hypermarket',
    { method: 'in person', evidence: 'ID shown' })).status, 200);
  assert.equal((await api('POST', `/api/v1/subject-requests/${erasure.body.key}/notify`, 'hypermarket', {})).status, 200);
  await page.getByRole('button', { name: 'Sign out' }).click();
  await signIn(page, 'staff@agency-b.test', 'password of agency-b');
  await page.getByRole('link', { name: /Art\. 19 notification to agency-b/ }).click();
  await page.waitForURL(/\/notifications#notification-/);
  assert.ok((await text(page)).includes('ana.garcia@example.com'));
  await look(page, 'notifications');
  await page.getByRole('button', { name: 'Acknowledge' }).first().click();
  await page.getByLabel('What was done (evidence)').first().fill('Deleted from the segment store, ticket 4411');
  await page.getByRole('button', { name: 'Record as carried out' }).first().click();
  assert.ok((await text(page)).includes('Deleted from the segment store, ticket 4411'));

  // 5. The web shop's DPO acknowledges a finding from the findings page.
  await page.getByRole('button', { name: 'Sign out' }).click();
  await signIn(page, 'w-editor@web-controller.test', 'password of w-editor');
  await page.goto(`${base}/findings?rule=dpia-missing`);
  await page.getByText('Acknowledge on activity customer-accounts').click();
  await page.getByLabel('Why it is accepted for now').fill('The DPIA is being written');
  await look(page, 'acknowledge');
  await page.getByRole('button', { name: 'Acknowledge' }).click();
  await page.waitForURL(/\/findings\?rule=dpia-missing$/);
  assert.ok((await text(page)).includes('Acknowledged: until'));
  await look(page, 'acknowledged');

  if (width <= 400) assert.deepEqual(tooWide, [], `pages wider than a ${width} px phone`);
  assert.deepEqual(inaccessible, [], 'accessibility basics');
  console.log('workplace journeys passed');
} finally {
  await browser.close();
}
