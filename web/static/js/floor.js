// Benchmark floor: a static page that only opens the camera and shows its first frame (no signaling, no WebRTC).
const video = document.getElementById('v');
navigator.mediaDevices.getUserMedia({ audio: true, video: { width: { ideal: 640 }, height: { ideal: 480 } } }).then((stream) => {
  video.srcObject = stream;
  video.requestVideoFrameCallback(() => {
    window.floorFrameAt = performance.timeOrigin + performance.now();
  });
});
