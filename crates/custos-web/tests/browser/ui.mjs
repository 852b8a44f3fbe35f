// The web UI in Debian's Chromium, driven by playwright-core: sign in, open the marketing
// chain, see B, C, D and the transfer to Israel on the picture and in the tables; a portal
// user sees nothing of the bank; the keyboard reaches the sign-in form through its labels; a
// data subject's erasure request from the public page (no script) to the Art. 19 tree.
// Usage: node ui.mjs BASE_URL SCREENSHOT_DIR (the web test binary starts it).
import assert from 'node:assert/strict';
import { launchChromium, navigate } from './journey.mjs';
import { accessibilityProblems } from './a11y.mjs';

const [base, shots, widthArg] = process.argv.slice(2);
// The journey at this width (the web test takes it at 1366 and again at 375 px).
const width = Number(widthArg || 1366);
const tag = width === 1366 ? '' : `-${width}`;
const browser = await launchChromium();

try {
  const page = await browser.newPage({ viewport: { width, height: 900 } });

  // A page without a session leads to the sign-in form; its fields have labels.
  await page.goto(`${base}/activities`);
  assert.match(page.url(), /\/login\?next=%2Factivities$/);
  await page.getByLabel('E-mail address').fill('dpo@hypermarket-a.test');
  await page.getByLabel('Password').fill('wrong password');
  await page.getByRole('button', { name: 'Sign in' }).click();
  assert.match(await page.getByRole('alert').innerText(), /not right/);
  // Keyboard only: the e-mail address is kept, Tab reaches the password, Enter submits.
  await page.getByLabel('Password').focus();
  await page.keyboard.type('password of hypermarket');
  await page.keyboard.press('Enter');
  await page.waitForURL(`${base}/activities`);

  const rows = await page.locator('tbody tr').allInnerTexts();
  assert.equal(rows.length, 1, `the hypermarket sees its one activity: ${rows}`);
  await page.getByRole('link', { name: 'Customer segmentation and marketing e-mails' }).click();
  await page.waitForURL(/\/activities\/customer-marketing/);
  await page.getByLabel('Chain as of').fill('2026-05-31');
  await page.getByRole('button', { name: 'Show' }).click();
  await page.waitForURL(/at=2026-05-31/);

  const picture = page.locator('svg.chain');
  const drawn = await picture.textContent();
  for (const expected of ['Hypermarket A S.L.', 'Agency B S.L.', 'Mailer C Ltd', 'Hosting D Ltd', 'transfer → IL']) {
    assert.ok(drawn.includes(expected), `the chain picture shows ${expected}: ${drawn}`);
  }
  assert.ok(!drawn.includes('Analytics E'), 'E joined in June 2026');
  assert.equal(await picture.locator('g.link').count(), 4);
  const recipients = await page.locator('h2:has-text("Recipients") + table').innerText();
  for (const expected of ['Agency B S.L.', 'Mailer C Ltd', 'Hosting D Ltd', 'Israel', 'Spain']) {
    assert.ok(recipients.includes(expected), `recipients list ${expected}`);
  }
  const transfers = await page.locator('h2:has-text("Transfers") + table').innerText();
  assert.ok(transfers.includes('Israel') && transfers.includes('valid'), transfers);
  assert.ok(transfers.includes('adequacy decision for Israel'), transfers);
  await page.screenshot({ path: `${shots}/marketing-chain${tag}.png`, fullPage: true });

  // The controller's documents: the notice as it stands, in Spanish, published as version 1;
  // the records download as PDF and XLSX with the session.
  await page.goto(`${base}/organisations/hypermarket-a`);
  await page.getByRole('link', { name: 'Privacy notice: recipients and transfers' }).click();
  await page.waitForURL(/\/organisations\/hypermarket-a\/notice/);
  await page.getByLabel('Language').selectOption('es');
  await page.getByRole('button', { name: 'Show' }).click();
  await page.waitForURL(/lang=es/);
  const preview = page.frameLocator('iframe.notice-preview');
  const notice = await preview.locator('body').innerText();
  for (const expected of ['Quién recibe sus datos personales', 'Agency B S.L.', 'Mailer C Ltd', 'Hosting D Ltd', 'Israel', 'decisión de adecuación']) {
    assert.ok(notice.includes(expected), `the notice preview shows ${expected}: ${notice}`);
  }
  await page.getByRole('button', { name: 'Publish this version' }).click();
  // Publishing is irreversible: a page says what it does and asks again.
  assert.ok((await page.locator('main').innerText()).includes('Published versions are kept and cannot be changed'));
  await page.screenshot({ path: `${shots}/confirm${tag}.png`, fullPage: true });
  await page.getByRole('button', { name: 'Publish', exact: true }).click();
  await page.waitForURL(/\/organisations\/hypermarket-a\/notice\?style=named&lang=es/);
  const versions = await page.locator('h2:has-text("Published versions") + table').innerText();
  assert.ok(versions.includes('v1') && versions.includes('first version'), versions);
  await page.screenshot({ path: `${shots}/notice${tag}.png`, fullPage: true });
  const pdf = await page.request.get(`${base}/api/v1/organisations/hypermarket-a/records?format=pdf`);
  assert.equal(pdf.status(), 200);
  assert.equal(pdf.headers()['content-type'], 'application/pdf');
  assert.ok((await pdf.body()).subarray(0, 5).toString() === '%PDF-');
  const xlsx = await page.request.get(`${base}/api/v1/organisations/hypermarket-a/records?format=xlsx`);
  assert.equal(xlsx.status(), 200);

  // Findings appear on the picture at their link: the bank's courier chain.
  await page.getByRole('button', { name: 'Sign out' }).click();
  await page.waitForURL(`${base}/login`);
  await page.getByLabel('E-mail address').fill('privacy@bank.test');
  await page.getByLabel('Password').fill('password of bank');
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.waitForURL(`${base}/`);
  await page.goto(`${base}/activities/document-delivery`);
  const courier = page.locator('svg.chain');
  assert.ok((await courier.textContent()).includes('not authorised'));
  assert.equal(await courier.locator('circle').count(), 1, 'one link carries findings');
  assert.equal(await page.locator('.finding.error').count(), 3);
  await page.screenshot({ path: `${shots}/courier-chain${tag}.png`, fullPage: true });
  await page.goto(`${base}/findings`);
  assert.equal(await page.locator('.finding').count(), 3);

  // Agency B's portal user sees nothing of the bank.
  await page.getByRole('button', { name: 'Sign out' }).click();
  await page.getByLabel('E-mail address').fill('staff@agency-b.test');
  await page.getByLabel('Password').fill('password of agency-b');
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.waitForURL(`${base}/`);
  const response = await page.goto(`${base}/activities/document-delivery`);
  assert.equal(response.status(), 404);
  assert.match(await page.locator('main').innerText(), /does not exist or is not visible to you/);

  // The sub-processor workflow: B's portal user files a request with the questionnaire...
  await page.goto(`${base}/change-requests`);
  await page.getByRole('link', { name: 'File a request' }).click();
  await page.getByLabel('What the candidate will do').fill('Attribution analysis');
  await page.getByLabel('Id in the register (lowercase, dashes)').fill('analytics-w');
  await page.getByLabel('Legal name').fill('Analytics W S.L.');
  await page.getByLabel('Country (ISO code, e.g. ES)').fill('ES');
  await page.getByLabel('Address').fill('Gran Vía 1, Madrid');
  await page.getByLabel('Contact person').fill('Wanda Gil');
  await page.getByLabel('Contact e-mail').fill('dpo@analytics-w.example');
  await page.getByLabel('Description of the processing').fill('Attribution of campaign results');
  await page.getByLabel('Certifications (comma-separated, e.g. iso27001, iso27701)').fill('iso27001');
  await page.getByLabel('Questionnaire answered by the candidate (file, up to 10 MiB)').setInputFiles({
    name: 'questionnaire.txt', mimeType: 'text/plain', buffer: Buffer.from('Q1: encryption at rest? A: yes'),
  });
  await page.getByRole('button', { name: 'File the request' }).click();
  await page.waitForURL(/\/change-requests\/[0-9a-f-]{36}$/);
  const requestUrl = page.url();
  const filed = await page.locator('main').innerText();
  assert.ok(filed.includes('Agency B S.L. asks to engage Analytics W S.L.') && filed.includes('questionnaire.txt'), filed);
  assert.ok(filed.includes('Hypermarket A S.L. → Agency B S.L. → Analytics W S.L. (candidate)'), filed);

  // ...A's editor finds it in the inbox with its countdown and approves...
  await page.getByRole('button', { name: 'Sign out' }).click();
  await page.getByLabel('E-mail address').fill('dpo@hypermarket-a.test');
  await page.getByLabel('Password').fill('password of hypermarket');
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.waitForURL(`${base}/`);
  await navigate(page, 'Sub-processor changes');
  const inbox = await page.locator('h2:has-text("Waiting for your decision") + table').innerText();
  assert.ok(inbox.includes('Analytics W S.L.') && inbox.includes('left'), inbox);
  await page.getByRole('link', { name: 'Analytics W S.L.' }).first().click();
  await page.getByRole('button', { name: 'Approve' }).click();
  await page.waitForURL(requestUrl);
  assert.ok((await page.locator('.lead').innerText()).includes('approved'));
  await page.screenshot({ path: `${shots}/change-request${tag}.png`, fullPage: true });

  // ...and B engages the candidate.
  await page.getByRole('button', { name: 'Sign out' }).click();
  await page.getByLabel('E-mail address').fill('staff@agency-b.test');
  await page.getByLabel('Password').fill('password of agency-b');
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.waitForURL(`${base}/`);
  await page.goto(requestUrl);
  await page.getByRole('button', { name: 'Engage Analytics W S.L. now' }).click();
  assert.ok((await page.locator('main').innerText()).includes('becomes a sub-processor of agency-b'));
  await page.getByRole('button', { name: 'Engage now' }).click();
  await page.waitForURL(requestUrl);
  assert.ok((await page.locator('.lead').innerText()).includes('executed'));
  // A data subject asks for erasure on the public intake page, with JavaScript off.
  const subject = await browser.newContext({ javaScriptEnabled: false });
  const intake = await subject.newPage();
  await intake.goto(`${base}/public/organisations/hypermarket-a/requests`);
  assert.equal(await intake.locator('script').count(), 0);
  await intake.getByLabel('What do you ask for?').selectOption('erasure');
  await intake.getByLabel('Your e-mail address').fill('ana.garcia@example.com');
  await intake.getByLabel('Details (what to correct, anything that helps us find your data)').fill('Please erase my account');
  await intake.getByRole('button', { name: 'Send the request' }).click();
  assert.equal(await intake.getByRole('heading', { level: 1 }).innerText(), 'Check your e-mail');
  await subject.close();

  // Her data went to B in 2025 (recorded by the shop's system through the API).
  const recorded = await fetch(`${base}/api/v1/disclosures`, {
    method: 'POST',
    headers: { authorization: 'Bearer custos_test-token-of-hypermarket', 'content-type': 'application/json' },
    body: JSON.stringify({ identifier: 'ana.garcia@example.com', activity: 'customer-marketing', recipient: 'agency-b',
                           categories: ['email'], at: '2025-05-10T10:00:00Z' }),
  });
  assert.equal(recorded.status, 201);

  // A's editor finds it in the inbox with its deadline, verifies it, tells the recipients.
  await page.getByRole('button', { name: 'Sign out' }).click();
  await page.getByLabel('E-mail address').fill('dpo@hypermarket-a.test');
  await page.getByLabel('Password').fill('password of hypermarket');
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.waitForURL(`${base}/`);
  await navigate(page, 'Subject requests');
  const open = await page.locator('h2:has-text("Open") + table').innerText();
  assert.ok(open.includes('erasure') && open.includes('2026-12-25'), open);
  // A request received by telephone is entered from the inbox; it waits for verification.
  await page.getByText('Enter a request received by letter, telephone or at a desk').click();
  await page.getByLabel('Kind', { exact: true }).selectOption('access');
  await page.getByLabel("Subject's e-mail address (the verification link goes there)").fill('luis@example.com');
  await page.getByRole('button', { name: 'Enter the request' }).click();
  await page.waitForURL(/\/subject-requests\/[0-9a-f-]{36}$/);
  const entered = await page.locator('main').innerText();
  assert.ok(entered.includes('(staff)') && entered.includes('not verified'), entered);
  await navigate(page, 'Subject requests');
  await page.locator('h2:has-text("Open") + table tr', { hasText: 'erasure' }).getByRole('link').click();
  await page.waitForURL(/\/subject-requests\/[0-9a-f-]{36}$/);
  const requestPage = page.url();
  assert.ok((await page.locator('main').innerText()).includes('not verified'));
  await page.getByLabel('Verified by').fill('telephone call-back');
  await page.getByLabel('Evidence').fill('customer number and last order confirmed');
  await page.getByRole('button', { name: 'Record verification' }).click();
  await page.waitForURL(requestPage);
  await page.getByRole('button', { name: 'Tell every recipient' }).click();
  await page.waitForURL(/\/notify$/);
  assert.ok((await page.locator('main').innerText()).includes('cannot be taken back once sent'));
  await page.getByRole('button', { name: 'Tell every recipient' }).click();
  await page.waitForURL(requestPage);
  const tree = await page.locator('ul.tree').innerText();
  assert.ok(tree.includes('Agency B S.L. sent told by the controller'), tree);
  assert.ok(tree.includes('Mailer C Ltd pending relayed by Agency B S.L.'), tree);
  assert.ok(tree.includes('Hosting D Ltd pending relayed by Mailer C Ltd'), tree);
  // A recipient not yet told can be recorded as impossible, not as done; closing waits.
  const hostingD = page.locator('ul.tree li', { hasText: 'Hosting D Ltd' });
  assert.equal(await hostingD.getByRole('button', { name: 'Done' }).count(), 0);
  await hostingD.getByLabel('Note').fill('backups only, overwritten within 30 days');
  await hostingD.getByRole('button', { name: 'Impossible or disproportionate' }).click();
  await page.waitForURL(requestPage);
  assert.ok((await page.locator('ul.tree').innerText()).includes('Hosting D Ltd impossible'));
  assert.equal(await page.getByRole('button', { name: 'Close as done' }).count(), 0);
  await page.screenshot({ path: `${shots}/subject-request${tag}.png`, fullPage: true });

  // The hypermarket's English notice template carries a script (saved by the test before):
  // served as a document it runs nowhere, neither opened directly nor in the page's preview.
  await page.goto(`${base}/api/v1/organisations/hypermarket-a/notice?format=html&lang=en`);
  assert.ok((await page.locator('body').innerText()).includes('Agency B S.L.'));
  assert.equal(await page.evaluate(() => document.documentElement.dataset.ran ?? 'no'), 'no',
    'the template\'s script ran in the document');
  await page.goto(`${base}/organisations/hypermarket-a/notice?lang=en`);
  const previewFrame = page.frameLocator('iframe.notice-preview');
  assert.ok((await previewFrame.locator('body').innerText()).includes('Agency B S.L.'));
  // Evaluated inside the frame itself (its origin is opaque: the page cannot look in).
  const frame = page.frames().find((f) => f !== page.mainFrame());
  assert.ok(frame, 'the preview frame');
  assert.equal(await frame.evaluate(() => document.documentElement.dataset.ran ?? 'no'), 'no',
    'the template\'s script ran in the preview');
  // A breach: agency B's portal user reports it; the hypermarket's clock starts; its editor
  // assesses, decides, records the filing and downloads the report for the authority.
  await page.getByRole('button', { name: 'Sign out' }).click();
  await page.getByLabel('E-mail address').fill('staff@agency-b.test');
  await page.getByLabel('Password').fill('password of agency-b');
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.waitForURL(`${base}/`);
  await navigate(page, 'Breaches');
  await page.getByRole('link', { name: 'Report a breach' }).click();
  await page.getByLabel('Began (UTC)').fill('2026-11-23T22:00');
  await page.getByLabel('You became aware (UTC)').fill('2026-11-24T08:00');
  await page.getByLabel('Confidentiality (disclosure, access)').check();
  await page.getByLabel('What happened').fill('A campaign export with customer e-mail addresses was sent to a wrong partner');
  await page.getByLabel('Categories of personal data (comma-separated ids, e.g. email, national-id)').fill('email, order-history');
  await page.getByLabel('People concerned, at least').fill('1200');
  await page.getByLabel('Contact person').fill('Bruno Sanz');
  await page.getByLabel('Contact e-mail').fill('security@agency-b.example');
  await page.getByLabel('Files (evidence, a forensic report; up to 10 MiB each)').setInputFiles([
    { name: 'mail-log.txt', mimeType: 'text/plain', buffer: Buffer.from('10:02 export sent to partner-x') },
    { name: 'partner-letter.txt', mimeType: 'text/plain', buffer: Buffer.from('We deleted the file.') },
  ]);
  await page.getByRole('button', { name: 'Report the breach' }).click();
  await page.waitForURL(/\/breaches\/[0-9a-f-]{36}$/);
  const breachUrl = page.url();
  const reportedPage = await page.locator('main').innerText();
  assert.ok(reportedPage.includes('agency-b') && reportedPage.includes('hypermarket-a'), reportedPage);
  assert.ok(!reportedPage.includes('the 72 hours'), 'the processor sees no controller\'s case');
  // A follow-up phase: the partner deleted the file.
  await page.getByText('Add or correct facts for agency-b').click();
  await page.getByLabel('What this phase brings').fill('The partner confirmed deletion');
  await page.getByLabel('Measures taken').fill('The partner deleted the export and confirmed it in writing');
  await page.getByRole('button', { name: 'Add the phase' }).click();
  await page.waitForURL(breachUrl);
  assert.ok((await page.locator('.lead').innerText()).includes('facts version 2'));

  await page.getByRole('button', { name: 'Sign out' }).click();
  await page.getByLabel('E-mail address').fill('dpo@hypermarket-a.test');
  await page.getByLabel('Password').fill('password of hypermarket');
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.waitForURL(`${base}/`);
  await navigate(page, 'Breaches');
  // The controller reads the processor's files.
  await page.goto(breachUrl);
  const evidence = await page.request.get(base + await page.getByRole('link', { name: 'mail-log.txt' }).getAttribute('href'));
  assert.equal(evidence.status(), 200);
  assert.equal(await evidence.text(), '10:02 export sent to partner-x');
  await navigate(page, 'Breaches');
  const breachList = await page.locator('main table').innerText();
  assert.ok(breachList.includes('hypermarket-a') && breachList.includes('72 h left'), breachList);
  await page.goto(breachUrl);
  await page.getByLabel('Risk to people').selectOption('risk');
  await page.getByLabel('Why').fill('E-mail addresses and purchase history went to one known partner');
  await page.locator('select[name=context]').selectOption('behavioural');
  await page.locator('select[name=confidentiality]').selectOption('limited');
  await page.getByRole('button', { name: 'Save the assessment' }).click();
  await page.waitForURL(breachUrl);
  assert.ok((await page.locator('main').innerText()).includes('2.25: medium'), 'the ENISA aid is shown');
  await page.getByLabel('Decision', { exact: true }).selectOption('notify-authority');
  await page.getByLabel('Reasons', { exact: true }).fill('A risk to the customers: phishing');
  await page.getByRole('button', { name: 'Record the decision' }).click();
  await page.waitForURL(breachUrl);
  await page.getByLabel('Submitted (UTC)').fill('2026-11-25T00:00');
  await page.getByLabel("The authority's reference").fill('AEPD-2026-77');
  await page.getByRole('button', { name: 'Record the filing' }).click();
  await page.waitForURL(/\/file$/);
  assert.ok((await page.locator('main').innerText()).includes('the 72-hour clock stops for this case'));
  await page.getByRole('button', { name: 'Record the filing' }).click();
  await page.waitForURL(breachUrl);
  const decidedPage = await page.locator('main').innerText();
  assert.ok(decidedPage.includes('notify-authority') && decidedPage.includes('AEPD-2026-77'), decidedPage);
  await page.screenshot({ path: `${shots}/breach${tag}.png`, fullPage: true });
  const reportPdf = await page.request.get(page.url().replace('/breaches/', '/api/v1/breaches/') + '/cases/hypermarket-a/report?format=pdf');
  assert.equal(reportPdf.status(), 200);
  assert.ok((await reportPdf.body()).subarray(0, 5).toString() === '%PDF-');
  await page.getByRole('link', { name: 'Report to the authority' }).click();
  const reportHtml = await page.locator('body').innerText();
  assert.ok(reportHtml.includes('Agencia Española de Protección de Datos') && reportHtml.includes('AEPD-2026-77'), reportHtml);
  // On a phone every page fits: nothing wider than the screen but the scrolling tables and
  // the chain's picture, which scroll within their boxes.
  await page.setViewportSize({ width: 375, height: 800 });
  const tooWide = [];
  const inaccessible = [];
  for (const path of ['/', '/activities', '/activities/customer-marketing', '/organisations',
                      '/links/a-b', '/contracts/dpa-a-b', '/contracts/dpa-a-b/edit', '/notifications',
                      '/settings/tokens', '/settings/webhooks', '/audit',
                      '/organisations/hypermarket-a', '/organisations/hypermarket-a/notice', '/findings',
                      '/change-requests', new URL(requestUrl).pathname, '/subject-requests',
                      new URL(requestPage).pathname, '/breaches', new URL(breachUrl).pathname,
                      '/breaches/new', '/public/organisations/hypermarket-a/requests']) {
    await page.goto(`${base}${path}`);
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    if (overflow > 0) tooWide.push(`${path}: ${overflow} px`);
    for (const problem of await accessibilityProblems(page)) inaccessible.push(`${path}: ${problem}`);
  }
  await page.goto(breachUrl);
  await page.screenshot({ path: `${shots}/breach-375${tag}.png`, fullPage: true });
  await page.goto(`${base}/`);
  await page.screenshot({ path: `${shots}/dashboard-375${tag}.png`, fullPage: true });
  await page.goto(`${base}/activities/customer-marketing`);
  await page.screenshot({ path: `${shots}/chain-375${tag}.png`, fullPage: true });
  assert.deepEqual(tooWide, [], 'pages wider than a 375 px phone');
  assert.deepEqual(inaccessible, [], 'accessibility basics');
  await page.setViewportSize({ width, height: 900 });
  await page.goto(`${base}/`);
  await page.screenshot({ path: `${shots}/dashboard${tag}.png`, fullPage: true });
  console.log('browser checks passed');
} finally {
  await browser.close();
}
