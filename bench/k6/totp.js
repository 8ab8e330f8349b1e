// TOTP codes computed by k6 when it sends them (RFC 6238 over RFC 4226's HOTP, HMAC-SHA1, 6 digits), from the
// base32 seed run.py passes: a code computed before the run expires on a slow machine, one computed now does not.
// bench/test_k6_totp.py checks it against pyotp.
import crypto from 'k6/crypto';

const ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
const keys = {};  // seed -> its bytes, decoded once per VU

export function base32Bytes(seed) {
  let bits = 0;
  let value = 0;
  const bytes = [];
  for (const char of seed.replace(/=+$/, '').toUpperCase()) {
    const index = ALPHABET.indexOf(char);
    if (index < 0) throw new Error(`not base32: ${char}`);
    value = (value << 5) | index;
    bits += 5;
    if (bits >= 8) {
      bytes.push((value >>> (bits - 8)) & 255);
      bits -= 8;
    }
  }
  return new Uint8Array(bytes).buffer;
}

export function hotp(seed, counter) {
  const key = keys[seed] || (keys[seed] = base32Bytes(seed));
  const message = new Uint8Array(8);
  let rest = counter;
  for (let i = 7; i >= 0; i--) {  // the counter as 8 bytes, big-endian (beyond 2^32: no bit operators)
    message[i] = rest % 256;
    rest = Math.floor(rest / 256);
  }
  const mac = new Uint8Array(crypto.hmac('sha1', key, message.buffer, 'binary'));
  const offset = mac[mac.length - 1] & 15;
  const binary = ((mac[offset] & 127) << 24) | (mac[offset + 1] << 16) | (mac[offset + 2] << 8) | mac[offset + 3];
  return String(binary % 1000000).padStart(6, '0');
}

export function step(period, at) {
  return Math.floor((at === undefined ? Date.now() : at) / 1000 / period);
}

export function totp(seed, period, at) {
  return hotp(seed, step(period, at));
}
