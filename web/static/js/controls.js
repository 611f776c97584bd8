// Call buttons shared by the patient and practitioner pages.
export function wireControls({ media, manager, onHangup }) {
  const mute = document.getElementById('mute');
  const camera = document.getElementById('camera-off');
  const switcher = document.getElementById('switch-camera');
  mute.onclick = () => mute.classList.toggle('off', !media.toggleAudio());
  camera.onclick = () => camera.classList.toggle('off', !media.toggleVideo());
  if (switcher) {
    switcher.onclick = async () => {
      const track = await media.switchCamera();
      if (track) {
        await manager().replaceVideoTrack(track);
        document.getElementById('local-video').srcObject = media.stream;
      }
    };
  }
  document.getElementById('hangup').onclick = onHangup;
}
