/*
 * switchyard_token.c: VAES kernels for the batched token decryptor (see switchyard_token.h).
 * The shim as a whole is compiled with DPDK's machine flags; these kernels carry their own target
 * attributes and run only after a CPUID check (__builtin_cpu_supports), so the library still loads
 * and runs on CPUs without VAES (sy_token_kernel() then returns 0 and C# keeps its AES-NI path).
 */
#include <immintrin.h>
#include <stddef.h>
#include "switchyard_token.h"

#pragma GCC push_options
#pragma GCC target("avx2,aes,vaes,avx512f,avx512vl")
#define KERNEL_NAME sy_token_vaes_avx512
#include "switchyard_token_kernel.h"
#undef KERNEL_NAME
#pragma GCC pop_options

#pragma GCC push_options
#pragma GCC target("avx2,aes,vaes")
#define KERNEL_NAME sy_token_vaes_avx2
#include "switchyard_token_kernel.h"
#undef KERNEL_NAME
#pragma GCC pop_options

static int32_t cpu_kernel(void)
{
    __builtin_cpu_init();
    if (!__builtin_cpu_supports("vaes") || !__builtin_cpu_supports("avx2")) return 0;
    if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512vl")) return 2;
    return 1;
}

SY_EXPORT int32_t sy_token_kernel(void)
{
    static int32_t cached = -1;
    int32_t k = __atomic_load_n(&cached, __ATOMIC_RELAXED);
    if (k < 0) {
        k = cpu_kernel();
        __atomic_store_n(&cached, k, __ATOMIC_RELAXED);
    }
    return k;
}

SY_EXPORT int32_t sy_token_decrypt_server_ids_with(int32_t kernel, const uint32_t *tokens, uint32_t n,
                                                   uint32_t *server_ids, uint8_t *ok,
                                                   const void *pair_schedule, uint32_t valid_mask,
                                                   uint32_t shift)
{
    if (kernel < 1 || kernel > sy_token_kernel()) return -1;
    if (n == 0) return 0;
    return kernel == 2
        ? sy_token_vaes_avx512(tokens, n, server_ids, ok, pair_schedule, valid_mask & 7u, shift & 15u)
        : sy_token_vaes_avx2(tokens, n, server_ids, ok, pair_schedule, valid_mask & 7u, shift & 15u);
}

SY_EXPORT int32_t sy_token_decrypt_server_ids(const uint32_t *tokens, uint32_t n, uint32_t *server_ids,
                                              uint8_t *ok, const void *pair_schedule,
                                              uint32_t valid_mask, uint32_t shift)
{
    return sy_token_decrypt_server_ids_with(sy_token_kernel(), tokens, n, server_ids, ok, pair_schedule,
                                            valid_mask, shift);
}
