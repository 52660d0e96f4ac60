/*
 * plugins/redis - one token set on a Redis server, shared by every process
 * on every host that points at it (Redis Cluster included).
 *
 * Data model. Every key of a store starts with the hash tag "{PREFIX}", so
 * a whole store lives in one cluster slot and one Lua script may touch all
 * of it:
 *
 *   {P}token:ID          hash, the token's non-empty fields by SDK name
 *   {P}ids               sorted set of every id, score 0, member = the id
 *                        zero-padded to 20 digits so that lexical order is
 *                        numeric order: ZRANGEBYLEX pages get_tokens in
 *                        ascending id (scores are doubles, exact only to
 *                        2^53, and ids go to 2^63 - 1)
 *   {P}next_id           INCR counter: the largest id assigned or saved
 *   {P}user:NAME         string, a copy of the row of user NAME: each of
 *                        the ten fields in order as "<decimal length>:
 *                        <bytes>" ("0:" when absent), so the id is the
 *                        first field (a bare id, as older stores hold,
 *                        is still read)
 *   {P}access:SHA1       sorted set (as {P}ids) of the ids holding that
 *   {P}refresh:SHA1      access, refresh or grant token; several tokens may
 *   {P}grant:SHA1        share one, and the lowest id answers a lookup
 *   {P}lock:NAME         try_lock's lock: a random tag, set NX with a TTL
 *
 * Index keys for the three secrets carry the SHA-1 of the secret, not the
 * secret: key names outlive a command and show up in SCAN, --bigkeys, key
 * space notifications and RDB dumps. A save still has to send the secrets
 * as arguments, since they are stored. User names are not secret and stay
 * readable. Every lookup checks that the row it reaches really holds the
 * value, so neither a digest collision nor a stray key can answer wrong.
 *
 * Why the user key holds the whole row: find_token by user name is the
 * SDK's hot path, and a GET of that one key answers it in a single plain
 * command that touches one key, where going through an index to the hash
 * would touch two (in a large store each key that is not in the CPU cache
 * costs the server microseconds, more than running a script does). The
 * price is on the write side: every save that changes any field of a row
 * with a user name rewrites the copy in the same script, so the copy
 * never lags the hash, which stays the authority for every other read and
 * for the save rules. A refresh thus touches four keys (copy, hash, old
 * and new access index entry), which is most of its cost.
 *
 * Every write is one Lua script (loaded with SCRIPT LOAD at open, called
 * with EVALSHA, re-sent with EVAL after a NOSCRIPT), so the hash, the id
 * set, the counter and all index keys change together or not at all. The
 * SDK's save rules (core/rules.c: by id, else by the lookup keys, the two
 * TS_ERR_CONFLICT cases, filling empty fields from the replaced row) are
 * mirrored in the save script, because they must run inside the same
 * atomic step as the write; the lookup keys themselves still come from the
 * host's lookup_keys. find_token by user name is one GET of the copy,
 * by any other key one script call, find_token_by_id one HMGET: one round
 * trip each. New ids come from INCR on {P}next_id, which
 * a save with a larger explicit id pushes up, so a new id is greater than
 * every stored one and no id is reused until the store is emptied (the
 * SDK's "max + 1" would hand a deleted token's id to the next insert, and
 * with many writers some of them may still hold the old one).
 *
 * The wire. Commands are written in RESP by this file into a buffer it
 * owns, handed to conn.c (a plain socket or TLS over it, sent with
 * send(MSG_NOSIGNAL) either way) and wiped after sending; hiredis's reader
 * parses the replies. Values travel as length-prefixed arguments, never
 * formatted into command text.
 *
 * Failures. A connection that drops is reopened once (AUTH and SELECT
 * again) and the call retried, when retrying cannot change the outcome:
 * reads, delete_tokens and saves whose token has an id or a lookup key (a
 * replay finds the row the first attempt wrote). A keyless insert or a
 * delete whose reply was lost returns TS_ERR_CONNECT, saying the change may
 * have been applied; before such a write the socket is polled, so a server
 * that restarted between calls is noticed before anything is sent. A
 * timeout is returned as TS_ERR_TIMEOUT and the connection is reopened by
 * the next call. A MOVED reply follows the cluster to the slot's node; if
 * that node later goes away, the configured node is asked again.
 *
 * TLS and Sentinel. With tls on, conn.c carries the same bytes over
 * OpenSSL (see there). With sentinels, every connect first asks them for
 * the master (sentinel.c) and checks its ROLE in the handshake's round
 * trip; a READONLY reply (the master was demoted under us) wrote nothing,
 * so the sentinels are asked again and the command sent once more. With
 * wait_replicas, each save and delete carries WAIT in its round trip, and
 * a write that did not reach the replicas in time is an error saying the
 * token may or may not be stored.
 *
 * Open flags (TS_CAP_OPEN_FLAGS). Opening creates nothing on the server: a
 * key prefix with no keys is an empty store, so TS_OPEN_MUST_EXIST has
 * nothing to refuse (a store "exists" once the server answers), and
 * TS_OPEN_READ_ONLY needs nothing here beyond the core refusing every
 * write. SCRIPT LOAD at open fills the server's script cache, not the
 * store.
 */
#include <limits.h>
#include <strings.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <hiredis/hiredis.h>
#include <tokenstore/backend.h>
#include "conn.h"
#include "sentinel.h"

#define DEFAULT_HOST "127.0.0.1"
#define DEFAULT_PORT 6379
#define DEFAULT_PREFIX "tokenstore:"
#define DEFAULT_CONNECT_TIMEOUT_MS 2000
#define DEFAULT_COMMAND_TIMEOUT_MS 5000
#define SAVE_BATCH 256        /* tokens per save script call */
#define PAGE_SIZE 256         /* ids per get_tokens / delete_tokens page */

/* ------------------------------------------------------------------ */
/* The scripts                                                         */
/* ------------------------------------------------------------------ */

/*
 * Each script is put together from the pieces it needs and no more: a
 * script call pays for every table and closure its text builds, and
 * every save pays for its script. In every script KEYS[1] is {P}ids (so a
 * cluster client routes the call to the store's slot) and ARGV[1] is
 * "{P}". Field numbers are Lua indexes: 1 id, 2 user_name, 5 refresh,
 * 6 access, 7 grant token.
 */
#define LUA_BASE                                                              \
    "local base, ids_key = ARGV[1], KEYS[1]\n"

#define LUA_IDS                                                               \
    "local function member(id) return string.rep('0', 20 - #id) .. id end\n"  \
    "local function id_of(m)\n"                                               \
    "  local id = string.gsub(m, '^0+', '')\n"                                \
    "  if id == '' then return '0' end\n"                                     \
    "  return id\n"                                                           \
    "end\n"

#define LUA_READ_ROW                                                          \
    "local function read_row(id)\n"                                           \
    "  local r = redis.call('HMGET', base .. 'token:' .. id, 'id',\n"         \
    "    'user_name', 'client_id', 'client_secret', 'refresh_token',\n"       \
    "    'access_token', 'grant_token', 'expiry_time', 'redirect_url',\n"     \
    "    'api_domain')\n"                                                     \
    "  if r[1] then return r end\n"                                           \
    "end\n"

/* Numeric order of two canonical ids (decimal, no leading zeros). */
#define LUA_NUM_LESS                                                          \
    "local function num_less(a, b)\n"                                         \
    "  if #a ~= #b then return #a < #b end\n"                                 \
    "  return a < b\n"                                                        \
    "end\n"

/* The id in a {P}user:NAME copy of a row: its first field, "len:bytes".
 * A value without ':' is a bare id, as stores written before the copy
 * held. */
#define LUA_COPY_ID                                                           \
    "local function copy_id(c)\n"                                             \
    "  local n = string.match(c, '^(%d+):')\n"                                \
    "  if not n then return c end\n"                                          \
    "  return string.sub(c, #n + 2, #n + 1 + tonumber(n))\n"                  \
    "end\n"

/* Secrets are indexed by digest; see the top of the file. */
#define LUA_INDEX                                                             \
    "local INDEX = {[2] = 'user:', [5] = 'refresh:', [6] = 'access:',\n"      \
    "               [7] = 'grant:'}\n"                                        \
    "local function index_key(f, v)\n"                                        \
    "  if f == 2 then return base .. 'user:' .. v end\n"                      \
    "  return base .. INDEX[f] .. redis.sha1hex(v)\n"                         \
    "end\n"                                                                   \
    LUA_COPY_ID                                                               \
    "local function unindex(f, v, id)\n"                                      \
    "  local key = index_key(f, v)\n"                                         \
    "  if f ~= 2 then return redis.call('ZREM', key, member(id)) end\n"       \
    "  local copy = redis.call('GET', key)\n"                                 \
    "  if copy and copy_id(copy) == id then redis.call('DEL', key) end\n"     \
    "end\n"

/* The stored row whose field f is v (lowest id first), checked against
 * the row itself so that no stray index entry can answer. */
#define LUA_LOOKUP                                                            \
    "local function lookup(f, v)\n"                                           \
    "  if f == 1 then return read_row(v) end\n"                               \
    "  local key = index_key(f, v)\n"                                         \
    "  if f == 2 then\n"                                                      \
    "    local copy = redis.call('GET', key)\n"                               \
    "    local r = copy and read_row(copy_id(copy))\n"                        \
    "    if r and r[2] == v then return r end\n"                              \
    "    return nil\n"                                                        \
    "  end\n"                                                                 \
    "  for i = 0, math.huge do\n"                                             \
    "    local m = redis.call('ZRANGE', key, i, i)[1]\n"                      \
    "    if not m then return nil end\n"                                      \
    "    local r = read_row(id_of(m))\n"                                      \
    "    if r and r[f] == v then return r end\n"                              \
    "  end\n"                                                                 \
    "end\n"

#define LUA_FORGET                                                            \
    "local function forget(row)\n"                                            \
    "  for f in pairs(INDEX) do\n"                                            \
    "    if row[f] then unindex(f, row[f], row[1]) end\n"                     \
    "  end\n"                                                                 \
    "  redis.call('DEL', base .. 'token:' .. row[1])\n"                       \
    "  redis.call('ZREM', ids_key, member(row[1]))\n"                         \
    "end\n"

/* find_token by a secret (and by a user name whose key holds a bare id):
 * ARGV[2..] are (field number, value) pairs in the order the host's
 * lookup_keys gave; returns, as HMGET does, the row with the lowest id
 * that any of them finds, or nil. Written flat (no helper tables, two
 * small closures) to keep it cheap. */
static const char lua_find[] =
    "local base, best = ARGV[1], nil\n"
    LUA_COPY_ID LUA_NUM_LESS
    "for i = 2, #ARGV, 2 do\n"
    "  local f, v = tonumber(ARGV[i]), ARGV[i + 1]\n"
    "  local id, key, at = nil, nil, 0\n"
    "  if f == 2 then\n"
    "    id = redis.call('GET', base .. 'user:' .. v)\n"
    "    id = id and copy_id(id)\n"
    "  else\n"
    "    key = base .. (f == 5 and 'refresh:' or f == 6 and 'access:' or 'grant:')\n"
    "      .. redis.sha1hex(v)\n"
    "    id = redis.call('ZRANGE', key, 0, 0)[1]\n"
    "  end\n"
    "  while id do\n"
    "    if key then\n"
    "      id = string.gsub(id, '^0+', '')\n"
    "      if id == '' then id = '0' end\n"
    "    end\n"
    "    local r = redis.call('HMGET', base .. 'token:' .. id, 'id', 'user_name',\n"
    "      'client_id', 'client_secret', 'refresh_token', 'access_token',\n"
    "      'grant_token', 'expiry_time', 'redirect_url', 'api_domain')\n"
    "    if r[f] == v then\n"
    "      if not best or num_less(r[1], best[1]) then best = r end\n"
    "      break\n"
    "    end\n"
    "    if not key then break end\n"
    "    at = at + 1\n"
    "    id = redis.call('ZRANGE', key, at, at)[1]\n"
    "  end\n"
    "end\n"
    "return best or false\n";

/* save_token for ARGV[2] tokens, each as: key count, key field numbers,
 * the ten values ('' = absent). Saves them in order like that many
 * save_token calls; returns {filled} or, at the first refusal, {filled
 * so far, kind (CONFLICT, INVALID, FULL, CORRUPT or ERROR), message},
 * where filled[t] lists (field number, value) for the fields token t
 * lacked and now has (its id, merged values): the caller's token plus
 * these is the stored row. The rules are core/rules.c's
 * ts__save_resolve; the messages are its messages. */
static const char lua_save[] =
    LUA_BASE LUA_IDS LUA_READ_ROW LUA_INDEX LUA_LOOKUP LUA_NUM_LESS
    "local FIELDS = {'id', 'user_name', 'client_id', 'client_secret',\n"
    "  'refresh_token', 'access_token', 'grant_token', 'expiry_time',\n"
    "  'redirect_url', 'api_domain'}\n"
    "local counter_key = base .. 'next_id'\n"
    "local function ensure_counter()\n"
    "  local last = redis.call('GET', counter_key)\n"
    "  if last then return last end\n"
    "  local top = redis.call('ZRANGE', ids_key, -1, -1)[1]\n"
    "  last = top and id_of(top) or '0'\n"
    "  redis.call('SET', counter_key, last)\n"
    "  return last\n"
    "end\n"
    /* The next id, or nil and the kind and message of a refusal: the
     * server's own words unless the counter is full or not a number. */
    "local function next_id()\n"
    "  local last = ensure_counter()\n"
    "  local n = redis.pcall('INCR', counter_key)\n"
    "  if type(n) ~= 'table' then return redis.call('GET', counter_key) end\n"
    /* A replica (the master was demoted): refused as every write is, so
     * the client asks the sentinels again. */
    "  if string.find(n.err, 'READONLY', 1, true) then error(n) end\n"
    "  if string.find(n.err, 'overflow', 1, true) then\n"
    "    return nil, 'FULL', 'no id is left after ' .. last\n"
    "  elseif string.find(n.err, 'not an integer', 1, true) then\n"
    "    return nil, 'CORRUPT', string.format(\"%s holds '%.40s', not an id\", counter_key,\n"
    "      last)\n"
    "  end\n"
    "  return nil, 'ERROR', 'INCR ' .. counter_key .. ': ' .. n.err\n"
    "end\n"
    /* The row as {P}user:NAME holds it; see the top of the file. */
    "local function copy_of(tok)\n"
    "  local parts = {}\n"
    "  for i = 1, 10 do parts[i] = #tok[i] .. ':' .. tok[i] end\n"
    "  return table.concat(parts)\n"
    "end\n"
    /* Writes only what changed: the index keys of changed values and the
     * changed fields (a merge never empties a field). tok is the whole row
     * by now, so the user's copy is rewritten from it when anything
     * changed. */
    "local function write(tok, old)\n"
    "  local id, args = tok[1], {}\n"
    "  for f in pairs(INDEX) do\n"
    "    local was, now = old and old[f] or '', tok[f]\n"
    "    if was ~= now then\n"
    "      if was ~= '' then unindex(f, was, id) end\n"
    "      if now ~= '' and f ~= 2 then\n"
    "        redis.call('ZADD', index_key(f, now), 0, member(id))\n"
    "      end\n"
    "    end\n"
    "  end\n"
    "  for i = 1, 10 do\n"
    "    if tok[i] ~= '' and (not old or tok[i] ~= old[i]) then\n"
    "      args[#args + 1] = FIELDS[i]\n"
    "      args[#args + 1] = tok[i]\n"
    "    end\n"
    "  end\n"
    "  if #args > 0 then redis.call('HSET', base .. 'token:' .. id, unpack(args)) end\n"
    "  if #args > 0 and tok[2] ~= '' then\n"
    "    redis.call('SET', index_key(2, tok[2]), copy_of(tok))\n"
    "  end\n"
    "  if not old then redis.call('ZADD', ids_key, 0, member(id)) end\n"
    "end\n"
    "local function find_replaced(tok, keys)\n"
    "  local id, row = tok[1], nil\n"
    "  if id ~= '' then\n"
    "    row = read_row(id)\n"
    "    if row and tok[2] ~= '' then\n"
    "      local other = lookup(2, tok[2])\n"
    "      if other and other[1] ~= id then\n"
    "        return nil, string.format(\"user_name '%s' is stored under id %s; \"\n"
    "          .. 'saving it under id %s would give that user two rows',\n"
    "          tok[2], other[1], id)\n"
    "      end\n"
    "    end\n"
    "  end\n"
    "  if row then return row end\n"
    "  local by\n"
    "  for _, f in ipairs(keys) do\n"
    "    local r = lookup(f, tok[f])\n"
    "    if r and (not row or num_less(r[1], row[1])) then row, by = r, f end\n"
    "  end\n"
    "  if row and id ~= '' and row[1] ~= id then\n"
    "    return nil, string.format(\n"
    "      'the token matches stored id %s by %s but was given id %s',\n"
    "      row[1], FIELDS[by], id)\n"
    "  end\n"
    "  return row or false\n"
    "end\n"
    "local function save_one(tok, keys)\n"
    "  local row, conflict = find_replaced(tok, keys)\n"
    "  if row == nil then return nil, 'CONFLICT', conflict end\n"
    /* A new row needs a refresh, grant or access token; an update takes
     * them from the row it replaces. */
    "  if not row and tok[5] == '' and tok[6] == '' and tok[7] == '' then\n"
    "    return nil, 'INVALID', 'the token has none of refresh_token, grant_token '\n"
    "      .. 'and access_token and matches no stored token to take them from: '\n"
    "      .. 'nothing to save'\n"
    "  end\n"
    "  local filled = {}\n"
    "  if row then\n"
    "    for i = 1, 10 do\n"
    "      row[i] = row[i] or ''\n"
    "      if tok[i] == '' and row[i] ~= '' then\n"
    "        tok[i] = row[i]\n"
    "        filled[#filled + 1] = i\n"
    "        filled[#filled + 1] = row[i]\n"
    "      end\n"
    "    end\n"
    "  elseif tok[1] == '' then\n"
    "    local id, kind, message = next_id()\n"
    "    if not id then return nil, kind, message end\n"
    "    tok[1] = id\n"
    "    filled = {1, tok[1]}\n"
    "    row = nil\n"
    "  else\n"
    "    if num_less(ensure_counter(), tok[1]) then\n"
    "      redis.call('SET', counter_key, tok[1])\n"
    "    end\n"
    "    row = nil\n"
    "  end\n"
    "  write(tok, row)\n"
    "  return filled\n"
    "end\n"
    "local saved, pos = {}, 3\n"
    "for t = 1, tonumber(ARGV[2]) do\n"
    "  local keys = {}\n"
    "  for k = 1, tonumber(ARGV[pos]) do keys[k] = tonumber(ARGV[pos + k]) end\n"
    "  pos = pos + #keys + 1\n"
    "  local tok = {}\n"
    "  for i = 1, 10 do tok[i] = ARGV[pos + i - 1] end\n"
    "  pos = pos + 10\n"
    "  local row, kind, message = save_one(tok, keys)\n"
    "  if not row then return {saved, kind, message} end\n"
    "  saved[t] = row\n"
    "end\n"
    "return {saved}\n";

/* delete_token ARGV[2]: 1 when it existed, else 0. */
static const char lua_delete[] =
    LUA_BASE LUA_IDS LUA_READ_ROW LUA_INDEX LUA_FORGET
    "local row = read_row(ARGV[2])\n"
    "if not row then return 0 end\n"
    "forget(row)\n"
    "return 1\n";

/* delete_tokens, one page of ARGV[2] ids; returns how many are left and
 * forgets the counter with the last one. */
static const char lua_clear[] =
    LUA_BASE LUA_IDS LUA_READ_ROW LUA_INDEX LUA_FORGET
    "for _, m in ipairs(redis.call('ZRANGE', ids_key, 0, tonumber(ARGV[2]) - 1)) do\n"
    "  local row = read_row(id_of(m))\n"
    "  if row then forget(row) else redis.call('ZREM', ids_key, m) end\n"
    "end\n"
    "local left = redis.call('ZCARD', ids_key)\n"
    "if left == 0 then redis.call('DEL', base .. 'next_id') end\n"
    "return left\n";

/* get_tokens, one page: up to ARGV[3] rows after member ARGV[2] ('' from
 * the start); returns {last member, members read, rows}. */
static const char lua_page[] =
    LUA_BASE LUA_IDS LUA_READ_ROW
    "local from = ARGV[2] == '' and '-' or '(' .. ARGV[2]\n"
    "local page = redis.call('ZRANGEBYLEX', ids_key, from, '+', 'LIMIT', 0,\n"
    "                        tonumber(ARGV[3]))\n"
    "local rows = {}\n"
    "for _, m in ipairs(page) do\n"
    "  local r = read_row(id_of(m))\n"
    "  if r then rows[#rows + 1] = r end\n"
    "end\n"
    "return {page[#page] or '', #page, rows}\n";

/* unlock: deletes lock ARGV[2] only if it still holds our tag ARGV[3]
 * (it may have expired and been taken by someone else). */
static const char lua_unlock[] =
    LUA_BASE
    "local key = base .. 'lock:' .. ARGV[2]\n"
    "if redis.call('GET', key) == ARGV[3] then return redis.call('DEL', key) end\n"
    "return 0\n";

enum script {
    SCRIPT_FIND, SCRIPT_SAVE, SCRIPT_DELETE, SCRIPT_CLEAR, SCRIPT_PAGE, SCRIPT_UNLOCK,
    SCRIPT_COUNT
};

static const char *const script_source[SCRIPT_COUNT] = {
    lua_find, lua_save, lua_delete, lua_clear, lua_page, lua_unlock,
};

static const char *const field_number[TS_FIELD_COUNT] = {
    "1", "2", "3", "4", "5", "6", "7", "8", "9", "10",
};

/* ------------------------------------------------------------------ */
/* The store                                                           */
/* ------------------------------------------------------------------ */

/* The command being built: argument pointers (borrowed) and lengths. */
struct command {
    size_t argc, cap;
    const char **argv;
    size_t *len;
    int nomem;                       /* an argument could not be added */
};

struct redis_store {
    const ts_host *host;
    ts_backend_ctx *ctx;
    struct conn *conn;               /* NULL while disconnected */
    struct conn_tls *tls;            /* NULL: plain TCP */
    char *tls_server_name;           /* NULL: the host */

    char *host_name;                 /* the configured TCP server, or the
                                        master the sentinels named */
    int port;
    struct sentinels *sentinels;     /* NULL: no Sentinel */
    char *master_name;
    char *sentinel_user, *sentinel_password;   /* password wiped on close */
    struct command wait;             /* WAIT n ms after each save and delete */
    long long wait_replicas, wait_timeout_ms;
    char wait_args[2][24];
    char *moved_host;                /* the cluster node a MOVED sent us to */
    int moved_port;
    char *socket_path;               /* or a unix socket */
    char *username, *password;       /* password wiped on close */
    long long db;
    struct timeval connect_timeout, command_timeout;
    char where[320];                 /* "host:port" or the socket path */

    char *base;                      /* "{prefix}" */
    size_t base_len;
    char *ids_key;                   /* "{prefix}ids" */
    char *token_key;                 /* "{prefix}token:" + room for an id */

    struct command cmd;
    char *wire;                      /* RESP of the commands; wiped after sending */
    size_t wire_len, wire_cap;
    char sha[SCRIPT_COUNT][41];      /* "" until SCRIPT LOAD answered */
};

static const char *const redis_options[] = {
    "host", "port", "socket", "db", "username", "password", "prefix",
    "connect_timeout_ms", "command_timeout_ms", "tls", "tls_ca", "tls_cert", "tls_key",
    "tls_server_name", "tls_verify", "sentinels", "master_name", "sentinel_user",
    "sentinel_password", "wait_replicas", "wait_timeout_ms", NULL,
};

/* ------------------------------------------------------------------ */
/* Commands on the wire                                                */
/* ------------------------------------------------------------------ */

static void cmd_reset(struct command *c)
{
    c->argc = 0;
    c->nomem = 0;
}

static void cmd_add(struct command *c, const char *s, size_t len)
{
    if (c->argc == c->cap) {
        size_t cap = c->cap ? c->cap * 2 : 64;
        const char **argv = realloc(c->argv, cap * sizeof *argv);
        if (argv)
            c->argv = argv;
        size_t *lens = argv ? realloc(c->len, cap * sizeof *lens) : NULL;
        if (!lens) {
            c->nomem = 1;
            return;
        }
        c->len = lens;
        c->cap = cap;
    }
    c->argv[c->argc] = s;
    c->len[c->argc++] = len;
}

static void cmd_add_str(struct command *c, const char *s)
{
    cmd_add(c, s, strlen(s));
}

static void cmd_free(struct command *c)
{
    free(c->argv);
    free(c->len);
    *c = (struct command){ 0 };
}

static size_t decimal_len(size_t n)
{
    size_t d = 1;
    for (; n >= 10; n /= 10)
        d++;
    return d;
}

/* Room for `more` bytes in the wire buffer. It holds secrets, so a bigger
 * one is a fresh copy and the old one is wiped, not realloc()ed. */
static int wire_reserve(struct redis_store *s, size_t more)
{
    size_t cap = s->wire_cap ? s->wire_cap : 4096;

    if (s->wire_len + more <= s->wire_cap)
        return TS_OK;
    while (cap < s->wire_len + more)
        cap *= 2;
    char *wire = malloc(cap);
    if (!wire)
        return TS_ERR_NOMEM;
    if (s->wire) {
        memcpy(wire, s->wire, s->wire_len);
        explicit_bzero(s->wire, s->wire_cap);
        free(s->wire);
    }
    s->wire = wire;
    s->wire_cap = cap;
    return TS_OK;
}

/* Appends the RESP form of command c to the wire buffer. */
static int wire_append(struct redis_store *s, const struct command *c)
{
    size_t need = 1 + decimal_len(c->argc) + 2 + 1;

    for (size_t i = 0; i < c->argc; i++)
        need += 1 + decimal_len(c->len[i]) + 2 + c->len[i] + 2;
    if (c->nomem || wire_reserve(s, need) != TS_OK)
        return TS_ERR_NOMEM;
    char *p = s->wire + s->wire_len;
    p += sprintf(p, "*%zu\r\n", c->argc);
    for (size_t i = 0; i < c->argc; i++) {
        p += sprintf(p, "$%zu\r\n", c->len[i]);
        memcpy(p, c->argv[i], c->len[i]);
        p += c->len[i];
        *p++ = '\r';
        *p++ = '\n';
    }
    s->wire_len = (size_t)(p - s->wire);
    return TS_OK;
}

static void wipe_reply(redisReply *r)
{
    if (r->str && r->len)
        explicit_bzero(r->str, r->len);
    for (size_t i = 0; r->type == REDIS_REPLY_ARRAY && i < r->elements; i++)
        wipe_reply(r->element[i]);
}

/* Replies carry tokens: wipe them before they go back to the heap. */
static void free_reply(redisReply *r)
{
    if (!r)
        return;
    wipe_reply(r);
    freeReplyObject(r);
}

static void disconnect(struct redis_store *s)
{
    conn_close(s->conn);
    s->conn = NULL;
}

static long command_timeout_ms(const struct redis_store *s)
{
    return (long)(s->command_timeout.tv_sec * 1000 + s->command_timeout.tv_usec / 1000);
}

/* The connection is out of step with the server: drop it (the next call
 * connects again) and say why. */
static int connection_failed(struct redis_store *s, int timed_out, const char *why,
                             ts_error *err)
{
    disconnect(s);
    if (timed_out)
        return s->host->error(err, TS_ERR_TIMEOUT, "%s: no answer within %ld ms",
                              s->where, command_timeout_ms(s));
    return s->host->error(err, TS_ERR_CONNECT, "%s: connection lost: %s", s->where, why);
}

static int send_wire(struct redis_store *s, ts_error *err)
{
    int rc = TS_OK;

    if (conn_write(s->conn, s->wire, s->wire_len) != 0) {
        char why[sizeof s->conn->errstr];
        snprintf(why, sizeof why, "%s", s->conn->errstr);
        rc = connection_failed(s, s->conn->timed_out, why, err);
    }
    explicit_bzero(s->wire, s->wire_len);
    s->wire_len = 0;
    return rc;
}

/* Sends the wire buffer and reads n replies into replies[]. */
static int exchange(struct redis_store *s, redisReply **replies, int n, ts_error *err)
{
    int rc = send_wire(s, err);

    for (int i = 0; rc == TS_OK && i < n; i++) {
        void *reply = NULL;
        if (conn_read_reply(s->conn, &reply) != 0) {
            char why[sizeof s->conn->errstr];
            int timed_out = s->conn->timed_out;
            snprintf(why, sizeof why, "%s", s->conn->errstr);
            while (i-- > 0)
                free_reply(replies[i]);
            return connection_failed(s, timed_out, why, err);
        }
        replies[i] = reply;
    }
    return rc;
}

/* ------------------------------------------------------------------ */
/* Connecting                                                          */
/* ------------------------------------------------------------------ */

static int is_error(const redisReply *r, const char *code)
{
    size_t n = strlen(code);
    return r && r->type == REDIS_REPLY_ERROR && r->len >= n &&
           memcmp(r->str, code, n) == 0 && (r->len == n || r->str[n] == ' ');
}

/* An error reply as a ts_code and a message naming the server. */
static int reply_error(struct redis_store *s, const redisReply *r, const char *what,
                       ts_error *err)
{
    int code = TS_ERR_BACKEND;

    if (is_error(r, "NOAUTH"))
        return s->host->error(err, TS_ERR_AUTH,
                              "%s requires authentication (%.*s): set the password option",
                              s->where, (int)r->len, r->str);
    if (is_error(r, "WRONGPASS") || is_error(r, "NOPERM"))
        code = TS_ERR_AUTH;
    else if (is_error(r, "LOADING") || is_error(r, "BUSY") || is_error(r, "TRYAGAIN") ||
             is_error(r, "ASK") || is_error(r, "CLUSTERDOWN"))
        code = TS_ERR_BUSY;
    return s->host->error(err, code, "%s: %s failed: %.*s", s->where, what,
                          (int)r->len, r->str);
}

static int open_socket(struct redis_store *s, ts_error *err)
{
    const struct conn_target t = {
        .host = s->moved_host ? s->moved_host : s->host_name,
        .port = s->moved_host ? s->moved_port : s->port,
        .socket_path = s->socket_path,
        .connect_timeout = s->connect_timeout,
        .command_timeout = s->command_timeout,
        .tls = s->tls,
        .server_name = s->tls_server_name,
    };
    struct conn *c = conn_open(&t);

    if (!c)
        return s->host->error(err, TS_ERR_NOMEM, "out of memory");
    if (c->err) {
        int rc = s->host->error(err, TS_ERR_CONNECT, "cannot connect to %s: %s", s->where,
                                c->errstr);
        conn_close(c);
        return rc;
    }
    s->conn = c;
    return TS_OK;
}

static int handshake_error(struct redis_store *s, const char *what, const redisReply *r,
                           ts_error *err)
{
    if (strcmp(what, "AUTH") == 0)
        return s->host->error(err, TS_ERR_AUTH, "authentication%s%s%s at %s failed: %.*s",
                              s->username ? " as user '" : "", s->username ? s->username : "",
                              s->username ? "'" : "", s->where, (int)r->len, r->str);
    if (is_error(r, "NOAUTH") || is_error(r, "NOPERM"))
        return reply_error(s, r, what, err);
    return s->host->error(err, TS_ERR_CONFIG, "%s: cannot select db %lld: %.*s", s->where,
                          s->db, (int)r->len, r->str);
}

/* Whether a ROLE reply says master; else an error naming what it is. */
static int check_role(struct redis_store *s, const redisReply *r, ts_error *err)
{
    if (r->type == REDIS_REPLY_ARRAY && r->elements > 0 &&
        r->element[0]->type == REDIS_REPLY_STRING && strcmp(r->element[0]->str, "master") == 0)
        return TS_OK;
    return s->host->error(err, TS_ERR_CONNECT, "%s was named master of '%s' by a sentinel but "
                          "its ROLE is %s (a failover may be under way)", s->where,
                          s->master_name, r->type == REDIS_REPLY_ARRAY && r->elements > 0 &&
                          r->element[0]->type == REDIS_REPLY_STRING
                              ? r->element[0]->str : "unknown");
}

/* AUTH, SELECT and (with Sentinel) ROLE, pipelined: one round trip for
 * all. A reconnect runs this in the middle of sending s->cmd, so it
 * builds its own commands. */
static int handshake(struct redis_store *s, ts_error *err)
{
    struct command auth = { 0 }, select = { 0 }, role = { 0 };
    redisReply *replies[3] = { NULL, NULL, NULL };
    const char *what[3];
    char db[24];
    int n = 0, rc = TS_OK;

    if (s->password || s->username) {
        cmd_add_str(&auth, "AUTH");
        if (s->username)
            cmd_add_str(&auth, s->username);
        cmd_add_str(&auth, s->password ? s->password : "");
        rc = wire_append(s, &auth);
        what[n++] = "AUTH";
    }
    if (rc == TS_OK && s->db != 0) {
        snprintf(db, sizeof db, "%lld", s->db);
        cmd_add_str(&select, "SELECT");
        cmd_add_str(&select, db);
        rc = wire_append(s, &select);
        what[n++] = "SELECT";
    }
    if (rc == TS_OK && s->sentinels) {
        cmd_add_str(&role, "ROLE");
        rc = wire_append(s, &role);
        what[n++] = "ROLE";
    }
    cmd_free(&auth);
    cmd_free(&select);
    cmd_free(&role);
    if (rc != TS_OK) {
        explicit_bzero(s->wire, s->wire_len);
        s->wire_len = 0;
        return s->host->error(err, TS_ERR_NOMEM, "out of memory");
    }
    if (n == 0)
        return TS_OK;
    rc = exchange(s, replies, n, err);
    for (int i = 0; rc == TS_OK && i < n; i++)
        if (replies[i]->type == REDIS_REPLY_ERROR)
            rc = handshake_error(s, what[i], replies[i], err);
        else if (strcmp(what[i], "ROLE") == 0)
            rc = check_role(s, replies[i], err);
    if (rc != TS_OK)
        disconnect(s);
    for (int i = 0; i < n && replies[i]; i++)
        free_reply(replies[i]);
    return rc;
}

static void set_where(struct redis_store *s)
{
    const char *host = s->moved_host ? s->moved_host : s->host_name;
    int port = s->moved_host ? s->moved_port : s->port;

    if (s->socket_path)
        snprintf(s->where, sizeof s->where, "%s", s->socket_path);
    else if (!host)
        snprintf(s->where, sizeof s->where, "master '%.200s'", s->master_name);
    else if (strchr(host, ':'))
        snprintf(s->where, sizeof s->where, "[%s]:%d", host, port);
    else
        snprintf(s->where, sizeof s->where, "%s:%d", host, port);
}

/* A cluster node we were sent to is gone (failover): start again from the
 * configured one, which sends us on to the slot's new node. */
static void forget_moved(struct redis_store *s)
{
    s->host->log(s->ctx, TS_LOG_WARN, "cluster node %s is unreachable; asking %s:%d again",
                 s->where, s->host_name, s->port);
    free(s->moved_host);
    s->moved_host = NULL;
    set_where(s);
}

/* Asks the sentinels where the master is now; the store then connects
 * there. */
static int locate_master(struct redis_store *s, ts_error *err)
{
    const struct conn_target how = {
        .connect_timeout = s->connect_timeout,
        .command_timeout = s->command_timeout,
        .tls = s->tls,
    };
    char why[1024], *host;
    int port;
    int rc = sentinels_ask(s->sentinels, s->master_name, s->sentinel_user,
                           s->sentinel_password, &how, &host, &port, why, sizeof why);

    if (rc != 0)
        return s->host->error(err, rc == 1 ? TS_ERR_AUTH : TS_ERR_CONNECT, "%s", why);
    if (!s->host_name || strcmp(host, s->host_name) != 0 || port != s->port)
        s->host->log(s->ctx, TS_LOG_INFO, "sentinels: the master of '%s' is %s:%d",
                     s->master_name, host, port);
    free(s->host_name);
    s->host_name = host;
    s->port = port;
    set_where(s);
    return TS_OK;
}

static int connect_store(struct redis_store *s, ts_error *err)
{
    int rc = s->sentinels ? locate_master(s, err) : TS_OK;

    if (rc != TS_OK)
        return rc;
    rc = open_socket(s, err);

    if (rc == TS_ERR_CONNECT && s->moved_host) {
        forget_moved(s);
        rc = open_socket(s, err);
    }
    return rc == TS_OK ? handshake(s, err) : rc;
}

/* Connects when needed. A write that must not be replayed (retry 0)
 * first checks that the server has not closed the connection since the
 * last call; the check is a system call, so replayable calls skip it and
 * rely on the retry instead. */
static int ensure_connected(struct redis_store *s, int check_peer, ts_error *err)
{
    if (s->conn && check_peer && conn_peer_closed(s->conn)) {
        s->host->log(s->ctx, TS_LOG_INFO, "%s closed the connection; connecting again",
                     s->where);
        disconnect(s);
    }
    return s->conn ? TS_OK : connect_store(s, err);
}

/* "MOVED <slot> <host>:<port>": the store's slot lives on another node of
 * the cluster; go there and stay. */
static int follow_moved(struct redis_store *s, const redisReply *r, ts_error *err)
{
    const char *addr = memchr(r->str + 6, ' ', r->len - 6);
    const char *colon = addr ? memrchr(addr, ':', r->len - (size_t)(addr - r->str)) : NULL;
    char *host = NULL;
    long port = 0;

    if (colon) {
        port = strtol(colon + 1, NULL, 10);
        host = strndup(addr + 1, (size_t)(colon - addr - 1));
    }
    if (!host || port <= 0 || port > 65535 || !*host) {
        free(host);
        return s->host->error(err, TS_ERR_BACKEND, "%s: cannot follow '%.*s'", s->where,
                              (int)r->len, r->str);
    }
    free(s->moved_host);
    s->moved_host = host;
    s->moved_port = (int)port;
    set_where(s);
    s->host->log(s->ctx, TS_LOG_INFO, "the store's cluster slot is served by %s", s->where);
    disconnect(s);
    int rc = open_socket(s, err);
    return rc == TS_OK ? handshake(s, err) : rc;
}

static int bad_reply(struct redis_store *s, const char *what, ts_error *err)
{
    return s->host->error(err, TS_ERR_BACKEND, "%s: unexpected reply to %s", s->where, what);
}

/* WAIT's answer after a write that succeeded: the number of replicas
 * that have it, at least wait_replicas, else the write is on the master
 * only and a failover now could lose it. */
static int check_wait(struct redis_store *s, const redisReply *wrote, const redisReply *r,
                      ts_error *err)
{
    if (wrote->type == REDIS_REPLY_ERROR)
        return TS_OK;
    if (r->type == REDIS_REPLY_ERROR)
        return s->host->error(err, TS_ERR_BACKEND, "%s: WAIT after the write failed (%.*s): "
                              "the change may or may not be kept", s->where, (int)r->len, r->str);
    if (r->type != REDIS_REPLY_INTEGER)
        return bad_reply(s, "WAIT", err);
    if (r->integer >= s->wait_replicas)
        return TS_OK;
    return s->host->error(err, TS_ERR_TIMEOUT, "%s: the write reached %lld of the %lld "
                          "replicas wait_replicas asks for within %lld ms; a failover could "
                          "still lose it, so the token may or may not be stored", s->where,
                          r->integer, s->wait_replicas, s->wait_timeout_ms);
}

/* Sends the wire buffer and reads the reply into *out; with `wait`, WAIT
 * goes in the same round trip and its answer is checked. */
static int exchange_waiting(struct redis_store *s, int wait, redisReply **out, ts_error *err)
{
    redisReply *replies[2] = { NULL, NULL };

    if (wait && wire_append(s, &s->wait) != TS_OK)
        return s->host->error(err, TS_ERR_NOMEM, "out of memory");
    int rc = exchange(s, replies, wait ? 2 : 1, err);   /* frees them on failure */
    if (rc != TS_OK)
        return rc;
    if (wait)
        rc = check_wait(s, replies[0], replies[1], err);
    free_reply(replies[1]);
    if (rc != TS_OK)
        free_reply(replies[0]);
    else
        *out = replies[0];
    return rc;
}

/*
 * Sends s->cmd and returns its reply (which may be an error reply). A
 * dropped connection is reopened and the command sent again once when
 * `retry` says a replay cannot change the outcome; a MOVED is followed.
 * With Sentinel, READONLY (the master we knew is a replica now) means
 * nothing was written: the sentinels are asked again and the command
 * sent once more. `wait` follows the command with WAIT (wait_replicas).
 */
static int call_waiting(struct redis_store *s, int writing, int retry, int wait,
                        redisReply **out, ts_error *err)
{
    for (int attempt = 0;; attempt++) {
        int rc = ensure_connected(s, writing && !retry, err);
        if (rc != TS_OK)
            return rc;
        if (wire_append(s, &s->cmd) != TS_OK)
            return s->host->error(err, TS_ERR_NOMEM, "out of memory");
        rc = exchange_waiting(s, wait, out, err);
        if (rc == TS_ERR_CONNECT && attempt == 0 && retry) {
            s->host->log(s->ctx, TS_LOG_INFO, "%s", err ? err->message : "connection lost");
            continue;
        }
        if (rc == TS_ERR_CONNECT && writing && !retry)
            return s->host->error(err, TS_ERR_CONNECT,
                                  "%s: connection lost before the reply came; the change "
                                  "may or may not have been applied", s->where);
        if (rc != TS_OK)
            return rc;
        if (is_error(*out, "READONLY") && s->sentinels && attempt == 0) {
            s->host->log(s->ctx, TS_LOG_WARN, "%s is read-only now (a replica after a "
                         "failover?); asking the sentinels again", s->where);
            free_reply(*out);
            *out = NULL;
            disconnect(s);
            continue;
        }
        if (!is_error(*out, "MOVED") || attempt >= 2 || s->socket_path)
            return TS_OK;
        rc = follow_moved(s, *out, err);
        free_reply(*out);
        *out = NULL;
        if (rc != TS_OK)
            return rc;
    }
}

static int call(struct redis_store *s, int writing, int retry, redisReply **out,
                ts_error *err)
{
    return call_waiting(s, writing, retry, 0, out, err);
}

/* ------------------------------------------------------------------ */
/* Scripts                                                             */
/* ------------------------------------------------------------------ */

static void script_begin(struct redis_store *s, enum script which)
{
    cmd_reset(&s->cmd);
    if (s->sha[which][0]) {
        cmd_add(&s->cmd, "EVALSHA", 7);
        cmd_add(&s->cmd, s->sha[which], 40);
    } else {
        cmd_add(&s->cmd, "EVAL", 4);
        cmd_add_str(&s->cmd, script_source[which]);
    }
    cmd_add(&s->cmd, "1", 1);
    cmd_add_str(&s->cmd, s->ids_key);
    cmd_add(&s->cmd, s->base, s->base_len);
}

/* Runs the script built by script_begin and the arguments added since;
 * an error reply becomes a ts_code. NOSCRIPT (a restarted server, another
 * cluster node) means nothing ran: send the source with EVAL. */
static int run_script(struct redis_store *s, enum script which, int writing, int retry,
                      redisReply **out, ts_error *err)
{
    static const char *const what[SCRIPT_COUNT] = {
        "find_token", "save_token", "delete_token", "delete_tokens", "get_tokens", "unlock",
    };
    /* Saves and deletes wait for the replicas; a lock is only a lock. */
    int wait = writing && which != SCRIPT_UNLOCK && s->wait_replicas > 0;
    int rc = call_waiting(s, writing, retry, wait, out, err);

    if (rc == TS_OK && is_error(*out, "NOSCRIPT")) {
        free_reply(*out);
        *out = NULL;
        s->cmd.argv[0] = "EVAL";
        s->cmd.len[0] = 4;
        s->cmd.argv[1] = script_source[which];
        s->cmd.len[1] = strlen(script_source[which]);
        rc = call_waiting(s, writing, retry, wait, out, err);
    }
    if (rc == TS_OK && (*out)->type == REDIS_REPLY_ERROR) {
        rc = reply_error(s, *out, what[which], err);
        free_reply(*out);
        *out = NULL;
    }
    return rc;
}

/* SCRIPT LOAD for every script, pipelined. */
static int load_scripts(struct redis_store *s, ts_error *err)
{
    redisReply *replies[SCRIPT_COUNT] = { NULL };
    struct command load = { 0 };
    int rc = TS_OK;

    for (int i = 0; i < SCRIPT_COUNT && rc == TS_OK; i++) {
        cmd_reset(&load);
        cmd_add_str(&load, "SCRIPT");
        cmd_add_str(&load, "LOAD");
        cmd_add_str(&load, script_source[i]);
        rc = wire_append(s, &load);
    }
    cmd_free(&load);
    if (rc != TS_OK)
        return s->host->error(err, TS_ERR_NOMEM, "out of memory");
    rc = exchange(s, replies, SCRIPT_COUNT, err);
    for (int i = 0; rc == TS_OK && i < SCRIPT_COUNT; i++) {
        if (replies[i]->type == REDIS_REPLY_ERROR)
            rc = reply_error(s, replies[i], "SCRIPT LOAD", err);
        else if (replies[i]->type == REDIS_REPLY_STRING && replies[i]->len == 40)
            memcpy(s->sha[i], replies[i]->str, 41);
    }
    for (int i = 0; i < SCRIPT_COUNT && replies[i]; i++)
        free_reply(replies[i]);
    return rc;
}

/* ------------------------------------------------------------------ */
/* Rows                                                                */
/* ------------------------------------------------------------------ */

/* An HMGET-shaped reply (ten values, nil for absent) into row. */
static int row_from_reply(struct redis_store *s, const redisReply *r, ts_token *row,
                          ts_error *err)
{
    if (r->type != REDIS_REPLY_ARRAY || r->elements != TS_FIELD_COUNT)
        return bad_reply(s, "a token read", err);
    for (int f = 0; f < TS_FIELD_COUNT; f++) {
        const redisReply *v = r->element[f];
        int is_string = v->type == REDIS_REPLY_STRING;
        int rc = s->host->token_setn(row, (ts_field)f, is_string ? v->str : NULL,
                                     is_string ? v->len : 0);
        if (rc == TS_ERR_INVALID)
            return s->host->error(err, TS_ERR_CORRUPT,
                                  "%s: the stored token %.20s has a NUL byte in %s",
                                  s->where, s->host->token_get(row, TS_FIELD_ID),
                                  s->host->field_name((ts_field)f));
        if (rc != TS_OK)
            return s->host->error(err, TS_ERR_NOMEM, "out of memory");
    }
    return TS_OK;
}

/* What the save script filled in (field number, value pairs) back into
 * the caller's token: its id and the values merged from the stored row. */
static int merge_saved(struct redis_store *s, const redisReply *r, ts_token *token,
                       ts_error *err)
{
    if (r->type != REDIS_REPLY_ARRAY || r->elements % 2)
        return bad_reply(s, "save_token", err);
    for (size_t i = 0; i < r->elements; i += 2) {
        const redisReply *f = r->element[i], *v = r->element[i + 1];
        if (f->type != REDIS_REPLY_INTEGER || f->integer < 1 ||
            f->integer > TS_FIELD_COUNT || v->type != REDIS_REPLY_STRING)
            return bad_reply(s, "save_token", err);
        int rc = s->host->token_setn(token, (ts_field)(f->integer - 1), v->str, v->len);
        if (rc == TS_ERR_INVALID)
            return s->host->error(err, TS_ERR_CORRUPT, "%s: a stored value has a NUL byte",
                                  s->where);
        if (rc != TS_OK)
            return s->host->error(err, TS_ERR_NOMEM, "out of memory");
    }
    return TS_OK;
}

/* ------------------------------------------------------------------ */
/* The TokenStore operations                                           */
/* ------------------------------------------------------------------ */

/* row_from_copy's answer for a user key that holds a bare id: the find
 * script, which reads the hash, answers instead. */
#define FIND_BY_SCRIPT (-1)

/* Splits a {P}user:NAME copy ("len:bytes" for each of the ten fields) into
 * value[] and len[]; 0 when it is not one. */
static int split_copy(const char *p, size_t left, const char *value[TS_FIELD_COUNT],
                      size_t len[TS_FIELD_COUNT])
{
    for (int f = 0; f < TS_FIELD_COUNT; f++) {
        size_t n = 0, digits = 0;
        while (digits < left && digits < 19 && p[digits] >= '0' && p[digits] <= '9')
            n = n * 10 + (size_t)(p[digits++] - '0');
        if (digits == 0 || digits == left || p[digits] != ':' || n > left - digits - 1)
            return 0;
        value[f] = p + digits + 1;
        len[f] = n;
        p += digits + 1 + n;
        left -= digits + 1 + n;
    }
    return left == 0;
}

/* A GET of the user's copy of the row into row; TS_NOT_FOUND when the key
 * is missing or names another user (a stray key), FIND_BY_SCRIPT when it
 * holds a bare id (a store written before the copy) and the script must
 * answer. */
static int row_from_copy(struct redis_store *s, const redisReply *r, const char *user,
                         ts_token *row, ts_error *err)
{
    const char *value[TS_FIELD_COUNT];
    size_t len[TS_FIELD_COUNT];

    if (r->type == REDIS_REPLY_ERROR)
        return reply_error(s, r, "find_token", err);
    if (r->type == REDIS_REPLY_NIL)
        return TS_NOT_FOUND;
    if (r->type != REDIS_REPLY_STRING)
        return bad_reply(s, "find_token", err);
    if (!memchr(r->str, ':', r->len))
        return FIND_BY_SCRIPT;
    if (!split_copy(r->str, r->len, value, len))
        return s->host->error(err, TS_ERR_CORRUPT, "%s: the copy of user '%s' is malformed",
                              s->where, user);
    if (len[TS_FIELD_USER_NAME] != strlen(user) ||
        memcmp(value[TS_FIELD_USER_NAME], user, len[TS_FIELD_USER_NAME]) != 0)
        return TS_NOT_FOUND;
    for (int f = 0; f < TS_FIELD_COUNT; f++) {
        int rc = s->host->token_setn(row, (ts_field)f, value[f], len[f]);
        if (rc == TS_ERR_INVALID)
            return s->host->error(err, TS_ERR_CORRUPT,
                                  "%s: the copy of user '%s' has a NUL byte in %s",
                                  s->where, user, s->host->field_name((ts_field)f));
        if (rc != TS_OK)
            return s->host->error(err, TS_ERR_NOMEM, "out of memory");
    }
    return TS_OK;
}

/* The user key "{prefix}user:NAME" in a new buffer, or NULL. */
static char *user_key(const struct redis_store *s, const char *user, size_t *len)
{
    size_t user_len = strlen(user);
    char *key = malloc(s->base_len + 5 + user_len + 1);

    if (key) {
        memcpy(key, s->base, s->base_len);
        memcpy(key + s->base_len, "user:", 5);
        memcpy(key + s->base_len + 5, user, user_len + 1);
        *len = s->base_len + 5 + user_len;
    }
    return key;
}

/* By user name, one GET of the copy of the row the user key holds. The
 * name is copied first: row may be the query itself. */
static int find_by_user(struct redis_store *s, const char *user, ts_token *row, ts_error *err)
{
    size_t key_len;
    char *key = user_key(s, user, &key_len), *name = strdup(user);
    redisReply *r = NULL;
    int rc;

    if (!key || !name) {
        free(key);
        free(name);
        return s->host->error(err, TS_ERR_NOMEM, "out of memory");
    }
    cmd_reset(&s->cmd);
    cmd_add(&s->cmd, "GET", 3);
    cmd_add(&s->cmd, key, key_len);
    rc = call(s, 0, 1, &r, err);
    if (rc == TS_OK)
        rc = row_from_copy(s, r, name, row, err);
    free_reply(r);
    free(key);
    free(name);
    return rc;
}

static int redis_find_token(void *state, const ts_token *query, ts_token *row, ts_error *err)
{
    struct redis_store *s = state;
    ts_field keys[2];
    int n = s->host->lookup_keys(query, keys);
    redisReply *r = NULL;

    if (n > 0 && keys[0] == TS_FIELD_USER_NAME) {
        int rc = find_by_user(s, s->host->token_get(query, TS_FIELD_USER_NAME), row, err);
        if (rc != FIND_BY_SCRIPT)
            return rc;
    }
    script_begin(s, SCRIPT_FIND);
    for (int i = 0; i < n; i++) {
        cmd_add_str(&s->cmd, field_number[keys[i]]);
        cmd_add_str(&s->cmd, s->host->token_get(query, keys[i]));
    }
    int rc = run_script(s, SCRIPT_FIND, 0, 1, &r, err);
    if (rc == TS_OK)
        rc = r->type == REDIS_REPLY_NIL ? TS_NOT_FOUND : row_from_reply(s, r, row, err);
    free_reply(r);
    return rc;
}

/* Whether find_tokens can answer the query with a pipelined GET. */
static const char *piped_user(const struct redis_store *s, const ts_token *query)
{
    ts_field keys[2];

    return s->host->lookup_keys(query, keys) > 0 && keys[0] == TS_FIELD_USER_NAME
               ? s->host->token_get(query, TS_FIELD_USER_NAME) : NULL;
}

/* The GETs of the queries that have a user name, in one pipeline: one
 * round trip for all, replayed once after a lost connection (a read may
 * be). replies[i] stays NULL for the other queries. */
static int pipeline_user_gets(struct redis_store *s, const ts_token *const *queries,
                              size_t n, redisReply **replies, ts_error *err)
{
    redisReply **got = calloc(n, sizeof *got);
    int rc = got ? TS_OK : s->host->error(err, TS_ERR_NOMEM, "out of memory");
    size_t m = 0;

    for (int attempt = 0; rc == TS_OK; attempt++) {
        if ((rc = ensure_connected(s, 0, err)) != TS_OK)
            break;
        m = 0;
        for (size_t i = 0; i < n && rc == TS_OK; i++) {
            const char *user = piped_user(s, queries[i]);
            size_t key_len;
            char *key = user ? user_key(s, user, &key_len) : NULL;
            if (!user)
                continue;
            cmd_reset(&s->cmd);
            cmd_add(&s->cmd, "GET", 3);
            cmd_add(&s->cmd, key ? key : "", key_len);
            if (!key || wire_append(s, &s->cmd) != TS_OK)
                rc = s->host->error(err, TS_ERR_NOMEM, "out of memory");
            free(key);
            m++;
        }
        if (rc == TS_OK && m > 0)
            rc = exchange(s, got, (int)m, err);
        if (rc != TS_ERR_CONNECT || attempt > 0)
            break;
        s->host->log(s->ctx, TS_LOG_INFO, "%s", err ? err->message : "connection lost");
        rc = TS_OK;
    }
    if (rc != TS_OK) {
        explicit_bzero(s->wire, s->wire_len);
        s->wire_len = 0;
    }
    for (size_t i = 0, j = 0; rc == TS_OK && i < n; i++)
        if (piped_user(s, queries[i]))
            replies[i] = got[j++];
    free(got);
    return rc;
}

/* find_tokens: the finds by user name as one pipeline of GETs; the rest,
 * and a reply the GET cannot settle (a MOVED, a bare id from an older
 * store), as find_token. */
static int redis_find_tokens(void *state, const ts_token *const *queries, size_t n,
                             ts_token *const *rows, int *results, ts_error *err)
{
    struct redis_store *s = state;
    redisReply **replies = calloc(n, sizeof *replies);
    int rc = replies ? pipeline_user_gets(s, queries, n, replies, err)
                     : s->host->error(err, TS_ERR_NOMEM, "out of memory");
    int first = TS_OK;

    for (size_t i = 0; i < n; i++) {
        ts_error *e = first == TS_OK ? err : NULL;
        results[i] = rc != TS_OK ? rc : FIND_BY_SCRIPT;
        if (rc == TS_OK && replies[i] && !is_error(replies[i], "MOVED"))
            results[i] = row_from_copy(s, replies[i], piped_user(s, queries[i]), rows[i], e);
        if (results[i] == FIND_BY_SCRIPT)
            results[i] = redis_find_token(s, queries[i], rows[i], e);
        if (first == TS_OK && results[i] != TS_NOT_FOUND)
            first = results[i];
        if (replies)
            free_reply(replies[i]);
    }
    free(replies);
    return rc != TS_OK ? rc : first;
}

static int redis_find_token_by_id(void *state, const char *id, ts_token *row, ts_error *err)
{
    struct redis_store *s = state;
    redisReply *r = NULL;

    snprintf(s->token_key + s->base_len, 6 + 21, "token:%s", id);
    cmd_reset(&s->cmd);
    cmd_add(&s->cmd, "HMGET", 5);
    cmd_add_str(&s->cmd, s->token_key);
    for (int f = 0; f < TS_FIELD_COUNT; f++)
        cmd_add_str(&s->cmd, s->host->field_name((ts_field)f));
    int rc = call(s, 0, 1, &r, err);
    if (rc == TS_OK && r->type == REDIS_REPLY_ERROR)
        rc = reply_error(s, r, "find_token_by_id", err);
    else if (rc == TS_OK && r->type == REDIS_REPLY_ARRAY && r->elements == TS_FIELD_COUNT &&
             r->element[0]->type == REDIS_REPLY_NIL)
        rc = TS_NOT_FOUND;
    else if (rc == TS_OK)
        rc = row_from_reply(s, r, row, err);
    free_reply(r);
    return rc;
}

/* Adds one token to a save script call; says whether replaying it after a
 * lost reply would save it twice (no id and no key to find it again). */
static int add_saved_token(struct redis_store *s, const ts_token *token)
{
    static const char *const count[] = { "0", "1", "2" };
    ts_field keys[2];
    int n = s->host->lookup_keys(token, keys);

    cmd_add(&s->cmd, count[n], 1);
    for (int i = 0; i < n; i++)
        cmd_add_str(&s->cmd, field_number[keys[i]]);
    for (int f = 0; f < TS_FIELD_COUNT; f++)
        cmd_add_str(&s->cmd, s->host->token_get(token, (ts_field)f));
    return n == 0 && !*s->host->token_get(token, TS_FIELD_ID);
}

/* The save script's answer: {rows} or {rows, kind, message}. */
static int save_outcome(struct redis_store *s, const redisReply *r, ts_token *const *tokens,
                        size_t n, size_t first, int batch, ts_error *err)
{
    if (r->type != REDIS_REPLY_ARRAY || r->elements < 1 ||
        r->element[0]->type != REDIS_REPLY_ARRAY || r->element[0]->elements > n)
        return bad_reply(s, "save_token", err);
    const redisReply *rows = r->element[0];
    for (size_t i = 0; i < rows->elements; i++) {
        int rc = merge_saved(s, rows->element[i], tokens[i], err);
        if (rc != TS_OK)
            return rc;
    }
    if (r->elements < 3)
        return rows->elements == n ? TS_OK : bad_reply(s, "save_token", err);
    const redisReply *kind = r->element[1], *message = r->element[2];
    int code = TS_ERR_BACKEND;
    if (kind->type == REDIS_REPLY_STRING && strcmp(kind->str, "CONFLICT") == 0)
        code = TS_ERR_CONFLICT;
    else if (kind->type == REDIS_REPLY_STRING && strcmp(kind->str, "INVALID") == 0)
        code = TS_ERR_INVALID;
    else if (kind->type == REDIS_REPLY_STRING && strcmp(kind->str, "CORRUPT") == 0)
        code = TS_ERR_CORRUPT;
    if (batch)
        return s->host->error(err, code, "token %zu: %.*s", first + rows->elements,
                              (int)message->len, message->str);
    return s->host->error(err, code, "%.*s", (int)message->len, message->str);
}

static int save_batch(struct redis_store *s, ts_token *const *tokens, size_t n, size_t first,
                      int batch, ts_error *err)
{
    char count[24];
    int once_only = 0;
    redisReply *r = NULL;

    snprintf(count, sizeof count, "%zu", n);
    script_begin(s, SCRIPT_SAVE);
    cmd_add_str(&s->cmd, count);
    for (size_t i = 0; i < n; i++)
        once_only |= add_saved_token(s, tokens[i]);
    int rc = run_script(s, SCRIPT_SAVE, 1, !once_only, &r, err);
    if (rc == TS_OK)
        rc = save_outcome(s, r, tokens, n, first, batch, err);
    free_reply(r);
    return rc;
}

static int redis_save_token(void *state, ts_token *token, ts_error *err)
{
    return save_batch(state, &token, 1, 0, 0, err);
}

static int redis_save_tokens(void *state, ts_token *const *tokens, size_t n, ts_error *err)
{
    int rc = TS_OK;

    for (size_t i = 0; i < n && rc == TS_OK; i += SAVE_BATCH)
        rc = save_batch(state, tokens + i, n - i < SAVE_BATCH ? n - i : SAVE_BATCH, i, 1, err);
    return rc;
}

static int redis_delete_token(void *state, const char *id, ts_error *err)
{
    struct redis_store *s = state;
    redisReply *r = NULL;

    script_begin(s, SCRIPT_DELETE);
    cmd_add_str(&s->cmd, id);
    int rc = run_script(s, SCRIPT_DELETE, 1, 0, &r, err);
    if (rc == TS_OK && r->type != REDIS_REPLY_INTEGER)
        rc = bad_reply(s, "delete_token", err);
    else if (rc == TS_OK && r->integer == 0)
        rc = TS_NOT_FOUND;
    free_reply(r);
    return rc;
}

/* Calls cb for each row of one get_tokens page; returns what stopped it. */
static int visit_page(struct redis_store *s, const redisReply *rows, ts_token *token,
                      ts_token_cb cb, void *userdata, ts_error *err)
{
    for (size_t i = 0; i < rows->elements; i++) {
        int rc = row_from_reply(s, rows->element[i], token, err);
        if (rc == TS_OK)
            rc = cb(token, userdata);
        if (rc != TS_OK)
            return rc;
    }
    return TS_OK;
}

static int redis_get_tokens(void *state, ts_token_cb cb, void *userdata, ts_error *err)
{
    struct redis_store *s = state;
    char after[64] = "", page[24];
    ts_token *token = s->host->token_new();
    int rc = token ? TS_OK : s->host->error(err, TS_ERR_NOMEM, "out of memory");
    long long got = PAGE_SIZE;

    snprintf(page, sizeof page, "%d", PAGE_SIZE);
    while (rc == TS_OK && got == PAGE_SIZE) {
        redisReply *r = NULL;
        script_begin(s, SCRIPT_PAGE);
        cmd_add_str(&s->cmd, after);
        cmd_add_str(&s->cmd, page);
        rc = run_script(s, SCRIPT_PAGE, 0, 1, &r, err);
        if (rc == TS_OK && (r->type != REDIS_REPLY_ARRAY || r->elements != 3 ||
                            r->element[0]->type != REDIS_REPLY_STRING ||
                            r->element[0]->len >= sizeof after ||
                            r->element[1]->type != REDIS_REPLY_INTEGER ||
                            r->element[2]->type != REDIS_REPLY_ARRAY))
            rc = bad_reply(s, "get_tokens", err);
        if (rc == TS_OK) {
            memcpy(after, r->element[0]->str, r->element[0]->len + 1);
            got = r->element[1]->integer;
            rc = visit_page(s, r->element[2], token, cb, userdata, err);
        }
        free_reply(r);
    }
    s->host->token_free(token);
    return rc;
}

static int redis_delete_tokens(void *state, ts_error *err)
{
    struct redis_store *s = state;
    char page[24];
    long long left = 1;
    int rc = TS_OK;

    snprintf(page, sizeof page, "%d", PAGE_SIZE);
    while (rc == TS_OK && left > 0) {
        redisReply *r = NULL;
        script_begin(s, SCRIPT_CLEAR);
        cmd_add_str(&s->cmd, page);
        rc = run_script(s, SCRIPT_CLEAR, 1, 1, &r, err);
        if (rc == TS_OK && r->type != REDIS_REPLY_INTEGER)
            rc = bad_reply(s, "delete_tokens", err);
        if (rc == TS_OK)
            left = r->integer;
        free_reply(r);
    }
    return rc;
}

/* ------------------------------------------------------------------ */
/* Opening and closing                                                 */
/* ------------------------------------------------------------------ */

static void store_free(struct redis_store *s)
{
    disconnect(s);
    if (s->password)
        explicit_bzero(s->password, strlen(s->password));
    if (s->sentinel_password)
        explicit_bzero(s->sentinel_password, strlen(s->sentinel_password));
    free(s->sentinel_password);
    free(s->sentinel_user);
    free(s->master_name);
    sentinels_free(s->sentinels);
    cmd_free(&s->wait);
    if (s->wire)
        explicit_bzero(s->wire, s->wire_cap);
    free(s->password);
    free(s->username);
    free(s->host_name);
    free(s->moved_host);
    free(s->socket_path);
    free(s->tls_server_name);
    conn_tls_free(s->tls);
    free(s->base);
    free(s->ids_key);
    free(s->token_key);
    cmd_free(&s->cmd);
    free(s->wire);
    free(s);
}

static int dup_option(struct redis_store *s, const char *key, const char *dflt, char **out)
{
    const char *v = s->host->option(s->ctx, key);

    *out = NULL;
    if (!v)
        v = dflt;
    if (v && !(*out = strdup(v)))
        return TS_ERR_NOMEM;
    return TS_OK;
}

static struct timeval ms_to_timeval(long long ms)
{
    return (struct timeval){ .tv_sec = ms / 1000, .tv_usec = (ms % 1000) * 1000 };
}

static int read_numbers(struct redis_store *s, ts_error *err)
{
    const ts_host *h = s->host;
    long long port, connect_ms, command_ms;
    int rc = h->option_int(s->ctx, "port", DEFAULT_PORT, 1, 65535, &port, err);

    if (rc == TS_OK)
        rc = h->option_int(s->ctx, "db", 0, 0, INT_MAX, &s->db, err);
    if (rc == TS_OK)
        rc = h->option_int(s->ctx, "connect_timeout_ms", DEFAULT_CONNECT_TIMEOUT_MS, 1,
                           3600000, &connect_ms, err);
    if (rc == TS_OK)
        rc = h->option_int(s->ctx, "command_timeout_ms", DEFAULT_COMMAND_TIMEOUT_MS, 0,
                           3600000, &command_ms, err);
    if (rc != TS_OK)
        return rc;
    s->port = (int)port;
    s->connect_timeout = ms_to_timeval(connect_ms);
    s->command_timeout = ms_to_timeval(command_ms);
    return TS_OK;
}

/* An on/off option: 1, 0, dflt when absent, or -1 after filling err. */
static int option_bool(struct redis_store *s, const char *key, int dflt, ts_error *err)
{
    static const char *const on[] = { "1", "on", "true", "yes" };
    static const char *const off[] = { "0", "off", "false", "no" };
    const char *v = s->host->option(s->ctx, key);

    if (!v)
        return dflt;
    for (size_t i = 0; i < sizeof on / sizeof *on; i++) {
        if (strcasecmp(v, on[i]) == 0)
            return 1;
        if (strcasecmp(v, off[i]) == 0)
            return 0;
    }
    s->host->error(err, TS_ERR_CONFIG, "option '%s': '%.40s' is not on or off", key, v);
    return -1;
}

/* The TLS options, when tls is on (rediss:// sets it). Verification is
 * turned off only by name, and every open says so. */
static int read_tls(struct redis_store *s, ts_error *err)
{
    static const char *const tls_only[] = { "tls_ca", "tls_cert", "tls_key",
                                            "tls_server_name", "tls_verify" };
    const ts_host *h = s->host;
    int tls = option_bool(s, "tls", 0, err), verify = option_bool(s, "tls_verify", 1, err);
    char why[512];

    if (tls < 0 || verify < 0)
        return TS_ERR_CONFIG;
    for (size_t i = 0; !tls && i < sizeof tls_only / sizeof *tls_only; i++)
        if (h->option(s->ctx, tls_only[i]))
            return h->error(err, TS_ERR_CONFIG, "option '%s' needs tls on (or a rediss:// URI)",
                            tls_only[i]);
    if (!tls)
        return TS_OK;
    if (s->socket_path)
        return h->error(err, TS_ERR_CONFIG, "Redis has no TLS on a unix socket: give host and "
                        "port with tls, or the socket without it");
    const struct conn_tls_options o = {
        .ca = h->option(s->ctx, "tls_ca"),
        .cert = h->option(s->ctx, "tls_cert"),
        .key = h->option(s->ctx, "tls_key"),
        .verify = verify,
    };
    if (conn_tls_new(&s->tls, &o, why, sizeof why) != 0)
        return h->error(err, TS_ERR_CONFIG, "%s", why);
    if (dup_option(s, "tls_server_name", NULL, &s->tls_server_name) != TS_OK)
        return h->error(err, TS_ERR_NOMEM, "out of memory");
    if (!verify)
        h->log(s->ctx, TS_LOG_WARN, "%s: tls_verify is off: the server's certificate is not "
               "checked, so anyone on the path can read and change the tokens", s->where);
    return TS_OK;
}

/* sentinels, master_name and the sentinels' credentials: all or none. */
static int read_sentinel(struct redis_store *s, ts_error *err)
{
    static const char *const sentinel_only[] = { "master_name", "sentinel_user",
                                                 "sentinel_password" };
    const ts_host *h = s->host;
    const char *list = h->option(s->ctx, "sentinels");
    char why[320];

    for (size_t i = 0; !list && i < sizeof sentinel_only / sizeof *sentinel_only; i++)
        if (h->option(s->ctx, sentinel_only[i]))
            return h->error(err, TS_ERR_CONFIG, "option '%s' needs the sentinels option",
                            sentinel_only[i]);
    if (!list)
        return TS_OK;
    if (h->option(s->ctx, "host") || h->option(s->ctx, "port") || h->option(s->ctx, "socket"))
        return h->error(err, TS_ERR_CONFIG, "with sentinels the master's address comes from "
                        "them: leave out host, port and socket");
    if (!h->option(s->ctx, "master_name") || !*h->option(s->ctx, "master_name"))
        return h->error(err, TS_ERR_CONFIG, "sentinels need master_name, the name they "
                        "monitor the master under");
    if (sentinels_parse(&s->sentinels, list, why, sizeof why) != 0)
        return h->error(err, TS_ERR_CONFIG, "option 'sentinels': %s", why);
    if (dup_option(s, "master_name", NULL, &s->master_name) != TS_OK ||
        dup_option(s, "sentinel_user", NULL, &s->sentinel_user) != TS_OK ||
        dup_option(s, "sentinel_password", NULL, &s->sentinel_password) != TS_OK)
        return h->error(err, TS_ERR_NOMEM, "out of memory");
    return TS_OK;
}

/* wait_replicas and wait_timeout_ms, as the WAIT command sent after each
 * save and delete. WAIT must answer before the command timeout does. */
static int read_wait(struct redis_store *s, ts_error *err)
{
    const ts_host *h = s->host;
    long long command_ms = s->command_timeout.tv_sec * 1000 + s->command_timeout.tv_usec / 1000;
    int rc = h->option_int(s->ctx, "wait_replicas", 0, 0, 1000, &s->wait_replicas, err);

    if (rc == TS_OK)
        rc = h->option_int(s->ctx, "wait_timeout_ms", 1000, 1, 3600000, &s->wait_timeout_ms,
                           err);
    if (rc != TS_OK || s->wait_replicas == 0)
        return rc;
    if (command_ms && s->wait_timeout_ms >= command_ms)
        return h->error(err, TS_ERR_CONFIG, "wait_timeout_ms (%lld) must be less than "
                        "command_timeout_ms (%lld)", s->wait_timeout_ms, command_ms);
    snprintf(s->wait_args[0], sizeof s->wait_args[0], "%lld", s->wait_replicas);
    snprintf(s->wait_args[1], sizeof s->wait_args[1], "%lld", s->wait_timeout_ms);
    cmd_add_str(&s->wait, "WAIT");
    cmd_add_str(&s->wait, s->wait_args[0]);
    cmd_add_str(&s->wait, s->wait_args[1]);
    return s->wait.nomem ? h->error(err, TS_ERR_NOMEM, "out of memory") : TS_OK;
}

static int read_options(struct redis_store *s, ts_error *err)
{
    const ts_host *h = s->host;
    const char *socket_path = h->option(s->ctx, "socket");

    if (socket_path && (h->option(s->ctx, "host") || h->option(s->ctx, "port")))
        return h->error(err, TS_ERR_CONFIG,
                        "give either the socket option or host and port, not both");
    if (socket_path && !*socket_path)
        return h->error(err, TS_ERR_CONFIG, "option 'socket' is empty");
    int rc = read_numbers(s, err);
    if (rc == TS_OK)
        rc = read_sentinel(s, err);
    if (rc == TS_OK)
        rc = read_wait(s, err);
    if (rc != TS_OK)
        return rc;
    if (dup_option(s, "socket", NULL, &s->socket_path) != TS_OK ||
        dup_option(s, "host", socket_path || s->sentinels ? NULL : DEFAULT_HOST,
                   &s->host_name) != TS_OK ||
        dup_option(s, "username", NULL, &s->username) != TS_OK ||
        dup_option(s, "password", NULL, &s->password) != TS_OK)
        return h->error(err, TS_ERR_NOMEM, "out of memory");
    if (s->host_name && !*s->host_name)
        return h->error(err, TS_ERR_CONFIG, "option 'host' is empty");
    set_where(s);
    return read_tls(s, err);
}

/* "{prefix}" and the fixed keys built on it. The braces make the prefix
 * the cluster hash tag, so a '}' inside it would cut the tag short. */
static int build_keys(struct redis_store *s, ts_error *err)
{
    const char *prefix = s->host->option(s->ctx, "prefix");

    if (!prefix)
        prefix = DEFAULT_PREFIX;
    if (!*prefix || strchr(prefix, '}'))
        return s->host->error(err, TS_ERR_CONFIG,
                              "option 'prefix': '%.60s' must be non-empty and without '}' "
                              "(it becomes the cluster hash tag {prefix})", prefix);
    s->base_len = strlen(prefix) + 2;
    s->base = malloc(s->base_len + 1);
    s->ids_key = malloc(s->base_len + 4);
    s->token_key = malloc(s->base_len + 6 + 21);
    if (!s->base || !s->ids_key || !s->token_key)
        return s->host->error(err, TS_ERR_NOMEM, "out of memory");
    snprintf(s->base, s->base_len + 1, "{%s}", prefix);
    snprintf(s->ids_key, s->base_len + 4, "%sids", s->base);
    memcpy(s->token_key, s->base, s->base_len);
    return TS_OK;
}

/* ------------------------------------------------------------------ */
/* Store-wide locks (single-flight OAuth refresh)                      */
/* ------------------------------------------------------------------ */

/* A lock we hold: {P}lock:NAME set to our random tag with SET NX PX, so it
 * expires by itself if we die, and released only while it holds our tag. */
struct held_lock {
    char tag[33];
    char name[];
};

static int redis_try_lock(void *state, const char *name, int64_t ttl_ms, void **handle,
                          ts_error *err)
{
    struct redis_store *s = state;
    struct held_lock *l = malloc(sizeof *l + strlen(name) + 1);
    unsigned char random[16];
    char *key = NULL, ttl[24];
    redisReply *r = NULL;

    if (!l || getrandom(random, sizeof random, 0) != (ssize_t)sizeof random ||
        asprintf(&key, "%slock:%s", s->base, name) < 0) {
        free(l);
        return s->host->error(err, TS_ERR_NOMEM, "no memory or randomness for a lock");
    }
    strcpy(l->name, name);
    for (size_t i = 0; i < sizeof random; i++)
        snprintf(l->tag + 2 * i, 3, "%02x", random[i]);
    snprintf(ttl, sizeof ttl, "%lld", (long long)ttl_ms);
    cmd_reset(&s->cmd);
    cmd_add_str(&s->cmd, "SET");
    cmd_add_str(&s->cmd, key);
    cmd_add_str(&s->cmd, l->tag);
    cmd_add_str(&s->cmd, "NX");
    cmd_add_str(&s->cmd, "PX");
    cmd_add_str(&s->cmd, ttl);
    int rc = call(s, 1, 0, &r, err);
    if (rc == TS_OK && r->type == REDIS_REPLY_ERROR)
        rc = reply_error(s, r, "taking a lock", err);
    else if (rc == TS_OK && r->type == REDIS_REPLY_NIL)
        rc = TS_ERR_BUSY;
    else if (rc == TS_OK && r->type != REDIS_REPLY_STATUS)
        rc = bad_reply(s, "taking a lock", err);
    free_reply(r);
    free(key);
    if (rc != TS_OK) {
        free(l);
        return rc;
    }
    *handle = l;
    return TS_OK;
}

static int redis_unlock(void *state, void *handle, ts_error *err)
{
    struct redis_store *s = state;
    struct held_lock *l = handle;
    redisReply *r = NULL;

    script_begin(s, SCRIPT_UNLOCK);
    cmd_add_str(&s->cmd, l->name);
    cmd_add_str(&s->cmd, l->tag);
    int rc = run_script(s, SCRIPT_UNLOCK, 1, 1, &r, err);
    free_reply(r);
    free(l);
    return rc;
}

static int redis_open(const ts_host *host, ts_backend_ctx *ctx, void **state, ts_error *err)
{
    struct redis_store *s = calloc(1, sizeof *s);
    int rc;

    if (!s)
        return host->error(err, TS_ERR_NOMEM, "out of memory");
    s->host = host;
    s->ctx = ctx;
    rc = read_options(s, err);
    if (rc == TS_OK)
        rc = build_keys(s, err);
    if (rc == TS_OK)
        rc = connect_store(s, err);
    if (rc == TS_OK)
        rc = load_scripts(s, err);
    if (rc != TS_OK) {
        store_free(s);
        return rc;
    }
    *state = s;
    return TS_OK;
}

static void redis_close(void *state)
{
    store_free(state);
}

static const ts_backend redis_backend = {
    .size = sizeof(ts_backend),
    .abi_major = TS_ABI_MAJOR,
    .abi_minor = TS_ABI_MINOR,
    .name = "redis",
    .version = "1.0.0",
    .description = "tokens on a Redis server or cluster, shared by many processes and hosts",
    .caps = TS_CAP_PERSISTENT | TS_CAP_SHARED | TS_CAP_OPEN_FLAGS,
    .options = redis_options,
    .open = redis_open,
    .close = redis_close,
    .find_token = redis_find_token,
    .save_token = redis_save_token,
    .delete_token = redis_delete_token,
    .get_tokens = redis_get_tokens,
    .delete_tokens = redis_delete_tokens,
    .find_token_by_id = redis_find_token_by_id,
    .save_tokens = redis_save_tokens,
    .try_lock = redis_try_lock,
    .unlock = redis_unlock,
    .find_tokens = redis_find_tokens,
};

TS_BACKEND_DEFINE(redis_backend)
