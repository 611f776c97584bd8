// The regulator's view of the caller's stream, in one explicit state machine shown as a banner over the video:
// waiting (no stream yet), live, frozen (no new frame decoded for FROZEN_AFTER_MS), stopped (the caller stopped
// sharing), lost (the connection dropped, the page watches again when the caller comes back), ended (case closed).
// Frames are counted from the receiver's inbound-rtp `framesDecoded`, which keeps counting in a background tab.
export const FROZEN_AFTER_MS = 2000;
const CHECK_EVERY_MS = 400;
const MESSAGES = {
  waiting: 'js_stream_waiting', frozen: 'js_stream_frozen', stopped: 'js_stream_stopped', lost: 'js_stream_lost',
  ended: 'js_stream_ended',
};

export class StreamState {
  constructor(banner, t, onChange = () => {}) {
    this.banner = banner;
    this.t = t;
    this.onChange = onChange;
    this.state = '';
    this.peer = null;
    this.frames = -1;
    this.lastFrameAt = 0;
    this.set('waiting');
    setInterval(() => this.check(), CHECK_EVERY_MS);
  }

  set(state) {
    if (this.state === state || this.state === 'ended') return;
    this.state = state;
    const key = MESSAGES[state];
    this.banner.hidden = !key;
    this.banner.dataset.state = state;
    this.banner.textContent = key ? this.t(key) : '';
    this.onChange(state);
  }

  // A new peer is watching: frames count from zero again; live once the first frame is decoded.
  watching(peer) {
    this.peer = peer;
    this.frames = -1;
    this.lastFrameAt = performance.now();
  }

  // The stream is gone: `byCaller` when the caller chose to stop, which a later lost connection does not hide.
  gone(byCaller) {
    this.peer = null;
    if (byCaller) this.set('stopped');
    else if (this.state !== 'stopped') this.set('lost');
  }

  // The connection dropped but may come back (ICE restores it): the frame count says when it does.
  connectionLost() {
    if (this.state !== 'stopped') this.set('lost');
  }

  ended() {
    this.peer = null;
    this.set('ended');
  }

  async check() {
    const peer = this.peer;
    if (!peer) return;
    let decoded = 0;
    try {
      (await peer.getStats()).forEach((report) => {
        if (report.type === 'inbound-rtp' && report.kind === 'video') decoded += report.framesDecoded || 0;
      });
    } catch (error) {
      return; // the peer closed between the check and the stats
    }
    if (peer !== this.peer) return;
    const now = performance.now();
    if (decoded > this.frames) {
      if (decoded > 0) this.set('live');
      this.frames = decoded;
      this.lastFrameAt = now;
    } else if (this.frames > 0 && now - this.lastFrameAt >= FROZEN_AFTER_MS) {
      this.set('frozen');
    }
  }
}
