/*
 * core/store.h - a store handle's insides, for the files of the store
 * layer (store.c, store_batch.c, store_notes.c) and no one else.
 */
#ifndef TS_STORE_H
#define TS_STORE_H

#include "internal.h"

/* What a batch of finds needs beside the caller's tokens, in one block:
 * the queries passed on, a row for each, and where each came from. */
struct batch {
    size_t n;
    const ts_token **queries;   /* as the backend gets them */
    const ts_token **asked;     /* the caller's tokens */
    ts_token *sealed;           /* with encryption, the queries sealed */
    ts_token *rows, **row_of;
    size_t *index;
    int *found;
};

struct ts_store {
    ts_module module;
    ts_config *config;       /* our copy: the options the backend reads */
    ts_backend_ctx ctx;
    void *state;
    int serialize;
    pthread_mutex_t lock;
    struct batch *sent;      /* a ts_find_tokens_send waiting for its answers */
    pid_t pid;               /* the process the state belongs to */
    int forked;              /* this is a child of that process: see enter() */
    ts__forkable forkable;   /* what fork.c tells in a child */
    pthread_rwlock_t calls;  /* a thread-safe backend's calls: read side */
    int fork_locked;         /* fork.c's before took lock or calls */
    ts__notes *notes;        /* notes and log kept here for a backend without */
    int notes_failed;        /* the backend's notes failed: the handle's own */
    struct ts__crypt *crypt; /* the encrypt section's keys, or NULL */
};

/* Refuses every write on a read-only handle, before the backend. */
int ts__store_writable(const ts_store *s, ts_error *err);
/* Enters the backend (its mutex when it is not thread-safe, following a
 * fork first): TS_OK, or why the handle cannot be used here, holding
 * nothing then. */
int ts__store_enter(ts_store *s, ts_error *err);
/* Leaves it, naming the backend in any error it reported; returns rc. */
int ts__store_leave(ts_store *s, int rc, ts_error *err);
/* Frees a batch of finds and wipes its rows; NULL is allowed. */
void ts__batch_free(struct batch *b);
/* The backend's find_token, entered and left: a ts__find_fn (crypt.h)
 * over a store. */
int ts__store_find(void *store, const ts_token *query, ts_token *row, ts_error *err);

#endif
