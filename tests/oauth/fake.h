/*
 * tests/oauth/fake.h - the fake accounts server (fake_accounts.py) for the
 * OAuth tests: started on a free loopback port, told how to answer, and
 * asked how many requests reached it and where.
 */
#ifndef TS_TESTS_OAUTH_FAKE_H
#define TS_TESTS_OAUTH_FAKE_H

#include <check.h>
#include <curl/curl.h>
#include <json-c/json.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static pid_t server_pid;
static int server_port;
static char server_dir[] = "/tmp/tokenstore-oauth.XXXXXX";
static char accounts_url[64];

/* ---------------------------------------------------------------- the fake server */

static inline void start_server(void)
{
    char portfile[128], script[512];
    const char *src = getenv("top_srcdir");

    if (!mkdtemp(server_dir)) {
        perror("mkdtemp");
        exit(99);
    }
    snprintf(portfile, sizeof portfile, "%s/port", server_dir);
    snprintf(script, sizeof script, "%s/tests/oauth/fake_accounts.py", src ? src : ".");
    server_pid = fork();
    if (server_pid == 0) {
        execlp("python3", "python3", script, portfile, (char *)NULL);
        perror("python3");
        _exit(127);
    }
    for (int i = 0; i < 200; i++) {
        FILE *f = fopen(portfile, "r");
        if (f) {
            if (fscanf(f, "%d", &server_port) != 1)
                server_port = 0;
            fclose(f);
            if (server_port > 0)
                break;
        }
        usleep(50000);
    }
    if (server_port <= 0) {
        fprintf(stderr, "the fake accounts server did not start\n");
        exit(99);
    }
    snprintf(accounts_url, sizeof accounts_url, "http://127.0.0.1:%d", server_port);
}

static inline void stop_server(void)
{
    char cmd[128];

    if (server_pid > 0) {
        kill(server_pid, SIGTERM);
        waitpid(server_pid, NULL, 0);
        server_pid = 0;
    }
    snprintf(cmd, sizeof cmd, "rm -rf %s", server_dir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", server_dir);
}

static inline size_t collect(char *data, size_t size, size_t n, void *ud)
{
    FILE *f = ud;
    return fwrite(data, size, n, f);
}

/* A request to the server's control endpoints; returns the body. */
static char *server_call(const char *path, const char *post)
{
    char url[128], *body = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&body, &len);
    CURL *c = curl_easy_init();

    snprintf(url, sizeof url, "%s%s", accounts_url, path);
    curl_easy_setopt(c, CURLOPT_URL, url);
    if (post)
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, post);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, collect);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, f);
    ck_assert_int_eq(curl_easy_perform(c), CURLE_OK);
    curl_easy_cleanup(c);
    fclose(f);
    return body;
}

static inline void control(const char *json)
{
    free(server_call("/control", json));
}

/* How many requests of a kind (authorization_code, refresh_token, revoke). */
static inline int count(const char *kind)
{
    char *body = server_call("/counts", NULL);
    json_object *root = json_tokener_parse(body), *v;
    int n = json_object_object_get_ex(root, kind, &v) ? json_object_get_int(v) : 0;
    json_object_put(root);
    free(body);
    return n;
}

/* How many token requests went to paths starting with prefix ("/eu/"). */
static inline int count_path(const char *prefix)
{
    char *body = server_call("/counts", NULL);
    json_object *root = json_tokener_parse(body), *paths;
    int n = 0;

    if (json_object_object_get_ex(root, "paths", &paths))
        for (size_t i = 0; i < json_object_array_length(paths); i++)
            n += strncmp(json_object_get_string(json_object_array_get_idx(paths, i)), prefix,
                         strlen(prefix)) == 0;
    json_object_put(root);
    free(body);
    return n;
}

static inline long long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

#endif
