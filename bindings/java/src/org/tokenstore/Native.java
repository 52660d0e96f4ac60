package org.tokenstore;

import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.util.logging.Level;
import java.util.logging.LogManager;
import java.util.logging.Logger;

/**
 * The native half, libtokenstore_jni.so. It is loaded from, in order: the
 * system property {@code tokenstore.jni}, the environment variable
 * {@code TOKENSTORE_JNI} (each the path of the .so), the directory the jar
 * was built for ({@code $(libdir)/tokenstore/java}), else the JVM's
 * {@code java.library.path}. Tokens cross as one byte[] each: the ten
 * values in UTF-8, joined by NUL (see Codec). The library's log lines go to
 * the java.util.logging logger "org.tokenstore" (SEVERE, WARNING, INFO,
 * FINE), never straight to stderr; the logger's level is WARNING unless the
 * logging configuration or the application sets another.
 */
final class Native {
    private Native() {}

    /** Where the library's log lines go (never a secret). */
    static final Logger LOG = Logger.getLogger("org.tokenstore");

    static {
        // As the library on its own: warnings and errors, unless the
        // logging configuration names a level for org.tokenstore.
        if (LogManager.getLogManager().getProperty("org.tokenstore.level") == null && LOG.getLevel() == null)
            LOG.setLevel(Level.WARNING);
        String path = System.getProperty("tokenstore.jni");
        if (path == null || path.isEmpty())
            path = System.getenv("TOKENSTORE_JNI");
        if (path == null || path.isEmpty())
            path = builtPath();
        if (path != null && !path.isEmpty()) {
            try {
                System.load(path);
            } catch (UnsatisfiedLinkError e) {
                UnsatisfiedLinkError named = new UnsatisfiedLinkError(
                    "tokenstore: cannot load the JNI library " + path + ": " + e.getMessage()
                    + " (set -Dtokenstore.jni=/path/to/libtokenstore_jni.so)");
                named.initCause(e);
                throw named;
            }
        } else {
            System.loadLibrary("tokenstore_jni");
        }
    }

    /** The installed library's path, written into the jar when it is built. */
    private static String builtPath() {
        try (InputStream in = Native.class.getResourceAsStream("native.path")) {
            if (in == null)
                return null;
            byte[] buf = new byte[4096];
            int n = 0, r;
            while (n < buf.length && (r = in.read(buf, n, buf.length - n)) > 0)
                n += r;
            return new String(buf, 0, n, StandardCharsets.UTF_8).trim();
        } catch (java.io.IOException e) {
            return null;
        }
    }

    private static final Level[] LEVELS = { Level.SEVERE, Level.WARNING, Level.INFO, Level.FINE };

    /** The most detailed library level LOG hears now; -1 for none. */
    static int logLevel() {
        for (int i = LEVELS.length - 1; i >= 0; i--)
            if (LOG.isLoggable(LEVELS[i]))
                return i;
        return -1;
    }

    /** Called by the native side with each log line. */
    static void log(int level, byte[] message) {
        try {
            Level l = LEVELS[Math.max(0, Math.min(level, LEVELS.length - 1))];
            if (LOG.isLoggable(l))
                LOG.logp(l, "libtokenstore", null, new String(message, StandardCharsets.UTF_8));
        } catch (Throwable e) {
            // nothing may go back into C
        }
    }

    static native String version();
    static native String codeName(int code);
    static native long sdkMarginMs();

    static native long open(byte[] spec, int flags, int logLevel) throws TokenStoreException;
    static native void close(long store);
    static native byte[] find(long store, byte[] token) throws TokenStoreException;
    static native byte[] findById(long store, byte[] id) throws TokenStoreException;
    static native String save(long store, byte[] token) throws TokenStoreException;
    static native String[] saveMany(long store, byte[][] tokens) throws TokenStoreException;
    static native boolean delete(long store, byte[] id) throws TokenStoreException;
    static native byte[][] tokens(long store) throws TokenStoreException;
    static native void clear(long store) throws TokenStoreException;

    static native long oauthNew(long store, byte[][] settings) throws TokenStoreException;
    static native void oauthFree(long oauth);
    static native byte[] oauthGet(long oauth, byte[] key) throws TokenStoreException;
    static native byte[] oauthAccessToken(long oauth, byte[] token) throws TokenStoreException;
}
