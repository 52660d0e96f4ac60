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
import com.zoho.crm.api.UserSignature;

import org.tokenstore.zoho.SDKTokenStore;

/**
 * tests/java/ProcessesTest.java - four JVMs, each an application on the
 * SDK asking SDKTokenStore for one user's token at the same moment, while
 * its access token expires within the refresh-ahead margin: one refresh
 * request reaches the fake accounts server, and every JVM gets its result.
 *
 * usage: ProcessesTest DIR              (the test)
 *        ProcessesTest worker CONFIG USER GOFILE
 *                                       (one JVM: says it is ready in
 *                                       GOFILE.ready.PID, waits for GOFILE,
 *                                       findToken; prints "id access expiry")
 */
public final class ProcessesTest {
    private ProcessesTest() {}

    static final int JVMS = 4;

    public static void main(String[] args) throws Exception {
        if (args[0].equals("worker")) {
            worker(args[1], args[2], args[3]);
            return;
        }
        String dir = args[0];
        try (Accounts accounts = new Accounts(dir)) {
            run(dir, accounts);
        }
        Tap.done();
    }

    static void worker(String config, String user, String gofile) throws Exception {
        try (SDKTokenStore store = new SDKTokenStore(config)) {
            long pid = ProcessHandle.current().pid();
            new File(gofile + ".ready." + pid).createNewFile();
            File go = new File(gofile);
            while (!go.exists())
                Thread.sleep(2);
            OAuthToken t = new OAuthToken();
            t.setUserSignature(new UserSignature(user));
            store.findToken(t);
            System.out.println(t.getId() + " " + t.getAccessToken() + " " + t.getExpiresIn());
        }
    }

    static void run(String dir, Accounts accounts) throws Exception {
        String config = dir + "/processes.json";
        try (Writer w = new FileWriter(config)) {
            w.write("{\"store\": \"sqlite:" + dir + "/processes.db\", \"oauth\": {\"accounts_url\": \""
                    + accounts.url + "\", \"retries\": 0}}");
        }
        try (SDKTokenStore store = new SDKTokenStore(config, null, 0L)) {
            OAuthToken t = new OAuthToken();
            t.setUserSignature(new UserSignature("me@example.com"));
            t.setClientId("1000.CLIENT");
            t.setClientSecret("c0ffee-secret");
            t.setRefreshToken("1000.refresh.x");
            t.setAccessToken("1000.access.x");
            t.setExpiresIn(Long.toString(System.currentTimeMillis() + 30000));
            store.saveToken(t);
        }
        // Token answers take 300 ms, so that JVMs that did not wait for
        // one another would each send one.
        accounts.post("/control", "{\"mode\": \"slow\", \"delay\": 0.3}");
        String go = dir + "/go";
        String java = System.getProperty("java.home") + "/bin/java";
        List<Process> procs = new ArrayList<>();
        for (int i = 0; i < JVMS; i++)
            procs.add(new ProcessBuilder(java, "-Dtokenstore.jni=" + System.getProperty("tokenstore.jni"),
                                         "-cp", System.getProperty("java.class.path"), "ProcessesTest",
                                         "worker", config, "me@example.com", go)
                      .redirectError(new File(dir, "worker" + i + ".err")).start());
        // Every JVM has the store open: go at once (JVMs start slowly on a
        // loaded machine: up to 120 s).
        File d = new File(dir);
        for (int i = 0; i < 2400; i++) {
            String[] ready = d.list((x, name) -> name.startsWith("go.ready."));
            if (ready != null && ready.length == JVMS)
                break;
            Thread.sleep(50);
        }
        new File(go).createNewFile();
        Set<String> answers = new HashSet<>();
        List<Integer> codes = new ArrayList<>();
        String expiry = null;
        for (int i = 0; i < procs.size(); i++) {
            Process p = procs.get(i);
            String out;
            try (InputStream in = p.getInputStream()) {
                out = new String(readAll(in), StandardCharsets.UTF_8).trim();
            }
            codes.add(p.waitFor(120, TimeUnit.SECONDS) ? p.exitValue() : -1);
            String[] f = out.split(" ");
            if (f.length == 3) {
                answers.add(f[0] + " " + f[1]);
                expiry = f[2];
            } else {
                answers.add("worker " + i + " printed '" + out + "'; stderr in worker" + i + ".err");
            }
        }
        List<Integer> zeros = new ArrayList<>();
        for (int i = 0; i < JVMS; i++)
            zeros.add(0);
        Tap.is(codes, zeros, JVMS + " JVMs asked for the token and exited 0");
        Tap.is(accounts.count("refresh_token"), 1, "...one refresh request reached the accounts server");
        Tap.is(answers.toString(), "[1 1000.access.1]", "...and every JVM got its access token");
        Tap.ok(expiry != null && Long.parseLong(expiry) - System.currentTimeMillis() > 3500000,
               "...expiring in an hour, which the SDK will not refresh", expiry);
    }

    static byte[] readAll(InputStream in) throws java.io.IOException {
        java.io.ByteArrayOutputStream all = new java.io.ByteArrayOutputStream();
        byte[] buf = new byte[4096];
        for (int n; (n = in.read(buf)) > 0;)
            all.write(buf, 0, n);
        return all.toByteArray();
    }
}
