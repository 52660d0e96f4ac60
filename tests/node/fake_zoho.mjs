// tests/node/fake_zoho.mjs - a fake Zoho accounts server and CRM API for
// the Node SDK tests, on a free loopback port.
//
//   node fake_zoho.mjs PORTFILE [TOKEN_DELAY_MS]
//
// The SDK posts multipart forms, which tests/oauth/fake_accounts.py does
// not read, and it also calls the CRM API; this fake answers both:
//   POST /oauth/v2/token          a new access token (expires_in 3600 s,
//                                 api_domain = this server), after
//                                 TOKEN_DELAY_MS so concurrent askers overlap;
//                                 a grant exchange also gets a refresh token
//   POST /DC/oauth/v2/token       the same, standing for data center DC (us,
//                                 eu, in, au, ...): api_domain is that data
//                                 center's (https://www.zohoapis.eu)
//   GET  /crm/v8/users?type=CurrentUser, /crm/v8/org,
//        /crm/v8/settings/fields?module=Leads (204), /crm/v8/Leads
//   GET  /counts                  {"authorization_code": n, "refresh_token": n,
//                                  "issued": [access tokens], "paths": [token
//                                  request paths], "forms": ["sdk" (multipart) or
//                                  "library" (url-encoded)], "grants": [codes sent], "crm": n,
//                                  "bearers": [access tokens the CRM calls carried]}
//   POST /reset                   clears the counts
//   POST /fail?n=N[&status=S]     the next N token requests are refused the
//                                 way Zoho refuses, HTTP 200 {"error": "invalid_code"},
//                                 or answered with HTTP status S
// The port is written to PORTFILE once the server listens.
import { createServer } from "node:http";
import { writeFileSync } from "node:fs";

const [portFile, delayArg] = process.argv.slice(2);
const delayMs = Number(delayArg ?? 0);
let counts;
const reset = () => {
    counts = { authorization_code: 0, refresh_token: 0, crm: 0, bearers: [], issued: [], paths: [],
               forms: [], grants: [] };
};
reset();
let minted = 0;
let failing = 0;
let failStatus = 200;
const API_DOMAINS = { us: "com", eu: "eu", in: "in", cn: "com.cn", jp: "jp", au: "com.au", ca: "ca",
                      sa: "sa" };

const USER_EMAIL = "owner@example.test";
const LEADS = [{ id: "4000000000001", Last_Name: "Fake", Company: "Example Ltd" },
                      { id: "4000000000002", Last_Name: "Other", Company: "Sample Inc" }];

function reply(res, status, body) {
    res.writeHead(status, { "content-type": "application/json" });
    res.end(body === undefined ? "" : JSON.stringify(body));
}

// A field of a multipart or a url-encoded form.
function formField(body, name) {
    const m = new RegExp(`name="${name}"\r\n\r\n([^\r]*)`).exec(body) ??
              new RegExp(`(?:^|&)${name}=([^&]*)`).exec(body);
    return m ? decodeURIComponent(m[1].replace(/\+/g, " ")) : "";
}

function token(req, res, body, base, dc) {
    const type = formField(body, "grant_type");
    if (!(type in counts) || typeof counts[type] !== "number")
        return reply(res, 400, { error: "unsupported_grant_type" });
    counts[type]++;
    counts.paths.push(req.url);
    // The SDK posts multipart forms, the library url-encoded ones.
    counts.forms.push(/^multipart\//.test(req.headers["content-type"] ?? "") ? "sdk" : "library");
    if (type === "authorization_code")
        counts.grants.push(formField(body, "code"));
    if (failing > 0) {
        failing--;
        if (failStatus !== 200)
            return setTimeout(() => reply(res, failStatus, { message: "try later" }), delayMs);
        return setTimeout(() => reply(res, 200, { error: "invalid_code" }), delayMs);
    }
    minted++;
    const out = { access_token: `1000.access${minted}.fake`, expires_in: 3600,
                  api_domain: dc ? `https://www.zohoapis.${API_DOMAINS[dc]}` : base,
                  token_type: "Bearer" };
    counts.issued.push(out.access_token);
    if (type === "authorization_code")
        out.refresh_token = "1000.refresh.fake";
    setTimeout(() => reply(res, 200, out), delayMs);
}

function crm(req, res, url) {
    counts.crm++;
    counts.bearers.push((req.headers.authorization ?? "").replace(/^Zoho-oauthtoken /, ""));
    if (url.pathname === "/crm/v8/users" && url.searchParams.get("type") === "CurrentUser")
        return reply(res, 200, { users: [{ id: "1", email: USER_EMAIL, full_name: "Owner" }] });
    if (url.pathname === "/crm/v8/org")
        return reply(res, 200, { org: [{ id: "2", zgid: "7000001" }] });
    if (url.pathname === "/crm/v8/settings/fields")
        return reply(res, 204);
    if (url.pathname === "/crm/v8/Leads")
        return reply(res, 200, { data: LEADS,
                                 info: { per_page: 200, count: LEADS.length, page: 1, more_records: false } });
    return reply(res, 404, { code: "INVALID_URL_PATTERN" });
}

const server = createServer((req, res) => {
    let body = "";
    req.setEncoding("latin1");
    req.on("data", (d) => { body += d; });
    req.on("end", () => {
        const base = `http://127.0.0.1:${server.address().port}`;
        const url = new URL(req.url, base);
        const dc = /^\/([a-z]{2})\/oauth\/v2\/token$/.exec(url.pathname)?.[1];
        if (req.method === "POST" && (url.pathname === "/oauth/v2/token" || dc in API_DOMAINS))
            return token(req, res, body, base, dc);
        if (req.method === "GET" && url.pathname === "/counts")
            return reply(res, 200, counts);
        if (req.method === "POST" && url.pathname === "/fail") {
            failing = Number(url.searchParams.get("n") ?? 1);
            failStatus = Number(url.searchParams.get("status") ?? 200);
            return reply(res, 200, {});
        }
        if (req.method === "POST" && url.pathname === "/reset") {
            reset();
            return reply(res, 200, {});
        }
        if (req.method === "GET" && url.pathname.startsWith("/crm/"))
            return crm(req, res, url);
        reply(res, 404, { error: "not_found" });
    });
});
server.listen(0, "127.0.0.1", () => writeFileSync(portFile, String(server.address().port)));
