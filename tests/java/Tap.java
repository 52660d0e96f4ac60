import java.util.Objects;

/** TAP output for the Java tests: one line per check, the plan at the end. */
final class Tap {
    /** -Dtap.start=N: N checks were printed before (by a shell test). */
    private static int n = Integer.getInteger("tap.start", 0), failed;

    private Tap() {}

    static synchronized void ok(boolean cond, String what, Object... diag) {
        n++;
        System.out.println((cond ? "ok " : "not ok ") + n + " - " + what);
        if (!cond) {
            failed++;
            for (Object d : diag)
                for (String line : String.valueOf(d).split("\n"))
                    System.out.println("# " + line);
        }
        System.out.flush();
    }

    static void is(Object got, Object want, String what) {
        ok(Objects.equals(got, want), what, "got:      " + got, "expected: " + want);
    }

    static void skip(String what, String why) {
        synchronized (Tap.class) {
            n++;
            System.out.println("ok " + n + " - " + what + " # SKIP " + why);
        }
    }

    interface Body {
        void run() throws Exception;
    }

    /** The exception body throws, or null. */
    static Throwable thrown(Body body) {
        try {
            body.run();
            return null;
        } catch (Throwable t) {
            return t;
        }
    }

    /** Checks that body throws an exception of class cls whose message holds part. */
    static <T extends Throwable> T throwsLike(Class<T> cls, String part, String what, Body body) {
        Throwable t = thrown(body);
        boolean good = cls.isInstance(t) && (part == null || String.valueOf(t.getMessage()).contains(part));
        ok(good, what, "threw: " + t, "expected: " + cls.getName() + (part == null ? "" : " with '" + part + "'"));
        return good ? cls.cast(t) : null;
    }

    /** Prints the plan; exits 1 when a check failed. */
    static void done() {
        System.out.println("1.." + n);
        System.out.flush();
        System.exit(failed == 0 ? 0 : 1);
    }

    static void bail(String why) {
        System.out.println("Bail out! " + why);
        System.exit(1);
    }
}
