/*
 * tests/redis/walk.h - the looks at a server the redis tests share: the
 * consistency walk, a Lua script, written independently of the
 * backend's, that checks a store's tokens and index keys against each
 * other on the server; and the count of connections a server accepted.
 */
#ifndef TS_TEST_REDIS_WALK_H
#define TS_TEST_REDIS_WALK_H

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <hiredis/hiredis.h>

/*
 * Walks every key of the store with prefix P and checks that the indexes
 * and the tokens agree both ways. The layout it checks is the backend's
 * documented one ({P}token:ID, {P}ids, {P}next_id, {P}user:NAME holding
 * the row as "len:bytes" per field, {P}access|refresh|grant:SHA1 sorted
 * sets). Returns {tokens, index keys, problems...}.
 */
static const char consistency_lua[] =
    "local base = ARGV[1]\n"
    "local FIELD = {user = 'user_name', refresh = 'refresh_token',\n"
    "               access = 'access_token', grant = 'grant_token'}\n"
    "local problems, ntok, nidx = {}, 0, 0\n"
    "local function bad(s) if #problems < 20 then problems[#problems + 1] = s end end\n"
    "local function member(id) return string.rep('0', 20 - #id) .. id end\n"
    "local function id_of(m)\n"
    "  local c = string.gsub(m, '^0+', '')\n"
    "  return c == '' and '0' or c\n"
    "end\n"
    "local NAMES = {'id', 'user_name', 'client_id', 'client_secret', 'refresh_token',\n"
    "  'access_token', 'grant_token', 'expiry_time', 'redirect_url', 'api_domain'}\n"
    /* The ten fields of a user key's copy, or nil and why not. */
    "local function split_copy(c)\n"
    "  local out, at = {}, 1\n"
    "  for i = 1, 10 do\n"
    "    local digits = string.match(c, '^%d+:', at)\n"
    "    if not digits then return nil, 'field ' .. i .. ' has no length' end\n"
    "    local n = tonumber(string.sub(digits, 1, -2))\n"
    "    at = at + #digits\n"
    "    if at + n - 1 > #c then return nil, 'field ' .. i .. ' is cut short' end\n"
    "    out[i] = string.sub(c, at, at + n - 1)\n"
    "    at = at + n\n"
    "  end\n"
    "  if at ~= #c + 1 then return nil, 'bytes after the tenth field' end\n"
    "  return out\n"
    "end\n"
    /* Why the copy at user key ik differs from the hash of token id, or nil. */
    "local function copy_differs(ik, id)\n"
    "  local c = redis.call('GET', ik)\n"
    "  if not c then return 'missing' end\n"
    "  local f, why = split_copy(c)\n"
    "  if not f then return why end\n"
    "  if f[1] ~= id then return 'names id ' .. f[1] end\n"
    "  local h = redis.call('HMGET', base .. 'token:' .. id, unpack(NAMES))\n"
    "  for i = 1, 10 do\n"
    "    if f[i] ~= (h[i] or '') then return NAMES[i] .. ' differs from the hash' end\n"
    "  end\n"
    "end\n"
    "local function index_name(kind, v)\n"
    "  if kind == 'user' then return base .. 'user:' .. v end\n"
    "  return base .. kind .. ':' .. redis.sha1hex(v)\n"
    "end\n"
    "local function check_token(key, id)\n"
    "  ntok = ntok + 1\n"
    "  if redis.call('HGET', key, 'id') ~= id then bad(key .. ': wrong id field') end\n"
    "  if not redis.call('ZSCORE', base .. 'ids', member(id)) then bad(key .. ': not in ids') end\n"
    "  for kind, field in pairs(FIELD) do\n"
    "    local v = redis.call('HGET', key, field)\n"
    "    if v then\n"
    "      local ik = index_name(kind, v)\n"
    "      local ok\n"
    "      if kind == 'user' then\n"
    "        local why = copy_differs(ik, id)\n"
    "        if why then bad(ik .. ': copy of token ' .. id .. ': ' .. why) end\n"
    "        ok = true\n"
    "      else ok = redis.call('ZSCORE', ik, member(id)) end\n"
    "      if not ok then bad(key .. ': no ' .. kind .. ' index entry') end\n"
    "    end\n"
    "  end\n"
    "end\n"
    "local function check_index(key, kind, value)\n"
    "  nidx = nidx + 1\n"
    "  local ids\n"
    "  if kind == 'user' then\n"
    "    local f, why = split_copy(redis.call('GET', key))\n"
    "    if not f then bad(key .. ': ' .. why); return end\n"
    "    ids = {f[1]}\n"
    "  else ids = {}\n"
    "    for _, m in ipairs(redis.call('ZRANGE', key, 0, -1)) do ids[#ids + 1] = id_of(m) end\n"
    "  end\n"
    "  if #ids == 0 then bad(key .. ': empty index') end\n"
    "  for _, id in ipairs(ids) do\n"
    "    local v = redis.call('HGET', base .. 'token:' .. id, FIELD[kind])\n"
    "    if not v then bad(key .. ': points at missing token ' .. id)\n"
    "    elseif (kind == 'user' and v ~= value) or\n"
    "           (kind ~= 'user' and redis.sha1hex(v) ~= value) then\n"
    "      bad(key .. ': token ' .. id .. ' holds another value') end\n"
    "  end\n"
    "end\n"
    "local cursor = '0'\n"
    "repeat\n"
    "  local r = redis.call('SCAN', cursor, 'MATCH', base .. '*', 'COUNT', 1000)\n"
    "  cursor = r[1]\n"
    "  for _, key in ipairs(r[2]) do\n"
    "    local rest = string.sub(key, #base + 1)\n"
    "    local kind, value = string.match(rest, '^(%a+):(.*)$')\n"
    "    if kind == 'token' then check_token(key, value)\n"
    "    elseif kind and FIELD[kind] then check_index(key, kind, value)\n"
    "    elseif rest == 'ids' then\n"
    "      for _, m in ipairs(redis.call('ZRANGE', key, 0, -1)) do\n"
    "        if redis.call('EXISTS', base .. 'token:' .. id_of(m)) == 0 then\n"
    "          bad('ids: ' .. m .. ' has no token') end\n"
    "      end\n"
    "    elseif rest ~= 'next_id' then bad('unknown key ' .. key) end\n"
    "  end\n"
    "until cursor == '0'\n"
    "local result = {ntok, nidx}\n"
    "for _, p in ipairs(problems) do result[#result + 1] = p end\n"
    "return result\n";

/* Runs the walk; asserts no problem; returns the token count and sets
 * *index_keys. */
static inline long long check_consistency(redisContext *c, const char *prefix,
                                          long long *index_keys)
{
    char base[256];
    snprintf(base, sizeof base, "{%s}", prefix);
    redisReply *r = redisCommand(c, "EVAL %s 0 %s", consistency_lua, base);
    ck_assert_msg(r && r->type == REDIS_REPLY_ARRAY && r->elements >= 2, "walk failed: %s",
                  r && r->type == REDIS_REPLY_ERROR ? r->str : "?");
    for (size_t i = 2; i < r->elements; i++)
        fprintf(stderr, "# inconsistent: %s\n", r->element[i]->str);
    ck_assert_msg(r->elements == 2, "%zu index problems, first: %s", r->elements - 2,
                  r->elements > 2 ? r->element[2]->str : "");
    long long n = r->element[0]->integer;
    if (index_keys)
        *index_keys = r->element[1]->integer;
    freeReplyObject(r);
    return n;
}

/* The server's count of connections it accepted so far. */
static inline long long connections_received(redisContext *c)
{
    redisReply *r = redisCommand(c, "INFO stats");
    ck_assert(r && r->type == REDIS_REPLY_STRING);
    const char *at = strstr(r->str, "total_connections_received:");
    ck_assert_ptr_nonnull(at);
    long long n = atoll(at + strlen("total_connections_received:"));
    freeReplyObject(r);
    return n;
}

#endif
