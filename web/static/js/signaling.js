// socket.io client for the /call namespace (docs/protocol.md).
//
// The server keeps our place (waiting room, admission, call membership) under our participant id, not under a
// socket id. So every new connection only says who we are again: `join`, then `ready` and `enter` if the page
// had got that far. Requests made while offline wait for that to be done, and every request is acknowledged.
import { retryAfterMs } from './connect-retry.js';
import { log, mark } from './hook.js';

const ACK_TIMEOUT_MS = 8000;
const RETRY_SYNC_MS = 1000;
// Error codes after which trying again on the same or the next connection can work.
const TRANSIENT = new Set(['timeout', 'disconnected', 'rate_limited', 'internal']);

export class SignalingError extends Error {
  constructor(code, message) {
    super(message || code);
    this.name = 'SignalingError';
    this.code = code;
  }
}

const STAGES = ['joined', 'ready', 'in_call'];

export class Signaling {
  constructor() {
    this.socket = window.io('/call', {
      transports: ['websocket'],
      withCredentials: true,
      reconnectionDelay: 250,
      reconnectionDelayMax: 2000,
      randomizationFactor: 0.2,
      timeout: 5000, // a connection attempt over a dead network must not hang for the default 20 s
    });
    this.identity = null; // the `join` payload: {consultation?, instance}
    this.stage = 'joined'; // how far the page got: joined -> ready (waiting room) -> in_call
    this.conn = null; // what the current connection has done: {joined, rtt, ready, entered, restored}
    this.chain = Promise.resolve(); // syncs run one at a time
    this.restoredAt = 0;
    this.everRestored = false;
    this.listeners = { restored: new Set(), refused: new Set(), status: new Set() };

    this.socket.on('connect', () => {
      log('socket connected');
      mark('socket_connected');
      this.conn = {};
      this.emitLocal('status', 'connected');
      this.sync().catch(() => {});
    });
    this.socket.on('disconnect', (reason) => {
      log(`socket disconnected (${reason})`);
      this.conn = null;
      this.emitLocal('status', 'disconnected');
      // The server closed it (our session ended, or another device took our place): socket.io will not retry.
      if (reason === 'io server disconnect') this.emitLocal('refused', new Error(reason));
    });
    this.socket.on('connect_error', (error) => {
      log(`socket connect error: ${error.message}`);
      if (retryAfterMs(error) !== null) {
        // Too many connections from this address (a shared network): not a refusal, so try again when told.
        this.emitLocal('status', 'disconnected');
        setTimeout(() => this.socket.connect(), retryAfterMs(error));
        return;
      }
      // Not active any more: the server refused the connection (session over), so socket.io will not retry.
      if (!this.socket.active) this.emitLocal('refused', error);
      else this.emitLocal('status', 'disconnected');
    });
    this.watchNetwork();
  }

  // The phone got a network back, or moved to another one (Wi-Fi <-> mobile data, where the browser tells):
  // reconnect now rather than at the next back-off step or ping timeout.
  watchNetwork() {
    window.addEventListener('online', () => {
      log('browser is online');
      if (!this.socket.connected) this.forceReconnect();
    });
    const connection = navigator.connection;
    if (!connection || !connection.addEventListener) return;
    let type = connection.type;
    connection.addEventListener('change', () => {
      if (!connection.type || connection.type === type) return; // only a change of network, not of estimates
      log(`network changed: ${type} -> ${connection.type}`);
      type = connection.type;
      this.forceReconnect();
    });
  }

  get connected() {
    return this.socket.connected;
  }

  get restored() {
    return Boolean(this.conn && this.conn.restored);
  }

  // -- subscriptions ------------------------------------------------------------------------------------------
  // Server events (waiting-room, admitted, peer-joined, peer-left, signal, chat, ended). Returns an unsubscribe.
  on(event, handler) {
    this.socket.on(event, handler);
    return () => this.socket.off(event, handler);
  }

  // handler(joinAck, enterAck | null, {first}) after every (re)connection has re-joined (and re-entered).
  onRestored(handler) {
    return this.subscribe('restored', handler);
  }

  // handler(error) when the server refuses the connection for good (e.g. the consultation ended meanwhile).
  onRefused(handler) {
    return this.subscribe('refused', handler);
  }

  // handler('connected' | 'disconnected').
  onStatus(handler) {
    return this.subscribe('status', handler);
  }

  subscribe(kind, handler) {
    this.listeners[kind].add(handler);
    return () => this.listeners[kind].delete(handler);
  }

  emitLocal(kind, ...args) {
    for (const handler of [...this.listeners[kind]]) {
      try {
        handler(...args);
      } catch (error) {
        log(`${kind} handler failed: ${error.message}`);
      }
    }
  }

  // -- page stages --------------------------------------------------------------------------------------------
  // Resolves with the join ack (plus `rtt`, the ack's round trip in ms) once this page has joined.
  join(identity, { timeout = 30000 } = {}) {
    this.identity = identity;
    return this.until((conn) => (conn.joined ? { ...conn.joined, rtt: conn.rtt } : undefined), timeout);
  }

  // The patient passed the device check: enter the waiting room (kept across reconnections).
  ready({ timeout = 20000 } = {}) {
    this.raiseStage('ready');
    return this.until((conn) => {
      if (conn.ready) return conn.ready;
      const state = conn.joined && conn.joined.state;
      return state === 'waiting' || state === 'admitted' ? { state } : undefined;
    }, timeout);
  }

  // Join the call (admitted participants); resolves with the `enter` ack {peers}.
  enter({ timeout = 20000 } = {}) {
    this.raiseStage('in_call');
    return this.until((conn) => conn.entered, timeout);
  }

  async leave() {
    this.stage = 'joined';
    if (this.conn) this.conn.entered = null;
    return this.request('leave', {}, { timeout: 3000 });
  }

  raiseStage(stage) {
    if (STAGES.indexOf(stage) > STAGES.indexOf(this.stage)) this.stage = stage;
  }

  // -- requests -----------------------------------------------------------------------------------------------
  // Emit an event once this connection has joined; resolves with the ack, rejects with a SignalingError whose
  // code is the server's (invalid, forbidden, not_found, conflict, rate_limited...) or timeout / disconnected.
  async request(event, payload = {}, { timeout = ACK_TIMEOUT_MS } = {}) {
    const deadline = performance.now() + timeout;
    await this.until((conn) => (conn.joined ? true : undefined), timeout);
    return this.emit(event, payload, deadline - performance.now());
  }

  // A socket bound to a network address that vanished (Wi-Fi -> 4G) only notices at its ping timeout.
  // Drop it and open a fresh one now; the `connect` handler then restores our place.
  forceReconnect() {
    if (!this.socket.active && !this.socket.connected) return;
    log('forcing a new signaling connection');
    this.socket.sendBuffer = [];
    this.socket.disconnect();
    this.socket.connect();
  }

  close() {
    this.identity = null;
    this.socket.disconnect();
  }

  // -- internals ----------------------------------------------------------------------------------------------
  emit(event, payload, timeout = ACK_TIMEOUT_MS) {
    return new Promise((resolve, reject) => {
      if (!this.socket.connected) {
        reject(new SignalingError('disconnected', `${event}: not connected`));
        return;
      }
      this.socket.timeout(Math.max(1, Math.round(timeout))).emit(event, payload, (error, ack) => {
        if (error) {
          const code = /disconnected/.test(error.message) ? 'disconnected' : 'timeout';
          reject(new SignalingError(code, `${event}: ${error.message}`));
        } else if (!ack || ack.ok !== true) {
          reject(new SignalingError((ack && ack.error) || 'invalid', (ack && ack.message) || `${event} refused`));
        } else {
          resolve(ack);
        }
      });
    });
  }

  // Bring the current connection up to the page's stage (join, then ready / enter), one sync at a time.
  sync() {
    const run = this.chain.then(() => this.syncConnection());
    this.chain = run.catch(() => {});
    return run;
  }

  async syncConnection() {
    const conn = this.conn;
    if (!conn || !this.identity || !this.socket.connected) return;
    try {
      if (!conn.joined) {
        const started = performance.now();
        conn.joined = await this.emit('join', this.identity);
        conn.rtt = performance.now() - started;
        mark('joined');
        log(`joined as ${conn.joined.kind} (${conn.joined.state}) in ${Math.round(conn.rtt)} ms`);
      }
      const state = conn.joined.state;
      if (this.stage !== 'joined' && !conn.ready && (state === 'checking' || state === 'left')) {
        conn.ready = await this.emit('ready', {});
        conn.joined.state = conn.ready.state;
      }
      if (this.stage === 'in_call' && !conn.entered) {
        conn.entered = await this.emit('enter', {});
        mark('entered');
        log(`entered the call with ${conn.entered.peers.length} peer(s)`);
      }
    } catch (error) {
      log(`sync failed: ${error.code} ${error.message}`);
      if (conn === this.conn) {
        if (error.code === 'forbidden') this.emitLocal('refused', error);
        else if (TRANSIENT.has(error.code)) {
          setTimeout(() => this.conn === conn && this.sync().catch(() => {}), RETRY_SYNC_MS);
        }
      }
      throw error;
    }
    if (conn === this.conn && !conn.restored) {
      conn.restored = true;
      this.restoredAt = performance.now();
      const first = !this.everRestored;
      this.everRestored = true;
      this.emitLocal('restored', { ...conn.joined, rtt: conn.rtt }, conn.entered || null, { first });
    }
  }

  // Resolve with pick(conn) as soon as it is defined, across reconnections, or reject after `timeout` ms.
  async until(pick, timeout) {
    const deadline = performance.now() + timeout;
    for (;;) {
      const conn = this.conn;
      if (conn) {
        let failure = null;
        try {
          await this.sync();
        } catch (error) {
          failure = error;
        }
        if (conn === this.conn) {
          const value = pick(conn);
          if (value !== undefined && value !== null) return value;
        }
        if (failure && !TRANSIENT.has(failure.code)) throw failure;
      }
      const left = deadline - performance.now();
      if (left <= 0) throw new SignalingError('timeout', 'no answer from the server');
      await this.nextRestore(Math.min(left, RETRY_SYNC_MS));
    }
  }

  nextRestore(ms) {
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        off();
        resolve();
      };
      const timer = setTimeout(done, ms);
      const off = this.onRestored(done);
    });
  }
}
