// The server refuses a socket connect when one address opens too many (a token bucket per address): its
// connect_error then carries {error: 'rate_limited', retryAfter: seconds}. socket.io does not retry a refused
// connect by itself, so the pages try again after that delay instead of treating it as "session over".

// Milliseconds to wait before connecting again, or null when the error is not that refusal.
export function retryAfterMs(error) {
  if (!error || !error.data || error.data.error !== 'rate_limited') return null;
  const seconds = Number(error.data.retryAfter) || 1;
  return Math.min(30, Math.max(0.5, seconds)) * 1000 + Math.random() * 500; // spreads one network's retries
}
