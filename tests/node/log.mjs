// tests/node/log.mjs - where the library's log lines go in Node, run by
// tests/node/log.test. A config file that others can read and that holds
// a client_secret makes the library warn ("chmod 600") on every load; a
// child process (log-child.mjs) loads it and this one watches its fd 2:
//
//   onlog    with onLog, the warning reaches onLog (level "warning", once
//            per open) and not one byte reaches stderr;
//   default  without, it is a process warning (TokenstoreWarning), which
//            Node prints, and the library writes nothing itself;
//   workers  Workers that open it with onLog hear their own warnings, the
//            main thread its own, and none of the other's, while half of
//            the Workers are terminated as they open it; a Worker without
//            onLog gets a process warning of its own, and the main thread
//            none. The child exits cleanly.
//
// No line anywhere holds the secret.
import { execFile } from "node:child_process";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { ok, is, done } from "./tap.mjs";

const scratch = process.env.SCRATCH;
const SECRET = "0123456789abcdefLOGSECRET";
const config = join(scratch, "readable.json");
writeFileSync(config, JSON.stringify({ store: `sqlite:${join(scratch, "log.db")}`,
                                       oauth: { client_secret: SECRET } }), { mode: 0o644 });
const WARNING = `${config} holds secrets (oauth.client_secret) but is readable by group or others ` +
                `(mode 0644): chmod 600 ${config}`;

// Runs the child in a mode; resolves to its exit code, stdout's last line
// parsed, and stderr. Generous timeout: rounds of Workers on a loaded machine.
function child(mode) {
    return new Promise((resolve) => {
        execFile(process.execPath, [fileURLToPath(new URL("log-child.mjs", import.meta.url)), mode, config],
                 { timeout: 240000 }, (error, stdout, stderr) => {
                     const last = stdout.trim().split("\n").at(-1);
                     resolve({ code: error ? error.code ?? error.signal : 0, heard: last ? JSON.parse(last) : null,
                               stderr });
                 });
    });
}

const secretFree = (...texts) => texts.every((t) => !JSON.stringify(t).includes(SECRET));

async function onlog() {
    const { code, heard, stderr } = await child("onlog");
    is(code, 0, "onlog: the child exits cleanly");
    is(heard.filter(([, m]) => /chmod 600/.test(m)), [["warning", WARNING], ["warning", WARNING]],
       "onlog: onLog hears the warning about the readable config, once per open");
    is(stderr, "", "onlog: not one byte on the process's stderr");
    ok(secretFree(heard, stderr), "onlog: no line holds the secret");
}

async function byDefault() {
    const { code, heard, stderr } = await child("default");
    is(code, 0, "default: the child exits cleanly");
    is(heard, [["TokenstoreWarning", "TOKENSTORE", WARNING], ["TokenstoreWarning", "TOKENSTORE", WARNING]],
       "default: without onLog the warning is a process warning (emitWarning), once per open");
    ok(stderr.includes(`TokenstoreWarning: ${WARNING}`) && !stderr.includes("tokenstore: warning:"),
       "default: Node prints it, the library writes nothing to stderr itself");
    ok(secretFree(heard, stderr), "default: no line holds the secret");
}

async function workers() {
    const { code, heard, stderr } = await child("workers");
    is(code, 0, "workers: the child exits cleanly after Workers terminated while logging");
    is(heard.main.filter(([, m]) => /chmod 600/.test(m)), Array(4).fill(["warning", WARNING]),
       "workers: the main thread's onLog hears its 4 opens' warnings, and none of the Workers'");
    ok(heard.finished === 6 && heard.workers >= 24,
       `workers: the Workers' onLog heard their own warnings (${heard.workers}; 6 Workers finished)`);
    is([heard.quiet, heard.mainWarnings], [[WARNING], 0],
       "workers: a Worker without onLog gets the process warning, the main thread none");
    ok(!stderr.includes("tokenstore: warning:") && secretFree(heard, stderr),
       "workers: the library writes nothing to stderr itself, and no line holds the secret");
}

try {
    await onlog();
    await byDefault();
    await workers();
    done();
} catch (e) {
    console.log(`Bail out! ${String(e?.stack ?? e).split("\n").slice(0, 4).join(" | ")}`);
    process.exitCode = 1;
}
