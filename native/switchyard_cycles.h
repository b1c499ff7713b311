/*
 * switchyard_cycles.h: the time-stamp counter for the per-stage cycle budget (Run.StageStampsFile).
 * .NET has no rdtsc intrinsic, and Stopwatch.GetTimestamp is clock_gettime (through the vDSO, on this
 * VM's kvm-clock: tens of ns and not a raw counter), so the stamps come from here.
 */
#ifndef SWITCHYARD_CYCLES_H
#define SWITCHYARD_CYCLES_H

#include <stdint.h>

#ifndef SY_EXPORT
#define SY_EXPORT __attribute__((visibility("default")))
#endif

/* rdtsc: the invariant TSC (constant rate, not the core clock under boost). Fast path: no syscall. */
SY_EXPORT uint64_t sy_rdtsc(void);

#endif
