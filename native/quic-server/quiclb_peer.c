/* quiclb-peer: a small QUIC server and a migrating QUIC client on Debian's libngtcp2 0.12 (GnuTLS
 * crypto backend), for testing QUIC-LB routing through Switchyard.
 *
 *   quiclb-peer server ADDR PORT CERT KEY NAME CONFIG_ID SERVER_ID_HEX NONCE_LEN KEY_HEX|- [-v]
 *       Serves "GET <n>\n" on any bidirectional stream with NAME "\n" followed by n pattern octets.
 *       Every connection ID it issues (the first SCID and every NEW_CONNECTION_ID) is a QUIC-LB CID
 *       minted under CONFIG_ID with this server's id, a fresh nonce (a counter from a random start,
 *       as draft-21 recommends) and the key (or plaintext with "-").
 *   quiclb-peer client ADDR PORT LOCAL_ADDR BYTES [MIGRATE_LOCAL_ADDR MIGRATE_AFTER_BYTES] [-v]
 *       Fetches BYTES, checks every octet and the server name line; with MIGRATE_*, once
 *       MIGRATE_AFTER_BYTES arrived it moves to a new socket on MIGRATE_LOCAL_ADDR (new address and
 *       port), closes the old one (the old path is gone, as after a NAT rebinding or a move to
 *       another network) and migrates with ngtcp2_conn_initiate_immediate_migration.
 *       Prints one line: result=ok|fail server=NAME bytes=N migrated=0|1 path_validation=... reason=...
 *       Exit 0 only when all BYTES arrived intact.
 *   quiclb-peer encode CONFIG_ID SERVER_ID_HEX NONCE_HEX KEY_HEX|- FIRST_OCTET_HEX
 *       Prints the CID (the tests compare it with the C# reference on the draft's vectors).
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <gnutls/crypto.h>
#include <gnutls/gnutls.h>
#include <ngtcp2/ngtcp2.h>
#include <ngtcp2/ngtcp2_crypto.h>
#include <ngtcp2/ngtcp2_crypto_gnutls.h>

#include "quiclb.h"

#define PRIORITY                                                                                   \
  "NORMAL:-VERS-ALL:+VERS-TLS1.3:-CIPHER-ALL:+AES-128-GCM:+AES-256-GCM:+CHACHA20-POLY1305:"       \
  "+AES-128-CCM:-GROUP-ALL:+GROUP-X25519:+GROUP-SECP256R1:%DISABLE_TLS13_COMPAT_MODE"
#define MAX_CONNS 64
#define MAX_CIDS 1024
#define PKT_BUF 1500

static int verbose;
static const char ALPN[] = "quiclb";

static uint64_t now_ns(void) {
  struct timespec tp;
  clock_gettime(CLOCK_MONOTONIC, &tp);
  return (uint64_t)tp.tv_sec * NGTCP2_SECONDS + (uint64_t)tp.tv_nsec;
}

static void log_printf(void *user_data, const char *fmt, ...) {
  va_list ap;
  (void)user_data;
  va_start(ap, fmt);
  vfprintf(stderr, fmt, ap);
  va_end(ap);
  fputc('\n', stderr);
}

static void rand_cb(uint8_t *dest, size_t len, const ngtcp2_rand_ctx *ctx) {
  (void)ctx;
  gnutls_rnd(GNUTLS_RND_RANDOM, dest, len);
}

static int hex_decode(const char *hex, uint8_t *out, size_t max, size_t *len) {
  size_t n = strlen(hex);
  if (n % 2 || n / 2 > max) return -1;
  for (size_t i = 0; i < n / 2; i++) {
    unsigned v;
    if (sscanf(hex + 2 * i, "%2x", &v) != 1) return -1;
    out[i] = (uint8_t)v;
  }
  *len = n / 2;
  return 0;
}

/* Body octet i: any fixed function of i the client can recompute. */
static uint8_t pattern(uint64_t i) { return (uint8_t)((i * 131u) ^ (i >> 9) ^ 0x5a); }

static int parse_addr(const char *ip, int port, struct sockaddr_storage *ss, socklen_t *len) {
  memset(ss, 0, sizeof(*ss));
  struct sockaddr_in *a4 = (struct sockaddr_in *)ss;
  struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)ss;
  if (inet_pton(AF_INET, ip, &a4->sin_addr) == 1) {
    a4->sin_family = AF_INET;
    a4->sin_port = htons((uint16_t)port);
    *len = sizeof(*a4);
    return 0;
  }
  if (inet_pton(AF_INET6, ip, &a6->sin6_addr) == 1) {
    a6->sin6_family = AF_INET6;
    a6->sin6_port = htons((uint16_t)port);
    *len = sizeof(*a6);
    return 0;
  }
  return -1;
}

static const char *addr_str(const struct sockaddr *sa, char *buf, size_t n) {
  char ip[INET6_ADDRSTRLEN] = "?";
  int port = 0;
  if (sa->sa_family == AF_INET) {
    inet_ntop(AF_INET, &((const struct sockaddr_in *)sa)->sin_addr, ip, sizeof(ip));
    port = ntohs(((const struct sockaddr_in *)sa)->sin_port);
  } else if (sa->sa_family == AF_INET6) {
    inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)sa)->sin6_addr, ip, sizeof(ip));
    port = ntohs(((const struct sockaddr_in6 *)sa)->sin6_port);
  }
  snprintf(buf, n, "%s:%d", ip, port);
  return buf;
}

static int udp_socket(const struct sockaddr_storage *local, socklen_t len) {
  int fd = socket(local->ss_family, SOCK_DGRAM | SOCK_NONBLOCK, 0);
  if (fd < 0) return -1;
  if (bind(fd, (const struct sockaddr *)local, len) != 0) {
    close(fd);
    return -1;
  }
  return fd;
}

/* ------------------------------------------------------------------ server */

struct sconn {
  int used;
  ngtcp2_conn *conn;
  gnutls_session_t tls;
  ngtcp2_crypto_conn_ref ref;
  int64_t stream_id;
  char req[64];
  size_t reqlen;
  uint8_t *resp;
  size_t resp_len, resp_sent;
};

static struct {
  int fd;
  struct sockaddr_storage local;
  socklen_t local_len;
  const char *name;
  struct quiclb_config lb;
  uint8_t sid[15];
  uint64_t nonce_counter;
  gnutls_certificate_credentials_t cred;
  struct sconn conns[MAX_CONNS];
  struct {
    uint8_t cid[NGTCP2_MAX_CIDLEN];
    size_t len;
    struct sconn *c;
  } map[MAX_CIDS];
  unsigned long unknown_cid;
} S;

static void map_add(const uint8_t *cid, size_t len, struct sconn *c) {
  for (int i = 0; i < MAX_CIDS; i++)
    if (!S.map[i].c) {
      memcpy(S.map[i].cid, cid, len);
      S.map[i].len = len;
      S.map[i].c = c;
      return;
    }
}

static void map_del(const uint8_t *cid, size_t len) {
  for (int i = 0; i < MAX_CIDS; i++)
    if (S.map[i].c && S.map[i].len == len && memcmp(S.map[i].cid, cid, len) == 0) S.map[i].c = NULL;
}

static struct sconn *map_find(const uint8_t *cid, size_t len) {
  for (int i = 0; i < MAX_CIDS; i++)
    if (S.map[i].c && S.map[i].len == len && memcmp(S.map[i].cid, cid, len) == 0) return S.map[i].c;
  return NULL;
}

/* A QUIC-LB CID for this server: a nonce never used before (counter), encoded under the config. */
static int mint_cid(ngtcp2_cid *cid) {
  uint8_t nonce[18], first;
  uint64_t n = S.nonce_counter++;
  memset(nonce, 0, sizeof(nonce));
  for (size_t i = 0; i < S.lb.nonce_len && i < 8; i++) nonce[S.lb.nonce_len - 1 - i] = (uint8_t)(n >> (8 * i));
  if (S.lb.nonce_len > 8) gnutls_rnd(GNUTLS_RND_NONCE, nonce, S.lb.nonce_len - 8);
  gnutls_rnd(GNUTLS_RND_NONCE, &first, 1);
  /* low five bits: the CID length minus one (draft-21 "length self-description") */
  first = (uint8_t)(S.lb.sid_len + S.lb.nonce_len);
  if (quiclb_encode(&S.lb, first, S.sid, nonce, cid->data) != 0) return -1;
  cid->datalen = 1 + S.lb.sid_len + S.lb.nonce_len;
  return 0;
}

static int s_get_new_cid(ngtcp2_conn *conn, ngtcp2_cid *cid, uint8_t *token, size_t cidlen, void *user_data) {
  struct sconn *c = user_data;
  (void)conn;
  (void)cidlen;
  if (mint_cid(cid) != 0) return NGTCP2_ERR_CALLBACK_FAILURE;
  gnutls_rnd(GNUTLS_RND_RANDOM, token, NGTCP2_STATELESS_RESET_TOKENLEN);
  map_add(cid->data, cid->datalen, c);
  return 0;
}

static int s_remove_cid(ngtcp2_conn *conn, const ngtcp2_cid *cid, void *user_data) {
  (void)conn;
  (void)user_data;
  map_del(cid->data, cid->datalen);
  return 0;
}

static int s_recv_stream_data(ngtcp2_conn *conn, uint32_t flags, int64_t stream_id, uint64_t offset,
                              const uint8_t *data, size_t datalen, void *user_data, void *sud) {
  struct sconn *c = user_data;
  (void)offset;
  (void)sud;
  size_t room = sizeof(c->req) - 1 - c->reqlen;
  size_t n = datalen < room ? datalen : room;
  memcpy(c->req + c->reqlen, data, n);
  c->reqlen += n;
  c->req[c->reqlen] = 0;
  ngtcp2_conn_extend_max_stream_offset(conn, stream_id, datalen);
  ngtcp2_conn_extend_max_offset(conn, datalen);
  if ((flags & NGTCP2_STREAM_DATA_FLAG_FIN) && !c->resp) {
    unsigned long long want = 0;
    if (sscanf(c->req, "GET %llu", &want) != 1 || want > (1ull << 31)) return NGTCP2_ERR_CALLBACK_FAILURE;
    size_t hl = strlen(S.name) + 1;
    c->resp = malloc(hl + want);
    if (!c->resp) return NGTCP2_ERR_CALLBACK_FAILURE;
    memcpy(c->resp, S.name, hl - 1);
    c->resp[hl - 1] = '\n';
    for (uint64_t i = 0; i < want; i++) c->resp[hl + i] = pattern(i);
    c->resp_len = hl + want;
    c->stream_id = stream_id;
    if (verbose) fprintf(stderr, "server %s: GET %llu on stream %lld\n", S.name, want, (long long)stream_id);
  }
  return 0;
}

static ngtcp2_conn *s_get_conn(ngtcp2_crypto_conn_ref *ref) { return ((struct sconn *)ref->user_data)->conn; }

static void s_free(struct sconn *c) {
  for (int i = 0; i < MAX_CIDS; i++)
    if (S.map[i].c == c) S.map[i].c = NULL;
  if (c->conn) ngtcp2_conn_del(c->conn);
  if (c->tls) gnutls_deinit(c->tls);
  free(c->resp);
  memset(c, 0, sizeof(*c));
}

static int s_write(struct sconn *c) {
  uint8_t buf[PKT_BUF];
  ngtcp2_path_storage ps;
  ngtcp2_pkt_info pi;
  ngtcp2_path_storage_zero(&ps);
  int blocked = 0;
  uint64_t ts = now_ns();
  for (;;) {
    ngtcp2_vec v;
    size_t vcnt = 0;
    int64_t sid = -1;
    uint32_t flags = NGTCP2_WRITE_STREAM_FLAG_MORE;
    if (!blocked && c->resp && c->resp_sent < c->resp_len) {
      sid = c->stream_id;
      v.base = c->resp + c->resp_sent;
      v.len = c->resp_len - c->resp_sent;
      vcnt = 1;
      flags |= NGTCP2_WRITE_STREAM_FLAG_FIN;
    }
    ngtcp2_ssize wlen = -1;
    ngtcp2_ssize n = ngtcp2_conn_writev_stream(c->conn, &ps.path, &pi, buf, sizeof(buf), &wlen, flags, sid,
                                               vcnt ? &v : NULL, vcnt, ts);
    if (n < 0) {
      if (n == NGTCP2_ERR_WRITE_MORE) {
        c->resp_sent += (size_t)wlen;
        continue;
      }
      if (n == NGTCP2_ERR_STREAM_DATA_BLOCKED || n == NGTCP2_ERR_STREAM_SHUT_WR) {
        blocked = 1;
        continue;
      }
      if (verbose) fprintf(stderr, "server %s: writev_stream: %s\n", S.name, ngtcp2_strerror((int)n));
      return -1;
    }
    if (n == 0) break;
    if (wlen > 0) c->resp_sent += (size_t)wlen;
    sendto(S.fd, buf, (size_t)n, 0, ps.path.remote.addr, ps.path.remote.addrlen);
  }
  ngtcp2_conn_update_pkt_tx_time(c->conn, ts);
  return 0;
}

static struct sconn *s_accept(const uint8_t *pkt, size_t len, const struct sockaddr *remote, socklen_t rlen) {
  ngtcp2_pkt_hd hd;
  if (ngtcp2_accept(&hd, pkt, len) != 0) return NULL;
  struct sconn *c = NULL;
  for (int i = 0; i < MAX_CONNS; i++)
    if (!S.conns[i].used) {
      c = &S.conns[i];
      break;
    }
  if (!c) return NULL;
  memset(c, 0, sizeof(*c));
  c->used = 1;
  c->stream_id = -1;
  ngtcp2_callbacks cb = {
      .recv_client_initial = ngtcp2_crypto_recv_client_initial_cb,
      .recv_crypto_data = ngtcp2_crypto_recv_crypto_data_cb,
      .encrypt = ngtcp2_crypto_encrypt_cb,
      .decrypt = ngtcp2_crypto_decrypt_cb,
      .hp_mask = ngtcp2_crypto_hp_mask_cb,
      .recv_stream_data = s_recv_stream_data,
      .rand = rand_cb,
      .get_new_connection_id = s_get_new_cid,
      .remove_connection_id = s_remove_cid,
      .update_key = ngtcp2_crypto_update_key_cb,
      .delete_crypto_aead_ctx = ngtcp2_crypto_delete_crypto_aead_ctx_cb,
      .delete_crypto_cipher_ctx = ngtcp2_crypto_delete_crypto_cipher_ctx_cb,
      .get_path_challenge_data = ngtcp2_crypto_get_path_challenge_data_cb,
      .version_negotiation = ngtcp2_crypto_version_negotiation_cb,
  };
  ngtcp2_settings settings;
  ngtcp2_settings_default(&settings);
  settings.initial_ts = now_ns();
  if (verbose > 1) settings.log_printf = log_printf;
  ngtcp2_transport_params params;
  ngtcp2_transport_params_default(&params);
  params.initial_max_streams_bidi = 8;
  params.initial_max_stream_data_bidi_remote = 256 * 1024;
  params.initial_max_data = 1024 * 1024;
  params.max_idle_timeout = 10 * NGTCP2_SECONDS;
  params.active_connection_id_limit = 8;
  params.original_dcid = hd.dcid;
  /* Keep the fixed bit set (no RFC 9287 greasing): tshark recognises short headers of connections it has
   * not seen start (after a migration) only by it. The balancer never looks at it. */
  params.grease_quic_bit = 0;
  ngtcp2_cid scid;
  if (mint_cid(&scid) != 0) goto fail;
  ngtcp2_path path = {{(struct sockaddr *)&S.local, S.local_len}, {(struct sockaddr *)remote, rlen}, NULL};
  if (ngtcp2_conn_server_new(&c->conn, &hd.scid, &scid, &path, hd.version, &cb, &settings, &params, NULL, c) != 0)
    goto fail;
  if (gnutls_init(&c->tls, GNUTLS_SERVER | GNUTLS_NO_END_OF_EARLY_DATA) != 0) goto fail;
  if (gnutls_priority_set_direct(c->tls, PRIORITY, NULL) != 0) goto fail;
  if (ngtcp2_crypto_gnutls_configure_server_session(c->tls) != 0) goto fail;
  c->ref.get_conn = s_get_conn;
  c->ref.user_data = c;
  gnutls_session_set_ptr(c->tls, &c->ref);
  if (gnutls_credentials_set(c->tls, GNUTLS_CRD_CERTIFICATE, S.cred) != 0) goto fail;
  gnutls_datum_t alpn = {(unsigned char *)ALPN, sizeof(ALPN) - 1};
  gnutls_alpn_set_protocols(c->tls, &alpn, 1, GNUTLS_ALPN_MANDATORY);
  ngtcp2_conn_set_tls_native_handle(c->conn, c->tls);
  map_add(hd.dcid.data, hd.dcid.datalen, c);
  map_add(scid.data, scid.datalen, c);
  if (verbose) {
    char a[80];
    fprintf(stderr, "server %s: new connection from %s\n", S.name, addr_str(remote, a, sizeof(a)));
  }
  return c;
fail:
  s_free(c);
  return NULL;
}

static int run_server(int argc, char **argv) {
  if (argc < 11) return 2;
  memset(&S, 0, sizeof(S));
  if (parse_addr(argv[2], atoi(argv[3]), &S.local, &S.local_len) != 0) return 2;
  S.name = argv[6];
  S.lb.config_id = atoi(argv[7]);
  size_t sl, kl;
  if (hex_decode(argv[8], S.sid, sizeof(S.sid), &sl) != 0) return 2;
  S.lb.sid_len = sl;
  S.lb.nonce_len = (size_t)atoi(argv[9]);
  if (strcmp(argv[10], "-") != 0) {
    if (hex_decode(argv[10], S.lb.key, 16, &kl) != 0 || kl != 16) return 2;
    S.lb.has_key = 1;
  }
  ngtcp2_cid probe;
  if (mint_cid(&probe) != 0) {
    fprintf(stderr, "bad QUIC-LB config\n");
    return 2;
  }
  gnutls_rnd(GNUTLS_RND_NONCE, &S.nonce_counter, sizeof(S.nonce_counter));
  gnutls_certificate_allocate_credentials(&S.cred);
  int rv = gnutls_certificate_set_x509_key_file(S.cred, argv[4], argv[5], GNUTLS_X509_FMT_PEM);
  if (rv != 0) {
    fprintf(stderr, "certificate: %s\n", gnutls_strerror(rv));
    return 1;
  }
  S.fd = udp_socket(&S.local, S.local_len);
  if (S.fd < 0) {
    fprintf(stderr, "bind %s:%s: %s\n", argv[2], argv[3], strerror(errno));
    return 1;
  }
  printf("listening %s:%s name=%s config=%d sid=%s\n", argv[2], argv[3], S.name, S.lb.config_id, argv[8]);
  fflush(stdout);
  uint8_t buf[65536];
  for (;;) {
    uint64_t now = now_ns(), next = now + NGTCP2_SECONDS;
    for (int i = 0; i < MAX_CONNS; i++)
      if (S.conns[i].used) {
        uint64_t e = ngtcp2_conn_get_expiry(S.conns[i].conn);
        if (e < next) next = e;
      }
    int timeout = next <= now ? 0 : (int)((next - now) / 1000000) + 1;
    struct pollfd pfd = {S.fd, POLLIN, 0};
    poll(&pfd, 1, timeout);
    for (;;) {
      struct sockaddr_storage remote;
      socklen_t rlen = sizeof(remote);
      ssize_t n = recvfrom(S.fd, buf, sizeof(buf), 0, (struct sockaddr *)&remote, &rlen);
      if (n < 0) break;
      ngtcp2_version_cid vc;
      rv = ngtcp2_pkt_decode_version_cid(&vc, buf, (size_t)n, 1 + S.lb.sid_len + S.lb.nonce_len);
      if (rv != 0 && rv != NGTCP2_ERR_VERSION_NEGOTIATION) continue;
      struct sconn *c = map_find(vc.dcid, vc.dcidlen);
      if (!c) {
        if (!(buf[0] & 0x80) || !(c = s_accept(buf, (size_t)n, (struct sockaddr *)&remote, rlen))) {
          S.unknown_cid++;
          if (verbose) fprintf(stderr, "server %s: packet for unknown CID dropped (%lu)\n", S.name, S.unknown_cid);
          continue;
        }
      }
      ngtcp2_path path = {{(struct sockaddr *)&S.local, S.local_len}, {(struct sockaddr *)&remote, rlen}, NULL};
      ngtcp2_pkt_info pi = {0};
      rv = ngtcp2_conn_read_pkt(c->conn, &path, &pi, buf, (size_t)n, now_ns());
      if (rv != 0) {
        if (verbose) fprintf(stderr, "server %s: read_pkt: %s\n", S.name, ngtcp2_strerror(rv));
        if (rv != NGTCP2_ERR_DRAINING) s_free(c);
        continue;
      }
      if (s_write(c) != 0) s_free(c);
    }
    now = now_ns();
    for (int i = 0; i < MAX_CONNS; i++) {
      struct sconn *c = &S.conns[i];
      if (!c->used || ngtcp2_conn_get_expiry(c->conn) > now) continue;
      if (ngtcp2_conn_handle_expiry(c->conn, now) != 0) {
        if (verbose) fprintf(stderr, "server %s: connection closed (idle or timeout)\n", S.name);
        s_free(c);
        continue;
      }
      if (s_write(c) != 0) s_free(c);
    }
  }
}

/* ------------------------------------------------------------------ client */

static struct {
  int fd;
  struct sockaddr_storage local, remote;
  socklen_t local_len, remote_len;
  ngtcp2_conn *conn;
  gnutls_session_t tls;
  gnutls_certificate_credentials_t cred;
  ngtcp2_crypto_conn_ref ref;
  int64_t stream_id;
  const char *request;
  size_t req_sent;
  uint64_t want, got_body;
  char server[64];
  size_t server_len;
  int header_done, fin, corrupt, migrated, want_migrate;
  const char *pv;
  const char *migrate_ip;
  uint64_t migrate_after;
  char req[64];
} C;

static int c_extend_bidi(ngtcp2_conn *conn, uint64_t max, void *ud) {
  (void)max;
  (void)ud;
  if (C.stream_id != -1) return 0;
  if (ngtcp2_conn_open_bidi_stream(conn, &C.stream_id, NULL) != 0) C.stream_id = -1;
  return 0;
}

static int c_recv_stream_data(ngtcp2_conn *conn, uint32_t flags, int64_t stream_id, uint64_t offset,
                              const uint8_t *data, size_t datalen, void *ud, void *sud) {
  (void)offset;
  (void)ud;
  (void)sud;
  for (size_t i = 0; i < datalen; i++) {
    if (!C.header_done) {
      if (data[i] == '\n') C.header_done = 1;
      else if (C.server_len < sizeof(C.server) - 1) C.server[C.server_len++] = (char)data[i];
      continue;
    }
    if (data[i] != pattern(C.got_body)) C.corrupt = 1;
    C.got_body++;
  }
  if (flags & NGTCP2_STREAM_DATA_FLAG_FIN) C.fin = 1;
  ngtcp2_conn_extend_max_stream_offset(conn, stream_id, datalen);
  ngtcp2_conn_extend_max_offset(conn, datalen);
  if (C.migrate_ip && !C.migrated && C.got_body >= C.migrate_after) C.want_migrate = 1;
  return 0;
}

static int c_path_validation(ngtcp2_conn *conn, uint32_t flags, const ngtcp2_path *path,
                             ngtcp2_path_validation_result res, void *ud) {
  (void)conn;
  (void)flags;
  (void)path;
  (void)ud;
  if (C.migrated) C.pv = res == NGTCP2_PATH_VALIDATION_RESULT_SUCCESS ? "success" : "failure";
  return 0;
}

static int c_get_new_cid(ngtcp2_conn *conn, ngtcp2_cid *cid, uint8_t *token, size_t cidlen, void *ud) {
  (void)conn;
  (void)ud;
  gnutls_rnd(GNUTLS_RND_RANDOM, cid->data, cidlen);
  cid->datalen = cidlen;
  gnutls_rnd(GNUTLS_RND_RANDOM, token, NGTCP2_STATELESS_RESET_TOKENLEN);
  return 0;
}

static ngtcp2_conn *c_get_conn(ngtcp2_crypto_conn_ref *ref) {
  (void)ref;
  return C.conn;
}

static int same_addr(const struct sockaddr *a, const struct sockaddr_storage *b) {
  if (a->sa_family != b->ss_family) return 0;
  if (a->sa_family == AF_INET)
    return memcmp(a, b, sizeof(struct sockaddr_in)) == 0;
  return memcmp(a, b, sizeof(struct sockaddr_in6)) == 0;
}

static int c_write(void) {
  uint8_t buf[PKT_BUF];
  ngtcp2_path_storage ps;
  ngtcp2_pkt_info pi;
  ngtcp2_path_storage_zero(&ps);
  uint64_t ts = now_ns();
  size_t reqlen = strlen(C.request);
  int blocked = 0;
  for (;;) {
    ngtcp2_vec v;
    size_t vcnt = 0;
    int64_t sid = -1;
    uint32_t flags = NGTCP2_WRITE_STREAM_FLAG_MORE;
    if (!blocked && C.stream_id != -1 && C.req_sent < reqlen) {
      sid = C.stream_id;
      v.base = (uint8_t *)C.request + C.req_sent;
      v.len = reqlen - C.req_sent;
      vcnt = 1;
      flags |= NGTCP2_WRITE_STREAM_FLAG_FIN;
    }
    ngtcp2_ssize wlen = -1;
    ngtcp2_ssize n = ngtcp2_conn_writev_stream(C.conn, &ps.path, &pi, buf, sizeof(buf), &wlen, flags, sid,
                                               vcnt ? &v : NULL, vcnt, ts);
    if (n < 0) {
      if (n == NGTCP2_ERR_WRITE_MORE) {
        C.req_sent += (size_t)wlen;
        continue;
      }
      if (n == NGTCP2_ERR_STREAM_DATA_BLOCKED || n == NGTCP2_ERR_STREAM_SHUT_WR) {
        blocked = 1;
        continue;
      }
      return (int)n;
    }
    if (n == 0) break;
    if (wlen > 0) C.req_sent += (size_t)wlen;
    /* Only the current socket exists: a packet for a path whose local address is gone is lost. */
    if (same_addr(ps.path.local.addr, &C.local))
      send(C.fd, buf, (size_t)n, 0);
  }
  ngtcp2_conn_update_pkt_tx_time(C.conn, ts);
  return 0;
}

static int c_migrate(void) {
  struct sockaddr_storage nl;
  socklen_t nll;
  char a[80], b[80];
  if (parse_addr(C.migrate_ip, 0, &nl, &nll) != 0) return -1;
  int fd = udp_socket(&nl, nll);
  if (fd < 0 || connect(fd, (struct sockaddr *)&C.remote, C.remote_len) != 0) return -1;
  nll = sizeof(nl);
  getsockname(fd, (struct sockaddr *)&nl, &nll);
  ngtcp2_path path = {{(struct sockaddr *)&nl, nll}, {(struct sockaddr *)&C.remote, C.remote_len}, NULL};
  int rv = ngtcp2_conn_initiate_immediate_migration(C.conn, &path, now_ns());
  if (rv != 0) {
    fprintf(stderr, "client: migration refused: %s\n", ngtcp2_strerror(rv));
    close(fd);
    return -1;
  }
  fprintf(stderr, "client: migrated %s -> %s after %llu bytes\n", addr_str((struct sockaddr *)&C.local, a, sizeof(a)),
          addr_str((struct sockaddr *)&nl, b, sizeof(b)), (unsigned long long)C.got_body);
  close(C.fd);
  C.fd = fd;
  C.local = nl;
  C.local_len = nll;
  C.migrated = 1;
  C.pv = "pending";
  return 0;
}

static int c_result(const char *reason) {
  int ok = reason == NULL && C.fin && !C.corrupt && C.got_body == C.want && C.header_done;
  C.server[C.server_len] = 0;
  printf("result=%s server=%s bytes=%llu migrated=%d path_validation=%s reason=%s\n", ok ? "ok" : "fail",
         C.server_len ? C.server : "-", (unsigned long long)C.got_body, C.migrated, C.pv ? C.pv : "none",
         reason ? reason : (ok ? "-" : C.corrupt ? "corrupt" : "incomplete"));
  fflush(stdout);
  return ok ? 0 : 1;
}

static int run_client(int argc, char **argv) {
  if (argc < 6) return 2;
  memset(&C, 0, sizeof(C));
  C.stream_id = -1;
  if (parse_addr(argv[2], atoi(argv[3]), &C.remote, &C.remote_len) != 0) return 2;
  if (parse_addr(argv[4], 0, &C.local, &C.local_len) != 0) return 2;
  C.want = strtoull(argv[5], NULL, 10);
  if (argc >= 8 && argv[6][0] != '-') {
    C.migrate_ip = argv[6];
    C.migrate_after = strtoull(argv[7], NULL, 10);
  }
  snprintf(C.req, sizeof(C.req), "GET %llu\n", (unsigned long long)C.want);
  C.request = C.req;
  C.fd = udp_socket(&C.local, C.local_len);
  if (C.fd < 0 || connect(C.fd, (struct sockaddr *)&C.remote, C.remote_len) != 0) {
    fprintf(stderr, "client socket: %s\n", strerror(errno));
    return 1;
  }
  C.local_len = sizeof(C.local);
  getsockname(C.fd, (struct sockaddr *)&C.local, &C.local_len);

  ngtcp2_callbacks cb = {
      .client_initial = ngtcp2_crypto_client_initial_cb,
      .recv_crypto_data = ngtcp2_crypto_recv_crypto_data_cb,
      .encrypt = ngtcp2_crypto_encrypt_cb,
      .decrypt = ngtcp2_crypto_decrypt_cb,
      .hp_mask = ngtcp2_crypto_hp_mask_cb,
      .recv_stream_data = c_recv_stream_data,
      .recv_retry = ngtcp2_crypto_recv_retry_cb,
      .extend_max_local_streams_bidi = c_extend_bidi,
      .rand = rand_cb,
      .get_new_connection_id = c_get_new_cid,
      .update_key = ngtcp2_crypto_update_key_cb,
      .path_validation = c_path_validation,
      .delete_crypto_aead_ctx = ngtcp2_crypto_delete_crypto_aead_ctx_cb,
      .delete_crypto_cipher_ctx = ngtcp2_crypto_delete_crypto_cipher_ctx_cb,
      .get_path_challenge_data = ngtcp2_crypto_get_path_challenge_data_cb,
      .version_negotiation = ngtcp2_crypto_version_negotiation_cb,
  };
  ngtcp2_cid dcid, scid;
  dcid.datalen = 16;
  gnutls_rnd(GNUTLS_RND_RANDOM, dcid.data, dcid.datalen);
  scid.datalen = 8;
  gnutls_rnd(GNUTLS_RND_RANDOM, scid.data, scid.datalen);
  ngtcp2_settings settings;
  ngtcp2_settings_default(&settings);
  settings.initial_ts = now_ns();
  if (verbose > 1) settings.log_printf = log_printf;
  ngtcp2_transport_params params;
  ngtcp2_transport_params_default(&params);
  params.initial_max_stream_data_bidi_local = 2 * 1024 * 1024;
  params.initial_max_data = 4 * 1024 * 1024;
  params.max_idle_timeout = 10 * NGTCP2_SECONDS; /* generous: the test machines are shared and often overloaded */
  params.active_connection_id_limit = 8;
  params.grease_quic_bit = 0;
  ngtcp2_path path = {{(struct sockaddr *)&C.local, C.local_len}, {(struct sockaddr *)&C.remote, C.remote_len}, NULL};
  if (ngtcp2_conn_client_new(&C.conn, &dcid, &scid, &path, NGTCP2_PROTO_VER_V1, &cb, &settings, &params, NULL, NULL) != 0)
    return c_result("client_new");
  gnutls_certificate_allocate_credentials(&C.cred);
  if (gnutls_init(&C.tls, GNUTLS_CLIENT | GNUTLS_NO_END_OF_EARLY_DATA) != 0 ||
      gnutls_priority_set_direct(C.tls, PRIORITY, NULL) != 0 ||
      ngtcp2_crypto_gnutls_configure_client_session(C.tls) != 0 ||
      gnutls_credentials_set(C.tls, GNUTLS_CRD_CERTIFICATE, C.cred) != 0)
    return c_result("tls_init");
  C.ref.get_conn = c_get_conn;
  gnutls_session_set_ptr(C.tls, &C.ref);
  gnutls_datum_t alpn = {(unsigned char *)ALPN, sizeof(ALPN) - 1};
  gnutls_alpn_set_protocols(C.tls, &alpn, 1, 0);
  gnutls_server_name_set(C.tls, GNUTLS_NAME_DNS, "quiclb.test", 11);
  ngtcp2_conn_set_tls_native_handle(C.conn, C.tls);

  uint64_t deadline = now_ns() + 60 * NGTCP2_SECONDS;
  uint8_t buf[65536];
  int rv = c_write();
  if (rv != 0) return c_result(ngtcp2_strerror(rv));
  while (!(C.fin && C.got_body >= C.want)) {
    uint64_t now = now_ns(), e = ngtcp2_conn_get_expiry(C.conn);
    if (now > deadline) return c_result("deadline");
    int timeout = e <= now ? 0 : (int)((e - now) / 1000000) + 1;
    if (timeout > 1000) timeout = 1000;
    struct pollfd pfd = {C.fd, POLLIN, 0};
    poll(&pfd, 1, timeout);
    for (;;) {
      struct sockaddr_storage from;
      socklen_t fl = sizeof(from);
      ssize_t n = recvfrom(C.fd, buf, sizeof(buf), 0, (struct sockaddr *)&from, &fl);
      if (n < 0) break;
      ngtcp2_path p = {{(struct sockaddr *)&C.local, C.local_len}, {(struct sockaddr *)&from, fl}, NULL};
      ngtcp2_pkt_info pi = {0};
      rv = ngtcp2_conn_read_pkt(C.conn, &p, &pi, buf, (size_t)n, now_ns());
      if (rv != 0) return c_result(ngtcp2_strerror(rv));
    }
    if (C.want_migrate && !C.migrated && c_migrate() != 0) return c_result("migration");
    now = now_ns();
    if (ngtcp2_conn_get_expiry(C.conn) <= now) {
      rv = ngtcp2_conn_handle_expiry(C.conn, now);
      if (rv != 0) return c_result(rv == NGTCP2_ERR_IDLE_CLOSE ? "idle-timeout" : ngtcp2_strerror(rv));
    }
    rv = c_write();
    if (rv != 0) return c_result(ngtcp2_strerror(rv));
  }
  /* Close politely so the server frees the connection at once. */
  ngtcp2_path_storage ps;
  ngtcp2_path_storage_zero(&ps);
  ngtcp2_pkt_info pi;
  ngtcp2_connection_close_error ccerr;
  ngtcp2_connection_close_error_default(&ccerr);
  ngtcp2_ssize n = ngtcp2_conn_write_connection_close(C.conn, &ps.path, &pi, buf, sizeof(buf), &ccerr, now_ns());
  if (n > 0) send(C.fd, buf, (size_t)n, 0);
  return c_result(NULL);
}

/* ------------------------------------------------------------------ encode */

static int run_encode(int argc, char **argv) {
  if (argc < 7) return 2;
  struct quiclb_config c = {0};
  uint8_t sid[15], nonce[18], cid[20];
  size_t kl;
  unsigned first;
  c.config_id = atoi(argv[2]);
  if (hex_decode(argv[3], sid, sizeof(sid), &c.sid_len) || hex_decode(argv[4], nonce, sizeof(nonce), &c.nonce_len)) return 2;
  if (strcmp(argv[5], "-") != 0) {
    if (hex_decode(argv[5], c.key, 16, &kl) || kl != 16) return 2;
    c.has_key = 1;
  }
  if (sscanf(argv[6], "%x", &first) != 1) return 2;
  if (quiclb_encode(&c, (uint8_t)first, sid, nonce, cid) != 0) return 1;
  for (size_t i = 0; i < 1 + c.sid_len + c.nonce_len; i++) printf("%02x", cid[i]);
  printf("\n");
  return 0;
}

int main(int argc, char **argv) {
  for (int i = 1; i < argc; i++)
    if (strcmp(argv[i], "-v") == 0) verbose++;
    else if (strcmp(argv[i], "-vv") == 0) verbose += 2;
  setvbuf(stderr, NULL, _IOLBF, 0);
  int rv = 2;
  if (argc > 1 && strcmp(argv[1], "server") == 0) rv = run_server(argc, argv);
  else if (argc > 1 && strcmp(argv[1], "client") == 0) rv = run_client(argc, argv);
  else if (argc > 1 && strcmp(argv[1], "encode") == 0) rv = run_encode(argc, argv);
  if (rv == 2) fprintf(stderr, "usage: see the comment at the top of native/quic-server/quiclb_peer.c\n");
  return rv;
}
