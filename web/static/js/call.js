// Peer connections for a small mesh call (2-3 participants), following docs/protocol.md:
// members already in the call offer to a newcomer (impolite side, owns ICE restarts); signals are handled
// one at a time per peer; an outage (ICE disconnected/failed or 1.5 s without inbound RTP) triggers a fresh
// socket, then an ICE restart by the impolite side.
import { log, hook } from './boot.js';

const STALL_MS = 1500;
const RECOVERY_GAP_MS = 4000;

class Peer {
  constructor(id, polite, instance) {
    this.id = id;
    this.polite = polite;
    this.instance = instance;
    this.pc = null;
    this.queue = Promise.resolve();
    this.pendingCandidates = [];
    this.lastBytes = -1;
    this.lastProgress = performance.now();
    this.lastRecovery = 0;
    this.needsRestart = false;
  }
}

export class PeerManager {
  constructor({ signaling, localStream, ice, container }) {
    this.signaling = signaling;
    this.localStream = localStream;
    this.ice = ice || { iceServers: [] };
    this.container = container;
    this.peers = new Map();
    this.closed = false;
    signaling.on('peer-joined', (peer) => this.onPeerJoined(peer));
    signaling.on('peer-left', ({ id }) => this.removePeer(id));
    signaling.on('signal', (message) => this.onSignal(message));
    signaling.onRestored(() => this.afterReconnect());
    this.stallTimer = setInterval(() => this.checkStalls(), 500);
    hook.peers = () => [...this.peers.keys()];
    hook.inbound = (id) => this.inbound(id);
    hook.selectedPair = (id) => this.selectedPair(id);
  }

  createPc(peer) {
    const pc = new RTCPeerConnection({
      iceServers: this.ice.iceServers || [],
      iceTransportPolicy: this.ice.iceTransportPolicy || 'all',
    });
    peer.pc = pc;
    if (this.localStream) for (const track of this.localStream.getTracks()) pc.addTrack(track, this.localStream);
    else {
      pc.addTransceiver('audio', { direction: 'recvonly' });
      pc.addTransceiver('video', { direction: 'recvonly' });
    }
    pc.onicecandidate = (event) =>
      this.send(peer.id, { candidate: event.candidate ? event.candidate.toJSON() : null });
    pc.ontrack = (event) => this.attach(peer.id, event.streams[0] || new MediaStream([event.track]));
    pc.oniceconnectionstatechange = () => {
      log(`ice ${peer.id.slice(0, 6)} ${pc.iceConnectionState}`);
      if (pc.iceConnectionState === 'disconnected' || pc.iceConnectionState === 'failed') this.recover(peer);
    };
    pc.onconnectionstatechange = () => log(`pc ${peer.id.slice(0, 6)} ${pc.connectionState}`);
    return pc;
  }

  attach(id, stream) {
    let video = this.container.querySelector(`video[data-peer="${id}"]`);
    if (!video) {
      video = document.createElement('video');
      video.dataset.peer = id;
      video.autoplay = true;
      video.playsInline = true;
      video.setAttribute('playsinline', '');
      this.container.append(video);
    }
    if (video.srcObject !== stream) video.srcObject = stream;
    video.play().catch(() => {});
    // The join-time benchmark reads when the first remote frame was actually presented.
    if (!hook.firstFrameAt && video.requestVideoFrameCallback) {
      video.requestVideoFrameCallback(() => {
        if (!hook.firstFrameAt) hook.firstFrameAt = performance.timeOrigin + performance.now();
      });
    }
  }

  // After our own `enter`: the members listed will offer to us; nothing to start.
  entered(peers) {
    for (const info of peers) if (!this.peers.has(info.id)) this.peers.set(info.id, new Peer(info.id, true, info.instance));
  }

  onPeerJoined({ id, instance }) {
    const existing = this.peers.get(id);
    if (existing && existing.pc && existing.instance === instance) {
      log(`peer ${id.slice(0, 6)} reconnected`);
      if (!existing.polite) this.enqueue(existing, () => this.restart(existing));
      return;
    }
    if (existing) this.closePeer(existing);
    const peer = new Peer(id, false, instance);
    this.peers.set(id, peer);
    this.createPc(peer);
    this.enqueue(peer, () => this.offer(peer, false));
  }

  onSignal({ from, data }) {
    let peer = this.peers.get(from);
    if (!peer) {
      peer = new Peer(from, true, '');
      this.peers.set(from, peer);
    }
    this.enqueue(peer, () => this.handleSignal(peer, data));
  }

  enqueue(peer, task) {
    peer.queue = peer.queue.then(task).catch((error) => log(`signal error ${error.name}: ${error.message}`));
  }

  async handleSignal(peer, data) {
    if (data.description) {
      const description = data.description;
      if (description.type === 'offer') {
        if (!peer.pc) this.createPc(peer);
        if (peer.pc.signalingState !== 'stable') {
          if (!peer.polite) return; // glare: the impolite side keeps its own offer
          await peer.pc.setLocalDescription({ type: 'rollback' });
        }
      } else if (!peer.pc) {
        return;
      }
      await peer.pc.setRemoteDescription(description);
      if (description.type === 'offer') {
        await peer.pc.setLocalDescription();
        await this.send(peer.id, { description: peer.pc.localDescription.toJSON() });
      }
      for (const candidate of peer.pendingCandidates.splice(0)) await this.addCandidate(peer, candidate);
    } else if ('candidate' in data) {
      if (!peer.pc || !peer.pc.remoteDescription) peer.pendingCandidates.push(data.candidate);
      else await this.addCandidate(peer, data.candidate);
    } else if (data.restartRequest && !peer.polite && peer.pc) {
      await this.restart(peer);
    }
  }

  async addCandidate(peer, candidate) {
    try {
      await peer.pc.addIceCandidate(candidate || undefined);
    } catch (error) {
      log(`candidate refused ${error.message}`);
    }
  }

  async offer(peer, iceRestart) {
    if (iceRestart) peer.pc.restartIce();
    await peer.pc.setLocalDescription();
    await this.send(peer.id, { description: peer.pc.localDescription.toJSON() });
  }

  async restart(peer) {
    if (!peer.pc || this.closed) return;
    log(`ice restart ${peer.id.slice(0, 6)}`);
    if (peer.pc.signalingState === 'have-local-offer') await peer.pc.setLocalDescription({ type: 'rollback' });
    await this.offer(peer, true);
  }

  // Retry while the other side's socket is away (e.g. during its own reconnect).
  async send(to, data) {
    for (let attempt = 0; attempt < 5 && !this.closed; attempt += 1) {
      try {
        const ack = await this.signaling.request('signal', { to, data }, 4000);
        if (ack.delivered) return;
      } catch (error) {
        log(`signal not sent ${error.code || error.message}`);
        if (error.code === 'invalid' || error.code === 'forbidden') return;
      }
      await new Promise((resolve) => setTimeout(resolve, 500));
    }
  }

  recover(peer) {
    const now = performance.now();
    if (this.closed || now - peer.lastRecovery < RECOVERY_GAP_MS) return;
    peer.lastRecovery = now;
    peer.needsRestart = true;
    log(`recover ${peer.id.slice(0, 6)}`);
    this.signaling.forceReconnect();
  }

  afterReconnect() {
    for (const peer of this.peers.values()) {
      if (!peer.needsRestart || !peer.pc) continue;
      peer.needsRestart = false;
      if (peer.polite) this.send(peer.id, { restartRequest: true });
      else this.enqueue(peer, () => this.restart(peer));
    }
  }

  async checkStalls() {
    for (const peer of this.peers.values()) {
      if (!peer.pc || peer.pc.connectionState !== 'connected') continue;
      const bytes = await this.bytesReceived(peer.pc);
      const now = performance.now();
      if (bytes !== peer.lastBytes) {
        peer.lastBytes = bytes;
        peer.lastProgress = now;
      } else if (now - peer.lastProgress > STALL_MS) {
        peer.lastProgress = now;
        this.recover(peer);
      }
    }
  }

  async bytesReceived(pc) {
    let total = 0;
    (await pc.getStats()).forEach((report) => {
      if (report.type === 'inbound-rtp') total += report.bytesReceived || 0;
    });
    return total;
  }

  async inbound(id) {
    const peer = this.peers.get(id);
    const result = { framesDecoded: 0, bytesReceived: 0, frameWidth: 0 };
    if (!peer || !peer.pc) return result;
    (await peer.pc.getStats()).forEach((report) => {
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
    if (!peer || !peer.pc) return null;
    const stats = await peer.pc.getStats();
    let pair = null;
    stats.forEach((report) => {
      if (report.type === 'transport' && report.selectedCandidatePairId) pair = stats.get(report.selectedCandidatePairId);
    });
    if (!pair) return null;
    const local = stats.get(pair.localCandidateId);
    const remote = stats.get(pair.remoteCandidateId);
    return { local: local && `${local.address}:${local.port}`, remote: remote && `${remote.address}:${remote.port}` };
  }

  async replaceVideoTrack(track) {
    for (const peer of this.peers.values()) {
      if (!peer.pc) continue;
      const sender = peer.pc.getSenders().find((s) => s.track && s.track.kind === 'video');
      if (sender) await sender.replaceTrack(track);
    }
  }

  closePeer(peer) {
    if (peer.pc) peer.pc.close();
    peer.pc = null;
    const video = this.container.querySelector(`video[data-peer="${peer.id}"]`);
    if (video) video.remove();
  }

  removePeer(id) {
    const peer = this.peers.get(id);
    if (!peer) return;
    this.closePeer(peer);
    this.peers.delete(id);
  }

  close() {
    this.closed = true;
    clearInterval(this.stallTimer);
    for (const peer of this.peers.values()) this.closePeer(peer);
    this.peers.clear();
  }
}
