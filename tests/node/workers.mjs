// tests/node/workers.mjs - the addon in worker_threads, run by
// tests/node/workers.test.
//
// Each Worker loads the addon into an environment of its own; one that
// exits or is terminated must leave the others, and the main thread,
// working. Every scenario runs in a child process, so that a crash (an
// abort at a Worker's exit, a loop closed with handles open) is seen as
// the child's exit status and not only as missing output:
//
//   exit       rounds of 4 Workers that open a store, save and find, and
//              return (half close their store, half leave it open); after
//              each round the main thread opens a store and uses it.
//   terminate  rounds of 4 Workers terminated while saves and finds are
//              in flight (on redis, also while finds the event loop sent
//              wait on a server held busy by DEBUG SLEEP); afterwards every
//              save a Worker saw acknowledged is in the store, and the
//              main thread's store works.
//   loop       (redis) rounds of 4 Workers terminated while the one find
//              each has in flight, which the event loop sent, waits on a
//              server held busy by DEBUG SLEEP: no call on the libuv pool
//              keeps the Worker's loop running, so only the addon's
//              cleanup can close the watch on the socket and free the
//              handle it holds.
//
// The same file is the TAP parent and the child (argv "child"); the
// Workers run tests/node/workers-worker.mjs.
import { execFile } from "node:child_process";
import { connect } from "node:net";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { Worker } from "node:worker_threads";

const self = fileURLToPath(import.meta.url);
const workerFile = new URL("./workers-worker.mjs", import.meta.url);
const ROUNDS = 3;
const WORKERS = 4;

const user = (name) => ({ user_name: name, client_id: "1000.CID", client_secret: "csecret",
                          refresh_token: `1000.r.${name}` });

// ------------------------------------------------------------ the child

function redisCommand(port, ...args) {
    return new Promise((resolve, reject) => {
        const sock = connect(Number(port), "127.0.0.1");
        sock.on("error", reject);
        sock.on("data", (d) => { sock.end(); resolve(d.toString()); });
        sock.write(`*${args.length}\r\n` + args.map((a) => `$${Buffer.byteLength(a)}\r\n${a}\r\n`).join(""));
    });
}

function startWorker(data, onMessage) {
    const w = new Worker(workerFile, { workerData: data });
    const exited = new Promise((resolve, reject) => {
        w.on("error", reject);
        w.on("exit", resolve);
    });
    w.on("message", onMessage);
    return { w, exited };
}

// The main thread's own store, used after a round: open, save, find.
async function mainWorks(ts, spec, name) {
    const store = await ts.open(spec);
    const ok = typeof store.save === "function" &&
               (await store.save(user(name))).user_name === name &&
               (await store.find({ user_name: name })).user_name === name;
    await store.close();
    return ok;
}

async function child(mode, backend, spec, sleepPort) {
    const ts = await import(process.env.TS_BINDING);
    const report = { rounds: 0, workers: 0, saved: 0, acked: 0, missing: [], wrongId: [],
                     main: [], same: true, sent: 0, foundEarly: 0 };
    for (let round = 0; round < ROUNDS; round++) {
        const acked = new Map(), ackedBy = Array(WORKERS).fill(0);
        let ready = 0, sent = 0;
        const workers = Array.from({ length: WORKERS }, (_, k) => {
            const data = { mode, spec, tag: `${backend}-r${round}w${k}`, close: k % 2 === 0 };
            return startWorker(data, (m) => {
                if (m.acked) {
                    acked.set(m.acked, m.id);
                    ackedBy[k]++;
                }
                if (m.saved !== undefined) {
                    report.saved += m.saved;
                    report.same &&= m.same;
                }
                ready += m.ready ? 1 : 0;
                sent += m.sent ? 1 : 0;
                report.foundEarly += m.found ? 1 : 0;
            });
        });
        const until = async (cond) => {
            const deadline = Date.now() + 60000;
            while (!cond() && Date.now() < deadline)
                await new Promise((r) => setTimeout(r, 5));
        };
        if (mode === "loop") {
            await until(() => ready === WORKERS);
            const sleeping = redisCommand(sleepPort, "DEBUG", "SLEEP", "1");
            await new Promise((r) => setTimeout(r, 100));
            workers.forEach(({ w }) => w.postMessage("find"));
            await until(() => sent === WORKERS);
            report.sent += sent;
            await Promise.all(workers.map(({ w }) => w.terminate()));
            await sleeping;
            // Their connections are closed: the one asking is the only client.
            const list = await redisCommand(sleepPort, "CLIENT", "LIST");
            report.clients = Math.max(report.clients ?? 0, list.split("\n").filter((l) => /^id=/.test(l)).length);
        }
        if (mode === "terminate") {
            // Terminated once each has had saves acknowledged, with more
            // in flight.
            await until(() => ackedBy.every((n) => n >= 8));
            let sleeping = null;
            if (sleepPort) {
                sleeping = redisCommand(sleepPort, "DEBUG", "SLEEP", "0.3");
                await new Promise((r) => setTimeout(r, 50));
            }
            await Promise.all(workers.map(({ w }) => w.terminate()));
            if (sleeping)
                await sleeping;
        }
        await Promise.all(workers.map(({ exited }) => exited));
        report.workers += workers.length;
        report.main.push(await mainWorks(ts, spec, `main-${backend}-${mode}-${round}@example.test`));
        if (mode === "terminate" && backend !== "memory") {
            const store = await ts.open(spec);
            for (const [name, id] of acked) {
                const t = await store.find({ user_name: name });
                if (!t)
                    report.missing.push(name);
                else if (t.id !== id)
                    report.wrongId.push(name);
            }
            await store.close();
        }
        report.acked += acked.size;
        report.rounds++;
    }
    console.log(JSON.stringify(report));
}

// ----------------------------------------------------------- the parent

// A hung child (a Worker's exit that never ends) is killed after timeout.
function runChild(args, timeout) {
    return new Promise((resolve) => {
        execFile(process.execPath, [self, "child", ...args], { timeout },
                 (error, stdout, stderr) => resolve({
                     code: error ? error.code ?? null : 0, signal: error?.signal ?? null,
                     stdout, stderr }));
    });
}

async function parent() {
    const { ok, is, done } = await import("./tap.mjs");
    const scratch = process.env.SCRATCH;
    const port = process.env.REDIS_PORT;
    const specs = {
        memory: "memory:",
        sqlite: `sqlite:${join(scratch, "workers.db")}`,
        file: `file:${join(scratch, "workers.csv")}`,
        redis: `redis://127.0.0.1:${port}/5?prefix=workers:`,
    };
    const runs = [...["exit", "terminate"].flatMap((mode) => Object.keys(specs).map((b) => [mode, b])),
                  ["loop", "redis"]];
    const doing = { exit: "return", terminate: "are terminated mid-call",
                    loop: "are terminated while a find on the event loop waits" };
    for (const [mode, backend] of runs) {
        {
            const spec = specs[backend];
            const what = `${backend}: Workers that ${doing[mode]}`;
            const args = [mode, backend, spec];
            if (mode !== "exit" && backend === "redis")
                args.push(port);
            const r = await runChild(args, mode === "loop" ? 90000 : 240000);
            is([r.code, r.signal], [0, null], `${what}: the process exits 0`);
            let report = null;
            try {
                report = JSON.parse(r.stdout);
            } catch {
                console.log(`# stdout: ${r.stdout.trim()}\n# stderr: ${r.stderr.trim().split("\n").slice(0, 20).join("\n# ")}`);
            }
            is(report && [report.rounds, report.workers], [ROUNDS, ROUNDS * WORKERS],
               `${what}: ${ROUNDS} rounds of ${WORKERS} Workers ran`);
            is(report?.main, Array(ROUNDS).fill(true),
               `${what}: the main thread opens, saves and finds after each round`);
            if (mode === "loop") {
                is(report && [report.sent, report.foundEarly], [ROUNDS * WORKERS, 0],
                   `${what}: each had its find in flight when it was terminated`);
                is(report?.clients, 1, `${what}: their connections to the server are closed`);
            } else if (mode === "exit") {
                is(report && [report.saved, report.same], [ROUNDS * WORKERS * 20, true],
                   `${what}: each Worker's saves were found back with their ids`);
            } else {
                ok(report && report.acked >= ROUNDS * WORKERS * 8,
                   `${what}: saves were acknowledged before the terminations (${report?.acked})`);
                if (backend !== "memory")
                    is(report && [report.missing, report.wrongId], [[], []],
                       `${what}: every acknowledged save is in the store under its id`);
            }
        }
    }
    done();
}

if (process.argv[2] === "child")
    await child(...process.argv.slice(3));
else
    await parent();
