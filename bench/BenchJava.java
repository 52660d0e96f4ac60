import java.io.File;
import java.nio.file.Files;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;

import org.tokenstore.Store;
import org.tokenstore.Token;

/**
 * bench/BenchJava.java - find by user through tokenstore.jar against
 * Debian's xerial sqlite-jdbc on the same file.
 *
 * Both sides answer the same question with the same result: given a user
 * name, the ten values of its row as an org.tokenstore.Token. The
 * baseline runs the prepared SELECT of the sqlite backend through JDBC
 * and builds the Token from the row; the binding goes through JNI,
 * libtokenstore and the sqlite backend. Short passes, interleaved, the
 * fastest of each side, after a warm-up for the JIT. Usage: BenchJava
 * [NTOKENS] (default 10000); bench/java.sh runs it as `make bench-java`.
 */
public final class BenchJava {
    private BenchJava() {}

    static final String COLUMNS = "id, user_name, client_id, client_secret, refresh_token, "
        + "access_token, grant_token, expiry_time, redirect_url, api_domain";

    static String user(int i) {
        return String.format("user%012d@example.com", i);
    }

    static Token token(int i) {
        return Token.ofUser(user(i)).setClientId("1000.BENCHCLIENTID0000000000000000")
            .setClientSecret("0123456789abcdef0123456789abcdef0123456789")
            .setRefreshToken(String.format("1000.%032x.%016x", (long) i * 2654435761L, i))
            .setAccessToken(String.format("1000.%032x.a%015x", (long) i * 40503, i))
            .setExpiryTime("1893456000000").setRedirectUrl("https://example.com/oauth/callback")
            .setApiDomain("https://www.zohoapis.com");
    }

    interface Find {
        Token find(String user) throws Exception;
    }

    /** Microseconds per find over keys. */
    static double pass(Find f, List<String> keys) throws Exception {
        long t0 = System.nanoTime();
        for (String k : keys)
            if (f.find(k) == null)
                throw new IllegalStateException("no token for " + k);
        return (System.nanoTime() - t0) / 1e3 / keys.size();
    }

    static String orNull(String v) {
        return v == null || v.isEmpty() ? null : v;
    }

    public static void main(String[] args) throws Exception {
        int n = args.length > 0 ? Integer.parseInt(args[0]) : 10000;
        File dir = Files.createTempDirectory("tokenstore-bench-").toFile();
        File db = new File(dir, "tokens.db");
        try (Store store = Store.open("sqlite:" + db)) {
            List<Token> all = new ArrayList<>();
            for (int i = 0; i < n; i++)
                all.add(token(i));
            store.saveMany(all);
            try (Connection c = DriverManager.getConnection("jdbc:sqlite:" + db);
                 PreparedStatement st = c.prepareStatement("SELECT " + COLUMNS
                                                           + " FROM oauthtoken WHERE user_name = ? LIMIT 1")) {
                Find ours = name -> store.find(Token.ofUser(name));
                Find baseline = name -> {
                    st.setString(1, name);
                    try (ResultSet r = st.executeQuery()) {
                        if (!r.next())
                            return null;
                        return new Token().setId(orNull(r.getString(1))).setUserName(orNull(r.getString(2)))
                            .setClientId(orNull(r.getString(3))).setClientSecret(orNull(r.getString(4)))
                            .setRefreshToken(orNull(r.getString(5))).setAccessToken(orNull(r.getString(6)))
                            .setGrantToken(orNull(r.getString(7))).setExpiryTime(orNull(r.getString(8)))
                            .setRedirectUrl(orNull(r.getString(9))).setApiDomain(orNull(r.getString(10)));
                    }
                };
                Random rng = new Random(42);
                List<String> keys = new ArrayList<>();
                for (int i = 0; i < 20000; i++)
                    keys.add(user(rng.nextInt(n)));
                if (!ours.find(keys.get(0)).equals(baseline.find(keys.get(0))))
                    throw new IllegalStateException("the two sides disagree");
                for (int w = 0; w < 5; w++) {     // the JIT compiles both sides
                    pass(ours, keys);
                    pass(baseline, keys);
                }
                double a = Double.MAX_VALUE, b = Double.MAX_VALUE;
                for (int r = 0; r < 15; r++) {
                    List<String> chunk = keys.subList(r % 5 * 4000, (r % 5 + 1) * 4000);
                    a = Math.min(a, pass(ours, chunk));
                    b = Math.min(b, pass(baseline, chunk));
                }
                System.out.printf("%-7s %-26s %9d tokens %11.3f us/op | %-30s %11.3f us/op | ratio %5.2fx%n",
                                  "java", "find by user (jar)", n, a, "xerial sqlite-jdbc, same SELECT", b, a / b);
            }
        } finally {
            for (File f : dir.listFiles())
                f.delete();
            dir.delete();
        }
    }
}
