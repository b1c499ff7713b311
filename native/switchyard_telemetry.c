/*
 * switchyard_telemetry.c: the /switchyard/... commands on DPDK's telemetry socket. See
 * switchyard_telemetry.h for the design (C# publishes an immutable text document; callbacks read
 * it under a mutex and never enter .NET) and for the document format.
 */
#include "switchyard_telemetry.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <rte_telemetry.h>

static pthread_mutex_t g_lock = PTHREAD_MUTEX_INITIALIZER;
static char *g_doc;        /* NUL-terminated copy of the last publication, or NULL */
static size_t g_doc_len;
static bool g_registered;

#define MAX_DOC (16u << 20)

int32_t sy_tel_publish(const char *doc, uint32_t len)
{
    if ((doc == NULL && len > 0) || len > MAX_DOC) return -EINVAL;
    char *copy = malloc((size_t)len + 1);
    if (copy == NULL) return -ENOMEM;
    if (len > 0) memcpy(copy, doc, len);
    copy[len] = '\0';
    pthread_mutex_lock(&g_lock);
    char *old = g_doc;
    g_doc = copy;
    g_doc_len = len;
    pthread_mutex_unlock(&g_lock);
    free(old);
    return 0;
}

/* [p, end) is one line; copies it NUL-terminated into out (truncated to cap - 1). */
static void copy_span(const char *p, const char *end, char *out, size_t cap)
{
    size_t n = (size_t)(end - p);
    if (n >= cap) n = cap - 1;
    memcpy(out, p, n);
    out[n] = '\0';
}

/* Does the header line "@x <command>[ <param>]" at [p, end) name cmd with params? */
static bool header_matches(const char *p, const char *end, const char *cmd, const char *params)
{
    p += 3; /* "@x " */
    size_t clen = strlen(cmd), plen = strlen(params);
    if ((size_t)(end - p) < clen || memcmp(p, cmd, clen) != 0) return false;
    p += clen;
    if (p == end) return plen == 0;
    if (*p != ' ') return false;
    p++;
    return (size_t)(end - p) == plen && memcmp(p, params, plen) == 0;
}

/* Fills d from the section starting after the header line; kind is 'd', 'l' or 'n'. */
static void fill_section(const char *p, const char *doc_end, char kind, struct rte_tel_data *d)
{
    char key[RTE_TEL_MAX_STRING_LEN], val[RTE_TEL_MAX_STRING_LEN];
    int entries = 0;
    if (kind == 'd') rte_tel_data_start_dict(d);
    else rte_tel_data_start_array(d, kind == 'l' ? RTE_TEL_STRING_VAL : RTE_TEL_U64_VAL);
    while (p < doc_end && *p != '@')
    {
        const char *eol = memchr(p, '\n', (size_t)(doc_end - p));
        if (eol == NULL) eol = doc_end;
        if (eol - p >= 2 && p[1] == ' ')
        {
            const char *rest = p + 2;
            if (kind == 'd' && (p[0] == 'u' || p[0] == 's') && entries < RTE_TEL_MAX_DICT_ENTRIES)
            {
                const char *sp = memchr(rest, ' ', (size_t)(eol - rest));
                if (sp != NULL && sp > rest && sp - rest < 64)
                {
                    copy_span(rest, sp, key, sizeof key);
                    copy_span(sp + 1, eol, val, sizeof val);
                    if (p[0] == 'u') rte_tel_data_add_dict_u64(d, key, strtoull(val, NULL, 10));
                    else rte_tel_data_add_dict_string(d, key, val);
                    entries++;
                }
            }
            else if (kind != 'd' && p[0] == 'v' && entries < RTE_TEL_MAX_ARRAY_ENTRIES)
            {
                copy_span(rest, eol, val, sizeof val);
                if (kind == 'l') rte_tel_data_add_array_string(d, val);
                else rte_tel_data_add_array_u64(d, strtoull(val, NULL, 10));
                entries++;
            }
        }
        p = eol + 1;
    }
}

static int handle(const char *cmd, const char *params, struct rte_tel_data *d)
{
    if (params == NULL) params = "";
    pthread_mutex_lock(&g_lock);
    const char *p = g_doc, *end = g_doc == NULL ? NULL : g_doc + g_doc_len;
    bool published = g_doc != NULL, found = false;
    while (p != NULL && p < end)
    {
        const char *eol = memchr(p, '\n', (size_t)(end - p));
        if (eol == NULL) eol = end;
        if (eol - p >= 3 && p[0] == '@' && (p[1] == 'd' || p[1] == 'l' || p[1] == 'n') && p[2] == ' '
            && header_matches(p, eol, cmd, params))
        {
            fill_section(eol + (eol < end ? 1 : 0), end, p[1], d);
            found = true;
            break;
        }
        p = eol + 1;
    }
    pthread_mutex_unlock(&g_lock);
    if (!found)
    {
        char msg[RTE_TEL_MAX_STRING_LEN];
        if (!published) snprintf(msg, sizeof msg, "switchyard has published no state yet");
        else if (params[0] == '\0') snprintf(msg, sizeof msg, "%s needs a parameter, e.g. %s,<name>", cmd, cmd);
        else snprintf(msg, sizeof msg, "%s: nothing named '%.60s'", cmd, params);
        rte_tel_data_string(d, msg);
    }
    return 0;
}

static const struct { const char *cmd, *help; } k_cmds[] = {
    { "/switchyard/info", "Switchyard: version, uptime, snapshot generation, totals. No parameters" },
    { "/switchyard/vips", "Switchyard: names of the VIPs. No parameters" },
    { "/switchyard/vip", "Switchyard: one VIP's address, pool and counters. Parameter: VIP name" },
    { "/switchyard/backends", "Switchyard: backend ids. No parameters" },
    { "/switchyard/backend", "Switchyard: one backend's name, address, weight, usable, counters. Parameter: backend id" },
    { "/switchyard/workers", "Switchyard: worker cores. No parameters" },
    { "/switchyard/worker", "Switchyard: one worker's counters. Parameter: core" },
    { "/switchyard/drops", "Switchyard: drops by reason, summed over workers. Optional parameter: a worker core" },
};

int32_t sy_tel_register(void)
{
    pthread_mutex_lock(&g_lock);
    bool done = g_registered;
    g_registered = true;
    pthread_mutex_unlock(&g_lock);
    if (done) return 0;
    for (size_t i = 0; i < sizeof k_cmds / sizeof k_cmds[0]; i++)
    {
        int ret = rte_telemetry_register_cmd(k_cmds[i].cmd, handle, k_cmds[i].help);
        if (ret != 0) return ret < 0 ? ret : -ret;
    }
    return 0;
}
