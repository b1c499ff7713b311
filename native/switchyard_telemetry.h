/*
 * switchyard_telemetry.h: Switchyard's commands on DPDK's telemetry socket (dpdk-telemetry.py).
 *
 * Design: the telemetry callbacks run on DPDK's own telemetry thread. They never call into .NET:
 * the management side (C#) renders every value into one immutable text document and publishes it
 * with sy_tel_publish (about once a second, and on demand); a callback copies the section it needs
 * under a mutex and turns it into rte_tel_data. So a reply is always one consistent view (all values
 * of one publication), the telemetry thread never waits on the garbage collector or on a runtime
 * that is shutting down, and nothing here touches the packet path.
 *
 * Document format (UTF-8 text, one item per line, '\n' separated):
 *   @d <command> [<param>]    starts a section answered as a dict, e.g. "@d /switchyard/info"
 *                             or "@d /switchyard/vip web" (the reply to "/switchyard/vip,web")
 *   @l <command> [<param>]    starts a section answered as a list of strings
 *   @n <command> [<param>]    starts a section answered as a list of unsigned integers
 *   u <key> <decimal u64>     a dict entry with a number
 *   s <key> <text to EOL>     a dict entry with a string (truncated to 127 bytes)
 *   v <text to EOL>           a list element (a string in @l, a number in @n)
 * Keys are at most 63 bytes of [A-Za-z0-9_.-]; dicts hold at most 256 entries and lists 512
 * (RTE_TEL_MAX_DICT_ENTRIES / RTE_TEL_MAX_ARRAY_ENTRIES): further items are left out.
 */
#ifndef SWITCHYARD_TELEMETRY_H
#define SWITCHYARD_TELEMETRY_H

#include <stdint.h>

#include "switchyard_shim.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Registers the /switchyard/... commands with rte_telemetry_register_cmd. DPDK 22.11 accepts
 * registrations before and after rte_eal_init; a command can be registered only once per process,
 * so a second call returns 0 without registering again. Returns 0 or a negative errno (the
 * first failing rte_telemetry_register_cmd's). */
SY_EXPORT int32_t sy_tel_register(void);

/* Replaces the published document with a copy of doc (len bytes, need not be NUL-terminated).
 * Returns 0, -EINVAL (doc NULL with len > 0, or len > 16 MiB) or -ENOMEM. */
SY_EXPORT int32_t sy_tel_publish(const char *doc, uint32_t len);

#ifdef __cplusplus
}
#endif
#endif /* SWITCHYARD_TELEMETRY_H */
