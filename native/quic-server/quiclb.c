/* QUIC-LB draft-21 CID encoding in C, for the QUIC server in quiclb_peer.c.
 * Same algorithm as src/Dataplane/Datapath/Quic/QuicLbCipher.cs (the reference the balancer is tested
 * against); `quiclb-peer encode` prints CIDs so the tests compare the two on the draft's vectors.
 * AES-128-ECB of one block = GnuTLS AES-128-CBC with a zero IV (GnuTLS has no ECB mode). */
#include "quiclb.h"

#include <string.h>
#include <gnutls/crypto.h>

static int aes_block(const uint8_t key[16], const uint8_t in[16], uint8_t out[16]) {
  gnutls_cipher_hd_t h;
  uint8_t iv[16] = {0};
  gnutls_datum_t k = {(unsigned char *)key, 16}, v = {iv, 16};
  if (gnutls_cipher_init(&h, GNUTLS_CIPHER_AES_128_CBC, &k, &v) < 0) return -1;
  int rv = gnutls_cipher_encrypt2(h, in, 16, out, 16);
  gnutls_cipher_deinit(h);
  return rv < 0 ? -1 : 0;
}

/* target ^= truncate(AES(expand(len, pass, source)), half) */
static int round_fn(const struct quiclb_config *c, int pass, const uint8_t *source, uint8_t *target, size_t half) {
  uint8_t block[16] = {0}, out[16];
  memcpy(block, source, half);
  block[14] = (uint8_t)(c->sid_len + c->nonce_len);
  block[15] = (uint8_t)pass;
  if (aes_block(c->key, block, out) != 0) return -1;
  for (size_t i = 0; i < half; i++) target[i] ^= out[i];
  return 0;
}

int quiclb_encode(const struct quiclb_config *c, uint8_t first_octet, const uint8_t *sid, const uint8_t *nonce, uint8_t *cid) {
  size_t len = c->sid_len + c->nonce_len;
  uint8_t pt[QUICLB_MAX_PLAINTEXT];
  if (c->config_id > 6 || c->sid_len < 1 || c->sid_len > 15 || c->nonce_len < 4 || len > QUICLB_MAX_PLAINTEXT) return -1;
  memcpy(pt, sid, c->sid_len);
  memcpy(pt + c->sid_len, nonce, c->nonce_len);
  cid[0] = (uint8_t)((c->config_id << 5) | (first_octet & 0x1f));
  if (!c->has_key) {
    memcpy(cid + 1, pt, len);
    return 0;
  }
  if (len == 16) return aes_block(c->key, pt, cid + 1);
  size_t half = (len + 1) / 2;
  int odd = len & 1;
  uint8_t left[10] = {0}, right[10] = {0};
  memcpy(left, pt, half);
  memcpy(right, pt + len - half, half);
  if (odd) { left[half - 1] &= 0xf0; right[0] &= 0x0f; }
  if (round_fn(c, 1, left, right, half)) return -1;
  if (odd) right[0] &= 0x0f;
  if (round_fn(c, 2, right, left, half)) return -1;
  if (odd) left[half - 1] &= 0xf0;
  if (round_fn(c, 3, left, right, half)) return -1;
  if (odd) right[0] &= 0x0f;
  if (round_fn(c, 4, right, left, half)) return -1;
  if (odd) left[half - 1] &= 0xf0;
  memset(cid + 1, 0, len);
  memcpy(cid + 1, left, half);
  for (size_t i = 0; i < half; i++) cid[1 + len - half + i] |= right[i];
  return 0;
}
