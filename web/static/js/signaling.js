// socket.io client for the /call namespace: acked requests, and restoring server-side state on every reconnect.
import { log } from './boot.js';

export class Signaling {
  constructor() {
    this.socket = window.io('/call', {
      transports: ['websocket'],
      withCredentials: true,
      reconnectionDelay: 250,
      reconnectionDelayMax: 2000,
    });
    this.joinPayload = null;
    this.stage = 'none'; // none -> joined -> ready -> in_call
    this.restoredListeners = [];
    this.connectedOnce = false;
    this.firstConnect = new Promise((resolve) => {
      this.socket.on('connect', () => {
        log('socket connected');
        if (!this.connectedOnce) {
          this.connectedOnce = true;
          resolve();
        } else {
          this.restore();
        }
      });
    });
    this.socket.on('disconnect', (reason) => log(`socket disconnected ${reason}`));
  }

  on(event, handler) {
    this.socket.on(event, handler);
  }

  onRestored(listener) {
    this.restoredListeners.push(listener);
  }

  request(event, payload = {}, timeout = 8000) {
    return new Promise((resolve, reject) => {
      this.socket.timeout(timeout).emit(event, payload, (err, ack) => {
        if (err) reject(Object.assign(new Error(`${event} timed out`), { code: 'timeout' }));
        else if (!ack || !ack.ok) reject(Object.assign(new Error(ack ? ack.message : event), { code: ack && ack.error }));
        else resolve(ack);
      });
    });
  }

  async join(payload) {
    await this.firstConnect;
    this.joinPayload = payload;
    const ack = await this.request('join', payload);
    if (this.stage === 'none') this.stage = 'joined';
    return ack;
  }

  async ready() {
    const ack = await this.request('ready');
    this.stage = 'ready';
    return ack;
  }

  async enter() {
    const ack = await this.request('enter');
    this.stage = 'in_call';
    return ack;
  }

  // The server keeps our place (admission, call membership); a new socket only has to say who it is again.
  async restore() {
    if (!this.joinPayload) return;
    try {
      const joined = await this.request('join', this.joinPayload);
      let entered = null;
      if (this.stage === 'ready' && joined.state === 'waiting') await this.request('ready');
      if (this.stage === 'in_call' && joined.state === 'admitted') entered = await this.request('enter');
      log('signaling restored');
      for (const listener of this.restoredListeners) listener(joined, entered);
    } catch (error) {
      log(`restore failed ${error.code || error.message}`);
    }
  }

  // A socket bound to a vanished network address only notices at its ping timeout: start a new one now.
  forceReconnect() {
    log('force reconnect');
    this.socket.sendBuffer = [];
    this.socket.disconnect();
    this.socket.connect();
  }
}
