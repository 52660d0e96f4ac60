# tests/encrypt.sh - what the shell tests of encryption at rest share
# (sourced after tests/lib.sh): tokens whose every secret can be looked
# for in a server's files, counting the ones found, and the checks every
# backend passes through the command: lookups by each key, a rotation
# finished by rekey, status's key ids.

# tokens_json N: a JSON array of N tokens for `tokenstore save -`; token i
# holds user<i>@example.com and secrets ending in -<i>-SECRET.
tokens_json() {
    awk -v n="$1" 'BEGIN {
        printf "[";
        for (i = 0; i < n; i++)
            printf "%s{\"user_name\": \"user%d@example.com\", \"client_id\": \"1000.CLIENTID\", " \
                   "\"client_secret\": \"secret-client-%d-SECRET\", \"refresh_token\": " \
                   "\"1000.refresh-%d-SECRET\", \"access_token\": \"1000.access-%d-SECRET\", " \
                   "\"grant_token\": \"1000.grant-%d-SECRET\", \"expiry_time\": \"1893456000000\"}",
                   i ? ",\n" : "", i, i, i, i, i;
        print "]" }'
}

# secrets_in N FILE...: how many of the 4N secrets of tokens_json N the
# files hold in the clear (a file that is not there holds none).
secrets_in() {
    n=$1
    shift
    awk -v n="$n" 'BEGIN { for (i = 0; i < n; i++)
        printf "secret-client-%d-SECRET\n1000.refresh-%d-SECRET\n1000.access-%d-SECRET\n1000.grant-%d-SECRET\n", i, i, i, i }' \
        >"$SCRATCH/secrets"
    cat "$@" 2>/dev/null | grep -a -o -F -f "$SCRATCH/secrets" | sort -u | wc -l | tr -d ' '
}

# flip_char VALUE: VALUE with its 21st character changed (inside the
# sealed form's IV), as a disk error or a hand would change it.
flip_char() {
    c=$(printf '%s' "$1" | cut -c21)
    [ "$c" = A ] && c=B || c=A
    printf '%s%s%s' "$(printf '%s' "$1" | cut -c1-20)" "$c" "$(printf '%s' "$1" | cut -c22-)"
}

# check_lookups URI: token 8 (tokens_json's number 7) is found by its
# access token, by its refresh token and by its grant token (with client
# credentials), and shows its plain values.
check_lookups() {
    got=$("$TS_CLI" --store "$1" get --access-token 1000.access-7-SECRET --show-secrets 2>&1)
    like "$got" "^refresh_token: 1000\\.refresh-7-SECRET\$" "found by its access token, decrypted"
    got=$("$TS_CLI" --store "$1" get --refresh-token 1000.refresh-7-SECRET --client-id 1000.CLIENTID \
        --client-secret x 2>&1)
    like "$got" "^user_name: user7@example.com\$" "...by its refresh token"
    got=$("$TS_CLI" --store "$1" get --grant-token 1000.grant-7-SECRET --client-id 1000.CLIENTID \
        --client-secret x 2>&1)
    like "$got" "^id: 8\$" "...and by its grant token"
}

# check_rotation URI KEY1 KEY2 N: the store's N tokens, sealed by KEY1,
# stay readable with KEY2 current and KEY1 old; rekey seals them all with
# KEY2, after which KEY2 alone reads them.
check_rotation() {
    uri=$1 old=$2 new=$3 n=$4
    old_id=$("$TS_CLI" --store "$uri&encrypt.key_file=$old" status | sed -n 's/^encrypt: .*, key \([0-9a-f]*\),.*/\1/p')
    both="$uri&encrypt.key_file=$new&encrypt.old_key_files=$old"
    check_lookups "$both"
    like "$("$TS_CLI" --store "$both" status)" "^key ids: +[0-9a-f]{8} 0 tokens \\(current\\), $old_id $n tokens \\(old\\)\$" \
        "status counts the tokens of each key"
    like "$("$TS_CLI" --store "$both" rekey --dry-run)" "$n would be re-encrypted" "rekey --dry-run counts them"
    like "$("$TS_CLI" --store "$both" status)" " $old_id $n tokens \\(old\\)" "...and writes nothing"
    out=$("$TS_CLI" --store "$both" rekey 2>&1); rc=$?
    like "$rc:$out" "^0:$n tokens: $n re-encrypted with key [0-9a-f]{8}, 0 already were\\.\$" \
        "rekey seals every token with the new key"
    like "$("$TS_CLI" --store "$both" status)" "^key ids: +[0-9a-f]{8} $n tokens \\(current\\), $old_id 0 tokens \\(old\\)\$" \
        "...which status shows"
    check_lookups "$uri&encrypt.key_file=$new"
    out=$("$TS_CLI" --store "$uri&encrypt.key_file=$old" get --id 1 2>&1); rc=$?
    like "$rc:$out" "^3:tokenstore: token 1: client_secret is encrypted with key [0-9a-f]{8}, which is not configured" \
        "the old key alone is told which key it lacks"
}
