/* The exception path (issue 12): lock-free rings between the workers and the management-side thread that
 * moves the appliance's own traffic to and from a kernel tap interface (net_tap). Workers only enqueue and
 * dequeue (no syscall, no lock: rte_ring is a lock-free ring of pointers); the tap I/O happens elsewhere. */
#include <rte_ring.h>
#include <rte_mbuf.h>
#include <rte_ethdev.h>
#include <rte_errno.h>

#include "switchyard_shim.h"

void *sy_ring_create(const char *name, uint32_t count, int32_t single_producer)
{
    unsigned flags = RING_F_SC_DEQ | (single_producer ? RING_F_SP_ENQ : 0);
    return rte_ring_create(name, count, SOCKET_ID_ANY, flags);
}

void sy_ring_free(void *ring) { rte_ring_free((struct rte_ring *)ring); }

uint32_t sy_ring_enqueue(void *ring, void **handles, uint32_t n)
{
    return rte_ring_enqueue_burst((struct rte_ring *)ring, handles, n, NULL);
}

uint32_t sy_ring_dequeue(void *ring, void **handles, uint16_t *len, uint16_t *segs, uint32_t max)
{
    uint32_t n = rte_ring_dequeue_burst((struct rte_ring *)ring, handles, max, NULL);
    for (uint32_t i = 0; i < n; i++) {
        struct rte_mbuf *m = (struct rte_mbuf *)handles[i];
        if (len) len[i] = m->data_len;
        if (segs) segs[i] = m->nb_segs;
    }
    return n;
}

uint32_t sy_ring_count(const void *ring) { return rte_ring_count((const struct rte_ring *)ring); }

uint16_t sy_tx_burst_raw(uint16_t port, uint16_t queue, void **handles, uint16_t n)
{
    struct rte_mbuf **m = (struct rte_mbuf **)handles;
    uint16_t sent = rte_eth_tx_burst(port, queue, m, n);
    if (unlikely(sent < n))
        rte_pktmbuf_free_bulk(&m[sent], n - sent);
    return sent;
}

int32_t sy_port_set_mac(uint16_t port, const uint8_t *mac6)
{
    struct rte_ether_addr a;
    memcpy(a.addr_bytes, mac6, 6);
    return rte_eth_dev_default_mac_addr_set(port, &a);
}

/* ---- Worker idle back-off (issue 12) ---------------------------------------------------------- */
#include <time.h>

void sy_idle_sleep(uint32_t microseconds)
{
    struct timespec ts = { .tv_sec = microseconds / 1000000u, .tv_nsec = (long)(microseconds % 1000000u) * 1000L };
    nanosleep(&ts, NULL);
}
