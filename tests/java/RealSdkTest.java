import java.io.File;
import java.io.FileWriter;
import java.io.InputStream;
import java.io.Writer;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.concurrent.TimeUnit;

import com.zoho.api.authenticator.OAuthToken;
import com.zoho.crm.api.Initializer;
import com.zoho.crm.api.UserSignature;
import com.zoho.crm.api.dc.USDataCenter;

import org.tokenstore.Token;
import org.tokenstore.zoho.SDKTokenStore;

/**
 * tests/java/RealSdkTest.java - SDKTokenStore under the unmodified Zoho CRM
 * Java SDK (tests/java/real-sdk.test compiles it against $ZOHO_JAVA_SDK):
 * the SDK's Initializer takes the store and gets its token from it; four
 * JVMs initializing the SDK while the token is about to expire send one
 * refresh request to the fake accounts server.
 *
 * usage: RealSdkTest DIR | RealSdkTest worker CONFIG GOFILE
 */
public final class RealSdkTest {
    private RealSdkTest() {}

    static final int JVMS = 4;

    static OAuthToken userToken(String user) throws Exception {
        return new OAuthToken.Builder().userSignature(new UserSignature(user)).build();
    }

    static void initialize(SDKTokenStore store, OAuthToken token, String dir) throws Exception {
        new Initializer.Builder().environment(USDataCenter.PRODUCTION).token(token).store(store)
            .resourcePath(dir).initialize();
    }

    public static void main(String[] args) throws Exception {
        if (args[0].equals("worker")) {
            try (SDKTokenStore store = new SDKTokenStore(args[1])) {
                OAuthToken token = userToken("me@example.com");
                new File(args[2] + ".ready." + ProcessHandle.current().pid()).createNewFile();
                while (!new File(args[2]).exists())
                    Thread.sleep(2);
                initialize(store, token, new File(args[1]).getParent());
                System.out.println(token.getId() + " " + token.getAccessToken());
            }
            return;
        }
        String dir = args[0];
        try (Accounts accounts = new Accounts(dir)) {
            String config = dir + "/real.json";
            try (Writer w = new FileWriter(config)) {
                w.write("{\"store\": \"sqlite:" + dir + "/real.db\", \"oauth\": {\"accounts_url\": \""
                        + accounts.url + "\", \"retries\": 0}}");
            }
            long hour = System.currentTimeMillis() + 3600000;
            try (SDKTokenStore store = new SDKTokenStore(config)) {
                store.getStore().save(Token.ofUser("me@example.com").setClientId("1000.CLIENT")
                                      .setClientSecret("c0ffee-secret").setRefreshToken("1000.refresh.x")
                                      .setAccessToken("1000.access.x").setExpiryTime(Long.toString(hour))
                                      .setApiDomain("https://www.zohoapis.com"));
                OAuthToken token = userToken("me@example.com");
                initialize(store, token, dir);
                Tap.ok(Initializer.getInitializer().getStore() == store, "the SDK's Initializer takes SDKTokenStore");
                Tap.is(token.getId() + " " + token.getAccessToken(), "1 1000.access.x",
                       "...and its token is the stored one");
                Tap.is(token.getExpiresIn(), Long.toString(hour), "...good for an hour, so the SDK does not refresh it");
                Tap.is(accounts.count("refresh_token"), 0, "...sending nothing to the accounts server");

                // The token about to expire: 4 JVMs, one refresh.
                store.getStore().save(new Token().setId("1")
                                      .setExpiryTime(Long.toString(System.currentTimeMillis() + 30000)));
            }
            accounts.post("/control", "{\"mode\": \"slow\", \"delay\": 0.3}");
            String go = dir + "/go";
            String java = System.getProperty("java.home") + "/bin/java";
            List<Process> procs = new ArrayList<>();
            for (int i = 0; i < JVMS; i++)
                procs.add(new ProcessBuilder(java, "-Dtokenstore.jni=" + System.getProperty("tokenstore.jni"),
                                             "-cp", System.getProperty("java.class.path"), "RealSdkTest",
                                             "worker", config, go)
                          .redirectError(new File(dir, "worker" + i + ".err")).start());
            File d = new File(dir);
            for (int i = 0; i < 2400; i++) {
                String[] ready = d.list((x, name) -> name.startsWith("go.ready."));
                if (ready != null && ready.length == JVMS)
                    break;
                Thread.sleep(50);
            }
            new File(go).createNewFile();
            Set<String> answers = new HashSet<>();
            int failed = 0;
            for (Process p : procs) {
                String out;
                try (InputStream in = p.getInputStream()) {
                    out = new String(ProcessesTest.readAll(in), StandardCharsets.UTF_8).trim();
                }
                if (!p.waitFor(120, TimeUnit.SECONDS) || p.exitValue() != 0)
                    failed++;
                answers.add(out);
            }
            Tap.is(failed, 0, JVMS + " JVMs initialized the SDK on the store");
            Tap.is(accounts.count("refresh_token"), 1, "...one refresh request reached the accounts server");
            Tap.is(answers.toString(), "[1 1000.access.1]", "...and the SDK in every JVM has its access token");
        }
        Tap.done();
    }
}
