"""The script injected into every page while recording: it reports what the person does.

It runs before the page's own scripts (``context.add_init_script``) in the top frame only and calls the
``__mapayRecord`` binding with one message per event: ``doc`` (a document loaded), ``fill`` (an input's
value changed), ``click``, ``drag`` (a handle moved sideways: a slider), ``error`` (a refusal-like message
that became visible after a click, or came with the page) and ``table`` (a server-rendered
table with rows). Each element is named by the most robust selector that is unique on the page: id,
name, label, placeholder, role and text, and only then a CSS path.
"""

BINDING = "__mapayRecord"

RECORDER_JS = r"""
(() => {
  if (window.top !== window || window.__mapayRecorder) return;
  window.__mapayRecorder = true;
  const doc = Math.random().toString(36).slice(2, 10);
  const queue = [];
  let waiting = false, lastClick = 0, lastDrag = 0, down = null;
  function flush() {
    const fn = window.__mapayRecord;
    if (!fn) { if (!waiting) { waiting = true; setTimeout(() => { waiting = false; flush(); }, 30); } return; }
    while (queue.length) fn(queue.shift());
  }
  function send(kind, data) { queue.push(Object.assign({kind, doc, url: location.href, at: Date.now()}, data)); flush(); }

  const count = s => { try { return document.querySelectorAll(s).length; } catch (e) { return 0; } };
  const quote = s => '"' + s.replace(/\\/g, '\\\\').replace(/"/g, '\\"') + '"';
  const textOf = el => (el.innerText || el.value || el.getAttribute('aria-label') || el.alt || '').trim().replace(/\s+/g, ' ');
  function labelOf(el) {
    if (el.id) { const l = document.querySelector('label[for=' + quote(el.id) + ']'); if (l) return l.textContent.trim(); }
    const wrap = el.closest('label');
    return wrap ? wrap.textContent.trim() : (el.getAttribute('aria-label') || '');
  }
  function withText(sel, text) {
    return [...document.querySelectorAll(sel)].filter(e => textOf(e).includes(text)).length;
  }
  function cssPath(el) {
    const parts = [];
    for (let e = el; e && e.nodeType === 1 && e !== document.documentElement; e = e.parentElement) {
      if (e.id && count('#' + CSS.escape(e.id)) === 1) { parts.unshift('#' + CSS.escape(e.id)); break; }
      let part = e.tagName.toLowerCase();
      const same = e.parentElement ? [...e.parentElement.children].filter(c => c.tagName === e.tagName) : [];
      if (same.length > 1) part += ':nth-of-type(' + (same.indexOf(e) + 1) + ')';
      parts.unshift(part);
    }
    return parts.join(' > ');
  }
  function selector(el) {
    const tag = el.tagName.toLowerCase();
    if (el.id && !/\d{4,}|^\d/.test(el.id) && count('#' + CSS.escape(el.id)) === 1) return '#' + CSS.escape(el.id);
    const name = el.getAttribute('name');
    if (name && count(tag + '[name=' + quote(name) + ']') === 1) return tag + '[name=' + quote(name) + ']';
    const field = ['input', 'textarea', 'select'].includes(tag);
    const label = field ? labelOf(el) : '';
    if (label && el.closest('label') && withText('label', label) === 1) return 'label:has-text(' + quote(label) + ') ' + tag;
    const ph = el.getAttribute('placeholder');
    if (ph && count(tag + '[placeholder=' + quote(ph) + ']') === 1) return tag + '[placeholder=' + quote(ph) + ']';
    const role = el.getAttribute('role');
    const text = textOf(el);
    if (!field && text && text.length <= 20) {
      const base = role ? '[role=' + role + ']' : tag;
      if (withText(base, text) === 1) return base + ':has-text(' + quote(text) + ')';
    }
    return cssPath(el);
  }
  const visible = el => { const r = el.getBoundingClientRect(); return r.width > 0 && r.height > 0; };
  function pictures(root) {
    return [...root.querySelectorAll('img, canvas')].filter(visible).map(img => ({
      selector: selector(img), src: (img.currentSrc || img.src || '').slice(0, 300),
      width: img.naturalWidth || img.width || 0, height: img.naturalHeight || img.height || 0,
      shown: Math.round(img.getBoundingClientRect().width)}));
  }
  function nearPictures(el, wanted) {
    for (let p = el.parentElement, i = 0; p && i < 4; p = p.parentElement, i++) {
      const found = pictures(p);
      if (found.length >= wanted) return found;
    }
    return [];
  }
  function errorSelector() {
    for (const s of ['#error', '[id*=error i]', '.error', '[class*=error i]', '[role=alert]']) {
      const el = document.querySelector(s);
      if (el) return selector(el);
    }
    return null;
  }
  const REFUSAL = /错误|失败|不正确|有误|失效|过期|锁定|不存在|不能为空|请重新|invalid|incorrect|wrong|error|failed/i;
  function refusals(seen) {
    const found = [];
    for (const el of document.querySelectorAll('body *')) {
      if (el.children.length || !visible(el) || ['SCRIPT', 'STYLE', 'OPTION'].includes(el.tagName)) continue;
      const text = (el.textContent || '').trim();
      if (!text || text.length > 80 || !REFUSAL.test(text) || (seen && seen.has(text))) continue;
      found.push({selector: selector(el), text});
    }
    return found;
  }
  function watchRefusal() {  // a refusal is a message that shows up after a click (or with the page)
    const seen = new Set(refusals(null).map(r => r.text));
    let sent = false;
    const check = () => { if (sent) return; const r = refusals(seen); if (r.length) { sent = true; send('error', r[0]); } };
    setTimeout(check, 500); setTimeout(check, 1500);
  }
  function onField(el) {
    if (!el || !('value' in el) || !el.tagName || el.type === 'hidden') return;
    const tag = el.tagName.toLowerCase();
    if (!['input', 'textarea', 'select'].includes(tag)) return;
    send('fill', {selector: selector(el), type: (el.getAttribute('type') || tag).toLowerCase(), id: el.id || '',
      name: el.getAttribute('name') || '', placeholder: el.getAttribute('placeholder') || '', label: labelOf(el),
      maxlength: el.maxLength > 0 ? el.maxLength : null, value: el.value, pictures: nearPictures(el, 1)});
  }
  function onClick(target) {
    const el = target.closest('button, a, [role=button], input[type=submit], input[type=button], input[type=image], img, canvas') || target;
    const tag = el.tagName.toLowerCase();
    if (tag === 'input' && !['submit', 'button', 'image'].includes(el.type)) return;
    if (['label', 'textarea', 'select', 'option', 'html', 'body'].includes(tag)) return;
    lastClick = Date.now();
    send('click', {selector: selector(el), tag, text: textOf(el).slice(0, 40), errorSelector: errorSelector()});
    watchRefusal();
  }
  document.addEventListener('input', e => onField(e.target), true);
  document.addEventListener('change', e => onField(e.target), true);
  document.addEventListener('click', e => { if (Date.now() - lastDrag > 400) onClick(e.target); }, true);
  document.addEventListener('submit', e => {
    if (Date.now() - lastClick < 500) return;
    const button = e.submitter || e.target.querySelector('[type=submit], button');
    if (button) onClick(button);
  }, true);
  document.addEventListener('mousedown', e => { down = {el: e.target, x: e.clientX}; }, true);
  document.addEventListener('mouseup', e => {
    if (!down) return;
    const el = down.el, dx = e.clientX - down.x;
    down = null;
    if (Math.abs(dx) < 8) return;
    lastDrag = Date.now();
    const handle = el.closest('[class*=handle i], [id*=handle i], [role=slider], [class*=slider i], [class*=drag i]') || el;
    send('drag', {selector: selector(handle), dx, pictures: nearPictures(handle, 2)});
  }, true);
  function tables() {
    const all = [...document.querySelectorAll('table')].filter(t => t.querySelectorAll('tbody tr').length);
    if (!all.length) return;
    const table = all.sort((a, b) => b.querySelectorAll('tbody tr').length - a.querySelectorAll('tbody tr').length)[0];
    const base = table.id ? '#' + CSS.escape(table.id) : cssPath(table);
    const head = [...table.querySelectorAll('thead th')].map(c => c.textContent.trim());
    const rows = [...table.querySelectorAll('tbody tr')].map(r => [...r.querySelectorAll('td')].map(c => c.textContent.trim()));
    const links = [...document.querySelectorAll('a[href]')].map(a => ({href: a.href, text: textOf(a).slice(0, 20)}));
    send('table', {rows_selector: base + ' tbody tr', header_selector: base + ' thead th', head, rows, links});
  }
  document.addEventListener('DOMContentLoaded', () => {
    send('doc', {title: document.title}); tables();
    const shown = refusals(null);  // a form posted back with its error (server-rendered login pages)
    if (shown.length) send('error', shown[0]);
  }, true);
})();
"""
