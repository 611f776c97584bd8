// Practitioner console: create a consultation, then open its room.
import { api, $ } from './boot.js';

$('#new-consultation').addEventListener('submit', async (event) => {
  event.preventDefault();
  const form = new FormData(event.target);
  const body = {
    patient_name: form.get('patient_name'),
    patient_phone: form.get('patient_phone'),
    patient_email: form.get('patient_email'),
    scheduled_at: form.get('scheduled_at'),
    duration_min: Number(form.get('duration_min') || 20),
    language: form.get('language'),
  };
  try {
    const created = await api('POST', '/api/consultations', body);
    window.location.assign(`/console/c/${created.consultation.id}`);
  } catch (error) {
    const message = $('#form-error');
    message.textContent = error.message;
    message.classList.remove('hidden');
  }
});
