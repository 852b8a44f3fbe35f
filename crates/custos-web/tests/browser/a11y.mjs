// Accessibility basics, checked on each page a journey visits: every field has a name
// (a label, or aria-label), headings start at one h1 and never skip a level going down, and
// the focus is visible with a contrast of at least 3:1 against the background around it
// (WCAG 2.2, 1.3.1, 2.4.6, 2.4.7, 1.4.11).

/// The problems found on the page, as lines; none when it passes.
export async function accessibilityProblems(page) {
  return page.evaluate(() => {
    const problems = [];
    const visible = (el) => {
      const style = getComputedStyle(el);
      return style.display !== 'none' && style.visibility !== 'hidden' && el.getClientRects().length > 0;
    };
    for (const field of document.querySelectorAll('input, select, textarea')) {
      if (field.type === 'hidden' || !visible(field)) continue;
      const labelled = (field.id && document.querySelector(`label[for="${field.id}"]`))
        || field.closest('label') || field.getAttribute('aria-label') || field.getAttribute('aria-labelledby');
      if (!labelled) problems.push(`a ${field.tagName.toLowerCase()} named ${field.name || '?'} has no label`);
    }
    const headings = [...document.querySelectorAll('h1, h2, h3, h4, h5, h6')].filter(visible);
    const ones = headings.filter((h) => h.tagName === 'H1').length;
    if (ones !== 1) problems.push(`${ones} h1 headings`);
    let level = 0;
    for (const h of headings) {
      const next = Number(h.tagName[1]);
      if (level && next > level + 1) problems.push(`h${level} then h${next}: "${h.textContent.trim()}"`);
      level = next;
    }
    // Focus: the first link of the page and of its header, each focused in turn.
    const luminance = (rgb) => {
      const [r, g, b] = rgb.match(/\d+(\.\d+)?/g).slice(0, 3).map(Number).map((c) => {
        const s = c / 255;
        return s <= 0.03928 ? s / 12.92 : ((s + 0.055) / 1.055) ** 2.4;
      });
      return 0.2126 * r + 0.7152 * g + 0.0722 * b;
    };
    const background = (el) => {
      for (let at = el; at; at = at.parentElement) {
        const color = getComputedStyle(at).backgroundColor;
        if (color && !color.startsWith('rgba(0, 0, 0, 0)') && color !== 'transparent') return color;
      }
      return 'rgb(255, 255, 255)';
    };
    for (const selector of ['main a[href]', 'header a[href]']) {
      const link = [...document.querySelectorAll(selector)].find(visible);
      if (!link) continue;
      link.focus();
      const style = getComputedStyle(link);
      if (style.outlineStyle === 'none' || parseFloat(style.outlineWidth) < 2) {
        problems.push(`${selector}: no visible focus`);
        continue;
      }
      const [a, b] = [luminance(style.outlineColor), luminance(background(link.parentElement))];
      const contrast = (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05);
      if (contrast < 3) problems.push(`${selector}: focus contrast ${contrast.toFixed(2)} < 3`);
      link.blur();
    }
    return problems;
  });
}
