# tests/java/setup.sh - sourced by the Java tests: finds java and the built
# binding, and runs a test class with them (run_java CLASS ARGS...).
#
# A build without the binding (configure found no JDK, or --without-java)
# skips the test.
. "$top_srcdir/tests/lib.sh"
make_scratch

JNI_LIB="$top_builddir/bindings/java/.libs/libtokenstore_jni.so"
JAR="$top_builddir/bindings/java/tokenstore.jar"
CLASSES="$top_builddir/tests/java/classes"
if [ "${TS_JAVA_BUILT:-yes}" != yes ] || [ ! -f "$JNI_LIB" ] || [ ! -f "$JAR" ]; then
    echo "1..0 # SKIP the Java binding was not built (configure found no JDK, or --without-java)"
    exit 0
fi
[ -d "$CLASSES" ] || { echo "Bail out! $CLASSES is missing: make check compiles it"; exit 1; }
JAVA=${JAVA:-java}
# The JNI library's libtokenstore.so.1 is this build's.
LD_LIBRARY_PATH="$top_builddir/core/.libs${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
export LD_LIBRARY_PATH SCRATCH

# -Xcheck:jni: the JVM checks every JNI call the library makes. A small
# heap and few JIT threads: the JVMs share a loaded machine.
run_java() {
    "$JAVA" -Xcheck:jni -Xmx256m -XX:CICompilerCount=2 -XX:+UseSerialGC -Dtokenstore.jni="$JNI_LIB" \
        -cp "$JAR:$CLASSES" "$@"
}
