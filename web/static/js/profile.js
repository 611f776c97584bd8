// Expertise profile page: saves capacity, languages and accepted specialties; adds and removes absences.
import { api } from './api.js';
import { boot } from './boot.js';

const form = document.getElementById('profile-form');
const message = document.getElementById('profile-message');

function show(text, isError) {
  message.textContent = text;
  message.classList.toggle('hidden', false);
  message.classList.toggle('error', Boolean(isError));
}

// datetime-local carries no offset: send the browser's own offset with it.
function withOffset(local) {
  const date = new Date(local);
  return date.toISOString();
}

if (form) {
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    const data = new FormData(form);
    const languages = String(data.get('languages') || '').split(',').map((x) => x.trim().toLowerCase()).filter(Boolean);
    // Checked here too so that the message is in the page's language (the API's own message is in English).
    const unknown = languages.filter((code) => !/^[a-z]{2}$/.test(code));
    if (unknown.length) {
      show((boot.strings.profile_bad_languages || '{codes}').replace('{codes}', unknown.join(', ')), true);
      return;
    }
    try {
      await api('PUT', '/api/directory/profile', {
        capacity: Number(data.get('capacity')),
        languages,
        specialties: data.getAll('specialties').map(String),
      });
      show(boot.strings.profile_saved || 'Saved', false);
    } catch (error) {
      show(error.message, true);
    }
  });
  document.getElementById('absence-form').addEventListener('submit', async (event) => {
    event.preventDefault();
    const data = new FormData(event.target);
    try {
      await api('POST', '/api/directory/profile/absences', {
        starts_at: withOffset(data.get('starts_at')),
        ends_at: withOffset(data.get('ends_at')),
        note: String(data.get('note') || ''),
      });
      window.location.reload();
    } catch (error) {
      show(error.message, true);
    }
  });
  for (const button of document.querySelectorAll('.remove-absence')) {
    button.addEventListener('click', async () => {
      try {
        await api('DELETE', `/api/directory/profile/absences/${encodeURIComponent(button.dataset.id)}`);
        button.closest('li').remove();
      } catch (error) {
        show(error.message, true);
      }
    });
  }
}
