// Page boot data (from <script type="application/json" id="boot">), strings, DOM helpers and the test hook.
const bootElement = document.getElementById('boot');
export const boot = bootElement ? JSON.parse(bootElement.textContent) : {};

export function t(key) {
  return (boot.strings && boot.strings[key]) || key;
}

export const $ = (selector) => document.querySelector(selector);

export function showOnly(ids, visibleId) {
  for (const id of ids) document.getElementById(id).classList.toggle('hidden', id !== visibleId);
}

export function setStatus(text) {
  const element = document.getElementById('status');
  if (element) element.textContent = text;
}

// window.lucarne lets the real-browser tests observe the page without scraping it.
export const hook = (window.lucarne = window.lucarne || { state: 'loading', log: [] });

export function log(message) {
  hook.log.push(`${Math.round(performance.now())} ${message}`);
  if (hook.log.length > 500) hook.log.shift();
}

export function setState(state) {
  hook.state = state;
  log(`state ${state}`);
}

export async function api(method, path, body) {
  const response = await fetch(path, {
    method,
    credentials: 'same-origin',
    headers: { 'Content-Type': 'application/json', 'X-CSRF-Token': boot.csrf || '' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const data = await response.json().catch(() => ({}));
  if (!response.ok) throw Object.assign(new Error(data.message || response.statusText), { code: data.error });
  return data;
}

export function randomInstance() {
  const bytes = new Uint8Array(12);
  crypto.getRandomValues(bytes);
  return Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
}
