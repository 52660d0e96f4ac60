/*
 * bindings/java/jni.c - libtokenstore_jni.so, the native half of
 * tokenstore.jar (org.tokenstore.Native).
 *
 * A token crosses the boundary as one byte[]: its ten values in field
 * order, UTF-8, joined by NUL (an absent value is empty), the form
 * ts_token_pack writes. The Java side has checked every value (no NUL, no
 * lone surrogate) before it packs one; this side checks the shape again,
 * so that no argument can take the JVM down: a null array, a handle of 0,
 * a packed token with the wrong number of values are a Java exception.
 * Every native buffer that held a token is wiped before it is freed, and
 * every ts_token is freed with ts_token_free, which wipes its values.
 *
 * A handle is the address of a struct jstore (a store and the config it
 * was opened with, which an OAuth client reads its settings from) or of a
 * ts_oauth. The Java side guarantees that no call uses a handle while, or
 * after, it is closed (Store's read-write lock).
 *
 * Failures become org.tokenstore.TokenStoreException through its static
 * factory fromNative(int code, byte[] message): the message goes as bytes,
 * never through NewStringUTF, which takes modified UTF-8 only.
 */
#include <jni.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <tokenstore/tokenstore.h>

#define EXPORT __attribute__((visibility("default")))
/* A native method of org.tokenstore.Native, by its Java name. */
#define NATIVE(type, name) EXPORT JNIEXPORT type JNICALL Java_org_tokenstore_Native_##name

struct jstore {
    ts_store *store;
    ts_config *config;
};

/* The natives of org.tokenstore.Native (what javac -h would declare). */
NATIVE(jstring, version)(JNIEnv *env, jclass cls);
NATIVE(jstring, codeName)(JNIEnv *env, jclass cls, jint code);
NATIVE(jlong, sdkMarginMs)(JNIEnv *env, jclass cls);
NATIVE(jlong, open)(JNIEnv *env, jclass cls, jbyteArray spec_bytes, jint flags, jint log_level);
NATIVE(void, close)(JNIEnv *env, jclass cls, jlong handle);
NATIVE(jbyteArray, find)(JNIEnv *env, jclass cls, jlong handle, jbyteArray packed);
NATIVE(jbyteArray, findById)(JNIEnv *env, jclass cls, jlong handle, jbyteArray id_bytes);
NATIVE(jstring, save)(JNIEnv *env, jclass cls, jlong handle, jbyteArray packed);
NATIVE(jobjectArray, saveMany)(JNIEnv *env, jclass cls, jlong handle, jobjectArray all);
NATIVE(jboolean, delete)(JNIEnv *env, jclass cls, jlong handle, jbyteArray id_bytes);
NATIVE(jobjectArray, tokens)(JNIEnv *env, jclass cls, jlong handle);
NATIVE(void, clear)(JNIEnv *env, jclass cls, jlong handle);
NATIVE(jlong, oauthNew)(JNIEnv *env, jclass cls, jlong handle, jobjectArray settings);
NATIVE(void, oauthFree)(JNIEnv *env, jclass cls, jlong handle);
NATIVE(jbyteArray, oauthGet)(JNIEnv *env, jclass cls, jlong handle, jbyteArray key_bytes);
NATIVE(jbyteArray, oauthAccessToken)(JNIEnv *env, jclass cls, jlong handle, jbyteArray packed);

/* ---------------------------------------------------------------- errors */

static void throw_class(JNIEnv *env, const char *cls, const char *msg)
{
    jclass c;

    if ((*env)->ExceptionCheck(env))
        return;
    c = (*env)->FindClass(env, cls);
    if (c)
        (*env)->ThrowNew(env, c, msg);
}

/* Throws TokenStoreException(code, message); message may be NULL or "". */
static void throw_ts(JNIEnv *env, int code, const char *message)
{
    jclass c;
    jmethodID make;
    jbyteArray bytes;
    jthrowable ex;
    size_t len;

    if ((*env)->ExceptionCheck(env))
        return;
    if (!message || !*message)
        message = ts_strerror(code);
    len = strlen(message);
    c = (*env)->FindClass(env, "org/tokenstore/TokenStoreException");
    if (!c)
        return;
    make = (*env)->GetStaticMethodID(env, c, "fromNative",
                                     "(I[B)Lorg/tokenstore/TokenStoreException;");
    if (!make)
        return;
    bytes = (*env)->NewByteArray(env, (jsize)len);
    if (!bytes)
        return;
    (*env)->SetByteArrayRegion(env, bytes, 0, (jsize)len, (const jbyte *)message);
    ex = (jthrowable)(*env)->CallStaticObjectMethod(env, c, make, (jint)code, bytes);
    if (ex && !(*env)->ExceptionCheck(env))
        (*env)->Throw(env, ex);
}

static void throw_err(JNIEnv *env, int rc, const ts_error *err)
{
    throw_ts(env, rc, err->code == rc ? err->message : NULL);
}

static void throw_nomem(JNIEnv *env, const char *what)
{
    throw_class(env, "java/lang/OutOfMemoryError", what);
}

/* ---------------------------------------------------------------- bytes */

/* A NUL-terminated copy of a Java byte[] in malloc'd memory, *len its
 * length; NULL with an exception pending when arr is null or memory is
 * short. The caller wipes and frees it. */
static char *bytes_in(JNIEnv *env, jbyteArray arr, const char *what, size_t *len)
{
    jsize n;
    char *buf;

    if (!arr) {
        throw_class(env, "java/lang/NullPointerException", what);
        return NULL;
    }
    n = (*env)->GetArrayLength(env, arr);
    buf = malloc((size_t)n + 1);
    if (!buf) {
        throw_nomem(env, what);
        return NULL;
    }
    (*env)->GetByteArrayRegion(env, arr, 0, n, (jbyte *)buf);
    buf[n] = '\0';
    if (len)
        *len = (size_t)n;
    return buf;
}

static void wipe_free(char *buf, size_t len)
{
    if (buf) {
        explicit_bzero(buf, len);
        free(buf);
    }
}

/* A string argument without NUL (ids, specs, setting names and values);
 * NULL with an exception pending. */
static char *string_in(JNIEnv *env, jbyteArray arr, const char *what, size_t *len)
{
    char *s = bytes_in(env, arr, what, len);

    if (s && strlen(s) != *len) {
        char msg[160];

        snprintf(msg, sizeof msg, "%s holds a NUL character (at byte %zu)", what, strlen(s));
        wipe_free(s, *len);
        throw_ts(env, TS_ERR_INVALID, msg);
        return NULL;
    }
    return s;
}

/* Sets token's fields from a packed byte[]; 0, or -1 with an exception
 * pending. */
static int token_in(JNIEnv *env, jbyteArray arr, ts_token *token)
{
    size_t len = 0, at = 0;
    char *buf = bytes_in(env, arr, "token", &len);
    int rc = TS_OK;

    if (!buf)
        return -1;
    ts_token_clear(token);
    for (int f = 0; f < TS_FIELD_COUNT && rc == TS_OK; f++) {
        if (at > len) {
            rc = TS_ERR_INVALID;
            break;
        }
        const char *v = buf + at;
        at += strlen(v) + 1;
        rc = ts_token_set(token, (ts_field)f, v);
    }
    if (rc == TS_OK && at != len + 1)
        rc = TS_ERR_INVALID;
    wipe_free(buf, len);
    if (rc == TS_ERR_NOMEM) {
        throw_nomem(env, "token");
        return -1;
    }
    if (rc != TS_OK) {
        throw_ts(env, TS_ERR_INVALID, "a packed token must hold ten values joined by NUL");
        return -1;
    }
    return 0;
}

/* The token packed into a new byte[]; NULL with an exception pending. */
static jbyteArray token_out(JNIEnv *env, const ts_token *token)
{
    char stack[1024], *buf = stack;
    size_t size = sizeof stack, len;
    jbyteArray arr;

    len = ts_token_pack(token, buf, size);
    if (len >= size) {
        size = len + 1;
        if (!(buf = malloc(size))) {
            throw_nomem(env, "token");
            return NULL;
        }
        len = ts_token_pack(token, buf, size);
    }
    arr = (*env)->NewByteArray(env, (jsize)len);
    if (arr)
        (*env)->SetByteArrayRegion(env, arr, 0, (jsize)len, (const jbyte *)buf);
    explicit_bzero(buf, len);
    if (buf != stack)
        free(buf);
    return arr;
}

static jstring id_out(JNIEnv *env, const ts_token *token)
{
    const char *id = ts_token_get(token, TS_FIELD_ID);

    /* The stores keep decimal ids (ts_id_parse); NewStringUTF is handed
     * nothing else, since it reads modified UTF-8 only. */
    if (ts_id_parse(id, NULL) != TS_OK) {
        throw_ts(env, TS_ERR_CORRUPT, "the store answered a token id that is not a number");
        return NULL;
    }
    return (*env)->NewStringUTF(env, id);
}

static ts_token *new_token(JNIEnv *env)
{
    ts_token *t = ts_token_new();

    if (!t)
        throw_nomem(env, "token");
    return t;
}

static struct jstore *store_of(JNIEnv *env, jlong handle)
{
    struct jstore *s = (struct jstore *)(intptr_t)handle;

    if (!s)
        throw_class(env, "java/lang/IllegalStateException", "the store is closed");
    return s;
}

/* ---------------------------------------------------------------- logs */

/* The library's log lines go to java.util.logging (org.tokenstore.Native.log,
 * logger "org.tokenstore"): the default logger from the moment the library
 * is loaded, so that nothing reaches stderr, and each store's up to the
 * level its Store asked for. A line said on a thread the JVM does not know
 * attaches it as a daemon; a line said while a Java exception is pending
 * on the thread is dropped (no Java may run then). Lines never hold a
 * secret. */
static JavaVM *jvm;
static jclass native_class;
static jmethodID log_method;

static void log_line(void *userdata, int level, const char *message)
{
    JNIEnv *env = NULL;
    jbyteArray bytes;
    jint rc;
    size_t len = strlen(message);

    (void)userdata;
    if (!jvm || !log_method)
        return;
    rc = (*jvm)->GetEnv(jvm, (void **)&env, JNI_VERSION_1_6);
    if (rc == JNI_EDETACHED)
        rc = (*jvm)->AttachCurrentThreadAsDaemon(jvm, (void **)&env, NULL);
    if (rc != JNI_OK || !env || (*env)->ExceptionCheck(env))
        return;
    if ((*env)->PushLocalFrame(env, 4) != 0) {
        (*env)->ExceptionClear(env);
        return;
    }
    if ((bytes = (*env)->NewByteArray(env, (jsize)len))) {
        (*env)->SetByteArrayRegion(env, bytes, 0, (jsize)len, (const jbyte *)message);
        (*env)->CallStaticVoidMethod(env, native_class, log_method, (jint)level, bytes);
    }
    if ((*env)->ExceptionCheck(env))
        (*env)->ExceptionClear(env);
    (*env)->PopLocalFrame(env, NULL);
}

EXPORT JNIEXPORT jint JNICALL JNI_OnLoad(JavaVM *vm, void *reserved);

EXPORT JNIEXPORT jint JNICALL JNI_OnLoad(JavaVM *vm, void *reserved)
{
    JNIEnv *env;
    jclass c;

    (void)reserved;
    if ((*vm)->GetEnv(vm, (void **)&env, JNI_VERSION_1_6) != JNI_OK)
        return JNI_ERR;
    if (!(c = (*env)->FindClass(env, "org/tokenstore/Native")) ||
        !(native_class = (*env)->NewGlobalRef(env, c)) ||
        !(log_method = (*env)->GetStaticMethodID(env, c, "log", "(I[B)V")))
        return JNI_ERR;
    jvm = vm;
    ts_set_default_logger(log_line, NULL, TS_LOG_INFO);
    return JNI_VERSION_1_6;
}

/* ---------------------------------------------------------------- library */

NATIVE(jstring, version)(JNIEnv *env, jclass cls)
{
    (void)cls;
    return (*env)->NewStringUTF(env, ts_version());
}

NATIVE(jstring, codeName)(JNIEnv *env, jclass cls, jint code)
{
    const char *name = ts_code_name(code);

    (void)cls;
    return name ? (*env)->NewStringUTF(env, name) : NULL;
}

NATIVE(jlong, sdkMarginMs)(JNIEnv *env, jclass cls)
{
    (void)env, (void)cls;
    return TS_OAUTH_SDK_MARGIN_MS;
}

/* ---------------------------------------------------------------- stores */

NATIVE(jlong, open)(JNIEnv *env, jclass cls, jbyteArray spec_bytes, jint flags, jint log_level)
{
    struct jstore *s;
    char *spec = NULL;
    size_t len = 0;
    ts_error err;
    int rc;

    (void)cls;
    if (spec_bytes && !(spec = string_in(env, spec_bytes, "spec", &len)))
        return 0;
    if (!(s = calloc(1, sizeof *s))) {
        wipe_free(spec, len);
        throw_nomem(env, "store");
        return 0;
    }
    rc = ts_config_load(&s->config, spec, &err);
    wipe_free(spec, len);    /* a URI may hold a password */
    if (rc == TS_OK) {
        /* log_level < 0: the Java logger hears nothing, so neither does it. */
        ts_config_set_logger(s->config, log_level < 0 ? NULL : log_line, NULL, log_level);
        rc = ts_store_open_config_flags(&s->store, s->config, (unsigned)flags, &err);
    }
    if (rc != TS_OK) {
        ts_config_free(s->config);
        free(s);
        throw_err(env, rc, &err);
        return 0;
    }
    return (jlong)(intptr_t)s;
}

NATIVE(void, close)(JNIEnv *env, jclass cls, jlong handle)
{
    struct jstore *s = (struct jstore *)(intptr_t)handle;

    (void)env, (void)cls;
    if (!s)
        return;
    ts_store_close(s->store);
    ts_config_free(s->config);
    free(s);
}

/* A find's answer: the row packed, or NULL for TS_NOT_FOUND (Java's
 * null) and for an error, which is thrown. */
static jbyteArray found(JNIEnv *env, int rc, const ts_token *row, const ts_error *err)
{
    if (rc == TS_OK)
        return token_out(env, row);
    if (rc != TS_NOT_FOUND)
        throw_err(env, rc, err);
    return NULL;
}

NATIVE(jbyteArray, find)(JNIEnv *env, jclass cls, jlong handle, jbyteArray packed)
{
    struct jstore *s = store_of(env, handle);
    ts_token *t;
    jbyteArray out = NULL;
    ts_error err;

    (void)cls;
    if (!s || !(t = new_token(env)))
        return NULL;
    if (token_in(env, packed, t) == 0)
        out = found(env, ts_find_token(s->store, t, &err), t, &err);
    ts_token_free(t);
    return out;
}

NATIVE(jbyteArray, findById)(JNIEnv *env, jclass cls, jlong handle, jbyteArray id_bytes)
{
    struct jstore *s = store_of(env, handle);
    ts_token *t = NULL;
    jbyteArray out = NULL;
    char *id;
    size_t len = 0;
    ts_error err;

    (void)cls;
    if (!s || !(id = string_in(env, id_bytes, "id", &len)))
        return NULL;
    if ((t = new_token(env)))
        out = found(env, ts_find_token_by_id(s->store, id, t, &err), t, &err);
    ts_token_free(t);
    wipe_free(id, len);
    return out;
}

NATIVE(jstring, save)(JNIEnv *env, jclass cls, jlong handle, jbyteArray packed)
{
    struct jstore *s = store_of(env, handle);
    ts_token *t;
    jstring id = NULL;
    ts_error err;
    int rc;

    (void)cls;
    if (!s || !(t = new_token(env)))
        return NULL;
    if (token_in(env, packed, t) == 0) {
        rc = ts_save_token(s->store, t, &err);
        if (rc == TS_OK)
            id = id_out(env, t);
        else
            throw_err(env, rc, &err);
    }
    ts_token_free(t);
    return id;
}

NATIVE(jobjectArray, saveMany)(JNIEnv *env, jclass cls, jlong handle, jobjectArray all)
{
    struct jstore *s = store_of(env, handle);
    ts_token **tokens = NULL;
    jobjectArray ids = NULL;
    jclass string_class;
    jsize n, made = 0;
    ts_error err;
    int rc;

    (void)cls;
    if (!s)
        return NULL;
    if (!all) {
        throw_class(env, "java/lang/NullPointerException", "tokens");
        return NULL;
    }
    n = (*env)->GetArrayLength(env, all);
    if (n > 0 && !(tokens = calloc((size_t)n, sizeof *tokens))) {
        throw_nomem(env, "tokens");
        return NULL;
    }
    for (jsize i = 0; i < n; i++) {
        jbyteArray one = (jbyteArray)(*env)->GetObjectArrayElement(env, all, i);
        int bad;

        if (!one) {
            char msg[64];

            snprintf(msg, sizeof msg, "tokens[%d]", (int)i);
            throw_class(env, "java/lang/NullPointerException", msg);
            goto out;
        }
        tokens[i] = new_token(env);
        made = i + 1;
        bad = !tokens[i] || token_in(env, one, tokens[i]) != 0;
        (*env)->DeleteLocalRef(env, one);
        if (bad)
            goto out;
    }
    rc = ts_save_tokens(s->store, tokens, (size_t)n, &err);
    if (rc != TS_OK) {
        throw_err(env, rc, &err);
        goto out;
    }
    string_class = (*env)->FindClass(env, "java/lang/String");
    if (!string_class || !(ids = (*env)->NewObjectArray(env, n, string_class, NULL)))
        goto out;
    for (jsize i = 0; i < n; i++) {
        jstring id = id_out(env, tokens[i]);

        if (!id) {
            ids = NULL;
            goto out;
        }
        (*env)->SetObjectArrayElement(env, ids, i, id);
        (*env)->DeleteLocalRef(env, id);
    }
out:
    for (jsize i = 0; i < made; i++)
        ts_token_free(tokens[i]);
    free(tokens);
    return ids;
}

NATIVE(jboolean, delete)(JNIEnv *env, jclass cls, jlong handle, jbyteArray id_bytes)
{
    struct jstore *s = store_of(env, handle);
    char *id;
    size_t len = 0;
    ts_error err;
    int rc;

    (void)cls;
    if (!s || !(id = string_in(env, id_bytes, "id", &len)))
        return JNI_FALSE;
    rc = ts_delete_token(s->store, id, &err);
    wipe_free(id, len);
    if (rc != TS_OK && rc != TS_NOT_FOUND)
        throw_err(env, rc, &err);
    return rc == TS_OK;
}

/* ts_get_tokens collects packed copies; the Java arrays are made once the
 * walk is over (the callback must not call back into the JVM's allocator
 * while a store lock is held for longer than it takes). */
struct walk {
    char **packed;
    size_t *len;
    size_t n, cap;
    int nomem;
};

static int walk_one(const ts_token *token, void *userdata)
{
    struct walk *w = userdata;
    size_t len = ts_token_pack(token, NULL, 0);
    char *buf;

    if (w->n == w->cap) {
        size_t cap = w->cap ? w->cap * 2 : 64;
        char **p = realloc(w->packed, cap * sizeof *p);
        size_t *l;

        if (!p)
            return w->nomem = 1;
        w->packed = p;
        if (!(l = realloc(w->len, cap * sizeof *l)))
            return w->nomem = 1;
        w->len = l;
        w->cap = cap;
    }
    if (!(buf = malloc(len + 1)))
        return w->nomem = 1;
    ts_token_pack(token, buf, len + 1);
    w->packed[w->n] = buf;
    w->len[w->n++] = len;
    return 0;
}

NATIVE(jobjectArray, tokens)(JNIEnv *env, jclass cls, jlong handle)
{
    struct jstore *s = store_of(env, handle);
    struct walk w = { 0 };
    jobjectArray out = NULL;
    jclass bytes_class;
    ts_error err;
    int rc;

    (void)cls;
    if (!s)
        return NULL;
    rc = ts_get_tokens(s->store, walk_one, &w, &err);
    if (w.nomem)
        throw_nomem(env, "tokens");
    else if (rc != TS_OK)
        throw_err(env, rc, &err);
    else if ((bytes_class = (*env)->FindClass(env, "[B")) &&
             (out = (*env)->NewObjectArray(env, (jsize)w.n, bytes_class, NULL))) {
        for (size_t i = 0; i < w.n; i++) {
            jbyteArray one = (*env)->NewByteArray(env, (jsize)w.len[i]);

            if (!one) {
                out = NULL;
                break;
            }
            (*env)->SetByteArrayRegion(env, one, 0, (jsize)w.len[i], (const jbyte *)w.packed[i]);
            (*env)->SetObjectArrayElement(env, out, (jsize)i, one);
            (*env)->DeleteLocalRef(env, one);
        }
    }
    for (size_t i = 0; i < w.n; i++)
        wipe_free(w.packed[i], w.len[i]);
    free(w.packed);
    free(w.len);
    return out;
}

NATIVE(void, clear)(JNIEnv *env, jclass cls, jlong handle)
{
    struct jstore *s = store_of(env, handle);
    ts_error err;
    int rc;

    (void)cls;
    if (s && (rc = ts_delete_tokens(s->store, &err)) != TS_OK)
        throw_err(env, rc, &err);
}

/* ---------------------------------------------------------------- OAuth */

NATIVE(jlong, oauthNew)(JNIEnv *env, jclass cls, jlong handle, jobjectArray settings)
{
    struct jstore *s = store_of(env, handle);
    ts_oauth *o = NULL;
    ts_error err;
    jsize n;
    int rc;

    (void)cls;
    if (!s)
        return 0;
    if (!settings) {
        throw_class(env, "java/lang/NullPointerException", "settings");
        return 0;
    }
    n = (*env)->GetArrayLength(env, settings);
    if (n % 2) {
        throw_ts(env, TS_ERR_INVALID, "OAuth settings come in pairs of name and value");
        return 0;
    }
    if ((rc = ts_oauth_new(&o, s->store, s->config, &err)) != TS_OK) {
        throw_err(env, rc, &err);
        return 0;
    }
    for (jsize i = 0; i < n; i += 2) {
        jbyteArray kb = (jbyteArray)(*env)->GetObjectArrayElement(env, settings, i);
        jbyteArray vb = (jbyteArray)(*env)->GetObjectArrayElement(env, settings, i + 1);
        size_t klen = 0, vlen = 0;
        char *k = string_in(env, kb, "an OAuth setting's name", &klen);
        char *v = k ? string_in(env, vb, "an OAuth setting's value", &vlen) : NULL;

        rc = v ? ts_oauth_set(o, k, v, &err) : TS_ERR_INVALID;
        wipe_free(k, klen);
        wipe_free(v, vlen);   /* a client_secret is one */
        if (kb)
            (*env)->DeleteLocalRef(env, kb);
        if (vb)
            (*env)->DeleteLocalRef(env, vb);
        if (rc != TS_OK) {
            if (v)
                throw_err(env, rc, &err);
            ts_oauth_free(o);
            return 0;
        }
    }
    return (jlong)(intptr_t)o;
}

NATIVE(void, oauthFree)(JNIEnv *env, jclass cls, jlong handle)
{
    (void)env, (void)cls;
    ts_oauth_free((ts_oauth *)(intptr_t)handle);
}

NATIVE(jbyteArray, oauthGet)(JNIEnv *env, jclass cls, jlong handle, jbyteArray key_bytes)
{
    ts_oauth *o = (ts_oauth *)(intptr_t)handle;
    char value[1024], *key;
    size_t len = 0;
    jbyteArray out = NULL;
    ts_error err;
    int rc;

    (void)cls;
    if (!o) {
        throw_class(env, "java/lang/IllegalStateException", "the OAuth client is closed");
        return NULL;
    }
    if (!(key = string_in(env, key_bytes, "an OAuth setting's name", &len)))
        return NULL;
    rc = ts_oauth_get(o, key, value, sizeof value, &err);
    wipe_free(key, len);
    if (rc != TS_OK) {
        throw_err(env, rc, &err);
        return NULL;
    }
    len = strlen(value);
    if ((out = (*env)->NewByteArray(env, (jsize)len)))
        (*env)->SetByteArrayRegion(env, out, 0, (jsize)len, (const jbyte *)value);
    explicit_bzero(value, sizeof value);
    return out;
}

NATIVE(jbyteArray, oauthAccessToken)(JNIEnv *env, jclass cls, jlong handle,
                                            jbyteArray packed)
{
    ts_oauth *o = (ts_oauth *)(intptr_t)handle;
    ts_token *t;
    jbyteArray out = NULL;
    ts_error err;
    int rc;

    (void)cls;
    if (!o) {
        throw_class(env, "java/lang/IllegalStateException", "the OAuth client is closed");
        return NULL;
    }
    if (!(t = new_token(env)))
        return NULL;
    if (token_in(env, packed, t) == 0) {
        rc = ts_oauth_get_access_token(o, t, &err);
        if (rc == TS_OK)
            out = token_out(env, t);
        else
            throw_err(env, rc, &err);
    }
    ts_token_free(t);
    return out;
}
