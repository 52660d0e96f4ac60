package org.tokenstore.zoho;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.logging.Level;
import java.util.logging.Logger;

import com.zoho.api.authenticator.OAuthToken;
import com.zoho.api.authenticator.Token;
import com.zoho.api.authenticator.store.TokenStore;
import com.zoho.crm.api.UserSignature;
import com.zoho.crm.api.exception.SDKException;

import org.tokenstore.OAuthClient;
import org.tokenstore.Store;
import org.tokenstore.TokenStoreException;

/**
 * Any tokenstore store as the Zoho CRM Java SDK's TokenStore:
 *
 * <pre>
 *     new Initializer.Builder().environment(...).token(token)
 *         .store(new SDKTokenStore("sqlite:/var/lib/app/tokens.db"))
 *         .initialize();
 * </pre>
 *
 * The six methods follow the SDK's own stores: findToken fills only the
 * fields of the caller's token that are null and sets its id,
 * findTokenById answers a new OAuthToken, saveToken sets the stored id on
 * the token, and a missing id throws SDKException (code "TOKEN_STORE", as
 * the SDK's stores throw it).
 *
 * Refresh ahead: the SDK refreshes a token itself, per process, when it
 * expires within 5 seconds, so N processes send N refresh requests (and
 * Zoho blocks a refresh token that mints more than ten access tokens in ten
 * minutes). This store refreshes a stored token that has no access token or
 * one that expires within refresh_ahead_ms (the library's default, 60 s)
 * before returning it, through libtokenstore's single-flight refresh: one
 * request per expiry across every process sharing the store, at the
 * accounts server of the token's own data center, and the SDK never sees
 * a token it would refresh. A token the SDK looks up by its grant token,
 * and that is not stored yet, is exchanged here, once across all
 * processes. Settings come from the config's "oauth" section and from the
 * constructor's oauth map (tokenstore.conf(5) names them).
 */
public class SDKTokenStore implements TokenStore, AutoCloseable {
    /** The SDK refreshes a token that expires within this itself (the
     * library's TS_OAUTH_SDK_MARGIN_MS). */
    static final long SDK_MARGIN_MS = OAuthClient.sdkMarginMs();
    /** The code the SDK's own stores throw SDKException with. */
    static final String ERROR_CODE = "TOKEN_STORE";

    private static final Logger LOG = Logger.getLogger("org.tokenstore.zoho");

    private final Store store;
    private final OAuthClient oauth;
    private final long marginMs;

    /** The configured store ($TOKENSTORE_CONFIG, the config files, else
     * the default sqlite store), refreshing ahead by the library's margin. */
    public SDKTokenStore() throws SDKException {
        this((String) null, null, null);
    }

    /** The store a URI ("sqlite:/var/lib/app/tokens.db") or JSON config
     * file names, refreshing ahead by the library's margin. */
    public SDKTokenStore(String spec) throws SDKException {
        this(spec, null, null);
    }

    /**
     * spec as above. oauth: OAuth settings in code, over the config's
     * (e.g. "accounts_url.EU"); may be null. refreshAheadMs: null refreshes
     * ahead by the refresh_ahead_ms in force (the settings', else the
     * config's, else the library's 60 s); 0 turns refresh ahead off; any
     * other value is that margin, within the library's bounds. A setting or
     * margin the library refuses throws here.
     */
    public SDKTokenStore(String spec, Map<String, String> oauth, Long refreshAheadMs)
        throws SDKException {
        this(open(spec), oauth, refreshAheadMs);
    }

    /**
     * An open store (Store.open with MUST_EXIST or READ_ONLY, say); close()
     * closes it. A store opened READ_ONLY does not refresh ahead unless
     * asked to, and then the constructor throws (a refreshed token could
     * not be saved).
     */
    public SDKTokenStore(Store store, Map<String, String> oauth, Long refreshAheadMs)
        throws SDKException {
        if (store == null)
            throw new SDKException(ERROR_CODE, "SDKTokenStore: the store is null");
        this.store = store;
        OAuthClient client = null;
        long margin = 0;
        try {
            if (refreshAheadMs == null || refreshAheadMs != 0) {
                Map<String, String> settings = new HashMap<>();
                if (oauth != null)
                    settings.putAll(oauth);
                if (refreshAheadMs != null)
                    settings.put("refresh_ahead_ms", refreshAheadMs.toString());
                try {
                    client = store.oauth(settings);
                    margin = Long.parseLong(client.setting("refresh_ahead_ms"));
                } catch (TokenStoreException e) {
                    // Not asked for, and it cannot work: the SDK refreshes.
                    if (e.code() != TokenStoreException.READ_ONLY || refreshAheadMs != null
                        || (oauth != null && !oauth.isEmpty()))
                        throw e;
                }
            }
        } catch (TokenStoreException | RuntimeException e) {
            store.close();
            throw e instanceof TokenStoreException ? error((TokenStoreException) e)
                : new SDKException(ERROR_CODE, e.getMessage(), (RuntimeException) e);
        }
        this.oauth = client;
        this.marginMs = margin;
    }

    private static Store open(String spec) throws SDKException {
        try {
            return Store.open(spec);
        } catch (TokenStoreException e) {
            throw error(e);
        }
    }

    private static SDKException error(TokenStoreException e) {
        return new SDKException(ERROR_CODE, e.getMessage(), e);
    }

    /** The tokenstore Store behind the adapter. */
    public Store getStore() {
        return store;
    }

    /** The refresh-ahead margin in force, in ms; 0 when it is off. */
    public long getRefreshAheadMs() {
        return marginMs;
    }

    /** Closes the store; calling it again does nothing. */
    @Override
    public void close() {
        store.close();
    }

    // -- conversions between the SDK's OAuthToken and tokenstore's Token

    private static org.tokenstore.Token toToken(OAuthToken o) {
        UserSignature sig = o.getUserSignature();
        return new org.tokenstore.Token().setId(o.getId())
            .setUserName(sig == null ? null : sig.getName()).setClientId(o.getClientId())
            .setClientSecret(o.getClientSecret()).setRefreshToken(o.getRefreshToken())
            .setAccessToken(o.getAccessToken()).setGrantToken(o.getGrantToken())
            .setExpiryTime(o.getExpiresIn()).setRedirectUrl(o.getRedirectURL())
            .setApiDomain(o.getAPIDomain());
    }

    /** Sets the fields of o that are null from t, as the SDK's stores merge
     * a stored row into the caller's token. */
    private static OAuthToken fillNull(OAuthToken o, org.tokenstore.Token t) throws SDKException {
        if (o.getId() == null && t.getId() != null)
            o.setId(t.getId());
        if (o.getUserSignature() == null && t.getUserName() != null)
            o.setUserSignature(new UserSignature(t.getUserName()));
        if (o.getClientId() == null && t.getClientId() != null)
            o.setClientId(t.getClientId());
        if (o.getClientSecret() == null && t.getClientSecret() != null)
            o.setClientSecret(t.getClientSecret());
        if (o.getRefreshToken() == null && t.getRefreshToken() != null)
            o.setRefreshToken(t.getRefreshToken());
        if (o.getAccessToken() == null && t.getAccessToken() != null)
            o.setAccessToken(t.getAccessToken());
        if (o.getGrantToken() == null && t.getGrantToken() != null)
            o.setGrantToken(t.getGrantToken());
        if (o.getExpiresIn() == null && t.getExpiryTime() != null)
            o.setExpiresIn(t.getExpiryTime());
        if (o.getRedirectURL() == null && t.getRedirectUrl() != null)
            o.setRedirectURL(t.getRedirectUrl());
        if (o.getAPIDomain() == null && t.getApiDomain() != null)
            o.setAPIDomain(t.getApiDomain());
        return o;
    }

    /**
     * t, refreshed first when refresh ahead is on and the SDK would refresh
     * it soon: no access token, or one that expires within the margin. A
     * failed refresh is logged (never a secret) and t returned while its
     * access token is still good; once the SDK would refresh it itself (per
     * process, the very hammering the library holds back), the failure is
     * thrown instead, saying when the next try is allowed.
     */
    private org.tokenstore.Token fresh(org.tokenstore.Token t) throws SDKException {
        if (oauth == null || t.getRefreshToken() == null)
            return t;
        long left;
        if (t.getAccessToken() == null) {
            left = -1;
        } else {
            if (t.getExpiryTime() == null)
                return t;       // no expiry: the SDK leaves it alone
            try {
                left = Long.parseLong(t.getExpiryTime()) - System.currentTimeMillis();
            } catch (NumberFormatException e) {
                return t;
            }
        }
        if (left >= marginMs)
            return t;
        try {
            return oauth.accessToken(new org.tokenstore.Token().setId(t.getId()));
        } catch (TokenStoreException e) {
            if (left >= SDK_MARGIN_MS) {
                LOG.log(Level.WARNING, "refresh ahead of token {0} failed; its access token is "
                        + "good for {1} s more: {2}", new Object[] { t.getId(), left / 1000,
                                                                     e.getMessage() });
                return t;
            }
            throw error(e);
        }
    }

    /** The SDK's token that is not stored but holds a grant token,
     * exchanged by the library (one request per grant token, whichever
     * process asks first; the others get its result) and stored; null when
     * there is nothing to exchange. */
    private org.tokenstore.Token exchange(org.tokenstore.Token t) throws SDKException {
        if (oauth == null || t.getGrantToken() == null || t.getRefreshToken() != null
            || t.getAccessToken() != null)
            return null;
        try {
            return oauth.accessToken(t);
        } catch (TokenStoreException e) {
            throw error(e);
        }
    }

    // -- the SDK's TokenStore

    @Override
    public Token findToken(Token token) throws SDKException {
        if (!(token instanceof OAuthToken))
            return token;
        OAuthToken o = (OAuthToken) token;
        org.tokenstore.Token query = toToken(o), found;
        try {
            found = store.find(query);
        } catch (TokenStoreException e) {
            if (e.code() == TokenStoreException.INVALID)
                return null;    // no key to match by: the SDK's stores find nothing
            throw error(e);
        }
        if (found == null) {
            found = exchange(query);
            return found == null ? null : fillNull(o, found);
        }
        return fillNull(o, fresh(found));
    }

    @Override
    public Token findTokenById(String id) throws SDKException {
        if (id == null)
            throw new SDKException(ERROR_CODE, "findTokenById: the id is null");
        org.tokenstore.Token found;
        try {
            found = store.findById(id);
        } catch (TokenStoreException e) {
            throw error(e);
        }
        if (found == null)
            throw new SDKException(ERROR_CODE, "no token is stored with id " + id);
        return fillNull(new OAuthToken(), fresh(found));
    }

    @Override
    public void saveToken(Token token) throws SDKException {
        if (!(token instanceof OAuthToken))
            return;
        OAuthToken o = (OAuthToken) token;
        try {
            o.setId(store.save(toToken(o)));
        } catch (TokenStoreException e) {
            throw error(e);
        }
    }

    @Override
    public void deleteToken(String id) throws SDKException {
        if (id == null)
            throw new SDKException(ERROR_CODE, "deleteToken: the id is null");
        try {
            store.delete(id);
        } catch (TokenStoreException e) {
            throw error(e);
        }
    }

    @Override
    public List<Token> getTokens() throws SDKException {
        List<org.tokenstore.Token> all;
        try {
            all = store.tokens();
        } catch (TokenStoreException e) {
            throw error(e);
        }
        List<Token> out = new ArrayList<>(all.size());
        for (org.tokenstore.Token t : all)
            out.add(fillNull(new OAuthToken(), t));
        return out;
    }

    @Override
    public void deleteTokens() throws SDKException {
        try {
            store.clear();
        } catch (TokenStoreException e) {
            throw error(e);
        }
    }
}
