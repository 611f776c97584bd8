// A join or caller link's first page (web/templates/link.html). The form works without this script; it only
// stops a second tap from sending a second POST, which would find the single-use link already used.
const form = document.getElementById('link-form');
const button = document.getElementById('join');
if (form && button) {
  form.addEventListener('submit', (event) => {
    if (form.dataset.sent === 'true') {
      event.preventDefault();
      return;
    }
    form.dataset.sent = 'true';
    button.setAttribute('aria-disabled', 'true');
    button.textContent = form.dataset.opening || button.textContent;
  });
}
