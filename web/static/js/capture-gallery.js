// The case's captures as a gallery: each with its time, who took it and where, opened in the page (a dialog).
import { clockTime } from './timeline-words.js';

export class CaptureGallery {
  constructor(root, dialog, t, lang) {
    this.root = root;
    this.dialog = dialog;
    this.t = t;
    this.lang = lang;
    this.shown = new Set();
    dialog.querySelector('[data-close]').onclick = () => dialog.close();
    dialog.onclick = (event) => { if (event.target === dialog) dialog.close(); }; // a tap beside the photo
  }

  caption(capture) {
    const author = this.t(capture.source === 'stream' ? 'js_capture_by_regulator' : 'js_capture_by_caller');
    const where = capture.location
      ? this.t('js_capture_at', { coords: `${capture.location.lat.toFixed(5)}, ${capture.location.lon.toFixed(5)}` })
      : this.t('js_capture_no_position');
    return `${clockTime(capture.at, this.lang)} · ${author} · ${where}`;
  }

  // Adds the captures not shown yet, newest first.
  add(captures, urlOf) {
    for (const capture of captures) {
      if (this.shown.has(capture.id)) continue;
      this.shown.add(capture.id);
      this.root.prepend(this.figure(capture, urlOf(capture.id)));
    }
  }

  figure(capture, url) {
    const figure = document.createElement('figure');
    const open = document.createElement('button');
    open.type = 'button';
    open.className = 'capture-open';
    open.setAttribute('aria-label', this.t('js_capture_open'));
    const image = document.createElement('img');
    image.src = url;
    image.alt = this.caption(capture);
    image.dataset.capture = capture.id;
    open.append(image);
    open.onclick = () => this.open(url, this.caption(capture));
    const caption = document.createElement('figcaption');
    caption.textContent = this.caption(capture);
    figure.append(open, caption);
    return figure;
  }

  open(url, text) {
    this.dialog.querySelector('img').src = url;
    this.dialog.querySelector('img').alt = text;
    this.dialog.querySelector('p').textContent = text;
    this.dialog.showModal();
  }
}
