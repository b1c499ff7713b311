/*
 * switchyard_shim.h: the only ABI between the C# dataplane and DPDK.
 *
 * Rules (dotnet/runtime System.*.Native style):
 *  - every export is prefixed sy_ and uses fixed-width types only;
 *  - rte_mbuf and every other DPDK struct stay opaque to C#: mbufs cross as void* handles,
 *    DPDK version differences stay in switchyard_shim.c;
 *  - a struct shared with C# has a static_assert on its size here and an xUnit test on the
 *    managed side (tests/Switchyard.Tests/Native/StructLayoutTests.cs), with sy_sizeof_* exports
 *    so the test compares against the library actually loaded;
 *  - control-plane calls return 0 / a count on success and a negative errno on failure unless
 *    said otherwise; sy_strerror() turns either sign into DPDK's text.
 *  - fast-path calls (sy_rx_burst, sy_tx_burst, sy_free_bulk) never block, never log and never
 *    make a syscall; C# calls them with [SuppressGCTransition].
 */
#ifndef SWITCHYARD_SHIM_H
#define SWITCHYARD_SHIM_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define SY_EXPORT __attribute__((visibility("default")))

/* Port counters, as read by sy_port_stats. Mirrored by Switchyard.Dataplane.Native.PortStats. */
typedef struct sy_port_stats {
    uint64_t ipackets;   /* frames received */
    uint64_t opackets;   /* frames transmitted */
    uint64_t ibytes;
    uint64_t obytes;
    uint64_t imissed;    /* dropped by the NIC: rx ring full (the workers are too slow) */
    uint64_t ierrors;    /* erroneous received frames */
    uint64_t oerrors;    /* failed transmits */
    uint64_t rx_nombuf;  /* rx mbuf allocation failures (pool too small) */
} sy_port_stats_t;

/* Link state, as read by sy_port_link. Mirrored by Switchyard.Dataplane.Native.PortLink. */
typedef struct sy_port_link {
    uint32_t speed_mbps; /* 0 when unknown */
    uint8_t  up;         /* 1 = link up */
    uint8_t  full_duplex;
    uint8_t  autoneg;
    uint8_t  reserved;
} sy_port_link_t;

/* ---- EAL ---------------------------------------------------------------------------------- */

/* rte_eal_init. Returns the number of arguments parsed (>= 0), or -1 with sy_errno() set.
 * May run only once per process (DPDK refuses a second time, even after sy_eal_cleanup). */
SY_EXPORT int32_t sy_eal_init(int32_t argc, char **argv);
/* rte_errno of the calling thread (a positive errno or an RTE_* value above __ELASTERROR). */
SY_EXPORT int32_t sy_errno(void);
/* rte_strerror(|err|): DPDK's text for an errno; accepts negative values as returned by the
 * sy_port_* calls. Never NULL; the text lives in static/thread-local storage owned by DPDK:
 * copy it before the next call on the same thread. */
SY_EXPORT const char *sy_strerror(int32_t err);
/* rte_eal_cleanup. Returns 0, or a negative errno. */
SY_EXPORT int32_t sy_eal_cleanup(void);
/* rte_eal_get_runtime_dir: this process's runtime directory (/var/run/dpdk/<file-prefix> for root). */
SY_EXPORT const char *sy_runtime_dir(void);
/* 1 when this process is the primary DPDK process (rte_eal_process_type() == RTE_PROC_PRIMARY). */
SY_EXPORT int32_t sy_is_primary(void);
/* rte_socket_count: number of NUMA sockets DPDK detected (>= 1). */
SY_EXPORT uint32_t sy_socket_count(void);
/* rte_socket_id_by_idx: the socket id of the idx-th detected socket, or -1 (sy_errno() = EINVAL). */
SY_EXPORT int32_t sy_socket_id_by_idx(uint32_t idx);
/* rte_lcore_id of the calling thread; UINT32_MAX (LCORE_ID_ANY) for an unregistered thread. */
SY_EXPORT uint32_t sy_lcore_id(void);
/* RTE_PKTMBUF_HEADROOM this DPDK was built with (bytes free in front of a received frame). */
SY_EXPORT uint32_t sy_mbuf_default_headroom(void);

/* ---- Threads ------------------------------------------------------------------------------ */

/* rte_thread_register: gives a non-EAL thread (a .NET worker thread) an lcore id, hence its own
 * mempool cache. Returns 0, or -1 with sy_errno() set (ENOMEM when no lcore id is free). */
SY_EXPORT int32_t sy_thread_register(void);
/* rte_thread_unregister: releases the lcore id. No return value (DPDK has none). */
SY_EXPORT void sy_thread_unregister(void);
/* enabled = 0: sy_thread_register/unregister do nothing from now on (workers get no lcore id and
 * no mempool cache), because rte_thread_register closes DPDK's multi-process channel and
 * dpdk-dumpcap could no longer attach. Call before any worker starts. Default: enabled. */
SY_EXPORT void sy_set_thread_registration(int32_t enabled);

/* ---- Memory ------------------------------------------------------------------------------- */

/* rte_pktmbuf_pool_create(name, nb_mbufs, cache, 0, data_room, socket). data_room includes the
 * RTE_PKTMBUF_HEADROOM. socket -1 = any. Returns the pool, or NULL with sy_errno() set
 * (E_RTE_NO_CONFIG, E_RTE_SECONDARY, EINVAL, ENOSPC, EEXIST, ENOMEM). */
SY_EXPORT void *sy_pool_create(const char *name, uint32_t nb_mbufs, uint32_t cache,
                               uint16_t data_room, int32_t socket);
/* rte_mempool_avail_count: mbufs currently free in the pool (including per-lcore caches). */
SY_EXPORT uint32_t sy_pool_avail(const void *pool);

/* ---- Ports (control plane) ---------------------------------------------------------------- */

/* rte_eth_dev_count_avail: number of usable ports. */
SY_EXPORT uint16_t sy_port_count(void);
/* rte_eth_dev_get_port_by_name. Returns 0 and *port, or a negative errno (-ENODEV: no such device,
 * -EINVAL: bad argument). */
SY_EXPORT int32_t sy_port_by_name(const char *name, uint16_t *port);
/* rte_eth_dev_get_name_by_port into buf (NUL-terminated, truncated to len). Returns 0 or a
 * negative errno (-ENODEV, -EINVAL, -ERANGE when len is too small). */
SY_EXPORT int32_t sy_port_name(uint16_t port, char *buf, uint32_t len);
/* rte_eth_dev_socket_id: NUMA socket of the port, -1 when unknown or for an invalid port. */
SY_EXPORT int32_t sy_port_socket(uint16_t port);
/* Configures a stopped port: dev_info, dev_configure (RSS over IP/TCP/UDP when nb_rxq > 1 and
 * enable_rss, masked with what the device supports), descriptor counts adjusted to the device's
 * limits, rx queues fed from pool, tx queues, MTU (mtu 0 = keep; -ENOTSUP ignored), promiscuous
 * mode when promiscuous != 0 (-ENOTSUP ignored).
 * Returns 0, or a negative errno; *failed_call (if not NULL) then names the DPDK call that failed
 * (a static string, never freed). */
SY_EXPORT int32_t sy_port_setup(uint16_t port, uint16_t nb_rxq, uint16_t nb_txq,
                                uint16_t rx_desc, uint16_t tx_desc, uint16_t mtu, void *pool,
                                int32_t enable_rss, int32_t promiscuous,
                                const char **failed_call);
/* rte_eth_dev_start. Returns 0 or a negative errno. */
SY_EXPORT int32_t sy_port_start(uint16_t port);
/* rte_eth_dev_stop. Returns 0 or a negative errno. */
SY_EXPORT int32_t sy_port_stop(uint16_t port);
/* rte_eth_dev_close (the port must be stopped). Returns 0 or a negative errno. net_pcap flushes and
 * closes its tx_pcap file here. */
SY_EXPORT int32_t sy_port_close(uint16_t port);
/* rte_eth_macaddr_get into out[6]. Returns 0 or a negative errno (-ENODEV, -EINVAL). */
SY_EXPORT int32_t sy_port_mac(uint16_t port, uint8_t *out);
/* rte_eth_link_get_nowait. Returns 0 or a negative errno (-ENODEV, -ENOTSUP, -EINVAL). */
SY_EXPORT int32_t sy_port_link(uint16_t port, sy_port_link_t *out);
/* rte_eth_stats_get. Returns 0 or a negative errno (-ENODEV, -EINVAL). */
SY_EXPORT int32_t sy_port_stats(uint16_t port, sy_port_stats_t *out);

/* ---- Fast path ------------------------------------------------------------------------------ */

/* One rte_eth_rx_burst of up to max frames, spread into parallel arrays:
 * handles[i] = the mbuf, data[i] = rte_pktmbuf_mtod, len[i] = data_len of the first segment,
 * headroom[i] = rte_pktmbuf_headroom, segs[i] = nb_segs. Returns the count received (0..max).
 * No checks: port/queue must be valid and the calling thread the queue's only reader. */
SY_EXPORT uint16_t sy_rx_burst(uint16_t port, uint16_t queue, void **handles, uint8_t **data,
                               uint16_t *len, uint16_t *headroom, uint16_t *segs, uint16_t max);
/* For each of the n mbufs: data_off += delta[i] (negative = headers prepended; the caller has
 * checked the headroom and the tailroom), data_len = pkt_len = len[i] (single-segment frames
 * only). Then one rte_eth_tx_burst; the mbufs the device did not take are freed here.
 * Returns the count sent (0..n): handles[0..sent) went to the device, the rest were freed. */
SY_EXPORT uint16_t sy_tx_burst(uint16_t port, uint16_t queue, void **handles,
                               const int16_t *delta, const uint16_t *len, uint16_t n);
/* rte_pktmbuf_free_bulk of n handles. No return value. */
SY_EXPORT void sy_free_bulk(void **handles, uint16_t n);

/* ---- Tooling ------------------------------------------------------------------------------- */

/* rte_pdump_init: lets dpdk-dumpcap (a secondary process) attach to this primary's ports later.
 * Needs hugepages to be useful (secondaries cannot attach under --no-huge). Returns 0 or -1 with
 * sy_errno() set. */
SY_EXPORT int32_t sy_pdump_init(void);
/* rte_pdump_uninit. Returns 0 or -1. */
SY_EXPORT int32_t sy_pdump_uninit(void);

/* ---- ABI checks ---------------------------------------------------------------------------- */

/* sizeof(sy_port_stats_t) / sizeof(sy_port_link_t), for the managed layout tests. */
SY_EXPORT uint32_t sy_sizeof_port_stats(void);
SY_EXPORT uint32_t sy_sizeof_port_link(void);

/* ---- Exception path (issue 12; native/switchyard_exception.c) -------------------------------- */

/* rte_ring_create(name, count, any socket, single-consumer dequeue; single-producer enqueue when
 * single_producer != 0). count must be a power of two. Returns the ring, or NULL with sy_errno() set. */
SY_EXPORT void *sy_ring_create(const char *name, uint32_t count, int32_t single_producer);
/* rte_ring_free. */
SY_EXPORT void sy_ring_free(void *ring);
/* rte_ring_enqueue_burst of up to n mbuf handles; returns how many were enqueued (the caller still owns
 * handles[sent..n)). Lock-free, no syscall: callable from workers. */
SY_EXPORT uint32_t sy_ring_enqueue(void *ring, void **handles, uint32_t n);
/* rte_ring_dequeue_burst of up to max handles; len[i] = data_len and segs[i] = nb_segs when not NULL. */
SY_EXPORT uint32_t sy_ring_dequeue(void *ring, void **handles, uint16_t *len, uint16_t *segs, uint32_t max);
/* rte_ring_count. */
SY_EXPORT uint32_t sy_ring_count(const void *ring);
/* rte_eth_tx_burst of frames as they are (no length changes); frees what the device did not take. */
SY_EXPORT uint16_t sy_tx_burst_raw(uint16_t port, uint16_t queue, void **handles, uint16_t n);
/* rte_eth_dev_default_mac_addr_set. Returns 0 or a negative errno. */
SY_EXPORT int32_t sy_port_set_mac(uint16_t port, const uint8_t *mac6);
/* nanosleep(microseconds): the idle back-off of a worker that found nothing to do (Dataplane.IdleBackoffMicroseconds). */
SY_EXPORT void sy_idle_sleep(uint32_t microseconds);

#ifdef __cplusplus
}
#endif
#endif /* SWITCHYARD_SHIM_H */
