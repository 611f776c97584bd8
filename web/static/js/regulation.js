// Regulation console: open a case, then go to its page.
const boot = JSON.parse(document.getElementById('boot').textContent);
document.getElementById('new-case').addEventListener('submit', async (event) => {
  event.preventDefault();
  const form = new FormData(event.target);
  const response = await fetch('/api/cases', {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', 'X-CSRF-Token': boot.csrf },
    body: JSON.stringify({ case_number: form.get('case_number'), caller_phone: form.get('caller_phone'), reason: form.get('reason') }),
  });
  const data = await response.json();
  if (response.ok) window.location.assign(`/regulation/${data.case.id}`);
  else {
    const error = document.getElementById('form-error');
    // A known refusal in the page language; otherwise the server's words.
    error.textContent = (data.error === 'case_number_open' && boot.strings?.js_case_number_open) || data.message;
    error.classList.remove('hidden');
  }
});
