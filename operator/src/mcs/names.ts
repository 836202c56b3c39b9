// Deterministic names for the objects the MCS controller creates. Every member computes the same names from
// the same content, so a plan applied twice (or by another replica) names the same objects.
import { createHash } from 'node:crypto';
import { keyString, type ServiceKey } from './types.js';

/** Kubernetes label and DNS label limit; we keep every generated name within it. */
export const MAX_NAME_LENGTH = 63;

const BASE32_HEX = '0123456789abcdefghijklmnopqrstuv';

/** Lower-case, unpadded base32 "extended hex" (RFC 4648 §7) of the bytes. */
export function base32Hex(bytes: Uint8Array): string {
  let out = '';
  let buffer = 0;
  let bits = 0;
  for (const byte of bytes) {
    buffer = (buffer << 8) | byte;
    bits += 8;
    while (bits >= 5) {
      out += BASE32_HEX[(buffer >>> (bits - 5)) & 31];
      bits -= 5;
    }
    buffer &= (1 << bits) - 1;
  }
  if (bits > 0) out += BASE32_HEX[(buffer << (5 - bits)) & 31];
  return out;
}

/** The first `length` characters of base32hex(sha256(text)): DNS-label safe, 5 bits per character. */
export function shortHash(text: string, length = 10): string {
  return base32Hex(createHash('sha256').update(text).digest()).slice(0, length);
}

/**
 * The derived Service of a ClusterSetIP ServiceImport: "derived-" + 10 characters of base32hex(sha256("ns/name")),
 * the scheme of the mcs-api reference controller (controllers/common.go derivedName), so a cluster that switches
 * between it and mizzen keeps the same Service and clusterset IP. 18 characters; 50 bits of hash make a collision
 * within one namespace practically impossible, and a readable name is kept on the Service as a label.
 */
export function derivedServiceName(key: ServiceKey): string {
  return `derived-${shortHash(keyString(key))}`;
}

/** Trims `text` to `max` characters without leaving a trailing "-" or "." (invalid at the end of a name). */
export function trimName(text: string, max: number): string {
  return text.slice(0, max).replace(/[-.]+$/, '');
}

/**
 * The name of one imported EndpointSlice: "<service>-<cluster>-<hash>", at most 63 characters. The readable part
 * is trimmed to fit; the hash covers everything that makes the slice distinct (service, source cluster, address
 * type, port set and chunk index), so trimming never makes two names equal.
 */
export function endpointSliceName(key: ServiceKey, sourceCluster: string, discriminator: string): string {
  const hash = shortHash(`${keyString(key)}\n${sourceCluster}\n${discriminator}`);
  const readable = trimName(`${key.name}-${sourceCluster}`, MAX_NAME_LENGTH - hash.length - 1);
  return `${readable}-${hash}`;
}
