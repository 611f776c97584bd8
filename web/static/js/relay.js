// Relay through the server for one pair (docs/protocol.md, "Relay through the server"): our camera and microphone
// go up to a server-side peer (relay-publish), the other participant's media comes down from another one
// (relay-subscribe). The server forwards encoded media without decoding it, so both connections negotiate VP8 and
// Opus only (setCodecPreferences). The server's peers do not trickle: offers are sent once ICE gathering is done.
import { preferForwardable as preferCodecs } from './codecs.js';
import { log } from './hook.js';

const GATHER_MS = 3000;
const REQUEST_MS = 15000;

const short = (id) => String(id).slice(0, 6);

function preferForwardable(transceiver, kind) {
  preferCodecs(transceiver, kind, (error) => log(`codec preference for ${kind} refused: ${error.message}`));
}

function gathered(pc) {
  if (pc.iceGatheringState === 'complete') return Promise.resolve();
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer);
      pc.removeEventListener('icegatheringstatechange', check);
      resolve();
    };
    const check = () => {
      if (pc.iceGatheringState === 'complete') done();
    };
    const timer = setTimeout(done, GATHER_MS); // send what we have: the server's candidates are what matter
    pc.addEventListener('icegatheringstatechange', check);
  });
}

export class RelayLink {
  // signaling: Signaling; peerId: the other participant; config: RTCConfiguration; stream: our MediaStream (or
  // null: receive only); onStream(stream): the other's media arrived; onChange(): a connection state changed.
  constructor({ signaling, peerId, config, stream, onStream, onChange }) {
    this.signaling = signaling;
    this.peerId = peerId;
    this.config = config;
    this.stream = stream;
    this.onStream = onStream;
    this.onChange = onChange;
    this.pub = null;
    this.sub = null;
    this.pubAt = 0;
    this.closed = false;
  }

  // A publication that is neither working nor still starting: replace it.
  get publishing() {
    const pc = this.pub;
    if (!pc || ['failed', 'closed'].includes(pc.connectionState)) return false;
    return pc.connectionState === 'connected' || performance.now() - this.pubAt < REQUEST_MS;
  }

  async publish() {
    if (this.closed) return;
    const tracks = this.stream ? this.stream.getTracks().filter((track) => track.readyState === 'live') : [];
    if (this.pub) this.pub.close();
    this.pub = null;
    if (!tracks.length) {
      log(`relay to ${short(this.peerId)}: nothing to publish (receive only)`);
      return;
    }
    const pc = new RTCPeerConnection(this.config);
    this.pub = pc;
    this.pubAt = performance.now();
    for (const track of tracks) {
      preferForwardable(pc.addTransceiver(track, { direction: 'sendonly', streams: [this.stream] }), track.kind);
    }
    pc.onconnectionstatechange = () => {
      log(`relay pub ${short(this.peerId)} ${pc.connectionState}`);
      this.onChange();
    };
    await pc.setLocalDescription(await pc.createOffer());
    await gathered(pc);
    const ack = await this.signaling.request('relay-publish', { peer: this.peerId, sdp: pc.localDescription.sdp },
      { timeout: REQUEST_MS });
    if (this.pub !== pc || this.closed) return;
    await pc.setRemoteDescription({ type: 'answer', sdp: ack.sdp });
    log(`relay to ${short(this.peerId)}: publishing`);
  }

  // Resolves false when the other side has not published yet (its relay-published event will call us again).
  async subscribe() {
    if (this.closed) return false;
    if (this.sub) this.sub.close();
    const pc = new RTCPeerConnection(this.config);
    this.sub = pc;
    for (const kind of ['video', 'audio']) preferForwardable(pc.addTransceiver(kind, { direction: 'recvonly' }), kind);
    const stream = new MediaStream();
    pc.ontrack = ({ track }) => {
      stream.addTrack(track);
      this.onStream(stream);
    };
    pc.onconnectionstatechange = () => {
      log(`relay sub ${short(this.peerId)} ${pc.connectionState}`);
      this.onChange();
    };
    await pc.setLocalDescription(await pc.createOffer());
    await gathered(pc);
    let ack;
    try {
      ack = await this.signaling.request('relay-subscribe', { peer: this.peerId, sdp: pc.localDescription.sdp },
        { timeout: REQUEST_MS });
    } catch (error) {
      if (this.sub === pc) {
        pc.close();
        this.sub = null;
      }
      if (error.code === 'conflict') {
        log(`relay from ${short(this.peerId)}: not published yet`);
        return false;
      }
      throw error;
    }
    if (this.sub !== pc || this.closed) return false;
    await pc.setRemoteDescription({ type: 'answer', sdp: ack.sdp });
    log(`relay from ${short(this.peerId)}: subscribed`);
    return true;
  }

  pcs() {
    return [this.pub, this.sub].filter(Boolean);
  }

  close() {
    this.closed = true;
    for (const pc of this.pcs()) pc.close();
    this.pub = null;
    this.sub = null;
  }
}
