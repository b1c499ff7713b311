/*
 * The body of one VAES token kernel; switchyard_token.c includes it once per instruction-set
 * target with KERNEL_NAME set. Not a public header.
 *
 * 16 tokens per group, two per 256-bit register (token 2j in the low 128-bit lane, 2j + 1 in the
 * high one): eight registers in flight cover vaesenc's latency (4 cycles) at two per cycle.
 * The Feistel halves live in vector registers too (16-bit word 0 of each lane, little-endian), so
 * a pass boundary is vpshufb (to/from the big-endian octets of the round input/output), vpsrlw
 * and vpxor: no round trip through general registers between the three passes.
 * Round keys are memory operands from the pair schedule (one pair per register: mixed key ids
 * need no sorting or branching).
 */
#ifndef KERNEL_NAME
#error "define KERNEL_NAME"
#endif

#define SY_CAT_(a, b) a##b
#define SY_CAT(a, b) SY_CAT_(a, b)
#define GROUP_FN SY_CAT(KERNEL_NAME, _group16)

static inline __attribute__((always_inline)) uint32_t
GROUP_FN(const uint32_t *t, uint32_t *ids, uint8_t *ok, const __m256i *pairs, uint32_t valid, uint32_t shift)
{
    /* byte 0 <- byte 1, byte 1 <- byte 0, bytes 2..15 <- 0, in each 128-bit lane */
    const __m256i swap = _mm256_setr_epi8(1, 0, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
                                          1, 0, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1);
    const __m256i half = _mm256_setr_epi32(0x7FFF, 0, 0, 0, 0x7FFF, 0, 0, 0);
    const __m256i *k[8];
    __m256i l[8], r[8], x[8];

#pragma GCC unroll 8
    for (int j = 0; j < 8; j++) {
        uint32_t a = t[2 * j], b = t[2 * j + 1];
        k[j] = pairs + (size_t)((a >> 30) << 2 | (b >> 30)) * SY_TOKEN_PAIR_VECTORS;
        __m256i v = _mm256_setr_epi32((int)a, 0, 0, 0, (int)b, 0, 0, 0);
        r[j] = _mm256_and_si256(v, half);
        l[j] = _mm256_and_si256(_mm256_srli_epi32(v, 15), half);
    }

#define SY_PASS(PASS, IN, OUT)                                                                   \
    do {                                                                                         \
        /* Launder the key pointers: without it gcc keeps all 8 x 11 round keys of the three     \
         * passes live in registers (they are the same loads) and spills block states instead. */\
        _Pragma("GCC unroll 8") for (int j = 0; j < 8; j++) __asm__("" : "+r"(k[j]));            \
        _Pragma("GCC unroll 8") for (int j = 0; j < 8; j++)                                      \
            x[j] = _mm256_xor_si256(_mm256_shuffle_epi8(IN[j], swap),                            \
                                    _mm256_load_si256(k[j] + 10 + (PASS)));                     \
        _Pragma("GCC unroll 9") for (int rd = 1; rd <= 9; rd++)                                  \
            _Pragma("GCC unroll 8") for (int j = 0; j < 8; j++)                                  \
                x[j] = _mm256_aesenc_epi128(x[j], _mm256_load_si256(k[j] + rd));                \
        _Pragma("GCC unroll 8") for (int j = 0; j < 8; j++) {                                    \
            x[j] = _mm256_aesenclast_epi128(x[j], _mm256_load_si256(k[j] + 10));                \
            OUT[j] = _mm256_xor_si256(OUT[j], _mm256_srli_epi16(_mm256_shuffle_epi8(x[j], swap), 1)); \
        }                                                                                        \
    } while (0)

    SY_PASS(4, r, l); /* l ^= F(4, r) */
    SY_PASS(3, l, r); /* r ^= F(3, l) */
    SY_PASS(2, r, l); /* l ^= F(2, r) */
#undef SY_PASS

    uint32_t count = 0;
#pragma GCC unroll 8
    for (int j = 0; j < 8; j++) {
        uint32_t a = t[2 * j], b = t[2 * j + 1];
        uint32_t ma = 0u - ((valid >> (a >> 30)) & 1u), mb = 0u - ((valid >> (b >> 30)) & 1u);
        ids[2 * j] = ((uint32_t)_mm256_extract_epi16(l[j], 0) >> shift) & ma;
        ids[2 * j + 1] = ((uint32_t)_mm256_extract_epi16(l[j], 8) >> shift) & mb;
        ok[2 * j] = (uint8_t)(ma & 1u);
        ok[2 * j + 1] = (uint8_t)(mb & 1u);
        count += (ma & 1u) + (mb & 1u);
    }
    return count;
}

static int32_t KERNEL_NAME(const uint32_t *tokens, uint32_t n, uint32_t *ids, uint8_t *ok,
                           const void *schedule, uint32_t valid, uint32_t shift)
{
    const __m256i *pairs = (const __m256i *)schedule;
    uint32_t i = 0, count = 0;
    for (; i + 16 <= n; i += 16)
        count += GROUP_FN(tokens + i, ids + i, ok + i, pairs, valid, shift);
    uint32_t rem = n - i;
    if (rem > 0) {
        /* Pad the tail with copies of its first token; keep only the first rem results. */
        uint32_t pt[16], ps[16];
        uint8_t po[16];
        for (uint32_t j = 0; j < 16; j++) pt[j] = j < rem ? tokens[i + j] : tokens[i];
        GROUP_FN(pt, ps, po, pairs, valid, shift);
        for (uint32_t j = 0; j < rem; j++) {
            ids[i + j] = ps[j];
            ok[i + j] = po[j];
            count += po[j];
        }
    }
    return (int32_t)count;
}

#undef GROUP_FN
#undef SY_CAT
#undef SY_CAT_
