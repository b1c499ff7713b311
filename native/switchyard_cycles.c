/* switchyard_cycles.c: see switchyard_cycles.h. */
#include <x86intrin.h>
#include "switchyard_cycles.h"

SY_EXPORT uint64_t sy_rdtsc(void)
{
    return __rdtsc();
}
