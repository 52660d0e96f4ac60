// bench/bench_node.mjs - the Node addon's find on redis against the redis
// npm client, in the same run (only the ratio carries between machines).
//
// 16 promises in flight in one process, each awaiting a find of a random
// user and starting the next: ops/s of Store.find by user_name against the
// same loop of GETs of the same users' keys ({P}user:NAME, which a find by
// user reads) through the `redis` client. The runs alternate, three each,
// and the best of each side counts, so a burst of other work on the
// machine does not land on one side only. The same comparison with one
// call in flight is printed for scale: the client pipelines the sixteen
// GETs on its one connection (one write, one read for all), while each
// find is its own round trip on one of the Store's handles.
import { createRequire } from "node:module";
import { join } from "node:path";

const ts = await import(process.env.TS_BINDING);
const { createClient } = createRequire(join(process.env.NODE_DEPS, "package.json"))("redis");
const port = Number(process.env.REDIS_PORT);
const TOKENS = 10000, OPS = 20000, IN_FLIGHT = 16, ROUNDS = 3, TARGET = 1.5;

const name = (i) => `user${i}@example.com`;

async function fill(store) {
    for (let i = 0; i < TOKENS; i += 1000)
        await store.saveMany(Array.from({ length: 1000 }, (_, j) => ({
            user_name: name(i + j), client_id: "1000.BENCH", client_secret: "bench-secret",
            refresh_token: `1000.refresh.${i + j}`, access_token: `1000.access.${i + j}`,
            expiry_time: "1714564800000" })));
}

// ops/s of `op(random user index)` kept inFlight deep for OPS calls.
async function rate(op, inFlight) {
    let started = 0;
    const t0 = process.hrtime.bigint();
    await Promise.all(Array.from({ length: inFlight }, async () => {
        while (started++ < OPS)
            await op(Math.floor(Math.random() * TOKENS));
    }));
    return OPS / (Number(process.hrtime.bigint() - t0) / 1e9);
}

const store = await ts.open(`redis://127.0.0.1:${port}/0?prefix=bench:`);
await store.clear();
await fill(store);
const client = createClient({ socket: { host: "127.0.0.1", port } });
await client.connect();

const find = async (i) => {
    if ((await store.find({ user_name: name(i) }))?.user_name !== name(i))
        throw new Error(`find of ${name(i)} missed`);
};
const get = async (i) => {
    if (!(await client.get(`{bench:}user:${name(i)}`)))
        throw new Error(`GET of ${name(i)} missed`);
};
// Best of ROUNDS alternating runs of each side, `inFlight` deep.
async function compare(inFlight) {
    let ours = 0, base = 0;
    for (let r = 0; r < ROUNDS; r++) {
        ours = Math.max(ours, await rate(find, inFlight));
        base = Math.max(base, await rate(get, inFlight));
    }
    const ratio = base / ours;
    console.log(`node  redis find, ${String(inFlight).padStart(2)} promises ${TOKENS} tokens ` +
                `${ours.toFixed(0).padStart(7)} ops/s | redis npm client GET, ${inFlight} in flight ` +
                `${base.toFixed(0).padStart(7)} ops/s | ${ratio.toFixed(2)}x` +
                (inFlight === IN_FLIGHT ? ` (target <= ${TARGET}x)` : " (for scale)"));
}

await rate(find, IN_FLIGHT);    // warm both sides: connections, the pool's threads, JIT
await rate(get, IN_FLIGHT);
await compare(IN_FLIGHT);
await compare(1);
await store.clear();
await store.close();
await client.quit();
