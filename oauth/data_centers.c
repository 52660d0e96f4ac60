/*
 * oauth/data_centers.c - Zoho's data centers, as data: the accounts server
 * of each and the API domains that name it.
 *
 * The data centers are the Zoho SDKs' list: each has an accounts server
 * and three API domains (www., sandbox. and developer.zohoapis.<tld>); a
 * token's api_domain tells which accounts server refreshes it, as the
 * SDK's DataCenter.get(api_domain) does. The file calls nothing.
 */
#include <ctype.h>
#include <string.h>
#include <strings.h>
#include "client.h"

static const struct data_center {
    const char *code;
    const char *accounts;     /* the accounts server, without /oauth/v2/token */
    const char *api_suffix;   /* the API domains are (www|sandbox|developer).<this> */
} data_centers[] = {
    { "US", "https://accounts.zoho.com", "zohoapis.com" },
    { "EU", "https://accounts.zoho.eu", "zohoapis.eu" },
    { "IN", "https://accounts.zoho.in", "zohoapis.in" },
    { "CN", "https://accounts.zoho.com.cn", "zohoapis.com.cn" },
    { "JP", "https://accounts.zoho.jp", "zohoapis.jp" },
    { "AU", "https://accounts.zoho.com.au", "zohoapis.com.au" },
    { "CA", "https://accounts.zohocloud.ca", "zohoapis.ca" },
    { "SA", "https://accounts.zoho.sa", "zohoapis.sa" },
};

#define NDATA_CENTERS (sizeof data_centers / sizeof *data_centers)

const char *oa__data_center_accounts(const char *code)
{
    for (size_t i = 0; code && i < NDATA_CENTERS; i++)
        if (strcasecmp(code, data_centers[i].code) == 0)
            return data_centers[i].accounts;
    return NULL;
}

/* The host of an api_domain ("https://www.zohoapis.eu/" -> "www.zohoapis.eu"),
 * lower-cased, into host; 0 when there is none. */
size_t oa__api_domain_host(const char *api_domain, char *host, size_t size)
{
    const char *p = api_domain, *sep = strstr(p, "://");
    size_t n = 0;

    if (sep)
        p = sep + 3;
    while (p[n] && p[n] != '/' && p[n] != ':' && p[n] != '?' && n + 1 < size) {
        host[n] = (char)tolower((unsigned char)p[n]);
        n++;
    }
    if (p[n] && p[n] != '/' && p[n] != ':' && p[n] != '?')
        n = 0;                      /* too long to be a host */
    host[n] = '\0';
    return n;
}

/* The data center whose API domains include `host`, or NULL. */
const char *oa__data_center_of_host(const char *host)
{
    static const char *const kinds[] = { "www.", "sandbox.", "developer." };

    for (size_t i = 0; i < NDATA_CENTERS; i++)
        for (size_t k = 0; k < sizeof kinds / sizeof *kinds; k++) {
            size_t kl = strlen(kinds[k]);
            if (strncmp(host, kinds[k], kl) == 0 &&
                strcmp(host + kl, data_centers[i].api_suffix) == 0)
                return data_centers[i].code;
        }
    return NULL;
}
