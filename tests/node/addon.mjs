// tests/node/addon.mjs - the addon's Store, run by tests/node/addon.test.
//
// Each backend (memory, file, sqlite, redis) goes through every method with
// values read back and compared; then the errors (codes, and no secret in
// any message; unknown fields and lone surrogates refused), concurrent
// calls, close, and the event loop check: a find
// on a redis server held busy by DEBUG SLEEP resolves after a timer set
// after the call was made, which a call run on the loop could not allow.
import { connect } from "node:net";
import { join } from "node:path";
import { ok, is, like, rejects, done } from "./tap.mjs";

const ts = await import(process.env.TS_BINDING);
const scratch = process.env.SCRATCH;
const port = process.env.REDIS_PORT;
const SECRET = "1000.SECRETREFRESHVALUE.0123456789";

const token = (fields) => Object.fromEntries(ts.FIELDS.map((f) => [f, fields[f] ?? null]));
const user = (name, extra = {}) => ({ user_name: name, client_id: "1000.CID", client_secret: "csecret",
                                     refresh_token: `1000.r.${name}`, ...extra });

async function methods(name, spec) {
    const store = await ts.open(spec);
    ok(store instanceof ts.Store, `${name}: open resolves to a Store`);
    await store.clear();
    const saved = await store.save(user("a@example.test", { expiry_time: 1714564800000 }));
    is(saved, token({ id: "1", ...user("a@example.test"), expiry_time: "1714564800000" }),
       `${name}: save answers the stored token with id 1, absent fields null`);
    const found = await store.find({ user_name: "a@example.test", api_domain: "https://mine" });
    is([found.id, found.refresh_token, found.api_domain], ["1", "1000.r.a@example.test", "https://mine"],
       `${name}: find fills only the fields left empty`);
    is(await store.find({ user_name: "nobody@example.test" }), null, `${name}: a find that misses is null`);
    is(await store.findById("1"), saved, `${name}: findById answers the stored token`);
    is(await store.findById("99"), null, `${name}: findById of a missing id is null`);
    const many = await store.saveMany([user("b@example.test"), user("c@example.test"), user("d@example.test")]);
    is(many.map((t) => t.id), ["2", "3", "4"], `${name}: saveMany answers the new ids in order`);
    is((await store.tokens()).map((t) => t.user_name),
       ["a@example.test", "b@example.test", "c@example.test", "d@example.test"],
       `${name}: tokens lists every token in id order`);
    await store.delete("2");
    await rejects(store.delete("2"), "TS_NOT_FOUND", /./, `${name}: deleting a missing id rejects TS_NOT_FOUND`);
    const ids = await Promise.all(Array.from({ length: 24 }, (_, i) =>
        store.save(user(`u${i}@example.test`)).then((t) => t.id)));
    is(new Set(ids).size, 24, `${name}: 24 concurrent saves get 24 distinct ids`);
    const back = await Promise.all(Array.from({ length: 24 }, (_, i) =>
        store.find({ user_name: `u${i}@example.test` }).then((t) => t.id)));
    is(back, ids, `${name}: 24 concurrent finds each answer their own token`);
    // Finds made in one tick go to the store as one batch (one round trip
    // on redis); each still settles on its own: a hit, a miss, a keyless
    // query, a bad argument.
    const mixed = await Promise.allSettled([
        store.find({ user_name: "u3@example.test" }), store.find({ user_name: "nobody@example.test" }),
        store.find({ refresh_token: SECRET }), store.find({ user_name: 7 }), store.find("no"),
        store.find({ user_name: "u5@example.test", api_domain: "https://mine" })]);
    is(mixed.map((r) => r.status === "fulfilled" ? r.value && r.value.id : r.reason.code),
       [ids[3], null, "TS_ERR_INVALID", null, "TS_ERR_INVALID", ids[5]],
       `${name}: a batch of finds settles each on its own`);
    ok(/lookup key/.test(mixed[2].reason.message) && /token must be an object/.test(mixed[4].reason.message),
       `${name}: each failed find has its own message`);
    is(mixed[5].value.api_domain, "https://mine", `${name}: a batched find fills only empty fields`);
    await store.clear();
    is(await store.tokens(), [], `${name}: clear deletes every token`);
    await store.close();
    await rejects(store.tokens(), "TS_ERR_INVALID", /closed/, `${name}: a closed store rejects calls`);
}

async function errors(spec) {
    const store = await ts.open(spec);
    await rejects(store.find({ refresh_token: SECRET }), "TS_ERR_INVALID", /lookup key/,
                  "a token without a usable key rejects TS_ERR_INVALID");
    try {
        await store.find({ refresh_token: SECRET });
    } catch (e) {
        ok(!e.message.includes(SECRET) && !e.message.includes("SECRETREFRESH"),
           "the message does not hold the refresh token");
    }
    await rejects(store.save(42), "TS_ERR_INVALID", /token must be an object/, "a token that is not an object is refused");
    await rejects(store.save({ user_name: { a: 1 }, access_token: "x" }), "TS_ERR_INVALID",
                  /token\.user_name must be a string/, "a field that is not a string is named");
    await rejects(store.saveMany([user("x@example.test"), "no"]), "TS_ERR_INVALID", /tokens\[1\]/,
                  "saveMany names the index of a bad token");
    await rejects(store.findById(undefined), "TS_ERR_INVALID", /id must be a string/, "findById needs an id");
    is(await store.tokens(), [], "a refused saveMany saves nothing");
    await fields(store);
    await store.close();
    await rejects(ts.open("nosuchbackend:/x"), "TS_ERR_LOAD", /nosuchbackend/, "an unknown backend rejects TS_ERR_LOAD");
    const readOnly = await ts.open(spec, { readOnly: true });
    await rejects(readOnly.save(user("ro@example.test")), "TS_ERR_READ_ONLY", /./,
                  "a save through a store opened readOnly rejects TS_ERR_READ_ONLY");
    await readOnly.close();
    await rejects(ts.open(join(scratch, "nosuch.json")), "TS_ERR_CONFIG", /nosuch\.json/,
                  "a missing config file rejects TS_ERR_CONFIG naming it");
}

// Passes when promise rejects with an instance of cls whose code and
// message match.
async function rejectsAs(promise, cls, code, re, what) {
    try {
        await promise;
        ok(false, `${what} (it resolved)`);
    } catch (e) {
        ok(e instanceof cls && e.code === code && re.test(e.message),
           `${what}${e instanceof cls ? "" : ` (got ${e?.constructor?.name})`}`);
        if (!re.test(e.message))
            console.log(`# got: ${e.code}: ${e.message}`);
    }
}

// A key that is no field's name is refused, not dropped: the SDK's own
// camelCase names would otherwise save a token without its refresh
// token. A lone surrogate is refused, not turned into U+FFFD: two
// different user names would otherwise be one user in the store.
async function fields(store) {
    await rejectsAs(store.save({ user_name: "camel@example.test", refresh_token: "1000.r", accessToken: "1000.a" }),
                    TypeError, "TS_ERR_INVALID", /^token\.accessToken is not a token field \(did you mean access_token\?\)$/,
                    "save: an unknown field is a TypeError naming it and the field meant");
    await rejectsAs(store.find({ userName: "camel@example.test" }), TypeError, "TS_ERR_INVALID",
                    /^token\.userName is not a token field \(did you mean user_name\?\)$/,
                    "find: an unknown field is a TypeError naming it");
    await rejectsAs(store.saveMany([user("ok@example.test"), { ...user("x@example.test"), expires_in: 1 }]),
                    TypeError, "TS_ERR_INVALID", /^tokens\[1\]\.expires_in is not a token field \(the fields are id, user_name, /,
                    "saveMany: an unknown field names the token's index and lists the fields");
    await rejectsAs(store.save({ ...user("a\uD800@example.test") }), RangeError, "TS_ERR_INVALID",
                    /^token\.user_name holds a lone surrogate at index 1 /,
                    "save: a lone high surrogate is a RangeError naming the field and where");
    await rejectsAs(store.save({ ...user("b@example.test"), refresh_token: "1000.r\uDC00" }), RangeError,
                    "TS_ERR_INVALID", /^token\.refresh_token holds a lone surrogate at index 6 /,
                    "save: a lone low surrogate is refused too");
    await rejectsAs(store.findById("1\uDBFF"), RangeError, "TS_ERR_INVALID", /^id holds a lone surrogate at index 1 /,
                    "findById: an id with a lone surrogate is a RangeError");
    await rejectsAs(ts.open(`sqlite:${join(scratch, "lone\uDFFF.db")}`), RangeError, "TS_ERR_INVALID",
                    /^spec holds a lone surrogate at index \d+ /, "open: a spec with a lone surrogate is a RangeError");
    is(await store.tokens(), [], "nothing refused was saved");
    const pair = await store.save(user("pair\uD83D\uDE00@example.test"));
    is((await store.find({ user_name: "pair\uD83D\uDE00@example.test" })).id, pair.id,
       "a surrogate pair (an emoji) is text, and round-trips");
    await store.clear();
}

// Sends one command on its own connection; resolves on its reply.
function redisCommand(...args) {
    return new Promise((resolve, reject) => {
        const sock = connect(Number(port), "127.0.0.1");
        sock.on("error", reject);
        sock.on("data", (d) => { sock.end(); resolve(d.toString()); });
        sock.write(`*${args.length}\r\n` + args.map((a) => `$${Buffer.byteLength(a)}\r\n${a}\r\n`).join(""));
    });
}

async function eventLoop() {
    const store = await ts.open(`redis://127.0.0.1:${port}/3?prefix=loop:`);
    await store.save(user("loop@example.test"));
    const events = [];
    const sleeping = redisCommand("DEBUG", "SLEEP", "0.5");
    await new Promise((r) => setTimeout(r, 50));   // the server has the DEBUG by now
    const found = store.find({ user_name: "loop@example.test" }).then((t) => events.push(`find ${t.id}`));
    setTimeout(() => events.push("timer"), 10);
    await found;
    is(await sleeping, "+OK\r\n", "DEBUG SLEEP held the server");
    is(events, ["timer", "find 1"], "a timer set after the find fired while the find was in flight");
    await store.clear();
    await store.close();
}

// Finds by user name on redis are sent and read by the event loop: they
// settle while the libuv pool's only thread is busy (a child process with
// UV_THREADPOOL_SIZE=1 and a long pbkdf2 on it); a find on a connection
// the server dropped, or past the command timeout, goes to the pool and
// settles there.
async function findsOnTheLoop() {
    const child = `
        import { pbkdf2 } from "node:crypto";
        const ts = await import(process.env.TS_BINDING);
        const store = await ts.open("redis://127.0.0.1:${port}/3?prefix=pool:");
        await store.save({ user_name: "pool@example.test", refresh_token: "1000.r.pool",
                           client_id: "c", client_secret: "s" });
        let hashed = false;
        pbkdf2("x", "y", 3000000, 32, "sha512", () => { hashed = true; });
        const found = await Promise.all([1, 2, 3].map(() => store.find({ user_name: "pool@example.test" })));
        console.log(JSON.stringify({ ids: found.map((t) => t.id), hashed }));
        await new Promise((r) => setTimeout(r, 0));
        process.exit(0);`;
    const { execFileSync } = await import("node:child_process");
    const out = JSON.parse(execFileSync(process.execPath, ["--input-type=module", "-e", child],
                                        { env: { ...process.env, UV_THREADPOOL_SIZE: "1" } }));
    is(out, { ids: ["1", "1", "1"], hashed: false },
       "redis: finds by user settle while the pool's only thread is busy");

    const store = await ts.open(`redis://127.0.0.1:${port}/3?prefix=drop:&command_timeout_ms=300`);
    const saved = await store.save(user("drop@example.test"));
    await redisCommand("CLIENT", "KILL", "TYPE", "normal", "SKIPME", "yes");
    is((await store.find({ user_name: "drop@example.test" })).id, saved.id,
       "redis: a find on a connection the server dropped still answers");
    const sleeping = redisCommand("DEBUG", "SLEEP", "1");
    await new Promise((r) => setTimeout(r, 50));
    await rejects(store.find({ user_name: "drop@example.test" }), "TS_ERR_TIMEOUT", /300 ms/,
                  "redis: a find past the command timeout rejects TS_ERR_TIMEOUT");
    await sleeping;
    is((await store.find({ user_name: "drop@example.test" })).id, saved.id,
       "redis: the next find answers");
    await store.clear();
    await store.close();
}

await methods("memory", "memory:");
await methods("file", `file:${join(scratch, "tokens.csv")}`);
await methods("sqlite", `sqlite:${join(scratch, "tokens.db")}`);
await methods("redis", `redis://127.0.0.1:${port}/2?prefix=addon:`);
await errors(`sqlite:${join(scratch, "errors.db")}`);
await eventLoop();
await findsOnTheLoop();
like(ts.version, /^\d+\.\d+\.\d+/, "version is the library's");
done();
