// UI strings for the browser modules: the server sends them in boot.strings (see server/platform/i18n.py).
import { boot } from './boot.js';

const strings = boot.strings || {};

export const lang = boot.lang || document.documentElement.lang || 'fr';

// t('js_peer_left', { name: 'Dr Martin' }) fills {name}-style placeholders; an unknown key shows as itself.
export function t(key, values = {}) {
  const text = Object.prototype.hasOwnProperty.call(strings, key) ? strings[key] : key;
  return text.replace(/\{(\w+)\}/g, (whole, name) => (name in values ? String(values[name]) : whole));
}
