// The case timeline in sentences of the page language: an event kind or a refusal code is never shown.
const SIMPLE = {
  'case.opened': 'js_tl_case_opened', 'case.member_added': 'js_tl_member_added', 'case.closed': 'js_tl_case_closed',
  'link.created': 'js_tl_link_created', 'link.sent': 'js_tl_link_sent', 'link.send_failed': 'js_tl_link_send_failed',
  'link.opened': 'js_tl_link_opened', 'stream.started': 'js_tl_stream_started', 'stream.stopped': 'js_tl_stream_stopped',
  'caller.stream.started': 'js_tl_stream_started', 'caller.stream.stopped': 'js_tl_stream_stopped',
  'caller.consent': 'js_tl_consent', 'caller.camera.switched': 'js_tl_camera_switched',
  'caller.sharing.stopped': 'js_tl_sharing_stopped',
  'command.switch_camera': 'js_tl_command_switch_camera', 'command.torch_on': 'js_tl_command_torch_on',
  'command.torch_off': 'js_tl_command_torch_off',
};
const REFUSALS = ['other_device', 'expired', 'revoked', 'closed', 'invalid'];

function torch(detail) {
  if (detail.supported === false) return 'js_tl_torch_unsupported';
  return detail.on ? 'js_tl_torch_on' : 'js_tl_torch_off';
}

function mode(detail) {
  if (detail.mode === 'stills') return 'js_tl_mode_stills';
  if (detail.mode === 'location') return 'js_tl_mode_location';
  return 'js_tl_mode_trouble';
}

export function refusalSentence(detail, t) {
  const reason = REFUSALS.includes(detail.reason) ? detail.reason : 'invalid';
  return t(`js_tl_refused_${reason}`);
}

export function sentence(event, t) {
  const d = event.detail || {};
  if (SIMPLE[event.kind]) return t(SIMPLE[event.kind]);
  if (event.kind === 'link.refused') return refusalSentence(d, t);
  if (event.kind === 'caller.torch') return t(torch(d));
  if (event.kind === 'caller.mode') return t(mode(d));
  if (event.kind === 'capture') return t(d.source === 'stream' ? 'js_tl_capture_stream' : 'js_tl_capture_caller');
  if (event.kind === 'caller.location') {
    return t('js_tl_location', { coords: `${Number(d.lat).toFixed(5)}, ${Number(d.lon).toFixed(5)}`,
                                 accuracy: Math.round(Number(d.accuracy)) });
  }
  return t('js_tl_other');
}

export function clockTime(iso, lang) {
  return new Date(iso).toLocaleTimeString(lang || undefined, { hour: '2-digit', minute: '2-digit', second: '2-digit' });
}
