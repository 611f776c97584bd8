// The peer connections of a small mesh call (2-3 people), following docs/protocol.md:
// - one RTCPeerConnection per remote participant id;
// - a member already in the call offers to a newcomer (on `peer-joined`): it is the pair's *impolite* side and
//   owns ICE restarts; the newcomer creates its connection when the first offer arrives and answers;
// - incoming signals are handled strictly one at a time, in order, per peer; outgoing ones are sent in order,
//   each retried while the server says it was not delivered;
// - an outage (ICE disconnected/failed, or no inbound RTP for 1.5 s while connected) forces a fresh signaling
//   connection first, then the impolite side restarts ICE; the polite side asks for it with {restartRequest}.
// - relay through the server (relay.js), per pair: always when the server says so (media.relay = 'always'), or
//   under 'auto' when the pair's ICE fails or does not connect within media.p2pTimeoutMs. The side that switches
//   publishes first; the server then tells the other side (`relay-published`), which switches too.
import { hook, log, mark } from './hook.js';
import { t } from './i18n.js';
import { RelayLink } from './relay.js';

const POLL_MS = 500;
const STALL_MS = 1500;
const FIRST_RECOVERY_GAP_MS = 3000; // then doubles while the outage lasts, up to the maximum
const MAX_RECOVERY_GAP_MS = 30000;
const FRESH_SIGNALING_MS = 5000; // a socket restored this recently is trusted: no need to force another
const OFFER_IN_FLIGHT_MS = 3000; // an unanswered offer younger than this is already the restart asked for
const SEND_ATTEMPTS = 5;
const SEND_GAP_MS = 500;
const RELAY_RETRY_MS = 8000;

const short = (id) => String(id).slice(0, 6);
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
const plain = (description) => ({ type: description.type, sdp: description.sdp });

class Peer {
  constructor({ id, kind = '', label = '', instance = '' }, polite) {
    this.id = id;
    this.kind = kind;
    this.label = label;
    this.instance = instance;
    this.polite = polite;
    this.pc = null;
    this.inbox = Promise.resolve(); // incoming signals, one at a time
    this.outbox = Promise.resolve(); // outgoing signals, in order
    this.pendingCandidates = []; // arrived before the remote description
    this.offerAt = 0;
    this.bytes = 0; // inbound RTP bytes at the last poll
    this.progressAt = performance.now();
    this.recoveries = 0; // recoveries since media last flowed
    this.nextRecoveryAt = 0;
    this.needsRestart = false; // restart ICE once signaling is back
    this.relay = null; // a RelayLink once this pair goes through the server
    this.p2pDeadline = 0; // 'auto': relay if ICE has not connected by then
    this.everConnected = false;
    this.relayRetryAt = 0;
    this.remoteMedia = { audio: true, video: true }; // what the other side says its microphone and camera do
  }

  // The connection the other participant's media arrives on.
  get receiving() {
    return this.relay ? this.relay.sub : this.pc;
  }

  get connected() {
    return Boolean(this.pc || this.relay);
  }

  update({ kind, label, instance }) {
    if (kind) this.kind = kind;
    if (label) this.label = label;
    if (instance) this.instance = instance;
  }
}

export class PeerManager {
  // signaling: Signaling; me: our participant id; ice: {iceServers, iceTransportPolicy} from the join ack;
  // media: LocalMedia (its stream may be null: receive only); container: where the <video data-peer> go;
  // onChange(): something the page shows changed (peers, connection states, outages);
  // onAutoplayBlocked(): a remote video could not start playing without a tap.
  // policy: {relay: 'auto' | 'always' | 'never', p2pTimeoutMs} from the join ack.
  constructor({ signaling, me, ice, media, container, policy, onChange = () => {}, onAutoplayBlocked = () => {} }) {
    this.signaling = signaling;
    this.me = me;
    this.ice = ice || { iceServers: [] };
    this.media = media;
    this.container = container;
    this.onChange = onChange;
    this.onAutoplayBlocked = onAutoplayBlocked;
    this.policy = { relay: 'never', p2pTimeoutMs: 10000, ...(policy || {}) };
    this.peers = new Map();
    this.closed = false;
    this.polling = false;
    this.unsubscribe = [
      signaling.on('peer-joined', (info) => this.onPeerJoined(info)),
      signaling.on('peer-left', ({ id }) => this.onPeerLeft(id)),
      signaling.on('signal', (message) => this.onSignal(message)),
      signaling.on('relay-published', ({ from } = {}) => this.onRelayPublished(from)),
    ];
    this.timer = setInterval(() => this.poll(), POLL_MS);
  }

  // -- membership ---------------------------------------------------------------------------------------------
  // The `enter` ack lists the members already in the call: they will offer to us.
  entered(peers) {
    for (const info of peers || []) {
      const known = this.peers.get(info.id);
      if (known) known.update(info);
      else this.peers.set(info.id, new Peer(info, true));
      const peer = this.peers.get(info.id);
      if (this.policy.relay === 'always' && !peer.relay) this.startRelay(peer, 'relay forced by the server');
    }
    this.onChange();
  }

  onPeerJoined(info) {
    if (this.closed || !info || !info.id) return;
    const known = this.peers.get(info.id);
    if (known && known.relay && known.instance && known.instance === info.instance) {
      // Its socket came back: the server closed the relay peers of the old one. Both sides publish again.
      known.update(info);
      this.restartRelay(known, 'peer reconnected');
      return;
    }
    if (known && known.pc && known.instance && known.instance === info.instance) {
      // Same page, new socket: that side lost its network. Restart ICE on the connection we have.
      log(`peer ${short(info.id)} reconnected: ICE restart`);
      known.update(info);
      if (known.polite) this.send(known, { restartRequest: true });
      else this.enqueue(known, () => this.restart(known, { force: true }));
      return;
    }
    // A newcomer, or a page that reloaded: a fresh connection, and we offer.
    if (known) this.removePeer(known.id);
    log(`peer ${short(info.id)} joined: offering`);
    const peer = new Peer(info, false);
    this.peers.set(peer.id, peer);
    if (this.policy.relay === 'always') {
      this.startRelay(peer, 'relay forced by the server');
      this.onChange();
      return;
    }
    this.createPc(peer, { offerer: true });
    this.enqueue(peer, () => this.offer(peer));
    this.onChange();
  }

  onPeerLeft(id) {
    if (!this.peers.has(id)) return;
    log(`peer ${short(id)} left`);
    const peer = this.peers.get(id);
    this.removePeer(id);
    this.onChange({ left: peer });
  }

  // -- connections --------------------------------------------------------------------------------------------
  rtcConfiguration() {
    return {
      iceServers: this.ice.iceServers || [],
      iceTransportPolicy: this.ice.iceTransportPolicy || 'all',
    };
  }

  createPc(peer, { offerer }) {
    const pc = new RTCPeerConnection(this.rtcConfiguration());
    peer.pc = pc;
    peer.p2pDeadline = performance.now() + this.policy.p2pTimeoutMs;
    const stream = this.media && this.media.stream;
    const sending = new Set();
    for (const track of stream ? stream.getTracks() : []) {
      if (track.readyState !== 'live') continue;
      pc.addTrack(track, stream);
      sending.add(track.kind);
    }
    // An offer must still ask for what we do not send (audio-only phone, or no devices at all).
    if (offerer) {
      for (const kind of ['audio', 'video']) if (!sending.has(kind)) pc.addTransceiver(kind, { direction: 'recvonly' });
    }
    pc.onicecandidate = ({ candidate }) => {
      // Trickle only real candidates; the end-of-candidates marker is not needed.
      if (candidate && candidate.candidate) this.send(peer, { candidate: candidate.toJSON() });
    };
    pc.ontrack = ({ track, streams }) => {
      mark('track');
      this.attach(peer, streams[0] || new MediaStream([track]));
    };
    pc.oniceconnectionstatechange = () => {
      const state = pc.iceConnectionState;
      log(`ice ${short(peer.id)} ${state}`);
      mark(`ice_${state}`);
      if (state === 'connected' || state === 'completed') peer.everConnected = true;
      if (peer.pc === pc && state === 'failed' && this.mayRelay(peer)) this.startRelay(peer, 'ICE failed');
      else if (peer.pc === pc && (state === 'disconnected' || state === 'failed')) this.recover(peer, `ICE ${state}`);
      this.onChange();
    };
    pc.onconnectionstatechange = () => {
      log(`pc ${short(peer.id)} ${pc.connectionState}`);
      mark(`pc_${pc.connectionState}`);
      this.onChange();
    };
    return pc;
  }

  attach(peer, stream) {
    let video = this.videoOf(peer.id);
    if (!video) {
      // One tile per participant: the video, and a line in words when their microphone or camera is off.
      const tile = document.createElement('div');
      tile.className = 'remote-tile';
      video = document.createElement('video');
      video.dataset.peer = peer.id;
      video.autoplay = true;
      video.playsInline = true;
      video.setAttribute('playsinline', '');
      const note = document.createElement('p');
      note.className = 'remote-media-note hidden';
      note.setAttribute('aria-live', 'polite');
      tile.append(video, note);
      this.container.append(tile);
      this.showRemoteMedia(peer);
    }
    video.dataset.kind = peer.kind;
    video.title = peer.label || '';
    if (video.srcObject !== stream) video.srcObject = stream;
    // The join-time benchmark reads when the first remote frame was actually presented.
    if (!hook.firstFrameAt && video.requestVideoFrameCallback) {
      video.requestVideoFrameCallback(() => {
        if (!hook.firstFrameAt) hook.firstFrameAt = performance.timeOrigin + performance.now();
      });
    }
    // Our stream reached them and theirs reached us: tell them whether our microphone and camera are on.
    this.announceMediaTo(peer);
    const playing = video.play();
    if (playing) {
      playing.catch((error) => {
        if (error.name === 'NotAllowedError') this.onAutoplayBlocked();
      });
    }
    this.onChange();
  }

  videoOf(id) {
    return [...this.container.querySelectorAll('video[data-peer]')].find((video) => video.dataset.peer === id);
  }

  // Retry play() after a tap when the browser blocked autoplay with sound.
  resumePlayback() {
    for (const video of this.container.querySelectorAll('video[data-peer]')) video.play().catch(() => {});
  }

  removePeer(id) {
    const peer = this.peers.get(id);
    if (!peer) return;
    this.peers.delete(id);
    if (peer.pc) peer.pc.close();
    peer.pc = null;
    if (peer.relay) peer.relay.close();
    peer.relay = null;
    const video = this.videoOf(id);
    if (video) {
      video.srcObject = null;
      video.parentElement.remove();
    }
  }

  // -- microphone and camera state, both ways -----------------------------------------------------------------
  localMediaState() {
    const media = this.media;
    return { audio: Boolean(media && media.audioEnabled), video: Boolean(media && media.videoEnabled) };
  }

  // After a local toggle: every participant in the call learns it.
  announceMedia() {
    for (const peer of this.peers.values()) this.announceMediaTo(peer);
  }

  announceMediaTo(peer) {
    this.send(peer, { media: this.localMediaState() });
  }

  onRemoteMedia(peer, state) {
    peer.remoteMedia = { audio: state.audio !== false, video: state.video !== false };
    this.showRemoteMedia(peer);
  }

  showRemoteMedia(peer) {
    const video = this.videoOf(peer.id);
    const note = video && video.parentElement.querySelector('.remote-media-note');
    if (!note) return;
    const off = [];
    if (!peer.remoteMedia.audio) off.push(t('js_remote_muted'));
    if (!peer.remoteMedia.video) off.push(t('js_remote_camera_off'));
    note.textContent = off.join(' · ');
    note.classList.toggle('hidden', off.length === 0);
  }

  // -- signaling ----------------------------------------------------------------------------------------------
  onSignal({ from, data }) {
    if (this.closed || !from || !data) return;
    let peer = this.peers.get(from);
    if (!peer) {
      // Only an offer can open a connection (we are the newcomer); anything else is left over from a closed one.
      if (!(data.description && data.description.type === 'offer')) return;
      peer = new Peer({ id: from }, true);
      this.peers.set(from, peer);
    }
    if (data.media) {
      this.onRemoteMedia(peer, data.media);
      return;
    }
    if (peer.relay) return; // this pair goes through the server now: peer-to-peer signals are stale
    this.enqueue(peer, () => this.handleSignal(peer, data));
  }

  enqueue(peer, task) {
    peer.inbox = peer.inbox.then(() => (this.isCurrent(peer) ? task() : null)).catch((error) => {
      log(`signal handling failed with ${short(peer.id)}: ${error.name}: ${error.message}`);
    });
    return peer.inbox;
  }

  // False once the peer left, was replaced (its page reloaded) or the call closed: its queued work is dropped.
  isCurrent(peer) {
    return !this.closed && this.peers.get(peer.id) === peer;
  }

  async handleSignal(peer, data) {
    if (data.description) await this.onDescription(peer, data.description);
    else if ('candidate' in data) await this.onCandidate(peer, data.candidate);
    else if (data.restartRequest && peer.pc) {
      // Normally we are the impolite side here. If both sides thought they were polite, the one asked takes over.
      peer.polite = false;
      await this.restart(peer, { force: false });
    }
  }

  async onDescription(peer, description) {
    if (description.type === 'offer') {
      mark('offer_received');
      if (!peer.pc) this.createPc(peer, { offerer: false });
      const pc = peer.pc;
      if (pc.signalingState === 'have-local-offer') {
        // Glare: both sides offered. The smaller participant id gives way (the same rule on both sides).
        if (this.me > peer.id) {
          log(`glare with ${short(peer.id)}: keeping our offer`);
          return;
        }
        log(`glare with ${short(peer.id)}: rolling back ours`);
        await pc.setLocalDescription({ type: 'rollback' });
        peer.polite = true;
      }
      await pc.setRemoteDescription(description);
      await this.flushCandidates(peer);
      await pc.setLocalDescription(await pc.createAnswer());
      mark('answer_sent');
      this.send(peer, { description: plain(pc.localDescription) });
    } else if (description.type === 'answer') {
      const pc = peer.pc;
      if (!pc || pc.signalingState !== 'have-local-offer') {
        log(`answer from ${short(peer.id)} ignored (${pc ? pc.signalingState : 'no connection'})`);
        return;
      }
      await pc.setRemoteDescription(description);
      await this.flushCandidates(peer);
    }
  }

  async onCandidate(peer, candidate) {
    if (!candidate || !candidate.candidate) return;
    if (!peer.pc || !peer.pc.remoteDescription) peer.pendingCandidates.push(candidate);
    else await this.addCandidate(peer, candidate);
  }

  async flushCandidates(peer) {
    for (const candidate of peer.pendingCandidates.splice(0)) await this.addCandidate(peer, candidate);
  }

  async addCandidate(peer, candidate) {
    try {
      await peer.pc.addIceCandidate(candidate);
    } catch (error) {
      // Typically a candidate of the previous ICE generation, arriving after a restart.
      log(`candidate from ${short(peer.id)} refused: ${error.message}`);
    }
  }

  async offer(peer, { iceRestart = false } = {}) {
    const pc = peer.pc;
    if (!pc || pc.signalingState === 'closed') return;
    if (iceRestart) pc.restartIce();
    await pc.setLocalDescription(await pc.createOffer({ iceRestart }));
    peer.offerAt = performance.now();
    this.send(peer, { description: plain(pc.localDescription) });
  }

  // Impolite side only. `force` rolls back any unanswered offer (it went to a socket that is gone).
  async restart(peer, { force }) {
    const pc = peer.pc;
    if (!pc || this.closed || pc.signalingState === 'closed') return;
    if (pc.signalingState === 'have-local-offer') {
      if (!force && performance.now() - peer.offerAt < OFFER_IN_FLIGHT_MS) {
        log(`ICE restart with ${short(peer.id)} already under way`);
        return;
      }
      await pc.setLocalDescription({ type: 'rollback' });
    }
    log(`ICE restart with ${short(peer.id)}`);
    await this.offer(peer, { iceRestart: true });
  }

  // Queue a signal for this peer; sent after the ones before it.
  send(peer, data) {
    peer.outbox = peer.outbox.then(() => this.deliver(peer, data)).catch(() => {});
    return peer.outbox;
  }

  // Retried while the server says the other side was not connected (it may be between two sockets).
  async deliver(peer, data) {
    for (let attempt = 1; attempt <= SEND_ATTEMPTS; attempt += 1) {
      if (!this.isCurrent(peer)) return;
      try {
        const ack = await this.signaling.request('signal', { to: peer.id, data }, { timeout: 4000 });
        if (ack.delivered) return;
        log(`signal to ${short(peer.id)} not delivered (attempt ${attempt})`);
      } catch (error) {
        log(`signal to ${short(peer.id)} failed: ${error.code || error.name} (attempt ${attempt})`);
        if (['invalid', 'forbidden', 'not_found', 'unknown_event'].includes(error.code)) return;
      }
      if (attempt < SEND_ATTEMPTS) await sleep(SEND_GAP_MS);
    }
  }

  // -- relay through the server -------------------------------------------------------------------------------
  // 'auto' relays a pair whose ICE never connected (failed, or still not connected at the deadline), or that
  // keeps failing after several recoveries.
  mayRelay(peer) {
    return this.policy.relay === 'auto' && !peer.relay && (!peer.everConnected || peer.recoveries >= 3);
  }

  startRelay(peer, reason) {
    if (this.closed || peer.relay) return;
    log(`relaying ${short(peer.id)} through the server (${reason})`);
    if (peer.pc) peer.pc.close();
    peer.pc = null;
    peer.pendingCandidates = [];
    peer.recoveries = 0;
    peer.relay = new RelayLink({
      signaling: this.signaling,
      peerId: peer.id,
      config: this.rtcConfiguration(),
      stream: this.media && this.media.stream,
      onStream: (stream) => this.isCurrent(peer) && this.attach(peer, stream),
      onChange: () => this.onChange(),
    });
    this.restartRelay(peer, reason);
    this.onChange();
  }

  // (Re)publish, then (re)subscribe, in this peer's queue so two restarts never interleave.
  restartRelay(peer, reason) {
    peer.relayRetryAt = performance.now() + RELAY_RETRY_MS;
    this.enqueue(peer, async () => {
      if (!peer.relay) return;
      log(`relay with ${short(peer.id)}: publish + subscribe (${reason})`);
      await peer.relay.publish();
      await peer.relay.subscribe();
    });
  }

  // The other side published for us through the server: switch this pair to the relay (if not yet) and take it.
  onRelayPublished(from) {
    if (this.closed || !from || this.policy.relay === 'never') return;
    let peer = this.peers.get(from);
    if (!peer) {
      peer = new Peer({ id: from }, true);
      this.peers.set(from, peer);
    }
    if (!peer.relay) {
      this.startRelay(peer, 'the other side relays');
      return;
    }
    this.enqueue(peer, async () => {
      if (!peer.relay) return;
      if (!peer.relay.publishing) await peer.relay.publish(); // ours died meanwhile (socket loss, failure)
      await peer.relay.subscribe();
    });
  }

  // -- outages ------------------------------------------------------------------------------------------------
  recover(peer, reason) {
    const now = performance.now();
    if (this.closed || now < peer.nextRecoveryAt) return;
    peer.nextRecoveryAt = now + Math.min(MAX_RECOVERY_GAP_MS, FIRST_RECOVERY_GAP_MS * 2 ** peer.recoveries);
    peer.recoveries += 1;
    peer.progressAt = now;
    log(`outage with ${short(peer.id)} (${reason}): recovery #${peer.recoveries}`);
    const signaling = this.signaling;
    if (signaling.connected && signaling.restored && now - signaling.restoredAt < FRESH_SIGNALING_MS) {
      this.requestRestart(peer); // the socket is new enough to trust
    } else {
      peer.needsRestart = true; // done once signaling is back (onRestored)
      if (signaling.connected) signaling.forceReconnect(); // otherwise socket.io is already reconnecting
    }
    this.onChange();
  }

  requestRestart(peer) {
    if (!peer.pc) return;
    if (peer.polite) this.send(peer, { restartRequest: true });
    else this.enqueue(peer, () => this.restart(peer, { force: false }));
  }

  // Signaling is back on a new connection (joinAck from `join`, enterAck from `enter` or null).
  onRestored(joinAck, enterAck) {
    if (this.closed) return;
    if (joinAck && joinAck.ice) this.updateIce(joinAck.ice);
    if (enterAck) this.entered(enterAck.peers);
    for (const peer of this.peers.values()) {
      // The server closed the relay peers of our previous socket.
      if (peer.relay) this.restartRelay(peer, 'signaling restored');
      if (!peer.needsRestart) continue;
      peer.needsRestart = false;
      this.requestRestart(peer);
    }
  }

  // Fresh TURN credentials come with every join; use them for the next ICE gathering.
  updateIce(ice) {
    this.ice = ice;
    for (const peer of this.peers.values()) {
      if (!peer.pc) continue;
      try {
        peer.pc.setConfiguration({ ...peer.pc.getConfiguration(), ...this.rtcConfiguration() });
      } catch (error) {
        log(`ICE configuration not updated: ${error.message}`);
      }
    }
  }

  async poll() {
    if (this.polling || this.closed) return;
    this.polling = true;
    try {
      for (const peer of [...this.peers.values()]) {
        if (peer.relay) {
          this.watchRelay(peer);
          continue;
        }
        const pc = peer.pc;
        if (!pc) continue;
        if (!peer.everConnected && performance.now() > peer.p2pDeadline && this.mayRelay(peer)) {
          this.startRelay(peer, `no peer-to-peer connection after ${this.policy.p2pTimeoutMs} ms`);
          continue;
        }
        const ice = pc.iceConnectionState;
        if (ice === 'disconnected' || ice === 'failed') {
          this.recover(peer, `ICE ${ice}`);
          continue;
        }
        if (ice !== 'connected' && ice !== 'completed') continue;
        const bytes = await inboundBytes(pc);
        const now = performance.now();
        if (bytes > peer.bytes) {
          peer.bytes = bytes;
          peer.progressAt = now;
          if (peer.recoveries) {
            log(`media from ${short(peer.id)} flows again`);
            peer.recoveries = 0;
            peer.nextRecoveryAt = 0;
            this.onChange();
          }
        } else if (peer.bytes > 0 && now - peer.progressAt >= STALL_MS) {
          this.recover(peer, `no inbound RTP for ${Math.round(now - peer.progressAt)} ms`);
        }
      }
    } catch (error) {
      log(`stats poll failed: ${error.message}`);
    } finally {
      this.polling = false;
    }
  }

  // A relay connection to the server failed (or never came up): publish and subscribe again, now and then.
  watchRelay(peer) {
    const now = performance.now();
    if (now < peer.relayRetryAt || !this.signaling.connected) return;
    const dead = (pc) => !pc || pc.connectionState === 'failed' || pc.connectionState === 'closed';
    const stuck = peer.relay.pcs().some((pc) => pc.connectionState !== 'connected');
    if ((this.media && this.media.stream && dead(peer.relay.pub)) || (peer.relay.sub && dead(peer.relay.sub)) || stuck) {
      this.restartRelay(peer, 'relay connection not working');
    }
  }

  // -- state for the page and the tests -----------------------------------------------------------------------
  peerIds() {
    return [...this.peers.values()].filter((peer) => peer.connected).map((peer) => peer.id);
  }

  // 'server' when at least one pair goes through the server, 'direct' otherwise.
  mediaPath() {
    return [...this.peers.values()].some((peer) => peer.relay) ? 'server' : 'direct';
  }

  get relayed() {
    return this.mediaPath() === 'server';
  }

  // 'connected' | 'connecting' | 'recovering' per peer with a connection.
  summary() {
    return [...this.peers.values()].filter((peer) => peer.connected).map((peer) => {
      const pc = peer.receiving;
      const state = pc ? pc.connectionState : 'new';
      let status = 'connecting';
      if (peer.recoveries || state === 'disconnected' || state === 'failed') status = 'recovering';
      else if (state === 'connected') status = 'connected';
      return { id: peer.id, kind: peer.kind, label: peer.label, status, via: peer.relay ? 'server' : 'direct' };
    });
  }

  get recovering() {
    return this.summary().some((peer) => peer.status === 'recovering');
  }

  async inbound(id) {
    const result = { framesDecoded: 0, bytesReceived: 0, frameWidth: 0 };
    const peer = this.peers.get(id);
    if (!peer || !peer.receiving) return result;
    (await peer.receiving.getStats()).forEach((report) => {
      if (report.type === 'inbound-rtp' && report.kind === 'video') {
        result.framesDecoded += report.framesDecoded || 0;
        result.bytesReceived += report.bytesReceived || 0;
        result.frameWidth = report.frameWidth || result.frameWidth;
      }
    });
    return result;
  }

  async selectedPair(id) {
    const peer = this.peers.get(id);
    if (!peer || !peer.receiving) return null;
    const stats = await peer.receiving.getStats();
    let pair = null;
    stats.forEach((report) => {
      if (report.type === 'transport' && report.selectedCandidatePairId) {
        pair = stats.get(report.selectedCandidatePairId);
      }
    });
    if (!pair) {
      stats.forEach((report) => {
        if (report.type === 'candidate-pair' && report.nominated && report.state === 'succeeded') pair = pair || report;
      });
    }
    if (!pair) return null;
    const describe = (candidate) => candidate && {
      type: candidate.candidateType,
      address: candidate.address,
      port: candidate.port,
      protocol: candidate.protocol,
      relayProtocol: candidate.relayProtocol,
    };
    return {
      state: pair.state,
      rtt: pair.currentRoundTripTime,
      local: describe(stats.get(pair.localCandidateId)),
      remote: describe(stats.get(pair.remoteCandidateId)),
    };
  }

  // -- local media --------------------------------------------------------------------------------------------
  // Front <-> back camera: a new track from LocalMedia, swapped in on every sender without renegotiation.
  async switchCamera() {
    const track = await this.media.switchCamera();
    if (track) await this.replaceVideoTrack(track);
    return track;
  }

  async replaceVideoTrack(track) {
    for (const peer of this.peers.values()) {
      const pcs = [peer.pc, peer.relay && peer.relay.pub].filter(Boolean);
      for (const pc of pcs) {
        for (const sender of pc.getSenders()) {
          if (sender.track && sender.track.kind === 'video') await sender.replaceTrack(track);
        }
      }
    }
  }

  close() {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.timer);
    for (const off of this.unsubscribe) off();
    for (const id of [...this.peers.keys()]) this.removePeer(id);
    this.onChange();
  }
}

async function inboundBytes(pc) {
  let total = 0;
  (await pc.getStats()).forEach((report) => {
    if (report.type === 'inbound-rtp') total += report.bytesReceived || 0;
  });
  return total;
}
