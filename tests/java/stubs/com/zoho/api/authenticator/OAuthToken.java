package com.zoho.api.authenticator;

import com.zoho.crm.api.UserSignature;
import com.zoho.crm.api.exception.SDKException;
import com.zoho.crm.api.util.APIHTTPConnector;

/** A stand-in for the SDK's OAuthToken: its public constructor, getters
 * and setters, with its signatures (tests only). */
public class OAuthToken implements Token {
    private String clientID, clientSecret, redirectURL, grantToken, refreshToken, accessToken,
        expiresIn, id, apiDomain;
    private UserSignature userSignature;

    public OAuthToken() {
    }

    public String getClientId() { return clientID; }
    public String getClientSecret() { return clientSecret; }
    public String getRedirectURL() { return redirectURL; }
    public String getGrantToken() { return grantToken; }
    public String getRefreshToken() { return refreshToken; }
    public void setRefreshToken(String refreshToken) { this.refreshToken = refreshToken; }
    public void setRedirectURL(String redirectURL) { this.redirectURL = redirectURL; }
    public void setClientId(String clientID) { this.clientID = clientID; }
    public void setClientSecret(String clientSecret) { this.clientSecret = clientSecret; }
    public void setGrantToken(String grantToken) { this.grantToken = grantToken; }
    public String getAccessToken() { return accessToken; }
    public void setAccessToken(String accessToken) { this.accessToken = accessToken; }
    public String getExpiresIn() { return expiresIn; }
    public void setExpiresIn(String expiresIn) { this.expiresIn = expiresIn; }
    public UserSignature getUserSignature() { return userSignature; }
    public void setUserSignature(UserSignature userSignature) { this.userSignature = userSignature; }
    public String getAPIDomain() { return apiDomain; }
    public void setAPIDomain(String apiDomain) { this.apiDomain = apiDomain; }
    @Override
    public String getId() { return id; }
    public void setId(String id) { this.id = id; }

    @Override
    public void generateToken() throws SDKException {
        throw new SDKException("STUB", "not in the stand-in");
    }

    @Override
    public synchronized void authenticate(APIHTTPConnector urlConnection) throws SDKException {
        throw new SDKException("STUB", "not in the stand-in");
    }

    @Override
    public Boolean revoke(String id) throws SDKException {
        throw new SDKException("STUB", "not in the stand-in");
    }

    @Override
    public void remove() throws SDKException {
        throw new SDKException("STUB", "not in the stand-in");
    }
}
