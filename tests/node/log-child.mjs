// tests/node/log-child.mjs - the process tests/node/log.mjs runs and
// watches (its stderr, its exit status), and the Workers it starts:
//
//   node log-child.mjs onlog CONFIG     opens CONFIG twice with onLog
//   node log-child.mjs default CONFIG   opens CONFIG without onLog, and
//                                       hears process warnings
//   node log-child.mjs workers CONFIG   rounds of Workers that open CONFIG
//                                       with onLog (half terminated while
//                                       they open it again and again) and
//                                       one without, while this thread
//                                       opens it with onLog between them
//
// Prints one JSON line with what each listener heard.
import { Worker, isMainThread, parentPort, workerData } from "node:worker_threads";
import { fileURLToPath } from "node:url";

const ts = await import(process.env.TS_BINDING);
const [mode, config] = isMainThread ? process.argv.slice(2) : [workerData.mode, workerData.config];

async function openClose(options) {
    await (await ts.open(config, options)).close();
}

// A Worker: opens the config `times` times, telling its thread's lines.
async function worker() {
    if (mode === "quiet") {
        process.on("warning", (w) => parentPort.postMessage({ warning: w.message }));
        await openClose({});
        await new Promise((resolve) => setImmediate(resolve));
        parentPort.postMessage({ done: true });
        return;
    }
    for (let i = 0; i < workerData.times; i++)
        await openClose({ onLog: (level, message) => parentPort.postMessage({ level, message }) });
    parentPort.postMessage({ done: true });
}

async function workers() {
    const heard = { main: [], workers: 0, finished: 0, quiet: [], mainWarnings: 0 };
    process.on("warning", () => heard.mainWarnings++);
    for (let round = 0; round < 3; round++) {
        const running = Array.from({ length: 4 }, (_, i) => {
            let worker;
            const exited = new Promise((resolve) => {
                worker = new Worker(fileURLToPath(import.meta.url),
                                    { workerData: { mode: "loud", config, times: i < 2 ? 1000 : 3 } });
                worker.on("message", (m) => {
                    if (m.done)
                        heard.finished++;
                    else if (/chmod 600/.test(m.message))
                        heard.workers++;
                    if (i < 2 && !m.done)
                        worker.terminate();      // while it opens again
                });
                worker.on("exit", resolve);
            });
            return exited;
        });
        await openClose({ onLog: (level, message) => heard.main.push([level, message]) });
        await Promise.all(running);
    }
    const quiet = new Worker(fileURLToPath(import.meta.url), { workerData: { mode: "quiet", config } });
    quiet.on("message", (m) => m.warning && heard.quiet.push(m.warning));
    await new Promise((resolve) => quiet.on("exit", resolve));
    await openClose({ onLog: (level, message) => heard.main.push([level, message]) });
    await new Promise((resolve) => setImmediate(resolve));
    return heard;
}

if (!isMainThread) {
    await worker();
} else if (mode === "workers") {
    console.log(JSON.stringify(await workers()));
} else {
    const heard = [];
    if (mode === "default")
        process.on("warning", (w) => heard.push([w.name, w.code, w.message]));
    const onLog = mode === "onlog" ? (level, message) => heard.push([level, message]) : undefined;
    await openClose({ onLog });
    await openClose({ onLog });
    await new Promise((resolve) => setImmediate(resolve));
    console.log(JSON.stringify(heard));
}
