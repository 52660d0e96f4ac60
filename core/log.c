/*
 * core/log.c - where the library's and the backends' log lines go.
 *
 * A store's config may name a logger (ts_config_set_logger); everything
 * else, what the library says outside any store (a config file with a
 * secret that others can read) and what stores without a logger say,
 * goes to the process-wide logger an application sets once
 * (ts_set_default_logger): Python's logging, a Node app's onLog. Until
 * one is set, warnings and errors go to stderr, so a program that never
 * asks still hears about a world-readable secret. No line holds a secret.
 */
#include <stdarg.h>
#include <stdio.h>
#include "internal.h"

static const char *level_name[] = { "error", "warning", "info", "debug" };

static pthread_mutex_t default_lock = PTHREAD_MUTEX_INITIALIZER;
static struct {
    int set;                 /* ts_set_default_logger was called */
    ts_log_fn fn;            /* NULL: silent */
    void *userdata;
    int level;
} default_logger = { 0, NULL, NULL, TS_LOG_WARN };

TS_API void ts_set_default_logger(ts_log_fn fn, void *userdata, int max_level)
{
    pthread_mutex_lock(&default_lock);
    default_logger.set = 1;
    default_logger.fn = fn;
    default_logger.userdata = userdata;
    default_logger.level = max_level;
    pthread_mutex_unlock(&default_lock);
}

/* A line to the process-wide logger, or to stderr up to max_level when
 * none was set. */
static void log_default(int level, int max_level, const char *line)
{
    pthread_mutex_lock(&default_lock);
    if (!default_logger.set && level <= max_level)
        fprintf(stderr, "tokenstore: %s: %s\n",
                level >= 0 && level <= TS_LOG_DEBUG ? level_name[level] : "log", line);
    else if (default_logger.set && default_logger.fn && level <= default_logger.level)
        default_logger.fn(default_logger.userdata, level, line);
    pthread_mutex_unlock(&default_lock);
}

void ts__log(ts_backend_ctx *ctx, int level, const char *fmt, ...)
{
    char line[1024];
    va_list ap;

    if (ctx && ctx->log_custom && (!ctx->log_fn || level > ctx->log_level))
        return;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    if (ctx && ctx->log_custom)
        ctx->log_fn(ctx->log_userdata, level, line);
    else
        log_default(level, ctx ? ctx->log_level : TS_LOG_WARN, line);
}
