// tests/node/workers-worker.mjs - one Worker of tests/node/workers.mjs:
// opens the store workerData names and, as its mode says, saves and finds
// and returns ("exit"), keeps saves and finds in flight until it is
// terminated ("terminate"), or sends one find when told to and waits
// ("loop"). It reports to the parent by postMessage.
//
// This module must not await at its top level: V8 cannot terminate an
// isolate while a module's top-level await is pending (a fatal "Check
// failed: (location_) != nullptr", with or without the addon).
import { parentPort, workerData } from "node:worker_threads";

const user = (name) => ({ user_name: name, client_id: "1000.CID", client_secret: "csecret",
                          refresh_token: `1000.r.${name}` });

async function worker({ mode, spec, tag, close }) {
    const ts = await import(process.env.TS_BINDING);
    const store = await ts.open(spec);
    if (mode === "exit") {
        const saved = await Promise.all(Array.from({ length: 20 }, (_, i) =>
            store.save(user(`${tag}-${i}@example.test`))));
        const found = await Promise.all(saved.map((t) => store.find({ user_name: t.user_name })));
        parentPort.postMessage({ saved: saved.length,
                                 same: found.every((t, i) => t && t.id === saved[i].id) });
        if (close)
            await store.close();
        return;
    }
    if (mode === "loop") {
        const name = `${tag}@example.test`;
        await store.save(user(name));
        parentPort.once("message", () => {
            store.find({ user_name: name }).then((t) => parentPort.postMessage({ found: t.id }));
            parentPort.postMessage({ sent: true });
        });
        parentPort.postMessage({ ready: true });
        return;
    }
    // terminate: keep 16 saves and 16 finds in flight until terminated,
    // telling the parent of each acknowledged save.
    let n = 0;
    const save = () => {
        const name = `${tag}-${n++}@example.test`;
        return store.save(user(name)).then((t) => {
            parentPort.postMessage({ acked: name, id: t.id });
            return save();
        });
    };
    const find = (i) => store.find({ user_name: `${tag}-${i}@example.test` }).then(() => find(i + 1));
    await Promise.all([...Array.from({ length: 16 }, save), ...Array.from({ length: 16 }, (_, i) => find(i))]);
}

worker(workerData);    // a rejection is the Worker's "error" event
