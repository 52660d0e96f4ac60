import java.io.File;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.HttpURLConnection;
import java.net.URL;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/** The fake Zoho accounts server (tests/oauth/fake_accounts.py), run by
 * $TS_PYTHON and controlled over HTTP. */
final class Accounts implements AutoCloseable {
    final String url;
    private final Process proc;

    Accounts(String dir) throws Exception {
        File portfile = new File(dir, "accounts.port");
        proc = new ProcessBuilder(System.getenv("TS_PYTHON"),
                                  System.getenv("top_srcdir") + "/tests/oauth/fake_accounts.py",
                                  portfile.getPath())
            .redirectOutput(new File(dir, "accounts.log")).redirectErrorStream(true).start();
        // 30 s: a loaded machine starts Python slowly.
        for (int i = 0; i < 600 && portfile.length() == 0; i++)
            Thread.sleep(50);
        if (portfile.length() == 0) {
            proc.destroyForcibly();
            throw new IllegalStateException("the fake accounts server did not start in 30 s");
        }
        url = "http://127.0.0.1:" + new String(Files.readAllBytes(portfile.toPath()),
                                               StandardCharsets.UTF_8).trim();
    }

    String request(String method, String path, String body) throws Exception {
        HttpURLConnection c = (HttpURLConnection) new URL(url + path).openConnection();
        c.setRequestMethod(method);
        c.setConnectTimeout(30000);
        c.setReadTimeout(30000);
        if (body != null) {
            c.setDoOutput(true);
            try (OutputStream out = c.getOutputStream()) {
                out.write(body.getBytes(StandardCharsets.UTF_8));
            }
        }
        try (InputStream in = c.getInputStream()) {
            java.io.ByteArrayOutputStream all = new java.io.ByteArrayOutputStream();
            byte[] buf = new byte[4096];
            for (int n; (n = in.read(buf)) > 0;)
                all.write(buf, 0, n);
            return new String(all.toByteArray(), StandardCharsets.UTF_8);
        }
    }

    void post(String path, String json) throws Exception {
        request("POST", path, json == null ? "{}" : json);
    }

    /** How many token requests of a grant type ("refresh_token") it served. */
    int count(String grantType) throws Exception {
        Matcher m = Pattern.compile("\"" + grantType + "\":\\s*(\\d+)").matcher(request("GET", "/counts", null));
        return m.find() ? Integer.parseInt(m.group(1)) : 0;
    }

    @Override
    public void close() {
        proc.destroy();
        try {
            proc.waitFor();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }
}
