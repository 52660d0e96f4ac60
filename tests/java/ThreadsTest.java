import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.CountDownLatch;

import org.tokenstore.Store;
import org.tokenstore.Token;

/**
 * tests/java/ThreadsTest.java - one store shared by 8 JVM threads, each
 * saving 1,000 tokens of its own users: every token is there afterwards,
 * each under an id of its own; and a close() racing busy threads gives
 * them IllegalStateException, never a crash.
 */
public final class ThreadsTest {
    private ThreadsTest() {}

    static final int THREADS = 8, EACH = 1000;

    @SuppressWarnings("try")
    public static void main(String[] args) throws Exception {
        String uri = args.length > 1 ? args[1] : "sqlite:" + args[0] + "/threads.db";
        ConcurrentLinkedQueue<String> ids = new ConcurrentLinkedQueue<>();
        ConcurrentLinkedQueue<Throwable> errors = new ConcurrentLinkedQueue<>();
        try (Store store = Store.open(uri)) {
            CountDownLatch go = new CountDownLatch(1);
            List<Thread> threads = new ArrayList<>();
            for (int k = 0; k < THREADS; k++) {
                final int first = k * EACH;
                Thread t = new Thread(() -> {
                    try {
                        go.await();
                        for (int i = first; i < first + EACH; i++) {
                            Token tok = Token.ofUser(String.format("user%05d@example.com", i))
                                .setClientId("1000.CLIENT").setClientSecret("secret")
                                .setRefreshToken("1000.refresh." + i);
                            ids.add(store.save(tok));
                        }
                    } catch (Throwable e) {
                        errors.add(e);
                    }
                });
                t.start();
                threads.add(t);
            }
            go.countDown();
            for (Thread t : threads)
                t.join();
            Tap.ok(errors.isEmpty(), THREADS + " threads saved " + EACH + " tokens each without an error",
                   errors);
            Tap.is(ids.size(), THREADS * EACH, "...every save returned an id");
            Tap.is(new HashSet<>(ids).size(), THREADS * EACH, "...all of them distinct");
            List<Token> all = store.tokens();
            Tap.is(all.size(), THREADS * EACH, "every token is in the store");
            Set<String> users = new HashSet<>(), stored = new HashSet<>();
            boolean right = true;
            for (Token t : all) {
                users.add(t.getUserName());
                stored.add(t.getId());
                right &= t.getRefreshToken().equals("1000.refresh."
                                                    + Integer.parseInt(t.getUserName().substring(4, 9)));
            }
            Tap.is(users.size(), THREADS * EACH, "...one per user");
            Tap.is(stored, new HashSet<>(ids), "...under the ids the saves returned");
            Tap.ok(right, "...each with its own values");

            // close() while threads are busy: they see a closed store.
            ConcurrentLinkedQueue<Throwable> after = new ConcurrentLinkedQueue<>();
            CountDownLatch started = new CountDownLatch(4);
            threads.clear();
            for (int k = 0; k < 4; k++) {
                Thread t = new Thread(() -> {
                    started.countDown();
                    try {
                        for (int i = 0; ; i++)
                            store.find(Token.ofUser(String.format("user%05d@example.com", i % 8000)));
                    } catch (Throwable e) {
                        after.add(e);
                    }
                });
                t.start();
                threads.add(t);
            }
            started.await();
            Thread.sleep(200);
            store.close();
            for (Thread t : threads)
                t.join(120000);
            boolean allClosed = after.size() == 4;
            for (Throwable e : after)
                allClosed &= e instanceof IllegalStateException && e.getMessage().equals("the store is closed");
            Tap.ok(allClosed, "close() under busy threads: each then gets IllegalStateException", after);
        }
        Tap.done();
    }
}
