// The practitioner's console: create a consultation (JSON API), then open its room.
import { api } from './api.js';
import { log } from './hook.js';
import { $, show } from './ui.js';

const form = $('#new-consultation');

// Default the appointment to the next quarter hour, in the browser's local time (the field has no zone).
function nextQuarterHour() {
  const date = new Date(Date.now() + 15 * 60 * 1000);
  date.setMinutes(Math.floor(date.getMinutes() / 15) * 15, 0, 0);
  const pad = (value) => String(value).padStart(2, '0');
  const day = `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())}`;
  return `${day}T${pad(date.getHours())}:${pad(date.getMinutes())}`;
}

function optional(value) {
  const text = String(value || '').trim();
  return text || undefined;
}

function showError(message) {
  const target = $('#form-error');
  target.textContent = message || '';
  show(target, Boolean(message));
}

async function submit(event) {
  event.preventDefault();
  if (!form.reportValidity()) return;
  const data = new FormData(form);
  const body = {
    patient_name: String(data.get('patient_name') || '').trim(),
    patient_phone: optional(data.get('patient_phone')),
    patient_email: optional(data.get('patient_email')),
    scheduled_at: String(data.get('scheduled_at') || ''),
    duration_min: Number.parseInt(data.get('duration_min'), 10) || 20,
    language: String(data.get('language') || 'fr'),
  };
  const button = $('#create');
  button.disabled = true;
  showError('');
  try {
    const created = await api('POST', '/api/consultations', body);
    window.location.assign(`/console/c/${encodeURIComponent(created.consultation.id)}`);
  } catch (error) {
    log(`create failed: ${error.code} ${error.message}`);
    showError(error.message);
    button.disabled = false;
  }
}

const when = form.elements.namedItem('scheduled_at');
if (!when.value) when.value = nextQuarterHour();
form.addEventListener('submit', submit);
