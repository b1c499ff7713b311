#ifndef QUICLB_H
#define QUICLB_H
#include <stddef.h>
#include <stdint.h>

#define QUICLB_MAX_PLAINTEXT 19

/* One QUIC-LB configuration (draft-ietf-quic-load-balancers-21). */
struct quiclb_config {
  int config_id;      /* 0..6: the top three bits of the CID's first octet */
  size_t sid_len;     /* 1..15 */
  size_t nonce_len;   /* 4..18, sid_len + nonce_len <= 19 */
  int has_key;        /* 0: plaintext */
  uint8_t key[16];
};

/* Writes 1 + sid_len + nonce_len octets to cid; the low five bits of the first octet come from
 * first_octet. Returns 0, or -1 on a bad config or a GnuTLS failure. */
int quiclb_encode(const struct quiclb_config *c, uint8_t first_octet, const uint8_t *sid, const uint8_t *nonce, uint8_t *cid);

#endif
