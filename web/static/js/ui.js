// Small DOM helpers shared by the pages (text only: user data never goes through innerHTML).
export const $ = (selector, root = document) => root.querySelector(selector);

export function show(element, visible) {
  element.classList.toggle('hidden', !visible);
}

export function showOnly(ids, visibleId) {
  for (const id of ids) show(document.getElementById(id), id === visibleId);
}

// The page's status line (#status); tone is '', 'ok', 'warn' or 'error'.
export function setStatus(text, tone = '') {
  const element = document.getElementById('status');
  if (!element) return;
  element.textContent = text;
  element.dataset.tone = tone;
}

export function element(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

export function randomInstance() {
  const bytes = new Uint8Array(12);
  crypto.getRandomValues(bytes);
  return Array.from(bytes, (byte) => byte.toString(16).padStart(2, '0')).join('');
}
