import java.io.File;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

import org.tokenstore.OAuthClient;
import org.tokenstore.Store;
import org.tokenstore.Token;
import org.tokenstore.TokenStoreException;

/** tests/java/StoreTest.java - the whole org.tokenstore API on sqlite. */
public final class StoreTest {
    private StoreTest() {}

    static Token full(String user) {
        return Token.ofUser(user).setClientId("1000.CLIENT").setClientSecret("c0ffee-secret")
            .setRefreshToken("1000.refresh." + user).setAccessToken("1000.access." + user)
            .setExpiryTime("1714564800000").setRedirectUrl("https://app.example.com/cb")
            .setApiDomain("https://www.zohoapis.eu");
    }

    @SuppressWarnings("try")
    public static void main(String[] args) throws Exception {
        String dir = args[0];
        TokenStoreException e0;
        String uri = "sqlite:" + dir + "/api.db";

        Tap.ok(Store.libraryVersion().matches("[0-9]+\\.[0-9]+\\.[0-9]+.*"), "libraryVersion() is the library's version",
               Store.libraryVersion());
        Tap.is(java.util.logging.Logger.getLogger("org.tokenstore").getLevel(), java.util.logging.Level.WARNING,
               "the library's logger hears warnings and errors unless configured");

        try (Store store = Store.open(uri)) {
            Token t = full("me@example.com");
            String id = store.save(t);
            Tap.is(id, "1", "save() returns the new id");
            Tap.is(t.getId(), "1", "...and sets it on the token");

            Token found = store.find(Token.ofUser("me@example.com"));
            Tap.is(found, t, "find() by user name returns every field");
            Token query = Token.ofUser("me@example.com").setAccessToken("mine");
            found = store.find(query);
            Tap.is(found.getAccessToken(), "mine", "find() leaves the fields the caller set");
            Tap.is(found.getRefreshToken(), "1000.refresh.me@example.com", "...and fills the others");
            Tap.is(query.getId(), null, "...on a new Token, the query untouched");
            Tap.is(store.find(Token.ofUser("nobody@example.com")), null, "find() of no match is null");
            TokenStoreException e = Tap.throwsLike(TokenStoreException.class, "", "find() without a key throws",
                                                   () -> store.find(new Token().setExpiryTime("1")));
            if (e != null) {
                Tap.is(e.code(), TokenStoreException.INVALID, "...with the code INVALID");
                Tap.is(e.codeName(), "TS_ERR_INVALID", "...named as the header spells it");
            }
            found = store.find(new Token().setAccessToken("1000.access.me@example.com"));
            Tap.is(found == null ? null : found.getId(), "1", "find() by access token alone");
            found = store.find(new Token().setClientId("1000.CLIENT").setClientSecret("c0ffee-secret")
                               .setRefreshToken("1000.refresh.me@example.com"));
            Tap.is(found == null ? null : found.getId(), "1", "find() by refresh token with the client");

            Tap.is(store.findById("1"), t, "findById() returns the token");
            Tap.is(store.findById("2"), null, "findById() of a missing id is null");
            Tap.throwsLike(TokenStoreException.class, null, "findById() of a malformed id throws",
                           () -> store.findById("007"));

            // Update through the id: the absent fields keep their values.
            t.setAccessToken("1000.access.new").setExpiryTime("1714568400000");
            Tap.is(store.save(new Token().setId("1").setAccessToken("1000.access.new")
                              .setExpiryTime("1714568400000")), "1", "save() by id updates");
            Tap.is(store.findById("1"), t, "...keeping the fields it left out");
            Tap.throwsLike(TokenStoreException.class, "", "save() of a new token without tokens throws",
                           () -> store.save(Token.ofUser("empty@example.com")));

            // Unicode round trip; supplementary characters too.
            Token u = full("ñandú\u00e9\u4e2d\uD83D\uDE00@example.com");
            store.save(u);
            Tap.is(store.find(Token.ofUser(u.getUserName())), u, "non-ASCII values round-trip as UTF-8");

            // saveMany.
            List<Token> many = new ArrayList<>();
            for (int i = 0; i < 5; i++)
                many.add(full("many" + i + "@example.com"));
            List<String> ids = store.saveMany(many);
            Tap.is(ids, Arrays.asList("3", "4", "5", "6", "7"), "saveMany() returns the ids in order");
            Tap.is(many.get(4).getId(), "7", "...and sets each token's id");
            many = Arrays.asList(full("ok@example.com"), Token.ofUser("bad@example.com"));
            final List<Token> bad = many;
            e = Tap.throwsLike(TokenStoreException.class, "", "saveMany() with a bad token throws",
                               () -> store.saveMany(bad));
            Tap.is(store.find(Token.ofUser("ok@example.com")), null, "...and sqlite saved none of them");
            Tap.throwsLike(NullPointerException.class, "tokens[1]", "saveMany() with a null token names it",
                           () -> store.saveMany(Arrays.asList(full("x@example.com"), null)));

            Tap.is(store.saveMany(new ArrayList<Token>()), Arrays.asList(), "saveMany() of no tokens saves none");
            StringBuilder big = new StringBuilder();
            while (big.length() < 65536)
                big.append("0123456789abcdef");
            Token large = full("large@example.com").setAccessToken(big.toString());
            store.save(large);
            Tap.is(store.findById(large.getId()).getAccessToken().length(), 65536, "a 64 KiB value round-trips");
            store.delete(large.getId());

            // Random UTF-16 in every field: a value Java and C agree on
            // round-trips exactly, any other is refused; nothing else.
            java.util.Random rng = new java.util.Random(7);
            int roundTrips = 0, refused = 0, other = 0;
            for (int i = 0; i < 500; i++) {
                Token r = full("random" + i + "@example.com");
                boolean valid = true;
                for (String f : new String[] { "client_secret", "access_token", "redirect_url", "api_domain" }) {
                    StringBuilder b = new StringBuilder();
                    for (int j = rng.nextInt(12); j > 0; j--) {
                        int k = rng.nextInt(100);
                        if (k == 0)
                            b.append((char) (0xD800 + rng.nextInt(0x800)));   // lone surrogate
                        else if (k == 1)
                            b.append('\0');
                        else if (k < 6)
                            b.appendCodePoint(0x1F300 + rng.nextInt(0x300));   // a pair
                        else
                            b.append((char) (1 + rng.nextInt(0xD7FF)));
                    }
                    String v = b.toString();
                    valid &= v.indexOf('\0') < 0 && v.codePoints().noneMatch(c -> c >= 0xD800 && c <= 0xDFFF);
                    r.set(f, v);
                }
                try {
                    store.save(r);
                    Token back = store.findById(r.getId());
                    if (valid && back.equals(r))
                        roundTrips++;
                    else
                        other++;
                    store.delete(r.getId());
                } catch (TokenStoreException x) {
                    if (!valid && x.code() == TokenStoreException.INVALID)
                        refused++;
                    else
                        other++;
                }
            }
            Tap.ok(other == 0 && roundTrips > 50 && refused > 50,
                   "500 tokens of random UTF-16: each round-trips exactly or is refused as INVALID",
                   "round trips " + roundTrips + ", refused " + refused + ", otherwise " + other);

            List<Token> all = store.tokens();
            Tap.is(all.size(), 7, "tokens() lists every token");
            Tap.is(all.get(0).getId() + "," + all.get(6).getId(), "1,7", "...in ascending id");

            Tap.is(store.delete("3"), true, "delete() of a stored id is true");
            Tap.is(store.delete("3"), false, "delete() of a missing id is false");
            Tap.is(store.tokens().size(), 6, "...and the token is gone");

            // Arguments the library cannot take.
            e = Tap.throwsLike(TokenStoreException.class, "token field client_secret holds a NUL character at index 3",
                               "a value with a NUL throws, naming the field and where",
                               () -> store.save(full("nul@example.com").setClientSecret("abc\0def")));
            if (e != null)
                Tap.ok(!e.getMessage().contains("abc") && !e.toString().contains("def"),
                       "...without the secret in the message", e.toString());
            Tap.throwsLike(TokenStoreException.class, "token field user_name holds a lone surrogate at index 2",
                           "a lone surrogate throws, naming the field and where",
                           () -> store.find(Token.ofUser("ab\uD800cd")));
            Tap.throwsLike(TokenStoreException.class, "lone surrogate at index 4",
                           "a lone low surrogate at the end throws too",
                           () -> store.find(Token.ofUser("abcd\uDC00")));
            Tap.throwsLike(TokenStoreException.class, "id holds a NUL character",
                           "an id with a NUL throws", () -> store.findById("1\0"));
            Tap.throwsLike(NullPointerException.class, "query", "find(null) throws NullPointerException",
                           () -> store.find(null));
            Tap.throwsLike(NullPointerException.class, "id", "findById(null) throws NullPointerException",
                           () -> store.findById(null));
            Tap.throwsLike(NullPointerException.class, "token", "save(null) throws NullPointerException",
                           () -> store.save(null));
            Tap.throwsLike(NullPointerException.class, "id", "delete(null) throws NullPointerException",
                           () -> store.delete(null));
            Tap.throwsLike(NullPointerException.class, "tokens", "saveMany(null) throws NullPointerException",
                           () -> store.saveMany(null));
            Tap.throwsLike(IllegalArgumentException.class, "no token field is named nope",
                           "Token.get() of an unknown field names it", () -> new Token().get("nope"));

            Tap.ok(!t.toString().contains("c0ffee") && !t.toString().contains("1000.refresh")
                   && t.toString().contains("client_secret=****") && t.toString().contains("user_name=me@example.com"),
                   "Token.toString() masks the secrets", t.toString());

            // OAuth settings through the library.
            Map<String, String> settings = new HashMap<>();
            settings.put("refresh_ahead_ms", "90000");
            Tap.is(OAuthClient.sdkMarginMs(), 5000L, "OAuthClient.sdkMarginMs() is the SDK's 5 s");
            try (OAuthClient oauth = store.oauth(settings)) {
                Tap.is(oauth.setting("refresh_ahead_ms"), "90000", "oauth() takes settings in code");
                Tap.is(oauth.setting("retries"), "3", "...and has the library's defaults");
                Tap.throwsLike(TokenStoreException.class, "no_such", "an unknown setting name throws, naming it",
                               () -> oauth.setting("no_such"));
            }
            settings.put("refresh_ahead_ms", "-5");
            e = Tap.throwsLike(TokenStoreException.class, "refresh_ahead_ms", "oauth() refuses a bad value, naming it",
                               () -> store.oauth(settings).close());
            if (e != null)
                Tap.is(e.codeName(), "TS_ERR_CONFIG", "...as a config error");
            OAuthClient left = store.oauth(null);

            store.clear();
            Tap.is(store.tokens().size(), 0, "clear() deletes every token");

            store.close();
            Tap.ok(store.isClosed(), "close() closes");
            store.close();
            Tap.ok(true, "close() again does nothing");
            Tap.throwsLike(IllegalStateException.class, "the store is closed", "a closed store throws IllegalStateException",
                           () -> store.find(Token.ofUser("me@example.com")));
            Tap.throwsLike(IllegalStateException.class, "closed", "tokens() of a closed store throws too",
                           store::tokens);
            Tap.throwsLike(IllegalStateException.class, "closed", "the store's OAuth client is closed with it",
                           () -> left.setting("retries"));
            left.close();
        }

        // Opening.
        Tap.throwsLike(TokenStoreException.class, "NUL", "a spec with a NUL throws",
                       () -> Store.open("sqlite:" + dir + "/x.db\0/other.db"));
        e0 = Tap.throwsLike(TokenStoreException.class, "spec holds a lone surrogate at index 7",
                            "a spec with a lone surrogate throws, naming where",
                            () -> Store.open("sqlite:\uDC00/x.db"));
        if (e0 != null)
            Tap.is(e0.codeName(), "TS_ERR_CONFIG", "...as a config error");
        String missing = dir + "/missing.db";
        TokenStoreException e = Tap.throwsLike(TokenStoreException.class, missing, "MUST_EXIST of a missing store throws, naming it",
                                               () -> Store.open("sqlite:" + missing, Store.MUST_EXIST));
        if (e != null)
            Tap.is(e.code(), TokenStoreException.NO_STORE, "...as NO_STORE");
        Tap.ok(!new File(missing).exists(), "...and creates nothing");
        Tap.throwsLike(TokenStoreException.class, "flags", "unknown flags throw",
                       () -> Store.open("memory:", 8));
        try (Store ro = Store.open(uri, Store.READ_ONLY)) {
            Tap.ok(ro.isReadOnly(), "READ_ONLY opens an existing store read-only");
            e = Tap.throwsLike(TokenStoreException.class, "", "a save through it throws",
                               () -> ro.save(full("ro@example.com")));
            if (e != null)
                Tap.is(e.codeName(), "TS_ERR_READ_ONLY", "...READ_ONLY");
            e = Tap.throwsLike(TokenStoreException.class, "", "an OAuth client on it is refused",
                               () -> ro.oauth(null));
            if (e != null)
                Tap.is(e.code(), TokenStoreException.READ_ONLY, "...READ_ONLY too");
        }
        e = Tap.throwsLike(TokenStoreException.class, "nosuchbackend", "an unknown backend throws, naming it",
                           () -> Store.open("nosuchbackend:/x"));
        if (e != null)
            Tap.is(e.codeName(), "TS_ERR_LOAD", "...as a load error");
        // The library's log lines reach java.util.logging, never stderr:
        // a config file holding a secret that others may read.
        File conf = new File(dir, "readable.json");
        try (java.io.Writer w = new java.io.FileWriter(conf)) {
            w.write("{\"store\": \"memory:\", \"oauth\": {\"client_secret\": \"s3cret-value\"}}");
        }
        conf.setReadable(true, false);
        java.util.List<String> lines = new java.util.ArrayList<>();
        java.util.logging.Logger log = java.util.logging.Logger.getLogger("org.tokenstore");
        java.util.logging.Handler h = new java.util.logging.Handler() {
            @Override
            public synchronized void publish(java.util.logging.LogRecord r) {
                lines.add(r.getLevel() + " " + r.getMessage());
            }
            @Override
            public void flush() {}
            @Override
            public void close() {}
        };
        log.addHandler(h);
        log.setUseParentHandlers(false);
        Store.open(conf.getPath()).close();
        log.removeHandler(h);
        log.setUseParentHandlers(true);
        Tap.ok(lines.size() == 1 && lines.get(0).startsWith("WARNING " + conf.getPath() + " holds secrets (oauth.client_secret)"),
               "a library warning goes to the logger org.tokenstore", lines);
        Tap.ok(!lines.toString().contains("s3cret"), "...without the secret", lines);

        try (Store mem = Store.open("memory:")) {
            mem.save(full("m@example.com"));
            Tap.is(mem.find(Token.ofUser("m@example.com")).getClientSecret(), "c0ffee-secret", "the memory backend works too");
        }
        Tap.done();
    }
}
