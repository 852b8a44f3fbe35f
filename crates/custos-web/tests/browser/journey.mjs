// What every browser journey shares: Debian's Chromium with the flags that work on this kind
// of machine, following a link of the main navigation (folded under "Menu" on a phone), and
// looking at a page: a numbered screenshot for reviewers, its overflow on a phone and its
// accessibility problems noted for the journey's end.
import { chromium } from 'playwright-core';
import { accessibilityProblems } from './a11y.mjs';

export async function launchChromium() {
  return chromium.launch({
    executablePath: process.env.CUSTOS_CHROMIUM || '/usr/bin/chromium',
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
           '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
}

/// Follows a link of the main navigation; on a phone it is folded under "Menu" first.
export async function navigate(page, name) {
  const menu = page.locator('details.menu');
  if (await menu.isVisible()) {
    if (!(await menu.evaluate((d) => d.open))) await menu.locator('summary').click();
    await menu.getByRole('link', { name, exact: true }).click();
  } else {
    await page.locator('nav.main').getByRole('link', { name, exact: true }).click();
  }
}

/// A looker for one journey: `look(page, name)` screenshots the page as
/// `SHOTS/PREFIX-NN-NAME-WIDTH.png` and notes any overflow and accessibility problem in
/// `tooWide` and `inaccessible`.
export function looker(shots, prefix, width) {
  const tooWide = [];
  const inaccessible = [];
  let shot = 0;
  async function look(page, name) {
    shot += 1;
    const path = `${shots}/${prefix}-${String(shot).padStart(2, '0')}-${name}-${width}.png`;
    // Screenshots are for reviewers, not assertions: one that fails (Chromium busy on 2 cores)
    // is taken again once, then reported without failing the journey.
    try {
      await page.screenshot({ path, fullPage: true });
    } catch (first) {
      await page.waitForTimeout(500);
      await page.screenshot({ path, fullPage: true }).catch((again) =>
        console.error(`screenshot ${name} not taken: ${first.message}; ${again.message}`));
    }
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    if (overflow > 0) tooWide.push(`${name} (${new URL(page.url()).pathname}): ${overflow} px`);
    for (const problem of await accessibilityProblems(page)) inaccessible.push(`${name}: ${problem}`);
  }
  return { look, tooWide, inaccessible };
}
