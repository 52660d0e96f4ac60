// bench/bench_node.mjs - the Node addon's find on redis against the redis
// npm client, in the same run (only the ratio carries between machines).
//
// 16 promises in flight in one process, each awaiting a find of a random
// user and starting the next: ops/s of Store.find by user_name against the
// same loop of GETs of the same users' keys ({P}user:NAME, which a find by
// user reads) through the `redis` client. The runs alternate, three each,
// and the best of each side counts, so a burst of other work on the
// machine does not land on one side only. Both sides pipeline: the
// client sends the sixteen GETs of a tick in one write, and the Store
// sends the finds of a tick as one ts_find_tokens batch (one round trip
// on redis). For scale, the finds are also set against the client's GETs
// on sixteen connections (nothing pipelined), and against one GET in
// flight. Each
// side also prints the CPU time a call cost, in this process and in
// redis-server (INFO cpu): where the gap comes from.
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

// redis-server's CPU seconds so far, user and system.
async function serverCpu() {
    const info = await client.info("cpu");
    return ["used_cpu_user", "used_cpu_sys"].reduce(
        (sum, k) => sum + Number(info.match(new RegExp(`${k}:([\\d.]+)`))[1]), 0);
}

// `op(random user index, worker)` kept inFlight deep (one worker each) for
// OPS calls: ops/s, and the CPU µs per call of this process and of the
// server.
async function rate(op, inFlight) {
    let started = 0;
    const server0 = await serverCpu(), cpu0 = process.cpuUsage();
    const t0 = process.hrtime.bigint();
    await Promise.all(Array.from({ length: inFlight }, async (_, w) => {
        while (started++ < OPS)
            await op(Math.floor(Math.random() * TOKENS), w);
    }));
    const ops = OPS / (Number(process.hrtime.bigint() - t0) / 1e9);
    const cpu = process.cpuUsage(cpu0);
    return { ops, node: (cpu.user + cpu.system) / OPS, server: (await serverCpu() - server0) * 1e6 / OPS };
}

const store = await ts.open(`redis://127.0.0.1:${port}/0?prefix=bench:`);
await store.clear();
await fill(store);
const connect = () => createClient({ socket: { host: "127.0.0.1", port } }).connect();
const client = await connect();
// For scale: the same client on one connection per call in flight, so
// that nothing is pipelined.
const clients = await Promise.all(Array.from({ length: IN_FLIGHT }, connect));

const find = async (i) => {
    if ((await store.find({ user_name: name(i) }))?.user_name !== name(i))
        throw new Error(`find of ${name(i)} missed`);
};
const getOn = (c) => async (i) => {
    if (!(await c.get(`{bench:}user:${name(i)}`)))
        throw new Error(`GET of ${name(i)} missed`);
};
const get = getOn(client);
const getOwn = (i, w) => getOn(clients[w])(i);
const best = (a, b) => (b.ops > a.ops ? b : a);
const cpu = (r) => `CPU/call ${r.node.toFixed(1)} µs here + ${r.server.toFixed(1)} µs server`;

// Best of ROUNDS alternating runs of each side, `inFlight` deep.
async function compare(inFlight, base, what, note) {
    let ours = { ops: 0 }, theirs = { ops: 0 };
    for (let r = 0; r < ROUNDS; r++) {
        ours = best(ours, await rate(find, inFlight));
        theirs = best(theirs, await rate(base, inFlight));
    }
    console.log(`node  redis find, ${String(inFlight).padStart(2)} promises ${TOKENS} tokens ` +
                `${ours.ops.toFixed(0).padStart(7)} ops/s | redis npm client GET, ${what} ` +
                `${theirs.ops.toFixed(0).padStart(7)} ops/s | ${(theirs.ops / ours.ops).toFixed(2)}x ${note}`);
    console.log(`      find ${cpu(ours)} | GET ${cpu(theirs)}`);
}

await rate(find, IN_FLIGHT);    // warm both sides: connections, the pool's threads, JIT
await rate(get, IN_FLIGHT);
await rate(getOwn, IN_FLIGHT);
await compare(IN_FLIGHT, get, `${IN_FLIGHT} in flight`, `(target <= ${TARGET}x)`);
await compare(IN_FLIGHT, getOwn, `${IN_FLIGHT} in flight on ${IN_FLIGHT} connections`, "(for scale)");
await compare(1, get, "1 in flight", "(for scale)");
await store.clear();
await store.close();
await Promise.all([client, ...clients].map((c) => c.quit()));
