// Chat rendering (text only, never HTML) and sending.
import { t } from './boot.js';

export function appendChat(message, meId) {
  const list = document.getElementById('chat-log');
  const item = document.createElement('li');
  item.className = 'chat-msg';
  item.dataset.id = String(message.id);
  const from = document.createElement('span');
  from.className = 'from';
  from.textContent = message.from === meId ? '→' : message.label || t(`kind_${message.kind}`);
  const text = document.createElement('span');
  text.className = 'text';
  text.textContent = message.text;
  item.append(from, text);
  list.append(item);
  list.scrollTop = list.scrollHeight;
}

export function wireChat(signaling, getMe) {
  const seen = new Set();
  const show = (message) => {
    if (seen.has(message.id)) return;
    seen.add(message.id);
    appendChat(message, getMe());
  };
  signaling.on('chat', show);
  document.getElementById('chat-form').addEventListener('submit', async (event) => {
    event.preventDefault();
    const input = document.getElementById('chat-input');
    const text = input.value.trim();
    if (!text) return;
    input.value = '';
    try {
      await signaling.request('chat', { text });
    } catch (error) {
      input.value = text;
    }
  });
  return show;
}
