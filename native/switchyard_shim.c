/*
 * switchyard_shim.c: thin exports over DPDK 22.11 for the C# dataplane. Return codes are
 * documented per export in switchyard_shim.h. Keep this file thin: no policy, no state beyond
 * what DPDK holds; the C# side decides, the shim only translates.
 */
#include "switchyard_shim.h"

#include <assert.h>
#include <errno.h>
#include <stddef.h>
#include <string.h>

#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_ethdev.h>
#include <rte_lcore.h>
#include <rte_mbuf.h>
#include <rte_mempool.h>
#include <rte_pdump.h>

/* Layout shared with C#: any change here must change the managed struct and its test. */
static_assert(sizeof(sy_port_stats_t) == 64, "sy_port_stats_t is 8 x uint64");
static_assert(offsetof(sy_port_stats_t, rx_nombuf) == 56, "sy_port_stats_t field order");
static_assert(sizeof(sy_port_link_t) == 8, "sy_port_link_t is uint32 + 4 x uint8");
static_assert(offsetof(sy_port_link_t, up) == 4, "sy_port_link_t field order");
/* The fast path hands C# pointers as nint and lengths as uint16: check DPDK agrees. */
static_assert(sizeof(void *) == 8, "64-bit only");
static_assert(sizeof(((struct rte_mbuf *)0)->data_len) == sizeof(uint16_t), "data_len is 16-bit");
static_assert(sizeof(((struct rte_mbuf *)0)->data_off) == sizeof(uint16_t), "data_off is 16-bit");

/* ---- EAL ------------------------------------------------------------------------------------ */

int32_t sy_eal_init(int32_t argc, char **argv) { return rte_eal_init(argc, argv); }

int32_t sy_errno(void) { return rte_errno; }

const char *sy_strerror(int32_t err) { return rte_strerror(err < 0 ? -err : err); }

int32_t sy_eal_cleanup(void) { return rte_eal_cleanup(); }

const char *sy_runtime_dir(void) { return rte_eal_get_runtime_dir(); }

int32_t sy_is_primary(void) { return rte_eal_process_type() == RTE_PROC_PRIMARY; }

uint32_t sy_socket_count(void) { return rte_socket_count(); }

int32_t sy_socket_id_by_idx(uint32_t idx) { return rte_socket_id_by_idx(idx); }

uint32_t sy_lcore_id(void) { return rte_lcore_id(); }

uint32_t sy_mbuf_default_headroom(void) { return RTE_PKTMBUF_HEADROOM; }

/* ---- Threads -------------------------------------------------------------------------------- */

/* rte_thread_register also disables DPDK's multi-process channel for good (rte_mp_disable: a
 * secondary could not know the new lcore), so with registration off the workers run without an
 * lcore id and dpdk-dumpcap (a secondary) can still attach. */
static int g_register_threads = 1;

void sy_set_thread_registration(int32_t enabled) { g_register_threads = enabled != 0; }

int32_t sy_thread_register(void) { return g_register_threads ? rte_thread_register() : 0; }

void sy_thread_unregister(void) { if (g_register_threads) rte_thread_unregister(); }

/* ---- Memory --------------------------------------------------------------------------------- */

void *sy_pool_create(const char *name, uint32_t nb_mbufs, uint32_t cache, uint16_t data_room,
                     int32_t socket)
{
    return rte_pktmbuf_pool_create(name, nb_mbufs, cache, 0, data_room,
                                   socket < 0 ? SOCKET_ID_ANY : socket);
}

uint32_t sy_pool_avail(const void *pool)
{
    return rte_mempool_avail_count((const struct rte_mempool *)pool);
}

/* ---- Ports ---------------------------------------------------------------------------------- */

uint16_t sy_port_count(void) { return rte_eth_dev_count_avail(); }

int32_t sy_port_by_name(const char *name, uint16_t *port)
{
    return rte_eth_dev_get_port_by_name(name, port);
}

int32_t sy_port_name(uint16_t port, char *buf, uint32_t len)
{
    char name[RTE_ETH_NAME_MAX_LEN];
    int ret = rte_eth_dev_get_name_by_port(port, name);
    if (ret != 0)
        return ret;
    size_t n = strnlen(name, sizeof(name));
    if (buf == NULL || len <= n)
        return -ERANGE;
    memcpy(buf, name, n);
    buf[n] = '\0';
    return 0;
}

int32_t sy_port_socket(uint16_t port) { return rte_eth_dev_socket_id(port); }

#define SY_FAIL(call, ret)                                                                         \
    do {                                                                                           \
        if (failed_call != NULL)                                                                   \
            *failed_call = (call);                                                                 \
        return (ret);                                                                              \
    } while (0)

int32_t sy_port_setup(uint16_t port, uint16_t nb_rxq, uint16_t nb_txq, uint16_t rx_desc,
                      uint16_t tx_desc, uint16_t mtu, void *pool, int32_t enable_rss,
                      int32_t promiscuous, const char **failed_call)
{
    struct rte_eth_dev_info info;
    struct rte_eth_conf conf;
    int ret;

    if (failed_call != NULL)
        *failed_call = NULL;
    if (pool == NULL || nb_rxq == 0 || nb_txq == 0)
        SY_FAIL("sy_port_setup", -EINVAL);

    ret = rte_eth_dev_info_get(port, &info);
    if (ret != 0)
        SY_FAIL("rte_eth_dev_info_get", ret);

    memset(&conf, 0, sizeof(conf));
    /* RSS only with several queues: a single-queue port gains nothing and some PMDs (net_pcap,
     * net_null) reject an RSS request they cannot honour. Ask only for hash types the device
     * supports, otherwise rte_eth_dev_configure fails with EINVAL. */
    if (nb_rxq > 1 && enable_rss) {
        uint64_t want = RTE_ETH_RSS_IP | RTE_ETH_RSS_TCP | RTE_ETH_RSS_UDP;
        conf.rxmode.mq_mode = RTE_ETH_MQ_RX_RSS;
        conf.rx_adv_conf.rss_conf.rss_key = NULL; /* the driver's default key */
        conf.rx_adv_conf.rss_conf.rss_hf = want & info.flow_type_rss_offloads;
        if (conf.rx_adv_conf.rss_conf.rss_hf == 0)
            conf.rxmode.mq_mode = RTE_ETH_MQ_RX_NONE;
    }

    ret = rte_eth_dev_configure(port, nb_rxq, nb_txq, &conf);
    if (ret != 0)
        SY_FAIL("rte_eth_dev_configure", ret);

    /* Clamp the requested ring sizes to the device's limits and alignment. */
    ret = rte_eth_dev_adjust_nb_rx_tx_desc(port, &rx_desc, &tx_desc);
    if (ret != 0)
        SY_FAIL("rte_eth_dev_adjust_nb_rx_tx_desc", ret);

    int socket = rte_eth_dev_socket_id(port);
    unsigned int sock = socket < 0 ? (unsigned int)SOCKET_ID_ANY : (unsigned int)socket;

    for (uint16_t q = 0; q < nb_rxq; q++) {
        ret = rte_eth_rx_queue_setup(port, q, rx_desc, sock, NULL, (struct rte_mempool *)pool);
        if (ret != 0)
            SY_FAIL("rte_eth_rx_queue_setup", ret);
    }
    for (uint16_t q = 0; q < nb_txq; q++) {
        ret = rte_eth_tx_queue_setup(port, q, tx_desc, sock, NULL);
        if (ret != 0)
            SY_FAIL("rte_eth_tx_queue_setup", ret);
    }

    if (mtu != 0) {
        ret = rte_eth_dev_set_mtu(port, mtu);
        /* Virtual devices (net_pcap, net_null) have no MTU to set: not an error. */
        if (ret != 0 && ret != -ENOTSUP)
            SY_FAIL("rte_eth_dev_set_mtu", ret);
    }

    if (promiscuous) {
        ret = rte_eth_promiscuous_enable(port);
        if (ret != 0 && ret != -ENOTSUP)
            SY_FAIL("rte_eth_promiscuous_enable", ret);
    }
    return 0;
}

int32_t sy_port_start(uint16_t port) { return rte_eth_dev_start(port); }

int32_t sy_port_stop(uint16_t port) { return rte_eth_dev_stop(port); }

int32_t sy_port_close(uint16_t port) { return rte_eth_dev_close(port); }

int32_t sy_port_mac(uint16_t port, uint8_t *out)
{
    struct rte_ether_addr mac;
    if (out == NULL)
        return -EINVAL;
    int ret = rte_eth_macaddr_get(port, &mac);
    if (ret != 0)
        return ret;
    memcpy(out, mac.addr_bytes, RTE_ETHER_ADDR_LEN);
    return 0;
}

int32_t sy_port_link(uint16_t port, sy_port_link_t *out)
{
    struct rte_eth_link link;
    if (out == NULL)
        return -EINVAL;
    memset(&link, 0, sizeof(link));
    int ret = rte_eth_link_get_nowait(port, &link);
    if (ret != 0)
        return ret;
    out->speed_mbps = link.link_speed == RTE_ETH_SPEED_NUM_UNKNOWN ? 0 : link.link_speed;
    out->up = link.link_status ? 1 : 0;
    out->full_duplex = link.link_duplex ? 1 : 0;
    out->autoneg = link.link_autoneg ? 1 : 0;
    out->reserved = 0;
    return 0;
}

int32_t sy_port_stats(uint16_t port, sy_port_stats_t *out)
{
    struct rte_eth_stats s;
    if (out == NULL)
        return -EINVAL;
    int ret = rte_eth_stats_get(port, &s);
    if (ret != 0)
        return ret;
    out->ipackets = s.ipackets;
    out->opackets = s.opackets;
    out->ibytes = s.ibytes;
    out->obytes = s.obytes;
    out->imissed = s.imissed;
    out->ierrors = s.ierrors;
    out->oerrors = s.oerrors;
    out->rx_nombuf = s.rx_nombuf;
    return 0;
}

/* ---- Fast path ------------------------------------------------------------------------------ */

uint16_t sy_rx_burst(uint16_t port, uint16_t queue, void **handles, uint8_t **data, uint16_t *len,
                     uint16_t *headroom, uint16_t *segs, uint16_t max)
{
    struct rte_mbuf **m = (struct rte_mbuf **)handles;
    uint16_t n = rte_eth_rx_burst(port, queue, m, max);
    for (uint16_t i = 0; i < n; i++) {
        struct rte_mbuf *b = m[i];
        uint8_t *d = rte_pktmbuf_mtod(b, uint8_t *);
        /* The C# parser reads the headers next: start pulling them in now. */
        rte_prefetch0(d);
        data[i] = d;
        len[i] = b->data_len;
        headroom[i] = rte_pktmbuf_headroom(b);
        segs[i] = b->nb_segs;
    }
    return n;
}

uint16_t sy_tx_burst(uint16_t port, uint16_t queue, void **handles, const int16_t *delta,
                     const uint16_t *len, uint16_t n)
{
    struct rte_mbuf **m = (struct rte_mbuf **)handles;
    for (uint16_t i = 0; i < n; i++) {
        struct rte_mbuf *b = m[i];
        /* Unsigned wrap-around is intended: data_off + (-k) == data_off - k. */
        b->data_off = (uint16_t)(b->data_off + delta[i]);
        b->data_len = len[i];
        b->pkt_len = len[i];
    }
    uint16_t sent = rte_eth_tx_burst(port, queue, m, n);
    if (unlikely(sent < n))
        rte_pktmbuf_free_bulk(&m[sent], n - sent);
    return sent;
}

void sy_free_bulk(void **handles, uint16_t n)
{
    rte_pktmbuf_free_bulk((struct rte_mbuf **)handles, n);
}

/* ---- Tooling -------------------------------------------------------------------------------- */

int32_t sy_pdump_init(void) { return rte_pdump_init(); }

int32_t sy_pdump_uninit(void) { return rte_pdump_uninit(); }

/* ---- ABI checks ----------------------------------------------------------------------------- */

uint32_t sy_sizeof_port_stats(void) { return (uint32_t)sizeof(sy_port_stats_t); }

uint32_t sy_sizeof_port_link(void) { return (uint32_t)sizeof(sy_port_link_t); }
