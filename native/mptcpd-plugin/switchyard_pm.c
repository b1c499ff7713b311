// SPDX-License-Identifier: MIT
// Switchyard load-balancing path manager: an mptcpd plugin for Linux backends behind the Switchyard appliance.
//
// On every new server-side MPTCP connection whose local address:port is a configured VIP:port it
//   - announced-address mode: announces the server's own address (ADD_ADDR; the kernel repeats it until it is
//     echoed) and marks the initial subflow, the one through the balancer, as backup (MP_PRIO B=1), so the data
//     flows on the join to the server's own address and the balancer is off the data path (ICNP 2017 design);
//   - announced-port mode: announces VIP:AnnouncePort (one listener per configured port, opened once).
// The C flag (do not join my initial address) comes from net.mptcp.allow_join_initial_addr_port=0, which the
// start script sets; this plugin warns when it is not 0.
//
// mptcpd 0.12 pitfalls worked around here (measured; docs/path-manager.md lists them):
//   - mptcpd_pm_add_addr() always opens its own listener (a new one per connection, EADDRINUSE on a held port,
//     and then nothing is announced), so ANNOUNCE is sent on this plugin's own generic-netlink socket, and
//     listeners are opened once per announced address:port with mptcpd_lm_listen() only where none exists;
//   - the `backup` argument of subflow callbacks is always true, so it is never trusted (only logged as
//     "reported"); MP_PRIO is sent with mptcpd_pm_set_backup(), which works.
//
// Configuration: JSON (comments allowed), path from $SWITCHYARD_PM_CONFIG, default /etc/switchyard/path-manager.json:
//   { "PathManager": { "Vips": [ { "Name": "web", "Address": "198.18.0.100", "Port": 80,
//        "Mode": "announced-address", "Announce": "198.18.0.21" } ] } }
// An invalid file is refused with its JSON path and the reason, and the plugin does not load.

#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <json.h>
#include <linux/genetlink.h>
#include <linux/netlink.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <mptcpd/listener_manager.h>
#include <mptcpd/path_manager.h>
#include <mptcpd/plugin.h>

#define PLUGIN_NAME "switchyard_pm"
#define DEFAULT_CONFIG "/etc/switchyard/path-manager.json"
#define MAX_VIPS 256

// ---- uapi numbers (include/uapi/linux/mptcp_pm.h; protocols.md section 4), spelled out so an older header builds ----
enum { PM_CMD_ANNOUNCE = 8 };
enum { PM_ATTR_ADDR = 1, PM_ATTR_TOKEN = 4 };
enum { PM_ADDR_ATTR_FAMILY = 1, PM_ADDR_ATTR_ID = 2, PM_ADDR_ATTR_ADDR4 = 3, PM_ADDR_ATTR_ADDR6 = 4,
       PM_ADDR_ATTR_PORT = 5, PM_ADDR_ATTR_FLAGS = 6 };
enum { PM_ADDR_FLAG_SIGNAL = 0x1 };

enum mode { MODE_ADDRESS, MODE_PORT };

struct vip {
        char name[64];
        struct sockaddr_storage vip;      // address and port (network order) of the service
        enum mode mode;
        struct sockaddr_storage announce; // address (and port for MODE_PORT, 0 = none) to announce
        uint8_t announce_id;              // address id in ADD_ADDR (non-zero)
        bool listener_owned;              // this plugin opened the join listener (kept until mptcpd exits)
        bool listener_foreign_logged;     // "someone else listens there" was logged once
};

static struct vip vips[MAX_VIPS];
static size_t vip_count;

// ---- logging: mptcpd logs to stderr/journal; our lines carry the plugin name ----

static void logf_(char const *level, char const *fmt, ...) __attribute__((format(printf, 2, 3)));
static void logf_(char const *level, char const *fmt, ...)
{
        va_list ap;
        va_start(ap, fmt);
        fprintf(stderr, PLUGIN_NAME " %s: ", level);
        vfprintf(stderr, fmt, ap);
        fputc('\n', stderr);
        fflush(stderr);
        va_end(ap);
}
#define log_info(...) logf_("info", __VA_ARGS__)
#define log_warn(...) logf_("warning", __VA_ARGS__)
#define log_err(...) logf_("error", __VA_ARGS__)

static char const *fmt_sa(struct sockaddr const *sa, char *buf, size_t len)
{
        char a[INET6_ADDRSTRLEN] = "?";
        if (sa == NULL) {
                snprintf(buf, len, "(none)");
        } else if (sa->sa_family == AF_INET) {
                struct sockaddr_in const *s = (void const *)sa;
                inet_ntop(AF_INET, &s->sin_addr, a, sizeof a);
                snprintf(buf, len, "%s:%u", a, ntohs(s->sin_port));
        } else if (sa->sa_family == AF_INET6) {
                struct sockaddr_in6 const *s = (void const *)sa;
                inet_ntop(AF_INET6, &s->sin6_addr, a, sizeof a);
                snprintf(buf, len, "[%s]:%u", a, ntohs(s->sin6_port));
        } else {
                snprintf(buf, len, "(family %d)", sa->sa_family);
        }
        return buf;
}

static uint16_t sa_port(struct sockaddr const *sa)
{
        return sa->sa_family == AF_INET ? ntohs(((struct sockaddr_in const *)(void const *)sa)->sin_port)
                                        : ntohs(((struct sockaddr_in6 const *)(void const *)sa)->sin6_port);
}

static bool sa_same_addr(struct sockaddr const *a, struct sockaddr const *b)
{
        if (a == NULL || b == NULL || a->sa_family != b->sa_family)
                return false;
        if (a->sa_family == AF_INET)
                return ((struct sockaddr_in const *)(void const *)a)->sin_addr.s_addr ==
                       ((struct sockaddr_in const *)(void const *)b)->sin_addr.s_addr;
        if (a->sa_family == AF_INET6)
                return memcmp(&((struct sockaddr_in6 const *)(void const *)a)->sin6_addr,
                              &((struct sockaddr_in6 const *)(void const *)b)->sin6_addr, 16) == 0;
        return false;
}

static struct vip *find_vip(struct sockaddr const *laddr)
{
        if (laddr == NULL)
                return NULL;
        for (size_t i = 0; i < vip_count; i++)
                if (sa_same_addr(laddr, (struct sockaddr *)&vips[i].vip) &&
                    sa_port(laddr) == sa_port((struct sockaddr *)&vips[i].vip))
                        return &vips[i];
        return NULL;
}

// ---- connections we acted on (token -> vip), for the closed-event log and to act once per connection ----

#define CONN_BUCKETS 4096
struct conn {
        uint32_t token;
        struct vip *vip;
        struct conn *next;
};
static struct conn *conns[CONN_BUCKETS];
static size_t conn_count;

static struct conn **conn_slot(uint32_t token)
{
        struct conn **p = &conns[(token * 2654435761u) >> 20 & (CONN_BUCKETS - 1)];
        while (*p != NULL && (*p)->token != token)
                p = &(*p)->next;
        return p;
}

static bool conn_add(uint32_t token, struct vip *v)
{
        struct conn **p = conn_slot(token);
        if (*p != NULL)
                return false;
        struct conn *c = calloc(1, sizeof *c);
        if (c == NULL)
                return true; // act anyway; only the bookkeeping is lost
        c->token = token;
        c->vip = v;
        *p = c;
        conn_count++;
        return true;
}

static struct vip *conn_remove(uint32_t token)
{
        struct conn **p = conn_slot(token);
        if (*p == NULL)
                return NULL;
        struct conn *c = *p;
        struct vip *v = c->vip;
        *p = c->next;
        free(c);
        conn_count--;
        return v;
}

static void conns_free(void)
{
        for (size_t i = 0; i < CONN_BUCKETS; i++)
                while (conns[i] != NULL) {
                        struct conn *c = conns[i];
                        conns[i] = c->next;
                        free(c);
                }
        conn_count = 0;
}

// ---- generic netlink: our own socket for ANNOUNCE (mptcpd_pm_add_addr would open a listener per call) ----

static int nl_fd = -1;
static uint16_t pm_family;
static uint32_t nl_seq;

struct msg {
        char buf[512];
        size_t len;
};

static struct nlattr *put_attr(struct msg *m, uint16_t type, void const *data, size_t len)
{
        struct nlattr *a = (struct nlattr *)(m->buf + m->len);
        a->nla_type = type;
        a->nla_len = (uint16_t)(NLA_HDRLEN + len);
        if (len)
                memcpy((char *)a + NLA_HDRLEN, data, len);
        m->len += NLA_ALIGN(a->nla_len);
        return a;
}

static void msg_init(struct msg *m, uint16_t family, uint8_t cmd)
{
        memset(m, 0, sizeof *m);
        struct nlmsghdr *h = (struct nlmsghdr *)m->buf;
        h->nlmsg_type = family;
        h->nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK;
        h->nlmsg_seq = ++nl_seq;
        struct genlmsghdr *g = (struct genlmsghdr *)(m->buf + NLMSG_HDRLEN);
        g->cmd = cmd;
        g->version = 1;
        m->len = NLMSG_HDRLEN + GENL_HDRLEN;
}

// Sends m and waits for the kernel's answer. Returns 0, or -errno (the kernel's error). With reply != NULL the
// first non-error message is copied there (for CTRL_CMD_GETFAMILY).
static int nl_transact(struct msg *m, char *reply, size_t reply_len, char *ext_err, size_t ext_len)
{
        struct nlmsghdr *h = (struct nlmsghdr *)m->buf;
        h->nlmsg_len = (uint32_t)m->len;
        struct sockaddr_nl kernel = { .nl_family = AF_NETLINK };
        if (sendto(nl_fd, m->buf, m->len, 0, (struct sockaddr *)&kernel, sizeof kernel) < 0)
                return -errno;
        if (ext_err)
                ext_err[0] = 0;
        char buf[8192];
        for (;;) {
                ssize_t n = recv(nl_fd, buf, sizeof buf, 0);
                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        return -errno;
                }
                for (struct nlmsghdr *r = (struct nlmsghdr *)buf; NLMSG_OK(r, (size_t)n); r = NLMSG_NEXT(r, n)) {
                        if (r->nlmsg_seq != h->nlmsg_seq)
                                continue;
                        if (r->nlmsg_type == NLMSG_ERROR) {
                                struct nlmsgerr *e = NLMSG_DATA(r);
                                // Extended ack (NETLINK_EXT_ACK): the kernel's reason text, after the echoed header.
                                if (ext_err && (r->nlmsg_flags & NLM_F_ACK_TLVS) && e->error) {
                                        size_t off = NLMSG_HDRLEN + sizeof *e;
                                        if (!(r->nlmsg_flags & NLM_F_CAPPED))
                                                off += NLMSG_ALIGN(e->msg.nlmsg_len) - NLMSG_HDRLEN;
                                        while (off + NLA_HDRLEN <= r->nlmsg_len) {
                                                struct nlattr *a = (struct nlattr *)((char *)r + off);
                                                if (a->nla_len < NLA_HDRLEN)
                                                        break;
                                                if (a->nla_type == NLMSGERR_ATTR_MSG)
                                                        snprintf(ext_err, ext_len, "%.*s", (int)(a->nla_len - NLA_HDRLEN),
                                                                 (char *)a + NLA_HDRLEN);
                                                off += NLA_ALIGN(a->nla_len);
                                        }
                                }
                                return e->error;
                        }
                        if (reply && r->nlmsg_len <= reply_len) {
                                memcpy(reply, r, r->nlmsg_len);
                                reply = NULL; // keep reading until the ACK
                        }
                }
        }
}

static int nl_open(void)
{
        nl_fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_GENERIC);
        if (nl_fd < 0)
                return -errno;
        int one = 1;
        setsockopt(nl_fd, SOL_NETLINK, NETLINK_EXT_ACK, &one, sizeof one);
        struct timeval tv = { .tv_sec = 2 };
        setsockopt(nl_fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
        struct sockaddr_nl local = { .nl_family = AF_NETLINK };
        if (bind(nl_fd, (struct sockaddr *)&local, sizeof local) < 0)
                return -errno;

        struct msg m;
        msg_init(&m, GENL_ID_CTRL, CTRL_CMD_GETFAMILY);
        put_attr(&m, CTRL_ATTR_FAMILY_NAME, "mptcp_pm", sizeof "mptcp_pm");
        char reply[4096];
        memset(reply, 0, sizeof reply);
        int rc = nl_transact(&m, reply, sizeof reply, NULL, 0);
        if (rc < 0)
                return rc;
        struct nlmsghdr *r = (struct nlmsghdr *)reply;
        size_t off = NLMSG_HDRLEN + GENL_HDRLEN;
        while (off + NLA_HDRLEN <= r->nlmsg_len) {
                struct nlattr *a = (struct nlattr *)(reply + off);
                if (a->nla_len < NLA_HDRLEN)
                        break;
                if ((a->nla_type & NLA_TYPE_MASK) == CTRL_ATTR_FAMILY_ID) {
                        memcpy(&pm_family, (char *)a + NLA_HDRLEN, sizeof pm_family);
                        return 0;
                }
                off += NLA_ALIGN(a->nla_len);
        }
        return -ENOENT;
}

// MPTCP_PM_CMD_ANNOUNCE: TOKEN + ADDR{FAMILY, ID, ADDR4|ADDR6, [PORT host order], FLAGS=SIGNAL}.
static int pm_announce(uint32_t token, struct sockaddr const *sa, uint8_t id, char *ext, size_t ext_len)
{
        struct msg m;
        msg_init(&m, pm_family, PM_CMD_ANNOUNCE);
        put_attr(&m, PM_ATTR_TOKEN, &token, sizeof token);
        struct nlattr *nest = put_attr(&m, PM_ATTR_ADDR | NLA_F_NESTED, NULL, 0);
        size_t start = m.len - NLA_HDRLEN;
        uint16_t family = sa->sa_family;
        put_attr(&m, PM_ADDR_ATTR_FAMILY, &family, sizeof family);
        put_attr(&m, PM_ADDR_ATTR_ID, &id, sizeof id);
        if (family == AF_INET)
                put_attr(&m, PM_ADDR_ATTR_ADDR4, &((struct sockaddr_in const *)(void const *)sa)->sin_addr, 4);
        else
                put_attr(&m, PM_ADDR_ATTR_ADDR6, &((struct sockaddr_in6 const *)(void const *)sa)->sin6_addr, 16);
        uint16_t port = sa_port(sa);
        if (port)
                put_attr(&m, PM_ADDR_ATTR_PORT, &port, sizeof port);
        uint32_t flags = PM_ADDR_FLAG_SIGNAL;
        put_attr(&m, PM_ADDR_ATTR_FLAGS, &flags, sizeof flags);
        nest->nla_len = (uint16_t)(m.len - start);
        return nl_transact(&m, NULL, 0, ext, ext_len);
}

// ---- configuration (json-c) ----

static bool parse_addr(char const *s, uint16_t port, struct sockaddr_storage *out)
{
        memset(out, 0, sizeof *out);
        struct sockaddr_in *v4 = (struct sockaddr_in *)out;
        struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)out;
        if (inet_pton(AF_INET, s, &v4->sin_addr) == 1) {
                v4->sin_family = AF_INET;
                v4->sin_port = htons(port);
                return true;
        }
        memset(out, 0, sizeof *out);
        if (inet_pton(AF_INET6, s, &v6->sin6_addr) == 1) {
                v6->sin6_family = AF_INET6;
                v6->sin6_port = htons(port);
                return true;
        }
        return false;
}

static int config_error(char const *path, char const *fmt, ...) __attribute__((format(printf, 2, 3)));
static int config_error(char const *path, char const *fmt, ...)
{
        char reason[256];
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(reason, sizeof reason, fmt, ap);
        va_end(ap);
        log_err("configuration refused: %s: %s", path, reason);
        return -1;
}

static int get_port(json_object *o, char const *key, char const *path, bool required, uint16_t *out)
{
        json_object *v;
        *out = 0;
        if (!json_object_object_get_ex(o, key, &v))
                return required ? config_error(path, "missing (1-65535)") : 0;
        if (!json_object_is_type(v, json_type_int))
                return config_error(path, "must be an integer 1-65535");
        int64_t p = json_object_get_int64(v);
        if (p < 1 || p > 65535)
                return config_error(path, "%lld is out of range 1-65535", (long long)p);
        *out = (uint16_t)p;
        return 0;
}

static int load_config(char const *file)
{
        json_object *root = json_object_from_file(file);
        if (root == NULL)
                return config_error(file, "cannot read or parse: %s", json_util_get_last_err());
        int rc = -1;
        json_object *pmsec, *arr;
        if (!json_object_is_type(root, json_type_object) || !json_object_object_get_ex(root, "PathManager", &pmsec) ||
            !json_object_is_type(pmsec, json_type_object)) {
                config_error("PathManager", "missing object");
                goto out;
        }
        if (!json_object_object_get_ex(pmsec, "Vips", &arr) || !json_object_is_type(arr, json_type_array)) {
                config_error("PathManager.Vips", "missing array");
                goto out;
        }
        size_t n = json_object_array_length(arr);
        if (n > MAX_VIPS) {
                config_error("PathManager.Vips", "%zu entries, at most %d", n, MAX_VIPS);
                goto out;
        }
        for (size_t i = 0; i < n; i++) {
                char path[96];
                struct vip *v = &vips[i];
                memset(v, 0, sizeof *v);
                json_object *e = json_object_array_get_idx(arr, i), *x;
#define P(field) (snprintf(path, sizeof path, "PathManager.Vips[%zu]" field, i), path)
                if (!json_object_is_type(e, json_type_object)) {
                        config_error(P(""), "must be an object");
                        goto out;
                }
                snprintf(v->name, sizeof v->name, "vip%zu", i);
                if (json_object_object_get_ex(e, "Name", &x))
                        snprintf(v->name, sizeof v->name, "%s", json_object_get_string(x));
                uint16_t port, aport;
                if (get_port(e, "Port", P(".Port"), true, &port) < 0)
                        goto out;
                if (!json_object_object_get_ex(e, "Address", &x) || !json_object_is_type(x, json_type_string) ||
                    !parse_addr(json_object_get_string(x), port, &v->vip)) {
                        config_error(P(".Address"), "must be an IPv4 or IPv6 address");
                        goto out;
                }
                char const *mode = json_object_object_get_ex(e, "Mode", &x) ? json_object_get_string(x) : NULL;
                if (mode && strcmp(mode, "announced-address") == 0) {
                        v->mode = MODE_ADDRESS;
                } else if (mode && strcmp(mode, "announced-port") == 0) {
                        v->mode = MODE_PORT;
                } else {
                        config_error(P(".Mode"), "'%s': must be \"announced-address\" or \"announced-port\"", mode ? mode : "(missing)");
                        goto out;
                }
                if (get_port(e, "AnnouncePort", P(".AnnouncePort"), v->mode == MODE_PORT, &aport) < 0)
                        goto out;
                if (v->mode == MODE_PORT && aport == port) {
                        config_error(P(".AnnouncePort"), "must differ from Port (joins to the VIP's own port are refused with the C flag)");
                        goto out;
                }
                char const *ann = json_object_object_get_ex(e, "Announce", &x) ? json_object_get_string(x) : NULL;
                if (v->mode == MODE_ADDRESS && ann == NULL) {
                        config_error(P(".Announce"), "missing: the server's own address to announce");
                        goto out;
                }
                if (ann == NULL) { // port mode: the VIP itself
                        v->announce = v->vip;
                        ((struct sockaddr_in *)&v->announce)->sin_port = htons(aport); // same offset in sockaddr_in6
                } else if (!parse_addr(ann, aport, &v->announce)) {
                        config_error(P(".Announce"), "'%s' is not an IPv4 or IPv6 address", ann);
                        goto out;
                }
                if (v->announce.ss_family != v->vip.ss_family) {
                        config_error(P(".Announce"), "must be of the same family as Address");
                        goto out;
                }
                if (v->mode == MODE_ADDRESS && sa_same_addr((struct sockaddr *)&v->announce, (struct sockaddr *)&v->vip)) {
                        config_error(P(".Announce"), "must be the server's own address, not the VIP");
                        goto out;
                }
                int64_t id = 1;
                if (json_object_object_get_ex(e, "AddressId", &x)) {
                        id = json_object_get_int64(x);
                        if (!json_object_is_type(x, json_type_int) || id < 1 || id > 255) {
                                config_error(P(".AddressId"), "must be an integer 1-255");
                                goto out;
                        }
                }
                v->announce_id = (uint8_t)id;
                for (size_t j = 0; j < i; j++)
                        if (sa_same_addr((struct sockaddr *)&vips[j].vip, (struct sockaddr *)&v->vip) &&
                            sa_port((struct sockaddr *)&vips[j].vip) == port) {
                                config_error(P(""), "same Address and Port as PathManager.Vips[%zu]", j);
                                goto out;
                        }
#undef P
        }
        vip_count = n;
        rc = 0;
out:
        json_object_put(root);
        return rc;
}

// ---- sysctl checks (this namespace) ----

static void check_sysctls(void)
{
        char buf[64] = "";
        FILE *f = fopen("/proc/sys/net/mptcp/allow_join_initial_addr_port", "r");
        if (f == NULL || fgets(buf, sizeof buf, f) == NULL)
                log_warn("cannot read net.mptcp.allow_join_initial_addr_port: the C flag may not be sent");
        else if (atoi(buf) != 0)
                log_warn("net.mptcp.allow_join_initial_addr_port=%d: the C flag is NOT sent, clients may join the VIP "
                         "(set it to 0: sysctl -w net.mptcp.allow_join_initial_addr_port=0)", atoi(buf));
        if (f)
                fclose(f);
        buf[0] = 0;
        f = fopen("/proc/sys/net/mptcp/path_manager", "r");
        if (f != NULL && fgets(buf, sizeof buf, f) != NULL && strncmp(buf, "userspace", 9) != 0)
                log_warn("net.mptcp.path_manager=%.*s: mptcpd needs \"userspace\" to drive connections",
                         (int)strcspn(buf, "\n"), buf);
        if (f)
                fclose(f);
}

// ---- mptcpd callbacks ----

// A join to the announced address:port needs an MPTCP listener there. If the application listens on the wildcard
// address and that port, it is the listener (mptcpd_lm_listen then fails with EADDRINUSE, which is fine, and is
// tried again on the next connection in case the application went away); otherwise one is opened and kept until
// mptcpd exits.
static void ensure_listener(struct vip *v, struct mptcpd_pm *pm)
{
        if (v->listener_owned)
                return;
        struct sockaddr_storage sa = v->announce;
        char b[64];
        if (sa_port((struct sockaddr *)&sa) == 0) // ADD_ADDR without a port: joins go to the VIP's port
                ((struct sockaddr_in *)&sa)->sin_port = ((struct sockaddr_in *)&v->vip)->sin_port;
        errno = 0;
        int rc = mptcpd_lm_listen(mptcpd_pm_get_lm(pm), (struct sockaddr *)&sa);
        if (rc == 0) {
                v->listener_owned = true;
                log_info("vip %s: opened an MPTCP listener on %s for joins", v->name, fmt_sa((struct sockaddr *)&sa, b, sizeof b));
        } else if (rc == EADDRINUSE || errno == EADDRINUSE) {
                if (!v->listener_foreign_logged)
                        log_info("vip %s: %s already has a listener (the application's): joins land there", v->name,
                                 fmt_sa((struct sockaddr *)&sa, b, sizeof b));
                v->listener_foreign_logged = true;
        } else {
                log_err("vip %s: cannot listen on %s (%s): joins to it will be refused", v->name,
                        fmt_sa((struct sockaddr *)&sa, b, sizeof b), strerror(rc > 0 ? rc : errno));
        }
}

static void act(mptcpd_token_t token, struct sockaddr const *laddr, struct sockaddr const *raddr, bool server_side,
                struct mptcpd_pm *pm, char const *event)
{
        char lb[64], rb[64], ab[64], ext[256];
        struct vip *v = find_vip(laddr);
        if (v == NULL) {
                log_info("%s token %08x %s <- %s: not a configured VIP, ignored", event, token,
                         fmt_sa(laddr, lb, sizeof lb), fmt_sa(raddr, rb, sizeof rb));
                return;
        }
        if (!conn_add(token, v))
                return; // already handled (a repeated ESTABLISHED)
        (void)server_side; // not relied on (attribute vs flag bit across kernels); a local VIP:port makes us the server
        ensure_listener(v, pm);
        int rc = pm_announce(token, (struct sockaddr *)&v->announce, v->announce_id, ext, sizeof ext);
        if (rc < 0) {
                // No second path: the initial subflow stays a regular one (a connection closed at once lands here too).
                log_err("vip %s token %08x: ANNOUNCE %s id %u failed: %s%s%s; initial subflow left as is", v->name, token,
                        fmt_sa((struct sockaddr *)&v->announce, ab, sizeof ab), v->announce_id, strerror(-rc),
                        ext[0] ? ": " : "", ext);
                return;
        }
        log_info("vip %s token %08x client %s: announced %s id %u (%s)", v->name, token,
                 fmt_sa(raddr, rb, sizeof rb), fmt_sa((struct sockaddr *)&v->announce, ab, sizeof ab),
                 v->announce_id, v->mode == MODE_ADDRESS ? "announced-address" : "announced-port");
        if (v->mode != MODE_ADDRESS)
                return;
        // MP_PRIO B=1 on the initial subflow (the one through the balancer): the data moves to the direct join.
        rc = mptcpd_pm_set_backup(pm, token, laddr, raddr, true);
        if (rc != 0)
                log_err("vip %s token %08x: set backup on the initial subflow %s <- %s failed: %s", v->name, token,
                        fmt_sa(laddr, lb, sizeof lb), fmt_sa(raddr, rb, sizeof rb), strerror(rc));
        else
                log_info("vip %s token %08x: initial subflow %s <- %s set to backup (MP_PRIO)", v->name, token,
                         fmt_sa(laddr, lb, sizeof lb), fmt_sa(raddr, rb, sizeof rb));
}

static void on_new_connection(mptcpd_token_t token, struct sockaddr const *laddr, struct sockaddr const *raddr,
                              bool server_side, struct mptcpd_pm *pm)
{
        (void)token; (void)laddr; (void)raddr; (void)server_side; (void)pm;
        // Nothing yet: the server side is announced once the connection is established (the kernel accepts
        // ANNOUNCE from then on, and the client has proven it speaks MPTCP).
}

static void on_established(mptcpd_token_t token, struct sockaddr const *laddr, struct sockaddr const *raddr,
                           bool server_side, struct mptcpd_pm *pm)
{
        act(token, laddr, raddr, server_side, pm, "established");
}

static void on_closed(mptcpd_token_t token, struct mptcpd_pm *pm)
{
        (void)pm;
        struct vip *v = conn_remove(token);
        if (v != NULL)
                log_info("vip %s token %08x: closed (%zu connections tracked)", v->name, token, conn_count);
}

static void on_new_subflow(mptcpd_token_t token, struct sockaddr const *laddr, struct sockaddr const *raddr,
                           bool backup, struct mptcpd_pm *pm)
{
        (void)pm; (void)backup; // mptcpd 0.12 always passes true here, so it is not reported
        char lb[64], rb[64];
        if (*conn_slot(token) != NULL)
                log_info("token %08x: subflow established %s <- %s", token, fmt_sa(laddr, lb, sizeof lb), fmt_sa(raddr, rb, sizeof rb));
}

static void on_subflow_closed(mptcpd_token_t token, struct sockaddr const *laddr, struct sockaddr const *raddr,
                              bool backup, struct mptcpd_pm *pm)
{
        (void)pm; (void)backup;
        char lb[64], rb[64];
        if (*conn_slot(token) != NULL)
                log_info("token %08x: subflow closed %s <- %s", token, fmt_sa(laddr, lb, sizeof lb), fmt_sa(raddr, rb, sizeof rb));
}

static void on_subflow_priority(mptcpd_token_t token, struct sockaddr const *laddr, struct sockaddr const *raddr,
                                bool backup, struct mptcpd_pm *pm)
{
        (void)pm; (void)backup;
        char lb[64], rb[64];
        if (*conn_slot(token) != NULL)
                log_info("token %08x: subflow priority changed %s <- %s", token, fmt_sa(laddr, lb, sizeof lb), fmt_sa(raddr, rb, sizeof rb));
}

static struct mptcpd_plugin_ops const ops = {
        .new_connection = on_new_connection,
        .connection_established = on_established,
        .connection_closed = on_closed,
        .new_subflow = on_new_subflow,
        .subflow_closed = on_subflow_closed,
        .subflow_priority = on_subflow_priority,
};

static void on_pm_ready(struct mptcpd_pm *pm, void *data)
{
        (void)pm; (void)data;
        log_info("ready: mptcpd listens to the kernel's MPTCP events");
}

static void on_pm_not_ready(struct mptcpd_pm *pm, void *data)
{
        (void)pm; (void)data;
        log_warn("not ready: mptcpd lost the kernel's MPTCP path-manager family; connections are not handled");
}

static struct mptcpd_pm_ops const pm_ops = { .ready = on_pm_ready, .not_ready = on_pm_not_ready };

static int plugin_init(struct mptcpd_pm *pm)
{
        char const *file = getenv("SWITCHYARD_PM_CONFIG");
        if (file == NULL || *file == 0)
                file = DEFAULT_CONFIG;
        if (load_config(file) < 0)
                return -1;
        int rc = nl_open();
        if (rc < 0) {
                log_err("cannot open generic netlink family mptcp_pm: %s", strerror(-rc));
                if (nl_fd >= 0)
                        close(nl_fd);
                nl_fd = -1;
                return -1;
        }
        check_sysctls();
        if (!mptcpd_plugin_register_ops(PLUGIN_NAME, &ops)) {
                log_err("mptcpd refused to register the plugin's operations");
                close(nl_fd);
                nl_fd = -1;
                return -1;
        }
        for (size_t i = 0; i < vip_count; i++) {
                char vb[64], ab[64];
                log_info("vip %s: %s %s announce %s id %u", vips[i].name, fmt_sa((struct sockaddr *)&vips[i].vip, vb, sizeof vb),
                         vips[i].mode == MODE_ADDRESS ? "announced-address" : "announced-port",
                         fmt_sa((struct sockaddr *)&vips[i].announce, ab, sizeof ab), vips[i].announce_id);
        }
        log_info("loaded %zu VIPs from %s", vip_count, file);
        if (mptcpd_pm_ready(pm))
                on_pm_ready(pm, NULL);
        else if (!mptcpd_pm_register_ops(pm, &pm_ops, NULL))
                log_warn("cannot register for mptcpd's ready notification");
        return 0;
}

static void plugin_exit(struct mptcpd_pm *pm)
{
        (void)pm;
        conns_free();
        if (nl_fd >= 0)
                close(nl_fd);
        nl_fd = -1;
        log_info("stopped");
}

MPTCPD_PLUGIN_DEFINE(switchyard_pm, "Switchyard load-balancing path manager", MPTCPD_PLUGIN_PRIORITY_DEFAULT,
                     plugin_init, plugin_exit)
