// tests/node/tap.mjs - TAP output for the Node tests, as tests/lib.sh
// prints it for the shell tests: one line per check, a plan at the end,
// exit status 1 when a check failed.
import { isDeepStrictEqual, inspect } from "node:util";

let n = 0;
let failed = 0;

function result(pass, what, diag) {
    n++;
    console.log(`${pass ? "ok" : "not ok"} ${n} - ${what}`);
    if (!pass) {
        failed++;
        if (diag)
            console.log(diag.replace(/^/gm, "# "));
    }
    return pass;
}

export const ok = (cond, what) => result(!!cond, what);

export const is = (got, want, what) =>
    result(isDeepStrictEqual(got, want), what,
           `got:      ${inspect(got, { depth: 4 })}\nexpected: ${inspect(want, { depth: 4 })}`);

export const like = (got, re, what) =>
    result(re.test(String(got)), what, `got: ${inspect(got)}\ndoes not match: ${re}`);

// A check that cannot run here, and why.
export const skip = (what, why) => {
    n++;
    console.log(`ok ${n} - ${what} # SKIP ${why}`);
};

// Passes when promise rejects with an error whose code and message match.
export async function rejects(promise, code, re, what) {
    try {
        await promise;
        return result(false, what, "resolved instead of rejecting");
    } catch (e) {
        return result(e?.code === code && re.test(e.message), what,
                      `got: ${e?.code}: ${e?.message}\nexpected: ${code}: ${re}`);
    }
}

export function done() {
    console.log(`1..${n}`);
    process.exitCode = failed ? 1 : 0;
}
