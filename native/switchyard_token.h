/*
 * switchyard_token.h: the batched routable-token decryptor (token format v1,
 * shared/docs/token-format.md) with VAES: two AES blocks per instruction on 256-bit registers.
 * No DPDK dependency; exported from libswitchyard_shim.so next to the DPDK wrappers.
 *
 * The managed side (src/Dataplane/Datapath/Mptcp/TokenCipher.Vaes.cs) builds the key schedule
 * this kernel reads and keeps its own 128-bit AES-NI kernel as the fallback; tests check both
 * against the scalar reference on every shared vector and on random tokens.
 */
#ifndef SWITCHYARD_TOKEN_H
#define SWITCHYARD_TOKEN_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#ifndef SY_EXPORT
#define SY_EXPORT __attribute__((visibility("default")))
#endif

/* Key-pair schedule layout (built by TokenKeys.PairSchedule, 64-byte aligned):
 * 16 pairs, pair p = (key id of the even token << 2) | key id of the odd token; each pair holds
 * SY_TOKEN_PAIR_VECTORS 256-bit vectors, vector j = slot[a][j] (low 128 bits) || slot[b][j] (high):
 *   j = 0..10   AES round keys 0..10
 *   j = 11..14  round key 0 XOR the round input's constant part for pass 1..4
 *   j = 15      zero
 * Key ids without a key (and id 3) hold a zero schedule; their lanes are masked off. */
#define SY_TOKEN_PAIR_VECTORS 16
#define SY_TOKEN_PAIRS 16
#define SY_TOKEN_SCHEDULE_BYTES (SY_TOKEN_PAIRS * SY_TOKEN_PAIR_VECTORS * 32)

/* Which kernel sy_token_decrypt_server_ids runs on this CPU (decided once, by CPUID):
 * 0 = none (no VAES/AVX2: the caller must use its own path), 1 = VAES + AVX2 (16 vector
 * registers), 2 = VAES + AVX-512VL (32 vector registers). */
SY_EXPORT int32_t sy_token_kernel(void);

/* For i in [0, n): ok[i] = 1 and server_ids[i] = the server id (top k bits of X, shift = 15 - k)
 * when bit (tokens[i] >> 30) of valid_mask is set, else 0 and 0. Returns the number of ok tokens,
 * or -1 when sy_token_kernel() is 0 (nothing written). Passes 4, 3, 2 of the Feistel only.
 * Fast path: no allocation, no syscall, no lock; writes nothing past n. */
SY_EXPORT int32_t sy_token_decrypt_server_ids(const uint32_t *tokens, uint32_t n, uint32_t *server_ids,
                                              uint8_t *ok, const void *pair_schedule,
                                              uint32_t valid_mask, uint32_t shift);

/* Same, forcing a kernel (1 or 2) for tests and benchmarks; -1 when the CPU lacks it. */
SY_EXPORT int32_t sy_token_decrypt_server_ids_with(int32_t kernel, const uint32_t *tokens, uint32_t n,
                                                   uint32_t *server_ids, uint8_t *ok,
                                                   const void *pair_schedule, uint32_t valid_mask,
                                                   uint32_t shift);

#ifdef __cplusplus
}
#endif
#endif
