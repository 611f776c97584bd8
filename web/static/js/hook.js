// window.lucarne: what the real-browser tests observe (page state, an event log, and WebRTC statistics).
const idle = {
  peers: () => [],
  inbound: async () => ({ framesDecoded: 0, bytesReceived: 0, frameWidth: 0 }),
  selectedPair: async () => null,
  mediaPath: () => 'none',
};

// marks: when each milestone of the page first happened (epoch ms), read by the join-time benchmark.
export const hook = { state: 'loading', log: [], marks: {}, ...idle };
window.lucarne = hook;

const MAX_LOG = 1000;

export function log(message) {
  hook.log.push(`${new Date().toISOString().slice(11, 23)} ${message}`);
  if (hook.log.length > MAX_LOG) hook.log.splice(0, hook.log.length - MAX_LOG);
}

export function setState(state) {
  if (hook.state === state) return;
  hook.state = state;
  mark(`state_${state}`);
  log(`state ${state}`);
}

// Record the first time a milestone is reached (later occurrences, e.g. after a reconnection, are not).
export function mark(name) {
  if (!(name in hook.marks)) hook.marks[name] = performance.timeOrigin + performance.now();
}

// Point the statistics helpers at a PeerManager (or back to idle with null).
export function observe(manager) {
  if (!manager) {
    Object.assign(hook, idle);
    return;
  }
  hook.peers = () => manager.peerIds();
  hook.inbound = (peerId) => manager.inbound(peerId);
  hook.selectedPair = (peerId) => manager.selectedPair(peerId);
  hook.mediaPath = () => manager.mediaPath();
}
