/* The DPDK surface mediafwd uses: the public headers bindgen reads, and
 * out-of-line entry points for DPDK's `static inline` fast path, which
 * bindgen cannot see. Implemented in mediafwd_dpdk.c. */
#pragma once

#include <rte_config.h>
#include <rte_common.h>
#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_lcore.h>
#include <rte_launch.h>
#include <rte_cycles.h>
#include <rte_prefetch.h>
#include <rte_memory.h>
#include <rte_malloc.h>
#include <rte_mempool.h>
#include <rte_mbuf.h>
#include <rte_ring.h>
#include <rte_ethdev.h>
#include <rte_eth_ring.h>
#include <rte_bus_vdev.h>
#include <rte_thread.h>
#include <rte_version.h>

/* rte_errno is a per-lcore thread-local. */
int mfw_errno(void);
const char *mfw_strerror(int err);

unsigned mfw_lcore_id(void);
uint64_t mfw_rdtsc(void);
void mfw_pause(void);

uint16_t mfw_eth_rx_burst(uint16_t port, uint16_t queue, struct rte_mbuf **pkts, uint16_t n);
uint16_t mfw_eth_tx_burst(uint16_t port, uint16_t queue, struct rte_mbuf **pkts, uint16_t n);

struct rte_mbuf *mfw_pktmbuf_alloc(struct rte_mempool *mp);
int mfw_pktmbuf_alloc_bulk(struct rte_mempool *mp, struct rte_mbuf **mbufs, unsigned n);
void mfw_pktmbuf_free(struct rte_mbuf *m);
/* rte_pktmbuf_mtod(m, void *) */
void *mfw_pktmbuf_mtod(struct rte_mbuf *m);
char *mfw_pktmbuf_append(struct rte_mbuf *m, uint16_t len);
char *mfw_pktmbuf_prepend(struct rte_mbuf *m, uint16_t len);
int mfw_pktmbuf_trim(struct rte_mbuf *m, uint16_t len);
char *mfw_pktmbuf_adj(struct rte_mbuf *m, uint16_t len);
uint16_t mfw_pktmbuf_headroom(const struct rte_mbuf *m);
uint16_t mfw_pktmbuf_tailroom(const struct rte_mbuf *m);

unsigned mfw_ring_enqueue_burst(struct rte_ring *r, void *const *objs, unsigned n);
unsigned mfw_ring_dequeue_burst(struct rte_ring *r, void **objs, unsigned n);
unsigned mfw_ring_count(const struct rte_ring *r);
