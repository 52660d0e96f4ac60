/*
 * tests/mysql/accounts.c - the fake accounts server of the mysql test
 * programs (accounts.h says what each function does). The server's
 * directory is inside the MariaDB server's, which the harness removes.
 */
#include <check.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <curl/curl.h>
#include "accounts.h"
#include "harness.h"

int accounts_port;
static char accounts_dir[PATH_MAX + 16] = "";
static pid_t accounts_pid;

static void stop_accounts(void)
{
    if (!harness_is_owner() || accounts_pid <= 0)
        return;
    kill(accounts_pid, SIGTERM);
    waitpid(accounts_pid, NULL, 0);
    accounts_pid = 0;
}

int start_accounts(void)
{
    char portfile[PATH_MAX + 32], script[PATH_MAX];
    const char *src = getenv("top_srcdir");

    snprintf(accounts_dir, sizeof accounts_dir, "%s/accounts", server_dir);
    snprintf(portfile, sizeof portfile, "%s/port", accounts_dir);
    snprintf(script, sizeof script, "%s/tests/oauth/fake_accounts.py", src ? src : ".");
    if (mkdir(accounts_dir, 0700) != 0)
        return 0;
    atexit(stop_accounts);
    accounts_pid = fork();
    if (accounts_pid == 0) {
        execlp("python3", "python3", script, portfile, (char *)NULL);
        _exit(127);
    }
    for (int i = 0; i < 200 && accounts_port <= 0; i++) {
        FILE *f = fopen(portfile, "r");
        if (f) {
            if (fscanf(f, "%d", &accounts_port) != 1)
                accounts_port = 0;
            fclose(f);
        }
        if (accounts_port <= 0)
            usleep(50000);
    }
    return accounts_port > 0;
}

static size_t collect(char *data, size_t size, size_t n, void *ud)
{
    return fwrite(data, size, n, ud);
}

void accounts_call(const char *path, const char *body, char *out, size_t n)
{
    char url[128];
    FILE *f = fmemopen(out, n, "w");
    CURL *c = curl_easy_init();

    ck_assert(f && c);
    snprintf(url, sizeof url, "http://127.0.0.1:%d%s", accounts_port, path);
    curl_easy_setopt(c, CURLOPT_URL, url);
    if (body)
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, collect);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, f);
    ck_assert_int_eq(curl_easy_perform(c), CURLE_OK);
    curl_easy_cleanup(c);
    fclose(f);
}

int accounts_count(const char *kind)
{
    char out[8192], key[64];

    accounts_call("/counts", NULL, out, sizeof out);
    snprintf(key, sizeof key, "\"%s\": ", kind);
    const char *at = strstr(out, key);
    return at ? atoi(at + strlen(key)) : 0;
}

const char *accounts_url(void)
{
    static char url[64];

    snprintf(url, sizeof url, "http://127.0.0.1:%d", accounts_port);
    return url;
}
