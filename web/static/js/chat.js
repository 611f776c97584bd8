// The call's text chat: messages are rendered with textContent only (never as HTML), each shown once.
import { log } from './hook.js';
import { lang, t } from './i18n.js';
import { $, element } from './ui.js';

export class Chat {
  // me(): our participant id (to show our own messages as "Me").
  constructor({ signaling, me }) {
    this.signaling = signaling;
    this.me = me;
    this.seen = new Set();
    this.log = $('#chat-log');
    this.input = $('#chat-input');
    signaling.on('chat', (message) => this.add(message));
    $('#chat-form').addEventListener('submit', (event) => {
      event.preventDefault();
      this.send();
    });
  }

  addAll(messages) {
    for (const message of messages || []) this.add(message);
  }

  add(message) {
    if (!message || message.id === undefined || this.seen.has(String(message.id))) return;
    this.seen.add(String(message.id));
    const mine = message.from === this.me();
    const item = element('li', mine ? 'chat-msg mine' : 'chat-msg');
    item.dataset.id = String(message.id);
    const name = mine ? t('js_me') : senderName(message);
    const header = element('span', 'from', name);
    const time = element('time', 'at', formatTime(message.at));
    if (message.at) time.dateTime = message.at;
    item.append(header, time, element('span', 'text', message.text));
    const atBottom = this.log.scrollHeight - this.log.scrollTop - this.log.clientHeight < 40;
    this.log.append(item);
    if (atBottom || mine) this.log.scrollTop = this.log.scrollHeight;
  }

  async send() {
    const text = this.input.value.trim();
    if (!text) return;
    this.input.value = '';
    try {
      const ack = await this.signaling.request('chat', { text });
      // The server also broadcasts it; showing it from the ack covers a broadcast missed during a reconnect.
      this.add({ id: ack.id, from: this.me(), text, at: new Date().toISOString() });
    } catch (error) {
      log(`chat not sent: ${error.code || error.message}`);
      if (!this.input.value) this.input.value = text;
      const status = document.getElementById('status');
      if (status) status.textContent = `${t('js_error')}: ${error.message}`;
    }
  }
}

function senderName(message) {
  const kind = message.kind || '';
  if (message.label && message.label !== kind) return message.label;
  return kind ? t(`kind_${kind}`) : message.label || '';
}

function formatTime(at) {
  if (!at) return '';
  const date = new Date(at);
  if (Number.isNaN(date.getTime())) return '';
  return date.toLocaleTimeString(lang, { hour: '2-digit', minute: '2-digit' });
}
