import java.io.File;
import java.io.FileWriter;
import java.io.Writer;
import java.util.Collections;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.logging.Handler;
import java.util.logging.LogRecord;
import java.util.logging.Logger;

import com.zoho.api.authenticator.OAuthToken;
import com.zoho.api.authenticator.Token;
import com.zoho.api.authenticator.store.TokenStore;
import com.zoho.crm.api.UserSignature;
import com.zoho.crm.api.exception.SDKException;

import org.tokenstore.Store;
import org.tokenstore.zoho.SDKTokenStore;

/**
 * tests/java/SdkStoreTest.java - SDKTokenStore as the SDK's stores behave,
 * against the stand-in SDK classes (tests/java/stubs), and its refresh
 * ahead against the fake accounts server.
 */
public final class SdkStoreTest {
    private SdkStoreTest() {}

    static OAuthToken token(String user) throws SDKException {
        OAuthToken t = new OAuthToken();
        if (user != null)
            t.setUserSignature(new UserSignature(user));
        return t;
    }

    static OAuthToken full(String user, String expiry) throws SDKException {
        OAuthToken t = token(user);
        t.setClientId("1000.CLIENT");
        t.setClientSecret("c0ffee-secret");
        t.setRefreshToken("1000.refresh.x");
        t.setAccessToken("1000.access.x");
        t.setExpiresIn(expiry);
        t.setRedirectURL("https://app.example.com/cb");
        t.setAPIDomain("https://www.zohoapis.com");
        return t;
    }

    static String describe(OAuthToken t) {
        return t.getId() + "|" + (t.getUserSignature() == null ? null : t.getUserSignature().getName()) + "|"
            + t.getClientId() + "|" + t.getRefreshToken() + "|" + t.getAccessToken() + "|" + t.getGrantToken() + "|"
            + t.getExpiresIn() + "|" + t.getRedirectURL() + "|" + t.getAPIDomain();
    }

    static final class Captured extends Handler {
        final StringBuilder text = new StringBuilder();

        @Override
        public synchronized void publish(LogRecord r) {
            text.append(r.getLevel()).append(' ')
                .append(java.text.MessageFormat.format(r.getMessage(), r.getParameters())).append('\n');
        }

        @Override
        public void flush() {}

        @Override
        public void close() {}
    }

    public static void main(String[] args) throws Exception {
        String dir = args[0];
        conformance(dir);
        try (Accounts accounts = new Accounts(dir)) {
            refreshAhead(dir, accounts);
        }
        Tap.done();
    }

    static void conformance(String dir) throws Exception {
        String uri = "sqlite:" + dir + "/sdk.db";
        try (SDKTokenStore store = new SDKTokenStore(uri, null, 0L)) {
            Tap.ok(store instanceof TokenStore, "SDKTokenStore is the SDK's TokenStore");
            Tap.is(store.getRefreshAheadMs(), 0L, "refreshAheadMs 0 turns refresh ahead off");

            OAuthToken t = full("me@example.com", "1714564800000");
            store.saveToken(t);
            Tap.is(t.getId(), "1", "saveToken sets the id on the token");

            OAuthToken q = token("me@example.com");
            q.setAccessToken("mine");
            Token r = store.findToken(q);
            Tap.ok(r == q, "findToken returns the token it was given");
            Tap.is(q.getId(), "1", "...with its id set");
            Tap.is(q.getAccessToken(), "mine", "...the fields the caller set left alone");
            Tap.is(q.getRefreshToken() + " " + q.getExpiresIn() + " " + q.getAPIDomain(),
                   "1000.refresh.x 1714564800000 https://www.zohoapis.com", "...and the null ones filled");
            Tap.is(store.findToken(token("nobody@example.com")), null, "findToken without a match is null");
            Tap.is(store.findToken(token(null)), null, "findToken without a key is null");
            Token other = new Token() {
                public void authenticate(com.zoho.crm.api.util.APIHTTPConnector c) {}
                public Boolean revoke(String id) { return false; }
                public void remove() {}
                public void generateToken() {}
                public String getId() { return "x"; }
            };
            Tap.ok(store.findToken(other) == other, "findToken returns a token that is not an OAuthToken unchanged");
            store.saveToken(other);
            Tap.is(store.getTokens().size(), 1, "...and saveToken ignores one");

            OAuthToken byId = (OAuthToken) store.findTokenById("1");
            Tap.is(describe(byId), describe(t), "findTokenById answers a new OAuthToken with every field");
            SDKException e = Tap.throwsLike(SDKException.class, "no token is stored with id 9",
                                            "findTokenById of a missing id throws SDKException",
                                            () -> store.findTokenById("9"));
            if (e != null)
                Tap.is(e.getCode(), "TOKEN_STORE", "...with the code of the SDK's stores");
            Tap.throwsLike(SDKException.class, "null", "findTokenById(null) throws SDKException",
                           () -> store.findTokenById(null));

            OAuthToken update = token("me@example.com");
            update.setAccessToken("1000.access.y");
            store.saveToken(update);
            Tap.is(update.getId(), "1", "saveToken of a known user updates its row");
            Tap.is(((OAuthToken) store.findTokenById("1")).getRefreshToken(), "1000.refresh.x",
                   "...keeping what the token left out");
            e = Tap.throwsLike(SDKException.class, "", "saveToken of a new user without tokens throws",
                               () -> store.saveToken(token("empty@example.com")));
            if (e != null) {
                Tap.is(e.getCode(), "TOKEN_STORE", "...SDKException TOKEN_STORE");
                Tap.ok(e.getCause() instanceof org.tokenstore.TokenStoreException, "...caused by the library's exception");
            }
            OAuthToken bad = full("bad@example.com", "1");
            bad.setClientSecret("no\0pe");
            e = Tap.throwsLike(SDKException.class, "client_secret holds a NUL", "a value with a NUL throws SDKException",
                               () -> store.saveToken(bad));
            if (e != null)
                Tap.ok(!e.toString().contains("no") || !e.getMessage().contains("pe"), "...without the value",
                       e.getMessage());

            store.saveToken(full("two@example.com", "1714564800000"));
            List<Token> all = store.getTokens();
            Tap.is(all.size(), 2, "getTokens lists every token");
            Tap.is(((OAuthToken) all.get(1)).getUserSignature().getName(), "two@example.com",
                   "...as OAuthTokens with their user");
            store.deleteToken("1");
            Tap.is(store.getTokens().size(), 1, "deleteToken deletes");
            store.deleteTokens();
            Tap.is(store.getTokens().size(), 0, "deleteTokens deletes every token");
        }
        Tap.throwsLike(SDKException.class, "nosuch", "a store that cannot be opened throws SDKException, naming it",
                       () -> new SDKTokenStore("nosuch:/x").close());
        Store ro = Store.open("sqlite:" + dir + "/sdk.db", Store.READ_ONLY);
        try (SDKTokenStore store = new SDKTokenStore(ro, null, null)) {
            Tap.is(store.getRefreshAheadMs(), 0L, "a read-only store does not refresh ahead unless asked");
        }
        Tap.ok(ro.isClosed(), "close() closes the store it was given");
        Store ro2 = Store.open("sqlite:" + dir + "/sdk.db", Store.READ_ONLY);
        Tap.throwsLike(SDKException.class, "", "refresh ahead asked of a read-only store throws",
                       () -> new SDKTokenStore(ro2, null, 90000L));
        Tap.ok(ro2.isClosed(), "...closing the store");
        Tap.throwsLike(SDKException.class, "refresh_ahead_ms", "a bad margin throws, naming the setting",
                       () -> new SDKTokenStore("memory:", null, -1L));
    }

    static void refreshAhead(String dir, Accounts accounts) throws Exception {
        // The library's INFO lines, for the check of the refresh's below
        // (a store hears the level its logger has when it is opened).
        Logger.getLogger("org.tokenstore").setLevel(java.util.logging.Level.INFO);
        String db = dir + "/refresh.db";
        String config = dir + "/refresh.json";
        try (Writer w = new FileWriter(config)) {
            w.write("{\"store\": \"sqlite:" + db + "\", \"oauth\": {\"accounts_url\": \"" + accounts.url
                    + "\", \"retries\": 0}}");
        }
        try (SDKTokenStore store = new SDKTokenStore(config)) {
            Tap.is(store.getRefreshAheadMs(), 60000L, "by default refresh ahead is the library's 60 s");
            long expiry = System.currentTimeMillis() + 30000;
            store.saveToken(full("me@example.com", Long.toString(expiry)));
            Captured lib = new Captured();
            Logger libLog = Logger.getLogger("org.tokenstore");
            libLog.addHandler(lib);
            libLog.setUseParentHandlers(false);
            OAuthToken got = (OAuthToken) store.findToken(token("me@example.com"));
            libLog.removeHandler(lib);
            libLog.setUseParentHandlers(true);
            Tap.is(got.getAccessToken(), "1000.access.1", "findToken refreshes a token expiring within 60 s");
            Tap.ok(lib.text.toString().contains("INFO refreshing the access token of token 1 at " + accounts.url),
                   "...which the library logs on org.tokenstore", lib.text);
            Tap.ok(!lib.text.toString().contains("1000.refresh.x") && !lib.text.toString().contains("c0ffee"),
                   "...without a secret", lib.text);
            Tap.ok(Long.parseLong(got.getExpiresIn()) - System.currentTimeMillis() > 3500000,
                   "...to one the SDK will not refresh", got.getExpiresIn());
            got = (OAuthToken) store.findToken(token("me@example.com"));
            Tap.is(got.getAccessToken(), "1000.access.1", "...once");
            Tap.is(accounts.count("refresh_token"), 1, "...one request");

            // 8 threads of one JVM at once: one request too.
            accounts.post("/control", "{\"mode\": \"slow\", \"delay\": 0.3}");
            store.saveToken(full("threads@example.com", Long.toString(System.currentTimeMillis() + 30000)));
            java.util.concurrent.CountDownLatch go = new java.util.concurrent.CountDownLatch(1);
            java.util.Set<String> seen = java.util.Collections.synchronizedSet(new java.util.HashSet<>());
            java.util.List<Thread> threads = new java.util.ArrayList<>();
            for (int i = 0; i < 8; i++) {
                Thread t = new Thread(() -> {
                    try {
                        go.await();
                        seen.add(((OAuthToken) store.findToken(token("threads@example.com"))).getAccessToken());
                    } catch (Exception x) {
                        seen.add(x.toString());
                    }
                });
                t.start();
                threads.add(t);
            }
            go.countDown();
            for (Thread t : threads)
                t.join();
            accounts.post("/control", "{\"mode\": \"success\"}");
            Tap.is(seen.toString(), "[1000.access.2]", "8 threads finding a token about to expire all get its refresh");
            Tap.is(accounts.count("refresh_token"), 2, "...from one request");

            // findTokenById too, and a token without an access token.
            OAuthToken none = token("new@example.com");
            none.setClientId("1000.CLIENT");
            none.setClientSecret("c0ffee-secret");
            none.setRefreshToken("1000.r");
            store.saveToken(none);
            Tap.is(((OAuthToken) store.findTokenById(none.getId())).getAccessToken(), "1000.access.3",
                   "findTokenById refreshes a token without an access token");
            Tap.is(accounts.count("refresh_token"), 3, "...with one request");

            // A failed refresh of a token still good: logged, never a secret.
            accounts.post("/control", "{\"mode\": \"error\", \"code\": \"invalid_client\"}");
            String soon = Long.toString(System.currentTimeMillis() + 30000);
            store.saveToken(full("fail@example.com", soon));
            Captured cap = new Captured();
            Logger log = Logger.getLogger("org.tokenstore.zoho");
            log.addHandler(cap);
            log.setUseParentHandlers(false);
            got = (OAuthToken) store.findToken(token("fail@example.com"));
            log.removeHandler(cap);
            Tap.is(got.getAccessToken() + " " + got.getExpiresIn(), "1000.access.x " + soon,
                   "a failed refresh returns the stored token");
            String text = cap.text.toString();
            Tap.ok(text.startsWith("WARNING") && text.contains("invalid_client"), "...and logs a warning naming why", text);
            Tap.ok(!text.contains("c0ffee") && !text.contains("1000.refresh.x") && !text.contains("1000.access.x"),
                   "...without a secret", text);

            // An expired token whose refresh fails: SDKException saying when.
            accounts.post("/control", "{\"mode\": \"status\", \"status\": 500, \"fail\": -1}");
            store.saveToken(full("late@example.com", Long.toString(System.currentTimeMillis() - 1)));
            int before = accounts.count("refresh_token");
            for (int i = 0; i < 2; i++)
                Tap.throwsLike(SDKException.class, "next try is allowed in",
                               "an expired token held back throws, saying when (" + i + ")",
                               () -> store.findToken(token("late@example.com")));
            Tap.is(accounts.count("refresh_token") - before, 1, "...after one request");

            // The grant exchange: the SDK's first use of a grant token.
            accounts.post("/reset", null);
            OAuthToken grant = token(null);
            grant.setClientId("1000.CLIENT");
            grant.setClientSecret("c0ffee-secret");
            grant.setGrantToken("1000.grant.first");
            grant.setRedirectURL("https://app.example.com/cb");
            Token back = store.findToken(grant);
            Tap.ok(back == grant && grant.getAccessToken() != null && grant.getRefreshToken() != null
                   && grant.getId() != null, "findToken exchanges a grant token that is not stored", describe(grant));
            Tap.is(accounts.count("authorization_code"), 1, "...with one request");
        }
        Map<String, String> oauth = new HashMap<>();
        oauth.put("accounts_url", accounts.url);
        try (SDKTokenStore off = new SDKTokenStore("sqlite:" + db, oauth, 0L)) {
            accounts.post("/reset", null);
            off.saveToken(full("off@example.com", Long.toString(System.currentTimeMillis() + 30000)));
            Tap.is(((OAuthToken) off.findToken(token("off@example.com"))).getAccessToken(), "1000.access.x",
                   "refresh ahead off leaves the token to the SDK");
            Tap.is(accounts.count("refresh_token"), 0, "...sending nothing");
        }
        try (SDKTokenStore uri = new SDKTokenStore("sqlite:" + db, oauth, 120000L)) {
            Tap.is(uri.getRefreshAheadMs(), 120000L, "a URI-opened store takes settings and a margin in code");
            uri.saveToken(full("far@example.com", Long.toString(System.currentTimeMillis() + 90000)));
            Tap.is(((OAuthToken) uri.findToken(token("far@example.com"))).getAccessToken(), "1000.access.1",
                   "...and refreshes within it");
        }
        Tap.ok(new File(db).exists(), "the store is where the config says");
        Tap.ok(Collections.emptyList().isEmpty(), "done");
    }
}
